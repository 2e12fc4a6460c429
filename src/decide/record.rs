//! The trace as a decision records it: 20 bytes per offer (what stopped it, how it was scored
//! and on which channel), the facts of each list of categories (the score's inputs of the
//! offers scored on their rows), the inputs of those scored in full, the policy shared by
//! reference, and a handful of per-decision factors. The [`Candidate`] entries a reader sees
//! (offer id, named score contributions, stop) are built from it when the trace is read, so
//! `decide` writes no names, copies no ids and allocates nothing per offer.

use std::sync::Arc;

use smallvec::SmallVec;

use super::scoring::SetFacts;
use super::trace::{Candidate, Stop};
use crate::channel::Channel;
use crate::policy::{CompiledPolicy, FailedRule, Offer};
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
    /// Ineligible by its rule's mask ([`Row::rule`](crate::policy::Row)) on the decision's
    /// first 64 leaf bits ([`Recorded::leaf_bits`]): where the rule fails is worked out from
    /// them when the trace is read, not for every offer a decision stops.
    IneligibleOnRow,
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
    /// An index into [`Aside::verdicts`].
    Throttled {
        verdict: u32,
    },
    FallbackNotNeeded,
}

/// How an offer was scored, and where its score's inputs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scored {
    /// Not scored: screening stopped it.
    No,
    /// By the built-in scorer, on its row: its inputs are its list of categories' (in
    /// [`Recorded::sets`]) and the decision's [`Factors`] on the entry's channel; it has no
    /// moment and no feedback of its own.
    Plain,
    /// By the built-in scorer, as [`Scored::Plain`] but with a moment `entry.slot` days away
    /// (and no feedback of its own).
    Moment,
    /// By the built-in scorer, in full: its inputs are [`Aside::extras`]`[entry.slot]` and the
    /// decision's [`Factors`].
    Builtin,
    /// By the application's scorer: its score is [`Aside::scores`]`[entry.slot]`.
    Custom,
}

/// One offer's trace entry as recorded: 20 bytes (so that a policy's usual few dozen offers'
/// entries take one small allocation), each field written in place by `decide`. The score's
/// total is not kept: the regular pool keeps its best's, and a total is worked out again
/// from its inputs when selection walks past the best (or the trace is read).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    pub(super) stop: Code,
    /// With [`Scored::Builtin`] or [`Scored::Custom`]: the index of the offer's inputs or
    /// score in the decision's [`Aside`]; with [`Scored::Moment`], its moment's days.
    pub(super) slot: u32,
    pub(super) scored: Scored,
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
        stop: Code::Waiting,
        slot: 0,
        scored: Scored::No,
        channel: Channel::Email,
        channels: 0,
        fallback: false,
    };
}

/// The built-in scorer's inputs that vary from offer to offer (the others are the decision's
/// [`Factors`] and the offer's value and priority).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OfferInputs {
    pub(super) affinity: f64,
    pub(super) negative_feedback: f64,
    pub(super) days_until_moment: Option<i64>,
    pub(super) favourite: bool,
}

/// An offer scored in full by the built-in scorer ([`Scored::Builtin`]): its inputs (those of
/// its list of categories, with its own negative feedback and moment) and its total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Extra {
    pub(super) total: f64,
    pub(super) inputs: OfferInputs,
}

/// What a decision keeps beside its entries: the built-in scorer's inputs of the offers it
/// scored in full (feedback of their own or a moment), and, more rarely (so in one box,
/// allocated with the first of them), an application's scores and the ledger's verdicts on
/// throttled candidates. Nothing is allocated when every offer is judged on its row and the
/// first candidate is picked; and the decision stays small (within the 256 bytes that are
/// copied in one go when it is moved).
#[derive(Debug, Clone, Default)]
pub(super) struct Aside {
    pub(super) extras: Vec<Extra>,
    rare: Option<Box<Rare>>,
}

/// The rarer part of an [`Aside`].
#[derive(Debug, Clone, Default)]
struct Rare {
    scores: Vec<Score>,
    verdicts: Vec<(Channel, Verdict)>,
}

impl Aside {
    /// The application's scores (with the built-in scorer: none).
    pub(super) fn scores(&self) -> &[Score] {
        self.rare.as_ref().map_or(&[], |rare| &rare.scores)
    }

    /// The ledger's verdicts on throttled candidates.
    pub(super) fn verdicts(&self) -> &[(Channel, Verdict)] {
        self.rare.as_ref().map_or(&[], |rare| &rare.verdicts)
    }

    /// Keeps an application's `score`; returns its slot.
    pub(super) fn push_score(&mut self, score: Score) -> u32 {
        let scores = &mut self.rare.get_or_insert_with(Box::default).scores;
        let slot = next_slot(scores);
        scores.push(score);
        slot
    }

    /// Keeps the ledger's `verdict` on `channel`; returns its slot.
    pub(super) fn push_verdict(&mut self, channel: Channel, verdict: Verdict) -> u32 {
        let verdicts = &mut self.rare.get_or_insert_with(Box::default).verdicts;
        let slot = next_slot(verdicts);
        verdicts.push((channel, verdict));
        slot
    }
}

/// Where the next item pushed to `list` goes ([`Entry::slot`]); lists hold fewer items than
/// the policy has offers, whose count fits a u32 (a policy is text in memory).
pub(super) fn next_slot<T>(list: &[T]) -> u32 {
    u32::try_from(list.len()).unwrap_or(u32::MAX)
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
    /// The built-in scorer's inputs for an offer scored on `channel` with `offer` inputs, and
    /// the offer's `value` and `priority`.
    #[inline]
    pub(super) fn inputs(
        &self,
        channel: Channel,
        offer: &OfferInputs,
        value: f64,
        priority: f64,
    ) -> PartInputs {
        PartInputs {
            affinity: offer.affinity,
            favourite: offer.favourite,
            value,
            priority,
            days_until_moment: offer.days_until_moment,
            preferred_channel: self.preferred_channel == Some(channel),
            negative_feedback: offer.negative_feedback,
            recent_contacts: self.recent_contacts,
            ignored_streak: self.ignored_streak[channel.index()],
        }
    }
}

/// A marketing decision's trace, recorded: an entry per policy offer, in policy order.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) policy: Arc<CompiledPolicy>,
    pub(super) entries: Vec<Entry>,
    pub(super) factors: Factors,
    /// By list of categories ([`Offer::category_set`](crate::policy::Offer)): the facts of
    /// each list one of whose offers was scored (`None` for the others).
    pub(super) sets: Vec<Option<SetFacts>>,
    /// The inputs and scores of the offers scored in full, and the ledger's verdicts.
    pub(super) aside: Aside,
    /// The requested channels, each once, in the request's order.
    pub(super) requested: SmallVec<[Channel; Channel::COUNT]>,
    /// The offer (index) of the last pick of the selection that filled the request, which
    /// outscored every [`Code::Waiting`] entry (`u32::MAX`: none did).
    pub(super) outscored_by: u32,
    /// The decision's first 64 leaf bits, which tell where the rule of a
    /// [`Code::IneligibleOnRow`] entry fails.
    pub(super) leaf_bits: u64,
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
        let inputs = match entry.scored {
            Scored::No | Scored::Custom => None,
            // The offer's row names its list (numbered by the same compile as the entries).
            Scored::Plain | Scored::Moment => self
                .policy
                .rows
                .get(index)
                .and_then(|row| self.sets.get(row.category_set).copied().flatten())
                .map(|set| OfferInputs {
                    days_until_moment: (entry.scored == Scored::Moment)
                        .then_some(i64::from(entry.slot)),
                    ..set.inputs()
                }),
            Scored::Builtin => self
                .aside
                .extras
                .get(entry.slot as usize)
                .map(|extra| extra.inputs),
        };
        let score = match (entry.scored, inputs) {
            (Scored::Custom, _) => self.aside.scores().get(entry.slot as usize).cloned(),
            (_, Some(inputs)) => {
                let inputs =
                    self.factors
                        .inputs(entry.channel, &inputs, offer.value, offer.priority);
                let mut score = Score::default();
                Parts::new(&self.policy.scoring.spec, &inputs).add_to(&mut score);
                Some(score)
            }
            (_, None) => None,
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
                rule: failed_rule(offer, Some(rule)),
            },
            Code::IneligibleOnRow => Stop::Ineligible {
                // The row's mask failed on these bits: its rule's shape fails on them too.
                rule: failed_rule(offer, offer.quick.failed_at(self.leaf_bits)),
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
                let (channel, verdict) = self.aside.verdicts().get(verdict as usize)?.clone();
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

/// The record of where `offer`'s rule fails, at `position` in its condition (which the
/// policy shares); an empty record if there is none (not reached: positions come from the
/// offer's own condition).
fn failed_rule(offer: &Offer, position: Option<u32>) -> FailedRule {
    offer
        .eligibility
        .as_ref()
        .zip(position)
        .and_then(|(condition, rule)| condition.record_at(rule))
        .cloned()
        .unwrap_or_else(|| FailedRule {
            path: Arc::default(),
            rule: Arc::default(),
        })
}
