//! The trace as a decision records it: 64 bytes per offer (what stopped it, the inputs of
//! its score), the policy shared by reference, and a handful of per-decision factors. The
//! [`Candidate`] entries a reader sees (offer id, named score contributions, stop) are built
//! from it when the trace is read, so `decide` writes no names, copies no ids and allocates
//! nothing per offer.

use std::sync::Arc;

use smallvec::SmallVec;

use super::trace::{Candidate, Stop};
use crate::channel::Channel;
use crate::policy::{CompiledPolicy, FailedRule};
use crate::score::{PartInputs, Parts, Score};
use crate::throttle::Verdict;
use crate::time::Stamp;

/// What stopped an offer, without its data: the data is the offer's own (its validity, topic,
/// product), the policy's (a category's name, a failed rule), or kept beside the entries
/// (a ledger verdict).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Code {
    /// Picked: no stop.
    Picked,
    /// Scored and not handed out by selection: outscored by the last pick
    /// ([`Recorded::outscored_by`]), which is known once selection is over.
    Waiting,
    OpenComplaint,
    NotYetValid,
    Expired,
    NoChannel,
    DoNotContact,
    /// The channels the offer can use among those requested (a bit each).
    NoConsent {
        allowed: u8,
    },
    Unsubscribed,
    /// A policy category id.
    NeverCategory {
        category: u32,
    },
    /// The failed rule's position in the offer's eligibility condition
    /// ([`Condition::position_of`](crate::policy::Condition::position_of)).
    Ineligible {
        rule: u32,
    },
    JustBought {
        at: Stamp,
    },
    Cooldown {
        until: Stamp,
    },
    /// A policy category id, and the offer (index) picked in it.
    SameCategory {
        category: u32,
        by: u32,
    },
    /// An index into [`Recorded::verdicts`].
    Throttled {
        verdict: u32,
    },
    FallbackNotNeeded,
}

/// How an offer was scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scored {
    /// Not scored: screening stopped it.
    No,
    /// By the built-in scorer, from the entry's inputs and the decision's [`Factors`].
    Builtin,
    /// By the application's scorer: its score is [`Recorded::scores`]`[entry.slot]`.
    Custom,
}

/// One offer's trace entry as recorded: plain fields, each written in place in the entry by
/// `decide` (a value built aside and copied in is read back with wider loads than it was
/// written with, which stalls the processor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    /// The score's total (0 if not scored).
    pub(super) total: f64,
    /// The built-in scorer's inputs that vary from offer to offer (with [`Scored::Builtin`]).
    pub(super) affinity: f64,
    pub(super) negative_feedback: f64,
    pub(super) days_until_moment: Option<i64>,
    pub(super) stop: Code,
    pub(super) scored: Scored,
    /// With [`Scored::Custom`]: the index of the score in [`Recorded::scores`].
    pub(super) slot: u32,
    pub(super) favourite: bool,
    /// The channel scored on.
    pub(super) channel: Channel,
    /// A bit per usable channel (with a score).
    pub(super) channels: u8,
    /// The offer is a fallback.
    pub(super) fallback: bool,
}

impl Entry {
    /// An entry not scored, and not stopped yet.
    pub(super) const UNSCORED: Entry = Entry {
        total: 0.0,
        affinity: 0.0,
        negative_feedback: 0.0,
        days_until_moment: None,
        stop: Code::Waiting,
        scored: Scored::No,
        slot: 0,
        favourite: false,
        channel: Channel::Email,
        channels: 0,
        fallback: false,
    };
}

/// The built-in scorer's inputs that are the same for every offer of a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Factors {
    pub(super) preferred_channel: Option<Channel>,
    pub(super) recent_contacts: u32,
    /// Consecutive ignored contacts, per channel (by index).
    pub(super) ignored_streak: [u32; Channel::COUNT],
}

impl Factors {
    /// The built-in scorer's inputs for an offer recorded in `entry`, with the offer's `value`
    /// and `priority`.
    #[inline]
    pub(super) fn inputs(&self, entry: &Entry, value: f64, priority: f64) -> PartInputs {
        PartInputs {
            affinity: entry.affinity,
            favourite: entry.favourite,
            value,
            priority,
            days_until_moment: entry.days_until_moment,
            preferred_channel: self.preferred_channel == Some(entry.channel),
            negative_feedback: entry.negative_feedback,
            recent_contacts: self.recent_contacts,
            ignored_streak: self.ignored_streak[entry.channel.index()],
        }
    }
}

/// A marketing decision's trace, recorded: an entry per policy offer, in policy order.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) policy: Arc<CompiledPolicy>,
    pub(super) entries: Vec<Entry>,
    pub(super) factors: Factors,
    /// The application's scores (with the built-in scorer: none).
    pub(super) scores: Vec<Score>,
    /// The ledger's verdicts on throttled candidates.
    pub(super) verdicts: Vec<(Channel, Verdict)>,
    /// The requested channels, each once, in the request's order.
    pub(super) requested: SmallVec<[Channel; Channel::COUNT]>,
    /// The offer (index) of the last pick of the selection that filled the request, which
    /// outscored every [`Code::Waiting`] entry (`u32::MAX`: none did).
    pub(super) outscored_by: u32,
}

impl Recorded {
    /// The offer id of entry `index` ("" past the offers: not reached, entries are one per
    /// offer).
    pub(super) fn offer_id(&self, index: usize) -> &str {
        self.policy.offers.get(index).map_or("", |o| &o.id)
    }

    /// Entry `index` as a reader sees it. **O(1)** but for an ineligible offer's rule
    /// (**O(nodes)** of its condition); allocates the score's and stop's data.
    pub(super) fn candidate(&self, index: usize) -> Option<Candidate> {
        let entry = self.entries.get(index)?;
        let offer = self.policy.offers.get(index)?;
        let score = match entry.scored {
            Scored::No => None,
            Scored::Custom => self.scores.get(entry.slot as usize).cloned(),
            Scored::Builtin => {
                let inputs = self.factors.inputs(entry, offer.value, offer.priority);
                let mut score = Score::default();
                Parts::new(&self.policy.scoring.spec, &inputs).add_to(&mut score);
                Some(score)
            }
        };
        Some(Candidate {
            offer: offer.id.clone(),
            score,
            stop: self.stop(index, entry.stop),
        })
    }

    fn category(&self, id: u32) -> Arc<str> {
        // Category ids index the policy's category set, numbered by the same compile.
        self.policy
            .categories
            .names
            .get(id as usize)
            .cloned()
            .unwrap_or_default()
    }

    fn stop(&self, index: usize, code: Code) -> Option<Stop> {
        let offer = self.policy.offers.get(index)?;
        let stamp = |at: Option<Stamp>| at.map(Stamp::to_utc).unwrap_or_default();
        Some(match code {
            Code::Picked => return None,
            Code::OpenComplaint => Stop::OpenComplaint,
            Code::NotYetValid => Stop::NotYetValid {
                from: stamp(offer.valid_from),
            },
            Code::Expired => Stop::Expired {
                until: stamp(offer.valid_until),
            },
            Code::NoChannel => Stop::NoChannel,
            Code::DoNotContact => Stop::DoNotContact,
            Code::NoConsent { allowed } => Stop::NoConsent {
                channels: self
                    .requested
                    .iter()
                    .copied()
                    .filter(|c| allowed & (1 << c.index()) != 0)
                    .collect(),
            },
            Code::Unsubscribed => Stop::Unsubscribed {
                topic: offer.topic.clone(),
            },
            Code::NeverCategory { category } => Stop::NeverCategory {
                category: self.category(category),
            },
            Code::Ineligible { rule } => Stop::Ineligible {
                // The position came from this offer's condition, which the policy shares.
                rule: offer
                    .eligibility
                    .as_ref()
                    .and_then(|c| c.record_at(rule))
                    .cloned()
                    .unwrap_or_else(|| FailedRule {
                        path: Arc::default(),
                        rule: Arc::default(),
                    }),
            },
            Code::JustBought { at } => Stop::JustBought {
                product: offer.product.clone().unwrap_or_default(),
                at: at.to_utc(),
            },
            Code::Cooldown { until } => Stop::Cooldown {
                until: until.to_utc(),
            },
            Code::SameCategory { category, by } => Stop::SameCategory {
                category: self.category(category),
                by: self.id_arc(by),
            },
            Code::Waiting => Stop::Outscored {
                by: self.id_arc(self.outscored_by),
            },
            Code::Throttled { verdict } => {
                let (channel, verdict) = self.verdicts.get(verdict as usize)?.clone();
                Stop::Throttled { channel, verdict }
            }
            Code::FallbackNotNeeded => Stop::FallbackNotNeeded,
        })
    }

    /// The shared id of offer `index` ("" past the offers).
    fn id_arc(&self, index: u32) -> Arc<str> {
        self.policy
            .offers
            .get(index as usize)
            .map(|o| o.id.clone())
            .unwrap_or_default()
    }
}
