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
//! `SameArithmetic::new` checks itself against the engine: its pick and its score must be the
//! engine's, for the same customer at the same instant.

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

/// An offer's eligibility rule, reduced to numbers.
#[derive(Clone, Copy)]
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

/// One offer, flat.
#[derive(Clone, Copy)]
struct Offer {
    channels: u8,
    categories: u8,
    /// Its list of categories' number.
    set: usize,
    value_addend: f64,
    priority_addend: f64,
    rule: Rule,
    /// Its product's number, if it has one.
    product: Option<usize>,
    birthday: bool,
    fallback: bool,
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

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date (year, month, day) of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    /// When each product was last bought (`i64::MIN`: never).
    bought: Vec<i64>,
    /// Per channel (email, push), the ignored streak's addend.
    ignored_addend: [f64; 2],
    offers: Vec<Offer>,
    /// Each list of categories: its first category and its second (past the categories:
    /// none).
    sets: Vec<(usize, usize)>,
    /// Per list of categories, whether one of them is a favourite.
    set_favourite: Vec<bool>,
}

const SEGMENT_REGULAR: u8 = 1;
const SEGMENT_NEW: u8 = 2;
const TIER_GOLD: u8 = 1;
const TIER_SILVER: u8 = 2;

impl SameArithmetic {
    /// The bench's policy of `offers` offers (as `policy_text` writes it), for the regular with
    /// `events` (`history`) and the ledger's three earlier contacts (`ledger_with_history`).
    pub(crate) fn new(offers: usize, events: &[Event]) -> SameArithmetic {
        let category = |name: &str| CATEGORIES.iter().position(|c| *c == name).unwrap();
        let mut sets: Vec<(usize, usize)> = Vec::new();
        let flat_offers = (0..offers)
            .map(|i| {
                let first = i % CATEGORIES.len();
                let second = match (i * 3 + 1) % CATEGORIES.len() {
                    second if i % 3 == 2 && second != first => second,
                    _ => usize::MAX,
                };
                let categories = 1u8 << first | 1u8.checked_shl(second as u32).unwrap_or(0);
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
                Offer {
                    channels: match i % 3 {
                        0 => EMAIL,
                        1 => EMAIL | PUSH,
                        _ => u8::MAX,
                    },
                    categories,
                    set,
                    value_addend: addend(VALUE * (5 + (i * 7) % 40) as f64),
                    priority_addend: addend(PRIORITY * (i % 5) as f64 * 0.1),
                    rule,
                    product: (i % 5 == 2).then_some(first * 16 + i % 16),
                    birthday,
                    fallback: i + 1 == offers,
                }
            })
            .collect();
        let mut purchases = [Decayed::default(); 8];
        let mut views = [Decayed::default(); 8];
        let mut last_purchase = [i64::MIN; 8];
        let mut last_view = [i64::MIN; 8];
        let mut bought = vec![i64::MIN; CATEGORIES.len() * 16];
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
        // The offers that pass are listed in an array of 512, the lists of categories needed
        // in a 16-bit mask.
        assert!(offers <= 512 && sets.len() <= 16, "the floor's fixed sizes");
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
            offers: flat_offers,
            set_favourite: sets
                .iter()
                .map(|&(first, second)| first == coffee || second == coffee)
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

    /// Whether `offer` may go out on `channel` at `now` (wall-clock seconds `local`): the
    /// three caps, the spacing rule, the offer's own cap and the quiet hours.
    #[inline(always)]
    fn allowed(&self, offer: usize, channel: u8, now: i64, local: i64) -> bool {
        let count = |since: i64, counts: &dyn Fn(u8, u32) -> bool| {
            self.contacts
                .iter()
                .filter(|&&(at, c, topic)| at > since && at <= now && counts(c, topic))
                .count()
        };
        let (year, month, _) = civil_from_days(local.div_euclid(DAY));
        let month_start_local = days_from_civil(year, month, 1) * DAY;
        let month_start = month_start_local - self.offset(month_start_local - self.offset(now));
        let minute = local.rem_euclid(DAY) / 60;
        let topic = OFFER_TOPIC + offer as u32;
        (channel != EMAIL || count(now - 7 * DAY, &|c, _| c == EMAIL) < 2)
            && (channel != PUSH || count(now - DAY, &|c, _| c == PUSH) < 1)
            && count(month_start - 1, &|_, _| true) < 6
            && count(now - 12 * 3_600, &|_, _| true) < 1
            && count(now - 30 * DAY, &|_, t| t == topic) < 1
            && (8 * 60..21 * 60).contains(&minute)
    }

    /// The pick (offer number) and its score at `now`: the engine's arithmetic, by hand.
    pub(crate) fn decide(&self, now: i64) -> Option<(usize, f64)> {
        let local = now + self.offset(now);
        let today = local.div_euclid(DAY);
        let recent = self
            .contacts
            .iter()
            .filter(|&&(at, _, _)| at > now - FATIGUE_WINDOW && at <= now)
            .count();
        let fatigue = addend(-FATIGUE * recent as f64);
        // Per category, its decayed amounts; per list of categories, its score's leading parts
        // and its dislikes' part.
        let mut amounts = [(0.0, 0.0, 0.0); 8];
        for (c, slot) in amounts.iter_mut().enumerate() {
            if self.never & 1 << c == 0 {
                *slot = (
                    self.purchases[c].at(now),
                    self.views[c].at(now),
                    self.negative[c].at(now),
                );
            }
        }
        // The birthday's distance from the local date, this year or next.
        let (year, _, _) = civil_from_days(today);
        let (month, day) = self.birthday;
        let mut until = days_from_civil(year, month, day) - today;
        if until < 0 {
            until = days_from_civil(year + 1, month, day) - today;
        }
        let moment = addend(MOMENT * (1.0 - until as f64 / (MOMENT_DAYS + 1.0)).max(0.0));
        // First the offers that pass (and the lists of categories they need), then the lists'
        // parts, then the scores: each pass a tight loop.
        let mut passed = [0u16; 512];
        let mut count = 0;
        let mut needed = 0u16;
        for (i, offer) in self.offers.iter().enumerate() {
            let usable = offer.channels & CONSENTED;
            if usable == 0 || offer.categories & self.never != 0 {
                continue;
            }
            let eligible = match offer.rule {
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
            };
            let just_bought = offer
                .product
                .is_some_and(|p| self.bought[p] >= now - SKIP_BOUGHT_WITHIN);
            if eligible && !just_bought {
                passed[count] = i as u16;
                count += 1;
                needed |= 1 << offer.set;
            }
        }
        // Per list of categories an offer that passed has: its score's leading parts and its
        // dislikes' part.
        let mut sets = [(0.0, 0.0); 16];
        for (s, &(first, second)) in self.sets.iter().enumerate() {
            if needed & 1 << s == 0 {
                continue;
            }
            let (mut purchases, mut views, mut negative) = amounts[first];
            if let Some(&(p, v, n)) = amounts.get(second) {
                purchases += p;
                views += v;
                negative += n;
            }
            let signal = PURCHASE_SIGNAL * purchases + VIEW_SIGNAL * views;
            let affinity = AFFINITY * signal.max(0.0).ln_1p();
            let favourite = if self.set_favourite[s] {
                FAVOURITE
            } else {
                0.0
            };
            sets[s] = (
                addend(affinity) + addend(favourite),
                addend(-NEGATIVE * negative),
            );
        }
        let preferred = [0.0, PREFERRED];
        let mut best: Option<(usize, f64, u8)> = None;
        let mut fallback: Option<(usize, f64, u8)> = None;
        for &i in &passed[..count] {
            let i = usize::from(i);
            let offer = &self.offers[i];
            // The preferred channel (push) when the offer can use it.
            let (channel, on) = if offer.channels & PUSH != 0 {
                (PUSH, 1)
            } else {
                (EMAIL, 0)
            };
            let (leading, negative_addend) = sets[offer.set];
            let mut total = leading + offer.value_addend + offer.priority_addend;
            if offer.birthday {
                total += moment;
            }
            let total = total + preferred[on] + negative_addend + fatigue + self.ignored_addend[on];
            let pool = if offer.fallback {
                &mut fallback
            } else {
                &mut best
            };
            if pool.is_none_or(|(_, top, _)| total > top) {
                *pool = Some((i, total, channel));
            }
        }
        let (i, total, channel) = best.or(fallback)?;
        self.allowed(i, channel, now, local).then_some((i, total))
    }
}
