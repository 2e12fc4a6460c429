//! Quiet hours and calendar caps on days when the wall clock jumps, and in zones whose offset is
//! not a whole number of hours.
//!
//! Every expected instant is worked out by hand in the comments, from the published zone rules:
//!
//! - America/New_York: EST is UTC-5, EDT is UTC-4. On Sunday 2026-03-08 at 02:00 EST (07:00Z)
//!   clocks jump to 03:00 EDT, so 02:00-02:59 does not exist and the day lasts 23 hours. On Sunday
//!   2026-11-01 at 02:00 EDT (06:00Z) clocks go back to 01:00 EST, so 01:00-01:59 happens twice
//!   (05:00-05:59Z, then 06:00-06:59Z) and the day lasts 25 hours.
//! - Australia/Lord_Howe: +10:30 in winter, +11:00 in summer (a 30-minute shift). On Sunday
//!   2026-04-05 at 02:00 +11 (2026-04-04 15:00Z) clocks go back to 01:30 +10:30, so 01:30-01:59
//!   happens twice (14:30-14:59Z, then 15:00-15:29Z). On Sunday 2026-10-04 at 02:00 +10:30
//!   (2026-10-03 15:30Z) clocks jump to 02:30 +11, so 02:00-02:29 does not exist.
//! - Pacific/Auckland: NZST is UTC+12, NZDT is UTC+13. DST ends Sunday 2026-04-05 (03:00 NZDT ->
//!   02:00 NZST) and starts Sunday 2026-09-27 (02:00 NZST -> 03:00 NZDT).
//! - Asia/Kolkata: UTC+05:30 all year, no DST.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use cornershop::{
    Attempt, CalendarPeriod, Channel, CompiledPolicy, Consent, ContactLedger, Customer, IfBlocked,
    MemoryLedger, Policy, Reason, Verdict, Window,
};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn compile(toml: &str) -> CompiledPolicy {
    Policy::from_toml_str(toml)
        .expect("policy parses")
        .compile()
        .expect("policy compiles")
}

fn customer_in(zone: Tz) -> Customer {
    Customer::new(1)
        .with_time_zone(zone)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_consent(Channel::Sms, Consent::OptedIn)
}

const EMAIL: Attempt<'static> = Attempt::marketing(Channel::Email);

/// The verdict for a marketing email at `at`, on a fresh ledger.
fn judge(policy: &CompiledPolicy, customer: &Customer, at: DateTime<Utc>) -> Verdict {
    MemoryLedger::new()
        .check(policy, customer, EMAIL, at)
        .expect("check succeeds")
}

#[track_caller]
fn assert_allowed(policy: &CompiledPolicy, customer: &Customer, at: DateTime<Utc>) {
    let verdict = judge(policy, customer, at);
    assert!(
        verdict.is_allowed(),
        "at {at}: expected allowed, got {verdict}"
    );
}

/// Asserts that quiet hours (and only quiet hours) defer the email at `at` until `until`, that
/// the reason says so, that `earliest_allowed` agrees, and that the contact passes at `until`.
#[track_caller]
fn assert_quiet_until(
    policy: &CompiledPolicy,
    customer: &Customer,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let verdict = judge(policy, customer, at);
    match &verdict {
        Verdict::Deferred {
            until: got,
            reasons,
        } => {
            assert_eq!(
                *got, until,
                "at {at}: deferred to the wrong instant: {verdict}"
            );
            assert!(
                reasons
                    .iter()
                    .any(|r| matches!(r, Reason::QuietHours { until: u, .. } if *u == until)),
                "at {at}: expected a quiet-hours reason ending at {until}: {verdict}"
            );
        }
        other => panic!("at {at}: expected deferred until {until}, got {other}"),
    }
    let ledger = MemoryLedger::new();
    assert_eq!(
        ledger
            .earliest_allowed(policy, customer, EMAIL, at)
            .unwrap(),
        Some(until)
    );
    // Deferring reserves the slot at the end of the quiet hours.
    let outcome = ledger
        .reserve(
            policy,
            customer,
            EMAIL,
            IfBlocked::Defer { expires: None },
            at,
        )
        .unwrap();
    assert_eq!(
        outcome
            .reservation
            .expect("deferred and reserved")
            .send_at(),
        until
    );
    // And the contact passes when it is actually sent.
    assert_allowed(policy, customer, until);
}

// ---------------------------------------------------------------------------------------------
// New York, spring forward (2026-03-08): 02:00 EST = 07:00Z jumps to 03:00 EDT.
// ---------------------------------------------------------------------------------------------

const NY_LATE_NIGHT: &str = r#"
    [[quiet_hours]]
    start = "22:00"
    end = "02:30"
"#;

#[test]
fn quiet_hours_ending_in_the_spring_forward_gap_end_at_the_jump() {
    let policy = compile(NY_LATE_NIGHT);
    let ny = customer_in(chrono_tz::America::New_York);
    // 02:30 on 2026-03-08 does not exist in New York. The first wall-clock minute that is not
    // quiet is 03:00 EDT, the moment of the jump: 07:00Z.
    let jump = utc(2026, 3, 8, 7, 0);
    // Saturday 22:00 EST = 03:00Z Sunday: the quiet hours start.
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 3, 0), jump);
    // Midnight EST = 05:00Z.
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 5, 0), jump);
    // 01:59 EST = 06:59Z, the last minute before the jump.
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 6, 59), jump);
    // 03:00 EDT = 07:00Z: no longer quiet.
    assert_allowed(&policy, &ny, jump);
    // 21:59 EST on Saturday = 02:59Z: not yet quiet.
    assert_allowed(&policy, &ny, utc(2026, 3, 8, 2, 59));
}

#[test]
fn quiet_hours_ending_after_the_spring_forward_use_the_new_offset() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
    "#,
    );
    let ny = customer_in(chrono_tz::America::New_York);
    // Saturday 23:00 EST = 04:00Z Sunday. The quiet hours end at 08:00 EDT (UTC-4) = 12:00Z,
    // not at 08:00 EST (13:00Z).
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 4, 0), utc(2026, 3, 8, 12, 0));
    // 07:59 EDT = 11:59Z is still quiet; 08:00 EDT = 12:00Z is not.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 3, 8, 11, 59),
        utc(2026, 3, 8, 12, 0),
    );
    assert_allowed(&policy, &ny, utc(2026, 3, 8, 12, 0));
}

#[test]
fn quiet_hours_starting_in_the_spring_forward_gap_start_at_the_jump() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "02:30"
        end = "05:00"
    "#,
    );
    let ny = customer_in(chrono_tz::America::New_York);
    // Judged per wall-clock minute: 01:59 EST (06:59Z) is before 02:30, so not quiet; the next
    // minute is 03:00 EDT (07:00Z), which is inside 02:30-05:00. Quiet until 05:00 EDT = 09:00Z.
    assert_allowed(&policy, &ny, utc(2026, 3, 8, 6, 59));
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 9, 0));
    assert_quiet_until(&policy, &ny, utc(2026, 3, 8, 8, 59), utc(2026, 3, 8, 9, 0));
    assert_allowed(&policy, &ny, utc(2026, 3, 8, 9, 0));
}

// ---------------------------------------------------------------------------------------------
// New York, fall back (2026-11-01): 02:00 EDT = 06:00Z goes back to 01:00 EST.
// 01:00 EDT = 05:00Z, 01:30 EDT = 05:30Z, 01:00 EST = 06:00Z, 01:30 EST = 06:30Z.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_repeated_quiet_hour_is_quiet_both_times() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "01:00"
        end = "01:30"
    "#,
    );
    let ny = customer_in(chrono_tz::America::New_York);
    // 00:59 EDT = 04:59Z: before the quiet hours.
    assert_allowed(&policy, &ny, utc(2026, 11, 1, 4, 59));
    // First pass: 01:00-01:29 EDT = 05:00-05:29Z, quiet until 01:30 EDT = 05:30Z.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 5, 0),
        utc(2026, 11, 1, 5, 30),
    );
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 5, 29),
        utc(2026, 11, 1, 5, 30),
    );
    // 01:30-01:59 EDT = 05:30-05:59Z: not quiet.
    assert_allowed(&policy, &ny, utc(2026, 11, 1, 5, 30));
    assert_allowed(&policy, &ny, utc(2026, 11, 1, 5, 59));
    // Second pass: 01:00-01:29 EST = 06:00-06:29Z is quiet again, until 01:30 EST = 06:30Z.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 6, 0),
        utc(2026, 11, 1, 6, 30),
    );
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 6, 15),
        utc(2026, 11, 1, 6, 30),
    );
    assert_allowed(&policy, &ny, utc(2026, 11, 1, 6, 30));
}

#[test]
fn quiet_hours_spanning_the_fall_back_last_until_their_end_after_the_repeat() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "22:00"
        end = "06:00"
    "#,
    );
    let ny = customer_in(chrono_tz::America::New_York);
    // Saturday 23:00 EDT = 03:00Z Sunday. Quiet through both 01:xx passes until 06:00 EST
    // (UTC-5) = 11:00Z. From 22:00 EDT (02:00Z) that is 8 hours on the wall clock but 9 real
    // hours, because 01:00-01:59 happens twice.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 3, 0),
        utc(2026, 11, 1, 11, 0),
    );
    // 01:45 EDT (05:45Z, first pass) and 01:45 EST (06:45Z, second pass) are both quiet.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 5, 45),
        utc(2026, 11, 1, 11, 0),
    );
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 6, 45),
        utc(2026, 11, 1, 11, 0),
    );
    // 05:59 EST = 10:59Z still quiet, 06:00 EST = 11:00Z not.
    assert_quiet_until(
        &policy,
        &ny,
        utc(2026, 11, 1, 10, 59),
        utc(2026, 11, 1, 11, 0),
    );
    assert_allowed(&policy, &ny, utc(2026, 11, 1, 11, 0));
}

// ---------------------------------------------------------------------------------------------
// Calendar-day caps on the 23-hour and 25-hour days.
// ---------------------------------------------------------------------------------------------

const ONE_EMAIL_PER_CALENDAR_DAY: &str = r#"
    [[caps]]
    name = "one email a day"
    channel = "email"
    limit = 1
    window = "calendar day"
"#;

/// Commits one email at `sent`, then checks a second one at `later`: it must be deferred until
/// `frees`, with a cap reason saying 1 of 1 used and freeing at `frees`.
#[track_caller]
fn assert_calendar_cap_frees_at(
    customer: &Customer,
    sent: DateTime<Utc>,
    later: DateTime<Utc>,
    frees: DateTime<Utc>,
) {
    let policy = compile(ONE_EMAIL_PER_CALENDAR_DAY);
    let ledger = MemoryLedger::new();
    let first = ledger
        .reserve(&policy, customer, EMAIL, IfBlocked::Drop, sent)
        .unwrap();
    assert!(first.verdict.is_allowed(), "{}", first.verdict);
    ledger.commit(first.reservation.as_ref().unwrap()).unwrap();

    let verdict = ledger.check(&policy, customer, EMAIL, later).unwrap();
    match &verdict {
        Verdict::Deferred { until, reasons } => {
            assert_eq!(*until, frees, "{verdict}");
            assert!(
                reasons.iter().any(|r| matches!(
                    r,
                    Reason::CapReached { count: 1, limit: 1, window: Window::Calendar(CalendarPeriod::Day), frees_at, .. }
                        if *frees_at == frees
                )),
                "{verdict}"
            );
        }
        other => panic!("expected deferred until {frees}, got {other}"),
    }
    // One second before the local midnight: still held. At the local midnight: free.
    let just_before = frees - chrono::Duration::seconds(1);
    assert!(!ledger
        .check(&policy, customer, EMAIL, just_before)
        .unwrap()
        .is_allowed());
    assert!(ledger
        .check(&policy, customer, EMAIL, frees)
        .unwrap()
        .is_allowed());
}

#[test]
fn a_calendar_day_cap_on_the_23_hour_day_frees_at_the_next_local_midnight() {
    let ny = customer_in(chrono_tz::America::New_York);
    // Sent at 00:00 EST on 2026-03-08 (05:00Z), the first second of the local day.
    // The next local midnight is 2026-03-09 00:00 EDT = 04:00Z: 23 hours later, not 24.
    // Checked at 23:30 EDT on 2026-03-08 = 03:30Z on 03-09.
    assert_calendar_cap_frees_at(
        &ny,
        utc(2026, 3, 8, 5, 0),
        utc(2026, 3, 9, 3, 30),
        utc(2026, 3, 9, 4, 0),
    );
    // Sent after the jump (12:00Z = 08:00 EDT): still the same local day, same end.
    assert_calendar_cap_frees_at(
        &ny,
        utc(2026, 3, 8, 12, 0),
        utc(2026, 3, 8, 20, 0),
        utc(2026, 3, 9, 4, 0),
    );
}

#[test]
fn a_calendar_day_cap_on_the_25_hour_day_frees_at_the_next_local_midnight() {
    let ny = customer_in(chrono_tz::America::New_York);
    // Sent at 00:00 EDT on 2026-11-01 (04:00Z). The next local midnight is 2026-11-02 00:00 EST
    // = 05:00Z: 25 hours later. At 04:30Z on 11-02 (23:30 EST, still 11-01 locally), a rolling
    // 24-hour window would already be free; the calendar day is not.
    assert_calendar_cap_frees_at(
        &ny,
        utc(2026, 11, 1, 4, 0),
        utc(2026, 11, 2, 4, 30),
        utc(2026, 11, 2, 5, 0),
    );
    // Sent in the second pass of the repeated hour (01:15 EST = 06:15Z): same day, same end.
    assert_calendar_cap_frees_at(
        &ny,
        utc(2026, 11, 1, 6, 15),
        utc(2026, 11, 1, 12, 0),
        utc(2026, 11, 2, 5, 0),
    );
}

#[test]
fn the_day_before_spring_forward_is_24_hours() {
    let ny = customer_in(chrono_tz::America::New_York);
    // Sent Saturday 2026-03-07 10:00 EST = 15:00Z. The next local midnight is Sunday 00:00 EST =
    // 2026-03-08 05:00Z.
    assert_calendar_cap_frees_at(
        &ny,
        utc(2026, 3, 7, 15, 0),
        utc(2026, 3, 8, 4, 59),
        utc(2026, 3, 8, 5, 0),
    );
}

// ---------------------------------------------------------------------------------------------
// Lord Howe Island: a 30-minute DST shift.
// ---------------------------------------------------------------------------------------------

#[test]
fn lord_howe_quiet_hours_ending_in_the_half_hour_gap_end_at_the_jump() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "22:00"
        end = "02:15"
    "#,
    );
    let lh = customer_in(chrono_tz::Australia::Lord_Howe);
    // 2026-10-04: 02:00 +10:30 (2026-10-03 15:30Z) jumps to 02:30 +11. 02:15 does not exist, so
    // the quiet hours end at the jump, 15:30Z.
    let jump = utc(2026, 10, 3, 15, 30);
    // 01:00 +10:30 = 14:30Z.
    assert_quiet_until(&policy, &lh, utc(2026, 10, 3, 14, 30), jump);
    // Saturday 22:00 +10:30 = 11:30Z: the quiet hours start.
    assert_quiet_until(&policy, &lh, utc(2026, 10, 3, 11, 30), jump);
    // 01:59 +10:30 = 15:29Z.
    assert_quiet_until(&policy, &lh, utc(2026, 10, 3, 15, 29), jump);
    // 02:30 +11 = 15:30Z: the first minute after the jump, not quiet.
    assert_allowed(&policy, &lh, jump);
    // And the next night, 22:00 +11 on 2026-10-04 = 11:00Z, is quiet until 02:15 +11 on 10-05
    // = 2026-10-04 15:15Z.
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 10, 4, 11, 0),
        utc(2026, 10, 4, 15, 15),
    );
}

#[test]
fn lord_howe_quiet_hours_ending_inside_the_repeated_half_hour_hold_both_passes() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "22:00"
        end = "01:45"
    "#,
    );
    let lh = customer_in(chrono_tz::Australia::Lord_Howe);
    // 2026-04-05: 02:00 +11 (2026-04-04 15:00Z) goes back to 01:30 +10:30.
    // First pass 01:30-01:59 +11 = 14:30-14:59Z; second pass 01:30-01:59 +10:30 = 15:00-15:29Z.
    // 01:00 +11 = 14:00Z: quiet until 01:45 +11 = 14:45Z (first pass).
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 14, 0),
        utc(2026, 4, 4, 14, 45),
    );
    // 01:50 +11 = 14:50Z: not quiet.
    assert_allowed(&policy, &lh, utc(2026, 4, 4, 14, 50));
    // 01:30 +10:30 = 15:00Z, second pass: quiet again until 01:45 +10:30 = 15:15Z.
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 15, 0),
        utc(2026, 4, 4, 15, 15),
    );
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 15, 14),
        utc(2026, 4, 4, 15, 15),
    );
    // 01:45 +10:30 = 15:15Z: not quiet.
    assert_allowed(&policy, &lh, utc(2026, 4, 4, 15, 15));
}

#[test]
fn lord_howe_quiet_hours_ending_after_the_fall_back_wait_for_the_real_end() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "22:00"
        end = "02:15"
    "#,
    );
    let lh = customer_in(chrono_tz::Australia::Lord_Howe);
    // 02:15 on 2026-04-05 happens once, after the repeated half hour: 02:15 +10:30 = 15:45Z.
    // Every minute from 01:00 +11 (14:00Z) to 02:14 +10:30 (15:44Z) is quiet.
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 14, 0),
        utc(2026, 4, 4, 15, 45),
    );
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 14, 59),
        utc(2026, 4, 4, 15, 45),
    );
    assert_quiet_until(
        &policy,
        &lh,
        utc(2026, 4, 4, 15, 30),
        utc(2026, 4, 4, 15, 45),
    );
    assert_allowed(&policy, &lh, utc(2026, 4, 4, 15, 45));
}

// ---------------------------------------------------------------------------------------------
// Auckland: "no marketing on Sundays", judged on the local weekday.
// ---------------------------------------------------------------------------------------------

/// The rule as a marketer writes it. `end = "24:00"` is documented ("`end` may be `"24:00"`").
const NO_SUNDAYS: &str = r#"
    [[quiet_hours]]
    name = "no marketing on Sundays"
    start = "00:00"
    end = "24:00"
    days = ["sun"]
"#;

/// The same hours written as two adjoining rules: the verdicts must not depend on how the
/// quiet hours are split, and the deferral must run through both.
const NO_SUNDAYS_IN_TWO_HALVES: &str = r#"
    [[quiet_hours]]
    name = "no marketing on Sunday mornings"
    start = "00:00"
    end = "12:00"
    days = ["sun"]

    [[quiet_hours]]
    name = "no marketing on Sunday afternoons"
    start = "12:00"
    end = "24:00"
    days = ["sun"]
"#;

/// Asserts that quiet hours defer the email at `at` until `until` (the reason may name the end
/// of one of several adjoining rules), and that it passes at `until`.
#[track_caller]
fn assert_held_until(
    policy: &CompiledPolicy,
    customer: &Customer,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let verdict = judge(policy, customer, at);
    match &verdict {
        Verdict::Deferred {
            until: got,
            reasons,
        } => {
            assert_eq!(
                *got, until,
                "at {at}: deferred to the wrong instant: {verdict}"
            );
            assert!(
                reasons
                    .iter()
                    .any(|r| matches!(r, Reason::QuietHours { .. })),
                "at {at}: expected a quiet-hours reason: {verdict}"
            );
        }
        other => panic!("at {at}: expected deferred until {until}, got {other}"),
    }
    let outcome = MemoryLedger::new()
        .reserve(
            policy,
            customer,
            EMAIL,
            IfBlocked::Defer { expires: None },
            at,
        )
        .unwrap();
    assert_eq!(
        outcome
            .reservation
            .expect("deferred and reserved")
            .send_at(),
        until
    );
    assert_allowed(policy, customer, until);
}

fn utc_saturday_that_is_local_sunday_is_held(policy: &CompiledPolicy) {
    let akl = customer_in(chrono_tz::Pacific::Auckland);
    // Winter (NZST, UTC+12). Saturday 2026-07-11 15:00Z = Sunday 2026-07-12 03:00 NZST.
    // Local Monday 00:00 NZST = Sunday 2026-07-12 12:00Z.
    assert_held_until(
        policy,
        &akl,
        utc(2026, 7, 11, 15, 0),
        utc(2026, 7, 12, 12, 0),
    );
    // Saturday 12:00Z = Sunday 00:00 NZST: the first Sunday minute.
    assert_held_until(
        policy,
        &akl,
        utc(2026, 7, 11, 12, 0),
        utc(2026, 7, 12, 12, 0),
    );
    // Saturday 11:59Z = Saturday 23:59 NZST: allowed.
    assert_allowed(policy, &akl, utc(2026, 7, 11, 11, 59));
    // Summer (NZDT, UTC+13). Saturday 2026-11-21 20:00Z = Sunday 2026-11-22 09:00 NZDT.
    // Local Monday 00:00 NZDT = Sunday 2026-11-22 11:00Z.
    assert_held_until(
        policy,
        &akl,
        utc(2026, 11, 21, 20, 0),
        utc(2026, 11, 22, 11, 0),
    );
}

fn utc_sunday_that_is_local_monday_is_allowed(policy: &CompiledPolicy) {
    let akl = customer_in(chrono_tz::Pacific::Auckland);
    // Sunday 2026-07-12 13:00Z = Monday 01:00 NZST.
    assert_allowed(policy, &akl, utc(2026, 7, 12, 13, 0));
    // Sunday 2026-07-12 12:00Z = Monday 00:00 NZST, the first allowed minute.
    assert_allowed(policy, &akl, utc(2026, 7, 12, 12, 0));
    // But Sunday 2026-07-12 05:00Z is Sunday 17:00 NZST: held until Monday 00:00 NZST (12:00Z).
    assert_held_until(
        policy,
        &akl,
        utc(2026, 7, 12, 5, 0),
        utc(2026, 7, 12, 12, 0),
    );
    // Summer: Sunday 2026-11-22 11:00Z = Monday 00:00 NZDT; 23:00Z = Monday 12:00 NZDT.
    assert_allowed(policy, &akl, utc(2026, 11, 22, 11, 0));
    assert_allowed(policy, &akl, utc(2026, 11, 22, 23, 0));
    // The same instants for a customer living in UTC: the verdicts flip.
    let in_utc = customer_in(chrono_tz::UTC);
    assert_allowed(policy, &in_utc, utc(2026, 7, 11, 15, 0)); // Saturday
    assert_held_until(
        policy,
        &in_utc,
        utc(2026, 7, 12, 13, 0),
        utc(2026, 7, 13, 0, 0),
    );
}

fn the_25_hour_auckland_sunday_is_held_until_local_monday(policy: &CompiledPolicy) {
    let akl = customer_in(chrono_tz::Pacific::Auckland);
    // Sunday 2026-04-05 begins 00:00 NZDT = 2026-04-04 11:00Z; clocks go back at 03:00 NZDT;
    // Monday 00:00 NZST = 2026-04-05 12:00Z (25 hours later).
    assert_allowed(policy, &akl, utc(2026, 4, 4, 10, 59));
    assert_held_until(policy, &akl, utc(2026, 4, 4, 11, 0), utc(2026, 4, 5, 12, 0));
    // 02:30 NZDT (13:30Z) and 02:30 NZST (14:30Z): both Sunday.
    assert_held_until(
        policy,
        &akl,
        utc(2026, 4, 4, 13, 30),
        utc(2026, 4, 5, 12, 0),
    );
    assert_held_until(
        policy,
        &akl,
        utc(2026, 4, 4, 14, 30),
        utc(2026, 4, 5, 12, 0),
    );
    // Sunday 23:30 NZST = 11:30Z: still Sunday.
    assert_held_until(
        policy,
        &akl,
        utc(2026, 4, 5, 11, 30),
        utc(2026, 4, 5, 12, 0),
    );
    assert_allowed(policy, &akl, utc(2026, 4, 5, 12, 0));
}

fn the_23_hour_auckland_sunday_is_held_until_local_monday(policy: &CompiledPolicy) {
    let akl = customer_in(chrono_tz::Pacific::Auckland);
    // Sunday 2026-09-27 begins 00:00 NZST = 2026-09-26 12:00Z; clocks jump at 02:00 NZST;
    // Monday 00:00 NZDT = 2026-09-27 11:00Z (23 hours later).
    assert_allowed(policy, &akl, utc(2026, 9, 26, 11, 59));
    assert_held_until(
        policy,
        &akl,
        utc(2026, 9, 26, 13, 0),
        utc(2026, 9, 27, 11, 0),
    );
    assert_held_until(
        policy,
        &akl,
        utc(2026, 9, 27, 10, 59),
        utc(2026, 9, 27, 11, 0),
    );
    assert_allowed(policy, &akl, utc(2026, 9, 27, 11, 0));
}

fn a_deferral_from_local_sunday_lands_on_local_monday_midnight(policy: &CompiledPolicy) {
    let akl = customer_in(chrono_tz::Pacific::Auckland);
    let ledger = MemoryLedger::new();
    // Saturday 2026-07-11 20:00Z = Sunday 08:00 NZST.
    let outcome = ledger
        .reserve(
            policy,
            &akl,
            EMAIL,
            IfBlocked::Defer { expires: None },
            utc(2026, 7, 11, 20, 0),
        )
        .unwrap();
    let reservation = outcome.reservation.expect("deferred and reserved");
    // Monday 2026-07-13 00:00 NZST = 2026-07-12 12:00Z.
    assert_eq!(reservation.send_at(), utc(2026, 7, 12, 12, 0));
    let local = reservation
        .send_at()
        .with_timezone(&chrono_tz::Pacific::Auckland);
    assert_eq!(local.format("%a %H:%M").to_string(), "Mon 00:00");
}

#[test]
fn the_whole_day_sunday_rule_compiles() {
    // The docs: "`end` may be `"24:00"`"; the issue: "no marketing on Sundays".
    Policy::from_toml_str(NO_SUNDAYS)
        .unwrap()
        .compile()
        .expect("a whole-day rule compiles");
}

#[test]
fn sunday_rule_holds_a_utc_saturday_that_is_sunday_in_auckland() {
    utc_saturday_that_is_local_sunday_is_held(&compile(NO_SUNDAYS));
}

#[test]
fn sunday_rule_in_two_halves_holds_a_utc_saturday_that_is_sunday_in_auckland() {
    utc_saturday_that_is_local_sunday_is_held(&compile(NO_SUNDAYS_IN_TWO_HALVES));
}

#[test]
fn sunday_rule_allows_a_utc_sunday_that_is_monday_in_auckland() {
    utc_sunday_that_is_local_monday_is_allowed(&compile(NO_SUNDAYS));
}

#[test]
fn sunday_rule_in_two_halves_allows_a_utc_sunday_that_is_monday_in_auckland() {
    utc_sunday_that_is_local_monday_is_allowed(&compile(NO_SUNDAYS_IN_TWO_HALVES));
}

#[test]
fn sunday_rule_on_the_25_hour_auckland_sunday_ends_at_local_monday() {
    the_25_hour_auckland_sunday_is_held_until_local_monday(&compile(NO_SUNDAYS));
}

#[test]
fn sunday_rule_in_two_halves_on_the_25_hour_auckland_sunday_ends_at_local_monday() {
    the_25_hour_auckland_sunday_is_held_until_local_monday(&compile(NO_SUNDAYS_IN_TWO_HALVES));
}

#[test]
fn sunday_rule_on_the_23_hour_auckland_sunday_ends_at_local_monday() {
    the_23_hour_auckland_sunday_is_held_until_local_monday(&compile(NO_SUNDAYS));
}

#[test]
fn sunday_rule_in_two_halves_on_the_23_hour_auckland_sunday_ends_at_local_monday() {
    the_23_hour_auckland_sunday_is_held_until_local_monday(&compile(NO_SUNDAYS_IN_TWO_HALVES));
}

#[test]
fn deferring_on_a_local_sunday_reserves_local_monday_midnight() {
    a_deferral_from_local_sunday_lands_on_local_monday_midnight(&compile(NO_SUNDAYS));
}

#[test]
fn deferring_on_a_local_sunday_under_the_two_halves_reserves_local_monday_midnight() {
    a_deferral_from_local_sunday_lands_on_local_monday_midnight(&compile(NO_SUNDAYS_IN_TWO_HALVES));
}

#[test]
fn the_sunday_rule_is_judged_in_the_policy_zone_when_the_customer_has_none() {
    let policy = compile(&format!(
        "time_zone = \"Pacific/Auckland\"\n{NO_SUNDAYS_IN_TWO_HALVES}"
    ));
    let no_zone = Customer::new(2).with_consent(Channel::Email, Consent::OptedIn);
    // Saturday 2026-07-11 15:00Z = Sunday 03:00 NZST in the policy's zone.
    assert_held_until(
        &policy,
        &no_zone,
        utc(2026, 7, 11, 15, 0),
        utc(2026, 7, 12, 12, 0),
    );
    assert_allowed(&policy, &no_zone, utc(2026, 7, 12, 13, 0));
    // A customer's own zone wins over the policy's: in UTC, Saturday 15:00Z is Saturday.
    let in_utc = no_zone.clone().with_time_zone(chrono_tz::UTC);
    assert_allowed(&policy, &in_utc, utc(2026, 7, 11, 15, 0));
}

// ---------------------------------------------------------------------------------------------
// Kolkata: UTC+05:30, no DST.
// ---------------------------------------------------------------------------------------------

#[test]
fn half_hour_offset_quiet_hours_start_and_end_on_the_half_hour_in_utc() {
    let policy = compile(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
    "#,
    );
    let kol = customer_in(chrono_tz::Asia::Kolkata);
    // 21:00 IST = 15:30Z; 08:00 IST = 02:30Z.
    assert_allowed(&policy, &kol, utc(2026, 6, 15, 15, 29)); // 20:59 IST
    assert_quiet_until(
        &policy,
        &kol,
        utc(2026, 6, 15, 15, 30),
        utc(2026, 6, 16, 2, 30),
    );
    assert_quiet_until(
        &policy,
        &kol,
        utc(2026, 6, 15, 16, 0),
        utc(2026, 6, 16, 2, 30),
    ); // 21:30
    assert_quiet_until(
        &policy,
        &kol,
        utc(2026, 6, 16, 2, 29),
        utc(2026, 6, 16, 2, 30),
    ); // 07:59
    assert_allowed(&policy, &kol, utc(2026, 6, 16, 2, 30));
}

#[test]
fn half_hour_offset_calendar_day_cap_frees_at_local_midnight() {
    let kol = customer_in(chrono_tz::Asia::Kolkata);
    // Sent 2026-06-15 10:00Z = 15:30 IST. Local midnight 2026-06-16 00:00 IST = 06-15 18:30Z.
    assert_calendar_cap_frees_at(
        &kol,
        utc(2026, 6, 15, 10, 0),
        utc(2026, 6, 15, 18, 0),
        utc(2026, 6, 15, 18, 30),
    );
    // Sent 2026-06-15 18:45Z = 06-16 00:15 IST: a new local day already, which ends at
    // 2026-06-17 00:00 IST = 06-16 18:30Z.
    assert_calendar_cap_frees_at(
        &kol,
        utc(2026, 6, 15, 18, 45),
        utc(2026, 6, 16, 12, 0),
        utc(2026, 6, 16, 18, 30),
    );
}

#[test]
fn a_calendar_week_in_kolkata_starts_on_local_monday() {
    let policy = compile(
        r#"
        [[caps]]
        limit = 1
        window = "calendar week"
    "#,
    );
    let kol = customer_in(chrono_tz::Asia::Kolkata);
    let ledger = MemoryLedger::new();
    // Sunday 2026-06-14 18:00Z = Sunday 23:30 IST: the last half hour of the ISO week that began
    // Monday 2026-06-08.
    let first = ledger
        .reserve(
            &policy,
            &kol,
            EMAIL,
            IfBlocked::Drop,
            utc(2026, 6, 14, 18, 0),
        )
        .unwrap();
    ledger.commit(&first.reservation.unwrap()).unwrap();
    // Sunday 18:29Z = 23:59 IST: same week, held until Monday 00:00 IST = Sunday 18:30Z.
    let verdict = ledger
        .check(&policy, &kol, EMAIL, utc(2026, 6, 14, 18, 29))
        .unwrap();
    assert_eq!(
        verdict.earliest_allowed(utc(2026, 6, 14, 18, 29)),
        Some(utc(2026, 6, 14, 18, 30))
    );
    // Sunday 18:30Z = Monday 00:00 IST: a new week, although it is still Sunday in UTC.
    assert!(ledger
        .check(&policy, &kol, EMAIL, utc(2026, 6, 14, 18, 30))
        .unwrap()
        .is_allowed());
}
