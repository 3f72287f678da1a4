//! `VacationResponse/get|set` (RFC 8621 §8): the account's one vacation
//! response (id `singleton`), kept by the store
//! ([`tidings_store::Vacation`]); the SMTP inbound path answers mail with
//! it (`tidings_smtp::vacation`, RFC 3834).
//!
//! The state is a hash of the stored response, so it changes exactly when
//! the object does, whoever set it (JMAP or `tidings user vacation`).

use serde_json::{Map, Value, json};
use tidings_store::Vacation;

use crate::email::types::{SetRequest, SetResponse};
use crate::error::SetError;
use crate::mailbox::get::select_properties;
use crate::mailbox::types::{GetRequest, GetResponse};
use crate::{Ctx, MethodError, arguments};

/// The capability (RFC 8621 §1.3.3).
pub const CAPABILITY: &str = "urn:ietf:params:jmap:vacationresponse";
const ID: &str = "singleton";
const PROPERTIES: [&str; 7] = [
    "id",
    "isEnabled",
    "fromDate",
    "toDate",
    "subject",
    "textBody",
    "htmlBody",
];

fn state(v: &Vacation) -> String {
    // FNV-1a of the stored form: stable across restarts.
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("v{h:016x}")
}

fn to_json(v: &Vacation) -> Value {
    json!({
        "id": ID,
        "isEnabled": v.enabled,
        "fromDate": v.from_date.map(crate::date::utc),
        "toDate": v.to_date.map(crate::date::utc),
        "subject": v.subject,
        "textBody": v.text_body,
        "htmlBody": v.html_body,
    })
}

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let properties = select_properties(req.properties.as_deref(), &PROPERTIES)?;
    let v = ctx.store.vacation(ctx.account)?;
    let ids = req.ids.unwrap_or_else(|| vec![ID.to_string()]);
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        if id != ID {
            not_found.push(id);
            continue;
        }
        let mut full = to_json(&v);
        let mut obj = Map::new();
        if let Some(all) = full.as_object_mut() {
            for p in &properties {
                if let Some(x) = all.remove(p) {
                    obj.insert(p.clone(), x);
                }
            }
        }
        list.push(Value::Object(obj));
    }
    let response = GetResponse {
        account_id: req.account_id,
        state: state(&v),
        list,
        not_found,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

pub fn set(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: SetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let old = ctx.store.vacation(ctx.account)?;
    let old_state = state(&old);
    if let Some(expected) = &req.if_in_state
        && *expected != old_state
    {
        return Err(MethodError::StateMismatch(expected.clone()));
    }
    let mut response = SetResponse {
        account_id: req.account_id.clone(),
        old_state: old_state.clone(),
        ..SetResponse::default()
    };
    // RFC 8620 §5.3 `singleton`: there is one, never another, never none.
    let singleton = || SetError::new("singleton", "the VacationResponse is a singleton").to_json();
    if let Some(create) = req.create {
        response.not_created = Some(create.keys().map(|k| (k.clone(), singleton())).collect());
    }
    if let Some(destroy) = req.destroy {
        response.not_destroyed = Some(destroy.iter().map(|k| (k.clone(), singleton())).collect());
    }
    let mut current = old;
    if let Some(update) = req.update {
        let (mut updated, mut not_updated) = (Map::new(), Map::new());
        for (id, patch) in update {
            if id != ID {
                not_updated.insert(
                    id,
                    SetError::new("notFound", "the id is singleton").to_json(),
                );
                continue;
            }
            match apply(&current, &patch) {
                Ok(new) => {
                    if new != current {
                        ctx.store.set_vacation(ctx.account, &new)?;
                        current = new;
                    }
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
    response.new_state = state(&current);
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// The largest subject or body accepted, bytes.
const MAX_TEXT: usize = 64 * 1024;

fn apply(base: &Vacation, patch: &Value) -> Result<Vacation, SetError> {
    let Some(obj) = patch.as_object() else {
        return Err(SetError::new("invalidProperties", "not an object"));
    };
    let mut out = base.clone();
    let text = |p: &str, v: &Value| -> Result<Option<String>, SetError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
            Value::String(_) => Err(SetError::invalid_property(
                p,
                format!("{p} longer than {MAX_TEXT} bytes"),
            )),
            _ => Err(SetError::invalid_property(
                p,
                format!("{p} must be a string or null"),
            )),
        }
    };
    let date = |p: &str, v: &Value| -> Result<Option<i64>, SetError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => crate::date::parse(s)
                .map(Some)
                .ok_or_else(|| SetError::invalid_property(p, format!("{p} is not a UTCDate"))),
            _ => Err(SetError::invalid_property(
                p,
                format!("{p} must be a UTCDate or null"),
            )),
        }
    };
    for (p, v) in obj {
        match p.as_str() {
            "isEnabled" => {
                out.enabled = v
                    .as_bool()
                    .ok_or_else(|| SetError::invalid_property(p, "isEnabled must be a boolean"))?;
            }
            "fromDate" => out.from_date = date(p, v)?,
            "toDate" => out.to_date = date(p, v)?,
            "subject" => {
                out.subject = text(p, v)?;
                if out
                    .subject
                    .as_deref()
                    .is_some_and(|s| s.contains(['\r', '\n']))
                {
                    return Err(SetError::invalid_property(p, "subject must be one line"));
                }
            }
            "textBody" => out.text_body = text(p, v)?,
            "htmlBody" => out.html_body = text(p, v)?,
            "id" if v.as_str() == Some(ID) => {}
            _ => {
                return Err(SetError::invalid_property(
                    p,
                    format!("unknown property {p}"),
                ));
            }
        }
    }
    Ok(out)
}
