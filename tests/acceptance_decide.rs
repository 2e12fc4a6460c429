//! Black-box acceptance tests for `Engine::decide` (issue #3), written from the issue's promises,
//! the README ("Personalization: `Engine::decide`") and the public API docs only. Expected
//! values are worked out from those documents (score formula and default weights in the README,
//! the order of checks, the meaning of each `Stop`), never from the implementation.

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cornershop::{
    Channel, Consent, ContactLedger, Customer, Decision, Engine, Event, Features, FeedbackTarget,
    FrequencyPreference, MemoryLedger, MessageClass, Policy, Reason, RecordedContact, Request,
    Response, Score, Scorer, Stop, Verdict, Window,
};
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Tuesday 2026-11-24 10:00 UTC.
fn now() -> DateTime<Utc> {
    at(2026, 11, 24, 10, 0)
}

fn engine(toml: &str) -> Engine {
    Engine::new(
        Policy::from_toml_str(toml)
            .expect("policy parses")
            .compile()
            .expect("policy compiles"),
    )
}

fn emailable(id: u64) -> Customer {
    Customer::new(id).with_consent(Channel::Email, Consent::OptedIn)
}

fn email(picks: usize) -> Request {
    Request::marketing([Channel::Email], picks)
}

fn picked(decision: &Decision) -> Vec<&str> {
    decision.picked_offers().collect()
}

fn stop_of(decision: &Decision, offer: &str) -> Option<Stop> {
    decision
        .candidate(offer)
        .unwrap_or_else(|| panic!("{offer} missing from the trace:\n{decision}"))
        .stop
}

fn score_of(decision: &Decision, offer: &str) -> Score {
    decision
        .candidate(offer)
        .and_then(|c| c.score)
        .unwrap_or_else(|| panic!("{offer} was not scored:\n{decision}"))
}

fn part(score: &Score, name: &str) -> Option<f64> {
    score
        .contributions
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.value)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn purchase(at: DateTime<Utc>, category: &str, product: Option<&str>) -> Event {
    Event::Purchase {
        at,
        category: category.into(),
        product: product.map(Into::into),
        amount: 10.0,
    }
}

fn view(at: DateTime<Utc>, category: &str) -> Event {
    Event::View {
        at,
        category: category.into(),
    }
}

fn dismissal(at: DateTime<Utc>, offer: &str) -> Event {
    Event::Feedback {
        at,
        target: FeedbackTarget::Offer(offer.into()),
        positive: false,
    }
}

fn marketing_contact(
    ledger: &MemoryLedger,
    engine: &Engine,
    id: u64,
    at: DateTime<Utc>,
    key: &str,
) {
    ledger
        .record(
            engine.policy(),
            id.into(),
            RecordedContact {
                at,
                channel: Channel::Email,
                class: MessageClass::Marketing,
                topic: None,
                key,
            },
        )
        .expect("record");
}

fn throttled_until(stop: &Option<Stop>) -> Option<DateTime<Utc>> {
    match stop {
        Some(Stop::Throttled {
            verdict: Verdict::Deferred { until, .. },
            ..
        }) => Some(*until),
        _ => None,
    }
}

fn throttled_reasons(stop: &Option<Stop>) -> Vec<Reason> {
    match stop {
        Some(Stop::Throttled { verdict, .. }) => verdict.reasons().to_vec(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Selection: diversity, k picks, fallback, ties, outscored.
// ---------------------------------------------------------------------------------------------

const TWO_SHOES_ONE_COFFEE: &str = r#"
    [[offers]]
    id = "boots"
    categories = ["footwear"]
    value = 50.0

    [[offers]]
    id = "sneakers"
    categories = ["footwear"]
    value = 40.0

    [[offers]]
    id = "beans"
    categories = ["coffee"]
    value = 10.0
"#;

#[test]
fn diversity_never_picks_two_offers_of_one_category() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let ledger = MemoryLedger::new();
    // The two footwear offers score highest; k = 2 must still take only one of them.
    let decision = engine.decide(&emailable(1), &ledger, &email(2), now())?;
    assert_eq!(picked(&decision), ["boots", "beans"], "{decision}");
    assert_eq!(
        stop_of(&decision, "sneakers"),
        Some(Stop::SameCategory {
            category: "footwear".into(),
            by: "boots".into()
        }),
        "{decision}"
    );
    // Even asking for three: the third pick does not come from the same category.
    let decision = engine.decide(&emailable(2), &ledger, &email(3), now())?;
    assert_eq!(picked(&decision), ["boots", "beans"], "{decision}");
    Ok(())
}

#[test]
fn diversity_limit_is_configurable() -> TestResult {
    let engine = engine(&format!(
        "{TWO_SHOES_ONE_COFFEE}\n[selection]\nmax_per_category = 2\n"
    ));
    let ledger = MemoryLedger::new();
    let decision = engine.decide(&emailable(1), &ledger, &email(2), now())?;
    assert_eq!(picked(&decision), ["boots", "sneakers"], "{decision}");
    assert_eq!(
        stop_of(&decision, "beans"),
        Some(Stop::Outscored {
            by: "sneakers".into()
        }),
        "{decision}"
    );
    Ok(())
}

#[test]
fn asking_for_more_picks_than_qualify_returns_what_qualifies() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "vip-only"
        categories = ["a"]
        value = 90.0
        eligibility = { segment = "vip" }

        [[offers]]
        id = "shoes"
        categories = ["footwear"]
        value = 80.0

        [[offers]]
        id = "tea"
        categories = ["tea"]
        value = 1.0
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1).with_never_category("footwear");
    let decision = engine.decide(&customer, &ledger, &email(5), now())?;
    assert_eq!(picked(&decision), ["tea"], "{decision}");
    assert_eq!(decision.picks.len(), 1);
    assert!(matches!(
        stop_of(&decision, "vip-only"),
        Some(Stop::Ineligible { .. })
    ));
    assert_eq!(
        stop_of(&decision, "shoes"),
        Some(Stop::NeverCategory {
            category: "footwear".into()
        })
    );
    Ok(())
}

const WITH_FALLBACK: &str = r#"
    [[offers]]
    id = "regular"
    categories = ["coffee"]
    value = 1.0
    eligibility = { segment = "coffee-lover" }

    [[offers]]
    id = "other"
    categories = ["tea"]
    value = 1.0
    eligibility = { segment = "tea-lover" }

    [[offers]]
    id = "welcome"
    categories = ["general"]
    value = 500.0
    fallback = true
"#;

#[test]
fn fallback_is_used_only_when_nothing_else_qualifies() -> TestResult {
    let engine = engine(WITH_FALLBACK);
    let ledger = MemoryLedger::new();

    // A regular offer qualifies: the fallback stays out even though it scores far higher, and
    // even though the request has room for a second pick.
    let lover = emailable(1).with_segment("coffee-lover");
    let decision = engine.decide(&lover, &ledger, &email(2), now())?;
    assert_eq!(picked(&decision), ["regular"], "{decision}");
    assert_eq!(
        stop_of(&decision, "welcome"),
        Some(Stop::FallbackNotNeeded),
        "{decision}"
    );

    // Nothing regular qualifies: the fallback goes out.
    let stranger = emailable(2);
    let decision = engine.decide(&stranger, &ledger, &email(2), now())?;
    assert_eq!(picked(&decision), ["welcome"], "{decision}");
    assert!(matches!(
        stop_of(&decision, "regular"),
        Some(Stop::Ineligible { .. })
    ));
    Ok(())
}

#[test]
fn fallback_is_used_when_the_regular_offers_are_capped() -> TestResult {
    // "Fallback offers are used only when nothing else was picked": a regular offer that is
    // eligible but held back by its own cap is not picked, so the fallback is.
    let engine = engine(
        r#"
        [[offers]]
        id = "regular"
        categories = ["coffee"]
        value = 10.0
        cap = { limit = 1, window = "30d" }

        [[offers]]
        id = "welcome"
        categories = ["general"]
        fallback = true
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["regular"], "{first}");
    ledger.commit(&first.picks[0].reservation)?;

    let later = now() + Duration::days(2);
    let second = engine.decide(&customer, &ledger, &email(1), later)?;
    assert!(matches!(
        stop_of(&second, "regular"),
        Some(Stop::Throttled { .. })
    ));
    assert_eq!(picked(&second), ["welcome"], "{second}");
    Ok(())
}

#[test]
fn equal_scores_go_to_the_offer_written_first_not_the_first_by_name() -> TestResult {
    let zeta_first = r#"
        [[offers]]
        id = "zeta"
        categories = ["z"]
        value = 10.0

        [[offers]]
        id = "alpha"
        categories = ["a"]
        value = 10.0
    "#;
    let alpha_first = r#"
        [[offers]]
        id = "alpha"
        categories = ["a"]
        value = 10.0

        [[offers]]
        id = "zeta"
        categories = ["z"]
        value = 10.0
    "#;
    for (policy, winner, loser) in [
        (zeta_first, "zeta", "alpha"),
        (alpha_first, "alpha", "zeta"),
    ] {
        let engine = engine(policy);
        for round in 0..3 {
            let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(1), now())?;
            assert_eq!(picked(&decision), [winner], "round {round}:\n{decision}");
            assert_eq!(
                stop_of(&decision, loser),
                Some(Stop::Outscored { by: winner.into() })
            );
            assert!(close(
                score_of(&decision, winner).total,
                score_of(&decision, loser).total
            ));
        }
    }
    Ok(())
}

#[test]
fn picks_come_best_first_and_the_rest_are_outscored_by_the_lowest_pick() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "c"
        categories = ["c"]
        value = 10.0

        [[offers]]
        id = "a"
        categories = ["a"]
        value = 30.0

        [[offers]]
        id = "d"
        categories = ["d"]
        value = 5.0

        [[offers]]
        id = "b"
        categories = ["b"]
        value = 20.0
    "#,
    );
    let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(2), now())?;
    assert_eq!(picked(&decision), ["a", "b"], "{decision}");
    assert!(decision.picks[0].score > decision.picks[1].score);
    assert_eq!(
        stop_of(&decision, "c"),
        Some(Stop::Outscored { by: "b".into() })
    );
    assert_eq!(
        stop_of(&decision, "d"),
        Some(Stop::Outscored { by: "b".into() })
    );
    for pick in &decision.picks {
        assert_eq!(pick.send_at, now());
        assert_eq!(pick.reservation.send_at(), now());
        assert_eq!(pick.channel, Channel::Email);
        assert_eq!(pick.reservation.channel(), Channel::Email);
        assert_eq!(pick.reservation.class(), MessageClass::Marketing);
        let offer = pick
            .offer
            .as_deref()
            .expect("marketing picks name their offer");
        assert!(close(pick.score, score_of(&decision, offer).total));
    }
    assert_ne!(decision.picks[0].reservation, decision.picks[1].reservation);
    Ok(())
}

#[test]
fn every_pick_is_reserved_so_a_shared_cap_limits_one_decision() -> TestResult {
    // A cap of one marketing email a week: asked for two picks, the decision can reserve only
    // one; the second candidate is held back by the first pick's reservation.
    let engine = engine(
        r#"
        [[caps]]
        channel = "email"
        limit = 1
        window = "7d"

        [[offers]]
        id = "a"
        categories = ["a"]
        value = 20.0

        [[offers]]
        id = "b"
        categories = ["b"]
        value = 10.0
    "#,
    );
    let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(2), now())?;
    assert_eq!(picked(&decision), ["a"], "{decision}");
    let stop = stop_of(&decision, "b");
    assert_eq!(
        throttled_until(&stop),
        Some(now() + Duration::days(7)),
        "{decision}"
    );
    assert!(throttled_reasons(&stop).iter().any(|r| matches!(
        r,
        Reason::CapReached { frees_at, limit: 1, .. } if *frees_at == now() + Duration::days(7)
    )));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// "No offer for what they just bought".
// ---------------------------------------------------------------------------------------------

const GRINDER: &str = r#"
    [[offers]]
    id = "grinder-deal"
    categories = ["kitchen"]
    product = "grinder"
    value = 50.0

    [[offers]]
    id = "tea"
    categories = ["tea"]
    value = 1.0
"#;

#[test]
fn a_product_just_bought_is_not_offered() -> TestResult {
    let engine = engine(GRINDER);
    let ledger = MemoryLedger::new();
    let bought_at = now() - Duration::days(3);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &purchase(bought_at, "kitchen", Some("grinder")),
    )?;
    let decision = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["tea"], "{decision}");
    assert_eq!(
        stop_of(&decision, "grinder-deal"),
        Some(Stop::JustBought {
            product: "grinder".into(),
            at: bought_at
        })
    );

    // The default window is 30 days: bought 31 days ago is not "just".
    let mut old_buyer = emailable(2);
    engine.observe(
        &mut old_buyer,
        &purchase(now() - Duration::days(31), "kitchen", Some("grinder")),
    )?;
    let decision = engine.decide(&old_buyer, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["grinder-deal"], "{decision}");

    // A purchase in the same category of another product does not count.
    let mut other = emailable(3);
    engine.observe(&mut other, &purchase(bought_at, "kitchen", Some("kettle")))?;
    let decision = engine.decide(&other, &ledger, &email(1), now())?;
    assert_eq!(picked(&decision), ["grinder-deal"], "{decision}");
    Ok(())
}

#[test]
fn the_just_bought_window_is_configurable() -> TestResult {
    let bought_at = now() - Duration::days(3);
    for (selection, skipped) in [
        ("skip_bought_within = \"\"", false),
        ("skip_bought_within = \"2d\"", false),
        ("skip_bought_within = \"4d\"", true),
    ] {
        let engine = engine(&format!("{GRINDER}\n[selection]\n{selection}\n"));
        let mut customer = emailable(1);
        engine.observe(
            &mut customer,
            &purchase(bought_at, "kitchen", Some("grinder")),
        )?;
        let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
        let stop = stop_of(&decision, "grinder-deal");
        assert_eq!(
            matches!(stop, Some(Stop::JustBought { .. })),
            skipped,
            "{selection}:\n{decision}"
        );
        assert_eq!(
            picked(&decision),
            [if skipped { "tea" } else { "grinder-deal" }]
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Per-offer caps and reservations: commit, release, neither.
// ---------------------------------------------------------------------------------------------

const CAPPED: &str = r#"
    [[offers]]
    id = "monthly"
    categories = ["coffee"]
    value = 50.0
    cap = { limit = 1, window = "30d" }

    [[offers]]
    id = "filler"
    categories = ["tea"]
    value = 1.0
"#;

#[test]
fn a_committed_pick_caps_its_offer_for_thirty_days() -> TestResult {
    let engine = engine(CAPPED);
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["monthly"], "{first}");
    assert!(ledger.commit(&first.picks[0].reservation)?);

    let day_later = now() + Duration::days(1);
    let second = engine.decide(&customer, &ledger, &email(1), day_later)?;
    assert_eq!(picked(&second), ["filler"], "{second}");
    let stop = stop_of(&second, "monthly");
    assert_eq!(
        throttled_until(&stop),
        Some(now() + Duration::days(30)),
        "{second}"
    );
    assert!(throttled_reasons(&stop).iter().any(|r| matches!(
        r,
        Reason::CapReached { frees_at, .. } if *frees_at == now() + Duration::days(30)
    )));
    ledger.release(&second.picks[0].reservation)?;

    // One second before the month is up: deferred to the second the slot frees (within the
    // request's default one-day delay), never before it. At the month: offered now.
    let month = now() + Duration::days(30);
    let almost = month - Duration::seconds(1);
    let third = engine.decide(&customer, &ledger, &email(1), almost)?;
    assert_eq!(picked(&third), ["monthly"], "{third}");
    assert_eq!(third.picks[0].send_at, month, "{third}");
    ledger.release(&third.picks[0].reservation)?;
    let fourth = engine.decide(&customer, &ledger, &email(1), month)?;
    assert_eq!(picked(&fourth), ["monthly"], "{fourth}");
    assert_eq!(fourth.picks[0].send_at, month, "{fourth}");

    // The cap is per customer: someone else gets the offer meanwhile.
    let other = engine.decide(&emailable(2), &ledger, &email(1), day_later)?;
    assert_eq!(picked(&other), ["monthly"], "{other}");
    Ok(())
}

#[test]
fn a_released_pick_does_not_cap_its_offer() -> TestResult {
    let engine = engine(CAPPED);
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["monthly"]);
    assert!(ledger.release(&first.picks[0].reservation)?);
    let again = engine.decide(&customer, &ledger, &email(1), now() + Duration::hours(1))?;
    assert_eq!(picked(&again), ["monthly"], "{again}");
    Ok(())
}

#[test]
fn a_reservation_neither_committed_nor_released_counts_as_sent() -> TestResult {
    let engine = engine(CAPPED);
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["monthly"]);
    // Left unsettled (the sender crashed, say).
    let later = now() + Duration::days(3);
    let second = engine.decide(&customer, &ledger, &email(1), later)?;
    assert_eq!(picked(&second), ["filler"], "{second}");
    assert_eq!(
        throttled_until(&stop_of(&second, "monthly")),
        Some(now() + Duration::days(30)),
        "{second}"
    );
    Ok(())
}

#[test]
fn a_committed_reservation_cannot_be_released() -> TestResult {
    let engine = engine(CAPPED);
    let ledger = MemoryLedger::new();
    let first = engine.decide(&emailable(1), &ledger, &email(1), now())?;
    let reservation = &first.picks[0].reservation;
    assert!(ledger.commit(reservation)?);
    assert!(
        ledger.commit(reservation).is_ok(),
        "committing twice is harmless"
    );
    assert!(ledger.release(reservation).is_err());
    let second = engine.decide(&emailable(1), &ledger, &email(1), now() + Duration::days(1))?;
    assert_eq!(picked(&second), ["filler"], "{second}");
    Ok(())
}

#[test]
fn concurrent_decisions_never_both_take_the_last_slot() -> TestResult {
    let engine = engine(CAPPED);
    for round in 0..40u64 {
        let ledger = MemoryLedger::new();
        let customer = emailable(round);
        let results: Vec<Decision> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| s.spawn(|| engine.decide(&customer, &ledger, &email(1), now()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let monthly = results.iter().filter(|d| picked(d) == ["monthly"]).count();
        assert_eq!(monthly, 1, "round {round}: the offer's cap is one");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cooldowns after dismissal / negative feedback.
// ---------------------------------------------------------------------------------------------

const COOLING: &str = r#"
    [[offers]]
    id = "default-rest"
    categories = ["a"]
    value = 300.0

    [[offers]]
    id = "short-rest"
    categories = ["b"]
    value = 200.0
    cooldown = "3d"

    [[offers]]
    id = "filler"
    categories = ["c"]
    value = 1.0
"#;

#[test]
fn a_dismissed_offer_rests_for_its_cooldown() -> TestResult {
    let engine = engine(COOLING);
    let dismissed = now() - Duration::days(2);
    let mut customer = emailable(1);
    engine.observe(&mut customer, &dismissal(dismissed, "default-rest"))?;
    engine.observe(&mut customer, &dismissal(dismissed, "short-rest"))?;

    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&decision), ["filler"], "{decision}");
    // Default `selection.cooldown` is 14 days; the offer's own says 3.
    assert_eq!(
        stop_of(&decision, "default-rest"),
        Some(Stop::Cooldown {
            until: dismissed + Duration::days(14)
        })
    );
    assert_eq!(
        stop_of(&decision, "short-rest"),
        Some(Stop::Cooldown {
            until: dismissed + Duration::days(3)
        })
    );

    // Four days after the dismissal the short rest is over (scored, with a penalty for the
    // negative feedback), the default one is not.
    let later = dismissed + Duration::days(4);
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), later)?;
    assert_eq!(picked(&decision), ["short-rest"], "{decision}");
    let penalty = part(&score_of(&decision, "short-rest"), "negative feedback");
    assert!(penalty.is_some_and(|p| p < 0.0), "{decision}");
    assert!(matches!(
        stop_of(&decision, "default-rest"),
        Some(Stop::Cooldown { .. })
    ));
    Ok(())
}

#[test]
fn the_policy_cooldown_is_configurable() -> TestResult {
    let engine = engine(&format!("{COOLING}\n[selection]\ncooldown = \"1d\"\n"));
    let dismissed = now() - Duration::hours(12);
    let mut customer = emailable(1);
    engine.observe(&mut customer, &dismissal(dismissed, "default-rest"))?;
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(
        stop_of(&decision, "default-rest"),
        Some(Stop::Cooldown {
            until: dismissed + Duration::days(1)
        })
    );
    let decision = engine.decide(
        &customer,
        &MemoryLedger::new(),
        &email(1),
        dismissed + Duration::days(1),
    )?;
    assert_eq!(picked(&decision), ["default-rest"], "{decision}");
    assert!(
        score_of(&decision, "default-rest").total < 6.0,
        "still penalised"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Open complaints.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_open_complaint_stops_all_marketing_until_resolved() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let ledger = MemoryLedger::new();
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &Event::ComplaintOpened {
            at: now() - Duration::days(1),
            id: "K-7".into(),
        },
    )?;
    let decision = engine.decide(&customer, &ledger, &email(2), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    assert_eq!(decision.open_complaints, ["K-7"]);
    assert_eq!(decision.trace.len(), 3);
    assert!(decision
        .trace
        .iter()
        .all(|c| c.stop == Some(Stop::OpenComplaint)));
    assert!(decision.to_string().contains("complaint"), "{decision}");

    // A reply to the customer's question still goes out.
    let reply = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now(),
    )?;
    assert_eq!(reply.picks.len(), 1, "{reply}");

    engine.observe(
        &mut customer,
        &Event::ComplaintResolved {
            at: now(),
            id: "K-7".into(),
        },
    )?;
    let decision = engine.decide(&customer, &ledger, &email(2), now() + Duration::minutes(1))?;
    assert!(decision.open_complaints.is_empty());
    assert_eq!(picked(&decision), ["boots", "beans"], "{decision}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Service and transactional paths.
// ---------------------------------------------------------------------------------------------

const STRICT: &str = r#"
    [[caps]]
    limit = 1
    window = "7d"

    [[quiet_hours]]
    start = "21:00"
    end = "08:00"
    channels = ["email", "sms", "push", "in_app", "phone", "post", "messaging"]

    [[offers]]
    id = "a"
    categories = ["a"]
    value = 10.0
"#;

fn exhaust_marketing(engine: &Engine, ledger: &MemoryLedger, customer: &Customer) {
    let decision = engine
        .decide(customer, ledger, &email(1), now() - Duration::days(1))
        .unwrap();
    assert_eq!(picked(&decision), ["a"], "{decision}");
    ledger.commit(&decision.picks[0].reservation).unwrap();
    let capped = engine.decide(customer, ledger, &email(1), now()).unwrap();
    assert!(capped.picks.is_empty(), "{capped}");
}

#[test]
fn a_service_reply_goes_out_despite_exhausted_marketing_caps() -> TestResult {
    let engine = engine(STRICT);
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    exhaust_marketing(&engine, &ledger, &customer);
    let reply = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now(),
    )?;
    assert_eq!(reply.class, MessageClass::Service);
    assert_eq!(reply.picks.len(), 1, "{reply}");
    let pick = &reply.picks[0];
    assert_eq!(pick.offer, None);
    assert_eq!(pick.channel, Channel::Email);
    assert_eq!(pick.send_at, now());
    assert_eq!(pick.reservation.class(), MessageClass::Service);
    assert!(!reply.no_channel);
    // Committing is fine (whether the ledger keeps it depends on a service rule counting it).
    ledger.commit(&pick.reservation)?;

    // And a second reply right after: marketing caps never count against service.
    let again = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now() + Duration::minutes(1),
    )?;
    assert_eq!(again.picks.len(), 1, "{again}");
    Ok(())
}

#[test]
fn a_service_reply_ignores_marketing_quiet_hours_consent_and_do_not_contact() -> TestResult {
    let engine = engine(STRICT);
    let ledger = MemoryLedger::new();
    let late = at(2026, 11, 24, 23, 30); // 23:30 UTC, the policy's zone: quiet hours
    let customers = [
        Customer::new(1),                                              // consent unknown
        Customer::new(2).with_consent(Channel::Sms, Consent::OptedIn), // no email consent
        emailable(3).with_do_not_contact(true),                        // do-not-contact
        Customer::new(4).with_marketing_snoozed_until(late + Duration::days(9)),
        Customer::new(5).with_unsubscribed_topic("a"),
    ];
    for customer in &customers {
        let reply = engine.decide(customer, &ledger, &Request::service([Channel::Email]), late)?;
        assert_eq!(reply.picks.len(), 1, "customer {}:\n{reply}", customer.id);
        assert_eq!(reply.picks[0].channel, Channel::Email);
        assert_eq!(
            reply.picks[0].send_at, late,
            "not deferred past quiet hours"
        );
        // Marketing at the same moment is stopped for every one of them.
        let marketing = engine.decide(customer, &ledger, &email(1), late)?;
        assert!(marketing.picks.is_empty(), "{marketing}");
    }
    Ok(())
}

#[test]
fn a_service_reply_goes_only_on_a_requested_channel_not_opted_out() -> TestResult {
    let engine = engine(STRICT);
    let ledger = MemoryLedger::new();
    let customer = Customer::new(1)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_preferred_channel(Channel::Push);
    // The first requested channel the customer has not opted out of.
    let reply = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email, Channel::Sms, Channel::Push]),
        now(),
    )?;
    assert_eq!(reply.picks.len(), 1, "{reply}");
    assert_eq!(reply.picks[0].channel, Channel::Sms, "{reply}");
    // Only the opted-out channel offered: nothing goes out, and the decision says so.
    let none = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now(),
    )?;
    assert!(none.picks.is_empty(), "{none}");
    assert!(none.no_channel, "{none}");
    Ok(())
}

#[test]
fn service_rules_of_the_policy_itself_can_hold_a_reply_back_and_replies_are_recorded() -> TestResult
{
    let engine = engine(
        r#"
        [[caps]]
        class = "service"
        limit = 1
        window = "24h"

        [[caps]]
        limit = 1
        window = "24h"

        [[offers]]
        id = "a"
        categories = ["a"]
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now(),
    )?;
    assert_eq!(first.picks.len(), 1, "{first}");
    ledger.commit(&first.picks[0].reservation)?;
    // The reply was recorded: the service cap now holds back a second one (not deferred).
    let second = engine.decide(
        &customer,
        &ledger,
        &Request::service([Channel::Email]),
        now() + Duration::hours(1),
    )?;
    assert!(second.picks.is_empty(), "{second}");
    // A service reply does not count against the marketing cap.
    let marketing = engine.decide(&customer, &ledger, &email(1), now() + Duration::hours(1))?;
    assert_eq!(picked(&marketing), ["a"], "{marketing}");
    Ok(())
}

#[test]
fn transactional_messages_ignore_marketing_rules_but_not_do_not_contact() -> TestResult {
    let engine = engine(STRICT);
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    exhaust_marketing(&engine, &ledger, &customer);
    let late = at(2026, 11, 24, 23, 30);
    let receipt = engine.decide(
        &Customer::new(1),
        &ledger,
        &Request::transactional([Channel::Email]),
        late,
    )?;
    assert_eq!(receipt.picks.len(), 1, "{receipt}");
    assert_eq!(receipt.picks[0].send_at, late);
    assert_eq!(
        receipt.picks[0].reservation.class(),
        MessageClass::Transactional
    );

    let dnc = Customer::new(2).with_do_not_contact(true);
    let refused = engine.decide(
        &dnc,
        &ledger,
        &Request::transactional([Channel::Email]),
        late,
    )?;
    assert!(refused.picks.is_empty(), "{refused}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Consent and the customer's own choices.
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_consent_means_no_marketing() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let decision = engine.decide(&Customer::new(1), &MemoryLedger::new(), &email(2), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    assert_eq!(decision.trace.len(), 3);
    for candidate in &decision.trace {
        assert_eq!(
            candidate.stop,
            Some(Stop::NoConsent {
                channels: vec![Channel::Email]
            }),
            "{decision}"
        );
    }
    // Opted out is no better.
    let out = Customer::new(2).with_consent(Channel::Email, Consent::OptedOut);
    let decision = engine.decide(&out, &MemoryLedger::new(), &email(2), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    Ok(())
}

#[test]
fn marketing_goes_on_a_consented_channel_among_those_requested() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let customer = Customer::new(1).with_consent(Channel::Sms, Consent::OptedIn);
    let request = Request::marketing([Channel::Email, Channel::Sms], 1);
    let decision = engine.decide(&customer, &MemoryLedger::new(), &request, now())?;
    assert_eq!(picked(&decision), ["boots"], "{decision}");
    assert_eq!(decision.picks[0].channel, Channel::Sms);
    // Consent on a channel the caller did not offer does not help.
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    Ok(())
}

#[test]
fn an_unsubscribe_response_turns_marketing_off_on_that_channel() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &Event::Response {
            at: now() - Duration::hours(1),
            channel: Channel::Email,
            offer: None,
            response: Response::Unsubscribed,
        },
    )?;
    assert_eq!(customer.consents.get(Channel::Email), Consent::OptedOut);
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    Ok(())
}

#[test]
fn do_not_contact_stops_every_offer() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let customer = emailable(1).with_do_not_contact(true);
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    assert!(decision
        .trace
        .iter()
        .all(|c| c.stop == Some(Stop::DoNotContact)));
    Ok(())
}

#[test]
fn a_topic_unsubscribe_stops_only_offers_on_that_topic() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "weekly-news"
        categories = ["news"]
        topic = "newsletter"
        value = 90.0

        [[offers]]
        id = "boots"
        categories = ["footwear"]
        value = 50.0

        [[offers]]
        id = "beans"
        categories = ["coffee"]
        value = 10.0
    "#,
    );
    // An offer without a topic counts under its id.
    let customer = emailable(1)
        .with_unsubscribed_topic("newsletter")
        .with_unsubscribed_topic("boots");
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(picked(&decision), ["beans"], "{decision}");
    assert_eq!(
        stop_of(&decision, "weekly-news"),
        Some(Stop::Unsubscribed {
            topic: "newsletter".into()
        })
    );
    assert_eq!(
        stop_of(&decision, "boots"),
        Some(Stop::Unsubscribed {
            topic: "boots".into()
        })
    );
    Ok(())
}

#[test]
fn a_marketing_snooze_holds_offers_until_it_ends() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    // A long snooze: beyond the request's one-day deferral, so nothing is picked.
    let until = now() + Duration::days(5);
    let customer = emailable(1).with_marketing_snoozed_until(until);
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert!(decision.picks.is_empty(), "{decision}");
    let stop = stop_of(&decision, "boots");
    assert_eq!(throttled_until(&stop), Some(until), "{decision}");
    assert!(throttled_reasons(&stop)
        .iter()
        .any(|r| matches!(r, Reason::Snoozed { until: u } if *u == until)));

    // A short snooze: the pick is deferred to its end.
    let soon = now() + Duration::hours(2);
    let napper = emailable(2).with_marketing_snoozed_until(soon);
    let decision = engine.decide(&napper, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&decision), ["boots"], "{decision}");
    assert_eq!(decision.picks[0].send_at, soon);
    assert_eq!(decision.picks[0].reservation.send_at(), soon);
    Ok(())
}

#[test]
fn the_customers_own_frequency_preference_tightens_but_never_loosens_caps() -> TestResult {
    let policy = format!(
        "[[caps]]\nchannel = \"email\"\nlimit = 3\nwindow = \"7d\"\n{TWO_SHOES_ONE_COFFEE}"
    );
    let engine = engine(&policy);
    let once_a_month = FrequencyPreference {
        channel: Some(Channel::Email),
        limit: std::num::NonZeroU32::new(1).unwrap(),
        window: "30d".parse::<Window>()?,
    };
    let ledger = MemoryLedger::new();
    let picky = emailable(1).with_frequency_preference(once_a_month);
    let first = engine.decide(&picky, &ledger, &email(1), now())?;
    assert_eq!(first.picks.len(), 1, "{first}");
    ledger.commit(&first.picks[0].reservation)?;
    let second = engine.decide(&picky, &ledger, &email(1), now() + Duration::days(2))?;
    assert!(
        second.picks.is_empty(),
        "the customer asked for one a month:\n{second}"
    );
    assert!(second.trace.iter().any(|c| throttled_reasons(&c.stop)
        .iter()
        .any(|r| matches!(r, Reason::CapReached { .. }))));

    // A looser preference than the policy does not lift the policy's cap of three a week.
    let eager = emailable(2).with_frequency_preference(FrequencyPreference {
        channel: Some(Channel::Email),
        limit: std::num::NonZeroU32::new(4).unwrap(),
        window: "1d".parse::<Window>()?,
    });
    for i in 0..3 {
        let d = engine.decide(&eager, &ledger, &email(1), now() + Duration::hours(i))?;
        assert_eq!(d.picks.len(), 1, "{d}");
        ledger.commit(&d.picks[0].reservation)?;
    }
    let fourth = engine.decide(&eager, &ledger, &email(1), now() + Duration::days(2))?;
    assert!(fourth.picks.is_empty(), "{fourth}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Order of checks, validity, channels.
// ---------------------------------------------------------------------------------------------

#[test]
fn validity_window_and_channels_are_checked() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "future"
        categories = ["a"]
        value = 90.0
        valid_from = "2026-12-01T00:00:00Z"

        [[offers]]
        id = "past"
        categories = ["b"]
        value = 90.0
        valid_until = "2026-11-01T00:00:00Z"

        [[offers]]
        id = "push-only"
        categories = ["c"]
        value = 90.0
        channels = ["push"]

        [[offers]]
        id = "ok"
        categories = ["d"]
    "#,
    );
    let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(picked(&decision), ["ok"], "{decision}");
    assert_eq!(
        stop_of(&decision, "future"),
        Some(Stop::NotYetValid {
            from: at(2026, 12, 1, 0, 0)
        })
    );
    assert_eq!(
        stop_of(&decision, "past"),
        Some(Stop::Expired {
            until: at(2026, 11, 1, 0, 0)
        })
    );
    assert_eq!(stop_of(&decision, "push-only"), Some(Stop::NoChannel));
    // Once it starts, the future offer wins.
    let decision = engine.decide(
        &emailable(2),
        &MemoryLedger::new(),
        &email(1),
        at(2026, 12, 1, 10, 0),
    )?;
    assert_eq!(picked(&decision), ["future"], "{decision}");
    Ok(())
}

#[test]
fn the_first_failing_check_is_the_one_reported() -> TestResult {
    // One offer that fails several checks: "may we?" comes before "is it for them?".
    let engine = engine(
        r#"
        [[offers]]
        id = "x"
        categories = ["footwear"]
        valid_until = "2026-11-01T00:00:00Z"
        eligibility = { segment = "vip" }

        [[offers]]
        id = "y"
        categories = ["footwear"]
        eligibility = { segment = "vip" }
    "#,
    );
    let customer = Customer::new(1).with_never_category("footwear");
    let decision = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert!(matches!(
        stop_of(&decision, "x"),
        Some(Stop::Expired { .. })
    ));
    assert!(matches!(
        stop_of(&decision, "y"),
        Some(Stop::NoConsent { .. })
    ));
    let dnc = Customer::new(2).with_do_not_contact(true);
    let decision = engine.decide(&dnc, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(stop_of(&decision, "y"), Some(Stop::DoNotContact));
    let consenting = emailable(3).with_never_category("footwear");
    let decision = engine.decide(&consenting, &MemoryLedger::new(), &email(1), now())?;
    assert!(matches!(
        stop_of(&decision, "y"),
        Some(Stop::NeverCategory { .. })
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Eligibility rules as data.
// ---------------------------------------------------------------------------------------------

#[test]
fn eligibility_rules_select_who_an_offer_is_for() -> TestResult {
    let engine = engine(
        r#"
        [attributes]
        tier = "text"
        age = "number"
        diets = "list"
        member_since = "date"

        [[offers]]
        id = "gold-and-vip"
        categories = ["c0"]
        eligibility = { all = [ { segment = "vip" }, { attribute = "tier", equals = "gold" } ] }

        [[offers]]
        id = "silver-or-bronze"
        categories = ["c1"]
        eligibility = { attribute = "tier", in = ["silver", "bronze"] }

        [[offers]]
        id = "adults"
        categories = ["c2"]
        eligibility = { attribute = "age", at_least = 18, at_most = 65 }

        [[offers]]
        id = "vegan"
        categories = ["c3"]
        eligibility = { attribute = "diets", equals = "vegan" }

        [[offers]]
        id = "no-tier"
        categories = ["c4"]
        eligibility = { attribute = "tier", exists = false }

        [[offers]]
        id = "coffee-buyers"
        categories = ["c5"]
        eligibility = { bought = "coffee", within = "30d" }

        [[offers]]
        id = "tea-browsers"
        categories = ["c6"]
        eligibility = { viewed = "tea", within = "7d" }

        [[offers]]
        id = "birthday-soon"
        categories = ["c7"]
        eligibility = { moment = "birthday", within_days = 7 }

        [[offers]]
        id = "big-spenders"
        categories = ["c8"]
        eligibility = { lifetime_value_at_least = 100.0 }

        [[offers]]
        id = "not-vip"
        categories = ["c9"]
        eligibility = { not = { segment = "vip" } }

        [[offers]]
        id = "any-of"
        categories = ["c10"]
        eligibility = { any = [ { segment = "lapsed" }, { attribute = "age", at_most = 20 } ] }

        [[offers]]
        id = "old-members"
        categories = ["c11"]
        eligibility = { attribute = "member_since", at_most = "2020-01-01" }
    "#,
    );
    let ids = [
        "gold-and-vip",
        "silver-or-bronze",
        "adults",
        "vegan",
        "no-tier",
        "coffee-buyers",
        "tea-browsers",
        "birthday-soon",
        "big-spenders",
        "not-vip",
        "any-of",
        "old-members",
    ];
    let eligible = |d: &Decision| -> Vec<String> {
        d.trace
            .iter()
            .filter(|c| !matches!(c.stop, Some(Stop::Ineligible { .. })))
            .map(|c| c.offer.to_string())
            .collect()
    };
    let request = email(ids.len());

    // Customer A fits the first list.
    let mut a = emailable(1)
        .with_segment("vip")
        .with_attribute("tier", "gold")
        .with_attribute("age", 30.0)
        .with_attribute("diets", vec!["vegan".to_string(), "halal".to_string()])
        .with_attribute(
            "member_since",
            chrono::NaiveDate::from_ymd_opt(2019, 5, 1).unwrap(),
        )
        .with_birthday(11, 29);
    engine.observe(
        &mut a,
        &purchase(now() - Duration::days(10), "coffee", None),
    )?;
    engine.observe(&mut a, &view(now() - Duration::days(8), "tea"))?;
    let decision = engine.decide(&a, &MemoryLedger::new(), &request, now())?;
    assert_eq!(decision.trace.len(), ids.len());
    assert_eq!(
        eligible(&decision),
        [
            "gold-and-vip",
            "adults",
            "vegan",
            "coffee-buyers",
            "birthday-soon",
            "old-members"
        ],
        "{decision}"
    );
    let rule = |d: &Decision, offer: &str| match stop_of(d, offer) {
        Some(Stop::Ineligible { rule }) => rule,
        other => panic!("{offer}: {other:?}\n{d}"),
    };
    // `not` fails as a whole; the `all` of B fails on its second member.
    assert!(rule(&decision, "not-vip")
        .path
        .starts_with("offers[9].eligibility"));

    // Customer B fits the rest.
    let mut b = emailable(2)
        .with_segment("lapsed")
        .with_attribute("age", 17.0)
        .with_birthday(12, 24);
    for _ in 0..11 {
        engine.observe(&mut b, &purchase(now() - Duration::days(40), "other", None))?;
    }
    engine.observe(&mut b, &view(now() - Duration::days(2), "tea"))?;
    assert!(b.profile.summary.lifetime_value() >= 100.0);
    let decision = engine.decide(&b, &MemoryLedger::new(), &request, now())?;
    assert_eq!(
        eligible(&decision),
        [
            "no-tier",
            "tea-browsers",
            "big-spenders",
            "not-vip",
            "any-of"
        ],
        "{decision}"
    );
    let failed = rule(&decision, "gold-and-vip");
    assert_eq!(&*failed.path, "offers[0].eligibility.all[0]", "{decision}");
    let b_gold_not_vip = emailable(3).with_attribute("tier", "gold");
    let decision = engine.decide(&b_gold_not_vip, &MemoryLedger::new(), &request, now())?;
    assert_eq!(
        &*rule(&decision, "gold-and-vip").path,
        "offers[0].eligibility.all[0]"
    );
    let vip_silver = emailable(4)
        .with_segment("vip")
        .with_attribute("tier", "silver");
    let decision = engine.decide(&vip_silver, &MemoryLedger::new(), &request, now())?;
    let failed = rule(&decision, "gold-and-vip");
    assert_eq!(&*failed.path, "offers[0].eligibility.all[1]", "{decision}");
    assert!(failed.rule.contains("tier"), "{}", failed.rule);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scoring contributions.
// ---------------------------------------------------------------------------------------------

const SCORED: &str = r#"
    [[offers]]
    id = "coffee"
    categories = ["coffee"]
    value = 25.0
    priority = 0.5

    [[offers]]
    id = "cake"
    categories = ["bakery"]
    moment = "birthday"

    [[offers]]
    id = "plain"
    categories = ["plain"]
"#;

#[test]
fn value_and_priority_contributions_follow_the_weights() -> TestResult {
    let engine = engine(SCORED);
    let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(3), now())?;
    let coffee = score_of(&decision, "coffee");
    assert!(
        close(part(&coffee, "value").unwrap_or(f64::NAN), 0.02 * 25.0),
        "{coffee:?}"
    );
    assert!(
        close(part(&coffee, "priority").unwrap_or(f64::NAN), 0.5),
        "{coffee:?}"
    );
    assert!(close(coffee.total, 1.0), "{coffee:?}");
    // Zero parts are left out: a bare offer has no contributions and scores 0.
    let plain = score_of(&decision, "plain");
    assert!(plain.contributions.is_empty(), "{plain:?}");
    assert_eq!(plain.total, 0.0);

    // Weights come from `[scoring]`.
    let engine = self::engine(&format!(
        "{SCORED}\n[scoring]\nvalue = 0.1\npriority = 4.0\n"
    ));
    let decision = engine.decide(&emailable(1), &MemoryLedger::new(), &email(3), now())?;
    let coffee = score_of(&decision, "coffee");
    assert!(close(coffee.total, 2.5 + 2.0), "{coffee:?}");
    Ok(())
}

#[test]
fn affinity_grows_with_purchases_and_views_and_decays_with_time() -> TestResult {
    let engine = engine(SCORED);
    let affinity = |customer: &Customer| -> f64 {
        let d = engine
            .decide(customer, &MemoryLedger::new(), &email(3), now())
            .unwrap();
        part(&score_of(&d, "coffee"), "affinity").unwrap_or(0.0)
    };
    let mut fresh = emailable(1);
    engine.observe(&mut fresh, &purchase(now(), "coffee", None))?;
    assert!(close(affinity(&fresh), 2f64.ln()));

    // Two half-lives (60 days at the default 30) leave a quarter of a purchase...
    let mut old = emailable(2);
    engine.observe(
        &mut old,
        &purchase(now() - Duration::days(60), "coffee", None),
    )?;
    assert!(close(affinity(&old), 1.25f64.ln()), "{}", affinity(&old));
    // ...which is what one view today is worth (view_signal 0.25).
    let mut viewer = emailable(3);
    engine.observe(&mut viewer, &view(now(), "coffee"))?;
    assert!(close(affinity(&viewer), 1.25f64.ln()));
    // Both add up inside the logarithm.
    engine.observe(&mut fresh, &view(now(), "coffee"))?;
    assert!(close(affinity(&fresh), 2.25f64.ln()));
    // Only the offer's own categories count.
    let d = engine.decide(&fresh, &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(part(&score_of(&d, "plain"), "affinity"), None);
    Ok(())
}

#[test]
fn a_birthday_within_a_few_days_boosts_the_birthday_offer() -> TestResult {
    let engine = engine(SCORED);
    let boost = |month: u32, day: u32| -> Option<f64> {
        let customer = emailable(1).with_birthday(month, day);
        let d = engine
            .decide(&customer, &MemoryLedger::new(), &email(3), now())
            .unwrap();
        part(&score_of(&d, "cake"), "moment")
    };
    // moment 3.0 · max(0, 1 − days / (7 + 1))
    assert!(close(boost(11, 24).unwrap_or(f64::NAN), 3.0));
    assert!(close(
        boost(11, 26).unwrap_or(f64::NAN),
        3.0 * (1.0 - 2.0 / 8.0)
    ));
    assert!(close(
        boost(12, 1).unwrap_or(f64::NAN),
        3.0 * (1.0 - 7.0 / 8.0)
    ));
    assert_eq!(boost(12, 2), None, "eight days away: no boost");
    assert_eq!(boost(11, 23), None, "yesterday: next one is a year away");
    // Without a birthday: no boost.
    let d = engine.decide(&emailable(2), &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(part(&score_of(&d, "cake"), "moment"), None);
    // Near the birthday the cake beats the coffee offer.
    let d = engine.decide(
        &emailable(3).with_birthday(11, 25),
        &MemoryLedger::new(),
        &email(1),
        now(),
    )?;
    assert_eq!(picked(&d), ["cake"], "{d}");
    Ok(())
}

#[test]
fn the_preferred_channel_and_favourite_categories_add_a_bonus() -> TestResult {
    let engine = engine(SCORED);
    let customer = emailable(1)
        .with_consent(Channel::Sms, Consent::OptedIn)
        .with_preferred_channel(Channel::Email)
        .with_favourite_category("bakery");
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    let cake = score_of(&d, "cake");
    assert!(
        close(part(&cake, "preferred channel").unwrap_or(f64::NAN), 0.3),
        "{cake:?}"
    );
    assert!(
        close(part(&cake, "favourite category").unwrap_or(f64::NAN), 0.5),
        "{cake:?}"
    );
    assert_eq!(part(&score_of(&d, "coffee"), "favourite category"), None);
    let sms = Request::marketing([Channel::Sms], 3);
    let d = engine.decide(&customer, &MemoryLedger::new(), &sms, now())?;
    assert_eq!(part(&score_of(&d, "cake"), "preferred channel"), None);
    Ok(())
}

#[test]
fn negative_feedback_on_a_category_is_a_penalty() -> TestResult {
    let engine = engine(SCORED);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &Event::Feedback {
            at: now(),
            target: FeedbackTarget::Category("coffee".into()),
            positive: false,
        },
    )?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    let coffee = score_of(&d, "coffee");
    assert!(
        close(part(&coffee, "negative feedback").unwrap_or(f64::NAN), -1.0),
        "{coffee:?}"
    );
    assert!(close(coffee.total, 0.0), "{coffee:?}");
    assert_eq!(part(&score_of(&d, "cake"), "negative feedback"), None);
    Ok(())
}

#[test]
fn fatigue_grows_with_recent_marketing_contacts() -> TestResult {
    let engine = engine(SCORED);
    let ledger = MemoryLedger::new();
    let fatigue = |id: u64| -> Option<f64> {
        let d = engine
            .decide(&emailable(id), &ledger, &email(3), now())
            .unwrap();
        for pick in &d.picks {
            ledger.release(&pick.reservation).unwrap();
        }
        part(&score_of(&d, "coffee"), "fatigue")
    };
    assert_eq!(fatigue(1), None);
    marketing_contact(&ledger, &engine, 2, now() - Duration::days(1), "m1");
    marketing_contact(&ledger, &engine, 2, now() - Duration::days(8), "m-old");
    assert!(
        close(fatigue(2).unwrap_or(f64::NAN), -0.15),
        "only the last 7 days"
    );
    marketing_contact(&ledger, &engine, 2, now() - Duration::days(2), "m2");
    marketing_contact(&ledger, &engine, 2, now() - Duration::days(3), "m3");
    assert!(close(fatigue(2).unwrap_or(f64::NAN), -0.45));

    // The engine's own committed picks count too.
    let d = engine.decide(
        &emailable(3),
        &ledger,
        &email(1),
        now() - Duration::hours(5),
    )?;
    ledger.commit(&d.picks[0].reservation)?;
    assert!(close(fatigue(3).unwrap_or(f64::NAN), -0.15));
    Ok(())
}

#[test]
fn ignored_contacts_on_the_channel_are_a_penalty_until_an_open() -> TestResult {
    let engine = engine(SCORED);
    let mut customer = emailable(1);
    let respond = |at, response| Event::Response {
        at,
        channel: Channel::Email,
        offer: None,
        response,
    };
    for days in [5, 4, 3] {
        engine.observe(
            &mut customer,
            &respond(now() - Duration::days(days), Response::Ignored),
        )?;
    }
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert!(close(
        part(&score_of(&d, "coffee"), "ignored").unwrap_or(f64::NAN),
        -0.6
    ));
    engine.observe(
        &mut customer,
        &respond(now() - Duration::days(1), Response::Opened),
    )?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(part(&score_of(&d, "coffee"), "ignored"), None);
    Ok(())
}

#[test]
fn every_score_is_the_sum_of_its_named_parts() -> TestResult {
    let engine = engine(SCORED);
    let ledger = MemoryLedger::new();
    let mut customer = emailable(1)
        .with_birthday(11, 27)
        .with_preferred_channel(Channel::Email)
        .with_favourite_category("coffee");
    engine.observe(
        &mut customer,
        &purchase(now() - Duration::days(3), "coffee", None),
    )?;
    engine.observe(&mut customer, &view(now() - Duration::days(1), "bakery"))?;
    marketing_contact(&ledger, &engine, 1, now() - Duration::days(1), "m");
    let d = engine.decide(&customer, &ledger, &email(3), now())?;
    for c in &d.trace {
        let score = c.score.expect("every offer was scored");
        let sum: f64 = score.contributions.iter().map(|p| p.value).sum();
        assert!((sum - score.total).abs() < 1e-9, "{}: {score:?}", c.offer);
        assert!(score.contributions.iter().all(|p| p.value != 0.0));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A plugged-in scorer.
// ---------------------------------------------------------------------------------------------

/// Favours the offer the built-in weights like least.
struct Underdog;

impl Scorer for Underdog {
    fn score(&self, features: &Features<'_>, score: &mut Score) {
        score.add(
            "propensity",
            if features.offer == "plain" { 5.0 } else { 1.0 },
        );
        score.add("value seen", features.value / 100.0);
    }
}

#[test]
fn a_custom_scorer_decides_and_its_parts_show_in_the_trace() -> TestResult {
    let policy = Policy::from_toml_str(SCORED)?.compile()?;
    let engine = Engine::with_scorer(policy, Underdog);
    let mut customer = emailable(1);
    engine.observe(&mut customer, &purchase(now(), "coffee", None))?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&d), ["plain"], "{d}");
    let plain = score_of(&d, "plain");
    let names: Vec<&str> = plain.contributions.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["propensity"], "{plain:?}");
    assert!(close(plain.total, 5.0));
    assert!(close(d.picks[0].score, 5.0));
    let coffee = score_of(&d, "coffee");
    let names: Vec<&str> = coffee.contributions.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["propensity", "value seen"], "{coffee:?}");
    assert!(close(coffee.total, 1.25));
    assert_eq!(
        stop_of(&d, "coffee"),
        Some(Stop::Outscored { by: "plain".into() })
    );
    let text = d.to_string();
    assert!(text.contains("propensity"), "{text}");
    Ok(())
}

#[test]
fn a_custom_scorer_receives_the_offers_features() -> TestResult {
    use std::sync::Arc;
    /// What the scorer saw: offer, channel, value, decayed purchases.
    type Seen = Vec<(String, Channel, f64, f64)>;
    struct Spy(Arc<Mutex<Seen>>);
    impl Scorer for Spy {
        fn score(&self, f: &Features<'_>, score: &mut Score) {
            self.0
                .lock()
                .unwrap()
                .push((f.offer.to_string(), f.channel, f.value, f.purchases));
            score.add("one", 1.0);
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = Engine::with_scorer(
        Policy::from_toml_str(SCORED)?.compile()?,
        Spy(Arc::clone(&seen)),
    );
    let mut customer = emailable(1).with_never_category("plain");
    engine.observe(&mut customer, &purchase(now(), "coffee", None))?;
    engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    let seen = seen.lock().unwrap().clone();
    // The never-category offer is stopped before scoring.
    assert!(seen.iter().all(|(offer, ..)| offer != "plain"), "{seen:?}");
    let coffee = seen
        .iter()
        .find(|(offer, ..)| offer == "coffee")
        .expect("coffee scored");
    assert_eq!(coffee.1, Channel::Email);
    assert!(close(coffee.2, 25.0));
    assert!(close(coffee.3, 1.0), "one purchase just now: {coffee:?}");
    Ok(())
}

#[test]
fn a_custom_scorers_non_finite_parts_are_left_out() -> TestResult {
    struct Broken;
    impl Scorer for Broken {
        fn score(&self, f: &Features<'_>, score: &mut Score) {
            score.add("model", if f.offer == "coffee" { f64::NAN } else { 1.0 });
            score.add("bias", 0.5);
        }
    }
    let engine = Engine::with_scorer(Policy::from_toml_str(SCORED)?.compile()?, Broken);
    let d = engine.decide(&emailable(1), &MemoryLedger::new(), &email(1), now())?;
    let coffee = score_of(&d, "coffee");
    assert!(coffee.total.is_finite());
    assert!(coffee.contributions.iter().all(|c| c.value.is_finite()));
    assert_eq!(picked(&d), ["cake"], "{d}");
    serde_json::to_string(&d)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Quiet hours and deferred picks.
// ---------------------------------------------------------------------------------------------

const QUIET: &str = r#"
    [[quiet_hours]]
    start = "21:00"
    end = "08:00"

    [[offers]]
    id = "soon-over"
    categories = ["a"]
    value = 90.0
    valid_until = "2026-11-24T20:00:00Z"

    [[offers]]
    id = "lasting"
    categories = ["b"]
    value = 10.0
"#;

#[test]
fn a_pick_in_quiet_hours_is_deferred_to_their_end_in_the_customers_zone() -> TestResult {
    let engine = engine(QUIET);
    // 14:00 UTC is 23:00 in Tokyo: quiet there until 08:00 JST = 23:00 UTC.
    let afternoon = at(2026, 11, 24, 14, 0);
    let tokyo = emailable(1).with_time_zone(chrono_tz::Asia::Tokyo);
    let d = engine.decide(&tokyo, &MemoryLedger::new(), &email(1), afternoon)?;
    assert_eq!(picked(&d), ["lasting"], "{d}");
    let end = at(2026, 11, 24, 23, 0);
    assert_eq!(d.picks[0].send_at, end, "{d}");
    assert_eq!(d.picks[0].reservation.send_at(), end);
    // The offer that expires before then is not deferred past its validity.
    assert!(
        matches!(stop_of(&d, "soon-over"), Some(Stop::Throttled { .. })),
        "{d}"
    );

    // The same instant for a customer in the policy's zone (UTC): not quiet, sent now.
    let d = engine.decide(&emailable(2), &MemoryLedger::new(), &email(1), afternoon)?;
    assert_eq!(picked(&d), ["soon-over"], "{d}");
    assert_eq!(d.picks[0].send_at, afternoon);

    // 23:30 UTC is quiet in UTC but 18:30 in New York: sent now there.
    let late = at(2026, 11, 24, 23, 30);
    let ny = emailable(3).with_time_zone(chrono_tz::America::New_York);
    let d = engine.decide(&ny, &MemoryLedger::new(), &email(1), late)?;
    assert_eq!(d.picks[0].send_at, late, "{d}");
    let d = engine.decide(&emailable(4), &MemoryLedger::new(), &email(1), late)?;
    assert_eq!(d.picks[0].send_at, at(2026, 11, 25, 8, 0), "{d}");
    Ok(())
}

#[test]
fn a_deferral_beyond_max_delay_is_not_taken() -> TestResult {
    let engine = engine(QUIET);
    let late = at(2026, 11, 24, 23, 30); // quiet in UTC until 08:00
    let customer = emailable(1);
    let ledger = MemoryLedger::new();
    for max_delay in [None, Some(Duration::hours(1))] {
        let request = email(1).with_max_delay(max_delay);
        let d = engine.decide(&customer, &ledger, &request, late)?;
        assert!(d.picks.is_empty(), "{max_delay:?}:\n{d}");
        let stop = stop_of(&d, "lasting");
        assert_eq!(
            throttled_until(&stop),
            Some(at(2026, 11, 25, 8, 0)),
            "{max_delay:?}:\n{d}"
        );
        assert!(throttled_reasons(&stop)
            .iter()
            .any(|r| matches!(r, Reason::QuietHours { .. })));
        assert!(d.to_string().contains("lasting"));
    }
    // Nothing was reserved by the refused deferrals.
    let d = engine.decide(&customer, &ledger, &email(1), at(2026, 11, 25, 9, 0))?;
    assert_eq!(picked(&d), ["lasting"], "{d}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Trace completeness, Display and JSON.
// ---------------------------------------------------------------------------------------------

const MIXED: &str = r#"
    [[offers]]
    id = "winner"
    categories = ["coffee"]
    value = 40.0

    [[offers]]
    id = "sibling"
    categories = ["coffee"]
    value = 30.0

    [[offers]]
    id = "never"
    categories = ["footwear"]

    [[offers]]
    id = "vip"
    categories = ["x"]
    eligibility = { segment = "vip" }

    [[offers]]
    id = "loser"
    categories = ["y"]

    [[offers]]
    id = "sms-only"
    categories = ["z"]
    channels = ["sms"]

    [[offers]]
    id = "spare"
    categories = ["w"]
    fallback = true
"#;

const MIXED_IDS: [&str; 7] = [
    "winner", "sibling", "never", "vip", "loser", "sms-only", "spare",
];

fn mixed_decision() -> Decision {
    let engine = engine(MIXED);
    let customer = emailable(42)
        .with_never_category("footwear")
        .with_note("prefers mornings");
    engine
        .decide(&customer, &MemoryLedger::new(), &email(1), now())
        .unwrap()
}

#[test]
fn the_trace_has_one_entry_per_offer_in_policy_order() {
    let d = mixed_decision();
    assert_eq!(d.trace.len(), MIXED_IDS.len());
    assert_eq!(d.trace.offers().collect::<Vec<_>>(), MIXED_IDS);
    let ids: Vec<String> = d.trace.iter().map(|c| c.offer.to_string()).collect();
    assert_eq!(ids, MIXED_IDS);
    assert_eq!(picked(&d), ["winner"]);
    assert_eq!(stop_of(&d, "winner"), None);
    for id in &MIXED_IDS[1..] {
        assert!(stop_of(&d, id).is_some(), "{id} has no stop:\n{d}");
    }
    assert_eq!(d.notes, ["prefers mornings"]);
    assert_eq!(d.customer, 42.into());
    assert_eq!(d.at, now());
    assert_eq!(d.class, MessageClass::Marketing);
}

#[test]
fn display_explains_the_pick_and_why_each_other_offer_was_stopped() {
    let d = mixed_decision();
    let text = d.to_string();
    assert!(text.contains("winner"), "{text}");
    for candidate in d.trace.iter().filter(|c| c.stop.is_some()) {
        let why = candidate.stop.as_ref().unwrap().to_string();
        assert!(!why.is_empty());
        let line = text
            .lines()
            .find(|l| l.contains(&*candidate.offer))
            .unwrap_or_else(|| panic!("{} not mentioned:\n{text}", candidate.offer));
        assert!(
            line.contains(&why),
            "{}'s line {line:?} does not say {why:?}:\n{text}",
            candidate.offer
        );
    }
    assert!(text.contains("footwear"), "{text}");
    assert!(text.contains("prefers mornings"), "{text}");
}

#[test]
fn the_json_log_line_parses_and_names_the_pick() -> TestResult {
    let d = mixed_decision();
    let line = serde_json::to_string(&d)?;
    assert!(!line.contains('\n'));
    let json: serde_json::Value = serde_json::from_str(&line)?;
    assert_eq!(json["picks"][0]["offer"], "winner", "{line}");
    assert_eq!(json["picks"][0]["channel"], "email", "{line}");
    let trace = json["trace"].as_array().expect("trace is a list");
    assert_eq!(trace.len(), MIXED_IDS.len());
    for (entry, id) in trace.iter().zip(MIXED_IDS) {
        assert_eq!(entry["offer"], id, "{line}");
        assert_eq!(entry["stop"].is_null(), id == "winner", "{entry}");
    }
    assert!(line.contains("footwear"));
    // And it reads back as the same decision.
    let back: Decision = serde_json::from_str(&line)?;
    assert_eq!(back, d);
    Ok(())
}

#[test]
fn same_inputs_give_the_same_decision() -> TestResult {
    let engine = engine(MIXED);
    let mut customer = emailable(7).with_birthday(11, 26);
    engine.observe(
        &mut customer,
        &purchase(now() - Duration::days(2), "y", None),
    )?;
    let a = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    let b = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(a, b);
    assert_eq!(serde_json::to_string(&a)?, serde_json::to_string(&b)?);
    assert_eq!(a.to_string(), b.to_string());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct OfferGen {
    category: usize,
    value: u8,
    fallback: bool,
    sms_only: bool,
    vip_only: bool,
}

fn offer_gen() -> impl Strategy<Value = OfferGen> {
    (
        0..3usize,
        0..4u8,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(category, value, fallback, sms_only, vip_only)| OfferGen {
            category,
            value,
            fallback,
            sms_only,
            vip_only,
        })
}

fn policy_text(offers: &[OfferGen]) -> String {
    let mut t = String::new();
    for (i, o) in offers.iter().enumerate() {
        t += &format!(
            "[[offers]]\nid = \"o{i}\"\ncategories = [\"c{}\"]\nvalue = {}.0\n",
            o.category,
            o.value * 10
        );
        if o.fallback {
            t += "fallback = true\n";
        }
        if o.sms_only {
            t += "channels = [\"sms\"]\n";
        }
        if o.vip_only {
            t += "eligibility = { segment = \"vip\" }\n";
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the offers and the customer: one trace entry per offer in policy order, picked
    /// exactly when unstopped, at most k picks, best first, one per category, on a requested
    /// and consented channel, no fallback beside a regular pick, and the same answer twice.
    #[test]
    fn marketing_decisions_keep_their_promises(
        offers in prop::collection::vec(offer_gen(), 1..7),
        k in 1..4usize,
        email_in in any::<bool>(),
        sms_in in any::<bool>(),
        vip in any::<bool>(),
        never_c0 in any::<bool>(),
        request_sms in any::<bool>(),
    ) {
        let engine = engine(&policy_text(&offers));
        let mut customer = Customer::new(9);
        if email_in { customer = customer.with_consent(Channel::Email, Consent::OptedIn); }
        if sms_in { customer = customer.with_consent(Channel::Sms, Consent::OptedIn); }
        if vip { customer = customer.with_segment("vip"); }
        if never_c0 { customer = customer.with_never_category("c0"); }
        let channels = if request_sms { vec![Channel::Email, Channel::Sms] } else { vec![Channel::Email] };
        let request = Request::marketing(channels.clone(), k);
        let d = engine.decide(&customer, &MemoryLedger::new(), &request, now()).unwrap();

        let ids: Vec<String> = (0..offers.len()).map(|i| format!("o{i}")).collect();
        prop_assert_eq!(d.trace.offers().collect::<Vec<_>>(), ids.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(d.trace.iter().count(), offers.len());
        prop_assert!(d.picks.len() <= k);
        let mut unstopped: Vec<String> = d.trace.iter().filter(|c| c.stop.is_none()).map(|c| c.offer.to_string()).collect();
        let mut picks: Vec<String> = d.picked_offers().map(String::from).collect();
        unstopped.sort();
        picks.sort();
        prop_assert_eq!(unstopped, picks);
        for w in d.picks.windows(2) {
            prop_assert!(w[0].score >= w[1].score, "best first:\n{}", d);
        }
        let mut categories = std::collections::HashSet::new();
        let mut any_regular = false;
        let mut any_fallback = false;
        for pick in &d.picks {
            let offer = pick.offer.as_deref().unwrap();
            let i: usize = offer[1..].parse().unwrap();
            prop_assert!(categories.insert(offers[i].category), "two picks in one category:\n{}", d);
            prop_assert!(channels.contains(&pick.channel));
            prop_assert_eq!(customer.consents.get(pick.channel), Consent::OptedIn);
            prop_assert!(!offers[i].vip_only || vip);
            prop_assert!(!never_c0 || offers[i].category != 0);
            if offers[i].fallback { any_fallback = true } else { any_regular = true }
            prop_assert_eq!(pick.send_at, now());
        }
        prop_assert!(!any_fallback || !any_regular, "fallback beside a regular pick:\n{}", d);
        // If some regular offer could go and nothing regular was picked, that is a bug.
        let regular_possible = offers.iter().any(|o| {
            !o.fallback
                && (!o.vip_only || vip)
                && (!never_c0 || o.category != 0)
                && if o.sms_only { request_sms && sms_in } else { email_in || (request_sms && sms_in) }
        });
        prop_assert_eq!(any_regular, regular_possible, "{}", d);
        for c in &d.trace {
            if let Some(Stop::Outscored { by }) | Some(Stop::SameCategory { by, .. }) = &c.stop {
                prop_assert!(d.picked_offers().any(|p| p == &**by), "{}", d);
            }
        }
        let again = engine.decide(&customer, &MemoryLedger::new(), &request, now()).unwrap();
        prop_assert_eq!(&again, &d);
    }

    /// A reply to the customer's own question goes out on the first requested channel they have
    /// not opted out of, whatever marketing says: consent, do-not-contact, complaints, snoozes,
    /// quiet hours, exhausted caps.
    #[test]
    fn service_replies_always_go_out_unless_every_channel_is_opted_out(
        consents in prop::collection::vec(0..3u8, 3),
        dnc in any::<bool>(),
        complaint in any::<bool>(),
        snoozed in any::<bool>(),
        hour in 0..24u32,
        prior_marketing in 0..3u32,
    ) {
        let engine = engine(STRICT);
        let ledger = MemoryLedger::new();
        let channels = [Channel::Email, Channel::Sms, Channel::Push];
        let mut customer = Customer::new(5).with_do_not_contact(dnc);
        for (channel, c) in channels.iter().zip(&consents) {
            let consent = match c { 0 => Consent::Unknown, 1 => Consent::OptedIn, _ => Consent::OptedOut };
            customer = customer.with_consent(*channel, consent);
        }
        let t = at(2026, 11, 24, hour, 15);
        if snoozed { customer = customer.with_marketing_snoozed_until(t + Duration::days(3)); }
        if complaint {
            engine.observe(&mut customer, &Event::ComplaintOpened { at: t - Duration::days(1), id: "k".into() }).unwrap();
        }
        for i in 0..prior_marketing {
            marketing_contact(&ledger, &engine, 5, t - Duration::hours(i64::from(i) + 1), &format!("m{i}"));
        }
        let d = engine.decide(&customer, &ledger, &Request::service(channels), t).unwrap();
        let expected = channels.iter().zip(&consents).find(|(_, c)| **c != 2).map(|(ch, _)| *ch);
        match expected {
            Some(channel) => {
                prop_assert_eq!(d.picks.len(), 1, "{}", d);
                prop_assert_eq!(d.picks[0].channel, channel);
                prop_assert_eq!(d.picks[0].send_at, t);
                prop_assert_eq!(d.picks[0].offer.clone(), None);
                prop_assert!(!d.no_channel);
            }
            None => {
                prop_assert!(d.picks.is_empty(), "{}", d);
                prop_assert!(d.no_channel, "{}", d);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// More selection and channel details.
// ---------------------------------------------------------------------------------------------

#[test]
fn diversity_holds_for_offers_with_several_categories() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "sale-boots"
        categories = ["sale", "footwear"]
        value = 40.0

        [[offers]]
        id = "boots"
        categories = ["footwear"]
        value = 30.0

        [[offers]]
        id = "sale-socks"
        categories = ["sale"]
        value = 20.0

        [[offers]]
        id = "beans"
        categories = ["coffee"]
        value = 10.0
    "#,
    );
    let d = engine.decide(&emailable(1), &MemoryLedger::new(), &email(3), now())?;
    assert_eq!(picked(&d), ["sale-boots", "beans"], "{d}");
    for loser in ["boots", "sale-socks"] {
        assert!(
            matches!(stop_of(&d, loser), Some(Stop::SameCategory { by, .. }) if &*by == "sale-boots"),
            "{loser}:\n{d}"
        );
    }
    Ok(())
}

#[test]
fn a_channel_held_back_by_a_cap_gives_way_to_another_requested_channel() -> TestResult {
    let engine = engine(
        r#"
        [[caps]]
        channel = "email"
        limit = 1
        window = "7d"

        [[offers]]
        id = "a"
        categories = ["a"]
        value = 10.0
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1).with_consent(Channel::Sms, Consent::OptedIn);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    ledger.commit(&first.picks[0].reservation)?;
    let both = Request::marketing([Channel::Email, Channel::Sms], 1);
    let d = engine.decide(&customer, &ledger, &both, now() + Duration::hours(1))?;
    assert_eq!(picked(&d), ["a"], "{d}");
    assert_eq!(d.picks[0].channel, Channel::Sms, "{d}");
    assert_eq!(d.picks[0].send_at, now() + Duration::hours(1), "{d}");
    Ok(())
}

#[test]
fn no_consent_names_the_usable_channels() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "sms-or-push"
        categories = ["a"]
        channels = ["sms", "push"]

        [[offers]]
        id = "anywhere"
        categories = ["b"]
    "#,
    );
    let request = Request::marketing([Channel::Email, Channel::Sms, Channel::InApp], 1);
    let d = engine.decide(&emailable(1), &MemoryLedger::new(), &request, now())?;
    assert_eq!(
        stop_of(&d, "sms-or-push"),
        Some(Stop::NoConsent {
            channels: vec![Channel::Sms]
        }),
        "{d}"
    );
    assert_eq!(picked(&d), ["anywhere"]);
    assert_eq!(d.picks[0].channel, Channel::Email);
    Ok(())
}

#[test]
fn a_policy_topic_cap_holds_back_offers_on_that_topic() -> TestResult {
    let engine = engine(
        r#"
        [[caps]]
        topic = "newsletter"
        limit = 1
        window = "7d"

        [[offers]]
        id = "news-a"
        categories = ["a"]
        topic = "newsletter"
        value = 30.0

        [[offers]]
        id = "news-b"
        categories = ["b"]
        topic = "newsletter"
        value = 20.0

        [[offers]]
        id = "other"
        categories = ["c"]
        value = 10.0
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let d = engine.decide(&customer, &ledger, &email(3), now())?;
    assert_eq!(picked(&d), ["news-a", "other"], "{d}");
    assert!(
        matches!(stop_of(&d, "news-b"), Some(Stop::Throttled { .. })),
        "{d}"
    );
    Ok(())
}

#[test]
fn negative_feedback_decays_with_the_half_life() -> TestResult {
    let engine = engine(SCORED);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &dismissal(now() - Duration::days(45), "coffee"),
    )?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    let penalty = part(&score_of(&d, "coffee"), "negative feedback").unwrap_or(f64::NAN);
    assert!(close(penalty, -(2f64.powf(-1.5))), "{penalty}");
    Ok(())
}

#[test]
fn the_moment_is_counted_in_the_customers_local_date() -> TestResult {
    let engine = engine(SCORED);
    // 20:00 UTC on the 24th is 05:00 on the 25th in Tokyo: the birthday is today there.
    let evening = at(2026, 11, 24, 20, 0);
    let boost = |customer: Customer| -> f64 {
        let d = engine
            .decide(&customer, &MemoryLedger::new(), &email(3), evening)
            .unwrap();
        part(&score_of(&d, "cake"), "moment").unwrap_or(0.0)
    };
    let tokyo = emailable(1)
        .with_birthday(11, 25)
        .with_time_zone(chrono_tz::Asia::Tokyo);
    assert!(close(boost(tokyo), 3.0));
    let london = emailable(2)
        .with_birthday(11, 25)
        .with_time_zone(chrono_tz::Europe::London);
    assert!(close(boost(london), 3.0 * (1.0 - 1.0 / 8.0)));
    Ok(())
}

#[test]
fn a_longer_max_delay_accepts_a_longer_deferral() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let until = now() + Duration::days(5);
    let customer = emailable(1).with_marketing_snoozed_until(until);
    let request = email(1).with_max_delay(Some(Duration::days(10)));
    let d = engine.decide(&customer, &MemoryLedger::new(), &request, now())?;
    assert_eq!(picked(&d), ["boots"], "{d}");
    assert_eq!(d.picks[0].send_at, until);
    Ok(())
}

#[test]
fn a_service_rule_on_one_channel_sends_the_reply_on_the_next() -> TestResult {
    let engine = engine(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        channels = ["sms"]
        classes = ["service"]
    "#,
    );
    let late = at(2026, 11, 24, 23, 0);
    let customer = Customer::new(1);
    let request = Request::service([Channel::Sms, Channel::Email]);
    let d = engine.decide(&customer, &MemoryLedger::new(), &request, late)?;
    assert_eq!(d.picks.len(), 1, "{d}");
    assert_eq!(d.picks[0].channel, Channel::Email);
    assert_eq!(d.picks[0].send_at, late);
    // Only SMS offered: held back, and not deferred to the morning either.
    let sms = Request::service([Channel::Sms]);
    let d = engine.decide(&customer, &MemoryLedger::new(), &sms, late)?;
    assert!(d.picks.is_empty(), "{d}");
    assert_eq!(d.trace.len(), 1, "one entry per channel tried:\n{d}");
    Ok(())
}

#[test]
fn a_service_reply_that_cannot_go_out_traces_each_channel_tried() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let customer = Customer::new(1)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_consent(Channel::Sms, Consent::OptedOut);
    let request = Request::service([Channel::Email, Channel::Sms]);
    let d = engine.decide(&customer, &MemoryLedger::new(), &request, now())?;
    assert!(d.picks.is_empty(), "{d}");
    assert!(d.no_channel);
    assert_eq!(d.trace.len(), 2, "{d}");
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&d)?)?;
    assert_eq!(json["no_channel"], true);
    Ok(())
}

#[test]
fn a_capped_best_offer_does_not_use_up_its_category() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "boots"
        categories = ["footwear"]
        value = 50.0
        cap = { limit = 1, window = "30d" }

        [[offers]]
        id = "sneakers"
        categories = ["footwear"]
        value = 40.0

        [[offers]]
        id = "beans"
        categories = ["coffee"]
        value = 10.0
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["boots"]);
    ledger.commit(&first.picks[0].reservation)?;
    let d = engine.decide(&customer, &ledger, &email(2), now() + Duration::days(1))?;
    assert_eq!(picked(&d), ["sneakers", "beans"], "{d}");
    assert!(matches!(stop_of(&d, "boots"), Some(Stop::Throttled { .. })));
    Ok(())
}

#[derive(Debug, Clone)]
struct RankedGen {
    category: usize,
    value: u32,
    priority: u32,
    capped: bool,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Selection against a small oracle: candidates best first (ties: the offer written
    /// first), a capped one skipped without using up its category, at most one per category,
    /// until k picks. Many equal scores, so ties and the walk past the best are exercised.
    #[test]
    fn selection_matches_a_best_first_oracle(
        offers in prop::collection::vec(
            (0..3usize, 0..3u32, 0..2u32, prop::bool::weighted(0.3)).prop_map(
                |(category, value, priority, capped)| RankedGen { category, value: value * 10, priority, capped },
            ),
            1..8,
        ),
        k in 1..5usize,
    ) {
        let mut text = String::new();
        for (i, o) in offers.iter().enumerate() {
            text += &format!(
                "[[offers]]\nid = \"o{i}\"\ncategories = [\"c{}\"]\nvalue = {}.0\npriority = {}.0\ncap = {{ limit = 1, window = \"30d\" }}\n",
                o.category, o.value, o.priority
            );
        }
        let engine = engine(&text);
        prop_assert!(engine.policy().topic_collisions().is_empty());
        let ledger = MemoryLedger::new();
        for (i, o) in offers.iter().enumerate() {
            if o.capped {
                let topic = format!("o{i}");
                ledger.record(engine.policy(), 3.into(), RecordedContact {
                    at: now() - Duration::hours(1),
                    channel: Channel::Email,
                    class: MessageClass::Marketing,
                    topic: Some(&topic),
                    key: &topic,
                }).unwrap();
            }
        }
        let d = engine.decide(&emailable(3), &ledger, &email(k), now()).unwrap();

        // The oracle.
        let mut order: Vec<usize> = (0..offers.len()).collect();
        let key = |o: &RankedGen| o.value * 2 + o.priority * 100; // 100 × (0.02·value + priority)
        order.sort_by(|&a, &b| key(&offers[b]).cmp(&key(&offers[a])).then(a.cmp(&b)));
        let mut picks: Vec<usize> = Vec::new();
        for &i in &order {
            if picks.len() == k { break; }
            if offers[i].capped { continue; }
            if picks.iter().any(|&p| offers[p].category == offers[i].category) { continue; }
            picks.push(i);
        }
        let expected: Vec<String> = picks.iter().map(|i| format!("o{i}")).collect();
        prop_assert_eq!(d.picked_offers().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>(), "{}", d);
        for (i, o) in offers.iter().enumerate() {
            let c = d.trace.get(i).unwrap();
            // The recorded contacts bring the same fatigue to every offer; the rest is value
            // and priority.
            let score = c.score.clone().unwrap();
            let fatigue = part(&score, "fatigue").unwrap_or(0.0);
            let n_capped = offers.iter().filter(|o| o.capped).count() as f64;
            prop_assert!(close(fatigue, -0.15 * n_capped), "{}", d);
            let base = 0.02 * f64::from(o.value) + f64::from(o.priority);
            prop_assert!((score.total - fatigue - base).abs() < 1e-9, "{}", d);
            if picks.contains(&i) {
                prop_assert_eq!(&c.stop, &None);
            } else if o.capped && matches!(c.stop, Some(Stop::Throttled { .. })) {
                // Walked, and held back by its own cap.
            } else if let Some(Stop::SameCategory { by, .. }) = &c.stop {
                let p: usize = by[1..].parse().unwrap();
                prop_assert!(picks.contains(&p) && offers[p].category == o.category, "{}", d);
            } else if let Some(Stop::Outscored { by }) = &c.stop {
                prop_assert_eq!(picks.len(), k);
                prop_assert_eq!(&**by, format!("o{}", picks[k - 1]), "{}", d);
            } else {
                prop_assert!(false, "o{i}: unexpected {:?}\n{}", c.stop, d);
            }
        }
    }
}

#[test]
fn a_calendar_month_offer_cap_frees_at_the_customers_local_month_start() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "monthly"
        categories = ["a"]
        value = 50.0
        cap = { limit = 1, window = "calendar month" }

        [[offers]]
        id = "filler"
        categories = ["b"]
    "#,
    );
    for (customer, month_start) in [
        (emailable(1), at(2026, 12, 1, 0, 0)),
        (
            emailable(2).with_time_zone(chrono_tz::Asia::Tokyo),
            at(2026, 11, 30, 15, 0), // 2026-12-01 00:00 in Tokyo
        ),
    ] {
        let ledger = MemoryLedger::new();
        let first = engine.decide(&customer, &ledger, &email(1), now())?;
        assert_eq!(picked(&first), ["monthly"], "{first}");
        ledger.commit(&first.picks[0].reservation)?;
        // Three days before the month ends: beyond the one-day delay, the filler goes.
        let d = engine.decide(&customer, &ledger, &email(1), at(2026, 11, 27, 10, 0))?;
        assert_eq!(picked(&d), ["filler"], "{d}");
        assert_eq!(
            throttled_until(&stop_of(&d, "monthly")),
            Some(month_start),
            "{d}"
        );
        ledger.release(&d.picks[0].reservation)?;
        // Within a day of the new month: deferred to its first second.
        let d = engine.decide(
            &customer,
            &ledger,
            &email(1),
            month_start - Duration::hours(10),
        )?;
        assert_eq!(picked(&d), ["monthly"], "{d}");
        assert_eq!(d.picks[0].send_at, month_start, "{d}");
    }
    Ok(())
}

#[test]
fn a_spacing_rule_defers_the_next_pick() -> TestResult {
    let engine = engine(
        r#"
        [[spacing]]
        min_gap = "20h"

        [[offers]]
        id = "a"
        categories = ["a"]
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    ledger.commit(&first.picks[0].reservation)?;
    let d = engine.decide(&customer, &ledger, &email(1), now() + Duration::hours(2))?;
    assert_eq!(picked(&d), ["a"], "{d}");
    assert_eq!(d.picks[0].send_at, now() + Duration::hours(20), "{d}");
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&d)?)?;
    let send_at: DateTime<Utc> = serde_json::from_value(json["picks"][0]["send_at"].clone())?;
    assert_eq!(send_at, now() + Duration::hours(20));
    // Not accepting a delay: held back, and the trace says until when.
    let d = engine.decide(
        &customer,
        &ledger,
        &email(1).with_max_delay(None),
        now() + Duration::hours(3),
    )?;
    assert!(d.picks.is_empty(), "{d}");
    let stop = stop_of(&d, "a");
    // The deferred pick reserved above is the latest contact now.
    assert!(
        throttled_until(&stop).is_some_and(|u| u >= now() + Duration::hours(20)),
        "{d}"
    );
    Ok(())
}

#[test]
fn an_open_complaint_stops_fallbacks_too() -> TestResult {
    let engine = engine(MIXED);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &Event::ComplaintOpened {
            at: now(),
            id: "K".into(),
        },
    )?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(3), now())?;
    assert!(d.picks.is_empty(), "{d}");
    assert_eq!(d.trace.len(), MIXED_IDS.len());
    assert!(
        d.trace.iter().all(|c| c.stop == Some(Stop::OpenComplaint)),
        "{d}"
    );
    Ok(())
}

#[test]
fn a_do_not_contact_customer_gets_a_reply_but_not_on_an_opted_out_channel() -> TestResult {
    let engine = engine(STRICT);
    let customer = Customer::new(1)
        .with_do_not_contact(true)
        .with_consent(Channel::Email, Consent::OptedOut);
    let request = Request::service([Channel::Email, Channel::Sms]);
    let d = engine.decide(&customer, &MemoryLedger::new(), &request, now())?;
    assert_eq!(d.picks.len(), 1, "{d}");
    assert_eq!(d.picks[0].channel, Channel::Sms);
    Ok(())
}

#[test]
fn positive_feedback_starts_no_cooldown() -> TestResult {
    let engine = engine(COOLING);
    let mut customer = emailable(1);
    engine.observe(
        &mut customer,
        &Event::Feedback {
            at: now() - Duration::hours(1),
            target: FeedbackTarget::Offer("default-rest".into()),
            positive: true,
        },
    )?;
    let d = engine.decide(&customer, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&d), ["default-rest"], "{d}");
    assert_eq!(
        part(&score_of(&d, "default-rest"), "negative feedback"),
        None
    );
    Ok(())
}

#[test]
fn a_frequency_preference_across_channels_counts_every_channel() -> TestResult {
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let ledger = MemoryLedger::new();
    let customer = emailable(1)
        .with_consent(Channel::Sms, Consent::OptedIn)
        .with_frequency_preference(FrequencyPreference {
            channel: None,
            limit: std::num::NonZeroU32::new(1).unwrap(),
            window: "7d".parse::<Window>()?,
        });
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(first.picks.len(), 1, "{first}");
    ledger.commit(&first.picks[0].reservation)?;
    let sms = Request::marketing([Channel::Sms], 1);
    let d = engine.decide(&customer, &ledger, &sms, now() + Duration::days(2))?;
    assert!(
        d.picks.is_empty(),
        "one marketing contact a week, on any channel:\n{d}"
    );
    Ok(())
}

#[test]
fn an_unsubscribe_applies_to_the_offers_topic_not_its_id_when_it_names_one() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "weekly-news"
        categories = ["news"]
        topic = "newsletter"
    "#,
    );
    let by_id = emailable(1).with_unsubscribed_topic("weekly-news");
    let d = engine.decide(&by_id, &MemoryLedger::new(), &email(1), now())?;
    assert_eq!(picked(&d), ["weekly-news"], "{d}");
    let by_topic = emailable(2).with_unsubscribed_topic("newsletter");
    let d = engine.decide(&by_topic, &MemoryLedger::new(), &email(1), now())?;
    assert!(d.picks.is_empty(), "{d}");
    Ok(())
}

#[test]
fn a_capped_fallback_is_not_sent_either() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "vip"
        categories = ["a"]
        eligibility = { segment = "vip" }

        [[offers]]
        id = "welcome"
        categories = ["b"]
        fallback = true
        cap = { limit = 1, window = "30d" }
    "#,
    );
    let ledger = MemoryLedger::new();
    let customer = emailable(1);
    let first = engine.decide(&customer, &ledger, &email(1), now())?;
    assert_eq!(picked(&first), ["welcome"], "{first}");
    ledger.commit(&first.picks[0].reservation)?;
    let d = engine.decide(&customer, &ledger, &email(1), now() + Duration::days(3))?;
    assert!(d.picks.is_empty(), "{d}");
    assert!(
        matches!(stop_of(&d, "welcome"), Some(Stop::Throttled { .. })),
        "{d}"
    );
    Ok(())
}

/// A ledger whose `reserve` fails on the n-th call (counting from 1), for the rest a
/// `MemoryLedger`.
struct FailingLedger {
    inner: MemoryLedger,
    calls: Mutex<u32>,
    fail_on: u32,
}

impl ContactLedger for FailingLedger {
    fn check(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: &Customer,
        attempt: cornershop::Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verdict, cornershop::Error> {
        self.inner.check(policy, customer, attempt, now)
    }

    fn reserve(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: &Customer,
        attempt: cornershop::Attempt<'_>,
        if_blocked: cornershop::IfBlocked,
        now: DateTime<Utc>,
    ) -> Result<cornershop::Outcome, cornershop::Error> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == self.fail_on {
            return Err(cornershop::LedgerError::Backend("disk on fire".into()).into());
        }
        self.inner
            .reserve(policy, customer, attempt, if_blocked, now)
    }

    fn commit(&self, reservation: &cornershop::Reservation) -> Result<bool, cornershop::Error> {
        self.inner.commit(reservation)
    }

    fn release(&self, reservation: &cornershop::Reservation) -> Result<bool, cornershop::Error> {
        self.inner.release(reservation)
    }

    fn record(
        &self,
        policy: &cornershop::CompiledPolicy,
        customer: cornershop::CustomerId,
        contact: RecordedContact<'_>,
    ) -> Result<bool, cornershop::Error> {
        self.inner.record(policy, customer, contact)
    }

    fn forget(&self, customer: cornershop::CustomerId) -> Result<bool, cornershop::Error> {
        self.inner.forget(customer)
    }

    fn contacts_between(
        &self,
        customer: cornershop::CustomerId,
        class: MessageClass,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, cornershop::Error> {
        self.inner.contacts_between(customer, class, since, now)
    }
}

#[test]
fn a_ledger_error_midway_releases_the_picks_already_reserved() -> TestResult {
    let engine = engine(CAPPED);
    let ledger = FailingLedger {
        inner: MemoryLedger::new(),
        calls: Mutex::new(0),
        fail_on: 2,
    };
    let customer = emailable(1);
    let result = engine.decide(&customer, &ledger, &email(2), now());
    assert!(
        matches!(result, Err(cornershop::Error::Ledger(_))),
        "{result:?}"
    );
    let held = ledger.inner.contacts_between(
        customer.id,
        MessageClass::Marketing,
        now() - Duration::days(1),
        now() + Duration::days(2),
    )?;
    assert_eq!(held, 0, "the first pick's reservation was released");
    // So the capped offer is still available.
    let d = engine.decide(&customer, &ledger.inner, &email(1), now())?;
    assert_eq!(picked(&d), ["monthly"], "{d}");
    Ok(())
}

#[test]
fn ignored_contacts_count_by_their_times_and_top_out_at_32() -> TestResult {
    let engine = engine(SCORED);
    let respond = |at, response| Event::Response {
        at,
        channel: Channel::Email,
        offer: None,
        response,
    };
    let ignored_part = |customer: &Customer| -> f64 {
        let d = engine
            .decide(customer, &MemoryLedger::new(), &email(3), now())
            .unwrap();
        part(&score_of(&d, "coffee"), "ignored").unwrap_or(0.0)
    };
    // An old "ignored" that arrives after a newer "opened" does not count.
    let mut late_report = emailable(1);
    engine.observe(
        &mut late_report,
        &respond(now() - Duration::days(1), Response::Opened),
    )?;
    engine.observe(
        &mut late_report,
        &respond(now() - Duration::days(7), Response::Ignored),
    )?;
    assert_eq!(ignored_part(&late_report), 0.0);
    // Forty ignored contacts count as 32.
    let mut silent = emailable(2);
    for i in 0..40 {
        engine.observe(
            &mut silent,
            &respond(now() - Duration::hours(i + 1), Response::Ignored),
        )?;
    }
    assert!(
        close(ignored_part(&silent), -0.2 * 32.0),
        "{}",
        ignored_part(&silent)
    );
    Ok(())
}

#[test]
fn a_february_29th_birthday_falls_on_the_28th_in_other_years() -> TestResult {
    let engine = engine(SCORED);
    let boost = |t: DateTime<Utc>| -> f64 {
        let customer = emailable(1).with_birthday(2, 29);
        let d = engine
            .decide(&customer, &MemoryLedger::new(), &email(3), t)
            .unwrap();
        part(&score_of(&d, "cake"), "moment").unwrap_or(0.0)
    };
    assert!(close(
        boost(at(2027, 2, 27, 10, 0)),
        3.0 * (1.0 - 1.0 / 8.0)
    ));
    assert!(close(
        boost(at(2028, 2, 27, 10, 0)),
        3.0 * (1.0 - 2.0 / 8.0)
    ));
    // Across the year's end: December 30th to January 2nd is three days.
    let customer = emailable(2).with_birthday(1, 2);
    let d = engine.decide(
        &customer,
        &MemoryLedger::new(),
        &email(3),
        at(2026, 12, 30, 10, 0),
    )?;
    let moment = part(&score_of(&d, "cake"), "moment").unwrap_or(0.0);
    assert!(close(moment, 3.0 * (1.0 - 3.0 / 8.0)), "{moment}");
    Ok(())
}

const LONDON_QUIET: &str = r#"
    time_zone = "Europe/London"

    [[quiet_hours]]
    start = "21:00"
    end = "01:30"

    [[offers]]
    id = "a"
    categories = ["a"]
"#;

#[test]
fn a_deferral_over_a_clocks_forward_night_goes_at_the_jump() -> TestResult {
    // 2027-03-28: at 01:00 GMT London jumps to 02:00 BST; 01:30 does not exist that night.
    let engine = engine(LONDON_QUIET);
    let d = engine.decide(
        &emailable(1),
        &MemoryLedger::new(),
        &email(1),
        at(2027, 3, 27, 22, 0),
    )?;
    assert_eq!(picked(&d), ["a"], "{d}");
    assert_eq!(d.picks[0].send_at, at(2027, 3, 28, 1, 0), "{d}");
    Ok(())
}

#[test]
fn a_quiet_hour_that_repeats_when_clocks_go_back_is_quiet_both_times() -> TestResult {
    // 2027-10-31: at 01:00 GMT (02:00 BST) London goes back to 01:00. Quiet hours end at
    // 01:30 local time, which happens twice: 00:30 UTC (BST) and 01:30 UTC (GMT).
    let engine = engine(LONDON_QUIET);
    let send_at = |t: DateTime<Utc>| -> DateTime<Utc> {
        let d = engine
            .decide(&emailable(1), &MemoryLedger::new(), &email(1), t)
            .unwrap();
        assert_eq!(picked(&d), ["a"], "{d}");
        d.picks[0].send_at
    };
    // From the evening: the first free minute is the first 01:30.
    assert_eq!(send_at(at(2027, 10, 30, 22, 0)), at(2027, 10, 31, 0, 30));
    // 01:40 BST: free.
    assert_eq!(send_at(at(2027, 10, 31, 0, 40)), at(2027, 10, 31, 0, 40));
    // 01:10 GMT, the repeated hour: quiet again until the second 01:30.
    assert_eq!(send_at(at(2027, 10, 31, 1, 10)), at(2027, 10, 31, 1, 30));
    Ok(())
}

#[test]
fn a_pick_goes_on_the_callers_first_usable_channel() -> TestResult {
    let engine = engine(
        r#"
        [[offers]]
        id = "push-or-email"
        categories = ["a"]
        channels = ["push", "email"]
    "#,
    );
    let customer = emailable(1)
        .with_consent(Channel::Sms, Consent::OptedIn)
        .with_consent(Channel::Push, Consent::OptedIn);
    for (channels, expected) in [
        (vec![Channel::Email, Channel::Push], Channel::Email),
        (vec![Channel::Push, Channel::Email], Channel::Push),
        (
            vec![Channel::Sms, Channel::Email, Channel::Push],
            Channel::Email,
        ),
    ] {
        let request = Request::marketing(channels.clone(), 1);
        let d = engine.decide(&customer, &MemoryLedger::new(), &request, now())?;
        assert_eq!(d.picks.len(), 1, "{d}");
        assert_eq!(d.picks[0].channel, expected, "{channels:?}:\n{d}");
    }
    Ok(())
}

#[test]
fn list_and_existence_conditions() -> TestResult {
    let engine = engine(
        r#"
        [attributes]
        diets = "list"
        vip = "bool"

        [[offers]]
        id = "veg"
        categories = ["a"]
        eligibility = { attribute = "diets", in = ["vegan", "vegetarian"] }

        [[offers]]
        id = "has-vip-flag"
        categories = ["b"]
        eligibility = { attribute = "vip", exists = true }

        [[offers]]
        id = "vip-true"
        categories = ["c"]
        eligibility = { attribute = "vip", equals = true }
    "#,
    );
    let eligible = |customer: &Customer| -> Vec<String> {
        let d = engine
            .decide(customer, &MemoryLedger::new(), &email(3), now())
            .unwrap();
        d.trace
            .iter()
            .filter(|c| !matches!(c.stop, Some(Stop::Ineligible { .. })))
            .map(|c| c.offer.to_string())
            .collect()
    };
    let a = emailable(1)
        .with_attribute("diets", vec!["halal".to_string(), "vegetarian".to_string()])
        .with_attribute("vip", false);
    assert_eq!(eligible(&a), ["veg", "has-vip-flag"]);
    let b = emailable(2)
        .with_attribute("diets", vec!["halal".to_string()])
        .with_attribute("vip", true);
    assert_eq!(eligible(&b), ["has-vip-flag", "vip-true"]);
    assert!(eligible(&emailable(3)).is_empty());
    Ok(())
}

#[test]
fn an_attribute_of_the_wrong_type_is_an_input_error() {
    let engine = engine(
        r#"
        [attributes]
        tier = "text"

        [[offers]]
        id = "gold"
        categories = ["a"]
        eligibility = { attribute = "tier", equals = "gold" }
    "#,
    );
    let customer = emailable(1).with_attribute("tier", 3.0);
    let result = engine.decide(&customer, &MemoryLedger::new(), &email(1), now());
    assert!(
        matches!(
            result,
            Err(cornershop::Error::Input(
                cornershop::InputError::AttributeType { .. }
            ))
        ),
        "{result:?}"
    );
}

#[test]
fn a_bad_event_leaves_the_customer_unchanged() {
    let engine = engine(SCORED);
    let mut customer = emailable(1);
    engine
        .observe(&mut customer, &purchase(now(), "coffee", None))
        .unwrap();
    let before = customer.clone();
    let bad = Event::Purchase {
        at: now(),
        category: "coffee".into(),
        product: None,
        amount: -5.0,
    };
    assert!(engine.observe(&mut customer, &bad).is_err());
    assert_eq!(customer, before);
}

#[test]
fn a_customers_unusable_marketing_settings_never_hold_back_a_reply() -> TestResult {
    // A preference reaching further back than `preferences.max_window` is an input error for
    // marketing; a reply to the customer's question still goes out.
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let customer = emailable(1).with_frequency_preference(FrequencyPreference {
        channel: Some(Channel::Email),
        limit: std::num::NonZeroU32::new(1).unwrap(),
        window: "60d".parse::<Window>()?,
    });
    let marketing = engine.decide(&customer, &MemoryLedger::new(), &email(1), now());
    assert!(
        matches!(
            marketing,
            Err(cornershop::Error::Input(
                cornershop::InputError::Preference { .. }
            ))
        ),
        "{marketing:?}"
    );
    let reply = engine.decide(
        &customer,
        &MemoryLedger::new(),
        &Request::service([Channel::Email]),
        now(),
    )?;
    assert_eq!(reply.picks.len(), 1, "{reply}");
    Ok(())
}

#[test]
fn a_preference_looser_than_the_bounds_is_judged_at_the_bound() -> TestResult {
    // `[preferences] max_limit` defaults to 4: "ten a week" is judged as four a week.
    let engine = engine(TWO_SHOES_ONE_COFFEE);
    let ledger = MemoryLedger::new();
    let customer = emailable(1).with_frequency_preference(FrequencyPreference {
        channel: Some(Channel::Email),
        limit: std::num::NonZeroU32::new(10).unwrap(),
        window: "7d".parse::<Window>()?,
    });
    for i in 0..4 {
        let d = engine.decide(&customer, &ledger, &email(1), now() + Duration::hours(i))?;
        assert_eq!(d.picks.len(), 1, "{d}");
        ledger.commit(&d.picks[0].reservation)?;
    }
    let d = engine.decide(&customer, &ledger, &email(1), now() + Duration::days(1))?;
    assert!(d.picks.is_empty(), "{d}");
    Ok(())
}

/// A plugged-in model that gives each offer a fixed score, in many named parts.
struct Table(std::collections::HashMap<String, f64>);

impl Scorer for Table {
    fn score(&self, features: &Features<'_>, score: &mut Score) {
        let total = self.0.get(features.offer).copied().unwrap_or(0.0);
        // Twelve parts (more than are kept inline) that add up to the table's score.
        for i in 0..11 {
            score.add(format!("part {i}"), 1.0 + f64::from(i));
        }
        score.add("rest", total - 66.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With an application's scorer: its totals rank the offers (ties: written first), every
    /// one of its parts is in the trace, and picks carry its totals.
    #[test]
    fn a_custom_scorer_ranks_with_its_own_totals(
        scores in prop::collection::vec(0..4u8, 1..7),
        categories in prop::collection::vec(0..3usize, 7),
        k in 1..4usize,
    ) {
        let mut text = String::new();
        let mut table = std::collections::HashMap::new();
        for (i, s) in scores.iter().enumerate() {
            text += &format!("[[offers]]\nid = \"o{i}\"\ncategories = [\"c{}\"]\nvalue = {}.0\n", categories[i], 100 - i);
            table.insert(format!("o{i}"), f64::from(*s) * 2.0);
        }
        let engine = Engine::with_scorer(Policy::from_toml_str(&text).unwrap().compile().unwrap(), Table(table));
        let d = engine.decide(&emailable(1), &MemoryLedger::new(), &email(k), now()).unwrap();
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].cmp(&scores[a]).then(a.cmp(&b)));
        let mut picks: Vec<usize> = Vec::new();
        for &i in &order {
            if picks.len() < k && !picks.iter().any(|&p| categories[p] == categories[i]) {
                picks.push(i);
            }
        }
        let expected: Vec<String> = picks.iter().map(|i| format!("o{i}")).collect();
        prop_assert_eq!(d.picked_offers().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>(), "{}", d);
        for (pick, &i) in d.picks.iter().zip(&picks) {
            prop_assert!(close(pick.score, f64::from(scores[i]) * 2.0));
        }
        for (i, c) in d.trace.iter().enumerate() {
            let score = c.score.clone().unwrap();
            prop_assert!(close(score.total, f64::from(scores[i]) * 2.0), "{:?}", score);
            let names: Vec<&str> = score.contributions.iter().map(|p| &*p.name).collect();
            prop_assert_eq!(names.len(), if scores[i] * 2 == 66 { 11 } else { 12 });
            prop_assert_eq!(names[0], "part 0");
            prop_assert_eq!(names[10], "part 10");
        }
        let back: Decision = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        prop_assert_eq!(&back, &d);
    }
}

#[test]
fn decisions_of_every_kind_read_back_from_json_and_explain_every_offer() -> TestResult {
    let mut decisions: Vec<Decision> = Vec::new();
    // Ineligible, never, outscored, no channel, fallback, notes.
    decisions.push(mixed_decision());
    // Throttled by quiet hours, expired, a deferred pick.
    let quiet = engine(QUIET);
    decisions.push(quiet.decide(
        &emailable(1).with_time_zone(chrono_tz::Asia::Tokyo),
        &MemoryLedger::new(),
        &email(1),
        at(2026, 11, 24, 14, 0),
    )?);
    // Cooldown, just bought, same category, unsubscribed, no consent, do-not-contact.
    let e = engine(&format!("{COOLING}\n{GRINDER}\n{TWO_SHOES_ONE_COFFEE}"));
    let mut customer = emailable(2).with_unsubscribed_topic("beans");
    e.observe(
        &mut customer,
        &dismissal(now() - Duration::days(1), "short-rest"),
    )?;
    e.observe(&mut customer, &purchase(now(), "kitchen", Some("grinder")))?;
    decisions.push(e.decide(&customer, &MemoryLedger::new(), &email(4), now())?);
    decisions.push(e.decide(&Customer::new(3), &MemoryLedger::new(), &email(2), now())?);
    decisions.push(e.decide(
        &emailable(4).with_do_not_contact(true),
        &MemoryLedger::new(),
        &email(2),
        now(),
    )?);
    // Complaint.
    let mut unhappy = emailable(5);
    e.observe(
        &mut unhappy,
        &Event::ComplaintOpened {
            at: now(),
            id: "K".into(),
        },
    )?;
    decisions.push(e.decide(&unhappy, &MemoryLedger::new(), &email(2), now())?);
    // Service and transactional.
    decisions.push(e.decide(
        &unhappy,
        &MemoryLedger::new(),
        &Request::service([Channel::Sms]),
        now(),
    )?);
    decisions.push(e.decide(
        &Customer::new(6).with_consent(Channel::Sms, Consent::OptedOut),
        &MemoryLedger::new(),
        &Request::transactional([Channel::Sms]),
        now(),
    )?);

    let mut stops = std::collections::BTreeSet::new();
    for d in &decisions {
        let line = serde_json::to_string(d)?;
        let back: Decision = serde_json::from_str(&line)?;
        assert_eq!(&back, d, "{line}");
        let text = d.to_string();
        for c in &d.trace {
            assert!(text.contains(&*c.offer), "{} missing:\n{text}", c.offer);
            if let Some(stop) = &c.stop {
                assert!(text.contains(&stop.to_string()), "{stop} missing:\n{text}");
                let json = serde_json::to_value(stop)?;
                stops.insert(format!("{:?}", std::mem::discriminant(stop)));
                assert!(!json.is_null());
            }
        }
        // The trace's three ways of reading agree.
        for (i, c) in d.trace.iter().enumerate() {
            assert_eq!(d.trace.get(i).as_ref(), Some(&c));
            assert_eq!(d.trace.find(&c.offer).as_ref(), Some(&c));
        }
    }
    assert!(stops.len() >= 12, "{} kinds of stop seen", stops.len());
    Ok(())
}

#[test]
fn affinity_does_not_depend_on_the_order_events_arrive_in() -> TestResult {
    let engine = engine(SCORED);
    let events = [
        purchase(now() - Duration::days(60), "coffee", None),
        purchase(now() - Duration::days(1), "coffee", None),
        view(now() - Duration::days(30), "coffee"),
    ];
    let affinity = |order: [usize; 3]| -> f64 {
        let mut customer = emailable(1);
        for i in order {
            engine.observe(&mut customer, &events[i]).unwrap();
        }
        let d = engine
            .decide(&customer, &MemoryLedger::new(), &email(3), now())
            .unwrap();
        part(&score_of(&d, "coffee"), "affinity").unwrap_or(0.0)
    };
    let expected = (1.0 + 0.25 + 2f64.powf(-1.0 / 30.0) + 0.25 * 0.5).ln();
    for order in [[0, 1, 2], [1, 0, 2], [2, 1, 0], [1, 2, 0]] {
        let got = affinity(order);
        assert!(
            (got - expected).abs() < 1e-9,
            "{order:?}: {got} vs {expected}"
        );
    }
    Ok(())
}
