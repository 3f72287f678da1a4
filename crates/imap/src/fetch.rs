//! FETCH data from what the store parsed at ingest (RFC 9051 §6.4.5,
//! §7.5.2): ENVELOPE and BODYSTRUCTURE from [`EmailMeta`], and body
//! sections sliced out of the stored bytes with the part offsets the
//! store recorded. The message is never parsed again here, except for the
//! header lines of `HEADER.FIELDS`, which are split from the header slice.
//!
//! Implementation notes:
//! - Part numbers (RFC 9051 §6.4.5): a multipart's children are 1, 2, …;
//!   a non-multipart message or part has the single part 1 (itself); a
//!   `message/rfc822` part's number addresses the embedded message, whose
//!   body parts are numbered below it.
//! - `HEADER` and `TEXT` apply to the whole message or to an embedded
//!   `message/rfc822` part; `MIME` to any numbered part (its own header).
//! - Envelope strings come decoded from the store (the subject as written,
//!   RFC 3501 §7.4.2, when the store has it); non-ASCII text is sent
//!   back as an RFC 2047 `=?UTF-8?B?…?=` encoded word unless the client
//!   enabled UTF8=ACCEPT (RFC 6855 §3), when it is sent as UTF-8.

use std::borrow::Cow;

use base64::Engine;
use tidings_imap_proto::{
    Address as ImapAddress, BodyStructure, Disposition, Envelope as ImapEnvelope, Multipart,
    MultipartExt, Section, SectionText, SinglePart, SinglePartExt, SinglePartKind,
};
use tidings_store::{Address, BodyPart, EmailMeta, Envelope};

/// Header text for the client: as is when ASCII or when the client enabled
/// UTF8=ACCEPT (RFC 6855 §3), else an RFC 2047 encoded word.
fn text(s: &str, utf8: bool) -> Vec<u8> {
    if utf8 || s.is_ascii() {
        s.as_bytes().to_vec()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }
}

fn addresses(list: &[Address], utf8: bool) -> Vec<ImapAddress> {
    // The store marks a group (RFC 5322 §3.4 `team: a@x, b@y;`) with a
    // start entry (name, no address) and an end entry (neither). RFC 3501
    // §7.4.2: the start is "NIL mailbox name" — (NIL NIL "team" NIL) — and
    // the end (NIL NIL NIL NIL). A name without an address and with no end
    // entry after it is not a group; it stays a personal name.
    let last_end = list
        .iter()
        .rposition(|b| b.email.is_none() && b.name.is_none());
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let name = a.name.as_deref().filter(|n| !n.is_empty());
            if a.email.is_none() && name.is_some() && last_end.is_some_and(|end| end > i) {
                return ImapAddress {
                    name: None,
                    adl: None,
                    mailbox: name.map(|t| text(t, utf8)),
                    host: None,
                };
            }
            let (mailbox, host) = match a.email.as_deref() {
                Some(e) => match e.rsplit_once('@') {
                    Some((l, d)) => (Some(text(l, utf8)), Some(text(d, utf8))),
                    None => (Some(text(e, utf8)), None),
                },
                None => (None, None),
            };
            ImapAddress {
                name: name.map(|t| text(t, utf8)),
                adl: None,
                mailbox,
                host,
            }
        })
        .collect()
}

fn angle(id: &str, utf8: bool) -> Vec<u8> {
    text(&format!("<{id}>"), utf8)
}

/// The IMAP ENVELOPE of a stored envelope (RFC 9051 §7.5.2). Sender and
/// Reply-To default to From (RFC 9051 §7.5.2 "the server MUST default").
pub fn envelope(e: &Envelope, utf8: bool) -> ImapEnvelope {
    let from = addresses(&e.from, utf8);
    let sender = if e.sender.is_empty() {
        from.clone()
    } else {
        addresses(&e.sender, utf8)
    };
    let reply_to = if e.reply_to.is_empty() {
        from.clone()
    } else {
        addresses(&e.reply_to, utf8)
    };
    ImapEnvelope {
        date: e.date.as_deref().map(|t| text(t, utf8)),
        // RFC 3501 §7.4.2: the envelope's fields are the header values
        // as written; encoded words stay encoded (a decoded subject would
        // have to be encoded again, differently).
        subject: e.subject_as_written().map(|t| text(t, utf8)),
        from,
        sender,
        reply_to,
        to: addresses(&e.to, utf8),
        cc: addresses(&e.cc, utf8),
        bcc: addresses(&e.bcc, utf8),
        in_reply_to: (!e.in_reply_to.is_empty()).then(|| {
            text(
                &e.in_reply_to
                    .iter()
                    .map(|i| format!("<{i}>"))
                    .collect::<Vec<_>>()
                    .join(" "),
                utf8,
            )
        }),
        message_id: e.message_id.as_deref().map(|m| angle(m, utf8)),
    }
}

fn size32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// BODYSTRUCTURE (`extended`) or BODY of a part (RFC 9051 §7.5.2).
pub fn body_structure(part: &BodyPart, extended: bool, utf8: bool) -> BodyStructure {
    if part.media_type == "multipart" {
        return BodyStructure::Multipart(Multipart {
            parts: part
                .parts
                .iter()
                .map(|p| body_structure(p, extended, utf8))
                .collect(),
            subtype: part.subtype.clone(),
            ext: extended.then(|| MultipartExt {
                params: part.params.clone(),
                disposition: disposition(part),
                language: part.language.clone(),
                location: part.location.as_deref().map(|t| text(t, utf8)),
            }),
        });
    }
    let lines = size32(part.lines);
    let kind = match &part.message {
        Some(inner) if part.media_type == "message" => SinglePartKind::Message {
            envelope: Box::new(envelope(&inner.0, utf8)),
            body: Box::new(body_structure(&inner.1, extended, utf8)),
            lines,
        },
        _ if part.media_type == "text" => SinglePartKind::Text { lines },
        _ => SinglePartKind::Basic,
    };
    let mut params = part.params.clone();
    // RFC 2045 §5.2: a text part without a charset parameter is
    // "charset=us-ascii"; say so, as Dovecot does (after any other
    // parameters), so that clients need not know the default.
    if part.media_type == "text"
        && !params
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("charset"))
    {
        params.push(("charset".into(), "us-ascii".into()));
    }
    BodyStructure::Single(SinglePart {
        media_type: part.media_type.clone(),
        subtype: part.subtype.clone(),
        params,
        // body-fld-id is the Content-ID as written (RFC 2045 §7,
        // msg-id with its angle brackets); the store keeps the id
        // without them, as it does for Message-ID.
        id: part.id.as_deref().map(|t| angle(t, utf8)),
        description: part.description.as_deref().map(|t| text(t, utf8)),
        encoding: part.encoding.clone(),
        size: size32(part.body_end.saturating_sub(part.body_start)),
        kind,
        ext: extended.then(|| SinglePartExt {
            md5: None,
            disposition: disposition(part),
            language: part.language.clone(),
            location: part.location.as_deref().map(|t| text(t, utf8)),
        }),
    })
}

fn disposition(part: &BodyPart) -> Option<Disposition> {
    part.disposition.as_ref().map(|(kind, params)| Disposition {
        kind: kind.clone(),
        params: params.clone(),
    })
}

/// What a part number path addresses.
enum Target<'a> {
    /// The whole message (no part number).
    Message {
        header_start: u64,
        header_end: u64,
        body_start: u64,
        body_end: u64,
    },
    /// A numbered part.
    Part(&'a BodyPart),
}

fn find_part<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let mut cur = root;
    for (depth, &n) in path.iter().enumerate() {
        let idx = usize::try_from(n).ok()?.checked_sub(1)?;
        // Inside a message/rfc822 part (not at the top) numbers address
        // the embedded message's parts.
        let container = match &cur.message {
            Some(inner) if depth > 0 => &inner.1,
            _ => cur,
        };
        cur = if container.media_type == "multipart" {
            container.parts.get(idx)?
        } else if idx == 0 {
            container
        } else {
            return None;
        };
    }
    Some(cur)
}

/// The bytes of `BODY[section]`, or `None` when the section does not exist
/// (the session then sends an empty string, as Dovecot does).
pub fn section(raw: &[u8], meta: &EmailMeta, section: &Section) -> Option<Vec<u8>> {
    section_slice(raw, meta, section).map(Cow::into_owned)
}

/// [`section()`] without copying: a slice of `raw`, except for
/// `HEADER.FIELDS`, which is built. The session copies only what it sends
/// (after `<partial>`), so a `BODY[]<0.100>` of a large message copies 100
/// bytes, not the message.
pub fn section_slice<'r>(
    raw: &'r [u8],
    meta: &EmailMeta,
    section: &Section,
) -> Option<Cow<'r, [u8]>> {
    let slice = |(a, b): (u64, u64)| -> &'r [u8] { &raw[a as usize..b as usize] };
    Some(match section_span(raw.len() as u64, meta, section)? {
        SectionSpan::Range(a, b) => Cow::Borrowed(slice((a, b))),
        SectionSpan::HeaderFields {
            header,
            fields,
            not,
        } => Cow::Owned(header_fields(slice(header), fields, not)),
    })
}

/// Where `BODY[section]` is in a message of `len` bytes ([`section_span`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionSpan<'s> {
    /// The bytes `start..end` as they are.
    Range(u64, u64),
    /// `HEADER.FIELDS [.NOT]`: the lines picked from the header at
    /// `header` ([`header_fields`]).
    HeaderFields {
        header: (u64, u64),
        fields: &'s [String],
        not: bool,
    },
}

/// Where `BODY[section]` lies in a stored message of `len` bytes, from
/// the part offsets the store recorded, without its bytes: FETCH slices
/// the loaded message with it, CATENATE (RFC 4469) copies the range
/// from the blob. `None` when the section does not exist. Ranges are
/// clipped to `len`.
pub fn section_span<'s>(
    len: u64,
    meta: &EmailMeta,
    section: &'s Section,
) -> Option<SectionSpan<'s>> {
    let range = |a: u64, b: u64| -> (u64, u64) {
        let (a, b) = (a.min(len), b.min(len));
        (a, b.max(a))
    };
    let target = if section.part.is_empty() {
        Target::Message {
            header_start: 0,
            header_end: meta.header_end,
            body_start: meta.header_end,
            body_end: len,
        }
    } else {
        Target::Part(find_part(&meta.body, &section.part)?)
    };
    let text_kind = match &section.text {
        None => {
            let (a, b) = match target {
                Target::Message { .. } => (0, len),
                Target::Part(p) => range(p.body_start, p.body_end),
            };
            return Some(SectionSpan::Range(a, b));
        }
        Some(t) => t,
    };
    // HEADER / TEXT of the message, or of an embedded message/rfc822 part.
    let (h_start, h_end, b_start, b_end) = match (&target, text_kind) {
        (Target::Part(p), SectionText::Mime) => {
            let (a, b) = range(p.header_start, p.body_start);
            return Some(SectionSpan::Range(a, b));
        }
        (Target::Message { .. }, SectionText::Mime) => return None,
        (
            Target::Message {
                header_start,
                header_end,
                body_start,
                body_end,
            },
            _,
        ) => (*header_start, *header_end, *body_start, *body_end),
        (Target::Part(p), _) => {
            let inner = &p.message.as_ref()?.1;
            (
                inner.header_start,
                inner.body_start,
                inner.body_start,
                inner.body_end,
            )
        }
    };
    Some(match text_kind {
        SectionText::Text => {
            let (a, b) = range(b_start, b_end);
            SectionSpan::Range(a, b)
        }
        SectionText::Header => {
            let (a, b) = range(h_start, h_end);
            SectionSpan::Range(a, b)
        }
        SectionText::HeaderFields { not, fields } => SectionSpan::HeaderFields {
            header: range(h_start, h_end),
            fields,
            not: *not,
        },
        SectionText::Mime => return None,
    })
}

/// The header lines (with their continuation lines) whose field name is in
/// `fields` (or not, for `.NOT`), then the blank line (RFC 9051 §6.4.5).
pub fn header_fields(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if keep {
                out.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .iter()
            .position(|&b| b == b':')
            .map(|i| &line[..i])
            .unwrap_or(b"");
        let name = std::str::from_utf8(name).unwrap_or("").trim_end();
        let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(name));
        keep = !name.is_empty() && listed != not;
        if keep {
            out.extend_from_slice(line);
        }
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Why `BINARY[part]` has no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// No such part.
    NoPart,
    /// The part's Content-Transfer-Encoding is not one we decode
    /// (RFC 3516 §4.3 `[UNKNOWN-CTE]`).
    UnknownCte,
}

/// `BINARY[part]` (RFC 3516 §4.2): the part's body with its
/// Content-Transfer-Encoding removed. `BINARY[]` is the whole message as
/// stored.
pub fn binary(raw: &[u8], meta: &EmailMeta, part: &[u32]) -> Result<Vec<u8>, BinaryError> {
    if part.is_empty() {
        return Ok(raw.to_vec());
    }
    let p = find_part(&meta.body, part).ok_or(BinaryError::NoPart)?;
    let len = raw.len() as u64;
    let (a, b) = (p.body_start.min(len), p.body_end.min(len));
    let body = &raw[a as usize..b.max(a) as usize];
    if p.media_type == "multipart" {
        return Ok(body.to_vec());
    }
    match p.encoding.to_ascii_lowercase().as_str() {
        "" | "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .map_err(|_| BinaryError::UnknownCte)
        }
        "quoted-printable" => Ok(quoted_printable(body)),
        _ => Err(BinaryError::UnknownCte),
    }
}

/// RFC 2045 §6.7 quoted-printable decoding, lenient: a malformed `=`
/// sequence is kept as it is; soft line breaks are removed.
pub fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match (input.get(i + 1), input.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `<origin.count>` applied to section data (RFC 9051 §6.4.5 partial).
pub fn partial(data: Vec<u8>, origin: u32, count: u32) -> Vec<u8> {
    partial_slice(&data, origin, count).to_vec()
}

/// [`partial`] as a slice of `data`.
pub fn partial_slice(data: &[u8], origin: u32, count: u32) -> &[u8] {
    let start = (origin as usize).min(data.len());
    let end = start.saturating_add(count as usize).min(data.len());
    &data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_continuations_and_end_with_a_blank_line() {
        let h = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\n\r\n";
        let got = header_fields(h, &["subject".into()], false);
        assert_eq!(got, b"Subject: one\r\n two\r\n\r\n");
        let got = header_fields(h, &["subject".into()], true);
        assert_eq!(got, b"From: a@b\r\nTo: c@d\r\n\r\n");
        assert_eq!(header_fields(h, &["x".into()], false), b"\r\n");
    }

    #[test]
    fn quoted_printable_decodes_escapes_and_soft_breaks() {
        assert_eq!(
            quoted_printable(b"caf=C3=A9 =\r\nok=3D=ZZ"),
            "café ok==ZZ".as_bytes()
        );
    }

    #[test]
    fn partials_clip() {
        assert_eq!(partial(b"hello".to_vec(), 1, 3), b"ell");
        assert_eq!(partial(b"hello".to_vec(), 4, 9), b"o");
        assert_eq!(partial(b"hello".to_vec(), 9, 9), b"");
    }

    fn leaf(start: u64, end: u64) -> BodyPart {
        BodyPart {
            media_type: "text".into(),
            subtype: "plain".into(),
            encoding: "7bit".into(),
            header_start: start,
            body_start: start + 2,
            body_end: end,
            ..BodyPart::default()
        }
    }

    #[test]
    fn part_numbers_address_children_and_single_parts() {
        let mut root = leaf(0, 10);
        assert!(std::ptr::eq(find_part(&root, &[1]).unwrap(), &root));
        assert!(find_part(&root, &[2]).is_none());
        root.media_type = "multipart".into();
        root.parts = vec![leaf(2, 5), leaf(6, 9)];
        assert_eq!(find_part(&root, &[2]).unwrap().header_start, 6);
        assert!(find_part(&root, &[0]).is_none());
    }

    fn addr(name: Option<&str>, email: Option<&str>) -> Address {
        Address {
            name: name.map(str::to_string),
            email: email.map(str::to_string),
        }
    }

    #[test]
    fn a_group_name_is_the_start_marker_mailbox() {
        // RFC 3501 §7.4.2: `team: a@x;` is (NIL NIL "team" NIL) (NIL NIL
        // "a" "x") (NIL NIL NIL NIL).
        let list = [
            addr(Some("team"), None),
            addr(None, Some("a@x")),
            addr(None, None),
        ];
        let out = addresses(&list, false);
        assert_eq!(out[0].name, None);
        assert_eq!(out[0].mailbox.as_deref(), Some(&b"team"[..]));
        assert_eq!(out[0].host, None);
        assert_eq!(out[1].mailbox.as_deref(), Some(&b"a"[..]));
        assert_eq!((out[2].name.clone(), out[2].mailbox.clone()), (None, None));
        // A name with no address and no group end stays a personal name.
        let out = addresses(&[addr(Some("just a name"), None)], false);
        assert_eq!(out[0].name.as_deref(), Some(&b"just a name"[..]));
        assert_eq!(out[0].mailbox, None);
    }
}
