//! `Mailbox/set` (RFC 8621 §2.5): create, rename or move (`name`,
//! `parentId`), (un)subscribe, destroy.
//!
//! Implementation notes:
//! - A JMAP name is one level of the store's hierarchical name, so it may
//!   not contain the separator `/`; the full name is the parent's plus the
//!   name. Renaming or moving a mailbox moves its children with it
//!   (the store's rename).
//! - Mailboxes with a role (INBOX, Drafts, …, All Mail, Starred) cannot be
//!   renamed, moved or destroyed (`forbidden`), and no role can be given
//!   or changed: the standard mailboxes are made with the account.
//! - Destroying a mailbox that holds emails needs `onDestroyRemoveEmails`
//!   (else `mailboxHasEmail`); the emails lose that mailbox and follow the
//!   account's leave policy, as after IMAP DELETE. One with children is
//!   `mailboxHasChild`.
//! - `parentId` may name a mailbox created earlier in the same call
//!   (`#creationId`, RFC 8620 §5.3).

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tidings_store::{Mailbox, StoreError};
use tidings_types::{MailboxId, MailboxName, SEPARATOR};

use super::types::SetRequest;
use crate::error::SetError;
use crate::{Ctx, MethodError, arguments};

/// The properties a client may set.
const SETTABLE: [&str; 5] = ["name", "parentId", "isSubscribed", "sortOrder", "role"];

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
    let old_state = ctx.state()?;
    if let Some(expected) = &req.if_in_state
        && *expected != old_state
    {
        return Err(MethodError::StateMismatch(expected.clone()));
    }
    // Creation ids of earlier calls of the request (and the client's own
    // createdIds) that name mailboxes, then this call's.
    let mut created_ids: HashMap<String, MailboxId> = ctx
        .created
        .borrow()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), MailboxId::parse(v.as_str()?)?)))
        .collect();
    let mut out = Map::new();
    out.insert("accountId".into(), json!(req.account_id));
    out.insert("oldState".into(), json!(old_state));

    if let Some(create) = req.create {
        let mut created = Map::new();
        let mut not_created = Map::new();
        // A parent made in the same call first, whatever the order of the
        // object's members (RFC 8620 §5.3: creation ids may be referenced).
        let mut pending: Vec<(String, Value)> = create.into_iter().collect();
        let mut ordered = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let waits = |o: &Value, pending: &[(String, Value)]| {
                o.get("parentId")
                    .and_then(Value::as_str)
                    .and_then(|p| p.strip_prefix('#'))
                    .is_some_and(|c| pending.iter().any(|(id, _)| id == c))
            };
            let before = pending.len();
            let mut i = 0;
            while i < pending.len() {
                if waits(&pending[i].1, &pending) {
                    i += 1;
                } else {
                    ordered.push(pending.remove(i));
                }
            }
            if pending.len() == before {
                // A cycle: they fail on their unknown parent.
                ordered.append(&mut pending);
            }
        }
        for (cid, object) in ordered {
            match create_one(ctx, &object, &created_ids) {
                Ok(id) => {
                    created_ids.insert(cid.clone(), id);
                    ctx.created
                        .borrow_mut()
                        .insert(cid.clone(), json!(id.to_string()));
                    created.insert(
                        cid,
                        json!({
                            "id": id.to_string(),
                            "totalEmails": 0, "unreadEmails": 0,
                            "totalThreads": 0, "unreadThreads": 0,
                            "sortOrder": super::get::sort_order(None),
                        }),
                    );
                }
                Err(e) => {
                    not_created.insert(cid, e.to_json());
                }
            }
        }
        out.insert("created".into(), Value::Object(created));
        out.insert("notCreated".into(), Value::Object(not_created));
    }
    if let Some(update) = req.update {
        let mut updated = Map::new();
        let mut not_updated = Map::new();
        for (id, patch) in update {
            match update_one(ctx, &id, &patch, &created_ids) {
                Ok(()) => {
                    updated.insert(id, Value::Null);
                }
                Err(e) => {
                    not_updated.insert(id, e.to_json());
                }
            }
        }
        out.insert("updated".into(), Value::Object(updated));
        out.insert("notUpdated".into(), Value::Object(not_updated));
    }
    if let Some(destroy) = req.destroy {
        let mut destroyed = Vec::new();
        let mut not_destroyed = Map::new();
        for id in destroy {
            match destroy_one(ctx, &id, req.on_destroy_remove_emails) {
                Ok(()) => destroyed.push(json!(id)),
                Err(e) => {
                    not_destroyed.insert(id, e.to_json());
                }
            }
        }
        out.insert("destroyed".into(), Value::Array(destroyed));
        out.insert("notDestroyed".into(), Value::Object(not_destroyed));
    }
    out.insert("newState".into(), json!(ctx.state()?));
    Ok(Value::Object(out))
}

fn store_error(e: StoreError) -> SetError {
    match e {
        StoreError::AlreadyExists(_) => {
            SetError::invalid_property("name", "a mailbox has that name")
        }
        StoreError::BadMailboxName(e) => SetError::invalid_property("name", e.to_string()),
        StoreError::NotFound(what) => SetError::new("notFound", format!("{what} not found")),
        StoreError::Refused(why) => SetError::new("forbidden", why),
        e => {
            tracing::warn!("Mailbox/set: {e}");
            SetError::new("forbidden", e.to_string())
        }
    }
}

fn mailboxes(ctx: &Ctx<'_>) -> Result<Vec<Mailbox>, SetError> {
    ctx.store.mailboxes(ctx.account).map_err(store_error)
}

/// The mailbox an id (or `#creationId`) names.
fn resolve(all: &[Mailbox], id: &str, created: &HashMap<String, MailboxId>) -> Option<Mailbox> {
    let id = match id.strip_prefix('#') {
        Some(cid) => *created.get(cid)?,
        None => MailboxId::parse(id)?,
    };
    all.iter().find(|m| m.id == id).cloned()
}

/// The full name for `name` under `parent` (RFC 8621 §2.5: name checks).
fn full_name(parent: Option<&Mailbox>, name: &str) -> Result<MailboxName, SetError> {
    if name.is_empty() || name.contains(SEPARATOR) {
        return Err(SetError::invalid_property(
            "name",
            format!("a name is not empty and has no {SEPARATOR}"),
        ));
    }
    let full = match parent {
        Some(p) => format!("{}{SEPARATOR}{name}", p.name.as_str()),
        None => name.to_string(),
    };
    MailboxName::new(&full).map_err(|e| SetError::invalid_property("name", e.to_string()))
}

/// `parentId` of a create or update: `Ok(None)` for top level.
fn parent(
    all: &[Mailbox],
    v: Option<&Value>,
    created: &HashMap<String, MailboxId>,
) -> Result<Option<Mailbox>, SetError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => resolve(all, id, created)
            .map(Some)
            .ok_or_else(|| SetError::invalid_property("parentId", format!("no mailbox {id}"))),
        Some(_) => Err(SetError::invalid_property(
            "parentId",
            "parentId is an id or null",
        )),
    }
}

fn check_properties(object: &Map<String, Value>) -> Result<(), SetError> {
    for (k, v) in object {
        if !SETTABLE.contains(&k.as_str()) {
            return Err(SetError::invalid_property(k, "not a settable property"));
        }
        if k == "role" && !v.is_null() {
            return Err(SetError::invalid_property("role", "roles cannot be given"));
        }
        if k == "isSubscribed" && !v.is_boolean() {
            return Err(SetError::invalid_property(k, "a boolean"));
        }
    }
    Ok(())
}

fn create_one(
    ctx: &Ctx<'_>,
    object: &Value,
    created: &HashMap<String, MailboxId>,
) -> Result<MailboxId, SetError> {
    let object = object
        .as_object()
        .ok_or_else(|| SetError::new("invalidProperties", "a Mailbox is an object"))?;
    check_properties(object)?;
    let all = mailboxes(ctx)?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SetError::invalid_property("name", "name is required"))?;
    let parent = parent(&all, object.get("parentId"), created)?;
    let full = full_name(parent.as_ref(), name)?;
    let id = ctx
        .store
        .create_mailbox(ctx.account, &full, None)
        .map_err(store_error)?;
    let subscribe = object
        .get("isSubscribed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ctx.store
        .set_subscribed(ctx.account, &full, subscribe)
        .map_err(store_error)?;
    Ok(id)
}

fn update_one(
    ctx: &Ctx<'_>,
    id: &str,
    patch: &Value,
    created: &HashMap<String, MailboxId>,
) -> Result<(), SetError> {
    let patch = patch
        .as_object()
        .ok_or_else(|| SetError::new("invalidPatch", "a patch is an object"))?;
    check_properties(patch)?;
    let all = mailboxes(ctx)?;
    let mailbox =
        resolve(&all, id, created).ok_or_else(|| SetError::new("notFound", "no such mailbox"))?;
    let moves = patch.contains_key("name") || patch.contains_key("parentId");
    if moves {
        if mailbox.role.is_some() {
            return Err(SetError::new(
                "forbidden",
                "a mailbox with a role cannot be renamed or moved",
            ));
        }
        let (current_parent, current_leaf) = super::query::split_name(&mailbox);
        let leaf = match patch.get("name") {
            Some(Value::String(n)) => n.as_str(),
            Some(_) => return Err(SetError::invalid_property("name", "a name is a string")),
            None => current_leaf,
        };
        let new_parent = if patch.contains_key("parentId") {
            parent(&all, patch.get("parentId"), created)?
        } else {
            current_parent.and_then(|p| all.iter().find(|m| m.name.as_str() == p).cloned())
        };
        if let Some(p) = &new_parent
            && (p.id == mailbox.id || p.name.is_inside(&mailbox.name))
        {
            return Err(SetError::invalid_property(
                "parentId",
                "a mailbox cannot move inside itself",
            ));
        }
        let full = full_name(new_parent.as_ref(), leaf)?;
        if full != mailbox.name {
            ctx.store
                .rename_mailbox(ctx.account, &mailbox.name, &full)
                .map_err(store_error)?;
        }
    }
    if let Some(sub) = patch.get("isSubscribed").and_then(Value::as_bool) {
        let name = mailboxes(ctx)?
            .into_iter()
            .find(|m| m.id == mailbox.id)
            .map(|m| m.name)
            .ok_or_else(|| SetError::new("notFound", "no such mailbox"))?;
        ctx.store
            .set_subscribed(ctx.account, &name, sub)
            .map_err(store_error)?;
    }
    Ok(())
}

fn destroy_one(ctx: &Ctx<'_>, id: &str, remove_emails: bool) -> Result<(), SetError> {
    let all = mailboxes(ctx)?;
    let mailbox = MailboxId::parse(id)
        .and_then(|id| all.iter().find(|m| m.id == id))
        .ok_or_else(|| SetError::new("notFound", "no such mailbox"))?;
    if mailbox.role.is_some() {
        return Err(SetError::new(
            "forbidden",
            "a mailbox with a role cannot be destroyed",
        ));
    }
    if all
        .iter()
        .any(|m| m.name.parent().as_ref() == Some(&mailbox.name))
    {
        return Err(SetError::new("mailboxHasChild", "the mailbox has children"));
    }
    let counts = ctx
        .store
        .mailbox_counts(ctx.account, mailbox.id)
        .map_err(store_error)?;
    if counts.messages > 0 && !remove_emails {
        return Err(SetError::new(
            "mailboxHasEmail",
            "the mailbox holds emails (onDestroyRemoveEmails removes them)",
        ));
    }
    ctx.store
        .delete_mailbox(ctx.account, &mailbox.name)
        .map_err(store_error)
}
