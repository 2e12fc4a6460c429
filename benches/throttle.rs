//! The throttle's hot path next to its closest peer, governor, measured in one run.
//!
//! - `keyed_1m_random`: 1,000,000 keys visited in a seeded random order. governor's keyed
//!   `check_key` vs cornershop's check-and-reserve + commit under three caps and a spacing rule.
//! - `in_cache`: one key whose state stays in cache. governor's direct `check` vs the same
//!   cornershop operation for one customer.
//!
//! governor reads a clock inside each check; cornershop takes the time as an argument, which
//! its caller reads. So each group measures governor twice, so that like is compared with like:
//! `governor_*` with the clock this build of governor reads (`std::time::Instant`, since the
//! dev-dependency leaves out the `quanta` feature), and `governor_*_time_given` on governor's
//! `FakeRelativeClock` (an atomic load), which is what cornershop's figure is comparable to;
//! `in_cache/clock_read` measures the `Utc::now()` a caller of cornershop pays for its `now`,
//! `in_cache/std_instant_read` the `Instant::now()` governor's build reads, and
//! `in_cache/mutex_lock_unlock` one uncontended lock/unlock pair (reserve + commit take two).
//! - `history_length`: a check for a customer with 10 recorded contacts vs one with 10,000.
//!
//! Before the timings it prints the ledger's memory per customer, measured as the growth of the
//! process's resident set (`/proc/self/statm`) while 1,000,000 customers each get one contact.
//! Only ratios between entries of one run mean much: the 1M-key numbers are memory-bound.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cornershop::{
    Attempt, Channel, CompiledPolicy, Consent, ContactLedger, Customer, IfBlocked, MemoryLedger,
    MessageClass, Policy, RecordedContact,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const KEYS: u64 = 1_000_000;

/// Three caps and a spacing rule. With one contact per customer every three days (the pace the
/// benches below keep) every attempt is allowed, so each op is one full check-and-reserve.
const POLICY: &str = r#"
    time_zone = "Europe/London"

    [[caps]]
    name = "email per day"
    channel = "email"
    limit = 2
    window = "24h"

    [[caps]]
    name = "marketing per week"
    limit = 3
    window = "7d"

    [[caps]]
    name = "newsletter"
    topic = "newsletter"
    limit = 4
    window = "10d"

    [[spacing]]
    min_gap = "4h"
"#;

/// Time passes three days per pass over the keys.
const PACE: i64 = 3 * 86_400;

fn policy() -> CompiledPolicy {
    Policy::from_toml_str(POLICY)
        .and_then(|p| p.compile())
        .expect("the bench policy is valid")
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn customer(id: u64) -> Customer {
    Customer::new(id).with_consent(Channel::Email, Consent::OptedIn)
}

fn random_order() -> Vec<u64> {
    let mut keys: Vec<u64> = (0..KEYS).collect();
    keys.shuffle(&mut StdRng::seed_from_u64(0x00C0_FFEE));
    keys
}

/// One check-and-reserve + commit, asserting it was allowed (the pace guarantees it).
fn reserve_and_commit(
    ledger: &MemoryLedger,
    policy: &CompiledPolicy,
    customer: &Customer,
    now: DateTime<Utc>,
) {
    let attempt = Attempt::marketing(Channel::Email).with_topic("newsletter");
    let outcome = ledger
        .reserve(policy, customer, attempt, IfBlocked::Drop, now)
        .expect("valid input");
    let reservation = outcome
        .reservation
        .expect("the pace keeps every attempt allowed");
    let committed = ledger.commit(black_box(&reservation)).expect("valid");
    assert!(committed, "a fresh reservation is held until committed");
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Resident-set growth per customer while `ledger` takes one contact for each of `order`.
fn memory_per_customer(
    ledger: MemoryLedger,
    order: &[u64],
    policy: &CompiledPolicy,
) -> Option<f64> {
    let before = resident_bytes()?;
    let mut who = customer(0);
    for &id in order {
        who.id = id.into();
        reserve_and_commit(&ledger, policy, &who, start());
    }
    let after = resident_bytes()?;
    drop(black_box(ledger));
    Some(after.saturating_sub(before) as f64 / order.len() as f64)
}

/// Set in a child process of this bench to make it measure one ledger's memory and exit.
const MEMORY_PROBE: &str = "CORNERSHOP_MEMORY_PROBE";

/// Measures each kind of ledger in a fresh process of this same binary, so that neither sees
/// memory the other freed: `grown` starts empty, `sized` uses `MemoryLedger::with_capacity`.
fn report_memory(order: &[u64], policy: &CompiledPolicy) {
    if let Ok(kind) = std::env::var(MEMORY_PROBE) {
        let ledger = match kind.as_str() {
            "sized" => MemoryLedger::with_capacity(order.len()),
            _ => MemoryLedger::new(),
        };
        if let Some(bytes) = memory_per_customer(ledger, order, policy) {
            println!("{bytes:.1}");
        }
        std::process::exit(0);
    }
    let probe = |kind: &str| -> Option<String> {
        let exe = std::env::current_exe().ok()?;
        let output = std::process::Command::new(exe)
            .arg("--bench")
            .env(MEMORY_PROBE, kind)
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        text.lines().last().map(str::to_owned)
    };
    if let (Some(sized), Some(grown)) = (probe("sized"), probe("grown")) {
        println!(
            "memory: {sized} bytes per customer with MemoryLedger::with_capacity, {grown} growing from empty ({} customers, 1 contact each; resident set growth, each in a fresh process)",
            order.len()
        );
    }
}

/// A keyed check (`check`, generic so that it is inlined as a direct call) over the keys in
/// `order`, one per iteration.
fn bench_keys(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    order: &[u64],
    check: impl Fn(&u64) -> bool,
) {
    let mut i = 0usize;
    group.bench_function(name, |b| {
        b.iter(|| {
            let key = order[i % order.len()];
            i += 1;
            black_box(check(&key))
        })
    });
}

fn keyed_1m_random(c: &mut Criterion) {
    let order = random_order();
    let policy = policy();
    report_memory(&order, &policy);

    let mut group = c.benchmark_group("keyed_1m_random");
    let quota = Quota::per_hour(NonZeroU32::new(1_000_000).unwrap());
    let limiter = RateLimiter::keyed(quota);
    bench_keys(&mut group, "governor_check_key", &order, |key| {
        limiter.check_key(key).is_ok()
    });
    let limiter = RateLimiter::dashmap_with_clock(quota, FakeRelativeClock::default());
    bench_keys(&mut group, "governor_check_key_time_given", &order, |key| {
        limiter.check_key(key).is_ok()
    });

    let ledger = MemoryLedger::new();
    let mut who = customer(0);
    let mut now = start();
    let mut i = 0usize;
    group.bench_function("cornershop_reserve_commit", |b| {
        b.iter(|| {
            if i > 0 && i % order.len() == 0 {
                now += Duration::seconds(PACE);
            }
            who.id = order[i % order.len()].into();
            i += 1;
            reserve_and_commit(&ledger, &policy, &who, now);
        })
    });
    group.finish();
}

fn in_cache(c: &mut Criterion) {
    let policy = policy();
    let mut group = c.benchmark_group("in_cache");
    let quota = Quota::per_second(NonZeroU32::new(u32::MAX).unwrap());
    let limiter = RateLimiter::direct(quota);
    group.bench_function("governor_check", |b| {
        b.iter(|| black_box(limiter.check()).ok())
    });
    let limiter = RateLimiter::direct_with_clock(quota, FakeRelativeClock::default());
    group.bench_function("governor_check_time_given", |b| {
        b.iter(|| black_box(limiter.check()).ok())
    });
    // What a caller of cornershop pays to read the `now` it passes, and the clock governor's
    // build reads inside its check.
    group.bench_function("clock_read", |b| b.iter(|| black_box(Utc::now())));
    group.bench_function("std_instant_read", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    // One uncontended lock and unlock of a `std::sync::Mutex`: cornershop's reserve and
    // commit take two such pairs.
    let mutex = std::sync::Mutex::new(0u64);
    group.bench_function("mutex_lock_unlock", |b| {
        b.iter(|| {
            // A poisoned lock cannot happen here: nothing panics while holding it.
            let mut value = black_box(&mutex).lock().expect("never poisoned");
            *value += 1;
        })
    });

    let ledger = MemoryLedger::new();
    let who = customer(42);
    // Time moves on three days per contact; it starts over well before the ledger's range ends
    // (year 2106), forgetting the customer (amortised over 5,000 contacts).
    let times: Vec<DateTime<Utc>> = (0..5_000)
        .map(|step| start() + Duration::seconds(PACE * step))
        .collect();
    let mut step = 0usize;
    group.bench_function("cornershop_reserve_commit", |b| {
        b.iter(|| {
            step += 1;
            if step == times.len() {
                step = 0;
                ledger.forget(who.id).expect("in-memory forget cannot fail");
            }
            reserve_and_commit(&ledger, &policy, &who, times[step]);
        })
    });
    group.finish();
}

fn history_length(c: &mut Criterion) {
    let policy = policy();
    let mut group = c.benchmark_group("history_length");
    let ledger = MemoryLedger::new();
    let now = Utc.with_ymd_and_hms(2060, 1, 1, 12, 0, 0).unwrap();
    for (id, contacts) in [(1u64, 10i64), (2, 10_000)] {
        for n in 1..=contacts {
            let key = format!("import-{n}");
            let contact = RecordedContact {
                // One contact per customer every three days (the policy's pace), the newest
                // three days before `now`, so that the attempt judged is allowed.
                at: now - Duration::seconds(PACE * n),
                channel: if n % 3 == 0 {
                    Channel::Sms
                } else {
                    Channel::Email
                },
                class: MessageClass::Marketing,
                topic: (n % 2 == 0).then_some("newsletter"),
                key: &key,
            };
            ledger
                .record(&policy, id.into(), contact)
                .expect("valid import");
        }
        let who = customer(id);
        let attempt = Attempt::marketing(Channel::Email).with_topic("newsletter");
        assert!(ledger
            .check(&policy, &who, attempt, now)
            .expect("valid")
            .is_allowed());
        group.bench_function(format!("check_{contacts}_contacts"), |b| {
            b.iter(|| black_box(ledger.check(&policy, &who, attempt, now).expect("valid")))
        });
    }
    group.finish();
}

criterion_group!(benches, keyed_1m_random, in_cache, history_length);
criterion_main!(benches);
