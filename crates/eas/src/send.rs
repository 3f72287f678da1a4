//! SendMail, SmartReply, SmartForward (MS-ASCMD §2.2.1.17, .19, .18):
//! the device's MIME message through the server's submission path
//! ([`crate::Outbound`]: the originator rule, sending limits, DKIM,
//! the queue), a copy in Sent when asked.
//!
//! Implementation notes:
//! - The envelope is the message's: MAIL FROM its Sender, else From (a
//!   message without From gets the account's address); RCPT TO its To,
//!   Cc and Bcc. Bcc is removed from the copy that is sent and kept in
//!   the Sent copy.
//! - SmartForward without `ReplaceMime` attaches the original message
//!   (message/rfc822) to the device's text; SmartReply sends the
//!   device's message as it is (clients quote the original themselves).
//!   The source gets `$Forwarded` or `\Answered`.

use mail_parser::{Address, MessageParser};
use tidings_eas_proto::tags::ComposeMail as C;
use tidings_eas_proto::{Command, Element};
use tidings_store::{FlagOp, NewEmail};
use tidings_types::{Keyword, MailboxRole, Uid};

use crate::{Ctx, Error, Reply, Result, SendError, blocking, folders, items};

// Common status codes (MS-ASCMD §2.2.2).
const INVALID_MIME: u32 = 107;
const SEND_QUOTA: u32 = 115;
const NO_RECIPIENT: u32 = 119;
const SUBMISSION_FAILED: u32 = 120;
const ACCESS_DENIED: u32 = 130;
const INVALID_CONTENT: u32 = 101;

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

/// Splits a message at the end of its header (the blank line).
fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in raw.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&raw[..=i], &raw[i + 2..]);
        }
        if i + 3 < raw.len() && &raw[i..i + 4] == b"\r\n\r\n" {
            return (&raw[..i + 2], &raw[i + 4..]);
        }
    }
    (raw, b"")
}

/// The header lines without the fields `drop` names (with their
/// continuation lines).
fn without_fields(header: &[u8], drop: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len());
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            skipping = drop.iter().any(|d| name.eq_ignore_ascii_case(d.as_bytes()));
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

fn join(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    if !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The device's message with the original attached (SmartForward).
fn with_original(raw: &[u8], original: &[u8]) -> Vec<u8> {
    let (header, body) = split_header(raw);
    let content = [
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "mime-version",
    ];
    let outer = without_fields(header, &content);
    let inner: Vec<u8> = header
        .split_inclusive(|&b| b == b'\n')
        .scan(false, |keep, line| {
            if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let name = line.split(|&b| b == b':').next().unwrap_or(b"");
                *keep = content[..3]
                    .iter()
                    .any(|d| name.eq_ignore_ascii_case(d.as_bytes()));
            }
            Some(if *keep { line.to_vec() } else { Vec::new() })
        })
        .flatten()
        .collect();
    let boundary = format!("tidings-forward-{:08x}", crate::state::fresh_nonce());
    let mut out = outer;
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    if inner.is_empty() {
        out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    } else {
        out.extend_from_slice(&inner);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\
             Content-Disposition: attachment; filename=\"forwarded.eml\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(original);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

pub(crate) async fn send(ctx: &Ctx<'_>, command: Command, body: &Element) -> Result<Reply> {
    let Some(outbound) = ctx.outbound.cloned() else {
        return Err(Error::Status(SUBMISSION_FAILED));
    };
    let mime = body
        .child(C::Mime)
        .and_then(Element::bytes)
        .ok_or(Error::Status(INVALID_CONTENT))?;
    let save_copy =
        body.child(C::SaveInSentItems).is_some() || ctx.param("SaveInSent") == Some("T");
    let replace = body.child(C::ReplaceMime).is_some();
    let source = body.child(C::Source).map(|s| {
        (
            s.child_text(C::FolderId)
                .or_else(|| ctx.param("CollectionId").map(str::to_string)),
            s.child_text(C::ItemId)
                .or_else(|| ctx.param("ItemId").map(str::to_string)),
        )
    });
    let (store, account, address) = (ctx.store.clone(), ctx.account, ctx.address.to_string());
    blocking(move || {
        // The source message (SmartReply, SmartForward).
        let source_entry = match &source {
            Some((Some(folder), Some(item))) => match (
                folders::mailbox(&store, account, folder)?,
                items::parse_server_id(item),
            ) {
                (Some(m), Some((mid, uid))) if mid == m.id.0 => store
                    .mailbox_entry(account, m.id, Uid(uid))?
                    .map(|e| (m.id, e)),
                _ => None,
            },
            _ => None,
        };
        if command != Command::SendMail && source.is_some() && source_entry.is_none() {
            return Err(Error::Status(crate::status::SERVER_ERROR));
        }
        let mut raw = mime;
        if command == Command::SmartForward
            && !replace
            && let Some((_, e)) = &source_entry
        {
            raw = with_original(&raw, &store.email_raw(account, e.email)?);
        }
        let Some(msg) = MessageParser::default().parse(&raw) else {
            return Err(Error::Status(INVALID_MIME));
        };
        let from = addresses(msg.sender())
            .into_iter()
            .next()
            .or_else(|| addresses(msg.from()).into_iter().next());
        let mut rcpt: Vec<String> = Vec::new();
        for a in [msg.to(), msg.cc(), msg.bcc()] {
            for r in addresses(a) {
                if !rcpt.iter().any(|x| x.eq_ignore_ascii_case(&r)) {
                    rcpt.push(r);
                }
            }
        }
        drop(msg);
        if rcpt.is_empty() {
            return Err(Error::Status(NO_RECIPIENT));
        }
        let (header, rest) = split_header(&raw);
        let mut header = header.to_vec();
        let mail_from = match from {
            Some(f) => f,
            None => {
                let mut h = format!("From: <{address}>\r\n").into_bytes();
                h.extend_from_slice(&header);
                header = h;
                address.clone()
            }
        };
        let kept = join(&header, rest);
        let sent = join(&without_fields(&header, &["bcc"]), rest);
        outbound
            .send(account, &mail_from, &rcpt, &sent)
            .map_err(|e| {
                tracing::info!("ActiveSync send refused: {e}");
                Error::Status(match e {
                    SendError::Forbidden(_) => ACCESS_DENIED,
                    SendError::OverLimit(_) => SEND_QUOTA,
                    SendError::Invalid(_) => INVALID_MIME,
                    SendError::Failed(_) => SUBMISSION_FAILED,
                })
            })?;
        if save_copy && let Some(sent_box) = store.mailbox_by_role(account, MailboxRole::Sent)? {
            let seen = Keyword::new(Keyword::SEEN).map_err(|_| Error::Status(SUBMISSION_FAILED))?;
            store.append(
                account,
                sent_box.id,
                NewEmail {
                    raw: &kept,
                    keywords: vec![seen],
                    received: None,
                },
            )?;
        }
        if let Some((mb, e)) = source_entry {
            let k = if command == Command::SmartForward {
                Keyword::FORWARDED
            } else {
                Keyword::ANSWERED
            };
            if let Ok(k) = Keyword::new(k) {
                store.store_flags(account, mb, &[e.uid], FlagOp::Add, &[k], None)?;
            }
        }
        Ok(Reply::Empty)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_is_dropped_with_its_continuation() {
        let h = b"From: a@x\r\nBcc: b@x,\r\n c@x\r\nTo: d@x\r\n";
        assert_eq!(without_fields(h, &["bcc"]), b"From: a@x\r\nTo: d@x\r\n");
        let (head, body) = split_header(b"A: 1\r\n\r\nbody");
        assert_eq!((head, body), (&b"A: 1\r\n"[..], &b"body"[..]));
        let (head, body) = split_header(b"A: 1\n\nbody");
        assert_eq!((head, body), (&b"A: 1\n"[..], &b"body"[..]));
    }

    #[test]
    fn forward_attaches_the_original() {
        let out = with_original(
            b"From: a@x\r\nTo: b@x\r\nContent-Type: text/plain\r\n\r\nsee below\r\n",
            b"Subject: old\r\n\r\nold body\r\n",
        );
        let msg = MessageParser::default().parse(&out).unwrap();
        assert_eq!(msg.body_text(0).as_deref(), Some("see below\r\n"));
        assert_eq!(msg.attachments().count(), 1);
    }
}
