//! What the application tells cornershop about a customer beyond the throttle's needs: typed
//! profile attributes, stated preferences, moments worth marking, notes for people, and a compact
//! running [`Summary`] of their events.
//!
//! Events are not kept as a list: each one updates the summary (decayed category affinity,
//! last purchase and view per category, feedback, complaints, responses, lifetime value), so a
//! decision costs the same for a customer with ten events as for one with ten thousand.

mod binding;
mod event;
mod summary;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

pub(crate) use binding::{names_hash, numbered, Numbering};
pub use event::{Event, FeedbackTarget, Response};
pub use summary::Summary;
pub(crate) use summary::{CategoryStats, Decayed, OfferStats};

/// A typed profile attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Value {
    /// Free text (`"gold"`).
    Text(String),
    /// A number (`42`, `17.5`).
    Number(f64),
    /// Yes or no.
    Bool(bool),
    /// A calendar date without a time (`2026-11-24`).
    Date(NaiveDate),
    /// A list of text values (`["vegan", "gluten-free"]`).
    List(Vec<String>),
}

impl Value {
    /// The value's type, as policies name it.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Text(_) => ValueKind::Text,
            Value::Number(_) => ValueKind::Number,
            Value::Bool(_) => ValueKind::Bool,
            Value::Date(_) => ValueKind::Date,
            Value::List(_) => ValueKind::List,
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Number(number)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        // Profile numbers are ages, counts and amounts: far inside f64's exact integer range.
        Value::Number(number as f64)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<NaiveDate> for Value {
    fn from(date: NaiveDate) -> Self {
        Value::Date(date)
    }
}

impl From<Vec<String>> for Value {
    fn from(list: Vec<String>) -> Self {
        Value::List(list)
    }
}

/// The type of a [`Value`]; policies declare one per attribute (`[attributes] tier = "text"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueKind {
    /// See [`Value::Text`].
    Text,
    /// See [`Value::Number`].
    Number,
    /// See [`Value::Bool`].
    Bool,
    /// See [`Value::Date`].
    Date,
    /// See [`Value::List`].
    List,
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueKind::Text => "text",
            ValueKind::Number => "number",
            ValueKind::Bool => "bool",
            ValueKind::Date => "date",
            ValueKind::List => "list",
        })
    }
}

/// A yearly date worth marking: a birthday, a signup anniversary, or one the application names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    /// The moment's name: `"birthday"`, `"signup"`, or the application's own.
    pub name: String,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31. February 29th falls on February 28th in other years.
    pub day: u32,
}

/// Everything the application knows about a customer for personalization. Attributes are typed;
/// the policy declares which it uses and their types.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// Typed attributes by name (`tier`, `age`, `member_since`, …).
    #[serde(default)]
    pub attributes: IndexMap<String, Value>,
    /// Segment tags the application assigned (`"vip"`, `"lapsed"`).
    #[serde(default)]
    pub segments: Vec<String>,
    /// The channel the customer said they prefer.
    #[serde(default)]
    pub preferred_channel: Option<Channel>,
    /// Categories the customer said they like.
    #[serde(default)]
    pub favourite_categories: Vec<String>,
    /// Categories the customer never wants to hear about: offers in them are never made.
    #[serde(default)]
    pub never_categories: Vec<String>,
    /// Birthdays, anniversaries and other yearly moments.
    #[serde(default)]
    pub moments: Vec<Moment>,
    /// Notes for the person who next calls the customer: returned with each decision, never
    /// used for scoring.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The running summary of the customer's events; updated by
    /// [`Engine::observe`](crate::Engine::observe).
    #[serde(default)]
    pub summary: Summary,
}

impl Profile {
    /// The moment called `name`, if the customer has one.
    pub fn moment(&self, name: &str) -> Option<&Moment> {
        self.moments.iter().find(|m| m.name == name)
    }

    /// Whether the customer said never to offer anything in `category`.
    pub fn never_wants(&self, category: &str) -> bool {
        self.never_categories.iter().any(|c| c == category)
    }

    /// Whether `category` is one of the customer's favourites.
    pub fn likes(&self, category: &str) -> bool {
        self.favourite_categories.iter().any(|c| c == category)
    }
}

/// Days before each month in a year without a February 29th.
const DAYS_BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
/// Days in each month in a year with a February 29th: the dates that exist in some year.
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Whether `year` has a February 29th (the proleptic Gregorian calendar, as chrono's).
fn is_leap(year: i32) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days from `today` to the next `month`-`day` (0 when it is today). February 29th counts as
/// February 28th in years without one. `None` for a date that exists in no year, or past the
/// last year chrono represents. Worked out from day-of-year numbers: **O(1)**, no date built
/// but, when the next one is next year, that year's first day (to know it exists).
pub(crate) fn days_until(today: NaiveDate, month: u32, day: u32) -> Option<i64> {
    use chrono::Datelike;
    let index = usize::try_from(month.checked_sub(1)?).ok()?;
    if day == 0 || day > *MONTH_DAYS.get(index)? {
        return None;
    }
    let ordinal = |leap: bool| {
        let day = if month == 2 && day == 29 && !leap {
            28
        } else {
            day
        };
        // `index` is below 12: `MONTH_DAYS` has 12 months.
        DAYS_BEFORE.get(index).copied().unwrap_or(0) + day + u32::from(leap && month > 2)
    };
    let year = today.year();
    let (this, now) = (ordinal(is_leap(year)), today.ordinal());
    if this >= now {
        return Some(i64::from(this - now));
    }
    NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?;
    let rest_of_year = 365 + u32::from(is_leap(year)) - now;
    Some(i64::from(rest_of_year + ordinal(is_leap(year + 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn days_until_wraps_the_year_and_handles_leap_days() {
        assert_eq!(days_until(date(2026, 11, 24), 11, 24), Some(0));
        assert_eq!(days_until(date(2026, 11, 24), 11, 27), Some(3));
        assert_eq!(days_until(date(2026, 12, 30), 1, 2), Some(3));
        assert_eq!(
            days_until(date(2027, 2, 27), 2, 29),
            Some(1),
            "Feb 28th in 2027"
        );
        assert_eq!(days_until(date(2028, 2, 27), 2, 29), Some(2));
        assert_eq!(days_until(date(2026, 1, 1), 2, 30), None);
    }

    /// The dates the day-of-year arithmetic replaced: the next occurrence built as a date.
    fn days_until_by_dates(today: NaiveDate, month: u32, day: u32) -> Option<i64> {
        use chrono::Datelike;
        NaiveDate::from_ymd_opt(2024, month, day)?;
        let on = |year: i32| {
            NaiveDate::from_ymd_opt(year, month, day)
                .or_else(|| NaiveDate::from_ymd_opt(year, month, day - 1))
        };
        let this_year = on(today.year())?;
        let next = if this_year >= today {
            this_year
        } else {
            on(today.year() + 1)?
        };
        Some((next - today).num_days())
    }

    #[test]
    fn days_until_agrees_with_building_the_dates_on_every_day_of_many_years() {
        let years = [
            -401, -1, 0, 1, 1899, 1900, 1999, 2000, 2023, 2024, 2026, 2100,
        ];
        let edges = [NaiveDate::MIN, NaiveDate::MAX];
        let days = years
            .iter()
            .flat_map(|&y| (1..=366).filter_map(move |o| NaiveDate::from_yo_opt(y, o)))
            .chain(
                edges
                    .iter()
                    .flat_map(|&d| [d.pred_opt(), Some(d), d.succ_opt()].into_iter().flatten()),
            )
            .chain(
                (0..40).filter_map(|back| NaiveDate::MAX.checked_sub_days(chrono::Days::new(back))),
            );
        for today in days {
            for month in 0..=13 {
                for day in 0..=32 {
                    assert_eq!(
                        days_until(today, month, day),
                        days_until_by_dates(today, month, day),
                        "{today} {month}-{day}"
                    );
                }
            }
        }
    }
}
