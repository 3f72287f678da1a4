//! The single writer: every change goes through one thread that commits in
//! groups (docs/design.md, "Durability").
//!
//! Implementation notes:
//! - Callers send a job over a bounded channel and block on its reply. The
//!   writer takes every job waiting (up to `MAX_BATCH`), runs each inside a
//!   SAVEPOINT of one transaction, commits once (one WAL fsync for the group),
//!   and only then replies: a caller never hears "done" before the commit.
//! - A job that fails is undone alone; the others commit. Groups run first
//!   without per-job savepoints (they are costly); only a group in which a
//!   job failed is rolled back and run again with them (`run_batch`).
//!   Jobs are therefore `Fn`: they act only through the context.
//! - WAL checkpoints run on a thread of their own (`Checkpointer`), not
//!   inside the writer's commits.
//! - After the commit, the writer unlinks blob files no row names any more,
//!   publishes change events (commit, then broadcast, in order), then replies.
//! - A panicking job is caught and reported as an error; the writer lives on.
//! - Full-text index changes are queued by the jobs and applied once, at the
//!   end of the group, inside the same transaction: FTS5 flushes its pending
//!   terms at every SAVEPOINT, so indexing inside each job's savepoint made
//!   one tiny index segment per message (and merges), a quarter of the
//!   writer's time. A failed job's queued changes are dropped with it.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tidings_types::{AccountId, MailboxId, ModSeq};
use tokio::sync::broadcast;

use super::db_error;
use crate::blob::{BlobDir, BlobHash};
use crate::{ChangeEvent, Result, StoreError};

const MAX_BATCH: usize = 512;
const QUEUE: usize = 4096;

/// What a job sees: the open transaction and the bookkeeping of its changes.
pub(crate) struct Ctx<'a> {
    pub tx: &'a Transaction<'a>,
    pub blobs: &'a BlobDir,
    /// Unix seconds at the start of the batch.
    pub now: i64,
    modseqs: HashMap<AccountId, ModSeq>,
    touched: HashMap<AccountId, BTreeSet<MailboxId>>,
    delete_blobs: Vec<BlobHash>,
    index: Vec<IndexOp>,
}

/// A change to the full-text index, applied at the end of the group.
pub(crate) enum IndexOp {
    Insert {
        email: i64,
        subject: String,
        addresses: String,
        body: String,
    },
    Delete(i64),
}

impl IndexOp {
    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<usize> {
        match self {
            IndexOp::Insert {
                email,
                subject,
                addresses,
                body,
            } => tx
                .prepare_cached("INSERT INTO email_fts(rowid, subject, addresses, body) VALUES (?1, ?2, ?3, ?4)")?
                .execute(rusqlite::params![email, subject, addresses, body]),
            IndexOp::Delete(email) => tx
                .prepare_cached("DELETE FROM email_fts WHERE rowid = ?1")?
                .execute([email]),
        }
    }
}

/// What a nested savepoint must restore of a job's bookkeeping.
pub(crate) struct Mark {
    modseqs: HashMap<AccountId, ModSeq>,
    touched: HashMap<AccountId, BTreeSet<MailboxId>>,
    delete_blobs: usize,
    index: usize,
}

impl Ctx<'_> {
    /// Runs `f` inside a nested savepoint: if it fails, its database changes
    /// and its bookkeeping (MODSEQs handed out, queued index changes, blobs to
    /// unlink, touched mailboxes) are undone and the error returned; the job
    /// goes on.
    pub fn nested<R>(&mut self, f: impl FnOnce(&mut Self) -> crate::Result<R>) -> crate::Result<R> {
        let mark = Mark {
            modseqs: self.modseqs.clone(),
            touched: self.touched.clone(),
            delete_blobs: self.delete_blobs.len(),
            index: self.index.len(),
        };
        savepoint(self.tx, "SAVEPOINT nested")?;
        let r = f(self);
        if r.is_ok() {
            savepoint(self.tx, "RELEASE nested")?;
        } else {
            savepoint(self.tx, "ROLLBACK TO nested")?;
            savepoint(self.tx, "RELEASE nested")?;
            self.modseqs = mark.modseqs;
            self.touched = mark.touched;
            self.delete_blobs.truncate(mark.delete_blobs);
            self.index.truncate(mark.index);
        }
        r
    }

    /// Queues a full-text index change for the end of the group.
    pub fn index(&mut self, op: IndexOp) {
        self.index.push(op);
    }

    /// The MODSEQ of this job's change to `account`: bumped once per job.
    pub fn modseq(&mut self, account: AccountId) -> Result<ModSeq> {
        if let Some(m) = self.modseqs.get(&account) {
            return Ok(*m);
        }
        let m: i64 = self
            .tx
            .prepare_cached(
                "UPDATE accounts SET modseq = modseq + 1 WHERE id = ?1 RETURNING modseq",
            )?
            .query_row([account.0], |r| r.get(0))?;
        let m = ModSeq(m as u64);
        self.modseqs.insert(account, m);
        Ok(m)
    }

    /// Records that `mailbox` of `account` changed, for the change event.
    pub fn touch(&mut self, account: AccountId, mailbox: MailboxId) {
        self.touched.entry(account).or_default().insert(mailbox);
    }

    /// Unlinks this blob's file after the commit.
    pub fn delete_blob_after_commit(&mut self, hash: BlobHash) {
        self.delete_blobs.push(hash);
    }
}

trait Job: Send {
    /// Runs the job; true when it succeeded.
    fn run(&mut self, ctx: &mut Ctx<'_>) -> bool;
    /// Replies to the caller once the batch's fate is known.
    fn finish(self: Box<Self>, commit: &Result<()>);
}

struct TypedJob<R, F> {
    work: F,
    result: Option<Result<R>>,
    reply: SyncSender<Result<R>>,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send,
    F: Fn(&mut Ctx<'_>) -> Result<R> + Send,
{
    fn run(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let work = &self.work;
        let r = catch_unwind(AssertUnwindSafe(|| work(ctx))).unwrap_or_else(|_| {
            tracing::error!("store job panicked; rolled back");
            Err(StoreError::Database("internal error (job panicked)".into()))
        });
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: &Result<()>) {
        let reply = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), Some(Ok(_))) => Err(copy_error(e)),
            (_, Some(Err(e))) => Err(e),
            (_, None) => Err(StoreError::Closed),
        };
        let _ = self.reply.send(reply);
    }
}

fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::DiskFull => StoreError::DiskFull,
        other => StoreError::Database(other.to_string()),
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close,
}

/// The handle callers use to submit writes.
pub(crate) struct Writer {
    tx: SyncSender<Msg>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    checkpointer: Checkpointer,
}

/// How often the background thread copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A WAL longer than this many frames (4 KiB pages: 64 MiB) is truncated.
const WAL_RESET_FRAMES: i64 = 16_384;

/// Runs WAL checkpoints on its own connection, off the writer's commit path
/// (SQLite's automatic checkpoint ran inside the writer's commits: 7% of its
/// time in profiles). PASSIVE: it never blocks readers or the writer. But
/// under sustained writes a passive checkpoint never catches up with the
/// frames committed while it runs, so SQLite never starts the WAL over and
/// the file grows without end (7.7 GB while seeding 100,000 messages); past
/// [`WAL_RESET_FRAMES`] a TRUNCATE checkpoint makes the writer wait while it
/// copies the rest and empties the file.
struct Checkpointer {
    stop: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    fn start(conn: Connection) -> Result<Checkpointer> {
        let stop = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tidings-store-checkpoint".into())
            .spawn(move || {
                let (lock, cvar) = &*flag;
                loop {
                    let Ok(guard) = lock.lock() else { return };
                    let Ok((guard, _)) = cvar.wait_timeout(guard, CHECKPOINT_EVERY) else {
                        return;
                    };
                    if *guard {
                        return;
                    }
                    drop(guard);
                    if let Err(e) = checkpoint(&conn, WAL_RESET_FRAMES) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })?;
        Ok(Checkpointer {
            stop,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    fn stop(&self) {
        let (lock, cvar) = &*self.stop;
        if let Ok(mut s) = lock.lock() {
            *s = true;
        }
        cvar.notify_all();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// One round of the checkpointer: a PASSIVE checkpoint, then a TRUNCATE
/// one if the WAL is longer than `reset_frames`. Returns whether it
/// truncated.
fn checkpoint(conn: &Connection, reset_frames: i64) -> rusqlite::Result<bool> {
    let frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames <= reset_frames {
        return Ok(false);
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|busy| busy == 0)
}

impl Writer {
    /// Starts the writer on `conn` and the checkpointer on `checkpoint_conn`.
    pub fn start(
        conn: Connection,
        checkpoint_conn: Connection,
        blobs: Arc<BlobDir>,
        events: broadcast::Sender<ChangeEvent>,
    ) -> Result<Writer> {
        conn.execute_batch("PRAGMA wal_autocheckpoint=0")?;
        let checkpointer = Checkpointer::start(checkpoint_conn)?;
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("tidings-store-writer".into())
            .spawn(move || run(conn, rx, &blobs, &events))?;
        Ok(Writer {
            tx,
            thread: std::sync::Mutex::new(Some(thread)),
            checkpointer,
        })
    }

    /// Runs `work` in the writer's next transaction and waits for the commit.
    /// `work` may run twice (see `run_batch`): it must act only through `ctx`.
    pub fn write<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&mut Ctx<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, rx) = sync_channel(1);
        let job = TypedJob {
            work,
            result: None,
            reply,
        };
        self.tx
            .send(Msg::Job(Box::new(job)))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Commits what is queued and stops the thread.
    pub fn close(&self) {
        self.checkpointer.stop();
        let _ = self.tx.send(Msg::Close);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn run(
    mut conn: Connection,
    rx: Receiver<Msg>,
    blobs: &BlobDir,
    events: &broadcast::Sender<ChangeEvent>,
) {
    let mut closing = false;
    let mut others = OtherWriters::new(&conn);
    while !closing {
        let first = match rx.recv_timeout(OtherWriters::EVERY) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        others.catch_up(&conn, events);
        let Some(first) = first else { continue };
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Close => closing = true,
        }
        while batch.len() < MAX_BATCH && !closing {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Close) => closing = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        let (commit, published, deletions) = run_batch(&mut conn, blobs, &mut batch);
        tidings_metrics::store_commit(batch.len(), started.elapsed());
        // Unreferenced files go before the callers hear back, so space is
        // free when an expunge returns.
        if commit.is_ok() && !deletions.is_empty() {
            collect_garbage(&mut conn, blobs, &deletions);
        }
        // Events go out before the callers hear back: when a write returns,
        // every listener (IDLE sessions, other devices) has been told.
        if commit.is_ok() {
            for e in published {
                others.heard(&e);
                let _ = events.send(e);
            }
        }
        for job in batch {
            job.finish(&commit);
        }
    }
    // Leave a clean WAL behind for the next open.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Commits by other processes on the same database (`tidings deliver`,
/// `tidings import`, the admin commands while the server runs): their
/// change events reach no session of this one, so the writer looks at
/// most once per [`Self::EVERY`] whether the database changed under it
/// (`PRAGMA data_version` on its own connection moves only for commits of
/// other connections) and, if so, publishes an event for every account
/// whose MODSEQ moved past the last one it published, naming the
/// mailboxes whose HIGHESTMODSEQ moved. IDLE, JMAP push and ActiveSync
/// Ping then look again at once, not at their periodic check.
struct OtherWriters {
    /// `data_version` when last looked at (`None`: unreadable).
    version: Option<i64>,
    /// What the events it published said of each account's MODSEQ.
    known: crate::catch_up::Heard,
    last_look: std::time::Instant,
}

impl OtherWriters {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    fn new(conn: &Connection) -> OtherWriters {
        let mut w = OtherWriters {
            version: Self::data_version(conn),
            known: crate::catch_up::Heard::default(),
            last_look: std::time::Instant::now(),
        };
        // Where every account stands now: what moves after this is news.
        if let Ok(now) = Self::modseqs(conn) {
            w.known.moved(now);
        }
        w
    }

    fn data_version(conn: &Connection) -> Option<i64> {
        conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
    }

    fn modseqs(conn: &Connection) -> rusqlite::Result<Vec<(AccountId, ModSeq)>> {
        let mut st = conn.prepare_cached("SELECT id, modseq FROM accounts")?;
        let rows = st.query_map([], |r| {
            Ok((AccountId(r.get(0)?), ModSeq(r.get::<_, i64>(1)? as u64)))
        })?;
        rows.collect()
    }

    /// An event this writer published.
    fn heard(&mut self, e: &ChangeEvent) {
        self.known.heard(e.account, e.modseq);
    }

    fn catch_up(&mut self, conn: &Connection, events: &broadcast::Sender<ChangeEvent>) {
        if self.last_look.elapsed() < Self::EVERY {
            return;
        }
        self.last_look = std::time::Instant::now();
        let version = Self::data_version(conn);
        if version == self.version {
            return;
        }
        self.version = version;
        let Ok(now) = Self::modseqs(conn) else { return };
        for (account, since, modseq) in self.known.moved(now) {
            let since = since.0.min(i64::MAX as u64) as i64;
            let mailboxes = conn
                .prepare_cached(
                    "SELECT id FROM mailboxes WHERE account_id = ?1 AND highestmodseq > ?2 ORDER BY id",
                )
                .and_then(|mut st| {
                    st.query_map(rusqlite::params![account.0, since], |r| {
                        Ok(MailboxId(r.get(0)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap_or_default();
            let _ = events.send(ChangeEvent {
                account,
                modseq,
                mailboxes,
            });
        }
    }
}

/// Runs a savepoint statement through the statement cache (it runs once per
/// job: parsing it each time showed in profiles).
fn savepoint(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute([])
}

type BatchOutcome = (Result<()>, Vec<ChangeEvent>, Vec<BlobHash>);

/// Runs a group in one transaction. First optimistically, with no
/// savepoint per job: a savepoint makes SQLite copy every page a job touches
/// into a sub-journal, which profiles showed as a sixth of the writer's time.
/// If any job fails, the whole transaction is rolled back and the group runs
/// again with a savepoint per job, so the failed job alone is undone.
fn run_batch(conn: &mut Connection, blobs: &BlobDir, batch: &mut [Box<dyn Job>]) -> BatchOutcome {
    match run_batch_once(conn, blobs, batch, false) {
        Attempt::Done(outcome) => outcome,
        Attempt::JobFailed => match run_batch_once(conn, blobs, batch, true) {
            Attempt::Done(outcome) => outcome,
            Attempt::JobFailed => (
                Err(StoreError::Database(
                    "internal error: a group failed twice".into(),
                )),
                Vec::new(),
                Vec::new(),
            ),
        },
    }
}

enum Attempt {
    Done(BatchOutcome),
    /// Without savepoints, a job failed: the transaction was rolled back.
    JobFailed,
}

fn run_batch_once(
    conn: &mut Connection,
    blobs: &BlobDir,
    batch: &mut [Box<dyn Job>],
    savepoints: bool,
) -> Attempt {
    let fail = |e: rusqlite::Error| Attempt::Done((Err(db_error(e)), Vec::new(), Vec::new()));
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail(e),
    };
    let now = super::unix_now();
    let mut events = Vec::new();
    let mut deletions = Vec::new();
    let mut index = Vec::new();
    for job in batch.iter_mut() {
        let mut ctx = Ctx {
            tx: &tx,
            blobs,
            now,
            modseqs: HashMap::new(),
            touched: HashMap::new(),
            delete_blobs: Vec::new(),
            index: Vec::new(),
        };
        if savepoints && let Err(e) = savepoint(&tx, "SAVEPOINT job") {
            return fail(e);
        }
        if job.run(&mut ctx) {
            if savepoints && let Err(e) = savepoint(&tx, "RELEASE job") {
                return fail(e);
            }
            for (account, modseq) in ctx.modseqs {
                let mailboxes = ctx
                    .touched
                    .remove(&account)
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                events.push(ChangeEvent {
                    account,
                    modseq,
                    mailboxes,
                });
            }
            deletions.append(&mut ctx.delete_blobs);
            index.append(&mut ctx.index);
        } else if !savepoints {
            // Dropping `tx` rolls everything back.
            return Attempt::JobFailed;
        } else if let Err(e) =
            savepoint(&tx, "ROLLBACK TO job").and_then(|_| savepoint(&tx, "RELEASE job"))
        {
            return fail(e);
        }
    }
    for op in &index {
        if let Err(e) = op.apply(&tx) {
            return fail(e);
        }
    }
    match tx.commit() {
        Ok(()) => {
            events.sort_by_key(|e| e.modseq);
            Attempt::Done((Ok(()), events, deletions))
        }
        Err(e) => fail(e),
    }
}

/// Unlinks blob files whose rows are gone. Done under a write lock with a
/// fresh look at the rows, so another process that wrote a row for the same
/// content since our commit keeps its file; a file left behind is harmless
/// (`check` notes it).
fn collect_garbage(conn: &mut Connection, blobs: &BlobDir, hashes: &[BlobHash]) {
    let Ok(tx) = conn.transaction_with_behavior(TransactionBehavior::Immediate) else {
        return;
    };
    for h in hashes {
        let named = tx
            .query_row("SELECT 1 FROM blobs WHERE hash = ?1", [h.as_str()], |_| {
                Ok(())
            })
            .is_ok();
        if !named && let Err(e) = blobs.remove(h) {
            tracing::warn!(blob = h.as_str(), error = %e, "could not unlink unreferenced blob");
        }
    }
    let _ = tx.commit();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;

    /// A WAL past the limit is emptied; one under it is only copied.
    #[test]
    fn a_long_wal_is_truncated_and_a_short_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
                 CREATE TABLE t(x BLOB);",
            )
            .unwrap();
        let checkpointer = Connection::open(&path).unwrap();
        let wal = dir.path().join("t.db-wal");
        let write = |n: usize| {
            for _ in 0..n {
                writer
                    .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                    .unwrap();
            }
        };
        write(50);
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > 50 * 4000, "{before}");
        assert!(!checkpoint(&checkpointer, 1_000).unwrap());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), before);
        assert!(checkpoint(&checkpointer, 10).unwrap());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        // Nothing was lost on the way.
        write(1);
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 51);
    }
}
