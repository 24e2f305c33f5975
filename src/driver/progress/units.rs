//! Byte counts as progressui prints them: `%.2f` of tonistiigi/units' `Bytes`
//! (decimal units; whole bytes below 1 kB).

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `123B`, `1.23kB`, `45.68MB`; negative counts keep their sign.
pub(crate) fn bytes(count: i64) -> String {
    let magnitude = i128::from(count).abs();
    let mut unit = 0;
    let mut base: i128 = 1;
    while unit + 1 < DECIMAL_UNITS.len() && magnitude >= base * 1000 {
        base *= 1000;
        unit += 1;
    }
    if unit == 0 {
        return format!("{count}B");
    }
    // Rust's `{:.2}` rounds the exact binary value half-to-even, like Go's `%.2f`.
    format!("{:.2}{}", count as f64 / base as f64, DECIMAL_UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn formats_like_units_bytes() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(999), "999B");
        assert_eq!(bytes(1000), "1.00kB");
        assert_eq!(bytes(1234), "1.23kB");
        assert_eq!(bytes(1235), "1.24kB", "1.235 is just above the tie in binary");
        assert_eq!(bytes(29_536_123), "29.54MB");
        assert_eq!(bytes(3_000_000_000), "3.00GB");
        assert_eq!(bytes(-1500), "-1.50kB");
        assert_eq!(bytes(i64::MAX), "9.22EB");
        assert_eq!(bytes(i64::MIN), "-9.22EB");
    }
}
