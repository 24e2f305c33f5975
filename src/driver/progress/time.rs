//! Points and spans of time as BuildKit sends them and as Go's `time` package
//! computes and prints them, so durations round the way buildx's do.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A point in time in nanoseconds since the Unix epoch. Daemon timestamps and
/// the local clock share this type, as they share Go's `time.Time` in progressui.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UnixNanos(pub(crate) i128);

impl UnixNanos {
    /// Go's `Timestamp.AsTime`: nanoseconds outside `0..1e9` carry into the
    /// seconds instead of making the timestamp invalid.
    pub(crate) fn from_proto(ts: &Timestamp) -> Self {
        Self(i128::from(ts.seconds) * NANOS_PER_SECOND + i128::from(ts.nanos))
    }

    /// A timestamp the message left out reads as the epoch, as Go's `AsTime`
    /// of a nil timestamp does (status and log times are not optional in Go).
    pub(crate) fn from_proto_or_epoch(ts: Option<&Timestamp>) -> Self {
        ts.map(Self::from_proto).unwrap_or_default()
    }

    pub(crate) fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => Self(after.as_nanos() as i128),
            Err(before) => Self(-(before.duration().as_nanos() as i128)),
        }
    }

    /// `self - earlier` as Go's `Time.Sub`: saturated to what a `Duration` holds.
    pub(crate) fn since(self, earlier: UnixNanos) -> Span {
        let nanos = self.0 - earlier.0;
        Span(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    pub(crate) fn plus(self, span: Span) -> UnixNanos {
        UnixNanos(self.0 + i128::from(span.0))
    }

    /// Go's `time.RFC3339Nano` in UTC, which is how `encoding/json` writes a
    /// `time.Time`: fraction trimmed of trailing zeros, no fraction when zero.
    /// `None` outside the years 0–9999, where Go's `MarshalJSON` fails.
    pub(crate) fn rfc3339_nano(self) -> Option<String> {
        let seconds = i64::try_from(self.0.div_euclid(NANOS_PER_SECOND)).ok()?;
        let nanos = self.0.rem_euclid(NANOS_PER_SECOND) as u32;
        let utc = chrono::DateTime::from_timestamp(seconds, nanos)?;
        if !(0..=9999).contains(&chrono::Datelike::year(&utc)) {
            return None;
        }
        let mut out = utc.format("%Y-%m-%dT%H:%M:%S").to_string();
        if nanos != 0 {
            let fraction = format!("{nanos:09}");
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push('Z');
        Some(out)
    }
}

/// A span of time in nanoseconds, within the range of Go's `time.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span(pub(crate) i64);

impl Span {
    pub(crate) const fn from_secs(secs: i64) -> Self {
        Span(secs * 1_000_000_000)
    }

    /// Go's `Duration.Seconds`: whole seconds and the remainder are converted
    /// apart, so the float (and what `%.1f` makes of it) matches Go's.
    pub(crate) fn seconds(self) -> f64 {
        let whole = self.0 / 1_000_000_000;
        let rest = self.0 % 1_000_000_000;
        whole as f64 + rest as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: i32) -> UnixNanos {
        UnixNanos::from_proto(&Timestamp { seconds, nanos })
    }

    #[test]
    fn rfc3339_trims_the_fraction_as_go_does() {
        assert_eq!(at(1_700_000_000, 0).rfc3339_nano().as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(at(1_700_000_000, 120_000_000).rfc3339_nano().as_deref(), Some("2023-11-14T22:13:20.12Z"));
        assert_eq!(at(1_700_000_000, 1).rfc3339_nano().as_deref(), Some("2023-11-14T22:13:20.000000001Z"));
        assert_eq!(UnixNanos::default().rfc3339_nano().as_deref(), Some("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn out_of_range_nanos_carry_and_far_years_do_not_encode() {
        assert_eq!(at(10, 1_500_000_000), at(11, 500_000_000));
        assert_eq!(at(10, -1), at(9, 999_999_999));
        assert_eq!(at(i64::MAX, 0).rfc3339_nano(), None);
        assert_eq!(at(-62_167_219_201, 0).rfc3339_nano(), None, "one second before year 0");
    }

    #[test]
    fn spans_saturate_like_go_durations() {
        assert_eq!(at(i64::MAX, 0).since(at(i64::MIN, 0)), Span(i64::MAX));
        assert_eq!(at(2, 500_000_000).since(at(1, 0)).seconds(), 1.5);
    }
}
