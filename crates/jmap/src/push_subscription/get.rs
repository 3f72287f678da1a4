//! `PushSubscription/get` (RFC 8620 §7.2.1): the standard `/get` without
//! `accountId` and `state`; `url` and `keys` are never returned, and
//! asking for them is `forbidden`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{KIND, PROPERTIES, PushSubscription};
use crate::objects::Collection;
use crate::{Ctx, MethodError, arguments};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetRequest {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    properties: Option<Vec<String>>,
}

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    let properties: Vec<String> = match req.properties {
        None => PROPERTIES.iter().map(|p| (*p).to_string()).collect(),
        Some(list) => {
            if let Some(p) = list.iter().find(|p| *p == "url" || *p == "keys") {
                return Err(MethodError::Forbidden(format!(
                    "{p} is never returned (RFC 8620 §7.2.1)"
                )));
            }
            if let Some(p) = list.iter().find(|p| !PROPERTIES.contains(&p.as_str())) {
                return Err(MethodError::InvalidArguments(format!(
                    "unknown property {p}"
                )));
            }
            let mut list = list;
            if !list.iter().any(|p| p == "id") {
                list.push("id".into());
            }
            list
        }
    };
    let now = crate::submission::now();
    let c = Collection::<PushSubscription>::load(ctx.store, ctx.account, KIND)?;
    let live = |id: &str| c.items.get(id).filter(|s| s.expires > now);
    let ids: Vec<String> = match req.ids {
        Some(ids) if ids.len() > ctx.limits.max_objects_in_get => {
            return Err(MethodError::RequestTooLarge(format!(
                "{} ids, at most {} (maxObjectsInGet)",
                ids.len(),
                ctx.limits.max_objects_in_get
            )));
        }
        Some(ids) => ids,
        None => c
            .items
            .keys()
            .filter(|id| live(id).is_some())
            .cloned()
            .collect(),
    };
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        match live(&id) {
            Some(s) => {
                let mut full = s.to_json(&id);
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
    Ok(json!({ "list": list, "notFound": not_found }))
}
