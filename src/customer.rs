//! The customer as the throttle sees them: who they are, where they live (time zone), and what
//! they agreed to or asked for.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::context::{Moment, Profile, Value};
use crate::policy::Window;

/// The application's identifier for a customer. Numeric so that per-customer state stays small;
/// an application with text ids maps them to its own integer keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u64);

impl From<u64> for CustomerId {
    fn from(id: u64) -> Self {
        CustomerId(id)
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The customer's marketing consent on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Consent {
    /// The customer agreed to marketing on this channel.
    OptedIn,
    /// The customer refused it.
    OptedOut,
    /// Nobody asked. Treated as no consent: fail closed.
    #[default]
    Unknown,
}

impl fmt::Display for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consent::OptedIn => "opted in",
            Consent::OptedOut => "opted out",
            Consent::Unknown => "unknown",
        })
    }
}

/// Marketing consent per channel. Channels never set are [`Consent::Unknown`].
/// Serializes as a map from channel name to consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    from = "BTreeMap<Channel, Consent>",
    into = "BTreeMap<Channel, Consent>"
)]
pub struct Consents([Consent; Channel::COUNT]);

impl Consents {
    /// The consent on `channel`. **O(1)**.
    pub fn get(&self, channel: Channel) -> Consent {
        self.0[channel.index()]
    }

    /// Sets the consent on `channel`.
    pub fn set(&mut self, channel: Channel, consent: Consent) {
        self.0[channel.index()] = consent;
    }
}

impl From<BTreeMap<Channel, Consent>> for Consents {
    fn from(map: BTreeMap<Channel, Consent>) -> Self {
        let mut consents = Consents::default();
        for (channel, consent) in map {
            consents.set(channel, consent);
        }
        consents
    }
}

impl From<Consents> for BTreeMap<Channel, Consent> {
    fn from(consents: Consents) -> Self {
        Channel::ALL
            .into_iter()
            .filter(|c| consents.get(*c) != Consent::Unknown)
            .map(|c| (c, consents.get(c)))
            .collect()
    }
}

/// A frequency limit the customer chose for marketing ("at most one email a month").
///
/// It can only tighten the policy: it is judged in addition to the policy's caps, never instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyPreference {
    /// The channel it limits; `None` limits marketing on all channels together.
    pub channel: Option<Channel>,
    /// At most this many marketing contacts…
    pub limit: NonZeroU32,
    /// …per this window.
    pub window: Window,
}

/// A customer: who they are, what they agreed to and chose (all the throttle needs), and their
/// [`Profile`] for personalization.
///
/// ```
/// use cornershop::{Channel, Consent, Customer, CustomerId};
///
/// let ada = Customer::new(CustomerId(7))
///     .with_time_zone(chrono_tz::Europe::London)
///     .with_consent(Channel::Email, Consent::OptedIn);
/// assert_eq!(ada.consents.get(Channel::Email), Consent::OptedIn);
/// assert_eq!(ada.consents.get(Channel::Sms), Consent::Unknown);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Customer {
    /// Who this is.
    pub id: CustomerId,
    /// The customer's IANA time zone; the policy's default zone when `None`.
    #[serde(default)]
    pub time_zone: Option<Tz>,
    /// Marketing consent per channel.
    #[serde(default)]
    pub consents: Consents,
    /// The customer asked not to be contacted at all: only service replies to their own
    /// questions still go out.
    #[serde(default)]
    pub do_not_contact: bool,
    /// Topics the customer unsubscribed from (marketing on them is refused).
    #[serde(default)]
    pub unsubscribed_topics: Vec<String>,
    /// The customer paused marketing until this time.
    #[serde(default)]
    pub marketing_snoozed_until: Option<DateTime<Utc>>,
    /// The customer's own frequency limits for marketing.
    #[serde(default)]
    pub frequency_preferences: Vec<FrequencyPreference>,
    /// Attributes, stated preferences, moments, notes and the running summary of events, for
    /// personalization (the throttle does not read them).
    #[serde(default)]
    pub profile: Profile,
}

impl Customer {
    /// A customer with no consent given, no choices made and the policy's default time zone.
    pub fn new(id: impl Into<CustomerId>) -> Self {
        Customer {
            id: id.into(),
            time_zone: None,
            consents: Consents::default(),
            do_not_contact: false,
            unsubscribed_topics: Vec::new(),
            marketing_snoozed_until: None,
            frequency_preferences: Vec::new(),
            profile: Profile::default(),
        }
    }

    /// Sets the customer's time zone.
    pub fn with_time_zone(mut self, zone: Tz) -> Self {
        self.time_zone = Some(zone);
        self
    }

    /// Sets the marketing consent on one channel.
    pub fn with_consent(mut self, channel: Channel, consent: Consent) -> Self {
        self.consents.set(channel, consent);
        self
    }

    /// Marks the customer do-not-contact.
    pub fn with_do_not_contact(mut self, do_not_contact: bool) -> Self {
        self.do_not_contact = do_not_contact;
        self
    }

    /// Adds a topic the customer unsubscribed from.
    pub fn with_unsubscribed_topic(mut self, topic: impl Into<String>) -> Self {
        self.unsubscribed_topics.push(topic.into());
        self
    }

    /// Pauses marketing until `until`.
    pub fn with_marketing_snoozed_until(mut self, until: DateTime<Utc>) -> Self {
        self.marketing_snoozed_until = Some(until);
        self
    }

    /// Adds a frequency limit of the customer's own.
    pub fn with_frequency_preference(mut self, preference: FrequencyPreference) -> Self {
        self.frequency_preferences.push(preference);
        self
    }

    /// Sets a typed profile attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.profile.attributes.insert(name.into(), value.into());
        self
    }

    /// Adds a segment tag.
    pub fn with_segment(mut self, segment: impl Into<String>) -> Self {
        self.profile.segments.push(segment.into());
        self
    }

    /// Sets the channel the customer prefers.
    pub fn with_preferred_channel(mut self, channel: Channel) -> Self {
        self.profile.preferred_channel = Some(channel);
        self
    }

    /// Adds a category the customer likes.
    pub fn with_favourite_category(mut self, category: impl Into<String>) -> Self {
        self.profile.favourite_categories.push(category.into());
        self
    }

    /// Adds a category the customer never wants offers in.
    pub fn with_never_category(mut self, category: impl Into<String>) -> Self {
        self.profile.never_categories.push(category.into());
        self
    }

    /// Adds a yearly moment (`"birthday"`, `"signup"`, or the application's own).
    pub fn with_moment(mut self, name: impl Into<String>, month: u32, day: u32) -> Self {
        self.profile.moments.push(Moment {
            name: name.into(),
            month,
            day,
        });
        self
    }

    /// Sets the customer's birthday (the moment `"birthday"`).
    pub fn with_birthday(self, month: u32, day: u32) -> Self {
        self.with_moment("birthday", month, day)
    }

    /// Adds a note for the person who next calls the customer.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.profile.notes.push(note.into());
        self
    }

    /// Whether the customer unsubscribed from `topic`. **O(n)** in unsubscribed topics.
    #[inline]
    pub fn is_unsubscribed_from(&self, topic: &str) -> bool {
        self.unsubscribed_topics.iter().any(|t| t == topic)
    }
}
