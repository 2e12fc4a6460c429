//! Bad input is an error that says where and what, never a silent default: malformed policies,
//! damaged snapshots, and throttle calls that cannot be judged.

use std::num::NonZeroU32;

use chrono::{DateTime, TimeZone, Utc};
use cornershop::{
    Attempt, CalendarPeriod, Channel, CompiledPolicy, Consent, ContactLedger, Customer, CustomerId,
    Error, FrequencyPreference, IfBlocked, InputError, LedgerSnapshot, MemoryLedger, MessageClass,
    Policy, PolicyError, RecordedContact, SnapshotError, Window,
};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Loads and compiles TOML, returning the error from whichever step fails.
fn toml_error(text: &str) -> PolicyError {
    match Policy::from_toml_str(text).and_then(|p| p.compile()) {
        Ok(_) => panic!("policy should be rejected:\n{text}"),
        Err(e) => e,
    }
}

fn json_error(text: &str) -> PolicyError {
    match Policy::from_json_str(text).and_then(|p| p.compile()) {
        Ok(_) => panic!("policy should be rejected:\n{text}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_mentions(err: &impl std::fmt::Display, parts: &[&str]) {
    let text = err.to_string();
    for part in parts {
        assert!(
            text.contains(part),
            "error {text:?} should mention {part:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

#[test]
fn a_zero_window_names_the_cap_and_says_it_must_be_positive() {
    let err = toml_error(
        r#"
        [[caps]]
        limit = 2
        window = "7d"

        [[caps]]
        channel = "sms"
        limit = 1
        window = "0s"
    "#,
    );
    assert_eq!(err.path(), "caps[1].window");
    assert_mentions(&err, &["caps[1].window: must be greater than zero"]);
}

#[test]
fn a_zero_spacing_gap_names_its_path() {
    let err = toml_error("[[spacing]]\nmin_gap = \"0m\"\n");
    assert_mentions(&err, &["spacing[0].min_gap", "must be greater than zero"]);
}

#[test]
fn an_hour_25_is_not_a_time_of_day() {
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "25:00"
        end = "08:00"
    "#,
    );
    assert_eq!(err.path(), "quiet_hours[0].start");
    assert_mentions(
        &err,
        &["quiet_hours[0].start: \"25:00\" is not a time of day"],
    );
}

#[test]
fn other_times_that_are_not_times_of_day_are_rejected() {
    for (start, end, path, bad) in [
        ("21:60", "08:00", "quiet_hours[0].start", "21:60"),
        ("21:00", "8am", "quiet_hours[0].end", "8am"),
        ("21:00", "24:01", "quiet_hours[0].end", "24:01"),
        ("-1:00", "08:00", "quiet_hours[0].start", "-1:00"),
    ] {
        let err = toml_error(&format!(
            "[[quiet_hours]]\nstart = \"{start}\"\nend = \"{end}\"\n"
        ));
        assert_mentions(&err, &[path, bad]);
    }
}

#[test]
fn an_unknown_channel_names_the_cap_it_is_in() {
    let err = toml_error(
        r#"
        [[caps]]
        limit = 2
        window = "7d"

        [[caps]]
        channel = "fax"
        limit = 1
        window = "1d"
    "#,
    );
    assert_eq!(err.path(), "caps[1].channel");
    assert_mentions(&err, &["caps[1].channel", "unknown channel \"fax\""]);
}

#[test]
fn an_unknown_channel_in_quiet_hours_or_spacing_is_rejected_too() {
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        channels = ["email", "fax"]
    "#,
    );
    assert_mentions(&err, &["quiet_hours[0].channels", "\"fax\""]);
    let err = toml_error("[[spacing]]\nchannel = \"pigeon\"\nmin_gap = \"1h\"\n");
    assert_mentions(&err, &["spacing[0].channel", "\"pigeon\""]);
}

#[test]
fn an_unknown_class_is_rejected_with_its_path() {
    let err = toml_error(
        r#"
        [[caps]]
        class = "promotional"
        limit = 1
        window = "1d"
    "#,
    );
    assert_eq!(err.path(), "caps[0].class");
    assert_mentions(&err, &["caps[0].class", "\"promotional\""]);
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "21:00"
        end = "08:00"
        classes = ["marketing", "spam"]
    "#,
    );
    assert_mentions(&err, &["quiet_hours[0].classes", "\"spam\""]);
}

#[test]
fn empty_quiet_hours_lists_are_rejected_rather_than_read_as_every_day() {
    // Omitted means every day or every channel; an empty list could be misread as "none".
    for (list, problem) in [
        (
            "days",
            "must name at least one weekday (omit it for every day)",
        ),
        (
            "channels",
            "must name at least one channel (omit it for every channel)",
        ),
    ] {
        let err = toml_error(&format!(
            "[[quiet_hours]]\nstart = \"21:00\"\nend = \"08:00\"\n{list} = []\n"
        ));
        assert_eq!(err.path(), format!("quiet_hours[0].{list}"));
        assert_eq!(err.to_string(), format!("quiet_hours[0].{list}: {problem}"));
    }
    // Omitted, they still mean every day on every channel.
    let text = "[[quiet_hours]]\nstart = \"21:00\"\nend = \"08:00\"\n";
    let policy = Policy::from_toml_str(text).expect("valid TOML");
    assert_eq!(policy.quiet_hours[0].days, None);
    policy.compile().expect("omitted lists are valid");
}

#[test]
fn a_limit_of_zero_is_rejected() {
    let err = toml_error(
        r#"
        [[caps]]
        limit = 0
        window = "1d"
    "#,
    );
    assert_eq!(err.path(), "caps[0].limit");
    assert_mentions(&err, &["caps[0].limit", "zero"]);
}

#[test]
fn a_limit_above_the_documented_maximum_is_rejected() {
    // CapSpec::limit: "The most contacts allowed per window (1 to 1000)".
    let err = toml_error("[[caps]]\nlimit = 1001\nwindow = \"1d\"\n");
    assert_mentions(&err, &["caps[0].limit", "1001"]);
    assert!(
        Policy::from_toml_str("[[caps]]\nlimit = 1000\nwindow = \"1d\"\n")
            .unwrap()
            .compile()
            .is_ok()
    );
}

#[test]
fn contradicting_caps_with_the_same_scope_and_window_name_both() {
    let err = toml_error(
        r#"
        [[caps]]
        channel = "email"
        limit = 2
        window = "7d"

        [[caps]]
        channel = "sms"
        limit = 2
        window = "7d"

        [[caps]]
        channel = "email"
        limit = 3
        window = "7d"
    "#,
    );
    assert_mentions(&err, &["caps[0]", "caps[2]", "contradict"]);
    assert!(!err.to_string().contains("caps[1]"), "{err}");
}

#[test]
fn the_same_window_written_two_ways_is_still_a_contradiction() {
    // "7d" and "168h" are the same rolling window.
    let err = toml_error(
        r#"
        [[caps]]
        channel = "email"
        limit = 2
        window = "7d"

        [[caps]]
        channel = "email"
        limit = 3
        window = "168h"
    "#,
    );
    assert_mentions(&err, &["caps[0]", "caps[1]"]);
}

#[test]
fn a_cap_repeated_word_for_word_is_rejected() {
    // compile(): "two rules with the same scope and window that contradict (or merely repeat)
    // each other".
    let err = toml_error(
        r#"
        [[caps]]
        limit = 5
        window = "30d"

        [[caps]]
        limit = 5
        window = "30d"
    "#,
    );
    assert_mentions(&err, &["caps[0]", "caps[1]"]);
}

#[test]
fn caps_that_differ_in_scope_or_window_are_not_duplicates() {
    let policy = Policy::from_toml_str(
        r#"
        [[caps]]
        channel = "email"
        limit = 2
        window = "7d"

        [[caps]]
        channel = "email"
        limit = 3
        window = "30d"

        [[caps]]
        channel = "email"
        topic = "newsletter"
        limit = 1
        window = "7d"

        [[caps]]
        class = "transactional"
        channel = "email"
        limit = 10
        window = "7d"

        [[caps]]
        channel = "email"
        limit = 1
        window = "calendar week"
    "#,
    )
    .unwrap();
    policy
        .compile()
        .expect("different scopes and windows may coexist");
}

#[test]
fn the_same_spacing_scope_twice_names_both() {
    let err = toml_error(
        r#"
        [[spacing]]
        channel = "sms"
        min_gap = "24h"

        [[spacing]]
        channel = "email"
        min_gap = "24h"

        [[spacing]]
        channel = "sms"
        min_gap = "48h"
    "#,
    );
    assert_mentions(&err, &["spacing[0]", "spacing[2]"]);
}

#[test]
fn quiet_hours_that_cover_the_whole_week_for_a_channel_are_rejected() {
    // Two rules that together leave no minute of the week for marketing SMS.
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "08:00"
        end = "20:00"
        channels = ["sms"]

        [[quiet_hours]]
        start = "20:00"
        end = "08:00"
    "#,
    );
    assert_mentions(&err, &["quiet_hours", "sms", "never"]);
    // Per-weekday rules covering all seven days.
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "00:00"
        end = "12:00"
        channels = ["push"]

        [[quiet_hours]]
        start = "12:00"
        end = "24:00"
        days = ["mon", "tue", "wed", "thu", "fri", "sat"]
        channels = ["push"]

        [[quiet_hours]]
        start = "12:00"
        end = "24:00"
        days = ["sun"]
        channels = ["push"]
    "#,
    );
    assert_mentions(&err, &["quiet_hours", "push", "never"]);
}

#[test]
fn a_single_all_day_quiet_rule_is_rejected_as_covering_the_week() {
    // start 00:00, end 24:00, every day: every minute of the week is quiet for SMS. The error
    // should say that it could never be sent, not that the window is empty.
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "00:00"
        end = "24:00"
        channels = ["sms"]
    "#,
    );
    assert_mentions(&err, &["quiet_hours", "sms", "never"]);
    assert!(!err.to_string().contains("empty"), "{err}");
}

#[test]
fn a_week_with_a_single_free_minute_is_accepted() {
    let policy = Policy::from_toml_str(
        r#"
        [[quiet_hours]]
        start = "08:01"
        end = "08:00"
        channels = ["sms"]
    "#,
    )
    .unwrap();
    policy.compile().expect("08:00-08:01 is free every day");
}

#[test]
fn an_empty_quiet_window_is_rejected() {
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "09:00"
        end = "09:00"
    "#,
    );
    assert_mentions(&err, &["quiet_hours[0]", "empty"]);
}

#[test]
fn an_unknown_weekday_is_rejected() {
    let err = toml_error(
        r#"
        [[quiet_hours]]
        start = "09:00"
        end = "17:00"
        days = ["sat", "funday"]
    "#,
    );
    assert_mentions(&err, &["quiet_hours[0].days", "\"funday\""]);
}

#[test]
fn a_bad_time_zone_name_is_rejected() {
    let err = toml_error("time_zone = \"Mars/Olympus_Mons\"\n");
    assert_eq!(err.path(), "time_zone");
    assert_mentions(&err, &["time_zone", "\"Mars/Olympus_Mons\""]);
    let err = json_error(r#"{"time_zone": "America/New York"}"#);
    assert_mentions(&err, &["time_zone", "\"America/New York\""]);
}

#[test]
fn a_window_that_is_not_a_duration_or_a_calendar_period_is_rejected() {
    let err = toml_error("[[caps]]\nlimit = 1\nwindow = \"weekly\"\n");
    assert_mentions(&err, &["caps[0].window", "\"weekly\""]);
    let err = toml_error("[[caps]]\nlimit = 1\nwindow = \"calendar year\"\n");
    assert_mentions(&err, &["caps[0].window", "year"]);
    let err = toml_error("[[caps]]\nlimit = 1\nwindow = \"1.5s\"\n");
    assert_mentions(&err, &["caps[0].window"]);
}

#[test]
fn a_typo_in_a_toml_field_name_gets_a_path() {
    let err = toml_error(
        r#"
        [[caps]]
        limit = 2
        window = "7d"

        [[caps]]
        limt = 2
        window = "7d"
    "#,
    );
    assert_mentions(&err, &["caps[1]", "limt"]);
    let err = toml_error("timezone = \"UTC\"\n");
    assert_mentions(&err, &["timezone"]);
    let err = toml_error("[[quiet_hours]]\nstart = \"22:00\"\nend = \"07:00\"\nday = [\"sun\"]\n");
    assert_mentions(&err, &["quiet_hours[0]", "day"]);
}

#[test]
fn a_typo_in_a_json_field_name_gets_a_path() {
    let err =
        json_error(r#"{"caps": [{"limit": 1, "window": "1d"}, {"limit": 1, "windw": "1d"}]}"#);
    assert_mentions(&err, &["caps[1]", "windw"]);
    let err = json_error(r#"{"spacing": [{"min_gap": "1h", "chanel": "sms"}]}"#);
    assert_mentions(&err, &["spacing[0]", "chanel"]);
}

#[test]
fn a_wrong_type_gets_the_field_path() {
    let err = toml_error(
        r#"
        [[caps]]
        limit = "two"
        window = "7d"
    "#,
    );
    assert_eq!(err.path(), "caps[0].limit");
    assert_mentions(&err, &["caps[0].limit"]);
    let err = json_error(r#"{"caps": [{"limit": "two", "window": "7d"}]}"#);
    assert_eq!(err.path(), "caps[0].limit");
    let err = json_error(r#"{"caps": [{"limit": -1, "window": "7d"}]}"#);
    assert_mentions(&err, &["caps[0].limit"]);
}

#[test]
fn a_missing_required_field_is_an_error() {
    let err = toml_error("[[caps]]\nlimit = 2\n");
    assert_mentions(&err, &["window"]);
    let err = json_error(r#"{"quiet_hours": [{"start": "22:00"}]}"#);
    assert_mentions(&err, &["end"]);
}

#[test]
fn text_that_is_not_toml_or_json_is_an_error() {
    assert!(Policy::from_toml_str("[[caps]\nlimit = 2").is_err());
    assert!(Policy::from_json_str("{\"caps\": [").is_err());
}

#[test]
fn an_empty_topic_in_a_policy_is_rejected() {
    let err = toml_error("[[caps]]\ntopic = \"\"\nlimit = 1\nwindow = \"7d\"\n");
    assert_mentions(&err, &["caps[0].topic"]);
}

#[test]
fn a_zero_preference_window_bound_is_rejected() {
    let err = toml_error("[preferences]\nmax_window = \"0s\"\n");
    assert_mentions(&err, &["preferences.max_window"]);
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

fn policy() -> CompiledPolicy {
    Policy::from_toml_str(
        r#"
        [[caps]]
        channel = "email"
        limit = 3
        window = "7d"

        [[caps]]
        limit = 5
        window = "30d"
    "#,
    )
    .unwrap()
    .compile()
    .unwrap()
}

fn opted_in(id: u64) -> Customer {
    Customer::new(id)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_consent(Channel::Sms, Consent::OptedIn)
}

/// A ledger with a few customers: committed, reserved and recorded contacts.
fn populated() -> (CompiledPolicy, MemoryLedger) {
    let policy = policy();
    let ledger = MemoryLedger::new();
    for id in 1..=3u64 {
        let customer = opted_in(id);
        let now = utc(2026, 5, 4, 10, 0) + chrono::Duration::hours(id as i64);
        let email = ledger
            .reserve(
                &policy,
                &customer,
                Attempt::marketing(Channel::Email),
                IfBlocked::Drop,
                now,
            )
            .unwrap()
            .reservation
            .unwrap();
        ledger.commit(&email).unwrap();
        let sms_time = now + chrono::Duration::minutes(30);
        ledger
            .reserve(
                &policy,
                &customer,
                Attempt::marketing(Channel::Sms),
                IfBlocked::Drop,
                sms_time,
            )
            .unwrap()
            .reservation
            .unwrap(); // left unsettled: reserved
        ledger
            .record(
                &policy,
                customer.id,
                RecordedContact {
                    at: now + chrono::Duration::hours(2),
                    channel: Channel::Email,
                    class: MessageClass::Marketing,
                    topic: Some("newsletter"),
                    key: "import-1",
                },
            )
            .unwrap();
    }
    (policy, ledger)
}

#[test]
fn a_truncated_json_snapshot_is_an_error() {
    let (_, ledger) = populated();
    let text = serde_json::to_string(&ledger.snapshot()).unwrap();
    for cut in [1, 5, text.len() / 2, text.len() - 1] {
        let truncated = &text[..text.len() - cut];
        let result = MemoryLedger::from_snapshot_json(truncated);
        assert!(
            matches!(result, Err(SnapshotError::Unreadable(_))),
            "cut {cut}: {result:?}"
        );
    }
    assert!(MemoryLedger::from_snapshot_json("").is_err());
    assert!(MemoryLedger::from_snapshot_json("{}").is_err());
}

/// Replaces the first number after `"field":` in `text` with `f(number)`.
fn alter_number(text: &str, field: &str, f: impl Fn(u64) -> u64) -> String {
    let key = format!("\"{field}\":");
    let start = text.find(&key).expect("field present") + key.len();
    let end = start
        + text[start..]
            .find(|c: char| !c.is_ascii_digit())
            .expect("number ends");
    let value: u64 = text[start..end].parse().unwrap();
    format!("{}{}{}", &text[..start], f(value), &text[end..])
}

#[test]
fn a_snapshot_with_one_altered_contact_time_fails_its_checksum() {
    let (_, ledger) = populated();
    let text = serde_json::to_string(&ledger.snapshot()).unwrap();
    assert!(MemoryLedger::from_snapshot_json(&text).is_ok());
    // Change one digit of the first contact's time (the last digit, so that it stays a valid
    // and plausible time, one second different).
    let altered = alter_number(&text, "at", |at| if at % 10 == 9 { at - 1 } else { at + 1 });
    assert_ne!(altered, text);
    let err =
        MemoryLedger::from_snapshot_json(&altered).expect_err("an altered snapshot is an error");
    assert!(
        matches!(err, SnapshotError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert_mentions(&err, &["checksum mismatch"]);
}

#[test]
fn a_snapshot_with_any_other_altered_value_fails_its_checksum() {
    let (_, ledger) = populated();
    let text = serde_json::to_string(&ledger.snapshot()).unwrap();
    for field in ["floor", "id", "topic"] {
        let altered = alter_number(&text, field, |v| v + 1);
        let result = MemoryLedger::from_snapshot_json(&altered);
        assert!(result.is_err(), "altering {field} went unnoticed");
    }
    // A contact's state flipped from reserved to committed.
    let altered = text.replacen("\"reserved\"", "\"committed\"", 1);
    assert_ne!(altered, text);
    assert!(MemoryLedger::from_snapshot_json(&altered).is_err());
    // A channel changed.
    let altered = text.replacen("\"sms\"", "\"push\"", 1);
    assert_ne!(altered, text);
    assert!(MemoryLedger::from_snapshot_json(&altered).is_err());
}

#[test]
fn a_snapshot_with_a_contact_removed_fails_its_checksum() {
    let (_, ledger) = populated();
    let mut snapshot: LedgerSnapshot = ledger.snapshot();
    let removed = snapshot.customers[1].contacts.pop();
    assert!(removed.is_some());
    let err = MemoryLedger::from_snapshot(snapshot).expect_err("a partial snapshot is an error");
    assert!(
        matches!(err, SnapshotError::ChecksumMismatch { .. }),
        "{err:?}"
    );

    let mut snapshot = ledger.snapshot();
    snapshot.customers.remove(0);
    assert!(MemoryLedger::from_snapshot(snapshot).is_err());
}

#[test]
fn a_snapshot_of_another_version_is_an_error() {
    let (_, ledger) = populated();
    let mut snapshot = ledger.snapshot();
    assert_eq!(snapshot.version, 2);
    snapshot.version = 3;
    let err = MemoryLedger::from_snapshot(snapshot).expect_err("unknown version");
    assert!(
        matches!(
            err,
            SnapshotError::UnsupportedVersion {
                found: 3,
                supported: 2
            }
        ),
        "{err:?}"
    );
    // The same through JSON text.
    let text = serde_json::to_string(&ledger.snapshot()).unwrap();
    let altered = alter_number(&text, "version", |_| 0);
    assert!(matches!(
        MemoryLedger::from_snapshot_json(&altered),
        Err(SnapshotError::UnsupportedVersion { found: 0, .. })
    ));
}

#[test]
fn a_snapshot_of_another_format_is_an_error() {
    let (_, ledger) = populated();
    let mut snapshot = ledger.snapshot();
    assert_eq!(snapshot.format, "cornershop-ledger");
    snapshot.format = "someone-elses-ledger".to_owned();
    assert!(MemoryLedger::from_snapshot(snapshot).is_err());
}

#[test]
fn a_snapshot_error_is_an_error_of_the_crate() {
    let err: Error = MemoryLedger::from_snapshot_json("not json")
        .unwrap_err()
        .into();
    assert!(matches!(err, Error::Snapshot(SnapshotError::Unreadable(_))));
}

// ---------------------------------------------------------------------------------------------
// Throttle calls that cannot be judged
// ---------------------------------------------------------------------------------------------

fn email_preference(limit: u32, window: Window) -> FrequencyPreference {
    FrequencyPreference {
        channel: Some(Channel::Email),
        limit: NonZeroU32::new(limit).unwrap(),
        window,
    }
}

#[test]
fn a_preference_looser_than_max_limit_is_judged_at_max_limit() {
    // preferences.max_limit defaults to 4: "at most 5 a month" is judged as "at most 4".
    let policy = Policy::from_toml_str("").unwrap().compile().unwrap();
    let ledger = MemoryLedger::new();
    let customer = opted_in(9)
        .with_frequency_preference(email_preference(5, Window::Calendar(CalendarPeriod::Month)));
    let email = Attempt::marketing(Channel::Email);
    for day in 1..=4 {
        let outcome = ledger
            .reserve(
                &policy,
                &customer,
                email,
                IfBlocked::Drop,
                utc(2026, 5, day, 12, 0),
            )
            .unwrap();
        assert!(outcome.reservation.is_some(), "contact {day} of 4");
    }
    let fifth = ledger
        .check(&policy, &customer, email, utc(2026, 5, 5, 12, 0))
        .unwrap();
    assert!(!fifth.is_allowed(), "{fifth}");
    assert_mentions(&fifth, &["frequency_preferences[0]", "4 of 4"]);
}

#[test]
fn a_preference_under_a_policy_that_takes_none_is_an_input_error() {
    let policy = Policy::from_toml_str("preferences.max_limit = 0")
        .unwrap()
        .compile()
        .unwrap();
    let ledger = MemoryLedger::new();
    let customer = opted_in(9)
        .with_frequency_preference(email_preference(1, Window::Calendar(CalendarPeriod::Month)));
    let now = utc(2026, 5, 10, 12, 0);
    let email = Attempt::marketing(Channel::Email);
    let err = ledger.check(&policy, &customer, email, now).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Input(InputError::Preference {
                customer: CustomerId(9),
                index: 0,
                ..
            })
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["frequency_preferences[0]", "max_limit = 0"]);
    let before = ledger.snapshot();
    assert!(ledger
        .reserve(
            &policy,
            &customer,
            email,
            IfBlocked::Defer { expires: None },
            now
        )
        .is_err());
    assert_eq!(ledger.snapshot(), before, "a rejected call changes nothing");
    let service = Attempt::service(Channel::Email);
    assert!(ledger
        .check(&policy, &customer, service, now)
        .unwrap()
        .is_allowed());
}

#[test]
fn a_preference_with_a_window_beyond_max_window_is_an_input_error() {
    let policy = policy(); // max_window defaults to "32d"
    let ledger = MemoryLedger::new();
    let too_long = Window::Rolling {
        seconds: NonZeroU32::new(60 * 86_400).unwrap(),
    };
    let customer = opted_in(4)
        .with_frequency_preference(email_preference(1, Window::Calendar(CalendarPeriod::Week)))
        .with_frequency_preference(email_preference(1, too_long));
    let err = ledger
        .check(
            &policy,
            &customer,
            Attempt::marketing(Channel::Email),
            utc(2026, 5, 10, 12, 0),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Input(InputError::Preference { index: 1, .. })),
        "{err:?}"
    );
    assert_mentions(&err, &["frequency_preferences[1]"]);
}

#[test]
fn a_preference_within_the_bounds_is_accepted() {
    let policy = policy();
    let ledger = MemoryLedger::new();
    let customer = opted_in(4)
        .with_frequency_preference(email_preference(4, Window::Calendar(CalendarPeriod::Month)));
    assert!(ledger
        .check(
            &policy,
            &customer,
            Attempt::marketing(Channel::Email),
            utc(2026, 5, 10, 12, 0)
        )
        .unwrap()
        .is_allowed());
}

#[test]
fn a_time_out_of_range_is_an_error_and_changes_nothing() {
    let (policy, ledger) = populated();
    let before = ledger.snapshot();
    let customer = opted_in(1);
    let email = Attempt::marketing(Channel::Email);
    let too_early = utc(1969, 12, 31, 23, 59);
    let too_late = utc(2200, 1, 1, 0, 0);
    for at in [too_early, too_late] {
        let err = ledger.check(&policy, &customer, email, at).unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::TimeOutOfRange(_))),
            "{at}: {err:?}"
        );
        let err = ledger
            .reserve(
                &policy,
                &customer,
                email,
                IfBlocked::Defer { expires: None },
                at,
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::TimeOutOfRange(_))),
            "{at}: {err:?}"
        );
        assert!(ledger
            .earliest_allowed(&policy, &customer, email, at)
            .is_err());
        let err = ledger
            .record(
                &policy,
                customer.id,
                RecordedContact {
                    at,
                    channel: Channel::Email,
                    class: MessageClass::Marketing,
                    topic: None,
                    key: "out-of-range",
                },
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::TimeOutOfRange(_))),
            "{at}: {err:?}"
        );
        assert_mentions(&err, &["outside the supported range"]);
    }
    assert_eq!(ledger.snapshot(), before, "rejected calls change nothing");
    // And the ledger still judges ordinary times as before.
    assert!(ledger
        .check(&policy, &opted_in(7), email, utc(2026, 5, 10, 12, 0))
        .unwrap()
        .is_allowed());
}

#[test]
fn an_empty_or_overlong_topic_is_an_error() {
    let (policy, ledger) = populated();
    let before = ledger.snapshot();
    let customer = opted_in(1);
    let now = utc(2026, 5, 10, 12, 0);
    let long = "x".repeat(65);
    for topic in ["", long.as_str()] {
        let attempt = Attempt::marketing(Channel::Email).with_topic(topic);
        let err = ledger.check(&policy, &customer, attempt, now).unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::BadTopic(_))),
            "{topic:?}: {err:?}"
        );
        let err = ledger
            .reserve(&policy, &customer, attempt, IfBlocked::Drop, now)
            .unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::BadTopic(_))),
            "{topic:?}: {err:?}"
        );
    }
    assert_eq!(ledger.snapshot(), before);
    // 64 characters is fine.
    let ok = "y".repeat(64);
    assert!(ledger
        .check(
            &policy,
            &customer,
            Attempt::marketing(Channel::Email).with_topic(&ok),
            now
        )
        .is_ok());
}

#[test]
fn recording_an_empty_or_overlong_topic_is_an_error() {
    // InputError::BadTopic: "A topic name that is empty or too long"; Attempt::topic is "1 to 64
    // characters". A recorded contact's topic is the same kind of name, so the same bounds apply:
    // otherwise an import can store a topic no attempt or rule can ever name.
    let (policy, ledger) = populated();
    let before = ledger.snapshot();
    let now = utc(2026, 5, 10, 12, 0);
    let long = "x".repeat(65);
    for (i, topic) in ["", long.as_str()].into_iter().enumerate() {
        let key = format!("bad-topic-{i}");
        let result = ledger.record(
            &policy,
            opted_in(1).id,
            RecordedContact {
                at: now,
                channel: Channel::Email,
                class: MessageClass::Marketing,
                topic: Some(topic),
                key: &key,
            },
        );
        assert!(
            matches!(result, Err(Error::Input(InputError::BadTopic(_)))),
            "topic {topic:?}: {result:?}"
        );
    }
    assert_eq!(ledger.snapshot(), before);
}

#[test]
fn settling_a_reservation_the_ledger_never_made_changes_nothing() {
    let (policy, ledger) = populated();
    let other = MemoryLedger::new();
    let reservation = other
        .reserve(
            &policy,
            &opted_in(42),
            Attempt::marketing(Channel::Email),
            IfBlocked::Drop,
            utc(2026, 5, 10, 12, 0),
        )
        .unwrap()
        .reservation
        .unwrap();
    let before = ledger.snapshot();
    // ContactLedger::commit / release: `false` when the ledger does not hold it.
    assert_eq!(ledger.commit(&reservation), Ok(false));
    assert_eq!(ledger.release(&reservation), Ok(false));
    assert_eq!(ledger.snapshot(), before);
}

/// Offers and eligibility rules: every malformed one names its path and the problem.
#[test]
fn malformed_offers_and_eligibility_rules_name_their_path() {
    let cases: &[(&str, &str)] = &[
        (
            "[attributes]\nage = \"number\"\n[[offers]]\nid = \"a\"\neligibility = { all = [ { attribute = \"age\", greater_than = 3 } ] }",
            "offers[0].eligibility.all[0].greater_than: unknown field `greater_than`",
        ),
        (
            "[attributes]\nage = \"number\"\n[[offers]]\nid = \"a\"\neligibility = { attribute = \"age\", equals = \"old\" }",
            "offers[0].eligibility.equals: attribute \"age\" is declared number, so \"old\" does not compare with it",
        ),
        (
            "[attributes]\ntier = \"text\"\n[[offers]]\nid = \"a\"\neligibility = { attribute = \"tier\", at_least = \"gold\" }",
            "offers[0].eligibility.at_least: attribute \"tier\" is declared text; ranges need a number or a date",
        ),
        (
            "[attributes]\nage = \"number\"\n[[offers]]\nid = \"a\"\neligibility = { attribute = \"age\", at_least = 30, at_most = 10 }",
            "offers[0].eligibility.at_most: is below at_least: the rule could never hold",
        ),
        (
            "[attributes]\nsince = \"date\"\n[[offers]]\nid = \"a\"\neligibility = { not = { attribute = \"since\", at_least = \"2026-02-01\", at_most = \"2026-01-31\" } }",
            "offers[0].eligibility.not.at_most: is below at_least: the rule could never hold",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { lifetime_value_at_least = 500, lifetime_value_at_most = 100 }",
            "offers[0].eligibility.lifetime_value_at_most: 100 is below lifetime_value_at_least (500): the rule could never hold",
        ),
        (
            "[attributes]\nsince = \"date\"\n[[offers]]\nid = \"a\"\neligibility = { attribute = \"since\", at_most = \"2026-13-01\" }",
            "offers[0].eligibility.at_most: \"2026-13-01\" is not a date (YYYY-MM-DD)",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { attribute = \"tier\", equals = \"gold\" }",
            "offers[0].eligibility.attribute: \"tier\" is not declared in [attributes]",
        ),
        (
            "[attributes]\nage = \"integer\"\n",
            "attributes.age: unknown variant `integer`",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { bought = \"x\" }",
            "offers[0].eligibility.within: bought needs a duration such as \"30d\"",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { bought = \"x\", within = \"3d\", segment = \"y\" }",
            "offers[0].eligibility: mixes bought and segment in one condition",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { segment = \"y\", within_days = 3 }",
            "offers[0].eligibility.within_days: does not go with segment",
        ),
        (
            "[[offers]]\nid = \"a\"\neligibility = { any = [] }",
            "offers[0].eligibility.any: must list at least one condition",
        ),
        (
            "[[offers]]\nid = \"a\"\nchannels = [\"fax\"]",
            "offers[0].channels[0]: unknown channel \"fax\"",
        ),
        (
            "[[offers]]\nid = \"a\"\n[[offers]]\nid = \"a\"",
            "offers[1].id: \"a\" is already the id of offers[0]",
        ),
        (
            "[[offers]]\nid = \"a\"\ncap = { limit = 0, window = \"30d\" }",
            "offers[0].cap.limit: must be greater than zero",
        ),
        (
            "[[offers]]\nid = \"a\"\nvalid_from = 2026-12-01T00:00:00Z\nvalid_until = 2026-11-01T00:00:00Z",
            "offers[0].valid_until: is before valid_from",
        ),
        (
            "[selection]\nmax_per_category = 0",
            "selection.max_per_category: must be at least 1",
        ),
        (
            "[scoring]\nhalf_life = \"0s\"",
            "scoring.half_life:",
        ),
    ];
    for (text, expected) in cases {
        let err = toml_error(text);
        assert!(
            err.to_string().starts_with(expected),
            "policy:\n{text}\ngave: {err}\nexpected it to start with: {expected}"
        );
    }
}

#[test]
fn offer_validity_reads_toml_date_times_and_strings_and_rejects_other_text() {
    for written in ["2026-12-01T00:00:00Z", "\"2026-12-01T00:00:00+01:00\""] {
        let text = format!("[[offers]]\nid = \"a\"\nvalid_from = {written}");
        let policy = Policy::from_toml_str(&text).expect("a valid time");
        assert!(policy.offers[0].valid_from.is_some(), "{written}");
    }
    assert_mentions(
        &toml_error("[[offers]]\nid = \"a\"\nvalid_until = \"next friday\""),
        &["offers[0].valid_until", "not an RFC 3339 date and time"],
    );
}
