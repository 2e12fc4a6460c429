//! The offers a decision asks in full whatever their rows say ([`Screening::Ask`]): those the
//! customer gave feedback on (a cooldown may stop them, and their score has a negative-feedback
//! part of their own) and those whose topic they unsubscribed from. Found once per decision by
//! name in the policy's [`OfferKeys`]; every other offer stays on its row.
//!
//! [`Screening::Ask`]: super::screen::Screening::Ask
//! [`OfferKeys`]: crate::policy::OfferKeys

use smallvec::SmallVec;

use super::Engine;
use crate::customer::Customer;

/// A set of offer indexes: a bit per offer, in words of 64, as many words as the highest
/// index needs (none for an empty set).
#[derive(Debug, Default)]
pub(super) struct OfferSet {
    words: SmallVec<[u64; 2]>,
}

/// Where offer `index` is in a set's words: the word, and its bit there.
#[inline(always)]
fn slot(index: usize) -> (usize, u64) {
    (index / 64, 1 << (index % 64))
}

impl OfferSet {
    /// Adds `index`. **O(1)**, or **O(index / 64)** the first time a word is needed.
    fn insert(&mut self, index: usize) {
        let (word, bit) = slot(index);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        if let Some(bits) = self.words.get_mut(word) {
            *bits |= bit;
        }
    }

    /// The set as its words, to read with [`Asked::holds`] (as a slice: one bounds check, not
    /// the small vector's question of where its words are on every look-up).
    pub(super) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Whether no offer is in the set.
    pub(super) fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The offers asked in full by number, as the gate reads them ([`Gate::pass`]): a decision
/// judges its offers with [`NoneAsked`] when there are none (then no offer is tested for it),
/// or with an [`OfferSet`]'s words.
///
/// [`Gate::pass`]: super::screen::Gate::pass
pub(super) trait Asked {
    /// Whether offer `index` is asked in full. **O(1)**.
    fn holds(&self, index: usize) -> bool;
}

/// No offer is asked in full by number.
pub(super) struct NoneAsked;

impl Asked for NoneAsked {
    #[inline(always)]
    fn holds(&self, _index: usize) -> bool {
        false
    }
}

/// An [`OfferSet`]'s words.
impl Asked for &[u64] {
    #[inline(always)]
    fn holds(&self, index: usize) -> bool {
        let (word, bit) = slot(index);
        self.get(word).is_some_and(|bits| bits & bit != 0)
    }
}

impl Engine {
    /// The offers `customer` gave feedback on, and those whose topic they unsubscribed from
    /// (see the module docs). **O(min(f, n) + u + a)** for f offers with feedback, the
    /// policy's n offers, u unsubscribed topics and a offers found: the customer's feedback
    /// looked up in the policy's ids, or the policy's offers in the customer's feedback,
    /// whichever are fewer; each unsubscribed topic looked up once.
    #[inline]
    pub(super) fn asked(&self, customer: &Customer) -> OfferSet {
        let summary = &customer.profile.summary;
        if summary.offer_feedback_count() == 0 && customer.unsubscribed_topics.is_empty() {
            return OfferSet::default();
        }
        self.look_up_asked(customer)
    }

    /// [`Engine::asked`] for a customer with feedback on offers or unsubscribed topics.
    #[inline(never)]
    fn look_up_asked(&self, customer: &Customer) -> OfferSet {
        let mut asked = OfferSet::default();
        let summary = &customer.profile.summary;
        let keys = &self.policy.keys;
        let offers = &self.policy.offers;
        if summary.offer_feedback_count() <= offers.len() {
            for index in summary
                .offers_with_feedback()
                .filter_map(|id| keys.offer(id))
            {
                asked.insert(index);
            }
        } else {
            for (index, offer) in offers.iter().enumerate() {
                if summary.offer(&offer.id).is_some() {
                    asked.insert(index);
                }
            }
        }
        for topic in &customer.unsubscribed_topics {
            for &index in keys.topic(topic) {
                asked.insert(index);
            }
        }
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::{Asked, OfferSet};

    #[test]
    fn an_offer_set_holds_exactly_the_indexes_added() {
        let mut set = OfferSet::default();
        assert!(set.is_empty() && !set.words().holds(0));
        for index in [3, 64, 130] {
            set.insert(index);
        }
        let held: Vec<usize> = (0..200).filter(|&i| set.words().holds(i)).collect();
        assert_eq!(held, [3, 64, 130]);
    }
}
