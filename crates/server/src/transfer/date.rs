//! The three date forms mail files and IMAP use for a message's arrival
//! (INTERNALDATE), to and from Unix seconds, in UTC: the mbox `From ` line's
//! `asctime` form (`Sat Jan  3 01:05:34 1996`, optionally with a numeric
//! zone), and IMAP's `date-time` (RFC 9051 §9: `17-Jul-1996 02:44:25 -0700`).

use tidings_types::civil::{civil_from_days, days_from_civil};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

fn month(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

/// `hh:mm:ss` (seconds optional) as seconds of the day.
fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    (parts.next().is_none() && h < 24 && m < 60 && sec < 61).then_some(h * 3600 + m * 60 + sec)
}

/// A numeric zone `+hhmm` / `-hhmm` as seconds east of UTC.
fn zone(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    Some(sign * ((n / 100) * 3600 + (n % 100) * 60))
}

fn to_unix(y: i64, mo: u32, d: u32, secs: i64, zone: i64) -> Option<i64> {
    (1..=31).contains(&d).then_some(())?;
    Some(days_from_civil(y, i64::from(mo), i64::from(d)) * 86_400 + secs - zone)
}

/// The date of an mbox `From ` line (the whole line, with or without the
/// `From ` and the newline): `From sender Sat Jan  3 01:05:34 1996`, the
/// year and a numeric zone in either order after the time. `None` when
/// there is no such date (the line is still a separator).
pub fn parse_from_line(line: &str) -> Option<i64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // The month is the first word that names one, after "From" and the sender.
    let at = words.iter().skip(1).position(|w| month(w).is_some())? + 1;
    let mo = month(words[at])?;
    let d: u32 = words.get(at + 1)?.parse().ok()?;
    let secs = time_of_day(words.get(at + 2)?)?;
    let mut year = None;
    let mut offset = 0;
    for w in words.iter().skip(at + 3).take(3) {
        if let Some(z) = zone(w) {
            offset = z;
        } else if w.len() == 4
            && let Ok(y) = w.parse::<i64>()
        {
            year = Some(y);
        }
    }
    to_unix(year?, mo, d, secs, offset)
}

/// Unix seconds as the `asctime` date of an mbox `From ` line, in UTC.
pub fn format_from_line_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        y
    )
}

/// An IMAP `date-time` (RFC 9051 §9), without its quotes.
pub fn parse_imap(s: &str) -> Option<i64> {
    let (date, rest) = s.trim().split_once(' ')?;
    let (time, z) = rest.trim().split_once(' ')?;
    let mut parts = date.trim().split('-');
    let d: u32 = parts.next()?.trim().parse().ok()?;
    let mo = month(parts.next()?)?;
    let y: i64 = parts.next()?.parse().ok()?;
    to_unix(y, mo, d, time_of_day(time)?, zone(z.trim())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_line_dates_round_trip() {
        assert_eq!(format_from_line_date(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(
            parse_from_line("From MAILER-DAEMON Thu Jan  1 00:00:00 1970"),
            Some(0)
        );
        for t in [820_631_134, 1_700_000_000, 951_782_400, 4_102_444_799] {
            let line = format!("From a@b {}", format_from_line_date(t));
            assert_eq!(parse_from_line(&line), Some(t), "{line}");
        }
        assert_eq!(
            parse_from_line("From x Sat Jan  3 01:05:34 +0100 1996"),
            Some(820_631_134 - 3600)
        );
        assert_eq!(
            parse_from_line("From x@y Sat Jan 3 01:05:34 1996 -0000"),
            Some(820_631_134)
        );
        assert_eq!(parse_from_line("From x@y no date"), None);
    }

    #[test]
    fn imap_dates() {
        assert_eq!(parse_imap("17-Jul-1996 02:44:25 -0700"), Some(837_596_665));
        assert_eq!(parse_imap(" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_imap("1-Foo-1970 00:00:00 +0000"), None);
    }
}
