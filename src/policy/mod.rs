//! The policy: what a marketer writes (caps, spacing, quiet hours), loaded with serde from TOML or
//! JSON, and [`Policy::compile`], which validates it once into a [`CompiledPolicy`].
//!
//! # Semantics
//!
//! Every rule has a *scope*: a message class (`marketing` unless it says otherwise), optionally
//! one channel, optionally one topic. A rule holds back an attempt in its scope and counts the
//! contacts in its scope. Marketing rules therefore never hold back service or transactional
//! messages; those classes can have rules of their own.
//!
//! - **Caps** (`[[caps]]`): at most `limit` contacts per `window`. A rolling window (`"7d"`) holds
//!   in *every* span of that length: a contact at `t` counts against an attempt at `u` while
//!   `u - t < window`, and frees its slot at `t + window`. A calendar window (`"calendar day"`,
//!   `"calendar week"`, `"calendar month"`) counts contacts in the same local period as the
//!   attempt, in the customer's zone; weeks start on Monday; the slot frees at the next period.
//! - **Spacing** (`[[spacing]]`): at least `min_gap` between two contacts in scope.
//! - **Quiet hours** (`[[quiet_hours]]`): from `start` to `end` (`"HH:MM"`, wall-clock time in
//!   the customer's zone, `end` may be `"24:00"`; an `end` before `start` runs past midnight) on
//!   each of `days` (the day the window starts; all days if omitted), for `channels` (all if
//!   omitted) and `classes` (marketing if omitted). Judged per wall-clock minute: on the day
//!   clocks go back, a repeated quiet hour is quiet both times. A contact held by quiet hours is
//!   deferred to the first minute that is not quiet; when that wall-clock time does not exist
//!   (clocks go forward), to the moment the clocks jump.
//! - **Order within a scope**: an attempt is never placed before a contact already counted in one
//!   of its scopes (a deferred send, an import, or a clock that went backwards); it is deferred
//!   to that contact's time. This keeps every window exact with only the most recent contacts
//!   stored.
//! - Times are kept to the second.
//!
//! ```
//! # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
//! use cornershop::Policy;
//!
//! let policy = Policy::from_toml_str(r#"
//!     time_zone = "Europe/London"
//!
//!     [[caps]]
//!     channel = "email"
//!     limit = 2
//!     window = "7d"
//!
//!     [[caps]]
//!     name = "monthly marketing"
//!     limit = 5
//!     window = "calendar month"
//!
//!     [[spacing]]
//!     channel = "sms"
//!     min_gap = "24h"
//!
//!     [[quiet_hours]]
//!     start = "21:00"
//!     end = "08:00"
//! "#)?;
//! let compiled = policy.compile()?;
//! # let _ = compiled;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compile;
mod compiled;
mod eligibility;
mod keys;
mod leaves;
mod memo;
mod names;
mod offers;
mod quiet;
mod range;
pub(crate) mod retention;
mod rows;
mod rules;
mod slots;
mod window;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::context::ValueKind;

use crate::error::PolicyError;

pub use compiled::CompiledPolicy;
pub use eligibility::{ConditionSpec, FailedRule, Literal};
pub(crate) use eligibility::{Facts, Recent};
pub(crate) use keys::OfferKeys;
pub(crate) use memo::{LeafPlan, Memo};
pub(crate) use offers::{Offer, Scoring, Selection};
pub use offers::{OfferCapSpec, OfferSpec, ScoringSpec, SelectionSpec};
pub(crate) use quiet::WeekMask;
pub(crate) use rows::Row;
pub use rules::RuleRef;
pub(crate) use rules::{topic_hash64, Check, CheckSource, Checks};
pub use window::{CalendarPeriod, ParseWindowError, Window};

/// A policy as written: plain serde data, checked by [`Policy::compile`]. The throttle reads
/// caps, spacing, quiet hours and preference bounds; [`Engine`](crate::Engine) also reads
/// attributes, offers, scoring and selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// IANA time zone for customers who have none (`"UTC"` if omitted).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Contact-frequency caps.
    #[serde(default)]
    pub caps: Vec<CapSpec>,
    /// Minimum spacing between two contacts in a scope.
    #[serde(default)]
    pub spacing: Vec<SpacingSpec>,
    /// Quiet hours in the customer's local time.
    #[serde(default)]
    pub quiet_hours: Vec<QuietHoursSpec>,
    /// Bounds on customers' own frequency preferences.
    #[serde(default)]
    pub preferences: PreferenceBounds,
    /// The profile attributes eligibility rules use, and their types
    /// (`tier = "text"`, `age = "number"`, `member_since = "date"`, `vip = "bool"`,
    /// `diets = "list"`).
    #[serde(default)]
    pub attributes: IndexMap<String, ValueKind>,
    /// The offers decisions choose from.
    #[serde(default)]
    pub offers: Vec<OfferSpec>,
    /// The weights of the built-in score.
    #[serde(default)]
    pub scoring: ScoringSpec,
    /// How picks are chosen.
    #[serde(default)]
    pub selection: SelectionSpec,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            time_zone: default_time_zone(),
            caps: Vec::new(),
            spacing: Vec::new(),
            quiet_hours: Vec::new(),
            preferences: PreferenceBounds::default(),
            attributes: IndexMap::new(),
            offers: Vec::new(),
            scoring: ScoringSpec::default(),
            selection: SelectionSpec::default(),
        }
    }
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_class() -> String {
    "marketing".to_owned()
}

fn default_classes() -> Vec<String> {
    vec![default_class()]
}

/// A cap: at most `limit` contacts in scope per `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// A label for explanations; `caps[i]` if omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// The message class counted and held back (`"marketing"` if omitted).
    #[serde(default = "default_class")]
    pub class: String,
    /// One channel, or every channel if omitted.
    #[serde(default)]
    pub channel: Option<String>,
    /// One topic, or every topic if omitted.
    #[serde(default)]
    pub topic: Option<String>,
    /// The most contacts allowed per window (1 to 1000).
    pub limit: u32,
    /// `"7d"`-style rolling window or `"calendar week"`-style period; see [`Window`].
    pub window: String,
}

/// A minimum gap between two contacts in scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpacingSpec {
    /// A label for explanations; `spacing[i]` if omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// The message class (`"marketing"` if omitted).
    #[serde(default = "default_class")]
    pub class: String,
    /// One channel, or every channel if omitted.
    #[serde(default)]
    pub channel: Option<String>,
    /// One topic, or every topic if omitted.
    #[serde(default)]
    pub topic: Option<String>,
    /// The least time between two contacts, such as `"24h"`.
    pub min_gap: String,
}

/// Hours in which contacts are held back, in the customer's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursSpec {
    /// A label for explanations; `quiet_hours[i]` if omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// Start, `"HH:MM"` local time.
    pub start: String,
    /// End, `"HH:MM"` local time or `"24:00"`; before `start` means the next day.
    pub end: String,
    /// Weekdays the window starts on (`"mon"`, `"sunday"`, …); every day if omitted (`None`).
    /// An empty list is an error: it would read as "no day" but could only mean every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    /// Channels it holds back; every channel if omitted (`None`). An empty list is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Classes it holds back (`["marketing"]` if omitted).
    #[serde(default = "default_classes")]
    pub classes: Vec<String>,
}

/// How much history the ledger keeps for customers' own frequency preferences: per channel and
/// across channels, the `max_limit` most recent marketing contacts within `max_window`. A
/// preference with a larger limit is judged with `max_limit` (tighter than asked, never looser);
/// one with a longer window is an input error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceBounds {
    /// The largest limit judged exactly (0: the policy takes no preferences, and a customer with
    /// one gets an input error).
    #[serde(default = "default_preference_limit")]
    pub max_limit: u32,
    /// The longest window a preference may have (a calendar month needs at least `"31d 3h"`).
    #[serde(default = "default_preference_window")]
    pub max_window: String,
}

impl Default for PreferenceBounds {
    fn default() -> Self {
        PreferenceBounds {
            max_limit: default_preference_limit(),
            max_window: default_preference_window(),
        }
    }
}

fn default_preference_limit() -> u32 {
    4
}

fn default_preference_window() -> String {
    "32d".to_owned()
}

impl Policy {
    /// Reads a policy from TOML text. Errors name the field path (`caps[0].limit: …`).
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        // A syntax error has no field path; its text says the line and column instead.
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| PolicyError::new("", e.to_string().trim_end()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            PolicyError::new(path, e.into_inner().message())
        })
    }

    /// Reads a policy from JSON text. Errors name the field path (`caps[0].limit: …`).
    #[cfg(feature = "json")]
    pub fn from_json_str(text: &str) -> Result<Policy, PolicyError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            PolicyError::new(path, e.into_inner())
        })
    }

    /// Validates the policy once and returns the immutable form the hot path uses.
    ///
    /// Every problem is reported with its field path: an unknown channel or class, a window or
    /// gap that is zero or too long, a limit of zero, a time of day that is not one, an empty
    /// quiet window, quiet hours that would never let a contact through, and two rules with the
    /// same scope and window that contradict (or merely repeat) each other.
    pub fn compile(&self) -> Result<CompiledPolicy, PolicyError> {
        compile::compile(self)
    }
}
