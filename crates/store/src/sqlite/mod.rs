//! The embedded backend: SQLite in WAL mode for metadata, the change log and
//! the full-text index (FTS5) and small blobs; large blobs as files under
//! `<data>/blobs`.
//!
//! Layout of the data directory:
//! - `tidings.db` (+ `-wal`, `-shm`): all metadata.
//! - `blobs/ab/cdef…`: bytes of messages over 64 KiB, by SHA-256 (smaller
//!   ones are rows of the `blobs` table); `blobs/tmp/`: in-flight writes.
//!
//! Writes go through one writer thread (`writer.rs`) that commits in groups;
//! reads use a small pool of read-only connections (WAL lets them run beside
//! the writer).

pub(crate) mod accounts;
mod acl;
pub mod backup;
mod check;
pub(crate) mod mail;
mod queue;
mod schema;
pub(crate) mod tokens;
pub(crate) mod uploads;
mod writer;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxName, MailboxRole, ModSeq,
    PopPolicy, Secret, ThreadId, Uid, UidValidity,
};
use tokio::sync::broadcast;

use self::mail::{MailboxInfo, mailbox_info};
use self::writer::Writer;
use crate::Upload;
use crate::acl::{AclEntry, Grantee, Right, Rights, SharedMailbox};
use crate::blob::{self, BlobDir, BlobHash};
use crate::parse::{EmailMeta, parse};
use crate::{
    AccessToken, Account, Alias, Appended, Backend, ChangeEvent, ChangeKind, ChangeLog, Changes,
    CheckReport, Copied, Domain, Expansion, ExpansionLimits, FlagOp, FlagsChanged, LoggedChange,
    Mailbox, MailboxCounts, MailboxDelta, MailboxEntry, NewEmail, PopLock, PopMessage, RecentUids,
    Recipient, Result, StoreError, TokenKind, TokenOwner,
};

/// Read-only connections the backend keeps open at most. A read that finds
/// them all busy waits for one to be returned instead of opening another:
/// opening one costs a schema parse, the PRAGMAs, a fresh statement cache
/// and a memory map, and under 50 concurrent IMAP sessions that churn was a
/// fifth of the server's CPU. More connections than this would not run
/// faster either: reads are CPU-bound once the pages are in the OS cache.
const READERS: usize = 32;

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn db_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::DiskFull
        }
        _ => StoreError::Database(e.to_string()),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        db_error(e)
    }
}

fn io_error(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        StoreError::DiskFull
    } else {
        StoreError::Io(e)
    }
}

/// The SQLite-and-files backend.
pub struct SqliteBackend {
    writer: Writer,
    readers: ReadPool,
    db_path: std::path::PathBuf,
    blobs: Arc<BlobDir>,
    events: broadcast::Sender<ChangeEvent>,
    pop_locks: Arc<Mutex<std::collections::HashSet<AccountId>>>,
    auth_cache: accounts::AuthCache,
}

impl SqliteBackend {
    /// Opens or creates the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let db_path = data_dir.join("tidings.db");
        crate::private::prepare_data_dir(data_dir, &db_path)?;
        let mut conn = Connection::open(&db_path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let blobs = Arc::new(BlobDir::open(data_dir.join("blobs"))?);
        blobs.clean_tmp()?;
        let (events, _) = broadcast::channel(1024);
        let checkpoint_conn = Connection::open(&db_path)?;
        checkpoint_conn.execute_batch("PRAGMA busy_timeout=10000;")?;
        let writer = Writer::start(conn, checkpoint_conn, blobs.clone(), events.clone())?;
        Ok(SqliteBackend {
            writer,
            readers: ReadPool::default(),
            db_path,
            blobs,
            events,
            pop_locks: Arc::default(),
            auth_cache: accounts::AuthCache::new(),
        })
    }

    /// Runs `f` on a pooled read-only connection: an idle one, else a new
    /// one while fewer than [`READERS`] are open, else the next one
    /// returned.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let lease = self.readers.lease(&self.db_path)?;
        f(lease.conn())
    }
    /// Parses a message and, for a large one, durably writes its blob file
    /// before the metadata that names it is committed.
    fn prepare_blob(&self, raw: &[u8]) -> Result<mail::Incoming> {
        let hash = BlobHash::of(raw);
        if !blob::is_inline(raw.len()) {
            self.blobs.write(&hash, raw).map_err(io_error)?;
        }
        let parsed = parse(raw);
        let source = mail::BlobSource::Bytes(Arc::from(raw));
        mail::Incoming::new(hash, raw.len() as u64, source, parsed)
    }

    /// [`Self::prepare_blob`] for a spooled body: a spool file becomes the
    /// blob file by a link (no copy); the bytes are in memory only while
    /// they are parsed, under the memory budget (twice their size: the
    /// parser decodes the parts beside them).
    /// Stores prepared emails in one mailbox, all or none, UIDs in order
    /// (APPEND, MULTIAPPEND, spooled or not).
    fn ingest_all(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        prepared: Vec<(mail::Incoming, Vec<Keyword>, Option<i64>)>,
    ) -> Result<Vec<Appended>> {
        self.writer.write(move |ctx| {
            let (account, rights) = acl::access(ctx.tx, account, mailbox, insert_right())?;
            let target = mailbox_info(ctx, account, mailbox)?;
            prepared
                .iter()
                .map(|(incoming, keywords, received)| {
                    let received = received.unwrap_or(ctx.now);
                    // RFC 4314 §4: flags the rights do not cover are dropped.
                    let keywords = rights.allowed_flags(keywords);
                    mail::ingest(ctx, account, &target, incoming, &keywords, received)
                })
                .collect()
        })
    }

    fn prepare_spooled(&self, body: &crate::Spooled) -> Result<mail::Incoming> {
        let hash = body.hash().clone();
        let len = body.len();
        let inline = blob::is_inline(usize::try_from(len).unwrap_or(usize::MAX));
        let loaded = body.load(2).map_err(io_error)?;
        let parsed = parse(&loaded);
        let source = match body.path() {
            Some(path) if !inline => {
                drop(loaded);
                self.blobs.link(&hash, path).map_err(io_error)?;
                mail::BlobSource::File(path.to_path_buf())
            }
            _ => {
                if !inline {
                    self.blobs.write(&hash, &loaded).map_err(io_error)?;
                }
                mail::BlobSource::Bytes(Arc::from(&loaded[..]))
            }
        };
        mail::Incoming::new(hash, len, source, parsed)
    }

    /// COPY or MOVE (RFC 9051 §6.4.7, RFC 6851) with the rights of RFC
    /// 4314 §4: `r` (and `te` to move) on the source, `i` on the target.
    /// Between two mailboxes of one owner the email gains a mailbox (no
    /// bytes copied); between two owners' mailboxes (a shared one and the
    /// caller's own) the target's owner gets a new email with the same
    /// blob, its bytes passed through a spool.
    fn copy_or_move(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<Copied> {
        let uids = sorted_uids(uids);
        let (owner_from, owner_to) = self.read(|c| {
            let (a, _) = acl::access(c, account, from, source_rights(is_move))?;
            let (b, _) = acl::access(c, account, to, insert_right())?;
            Ok((a, b))
        })?;
        if owner_from == owner_to {
            return self.writer.write(move |ctx| {
                let (owner, _) = acl::access(ctx.tx, account, from, source_rights(is_move))?;
                acl::access(ctx.tx, account, to, insert_right())?;
                mail::copy_or_move(ctx, owner, from, &uids, to, is_move)
            });
        }
        let wanted: BTreeSet<Uid> = uids.iter().copied().collect();
        let entries: Vec<MailboxEntry> = self
            .mailbox_entries(account, from)?
            .into_iter()
            .filter(|e| wanted.contains(&e.uid))
            .collect();
        let in_memory: u64 = entries
            .iter()
            .map(|e| e.size)
            .filter(|&n| n < crate::spool::SPOOL_THRESHOLD as u64)
            .sum();
        if in_memory > MAX_CROSS_COPY_MEMORY {
            return Err(StoreError::Refused(
                "too many messages to copy between accounts at once; copy fewer".into(),
            ));
        }
        let mut prepared = Vec::with_capacity(entries.len());
        for e in entries {
            let mut spool = self.spool();
            spool
                .write_from(&mut self.email_reader(account, e.email)?)
                .map_err(io_error)?;
            let body = spool.finish().map_err(io_error)?;
            let incoming = self.prepare_spooled(&body)?;
            prepared.push((e, incoming, body));
        }
        self.writer.write(move |ctx| {
            let (owner_from, _) = acl::access(ctx.tx, account, from, source_rights(is_move))?;
            let (owner_to, rights) = acl::access(ctx.tx, account, to, insert_right())?;
            let source = mailbox_info(ctx, owner_from, from)?;
            let target = mailbox_info(ctx, owner_to, to)?;
            let mut pairs = Vec::new();
            for (e, incoming, _body) in &prepared {
                // Gone meanwhile: skipped, as COPY skips a vanished UID.
                if mail::email_at(ctx, from, e.uid)? != Some(e.email) {
                    continue;
                }
                // RFC 4314 §4: flags the target's rights do not cover are
                // dropped; \Deleted is the entry's and is not copied.
                let keywords = rights.allowed_flags(&e.keywords);
                let a = mail::ingest(ctx, owner_to, &target, incoming, &keywords, e.received)?;
                pairs.push((e.uid, a.uid));
                if is_move {
                    mail::take_out_of(ctx, owner_from, e.email, &source)?;
                }
            }
            let uid_validity: u32 = ctx.tx.query_row(
                "SELECT uidvalidity FROM mailboxes WHERE id = ?1",
                [to.0],
                |r| r.get(0),
            )?;
            Ok(Copied {
                uid_validity: tidings_types::UidValidity(uid_validity),
                pairs,
                modseq: current_modseq(ctx, owner_from)?,
            })
        })
    }
}

/// The read-only connections and how many are open (idle or lent).
#[derive(Default)]
struct ReadPool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl ReadPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // A panic while the lock was held leaves a consistent Vec and count.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease(&self, db_path: &Path) -> Result<Lease<'_>> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < READERS {
                state.open += 1;
                drop(state);
                return match open_reader(db_path) {
                    Ok(conn) => Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.forget();
                        Err(e)
                    }
                };
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One connection fewer is open (it failed to open or was dropped).
    fn forget(&self) {
        self.lock().open -= 1;
        self.returned.notify_one();
    }
}

/// A connection lent by the [`ReadPool`]; returned when dropped.
struct Lease<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl Lease<'_> {
    fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // After a panic the connection may be inside a transaction: close it.
        if std::thread::panicking() || !conn.is_autocommit() {
            drop(conn);
            self.pool.forget();
            return;
        }
        self.pool.lock().idle.push(conn);
        self.pool.returned.notify_one();
    }
}

/// Opens a read-only connection to the database.
fn open_reader(db_path: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // No memory map: SQLite unmaps a reader's whole map at the start of
    // every read transaction after a commit (the WAL changed), so under
    // writes each read paid munmap, mmap and a page fault per page touched
    // (a tenth of the CPU under the persistent IMAP mix). Read-only, the
    // 100,000-entry view opens as fast without it (BENCHMARKS.md).
    c.execute_batch("PRAGMA busy_timeout=10000; PRAGMA cache_size=-16000; PRAGMA mmap_size=0;")?;
    c.set_prepared_statement_cache_capacity(schema::STATEMENT_CACHE);
    Ok(c)
}

/// RFC 5464 §3.3: "users can only set and retrieve private or shared
/// mailbox annotations on a mailbox on which they have the "l" right and
/// any one of the "r", "s", "w", "i", or "p" rights" (Dovecot's check
/// too). The mailbox's owner, under whom its shared entries are kept.
fn metadata_access(
    c: &rusqlite::Connection,
    account: AccountId,
    m: MailboxId,
) -> Result<AccountId> {
    let (owner, have) = acl::access(c, account, m, Rights::of(&[Right::Lookup]))?;
    let any = [
        Right::Read,
        Right::Seen,
        Right::Write,
        Right::Insert,
        Right::Post,
    ];
    if any.iter().any(|r| have.has(*r)) {
        Ok(owner)
    } else {
        Err(StoreError::NoPermission(format!(
            "no right r, s, w, i or p on mailbox {m}"
        )))
    }
}

/// The rights a read of a mailbox's contents needs (RFC 4314 §4: `r`).
fn read_right() -> Rights {
    Rights::of(&[Right::Read])
}

/// The right APPEND and COPY into a mailbox need (RFC 4314 §4: `i`).
fn insert_right() -> Rights {
    Rights::of(&[Right::Insert])
}

/// The rights the source of a MOVE needs (RFC 6851 §3.3 with RFC 4314
/// §4: read, mark `\Deleted`, expunge); a COPY's needs `r`.
fn source_rights(is_move: bool) -> Rights {
    if is_move {
        Rights::of(&[Right::Read, Right::DeleteMessages, Right::Expunge])
    } else {
        read_right()
    }
}

/// At most this many bytes of messages below the spool threshold are held
/// in memory by one COPY or MOVE between two accounts' mailboxes (their
/// bytes are copied: an email belongs to one account).
const MAX_CROSS_COPY_MEMORY: u64 = 64 * 1024 * 1024;

/// Checks that `mailbox` is one of `account`'s own (not one shared with
/// it): IMAP URLs and their URLAUTH keys name the owner's mailboxes only.
fn owned_mailbox(conn: &Connection, account: AccountId, mailbox: MailboxId) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM mailboxes WHERE id = ?1 AND account_id = ?2")?
        .query_row(params![mailbox.0, account.0], |_| Ok(()))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))
}

fn to_keywords(text: &str) -> Vec<Keyword> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .filter_map(|s| Keyword::new(s).ok())
        .collect()
}

const ENTRY_COLUMNS: &str = "en.uid, en.email_id, en.thread_id, en.keywords, en.deleted, en.modseq, en.size, en.received, en.saved";

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxEntry> {
    Ok(MailboxEntry {
        uid: Uid(r.get(0)?),
        email: EmailId(r.get(1)?),
        thread: ThreadId(r.get(2)?),
        keywords: to_keywords(r.get_ref(3)?.as_str()?),
        deleted: r.get(4)?,
        modseq: ModSeq(r.get::<_, i64>(5)? as u64),
        size: r.get::<_, i64>(6)? as u64,
        received: r.get(7)?,
        saved: r.get(8)?,
    })
}

fn entry(conn: &Connection, mailbox: MailboxId, uid: Uid) -> Result<Option<MailboxEntry>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries en
             WHERE en.mailbox_id = ?1 AND en.uid = ?2"
        ))?
        .query_row(params![mailbox.0, uid.0], entry_from_row)
        .optional()?)
}

/// How many messages `account` submitted after `since` (the sending limits).
fn sent_since(c: &Connection, account: i64, since: i64) -> Result<u32> {
    let n: i64 = c
        .prepare_cached("SELECT count(*) FROM sent WHERE account_id = ?1 AND at > ?2")?
        .query_row(params![account, since], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// How a METADATA write over its limit is told from the writer's job back
/// to `set_metadata`: the job must fail so that its writes are undone.
const TOO_MANY_METADATA: &str = "too many metadata entries, at most ";

const MAILBOX_COLUMNS: &str = "id, account_id, name, role,
    EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
    uidvalidity, uidnext, highestmodseq";

fn mailbox_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Mailbox> {
    let name: String = r.get(2)?;
    Ok(Mailbox {
        id: MailboxId(r.get(0)?),
        account: AccountId(r.get(1)?),
        name: MailboxName::new(&name).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        role: r
            .get::<_, Option<String>>(3)?
            .as_deref()
            .and_then(MailboxRole::parse),
        subscribed: r.get(4)?,
        uid_validity: UidValidity(r.get(5)?),
        uid_next: Uid(r.get::<_, i64>(6)?.min(i64::from(u32::MAX)) as u32),
        highest_modseq: ModSeq(r.get::<_, i64>(7)? as u64),
    })
}

const ACCOUNT_COLUMNS: &str = "id, email, quota, used, leave_policy, pop_policy, modseq";

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: AccountId(r.get(0)?),
        email: r.get(1)?,
        quota: r.get::<_, Option<i64>>(2)?.map(|q| q as u64),
        used: r.get::<_, i64>(3)? as u64,
        leave_policy: LeavePolicy::parse(&r.get::<_, String>(4)?).unwrap_or_default(),
        pop_policy: PopPolicy::parse(&r.get::<_, String>(5)?).unwrap_or_default(),
        modseq: ModSeq(r.get::<_, i64>(6)? as u64),
    })
}

fn sorted_uids(uids: &[Uid]) -> Vec<Uid> {
    let set: BTreeSet<Uid> = uids.iter().copied().collect();
    set.into_iter().collect()
}

fn current_modseq(ctx: &writer::Ctx<'_>, account: AccountId) -> Result<ModSeq> {
    Ok(ModSeq(ctx.tx.query_row(
        "SELECT modseq FROM accounts WHERE id = ?1",
        [account.0],
        |r| r.get::<_, i64>(0),
    )? as u64))
}

/// Words in one full-text query, after repeats are dropped. Each word is a
/// prefix query, and a short prefix can match thousands of indexed terms:
/// this bounds the work one query asks of FTS5. Real searches use a few
/// words.
pub const MAX_FTS_TERMS: usize = 16;

/// Turns free text into an FTS5 query: every word must match as a prefix.
fn fts_query(text: &str) -> Result<Option<String>> {
    let mut words: Vec<&str> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if !w.is_empty() && !words.contains(&w) {
            if words.len() == MAX_FTS_TERMS {
                return Err(StoreError::Refused(format!(
                    "more than {MAX_FTS_TERMS} words in one text search"
                )));
            }
            words.push(w);
        }
    }
    let terms: Vec<String> = words
        .iter()
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    Ok((!terms.is_empty()).then(|| terms.join(" ")))
}

impl Backend for SqliteBackend {
    fn add_domain(&self, name: &str) -> Result<()> {
        let name = accounts::normalize_domain(name)?;
        self.writer.write(move |ctx| {
            let n = ctx
                .tx
                .execute("INSERT OR IGNORE INTO domains(name) VALUES (?1)", [&name])?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("domain {name}")));
            }
            Ok(())
        })
    }

    fn domains(&self) -> Result<Vec<Domain>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT name FROM domains ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok(Domain { name: r.get(0)? }))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn remove_domain(&self, name: &str) -> Result<()> {
        let name = accounts::normalize_domain(name)?;
        self.writer.write(move |ctx| {
            let id = accounts::domain_id(ctx, &name)?;
            let users: i64 = ctx.tx.query_row(
                "SELECT (SELECT count(*) FROM accounts WHERE domain_id = ?1) + (SELECT count(*) FROM aliases WHERE domain_id = ?1) + (SELECT count(DISTINCT address) FROM alias_targets WHERE domain_id = ?1)",
                [id],
                |r| r.get(0),
            )?;
            if users > 0 {
                return Err(StoreError::Refused(format!(
                    "domain {name} still has {users} accounts or aliases; delete them first"
                )));
            }
            ctx.tx.execute("DELETE FROM domains WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn create_account(&self, email: &str, password: &Secret<String>) -> Result<AccountId> {
        accounts::normalize_address(email)?;
        let hash = accounts::hash_password(password)?;
        let email = email.to_string();
        self.writer
            .write(move |ctx| accounts::create_account(ctx, &email, &hash))
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY email"
            ))?;
            let rows = stmt.query_map([], account_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn account(&self, email: &str) -> Result<Option<Account>> {
        let Ok((email, _)) = accounts::normalize_address(email) else {
            return Ok(None);
        };
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = ?1"
            ))?
            .query_row([email], account_from_row)
            .optional()?)
        })
    }

    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
            ))?
            .query_row([id.0], account_from_row)
            .optional()?)
        })
    }

    fn set_password(&self, email: &str, password: &Secret<String>) -> Result<()> {
        let hash = accounts::hash_password(password)?;
        let email = email.to_string();
        self.writer.write(move |ctx| {
            let id = accounts::account_id(ctx, &email)?;
            ctx.tx.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
                params![id.0, hash],
            )?;
            Ok(())
        })
    }

    fn delete_account(&self, email: &str) -> Result<()> {
        let files = match self.account(email)? {
            Some(a) => self.read(|c| uploads::files_of(c, a.id))?,
            None => Vec::new(),
        };
        let email = email.to_string();
        self.writer
            .write(move |ctx| accounts::delete_account(ctx, &email))?;
        uploads::remove_files(&uploads::dir(self.blobs.root()), &files);
        Ok(())
    }

    fn set_quota(&self, email: &str, quota: Option<u64>) -> Result<()> {
        let email = email.to_string();
        let quota = quota.map(|q| q.min(i64::MAX as u64) as i64);
        self.writer.write(move |ctx| {
            let id = accounts::account_id(ctx, &email)?;
            ctx.tx.execute(
                "UPDATE accounts SET quota = ?2 WHERE id = ?1",
                params![id.0, quota],
            )?;
            Ok(())
        })
    }

    fn set_policies(
        &self,
        email: &str,
        leave: Option<LeavePolicy>,
        pop: Option<PopPolicy>,
    ) -> Result<()> {
        let email = email.to_string();
        self.writer.write(move |ctx| {
            let id = accounts::account_id(ctx, &email)?;
            if let Some(l) = leave {
                ctx.tx.execute(
                    "UPDATE accounts SET leave_policy = ?2 WHERE id = ?1",
                    params![id.0, l.as_str()],
                )?;
            }
            if let Some(p) = pop {
                ctx.tx.execute(
                    "UPDATE accounts SET pop_policy = ?2 WHERE id = ?1",
                    params![id.0, p.as_str()],
                )?;
            }
            Ok(())
        })
    }

    fn authenticate(&self, email: &str, password: &Secret<String>) -> Result<Option<AccountId>> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let normalized = accounts::normalize_address(email);
        // An app token of this account opens it without argon2.
        if let Ok((email, _)) = &normalized
            && tokens::looks_like_token(password.expose())
            && let Some(owner) = self.token_owner(password)?
            && owner.kind == TokenKind::App
            && &owner.email == email
        {
            return Ok(Some(owner.account));
        }
        let found = match normalized {
            Ok((email, _)) => self.read(|c| {
                Ok(
                    c.prepare_cached("SELECT id, password_hash FROM accounts WHERE email = ?1")?
                        .query_row([email], |r| {
                            Ok((AccountId(r.get(0)?), r.get::<_, String>(1)?))
                        })
                        .optional()?,
                )
            })?,
            Err(_) => None,
        };
        match found {
            Some((id, hash)) => {
                if self.auth_cache.hit(id, &hash, password) {
                    return Ok(Some(id));
                }
                let ok = accounts::verify_password(&hash, password);
                if ok {
                    self.auth_cache.remember(id, &hash, password);
                }
                Ok(ok.then_some(id))
            }
            None => {
                // Spend the same time on unknown users: no account oracle.
                let dummy = DUMMY.get_or_init(|| {
                    accounts::hash_password(&Secret::new("not a password".to_string()))
                        .unwrap_or_default()
                });
                accounts::verify_password(dummy, password);
                Ok(None)
            }
        }
    }

    fn add_token(
        &self,
        email: &str,
        name: &str,
        kind: TokenKind,
        expires: Option<i64>,
        idle: Option<i64>,
    ) -> Result<Secret<String>> {
        let token = tokens::generate()?;
        let (email, name, stored) = (email.to_string(), name.to_string(), token.clone());
        self.writer
            .write(move |ctx| tokens::add(ctx, &email, &name, kind, expires, idle, &stored))?;
        Ok(Secret::new(token))
    }

    fn tokens(&self, email: &str) -> Result<Vec<AccessToken>> {
        self.read(|c| tokens::list(c, email, unix_now()))
    }

    fn delete_token(&self, email: &str, name: &str) -> Result<()> {
        let (email, name) = (email.to_string(), name.to_string());
        self.writer
            .write(move |ctx| tokens::delete(ctx, &email, &name))
    }

    fn token_owner(&self, token: &Secret<String>) -> Result<Option<TokenOwner>> {
        if !tokens::looks_like_token(token.expose()) {
            return Ok(None);
        }
        let hash = tokens::hash(token.expose());
        let now = unix_now();
        let Some((owner, last_used)) = self.read(|c| tokens::find(c, &hash, now))? else {
            return Ok(None);
        };
        if tokens::stale(last_used, now) {
            self.writer
                .write(move |ctx| tokens::touch(ctx, &hash, now))?;
        }
        Ok(Some(owner))
    }

    fn revoke_token(&self, token: &Secret<String>) -> Result<bool> {
        if !tokens::looks_like_token(token.expose()) {
            return Ok(false);
        }
        let hash = tokens::hash(token.expose());
        self.writer.write(move |ctx| tokens::revoke(ctx, &hash))
    }

    fn add_upload(
        &self,
        account: AccountId,
        body: &crate::Spooled,
        media_type: &str,
        expires: i64,
        cap: u64,
    ) -> Result<Upload> {
        let dir = uploads::dir(self.blobs.root());
        let size = body.len();
        let hash = body.hash().clone();
        let inline = uploads::inline(size);
        let (bytes, file) = if inline {
            let mut bytes = Vec::with_capacity(size as usize);
            std::io::Read::read_to_end(&mut body.reader()?, &mut bytes)?;
            (Some(bytes), None)
        } else {
            (None, Some(uploads::place(&dir, account, body)?))
        };
        let media_type = media_type.to_string();
        let placed = file.clone();
        let result = self.writer.write(move |ctx| {
            let source = match (&bytes, &placed) {
                (Some(b), _) => uploads::Source::Inline(b.clone()),
                (None, Some(f)) => uploads::Source::File(f),
                (None, None) => return Err(StoreError::Corrupt("an upload without bytes".into())),
            };
            ctx.nested(|ctx| {
                uploads::add(
                    ctx,
                    account,
                    &hash,
                    size,
                    &media_type,
                    expires,
                    cap,
                    &source,
                )
            })
        });
        match result {
            Ok((upload, used, gone)) => {
                uploads::remove_files(&dir, &gone);
                if !used && let Some(f) = file {
                    uploads::remove_files(&dir, &[f]);
                }
                Ok(upload)
            }
            Err(e) => {
                if let Some(f) = file {
                    uploads::remove_files(&dir, &[f]);
                }
                Err(e)
            }
        }
    }

    fn upload(&self, account: AccountId, hash: &BlobHash) -> Result<Option<Upload>> {
        Ok(self
            .read(|c| uploads::find(c, account, hash, unix_now()))?
            .map(|(u, _, _)| u))
    }

    fn upload_bytes(&self, account: AccountId, hash: &BlobHash) -> Result<Vec<u8>> {
        let found = self.read(|c| uploads::find(c, account, hash, unix_now()))?;
        match found {
            Some((_, Some(bytes), _)) => Ok(bytes),
            Some((_, None, Some(file))) => {
                match std::fs::read(uploads::dir(self.blobs.root()).join(file)) {
                    Ok(bytes) => Ok(bytes),
                    // A backup holds the rows of uploads, not their files.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(StoreError::NotFound(format!("blob G{}", hash.as_str())))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            _ => Err(StoreError::NotFound(format!("blob G{}", hash.as_str()))),
        }
    }

    fn add_alias(&self, address: &str, target: &str) -> Result<()> {
        let (address, target) = (address.to_string(), target.to_string());
        self.writer
            .write(move |ctx| accounts::add_alias(ctx, &address, &target))
    }

    fn add_alias_targets(&self, address: &str, targets: &[String]) -> Result<()> {
        let (address, targets) = (address.to_string(), targets.to_vec());
        self.writer
            .write(move |ctx| accounts::add_alias_targets(ctx, &address, &targets))
    }

    fn aliases(&self) -> Result<Vec<Alias>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT a.address, ac.email FROM aliases a JOIN accounts ac ON ac.id = a.account_id
                 UNION ALL SELECT address, target FROM alias_targets
                 ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            let mut out: Vec<Alias> = Vec::new();
            for row in rows {
                let (address, target) = row?;
                match out.last_mut() {
                    Some(last) if last.address == address => last.targets.push(target),
                    _ => out.push(Alias {
                        address,
                        targets: vec![target],
                    }),
                }
            }
            Ok(out)
        })
    }

    fn remove_alias(&self, address: &str) -> Result<()> {
        let (address, _) = accounts::normalize_alias(address)?;
        self.writer.write(move |ctx| {
            let removed = ctx
                .tx
                .execute("DELETE FROM aliases WHERE address = ?1", [&address])?
                + ctx
                    .tx
                    .execute("DELETE FROM alias_targets WHERE address = ?1", [&address])?;
            if removed == 0 {
                return Err(StoreError::NotFound(format!("alias {address}")));
            }
            Ok(())
        })
    }

    fn expand_recipient(&self, address: &str, limits: ExpansionLimits) -> Result<Expansion> {
        self.read(|c| accounts::expand(c, address, limits))
    }

    fn resolve_recipient(&self, address: &str) -> Result<Option<AccountId>> {
        let Ok((address, _)) = accounts::normalize_address(address) else {
            return Ok(None);
        };
        self.read(|c| crate::model::resolve_recipient(&mut accounts::Book(c), &address))
    }

    fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ?1 ORDER BY name"
            ))?;
            let rows = stmt.query_map([account.0], mailbox_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<Mailbox>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ?1 AND name = ?2"
            ))?
            .query_row(params![account.0, name.as_str()], mailbox_from_row)
            .optional()?)
        })
    }

    fn mailbox_by_role(&self, account: AccountId, role: MailboxRole) -> Result<Option<Mailbox>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ?1 AND role = ?2"
            ))?
            .query_row(params![account.0, role.as_str()], mailbox_from_row)
            .optional()?)
        })
    }

    fn mailbox_counts(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxCounts> {
        self.read(|c| {
            acl::access(c, account, mailbox, read_right())?;
            c.prepare_cached("SELECT messages, unseen, deleted, size FROM mailboxes WHERE id = ?1")?
                .query_row(params![mailbox.0], |r| {
                    Ok(MailboxCounts {
                        messages: r.get::<_, i64>(0)? as u32,
                        unseen: r.get::<_, i64>(1)? as u32,
                        deleted: r.get::<_, i64>(2)? as u32,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                })
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))
        })
    }

    fn recent_uids(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        claim: bool,
    ) -> Result<RecentUids> {
        let seen = self.read(|c| {
            let (owner, _) = acl::access(c, account, mailbox, read_right())?;
            mail::recent_uids(c, owner, mailbox)
        })?;
        // Nothing to claim (the usual SELECT): no write.
        if !claim || seen.first >= seen.next {
            return Ok(seen);
        }
        self.writer.write(move |ctx| {
            let (owner, _) = acl::access(ctx.tx, account, mailbox, read_right())?;
            let found = mail::recent_uids(ctx.tx, owner, mailbox)?;
            if found.first < found.next {
                ctx.tx.execute(
                    "UPDATE mailboxes SET first_recent_uid = ?2 WHERE id = ?1",
                    params![mailbox.0, found.next.0],
                )?;
            }
            Ok(found)
        })
    }

    fn create_mailbox(
        &self,
        account: AccountId,
        name: &MailboxName,
        role: Option<MailboxRole>,
    ) -> Result<MailboxId> {
        let name = name.clone();
        self.writer
            .write(move |ctx| mail::create_mailbox(ctx, account, &name, role))
    }

    fn rename_mailbox(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        let (from, to) = (from.clone(), to.clone());
        self.writer
            .write(move |ctx| mail::rename_mailbox(ctx, account, &from, &to))
    }

    fn delete_mailbox(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        let name = name.clone();
        self.writer
            .write(move |ctx| mail::delete_mailbox(ctx, account, &name))
    }

    fn set_subscribed(
        &self,
        account: AccountId,
        name: &MailboxName,
        subscribed: bool,
    ) -> Result<()> {
        let name = name.clone();
        self.writer
            .write(move |ctx| mail::set_subscribed(ctx, account, &name, subscribed))
    }

    fn reserve_send(
        &self,
        account: AccountId,
        now: i64,
        defaults: crate::SendLimits,
    ) -> Result<crate::SendCheck> {
        self.writer.write(move |ctx| {
            let (hour, day): (Option<i64>, Option<i64>) = ctx.tx.query_row(
                "SELECT send_per_hour, send_per_day FROM accounts WHERE id = ?1",
                [account.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let check = crate::model::send_check(hour, day, defaults, now, |since| {
                sent_since(ctx.tx, account.0, since)
            })?;
            if check != crate::SendCheck::Allowed {
                return Ok(check);
            }
            ctx.tx.execute(
                "DELETE FROM sent WHERE account_id = ?1 AND at <= ?2",
                params![account.0, now - 86_400],
            )?;
            ctx.tx.execute(
                "INSERT INTO sent(account_id, at) VALUES (?1, ?2)",
                params![account.0, now],
            )?;
            Ok(crate::SendCheck::Allowed)
        })
    }

    fn send_limits(&self, email: &str, now: i64) -> Result<(crate::SendLimits, u32, u32)> {
        let email = email.to_lowercase();
        self.read(|c| {
            let (id, hour, day): (i64, Option<i64>, Option<i64>) = c
                .query_row(
                    "SELECT id, send_per_hour, send_per_day FROM accounts WHERE email = ?1",
                    [&email],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("account {email}")))?;
            let count = |since: i64| sent_since(c, id, since);
            let own = |n: Option<i64>| n.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
            Ok((
                crate::SendLimits {
                    per_hour: own(hour),
                    per_day: own(day),
                },
                count(now - 3600)?,
                count(now - 86_400)?,
            ))
        })
    }

    fn set_send_limits(&self, email: &str, limits: crate::SendLimits) -> Result<()> {
        let email = email.to_string();
        self.writer.write(move |ctx| {
            let id = accounts::account_id(ctx, &email)?;
            ctx.tx.execute(
                "UPDATE accounts SET send_per_hour = ?2, send_per_day = ?3 WHERE id = ?1",
                params![id.0, limits.per_hour, limits.per_day],
            )?;
            Ok(())
        })
    }

    fn backup(&self, dest: &Path) -> Result<backup::BackupReport> {
        backup::backup(&self.db_path, self.blobs.root(), dest)
    }

    fn metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
    ) -> Result<Vec<crate::MetadataEntry>> {
        self.read(|c| {
            // A shared mailbox: its owner's `/shared` entries and the
            // caller's own `/private` ones (RFC 5464 §3.3).
            let owner = match mailbox {
                Some(m) => metadata_access(c, account, m)?,
                None => account,
            };
            let mut stmt = c.prepare_cached(
                "SELECT name, value FROM metadata
                 WHERE mailbox_id = ?3 AND (
                    (account_id = ?1 AND (name = '/private' OR name LIKE '/private/%'))
                    OR (account_id = ?2 AND (name = '/shared' OR name LIKE '/shared/%')))
                 ORDER BY name",
            )?;
            let rows = stmt.query_map(
                params![account.0, owner.0, mailbox.map_or(0, |m| m.0)],
                |r| {
                    Ok(crate::MetadataEntry {
                        name: r.get(0)?,
                        value: r.get(1)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn set_metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
        entries: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<crate::MetadataWrite> {
        let entries = entries.to_vec();
        self.writer.write(move |ctx| {
            let (mailbox_id, owner) = match mailbox {
                Some(m) => (m.0, metadata_access(ctx.tx, account, m)?),
                None => (0, account),
            };
            let mut rows = BTreeSet::new();
            for (name, value) in &entries {
                // RFC 5464 §3.3: `/private` entries are the caller's,
                // `/shared` ones the mailbox's (kept as its owner's).
                let holder = if name.starts_with("/shared") {
                    owner
                } else {
                    account
                };
                rows.insert(holder.0);
                match value {
                    Some(v) => ctx.tx.execute(
                        "INSERT INTO metadata(account_id, mailbox_id, name, value) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(account_id, mailbox_id, name) DO UPDATE SET value = excluded.value",
                        params![holder.0, mailbox_id, name, v],
                    )?,
                    None => ctx.tx.execute(
                        "DELETE FROM metadata WHERE account_id = ?1 AND mailbox_id = ?2 AND name = ?3",
                        params![holder.0, mailbox_id, name],
                    )?,
                };
            }
            for holder in rows {
                let count: i64 = ctx.tx.query_row(
                    "SELECT count(*) FROM metadata WHERE account_id = ?1 AND mailbox_id = ?2",
                    params![holder, mailbox_id],
                    |r| r.get(0),
                )?;
                if usize::try_from(count).unwrap_or(usize::MAX) > max_entries {
                    // Undo this job's writes alone (its savepoint), keep the answer.
                    return Err(StoreError::Refused(format!("{TOO_MANY_METADATA}{max_entries}")));
                }
            }
            Ok(())
        })
        .map(|()| crate::MetadataWrite::Written)
        .or_else(|e| match e {
            StoreError::Refused(why) if why.starts_with(TOO_MANY_METADATA) => {
                Ok(crate::MetadataWrite::TooMany { limit: max_entries })
            }
            e => Err(e),
        })
    }

    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name FROM subscriptions WHERE account_id = ?1 ORDER BY name",
            )?;
            let names = stmt
                .query_map([account.0], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            // Every stored name was valid when it was subscribed.
            Ok(names
                .iter()
                .filter_map(|n| MailboxName::new(n).ok())
                .collect())
        })
    }

    fn my_rights(&self, account: AccountId, mailbox: MailboxId) -> Result<Rights> {
        self.read(|c| match acl::rights(c, account, mailbox)? {
            Some((_, r)) if !r.is_empty() => Ok(r),
            _ => Err(StoreError::NotFound(format!("mailbox {mailbox}"))),
        })
    }

    fn acl(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<AclEntry>> {
        self.read(|c| {
            acl::access(c, account, mailbox, Rights::of(&[Right::Administer]))?;
            acl::list(c, mailbox)
        })
    }

    fn set_rights(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        grantee: &Grantee,
        rights: Option<Rights>,
    ) -> Result<()> {
        let grantee = grantee.clone();
        self.writer.write(move |ctx| {
            let (owner, _) =
                acl::access(ctx.tx, account, mailbox, Rights::of(&[Right::Administer]))?;
            let id = acl::grantee_id(ctx.tx, &grantee)?;
            if id == owner.0 {
                return Err(StoreError::Refused(
                    "the owner's rights cannot be changed".into(),
                ));
            }
            acl::set(ctx.tx, mailbox, id, rights)
        })
    }

    fn shared_mailboxes(&self, account: AccountId) -> Result<Vec<SharedMailbox>> {
        self.read(|c| acl::shared_with(c, account))
    }

    fn create_mailbox_of(
        &self,
        account: AccountId,
        owner: AccountId,
        name: &MailboxName,
    ) -> Result<MailboxId> {
        let name = name.clone();
        self.writer.write(move |ctx| {
            let parent = acl::parent_in(ctx.tx, owner, &name)?;
            let (owner, _) =
                acl::access(ctx.tx, account, parent, Rights::of(&[Right::CreateChild]))?;
            mail::insert_mailbox(ctx, owner, &name, None)
        })
    }

    fn subscribe_shared(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        name: &MailboxName,
    ) -> Result<()> {
        let name = name.clone();
        self.writer.write(move |ctx| {
            acl::access(ctx.tx, account, mailbox, Rights::of(&[Right::Lookup]))?;
            ctx.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?1, ?2)",
                )?
                .execute(params![account.0, name.as_str()])?;
            Ok(())
        })
    }

    fn delete_mailbox_of(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        self.writer.write(move |ctx| {
            let (owner, _) = acl::access(
                ctx.tx,
                account,
                mailbox,
                Rights::of(&[Right::DeleteMailbox]),
            )?;
            let name = acl::name_of(ctx.tx, mailbox)?;
            mail::delete_mailbox(ctx, owner, &name)
        })
    }

    fn rename_mailbox_of(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        to: &MailboxName,
    ) -> Result<()> {
        let to = to.clone();
        self.writer.write(move |ctx| {
            let (owner, _) = acl::access(
                ctx.tx,
                account,
                mailbox,
                Rights::of(&[Right::DeleteMailbox]),
            )?;
            let parent = acl::parent_in(ctx.tx, owner, &to)?;
            acl::access(ctx.tx, account, parent, Rights::of(&[Right::CreateChild]))?;
            let from = acl::name_of(ctx.tx, mailbox)?;
            mail::rename_mailbox(ctx, owner, &from, &to)
        })
    }

    fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: NewEmail<'_>,
    ) -> Result<Appended> {
        let incoming = self.prepare_blob(email.raw)?;
        let keywords = email.keywords;
        let received = email.received;
        self.writer.write(move |ctx| {
            let (account, rights) = acl::access(ctx.tx, account, mailbox, insert_right())?;
            let target = mailbox_info(ctx, account, mailbox)?;
            let received = received.unwrap_or(ctx.now);
            let keywords = rights.allowed_flags(&keywords);
            mail::ingest(ctx, account, &target, &incoming, &keywords, received)
        })
    }

    fn import_email(
        &self,
        account: AccountId,
        mailboxes: &[MailboxId],
        email: NewEmail<'_>,
    ) -> Result<Appended> {
        let Some((&first, rest)) = mailboxes.split_first() else {
            return Err(StoreError::Refused("an email needs a mailbox".into()));
        };
        let rest = rest.to_vec();
        let incoming = self.prepare_blob(email.raw)?;
        let keywords = email.keywords;
        let received = email.received;
        self.writer.write(move |ctx| {
            let target = mailbox_info(ctx, account, first)?;
            let others: Vec<MailboxInfo> = rest
                .iter()
                .map(|m| mailbox_info(ctx, account, *m))
                .collect::<Result<_>>()?;
            let received = received.unwrap_or(ctx.now);
            let appended = mail::ingest(ctx, account, &target, &incoming, &keywords, received)?;
            for m in &others {
                mail::put_into(ctx, account, appended.email, m)?;
            }
            Ok(appended)
        })
    }

    fn append_many(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<NewEmail<'_>>,
    ) -> Result<Vec<Appended>> {
        let prepared = emails
            .into_iter()
            .map(|e| Ok((self.prepare_blob(e.raw)?, e.keywords, e.received)))
            .collect::<Result<Vec<_>>>()?;
        self.ingest_all(account, mailbox, prepared)
    }

    fn deliver(
        &self,
        raw: &[u8],
        received: Option<i64>,
        recipients: &[Recipient],
    ) -> Result<Vec<Result<Appended>>> {
        let incoming = self.prepare_blob(raw)?;
        let recipients = recipients.to_vec();
        self.writer.write(move |ctx| {
            let received = received.unwrap_or(ctx.now);
            let mut out = Vec::with_capacity(recipients.len());
            for r in &recipients {
                // A recipient over quota is refused alone; the others commit.
                out.push(ctx.nested(|ctx| {
                    let target = mailbox_info(ctx, r.account, r.mailbox)?;
                    mail::ingest(ctx, r.account, &target, &incoming, &r.keywords, received)
                }));
            }
            Ok(out)
        })
    }

    fn spool(&self) -> crate::Spool {
        crate::Spool::new(Some(self.blobs.tmp_dir()), crate::spool::SPOOL_THRESHOLD)
    }

    fn deliver_spooled(
        &self,
        body: &crate::Spooled,
        received: Option<i64>,
        recipients: &[Recipient],
    ) -> Result<Vec<Result<Appended>>> {
        let incoming = self.prepare_spooled(body)?;
        let recipients = recipients.to_vec();
        self.writer.write(move |ctx| {
            let received = received.unwrap_or(ctx.now);
            let mut out = Vec::with_capacity(recipients.len());
            for r in &recipients {
                // A recipient over quota is refused alone; the others commit.
                out.push(ctx.nested(|ctx| {
                    let target = mailbox_info(ctx, r.account, r.mailbox)?;
                    mail::ingest(ctx, r.account, &target, &incoming, &r.keywords, received)
                }));
            }
            Ok(out)
        })
    }

    fn append_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<crate::SpooledEmail<'_>>,
    ) -> Result<Vec<Appended>> {
        let prepared = emails
            .into_iter()
            .map(|e| Ok((self.prepare_spooled(e.body)?, e.keywords, e.received)))
            .collect::<Result<Vec<_>>>()?;
        self.ingest_all(account, mailbox, prepared)
    }

    fn replace_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: crate::SpooledEmail<'_>,
        from: MailboxId,
        uid: Uid,
    ) -> Result<crate::Replaced> {
        let incoming = self.prepare_spooled(email.body)?;
        let keywords = email.keywords;
        let received = email.received;
        self.writer.write(move |ctx| {
            // RFC 8508 §3.3 with RFC 4314 §4: `i` on the target, `t` and
            // `e` on the source; one owner for both.
            let (owner, rights) = acl::access(ctx.tx, account, mailbox, insert_right())?;
            let need = Rights::of(&[Right::Read, Right::DeleteMessages, Right::Expunge]);
            if acl::access(ctx.tx, account, from, need)?.0 != owner {
                return Err(StoreError::Refused(
                    "REPLACE across accounts is not supported".into(),
                ));
            }
            let account = owner;
            let keywords = rights.allowed_flags(&keywords);
            let source = mailbox_info(ctx, account, from)?;
            let target = mailbox_info(ctx, account, mailbox)?;
            let Some(old) = mail::email_at(ctx, source.id, uid)? else {
                return Err(StoreError::NotFound(format!("message UID {uid}")));
            };
            // Append, then expunge (RFC 8508 §3.3), as EXPUNGE does; an
            // error in either rolls both back.
            let received = received.unwrap_or(ctx.now);
            let appended = mail::ingest(ctx, account, &target, &incoming, &keywords, received)?;
            mail::take_out_of(ctx, account, old, &source)?;
            let expunged = mail::entry_uid(ctx, old, source.id)? != Some(uid);
            Ok(crate::Replaced { appended, expunged })
        })
    }

    fn mailbox_entries(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<MailboxEntry>> {
        self.read(|c| {
            acl::access(c, account, mailbox, read_right())?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries en
                 WHERE en.mailbox_id = ?1 ORDER BY en.uid"
            ))?;
            let rows = stmt.query_map([mailbox.0], entry_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn urlauth_key(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        create: bool,
    ) -> Result<Option<Secret<Vec<u8>>>> {
        let read = |c: &Connection| -> Result<Option<Vec<u8>>> {
            owned_mailbox(c, account, mailbox)?;
            Ok(
                c.prepare_cached("SELECT key FROM urlauth_keys WHERE mailbox_id = ?1")?
                    .query_row([mailbox.0], |r| r.get(0))
                    .optional()?,
            )
        };
        if let Some(key) = self.read(read)? {
            return Ok(Some(Secret::new(key)));
        }
        if !create {
            return Ok(None);
        }
        let mut fresh = vec![0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        self.writer.write(move |ctx| {
            mailbox_info(ctx, account, mailbox)?;
            // A concurrent GENURLAUTH may have made one: keep the first.
            ctx.tx.execute(
                "INSERT OR IGNORE INTO urlauth_keys(mailbox_id, account_id, key) VALUES (?1, ?2, ?3)",
                params![mailbox.0, account.0, fresh],
            )?;
            let key: Vec<u8> = ctx.tx.query_row(
                "SELECT key FROM urlauth_keys WHERE mailbox_id = ?1",
                [mailbox.0],
                |r| r.get(0),
            )?;
            Ok(Some(Secret::new(key)))
        })
    }

    fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()> {
        self.writer.write(move |ctx| {
            match mailbox {
                Some(m) => {
                    mailbox_info(ctx, account, m)?;
                    ctx.tx.execute(
                        "DELETE FROM urlauth_keys WHERE mailbox_id = ?1 AND account_id = ?2",
                        params![m.0, account.0],
                    )?
                }
                None => ctx.tx.execute(
                    "DELETE FROM urlauth_keys WHERE account_id = ?1",
                    [account.0],
                )?,
            };
            Ok(())
        })
    }

    fn mailbox_entry(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<Option<MailboxEntry>> {
        self.read(|c| {
            owned_mailbox(c, account, mailbox)?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries en
                 WHERE en.mailbox_id = ?1 AND en.uid = ?2"
            ))?;
            Ok(stmt
                .query_row(params![mailbox.0, uid.0], entry_from_row)
                .optional()?)
        })
    }

    fn mailbox_changes(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<MailboxDelta> {
        self.read(|c| {
            // One read transaction, so the three queries agree.
            c.prepare_cached("BEGIN")?.execute([])?;
            let r = (|| {
                acl::access(c, account, mailbox, read_right())?;
                let since = since.0.min(i64::MAX as u64) as i64;
                // Sorted here, not by SQL: ORDER BY uid made SQLite walk the
                // primary key instead of the (mailbox, modseq) index.
                let mut changed: Vec<MailboxEntry> = c
                    .prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM entries en
                         WHERE en.mailbox_id = ?1 AND en.modseq > ?2"
                    ))?
                    .query_map(params![mailbox.0, since], entry_from_row)?
                    .collect::<Result<_, _>>()?;
                changed.sort_unstable_by_key(|e| e.uid);
                let mut vanished: Vec<Uid> = c
                    .prepare_cached(
                        "SELECT uid FROM tombstones WHERE mailbox_id = ?1 AND modseq > ?2",
                    )?
                    .query_map(params![mailbox.0, since], |r| Ok(Uid(r.get(0)?)))?
                    .collect::<Result<_, _>>()?;
                vanished.sort_unstable();
                let highest: i64 = c
                    .prepare_cached("SELECT highestmodseq FROM mailboxes WHERE id = ?1")?
                    .query_row([mailbox.0], |r| r.get(0))?;
                Ok(MailboxDelta {
                    changed,
                    vanished,
                    highest_modseq: ModSeq(highest as u64),
                })
            })();
            c.prepare_cached("COMMIT")?.execute([])?;
            r
        })
    }

    fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &[Keyword],
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsChanged> {
        let uids = sorted_uids(uids);
        let flags = flags.to_vec();
        self.writer.write(move |ctx| {
            // RFC 4314 §4: `s` for \Seen, `t` for \Deleted, `w` for the
            // others. A STORE that may change at least one of its flags
            // changes those and ignores the rest; one that may change none
            // is refused.
            let (account, rights) = acl::access(ctx.tx, account, mailbox, read_right())?;
            let flag_rights = Rights::of(&[Right::Seen, Right::Write, Right::DeleteMessages]);
            let partial = !rights.contains(flag_rights);
            let flags = if partial {
                let allowed = rights.allowed_flags(&flags);
                let none = if flags.is_empty() {
                    op == FlagOp::Replace && rights.minus(flag_rights) == rights
                } else {
                    allowed.is_empty()
                };
                if none {
                    return Err(StoreError::NoPermission(format!(
                        "no right to change these flags on mailbox {mailbox}"
                    )));
                }
                allowed
            } else {
                flags.clone()
            };
            let mb = mailbox_info(ctx, account, mailbox)?;
            let deleted_flag = flags.iter().any(Keyword::is_deleted);
            let keywords: Vec<Keyword> =
                flags.iter().filter(|k| !k.is_deleted()).cloned().collect();
            let mut out = FlagsChanged::default();
            let mut touched = Vec::new();
            for &uid in &uids {
                let Some(e) = entry(ctx.tx, mb.id, uid)? else {
                    continue;
                };
                if let Some(since) = unchanged_since
                    && e.modseq > since
                {
                    out.modified.push(uid);
                    continue;
                }
                let changed = crate::model::store_entry_flags(
                    ctx,
                    account,
                    mb.id,
                    &e,
                    op,
                    &keywords,
                    deleted_flag,
                    rights,
                )?;
                if changed {
                    touched.push(uid);
                }
            }
            for uid in touched {
                if let Some(e) = entry(ctx.tx, mb.id, uid)? {
                    out.changed.push(e);
                }
            }
            out.modseq = current_modseq(ctx, account)?;
            Ok(out)
        })
    }

    fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied> {
        self.copy_or_move(account, from, uids, to, false)
    }

    fn move_emails(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied> {
        self.copy_or_move(account, from, uids, to, true)
    }

    fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[Uid]>,
    ) -> Result<(Vec<Uid>, ModSeq)> {
        let filter: Option<BTreeSet<Uid>> = uids.map(|u| u.iter().copied().collect());
        self.writer.write(move |ctx| {
            let (account, _) =
                acl::access(ctx.tx, account, mailbox, Rights::of(&[Right::Expunge]))?;
            let mb = mailbox_info(ctx, account, mailbox)?;
            let marked: Vec<(Uid, EmailId)> = ctx
                .tx
                .prepare_cached("SELECT uid, email_id FROM entries WHERE mailbox_id = ?1 AND deleted = 1 ORDER BY uid")?
                .query_map([mb.id.0], |r| Ok((Uid(r.get(0)?), EmailId(r.get(1)?))))?
                .collect::<Result<_, _>>()?;
            let mut gone = Vec::new();
            for (uid, email) in marked {
                if filter.as_ref().is_some_and(|f| !f.contains(&uid)) {
                    continue;
                }
                mail::take_out_of(ctx, account, email, &mb)?;
                if mail::entry_uid(ctx, email, mb.id)? != Some(uid) {
                    gone.push(uid);
                }
            }
            Ok((gone, current_modseq(ctx, account)?))
        })
    }

    fn set_email_keywords(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[Keyword],
        remove: &[Keyword],
    ) -> Result<ModSeq> {
        let (emails, add, remove) = (emails.to_vec(), add.to_vec(), remove.to_vec());
        self.writer.write(move |ctx| {
            for e in &emails {
                mail::own_email(ctx, account, *e)?;
                mail::edit_keywords(ctx, account, *e, &add, &remove)?;
            }
            current_modseq(ctx, account)
        })
    }

    fn set_email_mailboxes(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[MailboxId],
        remove: &[MailboxId],
    ) -> Result<ModSeq> {
        let (emails, add, remove) = (emails.to_vec(), add.to_vec(), remove.to_vec());
        self.writer.write(move |ctx| {
            let add: Vec<MailboxInfo> = add
                .iter()
                .map(|m| mailbox_info(ctx, account, *m))
                .collect::<Result<_>>()?;
            let remove: Vec<MailboxInfo> = remove
                .iter()
                .map(|m| mailbox_info(ctx, account, *m))
                .collect::<Result<_>>()?;
            for e in &emails {
                mail::own_email(ctx, account, *e)?;
                for m in &add {
                    mail::put_into(ctx, account, *e, m)?;
                }
                for m in &remove {
                    if !mail::take_out_of(ctx, account, *e, m)? {
                        break;
                    }
                }
            }
            current_modseq(ctx, account)
        })
    }

    fn destroy_emails(&self, account: AccountId, emails: &[EmailId]) -> Result<ModSeq> {
        let emails = emails.to_vec();
        self.writer.write(move |ctx| {
            for e in &emails {
                mail::own_email(ctx, account, *e)?;
                mail::destroy_email(ctx, account, *e)?;
            }
            current_modseq(ctx, account)
        })
    }

    fn email_raw(&self, account: AccountId, email: EmailId) -> Result<Vec<u8>> {
        match self.email_reader(account, email)? {
            crate::MessageReader::Bytes(bytes) => Ok(bytes.into_inner()),
            crate::MessageReader::File(mut file) => {
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut raw).map_err(StoreError::Io)?;
                Ok(raw)
            }
        }
    }

    fn email_raw_prefix(&self, account: AccountId, email: EmailId, len: u64) -> Result<Vec<u8>> {
        let n = i64::try_from(len).unwrap_or(i64::MAX);
        let (hash, data): (String, Option<Vec<u8>>) = self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT e.blob, substr(b.data, 1, ?3) FROM emails e JOIN blobs b ON b.hash = e.blob
                 WHERE e.id = ?1 AND ({})",
                acl::readable("e", "?2")
            ))?
            .query_row(params![email.0, account.0, n], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))
        })?;
        if let Some(data) = data {
            return Ok(data);
        }
        let hash = BlobHash::parse(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("bad blob name for {email}")))?;
        self.blobs
            .read_prefix(&hash, len)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    StoreError::Corrupt(format!("blob of {email} is missing"))
                }
                _ => StoreError::Io(e),
            })
    }

    fn email_reader(&self, account: AccountId, email: EmailId) -> Result<crate::MessageReader> {
        // The blob's name, and its bytes only when they live in the database.
        let (hash, data): (String, Option<Vec<u8>>) = self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT e.blob, b.data FROM emails e JOIN blobs b ON b.hash = e.blob
                 WHERE e.id = ?1 AND ({})",
                acl::readable("e", "?2")
            ))?
            .query_row(params![email.0, account.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))
        })?;
        if let Some(data) = data {
            return Ok(crate::MessageReader::Bytes(std::io::Cursor::new(data)));
        }
        let hash = BlobHash::parse(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("bad blob name for {email}")))?;
        std::fs::File::open(self.blobs.path(&hash))
            .map(crate::MessageReader::File)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    StoreError::Corrupt(format!("blob of {email} is missing"))
                }
                _ => StoreError::Io(e),
            })
    }

    fn email_meta(&self, account: AccountId, email: EmailId) -> Result<EmailMeta> {
        let json: String = self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT m.meta FROM emails e JOIN email_meta m ON m.id = e.id
                 WHERE e.id = ?1 AND ({})",
                acl::readable("e", "?2")
            ))?
            .query_row(params![email.0, account.0], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))
        })?;
        serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("metadata of {email}: {e}")))
    }

    fn search_text(&self, account: AccountId, query: &str) -> Result<Vec<EmailId>> {
        let Some(q) = fts_query(query)? else {
            return Ok(Vec::new());
        };
        self.read(|c| {
            // The account's emails and those shared with it (read).
            let mut stmt = c.prepare_cached(&format!(
                "SELECT e.id FROM email_fts f JOIN emails e ON e.id = f.rowid
                 WHERE email_fts MATCH ?1 AND {}
                 ORDER BY e.received DESC, e.id DESC",
                acl::readable("e", "?2")
            ))?;
            let rows = stmt.query_map(params![q, account.0], |r| Ok(EmailId(r.get(0)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Changes> {
        self.read(|c| {
            c.prepare_cached("BEGIN")?.execute([])?;
            let r = (|| {
                let new_modseq: i64 = c
                    .prepare_cached("SELECT modseq FROM accounts WHERE id = ?1")?
                    .query_row([account.0], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
                let mut stmt = c.prepare_cached(
                    "SELECT kind, object_id FROM changes WHERE account_id = ?1 AND modseq > ?2 ORDER BY modseq",
                )?;
                let rows: Vec<(i64, i64)> = stmt
                    .query_map(params![account.0, since.0.min(i64::MAX as u64) as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(crate::model::fold_changes(
                    rows.into_iter()
                        .filter_map(|(k, id)| Some((ChangeKind::from_code(k)?, id))),
                    ModSeq(new_modseq as u64),
                ))
            })();
            c.prepare_cached("COMMIT")?.execute([])?;
            r
        })
    }

    fn change_log(&self, account: AccountId, since: ModSeq, limit: usize) -> Result<ChangeLog> {
        let kind_of = ChangeKind::from_code;
        self.read(|c| {
            c.prepare_cached("BEGIN")?.execute([])?;
            let r = (|| {
                let current: i64 = c
                    .prepare_cached("SELECT modseq FROM accounts WHERE id = ?1")?
                    .query_row([account.0], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
                let row = |r: &rusqlite::Row<'_>| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                };
                let mut rows: Vec<(i64, i64, i64)> = c
                    .prepare_cached(
                        "SELECT modseq, kind, object_id FROM changes WHERE account_id = ?1 AND modseq > ?2 ORDER BY modseq LIMIT ?3",
                    )?
                    .query_map(
                        params![account.0, since.0.min(i64::MAX as u64) as i64, limit.min(i64::MAX as usize) as i64],
                        row,
                    )?
                    .collect::<std::result::Result<_, _>>()?;
                let mut truncated = false;
                if rows.len() >= limit
                    && let Some(&(last, _, _)) = rows.last()
                {
                    // Finish the last commit: a state between two rows of
                    // one commit never existed.
                    rows.retain(|r| r.0 != last);
                    let rest: Vec<(i64, i64, i64)> = c
                        .prepare_cached(
                            "SELECT modseq, kind, object_id FROM changes WHERE account_id = ?1 AND modseq = ?2",
                        )?
                        .query_map(params![account.0, last], row)?
                        .collect::<std::result::Result<_, _>>()?;
                    rows.extend(rest);
                    truncated = c
                        .prepare_cached(
                            "SELECT 1 FROM changes WHERE account_id = ?1 AND modseq > ?2 LIMIT 1",
                        )?
                        .query_row(params![account.0, last], |_| Ok(()))
                        .optional()?
                        .is_some();
                }
                let entries = rows
                    .into_iter()
                    .filter_map(|(m, k, o)| {
                        Some(LoggedChange {
                            modseq: ModSeq(m as u64),
                            kind: kind_of(k)?,
                            object: o,
                        })
                    })
                    .collect();
                Ok(ChangeLog {
                    entries,
                    truncated,
                    current: ModSeq(current as u64),
                })
            })();
            c.prepare_cached("COMMIT")?.execute([])?;
            r
        })
    }

    fn pop_maildrop(&self, account: AccountId, recent: bool) -> Result<Vec<PopMessage>> {
        const RECENT: i64 = 30 * 24 * 3600;
        self.read(|c| {
            let sql = if recent {
                "SELECT e.id, e.size FROM emails e WHERE e.account_id = ?1 AND e.received >= ?2
                   AND EXISTS (SELECT 1 FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id
                               WHERE en.email_id = e.id AND m.role IN ('inbox', 'all'))
                 ORDER BY e.received, e.id"
            } else {
                "SELECT e.id, e.size FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id
                   JOIN emails e ON e.id = en.email_id
                 WHERE m.account_id = ?1 AND m.role = 'inbox' AND e.pop_deleted = 0 AND ?2 = ?2
                 ORDER BY en.uid"
            };
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(params![account.0, unix_now() - RECENT], |r| {
                Ok(PopMessage {
                    email: EmailId(r.get(0)?),
                    size: r.get::<_, i64>(1)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn pop_commit(&self, account: AccountId, deleted: &[EmailId]) -> Result<ModSeq> {
        let deleted = deleted.to_vec();
        self.writer.write(move |ctx| {
            for &e in &deleted {
                if mail::own_email(ctx, account, e).is_err() {
                    continue;
                }
                mail::pop_delete(ctx, account, e)?;
            }
            current_modseq(ctx, account)
        })
    }

    fn pop_lock(&self, account: AccountId) -> Option<PopLock> {
        PopLock::take(&self.pop_locks, account)
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.events.subscribe()
    }

    fn queue_add_at(&self, item: &crate::NewQueued<'_>, not_before: i64) -> Result<crate::QueueId> {
        let raw: Arc<[u8]> = Arc::from(item.raw);
        let owned = crate::NewQueued {
            raw: &[],
            ..item.clone()
        };
        let requiretls = item.requiretls;
        let (sender, account, recipients, envid, ret_hdrs, ret_full) = (
            owned.sender,
            owned.account,
            owned.recipients,
            owned.envid,
            owned.ret_hdrs,
            owned.ret_full,
        );
        self.writer.write(move |ctx| {
            let item = crate::NewQueued {
                raw: &raw,
                sender: sender.clone(),
                account,
                recipients: recipients.clone(),
                envid: envid.clone(),
                ret_hdrs,
                ret_full,
                requiretls,
            };
            queue::add(ctx.tx, &item, ctx.now, not_before)
        })
    }

    fn queue_cancel_held(&self, id: crate::QueueId, now: i64) -> Result<bool> {
        self.writer
            .write(move |ctx| queue::cancel_held(ctx.tx, id, now))
    }

    fn queue_list(&self) -> Result<Vec<crate::QueuedMessage>> {
        self.read(queue::list)
    }

    fn queue_due(&self, now: i64, limit: usize) -> Result<Vec<crate::QueuedMessage>> {
        self.read(|c| queue::due(c, now, limit))
    }

    fn queue_raw(&self, id: crate::QueueId) -> Result<Vec<u8>> {
        self.read(|c| queue::raw(c, id))
    }

    fn queue_update(&self, id: crate::QueueId, update: &crate::QueueUpdate) -> Result<()> {
        let update = update.clone();
        self.writer
            .write(move |ctx| queue::update(ctx.tx, id, &update))
    }

    fn queue_retry(&self, id: crate::QueueId) -> Result<()> {
        self.writer.write(move |ctx| queue::retry(ctx.tx, id))
    }

    fn queue_delete(&self, id: crate::QueueId) -> Result<()> {
        self.writer.write(move |ctx| queue::delete(ctx.tx, id))
    }

    fn sts_policy(&self, domain: &str) -> Result<Option<crate::StsPolicy>> {
        self.read(|c| queue::sts_policy(c, domain))
    }

    fn sts_policy_put(&self, domain: &str, policy: &crate::StsPolicy) -> Result<()> {
        let (domain, policy) = (domain.to_string(), policy.clone());
        self.writer
            .write(move |ctx| queue::sts_policy_put(ctx.tx, &domain, &policy))
    }

    fn sts_policies(&self) -> Result<Vec<(String, crate::StsPolicy)>> {
        self.read(queue::sts_policies)
    }

    fn tls_result_add(&self, result: &crate::TlsResult) -> Result<()> {
        let result = result.clone();
        self.writer
            .write(move |ctx| queue::tls_result_add(ctx.tx, &result))
    }

    fn tls_results(&self, last_day: i64) -> Result<Vec<crate::TlsResultCount>> {
        self.read(|c| queue::tls_results(c, last_day))
    }

    fn tls_results_delete(&self, domain: &str, last_day: i64) -> Result<()> {
        let domain = domain.to_string();
        self.writer
            .write(move |ctx| queue::tls_results_delete(ctx.tx, &domain, last_day))
    }

    fn dmarc_result_add(&self, result: &crate::DmarcResult) -> Result<()> {
        let result = result.clone();
        self.writer
            .write(move |ctx| queue::dmarc_result_add(ctx.tx, &result))
    }

    fn dmarc_results(&self, last_day: i64) -> Result<Vec<crate::DmarcResultCount>> {
        self.read(|c| queue::dmarc_results(c, last_day))
    }

    fn dmarc_results_delete(&self, domain: &str, last_day: i64) -> Result<()> {
        let domain = domain.to_string();
        self.writer
            .write(move |ctx| queue::dmarc_results_delete(ctx.tx, &domain, last_day))
    }

    fn check(&self) -> Result<CheckReport> {
        let files = self.blobs.list()?;
        self.read(|c| check::check(c, &self.blobs, files))
    }

    fn close(&self) {
        self.writer.close();
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.writer.close();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Four times as many concurrent readers as the pool holds: never more
    /// than `READERS` connections are open (the others wait, none is opened
    /// and closed per read), and every one is back in the pool afterwards.
    #[test]
    fn concurrent_reads_share_at_most_readers_connections() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(dir.path()).unwrap();
        let most = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 * READERS {
                scope.spawn(|| {
                    for _ in 0..20 {
                        backend
                            .read(|c| {
                                let open = backend.readers.lock().open;
                                most.fetch_max(open, std::sync::atomic::Ordering::Relaxed);
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                Ok(c.query_row("SELECT count(*) FROM accounts", [], |r| {
                                    r.get::<_, i64>(0)
                                })?)
                            })
                            .unwrap();
                    }
                });
            }
        });
        let most = most.into_inner();
        assert!(
            most > 1 && most <= READERS,
            "{most} connections open at once"
        );
        let state = backend.readers.lock();
        assert_eq!(state.idle.len(), state.open);
    }

    /// A read that panics gives its slot back: the pool does not shrink
    /// until reads wait forever.
    #[test]
    fn a_panicking_read_gives_its_slot_back() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(dir.path()).unwrap();
        for _ in 0..READERS + 1 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                backend.read(|c| -> Result<()> {
                    c.prepare_cached("BEGIN")?.execute([])?;
                    panic!("a bug in a read");
                })
            }));
            assert!(r.is_err());
        }
        assert_eq!(backend.readers.lock().open, 0);
        assert!(backend.domains().unwrap().is_empty());
        let state = backend.readers.lock();
        assert_eq!((state.open, state.idle.len()), (1, 1));
    }
}
