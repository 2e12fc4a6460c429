//! Eligibility rules as a policy file writes them.

use serde::{Deserialize, Serialize};

/// A literal in a policy file: a boolean, a number, text (also dates, `"2026-11-24"`) or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// Text, or a date written `YYYY-MM-DD`.
    Text(String),
}

/// One eligibility condition as written. Exactly one form per condition:
///
/// - `all = [ … ]`, `any = [ … ]`, `not = { … }`
/// - `attribute = "tier"` with one of `equals = …`, `in = [ … ]`, `at_least` / `at_most`
///   (numbers and dates, either or both), `exists = true|false`. On a list attribute, `equals`
///   means "contains" and `in` "contains one of".
/// - `bought = "coffee"` or `viewed = "coffee"` with `within = "30d"`
/// - `moment = "birthday"` with `within_days = 7` (days until its next occurrence, local date)
/// - `lifetime_value_at_least = 100.0` and/or `lifetime_value_at_most = …`
/// - `segment = "vip"`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConditionSpec {
    /// Every condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<ConditionSpec>>,
    /// At least one condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<ConditionSpec>>,
    /// The condition does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<ConditionSpec>>,
    /// A profile attribute, declared in the policy's `[attributes]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The attribute equals (a list attribute: contains) this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Literal>,
    /// The attribute is one of (a list attribute: contains one of) these values.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Literal>>,
    /// The attribute is at least this (numbers and dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<Literal>,
    /// The attribute is at most this (numbers and dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<Literal>,
    /// The attribute is set (`true`) or not set (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Bought in this category within `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bought: Option<String>,
    /// Viewed this category within `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewed: Option<String>,
    /// How far back `bought` / `viewed` look (`"30d"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// A moment of the customer's (`"birthday"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moment: Option<String>,
    /// The moment's next occurrence is at most this many days away (0: today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days: Option<u32>,
    /// Lifetime value (sum of purchases) at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_value_at_least: Option<f64>,
    /// Lifetime value at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_value_at_most: Option<f64>,
    /// The customer carries this segment tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}
