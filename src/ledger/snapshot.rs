//! Snapshot and restore of a [`MemoryLedger`]: a versioned serde format with a checksum, so that
//! a damaged snapshot is an error and never an empty or partial ledger.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::history::{Contact, ContactState, History};
use super::memory::{MemoryLedger, RecordKeys};
use crate::channel::{Channel, MessageClass};
use crate::customer::CustomerId;
use crate::error::SnapshotError;
use crate::time::Stamp;

const FORMAT: &str = "cornershop-ledger";
const VERSION: u32 = 2;

/// Everything a [`MemoryLedger`] holds, as plain data. Serialize it with any serde format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// Always `"cornershop-ledger"`.
    pub format: String,
    /// The format version (2).
    pub version: u32,
    /// The ledger's swept-up-to time, seconds since the Unix epoch.
    pub floor: u32,
    /// Every customer with history, by ascending id.
    pub customers: Vec<CustomerSnapshot>,
    /// CRC-32 of the content above.
    pub checksum: u32,
}

/// One customer's history in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSnapshot {
    /// The customer.
    pub id: CustomerId,
    /// Contacts, oldest first.
    pub contacts: Vec<ContactSnapshot>,
    /// Idempotency keys of recorded contacts, by ascending key.
    #[serde(default)]
    pub recorded_keys: Vec<RecordedKeySnapshot>,
}

/// An idempotency key the ledger remembers, and when its contact was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedKeySnapshot {
    /// The key given to [`record`](crate::ContactLedger::record).
    pub key: String,
    /// Seconds since the Unix epoch.
    pub at: u32,
}

/// One contact in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSnapshot {
    /// Seconds since the Unix epoch.
    pub at: u32,
    /// The channel.
    pub channel: Channel,
    /// The class.
    pub class: MessageClass,
    /// The topic's key (0 for none).
    pub topic: u16,
    /// The reservation number (0 for recorded contacts).
    pub id: u8,
    /// Reserved, committed or recorded.
    pub state: ContactState,
}

fn checksum(floor: u32, customers: &[CustomerSnapshot]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    let len = |hasher: &mut crc32fast::Hasher, n: usize| hasher.update(&(n as u64).to_le_bytes());
    hasher.update(FORMAT.as_bytes());
    hasher.update(&VERSION.to_le_bytes());
    hasher.update(&floor.to_le_bytes());
    len(&mut hasher, customers.len());
    for customer in customers {
        hasher.update(&customer.id.0.to_le_bytes());
        len(&mut hasher, customer.contacts.len());
        for c in &customer.contacts {
            hasher.update(&c.at.to_le_bytes());
            let fields = [
                c.channel.index() as u8,
                c.class.index() as u8,
                c.state as u8,
                c.id,
            ];
            hasher.update(&fields);
            hasher.update(&c.topic.to_le_bytes());
        }
        len(&mut hasher, customer.recorded_keys.len());
        for k in &customer.recorded_keys {
            len(&mut hasher, k.key.len());
            hasher.update(k.key.as_bytes());
            hasher.update(&k.at.to_le_bytes());
        }
    }
    hasher.finalize()
}

impl From<&Contact> for ContactSnapshot {
    fn from(c: &Contact) -> Self {
        ContactSnapshot {
            at: c.at.0,
            channel: c.channel(),
            class: c.class(),
            topic: c.topic,
            id: c.id,
            state: c.state(),
        }
    }
}

impl LedgerSnapshot {
    /// Checks the format, version, checksum and content, in that order.
    fn validate(&self) -> Result<(), SnapshotError> {
        if self.format != FORMAT {
            return Err(SnapshotError::Invalid {
                path: "format".to_owned(),
                problem: format!("expected {FORMAT:?}, found {:?}", self.format),
            });
        }
        if self.version != VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: self.version,
                supported: VERSION,
            });
        }
        let computed = checksum(self.floor, &self.customers);
        if computed != self.checksum {
            return Err(SnapshotError::ChecksumMismatch {
                stored: self.checksum,
                computed,
            });
        }
        for (i, pair) in self.customers.windows(2).enumerate() {
            if pair[0].id >= pair[1].id {
                return Err(SnapshotError::Invalid {
                    path: format!("customers[{}].id", i + 1),
                    problem: "customers must be in ascending id order without repeats".to_owned(),
                });
            }
        }
        for (i, customer) in self.customers.iter().enumerate() {
            if customer.contacts.is_empty() && customer.recorded_keys.is_empty() {
                return Err(SnapshotError::Invalid {
                    path: format!("customers[{i}].contacts"),
                    problem: "a customer in a snapshot has a contact or a recorded key".to_owned(),
                });
            }
            if let Some(j) = customer
                .recorded_keys
                .windows(2)
                .position(|p| p[0].key >= p[1].key)
            {
                return Err(SnapshotError::Invalid {
                    path: format!("customers[{i}].recorded_keys[{}].key", j + 1),
                    problem: "keys must be in ascending order without repeats".to_owned(),
                });
            }
            if let Some(j) = customer.contacts.windows(2).position(|p| p[0].at > p[1].at) {
                return Err(SnapshotError::Invalid {
                    path: format!("customers[{i}].contacts[{}].at", j + 1),
                    problem: "contacts must be in time order".to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl MemoryLedger {
    /// Copies everything the ledger holds. Each customer's history is copied atomically; the
    /// whole is consistent if no other thread writes meanwhile. **O(contacts)**.
    pub fn snapshot(&self) -> LedgerSnapshot {
        let mut customers: Vec<CustomerSnapshot> = Vec::new();
        for index in 0..self.shards.len() {
            let shard = self.lock_shard(index);
            let ids = shard.customers.ids().chain(
                shard
                    .record_keys
                    .keys()
                    .filter(|id| !shard.customers.contains(**id)),
            );
            customers.extend(ids.map(|id| {
                let contacts = shard.customers.contacts(*id);
                let mut recorded_keys: Vec<RecordedKeySnapshot> = shard
                    .record_keys
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|(key, at)| RecordedKeySnapshot {
                        key: key.to_string(),
                        at: at.0,
                    })
                    .collect();
                recorded_keys.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                CustomerSnapshot {
                    id: *id,
                    contacts: contacts.iter().map(ContactSnapshot::from).collect(),
                    recorded_keys,
                }
            }));
        }
        customers.sort_unstable_by_key(|c| c.id);
        let floor = self.floor.load(Ordering::Acquire);
        LedgerSnapshot {
            format: FORMAT.to_owned(),
            version: VERSION,
            floor,
            checksum: checksum(floor, &customers),
            customers,
        }
    }

    /// Rebuilds a ledger from a snapshot, after checking its format, version, checksum and
    /// content. A snapshot that fails any check is an error; nothing is half-restored.
    ///
    /// ```
    /// use cornershop::MemoryLedger;
    ///
    /// let ledger = MemoryLedger::new();
    /// let text = serde_json::to_string(&ledger.snapshot())?;
    /// let restored = MemoryLedger::from_snapshot(serde_json::from_str(&text)?)?;
    /// assert_eq!(restored.snapshot(), ledger.snapshot());
    ///
    /// let truncated = &text[..text.len() - 5];
    /// assert!(serde_json::from_str::<cornershop::LedgerSnapshot>(truncated).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_snapshot(snapshot: LedgerSnapshot) -> Result<MemoryLedger, SnapshotError> {
        snapshot.validate()?;
        let ledger = MemoryLedger::new();
        ledger.floor.store(snapshot.floor, Ordering::Release);
        for customer in snapshot.customers {
            let history: History = customer
                .contacts
                .iter()
                .map(|c| Contact::new(Stamp(c.at), c.channel, c.class, c.topic, c.id, c.state))
                .collect();
            let keys: RecordKeys = customer
                .recorded_keys
                .into_iter()
                .map(|k| (k.key.into_boxed_str(), Stamp(k.at)))
                .collect();
            ledger.restore_customer(customer.id, history, keys);
        }
        Ok(ledger)
    }

    /// Restores from JSON text: a convenience for [`from_snapshot`](Self::from_snapshot).
    #[cfg(feature = "json")]
    pub fn from_snapshot_json(text: &str) -> Result<MemoryLedger, SnapshotError> {
        let snapshot: LedgerSnapshot =
            serde_json::from_str(text).map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
        MemoryLedger::from_snapshot(snapshot)
    }
}
