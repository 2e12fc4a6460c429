//! Why a contact was held back: one [`Reason`] per rule that applies, each able to explain itself.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::customer::Consent;
use crate::policy::{RuleRef, Window};

/// One rule that stops a contact, with what a marketer needs to understand it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The customer asked not to be contacted at all.
    DoNotContact,
    /// No marketing consent on the channel (opted out, or never asked).
    NoConsent {
        /// The channel.
        channel: Channel,
        /// What the customer's consent is there.
        consent: Consent,
    },
    /// The customer unsubscribed from the message's topic.
    Unsubscribed {
        /// The topic.
        topic: String,
    },
    /// The customer paused marketing.
    Snoozed {
        /// Until when.
        until: DateTime<Utc>,
    },
    /// A frequency cap (the policy's, or the customer's own preference) is full.
    CapReached {
        /// Which cap.
        rule: RuleRef,
        /// Contacts already counted in the current window.
        count: u32,
        /// The cap's limit.
        limit: u32,
        /// The cap's window.
        window: Window,
        /// When a slot frees up.
        frees_at: DateTime<Utc>,
    },
    /// Too soon after the last contact in a spacing rule's scope.
    TooSoon {
        /// Which spacing rule.
        rule: RuleRef,
        /// The last contact in scope.
        last: DateTime<Utc>,
        /// When the gap has passed.
        frees_at: DateTime<Utc>,
    },
    /// The customer's local time is in quiet hours.
    QuietHours {
        /// Which quiet-hours rule.
        rule: RuleRef,
        /// When the quiet hours end.
        until: DateTime<Utc>,
    },
    /// A contact already counted in the rule's scope is later than the attempt (a deferred send
    /// or an import, or a clock that went back); the attempt can only come after it.
    LaterContact {
        /// Which rule's scope.
        rule: RuleRef,
        /// The time of that later contact.
        at: DateTime<Utc>,
    },
    /// The attempt is earlier than a time the ledger already swept its history up to.
    ClockBehind {
        /// The ledger's time.
        ledger_time: DateTime<Utc>,
    },
}

impl Reason {
    /// When this reason stops applying, or `None` if only the customer can lift it.
    pub fn frees_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Reason::DoNotContact | Reason::NoConsent { .. } | Reason::Unsubscribed { .. } => None,
            Reason::Snoozed { until } | Reason::QuietHours { until, .. } => Some(*until),
            Reason::CapReached { frees_at, .. } | Reason::TooSoon { frees_at, .. } => {
                Some(*frees_at)
            }
            Reason::LaterContact { at, .. } => Some(*at),
            Reason::ClockBehind { ledger_time } => Some(*ledger_time),
        }
    }
}

pub(crate) struct Time(pub(crate) DateTime<Utc>);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::DoNotContact => f.write_str("the customer asked not to be contacted"),
            Reason::NoConsent { channel, consent } => {
                write!(
                    f,
                    "no marketing consent on {channel} (consent is {consent})"
                )
            }
            Reason::Unsubscribed { topic } => {
                write!(f, "the customer unsubscribed from \"{topic}\"")
            }
            Reason::Snoozed { until } => {
                write!(f, "the customer paused marketing until {}", Time(*until))
            }
            Reason::CapReached {
                rule,
                count,
                limit,
                window,
                frees_at,
            } => {
                let span = match window {
                    Window::Rolling { .. } => format!("any {window}"),
                    Window::Calendar(_) => format!("this {window}"),
                };
                write!(
                    f,
                    "{rule}: {count} of {limit} contacts in {span} used; a slot frees at {}",
                    Time(*frees_at)
                )
            }
            Reason::TooSoon {
                rule,
                last,
                frees_at,
            } => write!(
                f,
                "{rule}: last contact at {}, too soon; allowed again at {}",
                Time(*last),
                Time(*frees_at)
            ),
            Reason::QuietHours { rule, until } => {
                write!(
                    f,
                    "{rule}: quiet hours in the customer's time zone until {}",
                    Time(*until)
                )
            }
            Reason::LaterContact { rule, at } => write!(
                f,
                "{rule}: a contact in its scope is already counted at {}; nothing goes before it, so this waits until then",
                Time(*at)
            ),
            Reason::ClockBehind { ledger_time } => write!(
                f,
                "the time given is before the ledger's time {}",
                Time(*ledger_time)
            ),
        }
    }
}
