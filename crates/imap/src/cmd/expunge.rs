//! EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, UIDPLUS RFC 4315).

use tidings_imap_proto::{SequenceSet, Status, Tag};
use tidings_store::Right;
use tidings_types::Uid;

use crate::session::{Session, store_error};

impl Session {
    pub(crate) async fn expunge(&mut self, tag: &Tag, set: Option<SequenceSet>) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if let Some(refused) = view.refuse_change(tag, &[Right::Expunge]) {
            return refused;
        }
        let mailbox = view.mailbox;
        let uids: Option<Vec<Uid>> = match &set {
            Some(set) => match view.resolve(set, true, &self.saved_ranges(true)) {
                Ok(idx) => Some(idx.iter().map(|&i| view.entries[i].uid).collect()),
                Err(e) => return Status::bad(tag, &e),
            },
            None => None,
        };
        let result = self
            .call_and_prefetch(move |s| s.expunge(account, mailbox, uids.as_deref()))
            .await;
        match result {
            Ok((gone, _)) => {
                self.remove_from_view(&gone);
                Status::ok(tag, "EXPUNGE completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }
}
