//! A compiled rule in words, as explanations quote it.

use std::fmt;

use super::{Activity, AttributeTest, Condition};
use crate::context::Value;

fn value_text(value: &Value) -> String {
    match value {
        Value::Text(t) => format!("{t:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.to_string(),
        Value::List(items) => format!("{items:?}"),
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
