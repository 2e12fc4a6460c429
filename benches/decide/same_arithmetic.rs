//! The decide bench's second floor: `Engine::decide`'s own arithmetic for the bench's policy and
//! regular, written by hand on flat arrays ("a hand-written baseline loop doing the same
//! arithmetic on flat arrays, as the practical limit", as issue 3 asks of its baseline).
//!
//! Everything that is not arithmetic is done beforehand, outside the timing: names resolved to
//! numbers, the customer's events folded into per-category values, the time zone's transitions
//! listed, each offer's rule reduced to a comparison of numbers. What is left, per call, is
//! what `decide` works out from `now`: the local clock (a transition look-up), the fatigue
//! count, each category's decayed purchases, views and dislikes (`exp`), each list of
//! categories' affinity (`ln_1p`), the birthday's distance, each offer's eligibility, channel
//! and score, the best, and the best's caps, spacing and quiet hours.
//!
//! It is meant as the practical limit, so it is laid out for speed, the work per call kept:
//! like `decide`, it works out each distinct eligibility test once per call, and with it each
//! list of categories' and each set of channels' screening (a bit each), so that an offer is
//! screened by one mask and its product's date; the offers that pass are bits, scored by
//! walking the bits with what scoring reads of an offer packed apart from what screening
//! reads; the `ln_1p` of a list is taken only if an offer that passed has it (as in `decide`).
//!
//! What it leaves out of each call: the parts that depend on the customer alone (the ignored
//! streak's, the preferred channel's and each list's favourite part), worked out when it is
//! built, where `decide` works them out per call; and when the best offer is held back (by a
//! cap or quiet hours) it says so, where `decide` goes on to defer it or try the next.
//!
//! `check_same_arithmetic` in `decide.rs` checks it against the engine before timing: at
//! instants that move the clock past quiet hours, the birthday, the rules' windows, a month
//! end and a DST change, every offer's score (or its being screened out) and the pick must be
//! the engine's.

use chrono::{DateTime, Offset, TimeZone, Utc};
use cornershop::{Channel, Event, Response};

use super::{now, CATEGORIES};

/// The policy's scoring weights (the defaults) and windows, as the bench's policy has them.
const HALF_LIFE: f64 = 30.0 * DAY as f64;
const AFFINITY: f64 = 1.0;
const PURCHASE_SIGNAL: f64 = 1.0;
const VIEW_SIGNAL: f64 = 0.25;
const FAVOURITE: f64 = 0.5;
const VALUE: f64 = 0.02;
const PRIORITY: f64 = 1.0;
const MOMENT: f64 = 3.0;
const MOMENT_DAYS: f64 = 7.0;
const PREFERRED: f64 = 0.3;
const NEGATIVE: f64 = 1.0;
const FATIGUE: f64 = 0.15;
const IGNORED: f64 = 0.2;
const FATIGUE_WINDOW: i64 = 7 * DAY;
const SKIP_BOUGHT_WITHIN: i64 = 30 * DAY;
const DAY: i64 = 86_400;

const EMAIL: u8 = 1;
const PUSH: u8 = 2;
/// The channels the request names and the customer consented to.
const CONSENTED: u8 = EMAIL | PUSH;
/// Contacts' topics: the newsletter's, and offer `i`'s is `OFFER_TOPIC + i`.
const NEWSLETTER: u32 = 1;
const OFFER_TOPIC: u32 = 2;

/// An eligibility test, reduced to numbers. The policy's distinct tests are listed once and
/// each worked out once per call (as `decide` works out each distinct leaf test once); an
/// offer reads its test's bit.
#[derive(Clone, Copy, PartialEq)]
enum Rule {
    None,
    /// The customer's tier is one of these (a bit per tier).
    TierIn(u8),
    AgeAtLeast(f64),
    /// Bought in the category within the seconds.
    BoughtWithin(usize, i64),
    /// In the segment (a bit per segment).
    Segment(u8),
    /// Age at least, and viewed the category within the seconds.
    AgeAndViewed(f64, usize, i64),
    /// Member since at most the day (days since 1970), or not in the segment.
    MemberOrNot(i64, u8),
    /// The birthday within the days.
    Birthday(i64),
}

/// What screening reads of one offer.
#[derive(Clone, Copy)]
struct Screen {
    /// The conditions it needs, a bit each in the call's 64 conditions (`SameArithmetic::
    /// conditions`): its test holds, its list of categories has none the customer never
    /// wants, one of its channels is usable.
    needs: u64,
    /// Its product's slot in `bought` (past the products, a slot never bought: no product).
    product: u8,
    /// Its list of categories' number.
    set: u8,
}

/// What scoring reads of one offer.
#[derive(Clone, Copy, Default)]
struct Score {
    value_addend: f64,
    priority_addend: f64,
    /// 1 for a birthday offer, 0 for the others: the moment part (finite) times this is
    /// added, and adding 0 leaves the total as it is, so the sum is the engine's either way,
    /// with no branch.
    moment: f64,
    /// Its list of categories' number.
    set: u8,
    /// Its channel: 1 push (the preferred) when it can use it, else 0 email.
    on: u8,
}

/// A decayed quantity: its value at `as_of` (seconds).
#[derive(Clone, Copy, Default)]
struct Decayed {
    value: f64,
    as_of: i64,
}

impl Decayed {
    fn add(&mut self, at: i64) {
        self.value = self.value * decay(at - self.as_of) + 1.0;
        self.as_of = at;
    }

    #[inline(always)]
    fn at(self, now: i64) -> f64 {
        if self.value == 0.0 {
            return 0.0;
        }
        self.value * decay(now - self.as_of)
    }
}

#[inline(always)]
fn decay(elapsed: i64) -> f64 {
    (-(elapsed.max(0) as f64 / HALF_LIFE) * std::f64::consts::LN_2).exp()
}

/// A part as the engine's total adds it: 0 unless finite and not zero.
#[inline(always)]
fn addend(part: f64) -> f64 {
    const INFINITY: u64 = 0x7ff0_0000_0000_0000;
    let magnitude = part.to_bits() & !(1 << 63);
    if magnitude.wrapping_sub(1) < INFINITY - 1 {
        part
    } else {
        0.0
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian, from the year 1 on): Howard
/// Hinnant's algorithm, in unsigned 32-bit arithmetic, whose divisions by constants need no
/// sign corrections.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (month, day) = (month as u32, day as u32);
    let year = (year - i64::from(month <= 2)) as u32;
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i64::from(era) * 146_097 + i64::from(day_of_era) - 719_468
}

/// The civil date (year, month, day) of days since 1970-01-01 (from the year 1 on), as
/// `days_from_civil`: unsigned.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = (days + 719_468) as u32;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u32::from(month <= 2);
    (i64::from(year), i64::from(month), i64::from(day))
}

/// The bench's policy, regular and ledger, flat.
pub(crate) struct SameArithmetic {
    /// The zone's UTC offsets: (from this instant, offset in seconds), in time order.
    transitions: Vec<(i64, i64)>,
    /// The ledger's contacts for the customer: (time, channel bit, topic).
    contacts: Vec<(i64, u8, u32)>,
    purchases: [Decayed; 8],
    views: [Decayed; 8],
    negative: [Decayed; 8],
    last_purchase: [i64; 8],
    last_view: [i64; 8],
    never: u8,
    tier: u8,
    age: f64,
    /// Days since 1970-01-01.
    member_since: i64,
    segments: u8,
    birthday: (i64, i64),
    /// When each product was last bought (`i64::MIN`: never). 256 slots, so that an offer's
    /// `u8` slot needs no bounds check; those past the products are never bought.
    bought: [i64; 256],
    /// Per channel (email, push), the ignored streak's addend.
    ignored_addend: [f64; 2],
    /// The call's conditions (at most 64), a bit each in this order: the policy's distinct
    /// eligibility tests, its lists of categories (none of theirs never wanted), its
    /// offers' distinct sets of channels (one usable).
    tests: Vec<Rule>,
    /// All the lists' bits, and per category the bits of the lists that have it.
    lists: u64,
    lists_with: [u64; 8],
    channel_kinds: Vec<u8>,
    /// Per offer, what screening reads (in policy order).
    screens: Vec<Screen>,
    /// Per offer, what scoring reads, by 64 as the passed offers' bits are (a bit's offer
    /// needs no bounds check; the last block is padded).
    scores: Vec<[Score; 64]>,
    /// The fallback offers, a bit per offer (by 64, as the passed offers' bits).
    fallbacks: [u64; 8],
    /// Each list of categories: its first category and its second (past the categories:
    /// none, whose amounts are zeros).
    sets: Vec<(usize, usize)>,
    /// Per list of categories, its favourite part's addend (one of them is a favourite, or
    /// not: the customer's, not the instant's).
    favourite_addend: Vec<f64>,
}

const SEGMENT_REGULAR: u8 = 1;
const SEGMENT_NEW: u8 = 2;
const TIER_GOLD: u8 = 1;
const TIER_SILVER: u8 = 2;
/// The slot in `bought` of an offer with no product.
const NO_PRODUCT: u8 = u8::MAX;

impl SameArithmetic {
    /// The bench's policy of `offers` offers (as `policy_text` writes it), for the regular with
    /// `events` (`history`) and the ledger's three earlier contacts (`ledger_with_history`).
    pub(crate) fn new(offers: usize, events: &[Event]) -> SameArithmetic {
        let category = |name: &str| CATEGORIES.iter().position(|c| *c == name).unwrap();
        let mut sets: Vec<(usize, usize)> = Vec::new();
        let mut tests: Vec<Rule> = Vec::new();
        let mut channel_kinds: Vec<u8> = Vec::new();
        // Per offer: its test, list and channels' numbers, and its product's slot.
        let mut numbers = Vec::with_capacity(offers);
        let mut scores = vec![[Score::default(); 64]; offers.div_ceil(64)];
        let mut fallbacks = [0u64; 8];
        // The passed offers are listed as 512 bits, the lists of categories needed in a 16-bit
        // mask, the tests' results in a 64-bit mask, the products in 256 slots.
        assert!(offers <= 512, "the floor's fixed sizes");
        for i in 0..offers {
            let first = i % CATEGORIES.len();
            let second = match (i * 3 + 1) % CATEGORIES.len() {
                second if i % 3 == 2 && second != first => second,
                _ => CATEGORIES.len(),
            };
            let set = match sets.iter().position(|s| *s == (first, second)) {
                Some(set) => set,
                None => {
                    sets.push((first, second));
                    sets.len() - 1
                }
            };
            let birthday = i % 50 == 7;
            let rule = if birthday {
                Rule::Birthday(14)
            } else {
                match i % 7 {
                    0 => Rule::None,
                    1 => Rule::TierIn(TIER_GOLD | TIER_SILVER),
                    2 => Rule::AgeAtLeast(18.0),
                    3 => Rule::BoughtWithin(first, 90 * DAY),
                    4 => Rule::Segment(SEGMENT_REGULAR),
                    5 => Rule::AgeAndViewed(21.0, first, 60 * DAY),
                    _ => Rule::MemberOrNot(days_from_civil(2022, 1, 1), SEGMENT_NEW),
                }
            };
            let test = match tests.iter().position(|t| *t == rule) {
                Some(test) => test,
                None => {
                    tests.push(rule);
                    tests.len() - 1
                }
            };
            let channels = match i % 3 {
                0 => EMAIL,
                1 => EMAIL | PUSH,
                _ => u8::MAX,
            };
            let kind = match channel_kinds.iter().position(|k| *k == channels) {
                Some(kind) => kind,
                None => {
                    channel_kinds.push(channels);
                    channel_kinds.len() - 1
                }
            };
            let product = if i % 5 == 2 {
                (first * 16 + i % 16) as u8
            } else {
                NO_PRODUCT
            };
            numbers.push((test, set, kind, product));
            scores[i / 64][i % 64] = Score {
                value_addend: addend(VALUE * (5 + (i * 7) % 40) as f64),
                priority_addend: addend(PRIORITY * (i % 5) as f64 * 0.1),
                moment: if birthday { 1.0 } else { 0.0 },
                set: set as u8,
                // The preferred channel (push) when the offer can use it.
                on: u8::from(channels & PUSH != 0),
            };
            if i + 1 == offers {
                fallbacks[i / 64] |= 1 << (i % 64);
            }
        }
        assert!(
            tests.len() + sets.len() + channel_kinds.len() <= 64
                && sets.len() <= 16
                && CATEGORIES.len() * 16 <= NO_PRODUCT.into(),
            "the floor's fixed sizes"
        );
        let first_list = tests.len();
        let list = move |set: usize| 1u64 << (first_list + set);
        let mut lists_with = [0; 8];
        for (set, &(first, second)) in sets.iter().enumerate() {
            lists_with[first] |= list(set);
            if let Some(with) = lists_with.get_mut(second) {
                *with |= list(set);
            }
        }
        let screens = numbers
            .into_iter()
            .map(|(test, set, kind, product)| Screen {
                needs: 1 << test | list(set) | 1 << (tests.len() + sets.len() + kind),
                product,
                set: set as u8,
            })
            .collect();
        let mut purchases = [Decayed::default(); 8];
        let mut views = [Decayed::default(); 8];
        let mut last_purchase = [i64::MIN; 8];
        let mut last_view = [i64::MIN; 8];
        let mut bought = [i64::MIN; 256];
        // Per channel: the latest open or click, and the ignored contacts' times.
        let mut engaged = [i64::MIN; 2];
        let mut ignored: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
        for event in events {
            let at = event.at().timestamp();
            match event {
                Event::View { category: c, .. } => {
                    views[category(c)].add(at);
                    last_view[category(c)] = at;
                }
                Event::Purchase {
                    category: c,
                    product,
                    ..
                } => {
                    purchases[category(c)].add(at);
                    last_purchase[category(c)] = at;
                    let product = product.as_deref().unwrap();
                    let (name, number) = product.rsplit_once('-').unwrap();
                    bought[category(name) * 16 + number.parse::<usize>().unwrap()] = at;
                }
                Event::Response {
                    channel, response, ..
                } => {
                    let channel = usize::from(*channel == Channel::Push);
                    match response {
                        Response::Ignored => ignored[channel].push(at),
                        _ => engaged[channel] = engaged[channel].max(at),
                    }
                }
                _ => unreachable!("the regular's history has no other events"),
            }
        }
        let ignored_addend = [0, 1].map(|channel| {
            let streak = ignored[channel]
                .iter()
                .filter(|&&at| at > engaged[channel])
                .count()
                .min(32);
            addend(-IGNORED * streak as f64)
        });
        let zone = chrono_tz::Europe::London;
        let offset = |at: i64| {
            let utc = DateTime::from_timestamp(at, 0).unwrap().naive_utc();
            i64::from(zone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
        };
        // The zone's transitions over the bench's years, found hour by hour.
        let mut transitions = Vec::new();
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let end = Utc
            .with_ymd_and_hms(2029, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let mut at = start;
        while at < end {
            let here = offset(at);
            if transitions.last().is_none_or(|&(_, last)| last != here) {
                transitions.push((at, here));
            }
            at += 3_600;
        }
        let day = |days: i64| now().timestamp() - days * DAY;
        let coffee = category("coffee");
        let offer_000 = OFFER_TOPIC;
        let offer_001 = OFFER_TOPIC + 1;
        SameArithmetic {
            transitions,
            contacts: vec![
                (day(20), EMAIL, offer_001),
                (day(6), PUSH, offer_000),
                (day(3), EMAIL, NEWSLETTER),
            ],
            purchases,
            views,
            negative: [Decayed::default(); 8],
            last_purchase,
            last_view,
            never: 1 << category("toys"),
            tier: TIER_GOLD,
            age: 34.0,
            member_since: days_from_civil(2019, 3, 2),
            segments: SEGMENT_REGULAR,
            birthday: (11, 28),
            bought,
            ignored_addend,
            tests,
            lists: (0..sets.len()).map(list).sum(),
            lists_with,
            channel_kinds,
            screens,
            scores,
            fallbacks,
            favourite_addend: sets
                .iter()
                .map(|&(first, second)| {
                    addend(if first == coffee || second == coffee {
                        FAVOURITE
                    } else {
                        0.0
                    })
                })
                .collect(),
            sets,
        }
    }

    /// The UTC offset at `at` (seconds): the last transition at or before it.
    #[inline(always)]
    fn offset(&self, at: i64) -> i64 {
        let after = self.transitions.partition_point(|&(from, _)| from <= at);
        self.transitions
            .get(after.wrapping_sub(1))
            .map_or(0, |&(_, offset)| offset)
    }

    /// Whether `test` holds at `now`, `until` days before the birthday.
    #[inline(always)]
    fn holds(&self, test: Rule, now: i64, until: i64) -> bool {
        match test {
            Rule::None => true,
            Rule::TierIn(tiers) => tiers & self.tier != 0,
            Rule::AgeAtLeast(at_least) => self.age >= at_least,
            Rule::BoughtWithin(c, within) => self.last_purchase[c] >= now - within,
            Rule::Segment(segment) => self.segments & segment != 0,
            Rule::AgeAndViewed(at_least, c, within) => {
                self.age >= at_least && self.last_view[c] >= now - within
            }
            Rule::MemberOrNot(day, segment) => {
                self.member_since <= day || self.segments & segment == 0
            }
            Rule::Birthday(within) => until <= within,
        }
    }

    /// What screening asks of offers, each worked out once, a bit each: each distinct test
    /// holds (at `now`, `until` days before the birthday), each list of categories has none
    /// the customer never wants, each distinct set of channels has one the request names
    /// and the customer consented to.
    #[inline(always)]
    fn conditions(&self, now: i64, until: i64) -> u64 {
        let mut bits = 0;
        let mut bit = 0;
        for &test in &self.tests {
            bits |= u64::from(self.holds(test, now, until)) << bit;
            bit += 1;
        }
        // The lists' bits, less those of the lists with a category the customer never wants
        // (a look-up per such category, not a test per list).
        let mut lists = self.lists;
        let mut never = self.never;
        while never != 0 {
            lists &= !self.lists_with[never.trailing_zeros() as usize & 7];
            never &= never - 1;
        }
        bits |= lists;
        bit += self.lists.count_ones();
        for &channels in &self.channel_kinds {
            bits |= u64::from(channels & CONSENTED != 0) << bit;
            bit += 1;
        }
        bits
    }

    /// Whether `offer` may go out on `channel` at `now` (UTC offset `offset`, local date
    /// `year`-`month`): the three caps, the spacing rule, the offer's own cap and the quiet
    /// hours.
    #[inline(always)]
    fn allowed(
        &self,
        offer: usize,
        channel: u8,
        now: i64,
        offset: i64,
        (year, month): (i64, i64),
    ) -> bool {
        let month_start_local = days_from_civil(year, month, 1) * DAY;
        let month_start = month_start_local - self.offset(month_start_local - offset);
        let minute = (now + offset).rem_euclid(DAY) / 60;
        let topic = OFFER_TOPIC + offer as u32;
        // Each rule's count of the contacts in its window, in one pass.
        let (mut email_week, mut push_day, mut this_month, mut half_day, mut this_offer) =
            (0, 0, 0, 0, 0);
        for &(at, c, t) in &self.contacts {
            let past = at <= now;
            email_week += usize::from(past & (at > now - 7 * DAY) & (c == EMAIL));
            push_day += usize::from(past & (at > now - DAY) & (c == PUSH));
            this_month += usize::from(past & (at >= month_start));
            half_day += usize::from(past & (at > now - 12 * 3_600));
            this_offer += usize::from(past & (at > now - 30 * DAY) & (t == topic));
        }
        (channel != EMAIL || email_week < 2)
            && (channel != PUSH || push_day < 1)
            && this_month < 6
            && half_day < 1
            && this_offer < 1
            && (8 * 60..21 * 60).contains(&minute)
    }

    /// The best of the `passed` offers (a bit each) that are regular (or, with `fallback`, the
    /// fallbacks), and its score: the higher score, then the offer written first.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn best(
        &self,
        passed: &[u64; 8],
        fallback: bool,
        sets: &[(f64, f64); 16],
        moment: f64,
        fatigue: f64,
        each: &mut impl FnMut(usize, f64),
    ) -> Option<(usize, f64)> {
        const PREFERRED_ON: [f64; 2] = [0.0, PREFERRED];
        let mut pick = usize::MAX;
        let mut top = f64::NEG_INFINITY;
        for (w, ((&passed, &fallbacks), block)) in passed
            .iter()
            .zip(&self.fallbacks)
            .zip(&self.scores)
            .enumerate()
        {
            let mut bits = passed & if fallback { fallbacks } else { !fallbacks };
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // `& 63`, `& 15`, `& 1`: in range by construction, said so with no check.
                let offer = &block[k & 63];
                let (leading, negative_addend) = sets[usize::from(offer.set & 15)];
                let on = usize::from(offer.on & 1);
                // The engine's parts in the engine's order.
                let total = leading
                    + offer.value_addend
                    + offer.priority_addend
                    + moment * offer.moment
                    + PREFERRED_ON[on]
                    + negative_addend
                    + fatigue
                    + self.ignored_addend[on];
                each(w * 64 + k, total);
                if total > top {
                    pick = w * 64 + k;
                    top = total;
                }
            }
        }
        (pick != usize::MAX).then_some((pick, top))
    }

    /// The pick (offer number) and its score at `now`, if its caps, spacing and quiet hours
    /// let it go now: the engine's arithmetic, by hand. (The timed call.)
    #[inline(always)]
    pub(crate) fn decide(&self, now: i64) -> Option<(usize, f64)> {
        self.judge(now, &mut |_, _| {})
            .and_then(|(offer, total, now_allowed)| now_allowed.then_some((offer, total)))
    }

    /// [`SameArithmetic::decide`]'s work, telling `each` the number and score of every regular
    /// offer scored: the best's number and score, and whether it may go now.
    #[inline(always)]
    pub(crate) fn judge(
        &self,
        now: i64,
        each: &mut impl FnMut(usize, f64),
    ) -> Option<(usize, f64, bool)> {
        let offset = self.offset(now);
        let today = (now + offset).div_euclid(DAY);
        let recent = self
            .contacts
            .iter()
            .filter(|&&(at, _, _)| at > now - FATIGUE_WINDOW && at <= now)
            .count();
        let fatigue = addend(-FATIGUE * recent as f64);
        // Per category, its decayed amounts (and past the categories, the none's zeros).
        let mut amounts = [(0.0, 0.0, 0.0); 9];
        for (c, slot) in amounts.iter_mut().take(8).enumerate() {
            if self.never & 1 << c == 0 {
                *slot = (
                    self.purchases[c].at(now),
                    self.views[c].at(now),
                    self.negative[c].at(now),
                );
            }
        }
        // The birthday's distance from the local date, this year or next.
        let (year, month, _) = civil_from_days(today);
        let (birth_month, birth_day) = self.birthday;
        let mut until = days_from_civil(year, birth_month, birth_day) - today;
        if until < 0 {
            until = days_from_civil(year + 1, birth_month, birth_day) - today;
        }
        let moment = addend(MOMENT * (1.0 - until as f64 / (MOMENT_DAYS + 1.0)).max(0.0));
        let conditions = self.conditions(now, until);
        // The offers that pass, a bit each, and the lists of categories they need: without a
        // branch per offer (`&` on the conditions, not `&&`).
        let bought_since = now - SKIP_BOUGHT_WITHIN;
        let mut passed = [0u64; 8];
        let mut needed = 0u16;
        for (word, screens) in passed.iter_mut().zip(self.screens.chunks(64)) {
            let mut bits = 0;
            for (k, offer) in screens.iter().enumerate() {
                let pass = (offer.needs & !conditions == 0)
                    & (self.bought[usize::from(offer.product)] < bought_since);
                bits |= u64::from(pass) << k;
                needed |= u16::from(pass) << offer.set;
            }
            *word = bits;
        }
        // Per list of categories an offer that passed has: its score's leading parts and its
        // dislikes' part.
        let mut sets = [(0.0, 0.0); 16];
        let mut rest = needed;
        while rest != 0 {
            let s = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let (first, second) = self.sets[s];
            // With no second category, adding its zeros leaves the sums as they are.
            let (p, v, n) = amounts[second];
            let (purchases, views, negative) = amounts[first];
            let (purchases, views, negative) = (purchases + p, views + v, negative + n);
            let signal = PURCHASE_SIGNAL * purchases + VIEW_SIGNAL * views;
            let affinity = AFFINITY * signal.max(0.0).ln_1p();
            sets[s] = (
                addend(affinity) + self.favourite_addend[s],
                addend(-NEGATIVE * negative),
            );
        }
        let (i, total) = match self.best(&passed, false, &sets, moment, fatigue, each) {
            Some(best) => best,
            None => self.best(&passed, true, &sets, moment, fatigue, &mut |_, _| {})?,
        };
        let channel = if self.scores[i / 64][i % 64].on == 1 {
            PUSH
        } else {
            EMAIL
        };
        let now_allowed = self.allowed(i, channel, now, offset, (year, month));
        Some((i, total, now_allowed))
    }
}
