//! An account's emails as JMAP sees them: for each email its thread,
//! keywords, size, receipt time and mailbox set, gathered from the store's
//! per-mailbox entries.
//!
//! The store keeps an email's state per mailbox entry (IMAP's view); JMAP
//! wants it per email. This builds the per-email view in one pass over the
//! account's mailboxes (O(entries)); it is the one place to replace by a
//! store query when large mailboxes make that worth it.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use tidings_store::{Mailbox, Store};
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
    /// Each thread's emails, oldest first: built at the first
    /// [`AccountView::thread`] call, so that a `Thread/get` of 50 threads
    /// is one pass over the emails, not 50.
    threads: OnceCell<HashMap<ThreadId, Vec<EmailId>>>,
}

impl AccountView {
    pub fn load(store: &Store, account: AccountId) -> Result<AccountView, MethodError> {
        let mailboxes = store.mailboxes(account)?;
        let mut emails: BTreeMap<EmailId, EmailInfo> = BTreeMap::new();
        for mailbox in &mailboxes {
            for entry in store.mailbox_entries(account, mailbox.id)? {
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
                    .insert(mailbox.id);
            }
        }
        Ok(AccountView {
            mailboxes,
            emails,
            threads: OnceCell::new(),
        })
    }

    pub fn mailbox(&self, id: MailboxId) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.id == id)
    }

    /// The emails of a thread, oldest first (RFC 8621 §3: sorted by
    /// receivedAt).
    pub fn thread(&self, thread: ThreadId) -> Vec<EmailId> {
        self.threads
            .get_or_init(|| {
                let mut by_thread: HashMap<ThreadId, Vec<(i64, EmailId)>> = HashMap::new();
                for (id, e) in &self.emails {
                    by_thread
                        .entry(e.thread)
                        .or_default()
                        .push((e.received, *id));
                }
                by_thread
                    .into_iter()
                    .map(|(t, mut ids)| {
                        ids.sort();
                        (t, ids.into_iter().map(|(_, id)| id).collect())
                    })
                    .collect()
            })
            .get(&thread)
            .cloned()
            .unwrap_or_default()
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
