//! One shard's customers: a hash table of 48-byte entries (the id and a [`Record`] of up to five
//! contacts), and a side table for the few customers whose policy keeps more.

use std::collections::HashMap;

use super::history::{self, Contact, History, Record};
use crate::customer::CustomerId;
use crate::policy::CompiledPolicy;
use crate::time::Stamp;

type Hasher = foldhash::fast::RandomState;

/// Customers with history in one shard. A customer is in `records` whenever it has contacts;
/// its record holds them inline, or is [`Record::OVERFLOW`] and they are in `overflow` (always
/// more than five there, so never empty).
///
/// A panic inside a change leaves inline and new customers as they were, and an overflowed
/// customer's contacts in place, possibly part-changed (as a single in-place write would).
#[derive(Default)]
pub(super) struct Table {
    records: HashMap<CustomerId, Record, Hasher>,
    overflow: HashMap<CustomerId, History, Hasher>,
}

impl Table {
    /// A table with room for `customers` before it grows.
    pub(super) fn with_capacity(customers: usize) -> Table {
        Table {
            records: HashMap::with_capacity_and_hasher(customers, Hasher::default()),
            overflow: HashMap::default(),
        }
    }

    /// How many customers have history.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The customers with history.
    pub(super) fn ids(&self) -> impl Iterator<Item = &CustomerId> + '_ {
        self.records.keys()
    }

    /// Whether `customer` has history.
    pub(super) fn contains(&self, customer: CustomerId) -> bool {
        self.records.contains_key(&customer)
    }

    /// `customer`'s contacts, oldest first (none if unknown).
    pub(super) fn contacts(&self, customer: CustomerId) -> &[Contact] {
        match self.records.get(&customer) {
            Some(record) if record.overflowed() => self.overflowed(customer),
            Some(record) => record.contacts(),
            None => &[],
        }
    }

    /// The contacts of a customer whose record says they overflowed.
    fn overflowed(&self, customer: CustomerId) -> &[Contact] {
        let contacts = self.overflow.get(&customer);
        debug_assert!(
            contacts.is_some(),
            "an overflow record without its contacts"
        );
        contacts.map_or(&[][..], |history| &history[..])
    }

    /// How many contacts are held. **O(customers)**.
    pub(super) fn contact_count(&self) -> usize {
        self.records
            .iter()
            .map(|(id, record)| match record.overflowed() {
                true => self.overflowed(*id).len(),
                false => record.contacts().len(),
            })
            .sum()
    }

    /// Applies `change` to `customer`'s history (empty if unknown) and stores the result: inline
    /// if it fits, in the side table if not, nowhere if it is empty. One table look-up for a
    /// known customer whose contacts fit inline.
    #[inline]
    pub(super) fn update<R>(
        &mut self,
        customer: CustomerId,
        change: impl FnOnce(&mut History) -> R,
    ) -> R {
        let Table { records, overflow } = self;
        match records.get_mut(&customer) {
            Some(record) if record.overflowed() => {
                let Some(history) = overflow.get_mut(&customer) else {
                    // Unreachable (the side table holds every overflowed customer's contacts);
                    // were it reached, go on from an empty history, as for a new customer.
                    debug_assert!(false, "an overflow record without its contacts");
                    *record = Record::EMPTY;
                    return self.update(customer, change);
                };
                let result = change(history);
                if let Some(inline) = Record::holding(history) {
                    *record = inline;
                    overflow.remove(&customer);
                    if record.contacts().is_empty() {
                        records.remove(&customer);
                    }
                }
                result
            }
            Some(record) => {
                // Changed on a copy and written back: a panic in `change` leaves the record be.
                let mut history = record.to_history();
                let result = change(&mut history);
                if history.is_empty() {
                    records.remove(&customer);
                } else {
                    *record = store(overflow, customer, history);
                }
                result
            }
            None => {
                let mut history = History::new();
                let result = change(&mut history);
                if !history.is_empty() {
                    let record = store(overflow, customer, history);
                    records.insert(customer, record);
                }
                result
            }
        }
    }

    /// Judges `customer`'s contacts with `judge` (none if unknown) and inserts the contact it
    /// returns, if any, keeping only what the policy can count (see [`history::insert_pruned`]).
    /// One table look-up for a known customer whose contacts fit inline: they are judged where
    /// they lie, and the usual insert (a free slot, or the oldest contact outranked) is made in
    /// place; anything else is changed on a copy.
    #[inline]
    pub(super) fn judge_and_insert<R>(
        &mut self,
        customer: CustomerId,
        policy: &CompiledPolicy,
        now: Stamp,
        judge: impl FnOnce(&[Contact]) -> (R, Option<Contact>),
    ) -> R {
        if let Some(record) = self
            .records
            .get_mut(&customer)
            .filter(|record| !record.overflowed())
        {
            let (result, contact) = judge(record.contacts());
            if let Some(contact) = contact.filter(|c| !record.try_append(*c, policy, now)) {
                let mut history = record.to_history();
                history::insert_pruned(&mut history, contact, policy, now);
                // Inserting never empties a history.
                debug_assert!(!history.is_empty());
                *record = store(&mut self.overflow, customer, history);
            }
            return result;
        }
        self.update(customer, |history| {
            let (result, contact) = judge(history);
            if let Some(contact) = contact {
                history::insert_pruned(history, contact, policy, now);
            }
            result
        })
    }

    /// `customer`'s record, if they are known and their contacts are inline: the first step
    /// of the usual reserve ([`reserve_inline`]), taken apart so that the caller can look the
    /// customer up before work that does not need the table.
    #[inline]
    pub(super) fn inline_record(&mut self, customer: CustomerId) -> Option<&mut Record> {
        self.records
            .get_mut(&customer)
            .filter(|record| !record.overflowed())
    }

    /// The usual reserve, made in place ([`reserve_inline`] on `customer`'s inline record):
    /// `false` if they are unknown or their contacts overflowed.
    #[cfg(test)]
    pub(super) fn try_reserve_inline(
        &mut self,
        customer: CustomerId,
        policy: &CompiledPolicy,
        contact: Contact,
        allows: impl FnOnce(&[Contact], bool) -> bool,
    ) -> bool {
        self.inline_record(customer)
            .is_some_and(|record| reserve_inline(record, policy, contact, allows))
    }

    /// The usual commit, made in place: `customer`'s contacts are inline and the newest is
    /// `reserved`, which becomes committed. `false`, with nothing changed, otherwise.
    #[inline]
    pub(super) fn try_commit_newest(&mut self, customer: CustomerId, reserved: Contact) -> bool {
        match self.records.get_mut(&customer) {
            Some(record) if !record.overflowed() => record.commit_newest(reserved),
            _ => false,
        }
    }

    /// Finds a contact of `customer` with `find` (an index into the contacts, oldest first)
    /// and applies `change` to the contacts there, in place. `None` if the customer is unknown
    /// or `find` finds nothing. A customer left with no contacts is removed.
    #[inline]
    pub(super) fn settle<R>(
        &mut self,
        customer: CustomerId,
        find: impl Fn(&[Contact]) -> Option<usize>,
        change: impl FnOnce(Settle<'_>, usize) -> R,
    ) -> Option<R> {
        let Table { records, overflow } = self;
        let record = records.get_mut(&customer)?;
        let result = if record.overflowed() {
            let history = overflow.get_mut(&customer);
            debug_assert!(history.is_some(), "an overflow record without its contacts");
            let history = history?;
            let index = find(history)?;
            let result = change(Settle::Overflow(history), index);
            if let Some(inline) = Record::holding(history) {
                *record = inline;
                overflow.remove(&customer);
            }
            result
        } else {
            let index = find(record.contacts())?;
            change(Settle::Inline(record), index)
        };
        if record.contacts().is_empty() && !record.overflowed() {
            records.remove(&customer);
        }
        Some(result)
    }

    /// Removes `customer`'s history; whether there was any.
    pub(super) fn remove(&mut self, customer: CustomerId) -> bool {
        self.overflow.remove(&customer);
        self.records.remove(&customer).is_some()
    }

    /// Keeps the customers for whom `keep` returns true, after it has changed their history
    /// (an emptied history is dropped too), and shrinks the tables. `keep` may only drop
    /// contacts.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(CustomerId, &mut History) -> bool) {
        let Table { records, overflow } = self;
        records.retain(|&id, record| {
            if record.overflowed() {
                let Some(history) = overflow.get_mut(&id) else {
                    return false;
                };
                let kept = keep(id, history) && !history.is_empty();
                if !kept {
                    overflow.remove(&id);
                } else if let Some(inline) = Record::holding(history) {
                    *record = inline;
                    overflow.remove(&id);
                }
                kept
            } else {
                let mut history = record.to_history();
                let kept = keep(id, &mut history) && !history.is_empty();
                // Dropping contacts keeps them inline.
                *record = Record::holding(&history).unwrap_or(*record);
                kept
            }
        });
        records.shrink_to_fit();
        overflow.shrink_to_fit();
    }
}

/// The usual reserve, made in place on a customer's inline `record`: `allows` passes its
/// contacts (told whether they are all of `contact`'s kind and topic), and `contact` goes in as
/// [`Record::try_append`] puts it. `false` when either fails, with nothing changed that any
/// judgment could tell (at most, stale reservations taken as sent, as every insert does): then
/// the general path runs.
#[inline]
pub(super) fn reserve_inline(
    record: &mut Record,
    policy: &CompiledPolicy,
    contact: Contact,
    allows: impl FnOnce(&[Contact], bool) -> bool,
) -> bool {
    // Whether every contact is of the incoming one's kind and topic: the judgment and the
    // append both have a shortcut for such a history.
    let alike = record.all_alike(&contact);
    allows(record.contacts(), alike) && record.try_append_alike(contact, policy, contact.at, alike)
}

/// The record for a changed, non-empty `history`: its contacts inline if they fit, otherwise
/// the overflow marker, with the contacts put in the side table.
fn store(
    overflow: &mut HashMap<CustomerId, History, Hasher>,
    customer: CustomerId,
    history: History,
) -> Record {
    Record::holding(&history).unwrap_or_else(|| {
        overflow.insert(customer, history);
        Record::OVERFLOW
    })
}

/// Where the contacts being settled live.
pub(super) enum Settle<'a> {
    Inline(&'a mut Record),
    Overflow(&'a mut History),
}

impl Settle<'_> {
    /// The contacts, oldest first.
    pub(super) fn contacts(&mut self) -> &mut [Contact] {
        match self {
            Settle::Inline(record) => record.contacts_mut(),
            Settle::Overflow(contacts) => contacts,
        }
    }

    /// Removes the contact at `index`.
    pub(super) fn remove(&mut self, index: usize) {
        match self {
            Settle::Inline(record) => record.remove(index),
            Settle::Overflow(contacts) => {
                contacts.remove(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, MessageClass};
    use crate::ledger::history::ContactState;
    use crate::time::Stamp;

    fn contact(at: u32) -> Contact {
        Contact::new(
            Stamp(at),
            Channel::Email,
            MessageClass::Marketing,
            0,
            0,
            ContactState::Committed,
        )
    }

    fn times(table: &Table, customer: CustomerId) -> Vec<u32> {
        table.contacts(customer).iter().map(|c| c.at.0).collect()
    }

    #[test]
    fn a_history_moves_to_the_side_table_and_back_as_it_grows_and_shrinks() {
        let mut table = Table::default();
        let who = CustomerId(7);
        table.update(who, |h| h.extend((1..=5).map(contact)));
        assert_eq!(times(&table, who), vec![1, 2, 3, 4, 5]);
        assert!(table.overflow.is_empty(), "five fit inline");

        table.update(who, |h| h.push(contact(6)));
        assert_eq!(times(&table, who), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(table.overflow.len(), 1);
        assert_eq!((table.len(), table.contact_count()), (1, 6));

        // Settling in the side table; back inline once five are left.
        let removed = table.settle(
            who,
            |c| c.iter().position(|c| c.at.0 == 3),
            |mut found, i| {
                found.remove(i);
            },
        );
        assert_eq!(removed, Some(()));
        assert_eq!(times(&table, who), vec![1, 2, 4, 5, 6]);
        assert!(table.overflow.is_empty());

        // Emptied: the customer is gone.
        for at in [1, 2, 4, 5, 6] {
            table.settle(
                who,
                |c| c.iter().position(|c| c.at.0 == at),
                |mut found, i| {
                    found.remove(i);
                },
            );
        }
        assert!(!table.contains(who));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_change_that_panics_leaves_inline_and_new_customers_as_they_were() {
        let mut table = Table::default();
        let (known, new) = (CustomerId(1), CustomerId(2));
        table.update(known, |h| h.extend((1..=3).map(contact)));
        for who in [known, new] {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                table.update(who, |h| {
                    h.push(contact(99));
                    panic!("a bug half-way through a change");
                })
            }));
            assert!(outcome.is_err());
        }
        assert_eq!(times(&table, known), vec![1, 2, 3]);
        assert!(!table.contains(new));
    }

    #[test]
    fn settling_finds_nothing_for_unknown_customers_or_contacts() {
        let mut table = Table::default();
        let who = CustomerId(1);
        assert_eq!(table.settle(who, |_| Some(0), |_, _| ()), None);
        table.update(who, |h| h.push(contact(10)));
        assert_eq!(table.settle(who, |_| None, |_, _| ()), None);
        let committed = table.settle(
            who,
            |_| Some(0),
            |mut found, i| {
                found.contacts()[i].set_state(ContactState::Reserved);
            },
        );
        assert_eq!(committed, Some(()));
        assert_eq!(table.contacts(who)[0].state(), ContactState::Reserved);
    }

    #[test]
    fn the_in_place_reserve_takes_only_the_usual_case_and_otherwise_changes_nothing() {
        // A policy that counts marketing emails, so that the contacts below are kept.
        let policy = crate::Policy {
            caps: vec![crate::policy::CapSpec {
                name: None,
                class: "marketing".to_owned(),
                channel: Some("email".to_owned()),
                topic: None,
                limit: 2,
                window: "1h".to_owned(),
            }],
            ..crate::Policy::default()
        }
        .compile()
        .expect("a valid policy");
        let mut table = Table::default();
        let (known, unknown, long) = (CustomerId(1), CustomerId(2), CustomerId(3));
        table.update(known, |h| h.extend([10, 20].map(contact)));
        table.update(long, |h| h.extend((1..=6).map(contact)));
        let allow = |_: &[Contact], _| true;

        // Not the usual case: unknown, overflowed, refused by the judgment, or older than the
        // newest contact held. Nothing changes; the general path takes it from there.
        assert!(!table.try_reserve_inline(unknown, &policy, contact(30), allow));
        assert!(!table.try_reserve_inline(long, &policy, contact(30), allow));
        assert!(!table.try_reserve_inline(known, &policy, contact(30), |_, _| false));
        assert!(!table.try_reserve_inline(known, &policy, contact(15), allow));
        assert_eq!(times(&table, known), vec![10, 20]);
        assert!(!table.contains(unknown));
        assert_eq!(times(&table, long), (1..=6).collect::<Vec<_>>());

        // The usual case: judged on the contacts where they lie, appended in place.
        let mut judged = Vec::new();
        let taken = table.try_reserve_inline(known, &policy, contact(30), |history, alike| {
            judged = history.iter().map(|c| c.at.0).collect();
            assert!(alike, "all of the incoming contact's kind and topic");
            true
        });
        assert!(taken);
        assert_eq!(judged, vec![10, 20]);
        assert_eq!(times(&table, known), vec![10, 20, 30]);
    }

    #[test]
    fn retain_drops_emptied_and_refused_customers() {
        let mut table = Table::default();
        for id in 1..=3u64 {
            table.update(CustomerId(id), |h| {
                h.extend((1..=id as u32 * 3).map(contact))
            });
        }
        table.retain(|id, history| {
            history.retain(|c| c.at.0 > 2);
            id != CustomerId(2)
        });
        assert_eq!(times(&table, CustomerId(1)), vec![3]);
        assert!(!table.contains(CustomerId(2)));
        assert_eq!(times(&table, CustomerId(3)), (3..=9).collect::<Vec<_>>());
        assert!(table.remove(CustomerId(3)));
        assert!(!table.remove(CustomerId(3)));
        assert!(table.overflow.is_empty());
    }
}
