//! Where "now" comes from. The library never reads the system clock on its own: every call that
//! depends on time takes `now`. This module is the one place that reads it, for hosts that want a
//! clock object, and offers [`ManualClock`] for tests, examples and simulations.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to. Clones share one time, so a test can hand a clone to
/// the code under test and move time forward instead of sleeping. Resolution: one millisecond.
///
/// ```
/// use cornershop::{Clock, ManualClock};
/// use chrono::{Duration, TimeZone, Utc};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap());
/// let shared = clock.clone();
/// clock.advance(Duration::hours(2));
/// assert_eq!(shared.now(), Utc.with_ymd_and_hms(2026, 11, 24, 11, 0, 0).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            millis: Arc::new(AtomicI64::new(start.timestamp_millis())),
        }
    }

    /// Sets the time (it may go backwards: that is what this clock is for).
    pub fn set(&self, now: DateTime<Utc>) {
        self.millis.store(now.timestamp_millis(), Ordering::SeqCst);
    }

    /// Moves the time by `by` (negative moves it back).
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let millis = self.millis.load(Ordering::SeqCst);
        // Out-of-range values can only come from a caller advancing past year 262143; clamp.
        DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }
}
