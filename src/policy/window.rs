//! The span a cap counts over: a rolling window or a calendar period in the customer's zone.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::local;
use crate::time::Stamp;

/// The longest window a cap may use: a year and a day.
pub(crate) const MAX_WINDOW_SECS: u32 = 366 * 86_400;

/// A calendar period, counted in the customer's own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CalendarPeriod {
    /// From local midnight to local midnight.
    Day,
    /// From Monday 00:00 to the next Monday 00:00, local time (ISO weeks).
    Week,
    /// From the first of the month 00:00 to the first of the next month, local time.
    Month,
}

impl CalendarPeriod {
    /// At least as long as any such period lasts on a wall clock: a DST change adds an hour in
    /// most zones and two in a few (Antarctica/Troll); three hours of margin covers them all.
    pub(crate) const fn max_secs(self) -> u32 {
        const MARGIN: u32 = 3 * 3600;
        match self {
            CalendarPeriod::Day => 86_400 + MARGIN,
            CalendarPeriod::Week => 7 * 86_400 + MARGIN,
            CalendarPeriod::Month => 31 * 86_400 + MARGIN,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            CalendarPeriod::Day => "day",
            CalendarPeriod::Week => "week",
            CalendarPeriod::Month => "month",
        }
    }

    /// The local date on which the period containing `date` starts.
    fn first_day(self, date: NaiveDate) -> NaiveDate {
        match self {
            CalendarPeriod::Day => date,
            CalendarPeriod::Week => {
                date - Days::new(u64::from(date.weekday().num_days_from_monday()))
            }
            // Day 1 of any month exists.
            CalendarPeriod::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The local date on which the period after the one starting at `first` starts.
    fn next_first_day(self, first: NaiveDate) -> NaiveDate {
        match self {
            CalendarPeriod::Day => first + Days::new(1),
            CalendarPeriod::Week => first + Days::new(7),
            CalendarPeriod::Month => first + Months::new(1),
        }
    }

    /// The instants at which the period containing `at` starts and the next one starts.
    pub(crate) fn bounds(self, zone: Tz, at: Stamp) -> (Stamp, Stamp) {
        let first = self.first_day(local::local(zone, at).date());
        let key = (zone, self, first);
        if let Some((cached, bounds)) = LAST_BOUNDS.get() {
            if cached == key {
                return bounds;
            }
        }
        let next = self.next_first_day(first);
        let start = local::resolve(zone, first.and_time(chrono::NaiveTime::MIN), Stamp(0));
        let end = local::resolve(zone, next.and_time(chrono::NaiveTime::MIN), Stamp(0));
        LAST_BOUNDS.set(Some((key, (start, end))));
        (start, end)
    }
}

thread_local! {
    /// The last period's bounds worked out on this thread, by zone, period and local first day.
    /// A calendar cap is judged again and again within one period, and turning the period's two
    /// local midnights into instants takes two time-zone look-ups; with the memo, a judgment
    /// within the same period needs only the one that finds the local day.
    static LAST_BOUNDS: Cell<Option<BoundsMemo>> = const { Cell::new(None) };
}

/// `(zone, period, first local day)` and the bounds it gives.
type BoundsMemo = ((Tz, CalendarPeriod, NaiveDate), (Stamp, Stamp));

/// How a cap counts: "at most N per rolling 7 days" or "at most N per calendar week".
///
/// Written in policies as a duration (`"7d"`, `"24h"`, `"90m"`: a rolling window, any span of
/// that length) or as `"calendar day"`, `"calendar week"`, `"calendar month"` (periods that start
/// at local midnight in the customer's zone; weeks start on Monday).
///
/// ```
/// use cornershop::{CalendarPeriod, Window};
///
/// assert_eq!("7d".parse::<Window>()?, Window::Rolling { seconds: std::num::NonZeroU32::new(7 * 86_400).unwrap() });
/// assert_eq!("calendar week".parse::<Window>()?, Window::Calendar(CalendarPeriod::Week));
/// assert!("0s".parse::<Window>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum Window {
    /// Any span of this many seconds.
    Rolling {
        /// The window's length in seconds.
        seconds: NonZeroU32,
    },
    /// Calendar periods in the customer's time zone.
    Calendar(CalendarPeriod),
}

impl Window {
    /// How far back a contact can still count under this window, in seconds.
    pub(crate) fn reach_secs(self) -> u32 {
        match self {
            Window::Rolling { seconds } => seconds.get(),
            Window::Calendar(period) => period.max_secs(),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Rolling { seconds } => write!(f, "{}", Span(seconds.get())),
            Window::Calendar(period) => write!(f, "calendar {}", period.as_str()),
        }
    }
}

/// A span of seconds, shown in whole days, hours, minutes and seconds ("60 days",
/// "1 day 12 hours"), the way a marketer reads it and the duration parser reads it back.
/// (humantime's own format counts in 30.44-day months: "1month 29days 13h 26m 24s" for 60 days.)
struct Span(u32);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0;
        let parts = [
            (seconds / 86_400, "day"),
            (seconds / 3_600 % 24, "hour"),
            (seconds / 60 % 60, "minute"),
            (seconds % 60, "second"),
        ];
        let mut separator = "";
        for (count, unit) in parts.into_iter().filter(|(count, _)| *count > 0) {
            let plural = if count == 1 { "" } else { "s" };
            write!(f, "{separator}{count} {unit}{plural}")?;
            separator = " ";
        }
        Ok(())
    }
}

/// Parses a positive duration of whole seconds, at most `max` seconds long.
pub(crate) fn parse_duration(text: &str, max: u32) -> Result<NonZeroU32, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like \"7d\", \"24h\" or \"90m\" ({e})"))?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text:?} must be a whole number of seconds"));
    }
    let secs = u32::try_from(duration.as_secs()).unwrap_or(u32::MAX);
    if secs > max {
        return Err(format!(
            "{text:?} is longer than the longest supported ({})",
            Span(max)
        ));
    }
    NonZeroU32::new(secs).ok_or_else(|| "must be greater than zero".to_owned())
}

/// The error of parsing a [`Window`]: what was wrong with the text.
///
/// ```
/// let err = "calendar year".parse::<cornershop::Window>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown calendar period \"year\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct ParseWindowError {
    problem: String,
}

impl FromStr for Window {
    type Err = ParseWindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(period) = text.trim().strip_prefix("calendar") {
            return match period.trim() {
                "day" => Ok(Window::Calendar(CalendarPeriod::Day)),
                "week" => Ok(Window::Calendar(CalendarPeriod::Week)),
                "month" => Ok(Window::Calendar(CalendarPeriod::Month)),
                other => Err(ParseWindowError {
                    problem: format!(
                        "unknown calendar period {other:?} (expected \"calendar day\", \"calendar week\" or \"calendar month\")"
                    ),
                }),
            };
        }
        parse_duration(text, MAX_WINDOW_SECS)
            .map(|seconds| Window::Rolling { seconds })
            .map_err(|problem| ParseWindowError { problem })
    }
}

impl TryFrom<String> for Window {
    type Error = ParseWindowError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Window> for String {
    fn from(window: Window) -> Self {
        window.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn stamp(y: i32, m: u32, d: u32, h: u32, min: u32) -> Stamp {
        Stamp::from_utc(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()).unwrap()
    }

    #[test]
    fn durations_parse_with_units_and_reject_zero_and_fractions() {
        assert_eq!(parse_duration("90m", MAX_WINDOW_SECS).unwrap().get(), 5400);
        assert_eq!(
            parse_duration("24h", MAX_WINDOW_SECS).unwrap().get(),
            86_400
        );
        assert_eq!(
            parse_duration("0s", MAX_WINDOW_SECS).unwrap_err(),
            "must be greater than zero"
        );
        assert!(parse_duration("1.5s", MAX_WINDOW_SECS).is_err());
        assert!(parse_duration("400d", MAX_WINDOW_SECS).is_err());
        assert!(parse_duration("soon", MAX_WINDOW_SECS).is_err());
    }

    #[test]
    fn windows_print_the_way_they_parse() {
        for (text, shown) in [
            ("7d", "7 days"),
            ("60d", "60 days"),
            ("24h", "1 day"),
            ("36h", "1 day 12 hours"),
            ("1h 30m", "1 hour 30 minutes"),
            ("61s", "1 minute 1 second"),
            ("calendar day", "calendar day"),
            ("calendar week", "calendar week"),
            ("calendar month", "calendar month"),
        ] {
            let window: Window = text.parse().unwrap();
            assert_eq!(window.to_string(), shown);
            assert_eq!(window.to_string().parse::<Window>().unwrap(), window);
        }
        assert!("calendar year".parse::<Window>().is_err());
        let spans = (1..=MAX_WINDOW_SECS)
            .step_by(7_919)
            .chain([59, 60, 3_599, 86_399, 86_401]);
        for seconds in spans.chain([MAX_WINDOW_SECS]) {
            let window = Window::Rolling {
                seconds: NonZeroU32::new(seconds).unwrap(),
            };
            assert_eq!(window.to_string().parse::<Window>().unwrap(), window);
        }
    }

    #[test]
    fn calendar_week_starts_on_local_monday() {
        let auckland = chrono_tz::Pacific::Auckland;
        // Sunday 2026-11-22 12:00Z is Monday 01:00 in Auckland (UTC+13 in summer).
        let (start, end) = CalendarPeriod::Week.bounds(auckland, stamp(2026, 11, 22, 12, 0));
        assert_eq!(start, stamp(2026, 11, 22, 11, 0)); // Monday 00:00 NZDT
        assert_eq!(end, stamp(2026, 11, 29, 11, 0));
    }

    #[test]
    fn calendar_day_on_a_dst_day_is_23_or_25_hours() {
        let ny = chrono_tz::America::New_York;
        let (start, end) = CalendarPeriod::Day.bounds(ny, stamp(2026, 3, 8, 12, 0));
        assert_eq!(end.0 - start.0, 23 * 3600);
        let (start, end) = CalendarPeriod::Day.bounds(ny, stamp(2026, 11, 1, 12, 0));
        assert_eq!(end.0 - start.0, 25 * 3600);
    }

    #[test]
    fn remembered_bounds_never_answer_for_another_zone_period_or_day() {
        let (ny, auckland) = (chrono_tz::America::New_York, chrono_tz::Pacific::Auckland);
        let at = stamp(2026, 11, 22, 12, 0);
        let asked = [
            (ny, CalendarPeriod::Week, at),
            (auckland, CalendarPeriod::Week, at),
            (auckland, CalendarPeriod::Day, at),
            (auckland, CalendarPeriod::Day, Stamp(at.0 + 86_400)),
            (ny, CalendarPeriod::Week, at),
        ];
        let answers: Vec<(Stamp, Stamp)> = asked.iter().map(|(z, p, t)| p.bounds(*z, *t)).collect();
        // New York's week started Monday 16th at 05:00Z; Auckland's on Sunday 22nd at 11:00Z.
        assert_eq!(answers[0].0, stamp(2026, 11, 16, 5, 0));
        assert_eq!(answers[1].0, stamp(2026, 11, 22, 11, 0));
        assert_eq!(
            answers[2],
            (stamp(2026, 11, 22, 11, 0), stamp(2026, 11, 23, 11, 0))
        );
        assert_eq!(
            answers[3],
            (stamp(2026, 11, 23, 11, 0), stamp(2026, 11, 24, 11, 0))
        );
        assert_eq!(answers[4], answers[0]);
    }

    #[test]
    fn calendar_month_runs_to_the_first_of_the_next() {
        let (start, end) = CalendarPeriod::Month.bounds(chrono_tz::UTC, stamp(2026, 2, 14, 9, 0));
        assert_eq!(start, stamp(2026, 2, 1, 0, 0));
        assert_eq!(end, stamp(2026, 3, 1, 0, 0));
    }
}
