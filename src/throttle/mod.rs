//! The throttle answer: may this contact go out now, later, or not at all, and why.
//!
//! The rules are judged in one place, [`judge`], on a customer's compact history; ledgers only
//! store that history and make check-and-reserve atomic around the judgment.

pub(crate) mod judge;
mod reason;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, MessageClass};

pub use reason::Reason;
pub(crate) use reason::Time;

/// A contact the application wants to make: on which channel, of which class, about what topic.
///
/// ```
/// use cornershop::{Attempt, Channel};
///
/// let newsletter = Attempt::marketing(Channel::Email).with_topic("newsletter");
/// let reply = Attempt::service(Channel::Sms);
/// # let _ = (newsletter, reply);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The channel it would go out on.
    pub channel: Channel,
    /// Its class: service, transactional or marketing.
    pub class: MessageClass,
    /// Its topic (1 to 64 bytes), for topic caps and unsubscribes.
    pub topic: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    /// A marketing message on `channel`.
    pub const fn marketing(channel: Channel) -> Self {
        Attempt {
            channel,
            class: MessageClass::Marketing,
            topic: None,
        }
    }

    /// A transactional message on `channel`.
    pub const fn transactional(channel: Channel) -> Self {
        Attempt {
            channel,
            class: MessageClass::Transactional,
            topic: None,
        }
    }

    /// A service reply on `channel`.
    pub const fn service(channel: Channel) -> Self {
        Attempt {
            channel,
            class: MessageClass::Service,
            topic: None,
        }
    }

    /// The same attempt about `topic`.
    pub const fn with_topic(mut self, topic: &'a str) -> Self {
        self.topic = Some(topic);
        self
    }
}

/// What to do when a rule holds a contact back for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IfBlocked {
    /// Do not reserve anything.
    #[default]
    Drop,
    /// Reserve the earliest allowed time instead, unless it is after `expires`
    /// ("this offer is worth sending only until Friday"); `None` never expires.
    Defer {
        /// The latest acceptable send time.
        expires: Option<DateTime<Utc>>,
    },
}

/// The throttle's answer for one attempt at one time. A "no" is data: "not until" and "never"
/// are different answers, and both carry every reason that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule passes now.
    Allowed,
    /// Held back for now; every rule passes at `until` (judged at that time).
    Deferred {
        /// The earliest time the contact is allowed.
        until: DateTime<Utc>,
        /// Every rule that holds it back now.
        reasons: Vec<Reason>,
    },
    /// Not allowed as things stand: consent, do-not-contact or an unsubscribe stops it. The
    /// reasons include the temporary ones too. (Also the answer, fail closed, in the rare case
    /// that no time passing every rule is found within 64 jumps from one rule's release to the
    /// next, for instance near the end of the supported time range.)
    Denied {
        /// Every rule that stops it now.
        reasons: Vec<Reason>,
    },
}

impl Verdict {
    /// Whether the contact may go out now.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    /// The earliest time the contact would pass: `now` if allowed, `None` if denied.
    pub fn earliest_allowed(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Verdict::Allowed => Some(now),
            Verdict::Deferred { until, .. } => Some(*until),
            Verdict::Denied { .. } => None,
        }
    }

    /// The reasons that hold the contact back (empty if allowed).
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Verdict::Allowed => &[],
            Verdict::Deferred { reasons, .. } | Verdict::Denied { reasons } => reasons,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Allowed => return f.write_str("allowed"),
            Verdict::Deferred { until, .. } => write!(f, "deferred until {}", Time(*until))?,
            Verdict::Denied { .. } => f.write_str("denied")?,
        }
        for (i, reason) in self.reasons().iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}
