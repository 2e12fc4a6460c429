//! What every offer's judgment in one decision shares, worked out once before the offers are
//! looked at: the customer's attributes in declaration order, what each policy category means
//! for them now, the channels in order, and the score's parts that do not depend on the offer.

use std::cell::Cell;

use smallvec::SmallVec;

use super::record::Factors;
use super::{Engine, Request};
use crate::channel::Channel;
use crate::context::{CategoryStats, Decayed, Value};
use crate::customer::{Consent, Customer};
use crate::error::{Error, InputError};
use crate::policy::{Facts, Memo, Offer, Recent};
use crate::score::{addend, Parts};
use crate::time::Stamp;

/// The customer's value of each declared attribute, in declaration order.
pub(super) type Attributes<'c> = SmallVec<[Option<&'c Value>; 8]>;

/// What one category means for this customer now, looked up once per decision. The amounts
/// of a never category are left at zero (its offers are stopped before they are scored).
#[derive(Clone, Copy, Default)]
pub(super) struct CategoryFacts {
    pub(super) purchases: f64,
    pub(super) views: f64,
    pub(super) negative: f64,
    pub(super) favourite: bool,
    pub(super) never: bool,
}

/// The built-in score's parts that are the same for every offer of a decision sent on the
/// same channel, as its total adds them ([`addend`]): worked out once per decision, for the
/// consented channels (the only ones scored on; 0 for the others).
#[derive(Clone, Copy)]
pub(super) struct SharedParts {
    /// By channel index.
    pub(super) preferred: [f64; Channel::COUNT],
    pub(super) fatigue: f64,
    /// By channel index.
    pub(super) ignored: [f64; Channel::COUNT],
}

/// Everything about the customer and the request that does not depend on the offer, worked
/// out once per decision.
pub(super) struct Context<'a> {
    pub(super) customer: &'a Customer,
    pub(super) facts: Facts<'a>,
    /// Per policy category, in the policy's category order: indexed directly by the offers'
    /// category ids, which the same compiled policy numbered.
    pub(super) categories: &'a [CategoryFacts],
    /// A bit per requested channel.
    pub(super) requested: u8,
    /// Requested channels with marketing consent: the preferred one first, then the caller's
    /// order, each once; the first `consented_len` of these.
    pub(super) consented: [Channel; Channel::COUNT],
    pub(super) consented_len: usize,
    /// A bit per channel in `consented`.
    pub(super) consented_mask: u8,
    /// The built-in scorer's per-decision inputs (the fatigue count among them).
    pub(super) factors: Factors,
    /// The built-in score's parts worked out from `factors`.
    pub(super) shared: SharedParts,
    /// The customer's never categories, as a mask of category ids.
    pub(super) never: NeverMask,
    /// Whether any offer has a validity window ([`crate::policy::CompiledPolicy::windowed`]).
    pub(super) windowed: bool,
}

/// What a decision reads from the customer's profile and summary per declared attribute and
/// per policy category: filled in place on `decide`'s stack, then borrowed by the [`Context`]
/// as slices (neither moved nor asked whether it spilled on every read).
pub(super) struct Tables<'c> {
    pub(super) attributes: Attributes<'c>,
    pub(super) categories: NameTable<CategoryFacts>,
    pub(super) recent: NameTable<Recent>,
    pub(super) never: NeverMask,
}

impl Tables<'_> {
    /// Empty tables.
    pub(super) fn new() -> Self {
        Tables {
            attributes: SmallVec::new(),
            categories: NameTable::new(),
            recent: NameTable::new(),
            never: NeverMask::default(),
        }
    }
}

/// How many names' entries a [`NameTable`] keeps on the decision's stack.
const INLINE_NAMES: usize = 16;

/// One `T` per policy category (or product), each the default until filled in: on the stack
/// for up to [`INLINE_NAMES`] names (the defaults written at once with the table, not pushed
/// one by one), on the heap past them.
pub(super) struct NameTable<T> {
    inline: [T; INLINE_NAMES],
    spilled: Vec<T>,
    len: usize,
}

impl<T: Copy + Default> NameTable<T> {
    /// No names yet.
    pub(super) fn new() -> Self {
        NameTable {
            inline: [T::default(); INLINE_NAMES],
            spilled: Vec::new(),
            len: 0,
        }
    }

    /// The defaults for `len` names (the table is new).
    pub(super) fn set_len(&mut self, len: usize) {
        self.len = len;
        if len > INLINE_NAMES {
            self.spilled = vec![T::default(); len];
        }
    }

    /// The table, by name number.
    pub(super) fn as_slice(&self) -> &[T] {
        self.inline.get(..self.len).unwrap_or(&self.spilled)
    }

    /// The table, by name number, to fill in.
    pub(super) fn as_mut_slice(&mut self) -> &mut [T] {
        match self.inline.get_mut(..self.len) {
            Some(table) => table,
            None => &mut self.spilled,
        }
    }
}

/// A set of policy category ids: a bit for each of the first 64, and whether there are others.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NeverMask {
    pub(super) low: u64,
    pub(super) beyond: bool,
}

impl NeverMask {
    pub(super) fn add(&mut self, id: usize) {
        match u32::try_from(id).ok().and_then(|id| 1u64.checked_shl(id)) {
            Some(bit) => self.low |= bit,
            None => self.beyond = true,
        }
    }

    /// Whether `offer` may have one of these categories (if not, it has none): one test
    /// instead of a walk of its categories.
    #[inline]
    pub(super) fn may_hold(&self, offer: &Offer) -> bool {
        self.low & offer.category_mask != 0 || (self.beyond && !offer.categories_masked)
    }
}

impl Context<'_> {
    /// The best consented channel in `mask` (which has one: Email if not, not reached).
    #[inline]
    pub(super) fn best_channel(&self, mask: u8) -> Channel {
        // Usually the best of all (the offer can use it), or else the next best.
        if mask & channel_bit(self.consented[0]) != 0 {
            return self.consented[0];
        }
        if self.consented_len > 1 && mask & channel_bit(self.consented[1]) != 0 {
            return self.consented[1];
        }
        self.consented()
            .iter()
            .copied()
            .find(|c| mask & channel_bit(*c) != 0)
            .unwrap_or(Channel::Email)
    }

    /// The requested channels with marketing consent, best first.
    #[inline]
    pub(super) fn consented(&self) -> &[Channel] {
        // `consented_len` is at most `Channel::COUNT`: each channel is added once.
        self.consented.get(..self.consented_len).unwrap_or(&[])
    }

    /// The consented channels in `mask`, best first.
    pub(super) fn channels(&self, mask: u8) -> impl Iterator<Item = Channel> + '_ {
        self.consented()
            .iter()
            .copied()
            .filter(move |c| mask & channel_bit(*c) != 0)
    }
}

/// Fills in category `id`'s facts and recent activity from the customer's `stats`, decayed
/// to `at`. Inlined into both sides of the join (a call per category costs more than it).
#[inline(always)]
fn fill_category(
    facts: &mut [CategoryFacts],
    recents: &mut [Recent],
    id: usize,
    stats: &CategoryStats,
    at: Stamp,
    half_life: u32,
) {
    let decayed = |value: &Decayed| value.at(at, half_life);
    // A never category's offers are stopped before they are scored, so its amounts are never
    // read: they are left at zero rather than decayed.
    if let Some(facts) = facts.get_mut(id).filter(|facts| !facts.never) {
        facts.purchases = decayed(&stats.purchases);
        facts.views = decayed(&stats.views);
        facts.negative = decayed(&stats.negative);
    }
    if let Some(recent) = recents.get_mut(id) {
        *recent = Recent {
            purchase: stats.last_purchase,
            view: stats.last_view,
        };
    }
}

fn channel_bit(channel: Channel) -> u8 {
    1 << channel.index()
}

impl Engine {
    /// The customer's value for each declared attribute, checked against its declared type,
    /// pushed onto `values` (empty) in declaration order.
    pub(super) fn attributes<'c>(
        &self,
        customer: &'c Customer,
        values: &mut Attributes<'c>,
    ) -> Result<(), Error> {
        let declared = &self.policy.source().attributes;
        let given = &customer.profile.attributes;
        // With a few attributes (the usual case), comparing names costs less than hashing
        // them (the profile's map hashes with std's SipHash). Names are unique either way.
        let find = |name: &String| {
            if given.len() <= 8 {
                given.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
            } else {
                given.get(name)
            }
        };
        for (name, kind) in declared {
            let value = find(name);
            if let Some(value) = value.filter(|v| v.kind() != *kind) {
                return Err(InputError::AttributeType {
                    customer: customer.id,
                    attribute: name.clone(),
                    expected: *kind,
                    found: value.kind(),
                }
                .into());
            }
            values.push(value);
        }
        Ok(())
    }

    /// Fills `tables`' category facts (empty): per policy category, what the customer's
    /// summary says of it at `at`, and whether it is one of their favourite or never ones.
    /// **O(p + min(p, c))** for p policy and c customer categories (the customer's numbered
    /// by their summary when it is bound to this policy, else looked up), plus a look-up per
    /// favourite and never category.
    pub(super) fn category_facts(&self, customer: &Customer, at: Stamp, tables: &mut Tables<'_>) {
        let profile = &customer.profile;
        let half_life = self.policy.scoring.half_life;
        let names = &self.policy.categories.names;
        let Tables {
            categories,
            recent,
            never,
            ..
        } = tables;
        // A category the customer has no stats in keeps the defaults (nothing bought, viewed or
        // disliked); those they have are filled in, found from the side with fewer names: the
        // customer's categories among the policy's (by key, cheaper than hashing for a policy's
        // few), or the policy's among the customer's.
        categories.set_len(names.len());
        recent.set_len(names.len());
        let categories = categories.as_mut_slice();
        // The customer's few favourite and never categories, each found in the policy's set
        // (not every policy category compared against each of them); the never ones first,
        // as the join skips their amounts.
        for name in &profile.never_categories {
            if let Some((id, facts)) = names
                .index_of(name.as_str())
                .and_then(|id| Some((id, categories.get_mut(id)?)))
            {
                facts.never = true;
                never.add(id);
            }
        }
        for name in &profile.favourite_categories {
            if let Some(facts) = names
                .index_of(name.as_str())
                .and_then(|id| categories.get_mut(id))
            {
                facts.favourite = true;
            }
        }
        let summary = &profile.summary;
        // Read and written as slices (not asked on every access whether they spilled).
        let (facts, recents) = (categories, recent.as_mut_slice());
        names.join(
            (summary.category_count(), summary.categories()),
            summary.category_numbers(self.policy.names_fingerprint),
            |name| summary.category(name),
            |id, stats| fill_category(facts, recents, id, stats, at, half_life),
        );
    }

    /// Works out what every offer's judgment shares: the customer's local date, the channels
    /// in order, and the fatigue part of their `recent_contacts` (marketing contacts within the
    /// policy's fatigue window, as the ledger counts them); their attributes and category facts
    /// are in `tables`.
    pub(super) fn context<'t, 'c: 't>(
        &'t self,
        customer: &'t Customer,
        tables: &'t Tables<'c>,
        request: &Request,
        at: Stamp,
        recent_contacts: u32,
    ) -> Context<'t> {
        let profile = &customer.profile;
        let zone = customer.time_zone.unwrap_or(self.policy.default_zone);
        let mut requested = 0u8;
        let mut consented = [Channel::Email; Channel::COUNT];
        let mut consented_len = 0;
        for &channel in &request.channels {
            if requested & channel_bit(channel) == 0
                && customer.consents.get(channel) == Consent::OptedIn
            {
                // Room for each channel once.
                if let Some(slot) = consented.get_mut(consented_len) {
                    *slot = channel;
                    consented_len += 1;
                }
            }
            requested |= channel_bit(channel);
        }
        // The preferred channel first, then the caller's order: moved to the front, the
        // channels before it each one place back.
        if let Some(preferred) = profile.preferred_channel {
            if let Some(position) = consented
                .iter()
                .take(consented_len)
                .position(|c| *c == preferred)
            {
                for i in (1..=position).rev() {
                    consented.swap(i, i - 1);
                }
            }
        }
        let consented_mask = consented
            .iter()
            .take(consented_len)
            .fold(0, |mask, c| mask | channel_bit(*c));
        let summary = &profile.summary;
        let factors = Factors {
            preferred_channel: profile.preferred_channel,
            recent_contacts,
            ignored_streak: Channel::ALL.map(|channel| summary.ignored_streak(channel)),
        };
        let w = &self.policy.scoring.spec;
        let mut shared = SharedParts {
            preferred: [0.0; Channel::COUNT],
            fatigue: addend(Parts::fatigue(w, factors.recent_contacts)),
            ignored: [0.0; Channel::COUNT],
        };
        // Only the consented channels are scored on: their parts alone are worked out.
        for &channel in consented.iter().take(consented_len) {
            let on = channel.index();
            let preferred = factors.preferred_channel == Some(channel);
            if let (Some(p), Some(i), Some(&streak)) = (
                shared.preferred.get_mut(on),
                shared.ignored.get_mut(on),
                factors.ignored_streak.get(on),
            ) {
                *p = addend(Parts::preferred(w, preferred));
                *i = addend(Parts::ignored(w, streak));
            }
        }
        Context {
            customer,
            facts: Facts {
                profile,
                attributes: &tables.attributes,
                recent: tables.recent.as_slice(),
                now: at,
                // Through the ledger's per-thread memo: the judgment of the pick asks for the
                // same instant's local time.
                today: crate::local::local(zone, at).date(),
                // Worked out by `decide` once it knows an offer may reach its rule.
                memo: Memo::new(&self.policy.leaf_tests),
                moment_days: Cell::new(None),
            },
            categories: tables.categories.as_slice(),
            requested,
            consented_mask,
            consented,
            consented_len,
            never: tables.never,
            windowed: self.policy.windowed,
            factors,
            shared,
        }
    }
}
