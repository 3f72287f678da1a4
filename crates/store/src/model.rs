//! The mail model's rules (docs/design.md), written once above the
//! backends: what a write to an email's keywords or mailboxes means, given
//! the virtual mailboxes, the leave policy and the POP policy.
//!
//! A backend provides [`MailRows`], the row-level operations inside one of
//! its write transactions (add or remove an entry with a fresh UID, store
//! a keyword set, stamp a MODSEQ, log a change, delete an email's rows …);
//! the functions here decide which of them a COPY into Starred, an EXPUNGE
//! from All Mail or a POP3 `DELE` is. Every backend runs the same rules, so
//! the store's conformance suite (`crates/store/tests`) holds for each.
//!
//! The rules:
//! - All Mail holds exactly the emails in neither Trash nor Junk; Starred
//!   holds exactly the emails with `\Flagged` ([`sync_virtual`], after every
//!   change to an email).
//! - When an email loses its last visible (non-virtual) mailbox: if that was
//!   Trash or Junk it is deleted for good, otherwise the account's leave
//!   policy decides (archive: stays in All Mail; trash; delete)
//!   ([`after_leaving`]).
//! - Into Starred means flag it; into All Mail means out of Trash and Junk
//!   ([`put_into`]). Out of Starred means unflag; out of All Mail means to
//!   Trash, or gone under the delete policy ([`take_out_of`]).
//! - A new email is in its target, All Mail unless the target is Trash or
//!   Junk, Starred if flagged; `\Deleted` given with it marks its entry in
//!   the target, never the email ([`new_email_keywords`], [`place_new_email`]).
//! - Threads: Message-ID / In-Reply-To / References first, then a reply's
//!   base subject within 30 days ([`thread_for`]).
//! - POP3 `DELE` at `QUIT` follows the account's POP policy ([`pop_delete`]).

use std::collections::BTreeSet;

use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxRole, ModSeq, PopPolicy, ThreadId,
    Uid,
};

use crate::acl::{Right, Rights};
use crate::{ChangeKind, Envelope, FlagOp, MailboxEntry, Result, StoreError};

/// How long a normalized subject keeps a thread open for replies that carry
/// no usable references.
pub(crate) const SUBJECT_THREAD_WINDOW: i64 = 30 * 24 * 3600;

/// The mailbox facts the rules need.
#[derive(Clone, Debug)]
pub(crate) struct MailboxInfo {
    pub id: MailboxId,
    pub role: Option<MailboxRole>,
}

impl MailboxInfo {
    pub(crate) fn is_virtual(&self) -> bool {
        self.role.is_some_and(MailboxRole::is_virtual)
    }
    pub(crate) fn is_trash_or_junk(&self) -> bool {
        matches!(self.role, Some(MailboxRole::Trash | MailboxRole::Junk))
    }
}

impl ChangeKind {
    /// The number a backend stores for this kind in its change log.
    pub(crate) const fn code(self) -> i64 {
        match self {
            ChangeKind::EmailCreated => 0,
            ChangeKind::EmailUpdated => 1,
            ChangeKind::EmailDestroyed => 2,
            ChangeKind::MailboxChanged => 3,
            ChangeKind::MailboxDestroyed => 4,
            ChangeKind::ThreadChanged => 5,
        }
    }

    /// The kind stored as `code`, if any.
    pub(crate) fn from_code(code: i64) -> Option<ChangeKind> {
        Some(match code {
            0 => ChangeKind::EmailCreated,
            1 => ChangeKind::EmailUpdated,
            2 => ChangeKind::EmailDestroyed,
            3 => ChangeKind::MailboxChanged,
            4 => ChangeKind::MailboxDestroyed,
            5 => ChangeKind::ThreadChanged,
            _ => return None,
        })
    }
}

/// The row operations of one write transaction of a backend. Each keeps
/// the bookkeeping of what it touches (mailbox counters, the MODSEQ of the
/// transaction on what it changes, the mailboxes to announce after commit);
/// none applies a rule of the model.
pub(crate) trait MailRows {
    /// Unix seconds at the start of the transaction.
    fn now(&self) -> i64;
    /// The mailboxes an email is in, with their roles.
    fn memberships(&mut self, email: EmailId) -> Result<Vec<MailboxInfo>>;
    /// The email's keywords (never `\Deleted`).
    fn keywords(&mut self, email: EmailId) -> Result<BTreeSet<String>>;
    /// Stores `new` as the email's keywords (on the email and its
    /// entries), keeping the unseen counters of its mailboxes; `old` is
    /// what [`MailRows::keywords`] returned.
    fn write_keywords(
        &mut self,
        email: EmailId,
        old: &BTreeSet<String>,
        new: &BTreeSet<String>,
    ) -> Result<()>;
    /// Adds `email` to `mailbox` with the mailbox's next UID (stamping the
    /// mailbox); the existing UID when it is there already.
    fn add_entry(&mut self, account: AccountId, email: EmailId, mailbox: MailboxId) -> Result<Uid>;
    /// Removes `email` from `mailbox`, leaving a tombstone for QRESYNC.
    /// False if it was not there.
    fn remove_entry(
        &mut self,
        account: AccountId,
        email: EmailId,
        mailbox: MailboxId,
    ) -> Result<bool>;
    /// The email's UID in `mailbox`, if it is there.
    fn entry_uid(&mut self, email: EmailId, mailbox: MailboxId) -> Result<Option<Uid>>;
    /// Sets or clears `\Deleted` on the entry `uid` of `mailbox`, stamping
    /// it and its mailbox; false when the entry is gone or already so.
    fn set_entry_deleted(
        &mut self,
        account: AccountId,
        mailbox: MailboxId,
        uid: Uid,
        deleted: bool,
    ) -> Result<bool>;
    /// Stamps the transaction's MODSEQ on the email, its entries and their
    /// mailboxes, and logs the email updated.
    fn stamp_email(&mut self, account: AccountId, email: EmailId) -> Result<ModSeq>;
    /// Writes a row of the account's change log at the transaction's MODSEQ.
    fn log_change(&mut self, account: AccountId, kind: ChangeKind, object: i64) -> Result<()>;
    /// The account's mailbox with `role`, if it has one.
    fn mailbox_with_role(
        &mut self,
        account: AccountId,
        role: MailboxRole,
    ) -> Result<Option<MailboxInfo>>;
    /// The account's leave and POP policies.
    fn policies(&mut self, account: AccountId) -> Result<(LeavePolicy, PopPolicy)>;
    /// Marks the email deleted by a POP3 client (never offered again).
    fn mark_pop_deleted(&mut self, email: EmailId) -> Result<()>;
    /// Deletes the rows of an email that is in no mailbox any more: the
    /// email, its metadata and index, its quota use and its blob reference
    /// (the blob itself goes after commit if nothing names it). Returns
    /// the email's thread.
    fn delete_email_rows(&mut self, account: AccountId, email: EmailId) -> Result<ThreadId>;
    /// The thread that already knows `message_id`.
    fn thread_of_message_id(
        &mut self,
        account: AccountId,
        message_id: &str,
    ) -> Result<Option<ThreadId>>;
    /// The thread last seen with the base subject `base` at `since` or later.
    fn thread_of_subject(
        &mut self,
        account: AccountId,
        base: &str,
        since: i64,
    ) -> Result<Option<ThreadId>>;
}

fn flagged() -> Keyword {
    // A constant, valid by construction.
    Keyword::new(Keyword::FLAGGED).unwrap_or_else(|_| unreachable!())
}

/// Replaces an email's keywords (never `\Deleted`), then restores Starred.
/// False when nothing changed.
pub(crate) fn set_keywords(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    new: &BTreeSet<String>,
) -> Result<bool> {
    let old = rows.keywords(email)?;
    if &old == new {
        return Ok(false);
    }
    rows.write_keywords(email, &old, new)?;
    rows.stamp_email(account, email)?;
    sync_virtual(rows, account, email)?;
    Ok(true)
}

/// Adds/removes keywords, compared case-insensitively as IMAP does.
pub(crate) fn edit_keywords(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    add: &[Keyword],
    remove: &[Keyword],
) -> Result<bool> {
    let mut set = rows.keywords(email)?;
    for k in remove {
        set.retain(|s| !k.matches(s));
    }
    for k in add {
        if !k.is_deleted() && !set.iter().any(|s| k.matches(s)) {
            set.insert(k.as_str().to_string());
        }
    }
    set_keywords(rows, account, email, &set)
}

/// Restores the All Mail and Starred rules for one email.
pub(crate) fn sync_virtual(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
) -> Result<()> {
    let members = rows.memberships(email)?;
    let in_trash_or_junk = members.iter().any(MailboxInfo::is_trash_or_junk);
    let flagged = rows.keywords(email)?.contains(Keyword::FLAGGED);
    for (role, wanted) in [
        (MailboxRole::All, !in_trash_or_junk),
        (MailboxRole::Flagged, flagged),
    ] {
        let Some(mb) = rows.mailbox_with_role(account, role)? else {
            continue;
        };
        let present = members.iter().any(|m| m.id == mb.id);
        if wanted && !present {
            rows.add_entry(account, email, mb.id)?;
            rows.stamp_email(account, email)?;
        } else if !wanted && present {
            rows.remove_entry(account, email, mb.id)?;
            rows.log_change(account, ChangeKind::EmailUpdated, email.0)?;
        }
    }
    Ok(())
}

/// Applies the rules for an email that just left `from` (a visible mailbox):
/// if no visible mailbox is left, Trash/Junk removal deletes it for good and
/// anything else follows the leave policy. Returns false if it was destroyed.
pub(crate) fn after_leaving(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    from: &MailboxInfo,
) -> Result<bool> {
    let members = rows.memberships(email)?;
    if members.iter().any(|m| !m.is_virtual()) {
        sync_virtual(rows, account, email)?;
        return Ok(true);
    }
    let policy = if from.is_trash_or_junk() {
        LeavePolicy::Delete
    } else {
        rows.policies(account)?.0
    };
    match policy {
        LeavePolicy::Archive => sync_virtual(rows, account, email)?,
        LeavePolicy::Trash => match rows.mailbox_with_role(account, MailboxRole::Trash)? {
            Some(trash) => {
                rows.add_entry(account, email, trash.id)?;
                rows.stamp_email(account, email)?;
                sync_virtual(rows, account, email)?;
            }
            None => sync_virtual(rows, account, email)?,
        },
        LeavePolicy::Delete => {
            destroy_email(rows, account, email)?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Puts an existing email into `target`, honouring the virtual mailboxes:
/// into Starred means flag it; into All Mail means take it out of Trash and
/// Junk. Returns its UID in `target`.
pub(crate) fn put_into(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    target: &MailboxInfo,
) -> Result<Uid> {
    match target.role {
        Some(MailboxRole::Flagged) => {
            edit_keywords(rows, account, email, &[flagged()], &[])?;
        }
        Some(MailboxRole::All) => {
            let mut restored = false;
            for m in rows.memberships(email)? {
                if m.is_trash_or_junk() {
                    restored |= rows.remove_entry(account, email, m.id)?;
                }
            }
            if restored {
                rows.stamp_email(account, email)?;
                sync_virtual(rows, account, email)?;
            }
        }
        _ => {
            if let Some(uid) = rows.entry_uid(email, target.id)? {
                return Ok(uid);
            }
            rows.add_entry(account, email, target.id)?;
            rows.stamp_email(account, email)?;
            sync_virtual(rows, account, email)?;
        }
    }
    rows.entry_uid(email, target.id)?.ok_or_else(|| {
        StoreError::Refused(format!(
            "the email cannot be placed in mailbox {}",
            target.id
        ))
    })
}

/// Takes an email out of `source` as EXPUNGE or MOVE would. Out of Starred
/// means unflag; out of All Mail means to Trash (or gone, under the delete
/// policy). Returns false if the email was destroyed.
pub(crate) fn take_out_of(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    source: &MailboxInfo,
) -> Result<bool> {
    match source.role {
        Some(MailboxRole::Flagged) => {
            edit_keywords(rows, account, email, &[], &[flagged()])?;
            Ok(true)
        }
        Some(MailboxRole::All) => {
            if rows.policies(account)?.0 == LeavePolicy::Delete {
                destroy_email(rows, account, email)?;
                return Ok(false);
            }
            for m in rows.memberships(email)? {
                if !m.is_virtual() {
                    rows.remove_entry(account, email, m.id)?;
                }
            }
            if let Some(trash) = rows.mailbox_with_role(account, MailboxRole::Trash)? {
                rows.add_entry(account, email, trash.id)?;
            }
            rows.stamp_email(account, email)?;
            sync_virtual(rows, account, email)?;
            Ok(true)
        }
        _ => {
            if rows.remove_entry(account, email, source.id)? {
                rows.stamp_email(account, email)?;
            }
            after_leaving(rows, account, email, source)
        }
    }
}

/// COPY (RFC 9051 §6.4.7) or MOVE (RFC 6851) of one email of `source`
/// into `target` of the same account; returns its UID in `target`.
pub(crate) fn copy_or_move_email(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    source: &MailboxInfo,
    target: &MailboxInfo,
    is_move: bool,
) -> Result<Uid> {
    let new_uid = put_into(rows, account, email, target)?;
    if !is_move || source.id == target.id {
        return Ok(new_uid);
    }
    match (source.role, target.role) {
        // Out of All Mail is not "to Trash" when moving elsewhere: the
        // email simply gained a label (it leaves All Mail only if the
        // target is Trash or Junk, by rule).
        (Some(MailboxRole::All), _) => {}
        // Out of Starred is unflagging, wherever it goes.
        (Some(MailboxRole::Flagged), _) => {
            take_out_of(rows, account, email, source)?;
        }
        // Moving to All Mail is an explicit archive: no leave policy.
        (_, Some(MailboxRole::All)) => {
            if rows.remove_entry(account, email, source.id)? {
                rows.stamp_email(account, email)?;
            }
            sync_virtual(rows, account, email)?;
        }
        _ => {
            take_out_of(rows, account, email, source)?;
        }
    }
    Ok(new_uid)
}

/// Deletes an email for good: its entries (tombstoned), then its rows; the
/// change log records it destroyed and its thread changed.
pub(crate) fn destroy_email(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
) -> Result<()> {
    for m in rows.memberships(email)? {
        rows.remove_entry(account, email, m.id)?;
    }
    let thread = rows.delete_email_rows(account, email)?;
    rows.log_change(account, ChangeKind::EmailDestroyed, email.0)?;
    rows.log_change(account, ChangeKind::ThreadChanged, thread.0)?;
    Ok(())
}

/// What a POP3 `DELE` + `QUIT` does to one email, by the account's POP
/// policy (docs/design.md): it leaves the POP3 maildrop for good in every case.
pub(crate) fn pop_delete(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
) -> Result<()> {
    rows.mark_pop_deleted(email)?;
    let policy = rows.policies(account)?.1;
    let inbox = rows.mailbox_with_role(account, MailboxRole::Inbox)?;
    let leave_inbox = |rows: &mut _| -> Result<()> {
        if let Some(inbox) = &inbox
            && MailRows::remove_entry(rows, account, email, inbox.id)?
        {
            MailRows::stamp_email(rows, account, email)?;
        }
        sync_virtual(rows, account, email)
    };
    match policy {
        PopPolicy::Keep => {}
        PopPolicy::MarkRead => {
            let seen = Keyword::new(Keyword::SEEN).unwrap_or_else(|_| unreachable!());
            edit_keywords(rows, account, email, &[seen], &[])?;
        }
        PopPolicy::Archive => leave_inbox(rows)?,
        PopPolicy::Trash => {
            if let Some(trash) = rows.mailbox_with_role(account, MailboxRole::Trash)? {
                rows.add_entry(account, email, trash.id)?;
            }
            leave_inbox(rows)?;
        }
        PopPolicy::Delete => destroy_email(rows, account, email)?,
    }
    Ok(())
}

/// The keywords a new email stored into `target` gets: the given ones but
/// `\Deleted` (an entry's flag), plus `\Flagged` when the target is Starred.
pub(crate) fn new_email_keywords(given: &[Keyword], target: &MailboxInfo) -> BTreeSet<String> {
    let mut keywords: BTreeSet<String> = given
        .iter()
        .filter(|k| !k.is_deleted())
        .map(|k| k.as_str().to_string())
        .collect();
    if target.role == Some(MailboxRole::Flagged) {
        keywords.insert(Keyword::FLAGGED.to_string());
    }
    keywords
}

/// Gives a new email (its rows written, in no mailbox yet) the memberships
/// the rules give it: the target, All Mail unless the target is Trash or
/// Junk, Starred if flagged. Returns its UID in `target`.
pub(crate) fn place_new_email(
    rows: &mut impl MailRows,
    account: AccountId,
    email: EmailId,
    target: &MailboxInfo,
    keywords: &BTreeSet<String>,
) -> Result<Uid> {
    if !target.is_virtual() {
        rows.add_entry(account, email, target.id)?;
    }
    if !target.is_trash_or_junk()
        && let Some(all) = rows.mailbox_with_role(account, MailboxRole::All)?
    {
        rows.add_entry(account, email, all.id)?;
    }
    if keywords.contains(Keyword::FLAGGED)
        && let Some(starred) = rows.mailbox_with_role(account, MailboxRole::Flagged)?
    {
        rows.add_entry(account, email, starred.id)?;
    }
    rows.entry_uid(email, target.id)?.ok_or_else(|| {
        StoreError::Refused(format!(
            "the email cannot be placed in mailbox {}",
            target.id
        ))
    })
}

/// Picks the thread of a new email: by Message-ID/In-Reply-To/References,
/// else (for replies) by normalized subject within a window, else its own
/// (`email`). `base` is the base subject of its subject.
pub(crate) fn thread_for(
    rows: &mut impl MailRows,
    account: AccountId,
    env: &Envelope,
    base: &str,
    email: EmailId,
) -> Result<ThreadId> {
    for id in env
        .references
        .iter()
        .rev()
        .chain(&env.in_reply_to)
        .chain(&env.message_id)
    {
        if let Some(t) = rows.thread_of_message_id(account, id)? {
            return Ok(t);
        }
    }
    let subject = env.subject.as_deref().unwrap_or_default();
    // A reply or forward: it has references, or its subject lost a prefix
    // on the way to its base subject (compared with the same normalisation).
    let plain = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let is_reply = !env.in_reply_to.is_empty() || !env.references.is_empty() || base != plain;
    if is_reply && !base.is_empty() {
        let since = rows.now() - SUBJECT_THREAD_WINDOW;
        if let Some(t) = rows.thread_of_subject(account, base, since)? {
            return Ok(t);
        }
    }
    Ok(ThreadId(email.0))
}

/// STORE on one entry `e` of `mailbox` (RFC 9051 §6.4.6): keywords change
/// on the email (every mailbox sees them), `\Deleted` only on the entry.
/// `keywords` are the flags given but `\Deleted`, `deleted_flag` whether
/// `\Deleted` was among them, both already cut to what `rights` allow
/// (RFC 4314 §4); with a replace, the flags the caller may not change stay
/// as they are. True when the entry or its email changed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store_entry_flags(
    rows: &mut impl MailRows,
    account: AccountId,
    mailbox: MailboxId,
    e: &MailboxEntry,
    op: FlagOp,
    keywords: &[Keyword],
    deleted_flag: bool,
    rights: Rights,
) -> Result<bool> {
    let flag_rights = Rights::of(&[Right::Seen, Right::Write, Right::DeleteMessages]);
    let partial = !rights.contains(flag_rights);
    let kw_changed = match op {
        FlagOp::Add => edit_keywords(rows, account, e.email, keywords, &[])?,
        FlagOp::Remove => edit_keywords(rows, account, e.email, &[], keywords)?,
        FlagOp::Replace => {
            let mut set: BTreeSet<String> = e
                .keywords
                .iter()
                .filter(|k| partial && !rights.has(Right::for_flag(k)))
                .map(|k| k.as_str().to_string())
                .collect();
            set.extend(keywords.iter().map(|k| k.as_str().to_string()));
            set_keywords(rows, account, e.email, &set)?
        }
    };
    let want_deleted = match op {
        FlagOp::Add => e.deleted || deleted_flag,
        FlagOp::Remove => e.deleted && !deleted_flag,
        FlagOp::Replace if rights.has(Right::DeleteMessages) => deleted_flag,
        FlagOp::Replace => e.deleted,
    };
    // The keyword change may have taken the entry out of this mailbox
    // (unflagged in Starred): then there is nothing to mark.
    let mut deleted_changed = false;
    if want_deleted != e.deleted && rows.set_entry_deleted(account, mailbox, e.uid, want_deleted)? {
        deleted_changed = true;
        rows.log_change(account, ChangeKind::EmailUpdated, e.email.0)?;
    }
    Ok(kw_changed || deleted_changed)
}

/// Folds change log rows (kind, object id), oldest first, into what
/// changed since: an email created and destroyed in between is neither,
/// one created and updated is created only.
pub(crate) fn fold_changes(
    rows: impl IntoIterator<Item = (ChangeKind, i64)>,
    new_modseq: ModSeq,
) -> crate::Changes {
    let (mut created, mut updated, mut destroyed) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut mb_changed, mut mb_destroyed) = (BTreeSet::new(), BTreeSet::new());
    for (kind, id) in rows {
        match kind {
            ChangeKind::EmailCreated => {
                created.insert(id);
            }
            ChangeKind::EmailUpdated => {
                updated.insert(id);
            }
            ChangeKind::EmailDestroyed => {
                if !created.remove(&id) {
                    destroyed.insert(id);
                }
                updated.remove(&id);
            }
            ChangeKind::MailboxChanged => {
                mb_changed.insert(id);
            }
            ChangeKind::MailboxDestroyed => {
                mb_changed.remove(&id);
                mb_destroyed.insert(id);
            }
            ChangeKind::ThreadChanged => {}
        }
    }
    crate::Changes {
        updated: updated.difference(&created).copied().map(EmailId).collect(),
        created: created.into_iter().map(EmailId).collect(),
        destroyed: destroyed.into_iter().map(EmailId).collect(),
        mailboxes_changed: mb_changed.into_iter().map(MailboxId).collect(),
        mailboxes_destroyed: mb_destroyed.into_iter().map(MailboxId).collect(),
        new_modseq,
    }
}

/// What a backend knows of addresses, for [`lookup`], [`resolve_recipient`]
/// and [`expand_recipient`] (addresses normalized: lower case).
pub(crate) trait AddressBook {
    /// The account with this address.
    fn account_of(&mut self, address: &str) -> Result<Option<AccountId>>;
    /// The account a one-account alias (or catch-all `@domain`) names.
    fn alias_account(&mut self, address: &str) -> Result<Option<AccountId>>;
    /// The targets of an alias with several or remote targets, in order.
    fn alias_targets(&mut self, address: &str) -> Result<Vec<String>>;
    /// Whether `domain` is one of ours.
    fn is_local_domain(&mut self, domain: &str) -> Result<bool>;
}

/// What one address in a local domain names, without expanding further.
pub(crate) enum Found {
    Account(AccountId),
    Targets(Vec<String>),
}

/// Looks `address` (normalized) up: account, one-account alias, alias with
/// targets; then the same for its `+tag`-less form (RFC 5233); then the
/// domain's catch-all.
pub(crate) fn lookup(book: &mut impl AddressBook, address: &str) -> Result<Option<Found>> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    let base = local.split_once('+').map(|(l, _)| format!("{l}@{domain}"));
    let catch_all = format!("@{domain}");
    for candidate in [Some(address), base.as_deref(), Some(catch_all.as_str())]
        .into_iter()
        .flatten()
    {
        if let Some(id) = book.account_of(candidate)? {
            return Ok(Some(Found::Account(id)));
        }
        if let Some(id) = book.alias_account(candidate)? {
            return Ok(Some(Found::Account(id)));
        }
        let targets = book.alias_targets(candidate)?;
        if !targets.is_empty() {
            return Ok(Some(Found::Targets(targets)));
        }
    }
    Ok(None)
}

/// `Backend::resolve_recipient` for a normalized address: an account, a
/// one-account alias, the same for its `+tag`-less form (RFC 5233), then
/// the domain's one-account catch-all.
pub(crate) fn resolve_recipient(
    book: &mut impl AddressBook,
    address: &str,
) -> Result<Option<AccountId>> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    let base = local.split_once('+').map(|(l, _)| format!("{l}@{domain}"));
    for candidate in std::iter::once(address).chain(base.as_deref()) {
        if let Some(id) = book.account_of(candidate)? {
            return Ok(Some(id));
        }
        if let Some(id) = book.alias_account(candidate)? {
            return Ok(Some(id));
        }
    }
    book.alias_account(&format!("@{domain}"))
}

/// `Backend::expand_recipient` for a normalized address: aliases with
/// several or remote targets expanded depth-first within `limits`; a
/// target already visited is skipped (so a cycle ends), a local target
/// that no longer resolves is skipped.
pub(crate) fn expand_recipient(
    book: &mut impl AddressBook,
    address: String,
    limits: crate::ExpansionLimits,
) -> Result<crate::Expansion> {
    use crate::Expansion;
    let targets = match lookup(book, &address)? {
        None => return Ok(Expansion::Unknown),
        Some(Found::Account(id)) => return Ok(Expansion::Account(id)),
        Some(Found::Targets(t)) => t,
    };
    let mut visited = std::collections::HashSet::from([address]);
    let mut accounts: Vec<AccountId> = Vec::new();
    let mut remote: Vec<String> = Vec::new();
    // Depth-first, each level a list of targets still to visit.
    let mut stack: Vec<std::vec::IntoIter<String>> = vec![targets.into_iter()];
    while let Some(level) = stack.last_mut() {
        let Some(target) = level.next() else {
            stack.pop();
            continue;
        };
        if !visited.insert(target.clone()) {
            continue;
        }
        let domain = target.rsplit_once('@').map_or("", |(_, d)| d);
        if !book.is_local_domain(domain)? {
            remote.push(target);
        } else {
            match lookup(book, &target)? {
                Some(Found::Account(id)) if !accounts.contains(&id) => accounts.push(id),
                None | Some(Found::Account(_)) => {}
                Some(Found::Targets(more)) => {
                    if stack.len() >= limits.max_depth {
                        return Ok(Expansion::Loop);
                    }
                    stack.push(more.into_iter());
                }
            }
        }
        if accounts.len() + remote.len() > limits.max_recipients {
            return Ok(Expansion::TooMany);
        }
    }
    if accounts.is_empty() && remote.is_empty() {
        return Ok(Expansion::Loop);
    }
    Ok(Expansion::Targets { accounts, remote })
}

/// Whether an account may submit one more message at `now`: its own
/// limits (`own_hour`, `own_day`; `None`: the server's `defaults`) against
/// `sent_since(t)`, how many it sent after `t`. The caller records the
/// message when this says [`crate::SendCheck::Allowed`], in the same
/// transaction.
pub(crate) fn send_check(
    own_hour: Option<i64>,
    own_day: Option<i64>,
    defaults: crate::SendLimits,
    now: i64,
    mut sent_since: impl FnMut(i64) -> Result<u32>,
) -> Result<crate::SendCheck> {
    let limit = |own: Option<i64>, default: Option<u32>| {
        own.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
            .or(default)
    };
    if let Some(l) = limit(own_hour, defaults.per_hour)
        && sent_since(now - 3600)? >= l
    {
        return Ok(crate::SendCheck::OverHour { limit: l });
    }
    if let Some(l) = limit(own_day, defaults.per_day)
        && sent_since(now - 86_400)? >= l
    {
        return Ok(crate::SendCheck::OverDay { limit: l });
    }
    Ok(crate::SendCheck::Allowed)
}
