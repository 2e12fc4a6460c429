//! What history the policy needs kept, as a table the ledger walks on every write.

use super::rules::ScopeKey;
use crate::channel::KINDS;
use crate::error::PolicyError;
use crate::ledger::history::Contact;

/// Distinct rule scopes a policy may have: one bit each in a `u64`.
pub(crate) const MAX_SCOPES: usize = 64;

/// One scope's need: its `keep` most recent contacts within `reach` seconds of the newest one.
#[derive(Debug, Clone)]
pub(crate) struct Retention {
    pub(crate) scope: ScopeKey,
    pub(crate) keep: u32,
    pub(crate) reach: u32,
}

/// Every scope's need, merged per scope, with the rules indexed by channel and class so that
/// finding the rules that count a contact is a table look-up.
#[derive(Debug, Clone)]
pub(crate) struct RetentionTable {
    pub(crate) rules: Vec<Retention>,
    /// The longest reach of any rule, in seconds: the policy's history horizon.
    pub(crate) horizon: u32,
    /// Per contact kind (channel and class): a bit per rule without a topic that counts it.
    untopical: [u64; KINDS],
    /// Rules with a topic: `(bit, scope)`.
    topical: Vec<(u32, ScopeKey)>,
}

impl RetentionTable {
    /// Merges needs per scope: keeping the most recent `max(keep)` within `max(reach)` keeps
    /// everything each of the merged needs keeps.
    pub(crate) fn new(
        needs: impl Iterator<Item = (ScopeKey, u32, u32)>,
    ) -> Result<RetentionTable, PolicyError> {
        let mut rules: Vec<Retention> = Vec::new();
        for (scope, keep, reach) in needs {
            match rules.iter_mut().find(|r| r.scope == scope) {
                Some(rule) => {
                    rule.keep = rule.keep.max(keep);
                    rule.reach = rule.reach.max(reach);
                }
                None => rules.push(Retention { scope, keep, reach }),
            }
        }
        if rules.len() > MAX_SCOPES {
            return Err(PolicyError::new(
                "caps",
                format!(
                    "the policy's caps, spacing rules and preference bounds have {} distinct scopes; at most {MAX_SCOPES} are supported",
                    rules.len()
                ),
            ));
        }
        let mut untopical = [0u64; KINDS];
        let mut topical = Vec::new();
        for (bit, rule) in rules.iter().enumerate() {
            let kinds = rule.scope.kinds();
            if rule.scope.topic != 0 {
                topical.push((bit as u32, rule.scope));
                continue;
            }
            for (kind, bits) in untopical.iter_mut().enumerate() {
                if kinds & (1 << kind) != 0 {
                    *bits |= 1 << bit;
                }
            }
        }
        Ok(RetentionTable {
            horizon: rules.iter().map(|r| r.reach).max().unwrap_or(0),
            rules,
            untopical,
            topical,
        })
    }

    /// A bit per rule whose scope counts `contact`. **O(topic rules)**.
    #[inline(always)]
    pub(crate) fn rules_counting(&self, contact: &Contact) -> u64 {
        let mut bits = self.untopical[usize::from(contact.kind())];
        for (bit, scope) in &self.topical {
            if scope.counts(contact) {
                bits |= 1 << bit;
            }
        }
        bits
    }
}
