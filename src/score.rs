//! Scores made of named contributions, so that every decision shows why one offer beat another.
//!
//! The built-in [`WeightedScorer`] adds, with the policy's `[scoring]` weights:
//!
//! ```text
//! score = affinity          · ln(1 + Σ over the offer's categories of
//!                                    purchase_signal · purchases + view_signal · views)
//!       + favourite         · [one of the offer's categories is a favourite]
//!       + value             · offer.value
//!       + priority          · offer.priority
//!       + moment            · max(0, 1 − days_until_moment / (moment_days + 1))
//!       + preferred_channel · [the channel is the customer's preferred one]
//!       − negative_feedback · (negative feedback on the offer and its categories)
//!       − fatigue           · (marketing contacts within fatigue_window)
//!       − ignored           · (ignored contacts on the channel since the latest open or click)
//! ```
//!
//! Purchases, views and feedback decay with `scoring.half_life`. Contributions that are zero (or
//! not finite) are left out of the trace. In the trace each part goes by its weight's name,
//! except `favourite` ("favourite category"), `preferred_channel` ("preferred channel") and
//! `negative_feedback` ("negative feedback"): see [`Contribution::name`]. An application plugs
//! in its own model by implementing [`Scorer`]; it adds its parts with [`Score::add`], and they
//! show in the trace the same way.
//!
//! A score keeps up to nine contributions inline ([`Contributions`], used like a slice or a
//! `Vec`), so scoring an offer allocates nothing; built-in names are `&'static str`, an
//! application's may be owned strings.
//!
//! A decision works out what depends only on an offer's list of categories (the sums,
//! and the built-in affinity term) once per list, not once per offer.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::channel::Channel;
use crate::policy::ScoringSpec;

/// What is known about one offer for one customer on one channel, ready for scoring.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Features<'a> {
    /// The offer's id.
    pub offer: &'a str,
    /// The offer's categories.
    pub categories: &'a [String],
    /// The channel it would go out on.
    pub channel: Channel,
    /// Decayed purchases in the offer's categories.
    pub purchases: f64,
    /// Decayed views in the offer's categories.
    pub views: f64,
    /// One of the offer's categories is among the customer's favourites.
    pub favourite: bool,
    /// The offer's value.
    pub value: f64,
    /// The offer's priority lever.
    pub priority: f64,
    /// Days until the moment the offer celebrates, if it has one and the customer too.
    pub days_until_moment: Option<i64>,
    /// The channel is the customer's preferred one.
    pub preferred_channel: bool,
    /// Decayed negative feedback on the offer and its categories.
    pub negative_feedback: f64,
    /// Marketing contacts within the policy's fatigue window.
    pub recent_contacts: u32,
    /// Contacts on the channel ignored since the customer's latest open or click there (by the
    /// events' times, up to 32): [`Summary::ignored_streak`](crate::Summary::ignored_streak).
    pub ignored_streak: u32,
}

/// One named part of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// What it is: for the built-in scorer, in the order it gives them, `"affinity"`,
    /// `"favourite category"`, `"value"`, `"priority"`, `"moment"`, `"preferred channel"`,
    /// `"negative feedback"`, `"fatigue"` and `"ignored"`; for a plugged-in model, its own names.
    pub name: Cow<'static, str>,
    /// How much it adds (negative: takes away).
    pub value: f64,
}

/// How many contributions a [`Contributions`] holds without allocating: every one the built-in
/// [`WeightedScorer`] can give.
const INLINE: usize = 9;

/// The named parts of a [`Score`], in the order the scorer gave them. Reads and edits as a
/// slice (`contributions.len()`, `contributions[0].name`, `contributions.iter()`), extends and
/// iterates like a `Vec`, converts to and from one, and serializes as a list.
///
/// The first nine are stored inline, so scoring an offer allocates nothing unless a plugged-in
/// scorer gives more parts than that. Changing the parts directly does not change
/// [`Score::total`]; [`Score::add`] keeps the two in step.
#[derive(Clone, Default, PartialEq)]
pub struct Contributions {
    list: SmallVec<[Contribution; INLINE]>,
}

impl Contributions {
    /// No contributions.
    pub fn new() -> Self {
        Contributions::default()
    }

    /// Appends `contribution` (kept as given, even if it is zero; the score's total is not
    /// changed). **O(1)** amortized; allocates only past the ninth.
    pub fn push(&mut self, contribution: Contribution) {
        self.list.push(contribution);
    }

    /// Removes every part (the score's total is not changed).
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

impl std::ops::Deref for Contributions {
    type Target = [Contribution];

    fn deref(&self) -> &[Contribution] {
        &self.list
    }
}

impl std::ops::DerefMut for Contributions {
    fn deref_mut(&mut self) -> &mut [Contribution] {
        &mut self.list
    }
}

impl<'a> IntoIterator for &'a Contributions {
    type Item = &'a Contribution;
    type IntoIter = std::slice::Iter<'a, Contribution>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl IntoIterator for Contributions {
    type Item = Contribution;
    type IntoIter = smallvec::IntoIter<[Contribution; INLINE]>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

impl Extend<Contribution> for Contributions {
    fn extend<I: IntoIterator<Item = Contribution>>(&mut self, iter: I) {
        self.list.extend(iter);
    }
}

impl FromIterator<Contribution> for Contributions {
    fn from_iter<I: IntoIterator<Item = Contribution>>(iter: I) -> Self {
        Contributions {
            list: iter.into_iter().collect(),
        }
    }
}

impl From<Vec<Contribution>> for Contributions {
    fn from(list: Vec<Contribution>) -> Self {
        list.into_iter().collect()
    }
}

impl From<Contributions> for Vec<Contribution> {
    fn from(contributions: Contributions) -> Self {
        contributions.list.into_vec()
    }
}

impl PartialEq<[Contribution]> for Contributions {
    fn eq(&self, other: &[Contribution]) -> bool {
        self.list[..] == *other
    }
}

impl PartialEq<Vec<Contribution>> for Contributions {
    fn eq(&self, other: &Vec<Contribution>) -> bool {
        self.list[..] == other[..]
    }
}

impl std::fmt::Debug for Contributions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}

impl Serialize for Contributions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.list.iter())
    }
}

impl<'de> Deserialize<'de> for Contributions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Contribution>::deserialize(deserializer).map(Contributions::from)
    }
}

/// A score and its parts. The total is the sum of the contributions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Score {
    /// The sum of the contributions.
    pub total: f64,
    /// Each part, in the order the scorer gave them.
    pub contributions: Contributions,
}

impl Score {
    /// A plugged-in scorer's score made fit to rank and to log (JSON has no NaN or infinity):
    /// a contribution that is not a finite number is left out, and a total that is not one
    /// becomes the sum of the rest, held within the finite range. **O(parts)**.
    pub(crate) fn make_finite(&mut self) {
        if self.contributions.iter().any(|c| !c.value.is_finite()) {
            self.contributions.list.retain(|c| c.value.is_finite());
        }
        if !self.total.is_finite() {
            let sum: f64 = self.contributions.iter().map(|c| c.value).sum();
            self.total = if sum.is_finite() {
                sum
            } else if sum > 0.0 {
                f64::MAX
            } else {
                f64::MIN
            };
        }
    }

    /// Adds a contribution (zero ones are left out). **O(1)**; allocates nothing for the first
    /// nine parts.
    pub fn add(&mut self, name: impl Into<Cow<'static, str>>, value: f64) {
        if kept(value) {
            self.total += value;
            self.contributions.push(Contribution {
                name: name.into(),
                value,
            });
        }
    }
}

/// Whether [`Score::add`] keeps `value`: `value != 0.0 && value.is_finite()` in one
/// comparison. The magnitude bits, less one, are below those of infinity less one exactly when
/// the value is neither zero (nor -0.0), nor infinite, nor NaN.
#[inline]
fn kept(value: f64) -> bool {
    const INFINITY: u64 = 0x7ff0_0000_0000_0000;
    let magnitude = value.to_bits() & !(1 << 63);
    magnitude.wrapping_sub(1) < INFINITY - 1
}

/// `part` as a total adds it: itself if [`Score::add`] keeps it, else +0.0. Adding +0.0 to a
/// total changes none of its bits unless it is -0.0, and a total that starts at +0.0 and adds
/// only finite non-zero parts (and +0.0s) is never -0.0 (nor NaN): so summing the addends of
/// the parts gives the total of [`Score::add`], to the bit.
#[inline]
pub(crate) fn addend(part: f64) -> f64 {
    if kept(part) {
        part
    } else {
        0.0
    }
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.total)?;
        if !self.contributions.is_empty() {
            f.write_str(" = ")?;
            for (i, c) in self.contributions.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{} {:+.2}", c.name, c.value)?;
            }
        }
        Ok(())
    }
}

/// Scores an offer for a customer. Implement it to plug in a propensity model; each
/// contribution added to `score` shows in the decision's trace.
///
/// What a scorer gives is made finite before it is ranked: a part that is not a finite number
/// (NaN, ±∞) is left out, and a total that is not one becomes the sum of the other parts (held
/// within `f64`'s finite range), so that a model's bad output can neither win every ranking
/// nor make the decision's JSON unreadable.
///
/// ```
/// use cornershop::{Features, Score, Scorer};
///
/// struct Propensity;
/// impl Scorer for Propensity {
///     fn score(&self, features: &Features<'_>, score: &mut Score) {
///         score.add("propensity model", 0.1 * features.purchases + 0.05 * features.value);
///     }
/// }
/// ```
pub trait Scorer: Send + Sync {
    /// Adds the offer's contributions to `score`.
    fn score(&self, features: &Features<'_>, score: &mut Score);
}

/// The built-in scorer: the policy's `[scoring]` weights (see the module docs for the formula).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedScorer {
    weights: ScoringSpec,
}

impl WeightedScorer {
    /// A scorer with these weights.
    pub fn new(weights: ScoringSpec) -> Self {
        WeightedScorer { weights }
    }
}

impl WeightedScorer {
    /// The affinity contribution for decayed `purchases` and `views` in an offer's categories.
    pub(crate) fn affinity(&self, purchases: f64, views: f64) -> f64 {
        let w = &self.weights;
        let signal = w.purchase_signal * purchases + w.view_signal * views;
        w.affinity * signal.max(0.0).ln_1p()
    }
}

impl Scorer for WeightedScorer {
    fn score(&self, f: &Features<'_>, score: &mut Score) {
        let inputs = PartInputs {
            affinity: self.affinity(f.purchases, f.views),
            favourite: f.favourite,
            value: f.value,
            priority: f.priority,
            days_until_moment: f.days_until_moment,
            preferred_channel: f.preferred_channel,
            negative_feedback: f.negative_feedback,
            recent_contacts: f.recent_contacts,
            ignored_streak: f.ignored_streak,
        };
        Parts::new(&self.weights, &inputs).add_to(score);
    }
}

/// What the built-in scorer's parts are worked out from, for one offer on one channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartInputs {
    /// The affinity contribution ([`WeightedScorer::affinity`]), worked out once per list of
    /// categories.
    pub(crate) affinity: f64,
    pub(crate) favourite: bool,
    pub(crate) value: f64,
    pub(crate) priority: f64,
    pub(crate) days_until_moment: Option<i64>,
    pub(crate) preferred_channel: bool,
    pub(crate) negative_feedback: f64,
    pub(crate) recent_contacts: u32,
    pub(crate) ignored_streak: u32,
}

/// The names of the built-in scorer's parts, in the order it gives them.
const PART_NAMES: [&str; 9] = [
    "affinity",
    "favourite category",
    "value",
    "priority",
    "moment",
    "preferred channel",
    "negative feedback",
    "fatigue",
    "ignored",
];

/// The built-in scorer's nine parts for one offer, in [`PART_NAMES`] order; a part that does
/// not apply is zero, which [`Score::add`] leaves out as it leaves out any zero part.
///
/// The one place the formula is written: a decision works out the total from it without
/// naming the parts, and names them (from the same inputs, so to the same bits) only when its
/// trace is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts([f64; 9]);

impl Parts {
    /// The parts for `inputs` under weights `w`.
    #[inline]
    pub(crate) fn new(w: &ScoringSpec, f: &PartInputs) -> Parts {
        Parts([
            f.affinity,
            Parts::favourite(w, f.favourite),
            Parts::value(w, f.value),
            Parts::priority(w, f.priority),
            Parts::moment(w, f.days_until_moment),
            Parts::preferred(w, f.preferred_channel),
            Parts::negative(w, f.negative_feedback),
            Parts::fatigue(w, f.recent_contacts),
            Parts::ignored(w, f.ignored_streak),
        ])
    }

    // Each part's formula, for `new` and for a decision that works some of them out once.
    #[inline]
    pub(crate) fn favourite(w: &ScoringSpec, favourite: bool) -> f64 {
        if favourite {
            w.favourite
        } else {
            0.0
        }
    }

    #[inline]
    pub(crate) fn value(w: &ScoringSpec, value: f64) -> f64 {
        w.value * value
    }

    #[inline]
    pub(crate) fn priority(w: &ScoringSpec, priority: f64) -> f64 {
        w.priority * priority
    }

    #[inline]
    pub(crate) fn moment(w: &ScoringSpec, days_until_moment: Option<i64>) -> f64 {
        match days_until_moment {
            Some(days) => {
                let span = f64::from(w.moment_days) + 1.0;
                let nearness = (1.0 - days as f64 / span).max(0.0);
                w.moment * nearness
            }
            None => 0.0,
        }
    }

    #[inline]
    pub(crate) fn preferred(w: &ScoringSpec, preferred_channel: bool) -> f64 {
        if preferred_channel {
            w.preferred_channel
        } else {
            0.0
        }
    }

    #[inline]
    pub(crate) fn negative(w: &ScoringSpec, negative_feedback: f64) -> f64 {
        -w.negative_feedback * negative_feedback
    }

    #[inline]
    pub(crate) fn fatigue(w: &ScoringSpec, recent_contacts: u32) -> f64 {
        -w.fatigue * f64::from(recent_contacts)
    }

    #[inline]
    pub(crate) fn ignored(w: &ScoringSpec, ignored_streak: u32) -> f64 {
        -w.ignored * f64::from(ignored_streak)
    }

    /// The total [`Score::add`] would reach adding the parts in order: **O(1)**, nothing
    /// written but the sum. (A decision sums the addends itself, some worked out once: this
    /// is what the tests hold [`Parts::sum`] of [`addend`]s to.)
    #[cfg(test)]
    pub(crate) fn total(&self) -> f64 {
        Parts::sum(self.0.map(addend))
    }

    /// The sum of `addends` ([`addend`]s of the parts, in [`PART_NAMES`] order), from +0.0,
    /// in order: the total [`Score::add`] reaches with those parts. (A decision sums them in
    /// the same order itself.)
    #[cfg(test)]
    pub(crate) fn sum(addends: [f64; 9]) -> f64 {
        addends.iter().fold(0.0, |total, &addend| total + addend)
    }

    /// Adds every part to `score`, named.
    pub(crate) fn add_to(&self, score: &mut Score) {
        for (name, value) in PART_NAMES.into_iter().zip(self.0) {
            score.add(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_leaves_out_zero_and_non_finite_parts_and_keeps_every_other() {
        let mut score = Score::default();
        for value in [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            score.add("left out", value);
        }
        assert!(score.contributions.is_empty());
        let kept = [
            f64::MIN_POSITIVE / 2.0, // subnormal
            -f64::MIN_POSITIVE,
            f64::MAX,
            -f64::MAX,
            1.5,
        ];
        for value in kept {
            score.add("kept", value);
        }
        let values: Vec<f64> = score.contributions.iter().map(|c| c.value).collect();
        assert_eq!(values, kept);
    }

    #[test]
    fn the_parts_total_is_the_sum_score_add_reaches_to_the_bit() {
        let odd = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NAN,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE / 2.0,
            0.1,
            -0.1,
            0.2,
            1e300,
            -3.75,
        ];
        // Every part from the odd values above, in many orders and mixes (cancellations,
        // overflow, zeros and non-finite parts left out).
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut parts = [0.0; 9];
            for part in &mut parts {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *part = odd[(seed % odd.len() as u64) as usize];
            }
            let mut score = Score::default();
            let parts = Parts(parts);
            parts.add_to(&mut score);
            assert_eq!(parts.total().to_bits(), score.total.to_bits(), "{parts:?}");
        }
    }

    #[test]
    fn contributions_past_the_inline_nine_and_with_owned_names_read_clone_and_round_trip() {
        let mut score = Score::default();
        for i in 0..12 {
            if i % 2 == 0 {
                score.add(format!("model part {i}"), f64::from(i) + 0.25);
            } else {
                score.add("static part", f64::from(i) + 0.5);
            }
        }
        assert_eq!(score.contributions.len(), 12);
        assert_eq!(score.contributions[4].name, "model part 4");
        let copy = score.clone();
        assert_eq!(copy, score);
        let json = serde_json::to_string(&score).expect("serializes");
        let back: Score = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, score);
        let listed: Contributions = score.contributions.iter().cloned().collect();
        assert_eq!(listed, score.contributions);
    }

    #[test]
    fn contributions_edit_extend_and_convert_like_a_vec() {
        let part = |name: &'static str, value: f64| Contribution {
            name: name.into(),
            value,
        };
        let mut parts = Contributions::new();
        parts.extend([part("a", 1.0), part("b", 2.0)]);
        parts.push(part("c", 3.0));
        parts[1].value = 20.0;
        parts.sort_by(|x, y| y.value.total_cmp(&x.value));
        assert_eq!(parts, vec![part("b", 20.0), part("c", 3.0), part("a", 1.0)]);
        let names: Vec<String> = parts.clone().into_iter().map(|c| c.name.into()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        let list: Vec<Contribution> = parts.clone().into();
        assert_eq!(Contributions::from(list), parts);
        parts.clear();
        assert!(parts.is_empty());
    }
}
