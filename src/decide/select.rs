//! Selection in [`Engine::decide`]: candidates best first, the diversity rule, and the
//! ledger's atomic check-and-reserve on each usable channel.

use chrono::{DateTime, Duration, Utc};

use super::context::Context;
use super::rank::{Picked, Pool, Rank};
use super::record::{Aside, Code, Entry};
use super::scoring::Sets;
use super::{category_code, offer_code, Engine, Pick, Request};
use crate::channel::MessageClass;
use crate::error::Error;
use crate::ledger::{ContactLedger, Reservation};
use crate::policy::Offer;
use crate::throttle::{Attempt, IfBlocked};
use crate::time::Stamp;

/// What selection fills in: the picks, and the trace's entries and side tables.
pub(super) struct Outcome {
    pub(super) picks: Vec<Pick>,
    pub(super) entries: Vec<Entry>,
    pub(super) aside: Aside,
    /// See [`Recorded::outscored_by`](super::record::Recorded::outscored_by).
    pub(super) outscored_by: u32,
    /// The regular candidates' pool, its best kept by the offer loop as each offer is scored.
    /// (Kept here, in memory: carried through the loop in registers, or found by a scan of
    /// the entries after it, it costs more.)
    pub(super) regular: Pool,
}

impl Engine {
    /// Walks `candidates` best first: diversity, then the ledger's atomic check-and-reserve on
    /// each usable channel, until the request's picks are filled; every candidate left then is
    /// outscored by the last pick. Only the candidates walked are ordered ([`BestFirst`]),
    /// their totals worked out again from the entries and the lists' facts in `sets`:
    /// **O(n + k log n)** for n candidates of which k are walked, usually one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn select<L: ContactLedger + ?Sized>(
        &self,
        context: &Context<'_>,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
        sets: &Sets,
        candidates: &Pool,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        let mut candidates = candidates.best_first();
        // The offers picked here (selection starts with no picks), for the diversity rule.
        let mut picked = Picked::new();
        while outcome.picks.len() < request.picks {
            let aside = &outcome.aside;
            let total =
                |index: usize, entry: &Entry| self.total(context, sets, aside, index, entry);
            let Some(rank) = candidates.next(&outcome.entries, total) else {
                return Ok(());
            };
            // Ranks are made from the trace's entries, one per offer of this policy.
            let offer = &self.policy.offers[rank.index];
            let stop = if let Some((category, by)) = offer
                .category_ids
                .iter()
                .find_map(|&id| self.category_full(&picked, id))
            {
                Code::SameCategory { category, by }
            } else {
                let stop = self.reserve(context, ledger, request, now, offer, rank, outcome)?;
                if stop == Code::Picked {
                    picked.push(rank.index);
                }
                stop
            };
            if let Some(entry) = outcome.entries.get_mut(rank.index) {
                entry.stop = stop;
            }
        }
        // The last pick (there is one: the loop ends with the picks filled) outscored every
        // candidate still waiting; their entries say so when the trace is read.
        outcome.outscored_by = picked.last().map_or(u32::MAX, |&index| offer_code(index));
        Ok(())
    }

    /// If `picked` (offer indexes) already holds `selection.max_per_category` offers in
    /// category `id`: the category and the first of them.
    pub(super) fn category_full(&self, picked: &[usize], id: usize) -> Option<(u32, u32)> {
        let offers = &self.policy.offers;
        let mut holders = picked
            .iter()
            .filter(|&&i| offers.get(i).is_some_and(|o| o.category_ids.contains(&id)));
        let first = *holders.next()?;
        let count = 1 + holders.count();
        (count >= self.policy.selection.max_per_category as usize)
            .then(|| (category_code(id), offer_code(first)))
    }

    /// Tries each usable channel in turn; on success adds the pick and returns
    /// [`Code::Picked`], otherwise what the ledger said on the first channel.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reserve<L: ContactLedger + ?Sized>(
        &self,
        context: &Context<'_>,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
        offer: &Offer,
        candidate: Rank,
        outcome: &mut Outcome,
    ) -> Result<Code, Error> {
        let if_blocked = match request.max_delay {
            None => IfBlocked::Drop,
            Some(delay) => {
                // A delay past the calendar's range means no limit (and one before it, none).
                let latest = now
                    .checked_add_signed(delay)
                    .unwrap_or(if delay > Duration::zero() {
                        DateTime::<Utc>::MAX_UTC
                    } else {
                        DateTime::<Utc>::MIN_UTC
                    });
                let expires = offer
                    .valid_until
                    .map_or(latest, |until| until.to_utc().min(latest));
                IfBlocked::Defer {
                    expires: Some(expires),
                }
            }
        };
        let mut first_refusal = None;
        for channel in context.channels(candidate.channels) {
            let attempt = Attempt {
                channel,
                class: MessageClass::Marketing,
                topic: Some(&*offer.topic),
            };
            let reserved =
                ledger.reserve(&self.policy, context.customer, attempt, if_blocked, now)?;
            if let Some(reservation) = reserved.reservation {
                outcome.picks.push(Pick {
                    offer: Some(offer.id.clone()),
                    categories: offer.categories.clone(),
                    tags: offer.tags.clone(),
                    channel,
                    score: candidate.score,
                    send_at: send_time(&reservation, context.facts.now, now),
                    reservation,
                });
                return Ok(Code::Picked);
            }
            if first_refusal.is_none() {
                let verdict = outcome.aside.push_verdict(channel, reserved.verdict);
                first_refusal = Some(Code::Throttled { verdict });
            }
        }
        // No refusal and no pick: no usable channel (not reached, a scored candidate has one).
        Ok(first_refusal.unwrap_or(Code::NoChannel))
    }
}

/// When `reservation` is to be sent ([`Reservation::send_at`]) for a reserve at `now` (`at` in
/// whole seconds): `now` itself when it goes at once and `now` is a whole second (as the
/// stamp is), which saves converting the stamp back into a date and time.
fn send_time(reservation: &Reservation, at: Stamp, now: DateTime<Utc>) -> DateTime<Utc> {
    if reservation.send_stamp() == at && now.timestamp_subsec_nanos() == 0 {
        debug_assert_eq!(now, reservation.send_at());
        now
    } else {
        reservation.send_at()
    }
}
