//! RFC 3339 dates as JMAP writes them (RFC 8620 §1.4: `UTCDate` is
//! `YYYY-MM-DDTHH:MM:SSZ`), to and from Unix seconds, without a calendar
//! crate (the day arithmetic is `tidings_types::civil`).

use tidings_types::civil::{civil_from_days, days_from_civil};

/// Unix seconds as a UTCDate.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses a UTCDate (or any RFC 3339 date-time with an offset) to Unix
/// seconds; fractions of a second are dropped.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// The UTC offset of an RFC 3339 date-time, seconds east (`Z`: 0).
pub fn offset(s: &str) -> Option<i64> {
    parse(s)?;
    let tail = s.get(s.len() - 6..)?;
    let sign = match tail.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return Some(0),
    };
    let h: i64 = tail.get(1..3)?.parse().ok()?;
    let m: i64 = tail.get(4..6)?.parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// Unix seconds as an RFC 5322 §3.3 date-time in the zone `offset`
/// seconds east of UTC: `Thu, 30 Oct 2014 16:12:00 +0200`.
pub fn rfc5322(secs: i64, offset: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = secs + offset;
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.abs();
    format!(
        "{}, {d} {} {y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1).clamp(0, 11) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        off / 3600,
        off % 3600 / 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_414_678_320), "2014-10-30T14:12:00Z");
        assert_eq!(parse("2014-10-30T14:12:00Z"), Some(1_414_678_320));
        assert_eq!(parse("2014-10-30T16:12:00+02:00"), Some(1_414_678_320));
        assert_eq!(parse("2014-10-30T14:12:00.25Z"), Some(1_414_678_320));
        assert_eq!(
            parse("2000-02-29T00:00:00Z").map(utc).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(parse("2014-13-30T14:12:00Z"), None);
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn rfc5322_dates_keep_the_zone() {
        let s = "2014-10-30T16:12:00+02:00";
        let (secs, off) = (parse(s).unwrap(), offset(s).unwrap());
        assert_eq!(rfc5322(secs, off), "Thu, 30 Oct 2014 16:12:00 +0200");
        assert_eq!(rfc5322(0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(offset("2014-10-30T14:12:00Z"), Some(0));
        assert_eq!(rfc5322(0, -5400), "Wed, 31 Dec 1969 22:30:00 -0130");
    }
}
