//! COPY and MOVE (RFC 9051 §6.4.7, RFC 6851; COPYUID RFC 4315).

use tidings_imap_proto::{Code, SequenceSet, Status, Tag};
use tidings_store::Right;
use tidings_types::Uid;

use crate::session::{Session, store_error};

impl Session {
    pub(crate) async fn copy_move(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        raw: &str,
        is_move: bool,
    ) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        // RFC 6851 §3.3 with RFC 4314 §4: MOVE expunges from the source.
        if is_move && let Some(refused) = view.refuse_change(tag, &[Right::Expunge]) {
            return refused;
        }
        let indexes = match view.resolve(set, uid, &self.saved_ranges(uid)) {
            Ok(i) => i,
            Err(e) => return Status::bad(tag, &e),
        };
        let uids: Vec<Uid> = indexes.iter().map(|&i| view.entries[i].uid).collect();
        let from = view.mailbox;
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let to = match self.lookup(account, name).await {
            Ok(Some(m)) => m.id,
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::TryCreate),
            Err(e) => return store_error(tag, &e),
        };
        let what = if is_move { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            return Status::ok(tag, &format!("{what} completed; nothing to do"));
        }
        let src = uids.clone();
        let result = if is_move {
            self.call(move |s| s.move_emails(account, from, &src, to))
                .await
        } else {
            self.call(move |s| s.copy(account, from, &src, to)).await
        };
        let copied = match result {
            Ok(c) => c,
            Err(e) => return store_error(tag, &e),
        };
        let code = match (
            SequenceSet::compact(copied.pairs.iter().map(|p| p.0.0)),
            SequenceSet::compact(copied.pairs.iter().map(|p| p.1.0)),
        ) {
            (Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity: copied.uid_validity.0,
                source,
                destination,
            }),
            _ => None,
        };
        if !is_move {
            let s = Status::ok(tag, "COPY completed");
            return match code {
                Some(c) => s.with_code(c),
                None => s,
            };
        }
        // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
        if let Some(c) = code {
            self.put(Status::untagged_ok("Moved").with_code(c));
        }
        self.remove_from_view(&uids);
        Status::ok(tag, "MOVE completed")
    }
}
