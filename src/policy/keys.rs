//! The offers by id and by topic, built once at compile time: a decision finds the few offers
//! a customer's feedback and topic unsubscribes concern by looking their names up here, rather
//! than by asking every offer about them.

use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

use super::offers::Offer;

type Hasher = foldhash::fast::RandomState;

/// The offers' ids and topics (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct OfferKeys {
    /// The offers' ids in offer order: an id's index is its offer's (ids are unique).
    ids: IndexSet<Arc<str>, Hasher>,
    /// Per distinct topic, the indexes of the offers that count under it, ascending.
    topics: IndexMap<Arc<str>, Vec<usize>, Hasher>,
}

impl OfferKeys {
    /// The keys of `offers`, in order. **O(offers)**.
    pub(crate) fn of(offers: &[Offer]) -> Self {
        let mut keys = OfferKeys::default();
        for (index, offer) in offers.iter().enumerate() {
            keys.ids.insert(Arc::clone(&offer.id));
            keys.topics
                .entry(Arc::clone(&offer.topic))
                .or_default()
                .push(index);
        }
        keys
    }

    /// The index of the offer with this `id`, if the policy has one. **O(1)** (a hash).
    #[inline]
    pub(crate) fn offer(&self, id: &str) -> Option<usize> {
        self.ids.get_index_of(id)
    }

    /// The indexes of the offers counting under `topic`, ascending (none if no offer does).
    /// **O(1)** (a hash).
    #[inline]
    pub(crate) fn topic(&self, topic: &str) -> &[usize] {
        self.topics.get(topic).map_or(&[], Vec::as_slice)
    }
}
