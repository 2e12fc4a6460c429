//! Eligibility rules' leaf tests (attribute, bought / viewed, moment, lifetime value, segment):
//! numbered once per policy, so that a decision works out each distinct test at most once
//! however many offers' rules ask it, and the usual rule shapes ([`Quick`]) are checked as a
//! loop over test numbers.

use super::eligibility::{Activity, Condition, Facts};

/// A leaf's id before numbering, or past [`MAX_LEAVES`].
pub(crate) const NO_LEAF: u32 = u32::MAX;

/// How many distinct leaf tests a policy's rules memoize per decision, at most.
const MAX_LEAVES: usize = 1024;

/// How many 64-bit words hold one decision's leaf results, a bit per numbered test.
const LEAF_WORDS: usize = MAX_LEAVES / 64;

/// What each distinct leaf test of the policy gave for one decision, a bit per test, all
/// worked out at once ([`Memo::work_out`]) before the offers are looked at: an offer's rule is
/// then a test of bits ([`RuleMask`](super::RuleMask)), and a test is worked out once
/// however many rules ask it. On the decision's stack (128 bytes): nothing is allocated.
pub(crate) struct Memo<'a> {
    /// The policy's distinct leaf tests, by id.
    tests: &'a [Condition],
    /// A bit per test, set when it holds (with `known`).
    words: [u64; LEAF_WORDS],
    /// Whether `words` were worked out; if not, each look-up works its test out.
    known: bool,
}

impl<'a> Memo<'a> {
    /// Nothing worked out yet, for the policy's `tests`: each look-up works its test out
    /// (for a decision whose offers never reach their rules).
    pub(crate) fn new(tests: &'a [Condition]) -> Self {
        Memo {
            tests,
            words: [0; LEAF_WORDS],
            known: false,
        }
    }

    /// Works out every test of `plan` (made from this memo's tests) against `facts` (whose
    /// own memo is not used: the tests are leaves). **O(tests)**.
    pub(crate) fn work_out(&mut self, plan: &LeafPlan, facts: &Facts<'_>) {
        let now = facts.now;
        for leaf in &plan.activities {
            let holds = match facts.recent.get(leaf.category as usize) {
                Some(recent) => {
                    let last = if leaf.bought {
                        recent.purchase
                    } else {
                        recent.view
                    };
                    // As `Condition::holds`: at most `within` seconds before now.
                    last.is_some_and(|at| at <= now && now.0 - at.0 <= leaf.within)
                }
                // Not reached: a decision fills in every policy category.
                None => self
                    .tests
                    .get(leaf.id as usize)
                    .is_some_and(|test| test.holds(facts)),
            };
            self.set(leaf.id, holds);
        }
        for &id in &plan.others {
            let holds = self
                .tests
                .get(id as usize)
                .is_some_and(|test| test.holds(facts));
            self.set(id, holds);
        }
        self.known = true;
    }

    /// Sets test `id`'s bit if it `holds`.
    #[inline(always)]
    fn set(&mut self, id: u32, holds: bool) {
        let id = id as usize;
        if let Some(word) = self.words.get_mut(id / 64) {
            *word |= u64::from(holds) << (id % 64);
        }
    }

    /// The first 64 tests' bits (each set when its test holds), once worked out.
    #[inline]
    pub(crate) fn low(&self) -> u64 {
        self.words[0]
    }

    /// Whether the tests were worked out ([`Memo::work_out`]).
    #[inline]
    pub(crate) fn known(&self) -> bool {
        self.known
    }

    /// Whether leaf `node` holds: from the bits if it is numbered and they are worked out,
    /// otherwise worked out now.
    pub(crate) fn holds(&self, node: &Condition, facts: &Facts<'_>) -> bool {
        match node.leaf() {
            Some(id) if self.known => self.bit(id).unwrap_or_else(|| node.holds(facts)),
            _ => node.holds(facts),
        }
    }

    /// Test `id`'s bit (`None` past the tests).
    #[inline(always)]
    fn bit(&self, id: u32) -> Option<bool> {
        let id = id as usize;
        if id >= self.tests.len() {
            return None;
        }
        let word = self.words.get(id / 64)?;
        Some(word >> (id % 64) & 1 != 0)
    }

    /// Whether test `id` holds (`None`: no such test).
    #[inline(always)]
    fn test(&self, id: u32, facts: &Facts<'_>) -> Option<bool> {
        if self.known {
            return self.bit(id);
        }
        Some(self.tests.get(id as usize)?.holds(facts))
    }
}

/// A policy's leaf tests sorted for working them out at once ([`Memo::work_out`]): the
/// `bought` / `viewed` tests (the usual kind) as plain numbers read in a tight loop, and the
/// ids of the others, each worked out by its own call.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeafPlan {
    activities: Vec<ActivityLeaf>,
    others: Vec<u32>,
}

/// A `bought` / `viewed` test: its id, the category's index, the span, which activity.
#[derive(Debug, Clone, Copy)]
struct ActivityLeaf {
    id: u32,
    category: u32,
    within: u32,
    bought: bool,
}

impl LeafPlan {
    /// The plan of a policy's distinct leaf `tests` (by id). **O(tests)**, at compile time.
    pub(crate) fn of(tests: &[Condition]) -> LeafPlan {
        let mut plan = LeafPlan::default();
        // Tests are numbered below MAX_LEAVES, and categories number fewer than a policy's
        // bytes: both fit a u32.
        for (id, test) in (0u32..).zip(tests.iter().take(MAX_LEAVES)) {
            match test {
                Condition::Activity {
                    activity,
                    category_id,
                    within,
                    ..
                } if u32::try_from(*category_id).is_ok() => plan.activities.push(ActivityLeaf {
                    id,
                    category: u32::try_from(*category_id).unwrap_or(u32::MAX),
                    within: *within,
                    bought: *activity == Activity::Bought,
                }),
                _ => plan.others.push(id),
            }
        }
        plan
    }
}

/// An offer's eligibility rule in the shape a decision checks fastest: one numbered test, or
/// `all`, `any` or `not` of numbered tests (each maybe under a `not`); any other shape is
/// judged node by node.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Quick {
    Test(u32),
    All(Box<[Term]>),
    Any(Box<[Term]>),
    Not(u32),
    #[default]
    Nested,
}

/// A child of a quick `all` or `any`: a numbered test, maybe negated, and where the child's own
/// record is among the rule's records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Term {
    test: u32,
    negated: bool,
    position: u32,
}

impl Term {
    /// `child` (of a rule whose records before it number `position`) as a term.
    fn of(child: &Condition, position: u32) -> Option<Term> {
        match child {
            Condition::Not { inner, .. } => inner.leaf().map(|test| Term {
                test,
                negated: true,
                position,
            }),
            leaf => leaf.leaf().map(|test| Term {
                test,
                negated: false,
                position,
            }),
        }
    }

    /// How many records the child has (a `not` has its own and its test's).
    fn records(&self) -> u32 {
        1 + u32::from(self.negated)
    }
}

impl Quick {
    /// The shape of `rule`, whose leaves are numbered.
    pub(crate) fn of(rule: &Condition) -> Quick {
        // An `all` has no record of its own; an `any` has the first.
        let terms = |children: &[Condition], mut position: u32| -> Option<Box<[Term]>> {
            children
                .iter()
                .map(|child| {
                    let term = Term::of(child, position)?;
                    position += term.records();
                    Some(term)
                })
                .collect()
        };
        let shape = match rule {
            Condition::All(children) => terms(children, 0).map(Quick::All),
            Condition::Any { children, .. } => terms(children, 1).map(Quick::Any),
            Condition::Not { inner, .. } => inner.leaf().map(Quick::Not),
            leaf => leaf.leaf().map(Quick::Test),
        };
        shape.unwrap_or(Quick::Nested)
    }

    /// `Ok` when `rule` (of this shape) holds; otherwise the position of the rule that failed
    /// among the condition's records ([`Condition::position_of`]). **O(tests)** for the quick
    /// shapes, each test read from the decision's memo or worked out into it.
    // Called once per offer with a rule, from one place: inlined, it shares the screening
    // loop's registers.
    #[inline(always)]
    pub(crate) fn check(&self, rule: &Condition, facts: &Facts<'_>) -> Result<(), u32> {
        let test = |id: u32| facts.memo.test(id, facts);
        let term = |t: &Term| test(t.test).map(|holds| holds != t.negated);
        let verdict = match self {
            Quick::Test(id) => test(*id).map(|holds| if holds { Ok(()) } else { Err(0) }),
            // An `all` fails as its first child that fails.
            Quick::All(terms) => 'all: {
                for t in terms.iter() {
                    match term(t) {
                        Some(true) => {}
                        Some(false) => break 'all Some(Err(t.position)),
                        None => break 'all None,
                    }
                }
                Some(Ok(()))
            }
            Quick::Any(terms) => 'any: {
                for t in terms.iter() {
                    match term(t) {
                        Some(true) => break 'any Some(Ok(())),
                        Some(false) => {}
                        None => break 'any None,
                    }
                }
                Some(Err(0))
            }
            Quick::Not(id) => test(*id).map(|holds| if holds { Err(0) } else { Ok(()) }),
            Quick::Nested => None,
        };
        match verdict {
            Some(verdict) => verdict,
            None => check_nested(rule, facts),
        }
    }
}

/// An offer's rule as a test of the first 64 leaf bits ([`Memo::low`]), worked out at compile
/// time when the rule's shape allows: a decision then checks it in a few instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleMask {
    /// The offer has no rule.
    Always,
    /// Holds when every `set` bit is set and every `clear` bit clear (a test, a `not`, an
    /// `all` of tests and `not`s).
    All { set: u64, clear: u64 },
    /// Holds when a `set` bit is set or a `clear` bit clear (an `any`).
    Any { set: u64, clear: u64 },
    /// Another shape, or a test past the first 64: checked by [`Quick::check`].
    Other,
}

impl RuleMask {
    /// The mask form of a rule of shape `quick` (`None`: no rule).
    pub(crate) fn of(quick: Option<&Quick>) -> RuleMask {
        let bit = |id: u32| 1u64.checked_shl(id).filter(|_| id < 64);
        let masks = |terms: &[Term]| -> Option<(u64, u64)> {
            terms.iter().try_fold((0, 0), |(set, clear), t| {
                let bit = bit(t.test)?;
                Some(if t.negated {
                    (set, clear | bit)
                } else {
                    (set | bit, clear)
                })
            })
        };
        let shape = match quick {
            None => return RuleMask::Always,
            Some(Quick::Test(id)) => bit(*id).map(|set| RuleMask::All { set, clear: 0 }),
            Some(Quick::Not(id)) => bit(*id).map(|clear| RuleMask::All { set: 0, clear }),
            Some(Quick::All(terms)) => {
                masks(terms).map(|(set, clear)| RuleMask::All { set, clear })
            }
            Some(Quick::Any(terms)) => {
                masks(terms).map(|(set, clear)| RuleMask::Any { set, clear })
            }
            Some(Quick::Nested) => None,
        };
        shape.unwrap_or(RuleMask::Other)
    }

    /// Whether the rule holds for a decision whose first 64 tests gave `bits` (`None`: not a
    /// mask rule, ask [`Quick::check`]).
    #[inline(always)]
    pub(crate) fn holds(self, bits: u64) -> Option<bool> {
        match self {
            RuleMask::Always => Some(true),
            RuleMask::All { set, clear } => Some(bits & set == set && bits & clear == 0),
            RuleMask::Any { set, clear } => Some(bits & set != 0 || !bits & clear != 0),
            RuleMask::Other => None,
        }
    }
}

impl Quick {
    /// Where a rule of this shape whose tests are all among the first 64 (a [`RuleMask`]
    /// rule) fails, given those tests' `bits` ([`Memo::low`]): what [`Quick::check`] says,
    /// without the memo. `None` if it holds.
    pub(crate) fn failed_at(&self, bits: u64) -> Option<u32> {
        let holds = |id: u32| 1u64.checked_shl(id).is_some_and(|bit| bits & bit != 0);
        match self {
            Quick::Test(id) => (!holds(*id)).then_some(0),
            Quick::Not(id) => holds(*id).then_some(0),
            Quick::All(terms) => terms
                .iter()
                .find(|t| holds(t.test) == t.negated)
                .map(|t| t.position),
            Quick::Any(terms) => (!terms.iter().any(|t| holds(t.test) != t.negated)).then_some(0),
            Quick::Nested => None,
        }
    }
}

/// [`Quick::check`] for other shapes.
#[inline(never)]
fn check_nested(rule: &Condition, facts: &Facts<'_>) -> Result<(), u32> {
    rule.judge(facts)
        // Always found: `judge` returns one of the condition's own records.
        .map_err(|failed| rule.position_of(failed).unwrap_or(u32::MAX))
}

impl Condition {
    /// Numbers this condition's leaf tests among `distinct`, the distinct leaf tests of the
    /// policy seen so far (adding the new ones, up to [`MAX_LEAVES`]; a test past them is
    /// worked out each time). A decision works out each distinct test once, however many
    /// offers' rules ask it. **O(leaves × distinct)**, once, at compile time.
    pub(crate) fn number_leaves(&mut self, distinct: &mut Vec<Condition>) {
        match self {
            Condition::All(children) | Condition::Any { children, .. } => {
                for child in children {
                    child.number_leaves(distinct);
                }
            }
            Condition::Not { inner, .. } => inner.number_leaves(distinct),
            Condition::Attribute { .. }
            | Condition::Activity { .. }
            | Condition::Moment { .. }
            | Condition::LifetimeValue { .. }
            | Condition::Segment { .. } => {
                let this = &*self;
                let id = match distinct.iter().position(|d| d.same_test(this)) {
                    Some(id) => id,
                    None if distinct.len() < MAX_LEAVES => {
                        distinct.push(this.clone());
                        distinct.len() - 1
                    }
                    None => return,
                };
                if let Some(slot) = self.leaf_mut() {
                    // Below MAX_LEAVES, which fits a u32.
                    *slot = u32::try_from(id).unwrap_or(NO_LEAF);
                }
            }
        }
    }

    fn leaf_mut(&mut self) -> Option<&mut u32> {
        match self {
            Condition::Attribute { leaf, .. }
            | Condition::Activity { leaf, .. }
            | Condition::Moment { leaf, .. }
            | Condition::LifetimeValue { leaf, .. }
            | Condition::Segment { leaf, .. } => Some(leaf),
            Condition::All(_) | Condition::Any { .. } | Condition::Not { .. } => None,
        }
    }

    /// Whether two leaves test the same thing (their paths aside).
    fn same_test(&self, other: &Condition) -> bool {
        match (self, other) {
            (
                Condition::Attribute { index, test, .. },
                Condition::Attribute {
                    index: other_index,
                    test: other_test,
                    ..
                },
            ) => index == other_index && test == other_test,
            (
                Condition::Activity {
                    activity,
                    category_id,
                    within,
                    ..
                },
                Condition::Activity {
                    activity: other_activity,
                    category_id: other_category,
                    within: other_within,
                    ..
                },
            ) => {
                activity == other_activity
                    && category_id == other_category
                    && within == other_within
            }
            (
                Condition::Moment {
                    name, within_days, ..
                },
                Condition::Moment {
                    name: other_name,
                    within_days: other_days,
                    ..
                },
            ) => name == other_name && within_days == other_days,
            (
                Condition::LifetimeValue {
                    at_least, at_most, ..
                },
                Condition::LifetimeValue {
                    at_least: other_least,
                    at_most: other_most,
                    ..
                },
            ) => at_least == other_least && at_most == other_most,
            (Condition::Segment { name, .. }, Condition::Segment { name: other, .. }) => {
                name == other
            }
            _ => false,
        }
    }
}
