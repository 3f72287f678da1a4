//! Header work on whole messages: the trace header (RFC 5321 §4.4), dates
//! (RFC 5322 §3.3), Message-ID (RFC 5322 §3.6.4), the header fields as
//! RFC 5322 §2.2 reads them, and the originator fields of a submitted
//! message (From, Sender, Resent-From, Resent-Sender; §3.6.2, §3.6.6).

use std::time::{SystemTime, UNIX_EPOCH};

use tidings_types::civil::civil_from_days;

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

/// Whether the header section has a field named `name` (case-insensitive,
/// read as [`header_fields`] does; a malformed section counts as having it,
/// so nothing is added to a message that is refused anyway).
pub fn has_header(raw: &[u8], name: &str) -> bool {
    header_fields(raw).map_or(true, |fields| {
        fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// The loop-relevant trace of a header section: how many `Received:`
/// fields it has (RFC 5321 §6.3 hop count) and the addresses in its
/// `Delivered-To:` fields (lowercased). A plain line scan, so that a
/// malformed section is still counted.
pub fn trace_fields(header: &[u8]) -> (usize, Vec<String>) {
    let section = header_section(header);
    let mut received = 0;
    let mut delivered_to = Vec::new();
    for line in section.split(|&b| b == b'\n') {
        let starts =
            |name: &[u8]| line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name);
        if starts(b"received:") {
            received += 1;
        } else if starts(b"delivered-to:") {
            let value = String::from_utf8_lossy(&line[b"delivered-to:".len()..]);
            let value = value.trim().trim_start_matches('<').trim_end_matches('>');
            delivered_to.push(value.to_lowercase());
        }
    }
    (received, delivered_to)
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

/// One header field of a message: its name as written (without any
/// whitespace before the colon) and its unfolded-as-sent value (after the
/// colon, continuation lines included, line ends kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// Why a header section cannot be read as RFC 5322 fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedHeader;

/// The header fields of `raw` as RFC 5322 §2.2 reads them: a field starts
/// with a name of printable ASCII but `:` (§3.6.8 `ftext`), then optional
/// spaces or tabs before the colon (the obsolete syntax of §4.5.3, which a
/// receiver must accept: mail readers do), then the value; lines that
/// start with a space or tab continue the field before them (§2.2.3
/// folding). A line that is neither is not a header field: the whole
/// section is refused rather than guessed at.
pub fn header_fields(raw: &[u8]) -> Result<Vec<Field<'_>>, MalformedHeader> {
    let section = header_section(raw);
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    // (start of name, end of name, start of value, end of field)
    let mut current: Option<(usize, usize, usize, usize)> = None;
    while pos < section.len() {
        let end = section[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(section.len(), |i| pos + i + 1);
        let line = &section[pos..end];
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if content.is_empty() {
            break; // the empty line that ends the section
        }
        if matches!(content[0], b' ' | b'\t') {
            // A continuation line: part of the field before it.
            let Some(field) = current.as_mut() else {
                return Err(MalformedHeader);
            };
            field.3 = end;
        } else {
            let name_len = content
                .iter()
                .position(|&b| !(33..=126).contains(&b) || b == b':')
                .unwrap_or(content.len());
            let mut colon = name_len;
            while matches!(content.get(colon), Some(b' ' | b'\t')) {
                colon += 1;
            }
            if name_len == 0 || content.get(colon) != Some(&b':') {
                return Err(MalformedHeader);
            }
            if let Some((s, n, v, e)) = current.take() {
                fields.push(Field {
                    name: &section[s..n],
                    value: &section[v..e],
                });
            }
            current = Some((pos, pos + name_len, pos + colon + 1, end));
        }
        pos = end;
    }
    if let Some((s, n, v, e)) = current {
        fields.push(Field {
            name: &section[s..n],
            value: &section[v..e],
        });
    }
    Ok(fields)
}

/// The originator fields of a submitted message (RFC 5322 §3.6.2, §3.6.6)
/// and the addresses in them, lowercased.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Originators {
    /// The From: field's addresses (one field).
    pub from: Vec<String>,
    /// Every address of From, Sender, Resent-From and Resent-Sender.
    pub all: Vec<String>,
}

/// Why a submitted message's originator fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginatorError {
    #[error("the header section is malformed (RFC 5322 §2.2)")]
    Malformed,
    #[error("the message needs exactly one From: field (RFC 5322 §3.6)")]
    FromCount,
    #[error("the message may have at most one Sender: field (RFC 5322 §3.6)")]
    SenderCount,
    #[error("the {0} field has no address")]
    NoAddress(&'static str),
}

/// Reads From, Sender, Resent-From and Resent-Sender as a reader would:
/// names compared without case and with the obsolete space before the
/// colon, values unfolded. Exactly one From and at most one Sender
/// (RFC 5322 §3.6); each present field must hold an address.
pub fn originators(raw: &[u8]) -> Result<Originators, OriginatorError> {
    let fields = header_fields(raw).map_err(|_| OriginatorError::Malformed)?;
    let named = |name: &str| {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .collect::<Vec<_>>()
    };
    let from = named("From");
    if from.len() != 1 {
        return Err(OriginatorError::FromCount);
    }
    if named("Sender").len() > 1 {
        return Err(OriginatorError::SenderCount);
    }
    let mut out = Originators::default();
    for (name, label) in [
        ("From", "From"),
        ("Sender", "Sender"),
        ("Resent-From", "Resent-From"),
        ("Resent-Sender", "Resent-Sender"),
    ] {
        for field in named(name) {
            let addresses = field_addresses(field.value);
            if addresses.is_empty() {
                return Err(OriginatorError::NoAddress(label));
            }
            if name == "From" {
                out.from.clone_from(&addresses);
            }
            out.all.extend(addresses);
        }
    }
    Ok(out)
}

/// The addresses of one address-list field value, lowercased (parsed by
/// mail-parser as the value of a From: field, groups included).
fn field_addresses(value: &[u8]) -> Vec<String> {
    let mut one = b"From:".to_vec();
    one.extend_from_slice(value);
    if !one.ends_with(b"\n") {
        one.extend_from_slice(b"\r\n");
    }
    one.extend_from_slice(b"\r\n");
    let Some(message) = mail_parser::MessageParser::new().parse_headers(&one) else {
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
        assert_eq!(originators(raw).unwrap().from, ["ann@example.org"]);
        assert_eq!(header_section(b"A: b\n\nbody"), b"A: b\n");
    }

    #[test]
    fn fields_as_rfc_5322_reads_them() {
        let raw = b"From : Boss <boss@x.test>\r\nSubject: a\r\n b\r\nX-Y\t:z\r\n\r\nFrom: body\r\n";
        let f = header_fields(raw).unwrap();
        let names: Vec<&[u8]> = f.iter().map(|f| f.name).collect();
        assert_eq!(names, [&b"From"[..], b"Subject", b"X-Y"]);
        assert_eq!(f[1].value, b" a\r\n b\r\n");
        assert_eq!(f[2].value, b"z\r\n");
        assert_eq!(
            header_fields(b"From: a@b\nno colon here\n\nbody"),
            Err(MalformedHeader)
        );
        assert_eq!(
            header_fields(b" leading: fold\r\n\r\n"),
            Err(MalformedHeader)
        );
        assert_eq!(header_fields(b": no name\r\n\r\n"), Err(MalformedHeader));
        assert!(has_header(b"date :x\r\n\r\n", "Date"));
    }

    #[test]
    fn originator_fields() {
        let o = |raw: &[u8]| originators(raw);
        assert_eq!(
            o(b"From : Boss <boss@x.test>\r\nfrom: a@x.test\r\n\r\n"),
            Err(OriginatorError::FromCount)
        );
        assert_eq!(o(b"Subject: x\r\n\r\n"), Err(OriginatorError::FromCount));
        assert_eq!(
            o(b"From: a@x.test\r\nSender: a@x.test\r\nSENDER: a@x.test\r\n\r\n"),
            Err(OriginatorError::SenderCount)
        );
        assert_eq!(
            o(b"From: undisclosed:;\r\n\r\n"),
            Err(OriginatorError::NoAddress("From"))
        );
        let got = o(
            b"From: A <a@X.test>, b@x.test\r\nSender: Boss\r\n <boss@x.test>\r\n\
            Resent-From: r@x.test\r\nResent-Sender : rs@x.test\r\nResent-From: r2@x.test\r\n\r\n",
        )
        .unwrap();
        assert_eq!(got.from, ["a@x.test", "b@x.test"]);
        assert_eq!(
            got.all,
            [
                "a@x.test",
                "b@x.test",
                "boss@x.test",
                "r@x.test",
                "r2@x.test",
                "rs@x.test"
            ]
        );
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
