//! Error types, one per concern, and [`Error`] which wraps them all.
//!
//! Messages read as sentences and name where the problem is: a policy error starts with the field
//! path (`caps[2].window: must be greater than zero`).

use std::fmt;

use crate::ledger::Reservation;

/// A policy that cannot be compiled: the field path and what is wrong with it. A path-less
/// error (a syntax error in the text, which names its line and column) reads as its problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", if .path.is_empty() { String::new() } else { format!("{}: ", .path) })]
pub struct PolicyError {
    path: String,
    problem: String,
}

impl PolicyError {
    pub(crate) fn new(path: impl fmt::Display, problem: impl fmt::Display) -> Self {
        PolicyError {
            path: path.to_string(),
            problem: problem.to_string(),
        }
    }

    /// Where in the policy the problem is, such as `caps[2].window` (empty for the whole text).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong there, such as `must be greater than zero`.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Input to a throttle call that cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The time is outside what the ledger stores (1970-01-01 to 2106-02-07, to the second).
    #[error("time {0} is outside the supported range 1970-01-01T00:00:00Z..=2106-02-07T06:28:15Z")]
    TimeOutOfRange(String),
    /// A customer's own frequency preference the ledger cannot honour.
    #[error("customer {customer}: frequency_preferences[{index}]: {problem}")]
    Preference {
        /// The customer.
        customer: crate::CustomerId,
        /// The index of the preference in the customer's list.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A recorded contact without an idempotency key.
    #[error("a recorded contact needs a non-empty idempotency key")]
    EmptyKey,
    /// A topic name that is empty or too long.
    #[error("topic {0:?} must be 1 to 64 bytes long")]
    BadTopic(String),
    /// An event that cannot be folded into a customer's summary.
    #[error("event: {0}")]
    BadEvent(String),
    /// A customer's profile attribute whose value does not have the type the policy declares.
    #[error("customer {customer}: attribute {attribute:?} is declared {expected} in the policy but holds a {found}")]
    AttributeType {
        /// The customer.
        customer: crate::CustomerId,
        /// The attribute's name.
        attribute: String,
        /// The type the policy declares.
        expected: crate::ValueKind,
        /// The type the customer's value has.
        found: crate::ValueKind,
    },
    /// A decision request that cannot be served.
    #[error("request: {0}")]
    BadRequest(String),
}

/// A ledger operation that refers to something the ledger does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// `release` of a reservation that was already committed: the message was sent. Carries
    /// the reservation, so that a caller can tell which of several it was.
    #[error("reservation {0} was already committed and cannot be released")]
    AlreadyCommitted(Box<Reservation>),
    /// The ledger's backing store failed (for ledgers that have one).
    #[error("ledger backend failed: {0}")]
    Backend(String),
}

/// A snapshot that cannot be restored. A bad snapshot never becomes an empty ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The snapshot text is not a snapshot (truncated, or not the expected format).
    #[error("snapshot cannot be read: {0}")]
    Unreadable(String),
    /// The snapshot was written by a format version this build does not know.
    #[error(
        "snapshot format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the snapshot.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The content does not match its checksum: it was altered or damaged.
    #[error("snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum written in the snapshot.
        stored: u32,
        /// The checksum of the content as read.
        computed: u32,
    },
    /// A value inside the snapshot is invalid.
    #[error("snapshot {path}: {problem}")]
    Invalid {
        /// Where in the snapshot.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Any error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`PolicyError`].
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
    /// See [`InputError`].
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// See [`LedgerError`].
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// See [`SnapshotError`].
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_errors_lead_with_their_path_if_they_have_one() {
        let located = PolicyError::new("caps[2].window", "must be greater than zero");
        assert_eq!(
            located.to_string(),
            "caps[2].window: must be greater than zero"
        );
        let syntax = PolicyError::new("", "TOML parse error at line 3");
        assert_eq!(syntax.to_string(), "TOML parse error at line 3");
    }
}
