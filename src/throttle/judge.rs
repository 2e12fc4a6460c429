//! The one place the rules are judged: consent and the customer's choices, caps, spacing,
//! quiet hours and the customer's own frequency preferences, against a compact history.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use smallvec::SmallVec;

use super::{Attempt, Reason, Verdict};
use crate::channel::{kind, MessageClass};
use crate::customer::{Consent, Customer, FrequencyPreference};
use crate::error::InputError;
use crate::ledger::history::Contact;
use crate::policy::{CompiledPolicy, RuleRef, ScopeKey, WeekMask, Window};
use crate::time::Stamp;

/// Jumps from one blocking rule's release to the next before giving up (fail closed). Each jump
/// passes a contact, a quiet span or a period boundary, so real policies settle in a few.
const MAX_ROUNDS: usize = 64;

/// A cap as judged: a policy cap or one of the customer's preferences.
struct CapView {
    scope: ScopeKey,
    limit: u32,
    window: Window,
    source: CapSource,
}

#[derive(Clone, Copy)]
enum CapSource {
    Policy(usize),
    Preference(usize),
}

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

/// The counted state of one cap at one time.
struct CapCount {
    /// The newest in-scope contact after the time judged, if any.
    later: Option<Stamp>,
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
    /// The policy's caps and spacing rules scoped to the attempt's topic (all kinds).
    topic_caps: &'a [u16],
    topic_spacings: &'a [u16],
    /// The customer's preferences that apply: index, preference, and the limit judged.
    preferences: SmallVec<[(usize, &'a FrequencyPreference, u32); 2]>,
}

/// Calls `judge` with each index in `untopical` (rules without a topic, for the attempt's kind),
/// then each in `topical` (rules of the attempt's topic) whose scope `covers` the attempt's kind.
/// Plain loops: this runs on every judgment.
#[inline(always)]
fn each_applicable(
    untopical: &[u16],
    topical: &[u16],
    covers: impl Fn(usize) -> bool,
    mut judge: impl FnMut(usize),
) {
    for &i in untopical {
        judge(usize::from(i));
    }
    for &i in topical {
        let i = usize::from(i);
        if covers(i) {
            judge(i);
        }
    }
}

fn stamp_ceil(time: DateTime<Utc>) -> Stamp {
    let whole = time.timestamp() + i64::from(time.timestamp_subsec_nanos() > 0);
    Stamp::saturating_from_secs(whole)
}

impl<'a> Judge<'a> {
    /// Validates what the customer and the attempt bring (topic, preferences).
    #[inline]
    pub(crate) fn new(
        policy: &'a CompiledPolicy,
        customer: &'a Customer,
        attempt: Attempt<'a>,
    ) -> Result<Self, InputError> {
        let topic = policy.topic_key(attempt.topic)?;
        let marketing = attempt.class == MessageClass::Marketing;
        let mut preferences = SmallVec::new();
        if marketing {
            for (index, pref) in customer.frequency_preferences.iter().enumerate() {
                let problem = if policy.preference_max_limit == 0 {
                    Some(
                        "the policy takes no frequency preferences (preferences.max_limit = 0)"
                            .to_owned(),
                    )
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
                if pref.channel.is_none_or(|c| c == attempt.channel) {
                    // A looser limit than the ledger keeps history for is judged as the
                    // strictest it can judge exactly: tighter than asked, never looser.
                    let limit = pref.limit.get().min(policy.preference_max_limit);
                    preferences.push((index, pref, limit));
                }
            }
        }
        let (topic_caps, topic_spacings) = policy.topic_rules(topic);
        Ok(Judge {
            topic_caps,
            topic_spacings,
            policy,
            customer,
            attempt,
            zone: customer.time_zone.unwrap_or(policy.default_zone),
            topic,
            kind: usize::from(kind(attempt.channel, attempt.class)),
            snoozed_until: customer
                .marketing_snoozed_until
                .filter(|_| marketing)
                .map(stamp_ceil),
            preferences,
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

    /// Calls `judge` with the index of each of the policy's caps that apply to this attempt:
    /// those without a topic, then those of its topic (each in policy order).
    #[inline(always)]
    fn each_policy_cap(&self, judge: impl FnMut(usize)) {
        let (caps, kind) = (&self.policy.caps, self.kind);
        each_applicable(
            &self.policy.caps_by_kind[self.kind],
            self.topic_caps,
            |i| caps[i].scope.key.kinds() & (1 << kind) != 0,
            judge,
        );
    }

    /// Calls `judge` with the index of each of the policy's spacing rules that apply to this
    /// attempt, ordered as [`each_policy_cap`](Self::each_policy_cap).
    #[inline(always)]
    fn each_policy_spacing(&self, judge: impl FnMut(usize)) {
        let (spacings, kind) = (&self.policy.spacings, self.kind);
        each_applicable(
            &self.policy.spacings_by_kind[self.kind],
            self.topic_spacings,
            |i| spacings[i].scope.key.kinds() & (1 << kind) != 0,
            judge,
        );
    }

    /// Whether any rule that counts history applies: a cap, a spacing rule or a preference.
    fn counts_history(&self) -> bool {
        let mut any = !self.preferences.is_empty();
        self.each_policy_cap(|_| any = true);
        self.each_policy_spacing(|_| any = true);
        any
    }

    /// Judges one cap at `at`, adding it to `blocks` if it blocks.
    #[inline(always)]
    fn judge_cap(&self, history: &[Contact], cap: &CapView, at: Stamp, blocks: &mut Blocks<'_>) {
        let counted = self.count(history, cap, at);
        if let Some(frees_at) = counted.frees_at {
            blocks.add(frees_at, || match counted.later {
                Some(later) => Reason::LaterContact {
                    rule: self.cap_rule(cap.source),
                    at: later.to_utc(),
                },
                None => Reason::CapReached {
                    rule: self.cap_rule(cap.source),
                    count: counted.count,
                    limit: cap.limit,
                    window: cap.window,
                    frees_at: frees_at.to_utc(),
                },
            });
        }
    }

    #[inline(always)]
    fn count(&self, history: &[Contact], cap: &CapView, at: Stamp) -> CapCount {
        let (start, period_end) = match cap.window {
            Window::Rolling { seconds } => (Stamp(at.0.saturating_sub(seconds.get() - 1)), None),
            Window::Calendar(period) => {
                let (start, end) = period.bounds(self.zone, at);
                (start, Some(end))
            }
        };
        let mut later = None;
        let mut count = 0;
        let mut limit_reached_by = None;
        // Newest first: contacts after `at` (the clock went back), then those in the window.
        for contact in history.iter().rev() {
            if contact.at < start {
                break;
            }
            if !cap.scope.counts(contact) {
                continue;
            }
            if contact.at > at {
                later.get_or_insert(contact.at);
                continue;
            }
            count += 1;
            if count == cap.limit {
                limit_reached_by = Some(contact.at);
            }
        }
        let frees_at = match (later, limit_reached_by) {
            (Some(later), _) => Some(later),
            (None, Some(oldest_counted)) => {
                Some(period_end.unwrap_or_else(|| oldest_counted.plus(cap.window.reach_secs())))
            }
            (None, None) => None,
        };
        CapCount {
            later,
            count,
            frees_at,
        }
    }

    fn cap_rule(&self, source: CapSource) -> RuleRef {
        match source {
            CapSource::Policy(i) => self.policy.caps[i].rule.clone(),
            CapSource::Preference(i) => RuleRef {
                path: format!("customer.frequency_preferences[{i}]"),
                name: Some("customer's own preference".to_owned()),
            },
        }
    }

    fn quiet_mask(&self) -> Option<&'a WeekMask> {
        self.policy.quiet_by_kind[self.kind].map(|id| &self.policy.quiet_masks[usize::from(id)])
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

        if let Some(snooze) = self.snoozed_until.filter(|s| *s > at) {
            blocks.add(snooze, || Reason::Snoozed {
                until: snooze.to_utc(),
            });
        }
        let policy = self.policy;
        self.each_policy_cap(|i| {
            let cap = &policy.caps[i];
            let view = CapView {
                scope: cap.scope.key,
                limit: cap.limit.get(),
                window: cap.window,
                source: CapSource::Policy(i),
            };
            self.judge_cap(history, &view, at, &mut blocks);
        });
        for &(i, pref, limit) in &self.preferences {
            let view = CapView {
                scope: policy.preference_scope(pref.channel),
                limit,
                window: pref.window,
                source: CapSource::Preference(i),
            };
            self.judge_cap(history, &view, at, &mut blocks);
        }
        self.each_policy_spacing(|i| {
            let rule = &policy.spacings[i];
            let in_scope = |c: &&Contact| rule.scope.key.counts(c);
            let Some(newest) = history.iter().rev().find(in_scope) else {
                return;
            };
            if newest.at > at {
                blocks.add(newest.at, || Reason::LaterContact {
                    rule: rule.rule.clone(),
                    at: newest.at.to_utc(),
                });
            } else if at.0 - newest.at.0 < rule.min_gap.get() {
                let frees_at = newest.at.plus(rule.min_gap.get());
                blocks.add(frees_at, || Reason::TooSoon {
                    rule: rule.rule.clone(),
                    last: newest.at.to_utc(),
                    frees_at: frees_at.to_utc(),
                });
            }
        });
        if let Some(mask) = self.quiet_mask() {
            if mask.is_quiet_at(self.zone, at) {
                let free = mask.next_free(self.zone, at);
                for (rule, rule_mask, kinds) in &self.policy.quiet_rules {
                    if kinds[self.kind] && rule_mask.is_quiet_at(self.zone, at) {
                        blocks.add(free, || Reason::QuietHours {
                            rule: rule.clone(),
                            until: free.to_utc(),
                        });
                    }
                }
            }
        }
        blocks.until
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
        let permanent = self.permanent_reasons();
        let start = now.max(floor);
        if permanent.is_empty() && start == now && self.blocked_until(history, now, None).is_none()
        {
            return Verdict::Allowed;
        }
        let mut reasons = permanent;
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
