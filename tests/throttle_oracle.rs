//! Property tests of the throttle against a brute-force oracle.
//!
//! Random valid policies (1–5 caps, 0–2 spacing rules, 0–2 quiet-hours rules) whose rules name
//! every message class: a cap or spacing rule is marketing (6 in 9), transactional (2 in 9) or
//! service (1 in 9), each optionally on one channel and one topic; a quiet-hours rule holds back
//! marketing (85%), transactional (20%) and service (12%) messages, marketing alone when none is
//! drawn. About half of the policies name no service class at all. Random customers
//! (time zones with DST and half-hour offsets, consent, do-not-contact, unsubscribes, snoozes,
//! their own frequency preferences) and random sequences of attempts across channels and classes
//! are run through a [`MemoryLedger`]. Time mostly moves forward, sometimes backwards, and many
//! sequences start next to a 2026 DST transition of the customer's zone. In half of the others
//! most attempts follow one habit (one channel and topic, marketing), so that histories all of
//! one kind and topic, for which the ledger has quick paths, are common.
//!
//! The oracle is written from the documented semantics (`cornershop::policy` module docs, the
//! `Verdict`, `Reason`, `Customer` and `ContactLedger` docs), not from the implementation. It keeps
//! the FULL history of every customer as a plain `Vec` (nothing pruned) and judges an attempt at
//! a time `u` like this:
//!
//! * permanent: anything but service to a do-not-contact customer; marketing without
//!   `OptedIn` consent on the channel; marketing on an unsubscribed topic (consent, unsubscribes
//!   and snoozes are about marketing: a service or transactional message ignores them);
//! * snooze: marketing before `marketing_snoozed_until`;
//! * every rule has a scope: a class, optionally a channel and a topic. A cap or spacing rule
//!   judges only attempts in its scope and counts only contacts in its scope (a service cap counts
//!   service contacts and nothing else; a marketing cap never holds back a service or
//!   transactional message); a quiet-hours rule judges only attempts of one of its `classes` on
//!   one of its channels. An attempt is judged by the rules of its own class only;
//! * caps (the policy's, and the customer's own preferences for marketing): rolling: every span
//!   `[a, a + W)` that contains `u` holds at most `limit` in-scope contacts, the new one included;
//!   calendar: the local day / Monday-start week / month of `u` in the customer's zone holds at
//!   most `limit`, the new one included;
//! * spacing: every in-scope contact is at least `min_gap` away from `u`, on either side;
//! * quiet hours: the local wall-clock minute of `u` (converted with chrono-tz directly) is not
//!   inside a rule that covers the attempt's channel and class (`days` name the day a window
//!   starts, so the after-midnight part of an overnight window belongs to the previous day);
//! * order within a scope: no contact counted in one of the attempt's cap, spacing or
//!   preference scopes is later than `u`.
//!
//! Checked for every reserve (the verdict must also equal a `check` made just before it, when one
//! is made):
//!
//! * every reservation granted passes the oracle at `reservation.send_at()` (no cap exceeded in
//!   any window placement, no spacing violated, no quiet hours, consent, DNC, unsubscribe,
//!   snooze, preferences, order);
//! * `Allowed` only when the oracle allows `now` and `now` is not before the sweep floor (see
//!   below), and the reservation is at `now`;
//! * `Deferred { until }`: `until > now`, the oracle allows `until`, the oracle does not allow
//!   `now` nor `until - 1s` (it is the *earliest* time; for an attempt judged from the sweep
//!   floor, the earliest at or after the floor); with `Defer { expires }` the reservation is at
//!   `until` exactly when `until <= expires`;
//! * `Denied` exactly when a permanent reason applies, listing every permanent reason that does;
//! * when the oracle allows `now` and the attempt is not judged from the sweep floor, the verdict
//!   is `Allowed`;
//! * every rule a `CapReached`, `TooSoon`, `QuietHours` or `LaterContact` reason names (by its
//!   path, `caps[i]`, `spacing[i]`, `quiet_hours[i]`, `customer.frequency_preferences[i]`)
//!   exists and covers the attempt's class, channel and topic: no marketing rule is ever named
//!   for a service or transactional message, no rule of one class for another's;
//! * a service reply that no rule of the policy covers (no service cap or spacing rule for its
//!   channel and topic, no quiet hours for service on its channel) is always `Allowed`: in every
//!   policy without a service rule, and in the others for the channels and topics their service
//!   rules leave alone. Service replies that a service rule covers are judged like any other
//!   attempt, by the checks above.
//!
//! Reservations are committed, released (and then no longer counted by the oracle) or left
//! unsettled (still counted: fail closed), immediately, a few steps later or sometimes 8 to 60
//! steps later. Settled right away, a reservation some rule counts must be held
//! (`commit`/`release` return `true`); a second commit returns `Ok(false)`. When a delayed settle
//! returns `false` ("no rule counts it any more") the oracle keeps counting the contact, so that
//! claim is checked too. A reservation whose send time is `policy.history_horizon_secs()` or
//! more before the latest time any operation gave the ledger is taken as sent (documented): its
//! late `release` may also fail with `LedgerError::AlreadyCommitted` (any other error, or that
//! error for a younger reservation, fails the test), and the oracle keeps counting any
//! reservation whose release did not return `Ok(true)`. Imports are `record`ed, some of them
//! twice with the same key: the oracle counts them once.
//!
//! Sweeps and snapshots are operations too:
//!
//! * `Sweep { dt }` calls `ledger.sweep(&policy, now)`; the latest sweep time is the floor.
//!   Afterwards an attempt that a rule counting history covers (a cap, spacing rule or the
//!   customer's preference for its channel, class and topic) at a time before the floor is judged
//!   from the floor: never `Allowed`, deferred to the earliest time at or after the floor that
//!   the oracle allows (to the floor itself when the oracle allows it), possibly with
//!   `Reason::ClockBehind`. Any other attempt is judged at its own time, and `ClockBehind` must
//!   not appear for it (nor for an attempt at or after the floor). Granted reservations are still
//!   checked against the full history, so a sweep can never let a later contact over a cap. A
//!   sweep at a time when every contact of the full history is a horizon or more old must leave
//!   no contact ("drops every contact that `policy` can no longer count"). Most sweeps are
//!   followed right away by an attempt at or before the sweep time, half of them service
//!   replies, which must be `Allowed` when no rule covers them.
//! * `SnapshotRestore` serializes `ledger.snapshot()` to JSON, restores it with
//!   `MemoryLedger::from_snapshot_json`, asserts that the restored ledger's snapshot equals the
//!   original (and that its floor is the latest sweep time), and goes on with the restored
//!   ledger: reservations taken before are settled on it.
//!
//! After each case, `ledger.contact_count()` must be at most customers × (5 + Σ cap limits +
//! spacing rules + 8 × `preferences.max_limit` + reservations still unsettled and younger than
//! the horizon): a generous bound; the ledger promises bounded, not exact.
//!
//! Size: two runners of `CASES_PER_RUNNER` cases (one anywhere in 2026, one next to DST
//! changes) on two threads; about 120,000 attempts judged by `reserve` per run (asserted to be
//! at least 100,000 and printed), with about 3,000 sweeps and 3,000 snapshot round trips, in
//! about 10 to 15 s in the default debug test profile on a 2-core machine (under 2 s in
//! release). Of those attempts, about 2,000 service replies and 4,000 transactional messages
//! are held back by rules of their own class, and about 15,000 service replies that no rule
//! covers are checked to be allowed; the run asserts that each kind occurs (so a generator
//! change cannot quietly stop testing them).
//!
//! Failures are persisted with proptest's file persistence next to this file, in
//! `tests/throttle_oracle.proptest-regressions` (commit that file when it appears; proptest
//! replays the seeds in it first on every run). Failures found so far are also kept below as
//! plain tests at the end of this file.

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use cornershop::policy::{CapSpec, PreferenceBounds, QuietHoursSpec, SpacingSpec};
use cornershop::{
    Attempt, CalendarPeriod, Channel, Consent, ContactLedger, Customer, Error, FrequencyPreference,
    IfBlocked, LedgerError, MemoryLedger, MessageClass, Policy, Reason, RecordedContact,
    Reservation, Verdict, Window,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};

// ---------------------------------------------------------------------------------------------
// Generated scenario: plain data, so that a failing case can be written down as a `#[test]`.
// ---------------------------------------------------------------------------------------------

const ZONES: [&str; 7] = [
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Europe/London",
    "UTC",
    "America/St_Johns",
];

/// Topics: rules use "news" and "promo"; "other" is never named by a rule.
const TOPICS: [&str; 3] = ["news", "promo", "other"];

const CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WinGen {
    Minutes(u32),
    Hours(u32),
    Days(u32),
    Calendar(CalendarPeriod),
}

impl WinGen {
    fn text(self) -> String {
        match self {
            WinGen::Minutes(m) => format!("{m}m"),
            WinGen::Hours(h) => format!("{h}h"),
            WinGen::Days(d) => format!("{d}d"),
            WinGen::Calendar(CalendarPeriod::Day) => "calendar day".to_owned(),
            WinGen::Calendar(CalendarPeriod::Week) => "calendar week".to_owned(),
            WinGen::Calendar(CalendarPeriod::Month) => "calendar month".to_owned(),
            WinGen::Calendar(other) => panic!("no generator for {other:?}"),
        }
    }

    fn oracle(self) -> OWin {
        match self {
            WinGen::Minutes(m) => OWin::Rolling(i64::from(m) * 60),
            WinGen::Hours(h) => OWin::Rolling(i64::from(h) * HOUR),
            WinGen::Days(d) => OWin::Rolling(i64::from(d) * DAY),
            WinGen::Calendar(p) => OWin::Calendar(p),
        }
    }
}

#[derive(Debug, Clone)]
struct CapGen {
    class: MessageClass,
    channel: Option<Channel>,
    topic: Option<&'static str>,
    limit: u32,
    window: WinGen,
}

#[derive(Debug, Clone)]
struct SpacingGen {
    class: MessageClass,
    channel: Option<Channel>,
    topic: Option<&'static str>,
    gap_minutes: u32,
}

#[derive(Debug, Clone)]
struct QuietGen {
    /// Start, minutes after local midnight.
    start: u32,
    /// Length in minutes (15 to 600, so two rules can never cover a whole day).
    len: u32,
    /// Write an end at midnight as "24:00" (else "00:00").
    end_as_24: bool,
    /// Weekdays (0 = Monday) the window starts on; all if `None`.
    days: Option<Vec<usize>>,
    /// Write day names in full ("monday") instead of "mon".
    long_day_names: bool,
    channels: Option<Vec<Channel>>,
    /// The classes it holds back (never empty; written out even when only marketing).
    classes: Vec<MessageClass>,
}

#[derive(Debug, Clone)]
struct PolicyGen {
    zone: &'static str,
    caps: Vec<CapGen>,
    spacing: Vec<SpacingGen>,
    quiet: Vec<QuietGen>,
}

#[derive(Debug, Clone)]
struct PrefGen {
    channel: Option<Channel>,
    limit: u32,
    window: WinGen,
}

#[derive(Debug, Clone)]
struct CustomerGen {
    zone: Option<&'static str>,
    consents: [Consent; 3],
    do_not_contact: bool,
    unsubscribed: Option<&'static str>,
    /// Snooze end, seconds after the scenario start.
    snooze: Option<i64>,
    prefs: Vec<PrefGen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    Commit,
    Release,
    Never,
}

#[derive(Debug, Clone, Copy)]
enum ModeGen {
    Drop,
    /// Defer, with an expiry this many seconds after `now` (or none).
    Defer(Option<i64>),
}

#[derive(Debug, Clone)]
enum Op {
    Attempt {
        /// Seconds to move the clock before this operation (may be negative).
        dt: i64,
        cust: usize,
        channel: Channel,
        class: MessageClass,
        topic: Option<&'static str>,
        mode: ModeGen,
        settle: Settle,
        /// Settle after this many further operations (0: right away).
        delay: u8,
        check_first: bool,
    },
    Import {
        dt: i64,
        cust: usize,
        channel: Channel,
        class: MessageClass,
        topic: Option<&'static str>,
        /// The import's time relative to `now`.
        offset: i64,
        /// Record it a second time with the same key.
        twice: bool,
    },
    /// `ledger.sweep(&policy, now)`; `now` becomes (at least) the ledger's floor.
    Sweep { dt: i64 },
    /// Snapshot the ledger to JSON, restore it, and go on with the restored ledger.
    SnapshotRestore,
}

impl Op {
    fn dt(&self) -> i64 {
        match self {
            Op::Attempt { dt, .. } | Op::Import { dt, .. } | Op::Sweep { dt } => *dt,
            Op::SnapshotRestore => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    policy: PolicyGen,
    customers: Vec<CustomerGen>,
    /// Unix seconds.
    start: i64,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// The class a cap or spacing rule names: mostly marketing, sometimes transactional or service
/// (about half of the generated policies have no service rule at all, so that "a service reply
/// no rule covers is always allowed" is checked often).
fn rule_class() -> impl Strategy<Value = MessageClass> {
    prop_oneof![
        6 => Just(MessageClass::Marketing),
        2 => Just(MessageClass::Transactional),
        1 => Just(MessageClass::Service),
    ]
}

/// The classes a quiet-hours rule holds back: marketing in most, transactional or service in
/// some, with or without marketing.
fn quiet_classes() -> impl Strategy<Value = Vec<MessageClass>> {
    (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.12),
    )
        .prop_map(|(marketing, transactional, service)| {
            let mut classes = Vec::new();
            if marketing {
                classes.push(MessageClass::Marketing);
            }
            if transactional {
                classes.push(MessageClass::Transactional);
            }
            if service {
                classes.push(MessageClass::Service);
            }
            if classes.is_empty() {
                classes.push(MessageClass::Marketing);
            }
            classes
        })
}

fn opt_channel() -> impl Strategy<Value = Option<Channel>> {
    prop_oneof![2 => Just(None), 3 => prop::sample::select(CHANNELS.to_vec()).prop_map(Some)]
}

fn opt_rule_topic() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![7 => Just(None), 3 => prop::sample::select(vec!["news", "promo"]).prop_map(Some)]
}

fn window_gen() -> impl Strategy<Value = WinGen> {
    prop_oneof![
        (1u32..=180).prop_map(WinGen::Minutes),
        (1u32..=72).prop_map(WinGen::Hours),
        (1u32..=30).prop_map(WinGen::Days),
        Just(WinGen::Calendar(CalendarPeriod::Day)),
        Just(WinGen::Calendar(CalendarPeriod::Week)),
        Just(WinGen::Calendar(CalendarPeriod::Month)),
    ]
}

fn cap_gen() -> impl Strategy<Value = CapGen> {
    (
        rule_class(),
        opt_channel(),
        opt_rule_topic(),
        1u32..=5,
        window_gen(),
    )
        .prop_map(|(class, channel, topic, limit, window)| CapGen {
            class,
            channel,
            topic,
            limit,
            window,
        })
}

fn spacing_gen() -> impl Strategy<Value = SpacingGen> {
    let gap = prop_oneof![
        1u32..=120,
        (1u32..=48).prop_map(|h| h * 60),
        (1u32..=3).prop_map(|d| d * 1440)
    ];
    (rule_class(), opt_channel(), opt_rule_topic(), gap).prop_map(
        |(class, channel, topic, gap_minutes)| SpacingGen {
            class,
            channel,
            topic,
            gap_minutes,
        },
    )
}

fn quiet_gen() -> impl Strategy<Value = QuietGen> {
    let start = prop_oneof![
        (0u32..24).prop_map(|h| h * 60),
        (0u32..48).prop_map(|h| h * 30),
        0u32..1440,
    ];
    let len = prop_oneof![(1u32..=10).prop_map(|h| h * 60), 15u32..=600];
    // Windows that end or start between 01:00 and 03:00, where clocks change: an end in the
    // hour that is skipped (deferred to the moment the clocks jump) or repeated.
    // Start 21:00 to 00:45, end 01:00 to 03:00.
    let around_change = (-12i32..=3, 4i32..=12).prop_map(|(s, e)| {
        let start = (s * 15).rem_euclid(1440) as u32;
        (start, ((e - s) * 15) as u32)
    });
    let starts_in_change = ((8u32..=11).prop_map(|q| q * 15), 30u32..=300);
    let start_len = prop_oneof![
        6 => (start, len),
        2 => around_change,
        1 => starts_in_change,
    ];
    let days = prop_oneof![
        3 => Just(None),
        2 => prop::sample::subsequence((0usize..7).collect::<Vec<_>>(), 1..=6).prop_map(Some),
    ];
    let channels = prop_oneof![
        3 => Just(None),
        2 => prop::sample::subsequence(CHANNELS.to_vec(), 1..=2).prop_map(Some),
    ];
    (
        start_len,
        any::<bool>(),
        days,
        any::<bool>(),
        channels,
        quiet_classes(),
    )
        .prop_map(
            |((start, len), end_as_24, days, long_day_names, channels, classes)| QuietGen {
                start,
                len,
                end_as_24,
                days,
                long_day_names,
                channels,
                classes,
            },
        )
}

fn policy_gen() -> impl Strategy<Value = PolicyGen> {
    (
        prop::sample::select(ZONES.to_vec()),
        vec(cap_gen(), 1..=5),
        vec(spacing_gen(), 0..=2),
        vec(quiet_gen(), 0..=2),
    )
        .prop_map(|(zone, mut caps, mut spacing, quiet)| {
            // One rule per scope: two caps (or two spacing rules) on the same scope are
            // rejected by `compile`, so keep only the first of each.
            let mut seen = Vec::new();
            caps.retain(|c| {
                let key = (c.class, c.channel, c.topic);
                let fresh = !seen.contains(&key);
                seen.push(key);
                fresh
            });
            let mut seen = Vec::new();
            spacing.retain(|s| {
                let key = (s.class, s.channel, s.topic);
                let fresh = !seen.contains(&key);
                seen.push(key);
                fresh
            });
            PolicyGen {
                zone,
                caps,
                spacing,
                quiet,
            }
        })
}

fn consent_gen() -> impl Strategy<Value = Consent> {
    prop_oneof![
        8 => Just(Consent::OptedIn),
        1 => Just(Consent::OptedOut),
        1 => Just(Consent::Unknown),
    ]
}

fn pref_gen() -> impl Strategy<Value = PrefGen> {
    let window = prop_oneof![
        (1u32..=48).prop_map(WinGen::Hours),
        (1u32..=32).prop_map(WinGen::Days),
        Just(WinGen::Calendar(CalendarPeriod::Day)),
        Just(WinGen::Calendar(CalendarPeriod::Week)),
        Just(WinGen::Calendar(CalendarPeriod::Month)),
    ];
    (opt_channel(), 1u32..=4, window).prop_map(|(channel, limit, window)| PrefGen {
        channel,
        limit,
        window,
    })
}

fn customer_gen() -> impl Strategy<Value = CustomerGen> {
    (
        prop::option::weighted(0.85, prop::sample::select(ZONES.to_vec())),
        [consent_gen(), consent_gen(), consent_gen()],
        prop::bool::weighted(0.08),
        prop::option::weighted(0.15, prop::sample::select(vec!["news", "promo"])),
        prop::option::weighted(0.15, -2 * DAY..10 * DAY),
        prop_oneof![3 => Just(Vec::new()), 1 => vec(pref_gen(), 1..=2)],
    )
        .prop_map(
            |(zone, consents, do_not_contact, unsubscribed, snooze, prefs)| CustomerGen {
                zone,
                consents,
                do_not_contact,
                unsubscribed,
                snooze,
                prefs,
            },
        )
}

fn dt_gen() -> BoxedStrategy<i64> {
    prop_oneof![
        30 => 0i64..=120,
        25 => 0i64..=3 * HOUR,
        20 => 0i64..=36 * HOUR,
        8 => 0i64..=10 * DAY,
        10 => (0i64..=3 * HOUR).prop_map(|s| -s),
        4 => (0i64..=5 * DAY).prop_map(|s| -s),
    ]
    .boxed()
}

/// Smaller steps, so that a sequence stays around the DST change it starts next to.
fn dt_gen_dst() -> BoxedStrategy<i64> {
    prop_oneof![
        40 => 0i64..=120,
        35 => 0i64..=2 * HOUR,
        10 => 0i64..=12 * HOUR,
        15 => (0i64..=3 * HOUR).prop_map(|s| -s),
    ]
    .boxed()
}

fn attempt_class() -> impl Strategy<Value = MessageClass> {
    prop_oneof![
        6 => Just(MessageClass::Marketing),
        2 => Just(MessageClass::Transactional),
        2 => Just(MessageClass::Service),
    ]
}

fn attempt_topic() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![2 => Just(None), 3 => prop::sample::select(TOPICS.to_vec()).prop_map(Some)]
}

fn attempt_gen(
    dt: BoxedStrategy<i64>,
    class: BoxedStrategy<MessageClass>,
) -> impl Strategy<Value = Op> {
    let mode = prop_oneof![
        3 => Just(ModeGen::Drop),
        2 => Just(ModeGen::Defer(None)),
        2 => (-HOUR..=3 * DAY).prop_map(|s| ModeGen::Defer(Some(s))),
    ];
    let settle = prop_oneof![
        14 => Just(Settle::Commit),
        4 => Just(Settle::Release),
        2 => Just(Settle::Never),
    ];
    // Mostly right away or a few operations later; sometimes much later, so that some
    // reservations are settled after the policy's history horizon has passed (taken as sent).
    let delay = prop_oneof![12 => Just(0u8), 4 => 1u8..=3, 1 => 8u8..=60];
    (
        dt,
        0usize..3,
        prop::sample::select(CHANNELS.to_vec()),
        class,
        attempt_topic(),
        mode,
        settle,
        delay,
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(dt, cust, channel, class, topic, mode, settle, delay, check_first)| Op::Attempt {
                dt,
                cust,
                channel,
                class,
                topic,
                mode,
                settle,
                delay,
                check_first,
            },
        )
}

fn op_gen(dt: fn() -> BoxedStrategy<i64>) -> impl Strategy<Value = Op> {
    let attempt = attempt_gen(dt(), attempt_class().boxed());
    let import = (
        dt(),
        0usize..3,
        prop::sample::select(CHANNELS.to_vec()),
        attempt_class(),
        attempt_topic(),
        prop_oneof![Just(0i64), -2 * DAY..=DAY],
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(dt, cust, channel, class, topic, offset, twice)| Op::Import {
                dt,
                cust,
                channel,
                class,
                topic,
                offset,
                twice,
            },
        );
    prop_oneof![12 => attempt, 1 => import]
}

/// A sweep (sometimes after a jump of weeks, past the policy's history horizon), in most cases
/// followed right away by an attempt at or before the sweep time: half of them service replies,
/// which the sweep must not hold back when no rule of the policy covers them.
fn sweep_gen(dt: fn() -> BoxedStrategy<i64>) -> impl Strategy<Value = Vec<Op>> {
    let sweep_dt = prop_oneof![4 => dt(), 1 => 0i64..=45 * DAY];
    let back = prop_oneof![
        2 => Just(0i64),
        3 => 1i64..=3 * HOUR,
        1 => 1i64..=3 * DAY,
    ]
    .prop_map(|s| -s)
    .boxed();
    let class = prop_oneof![1 => Just(MessageClass::Service), 1 => attempt_class()].boxed();
    (
        sweep_dt,
        prop::option::weighted(0.8, attempt_gen(back, class)),
    )
        .prop_map(|(dt, after)| {
            let mut ops = vec![Op::Sweep { dt }];
            ops.extend(after);
            ops
        })
}

/// 50 to 300 steps: single attempts and imports, now and then a sweep (with the attempt after
/// it) or a snapshot round trip.
fn ops_gen(dt: fn() -> BoxedStrategy<i64>) -> impl Strategy<Value = Vec<Op>> {
    let step = prop_oneof![
        40 => op_gen(dt).prop_map(|op| vec![op]),
        1 => sweep_gen(dt),
        1 => Just(vec![Op::SnapshotRestore]),
    ];
    vec(step, 50..=300).prop_map(|steps| steps.into_iter().flatten().collect())
}

fn utc_secs(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid date")
        .timestamp()
}

/// The 2026 DST transitions (UTC) of the zones that have them.
fn transitions(zone: &str) -> Vec<i64> {
    match zone {
        // 02:00 EST -> 03:00 EDT; 02:00 EDT -> 01:00 EST.
        "America/New_York" => vec![utc_secs(2026, 3, 8, 7, 0), utc_secs(2026, 11, 1, 6, 0)],
        // 02:00 LHDT -> 01:30 LHST; 02:00 LHST -> 02:30 LHDT (a 30-minute shift).
        "Australia/Lord_Howe" => vec![utc_secs(2026, 4, 4, 15, 0), utc_secs(2026, 10, 3, 15, 30)],
        // 03:00 NZDT -> 02:00 NZST; 02:00 NZST -> 03:00 NZDT.
        "Pacific/Auckland" => vec![utc_secs(2026, 4, 4, 14, 0), utc_secs(2026, 9, 26, 14, 0)],
        "Europe/London" => vec![utc_secs(2026, 3, 29, 1, 0), utc_secs(2026, 10, 25, 1, 0)],
        // Half-hour offset with DST: 02:00 NST -> 03:00 NDT; 02:00 NDT -> 01:00 NST.
        "America/St_Johns" => vec![utc_secs(2026, 3, 8, 5, 30), utc_secs(2026, 11, 1, 4, 30)],
        _ => Vec::new(),
    }
}

const DST_ZONES: [&str; 5] = [
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Europe/London",
    "America/St_Johns",
];

/// Scenarios starting anywhere in 2026 with customers in random zones. In half of them most
/// attempts and imports follow one habit (see [`make_habitual`]).
fn scenario_anywhere() -> impl Strategy<Value = Scenario> {
    let habit = prop::option::of((
        prop::sample::select(CHANNELS.to_vec()),
        prop_oneof![
            Just(None),
            prop::sample::select(TOPICS.to_vec()).prop_map(Some)
        ],
    ));
    (
        policy_gen(),
        vec(customer_gen(), 1..=3),
        0i64..365 * DAY,
        ops_gen(dt_gen),
        habit,
    )
        .prop_map(|(policy, customers, offset, mut ops, habit)| {
            if let Some((channel, topic)) = habit {
                make_habitual(&mut ops, channel, topic);
            }
            Scenario {
                policy,
                customers,
                start: utc_secs(2026, 1, 1, 0, 0) + offset,
                ops,
            }
        })
}

/// Makes six in seven attempts and imports marketing on `channel` with `topic`: the history
/// of a customer contacted the same way time after time, all of one kind and topic, for which
/// the ledger has quick paths (judging from the newest contacts without a walk, dropping the
/// oldest of a full record in place) that random channels, classes and topics seldom reach.
fn make_habitual(ops: &mut [Op], channel: Channel, topic: Option<&'static str>) {
    for (index, op) in ops.iter_mut().enumerate() {
        if index % 7 == 0 {
            continue;
        }
        if let Op::Attempt {
            channel: c,
            class,
            topic: t,
            ..
        }
        | Op::Import {
            channel: c,
            class,
            topic: t,
            ..
        } = op
        {
            *c = channel;
            *class = MessageClass::Marketing;
            *t = topic;
        }
    }
}

/// Scenarios starting up to two days before (or a day after) a DST transition of the first
/// customer's zone (the policy's default zone too).
fn scenario_dst() -> impl Strategy<Value = Scenario> {
    (
        policy_gen(),
        vec(customer_gen(), 1..=3),
        prop::sample::select(DST_ZONES.to_vec()),
        0usize..2,
        prop_oneof![-2 * DAY..=DAY, -6 * HOUR..=HOUR],
        any::<bool>(),
        ops_gen(dt_gen_dst),
    )
        .prop_map(
            |(mut policy, mut customers, zone, which, offset, zone_on_customer, ops)| {
                policy.zone = zone;
                customers[0].zone = if zone_on_customer { Some(zone) } else { None };
                Scenario {
                    policy,
                    customers,
                    start: transitions(zone)[which] + offset,
                    ops,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Building the crate's inputs
// ---------------------------------------------------------------------------------------------

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn build_policy(p: &PolicyGen) -> Policy {
    Policy {
        time_zone: p.zone.to_owned(),
        caps: p
            .caps
            .iter()
            .map(|c| CapSpec {
                name: None,
                class: c.class.as_str().to_owned(),
                channel: c.channel.map(|ch| ch.as_str().to_owned()),
                topic: c.topic.map(str::to_owned),
                limit: c.limit,
                window: c.window.text(),
            })
            .collect(),
        spacing: p
            .spacing
            .iter()
            .map(|s| SpacingSpec {
                name: None,
                class: s.class.as_str().to_owned(),
                channel: s.channel.map(|ch| ch.as_str().to_owned()),
                topic: s.topic.map(str::to_owned),
                min_gap: format!("{}m", s.gap_minutes),
            })
            .collect(),
        quiet_hours: p
            .quiet
            .iter()
            .map(|q| {
                let end = (q.start + q.len) % 1440;
                let end = if end == 0 && q.end_as_24 {
                    "24:00".to_owned()
                } else {
                    hhmm(end)
                };
                let names = if q.long_day_names {
                    &LONG_DAY_NAMES
                } else {
                    &DAY_NAMES
                };
                QuietHoursSpec {
                    name: None,
                    start: hhmm(q.start),
                    end,
                    days: q
                        .days
                        .as_ref()
                        .map(|days| days.iter().map(|&d| names[d].to_owned()).collect()),
                    channels: q
                        .channels
                        .as_ref()
                        .map(|channels| channels.iter().map(|ch| ch.as_str().to_owned()).collect()),
                    classes: q.classes.iter().map(|c| c.as_str().to_owned()).collect(),
                }
            })
            .collect(),
        preferences: PreferenceBounds::default(),
        ..Policy::default()
    }
}

fn tz(name: &str) -> Tz {
    name.parse().expect("known zone")
}

fn build_customer(index: usize, c: &CustomerGen, start: i64) -> Customer {
    let mut customer = Customer::new(index as u64 + 1);
    if let Some(zone) = c.zone {
        customer = customer.with_time_zone(tz(zone));
    }
    for (ch, consent) in CHANNELS.iter().zip(c.consents) {
        customer = customer.with_consent(*ch, consent);
    }
    customer = customer.with_do_not_contact(c.do_not_contact);
    if let Some(topic) = c.unsubscribed {
        customer = customer.with_unsubscribed_topic(topic);
    }
    if let Some(snooze) = c.snooze {
        customer = customer.with_marketing_snoozed_until(utc(start + snooze));
    }
    for p in &c.prefs {
        let window = match p.window {
            WinGen::Calendar(period) => Window::Calendar(period),
            other => match other.oracle() {
                OWin::Rolling(secs) => Window::Rolling {
                    seconds: NonZeroU32::new(u32::try_from(secs).expect("fits")).expect("> 0"),
                },
                OWin::Calendar(_) => unreachable!(),
            },
        };
        customer = customer.with_frequency_preference(FrequencyPreference {
            channel: p.channel,
            limit: NonZeroU32::new(p.limit).expect("> 0"),
            window,
        });
    }
    customer
}

fn utc(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("in range")
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OWin {
    Rolling(i64),
    Calendar(CalendarPeriod),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope {
    class: MessageClass,
    channel: Option<Channel>,
    topic: Option<&'static str>,
}

impl Scope {
    fn covers(&self, class: MessageClass, channel: Channel, topic: Option<&str>) -> bool {
        self.class == class
            && self.channel.is_none_or(|c| c == channel)
            && self.topic.is_none_or(|t| Some(t) == topic)
    }
}

#[derive(Debug, Clone)]
struct OCap {
    name: String,
    scope: Scope,
    limit: usize,
    window: OWin,
}

#[derive(Debug, Clone)]
struct OSpacing {
    name: String,
    scope: Scope,
    gap: i64,
}

#[derive(Debug, Clone)]
struct OQuiet {
    name: String,
    start: u32,
    /// Exclusive end in minutes after midnight of the start day (may exceed 1440: overnight).
    end: u32,
    days: [bool; 7],
    channels: Option<Vec<Channel>>,
    classes: Vec<MessageClass>,
}

impl OQuiet {
    /// Whether the local wall-clock minute `minute` of a day with weekday `weekday`
    /// (0 = Monday) is quiet under this rule.
    fn quiet_at(&self, weekday: usize, minute: u32) -> bool {
        let prev = (weekday + 6) % 7;
        // A window that starts on `weekday`.
        (self.days[weekday] && self.start <= minute && minute < self.end)
            // The after-midnight part of a window that started the day before.
            || (self.days[prev] && self.end > 1440 && minute + 1440 < self.end)
    }

    fn covers(&self, class: MessageClass, channel: Channel) -> bool {
        self.classes.contains(&class) && self.channels.as_ref().is_none_or(|c| c.contains(&channel))
    }
}

#[derive(Debug, Clone, Copy)]
struct Contact {
    id: usize,
    t: i64,
    local: NaiveDateTime,
    channel: Channel,
    class: MessageClass,
    topic: Option<&'static str>,
    import: bool,
}

#[derive(Debug, Clone, Copy)]
struct Att {
    channel: Channel,
    class: MessageClass,
    topic: Option<&'static str>,
}

struct CustModel {
    tz: Tz,
    consents: [Consent; 3],
    do_not_contact: bool,
    unsubscribed: Option<&'static str>,
    snooze: Option<i64>,
    prefs: Vec<OCap>,
    history: Vec<Contact>,
}

struct Model {
    caps: Vec<OCap>,
    spacing: Vec<OSpacing>,
    quiet: Vec<OQuiet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permanent {
    DoNotContact,
    NoConsent,
    Unsubscribed,
}

#[derive(Debug, Default)]
struct Judgement {
    permanent: Vec<Permanent>,
    temporary: Vec<String>,
    order: Vec<String>,
}

impl Judgement {
    fn allowed(&self) -> bool {
        self.permanent.is_empty() && self.temporary.is_empty() && self.order.is_empty()
    }
}

fn channel_index(ch: Channel) -> usize {
    CHANNELS
        .iter()
        .position(|c| *c == ch)
        .expect("generated channel")
}

fn period_key(period: CalendarPeriod, local: NaiveDateTime) -> NaiveDate {
    let date = local.date();
    match period {
        CalendarPeriod::Day => date,
        CalendarPeriod::Week => {
            date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
        }
        CalendarPeriod::Month => date.with_day(1).expect("day 1 exists"),
        other => panic!("the oracle does not know {other:?}"),
    }
}

/// The most in-scope contacts (the new one at `u` included) in any span `[a, a + w)` that
/// contains `u`. The maximum is reached with `a` at the earliest allowed start, at a contact's
/// time, or at `u`.
fn rolling_max(times: &[i64], u: i64, w: i64) -> usize {
    let mut candidates = vec![u - w + 1, u];
    candidates.extend(times.iter().copied().filter(|&t| t > u - w && t <= u));
    candidates
        .into_iter()
        .map(|a| 1 + times.iter().filter(|&&t| t >= a && t < a + w).count())
        .max()
        .unwrap_or(1)
}

impl Model {
    fn new(p: &PolicyGen) -> Model {
        Model {
            caps: p
                .caps
                .iter()
                .enumerate()
                .map(|(i, c)| OCap {
                    name: format!("caps[{i}]"),
                    scope: Scope {
                        class: c.class,
                        channel: c.channel,
                        topic: c.topic,
                    },
                    limit: c.limit as usize,
                    window: c.window.oracle(),
                })
                .collect(),
            spacing: p
                .spacing
                .iter()
                .enumerate()
                .map(|(i, s)| OSpacing {
                    name: format!("spacing[{i}]"),
                    scope: Scope {
                        class: s.class,
                        channel: s.channel,
                        topic: s.topic,
                    },
                    gap: i64::from(s.gap_minutes) * 60,
                })
                .collect(),
            quiet: p
                .quiet
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    let mut days = [q.days.is_none(); 7];
                    for &d in q.days.iter().flatten() {
                        days[d] = true;
                    }
                    // "24:00" and "00:00" both end at the midnight after the start.
                    let end_mod = (q.start + q.len) % 1440;
                    let end = if end_mod == 0 {
                        1440
                    } else if end_mod > q.start {
                        end_mod
                    } else {
                        end_mod + 1440
                    };
                    OQuiet {
                        name: format!("quiet_hours[{i}]"),
                        start: q.start,
                        end,
                        days,
                        channels: q.channels.clone(),
                        classes: q.classes.clone(),
                    }
                })
                .collect(),
        }
    }

    /// Whether some cap, spacing rule or preference counts a contact like `a`.
    fn counts(&self, cust: &CustModel, a: &Att) -> bool {
        !self.caps_for(cust, a).is_empty()
            || self
                .spacing
                .iter()
                .any(|s| s.scope.covers(a.class, a.channel, a.topic))
    }

    /// Whether any policy rule (cap, spacing or quiet hours) names `class`.
    fn names_class(&self, class: MessageClass) -> bool {
        self.caps.iter().any(|c| c.scope.class == class)
            || self.spacing.iter().any(|s| s.scope.class == class)
            || self.quiet.iter().any(|q| q.classes.contains(&class))
    }

    /// Whether any policy rule (cap, spacing or quiet hours) holds back an attempt like `a`
    /// ("a rule holds back an attempt in its scope").
    fn covers(&self, a: &Att) -> bool {
        self.caps
            .iter()
            .any(|c| c.scope.covers(a.class, a.channel, a.topic))
            || self
                .spacing
                .iter()
                .any(|s| s.scope.covers(a.class, a.channel, a.topic))
            || self.quiet.iter().any(|q| q.covers(a.class, a.channel))
    }

    /// Whether the rule written at `path` (`caps[1]`, `spacing[0]`, `quiet_hours[2]`,
    /// `customer.frequency_preferences[0]`) is one that holds back an attempt like `a`: in the
    /// attempt's class (a marketing rule never names a service or transactional attempt),
    /// and for its channel and topic. `None` for a path the oracle does not know.
    fn rule_covers(&self, cust: &CustModel, path: &str, a: &Att) -> Option<bool> {
        let cap = |c: &OCap| c.name == path;
        if let Some(c) = self.caps.iter().chain(&cust.prefs).find(|c| cap(c)) {
            return Some(c.scope.covers(a.class, a.channel, a.topic));
        }
        if let Some(s) = self.spacing.iter().find(|s| s.name == path) {
            return Some(s.scope.covers(a.class, a.channel, a.topic));
        }
        self.quiet
            .iter()
            .find(|q| q.name == path)
            .map(|q| q.covers(a.class, a.channel))
    }

    /// Every cap that applies to the attempt: the policy's, and the customer's own preferences
    /// for marketing.
    fn caps_for<'a>(&'a self, cust: &'a CustModel, a: &Att) -> Vec<&'a OCap> {
        let mut caps: Vec<&OCap> = self
            .caps
            .iter()
            .filter(|c| c.scope.covers(a.class, a.channel, a.topic))
            .collect();
        caps.extend(
            cust.prefs
                .iter()
                .filter(|c| c.scope.covers(a.class, a.channel, a.topic)),
        );
        caps
    }

    fn judge(&self, cust: &CustModel, a: &Att, u: i64) -> Judgement {
        let mut j = Judgement::default();
        let marketing = a.class == MessageClass::Marketing;
        if a.class != MessageClass::Service && cust.do_not_contact {
            j.permanent.push(Permanent::DoNotContact);
        }
        if marketing && cust.consents[channel_index(a.channel)] != Consent::OptedIn {
            j.permanent.push(Permanent::NoConsent);
        }
        if marketing && a.topic.is_some() && a.topic == cust.unsubscribed {
            j.permanent.push(Permanent::Unsubscribed);
        }
        if marketing {
            if let Some(snooze) = cust.snooze {
                if u < snooze {
                    j.temporary.push(format!("snoozed until {}", utc(snooze)));
                }
            }
        }

        let local_u = utc(u).with_timezone(&cust.tz).naive_local();

        for cap in self.caps_for(cust, a) {
            let in_scope = cust
                .history
                .iter()
                .filter(|c| cap.scope.covers(c.class, c.channel, c.topic));
            match cap.window {
                OWin::Rolling(w) => {
                    let times: Vec<i64> = in_scope
                        .map(|c| c.t)
                        .filter(|&t| (t - u).abs() < w)
                        .collect();
                    let most = rolling_max(&times, u, w);
                    if most > cap.limit {
                        j.temporary.push(format!(
                            "{}: {most} contacts in a rolling {w}s span containing the attempt, limit {}",
                            cap.name, cap.limit
                        ));
                    }
                }
                OWin::Calendar(period) => {
                    let key = period_key(period, local_u);
                    let count = 1 + in_scope
                        .filter(|c| {
                            (c.t - u).abs() < 33 * DAY && period_key(period, c.local) == key
                        })
                        .count();
                    if count > cap.limit {
                        j.temporary.push(format!(
                            "{}: {count} contacts in the local calendar {period:?} starting {key}, limit {}",
                            cap.name, cap.limit
                        ));
                    }
                }
            }
            if let Some(later) = cust
                .history
                .iter()
                .filter(|c| c.t > u && cap.scope.covers(c.class, c.channel, c.topic))
                .max_by_key(|c| c.t)
            {
                j.order.push(format!(
                    "{}: a contact in scope is later, at {}",
                    cap.name,
                    utc(later.t)
                ));
            }
        }

        for sp in self
            .spacing
            .iter()
            .filter(|s| s.scope.covers(a.class, a.channel, a.topic))
        {
            for c in cust
                .history
                .iter()
                .filter(|c| sp.scope.covers(c.class, c.channel, c.topic))
            {
                if (c.t - u).abs() < sp.gap {
                    j.temporary.push(format!(
                        "{}: contact at {} is within {}s of the attempt",
                        sp.name,
                        utc(c.t),
                        sp.gap
                    ));
                }
                if c.t > u {
                    j.order.push(format!(
                        "{}: a contact in scope is later, at {}",
                        sp.name,
                        utc(c.t)
                    ));
                }
            }
        }

        let weekday = local_u.weekday().num_days_from_monday() as usize;
        let minute = local_u.hour() * 60 + local_u.minute();
        for q in self.quiet.iter().filter(|q| q.covers(a.class, a.channel)) {
            if q.quiet_at(weekday, minute) {
                j.temporary
                    .push(format!("{}: local time {local_u} is quiet", q.name));
            }
        }
        j
    }
}

fn cust_model(c: &CustomerGen, policy_zone: &str, start: i64) -> CustModel {
    let zone = tz(c.zone.unwrap_or(policy_zone));
    CustModel {
        tz: zone,
        consents: c.consents,
        do_not_contact: c.do_not_contact,
        unsubscribed: c.unsubscribed,
        snooze: c.snooze.map(|s| start + s),
        prefs: c
            .prefs
            .iter()
            .enumerate()
            .map(|(i, p)| OCap {
                name: format!("customer.frequency_preferences[{i}]"),
                scope: Scope {
                    class: MessageClass::Marketing,
                    channel: p.channel,
                    topic: None,
                },
                limit: p.limit as usize,
                window: p.window.oracle(),
            })
            .collect(),
        history: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    scenarios: AtomicUsize,
    attempts: AtomicUsize,
    checks: AtomicUsize,
    allowed: AtomicUsize,
    deferred: AtomicUsize,
    denied: AtomicUsize,
    reserved: AtomicUsize,
    reserved_later: AtomicUsize,
    released: AtomicUsize,
    imports: AtomicUsize,
    clock_behind: AtomicUsize,
    not_held_settles: AtomicUsize,
    near_dst: AtomicUsize,
    quiet_deferrals: AtomicUsize,
    quiet_to_jump: AtomicUsize,
    sweeps: AtomicUsize,
    sweeps_emptying: AtomicUsize,
    behind_floor: AtomicUsize,
    service_after_sweep: AtomicUsize,
    rules_named: AtomicUsize,
    service_held: AtomicUsize,
    transactional_held: AtomicUsize,
    service_uncovered: AtomicUsize,
    service_no_rule: AtomicUsize,
    restores: AtomicUsize,
    settled_after_restore: AtomicUsize,
    stale_releases: AtomicUsize,
}

impl Stats {
    const fn new() -> Stats {
        Stats {
            scenarios: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
            checks: AtomicUsize::new(0),
            allowed: AtomicUsize::new(0),
            deferred: AtomicUsize::new(0),
            denied: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
            reserved_later: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            imports: AtomicUsize::new(0),
            clock_behind: AtomicUsize::new(0),
            not_held_settles: AtomicUsize::new(0),
            near_dst: AtomicUsize::new(0),
            quiet_deferrals: AtomicUsize::new(0),
            quiet_to_jump: AtomicUsize::new(0),
            sweeps: AtomicUsize::new(0),
            sweeps_emptying: AtomicUsize::new(0),
            behind_floor: AtomicUsize::new(0),
            service_after_sweep: AtomicUsize::new(0),
            rules_named: AtomicUsize::new(0),
            service_held: AtomicUsize::new(0),
            transactional_held: AtomicUsize::new(0),
            service_uncovered: AtomicUsize::new(0),
            service_no_rule: AtomicUsize::new(0),
            restores: AtomicUsize::new(0),
            settled_after_restore: AtomicUsize::new(0),
            stale_releases: AtomicUsize::new(0),
        }
    }

    fn bump(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> String {
        let g = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        format!(
            "{} scenarios, {} attempts judged by reserve (+{} checks): {} allowed, {} deferred, {} denied; \
             {} reservations ({} deferred ones), {} released, {} imports, {} ClockBehind verdicts, {} settles of reservations the ledger no longer held; \
             {} attempts within 36h of a DST change in the customer's zone, {} deferrals for quiet hours ({} of them to the instant of a DST change); \
             {} sweeps ({} of them past the horizon of every contact, leaving none), {} attempts before the sweep floor that a rule counting history covers, \
             {} uncovered service replies right after a sweep; {} snapshot round trips, {} settles of reservations taken before a restore; \
             {} late releases of reservations past the history horizon that did not free a slot; \
             {} rules named by reasons (each covering the attempt); {} service replies and {} transactional messages held back; \
             {} service replies no rule covers, all allowed ({} of them under policies without any service rule)",
            g(&self.scenarios),
            g(&self.attempts),
            g(&self.checks),
            g(&self.allowed),
            g(&self.deferred),
            g(&self.denied),
            g(&self.reserved),
            g(&self.reserved_later),
            g(&self.released),
            g(&self.imports),
            g(&self.clock_behind),
            g(&self.not_held_settles),
            g(&self.near_dst),
            g(&self.quiet_deferrals),
            g(&self.quiet_to_jump),
            g(&self.sweeps),
            g(&self.sweeps_emptying),
            g(&self.behind_floor),
            g(&self.service_after_sweep),
            g(&self.restores),
            g(&self.settled_after_restore),
            g(&self.stale_releases),
            g(&self.rules_named),
            g(&self.service_held),
            g(&self.transactional_held),
            g(&self.service_uncovered),
            g(&self.service_no_rule),
        )
    }
}

/// Counts for the whole test binary (also fed by the fixed-scenario tests).
static STATS: Stats = Stats::new();

struct Pending {
    reservation: Reservation,
    cust: usize,
    contact: usize,
    /// `reservation.send_at()`, Unix seconds.
    send_at: i64,
    settle: Settle,
    due: usize,
    delayed: bool,
    /// Whether some cap, spacing rule or preference counts this contact.
    counted: bool,
    /// The operation that took it.
    op: usize,
}

/// What `settle` needs to know of the run so far.
struct SettleCtx {
    /// `policy.history_horizon_secs()`.
    horizon: i64,
    /// The latest time given to the ledger by any operation so far (reserve, check, sweep:
    /// `now`; record: the contact's time). A reservation whose send time is a horizon or more
    /// before it may have been taken as sent.
    latest: i64,
    /// The operation of the latest snapshot restore, if any.
    restored_at: Option<usize>,
}

fn describe(cust: &CustModel, u: i64) -> String {
    let mut out = String::new();
    let local = utc(u).with_timezone(&cust.tz);
    let _ = writeln!(
        out,
        "  at {} = {} ({})",
        utc(u),
        local.format("%a %F %T %:z"),
        cust.tz
    );
    let _ = writeln!(
        out,
        "  history within 40 days ({} contacts in all):",
        cust.history.len()
    );
    let mut near: Vec<&Contact> = cust
        .history
        .iter()
        .filter(|c| (c.t - u).abs() <= 40 * DAY)
        .collect();
    near.sort_by_key(|c| c.t);
    for c in near {
        let _ = writeln!(
            out,
            "    #{:<4} {} local {} {:?} {:?} {:?}{}",
            c.id,
            utc(c.t),
            c.local,
            c.class,
            c.channel,
            c.topic,
            if c.import { " (import)" } else { "" }
        );
    }
    out
}

fn settle(
    ledger: &MemoryLedger,
    p: &Pending,
    models: &mut [CustModel],
    cx: &SettleCtx,
) -> Result<(), TestCaseError> {
    if p.settle != Settle::Never && cx.restored_at.is_some_and(|r| p.op < r) {
        Stats::bump(&STATS.settled_after_restore);
    }
    // Documented: a reservation whose send time is `history_horizon_secs()` or more before an
    // operation's time is taken as sent. Only a settle some operations after the reserve can
    // meet one (the reserve itself is at or before the send time).
    let stale = p.delayed && p.send_at + cx.horizon <= cx.latest;
    match p.settle {
        Settle::Never => Ok(()),
        Settle::Commit => {
            let held = ledger.commit(&p.reservation).map_err(|e| {
                TestCaseError::fail(format!("commit of {} failed: {e}", p.reservation))
            })?;
            // Settled right away, a reservation some rule counts is still held.
            if !held && !p.delayed && p.counted {
                return Err(TestCaseError::fail(format!(
                    "commit of {} right after reserving it returned false",
                    p.reservation
                )));
            }
            if !held {
                Stats::bump(&STATS.not_held_settles);
            }
            // "Committing twice is harmless."
            match ledger.commit(&p.reservation) {
                Ok(false) => Ok(()),
                other => Err(TestCaseError::fail(format!(
                    "committing {} a second time returned {other:?}, expected Ok(false)",
                    p.reservation
                ))),
            }
        }
        Settle::Release => match ledger.release(&p.reservation) {
            Ok(true) => {
                Stats::bump(&STATS.released);
                models[p.cust].history.retain(|c| c.id != p.contact);
                Ok(())
            }
            Ok(false) if !p.delayed && p.counted => Err(TestCaseError::fail(format!(
                "release of {} right after reserving it returned false",
                p.reservation
            ))),
            Ok(false) => {
                // The ledger says no rule counts it any more (or it was taken as sent). The
                // oracle keeps counting it (fail closed): if some rule still did, the oracle
                // will notice.
                Stats::bump(&STATS.not_held_settles);
                if stale {
                    Stats::bump(&STATS.stale_releases);
                }
                Ok(())
            }
            // Taken as sent: "a late release of it may then fail with AlreadyCommitted". The
            // oracle keeps counting it.
            Err(Error::Ledger(LedgerError::AlreadyCommitted(_))) if stale => {
                Stats::bump(&STATS.stale_releases);
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(format!(
                "release of {} failed: {e} (sent at {}, {}s before the latest operation time {}, history horizon {}s{})",
                p.reservation,
                utc(p.send_at),
                cx.latest - p.send_at,
                utc(cx.latest),
                cx.horizon,
                if p.delayed { "" } else { "; released right after reserving it" }
            ))),
        },
    }
}

fn permanent_of(reason: &Reason) -> Option<Permanent> {
    match reason {
        Reason::DoNotContact => Some(Permanent::DoNotContact),
        Reason::NoConsent { .. } => Some(Permanent::NoConsent),
        Reason::Unsubscribed { .. } => Some(Permanent::Unsubscribed),
        _ => None,
    }
}

fn run_scenario(sc: &Scenario) -> Result<(), TestCaseError> {
    let policy = build_policy(&sc.policy);
    let compiled = match policy.compile() {
        Ok(c) => c,
        Err(e) => {
            return Err(TestCaseError::reject(format!(
                "policy does not compile: {e}"
            )))
        }
    };
    Stats::bump(&STATS.scenarios);
    let model = Model::new(&sc.policy);
    let customers: Vec<Customer> = sc
        .customers
        .iter()
        .enumerate()
        .map(|(i, c)| build_customer(i, c, sc.start))
        .collect();
    let mut models: Vec<CustModel> = sc
        .customers
        .iter()
        .map(|c| cust_model(c, sc.policy.zone, sc.start))
        .collect();
    let mut ledger = MemoryLedger::new();
    let mut now = sc.start;
    let mut next_id = 0usize;
    let mut pending: Vec<Pending> = Vec::new();
    // Send times of reservations left unsettled for good (`Settle::Never`).
    let mut never_settled: Vec<i64> = Vec::new();
    let horizon = i64::from(compiled.history_horizon_secs());
    let mut cx = SettleCtx {
        horizon,
        latest: i64::MIN,
        restored_at: None,
    };
    // The latest sweep time (0: never swept), as the ledger's snapshot states it.
    let mut floor = 0i64;
    let mut last_was_sweep = false;

    for (i, op) in sc.ops.iter().enumerate() {
        CURRENT_OP.with(|c| c.set(i));
        now += op.dt();
        let after_sweep = std::mem::replace(&mut last_was_sweep, false);
        // Settle what is due.
        let mut k = 0;
        while k < pending.len() {
            if pending[k].due <= i {
                let p = pending.remove(k);
                settle(&ledger, &p, &mut models, &cx)
                    .map_err(|e| TestCaseError::fail(format!("op {i}: {e}")))?;
            } else {
                k += 1;
            }
        }

        match *op {
            Op::Sweep { .. } => {
                cx.latest = cx.latest.max(now);
                ledger
                    .sweep(&compiled, utc(now))
                    .map_err(|e| TestCaseError::fail(format!("op {i}: sweep failed: {e}")))?;
                floor = floor.max(now);
                last_was_sweep = true;
                Stats::bump(&STATS.sweeps);
                // "Drops every contact that `policy` can no longer count at `now` or later": a
                // contact a whole history horizon (the longest span any rule looks back over)
                // before `now` can no longer be counted. When that holds for the full history,
                // nothing may be left.
                if models
                    .iter()
                    .all(|m| m.history.iter().all(|c| c.t + horizon <= now))
                {
                    Stats::bump(&STATS.sweeps_emptying);
                    let left = ledger.contact_count();
                    prop_assert!(
                        left == 0,
                        "op {i}: sweep at {} (history horizon {horizon}s) left {left} contacts, though every contact is at least a horizon older",
                        utc(now)
                    );
                }
            }
            Op::SnapshotRestore => {
                let snapshot = ledger.snapshot();
                prop_assert_eq!(
                    i64::from(snapshot.floor),
                    floor,
                    "op {}: the snapshot's floor is not the latest sweep time",
                    i
                );
                let json = serde_json::to_string(&snapshot).map_err(|e| {
                    TestCaseError::fail(format!("op {i}: snapshot does not serialize: {e}"))
                })?;
                let restored = MemoryLedger::from_snapshot_json(&json).map_err(|e| {
                    TestCaseError::fail(format!("op {i}: restore failed: {e}\n{json}"))
                })?;
                let again = restored.snapshot();
                prop_assert!(
                    again == snapshot,
                    "op {i}: the restored ledger's snapshot differs from the original:\n{snapshot:?}\n{again:?}"
                );
                ledger = restored;
                cx.restored_at = Some(i);
                Stats::bump(&STATS.restores);
            }
            Op::Import {
                cust,
                channel,
                class,
                topic,
                offset,
                twice,
                ..
            } => {
                let ci = cust % customers.len();
                let at = now + offset;
                cx.latest = cx.latest.max(at);
                let key = format!("import-{next_id}");
                let contact = RecordedContact {
                    at: utc(at),
                    channel,
                    class,
                    topic,
                    key: &key,
                };
                let fresh = ledger
                    .record(&compiled, customers[ci].id, contact)
                    .map_err(|e| TestCaseError::fail(format!("op {i}: record failed: {e}")))?;
                prop_assert!(fresh, "op {i}: record of a new key {key} returned false");
                Stats::bump(&STATS.imports);
                let local = utc(at).with_timezone(&models[ci].tz).naive_local();
                models[ci].history.push(Contact {
                    id: next_id,
                    t: at,
                    local,
                    channel,
                    class,
                    topic,
                    import: true,
                });
                next_id += 1;
                if twice {
                    // "Recording the same key twice counts once" is checked by the oracle (it
                    // counts the import once; a ledger counting it twice would hold back an
                    // attempt the oracle allows). The return value is only asserted where the
                    // ledger certainly still holds the import: some rule counts it and it is the
                    // customer's newest contact ("keys are remembered as long as the policy's
                    // rules can count the contact": an import older than everything a rule still
                    // needs may be dropped at once, and then its key is forgotten). An import
                    // before the sweep floor may not be countable any more either: only attempts
                    // at or after the floor are judged.
                    let newest = models[ci].history.iter().all(|c| c.t <= at) && at >= floor;
                    let counted = model.counts(
                        &models[ci],
                        &Att {
                            channel,
                            class,
                            topic,
                        },
                    );
                    let again = ledger
                        .record(&compiled, customers[ci].id, contact)
                        .map_err(|e| TestCaseError::fail(format!("op {i}: record failed: {e}")))?;
                    prop_assert!(
                        !again || !newest || !counted,
                        "op {i}: recording key {key} twice returned true: {:?} on {:?} topic {:?} at {} (now {}), counted by a rule: {}\n{}",
                        class,
                        channel,
                        topic,
                        utc(at),
                        utc(now),
                        model.counts(&models[ci], &Att { channel, class, topic }),
                        describe(&models[ci], at)
                    );
                }
            }
            Op::Attempt {
                cust,
                channel,
                class,
                topic,
                mode,
                settle: settle_how,
                delay,
                check_first,
                ..
            } => {
                let ci = cust % customers.len();
                let customer = &customers[ci];
                let attempt = Attempt {
                    channel,
                    class,
                    topic,
                };
                let att = Att {
                    channel,
                    class,
                    topic,
                };
                let if_blocked = match mode {
                    ModeGen::Drop => IfBlocked::Drop,
                    ModeGen::Defer(expires) => IfBlocked::Defer {
                        expires: expires.map(|s| utc(now + s)),
                    },
                };
                cx.latest = cx.latest.max(now);
                let checked = if check_first {
                    Stats::bump(&STATS.checks);
                    Some(
                        ledger
                            .check(&compiled, customer, attempt, utc(now))
                            .map_err(|e| {
                                TestCaseError::fail(format!("op {i}: check failed: {e}"))
                            })?,
                    )
                } else {
                    None
                };
                let outcome = ledger
                    .reserve(&compiled, customer, attempt, if_blocked, utc(now))
                    .map_err(|e| TestCaseError::fail(format!("op {i}: reserve failed: {e}")))?;
                Stats::bump(&STATS.attempts);

                let cm = &models[ci];
                let verdict = &outcome.verdict;
                let ctx = |what: &str| {
                    format!(
                        "op {i}: {what}\n  attempt {class:?} on {channel:?} topic {topic:?}, {if_blocked:?}, customer #{}\n  verdict: {verdict}\n  reservation: {:?}\n  sweep floor: {}\n{}",
                        ci + 1,
                        outcome.reservation.as_ref().map(|r| r.send_at()),
                        if floor > 0 { utc(floor).to_string() } else { "none".to_owned() },
                        describe(cm, now)
                    )
                };
                macro_rules! ensure {
                    ($cond:expr, $($fmt:tt)+) => {
                        if !$cond {
                            return Err(TestCaseError::fail(ctx(&format!($($fmt)+))));
                        }
                    };
                }

                if let Some(checked) = &checked {
                    ensure!(
                        checked == verdict,
                        "check just before said {checked}, reserve said otherwise"
                    );
                }

                let j_now = model.judge(cm, &att, now);
                // After a sweep, an attempt that a rule counting history covers (a cap, spacing
                // rule or preference of its channel, class and topic) is judged from the sweep
                // time if it is earlier: `from` is the earliest time it may be placed at.
                let counted = model.counts(cm, &att);
                let behind = counted && now < floor;
                let from = if behind { floor } else { now };
                if behind {
                    Stats::bump(&STATS.behind_floor);
                }
                let clock_behind = verdict
                    .reasons()
                    .iter()
                    .any(|r| matches!(r, Reason::ClockBehind { .. }));
                if clock_behind {
                    Stats::bump(&STATS.clock_behind);
                    // "The attempt is earlier than a time the ledger already swept its history
                    // up to", and only rules that count history are judged from that time.
                    ensure!(
                        behind,
                        "ClockBehind, but {}",
                        if now >= floor {
                            "the attempt is not before the latest sweep time"
                        } else {
                            "no cap, spacing rule or preference covers the attempt: a sweep must not hold it back"
                        }
                    );
                }
                if transitions(cm.tz.name())
                    .iter()
                    .any(|&t| (t - now).abs() <= 36 * HOUR)
                {
                    Stats::bump(&STATS.near_dst);
                }
                if verdict
                    .reasons()
                    .iter()
                    .any(|r| matches!(r, Reason::QuietHours { .. }))
                {
                    Stats::bump(&STATS.quiet_deferrals);
                    if let Verdict::Deferred { until, .. } = verdict {
                        if transitions(cm.tz.name()).contains(&until.timestamp()) {
                            Stats::bump(&STATS.quiet_to_jump);
                        }
                    }
                }

                // Denied exactly when a permanent reason applies, listing each of them.
                match verdict {
                    Verdict::Denied { reasons } => {
                        Stats::bump(&STATS.denied);
                        ensure!(
                            !j_now.permanent.is_empty(),
                            "denied, but no consent/DNC/unsubscribe reason applies"
                        );
                        for p in &j_now.permanent {
                            ensure!(
                                reasons.iter().any(|r| permanent_of(r) == Some(*p)),
                                "denied without listing {p:?}, which applies"
                            );
                        }
                        for r in reasons {
                            if let Some(p) = permanent_of(r) {
                                ensure!(
                                    j_now.permanent.contains(&p),
                                    "denied listing {r}, which does not apply"
                                );
                            }
                        }
                        ensure!(
                            outcome.reservation.is_none(),
                            "denied, yet a reservation was taken"
                        );
                    }
                    _ => ensure!(
                        j_now.permanent.is_empty(),
                        "{:?} applies (permanent), but the verdict is not Denied",
                        j_now.permanent
                    ),
                }

                // Every rule a reason names holds back attempts of this class, channel and
                // topic: marketing rules never hold back service or transactional messages, and
                // a rule of one class never another's.
                for r in verdict.reasons() {
                    let rule = match r {
                        Reason::CapReached { rule, .. }
                        | Reason::TooSoon { rule, .. }
                        | Reason::QuietHours { rule, .. }
                        | Reason::LaterContact { rule, .. } => rule,
                        _ => continue,
                    };
                    Stats::bump(&STATS.rules_named);
                    match model.rule_covers(cm, &rule.path, &att) {
                        Some(true) => {}
                        Some(false) => ensure!(
                            false,
                            "the verdict names {rule}, a rule whose class, channel or topic does not cover the attempt"
                        ),
                        None => ensure!(false, "the verdict names {rule}, which the policy does not have"),
                    }
                }

                // Service and transactional messages are held back only by their own class's
                // rules (and transactional ones by do-not-contact too).
                if class != MessageClass::Marketing && !verdict.is_allowed() {
                    Stats::bump(if class == MessageClass::Service {
                        &STATS.service_held
                    } else {
                        &STATS.transactional_held
                    });
                }

                // A service reply that no rule of the policy covers (no service cap, spacing
                // rule or quiet hours for its channel and topic) is always allowed, whatever
                // the marketing and transactional rules, the customer's choices and the sweeps.
                if class == MessageClass::Service && !model.covers(&att) {
                    Stats::bump(&STATS.service_uncovered);
                    ensure!(!counted, "oracle footing: a rule counts this service reply");
                    if !model.names_class(MessageClass::Service) {
                        Stats::bump(&STATS.service_no_rule);
                    }
                    if after_sweep {
                        // Right after a sweep, at or before its time: no rule counting history
                        // covers it, so the sweep cannot hold it back.
                        Stats::bump(&STATS.service_after_sweep);
                        ensure!(
                            verdict.is_allowed(),
                            "a service reply right after a sweep was held back (no rule covers it)"
                        );
                    }
                    ensure!(
                        verdict.is_allowed(),
                        "a service reply was held back, though no rule covers it{}",
                        if model.names_class(MessageClass::Service) {
                            ""
                        } else {
                            " (the policy has no service rule at all)"
                        }
                    );
                }

                if behind {
                    // Judged from the sweep time: never allowed before it.
                    ensure!(
                        !verdict.is_allowed(),
                        "allowed before the latest sweep time, though a rule that counts history covers it"
                    );
                } else if j_now.allowed() {
                    // The oracle allows now: the ledger must not hold it back.
                    ensure!(
                        verdict.is_allowed(),
                        "held back although every documented rule passes now"
                    );
                }

                let expected_send_at = match verdict {
                    Verdict::Allowed => {
                        Stats::bump(&STATS.allowed);
                        ensure!(
                            j_now.allowed(),
                            "allowed, but the oracle says: {:?} {:?}",
                            j_now.temporary,
                            j_now.order
                        );
                        Some(now)
                    }
                    Verdict::Deferred { until, reasons } => {
                        Stats::bump(&STATS.deferred);
                        let u = until.timestamp();
                        ensure!(
                            until.timestamp_subsec_nanos() == 0,
                            "until {until} is not a whole second"
                        );
                        ensure!(u > now, "deferred until {until}, which is not after now");
                        ensure!(
                            u >= from,
                            "deferred until {until}, before the latest sweep time"
                        );
                        ensure!(!reasons.is_empty(), "deferred without a reason");
                        let j_until = model.judge(cm, &att, u);
                        ensure!(
                            j_until.allowed(),
                            "deferred until {until}, but the oracle does not allow that time: {:?} {:?}\n{}",
                            j_until.temporary,
                            j_until.order,
                            describe(cm, u)
                        );
                        // The earliest time at or after `from` (the sweep time, if judged from it).
                        if u > from {
                            let j_before = model.judge(cm, &att, u - 1);
                            ensure!(
                                !j_before.allowed(),
                                "deferred until {until}, but one second earlier already passes every rule (not the earliest time)"
                            );
                        }
                        if behind && u != from {
                            let j_from = model.judge(cm, &att, from);
                            ensure!(
                                !j_from.allowed(),
                                "deferred until {until}, but the latest sweep time already passes every rule (judged from it, it is the earliest time)"
                            );
                        }
                        match mode {
                            ModeGen::Drop => None,
                            ModeGen::Defer(None) => Some(u),
                            ModeGen::Defer(Some(e)) => (u <= now + e).then_some(u),
                        }
                    }
                    Verdict::Denied { .. } => None,
                };

                match (&outcome.reservation, expected_send_at) {
                    (None, None) => {}
                    (Some(r), Some(at)) => {
                        ensure!(
                            r.send_at() == utc(at),
                            "reservation at {}, expected {}",
                            r.send_at(),
                            utc(at)
                        );
                        ensure!(
                            r.channel() == channel
                                && r.class() == class
                                && r.customer() == customer.id,
                            "reservation {r} does not match the attempt"
                        );
                        // The heart of it: the reserved contact passes the oracle at send_at.
                        let j = model.judge(cm, &att, at);
                        ensure!(
                            j.allowed(),
                            "reservation {r} breaks the documented rules: {:?} {:?} {:?}\n{}",
                            j.permanent,
                            j.temporary,
                            j.order,
                            describe(cm, at)
                        );
                        Stats::bump(&STATS.reserved);
                        if at != now {
                            Stats::bump(&STATS.reserved_later);
                        }
                        let local = utc(at).with_timezone(&cm.tz).naive_local();
                        let id = next_id;
                        next_id += 1;
                        models[ci].history.push(Contact {
                            id,
                            t: at,
                            local,
                            channel,
                            class,
                            topic,
                            import: false,
                        });
                        let p = Pending {
                            reservation: r.clone(),
                            cust: ci,
                            contact: id,
                            send_at: at,
                            settle: settle_how,
                            due: i + usize::from(delay),
                            delayed: delay > 0,
                            counted,
                            op: i,
                        };
                        if settle_how == Settle::Never {
                            never_settled.push(at);
                        } else if delay == 0 {
                            settle(&ledger, &p, &mut models, &cx)
                                .map_err(|e| TestCaseError::fail(format!("op {i}: {e}")))?;
                        } else {
                            pending.push(p);
                        }
                    }
                    (got, want) => {
                        ensure!(
                            false,
                            "reservation {got:?}, expected one at {:?}",
                            want.map(utc)
                        );
                    }
                }
            }
        }
    }

    // Bounded memory. Per customer: five inline contacts, the `limit` most recent of each cap's
    // scope, the latest of each spacing rule's, `preferences.max_limit` most recent marketing
    // contacts per channel and across channels (8 times covers the crate's 7 channels and the
    // whole), and every reservation still unsettled and younger than the history horizon (a
    // reservation never pushes an older contact out). This is a generous bound; the ledger
    // promises bounded, not exact.
    let young_unsettled = never_settled
        .iter()
        .copied()
        .chain(pending.iter().map(|p| p.send_at))
        .filter(|&t| t + horizon > now)
        .count();
    let per_customer = 5
        + sc.policy
            .caps
            .iter()
            .map(|c| c.limit as usize)
            .sum::<usize>()
        + sc.policy.spacing.len()
        + 8 * policy.preferences.max_limit as usize
        + young_unsettled;
    let bound = customers.len() * per_customer;
    let held = ledger.contact_count();
    prop_assert!(
        held <= bound,
        "the ledger holds {held} contacts after the run, more than the bound {bound} ({} customers x {per_customer}; {young_unsettled} unsettled reservations younger than the {horizon}s horizon)",
        customers.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The property tests
// ---------------------------------------------------------------------------------------------

/// Cases per runner; two runners (random dates, DST-anchored) run side by side on two threads.
/// With 50–300 steps per case (~160 attempts on average after imports, sweeps and snapshots),
/// that is about 120,000 attempts judged per `cargo test`; the test asserts at least 100,000.
const CASES_PER_RUNNER: u32 = 375;
const MIN_ATTEMPTS: usize = 100_000;

fn runner_config() -> Config {
    Config {
        cases: CASES_PER_RUNNER,
        // Persist failing seeds in tests/throttle_oracle.proptest-regressions (proptest's file
        // persistence next to the source file, as the `proptest!` macro does for tests/).
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        max_global_rejects: 10 * CASES_PER_RUNNER,
        max_shrink_iters: 50_000,
        ..Config::default()
    }
}

thread_local! {
    /// The operation `run_scenario` is at, to cut a failing input short when it is reported.
    static CURRENT_OP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn run_property<S: Strategy<Value = Scenario>>(name: &str, strategy: S) -> Result<(), String> {
    let mut runner = TestRunner::new(runner_config());
    match runner.run(&strategy, |sc| run_scenario(&sc)) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, mut value)) => {
            // Operations after the failing one play no part: leave them out of the report.
            let _ = run_scenario(&value);
            let failed_at = CURRENT_OP.with(|c| c.get());
            value.ops.truncate(failed_at + 1);
            Err(format!(
                "{name}: oracle violation: {reason}\nminimal failing input (operations up to the failing one): {value:#?}"
            ))
        }
        Err(TestError::Abort(reason)) => Err(format!("{name}: aborted: {reason}")),
    }
}

#[test]
fn every_granted_contact_passes_the_brute_force_oracle() {
    let anywhere = std::thread::spawn(|| run_property("anywhere in 2026", scenario_anywhere()));
    let dst = std::thread::spawn(|| run_property("around DST transitions", scenario_dst()));
    let results = [
        anywhere.join().expect("runner thread"),
        dst.join().expect("runner thread"),
    ];
    eprintln!("throttle oracle: {}", STATS.report());
    for r in &results {
        if let Err(e) = r {
            panic!("{e}");
        }
    }
    let attempts = STATS.attempts.load(Ordering::Relaxed);
    assert!(
        attempts >= MIN_ATTEMPTS,
        "only {attempts} attempts judged, want at least {MIN_ATTEMPTS}"
    );
    // The class rules are exercised: service and transactional messages held back by rules of
    // their own class, and service replies no rule covers (in policies without any service
    // rule too), each checked above. About 2,000, 4,000, 15,000 and 11,000 in a run.
    for (what, counter) in [
        ("service replies held back", &STATS.service_held),
        (
            "transactional messages held back",
            &STATS.transactional_held,
        ),
        ("service replies no rule covers", &STATS.service_uncovered),
        (
            "service replies under a policy without service rules",
            &STATS.service_no_rule,
        ),
    ] {
        let n = counter.load(Ordering::Relaxed);
        assert!(n >= 200, "only {n} {what} in the run, want at least 200");
    }
}

// ---------------------------------------------------------------------------------------------
// Sanity checks of the oracle's own footing
// ---------------------------------------------------------------------------------------------

#[test]
fn dst_anchors_are_real_transitions() {
    for zone in DST_ZONES {
        let z = tz(zone);
        for t in transitions(zone) {
            let before = utc(t - 1).with_timezone(&z).naive_local();
            let after = utc(t).with_timezone(&z).naive_local();
            assert_ne!(after - before, Duration::seconds(1), "{zone} at {}", utc(t));
        }
    }
}

#[test]
fn oracle_rolling_max_counts_every_placement() {
    // Contacts at 0 and 10, window 10: a span containing 5 holds both only if it is [1, 11)...
    // which does not contain 0. So at most 2 with the new one.
    assert_eq!(rolling_max(&[0, 10], 5, 10), 2);
    assert_eq!(rolling_max(&[0, 4], 5, 10), 3);
    assert_eq!(rolling_max(&[6, 14], 5, 10), 3);
    assert_eq!(rolling_max(&[15], 5, 10), 1);
    // "a contact at t counts against an attempt at u while u - t < window"
    assert_eq!(rolling_max(&[0], 9, 10), 2);
    assert_eq!(rolling_max(&[0], 10, 10), 1);
}

#[test]
fn oracle_quiet_hours_follow_the_start_day() {
    // 22:00 to 06:00 on Fridays only.
    let q = OQuiet {
        name: "q".into(),
        start: 22 * 60,
        end: 30 * 60,
        days: [false, false, false, false, true, false, false],
        channels: None,
        classes: vec![MessageClass::Marketing],
    };
    assert!(q.quiet_at(4, 23 * 60)); // Friday 23:00
    assert!(q.quiet_at(5, 5 * 60 + 59)); // Saturday 05:59
    assert!(!q.quiet_at(5, 6 * 60)); // Saturday 06:00
    assert!(!q.quiet_at(4, 5 * 60)); // Friday 05:00 belongs to Thursday's window
    assert!(!q.quiet_at(5, 23 * 60)); // Saturday 23:00
}

#[test]
fn oracle_rules_judge_and_count_their_own_class_only() {
    let cap = |class, limit| CapGen {
        class,
        channel: None,
        topic: None,
        limit,
        window: WinGen::Hours(1),
    };
    let policy = PolicyGen {
        zone: "UTC",
        caps: vec![
            cap(MessageClass::Marketing, 1),
            cap(MessageClass::Service, 1),
        ],
        spacing: Vec::new(),
        quiet: vec![QuietGen {
            start: 0,
            len: 600,
            end_as_24: false,
            days: None,
            long_day_names: false,
            channels: Some(vec![Channel::Sms]),
            classes: vec![MessageClass::Transactional],
        }],
    };
    build_policy(&policy).compile().expect("compiles");
    let model = Model::new(&policy);
    let customer = CustomerGen {
        zone: None,
        consents: [Consent::OptedIn; 3],
        do_not_contact: true,
        unsubscribed: None,
        snooze: None,
        prefs: Vec::new(),
    };
    let noon = utc_secs(2026, 5, 4, 12, 0);
    let mut cust = cust_model(&customer, "UTC", noon);
    let att = |class, channel| Att {
        channel,
        class,
        topic: None,
    };
    let contact = |class| Contact {
        id: 0,
        t: noon,
        local: utc(noon).naive_utc(),
        channel: Channel::Email,
        class,
        topic: None,
        import: false,
    };
    let service = att(MessageClass::Service, Channel::Email);
    let marketing = att(MessageClass::Marketing, Channel::Email);
    // A marketing contact fills the marketing cap, not the service cap; do-not-contact does not
    // hold back a service reply.
    cust.history = vec![contact(MessageClass::Marketing)];
    assert!(model.judge(&cust, &service, noon + 60).allowed());
    assert!(!model
        .judge(&cust, &marketing, noon + 60)
        .temporary
        .is_empty());
    // A service contact fills the service cap only.
    cust.history = vec![contact(MessageClass::Service)];
    assert!(!model.judge(&cust, &service, noon + 60).allowed());
    assert!(model.judge(&cust, &service, noon + HOUR).allowed());
    assert!(model
        .judge(&cust, &marketing, noon + 60)
        .temporary
        .is_empty());
    // Transactional: quiet on SMS from midnight to 10:00, and held back by do-not-contact.
    let sms = att(MessageClass::Transactional, Channel::Sms);
    let j = model.judge(&cust, &sms, noon - 3 * HOUR);
    assert_eq!(j.permanent, vec![Permanent::DoNotContact]);
    assert_eq!(j.temporary.len(), 1, "{:?}", j.temporary);
    assert!(model.judge(&cust, &sms, noon).temporary.is_empty());
    // Which rules may be named for which attempts.
    assert_eq!(model.rule_covers(&cust, "caps[0]", &service), Some(false));
    assert_eq!(model.rule_covers(&cust, "caps[1]", &service), Some(true));
    assert_eq!(model.rule_covers(&cust, "caps[1]", &marketing), Some(false));
    assert_eq!(model.rule_covers(&cust, "quiet_hours[0]", &sms), Some(true));
    assert_eq!(
        model.rule_covers(&cust, "quiet_hours[0]", &service),
        Some(false)
    );
    assert_eq!(model.rule_covers(&cust, "caps[2]", &service), None);
    assert!(model.covers(&service) && model.names_class(MessageClass::Service));
    assert!(!model.covers(&att(MessageClass::Transactional, Channel::Email)));
}

#[test]
fn most_generated_policies_compile() {
    let mut runner = TestRunner::deterministic();
    let strategy = policy_gen();
    let mut failures = Vec::new();
    for _ in 0..500 {
        let p = strategy.new_tree(&mut runner).expect("tree").current();
        if let Err(e) = build_policy(&p).compile() {
            failures.push(e.to_string());
        }
    }
    eprintln!(
        "{} of 500 generated policies fail to compile: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        failures.len() < 50,
        "{} of 500 policies fail to compile: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

// ---------------------------------------------------------------------------------------------
// Failures the oracle found, kept as plain regression tests
// ---------------------------------------------------------------------------------------------

/// Found by `every_granted_contact_passes_the_brute_force_oracle` (minimised by hand); fixed in
/// 90bae38 ("a released reservation no longer loses the contacts it displaced").
///
/// Policy: one transactional cap, 1 per rolling 2 days. At T a transactional e-mail is
/// allowed and committed. A second one at T is deferred to T + 2d (correct) and reserved, then
/// that reservation is released (the send failed). A third one at T is then ALLOWED, so two
/// transactional contacts sit at T under a cap of 1 per 2 days.
///
/// The docs promise at most `limit` contacts in every span of the window ("a contact at `t`
/// counts against an attempt at `u` while `u - t < window`"), and a released reservation only
/// gives back its own slot. The ledger seems to drop the contact at T when the deferred one at
/// T + 2d is reserved ("a cap of N needs at most the N most recent contacts in its scope"),
/// and the release of the newest one then leaves the cap with nothing to count.
#[test]
fn releasing_a_deferred_reservation_keeps_the_earlier_contact_counted() {
    let policy = Policy::from_toml_str(
        r#"
        time_zone = "America/New_York"

        [[caps]]
        class = "transactional"
        limit = 1
        window = "2d"
        "#,
    )
    .expect("parses")
    .compile()
    .expect("compiles");
    let ledger = MemoryLedger::new();
    let customer = Customer::new(1);
    let receipt = Attempt::transactional(Channel::Email);
    let t = utc(utc_secs(2026, 1, 1, 0, 0));

    let first = ledger
        .reserve(&policy, &customer, receipt, IfBlocked::Drop, t)
        .expect("reserve");
    assert_eq!(first.verdict, Verdict::Allowed);
    assert!(ledger
        .commit(&first.reservation.expect("reserved"))
        .expect("commit"));

    let deferred = ledger
        .reserve(
            &policy,
            &customer,
            receipt,
            IfBlocked::Defer { expires: None },
            t,
        )
        .expect("reserve");
    let later = deferred.reservation.expect("deferred and reserved");
    assert_eq!(later.send_at(), t + Duration::days(2));
    assert!(ledger.release(&later).expect("release"));

    // The contact at `t` still counts: a second one at `t` would be two in one 2-day span.
    let third = ledger
        .reserve(&policy, &customer, receipt, IfBlocked::Drop, t)
        .expect("reserve");
    assert!(
        !third.verdict.is_allowed() && third.reservation.is_none(),
        "second transactional contact at {t} under a cap of 1 per 2 days: {}",
        third.verdict
    );
}

/// Found by `every_granted_contact_passes_the_brute_force_oracle`: the same loss as above
/// without any deferral, through a clock that goes back (minimised by hand; fixed with it).
///
/// Policy: one transactional cap, 1 per calendar day (America/New_York). A transactional
/// contact on Wednesday 28 January at 09:00 local; one on Thursday at 00:00 local is allowed
/// (a new day) but its send fails and it is released; then the clock goes back to Wednesday
/// 21:00 local and a second Wednesday contact is ALLOWED: two in one local day under a cap of 1.
#[test]
fn release_after_the_clock_went_back_keeps_the_earlier_contact_counted() {
    let policy = Policy::from_toml_str(
        r#"
        time_zone = "America/New_York"

        [[caps]]
        class = "transactional"
        limit = 1
        window = "calendar day"
        "#,
    )
    .expect("parses")
    .compile()
    .expect("compiles");
    let ledger = MemoryLedger::new();
    let customer = Customer::new(1);
    let receipt = Attempt::transactional(Channel::Email);
    let wednesday_morning = utc(utc_secs(2026, 1, 28, 14, 0)); // 09:00 EST
    let thursday_midnight = utc(utc_secs(2026, 1, 29, 5, 0)); // 00:00 EST
    let wednesday_evening = utc(utc_secs(2026, 1, 29, 2, 0)); // 21:00 EST, Wednesday

    let first = ledger
        .reserve(
            &policy,
            &customer,
            receipt,
            IfBlocked::Drop,
            wednesday_morning,
        )
        .expect("reserve");
    assert_eq!(first.verdict, Verdict::Allowed);
    assert!(ledger
        .commit(&first.reservation.expect("reserved"))
        .expect("commit"));

    let failed = ledger
        .reserve(
            &policy,
            &customer,
            receipt,
            IfBlocked::Drop,
            thursday_midnight,
        )
        .expect("reserve");
    assert_eq!(failed.verdict, Verdict::Allowed);
    assert!(ledger
        .release(&failed.reservation.expect("reserved"))
        .expect("release"));

    let again = ledger
        .reserve(
            &policy,
            &customer,
            receipt,
            IfBlocked::Drop,
            wednesday_evening,
        )
        .expect("reserve");
    assert!(
        !again.verdict.is_allowed() && again.reservation.is_none(),
        "second transactional contact on Wednesday (local) under a cap of 1 per calendar day: {}",
        again.verdict
    );
}

/// Found by `every_granted_contact_passes_the_brute_force_oracle` (its `Sweep` operations, with
/// the attempt right after one); minimised by hand. NOT FIXED: this test fails until the library
/// is.
///
/// Policy: a single rule, a marketing cap on topic "news" (1 per minute). The ledger is swept at
/// T = 2026-01-01T00:00:00Z, then a marketing e-mail WITHOUT a topic (opted in, no preferences)
/// is attempted at T - 1 day. The ledger answers `Deferred { until: T, [ClockBehind] }`.
///
/// No cap, spacing rule or preference covers that attempt: the only cap counts "news" contacts.
/// The README ("The ledger") says the sweep time is a floor for "attempts judged by rules that
/// count history", and the CHANGELOG design notes: "service replies and other attempts no such
/// rule covers are never held back by it". So the verdict must be `Allowed` at T - 1 day. A topic
/// "other" attempt is held back the same way; a cap scoped by channel without a topic (email)
/// correctly leaves marketing SMS alone, so the floor seems to ignore only the topic of a rule's
/// scope.
#[test]
fn sweep_floor_does_not_hold_back_attempts_outside_a_topic_caps_scope() {
    let policy = Policy::from_toml_str(
        r#"
        time_zone = "America/New_York"

        [[caps]]
        topic = "news"
        limit = 1
        window = "1m"
        "#,
    )
    .expect("parses")
    .compile()
    .expect("compiles");
    let ledger = MemoryLedger::new();
    let customer = Customer::new(1).with_consent(Channel::Email, Consent::OptedIn);
    let t = utc(utc_secs(2026, 1, 1, 0, 0));
    ledger.sweep(&policy, t).expect("sweep");

    let earlier = t - Duration::days(1);
    let outcome = ledger
        .reserve(
            &policy,
            &customer,
            Attempt::marketing(Channel::Email),
            IfBlocked::Drop,
            earlier,
        )
        .expect("reserve");
    assert_eq!(
        outcome.verdict,
        Verdict::Allowed,
        "a marketing e-mail no rule counts, at {earlier}, after a sweep at {t}"
    );
}
