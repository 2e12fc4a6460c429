//! The one place the rules are judged: consent and the customer's choices, caps, spacing,
//! quiet hours and the customer's own frequency preferences, against a compact history.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Attempt, Reason, Verdict};
use crate::channel::{kind, MessageClass, KINDS};
use crate::customer::{Consent, Customer};
use crate::error::InputError;
use crate::ledger::history::Contact;
use crate::policy::{Check, CheckSource, Checks, CompiledPolicy, RuleRef, WeekMask, Window};
use crate::time::Stamp;

/// Jumps from one blocking rule's release to the next before giving up (fail closed). Each jump
/// passes a contact, a quiet span or a period boundary, so real policies settle in a few.
const MAX_ROUNDS: usize = 64;

/// What blocks an attempt at one time: the latest release, and the reasons if asked for.
struct Blocks<'r> {
    until: Option<Stamp>,
    reasons: Option<&'r mut Vec<Reason>>,
}

impl Blocks<'_> {
    #[inline]
    fn add(&mut self, free: Stamp, reason: impl FnOnce() -> Reason) {
        self.until = self.until.max(Some(free));
        // Reasons are built only when asked for: the allowed path allocates nothing.
        if let Some(reasons) = self.reasons.as_deref_mut() {
            reasons.push(reason());
        }
    }
}

/// The counted state of one check at one time.
struct CapCount {
    /// The newest in-scope contact after the time judged, if any.
    later: Option<Stamp>,
    /// The contact that brought the count to the limit, if one did (for a limit of one, as
    /// spacing rules have, the newest in the window).
    limit_reached_by: Option<Stamp>,
    count: u32,
    /// When the cap stops blocking, if it blocks.
    frees_at: Option<Stamp>,
}

/// Everything about one attempt by one customer that does not depend on history: built once
/// per call (outside any lock), then asked about one or more instants.
pub(crate) struct Judge<'a> {
    policy: &'a CompiledPolicy,
    customer: &'a Customer,
    attempt: Attempt<'a>,
    zone: Tz,
    topic: u16,
    /// The attempt's channel and class, as an index of the policy's per-kind tables.
    kind: usize,
    snoozed_until: Option<Stamp>,
    /// The policy's caps and spacing rules without a topic for the attempt's kind, then those
    /// scoped to the attempt's topic (all kinds: filtered when judged).
    checks: &'a Checks,
    topic_checks: &'a Checks,
}

fn stamp_ceil(time: DateTime<Utc>) -> Stamp {
    let whole = time.timestamp() + i64::from(time.timestamp_subsec_nanos() > 0);
    Stamp::saturating_from_secs(whole)
}

/// Refuses frequency preferences the policy cannot judge exactly.
#[cold]
fn check_preferences(policy: &CompiledPolicy, customer: &Customer) -> Result<(), InputError> {
    for (index, pref) in customer.frequency_preferences.iter().enumerate() {
        let problem = if policy.preference_max_limit == 0 {
            Some("the policy takes no frequency preferences (preferences.max_limit = 0)".to_owned())
        } else if pref.window.reach_secs() > policy.preference_max_reach {
            Some(format!(
                "window {} reaches further back than the policy's preferences.max_window",
                pref.window
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(InputError::Preference {
                customer: customer.id,
                index,
                problem,
            });
        }
    }
    Ok(())
}

impl<'a> Judge<'a> {
    /// Validates what the customer and the attempt bring (topic, preferences).
    #[inline(always)]
    pub(crate) fn new(
        policy: &'a CompiledPolicy,
        customer: &'a Customer,
        attempt: Attempt<'a>,
    ) -> Result<Self, InputError> {
        let (topic, hash) = policy.topic_identity(attempt.topic)?;
        let marketing = attempt.class == MessageClass::Marketing;
        if marketing && !customer.frequency_preferences.is_empty() {
            check_preferences(policy, customer)?;
        }
        let kind = usize::from(kind(attempt.channel, attempt.class));
        Ok(Judge {
            checks: &policy.checks_by_kind[kind],
            topic_checks: policy.topic_rules(topic, hash),
            policy,
            customer,
            attempt,
            zone: customer.time_zone.unwrap_or(policy.default_zone),
            topic,
            kind,
            snoozed_until: customer
                .marketing_snoozed_until
                .filter(|_| marketing)
                .map(stamp_ceil),
        })
    }

    /// The attempt's topic key.
    pub(crate) fn topic(&self) -> u16 {
        self.topic
    }

    /// Reasons that no amount of waiting lifts: do-not-contact, consent, unsubscribes.
    fn permanent_reasons(&self) -> Vec<Reason> {
        let mut reasons = Vec::new();
        let customer = self.customer;
        if self.attempt.class == MessageClass::Service {
            return reasons;
        }
        if customer.do_not_contact {
            reasons.push(Reason::DoNotContact);
        }
        if self.attempt.class == MessageClass::Marketing {
            let consent = customer.consents.get(self.attempt.channel);
            if consent != Consent::OptedIn {
                reasons.push(Reason::NoConsent {
                    channel: self.attempt.channel,
                    consent,
                });
            }
            if let Some(topic) = self
                .attempt
                .topic
                .filter(|t| customer.is_unsubscribed_from(t))
            {
                reasons.push(Reason::Unsubscribed {
                    topic: topic.to_owned(),
                });
            }
        }
        reasons
    }

    /// Whether a reason that no amount of waiting lifts applies: the yes-or-no of
    /// [`Judge::permanent_reasons`], without building them.
    #[inline]
    fn permanently_blocked(&self) -> bool {
        let customer = self.customer;
        let blocked = match self.attempt.class {
            MessageClass::Service => false,
            MessageClass::Transactional => customer.do_not_contact,
            MessageClass::Marketing => {
                customer.do_not_contact
                    || customer.consents.get(self.attempt.channel) != Consent::OptedIn
                    || self
                        .attempt
                        .topic
                        .is_some_and(|topic| customer.is_unsubscribed_from(topic))
            }
        };
        debug_assert_eq!(blocked, !self.permanent_reasons().is_empty());
        blocked
    }

    /// Whether the attempt is allowed at `now` on a ledger whose clock has not passed `now`:
    /// the same answer as `verdict(..) == Verdict::Allowed` there, without building reasons.
    #[inline]
    pub(crate) fn allows(&self, history: &[Contact], now: Stamp) -> bool {
        self.allows_alike(history, now, self.all_alike(history))
    }

    /// [`Judge::allows`] for a history known to be all of the attempt's kind and topic, or not
    /// (`alike`): the ledger's usual reserve works that out once for the judgment and the
    /// append.
    #[inline]
    pub(crate) fn allows_alike(&self, history: &[Contact], now: Stamp, alike: bool) -> bool {
        debug_assert_eq!(alike, self.all_alike(history));
        !self.permanently_blocked() && self.passes(history, now, alike)
    }

    /// Whether any rule that counts history applies: a cap, a spacing rule or a preference.
    fn counts_history(&self) -> bool {
        let covers = |check: &Check| self.covers(check);
        !(self.checks.all().is_empty()
            && self.preferences().next().is_none()
            && !self.topic_checks.all().iter().any(covers))
    }

    /// The customer's frequency preferences that apply to a marketing attempt, as checks.
    fn preferences(&self) -> impl Iterator<Item = Check> + '_ {
        let policy = self.policy;
        let channel = self.attempt.channel;
        let marketing = self.attempt.class == MessageClass::Marketing;
        let preferences = if marketing {
            &self.customer.frequency_preferences[..]
        } else {
            &[]
        };
        preferences
            .iter()
            .enumerate()
            .filter(move |(_, pref)| pref.channel.is_none_or(|c| c == channel))
            .map(move |(index, pref)| Check {
                scope: policy.preference_scope(pref.channel),
                // A looser limit than the ledger keeps history for is judged as the strictest
                // it can judge exactly: tighter than asked, never looser.
                limit: pref.limit.get().min(policy.preference_max_limit),
                window: pref.window,
                // Only explanations read the index; no customer has four billion preferences.
                source: CheckSource::Preference(u32::try_from(index).unwrap_or(u32::MAX)),
            })
    }

    /// Whether a check's scope covers the attempt's channel and class.
    #[inline(always)]
    fn covers(&self, check: &Check) -> bool {
        check.scope.kinds() & (1 << self.kind) != 0
    }

    /// Judges one check at `at`, adding it to `blocks` if it blocks.
    #[inline(always)]
    fn judge_check(&self, history: &[Contact], check: &Check, at: Stamp, blocks: &mut Blocks<'_>) {
        let counted = self.count(history, check, at);
        if let Some(frees_at) = counted.frees_at {
            blocks.add(frees_at, || self.reason(check, &counted, frees_at));
        }
    }

    /// Why `check` blocks, as counted.
    #[cold]
    fn reason(&self, check: &Check, counted: &CapCount, frees_at: Stamp) -> Reason {
        let rule = self.rule(check.source);
        match (counted.later, check.source) {
            (Some(later), _) => Reason::LaterContact {
                rule,
                at: later.to_utc(),
            },
            (None, CheckSource::Spacing(_)) => Reason::TooSoon {
                rule,
                // A spacing rule without a later contact blocks only after one in its window.
                last: counted.limit_reached_by.unwrap_or(frees_at).to_utc(),
                frees_at: frees_at.to_utc(),
            },
            (None, _) => Reason::CapReached {
                rule,
                count: counted.count,
                limit: check.limit,
                window: check.window,
                frees_at: frees_at.to_utc(),
            },
        }
    }

    /// The first second `check`'s window counts at `at`, and for a calendar window the start
    /// of the next period.
    #[inline(always)]
    fn window(&self, check: &Check, at: Stamp) -> (Stamp, Option<Stamp>) {
        match check.window {
            Window::Rolling { seconds } => (Stamp(at.0.saturating_sub(seconds.get() - 1)), None),
            Window::Calendar(period) => {
                let (start, end) = period.bounds(self.zone, at);
                (start, Some(end))
            }
        }
    }

    /// Counts the check's scope in its window at `at`: **O(contacts in the window)**.
    #[inline(always)]
    fn count(&self, history: &[Contact], check: &Check, at: Stamp) -> CapCount {
        let (start, period_end) = self.window(check, at);
        let mut later = None;
        let mut count = 0;
        let mut limit_reached_by = None;
        // Newest first: contacts after `at` (the clock went back), then those in the window.
        for contact in history.iter().rev() {
            if contact.at < start {
                break;
            }
            if !check.scope.counts(contact) {
                continue;
            }
            if contact.at > at {
                later.get_or_insert(contact.at);
                continue;
            }
            count += 1;
            if count == check.limit {
                limit_reached_by = Some(contact.at);
            }
        }
        let frees_at = match (later, limit_reached_by) {
            (Some(later), _) => Some(later),
            (None, Some(oldest_counted)) => {
                Some(period_end.unwrap_or_else(|| oldest_counted.plus(check.window.reach_secs())))
            }
            (None, None) => None,
        };
        CapCount {
            later,
            limit_reached_by,
            count,
            frees_at,
        }
    }

    fn rule(&self, source: CheckSource) -> RuleRef {
        match source {
            CheckSource::Cap(i) => self.policy.caps[usize::from(i)].rule.clone(),
            CheckSource::Spacing(i) => self.policy.spacings[usize::from(i)].rule.clone(),
            CheckSource::Preference(i) => RuleRef {
                path: format!("customer.frequency_preferences[{i}]"),
                name: Some("customer's own preference".to_owned()),
            },
        }
    }

    fn quiet_mask(&self) -> Option<&'a WeekMask> {
        self.policy.quiet_by_kind[self.kind].map(|id| &self.policy.quiet_masks[usize::from(id)])
    }

    /// The snooze that holds back an attempt at `at`, if one does.
    #[inline(always)]
    fn snoozed_at(&self, at: Stamp) -> Option<Stamp> {
        self.snoozed_until.filter(|snooze| *snooze > at)
    }

    /// Walks every check that counts history, in the order reasons are given: the policy's caps
    /// (without a topic, then the topic's), the customer's preferences, the policy's spacing
    /// rules (likewise). Stops at the first `Break`. The general path's list of such rules; the
    /// quick pass walks the same three sources (the kind's checks, the topic's checks that
    /// cover the kind, the preferences) in another order ([`Judge::all_checks_pass`]): a
    /// source added to one must be added to the other (debug builds compare their answers on
    /// every judgment).
    #[inline(always)]
    fn try_for_each_check<B>(
        &self,
        mut visit: impl FnMut(&Check) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let covered = |check: &&Check| self.covers(check);
        for check in self.checks.caps() {
            visit(check)?;
        }
        for check in self.topic_checks.caps().iter().filter(covered) {
            visit(check)?;
        }
        for check in self.preferences() {
            visit(&check)?;
        }
        for check in self.checks.spacings() {
            visit(check)?;
        }
        for check in self.topic_checks.spacings().iter().filter(covered) {
            visit(check)?;
        }
        ControlFlow::Continue(())
    }

    /// The quiet-hours rules that hold back an attempt at `at`, with the mask of all of them,
    /// or `None` when the attempt's kind is not in quiet hours then.
    #[inline(always)]
    fn quiet_rules_at(
        &self,
        at: Stamp,
    ) -> Option<(&'a WeekMask, impl Iterator<Item = &'a RuleRef> + '_)> {
        let mask = self
            .quiet_mask()
            .filter(|mask| mask.is_quiet_at(self.zone, at))?;
        let rules = self.policy.quiet_rules.iter();
        let quiet = move |(_, rule_mask, kinds): &&(RuleRef, WeekMask, [bool; KINDS])| {
            kinds[self.kind] && rule_mask.is_quiet_at(self.zone, at)
        };
        Some((mask, rules.filter(quiet).map(|(rule, _, _)| rule)))
    }

    /// Until when some rule holds back an attempt at `at`: `None` when every rule passes. Every
    /// blocking rule blocks the whole span up to its own release, so the latest release is a
    /// safe place to look next. With `reasons`, records each blocking rule.
    fn blocked_until(
        &self,
        history: &[Contact],
        at: Stamp,
        reasons: Option<&mut Vec<Reason>>,
    ) -> Option<Stamp> {
        let mut blocks = Blocks {
            until: None,
            reasons,
        };
        // Reasons come in this order: the snooze, the checks, quiet hours.
        if let Some(snooze) = self.snoozed_at(at) {
            blocks.add(snooze, || Reason::Snoozed {
                until: snooze.to_utc(),
            });
        }
        let walked: ControlFlow<()> = self.try_for_each_check(|check| {
            self.judge_check(history, check, at, &mut blocks);
            ControlFlow::Continue(())
        });
        debug_assert!(walked.is_continue());
        if let Some((mask, rules)) = self.quiet_rules_at(at) {
            let free = mask.next_free(self.zone, at);
            for rule in rules {
                blocks.add(free, || Reason::QuietHours {
                    rule: rule.clone(),
                    until: free.to_utc(),
                });
            }
        }
        blocks.until
    }

    /// Whether `check` passes at `at`: no contact in its scope after `at` (the clock went
    /// back) and fewer than its limit in its window. The yes-or-no of [`Judge::count`], without
    /// working out when a block frees up.
    #[inline(always)]
    fn check_passes(&self, history: &[Contact], check: &Check, at: Stamp) -> bool {
        let (start, _) = self.window(check, at);
        let mut count = 0;
        for contact in history.iter().rev() {
            if contact.at < start {
                break;
            }
            if check.scope.counts(contact) {
                if contact.at > at {
                    return false;
                }
                count += 1;
            }
        }
        count < check.limit
    }

    /// Whether every time-bound rule passes at `at`: the same answer as
    /// `blocked_until(..).is_none()`, cheaper since it stops at the first rule that blocks and
    /// works out no release time.
    #[inline]
    fn passes(&self, history: &[Contact], at: Stamp, alike: bool) -> bool {
        let passes = self.passes_unchecked(history, at, alike);
        debug_assert_eq!(
            passes,
            self.blocked_until(history, at, None).is_none(),
            "the quick pass and the general path disagree"
        );
        passes
    }

    /// The quick pass: the rules of [`Judge::blocked_until`], stopping at the first that
    /// blocks.
    #[inline(always)]
    fn passes_unchecked(&self, history: &[Contact], at: Stamp, alike: bool) -> bool {
        let checks_pass = || match alike {
            true => self.all_checks_pass(|check| self.alike_check_passes(history, check, at)),
            false => self.all_checks_pass(|check| self.check_passes(history, check, at)),
        };
        self.snoozed_at(at).is_none()
            && checks_pass()
            && self
                .quiet_rules_at(at)
                .is_none_or(|(_, mut rules)| rules.next().is_none())
    }

    /// Whether `passes` holds for every rule of [`Judge::try_for_each_check`] (the same three
    /// sources), taken in another order (any order gives a yes or no): the policy's caps and
    /// spacing rules as one array for all topics and one for the attempt's topic, then the
    /// customer's preferences.
    #[inline(always)]
    fn all_checks_pass(&self, passes: impl Fn(&Check) -> bool) -> bool {
        self.checks.all().iter().all(&passes)
            && self
                .topic_checks
                .all()
                .iter()
                .all(|check| !self.covers(check) || passes(check))
            && self.preferences().all(|check| passes(&check))
    }

    /// Whether every contact of `history` is of the attempt's kind and topic: the usual
    /// history of a customer contacted the same way each time (as
    /// [`Record::all_alike`](crate::ledger::history::Record::all_alike) finds it).
    #[inline(always)]
    fn all_alike(&self, history: &[Contact]) -> bool {
        history
            .iter()
            .all(|c| usize::from(c.kind()) == self.kind && c.topic == self.topic)
    }

    /// [`Judge::check_passes`] for a history whose contacts are all of the attempt's kind and
    /// topic ([`Judge::all_alike`]). Every check walked covers the
    /// attempt's kind and topic (it is the kind's, or its topic's and covers the kind, or a
    /// preference on its channel), so it counts every contact of such a history; and the
    /// history is in time order. So the check passes when its newest contact is not after
    /// `at` and its `limit`-th newest, if there are that many, is before the window's start:
    /// **O(1)**, no walk.
    #[inline(always)]
    fn alike_check_passes(&self, history: &[Contact], check: &Check, at: Stamp) -> bool {
        let (start, _) = self.window(check, at);
        let newest_not_after = history.last().is_none_or(|newest| newest.at <= at);
        // (A limit of 0, which no rule has, would look at the slot past the newest: none, so
        // the check fails, as the walk's `count < 0` does.)
        let below_limit = match history.len().checked_sub(check.limit as usize) {
            None => true,
            Some(index) => history.get(index).is_some_and(|c| c.at < start),
        };
        let passes = newest_not_after && below_limit;
        debug_assert_eq!(passes, self.check_passes(history, check, at));
        passes
    }

    /// The first instant at or after `from` at which every time-bound rule passes, if one is
    /// found within [`MAX_ROUNDS`] jumps.
    pub(crate) fn earliest(&self, history: &[Contact], from: Stamp) -> Option<Stamp> {
        let mut at = from;
        for _ in 0..MAX_ROUNDS {
            match self.blocked_until(history, at, None) {
                None => return Some(at),
                // Releases are always later than the time judged; the guard keeps the walk
                // moving even if a rule ever answered otherwise.
                Some(free) => at = free.max(at.plus(1)),
            }
        }
        None
    }

    /// The verdict for an attempt at `now` on a ledger whose clock has reached `floor`.
    /// Allocates only when something blocks.
    pub(crate) fn verdict(&self, history: &[Contact], now: Stamp, floor: Stamp) -> Verdict {
        // The swept-up-to time matters only to rules that count history.
        let floor = if floor > now && self.counts_history() {
            floor
        } else {
            Stamp(0)
        };
        let start = now.max(floor);
        if start == now && self.allows(history, now) {
            return Verdict::Allowed;
        }
        let mut reasons = self.permanent_reasons();
        if floor > now {
            reasons.push(Reason::ClockBehind {
                ledger_time: floor.to_utc(),
            });
        }
        self.blocked_until(history, start, Some(&mut reasons));
        if reasons.iter().any(|r| r.frees_at().is_none()) {
            return Verdict::Denied { reasons };
        }
        match self.earliest(history, start) {
            Some(until) => Verdict::Deferred {
                until: until.to_utc(),
                reasons,
            },
            None => Verdict::Denied { reasons },
        }
    }
}
