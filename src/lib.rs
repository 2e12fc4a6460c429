//! # cornershop
//!
//! Personalized customer outreach that never rings the doorbell all the time: contact-frequency
//! caps, quiet hours in the customer's own time zone, consent and the customer's own choices,
//! judged atomically against a compact contact ledger, with every answer explained.
//!
//! The library is pure: no threads, no network, no hidden clock. The application passes the
//! current time into every call.
//!
//! ```
//! # #[cfg(feature = "toml")] { // The example writes its policy in TOML.
//! use chrono::{TimeZone, Utc};
//! use cornershop::{Attempt, Channel, Consent, ContactLedger, Customer, IfBlocked, MemoryLedger, Policy, Verdict};
//!
//! let policy = Policy::from_toml_str(r#"
//!     time_zone = "Europe/London"
//!
//!     [[caps]]
//!     name = "two emails a week"
//!     channel = "email"
//!     limit = 2
//!     window = "7d"
//!
//!     [[quiet_hours]]
//!     start = "21:00"
//!     end = "08:00"
//! "#)?.compile()?;
//!
//! let ledger = MemoryLedger::new();
//! let ada = Customer::new(1).with_consent(Channel::Email, Consent::OptedIn);
//! let email = Attempt::marketing(Channel::Email);
//!
//! // 22:30 in London: quiet hours. Defer to the morning instead of dropping.
//! let late = Utc.with_ymd_and_hms(2026, 11, 24, 22, 30, 0).unwrap();
//! let outcome = ledger.reserve(&policy, &ada, email, IfBlocked::Defer { expires: None }, late)?;
//! let reservation = outcome.reservation.expect("deferred, then reserved");
//! assert_eq!(reservation.send_at(), Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap());
//! println!("{}", outcome.verdict); // deferred until 2026-11-25T08:00:00Z: quiet_hours[0]: …
//!
//! // The send went out: commit. (After a failed send: ledger.release(&reservation).)
//! ledger.commit(&reservation)?;
//!
//! // No consent for SMS: denied, with the reason.
//! let sms = ledger.check(&policy, &ada, Attempt::marketing(Channel::Sms), late)?;
//! assert!(matches!(sms, Verdict::Denied { .. }));
//!
//! // A service reply is never held back by marketing rules.
//! assert!(ledger.check(&policy, &ada, Attempt::service(Channel::Sms), late)?.is_allowed());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See [`policy`] for the exact semantics of caps, spacing and quiet hours.

// Library code returns errors; tests may unwrap (clippy.toml allows it there).
#![warn(clippy::unwrap_used)]

mod channel;
mod clock;
mod context;
mod customer;
mod decide;
mod error;
mod ledger;
mod local;
pub mod policy;
pub mod score;
mod throttle;
mod time;

pub use channel::{Channel, MessageClass, UnknownName};
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{Event, FeedbackTarget, Moment, Profile, Response, Summary, Value, ValueKind};
pub use customer::{Consent, Consents, Customer, CustomerId, FrequencyPreference};
pub use decide::{Candidate, Decision, Engine, Pick, Request, Stop, Trace, TraceIter};
pub use error::{Error, InputError, LedgerError, PolicyError, SnapshotError};
pub use ledger::{
    ContactLedger, ContactSnapshot, ContactState, CustomerSnapshot, LedgerSnapshot, MemoryLedger,
    Outcome, RecordedContact, RecordedKeySnapshot, Reservation,
};
pub use policy::{
    CalendarPeriod, CompiledPolicy, ConditionSpec, FailedRule, OfferSpec, ParseWindowError, Policy,
    RuleRef, Window,
};
pub use score::{Contribution, Contributions, Features, Score, Scorer, WeightedScorer};
pub use throttle::{Attempt, IfBlocked, Reason, Verdict};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_send_and_sync_and_the_ledger_trait_is_object_safe() {
        assert_send_sync::<CompiledPolicy>();
        assert_send_sync::<MemoryLedger>();
        assert_send_sync::<Engine>();
        assert_send_sync::<Decision>();
        assert_send_sync::<Box<dyn ContactLedger>>();
        let ledger: Box<dyn ContactLedger> = Box::new(MemoryLedger::new());
        assert!(!ledger.forget(CustomerId(1)).unwrap());
    }
}

/// The README's examples, compiled and run as doctests (they write policies in TOML).
#[cfg(all(doctest, feature = "toml"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
