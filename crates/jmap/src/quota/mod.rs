//! `Quota/get|changes|query|queryChanges` (RFC 9425) from the account's
//! storage quota.
//!
//! Implementation notes:
//! - An account with a quota has one Quota, [`ID`]: `resourceType`
//!   `octets`, `scope` `account`, `types` `["Email"]`, `used` the sum of
//!   its emails' sizes, `hardLimit` the quota (mail over it is refused,
//!   as in IMAP and SMTP). An unlimited account has none (a Quota needs a
//!   `hardLimit`).
//! - The state is the account's MODSEQ, which every change to its mail
//!   bumps (and with it, perhaps, `used`). `/changes` from an older state
//!   reports the Quota as updated (or destroyed if the account no longer
//!   has a quota): it may not have changed, which clients handle by
//!   fetching it again (RFC 8620 §5.1 allows a state to change with
//!   nothing changed).
//! - `/query` filters on `name`, `scope`, `resourceType`, `type` (plain
//!   conditions, no operators) and sorts by `name` or `used`; its results
//!   cannot be calculated from an old state (`queryChanges` answers
//!   `cannotCalculateChanges`).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tidings_store::Account;

use crate::{Ctx, MethodError, arguments};

/// The capability (RFC 9425 §3).
pub const CAPABILITY: &str = "urn:ietf:params:jmap:quota";
/// The one Quota's id.
pub const ID: &str = "Q0";
const PROPERTIES: [&str; 7] = [
    "id",
    "resourceType",
    "used",
    "hardLimit",
    "scope",
    "name",
    "types",
];

fn account(ctx: &Ctx<'_>) -> Result<Account, MethodError> {
    ctx.store
        .account_by_id(ctx.account)?
        .ok_or_else(|| MethodError::ServerFail("account vanished".into()))
}

/// The account's Quota objects with every property.
fn quotas(a: &Account) -> Vec<Value> {
    a.quota
        .map(|limit| {
            json!({
                "id": ID,
                "resourceType": "octets",
                "used": a.used,
                "hardLimit": limit,
                "scope": "account",
                "name": format!("{} mail storage", a.email),
                "types": ["Email"],
            })
        })
        .into_iter()
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetRequest {
    account_id: String,
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    properties: Option<Vec<String>>,
}

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let properties =
        crate::mailbox::get::select_properties(req.properties.as_deref(), &PROPERTIES)?;
    if req
        .ids
        .as_ref()
        .is_some_and(|ids| ids.len() > ctx.limits.max_objects_in_get)
    {
        return Err(MethodError::RequestTooLarge(format!(
            "more than {} ids (maxObjectsInGet)",
            ctx.limits.max_objects_in_get
        )));
    }
    let a = account(ctx)?;
    let all = quotas(&a);
    let id_of = |q: &Value| q["id"].as_str().unwrap_or_default().to_string();
    let ids: Vec<String> = req.ids.unwrap_or_else(|| all.iter().map(id_of).collect());
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        match all.iter().find(|q| id_of(q) == id) {
            Some(q) => {
                let obj: Map<String, Value> = properties
                    .iter()
                    .filter_map(|p| q.get(p).map(|v| (p.clone(), v.clone())))
                    .collect();
                list.push(Value::Object(obj));
            }
            None => not_found.push(id),
        }
    }
    Ok(json!({
        "accountId": req.account_id,
        "state": a.modseq.0.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: crate::mailbox::types::ChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let a = account(ctx)?;
    let now = a.modseq.0;
    let since: u64 = req
        .since_state
        .parse()
        .ok()
        .filter(|s| *s <= now)
        .ok_or_else(|| MethodError::CannotCalculateChanges(req.since_state.clone()))?;
    let (mut updated, mut destroyed) = (Vec::new(), Vec::new());
    if since < now {
        if a.quota.is_some() {
            updated.push(ID.to_string());
        } else {
            destroyed.push(ID.to_string());
        }
    }
    crate::objects::check_max_changes(req.max_changes, updated.len() + destroyed.len())?;
    Ok(json!({
        "accountId": req.account_id,
        "oldState": req.since_state,
        "newState": now.to_string(),
        "hasMoreChanges": false,
        "created": [],
        "updated": updated,
        "destroyed": destroyed,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QueryRequest {
    account_id: String,
    #[serde(default)]
    filter: Option<Map<String, Value>>,
    #[serde(default)]
    sort: Option<Vec<Comparator>>,
    #[serde(default)]
    position: i64,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    calculate_total: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Comparator {
    property: String,
    #[serde(default = "yes")]
    is_ascending: bool,
    #[serde(default)]
    #[allow(dead_code)] // accepted; only i;ascii-casemap is offered
    collation: Option<String>,
}

fn yes() -> bool {
    true
}

/// Whether quota `q` meets every condition of `filter` (RFC 9425 §4.3).
fn matches(q: &Value, filter: &Map<String, Value>) -> Result<bool, MethodError> {
    for (key, value) in filter {
        let want = value.as_str().ok_or_else(|| {
            MethodError::InvalidArguments(format!("filter {key} must be a string"))
        })?;
        let ok = match key.as_str() {
            "name" => q["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().contains(&want.to_lowercase())),
            "scope" | "resourceType" => q[key.as_str()] == want,
            "type" => q["types"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == want)),
            other => {
                return Err(MethodError::UnsupportedFilter(format!(
                    "filter condition {other} is not supported"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn query(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: QueryRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let a = account(ctx)?;
    let filter = req.filter.unwrap_or_default();
    if filter.contains_key("operator") {
        return Err(MethodError::UnsupportedFilter(
            "Quota filters are plain conditions".into(),
        ));
    }
    let mut found = Vec::new();
    for q in quotas(&a) {
        if matches(&q, &filter)? {
            found.push(q);
        }
    }
    for c in req.sort.unwrap_or_default().iter().rev() {
        match c.property.as_str() {
            "name" => found.sort_by(|x, y| {
                let key = |q: &Value| q["name"].as_str().unwrap_or_default().to_lowercase();
                key(x).cmp(&key(y))
            }),
            "used" => found.sort_by_key(|q| q["used"].as_u64().unwrap_or_default()),
            other => {
                return Err(MethodError::UnsupportedSort(format!(
                    "Quotas sort by name or used, not {other}"
                )));
            }
        }
        if !c.is_ascending {
            found.reverse();
        }
    }
    let total = found.len() as i64;
    let start = if req.position < 0 {
        (total + req.position).max(0)
    } else {
        req.position.min(total)
    };
    let ids: Vec<Value> = found
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(req.limit.unwrap_or(u64::MAX)).unwrap_or(usize::MAX))
        .map(|q| q["id"].clone())
        .collect();
    let mut out = json!({
        "accountId": req.account_id,
        "queryState": a.modseq.0.to_string(),
        "canCalculateChanges": false,
        "position": start,
        "ids": ids,
    });
    if req.calculate_total {
        out["total"] = json!(total);
    }
    Ok(out)
}

/// `Quota/queryChanges`: never calculable (`canCalculateChanges` false).
pub fn query_changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = args
        .get("accountId")
        .and_then(Value::as_str)
        .ok_or_else(|| MethodError::InvalidArguments("accountId is required".into()))?;
    ctx.check_account(account_id)?;
    let since = args
        .get("sinceQueryState")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(MethodError::CannotCalculateChanges(since.to_string()))
}
