//! Things that happened with a customer, as the application reports them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// What a piece of feedback is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackTarget {
    /// One offer, by id.
    Offer(String),
    /// A whole category.
    Category(String),
}

/// How a customer responded to a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// Opened or read it.
    Opened,
    /// Clicked through.
    Clicked,
    /// Let it pass.
    Ignored,
    /// Unsubscribed from marketing on that channel: sets the channel's consent to opted out.
    Unsubscribed,
}

/// One event in a customer's life with the shop. Each updates the customer's
/// [`Summary`](super::Summary) through [`Engine::observe`](crate::Engine::observe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A purchase in a category, optionally of a named product.
    Purchase {
        /// When.
        at: DateTime<Utc>,
        /// The category (`"footwear"`).
        category: String,
        /// The product, for "no offer for what they just bought".
        #[serde(default)]
        product: Option<String>,
        /// The amount spent (not negative).
        amount: f64,
    },
    /// The customer looked at something in a category.
    View {
        /// When.
        at: DateTime<Utc>,
        /// The category.
        category: String,
    },
    /// Positive or negative feedback on an offer or a category. Negative feedback on an offer
    /// (a dismissal) starts the offer's cooldown.
    Feedback {
        /// When.
        at: DateTime<Utc>,
        /// What it is about.
        target: FeedbackTarget,
        /// Liked (`true`) or disliked / dismissed (`false`).
        positive: bool,
    },
    /// The customer opened a complaint: no marketing until it is resolved.
    ComplaintOpened {
        /// When.
        at: DateTime<Utc>,
        /// The application's complaint id.
        id: String,
    },
    /// A complaint was resolved.
    ComplaintResolved {
        /// When.
        at: DateTime<Utc>,
        /// The id given when it was opened.
        id: String,
    },
    /// How the customer responded to a contact on a channel, optionally about an offer.
    Response {
        /// When.
        at: DateTime<Utc>,
        /// The channel of the contact.
        channel: Channel,
        /// The offer it carried, if any.
        #[serde(default)]
        offer: Option<String>,
        /// What they did.
        response: Response,
    },
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Event::Purchase { at, .. }
            | Event::View { at, .. }
            | Event::Feedback { at, .. }
            | Event::ComplaintOpened { at, .. }
            | Event::ComplaintResolved { at, .. }
            | Event::Response { at, .. } => *at,
        }
    }
}
