//! What a decision returns: the picks, and a trace entry for every candidate offer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, MessageClass};
use crate::customer::CustomerId;
use crate::ledger::Reservation;
use crate::policy::FailedRule;
use crate::score::Score;
use crate::throttle::Verdict;

/// One thing to send, with its slot already reserved in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// The offer's id; `None` for a service or transactional message.
    pub offer: Option<Arc<str>>,
    /// The offer's categories (shared with the policy).
    pub categories: Arc<[String]>,
    /// The offer's tags (shared with the policy).
    pub tags: Arc<[String]>,
    /// The channel to send on.
    pub channel: Channel,
    /// The offer's score (0 for a message that is not an offer).
    pub score: f64,
    /// When to send: now, or later if it was deferred past quiet hours or a cap's window.
    pub send_at: DateTime<Utc>,
    /// The ledger slot: commit it once sent, release it if the send failed.
    pub reservation: Reservation,
}

/// What stopped a candidate. `None` in a [`Candidate`] means it was picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stop {
    /// The customer has a complaint open: no marketing until it is resolved.
    OpenComplaint,
    /// The offer's validity has not started.
    NotYetValid {
        /// When it starts.
        from: DateTime<Utc>,
    },
    /// The offer's validity has ended.
    Expired {
        /// When it ended.
        until: DateTime<Utc>,
    },
    /// None of the request's channels is one the offer can use.
    NoChannel,
    /// The customer asked not to be contacted.
    DoNotContact,
    /// The customer has not opted in to marketing on any usable channel.
    NoConsent {
        /// The usable channels.
        channels: Vec<Channel>,
    },
    /// The customer unsubscribed from the offer's topic.
    Unsubscribed {
        /// The topic.
        topic: Arc<str>,
    },
    /// The customer said never to offer anything in this category.
    NeverCategory {
        /// The category.
        category: Arc<str>,
    },
    /// An eligibility rule does not hold.
    Ineligible {
        /// The rule that failed.
        rule: FailedRule,
    },
    /// The customer bought the offer's product recently.
    JustBought {
        /// The product.
        product: Arc<str>,
        /// When they bought it.
        at: DateTime<Utc>,
    },
    /// The customer dismissed the offer or gave negative feedback; it rests until then.
    Cooldown {
        /// When the rest ends.
        until: DateTime<Utc>,
    },
    /// A better offer in the same category was picked (diversity).
    SameCategory {
        /// The category.
        category: Arc<str>,
        /// The offer picked in it.
        by: Arc<str>,
    },
    /// The request's picks were filled by better offers.
    Outscored {
        /// The lowest-scored pick, the one it would have had to beat.
        by: Arc<str>,
    },
    /// Caps, spacing, quiet hours or a snooze hold it back beyond what the request accepts;
    /// the verdict on the first usable channel says which and until when.
    Throttled {
        /// The channel judged.
        channel: Channel,
        /// The ledger's verdict.
        verdict: Verdict,
    },
    /// A fallback offer, not needed because other offers were picked.
    FallbackNotNeeded,
}

/// One candidate offer and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The offer's id (for a service or transactional message: the class and channel).
    pub offer: Arc<str>,
    /// Its score, if it got as far as scoring.
    pub score: Option<Score>,
    /// What stopped it; `None` if it was picked.
    pub stop: Option<Stop>,
}

/// The answer to [`Engine::decide`](crate::Engine::decide): picks (each with a reservation) and a
/// trace with an entry for every offer in the policy, in policy order. `Display` explains it in
/// words; `Serialize` makes a log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Who it is for.
    pub customer: CustomerId,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The class of message asked for.
    pub class: MessageClass,
    /// What to send, best first.
    pub picks: Vec<Pick>,
    /// Every candidate offer and what happened to it (for a service or transactional message
    /// that could not go out: each channel tried).
    pub trace: Vec<Candidate>,
    /// Complaints the customer has open (no marketing while there are any).
    pub open_complaints: Vec<String>,
    /// Notes for the person who next calls the customer (never used for scoring).
    pub notes: Vec<String>,
    /// A service or transactional message had no channel to go out on.
    pub no_channel: bool,
}

impl Decision {
    /// The trace entry of `offer`.
    pub fn candidate(&self, offer: &str) -> Option<&Candidate> {
        self.trace.iter().find(|c| &*c.offer == offer)
    }

    /// The ids of the offers picked.
    pub fn picked_offers(&self) -> impl Iterator<Item = &str> + '_ {
        self.picks.iter().filter_map(|p| p.offer.as_deref())
    }
}
