//! What a decision returns: the picks, and a trace entry for every candidate offer.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::record::Recorded;
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
/// words; `Serialize` makes a log line. Its [`Trace`] shares the compiled policy it was decided
/// under, so a decision kept long after a policy reload keeps that policy alive.
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
    pub trace: Trace,
    /// Complaints the customer has open (no marketing while there are any).
    pub open_complaints: Vec<String>,
    /// Notes for the person who next calls the customer (never used for scoring).
    pub notes: Vec<String>,
    /// A service or transactional message had no channel to go out on.
    pub no_channel: bool,
}

impl Decision {
    /// The trace entry of `offer` ([`Trace::find`]).
    pub fn candidate(&self, offer: &str) -> Option<Candidate> {
        self.trace.find(offer)
    }

    /// The ids of the offers picked.
    pub fn picked_offers(&self) -> impl Iterator<Item = &str> + '_ {
        self.picks.iter().filter_map(|p| p.offer.as_deref())
    }
}

/// A decision's trace: one [`Candidate`] per offer in the policy, in policy order (for a
/// service or transactional message that could not go out: one per channel tried).
///
/// A decision records its trace compactly (20 bytes per offer; the offers' ids and the
/// score's named parts are the policy's, shared) and builds each [`Candidate`] when it is
/// read: [`Trace::iter`], [`Trace::get`] and [`Trace::find`] hand out owned entries. It
/// serializes as the list of entries, compares equal to a trace with the same entries, and
/// converts from and to a `Vec<Candidate>`.
///
/// A recorded trace holds the compiled policy it was decided under (shared, not copied): a
/// decision kept after the engine's policy was replaced keeps that policy in memory too.
/// `to_vec` (or a JSON round trip) gives a trace that holds nothing of the policy.
///
/// ```
/// use cornershop::{Candidate, Stop, Trace};
///
/// let trace = Trace::from(vec![Candidate {
///     offer: "coffee-club".into(),
///     score: None,
///     stop: Some(Stop::NoChannel),
/// }]);
/// assert_eq!(trace.len(), 1);
/// assert_eq!(trace.find("coffee-club").and_then(|c| c.stop), Some(Stop::NoChannel));
/// ```
#[derive(Clone, Default)]
pub struct Trace(Repr);

#[derive(Clone)]
enum Repr {
    /// Entries as given (a service or transactional message, or a deserialized trace).
    Listed(Vec<Candidate>),
    /// A marketing decision's record (inline: a decision allocates one box fewer).
    Recorded(Recorded),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Listed(Vec::new())
    }
}

impl Trace {
    /// The trace a decision recorded.
    pub(super) fn recorded(recorded: Recorded) -> Trace {
        Trace(Repr::Recorded(recorded))
    }

    /// How many entries. **O(1)**.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Listed(list) => list.len(),
            Repr::Recorded(recorded) => recorded.entries.len(),
        }
    }

    /// Whether there are none. **O(1)**.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `index`, if there is one. **O(1)** (plus, for an ineligible offer, a walk of its
    /// rule); builds the entry, cloning shared ids and naming the score's parts.
    pub fn get(&self, index: usize) -> Option<Candidate> {
        match &self.0 {
            Repr::Listed(list) => list.get(index).cloned(),
            Repr::Recorded(recorded) => recorded.candidate(index),
        }
    }

    /// The entry of `offer` (the first, if a listed trace has it twice). **O(n)** comparisons
    /// of ids, then one entry built.
    pub fn find(&self, offer: &str) -> Option<Candidate> {
        match &self.0 {
            Repr::Listed(list) => list.iter().find(|c| &*c.offer == offer).cloned(),
            Repr::Recorded(recorded) => (0..recorded.entries.len())
                .find(|&i| recorded.offer_id(i) == offer)
                .and_then(|i| recorded.candidate(i)),
        }
    }

    /// The offer id of each entry, in order, without building the entries. **O(1)** each.
    pub fn offers(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        (0..self.len()).map(move |i| match &self.0 {
            Repr::Listed(list) => list.get(i).map_or("", |c| &*c.offer),
            Repr::Recorded(recorded) => recorded.offer_id(i),
        })
    }

    /// The entries in order, each built as it is reached.
    pub fn iter(&self) -> TraceIter<'_> {
        TraceIter {
            trace: self,
            next: 0,
            end: self.len(),
        }
    }

    /// The entries, built, as a `Vec`. **O(n)**.
    pub fn to_vec(&self) -> Vec<Candidate> {
        self.iter().collect()
    }
}

/// The entries of a [`Trace`], in order ([`Trace::iter`]).
#[derive(Debug, Clone)]
pub struct TraceIter<'a> {
    trace: &'a Trace,
    next: usize,
    end: usize,
}

impl Iterator for TraceIter<'_> {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        self.trace.get(self.next - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }
}

impl DoubleEndedIterator for TraceIter<'_> {
    fn next_back(&mut self) -> Option<Candidate> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 1;
        self.trace.get(self.end)
    }
}

impl ExactSizeIterator for TraceIter<'_> {}

impl<'a> IntoIterator for &'a Trace {
    type Item = Candidate;
    type IntoIter = TraceIter<'a>;

    fn into_iter(self) -> TraceIter<'a> {
        self.iter()
    }
}

impl From<Vec<Candidate>> for Trace {
    fn from(list: Vec<Candidate>) -> Self {
        Trace(Repr::Listed(list))
    }
}

impl FromIterator<Candidate> for Trace {
    fn from_iter<I: IntoIterator<Item = Candidate>>(iter: I) -> Self {
        Trace(Repr::Listed(iter.into_iter().collect()))
    }
}

impl From<Trace> for Vec<Candidate> {
    fn from(trace: Trace) -> Self {
        match trace.0 {
            Repr::Listed(list) => list,
            Repr::Recorded(_) => trace.to_vec(),
        }
    }
}

impl PartialEq for Trace {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<[Candidate]> for Trace {
    fn eq(&self, other: &[Candidate]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == *b)
    }
}

impl PartialEq<Vec<Candidate>> for Trace {
    fn eq(&self, other: &Vec<Candidate>) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Trace {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Trace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Candidate>::deserialize(deserializer).map(Trace::from)
    }
}
