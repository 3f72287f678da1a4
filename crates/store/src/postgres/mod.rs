//! The PostgreSQL backend (scale-out): several `tidings serve` nodes share
//! one database. Selected by `[store] url = "postgresql://…"` or
//! `TIDINGS_STORE_URL` ([`crate::Store::open_with`]).
//!
//! - Client: tokio-postgres with a deadpool pool on a small runtime of the
//!   backend's own (the [`crate::Backend`] API is blocking: each call waits
//!   for its statements there), TLS to the database with rustls and the
//!   system's roots (`sslmode=require` in the URL insists on it; the
//!   default `prefer` uses it when the server offers it).
//! - Schema: numbered migrations (`schema.rs`) applied at open under an
//!   advisory lock, so nodes starting together apply each once.
//! - Writes: one transaction per call, under the mail model's rules
//!   (`crate::model`) through `rows::PgCtx`; the rows of the accounts a
//!   write changes are locked first, which serializes writers of an account
//!   across nodes (UIDs, MODSEQ and the change log stay exact). A deadlock
//!   or serialization failure is retried. A write is durable when it returns.
//! - Group commit: concurrent deliveries on one node share a transaction
//!   (`deliveries.rs`): a leader locks all their recipients' accounts in id
//!   order, ingests each recipient's copy in a savepoint (one refused alone),
//!   commits once and then answers every caller; each delivery keeps its
//!   own MODSEQ and change event.
//! - Events: a node publishes a commit's [`ChangeEvent`]s itself before the
//!   write returns (as SQLite does), and the commit sends them with
//!   `NOTIFY tidings_changes`; every node `LISTEN`s and publishes what the
//!   others sent, so IDLE and push on any node see every node's writes.
//!   When the listener's connection drops, NOTIFYs sent meanwhile are lost:
//!   after reconnecting it compares every account's MODSEQ with the last
//!   event it heard of it and publishes an event for each that moved (with
//!   the mailboxes whose HIGHESTMODSEQ moved), so waiting sessions look
//!   again at once (`catch_up`). Its connection's `application_name` is
//!   [`listener_name`].
//! - POP3's maildrop lock is a session advisory lock, held on a connection
//!   of its own while the POP3 session lasts: one session per maildrop
//!   across all nodes.
//! - ActiveSync devices and their sync states are rows (`eas.rs`), so a
//!   phone may talk to any node.
//! - Blobs are `bytea` rows, content-addressed, counted by reference (one
//!   over 1 MiB in 1 MiB chunks, `blob_chunks`); the last reference's
//!   transaction deletes the row. With `[store] blobs = "s3://…"` new
//!   blobs are objects of an S3-compatible bucket instead (`crate::s3`,
//!   `blobs_s3.rs`): the row (`location = 's3'`, no data) keeps the count;
//!   the bytes are PUT first thing in the write's transaction, before any
//!   account lock (`PgCtx::put_blobs`, under a shared advisory lock on the
//!   hash until the commit); the last
//!   reference's transaction deletes only the row, and the collector
//!   (`Backend::collect_blobs`) deletes objects without a row once past the
//!   grace period.
//!
//! - Sharing (RFC 4314 ACLs): the SQLite backend's `acl` table and rules
//!   (`acl.rs`): every call on a mailbox asks `acl::access`, then locks and
//!   acts as the mailbox's owner.
//!
//! Backup is PostgreSQL's: [`crate::Backend::backup`] fails with
//! [`StoreError::Unsupported`] here, and `tidings backup` runs `pg_dump`
//! instead (the server's `admin::backup_postgres`; [`split_password`]
//! keeps the password off its command line).
//!
//! The outbound queue is shared: `queue_due` claims messages with `FOR
//! UPDATE SKIP LOCKED` and a lease (`queue.rs`).
//!
//! Search: an email's words (split and lowercased as SQLite's `unicode61`
//! does, but keeping diacritics) in a `tsvector` under a GIN index; a query's
//! words must all match as prefixes, as with SQLite's FTS5.

mod acl;
mod aliases;
mod blobs_s3;
mod check;
pub mod cluster;
mod deliveries;
mod eas;
mod extras;
mod migrate;
mod queue;
mod rows;
mod schema;
mod tokens;
mod uploads;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxName, MailboxRole, ModSeq,
    PopPolicy, Secret, Uid, UidValidity,
};
use tokio::sync::broadcast;
use tokio_postgres::Row;

pub use self::migrate::MigrateReport;
use self::rows::{ENTRY_COLUMNS, PgCtx, Prepared, entry_from_row};
use crate::acl::Right;
use crate::model::{self, MailboxInfo};
use crate::sqlite::accounts::{
    hash_password, normalize_address, normalize_domain, verify_password,
};
use crate::{AccessToken, AclEntry, Grantee, Rights, TokenOwner};
use crate::{
    Account, Alias, Appended, BlobHash, ChangeEvent, ChangeKind, ChangeLog, Changes, CheckReport,
    Copied, Domain, EmailMeta, Expansion, ExpansionLimits, FlagOp, FlagsChanged, LoggedChange,
    Mailbox, MailboxCounts, MailboxDelta, MailboxEntry, MetadataEntry, MetadataWrite, NewEmail,
    PopLock, PopMessage, RecentUids, Recipient, Replaced, Result, SendCheck, SendLimits,
    SharedMailbox, SpooledEmail, StoreError, TokenKind, Upload,
};

/// The NOTIFY channel of change events.
const CHANNEL: &str = "tidings_changes";
/// Connections in the pool of one node.
const POOL_SIZE: usize = 16;
/// How many times a write that hit a deadlock or serialization failure
/// is run again.
const WRITE_TRIES: u32 = 8;
/// Blobs larger than this are stored in chunks of this size
/// (`blob_chunks`); smaller ones in their `blobs` row.
pub(crate) const BLOB_CHUNK: usize = 1024 * 1024;
/// The bytes of the blob `b` (a row of `blobs`), chunked or not.
pub(crate) const BLOB_BYTES: &str = "COALESCE(b.data, (SELECT string_agg(c.data, ''::bytea ORDER BY c.seq) FROM blob_chunks c WHERE c.hash = b.hash))";

/// Advisory lock keys of POP3 maildrops: this plus the account id.
const POP_LOCK_BASE: i64 = 0x504f_5033 << 32;

/// A query in a snapshot through the connection's statement cache: a
/// statement is parsed once per connection, not on every call (a plain
/// `query(&str)` costs a round trip more to prepare it each time).
async fn cached_query(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query(&statement, params).await
}

fn unsupported<T>(what: &'static str) -> Result<T> {
    Err(StoreError::Unsupported {
        backend: "PostgreSQL",
        what,
    })
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Two nodes adding the same address at once: the unique index lets one
/// win; the other is told it exists.
pub(crate) fn unique_is_taken(address: &str) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Database(m) if m.starts_with("23505") => {
            StoreError::AlreadyExists(format!("account or alias {address}"))
        }
        e => e,
    }
}

pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Database(format!("{}: {}", d.code().code(), d.message())),
        None => StoreError::Database(e.to_string()),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Database(format!("database pool: {e}"))
}

/// The store on a PostgreSQL database.
pub struct PgBackend {
    /// This node, in event payloads: it publishes its own events at
    /// commit and skips them when they come back by NOTIFY.
    node: u64,
    rt: Option<tokio::runtime::Runtime>,
    pool: deadpool_postgres::Pool,
    events: broadcast::Sender<ChangeEvent>,
    /// Deliveries waiting for a group commit (`deliveries.rs`).
    deliveries: deliveries::Deliveries,
    closed: AtomicBool,
    /// Where new blobs go: S3 (`[store] blobs`), else `bytea` rows.
    s3: Option<crate::s3::S3Blobs>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgBackend")
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        // Dropped from async code too: never wait for the runtime's tasks.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// rustls to the database, with the system's trusted roots.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Database(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgBackend {
    /// Connects to the database at `url` (`postgresql://user:pass@host:port/db`),
    /// applies the schema's migrations and starts listening for change events.
    pub fn open(url: &str) -> Result<PgBackend> {
        PgBackend::open_with_blobs(url, None)
    }

    /// As [`PgBackend::open`], with new blobs in the S3 bucket of `s3`
    /// (checked now: a bucket that cannot be reached fails the start).
    pub fn open_with_blobs(url: &str, s3: Option<crate::s3::S3Config>) -> Result<PgBackend> {
        let s3 = s3.map(crate::s3::S3Blobs::new).transpose()?;
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Refused(format!("bad PostgreSQL URL: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tidings-pg")
            .enable_all()
            .build()?;
        let tls = tls()?;
        let manager = deadpool_postgres::Manager::from_config(
            config.clone(),
            tls.clone(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(format!("database pool: {e}")))?;
        let (events, _) = broadcast::channel(1024);
        let mut node = [0u8; 8];
        getrandom::fill(&mut node)
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        let backend = PgBackend {
            node: u64::from_le_bytes(node),
            rt: Some(rt),
            pool,
            events,
            deliveries: deliveries::Deliveries::default(),
            closed: AtomicBool::new(false),
            s3,
        };
        if let Some(s3) = &backend.s3 {
            backend.block(s3.check_bucket())?;
        }
        backend.migrate()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        backend.runtime().spawn(listen(
            backend.node,
            config,
            tls,
            backend.events.clone(),
            ready_tx,
        ));
        ready_rx
            .recv()
            .map_err(|_| StoreError::Database("the change listener stopped".into()))?
            .map_err(StoreError::Database)?;
        Ok(backend)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        // Some until Drop.
        self.rt.as_ref().unwrap_or_else(|| unreachable!())
    }

    /// Waits for `f`, which runs its I/O on the backend's runtime. Works
    /// from any thread (a blocking one is best: the store's API blocks).
    fn block<F: Future>(&self, f: F) -> F::Output {
        let _enter = self.runtime().enter();
        futures_executor::block_on(f)
    }

    fn client(&self) -> Result<deadpool_postgres::Object> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.block(self.pool.get()).map_err(pool_error)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let c = self.client()?;
        let st = self.block(c.prepare_cached(sql)).map_err(db_error)?;
        self.block(c.query(&st, params)).map_err(db_error)
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Applies the migrations this database lacks, under an advisory lock.
    fn migrate(&self) -> Result<()> {
        let c = self.client()?;
        self.block(async {
            c.execute("SELECT pg_advisory_lock($1)", &[&schema::MIGRATION_LOCK])
                .await?;
            let r = async {
                c.batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations(version INT PRIMARY KEY, applied BIGINT NOT NULL)",
                )
                .await?;
                let done: i32 = c
                    .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                    .await?
                    .get(0);
                for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
                    let version = i as i32 + 1;
                    if version <= done {
                        continue;
                    }
                    c.batch_execute("BEGIN").await?;
                    c.batch_execute(sql).await?;
                    c.execute(
                        "INSERT INTO schema_migrations(version, applied) VALUES ($1, $2)",
                        &[&version, &unix_now()],
                    )
                    .await?;
                    c.batch_execute("COMMIT").await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            }
            .await;
            c.execute("SELECT pg_advisory_unlock($1)", &[&schema::MIGRATION_LOCK])
                .await?;
            r
        })
        .map_err(db_error)
    }

    /// Runs `f` in a write transaction and commits it; tried again after a
    /// deadlock or serialization failure.
    fn write<T>(&self, mut f: impl FnMut(&mut PgCtx<'_>) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut client = self.client()?;
            let tx = self.block(client.transaction()).map_err(db_error)?;
            let mut ctx = PgCtx::new(self, tx);
            let r = f(&mut ctx).and_then(|v| Ok((v, ctx.notify()?)));
            match r {
                Ok((v, events)) => {
                    let PgCtx { tx, .. } = ctx;
                    match self.block(tx.commit()) {
                        Ok(()) => {
                            for e in events {
                                let _ = self.events.send(e);
                            }
                            return Ok(v);
                        }
                        Err(e) if tries < WRITE_TRIES && is_retryable(&e) => continue,
                        Err(e) => return Err(db_error(e)),
                    }
                }
                Err(e) => {
                    let retry = ctx.retry.get();
                    let PgCtx { tx, .. } = ctx;
                    let _ = self.block(tx.rollback());
                    if retry && tries < WRITE_TRIES {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Runs `f` in a read-only snapshot (its queries agree).
    fn snapshot<T>(
        &self,
        f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T> {
        let mut c = self.client()?;
        self.block(async {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let r = f(&tx).await?;
            tx.commit().await?;
            Ok(r)
        })
        .map_err(db_error)
    }

    fn owned_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        self.query_opt(
            "SELECT 1 FROM mailboxes WHERE id = $1 AND account_id = $2",
            &[&mailbox.0, &account.0],
        )?
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))
    }

    fn ingest_all(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        prepared: Vec<(Prepared, Vec<Keyword>, Option<i64>)>,
    ) -> Result<Vec<Appended>> {
        let msgs: Vec<&Prepared> = prepared.iter().map(|(m, ..)| m).collect();
        self.write(|ctx| {
            ctx.put_blobs(&msgs)?;
            // APPEND into a shared mailbox (`i`) stores as its owner.
            let (owner, rights) = acl::access(&*ctx, account, mailbox, acl::insert_right())?;
            ctx.lock_accounts(&[owner])?;
            let target = ctx.mailbox_info(owner, mailbox)?;
            prepared
                .iter()
                .map(|(msg, keywords, received)| {
                    let received = received.unwrap_or(ctx.now);
                    // RFC 4314 §4: flags the rights do not cover are dropped.
                    let keywords = rights.allowed_flags(keywords);
                    ctx.ingest(owner, &target, msg, &keywords, received)
                })
                .collect()
        })
    }

    /// COPY or MOVE (RFC 9051 §6.4.7, RFC 6851) with the rights of RFC
    /// 4314 §4: `r` (and `te` to move) on the source, `i` on the target.
    /// Between two mailboxes of one owner the email gains a mailbox (no
    /// bytes copied); between two owners' mailboxes (a shared one and the
    /// caller's own) the target's owner gets a new email with the same
    /// blob (one row, counted twice).
    fn copy_or_move(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<Copied> {
        let uids: BTreeSet<Uid> = uids.iter().copied().collect();
        let (owner_from, _) = acl::access(self, account, from, acl::source_rights(is_move))?;
        let (owner_to, _) = acl::access(self, account, to, acl::insert_right())?;
        if owner_from != owner_to {
            return self.copy_across(account, from, &uids, to, is_move);
        }
        self.write(|ctx| {
            let (owner, _) = acl::access(&*ctx, account, from, acl::source_rights(is_move))?;
            acl::access(&*ctx, account, to, acl::insert_right())?;
            ctx.lock_accounts(&[owner])?;
            let source = ctx.mailbox_info(owner, from)?;
            let target = ctx.mailbox_info(owner, to)?;
            let mut pairs = Vec::new();
            for &uid in &uids {
                let Some(email) = ctx.email_at(source.id, uid)? else {
                    continue;
                };
                let new_uid =
                    model::copy_or_move_email(ctx, owner, email, &source, &target, is_move)?;
                pairs.push((uid, new_uid));
            }
            let validity: i64 = ctx
                .query_one(
                    "SELECT uidvalidity FROM mailboxes WHERE id = $1",
                    &[&target.id.0],
                )?
                .get(0);
            Ok(Copied {
                uid_validity: UidValidity(validity as u32),
                pairs,
                modseq: ctx.current_modseq(owner)?,
            })
        })
    }

    /// [`Self::copy_or_move`] between two owners' mailboxes: the messages
    /// are read and parsed first (at most [`MAX_CROSS_COPY_BYTES`]), then
    /// stored for the target's owner in one transaction that locks both
    /// accounts (in id order).
    fn copy_across(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &BTreeSet<Uid>,
        to: MailboxId,
        is_move: bool,
    ) -> Result<Copied> {
        let entries: Vec<MailboxEntry> = crate::Backend::mailbox_entries(self, account, from)?
            .into_iter()
            .filter(|e| uids.contains(&e.uid))
            .collect();
        if entries.iter().map(|e| e.size).sum::<u64>() > MAX_CROSS_COPY_BYTES {
            return Err(StoreError::Refused(
                "too many messages to copy between accounts at once; copy fewer".into(),
            ));
        }
        let prepared = entries
            .into_iter()
            .map(|e| {
                let raw = crate::Backend::email_raw(self, account, e.email)?;
                Ok((e, Prepared::new(&raw)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let msgs: Vec<&Prepared> = prepared.iter().map(|(_, m)| m).collect();
        self.write(|ctx| {
            // Bytes to S3 (when it holds them) before any account is locked.
            ctx.put_blobs(&msgs)?;
            let (owner_from, _) = acl::access(&*ctx, account, from, acl::source_rights(is_move))?;
            let (owner_to, rights) = acl::access(&*ctx, account, to, acl::insert_right())?;
            ctx.lock_accounts(&[owner_from, owner_to])?;
            let source = ctx.mailbox_info(owner_from, from)?;
            let target = ctx.mailbox_info(owner_to, to)?;
            let mut pairs = Vec::new();
            for (e, msg) in &prepared {
                // Gone meanwhile: skipped, as COPY skips a vanished UID.
                if ctx.email_at(from, e.uid)? != Some(e.email) {
                    continue;
                }
                // RFC 4314 §4: flags the target's rights do not cover are
                // dropped; \Deleted is the entry's and is not copied.
                let keywords = rights.allowed_flags(&e.keywords);
                let a = ctx.ingest(owner_to, &target, msg, &keywords, e.received)?;
                pairs.push((e.uid, a.uid));
                if is_move {
                    model::take_out_of(ctx, owner_from, e.email, &source)?;
                }
            }
            let validity: i64 = ctx
                .query_one("SELECT uidvalidity FROM mailboxes WHERE id = $1", &[&to.0])?
                .get(0);
            Ok(Copied {
                uid_validity: UidValidity(validity as u32),
                pairs,
                modseq: ctx.current_modseq(owner_from)?,
            })
        })
    }
}

/// At most this many bytes of messages are read for one COPY or MOVE
/// between two accounts (they are held in memory until it commits).
const MAX_CROSS_COPY_BYTES: u64 = 64 * 1024 * 1024;

/// How many messages the account sent after `since`.
fn sent_since(ctx: &PgCtx<'_>, account: i64, since: i64) -> Result<u32> {
    let n: i64 = ctx
        .query_one(
            "SELECT count(*) FROM sent WHERE account_id = $1 AND at > $2",
            &[&account, &since],
        )?
        .get(0);
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// SQLSTATEs after which the whole transaction is tried again.
pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            || *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// `url` without its password (for messages and for PostgreSQL's own
/// tools' command lines, which other users may see) and the password, for
/// the tools' `PGPASSWORD`. `None` for what is not a PostgreSQL URL.
pub fn split_password(url: &str) -> Option<(String, Option<String>)> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    // A password given as a query parameter goes too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    Some((format!("{scheme}://{authority}{tail}"), password))
}

/// The `application_name` of a node's listener connection, which finds it
/// in `pg_stat_activity` (one per `tidings` process).
pub fn listener_name(pid: u32) -> String {
    format!("tidings listener {pid}")
}

/// What this node heard of each account's MODSEQ (from events, or read at
/// a catch-up): what a catch-up compares with.
type Known = Arc<std::sync::Mutex<crate::catch_up::Heard>>;

/// Listens for change events on a connection of its own and publishes
/// them; reconnects (after a second) when the connection drops. NOTIFYs
/// sent while it was down are lost, so after reconnecting it catches up
/// ([`catch_up`]): every account whose MODSEQ moved past the last event
/// heard of it gets an event naming the mailboxes that changed since, so
/// IDLE, JMAP push and ActiveSync Ping on this node look again at once
/// rather than at their periodic check.
async fn listen(
    node: u64,
    mut config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    events: broadcast::Sender<ChangeEvent>,
    ready: std::sync::mpsc::Sender<std::result::Result<(), String>>,
) {
    config.application_name(listener_name(std::process::id()));
    let mut ready = Some(ready);
    let known: Known = Arc::default();
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let publish = events.clone();
                let heard = known.clone();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                if let Some((from, event)) = parse_event(n.payload()) {
                                    heard
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .heard(event.account, event.modseq);
                                    if from != node {
                                        let _ = publish.send(event);
                                    }
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        // Listening: what commits from now on is heard.
                        // What committed before is in the accounts' rows.
                        let first = ready.is_some();
                        if let Err(e) = catch_up(&client, &known, &events, first).await {
                            tracing::warn!(error = %e, "PostgreSQL change listener: catching up");
                        }
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        } else {
                            tracing::info!("PostgreSQL change listener: reconnected");
                        }
                        let _ = driver.await;
                        tracing::warn!("PostgreSQL change listener: connection lost");
                    }
                    Err(e) => {
                        driver.abort();
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(format!("LISTEN: {e}")));
                            return;
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(format!("connecting to PostgreSQL: {e}")));
                    return;
                }
                tracing::warn!(error = %e, "PostgreSQL change listener: reconnecting");
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Reads every account's MODSEQ. At the first connection it only notes
/// them; after a reconnection, each account that moved past what this
/// node last heard gets an event with its MODSEQ now and the mailboxes
/// whose HIGHESTMODSEQ moved past it (an account never heard of: all its
/// mailboxes). One query for all accounts, one per account that moved.
async fn catch_up(
    client: &tokio_postgres::Client,
    known: &Known,
    events: &broadcast::Sender<ChangeEvent>,
    first: bool,
) -> std::result::Result<(), tokio_postgres::Error> {
    let now: Vec<(AccountId, ModSeq)> = client
        .query("SELECT id, modseq FROM accounts", &[])
        .await?
        .iter()
        .map(|r| (AccountId(r.get(0)), ModSeq(r.get::<_, i64>(1) as u64)))
        .collect();
    let moved = known.lock().unwrap_or_else(|e| e.into_inner()).moved(now);
    if first {
        return Ok(());
    }
    for (account, since, modseq) in moved {
        let mailboxes = client
            .query(
                "SELECT id FROM mailboxes WHERE account_id = $1 AND highestmodseq > $2 ORDER BY id",
                &[&account.0, &(since.0.min(i64::MAX as u64) as i64)],
            )
            .await?
            .iter()
            .map(|r| MailboxId(r.get(0)))
            .collect();
        let _ = events.send(ChangeEvent {
            account,
            modseq,
            mailboxes,
        });
    }
    Ok(())
}

/// Words as the SQLite index's `unicode61` tokenizer splits them: runs of
/// letters and digits, lower case (diacritics are kept, which SQLite
/// removes). Made here, not by a PostgreSQL text search configuration, so
/// that the words do not depend on the database's locale.
fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The most bytes of distinct words one email gives the index: a tsvector
/// holds at most 1 MiB, a lexeme at most 2 KiB. Words past these are not
/// searchable.
const MAX_SEARCH_BYTES: usize = 900 * 1024;
const MAX_WORD_BYTES: usize = 2000;

/// The distinct words of `texts`, for an email's tsvector.
pub(crate) fn search_words(texts: &[&str]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0;
    let mut out = Vec::new();
    for w in texts.iter().flat_map(|t| words_of(t)) {
        if w.len() > MAX_WORD_BYTES || seen.contains(&w) {
            continue;
        }
        bytes += w.len() + 8;
        if bytes > MAX_SEARCH_BYTES {
            break;
        }
        seen.insert(w.clone());
        out.push(w);
    }
    out
}

/// Free text as a tsquery: every word must match as a prefix (as the
/// SQLite backend's FTS5 query); at most `sqlite::MAX_FTS_TERMS` words.
fn tsquery(text: &str) -> Result<Option<String>> {
    let mut words: Vec<String> = Vec::new();
    for w in words_of(text) {
        if !words.contains(&w) {
            if words.len() == crate::sqlite::MAX_FTS_TERMS {
                return Err(StoreError::Refused(format!(
                    "more than {} words in one text search",
                    crate::sqlite::MAX_FTS_TERMS
                )));
            }
            words.push(w);
        }
    }
    // Letters and digits only: nothing to quote but the quotes themselves.
    let terms: Vec<String> = words.iter().map(|w| format!("'{w}':*")).collect();
    Ok((!terms.is_empty()).then(|| terms.join(" & ")))
}

/// An event as NOTIFY carries it: "node account modseq mailbox,mailbox,…".
fn event_payload(node: u64, e: &ChangeEvent) -> String {
    let mailboxes: Vec<String> = e.mailboxes.iter().map(|m| m.0.to_string()).collect();
    format!(
        "{node} {} {} {}",
        e.account.0,
        e.modseq.0,
        mailboxes.join(",")
    )
}

/// The sending node and the event of an [`event_payload`].
fn parse_event(payload: &str) -> Option<(u64, ChangeEvent)> {
    let mut parts = payload.split(' ');
    let node = parts.next()?.parse().ok()?;
    let account = AccountId(parts.next()?.parse().ok()?);
    let modseq = ModSeq(parts.next()?.parse().ok()?);
    let mailboxes = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map(MailboxId))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    Some((
        node,
        ChangeEvent {
            account,
            modseq,
            mailboxes,
        },
    ))
}

const ACCOUNT_COLUMNS: &str = "id, email, quota, used, leave_policy, pop_policy, modseq";

fn account_from_row(r: &Row) -> Account {
    Account {
        id: AccountId(r.get(0)),
        email: r.get(1),
        quota: r.get::<_, Option<i64>>(2).map(|q| q as u64),
        used: r.get::<_, i64>(3) as u64,
        leave_policy: LeavePolicy::parse(r.get(4)).unwrap_or_default(),
        pop_policy: PopPolicy::parse(r.get(5)).unwrap_or_default(),
        modseq: ModSeq(r.get::<_, i64>(6) as u64),
    }
}

const MAILBOX_COLUMNS: &str = "id, account_id, name, role,
    EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
    uidvalidity, uidnext, highestmodseq";

fn mailbox_from_row(r: &Row) -> Result<Mailbox> {
    let name: String = r.get(2);
    Ok(Mailbox {
        id: MailboxId(r.get(0)),
        account: AccountId(r.get(1)),
        name: MailboxName::new(&name)?,
        role: r
            .get::<_, Option<String>>(3)
            .as_deref()
            .and_then(MailboxRole::parse),
        subscribed: r.get(4),
        uid_validity: UidValidity(r.get::<_, i64>(5) as u32),
        uid_next: Uid(r.get::<_, i64>(6).min(i64::from(u32::MAX)) as u32),
        highest_modseq: ModSeq(r.get::<_, i64>(7) as u64),
    })
}

/// Holds a POP3 maildrop's advisory lock on its own connection.
struct PgPopLock {
    client: Option<deadpool_postgres::Object>,
    key: i64,
    rt: tokio::runtime::Handle,
}

impl Drop for PgPopLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Unlocked before the next session may ask (a round trip); a
            // connection that cannot unlock is closed, which releases it.
            let _enter = self.rt.enter();
            if futures_executor::block_on(
                client.execute("SELECT pg_advisory_unlock($1)", &[&self.key]),
            )
            .is_err()
            {
                let _ = deadpool_postgres::Object::take(client);
            }
        }
    }
}

impl crate::Backend for PgBackend {
    fn add_domain(&self, name: &str) -> Result<()> {
        let name = normalize_domain(name)?;
        self.write(|ctx| {
            let n = ctx.execute(
                "INSERT INTO domains(name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&name],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("domain {name}")));
            }
            Ok(())
        })
    }

    fn domains(&self) -> Result<Vec<Domain>> {
        Ok(self
            .query("SELECT name FROM domains ORDER BY name", &[])?
            .iter()
            .map(|r| Domain { name: r.get(0) })
            .collect())
    }

    fn remove_domain(&self, name: &str) -> Result<()> {
        let name = normalize_domain(name)?;
        self.write(|ctx| {
            let id: i64 = ctx
                .query_opt("SELECT id FROM domains WHERE name = $1", &[&name])?
                .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?
                .get(0);
            let users: i64 = ctx
                .query_one("SELECT count(*) FROM accounts WHERE domain_id = $1", &[&id])?
                .get(0);
            if users > 0 {
                return Err(StoreError::Refused(format!(
                    "domain {name} still has {users} accounts or aliases; delete them first"
                )));
            }
            ctx.execute("DELETE FROM domains WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn create_account(&self, email: &str, password: &Secret<String>) -> Result<AccountId> {
        let (email, domain) = normalize_address(email)?;
        let hash = hash_password(password)?;
        self.write(|ctx| {
            let domain_id: i64 = ctx
                .query_opt("SELECT id FROM domains WHERE name = $1", &[&domain])?
                .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?
                .get(0);
            if ctx.address_taken(&email)? {
                return Err(StoreError::AlreadyExists(format!(
                    "account or alias {email}"
                )));
            }
            let id: i64 = ctx
                .query_one(
                    "INSERT INTO accounts(email, domain_id, password_hash, created)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&email, &domain_id, &hash, &ctx.now],
                )?
                .get(0);
            let id = AccountId(id);
            for role in MailboxRole::ALL {
                ctx.insert_mailbox(id, role.default_name(), Some(role))?;
            }
            Ok(id)
        })
        .map_err(unique_is_taken(&email))
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        Ok(self
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY email"),
                &[],
            )?
            .iter()
            .map(account_from_row)
            .collect())
    }

    fn account(&self, email: &str) -> Result<Option<Account>> {
        let Ok((email, _)) = normalize_address(email) else {
            return Ok(None);
        };
        Ok(self
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = $1"),
                &[&email],
            )?
            .as_ref()
            .map(account_from_row))
    }

    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
                &[&id.0],
            )?
            .as_ref()
            .map(account_from_row))
    }

    fn set_password(&self, email: &str, password: &Secret<String>) -> Result<()> {
        let (email, _) = normalize_address(email)?;
        let hash = hash_password(password)?;
        self.write(|ctx| {
            let n = ctx.execute(
                "UPDATE accounts SET password_hash = $2 WHERE email = $1",
                &[&email, &hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {email}")));
            }
            Ok(())
        })
    }

    fn delete_account(&self, email: &str) -> Result<()> {
        let (email, _) = normalize_address(email)?;
        self.write(|ctx| {
            let id: i64 = ctx
                .query_opt("SELECT id FROM accounts WHERE email = $1", &[&email])?
                .ok_or_else(|| StoreError::NotFound(format!("account {email}")))?
                .get(0);
            ctx.delete_account(AccountId(id))
        })
    }

    fn set_quota(&self, email: &str, quota: Option<u64>) -> Result<()> {
        let (email, _) = normalize_address(email)?;
        let quota = quota.map(|q| q.min(i64::MAX as u64) as i64);
        self.write(|ctx| {
            let n = ctx.execute(
                "UPDATE accounts SET quota = $2 WHERE email = $1",
                &[&email, &quota],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {email}")));
            }
            Ok(())
        })
    }

    fn set_policies(
        &self,
        email: &str,
        leave: Option<LeavePolicy>,
        pop: Option<PopPolicy>,
    ) -> Result<()> {
        let (email, _) = normalize_address(email)?;
        self.write(|ctx| {
            let id: i64 = ctx
                .query_opt("SELECT id FROM accounts WHERE email = $1", &[&email])?
                .ok_or_else(|| StoreError::NotFound(format!("account {email}")))?
                .get(0);
            if let Some(l) = leave {
                ctx.execute(
                    "UPDATE accounts SET leave_policy = $2 WHERE id = $1",
                    &[&id, &l.as_str()],
                )?;
            }
            if let Some(p) = pop {
                ctx.execute(
                    "UPDATE accounts SET pop_policy = $2 WHERE id = $1",
                    &[&id, &p.as_str()],
                )?;
            }
            Ok(())
        })
    }

    fn authenticate(&self, email: &str, password: &Secret<String>) -> Result<Option<AccountId>> {
        let Ok((email, _)) = normalize_address(email) else {
            return Ok(None);
        };
        // An app token of this account opens it without argon2.
        if crate::sqlite::tokens::looks_like_token(password.expose())
            && let Some(owner) = self.token_owner(password)?
            && owner.kind == TokenKind::App
            && owner.email == email
        {
            return Ok(Some(owner.account));
        }
        let Some(row) = self.query_opt(
            "SELECT id, password_hash FROM accounts WHERE email = $1",
            &[&email],
        )?
        else {
            // Spend the same time on unknown users: no account oracle.
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| {
                hash_password(&Secret::new("not a password".to_string())).unwrap_or_default()
            });
            verify_password(dummy, password);
            return Ok(None);
        };
        let hash: String = row.get(1);
        Ok(verify_password(&hash, password).then(|| AccountId(row.get(0))))
    }

    fn add_token(
        &self,
        email: &str,
        name: &str,
        kind: TokenKind,
        expires: Option<i64>,
        idle: Option<i64>,
    ) -> Result<Secret<String>> {
        self.add_token_(email, name, kind, expires, idle)
    }

    fn tokens(&self, email: &str) -> Result<Vec<AccessToken>> {
        self.tokens_(email)
    }

    fn delete_token(&self, email: &str, name: &str) -> Result<()> {
        self.delete_token_(email, name)
    }

    fn token_owner(&self, token: &Secret<String>) -> Result<Option<TokenOwner>> {
        self.token_owner_(token)
    }

    fn revoke_token(&self, token: &Secret<String>) -> Result<bool> {
        self.revoke_token_(token)
    }

    fn add_upload(
        &self,
        account: AccountId,
        body: &crate::Spooled,
        media_type: &str,
        expires: i64,
        cap: u64,
    ) -> Result<Upload> {
        self.add_upload_(account, body, media_type, expires, cap)
    }

    fn upload(&self, account: AccountId, hash: &BlobHash) -> Result<Option<Upload>> {
        self.upload_(account, hash)
    }

    fn upload_bytes(&self, account: AccountId, hash: &BlobHash) -> Result<Vec<u8>> {
        self.upload_bytes_(account, hash)
    }

    fn add_alias(&self, address: &str, target: &str) -> Result<()> {
        self.add_alias_(address, target)
    }

    fn add_alias_targets(&self, address: &str, targets: &[String]) -> Result<()> {
        self.add_alias_targets_(address, targets)
    }

    fn aliases(&self) -> Result<Vec<Alias>> {
        self.aliases_()
    }

    fn remove_alias(&self, address: &str) -> Result<()> {
        self.remove_alias_(address)
    }

    fn resolve_recipient(&self, address: &str) -> Result<Option<AccountId>> {
        self.resolve_recipient_(address)
    }

    fn expand_recipient(&self, address: &str, limits: ExpansionLimits) -> Result<Expansion> {
        self.expand_recipient_(address, limits)
    }

    fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        self.query(
            &format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name COLLATE \"C\""
            ),
            &[&account.0],
        )?
        .iter()
        .map(mailbox_from_row)
        .collect()
    }

    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<Mailbox>> {
        self.query_opt(
            &format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2"),
            &[&account.0, &name.as_str()],
        )?
        .as_ref()
        .map(mailbox_from_row)
        .transpose()
    }

    fn mailbox_by_role(&self, account: AccountId, role: MailboxRole) -> Result<Option<Mailbox>> {
        self.query_opt(
            &format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND role = $2"),
            &[&account.0, &role.as_str()],
        )?
        .as_ref()
        .map(mailbox_from_row)
        .transpose()
    }

    fn mailbox_counts(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxCounts> {
        let (owner, _) = acl::access(self, account, mailbox, acl::read_right())?;
        let r = self
            .query_opt(
                "SELECT messages, unseen, deleted, size FROM mailboxes WHERE id = $1 AND account_id = $2",
                &[&mailbox.0, &owner.0],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
        Ok(MailboxCounts {
            messages: r.get::<_, i64>(0) as u32,
            unseen: r.get::<_, i64>(1) as u32,
            deleted: r.get::<_, i64>(2) as u32,
            size: r.get::<_, i64>(3) as u64,
        })
    }

    fn recent_uids(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        claim: bool,
    ) -> Result<RecentUids> {
        // RFC 3501 §2.3.2: the mailbox's first unclaimed UID; a claim moves
        // it to UIDNEXT under the row's lock, so each UID is recent in one
        // session on any node. No change of the mailbox: no MODSEQ, no event.
        let read = |ctx: &PgCtx<'_>, lock: &str| -> Result<RecentUids> {
            let (account, _) = acl::access(ctx, account, mailbox, acl::read_right())?;
            let r = ctx
                .query_opt(
                    &format!(
                        "SELECT first_recent_uid, uidnext FROM mailboxes WHERE id = $1 AND account_id = $2{lock}"
                    ),
                    &[&mailbox.0, &account.0],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
            let (first, next): (i64, i64) = (r.get(0), r.get(1));
            let count: i64 = if first < next {
                ctx.query_one(
                    "SELECT count(*) FROM entries WHERE mailbox_id = $1 AND uid >= $2",
                    &[&mailbox.0, &first],
                )?
                .get(0)
            } else {
                0
            };
            let uid = |n: i64| Uid(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(RecentUids {
                first: uid(first),
                next: uid(next),
                count: u32::try_from(count).unwrap_or(u32::MAX),
            })
        };
        // One statement first (no transaction, no lock): a look, or a claim
        // with nothing new to claim (most SELECTs, and a session's own
        // APPEND it already claimed), ends here, with no write to commit.
        let look = |owner: AccountId| {
            self.query_opt(
                "SELECT m.first_recent_uid, m.uidnext,
                        CASE WHEN m.first_recent_uid < m.uidnext
                             THEN (SELECT count(*) FROM entries e WHERE e.mailbox_id = m.id AND e.uid >= m.first_recent_uid)
                             ELSE 0 END
                 FROM mailboxes m WHERE m.id = $1 AND m.account_id = $2",
                &[&mailbox.0, &owner.0],
            )
        };
        let r = match look(account)? {
            Some(r) => r,
            // Not the account's: one shared with it (`r`), or none.
            None => {
                let (owner, _) = acl::access(self, account, mailbox, acl::read_right())?;
                look(owner)?.ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?
            }
        };
        let (first, next, count): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        if !claim || first >= next {
            let uid = |n: i64| Uid(u32::try_from(n).unwrap_or(u32::MAX));
            return Ok(RecentUids {
                first: uid(first),
                next: uid(next),
                count: u32::try_from(count).unwrap_or(u32::MAX),
            });
        }
        self.write(|ctx| {
            let found = read(ctx, " FOR UPDATE")?;
            if found.first < found.next {
                ctx.execute(
                    "UPDATE mailboxes SET first_recent_uid = $2 WHERE id = $1",
                    &[&mailbox.0, &i64::from(found.next.0)],
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
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            for parent in name.ancestors() {
                if ctx.mailbox_by_name(account, parent.as_str())?.is_none() {
                    ctx.insert_mailbox(account, parent.as_str(), None)?;
                }
            }
            ctx.insert_mailbox(account, name.as_str(), role)
        })
    }

    fn rename_mailbox(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            ctx.rename_mailbox(account, from, to)
        })
    }

    fn delete_mailbox(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            ctx.delete_mailbox(account, name)
        })
    }

    fn set_subscribed(
        &self,
        account: AccountId,
        name: &MailboxName,
        subscribed: bool,
    ) -> Result<()> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            let mailbox = ctx.mailbox_by_name(account, name.as_str())?;
            let changed = if subscribed {
                if mailbox.is_none() {
                    return Err(StoreError::NotFound(format!("mailbox {name}")));
                }
                ctx.execute(
                    "INSERT INTO subscriptions(account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&account.0, &name.as_str()],
                )?
            } else {
                ctx.execute(
                    "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2",
                    &[&account.0, &name.as_str()],
                )?
            };
            if let Some(mb) = mailbox
                && changed > 0
            {
                crate::model::MailRows::log_change(
                    ctx,
                    account,
                    ChangeKind::MailboxChanged,
                    mb.id.0,
                )?;
            }
            Ok(())
        })
    }

    fn reserve_send(
        &self,
        account: AccountId,
        now: i64,
        defaults: SendLimits,
    ) -> Result<SendCheck> {
        self.write(|ctx| {
            // Under the account's lock: two nodes cannot both take the last one.
            ctx.lock_accounts(&[account])?;
            let r = ctx.query_one(
                "SELECT send_per_hour, send_per_day FROM accounts WHERE id = $1",
                &[&account.0],
            )?;
            let check = model::send_check(r.get(0), r.get(1), defaults, now, |since| {
                sent_since(ctx, account.0, since)
            })?;
            if check != SendCheck::Allowed {
                return Ok(check);
            }
            ctx.execute(
                "DELETE FROM sent WHERE account_id = $1 AND at <= $2",
                &[&account.0, &(now - 86_400)],
            )?;
            ctx.execute(
                "INSERT INTO sent(account_id, at) VALUES ($1, $2)",
                &[&account.0, &now],
            )?;
            Ok(SendCheck::Allowed)
        })
    }

    fn send_limits(&self, email: &str, now: i64) -> Result<(SendLimits, u32, u32)> {
        let (email, _) = normalize_address(email)?;
        self.write(|ctx| {
            let r = ctx
                .query_opt(
                    "SELECT id, send_per_hour, send_per_day FROM accounts WHERE email = $1",
                    &[&email],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("account {email}")))?;
            let own = |n: Option<i64>| n.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
            let id: i64 = r.get(0);
            Ok((
                SendLimits {
                    per_hour: own(r.get(1)),
                    per_day: own(r.get(2)),
                },
                sent_since(ctx, id, now - 3600)?,
                sent_since(ctx, id, now - 86_400)?,
            ))
        })
    }

    fn set_send_limits(&self, email: &str, limits: SendLimits) -> Result<()> {
        let (email, _) = normalize_address(email)?;
        self.write(|ctx| {
            let n = ctx.execute(
                "UPDATE accounts SET send_per_hour = $2, send_per_day = $3 WHERE email = $1",
                &[
                    &email,
                    &limits.per_hour.map(i64::from),
                    &limits.per_day.map(i64::from),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {email}")));
            }
            Ok(())
        })
    }

    fn backup(&self, _dest: &Path) -> Result<crate::sqlite::backup::BackupReport> {
        unsupported("backup (use pg_dump)")
    }

    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>> {
        self.query(
            "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name COLLATE \"C\"",
            &[&account.0],
        )?
        .iter()
        .map(|r| Ok(MailboxName::new(r.get::<_, &str>(0))?))
        .collect()
    }

    fn metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
    ) -> Result<Vec<MetadataEntry>> {
        self.metadata_(account, mailbox)
    }

    fn set_metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
        entries: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<MetadataWrite> {
        self.set_metadata_(account, mailbox, entries, max_entries)
    }

    fn my_rights(&self, account: AccountId, mailbox: MailboxId) -> Result<Rights> {
        match acl::rights(self, account, mailbox)? {
            Some((_, r)) if !r.is_empty() => Ok(r),
            _ => Err(StoreError::NotFound(format!("mailbox {mailbox}"))),
        }
    }

    fn acl(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<AclEntry>> {
        acl::access(self, account, mailbox, Rights::of(&[Right::Administer]))?;
        acl::list(self, mailbox)
    }

    fn eas_device(&self, account: AccountId, device_id: &str) -> Result<Option<crate::EasDevice>> {
        self.eas_device_(account, device_id)
    }

    fn eas_devices(&self, account: AccountId) -> Result<Vec<crate::EasDevice>> {
        self.eas_devices_(account)
    }

    fn eas_put_device(&self, device: &crate::EasDevice) -> Result<()> {
        self.eas_put_device_(device)
    }

    fn eas_delete_device(&self, account: AccountId, device_id: &str) -> Result<bool> {
        self.eas_delete_device_(account, device_id)
    }

    fn eas_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.eas_sync_state_(account, device_id, collection)
    }

    fn eas_set_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
        state: Option<Vec<u8>>,
    ) -> Result<()> {
        self.eas_set_sync_state_(account, device_id, collection, state.as_deref())
    }

    fn set_rights(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        grantee: &Grantee,
        rights: Option<Rights>,
    ) -> Result<()> {
        self.write(|ctx| {
            let (owner, _) =
                acl::access(&*ctx, account, mailbox, Rights::of(&[Right::Administer]))?;
            // Under the owner's lock, as the owner's other writes.
            ctx.lock_accounts(&[owner])?;
            let id = acl::grantee_id(&*ctx, grantee)?;
            if id == owner.0 {
                return Err(StoreError::Refused(
                    "the owner's rights cannot be changed".into(),
                ));
            }
            acl::set(ctx, mailbox, id, rights)
        })
    }

    fn shared_mailboxes(&self, account: AccountId) -> Result<Vec<SharedMailbox>> {
        acl::shared_with(self, account)
    }

    fn create_mailbox_of(
        &self,
        account: AccountId,
        owner: AccountId,
        name: &MailboxName,
    ) -> Result<MailboxId> {
        self.write(|ctx| {
            let parent = acl::parent_in(&*ctx, owner, name)?;
            let (owner, _) =
                acl::access(&*ctx, account, parent, Rights::of(&[Right::CreateChild]))?;
            ctx.lock_accounts(&[owner])?;
            ctx.insert_mailbox(owner, name.as_str(), None)
        })
    }

    fn subscribe_shared(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        name: &MailboxName,
    ) -> Result<()> {
        self.write(|ctx| {
            acl::access(&*ctx, account, mailbox, Rights::of(&[Right::Lookup]))?;
            ctx.execute(
                "INSERT INTO subscriptions(account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&account.0, &name.as_str()],
            )?;
            Ok(())
        })
    }

    fn delete_mailbox_of(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        self.write(|ctx| {
            let (owner, _) =
                acl::access(&*ctx, account, mailbox, Rights::of(&[Right::DeleteMailbox]))?;
            ctx.lock_accounts(&[owner])?;
            let name = acl::name_of(&*ctx, mailbox)?;
            ctx.delete_mailbox(owner, &name)
        })
    }

    fn rename_mailbox_of(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        to: &MailboxName,
    ) -> Result<()> {
        self.write(|ctx| {
            let (owner, _) =
                acl::access(&*ctx, account, mailbox, Rights::of(&[Right::DeleteMailbox]))?;
            let parent = acl::parent_in(&*ctx, owner, to)?;
            acl::access(&*ctx, account, parent, Rights::of(&[Right::CreateChild]))?;
            ctx.lock_accounts(&[owner])?;
            let from = acl::name_of(&*ctx, mailbox)?;
            ctx.rename_mailbox(owner, &from, to)
        })
    }

    fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: NewEmail<'_>,
    ) -> Result<Appended> {
        let msg = Prepared::new(email.raw)?;
        self.ingest_all(
            account,
            mailbox,
            vec![(msg, email.keywords, email.received)],
        )?
        .pop()
        .ok_or_else(|| StoreError::Database("nothing appended".into()))
    }

    fn append_many(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<NewEmail<'_>>,
    ) -> Result<Vec<Appended>> {
        let prepared = emails
            .into_iter()
            .map(|e| Ok((Prepared::new(e.raw)?, e.keywords, e.received)))
            .collect::<Result<Vec<_>>>()?;
        self.ingest_all(account, mailbox, prepared)
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
        let msg = Prepared::new(email.raw)?;
        self.write(|ctx| {
            ctx.put_blobs(&[&msg])?;
            ctx.lock_accounts(&[account])?;
            let target = ctx.mailbox_info(account, first)?;
            let others: Vec<MailboxInfo> = rest
                .iter()
                .map(|m| ctx.mailbox_info(account, *m))
                .collect::<Result<_>>()?;
            let received = email.received.unwrap_or(ctx.now);
            let appended = ctx.ingest(account, &target, &msg, &email.keywords, received)?;
            for m in &others {
                model::put_into(ctx, account, appended.email, m)?;
            }
            Ok(appended)
        })
    }

    fn deliver(
        &self,
        raw: &[u8],
        received: Option<i64>,
        recipients: &[Recipient],
    ) -> Result<Vec<Result<Appended>>> {
        // Parsed and hashed here, on the caller's thread; stored in a group
        // commit with the deliveries of other callers (`deliveries.rs`).
        let delivery = deliveries::Delivery {
            msg: Prepared::new(raw)?,
            received,
            recipients: recipients.to_vec(),
        };
        self.deliveries.deliver(self, delivery)
    }

    fn append_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<SpooledEmail<'_>>,
    ) -> Result<Vec<Appended>> {
        let prepared = emails
            .into_iter()
            .map(|e| {
                let raw = e.body.load(1)?;
                Ok((Prepared::new(&raw)?, e.keywords, e.received))
            })
            .collect::<Result<Vec<_>>>()?;
        self.ingest_all(account, mailbox, prepared)
    }

    fn replace_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: SpooledEmail<'_>,
        from: MailboxId,
        uid: Uid,
    ) -> Result<Replaced> {
        let raw = email.body.load(1)?;
        let msg = Prepared::new(&raw)?;
        drop(raw);
        self.write(|ctx| {
            ctx.put_blobs(&[&msg])?;
            // RFC 8508 §3.3 with RFC 4314 §4: `i` on the target, `t` and
            // `e` on the source; one owner for both.
            let (owner, rights) = acl::access(&*ctx, account, mailbox, acl::insert_right())?;
            let need = Rights::of(&[Right::Read, Right::DeleteMessages, Right::Expunge]);
            if acl::access(&*ctx, account, from, need)?.0 != owner {
                return Err(StoreError::Refused(
                    "REPLACE across accounts is not supported".into(),
                ));
            }
            let account = owner;
            let keywords = rights.allowed_flags(&email.keywords);
            ctx.lock_accounts(&[account])?;
            let source = ctx.mailbox_info(account, from)?;
            let target = ctx.mailbox_info(account, mailbox)?;
            let Some(old) = ctx.email_at(source.id, uid)? else {
                return Err(StoreError::NotFound(format!("message UID {uid}")));
            };
            // Append, then expunge (RFC 8508 §3.3), as EXPUNGE does; an
            // error in either rolls both back.
            let received = email.received.unwrap_or(ctx.now);
            let appended = ctx.ingest(account, &target, &msg, &keywords, received)?;
            model::take_out_of(ctx, account, old, &source)?;
            let expunged = crate::model::MailRows::entry_uid(ctx, old, source.id)? != Some(uid);
            Ok(Replaced { appended, expunged })
        })
    }

    fn mailbox_entries(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<MailboxEntry>> {
        acl::access(self, account, mailbox, acl::read_right())?;
        Ok(self
            .query(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE mailbox_id = $1 ORDER BY uid"),
                &[&mailbox.0],
            )?
            .iter()
            .map(entry_from_row)
            .collect())
    }

    fn urlauth_key(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        create: bool,
    ) -> Result<Option<Secret<Vec<u8>>>> {
        self.urlauth_key_(account, mailbox, create)
    }

    fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()> {
        self.reset_urlauth_keys_(account, mailbox)
    }

    fn mailbox_changes(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<MailboxDelta> {
        let since = since.0.min(i64::MAX as u64) as i64;
        // Every IMAP command of a selected session may ask this: the three
        // reads go out together (one round trip, not one each), the
        // mailbox's row saying too whether it is `owner`'s.
        let changed_sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid"
        );
        let read = |owner: AccountId| {
            self.snapshot(async |tx| {
                futures_util::future::try_join3(
                    cached_query(
                        tx,
                        "SELECT highestmodseq FROM mailboxes WHERE id = $1 AND account_id = $2",
                        &[&mailbox.0, &owner.0],
                    ),
                    cached_query(tx, &changed_sql, &[&mailbox.0, &since]),
                    cached_query(
                        tx,
                        "SELECT uid FROM tombstones WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
                        &[&mailbox.0, &since],
                    ),
                )
                .await
            })
        };
        let (mut highest, mut changed, mut vanished) = read(account)?;
        if highest.is_empty() {
            // Not the account's: one shared with it (`r`), or none.
            let (owner, _) = acl::access(self, account, mailbox, acl::read_right())?;
            (highest, changed, vanished) = read(owner)?;
        }
        let highest: i64 = highest
            .first()
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?
            .get(0);
        Ok(MailboxDelta {
            changed: changed.iter().map(entry_from_row).collect(),
            vanished: vanished
                .iter()
                .map(|r| Uid(r.get::<_, i64>(0) as u32))
                .collect(),
            highest_modseq: ModSeq(highest as u64),
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
        let uids: BTreeSet<Uid> = uids.iter().copied().collect();
        self.write(|ctx| {
            // RFC 4314 §4: `s` for \Seen, `t` for \Deleted, `w` for the
            // others. A STORE that may change at least one of its flags
            // changes those and ignores the rest; one that may change none
            // is refused.
            let (account, rights) = acl::access(&*ctx, account, mailbox, acl::read_right())?;
            let flag_rights = Rights::of(&[Right::Seen, Right::Write, Right::DeleteMessages]);
            let flags = if rights.contains(flag_rights) {
                flags.to_vec()
            } else {
                let allowed = rights.allowed_flags(flags);
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
            };
            let deleted_flag = flags.iter().any(Keyword::is_deleted);
            let keywords: Vec<Keyword> =
                flags.iter().filter(|k| !k.is_deleted()).cloned().collect();
            ctx.lock_accounts(&[account])?;
            let mb = ctx.mailbox_info(account, mailbox)?;
            let mut out = FlagsChanged::default();
            let mut touched = Vec::new();
            for &uid in &uids {
                let Some(e) = ctx.entry(mb.id, uid)? else {
                    continue;
                };
                if let Some(since) = unchanged_since
                    && e.modseq > since
                {
                    out.modified.push(uid);
                    continue;
                }
                if model::store_entry_flags(
                    ctx,
                    account,
                    mb.id,
                    &e,
                    op,
                    &keywords,
                    deleted_flag,
                    rights,
                )? {
                    touched.push(uid);
                }
            }
            for uid in touched {
                if let Some(e) = ctx.entry(mb.id, uid)? {
                    out.changed.push(e);
                }
            }
            out.modseq = ctx.current_modseq(account)?;
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
        self.write(|ctx| {
            let (account, _) =
                acl::access(&*ctx, account, mailbox, Rights::of(&[Right::Expunge]))?;
            ctx.lock_accounts(&[account])?;
            let mb = ctx.mailbox_info(account, mailbox)?;
            let marked: Vec<(Uid, EmailId)> = ctx
                .query(
                    "SELECT uid, email_id FROM entries WHERE mailbox_id = $1 AND deleted ORDER BY uid",
                    &[&mb.id.0],
                )?
                .iter()
                .map(|r| (Uid(r.get::<_, i64>(0) as u32), EmailId(r.get(1))))
                .collect();
            let mut gone = Vec::new();
            for (uid, email) in marked {
                if filter.as_ref().is_some_and(|f| !f.contains(&uid)) {
                    continue;
                }
                model::take_out_of(ctx, account, email, &mb)?;
                if crate::model::MailRows::entry_uid(ctx, email, mb.id)? != Some(uid) {
                    gone.push(uid);
                }
            }
            Ok((gone, ctx.current_modseq(account)?))
        })
    }

    fn set_email_keywords(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[Keyword],
        remove: &[Keyword],
    ) -> Result<ModSeq> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            for e in emails {
                if !ctx.own_email(account, *e)? {
                    return Err(StoreError::NotFound(format!("email {e}")));
                }
                model::edit_keywords(ctx, account, *e, add, remove)?;
            }
            ctx.current_modseq(account)
        })
    }

    fn set_email_mailboxes(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[MailboxId],
        remove: &[MailboxId],
    ) -> Result<ModSeq> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            let add: Vec<MailboxInfo> = add
                .iter()
                .map(|m| ctx.mailbox_info(account, *m))
                .collect::<Result<_>>()?;
            let remove: Vec<MailboxInfo> = remove
                .iter()
                .map(|m| ctx.mailbox_info(account, *m))
                .collect::<Result<_>>()?;
            for e in emails {
                if !ctx.own_email(account, *e)? {
                    return Err(StoreError::NotFound(format!("email {e}")));
                }
                for m in &add {
                    model::put_into(ctx, account, *e, m)?;
                }
                for m in &remove {
                    if !model::take_out_of(ctx, account, *e, m)? {
                        break;
                    }
                }
            }
            ctx.current_modseq(account)
        })
    }

    fn destroy_emails(&self, account: AccountId, emails: &[EmailId]) -> Result<ModSeq> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            for e in emails {
                if !ctx.own_email(account, *e)? {
                    return Err(StoreError::NotFound(format!("email {e}")));
                }
                model::destroy_email(ctx, account, *e)?;
            }
            ctx.current_modseq(account)
        })
    }

    fn email_raw(&self, account: AccountId, email: EmailId) -> Result<Vec<u8>> {
        let r = self
            .query_opt(
                &format!(
                    "SELECT {BLOB_BYTES}, b.location, b.hash FROM emails e JOIN blobs b ON b.hash = e.blob
                     WHERE e.id = $1 AND {}",
                    acl::readable("e", "$2")
                ),
                &[&email.0, &account.0],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))?;
        if r.get::<_, &str>(1) == blobs_s3::IN_S3 {
            return self.s3_bytes(r.get(2), None);
        }
        r.get::<_, Option<Vec<u8>>>(0)
            .ok_or_else(|| StoreError::Corrupt(format!("the blob of email {email} has no bytes")))
    }

    fn email_raw_prefix(&self, account: AccountId, email: EmailId, len: u64) -> Result<Vec<u8>> {
        // Only the first `len` bytes cross the network (a header, say).
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        let r = self
            .query_opt(
                // Of a chunked blob, only the chunks the prefix needs.
                &format!(
                    "SELECT substring(COALESCE(b.data, (SELECT string_agg(c.data, ''::bytea ORDER BY c.seq)
                         FROM blob_chunks c WHERE c.hash = b.hash AND c.seq::BIGINT * {BLOB_CHUNK} < $3::INT))
                       FROM 1 FOR $3::INT)
                       , b.location, b.hash
                     FROM emails e JOIN blobs b ON b.hash = e.blob WHERE e.id = $1 AND {}",
                    acl::readable("e", "$2")
                ),
                &[&email.0, &account.0, &len],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))?;
        if r.get::<_, &str>(1) == blobs_s3::IN_S3 {
            return self.s3_bytes(r.get(2), Some(len as u64));
        }
        r.get::<_, Option<Vec<u8>>>(0)
            .ok_or_else(|| StoreError::Corrupt(format!("the blob of email {email} has no bytes")))
    }

    fn email_meta(&self, account: AccountId, email: EmailId) -> Result<EmailMeta> {
        let r = self
            .query_opt(
                &format!(
                    "SELECT e.meta FROM emails e WHERE e.id = $1 AND {}",
                    acl::readable("e", "$2")
                ),
                &[&email.0, &account.0],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("email {email}")))?;
        serde_json::from_str(r.get(0))
            .map_err(|e| StoreError::Corrupt(format!("meta of {email}: {e}")))
    }

    fn search_text(&self, account: AccountId, query: &str) -> Result<Vec<EmailId>> {
        let Some(q) = tsquery(query)? else {
            return Ok(Vec::new());
        };
        // The account's emails and those shared with it (read).
        Ok(self
            .query(
                &format!(
                    "SELECT e.id FROM email_search s JOIN emails e ON e.id = s.email_id
                     WHERE s.account_id IN (
                         SELECT $1::BIGINT UNION
                         SELECT m.account_id FROM acl a JOIN mailboxes m ON m.id = a.mailbox_id
                         WHERE a.grantee IN ($1, {anyone}) AND strpos(a.rights, 'r') > 0)
                       AND s.doc @@ $2::text::tsquery AND {readable}
                     ORDER BY e.received DESC, e.id DESC",
                    anyone = acl::ANYONE,
                    readable = acl::readable("e", "$1")
                ),
                &[&account.0, &q],
            )?
            .iter()
            .map(|r| EmailId(r.get(0)))
            .collect())
    }

    fn pop_maildrop(&self, account: AccountId, recent: bool) -> Result<Vec<PopMessage>> {
        const RECENT: i64 = 30 * 24 * 3600;
        let sql = if recent {
            "SELECT e.id, e.size FROM emails e WHERE e.account_id = $1 AND e.received >= $2
               AND EXISTS (SELECT 1 FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id
                           WHERE en.email_id = e.id AND m.role IN ('inbox', 'all'))
             ORDER BY e.received, e.id"
        } else {
            "SELECT e.id, e.size FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id
               JOIN emails e ON e.id = en.email_id
             WHERE m.account_id = $1 AND m.role = 'inbox' AND NOT e.pop_deleted AND $2::BIGINT = $2::BIGINT
             ORDER BY en.uid"
        };
        Ok(self
            .query(sql, &[&account.0, &(unix_now() - RECENT)])?
            .iter()
            .map(|r| PopMessage {
                email: EmailId(r.get(0)),
                size: r.get::<_, i64>(1) as u64,
            })
            .collect())
    }

    fn pop_commit(&self, account: AccountId, deleted: &[EmailId]) -> Result<ModSeq> {
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            for &e in deleted {
                if ctx.own_email(account, e)? {
                    model::pop_delete(ctx, account, e)?;
                }
            }
            ctx.current_modseq(account)
        })
    }

    fn pop_lock(&self, account: AccountId) -> Option<PopLock> {
        let client = self.client().ok()?;
        let key = POP_LOCK_BASE + account.0;
        let got: bool = self
            .block(client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]))
            .ok()?
            .get(0);
        got.then(|| {
            PopLock::from_guard(
                account,
                std::sync::Mutex::new(PgPopLock {
                    client: Some(client),
                    key,
                    rt: self.runtime().handle().clone(),
                }),
            )
        })
    }

    fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Changes> {
        let since = since.0.min(i64::MAX as u64) as i64;
        let (current, rows) = self.snapshot(async |tx| {
            let current = cached_query(tx, "SELECT modseq FROM accounts WHERE id = $1", &[&account.0])
                .await?
                .first()
                .map(|r| r.get::<_, i64>(0));
            let rows: Vec<(i32, i64)> = cached_query(
                    tx,
                    "SELECT kind, object_id FROM changes WHERE account_id = $1 AND modseq > $2 ORDER BY modseq",
                    &[&account.0, &since],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok((current, rows))
        })?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
        Ok(model::fold_changes(
            rows.into_iter()
                .filter_map(|(k, id)| Some((ChangeKind::from_code(i64::from(k))?, id))),
            ModSeq(current as u64),
        ))
    }

    fn change_log(&self, account: AccountId, since: ModSeq, limit: usize) -> Result<ChangeLog> {
        let since = since.0.min(i64::MAX as u64) as i64;
        let limit = limit.min(i64::MAX as usize) as i64;
        let (current, rows, truncated) = self.snapshot(async |tx| {
            let current = cached_query(tx, "SELECT modseq FROM accounts WHERE id = $1", &[&account.0])
                .await?
                .first()
                .map(|r| r.get::<_, i64>(0));
            let row = |r: &Row| (r.get::<_, i64>(0), r.get::<_, i32>(1), r.get::<_, i64>(2));
            let mut rows: Vec<(i64, i32, i64)> = cached_query(
                    tx,
                    "SELECT modseq, kind, object_id FROM changes WHERE account_id = $1 AND modseq > $2
                     ORDER BY modseq, kind, object_id LIMIT $3",
                    &[&account.0, &since, &limit],
                )
                .await?
                .iter()
                .map(row)
                .collect();
            let mut truncated = false;
            if rows.len() as i64 >= limit
                && let Some(&(last, _, _)) = rows.last()
            {
                // Finish the last commit: a state between two rows of one
                // commit never existed.
                rows.retain(|r| r.0 != last);
                rows.extend(
                    tx.query(
                        "SELECT modseq, kind, object_id FROM changes WHERE account_id = $1 AND modseq = $2
                         ORDER BY kind, object_id",
                        &[&account.0, &last],
                    )
                    .await?
                    .iter()
                    .map(row),
                );
                truncated = tx
                    .query_opt(
                        "SELECT 1 FROM changes WHERE account_id = $1 AND modseq > $2 LIMIT 1",
                        &[&account.0, &last],
                    )
                    .await?
                    .is_some();
            }
            Ok((current, rows, truncated))
        })?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
        Ok(ChangeLog {
            entries: rows
                .into_iter()
                .filter_map(|(m, k, o)| {
                    Some(LoggedChange {
                        modseq: ModSeq(m as u64),
                        kind: ChangeKind::from_code(i64::from(k))?,
                        object: o,
                    })
                })
                .collect(),
            truncated,
            current: ModSeq(current as u64),
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.events.subscribe()
    }

    fn queue_add_at(&self, item: &crate::NewQueued<'_>, not_before: i64) -> Result<crate::QueueId> {
        self.queue_add_at_(item, not_before)
    }

    fn queue_cancel_held(&self, id: crate::QueueId, now: i64) -> Result<bool> {
        self.queue_cancel_held_(id, now)
    }

    fn queue_message(&self, id: crate::QueueId) -> Result<Option<crate::QueuedMessage>> {
        self.queue_message_(id)
    }

    fn queue_list(&self) -> Result<Vec<crate::QueuedMessage>> {
        self.queue_list_()
    }

    /// Claims the messages it returns for this node (see `queue.rs`).
    fn queue_due(&self, now: i64, limit: usize) -> Result<Vec<crate::QueuedMessage>> {
        self.queue_due_(now, limit)
    }

    fn queue_raw(&self, id: crate::QueueId) -> Result<Vec<u8>> {
        self.queue_raw_(id)
    }

    fn queue_update(&self, id: crate::QueueId, update: &crate::QueueUpdate) -> Result<()> {
        self.queue_update_(id, update)
    }

    fn queue_retry(&self, id: crate::QueueId) -> Result<()> {
        self.queue_retry_(id)
    }

    fn queue_delete(&self, id: crate::QueueId) -> Result<()> {
        self.queue_delete_(id)
    }

    fn sts_policy(&self, domain: &str) -> Result<Option<crate::StsPolicy>> {
        self.sts_policy_(domain)
    }

    fn sts_policy_put(&self, domain: &str, policy: &crate::StsPolicy) -> Result<()> {
        self.sts_policy_put_(domain, policy)
    }

    fn sts_policies(&self) -> Result<Vec<(String, crate::StsPolicy)>> {
        self.sts_policies_()
    }

    fn tls_result_add(&self, result: &crate::TlsResult) -> Result<()> {
        self.tls_result_add_(result)
    }

    fn tls_results(&self, last_day: i64) -> Result<Vec<crate::TlsResultCount>> {
        self.tls_results_(last_day)
    }

    fn tls_results_delete(&self, domain: &str, last_day: i64) -> Result<()> {
        self.tls_results_delete_(domain, last_day)
    }

    fn dmarc_result_add(&self, result: &crate::DmarcResult) -> Result<()> {
        self.dmarc_result_add_(result)
    }

    fn dmarc_results(&self, last_day: i64) -> Result<Vec<crate::DmarcResultCount>> {
        self.dmarc_results_(last_day)
    }

    fn dmarc_results_delete(&self, domain: &str, last_day: i64) -> Result<()> {
        self.dmarc_results_delete_(domain, last_day)
    }

    fn check(&self) -> Result<CheckReport> {
        let mut report = self.snapshot(async |tx| check::check(tx).await)?;
        self.check_s3_blobs(&mut report)?;
        Ok(report)
    }

    fn collect_blobs(&self) -> Result<u64> {
        self.collect_s3_blobs()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::split_password;

    /// The password leaves the URL, wherever it was, and comes back decoded.
    #[test]
    fn split_password_takes_the_password_out_of_the_url() {
        assert_eq!(
            split_password(
                "postgresql://tidings:s%40cret@db.example.net:5432/mail?sslmode=require"
            ),
            Some((
                "postgresql://tidings@db.example.net:5432/mail?sslmode=require".to_string(),
                Some("s@cret".to_string())
            ))
        );
        assert_eq!(
            split_password("postgres://u@h/d?password=pw&sslmode=prefer"),
            Some((
                "postgres://u@h/d?sslmode=prefer".to_string(),
                Some("pw".to_string())
            ))
        );
        assert_eq!(
            split_password("postgresql://h/d"),
            Some(("postgresql://h/d".to_string(), None))
        );
        assert_eq!(split_password("not a url"), None);
    }
}
