//! An account's emails as JMAP sees them: for each email its thread,
//! keywords, size, receipt time and mailbox set, gathered from the store's
//! per-mailbox entries.
//!
//! The store keeps an email's state per mailbox entry (IMAP's view); JMAP
//! wants it per email. [`AccountView::load`] builds the per-email view in
//! one pass over the account's mailboxes (O(entries)). [`ViewCache`] keeps
//! the views of recent accounts between requests and brings one up to a
//! newer state from each mailbox's changes since the view's (the
//! CONDSTORE/QRESYNC queries IMAP uses: entries by MODSEQ and tombstones),
//! so a big account pays the full load once, and a request after a change
//! pays for the change.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tidings_store::{Mailbox, MailboxEntry, Right, Rights, Store, StoreError};
use tidings_types::{AccountId, EmailId, Keyword, MailboxId, ModSeq, ThreadId, Uid};

/// One email's JMAP-level state.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug)]
pub struct AccountView {
    pub mailboxes: Vec<Mailbox>,
    pub emails: BTreeMap<EmailId, EmailInfo>,
    /// For a shared account: the caller's rights on each mailbox and the
    /// mailboxes the caller subscribed to. `None` for the caller's own.
    pub shared: Option<SharedView>,
    /// The account's MODSEQ before the view was read (it holds every
    /// change up to it, maybe later ones too); 0 when not kept.
    modseq: u64,
    /// Each mailbox's UIDs, for the tombstones of a later refresh (own
    /// accounts only).
    uids: HashMap<MailboxId, HashMap<Uid, EmailId>>,
    /// `Email/query` results computed on this view, by query.
    queries: QueryResults,
}

/// The last [`QueryResults::KEEP`] query results of a view (a client
/// paging through one query asks for it again and again at one state).
/// Empty in a copy; what a change of the view makes stale is dropped.
#[derive(Debug, Default)]
struct QueryResults(Mutex<VecDeque<(String, KeptResult)>>);

/// An `Email/query` result: every id in order with its thread.
pub type QueryResult = Arc<Vec<(EmailId, ThreadId)>>;

/// A kept result and the emails that came since it was computed, which it
/// may lack.
#[derive(Clone, Debug, Default)]
pub struct KeptResult {
    pub list: QueryResult,
    pub added: BTreeSet<EmailId>,
}

impl QueryResults {
    const KEEP: usize = 8;
}

impl Clone for QueryResults {
    fn clone(&self) -> Self {
        QueryResults::default()
    }
}

/// What the caller may do in a shared account's mailboxes.
#[derive(Clone, Debug)]
pub struct SharedView {
    pub rights: HashMap<MailboxId, Rights>,
    pub subscribed: BTreeSet<MailboxId>,
}

impl AccountView {
    pub fn load(store: &Store, account: AccountId) -> Result<AccountView, StoreError> {
        Self::load_at(store, account, 0)
    }

    /// The account's view, read after its MODSEQ was `modseq`.
    fn load_at(store: &Store, account: AccountId, modseq: u64) -> Result<AccountView, StoreError> {
        let mut view = AccountView {
            mailboxes: store.mailboxes(account)?,
            emails: BTreeMap::new(),
            shared: None,
            modseq,
            uids: HashMap::new(),
            queries: QueryResults::default(),
        };
        for mailbox in view.mailboxes.clone() {
            view.load_mailbox(store, account, mailbox.id)?;
        }
        Ok(view)
    }

    /// Adds every entry of a mailbox.
    fn load_mailbox(
        &mut self,
        store: &Store,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<(), StoreError> {
        let entries = store.mailbox_entries(account, mailbox)?;
        let uids = self.uids.entry(mailbox).or_default();
        for entry in &entries {
            uids.insert(entry.uid, entry.email);
        }
        add_entries(&mut self.emails, mailbox, entries);
        Ok(())
    }

    /// Brings the view from its MODSEQ up to `modseq` (read before): the
    /// mailbox list anew, then each mailbox's entries changed and UIDs
    /// expunged since. Applying a change twice does no harm, so a change
    /// committed while this runs is simply seen again next time.
    fn refresh(
        &mut self,
        store: &Store,
        account: AccountId,
        modseq: u64,
    ) -> Result<(), StoreError> {
        let mailboxes = store.mailboxes(account)?;
        // What changed, for the query results kept: the mailboxes whose
        // members other than new emails changed, the new emails, whether
        // an email went or a mailbox came or went, whether keywords of an
        // email changed.
        let mut members_changed: BTreeSet<MailboxId> = BTreeSet::new();
        let mut came: BTreeSet<EmailId> = BTreeSet::new();
        let mut upheaval = false;
        let mut keywords_changed = false;
        let gone: Vec<MailboxId> = self
            .uids
            .keys()
            .filter(|m| !mailboxes.iter().any(|x| x.id == **m))
            .copied()
            .collect();
        for mailbox in gone {
            upheaval = true;
            for email in self.uids.remove(&mailbox).unwrap_or_default().into_values() {
                self.take_out(email, mailbox);
            }
        }
        for mailbox in &mailboxes {
            if !self.uids.contains_key(&mailbox.id) {
                upheaval = true;
                self.load_mailbox(store, account, mailbox.id)?;
                continue;
            }
            let delta = store.mailbox_changes(account, mailbox.id, ModSeq(self.modseq))?;
            for uid in delta.vanished {
                let email = self.uids.get_mut(&mailbox.id).and_then(|u| u.remove(&uid));
                if let Some(email) = email {
                    members_changed.insert(mailbox.id);
                    upheaval |= self.take_out(email, mailbox.id);
                }
            }
            let uids = self.uids.entry(mailbox.id).or_default();
            for entry in &delta.changed {
                if uids.insert(entry.uid, entry.email).is_none()
                    && self.emails.contains_key(&entry.email)
                    && !came.contains(&entry.email)
                {
                    members_changed.insert(mailbox.id);
                }
            }
            for entry in delta.changed {
                let info = self.emails.entry(entry.email).or_insert_with(|| {
                    came.insert(entry.email);
                    EmailInfo {
                        thread: entry.thread,
                        keywords: entry.keywords.clone(),
                        size: entry.size,
                        received: entry.received,
                        mailboxes: BTreeSet::new(),
                    }
                });
                if info.keywords != entry.keywords {
                    keywords_changed = true;
                    info.keywords = entry.keywords;
                }
                info.mailboxes.insert(mailbox.id);
            }
        }
        self.mailboxes = mailboxes;
        self.modseq = modseq;
        // A kept result stands unless an email went or a mailbox came or
        // went, a mailbox its filter names changed members (new emails
        // aside), or keywords changed and its filter names one (hasKeyword,
        // allInThreadHaveKeyword, …): starring an email changes Starred's
        // members and its keywords, not an INBOX query's result. New
        // emails are noted with each result that stands, to be added to it
        // when it is next asked for (`Email/query` does that).
        if upheaval {
            self.queries = QueryResults::default();
        } else {
            let names: Vec<String> = members_changed.iter().map(|m| format!("\"{m}\"")).collect();
            let stale = |key: &str| {
                (keywords_changed && key.contains("Keyword"))
                    || names.iter().any(|n| key.contains(n.as_str()))
            };
            let mut kept = lock(&self.queries.0);
            kept.retain(|(key, _)| !stale(key));
            for (_, result) in kept.iter_mut() {
                result.added.extend(came.iter().copied());
            }
        }
        Ok(())
    }

    /// `email` is no longer in `mailbox` (nor anywhere, when that was its
    /// last: then true).
    fn take_out(&mut self, email: EmailId, mailbox: MailboxId) -> bool {
        // Still in the mailbox under another UID (expunged and added back).
        if self
            .uids
            .get(&mailbox)
            .is_some_and(|u| u.values().any(|e| *e == email))
        {
            return false;
        }
        if let Some(info) = self.emails.get_mut(&email) {
            info.mailboxes.remove(&mailbox);
            if info.mailboxes.is_empty() {
                self.emails.remove(&email);
                return true;
            }
        }
        false
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
            modseq: 0,
            uids: HashMap::new(),
            queries: QueryResults::default(),
        })
    }

    /// The result of the query `key` if this view computed it, with the
    /// emails that came since.
    pub fn query_result(&self, key: &str) -> Option<KeptResult> {
        lock(&self.queries.0)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
    }

    /// Keeps a query's result (complete at the view's state) with the view.
    pub fn keep_query_result(&self, key: String, list: QueryResult) {
        let mut kept = lock(&self.queries.0);
        kept.retain(|(k, _)| *k != key);
        if kept.len() >= QueryResults::KEEP {
            kept.pop_front();
        }
        kept.push_back((
            key,
            KeptResult {
                list,
                added: BTreeSet::new(),
            },
        ));
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

    /// The emails of each of several threads, oldest first (RFC 8621 §3:
    /// sorted by receivedAt), in one pass over the account (a `Thread/get`
    /// of a page's 50 threads was 50 passes).
    pub fn threads(&self, wanted: &[ThreadId]) -> HashMap<ThreadId, Vec<EmailId>> {
        let wanted: std::collections::HashSet<ThreadId> = wanted.iter().copied().collect();
        let mut found: HashMap<ThreadId, Vec<(i64, EmailId)>> = HashMap::new();
        for (id, e) in &self.emails {
            if wanted.contains(&e.thread) {
                found.entry(e.thread).or_default().push((e.received, *id));
            }
        }
        found
            .into_iter()
            .map(|(t, mut ids)| {
                ids.sort();
                (t, ids.into_iter().map(|(_, id)| id).collect())
            })
            .collect()
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

/// The views of the accounts used last, together holding at most
/// `budget` emails (the last one used is kept whatever its size), each
/// behind its own lock: two requests of one account wait for one load or
/// refresh instead of making two.
pub struct ViewCache {
    budget: usize,
    /// Full loads so far (the rest were refreshes or hits).
    loads: std::sync::atomic::AtomicUsize,
    /// Most recently used last, with the emails its view holds.
    slots: Mutex<VecDeque<(AccountId, Slot, usize)>>,
}

type Slot = Arc<Mutex<Option<Arc<AccountView>>>>;

impl std::fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewCache")
            .field("budget", &self.budget)
            .field("accounts", &lock(&self.slots).len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ViewCache {
    pub fn new(budget: usize) -> ViewCache {
        ViewCache {
            budget,
            loads: std::sync::atomic::AtomicUsize::new(0),
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// The view of `account` with every change up to `modseq` (the
    /// account's MODSEQ, read just before): the kept one if it is that
    /// recent, else the kept one brought up to date, else a new one.
    pub fn view(
        &self,
        store: &Store,
        account: AccountId,
        modseq: u64,
    ) -> Result<Arc<AccountView>, StoreError> {
        let slot = {
            let mut slots = lock(&self.slots);
            let (slot, size) = match slots.iter().position(|(a, _, _)| *a == account) {
                Some(i) => slots.remove(i).map(|(_, s, n)| (s, n)).unwrap_or_default(),
                None => (Slot::default(), 0),
            };
            slots.push_back((account, Arc::clone(&slot), size));
            slot
        };
        let mut kept = lock(&slot);
        let load = || {
            self.loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            AccountView::load_at(store, account, modseq).map(Arc::new)
        };
        let view = match kept.take() {
            Some(view) if view.modseq >= modseq => view,
            Some(view) => {
                // Changed in place unless a request still reads it.
                let mut view = Arc::try_unwrap(view).unwrap_or_else(|v| (*v).clone());
                match view.refresh(store, account, modseq) {
                    Ok(()) => Arc::new(view),
                    // A mailbox went between the list and its changes.
                    Err(StoreError::NotFound(_)) => load()?,
                    Err(e) => return Err(e),
                }
            }
            None => load()?,
        };
        *kept = Some(Arc::clone(&view));
        drop(kept);
        let mut slots = lock(&self.slots);
        if let Some(entry) = slots.iter_mut().find(|(a, _, _)| *a == account) {
            entry.2 = view.emails.len();
        }
        let mut total: usize = slots.iter().map(|(_, _, n)| n).sum();
        while total > self.budget && slots.len() > 1 {
            if let Some((_, _, n)) = slots.pop_front() {
                total -= n;
            }
        }
        Ok(view)
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

#[cfg(test)]
mod cache_tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;
    use tidings_store::{FlagOp, Recipient};
    use tidings_types::{MailboxName, MailboxRole, Secret};

    fn message(i: usize) -> Vec<u8> {
        format!("From: a@example.org\r\nSubject: m{i}\r\nMessage-ID: <{i}@t>\r\n\r\nbody {i}\r\n")
            .into_bytes()
    }

    /// The kept view, brought up to date after each kind of change, is
    /// the view a fresh load reads.
    #[test]
    fn a_refreshed_view_equals_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_domain("example.org").unwrap();
        let account = store
            .create_account("u@example.org", &Secret::new("pw".to_string()))
            .unwrap();
        let inbox = store
            .mailbox_by_role(account, MailboxRole::Inbox)
            .unwrap()
            .unwrap()
            .id;
        let to = [Recipient {
            account,
            mailbox: inbox,
            keywords: Vec::new(),
        }];
        let mut uids = Vec::new();
        for i in 0..6 {
            let r = store.deliver(&message(i), None, &to).unwrap();
            uids.push(r.into_iter().next().unwrap().unwrap().uid);
        }
        let cache = ViewCache::new(1000);
        let state = || store.account_by_id(account).unwrap().unwrap().modseq.0;
        let check = |what: &str| {
            let kept = cache.view(&store, account, state()).unwrap();
            let fresh = AccountView::load(&store, account).unwrap();
            assert_eq!(kept.emails, fresh.emails, "after {what}");
            let names = |v: &AccountView| -> Vec<String> {
                v.mailboxes
                    .iter()
                    .map(|m| m.name.as_str().to_string())
                    .collect()
            };
            assert_eq!(names(&kept), names(&fresh), "after {what}");
        };
        check("the first load");
        // Query results kept with the view: a flag change keeps those that
        // do not filter on keywords, a new email drops them all.
        let kept = cache.view(&store, account, state()).unwrap();
        kept.keep_query_result("{\"inMailbox\"}".into(), Arc::default());
        kept.keep_query_result("{\"hasKeyword\"}".into(), Arc::default());
        drop(kept);
        let seen = Keyword::new("\\Seen").unwrap();
        store
            .store_flags(account, inbox, &uids[..2], FlagOp::Add, &[seen], None)
            .unwrap();
        check("a flag change");
        let kept = cache.view(&store, account, state()).unwrap();
        assert!(kept.query_result("{\"inMailbox\"}").is_some());
        assert!(kept.query_result("{\"hasKeyword\"}").is_none());
        drop(kept);
        let work = store
            .create_mailbox(account, &MailboxName::new("Work").unwrap(), None)
            .unwrap();
        store.copy(account, inbox, &uids[2..4], work).unwrap();
        check("a copy into a new mailbox");
        // Work and INBOX gain and lose members: the results of queries
        // naming Work go, those naming only INBOX stay.
        let kept = cache.view(&store, account, state()).unwrap();
        let (in_inbox, in_work) = (
            format!("{{\"inMailbox\":\"{inbox}\"}}"),
            format!("{{\"inMailbox\":\"{work}\"}}"),
        );
        kept.keep_query_result(in_inbox.clone(), Arc::default());
        kept.keep_query_result(in_work.clone(), Arc::default());
        drop(kept);
        store.copy(account, inbox, &uids[4..5], work).unwrap();
        check("a copy into Work");
        let kept = cache.view(&store, account, state()).unwrap();
        assert!(kept.query_result(&in_inbox).is_some());
        assert!(kept.query_result(&in_work).is_none());
        drop(kept);
        store
            .move_emails(account, inbox, &uids[4..5], work)
            .unwrap();
        check("a move");
        store.expunge(account, inbox, Some(&uids[..1])).unwrap();
        check("an expunge");
        store
            .store_flags(
                account,
                inbox,
                &uids[1..2],
                FlagOp::Remove,
                &[Keyword::new("\\Seen").unwrap()],
                None,
            )
            .unwrap();
        store
            .delete_mailbox(account, &MailboxName::new("Work").unwrap())
            .unwrap();
        check("a mailbox deleted");
        cache
            .view(&store, account, state())
            .unwrap()
            .keep_query_result("{\"inMailbox\"}".into(), Arc::default());
        store.deliver(&message(9), None, &to).unwrap();
        check("a delivery");
        // A new email keeps the result, noted as what it may lack (see
        // `email::query::results`).
        let kept = cache.view(&store, account, state()).unwrap();
        let result = kept.query_result("{\"inMailbox\"}").unwrap();
        assert_eq!(result.added.len(), 1);
        drop(kept);
        // Nothing changed: the kept view itself, not a new one.
        let a = cache.view(&store, account, state()).unwrap();
        let b = cache.view(&store, account, state()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // One load; every change after it was a refresh.
        assert_eq!(cache.loads.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
