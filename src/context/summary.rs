//! The running summary a shop owner keeps of a regular: per category how much they buy and look
//! (decayed with a half-life), when they last did, their feedback, open complaints, how they
//! respond on each channel, and their lifetime value. Each event updates it in **O(1)**
//! (amortized), and it stays small whatever the length of the customer's history.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::binding::{Binding, Numbering, StoredBinding};
use super::event::{Event, FeedbackTarget, Response};
use crate::channel::Channel;
use crate::error::InputError;
use crate::time::Stamp;

/// Products remembered for "no offer for what they just bought"; the oldest go first.
const MAX_PRODUCTS: usize = 64;
/// Resolved complaints remembered (so that a late "opened" does not reopen them).
const MAX_RESOLVED: usize = 16;
/// Category and offer names are short labels.
const MAX_NAME_LEN: usize = 128;
/// Ignored contacts counted per channel since the last open or click: a streak is counted up
/// to this many (the newest are kept).
const MAX_IGNORED_STREAK: usize = 32;

/// A quantity that halves every half-life: stored as its value at `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Decayed {
    value: f64,
    as_of: Stamp,
}

/// `2^(-elapsed / half_life)`.
fn decay(elapsed: u32, half_life: u32) -> f64 {
    if half_life == 0 {
        return if elapsed == 0 { 1.0 } else { 0.0 };
    }
    (-(f64::from(elapsed) / f64::from(half_life)) * std::f64::consts::LN_2).exp()
}

impl Decayed {
    /// Adds `amount` happening at `at`, in or out of time order.
    fn add(&mut self, amount: f64, at: Stamp, half_life: u32) {
        if self.value == 0.0 || at >= self.as_of {
            self.value = self.value * decay(at.0.saturating_sub(self.as_of.0), half_life) + amount;
            self.as_of = at;
        } else {
            self.value += amount * decay(self.as_of.0 - at.0, half_life);
        }
    }

    /// The value at `now` (no growth for a `now` before the last update).
    pub(crate) fn at(&self, now: Stamp, half_life: u32) -> f64 {
        // Nothing decays to nothing (exactly what the product gives): skip the exponential.
        if self.value == 0.0 {
            return 0.0;
        }
        self.value * decay(now.0.saturating_sub(self.as_of.0), half_life)
    }
}

/// What the customer did in one category.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct CategoryStats {
    pub(crate) purchases: Decayed,
    pub(crate) views: Decayed,
    pub(crate) positive: Decayed,
    pub(crate) negative: Decayed,
    pub(crate) last_purchase: Option<Stamp>,
    pub(crate) last_view: Option<Stamp>,
}

/// The customer's feedback on one offer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct OfferStats {
    pub(crate) positive: Decayed,
    pub(crate) negative: Decayed,
    /// The last dismissal or negative feedback: starts the offer's cooldown.
    pub(crate) last_negative: Option<Stamp>,
}

/// The summary's maps: keyed by the application's names, hashed fast (seeded per map).
type Map<V> = IndexMap<String, V, foldhash::fast::RandomState>;

/// One complaint's state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Complaint {
    opened: Option<Stamp>,
    resolved: Option<Stamp>,
}

/// How a customer answered contacts on one channel, in the order the answers happened
/// whatever the order they are observed in: their latest open or click, and the times of the
/// ignored contacts after it (the newest [`MAX_IGNORED_STREAK`], oldest first).
///
/// Read back, a stored state is put in that form (sorted, only what came after the open or
/// click, the newest kept), so that a hand-edited one still counts as documented.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "StoredAnswers")]
struct Answers {
    engaged: Option<Stamp>,
    ignored: Vec<Stamp>,
}

/// [`Answers`] as stored, before it is put in order.
#[derive(Deserialize)]
struct StoredAnswers {
    #[serde(default)]
    engaged: Option<Stamp>,
    #[serde(default)]
    ignored: Vec<Stamp>,
}

impl From<StoredAnswers> for Answers {
    fn from(stored: StoredAnswers) -> Answers {
        let mut answers = Answers {
            engaged: stored.engaged,
            ignored: Vec::new(),
        };
        for at in stored.ignored {
            answers.ignored(at);
        }
        answers
    }
}

/// Whether no channel has an answer (the summary then leaves them out).
fn no_answers(answers: &&[Answers; Channel::COUNT]) -> bool {
    answers
        .iter()
        .all(|a| a.engaged.is_none() && a.ignored.is_empty())
}

impl Answers {
    /// An ignored contact at `at`: counted if it came after the latest open or click.
    fn ignored(&mut self, at: Stamp) {
        if self.engaged.is_some_and(|engaged| at <= engaged) {
            return;
        }
        // After those at the same instant: two contacts ignored at once are two.
        let position = self.ignored.partition_point(|&other| other <= at);
        self.ignored.insert(position, at);
        if self.ignored.len() > MAX_IGNORED_STREAK {
            self.ignored.remove(0);
        }
    }

    /// An open or click at `at`: the ignored contacts up to it no longer count.
    fn engaged(&mut self, at: Stamp) {
        let latest = self.engaged.max(Some(at));
        self.engaged = latest;
        let ended = self.ignored.partition_point(|&other| Some(other) <= latest);
        self.ignored.drain(..ended);
    }
}

/// The compact running summary of a customer's events. Updated by
/// [`Engine::observe`](crate::Engine::observe); read by eligibility rules and scoring.
/// Serializes with the customer, with its categories' and products' numbers in the policy they
/// were last observed under (`binding`: a cache, which equality ignores; read back with its
/// categories or products in another order, as from a store that sorts object keys, the
/// numbers are dropped and the names looked up again).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "StoredSummary")]
pub struct Summary {
    categories: Map<CategoryStats>,
    offers: Map<OfferStats>,
    products: Map<Stamp>,
    complaints: Map<Complaint>,
    /// Per channel: the latest open or click and the ignored contacts since.
    answers: [Answers; Channel::COUNT],
    lifetime_value: f64,
    events: u64,
    /// The categories' and products' numbers in the policy they were last observed under.
    binding: Binding,
}

/// A [`Summary`] as stored, borrowed to be written.
#[derive(Serialize)]
struct SummaryView<'s> {
    categories: &'s Map<CategoryStats>,
    offers: &'s Map<OfferStats>,
    products: &'s Map<Stamp>,
    complaints: &'s Map<Complaint>,
    #[serde(skip_serializing_if = "no_answers")]
    answers: &'s [Answers; Channel::COUNT],
    lifetime_value: f64,
    events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    binding: Option<StoredBinding<&'s [u32]>>,
}

impl Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SummaryView {
            categories: &self.categories,
            offers: &self.offers,
            products: &self.products,
            complaints: &self.complaints,
            answers: &self.answers,
            lifetime_value: self.lifetime_value,
            events: self.events,
            binding: self.binding.to_stored(
                self.categories.keys().map(String::as_str),
                self.products.keys().map(String::as_str),
            ),
        }
        .serialize(serializer)
    }
}

/// A [`Summary`] as read back, before its stored numbers are checked against its names.
#[derive(Deserialize)]
struct StoredSummary {
    #[serde(default)]
    categories: Map<CategoryStats>,
    #[serde(default)]
    offers: Map<OfferStats>,
    #[serde(default)]
    products: Map<Stamp>,
    #[serde(default)]
    complaints: Map<Complaint>,
    #[serde(default)]
    answers: [Answers; Channel::COUNT],
    #[serde(default)]
    lifetime_value: f64,
    #[serde(default)]
    events: u64,
    #[serde(default)]
    binding: Option<StoredBinding<Vec<u32>>>,
}

impl From<StoredSummary> for Summary {
    fn from(stored: StoredSummary) -> Summary {
        let binding = stored.binding.map_or_else(Binding::default, |binding| {
            Binding::from_stored(
                binding,
                stored.categories.keys().map(String::as_str),
                stored.products.keys().map(String::as_str),
            )
        });
        Summary {
            categories: stored.categories,
            offers: stored.offers,
            products: stored.products,
            complaints: stored.complaints,
            answers: stored.answers,
            lifetime_value: stored.lifetime_value,
            events: stored.events,
            binding,
        }
    }
}

/// The stats of `category` in `categories`, added if new (and numbered in `binding`).
fn category_entry<'s>(
    categories: &'s mut Map<CategoryStats>,
    binding: &mut Binding,
    numbering: Option<&dyn Numbering>,
    category: &str,
) -> &'s mut CategoryStats {
    let entry = categories.entry(category.to_owned());
    if matches!(entry, indexmap::map::Entry::Vacant(_)) {
        binding.push_category(numbering, category);
    }
    entry.or_default()
}

fn check_name(what: &str, name: &str) -> Result<(), InputError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(InputError::BadEvent(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_LEN} bytes long"
        )));
    }
    Ok(())
}

impl Summary {
    /// Checks `event` and folds it in. `half_life` is the decay of category affinity and
    /// feedback, in seconds; `numbering` numbers the categories and products (the engine's
    /// policy; `None` leaves them unnumbered). On error the events folded in are unchanged
    /// (their numbering may have been brought up to date).
    pub(crate) fn observe(
        &mut self,
        event: &Event,
        half_life: u32,
        numbering: Option<&dyn Numbering>,
    ) -> Result<(), InputError> {
        if let Some(numbering) = numbering {
            self.binding.bind(
                numbering,
                self.categories.keys().map(String::as_str),
                self.products.keys().map(String::as_str),
            );
        }
        let at = Stamp::from_utc(event.at())?;
        match event {
            Event::Purchase {
                category,
                product,
                amount,
                ..
            } => {
                check_name("category", category)?;
                if let Some(product) = product {
                    check_name("product", product)?;
                }
                if !amount.is_finite() || *amount < 0.0 {
                    return Err(InputError::BadEvent(format!(
                        "purchase amount {amount} must be a finite number, not negative"
                    )));
                }
                let stats =
                    category_entry(&mut self.categories, &mut self.binding, numbering, category);
                stats.purchases.add(1.0, at, half_life);
                stats.last_purchase = stats.last_purchase.max(Some(at));
                self.lifetime_value += amount;
                if let Some(product) = product {
                    let entry = self.products.entry(product.clone());
                    if matches!(entry, indexmap::map::Entry::Vacant(_)) {
                        self.binding.push_product(numbering, product);
                    }
                    let last = entry.or_insert(at);
                    *last = (*last).max(at);
                    if self.products.len() > MAX_PRODUCTS {
                        self.forget_oldest_product();
                    }
                }
            }
            Event::View { category, .. } => {
                check_name("category", category)?;
                let stats =
                    category_entry(&mut self.categories, &mut self.binding, numbering, category);
                stats.views.add(1.0, at, half_life);
                stats.last_view = stats.last_view.max(Some(at));
            }
            Event::Feedback {
                target, positive, ..
            } => match target {
                FeedbackTarget::Category(category) => {
                    check_name("category", category)?;
                    let stats = category_entry(
                        &mut self.categories,
                        &mut self.binding,
                        numbering,
                        category,
                    );
                    let tally = if *positive {
                        &mut stats.positive
                    } else {
                        &mut stats.negative
                    };
                    tally.add(1.0, at, half_life);
                }
                FeedbackTarget::Offer(offer) => {
                    check_name("offer", offer)?;
                    let stats = self.offers.entry(offer.clone()).or_default();
                    if *positive {
                        stats.positive.add(1.0, at, half_life);
                    } else {
                        stats.negative.add(1.0, at, half_life);
                        stats.last_negative = stats.last_negative.max(Some(at));
                    }
                }
            },
            Event::ComplaintOpened { id, .. } => {
                check_name("complaint id", id)?;
                let complaint = self.complaints.entry(id.clone()).or_insert(Complaint {
                    opened: None,
                    resolved: None,
                });
                complaint.opened = complaint.opened.max(Some(at));
            }
            Event::ComplaintResolved { id, .. } => {
                check_name("complaint id", id)?;
                let complaint = self.complaints.entry(id.clone()).or_insert(Complaint {
                    opened: None,
                    resolved: None,
                });
                complaint.resolved = complaint.resolved.max(Some(at));
                self.forget_old_resolved_complaints();
            }
            Event::Response {
                channel,
                offer,
                response,
                ..
            } => {
                if let Some(offer) = offer {
                    check_name("offer", offer)?;
                }
                if let Some(answers) = self.answers.get_mut(channel.index()) {
                    match response {
                        Response::Ignored => answers.ignored(at),
                        Response::Opened | Response::Clicked => answers.engaged(at),
                        Response::Unsubscribed => {}
                    }
                }
                if let (Some(offer), Response::Clicked) = (offer, response) {
                    let stats = self.offers.entry(offer.clone()).or_default();
                    stats.positive.add(1.0, at, half_life);
                }
            }
        }
        self.events += 1;
        Ok(())
    }

    fn forget_oldest_product(&mut self) {
        let oldest = self
            .products
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, at))| **at)
            .map(|(index, _)| index);
        if let Some(index) = oldest {
            self.products.swap_remove_index(index);
            self.binding.swap_remove_product(index);
        }
    }

    fn forget_old_resolved_complaints(&mut self) {
        let resolved = |c: &Complaint| c.resolved.is_some_and(|r| c.opened.is_none_or(|o| r >= o));
        while self.complaints.values().filter(|c| resolved(c)).count() > MAX_RESOLVED {
            let oldest = self
                .complaints
                .iter()
                .enumerate()
                .filter(|(_, (_, c))| resolved(c))
                .min_by_key(|(_, (_, c))| c.resolved)
                .map(|(index, _)| index);
            match oldest {
                Some(index) => self.complaints.shift_remove_index(index),
                None => break,
            };
        }
    }

    /// Complaints opened and not resolved since, by id.
    pub fn open_complaints(&self) -> impl Iterator<Item = &str> + '_ {
        self.complaints
            .iter()
            .filter(|(_, c)| match (c.opened, c.resolved) {
                (Some(opened), Some(resolved)) => opened > resolved,
                (Some(_), None) => true,
                _ => false,
            })
            .map(|(id, _)| id.as_str())
    }

    /// Whether any complaint is open.
    pub fn has_open_complaint(&self) -> bool {
        self.open_complaints().next().is_some()
    }

    /// The sum of all purchase amounts.
    pub fn lifetime_value(&self) -> f64 {
        self.lifetime_value
    }

    /// How many events were observed.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// How many contacts on `channel` the customer ignored after their latest open or click
    /// there, by the times the events give (not the order they were observed in), counted up
    /// to 32. Times count in whole seconds: an ignored contact in the same second as an open or
    /// click does not count.
    // Inlined: a decision reads every channel's streak, each a length (a call costs more).
    #[inline]
    pub fn ignored_streak(&self, channel: Channel) -> u32 {
        self.answers.get(channel.index()).map_or(0, |answers| {
            u32::try_from(answers.ignored.len()).unwrap_or(u32::MAX)
        })
    }

    /// When the customer last bought in `category`.
    pub fn last_purchase(&self, category: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.categories
            .get(category)
            .and_then(|s| s.last_purchase)
            .map(Stamp::to_utc)
    }

    /// When the customer last looked at `category`.
    pub fn last_view(&self, category: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.categories
            .get(category)
            .and_then(|s| s.last_view)
            .map(Stamp::to_utc)
    }

    /// When the customer last bought `product` (among the most recent products remembered).
    pub fn last_bought_product(&self, product: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.products.get(product).map(|at| at.to_utc())
    }

    pub(crate) fn category(&self, category: &str) -> Option<&CategoryStats> {
        self.categories.get(category)
    }

    /// How many categories the customer has stats in.
    #[inline]
    pub(crate) fn category_count(&self) -> usize {
        self.categories.len()
    }

    /// The numbers of the categories (in [`Summary::categories`]' order) in the policy with
    /// `fingerprint`, if the summary was last observed under it.
    #[inline]
    pub(crate) fn category_numbers(&self, fingerprint: u64) -> Option<&[u32]> {
        self.binding.categories(fingerprint, self.categories.len())
    }

    /// The numbers of the products (in [`Summary::products`]' order) in the policy with
    /// `fingerprint`, if the summary was last observed under it.
    #[inline]
    pub(crate) fn product_numbers(&self, fingerprint: u64) -> Option<&[u32]> {
        self.binding.products(fingerprint, self.products.len())
    }

    /// The categories the customer has stats in, with them.
    pub(crate) fn categories(&self) -> impl Iterator<Item = (&str, &CategoryStats)> + '_ {
        self.categories
            .iter()
            .map(|(name, stats)| (name.as_str(), stats))
    }

    #[inline]
    pub(crate) fn offer(&self, offer: &str) -> Option<&OfferStats> {
        // Most customers gave no feedback on any offer: skip hashing the id.
        if self.offers.is_empty() {
            return None;
        }
        self.offers.get(offer)
    }

    /// How many offers the customer gave feedback on (or clicked).
    #[inline]
    pub(crate) fn offer_feedback_count(&self) -> usize {
        self.offers.len()
    }

    /// The ids of the offers the customer gave feedback on (or clicked).
    pub(crate) fn offers_with_feedback(&self) -> impl Iterator<Item = &str> + '_ {
        self.offers.keys().map(String::as_str)
    }

    /// How many products are remembered (at most 64).
    #[inline]
    pub(crate) fn product_count(&self) -> usize {
        self.products.len()
    }

    /// The products remembered, with when each was last bought.
    pub(crate) fn products(&self) -> impl Iterator<Item = (&str, Stamp)> + '_ {
        self.products.iter().map(|(name, at)| (name.as_str(), *at))
    }

    #[inline]
    pub(crate) fn product(&self, product: &str) -> Option<Stamp> {
        if self.products.is_empty() {
            return None;
        }
        self.products.get(product).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u32 = 86_400;

    #[test]
    fn decayed_values_halve_each_half_life_in_or_out_of_order() {
        let mut d = Decayed::default();
        d.add(1.0, Stamp(10 * DAY), 10 * DAY);
        assert!((d.at(Stamp(20 * DAY), 10 * DAY) - 0.5).abs() < 1e-9);
        // An older event adds its already-decayed weight.
        d.add(1.0, Stamp(0), 10 * DAY);
        assert!((d.at(Stamp(10 * DAY), 10 * DAY) - 1.5).abs() < 1e-9);
    }

    fn response(secs: i64, channel: Channel, response: Response) -> Event {
        Event::Response {
            at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            channel,
            offer: None,
            response,
        }
    }

    #[test]
    fn an_ignored_contact_reported_after_a_later_open_does_not_start_a_streak() {
        let mut s = Summary::default();
        // An email opened on day 3; the report that one sent before it was ignored (on day 1)
        // arrives after that.
        s.observe(
            &response(3 * 86_400, Channel::Email, Response::Opened),
            DAY,
            None,
        )
        .unwrap();
        s.observe(
            &response(86_400, Channel::Email, Response::Ignored),
            DAY,
            None,
        )
        .unwrap();
        assert_eq!(s.ignored_streak(Channel::Email), 0);
        s.observe(
            &response(4 * 86_400, Channel::Email, Response::Ignored),
            DAY,
            None,
        )
        .unwrap();
        s.observe(
            &response(5 * 86_400, Channel::Sms, Response::Ignored),
            DAY,
            None,
        )
        .unwrap();
        assert_eq!(s.ignored_streak(Channel::Email), 1);
        assert_eq!(s.ignored_streak(Channel::Sms), 1);
    }

    #[test]
    fn a_streak_is_counted_up_to_its_ceiling_and_a_late_open_ends_what_came_before_it() {
        let mut s = Summary::default();
        for at in 1..=40 {
            s.observe(&response(at, Channel::Email, Response::Ignored), DAY, None)
                .unwrap();
        }
        assert_eq!(
            s.ignored_streak(Channel::Email) as usize,
            MAX_IGNORED_STREAK
        );
        // 35 ignored after 5: still past the ceiling.
        s.observe(&response(5, Channel::Email, Response::Opened), DAY, None)
            .unwrap();
        assert_eq!(
            s.ignored_streak(Channel::Email) as usize,
            MAX_IGNORED_STREAK
        );
        s.observe(&response(20, Channel::Email, Response::Clicked), DAY, None)
            .unwrap();
        assert_eq!(s.ignored_streak(Channel::Email), 20);
        // At the same instant as the latest click: not after it.
        s.observe(&response(20, Channel::Email, Response::Ignored), DAY, None)
            .unwrap();
        assert_eq!(s.ignored_streak(Channel::Email), 20);
    }

    #[test]
    fn a_stored_streak_is_read_back_in_order() {
        let mut s = Summary::default();
        for at in [30, 10, 20] {
            s.observe(&response(at, Channel::Email, Response::Ignored), DAY, None)
                .unwrap();
        }
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // Unsorted, some at or before the open: put in order, only those after it kept.
        let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
        let time = |secs: u32| Stamp(secs).to_utc();
        let unsorted = [25, 10, 20, 30].map(time);
        edited["answers"][0] = serde_json::json!({
            "engaged": time(20),
            "ignored": unsorted,
        });
        let read: Summary = serde_json::from_value(edited.clone()).unwrap();
        assert_eq!(read.ignored_streak(Channel::Email), 2);
        assert_eq!(read.answers[0].ignored, [Stamp(25), Stamp(30)]);
        // More than the ceiling: the newest kept.
        edited["answers"][0] = serde_json::json!({
            "engaged": time(5),
            "ignored": (0..50).rev().map(time).collect::<Vec<_>>(),
        });
        let read: Summary = serde_json::from_value(edited).unwrap();
        assert_eq!(
            read.ignored_streak(Channel::Email) as usize,
            MAX_IGNORED_STREAK
        );
        assert_eq!(read.answers[0].ignored.first(), Some(&Stamp(18)));
        assert!(read.answers[0].ignored.is_sorted());
    }

    proptest::proptest! {
        /// The streak is, per channel, the ignored contacts after the latest open or click by
        /// the events' times (up to the ceiling), whatever order they are observed in.
        #[test]
        fn ignored_streaks_follow_the_events_times_not_their_order(
            mut events in proptest::collection::vec((0..2usize, 0..60i64, 0..4u8), 0..120),
            late in 0..50i64,
        ) {
            // Up to 50 ignored emails near the end of the span, observed first: channel 0's
            // streak then often passes the ceiling.
            events.splice(0..0, (0..late).map(|i| (0, 60 - i % 25, 3)));
            let channels = [Channel::Email, Channel::Sms];
            let answer = |code: u8| match code {
                0 => Response::Opened,
                1 => Response::Clicked,
                2 => Response::Unsubscribed,
                _ => Response::Ignored,
            };
            let mut s = Summary::default();
            for &(channel, at, code) in &events {
                s.observe(&response(at, channels[channel], answer(code)), DAY, None).unwrap();
            }
            for (index, &channel) in channels.iter().enumerate() {
                let on_channel = || events.iter().filter(move |(c, _, _)| *c == index);
                let engaged = on_channel()
                    .filter(|(_, _, code)| *code <= 1)
                    .map(|(_, at, _)| *at)
                    .max();
                let ignored = on_channel()
                    .filter(|(_, at, code)| *code == 3 && engaged.is_none_or(|e| *at > e))
                    .count();
                proptest::prop_assert_eq!(
                    s.ignored_streak(channel) as usize,
                    ignored.min(MAX_IGNORED_STREAK)
                );
            }
        }
    }

    #[test]
    fn a_late_opened_event_does_not_reopen_a_resolved_complaint() {
        let mut s = Summary::default();
        let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let resolved = Event::ComplaintResolved {
            at: at(200),
            id: "c1".into(),
        };
        let opened = Event::ComplaintOpened {
            at: at(100),
            id: "c1".into(),
        };
        s.observe(&resolved, DAY, None).unwrap();
        s.observe(&opened, DAY, None).unwrap();
        assert!(!s.has_open_complaint());
        s.observe(
            &Event::ComplaintOpened {
                at: at(300),
                id: "c1".into(),
            },
            DAY,
            None,
        )
        .unwrap();
        assert!(s.has_open_complaint());
    }

    /// A policy's names, numbered in order, with a fingerprint of its own.
    struct Names {
        fingerprint: u64,
        categories: Vec<&'static str>,
        products: Vec<String>,
    }

    impl Numbering for Names {
        fn fingerprint(&self) -> u64 {
            self.fingerprint
        }
        fn category(&self, name: &str) -> Option<usize> {
            self.categories.iter().position(|c| *c == name)
        }
        fn product(&self, name: &str) -> Option<usize> {
            self.products.iter().position(|p| p == name)
        }
    }

    /// Whether `s`'s numbers under `names` are each name's own, for every category and product.
    fn numbered_as_looked_up(s: &Summary, names: &Names) -> bool {
        let number = |id: Option<usize>| id.map_or(u32::MAX, |id| id as u32);
        let categories: Vec<u32> = s
            .categories()
            .map(|(c, _)| number(names.category(c)))
            .collect();
        let products: Vec<u32> = s
            .products()
            .map(|(p, _)| number(names.product(p)))
            .collect();
        s.category_numbers(names.fingerprint) == Some(&categories[..])
            && s.product_numbers(names.fingerprint) == Some(&products[..])
    }

    fn purchase(secs: i64, category: &str, product: Option<String>) -> Event {
        Event::Purchase {
            at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            category: category.to_owned(),
            product,
            amount: 1.0,
        }
    }

    #[test]
    fn the_numbers_follow_the_names_as_products_come_and_the_oldest_go() {
        let names = Names {
            fingerprint: 7,
            categories: vec!["tea", "coffee"],
            products: (0..100).step_by(3).map(|i| format!("p{i}")).collect(),
        };
        let mut s = Summary::default();
        // More products than are remembered, bought out of time order, some named by the
        // policy and some not; categories the policy has and one it has not.
        for i in 0..150i64 {
            let category = ["tea", "cake", "coffee"][i as usize % 3];
            let product = Some(format!("p{}", (i * 37) % 100));
            let secs = 1_000 + (i * 7_919) % 10_000;
            s.observe(&purchase(secs, category, product), DAY, Some(&names))
                .unwrap();
            assert!(numbered_as_looked_up(&s, &names), "after event {i}");
        }
        assert_eq!(s.product_count(), MAX_PRODUCTS);
    }

    #[test]
    fn an_event_under_another_policy_numbers_every_name_again_and_under_none_unbinds() {
        let a = Names {
            fingerprint: 1,
            categories: vec!["tea"],
            products: vec!["kettle".to_owned()],
        };
        let b = Names {
            fingerprint: 2,
            categories: vec!["coffee", "tea"],
            products: vec![],
        };
        let mut s = Summary::default();
        s.observe(&purchase(10, "tea", Some("kettle".into())), DAY, Some(&a))
            .unwrap();
        s.observe(&purchase(20, "coffee", None), DAY, Some(&a))
            .unwrap();
        assert!(numbered_as_looked_up(&s, &a));
        assert_eq!(s.category_numbers(b.fingerprint), None, "bound to a, not b");
        // A rejected event still brings the numbers up to date; the events are unchanged.
        let before = s.clone();
        assert!(s.observe(&purchase(30, "", None), DAY, Some(&b)).is_err());
        assert_eq!(s, before);
        assert!(numbered_as_looked_up(&s, &b));
        assert_eq!(s.category_numbers(a.fingerprint), None);
        // A name observed under no policy leaves the summary unbound...
        s.observe(&purchase(40, "cake", None), DAY, None).unwrap();
        assert_eq!(s.category_numbers(b.fingerprint), None);
        assert!(s.binding.is_unbound());
        // ...and an event without a new name keeps the numbers it has.
        s.observe(&purchase(50, "tea", None), DAY, Some(&b))
            .unwrap();
        s.observe(&purchase(60, "tea", None), DAY, None).unwrap();
        assert!(numbered_as_looked_up(&s, &b));
    }

    #[test]
    fn the_numbers_are_stored_with_the_summary_and_do_not_make_it_another() {
        let names = Names {
            fingerprint: u64::MAX,
            categories: vec!["tea"],
            products: vec!["kettle".to_owned()],
        };
        let mut bound = Summary::default();
        let mut unbound = Summary::default();
        for (secs, category, product) in [(10, "tea", Some("kettle")), (20, "cake", Some("mug"))] {
            let event = purchase(secs, category, product.map(str::to_owned));
            bound.observe(&event, DAY, Some(&names)).unwrap();
            unbound.observe(&event, DAY, None).unwrap();
        }
        assert_eq!(bound, unbound, "equal events, equal summaries");
        let json = serde_json::to_string(&bound).unwrap();
        let read: Summary = serde_json::from_str(&json).unwrap();
        assert!(numbered_as_looked_up(&read, &names), "{json}");
        let json = serde_json::to_string(&unbound).unwrap();
        assert!(
            !json.contains("binding"),
            "no numbers, nothing stored: {json}"
        );
    }

    #[test]
    fn numbers_read_back_for_names_in_another_order_are_dropped() {
        let names = Names {
            fingerprint: 3,
            categories: vec!["tea", "cake"],
            products: vec![],
        };
        let mut s = Summary::default();
        // Tea first: a store that sorts object keys reads cake first.
        for (secs, category) in [(10, "tea"), (20, "cake")] {
            s.observe(&purchase(secs, category, None), DAY, Some(&names))
                .unwrap();
        }
        let sorted: Summary = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        let order: Vec<&str> = sorted.categories().map(|(c, _)| c).collect();
        assert_eq!(order, ["cake", "tea"]);
        assert_eq!(sorted, s);
        assert_eq!(sorted.category_numbers(names.fingerprint), None);
        // Renamed by hand: dropped too.
        let json = serde_json::to_string(&s)
            .unwrap()
            .replace("\"cake\"", "\"scones\"");
        let renamed: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(renamed.category_numbers(names.fingerprint), None, "{json}");
        // Numbers edited by hand: dropped.
        let json = serde_json::to_string(&s).unwrap();
        let edited = json.replace("\"categories\":[0,1]", "\"categories\":[1,0]");
        assert_ne!(edited, json);
        let edited: Summary = serde_json::from_str(&edited).unwrap();
        assert_eq!(edited.category_numbers(names.fingerprint), None);
        let read: Summary = serde_json::from_str(&json).unwrap();
        assert!(numbered_as_looked_up(&read, &names), "{json}");
        // The next event observed numbers the names again.
        let mut sorted = sorted;
        sorted
            .observe(&purchase(30, "tea", None), DAY, Some(&names))
            .unwrap();
        assert!(numbered_as_looked_up(&sorted, &names));
    }
}
