//! REPLACE and UID REPLACE (RFC 8508): a message of the selected mailbox
//! is replaced by a new one, appended to a named mailbox (often the same,
//! Drafts), in one store transaction: if the append fails, the old message
//! stays; if the old message cannot be expunged, nothing is appended.
//!
//! The message is an APPEND message (RFC 8508 §3.1): the same literal
//! forms, size limit (APPENDLIMIT) and spooling of large literals.

use tidings_imap_proto::{AppendMessage, Code, SeqNumber, SequenceSet, Status, Tag};
use tidings_store::SpooledEmail;

use crate::session::{Session, store_error};

impl Session {
    pub(crate) async fn replace(
        &mut self,
        tag: &Tag,
        uid: bool,
        number: SeqNumber,
        raw: &str,
        message: AppendMessage,
    ) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        // RFC 8508 §3.3: the old message is expunged, which a read-only
        // (EXAMINEd) mailbox does not allow.
        if view.read_only {
            return Status::no(tag, "Mailbox is read-only").with_code(Code::Cannot);
        }
        let from = view.mailbox;
        let old = if uid {
            // A UID that is not (or no longer) there names no message: NO,
            // as a UID command on a missing message is no syntax error.
            let n = number.resolve(view.max_uid());
            match view.entries.binary_search_by_key(&n, |e| e.uid.0) {
                Ok(i) => view.entries[i].uid,
                Err(_) => return Status::no(tag, "No such message").with_code(Code::NonExistent),
            }
        } else {
            // RFC 9051 §6.4: an invalid message sequence number is BAD.
            let set = SequenceSet::single(number.resolve(view.exists()));
            match view.resolve(&set, false, &[]) {
                Ok(i) if i.len() == 1 => view.entries[i[0]].uid,
                _ => return Status::bad(tag, "Invalid message sequence number"),
            }
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let to = match self.lookup(account, name).await {
            Ok(Some(m)) => m.id,
            // RFC 8508 §3.5: the old message stays; TRYCREATE as for APPEND.
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::TryCreate),
            Err(e) => return store_error(tag, &e),
        };
        if !super::append::spooled_in_order(std::slice::from_ref(&message), self.spooled.len()) {
            return Status::no(tag, "An empty literal cannot be sent beside a large one")
                .with_code(Code::Cannot);
        }
        let (body, keywords, received) = match self.message(tag, message).await {
            Ok(m) => m,
            Err(s) => return s,
        };
        let result = self
            .call(move |s| {
                let email = SpooledEmail {
                    body: &body,
                    keywords,
                    received,
                };
                s.replace_spooled(account, to, email, from, old)
            })
            .await;
        let done = match result {
            Ok(d) => d,
            // Nothing was stored, nothing expunged (one transaction).
            Err(e) => return store_error(tag, &e),
        };
        // RFC 8508 §3.3: APPENDUID (RFC 4315) in an untagged OK, before
        // the EXPUNGE (or VANISHED) of the old message.
        let a = done.appended;
        self.put(
            Status::untagged_ok("Replacement message ready").with_code(Code::AppendUid {
                uid_validity: a.uid_validity.0,
                uids: SequenceSet::single(a.uid.0),
            }),
        );
        if done.expunged {
            self.remove_from_view(&[old]);
        }
        Status::ok(tag, "REPLACE completed")
    }
}
