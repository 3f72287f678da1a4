//! `Email/import` (RFC 8621 §4.8): stores uploaded messages (or any
//! other blob of the account holding one) as emails, with the
//! `mailboxIds`, `keywords` and `receivedAt` asked for, through the same
//! ingest as SMTP delivery: each is on disk before the response says so.
//!
//! Per-record errors: `invalidProperties` (a missing or wrong blobId,
//! mailbox or keyword), `blobNotFound` (RFC 8621 §4.6, with `notFound`),
//! `invalidEmail` (the blob is no message), `overQuota`.

use serde_json::{Map, Value, json};

use super::new::{placement, store};
use super::parse::is_message;
use super::types::ImportRequest;
use crate::error::SetError;
use crate::{Ctx, DownloadError, MethodError, arguments};

const FIELDS: [&str; 4] = ["blobId", "mailboxIds", "keywords", "receivedAt"];

pub fn import(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ImportRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.emails.len() > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "{} emails, at most {} (maxObjectsInSet)",
            req.emails.len(),
            ctx.limits.max_objects_in_set
        )));
    }
    let old_state = ctx.state()?;
    if let Some(expected) = &req.if_in_state
        && *expected != old_state
    {
        return Err(MethodError::StateMismatch(expected.clone()));
    }
    let view = ctx.view(&old_state)?;
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (creation_id, object) in req.emails {
        let result = match object.as_object() {
            Some(obj) => import_one(ctx, &view, obj)?,
            None => Err(SetError::new(
                "invalidProperties",
                "an EmailImport is an object",
            )),
        };
        match result {
            Ok(email) => {
                if let Some(id) = email.get("id") {
                    ctx.created
                        .borrow_mut()
                        .insert(creation_id.clone(), id.clone());
                }
                created.insert(creation_id, email);
            }
            Err(e) => {
                not_created.insert(creation_id, e.to_json());
            }
        }
    }
    let or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    Ok(json!({
        "accountId": req.account_id,
        "oldState": old_state,
        "newState": ctx.state()?,
        "created": or_null(created),
        "notCreated": or_null(not_created),
    }))
}

fn import_one(
    ctx: &Ctx<'_>,
    view: &crate::view::AccountView,
    obj: &Map<String, Value>,
) -> Result<Result<Value, SetError>, MethodError> {
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Ok(Err(SetError::invalid_property(
            unknown,
            format!("unknown property {unknown}"),
        )));
    }
    let Some(blob_id) = obj.get("blobId").and_then(Value::as_str) else {
        return Ok(Err(SetError::invalid_property(
            "blobId",
            "blobId is a string, and needed",
        )));
    };
    let placement = match placement(ctx, view, obj) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let Some(blob_id) = super::new::resolve(ctx, blob_id) else {
        return Ok(Err(blob_not_found(blob_id)));
    };
    let blob = match crate::blob::fetch(ctx.store, ctx.account, &blob_id, ctx.limits) {
        Ok(b) => b,
        Err(DownloadError::NotFound) => return Ok(Err(blob_not_found(&blob_id))),
        Err(DownloadError::TooLarge) => {
            return Ok(Err(SetError::new("tooLarge", "the blob is too large")));
        }
        Err(DownloadError::Store(e)) => return Err(e.into()),
    };
    if !is_message(&blob.bytes) {
        return Ok(Err(SetError::new(
            "invalidEmail",
            "the blob is not a message (RFC 5322)",
        )));
    }
    store(ctx, &blob.bytes, placement)
}

/// RFC 8621 §4.6 `blobNotFound`, naming the blob.
pub(crate) fn blob_not_found(blob_id: &str) -> SetError {
    SetError {
        kind: "blobNotFound",
        description: format!("no blob {blob_id} in the account"),
        properties: vec![blob_id.to_string()],
    }
}
