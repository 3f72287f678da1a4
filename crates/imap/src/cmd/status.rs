//! STATUS (RFC 9051 §6.3.11; SIZE RFC 8438, DELETED, APPENDLIMIT RFC 7889,
//! MAILBOXID RFC 8474).

use tidings_imap_proto::{Code, Data, Status, StatusItem, StatusValue, Tag};
use tidings_store::{Mailbox, MailboxCounts, StoreError};
use tidings_types::{AccountId, MailboxId};

use crate::session::{Session, State, store_error};

impl Session {
    pub(crate) async fn status_values(
        &self,
        account: AccountId,
        m: &Mailbox,
        items: &[StatusItem],
    ) -> Result<Vec<StatusValue>, StoreError> {
        let id = m.id;
        let unclaimed = self.needs_unclaimed(id, items);
        let (counts, recent) = self
            .call(move |s| {
                let counts = s.mailbox_counts(account, id)?;
                let recent = match unclaimed {
                    true => Some(s.recent_uids(account, id, false)?.count),
                    false => None,
                };
                Ok((counts, recent))
            })
            .await?;
        Ok(self.status_items(m, &counts, recent, items))
    }

    /// Whether STATUS of mailbox `id` needs the count of messages no
    /// session has claimed as recent (RFC 3501 §6.3.10 RECENT for a
    /// mailbox other than the selected one).
    fn needs_unclaimed(&self, id: MailboxId, items: &[StatusItem]) -> bool {
        items.contains(&StatusItem::Recent)
            && !matches!(&self.state, State::Selected { view, .. } if view.mailbox == id)
    }

    /// The STATUS values of `m` from its counts; `unclaimed` is the
    /// RECENT of a mailbox that is not the selected one.
    fn status_items(
        &self,
        m: &Mailbox,
        counts: &MailboxCounts,
        unclaimed: Option<u32>,
        items: &[StatusItem],
    ) -> Vec<StatusValue> {
        // RFC 3501 §6.3.10 RECENT: the selected mailbox's as this session
        // sees them; another's, those no session has claimed yet.
        let recent = match &self.state {
            _ if !items.contains(&StatusItem::Recent) => 0,
            State::Selected { view, .. } if view.mailbox == m.id => view.recent_count(),
            _ => unclaimed.unwrap_or(0),
        };
        items
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
            .collect()
    }

    pub(crate) async fn status(&mut self, tag: &Tag, raw: &str, items: &[StatusItem]) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        // One blocking call for the mailbox and its counts.
        let wanted = items.to_vec();
        let selected = match &self.state {
            State::Selected { view, .. } => Some(view.mailbox),
            _ => None,
        };
        let found = self
            .call(move |s| {
                let Some(m) = crate::cmd::resolve(s, account, &name)? else {
                    return Ok(None);
                };
                let counts = s.mailbox_counts(account, m.id)?;
                let unclaimed = if wanted.contains(&StatusItem::Recent) && selected != Some(m.id) {
                    Some(s.recent_uids(account, m.id, false)?.count)
                } else {
                    None
                };
                Ok(Some((m, counts, unclaimed)))
            })
            .await;
        let (m, counts, unclaimed) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::NonExistent),
            Err(e) => return store_error(tag, &e),
        };
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        let values = self.status_items(&m, &counts, unclaimed, items);
        self.put(Data::Status {
            mailbox: m.name.as_str().to_string(),
            items: values,
        });
        Status::ok(tag, "STATUS completed")
    }
}
