//! One customer's compact contact history: sixteen bytes a contact, oldest first, pruned to what
//! the policy's rules can still count.

use smallvec::SmallVec;

use crate::channel::{Channel, MessageClass};
use crate::policy::CompiledPolicy;
use crate::time::Stamp;

/// Where a contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Reserved by a check-and-reserve, not yet committed. Counts as sent.
    Reserved,
    /// Sent: the reservation was committed.
    Committed,
    /// Recorded from elsewhere (an import, another system's send).
    Recorded,
}

/// A contact as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contact {
    pub(crate) at: Stamp,
    /// [`topic_hash`](crate::policy::topic_hash) of the topic, 0 for none.
    pub(crate) topic: u32,
    /// The reservation number, or the hash of a recorded contact's idempotency key.
    pub(crate) id: u32,
    pub(crate) channel: Channel,
    pub(crate) class: MessageClass,
    pub(crate) state: ContactState,
}

/// A customer's contacts, oldest first. Two fit inline, which covers most customers at no
/// allocation.
pub(crate) type History = SmallVec<[Contact; 2]>;

/// Inserts `contact` after every contact at the same time or earlier. **O(n)**.
pub(crate) fn insert(history: &mut History, contact: Contact) {
    let position = history.partition_point(|c| c.at <= contact.at);
    history.insert(position, contact);
}

/// Retention rules beyond which the counters spill to the heap; policies rarely have more.
const INLINE_RULES: usize = 16;

/// Drops every contact no rule of `policy` can count again: for each rule's scope, only the
/// `keep` most recent contacts within `reach` of the newest one in that scope are needed, since
/// attempts are never judged before the newest contact in their scopes.
///
/// **O(n·r)** for `n` contacts and `r` retention rules; keeps `n` bounded by the sum of the
/// rules' `keep`, so the cost of a check does not grow with a customer's lifetime history.
pub(crate) fn prune(history: &mut History, policy: &CompiledPolicy) {
    let rules = &policy.retention;
    // Per rule: the newest time in scope, and how many in-scope contacts were seen so far.
    let mut seen: SmallVec<[(Stamp, u32); INLINE_RULES]> =
        SmallVec::from_elem((Stamp(0), 0), rules.len());
    let mut keep_flags: SmallVec<[bool; 32]> = SmallVec::from_elem(false, history.len());
    for (index, contact) in history.iter().enumerate().rev() {
        let mut keep = false;
        for (rule, (newest, count)) in rules.iter().zip(seen.iter_mut()) {
            if !rule.scope.matches(contact.class, contact.channel, contact.topic) {
                continue;
            }
            if *count == 0 {
                *newest = contact.at;
            }
            *count += 1;
            keep |= *count <= rule.keep && newest.0 - contact.at.0 < rule.reach;
        }
        keep_flags[index] = keep;
    }
    let mut index = 0;
    history.retain(|_| {
        index += 1;
        keep_flags[index - 1]
    });
}

/// Drops contacts that no rule can count at `now` or later. **O(n·r)**.
pub(crate) fn sweep(history: &mut History, policy: &CompiledPolicy, now: Stamp) {
    history.retain(|contact| {
        policy.retention.iter().any(|rule| {
            rule.scope.matches(contact.class, contact.channel, contact.topic)
                && contact.at.plus(rule.reach) > now
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn contact(at: u32, channel: Channel) -> Contact {
        Contact {
            at: Stamp(at),
            topic: 0,
            id: at,
            channel,
            class: MessageClass::Marketing,
            state: ContactState::Committed,
        }
    }

    fn policy(text: &str) -> CompiledPolicy {
        Policy::from_toml_str(text).unwrap().compile().unwrap()
    }

    #[test]
    fn prune_keeps_only_the_most_recent_per_scope_within_reach() {
        let policy = policy(
            r#"
            preferences.max_limit = 0
            [[caps]]
            channel = "email"
            limit = 2
            window = "1h"
            "#,
        );
        let mut history = History::new();
        for at in [0, 100, 200, 300] {
            insert(&mut history, contact(at, Channel::Email));
        }
        insert(&mut history, contact(150, Channel::Sms)); // no rule counts sms
        prune(&mut history, &policy);
        let kept: Vec<u32> = history.iter().map(|c| c.at.0).collect();
        assert_eq!(kept, vec![200, 300]);

        insert(&mut history, contact(300 + 3600, Channel::Email));
        prune(&mut history, &policy);
        let kept: Vec<u32> = history.iter().map(|c| c.at.0).collect();
        assert_eq!(kept, vec![3900], "contacts a full window older than the newest go");
    }

    #[test]
    fn insert_keeps_time_order_and_arrival_order_for_equal_times() {
        let mut history = History::new();
        insert(&mut history, contact(10, Channel::Email));
        insert(&mut history, contact(5, Channel::Sms));
        insert(&mut history, contact(10, Channel::Push));
        let order: Vec<(u32, Channel)> = history.iter().map(|c| (c.at.0, c.channel)).collect();
        assert_eq!(
            order,
            vec![(5, Channel::Sms), (10, Channel::Email), (10, Channel::Push)]
        );
    }
}
