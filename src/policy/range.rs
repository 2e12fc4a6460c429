//! An attribute range test over numbers or dates (`at_least` / `at_most`, the usual kinds) with
//! its bounds unwrapped at compile time, so that a decision's memo compares the customer's
//! value with them inline ([`RangeTest::holds`]) rather than through the general
//! [`AttributeTest::holds`] and its matches on the test and the values.

use chrono::NaiveDate;

use super::eligibility::{AttributeTest, Facts};
use crate::context::Value;

/// The bounds of a range test whose every bound is a number, or every bound a date; at least
/// one is present.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RangeTest {
    Number {
        at_least: Option<f64>,
        at_most: Option<f64>,
    },
    Date {
        at_least: Option<NaiveDate>,
        at_most: Option<NaiveDate>,
    },
}

impl RangeTest {
    /// `test` unwrapped, if it is a range with at least one bound and its bounds are all
    /// numbers or all dates (with no bound, any value passes: left to the general test).
    pub(crate) fn of(test: &AttributeTest) -> Option<RangeTest> {
        let AttributeTest::Range { at_least, at_most } = test else {
            return None;
        };
        if at_least.is_none() && at_most.is_none() {
            return None;
        }
        // `Some(bound)` if the bound is absent or of the kind; `None` if of another kind.
        let number = |bound: &Option<Value>| match bound {
            None => Some(None),
            Some(Value::Number(x)) => Some(Some(*x)),
            Some(_) => None,
        };
        let date = |bound: &Option<Value>| match bound {
            None => Some(None),
            Some(Value::Date(d)) => Some(Some(*d)),
            Some(_) => None,
        };
        if let (Some(at_least), Some(at_most)) = (number(at_least), number(at_most)) {
            return Some(RangeTest::Number { at_least, at_most });
        }
        if let (Some(at_least), Some(at_most)) = (date(at_least), date(at_most)) {
            return Some(RangeTest::Date { at_least, at_most });
        }
        None
    }

    /// Whether the customer's value of attribute `index` is within the bounds: what
    /// [`AttributeTest::holds`] says of the test this was made from (no value, or one of
    /// another kind, fails; a NaN number compares with no bound).
    #[inline]
    pub(crate) fn holds(&self, index: usize, facts: &Facts<'_>) -> bool {
        let have = facts.attributes.get(index).copied().flatten();
        match (self, have) {
            (RangeTest::Number { at_least, at_most }, Some(Value::Number(x))) => {
                at_least.is_none_or(|lo| *x >= lo) && at_most.is_none_or(|hi| *x <= hi)
            }
            (RangeTest::Date { at_least, at_most }, Some(Value::Date(d))) => {
                at_least.is_none_or(|lo| *d >= lo) && at_most.is_none_or(|hi| *d <= hi)
            }
            _ => false,
        }
    }
}
