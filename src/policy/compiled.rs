//! The immutable [`CompiledPolicy`] and what its judgments ask of it.

use std::collections::HashMap;

use chrono_tz::Tz;
use smallvec::SmallVec;

use super::eligibility::Condition;
use super::offers::Categories;
use super::quiet::WeekMask;
use super::retention::RetentionTable;
use super::rules::{
    fold_key, topic_hash, topic_hash64, CapRule, Check, Checks, RuleRef, Scope, ScopeKey,
    SpacingRule,
};
use super::slots::{self, Slots};
use super::{Offer, Policy, Scoring, Selection};
use crate::channel::{Channel, MessageClass, KINDS};
use crate::context::Numbering;
use crate::error::InputError;

/// Topic names are short labels.
pub(super) const MAX_TOPIC_LEN: usize = 64;

/// A validated policy: immutable, `Send + Sync`, cheap to share behind an `Arc`.
///
/// Built by [`Policy::compile`]; nothing on the hot path validates again. Replacing the policy at
/// run time is passing a new `CompiledPolicy` to the ledger calls: the ledger keeps its history.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(super) source: Policy,
    pub(crate) default_zone: Tz,
    pub(crate) caps: Vec<CapRule>,
    pub(crate) spacings: Vec<SpacingRule>,
    /// `(rule, mask, kinds it covers)` per quiet-hours rule, for explanations.
    pub(crate) quiet_rules: Vec<(RuleRef, WeekMask, [bool; KINDS])>,
    /// Per channel and class: the caps and spacing rules without a topic that apply, and the
    /// union of the quiet masks (an index into `quiet_masks`).
    pub(crate) checks_by_kind: [Checks; KINDS],
    /// Per topic key, ascending: the caps and spacing rules scoped to that topic (all kinds).
    /// `checks_by_kind` holds only rules without a topic, so that a judgment never walks other
    /// topics' rules (a policy may have one per offer).
    pub(super) by_topic: Vec<TopicRules>,
    /// `by_topic`'s keys, a slot each (`None`: found by binary search).
    pub(super) topic_slots: Option<Slots>,
    pub(crate) quiet_by_kind: [Option<u16>; KINDS],
    pub(crate) quiet_masks: Vec<WeekMask>,
    pub(crate) retention: RetentionTable,
    pub(crate) preference_max_limit: u32,
    pub(crate) preference_max_reach: u32,
    /// The scopes customers' preferences count in: marketing per channel (by index), then
    /// across channels.
    pub(super) preference_scopes: [ScopeKey; Channel::COUNT + 1],
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
    /// The [`names_hash`](crate::context::names_hash) of the categories' and products' names,
    /// in number order: the fingerprint customers' summaries are bound to ([`Numbering`]).
    pub(crate) names_fingerprint: u64,
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
        Ok(self.topic_identity(topic)?.0)
    }

    /// A topic's stored key and the full hash it is folded from (`(0, 0)` for none), after
    /// checking its length. **O(topic length)**.
    pub(crate) fn topic_identity(&self, topic: Option<&str>) -> Result<(u16, u64), InputError> {
        let Some(name) = topic else {
            return Ok((0, 0));
        };
        if name.is_empty() || name.len() > MAX_TOPIC_LEN {
            return Err(InputError::BadTopic(name.to_owned()));
        }
        let hash = topic_hash64(name);
        Ok((fold_key(hash), hash))
    }

    /// The caps and spacing rules scoped to the topic whose full hash is `hash` and stored key
    /// `key` (none for 0). A topic no rule names, whose key happens to be a ruled topic's,
    /// gets none: another topic's rules do not judge it (its contacts, stored under the shared
    /// key, still count for that topic: fail closed). **O(1)**: its slot (past 64 topics, or
    /// if no slots were found for them, a binary search: **O(log topics)**).
    pub(crate) fn topic_rules(&self, key: u16, hash: u64) -> &Checks {
        let found = slots::position(self.topic_slots.as_ref(), &self.by_topic, key, |t| t.topic);
        match found.and_then(|at| self.by_topic.get(at)) {
            Some(topic) if key != 0 && topic.hashes.contains(&hash) => &topic.checks,
            _ => &NO_CHECKS,
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

    /// Whether a ledger that kept history under this policy holds everything `next` counts,
    /// so that `next` judges exactly from its first call: for every scope `next` counts (each
    /// rule's, and the customers' preferences'), this policy keeps the same scope at least as
    /// many contacts back and at least as far back. **O(scopes)**.
    ///
    /// When it does not, replacing this policy by `next` may undercount (fail open) until
    /// `next`'s longest window has passed: the ledger keeps what the policy in use can count,
    /// and cannot count what an earlier policy let go. Check before switching; to lengthen a
    /// window safely, run a policy that keeps both for that long first.
    ///
    /// The answer assumes the ledger's history under this policy is itself whole: after a
    /// switch to this policy that was not exact, `true` holds only once this policy's longest
    /// window has passed. `false` is cautious: a broader scope of this policy that happens to
    /// keep enough is not credited.
    ///
    /// ```
    /// # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
    /// use cornershop::Policy;
    ///
    /// let weekly = Policy::from_toml_str("[[caps]]\nchannel = \"email\"\nlimit = 1\nwindow = \"7d\"")?.compile()?;
    /// let bimonthly = Policy::from_toml_str("[[caps]]\nchannel = \"email\"\nlimit = 7\nwindow = \"60d\"")?.compile()?;
    /// assert!(bimonthly.keeps_history_for(&weekly));
    /// assert!(!weekly.keeps_history_for(&bimonthly));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keeps_history_for(&self, next: &CompiledPolicy) -> bool {
        let kept: HashMap<ScopeKey, (u32, u32)> = self
            .retention
            .rules
            .iter()
            .map(|rule| (rule.scope, (rule.keep, rule.reach)))
            .collect();
        next.retention.rules.iter().all(|need| {
            kept.get(&need.scope)
                .is_some_and(|&(keep, reach)| keep >= need.keep && reach >= need.reach)
        })
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

/// The rules of a topic without any.
static NO_CHECKS: Checks = Checks::NONE;

/// The caps and spacing rules of one topic key, in policy order.
#[derive(Debug, Clone, Default)]
pub(super) struct TopicRules {
    topic: u16,
    /// The full hashes ([`topic_hash64`]) of the names these rules give the topic: one, unless
    /// two names share the key (and so count together, see
    /// [`CompiledPolicy::topic_collisions`]).
    hashes: SmallVec<[u64; 1]>,
    checks: Checks,
}

/// The slots of `by_topic`'s keys ([`CompiledPolicy::topic_rules`]).
pub(super) fn topic_slots(by_topic: &[TopicRules]) -> Option<Slots> {
    slots::of_sorted(by_topic, |t| t.topic)
}

/// Groups the rules that have a topic by topic key.
pub(super) fn rules_by_topic(caps: &[CapRule], spacings: &[SpacingRule]) -> Vec<TopicRules> {
    let cap_topics = caps.iter().map(|c| c.scope.key.topic);
    let spacing_topics = spacings.iter().map(|s| s.scope.key.topic);
    let mut topics: Vec<u16> = cap_topics
        .chain(spacing_topics)
        .filter(|t| *t != 0)
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let mut by_topic: Vec<(TopicRules, Vec<Check>, Vec<Check>)> = topics
        .into_iter()
        .map(|topic| {
            let rules = TopicRules {
                topic,
                ..TopicRules::default()
            };
            (rules, Vec::new(), Vec::new())
        })
        .collect();
    let add_name = |rules: &mut TopicRules, scope: &Scope| {
        if let Some(name) = &scope.topic_name {
            let hash = topic_hash64(name);
            if !rules.hashes.contains(&hash) {
                rules.hashes.push(hash);
            }
        }
    };
    // Rule counts fit in u16: `compile` refuses more than 65535 caps and spacings.
    for (i, cap) in caps.iter().enumerate() {
        if let Ok(at) = by_topic.binary_search_by_key(&cap.scope.key.topic, |t| t.0.topic) {
            add_name(&mut by_topic[at].0, &cap.scope);
            by_topic[at].1.push(cap.check(i as u16));
        }
    }
    for (i, spacing) in spacings.iter().enumerate() {
        if let Ok(at) = by_topic.binary_search_by_key(&spacing.scope.key.topic, |t| t.0.topic) {
            add_name(&mut by_topic[at].0, &spacing.scope);
            by_topic[at].2.push(spacing.check(i as u16));
        }
    }
    by_topic
        .into_iter()
        .map(|(rules, caps, spacings)| TopicRules {
            checks: Checks::new(caps, spacings),
            ..rules
        })
        .collect()
}

/// Marketing per channel, in channel order, then marketing across channels.
pub(super) fn preference_scopes() -> [ScopeKey; Channel::COUNT + 1] {
    let mut scopes = [ScopeKey::new(MessageClass::Marketing, None, 0); Channel::COUNT + 1];
    for channel in Channel::ALL {
        scopes[channel.index()] = ScopeKey::new(MessageClass::Marketing, Some(channel), 0);
    }
    scopes
}

#[cfg(all(test, feature = "toml"))] // The test writes its policy in TOML.
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::topic_hash;
    use crate::{
        Attempt, Channel, Consent, ContactLedger, Customer, IfBlocked, MemoryLedger, Policy,
        Verdict,
    };

    #[test]
    fn a_topic_no_rule_names_is_not_judged_by_a_rule_whose_key_it_shares() {
        let policy = Policy::from_toml_str(
            "[[caps]]\nname = \"one newsletter a week\"\ntopic = \"newsletter\"\nlimit = 1\nwindow = \"7d\"",
        )
        .and_then(|p| p.compile())
        .expect("a valid policy");
        // A name the policy does not give, with the newsletter's stored key.
        let twin = (0..1_000_000)
            .map(|i| format!("promo-{i}"))
            .find(|name| topic_hash(name) == topic_hash("newsletter"))
            .expect("16-bit keys repeat within a few hundred thousand names");
        let ledger = MemoryLedger::new();
        let who = Customer::new(1).with_consent(Channel::Email, Consent::OptedIn);
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let newsletter = Attempt::marketing(Channel::Email).with_topic("newsletter");
        let promo = Attempt::marketing(Channel::Email).with_topic(&twin);
        let sent = ledger.reserve(&policy, &who, newsletter, IfBlocked::Drop, now);
        assert!(sent.is_ok_and(|o| o.reservation.is_some()));
        // The newsletter's cap does not judge the twin...
        let later = now + Duration::hours(1);
        assert_eq!(
            ledger.check(&policy, &who, promo, later),
            Ok(Verdict::Allowed)
        );
        // ...and still judges the newsletter.
        let again = ledger.check(&policy, &who, newsletter, later);
        assert!(matches!(again, Ok(Verdict::Deferred { .. })), "{again:?}");
    }

    #[test]
    fn a_contact_without_a_topic_is_stored_as_none_and_counted_by_no_topic_rule() {
        // A name whose stored key is 1, the smallest a name folds to.
        let lowest = (0..1_000_000)
            .map(|i| format!("promo-{i}"))
            .find(|name| topic_hash(name) == 1)
            .expect("16-bit keys repeat within a few hundred thousand names");
        let policy = Policy::from_toml_str(&format!(
            "[[caps]]\ntopic = \"{lowest}\"\nlimit = 1\nwindow = \"7d\""
        ))
        .and_then(|p| p.compile())
        .expect("a valid policy");
        let ledger = MemoryLedger::new();
        let who = Customer::new(1).with_consent(Channel::Email, Consent::OptedIn);
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let plain = Attempt::marketing(Channel::Email);
        let held = ledger.reserve(&policy, &who, plain, IfBlocked::Drop, now);
        let reservation = held.ok().and_then(|o| o.reservation).expect("allowed");
        assert_eq!(ledger.commit(&reservation), Ok(true));
        let topics: Vec<u16> = ledger.snapshot().customers[0]
            .contacts
            .iter()
            .map(|c| c.topic)
            .collect();
        assert_eq!(topics, [0], "0 stands for no topic");
        let named = Attempt::marketing(Channel::Email).with_topic(&lowest);
        let later = now + Duration::hours(1);
        assert_eq!(
            ledger.check(&policy, &who, named, later),
            Ok(Verdict::Allowed)
        );
    }
}

/// The policy numbers the names in customers' summaries: its categories and products.
impl Numbering for CompiledPolicy {
    fn fingerprint(&self) -> u64 {
        self.names_fingerprint
    }

    fn category(&self, name: &str) -> Option<usize> {
        self.categories.names.index_of(name)
    }

    fn product(&self, name: &str) -> Option<usize> {
        self.products.index_of(name)
    }
}
