//! `EmailSubmission/query` (RFC 8621 §7.3): filters `identityIds`,
//! `emailIds`, `threadIds`, `undoStatus`, `before`, `after`; sorts
//! `emailId`, `threadId`, `sentAt`; `position` and `limit`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{KIND, Submission, now};
use crate::objects::Collection;
use crate::{Ctx, MethodError, arguments};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QueryRequest {
    account_id: String,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    sort: Option<Vec<Comparator>>,
    #[serde(default)]
    position: u64,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    calculate_total: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    identity_ids: Option<Vec<String>>,
    email_ids: Option<Vec<String>>,
    thread_ids: Option<Vec<String>>,
    undo_status: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comparator {
    property: String,
    #[serde(default = "yes")]
    is_ascending: bool,
}

fn yes() -> bool {
    true
}

pub fn query(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: QueryRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let c = Collection::<Submission>::load(ctx.store, ctx.account, KIND)?;
    let f = req.filter.unwrap_or_default();
    let date = |d: &Option<String>| -> Result<Option<i64>, MethodError> {
        d.as_deref()
            .map(|s| {
                crate::date::parse(s)
                    .ok_or_else(|| MethodError::InvalidArguments(format!("not a UTCDate: {s}")))
            })
            .transpose()
    };
    let (before, after) = (date(&f.before)?, date(&f.after)?);
    let now = now();
    let mut hits: Vec<(&String, &Submission)> = c
        .items
        .iter()
        .filter(|(_, s)| {
            f.identity_ids
                .as_ref()
                .is_none_or(|v| v.contains(&s.identity_id))
                && f.email_ids.as_ref().is_none_or(|v| v.contains(&s.email_id))
                && f.thread_ids
                    .as_ref()
                    .is_none_or(|v| v.contains(&s.thread_id))
                && f.undo_status
                    .as_deref()
                    .is_none_or(|u| s.undo_status_at(now) == u)
                && before.is_none_or(|b| s.send_at < b)
                && after.is_none_or(|a| s.send_at >= a)
        })
        .collect();
    for comparator in req.sort.unwrap_or_default().iter().rev() {
        let asc = comparator.is_ascending;
        let key = |s: &Submission| -> (String, i64) {
            match comparator.property.as_str() {
                "emailId" => (s.email_id.clone(), 0),
                "threadId" => (s.thread_id.clone(), 0),
                _ => (String::new(), s.send_at),
            }
        };
        if !matches!(
            comparator.property.as_str(),
            "emailId" | "threadId" | "sentAt"
        ) {
            return Err(MethodError::UnsupportedSort(comparator.property.clone()));
        }
        hits.sort_by(|a, b| {
            let o = key(a.1).cmp(&key(b.1));
            if asc { o } else { o.reverse() }
        });
    }
    let total = hits.len();
    let ids: Vec<&String> = hits
        .into_iter()
        .skip(usize::try_from(req.position).unwrap_or(usize::MAX))
        .take(usize::try_from(req.limit.unwrap_or(u64::MAX)).unwrap_or(usize::MAX))
        .map(|(id, _)| id)
        .collect();
    let mut out = json!({
        "accountId": req.account_id,
        "queryState": c.state_string(),
        "canCalculateChanges": false,
        "position": req.position,
        "ids": ids,
    });
    if req.calculate_total {
        out["total"] = json!(total);
    }
    Ok(out)
}
