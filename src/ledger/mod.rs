//! The contact ledger: what was sent or reserved, per customer.
//!
//! [`ContactLedger`] is the interface every ledger offers; [`MemoryLedger`] is the in-process
//! default. Ledgers store history and make check-and-reserve atomic; the rules themselves are
//! judged by the throttle, the same way for every ledger.

pub(crate) mod history;
mod memory;
mod snapshot;
mod table;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, MessageClass};
use crate::customer::{Customer, CustomerId};
use crate::error::Error;
use crate::policy::CompiledPolicy;
use crate::throttle::{Attempt, IfBlocked, Time, Verdict};
use crate::time::Stamp;

pub use history::ContactState;
pub use memory::MemoryLedger;
pub use snapshot::{ContactSnapshot, CustomerSnapshot, LedgerSnapshot, RecordedKeySnapshot};

/// A slot taken by [`ContactLedger::reserve`]: it counts as sent from the moment it is taken.
/// [`commit`](ContactLedger::commit) it once the message went out, or
/// [`release`](ContactLedger::release) it if the send failed. One never settled keeps counting
/// (fail closed). Serializable, so it can travel with the job that sends the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reservation {
    customer: CustomerId,
    send_at: Stamp,
    channel: Channel,
    class: MessageClass,
    topic: u16,
    id: u8,
}

impl Reservation {
    /// Whose slot it is.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }

    /// When to send: the time of the reserve, or later if the contact was deferred.
    pub fn send_at(&self) -> DateTime<Utc> {
        self.send_at.to_utc()
    }

    /// [`Reservation::send_at`] as the ledger keeps it.
    pub(crate) fn send_stamp(&self) -> Stamp {
        self.send_at
    }

    /// The channel reserved.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The message class reserved.
    pub fn class(&self) -> MessageClass {
        self.class
    }
}

impl fmt::Display for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reservation {} for customer {}: {} on {} at {}",
            self.id,
            self.customer,
            self.class,
            self.channel,
            Time(self.send_at.to_utc())
        )
    }
}

/// The result of a check-and-reserve: the verdict, and the reservation if one was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Why it was allowed, deferred or denied.
    pub verdict: Verdict,
    /// The slot taken: at the time of the call if allowed, at the deferred time if the caller
    /// chose [`IfBlocked::Defer`] and it was within the expiry; `None` otherwise.
    pub reservation: Option<Reservation>,
}

/// A contact made elsewhere (an import, another system), for [`ContactLedger::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedContact<'a> {
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// On which channel.
    pub channel: Channel,
    /// Its class.
    pub class: MessageClass,
    /// Its topic, if any.
    pub topic: Option<&'a str>,
    /// A key unique to the message (its id in the sending system): recording the same key twice
    /// for the same customer counts once. Must not be empty.
    pub key: &'a str,
}

/// Storage of contact history with atomic check-and-reserve.
///
/// Every method takes `&self` and is safe to call from many threads: two callers deciding for
/// the same customer at the same moment never both take the last slot.
pub trait ContactLedger: Send + Sync {
    /// Judges `attempt` at `now` without reserving anything.
    fn check(
        &self,
        policy: &CompiledPolicy,
        customer: &Customer,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verdict, Error>;

    /// Judges `attempt` and, if it passes (or is deferred and the caller accepts the deferral),
    /// reserves the slot, in one atomic step.
    fn reserve(
        &self,
        policy: &CompiledPolicy,
        customer: &Customer,
        attempt: Attempt<'_>,
        if_blocked: IfBlocked,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error>;

    /// Marks a reservation as sent. Returns `true` if it was reserved and is now committed;
    /// `false` if there was nothing to mark: committed before, released, or no longer held
    /// because no rule can count it any more. Committing twice is harmless.
    fn commit(&self, reservation: &Reservation) -> Result<bool, Error>;

    /// Gives a reservation's slot back after a failed send. Returns `true` if the slot was
    /// freed; `false` if the ledger no longer held it (released before, or no rule counts it).
    /// A committed reservation cannot be released: the message was sent.
    fn release(&self, reservation: &Reservation) -> Result<bool, Error>;

    /// Records a contact made elsewhere. Returns `false` if a contact with the same key was
    /// already recorded for this customer: recording the same message twice counts once. Keys
    /// are remembered as long as the policy's rules can count the contact. Recording does not
    /// check any rule: it states a fact.
    fn record(
        &self,
        policy: &CompiledPolicy,
        customer: CustomerId,
        contact: RecordedContact<'_>,
    ) -> Result<bool, Error>;

    /// Erases everything held about a customer (right to erasure). Returns whether anything was.
    fn forget(&self, customer: CustomerId) -> Result<bool, Error>;

    /// How many contacts of `class` the ledger holds for `customer` from `since` to `now`
    /// (reserved ones included). The ledger keeps what the policy can count, so over a span
    /// longer than the policy's windows this is a lower bound. Scoring uses it for fatigue.
    fn contacts_between(
        &self,
        customer: CustomerId,
        class: MessageClass,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, Error>;

    /// The first time `attempt` would pass, or `None` if consent or the customer's choices stop
    /// it whatever the time.
    fn earliest_allowed(
        &self,
        policy: &CompiledPolicy,
        customer: &Customer,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self
            .check(policy, customer, attempt, now)?
            .earliest_allowed(now))
    }
}
