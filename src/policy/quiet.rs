//! Quiet hours: a bitmap of the local minutes of the week in which a rule holds contacts back.

use chrono::{Duration, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;

use crate::local::{self, MINUTES_PER_WEEK};
use crate::time::Stamp;

const WORDS: usize = MINUTES_PER_WEEK.div_ceil(64);

/// One bit per local minute of the week, Monday 00:00 first.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WeekMask([u64; WORDS]);

impl std::fmt::Debug for WeekMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeekMask({} quiet minutes)", self.count())
    }
}

impl WeekMask {
    pub(crate) fn empty() -> Self {
        WeekMask([0; WORDS])
    }

    /// The mask of a daily window `start..end` (wall-clock minutes of the day, `end` may be 1440
    /// for midnight; `end <= start` runs past midnight) that starts on each of `days`.
    pub(crate) fn window(start: u32, end: u32, days: &[Weekday]) -> Self {
        let mut mask = WeekMask::empty();
        let length = if end > start {
            end - start
        } else {
            1440 - start + end
        };
        for day in days {
            let first = day.num_days_from_monday() as usize * 1440 + start as usize;
            for minute in first..first + length as usize {
                mask.set(minute % MINUTES_PER_WEEK);
            }
        }
        mask
    }

    fn set(&mut self, minute: usize) {
        self.0[minute / 64] |= 1 << (minute % 64);
    }

    /// Whether `minute` (of the week) is quiet. **O(1)**.
    pub(crate) fn is_quiet(&self, minute: usize) -> bool {
        self.0[minute / 64] & (1 << (minute % 64)) != 0
    }

    pub(crate) fn union_with(&mut self, other: &WeekMask) {
        for (word, other) in self.0.iter_mut().zip(other.0.iter()) {
            *word |= other;
        }
    }

    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether every minute of the week is quiet.
    pub(crate) fn is_full(&self) -> bool {
        self.count() == MINUTES_PER_WEEK
    }

    /// Whether the customer's wall clock at `at` shows a quiet minute.
    pub(crate) fn is_quiet_at(&self, zone: Tz, at: Stamp) -> bool {
        self.is_quiet(local::minute_of_week(local::local(zone, at)))
    }

    /// The first instant at or after `at` that is not quiet on the customer's wall clock.
    ///
    /// Walks forward over quiet minutes, turns the first free wall-clock minute into an instant
    /// (DST gaps and folds handled by [`local::resolve`]) and checks that instant again, since a
    /// fold can bring a quiet minute back. Needs a mask that is not [full](WeekMask::is_full).
    pub(crate) fn next_free(&self, zone: Tz, at: Stamp) -> Stamp {
        let mut at = at;
        // Each round lands after the quiet span it found; folds repeat at most one hour, so a
        // handful of rounds always suffices for a mask with a free minute.
        for _ in 0..8 {
            let wall = local::local(zone, at);
            let minute = local::minute_of_week(wall);
            if !self.is_quiet(minute) {
                return at;
            }
            let quiet_for = (1..=MINUTES_PER_WEEK)
                .find(|step| !self.is_quiet((minute + step) % MINUTES_PER_WEEK))
                .unwrap_or(MINUTES_PER_WEEK);
            let free_wall = wall
                .with_second(0)
                .and_then(|w| w.with_nanosecond(0))
                .unwrap_or(wall)
                + Duration::minutes(quiet_for as i64);
            let next = local::resolve(zone, free_wall, at);
            at = if next > at { next } else { at.plus(60) };
        }
        at
    }
}

/// Parses `"HH:MM"` into minutes after midnight; `"24:00"` only where `allow_midnight_end`.
pub(crate) fn parse_time_of_day(text: &str, allow_midnight_end: bool) -> Result<u32, String> {
    if allow_midnight_end && text == "24:00" {
        return Ok(1440);
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map(|t| t.hour() * 60 + t.minute())
        .map_err(|_| format!("{text:?} is not a time of day (expected \"HH:MM\", 00:00 to 23:59)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn stamp(y: i32, m: u32, d: u32, h: u32, min: u32) -> Stamp {
        Stamp::from_utc(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()).unwrap()
    }

    const ALL_DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    #[test]
    fn overnight_window_spills_into_the_next_day_and_wraps_the_week() {
        let mask = WeekMask::window(21 * 60, 8 * 60, &[Weekday::Sun]);
        assert!(mask.is_quiet(6 * 1440 + 21 * 60)); // Sunday 21:00
        assert!(mask.is_quiet(7 * 60 + 59)); // Monday 07:59
        assert!(!mask.is_quiet(8 * 60)); // Monday 08:00
        assert!(!mask.is_quiet(6 * 1440 + 20 * 60 + 59));
    }

    #[test]
    fn times_of_day_are_validated() {
        assert_eq!(parse_time_of_day("21:30", false), Ok(21 * 60 + 30));
        assert_eq!(parse_time_of_day("24:00", true), Ok(1440));
        assert!(parse_time_of_day("24:00", false).is_err());
        let err = parse_time_of_day("25:00", true).unwrap_err();
        assert!(err.starts_with("\"25:00\" is not a time of day"), "{err}");
    }

    #[test]
    fn quiet_until_a_wall_time_inside_the_spring_gap_ends_when_the_gap_ends() {
        // Quiet 22:00 to 02:30 every night; on 2026-03-08 New York has no 02:30.
        let mask = WeekMask::window(22 * 60, 2 * 60 + 30, &ALL_DAYS);
        let ny = chrono_tz::America::New_York;
        let at = stamp(2026, 3, 8, 5, 0); // 00:00 EST
        assert_eq!(mask.next_free(ny, at), stamp(2026, 3, 8, 7, 0)); // 03:00 EDT
    }

    #[test]
    fn the_repeated_hour_of_a_fold_is_quiet_again() {
        // Quiet 01:00 to 01:30 every night; on 2026-11-01 New York passes 01:00-01:30 twice.
        let mask = WeekMask::window(60, 90, &ALL_DAYS);
        let ny = chrono_tz::America::New_York;
        let second_pass = stamp(2026, 11, 1, 6, 10); // 01:10 EST
        assert!(mask.is_quiet_at(ny, second_pass));
        assert_eq!(mask.next_free(ny, second_pass), stamp(2026, 11, 1, 6, 30));
    }
}
