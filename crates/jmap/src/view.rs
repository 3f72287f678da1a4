//! An account's emails as JMAP sees them: for each email its thread,
//! keywords, size, receipt time and mailbox set, gathered from the store's
//! per-mailbox entries.
//!
//! The store keeps an email's state per mailbox entry (IMAP's view); JMAP
//! wants it per email. This builds the per-email view in one pass over the
//! account's mailboxes (O(entries)); it is the one place to replace by a
//! store query when large mailboxes make that worth it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tidings_store::{Mailbox, MailboxEntry, Right, Rights, Store};
use tidings_types::{AccountId, EmailId, Keyword, MailboxId, ThreadId};

use crate::error::MethodError;

/// One email's JMAP-level state.
#[derive(Clone, Debug)]
pub struct EmailInfo {
    pub thread: ThreadId,
    pub keywords: Vec<Keyword>,
    pub size: u64,
    pub received: i64,
    pub mailboxes: BTreeSet<MailboxId>,
}

impl EmailInfo {
    pub fn has_keyword(&self, jmap: &str) -> bool {
        self.keywords
            .iter()
            .any(|k| jmap_keyword(k).eq_ignore_ascii_case(jmap))
    }
}

/// The account's mailboxes and emails.
pub struct AccountView {
    pub mailboxes: Vec<Mailbox>,
    pub emails: BTreeMap<EmailId, EmailInfo>,
    /// For a shared account: the caller's rights on each mailbox and the
    /// mailboxes the caller subscribed to. `None` for the caller's own.
    pub shared: Option<SharedView>,
}

/// What the caller may do in a shared account's mailboxes.
pub struct SharedView {
    pub rights: HashMap<MailboxId, Rights>,
    pub subscribed: BTreeSet<MailboxId>,
}

impl AccountView {
    pub fn load(store: &Store, account: AccountId) -> Result<AccountView, MethodError> {
        let mailboxes = store.mailboxes(account)?;
        let mut emails: BTreeMap<EmailId, EmailInfo> = BTreeMap::new();
        for mailbox in &mailboxes {
            add_entries(
                &mut emails,
                mailbox.id,
                store.mailbox_entries(account, mailbox.id)?,
            );
        }
        Ok(AccountView {
            mailboxes,
            emails,
            shared: None,
        })
    }

    /// The part of `shared` that `caller` sees: the mailboxes it may look
    /// up, with the emails of those it may read (the store checks `r`).
    pub fn load_shared(
        store: &Store,
        caller: AccountId,
        shared: &crate::SharedAccount,
    ) -> Result<AccountView, tidings_store::StoreError> {
        let mut emails: BTreeMap<EmailId, EmailInfo> = BTreeMap::new();
        let mut rights = HashMap::new();
        let mut mailboxes = Vec::new();
        for (mailbox, r) in &shared.mailboxes {
            if r.has(Right::Read) {
                match store.mailbox_entries(caller, mailbox.id) {
                    Ok(entries) => add_entries(&mut emails, mailbox.id, entries),
                    // Unshared or deleted since the list was read.
                    Err(tidings_store::StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            rights.insert(mailbox.id, *r);
            mailboxes.push(mailbox.clone());
        }
        let names: BTreeSet<String> = store
            .subscriptions(caller)?
            .into_iter()
            .map(|n| n.as_str().to_string())
            .collect();
        let subscribed = mailboxes
            .iter()
            .filter(|m| {
                tidings_store::acl::shared_name(&shared.name, &m.name)
                    .is_some_and(|n| names.contains(n.as_str()))
            })
            .map(|m| m.id)
            .collect();
        Ok(AccountView {
            mailboxes,
            emails,
            shared: Some(SharedView { rights, subscribed }),
        })
    }

    /// The caller's rights on a mailbox of the view: all of them in its
    /// own account.
    pub fn rights(&self, id: MailboxId) -> Rights {
        self.shared.as_ref().map_or(Rights::all(), |s| {
            s.rights.get(&id).copied().unwrap_or_default()
        })
    }

    /// Whether the caller subscribed to a mailbox of the view.
    pub fn subscribed(&self, mailbox: &Mailbox) -> bool {
        match &self.shared {
            None => mailbox.subscribed,
            Some(s) => s.subscribed.contains(&mailbox.id),
        }
    }

    pub fn mailbox(&self, id: MailboxId) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.id == id)
    }

    /// The emails of a thread, oldest first (RFC 8621 §3: sorted by
    /// receivedAt).
    pub fn thread(&self, thread: ThreadId) -> Vec<EmailId> {
        let mut ids: Vec<(i64, EmailId)> = self
            .emails
            .iter()
            .filter(|(_, e)| e.thread == thread)
            .map(|(id, e)| (e.received, *id))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

/// Adds a mailbox's entries to the per-email view.
fn add_entries(
    emails: &mut BTreeMap<EmailId, EmailInfo>,
    mailbox: MailboxId,
    entries: Vec<MailboxEntry>,
) {
    for entry in entries {
        emails
            .entry(entry.email)
            .or_insert_with(|| EmailInfo {
                thread: entry.thread,
                keywords: entry.keywords.clone(),
                size: entry.size,
                received: entry.received,
                mailboxes: BTreeSet::new(),
            })
            .mailboxes
            .insert(mailbox);
    }
}

/// The JMAP form of a stored keyword (RFC 8621 §4.1.1): system flags as
/// `$seen` & co., everything lower case.
pub fn jmap_keyword(k: &Keyword) -> String {
    match k.as_str() {
        Keyword::SEEN => "$seen".to_string(),
        Keyword::FLAGGED => "$flagged".to_string(),
        Keyword::ANSWERED => "$answered".to_string(),
        Keyword::DRAFT => "$draft".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

/// The stored form of a JMAP keyword; `None` if it is not one (RFC 8621
/// §4.1.1: 1-255 of %x21-%x7E minus `( ) { ] % * " \`). `$recent` is
/// refused as IMAP's `\Recent` has no place in the store.
pub fn store_keyword(jmap: &str) -> Option<Keyword> {
    let lower = jmap.to_ascii_lowercase();
    if lower.starts_with('\\') {
        return None;
    }
    let system = match lower.as_str() {
        "$seen" => Some(Keyword::SEEN),
        "$flagged" => Some(Keyword::FLAGGED),
        "$answered" => Some(Keyword::ANSWERED),
        "$draft" => Some(Keyword::DRAFT),
        "$recent" | "$deleted" => return None,
        _ => None,
    };
    match system {
        Some(flag) => Keyword::new(flag).ok(),
        None => Keyword::new(&lower).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_map_both_ways() {
        let seen = store_keyword("$Seen").unwrap();
        assert_eq!(seen.as_str(), "\\Seen");
        assert_eq!(jmap_keyword(&seen), "$seen");
        assert_eq!(
            jmap_keyword(&Keyword::new("$Forwarded").unwrap()),
            "$forwarded"
        );
        assert_eq!(store_keyword("work").unwrap().as_str(), "work");
        assert!(store_keyword("a b").is_none());
        assert!(store_keyword("\\Seen").is_none());
        assert!(store_keyword("").is_none());
    }
}
