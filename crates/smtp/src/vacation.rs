//! The vacation auto-responder (RFC 3834, with the vacation response of
//! RFC 8621 §8 that JMAP and `tidings user vacation` set).
//!
//! Run for each local account after an inbound message is committed to
//! it. It answers when every rule below holds, else stays silent:
//! - the account's response is enabled and `now` is within its dates;
//! - the envelope sender is not the null path (RFC 3834 §2: a reply goes
//!   to the Return-Path), nor a MAILER-DAEMON, postmaster, `owner-*` or
//!   `*-request` address (§2, "automatic responses SHOULD NOT be issued"
//!   to list and system addresses), nor one of the account's own;
//! - the message has no `Auto-Submitted` other than `no` (§2, §5), no
//!   `List-Id` (RFC 2919) or `List-Unsubscribe` (RFC 2369), no
//!   `Precedence: bulk|list|junk` (a de-facto mark of mass mail, §2);
//! - To or Cc names one of the account's addresses (§2: the recipient
//!   must be named, not just Bcc'd or reached through a list);
//! - no reply went to this sender within the period (§2: at most one per
//!   sender per period; 7 days by default, `[smtp] vacation_period`).
//!
//! The reply (§3): From the account's address, To the envelope sender,
//! `Subject: Re: ` and the original's (or the response's own subject),
//! `In-Reply-To` and `References`, `Auto-Submitted: auto-replied`, the
//! text body and, if set, the HTML body as `multipart/alternative`; sent
//! with the null envelope sender (§3.3) through the outbound queue,
//! DKIM-signed ([`crate::submit::Submitter::auto_reply`]).

use mail_parser::{HeaderValue, MessageParser};
use tidings_store::{QueueId, Store, Vacation};
use tidings_types::AccountId;

use crate::message;
use crate::submit::{SubmitError, Submitter};

/// Answers one delivered message if the rules allow: the reply's queue
/// id, or `None` when no reply is owed. `header` is the stored header
/// section; `sender` the envelope sender (empty for `<>`).
pub fn respond(
    submitter: &Submitter,
    store: &Store,
    account: AccountId,
    sender: &str,
    header: &[u8],
    now: i64,
    period: i64,
) -> Result<Option<QueueId>, SubmitError> {
    let vacation = store.vacation(account)?;
    if !vacation.active_at(now) || !may_answer(sender) {
        return Ok(None);
    }
    let own = store.own_addresses(account)?;
    let sender = sender.to_lowercase();
    if own.contains(&sender) {
        return Ok(None);
    }
    let Some(original) = Original::read(header) else {
        return Ok(None);
    };
    if original.automatic || !original.names_any(&own) {
        return Ok(None);
    }
    if !store.vacation_reply_due(account, &sender, now, period)? {
        return Ok(None);
    }
    let Some(from) = own.first() else {
        return Ok(None);
    };
    let domain = from.rsplit_once('@').map_or("", |(_, d)| d);
    let raw = compose(&vacation, from, &sender, &original, now);
    submitter
        .auto_reply(account, &sender, &raw, domain)
        .map(Some)
}

/// RFC 3834 §2: no reply to the null path or to system and list
/// addresses.
fn may_answer(sender: &str) -> bool {
    let Some((local, _)) = sender.rsplit_once('@') else {
        return false;
    };
    let local = local.to_ascii_lowercase();
    !(local.is_empty()
        || local == "mailer-daemon"
        || local == "postmaster"
        || local.starts_with("owner-")
        || local.ends_with("-request"))
}

/// What the responder reads of the message it answers.
#[derive(Debug, Default)]
struct Original {
    /// Auto-Submitted other than `no`, a list field or bulk precedence.
    automatic: bool,
    /// The To and Cc addresses, lowercased.
    named: Vec<String>,
    subject: String,
    message_id: Option<String>,
    references: Vec<String>,
}

impl Original {
    fn read(header: &[u8]) -> Option<Original> {
        let fields = message::header_fields(header).ok()?;
        let mut out = Original::default();
        for f in &fields {
            let name = String::from_utf8_lossy(f.name).to_ascii_lowercase();
            let value = String::from_utf8_lossy(f.value);
            let value = value.trim().to_ascii_lowercase();
            match name.as_str() {
                "auto-submitted" => {
                    // RFC 3834 §5.1: the keyword before any comment or
                    // parameter.
                    let keyword = value
                        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
                        .next()
                        .unwrap_or("");
                    if keyword != "no" {
                        out.automatic = true;
                    }
                }
                "list-id" | "list-unsubscribe" => out.automatic = true,
                "precedence" if matches!(value.as_str(), "bulk" | "list" | "junk") => {
                    out.automatic = true;
                }
                _ => {}
            }
        }
        let parsed = MessageParser::default().parse_headers(header)?;
        for list in [parsed.to(), parsed.cc()].into_iter().flatten() {
            for addr in list.iter() {
                if let Some(a) = addr.address() {
                    out.named.push(a.to_lowercase());
                }
            }
        }
        out.subject = parsed.subject().unwrap_or("").to_string();
        out.message_id = parsed.message_id().map(str::to_string);
        if let HeaderValue::TextList(refs) = parsed.references() {
            out.references = refs.iter().map(|r| r.to_string()).collect();
        } else if let HeaderValue::Text(r) = parsed.references() {
            out.references = vec![r.to_string()];
        }
        Some(out)
    }

    fn names_any(&self, own: &[String]) -> bool {
        self.named.iter().any(|n| own.contains(n))
    }
}

/// The reply's bytes (Date, Message-ID and the signature are added when
/// it is queued).
fn compose(vacation: &Vacation, from: &str, to: &str, original: &Original, now: i64) -> Vec<u8> {
    let subject = match &vacation.subject {
        Some(s) if !s.trim().is_empty() => s.clone(),
        _ => {
            let base = original.subject.trim();
            if base.is_empty() {
                "Auto: (no subject)".to_string()
            } else if base.len() >= 3 && base[..3].eq_ignore_ascii_case("re:") {
                base.to_string()
            } else {
                format!("Re: {base}")
            }
        }
    };
    let text = vacation
        .text_body
        .clone()
        .or_else(|| vacation.html_body.as_deref().map(strip_tags))
        .unwrap_or_else(|| "I am away and will read your message when I am back.".into());
    let mut h = String::new();
    h.push_str(&format!("From: <{from}>\r\n"));
    h.push_str(&format!("To: <{to}>\r\n"));
    h.push_str(&format!("Subject: {}\r\n", encode_word(&subject)));
    if let Some(id) = &original.message_id {
        // RFC 3834 §3.1.5 (In-Reply-To, References as RFC 5322 §3.6.4).
        h.push_str(&format!("In-Reply-To: <{id}>\r\n"));
        let mut refs: Vec<String> = original
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect();
        refs.push(format!("<{id}>"));
        h.push_str(&format!("References: {}\r\n", refs.join("\r\n ")));
    }
    h.push_str("Auto-Submitted: auto-replied\r\n");
    h.push_str("MIME-Version: 1.0\r\n");
    let text_part = |h: &mut String, ctype: &str, body: &str| {
        h.push_str(&format!(
            "Content-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        h.push_str(&base64_lines(body.as_bytes()));
    };
    match &vacation.html_body {
        None => text_part(&mut h, "text/plain", &text),
        Some(html) => {
            let boundary = format!("=_vacation_{}_{}", now, message::random_hex(8));
            h.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            ));
            h.push_str(&format!("--{boundary}\r\n"));
            text_part(&mut h, "text/plain", &text);
            h.push_str(&format!("--{boundary}\r\n"));
            text_part(&mut h, "text/html", html);
            h.push_str(&format!("--{boundary}--\r\n"));
        }
    }
    h.into_bytes()
}

/// The text of an HTML body, roughly: tags dropped.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// An unstructured field value, as an RFC 2047 encoded word if it is not
/// printable ASCII (control characters included, so no field injection).
fn encode_word(s: &str) -> String {
    if s.chars().all(|c| (' '..='~').contains(&c)) {
        s.to_string()
    } else {
        let clean: String = s.chars().filter(|c| !c.is_control()).collect();
        format!("=?utf-8?b?{}?=", base64(clean.as_bytes()))
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8), CRLF ended.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn system_and_list_senders_get_no_reply() {
        assert!(may_answer("ann@example.org"));
        for s in [
            "",
            "MAILER-DAEMON@example.org",
            "postmaster@example.org",
            "owner-list@example.org",
            "list-request@example.org",
        ] {
            assert!(!may_answer(s), "{s}");
        }
    }

    #[test]
    fn automatic_mail_is_recognised() {
        for field in [
            "Auto-Submitted: auto-generated",
            "Auto-Submitted: auto-replied (vacation)",
            "List-Id: <list.example.org>",
            "List-Unsubscribe: <mailto:leave@example.org>",
            "Precedence: bulk",
            "Precedence: list",
            "Precedence: junk",
        ] {
            let h = format!("From: a@x\r\nTo: b@y\r\n{field}\r\nSubject: s\r\n\r\n");
            assert!(
                Original::read(h.as_bytes()).is_some_and(|o| o.automatic),
                "{field}"
            );
        }
        let h = b"From: a@x\r\nTo: B@Y\r\nAuto-Submitted: no\r\nPrecedence: first-class\r\n\r\n";
        let o = Original::read(h).unwrap_or_default();
        assert!(!o.automatic);
        assert_eq!(o.named, vec!["b@y".to_string()]);
    }

    #[test]
    fn a_subject_with_a_newline_cannot_add_a_field() {
        let s = encode_word("hi\r\nBcc: x@y");
        assert!(!s.contains('\n') && s.starts_with("=?utf-8?b?"), "{s}");
    }
}
