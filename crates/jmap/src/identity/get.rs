//! `Identity/get` (RFC 8621 §6.1, RFC 8620 §5.1).

use serde_json::{Map, Value};

use crate::mailbox::get::select_properties;
use crate::mailbox::types::{GetRequest, GetResponse};
use crate::{Ctx, MethodError, arguments};

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let properties = select_properties(req.properties.as_deref(), &super::PROPERTIES)?;
    let c = super::load(ctx.store, ctx.account)?;
    let ids: Vec<String> = match req.ids {
        Some(ids) if ids.len() > ctx.limits.max_objects_in_get => {
            return Err(MethodError::RequestTooLarge(format!(
                "{} ids, at most {} (maxObjectsInGet)",
                ids.len(),
                ctx.limits.max_objects_in_get
            )));
        }
        Some(ids) => ids,
        None => c.items.keys().cloned().collect(),
    };
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        match c.items.get(&id) {
            Some(identity) => {
                let mut full = identity.to_json(&id);
                let mut obj = Map::new();
                if let Some(all) = full.as_object_mut() {
                    for p in &properties {
                        if let Some(v) = all.remove(p) {
                            obj.insert(p.clone(), v);
                        }
                    }
                }
                list.push(Value::Object(obj));
            }
            None => not_found.push(id),
        }
    }
    let response = GetResponse {
        account_id: req.account_id,
        state: c.state_string(),
        list,
        not_found,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
