//! The contact ledger as an application uses it: reservations and their settlement, imports,
//! erasure, snapshots, policy replacement, message classes, consent and the customer's own
//! choices, deferral with an expiry, clocks that go backwards, and long histories.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cornershop::{
    Attempt, CalendarPeriod, Channel, CompiledPolicy, Consent, ContactLedger, ContactState,
    Customer, CustomerId, Error, FrequencyPreference, IfBlocked, LedgerError, MemoryLedger,
    MessageClass, Policy, Reason, RecordedContact, Reservation, Verdict, Window,
};
use rand::{seq::SliceRandom, Rng, SeedableRng};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn compile(toml: &str) -> CompiledPolicy {
    Policy::from_toml_str(toml).unwrap().compile().unwrap()
}

/// Monday 2026-05-04 10:00Z (11:00 in London).
fn t0() -> DateTime<Utc> {
    utc(2026, 5, 4, 10, 0)
}

const EMAIL: Attempt<'static> = Attempt::marketing(Channel::Email);
const SMS: Attempt<'static> = Attempt::marketing(Channel::Sms);

fn customer(id: u64) -> Customer {
    Customer::new(id)
        .with_time_zone(chrono_tz::Europe::London)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_consent(Channel::Sms, Consent::OptedIn)
        .with_consent(Channel::Push, Consent::OptedIn)
}

const ONE_EMAIL_A_WEEK: &str = r#"
    [[caps]]
    name = "one email a week"
    channel = "email"
    limit = 1
    window = "7d"
"#;

#[track_caller]
fn reserve_now(
    ledger: &MemoryLedger,
    policy: &CompiledPolicy,
    customer: &Customer,
    attempt: Attempt<'_>,
    at: DateTime<Utc>,
) -> Reservation {
    let outcome = ledger
        .reserve(policy, customer, attempt, IfBlocked::Drop, at)
        .unwrap();
    assert!(outcome.verdict.is_allowed(), "at {at}: {}", outcome.verdict);
    let reservation = outcome.reservation.expect("allowed, so reserved");
    assert_eq!(reservation.send_at(), at);
    assert_eq!(reservation.customer(), customer.id);
    assert_eq!(reservation.channel(), attempt.channel);
    assert_eq!(reservation.class(), attempt.class);
    reservation
}

#[track_caller]
fn send(
    ledger: &MemoryLedger,
    policy: &CompiledPolicy,
    customer: &Customer,
    attempt: Attempt<'_>,
    at: DateTime<Utc>,
) {
    let reservation = reserve_now(ledger, policy, customer, attempt, at);
    assert!(ledger.commit(&reservation).unwrap(), "{reservation}");
}

fn record(
    ledger: &MemoryLedger,
    policy: &CompiledPolicy,
    customer: CustomerId,
    channel: Channel,
    at: DateTime<Utc>,
    key: &str,
) -> bool {
    ledger
        .record(
            policy,
            customer,
            RecordedContact {
                at,
                channel,
                class: MessageClass::Marketing,
                topic: None,
                key,
            },
        )
        .unwrap()
}

fn cap_reason(verdict: &Verdict) -> Option<(&str, u32, u32, DateTime<Utc>)> {
    verdict.reasons().iter().find_map(|r| match r {
        Reason::CapReached {
            rule,
            count,
            limit,
            frees_at,
            ..
        } => Some((rule.path.as_str(), *count, *limit, *frees_at)),
        _ => None,
    })
}

#[track_caller]
fn assert_deferred_until(verdict: &Verdict, until: DateTime<Utc>) {
    match verdict {
        Verdict::Deferred { until: got, .. } => assert_eq!(*got, until, "{verdict}"),
        other => panic!("expected deferred until {until}, got {other}"),
    }
}

fn contacts_of(ledger: &MemoryLedger, id: u64) -> Vec<cornershop::ContactSnapshot> {
    ledger
        .snapshot()
        .customers
        .into_iter()
        .find(|c| c.id == CustomerId(id))
        .map(|c| c.contacts)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reserve, commit, release
// ---------------------------------------------------------------------------------------------

#[test]
fn releasing_a_reservation_frees_its_slot() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let reservation = reserve_now(&ledger, &policy, &ada, EMAIL, t0());
    let later = t0() + Duration::hours(1);
    assert!(!ledger
        .check(&policy, &ada, EMAIL, later)
        .unwrap()
        .is_allowed());
    ledger.release(&reservation).unwrap();
    assert!(ledger
        .check(&policy, &ada, EMAIL, later)
        .unwrap()
        .is_allowed());
    assert!(
        contacts_of(&ledger, 1).is_empty(),
        "a released slot is gone"
    );
    // The slot can be taken again, even at the very same time.
    reserve_now(&ledger, &policy, &ada, EMAIL, t0());
}

#[test]
fn releasing_a_deferred_reservation_gives_back_only_its_own_slot() {
    let policy = compile(
        r#"
        [[caps]]
        name = "five a day"
        limit = 5
        window = "24h"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    // Five emails sent 09:00-09:40: the cap is full until 09:00 tomorrow.
    let day1 = utc(2026, 6, 1, 9, 0);
    for i in 0..5 {
        send(
            &ledger,
            &policy,
            &ada,
            EMAIL,
            day1 + Duration::minutes(10 * i),
        );
    }
    let noon = utc(2026, 6, 1, 12, 0);
    assert_deferred_until(
        &ledger.check(&policy, &ada, EMAIL, noon).unwrap(),
        utc(2026, 6, 2, 9, 0),
    );
    // A job defers a sixth to 09:00 tomorrow, then its send fails and it gives the slot back.
    let deferred = ledger
        .reserve(
            &policy,
            &ada,
            EMAIL,
            IfBlocked::Defer { expires: None },
            utc(2026, 6, 1, 11, 0),
        )
        .unwrap()
        .reservation
        .expect("deferred and reserved");
    assert_eq!(deferred.send_at(), utc(2026, 6, 2, 9, 0));
    ledger.release(&deferred).unwrap();
    // Nothing else changed: the five emails of this morning still fill the cap.
    let verdict = ledger.check(&policy, &ada, EMAIL, noon).unwrap();
    assert_deferred_until(&verdict, utc(2026, 6, 2, 9, 0));
    assert_eq!(contacts_of(&ledger, 1).len(), 5);
}

#[test]
fn releasing_a_committed_reservation_fails_and_it_keeps_counting() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let reservation = reserve_now(&ledger, &policy, &ada, EMAIL, t0());
    ledger.commit(&reservation).unwrap();
    ledger
        .commit(&reservation)
        .expect("committing twice is harmless");
    let err = ledger.release(&reservation).unwrap_err();
    match &err {
        Error::Ledger(LedgerError::AlreadyCommitted(which)) => assert_eq!(**which, reservation),
        other => panic!("expected AlreadyCommitted, got {other:?}"),
    }
    assert!(
        err.to_string().contains("already committed"),
        "the message says what happened: {err}"
    );
    let verdict = ledger
        .check(&policy, &ada, EMAIL, t0() + Duration::days(1))
        .unwrap();
    assert_deferred_until(&verdict, t0() + Duration::days(7));
    let contacts = contacts_of(&ledger, 1);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].state, ContactState::Committed);
}

#[test]
fn releasing_twice_frees_the_slot_once() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let reservation = reserve_now(&ledger, &policy, &ada, EMAIL, t0());
    assert!(ledger.release(&reservation).unwrap(), "the slot was freed");
    // ContactLedger::release: `false` if the ledger no longer held it (released before).
    assert!(!ledger.release(&reservation).unwrap());
    // ContactLedger::commit: `false` if there was nothing to mark (released).
    assert!(
        !ledger.commit(&reservation).unwrap(),
        "a released slot cannot be committed"
    );
    assert!(contacts_of(&ledger, 1).is_empty());
    // Another send took the freed slot; the stale token must not release it.
    let other = reserve_now(&ledger, &policy, &ada, EMAIL, t0() + Duration::hours(1));
    assert!(!ledger.release(&reservation).unwrap());
    assert_eq!(contacts_of(&ledger, 1).len(), 1);
    assert!(ledger.commit(&other).unwrap());
}

#[test]
fn an_unsettled_reservation_counts_as_sent() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let _never_settled = reserve_now(&ledger, &policy, &ada, EMAIL, t0());
    let verdict = ledger
        .check(&policy, &ada, EMAIL, t0() + Duration::days(3))
        .unwrap();
    assert_deferred_until(&verdict, t0() + Duration::days(7));
    assert_eq!(
        cap_reason(&verdict),
        Some(("caps[0]", 1, 1, t0() + Duration::days(7)))
    );
    let contacts = contacts_of(&ledger, 1);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].state, ContactState::Reserved);
    // Still counting long after it should have been settled, until its window ends.
    assert!(!ledger
        .check(
            &policy,
            &ada,
            EMAIL,
            t0() + Duration::days(7) - Duration::seconds(1)
        )
        .unwrap()
        .is_allowed());
    assert!(ledger
        .check(&policy, &ada, EMAIL, t0() + Duration::days(7))
        .unwrap()
        .is_allowed());
}

#[test]
fn a_reservation_survives_serialization_with_the_job_that_sends_it() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let reservation = reserve_now(&ledger, &policy, &customer(1), EMAIL, t0());
    let travelled: Reservation =
        serde_json::from_str(&serde_json::to_string(&reservation).unwrap()).unwrap();
    assert_eq!(travelled, reservation);
    assert!(ledger.release(&travelled).unwrap());
    assert!(contacts_of(&ledger, 1).is_empty());
}

// ---------------------------------------------------------------------------------------------
// record: imports with idempotency keys
// ---------------------------------------------------------------------------------------------

const TWO_EMAILS_A_WEEK: &str = r#"
    [[caps]]
    channel = "email"
    limit = 2
    window = "7d"
"#;

#[test]
fn recording_the_same_key_twice_counts_once() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    assert!(record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-1"
    ));
    assert!(!record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-1"
    ));
    assert!(!record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-1"
    ));
    // One of two used: another email is allowed.
    let later = t0() + Duration::hours(1);
    assert!(ledger
        .check(&policy, &ada, EMAIL, later)
        .unwrap()
        .is_allowed());
    let contacts = contacts_of(&ledger, 1);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].state, ContactState::Recorded);
}

#[test]
fn recording_different_keys_counts_each() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    assert!(record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-1"
    ));
    // A different message at the very same second is a different contact.
    assert!(record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-2"
    ));
    let verdict = ledger
        .check(&policy, &ada, EMAIL, t0() + Duration::hours(1))
        .unwrap();
    assert_deferred_until(&verdict, t0() + Duration::days(7));
    assert_eq!(cap_reason(&verdict).map(|r| (r.1, r.2)), Some((2, 2)));
}

#[test]
fn the_same_key_for_two_customers_counts_for_each() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    assert!(record(
        &ledger,
        &policy,
        CustomerId(1),
        Channel::Email,
        t0(),
        "campaign-7"
    ));
    assert!(record(
        &ledger,
        &policy,
        CustomerId(2),
        Channel::Email,
        t0(),
        "campaign-7"
    ));
    assert_eq!(contacts_of(&ledger, 1).len(), 1);
    assert_eq!(contacts_of(&ledger, 2).len(), 1);
}

#[test]
fn two_different_keys_at_the_same_second_count_twice() {
    // RecordedContact::key: "A key unique to the message"; ContactLedger::record: `false` only
    // if the ledger already holds that contact (same key, time, channel, class and topic).
    // Two receipts imported with second-resolution timestamps are two messages.
    // (receipt-1089 and receipt-1124 share the low byte of their CRC-32; "plumless" and
    // "buckeroo" share the whole CRC-32.)
    let policy = compile(TWO_EMAILS_A_WEEK);
    for (first, second) in [("receipt-1089", "receipt-1124"), ("plumless", "buckeroo")] {
        let ledger = MemoryLedger::new();
        let ada = customer(1);
        assert!(record(
            &ledger,
            &policy,
            ada.id,
            Channel::Email,
            t0(),
            first
        ));
        assert!(
            record(&ledger, &policy, ada.id, Channel::Email, t0(), second),
            "{second} was taken for a repeat of {first}"
        );
        assert!(
            !ledger
                .check(&policy, &ada, EMAIL, t0() + Duration::hours(1))
                .unwrap()
                .is_allowed(),
            "two emails were recorded: the cap of two is full"
        );
    }
}

#[test]
fn the_same_key_is_the_same_message_whatever_else_the_record_says() {
    // RecordedContact::key: recording the same key twice for the same customer counts once.
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let bob = customer(2);
    assert!(record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        t0(),
        "msg-1"
    ));
    let later = t0() + Duration::minutes(5);
    assert!(!record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        later,
        "msg-1"
    ));
    assert!(!record(
        &ledger,
        &policy,
        ada.id,
        Channel::Sms,
        t0(),
        "msg-1"
    ));
    assert!(
        record(&ledger, &policy, bob.id, Channel::Email, t0(), "msg-1"),
        "another customer's key"
    );
    assert!(
        ledger
            .check(&policy, &ada, EMAIL, later)
            .unwrap()
            .is_allowed(),
        "one email counted of two allowed"
    );
}

#[test]
fn recording_does_not_check_rules_but_the_record_then_counts() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    // No consent at all, and over the cap: recording states a fact all the same.
    let nobody = Customer::new(5);
    assert!(record(
        &ledger,
        &policy,
        nobody.id,
        Channel::Email,
        t0(),
        "a"
    ));
    assert!(record(
        &ledger,
        &policy,
        nobody.id,
        Channel::Email,
        t0() + Duration::hours(1),
        "b"
    ));
    let opted_in = customer(5);
    let verdict = ledger
        .check(&policy, &opted_in, EMAIL, t0() + Duration::hours(2))
        .unwrap();
    assert_deferred_until(&verdict, t0() + Duration::hours(1) + Duration::days(7));
}

// ---------------------------------------------------------------------------------------------
// forget
// ---------------------------------------------------------------------------------------------

#[test]
fn forgetting_a_customer_erases_their_history_and_nobody_elses() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let bob = customer(2);
    send(&ledger, &policy, &ada, EMAIL, t0());
    reserve_now(&ledger, &policy, &ada, SMS, t0());
    record(&ledger, &policy, ada.id, Channel::Push, t0(), "push-1");
    send(&ledger, &policy, &bob, EMAIL, t0());

    assert!(ledger.forget(ada.id).unwrap());
    assert!(contacts_of(&ledger, 1).is_empty());
    assert!(ledger.snapshot().customers.iter().all(|c| c.id != ada.id));
    let later = t0() + Duration::hours(1);
    assert!(ledger
        .check(&policy, &ada, EMAIL, later)
        .unwrap()
        .is_allowed());
    assert!(!ledger.forget(ada.id).unwrap(), "nothing left to forget");
    // Bob is untouched.
    assert_eq!(contacts_of(&ledger, 2).len(), 1);
    assert!(!ledger
        .check(&policy, &bob, EMAIL, later)
        .unwrap()
        .is_allowed());
    // After erasure a re-import with the same key counts again: nothing is remembered.
    assert!(record(
        &ledger,
        &policy,
        ada.id,
        Channel::Push,
        t0(),
        "push-1"
    ));
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

const RICH_POLICY: &str = r#"
    time_zone = "Europe/London"

    [[caps]]
    name = "two emails a week"
    channel = "email"
    limit = 2
    window = "7d"

    [[caps]]
    name = "five marketing a month"
    limit = 5
    window = "30d"

    [[caps]]
    name = "one newsletter a calendar week"
    topic = "newsletter"
    limit = 1
    window = "calendar week"

    [[caps]]
    class = "transactional"
    limit = 3
    window = "1d"

    [[spacing]]
    channel = "sms"
    min_gap = "24h"

    [[quiet_hours]]
    start = "21:00"
    end = "08:00"
"#;

/// A ledger with history for several customers, in every state, with a reservation left open.
fn populated(policy: &CompiledPolicy) -> (MemoryLedger, Reservation) {
    let ledger = MemoryLedger::new();
    let mut open = None;
    for id in 1..=6u64 {
        let c = customer(id);
        let base = t0() + Duration::minutes(37 * id as i64);
        send(&ledger, policy, &c, EMAIL.with_topic("newsletter"), base);
        send(&ledger, policy, &c, SMS, base + Duration::hours(1));
        send(
            &ledger,
            policy,
            &c,
            Attempt::transactional(Channel::Email),
            base + Duration::hours(2),
        );
        record(
            &ledger,
            policy,
            c.id,
            Channel::Push,
            base - Duration::days(2),
            &format!("push-{id}"),
        );
        if id % 2 == 0 {
            let r = reserve_now(&ledger, policy, &c, EMAIL, base + Duration::hours(3));
            open.get_or_insert(r);
        }
        if id == 3 {
            // A deferred reservation in the future: 23:00 London is quiet until 08:00.
            let outcome = ledger
                .reserve(
                    policy,
                    &c,
                    Attempt::marketing(Channel::Push),
                    IfBlocked::Defer { expires: None },
                    utc(2026, 5, 4, 22, 0),
                )
                .unwrap();
            assert_eq!(
                outcome
                    .reservation
                    .unwrap_or_else(|| panic!("{}", outcome.verdict))
                    .send_at(),
                utc(2026, 5, 5, 7, 0)
            );
        }
    }
    (ledger, open.unwrap())
}

/// The verdicts for a grid of customers, attempts and times.
fn verdicts(ledger: &MemoryLedger, policy: &CompiledPolicy) -> Vec<Verdict> {
    let attempts = [
        EMAIL,
        SMS,
        EMAIL.with_topic("newsletter"),
        Attempt::marketing(Channel::Push),
        Attempt::transactional(Channel::Email),
        Attempt::service(Channel::Sms),
    ];
    let mut out = Vec::new();
    for id in 1..=7u64 {
        for attempt in attempts {
            for hours in [4, 12, 30, 24 * 6, 24 * 8, 24 * 31] {
                out.push(
                    ledger
                        .check(
                            policy,
                            &customer(id),
                            attempt,
                            t0() + Duration::hours(hours),
                        )
                        .unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn a_json_snapshot_round_trip_loses_nothing() {
    let policy = compile(RICH_POLICY);
    let (ledger, open) = populated(&policy);
    let snapshot = ledger.snapshot();
    assert_eq!(snapshot.customers.len(), 6);
    let states: Vec<ContactState> = snapshot
        .customers
        .iter()
        .flat_map(|c| c.contacts.iter().map(|x| x.state))
        .collect();
    for state in [
        ContactState::Reserved,
        ContactState::Committed,
        ContactState::Recorded,
    ] {
        assert!(states.contains(&state), "{state:?} missing from {states:?}");
    }

    let text = serde_json::to_string_pretty(&snapshot).unwrap();
    let restored = MemoryLedger::from_snapshot_json(&text).unwrap();
    assert_eq!(restored.snapshot(), snapshot);
    assert_eq!(restored.contact_count(), ledger.contact_count());
    assert_eq!(restored.customer_count(), ledger.customer_count());
    assert_eq!(verdicts(&restored, &policy), verdicts(&ledger, &policy));

    // The open reservation can be settled on the restored ledger, with the same effect.
    restored.release(&open).unwrap();
    ledger.release(&open).unwrap();
    assert_eq!(restored.snapshot(), ledger.snapshot());
    assert_eq!(verdicts(&restored, &policy), verdicts(&ledger, &policy));

    // Idempotency keys survive too.
    assert!(!record(
        &restored,
        &policy,
        CustomerId(1),
        Channel::Push,
        t0() - Duration::days(2) + Duration::minutes(37),
        "push-1"
    ));
}

#[test]
fn a_snapshot_restored_from_the_struct_equals_the_original() {
    let policy = compile(RICH_POLICY);
    let (ledger, _) = populated(&policy);
    let snapshot = ledger.snapshot();
    let restored = MemoryLedger::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(restored.snapshot(), snapshot);
    let empty = MemoryLedger::new();
    let again = MemoryLedger::from_snapshot(empty.snapshot()).unwrap();
    assert_eq!(again.snapshot(), empty.snapshot());
    assert_eq!(again.customer_count(), 0);
}

#[test]
fn new_reservations_after_a_restore_do_not_collide_with_restored_ones() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 5
        window = "7d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    // A job holds `first` while the ledger is snapshotted and restored (a restart).
    let first = reserve_now(&ledger, &policy, &ada, EMAIL, t0());
    let restored = MemoryLedger::from_snapshot(ledger.snapshot()).unwrap();
    // Another job reserves the same slot time on the restored ledger.
    let second = reserve_now(&restored, &policy, &ada, EMAIL, t0());
    // The second send succeeds, the first fails: each settles its own slot.
    assert_eq!(restored.commit(&second), Ok(true));
    assert_eq!(
        restored.release(&first),
        Ok(true),
        "the first reservation was never committed, so its slot can be given back"
    );
    let contacts = contacts_of(&restored, 1);
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0].state, ContactState::Committed);
    assert_ne!(
        first, second,
        "two live reservations are two different tokens"
    );
}

// ---------------------------------------------------------------------------------------------
// Replacing the policy
// ---------------------------------------------------------------------------------------------

#[test]
fn replacing_the_policy_keeps_the_ledger_history() {
    let lenient = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 3
        window = "7d"
    "#,
    );
    let strict = compile(
        r#"
        [[caps]]
        name = "one email a week"
        channel = "email"
        limit = 1
        window = "7d"

        [[spacing]]
        min_gap = "2h"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    send(&ledger, &lenient, &ada, EMAIL, t0());
    send(&ledger, &lenient, &ada, EMAIL, t0() + Duration::hours(1));
    let now = t0() + Duration::hours(1) + Duration::minutes(30);
    assert!(ledger
        .check(&lenient, &ada, EMAIL, now)
        .unwrap()
        .is_allowed());

    // Under the new policy both earlier emails count: 2 of 1, so the slot frees when the later
    // one leaves the window.
    let verdict = ledger.check(&strict, &ada, EMAIL, now).unwrap();
    assert_deferred_until(&verdict, t0() + Duration::hours(1) + Duration::days(7));
    assert_eq!(
        cap_reason(&verdict).map(|r| (r.0, r.1, r.2)),
        Some(("caps[0]", 2, 1))
    );
    // The new spacing rule sees the old contacts as well.
    let sms = ledger.check(&strict, &ada, SMS, now).unwrap();
    assert_deferred_until(&sms, t0() + Duration::hours(3));
    assert!(sms
        .reasons()
        .iter()
        .any(|r| matches!(r, Reason::TooSoon { last, .. } if *last == t0() + Duration::hours(1))));

    // And back: nothing was lost by judging under the other policy.
    assert!(ledger
        .check(&lenient, &ada, EMAIL, now)
        .unwrap()
        .is_allowed());
    assert_eq!(contacts_of(&ledger, 1).len(), 2);
}

#[test]
fn a_policy_says_whether_the_history_it_kept_is_enough_for_the_next_one() {
    let weekly = compile("[[caps]]\nchannel = \"email\"\nlimit = 1\nwindow = \"7d\"");
    let bimonthly = compile("[[caps]]\nchannel = \"email\"\nlimit = 7\nwindow = \"60d\"");
    assert!(weekly.keeps_history_for(&weekly));
    assert!(bimonthly.keeps_history_for(&weekly));
    assert!(!weekly.keeps_history_for(&bimonthly));

    // Why it matters: seven weekly emails under `weekly`, then `bimonthly`, which would count
    // seven in its 60 days and hold the next email back, sees only what `weekly` kept.
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    for week in 0..7 {
        send(
            &ledger,
            &weekly,
            &ada,
            EMAIL,
            t0() + Duration::days(7 * week),
        );
    }
    let now = t0() + Duration::days(7 * 7);
    let kept = contacts_of(&ledger, 1).len();
    assert!(kept < 7, "kept {kept}");
    assert!(ledger
        .check(&bimonthly, &ada, EMAIL, now)
        .unwrap()
        .is_allowed());
    // The same history kept under `bimonthly` from the start is judged exactly.
    let exact = MemoryLedger::new();
    for week in 0..7 {
        send(
            &exact,
            &bimonthly,
            &ada,
            EMAIL,
            t0() + Duration::days(7 * week),
        );
    }
    assert!(!exact
        .check(&bimonthly, &ada, EMAIL, now)
        .unwrap()
        .is_allowed());
}

/// A random policy for [`keeps_history_for_is_exactly_when_a_switch_judges_as_if_from_the_start`]:
/// preference bounds, up to three caps and one spacing rule over two channels, two topics,
/// rolling and calendar windows, some transactional.
fn random_switch_policy(rng: &mut rand::rngs::StdRng) -> String {
    const CHANNELS: [&str; 2] = ["email", "sms"];
    const TOPICS: [&str; 2] = ["a", "b"];
    const WINDOWS: [&str; 5] = ["1d", "3d", "7d", "calendar week", "calendar month"];
    let mut text = format!(
        "[preferences]\nmax_limit = {}\nmax_window = \"{}\"\n",
        [0, 1, 2, 4][rng.random_range(0..4)],
        ["3d", "7d", "32d"][rng.random_range(0..3)]
    );
    for _ in 0..rng.random_range(0..4) {
        text.push_str("[[caps]]\n");
        if rng.random_bool(0.33) {
            text.push_str(&format!(
                "channel = \"{}\"\n",
                CHANNELS[rng.random_range(0..2)]
            ));
        }
        if rng.random_bool(0.5) {
            text.push_str(&format!("topic = \"{}\"\n", TOPICS[rng.random_range(0..2)]));
        }
        if rng.random_bool(0.2) {
            text.push_str("class = \"transactional\"\n");
        }
        text.push_str(&format!(
            "limit = {}\nwindow = \"{}\"\n",
            rng.random_range(1..5),
            WINDOWS[rng.random_range(0..5)]
        ));
    }
    if rng.random_bool(0.5) {
        text.push_str("[[spacing]]\n");
        if rng.random_bool(0.5) {
            text.push_str(&format!(
                "channel = \"{}\"\n",
                CHANNELS[rng.random_range(0..2)]
            ));
        }
        text.push_str(&format!(
            "min_gap = \"{}\"\n",
            ["4h", "1d", "2d"][rng.random_range(0..3)]
        ));
    }
    text
}

/// For random pairs of policies: a ledger that kept a random history under `old` and is then
/// asked under `new` answers every check as a ledger that kept the same history under `new`
/// from the start, whenever `old.keeps_history_for(&new)`. Over the pairs where it says no,
/// some answer differs (so the comparison can see an undercount).
#[test]
fn keeps_history_for_is_exactly_when_a_switch_judges_as_if_from_the_start() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED_0008);
    let (mut exact_pairs, mut other_pairs, mut differences_when_not) = (0, 0, 0);
    while exact_pairs < 600 || other_pairs < 150 {
        let Ok(old) =
            Policy::from_toml_str(&random_switch_policy(&mut rng)).and_then(|p| p.compile())
        else {
            continue;
        };
        let Ok(new) =
            Policy::from_toml_str(&random_switch_policy(&mut rng)).and_then(|p| p.compile())
        else {
            continue;
        };
        let exact = old.keeps_history_for(&new);
        let (switched, from_start) = (MemoryLedger::new(), MemoryLedger::new());
        let mut at = t0();
        for n in 0..rng.random_range(0..40) {
            at += Duration::minutes(rng.random_range(0..4 * 24 * 60));
            // Now and then an import dated in the past.
            let when = if rng.random_bool(0.125) {
                at - Duration::hours(rng.random_range(0..240))
            } else {
                at
            };
            let key = format!("import-{n}");
            let contact = RecordedContact {
                at: when,
                channel: [Channel::Email, Channel::Sms][rng.random_range(0..2)],
                class: if rng.random_bool(0.17) {
                    MessageClass::Transactional
                } else {
                    MessageClass::Marketing
                },
                topic: [None, Some("a"), Some("b"), Some("c")][rng.random_range(0..4)],
                key: &key,
            };
            switched.record(&old, CustomerId(1), contact).unwrap();
            from_start.record(&new, CustomerId(1), contact).unwrap();
        }
        let mut who = customer(1).with_consent(Channel::Sms, Consent::OptedIn);
        if rng.random_bool(0.5) {
            who = who.with_frequency_preference(FrequencyPreference {
                channel: [None, Some(Channel::Email), Some(Channel::Sms)][rng.random_range(0..3)],
                limit: NonZeroU32::new(rng.random_range(1..6)).unwrap(),
                window: ["1d", "3d", "7d"][rng.random_range(0..3)].parse().unwrap(),
            });
        }
        let mut differs = false;
        for _ in 0..40 {
            let now = at + Duration::minutes(rng.random_range(0..40 * 24 * 60));
            let channel = [Channel::Email, Channel::Sms][rng.random_range(0..2)];
            let mut attempt = if rng.random_bool(0.17) {
                Attempt::transactional(channel)
            } else {
                Attempt::marketing(channel)
            };
            if let Some(topic) = [None, Some("a"), Some("b"), Some("c")][rng.random_range(0..4)] {
                attempt = attempt.with_topic(topic);
            }
            let earliest = |ledger: &MemoryLedger| {
                ledger
                    .check(&new, &who, attempt, now)
                    .map(|verdict| verdict.earliest_allowed(now))
            };
            let (after_switch, exactly) = (earliest(&switched), earliest(&from_start));
            if exact {
                assert_eq!(
                    after_switch, exactly,
                    "old and new policies:\n{old:?}\n{new:?}"
                );
            }
            differs |= after_switch != exactly;
        }
        if exact {
            exact_pairs += 1;
        } else {
            other_pairs += 1;
            differences_when_not += usize::from(differs);
        }
    }
    assert!(
        differences_when_not > 0,
        "no switch it calls inexact undercounted"
    );
}

// ---------------------------------------------------------------------------------------------
// Message classes
// ---------------------------------------------------------------------------------------------

const MARKETING_RULES: &str = r#"
    time_zone = "Europe/London"

    [[caps]]
    channel = "email"
    limit = 1
    window = "7d"

    [[caps]]
    limit = 1
    window = "30d"

    [[spacing]]
    min_gap = "3d"

    [[quiet_hours]]
    start = "21:00"
    end = "08:00"
"#;

/// A customer that marketing can never reach, with every marketing rule full.
fn unreachable_for_marketing(
    ledger: &MemoryLedger,
    policy: &CompiledPolicy,
) -> (Customer, DateTime<Utc>) {
    let id = CustomerId(9);
    record(ledger, policy, id, Channel::Email, t0(), "e");
    record(
        ledger,
        policy,
        id,
        Channel::Sms,
        t0() + Duration::minutes(1),
        "s",
    );
    let c = Customer::new(id)
        .with_time_zone(chrono_tz::Europe::London)
        .with_consent(Channel::Email, Consent::OptedOut)
        .with_unsubscribed_topic("orders")
        .with_marketing_snoozed_until(t0() + Duration::days(90));
    // 23:00 London, in quiet hours, an hour after the last contact.
    (c, utc(2026, 5, 4, 22, 0))
}

#[test]
fn service_replies_pass_marketing_rules_and_do_not_contact() {
    let policy = compile(MARKETING_RULES);
    let ledger = MemoryLedger::new();
    let (c, night) = unreachable_for_marketing(&ledger, &policy);
    let c = c.with_do_not_contact(true);
    for channel in [Channel::Email, Channel::Sms, Channel::Phone] {
        let reply = Attempt::service(channel);
        assert!(ledger
            .check(&policy, &c, reply, night)
            .unwrap()
            .is_allowed());
        assert!(ledger
            .check(&policy, &c, reply.with_topic("orders"), night)
            .unwrap()
            .is_allowed());
        reserve_now(&ledger, &policy, &c, reply, night);
    }
    // Marketing is denied, with do-not-contact among the reasons.
    let verdict = ledger.check(&policy, &c, EMAIL, night).unwrap();
    assert!(matches!(verdict, Verdict::Denied { .. }), "{verdict}");
    assert!(
        verdict.reasons().contains(&Reason::DoNotContact),
        "{verdict}"
    );
}

#[test]
fn a_service_reply_reservation_can_be_committed_or_released() {
    // "commit(reservation) after a successful send, release(reservation) after a failed one"
    // holds for every reservation. One that no rule counts may be gone already (`Ok(false)`),
    // but settling it is never an error.
    let policy = compile(MARKETING_RULES);
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let sent = reserve_now(
        &ledger,
        &policy,
        &ada,
        Attempt::service(Channel::Email),
        t0(),
    );
    ledger.commit(&sent).expect("commit right after reserve");
    let failed = reserve_now(&ledger, &policy, &ada, Attempt::service(Channel::Sms), t0());
    ledger
        .release(&failed)
        .expect("release right after reserve");
    // And nothing about a service reply holds back the next one.
    assert!(ledger
        .check(&policy, &ada, Attempt::service(Channel::Email), t0())
        .unwrap()
        .is_allowed());
}

#[test]
fn transactional_messages_are_held_by_do_not_contact_only() {
    let policy = compile(MARKETING_RULES);
    let ledger = MemoryLedger::new();
    let (c, night) = unreachable_for_marketing(&ledger, &policy);
    let receipt = Attempt::transactional(Channel::Email);
    // No marketing consent, caps and spacing full, quiet hours, snoozed: a receipt still goes.
    assert!(ledger
        .check(&policy, &c, receipt, night)
        .unwrap()
        .is_allowed());
    assert!(ledger
        .check(&policy, &c, receipt.with_topic("orders"), night)
        .unwrap()
        .is_allowed());
    // Do-not-contact stops it, and no time of day will change that.
    let dnc = c.clone().with_do_not_contact(true);
    let verdict = ledger.check(&policy, &dnc, receipt, night).unwrap();
    assert!(matches!(verdict, Verdict::Denied { .. }), "{verdict}");
    assert!(
        verdict.reasons().contains(&Reason::DoNotContact),
        "{verdict}"
    );
    assert_eq!(
        ledger
            .earliest_allowed(&policy, &dnc, receipt, night)
            .unwrap(),
        None
    );
    let outcome = ledger
        .reserve(
            &policy,
            &dnc,
            receipt,
            IfBlocked::Defer { expires: None },
            night,
        )
        .unwrap();
    assert!(outcome.reservation.is_none());
}

#[test]
fn a_transactional_cap_holds_transactional_messages_only() {
    let policy = compile(
        r#"
        [[caps]]
        name = "receipts"
        class = "transactional"
        channel = "email"
        limit = 2
        window = "1d"

        [[caps]]
        channel = "email"
        limit = 3
        window = "1d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let receipt = Attempt::transactional(Channel::Email);
    send(&ledger, &policy, &ada, receipt, t0());
    send(&ledger, &policy, &ada, receipt, t0() + Duration::minutes(1));
    let now = t0() + Duration::minutes(2);
    // 2 of 2 used; the first frees its slot a day after it was sent.
    let verdict = ledger.check(&policy, &ada, receipt, now).unwrap();
    assert_deferred_until(&verdict, t0() + Duration::days(1));
    assert_eq!(cap_reason(&verdict).map(|r| r.0), Some("caps[0]"));
    // Marketing is not held by the receipt cap, and receipts do not count against marketing.
    for i in 0..3 {
        send(&ledger, &policy, &ada, EMAIL, now + Duration::minutes(i));
    }
    assert!(!ledger
        .check(&policy, &ada, EMAIL, now + Duration::minutes(5))
        .unwrap()
        .is_allowed());
    // Service replies are held by neither.
    assert!(ledger
        .check(
            &policy,
            &ada,
            Attempt::service(Channel::Email),
            now + Duration::minutes(5)
        )
        .unwrap()
        .is_allowed());
    // Transactional on another channel is outside the cap's scope.
    assert!(ledger
        .check(&policy, &ada, Attempt::transactional(Channel::Sms), now)
        .unwrap()
        .is_allowed());
}

// ---------------------------------------------------------------------------------------------
// Consent and the customer's own choices
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_consent_means_no_marketing() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let never_asked = Customer::new(3).with_consent(Channel::Sms, Consent::OptedIn);
    let verdict = ledger.check(&policy, &never_asked, EMAIL, t0()).unwrap();
    assert!(matches!(verdict, Verdict::Denied { .. }), "{verdict}");
    assert!(verdict.reasons().contains(&Reason::NoConsent {
        channel: Channel::Email,
        consent: Consent::Unknown
    }));
    assert_eq!(
        ledger
            .earliest_allowed(&policy, &never_asked, EMAIL, t0())
            .unwrap(),
        None
    );
    let outcome = ledger
        .reserve(
            &policy,
            &never_asked,
            EMAIL,
            IfBlocked::Defer { expires: None },
            t0(),
        )
        .unwrap();
    assert!(outcome.reservation.is_none());
    assert!(contacts_of(&ledger, 3).is_empty());
    // Consent on SMS covers SMS only.
    assert!(ledger
        .check(&policy, &never_asked, SMS, t0())
        .unwrap()
        .is_allowed());
    // Opted out is also no.
    let refused = never_asked.with_consent(Channel::Email, Consent::OptedOut);
    let verdict = ledger.check(&policy, &refused, EMAIL, t0()).unwrap();
    assert!(verdict.reasons().contains(&Reason::NoConsent {
        channel: Channel::Email,
        consent: Consent::OptedOut
    }));
}

#[test]
fn a_denial_lists_temporary_reasons_too() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    record(&ledger, &policy, CustomerId(4), Channel::Email, t0(), "e");
    let no_consent = Customer::new(4);
    let verdict = ledger
        .check(&policy, &no_consent, EMAIL, t0() + Duration::hours(1))
        .unwrap();
    assert!(matches!(verdict, Verdict::Denied { .. }), "{verdict}");
    assert!(verdict
        .reasons()
        .iter()
        .any(|r| matches!(r, Reason::NoConsent { .. })));
    assert!(
        cap_reason(&verdict).is_some(),
        "Verdict::Denied: 'The reasons include the temporary ones too': {verdict}"
    );
}

#[test]
fn a_snooze_defers_marketing_until_it_ends() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let until = t0() + Duration::days(10);
    let resting = customer(1).with_marketing_snoozed_until(until);
    let verdict = ledger.check(&policy, &resting, EMAIL, t0()).unwrap();
    assert_deferred_until(&verdict, until);
    assert!(
        verdict.reasons().contains(&Reason::Snoozed { until }),
        "{verdict}"
    );
    assert_eq!(
        ledger
            .earliest_allowed(&policy, &resting, EMAIL, t0())
            .unwrap(),
        Some(until)
    );
    assert!(ledger
        .check(&policy, &resting, EMAIL, until)
        .unwrap()
        .is_allowed());
    // Deferring reserves the first minute after the snooze.
    let outcome = ledger
        .reserve(
            &policy,
            &resting,
            EMAIL,
            IfBlocked::Defer { expires: None },
            t0(),
        )
        .unwrap();
    assert_eq!(outcome.reservation.unwrap().send_at(), until);
    // Receipts are not marketing.
    assert!(ledger
        .check(
            &policy,
            &resting,
            Attempt::transactional(Channel::Email),
            t0()
        )
        .unwrap()
        .is_allowed());
}

#[test]
fn a_deferred_contact_is_judged_at_the_time_it_would_be_sent() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 1
        window = "1d"

        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
    "#,
    );
    let ledger = MemoryLedger::new();
    // The snooze ends at 23:00 London (22:00Z): quiet hours then, until 08:00 BST = 07:00Z.
    let snoozed = customer(1)
        .with_time_zone(chrono_tz::Europe::London)
        .with_marketing_snoozed_until(utc(2026, 5, 4, 22, 0));
    let verdict = ledger.check(&policy, &snoozed, EMAIL, t0()).unwrap();
    assert_deferred_until(&verdict, utc(2026, 5, 5, 7, 0));
    // A cap that frees during quiet hours: an email recorded 21:30Z on 05-05 (22:30 BST) frees
    // at 21:30Z on 05-06, which is quiet until 08:00 BST on 05-07 = 07:00Z.
    let ada = customer(2);
    record(
        &ledger,
        &policy,
        ada.id,
        Channel::Email,
        utc(2026, 5, 5, 21, 30),
        "late",
    );
    let verdict = ledger
        .check(&policy, &ada, EMAIL, utc(2026, 5, 6, 12, 0))
        .unwrap();
    assert_deferred_until(&verdict, utc(2026, 5, 7, 7, 0));
    assert!(ledger
        .check(&policy, &ada, EMAIL, utc(2026, 5, 7, 7, 0))
        .unwrap()
        .is_allowed());
}

#[test]
fn an_unsubscribed_topic_denies_only_that_topic() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let c = customer(1).with_unsubscribed_topic("newsletter");
    let verdict = ledger
        .check(&policy, &c, EMAIL.with_topic("newsletter"), t0())
        .unwrap();
    assert!(matches!(verdict, Verdict::Denied { .. }), "{verdict}");
    assert!(verdict.reasons().contains(&Reason::Unsubscribed {
        topic: "newsletter".to_owned()
    }));
    assert!(ledger
        .check(&policy, &c, EMAIL.with_topic("offers"), t0())
        .unwrap()
        .is_allowed());
    assert!(ledger.check(&policy, &c, EMAIL, t0()).unwrap().is_allowed());
    assert!(ledger
        .check(&policy, &c, SMS.with_topic("Newsletter"), t0())
        .unwrap()
        .is_allowed());
    assert!(matches!(
        ledger
            .check(&policy, &c, SMS.with_topic("newsletter"), t0())
            .unwrap(),
        Verdict::Denied { .. }
    ));
}

#[test]
fn a_customer_preference_tightens_the_policy_and_is_the_reason_given() {
    let policy = compile(TWO_EMAILS_A_WEEK);
    let ledger = MemoryLedger::new();
    let monthly = customer(1).with_frequency_preference(FrequencyPreference {
        channel: Some(Channel::Email),
        limit: NonZeroU32::new(1).unwrap(),
        window: Window::Calendar(CalendarPeriod::Month),
    });
    // 2026-05-10 09:00Z = 10:00 BST.
    send(&ledger, &policy, &monthly, EMAIL, utc(2026, 5, 10, 9, 0));
    // The policy would allow a second email this week; the customer's month is used up until
    // 2026-06-01 00:00 BST = 2026-05-31 23:00Z.
    let now = utc(2026, 5, 20, 9, 0);
    let verdict = ledger.check(&policy, &monthly, EMAIL, now).unwrap();
    assert_deferred_until(&verdict, utc(2026, 5, 31, 23, 0));
    let reason = verdict
        .reasons()
        .iter()
        .find_map(|r| match r {
            Reason::CapReached {
                rule,
                count,
                limit,
                window,
                frees_at,
            } => Some((rule.path.clone(), *count, *limit, *window, *frees_at)),
            _ => None,
        })
        .expect("a cap reason");
    assert_eq!(
        reason,
        (
            "customer.frequency_preferences[0]".to_owned(),
            1,
            1,
            Window::Calendar(CalendarPeriod::Month),
            utc(2026, 5, 31, 23, 0)
        )
    );
    // The same customer without the preference would be allowed.
    assert!(ledger
        .check(&policy, &customer(1), EMAIL, now)
        .unwrap()
        .is_allowed());
    // SMS is outside the preference.
    assert!(ledger
        .check(&policy, &monthly, SMS, now)
        .unwrap()
        .is_allowed());
    assert!(ledger
        .check(&policy, &monthly, EMAIL, utc(2026, 5, 31, 23, 0))
        .unwrap()
        .is_allowed());
}

#[test]
fn a_looser_customer_preference_never_loosens_the_policy() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let eager = customer(1).with_frequency_preference(FrequencyPreference {
        channel: None,
        limit: NonZeroU32::new(4).unwrap(),
        window: Window::Rolling {
            seconds: NonZeroU32::new(86_400).unwrap(),
        },
    });
    send(&ledger, &policy, &eager, EMAIL, t0());
    let verdict = ledger
        .check(&policy, &eager, EMAIL, t0() + Duration::days(2))
        .unwrap();
    assert_deferred_until(&verdict, t0() + Duration::days(7));
    assert_eq!(cap_reason(&verdict).map(|r| r.0), Some("caps[0]"));
}

// ---------------------------------------------------------------------------------------------
// Deferral with an expiry, and earliest_allowed
// ---------------------------------------------------------------------------------------------

#[test]
fn deferral_past_the_expiry_reserves_nothing() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ada = customer(1);
    let ledger = MemoryLedger::new();
    send(&ledger, &policy, &ada, EMAIL, t0());
    let before = ledger.snapshot();
    let now = t0() + Duration::days(1);
    let frees = t0() + Duration::days(7);

    // "Worth sending only until Friday": the slot frees on Monday.
    let friday = t0() + Duration::days(4);
    let outcome = ledger
        .reserve(
            &policy,
            &ada,
            EMAIL,
            IfBlocked::Defer {
                expires: Some(friday),
            },
            now,
        )
        .unwrap();
    assert!(outcome.reservation.is_none());
    assert_deferred_until(&outcome.verdict, frees);
    // One second short is still too late.
    let outcome = ledger
        .reserve(
            &policy,
            &ada,
            EMAIL,
            IfBlocked::Defer {
                expires: Some(frees - Duration::seconds(1)),
            },
            now,
        )
        .unwrap();
    assert!(outcome.reservation.is_none());
    // Drop never reserves a blocked contact.
    let outcome = ledger
        .reserve(&policy, &ada, EMAIL, IfBlocked::Drop, now)
        .unwrap();
    assert!(outcome.reservation.is_none());
    assert_deferred_until(&outcome.verdict, frees);
    assert_eq!(ledger.snapshot(), before, "nothing was reserved");
}

#[test]
fn deferral_within_the_expiry_reserves_the_deferred_time() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ada = customer(1);
    let now = t0() + Duration::days(1);
    let frees = t0() + Duration::days(7);
    for expires in [Some(frees), Some(frees + Duration::days(1)), None] {
        let ledger = MemoryLedger::new();
        send(&ledger, &policy, &ada, EMAIL, t0());
        let outcome = ledger
            .reserve(&policy, &ada, EMAIL, IfBlocked::Defer { expires }, now)
            .unwrap();
        assert_deferred_until(&outcome.verdict, frees);
        let reservation = outcome.reservation.expect("within the expiry: reserved");
        assert_eq!(reservation.send_at(), frees);
        let contacts = contacts_of(&ledger, 1);
        assert_eq!(contacts.len(), 2);
        assert_eq!(i64::from(contacts[1].at), frees.timestamp());
        assert_eq!(contacts[1].state, ContactState::Reserved);
        // The deferred slot counts: nothing else fits before the week after it.
        let verdict = ledger.check(&policy, &ada, EMAIL, now).unwrap();
        assert_deferred_until(&verdict, frees + Duration::days(7));
    }
}

#[test]
fn an_allowed_contact_is_reserved_now_whatever_the_expiry() {
    let policy = compile(ONE_EMAIL_A_WEEK);
    let ledger = MemoryLedger::new();
    let outcome = ledger
        .reserve(
            &policy,
            &customer(1),
            EMAIL,
            IfBlocked::Defer {
                expires: Some(t0() + Duration::hours(1)),
            },
            t0(),
        )
        .unwrap();
    assert!(outcome.verdict.is_allowed());
    assert_eq!(outcome.reservation.unwrap().send_at(), t0());
}

#[test]
fn earliest_allowed_matches_the_verdict_and_that_time_passes() {
    let policy = compile(RICH_POLICY);
    let (ledger, _) = populated(&policy);
    let mut deferred = 0;
    let attempts = [
        EMAIL,
        SMS,
        EMAIL.with_topic("newsletter"),
        Attempt::marketing(Channel::Push),
    ];
    for id in [1u64, 2, 3, 7] {
        let c = customer(id);
        for step in 0..(14 * 24 * 60 / 37) {
            let now = t0() + Duration::minutes(37 * step);
            for attempt in attempts {
                let verdict = ledger.check(&policy, &c, attempt, now).unwrap();
                let earliest = ledger.earliest_allowed(&policy, &c, attempt, now).unwrap();
                assert_eq!(
                    earliest,
                    verdict.earliest_allowed(now),
                    "{id} {now}: {verdict}"
                );
                if let Verdict::Deferred { until, reasons } = &verdict {
                    deferred += 1;
                    assert!(*until > now, "{verdict}");
                    assert!(!reasons.is_empty());
                    // Every reason frees by then; the latest one frees exactly then or earlier.
                    for r in reasons {
                        if let Some(at) = r.frees_at() {
                            assert!(at <= *until, "{r} frees after {until}");
                        }
                    }
                    let then = ledger.check(&policy, &c, attempt, *until).unwrap();
                    assert!(
                        then.is_allowed(),
                        "{id} {now}: deferred to {until} but then: {then}"
                    );
                    // Nothing earlier passes.
                    let just_before = *until - Duration::seconds(1);
                    if just_before > now {
                        let before = ledger.check(&policy, &c, attempt, just_before).unwrap();
                        assert!(
                            !before.is_allowed(),
                            "{id} {now}: {just_before} already passes"
                        );
                    }
                }
            }
        }
    }
    assert!(
        deferred > 100,
        "the scan should meet many deferrals, met {deferred}"
    );
}

// ---------------------------------------------------------------------------------------------
// Clocks that go backwards
// ---------------------------------------------------------------------------------------------

/// The most contacts (by time) in any half-open span `[s, s + window)`.
fn max_in_any_window(times: &[i64], window: i64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    for (i, &start) in sorted.iter().enumerate() {
        let n = sorted[i..]
            .iter()
            .take_while(|&&t| t < start + window)
            .count();
        best = best.max(n);
    }
    best
}

#[test]
fn a_clock_that_goes_back_cannot_get_a_contact_over_a_cap() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 1
        window = "1d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let day1 = utc(2026, 5, 1, 0, 0);
    let day3 = utc(2026, 5, 3, 0, 0);
    send(&ledger, &policy, &ada, EMAIL, day1);
    send(&ledger, &policy, &ada, EMAIL, day3);
    // Back to day 2 01:00: 25 hours after the day-1 email, 23 hours before the day-3 one.
    // Looking only backwards it would pass; it would then sit within a day of day 3.
    let back = utc(2026, 5, 2, 1, 0);
    let verdict = ledger.check(&policy, &ada, EMAIL, back).unwrap();
    assert!(!verdict.is_allowed(), "{verdict}");
    let outcome = ledger
        .reserve(
            &policy,
            &ada,
            EMAIL,
            IfBlocked::Defer { expires: None },
            back,
        )
        .unwrap();
    let reservation = outcome.reservation.expect("deferred");
    assert!(
        reservation.send_at() >= day3 + Duration::days(1),
        "{reservation}"
    );
    let times: Vec<i64> = contacts_of(&ledger, 1)
        .iter()
        .map(|c| i64::from(c.at))
        .collect();
    assert_eq!(max_in_any_window(&times, 86_400), 1, "{times:?}");
}

#[test]
fn a_contact_held_behind_a_later_one_is_explained_as_waiting_not_as_a_full_cap() {
    let policy = compile(
        r#"
        [[caps]]
        name = "ten a month"
        limit = 10
        window = "30d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let later = t0() + Duration::days(2);
    let import = RecordedContact {
        at: later,
        channel: Channel::Email,
        class: MessageClass::Marketing,
        topic: None,
        key: "scheduled-elsewhere",
    };
    assert_eq!(ledger.record(&policy, CustomerId(1), import), Ok(true));
    let verdict = ledger.check(&policy, &ada, SMS, t0()).unwrap();
    assert_deferred_until(&verdict, later);
    let text = verdict.to_string();
    assert!(
        text.contains("\"ten a month\": a contact in its scope is already counted at")
            && text.contains("so this waits until then"),
        "{text}"
    );
    assert!(
        !text.contains("used"),
        "one of ten is not a full cap: {text}"
    );
}

#[test]
fn a_clock_that_goes_back_before_a_sweep_cannot_get_a_contact_over_a_cap() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 1
        window = "1d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    send(&ledger, &policy, &ada, EMAIL, t0());
    ledger.sweep(&policy, t0() + Duration::days(3)).unwrap();
    // Back to 2 hours after the email: must not pass, whatever was swept.
    let verdict = ledger
        .check(&policy, &ada, EMAIL, t0() + Duration::hours(2))
        .unwrap();
    assert!(!verdict.is_allowed(), "{verdict}");
}

#[test]
fn a_wandering_clock_never_gets_contacts_over_caps_or_spacing() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 2
        window = "1d"

        [[caps]]
        limit = 4
        window = "3d"

        [[spacing]]
        min_gap = "2h"
    "#,
    );
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut now = t0();
    let mut granted: Vec<(i64, Channel)> = Vec::new();
    for _ in 0..3000 {
        // Mostly forward, sometimes back by up to six hours (net drift: about +1 h a step).
        let step = if rng.random_bool(0.2) {
            -rng.random_range(0..6 * 3600)
        } else {
            rng.random_range(0..4 * 3600)
        };
        now += Duration::seconds(step);
        let attempt = if rng.random_bool(0.5) { EMAIL } else { SMS };
        let if_blocked = if rng.random_bool(0.3) {
            IfBlocked::Defer {
                expires: Some(now + Duration::hours(12)),
            }
        } else {
            IfBlocked::Drop
        };
        let outcome = ledger
            .reserve(&policy, &ada, attempt, if_blocked, now)
            .unwrap();
        if let Some(r) = outcome.reservation {
            if rng.random_bool(0.1) {
                ledger.release(&r).unwrap();
            } else {
                ledger.commit(&r).unwrap();
                granted.push((r.send_at().timestamp(), r.channel()));
            }
        }
    }
    assert!(granted.len() > 50, "{} granted", granted.len());
    let all: Vec<i64> = granted.iter().map(|g| g.0).collect();
    let emails: Vec<i64> = granted
        .iter()
        .filter(|g| g.1 == Channel::Email)
        .map(|g| g.0)
        .collect();
    assert!(max_in_any_window(&emails, 86_400) <= 2);
    assert!(max_in_any_window(&all, 3 * 86_400) <= 4);
    let mut sorted = all.clone();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        assert!(pair[1] - pair[0] >= 7200, "spacing violated: {pair:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Long histories
// ---------------------------------------------------------------------------------------------

/// The earliest time at or after `now` when fewer than `limit` of `times` (all at or before
/// `now`) lie within `window` before it: brute force over the full history.
fn rolling_frees_at(times: &[i64], window: i64, limit: usize, now: i64) -> i64 {
    let mut desc: Vec<i64> = times.to_vec();
    desc.sort_unstable_by(|a, b| b.cmp(a));
    let counted = desc.iter().filter(|&&t| now - t < window).count();
    if counted < limit {
        now
    } else {
        desc[limit - 1] + window
    }
}

#[test]
fn ten_thousand_recorded_contacts_still_give_exact_verdicts() {
    let policy = compile(
        r#"
        [[caps]]
        name = "three emails a month"
        channel = "email"
        limit = 3
        window = "30d"

        [[caps]]
        name = "250 texts a year"
        channel = "sms"
        limit = 250
        window = "366d"

        [[caps]]
        name = "fifty pushes a week"
        channel = "push"
        limit = 50
        window = "7d"
    "#,
    );
    let start = utc(2025, 6, 1, 0, 0).timestamp();
    let mut rng = rand::rngs::StdRng::seed_from_u64(10_000);
    // 9,990 texts and pushes over about 330 days, at distinct seconds...
    let mut contacts: Vec<(i64, Channel)> = (0..9_990i64)
        .map(|i| {
            let at = start + i * 2_853 + rng.random_range(0..60);
            let channel = if rng.random_bool(0.8) {
                Channel::Sms
            } else {
                Channel::Push
            };
            (at, channel)
        })
        .collect();
    // ...and ten emails, three of them in the last month, buried under the rest.
    let last = contacts.iter().map(|c| c.0).max().unwrap();
    for i in 0..10i64 {
        contacts.push((last - 86_400 * 3 * i - 17, Channel::Email));
    }
    assert_eq!(contacts.len(), 10_000);
    contacts.shuffle(&mut rng); // imports arrive in any order

    for ordering in ["shuffled", "ascending"] {
        let ledger = MemoryLedger::new();
        let mut list = contacts.clone();
        if ordering == "ascending" {
            list.sort_unstable();
        }
        for (i, (at, channel)) in list.iter().enumerate() {
            let at = DateTime::from_timestamp(*at, 0).unwrap();
            assert!(record(
                &ledger,
                &policy,
                CustomerId(1),
                *channel,
                at,
                &format!("m{i}")
            ));
        }
        assert!(
            ledger.contact_count() <= 1_000,
            "{ordering}: history should stay bounded, holds {}",
            ledger.contact_count()
        );

        let c = Customer::new(1)
            .with_consent(Channel::Email, Consent::OptedIn)
            .with_consent(Channel::Sms, Consent::OptedIn)
            .with_consent(Channel::Push, Consent::OptedIn);
        let of = |channel: Channel| -> Vec<i64> {
            contacts
                .iter()
                .filter(|c| c.1 == channel)
                .map(|c| c.0)
                .collect()
        };
        for (attempt, window, limit) in [
            (EMAIL, 30 * 86_400, 3),
            (SMS, 366 * 86_400, 250),
            (Attempt::marketing(Channel::Push), 7 * 86_400, 50),
        ] {
            for offset in [1, 3_600, 5 * 86_400, 20 * 86_400, 40 * 86_400] {
                let now = last + offset;
                let expected = rolling_frees_at(&of(attempt.channel), window, limit, now);
                let now_utc = DateTime::from_timestamp(now, 0).unwrap();
                let verdict = ledger.check(&policy, &c, attempt, now_utc).unwrap();
                assert_eq!(
                    verdict.earliest_allowed(now_utc).map(|t| t.timestamp()),
                    Some(expected),
                    "{ordering}, {} at +{offset}s: {verdict}",
                    attempt.channel
                );
            }
        }
    }
}

#[test]
fn a_history_longer_than_the_inline_five_survives_settling_and_a_snapshot() {
    // Twelve emails a day: the ledger must keep up to twelve contacts for this customer.
    let policy = compile("[[caps]]\nchannel = \"email\"\nlimit = 12\nwindow = \"24h\"");
    let ledger = MemoryLedger::new();
    let who = customer(1);
    let mut held = Vec::new();
    for minute in 0..12 {
        let at = t0() + Duration::minutes(minute);
        let outcome = ledger
            .reserve(&policy, &who, EMAIL, IfBlocked::Drop, at)
            .unwrap();
        held.push(outcome.reservation.expect("under the cap"));
    }
    assert_eq!(ledger.contact_count(), 12);
    let later = t0() + Duration::minutes(30);
    assert!(!ledger
        .check(&policy, &who, EMAIL, later)
        .unwrap()
        .is_allowed());

    // Settling works wherever the contacts live; a released slot is free again.
    for reservation in &held[..6] {
        assert!(ledger.commit(reservation).unwrap());
    }
    assert!(ledger.release(&held[11]).unwrap());
    assert!(ledger
        .check(&policy, &who, EMAIL, later)
        .unwrap()
        .is_allowed());

    let restored = MemoryLedger::from_snapshot(ledger.snapshot()).unwrap();
    assert_eq!(restored.snapshot(), ledger.snapshot());
    assert_eq!(restored.contact_count(), 11);
    assert!(
        restored.release(&held[10]).unwrap(),
        "still reserved after restore"
    );
    assert!(ledger.release(&held[10]).unwrap());
    // Back under five: both ledgers agree, and the customer is still fully judged.
    for reservation in &held[6..10] {
        assert!(ledger.release(reservation).unwrap());
        assert!(restored.release(reservation).unwrap());
    }
    assert_eq!(restored.snapshot(), ledger.snapshot());
    assert_eq!(ledger.contact_count(), 6);
    assert_eq!(
        restored.check(&policy, &who, EMAIL, later).unwrap(),
        ledger.check(&policy, &who, EMAIL, later).unwrap()
    );
}

#[test]
fn topics_that_share_a_stored_key_count_together_and_the_policy_names_them() {
    // "offer-070" and "offer-353" share a 16-bit key (found among 500 offer ids; the key
    // function is pinned, snapshots store its values), "offer-071" does not.
    let policy = compile(
        r#"
        [[caps]]
        topic = "offer-070"
        limit = 1
        window = "30d"

        [[caps]]
        topic = "offer-353"
        limit = 1
        window = "30d"

        [[caps]]
        topic = "offer-071"
        limit = 1
        window = "30d"
    "#,
    );
    assert_eq!(policy.topic_collisions(), vec![("offer-070", "offer-353")]);
    assert!(compile(ONE_EMAIL_A_WEEK).topic_collisions().is_empty());

    // Fail closed: a send on one topic of the pair counts for the other's cap too, never less.
    let ledger = MemoryLedger::new();
    let ada = customer(1);
    send(&ledger, &policy, &ada, EMAIL.with_topic("offer-353"), t0());
    let later = t0() + Duration::days(1);
    let twin = ledger
        .check(&policy, &ada, EMAIL.with_topic("offer-070"), later)
        .unwrap();
    assert!(!twin.is_allowed(), "{twin}");
    let other = ledger
        .check(&policy, &ada, EMAIL.with_topic("offer-071"), later)
        .unwrap();
    assert!(other.is_allowed(), "{other}");
}

// ---------------------------------------------------------------------------------------------
// Window edges, to the second
// ---------------------------------------------------------------------------------------------

/// A rolling window of W counts a contact made W - 1 seconds before the attempt and not one
/// made W seconds before: for a history of one kind of contact (judged from its newest and
/// `limit`-th newest contacts) and a mixed one (judged by walking it) alike, for a cap, a
/// spacing rule and the customer's own preference, and through `reserve` as through `check`.
#[test]
fn a_window_counts_a_contact_one_second_inside_it_and_not_one_on_its_edge() {
    let policy = compile(
        r#"
        [[caps]]
        name = "two emails an hour"
        channel = "email"
        limit = 2
        window = "1h"

        [[spacing]]
        name = "ten minutes apart"
        channel = "email"
        min_gap = "10m"
        "#,
    );
    let second = Duration::seconds(1);
    for mixed in [false, true] {
        let ledger = MemoryLedger::new();
        let ada = customer(1);
        // Two emails 30 minutes apart (and, for the mixed history, an SMS between them, which
        // no rule here counts against email but which makes the history of two kinds).
        send(&ledger, &policy, &ada, EMAIL, t0());
        if mixed {
            send(&ledger, &policy, &ada, SMS, t0() + Duration::minutes(10));
        }
        let second_email = t0() + Duration::minutes(30);
        send(&ledger, &policy, &ada, EMAIL, second_email);

        // Spacing: ten minutes after the second email, less one second, is too soon.
        let spaced = second_email + Duration::minutes(10);
        // The cap: the first email leaves the hour at t0 + 1h exactly.
        let freed = t0() + Duration::hours(1);
        for (at, allowed) in [
            (spaced - second, false),
            (spaced, false), // still two emails in the hour
            (freed - second, false),
            (freed, true),
        ] {
            let checked = ledger.check(&policy, &ada, EMAIL, at).unwrap();
            assert_eq!(
                checked.is_allowed(),
                allowed,
                "mixed {mixed}, at {at}: {checked}"
            );
            let outcome = ledger
                .reserve(&policy, &ada, EMAIL, IfBlocked::Drop, at)
                .unwrap();
            assert_eq!(outcome.verdict, checked, "mixed {mixed}, at {at}");
            if let Some(reservation) = outcome.reservation {
                ledger.release(&reservation).unwrap();
            }
        }

        // The customer's own preference: one email per 20 minutes, judged the same way.
        let mut picky = ada.clone();
        picky.frequency_preferences.push(FrequencyPreference {
            channel: Some(Channel::Email),
            limit: NonZeroU32::new(1).unwrap(),
            window: Window::Rolling {
                seconds: NonZeroU32::new(20 * 60).unwrap(),
            },
        });
        let at_edge = t0() + Duration::hours(2);
        send(&ledger, &policy, &picky, EMAIL, at_edge);
        for (at, allowed) in [
            (at_edge + Duration::minutes(20) - second, false),
            (at_edge + Duration::minutes(20), true),
        ] {
            let checked = ledger.check(&policy, &picky, EMAIL, at).unwrap();
            assert_eq!(
                checked.is_allowed(),
                allowed,
                "mixed {mixed}, at {at}: {checked}"
            );
        }
    }
}
