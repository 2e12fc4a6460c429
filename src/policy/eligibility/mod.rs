//! Eligibility rules as data: `all` / `any` / `not` over attribute comparisons, recent purchases
//! and views, moments, lifetime value and segments. Written as [`ConditionSpec`], validated by
//! [`Policy::compile`](super::Policy::compile) against the declared attribute types, and judged
//! per decision as a compiled [`Condition`] that names the rule that failed.
//!
//! The parts: `spec` is what a policy file writes, `build` validates it into a [`Condition`],
//! this module judges one, and `text` puts one into words.

mod build;
mod spec;
mod text;

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::leaves::NO_LEAF;
use super::memo::Memo;
use crate::context::{days_until, Profile, Value};
use crate::time::Stamp;

pub(crate) use build::compile_condition;
pub use spec::{ConditionSpec, Literal};

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

#[inline]
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[inline]
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
            Condition::Attribute { index, test, .. } => test.holds(*index, facts),
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
            Condition::Segment { name, .. } => in_segment(name, facts),
        }
    }
}

impl AttributeTest {
    /// Whether the customer's value of attribute `index` (in declaration order) passes the
    /// test: the one spelling for [`Condition::holds`] and the memo's plan.
    #[inline]
    pub(crate) fn holds(&self, index: usize, facts: &Facts<'_>) -> bool {
        let have = facts.attributes.get(index).copied().flatten();
        match (self, have) {
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
}

/// Whether the customer is in segment `name`: the one spelling for [`Condition::holds`] and
/// the memo's plan.
#[inline]
pub(crate) fn in_segment(name: &str, facts: &Facts<'_>) -> bool {
    facts.profile.segments.iter().any(|s| s == name)
}
