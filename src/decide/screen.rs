//! Screening in [`Engine::decide`]: the absolute checks, cheap first. Most offers pass or
//! fail on their [`Row`] alone, against a [`Gate`] worked out once per decision (channels,
//! "never" categories, the rule's leaf bits and the products bought recently, as masks and a
//! table); the others (all of them with an open complaint or do-not-contact; an offer with no
//! consent, a topic the customer unsubscribed from, feedback of the customer's, a validity
//! window or a rule that is no mask) are asked in full by [`Engine::screen`]. Either way an
//! offer that fails gets the stop of the first check it fails.

use super::asked::Asked;
use super::context::{Context, NameTable};
use super::record::Code;
use super::{category_code, Engine};
use crate::context::OfferStats;
use crate::policy::{CompiledPolicy, Offer, Row};
use crate::time::Stamp;

/// An offer that passed screening: a bit per usable channel (requested, allowed by the offer,
/// consented), and the customer's feedback on it.
pub(super) struct Screened<'c> {
    pub(super) channels: u8,
    pub(super) feedback: Option<&'c OfferStats>,
}

/// What [`Gate::pass`] made of an offer.
pub(super) enum Screening {
    /// It passes, with these usable channels.
    Pass(u8),
    /// A check stopped it (its stop is written).
    Stop,
    /// Its row does not settle it: ask in full.
    Ask,
}

/// What settles screening on an offer's row alone, worked out once per decision: what
/// [`Engine::screen`] would say, for decisions where no check before the "never" categories
/// can stop an offer its row does not show (see [`Gate::pass`]).
pub(super) struct Gate<'t> {
    /// The requested channels with consent; none unless the decision is `plain`
    /// ([`Gate::plain`]), and then no offer passes on its row.
    usable: u8,
    /// The customer's "never" categories among the first 64 ids.
    never: u64,
    /// Per policy product (by [`Row::product`]): when the customer bought it, if recently
    /// enough that its offers are skipped ([`Gate::recently_bought`]). Empty when no offer is
    /// skipped for a product.
    bought: &'t [Option<Stamp>],
    /// The first 64 leaf tests' results.
    bits: u64,
}

impl<'t> Gate<'t> {
    /// Whether screening can be settled on rows for this decision (`complaint`: the customer
    /// has one open): nothing before the "never" categories can stop an offer its row does
    /// not show, but for the offers asked in full ([`Engine::asked`]), and the leaf tests are
    /// worked out. (Unit tests can turn rows off here, to compare with the full checks.)
    pub(super) fn plain(context: &Context<'_>, complaint: bool) -> bool {
        #[cfg(test)]
        if probe::ROWS_OFF.get() {
            return false;
        }
        !complaint
            && !context.customer.do_not_contact
            && !context.never.beyond
            && context.facts.memo.known()
    }

    /// The gate for a decision where screening is `plain` ([`Gate::plain`]), with the
    /// products table `bought` ([`Gate::recently_bought`], empty if not `plain`).
    pub(super) fn new(context: &Context<'_>, plain: bool, bought: &'t [Option<Stamp>]) -> Self {
        Gate {
            usable: if plain {
                context.requested & context.consented_mask
            } else {
                0
            },
            never: context.never.low,
            bought,
            bits: context.facts.memo.low(),
        }
    }

    /// Screens `offer` (number `index`, whose row is `row`) on its row: [`Screening::Pass`]
    /// with its usable channels if it passes every check, [`Screening::Stop`] if one stops it
    /// (the first, as [`Engine::screen`] would say, written to `stop`; for a failed rule, where
    /// it fails is left to the trace's reader: [`Code::IneligibleOnRow`]), [`Screening::Ask`] if
    /// it must be asked in full: among others, if `asked` holds it ([`Engine::asked`]: its
    /// topic is unsubscribed, a check that comes before "never"; or the customer gave feedback
    /// on it, which may start a cooldown and adds its own negative-feedback part).
    #[inline(always)]
    pub(super) fn pass<A: Asked>(
        &self,
        asked: &A,
        index: usize,
        row: &Row,
        offer: &Offer,
        stop: &mut Code,
    ) -> Screening {
        let usable = self.usable & row.channels;
        if usable == 0 || row.has(Row::WINDOW) || asked.holds(index) {
            return Screening::Ask;
        }
        // Past the gate, the checks before "never" pass: the first that fails is the stop.
        let never = row.category_mask & self.never;
        if never != 0 {
            // One never category among the offer's (the usual case) is the first in its order.
            if never.is_power_of_two() {
                *stop = Code::NeverCategory {
                    category: never.trailing_zeros(),
                };
                return Screening::Stop;
            }
            return self.never_category(offer, stop);
        }
        match row.rule.holds(self.bits) {
            Some(true) => {}
            // Where it fails is read from the same bits when the trace is read.
            Some(false) => {
                *stop = Code::IneligibleOnRow;
                return Screening::Stop;
            }
            None => return Screening::Ask,
        }
        if row.has(Row::PRODUCT) {
            if let Some(&Some(at)) = self.bought.get(row.product as usize) {
                *stop = Code::JustBought { at };
                return Screening::Stop;
            }
        }
        Screening::Pass(usable)
    }

    /// Fills `bought` (empty) with the gate's table of products bought recently: the
    /// customer's products looked up in the policy's, or the policy's in the customer's,
    /// whichever are fewer; left empty when no offer is skipped for a product. Filled in
    /// place (not built aside and moved). **O(min(products, policy products))**.
    pub(super) fn recently_bought(
        context: &Context<'_>,
        policy: &CompiledPolicy,
        bought: &mut NameTable<Option<Stamp>>,
    ) {
        let summary = &context.customer.profile.summary;
        let Some(within) = policy.selection.skip_bought_within else {
            return;
        };
        if summary.product_count() == 0 || policy.products.is_empty() {
            return;
        }
        let now = context.facts.now;
        let recent = |at: &Stamp| at.within(within, now);
        bought.set_len(policy.products.len());
        let bought = bought.as_mut_slice();
        policy.products.join(
            (summary.product_count(), summary.products()),
            summary.product_numbers(policy.names_fingerprint),
            |name| summary.product(name),
            |id, at| {
                if let Some(slot) = bought.get_mut(id).filter(|_| recent(&at)) {
                    *slot = Some(at);
                }
            },
        );
    }

    /// Stops `offer` at the first of its categories the customer never wants (among the
    /// first 64 ids, as the gate holds only those; not found, not reached: asked in full), for
    /// an offer with several.
    #[inline(never)]
    fn never_category(&self, offer: &Offer, stop: &mut Code) -> Screening {
        let never = self.never;
        match offer
            .category_ids
            .iter()
            .find(|&&id| id < 64 && never >> id & 1 != 0)
        {
            Some(&id) => {
                *stop = Code::NeverCategory {
                    category: category_code(id),
                };
                Screening::Stop
            }
            None => Screening::Ask,
        }
    }
}

impl Engine {
    /// Debug builds, on every offer the gate settles on its row: the customer gave no
    /// feedback on it (such offers are asked in full), the full checks ([`Engine::screen`])
    /// come to the same answer (`settled`: the usable channels, or the stop), and a
    /// `plain_total` ([`Engine::score_plain`]) equals the full scorer's total to the bit. The
    /// row path is a second spelling of both, so every test run checks it.
    #[cfg(debug_assertions)]
    pub(super) fn debug_check_row(
        &self,
        context: &Context<'_>,
        sets: &mut super::scoring::Sets,
        offer: &Offer,
        settled: Result<u8, Code>,
        plain_total: Option<f64>,
    ) {
        assert!(
            context.customer.profile.summary.offer(&offer.id).is_none(),
            "offer {} has the customer's feedback but was settled on its row",
            offer.id
        );
        assert!(
            !context.customer.is_unsubscribed_from(&offer.topic),
            "offer {}'s topic is unsubscribed but it was settled on its row",
            offer.id
        );
        let full = self.screen(context, offer);
        let full_channels = full.as_ref().map(|screened| screened.channels);
        // Where a rule that failed on its row fails, as the trace will read it.
        let settled = settled.map_err(|code| match code {
            Code::IneligibleOnRow => Code::Ineligible {
                rule: offer
                    .quick
                    .failed_at(context.facts.memo.low())
                    .expect("a rule that failed on its row fails on the same bits"),
            },
            code => code,
        });
        assert_eq!(
            full_channels.map_err(|code| *code),
            settled,
            "the row screening and the full checks disagree on offer {}",
            offer.id
        );
        if let (Some(plain), Ok(screened)) = (plain_total, full) {
            let mut entry = super::record::Entry::UNSCORED;
            let aside = &mut super::record::Aside::default();
            let total = self.score(context, sets, offer, screened, &mut entry, aside);
            assert_eq!(
                plain.to_bits(),
                total.to_bits(),
                "the plain score and the full scorer disagree on offer {}",
                offer.id
            );
        }
    }

    /// The absolute checks, cheap first. `Ok` with a bit per usable channel, and the customer's
    /// feedback on the offer (looked up once, for the cooldown and the score).
    pub(super) fn screen<'c>(
        &self,
        context: &Context<'c>,
        offer: &Offer,
    ) -> Result<Screened<'c>, Code> {
        let customer = context.customer;
        let now = context.facts.now;
        if context.windowed {
            if offer.valid_from.is_some_and(|from| now < from) {
                return Err(Code::NotYetValid);
            }
            if offer.valid_until.is_some_and(|until| now > until) {
                return Err(Code::Expired);
            }
        }
        let allowed = context.requested & offer.channels;
        if allowed == 0 {
            return Err(Code::NoChannel);
        }
        if customer.do_not_contact {
            return Err(Code::DoNotContact);
        }
        let usable = allowed & context.consented_mask;
        if usable == 0 {
            return Err(Code::NoConsent { allowed });
        }
        // A check on the customer's own state per offer must also put the offers it concerns
        // in `Engine::asked`, or rows would skip it.
        if customer.is_unsubscribed_from(&offer.topic) {
            return Err(Code::Unsubscribed);
        }
        if context.never.may_hold(offer) {
            if let Some(&id) = offer
                .category_ids
                .iter()
                .find(|&&id| context.categories[id].never)
            {
                return Err(Code::NeverCategory {
                    category: category_code(id),
                });
            }
        }
        if let Some(rule) = &offer.eligibility {
            // The trace keeps the failed rule's position in the condition, not a copy.
            offer
                .quick
                .check(rule, &context.facts)
                .map_err(|rule| Code::Ineligible { rule })?;
        }
        if let Some(at) = self.just_bought(context, offer) {
            return Err(Code::JustBought { at });
        }
        // As with unsubscribes above, the offers this concerns are in `Engine::asked`.
        let summary = &customer.profile.summary;
        let feedback = summary.offer(&offer.id);
        if let Some(last) = feedback.and_then(|s| s.last_negative) {
            let until = last.plus(offer.cooldown);
            if now < until {
                return Err(Code::Cooldown { until });
            }
        }
        Ok(Screened {
            channels: usable,
            feedback,
        })
    }

    /// When the customer bought `offer`'s product, if within `selection.skip_bought_within`.
    #[inline]
    fn just_bought(&self, context: &Context<'_>, offer: &Offer) -> Option<Stamp> {
        let now = context.facts.now;
        let within = self.policy.selection.skip_bought_within?;
        let product = offer.product.as_deref()?;
        context
            .customer
            .profile
            .summary
            .product(product)
            .filter(|at| at.within(within, now))
    }
}

/// Unit tests' view of the row path on their thread: how many offers were settled on their
/// rows, and a switch that asks every offer in full (as before rows, or with a complaint).
#[cfg(test)]
pub(super) mod probe {
    use std::cell::Cell;

    thread_local! {
        /// Offers settled on their rows (screened, and scored if they passed) so far.
        pub(in crate::decide) static SETTLED: Cell<usize> = const { Cell::new(0) };
        /// While set, no offer is settled on its row.
        pub(in crate::decide) static ROWS_OFF: Cell<bool> = const { Cell::new(false) };
    }

    /// Counts one offer settled on its row.
    pub(in crate::decide) fn settled() {
        SETTLED.set(SETTLED.get() + 1);
    }
}
