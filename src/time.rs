//! Compact time: the ledger stores whole seconds since the Unix epoch in a `u32`.

use chrono::{DateTime, Utc};

use crate::error::InputError;

/// Seconds since 1970-01-01T00:00:00Z. Covers 1970..2106 in four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Stamp(pub(crate) u32);

impl Stamp {
    /// Converts a time, dropping sub-second precision.
    #[inline]
    pub(crate) fn from_utc(time: DateTime<Utc>) -> Result<Stamp, InputError> {
        u32::try_from(time.timestamp())
            .map(Stamp)
            .map_err(|_| InputError::TimeOutOfRange(time.to_rfc3339()))
    }

    /// The time as a `DateTime<Utc>`.
    pub(crate) fn to_utc(self) -> DateTime<Utc> {
        // Every u32 second count is a valid chrono timestamp.
        DateTime::from_timestamp(i64::from(self.0), 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether `self` is at or before `now`, by at most `secs`: "within the last `secs`".
    #[inline(always)]
    pub(crate) fn within(self, secs: u32, now: Stamp) -> bool {
        self <= now && now.0 - self.0 <= secs
    }

    /// `self + secs`, saturating at [`Stamp::MAX`].
    pub(crate) fn plus(self, secs: u32) -> Stamp {
        Stamp(self.0.saturating_add(secs))
    }

    /// The stamp for a signed second count, saturating into range.
    pub(crate) fn saturating_from_secs(secs: i64) -> Stamp {
        Stamp(secs.clamp(0, i64::from(u32::MAX)) as u32)
    }
}

/// Serialized as an RFC 3339 time, like `DateTime<Utc>`.
impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_utc().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let time = DateTime::<Utc>::deserialize(deserializer)?;
        Stamp::from_utc(time).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_whole_seconds_and_rejects_out_of_range() {
        let t = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
        assert_eq!(Stamp::from_utc(t).unwrap().to_utc(), t);
        let before = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap();
        assert!(Stamp::from_utc(before).is_err());
        let after = Utc.with_ymd_and_hms(2106, 2, 7, 6, 28, 16).unwrap();
        assert!(Stamp::from_utc(after).is_err());
        assert_eq!(Stamp(u32::MAX - 1).plus(10), Stamp(u32::MAX));
    }
}
