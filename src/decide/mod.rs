//! [`Engine::decide`]: the one call an application makes. An open complaint stops every
//! marketing offer at once. Otherwise each offer is asked, in this order, and the first check
//! that fails is the [`Stop`] recorded for it: *may we?* (validity, a requested channel the offer
//! uses, do-not-contact, consent on one of them, the topic not unsubscribed), *is it for them?*
//! ("never" categories, eligibility rules, not a product just bought, not resting after a
//! dismissal); then *is it the best?* (the score; best first, at most
//! `selection.max_per_category` per category, until the picks are filled) and *is it too much?*
//! (caps, spacing, quiet hours and snoozes, judged atomically by the ledger while reserving).

mod context;
mod explain;
mod message;
mod rank;
mod record;
mod trace;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use smallvec::SmallVec;

use crate::channel::{Channel, MessageClass};
use crate::context::OfferStats;
use crate::customer::{Consent, Customer};
use crate::error::{Error, InputError};
use crate::ledger::ContactLedger;
use crate::policy::{CompiledPolicy, Offer};
use crate::score::{addend, Features, Parts, Score, Scorer, WeightedScorer};
use crate::throttle::{Attempt, IfBlocked, Verdict};
use crate::time::Stamp;
use context::{Context, Tables};
use rank::{Picked, Pool, Rank};
use record::{Code, Entry, Recorded, Scored};

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
    /// out of.
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

/// An offer that passed screening: a bit per usable channel (requested, allowed by the offer,
/// consented), and the customer's feedback on it.
struct Screened<'c> {
    channels: u8,
    feedback: Option<&'c OfferStats>,
}

/// What one list of categories (`Offer::category_set`) adds up to for this customer now:
/// worked out for the first offer with that list that is scored, then reused.
#[derive(Clone, Copy)]
struct SetFacts {
    ready: bool,
    purchases: f64,
    views: f64,
    /// Negative feedback on the categories (not on the offer itself).
    negative: f64,
    favourite: bool,
    /// The built-in scorer's affinity contribution (0 with an application's scorer).
    affinity: f64,
    /// The built-in score's affinity and favourite parts as it adds them ([`addend`]).
    affinity_addend: f64,
    favourite_addend: f64,
}

impl SetFacts {
    /// Not worked out yet: all zero bits, so that an array of them is filled as memory is
    /// zeroed (a `Default` call per slot is not).
    const EMPTY: SetFacts = SetFacts {
        ready: false,
        purchases: 0.0,
        views: 0.0,
        negative: 0.0,
        favourite: false,
        affinity: 0.0,
        affinity_addend: 0.0,
        favourite_addend: 0.0,
    };
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

    /// The compiled policy (pass it to ledger calls such as `commit`'s neighbours `check`).
    pub fn policy(&self) -> &CompiledPolicy {
        &self.policy
    }

    /// Folds an event into the customer's running summary (and, for an unsubscribe response,
    /// sets the channel's consent to opted out). On error the customer is unchanged.
    pub fn observe(&self, customer: &mut Customer, event: &crate::Event) -> Result<(), Error> {
        customer
            .profile
            .summary
            .observe(event, self.policy.scoring.half_life)?;
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
    /// Cost: **O(n)** in the policy's n offers (their screening, eligibility rules and scores;
    /// the selection orders only the candidates it walks), plus one ledger check-and-reserve
    /// per candidate walked; it does not grow with the customer's history, which is read from
    /// the running summary. With the built-in scorer nothing is allocated per offer: the trace
    /// is recorded as one allocation of a few dozen bytes per offer (what stopped it, the inputs
    /// of its score) and the policy shared by reference; offer ids, stop details and the
    /// score's named contributions are built when the trace is read ([`Trace`]). An
    /// application's [`Scorer`] fills a [`Score`] per scored offer, kept beside the entries. A
    /// throttled candidate keeps the ledger's verdict, and walking a second candidate builds a
    /// heap of the rest (**O(n)** once).
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
        let decision = |picks, trace, open_complaints| Decision {
            customer: customer.id,
            at: now,
            class: request.class,
            picks,
            trace,
            open_complaints,
            notes: customer.profile.notes.clone(),
            no_channel: false,
        };
        if request.class != MessageClass::Marketing {
            let mut decision = decision(Vec::new(), Trace::default(), open_complaints);
            self.message(customer, ledger, request, now, &mut decision)?;
            return Ok(decision);
        }
        let mut tables = Tables::new(&self.policy);
        self.attributes(customer, &mut tables.attributes)?;
        self.category_facts(customer, at, &mut tables);
        let context = self.context(customer, &tables, request, at, now, ledger)?;
        let complaint = !open_complaints.is_empty();
        let offers = &self.policy.offers;
        // On the stack for up to 32 lists (zeroed in a few wide stores, where growing a
        // `SmallVec` writes slot by slot), on the heap past them; read as a slice.
        let mut inline = [SetFacts::EMPTY; 32];
        let mut spilled = Vec::new();
        let sets = match inline.get_mut(..self.policy.categories.sets) {
            Some(sets) => sets,
            None => {
                spilled.resize(self.policy.categories.sets, SetFacts::EMPTY);
                &mut spilled[..]
            }
        };
        let mut regular = Pool::new(false);
        let mut fallback = Pool::new(true);
        // One entry per offer, in policy order, recorded here (selection only sets the stops
        // of the scored ones).
        let mut outcome = Outcome {
            picks: Vec::new(),
            entries: Vec::with_capacity(offers.len()),
            scores: Vec::new(),
            verdicts: Vec::new(),
        };
        for (index, offer) in offers.iter().enumerate() {
            let verdict = if complaint {
                Err(Code::OpenComplaint)
            } else {
                self.screen(&context, offer)
            };
            outcome.entries.push(Entry::UNSCORED);
            let Some(entry) = outcome.entries.last_mut() else {
                continue; // Not reached: just pushed.
            };
            match verdict {
                Err(stop) => entry.stop = stop,
                Ok(screened) => {
                    let channels = screened.channels;
                    let total =
                        self.score(&context, sets, offer, screened, entry, &mut outcome.scores);
                    entry.channels = channels;
                    entry.fallback = offer.fallback;
                    let rank = Rank::new(total, index, channels);
                    if offer.fallback {
                        fallback.add(rank);
                    } else {
                        regular.add(rank);
                    }
                }
            }
        }
        self.select(&context, ledger, request, now, &regular, &mut outcome)?;
        if outcome.picks.is_empty() {
            self.select(&context, ledger, request, now, &fallback, &mut outcome)?;
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
            scores: outcome.scores,
            verdicts: outcome.verdicts,
            requested,
        });
        Ok(decision(outcome.picks, trace, open_complaints))
    }

    /// The absolute checks, cheap first. `Ok` with a bit per usable channel, and the customer's
    /// feedback on the offer (looked up once, for the cooldown and the score).
    // Called once per offer from one place: inlined, it shares the loop's registers.
    #[inline(always)]
    fn screen<'c>(&self, context: &Context<'c>, offer: &Offer) -> Result<Screened<'c>, Code> {
        let customer = context.customer;
        let now = context.facts.now;
        if offer.valid_from.is_some_and(|from| now < from) {
            return Err(Code::NotYetValid);
        }
        if offer.valid_until.is_some_and(|until| now > until) {
            return Err(Code::Expired);
        }
        let allowed = context.requested & offer.channels;
        if allowed == 0 {
            return Err(Code::NoChannel);
        }
        if customer.do_not_contact {
            return Err(Code::DoNotContact);
        }
        let usable = allowed & context.consented_mask;
        if usable == 0 {
            return Err(Code::NoConsent { allowed });
        }
        if customer.is_unsubscribed_from(&offer.topic) {
            return Err(Code::Unsubscribed);
        }
        if context.never.may_hold(offer) {
            if let Some(&id) = offer
                .category_ids
                .iter()
                .find(|&&id| context.categories[id].never)
            {
                return Err(Code::NeverCategory {
                    category: category_code(id),
                });
            }
        }
        if let Some(rule) = &offer.eligibility {
            // The trace keeps the failed rule's position in the condition, not a copy.
            offer
                .quick
                .check(rule, &context.facts)
                .map_err(|rule| Code::Ineligible { rule })?;
        }
        let summary = &customer.profile.summary;
        if let (Some(product), Some(within)) =
            (&offer.product, self.policy.selection.skip_bought_within)
        {
            if let Some(bought) = summary
                .product(product)
                .filter(|at| *at <= now && now.0 - at.0 <= within)
            {
                return Err(Code::JustBought { at: bought });
            }
        }
        let feedback = summary.offer(&offer.id);
        if let Some(last) = feedback.and_then(|s| s.last_negative) {
            let until = last.plus(offer.cooldown);
            if now < until {
                return Err(Code::Cooldown { until });
            }
        }
        Ok(Screened {
            channels: usable,
            feedback,
        })
    }

    /// Scores `offer` on the best of its usable channels (`screened`), recording how in its trace
    /// `entry`; returns the total. The built-in scorer's total is worked out without naming its
    /// parts (nothing is written but the entry); an application's scorer fills a [`Score`],
    /// kept in `scores`.
    // Called once per scored offer from one place: inlined, its result is built in place
    // rather than returned through memory and read back.
    #[inline(always)]
    fn score(
        &self,
        context: &Context<'_>,
        sets: &mut [SetFacts],
        offer: &Offer,
        Screened { channels, feedback }: Screened<'_>,
        entry: &mut Entry,
        scores: &mut Vec<Score>,
    ) -> f64 {
        let profile = &context.customer.profile;
        let facts = &context.facts;
        // `channels` is never empty: screening returns at least one usable channel.
        let channel = context.best_channel(channels);
        let mut spare;
        let set = match self.set_facts(context, sets, offer) {
            Some(set) => set,
            None => {
                spare = SetFacts::EMPTY;
                self.sum_categories(context, offer, &mut spare);
                &spare
            }
        };
        // Feedback on the offer itself comes first, then its categories' (in the same order as
        // the categories' own sum, so that the total is the same to the bit).
        let negative = match feedback {
            None => set.negative,
            Some(stats) => offer.category_ids.iter().fold(
                stats.negative.at(facts.now, self.policy.scoring.half_life),
                |sum, &id| sum + context.categories[id].negative,
            ),
        };
        let days_until_moment = offer
            .moment
            .as_deref()
            .and_then(|name| profile.moment(name))
            .and_then(|m| facts.days_until(m.month, m.day));
        let scorer = match &self.scorer {
            Model::Builtin(_) => {
                entry.affinity = set.affinity;
                entry.negative_feedback = negative;
                entry.days_until_moment = days_until_moment;
                entry.favourite = set.favourite;
                entry.channel = channel;
                entry.scored = Scored::Builtin;
                // The parts of `Factors::inputs(entry, ..)` (as the trace names them), those
                // of the decision and of the list of categories worked out once.
                let w = &self.policy.scoring.spec;
                let shared = &context.shared;
                let on = channel.index();
                entry.total = Parts::sum([
                    set.affinity_addend,
                    set.favourite_addend,
                    offer.value_addend,
                    offer.priority_addend,
                    addend(Parts::moment(w, days_until_moment)),
                    shared.preferred[on],
                    addend(Parts::negative(w, negative)),
                    shared.fatigue,
                    shared.ignored[on],
                ]);
                return entry.total;
            }
            Model::Custom(scorer) => scorer.as_ref(),
        };
        let (slot, total) = self.score_custom(
            scorer,
            context,
            *set,
            offer,
            channel,
            negative,
            days_until_moment,
            scores,
        );
        entry.scored = Scored::Custom;
        entry.slot = slot;
        entry.total = total;
        total
    }

    /// [`Engine::score`] with an application's scorer: where its score is kept, and the total.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn score_custom(
        &self,
        scorer: &dyn Scorer,
        context: &Context<'_>,
        set: SetFacts,
        offer: &Offer,
        channel: Channel,
        negative: f64,
        days_until_moment: Option<i64>,
        scores: &mut Vec<Score>,
    ) -> (u32, f64) {
        let profile = &context.customer.profile;
        let features = Features {
            offer: &offer.id,
            categories: &offer.categories,
            channel,
            purchases: set.purchases,
            views: set.views,
            favourite: set.favourite,
            value: offer.value,
            priority: offer.priority,
            days_until_moment,
            preferred_channel: profile.preferred_channel == Some(channel),
            negative_feedback: negative,
            recent_contacts: context.factors.recent_contacts,
            ignored_streak: profile.summary.ignored_streak(channel),
        };
        let mut score = Score::default();
        scorer.score(&features, &mut score);
        let total = score.total;
        // Fewer scores than offers, whose count fits a u32 (a policy is text in memory).
        let slot = u32::try_from(scores.len()).unwrap_or(u32::MAX);
        scores.push(score);
        (slot, total)
    }

    /// What `offer`'s list of categories adds up to, worked out on first use.
    /// The facts of `offer`'s list of categories, in its slot of `sets` (`None` past them:
    /// not reached, set indexes are below the policy's set count). Read in place: a copy of
    /// the slot just written would be read back with wider loads than it was written with.
    #[inline(always)]
    fn set_facts<'s>(
        &self,
        context: &Context<'_>,
        sets: &'s mut [SetFacts],
        offer: &Offer,
    ) -> Option<&'s SetFacts> {
        let slot = sets.get_mut(offer.category_set)?;
        if !slot.ready {
            self.sum_categories(context, offer, slot);
        }
        Some(slot)
    }

    /// Sums `offer`'s categories' facts, in the offer's order, from zero, into `set`.
    #[inline(never)]
    fn sum_categories(&self, context: &Context<'_>, offer: &Offer, set: &mut SetFacts) {
        let (mut purchases, mut views, mut negative, mut favourite) = (0.0, 0.0, 0.0, false);
        for &id in &offer.category_ids {
            let category = &context.categories[id];
            purchases += category.purchases;
            views += category.views;
            negative += category.negative;
            favourite |= category.favourite;
        }
        set.ready = true;
        set.purchases = purchases;
        set.views = views;
        set.negative = negative;
        set.favourite = favourite;
        set.affinity = match &self.scorer {
            Model::Builtin(scorer) => scorer.affinity(purchases, views),
            Model::Custom(_) => 0.0,
        };
        set.affinity_addend = addend(set.affinity);
        set.favourite_addend = addend(Parts::favourite(&self.policy.scoring.spec, favourite));
    }

    /// Walks `candidates` best first: diversity, then the ledger's atomic check-and-reserve on
    /// each usable channel, until the request's picks are filled; every candidate left then is
    /// outscored by the last pick. Only the candidates walked are ordered ([`BestFirst`]):
    /// **O(n + k log n)** for n candidates of which k are walked, usually one.
    fn select<L: ContactLedger + ?Sized>(
        &self,
        context: &Context<'_>,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
        candidates: &Pool,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        let mut candidates = candidates.best_first();
        // The offers picked here (selection starts with no picks), for the diversity rule.
        let mut picked = Picked::new();
        while outcome.picks.len() < request.picks {
            let Some(rank) = candidates.next(&outcome.entries, &picked) else {
                return Ok(());
            };
            let offer = &self.policy.offers[rank.index];
            let stop = if let Some((category, by)) = offer
                .category_ids
                .iter()
                .find_map(|&id| self.category_full(&picked, id))
            {
                Code::SameCategory { category, by }
            } else {
                let stop = self.reserve(context, ledger, request, now, offer, rank, outcome)?;
                if stop == Code::Picked {
                    picked.push(rank.index);
                }
                stop
            };
            if let Some(entry) = outcome.entries.get_mut(rank.index) {
                entry.stop = stop;
            }
        }
        // The last pick (there is one: the loop ends with the picks filled).
        let by = picked.last().map_or(u32::MAX, |&index| offer_code(index));
        candidates.outscored(&mut outcome.entries, &picked, by);
        Ok(())
    }

    /// If `picked` (offer indexes) already holds `selection.max_per_category` offers in
    /// category `id`: the category and the first of them.
    fn category_full(&self, picked: &[usize], id: usize) -> Option<(u32, u32)> {
        let offers = &self.policy.offers;
        let mut holders = picked
            .iter()
            .filter(|&&i| offers.get(i).is_some_and(|o| o.category_ids.contains(&id)));
        let first = *holders.next()?;
        let count = 1 + holders.count();
        (count >= self.policy.selection.max_per_category as usize)
            .then(|| (category_code(id), offer_code(first)))
    }

    /// Tries each usable channel in turn; on success adds the pick and returns
    /// [`Code::Picked`], otherwise what the ledger said on the first channel.
    #[allow(clippy::too_many_arguments)]
    fn reserve<L: ContactLedger + ?Sized>(
        &self,
        context: &Context<'_>,
        ledger: &L,
        request: &Request,
        now: DateTime<Utc>,
        offer: &Offer,
        candidate: Rank,
        outcome: &mut Outcome,
    ) -> Result<Code, Error> {
        let if_blocked = match request.max_delay {
            None => IfBlocked::Drop,
            Some(delay) => {
                let latest = now + delay;
                let expires = offer
                    .valid_until
                    .map_or(latest, |until| until.to_utc().min(latest));
                IfBlocked::Defer {
                    expires: Some(expires),
                }
            }
        };
        let mut first_refusal = None;
        for channel in context.channels(candidate.channels) {
            let attempt = Attempt {
                channel,
                class: MessageClass::Marketing,
                topic: Some(&*offer.topic),
            };
            let reserved =
                ledger.reserve(&self.policy, context.customer, attempt, if_blocked, now)?;
            if let Some(reservation) = reserved.reservation {
                outcome.picks.push(Pick {
                    offer: Some(offer.id.clone()),
                    categories: offer.categories.clone(),
                    tags: offer.tags.clone(),
                    channel,
                    score: candidate.score,
                    send_at: reservation.send_at(),
                    reservation,
                });
                return Ok(Code::Picked);
            }
            if first_refusal.is_none() {
                // Fewer verdicts than offers (see `offer_code`).
                let verdict = u32::try_from(outcome.verdicts.len()).unwrap_or(u32::MAX);
                outcome.verdicts.push((channel, reserved.verdict));
                first_refusal = Some(Code::Throttled { verdict });
            }
        }
        // No refusal and no pick: no usable channel (not reached, a scored candidate has one).
        Ok(first_refusal.unwrap_or(Code::NoChannel))
    }
}

/// What selection fills in: the picks, and the trace's entries and side tables.
struct Outcome {
    picks: Vec<Pick>,
    entries: Vec<Entry>,
    scores: Vec<Score>,
    verdicts: Vec<(Channel, Verdict)>,
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
