//! Many threads deciding for the same few customers at once: check-and-reserve must be atomic,
//! so that no interleaving lets a contact over a cap or a spacing rule.
//!
//! Each run is replayed afterwards with brute-force counts over every contact the threads were
//! granted (and did not release), and over the ledger's own snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cornershop::{
    Attempt, Channel, Clock, CompiledPolicy, Consent, ContactLedger, ContactState, Customer,
    CustomerId, IfBlocked, ManualClock, MemoryLedger, MessageClass, Policy, Reason,
    RecordedContact, Verdict,
};
use rand::{Rng, SeedableRng};

const THREADS: usize = 8;
const ATTEMPTS_PER_THREAD: usize = 3_000;
const CUSTOMERS: u64 = 3;
const CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const GAP: i64 = 600;

/// 3 per hour per channel, 5 per day across channels, 10 minutes between two contacts on a
/// channel: small enough that every rule binds under load.
const POLICY: &str = r#"
    [[caps]]
    channel = "email"
    limit = 3
    window = "1h"

    [[caps]]
    channel = "sms"
    limit = 3
    window = "1h"

    [[caps]]
    channel = "push"
    limit = 3
    window = "1h"

    [[caps]]
    limit = 5
    window = "24h"

    [[spacing]]
    channel = "email"
    min_gap = "10m"

    [[spacing]]
    channel = "sms"
    min_gap = "10m"

    [[spacing]]
    channel = "push"
    min_gap = "10m"
"#;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

fn customer(id: u64) -> Customer {
    let mut c = Customer::new(id);
    for channel in CHANNELS {
        c = c.with_consent(channel, Consent::OptedIn);
    }
    c
}

fn compile(text: &str) -> CompiledPolicy {
    Policy::from_toml_str(text).unwrap().compile().unwrap()
}

#[test]
fn the_ledger_and_policy_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<MemoryLedger>();
    shareable::<CompiledPolicy>();
    shareable::<ManualClock>();
}

/// A contact that counts: granted and not released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Counted {
    customer: u64,
    at: i64,
    channel: Channel,
    committed: bool,
}

/// The most timestamps in any half-open span `[s, s + window)`.
fn max_in_any_window(times: &[i64], window: i64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|&&t| t < sorted[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Brute-force replay of every rule in `POLICY` over `contacts`.
fn assert_no_rule_exceeded(contacts: &[Counted], what: &str) {
    for id in 1..=CUSTOMERS {
        let mine: Vec<&Counted> = contacts.iter().filter(|c| c.customer == id).collect();
        let all: Vec<i64> = mine.iter().map(|c| c.at).collect();
        let day = max_in_any_window(&all, DAY);
        assert!(
            day <= 5,
            "{what}: customer {id} had {day} contacts within 24h"
        );
        for channel in CHANNELS {
            let mut times: Vec<i64> = mine
                .iter()
                .filter(|c| c.channel == channel)
                .map(|c| c.at)
                .collect();
            let hour = max_in_any_window(&times, HOUR);
            assert!(
                hour <= 3,
                "{what}: customer {id} had {hour} {channel} contacts within 1h"
            );
            times.sort_unstable();
            for pair in times.windows(2) {
                assert!(
                    pair[1] - pair[0] >= GAP,
                    "{what}: customer {id}: {channel} contacts {}s apart at {pair:?}",
                    pair[1] - pair[0]
                );
            }
        }
    }
}

struct Tally {
    attempts: AtomicUsize,
    grants: AtomicUsize,
    deferred_grants: AtomicUsize,
    releases: AtomicUsize,
    held_by_cap_or_spacing: AtomicUsize,
    held_by_a_later_contact: AtomicUsize,
}

#[test]
fn eight_threads_hammering_three_customers_never_exceed_a_cap_or_spacing() {
    // 90% of the time a granted slot is committed or left unsettled, 15% it is released.
    hammer(0.15);
}

#[test]
fn eight_threads_hammering_three_customers_without_releases_never_exceed_a_cap_or_spacing() {
    // The same run with every granted slot committed or left unsettled: no slot is given back.
    hammer(0.0);
}

/// 8 threads, 3,000 attempts each, on 3 customers under `POLICY`, sharing one ledger and one
/// clock that every thread moves on. A granted slot is released with probability
/// `release_share`, otherwise committed (90%) or never settled (10%). Then replays everything.
fn hammer(release_share: f64) {
    let policy = compile(POLICY);
    let ledger = MemoryLedger::new();
    let clock = ManualClock::new(start());
    let customers: Vec<Customer> = (1..=CUSTOMERS).map(customer).collect();
    let tally = Tally {
        attempts: AtomicUsize::new(0),
        grants: AtomicUsize::new(0),
        deferred_grants: AtomicUsize::new(0),
        releases: AtomicUsize::new(0),
        held_by_cap_or_spacing: AtomicUsize::new(0),
        held_by_a_later_contact: AtomicUsize::new(0),
    };
    let barrier = Barrier::new(THREADS);

    let counted: Vec<Counted> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (policy, ledger, clock, customers, tally, barrier) = (
                    &policy,
                    &ledger,
                    clock.clone(),
                    &customers,
                    &tally,
                    &barrier,
                );
                s.spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE + t as u64);
                    let mut kept = Vec::new();
                    barrier.wait();
                    for _ in 0..ATTEMPTS_PER_THREAD {
                        let now = clock.now();
                        let who = &customers[rng.random_range(0..customers.len())];
                        let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
                        let if_blocked = if rng.random_bool(0.25) {
                            IfBlocked::Defer {
                                expires: Some(now + Duration::hours(3)),
                            }
                        } else {
                            IfBlocked::Drop
                        };
                        let outcome = ledger
                            .reserve(policy, who, Attempt::marketing(channel), if_blocked, now)
                            .expect("reserve");
                        tally.attempts.fetch_add(1, Ordering::Relaxed);
                        for reason in outcome.verdict.reasons() {
                            match reason {
                                Reason::CapReached { .. } | Reason::TooSoon { .. } => {
                                    tally.held_by_cap_or_spacing.fetch_add(1, Ordering::Relaxed);
                                }
                                Reason::LaterContact { .. } | Reason::ClockBehind { .. } => {
                                    tally
                                        .held_by_a_later_contact
                                        .fetch_add(1, Ordering::Relaxed);
                                }
                                _ => {}
                            }
                        }
                        if let Some(reservation) = outcome.reservation {
                            tally.grants.fetch_add(1, Ordering::Relaxed);
                            if !outcome.verdict.is_allowed() {
                                tally.deferred_grants.fetch_add(1, Ordering::Relaxed);
                                assert!(reservation.send_at() > now);
                            }
                            assert_eq!(reservation.customer(), who.id);
                            assert_eq!(reservation.channel(), channel);
                            if rng.random_bool(release_share) {
                                ledger
                                    .release(&reservation)
                                    .expect("release a fresh reservation");
                                tally.releases.fetch_add(1, Ordering::Relaxed);
                            } else {
                                let committed = rng.random_bool(0.9);
                                if committed {
                                    ledger.commit(&reservation).expect("commit");
                                } // else: never settled, counts as sent
                                kept.push(Counted {
                                    customer: who.id.0,
                                    at: reservation.send_at().timestamp(),
                                    channel,
                                    committed,
                                });
                            }
                        }
                        // Move the shared clock on by 0-2 minutes (whole seconds).
                        clock.advance(Duration::seconds(rng.random_range(0..=120)));
                    }
                    kept
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let attempts = tally.attempts.load(Ordering::Relaxed);
    let grants = tally.grants.load(Ordering::Relaxed);
    let releases = tally.releases.load(Ordering::Relaxed);
    assert_eq!(attempts, THREADS * ATTEMPTS_PER_THREAD);
    assert!(grants > 100, "only {grants} grants");
    assert!(
        attempts > 10 * grants,
        "{attempts} attempts for {grants} grants: no contention"
    );
    if release_share > 0.0 {
        assert!(releases > 0, "some slots were given back");
    }
    assert!(
        tally.deferred_grants.load(Ordering::Relaxed) > 0,
        "some grants were deferred"
    );
    assert!(tally.held_by_cap_or_spacing.load(Ordering::Relaxed) > 1_000);
    assert_eq!(counted.len(), grants - releases);

    // The ledger's own view: a subset of what was granted (older contacts may be pruned), in
    // the right states, and itself within every rule.
    let snapshot = ledger.snapshot();
    let mut expected: HashMap<(u64, i64, Channel, bool), usize> = HashMap::new();
    for c in &counted {
        *expected
            .entry((c.customer, c.at, c.channel, c.committed))
            .or_default() += 1;
    }
    let mut held = Vec::new();
    for customer in &snapshot.customers {
        for contact in &customer.contacts {
            assert_eq!(contact.class, MessageClass::Marketing);
            let committed = match contact.state {
                ContactState::Committed => true,
                ContactState::Reserved => false,
                other => panic!("nothing was recorded: {other:?} {contact:?}"),
            };
            let key = (
                customer.id.0,
                i64::from(contact.at),
                contact.channel,
                committed,
            );
            let left = expected.get_mut(&key);
            assert!(
                matches!(left.as_deref(), Some(n) if *n > 0),
                "the ledger holds a contact no thread was granted (or one released): {key:?}"
            );
            *left.unwrap() -= 1;
            held.push(Counted {
                customer: customer.id.0,
                at: i64::from(contact.at),
                channel: contact.channel,
                committed,
            });
        }
    }
    assert!(!held.is_empty());
    assert_no_rule_exceeded(&held, "ledger snapshot");
    // Replay everything the threads hold as sent or reserved.
    assert_no_rule_exceeded(&counted, "granted reservations");

    // The latest granted contact of each customer is certainly still held.
    for id in 1..=CUSTOMERS {
        if let Some(latest) = counted
            .iter()
            .filter(|c| c.customer == id)
            .max_by_key(|c| c.at)
        {
            assert!(
                held.iter().any(|h| h.customer == id && h.at == latest.at),
                "customer {id}: latest contact {latest:?} is missing from the ledger"
            );
        }
    }
}

#[test]
fn threads_racing_for_the_last_slots_at_the_same_instant_take_exactly_the_limit() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 3
        window = "1h"
    "#,
    );
    let ledger = MemoryLedger::new();
    let rounds = 300u64;
    let barrier = Barrier::new(THREADS);
    let now = start();
    let wins: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (policy, ledger, barrier) = (&policy, &ledger, &barrier);
                s.spawn(move || {
                    let mut won = Vec::new();
                    for round in 0..rounds {
                        let c = customer(1_000 + round);
                        barrier.wait();
                        let outcome = ledger
                            .reserve(
                                policy,
                                &c,
                                Attempt::marketing(Channel::Email),
                                IfBlocked::Drop,
                                now,
                            )
                            .unwrap();
                        match outcome.reservation {
                            Some(r) => {
                                assert!(outcome.verdict.is_allowed());
                                ledger.commit(&r).unwrap();
                                won.push(round);
                            }
                            None => match &outcome.verdict {
                                Verdict::Deferred { until, reasons } => {
                                    assert_eq!(*until, now + Duration::hours(1));
                                    assert!(reasons.iter().any(|r| matches!(
                                        r,
                                        Reason::CapReached {
                                            count: 3,
                                            limit: 3,
                                            ..
                                        }
                                    )));
                                }
                                other => panic!("round {round}: {other}"),
                            },
                        }
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut per_round = vec![0usize; rounds as usize];
    for round in wins.iter().flatten() {
        per_round[*round as usize] += 1;
    }
    for (round, n) in per_round.iter().enumerate() {
        assert_eq!(*n, 3, "round {round}: {n} threads took a slot of 3");
    }
    for round in 0..rounds {
        let contacts = ledger
            .snapshot()
            .customers
            .into_iter()
            .find(|c| c.id == CustomerId(1_000 + round))
            .map(|c| c.contacts.len());
        assert_eq!(contacts, Some(3));
    }
}

#[test]
fn threads_recording_the_same_import_count_it_once() {
    let policy = compile(
        r#"
        [[caps]]
        channel = "email"
        limit = 5
        window = "7d"
    "#,
    );
    let ledger = MemoryLedger::new();
    let rounds = 200u64;
    let barrier = Barrier::new(THREADS);
    let at = start();
    let firsts: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (policy, ledger, barrier) = (&policy, &ledger, &barrier);
                s.spawn(move || {
                    let mut first = 0;
                    for round in 0..rounds {
                        let key = format!("import-{round}");
                        barrier.wait();
                        let fresh = ledger
                            .record(
                                policy,
                                CustomerId(round % 4),
                                RecordedContact {
                                    at: at + Duration::minutes(round as i64),
                                    channel: Channel::Email,
                                    class: MessageClass::Marketing,
                                    topic: None,
                                    key: &key,
                                },
                            )
                            .unwrap();
                        first += usize::from(fresh);
                    }
                    first
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(firsts, rounds as usize, "each import is new exactly once");
}

#[test]
fn concurrent_checks_never_change_what_the_ledger_holds() {
    let policy = compile(POLICY);
    let ledger = MemoryLedger::new();
    let c = customer(1);
    let r = ledger
        .reserve(
            &policy,
            &c,
            Attempt::marketing(Channel::Email),
            IfBlocked::Drop,
            start(),
        )
        .unwrap()
        .reservation
        .unwrap();
    ledger.commit(&r).unwrap();
    let before = ledger.snapshot();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (policy, ledger, c) = (&policy, &ledger, &c);
            s.spawn(move || {
                for i in 0..500i64 {
                    let now = start() + Duration::seconds((i * 7 + t as i64) % 600);
                    let v = ledger
                        .check(policy, c, Attempt::marketing(Channel::Email), now)
                        .unwrap();
                    assert!(!v.is_allowed(), "within 10 minutes of the last email: {v}");
                    let e = ledger
                        .earliest_allowed(policy, c, Attempt::marketing(Channel::Email), now)
                        .unwrap();
                    assert_eq!(e, Some(start() + Duration::minutes(10)));
                }
            });
        }
    });
    assert_eq!(ledger.snapshot(), before);
}
