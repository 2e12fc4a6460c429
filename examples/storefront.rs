//! A small shop on a Tuesday morning: twenty offers, a thousand synthetic customers (seeded, so
//! every run is the same), one decision each. Prints how many customers got an offer, how often
//! each offer was picked, how often each kind of reason stopped an offer, and the full
//! explanation for two customers: one who got an offer and one who got nothing.
//!
//! Run with `cargo run --example storefront`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use cornershop::{
    Channel, Consent, ContactLedger, Customer, Decision, Engine, Event, FeedbackTarget,
    MemoryLedger, MessageClass, Policy, RecordedContact, Request, Response, Stop,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CUSTOMERS: u64 = 1_000;

const CATEGORIES: [&str; 8] = [
    "coffee", "bakery", "footwear", "books", "garden", "toys", "beauty", "wine",
];

/// Products some offers promote, and customers buy.
const PRODUCTS: [(&str, &str); 4] = [
    ("coffee", "espresso machine"),
    ("wine", "wine case"),
    ("footwear", "winter boots"),
    ("bakery", "sourdough loaf"),
];

const POLICY: &str = r#"
    # Customers without a time zone of their own live in London.
    time_zone = "Europe/London"

    [attributes]
    tier = "text"
    age = "number"
    member_since = "date"
    has_kids = "bool"
    diets = "list"

    [[caps]]
    name = "two marketing emails a week"
    channel = "email"
    limit = 2
    window = "7d"

    [[caps]]
    name = "one marketing SMS a week"
    channel = "sms"
    limit = 1
    window = "7d"

    [[caps]]
    name = "four marketing contacts a month"
    limit = 4
    window = "calendar month"

    [[spacing]]
    name = "a breather between marketing contacts"
    min_gap = "20h"

    [[quiet_hours]]
    name = "night"
    start = "21:00"
    end = "08:00"

    [[offers]]
    id = "birthday-cake"
    categories = ["bakery"]
    moment = "birthday"
    value = 15.0
    eligibility = { moment = "birthday", within_days = 7 }
    cap = { limit = 1, window = "300d" }

    [[offers]]
    id = "coffee-club"
    categories = ["coffee"]
    value = 10.0
    eligibility = { all = [ { bought = "coffee", within = "60d" }, { attribute = "tier", in = ["gold", "silver"] } ] }
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "espresso-machine"
    categories = ["coffee"]
    product = "espresso machine"
    channels = ["email"]
    value = 60.0
    eligibility = { lifetime_value_at_least = 150.0 }

    [[offers]]
    id = "fresh-sourdough"
    categories = ["bakery"]
    product = "sourdough loaf"
    channels = ["push", "sms"]
    value = 4.0
    eligibility = { viewed = "bakery", within = "14d" }

    [[offers]]
    id = "winter-boots"
    categories = ["footwear"]
    product = "winter boots"
    channels = ["email", "push"]
    value = 40.0
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "running-shoes"
    categories = ["footwear"]
    value = 30.0
    eligibility = { attribute = "age", at_least = 16, at_most = 60 }

    [[offers]]
    id = "kids-books"
    categories = ["books", "toys"]
    value = 12.0
    eligibility = { attribute = "has_kids", equals = true }

    [[offers]]
    id = "book-club"
    categories = ["books"]
    value = 8.0
    eligibility = { segment = "reader" }
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "spring-garden"
    categories = ["garden"]
    value = 20.0
    valid_from = "2027-02-01T00:00:00Z"

    [[offers]]
    id = "bulb-sale"
    categories = ["garden"]
    topic = "promo"
    value = 10.0
    valid_until = "2026-11-01T00:00:00Z"

    [[offers]]
    id = "toy-week"
    categories = ["toys"]
    topic = "promo"
    channels = ["push"]
    value = 20.0
    eligibility = { attribute = "has_kids", equals = true }

    [[offers]]
    id = "vegan-treats"
    categories = ["bakery"]
    value = 6.0
    eligibility = { attribute = "diets", equals = "vegan" }

    [[offers]]
    id = "skin-care"
    categories = ["beauty"]
    topic = "promo"
    value = 25.0
    eligibility = { attribute = "tier", equals = "gold" }
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "wine-tasting"
    categories = ["wine"]
    channels = ["email"]
    value = 30.0
    eligibility = { all = [ { attribute = "age", at_least = 18 }, { not = { segment = "sober-curious" } } ] }
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "wine-case"
    categories = ["wine"]
    product = "wine case"
    channels = ["email", "sms"]
    value = 45.0
    eligibility = { all = [ { bought = "wine", within = "90d" }, { attribute = "age", at_least = 18 } ] }

    [[offers]]
    id = "signup-anniversary"
    categories = ["coffee", "bakery"]
    moment = "signup"
    value = 10.0
    eligibility = { moment = "signup", within_days = 7 }

    [[offers]]
    id = "vip-preview"
    categories = ["beauty", "footwear"]
    channels = ["email"]
    priority = 2.0
    eligibility = { segment = "vip" }

    [[offers]]
    id = "win-back"
    categories = ["coffee"]
    value = 20.0
    eligibility = { all = [ { segment = "lapsed" }, { lifetime_value_at_least = 50.0 } ] }

    [[offers]]
    id = "welcome"
    categories = ["books"]
    value = 10.0
    eligibility = { attribute = "member_since", at_least = "2026-09-01" }
    cap = { limit = 1, window = "365d" }

    [[offers]]
    id = "newsletter"
    channels = ["email", "push"]
    fallback = true
"#;

/// Tuesday 2026-11-24, 10:00 in London.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

fn chance(rng: &mut StdRng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn consent(rng: &mut StdRng, opted_in: u32, opted_out: u32) -> Consent {
    let roll = rng.random_range(0..100);
    if roll < opted_in {
        Consent::OptedIn
    } else if roll < opted_in + opted_out {
        Consent::OptedOut
    } else {
        Consent::Unknown
    }
}

/// One synthetic customer: profile, choices and a few months of events.
fn customer(
    engine: &Engine,
    rng: &mut StdRng,
    id: u64,
) -> Result<Customer, Box<dyn std::error::Error>> {
    let now = now();
    let mut who = Customer::new(id)
        .with_consent(Channel::Email, consent(rng, 75, 10))
        .with_consent(Channel::Push, consent(rng, 45, 15))
        .with_consent(Channel::Sms, consent(rng, 30, 20))
        .with_do_not_contact(chance(rng, 2));
    // Most live in London (the policy's zone); some far enough away for quiet hours to matter.
    let zone = match rng.random_range(0..10) {
        7 => Some(chrono_tz::America::New_York),
        8 => Some(chrono_tz::Asia::Tokyo),
        9 => Some(chrono_tz::Australia::Sydney),
        _ => None,
    };
    if let Some(zone) = zone {
        who = who.with_time_zone(zone);
    }
    if chance(rng, 10) {
        who = who.with_unsubscribed_topic("promo");
    }
    let nevers = match rng.random_range(0..10) {
        0..=6 => 0,
        7 | 8 => 1,
        _ => 2,
    };
    for _ in 0..nevers {
        who = who.with_never_category(pick(rng, &CATEGORIES));
    }
    if chance(rng, 40) {
        who = who.with_favourite_category(pick(rng, &CATEGORIES));
    }
    if chance(rng, 30) {
        let preferred = [Channel::Email, Channel::Push, Channel::Sms][rng.random_range(0..3)];
        who = who.with_preferred_channel(preferred);
    }
    if !chance(rng, 10) {
        who = who.with_attribute("tier", pick(rng, &["bronze", "bronze", "silver", "gold"]));
    }
    who = who.with_attribute("age", i64::from(rng.random_range(16..81u32)));
    let joined = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default()
        + Duration::days(rng.random_range(0..4_340));
    who = who
        .with_attribute("member_since", joined)
        .with_attribute("has_kids", chance(rng, 30))
        .with_moment("signup", joined.month(), joined.day())
        .with_birthday(rng.random_range(1..=12), rng.random_range(1..=28));
    let mut diets = Vec::new();
    if chance(rng, 10) {
        diets.push("vegan".to_owned());
    }
    if chance(rng, 8) {
        diets.push("gluten-free".to_owned());
    }
    who = who.with_attribute("diets", diets);
    for (segment, percent) in [
        ("reader", 20),
        ("vip", 5),
        ("lapsed", 15),
        ("sober-curious", 5),
    ] {
        if chance(rng, percent) {
            who = who.with_segment(segment);
        }
    }
    if chance(rng, 5) {
        who = who.with_note("Prefers a phone call to email for anything about an order.");
    }

    // Up to 30 events over the last 200 days, oldest first.
    let count = rng.random_range(0..=30);
    let mut times: Vec<i64> = (0..count)
        .map(|_| rng.random_range(3_600..200 * 86_400))
        .collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    for seconds_ago in times {
        let at = now - Duration::seconds(seconds_ago);
        let category = pick(rng, &CATEGORIES).to_owned();
        let roll = rng.random_range(0..100);
        let event = if roll < 50 {
            Event::View { at, category }
        } else if roll < 78 {
            let product = PRODUCTS
                .iter()
                .find(|(c, _)| *c == category)
                .filter(|_| chance(rng, 30))
                .map(|(_, p)| (*p).to_owned());
            Event::Purchase {
                at,
                category,
                product,
                amount: f64::from(rng.random_range(3..90u32)),
            }
        } else if roll < 95 {
            let channel = [Channel::Email, Channel::Push][rng.random_range(0..2)];
            let response = match rng.random_range(0..100) {
                0..=29 => Response::Opened,
                30..=84 => Response::Ignored,
                85..=98 => Response::Clicked,
                _ => Response::Unsubscribed,
            };
            Event::Response {
                at,
                channel,
                offer: None,
                response,
            }
        } else {
            // A dismissal of one offer: it rests for the cooldown.
            let offer = pick(
                rng,
                &["winter-boots", "coffee-club", "wine-tasting", "skin-care"],
            );
            Event::Feedback {
                at,
                target: FeedbackTarget::Offer(offer.to_owned()),
                positive: false,
            }
        };
        engine.observe(&mut who, &event)?;
    }

    // Some customers complained in the last two months; half of those were resolved.
    if chance(rng, 8) {
        let opened = now - Duration::hours(rng.random_range(2..60 * 24));
        let id = format!("complaint-{id}");
        engine.observe(
            &mut who,
            &Event::ComplaintOpened {
                at: opened,
                id: id.clone(),
            },
        )?;
        if chance(rng, 50) {
            let resolved = opened + Duration::hours(rng.random_range(1..48));
            if resolved < now {
                engine.observe(&mut who, &Event::ComplaintResolved { at: resolved, id })?;
            }
        }
    }
    Ok(who)
}

/// Contacts the shop already made this month, so that caps and spacing have something to count.
fn past_contacts(
    engine: &Engine,
    ledger: &MemoryLedger,
    rng: &mut StdRng,
    id: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let contacts = rng.random_range(0..4);
    for n in 0..contacts {
        let key = format!("campaign-{id}-{n}");
        let contact = RecordedContact {
            at: now() - Duration::hours(rng.random_range(6..20 * 24)),
            channel: [Channel::Email, Channel::Email, Channel::Push, Channel::Sms]
                [rng.random_range(0..4)],
            class: MessageClass::Marketing,
            topic: Some(pick(
                rng,
                &["newsletter", "promo", "winter-boots", "coffee-club"],
            )),
            key: &key,
        };
        ledger.record(engine.policy(), id.into(), contact)?;
    }
    Ok(())
}

/// The stop's kind, as its log line names it (`"ineligible"`, `"throttled"`, …).
fn stop_kind(stop: &Stop) -> String {
    serde_json::to_value(stop)
        .ok()
        .and_then(|v| v.get("stop").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Policy::from_toml_str(POLICY)?.compile()?);
    let ledger = MemoryLedger::new();
    let request = Request::marketing([Channel::Email, Channel::Push, Channel::Sms], 1);
    let mut rng = StdRng::seed_from_u64(0x0C0F_FEE5);

    let mut with_pick = 0;
    let mut deferred = 0;
    let mut picked: BTreeMap<String, u32> = BTreeMap::new();
    let mut channels: BTreeMap<Channel, u32> = BTreeMap::new();
    let mut stops: BTreeMap<String, u32> = BTreeMap::new();
    let mut got_one: Option<(usize, Decision)> = None;
    let mut got_none: Option<(usize, Decision)> = None;

    for id in 1..=CUSTOMERS {
        let who = customer(&engine, &mut rng, id)?;
        past_contacts(&engine, &ledger, &mut rng, id)?;
        let decision = engine.decide(&who, &ledger, &request, now())?;
        for pick in &decision.picks {
            // The send went out: commit the slot the decision reserved.
            ledger.commit(&pick.reservation)?;
            *picked
                .entry(pick.offer.as_deref().unwrap_or_default().to_owned())
                .or_default() += 1;
            *channels.entry(pick.channel).or_default() += 1;
            if pick.send_at > decision.at {
                deferred += 1;
            }
        }
        for stop in decision.trace.iter().filter_map(|c| c.stop) {
            *stops.entry(stop_kind(&stop)).or_default() += 1;
        }
        // Keep the first of the most telling decisions of each kind to explain below.
        let scored = decision.trace.iter().filter(|c| c.score.is_some()).count();
        if decision.picks.is_empty() {
            // Best: offers scored but all held back; then: no complaint and contact allowed.
            let rank = if scored > 0 {
                2
            } else if decision.open_complaints.is_empty() && !who.do_not_contact {
                1
            } else {
                0
            };
            if got_none.as_ref().is_none_or(|(best, _)| rank > *best) {
                got_none = Some((rank, decision));
            }
        } else {
            with_pick += 1;
            // Best: a pick that beat several others, with a score of several parts.
            let parts = decision
                .picked_offers()
                .next()
                .and_then(|offer| decision.candidate(offer))
                .and_then(|c| c.score)
                .map_or(0, |score| score.contributions.len());
            let rank = scored.min(3) + parts.min(4);
            if got_one.as_ref().is_none_or(|(best, _)| rank > *best) {
                got_one = Some((rank, decision));
            }
        }
    }

    println!(
        "== the corner shop, {} UTC",
        now().format("%a %Y-%m-%d %H:%M")
    );
    println!(
        "{with_pick} of {CUSTOMERS} customers got an offer ({deferred} deferred past quiet hours or a cap); {} got nothing",
        CUSTOMERS - with_pick
    );
    println!("\noffers picked:");
    let mut by_count: Vec<(&String, &u32)> = picked.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (offer, count) in by_count {
        println!("  {count:>5}  {offer}");
    }
    println!("\nchannels:");
    for (channel, count) in &channels {
        println!("  {count:>5}  {channel}");
    }
    println!("\nwhat stopped the other offers (one count per offer per customer):");
    let mut by_count: Vec<(&String, &u32)> = stops.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (kind, count) in by_count {
        println!("  {count:>5}  {kind}");
    }
    if let Some((_, decision)) = got_one {
        println!("\n== a customer who got an offer");
        print!("{decision}");
    }
    if let Some((_, decision)) = got_none {
        println!("\n== a customer who got nothing");
        print!("{decision}");
    }
    Ok(())
}
