//! `Blob/copy` (RFC 8620 §6.3): copies blobs from one account to another.
//!
//! Each user has one account today, so the only account a caller can
//! name is its own: another `fromAccountId` is `fromAccountNotFound`,
//! another `accountId` `accountNotFound` (§6.3). Copying within the
//! account gives each blob that exists under its own id (blobs are
//! immutable, so the copy may be the same blob), and `notFound` in
//! `notCopied` for the others.

use serde_json::{Map, Value, json};
use tidings_types::AccountId;

use super::types::CopyRequest;
use crate::error::{MethodError, SetError};
use crate::{Ctx, arguments};

pub fn copy(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: CopyRequest = arguments(args)?;
    if AccountId::parse(&req.from_account_id) != Some(ctx.account) {
        return Err(MethodError::FromAccountNotFound(req.from_account_id));
    }
    ctx.check_account(&req.account_id)?;
    if req.blob_ids.len() > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} blobs",
            ctx.limits.max_objects_in_set
        )));
    }
    let mut copied = Map::new();
    let mut not_copied = Map::new();
    for id in req.blob_ids {
        if super::exists(ctx.store, ctx.account, &id, ctx.limits)? {
            copied.insert(id.clone(), json!(id));
        } else {
            not_copied.insert(
                id.clone(),
                SetError::new("notFound", format!("no blob {id} in the account")).to_json(),
            );
        }
    }
    Ok(json!({
        "fromAccountId": req.from_account_id,
        "accountId": req.account_id,
        "copied": if copied.is_empty() { Value::Null } else { Value::Object(copied) },
        "notCopied": if not_copied.is_empty() { Value::Null } else { Value::Object(not_copied) },
    }))
}
