//! `Policy::compile`: validation with field paths, and the immutable [`CompiledPolicy`].

use std::collections::HashMap;
use std::num::NonZeroU32;

use chrono::Weekday;
use chrono_tz::Tz;

use super::eligibility::Condition;
use super::offers::{
    compile_offers, compile_scoring, compile_selection, label, Categories, CompiledOffers,
    MAX_NAME_LEN,
};
use super::quiet::{parse_time_of_day, WeekMask};
use super::retention::RetentionTable;
use super::rules::{topic_hash, CapRule, Check, RuleRef, Scope, ScopeKey, SpacingRule};
use super::window::{parse_duration, Window, MAX_WINDOW_SECS};
use super::{CapSpec, Offer, Policy, PreferenceBounds, QuietHoursSpec, Scoring, Selection};
use crate::channel::{kind, Channel, MessageClass, KINDS};
use crate::error::{InputError, PolicyError};
use crate::score::{addend, Parts};

/// The largest cap limit: the ledger keeps up to this many contacts per scope and customer.
const MAX_LIMIT: u32 = 1000;
/// Topic names are short labels.
const MAX_TOPIC_LEN: usize = 64;

/// A validated policy: immutable, `Send + Sync`, cheap to share behind an `Arc`.
///
/// Built by [`Policy::compile`]; nothing on the hot path validates again. Replacing the policy at
/// run time is passing a new `CompiledPolicy` to the ledger calls: the ledger keeps its history.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    source: Policy,
    pub(crate) default_zone: Tz,
    pub(crate) caps: Vec<CapRule>,
    pub(crate) spacings: Vec<SpacingRule>,
    /// `(rule, mask, kinds it covers)` per quiet-hours rule, for explanations.
    pub(crate) quiet_rules: Vec<(RuleRef, WeekMask, [bool; KINDS])>,
    /// Per channel and class: the caps and spacing rules without a topic that apply, and the
    /// union of the quiet masks (an index into `quiet_masks`).
    pub(crate) caps_by_kind: [Vec<Check>; KINDS],
    pub(crate) spacings_by_kind: [Vec<Check>; KINDS],
    /// Per topic key, ascending: the caps and spacing rules scoped to that topic (all kinds).
    /// `caps_by_kind` and `spacings_by_kind` hold only rules without a topic, so that a
    /// judgment never walks other topics' rules (a policy may have one per offer).
    by_topic: Vec<TopicRules>,
    pub(crate) quiet_by_kind: [Option<u16>; KINDS],
    pub(crate) quiet_masks: Vec<WeekMask>,
    pub(crate) retention: RetentionTable,
    pub(crate) preference_max_limit: u32,
    pub(crate) preference_max_reach: u32,
    /// The scopes customers' preferences count in: marketing per channel (by index), then
    /// across channels.
    preference_scopes: [ScopeKey; Channel::COUNT + 1],
    pub(crate) offers: Vec<Offer>,
    /// Every category the offers name, and every list of them an offer has, once.
    pub(crate) categories: Categories,
    /// The distinct leaf tests of the offers' eligibility rules, by id: a decision works each
    /// out at most once.
    pub(crate) leaf_tests: Vec<Condition>,
    /// The same tests, sorted for working them out at once.
    pub(crate) leaf_plan: super::LeafPlan,
    /// The indexes of the fallback offers, in policy order.
    pub(crate) fallbacks: Vec<usize>,
    /// Each offer's screening and scoring constants, packed, in offer order.
    pub(crate) rows: Vec<super::Row>,
    /// The distinct products the offers name, numbered as the rows name them.
    pub(crate) products: super::names::Names,
    /// The offers by id and by topic.
    pub(crate) keys: super::OfferKeys,
    /// Whether any offer has a `valid_from` or a `valid_until` (if not, a decision skips
    /// asking each offer).
    pub(crate) windowed: bool,
    pub(crate) scoring: Scoring,
    pub(crate) selection: Selection,
}

impl CompiledPolicy {
    /// The policy as written.
    pub fn source(&self) -> &Policy {
        &self.source
    }

    /// The time zone used for customers who have none.
    pub fn default_time_zone(&self) -> Tz {
        self.default_zone
    }

    /// The stored key of a topic (0 for none), after checking its length. **O(topic length)**.
    pub(crate) fn topic_key(&self, topic: Option<&str>) -> Result<u16, InputError> {
        let Some(name) = topic else {
            return Ok(0);
        };
        if name.is_empty() || name.len() > MAX_TOPIC_LEN {
            return Err(InputError::BadTopic(name.to_owned()));
        }
        Ok(topic_hash(name))
    }

    /// The caps and spacing rules scoped to `topic` (none for 0). **O(log topics)**.
    pub(crate) fn topic_rules(&self, topic: u16) -> (&[Check], &[Check]) {
        match self.by_topic.binary_search_by_key(&topic, |t| t.topic) {
            Ok(found) if topic != 0 => {
                let rules = &self.by_topic[found];
                (&rules.caps, &rules.spacings)
            }
            _ => (&[], &[]),
        }
    }

    /// The scope a customer's frequency preference on `channel` (all channels: `None`) counts in.
    pub(crate) fn preference_scope(&self, channel: Option<Channel>) -> ScopeKey {
        self.preference_scopes[channel.map_or(Channel::COUNT, Channel::index)]
    }

    /// The longest span of history any rule of this policy looks back over, in seconds.
    pub fn history_horizon_secs(&self) -> u32 {
        self.retention.horizon
    }

    /// Pairs of this policy's topic names (those of its caps, spacing rules and offers; an
    /// offer's topic is its id unless it names one) that share a stored key.
    ///
    /// The ledger stores a contact's topic as a 16-bit key, which keeps a contact at eight
    /// bytes. Two names with the same key count together: more contacts counted, never fewer
    /// (fail closed), so an offer's per-offer cap could hold it back after a send of the other.
    /// Among 500 names, two or three such pairs are to be expected. Give one offer of a pair
    /// its own `topic` to part them. Meant for a check when a policy is deployed, not for the
    /// hot path: **O(t log t)** for `t` topics.
    ///
    /// ```
    /// # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
    /// use cornershop::Policy;
    ///
    /// let policy = Policy::from_toml_str(r#"
    ///     [[caps]]
    ///     topic = "newsletter"
    ///     limit = 1
    ///     window = "7d"
    /// "#)?.compile()?;
    /// assert!(policy.topic_collisions().is_empty());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn topic_collisions(&self) -> Vec<(&str, &str)> {
        let rule_topics = self
            .caps
            .iter()
            .map(|cap| &cap.scope)
            .chain(self.spacings.iter().map(|spacing| &spacing.scope))
            .filter_map(|scope| scope.topic_name.as_deref());
        let offer_topics = self.offers.iter().map(|offer| &*offer.topic);
        let mut keyed: Vec<(u16, &str)> = rule_topics
            .chain(offer_topics)
            .map(|name| (topic_hash(name), name))
            .collect();
        keyed.sort_unstable();
        keyed.dedup();
        let mut pairs = Vec::new();
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            // `chunk_by` never yields an empty group.
            let (first, others) = (group[0].1, &group[1..]);
            pairs.extend(others.iter().map(|&(_, other)| (first, other)));
        }
        pairs
    }
}

/// The caps and spacing rules of one topic, in policy order.
#[derive(Debug, Clone, Default)]
struct TopicRules {
    topic: u16,
    caps: Vec<Check>,
    spacings: Vec<Check>,
}

/// Groups the rules that have a topic by topic key.
fn rules_by_topic(caps: &[CapRule], spacings: &[SpacingRule]) -> Vec<TopicRules> {
    let cap_topics = caps.iter().map(|c| c.scope.key.topic);
    let spacing_topics = spacings.iter().map(|s| s.scope.key.topic);
    let mut topics: Vec<u16> = cap_topics
        .chain(spacing_topics)
        .filter(|t| *t != 0)
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let mut by_topic: Vec<TopicRules> = topics
        .into_iter()
        .map(|topic| TopicRules {
            topic,
            ..TopicRules::default()
        })
        .collect();
    // Rule counts fit in u16: `compile` refuses more than 65535 caps and spacings.
    for (i, cap) in caps.iter().enumerate() {
        if let Ok(at) = by_topic.binary_search_by_key(&cap.scope.key.topic, |t| t.topic) {
            by_topic[at].caps.push(cap.check(i as u16));
        }
    }
    for (i, spacing) in spacings.iter().enumerate() {
        if let Ok(at) = by_topic.binary_search_by_key(&spacing.scope.key.topic, |t| t.topic) {
            by_topic[at].spacings.push(spacing.check(i as u16));
        }
    }
    by_topic
}

/// Marketing per channel, in channel order, then marketing across channels.
fn preference_scopes() -> [ScopeKey; Channel::COUNT + 1] {
    let mut scopes = [ScopeKey::new(MessageClass::Marketing, None, 0); Channel::COUNT + 1];
    for channel in Channel::ALL {
        scopes[channel.index()] = ScopeKey::new(MessageClass::Marketing, Some(channel), 0);
    }
    scopes
}

fn field(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

fn parse_class(path: &str, text: &str) -> Result<MessageClass, PolicyError> {
    text.parse().map_err(|e| PolicyError::new(path, e))
}

fn parse_channel(path: &str, text: &str) -> Result<Channel, PolicyError> {
    text.parse().map_err(|e| PolicyError::new(path, e))
}

fn parse_topic(path: &str, text: &str) -> Result<Box<str>, PolicyError> {
    if text.is_empty() || text.len() > MAX_TOPIC_LEN {
        return Err(PolicyError::new(path, "a topic must be 1 to 64 bytes long"));
    }
    Ok(text.into())
}

fn parse_scope(
    path: &str,
    class: &str,
    channel: Option<&str>,
    topic: Option<&str>,
) -> Result<Scope, PolicyError> {
    let topic_name = topic
        .map(|t| parse_topic(&field(path, "topic"), t))
        .transpose()?;
    Ok(Scope {
        key: ScopeKey::new(
            parse_class(&field(path, "class"), class)?,
            channel
                .map(|c| parse_channel(&field(path, "channel"), c))
                .transpose()?,
            topic_name.as_deref().map_or(0, topic_hash),
        ),
        topic_name,
    })
}

fn rule_ref(path: &str, name: &Option<String>) -> RuleRef {
    RuleRef {
        path: path.to_owned(),
        name: name.clone(),
    }
}

/// Compiles the policy's caps (`caps[i]`) and then those its offers bring (`offers[i].cap`).
fn compile_caps(
    policy: &Policy,
    offer_caps: &[(String, CapSpec)],
) -> Result<Vec<CapRule>, PolicyError> {
    let mut caps: Vec<CapRule> = Vec::with_capacity(policy.caps.len() + offer_caps.len());
    let written = policy
        .caps
        .iter()
        .enumerate()
        .map(|(i, spec)| (format!("caps[{i}]"), spec));
    let from_offers = offer_caps.iter().map(|(path, spec)| (path.clone(), spec));
    for (path, spec) in written.chain(from_offers) {
        let scope = parse_scope(
            &path,
            &spec.class,
            spec.channel.as_deref(),
            spec.topic.as_deref(),
        )?;
        let limit = NonZeroU32::new(spec.limit)
            .ok_or_else(|| PolicyError::new(field(&path, "limit"), "must be greater than zero"))?;
        if spec.limit > MAX_LIMIT {
            return Err(PolicyError::new(
                field(&path, "limit"),
                format!(
                    "{} is more than the largest supported limit, {MAX_LIMIT}",
                    spec.limit
                ),
            ));
        }
        let window: Window = spec
            .window
            .parse()
            .map_err(|e| PolicyError::new(field(&path, "window"), e))?;
        if let Some(earlier) = caps.iter().find(|c| c.scope == scope && c.window == window) {
            let problem = if earlier.limit == limit {
                format!(
                    "repeats {} (same scope, window and limit)",
                    earlier.rule.path
                )
            } else {
                format!(
                    "contradicts {}: same scope ({scope}) and window ({window}) with limit {} vs {}",
                    earlier.rule.path, earlier.limit, limit
                )
            };
            return Err(PolicyError::new(path, problem));
        }
        caps.push(CapRule {
            rule: rule_ref(&path, &spec.name),
            scope,
            limit,
            window,
        });
    }
    Ok(caps)
}

fn compile_spacings(policy: &Policy) -> Result<Vec<SpacingRule>, PolicyError> {
    let mut spacings: Vec<SpacingRule> = Vec::with_capacity(policy.spacing.len());
    for (i, spec) in policy.spacing.iter().enumerate() {
        let path = format!("spacing[{i}]");
        let scope = parse_scope(
            &path,
            &spec.class,
            spec.channel.as_deref(),
            spec.topic.as_deref(),
        )?;
        let min_gap = parse_duration(&spec.min_gap, MAX_WINDOW_SECS)
            .map_err(|e| PolicyError::new(field(&path, "min_gap"), e))?;
        if let Some(earlier) = spacings.iter().find(|s| s.scope == scope) {
            let problem = if earlier.min_gap == min_gap {
                format!("repeats {} (same scope and gap)", earlier.rule.path)
            } else {
                format!(
                    "contradicts {}: same scope ({scope}) with a different min_gap",
                    earlier.rule.path
                )
            };
            return Err(PolicyError::new(path, problem));
        }
        spacings.push(SpacingRule {
            rule: rule_ref(&path, &spec.name),
            scope,
            min_gap,
        });
    }
    Ok(spacings)
}

fn parse_list<T>(
    path: &str,
    items: &[String],
    parse: impl Fn(&str, &str) -> Result<T, PolicyError>,
) -> Result<Vec<T>, PolicyError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(&format!("{path}[{i}]"), item))
        .collect()
}

fn compile_quiet_rule(
    path: &str,
    spec: &QuietHoursSpec,
) -> Result<(RuleRef, WeekMask, [bool; KINDS]), PolicyError> {
    let start = parse_time_of_day(&spec.start, false)
        .map_err(|e| PolicyError::new(field(path, "start"), e))?;
    let end =
        parse_time_of_day(&spec.end, true).map_err(|e| PolicyError::new(field(path, "end"), e))?;
    if start == end {
        return Err(PolicyError::new(
            field(path, "end"),
            "is the same as start, so the window is empty (write \"00:00\" to \"24:00\" for a whole day)",
        ));
    }
    let days = match &spec.days {
        None => vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ],
        Some(days) if days.is_empty() => {
            return Err(PolicyError::new(
                field(path, "days"),
                "must name at least one weekday (omit it for every day)",
            ))
        }
        Some(days) => parse_list(&field(path, "days"), days, |p, d| {
            d.parse::<Weekday>().map_err(|_| {
                PolicyError::new(p, format!("{d:?} is not a weekday (\"mon\" … \"sun\")"))
            })
        })?,
    };
    let channels = match &spec.channels {
        None => Channel::ALL.to_vec(),
        Some(channels) if channels.is_empty() => {
            return Err(PolicyError::new(
                field(path, "channels"),
                "must name at least one channel (omit it for every channel)",
            ))
        }
        Some(channels) => parse_list(&field(path, "channels"), channels, parse_channel)?,
    };
    if spec.classes.is_empty() {
        return Err(PolicyError::new(
            field(path, "classes"),
            "must name at least one class (omit it for marketing)",
        ));
    }
    let classes = parse_list(&field(path, "classes"), &spec.classes, parse_class)?;
    let mut kinds = [false; KINDS];
    for channel in &channels {
        for class in &classes {
            kinds[usize::from(kind(*channel, *class))] = true;
        }
    }
    Ok((
        rule_ref(path, &spec.name),
        WeekMask::window(start, end, &days),
        kinds,
    ))
}

fn compile_preferences(bounds: &PreferenceBounds) -> Result<(u32, u32), PolicyError> {
    if bounds.max_limit > MAX_LIMIT {
        return Err(PolicyError::new(
            "preferences.max_limit",
            format!(
                "{} is more than the largest supported limit, {MAX_LIMIT}",
                bounds.max_limit
            ),
        ));
    }
    let reach = parse_duration(&bounds.max_window, MAX_WINDOW_SECS)
        .map_err(|e| PolicyError::new("preferences.max_window", e))?;
    Ok((bounds.max_limit, reach.get()))
}

pub(super) fn compile(policy: &Policy) -> Result<CompiledPolicy, PolicyError> {
    let default_zone: Tz = policy.time_zone.parse().map_err(|_| {
        PolicyError::new(
            "time_zone",
            format!("{:?} is not an IANA time zone name", policy.time_zone),
        )
    })?;
    let scoring = compile_scoring(&policy.scoring)?;
    let (selection, default_cooldown) = compile_selection(&policy.selection)?;
    for name in policy.attributes.keys() {
        label(&format!("attributes.{name:?}"), name, MAX_NAME_LEN)?;
    }
    let CompiledOffers {
        mut offers,
        caps: offer_caps,
        leaf_tests,
        categories,
    } = compile_offers(&policy.offers, &policy.attributes, default_cooldown)?;
    for offer in &mut offers {
        offer.value_addend = addend(Parts::value(&scoring.spec, offer.value));
        offer.priority_addend = addend(Parts::priority(&scoring.spec, offer.priority));
    }
    let caps = compile_caps(policy, &offer_caps)?;
    let spacings = compile_spacings(policy)?;
    if caps.len() + spacings.len() > usize::from(u16::MAX) {
        return Err(PolicyError::new(
            "caps",
            "too many rules (at most 65535 caps and spacings)",
        ));
    }
    let quiet_rules = policy
        .quiet_hours
        .iter()
        .enumerate()
        .map(|(i, spec)| compile_quiet_rule(&format!("quiet_hours[{i}]"), spec))
        .collect::<Result<Vec<_>, _>>()?;
    let (preference_max_limit, preference_max_reach) = compile_preferences(&policy.preferences)?;

    let mut caps_by_kind: [Vec<Check>; KINDS] = Default::default();
    let mut spacings_by_kind: [Vec<Check>; KINDS] = Default::default();
    let mut quiet_by_kind: [Option<u16>; KINDS] = [None; KINDS];
    let mut quiet_masks: Vec<WeekMask> = Vec::new();
    let mut mask_ids: HashMap<Vec<usize>, u16> = HashMap::new();
    for channel in Channel::ALL {
        for class in MessageClass::ALL {
            let s = usize::from(kind(channel, class));
            let applies = |scope: &Scope| {
                scope.key.topic == 0
                    && scope.key.class == class
                    && scope.key.channel.is_none_or(|c| c == channel)
            };
            // Rule counts are bounded by the policy text; u16 indexes cover any sane policy.
            caps_by_kind[s] = (0..caps.len())
                .filter(|&i| applies(&caps[i].scope))
                .map(|i| caps[i].check(i as u16))
                .collect();
            spacings_by_kind[s] = (0..spacings.len())
                .filter(|&i| applies(&spacings[i].scope))
                .map(|i| spacings[i].check(i as u16))
                .collect();
            let covering: Vec<usize> = (0..quiet_rules.len())
                .filter(|&i| quiet_rules[i].2[s])
                .collect();
            if covering.is_empty() {
                continue;
            }
            let id = match mask_ids.get(&covering) {
                Some(id) => *id,
                None => {
                    let mut mask = WeekMask::empty();
                    for &i in &covering {
                        mask.union_with(&quiet_rules[i].1);
                    }
                    if mask.is_full() {
                        return Err(PolicyError::new(
                            "quiet_hours",
                            format!(
                                "{class} on {channel} is quiet every minute of the week, so it could never be sent"
                            ),
                        ));
                    }
                    let id = quiet_masks.len() as u16;
                    quiet_masks.push(mask);
                    mask_ids.insert(covering, id);
                    id
                }
            };
            quiet_by_kind[s] = Some(id);
        }
    }

    let by_topic = rules_by_topic(&caps, &spacings);
    let needs = caps
        .iter()
        .map(|c| (c.scope.key, c.limit.get(), c.window.reach_secs()))
        .chain(spacings.iter().map(|s| (s.scope.key, 1, s.min_gap.get())));
    let preference_scopes = preference_scopes();
    let preference_needs = preference_scopes
        .into_iter()
        .map(|scope| (scope, preference_max_limit, preference_max_reach))
        .filter(|_| preference_max_limit > 0);
    let retention = RetentionTable::new(needs.chain(preference_needs))?;
    let fallbacks = offers
        .iter()
        .enumerate()
        .filter_map(|(index, offer)| offer.fallback.then_some(index))
        .collect();
    let windowed = offers
        .iter()
        .any(|offer| offer.valid_from.is_some() || offer.valid_until.is_some());
    let (rows, products) = super::rows::rows(&offers);
    let keys = super::OfferKeys::of(&offers);
    let leaf_plan = super::LeafPlan::of(&leaf_tests);
    Ok(CompiledPolicy {
        leaf_plan,
        rows,
        products,
        keys,
        preference_scopes,
        fallbacks,
        windowed,
        offers,
        categories,
        leaf_tests,
        scoring,
        selection,
        source: policy.clone(),
        default_zone,
        caps,
        spacings,
        quiet_rules,
        caps_by_kind,
        spacings_by_kind,
        by_topic,
        quiet_by_kind,
        quiet_masks,
        retention,
        preference_max_limit,
        preference_max_reach,
    })
}
