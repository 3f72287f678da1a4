//! `Email/set` (RFC 8621 §4.6, RFC 8620 §5.3): create (a message built
//! from the Email object by [`super::build`], stored like an import),
//! updates of `keywords` and `mailboxIds` (whole or by patch path) and
//! destroy.
//!
//! Implementation notes:
//! - Each record is checked whole before anything is written, so a
//!   refused update changes nothing.
//! - All Mail and Starred follow rules (DESIGN.md): replacing `mailboxIds`
//!   wholesale never takes an email out of them (a client that does not
//!   know them would otherwise trash or unflag mail); naming them in a
//!   patch (`mailboxIds/F7: null`) does what IMAP's expunge there does.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_types::{EmailId, Keyword, MailboxId};

use super::types::{SetRequest, SetResponse};
use crate::error::SetError;
use crate::view::{AccountView, EmailInfo, store_keyword};
use crate::{Ctx, MethodError, arguments};

/// What one update does.
#[derive(Debug, Default)]
struct Change {
    add_keywords: Vec<Keyword>,
    remove_keywords: Vec<Keyword>,
    add_mailboxes: Vec<MailboxId>,
    remove_mailboxes: Vec<MailboxId>,
}

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
    let view = ctx.view(&old_state)?;
    let mut response = SetResponse {
        account_id: req.account_id.clone(),
        old_state: old_state.clone(),
        ..SetResponse::default()
    };
    if let Some(create) = req.create {
        let mut created = Map::new();
        let mut not_created = Map::new();
        for (creation_id, object) in create {
            match create_one(ctx, &view, &object)? {
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
        response.created = Some(created);
        response.not_created = Some(not_created);
    }
    if let Some(update) = req.update {
        let mut updated = Map::new();
        let mut not_updated = Map::new();
        for (id, patch) in update {
            let target = EmailId::parse(&id).and_then(|e| view.emails.get(&e).map(|i| (e, i)));
            let Some((email, info)) = target else {
                not_updated.insert(id, SetError::new("notFound", "no such email").to_json());
                continue;
            };
            let change = match plan(&view, info, &patch) {
                Ok(c) => c,
                Err(e) => {
                    not_updated.insert(id, e.to_json());
                    continue;
                }
            };
            if !change.add_keywords.is_empty() || !change.remove_keywords.is_empty() {
                ctx.store.set_email_keywords(
                    ctx.account,
                    &[email],
                    &change.add_keywords,
                    &change.remove_keywords,
                )?;
            }
            if !change.add_mailboxes.is_empty() || !change.remove_mailboxes.is_empty() {
                ctx.store.set_email_mailboxes(
                    ctx.account,
                    &[email],
                    &change.add_mailboxes,
                    &change.remove_mailboxes,
                )?;
            }
            updated.insert(id, Value::Null);
        }
        response.updated = Some(updated);
        response.not_updated = Some(not_updated);
    }
    if let Some(destroy) = req.destroy {
        let mut gone = Vec::new();
        let mut ids = Vec::new();
        let mut not_destroyed = Map::new();
        for id in destroy {
            match EmailId::parse(&id).filter(|e| view.emails.contains_key(e)) {
                Some(e) if !ids.contains(&e) => {
                    ids.push(e);
                    gone.push(id);
                }
                _ => {
                    not_destroyed.insert(id, SetError::new("notFound", "no such email").to_json());
                }
            }
        }
        if !ids.is_empty() {
            ctx.store.destroy_emails(ctx.account, &ids)?;
        }
        response.destroyed = Some(gone);
        response.not_destroyed = Some(not_destroyed);
    }
    response.new_state = ctx.state()?;
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// Builds and stores one new email; `Err` inside is the record's error.
fn create_one(
    ctx: &Ctx<'_>,
    view: &AccountView,
    object: &Value,
) -> Result<Result<Value, SetError>, MethodError> {
    let Some(obj) = object.as_object() else {
        return Ok(Err(SetError::new(
            "invalidProperties",
            "an Email is an object",
        )));
    };
    let placement = match super::new::placement(ctx, view, obj) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let raw = match super::build::message(ctx, obj) {
        Ok(raw) => raw,
        Err(super::build::Fail::Set(e)) => return Ok(Err(e)),
        Err(super::build::Fail::Method(e)) => return Err(e),
    };
    super::new::store(ctx, &raw, placement)
}

/// A keyword map's keys (values must be `true`, RFC 8621 §4.1.1).
fn keyword_set(v: &Value) -> Result<Vec<Keyword>, SetError> {
    let map = v
        .as_object()
        .ok_or_else(|| SetError::invalid_property("keywords", "keywords must be an object"))?;
    let mut out = Vec::new();
    for (k, flag) in map {
        if *flag != Value::Bool(true) {
            return Err(SetError::invalid_property(
                "keywords",
                "values must be true",
            ));
        }
        out.push(
            store_keyword(k).ok_or_else(|| {
                SetError::invalid_property("keywords", format!("bad keyword {k}"))
            })?,
        );
    }
    Ok(out)
}

fn mailbox_id(view: &AccountView, s: &str) -> Result<MailboxId, SetError> {
    MailboxId::parse(s)
        .filter(|id| view.mailbox(*id).is_some())
        .ok_or_else(|| SetError::invalid_property("mailboxIds", format!("no mailbox {s}")))
}

fn plan(view: &AccountView, info: &EmailInfo, patch: &Value) -> Result<Change, SetError> {
    let patch = patch
        .as_object()
        .ok_or_else(|| SetError::new("invalidPatch", "a patch is an object"))?;
    let current_keywords: Vec<&Keyword> =
        info.keywords.iter().filter(|k| !k.is_deleted()).collect();
    let mut keywords: Vec<Keyword> = current_keywords.iter().map(|k| (*k).clone()).collect();
    let mut mailboxes: BTreeSet<MailboxId> = info.mailboxes.clone();
    let is_virtual = |m: &MailboxId| {
        view.mailbox(*m)
            .and_then(|m| m.role)
            .is_some_and(|r| r.is_virtual())
    };
    for (path, value) in patch {
        match path.split_once('/') {
            None if path == "keywords" => keywords = keyword_set(value)?,
            None if path == "mailboxIds" => {
                let map = value.as_object().ok_or_else(|| {
                    SetError::invalid_property("mailboxIds", "mailboxIds must be an object")
                })?;
                let mut new = BTreeSet::new();
                for (id, flag) in map {
                    if *flag != Value::Bool(true) {
                        return Err(SetError::invalid_property(
                            "mailboxIds",
                            "values must be true",
                        ));
                    }
                    new.insert(mailbox_id(view, id)?);
                }
                // RFC 8621 §4.1.1: an email is in at least one mailbox.
                if new.is_empty() {
                    return Err(SetError::invalid_property(
                        "mailboxIds",
                        "an email must be in at least one mailbox",
                    ));
                }
                // Rule-driven mailboxes stay as they are (module notes).
                new.extend(info.mailboxes.iter().filter(|m| is_virtual(m)));
                mailboxes = new;
            }
            Some(("keywords", k)) => {
                let k = store_keyword(&unescape(k))
                    .ok_or_else(|| SetError::invalid_property("keywords", "bad keyword"))?;
                keywords.retain(|x| !x.as_str().eq_ignore_ascii_case(k.as_str()));
                match value {
                    Value::Bool(true) => keywords.push(k),
                    Value::Null => {}
                    _ => {
                        return Err(SetError::invalid_property(
                            "keywords",
                            "a keyword patch is true or null",
                        ));
                    }
                }
            }
            Some(("mailboxIds", m)) => {
                let m = mailbox_id(view, &unescape(m))?;
                match value {
                    Value::Bool(true) => {
                        mailboxes.insert(m);
                    }
                    Value::Null => {
                        mailboxes.remove(&m);
                    }
                    _ => {
                        return Err(SetError::invalid_property(
                            "mailboxIds",
                            "a mailbox patch is true or null",
                        ));
                    }
                }
            }
            _ => {
                let property = path.split('/').next().unwrap_or(path);
                return Err(SetError::invalid_property(
                    property,
                    "only keywords and mailboxIds can be changed",
                ));
            }
        }
    }
    // RFC 8621 §4.1.1: an email is in at least one mailbox.
    if mailboxes.is_empty() {
        return Err(SetError::invalid_property(
            "mailboxIds",
            "an email must be in at least one mailbox",
        ));
    }
    let has = |set: &[Keyword], k: &Keyword| {
        set.iter()
            .any(|x| x.as_str().eq_ignore_ascii_case(k.as_str()))
    };
    let current: Vec<Keyword> = current_keywords.into_iter().cloned().collect();
    Ok(Change {
        add_keywords: keywords
            .iter()
            .filter(|k| !has(&current, k))
            .cloned()
            .collect(),
        remove_keywords: current
            .iter()
            .filter(|k| !has(&keywords, k))
            .cloned()
            .collect(),
        add_mailboxes: mailboxes.difference(&info.mailboxes).copied().collect(),
        remove_mailboxes: info.mailboxes.difference(&mailboxes).copied().collect(),
    })
}

/// A patch path segment (RFC 6901 escaping, RFC 8620 §5.3).
fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}
