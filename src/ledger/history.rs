//! One customer's compact contact history: eight bytes a contact, oldest first, pruned to what
//! the policy's rules can still count.

use smallvec::SmallVec;

use crate::channel::{kind, Channel, MessageClass};
use crate::policy::retention::Counting;
use crate::policy::CompiledPolicy;
use crate::time::Stamp;

/// Where a contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContactState {
    /// Reserved by a check-and-reserve, not yet committed. Counts as sent.
    Reserved,
    /// Sent: the reservation was committed.
    Committed,
    /// Recorded from elsewhere (an import, another system's send).
    Recorded,
}

impl ContactState {
    // Only the tests read it, and they need TOML for their policies.
    #[cfg(all(test, feature = "toml"))]
    const ALL: [ContactState; 3] = [
        ContactState::Reserved,
        ContactState::Committed,
        ContactState::Recorded,
    ];
}

/// A contact as the ledger keeps it: eight bytes, so that several sit inline beside the
/// customer's key in the ledger's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contact {
    pub(crate) at: Stamp,
    /// [`topic_hash`](crate::policy::topic_hash) of the topic, 0 for none.
    pub(crate) topic: u16,
    /// The reservation number (0 for recorded contacts). Reservations that agree in every field
    /// are interchangeable, so a small number that wraps is enough.
    pub(crate) id: u8,
    /// Channel (bits 0-2), class (bits 3-4) and state (bits 5-6). Bit 7 marks the unused
    /// slots of a [`Record`].
    meta: u8,
}

impl Contact {
    pub(crate) fn new(
        at: Stamp,
        channel: Channel,
        class: MessageClass,
        topic: u16,
        id: u8,
        state: ContactState,
    ) -> Contact {
        // Seven channels, three classes and three states fit their bit fields.
        let meta = kind(channel, class) | (state as u8) << 5;
        Contact {
            at,
            topic,
            id,
            meta,
        }
    }

    /// Channel and class as one number: see [`kind`](crate::channel::kind).
    #[inline]
    pub(crate) fn kind(&self) -> u8 {
        self.meta & 0b1_1111
    }

    #[inline]
    pub(crate) fn channel(&self) -> Channel {
        // `meta` is only ever built by `new` from a valid channel.
        Channel::from_index(usize::from(self.meta & 0b111)).unwrap_or(Channel::Email)
    }

    #[inline]
    pub(crate) fn class(&self) -> MessageClass {
        // `meta` is only ever built by `new` from a valid class; Marketing is the strictest.
        MessageClass::from_index(usize::from(self.meta >> 3 & 0b11))
            .unwrap_or(MessageClass::Marketing)
    }

    #[inline]
    pub(crate) fn state(&self) -> ContactState {
        // `meta` is only ever built by `new`, with a state in bits 5-6.
        match self.meta >> 5 {
            0 => ContactState::Reserved,
            1 => ContactState::Committed,
            _ => ContactState::Recorded,
        }
    }

    /// Whether the contact is reserved (neither committed nor recorded). **O(1)**.
    #[inline]
    pub(crate) fn is_reserved(&self) -> bool {
        self.meta >> 5 == ContactState::Reserved as u8
    }

    pub(crate) fn set_state(&mut self, state: ContactState) {
        self.meta = (self.meta & 0b1_1111) | (state as u8) << 5;
    }
}

/// Contacts stored inline, beside the customer's key in the ledger's table.
pub(crate) const INLINE: usize = 5;

/// A customer's contacts, oldest first, while the ledger works on them. Five fit without a heap
/// allocation: a customer at the pace a considerate policy allows, plus the reservation being
/// sent. (The ledger's table stores them as a [`Record`].)
pub(crate) type History = SmallVec<[Contact; INLINE]>;

/// How a customer's history sits in the ledger's table: up to five contacts in 40 bytes (oldest
/// first, unused slots marked), so that a table entry with its key takes 48 bytes; or a marker
/// that the contacts overflowed to a side table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record([Contact; INLINE]);

impl Record {
    /// `meta` of an unused slot and of the overflow marker: bit 7, which no contact sets.
    const UNUSED: u8 = 0x80;
    const OVERFLOWED: u8 = 0x81;

    const fn marker(meta: u8) -> Contact {
        Contact {
            at: Stamp(0),
            topic: 0,
            id: 0,
            meta,
        }
    }

    /// A record of no contacts.
    pub(crate) const EMPTY: Record = Record([Record::marker(Record::UNUSED); INLINE]);

    /// A record whose contacts live in the side table.
    pub(crate) const OVERFLOW: Record = {
        let mut slots = [Record::marker(Record::UNUSED); INLINE];
        slots[0] = Record::marker(Record::OVERFLOWED);
        Record(slots)
    };

    /// The record of `contacts`, if they fit inline.
    #[inline]
    pub(crate) fn holding(contacts: &[Contact]) -> Option<Record> {
        if contacts.len() > INLINE {
            return None;
        }
        let mut slots = [Record::marker(Record::UNUSED); INLINE];
        // A fixed trip count: unrolled, no call to copy a handful of bytes.
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Some(contact) = contacts.get(i) {
                *slot = *contact;
            }
        }
        Some(Record(slots))
    }

    /// Whether the contacts live in the side table.
    #[inline]
    pub(crate) fn overflowed(&self) -> bool {
        self.0[0].meta == Record::OVERFLOWED
    }

    /// The inline contacts (none if overflowed).
    #[inline]
    pub(crate) fn contacts(&self) -> &[Contact] {
        &self.0[..self.len()]
    }

    /// The inline contacts as a working history, without a heap allocation.
    #[inline]
    pub(crate) fn to_history(self) -> History {
        let len = self.len();
        History::from_buf_and_len(self.0, len)
    }

    /// The inline contacts, to settle one in place.
    #[inline]
    pub(crate) fn contacts_mut(&mut self) -> &mut [Contact] {
        let len = self.len();
        &mut self.0[..len]
    }

    /// Commits the newest contact if it is `reserved`; whether it was.
    #[inline]
    pub(crate) fn commit_newest(&mut self, reserved: Contact) -> bool {
        match self.contacts_mut().last_mut() {
            Some(newest) if *newest == reserved => {
                newest.set_state(ContactState::Committed);
                true
            }
            _ => false,
        }
    }

    /// Removes the inline contact at `index`, keeping the others in order.
    pub(crate) fn remove(&mut self, index: usize) {
        let len = self.len();
        if index >= len {
            return;
        }
        for i in index..len - 1 {
            self.0[i] = self.0[i + 1];
        }
        self.0[len - 1] = Record::marker(Record::UNUSED);
    }

    /// The usual insert, made in place: `contact` is at least as new as every contact held,
    /// and a slot is free or the oldest settled contact can go (as [`insert_pruned`] would).
    /// `false`, with nothing inserted, when the general path is needed.
    #[inline(always)]
    pub(crate) fn try_append(
        &mut self,
        contact: Contact,
        policy: &CompiledPolicy,
        now: Stamp,
    ) -> bool {
        let alike = self.all_alike(&contact);
        self.try_append_alike(contact, policy, now, alike)
    }

    /// Whether every contact held is of `incoming`'s kind and topic (none held: yes).
    #[inline(always)]
    pub(crate) fn all_alike(&self, incoming: &Contact) -> bool {
        let (kind, topic) = (incoming.kind(), incoming.topic);
        self.contacts()
            .iter()
            .all(|c| c.kind() == kind && c.topic == topic)
    }

    /// [`Record::try_append`], for a caller that has already found whether every contact held
    /// is of `contact`'s kind and topic (`alike`: [`Record::all_alike`]).
    #[inline(always)]
    pub(crate) fn try_append_alike(
        &mut self,
        contact: Contact,
        policy: &CompiledPolicy,
        now: Stamp,
        alike: bool,
    ) -> bool {
        debug_assert_eq!(alike, self.all_alike(&contact));
        let len = self.len();
        if self.0[..len]
            .last()
            .is_some_and(|newest| newest.at > contact.at)
        {
            return false;
        }
        let counting = policy.retention.rules_counting(&contact);
        if counting.is_empty() {
            return true;
        }
        if len < INLINE {
            self.0[len] = contact;
            return true;
        }
        let oldest = if alike && self.settled_oldest_displaced(&contact, counting) {
            debug_assert!(
                displaced(&self.0, 0, policy, (&contact, counting))
                    && !needed(&self.0, policy, Some(&contact))[0],
                "the quick check for alike contacts, the general one and the full prune disagree"
            );
            0
        } else {
            match replaceable_oldest(&mut self.0, (&contact, counting), policy, now) {
                Some(oldest) => oldest,
                None => return false,
            }
        };
        // Shift the newer ones down and put the contact last; a fixed trip count moves a few
        // bytes without a call.
        for i in 0..INLINE - 1 {
            if i >= oldest {
                self.0[i] = self.0[i + 1];
            }
        }
        self.0[INLINE - 1] = contact;
        true
    }

    /// Whether this full record, whose contacts are all of `incoming`'s kind and topic (so
    /// counted by exactly `incoming`'s rules, `counting`), is in the usual state of a customer
    /// contacted the same way time after time, with the oldest contact displaced: every
    /// contact settled, and the newer ones outranking the oldest for good. That is
    /// [`displaced`]'s judgment of the oldest contact, which for such a record needs no walk:
    /// every newer contact is alike, so they number four (five with a settled `incoming`) and
    /// the newest is the last (or `incoming`). `false` says nothing: the general check decides.
    #[inline(always)]
    fn settled_oldest_displaced(&self, incoming: &Contact, counting: Counting) -> bool {
        // `&` rather than `&&`: five flat tests, no branch per contact.
        let settled = self.0.iter().fold(true, |all, c| all & !c.is_reserved());
        if !settled {
            return false;
        }
        let [oldest, .., newest] = &self.0;
        // `incoming` counts among the newer ones unless it is itself a reservation.
        let (count, newest) = match incoming.is_reserved() {
            true => (INLINE - 1, newest.at),
            false => (INLINE, incoming.at),
        };
        let bounds = counting.bounds();
        count as u32 >= bounds.keep || newest.0 - oldest.at.0 >= bounds.reach
    }

    #[inline]
    fn len(&self) -> usize {
        // Full is the usual state of a regular customer's record.
        if self.0[INLINE - 1].meta & Record::UNUSED == 0 {
            return INLINE;
        }
        self.0
            .iter()
            .position(|c| c.meta & Record::UNUSED != 0)
            .unwrap_or(INLINE)
    }
}

/// Which contacts of `history` some retention rule still needs once `incoming` (if any) is added:
/// for each rule's scope, the `keep` most recent within `reach` of the newest in that scope.
///
/// Reserved contacts are always kept and never push another contact out: a reservation may
/// still be released, and then the contacts it would have displaced count again. (With any
/// subset of reservations present, a settled contact ranks no higher than without them, so
/// what is needed without them covers every outcome.)
///
/// Contacts are walked newest first; `incoming` is newer than all of them.
fn needed(
    history: &[Contact],
    policy: &CompiledPolicy,
    incoming: Option<&Contact>,
) -> SmallVec<[bool; 8]> {
    let table = &policy.retention;
    // Per rule: the newest settled time in scope and how many settled contacts.
    let mut seen: SmallVec<[(u32, u32); 16]> = SmallVec::from_elem((0, 0), table.rules.len());
    if let Some(incoming) = incoming.filter(|c| !c.is_reserved()) {
        for rule in table.rules_counting(incoming).rules() {
            seen[rule] = (incoming.at.0, 1);
        }
    }
    let mut keep_flags: SmallVec<[bool; 8]> = SmallVec::from_elem(false, history.len());
    for (index, contact) in history.iter().enumerate().rev() {
        let counting = table.rules_counting(contact);
        if contact.is_reserved() {
            keep_flags[index] = !counting.is_empty();
            continue;
        }
        let mut keep = false;
        for rule in counting.rules() {
            let (newest, count) = &mut seen[rule];
            if *count == 0 {
                *newest = contact.at.0;
            }
            *count += 1;
            let need = &table.rules[rule];
            keep |= *count <= need.keep && *newest - contact.at.0 < need.reach;
        }
        keep_flags[index] = keep;
    }
    keep_flags
}

/// Whether the settled contact at `index` is still needed by some rule once `incoming` (newer
/// than all) is added: the same judgment as [`needed`] for one contact. **O(n·r)**, cheaper
/// than [`needed`] since it stops at the first rule that needs the contact.
fn is_needed(
    history: &[Contact],
    index: usize,
    policy: &CompiledPolicy,
    incoming: &Contact,
) -> bool {
    /// Rules counting one contact that are tracked on the stack; more takes the full prune.
    const TRACKED: usize = 8;
    let table = &policy.retention;
    let contact = &history[index];
    // Per rule counting the contact: its bit, its rank among settled contacts, the newest time.
    let mut ranks = [(0u32, 1u32, contact.at.0); TRACKED];
    let mut tracked = 0;
    let counting = table.rules_counting(contact);
    let mut bits = counting.bits();
    while bits != 0 {
        if tracked == TRACKED {
            return true;
        }
        ranks[tracked].0 = bits.trailing_zeros();
        tracked += 1;
        bits &= bits - 1;
    }
    let ranks = &mut ranks[..tracked];
    let newer = history[index + 1..].iter().chain(std::iter::once(incoming));
    for newer in newer.filter(|c| !c.is_reserved()) {
        let shared = counting.shared_bits(table.rules_counting(newer));
        for (bit, rank, newest) in ranks.iter_mut() {
            if shared & (1 << *bit) != 0 {
                *rank += 1;
                *newest = newer.at.0;
            }
        }
    }
    ranks.iter().any(|&(bit, rank, newest)| {
        let need = &table.rules[counting.rule(bit)];
        rank <= need.keep && newest - contact.at.0 < need.reach
    })
}

/// Whether newer contacts of the same kind and topic as the settled contact at `index` (so
/// counted by every rule that counts it) outrank it for good: as many as the largest `keep`
/// among those rules, or one a largest `reach` newer. Then no rule needs it. **O(n)**, and no
/// table look-up when the contact is of the same kind and topic as `incoming`, whose rules
/// are given: the usual case, a customer contacted the same way time after time.
#[inline(always)]
fn displaced(
    history: &[Contact],
    index: usize,
    policy: &CompiledPolicy,
    (incoming, incoming_rules): (&Contact, Counting),
) -> bool {
    let old = &history[index];
    let bounds = if old.kind() == incoming.kind() && old.topic == incoming.topic {
        incoming_rules.bounds()
    } else {
        policy.retention.rules_counting(old).bounds()
    };
    let alike = |c: &Contact| c.kind() == old.kind() && !c.is_reserved() && c.topic == old.topic;
    let mut count = 0;
    let mut newest = old.at;
    for contact in &history[index + 1..] {
        if alike(contact) {
            count += 1;
            newest = contact.at;
        }
    }
    if alike(incoming) {
        count += 1;
        newest = incoming.at;
    }
    count >= bounds.keep || newest.0 - old.at.0 >= bounds.reach
}

fn retain_flagged(history: &mut History, flags: &[bool]) {
    let mut index = 0;
    history.retain(|_| {
        index += 1;
        flags[index - 1]
    });
}

/// The oldest settled contact of a full history, if no rule needs it once `incoming` (newer
/// than all) is in: the contact the usual prune drops, cheap to confirm. `None` when the full
/// prune is needed.
#[inline(always)]
fn replaceable_oldest(
    contacts: &mut [Contact],
    (incoming, rules): (&Contact, Counting),
    policy: &CompiledPolicy,
    now: Stamp,
) -> Option<usize> {
    let oldest = settle_stale_reservations(contacts, policy, now)?;
    if !displaced(contacts, oldest, policy, (incoming, rules))
        && is_needed(contacts, oldest, policy, incoming)
    {
        return None;
    }
    debug_assert!(
        !needed(contacts, policy, Some(incoming))[oldest],
        "the quick check and the full prune disagree"
    );
    Some(oldest)
}

/// Adds `contact` and drops every contact no rule of `policy` can count again.
///
/// Attempts are never judged before the newest contact in their scopes, so for each scope only
/// the `keep` most recent contacts within `reach` of the newest matter. **O(n·r)** for `n`
/// contacts and `r` retention rules; `n` stays bounded by the sum of the rules' `keep`, so the
/// cost of a check does not grow with a customer's lifetime history.
///
/// Pruning only runs once the inline space is full: below that it would free no memory.
pub(crate) fn insert_pruned(
    history: &mut History,
    contact: Contact,
    policy: &CompiledPolicy,
    now: Stamp,
) {
    if history.last().is_none_or(|newest| newest.at <= contact.at) {
        // The usual case, a contact newer than all. Nothing to keep if no rule counts it.
        let rules = policy.retention.rules_counting(&contact);
        if rules.is_empty() {
            return;
        }
        if history.len() >= INLINE {
            // Make room as if the contact were already there, so a full inline history does
            // not spill to the heap just to shrink again.
            if let Some(oldest) = replaceable_oldest(history, (&contact, rules), policy, now) {
                history[oldest..].rotate_left(1);
                if let Some(last) = history.last_mut() {
                    *last = contact;
                }
                return;
            }
            let flags = needed(history, policy, Some(&contact));
            retain_flagged(history, &flags);
        }
        history.push(contact);
    } else {
        let position = history.partition_point(|c| c.at <= contact.at);
        history.insert(position, contact);
        if history.len() > INLINE {
            settle_stale_reservations(history, policy, now);
            let flags = needed(history, policy, None);
            retain_flagged(history, &flags);
        }
    }
}

/// Takes reservations whose send time is the policy's whole history horizon before `now` as
/// sent: from then on they rank and age like committed contacts, which keeps a history bounded
/// even for a host that never settles. A late `release` of one is refused. Returns the index of
/// the oldest settled contact, if any.
#[inline(always)]
fn settle_stale_reservations(
    contacts: &mut [Contact],
    policy: &CompiledPolicy,
    now: Stamp,
) -> Option<usize> {
    let horizon = policy.retention.horizon;
    let mut oldest_settled = None;
    for (index, contact) in contacts.iter_mut().enumerate() {
        if contact.is_reserved() {
            if now.0.saturating_sub(contact.at.0) < horizon {
                continue;
            }
            contact.set_state(ContactState::Committed);
        }
        oldest_settled.get_or_insert(index);
    }
    oldest_settled
}

/// Drops contacts that no rule can count at `now` or later. **O(n·r)**.
pub(crate) fn sweep(history: &mut History, policy: &CompiledPolicy, now: Stamp) {
    settle_stale_reservations(history, policy, now);
    let rules = &policy.retention.rules;
    history.retain(|contact| {
        policy
            .retention
            .rules_counting(contact)
            .rules()
            .any(|rule| contact.at.plus(rules[rule].reach) > now)
    });
}

#[cfg(test)]
#[cfg(feature = "toml")] // The tests write their policies in TOML.
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn contact(at: u32, channel: Channel) -> Contact {
        Contact::new(
            Stamp(at),
            channel,
            MessageClass::Marketing,
            0,
            0,
            ContactState::Committed,
        )
    }

    /// Early enough that no reservation is stale unless a test says so.
    const NOW: Stamp = Stamp(0);

    fn times(history: &History) -> Vec<u32> {
        history.iter().map(|c| c.at.0).collect()
    }

    fn policy(text: &str) -> CompiledPolicy {
        Policy::from_toml_str(text).unwrap().compile().unwrap()
    }

    const EMAIL_TWO_PER_HOUR: &str = r#"
        preferences.max_limit = 0
        [[caps]]
        channel = "email"
        limit = 2
        window = "1h"
    "#;

    fn flagged(history: &History, policy: &CompiledPolicy) -> Vec<u32> {
        let flags = needed(history, policy, None);
        history
            .iter()
            .zip(flags.iter())
            .filter(|(_, keep)| **keep)
            .map(|(c, _)| c.at.0)
            .collect()
    }

    #[test]
    fn only_the_most_recent_per_scope_within_reach_are_needed() {
        let two_per_hour = policy(EMAIL_TWO_PER_HOUR);
        let mut history = History::new();
        for at in [0, 100, 200, 300, 400] {
            insert_pruned(
                &mut history,
                contact(at, Channel::Email),
                &two_per_hour,
                NOW,
            );
        }
        assert_eq!(
            times(&history),
            vec![0, 100, 200, 300, 400],
            "inline space is not pruned"
        );
        assert_eq!(flagged(&history, &two_per_hour), vec![300, 400]);

        let nine_per_hour =
            policy("preferences.max_limit = 0\n[[caps]]\nlimit = 9\nwindow = \"1h\"");
        let mut history = History::new();
        for at in [0, 100, 200, 300, 3650] {
            insert_pruned(
                &mut history,
                contact(at, Channel::Email),
                &nine_per_hour,
                NOW,
            );
        }
        assert_eq!(
            flagged(&history, &nine_per_hour),
            vec![100, 200, 300, 3650],
            "0 is an hour older"
        );
    }

    /// A full record of five settled email contacts, a minute apart.
    fn full_record() -> Record {
        let contacts: Vec<Contact> = (0..5).map(|i| contact(i * 60, Channel::Email)).collect();
        Record::holding(&contacts).unwrap()
    }

    #[test]
    fn a_full_alike_record_drops_its_oldest_in_place_only_when_no_rule_needs_it() {
        let reserved = |at| {
            let mut c = contact(at, Channel::Email);
            c.set_state(ContactState::Reserved);
            c
        };
        // Two per hour need the newest two: the oldest goes, the reservation comes in last.
        let two_per_hour = policy(EMAIL_TWO_PER_HOUR);
        let mut record = full_record();
        assert!(record.try_append(reserved(300), &two_per_hour, NOW));
        let kept: Vec<u32> = record.contacts().iter().map(|c| c.at.0).collect();
        assert_eq!(kept, vec![60, 120, 180, 240, 300]);
        assert!(record.contacts()[4].is_reserved());

        // Nine per hour need all five and the sixth: nothing is dropped in place.
        let nine_per_hour =
            policy("preferences.max_limit = 0\n[[caps]]\nlimit = 9\nwindow = \"1h\"");
        let mut record = full_record();
        assert!(!record.try_append(reserved(300), &nine_per_hour, NOW));
        assert_eq!(
            record,
            full_record(),
            "unchanged when the general path is needed"
        );

        // Nine per minute reach back a minute only: the oldest, four minutes before the
        // newest, can go even though fewer than nine are newer.
        let nine_per_minute =
            policy("preferences.max_limit = 0\n[[caps]]\nlimit = 9\nwindow = \"1m\"");
        let mut record = full_record();
        assert!(record.try_append(contact(300, Channel::Email), &nine_per_minute, NOW));
        assert_eq!(record.contacts()[0].at.0, 60);
    }

    #[test]
    fn a_long_history_stays_inline_and_keeps_what_the_rules_need() {
        let policy = policy(EMAIL_TWO_PER_HOUR);
        let mut history = History::new();
        for at in 0..1000 {
            let channel = if at % 7 == 0 {
                Channel::Sms
            } else {
                Channel::Email
            };
            insert_pruned(&mut history, contact(at * 60, channel), &policy, NOW);
            assert!(
                history.len() <= INLINE,
                "{} contacts at {at}",
                history.len()
            );
            assert!(!history.spilled());
        }
        let kept = times(&history);
        assert!(kept.ends_with(&[998 * 60, 999 * 60]), "{kept:?}");
    }

    #[test]
    fn reservations_never_settled_still_leave_a_bounded_history() {
        let policy = policy(EMAIL_TWO_PER_HOUR);
        let mut history = History::new();
        for step in 0..1000 {
            let reserved = Contact::new(
                Stamp(step * 600),
                Channel::Email,
                MessageClass::Marketing,
                0,
                step as u8,
                ContactState::Reserved,
            );
            // Reserved as the clock reads their time, as a host would.
            insert_pruned(&mut history, reserved, &policy, reserved.at);
            // Six reservations fit in the hour-long horizon, plus the two a cap of two needs.
            assert!(
                history.len() <= 8,
                "{} contacts at step {step}",
                history.len()
            );
        }
    }

    #[test]
    fn an_older_contact_inserted_late_takes_its_rank_in_time_order() {
        let policy = policy(EMAIL_TWO_PER_HOUR);
        let mut history = History::new();
        for at in [100, 200, 300, 400, 500] {
            insert_pruned(&mut history, contact(at, Channel::Email), &policy, NOW);
        }
        insert_pruned(&mut history, contact(50, Channel::Email), &policy, NOW);
        assert_eq!(
            times(&history),
            vec![400, 500],
            "the oldest go, not the newest"
        );
    }

    #[test]
    fn a_reservation_never_pushes_out_a_contact_it_could_give_back() {
        let policy = policy(EMAIL_TWO_PER_HOUR);
        let mut history = History::new();
        for at in [100, 200, 300, 400] {
            insert_pruned(&mut history, contact(at, Channel::Email), &policy, NOW);
        }
        let reserved = |at| {
            Contact::new(
                Stamp(at),
                Channel::Email,
                MessageClass::Marketing,
                0,
                1,
                ContactState::Reserved,
            )
        };
        for at in [5000, 5100, 5200] {
            insert_pruned(&mut history, reserved(at), &policy, NOW);
        }
        assert_eq!(times(&history), vec![300, 400, 5000, 5100, 5200]);
        assert_eq!(flagged(&history, &policy), vec![300, 400, 5000, 5100, 5200]);
    }

    #[test]
    fn contact_fields_survive_packing() {
        for channel in Channel::ALL {
            for class in MessageClass::ALL {
                for state in ContactState::ALL {
                    let mut c = Contact::new(Stamp(7), channel, class, 9, 3, state);
                    assert_eq!((c.channel(), c.class(), c.state()), (channel, class, state));
                    c.set_state(ContactState::Committed);
                    assert_eq!(
                        (c.channel(), c.class(), c.state()),
                        (channel, class, ContactState::Committed)
                    );
                }
            }
        }
    }

    #[test]
    fn insert_keeps_time_order_and_arrival_order_for_equal_times() {
        let policy = policy("[[caps]]\nlimit = 5\nwindow = \"1h\"");
        let mut history = History::new();
        insert_pruned(&mut history, contact(10, Channel::Email), &policy, NOW);
        insert_pruned(&mut history, contact(5, Channel::Sms), &policy, NOW);
        insert_pruned(&mut history, contact(10, Channel::Push), &policy, NOW);
        let order: Vec<(u32, Channel)> = history.iter().map(|c| (c.at.0, c.channel())).collect();
        assert_eq!(
            order,
            vec![(5, Channel::Sms), (10, Channel::Email), (10, Channel::Push)]
        );
    }
}
