//! The service and transactional path of [`Engine::decide`]: one pick, no offer.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Candidate, Decision, Engine, Pick, Request, Stop};
use crate::channel::MessageClass;
use crate::customer::{Consent, Customer};
use crate::error::Error;
use crate::ledger::ContactLedger;
use crate::throttle::{Attempt, IfBlocked};

impl Engine {
    /// A service or transactional message: one pick, no offer.
    pub(super) fn message<L: ContactLedger + ?Sized>(
        &self,
        customer: &Customer,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
        decision: &mut Decision,
    ) -> Result<(), Error> {
        // A reply to the customer's own question goes out on any channel they have not
        // explicitly opted out of.
        let mut refused = Vec::new();
        for &channel in &request.channels {
            if request.class == MessageClass::Service
                && customer.consents.get(channel) == Consent::OptedOut
            {
                let stop = Stop::NoConsent {
                    channels: vec![channel],
                };
                refused.push((channel, stop));
                continue;
            }
            let attempt = Attempt {
                channel,
                class: request.class,
                topic: None,
            };
            let outcome = ledger.reserve(&self.policy, customer, attempt, IfBlocked::Drop, now)?;
            match outcome.reservation {
                Some(reservation) => {
                    decision.picks.push(Pick {
                        offer: None,
                        categories: Arc::default(),
                        tags: Arc::default(),
                        channel,
                        score: 0.0,
                        send_at: reservation.send_at(),
                        reservation,
                    });
                    return Ok(());
                }
                None => {
                    let verdict = outcome.verdict;
                    refused.push((channel, Stop::Throttled { channel, verdict }));
                }
            }
        }
        // No channel at all, or only ones the customer opted out of.
        decision.no_channel = refused
            .iter()
            .all(|(_, stop)| !matches!(stop, Stop::Throttled { .. }));
        decision.trace = refused
            .into_iter()
            .map(|(channel, stop)| Candidate {
                offer: format!("{} on {channel}", request.class).into(),
                score: None,
                stop: Some(stop),
            })
            .collect();
        Ok(())
    }
}
