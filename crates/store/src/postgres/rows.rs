//! One PostgreSQL write transaction ([`PgCtx`]) and its [`MailRows`]: the
//! rows under `crate::model`'s rules, the same operations the SQLite
//! backend's `Ctx` provides.
//!
//! Concurrency (several nodes write the same account): every write first
//! locks the rows of the accounts it changes (`SELECT … FOR UPDATE`, in
//! account id order when there are several), so writers of one account are
//! serialized until commit. The account's MODSEQ is bumped once per
//! transaction under that lock, so MODSEQs are strictly increasing per
//! account in commit order, and a mailbox's UIDs come from its `uidnext`
//! row under the same lock: no two commits hand out one UID.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};

use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxName, MailboxRole, ModSeq,
    PopPolicy, ThreadId, Uid, UidValidity,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PgBackend;
use crate::blob::BlobHash;
use crate::model::{self, MailRows, MailboxInfo};
use crate::parse::{Parsed, base_subject};
use crate::{Appended, ChangeEvent, ChangeKind, MailboxEntry, Result, StoreError};

use super::is_retryable;

/// A write transaction and the bookkeeping of what it changed.
pub(crate) struct PgCtx<'a> {
    pub(super) b: &'a PgBackend,
    pub(super) tx: deadpool_postgres::Transaction<'a>,
    pub now: i64,
    modseqs: HashMap<AccountId, ModSeq>,
    locked: HashSet<AccountId>,
    touched: HashMap<AccountId, BTreeSet<MailboxId>>,
    /// The events of the changes ended so far ([`PgCtx::end_change`]).
    ended: Vec<ChangeEvent>,
    /// Set when a statement failed in a way that a new try may not.
    pub(super) retry: Cell<bool>,
    /// The blobs this transaction PUT to S3 (`PgCtx::put_blobs`).
    pub(super) blobs_put: HashSet<BlobHash>,
}

impl<'a> PgCtx<'a> {
    pub(super) fn new(b: &'a PgBackend, tx: deadpool_postgres::Transaction<'a>) -> Self {
        PgCtx {
            b,
            tx,
            now: super::unix_now(),
            modseqs: HashMap::new(),
            locked: HashSet::new(),
            touched: HashMap::new(),
            ended: Vec::new(),
            retry: Cell::new(false),
            blobs_put: HashSet::new(),
        }
    }

    fn note(&self, e: tokio_postgres::Error) -> StoreError {
        if is_retryable(&e) {
            self.retry.set(true);
        }
        super::db_error(e)
    }

    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let st = self
            .b
            .block(self.tx.prepare_cached(sql))
            .map_err(|e| self.note(e))?;
        self.b
            .block(self.tx.query(&st, params))
            .map_err(|e| self.note(e))
    }

    pub fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Database(format!("no row from {sql}")))
    }

    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self
            .b
            .block(self.tx.prepare_cached(sql))
            .map_err(|e| self.note(e))?;
        self.b
            .block(self.tx.execute(&st, params))
            .map_err(|e| self.note(e))
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.b
            .block(self.tx.batch_execute(sql))
            .map_err(|e| self.note(e))
    }

    /// Locks the rows of `accounts` (in id order) for the rest of the
    /// transaction; `NotFound` if one does not exist.
    pub fn lock_accounts(&mut self, accounts: &[AccountId]) -> Result<()> {
        self.lock(accounts, true)
    }

    /// [`PgCtx::lock_accounts`], passing over accounts that are gone (a
    /// delivery then refuses those recipients alone).
    pub fn lock_existing_accounts(&mut self, accounts: &[AccountId]) -> Result<()> {
        self.lock(accounts, false)
    }

    fn lock(&mut self, accounts: &[AccountId], all: bool) -> Result<()> {
        let mut ids: Vec<AccountId> = accounts
            .iter()
            .copied()
            .filter(|a| !self.locked.contains(a))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for a in ids {
            if self
                .query_opt("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&a.0])?
                .is_some()
            {
                self.locked.insert(a);
            } else if all {
                return Err(StoreError::NotFound(format!("account {a}")));
            }
        }
        Ok(())
    }

    /// The MODSEQ of this transaction's change to `account`: bumped once.
    pub fn modseq(&mut self, account: AccountId) -> Result<ModSeq> {
        if let Some(m) = self.modseqs.get(&account) {
            return Ok(*m);
        }
        self.lock_accounts(&[account])?;
        let m: i64 = self
            .query_one(
                "UPDATE accounts SET modseq = modseq + 1 WHERE id = $1 RETURNING modseq",
                &[&account.0],
            )?
            .get(0);
        let m = ModSeq(m as u64);
        self.modseqs.insert(account, m);
        Ok(m)
    }

    /// The account's MODSEQ now (this transaction's, if it changed it).
    pub fn current_modseq(&self, account: AccountId) -> Result<ModSeq> {
        let m: i64 = self
            .query_one("SELECT modseq FROM accounts WHERE id = $1", &[&account.0])?
            .get(0);
        Ok(ModSeq(m as u64))
    }

    pub fn touch(&mut self, account: AccountId, mailbox: MailboxId) {
        self.touched.entry(account).or_default().insert(mailbox);
    }

    /// Runs `f` under a savepoint: if it fails, what it wrote is undone and
    /// the transaction goes on (one recipient over quota).
    pub fn nested<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let modseqs = self.modseqs.clone();
        let touched = self.touched.clone();
        let locked = self.locked.clone();
        self.batch("SAVEPOINT nested")?;
        let r = f(self);
        if r.is_ok() {
            self.batch("RELEASE SAVEPOINT nested")?;
        } else {
            self.batch("ROLLBACK TO SAVEPOINT nested; RELEASE SAVEPOINT nested")?;
            self.modseqs = modseqs;
            self.touched = touched;
            // Row locks taken inside a rolled-back savepoint are released.
            self.locked = locked;
        }
        r
    }

    /// Ends one change of this transaction (a delivery of a group): the
    /// next write to an account takes a new MODSEQ and makes an event of
    /// its own, as if it were in a transaction of its own.
    pub fn end_change(&mut self) {
        let mut accounts: Vec<(AccountId, ModSeq)> = self.modseqs.drain().collect();
        accounts.sort_unstable();
        for (account, modseq) in accounts {
            let mailboxes: Vec<MailboxId> = self
                .touched
                .remove(&account)
                .into_iter()
                .flatten()
                .collect();
            self.ended.push(ChangeEvent {
                account,
                modseq,
                mailboxes,
            });
        }
        self.touched.clear();
    }

    /// Sends the change events of this transaction to the other nodes
    /// (they hear them when it commits) and returns them, for this node to
    /// publish once it has committed.
    pub(super) fn notify(&mut self) -> Result<Vec<ChangeEvent>> {
        self.end_change();
        let mut events = std::mem::take(&mut self.ended);
        events.sort_by_key(|e| (e.modseq, e.account));
        if !events.is_empty() {
            // One round trip for all of them (a group of deliveries has many).
            let payloads: Vec<String> = events
                .iter()
                .map(|e| super::event_payload(self.b.node, e))
                .collect();
            self.query(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                &[&super::CHANNEL, &payloads],
            )?;
        }
        Ok(events)
    }

    /// The mailbox `id` if it belongs to `account`.
    pub fn mailbox_info(&self, account: AccountId, id: MailboxId) -> Result<MailboxInfo> {
        self.query_opt(
            "SELECT role FROM mailboxes WHERE id = $1 AND account_id = $2",
            &[&id.0, &account.0],
        )?
        .map(|r| MailboxInfo {
            id,
            role: r
                .get::<_, Option<String>>(0)
                .as_deref()
                .and_then(MailboxRole::parse),
        })
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {id}")))
    }

    pub fn mailbox_by_name(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>> {
        Ok(self
            .query_opt(
                "SELECT id, role FROM mailboxes WHERE account_id = $1 AND name = $2",
                &[&account.0, &name],
            )?
            .map(|r| MailboxInfo {
                id: MailboxId(r.get(0)),
                role: r
                    .get::<_, Option<String>>(1)
                    .as_deref()
                    .and_then(MailboxRole::parse),
            }))
    }

    /// A UIDVALIDITY never handed out before in this database.
    fn next_uid_validity(&self) -> Result<UidValidity> {
        let now = self.now.clamp(1, i64::from(u32::MAX - 1));
        let next: i64 = self
            .query_one(
                "INSERT INTO meta(key, value) VALUES ('uidvalidity', $1)
                 ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value + 1, EXCLUDED.value)
                 RETURNING value",
                &[&now],
            )?
            .get(0);
        if next > i64::from(u32::MAX) {
            return Err(StoreError::Refused("UIDVALIDITY space exhausted".into()));
        }
        Ok(UidValidity(next as u32))
    }

    /// Creates one mailbox (its parent must exist or be made by the caller).
    pub fn insert_mailbox(
        &mut self,
        account: AccountId,
        name: &str,
        role: Option<MailboxRole>,
    ) -> Result<MailboxId> {
        if self.mailbox_by_name(account, name)?.is_some() {
            return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
        }
        if let Some(r) = role
            && self.mailbox_with_role(account, r)?.is_some()
        {
            return Err(StoreError::AlreadyExists(format!(
                "a mailbox with role {}",
                r.as_str()
            )));
        }
        let validity = self.next_uid_validity()?;
        let m = self.modseq(account)?;
        let id: i64 = self
            .query_one(
                "INSERT INTO mailboxes(account_id, name, role, uidvalidity, highestmodseq)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &account.0,
                    &name,
                    &role.map(MailboxRole::as_str),
                    &i64::from(validity.0),
                    &(m.0 as i64),
                ],
            )?
            .get(0);
        // A new mailbox starts with its parent's ACL (RFC 4314 leaves it to
        // the server; Dovecot and the SQLite backend do this too), so a
        // mailbox created inside a shared one is shared alike.
        if let Some((parent, _)) = name.rsplit_once(tidings_types::SEPARATOR) {
            self.execute(
                "INSERT INTO acl(mailbox_id, grantee, rights)
                 SELECT $1, a.grantee, a.rights FROM acl a JOIN mailboxes p ON p.id = a.mailbox_id
                 WHERE p.account_id = $2 AND p.name = $3",
                &[&id, &account.0, &parent],
            )?;
        }
        self.execute(
            "INSERT INTO subscriptions(account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&account.0, &name],
        )?;
        MailRows::log_change(self, account, ChangeKind::MailboxChanged, id)?;
        Ok(MailboxId(id))
    }

    /// Renames `from` (and its children) to `to`. Renaming INBOX moves its
    /// messages to a new mailbox `to` and leaves INBOX in place, empty
    /// (RFC 9051 §6.3.6). As `crate::sqlite::mail::rename_mailbox`.
    pub fn rename_mailbox(
        &mut self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        let source = self
            .mailbox_by_name(account, from.as_str())?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {from}")))?;
        if self.mailbox_by_name(account, to.as_str())?.is_some() {
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
            if self.mailbox_by_name(account, parent.as_str())?.is_none() {
                self.insert_mailbox(account, parent.as_str(), None)?;
            }
        }
        if from.is_inbox() {
            let target = self.insert_mailbox(account, to.as_str(), None)?;
            let emails: Vec<i64> = self
                .query(
                    "SELECT email_id FROM entries WHERE mailbox_id = $1 ORDER BY uid",
                    &[&source.id.0],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for e in emails {
                let e = EmailId(e);
                MailRows::add_entry(self, account, e, target)?;
                MailRows::remove_entry(self, account, e, source.id)?;
                MailRows::stamp_email(self, account, e)?;
            }
            return Ok(());
        }
        let family: Vec<(i64, String)> = self
            .query(
                "SELECT id, name FROM mailboxes WHERE account_id = $1 AND (name = $2 OR starts_with(name, $3))",
                &[&account.0, &from.as_str(), &format!("{from}/")],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (id, name) in family {
            let new_name = MailboxName::new(&format!("{to}{}", &name[from.as_str().len()..]))?;
            self.execute(
                "UPDATE mailboxes SET name = $2 WHERE id = $1",
                &[&id, &new_name.as_str()],
            )?;
            // The subscription follows a rename the user asked for.
            let moved = self.execute(
                "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2",
                &[&account.0, &name],
            )?;
            if moved > 0 {
                self.execute(
                    "INSERT INTO subscriptions(account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&account.0, &new_name.as_str()],
                )?;
            }
            MailRows::log_change(self, account, ChangeKind::MailboxChanged, id)?;
        }
        Ok(())
    }

    /// Deletes a mailbox that has no children; its emails lose this label
    /// and follow the leave rules (`model::after_leaving`).
    pub fn delete_mailbox(&mut self, account: AccountId, name: &MailboxName) -> Result<()> {
        let mb = self
            .mailbox_by_name(account, name.as_str())?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
        if matches!(
            mb.role,
            Some(MailboxRole::Inbox | MailboxRole::All | MailboxRole::Flagged)
        ) {
            return Err(StoreError::Refused(format!("{name} cannot be deleted")));
        }
        let children: i64 = self
            .query_one(
                "SELECT count(*) FROM mailboxes WHERE account_id = $1 AND starts_with(name, $2)",
                &[&account.0, &format!("{name}/")],
            )?
            .get(0);
        if children > 0 {
            return Err(StoreError::Refused(format!(
                "{name} has child mailboxes; delete them first"
            )));
        }
        let emails: Vec<i64> = self
            .query(
                "SELECT email_id FROM entries WHERE mailbox_id = $1 ORDER BY uid",
                &[&mb.id.0],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for e in emails {
            let e = EmailId(e);
            if MailRows::remove_entry(self, account, e, mb.id)? {
                MailRows::stamp_email(self, account, e)?;
            }
            model::after_leaving(self, account, e, &mb)?;
        }
        self.execute("DELETE FROM tombstones WHERE mailbox_id = $1", &[&mb.id.0])?;
        self.execute("DELETE FROM metadata WHERE mailbox_id = $1", &[&mb.id.0])?;
        self.execute(
            "DELETE FROM urlauth_keys WHERE mailbox_id = $1",
            &[&mb.id.0],
        )?;
        self.execute("DELETE FROM acl WHERE mailbox_id = $1", &[&mb.id.0])?;
        self.execute("DELETE FROM mailboxes WHERE id = $1", &[&mb.id.0])?;
        MailRows::log_change(self, account, ChangeKind::MailboxDestroyed, mb.id.0)?;
        Ok(())
    }

    /// Deletes an account with all its mail.
    pub fn delete_account(&mut self, account: AccountId) -> Result<()> {
        self.lock_accounts(&[account])?;
        let emails: Vec<i64> = self
            .query("SELECT id FROM emails WHERE account_id = $1", &[&account.0])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for e in emails {
            model::destroy_email(self, account, EmailId(e))?;
        }
        for sql in [
            "DELETE FROM acl WHERE grantee = $1",
            "DELETE FROM acl WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = $1)",
            "DELETE FROM tombstones WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = $1)",
            "DELETE FROM mailboxes WHERE account_id = $1",
            "DELETE FROM subscriptions WHERE account_id = $1",
            "DELETE FROM tokens WHERE account_id = $1",
            "DELETE FROM aliases WHERE account_id = $1",
            "DELETE FROM sent WHERE account_id = $1",
            "DELETE FROM uploads WHERE account_id = $1",
            "DELETE FROM metadata WHERE account_id = $1",
            "DELETE FROM urlauth_keys WHERE account_id = $1",
            "DELETE FROM eas_devices WHERE account_id = $1",
            "DELETE FROM thread_refs WHERE account_id = $1",
            "DELETE FROM thread_subjects WHERE account_id = $1",
            "DELETE FROM changes WHERE account_id = $1",
            "DELETE FROM accounts WHERE id = $1",
        ] {
            self.execute(sql, &[&account.0])?;
        }
        // No event for an account that is gone.
        self.modseqs.remove(&account);
        self.touched.remove(&account);
        Ok(())
    }

    /// Stores a new email for `account` into `target` (virtual mailboxes
    /// included), its blob row with it.
    pub fn ingest(
        &mut self,
        account: AccountId,
        target: &MailboxInfo,
        msg: &Prepared,
        keywords_in: &[Keyword],
        received: i64,
    ) -> Result<Appended> {
        self.lock_accounts(&[account])?;
        let size = i64::try_from(msg.raw.len()).unwrap_or(i64::MAX);
        let row = self.query_one(
            "SELECT used, quota FROM accounts WHERE id = $1",
            &[&account.0],
        )?;
        let (used, quota): (i64, Option<i64>) = (row.get(0), row.get(1));
        if let Some(q) = quota
            && used + size > q
        {
            return Err(StoreError::OverQuota {
                used: used as u64,
                quota: q as u64,
                needed: size as u64,
            });
        }
        let hash = msg.hash.as_str();
        let counted =
            self.execute("UPDATE blobs SET refs = refs + 1 WHERE hash = $1", &[&hash])? > 0;
        // Known bytes stay where they are; new ones go to S3 or in rows.
        if !counted && self.b.blobs_in_s3() {
            // The bytes are in S3 already (`PgCtx::put_blobs`, first thing
            // in the write); a write that did not, PUTs them now.
            if !self.blobs_put.contains(&msg.hash) {
                self.put_blobs(&[msg])?;
            }
            self.execute(
                "INSERT INTO blobs(hash, size, refs, data, location) VALUES ($1, $2, 1, NULL, $3)
                 ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + 1",
                &[&hash, &size, &super::blobs_s3::IN_S3],
            )?;
        } else if !counted {
            // A large message goes in chunks, so that no row holds it whole.
            let chunked = msg.raw.len() > super::BLOB_CHUNK;
            let inline: Option<&[u8]> = (!chunked).then_some(&msg.raw[..]);
            let inserted: bool = self
                .query_one(
                    "INSERT INTO blobs(hash, size, refs, data) VALUES ($1, $2, 1, $3)
                     ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + 1
                     RETURNING xmax = 0",
                    &[&hash, &size, &inline],
                )?
                .get(0);
            if inserted && chunked {
                for (seq, chunk) in msg.raw.chunks(super::BLOB_CHUNK).enumerate() {
                    self.execute(
                        "INSERT INTO blob_chunks(hash, seq, data) VALUES ($1, $2, $3)",
                        &[&hash, &(seq as i32), &chunk],
                    )?;
                }
            }
        }
        let keywords = model::new_email_keywords(keywords_in, target);
        let m = self.modseq(account)?;
        let email: i64 = self
            .query_one(
                "INSERT INTO emails(account_id, blob, size, received, keywords, seen, thread_id, modseq, preview, meta)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) RETURNING id",
                &[
                    &account.0,
                    &hash,
                    &size,
                    &received,
                    &join_keywords(&keywords),
                    &keywords.contains(Keyword::SEEN),
                    &(m.0 as i64),
                    &msg.parsed.meta.preview,
                    &msg.meta_json,
                ],
            )?
            .get(0);
        let email = EmailId(email);
        let env = &msg.parsed.meta.envelope;
        let thread = model::thread_for(self, account, env, &msg.base_subject, email)?;
        self.execute(
            "UPDATE emails SET thread_id = $2 WHERE id = $1",
            &[&email.0, &thread.0],
        )?;
        for id in env
            .message_id
            .iter()
            .chain(&env.in_reply_to)
            .chain(&env.references)
        {
            self.execute(
                "INSERT INTO thread_refs(account_id, message_id, thread_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&account.0, id, &thread.0],
            )?;
        }
        if !msg.base_subject.is_empty() {
            self.execute(
                "INSERT INTO thread_subjects(account_id, subject, thread_id, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, subject) DO UPDATE SET thread_id = EXCLUDED.thread_id, at = EXCLUDED.at",
                &[&account.0, &msg.base_subject, &thread.0, &self.now],
            )?;
        }
        self.execute(
            "INSERT INTO email_search(email_id, account_id, doc) VALUES ($1, $2, array_to_tsvector($3::text[]))",
            &[&email.0, &account.0, &msg.words],
        )?;
        self.execute(
            "UPDATE accounts SET used = used + $2 WHERE id = $1",
            &[&account.0, &size],
        )?;
        MailRows::log_change(self, account, ChangeKind::EmailCreated, email.0)?;
        let uid = model::place_new_email(self, account, email, target, &keywords)?;
        let validity: i64 = self
            .query_one(
                "SELECT uidvalidity FROM mailboxes WHERE id = $1",
                &[&target.id.0],
            )?
            .get(0);
        // `\Deleted` given with the message marks its entry in the target
        // mailbox (IMAP APPEND's flag list), not the email.
        if keywords_in.iter().any(Keyword::is_deleted) {
            self.set_entry_deleted(account, target.id, uid, true)?;
        }
        Ok(Appended {
            email,
            thread,
            mailbox: target.id,
            uid_validity: UidValidity(validity as u32),
            uid,
            modseq: m,
        })
    }

    /// The entry `uid` of `mailbox`.
    pub fn entry(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<MailboxEntry>> {
        Ok(self
            .query_opt(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE mailbox_id = $1 AND uid = $2"),
                &[&mailbox.0, &i64::from(uid.0)],
            )?
            .map(|r| entry_from_row(&r)))
    }

    /// The email at `uid` in `mailbox`.
    pub fn email_at(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<EmailId>> {
        Ok(self
            .query_opt(
                "SELECT email_id FROM entries WHERE mailbox_id = $1 AND uid = $2",
                &[&mailbox.0, &i64::from(uid.0)],
            )?
            .map(|r| EmailId(r.get(0))))
    }

    /// Whether `email` belongs to `account`.
    pub fn own_email(&self, account: AccountId, email: EmailId) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM emails WHERE id = $1 AND account_id = $2",
                &[&email.0, &account.0],
            )?
            .is_some())
    }
}

/// A message ready to be stored: its bytes, hash and parsed metadata.
pub(crate) struct Prepared {
    /// The words of its subject, addresses and body, for search.
    pub words: Vec<String>,
    pub hash: BlobHash,
    pub raw: std::sync::Arc<[u8]>,
    pub parsed: Parsed,
    pub meta_json: String,
    pub base_subject: String,
}

impl Prepared {
    /// Parses and hashes `raw` (on the caller's thread, outside any
    /// transaction).
    pub fn new(raw: &[u8]) -> Result<Prepared> {
        let parsed = crate::parse::parse(raw);
        let meta_json =
            serde_json::to_string(&parsed.meta).map_err(|e| StoreError::Database(e.to_string()))?;
        let base_subject =
            base_subject(parsed.meta.envelope.subject.as_deref().unwrap_or_default());
        let env = &parsed.meta.envelope;
        let addresses = [&env.from, &env.to, &env.cc, &env.bcc]
            .iter()
            .map(|l| crate::sqlite::mail::address_text(l))
            .collect::<Vec<_>>()
            .join(" ");
        let words = super::search_words(&[
            env.subject.as_deref().unwrap_or_default(),
            &addresses,
            &parsed.body_text,
        ]);
        Ok(Prepared {
            words,
            hash: BlobHash::of(raw),
            raw: std::sync::Arc::from(raw),
            parsed,
            meta_json,
            base_subject,
        })
    }
}

pub(crate) const ENTRY_COLUMNS: &str =
    "uid, email_id, thread_id, keywords, deleted, modseq, size, received, saved";

pub(crate) fn entry_from_row(r: &Row) -> MailboxEntry {
    MailboxEntry {
        uid: Uid(r.get::<_, i64>(0) as u32),
        email: EmailId(r.get(1)),
        thread: ThreadId(r.get(2)),
        keywords: r
            .get::<_, &str>(3)
            .split(' ')
            .filter(|s| !s.is_empty())
            .filter_map(|s| Keyword::new(s).ok())
            .collect(),
        deleted: r.get(4),
        modseq: ModSeq(r.get::<_, i64>(5) as u64),
        size: r.get::<_, i64>(6) as u64,
        received: r.get(7),
        saved: r.get(8),
    }
}

fn split_keywords(text: &str) -> BTreeSet<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn join_keywords(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

impl MailRows for PgCtx<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn memberships(&mut self, email: EmailId) -> Result<Vec<MailboxInfo>> {
        Ok(self
            .query(
                "SELECT m.id, m.role FROM entries e JOIN mailboxes m ON m.id = e.mailbox_id
                 WHERE e.email_id = $1 ORDER BY m.id",
                &[&email.0],
            )?
            .iter()
            .map(|r| MailboxInfo {
                id: MailboxId(r.get(0)),
                role: r
                    .get::<_, Option<String>>(1)
                    .as_deref()
                    .and_then(MailboxRole::parse),
            })
            .collect())
    }

    fn keywords(&mut self, email: EmailId) -> Result<BTreeSet<String>> {
        let r = self.query_one("SELECT keywords FROM emails WHERE id = $1", &[&email.0])?;
        Ok(split_keywords(r.get(0)))
    }

    fn write_keywords(
        &mut self,
        email: EmailId,
        old: &BTreeSet<String>,
        new: &BTreeSet<String>,
    ) -> Result<()> {
        let was_seen = old.contains(Keyword::SEEN);
        let seen = new.contains(Keyword::SEEN);
        let text = join_keywords(new);
        self.execute(
            "UPDATE emails SET keywords = $2, seen = $3 WHERE id = $1",
            &[&email.0, &text, &seen],
        )?;
        self.execute(
            "UPDATE entries SET keywords = $2 WHERE email_id = $1",
            &[&email.0, &text],
        )?;
        if was_seen != seen {
            let delta: i64 = if seen { -1 } else { 1 };
            self.execute(
                "UPDATE mailboxes SET unseen = unseen + $2
                 WHERE id IN (SELECT mailbox_id FROM entries WHERE email_id = $1)",
                &[&email.0, &delta],
            )?;
        }
        Ok(())
    }

    fn add_entry(&mut self, account: AccountId, email: EmailId, mailbox: MailboxId) -> Result<Uid> {
        if let Some(uid) = self.entry_uid(email, mailbox)? {
            return Ok(uid);
        }
        let m = self.modseq(account)?;
        let uid: i64 = self
            .query_one(
                "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = $2
                 WHERE id = $1 RETURNING uidnext - 1",
                &[&mailbox.0, &(m.0 as i64)],
            )?
            .get(0);
        if uid > i64::from(u32::MAX) {
            return Err(StoreError::Refused(format!(
                "mailbox {mailbox} has used every UID"
            )));
        }
        self.execute(
            "INSERT INTO entries(mailbox_id, uid, email_id, deleted, modseq, saved, keywords, thread_id, size, received)
             SELECT $1, $2, id, false, $4, $5, keywords, thread_id, size, received FROM emails WHERE id = $3",
            &[&mailbox.0, &uid, &email.0, &(m.0 as i64), &self.now],
        )?;
        self.execute(
            "UPDATE mailboxes SET messages = messages + 1, size = mailboxes.size + e.size,
                unseen = unseen + (CASE WHEN e.seen THEN 0 ELSE 1 END)
             FROM emails e WHERE e.id = $2 AND mailboxes.id = $1",
            &[&mailbox.0, &email.0],
        )?;
        self.touch(account, mailbox);
        Ok(Uid(uid as u32))
    }

    fn remove_entry(
        &mut self,
        account: AccountId,
        email: EmailId,
        mailbox: MailboxId,
    ) -> Result<bool> {
        let Some(r) = self.query_opt(
            "DELETE FROM entries WHERE email_id = $1 AND mailbox_id = $2 RETURNING uid, deleted",
            &[&email.0, &mailbox.0],
        )?
        else {
            return Ok(false);
        };
        let (uid, was_deleted): (i64, bool) = (r.get(0), r.get(1));
        self.execute(
            "UPDATE mailboxes SET messages = messages - 1, size = mailboxes.size - e.size,
                unseen = unseen - (CASE WHEN e.seen THEN 0 ELSE 1 END),
                deleted = deleted - $3
             FROM emails e WHERE e.id = $2 AND mailboxes.id = $1",
            &[&mailbox.0, &email.0, &i64::from(was_deleted)],
        )?;
        let m = self.modseq(account)?;
        self.execute(
            "INSERT INTO tombstones(mailbox_id, uid, modseq) VALUES ($1, $2, $3)
             ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
            &[&mailbox.0, &uid, &(m.0 as i64)],
        )?;
        self.execute(
            "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1",
            &[&mailbox.0, &(m.0 as i64)],
        )?;
        self.touch(account, mailbox);
        Ok(true)
    }

    fn entry_uid(&mut self, email: EmailId, mailbox: MailboxId) -> Result<Option<Uid>> {
        Ok(self
            .query_opt(
                "SELECT uid FROM entries WHERE email_id = $1 AND mailbox_id = $2",
                &[&email.0, &mailbox.0],
            )?
            .map(|r| Uid(r.get::<_, i64>(0) as u32)))
    }

    fn set_entry_deleted(
        &mut self,
        account: AccountId,
        mailbox: MailboxId,
        uid: Uid,
        deleted: bool,
    ) -> Result<bool> {
        let m = self.modseq(account)?;
        let updated = self.execute(
            "UPDATE entries SET deleted = $3, modseq = $4 WHERE mailbox_id = $1 AND uid = $2 AND deleted <> $3",
            &[&mailbox.0, &i64::from(uid.0), &deleted, &(m.0 as i64)],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        let delta: i64 = if deleted { 1 } else { -1 };
        self.execute(
            "UPDATE mailboxes SET highestmodseq = $2, deleted = deleted + $3 WHERE id = $1",
            &[&mailbox.0, &(m.0 as i64), &delta],
        )?;
        self.touch(account, mailbox);
        Ok(true)
    }

    fn stamp_email(&mut self, account: AccountId, email: EmailId) -> Result<ModSeq> {
        let m = self.modseq(account)?;
        let m64 = m.0 as i64;
        self.execute(
            "UPDATE emails SET modseq = $2 WHERE id = $1",
            &[&email.0, &m64],
        )?;
        let mailboxes: Vec<i64> = self
            .query(
                "UPDATE entries SET modseq = $2 WHERE email_id = $1 RETURNING mailbox_id",
                &[&email.0, &m64],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for mb in mailboxes {
            self.execute(
                "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1",
                &[&mb, &m64],
            )?;
            self.touch(account, MailboxId(mb));
        }
        MailRows::log_change(self, account, ChangeKind::EmailUpdated, email.0)?;
        Ok(m)
    }

    fn log_change(&mut self, account: AccountId, kind: ChangeKind, object: i64) -> Result<()> {
        let m = self.modseq(account)?;
        self.execute(
            "INSERT INTO changes(account_id, modseq, kind, object_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&account.0, &(m.0 as i64), &(kind.code() as i32), &object],
        )?;
        Ok(())
    }

    fn mailbox_with_role(
        &mut self,
        account: AccountId,
        role: MailboxRole,
    ) -> Result<Option<MailboxInfo>> {
        Ok(self
            .query_opt(
                "SELECT id FROM mailboxes WHERE account_id = $1 AND role = $2",
                &[&account.0, &role.as_str()],
            )?
            .map(|r| MailboxInfo {
                id: MailboxId(r.get(0)),
                role: Some(role),
            }))
    }

    fn policies(&mut self, account: AccountId) -> Result<(LeavePolicy, PopPolicy)> {
        let r = self.query_one(
            "SELECT leave_policy, pop_policy FROM accounts WHERE id = $1",
            &[&account.0],
        )?;
        Ok((
            LeavePolicy::parse(r.get(0)).unwrap_or_default(),
            PopPolicy::parse(r.get(1)).unwrap_or_default(),
        ))
    }

    fn mark_pop_deleted(&mut self, email: EmailId) -> Result<()> {
        self.execute(
            "UPDATE emails SET pop_deleted = true WHERE id = $1",
            &[&email.0],
        )?;
        Ok(())
    }

    fn delete_email_rows(&mut self, account: AccountId, email: EmailId) -> Result<ThreadId> {
        let r = self
            .query_opt(
                "DELETE FROM emails WHERE id = $1 AND account_id = $2 RETURNING blob, size, thread_id",
                &[&email.0, &account.0],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))?;
        let (blob, size, thread): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
        self.execute(
            "UPDATE accounts SET used = used - $2 WHERE id = $1",
            &[&account.0, &size],
        )?;
        // The last reference gone, the bytes go with the row, in this
        // transaction: a concurrent ingest of the same bytes either took
        // its reference first (the row stays) or inserts it anew.
        let refs: i64 = self
            .query_one(
                "UPDATE blobs SET refs = refs - 1 WHERE hash = $1 RETURNING refs",
                &[&blob],
            )?
            .get(0);
        if refs <= 0 {
            self.execute("DELETE FROM blobs WHERE hash = $1", &[&blob])?;
        }
        Ok(ThreadId(thread))
    }

    fn thread_of_message_id(
        &mut self,
        account: AccountId,
        message_id: &str,
    ) -> Result<Option<ThreadId>> {
        Ok(self
            .query_opt(
                "SELECT thread_id FROM thread_refs WHERE account_id = $1 AND message_id = $2",
                &[&account.0, &message_id],
            )?
            .map(|r| ThreadId(r.get(0))))
    }

    fn thread_of_subject(
        &mut self,
        account: AccountId,
        base: &str,
        since: i64,
    ) -> Result<Option<ThreadId>> {
        Ok(self
            .query_opt(
                "SELECT thread_id FROM thread_subjects WHERE account_id = $1 AND subject = $2 AND at >= $3",
                &[&account.0, &base, &since],
            )?
            .map(|r| ThreadId(r.get(0))))
    }
}
