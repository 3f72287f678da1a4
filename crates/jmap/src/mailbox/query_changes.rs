//! `Mailbox/queryChanges` (RFC 8621 §2.4, RFC 8620 §5.6) from the store's
//! change log, as `Email/queryChanges` does: every filter and sort reads
//! the mailbox alone (a rename of a parent logs its children too), so the
//! mailboxes the log names since the old state are reported removed, and
//! those of them in the new results added at their index; the others kept
//! their place. `upToId` is ignored (the names are mutable).

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_store::ChangeKind;
use tidings_types::MailboxId;

use super::changes::parse_state;
use super::query::{refuse_operators, results};
use super::types::{AddedItem, QueryChangesRequest, QueryChangesResponse};
use crate::email::query_changes::MAX_LOG_ROWS;
use crate::{Ctx, MethodError, arguments};

pub fn query_changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    refuse_operators(&args)?;
    let req: QueryChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.sort_as_tree || req.filter_as_tree {
        return Err(MethodError::UnsupportedSort(
            "sortAsTree and filterAsTree are not supported".into(),
        ));
    }
    if req.max_changes == Some(0) {
        return Err(MethodError::InvalidArguments(
            "maxChanges must be positive".into(),
        ));
    }
    let since = parse_state(&req.since_query_state)?;
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let sort = req.sort.unwrap_or_default();
    let current = results(&view, req.filter, &sort)?;
    let log = ctx.store.change_log(ctx.account, since, MAX_LOG_ROWS)?;
    if since > log.current || log.truncated {
        return Err(MethodError::CannotCalculateChanges(req.since_query_state));
    }
    let changed: BTreeSet<MailboxId> = log
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                ChangeKind::MailboxChanged | ChangeKind::MailboxDestroyed
            )
        })
        .map(|e| MailboxId(e.object))
        .collect();
    let added: Vec<AddedItem> = current
        .iter()
        .enumerate()
        .filter(|(_, m)| changed.contains(&m.id))
        .map(|(index, m)| AddedItem {
            id: m.id.to_string(),
            index: index as u64,
        })
        .collect();
    if let Some(max) = req.max_changes
        && (changed.len() + added.len()) as u64 > max
    {
        return Err(MethodError::TooManyChanges(format!(
            "{} removed and {} added, more than maxChanges {max}",
            changed.len(),
            added.len()
        )));
    }
    let response = QueryChangesResponse {
        account_id: req.account_id,
        old_query_state: req.since_query_state,
        new_query_state: state,
        total: req.calculate_total.then_some(current.len() as u64),
        removed: changed.iter().map(|m| m.to_string()).collect(),
        added,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
