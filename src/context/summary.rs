//! The running summary a shop owner keeps of a regular: per category how much they buy and look
//! (decayed with a half-life), when they last did, their feedback, open complaints, how they
//! respond on each channel, and their lifetime value. Each event updates it in **O(1)**
//! (amortized), and it stays small whatever the length of the customer's history.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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

/// The compact running summary of a customer's events. Updated by
/// [`Engine::observe`](crate::Engine::observe); read by eligibility rules and scoring.
/// Serializes with the customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    categories: Map<CategoryStats>,
    #[serde(default)]
    offers: Map<OfferStats>,
    #[serde(default)]
    products: Map<Stamp>,
    #[serde(default)]
    complaints: Map<Complaint>,
    /// Consecutive ignored contacts per channel, most recent last (reset by an open or click).
    #[serde(default)]
    ignored_streak: [u16; Channel::COUNT],
    #[serde(default)]
    lifetime_value: f64,
    #[serde(default)]
    events: u64,
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
    /// feedback, in seconds. On error nothing changes.
    pub(crate) fn observe(&mut self, event: &Event, half_life: u32) -> Result<(), InputError> {
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
                let stats = self.categories.entry(category.clone()).or_default();
                stats.purchases.add(1.0, at, half_life);
                stats.last_purchase = stats.last_purchase.max(Some(at));
                self.lifetime_value += amount;
                if let Some(product) = product {
                    let last = self.products.entry(product.clone()).or_insert(at);
                    *last = (*last).max(at);
                    if self.products.len() > MAX_PRODUCTS {
                        self.forget_oldest_product();
                    }
                }
            }
            Event::View { category, .. } => {
                check_name("category", category)?;
                let stats = self.categories.entry(category.clone()).or_default();
                stats.views.add(1.0, at, half_life);
                stats.last_view = stats.last_view.max(Some(at));
            }
            Event::Feedback {
                target, positive, ..
            } => match target {
                FeedbackTarget::Category(category) => {
                    check_name("category", category)?;
                    let stats = self.categories.entry(category.clone()).or_default();
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
                let streak = &mut self.ignored_streak[channel.index()];
                match response {
                    Response::Ignored => *streak = streak.saturating_add(1),
                    Response::Opened | Response::Clicked => *streak = 0,
                    Response::Unsubscribed => {}
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

    /// Consecutive ignored contacts on `channel` since the last open or click.
    pub fn ignored_streak(&self, channel: Channel) -> u32 {
        u32::from(self.ignored_streak[channel.index()])
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
        s.observe(&resolved, DAY).unwrap();
        s.observe(&opened, DAY).unwrap();
        assert!(!s.has_open_complaint());
        s.observe(
            &Event::ComplaintOpened {
                at: at(300),
                id: "c1".into(),
            },
            DAY,
        )
        .unwrap();
        assert!(s.has_open_complaint());
    }
}
