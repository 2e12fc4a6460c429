//! Property tests of `Engine::decide` against a brute-force oracle written from issue #3, the
//! README ("Personalization: `Engine::decide`") and the public docs (`Decision`, `Stop`,
//! `Request`, `ConditionSpec`, `OfferSpec`, `Event`), not from the implementation.
//!
//! Each case is a random policy (2–6 offers with random categories, channels, value, priority,
//! validity, product, birthday moment, eligibility rules over five declared attributes, segments,
//! purchases, views, lifetime value and the birthday; optional per-offer caps, cooldowns and
//! fallbacks; up to two marketing caps and one quiet-hours rule), a random customer (zone,
//! consents, do-not-contact, a topic unsubscribe, never-categories, attributes, segments,
//! birthday, favourites, preferred channel, notes and up to 12 past events) and 3–7 steps. Each
//! step moves time forward, observes 0–3 new events through `Engine::observe` (purchases,
//! views, feedback, complaints opened and resolved, responses including unsubscribes), decides
//! (marketing on a random ordered subset of channels with 1–3 picks and a random `max_delay`,
//! or sometimes a service reply) and settles each pick: commit, release or leave unsettled
//! (which counts, fail closed).
//!
//! The oracle keeps its own model of the customer (consents, open complaints, last purchase and
//! view per category, last purchase per product, lifetime value, last dismissal per offer) and
//! the FULL list of counted sends, and checks for every marketing decision:
//!
//! * every pick: eligibility (the oracle's own evaluation of the rule), validity (and `send_at`
//!   never past `valid_until`), a requested channel the offer allows, `OptedIn` consent on it,
//!   not do-not-contact, not unsubscribed from its topic, no never-category, no open complaint,
//!   not a product bought within 30 days, not resting after a dismissal; `now <= send_at <=
//!   now + max_delay`; `send_at` outside quiet hours in the customer's zone; and after the picks
//!   are added to the list of sends, every policy cap and per-offer cap holds in every window;
//! * the trace lists every offer exactly once, in policy order; a candidate is picked exactly
//!   when its stop is `None`; each pick's score is its candidate's; picks are best first;
//! * at most one pick per category, at most `request.picks` picks, a fallback only when no
//!   other offer was picked;
//! * every stop is justified: an absolute stop (complaint, validity, channel, do-not-contact,
//!   consent, unsubscribe, never-category, eligibility, just bought, cooldown) applies by the
//!   oracle, an `Ineligible` rule path points at a rule that does not hold; an offer the oracle
//!   finds nothing against gets a selection stop only: `SameCategory` (by a pick sharing the
//!   category, scoring at least as high), `Outscored` (picks full, by the lowest-scored pick),
//!   `FallbackNotNeeded` (a fallback while other offers were picked), or `Throttled`, which the
//!   oracle confirms: caps, quiet hours or a later contact in a cap's scope hold the offer back
//!   at `now` on every usable channel (counting the sends before the decision and this
//!   decision's picks scoring at least as high), and a deferral named in the verdict is beyond
//!   what the request accepts; a deferred pick was held back at `now` on its channel too;
//! * `open_complaints` are the oracle's open complaints, `notes` the customer's notes; the
//!   decision round-trips through JSON and its `Display` names every offer.
//!
//! A service reply goes out on the first requested channel the customer has not opted out of
//! (do-not-contact, missing marketing consent and open complaints notwithstanding), at `now`;
//! with no such channel nothing goes out and `no_channel` is set.
//!
//! Finally every case is replayed on a fresh ledger with the same inputs: every decision must
//! be identical (compared as JSON values).
//!
//! Boundaries the docs leave open are kept out of reach: event times fall at :17 seconds and
//! validity bounds at :30, while decisions are on whole minutes, so `within`, cooldown, validity
//! and "just bought" comparisons never tie.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use cornershop::{
    Channel, Consent, ContactLedger, Customer, CustomerId, Decision, Engine, Event, FeedbackTarget,
    MemoryLedger, MessageClass, Policy, Request, Response, Stop, Verdict,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

const CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];
const CATEGORIES: [&str; 4] = ["coffee", "tea", "shoes", "books"];
const PRODUCTS: [&str; 2] = ["kettle", "toaster"];
const TIERS: [&str; 3] = ["gold", "silver", "bronze"];
const DIETS: [&str; 3] = ["vegan", "halal", "nut-free"];
const SEGMENTS: [&str; 2] = ["vip", "lapsed"];
const ZONES: [Tz; 5] = [
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Tokyo,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Adelaide,
];
/// The policy's `time_zone`, for customers without one.
const POLICY_ZONE: Tz = chrono_tz::Europe::London;
/// `selection.skip_bought_within` and `selection.cooldown` defaults (README / `SelectionSpec`).
const SKIP_BOUGHT_DAYS: i64 = 30;
const DEFAULT_COOLDOWN_DAYS: i64 = 14;

fn offer_id(i: usize) -> String {
    format!("deal-{}", (b'a' + i as u8) as char)
}

// ---------------------------------------------------------------------------------------------
// Generated inputs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Leaf {
    AgeAtLeast(i32),
    AgeAtMost(i32),
    AgeBetween(i32, i32),
    AgeEquals(i32),
    AgeIn(Vec<i32>),
    TierEquals(usize),
    TierIn(Vec<usize>),
    DietsContain(usize),
    DietsIn(Vec<usize>),
    Vip(bool),
    /// Attribute index into `ATTRIBUTES`, and whether it must exist.
    Exists(usize, bool),
    SinceAtLeast(i32),
    SinceAtMost(i32),
    Bought(usize, i64),
    Viewed(usize, i64),
    /// Lifetime value at least `n + 0.5`.
    LtvAtLeast(i32),
    /// Lifetime value at most `n + 0.5`.
    LtvAtMost(i32),
    Birthday(u32),
    Segment(usize),
}

#[derive(Debug, Clone)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Leaf(Leaf),
}

const ATTRIBUTES: [&str; 5] = ["age", "tier", "diets", "vip", "since"];

#[derive(Debug, Clone)]
struct OfferGen {
    categories: Vec<usize>,
    channels: Option<Vec<usize>>,
    value: u8,
    priority: u8,
    /// Hours from the case's start (the bound falls 30 s later).
    valid_from: Option<i64>,
    /// Hours after `valid_from` (see `until_hours`).
    valid_until: Option<i64>,
    product: Option<usize>,
    moment: bool,
    /// Limit and window in days.
    cap: Option<(u32, i64)>,
    cooldown_days: Option<i64>,
    fallback: bool,
    eligibility: Option<Cond>,
}

#[derive(Debug, Clone)]
struct QuietGen {
    start_h: u32,
    start_m: u32,
    end_h: u32,
    channels: Option<Vec<usize>>,
}

#[derive(Debug, Clone)]
struct PolicyGen {
    offers: Vec<OfferGen>,
    /// Marketing cap over every channel: limit, window in hours.
    all_cap: Option<(u32, i64)>,
    /// Marketing cap on email only.
    email_cap: Option<(u32, i64)>,
    quiet: Option<QuietGen>,
}

#[derive(Debug, Clone)]
enum EventGen {
    Purchase {
        category: usize,
        product: Option<usize>,
        amount: u8,
    },
    View {
        category: usize,
    },
    OfferFeedback {
        offer: usize,
        positive: bool,
    },
    CategoryFeedback {
        category: usize,
        positive: bool,
    },
    ComplaintOpened,
    /// Resolves one of the open complaints (picked by this index), if any.
    ComplaintResolved(usize),
    Response {
        channel: usize,
        response: u8,
    },
}

#[derive(Debug, Clone)]
struct CustomerGen {
    zone: Option<usize>,
    /// 0 unknown, 1 opted in, 2 opted out, per channel of `CHANNELS`.
    consents: [u8; 3],
    do_not_contact: bool,
    unsubscribed: Option<usize>,
    never: Vec<usize>,
    age: Option<i32>,
    tier: Option<usize>,
    diets: Option<Vec<usize>>,
    vip: Option<bool>,
    since: Option<i32>,
    segments: Vec<usize>,
    birthday: Option<(u32, u32)>,
    preferred: Option<usize>,
    favourites: Vec<usize>,
    note: bool,
    /// Past events: minutes before the start (from 0 to 90 days), and the event.
    history: Vec<(u32, EventGen)>,
}

#[derive(Debug, Clone)]
struct RequestGen {
    service: bool,
    channels: Vec<usize>,
    picks: usize,
    /// 0: the default day; 1: no delay; otherwise this many hours.
    delay: u8,
}

#[derive(Debug, Clone)]
struct StepGen {
    dt_minutes: i64,
    /// Events observed before deciding: a position within the step, and the event.
    events: Vec<(u32, EventGen)>,
    request: RequestGen,
    /// Per pick: 0-6 commit, 7-8 release, 9 leave unsettled.
    settle: [u8; 3],
}

#[derive(Debug, Clone)]
struct Case {
    policy: PolicyGen,
    customer: CustomerGen,
    /// Minutes after 2026-01-01 00:00 UTC.
    start: i64,
    steps: Vec<StepGen>,
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Ages of customers and in rules come from one small set, so that boundaries (`at_least`
/// equal to the age) are hit often.
fn age() -> impl Strategy<Value = i32> + Clone {
    prop::sample::select(vec![16, 17, 18, 21, 30, 45, 65])
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        age().prop_map(Leaf::AgeAtLeast),
        age().prop_map(Leaf::AgeAtMost),
        (age(), age()).prop_map(|(a, b)| Leaf::AgeBetween(a.min(b), a.max(b))),
        age().prop_map(Leaf::AgeEquals),
        prop::collection::vec(age(), 1..4).prop_map(Leaf::AgeIn),
        (0..3usize).prop_map(Leaf::TierEquals),
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=2).prop_map(Leaf::TierIn),
        (0..3usize).prop_map(Leaf::DietsContain),
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=2).prop_map(Leaf::DietsIn),
        any::<bool>().prop_map(Leaf::Vip),
        (0..5usize, any::<bool>()).prop_map(|(a, e)| Leaf::Exists(a, e)),
        (2015..2026i32).prop_map(Leaf::SinceAtLeast),
        (2015..2026i32).prop_map(Leaf::SinceAtMost),
        (0..4usize, 1..60i64).prop_map(|(c, d)| Leaf::Bought(c, d)),
        (0..4usize, 1..30i64).prop_map(|(c, d)| Leaf::Viewed(c, d)),
        (0..300i32).prop_map(Leaf::LtvAtLeast),
        (0..300i32).prop_map(Leaf::LtvAtMost),
        (0..40u32).prop_map(Leaf::Birthday),
        (0..2usize).prop_map(Leaf::Segment),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    leaf()
        .prop_map(Cond::Leaf)
        .prop_recursive(2, 10, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Cond::All),
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Cond::Any),
                inner.prop_map(|c| Cond::Not(Box::new(c))),
            ]
        })
}

fn channel_subset(min: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::sample::subsequence(vec![0usize, 1, 2], min..=3).prop_shuffle()
}

fn offer_gen() -> impl Strategy<Value = OfferGen> {
    let shape = (
        prop::sample::subsequence(vec![0usize, 1, 2, 3], 0..=2),
        prop::option::weighted(0.4, channel_subset(1)),
        0..60u8,
        0..4u8,
        prop::option::weighted(0.2, -48..72i64),
        prop::option::weighted(0.2, 12..240i64),
        prop::option::weighted(0.2, 0..2usize),
        prop::bool::weighted(0.2),
    );
    let rules = (
        prop::option::weighted(0.4, (1..=2u32, 1..=10i64)),
        prop::option::weighted(0.3, 1..=5i64),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.6, cond()),
    );
    (shape, rules).prop_map(
        |(
            (categories, channels, value, priority, valid_from, valid_until, product, moment),
            (cap, cooldown_days, fallback, eligibility),
        )| OfferGen {
            categories,
            channels,
            value,
            priority,
            valid_from,
            valid_until,
            product,
            moment,
            cap,
            cooldown_days,
            fallback,
            eligibility,
        },
    )
}

fn policy_gen() -> impl Strategy<Value = PolicyGen> {
    let window_hours = prop::sample::select(vec![6i64, 24, 72, 168]);
    (
        prop::collection::vec(offer_gen(), 2..=6),
        prop::option::weighted(0.5, (1..=3u32, window_hours.clone())),
        prop::option::weighted(0.3, (1..=2u32, window_hours)),
        prop::option::weighted(
            0.5,
            (
                0..24u32,
                prop::sample::select(vec![0u32, 30]),
                1..=14u32,
                prop::option::weighted(0.3, channel_subset(1)),
            )
                .prop_map(|(start_h, start_m, len, channels)| QuietGen {
                    start_h,
                    start_m,
                    end_h: (start_h + len) % 24,
                    channels,
                }),
        ),
    )
        .prop_map(|(offers, all_cap, email_cap, quiet)| PolicyGen {
            offers,
            all_cap,
            email_cap,
            quiet,
        })
}

fn event_gen(offers: usize) -> impl Strategy<Value = EventGen> {
    prop_oneof![
        4 => (0..4usize, prop::option::weighted(0.3, 0..2usize), 1..120u8).prop_map(
            |(category, product, amount)| EventGen::Purchase { category, product, amount }
        ),
        3 => (0..4usize).prop_map(|category| EventGen::View { category }),
        2 => (0..offers, any::<bool>())
            .prop_map(|(offer, positive)| EventGen::OfferFeedback { offer, positive }),
        1 => (0..4usize, any::<bool>())
            .prop_map(|(category, positive)| EventGen::CategoryFeedback { category, positive }),
        1 => Just(EventGen::ComplaintOpened),
        5 => any::<usize>().prop_map(EventGen::ComplaintResolved),
        2 => (0..3usize, prop::sample::select(vec![0u8, 1, 2, 2, 2, 3]))
            .prop_map(|(channel, response)| EventGen::Response { channel, response }),
    ]
}

fn customer_gen(offers: usize) -> impl Strategy<Value = CustomerGen> {
    let consent = prop::sample::select(vec![0u8, 1, 1, 1, 2]);
    let who = (
        prop::option::of(0..5usize),
        [consent.clone(), consent.clone(), consent],
        prop::bool::weighted(0.08),
        prop::option::weighted(0.15, 0..offers),
        prop::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4)
            .prop_filter("usually few never-categories", |v| v.len() <= 2),
        prop::option::weighted(0.8, age()),
        prop::option::weighted(0.8, 0..3usize),
        prop::option::weighted(0.7, prop::sample::subsequence(vec![0usize, 1, 2], 0..=3)),
    );
    let more = (
        prop::option::weighted(0.7, any::<bool>()),
        prop::option::weighted(0.7, 2015..2026i32),
        prop::sample::subsequence(vec![0usize, 1], 0..=2),
        prop::option::weighted(0.6, (1..=12u32, 1..=28u32)),
        prop::option::of(0..3usize),
        prop::sample::subsequence(vec![0usize, 1, 2, 3], 0..=2),
        any::<bool>(),
        prop::collection::vec((0..90 * 1440u32, event_gen(offers)), 0..12),
    );
    (who, more).prop_map(
        |(
            (zone, consents, do_not_contact, unsubscribed, never, age, tier, diets),
            (vip, since, segments, birthday, preferred, favourites, note, history),
        )| CustomerGen {
            zone,
            consents,
            do_not_contact,
            unsubscribed,
            never,
            age,
            tier,
            diets,
            vip,
            since,
            segments,
            birthday,
            preferred,
            favourites,
            note,
            history,
        },
    )
}

fn step_gen(offers: usize) -> impl Strategy<Value = StepGen> {
    let dt = prop_oneof![
        2 => Just(0i64),
        3 => 1..180i64,
        3 => 180..1440i64,
        3 => 1440..6 * 1440i64,
    ];
    let request = (
        prop::bool::weighted(0.12),
        prop_oneof![1 => Just(vec![]), 12 => channel_subset(1)],
        1..=3usize,
        prop::sample::select(vec![0u8, 0, 0, 1, 1, 2, 6, 30, 48]),
    )
        .prop_map(|(service, channels, picks, delay)| RequestGen {
            service,
            channels,
            picks,
            delay,
        });
    (
        dt,
        prop::collection::vec((any::<u32>(), event_gen(offers)), 0..=3),
        request,
        [0..10u8, 0..10u8, 0..10u8],
    )
        .prop_map(|(dt_minutes, events, request, settle)| StepGen {
            dt_minutes,
            events,
            request,
            settle,
        })
}

fn case_gen() -> impl Strategy<Value = Case> {
    policy_gen().prop_flat_map(|policy| {
        let n = policy.offers.len();
        (
            Just(policy),
            customer_gen(n),
            0..360 * 1440i64,
            prop::collection::vec(step_gen(n), 3..=7),
        )
            .prop_map(|(policy, customer, start, steps)| Case {
                policy,
                customer,
                start,
                steps,
            })
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering: the policy as TOML, events and requests as the library's types
// ---------------------------------------------------------------------------------------------

fn start_time(case: &Case) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(case.start)
}

fn validity_bound(start: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    start + Duration::hours(hours) + Duration::seconds(30)
}

/// `valid_until` in hours from the case's start: `valid_until` hours after `valid_from` (or
/// after a day before the start).
fn until_hours(o: &OfferGen) -> Option<i64> {
    o.valid_until.map(|h| o.valid_from.unwrap_or(-24) + h)
}

fn toml_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn render_leaf(leaf: &Leaf) -> String {
    let num = |n: i32| format!("{n}.0");
    match leaf {
        Leaf::AgeAtLeast(n) => format!("{{ attribute = \"age\", at_least = {} }}", num(*n)),
        Leaf::AgeAtMost(n) => format!("{{ attribute = \"age\", at_most = {n} }}"),
        Leaf::AgeBetween(a, b) => {
            format!(
                "{{ attribute = \"age\", at_least = {a}, at_most = {} }}",
                num(*b)
            )
        }
        Leaf::AgeEquals(n) => format!("{{ attribute = \"age\", equals = {} }}", num(*n)),
        Leaf::AgeIn(ns) => format!("{{ attribute = \"age\", in = {} }}", toml_list(ns)),
        Leaf::TierEquals(t) => format!("{{ attribute = \"tier\", equals = \"{}\" }}", TIERS[*t]),
        Leaf::TierIn(ts) => format!(
            "{{ attribute = \"tier\", in = {} }}",
            toml_list(ts.iter().map(|t| quoted(TIERS[*t])))
        ),
        Leaf::DietsContain(d) => {
            format!("{{ attribute = \"diets\", equals = \"{}\" }}", DIETS[*d])
        }
        Leaf::DietsIn(ds) => format!(
            "{{ attribute = \"diets\", in = {} }}",
            toml_list(ds.iter().map(|d| quoted(DIETS[*d])))
        ),
        Leaf::Vip(b) => format!("{{ attribute = \"vip\", equals = {b} }}"),
        Leaf::Exists(a, b) => format!("{{ attribute = \"{}\", exists = {b} }}", ATTRIBUTES[*a]),
        Leaf::SinceAtLeast(y) => format!("{{ attribute = \"since\", at_least = \"{y}-01-01\" }}"),
        Leaf::SinceAtMost(y) => format!("{{ attribute = \"since\", at_most = \"{y}-01-01\" }}"),
        Leaf::Bought(c, d) => format!("{{ bought = \"{}\", within = \"{d}d\" }}", CATEGORIES[*c]),
        Leaf::Viewed(c, d) => format!("{{ viewed = \"{}\", within = \"{d}d\" }}", CATEGORIES[*c]),
        Leaf::LtvAtLeast(n) => format!("{{ lifetime_value_at_least = {n}.5 }}"),
        Leaf::LtvAtMost(n) => format!("{{ lifetime_value_at_most = {n}.5 }}"),
        Leaf::Birthday(d) => format!("{{ moment = \"birthday\", within_days = {d} }}"),
        Leaf::Segment(s) => format!("{{ segment = \"{}\" }}", SEGMENTS[*s]),
    }
}

fn render_cond(cond: &Cond) -> String {
    let list = |cs: &[Cond]| toml_list(cs.iter().map(render_cond));
    match cond {
        Cond::All(cs) => format!("{{ all = {} }}", list(cs)),
        Cond::Any(cs) => format!("{{ any = {} }}", list(cs)),
        Cond::Not(c) => format!("{{ not = {} }}", render_cond(c)),
        Cond::Leaf(l) => render_leaf(l),
    }
}

fn render_policy(case: &Case) -> String {
    let p = &case.policy;
    let start = start_time(case);
    let mut t = format!("time_zone = \"{}\"\n\n", POLICY_ZONE.name());
    t += "[attributes]\nage = \"number\"\ntier = \"text\"\ndiets = \"list\"\nvip = \"bool\"\n";
    t += "since = \"date\"\n\n";
    if let Some((limit, hours)) = p.all_cap {
        t += &format!("[[caps]]\nlimit = {limit}\nwindow = \"{hours}h\"\n\n");
    }
    if let Some((limit, hours)) = p.email_cap {
        t += &format!("[[caps]]\nchannel = \"email\"\nlimit = {limit}\nwindow = \"{hours}h\"\n\n");
    }
    if let Some(q) = &p.quiet {
        t += &format!(
            "[[quiet_hours]]\nstart = \"{:02}:{:02}\"\nend = \"{:02}:00\"\n",
            q.start_h, q.start_m, q.end_h
        );
        if let Some(chs) = &q.channels {
            t += &format!(
                "channels = {}\n",
                toml_list(chs.iter().map(|c| quoted(CHANNELS[*c].as_str())))
            );
        }
        t += "\n";
    }
    for (i, o) in p.offers.iter().enumerate() {
        t += &format!("[[offers]]\nid = \"{}\"\n", offer_id(i));
        t += &format!(
            "categories = {}\n",
            toml_list(o.categories.iter().map(|c| quoted(CATEGORIES[*c])))
        );
        if let Some(chs) = &o.channels {
            t += &format!(
                "channels = {}\n",
                toml_list(chs.iter().map(|c| quoted(CHANNELS[*c].as_str())))
            );
        }
        t += &format!(
            "value = {}.0\npriority = {}\n",
            o.value,
            f64::from(o.priority) * 0.5
        );
        if let Some(h) = o.valid_from {
            t += &format!(
                "valid_from = \"{}\"\n",
                validity_bound(start, h).to_rfc3339()
            );
        }
        if let Some(h) = until_hours(o) {
            t += &format!(
                "valid_until = \"{}\"\n",
                validity_bound(start, h).to_rfc3339()
            );
        }
        if let Some(pr) = o.product {
            t += &format!("product = \"{}\"\n", PRODUCTS[pr]);
        }
        if o.moment {
            t += "moment = \"birthday\"\n";
        }
        if o.fallback {
            t += "fallback = true\n";
        }
        if let Some(d) = o.cooldown_days {
            t += &format!("cooldown = \"{d}d\"\n");
        }
        if let Some((limit, days)) = o.cap {
            t += &format!("cap = {{ limit = {limit}, window = \"{days}d\" }}\n");
        }
        if let Some(c) = &o.eligibility {
            t += &format!("eligibility = {}\n", render_cond(c));
        }
        t += "\n";
    }
    t
}

fn build_customer(c: &CustomerGen) -> Customer {
    let mut customer = Customer::new(7).with_do_not_contact(c.do_not_contact);
    if let Some(z) = c.zone {
        customer = customer.with_time_zone(ZONES[z]);
    }
    for (i, consent) in c.consents.iter().enumerate() {
        let consent = match consent {
            0 => Consent::Unknown,
            1 => Consent::OptedIn,
            _ => Consent::OptedOut,
        };
        customer = customer.with_consent(CHANNELS[i], consent);
    }
    if let Some(o) = c.unsubscribed {
        customer = customer.with_unsubscribed_topic(offer_id(o));
    }
    for n in &c.never {
        customer = customer.with_never_category(CATEGORIES[*n]);
    }
    if let Some(age) = c.age {
        customer = customer.with_attribute("age", f64::from(age));
    }
    if let Some(t) = c.tier {
        customer = customer.with_attribute("tier", TIERS[t]);
    }
    if let Some(ds) = &c.diets {
        let list: Vec<String> = ds.iter().map(|d| DIETS[*d].to_string()).collect();
        customer = customer.with_attribute("diets", list);
    }
    if let Some(v) = c.vip {
        customer = customer.with_attribute("vip", v);
    }
    if let Some(y) = c.since {
        customer = customer.with_attribute("since", NaiveDate::from_ymd_opt(y, 6, 15).unwrap());
    }
    for s in &c.segments {
        customer = customer.with_segment(SEGMENTS[*s]);
    }
    if let Some((m, d)) = c.birthday {
        customer = customer.with_birthday(m, d);
    }
    if let Some(p) = c.preferred {
        customer = customer.with_preferred_channel(CHANNELS[p]);
    }
    for f in &c.favourites {
        customer = customer.with_favourite_category(CATEGORIES[*f]);
    }
    if c.note {
        customer = customer.with_note("asked about gift wrapping");
    }
    customer
}

// ---------------------------------------------------------------------------------------------
// The oracle's model of the customer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Model {
    consents: [Consent; 3],
    open_complaints: BTreeSet<String>,
    next_complaint: usize,
    last_purchase: BTreeMap<usize, DateTime<Utc>>,
    last_view: BTreeMap<usize, DateTime<Utc>>,
    last_product: BTreeMap<usize, DateTime<Utc>>,
    last_dismissal: BTreeMap<usize, DateTime<Utc>>,
    lifetime_value: f64,
}

impl Model {
    fn new(c: &CustomerGen) -> Model {
        let consent = |v: u8| match v {
            0 => Consent::Unknown,
            1 => Consent::OptedIn,
            _ => Consent::OptedOut,
        };
        Model {
            consents: c.consents.map(consent),
            open_complaints: BTreeSet::new(),
            next_complaint: 0,
            last_purchase: BTreeMap::new(),
            last_view: BTreeMap::new(),
            last_product: BTreeMap::new(),
            last_dismissal: BTreeMap::new(),
            lifetime_value: 0.0,
        }
    }

    fn consent(&self, channel: Channel) -> Consent {
        self.consents[CHANNELS.iter().position(|c| *c == channel).unwrap()]
    }

    /// Turns a generated event at `at` into the library's event, and folds it into the model.
    /// `None` when there is nothing to send (resolving with no complaint open).
    fn event(&mut self, e: &EventGen, at: DateTime<Utc>) -> Option<Event> {
        Some(match e {
            EventGen::Purchase {
                category,
                product,
                amount,
            } => {
                self.last_purchase.insert(*category, at);
                if let Some(p) = product {
                    self.last_product.insert(*p, at);
                }
                self.lifetime_value += f64::from(*amount);
                Event::Purchase {
                    at,
                    category: CATEGORIES[*category].into(),
                    product: product.map(|p| PRODUCTS[p].to_string()),
                    amount: f64::from(*amount),
                }
            }
            EventGen::View { category } => {
                self.last_view.insert(*category, at);
                Event::View {
                    at,
                    category: CATEGORIES[*category].into(),
                }
            }
            EventGen::OfferFeedback { offer, positive } => {
                if !positive {
                    self.last_dismissal.insert(*offer, at);
                }
                Event::Feedback {
                    at,
                    target: FeedbackTarget::Offer(offer_id(*offer)),
                    positive: *positive,
                }
            }
            EventGen::CategoryFeedback { category, positive } => Event::Feedback {
                at,
                target: FeedbackTarget::Category(CATEGORIES[*category].into()),
                positive: *positive,
            },
            EventGen::ComplaintOpened => {
                let id = format!("C-{}", self.next_complaint);
                self.next_complaint += 1;
                self.open_complaints.insert(id.clone());
                Event::ComplaintOpened { at, id }
            }
            EventGen::ComplaintResolved(pick) => {
                if self.open_complaints.is_empty() {
                    return None;
                }
                let id = self
                    .open_complaints
                    .iter()
                    .nth(pick % self.open_complaints.len())
                    .unwrap()
                    .clone();
                self.open_complaints.remove(&id);
                Event::ComplaintResolved { at, id }
            }
            EventGen::Response { channel, response } => {
                let response = match response {
                    0 => Response::Opened,
                    1 => Response::Clicked,
                    2 => Response::Ignored,
                    _ => Response::Unsubscribed,
                };
                if response == Response::Unsubscribed {
                    self.consents[*channel] = Consent::OptedOut;
                }
                Event::Response {
                    at,
                    channel: CHANNELS[*channel],
                    offer: None,
                    response,
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle's judgments
// ---------------------------------------------------------------------------------------------

/// One send the ledger counts (committed, or reserved and never settled).
#[derive(Debug, Clone)]
struct Sent {
    at: DateTime<Utc>,
    channel: Channel,
    class: MessageClass,
    offer: Option<usize>,
}

struct World<'a> {
    case: &'a Case,
    model: &'a Model,
    zone: Tz,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
}

fn days_until(today: NaiveDate, month: u32, day: u32) -> i64 {
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day).unwrap();
    let next = if this_year >= today {
        this_year
    } else {
        NaiveDate::from_ymd_opt(today.year() + 1, month, day).unwrap()
    };
    (next - today).num_days()
}

impl World<'_> {
    fn customer(&self) -> &CustomerGen {
        &self.case.customer
    }

    fn within(&self, last: Option<&DateTime<Utc>>, days: i64) -> bool {
        last.is_some_and(|t| self.now - *t <= Duration::days(days))
    }

    fn leaf(&self, leaf: &Leaf) -> bool {
        let c = self.customer();
        match leaf {
            Leaf::AgeAtLeast(n) => c.age.is_some_and(|a| a >= *n),
            Leaf::AgeAtMost(n) => c.age.is_some_and(|a| a <= *n),
            Leaf::AgeBetween(lo, hi) => c.age.is_some_and(|a| *lo <= a && a <= *hi),
            Leaf::AgeEquals(n) => c.age == Some(*n),
            Leaf::AgeIn(ns) => c.age.is_some_and(|a| ns.contains(&a)),
            Leaf::TierEquals(t) => c.tier == Some(*t),
            Leaf::TierIn(ts) => c.tier.is_some_and(|t| ts.contains(&t)),
            Leaf::DietsContain(d) => c.diets.as_ref().is_some_and(|ds| ds.contains(d)),
            Leaf::DietsIn(want) => c
                .diets
                .as_ref()
                .is_some_and(|ds| want.iter().any(|d| ds.contains(d))),
            Leaf::Vip(b) => c.vip == Some(*b),
            Leaf::Exists(a, want) => {
                let set = match *a {
                    0 => c.age.is_some(),
                    1 => c.tier.is_some(),
                    2 => c.diets.is_some(),
                    3 => c.vip.is_some(),
                    _ => c.since.is_some(),
                };
                set == *want
            }
            // The customer's date is June 15th of `since`; the bound January 1st of `y`.
            Leaf::SinceAtLeast(y) => c.since.is_some_and(|s| s >= *y),
            Leaf::SinceAtMost(y) => c.since.is_some_and(|s| s < *y),
            Leaf::Bought(cat, d) => self.within(self.model.last_purchase.get(cat), *d),
            Leaf::Viewed(cat, d) => self.within(self.model.last_view.get(cat), *d),
            Leaf::LtvAtLeast(n) => self.model.lifetime_value >= f64::from(*n) + 0.5,
            Leaf::LtvAtMost(n) => self.model.lifetime_value <= f64::from(*n) + 0.5,
            Leaf::Birthday(d) => c.birthday.is_some_and(|(m, day)| {
                let today = self.now.with_timezone(&self.zone).date_naive();
                days_until(today, m, day) <= i64::from(*d)
            }),
            Leaf::Segment(s) => c.segments.contains(s),
        }
    }

    fn holds(&self, cond: &Cond) -> bool {
        match cond {
            Cond::All(cs) => cs.iter().all(|c| self.holds(c)),
            Cond::Any(cs) => cs.iter().any(|c| self.holds(c)),
            Cond::Not(c) => !self.holds(c),
            Cond::Leaf(l) => self.leaf(l),
        }
    }

    fn offer(&self, i: usize) -> &OfferGen {
        &self.case.policy.offers[i]
    }

    fn valid_from(&self, i: usize) -> Option<DateTime<Utc>> {
        self.offer(i)
            .valid_from
            .map(|h| validity_bound(self.start, h))
    }

    fn valid_until(&self, i: usize) -> Option<DateTime<Utc>> {
        until_hours(self.offer(i)).map(|h| validity_bound(self.start, h))
    }

    /// The requested channels the offer allows, in the request's order.
    fn usable(&self, i: usize, request: &[Channel]) -> Vec<Channel> {
        request
            .iter()
            .copied()
            .filter(|ch| match &self.offer(i).channels {
                None => true,
                Some(chs) => chs.iter().any(|c| CHANNELS[*c] == *ch),
            })
            .collect()
    }

    fn consented(&self, i: usize, request: &[Channel]) -> Vec<Channel> {
        self.usable(i, request)
            .into_iter()
            .filter(|ch| self.model.consent(*ch) == Consent::OptedIn)
            .collect()
    }

    fn cooldown_until(&self, i: usize) -> Option<DateTime<Utc>> {
        let days = self.offer(i).cooldown_days.unwrap_or(DEFAULT_COOLDOWN_DAYS);
        self.model
            .last_dismissal
            .get(&i)
            .map(|t| *t + Duration::days(days))
    }

    fn just_bought(&self, i: usize) -> Option<(usize, DateTime<Utc>)> {
        let p = self.offer(i).product?;
        let at = *self.model.last_product.get(&p)?;
        (self.now - at < Duration::days(SKIP_BOUGHT_DAYS)).then_some((p, at))
    }

    /// Whether `stop`, an absolute (per-offer, before selection) stop, applies to offer `i`.
    /// `None` if `stop` is not an absolute stop.
    fn absolute_stop_applies(&self, i: usize, stop: &Stop, request: &[Channel]) -> Option<bool> {
        let o = self.offer(i);
        let c = self.customer();
        Some(match stop {
            Stop::OpenComplaint => !self.model.open_complaints.is_empty(),
            Stop::NotYetValid { from } => Some(*from) == self.valid_from(i) && self.now < *from,
            Stop::Expired { until } => Some(*until) == self.valid_until(i) && self.now > *until,
            Stop::NoChannel => self.usable(i, request).is_empty(),
            Stop::DoNotContact => c.do_not_contact,
            Stop::NoConsent { channels } => {
                let usable = self.usable(i, request);
                let given: BTreeSet<Channel> = channels.iter().copied().collect();
                !usable.is_empty()
                    && given == usable.iter().copied().collect()
                    && self.consented(i, request).is_empty()
            }
            Stop::Unsubscribed { topic } => **topic == *offer_id(i) && c.unsubscribed == Some(i),
            Stop::NeverCategory { category } => o
                .categories
                .iter()
                .any(|k| CATEGORIES[*k] == &**category && c.never.contains(k)),
            Stop::Ineligible { rule } => {
                let Some(cond) = &o.eligibility else {
                    return Some(false);
                };
                let prefix = format!("offers[{i}].eligibility");
                let Some(rest) = rule.path.strip_prefix(&prefix) else {
                    return Some(false);
                };
                // The rule named must itself not hold (and so neither does the whole rule).
                match node_at(cond, rest) {
                    Some(node) => !self.holds(node) && !self.holds(cond),
                    None => false,
                }
            }
            Stop::JustBought { product, at } => self
                .just_bought(i)
                .is_some_and(|(p, t)| PRODUCTS[p] == &**product && t == *at),
            Stop::Cooldown { until } => self.cooldown_until(i) == Some(*until) && self.now < *until,
            _ => return None,
        })
    }

    /// Every absolute reason the oracle finds against offer `i` (by name, for messages).
    fn absolute_reasons(&self, i: usize, request: &[Channel]) -> Vec<&'static str> {
        let o = self.offer(i);
        let c = self.customer();
        let mut r = Vec::new();
        if !self.model.open_complaints.is_empty() {
            r.push("open complaint");
        }
        if self.valid_from(i).is_some_and(|f| self.now < f) {
            r.push("not yet valid");
        }
        if self.valid_until(i).is_some_and(|u| self.now > u) {
            r.push("expired");
        }
        if self.usable(i, request).is_empty() {
            r.push("no channel");
        } else if self.consented(i, request).is_empty() {
            r.push("no consent");
        }
        if c.do_not_contact {
            r.push("do not contact");
        }
        if c.unsubscribed == Some(i) {
            r.push("unsubscribed");
        }
        if o.categories.iter().any(|k| c.never.contains(k)) {
            r.push("never category");
        }
        if o.eligibility.as_ref().is_some_and(|e| !self.holds(e)) {
            r.push("ineligible");
        }
        if self.just_bought(i).is_some() {
            r.push("just bought");
        }
        if self.cooldown_until(i).is_some_and(|u| self.now < u) {
            r.push("cooldown");
        }
        r
    }

    fn quiet_at(&self, t: DateTime<Utc>, channel: Channel) -> bool {
        let Some(q) = &self.case.policy.quiet else {
            return false;
        };
        if let Some(chs) = &q.channels {
            if !chs.iter().any(|c| CHANNELS[*c] == channel) {
                return false;
            }
        }
        let local = t.with_timezone(&self.zone);
        let minute = local.hour() * 60 + local.minute();
        let (s, e) = (q.start_h * 60 + q.start_m, q.end_h * 60);
        if s < e {
            s <= minute && minute < e
        } else {
            minute >= s || minute < e
        }
    }

    /// The marketing caps covering a marketing send of offer `i` on `channel`: (in scope, limit,
    /// window).
    fn caps_for(&self, i: usize, channel: Channel) -> Vec<(CapScope, u32, Duration)> {
        let p = &self.case.policy;
        let mut caps = Vec::new();
        if let Some((limit, h)) = p.all_cap {
            caps.push((CapScope::AllChannels, limit, Duration::hours(h)));
        }
        if let (Some((limit, h)), Channel::Email) = (p.email_cap, channel) {
            caps.push((CapScope::Email, limit, Duration::hours(h)));
        }
        if let Some((limit, d)) = self.offer(i).cap {
            caps.push((CapScope::Offer(i), limit, Duration::days(d)));
        }
        caps
    }

    /// Whether the oracle finds a marketing send of offer `i` on `channel` held back at `now`
    /// by quiet hours, a full cap, or a contact later than `now` in a cap's scope.
    fn held_back_now(&self, i: usize, channel: Channel, sends: &[&Sent]) -> bool {
        if self.quiet_at(self.now, channel) {
            return true;
        }
        self.caps_for(i, channel)
            .iter()
            .any(|(scope, limit, window)| {
                let in_scope = sends.iter().filter(|s| scope.counts(s));
                let mut count = 0;
                for s in in_scope {
                    if s.at > self.now {
                        return true;
                    }
                    if self.now - s.at < *window {
                        count += 1;
                    }
                }
                count >= *limit
            })
    }
}

#[derive(Debug, Clone, Copy)]
enum CapScope {
    AllChannels,
    Email,
    Offer(usize),
}

impl CapScope {
    fn counts(&self, s: &Sent) -> bool {
        s.class == MessageClass::Marketing
            && match self {
                CapScope::AllChannels => true,
                CapScope::Email => s.channel == Channel::Email,
                CapScope::Offer(i) => s.offer == Some(*i),
            }
    }
}

/// The node of `cond` at `path` (`""`, `.all[1]`, `.any[0].not`, …).
fn node_at<'c>(cond: &'c Cond, path: &str) -> Option<&'c Cond> {
    if path.is_empty() {
        return Some(cond);
    }
    let path = path.strip_prefix('.')?;
    let (head, rest) = match path.find('.') {
        Some(k) => (&path[..k], &path[k..]),
        None => (path, ""),
    };
    let child = |cs: &'c [Cond], prefix: &str| -> Option<&'c Cond> {
        let k: usize = head.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()?;
        cs.get(k)
    };
    let next = match cond {
        Cond::All(cs) => child(cs, "all[")?,
        Cond::Any(cs) => child(cs, "any[")?,
        Cond::Not(c) if head == "not" => c,
        _ => return None,
    };
    node_at(next, rest)
}

/// Every window of every cap holds at most its limit, over the full list of sends.
fn check_caps(world: &World<'_>, sends: &[Sent]) -> Result<(), TestCaseError> {
    let p = &world.case.policy;
    let mut caps: Vec<(CapScope, u32, Duration, String)> = Vec::new();
    if let Some((limit, h)) = p.all_cap {
        caps.push((
            CapScope::AllChannels,
            limit,
            Duration::hours(h),
            "caps (all)".into(),
        ));
    }
    if let Some((limit, h)) = p.email_cap {
        caps.push((
            CapScope::Email,
            limit,
            Duration::hours(h),
            "caps (email)".into(),
        ));
    }
    for (i, o) in p.offers.iter().enumerate() {
        if let Some((limit, d)) = o.cap {
            caps.push((CapScope::Offer(i), limit, Duration::days(d), offer_id(i)));
        }
    }
    for (scope, limit, window, name) in caps {
        let mut times: Vec<DateTime<Utc>> = sends
            .iter()
            .filter(|s| scope.counts(s))
            .map(|s| s.at)
            .collect();
        times.sort();
        for (k, t) in times.iter().enumerate() {
            let n = times[k..].iter().take_while(|u| **u - *t < window).count();
            prop_assert!(
                n <= limit as usize,
                "{name}: {n} sends in the window of {window} from {t} (limit {limit}): {times:?}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Checking one decision
// ---------------------------------------------------------------------------------------------

static DECISIONS: AtomicUsize = AtomicUsize::new(0);
static PICKS: AtomicUsize = AtomicUsize::new(0);
static STOPS: AtomicUsize = AtomicUsize::new(0);
static DEFERRED: AtomicUsize = AtomicUsize::new(0);
/// How often each kind of stop was seen (printed, to show what the cases reach).
static STOP_KINDS: std::sync::Mutex<BTreeMap<String, usize>> =
    std::sync::Mutex::new(BTreeMap::new());

fn stop_kind(stop: &Stop) -> String {
    let debug = format!("{stop:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn check_common(
    d: &Decision,
    customer: &Customer,
    world: &World<'_>,
    class: MessageClass,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(d.customer, CustomerId(7));
    prop_assert_eq!(d.at, world.now);
    prop_assert_eq!(d.class, class);
    prop_assert_eq!(&d.notes, &customer.profile.notes);
    let open: BTreeSet<String> = d.open_complaints.iter().cloned().collect();
    prop_assert_eq!(&open, &world.model.open_complaints);
    let json = serde_json::to_string(d).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Decision =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // serde_json's default float parser may be a unit in the last place off (see
    // `decide_scenarios::scores_round_trip_exactly_through_json`): scores are compared within
    // that, everything else exactly.
    let (a, b) = (
        serde_json::to_value(&back).map_err(err)?,
        serde_json::to_value(d).map_err(err)?,
    );
    prop_assert!(json_close(&a, &b), "JSON round trip:\n{}\n{}", a, b);
    Ok(())
}

fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.fract() != 0.0 || y.fract() != 0.0 => {
                (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => x == y,
        },
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

fn check_service(
    d: &Decision,
    world: &World<'_>,
    request: &[Channel],
) -> Result<(), TestCaseError> {
    let expected = request
        .iter()
        .copied()
        .find(|ch| world.model.consent(*ch) != Consent::OptedOut);
    match expected {
        Some(channel) => {
            prop_assert_eq!(d.picks.len(), 1, "a service reply always goes out:\n{}", d);
            let p = &d.picks[0];
            prop_assert_eq!(p.channel, channel);
            prop_assert_eq!(p.offer.as_deref(), None);
            prop_assert_eq!(p.send_at, world.now);
            prop_assert_eq!(p.reservation.class(), MessageClass::Service);
            prop_assert_eq!(p.reservation.channel(), channel);
            prop_assert!(!d.no_channel);
        }
        None => {
            prop_assert!(d.picks.is_empty(), "opted out everywhere:\n{}", d);
            prop_assert!(d.no_channel);
            // `Decision::trace`: each channel tried, named with the class.
            prop_assert_eq!(d.trace.len(), request.len(), "{}", d);
            for (c, ch) in d.trace.iter().zip(request) {
                prop_assert!(c.stop.is_some() && c.offer.contains(ch.as_str()), "{}", d);
            }
        }
    }
    Ok(())
}

fn check_marketing(
    d: &Decision,
    world: &World<'_>,
    request: &Request,
    before: &[Sent],
) -> Result<(), TestCaseError> {
    let offers = &world.case.policy.offers;
    let ids: Vec<String> = (0..offers.len()).map(offer_id).collect();
    let index = |id: &str| ids.iter().position(|x| x == id);
    let chans = &request.channels;

    // The trace: every offer once, in policy order.
    let traced: Vec<&str> = d.trace.offers().collect();
    prop_assert_eq!(&traced, &ids, "trace order:\n{}", d);
    prop_assert!(!d.no_channel);
    let text = d.to_string();
    for id in &ids {
        prop_assert!(
            text.contains(id.as_str()),
            "Display misses {}:\n{}",
            id,
            text
        );
    }

    // Picks.
    prop_assert!(d.picks.len() <= request.picks, "too many picks:\n{}", d);
    let mut picked: Vec<usize> = Vec::new();
    for p in &d.picks {
        let Some(i) = p.offer.as_deref().and_then(index) else {
            return Err(TestCaseError::fail(format!(
                "a pick names no policy offer:\n{d}"
            )));
        };
        prop_assert!(!picked.contains(&i), "{} picked twice", ids[i]);
        picked.push(i);
        let o = &offers[i];
        let reasons = world.absolute_reasons(i, chans);
        prop_assert!(
            reasons.is_empty(),
            "{} picked despite {:?}:\n{}",
            ids[i],
            reasons,
            d
        );
        // Belt and braces for the rules the issue names.
        prop_assert!(chans.contains(&p.channel));
        prop_assert!(world.usable(i, chans).contains(&p.channel));
        prop_assert_eq!(world.model.consent(p.channel), Consent::OptedIn);
        prop_assert!(!world.customer().do_not_contact);
        prop_assert!(world.model.open_complaints.is_empty());
        prop_assert!(!o
            .categories
            .iter()
            .any(|k| world.customer().never.contains(k)));
        if let Some(e) = &o.eligibility {
            prop_assert!(
                world.holds(e),
                "{} picked but its rule does not hold",
                ids[i]
            );
        }
        // Timing.
        prop_assert!(p.send_at >= world.now, "{} sent before now:\n{}", ids[i], d);
        match request.max_delay {
            None => prop_assert_eq!(p.send_at, world.now, "no delay accepted:\n{}", d),
            Some(max) => prop_assert!(p.send_at - world.now <= max, "deferred too far:\n{}", d),
        }
        if let Some(until) = world.valid_until(i) {
            prop_assert!(
                p.send_at <= until,
                "{} sent after valid_until:\n{}",
                ids[i],
                d
            );
        }
        prop_assert!(
            !world.quiet_at(p.send_at, p.channel),
            "{} sent in quiet hours at {}:\n{}",
            ids[i],
            p.send_at,
            d
        );
        // What the pick carries.
        let cats: Vec<&str> = o.categories.iter().map(|k| CATEGORIES[*k]).collect();
        prop_assert_eq!(&p.categories[..], &cats[..]);
        prop_assert_eq!(p.reservation.send_at(), p.send_at);
        prop_assert_eq!(p.reservation.channel(), p.channel);
        prop_assert_eq!(p.reservation.class(), MessageClass::Marketing);
        prop_assert_eq!(p.reservation.customer(), CustomerId(7));
        let score = d.trace.get(i).and_then(|c| c.score);
        prop_assert!(
            score.as_ref().is_some_and(|s| close(s.total, p.score)),
            "pick score:\n{}",
            d
        );
    }
    for w in d.picks.windows(2) {
        prop_assert!(w[0].score >= w[1].score, "picks are not best first:\n{}", d);
    }
    // Diversity: at most one pick per category (the default `max_per_category`).
    for (k, cat) in CATEGORIES.iter().enumerate() {
        let n = picked
            .iter()
            .filter(|i| offers[**i].categories.contains(&k))
            .count();
        prop_assert!(n <= 1, "{} picks in {}:\n{}", n, cat, d);
    }
    // Fallbacks only when nothing else was picked.
    let others_picked = picked.iter().any(|i| !offers[*i].fallback);
    if others_picked {
        prop_assert!(
            picked.iter().all(|i| !offers[*i].fallback),
            "fallback used:\n{}",
            d
        );
    }

    // The sends counted before each candidate was walked: those before the decision, and this
    // decision's picks that score at least as high.
    let sends_before = |score: f64, except: Option<usize>| -> Vec<Sent> {
        let mut v: Vec<Sent> = before.to_vec();
        for (p, i) in d.picks.iter().zip(&picked) {
            if Some(*i) != except && p.score >= score - 1e-9 {
                v.push(Sent {
                    at: p.send_at,
                    channel: p.channel,
                    class: MessageClass::Marketing,
                    offer: Some(*i),
                });
            }
        }
        v
    };

    // A deferred pick was held back at `now` on its channel.
    for (p, i) in d.picks.iter().zip(&picked) {
        if p.send_at > world.now {
            DEFERRED.fetch_add(1, Ordering::Relaxed);
            let sends = sends_before(p.score, Some(*i));
            let refs: Vec<&Sent> = sends.iter().collect();
            prop_assert!(
                world.held_back_now(*i, p.channel, &refs),
                "{} deferred to {} though nothing holds it back now:\n{}",
                ids[*i],
                p.send_at,
                d
            );
        }
    }

    // Every candidate: picked exactly when it has no stop, and every stop justified.
    let lowest_pick = d
        .picks
        .iter()
        .map(|p| p.score)
        .fold(f64::INFINITY, f64::min);
    for (i, c) in d.trace.iter().enumerate() {
        let is_picked = picked.contains(&i);
        prop_assert_eq!(
            c.stop.is_none(),
            is_picked,
            "{}: picked <=> no stop:\n{}",
            &ids[i],
            d
        );
        let Some(stop) = &c.stop else { continue };
        STOPS.fetch_add(1, Ordering::Relaxed);
        *STOP_KINDS
            .lock()
            .unwrap()
            .entry(stop_kind(stop))
            .or_default() += 1;
        let reasons = world.absolute_reasons(i, chans);
        match world.absolute_stop_applies(i, stop, chans) {
            Some(applies) => prop_assert!(
                applies,
                "{}: {:?} does not apply (the oracle finds {:?}):\n{}",
                &ids[i],
                stop,
                reasons,
                d
            ),
            None => {
                prop_assert!(
                    reasons.is_empty(),
                    "{}: {:?}, but the oracle finds {:?}:\n{}",
                    &ids[i],
                    stop,
                    reasons,
                    d
                );
                let own = c.score.as_ref().map(|s| s.total);
                check_selection_stop(world, d, i, stop, own, lowest_pick, &picked, request)?;
                if let Stop::Throttled { .. } = stop {
                    let sends = sends_before(own.unwrap_or(f64::NEG_INFINITY), None);
                    let refs: Vec<&Sent> = sends.iter().collect();
                    for ch in world.consented(i, chans) {
                        prop_assert!(
                            world.held_back_now(i, ch, &refs),
                            "{}: throttled, but nothing holds it back on {:?} now:\n{}",
                            &ids[i],
                            ch,
                            d
                        );
                    }
                }
            }
        }
        if !reasons.is_empty() {
            prop_assert!(
                world.absolute_stop_applies(i, stop, chans).is_some(),
                "{}: the oracle finds {:?} but the stop is {:?}:\n{}",
                &ids[i],
                reasons,
                stop,
                d
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_selection_stop(
    world: &World<'_>,
    d: &Decision,
    i: usize,
    stop: &Stop,
    own: Option<f64>,
    lowest_pick: f64,
    picked: &[usize],
    request: &Request,
) -> Result<(), TestCaseError> {
    let offers = &world.case.policy.offers;
    let id = offer_id(i);
    let score_of = |offer: &str| d.picks.iter().find(|p| p.offer.as_deref() == Some(offer));
    let others_picked = picked.iter().any(|k| !offers[*k].fallback);
    if offers[i].fallback && others_picked {
        prop_assert_eq!(stop, &Stop::FallbackNotNeeded, "{}:\n{}", id, d);
        return Ok(());
    }
    match stop {
        Stop::FallbackNotNeeded => {
            prop_assert!(offers[i].fallback && others_picked, "{}:\n{}", id, d);
        }
        Stop::SameCategory { category, by } => {
            let pick = score_of(by);
            prop_assert!(
                pick.is_some(),
                "{}: same category as {}, not picked:\n{}",
                id,
                by,
                d
            );
            let pick = pick.unwrap();
            prop_assert!(
                pick.categories.iter().any(|c| **c == **category),
                "{}:\n{}",
                id,
                d
            );
            let k = CATEGORIES.iter().position(|c| *c == &**category);
            prop_assert!(
                k.is_some_and(|k| offers[i].categories.contains(&k)),
                "{}: not in {}:\n{}",
                id,
                category,
                d
            );
            if let Some(s) = own {
                prop_assert!(s <= pick.score + 1e-9, "{}: outscores {}:\n{}", id, by, d);
            }
        }
        Stop::Outscored { by } => {
            prop_assert_eq!(
                d.picks.len(),
                request.picks,
                "{}: outscored, picks not full:\n{}",
                id,
                d
            );
            let pick = score_of(by);
            prop_assert!(
                pick.is_some(),
                "{}: outscored by {}, not picked:\n{}",
                id,
                by,
                d
            );
            let pick = pick.unwrap();
            prop_assert!(
                close(pick.score, lowest_pick),
                "{}: not the lowest pick:\n{}",
                id,
                d
            );
            if let Some(s) = own {
                prop_assert!(s <= pick.score + 1e-9, "{}: outscores {}:\n{}", id, by, d);
            }
        }
        Stop::Throttled { channel, verdict } => {
            prop_assert!(
                world.consented(i, &request.channels).contains(channel),
                "{}: throttled on an unusable channel:\n{}",
                id,
                d
            );
            match verdict {
                Verdict::Allowed => {
                    return Err(TestCaseError::fail(format!(
                        "{id}: throttled but allowed:\n{d}"
                    )))
                }
                Verdict::Deferred { until, .. } => {
                    let too_late = match request.max_delay {
                        None => true,
                        Some(max) => *until > world.now + max,
                    } || world.valid_until(i).is_some_and(|v| *until > v);
                    prop_assert!(
                        too_late,
                        "{}: deferral to {} was acceptable:\n{}",
                        id,
                        until,
                        d
                    );
                }
                Verdict::Denied { .. } => {}
            }
        }
        other => {
            return Err(TestCaseError::fail(format!(
                "{id}: unexpected stop {other:?}:\n{d}"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

fn err(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Runs the case on a fresh ledger; checks every decision if `check`; returns the decisions
/// as JSON values.
fn run(case: &Case, check: bool) -> Result<Vec<serde_json::Value>, TestCaseError> {
    let toml = render_policy(case);
    let policy = Policy::from_toml_str(&toml)
        .and_then(|p| p.compile())
        .map_err(|e| TestCaseError::fail(format!("{e}\n{toml}")))?;
    let engine = Engine::new(policy);
    let ledger = MemoryLedger::new();
    let start = start_time(case);
    let zone = case.customer.zone.map_or(POLICY_ZONE, |z| ZONES[z]);
    let mut customer = build_customer(&case.customer);
    let mut model = Model::new(&case.customer);
    let mut sends: Vec<Sent> = Vec::new();
    let mut out = Vec::new();

    // The customer's past, oldest first, at :43 seconds.
    let mut history = case.customer.history.clone();
    history.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
    for (minutes, e) in &history {
        let at = start - Duration::minutes(i64::from(*minutes)) - Duration::seconds(43);
        if let Some(event) = model.event(e, at) {
            engine.observe(&mut customer, &event).map_err(err)?;
        }
    }

    let mut now = start;
    for step in &case.steps {
        let before = now;
        now += Duration::minutes(step.dt_minutes);
        if step.dt_minutes > 0 {
            let mut events = step.events.clone();
            events.sort_by_key(|(pos, _)| *pos as i64 % step.dt_minutes);
            for (pos, e) in &events {
                let m = *pos as i64 % step.dt_minutes;
                let at = before + Duration::minutes(m) + Duration::seconds(17);
                if let Some(event) = model.event(e, at) {
                    engine.observe(&mut customer, &event).map_err(err)?;
                }
            }
        }
        if check {
            for (k, ch) in CHANNELS.iter().enumerate() {
                prop_assert_eq!(
                    customer.consents.get(*ch),
                    model.consents[k],
                    "consent model"
                );
            }
        }

        let channels: Vec<Channel> = step.request.channels.iter().map(|c| CHANNELS[*c]).collect();
        let request = if step.request.service {
            Request::service(channels.clone())
        } else {
            let r = Request::marketing(channels.clone(), step.request.picks);
            match step.request.delay {
                0 => r,
                1 => r.with_max_delay(None),
                h => r.with_max_delay(Some(Duration::hours(i64::from(h)))),
            }
        };
        let decision = engine
            .decide(&customer, &ledger, &request, now)
            .map_err(err)?;
        if check {
            DECISIONS.fetch_add(1, Ordering::Relaxed);
            PICKS.fetch_add(decision.picks.len(), Ordering::Relaxed);
            let world = World {
                case,
                model: &model,
                zone,
                now,
                start,
            };
            if step.request.service {
                check_common(&decision, &customer, &world, MessageClass::Service)?;
                check_service(&decision, &world, &channels)?;
            } else {
                check_common(&decision, &customer, &world, MessageClass::Marketing)?;
                check_marketing(&decision, &world, &request, &sends)?;
            }
        }

        // Settle: commit, release, or leave unsettled (still counted).
        for (k, p) in decision.picks.iter().enumerate() {
            let offer = p
                .offer
                .as_deref()
                .and_then(|id| (0..case.policy.offers.len()).find(|i| offer_id(*i) == id));
            let sent = Sent {
                at: p.send_at,
                channel: p.channel,
                class: p.reservation.class(),
                offer,
            };
            match step.settle[k] {
                0..=6 => {
                    ledger.commit(&p.reservation).map_err(err)?;
                    sends.push(sent);
                }
                7 | 8 => {
                    let freed = ledger.release(&p.reservation).map_err(err)?;
                    if !freed {
                        sends.push(sent);
                    }
                }
                _ => sends.push(sent),
            }
        }
        if check {
            let world = World {
                case,
                model: &model,
                zone,
                now,
                start,
            };
            check_caps(&world, &sends)?;
        }
        out.push(serde_json::to_value(&decision).map_err(err)?);
    }
    Ok(out)
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let first = run(case, true)?;
    let again = run(case, false)?;
    prop_assert_eq!(first.len(), again.len());
    for (k, (a, b)) in first.iter().zip(&again).enumerate() {
        prop_assert_eq!(a, b, "decision {} differs on a fresh ledger", k);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/// Cases per run. With 3–7 steps each, that is about 5 decisions a case: about 7,500
/// decisions judged per run (each replayed once more on a fresh ledger), in about 10 s in a
/// debug build; the test asserts at least 5,000.
const CASES: u32 = 1500;
const MIN_DECISIONS: usize = 5_000;

#[test]
fn decide_keeps_every_promise_of_the_issue_against_a_brute_force_oracle() {
    let config = Config {
        cases: CASES,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_gen(), |case| run_case(&case));
    if let Err(e) = result {
        panic!("{e}");
    }
    let decisions = DECISIONS.load(Ordering::Relaxed);
    let picks = PICKS.load(Ordering::Relaxed);
    let stops = STOPS.load(Ordering::Relaxed);
    let deferred = DEFERRED.load(Ordering::Relaxed);
    println!(
        "{CASES} cases: {decisions} decisions judged, {picks} picks ({deferred} deferred), \
         {stops} stops justified: {:?}",
        STOP_KINDS.lock().unwrap()
    );
    assert!(
        decisions >= MIN_DECISIONS,
        "only {decisions} decisions judged"
    );
}
