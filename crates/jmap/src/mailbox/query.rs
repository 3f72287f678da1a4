//! `Mailbox/query` (RFC 8621 §2.3): filter by `parentId`, `name`, `role`,
//! `hasAnyRole`, `isSubscribed`; sort by `name` or `sortOrder`. Filter
//! operators and the tree options are not served (unsupportedFilter /
//! unsupportedSort). `Mailbox/queryChanges` is in `query_changes.rs`.

use serde_json::{Map, Value};
use tidings_store::Mailbox;

use super::get::{role_name, sort_order};
use super::types::{Comparator, QueryFilter, QueryRequest, QueryResponse};
use crate::view::AccountView;
use crate::{Ctx, MethodError, arguments};

/// The JMAP name and parent name of a mailbox (`a/b/c` → `c`, `a/b`).
pub fn split_name(mailbox: &Mailbox) -> (Option<&str>, &str) {
    let full = mailbox.name.as_str();
    match full.rsplit_once(tidings_types::SEPARATOR) {
        Some((parent, leaf)) => (Some(parent), leaf),
        None => (None, full),
    }
}

/// The mailboxes matching `filter`, in `sort` order (shared with
/// `Mailbox/queryChanges`).
pub fn results<'v>(
    view: &'v AccountView,
    filter: Option<QueryFilter>,
    sort: &[Comparator],
) -> Result<Vec<&'v Mailbox>, MethodError> {
    let parent_id = |m: &Mailbox| {
        split_name(m).0.and_then(|p| {
            view.mailboxes
                .iter()
                .find(|x| x.name.as_str() == p)
                .map(|x| x.id.to_string())
        })
    };
    let filter = filter.unwrap_or_default();
    let mut hits: Vec<&Mailbox> = view
        .mailboxes
        .iter()
        .filter(|m| {
            filter
                .parent_id
                .as_ref()
                .is_none_or(|want| *want == parent_id(m))
                && filter
                    .name
                    .as_ref()
                    .is_none_or(|n| split_name(m).1.to_lowercase().contains(&n.to_lowercase()))
                && filter
                    .role
                    .as_ref()
                    .is_none_or(|want| want.as_deref() == m.role.map(role_name))
                && filter
                    .has_any_role
                    .is_none_or(|want| want == m.role.is_some())
                && filter
                    .is_subscribed
                    .is_none_or(|want| want == view.subscribed(m))
        })
        .collect();
    for c in sort {
        if c.property != "name" && c.property != "sortOrder" {
            return Err(MethodError::UnsupportedSort(format!(
                "sorting mailboxes by {} is not supported",
                c.property
            )));
        }
    }
    hits.sort_by(|a, b| {
        let mut order = std::cmp::Ordering::Equal;
        for c in sort {
            let o = match c.property.as_str() {
                "sortOrder" => sort_order(a.role).cmp(&sort_order(b.role)),
                _ => split_name(a).1.cmp(split_name(b).1),
            };
            let o = if c.is_ascending { o } else { o.reverse() };
            order = order.then(o);
        }
        order.then(a.id.cmp(&b.id))
    });
    Ok(hits)
}

/// Filter operators are not served (unsupportedFilter).
pub fn refuse_operators(args: &Map<String, Value>) -> Result<(), MethodError> {
    if args
        .get("filter")
        .is_some_and(|f| f.get("operator").is_some())
    {
        return Err(MethodError::UnsupportedFilter(
            "filter operators are not supported for Mailbox/query".into(),
        ));
    }
    Ok(())
}

pub fn query(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    refuse_operators(&args)?;
    let req: QueryRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.sort_as_tree || req.filter_as_tree {
        return Err(MethodError::UnsupportedSort(
            "sortAsTree and filterAsTree are not supported".into(),
        ));
    }
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let sort = req.sort.unwrap_or_default();
    let hits = results(&view, req.filter, &sort)?;
    let total = hits.len() as i64;
    let start = if req.position < 0 {
        (total + req.position).max(0)
    } else {
        req.position
    };
    let ids: Vec<String> = hits
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(
            req.limit
                .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
        )
        .map(|m| m.id.to_string())
        .collect();
    let response = QueryResponse {
        account_id: req.account_id,
        query_state: state,
        can_calculate_changes: ctx.shared.is_none(),
        position: u64::try_from(start.min(total)).unwrap_or(0),
        ids,
        total: req.calculate_total.then_some(total as u64),
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
