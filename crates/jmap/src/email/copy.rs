//! `Email/copy` (RFC 8621 §4.7, RFC 8620 §5.4): copies emails of another
//! account that shares mailboxes with the caller (IMAP ACL, RFC 4314)
//! into the caller's own account, with `onSuccessDestroyOriginal`.
//!
//! Implementation notes:
//! - The accounts a caller may copy from are those that share at least
//!   one mailbox with it (`tidings_store::Backend::shared_mailboxes`);
//!   any other `fromAccountId` is `fromAccountNotFound`, the caller's own
//!   included (RFC 8620 §5.4: the two accounts differ). The destination
//!   is the caller's own account (`accountNotFound` otherwise).
//! - An email may be copied if it is in a mailbox the caller may read
//!   (`r`); any other id is `notFound`, so nothing tells a caller what
//!   it may not see. `keywords` and `receivedAt` default to the
//!   original's; `mailboxIds` is needed.
//! - `onSuccessDestroyOriginal` is an implicit `Email/set` destroy in
//!   the source account, answered after this call's response; it needs
//!   the rights to delete (`t`) and expunge (`e`) in every mailbox the
//!   original is in (All Mail and Starred aside: their members follow
//!   from rules), else that original is `forbidden` in `notDestroyed`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tidings_store::Right;
use tidings_types::{AccountId, EmailId, MailboxId};

use super::new::{placement, store};
use super::types::{CopyRequest, SetResponse};
use crate::error::SetError;
use crate::view::{AccountView, EmailInfo, jmap_keyword};
use crate::{Ctx, MethodError, arguments, date};

const FIELDS: [&str; 4] = ["id", "mailboxIds", "keywords", "receivedAt"];

pub fn copy(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: CopyRequest = arguments(args)?;
    let from = AccountId::parse(&req.from_account_id)
        .filter(|f| *f != ctx.account)
        .filter(|f| {
            ctx.store
                .shared_mailboxes(ctx.account)
                .is_ok_and(|list| list.iter().any(|s| s.mailbox.account == *f))
        })
        .ok_or_else(|| MethodError::FromAccountNotFound(req.from_account_id.clone()))?;
    ctx.check_account(&req.account_id)?;
    if req.create.len() > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "{} emails, at most {} (maxObjectsInSet)",
            req.create.len(),
            ctx.limits.max_objects_in_set
        )));
    }
    let from_state = account_state(ctx, from)?;
    if let Some(expected) = &req.if_from_in_state
        && *expected != from_state
    {
        return Err(MethodError::StateMismatch(expected.clone()));
    }
    let old_state = ctx.state()?;
    if let Some(expected) = &req.if_in_state
        && *expected != old_state
    {
        return Err(MethodError::StateMismatch(expected.clone()));
    }
    let view = ctx.view(&old_state)?;
    let source = AccountView::load(ctx.store, from)?;
    let mut rights = Rights {
        ctx,
        known: HashMap::new(),
    };
    let mut created = Map::new();
    let mut not_created = Map::new();
    let mut copied: Vec<(String, EmailId)> = Vec::new();
    for (creation_id, object) in req.create {
        let result = match object.as_object() {
            Some(obj) => copy_one(ctx, &view, &source, &mut rights, from, obj)?,
            None => Err(SetError::new("invalidProperties", "an Email is an object")),
        };
        match result {
            Ok((email, original)) => {
                if let Some(id) = email.get("id") {
                    ctx.created
                        .borrow_mut()
                        .insert(creation_id.clone(), id.clone());
                }
                created.insert(creation_id, email);
                copied.push((original.to_string(), original));
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
    let response = json!({
        "fromAccountId": req.from_account_id,
        "accountId": req.account_id,
        "oldState": old_state,
        "newState": ctx.state()?,
        "created": or_null(created),
        "notCreated": or_null(not_created),
    });
    if req.on_success_destroy_original && !copied.is_empty() {
        let implicit = destroy_originals(
            ctx,
            &source,
            &mut rights,
            from,
            &req.from_account_id,
            req.destroy_from_if_in_state.as_deref(),
            copied,
        )?;
        ctx.implicit
            .borrow_mut()
            .push(("Email/set".to_string(), implicit));
    }
    Ok(response)
}

/// The caller's rights on mailboxes of the source account, asked once.
struct Rights<'a, 'c> {
    ctx: &'a Ctx<'c>,
    known: HashMap<MailboxId, tidings_store::Rights>,
}

impl Rights<'_, '_> {
    fn has(&mut self, mailbox: MailboxId, right: Right) -> Result<bool, MethodError> {
        if let Some(r) = self.known.get(&mailbox) {
            return Ok(r.has(right));
        }
        let r = match self.ctx.store.my_rights(self.ctx.account, mailbox) {
            Ok(r) => r,
            Err(tidings_store::StoreError::NotFound(_)) => tidings_store::Rights::default(),
            Err(e) => return Err(e.into()),
        };
        self.known.insert(mailbox, r);
        Ok(r.has(right))
    }
}

fn account_state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
    let a = ctx
        .store
        .account_by_id(account)?
        .ok_or_else(|| MethodError::FromAccountNotFound(account.to_string()))?;
    Ok(a.modseq.0.to_string())
}

/// The original `id` names if the caller may read it.
fn readable<'v>(
    source: &'v AccountView,
    rights: &mut Rights<'_, '_>,
    id: &str,
) -> Result<Option<(EmailId, &'v EmailInfo)>, MethodError> {
    let Some((email, info)) =
        EmailId::parse(id).and_then(|e| source.emails.get(&e).map(|i| (e, i)))
    else {
        return Ok(None);
    };
    for m in &info.mailboxes {
        if rights.has(*m, Right::Read)? {
            return Ok(Some((email, info)));
        }
    }
    Ok(None)
}

fn copy_one(
    ctx: &Ctx<'_>,
    view: &AccountView,
    source: &AccountView,
    rights: &mut Rights<'_, '_>,
    from: AccountId,
    obj: &Map<String, Value>,
) -> Result<Result<(Value, EmailId), SetError>, MethodError> {
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Ok(Err(SetError::invalid_property(
            unknown,
            format!("{unknown} cannot be set by Email/copy"),
        )));
    }
    let Some(id) = obj.get("id").and_then(Value::as_str) else {
        return Ok(Err(SetError::invalid_property("id", "id is needed")));
    };
    let Some((email, info)) = readable(source, rights, id)? else {
        return Ok(Err(SetError::new("notFound", format!("no email {id}"))));
    };
    // RFC 8620 §5.4: what is not given is the original's.
    let mut obj = obj.clone();
    obj.entry("keywords").or_insert_with(|| {
        Value::Object(
            info.keywords
                .iter()
                .filter(|k| !k.is_deleted())
                .map(|k| (jmap_keyword(k), Value::Bool(true)))
                .collect(),
        )
    });
    obj.entry("receivedAt")
        .or_insert_with(|| json!(date::utc(info.received)));
    let placement = match placement(ctx, view, &obj) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let raw = ctx.store.email_raw(from, email)?;
    Ok(store(ctx, &raw, placement)?.map(|created| (created, email)))
}

/// The implicit `Email/set` destroy of the originals (RFC 8620 §5.4).
fn destroy_originals(
    ctx: &Ctx<'_>,
    source: &AccountView,
    rights: &mut Rights<'_, '_>,
    from: AccountId,
    from_account_id: &str,
    if_in_state: Option<&str>,
    originals: Vec<(String, EmailId)>,
) -> Result<Value, MethodError> {
    let old_state = account_state(ctx, from)?;
    if let Some(expected) = if_in_state
        && expected != old_state
    {
        return Ok(MethodError::StateMismatch(expected.to_string()).to_json());
    }
    let mut destroyed = Vec::new();
    let mut ids = Vec::new();
    let mut not_destroyed = Map::new();
    for (id, email) in originals {
        let is_virtual = |m: &MailboxId| {
            source
                .mailbox(*m)
                .and_then(|m| m.role)
                .is_some_and(|r| r.is_virtual())
        };
        let mailboxes: Vec<MailboxId> = source
            .emails
            .get(&email)
            .map(|i| {
                i.mailboxes
                    .iter()
                    .copied()
                    .filter(|m| !is_virtual(m))
                    .collect()
            })
            .unwrap_or_default();
        let mut allowed = !mailboxes.is_empty();
        for m in &mailboxes {
            allowed &= rights.has(*m, Right::DeleteMessages)? && rights.has(*m, Right::Expunge)?;
        }
        if allowed && !ids.contains(&email) {
            ids.push(email);
            destroyed.push(id);
        } else if !allowed {
            not_destroyed.insert(
                id,
                SetError::new(
                    "forbidden",
                    "no right to delete and expunge it in all its mailboxes",
                )
                .to_json(),
            );
        }
    }
    if !ids.is_empty() {
        ctx.store.destroy_emails(from, &ids)?;
    }
    let response = SetResponse {
        account_id: from_account_id.to_string(),
        old_state,
        new_state: account_state(ctx, from)?,
        destroyed: Some(destroyed),
        not_destroyed: Some(not_destroyed),
        ..SetResponse::default()
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
