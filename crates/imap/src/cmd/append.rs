//! APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), UIDPLUS
//! (RFC 4315), UTF8 literals (RFC 6855) and CATENATE (RFC 4469,
//! `catenate.rs`).
//!
//! A literal of 1 MiB or more never sits in memory: the framer hands its
//! bytes out as they arrive, the session spools them (a file), and the
//! command arrives with `{0}` in its place ([`Session::spooled`]); the
//! spool file becomes the blob.

use tidings_imap_proto::{AppendDataKind, AppendMessage, CatPart, Code, SequenceSet, Status, Tag};
use tidings_store::{Spooled, SpooledEmail, Store};
use tidings_types::Keyword;

use crate::session::{Session, State, store_error};

impl Session {
    pub(crate) async fn append(
        &mut self,
        tag: &Tag,
        raw: &str,
        messages: Vec<tidings_imap_proto::AppendMessage>,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let m = match self.lookup(account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Status::no(tag, "No such mailbox").with_code(Code::TryCreate);
            }
            Err(e) => return store_error(tag, &e),
        };
        if messages.is_empty() {
            return Status::bad(tag, "Nothing to append");
        }
        if !spooled_in_order(&messages, self.spooled.len()) {
            return Status::no(tag, "An empty literal cannot be sent beside a large one")
                .with_code(Code::Cannot);
        }
        let mut batch = Vec::with_capacity(messages.len());
        for msg in messages {
            match self.message(tag, msg).await {
                Ok(m) => batch.push(m),
                Err(s) => return s,
            }
        }
        let id = m.id;
        let into_selected =
            matches!(&self.state, State::Selected { view, .. } if view.mailbox == id);
        // RFC 3502 §6.3.11: all or nothing: one store transaction.
        let work = move |s: &Store| {
            // A spooled body's file becomes the blob (no copy).
            let emails = batch
                .iter()
                .map(|(body, keywords, received)| SpooledEmail {
                    body,
                    keywords: keywords.clone(),
                    received: *received,
                })
                .collect();
            s.append_spooled(account, id, emails)
        };
        // Into the selected mailbox: the new messages' changes come back
        // with the write, for the EXISTS before the tagged reply.
        let result = if into_selected {
            self.call_and_prefetch(work).await
        } else {
            self.call(work).await
        };
        match result {
            Ok(done) => {
                let uid_validity = done.first().map_or(0, |a| a.uid_validity.0);
                let status = Status::ok(tag, "APPEND completed");
                match SequenceSet::compact(done.iter().map(|a| a.uid.0)) {
                    Some(uids) => status.with_code(Code::AppendUid { uid_validity, uids }),
                    None => status,
                }
            }
            Err(e) => store_error(tag, &e),
        }
    }

    /// One APPEND (or REPLACE) message: its body (spooled if large, built
    /// from its parts for CATENATE), its flags without `\Recent`, its
    /// INTERNALDATE; or the answer refusing it.
    pub(crate) async fn message(
        &mut self,
        tag: &Tag,
        msg: AppendMessage,
    ) -> Result<(Spooled, Vec<Keyword>, Option<i64>), Status> {
        if self.spool_failed {
            // RFC 9051 §7.1: a temporary failure; the client may retry.
            return Err(
                Status::no(tag, "Cannot store the message now; try again later")
                    .with_code(Code::Unavailable),
            );
        }
        let body = match msg.kind {
            AppendDataKind::Literal => self.literal_body(msg.data),
            // RFC 6855 §4: UTF8 (~{n}) once UTF8=ACCEPT is enabled.
            AppendDataKind::Utf8 if self.opts.utf8 => self.literal_body(msg.data),
            AppendDataKind::Utf8 => {
                return Err(Status::bad(tag, "Enable UTF8=ACCEPT first"));
            }
            // RFC 3516 §4.4: literal8 may hold any octet.
            AppendDataKind::Literal8 => self.literal_body(msg.data),
            // RFC 4469 §3.
            AppendDataKind::Catenate(parts) => self.catenate(tag, parts).await?,
        };
        // A zero-byte message is no message (RFC 5322 §3.5 needs at
        // least a header field): refuse it, as Dovecot does, rather than
        // store an empty entry a client sent by mistake. With MULTIAPPEND
        // nothing is stored (RFC 3502 §6.3.11).
        if body.is_empty() {
            return Err(Status::no(tag, "Cannot save a zero-byte message"));
        }
        let received = msg.date.map(|d| d.unix_timestamp());
        // \Deleted among the flags marks the new entry (the store keeps it
        // per mailbox entry, not on the email).
        let keywords: Vec<Keyword> = msg
            .flags
            .into_iter()
            .filter(|k| !k.matches("\\Recent"))
            .collect();
        Ok((body, keywords, received))
    }

    /// The bytes of a message literal or a CATENATE `TEXT` part: a large
    /// literal arrived spooled, and the command has `{0}` in its place
    /// (the next spooled body, in order; see [`spooled_in_order`]).
    pub(crate) fn literal_body(&mut self, data: Vec<u8>) -> Spooled {
        if data.is_empty()
            && let Some(spooled) = self.spooled.pop_front()
        {
            spooled
        } else {
            Spooled::from_vec(data)
        }
    }
}

/// Whether the empty literals of these messages (messages, CATENATE
/// parts) are exactly the spooled ones, so that [`Session::literal_body`]
/// gives each its own: the framer writes `{0}` for a spooled literal,
/// which a literal the client sent empty cannot be told from. When both
/// kinds are in one command (an empty `TEXT {0}` beside a 1 MiB one) the
/// command is refused rather than assembled in the wrong order.
pub(crate) fn spooled_in_order(messages: &[AppendMessage], spooled: usize) -> bool {
    if spooled == 0 {
        return true;
    }
    let empty: usize = messages
        .iter()
        .map(|m| match &m.kind {
            AppendDataKind::Catenate(parts) => parts
                .iter()
                .filter(|p| match p {
                    CatPart::Text { data, .. } => data.is_empty(),
                    CatPart::Url(u) => u.is_empty(),
                })
                .count(),
            _ => usize::from(m.data.is_empty()),
        })
        .sum();
    empty == spooled
}
