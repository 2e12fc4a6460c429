//! [`Engine::decide`]: the one call an application makes. An open complaint stops every
//! marketing offer at once. Otherwise each offer is asked, in this order, and the first check
//! that fails is the [`Stop`] recorded for it: *may we?* (validity, a requested channel the offer
//! uses, do-not-contact, consent on one of them, the topic not unsubscribed), *is it for them?*
//! ("never" categories, eligibility rules, not a product just bought, not resting after a
//! dismissal); then *is it the best?* (the score; best first, at most
//! `selection.max_per_category` per category, until the picks are filled) and *is it too much?*
//! (caps, spacing, quiet hours and snoozes, judged atomically by the ledger while reserving).

mod asked;
mod context;
mod explain;
mod judge;
mod message;
mod rank;
mod record;
mod scoring;
mod screen;
mod select;
#[cfg(test)]
mod tests;
mod trace;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use smallvec::SmallVec;

use crate::channel::{Channel, MessageClass};
use crate::customer::{Consent, Customer};
use crate::error::{Error, InputError};
use crate::ledger::ContactLedger;
use crate::policy::CompiledPolicy;
use crate::score::{Scorer, WeightedScorer};
use crate::time::Stamp;
use asked::{NoneAsked, OfferSet};
use context::{NameTable, Tables};
use judge::Pools;
use rank::Pool;
use record::{Aside, Code, Entry, Recorded, Scored};
use scoring::SetFacts;
use screen::{Gate, Screened};
use select::Outcome;

pub use trace::{Candidate, Decision, Pick, Stop, Trace, TraceIter};

/// What the application asks for: which channels it can use, how many picks, which class.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The channels the caller can send on, in its order of preference.
    pub channels: Vec<Channel>,
    /// How many offers it wants at most (marketing); 1 for service and transactional messages.
    pub picks: usize,
    /// The class of message.
    pub class: MessageClass,
    /// How long a pick may be deferred past quiet hours or a cap's window (`None`: only picks
    /// that can go now). Never past an offer's `valid_until`.
    pub max_delay: Option<Duration>,
}

impl Request {
    /// Up to `picks` marketing offers on `channels`, deferred by at most a day.
    pub fn marketing(channels: impl Into<Vec<Channel>>, picks: usize) -> Self {
        Request {
            channels: channels.into(),
            picks,
            class: MessageClass::Marketing,
            max_delay: Some(Duration::hours(24)),
        }
    }

    /// A reply to the customer's own question, on the first of `channels` they have not opted
    /// out of and no service rule holds back.
    ///
    /// Marketing rules, do-not-contact, missing consent and open complaints never hold a reply
    /// back. Only rules the policy sets for the service class itself can (a cap on replies,
    /// quiet hours with `classes = ["service"]`); a policy has none unless it says so. A reply
    /// such a rule holds back on every channel is not sent (nor deferred: the request's
    /// `max_delay` is not used). The reply is reserved in the ledger like any contact, to
    /// commit or release; the ledger keeps it for as long as one of the policy's rules counts
    /// service contacts.
    pub fn service(channels: impl Into<Vec<Channel>>) -> Self {
        Request {
            channels: channels.into(),
            picks: 1,
            class: MessageClass::Service,
            max_delay: None,
        }
    }

    /// A transactional message (receipt, shipping notice), judged by transactional rules.
    pub fn transactional(channels: impl Into<Vec<Channel>>) -> Self {
        Request {
            channels: channels.into(),
            picks: 1,
            class: MessageClass::Transactional,
            max_delay: None,
        }
    }

    /// Sets how long a pick may be deferred (`None`: not at all).
    pub fn with_max_delay(mut self, max_delay: Option<Duration>) -> Self {
        self.max_delay = max_delay;
        self
    }
}

/// The decision engine: a compiled policy and a scorer. Immutable, `Send + Sync`; share it with
/// an `Arc`.
///
/// ```
/// # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
/// use chrono::{TimeZone, Utc};
/// use cornershop::{Channel, Consent, Customer, Engine, MemoryLedger, Policy, Request};
///
/// let engine = Engine::new(Policy::from_toml_str(r#"
///     [[offers]]
///     id = "winter-boots"
///     categories = ["footwear"]
///     value = 20.0
///
///     [[offers]]
///     id = "coffee-club"
///     categories = ["coffee"]
/// "#)?.compile()?);
/// let ledger = MemoryLedger::new();
/// let ada = Customer::new(1)
///     .with_consent(Channel::Email, Consent::OptedIn)
///     .with_never_category("footwear");
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
///
/// let decision = engine.decide(&ada, &ledger, &Request::marketing([Channel::Email], 1), now)?;
/// assert_eq!(decision.picks[0].offer.as_deref(), Some("coffee-club"));
/// println!("{decision}"); // why coffee-club, and why not winter-boots
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Engine {
    /// Shared with every decision's trace, which names offers, categories, rules and score
    /// parts from it when read.
    policy: Arc<CompiledPolicy>,
    scorer: Model,
}

/// The scorer an engine uses.
enum Model {
    /// The built-in weights: called directly, and given the affinity contribution worked out
    /// once per list of categories.
    Builtin(WeightedScorer),
    /// The application's own.
    Custom(Box<dyn Scorer>),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("offers", &self.policy.offers.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the built-in [`WeightedScorer`] and the policy's weights.
    pub fn new(policy: CompiledPolicy) -> Engine {
        let scorer = WeightedScorer::new(policy.scoring.spec.clone());
        Engine {
            policy: Arc::new(policy),
            scorer: Model::Builtin(scorer),
        }
    }

    /// An engine with a scorer of the application's own.
    ///
    /// (For the built-in weights, use [`Engine::new`]: it calls the [`WeightedScorer`] directly,
    /// which a boxed scorer cannot be.)
    pub fn with_scorer(policy: CompiledPolicy, scorer: impl Scorer + 'static) -> Engine {
        Engine {
            policy: Arc::new(policy),
            scorer: Model::Custom(Box::new(scorer)),
        }
    }

    /// The compiled policy, to pass to the ledger's calls (`check`, `reserve`, `record`).
    pub fn policy(&self) -> &CompiledPolicy {
        &self.policy
    }

    /// Folds an event into the customer's running summary (and, for an unsubscribe response,
    /// sets the channel's consent to opted out). On error the customer's data is unchanged
    /// (their summary's numbering, below, may have been brought up to date).
    ///
    /// The summary also keeps its categories' and products' numbers in this engine's policy
    /// (stored with it), so that a decision under this policy, or any with the same category
    /// and product names, reads them rather than looking each name up. Decisions under other
    /// policies look the names up; the next event observed under one numbers them for it.
    pub fn observe(&self, customer: &mut Customer, event: &crate::Event) -> Result<(), Error> {
        customer.profile.summary.observe(
            event,
            self.policy.scoring.half_life,
            Some(&*self.policy),
        )?;
        if let crate::Event::Response {
            channel,
            response: crate::Response::Unsubscribed,
            ..
        } = event
        {
            customer.consents.set(*channel, Consent::OptedOut);
        }
        Ok(())
    }

    /// Decides what to send `customer` now, reserving each pick in `ledger` atomically. The
    /// application sends each pick and then commits its reservation (or releases it if the
    /// send failed).
    ///
    /// On an error from the ledger partway through, the picks this call had already reserved
    /// are released before the error is returned (one whose release fails too stays held,
    /// counted as sent: fail closed).
    ///
    /// Cost: **O(n + t)** for the policy's n offers (their screening, eligibility rules and
    /// scores; the selection orders only the candidates it walks) and t distinct eligibility
    /// tests (each worked out once, before the offers are screened), plus one ledger
    /// check-and-reserve per candidate walked and one look-up per unsubscribed topic and per
    /// offer with the customer's feedback (or per offer, if fewer), and one per category and
    /// product of the customer's unless their summary was observed under this policy (it then
    /// holds their numbers: [`Engine::observe`]); it does not grow with the customer's
    /// history, which is read from the running summary. With the built-in scorer
    /// nothing is allocated per offer: the trace is recorded as one allocation of 20 bytes per
    /// offer (what stopped it, how it was scored and on which channel), one of the facts of
    /// each list of categories (whose offers scored on their rows read their score's inputs
    /// there), the inputs of the offers with feedback of their own (if any) and the policy
    /// shared by reference; offer ids, stop details and the score's named contributions are
    /// built when the trace is read ([`Trace`]). An application's [`Scorer`] fills a
    /// [`Score`](crate::Score) per scored offer, kept beside the entries. A throttled
    /// candidate keeps the ledger's verdict, and walking a second candidate builds a heap of
    /// the rest, their totals summed again (**O(n)** once).
    pub fn decide<L: ContactLedger + ?Sized>(
        &self,
        customer: &Customer,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Decision, Error> {
        let at = Stamp::from_utc(now)?;
        if request.picks == 0 {
            return Err(InputError::BadRequest("picks must be at least 1".to_owned()).into());
        }
        let open_complaints: Vec<String> = customer
            .profile
            .summary
            .open_complaints()
            .map(str::to_owned)
            .collect();
        if request.class != MessageClass::Marketing {
            let trace = Trace::default();
            let mut decision = decision(customer, request, now, Vec::new(), trace, open_complaints);
            self.message(customer, ledger, request, now, &mut decision)?;
            return Ok(decision);
        }
        let mut tables = Tables::new();
        self.attributes(customer, &mut tables.attributes)?;
        self.category_facts(customer, at, &mut tables);
        // The fatigue count, asked of the ledger first: building the context cannot fail.
        let fatigue_window = Duration::seconds(i64::from(self.policy.scoring.fatigue_window));
        let recent_contacts = ledger.contacts_between(
            customer.id,
            MessageClass::Marketing,
            now - fatigue_window,
            now,
        )?;
        let context = self.context(customer, &tables, request, at, recent_contacts);
        let complaint = !open_complaints.is_empty();
        // Every distinct leaf test at once, when an offer may reach its rule (past the
        // complaint, do-not-contact and consent checks), into the memo the offers' rules read.
        if !complaint && !customer.do_not_contact && context.requested & context.consented_mask != 0
        {
            let facts = &context.facts;
            facts.memo.work_out(&self.policy.leaf_plan, facts);
        }
        let plain = Gate::plain(&context, complaint);
        let mut bought = NameTable::new();
        let asked = if plain {
            Gate::recently_bought(&context, &self.policy, &mut bought);
            self.asked(customer)
        } else {
            OfferSet::default()
        };
        // Filled as offers are scored, then kept by the trace (whose entries of offers scored
        // on their rows read their inputs from it).
        let mut sets: Vec<Option<SetFacts>> = vec![None; self.policy.categories.sets];
        let offers = &self.policy.offers;
        // One entry per offer, in policy order, recorded here (selection only sets the stops
        // of the scored ones).
        let mut outcome = Outcome {
            // At most one pick per offer, so a huge `picks` reserves no more than the offers.
            picks: Vec::with_capacity(request.picks.min(offers.len())),
            // Filled in one pass, then each written in place (no length or capacity to keep
            // per offer).
            entries: vec![Entry::UNSCORED; offers.len()],
            aside: Aside::default(),
            outscored_by: u32::MAX,
            regular: Pool::new(false),
        };
        // Without offers asked in full by number (no feedback on the policy's offers, no
        // unsubscribed topic of theirs), the offers are judged with no test for it.
        let gate = Gate::new(&context, plain, bought.as_slice());
        let Pools { regular, fallback } = if asked.is_empty() {
            self.judge_by(
                &context,
                &gate,
                &NoneAsked,
                &mut sets,
                complaint,
                &mut outcome,
            )
        } else {
            let asked = asked.words();
            self.judge_by(&context, &gate, &asked, &mut sets, complaint, &mut outcome)
        };
        let selected = self.select(
            &context,
            ledger,
            request,
            now,
            &sets,
            &regular,
            &mut outcome,
        );
        if let Err(error) = selected {
            // Picks reserved before the ledger failed would stay held with no one to settle
            // them: give them back. (A release that fails too leaves its pick held, counted as
            // sent: fail closed. The error returned is the first one.)
            for pick in &outcome.picks {
                let _ = ledger.release(&pick.reservation);
            }
            return Err(error);
        }
        if outcome.picks.is_empty() {
            self.select(
                &context,
                ledger,
                request,
                now,
                &sets,
                &fallback,
                &mut outcome,
            )?;
        } else {
            for &index in &self.policy.fallbacks {
                if let Some(entry) = outcome.entries.get_mut(index) {
                    if entry.scored != Scored::No {
                        entry.stop = Code::FallbackNotNeeded;
                    }
                }
            }
        }
        let mut requested: SmallVec<[Channel; Channel::COUNT]> = SmallVec::new();
        for &channel in &request.channels {
            if !requested.contains(&channel) {
                requested.push(channel);
            }
        }
        let trace = Trace::recorded(Recorded {
            policy: Arc::clone(&self.policy),
            entries: outcome.entries,
            factors: context.factors,
            sets,
            aside: outcome.aside,
            requested,
            outscored_by: outcome.outscored_by,
            leaf_bits: context.facts.memo.low(),
        });
        let picks = outcome.picks;
        Ok(decision(
            customer,
            request,
            now,
            picks,
            trace,
            open_complaints,
        ))
    }
}

/// A policy category id as the trace records it. Ids are below the policy's category count,
/// which is far below `u32::MAX` (a policy is text in memory); `u32::MAX` reads as no name.
fn category_code(id: usize) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// An offer index as the trace records it (as [`category_code`]).
fn offer_code(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The decision for `customer`'s `request` at `now`. Inlined at both ends of
/// [`Engine::decide`], so that the decision is built where it is returned (not built aside and
/// copied).
#[inline(always)]
fn decision(
    customer: &Customer,
    request: &Request,
    now: DateTime<Utc>,
    picks: Vec<Pick>,
    trace: Trace,
    open_complaints: Vec<String>,
) -> Decision {
    Decision {
        customer: customer.id,
        at: now,
        class: request.class,
        picks,
        trace,
        open_complaints,
        notes: customer.profile.notes.clone(),
        no_channel: false,
    }
}
