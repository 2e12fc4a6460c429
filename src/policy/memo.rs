//! One decision's results of a policy's leaf tests, a bit per test, all worked out at once
//! before the offers are looked at ([`Memo::work_out`], following a [`LeafPlan`] made at
//! compile time).

use std::cell::Cell;

use super::eligibility::{in_segment, Activity, AttributeTest, Condition, Facts};
use super::leaves::MAX_LEAVES;
use super::range::RangeTest;

/// How many 64-bit words hold one decision's leaf results, a bit per numbered test.
const LEAF_WORDS: usize = MAX_LEAVES / 64;

/// What each distinct leaf test of the policy gave for one decision, a bit per test, all
/// worked out at once ([`Memo::work_out`]) before the offers are looked at: an offer's rule is
/// then a test of bits ([`RuleMask`](super::leaves::RuleMask)), and a test is worked out once
/// however many rules ask it. On the decision's stack (128 bytes): nothing is allocated.
///
/// The bits are cells so that the memo is worked out where it lies, in the [`Facts`] the tests
/// read (not built aside and its 128 bytes copied in).
pub(crate) struct Memo<'a> {
    /// The policy's distinct leaf tests, by id.
    tests: &'a [Condition],
    /// A bit per test, set when it holds (with `known`).
    words: [Cell<u64>; LEAF_WORDS],
    /// Whether `words` were worked out; if not, each look-up works its test out.
    known: Cell<bool>,
}

impl<'a> Memo<'a> {
    /// Nothing worked out yet, for the policy's `tests`: each look-up works its test out
    /// (for a decision whose offers never reach their rules).
    pub(crate) fn new(tests: &'a [Condition]) -> Self {
        Memo {
            tests,
            words: [const { Cell::new(0) }; LEAF_WORDS],
            known: Cell::new(false),
        }
    }

    /// Works out every test of `plan` (made from this memo's tests) against `facts` (whose
    /// own memo, which may be this one, is not used: the tests are leaves, and this memo
    /// knows nothing until every bit is set). **O(tests)**.
    pub(crate) fn work_out(&self, plan: &LeafPlan, facts: &Facts<'_>) {
        let now = facts.now;
        // The first 64 bits (a policy's usual all) are gathered in a register and stored once:
        // setting each in memory would make every test wait for the previous one's store.
        let mut low = 0u64;
        let mut set = |id: u32, holds: bool| match id {
            0..64 => low |= u64::from(holds) << id,
            _ => self.set(id, holds),
        };
        for leaf in &plan.activities {
            let holds = match facts.recent.get(leaf.category as usize) {
                Some(recent) => {
                    let last = if leaf.bought {
                        recent.purchase
                    } else {
                        recent.view
                    };
                    // As `Condition::holds`: at most `within` seconds before now.
                    last.is_some_and(|at| at.within(leaf.within, now))
                }
                // Not reached: a decision fills in every policy category.
                None => self
                    .tests
                    .get(leaf.id as usize)
                    .is_some_and(|test| test.holds(facts)),
            };
            set(leaf.id, holds);
        }
        for leaf in &plan.ranges {
            let holds = leaf.test.holds(leaf.index, facts);
            #[cfg(debug_assertions)]
            self.debug_check(leaf.id, holds, facts);
            set(leaf.id, holds);
        }
        for leaf in &plan.attributes {
            set(leaf.id, leaf.test.holds(leaf.index, facts));
        }
        for leaf in &plan.segments {
            set(leaf.id, in_segment(&leaf.name, facts));
        }
        for &id in &plan.others {
            let holds = self
                .tests
                .get(id as usize)
                .is_some_and(|test| test.holds(facts));
            set(id, holds);
        }
        self.words[0].set(self.words[0].get() | low);
        self.known.set(true);
    }

    /// Debug builds: test `id` itself says `holds`, as a second spelling of it did.
    #[cfg(debug_assertions)]
    fn debug_check(&self, id: u32, holds: bool, facts: &Facts<'_>) {
        if let Some(test) = self.tests.get(id as usize) {
            assert_eq!(
                test.holds(facts),
                holds,
                "leaf test {id} worked out two ways"
            );
        }
    }

    /// Sets test `id`'s bit if it `holds`.
    #[inline(always)]
    fn set(&self, id: u32, holds: bool) {
        let id = id as usize;
        if let Some(word) = self.words.get(id / 64) {
            word.set(word.get() | u64::from(holds) << (id % 64));
        }
    }

    /// The first 64 tests' bits (each set when its test holds), once worked out.
    #[inline]
    pub(crate) fn low(&self) -> u64 {
        self.words[0].get()
    }

    /// Whether the tests were worked out ([`Memo::work_out`]).
    #[inline]
    pub(crate) fn known(&self) -> bool {
        self.known.get()
    }

    /// Whether leaf `node` holds: from the bits if it is numbered and they are worked out,
    /// otherwise worked out now.
    pub(crate) fn holds(&self, node: &Condition, facts: &Facts<'_>) -> bool {
        match node.leaf() {
            Some(id) if self.known.get() => self.bit(id).unwrap_or_else(|| node.holds(facts)),
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
        let word = self.words.get(id / 64)?.get();
        Some(word >> (id % 64) & 1 != 0)
    }

    /// Whether test `id` holds (`None`: no such test).
    #[inline(always)]
    pub(super) fn test(&self, id: u32, facts: &Facts<'_>) -> Option<bool> {
        if self.known.get() {
            return self.bit(id);
        }
        Some(self.tests.get(id as usize)?.holds(facts))
    }
}

/// A policy's leaf tests sorted for working them out at once ([`Memo::work_out`]): the
/// `bought` / `viewed` tests (the usual kind) as plain numbers read in a tight loop, the
/// number and date ranges with their bounds unwrapped, the other attribute tests and the
/// segment tests each with what it reads (no call through the whole condition's match), and
/// the ids of the others, each worked out by its own call.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeafPlan {
    activities: Vec<ActivityLeaf>,
    ranges: Vec<RangeLeaf>,
    attributes: Vec<AttributeLeaf>,
    segments: Vec<SegmentLeaf>,
    others: Vec<u32>,
}

/// An attribute test: its id, the attribute's index (declaration order), the test.
#[derive(Debug, Clone)]
struct AttributeLeaf {
    id: u32,
    index: usize,
    test: AttributeTest,
}

/// A number or date range test: its id, the attribute's index, the bounds.
#[derive(Debug, Clone, Copy)]
struct RangeLeaf {
    id: u32,
    index: usize,
    test: RangeTest,
}

/// A segment test: its id and the segment.
#[derive(Debug, Clone)]
struct SegmentLeaf {
    id: u32,
    name: String,
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
                Condition::Attribute { index, test, .. } => match RangeTest::of(test) {
                    Some(range) => plan.ranges.push(RangeLeaf {
                        id,
                        index: *index,
                        test: range,
                    }),
                    None => plan.attributes.push(AttributeLeaf {
                        id,
                        index: *index,
                        test: test.clone(),
                    }),
                },
                Condition::Segment { name, .. } => plan.segments.push(SegmentLeaf {
                    id,
                    name: name.clone(),
                }),
                _ => plan.others.push(id),
            }
        }
        plan
    }
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    use std::cell::Cell;

    use chrono::NaiveDate;

    use super::*;
    use crate::context::{Moment, Profile, Value};
    use crate::policy::leaves::RuleMask;
    use crate::policy::{CompiledPolicy, Policy, Recent};
    use crate::time::Stamp;

    const DAY: u32 = 86_400;

    /// Offers with every rule shape: one test, `not`, `all` and `any` of tests and `not`s,
    /// a nested rule, and none.
    fn policy() -> CompiledPolicy {
        Policy::from_toml_str(
            r#"
            [attributes]
            tier = "text"

            [[offers]]
            id = "test"
            eligibility = { bought = "coffee", within = "30d" }
            [[offers]]
            id = "not"
            eligibility = { not = { segment = "vip" } }
            [[offers]]
            id = "all"
            eligibility = { all = [ { viewed = "tea", within = "10d" }, { not = { attribute = "tier", in = ["gold"] } }, { lifetime_value_at_least = 10.0 } ] }
            [[offers]]
            id = "any"
            eligibility = { any = [ { not = { bought = "coffee", within = "30d" } }, { moment = "birthday", within_days = 7 } ] }
            [[offers]]
            id = "nested"
            eligibility = { any = [ { all = [ { segment = "vip" }, { viewed = "tea", within = "10d" } ] }, { not = { bought = "tea", within = "90d" } } ] }
            [[offers]]
            id = "never"
            eligibility = { all = [ { segment = "vip" }, { not = { segment = "vip" } } ] }
            [[offers]]
            id = "always"
            eligibility = { any = [ { segment = "vip" }, { not = { segment = "vip" } } ] }
            [[offers]]
            id = "none"
            "#,
        )
        .and_then(|p| p.compile())
        .expect("a valid policy")
    }

    fn facts<'a>(
        profile: &'a Profile,
        attributes: &'a [Option<&'a Value>],
        recent: &'a [Recent],
        memo: Memo<'a>,
    ) -> Facts<'a> {
        Facts {
            profile,
            attributes,
            recent,
            now: Stamp(100 * DAY),
            today: NaiveDate::from_ymd_opt(2026, 11, 24).expect("a real date"),
            memo,
            moment_days: Cell::new(None),
        }
    }

    /// Works out every leaf test of `policy` at once for `facts` (whose memo knows nothing)
    /// and asserts that each bit is what the test itself gives.
    #[track_caller]
    fn assert_worked_out_as_each_holds(policy: &CompiledPolicy, facts: &Facts<'_>) {
        let tests = &policy.leaf_tests;
        let memo = Memo::new(tests);
        memo.work_out(&policy.leaf_plan, facts);
        for (id, test) in (0u32..).zip(tests) {
            assert_eq!(memo.bit(id), Some(test.holds(facts)), "test {id}: {test}");
        }
    }

    #[test]
    fn a_rule_mask_and_its_failed_position_agree_with_the_quick_check_on_every_result() {
        let policy = policy();
        let tests = &policy.leaf_tests;
        assert!(tests.len() <= 10, "{} tests", tests.len());
        let profile = Profile::default();
        let mut kinds = [false; 4];
        for (offer, row) in policy.offers.iter().zip(&policy.rows) {
            let quick = offer.eligibility.as_ref().map(|_| &offer.quick);
            assert_eq!(row.rule, RuleMask::of(quick), "{}", offer.id);
            kinds[match row.rule {
                RuleMask::ALWAYS => 0,
                RuleMask::All { .. } => 1,
                RuleMask::Any { .. } => 2,
                RuleMask::Other => 3,
            }] = true;
            let Some(rule) = &offer.eligibility else {
                continue;
            };
            for bits in 0..1u64 << tests.len() {
                let memo = Memo::new(tests);
                memo.words[0].set(bits);
                memo.known.set(true);
                let expected = offer.quick.check(rule, &facts(&profile, &[], &[], memo));
                match row.rule.holds(bits) {
                    Some(holds) => {
                        assert_eq!(holds, expected.is_ok(), "{} {bits:b}", offer.id);
                        assert_eq!(offer.quick.failed_at(bits), expected.err());
                    }
                    // Nested, or asking a test both ways.
                    None => assert!(["nested", "never", "always"].contains(&offer.id.as_ref())),
                }
            }
        }
        assert_eq!(kinds, [true; 4], "every kind of mask is tested");
    }

    #[test]
    fn working_out_the_tests_at_once_gives_what_each_test_gives() {
        let policy = policy();
        let tests = &policy.leaf_tests;
        let names = &policy.categories.names;
        let tier = Value::from("gold");
        for (segment, stamps) in [
            ("vip", [Some(95 * DAY), Some(99 * DAY)]),
            ("new", [Some(60 * DAY), None]),
            ("vip", [None, Some(100 * DAY + 1)]),
        ] {
            let profile = Profile {
                segments: vec![segment.to_owned()],
                moments: vec![Moment {
                    name: "birthday".to_owned(),
                    month: 11,
                    day: 27,
                }],
                ..Profile::default()
            };
            let recent: Vec<Recent> = names
                .iter()
                .enumerate()
                .map(|(i, _)| Recent {
                    purchase: stamps[i % 2].map(Stamp),
                    view: stamps[(i + 1) % 2].map(Stamp),
                })
                .collect();
            let attributes = [Some(&tier)];
            let unknown = facts(&profile, &attributes, &recent, Memo::new(tests));
            assert_worked_out_as_each_holds(&policy, &unknown);
        }
    }

    #[test]
    fn attribute_and_segment_tests_worked_out_at_once_give_what_each_test_gives() {
        let policy = Policy::from_toml_str(
            r#"
            [attributes]
            tier = "text"
            age = "number"
            since = "date"
            diets = "list"

            [[offers]]
            id = "a"
            eligibility = { all = [ { attribute = "age", at_least = 18 }, { attribute = "age", at_most = 65 }, { attribute = "since", at_most = "2022-01-01" }, { attribute = "age", at_least = 20, at_most = 40 }, { attribute = "since", at_least = "2019-01-01", at_most = "2022-06-30" } ] }
            [[offers]]
            id = "b"
            eligibility = { any = [ { attribute = "tier", in = ["gold", "silver"] }, { attribute = "tier", equals = "bronze" }, { attribute = "diets", equals = "vegan" } ] }
            [[offers]]
            id = "c"
            eligibility = { any = [ { attribute = "age", exists = false }, { attribute = "since", at_least = "2020-06-01" }, { segment = "vip" }, { not = { segment = "new" } } ] }
            "#,
        )
        .and_then(|p| p.compile())
        .expect("a valid policy");
        let tests = &policy.leaf_tests;
        let date = |y, m, d| Value::from(NaiveDate::from_ymd_opt(y, m, d).expect("a real date"));
        let values = [
            [
                Some(Value::from("gold")),
                Some(Value::from(34i64)),
                Some(date(2019, 3, 2)),
                Some(Value::from(vec!["vegan".to_owned()])),
            ],
            [
                Some(Value::from("bronze")),
                Some(Value::from(17.5)),
                Some(date(2023, 1, 1)),
                Some(Value::from(vec!["halal".to_owned()])),
            ],
            [
                None,
                Some(Value::from(f64::NAN)),
                Some(date(2022, 1, 1)),
                None,
            ],
            [
                Some(Value::from("silver")),
                Some(Value::from(65i64)),
                None,
                None,
            ],
        ];
        for (values, segment) in values.iter().zip(["vip", "new", "", "regular"]) {
            let profile = Profile {
                segments: vec![segment.to_owned()],
                ..Profile::default()
            };
            let attributes: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            let unknown = facts(&profile, &attributes, &[], Memo::new(tests));
            assert_worked_out_as_each_holds(&policy, &unknown);
        }
    }
}
