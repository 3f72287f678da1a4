//! Header work on whole messages: the trace header (RFC 5321 §4.4), dates
//! (RFC 5322 §3.3), Message-ID (RFC 5322 §3.6.4), the From: addresses of a
//! submitted message.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An RFC 5322 §3.3 date-time in UTC: `Mon, 23 Nov 2026 19:57:33 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0).min(11)];
    format!(
        "{weekday}, {d} {month} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `n` random bytes as lowercase hex (ids that must not be guessable).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: fall back on the clock, still unique enough for ids.
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The header section of a message (up to the first empty line).
pub fn header_section(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// Whether the header section has a field named `name` (case-insensitive).
pub fn has_header(raw: &[u8], name: &str) -> bool {
    header_section(raw)
        .split(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b" ") && !line.starts_with(b"\t"))
        .any(|line| {
            line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        })
}

/// Removes the Authentication-Results fields that claim to come from
/// `authserv_id` (RFC 8601 §5: a receiver must not trust, and should
/// remove, such fields arriving from outside: they may be forged).
/// Returns the message unchanged when there are none.
pub fn strip_authentication_results(raw: Vec<u8>, authserv_id: &str) -> Vec<u8> {
    let header_len = header_section(&raw).len();
    // Fields: a line and its continuation lines.
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < header_len {
        let end = raw[pos..header_len]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header_len, |i| pos + i + 1);
        let continuation = matches!(raw.get(pos), Some(b' ' | b'\t'));
        match fields.last_mut() {
            Some(last) if continuation => last.1 = end,
            _ => fields.push((pos, end)),
        }
        pos = end;
    }
    let forged = |(start, end): &(usize, usize)| {
        let field = &raw[*start..*end];
        let name = b"authentication-results:";
        if field.len() < name.len() || !field[..name.len()].eq_ignore_ascii_case(name) {
            return false;
        }
        let value = String::from_utf8_lossy(&field[name.len()..]);
        let id = value
            .trim_start()
            .split(|c: char| c == ';' || c.is_whitespace())
            .next()
            .unwrap_or("");
        id.eq_ignore_ascii_case(authserv_id)
    };
    if !fields.iter().any(forged) {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len());
    for f in fields.iter().filter(|f| !forged(f)) {
        out.extend_from_slice(&raw[f.0..f.1]);
    }
    out.extend_from_slice(&raw[header_len..]);
    out
}

/// The addresses in the From: field (RFC 5322 §3.6.2), lowercased; empty
/// when there is none or it does not parse.
pub fn from_addresses(raw: &[u8]) -> Vec<String> {
    let Some(message) = mail_parser::MessageParser::new().parse_headers(raw) else {
        return Vec::new();
    };
    message
        .from()
        .map(|from| {
            from.iter()
                .filter_map(|a| a.address())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// The number of From: fields (RFC 5322 §3.6: exactly one).
pub fn from_field_count(raw: &[u8]) -> usize {
    header_section(raw)
        .split(|&b| b == b'\n')
        .filter(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"from:"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_463_853),
            "Mon, 23 Nov 2026 19:57:33 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn headers() {
        let raw = b"From: Ann <Ann@Example.org>\r\nSubject: hi\r\n continued\r\n\r\nDate: not a header\r\n";
        assert!(has_header(raw, "subject"));
        assert!(!has_header(raw, "date"));
        assert!(!has_header(raw, "continued"));
        assert_eq!(from_addresses(raw), ["ann@example.org"]);
        assert_eq!(from_field_count(raw), 1);
        assert_eq!(header_section(b"A: b\n\nbody"), b"A: b\n");
    }

    #[test]
    fn forged_authentication_results_are_removed() {
        let raw = b"Authentication-Results: mx.example.org;\r\n\tdkim=pass header.d=bank.test\r\n\
            Authentication-Results: other.test; spf=fail\r\n\
            Subject: x\r\n\r\nAuthentication-Results: mx.example.org; body\r\n"
            .to_vec();
        let out = strip_authentication_results(raw, "MX.example.org");
        assert_eq!(
            out,
            b"Authentication-Results: other.test; spf=fail\r\nSubject: x\r\n\r\n\
              Authentication-Results: mx.example.org; body\r\n"
        );
        let clean = b"Subject: y\r\n\r\nz".to_vec();
        assert_eq!(
            strip_authentication_results(clean.clone(), "mx.example.org"),
            clean
        );
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_hex(8), random_hex(8));
        assert_eq!(random_hex(8).len(), 16);
    }
}
