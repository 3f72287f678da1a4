//! `Thread/changes` (RFC 8621 §3.2, RFC 8620 §5.2) from the store's change
//! log: a thread changes when an email is created in it or destroyed out
//! of it (an email never moves between threads). The log names the
//! thread of a destroyed email (its `ThreadChanged` row); the thread of a
//! created one is read from the account view. As for mailboxes, a thread
//! that exists now is reported as updated, never created (a client fetches
//! an unknown id it is told about either way), one with no email left as
//! destroyed. Split at `maxChanges` by [`crate::changes::window`].
//!
//! A state older than the thread rows of the log (a store written before
//! them) misses the threads of emails destroyed since then.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_store::ChangeKind;
use tidings_types::{EmailId, ThreadId};

use crate::changes::window;
use crate::mailbox::types::{ChangesRequest, ChangesResponse};
use crate::{Ctx, MethodError, arguments};

pub fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let thread_of = |c: &tidings_store::LoggedChange| match c.kind {
        ChangeKind::EmailCreated => view.emails.get(&EmailId(c.object)).map(|e| e.thread.0),
        ChangeKind::ThreadChanged => Some(c.object),
        _ => None,
    };
    let w = window(ctx, &req.since_state, req.max_changes, |c, out| {
        out.extend(thread_of(c));
    })?;
    let threads: BTreeSet<i64> = w.entries.iter().filter_map(thread_of).collect();
    let live: BTreeSet<ThreadId> = view.emails.values().map(|e| e.thread).collect();
    let (updated, destroyed): (Vec<i64>, Vec<i64>) = threads
        .into_iter()
        .partition(|t| live.contains(&ThreadId(*t)));
    let ids = |v: Vec<i64>| v.into_iter().map(|t| ThreadId(t).to_string()).collect();
    let response = ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: w.new_state.0.to_string(),
        has_more_changes: w.has_more,
        created: Vec::new(),
        updated: ids(updated),
        destroyed: ids(destroyed),
        updated_properties: None,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
