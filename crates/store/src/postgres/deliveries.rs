//! Group commit of deliveries: concurrent [`crate::Backend::deliver`] calls
//! on one node share one transaction (the SQLite backend's writer does the
//! same for every write, `crate::sqlite::writer`).
//!
//! Implementation notes:
//! - A caller queues its message (parsed and hashed on its own thread,
//!   outside any transaction) and then either waits or leads. A caller
//!   leads when fewer than [`LEADERS`] groups (one) are running and
//!   messages are queued: it takes up to [`MAX_GROUP`] of them, oldest
//!   first (its own among them, unless more than that were queued before
//!   it), runs them in one transaction, commits once, and hands every
//!   caller of the group its answer. A caller whose message was not taken yet leads a next group
//!   when a group ends, so nobody waits behind more than the groups ahead.
//! - In the transaction the leader first locks the accounts of every
//!   recipient of the group, in id order (two groups, or a group and any
//!   other write, cannot deadlock on them), then ingests each message for
//!   each of its recipients in a savepoint of its own: one that fails (over
//!   quota, mailbox gone) is undone and refused alone, the others commit.
//! - Each message is a change of its own: its own MODSEQ per account and its
//!   own [`crate::ChangeEvent`], as if it had been delivered alone
//!   (`PgCtx::end_change`); the events are NOTIFYed inside the transaction
//!   and published on this node after the commit, as for every write.
//! - No caller hears back before the commit; if the commit fails, every
//!   caller of the group gets the error (nothing of the group was stored).
//!   A deadlock or serialization failure anywhere in the group (a blob
//!   shared with another node's transaction) runs the whole group again.
//! - [`LEADERS`] says how many groups may run at once. One group's
//!   statements are sequential round trips to the database, so more
//!   leaders would overlap them; but overlapping groups mostly lock the
//!   same accounts and wait for each other, and one leader measured best.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};

use tidings_types::AccountId;

use super::PgBackend;
use super::rows::Prepared;
use crate::{Appended, Recipient, Result, StoreError};

/// How many groups of one node may be in their transactions at once. One:
/// groups that overlap lock each other's accounts and wait, so several
/// made smaller groups that mostly queued behind one another (a debug
/// build, 32 callers delivering to 8 accounts on a busy 2-core machine:
/// one leader about 1.7 times the messages per second of two or four,
/// and more than one leader per caller, that is no grouping).
pub(super) const LEADERS: usize = 1;
/// The most messages one group takes.
pub(super) const MAX_GROUP: usize = 64;

/// A queued delivery.
pub(super) struct Delivery {
    pub msg: Prepared,
    pub received: Option<i64>,
    pub recipients: Vec<Recipient>,
}

/// Per recipient, the stored email or why that recipient was refused.
type Outcome = Result<Vec<Result<Appended>>>;

#[derive(Default)]
struct State {
    queue: VecDeque<(u64, Delivery)>,
    answers: HashMap<u64, Outcome>,
    next: u64,
    leaders: usize,
}

/// The deliveries of one node waiting for, or in, a group.
#[derive(Default)]
pub(super) struct Deliveries {
    state: Mutex<State>,
    /// Signalled when a group ends: its callers have answers, and a leader's
    /// place is free.
    ended: Condvar,
}

impl Deliveries {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic is caught before it can poison the state (see `lead`).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `delivery` and returns once the group that took it has
    /// committed (or failed).
    pub fn deliver(&self, backend: &PgBackend, delivery: Delivery) -> Outcome {
        let mut state = self.lock();
        let id = state.next;
        state.next += 1;
        state.queue.push_back((id, delivery));
        loop {
            if let Some(answer) = state.answers.remove(&id) {
                return answer;
            }
            if state.leaders < LEADERS && !state.queue.is_empty() {
                state.leaders += 1;
                let n = state.queue.len().min(MAX_GROUP);
                let group: Vec<(u64, Delivery)> = state.queue.drain(..n).collect();
                drop(state);
                let answers = lead(backend, &group);
                state = self.lock();
                state.leaders -= 1;
                state
                    .answers
                    .extend(group.iter().map(|(id, _)| *id).zip(answers));
                self.ended.notify_all();
                continue;
            }
            state = self.ended.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Runs one group in one transaction; one answer per delivery, in order.
fn lead(backend: &PgBackend, group: &[(u64, Delivery)]) -> Vec<Outcome> {
    let started = std::time::Instant::now();
    let run = catch_unwind(AssertUnwindSafe(|| {
        backend.write(|ctx| {
            let mut accounts: Vec<AccountId> = group
                .iter()
                .flat_map(|(_, d)| d.recipients.iter().map(|r| r.account))
                .collect();
            accounts.sort_unstable();
            accounts.dedup();
            // With the S3 blob store, the bytes go first, before any
            // account is locked (`blobs_s3.rs`).
            let msgs: Vec<&Prepared> = group.iter().map(|(_, d)| &d.msg).collect();
            ctx.put_blobs(&msgs)?;
            // Every recipient's account locked first, in id order. One
            // deleted meanwhile is refused alone, below.
            ctx.lock_existing_accounts(&accounts)?;
            let mut out = Vec::with_capacity(group.len());
            for (_, d) in group {
                let received = d.received.unwrap_or(ctx.now);
                let mut per = Vec::with_capacity(d.recipients.len());
                for r in &d.recipients {
                    // A recipient over quota is refused alone; the others commit.
                    per.push(ctx.nested(|ctx| {
                        let target = ctx.mailbox_info(r.account, r.mailbox)?;
                        ctx.ingest(r.account, &target, &d.msg, &r.keywords, received)
                    }));
                }
                ctx.end_change();
                out.push(per);
            }
            if ctx.retry.get() {
                // A deadlock or serialization failure refused a recipient:
                // not a refusal of that message; the group runs again.
                return Err(StoreError::Database(
                    "a recipient hit a deadlock; the group runs again".into(),
                ));
            }
            Ok(out)
        })
    }));
    tidings_metrics::store_commit(group.len(), started.elapsed());
    match run {
        Ok(Ok(out)) => out.into_iter().map(Ok).collect(),
        Ok(Err(e)) => {
            let text = e.to_string();
            let temporary = e.is_temporary();
            let mut first = Some(e);
            group
                .iter()
                .map(|_| {
                    Err(first.take().unwrap_or_else(|| {
                        if temporary {
                            StoreError::Database(text.clone())
                        } else {
                            StoreError::Refused(text.clone())
                        }
                    }))
                })
                .collect()
        }
        Err(_) => {
            tracing::error!("a delivery group panicked; rolled back");
            group
                .iter()
                .map(|_| {
                    Err(StoreError::Database(
                        "internal error (delivery panicked)".into(),
                    ))
                })
                .collect()
        }
    }
}
