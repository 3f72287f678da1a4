//! Dates as ActiveSync writes them: `2026-12-03T08:15:00.000Z`.

use tidings_types::civil::{civil_from_days, days_from_civil};

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` (MS-ASDTYPE §2.3).
pub(crate) fn iso(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (also the compact
/// `YYYYMMDDTHHMMSSZ` of older clients).
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 14 {
        return None;
    }
    let n = |a: usize, b: usize| digits.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_764_749_700), "2025-12-03T08:15:00.000Z");
        assert_eq!(parse_iso("2025-12-03T08:15:00.000Z"), Some(1_764_749_700));
        assert_eq!(parse_iso("20251203T081500Z"), Some(1_764_749_700));
        assert_eq!(parse_iso("2025-13-03T08:15:00Z"), None);
        assert_eq!(parse_iso("soon"), None);
    }
}
