//! STATUS (RFC 9051 §6.3.11; SIZE RFC 8438, DELETED, APPENDLIMIT RFC 7889,
//! MAILBOXID RFC 8474).

use tidings_imap_proto::{Code, Data, Status, StatusItem, StatusValue, Tag};
use tidings_store::{Mailbox, StoreError};
use tidings_types::AccountId;

use crate::session::{Session, State, store_error};

impl Session {
    pub(crate) async fn status_values(
        &self,
        account: AccountId,
        m: &Mailbox,
        items: &[StatusItem],
    ) -> Result<Vec<StatusValue>, StoreError> {
        let id = m.id;
        let counts = self.call(move |s| s.mailbox_counts(account, id)).await?;
        // RFC 3501 §6.3.10 RECENT: the selected mailbox's as this session
        // sees them; another's, those no session has claimed yet.
        let recent = match &self.state {
            _ if !items.contains(&StatusItem::Recent) => 0,
            State::Selected { view, .. } if view.mailbox == id => view.recent_count(),
            _ => {
                self.call(move |s| s.recent_uids(account, id, false))
                    .await?
                    .count
            }
        };
        Ok(items
            .iter()
            .map(|i| match i {
                StatusItem::Messages => StatusValue::Messages(counts.messages),
                StatusItem::UidNext => StatusValue::UidNext(m.uid_next.0),
                StatusItem::UidValidity => StatusValue::UidValidity(m.uid_validity.0),
                StatusItem::Unseen => StatusValue::Unseen(counts.unseen),
                StatusItem::Deleted => StatusValue::Deleted(counts.deleted),
                StatusItem::Size => StatusValue::Size(counts.size),
                StatusItem::Recent => StatusValue::Recent(recent),
                StatusItem::HighestModSeq => StatusValue::HighestModSeq(m.highest_modseq.0),
                StatusItem::AppendLimit => {
                    StatusValue::AppendLimit(Some(self.shared.config.limits.max_append_literal))
                }
                StatusItem::MailboxId => StatusValue::MailboxId(m.id.to_string()),
            })
            .collect())
    }

    pub(crate) async fn status(&mut self, tag: &Tag, raw: &str, items: &[StatusItem]) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let m = match self.lookup(account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::NonExistent),
            Err(e) => return store_error(tag, &e),
        };
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        match self.status_values(account, &m, items).await {
            Ok(values) => {
                self.put(Data::Status {
                    mailbox: m.name.as_str().to_string(),
                    items: values,
                });
                Status::ok(tag, "STATUS completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }
}
