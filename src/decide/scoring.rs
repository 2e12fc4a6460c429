//! How [`Engine::decide`] scores an offer that passed screening: the built-in score summed
//! from its parts' addends (those shared by the decision or by a list of categories worked out
//! once), or an application's [`Scorer`].

use super::context::Context;
use super::record::{next_slot, Aside, Code, Entry, Extra, OfferInputs, Scored};
use super::{Engine, Model, Screened};
use crate::channel::Channel;
use crate::policy::{Offer, Row, ScoringSpec};
use crate::score::{addend, Features, Parts, Score, Scorer};

/// What one list of categories (`Offer::category_set`) adds up to for this customer now:
/// worked out for the first offer with that list that is scored, then reused (and kept in the
/// trace, whose entries of offers scored on their rows read their inputs from it).
#[derive(Debug, Clone, Copy)]
pub(super) struct SetFacts {
    purchases: f64,
    views: f64,
    /// Negative feedback on the categories (not on the offer itself).
    negative: f64,
    favourite: bool,
    /// The built-in scorer's affinity contribution (0 with an application's scorer).
    affinity: f64,
    /// The built-in score's affinity and favourite parts ([`addend`]s) summed as its total
    /// sums them: from +0.0, to which adding the affinity addend gives that addend (an
    /// addend is never -0.0), then the favourite addend.
    leading: f64,
    /// The built-in score's negative-feedback part as it adds it, for an offer without
    /// feedback of its own (whose negative feedback is its categories').
    negative_addend: f64,
}

/// The two addends a list of categories gives the built-in score of an offer without
/// feedback of its own: returned in registers, not read back from the slot just written
/// (whose two stores one wider load would wait for).
#[derive(Debug, Clone, Copy)]
pub(super) struct SetAddends {
    /// [`SetFacts::leading`].
    leading: f64,
    /// [`SetFacts::negative_addend`].
    negative: f64,
}

impl SetFacts {
    /// The list's addends for the built-in score.
    #[inline(always)]
    fn addends(&self) -> SetAddends {
        SetAddends {
            leading: self.leading,
            negative: self.negative_addend,
        }
    }

    /// The built-in scorer's inputs of an offer with this list, no moment and no feedback of
    /// its own.
    pub(super) fn inputs(&self) -> OfferInputs {
        OfferInputs {
            affinity: self.affinity,
            negative_feedback: self.negative,
            days_until_moment: None,
            favourite: self.favourite,
        }
    }
}

/// One offer's built-in score as a decision works it out: the channel it is sent on, and the
/// addends of the parts that depend on the offer (its value, priority, negative feedback and
/// moment).
struct Builtin {
    channel: Channel,
    /// The list of categories' [`SetFacts::leading`].
    leading: f64,
    value_addend: f64,
    priority_addend: f64,
    negative_addend: f64,
    /// `None` without a moment.
    moment_addend: Option<f64>,
}

impl Builtin {
    /// The offer's plain parts: those of an offer without a moment or feedback of its own,
    /// with `row`'s list of categories (`set`), sent on `channel`.
    #[inline(always)]
    fn plain(row: &Row, set: SetAddends, channel: Channel) -> Builtin {
        Builtin {
            channel,
            leading: set.leading,
            value_addend: row.value_addend,
            priority_addend: row.priority_addend,
            negative_addend: set.negative,
            moment_addend: None,
        }
    }

    /// The total: `Parts::sum` of the nine addends in `PART_NAMES` order, the first two
    /// (`set.leading`) summed once per list of categories. The one spelling of the sum, for
    /// offers screened in full and on their row alike, and for a total worked out again
    /// ([`Engine::total`]). Without a moment its part is 0.0, whose addend +0.0 leaves a sum
    /// of addends (never -0.0) as it is: it is not added.
    #[inline(always)]
    fn total(&self, context: &Context<'_>) -> f64 {
        let shared = &context.shared;
        let on = self.channel.index();
        let mut total = self.leading + self.value_addend + self.priority_addend;
        if let Some(moment) = self.moment_addend {
            total += moment;
        }
        total + shared.preferred[on] + self.negative_addend + shared.fatigue + shared.ignored[on]
    }
}

/// The built-in score's moment part as its total adds it, for an offer whose moment is
/// `days_until_moment` away (`None`: no moment, no part).
fn moment_addend(w: &ScoringSpec, days_until_moment: Option<i64>) -> Option<f64> {
    days_until_moment
        .is_some()
        .then(|| addend(Parts::moment(w, days_until_moment)))
}

/// A decision's slots for the category lists' facts, by list number: `None` until one of the
/// list's offers is scored.
pub(super) type Sets = [Option<SetFacts>];

impl Engine {
    /// Scores `offer` on the best of its usable channels (`screened`), recording how in its trace
    /// `entry`; returns the total. The built-in scorer's total is worked out without naming its
    /// parts (nothing is written but the entry); an application's scorer fills a [`Score`],
    /// kept in `scores`.
    // Called once per scored offer from one place: inlined, its result is built in place
    // rather than returned through memory and read back.
    #[inline(always)]
    pub(super) fn score(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        offer: &Offer,
        Screened { channels, feedback }: Screened<'_>,
        entry: &mut Entry,
        aside: &mut Aside,
    ) -> f64 {
        let profile = &context.customer.profile;
        let facts = &context.facts;
        // `channels` is never empty: screening returns at least one usable channel.
        let channel = context.best_channel(channels);
        let set = &self.set_facts(context, sets, offer.category_set, offer);
        // Feedback on the offer itself comes first, then its categories' (in the same order as
        // the categories' own sum, so that the total is the same to the bit).
        let negative = match feedback {
            None => set.negative,
            Some(stats) => offer.category_ids.iter().fold(
                stats.negative.at(facts.now, self.policy.scoring.half_life),
                |sum, &id| sum + context.categories[id].negative,
            ),
        };
        let days_until_moment = offer
            .moment
            .as_deref()
            .and_then(|name| profile.moment(name))
            .and_then(|m| facts.days_until(m.month, m.day));
        let scorer = match &self.scorer {
            Model::Builtin(_) => {
                let w = &self.policy.scoring.spec;
                let moment_addend = moment_addend(w, days_until_moment);
                // Without feedback on the offer, its negative feedback is its categories',
                // whose addend the list's facts hold.
                let negative_addend = match feedback {
                    None => set.negative_addend,
                    Some(_) => addend(Parts::negative(w, negative)),
                };
                let builtin = Builtin {
                    channel,
                    leading: set.leading,
                    value_addend: offer.value_addend,
                    priority_addend: offer.priority_addend,
                    negative_addend,
                    moment_addend,
                };
                let total = builtin.total(context);
                entry.channel = channel;
                // Without feedback of its own, the offer's inputs are its list's, but for its
                // moment's days, which the entry keeps (when they fit its slot).
                let days = days_until_moment.map(u32::try_from);
                match (feedback, days) {
                    (None, None) => entry.scored = Scored::Plain,
                    (None, Some(Ok(days))) => {
                        entry.scored = Scored::Moment;
                        entry.slot = days;
                    }
                    _ => {
                        entry.scored = Scored::Builtin;
                        entry.slot = next_slot(&aside.extras);
                        aside.extras.push(Extra {
                            total,
                            inputs: OfferInputs {
                                affinity: set.affinity,
                                negative_feedback: negative,
                                days_until_moment,
                                favourite: set.favourite,
                            },
                        });
                    }
                }
                return total;
            }
            Model::Custom(scorer) => scorer.as_ref(),
        };
        let (slot, total) = self.score_custom(
            scorer,
            context,
            *set,
            offer,
            channel,
            negative,
            days_until_moment,
            aside,
        );
        entry.scored = Scored::Custom;
        entry.channel = channel;
        entry.slot = slot;
        total
    }

    /// Scores with the built-in scorer an offer that passed on its row (`channels` usable, no
    /// feedback of its own, no moment), recording how in its trace `entry` (its inputs are
    /// its list's, kept in `sets`); returns its total, summed by the same [`Builtin::total`]
    /// as [`Engine::score`]'s.
    #[inline(always)]
    pub(super) fn score_plain(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        row: &Row,
        offer: &Offer,
        channels: u8,
        entry: &mut Entry,
    ) -> f64 {
        let channel = context.best_channel(channels);
        let set = self.set_addends(context, sets, row.category_set, offer);
        entry.scored = Scored::Plain;
        entry.channel = channel;
        Builtin::plain(row, set, channel).total(context)
    }

    /// The total of scored `entry` (offer `index`), as it was worked out when it was scored:
    /// kept aside for an offer scored in full, summed again from its row, its list's facts
    /// in `sets` and its channel for one scored on its row (0 if not scored).
    pub(super) fn total(
        &self,
        context: &Context<'_>,
        sets: &Sets,
        aside: &Aside,
        index: usize,
        entry: &Entry,
    ) -> f64 {
        let slot = entry.slot as usize;
        match entry.scored {
            Scored::No => 0.0,
            Scored::Plain | Scored::Moment => {
                // The entry's list has its facts (filled when it was scored).
                let row = self.policy.rows.get(index);
                match row.and_then(|row| Some((row, sets.get(row.category_set)?.as_ref()?))) {
                    Some((row, set)) => {
                        let mut builtin = Builtin::plain(row, set.addends(), entry.channel);
                        if entry.scored == Scored::Moment {
                            let days = Some(i64::from(entry.slot));
                            builtin.moment_addend = moment_addend(&self.policy.scoring.spec, days);
                        }
                        builtin.total(context)
                    }
                    None => 0.0,
                }
            }
            Scored::Builtin => aside.extras.get(slot).map_or(0.0, |extra| extra.total),
            Scored::Custom => aside.scores().get(slot).map_or(0.0, |score| score.total),
        }
    }

    /// Screens `offer` in full (or takes `passed`, the channels it passed its row with) and
    /// scores it if it passes, recording either in its trace `entry`: returns the usable
    /// channels and the total, or `None` if it was stopped. The path of offers a row does not
    /// settle.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn screen_and_score(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        offer: &Offer,
        passed: Option<u8>,
        complaint: bool,
        entry: &mut Entry,
        aside: &mut Aside,
    ) -> Option<(u8, f64)> {
        let screened = match passed {
            // A row passes only offers without feedback (those with are asked in full).
            Some(channels) => Ok(Screened {
                channels,
                feedback: None,
            }),
            None if complaint => Err(Code::OpenComplaint),
            None => self.screen(context, offer),
        };
        match screened {
            Err(stop) => {
                entry.stop = stop;
                None
            }
            Ok(screened) => {
                let channels = screened.channels;
                let total = self.score(context, sets, offer, screened, entry, aside);
                Some((channels, total))
            }
        }
    }

    /// [`Engine::score`] with an application's scorer: where its score is kept, and the total.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn score_custom(
        &self,
        scorer: &dyn Scorer,
        context: &Context<'_>,
        set: SetFacts,
        offer: &Offer,
        channel: Channel,
        negative: f64,
        days_until_moment: Option<i64>,
        aside: &mut Aside,
    ) -> (u32, f64) {
        let profile = &context.customer.profile;
        let features = Features {
            offer: &offer.id,
            categories: &offer.categories,
            channel,
            purchases: set.purchases,
            views: set.views,
            favourite: set.favourite,
            value: offer.value,
            priority: offer.priority,
            days_until_moment,
            preferred_channel: profile.preferred_channel == Some(channel),
            negative_feedback: negative,
            recent_contacts: context.factors.recent_contacts,
            ignored_streak: profile.summary.ignored_streak(channel),
        };
        let mut score = Score::default();
        scorer.score(&features, &mut score);
        score.make_finite();
        let total = score.total;
        let slot = aside.push_score(score);
        (slot, total)
    }

    /// The facts of `offer`'s list of categories (number `set`), copied out: from its slot of
    /// `sets`, or worked out into the slot (or, for a number past the slots, not reached,
    /// worked out aside).
    #[inline(always)]
    pub(super) fn set_facts(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        set: usize,
        offer: &Offer,
    ) -> SetFacts {
        match sets.get_mut(set) {
            Some(Some(facts)) => *facts,
            Some(slot) => *self.fill_set(context, offer, slot),
            // Not reached: every list has a slot.
            None => *self.fill_set(context, offer, &mut None),
        }
    }

    /// The addends of `offer`'s list of categories (number `set`): read from its slot of
    /// `sets`, or worked out into the slot.
    #[inline(always)]
    fn set_addends(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        set: usize,
        offer: &Offer,
    ) -> SetAddends {
        match sets.get(set) {
            Some(Some(facts)) => facts.addends(),
            _ => self.fill_set_addends(context, sets, set, offer),
        }
    }

    /// Works out the facts of `offer`'s list of categories (number `set`) into its slot, and
    /// returns their addends. (Not [`Engine::fill_set`] with the addends read from its facts:
    /// returned through memory, the facts' two addends are read in one load wider than the
    /// stores that just wrote them, which waits for them to reach the cache; measured 9%
    /// slower at 50 offers.)
    #[inline(never)]
    fn fill_set_addends(
        &self,
        context: &Context<'_>,
        sets: &mut Sets,
        set: usize,
        offer: &Offer,
    ) -> SetAddends {
        let facts = self.sum_categories(context, offer);
        if let Some(slot) = sets.get_mut(set) {
            *slot = Some(facts);
        }
        facts.addends()
    }

    /// Works out the facts of `offer`'s list of categories into its empty `slot` (in place,
    /// not built aside and copied in).
    #[inline(never)]
    fn fill_set<'s>(
        &self,
        context: &Context<'_>,
        offer: &Offer,
        slot: &'s mut Option<SetFacts>,
    ) -> &'s SetFacts {
        slot.insert(self.sum_categories(context, offer))
    }

    /// Sums `offer`'s categories' facts, in the offer's order, from zero.
    #[inline(always)]
    pub(super) fn sum_categories(&self, context: &Context<'_>, offer: &Offer) -> SetFacts {
        let (mut purchases, mut views, mut negative, mut favourite) = (0.0, 0.0, 0.0, false);
        for &id in &offer.category_ids {
            let category = &context.categories[id];
            purchases += category.purchases;
            views += category.views;
            negative += category.negative;
            favourite |= category.favourite;
        }
        let w = &self.policy.scoring.spec;
        let affinity = match &self.scorer {
            Model::Builtin(scorer) => scorer.affinity(purchases, views),
            Model::Custom(_) => 0.0,
        };
        SetFacts {
            purchases,
            views,
            negative,
            favourite,
            affinity,
            leading: addend(affinity) + addend(Parts::favourite(w, favourite)),
            negative_addend: addend(Parts::negative(w, negative)),
        }
    }
}
