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
//! After criterion's timings, the bench measures the goals' ratios again in turns
//! (`common/turns.rs`: a batch of one side, then a batch of the other, over and over, so that
//! both meet the same load on a shared host): cornershop over governor with the time given,
//! for 1,000,000 keys and in cache, and the 10,000-contact check over the 10-contact one. It
//! prints one `turns:` line per ratio and saves them in `target/criterion/turns/throttle.json`;
//! `cargo bench --bench throttle -- turns` measures the ratios alone (and the memory probe
//! below, which runs whatever the filter).
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
use criterion::{criterion_group, BenchmarkGroup, Criterion};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

#[path = "common/turns.rs"]
mod turns;
use turns::Turns;

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

/// cornershop's check-and-reserve + commit over the customers in `order`, one per step; time
/// moves on by [`PACE`] after each pass over them.
struct KeyedVisits<'a> {
    order: &'a [u64],
    policy: &'a CompiledPolicy,
    ledger: MemoryLedger,
    who: Customer,
    now: DateTime<Utc>,
    visits: usize,
}

impl<'a> KeyedVisits<'a> {
    fn new(order: &'a [u64], policy: &'a CompiledPolicy) -> KeyedVisits<'a> {
        KeyedVisits {
            order,
            policy,
            ledger: MemoryLedger::new(),
            who: customer(0),
            now: start(),
            visits: 0,
        }
    }

    fn step(&mut self) {
        if self.visits > 0 && self.visits % self.order.len() == 0 {
            self.now += Duration::seconds(PACE);
        }
        self.who.id = self.order[self.visits % self.order.len()].into();
        self.visits += 1;
        reserve_and_commit(&self.ledger, self.policy, &self.who, self.now);
    }
}

/// cornershop's check-and-reserve + commit for one customer, [`PACE`] apart. Time starts over
/// well before the ledger's range ends (year 2106), forgetting the customer (amortised over
/// 5,000 contacts).
struct OneCustomer<'a> {
    policy: &'a CompiledPolicy,
    ledger: MemoryLedger,
    who: Customer,
    times: Vec<DateTime<Utc>>,
    step: usize,
}

impl<'a> OneCustomer<'a> {
    fn new(policy: &'a CompiledPolicy) -> OneCustomer<'a> {
        OneCustomer {
            policy,
            ledger: MemoryLedger::new(),
            who: customer(42),
            times: (0..5_000)
                .map(|step| start() + Duration::seconds(PACE * step))
                .collect(),
            step: 0,
        }
    }

    fn step(&mut self) {
        self.step += 1;
        if self.step == self.times.len() {
            self.step = 0;
            self.ledger
                .forget(self.who.id)
                .expect("in-memory forget cannot fail");
        }
        reserve_and_commit(&self.ledger, self.policy, &self.who, self.times[self.step]);
    }
}

/// Keys from `order`, one per call, round and round.
fn cycle(order: &[u64]) -> impl FnMut() -> u64 + '_ {
    let mut i = 0usize;
    move || {
        let key = order[i % order.len()];
        i += 1;
        key
    }
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
    let mut next = cycle(order);
    group.bench_function(name, |b| b.iter(|| black_box(check(&next()))));
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

    let mut visits = KeyedVisits::new(&order, &policy);
    group.bench_function("cornershop_reserve_commit", |b| b.iter(|| visits.step()));
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

    let mut one = OneCustomer::new(&policy);
    group.bench_function("cornershop_reserve_commit", |b| b.iter(|| one.step()));
    group.finish();
}

/// A ledger holding, for customer 1, 10 recorded contacts and for customer 2, 10,000 (one every
/// three days, the newest three days before [`history_now`]), with the attempt judged for
/// them, which is allowed.
fn ledger_with_histories(policy: &CompiledPolicy) -> (MemoryLedger, Vec<(i64, Customer)>) {
    let ledger = MemoryLedger::new();
    let now = history_now();
    let mut customers = Vec::new();
    for (id, contacts) in [(1u64, 10i64), (2, 10_000)] {
        for n in 1..=contacts {
            let key = format!("import-{n}");
            let contact = RecordedContact {
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
                .record(policy, id.into(), contact)
                .expect("valid import");
        }
        let who = customer(id);
        assert!(ledger
            .check(policy, &who, history_attempt(), now)
            .expect("valid")
            .is_allowed());
        customers.push((contacts, who));
    }
    (ledger, customers)
}

/// When the customers of [`ledger_with_histories`] are judged.
fn history_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2060, 1, 1, 12, 0, 0).unwrap()
}

/// What the customers of [`ledger_with_histories`] are judged for.
fn history_attempt() -> Attempt<'static> {
    Attempt::marketing(Channel::Email).with_topic("newsletter")
}

fn history_length(c: &mut Criterion) {
    let policy = policy();
    let mut group = c.benchmark_group("history_length");
    let (ledger, customers) = ledger_with_histories(&policy);
    let (attempt, now) = (history_attempt(), history_now());
    for (contacts, who) in &customers {
        group.bench_function(format!("check_{contacts}_contacts"), |b| {
            b.iter(|| black_box(ledger.check(&policy, who, attempt, now).expect("valid")))
        });
    }
    group.finish();
}

/// The goals' ratios measured in turns (`common/turns.rs`): cornershop over governor with the
/// time given, 1,000,000 keys and in cache (each side having visited every key once before),
/// and the 10,000-contact check over the 10-contact one.
fn ratios(turns: &mut Turns) {
    let policy = policy();
    let (top, bottom) = (
        "keyed_1m_random/cornershop_reserve_commit",
        "keyed_1m_random/governor_check_key_time_given",
    );
    if turns.wanted(top, bottom) {
        let order = random_order();
        let quota = Quota::per_hour(NonZeroU32::new(1_000_000).unwrap());
        let limiter = RateLimiter::dashmap_with_clock(quota, FakeRelativeClock::default());
        let mut visits = KeyedVisits::new(&order, &policy);
        let mut next = cycle(&order);
        let mut check_key = || {
            black_box(limiter.check_key(&next()).is_ok());
        };
        for _ in 0..order.len() {
            visits.step();
            check_key();
        }
        turns.ratio(top, bottom, || visits.step(), check_key);
    }
    let quota = Quota::per_second(NonZeroU32::new(u32::MAX).unwrap());
    let limiter = RateLimiter::direct_with_clock(quota, FakeRelativeClock::default());
    let mut one = OneCustomer::new(&policy);
    turns.ratio(
        "in_cache/cornershop_reserve_commit",
        "in_cache/governor_check_time_given",
        || one.step(),
        || {
            black_box(limiter.check()).ok();
        },
    );
    let (top, bottom) = (
        "history_length/check_10000_contacts",
        "history_length/check_10_contacts",
    );
    if turns.wanted(top, bottom) {
        let (ledger, customers) = ledger_with_histories(&policy);
        let (attempt, now) = (history_attempt(), history_now());
        let check =
            |who: &Customer| black_box(ledger.check(&policy, who, attempt, now).expect("valid"));
        turns.ratio(
            top,
            bottom,
            || drop(check(&customers[1].1)),
            || drop(check(&customers[0].1)),
        );
    }
}

criterion_group!(benches, keyed_1m_random, in_cache, history_length);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let mut turns = Turns::from_args("throttle");
    ratios(&mut turns);
    turns.save();
}
