//! Metadata parsed once at ingest (RFC 5322, RFC 2045–2049 via mail-parser),
//! so that later fetches, searches and sorts do not reparse the message.
//!
//! Parsing is best effort: a message that is not valid MIME still gets
//! metadata (possibly empty) and its bytes are always stored exactly as given.
//! Byte offsets of every part point into the stored blob, so a protocol can
//! serve `BODY[1.2]` or `BODY[HEADER]` by slicing, without a parser.

use mail_parser::{Address as MpAddress, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// How much text the preview keeps (JMAP suggests up to 256 characters).
const PREVIEW_CHARS: usize = 256;
/// How deep the part tree goes (multiparts and attached messages inside each
/// other); deeper parts are kept as opaque leaves. Each level is two levels of
/// the JSON the metadata is stored as, and serde_json reads back at most 128:
/// at 64 levels a message's metadata could be written but never read again
/// (found by the `mime` fuzz target). Real mail rarely nests past 5 levels.
const MAX_PART_DEPTH: usize = 32;
/// How much body text goes into the full-text index per email.
const INDEX_TEXT_BYTES: usize = 256 * 1024;

/// One address of an envelope field. `email` is `None` for group markers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The fields of an IMAP ENVELOPE (RFC 9051 §7.5.2), decoded to UTF-8.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The Date header as written (not reformatted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The Date header as a Unix timestamp, when it parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    /// The Subject, decoded (RFC 2047 encoded words to UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The Subject as written (unfolded, encoded words left alone), for
    /// IMAP's ENVELOPE (RFC 3501 §7.4.2); `None` when it is the same as
    /// `subject`, and in rows stored before this field existed (readers
    /// fall back to `subject`: [`Envelope::subject_as_written`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_raw: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    /// In-Reply-To message ids, without angle brackets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_reply_to: Vec<String>,
    /// Message-ID without angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// References message ids, without angle brackets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// One MIME part: what IMAP BODYSTRUCTURE needs, plus offsets into the blob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    /// Lower-case media type and subtype, `text`/`plain` when absent.
    pub media_type: String,
    pub subtype: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Content-Transfer-Encoding, `7bit` when absent.
    pub encoding: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<(String, Vec<(String, String)>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Offset of the part's header in the blob.
    pub header_start: u64,
    /// Offset of the part's body (after the blank line).
    pub body_start: u64,
    /// Offset just past the part's body.
    pub body_end: u64,
    /// Number of lines in the body (IMAP's body-fld-lines for text parts).
    pub lines: u64,
    /// Children of a multipart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<BodyPart>,
    /// For message/rfc822: the inner message's envelope and root part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<(Envelope, BodyPart)>>,
}

/// Everything the store keeps about a message besides its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMeta {
    pub envelope: Envelope,
    pub body: BodyPart,
    /// Up to 256 characters of body text, whitespace collapsed.
    pub preview: String,
    pub has_attachment: bool,
    /// Offset just past the top-level header (where `BODY[TEXT]` starts).
    pub header_end: u64,
}

/// What ingest needs besides the stored metadata: text for the index.
pub(crate) struct Parsed {
    pub meta: EmailMeta,
    pub body_text: String,
}

/// Parses a message. Never fails: garbage gives empty metadata.
pub(crate) fn parse(raw: &[u8]) -> Parsed {
    let parser = MessageParser::default();
    let Some(msg) = parser.parse(raw) else {
        return Parsed {
            meta: fallback_meta(raw),
            body_text: String::new(),
        };
    };
    let root = msg.root_part();
    let mut walk = Walk::default();
    walk.enter(&msg, 0);
    let body = part_tree(&msg, 0, 0, 0, raw, &mut walk);
    let header_end = u64::from(root.offset_body);
    let mut body_text = String::new();
    for part in msg.text_bodies() {
        // An HTML-only message's text body is its HTML part (mail-parser
        // offers it there): its text, not its markup, is the preview.
        match &part.body {
            PartType::Html(html) => push_bounded(&mut body_text, &strip_tags(html)),
            _ => {
                if let Some(t) = part.text_contents() {
                    push_bounded(&mut body_text, t);
                }
            }
        }
    }
    if body_text.is_empty() {
        for part in msg.html_bodies() {
            if let Some(t) = part.text_contents() {
                push_bounded(&mut body_text, &strip_tags(t));
            }
        }
    }
    let preview = preview_of(&body_text);
    let has_attachment = msg
        .attachments()
        .any(|p| !p.is_message() || p.is_attachment_like());
    Parsed {
        meta: EmailMeta {
            envelope: envelope_of(&msg),
            body,
            preview,
            has_attachment,
            header_end,
        },
        body_text,
    }
}

trait AttachmentLike {
    fn is_attachment_like(&self) -> bool;
}
impl AttachmentLike for mail_parser::MessagePart<'_> {
    fn is_attachment_like(&self) -> bool {
        self.content_disposition()
            .is_some_and(|d| d.is_attachment())
    }
}

fn push_bounded(buf: &mut String, text: &str) {
    let room = INDEX_TEXT_BYTES.saturating_sub(buf.len());
    if room == 0 {
        return;
    }
    if !buf.is_empty() {
        buf.push('\n');
    }
    let mut end = text.len().min(room);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    buf.push_str(&text[..end]);
}

fn preview_of(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() >= PREVIEW_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.chars().take(PREVIEW_CHARS).collect()
}

/// A crude tag stripper for indexing HTML-only mail and its preview; good
/// enough for search: tags become spaces, `<style>` and `<script>`
/// elements go whole, and the common character references are decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while let Some(rel) = html[i..].find('<') {
        out.push_str(&decode_entities(&html[i..i + rel]));
        let at = i + rel;
        let skip_to = ["style", "script"].iter().find_map(|name| {
            lower[at + 1..]
                .starts_with(name)
                .then(|| lower[at..].find(&format!("</{name}")).map(|e| at + e + 2))
                .flatten()
        });
        let from = skip_to.unwrap_or(at);
        match html[from..].find('>') {
            Some(close) => {
                out.push(' ');
                i = from + close + 1;
            }
            None => return out,
        }
    }
    out.push_str(&decode_entities(&html[i..]));
    out
}

/// `&amp;` `&lt;` `&gt;` `&quot;` `&#39;` `&nbsp;` as characters.
fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// Metadata for bytes mail-parser could not read as a message at all.
fn fallback_meta(raw: &[u8]) -> EmailMeta {
    let len = raw.len() as u64;
    EmailMeta {
        body: BodyPart {
            media_type: "text".into(),
            subtype: "plain".into(),
            encoding: "7bit".into(),
            body_end: len,
            lines: count_lines(raw),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// IMAP's body-fld-lines: the line breaks in the body. A last line without
/// one does not count: a MIME part's body ends before the CRLF that belongs
/// to the next boundary, so "text" alone is 0 lines, as Dovecot and Cyrus
/// count it (found by the differential suite against Dovecot).
fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn addresses(addr: Option<&MpAddress<'_>>) -> Vec<Address> {
    let mut out = Vec::new();
    match addr {
        Some(MpAddress::List(list)) => {
            for a in list {
                out.push(Address {
                    name: a.name.as_ref().map(|n| n.to_string()),
                    email: a.address.as_ref().map(|n| n.to_string()),
                });
            }
        }
        Some(MpAddress::Group(groups)) => {
            for g in groups {
                match &g.name {
                    // RFC 9051 §7.5.2: a group is a start marker (name, no
                    // address) and an end marker (neither).
                    Some(name) => {
                        out.push(Address {
                            name: Some(name.to_string()),
                            email: None,
                        });
                        for a in &g.addresses {
                            out.push(Address {
                                name: a.name.as_ref().map(|n| n.to_string()),
                                email: a.address.as_ref().map(|n| n.to_string()),
                            });
                        }
                        out.push(Address::default());
                    }
                    None => {
                        for a in &g.addresses {
                            out.push(Address {
                                name: a.name.as_ref().map(|n| n.to_string()),
                                email: a.address.as_ref().map(|n| n.to_string()),
                            });
                        }
                    }
                }
            }
        }
        None => {}
    }
    out
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// How many ids of a References field are kept (RFC 5256 threading would
/// use them all). A sender controls this field: 60,000 ids fit in one
/// message, and every id costs a row at ingest and a link when threading.
/// Real fields are short: RFC 5537 §3.4.4 lets a client trim References
/// below 998 octets, keeping the first id and the last three, and mail
/// clients do the same. 128 ids keep every real thread intact.
pub const MAX_REFERENCES: usize = 128;

/// At most [`MAX_REFERENCES`] of `refs`: the first (the thread's root)
/// and the nearest ancestors (the last ones), in order.
pub fn capped_references(refs: &[String]) -> std::borrow::Cow<'_, [String]> {
    if refs.len() <= MAX_REFERENCES {
        return std::borrow::Cow::Borrowed(refs);
    }
    let mut out = Vec::with_capacity(MAX_REFERENCES);
    out.extend(refs.first().cloned());
    out.extend_from_slice(&refs[refs.len() - (MAX_REFERENCES - 1)..]);
    std::borrow::Cow::Owned(out)
}

impl Envelope {
    /// The Subject as written when it was recorded, else the decoded one
    /// (metadata stored before `subject_raw` existed).
    pub fn subject_as_written(&self) -> Option<&str> {
        self.subject_raw.as_deref().or(self.subject.as_deref())
    }
}

/// A header value as written: without the space after the colon and the
/// final line break, unfolded (the CRLF of each continuation line removed,
/// its white space kept; RFC 5322 §2.2.3).
fn unfolded(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|&c| c != '\r' && c != '\n')
        .collect()
}

fn envelope_of(msg: &mail_parser::Message<'_>) -> Envelope {
    let subject = msg.subject().map(str::to_string);
    let subject_raw = msg
        .header_raw("Subject")
        .map(unfolded)
        .filter(|raw| Some(raw) != subject.as_ref());
    Envelope {
        date: msg.header_raw("Date").map(|d| d.trim().to_string()),
        sent_at: msg.date().map(|d| d.to_timestamp()),
        subject,
        subject_raw,
        from: addresses(msg.from()),
        sender: addresses(msg.sender()),
        reply_to: addresses(msg.reply_to()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        bcc: addresses(msg.bcc()),
        in_reply_to: id_list(msg.in_reply_to()),
        message_id: msg.message_id().map(str::to_string),
        references: capped_references(&id_list(msg.references())).into_owned(),
    }
}

/// How many parts a message's tree may have; the rest are left out. Real
/// mail has tens; the bound keeps BODYSTRUCTURE and the stored metadata
/// small whatever a sender writes.
const MAX_PARTS: usize = 1000;

/// What the walk over mail-parser's part list has done so far. The list is
/// flat, children named by index; for malformed input it is not always a
/// tree (a part listed under two parents, or under its own descendant: the
/// mime fuzz target found a 3.5 KB message whose walk grew to 2 GB and two
/// minutes), so each part is entered once and the walk has a budget.
struct Walk {
    /// (message, part) pairs already entered; the message by address, as
    /// each attached message has its own part list.
    seen: std::collections::HashSet<(usize, usize)>,
    left: usize,
}

impl Default for Walk {
    fn default() -> Self {
        Walk {
            seen: std::collections::HashSet::new(),
            left: MAX_PARTS,
        }
    }
}

impl Walk {
    /// Whether to build part `idx` of `msg`: not seen before, budget left.
    fn enter(&mut self, msg: &mail_parser::Message<'_>, idx: usize) -> bool {
        let key = (std::ptr::from_ref(msg) as usize, idx);
        self.left > 0 && self.seen.insert(key)
    }
}

/// Builds the part tree of `msg` starting at part `idx`. `base` is added to
/// `msg`'s offsets to make them offsets into `blob`, the whole stored message.
fn part_tree(
    msg: &mail_parser::Message<'_>,
    idx: usize,
    base: u64,
    depth: usize,
    blob: &[u8],
    walk: &mut Walk,
) -> BodyPart {
    let Some(part) = msg.parts.get(idx) else {
        return BodyPart::default();
    };
    walk.left = walk.left.saturating_sub(1);
    let (media_type, subtype, params) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("plain").to_ascii_lowercase(),
            ct.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_string(), a.value.to_string()))
                .collect(),
        ),
        None => ("text".to_string(), "plain".to_string(), Vec::new()),
    };
    let body_start = u64::from(part.offset_body);
    let body_end = u64::from(part.offset_end);
    let body_bytes = blob
        .get((base + body_start) as usize..(base + body_end) as usize)
        .unwrap_or_default();
    let mut out = BodyPart {
        media_type,
        subtype,
        params,
        id: part.content_id().map(str::to_string),
        description: part.content_description().map(str::to_string),
        encoding: part
            .content_transfer_encoding()
            .unwrap_or("7bit")
            .to_ascii_lowercase(),
        disposition: part.content_disposition().map(|d| {
            (
                d.ctype().to_ascii_lowercase(),
                d.attributes()
                    .unwrap_or_default()
                    .iter()
                    .map(|a| (a.name.to_string(), a.value.to_string()))
                    .collect(),
            )
        }),
        language: id_list(part.content_language()),
        location: part.content_location().map(str::to_string),
        header_start: base + u64::from(part.offset_header),
        body_start: base + body_start,
        body_end: base + body_end,
        lines: count_lines(body_bytes),
        parts: Vec::new(),
        message: None,
    };
    match &part.body {
        PartType::Multipart(children) if depth < MAX_PART_DEPTH => {
            for &c in children {
                if walk.enter(msg, c as usize) {
                    let child = part_tree(msg, c as usize, base, depth + 1, blob, walk);
                    out.parts.push(child);
                }
            }
        }
        PartType::Message(inner) if depth < MAX_PART_DEPTH => {
            // mail-parser parses an inner message inside a multipart in the
            // same buffer (offsets absolute, like ours), and otherwise
            // re-parses the part's decoded body (offsets relative to it).
            // Which one it did is told by the buffer the inner message's
            // offsets refer to, not by what the numbers look like (relative
            // offsets can fall inside the part by chance: the mime fuzz
            // target found a multipart/digest that way, with offsets past
            // the end of the message). Relative offsets map onto the blob
            // only for identity encodings; a base64 or quoted-printable inner
            // message stays an opaque leaf, as IMAP servers show it.
            let identity = matches!(out.encoding.as_str(), "7bit" | "8bit" | "binary");
            let same_buffer = std::ptr::eq(inner.raw_message.as_ptr(), msg.raw_message.as_ptr());
            let inner_base = if same_buffer {
                Some(base)
            } else {
                identity.then_some(out.body_start)
            };
            if let Some(inner_base) = inner_base.filter(|_| walk.enter(inner, 0)) {
                let tree = part_tree(inner, 0, inner_base, depth + 1, blob, walk);
                // Belt and braces: an inner tree must lie inside this part.
                if tree.header_start >= out.body_start && tree.body_end <= out.body_end {
                    out.message = Some(Box::new((envelope_of(inner), tree)));
                }
            }
        }
        _ => {}
    }
    out
}

/// Strips reply/forward prefixes and list tags for thread matching
/// (RFC 5256 §2.1 base subject, simplified).
pub(crate) fn base_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let before = s;
        if let Some(rest) = s.strip_prefix('[').and_then(|r| r.split_once(']')) {
            s = rest.1.trim_start();
        }
        for prefix in [
            "re:", "fwd:", "fw:", "aw:", "wg:", "sv:", "vs:", "antw:", "re :", "fwd :",
        ] {
            if s.len() >= prefix.len()
                && s.is_char_boundary(prefix.len())
                && s[..prefix.len()].eq_ignore_ascii_case(prefix)
            {
                s = s[prefix.len()..].trim_start();
            }
        }
        if s == before {
            break;
        }
    }
    let s = s.strip_suffix("(fwd)").unwrap_or(s).trim();
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.org, \"Cy\" <cy@example.org>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nMessage-ID: <a1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello there,\r\nsecond line\r\n";

    #[test]
    fn envelope_is_decoded() {
        let p = parse(SIMPLE);
        let e = &p.meta.envelope;
        assert_eq!(e.subject.as_deref(), Some("Café"));
        assert_eq!(e.subject_as_written(), Some("=?utf-8?q?Caf=C3=A9?="));
        assert_eq!(e.from[0].email.as_deref(), Some("ann@example.org"));
        assert_eq!(e.from[0].name.as_deref(), Some("Ann"));
        assert_eq!(e.to.len(), 2);
        assert_eq!(e.message_id.as_deref(), Some("a1@example.org"));
        assert_eq!(e.sent_at, Some(1_795_428_000));
        assert_eq!(p.meta.preview, "Hello there, second line");
    }

    /// Regression: the preview of an HTML-only message was its markup
    /// (`<p>Hi <b>there</b>…`), shown as such in the webmail's list.
    #[test]
    fn html_only_preview_is_text() {
        let p = parse(
            b"Subject: h\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n\
              <p>Hi <b>there</b><img src=\"http://x/y.png\"></p>\r\n",
        );
        assert_eq!(p.meta.preview, "Hi there");
        assert!(!p.body_text.contains('<'), "{}", p.body_text);
        assert_eq!(
            strip_tags(
                "<style>p { color: red }</style><p>Fish &amp; chips</p><script>x()</script>end"
            )
            .split_whitespace()
            .collect::<Vec<_>>(),
            ["Fish", "&", "chips", "end"]
        );
        assert_eq!(strip_tags("a <b"), "a ");
        assert_eq!(strip_tags("<STYLE>x</STYLE>ok").trim(), "ok");
    }

    #[test]
    fn subject_as_written_is_unfolded_and_old_rows_fall_back() {
        let p = parse(b"Subject: a\r\n  =?utf-8?q?b?=\r\nTo: x@y\r\n\r\nbody\r\n");
        assert_eq!(
            p.meta.envelope.subject_as_written(),
            Some("a  =?utf-8?q?b?=")
        );
        // Metadata stored before subject_raw existed still reads.
        let old: Envelope = serde_json::from_str(r#"{"subject":"Café"}"#).unwrap();
        assert_eq!(old.subject_as_written(), Some("Café"));
        let same = parse(b"Subject: plain words\r\n\r\nx\r\n");
        assert_eq!(same.meta.envelope.subject_raw, None);
        assert_eq!(same.meta.envelope.subject_as_written(), Some("plain words"));
    }

    #[test]
    fn offsets_point_into_the_blob() {
        for raw in [
            SIMPLE.to_vec(),
            String::from_utf8_lossy(SIMPLE)
                .replace("\r\n", "\n")
                .into_bytes(),
        ] {
            let p = parse(&raw);
            let b = &p.meta.body;
            let body = &raw[b.body_start as usize..b.body_end as usize];
            assert!(body.starts_with(b"Hello there,"), "{body:?}");
            assert_eq!(p.meta.header_end, b.body_start);
            assert_eq!(b.lines, 2);
        }
    }

    #[test]
    fn multipart_tree_and_attachment() {
        let raw = b"From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nbody text\r\n--XX\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n";
        let p = parse(raw);
        let b = &p.meta.body;
        assert_eq!(
            (b.media_type.as_str(), b.subtype.as_str()),
            ("multipart", "mixed")
        );
        assert_eq!(b.parts.len(), 2);
        let pdf = &b.parts[1];
        assert_eq!(pdf.subtype, "pdf");
        assert_eq!(pdf.encoding, "base64");
        assert_eq!(
            &raw[pdf.body_start as usize..pdf.body_start as usize + 8],
            b"JVBERi0="
        );
        assert!(p.meta.has_attachment);
        assert!(p.body_text.contains("body text"));
    }

    #[test]
    fn garbage_is_still_described() {
        let raw = b"\x00\x01\x02 not mail at all";
        let p = parse(raw);
        assert_eq!(p.meta.body.body_end, raw.len() as u64);
        let p = parse(b"");
        assert_eq!(p.meta.body.body_end, 0);
    }

    #[test]
    fn long_references_are_capped_keeping_the_first_and_the_last() {
        let mut raw = String::from("From: a@b\r\nReferences:");
        for i in 0..1000 {
            raw.push_str(&format!("\r\n <r{i}@x>"));
        }
        raw.push_str("\r\n\r\nbody\r\n");
        let refs = parse(raw.as_bytes()).meta.envelope.references;
        assert_eq!(refs.len(), MAX_REFERENCES);
        assert_eq!(refs[0], "r0@x");
        assert_eq!(refs[MAX_REFERENCES - 1], "r999@x");
        assert_eq!(refs[1], format!("r{}@x", 1000 - (MAX_REFERENCES - 1)));
    }

    #[test]
    fn base_subjects() {
        assert_eq!(
            base_subject("Re: RE: [list] Fwd:  Hello   World"),
            "hello world"
        );
        assert_eq!(base_subject("Hello (fwd)"), "hello");
        assert_eq!(base_subject("Ré: x"), "ré: x");
    }
}
