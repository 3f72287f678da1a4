//! `Identity/set` (RFC 8621 §6.3, RFC 8620 §5.3).
//!
//! - create: `email` is required and must be an address the account may
//!   send as (else `forbiddenFrom`); `name`, `replyTo`, `bcc`,
//!   `textSignature`, `htmlSignature` optional.
//! - update: any of those but `email`, which is immutable.
//! - destroy: any but the default identity (`mayDelete` false,
//!   `forbidden`).

use serde_json::{Map, Value, json};

use super::{DEFAULT_ID, Identity, KIND};
use crate::email::types::{SetRequest, SetResponse};
use crate::error::SetError;
use crate::objects::{Change, Collection};
use crate::{Ctx, MethodError, arguments};

pub fn set(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: SetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let count = req.create.as_ref().map_or(0, Map::len)
        + req.update.as_ref().map_or(0, Map::len)
        + req.destroy.as_ref().map_or(0, Vec::len);
    if count > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "{count} objects, at most {} (maxObjectsInSet)",
            ctx.limits.max_objects_in_set
        )));
    }
    let (store, account) = (ctx.store, ctx.account);
    let response = Collection::<Identity>::edit(store, account, KIND, |c| {
        super::with_default(store, account, c)?;
        let old_state = c.state_string();
        if let Some(expected) = &req.if_in_state
            && *expected != old_state
        {
            return Err(MethodError::StateMismatch(expected.clone()));
        }
        let mut response = SetResponse {
            account_id: req.account_id.clone(),
            old_state,
            ..SetResponse::default()
        };
        if let Some(create) = req.create {
            let (mut created, mut not_created) = (Map::new(), Map::new());
            for (creation_id, value) in create {
                let made = apply(&Identity::default(), &value, true).and_then(|identity| {
                    if store
                        .may_send_as(account, &identity.email)
                        .map_err(|e| SetError::new("serverFail", e.to_string()))?
                    {
                        Ok(identity)
                    } else {
                        Err(SetError::new(
                            "forbiddenFrom",
                            format!("this account may not send as {}", identity.email),
                        ))
                    }
                });
                match made {
                    Ok(identity) => {
                        let id = c.make_id('I');
                        c.items.insert(id.clone(), identity);
                        c.record(&id, Change::Created);
                        ctx.created
                            .borrow_mut()
                            .insert(creation_id.clone(), json!(id));
                        created.insert(creation_id, json!({ "id": id, "mayDelete": true }));
                    }
                    Err(e) => {
                        not_created.insert(creation_id, e.to_json());
                    }
                }
            }
            response.created = Some(created).filter(|m| !m.is_empty());
            response.not_created = Some(not_created).filter(|m| !m.is_empty());
        }
        if let Some(update) = req.update {
            let (mut updated, mut not_updated) = (Map::new(), Map::new());
            for (id, patch) in update {
                let Some(old) = c.items.get(&id) else {
                    not_updated.insert(id, SetError::new("notFound", "no such identity").to_json());
                    continue;
                };
                match apply(old, &patch, false) {
                    Ok(new) => {
                        c.items.insert(id.clone(), new);
                        c.record(&id, Change::Updated);
                        updated.insert(id, Value::Null);
                    }
                    Err(e) => {
                        not_updated.insert(id, e.to_json());
                    }
                }
            }
            response.updated = Some(updated).filter(|m| !m.is_empty());
            response.not_updated = Some(not_updated).filter(|m| !m.is_empty());
        }
        if let Some(destroy) = req.destroy {
            let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
            for id in destroy {
                if id == DEFAULT_ID {
                    not_destroyed.insert(
                        id,
                        SetError::new("forbidden", "the default identity cannot be deleted")
                            .to_json(),
                    );
                } else if c.items.remove(&id).is_some() {
                    c.record(&id, Change::Destroyed);
                    destroyed.push(id);
                } else {
                    not_destroyed
                        .insert(id, SetError::new("notFound", "no such identity").to_json());
                }
            }
            response.destroyed = Some(destroyed).filter(|v| !v.is_empty());
            response.not_destroyed = Some(not_destroyed).filter(|m| !m.is_empty());
        }
        response.new_state = c.state_string();
        Ok(response)
    })?;
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// `base` with the properties of `value` applied; `create` allows (and
/// requires) `email`.
fn apply(base: &Identity, value: &Value, create: bool) -> Result<Identity, SetError> {
    let Some(obj) = value.as_object() else {
        return Err(SetError::new("invalidProperties", "not an object"));
    };
    let mut out = base.clone();
    if create {
        out.reply_to = Value::Null;
        out.bcc = Value::Null;
    }
    let text = |p: &str, v: &Value| -> Result<String, SetError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| SetError::invalid_property(p, format!("{p} must be a string")))
    };
    for (p, v) in obj {
        match p.as_str() {
            "name" => out.name = text(p, v)?,
            "email" if create => out.email = text(p, v)?.trim().to_lowercase(),
            "email" => {
                if v.as_str()
                    .is_none_or(|e| !e.eq_ignore_ascii_case(&base.email))
                {
                    return Err(SetError::invalid_property(p, "email cannot be changed"));
                }
            }
            "replyTo" | "bcc" => {
                if !addresses(v) {
                    return Err(SetError::invalid_property(
                        p,
                        format!("{p} must be null or a list of EmailAddress"),
                    ));
                }
                if p == "bcc" {
                    out.bcc = v.clone();
                } else {
                    out.reply_to = v.clone();
                }
            }
            "textSignature" => out.text_signature = text(p, v)?,
            "htmlSignature" => out.html_signature = text(p, v)?,
            // Server-set (RFC 8620 §5.3): accepted only unchanged.
            "id" | "mayDelete" if !create => {}
            _ => {
                return Err(SetError::invalid_property(
                    p,
                    format!("unknown or server-set property {p}"),
                ));
            }
        }
    }
    if create && !out.email.contains('@') {
        return Err(SetError::invalid_property("email", "email is required"));
    }
    Ok(out)
}

/// `null` or `EmailAddress[]` (RFC 8621 §4.1.2.3).
fn addresses(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(list) => list.iter().all(|a| {
            a.as_object().is_some_and(|o| {
                o.get("email").is_some_and(Value::is_string)
                    && o.get("name").is_none_or(|n| n.is_string() || n.is_null())
                    && o.keys().all(|k| k == "email" || k == "name")
            })
        }),
        _ => false,
    }
}
