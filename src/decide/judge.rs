//! The offer loop of [`Engine::decide`]: every offer screened (on its row, or in full) and
//! scored if it passes, each recorded in its trace entry; then the pools of candidates
//! gathered from the entries.

use super::asked::Asked;
use super::context::Context;
use super::rank::Pool;
use super::record::Entry;
use super::scoring::Sets;
use super::screen::{Gate, Screening};
use super::select::Outcome;
use super::{Engine, Model};
use crate::policy::Row;

/// The candidates [`Engine::judge`] found: regular offers, and the fallbacks that only count
/// when no regular offer is picked.
pub(super) struct Pools {
    pub(super) regular: Pool,
    pub(super) fallback: Pool,
}

impl Engine {
    /// [`Engine::judge`] by the engine's scorer: with the built-in one, offers that pass on
    /// their row are scored by the one sum (unless they have a moment part), a choice made
    /// here once rather than asked per offer.
    pub(super) fn judge_by<A: Asked>(
        &self,
        context: &Context<'_>,
        gate: &Gate<'_>,
        asked: &A,
        sets: &mut Sets,
        complaint: bool,
        outcome: &mut Outcome,
    ) -> Pools {
        match self.scorer {
            Model::Builtin(_) => {
                self.judge::<A, true>(context, gate, asked, sets, complaint, outcome)
            }
            Model::Custom(_) => {
                self.judge::<A, false>(context, gate, asked, sets, complaint, outcome)
            }
        }
    }

    /// Screens every offer (on its row where `gate` settles it and `asked` does not hold it,
    /// in full otherwise) and scores those that pass, recording each in its entry of
    /// `outcome` and counting each regular one in `outcome.regular`; then gathers the
    /// fallbacks' pool from the entries. Returns both pools, each with its best. `BUILTIN`:
    /// the engine has the built-in scorer. **O(n)** for the policy's n offers.
    #[inline(never)]
    fn judge<A: Asked, const BUILTIN: bool>(
        &self,
        context: &Context<'_>,
        gate: &Gate<'_>,
        asked: &A,
        sets: &mut Sets,
        complaint: bool,
        outcome: &mut Outcome,
    ) -> Pools {
        let offers = &self.policy.offers;
        let rows = &self.policy.rows;
        for (index, ((row, offer), entry)) in rows
            .iter()
            .zip(offers)
            .zip(&mut outcome.entries)
            .enumerate()
        {
            // Most offers pass or fail on their row; the rest are asked in full.
            let passed = match gate.pass(asked, index, row, offer, &mut entry.stop) {
                Screening::Pass(channels) if BUILTIN && !row.has(Row::MOMENT) => {
                    let total = self.score_plain(context, sets, row, offer, channels, entry);
                    #[cfg(debug_assertions)]
                    self.debug_check_row(context, sets, offer, Ok(channels), Some(total));
                    #[cfg(test)]
                    super::screen::probe::settled();
                    Some((channels, total))
                }
                Screening::Stop => {
                    #[cfg(debug_assertions)]
                    self.debug_check_row(context, sets, offer, Err(entry.stop), None);
                    #[cfg(test)]
                    super::screen::probe::settled();
                    continue;
                }
                verdict => self.screen_and_score(
                    context,
                    sets,
                    offer,
                    match verdict {
                        Screening::Pass(channels) => Some(channels),
                        _ => None,
                    },
                    complaint,
                    entry,
                    &mut outcome.aside,
                ),
            };
            let Some((channels, total)) = passed else {
                continue;
            };
            entry.channels = channels;
            let fallback = row.has(Row::FALLBACK);
            entry.fallback = fallback;
            if !fallback {
                outcome.regular.add(total, index);
            }
        }
        let total =
            |index: usize, entry: &Entry| self.total(context, sets, &outcome.aside, index, entry);
        #[cfg(debug_assertions)]
        outcome.regular.debug_check_regular(&outcome.entries, total);
        Pools {
            regular: std::mem::replace(&mut outcome.regular, Pool::new(false)),
            // The policy's few fallbacks, gathered after the loop.
            fallback: Pool::fallbacks(&self.policy.fallbacks, &outcome.entries, total),
        }
    }
}
