//! Compiled rules: the validated, hot-path form of caps, spacing and their scopes.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::channel::{kind, Channel, MessageClass};
use crate::ledger::history::Contact;
use crate::policy::Window;

/// The stable 16-bit key of a topic name: [`fold_key`] of [`topic_hash64`]. Zero is kept for
/// "no topic" (a name never folds to it).
///
/// A collision could only make two topics count together: more contacts counted, never fewer.
#[inline]
pub(crate) fn topic_hash(name: &str) -> u16 {
    fold_key(topic_hash64(name))
}

/// The stored key of a topic name's full 64-bit hash ([`topic_hash64`]): never 0, which
/// stands for "no topic" (so it is not for a contact without one).
#[inline]
pub(crate) fn fold_key(hash: u64) -> u16 {
    // The multiply pushes each byte's influence upwards: fold the high bits down.
    let folded = hash ^ hash >> 32;
    ((folded ^ folded >> 16) as u16).max(1)
}

/// The full 64-bit hash of a topic name, which [`fold_key`] folds into its stored key. Two
/// names with the same key are told apart by it (unless their full hashes are equal too:
/// about one chance in 2^64 for two given names).
///
/// Keys are stored in snapshots, so this must never change (a change needs a new snapshot
/// format version). General-purpose hashers (foldhash, rustc-hash) do not promise stable
/// output across their versions, and a CRC of a short name cost about 100 instructions a
/// judgment; this reads the name eight bytes at a time with a multiply-fold per word.
// Out of line: inlined into the reserve path it measured more instructions than the call.
#[inline(never)]
pub(crate) fn topic_hash64(name: &str) -> u64 {
    // The golden-ratio constant of Fibonacci hashing: odd, with well-spread bits.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(K);
    let mut rest = name.as_bytes();
    let mut hash = rest.len() as u64;
    while let Some((word, after)) = rest.split_first_chunk::<8>() {
        hash = mix(hash, u64::from_le_bytes(*word));
        rest = after;
    }
    // The last 1 to 7 bytes as one word, read without a loop: two overlapping 4-byte reads,
    // or the first, middle and last byte of a shorter rest.
    let bytes3 = |first: u8, middle: u8, last: u8| {
        Some(u64::from(first) << 16 | u64::from(middle) << 8 | u64::from(last))
    };
    let tail = match rest {
        [] => None,
        [a] => bytes3(*a, *a, *a),
        [a, b] => bytes3(*a, *b, *b),
        [a, b, c] => bytes3(*a, *b, *c),
        _ => match (rest.first_chunk::<4>(), rest.last_chunk::<4>()) {
            (Some(head), Some(last)) => Some(
                u64::from(u32::from_le_bytes(*head)) << 32 | u64::from(u32::from_le_bytes(*last)),
            ),
            // Not reached: the rest has 4 to 7 bytes here.
            _ => None,
        },
    };
    if let Some(tail) = tail {
        hash = mix(hash, tail);
    }
    hash
}

/// Which contacts a rule counts and which attempts it holds back, in compact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ScopeKey {
    pub(crate) class: MessageClass,
    /// `None` for every channel.
    pub(crate) channel: Option<Channel>,
    /// [`topic_hash`] of the topic, 0 for every topic.
    pub(crate) topic: u16,
    /// A bit per [`kind`] (channel and class) in scope: derived from `class` and `channel`.
    kinds: u32,
}

impl ScopeKey {
    pub(crate) fn new(class: MessageClass, channel: Option<Channel>, topic: u16) -> ScopeKey {
        let kinds = Channel::ALL
            .into_iter()
            .filter(|c| channel.is_none_or(|only| only == *c))
            .fold(0, |kinds, c| kinds | 1 << kind(c, class));
        ScopeKey {
            class,
            channel,
            topic,
            kinds,
        }
    }

    /// A bit per channel and class (see [`kind`]) the scope counts.
    #[inline]
    pub(crate) fn kinds(self) -> u32 {
        self.kinds
    }

    /// Whether a stored contact is in scope. **O(1)**: two bit tests.
    #[inline]
    pub(crate) fn counts(self, contact: &Contact) -> bool {
        self.kinds & 1 << contact.kind() != 0 && (self.topic == 0 || self.topic == contact.topic)
    }
}

/// A scope with the topic's name, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) key: ScopeKey,
    pub(crate) topic_name: Option<Box<str>>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key.class)?;
        if let Some(name) = &self.topic_name {
            write!(f, " \"{name}\"")?;
        }
        match self.key.channel {
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

/// Where a [`Check`] comes from: an index into the policy's caps or spacing rules, or into the
/// customer's frequency preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckSource {
    Cap(u16),
    Spacing(u16),
    Preference(u32),
}

/// A cap, spacing rule or preference as the judge reads it: at most `limit` contacts in scope
/// per `window`. A minimum gap is a rolling window of that length with a limit of one. Compact
/// and stored contiguously per channel and class, so that a judgment walks a short array.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check {
    pub(crate) scope: ScopeKey,
    pub(crate) limit: u32,
    pub(crate) window: Window,
    pub(crate) source: CheckSource,
}

/// Caps, then spacing rules, as one array: walked in that order when a judgment gives
/// reasons, and all at once when it only asks whether they pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks {
    all: Vec<Check>,
    /// How many of `all`, from the start, are caps.
    cap_count: usize,
}

impl Checks {
    /// None.
    pub(crate) const NONE: Checks = Checks {
        all: Vec::new(),
        cap_count: 0,
    };

    /// `caps`, then `spacings`.
    pub(crate) fn new(mut caps: Vec<Check>, spacings: Vec<Check>) -> Checks {
        let cap_count = caps.len();
        caps.extend(spacings);
        Checks {
            all: caps,
            cap_count,
        }
    }

    /// Caps and spacing rules.
    #[inline]
    pub(crate) fn all(&self) -> &[Check] {
        &self.all
    }

    /// The caps.
    #[inline]
    pub(crate) fn caps(&self) -> &[Check] {
        self.all.get(..self.cap_count).unwrap_or_default()
    }

    /// The spacing rules.
    #[inline]
    pub(crate) fn spacings(&self) -> &[Check] {
        self.all.get(self.cap_count..).unwrap_or_default()
    }
}

impl CapRule {
    /// The judge's form of the cap at `index`.
    pub(crate) fn check(&self, index: u16) -> Check {
        Check {
            scope: self.scope.key,
            limit: self.limit.get(),
            window: self.window,
            source: CheckSource::Cap(index),
        }
    }
}

impl SpacingRule {
    /// The judge's form of the spacing rule at `index`: one contact per `min_gap`.
    pub(crate) fn check(&self, index: u16) -> Check {
        Check {
            scope: self.scope.key,
            limit: 1,
            window: Window::Rolling {
                seconds: self.min_gap,
            },
            source: CheckSource::Spacing(index),
        }
    }
}

/// At least `min_gap` seconds between two contacts in scope.
#[derive(Debug, Clone)]
pub(crate) struct SpacingRule {
    pub(crate) rule: RuleRef,
    pub(crate) scope: Scope,
    pub(crate) min_gap: NonZeroU32,
}

#[cfg(test)]
mod tests {
    use super::topic_hash;

    #[test]
    fn topic_keys_never_change() {
        // Snapshots store these keys: a change here needs a new snapshot format version.
        // Every length of the last part of a name, 0 to 7 bytes past its 8-byte words.
        let keys: Vec<u16> = [
            "newsletter",
            "a",
            "offer-001",
            "a topic name longer than 16",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "abcdefghijkl",
            "abcdefghijklmno",
        ]
        .iter()
        .map(|name| topic_hash(name))
        .collect();
        assert_eq!(
            keys,
            vec![
                51770, 50244, 63394, 12041, 56389, 59075, 4149, 805, 61041, 37786, 53856, 6041,
                61755
            ]
        );
    }

    #[test]
    fn topic_keys_tell_close_names_apart() {
        let names: Vec<String> = (0..2000).map(|i| format!("offer-{i:04}")).collect();
        let mut keys: Vec<u16> = names.iter().map(|name| topic_hash(name)).collect();
        assert!(keys.iter().all(|&key| key != 0), "0 means no topic");
        keys.sort_unstable();
        keys.dedup();
        // 2,000 names in 65,535 keys: about 30 collisions expected from a good hash.
        assert!(keys.len() > 1900, "{} distinct keys", keys.len());
    }
}
