//! Wall-clock time in the customer's zone: the one place that turns local times into instants,
//! so that DST gaps and folds are handled the same way by quiet hours and calendar caps.

use std::cell::Cell;

use chrono::{Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::time::Stamp;

/// Minutes in a week; quiet hours are judged on this grid of local wall-clock minutes.
pub(crate) const MINUTES_PER_WEEK: usize = 7 * 24 * 60;

/// The customer's wall-clock time at `at`.
pub(crate) fn local(zone: Tz, at: Stamp) -> NaiveDateTime {
    if let Some((key, wall)) = LAST_LOCAL.get() {
        if key == (zone, at) {
            return wall;
        }
    }
    let wall = zone
        .from_utc_datetime(&at.to_utc().naive_utc())
        .naive_local();
    LAST_LOCAL.set(Some(((zone, at), wall)));
    wall
}

thread_local! {
    /// The last wall-clock time worked out on this thread. One judgment asks for the same
    /// instant's local time for quiet hours and for each calendar cap, and a time-zone look-up
    /// costs far more than the rest of a judgment.
    static LAST_LOCAL: Cell<Option<((Tz, Stamp), NaiveDateTime)>> = const { Cell::new(None) };
}

/// The local minute of the week (Monday 00:00 is 0) of a wall-clock time.
pub(crate) fn minute_of_week(wall: NaiveDateTime) -> usize {
    let day = wall.weekday().num_days_from_monday() as usize;
    day * 1440 + wall.hour() as usize * 60 + wall.minute() as usize
}

/// The first instant at or after `not_before` whose wall-clock time in `zone` is `wall`, or, when
/// `wall` does not exist that day (a DST gap), the first instant after the gap.
///
/// In a fold (the hour that repeats when clocks go back) the earlier instant is chosen unless it
/// is before `not_before`.
pub(crate) fn resolve(zone: Tz, wall: NaiveDateTime, not_before: Stamp) -> Stamp {
    let mut wall = wall;
    // A gap is at most a few hours long and starts and ends on whole minutes; a day's worth of
    // minutes bounds the walk even for zones that skipped a whole calendar day.
    for _ in 0..=(26 * 60) {
        match zone.from_local_datetime(&wall) {
            LocalResult::Single(t) => return Stamp::saturating_from_secs(t.timestamp()),
            LocalResult::Ambiguous(early, late) => {
                let early = Stamp::saturating_from_secs(early.timestamp());
                return if early >= not_before {
                    early
                } else {
                    Stamp::saturating_from_secs(late.timestamp())
                };
            }
            LocalResult::None => wall += Duration::minutes(1),
        }
    }
    // No zone in the database has a gap longer than a day; treat the wall time as UTC.
    Stamp::saturating_from_secs(wall.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};

    fn wall(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    fn stamp(y: i32, m: u32, d: u32, h: u32, min: u32) -> Stamp {
        Stamp::from_utc(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()).unwrap()
    }

    #[test]
    fn a_wall_time_in_the_spring_gap_resolves_to_the_end_of_the_gap() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 02:30 does not exist in New York; clocks jump from 02:00 EST to 03:00 EDT.
        let got = resolve(ny, wall(2026, 3, 8, 2, 30), Stamp(0));
        assert_eq!(got, stamp(2026, 3, 8, 7, 0));
    }

    #[test]
    fn a_wall_time_in_the_fold_prefers_the_first_pass_unless_it_is_past() {
        let ny = chrono_tz::America::New_York;
        // 2026-11-01 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST).
        let first = resolve(ny, wall(2026, 11, 1, 1, 30), Stamp(0));
        assert_eq!(first, stamp(2026, 11, 1, 5, 30));
        let second = resolve(ny, wall(2026, 11, 1, 1, 30), stamp(2026, 11, 1, 6, 0));
        assert_eq!(second, stamp(2026, 11, 1, 6, 30));
    }

    #[test]
    fn minute_of_week_counts_from_monday_midnight() {
        assert_eq!(minute_of_week(wall(2026, 11, 23, 0, 0)), 0); // a Monday
        assert_eq!(
            minute_of_week(wall(2026, 11, 29, 23, 59)),
            MINUTES_PER_WEEK - 1
        );
    }
}
