//! The SQLite rows of the mail model inside a write transaction: the
//! [`MailRows`] operations that `crate::model`'s rules are written with,
//! ingest's rows, and the mailbox operations (create, rename, delete).
//!
//! Implementation notes (the invariants every function here keeps):
//! - An entry (mailbox, uid) gets its UID from the mailbox's `uidnext`, which
//!   only grows; a removed entry leaves a tombstone with the removing MODSEQ.
//! - Every change to an email's keywords or mailboxes stamps the job's MODSEQ
//!   on the email, on each affected entry, and on each affected mailbox's
//!   `highestmodseq`, and writes a row to the change log.
//! - Quota usage is the sum of email sizes; blob `refs` the number of emails
//!   naming the blob. The last reference gone, the file is unlinked after commit.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};
use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxName, MailboxRole, ModSeq,
    PopPolicy, ThreadId, Uid, UidValidity,
};

use super::writer::{Ctx, IndexOp};
use crate::blob::BlobHash;
use crate::model::{self, MailRows};
pub(crate) use crate::model::{
    MailboxInfo, after_leaving, destroy_email, edit_keywords, pop_delete, put_into, take_out_of,
};
use crate::parse::{Parsed, base_subject};
use crate::{Appended, ChangeKind, RecentUids, Result, StoreError};

pub(crate) const CHANGE_EMAIL_CREATED: i64 = ChangeKind::EmailCreated.code();
pub(crate) const CHANGE_EMAIL_UPDATED: i64 = ChangeKind::EmailUpdated.code();
pub(crate) const CHANGE_MAILBOX: i64 = ChangeKind::MailboxChanged.code();
pub(crate) const CHANGE_MAILBOX_DESTROYED: i64 = ChangeKind::MailboxDestroyed.code();

impl MailRows for Ctx<'_> {
    fn now(&self) -> i64 {
        self.now
    }
    fn memberships(&mut self, email: EmailId) -> Result<Vec<MailboxInfo>> {
        memberships(self, email)
    }
    fn keywords(&mut self, email: EmailId) -> Result<BTreeSet<String>> {
        keywords(self, email)
    }
    fn write_keywords(
        &mut self,
        email: EmailId,
        old: &BTreeSet<String>,
        new: &BTreeSet<String>,
    ) -> Result<()> {
        let was_seen = old.contains(Keyword::SEEN);
        let seen = new.contains(Keyword::SEEN);
        self.tx
            .prepare_cached("UPDATE emails SET keywords = ?2, seen = ?3 WHERE id = ?1")?
            .execute(params![email.0, join_keywords(new), seen])?;
        self.tx
            .prepare_cached("UPDATE entries SET keywords = ?2 WHERE email_id = ?1")?
            .execute(params![email.0, join_keywords(new)])?;
        if was_seen != seen {
            self.tx
                .prepare_cached(
                    "UPDATE mailboxes SET unseen = unseen + ?2
                     WHERE id IN (SELECT mailbox_id FROM entries WHERE email_id = ?1)",
                )?
                .execute(params![email.0, if seen { -1 } else { 1 }])?;
        }
        Ok(())
    }
    fn add_entry(&mut self, account: AccountId, email: EmailId, mailbox: MailboxId) -> Result<Uid> {
        add_entry(self, account, email, mailbox)
    }
    fn remove_entry(
        &mut self,
        account: AccountId,
        email: EmailId,
        mailbox: MailboxId,
    ) -> Result<bool> {
        remove_entry(self, account, email, mailbox)
    }
    fn entry_uid(&mut self, email: EmailId, mailbox: MailboxId) -> Result<Option<Uid>> {
        entry_uid(self, email, mailbox)
    }
    fn set_entry_deleted(
        &mut self,
        account: AccountId,
        mailbox: MailboxId,
        uid: Uid,
        deleted: bool,
    ) -> Result<bool> {
        let m = self.modseq(account)?;
        let updated = self
            .tx
            .prepare_cached(
                "UPDATE entries SET deleted = ?3, modseq = ?4 WHERE mailbox_id = ?1 AND uid = ?2 AND deleted <> ?3",
            )?
            .execute(params![mailbox.0, uid.0, deleted, m.0 as i64])?;
        if updated == 0 {
            return Ok(false);
        }
        self.tx
            .prepare_cached(
                "UPDATE mailboxes SET highestmodseq = ?2, deleted = deleted + ?3 WHERE id = ?1",
            )?
            .execute(params![mailbox.0, m.0 as i64, if deleted { 1 } else { -1 }])?;
        self.touch(account, mailbox);
        Ok(true)
    }
    fn stamp_email(&mut self, account: AccountId, email: EmailId) -> Result<ModSeq> {
        stamp_email(self, account, email)
    }
    fn log_change(&mut self, account: AccountId, kind: ChangeKind, object: i64) -> Result<()> {
        log_change(self, account, kind.code(), object)
    }
    fn mailbox_with_role(
        &mut self,
        account: AccountId,
        role: MailboxRole,
    ) -> Result<Option<MailboxInfo>> {
        mailbox_with_role(self, account, role)
    }
    fn policies(&mut self, account: AccountId) -> Result<(LeavePolicy, PopPolicy)> {
        let (leave, pop): (String, String) = self
            .tx
            .prepare_cached("SELECT leave_policy, pop_policy FROM accounts WHERE id = ?1")?
            .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((
            LeavePolicy::parse(&leave).unwrap_or_default(),
            PopPolicy::parse(&pop).unwrap_or_default(),
        ))
    }
    fn mark_pop_deleted(&mut self, email: EmailId) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE emails SET pop_deleted = 1 WHERE id = ?1")?
            .execute([email.0])?;
        Ok(())
    }
    fn delete_email_rows(&mut self, account: AccountId, email: EmailId) -> Result<ThreadId> {
        let ctx = self;
        ctx.tx
            .prepare_cached("DELETE FROM email_meta WHERE id = ?1")?
            .execute([email.0])?;
        let (blob, size, thread): (String, i64, i64) = ctx
            .tx
            .prepare_cached(
                "DELETE FROM emails WHERE id = ?1 AND account_id = ?2 RETURNING blob, size, thread_id",
            )?
            .query_row(params![email.0, account.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        ctx.index(IndexOp::Delete(email.0));
        ctx.tx
            .prepare_cached("UPDATE accounts SET used = used - ?2 WHERE id = ?1")?
            .execute(params![account.0, size])?;
        let refs: i64 = ctx
            .tx
            .prepare_cached("UPDATE blobs SET refs = refs - 1 WHERE hash = ?1 RETURNING refs")?
            .query_row([&blob], |r| r.get(0))?;
        if refs <= 0 {
            let inline: bool = ctx
                .tx
                .prepare_cached("DELETE FROM blobs WHERE hash = ?1 RETURNING data IS NOT NULL")?
                .query_row([&blob], |r| r.get(0))?;
            if let Some(h) = BlobHash::parse(&blob).filter(|_| !inline) {
                ctx.delete_blob_after_commit(h);
            }
        }
        Ok(ThreadId(thread))
    }
    fn thread_of_message_id(
        &mut self,
        account: AccountId,
        message_id: &str,
    ) -> Result<Option<ThreadId>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT thread_id FROM thread_refs WHERE account_id = ?1 AND message_id = ?2",
            )?
            .query_row(params![account.0, message_id], |r| r.get::<_, i64>(0))
            .optional()?
            .map(ThreadId))
    }
    fn thread_of_subject(
        &mut self,
        account: AccountId,
        base: &str,
        since: i64,
    ) -> Result<Option<ThreadId>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT thread_id FROM thread_subjects WHERE account_id = ?1 AND subject = ?2 AND at >= ?3",
            )?
            .query_row(params![account.0, base, since], |r| r.get::<_, i64>(0))
            .optional()?
            .map(ThreadId))
    }
}

pub(crate) fn log_change(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    kind: i64,
    object: i64,
) -> Result<()> {
    let m = ctx.modseq(account)?;
    ctx.tx
        .prepare_cached("INSERT OR IGNORE INTO changes(account_id, modseq, kind, object_id) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![account.0, m.0 as i64, kind, object])?;
    Ok(())
}

/// The mailbox `id` if it belongs to `account`.
pub(crate) fn mailbox_info(
    ctx: &Ctx<'_>,
    account: AccountId,
    id: MailboxId,
) -> Result<MailboxInfo> {
    ctx.tx
        .prepare_cached("SELECT role FROM mailboxes WHERE id = ?1 AND account_id = ?2")?
        .query_row(params![id.0, account.0], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .map(|role| MailboxInfo {
            id,
            role: role.as_deref().and_then(MailboxRole::parse),
        })
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {id}")))
}

pub(crate) fn mailbox_with_role(
    ctx: &Ctx<'_>,
    account: AccountId,
    role: MailboxRole,
) -> Result<Option<MailboxInfo>> {
    Ok(ctx
        .tx
        .prepare_cached("SELECT id FROM mailboxes WHERE account_id = ?1 AND role = ?2")?
        .query_row(params![account.0, role.as_str()], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|id| MailboxInfo {
            id: MailboxId(id),
            role: Some(role),
        }))
}

/// The unclaimed `\Recent` UIDs of a mailbox and how many entries have
/// one (see `Backend::recent_uids`).
pub(crate) fn recent_uids(
    c: &rusqlite::Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<RecentUids> {
    let (first, next): (i64, i64) = c
        .prepare_cached(
            "SELECT first_recent_uid, uidnext FROM mailboxes WHERE id = ?1 AND account_id = ?2",
        )?
        .query_row(params![mailbox.0, account.0], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let count: i64 = if first < next {
        c.prepare_cached("SELECT COUNT(*) FROM entries WHERE mailbox_id = ?1 AND uid >= ?2")?
            .query_row(params![mailbox.0, first], |r| r.get(0))?
    } else {
        0
    };
    let uid = |n: i64| Uid(u32::try_from(n).unwrap_or(u32::MAX));
    Ok(RecentUids {
        first: uid(first),
        next: uid(next),
        count: u32::try_from(count).unwrap_or(u32::MAX),
    })
}

pub(crate) fn mailbox_by_name(
    ctx: &Ctx<'_>,
    account: AccountId,
    name: &MailboxName,
) -> Result<Option<MailboxInfo>> {
    Ok(ctx
        .tx
        .prepare_cached("SELECT id, role FROM mailboxes WHERE account_id = ?1 AND name = ?2")?
        .query_row(params![account.0, name.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?
        .map(|(id, role)| MailboxInfo {
            id: MailboxId(id),
            role: role.as_deref().and_then(MailboxRole::parse),
        }))
}

/// A UIDVALIDITY never handed out before in this store.
fn next_uid_validity(ctx: &Ctx<'_>) -> Result<UidValidity> {
    let last: i64 = ctx
        .tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'uidvalidity'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    // Time-based, like most servers, so a restored backup does not reuse one.
    let now = ctx.now.clamp(1, i64::from(u32::MAX - 1));
    let next = (last + 1).max(now);
    if next > i64::from(u32::MAX) {
        return Err(StoreError::Refused("UIDVALIDITY space exhausted".into()));
    }
    ctx.tx.execute(
        "INSERT INTO meta(key, value) VALUES ('uidvalidity', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [next],
    )?;
    Ok(UidValidity(next as u32))
}

/// Creates one mailbox (the parent must exist or be created by the caller).
pub(crate) fn insert_mailbox(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    name: &MailboxName,
    role: Option<MailboxRole>,
) -> Result<MailboxId> {
    if mailbox_by_name(ctx, account, name)?.is_some() {
        return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
    }
    if let Some(r) = role
        && mailbox_with_role(ctx, account, r)?.is_some()
    {
        return Err(StoreError::AlreadyExists(format!(
            "a mailbox with role {}",
            r.as_str()
        )));
    }
    let validity = next_uid_validity(ctx)?;
    let m = ctx.modseq(account)?;
    ctx.tx.execute(
        "INSERT INTO mailboxes(account_id, name, role, uidvalidity, highestmodseq) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![account.0, name.as_str(), role.map(MailboxRole::as_str), validity.0, m.0 as i64],
    )?;
    let id = MailboxId(ctx.tx.last_insert_rowid());
    // A new mailbox starts with its parent's ACL (RFC 4314 leaves it to the
    // server; Dovecot does this too), so a mailbox created inside a shared
    // one is shared alike.
    if let Some(parent) = name.parent()
        && let Some(p) = mailbox_by_name(ctx, account, &parent)?
    {
        ctx.tx
            .prepare_cached(
                "INSERT INTO acl(mailbox_id, grantee, rights)
                 SELECT ?1, grantee, rights FROM acl WHERE mailbox_id = ?2",
            )?
            .execute(params![id.0, p.id.0])?;
    }
    // A new mailbox is subscribed, as most clients show only subscribed ones.
    ctx.tx
        .prepare_cached("INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?1, ?2)")?
        .execute(params![account.0, name.as_str()])?;
    log_change(ctx, account, CHANGE_MAILBOX, id.0)?;
    Ok(id)
}

/// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). Subscribing needs an
/// existing mailbox (the RFC lets a server check); unsubscribing works for any
/// name, since a subscription outlives its mailbox (RFC 3501 §6.3.9: the
/// server "MUST NOT unilaterally remove" it), and a name not subscribed is
/// simply not subscribed afterwards (as Dovecot answers).
pub(crate) fn set_subscribed(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    name: &MailboxName,
    subscribed: bool,
) -> Result<()> {
    let mailbox = mailbox_by_name(ctx, account, name)?;
    let changed = if subscribed {
        if mailbox.is_none() {
            return Err(StoreError::NotFound(format!("mailbox {name}")));
        }
        ctx.tx.execute(
            "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?1, ?2)",
            params![account.0, name.as_str()],
        )?
    } else {
        ctx.tx.execute(
            "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2",
            params![account.0, name.as_str()],
        )?
    };
    if let Some(mb) = mailbox
        && changed > 0
    {
        log_change(ctx, account, CHANGE_MAILBOX, mb.id.0)?;
    }
    Ok(())
}

/// Creates `name` and any missing ancestors.
pub(crate) fn create_mailbox(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    name: &MailboxName,
    role: Option<MailboxRole>,
) -> Result<MailboxId> {
    for parent in name.ancestors() {
        if mailbox_by_name(ctx, account, &parent)?.is_none() {
            insert_mailbox(ctx, account, &parent, None)?;
        }
    }
    insert_mailbox(ctx, account, name, role)
}

/// Adds `email` to `mailbox` with a fresh UID; returns the existing UID when
/// it is there already.
pub(crate) fn add_entry(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    email: EmailId,
    mailbox: MailboxId,
) -> Result<Uid> {
    if let Some(uid) = ctx
        .tx
        .prepare_cached("SELECT uid FROM entries WHERE email_id = ?1 AND mailbox_id = ?2")?
        .query_row(params![email.0, mailbox.0], |r| r.get::<_, u32>(0))
        .optional()?
    {
        return Ok(Uid(uid));
    }
    let m = ctx.modseq(account)?;
    let uid: i64 = ctx
        .tx
        .prepare_cached(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = ?2
             WHERE id = ?1 RETURNING uidnext - 1",
        )?
        .query_row(params![mailbox.0, m.0 as i64], |r| r.get(0))?;
    if uid > i64::from(u32::MAX) {
        return Err(StoreError::Refused(format!(
            "mailbox {mailbox} has used every UID"
        )));
    }
    ctx.tx
        .prepare_cached(
            "INSERT INTO entries(mailbox_id, uid, email_id, deleted, modseq, saved, keywords, thread_id, size, received)
             SELECT ?1, ?2, id, 0, ?4, ?5, keywords, thread_id, size, received FROM emails WHERE id = ?3",
        )?
        .execute(params![mailbox.0, uid, email.0, m.0 as i64, ctx.now])?;
    ctx.tx
        .prepare_cached(
            "UPDATE mailboxes SET messages = messages + 1, size = size + e.bytes, unseen = unseen + (1 - e.is_seen)
             FROM (SELECT size AS bytes, seen AS is_seen FROM emails WHERE id = ?2) AS e WHERE mailboxes.id = ?1",
        )?
        .execute(params![mailbox.0, email.0])?;
    ctx.touch(account, mailbox);
    Ok(Uid(uid as u32))
}

/// Removes `email` from `mailbox`, leaving a tombstone. False if it was not there.
pub(crate) fn remove_entry(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    email: EmailId,
    mailbox: MailboxId,
) -> Result<bool> {
    let Some((uid, was_deleted)) = ctx
        .tx
        .prepare_cached(
            "DELETE FROM entries WHERE email_id = ?1 AND mailbox_id = ?2 RETURNING uid, deleted",
        )?
        .query_row(params![email.0, mailbox.0], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        return Ok(false);
    };
    ctx.tx
        .prepare_cached(
            "UPDATE mailboxes SET messages = messages - 1, size = size - e.bytes,
                unseen = unseen - (1 - e.is_seen), deleted = deleted - ?3
             FROM (SELECT size AS bytes, seen AS is_seen FROM emails WHERE id = ?2) AS e WHERE mailboxes.id = ?1",
        )?
        .execute(params![mailbox.0, email.0, was_deleted])?;
    let m = ctx.modseq(account)?;
    ctx.tx
        .prepare_cached(
            "INSERT OR REPLACE INTO tombstones(mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![mailbox.0, uid, m.0 as i64])?;
    ctx.tx
        .prepare_cached("UPDATE mailboxes SET highestmodseq = ?2 WHERE id = ?1")?
        .execute(params![mailbox.0, m.0 as i64])?;
    ctx.touch(account, mailbox);
    Ok(true)
}

/// The mailboxes an email is in, with their roles.
pub(crate) fn memberships(ctx: &Ctx<'_>, email: EmailId) -> Result<Vec<MailboxInfo>> {
    let mut stmt = ctx.tx.prepare_cached(
        "SELECT m.id, m.role FROM entries e JOIN mailboxes m ON m.id = e.mailbox_id WHERE e.email_id = ?1",
    )?;
    let rows = stmt.query_map([email.0], |r| {
        Ok(MailboxInfo {
            id: MailboxId(r.get(0)?),
            role: r
                .get::<_, Option<String>>(1)?
                .as_deref()
                .and_then(MailboxRole::parse),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn keywords(ctx: &Ctx<'_>, email: EmailId) -> Result<BTreeSet<String>> {
    let text: String = ctx
        .tx
        .prepare_cached("SELECT keywords FROM emails WHERE id = ?1")?
        .query_row([email.0], |r| r.get(0))?;
    Ok(split_keywords(&text))
}

pub(crate) fn split_keywords(text: &str) -> BTreeSet<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn join_keywords(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// Marks an email changed: stamps MODSEQ on it and all its entries, and logs it.
pub(crate) fn stamp_email(ctx: &mut Ctx<'_>, account: AccountId, email: EmailId) -> Result<ModSeq> {
    let m = ctx.modseq(account)?;
    ctx.tx
        .prepare_cached("UPDATE emails SET modseq = ?2 WHERE id = ?1")?
        .execute(params![email.0, m.0 as i64])?;
    let mailboxes: Vec<i64> = ctx
        .tx
        .prepare_cached("UPDATE entries SET modseq = ?2 WHERE email_id = ?1 RETURNING mailbox_id")?
        .query_map(params![email.0, m.0 as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for mb in mailboxes {
        ctx.tx
            .prepare_cached("UPDATE mailboxes SET highestmodseq = ?2 WHERE id = ?1")?
            .execute(params![mb, m.0 as i64])?;
        ctx.touch(account, MailboxId(mb));
    }
    log_change(ctx, account, CHANGE_EMAIL_UPDATED, email.0)?;
    Ok(m)
}

pub(crate) fn entry_uid(ctx: &Ctx<'_>, email: EmailId, mailbox: MailboxId) -> Result<Option<Uid>> {
    Ok(ctx
        .tx
        .prepare_cached("SELECT uid FROM entries WHERE email_id = ?1 AND mailbox_id = ?2")?
        .query_row(params![email.0, mailbox.0], |r| r.get::<_, u32>(0))
        .optional()?
        .map(Uid))
}

/// The email at `uid` in `mailbox`.
pub(crate) fn email_at(ctx: &Ctx<'_>, mailbox: MailboxId, uid: Uid) -> Result<Option<EmailId>> {
    Ok(ctx
        .tx
        .prepare_cached("SELECT email_id FROM entries WHERE mailbox_id = ?1 AND uid = ?2")?
        .query_row(params![mailbox.0, uid.0], |r| r.get::<_, i64>(0))
        .optional()?
        .map(EmailId))
}

/// Checks that `email` belongs to `account`.
pub(crate) fn own_email(ctx: &Ctx<'_>, account: AccountId, email: EmailId) -> Result<()> {
    let found = ctx
        .tx
        .prepare_cached("SELECT 1 FROM emails WHERE id = ?1 AND account_id = ?2")?
        .query_row(params![email.0, account.0], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| StoreError::NotFound(format!("email {email}")))
}

pub(crate) fn address_text(list: &[crate::Address]) -> String {
    list.iter()
        .map(|a| match (&a.name, &a.email) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (None, Some(e)) => e.clone(),
            (Some(n), None) => n.clone(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A message ready to be stored: its blob is durable, its metadata parsed.
pub(crate) struct Incoming {
    pub hash: BlobHash,
    pub size: u64,
    /// Where the bytes are, should the blob need (re)writing at ingest.
    pub source: BlobSource,
    pub parsed: Parsed,
    /// Text computed from `parsed` by the caller's thread, not the writer's.
    derived: Derived,
}

struct Derived {
    meta_json: String,
    from: String,
    to: String,
    cc: String,
    /// From, To, Cc and Bcc, for the full-text index.
    addresses: String,
    base_subject: String,
}

/// The bytes of an incoming message: in memory, or a durable spool file
/// (`crate::spool`) that becomes the blob file by a hard link.
pub(crate) enum BlobSource {
    /// Only for an inline blob (kept in its row) or a file blob written
    /// from memory.
    Bytes(std::sync::Arc<[u8]>),
    /// A spooled body's file; it lives until the ingest has committed.
    File(std::path::PathBuf),
}

impl Incoming {
    /// Prepares a parsed message for ingest; the CPU work done here is work
    /// the single writer thread does not do.
    pub(crate) fn new(
        hash: BlobHash,
        size: u64,
        source: BlobSource,
        parsed: Parsed,
    ) -> Result<Self> {
        let env = &parsed.meta.envelope;
        let derived = Derived {
            meta_json: serde_json::to_string(&parsed.meta)
                .map_err(|e| StoreError::Database(e.to_string()))?,
            from: address_text(&env.from),
            to: address_text(&env.to),
            cc: address_text(&env.cc),
            addresses: [&env.from, &env.to, &env.cc, &env.bcc]
                .iter()
                .map(|l| address_text(l))
                .collect::<Vec<_>>()
                .join(" "),
            base_subject: base_subject(env.subject.as_deref().unwrap_or_default()),
        };
        Ok(Incoming {
            hash,
            size,
            source,
            parsed,
            derived,
        })
    }
}

/// Stores a new email for `account` into `target` (any mailbox, virtual ones
/// included). The blob file must already be durable; this takes a reference.
pub(crate) fn ingest(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    target: &MailboxInfo,
    incoming: &Incoming,
    keywords_in: &[Keyword],
    received: i64,
) -> Result<Appended> {
    let Incoming {
        hash,
        size,
        source,
        parsed,
        derived,
    } = incoming;
    let size = i64::try_from(*size).unwrap_or(i64::MAX);
    let (used, quota): (i64, Option<i64>) = ctx
        .tx
        .prepare_cached("SELECT used, quota FROM accounts WHERE id = ?1")?
        .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(q) = quota
        && used + size > q
    {
        return Err(StoreError::OverQuota {
            used: used as u64,
            quota: q as u64,
            needed: size as u64,
        });
    }
    let existing: Option<i64> = ctx
        .tx
        .prepare_cached("UPDATE blobs SET refs = refs + 1 WHERE hash = ?1 RETURNING refs")?
        .query_row([hash.as_str()], |r| r.get(0))
        .optional()?;
    let inline = crate::blob::is_inline(usize::try_from(size).unwrap_or(usize::MAX));
    if existing.is_none() {
        let data = match source {
            BlobSource::Bytes(raw) if inline => Some(&raw[..]),
            BlobSource::File(_) if inline => {
                return Err(StoreError::Corrupt(
                    "an inline blob without its bytes".into(),
                ));
            }
            _ => None,
        };
        ctx.tx
            .prepare_cached("INSERT INTO blobs(hash, size, refs, data) VALUES (?1, ?2, 1, ?3)")?
            .execute(params![hash.as_str(), size, data])?;
    }
    // A large blob's file may have been unlinked since the caller wrote it
    // (its last reference destroyed in the meantime): write it again if so.
    if !inline && !ctx.blobs.exists(hash) {
        match source {
            BlobSource::Bytes(raw) => ctx.blobs.write(hash, raw)?,
            BlobSource::File(path) => ctx.blobs.link(hash, path)?,
        }
    }

    let keywords = model::new_email_keywords(keywords_in, target);
    let m = ctx.modseq(account)?;
    let env = &parsed.meta.envelope;
    ctx.tx
        .prepare_cached(
            "INSERT INTO emails(account_id, blob, size, received, keywords, seen, thread_id, modseq, sent_at,
                subject, from_addr, to_addr, cc_addr, message_id, has_attachment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        )?
        .execute(params![
            account.0,
            hash.as_str(),
            size,
            received,
            join_keywords(&keywords),
            keywords.contains(Keyword::SEEN),
            m.0 as i64,
            env.sent_at,
            env.subject.as_deref().unwrap_or_default(),
            derived.from,
            derived.to,
            derived.cc,
            env.message_id,
            parsed.meta.has_attachment,
        ])?;
    let email = EmailId(ctx.tx.last_insert_rowid());
    ctx.tx
        .prepare_cached("INSERT INTO email_meta(id, preview, meta) VALUES (?1, ?2, ?3)")?
        .execute(params![email.0, parsed.meta.preview, derived.meta_json])?;
    let thread = model::thread_for(ctx, account, env, &derived.base_subject, email)?;
    ctx.tx
        .prepare_cached("UPDATE emails SET thread_id = ?2 WHERE id = ?1")?
        .execute(params![email.0, thread.0])?;
    let mut refs = ctx.tx.prepare_cached(
        "INSERT OR IGNORE INTO thread_refs(account_id, message_id, thread_id) VALUES (?1, ?2, ?3)",
    )?;
    for id in env
        .message_id
        .iter()
        .chain(&env.in_reply_to)
        .chain(&env.references)
    {
        refs.execute(params![account.0, id, thread.0])?;
    }
    drop(refs);
    let base = &derived.base_subject;
    if !base.is_empty() {
        ctx.tx
            .prepare_cached(
                "INSERT INTO thread_subjects(account_id, subject, thread_id, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(account_id, subject) DO UPDATE SET thread_id = excluded.thread_id, at = excluded.at",
            )?
            .execute(params![account.0, base, thread.0, ctx.now])?;
    }
    ctx.index(IndexOp::Insert {
        email: email.0,
        subject: env.subject.clone().unwrap_or_default(),
        addresses: derived.addresses.clone(),
        body: parsed.body_text.clone(),
    });
    ctx.tx
        .prepare_cached("UPDATE accounts SET used = used + ?2 WHERE id = ?1")?
        .execute(params![account.0, size])?;
    log_change(ctx, account, CHANGE_EMAIL_CREATED, email.0)?;

    let uid = model::place_new_email(ctx, account, email, target, &keywords)?;
    let uid_validity: u32 = ctx
        .tx
        .prepare_cached("SELECT uidvalidity FROM mailboxes WHERE id = ?1")?
        .query_row([target.id.0], |r| r.get(0))?;
    // `\Deleted` given with the message marks its entry in the target
    // mailbox (IMAP APPEND's flag list), not the email.
    if keywords_in.iter().any(Keyword::is_deleted) {
        ctx.tx
            .prepare_cached("UPDATE entries SET deleted = 1 WHERE mailbox_id = ?1 AND uid = ?2")?
            .execute(params![target.id.0, uid.0])?;
        ctx.tx
            .prepare_cached("UPDATE mailboxes SET deleted = deleted + 1 WHERE id = ?1")?
            .execute([target.id.0])?;
    }
    Ok(Appended {
        email,
        thread,
        mailbox: target.id,
        uid_validity: UidValidity(uid_validity),
        uid,
        modseq: m,
    })
}

/// Renames `from` (and its children) to `to`. Renaming INBOX moves its
/// messages to a new mailbox `to` and leaves INBOX in place, empty
/// (RFC 9051 §6.3.6).
pub(crate) fn rename_mailbox(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<()> {
    let source = mailbox_by_name(ctx, account, from)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {from}")))?;
    if mailbox_by_name(ctx, account, to)?.is_some() {
        return Err(StoreError::AlreadyExists(format!("mailbox {to}")));
    }
    if to == from || to.is_inside(from) {
        return Err(StoreError::Refused(format!(
            "cannot rename {from} into itself"
        )));
    }
    if to.is_inbox() {
        return Err(StoreError::Refused(
            "INBOX cannot be a rename target".into(),
        ));
    }
    for parent in to.ancestors() {
        if mailbox_by_name(ctx, account, &parent)?.is_none() {
            insert_mailbox(ctx, account, &parent, None)?;
        }
    }
    if from.is_inbox() {
        let target = insert_mailbox(ctx, account, to, None)?;
        let target = MailboxInfo {
            id: target,
            role: None,
        };
        let emails: Vec<i64> = ctx
            .tx
            .prepare("SELECT email_id FROM entries WHERE mailbox_id = ?1 ORDER BY uid")?
            .query_map([source.id.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for e in emails {
            let e = EmailId(e);
            add_entry(ctx, account, e, target.id)?;
            remove_entry(ctx, account, e, source.id)?;
            stamp_email(ctx, account, e)?;
        }
        return Ok(());
    }
    // The mailbox and every child, by name prefix.
    let family: Vec<(i64, String)> = ctx
        .tx
        .prepare("SELECT id, name FROM mailboxes WHERE account_id = ?1 AND (name = ?2 OR substr(name, 1, ?3) = ?4)")?
        .query_map(
            params![account.0, from.as_str(), from.as_str().len() as i64 + 1, format!("{from}/")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    for (id, name) in family {
        let new_name = format!("{to}{}", &name[from.as_str().len()..]);
        let new_name = MailboxName::new(&new_name)?;
        ctx.tx.execute(
            "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
            params![id, new_name.as_str()],
        )?;
        // The subscription follows a rename the user asked for (RFC 9051
        // leaves it open; Cyrus does the same, Dovecot leaves the old name).
        let moved = ctx.tx.execute(
            "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2",
            params![account.0, name],
        )?;
        if moved > 0 {
            ctx.tx.execute(
                "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?1, ?2)",
                params![account.0, new_name.as_str()],
            )?;
        }
        log_change(ctx, account, CHANGE_MAILBOX, id)?;
    }
    Ok(())
}

/// Deletes a mailbox that has no children. Its emails lose this label and
/// follow the rules of `after_leaving`.
pub(crate) fn delete_mailbox(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    name: &MailboxName,
) -> Result<()> {
    let mb = mailbox_by_name(ctx, account, name)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
    if matches!(
        mb.role,
        Some(MailboxRole::Inbox | MailboxRole::All | MailboxRole::Flagged)
    ) {
        return Err(StoreError::Refused(format!("{name} cannot be deleted")));
    }
    let children: i64 = ctx.tx.query_row(
        "SELECT count(*) FROM mailboxes WHERE account_id = ?1 AND substr(name, 1, ?2) = ?3",
        params![
            account.0,
            name.as_str().len() as i64 + 1,
            format!("{name}/")
        ],
        |r| r.get(0),
    )?;
    if children > 0 {
        return Err(StoreError::Refused(format!(
            "{name} has child mailboxes; delete them first"
        )));
    }
    let emails: Vec<i64> = ctx
        .tx
        .prepare("SELECT email_id FROM entries WHERE mailbox_id = ?1")?
        .query_map([mb.id.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for e in emails {
        let e = EmailId(e);
        if remove_entry(ctx, account, e, mb.id)? {
            stamp_email(ctx, account, e)?;
        }
        after_leaving(ctx, account, e, &mb)?;
    }
    ctx.tx
        .execute("DELETE FROM tombstones WHERE mailbox_id = ?1", [mb.id.0])?;
    // Every account's entries: grantees keep private ones on a shared
    // mailbox (RFC 5464 §3.3).
    ctx.tx
        .execute("DELETE FROM metadata WHERE mailbox_id = ?1", [mb.id.0])?;
    ctx.tx
        .execute("DELETE FROM urlauth_keys WHERE mailbox_id = ?1", [mb.id.0])?;
    ctx.tx
        .execute("DELETE FROM acl WHERE mailbox_id = ?1", [mb.id.0])?;
    ctx.tx
        .execute("DELETE FROM mailboxes WHERE id = ?1", [mb.id.0])?;
    log_change(ctx, account, CHANGE_MAILBOX_DESTROYED, mb.id.0)?;
    Ok(())
}

/// COPY (RFC 9051 §6.4.7) or MOVE (RFC 6851) of the entries `uids`.
pub(crate) fn copy_or_move(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
    is_move: bool,
) -> Result<crate::Copied> {
    let source = mailbox_info(ctx, account, from)?;
    let target = mailbox_info(ctx, account, to)?;
    let mut pairs = Vec::new();
    for &uid in uids {
        let Some(email) = email_at(ctx, source.id, uid)? else {
            continue;
        };
        let new_uid = model::copy_or_move_email(ctx, account, email, &source, &target, is_move)?;
        pairs.push((uid, new_uid));
    }
    let uid_validity: u32 = ctx.tx.query_row(
        "SELECT uidvalidity FROM mailboxes WHERE id = ?1",
        [target.id.0],
        |r| r.get(0),
    )?;
    let modseq = ctx.tx.query_row(
        "SELECT modseq FROM accounts WHERE id = ?1",
        [account.0],
        |r| r.get::<_, i64>(0),
    )?;
    Ok(crate::Copied {
        uid_validity: UidValidity(uid_validity),
        pairs,
        modseq: ModSeq(modseq as u64),
    })
}
