//! Eligibility rules' leaf tests (attribute, bought / viewed, moment, lifetime value, segment):
//! numbered once per policy, so that a decision works out each distinct test once however
//! many offers' rules ask it ([`Memo`](super::memo::Memo)), and the usual rule shapes
//! ([`Quick`]) are checked as a test of the results' bits ([`RuleMask`]) or a loop over test
//! numbers.

use super::eligibility::{Condition, Facts};

/// A leaf's id before numbering, or past [`MAX_LEAVES`].
pub(crate) const NO_LEAF: u32 = u32::MAX;

/// How many distinct leaf tests a policy's rules memoize per decision, at most.
pub(crate) const MAX_LEAVES: usize = 1024;

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

/// An offer's rule as a test of the first 64 leaf bits
/// ([`Memo::low`](super::memo::Memo::low)), worked out at compile time when the rule's shape
/// allows: a decision then checks it in a few instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleMask {
    /// Holds when, of the `tested` bits, exactly the `set` ones are set: every test holds and
    /// every `not` fails (a test, a `not`, an `all` of tests and `not`s; with no bits, no
    /// rule: it always holds, with no variant of its own for a decision to tell apart).
    All { tested: u64, set: u64 },
    /// Holds when one of the `tested` bits, with the `clear` ones flipped, is set: a test
    /// holds or a `not`'s test fails (an `any`).
    Any { tested: u64, clear: u64 },
    /// Another shape, or a test past the first 64: checked by [`Quick::check`].
    Other,
}

impl RuleMask {
    /// The mask of an offer with no rule: it always holds.
    pub(crate) const ALWAYS: RuleMask = RuleMask::All { tested: 0, set: 0 };

    /// The mask form of a rule of shape `quick` (`None`: no rule).
    pub(crate) fn of(quick: Option<&Quick>) -> RuleMask {
        let bit = |id: u32| 1u64.checked_shl(id).filter(|_| id < 64);
        // A test both asked and negated (`all = [x, not x]`) is left to `Quick::check`: the
        // masks test each bit one way.
        let masks = |terms: &[Term]| -> Option<(u64, u64)> {
            terms
                .iter()
                .try_fold((0, 0), |(set, clear), t| {
                    let bit = bit(t.test)?;
                    Some(if t.negated {
                        (set, clear | bit)
                    } else {
                        (set | bit, clear)
                    })
                })
                .filter(|(set, clear)| set & clear == 0)
        };
        let all = |(set, clear): (u64, u64)| RuleMask::All {
            tested: set | clear,
            set,
        };
        let shape = match quick {
            None => return RuleMask::ALWAYS,
            Some(Quick::Test(id)) => bit(*id).map(|set| all((set, 0))),
            Some(Quick::Not(id)) => bit(*id).map(|clear| all((0, clear))),
            Some(Quick::All(terms)) => masks(terms).map(all),
            Some(Quick::Any(terms)) => masks(terms).map(|(set, clear)| RuleMask::Any {
                tested: set | clear,
                clear,
            }),
            Some(Quick::Nested) => None,
        };
        shape.unwrap_or(RuleMask::Other)
    }

    /// Whether the rule holds for a decision whose first 64 tests gave `bits` (`None`: not a
    /// mask rule, ask [`Quick::check`]).
    #[inline(always)]
    pub(crate) fn holds(self, bits: u64) -> Option<bool> {
        match self {
            RuleMask::All { tested, set } => Some(bits & tested == set),
            RuleMask::Any { tested, clear } => Some((bits ^ clear) & tested != 0),
            RuleMask::Other => None,
        }
    }
}

impl Quick {
    /// Where a rule of this shape whose tests are all among the first 64 (a [`RuleMask`]
    /// rule) fails, given those tests' `bits` ([`Memo::low`](super::memo::Memo::low)): what
    /// [`Quick::check`] says, without the memo. `None` if it holds.
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
