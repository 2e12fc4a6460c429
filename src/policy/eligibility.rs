//! Eligibility rules as data: `all` / `any` / `not` over attribute comparisons, recent purchases
//! and views, moments, lifetime value and segments. Written as [`ConditionSpec`], validated by
//! [`Policy::compile`](super::Policy::compile) against the declared attribute types, and judged
//! per decision as a compiled [`Condition`] that names the rule that failed.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::leaves::NO_LEAF;
use super::memo::Memo;
use super::offers::{duration, label, MAX_NAME_LEN};
use crate::context::{days_until, Profile, Value, ValueKind};
use crate::error::PolicyError;
use crate::time::Stamp;

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

/// How an attribute is tested.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttributeTest {
    Exists(bool),
    Equals(Value),
    OneOf(Vec<Value>),
    Range {
        at_least: Option<Value>,
        at_most: Option<Value>,
    },
}

/// What the customer's purchases or views are tested for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Bought,
    Viewed,
}

/// A compiled condition: validated, with attribute names resolved to the policy's declaration
/// order, and the path of each node for explanations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    All(Vec<Condition>),
    Any {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        children: Vec<Condition>,
    },
    Not {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        inner: Box<Condition>,
    },
    Attribute {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        /// The test's id among the policy's distinct leaf tests (`NO_LEAF`: none).
        leaf: u32,
        name: String,
        index: usize,
        test: AttributeTest,
    },
    Activity {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        /// The test's id among the policy's distinct leaf tests (`NO_LEAF`: none).
        leaf: u32,
        activity: Activity,
        category: String,
        /// The category's index in the policy's categories (`Facts::recent`).
        category_id: usize,
        within: u32,
    },
    Moment {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        /// The test's id among the policy's distinct leaf tests (`NO_LEAF`: none).
        leaf: u32,
        name: String,
        within_days: u32,
    },
    LifetimeValue {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        /// The test's id among the policy's distinct leaf tests (`NO_LEAF`: none).
        leaf: u32,
        at_least: Option<f64>,
        at_most: Option<f64>,
    },
    Segment {
        /// Where the node is written, and what it asks in words (built once, at compile time).
        failed: FailedRule,
        /// The test's id among the policy's distinct leaf tests (`NO_LEAF`: none).
        leaf: u32,
        name: String,
    },
}

/// When the customer last bought and last looked in one category.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Recent {
    pub(crate) purchase: Option<Stamp>,
    pub(crate) view: Option<Stamp>,
}

/// What a condition is judged against.
pub(crate) struct Facts<'a> {
    pub(crate) profile: &'a Profile,
    /// The customer's value of each declared attribute, in declaration order.
    pub(crate) attributes: &'a [Option<&'a Value>],
    /// Per policy category, in the policy's order: looked up in the customer's summary once
    /// per decision, not once per `bought` / `viewed` rule judged.
    pub(crate) recent: &'a [Recent],
    pub(crate) now: Stamp,
    /// The customer's local date.
    pub(crate) today: NaiveDate,
    /// The leaf tests' results, by leaf id (once worked out; until then each is worked out
    /// when asked).
    pub(crate) memo: Memo<'a>,
    /// The last date asked about in [`Facts::days_until`] (month, day) and its answer: a moment
    /// offer's rule and its score ask about the same one.
    pub(crate) moment_days: Cell<Option<(u32, u32, Option<i64>)>>,
}

impl Facts<'_> {
    /// The days from `today` until the next `month`/`day` ([`days_until`]), remembering the
    /// last answer. **O(1)**.
    pub(crate) fn days_until(&self, month: u32, day: u32) -> Option<i64> {
        if let Some((m, d, days)) = self.moment_days.get() {
            if (m, d) == (month, day) {
                return days;
            }
        }
        let days = days_until(self.today, month, day);
        self.moment_days.set(Some((month, day, days)));
        days
    }
}

/// The rule that failed: its path and what it asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRule {
    /// Where the rule is written: `offers[2].eligibility.all[1]`.
    pub path: Arc<str>,
    /// What it asks, in words: `tier equals "gold"`.
    pub rule: Arc<str>,
}

impl FailedRule {
    /// A rule at `path` whose words are filled in once the node is built.
    fn at(path: &str) -> FailedRule {
        FailedRule {
            path: path.into(),
            rule: "".into(),
        }
    }
}

impl fmt::Display for FailedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.rule)
    }
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => n.to_string(),
        Literal::Text(t) => format!("{t:?}"),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Text(t) => format!("{t:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.to_string(),
        Value::List(items) => format!("{items:?}"),
    }
}

/// Converts a literal to a value of the attribute's declared type.
fn typed(
    path: &str,
    attribute: &str,
    kind: ValueKind,
    literal: &Literal,
) -> Result<Value, PolicyError> {
    let mismatch = || {
        PolicyError::new(
            path,
            format!(
                "attribute {attribute:?} is declared {kind}, so {} does not compare with it",
                literal_text(literal)
            ),
        )
    };
    match (kind, literal) {
        (ValueKind::Text | ValueKind::List, Literal::Text(t)) => Ok(Value::Text(t.clone())),
        (ValueKind::Number, Literal::Number(n)) if n.is_finite() => Ok(Value::Number(*n)),
        (ValueKind::Bool, Literal::Bool(b)) => Ok(Value::Bool(*b)),
        (ValueKind::Date, Literal::Text(t)) => t
            .parse::<NaiveDate>()
            .map(Value::Date)
            .map_err(|_| PolicyError::new(path, format!("{t:?} is not a date (YYYY-MM-DD)"))),
        _ => Err(mismatch()),
    }
}

fn forms(spec: &ConditionSpec) -> Vec<&'static str> {
    let mut forms = Vec::new();
    let mut note = |present: bool, name: &'static str| {
        if present {
            forms.push(name);
        }
    };
    note(spec.all.is_some(), "all");
    note(spec.any.is_some(), "any");
    note(spec.not.is_some(), "not");
    note(spec.attribute.is_some(), "attribute");
    note(spec.bought.is_some(), "bought");
    note(spec.viewed.is_some(), "viewed");
    note(spec.moment.is_some(), "moment");
    note(
        spec.lifetime_value_at_least.is_some() || spec.lifetime_value_at_most.is_some(),
        "lifetime_value_at_least/at_most",
    );
    note(spec.segment.is_some(), "segment");
    forms
}

/// Fields that only go with one form, and that form.
fn stray_fields(spec: &ConditionSpec, form: &str) -> Option<&'static str> {
    let attribute_fields = [
        (spec.equals.is_some(), "equals"),
        (spec.one_of.is_some(), "in"),
        (spec.at_least.is_some(), "at_least"),
        (spec.at_most.is_some(), "at_most"),
        (spec.exists.is_some(), "exists"),
    ];
    let activity_fields = [(spec.within.is_some(), "within")];
    let moment_fields = [(spec.within_days.is_some(), "within_days")];
    let stray = |fields: &[(bool, &'static str)], owner: &str| {
        (form != owner)
            .then(|| fields.iter().find(|(set, _)| *set).map(|(_, name)| *name))
            .flatten()
    };
    let activity_form = if form == "bought" || form == "viewed" {
        form
    } else {
        "bought"
    };
    stray(&attribute_fields, "attribute")
        .or_else(|| stray(&activity_fields, activity_form))
        .or_else(|| stray(&moment_fields, "moment"))
}

/// Compiles `spec` at `path` against the declared attributes; adds the categories its `bought`
/// and `viewed` rules name to `categories`.
pub(crate) fn compile_condition(
    path: &str,
    spec: &ConditionSpec,
    attributes: &IndexMap<String, ValueKind>,
    categories: &mut super::names::Names,
) -> Result<Condition, PolicyError> {
    let found = forms(spec);
    let form = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(PolicyError::new(
                path,
                "names no condition (use all, any, not, attribute, bought, viewed, moment, lifetime_value_at_least/at_most or segment)",
            ))
        }
        many => {
            return Err(PolicyError::new(
                path,
                format!(
                    "mixes {} in one condition; wrap them in all = [ … ]",
                    many.join(" and ")
                ),
            ))
        }
    };
    if let Some(field) = stray_fields(spec, form) {
        return Err(PolicyError::new(
            format!("{path}.{field}"),
            format!("does not go with {form}"),
        ));
    }
    let mut children =
        |name: &str, list: &[ConditionSpec]| -> Result<Vec<Condition>, PolicyError> {
            if list.is_empty() {
                return Err(PolicyError::new(
                    format!("{path}.{name}"),
                    "must list at least one condition",
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, c)| {
                    compile_condition(&format!("{path}.{name}[{i}]"), c, attributes, categories)
                })
                .collect()
        };
    let within = |field: &str| -> Result<u32, PolicyError> {
        let text = spec.within.as_deref().ok_or_else(|| {
            PolicyError::new(
                format!("{path}.within"),
                format!("{field} needs a duration such as \"30d\""),
            )
        })?;
        duration(&format!("{path}.within"), text)
    };
    let name = |field: &str, text: &str| -> Result<String, PolicyError> {
        label(&format!("{path}.{field}"), text, MAX_NAME_LEN)?;
        Ok(text.to_owned())
    };
    let mut node = match form {
        "all" => Condition::All(children("all", spec.all.as_deref().unwrap_or_default())?),
        "any" => Condition::Any {
            failed: FailedRule::at(path),
            children: children("any", spec.any.as_deref().unwrap_or_default())?,
        },
        "not" => {
            let inner = spec.not.as_deref().cloned().unwrap_or_default();
            Condition::Not {
                failed: FailedRule::at(path),
                inner: Box::new(compile_condition(
                    &format!("{path}.not"),
                    &inner,
                    attributes,
                    categories,
                )?),
            }
        }
        "attribute" => {
            let attribute = spec.attribute.clone().unwrap_or_default();
            let Some((index, _, &kind)) = attributes.get_full(&attribute) else {
                return Err(PolicyError::new(
                    format!("{path}.attribute"),
                    format!("{attribute:?} is not declared in [attributes]"),
                ));
            };
            let field = |name: &str| format!("{path}.{name}");
            let tests = [
                spec.equals.is_some(),
                spec.one_of.is_some(),
                spec.at_least.is_some() || spec.at_most.is_some(),
                spec.exists.is_some(),
            ];
            if tests.iter().filter(|t| **t).count() != 1 {
                return Err(PolicyError::new(
                    path,
                    "an attribute condition takes exactly one test: equals, in, at_least/at_most or exists",
                ));
            }
            let test = if let Some(literal) = &spec.equals {
                AttributeTest::Equals(typed(&field("equals"), &attribute, kind, literal)?)
            } else if let Some(list) = &spec.one_of {
                let values = list
                    .iter()
                    .enumerate()
                    .map(|(i, l)| typed(&format!("{path}.in[{i}]"), &attribute, kind, l))
                    .collect::<Result<Vec<_>, _>>()?;
                AttributeTest::OneOf(values)
            } else if let Some(exists) = spec.exists {
                AttributeTest::Exists(exists)
            } else {
                if !matches!(kind, ValueKind::Number | ValueKind::Date) {
                    let which = if spec.at_least.is_some() {
                        "at_least"
                    } else {
                        "at_most"
                    };
                    return Err(PolicyError::new(
                        field(which),
                        format!(
                            "attribute {attribute:?} is declared {kind}; ranges need a number or a date"
                        ),
                    ));
                }
                let bound = |name: &str, literal: &Option<Literal>| {
                    literal
                        .as_ref()
                        .map(|l| typed(&field(name), &attribute, kind, l))
                        .transpose()
                };
                AttributeTest::Range {
                    at_least: bound("at_least", &spec.at_least)?,
                    at_most: bound("at_most", &spec.at_most)?,
                }
            };
            Condition::Attribute {
                failed: FailedRule::at(path),
                leaf: NO_LEAF,
                name: attribute,
                index,
                test,
            }
        }
        "bought" | "viewed" => {
            let (activity, field, category) = match &spec.bought {
                Some(category) => (Activity::Bought, "bought", category.as_str()),
                None => (
                    Activity::Viewed,
                    "viewed",
                    spec.viewed.as_deref().unwrap_or_default(),
                ),
            };
            let category = name(field, category)?;
            let category_id = categories.insert(category.as_str());
            Condition::Activity {
                failed: FailedRule::at(path),
                leaf: NO_LEAF,
                activity,
                category,
                category_id,
                within: within(field)?,
            }
        }
        "moment" => Condition::Moment {
            failed: FailedRule::at(path),
            leaf: NO_LEAF,
            name: name("moment", spec.moment.as_deref().unwrap_or_default())?,
            within_days: spec.within_days.ok_or_else(|| {
                PolicyError::new(
                    format!("{path}.within_days"),
                    "moment needs within_days (0 for the day itself)",
                )
            })?,
        },
        "segment" => Condition::Segment {
            failed: FailedRule::at(path),
            leaf: NO_LEAF,
            name: name("segment", spec.segment.as_deref().unwrap_or_default())?,
        },
        _ => {
            for (field, bound) in [
                ("lifetime_value_at_least", spec.lifetime_value_at_least),
                ("lifetime_value_at_most", spec.lifetime_value_at_most),
            ] {
                if bound.is_some_and(|b| !b.is_finite()) {
                    return Err(PolicyError::new(
                        format!("{path}.{field}"),
                        "must be a finite number",
                    ));
                }
            }
            Condition::LifetimeValue {
                failed: FailedRule::at(path),
                leaf: NO_LEAF,
                at_least: spec.lifetime_value_at_least,
                at_most: spec.lifetime_value_at_most,
            }
        }
    };
    // The words of a failing rule are part of every explanation: build them once, here.
    let words = node.to_string();
    if let Some(failed) = node.failed_mut() {
        failed.rule = words.into();
    }
    Ok(node)
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn matches_value(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::List(items), Value::Text(t)) => items.iter().any(|i| i == t),
        _ => have == want,
    }
}

impl Condition {
    /// The node's own failure record (`all` has none: it fails as the child that fails).
    fn failed_mut(&mut self) -> Option<&mut FailedRule> {
        match self {
            Condition::All(_) => None,
            Condition::Any { failed, .. }
            | Condition::Not { failed, .. }
            | Condition::Attribute { failed, .. }
            | Condition::Activity { failed, .. }
            | Condition::Moment { failed, .. }
            | Condition::LifetimeValue { failed, .. }
            | Condition::Segment { failed, .. } => Some(failed),
        }
    }

    /// Calls `visit` with each node's failure record, a node before its children, until it
    /// returns `true`; returns whether it did.
    fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a FailedRule) -> bool) -> bool {
        if let Some(failed) = self.failed() {
            if visit(failed) {
                return true;
            }
        }
        match self {
            Condition::All(children) | Condition::Any { children, .. } => {
                children.iter().any(|c| c.walk(visit))
            }
            Condition::Not { inner, .. } => inner.walk(visit),
            _ => false,
        }
    }

    /// Whether the node has no children.
    fn is_single(&self) -> bool {
        !matches!(
            self,
            Condition::All(_) | Condition::Any { .. } | Condition::Not { .. }
        )
    }

    /// The node's own failure record (`all` has none).
    pub(super) fn failed(&self) -> Option<&FailedRule> {
        match self {
            Condition::All(_) => None,
            Condition::Any { failed, .. }
            | Condition::Not { failed, .. }
            | Condition::Attribute { failed, .. }
            | Condition::Activity { failed, .. }
            | Condition::Moment { failed, .. }
            | Condition::LifetimeValue { failed, .. }
            | Condition::Segment { failed, .. } => Some(failed),
        }
    }

    /// Where `failed` (a record [`Condition::judge`] returned) is among this condition's
    /// records, a node before its children: a decision keeps the number, not a copy of the
    /// record. **O(nodes)**.
    pub(crate) fn position_of(&self, failed: &FailedRule) -> Option<u32> {
        // Most rules are one node, or fail as their root (`any`, `not`).
        if self.failed().is_some_and(|own| std::ptr::eq(own, failed)) {
            return Some(0);
        }
        // An `all` of single nodes (the usual compound rule): each child is one record.
        if let Condition::All(children) = self {
            for (position, child) in (0u32..).zip(children) {
                let Some(own) = child.failed().filter(|_| child.is_single()) else {
                    break;
                };
                if std::ptr::eq(own, failed) {
                    return Some(position);
                }
            }
        }
        let mut position = 0u32;
        self.walk(&mut |record| {
            let found = std::ptr::eq(record, failed);
            if !found {
                position += 1;
            }
            found
        })
        .then_some(position)
    }

    /// The record at `position` ([`Condition::position_of`]). **O(nodes)**.
    pub(crate) fn record_at(&self, position: u32) -> Option<&FailedRule> {
        let mut left = position;
        let mut found = None;
        self.walk(&mut |record| {
            if left == 0 {
                found = Some(record);
                return true;
            }
            left -= 1;
            false
        });
        found
    }

    /// `Ok` when the condition holds; otherwise the rule that failed (borrowed: nothing is
    /// copied for the failures an `any` or a `not` absorbs).
    pub(crate) fn judge(&self, facts: &Facts<'_>) -> Result<(), &FailedRule> {
        match self {
            Condition::All(children) => children.iter().try_for_each(|c| c.judge(facts)),
            Condition::Any { failed, children } => {
                if children.iter().any(|c| c.judge(facts).is_ok()) {
                    Ok(())
                } else {
                    Err(failed)
                }
            }
            Condition::Not { failed, inner } => {
                if inner.judge(facts).is_ok() {
                    Err(failed)
                } else {
                    Ok(())
                }
            }
            leaf => {
                let holds = facts.memo.holds(leaf, facts);
                match leaf.failed() {
                    Some(failed) if !holds => Err(failed),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The leaf test's id among the policy's distinct leaf tests, if it has one.
    #[inline]
    pub(super) fn leaf(&self) -> Option<u32> {
        match self {
            Condition::Attribute { leaf, .. }
            | Condition::Activity { leaf, .. }
            | Condition::Moment { leaf, .. }
            | Condition::LifetimeValue { leaf, .. }
            | Condition::Segment { leaf, .. } => Some(*leaf).filter(|id| *id != NO_LEAF),
            Condition::All(_) | Condition::Any { .. } | Condition::Not { .. } => None,
        }
    }

    /// Whether the condition holds (a leaf's test, worked out).
    #[inline(never)]
    pub(super) fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Condition::All(_) | Condition::Any { .. } | Condition::Not { .. } => {
                self.judge(facts).is_ok()
            }
            Condition::Attribute { index, test, .. } => {
                let have = facts.attributes.get(*index).copied().flatten();
                match (test, have) {
                    (AttributeTest::Exists(want), have) => have.is_some() == *want,
                    (_, None) => false,
                    (AttributeTest::Equals(want), Some(have)) => matches_value(have, want),
                    (AttributeTest::OneOf(wants), Some(have)) => {
                        wants.iter().any(|w| matches_value(have, w))
                    }
                    (AttributeTest::Range { at_least, at_most }, Some(have)) => {
                        let above = at_least.as_ref().is_none_or(|lo| {
                            compare(have, lo).is_some_and(|o| o != std::cmp::Ordering::Less)
                        });
                        let below = at_most.as_ref().is_none_or(|hi| {
                            compare(have, hi).is_some_and(|o| o != std::cmp::Ordering::Greater)
                        });
                        above && below
                    }
                }
            }
            Condition::Activity {
                activity,
                category,
                category_id,
                within,
                ..
            } => {
                let recent =
                    match facts.recent.get(*category_id) {
                        Some(recent) => *recent,
                        // Not reached: a decision fills in every policy category.
                        None => facts.profile.summary.category(category).map_or_else(
                            Recent::default,
                            |s| Recent {
                                purchase: s.last_purchase,
                                view: s.last_view,
                            },
                        ),
                    };
                let last = match activity {
                    Activity::Bought => recent.purchase,
                    Activity::Viewed => recent.view,
                };
                // Within the span: at most `within` seconds before now (and not in the future).
                last.is_some_and(|at| at.within(*within, facts.now))
            }
            Condition::Moment {
                name, within_days, ..
            } => facts
                .profile
                .moment(name)
                .and_then(|m| facts.days_until(m.month, m.day))
                .is_some_and(|days| days <= i64::from(*within_days)),
            Condition::LifetimeValue {
                at_least, at_most, ..
            } => {
                let ltv = facts.profile.summary.lifetime_value();
                at_least.is_none_or(|lo| ltv >= lo) && at_most.is_none_or(|hi| ltv <= hi)
            }
            Condition::Segment { name, .. } => facts.profile.segments.iter().any(|s| s == name),
        }
    }
}

/// A duration as a policy writes it: `"60d"`, `"36h"`, `"90m"`, `"45s"`.
fn seconds_text(secs: u32) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, word: &str, children: &[Condition]| {
            write!(f, "{word}(")?;
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        };
        match self {
            Condition::All(children) => list(f, "all of", children),
            Condition::Any { children, .. } => list(f, "any of", children),
            Condition::Not { inner, .. } => write!(f, "not ({inner})"),
            Condition::Attribute { name, test, .. } => match test {
                AttributeTest::Exists(true) => write!(f, "{name} is set"),
                AttributeTest::Exists(false) => write!(f, "{name} is not set"),
                AttributeTest::Equals(v) => write!(f, "{name} equals {}", value_text(v)),
                AttributeTest::OneOf(vs) => {
                    let items: Vec<String> = vs.iter().map(value_text).collect();
                    write!(f, "{name} in [{}]", items.join(", "))
                }
                AttributeTest::Range { at_least, at_most } => match (at_least, at_most) {
                    (Some(lo), Some(hi)) => write!(
                        f,
                        "{name} between {} and {}",
                        value_text(lo),
                        value_text(hi)
                    ),
                    (Some(lo), None) => write!(f, "{name} at least {}", value_text(lo)),
                    (None, Some(hi)) => write!(f, "{name} at most {}", value_text(hi)),
                    (None, None) => write!(f, "{name} in any range"),
                },
            },
            Condition::Activity {
                activity,
                category,
                within,
                ..
            } => {
                let verb = match activity {
                    Activity::Bought => "bought",
                    Activity::Viewed => "viewed",
                };
                write!(f, "{verb} {category:?} within {}", seconds_text(*within))
            }
            Condition::Moment {
                name, within_days, ..
            } => write!(f, "{name} within {within_days} days"),
            Condition::LifetimeValue {
                at_least, at_most, ..
            } => match (at_least, at_most) {
                (Some(lo), Some(hi)) => write!(f, "lifetime value between {lo} and {hi}"),
                (Some(lo), None) => write!(f, "lifetime value at least {lo}"),
                (None, Some(hi)) => write!(f, "lifetime value at most {hi}"),
                (None, None) => f.write_str("any lifetime value"),
            },
            Condition::Segment { name, .. } => write!(f, "in segment {name:?}"),
        }
    }
}
