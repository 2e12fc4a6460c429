//! The in-process ledger: sharded maps of compact histories behind mutexes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::history::{self, Contact, ContactState, History};
use super::table::{self, Settle, Table};
use super::{ContactLedger, Outcome, RecordedContact, Reservation};
use crate::channel::MessageClass;
use crate::customer::{Customer, CustomerId};
use crate::error::{Error, InputError, LedgerError};
use crate::policy::CompiledPolicy;
use crate::throttle::judge::Judge;
use crate::throttle::{Attempt, IfBlocked, Verdict};
use crate::time::Stamp;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

#[derive(Default)]
pub(super) struct ShardState {
    pub(super) customers: Table,
    /// Idempotency keys of recorded contacts, with their times, per customer. Only imports
    /// have them; they age out a history horizon behind the customer's newest record, and on
    /// `sweep`.
    pub(super) record_keys: HashMap<CustomerId, RecordKeys, foldhash::fast::RandomState>,
    /// Numbers reservations. Reservations that agree in every field are interchangeable, so a
    /// wrapping counter only needs to keep most of them apart.
    pub(super) next_id: u8,
}

/// One customer's recorded idempotency keys and when each contact was made.
pub(super) type RecordKeys = HashMap<Box<str>, Stamp, foldhash::fast::RandomState>;

/// One shard, aligned to a cache line so that no two shards share one.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct Shard(Mutex<ShardState>);

/// The embedded default ledger: in process, `Send + Sync`, shared by reference or `Arc`.
///
/// Customers are spread over 64 shards, each a mutex around a hash table of 48-byte entries (a
/// customer's id and up to five contacts inline; longer histories, which only policies that
/// count more need, move to a side table). An operation locks one shard for the length of one
/// judgment, which is what makes check-and-reserve atomic. Once a
/// customer's inline space is full, each write prunes the history to what the policy can still
/// count, so memory and the cost of a check stay bounded whatever the customer's lifetime
/// history. Customers who are never written to again keep their last contacts until
/// [`MemoryLedger::sweep`] runs.
///
/// The ledger keeps what the policy it is given can count. After switching to a policy that
/// counts further back or more contacts in some scope, that scope starts from what the old
/// policy kept: per channel and across channels, at least the `preferences.max_limit` most
/// recent marketing contacts within `preferences.max_window` (4 within 32 days by default).
///
/// ```
/// # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
/// use chrono::{TimeZone, Utc};
/// use cornershop::{Attempt, Channel, Consent, ContactLedger, Customer, IfBlocked, MemoryLedger, Policy};
///
/// let policy = Policy::from_toml_str(r#"
///     [[caps]]
///     channel = "email"
///     limit = 1
///     window = "7d"
/// "#)?.compile()?;
/// let ledger = MemoryLedger::new();
/// let customer = Customer::new(1).with_consent(Channel::Email, Consent::OptedIn);
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
///
/// let first = ledger.reserve(&policy, &customer, Attempt::marketing(Channel::Email), IfBlocked::Drop, now)?;
/// ledger.commit(first.reservation.as_ref().expect("allowed"))?;
///
/// let second = ledger.check(&policy, &customer, Attempt::marketing(Channel::Email), now)?;
/// assert_eq!(second.earliest_allowed(now), Some(now + chrono::Duration::days(7)));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MemoryLedger {
    /// A fixed count, so that indexing by `shard_of` needs no bounds check.
    pub(super) shards: Box<[Shard; SHARDS]>,
    /// The latest time given to [`MemoryLedger::sweep`]; attempts before it are judged from it.
    pub(super) floor: AtomicU32,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::new()
    }
}

impl std::fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLedger")
            .field("customers", &self.customer_count())
            .finish_non_exhaustive()
    }
}

fn stamp(time: DateTime<Utc>) -> Result<Stamp, Error> {
    Ok(Stamp::from_utc(time)?)
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        MemoryLedger::with_capacity(0)
    }

    /// An empty ledger with room for about `customers` customers before its tables grow.
    /// Growing doubles a table and frees the old one, which the allocator may keep; sizing
    /// up front avoids that when the number of customers is known.
    pub fn with_capacity(customers: usize) -> Self {
        // Customers spread evenly over the shards; a little slack covers the unevenness.
        let per_shard = customers.div_ceil(SHARDS) + customers.div_ceil(SHARDS * 32);
        let shard = || {
            Shard(Mutex::new(ShardState {
                customers: Table::with_capacity(per_shard),
                ..ShardState::default()
            }))
        };
        MemoryLedger {
            shards: Box::new(std::array::from_fn(|_| shard())),
            floor: AtomicU32::new(0),
        }
    }

    pub(super) fn lock_shard(&self, index: usize) -> MutexGuard<'_, ShardState> {
        // A panic while a shard was locked cannot leave a history half-written in a way that
        // matters: inline histories are changed on a copy and written back, except the usual
        // append, made in place by steps that cannot panic; a longer one in place is at worst
        // part-pruned (only contacts no rule counts go). Keep serving.
        self.shards[index]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn shard_of(customer: CustomerId) -> usize {
        // Fibonacci hashing: the top bits of a multiplicative hash spread sequential ids evenly.
        (customer.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARD_BITS)) as usize
    }

    fn lock(&self, customer: CustomerId) -> MutexGuard<'_, ShardState> {
        self.lock_shard(Self::shard_of(customer))
    }

    /// Puts a customer's whole history and recorded keys in place (restore), and moves the
    /// shard's reservation numbers past the restored ones.
    pub(super) fn restore_customer(
        &self,
        customer: CustomerId,
        history: History,
        keys: RecordKeys,
    ) {
        let mut shard = self.lock(customer);
        if let Some(last) = history.iter().map(|c| c.id).max() {
            shard.next_id = shard.next_id.max(last.wrapping_add(1));
        }
        shard.customers.update(customer, |stored| *stored = history);
        if !keys.is_empty() {
            shard.record_keys.insert(customer, keys);
        }
    }

    fn floor(&self) -> Stamp {
        Stamp(self.floor.load(Ordering::Acquire))
    }

    /// How many customers have history. **O(shards)**; locks each shard in turn.
    pub fn customer_count(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.lock_shard(i).customers.len())
            .sum()
    }

    /// How many contacts are held in all. **O(customers)**.
    pub fn contact_count(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.lock_shard(i).customers.contact_count())
            .sum()
    }

    /// Drops every contact that `policy` can no longer count at `now` or later, and customers left
    /// with none; shrinks the maps. Attempts judged afterwards at a time before `now` are judged
    /// from `now` (fail closed: what was swept can no longer be counted). **O(contacts)**.
    pub fn sweep(&self, policy: &CompiledPolicy, now: DateTime<Utc>) -> Result<(), Error> {
        let now = stamp(now)?;
        self.floor.fetch_max(now.0, Ordering::AcqRel);
        for index in 0..SHARDS {
            let mut shard = self.lock_shard(index);
            shard.customers.retain(|_, history| {
                history::sweep(history, policy, now);
                !history.is_empty()
            });
            let horizon = policy.history_horizon_secs();
            shard.record_keys.retain(|_, keys| {
                keys.retain(|_, at| at.plus(horizon) > now);
                !keys.is_empty()
            });
            shard.record_keys.shrink_to_fit();
        }
        Ok(())
    }

    /// The general reserve, in a locked shard: judges the attempt at `now` in full and
    /// reserves it (as `reservation`, sent now or at the time it is deferred to) if it is
    /// allowed now, or deferred as `if_blocked` allows. Kept out of line so that the usual
    /// reserve stays small.
    #[inline(never)]
    fn reserve_judged(
        shard: &mut ShardState,
        policy: &CompiledPolicy,
        judge: &Judge<'_>,
        reservation: Reservation,
        if_blocked: IfBlocked,
        now: Stamp,
        floor: Stamp,
    ) -> Result<Outcome, Error> {
        // One look-up for judging and reserving.
        let judged =
            shard
                .customers
                .judge_and_insert(reservation.customer, policy, now, |history| {
                    let verdict = judge.verdict(history, now, floor);
                    let send_at = match (&verdict, if_blocked) {
                        (Verdict::Allowed, _) => Ok(Some(now)),
                        (Verdict::Deferred { until, .. }, IfBlocked::Defer { expires })
                            if expires.is_none_or(|e| *until <= e) =>
                        {
                            stamp(*until).map(Some)
                        }
                        _ => Ok(None),
                    };
                    let reserved = match send_at {
                        Ok(Some(send_at)) => Some(stored(
                            &Reservation {
                                send_at,
                                ..reservation.clone()
                            },
                            ContactState::Reserved,
                        )),
                        _ => None,
                    };
                    (send_at.map(|send_at| (verdict, send_at)), reserved)
                });
        let (verdict, send_at) = judged?;
        if send_at.is_some() {
            shard.next_id = reservation.id.wrapping_add(1);
        }
        Ok(Outcome {
            verdict,
            reservation: send_at.map(|send_at| Reservation {
                send_at,
                ..reservation
            }),
        })
    }

    /// Finds the reserved or committed contact behind `reservation` and applies `settle` to it.
    /// `Ok(false)` when the ledger no longer holds it.
    fn settle(
        &self,
        reservation: &Reservation,
        settle: impl FnOnce(Settle<'_>, usize) -> Result<bool, LedgerError>,
    ) -> Result<bool, Error> {
        let mut shard = self.lock(reservation.customer);
        Self::settle_locked(&mut shard, reservation, settle)
    }

    /// [`MemoryLedger::settle`] in a locked shard.
    fn settle_locked(
        shard: &mut ShardState,
        reservation: &Reservation,
        settle: impl FnOnce(Settle<'_>, usize) -> Result<bool, LedgerError>,
    ) -> Result<bool, Error> {
        let (reserved, committed) = (
            stored(reservation, ContactState::Reserved),
            stored(reservation, ContactState::Committed),
        );
        // Reservations that agree in every field are interchangeable: settle one still
        // reserved before concluding that the reservation was committed. Newest first: a
        // reservation is usually settled soon after it is taken.
        let find = |contacts: &[Contact]| {
            contacts
                .iter()
                .rposition(|c| *c == reserved)
                .or_else(|| contacts.iter().rposition(|c| *c == committed))
        };
        let settled = shard.customers.settle(reservation.customer, find, settle);
        Ok(settled.transpose()?.unwrap_or(false))
    }
}

/// The stored contact `reservation` made, as it is in `state`.
fn stored(reservation: &Reservation, state: ContactState) -> Contact {
    Contact::new(
        reservation.send_at,
        reservation.channel,
        reservation.class,
        reservation.topic,
        reservation.id,
        state,
    )
}

impl ContactLedger for MemoryLedger {
    fn check(
        &self,
        policy: &CompiledPolicy,
        customer: &Customer,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verdict, Error> {
        let now = stamp(now)?;
        let shard = self.lock(customer.id);
        // Looked up first, as in `reserve`: the memory wait overlaps with setting up the judge.
        let history = shard.customers.contacts(customer.id);
        let judge = Judge::new(policy, customer, attempt)?;
        Ok(judge.verdict(history, now, self.floor()))
    }

    fn reserve(
        &self,
        policy: &CompiledPolicy,
        customer: &Customer,
        attempt: Attempt<'_>,
        if_blocked: IfBlocked,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        let now = stamp(now)?;
        let mut shard = self.lock(customer.id);
        let state = &mut *shard;
        // The customer looked up before the judge is set up, which needs no table: among many
        // customers the look-up waits on memory, and that wait overlaps with the setting up
        // (which so runs under the shard's lock: about a hundred instructions held longer).
        let record = state.customers.inline_record(customer.id);
        let judge = Judge::new(policy, customer, attempt)?;
        let floor = self.floor();
        // The reservation a reserve sending at `now` makes (its stored contact, reserved).
        let reservation = Reservation {
            customer: customer.id,
            send_at: now,
            channel: attempt.channel,
            class: attempt.class,
            topic: judge.topic(),
            id: state.next_id,
        };
        // The usual case first: an attempt allowed now for a customer whose contacts are inline.
        if let Some(record) = record.filter(|_| floor <= now) {
            let contact = stored(&reservation, ContactState::Reserved);
            let allows = |history: &[Contact], alike| judge.allows_alike(history, now, alike);
            if table::reserve_inline(record, policy, contact, allows) {
                state.next_id = reservation.id.wrapping_add(1);
                return Ok(Outcome {
                    verdict: Verdict::Allowed,
                    reservation: Some(reservation),
                });
            }
        }
        Self::reserve_judged(
            &mut shard,
            policy,
            &judge,
            reservation,
            if_blocked,
            now,
            floor,
        )
    }

    fn commit(&self, reservation: &Reservation) -> Result<bool, Error> {
        let mut shard = self.lock(reservation.customer);
        // The usual commit: the reservation is its customer's newest contact, inline.
        let reserved = stored(reservation, ContactState::Reserved);
        if shard
            .customers
            .try_commit_newest(reservation.customer, reserved)
        {
            return Ok(true);
        }
        Self::settle_locked(&mut shard, reservation, |mut found, index| {
            let contact = &mut found.contacts()[index];
            let reserved = contact.state() == ContactState::Reserved;
            contact.set_state(ContactState::Committed);
            Ok(reserved)
        })
    }

    fn release(&self, reservation: &Reservation) -> Result<bool, Error> {
        self.settle(reservation, |mut found, index| {
            if found.contacts()[index].state() == ContactState::Committed {
                return Err(LedgerError::AlreadyCommitted(Box::new(reservation.clone())));
            }
            found.remove(index);
            Ok(true)
        })
    }

    fn record(
        &self,
        policy: &CompiledPolicy,
        customer: CustomerId,
        contact: RecordedContact<'_>,
    ) -> Result<bool, Error> {
        let topic = policy.topic_key(contact.topic)?;
        if contact.key.is_empty() {
            return Err(InputError::EmptyKey.into());
        }
        let at = stamp(contact.at)?;
        let recorded = Contact::new(
            at,
            contact.channel,
            contact.class,
            topic,
            0,
            ContactState::Recorded,
        );
        let mut shard = self.lock(customer);
        let ShardState {
            customers,
            record_keys,
            ..
        } = &mut *shard;
        let keys = record_keys.entry(customer).or_default();
        if keys.contains_key(contact.key) {
            return Ok(false);
        }
        keys.insert(contact.key.into(), at);
        customers.judge_and_insert(customer, policy, at, |_| ((), Some(recorded)));
        // Keys live a history horizon behind the newest recorded contact. (The newest contact
        // of any kind may be a send deferred far ahead, which says nothing of what imports can
        // still repeat.) Aged keys are dropped every 32 records, so the walk costs O(1) a
        // record on average.
        if keys.len() % 32 == 0 {
            let newest = keys.values().copied().max().unwrap_or(at);
            let horizon = policy.history_horizon_secs();
            keys.retain(|_, key_at| key_at.plus(horizon) > newest);
        }
        if keys.is_empty() {
            record_keys.remove(&customer);
        }
        Ok(true)
    }

    fn contacts_between(
        &self,
        customer: CustomerId,
        class: MessageClass,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, Error> {
        let (since, now) = (stamp(since)?, stamp(now)?);
        let shard = self.lock(customer);
        let count = shard
            .customers
            .contacts(customer)
            .iter()
            .filter(|c| c.class() == class && since <= c.at && c.at <= now)
            .count();
        // A history holds at most a few thousand contacts.
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn forget(&self, customer: CustomerId) -> Result<bool, Error> {
        let mut shard = self.lock(customer);
        let had_keys = shard.record_keys.remove(&customer).is_some();
        Ok(shard.customers.remove(customer) || had_keys)
    }
}
