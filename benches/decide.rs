//! `Engine::decide` next to a hand-written flat-array baseline, measured in one run.
//!
//! What is measured (group `decide`):
//!
//! - `cornershop_{N}_offers_{E}_events`: one `Engine::decide` with N = 10, 50 and 500 offers, for
//!   a customer whose running summary folded in E = 20 or 10,000 events (purchases, views and
//!   responses over eight categories, spread over the six months before `now`, fed through
//!   `Engine::observe`). The ledger is a `MemoryLedger` holding three earlier marketing contacts
//!   for the customer, so the caps, the spacing rule and the fatigue count have history to read.
//!   The request is `Request::marketing([Email, Push], 1)` at 10:00 on a weekday, outside quiet
//!   hours; each call is one second after the previous (cycling through 1,000 seconds), since
//!   a real caller never decides twice at the same instant and the ledger remembers the last
//!   instant's local time. Offers come from eight categories, with attribute, bought/viewed-within, segment,
//!   `not` and moment rules, a per-offer cap ("at most once per 30 days") on every offer,
//!   products on some, a birthday offer and a fallback.
//!
//!   `decide` reserves its pick's slot in the ledger, so each iteration then releases it
//!   (`ledger.release(&pick.reservation)`) to keep the ledger the same for every iteration.
//!   **The time per iteration therefore includes one `release`** (one lock, a short scan of the
//!   customer's history) besides the decide itself, and dropping the returned `Decision`.
//! - `cornershop_50_offers_engaged`: the 50-offer decide for the 20-event customer with, besides,
//!   feedback on three offers (a click three days ago, a dislike a month ago, a dismissal five
//!   days ago that rests its offer) and one unsubscribed topic (an offer's own id), as most
//!   real customers have some: those offers are screened in full, the others on their rows
//!   (with the same ledger history and request as above, one `release` included).
//! - `baseline_same_arithmetic_{N}_offers`: the floor issue 3 asks for, "a hand-written
//!   baseline loop doing the same arithmetic on flat arrays": `decide`'s own arithmetic for
//!   this policy and the 20-event customer, written by hand, with everything that is not
//!   arithmetic done beforehand (names resolved to numbers, the events folded into
//!   per-category values, the zone's transitions listed, each offer's rule reduced to a
//!   comparison of numbers). Per call: the local clock, the fatigue count, the decays (`exp`)
//!   and affinities (`ln_1p`), each offer's eligibility, channel and score, the best, and the
//!   best's caps, spacing and quiet hours (checked, not reserved). Before timing, the bench
//!   checks it against the engine's trace at eleven instants, for each policy size: every
//!   score (to 1e-9), every offer screened out, the pick, and now against deferred
//!   (`check_same_arithmetic`; the floor is in `decide/same_arithmetic.rs`).
//! - `baseline_{N}_offers`: the issue's "for scale" floor, by hand on flat arrays with nothing
//!   allocated: one cap check (count the timestamps of a small array that fall in a 7-day
//!   window), then for each offer an eligibility test as comparisons of precomputed numbers, a
//!   16-feature × 16-weight dot product, and top-1 selection. It does less than `decide` (no
//!   clock, decays, logarithms, dates, or caps beyond one), so it is a lower bar.
//!
//! The ratios that matter, each between entries of this one run:
//!
//! - `cornershop_50_offers_20_events` / `baseline_same_arithmetic_50_offers`: goal within 3x;
//!   and, for scale, `cornershop_50_offers_20_events` / `baseline_50_offers`.
//! - `cornershop_N_offers_10000_events` / `cornershop_N_offers_20_events`: goal within 1.2x (the
//!   customer carries a compact running summary, not a history to recompute).
//! - `cornershop_500_offers_*` / `cornershop_50_offers_*` against 10x: cost linear in offers.
//!
//! After criterion's timings, the bench measures the goals' two ratios again, for each policy
//! size, in turns (`common/turns.rs`): decide over the same-arithmetic floor, and the
//! 10,000-event decide over the 20-event one. A batch of one side, then a batch of the other,
//! over and over, so that both sides of each ratio meet the same load on a shared host
//! (criterion times them seconds apart, and on a busy host the ratio of two such medians swings
//! by tens of percent). It prints one `turns:` line per ratio, the median over pairs of turns
//! with its quartiles, and saves them in `target/criterion/turns/decide.json`.
//! `cargo bench --bench decide -- turns` measures the ratios alone.
//!
//! Before the timings it prints one line per setup (what was picked, how many offers were
//! scored), so that the workloads compared can be seen to be alike. Warm-up and measurement
//! default to 1 s and 2 s here; command-line flags override them.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cornershop::{
    Channel, Consent, ContactLedger, Customer, Decision, Engine, Event, FeedbackTarget,
    MemoryLedger, MessageClass, Policy, RecordedContact, Request, Response,
};
use criterion::Criterion;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "decide/same_arithmetic.rs"]
mod same_arithmetic;
#[path = "common/turns.rs"]
mod turns;
use same_arithmetic::SameArithmetic;
use turns::Turns;

const CATEGORIES: [&str; 8] = [
    "coffee", "bakery", "footwear", "books", "garden", "toys", "beauty", "wine",
];

const OFFER_COUNTS: [usize; 3] = [10, 50, 500];
const EVENT_COUNTS: [usize; 2] = [20, 10_000];

/// Caps, spacing and quiet hours a considerate shop would have, and the attributes its offers'
/// rules read. The offers are appended by [`policy_text`].
const POLICY: &str = r#"
    time_zone = "Europe/London"

    [attributes]
    tier = "text"
    age = "number"
    member_since = "date"

    [[caps]]
    name = "two marketing emails a week"
    channel = "email"
    limit = 2
    window = "7d"

    [[caps]]
    name = "one push a day"
    channel = "push"
    limit = 1
    window = "24h"

    [[caps]]
    name = "six marketing contacts a month"
    limit = 6
    window = "calendar month"

    [[spacing]]
    name = "a breather"
    min_gap = "12h"

    [[quiet_hours]]
    name = "night"
    start = "21:00"
    end = "08:00"
"#;

/// Tuesday 10:00 in London (UTC in November).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

/// `n` offers, deterministic, in the policy's TOML.
fn policy_text(n: usize) -> String {
    let mut text = POLICY.to_owned();
    for i in 0..n {
        let category = CATEGORIES[i % CATEGORIES.len()];
        let mut categories = format!("\"{category}\"");
        if i % 3 == 2 {
            let second = CATEGORIES[(i * 3 + 1) % CATEGORIES.len()];
            if second != category {
                categories.push_str(&format!(", \"{second}\""));
            }
        }
        text.push_str(&format!(
            "\n[[offers]]\nid = \"offer-{i:03}\"\ncategories = [{categories}]\nvalue = {}.0\npriority = {}\n",
            5 + (i * 7) % 40,
            (i % 5) as f64 * 0.1,
        ));
        match i % 3 {
            0 => text.push_str("channels = [\"email\"]\n"),
            1 => text.push_str("channels = [\"email\", \"push\"]\n"),
            _ => {}
        }
        if i % 5 == 2 {
            text.push_str(&format!("product = \"{category}-{}\"\n", i % 16));
        }
        text.push_str("cap = { limit = 1, window = \"30d\" }\n");
        let rule = if i % 50 == 7 {
            text.push_str("moment = \"birthday\"\n");
            "{ moment = \"birthday\", within_days = 14 }".to_owned()
        } else {
            match i % 7 {
                0 => String::new(),
                1 => "{ attribute = \"tier\", in = [\"gold\", \"silver\"] }".to_owned(),
                2 => "{ attribute = \"age\", at_least = 18 }".to_owned(),
                3 => format!("{{ bought = \"{category}\", within = \"90d\" }}"),
                4 => "{ segment = \"regular\" }".to_owned(),
                5 => format!(
                    "{{ all = [ {{ attribute = \"age\", at_least = 21 }}, {{ viewed = \"{category}\", within = \"60d\" }} ] }}"
                ),
                _ => "{ any = [ { attribute = \"member_since\", at_most = \"2022-01-01\" }, { not = { segment = \"new\" } } ] }".to_owned(),
            }
        };
        if !rule.is_empty() {
            text.push_str(&format!("eligibility = {rule}\n"));
        }
        if i + 1 == n {
            text.push_str("fallback = true\n");
        }
    }
    text
}

fn engine(offers: usize) -> Engine {
    let policy = Policy::from_toml_str(&policy_text(offers))
        .and_then(|p| p.compile())
        .expect("the bench policy is valid");
    Engine::new(policy)
}

/// A regular: consents on email and push, attributes, a segment, preferences, a birthday soon,
/// and `events` events observed over the six months before `now`.
fn customer(engine: &Engine, id: u64, events: usize) -> Customer {
    let mut who = Customer::new(id)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_consent(Channel::Push, Consent::OptedIn)
        .with_attribute("tier", "gold")
        .with_attribute("age", 34i64)
        .with_attribute(
            "member_since",
            NaiveDate::from_ymd_opt(2019, 3, 2).expect("a real date"),
        )
        .with_segment("regular")
        .with_preferred_channel(Channel::Push)
        .with_favourite_category("coffee")
        .with_never_category("toys")
        .with_birthday(11, 28);
    for event in history(events) {
        engine.observe(&mut who, &event).expect("a valid event");
    }
    who
}

/// The regular's `events` events, oldest first, evenly spread over the six months before
/// `now`, the newest an hour before it: views, purchases (of one of 16 products per
/// category) and responses on email and push.
fn history(events: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(0x5EED ^ events as u64);
    let span = Duration::days(180).num_seconds();
    (0..events)
        .map(|k| {
            let at = now()
                - Duration::hours(1)
                - Duration::seconds(span * (events - 1 - k) as i64 / events as i64);
            let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())].to_owned();
            let roll = rng.random_range(0..100);
            if roll < 55 {
                Event::View { at, category }
            } else if roll < 80 {
                let product = Some(format!("{category}-{}", rng.random_range(0..16)));
                Event::Purchase {
                    at,
                    category,
                    product,
                    amount: f64::from(rng.random_range(3..120u32)),
                }
            } else {
                let response = match rng.random_range(0..10) {
                    0..=2 => Response::Opened,
                    3..=7 => Response::Ignored,
                    _ => Response::Clicked,
                };
                let channel = if roll % 2 == 0 {
                    Channel::Email
                } else {
                    Channel::Push
                };
                Event::Response {
                    at,
                    channel,
                    offer: None,
                    response,
                }
            }
        })
        .collect()
}

/// The 20-event regular (`customer`) with feedback on three of the policy's `offers` (a click,
/// a dislike a month ago, a dismissal five days ago), an ignored email on a fourth, and the
/// topic of a fifth unsubscribed.
fn engaged(engine: &Engine, id: u64, offers: usize) -> Customer {
    let name = |i: usize| format!("offer-{:03}", i % offers);
    let mut who = customer(engine, id, 20).with_unsubscribed_topic(name(12));
    let ago = |days| now() - Duration::days(days);
    let dislike = |i, days| Event::Feedback {
        at: ago(days),
        target: FeedbackTarget::Offer(name(i)),
        positive: false,
    };
    let respond = |i, days, response| Event::Response {
        at: ago(days),
        channel: Channel::Email,
        offer: Some(name(i)),
        response,
    };
    for event in [
        respond(8, 3, Response::Clicked),
        dislike(2, 30),
        dislike(4, 5),
        respond(30, 2, Response::Ignored),
    ] {
        engine.observe(&mut who, &event).expect("a valid event");
    }
    who
}

/// Three earlier marketing contacts for `who`, well within every cap.
fn ledger_with_history(engine: &Engine, customers: &[u64]) -> MemoryLedger {
    let ledger = MemoryLedger::new();
    for &id in customers {
        for (days_ago, channel, topic) in [
            (3, Channel::Email, "newsletter"),
            (6, Channel::Push, "offer-000"),
            (20, Channel::Email, "offer-001"),
        ] {
            let key = format!("past-{days_ago}");
            let contact = RecordedContact {
                at: now() - Duration::days(days_ago),
                channel,
                class: MessageClass::Marketing,
                topic: Some(topic),
                key: &key,
            };
            ledger
                .record(engine.policy(), id.into(), contact)
                .expect("a valid import");
        }
    }
    ledger
}

/// The flat-array floor: everything precomputed, nothing allocated.
struct Baseline {
    /// Past contact times (seconds), for one cap.
    contacts: [i64; 8],
    /// The customer's numeric attributes.
    attributes: [f64; 4],
    /// The customer's last purchase per category (seconds).
    last_purchase: [i64; 8],
    weights: [f64; 16],
    /// 16 features per offer, offer after offer.
    features: Vec<f64>,
    /// Per offer: which attribute its rule reads, the minimum, its category, how recent.
    rule_attribute: Vec<usize>,
    rule_minimum: Vec<f64>,
    rule_category: Vec<usize>,
    rule_within: Vec<i64>,
}

impl Baseline {
    fn new(offers: usize) -> Baseline {
        let mut rng = StdRng::seed_from_u64(0xBA5E);
        let now = now().timestamp();
        let day = 86_400;
        Baseline {
            // One in the last 7 days: the cap (2 a week) lets the decision through.
            contacts: [3, 9, 20, 40, 60, 90, 120, 150].map(|d| now - d * day),
            attributes: [34.0, 2.0, 7.0, 1.0],
            last_purchase: std::array::from_fn(|c| now - (5 + 20 * c as i64) * day),
            weights: std::array::from_fn(|_| rng.random_range(-1.0..1.0)),
            features: (0..offers * 16)
                .map(|_| rng.random_range(0.0..10.0))
                .collect(),
            rule_attribute: (0..offers).map(|i| i % 4).collect(),
            // A quarter fail the attribute test and some the recency test: about a third are
            // screened out, as in the policy above.
            rule_minimum: (0..offers)
                .map(|i| if i % 4 == 0 { 100.0 } else { 0.0 })
                .collect(),
            rule_category: (0..offers).map(|i| i % 8).collect(),
            rule_within: (0..offers)
                .map(|i| (90 + 60 * (i % 3) as i64) * day)
                .collect(),
        }
    }

    /// One cap check, then eligibility, score and top-1 over the offers.
    fn decide(&self, now: i64) -> Option<(usize, f64)> {
        let since = now - 7 * 86_400;
        let recent = self
            .contacts
            .iter()
            .filter(|&&at| at > since && at <= now)
            .count();
        if recent >= 2 {
            return None;
        }
        let mut best: Option<(usize, f64)> = None;
        for (i, features) in self.features.chunks_exact(16).enumerate() {
            let eligible = self.attributes[self.rule_attribute[i]] >= self.rule_minimum[i]
                && now - self.last_purchase[self.rule_category[i]] <= self.rule_within[i];
            if !eligible {
                continue;
            }
            let mut score = 0.0;
            for (feature, weight) in features.iter().zip(&self.weights) {
                score += feature * weight;
            }
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((i, score));
            }
        }
        best
    }
}

/// One policy size: its engine, its ledger and the customers, each with the end of its bench
/// entry's name (`20_events`, `10000_events`, `engaged`).
struct Setup {
    offers: usize,
    engine: Engine,
    ledger: MemoryLedger,
    customers: Vec<(String, Customer)>,
}

fn setups(request: &Request) -> Vec<Setup> {
    OFFER_COUNTS
        .into_iter()
        .map(|offers| {
            let engine = engine(offers);
            // One id more than the event counts: the engaged customer's.
            let ids: Vec<u64> = (1..=EVENT_COUNTS.len() as u64 + 1).collect();
            let ledger = ledger_with_history(&engine, &ids);
            let mut customers: Vec<(String, Customer)> = ids
                .iter()
                .zip(EVENT_COUNTS)
                .map(|(&id, events)| (format!("{events}_events"), customer(&engine, id, events)))
                .collect();
            if offers == 50 {
                let id = ids[EVENT_COUNTS.len()];
                customers.push(("engaged".to_owned(), engaged(&engine, id, offers)));
            }
            for (label, who) in &customers {
                let decision = engine
                    .decide(who, &ledger, request, now())
                    .expect("valid input");
                let scored = decision.trace.iter().filter(|c| c.score.is_some()).count();
                println!(
                    "setup: {offers} offers, {label}: picked {:?}, {scored} of {offers} offers scored",
                    decision.picked_offers().collect::<Vec<_>>()
                );
                for pick in &decision.picks {
                    ledger.release(&pick.reservation).expect("held");
                }
            }
            Setup {
                offers,
                engine,
                ledger,
                customers,
            }
        })
        .collect()
}

/// Checks that the hand-written floor does the engine's arithmetic, for the 20-event regular:
/// at instants that move the clock through quiet hours (evening and early morning), past the
/// birthday and up to 20 days before the next, through the rules' 60- and 90-day windows and a
/// month's end, and into summer time (the caps and spacing rule never bind at these instants:
/// the ledger's contacts are days old), every regular offer the engine scores the floor scores the same (to 1e-9), every
/// offer it screens out the floor screens out, the floor's pick is the engine's with its score,
/// and the floor says the pick may go now exactly when the engine sends it now (rather than
/// deferring it past quiet hours).
fn check_same_arithmetic(same: &SameArithmetic, setup: &Setup, request: &Request) {
    let (label, who) = &setup.customers[0];
    assert_eq!(label, "20_events");
    let minutes = |days: i64, hours: i64, minutes: i64| (days * 24 + hours) * 60 + minutes;
    let mut screened_out = 0;
    let mut deferred = 0;
    for offset in [
        minutes(0, 0, 0),
        minutes(0, 0, 7),
        minutes(0, 10, 0),
        minutes(0, 11, 30),
        minutes(0, 21, 59),
        minutes(5, 0, 0),
        minutes(35, 0, 0),
        minutes(65, 3, 0),
        minutes(95, 0, 0),
        minutes(200, 0, 0),
        // 20 days before the next birthday: outside the birthday offer's 14.
        minutes(345, 0, 0),
    ] {
        let at = now() + Duration::minutes(offset);
        let decision = setup
            .engine
            .decide(who, &setup.ledger, request, at)
            .expect("valid input");
        for pick in &decision.picks {
            setup.ledger.release(&pick.reservation).expect("held");
        }
        let context = format!("{} offers at {at}", setup.offers);
        let mut floor_scores = vec![None; setup.offers];
        let judged = same.judge(at.timestamp(), &mut |index, total| {
            floor_scores[index] = Some(total)
        });
        // The last offer is the fallback, scored by the floor only when nothing else is.
        for (index, candidate) in decision.trace.iter().take(setup.offers - 1).enumerate() {
            let engine = candidate.score.as_ref().map(|score| score.total);
            match (engine, floor_scores[index]) {
                (Some(x), Some(y)) => assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                    "{context}: {} scores {x} by the engine, {y} by the floor",
                    candidate.offer
                ),
                (None, None) => screened_out += 1,
                (x, y) => panic!(
                    "{context}: {} scored {x:?} by the engine, {y:?} by the floor",
                    candidate.offer
                ),
            }
        }
        let pick = decision.picks.first().expect("the engine picks an offer");
        let (index, total, now_allowed) = judged.expect("the floor picks an offer");
        let picked = pick.offer.as_deref().unwrap_or_default();
        assert_eq!(picked, format!("offer-{index:03}"), "{context}");
        assert!(
            (pick.score - total).abs() <= 1e-9 * total.abs().max(1.0),
            "{context}"
        );
        assert_eq!(
            now_allowed,
            pick.send_at == at,
            "{context}: {picked} now or later"
        );
        deferred += usize::from(!now_allowed);
    }
    // Not vacuous: some offers were screened out and some picks held past quiet hours.
    assert!(
        screened_out > 0 && deferred > 0,
        "{screened_out} {deferred}"
    );
}

/// What the timings share: the policies with their customers and ledgers, the instants of the
/// calls, and each policy size's floors.
struct Fixtures {
    request: Request,
    now: DateTime<Utc>,
    setups: Vec<Setup>,
    /// Each call at the next of 1,000 distinct seconds from 10:00 (nothing the policy judges
    /// changes within them): a real caller never asks twice about the same instant, and the
    /// ledger remembers the last instant's local time. The same-arithmetic floor takes the
    /// same instants.
    instants: Vec<DateTime<Utc>>,
    seconds: Vec<i64>,
    /// By policy size, as in `setups`: the "for scale" floor and the same-arithmetic one
    /// (checked against the engine).
    floors: Vec<(Baseline, SameArithmetic)>,
}

impl Fixtures {
    fn new() -> Fixtures {
        let request = Request::marketing([Channel::Email, Channel::Push], 1);
        let now = now();
        let setups = setups(&request);
        let instants: Vec<DateTime<Utc>> = (0..1_000).map(|s| now + Duration::seconds(s)).collect();
        let seconds = instants.iter().map(DateTime::timestamp).collect();
        let floors = setups
            .iter()
            .map(|setup| {
                let baseline = Baseline::new(setup.offers);
                assert!(
                    baseline.decide(now.timestamp()).is_some(),
                    "the baseline passes its cap check and picks an offer"
                );
                let same = SameArithmetic::new(setup.offers, &history(EVENT_COUNTS[0]));
                check_same_arithmetic(&same, setup, &request);
                (baseline, same)
            })
            .collect();
        Fixtures {
            request,
            now,
            setups,
            instants,
            seconds,
            floors,
        }
    }

    /// One decide for `who` at the instant after the `next`th (moved on), its pick released.
    fn decide(&self, setup: &Setup, who: &Customer, next: &mut usize) -> Decision {
        *next = (*next + 1) % self.instants.len();
        let decision = setup
            .engine
            .decide(
                black_box(who),
                &setup.ledger,
                &self.request,
                self.instants[*next],
            )
            .expect("valid input");
        for pick in &decision.picks {
            setup.ledger.release(&pick.reservation).expect("held");
        }
        decision
    }

    /// One call of the same-arithmetic floor at the instant after the `next`th (moved on).
    fn same_arithmetic(&self, same: &SameArithmetic, next: &mut usize) -> Option<(usize, f64)> {
        *next = (*next + 1) % self.seconds.len();
        black_box(same).decide(black_box(self.seconds[*next]))
    }
}

fn decide(c: &mut Criterion, fixtures: &Fixtures) {
    let mut group = c.benchmark_group("decide");
    for (setup, (baseline, same)) in fixtures.setups.iter().zip(&fixtures.floors) {
        let offers = setup.offers;
        let now = fixtures.now;
        group.bench_function(format!("baseline_{offers}_offers"), |b| {
            b.iter(|| black_box(baseline).decide(black_box(now.timestamp())))
        });
        let mut next = 0;
        group.bench_function(format!("baseline_same_arithmetic_{offers}_offers"), |b| {
            b.iter(|| fixtures.same_arithmetic(same, &mut next))
        });
        for (label, who) in &setup.customers {
            let mut next = 0;
            group.bench_function(format!("cornershop_{offers}_offers_{label}"), |b| {
                b.iter(|| fixtures.decide(setup, who, &mut next))
            });
        }
    }
    group.finish();
}

/// The goals' ratios measured in turns (`common/turns.rs`): for each policy size, the
/// 20-event decide over the same-arithmetic floor, and the 10,000-event decide over the
/// 20-event one.
fn ratios(turns: &mut Turns, fixtures: &Fixtures) {
    for (setup, (_, same)) in fixtures.setups.iter().zip(&fixtures.floors) {
        let offers = setup.offers;
        let customer = |label: &str| {
            let found = setup.customers.iter().find(|(name, _)| name == label);
            &found.expect("every policy size has both customers").1
        };
        let (regular, long) = (customer("20_events"), customer("10000_events"));
        let (mut next_top, mut next_bottom) = (0, 0);
        turns.ratio(
            &format!("decide/cornershop_{offers}_offers_20_events"),
            &format!("decide/baseline_same_arithmetic_{offers}_offers"),
            || drop(black_box(fixtures.decide(setup, regular, &mut next_top))),
            || {
                black_box(fixtures.same_arithmetic(same, &mut next_bottom));
            },
        );
        let (mut next_top, mut next_bottom) = (0, 0);
        turns.ratio(
            &format!("decide/cornershop_{offers}_offers_10000_events"),
            &format!("decide/cornershop_{offers}_offers_20_events"),
            || drop(black_box(fixtures.decide(setup, long, &mut next_top))),
            || drop(black_box(fixtures.decide(setup, regular, &mut next_bottom))),
        );
    }
}

fn main() {
    let fixtures = Fixtures::new();
    let mut criterion = Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(2))
        .configure_from_args();
    decide(&mut criterion, &fixtures);
    criterion.final_summary();
    let mut turns = Turns::from_args("decide");
    ratios(&mut turns, &fixtures);
    turns.save();
}
