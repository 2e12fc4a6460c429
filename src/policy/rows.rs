//! Each offer's screening and scoring constants packed in one small row, built once at compile
//! time: a decision reads the rows in order (channels, categories, rule, score parts) and
//! turns to the full [`Offer`] only for the few offers that need more (a validity window, a
//! moment, a rule that is not a mask). A product is settled on the row too, by its number in
//! the decision's table of products bought recently.

use super::leaves::RuleMask;
use super::names::Names;
use super::offers::Offer;

/// An offer's row (see the module docs): copied from the offer by [`rows`], never changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// A bit per category id below 64 among the offer's categories.
    pub(crate) category_mask: u64,
    /// The offer's eligibility rule as a test of leaf bits.
    pub(crate) rule: RuleMask,
    /// The built-in score's value part as its total adds it.
    pub(crate) value_addend: f64,
    /// The built-in score's priority part as its total adds it.
    pub(crate) priority_addend: f64,
    /// Which of the policy's distinct category lists the offer has.
    pub(crate) category_set: usize,
    /// The offer's product's number in the policy's products (with [`Row::PRODUCT`]).
    pub(crate) product: u32,
    /// A bit per channel the offer can use.
    pub(crate) channels: u8,
    /// [`Row::WINDOW`], [`Row::PRODUCT`], [`Row::MOMENT`], [`Row::FALLBACK`].
    pub(crate) flags: u8,
}

impl Row {
    /// The offer has a `valid_from` or a `valid_until`.
    pub(crate) const WINDOW: u8 = 1;
    /// The offer names a product.
    pub(crate) const PRODUCT: u8 = 2;
    /// The offer names a moment (its score has a moment part).
    pub(crate) const MOMENT: u8 = 4;
    /// The offer is a fallback.
    pub(crate) const FALLBACK: u8 = 8;
    /// Whether the row has `flag`.
    #[inline(always)]
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The rows of `offers`, in order (once their score addends are set), and the products they
/// name. **O(offers)**.
pub(crate) fn rows(offers: &[Offer]) -> (Vec<Row>, Names) {
    let mut products = Names::default();
    let rows = offers
        .iter()
        .map(|offer| {
            let flag = |present: bool, flag: u8| if present { flag } else { 0 };
            // Fewer products than offers, whose count fits a u32 (a policy is text in memory).
            let product = offer.product.as_ref().map_or(u32::MAX, |name| {
                u32::try_from(products.insert(name)).unwrap_or(u32::MAX)
            });
            Row {
                product,
                category_mask: offer.category_mask,
                rule: RuleMask::of(offer.eligibility.as_ref().map(|_| &offer.quick)),
                value_addend: offer.value_addend,
                priority_addend: offer.priority_addend,
                category_set: offer.category_set,
                channels: offer.channels,
                flags: flag(
                    offer.valid_from.is_some() || offer.valid_until.is_some(),
                    Row::WINDOW,
                ) | flag(offer.product.is_some(), Row::PRODUCT)
                    | flag(offer.moment.is_some(), Row::MOMENT)
                    | flag(offer.fallback, Row::FALLBACK),
            }
        })
        .collect();
    (rows, products)
}
