//! The offers by id and by topic, built once at compile time (as the offers are validated): a decision finds the few offers
//! a customer's feedback and topic unsubscribes concern by looking their names up here, rather
//! than by asking every offer about them.

use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

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
    /// Numbers the next offer's `id` (offers are added in order); `Err` with the index of the
    /// offer that has it already, if one does.
    pub(crate) fn add_id(&mut self, id: &Arc<str>) -> Result<usize, usize> {
        match self.ids.insert_full(Arc::clone(id)) {
            (index, true) => Ok(index),
            (earlier, false) => Err(earlier),
        }
    }

    /// Files offer `index` under `topic`. Offers are added in order, so each topic's indexes
    /// stay ascending.
    pub(crate) fn add_topic(&mut self, topic: &Arc<str>, index: usize) {
        self.topics
            .entry(Arc::clone(topic))
            .or_default()
            .push(index);
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
