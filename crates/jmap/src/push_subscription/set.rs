//! `PushSubscription/set` (RFC 8620 §7.2.2): the standard `/set` without
//! `accountId`, `ifInState` and states.
//!
//! - create: `deviceClientId` and `url` required; `url` must pass the
//!   sender's rule; `keys` must be null (encrypted push is not
//!   supported); `expires` and `types` optional. The response gives the
//!   `id` and the `expires` the server chose; a PushVerification is
//!   queued once the subscription is stored.
//! - update: `verificationCode` (must be the code sent; verifies the
//!   subscription), `expires`, `types`; `deviceClientId`, `url` and
//!   `keys` are immutable.
//! - destroy.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{KIND, MAX_LIFETIME, MAX_PER_ACCOUNT, PushSender, PushSubscription};
use crate::error::SetError;
use crate::objects::{Change, Collection};
use crate::{Ctx, MethodError, arguments};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetRequest {
    #[serde(default)]
    create: Option<Map<String, Value>>,
    #[serde(default)]
    update: Option<Map<String, Value>>,
    #[serde(default)]
    destroy: Option<Vec<String>>,
}

pub fn set(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: SetRequest = arguments(args)?;
    let count = req.create.as_ref().map_or(0, Map::len)
        + req.update.as_ref().map_or(0, Map::len)
        + req.destroy.as_ref().map_or(0, Vec::len);
    if count > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "{count} objects, at most {} (maxObjectsInSet)",
            ctx.limits.max_objects_in_set
        )));
    }
    let sender = ctx.push;
    let now = crate::submission::now();
    let mut verifications: Vec<(String, Value)> = Vec::new();
    let response = Collection::<PushSubscription>::edit(ctx.store, ctx.account, KIND, |c| {
        // Expired subscriptions go at the next write.
        let expired: Vec<String> = c
            .items
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            c.items.remove(&id);
            c.record(&id, Change::Destroyed);
        }
        let mut response = Map::new();
        if let Some(create) = req.create {
            let (mut created, mut not_created) = (Map::new(), Map::new());
            for (creation_id, value) in create {
                let made = if c.items.len() >= MAX_PER_ACCOUNT {
                    Err(SetError::new(
                        "overQuota",
                        format!("at most {MAX_PER_ACCOUNT} push subscriptions per account"),
                    ))
                } else {
                    create_one(sender, &value, now)
                };
                match made {
                    Ok(s) => {
                        let id = c.make_id('P');
                        verifications.push((
                            s.url.clone(),
                            json!({
                                "@type": "PushVerification",
                                "pushSubscriptionId": id,
                                "verificationCode": s.code,
                            }),
                        ));
                        created.insert(
                            creation_id.clone(),
                            json!({ "id": id, "expires": crate::date::utc(s.expires) }),
                        );
                        ctx.created.borrow_mut().insert(creation_id, json!(id));
                        c.items.insert(id.clone(), s);
                        c.record(&id, Change::Created);
                    }
                    Err(e) => {
                        not_created.insert(creation_id, e.to_json());
                    }
                }
            }
            insert_non_empty(&mut response, "created", created);
            insert_non_empty(&mut response, "notCreated", not_created);
        }
        if let Some(update) = req.update {
            let (mut updated, mut not_updated) = (Map::new(), Map::new());
            for (id, patch) in update {
                let Some(old) = c.items.get(&id) else {
                    not_updated.insert(
                        id,
                        SetError::new("notFound", "no such push subscription").to_json(),
                    );
                    continue;
                };
                match update_one(old, &patch, now) {
                    Ok((new, server_set)) => {
                        c.items.insert(id.clone(), new);
                        c.record(&id, Change::Updated);
                        updated.insert(id, server_set);
                    }
                    Err(e) => {
                        not_updated.insert(id, e.to_json());
                    }
                }
            }
            insert_non_empty(&mut response, "updated", updated);
            insert_non_empty(&mut response, "notUpdated", not_updated);
        }
        if let Some(destroy) = req.destroy {
            let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
            for id in destroy {
                if c.items.remove(&id).is_some() {
                    c.record(&id, Change::Destroyed);
                    destroyed.push(Value::String(id));
                } else {
                    not_destroyed.insert(
                        id,
                        SetError::new("notFound", "no such push subscription").to_json(),
                    );
                }
            }
            if !destroyed.is_empty() {
                response.insert("destroyed".into(), Value::Array(destroyed));
            }
            insert_non_empty(&mut response, "notDestroyed", not_destroyed);
        }
        Ok(response)
    })?;
    // Sent once stored, so the code the client gets back is one that
    // verifies.
    if let Some(sender) = sender {
        sender.subscriptions_changed(ctx.account);
        for (url, body) in verifications {
            sender.send_verification(&url, body);
        }
    }
    Ok(Value::Object(response))
}

fn insert_non_empty(response: &mut Map<String, Value>, key: &str, map: Map<String, Value>) {
    if !map.is_empty() {
        response.insert(key.into(), Value::Object(map));
    }
}

/// `expires` as asked (null: the longest allowed), cut to
/// [`MAX_LIFETIME`] from `now`.
fn expires(v: &Value, now: i64) -> Result<i64, SetError> {
    let longest = now + MAX_LIFETIME;
    match v {
        Value::Null => Ok(longest),
        Value::String(s) => match crate::date::parse(s) {
            Some(t) if t <= now => Err(SetError::invalid_property(
                "expires",
                "expires is in the past",
            )),
            Some(t) => Ok(t.min(longest)),
            None => Err(SetError::invalid_property(
                "expires",
                "expires must be a UTCDate",
            )),
        },
        _ => Err(SetError::invalid_property(
            "expires",
            "expires must be a UTCDate or null",
        )),
    }
}

fn types(v: &Value) -> Result<Option<Vec<String>>, SetError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(list) => list
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| SetError::invalid_property("types", "types must be type names")),
        _ => Err(SetError::invalid_property(
            "types",
            "types must be a list of type names or null",
        )),
    }
}

fn create_one(
    sender: Option<&dyn PushSender>,
    value: &Value,
    now: i64,
) -> Result<PushSubscription, SetError> {
    let Some(sender) = sender else {
        return Err(SetError::new(
            "forbidden",
            "this server does not push to URLs",
        ));
    };
    let Some(obj) = value.as_object() else {
        return Err(SetError::new("invalidProperties", "not an object"));
    };
    let mut device = None;
    let mut url = None;
    let mut s = PushSubscription {
        device_client_id: String::new(),
        url: String::new(),
        code: super::verification_code().map_err(|e| SetError::new("serverFail", e.to_string()))?,
        verified: false,
        expires: now + MAX_LIFETIME,
        types: None,
    };
    for (p, v) in obj {
        match p.as_str() {
            "deviceClientId" => {
                device = Some(
                    v.as_str()
                        .filter(|d| !d.is_empty() && d.len() <= 255)
                        .ok_or_else(|| {
                            SetError::invalid_property(
                                p,
                                "deviceClientId must be a string of 1 to 255 characters",
                            )
                        })?,
                );
            }
            "url" => {
                url = Some(
                    v.as_str()
                        .ok_or_else(|| SetError::invalid_property(p, "url must be a string"))?,
                )
            }
            "keys" if v.is_null() => {}
            "keys" => {
                return Err(SetError::invalid_property(
                    p,
                    "encrypted push (RFC 8291 keys) is not supported",
                ));
            }
            "expires" => s.expires = expires(v, now)?,
            "types" => s.types = types(v)?,
            _ => {
                return Err(SetError::invalid_property(
                    p,
                    format!("unknown or server-set property {p}"),
                ));
            }
        }
    }
    let device = device.ok_or_else(|| {
        SetError::invalid_property("deviceClientId", "deviceClientId is required")
    })?;
    let url = url.ok_or_else(|| SetError::invalid_property("url", "url is required"))?;
    if url.len() > 2048 {
        return Err(SetError::invalid_property(
            "url",
            "url is longer than 2048 characters",
        ));
    }
    sender
        .check_url(url)
        .map_err(|why| SetError::invalid_property("url", why))?;
    s.device_client_id = device.to_string();
    s.url = url.to_string();
    Ok(s)
}

/// The subscription with `patch` applied, and what the server set
/// differently from what was asked (the `updated` value, §5.3).
fn update_one(
    old: &PushSubscription,
    patch: &Value,
    now: i64,
) -> Result<(PushSubscription, Value), SetError> {
    let Some(obj) = patch.as_object() else {
        return Err(SetError::new("invalidPatch", "not an object"));
    };
    let mut new = old.clone();
    let mut server_set = Map::new();
    for (p, v) in obj {
        match p.as_str() {
            "verificationCode" => {
                if v.as_str() != Some(old.code.as_str()) {
                    return Err(SetError::invalid_property(
                        p,
                        "not the verification code that was sent",
                    ));
                }
                new.verified = true;
            }
            "expires" => {
                new.expires = expires(v, now)?;
                let given = v.as_str().and_then(crate::date::parse);
                if given != Some(new.expires) {
                    server_set.insert("expires".into(), json!(crate::date::utc(new.expires)));
                }
            }
            "types" => new.types = types(v)?,
            "deviceClientId" if v.as_str() == Some(old.device_client_id.as_str()) => {}
            "url" if v.as_str() == Some(old.url.as_str()) => {}
            "keys" if v.is_null() => {}
            "id" => {}
            "deviceClientId" | "url" | "keys" => {
                return Err(SetError::invalid_property(
                    p,
                    format!("{p} cannot be changed"),
                ));
            }
            _ => {
                return Err(SetError::invalid_property(
                    p,
                    format!("unknown property {p}"),
                ));
            }
        }
    }
    let server_set = if server_set.is_empty() {
        Value::Null
    } else {
        Value::Object(server_set)
    };
    Ok((new, server_set))
}
