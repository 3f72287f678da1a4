//! `Email/queryChanges` (RFC 8621 §4.5, RFC 8620 §5.6) from the store's
//! change log.
//!
//! Implementation notes:
//! - Query states are account MODSEQs. An email absent from the log since
//!   the old state did not change, so neither did its membership of the
//!   results nor its place relative to the other unchanged ones (every
//!   filter and sort reads the email alone). The response therefore lists
//!   as removed every email the log names (updated or destroyed; one
//!   created since was not in the old results) and as added every email of
//!   the new results the log names, at its index: what §5.6 asks, with
//!   extra removed ids it allows. The client keeps the rest of its cached
//!   results; it never needs to query again unless told
//!   `cannotCalculateChanges`.
//! - With `collapseThreads`, a change to one email of a thread may change
//!   which email stands for the thread, so every email of a changed thread
//!   (the thread of a changed email, or of a destroyed one from the log's
//!   thread rows) counts as changed.
//! - The indexes need the new results in order: they are computed from the
//!   account view like `Email/query`'s, which the request shares.
//! - `upToId` is accepted and ignored (§5.6 allows it; `inMailbox` and
//!   keywords are mutable anyway). More than `maxChanges` removed + added
//!   is `tooManyChanges`; a log longer than [`MAX_LOG_ROWS`] since the old
//!   state is `cannotCalculateChanges`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_store::ChangeKind;
use tidings_types::{EmailId, ThreadId};

use super::changes::EmailChanges;
use super::query::results;
use super::types::QueryChangesRequest;
use crate::mailbox::changes::parse_state;
use crate::mailbox::types::{AddedItem, QueryChangesResponse};
use crate::{Ctx, MethodError, arguments};

/// The most change-log rows read for one `/queryChanges`; an older state
/// is `cannotCalculateChanges` (the client queries again).
pub const MAX_LOG_ROWS: usize = 100_000;

pub fn query_changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: QueryChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.max_changes == Some(0) {
        return Err(MethodError::InvalidArguments(
            "maxChanges must be positive".into(),
        ));
    }
    let since = parse_state(&req.since_query_state)?;
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let sort = req.sort.unwrap_or_default();
    let current = results(ctx, &view, req.filter.as_ref(), &sort, req.collapse_threads)?;
    // Read after the view: the log covers at least what the view shows.
    let log = ctx.store.change_log(ctx.account, since, MAX_LOG_ROWS)?;
    if since > log.current || log.truncated {
        return Err(MethodError::CannotCalculateChanges(req.since_query_state));
    }
    let c = EmailChanges::fold(&log.entries);
    let mut removed: BTreeSet<EmailId> = c
        .updated
        .iter()
        .chain(&c.destroyed)
        .map(|i| EmailId(*i))
        .collect();
    let changed: BTreeSet<EmailId> = c
        .created
        .iter()
        .map(|i| EmailId(*i))
        .chain(removed.iter().copied())
        .collect();
    let added: Vec<AddedItem> = if req.collapse_threads {
        let mut threads: BTreeSet<ThreadId> = changed
            .iter()
            .filter_map(|id| view.emails.get(id).map(|e| e.thread))
            .collect();
        threads.extend(
            log.entries
                .iter()
                .filter(|e| e.kind == ChangeKind::ThreadChanged)
                .map(|e| ThreadId(e.object)),
        );
        for (id, info) in &view.emails {
            if threads.contains(&info.thread) && !c.created.contains(&id.0) {
                removed.insert(*id);
            }
        }
        added_items(&current, |_, thread| threads.contains(&thread))
    } else {
        added_items(&current, |id, _| changed.contains(&id))
    };
    if let Some(max) = req.max_changes
        && (removed.len() + added.len()) as u64 > max
    {
        return Err(MethodError::TooManyChanges(format!(
            "{} removed and {} added, more than maxChanges {max}",
            removed.len(),
            added.len()
        )));
    }
    let response = QueryChangesResponse {
        account_id: req.account_id,
        old_query_state: req.since_query_state,
        new_query_state: state,
        total: req.calculate_total.then_some(current.len() as u64),
        removed: removed.iter().map(|id| id.to_string()).collect(),
        added,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

fn added_items(
    current: &[(EmailId, ThreadId)],
    wanted: impl Fn(EmailId, ThreadId) -> bool,
) -> Vec<AddedItem> {
    current
        .iter()
        .enumerate()
        .filter(|(_, (id, thread))| wanted(*id, *thread))
        .map(|(index, (id, _))| AddedItem {
            id: id.to_string(),
            index: index as u64,
        })
        .collect()
}
