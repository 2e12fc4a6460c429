//! Corner-shop scenarios for `Engine::decide` (issue #3), written from the issue text, the README
//! ("Personalization: `Engine::decide`") and the public docs of `Engine`, `Request`, `Decision`,
//! `Stop`, `Score`, `Customer`, `Event` and the policy's `[[offers]]` format.
//!
//! Expected values come from those documents only: the score formula of the `score` module docs
//! (default weights in the README), the order of checks and the meaning of each `Stop`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cornershop::{
    Candidate, Channel, Consent, ContactLedger, Customer, CustomerId, Decision, Engine, Error,
    Event, Features, FeedbackTarget, InputError, MemoryLedger, MessageClass, Policy, Reason,
    RecordedContact, Request, Response, Score, Scorer, Stop, Trace, Verdict,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// 2026-11-24 10:00 UTC, a Tuesday morning.
fn now() -> DateTime<Utc> {
    at(2026, 11, 24, 10, 0)
}

fn make_engine(toml: &str) -> Result<Engine, Box<dyn std::error::Error>> {
    Ok(Engine::new(Policy::from_toml_str(toml)?.compile()?))
}

fn emailable(id: u64) -> Customer {
    Customer::new(id).with_consent(Channel::Email, Consent::OptedIn)
}

fn email(picks: usize) -> Request {
    Request::marketing([Channel::Email], picks)
}

fn purchase(at: DateTime<Utc>, category: &str, amount: f64) -> Event {
    Event::Purchase {
        at,
        category: category.into(),
        product: None,
        amount,
    }
}

fn stop_of(decision: &Decision, offer: &str) -> Option<Stop> {
    decision
        .candidate(offer)
        .unwrap_or_else(|| panic!("{offer} is missing from the trace:\n{decision}"))
        .stop
}

fn score_of(decision: &Decision, offer: &str) -> Score {
    decision
        .candidate(offer)
        .and_then(|c| c.score)
        .unwrap_or_else(|| panic!("{offer} has no score:\n{decision}"))
}

fn contribution(score: &Score, name: &str) -> Option<f64> {
    score
        .contributions
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.value)
}

fn picked(decision: &Decision) -> Vec<&str> {
    decision.picked_offers().collect()
}

fn trace_ids(decision: &Decision) -> Vec<&str> {
    decision.trace.offers().collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Checks that hold for every marketing decision: the trace has each offer once, in policy
/// order; a candidate is picked exactly when it has no stop; each pick's score is its
/// candidate's; each score's total is the sum of its parts.
fn assert_consistent(decision: &Decision, offers: &[&str]) {
    assert_eq!(trace_ids(decision), offers, "trace order:\n{decision}");
    let mut unstopped: Vec<&str> = decision
        .trace
        .offers()
        .zip(&decision.trace)
        .filter(|(_, c)| c.stop.is_none())
        .map(|(offer, _)| offer)
        .collect();
    let mut picks = picked(decision);
    unstopped.sort_unstable();
    picks.sort_unstable();
    assert_eq!(unstopped, picks, "picked <=> no stop:\n{decision}");
    for pick in &decision.picks {
        let offer = pick
            .offer
            .as_deref()
            .expect("a marketing pick names its offer");
        let score = score_of(decision, offer);
        assert!(close(pick.score, score.total), "{offer}: pick score");
        assert_eq!(pick.reservation.send_at(), pick.send_at);
        assert_eq!(pick.reservation.channel(), pick.channel);
        assert_eq!(pick.reservation.class(), MessageClass::Marketing);
        assert_eq!(pick.reservation.customer(), decision.customer);
    }
    for c in &decision.trace {
        if let Some(score) = &c.score {
            let sum: f64 = score.contributions.iter().map(|p| p.value).sum();
            assert!(close(sum, score.total), "{}: {score}", c.offer);
            assert!(score.contributions.iter().all(|p| p.value != 0.0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) A loyal customer near their birthday gets the birthday offer.
// ---------------------------------------------------------------------------------------------

const BAKERY: &str = r#"
    [[offers]]
    id = "bread-of-the-week"
    categories = ["bakery"]
    value = 10.0

    [[offers]]
    id = "birthday-cake"
    categories = ["bakery"]
    value = 10.0
    moment = "birthday"
    eligibility = { moment = "birthday", within_days = 7 }

    [[offers]]
    id = "garden-hose"
    categories = ["garden"]
    value = 20.0
"#;

const BAKERY_OFFERS: [&str; 3] = ["bread-of-the-week", "birthday-cake", "garden-hose"];

fn loyal_baker(engine: &Engine, id: u64, month: u32, day: u32) -> Customer {
    let mut customer = emailable(id)
        .with_time_zone(chrono_tz::Europe::London)
        .with_birthday(month, day);
    for week in 1..=12 {
        let event = purchase(now() - Duration::days(7 * week), "bakery", 6.5);
        engine.observe(&mut customer, &event).unwrap();
    }
    customer
}

#[test]
fn a_loyal_customer_near_their_birthday_gets_the_birthday_offer() -> TestResult {
    let engine = make_engine(BAKERY)?;
    let ledger = MemoryLedger::new();
    // Birthday on November 27th: three days from 2026-11-24.
    let regular = loyal_baker(&engine, 1, 11, 27);
    assert_eq!(regular.profile.summary.event_count(), 12);
    assert!(close(regular.profile.summary.lifetime_value(), 12.0 * 6.5));

    let decision = engine.decide(&regular, &ledger, &email(1), now())?;
    assert_consistent(&decision, &BAKERY_OFFERS);
    assert_eq!(picked(&decision), ["birthday-cake"], "{decision}");
    let pick = &decision.picks[0];
    assert_eq!(pick.channel, Channel::Email);
    assert_eq!(pick.send_at, now());
    assert_eq!(*pick.categories, ["bakery"]);

    // The moment boost: 3.0 · (1 − 3 / (7 + 1)).
    let cake = score_of(&decision, "birthday-cake");
    let moment = contribution(&cake, "moment").expect("a moment contribution");
    assert!(close(moment, 3.0 * (1.0 - 3.0 / 8.0)), "{cake}");
    // Loyalty shows as category affinity, the same for both bakery offers.
    let bread = score_of(&decision, "bread-of-the-week");
    let affinity = contribution(&cake, "affinity").expect("an affinity contribution");
    assert!(affinity > 1.0, "{cake}");
    assert_eq!(contribution(&bread, "affinity"), Some(affinity));
    assert_eq!(contribution(&bread, "moment"), None);
    assert!(cake.total > bread.total);
    // The other bakery offer lost to the cake within its category; the hose was outscored.
    // With one pick, the bread lost to the cake: in its category, or for the only slot.
    let lost = stop_of(&decision, "bread-of-the-week");
    assert!(
        matches!(&lost, Some(Stop::SameCategory { category, by }) if &**category == "bakery" && &**by == "birthday-cake")
            || lost
                == Some(Stop::Outscored {
                    by: "birthday-cake".into()
                }),
        "{decision}"
    );
    assert_eq!(
        stop_of(&decision, "garden-hose"),
        Some(Stop::Outscored {
            by: "birthday-cake".into()
        })
    );

    // With two picks, the cake and the hose: the bread is held back by diversity.
    let decision = engine.decide(&regular, &ledger, &email(2), now())?;
    assert_consistent(&decision, &BAKERY_OFFERS);
    assert_eq!(
        picked(&decision),
        ["birthday-cake", "garden-hose"],
        "{decision}"
    );
    assert_eq!(
        stop_of(&decision, "bread-of-the-week"),
        Some(Stop::SameCategory {
            category: "bakery".into(),
            by: "birthday-cake".into()
        })
    );
    Ok(())
}

#[test]
fn on_the_birthday_itself_the_boost_is_whole_and_far_from_it_the_offer_is_ineligible() -> TestResult
{
    let engine = make_engine(BAKERY)?;
    let ledger = MemoryLedger::new();

    let today = loyal_baker(&engine, 2, 11, 24);
    let decision = engine.decide(&today, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["birthday-cake"]);
    let moment = contribution(&score_of(&decision, "birthday-cake"), "moment");
    assert!(close(moment.unwrap(), 3.0));

    // Exactly 7 days away is still within_days = 7.
    let in_a_week = loyal_baker(&engine, 3, 12, 1);
    let decision = engine.decide(&in_a_week, &ledger, &email(1), now())?;
    assert_eq!(stop_of(&decision, "birthday-cake"), None, "{decision}");

    // Eight days away: not eligible, and the trace names the rule.
    let next_week = loyal_baker(&engine, 4, 12, 2);
    let decision = engine.decide(&next_week, &ledger, &email(1), now())?;
    assert_consistent(&decision, &BAKERY_OFFERS);
    assert_eq!(picked(&decision), ["bread-of-the-week"]);
    match stop_of(&decision, "birthday-cake") {
        Some(Stop::Ineligible { rule }) => assert_eq!(&*rule.path, "offers[1].eligibility"),
        other => panic!("expected Ineligible, got {other:?}\n{decision}"),
    }

    // The day was yesterday: the next one is a year away.
    let yesterday = loyal_baker(&engine, 5, 11, 23);
    let decision = engine.decide(&yesterday, &ledger, &email(1), now())?;
    assert!(matches!(
        stop_of(&decision, "birthday-cake"),
        Some(Stop::Ineligible { .. })
    ));

    // Without a birthday on file the rule cannot hold.
    let mut unknown = emailable(6);
    engine.observe(&mut unknown, &purchase(now(), "bakery", 3.0))?;
    let decision = engine.decide(&unknown, &ledger, &email(1), now())?;
    assert!(matches!(
        stop_of(&decision, "birthday-cake"),
        Some(Stop::Ineligible { .. })
    ));
    Ok(())
}

#[test]
fn the_birthday_is_counted_in_the_customers_own_time_zone() -> TestResult {
    let engine = make_engine(BAKERY)?;
    let ledger = MemoryLedger::new();
    // 2026-11-24 20:00 UTC is already November 25th in Auckland (UTC+13): a birthday on
    // December 2nd is then 7 days away there, but 8 days away in London.
    let evening = at(2026, 11, 24, 20, 0);
    let auckland = emailable(7)
        .with_time_zone(chrono_tz::Pacific::Auckland)
        .with_birthday(12, 2);
    let london = emailable(8)
        .with_time_zone(chrono_tz::Europe::London)
        .with_birthday(12, 2);
    let decision = engine.decide(&auckland, &ledger, &email(1), evening)?;
    assert_eq!(stop_of(&decision, "birthday-cake"), None, "{decision}");
    let moment = contribution(&score_of(&decision, "birthday-cake"), "moment");
    assert!(close(moment.unwrap(), 3.0 * (1.0 - 7.0 / 8.0)));
    let decision = engine.decide(&london, &ledger, &email(1), evening)?;
    assert!(
        matches!(
            stop_of(&decision, "birthday-cake"),
            Some(Stop::Ineligible { .. })
        ),
        "{decision}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The score formula (module docs of `cornershop::score`, default weights from the README).
// ---------------------------------------------------------------------------------------------

#[test]
fn the_score_is_the_documented_sum_of_named_contributions() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "coffee-club"
        categories = ["coffee"]
        value = 10.0
        priority = 0.5
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let mut ada = emailable(9)
        .with_favourite_category("coffee")
        .with_preferred_channel(Channel::Email);
    // Four purchases and four views one half-life (30 days) ago: each counts a half.
    for _ in 0..4 {
        engine.observe(
            &mut ada,
            &purchase(now() - Duration::days(30), "coffee", 5.0),
        )?;
        let view = Event::View {
            at: now() - Duration::days(30),
            category: "coffee".into(),
        };
        engine.observe(&mut ada, &view)?;
    }
    let decision = engine.decide(&ada, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["coffee-club"]);
    let score = score_of(&decision, "coffee-club");
    let expected = [
        ("affinity", (1.0f64 + 1.0 * 2.0 + 0.25 * 2.0).ln()),
        ("favourite category", 0.5),
        ("value", 0.02 * 10.0),
        ("priority", 1.0 * 0.5),
        ("preferred channel", 0.3),
    ];
    for (name, value) in expected {
        let got = contribution(&score, name).unwrap_or_else(|| panic!("no {name}: {score}"));
        assert!(close(got, value), "{name}: {got} != {value} in {score}");
    }
    let total: f64 = expected.iter().map(|(_, v)| v).sum();
    assert!(close(score.total, total), "{score}");
    assert_eq!(score.contributions.len(), expected.len(), "{score}");
    // Zero contributions are left out: no moment, fatigue, ignored or negative feedback here.
    for absent in ["moment", "fatigue", "ignored", "negative feedback"] {
        assert_eq!(contribution(&score, absent), None, "{score}");
    }
    Ok(())
}

#[test]
fn negative_feedback_on_a_category_lowers_the_score_and_recent_contacts_add_fatigue() -> TestResult
{
    let engine = make_engine(
        r#"
        [[offers]]
        id = "tea-tin"
        categories = ["tea"]
        value = 10.0
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let plain = emailable(10);
    let mut grumpy = emailable(11);
    let dislike = Event::Feedback {
        at: now(),
        target: FeedbackTarget::Category("tea".into()),
        positive: false,
    };
    engine.observe(&mut grumpy, &dislike)?;
    let base = score_of(
        &engine.decide(&plain, &ledger, &email(1), now())?,
        "tea-tin",
    );
    let low = score_of(
        &engine.decide(&grumpy, &ledger, &email(1), now())?,
        "tea-tin",
    );
    let penalty = contribution(&low, "negative feedback").expect("a negative feedback part");
    assert!(close(penalty, -1.0), "{low}");
    assert!(close(low.total, base.total - 1.0));

    // Two marketing contacts in the last 7 days: fatigue 2 · 0.15.
    let tired = emailable(12);
    for days in [2, 1] {
        let d = engine.decide(&tired, &ledger, &email(1), now() - Duration::days(days))?;
        ledger.commit(&d.picks[0].reservation)?;
    }
    let score = score_of(
        &engine.decide(&tired, &ledger, &email(1), now())?,
        "tea-tin",
    );
    assert!(
        close(contribution(&score, "fatigue").unwrap(), -0.3),
        "{score}"
    );
    assert!(close(score.total, base.total - 0.3));
    Ok(())
}

#[test]
fn a_plugged_in_scorer_decides_and_its_contributions_show_in_the_trace() -> TestResult {
    struct Cheapest;
    impl Scorer for Cheapest {
        fn score(&self, features: &Features<'_>, score: &mut Score) {
            score.add("cheapness", 100.0 - features.value);
        }
    }
    let policy = Policy::from_toml_str(
        r#"
        [[offers]]
        id = "big"
        categories = ["a"]
        value = 50.0

        [[offers]]
        id = "small"
        categories = ["b"]
        value = 5.0
        "#,
    )?
    .compile()?;
    let engine = Engine::with_scorer(policy, Cheapest);
    let decision = engine.decide(&emailable(13), &MemoryLedger::new(), &email(1), now())?;
    assert_consistent(&decision, &["big", "small"]);
    assert_eq!(picked(&decision), ["small"]);
    let score = score_of(&decision, "small");
    assert_eq!(score.contributions.len(), 1);
    assert_eq!(score.contributions[0].name, "cheapness");
    assert!(close(score.total, 95.0));
    assert!(format!("{decision}").contains("cheapness"), "{decision}");
    Ok(())
}

#[test]
fn a_plugged_in_scorers_nan_or_infinite_output_neither_wins_nor_breaks_the_log() -> TestResult {
    struct Broken;
    impl Scorer for Broken {
        fn score(&self, features: &Features<'_>, score: &mut Score) {
            score.add("base", features.value);
            match features.offer {
                // A total set by hand to NaN, and a part pushed by hand that is infinite.
                "nan" => score.total = f64::NAN,
                "infinite" => score.contributions.push(cornershop::Contribution {
                    name: "overflow".into(),
                    value: f64::INFINITY,
                }),
                // Parts each finite whose sum overflows.
                "huge" => {
                    score.add("big", f64::MAX);
                    score.add("bigger", f64::MAX);
                }
                _ => {}
            }
        }
    }
    let policy = Policy::from_toml_str(
        r#"
        [[offers]]
        id = "nan"
        categories = ["a"]
        value = 50.0

        [[offers]]
        id = "infinite"
        categories = ["b"]
        value = 40.0

        [[offers]]
        id = "plain"
        categories = ["c"]
        value = 45.0

        [[offers]]
        id = "huge"
        categories = ["d"]
        value = 1.0
        "#,
    )?
    .compile()?;
    let engine = Engine::with_scorer(policy, Broken);
    let decision = engine.decide(&emailable(14), &MemoryLedger::new(), &email(3), now())?;
    // (Not `assert_consistent`: "huge"'s parts sum to infinity, its total is held finite.)
    assert_eq!(trace_ids(&decision), ["nan", "infinite", "plain", "huge"]);
    // Finite parts whose sum overflows: the largest finite total.
    assert_eq!(score_of(&decision, "huge").total, f64::MAX);
    // NaN's total is the sum of its parts (50), the infinite part is left out (40).
    assert!(close(score_of(&decision, "nan").total, 50.0));
    let infinite = score_of(&decision, "infinite");
    assert!(close(infinite.total, 40.0));
    assert!(infinite.contributions.iter().all(|c| c.value.is_finite()));
    assert_eq!(picked(&decision), ["huge", "nan", "plain"], "{decision}");
    let json = serde_json::to_string(&decision)?;
    let back: Decision = serde_json::from_str(&json)?;
    assert_eq!(back, decision);
    Ok(())
}

/// A ledger whose `n`-th reserve fails, as a remote one can; everything else is a
/// `MemoryLedger`'s.
struct FailingNthReserve {
    inner: MemoryLedger,
    reserves: std::sync::atomic::AtomicUsize,
    fail_at: usize,
}

impl ContactLedger for FailingNthReserve {
    fn check(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: &Customer,
        attempt: cornershop::Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verdict, Error> {
        self.inner.check(policy, customer, attempt, now)
    }

    fn reserve(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: &Customer,
        attempt: cornershop::Attempt<'_>,
        if_blocked: cornershop::IfBlocked,
        now: DateTime<Utc>,
    ) -> Result<cornershop::Outcome, Error> {
        let n = 1 + self
            .reserves
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == self.fail_at {
            return Err(cornershop::LedgerError::Backend("connection reset".into()).into());
        }
        self.inner
            .reserve(policy, customer, attempt, if_blocked, now)
    }

    fn commit(&self, reservation: &cornershop::Reservation) -> Result<bool, Error> {
        self.inner.commit(reservation)
    }

    fn release(&self, reservation: &cornershop::Reservation) -> Result<bool, Error> {
        self.inner.release(reservation)
    }

    fn record(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: CustomerId,
        contact: RecordedContact<'_>,
    ) -> Result<bool, Error> {
        self.inner.record(policy, customer, contact)
    }

    fn forget(&self, customer: CustomerId) -> Result<bool, Error> {
        self.inner.forget(customer)
    }

    fn contacts_between(
        &self,
        customer: CustomerId,
        class: MessageClass,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, Error> {
        self.inner.contacts_between(customer, class, since, now)
    }
}

#[test]
fn a_ledger_failing_partway_through_a_decide_leaves_no_pick_reserved() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "coffee"
        categories = ["coffee"]
        value = 30.0

        [[offers]]
        id = "bread"
        categories = ["bakery"]
        value = 20.0
        "#,
    )?;
    let ledger = FailingNthReserve {
        inner: MemoryLedger::new(),
        reserves: Default::default(),
        fail_at: 2,
    };
    let result = engine.decide(&emailable(15), &ledger, &email(2), now());
    assert!(
        matches!(
            result,
            Err(Error::Ledger(cornershop::LedgerError::Backend(_)))
        ),
        "{result:?}"
    );
    // The first pick was reserved, then given back when the second reserve failed.
    let held = ledger.contacts_between(
        CustomerId(15),
        MessageClass::Marketing,
        now() - Duration::hours(1),
        now() + Duration::hours(1),
    )?;
    assert_eq!(held, 0);
    // With a working ledger the same request picks both.
    let working = engine.decide(&emailable(15), &ledger.inner, &email(2), now())?;
    assert_eq!(working.picks.len(), 2, "{working}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (b) A customer who complained gets nothing until it is resolved.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_customer_with_an_open_complaint_gets_nothing_until_it_is_resolved() -> TestResult {
    let engine = make_engine(BAKERY)?;
    let ledger = MemoryLedger::new();
    let mut bea = loyal_baker(&engine, 20, 11, 26).with_note("called about a burnt loaf");
    let opened = |id: &str, days: i64| Event::ComplaintOpened {
        at: now() - Duration::days(days),
        id: id.into(),
    };
    let resolved = |id: &str, days: i64| Event::ComplaintResolved {
        at: now() - Duration::days(days),
        id: id.into(),
    };
    engine.observe(&mut bea, &opened("C-1", 5))?;
    engine.observe(&mut bea, &opened("C-2", 4))?;
    assert!(bea.profile.summary.has_open_complaint());

    let decision = engine.decide(&bea, &ledger, &email(3), now())?;
    assert_consistent(&decision, &BAKERY_OFFERS);
    assert!(decision.picks.is_empty(), "{decision}");
    for candidate in &decision.trace {
        assert_eq!(candidate.stop, Some(Stop::OpenComplaint), "{decision}");
    }
    let mut open = decision.open_complaints.clone();
    open.sort();
    assert_eq!(open, ["C-1", "C-2"]);
    assert_eq!(decision.notes, ["called about a burnt loaf"]);
    let text = decision.to_string();
    assert!(text.contains("complaint"), "{text}");

    // One of two resolved: still nothing.
    engine.observe(&mut bea, &resolved("C-1", 2))?;
    let decision = engine.decide(&bea, &ledger, &email(3), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    assert_eq!(decision.open_complaints, ["C-2"]);
    assert!(decision
        .trace
        .iter()
        .all(|c| c.stop == Some(Stop::OpenComplaint)));

    // Both resolved: the shop may talk to her again.
    engine.observe(&mut bea, &resolved("C-2", 1))?;
    assert!(!bea.profile.summary.has_open_complaint());
    let decision = engine.decide(&bea, &ledger, &email(3), now())?;
    assert_consistent(&decision, &BAKERY_OFFERS);
    assert!(decision.open_complaints.is_empty());
    assert_eq!(
        picked(&decision),
        ["birthday-cake", "garden-hose"],
        "{decision}"
    );
    assert!(!decision
        .trace
        .iter()
        .any(|c| c.stop == Some(Stop::OpenComplaint)));
    Ok(())
}

#[test]
fn a_complaint_does_not_hold_back_a_service_reply() -> TestResult {
    let engine = make_engine(BAKERY)?;
    let ledger = MemoryLedger::new();
    let mut cal = emailable(21);
    let event = Event::ComplaintOpened {
        at: now(),
        id: "C-9".into(),
    };
    engine.observe(&mut cal, &event)?;
    let decision = engine.decide(&cal, &ledger, &Request::service([Channel::Email]), now())?;
    assert_eq!(decision.picks.len(), 1, "{decision}");
    assert_eq!(decision.picks[0].channel, Channel::Email);
    assert_eq!(decision.open_complaints, ["C-9"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (c) A customer who said "never footwear" never gets footwear.
// ---------------------------------------------------------------------------------------------

const SHOES: &str = r#"
    [[offers]]
    id = "winter-boots"
    categories = ["footwear"]
    value = 80.0
    priority = 2.0

    [[offers]]
    id = "sale-sneakers"
    categories = ["sale", "footwear"]
    value = 60.0
    priority = 1.0

    [[offers]]
    id = "wool-socks"
    categories = ["clothing"]
    value = 5.0

    [[offers]]
    id = "umbrella"
    categories = ["accessories"]
    value = 4.0
"#;

const SHOE_OFFERS: [&str; 4] = ["winter-boots", "sale-sneakers", "wool-socks", "umbrella"];

#[test]
fn a_customer_who_said_never_footwear_never_gets_footwear() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();

    // Without the choice, the boots score highest and are picked.
    let mut fan = emailable(30);
    engine.observe(
        &mut fan,
        &purchase(now() - Duration::days(2), "footwear", 90.0),
    )?;
    let decision = engine.decide(&fan, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["winter-boots"], "{decision}");

    // With it, even a footwear fan with every picks slot open gets no footwear.
    let mut dora = emailable(31)
        .with_never_category("footwear")
        .with_preferred_channel(Channel::Email);
    for days in 1..=10 {
        let event = purchase(now() - Duration::days(days), "footwear", 90.0);
        engine.observe(&mut dora, &event)?;
    }
    for picks in 1..=4 {
        let decision = engine.decide(&dora, &ledger, &email(picks), now())?;
        assert_consistent(&decision, &SHOE_OFFERS);
        for shoe in ["winter-boots", "sale-sneakers"] {
            assert_eq!(
                stop_of(&decision, shoe),
                Some(Stop::NeverCategory {
                    category: "footwear".into()
                }),
                "{decision}"
            );
            assert!(!decision.picked_offers().any(|o| o == shoe));
        }
        assert!(decision
            .picks
            .iter()
            .all(|p| !p.categories.iter().any(|c| c == "footwear")));
        let expected: &[&str] = if picks == 1 {
            &["wool-socks"]
        } else {
            &["wool-socks", "umbrella"]
        };
        assert_eq!(picked(&decision), expected, "{decision}");
        let text = decision.to_string();
        assert!(
            text.contains("winter-boots") && text.contains("footwear"),
            "{text}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (d) A customer who ignored the last five emails sees a lower score.
// ---------------------------------------------------------------------------------------------

/// `n` responses on `channel`, a day apart, the first `first_days_ago` days before `now`.
fn respond(
    engine: &Engine,
    customer: &mut Customer,
    (channel, response): (Channel, Response),
    n: i64,
    first_days_ago: i64,
) {
    for i in 0..n {
        let event = Event::Response {
            at: now() - Duration::days(first_days_ago - i),
            channel,
            offer: None,
            response,
        };
        engine.observe(customer, &event).unwrap();
    }
}

#[test]
fn a_customer_who_ignored_the_last_five_emails_sees_a_lower_score() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let eager = emailable(40);
    let mut weary = emailable(41);
    // Two emails opened, then the last five ignored.
    respond(
        &engine,
        &mut weary,
        (Channel::Email, Response::Opened),
        2,
        20,
    );
    respond(
        &engine,
        &mut weary,
        (Channel::Email, Response::Ignored),
        5,
        10,
    );
    assert_eq!(weary.profile.summary.ignored_streak(Channel::Email), 5);

    let keen = engine.decide(&eager, &ledger, &email(1), now())?;
    let tired = engine.decide(&weary, &ledger, &email(1), now())?;
    for offer in SHOE_OFFERS {
        let high = score_of(&keen, offer);
        let low = score_of(&tired, offer);
        assert!(low.total < high.total, "{offer}: {low} vs {high}");
        assert_eq!(contribution(&high, "ignored"), None);
        let ignored = contribution(&low, "ignored").expect("an ignored contribution");
        assert!(close(ignored, -5.0 * 0.2), "{low}");
        assert!(close(low.total, high.total - 1.0));
    }
    assert!(tired.picks[0].score < keen.picks[0].score);
    Ok(())
}

#[test]
fn the_ignored_streak_belongs_to_its_channel_and_an_open_ends_it() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let mut eve = emailable(42).with_consent(Channel::Sms, Consent::OptedIn);
    respond(
        &engine,
        &mut eve,
        (Channel::Email, Response::Ignored),
        5,
        10,
    );
    let by_sms = engine.decide(&eve, &ledger, &Request::marketing([Channel::Sms], 1), now())?;
    assert_eq!(by_sms.picks[0].channel, Channel::Sms);
    assert_eq!(
        contribution(&score_of(&by_sms, "winter-boots"), "ignored"),
        None
    );

    let opened = Event::Response {
        at: now() - Duration::hours(1),
        channel: Channel::Email,
        offer: None,
        response: Response::Opened,
    };
    engine.observe(&mut eve, &opened)?;
    assert_eq!(eve.profile.summary.ignored_streak(Channel::Email), 0);
    let by_email = engine.decide(&eve, &ledger, &email(1), now())?;
    assert_eq!(
        contribution(&score_of(&by_email, "winter-boots"), "ignored"),
        None
    );
    Ok(())
}

#[test]
fn an_unsubscribe_response_opts_the_customer_out_of_that_channel() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let mut fay = emailable(43);
    let event = Event::Response {
        at: now() - Duration::days(1),
        channel: Channel::Email,
        offer: Some("umbrella".into()),
        response: Response::Unsubscribed,
    };
    engine.observe(&mut fay, &event)?;
    assert_eq!(fay.consents.get(Channel::Email), Consent::OptedOut);
    let decision = engine.decide(&fay, &ledger, &email(2), now())?;
    assert!(decision.picks.is_empty());
    for c in &decision.trace {
        assert_eq!(
            c.stop,
            Some(Stop::NoConsent {
                channels: vec![Channel::Email]
            }),
            "{decision}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Service replies.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_service_reply_goes_out_without_marketing_consent_and_despite_do_not_contact() -> TestResult {
    // A service cap the reply fits in easily, so that the ledger counts (and keeps) it.
    let engine = make_engine(&format!(
        "[[caps]]\nclass = \"service\"\nlimit = 50\nwindow = \"1d\"\n{SHOES}"
    ))?;
    let ledger = MemoryLedger::new();
    let gus = Customer::new(50).with_do_not_contact(true);
    let decision = engine.decide(&gus, &ledger, &Request::service([Channel::Email]), now())?;
    assert_eq!(decision.class, MessageClass::Service);
    assert!(!decision.no_channel, "{decision}");
    assert_eq!(decision.picks.len(), 1, "{decision}");
    let pick = &decision.picks[0];
    assert_eq!(pick.offer, None);
    assert_eq!(pick.channel, Channel::Email);
    assert_eq!(pick.send_at, now());
    assert_eq!(pick.reservation.class(), MessageClass::Service);
    assert_eq!(pick.reservation.customer(), CustomerId(50));
    // Recorded in the ledger: it holds a service contact for Gus now.
    let held = ledger.contacts_between(
        CustomerId(50),
        MessageClass::Service,
        now() - Duration::hours(1),
        now() + Duration::hours(1),
    )?;
    assert_eq!(held, 1);
    assert!(ledger.commit(&pick.reservation)?);
    // Marketing, by contrast, is refused for him.
    let marketing = engine.decide(&gus, &ledger, &email(1), now())?;
    assert!(marketing.picks.is_empty());
    Ok(())
}

#[test]
fn a_service_reply_skips_channels_the_customer_opted_out_of() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let hal = Customer::new(51)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_consent(Channel::Sms, Consent::Unknown);
    let request = Request::service([Channel::Email, Channel::Sms, Channel::Push]);
    let decision = engine.decide(&hal, &ledger, &request, now())?;
    assert_eq!(decision.picks.len(), 1, "{decision}");
    assert_eq!(decision.picks[0].channel, Channel::Sms);

    // Even quiet hours do not hold a service reply back (they apply to marketing by default).
    let quiet = make_engine(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        "#,
    )?;
    let late = at(2026, 11, 24, 23, 30);
    let decision = quiet.decide(&hal, &ledger, &request, late)?;
    assert_eq!(decision.picks[0].send_at, late);
    Ok(())
}

#[test]
fn only_the_policys_own_service_rules_can_hold_a_reply_back() -> TestResult {
    // Marketing rules of every kind, and a cap the policy sets on replies themselves.
    let engine = make_engine(&format!(
        r#"
        [[caps]]
        name = "one marketing email a day"
        channel = "email"
        limit = 1
        window = "1d"

        [[caps]]
        name = "one reply a day"
        class = "service"
        limit = 1
        window = "1d"

        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        {SHOES}
        "#
    ))?;
    let ledger = MemoryLedger::new();
    let late = at(2026, 11, 24, 23, 30);
    let request = Request::service([Channel::Email]);
    ledger.record(
        engine.policy(),
        CustomerId(56),
        RecordedContact {
            at: late - Duration::hours(1),
            channel: Channel::Email,
            class: MessageClass::Marketing,
            topic: None,
            key: "yesterdays-newsletter",
        },
    )?;
    // In marketing quiet hours, after the day's marketing email: the reply goes out now.
    let first = engine.decide(&Customer::new(56), &ledger, &request, late)?;
    assert_eq!(first.picks.len(), 1, "{first}");
    assert_eq!(first.picks[0].send_at, late);
    assert!(ledger.commit(&first.picks[0].reservation)?);
    // A second reply the same day meets the policy's cap on replies, and says so.
    let second = engine.decide(&Customer::new(56), &ledger, &request, late)?;
    assert!(second.picks.is_empty(), "{second}");
    assert!(!second.no_channel);
    assert!(second.to_string().contains("one reply a day"), "{second}");
    Ok(())
}

#[test]
fn a_service_reply_is_stopped_only_by_an_opt_out_on_every_channel_or_no_channel() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let ivy = Customer::new(52)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_consent(Channel::Sms, Consent::OptedOut);
    let request = Request::service([Channel::Email, Channel::Sms]);
    let decision = engine.decide(&ivy, &ledger, &request, now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    assert!(decision.no_channel);
    assert!(!decision.to_string().is_empty());
    let nothing_held = ledger.contacts_between(
        CustomerId(52),
        MessageClass::Service,
        now() - Duration::hours(1),
        now() + Duration::hours(1),
    )?;
    assert_eq!(nothing_held, 0);

    // No channel given at all: nothing can go out.
    match engine.decide(&Customer::new(53), &ledger, &Request::service([]), now()) {
        Ok(decision) => {
            assert!(decision.picks.is_empty(), "{decision}");
            assert!(decision.no_channel);
        }
        Err(Error::Input(InputError::BadRequest(_))) => {}
        Err(other) => panic!("unexpected error {other}"),
    }
    Ok(())
}

#[test]
fn a_service_reply_that_cannot_go_out_names_each_channel_tried_in_the_trace() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ivy = Customer::new(54)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_consent(Channel::Sms, Consent::OptedOut);
    let request = Request::service([Channel::Email, Channel::Sms]);
    let decision = engine.decide(&ivy, &MemoryLedger::new(), &request, now())?;
    assert!(decision.picks.is_empty() && decision.no_channel);
    // `Decision::trace`: "for a service or transactional message that could not go out: each
    // channel tried"; `Candidate::offer`: "for a service or transactional message: the class
    // and channel".
    assert_eq!(decision.trace.len(), 2, "{decision}");
    assert!(
        decision.trace.iter().all(|c| c.stop.is_some()),
        "{decision}"
    );
    let offers: Vec<&str> = decision.trace.offers().collect();
    assert!(offers[0].contains("email"), "{decision}");
    assert!(offers[1].contains("sms"), "{decision}");
    Ok(())
}

#[test]
fn a_transactional_message_needs_no_marketing_consent_but_respects_do_not_contact() -> TestResult {
    let engine = make_engine(SHOES)?;
    let ledger = MemoryLedger::new();
    let request = Request::transactional([Channel::Email]);
    let no_consent = Customer::new(55);
    let decision = engine.decide(&no_consent, &ledger, &request, now())?;
    assert_eq!(decision.class, MessageClass::Transactional);
    assert_eq!(decision.picks.len(), 1, "{decision}");
    assert_eq!(decision.picks[0].offer, None);
    assert_eq!(
        decision.picks[0].reservation.class(),
        MessageClass::Transactional
    );
    // README: "Transactional messages are refused only for do-not-contact customers."
    let dnc = Customer::new(56).with_do_not_contact(true);
    let decision = engine.decide(&dnc, &ledger, &request, now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Per-offer caps, cooldowns, eligibility paths, diversity, fallback, quiet hours.
// ---------------------------------------------------------------------------------------------

const MONTHLY: &str = r#"
    [[offers]]
    id = "coffee-club"
    categories = ["coffee"]
    value = 50.0
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "tea-sampler"
    categories = ["tea"]
    value = 10.0
"#;

#[test]
fn an_offer_with_a_monthly_cap_is_not_picked_again_within_30_days() -> TestResult {
    let engine = make_engine(MONTHLY)?;
    let ledger = MemoryLedger::new();
    let jo = emailable(60);
    let first = engine.decide(&jo, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["coffee-club"]);
    assert!(ledger.commit(&first.picks[0].reservation)?);

    // Later than 29 days, a deferral by up to a day (the request's default) would reach the
    // slot's release at day 30.
    for later in [Duration::hours(1), Duration::days(10), Duration::days(28)] {
        let t = now() + later;
        let decision = engine.decide(&jo, &ledger, &email(1), t)?;
        assert_consistent(&decision, &["coffee-club", "tea-sampler"]);
        assert_eq!(picked(&decision), ["tea-sampler"], "{decision}");
        match stop_of(&decision, "coffee-club") {
            Some(Stop::Throttled { channel, verdict }) => {
                assert_eq!(channel, Channel::Email);
                assert!(!verdict.is_allowed());
                let frees = verdict.reasons().iter().find_map(|r| match r {
                    Reason::CapReached { rule, frees_at, .. } => {
                        assert!(rule.path.contains("offers[0]"), "{}", rule.path);
                        Some(*frees_at)
                    }
                    _ => None,
                });
                assert_eq!(frees, Some(now() + Duration::days(30)), "{verdict:?}");
            }
            other => panic!("expected Throttled, got {other:?}\n{decision}"),
        }
        ledger.release(&decision.picks[0].reservation)?;
    }

    // A day before the slot frees, a deferral by up to a day reaches it exactly.
    let t = now() + Duration::days(29) + Duration::hours(2);
    let decision = engine.decide(&jo, &ledger, &email(1), t)?;
    assert_eq!(picked(&decision), ["coffee-club"], "{decision}");
    assert_eq!(decision.picks[0].send_at, now() + Duration::days(30));
    ledger.release(&decision.picks[0].reservation)?;
    // Unless the request accepts no delay.
    let no_wait = email(1).with_max_delay(None);
    let decision = engine.decide(&jo, &ledger, &no_wait, t)?;
    assert_eq!(picked(&decision), ["tea-sampler"], "{decision}");
    ledger.release(&decision.picks[0].reservation)?;

    // Thirty days on, the offer comes back.
    let decision = engine.decide(&jo, &ledger, &email(1), now() + Duration::days(30))?;
    assert_eq!(picked(&decision), ["coffee-club"], "{decision}");
    Ok(())
}

#[test]
fn an_unsettled_reservation_counts_against_the_cap_and_a_released_one_does_not() -> TestResult {
    let engine = make_engine(MONTHLY)?;
    let ledger = MemoryLedger::new();
    let kim = emailable(61);
    let first = engine.decide(&kim, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["coffee-club"]);
    // Neither committed nor released: it counts (fail closed).
    let second = engine.decide(&kim, &ledger, &email(1), now() + Duration::hours(1))?;
    assert!(matches!(
        stop_of(&second, "coffee-club"),
        Some(Stop::Throttled { .. })
    ));
    ledger.release(&second.picks[0].reservation)?;
    // Released after a failed send: the slot is free again.
    assert!(ledger.release(&first.picks[0].reservation)?);
    let third = engine.decide(&kim, &ledger, &email(1), now() + Duration::hours(2))?;
    assert_eq!(picked(&third), ["coffee-club"], "{third}");
    Ok(())
}

#[test]
fn the_policys_own_caps_hold_back_decisions_too() -> TestResult {
    let engine = make_engine(&format!(
        r#"
        [[caps]]
        channel = "email"
        limit = 2
        window = "7d"
        {MONTHLY}
        "#
    ))?;
    let ledger = MemoryLedger::new();
    let lou = emailable(62);
    let two = engine.decide(&lou, &ledger, &email(2), now())?;
    assert_eq!(picked(&two), ["coffee-club", "tea-sampler"]);
    for pick in &two.picks {
        ledger.commit(&pick.reservation)?;
    }
    let decision = engine.decide(&lou, &ledger, &email(2), now() + Duration::days(1))?;
    assert!(decision.picks.is_empty(), "{decision}");
    match stop_of(&decision, "tea-sampler") {
        Some(Stop::Throttled { verdict, .. }) => assert!(verdict
            .reasons()
            .iter()
            .any(|r| matches!(r, Reason::CapReached { rule, .. } if rule.path == "caps[0]"))),
        other => panic!("expected Throttled, got {other:?}\n{decision}"),
    }
    Ok(())
}

#[test]
fn a_dismissed_offer_rests_for_its_cooldown() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "coffee-club"
        categories = ["coffee"]
        value = 50.0

        [[offers]]
        id = "tea-sampler"
        categories = ["tea"]
        value = 40.0
        cooldown = "3d"

        [[offers]]
        id = "jam-jar"
        categories = ["jam"]
        value = 1.0
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let mut max = emailable(63);
    let dismissed = now() - Duration::days(1);
    for offer in ["coffee-club", "tea-sampler"] {
        let event = Event::Feedback {
            at: dismissed,
            target: FeedbackTarget::Offer(offer.into()),
            positive: false,
        };
        engine.observe(&mut max, &event)?;
    }
    // Liking an offer starts no cooldown.
    let liked = Event::Feedback {
        at: dismissed,
        target: FeedbackTarget::Offer("jam-jar".into()),
        positive: true,
    };
    engine.observe(&mut max, &liked)?;

    let decision = engine.decide(&max, &ledger, &email(3), now())?;
    assert_consistent(&decision, &["coffee-club", "tea-sampler", "jam-jar"]);
    assert_eq!(picked(&decision), ["jam-jar"], "{decision}");
    // The policy's default cooldown is 14 days; tea-sampler says 3.
    assert_eq!(
        stop_of(&decision, "coffee-club"),
        Some(Stop::Cooldown {
            until: dismissed + Duration::days(14)
        })
    );
    assert_eq!(
        stop_of(&decision, "tea-sampler"),
        Some(Stop::Cooldown {
            until: dismissed + Duration::days(3)
        })
    );

    let decision = engine.decide(&max, &ledger, &email(3), dismissed + Duration::days(3))?;
    assert_eq!(stop_of(&decision, "tea-sampler"), None, "{decision}");
    assert!(matches!(
        stop_of(&decision, "coffee-club"),
        Some(Stop::Cooldown { .. })
    ));
    let decision = engine.decide(&max, &ledger, &email(3), dismissed + Duration::days(15))?;
    assert_eq!(stop_of(&decision, "coffee-club"), None, "{decision}");
    Ok(())
}

#[test]
fn an_eligibility_failure_names_the_rule_path_and_what_it_asks() -> TestResult {
    let engine = make_engine(
        r#"
        [attributes]
        tier = "text"
        age = "number"
        diets = "list"

        [[offers]]
        id = "anything"
        categories = ["misc"]

        [[offers]]
        id = "gold-coffee"
        categories = ["coffee"]
        eligibility = { all = [ { attribute = "tier", equals = "gold" }, { bought = "coffee", within = "60d" } ] }

        [[offers]]
        id = "grown-ups"
        categories = ["wine"]
        eligibility = { any = [ { attribute = "age", at_least = 18 }, { segment = "verified" } ] }

        [[offers]]
        id = "vegan-box"
        categories = ["vegan"]
        eligibility = { all = [ { attribute = "diets", equals = "vegan" }, { not = { lifetime_value_at_least = 1000.0 } } ] }
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let mut ned = emailable(64)
        .with_attribute("tier", "silver")
        .with_attribute("age", 16.0)
        .with_attribute("diets", vec!["vegan".to_string(), "nut-free".to_string()]);
    engine.observe(
        &mut ned,
        &purchase(now() - Duration::days(5), "coffee", 2000.0),
    )?;

    let decision = engine.decide(&ned, &ledger, &email(4), now())?;
    let offers = ["anything", "gold-coffee", "grown-ups", "vegan-box"];
    assert_consistent(&decision, &offers);
    let rule_of = |offer: &str| match stop_of(&decision, offer) {
        Some(Stop::Ineligible { rule }) => rule.clone(),
        other => panic!("{offer}: expected Ineligible, got {other:?}\n{decision}"),
    };
    let gold = rule_of("gold-coffee");
    assert_eq!(&*gold.path, "offers[1].eligibility.all[0]");
    assert!(
        gold.rule.contains("tier") && gold.rule.contains("gold"),
        "{}",
        gold.rule
    );
    assert!(rule_of("grown-ups")
        .path
        .starts_with("offers[2].eligibility"));
    assert_eq!(&*rule_of("vegan-box").path, "offers[3].eligibility.all[1]");
    assert_eq!(picked(&decision), ["anything"]);
    let text = decision.to_string();
    assert!(text.contains("offers[1].eligibility.all[0]"), "{text}");

    // A gold, verified, adult customer with a smaller bill gets all three.
    let mut ola = emailable(65)
        .with_attribute("tier", "gold")
        .with_attribute("age", 40.0)
        .with_attribute("diets", vec!["vegan".to_string()]);
    engine.observe(
        &mut ola,
        &purchase(now() - Duration::days(5), "coffee", 20.0),
    )?;
    let decision = engine.decide(&ola, &ledger, &email(4), now())?;
    assert_consistent(&decision, &offers);
    assert_eq!(decision.picks.len(), 4, "{decision}");

    // The coffee purchase is 61 days old: `bought within 60d` no longer holds.
    let decision = engine.decide(&ola, &ledger, &email(4), now() + Duration::days(56))?;
    match stop_of(&decision, "gold-coffee") {
        Some(Stop::Ineligible { rule }) => assert_eq!(&*rule.path, "offers[1].eligibility.all[1]"),
        other => panic!("expected Ineligible, got {other:?}\n{decision}"),
    }
    Ok(())
}

#[test]
fn diversity_allows_one_offer_per_category_unless_the_policy_says_more() -> TestResult {
    let offers = r#"
        [[offers]]
        id = "espresso"
        categories = ["coffee"]
        value = 30.0

        [[offers]]
        id = "filter"
        categories = ["coffee"]
        value = 20.0

        [[offers]]
        id = "green-tea"
        categories = ["tea"]
        value = 1.0
    "#;
    let ledger = MemoryLedger::new();
    let pat = emailable(70);
    let decision = make_engine(offers)?.decide(&pat, &ledger, &email(2), now())?;
    assert_consistent(&decision, &["espresso", "filter", "green-tea"]);
    assert_eq!(picked(&decision), ["espresso", "green-tea"], "{decision}");
    assert_eq!(
        stop_of(&decision, "filter"),
        Some(Stop::SameCategory {
            category: "coffee".into(),
            by: "espresso".into()
        })
    );

    let two = format!("{offers}\n[selection]\nmax_per_category = 2\n");
    let decision = make_engine(&two)?.decide(
        &Customer::new(71).with_consent(Channel::Email, Consent::OptedIn),
        &ledger,
        &email(2),
        now(),
    )?;
    assert_eq!(picked(&decision), ["espresso", "filter"], "{decision}");
    assert_eq!(
        stop_of(&decision, "green-tea"),
        Some(Stop::Outscored {
            by: "filter".into()
        })
    );
    Ok(())
}

#[test]
fn ties_go_to_the_offer_written_first() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "first"
        categories = ["a"]
        value = 10.0

        [[offers]]
        id = "second"
        categories = ["b"]
        value = 10.0
        "#,
    )?;
    let decision = engine.decide(&emailable(72), &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&decision), ["first"]);
    assert_eq!(
        stop_of(&decision, "second"),
        Some(Stop::Outscored { by: "first".into() })
    );
    Ok(())
}

const WITH_FALLBACK: &str = r#"
    [attributes]
    tier = "text"

    [[offers]]
    id = "newsletter"
    fallback = true
    value = 100.0

    [[offers]]
    id = "gold-gift"
    categories = ["gifts"]
    value = 1.0
    eligibility = { attribute = "tier", equals = "gold" }
"#;

#[test]
fn the_fallback_offer_is_used_only_when_nothing_else_qualifies() -> TestResult {
    let engine = make_engine(WITH_FALLBACK)?;
    let ledger = MemoryLedger::new();
    let gold = emailable(73).with_attribute("tier", "gold");
    let decision = engine.decide(&gold, &ledger, &email(2), now())?;
    assert_consistent(&decision, &["newsletter", "gold-gift"]);
    assert_eq!(picked(&decision), ["gold-gift"], "{decision}");
    assert_eq!(
        stop_of(&decision, "newsletter"),
        Some(Stop::FallbackNotNeeded)
    );

    let plain = emailable(74).with_attribute("tier", "bronze");
    let decision = engine.decide(&plain, &ledger, &email(2), now())?;
    assert_consistent(&decision, &["newsletter", "gold-gift"]);
    assert_eq!(picked(&decision), ["newsletter"], "{decision}");
    assert!(matches!(
        stop_of(&decision, "gold-gift"),
        Some(Stop::Ineligible { .. })
    ));
    Ok(())
}

/// The [`MONTHLY`] offers under quiet hours from 21:00 to 08:00 in London (the policy's zone).
fn monthly_offers_with_quiet_nights() -> Result<Engine, Box<dyn std::error::Error>> {
    make_engine(&format!(
        r#"
        time_zone = "Europe/London"

        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        {MONTHLY}
        "#
    ))
}

#[test]
fn quiet_hours_defer_the_pick_in_the_customers_own_zone() -> TestResult {
    let engine = monthly_offers_with_quiet_nights()?;
    let ledger = MemoryLedger::new();
    let late = at(2026, 11, 24, 22, 30);

    // London (the policy's zone): deferred to 08:00 the next morning.
    let london = emailable(80);
    let decision = engine.decide(&london, &ledger, &email(1), late)?;
    assert_eq!(picked(&decision), ["coffee-club"], "{decision}");
    assert_eq!(decision.picks[0].send_at, at(2026, 11, 25, 8, 0));
    assert_eq!(
        decision.picks[0].reservation.send_at(),
        at(2026, 11, 25, 8, 0)
    );
    assert!(decision.to_string().contains("coffee-club"));

    // New York: 17:30 local, not quiet: now.
    let new_york = emailable(81).with_time_zone(chrono_tz::America::New_York);
    let decision = engine.decide(&new_york, &ledger, &email(1), late)?;
    assert_eq!(decision.picks[0].send_at, late);

    // Tokyo: 07:30 local, quiet until 08:00 local = 23:00 UTC.
    let tokyo = emailable(82).with_time_zone(chrono_tz::Asia::Tokyo);
    let decision = engine.decide(&tokyo, &ledger, &email(1), late)?;
    assert_eq!(decision.picks[0].send_at, at(2026, 11, 24, 23, 0));

    // A request that accepts no delay gets nothing in quiet hours, and says why.
    let decision = engine.decide(
        &emailable(83),
        &ledger,
        &email(1).with_max_delay(None),
        late,
    )?;
    assert!(decision.picks.is_empty(), "{decision}");
    for offer in ["coffee-club", "tea-sampler"] {
        match stop_of(&decision, offer) {
            Some(Stop::Throttled { verdict, .. }) => {
                assert!(
                    matches!(&verdict, Verdict::Deferred { until, .. } if *until == at(2026, 11, 25, 8, 0))
                );
                assert!(verdict
                    .reasons()
                    .iter()
                    .any(|r| matches!(r, Reason::QuietHours { .. })));
            }
            other => panic!("{offer}: expected Throttled, got {other:?}\n{decision}"),
        }
    }
    Ok(())
}

#[test]
fn a_delay_beyond_the_calendar_means_no_limit_and_does_not_panic() -> TestResult {
    let engine = monthly_offers_with_quiet_nights()?;
    let ledger = MemoryLedger::new();
    let late = at(2026, 11, 24, 22, 30);

    // `now + delay` is past the last date chrono can hold: read as no limit.
    let patient = email(1).with_max_delay(Some(Duration::MAX));
    let decision = engine.decide(&emailable(84), &ledger, &patient, late)?;
    assert_eq!(decision.picks.len(), 1, "{decision}");
    assert_eq!(decision.picks[0].send_at, at(2026, 11, 25, 8, 0));

    // And before the first one: nothing may wait, so nothing is picked in quiet hours.
    let hasty = email(1).with_max_delay(Some(Duration::MIN));
    let decision = engine.decide(&emailable(85), &ledger, &hasty, late)?;
    assert!(decision.picks.is_empty(), "{decision}");
    Ok(())
}

#[test]
fn no_offer_is_deferred_past_its_validity() -> TestResult {
    let engine = make_engine(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"

        [[offers]]
        id = "tonight-only"
        categories = ["deals"]
        value = 50.0
        valid_until = "2026-11-25T06:00:00Z"

        [[offers]]
        id = "later"
        categories = ["later"]
        valid_from = 2026-11-25T00:00:00Z

        [[offers]]
        id = "always"
        categories = ["always"]
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let late = at(2026, 11, 24, 22, 0);
    let decision = engine.decide(&emailable(84), &ledger, &email(3), late)?;
    assert_consistent(&decision, &["tonight-only", "later", "always"]);
    assert!(
        matches!(
            stop_of(&decision, "tonight-only"),
            Some(Stop::Throttled { .. })
        ),
        "{decision}"
    );
    assert_eq!(
        stop_of(&decision, "later"),
        Some(Stop::NotYetValid {
            from: at(2026, 11, 25, 0, 0)
        })
    );
    assert_eq!(picked(&decision), ["always"]);
    assert_eq!(decision.picks[0].send_at, at(2026, 11, 25, 8, 0));

    let decision = engine.decide(&emailable(85), &ledger, &email(3), at(2026, 11, 26, 10, 0))?;
    assert_eq!(
        stop_of(&decision, "tonight-only"),
        Some(Stop::Expired {
            until: at(2026, 11, 25, 6, 0)
        })
    );
    Ok(())
}

#[test]
fn consent_channels_and_topics_stop_offers_with_their_own_reasons() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "sms-only"
        categories = ["a"]
        channels = ["sms"]

        [[offers]]
        id = "by-email"
        categories = ["b"]
        channels = ["email"]

        [[offers]]
        id = "newsletter"
        categories = ["c"]
        topic = "weekly"
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let offers = ["sms-only", "by-email", "newsletter"];
    let quinn = Customer::new(90)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_consent(Channel::Push, Consent::OptedIn)
        .with_unsubscribed_topic("weekly");
    let request = Request::marketing([Channel::Email, Channel::Push], 3);
    let decision = engine.decide(&quinn, &ledger, &request, now())?;
    assert_consistent(&decision, &offers);
    assert_eq!(stop_of(&decision, "sms-only"), Some(Stop::NoChannel));
    assert_eq!(
        stop_of(&decision, "by-email"),
        Some(Stop::NoConsent {
            channels: vec![Channel::Email]
        })
    );
    assert_eq!(
        stop_of(&decision, "newsletter"),
        Some(Stop::Unsubscribed {
            topic: "weekly".into()
        })
    );
    assert!(decision.picks.is_empty());

    let rae = emailable(91).with_do_not_contact(true);
    let decision = engine.decide(&rae, &ledger, &email(3), now())?;
    assert_eq!(stop_of(&decision, "by-email"), Some(Stop::DoNotContact));
    assert_eq!(stop_of(&decision, "newsletter"), Some(Stop::DoNotContact));

    // Consent on a later channel: the pick goes out there.
    let sam = Customer::new(92).with_consent(Channel::Push, Consent::OptedIn);
    let decision = engine.decide(&sam, &ledger, &request, now())?;
    assert_eq!(picked(&decision), ["newsletter"], "{decision}");
    assert_eq!(decision.picks[0].channel, Channel::Push);
    Ok(())
}

#[test]
fn no_offer_for_a_product_just_bought() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "kettle-deal"
        categories = ["kitchen"]
        product = "kettle"
        value = 30.0

        [[offers]]
        id = "toaster-deal"
        categories = ["appliances"]
        product = "toaster"
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let mut tom = emailable(93);
    let bought = now() - Duration::days(3);
    let event = Event::Purchase {
        at: bought,
        category: "kitchen".into(),
        product: Some("kettle".into()),
        amount: 30.0,
    };
    engine.observe(&mut tom, &event)?;
    let decision = engine.decide(&tom, &ledger, &email(2), now())?;
    assert_eq!(
        stop_of(&decision, "kettle-deal"),
        Some(Stop::JustBought {
            product: "kettle".into(),
            at: bought
        })
    );
    assert_eq!(picked(&decision), ["toaster-deal"]);
    // The default `skip_bought_within` is 30 days.
    let decision = engine.decide(&tom, &ledger, &email(2), bought + Duration::days(31))?;
    assert_eq!(stop_of(&decision, "kettle-deal"), None, "{decision}");
    Ok(())
}

#[test]
fn no_offer_for_a_product_just_bought_among_many_products() -> TestResult {
    // More products bought than the offers name, and the other way round: both ways of
    // matching them give the same stops.
    let engine = make_engine(
        r#"
        [[offers]]
        id = "kettle-deal"
        product = "kettle"

        [[offers]]
        id = "toaster-deal"
        product = "toaster"

        [[offers]]
        id = "teapot-deal"
        product = "teapot"
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let bought = |product: &str, days: i64| Event::Purchase {
        at: now() - Duration::days(days),
        category: "kitchen".into(),
        product: Some(product.into()),
        amount: 10.0,
    };
    let mut many = emailable(94);
    for (product, days) in [
        ("kettle", 2),
        ("mug", 1),
        ("spoon", 4),
        ("toaster", 40),
        ("jug", 3),
    ] {
        engine.observe(&mut many, &bought(product, days))?;
    }
    let mut few = emailable(95);
    engine.observe(&mut few, &bought("teapot", 5))?;
    for (who, stopped) in [
        (&many, ("kettle-deal", "kettle", 2)),
        (&few, ("teapot-deal", "teapot", 5)),
    ] {
        let decision = engine.decide(who, &ledger, &email(3), now())?;
        let (offer, product, days) = stopped;
        for candidate in decision.trace.iter() {
            let expected = (*candidate.offer == *offer).then(|| Stop::JustBought {
                product: product.into(),
                at: now() - Duration::days(days),
            });
            assert_eq!(candidate.stop, expected, "{}: {decision}", candidate.offer);
        }
        for pick in &decision.picks {
            ledger.release(&pick.reservation)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Display and serde.
// ---------------------------------------------------------------------------------------------

fn mixed_decision() -> Result<Decision, Box<dyn std::error::Error>> {
    let engine = make_engine(&format!(
        r#"
        [attributes]
        tier = "text"
        {SHOES}

        [[offers]]
        id = "gold-only"
        categories = ["gifts"]
        eligibility = {{ attribute = "tier", equals = "gold" }}
        "#
    ))?;
    let customer = emailable(100)
        .with_never_category("footwear")
        .with_attribute("tier", "silver")
        .with_note("prefers letters");
    Ok(engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?)
}

#[test]
fn display_explains_the_pick_and_every_stop() -> TestResult {
    let decision = mixed_decision()?;
    assert_eq!(picked(&decision), ["wool-socks"]);
    let text = decision.to_string();
    for offer in SHOE_OFFERS.iter().chain(&["gold-only"]) {
        assert!(text.contains(offer), "{offer} missing in:\n{text}");
    }
    assert!(text.contains("footwear"), "{text}");
    assert!(text.contains("offers[4].eligibility"), "{text}");
    assert!(text.contains("email"), "{text}");
    assert!(text.contains("#100") || text.contains("100"), "{text}");
    // The sentence for each stop is on its own line after the pick's.
    let picked_line = text.lines().position(|l| l.contains("wool-socks")).unwrap();
    let boots_line = text
        .lines()
        .position(|l| l.contains("winter-boots"))
        .unwrap();
    assert!(picked_line < boots_line, "{text}");
    Ok(())
}

#[test]
fn a_decision_serializes_to_one_json_line_and_back() -> TestResult {
    let decision = mixed_decision()?;
    let json = serde_json::to_string(&decision)?;
    assert!(!json.contains('\n'));
    let back: Decision = serde_json::from_str(&json)?;
    assert_eq!(back, decision);
    let value: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(value["notes"][0], "prefers letters");
    assert_eq!(value["picks"][0]["offer"], "wool-socks");
    let boots = value["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["offer"] == "winter-boots")
        .unwrap();
    assert_eq!(boots["stop"]["stop"], "never_category");
    assert_eq!(boots["stop"]["category"], "footwear");

    // A complaint, a throttled offer, a deferred pick and a service decision round-trip too.
    let engine = make_engine(&format!(
        "[[quiet_hours]]\nstart = \"21:00\"\nend = \"08:00\"\n{MONTHLY}"
    ))?;
    let ledger = MemoryLedger::new();
    let mut cus = emailable(101);
    let late = at(2026, 11, 24, 22, 0);
    let deferred = engine.decide(&cus, &ledger, &email(1), late)?;
    let throttled = engine.decide(&cus, &ledger, &email(1), late)?;
    let event = Event::ComplaintOpened {
        at: late,
        id: "C-7".into(),
    };
    engine.observe(&mut cus, &event)?;
    let complaint = engine.decide(&cus, &ledger, &email(1), late)?;
    let service = engine.decide(&cus, &ledger, &Request::service([Channel::Sms]), late)?;
    for d in [deferred, throttled, complaint, service] {
        let back: Decision = serde_json::from_str(&serde_json::to_string(&d)?)?;
        assert_eq!(back, d);
    }
    Ok(())
}

#[test]
fn scores_round_trip_exactly_through_json() -> TestResult {
    // A score the built-in scorer produced in decide_props (an affinity of ln(1 + decayed
    // purchases)); a plugged-in scorer gives it here exactly.
    struct Fixed;
    impl Scorer for Fixed {
        fn score(&self, _: &Features<'_>, score: &mut Score) {
            score.add("affinity", 0.219_591_909_492_272_34);
        }
    }
    let policy = Policy::from_toml_str("[[offers]]\nid = \"coffee-club\"\n")?.compile()?;
    let engine = Engine::with_scorer(policy, Fixed);
    let decision = engine.decide(&emailable(102), &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(decision.picks[0].score, 0.219_591_909_492_272_34);
    let back: Decision = serde_json::from_str(&serde_json::to_string(&decision)?)?;
    assert_eq!(back.picks[0].score, decision.picks[0].score);
    assert_eq!(back, decision);
    Ok(())
}

#[test]
fn a_candidate_round_trips_alone() -> TestResult {
    let decision = mixed_decision()?;
    for c in &decision.trace {
        let back: Candidate = serde_json::from_str(&serde_json::to_string(&c)?)?;
        assert_eq!(back, c);
    }
    Ok(())
}

#[test]
fn a_recorded_trace_reads_as_the_list_it_stands_for() -> TestResult {
    let decision = mixed_decision()?;
    let trace = &decision.trace;
    let list: Vec<Candidate> = trace.to_vec();
    assert_eq!(list.len(), trace.len());
    assert!(!trace.is_empty());
    // Compares equal to the list, and to a trace built from it, both ways round.
    assert_eq!(*trace, list);
    assert_eq!(*trace, Trace::from(list.clone()));
    assert_eq!(Trace::from(list.clone()), *trace);
    assert_eq!(trace.clone(), *trace);
    // The same JSON and the same debug text as the list.
    assert_eq!(serde_json::to_string(trace)?, serde_json::to_string(&list)?);
    assert_eq!(format!("{trace:?}"), format!("{list:?}"));
    // Read by position, by offer, forwards and backwards.
    let ids: Vec<&str> = trace.offers().collect();
    for (i, entry) in list.iter().enumerate() {
        assert_eq!(trace.get(i).as_ref(), Some(entry));
        assert_eq!(&*entry.offer, ids[i]);
        assert_eq!(trace.find(ids[i]).as_ref(), Some(entry));
    }
    assert_eq!(trace.get(list.len()), None);
    assert_eq!(trace.find("no-such-offer"), None);
    let backwards: Vec<Candidate> = trace.iter().rev().collect();
    assert!(backwards.iter().eq(list.iter().rev()));
    assert_eq!(Vec::<Candidate>::from(trace.clone()), list);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bad policies and bad input.
// ---------------------------------------------------------------------------------------------

fn policy_error(toml: &str) -> cornershop::PolicyError {
    match Policy::from_toml_str(toml).and_then(|p| p.compile()) {
        Ok(_) => panic!("policy accepted:\n{toml}"),
        Err(e) => e,
    }
}

#[test]
fn an_unknown_operator_is_an_error_that_names_its_path() {
    let e = policy_error(
        r#"
        [attributes]
        age = "number"

        [[offers]]
        id = "ok"

        [[offers]]
        id = "adults"
        eligibility = { all = [ { attribute = "age", greater_than = 3 } ] }
        "#,
    );
    let text = e.to_string();
    assert!(
        e.path().starts_with("offers[1].eligibility"),
        "path {:?}: {text}",
        e.path()
    );
    assert!(text.contains("greater_than"), "{text}");
}

#[test]
fn a_type_mismatch_is_an_error_at_the_comparison() {
    let e = policy_error(
        r#"
        [attributes]
        age = "number"

        [[offers]]
        id = "adults"
        eligibility = { attribute = "age", equals = "old" }
        "#,
    );
    assert_eq!(e.path(), "offers[0].eligibility.equals", "{e}");
    assert!(
        e.to_string().starts_with("offers[0].eligibility.equals"),
        "{e}"
    );

    let nested = policy_error(
        r#"
        [attributes]
        tier = "text"
        since = "date"

        [[offers]]
        id = "x"
        eligibility = { any = [ { attribute = "tier", equals = "gold" }, { not = { attribute = "since", at_least = "yesterday" } } ] }
        "#,
    );
    assert_eq!(
        nested.path(),
        "offers[0].eligibility.any[1].not.at_least",
        "{nested}"
    );
}

#[test]
fn an_undeclared_attribute_is_an_error() {
    let e = policy_error(
        r#"
        [attributes]
        tier = "text"

        [[offers]]
        id = "x"
        eligibility = { attribute = "shoe_size", at_least = 40 }
        "#,
    );
    assert!(e.path().starts_with("offers[0].eligibility"), "{e}");
    assert!(e.to_string().contains("shoe_size"), "{e}");
}

#[test]
fn other_bad_offers_are_errors_with_paths() {
    let cases = [
        (
            "[[offers]]\nid = \"a\"\n[[offers]]\nid = \"a\"\n",
            "offers[1]",
        ),
        (
            "[[offers]]\nid = \"a\"\nchannels = [\"fax\"]\n",
            "offers[0].channels",
        ),
        (
            "[[offers]]\nid = \"a\"\ncap = { limit = 0, window = \"30d\" }\n",
            "offers[0].cap",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { bought = \"coffee\" }\n",
            "offers[0].eligibility",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { segment = \"vip\", bought = \"tea\", within = \"3d\" }\n",
            "offers[0].eligibility",
        ),
    ];
    for (toml, prefix) in cases {
        let e = policy_error(toml);
        assert!(e.path().starts_with(prefix), "{toml}: {e}");
    }
}

#[test]
fn a_profile_attribute_of_the_wrong_type_is_an_input_error() -> TestResult {
    let engine = make_engine(
        r#"
        [attributes]
        age = "number"

        [[offers]]
        id = "adults"
        eligibility = { attribute = "age", at_least = 18 }
        "#,
    )?;
    let ledger = MemoryLedger::new();
    let wrong = emailable(110).with_attribute("age", "old");
    match engine.decide(&wrong, &ledger, &email(1), now()) {
        Err(Error::Input(InputError::AttributeType {
            customer,
            attribute,
            ..
        })) => {
            assert_eq!(customer, CustomerId(110));
            assert_eq!(attribute, "age");
        }
        other => panic!("expected an attribute type error, got {other:?}"),
    }
    // Nothing was reserved for the failed decision.
    let held = ledger.contacts_between(
        CustomerId(110),
        MessageClass::Marketing,
        now() - Duration::days(1),
        now() + Duration::days(1),
    )?;
    assert_eq!(held, 0);
    // The right type decides.
    let right = emailable(111).with_attribute("age", 18.0);
    let decision = engine.decide(&right, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["adults"]);
    Ok(())
}

#[test]
fn a_bad_event_is_an_error_and_leaves_the_customer_unchanged() -> TestResult {
    let engine = make_engine(SHOES)?;
    let mut una = emailable(112);
    let before = una.clone();
    let negative = purchase(now(), "footwear", -5.0);
    assert!(engine.observe(&mut una, &negative).is_err());
    assert_eq!(una, before);
    Ok(())
}

#[test]
fn a_pick_sent_at_once_is_sent_at_the_whole_second_of_now() -> TestResult {
    let engine = make_engine(
        r#"
        [[offers]]
        id = "coffee-club"
        categories = ["coffee"]
        "#,
    )?;
    let ledger = MemoryLedger::new();
    for (id, when) in [(1, now()), (2, now() + Duration::milliseconds(750))] {
        let decision = engine.decide(&emailable(id), &ledger, &email(1), when)?;
        let pick = decision.picks.first().ok_or("a pick")?;
        assert_eq!(pick.send_at, now(), "{when}");
        assert_eq!(pick.send_at, pick.reservation.send_at());
    }
    Ok(())
}

/// Removes every `"binding"` key of a stored customer, as one stored before summaries kept
/// their names' numbers.
fn strip_bindings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("binding");
            map.values_mut().for_each(strip_bindings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_bindings),
        _ => {}
    }
}

#[test]
fn a_customer_is_decided_alike_whichever_policy_their_events_were_observed_under() -> TestResult {
    let offers = r#"
        [[offers]]
        id = "kettle-deal"
        categories = ["tea"]
        product = "kettle"
        value = 30.0

        [[offers]]
        id = "tea-club"
        categories = ["tea"]

        [[offers]]
        id = "coffee-club"
        categories = ["coffee"]

        [[offers]]
        id = "cake-and-tea"
        categories = ["cake", "tea"]
        product = "mug"
    "#;
    let engine = make_engine(offers)?;
    // Another policy: the same names in another order, and one more of each.
    let other = make_engine(
        r#"
        [[offers]]
        id = "scones"
        categories = ["scones", "cake"]
        product = "mug"

        [[offers]]
        id = "grinder"
        categories = ["coffee", "tea"]
        product = "grinder"

        [[offers]]
        id = "kettle"
        categories = ["tea"]
        product = "kettle"
        "#,
    )?;
    let events = [
        Event::Purchase {
            at: now() - Duration::days(2),
            category: "tea".into(),
            product: Some("kettle".into()),
            amount: 40.0,
        },
        purchase(now() - Duration::days(20), "tea", 5.0),
        purchase(now() - Duration::days(9), "coffee", 5.0),
        Event::Purchase {
            at: now() - Duration::days(90),
            category: "cake".into(),
            product: Some("mug".into()),
            amount: 12.0,
        },
        Event::View {
            at: now() - Duration::days(1),
            category: "biscuits".into(),
        },
    ];
    let (mut here, mut elsewhere) = (emailable(1), emailable(1));
    for event in &events {
        engine.observe(&mut here, event)?;
        other.observe(&mut elsewhere, event)?;
    }
    let stored = serde_json::to_string(&here)?;
    assert!(stored.contains("binding"), "{stored}");
    let mut old = serde_json::to_value(&here)?;
    strip_bindings(&mut old);
    let before_numbers: Customer = serde_json::from_value(old)?;
    let read_back: Customer = serde_json::from_str(&stored)?;
    // Through a store that sorts object keys: the names come back in another order.
    let sorted: Customer = serde_json::from_value(serde_json::to_value(&here)?)?;

    let decide =
        |customer: &Customer| engine.decide(customer, &MemoryLedger::new(), &email(4), now());
    let expected = decide(&before_numbers)?;
    // The kettle was just bought, the mug long ago; cake and tea together outscore tea alone,
    // which then waits behind them in its category.
    assert!(matches!(
        stop_of(&expected, "kettle-deal"),
        Some(Stop::JustBought { .. })
    ));
    assert!(matches!(
        stop_of(&expected, "tea-club"),
        Some(Stop::SameCategory { .. })
    ));
    assert_eq!(picked(&expected), ["cake-and-tea", "coffee-club"]);
    let expected = serde_json::to_string(&expected)?;
    for (who, customer) in [
        ("observed under the engine's policy", &here),
        ("read back with its numbers", &read_back),
        ("read back with its names in another order", &sorted),
        ("observed under another policy", &elsewhere),
    ] {
        assert_eq!(
            serde_json::to_string(&decide(customer)?)?,
            expected,
            "{who}"
        );
    }
    Ok(())
}
