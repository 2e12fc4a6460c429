//! Eligibility rules' leaf tests (attribute, bought / viewed, moment, lifetime value, segment):
//! numbered once per policy, so that a decision works out each distinct test at most once
//! however many offers' rules ask it, and the usual rule shapes ([`Quick`]) are checked as a
//! loop over test numbers.

use std::cell::Cell;

use super::eligibility::{Condition, Facts};

/// A leaf's id before numbering, or past [`MAX_LEAVES`].
pub(crate) const NO_LEAF: u32 = u32::MAX;

/// How many distinct leaf tests a policy's rules memoize per decision, at most.
const MAX_LEAVES: usize = 1024;

/// A memoized leaf test: not worked out yet (0), holds, fails.
const HOLDS: u8 = 1;
const FAILS: u8 = 2;

/// How many leaf tests a [`MemoSlots`] holds without allocating.
const INLINE_SLOTS: usize = 64;

/// Where one decision's [`Memo`] keeps its results: on the decision's stack for up to 64
/// tests, on the heap past them. The memo borrows them as a slice, so that a look-up is one
/// bounds check.
pub(crate) struct MemoSlots {
    inline: [Cell<u8>; INLINE_SLOTS],
    heap: Vec<Cell<u8>>,
}

impl MemoSlots {
    /// Room for `tests` results, none worked out yet. Allocates only past 64 tests.
    pub(crate) fn new(tests: usize) -> Self {
        MemoSlots {
            inline: [const { Cell::new(0) }; INLINE_SLOTS],
            heap: if tests > INLINE_SLOTS {
                (0..tests).map(|_| Cell::new(0)).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// What each distinct leaf test of the policy gave for one decision, worked out on first use.
pub(crate) struct Memo<'a> {
    /// The policy's distinct leaf tests, by id.
    tests: &'a [Condition],
    /// One per test.
    results: &'a [Cell<u8>],
}

impl<'a> Memo<'a> {
    /// Nothing worked out yet, for the policy's `tests`, in `slots` (made for as many tests,
    /// and not used by another memo).
    pub(crate) fn new(tests: &'a [Condition], slots: &'a MemoSlots) -> Self {
        Memo {
            tests,
            results: slots.inline.get(..tests.len()).unwrap_or(&slots.heap),
        }
    }

    /// Whether leaf `node` holds: from the memo, or worked out (into the memo if it is
    /// numbered).
    pub(crate) fn holds(&self, node: &Condition, facts: &Facts<'_>) -> bool {
        let slot = node.leaf().and_then(|id| self.results.get(id as usize));
        match slot.map(Cell::get) {
            Some(HOLDS) => true,
            Some(FAILS) => false,
            _ => {
                let holds = node.holds(facts);
                if let Some(slot) = slot {
                    slot.set(if holds { HOLDS } else { FAILS });
                }
                holds
            }
        }
    }

    /// Whether test `id` holds (`None`: no such test).
    #[inline(always)]
    fn test(&self, id: u32, facts: &Facts<'_>) -> Option<bool> {
        let slot = self.results.get(id as usize)?;
        Some(match slot.get() {
            HOLDS => true,
            FAILS => false,
            _ => {
                let holds = self.tests.get(id as usize)?.holds(facts);
                slot.set(if holds { HOLDS } else { FAILS });
                holds
            }
        })
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
