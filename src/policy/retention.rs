//! What history the policy needs kept, as a table the ledger walks on every write.

use super::rules::ScopeKey;
use super::slots::{self, Slots};
use crate::channel::KINDS;
use crate::error::PolicyError;
use crate::ledger::history::Contact;

/// Rules one contact can be counted by, as bits of a `u64`: every rule without a topic (at most
/// 3 classes × 8 channel choices = 24) plus the rules of the contact's own topic.
const MAX_COUNTING: usize = 64;

/// One scope's need: its `keep` most recent contacts within `reach` seconds of the newest one.
#[derive(Debug, Clone)]
pub(crate) struct Retention {
    pub(crate) scope: ScopeKey,
    pub(crate) keep: u32,
    pub(crate) reach: u32,
}

/// The rules of one topic: `rules[first..first + len]`, and per contact kind the bits of those
/// that count it (above the untopical rules' bits).
#[derive(Debug, Clone, Copy)]
struct TopicGroup {
    topic: u16,
    first: u32,
    len: u32,
    by_kind: [u64; KINDS],
    /// Per contact kind: the largest `keep` and `reach` of every rule counting it (with the
    /// rules without a topic).
    bounds_by_kind: [Bounds; KINDS],
}

/// The largest `keep` and the largest `reach` among some rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) keep: u32,
    pub(crate) reach: u32,
}

impl Bounds {
    fn widen(self, rule: &Retention) -> Bounds {
        Bounds {
            keep: self.keep.max(rule.keep),
            reach: self.reach.max(rule.reach),
        }
    }
}

/// Every scope's need, merged per scope. Rules without a topic come first, indexed by channel
/// and class; then the rules with a topic, grouped by topic. A contact has one topic, so only
/// its own topic's group can count it: a policy may have any number of topics (per-offer caps
/// bring one each).
#[derive(Debug, Clone)]
pub(crate) struct RetentionTable {
    pub(crate) rules: Vec<Retention>,
    /// The longest reach of any rule, in seconds: the policy's history horizon.
    pub(crate) horizon: u32,
    /// Per contact kind (channel and class): a bit per rule without a topic that counts it.
    untopical: [u64; KINDS],
    /// Per contact kind: the bounds of the rules without a topic that count it.
    untopical_bounds: [Bounds; KINDS],
    /// How many rules have no topic: they are `rules[..untopical_count]`.
    untopical_count: u32,
    /// The topics' groups, by topic key.
    groups: Vec<TopicGroup>,
    /// `groups`' keys, a slot each (`None`: found by binary search).
    group_slots: Option<Slots>,
}

/// The rules that count one contact: bits below `untopical` are rules without a topic (by
/// index); the bits above are the rules of the contact's topic group, from `group_first`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counting {
    bits: u64,
    untopical: u32,
    group_first: u32,
    group_len: u32,
    bounds: Bounds,
}

impl Counting {
    /// Whether no rule counts the contact.
    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The bits, one per rule.
    #[inline]
    pub(crate) fn bits(self) -> u64 {
        self.bits
    }

    /// The largest `keep` and `reach` among the rules (zero if none).
    #[inline]
    pub(crate) fn bounds(self) -> Bounds {
        self.bounds
    }

    /// The index (into [`RetentionTable::rules`]) of the rule behind `bit`.
    #[inline]
    pub(crate) fn rule(self, bit: u32) -> usize {
        let rule = if bit < self.untopical {
            bit
        } else {
            self.group_first + bit - self.untopical
        };
        rule as usize
    }

    /// The indexes (into [`RetentionTable::rules`]) of the rules, ascending.
    #[inline]
    pub(crate) fn rules(self) -> impl Iterator<Item = usize> {
        let mut bits = self.bits;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let bit = bits.trailing_zeros();
            bits &= bits - 1;
            Some(self.rule(bit))
        })
    }

    /// `other`'s bits, read as bits of `self`: the rules without a topic always mean the same
    /// rules; the topic's bits only when both contacts have the same topic group.
    #[inline]
    pub(crate) fn shared_bits(self, other: Counting) -> u64 {
        if other.group_first == self.group_first && other.group_len == self.group_len {
            other.bits
        } else {
            let untopical = 1u64.checked_shl(self.untopical).map_or(u64::MAX, |b| b - 1);
            other.bits & untopical
        }
    }
}

impl RetentionTable {
    /// Merges needs per scope: keeping the most recent `max(keep)` within `max(reach)` keeps
    /// everything each of the merged needs keeps.
    pub(crate) fn new(
        needs: impl Iterator<Item = (ScopeKey, u32, u32)>,
    ) -> Result<RetentionTable, PolicyError> {
        let mut rules: Vec<Retention> = Vec::new();
        for (scope, keep, reach) in needs {
            match rules.iter_mut().find(|r| r.scope == scope) {
                Some(rule) => {
                    rule.keep = rule.keep.max(keep);
                    rule.reach = rule.reach.max(reach);
                }
                None => rules.push(Retention { scope, keep, reach }),
            }
        }
        // Rules without a topic first, then by topic (stable: the policy's order within each).
        rules.sort_by_key(|r| r.scope.topic);
        let untopical_count = rules.iter().take_while(|r| r.scope.topic == 0).count();
        let mut untopical = [0u64; KINDS];
        let mut untopical_bounds = [Bounds::default(); KINDS];
        for (bit, rule) in rules[..untopical_count].iter().enumerate() {
            let kinds = rule.scope.kinds();
            for kind in (0..KINDS).filter(|kind| kinds & (1 << kind) != 0) {
                untopical[kind] |= 1 << bit;
                untopical_bounds[kind] = untopical_bounds[kind].widen(rule);
            }
        }
        let mut groups: Vec<TopicGroup> = Vec::new();
        for (index, rule) in rules.iter().enumerate().skip(untopical_count) {
            // Indexes fit in u32: a policy has far fewer rules.
            match groups.last_mut() {
                Some(group) if group.topic == rule.scope.topic => group.len += 1,
                _ => groups.push(TopicGroup {
                    topic: rule.scope.topic,
                    first: index as u32,
                    len: 1,
                    by_kind: [0; KINDS],
                    bounds_by_kind: untopical_bounds,
                }),
            }
        }
        let largest_group = groups.iter().map(|g| g.len as usize).max().unwrap_or(0);
        if untopical_count + largest_group > MAX_COUNTING {
            return Err(PolicyError::new(
                "caps",
                format!(
                    "one topic's contacts would be counted by {} distinct scopes (caps, spacing rules and preference bounds); at most {MAX_COUNTING} are supported",
                    untopical_count + largest_group
                ),
            ));
        }
        for group in &mut groups {
            let first = group.first as usize;
            for (offset, rule) in rules[first..first + group.len as usize].iter().enumerate() {
                let kinds = rule.scope.kinds();
                for kind in (0..KINDS).filter(|kind| kinds & (1 << kind) != 0) {
                    group.by_kind[kind] |= 1 << (untopical_count + offset);
                    group.bounds_by_kind[kind] = group.bounds_by_kind[kind].widen(rule);
                }
            }
        }
        Ok(RetentionTable {
            horizon: rules.iter().map(|r| r.reach).max().unwrap_or(0),
            rules,
            untopical,
            untopical_bounds,
            untopical_count: untopical_count as u32,
            group_slots: slots::of_sorted(&groups, |g| g.topic),
            groups,
        })
    }

    /// The rules whose scope counts `contact`. **O(rules of its topic)** (its topic found in its
    /// slot; past 64 topics, or if no slots were found for them, by binary search).
    #[inline(always)]
    pub(crate) fn rules_counting(&self, contact: &Contact) -> Counting {
        let kind = contact.kind();
        let mut counting = Counting {
            bits: self.untopical[usize::from(kind)],
            untopical: self.untopical_count,
            group_first: 0,
            group_len: 0,
            bounds: self.untopical_bounds[usize::from(kind)],
        };
        if contact.topic == 0 || self.groups.is_empty() {
            return counting;
        }
        let found = slots::position(
            self.group_slots.as_ref(),
            &self.groups,
            contact.topic,
            |g| g.topic,
        );
        let Some(group) = found.and_then(|at| self.groups.get(at)) else {
            return counting;
        };
        counting.group_first = group.first;
        counting.group_len = group.len;
        counting.bits |= group.by_kind[usize::from(kind)];
        counting.bounds = group.bounds_by_kind[usize::from(kind)];
        counting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, MessageClass};
    use crate::ledger::history::ContactState;
    use crate::time::Stamp;

    #[test]
    fn many_topics_fit_and_each_contact_is_counted_by_its_own_topic_only() {
        let marketing = |channel, topic| ScopeKey::new(MessageClass::Marketing, channel, topic);
        let needs = (1..=200u16)
            .map(|topic| (marketing(None, topic), 1, 60))
            .chain([(marketing(Some(Channel::Email), 0), 2, 3600)]);
        let table = RetentionTable::new(needs).expect("200 topics are fine");
        let contact = |topic| {
            Contact::new(
                Stamp(0),
                Channel::Email,
                MessageClass::Marketing,
                topic,
                0,
                ContactState::Committed,
            )
        };
        let counted: Vec<ScopeKey> = table
            .rules_counting(&contact(77))
            .rules()
            .map(|r| table.rules[r].scope)
            .collect();
        assert_eq!(
            counted,
            vec![marketing(Some(Channel::Email), 0), marketing(None, 77)]
        );
        let of_77 = table.rules_counting(&contact(77));
        let of_78 = table.rules_counting(&contact(78));
        assert_eq!(of_77.shared_bits(of_77), of_77.bits());
        assert_eq!(
            of_77.shared_bits(of_78),
            0b1,
            "only the email rule is shared with another topic"
        );
        assert_eq!(table.rules_counting(&contact(999)).rules().count(), 1);
    }
}
