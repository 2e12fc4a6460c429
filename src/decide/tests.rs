//! The row path for a customer with feedback on offers and an unsubscribed topic: the same
//! decision as asking every offer in full, with only the offers concerned asked in full.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::screen::probe;
use super::Engine;
use crate::channel::Channel;
use crate::context::{Event, FeedbackTarget, Response};
use crate::customer::{Consent, Customer};
use crate::decide::{Decision, Request};
use crate::ledger::MemoryLedger;
use crate::policy::{OfferSpec, Policy};
use crate::score::{Features, Score, Scorer};

const CATEGORIES: [&str; 4] = ["coffee", "bakery", "books", "toys"];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

/// 20 offers over four categories; offers 2, 9 and 15 count under the topic "newsletter",
/// and every sixth names a product.
fn policy() -> Policy {
    let offers = (0..20)
        .map(|i| OfferSpec {
            id: format!("o{i}"),
            categories: vec![CATEGORIES[i % 4].to_owned()],
            value: (i % 7) as f64,
            priority: (i % 3) as f64 * 0.2,
            topic: [2, 9, 15].contains(&i).then(|| "newsletter".to_owned()),
            product: (i % 6 == 0).then(|| format!("p{i}")),
            ..OfferSpec::default()
        })
        .collect();
    Policy {
        offers,
        ..Policy::default()
    }
}

/// Feedback on five offers (o1 clicked, o4 liked, o5 dismissed yesterday, o6 disliked a month
/// ago, o11 disliked and in a "never" category) and on one the policy does not have,
/// a category bought and one disliked, a product bought, and the topics "newsletter" and
/// "gone" (which no offer has) unsubscribed: offers 1, 2, 4, 5, 6, 9, 11 and 15 are asked in
/// full.
fn engaged(engine: &Engine) -> Customer {
    let mut who = Customer::new(7)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_consent(Channel::Push, Consent::OptedIn)
        .with_favourite_category("coffee")
        .with_never_category("toys")
        .with_unsubscribed_topic("newsletter")
        .with_unsubscribed_topic("gone");
    let ago = |days| now() - Duration::days(days);
    let feedback = |offer: &str, days, positive| Event::Feedback {
        at: ago(days),
        target: FeedbackTarget::Offer(offer.to_owned()),
        positive,
    };
    let events = [
        Event::Purchase {
            at: ago(3),
            category: "coffee".to_owned(),
            product: Some("p12".to_owned()),
            amount: 9.0,
        },
        Event::Feedback {
            at: ago(8),
            target: FeedbackTarget::Category("books".to_owned()),
            positive: false,
        },
        Event::Response {
            at: ago(2),
            channel: Channel::Email,
            offer: Some("o1".to_owned()),
            response: Response::Clicked,
        },
        feedback("o4", 5, true),
        feedback("o5", 1, false),
        feedback("o6", 30, false),
        feedback("o11", 4, false),
        feedback("retired-offer", 4, false),
    ];
    for event in &events {
        engine.observe(&mut who, event).unwrap();
    }
    who
}

/// The decision for `who`, and how many offers it settled on their rows; with `rows_off`,
/// every offer asked in full.
fn decide(engine: &Engine, who: &Customer, rows_off: bool) -> (Decision, usize) {
    probe::ROWS_OFF.set(rows_off);
    probe::SETTLED.set(0);
    let ledger = MemoryLedger::new();
    let request = Request::marketing([Channel::Email, Channel::Push], 2);
    let decision = engine.decide(who, &ledger, &request, now()).unwrap();
    probe::ROWS_OFF.set(false);
    (decision, probe::SETTLED.get())
}

/// Decides for the engaged customer with rows and with every offer asked in full: the same
/// decision (Display, score bits), and `rows_settle` offers settled on their rows.
fn assert_rows_settle(engine: &Engine, rows_settle: usize) -> Decision {
    let who = engaged(engine);
    let (full, none) = decide(engine, &who, true);
    assert_eq!(none, 0);
    let (rows, settled) = decide(engine, &who, false);
    assert_eq!(rows, full);
    assert_eq!(rows.to_string(), full.to_string());
    let bits = |d: &Decision| -> Vec<Option<u64>> {
        d.trace
            .iter()
            .map(|c| c.score.map(|s| s.total.to_bits()))
            .collect()
    };
    assert_eq!(bits(&rows), bits(&full));
    assert_eq!(settled, rows_settle);
    // The offers asked in full were judged on what only they have.
    let text = rows.to_string();
    assert!(text.contains("o5: the customer turned it down"), "{text}");
    assert!(text.contains("o9: the customer unsubscribed"), "{text}");
    rows
}

#[test]
fn an_engaged_customer_gets_the_full_decision_with_only_the_offers_concerned_asked_in_full() {
    let engine = Engine::new(policy().compile().unwrap());
    // Of 20 offers, eight are asked in full (see `engaged`); the other twelve settle on their
    // rows: o3, o7 and o19 (toys), o12 (its product just bought) stopped, eight scored.
    let decision = assert_rows_settle(&engine, 12);
    let o6 = decision.candidate("o6").and_then(|c| c.score).unwrap();
    assert!(o6
        .contributions
        .iter()
        .any(|c| c.name == "negative feedback"));
}

#[test]
fn with_an_applications_scorer_an_engaged_customers_stops_settle_on_rows() {
    struct Flat;
    impl Scorer for Flat {
        fn score(&self, features: &Features<'_>, score: &mut Score) {
            score.add("value", features.value);
            score.add("negative feedback", -features.negative_feedback);
        }
    }
    let engine = Engine::with_scorer(policy().compile().unwrap(), Flat);
    // An application's scorer scores every offer that passes in full: only the four stops
    // of the twelve offers not asked settle on their rows.
    let decision = assert_rows_settle(&engine, 4);
    let o6 = decision.candidate("o6").and_then(|c| c.score).unwrap();
    assert!(o6.total < 6.0, "o6's own dislike counts: {}", o6.total);
}

#[test]
fn feedback_on_more_offers_than_the_policy_has_walks_the_policy_side() {
    let policy = Policy {
        offers: (0..3)
            .map(|i| OfferSpec {
                id: format!("o{i}"),
                categories: vec![CATEGORIES[i % 4].to_owned()],
                value: i as f64,
                ..OfferSpec::default()
            })
            .collect(),
        ..Policy::default()
    };
    let engine = Engine::new(policy.compile().expect("a valid policy"));
    let mut who = Customer::new(8).with_consent(Channel::Email, Consent::OptedIn);
    // Four offers with feedback (three of them not the policy's) against three offers.
    for offer in ["o1", "x", "y", "z"] {
        let event = Event::Feedback {
            at: now() - Duration::days(40),
            target: FeedbackTarget::Offer(offer.to_owned()),
            positive: false,
        };
        engine.observe(&mut who, &event).expect("a valid event");
    }
    let (full, _) = decide(&engine, &who, true);
    let (rows, settled) = decide(&engine, &who, false);
    assert_eq!(rows, full);
    assert_eq!(rows.to_string(), full.to_string());
    assert_eq!(settled, 2, "o0 and o2 on their rows, o1 in full");
}
