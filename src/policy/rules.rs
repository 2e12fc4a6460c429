//! Compiled rules: the validated, hot-path form of caps, spacing and their scopes.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, MessageClass};
use crate::policy::Window;

/// The stable 32-bit key of a topic name (CRC-32). Zero is kept for "no topic".
///
/// A collision could only make two topics count together: more contacts counted, never fewer.
pub(crate) fn topic_hash(name: &str) -> u32 {
    crc32fast::hash(name.as_bytes()).max(1)
}

/// Which contacts a rule counts and which attempts it holds back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) class: MessageClass,
    pub(crate) channel: Option<Channel>,
    /// `(hash, name)`; `None` for every topic.
    pub(crate) topic: Option<(u32, Box<str>)>,
}

impl Scope {
    /// Whether a contact (or attempt) of this class, channel and topic is in scope. **O(1)**.
    #[inline]
    pub(crate) fn matches(&self, class: MessageClass, channel: Channel, topic: u32) -> bool {
        self.class == class
            && self.channel.is_none_or(|c| c == channel)
            && self.topic.as_ref().is_none_or(|(hash, _)| *hash == topic)
    }

    /// The same scope key, for spotting duplicate rules.
    pub(crate) fn key(&self) -> (MessageClass, Option<Channel>, Option<u32>) {
        (self.class, self.channel, self.topic.as_ref().map(|(h, _)| *h))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.class)?;
        if let Some((_, name)) = &self.topic {
            write!(f, " \"{name}\"")?;
        }
        match self.channel {
            Some(channel) => write!(f, " on {channel}"),
            None => write!(f, " on all channels"),
        }
    }
}

/// Names the rule behind a [`Reason`](crate::Reason): where it is written and what it is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Where the rule is written: `caps[1]`, `spacing[0]`, `quiet_hours[2]`, or
    /// `customer.frequency_preferences[0]` for a customer's own preference.
    pub path: String,
    /// The rule's `name`, if it has one.
    pub name: Option<String>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} \"{name}\"", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// At most `limit` contacts in scope per `window`.
#[derive(Debug, Clone)]
pub(crate) struct CapRule {
    pub(crate) rule: RuleRef,
    pub(crate) scope: Scope,
    pub(crate) limit: NonZeroU32,
    pub(crate) window: Window,
}

/// At least `min_gap` seconds between two contacts in scope.
#[derive(Debug, Clone)]
pub(crate) struct SpacingRule {
    pub(crate) rule: RuleRef,
    pub(crate) scope: Scope,
    pub(crate) min_gap: NonZeroU32,
}

/// What history a scope needs kept: its `keep` most recent contacts within `reach` seconds of
/// the newest one.
#[derive(Debug, Clone)]
pub(crate) struct Retention {
    pub(crate) scope: Scope,
    pub(crate) keep: u32,
    pub(crate) reach: u32,
}
