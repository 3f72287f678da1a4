//! `Thread/get` (RFC 8621 §3.1): a thread's emails, oldest first.

use serde_json::{Map, Value, json};
use tidings_types::ThreadId;

use crate::mailbox::get::select_properties;
use crate::mailbox::types::{GetRequest, GetResponse};
use crate::{Ctx, MethodError, arguments};

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let properties = select_properties(req.properties.as_deref(), &["id", "emailIds"])?;
    let Some(ids) = req.ids else {
        return Err(MethodError::RequestTooLarge(
            "Thread/get needs ids (all threads is not served)".into(),
        ));
    };
    if ids.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::RequestTooLarge(format!(
            "{} ids, at most {} (maxObjectsInGet)",
            ids.len(),
            ctx.limits.max_objects_in_get
        )));
    }
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let wanted: Vec<ThreadId> = ids.iter().filter_map(|id| ThreadId::parse(id)).collect();
    let mut threads = view.threads(&wanted);
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        let emails = ThreadId::parse(&id)
            .and_then(|t| threads.remove(&t))
            .unwrap_or_default();
        if emails.is_empty() {
            not_found.push(id);
            continue;
        }
        let mut obj = Map::new();
        obj.insert("id".into(), json!(id));
        if properties.iter().any(|p| p == "emailIds") {
            obj.insert(
                "emailIds".into(),
                json!(emails.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
            );
        }
        list.push(Value::Object(obj));
    }
    let response = GetResponse {
        account_id: req.account_id,
        state,
        list,
        not_found,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
