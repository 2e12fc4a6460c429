//! Offers, scoring weights and selection settings: as written, and compiled.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};

use super::eligibility::{compile_condition, Condition, ConditionSpec};
use super::keys::OfferKeys;
use super::leaves::Quick;
use super::names::Names;
use super::window::{parse_duration, MAX_WINDOW_SECS};
use super::CapSpec;
use crate::channel::Channel;
use crate::context::ValueKind;
use crate::error::PolicyError;
use crate::time::Stamp;

/// An offer as written in the policy (`[[offers]]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OfferSpec {
    /// A unique id (1 to 64 bytes).
    pub id: String,
    /// Categories the offer belongs to (`"footwear"`): affinity, diversity and "never" use them.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Free tags, carried into decisions.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Channels the offer can go out on (all if omitted).
    #[serde(default)]
    pub channels: Vec<String>,
    /// The offer's value to the customer (a discount, a gift's worth), scored with
    /// `scoring.value`.
    #[serde(default)]
    pub value: f64,
    /// The business's priority lever, scored with `scoring.priority`.
    #[serde(default)]
    pub priority: f64,
    /// Not offered before this time (RFC 3339: a string, or a TOML date-time).
    #[serde(default, deserialize_with = "optional_time")]
    pub valid_from: Option<DateTime<Utc>>,
    /// Not offered after this time; a deferred send never goes past it.
    #[serde(default, deserialize_with = "optional_time")]
    pub valid_until: Option<DateTime<Utc>>,
    /// The product it promotes: not offered to someone who bought it within
    /// `selection.skip_bought_within`.
    #[serde(default)]
    pub product: Option<String>,
    /// The moment it celebrates (`"birthday"`): scored with the moment boost as it nears.
    #[serde(default)]
    pub moment: Option<String>,
    /// The ledger topic its contacts count under (the offer's id if omitted). Topic caps and
    /// the customer's topic unsubscribes apply to it.
    #[serde(default)]
    pub topic: Option<String>,
    /// Who the offer is for; everyone if omitted.
    #[serde(default)]
    pub eligibility: Option<ConditionSpec>,
    /// At most `limit` contacts with this offer per `window` for one customer.
    #[serde(default)]
    pub cap: Option<OfferCapSpec>,
    /// How long after a dismissal or negative feedback the offer rests
    /// (`selection.cooldown` if omitted).
    #[serde(default)]
    pub cooldown: Option<String>,
    /// Used only when no other offer qualifies.
    #[serde(default)]
    pub fallback: bool,
}

/// Reads an RFC 3339 time written as a string, or as a TOML date-time (which reaches serde as
/// a one-entry map holding its text).
fn optional_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Wrapped(std::collections::BTreeMap<String, String>),
    }
    let text = match Option::<Written>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Written::Text(text)) => text,
        Some(Written::Wrapped(map)) if map.len() == 1 => {
            map.into_values().next().unwrap_or_default()
        }
        Some(Written::Wrapped(_)) => {
            return Err(serde::de::Error::custom(
                "expected an RFC 3339 date and time",
            ))
        }
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not an RFC 3339 date and time: {e}"))
        })
}

/// A per-offer cap: `limit` contacts per `window` (rolling or calendar, as for caps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferCapSpec {
    /// At most this many contacts with the offer…
    pub limit: u32,
    /// …per this window (`"30d"`, `"calendar month"`).
    pub window: String,
}

/// The weights of the built-in score (see the README for the formula).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ScoringSpec {
    /// The half-life of category affinity and feedback (`"30d"`).
    pub half_life: String,
    /// Weight of category affinity, `ln(1 + purchases·purchase_signal + views·view_signal)`
    /// over the offer's categories, decayed.
    pub affinity: f64,
    /// What one purchase adds to affinity.
    pub purchase_signal: f64,
    /// What one view adds to affinity.
    pub view_signal: f64,
    /// Weight of a favourite category among the offer's.
    pub favourite: f64,
    /// Weight of the offer's value.
    pub value: f64,
    /// Weight of the offer's priority lever.
    pub priority: f64,
    /// The moment boost at the day itself; it fades linearly to 0 over `moment_days`.
    pub moment: f64,
    /// How many days ahead a moment starts to boost.
    pub moment_days: u32,
    /// Bonus when the channel is the customer's preferred one.
    pub preferred_channel: f64,
    /// Penalty per unit of decayed negative feedback on the offer or its categories.
    pub negative_feedback: f64,
    /// Penalty per marketing contact in `fatigue_window`.
    pub fatigue: f64,
    /// How far back contacts count for fatigue.
    pub fatigue_window: String,
    /// Penalty per contact on the channel ignored since the customer's latest open or click
    /// there (`Summary::ignored_streak`).
    pub ignored: f64,
}

impl Default for ScoringSpec {
    fn default() -> Self {
        ScoringSpec {
            half_life: "30d".to_owned(),
            affinity: 1.0,
            purchase_signal: 1.0,
            view_signal: 0.25,
            favourite: 0.5,
            value: 0.02,
            priority: 1.0,
            moment: 3.0,
            moment_days: 7,
            preferred_channel: 0.3,
            negative_feedback: 1.0,
            fatigue: 0.15,
            fatigue_window: "7d".to_owned(),
            ignored: 0.2,
        }
    }
}

/// How picks are chosen among scored offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SelectionSpec {
    /// At most this many picks share a category (diversity).
    pub max_per_category: u32,
    /// Skip offers for a product bought this recently (`"30d"`); `""` to never skip.
    pub skip_bought_within: String,
    /// How long an offer rests after a dismissal or negative feedback, unless it says.
    pub cooldown: String,
}

impl Default for SelectionSpec {
    fn default() -> Self {
        SelectionSpec {
            max_per_category: 1,
            skip_bought_within: "30d".to_owned(),
            cooldown: "14d".to_owned(),
        }
    }
}

/// A validated offer. What a decision hands out (the id, the categories and tags in a pick,
/// the names in a stop) is shared, not copied: cloning one is a reference count.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) id: Arc<str>,
    pub(crate) categories: Arc<[String]>,
    /// The categories as indexes into [`Categories::names`].
    pub(crate) category_ids: Vec<usize>,
    /// Which of the distinct category lists ([`Categories::sets`]) the offer has.
    pub(crate) category_set: usize,
    /// A bit per category id below 64 among `category_ids`.
    pub(crate) category_mask: u64,
    /// Every category id is below 64 (in `category_mask`).
    pub(crate) categories_masked: bool,
    pub(crate) tags: Arc<[String]>,
    /// A bit per channel the offer can use.
    pub(crate) channels: u8,
    pub(crate) value: f64,
    pub(crate) priority: f64,
    /// The built-in score's value and priority parts under the policy's weights, as its total
    /// adds them ([`crate::score::addend`]): set by `compile`, once the weights are known.
    pub(crate) value_addend: f64,
    pub(crate) priority_addend: f64,
    pub(crate) valid_from: Option<Stamp>,
    pub(crate) valid_until: Option<Stamp>,
    pub(crate) product: Option<Arc<str>>,
    pub(crate) moment: Option<String>,
    pub(crate) topic: Arc<str>,
    pub(crate) eligibility: Option<Condition>,
    /// The shape of `eligibility` a decision checks fastest.
    pub(crate) quick: Quick,
    pub(crate) cooldown: u32,
    pub(crate) fallback: bool,
}

/// Validated scoring weights, durations in seconds.
#[derive(Debug, Clone)]
pub(crate) struct Scoring {
    pub(crate) spec: ScoringSpec,
    pub(crate) half_life: u32,
    pub(crate) fatigue_window: u32,
}

/// Validated selection settings.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) max_per_category: u32,
    pub(crate) skip_bought_within: Option<u32>,
}

/// Names (categories, products, moments, segments) are short labels.
pub(super) const MAX_NAME_LEN: usize = 128;

/// A policy duration (`"30d"`) in seconds, or an error at `path`.
pub(super) fn duration(path: &str, text: &str) -> Result<u32, PolicyError> {
    parse_duration(text, MAX_WINDOW_SECS)
        .map(|d| d.get())
        .map_err(|e| PolicyError::new(path, e))
}

/// Checks that a name or id at `path` is 1 to `max` bytes long.
pub(super) fn label(path: &str, text: &str, max: usize) -> Result<(), PolicyError> {
    if text.is_empty() || text.len() > max {
        return Err(PolicyError::new(
            path,
            format!("must be 1 to {max} bytes long"),
        ));
    }
    Ok(())
}

fn finite(path: &str, number: f64) -> Result<f64, PolicyError> {
    if number.is_finite() {
        Ok(number)
    } else {
        Err(PolicyError::new(path, "must be a finite number"))
    }
}

pub(crate) fn compile_scoring(spec: &ScoringSpec) -> Result<Scoring, PolicyError> {
    let weights = [
        ("affinity", spec.affinity),
        ("purchase_signal", spec.purchase_signal),
        ("view_signal", spec.view_signal),
        ("favourite", spec.favourite),
        ("value", spec.value),
        ("priority", spec.priority),
        ("moment", spec.moment),
        ("preferred_channel", spec.preferred_channel),
        ("negative_feedback", spec.negative_feedback),
        ("fatigue", spec.fatigue),
        ("ignored", spec.ignored),
    ];
    for (name, weight) in weights {
        finite(&format!("scoring.{name}"), weight)?;
    }
    for (name, signal) in [
        ("purchase_signal", spec.purchase_signal),
        ("view_signal", spec.view_signal),
    ] {
        if signal < 0.0 {
            return Err(PolicyError::new(
                format!("scoring.{name}"),
                "must not be negative",
            ));
        }
    }
    Ok(Scoring {
        spec: spec.clone(),
        half_life: duration("scoring.half_life", &spec.half_life)?,
        fatigue_window: duration("scoring.fatigue_window", &spec.fatigue_window)?,
    })
}

pub(crate) fn compile_selection(spec: &SelectionSpec) -> Result<(Selection, u32), PolicyError> {
    if spec.max_per_category == 0 {
        return Err(PolicyError::new(
            "selection.max_per_category",
            "must be at least 1",
        ));
    }
    let skip = if spec.skip_bought_within.is_empty() {
        None
    } else {
        Some(duration(
            "selection.skip_bought_within",
            &spec.skip_bought_within,
        )?)
    };
    Ok((
        Selection {
            max_per_category: spec.max_per_category,
            skip_bought_within: skip,
        },
        duration("selection.cooldown", &spec.cooldown)?,
    ))
}

/// Every category the offers and their `bought` / `viewed` rules name, and every distinct list
/// of categories an offer has, once: a decision looks each category up in the customer's
/// summary once, and sums each list once, not once per offer or rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Categories {
    /// The categories, in the order the offers and rules first name them (`Offer::category_ids`,
    /// and the rules' own indexes).
    pub(crate) names: Names,
    /// How many distinct category lists (same categories in the same order) the offers have;
    /// `Offer::category_set` is below it.
    pub(crate) sets: usize,
}

/// The validated offers, with what they bring to the rest of the policy.
pub(crate) struct CompiledOffers {
    pub(crate) offers: Vec<Offer>,
    /// The distinct leaf tests of the offers' eligibility rules, by the id they are numbered
    /// with.
    pub(crate) leaf_tests: Vec<Condition>,
    /// Each offer's cap, as a cap spec with its path (`offers[i].cap`).
    pub(crate) caps: Vec<(String, CapSpec)>,
    pub(crate) categories: Categories,
    /// The offers by id and by topic.
    pub(crate) keys: OfferKeys,
}

/// Validates the offers.
pub(crate) fn compile_offers(
    specs: &[OfferSpec],
    attributes: &IndexMap<String, ValueKind>,
    default_cooldown: u32,
) -> Result<CompiledOffers, PolicyError> {
    let mut offers: Vec<Offer> = Vec::with_capacity(specs.len());
    let mut caps = Vec::new();
    let mut categories = Names::default();
    let mut sets: IndexSet<Vec<usize>> = IndexSet::new();
    let mut keys = OfferKeys::default();
    for (i, spec) in specs.iter().enumerate() {
        let path = format!("offers[{i}]");
        let field = |name: &str| format!("{path}.{name}");
        label(&field("id"), &spec.id, 64)?;
        let id: Arc<str> = spec.id.as_str().into();
        if let Err(earlier) = keys.add_id(&id) {
            return Err(PolicyError::new(
                field("id"),
                format!("{:?} is already the id of offers[{earlier}]", spec.id),
            ));
        }
        for (j, category) in spec.categories.iter().enumerate() {
            label(&format!("{path}.categories[{j}]"), category, MAX_NAME_LEN)?;
        }
        let mut channels = 0u8;
        if spec.channels.is_empty() {
            channels = (1 << Channel::COUNT) - 1;
        }
        for (j, name) in spec.channels.iter().enumerate() {
            let channel: Channel = name
                .parse()
                .map_err(|e| PolicyError::new(format!("{path}.channels[{j}]"), e))?;
            channels |= 1 << channel.index();
        }
        let stamp = |name: &str, time: Option<DateTime<Utc>>| {
            time.map(|t| Stamp::from_utc(t).map_err(|e| PolicyError::new(field(name), e)))
                .transpose()
        };
        let valid_from = stamp("valid_from", spec.valid_from)?;
        let valid_until = stamp("valid_until", spec.valid_until)?;
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            if until < from {
                return Err(PolicyError::new(
                    field("valid_until"),
                    "is before valid_from, so the offer is never valid",
                ));
            }
        }
        let topic = spec.topic.clone().unwrap_or_else(|| spec.id.clone());
        label(&field("topic"), &topic, 64)?;
        if let Some(product) = &spec.product {
            label(&field("product"), product, MAX_NAME_LEN)?;
        }
        if let Some(moment) = &spec.moment {
            label(&field("moment"), moment, MAX_NAME_LEN)?;
        }
        let eligibility = spec
            .eligibility
            .as_ref()
            .map(|c| compile_condition(&field("eligibility"), c, attributes, &mut categories))
            .transpose()?;
        let cooldown = match &spec.cooldown {
            Some(text) => duration(&field("cooldown"), text)?,
            None => default_cooldown,
        };
        if let Some(cap) = &spec.cap {
            caps.push((
                field("cap"),
                CapSpec {
                    name: Some(format!("offer {}", spec.id)),
                    class: "marketing".to_owned(),
                    channel: None,
                    topic: Some(topic.clone()),
                    limit: cap.limit,
                    window: cap.window.clone(),
                },
            ));
        }
        let category_ids: Vec<usize> = spec
            .categories
            .iter()
            .map(|c| categories.insert(c))
            .collect();
        let category_set = sets.insert_full(category_ids.clone()).0;
        let bit = |id: &usize| u32::try_from(*id).ok().and_then(|id| 1u64.checked_shl(id));
        let category_mask = category_ids
            .iter()
            .filter_map(bit)
            .fold(0, |mask, b| mask | b);
        let categories_masked = category_ids.iter().all(|id| bit(id).is_some());
        let topic: Arc<str> = topic.into();
        keys.add_topic(&topic, i);
        offers.push(Offer {
            id,
            categories: spec.categories.as_slice().into(),
            category_ids,
            category_set,
            category_mask,
            categories_masked,
            tags: spec.tags.as_slice().into(),
            channels,
            value: finite(&field("value"), spec.value)?,
            priority: finite(&field("priority"), spec.priority)?,
            value_addend: 0.0,
            priority_addend: 0.0,
            valid_from,
            valid_until,
            product: spec.product.as_deref().map(Arc::from),
            moment: spec.moment.clone(),
            topic,
            eligibility,
            quick: Quick::Nested,
            cooldown,
            fallback: spec.fallback,
        });
    }
    let mut leaf_tests = Vec::new();
    for offer in &mut offers {
        if let Some(rule) = &mut offer.eligibility {
            rule.number_leaves(&mut leaf_tests);
            offer.quick = Quick::of(rule);
        }
    }
    Ok(CompiledOffers {
        offers,
        keys,
        caps,
        leaf_tests,
        categories: Categories {
            names: categories,
            sets: sets.len(),
        },
    })
}
