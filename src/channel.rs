//! Channels a message can travel on, and the class of message it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A way of reaching a customer.
///
/// The set is fixed so that per-customer state stays compact (a channel takes three bits) and a typo in
/// a policy file (`"fax"`) is an error rather than a channel nobody sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// E-mail.
    Email,
    /// Text message.
    Sms,
    /// Mobile push notification.
    Push,
    /// A message shown inside the application.
    InApp,
    /// A call by a person.
    Phone,
    /// Letters and printed mail.
    Post,
    /// Chat apps (WhatsApp, Messenger and the like).
    Messaging,
}

impl Channel {
    /// Every channel, in declaration order.
    pub const ALL: [Channel; 7] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::InApp,
        Channel::Phone,
        Channel::Post,
        Channel::Messaging,
    ];

    /// The number of channels.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in policy files and logs (`"email"`, `"in_app"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::InApp => "in_app",
            Channel::Phone => "phone",
            Channel::Post => "post",
            Channel::Messaging => "messaging",
        }
    }

    /// A dense index in `0..Channel::COUNT`, for per-channel tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The channel with the given [`index`](Channel::index), if any.
    pub const fn from_index(index: usize) -> Option<Channel> {
        if index < Self::COUNT {
            Some(Self::ALL[index])
        } else {
            None
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number of distinct [`kind`] values.
pub(crate) const KINDS: usize = 32;

/// A channel and a class as one number below [`KINDS`] (`channel | class << 3`): the index of
/// per-kind tables and the low bits of a stored contact.
#[inline]
pub(crate) fn kind(channel: Channel, class: MessageClass) -> u8 {
    channel.index() as u8 | (class.index() as u8) << 3
}

/// The error of parsing a [`Channel`] or [`MessageClass`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?} (expected one of: {expected})")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    expected: &'static str,
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "channel",
                name: s.to_owned(),
                expected: "email, sms, push, in_app, phone, post, messaging",
            })
    }
}

/// What a message is for. The class decides which rules hold it back.
///
/// Service comes first: a [`Service`](MessageClass::Service) reply to the customer's own question
/// is never held back by marketing caps, consent for marketing, snoozes or do-not-contact; only
/// rules the policy writes for the service class apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageClass {
    /// A reply to the customer, who asked for it.
    Service,
    /// Receipts, shipping notices, password resets: expected by the customer, not promotional.
    Transactional,
    /// Offers and newsletters: needs consent and is held to caps and quiet hours.
    Marketing,
}

impl MessageClass {
    /// Every class, in declaration order.
    pub const ALL: [MessageClass; 3] = [
        MessageClass::Service,
        MessageClass::Transactional,
        MessageClass::Marketing,
    ];

    /// The number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in policy files and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageClass::Service => "service",
            MessageClass::Transactional => "transactional",
            MessageClass::Marketing => "marketing",
        }
    }

    /// A dense index in `0..MessageClass::COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The class with the given [`index`](MessageClass::index), if any.
    pub const fn from_index(index: usize) -> Option<MessageClass> {
        if index < Self::COUNT {
            Some(Self::ALL[index])
        } else {
            None
        }
    }
}

impl fmt::Display for MessageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "message class",
                name: s.to_owned(),
                expected: "service, transactional, marketing",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
            assert_eq!(Channel::from_index(c.index()), Some(c));
        }
        let err = "fax".parse::<Channel>().unwrap_err().to_string();
        assert!(err.contains("unknown channel \"fax\""), "{err}");
    }

    #[test]
    fn class_names_round_trip() {
        for c in MessageClass::ALL {
            assert_eq!(c.as_str().parse::<MessageClass>(), Ok(c));
            assert_eq!(MessageClass::from_index(c.index()), Some(c));
        }
        assert!("spam".parse::<MessageClass>().is_err());
    }
}
