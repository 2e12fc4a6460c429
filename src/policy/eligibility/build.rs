//! Validation of a written rule into a [`Condition`]: attribute names resolved to the
//! declaration order, literals typed, each node's path and words recorded.

use chrono::NaiveDate;
use indexmap::IndexMap;

use super::{Activity, AttributeTest, Condition, ConditionSpec, FailedRule, Literal};
use crate::context::{Value, ValueKind};
use crate::error::PolicyError;
use crate::policy::leaves::NO_LEAF;
use crate::policy::offers::{duration, label, MAX_NAME_LEN};

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => n.to_string(),
        Literal::Text(t) => format!("{t:?}"),
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
    categories: &mut crate::policy::names::Names,
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
                let (at_least, at_most) = (
                    bound("at_least", &spec.at_least)?,
                    bound("at_most", &spec.at_most)?,
                );
                if let (Some(lo), Some(hi)) = (&at_least, &at_most) {
                    if super::compare(lo, hi) == Some(std::cmp::Ordering::Greater) {
                        return Err(PolicyError::new(
                            field("at_most"),
                            "is below at_least: the rule could never hold",
                        ));
                    }
                }
                AttributeTest::Range { at_least, at_most }
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
            if let (Some(lo), Some(hi)) =
                (spec.lifetime_value_at_least, spec.lifetime_value_at_most)
            {
                if lo > hi {
                    return Err(PolicyError::new(
                        format!("{path}.lifetime_value_at_most"),
                        format!(
                            "{hi} is below lifetime_value_at_least ({lo}): the rule could never hold"
                        ),
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
