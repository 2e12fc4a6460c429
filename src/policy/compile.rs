//! `Policy::compile`: validation with field paths into a [`CompiledPolicy`].

use std::collections::HashMap;
use std::num::NonZeroU32;

use chrono::Weekday;
use chrono_tz::Tz;

use super::compiled::{
    preference_scopes, rules_by_topic, topic_slots, CompiledPolicy, MAX_TOPIC_LEN,
};
use super::offers::{
    compile_offers, compile_scoring, compile_selection, label, CompiledOffers, MAX_NAME_LEN,
};
use super::quiet::{parse_time_of_day, WeekMask};
use super::retention::RetentionTable;
use super::rules::{topic_hash, CapRule, Checks, RuleRef, Scope, ScopeKey, SpacingRule};
use super::window::{parse_duration, Window, MAX_WINDOW_SECS};
use super::{CapSpec, Policy, PreferenceBounds, QuietHoursSpec};
use crate::channel::{kind, Channel, MessageClass, KINDS};
use crate::error::PolicyError;
use crate::score::{addend, Parts};

/// The largest cap limit: the ledger keeps up to this many contacts per scope and customer.
const MAX_LIMIT: u32 = 1000;

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
        keys,
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

    let mut checks_by_kind: [Checks; KINDS] = Default::default();
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
            checks_by_kind[s] = Checks::new(
                (0..caps.len())
                    .filter(|&i| applies(&caps[i].scope))
                    .map(|i| caps[i].check(i as u16))
                    .collect(),
                (0..spacings.len())
                    .filter(|&i| applies(&spacings[i].scope))
                    .map(|i| spacings[i].check(i as u16))
                    .collect(),
            );
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
    let leaf_plan = super::LeafPlan::of(&leaf_tests);
    // The names' hash in order: equal for policies that number every name alike.
    let names_fingerprint =
        crate::context::names_hash(&mut [&mut categories.names.iter(), &mut products.iter()]);
    Ok(CompiledPolicy {
        leaf_plan,
        rows,
        names_fingerprint,
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
        checks_by_kind,
        topic_slots: topic_slots(&by_topic),
        by_topic,
        quiet_by_kind,
        quiet_masks,
        retention,
        preference_max_limit,
        preference_max_reach,
    })
}
