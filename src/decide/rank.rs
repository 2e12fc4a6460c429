//! The order of selection: candidates best first, read from the trace entries themselves (no
//! list of candidates is built while screening; only the best so far is remembered).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use smallvec::SmallVec;

use super::record::{Code, Entry, Scored};

/// A candidate that passed every absolute check, waiting for selection. Ordered best first:
/// the higher score, then (equal scores, -0.0 equal to 0.0) the offer written first. Scores
/// are never NaN (the built-in total is a sum of finite addends, and an application's is made
/// finite) and offer indexes are distinct, so the order is total and selection is
/// deterministic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rank {
    /// The score as an integer that orders as the scores do ([`key`]).
    key: i64,
    pub(super) score: f64,
    pub(super) index: usize,
    /// A bit per usable channel (requested, allowed by the offer, consented).
    pub(super) channels: u8,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(other.index.cmp(&self.index))
    }
}

impl Rank {
    pub(super) fn new(score: f64, index: usize, channels: u8) -> Rank {
        Rank {
            key: key(score),
            score,
            index,
            channels,
        }
    }
}

/// `score` as an integer that orders scores as `>` does (they are never NaN): -0.0 made 0.0
/// (`+ 0.0`), then the magnitude bits of negative numbers flipped, so that the bits compare as
/// signed integers in `f64::total_cmp`'s order.
#[inline(always)]
fn key(score: f64) -> i64 {
    let bits = (score + 0.0).to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

/// The candidates of one pool (the regular offers, or the fallbacks): the scored entries of
/// its offers, and the best of them (one comparison each: the regular offers' as each is
/// scored, the fallbacks' once the offers are judged). Only the best's score and index
/// are kept; its channels are read back from its entry.
pub(super) struct Pool {
    fallback: bool,
    /// The best's score: NaN while `best` is [`NONE`], which no score is above or equal to.
    best_score: f64,
    /// The best's offer index, or [`NONE`].
    best: usize,
}

/// No best yet (no offer has this index: entries are one per offer, far fewer).
const NONE: usize = usize::MAX;

impl Pool {
    /// The regular offers (`fallback` false) or the fallbacks, with no candidate yet.
    pub(super) fn new(fallback: bool) -> Pool {
        Pool {
            fallback,
            best_score: f64::NAN,
            best: NONE,
        }
    }

    /// Debug builds: the regular pool kept while the offers were judged ([`Pool::add`], in
    /// the offer loop) has the best that a scan of the `entries` finds, every entry scored
    /// that is not a fallback's (the first with the highest key), each with the `total` it
    /// is worked out again to.
    #[cfg(debug_assertions)]
    pub(super) fn debug_check_regular(
        &self,
        entries: &[Entry],
        total: impl Fn(usize, &Entry) -> f64,
    ) {
        let mut scanned = Pool::new(false);
        for (index, entry) in entries.iter().enumerate() {
            if entry.scored != Scored::No && !entry.fallback {
                scanned.add(total(index, entry), index);
            }
        }
        assert!(!self.fallback, "not the regular pool");
        assert_eq!(
            (self.best, self.best_score.to_bits()),
            (scanned.best, scanned.best_score.to_bits()),
            "the regular pool kept while judging and a scan of the entries disagree"
        );
    }

    /// The fallbacks' pool: those of `indexes` (the policy's fallback offers, in policy
    /// order) that were scored in `entries`, each with its `total`. **O(fallbacks)**.
    pub(super) fn fallbacks(
        indexes: &[usize],
        entries: &[Entry],
        total: impl Fn(usize, &Entry) -> f64,
    ) -> Pool {
        let mut pool = Pool::new(true);
        for &index in indexes {
            if let Some(entry) = entries.get(index).filter(|e| e.scored != Scored::No) {
                pool.add(total(index, entry), index);
            }
        }
        pool
    }

    /// Counts in a scored candidate: offer `index` (added in increasing order) and its
    /// `score`. Only a better score replaces the best so far: on equal scores, the offer
    /// written first is the better ([`Rank`]'s order). **O(1)**, a comparison.
    #[inline(always)]
    pub(super) fn add(&mut self, score: f64, index: usize) {
        debug_assert!(!score.is_nan(), "offer {index} scored NaN");
        // `!(<=)` rather than `>`: the first score is compared with NaN, and counts in.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(score <= self.best_score) {
            self.best_score = score;
            self.best = index;
        }
    }

    /// The best candidate, its channels read from `entries` (the trace's, one per offer).
    fn best(&self, entries: &[Entry]) -> Option<Rank> {
        let entry = entries.get(self.best)?;
        Some(Rank::new(self.best_score, self.best, entry.channels))
    }

    /// Whether `entry` is a candidate of this pool still waiting: scored, and neither
    /// stopped nor picked.
    #[inline]
    fn waiting(&self, entry: &Entry) -> bool {
        entry.scored != Scored::No
            && entry.fallback == self.fallback
            && matches!(entry.stop, Code::Waiting)
    }

    /// The candidates, best first.
    pub(super) fn best_first(&self) -> BestFirst<'_> {
        BestFirst {
            pool: self,
            first: true,
            heap: None,
        }
    }
}

/// A pool's candidates handed out best first, ordered only as far as they are asked for: the
/// first is known ([`Pool`]; selection usually stops there), the rest come through a binary
/// heap built when a second one is asked for (**O(n)** once, then **O(log n)** each).
pub(super) struct BestFirst<'a> {
    pool: &'a Pool,
    first: bool,
    heap: Option<BinaryHeap<Rank>>,
}

impl BestFirst<'_> {
    /// The best candidate not handed out yet. `entries` are the trace's, one per offer (each
    /// candidate handed out has its stop, or [`Code::Picked`], by now); the heap reads each
    /// waiting one's `total`.
    pub(super) fn next(
        &mut self,
        entries: &[Entry],
        total: impl Fn(usize, &Entry) -> f64,
    ) -> Option<Rank> {
        if self.first {
            self.first = false;
            return self.pool.best(entries);
        }
        let pool = self.pool;
        self.heap
            .get_or_insert_with(|| {
                entries
                    .iter()
                    .enumerate()
                    .filter(|(_, entry)| pool.waiting(entry))
                    .map(|(i, entry)| Rank::new(total(i, entry), i, entry.channels))
                    .collect()
            })
            .pop()
    }
}

/// Offer indexes picked by one selection: as many as a request usually asks for.
pub(super) type Picked = SmallVec<[usize; 4]>;
