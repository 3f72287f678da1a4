//! Storing a new email for `Email/import`, `Email/set` create and
//! `Email/copy` (RFC 8621 §§4.6-4.8): where it goes (`mailboxIds`,
//! `keywords`, `receivedAt`, checked) and the one store call that puts
//! it there, the same ingest as SMTP delivery and IMAP APPEND (blob
//! fsynced, then the transaction committed, before the response).

use serde_json::{Map, Value, json};
use tidings_store::StoreError;
use tidings_types::{Keyword, MailboxId};

use crate::error::SetError;
use crate::view::{AccountView, store_keyword};
use crate::{Ctx, MethodError, date};

/// Where a new email goes and with which keywords.
#[derive(Debug)]
pub(crate) struct Placement {
    /// Ordinary mailboxes first (the store files the email into the
    /// first, then adds the others).
    pub mailboxes: Vec<MailboxId>,
    pub keywords: Vec<Keyword>,
    /// Unix seconds; now when `None`.
    pub received: Option<i64>,
}

/// A `#creationId` reference resolved from the request's created ids
/// (RFC 8620 §5.3), or the id itself.
pub(crate) fn resolve(ctx: &Ctx<'_>, id: &str) -> Option<String> {
    match id.strip_prefix('#') {
        Some(c) => ctx
            .created
            .borrow()
            .get(c)
            .and_then(Value::as_str)
            .map(str::to_string),
        None => Some(id.to_string()),
    }
}

/// `mailboxIds`, `keywords` and `receivedAt` of a new Email (RFC 8621
/// §4.1.1, §4.1.3), checked against the account's mailboxes.
pub(crate) fn placement(
    ctx: &Ctx<'_>,
    view: &AccountView,
    obj: &Map<String, Value>,
) -> Result<Placement, SetError> {
    let map = obj
        .get("mailboxIds")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            SetError::invalid_property("mailboxIds", "mailboxIds is an object, and needed")
        })?;
    let mut mailboxes: Vec<MailboxId> = Vec::new();
    for (id, flag) in map {
        if *flag != Value::Bool(true) {
            return Err(SetError::invalid_property(
                "mailboxIds",
                "values must be true",
            ));
        }
        let m = resolve(ctx, id)
            .and_then(|s| MailboxId::parse(&s))
            .filter(|m| view.mailbox(*m).is_some())
            .ok_or_else(|| SetError::invalid_property("mailboxIds", format!("no mailbox {id}")))?;
        if !mailboxes.contains(&m) {
            mailboxes.push(m);
        }
    }
    if mailboxes.is_empty() {
        return Err(SetError::invalid_property(
            "mailboxIds",
            "an email must be in at least one mailbox",
        ));
    }
    let is_virtual = |m: &MailboxId| {
        view.mailbox(*m)
            .and_then(|m| m.role)
            .is_some_and(|r| r.is_virtual())
    };
    mailboxes.sort_by_key(is_virtual);
    let keywords = match obj.get("keywords") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => {
            let mut out: Vec<Keyword> = Vec::new();
            for (k, flag) in map {
                if *flag != Value::Bool(true) {
                    return Err(SetError::invalid_property(
                        "keywords",
                        "values must be true",
                    ));
                }
                let k = store_keyword(k).ok_or_else(|| {
                    SetError::invalid_property("keywords", format!("bad keyword {k}"))
                })?;
                if !out
                    .iter()
                    .any(|x| x.as_str().eq_ignore_ascii_case(k.as_str()))
                {
                    out.push(k);
                }
            }
            out
        }
        Some(_) => {
            return Err(SetError::invalid_property(
                "keywords",
                "keywords is an object",
            ));
        }
    };
    let received =
        match obj.get("receivedAt") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(date::parse(s).ok_or_else(|| {
                SetError::invalid_property("receivedAt", "receivedAt is a UTCDate")
            })?),
            Some(_) => {
                return Err(SetError::invalid_property(
                    "receivedAt",
                    "receivedAt is a UTCDate",
                ));
            }
        };
    Ok(Placement {
        mailboxes,
        keywords,
        received,
    })
}

/// Stores `raw` as a new email where `placement` says and returns the
/// created Email's server-set properties (RFC 8621 §4.6: id, blobId,
/// threadId, size). A full quota and the like are the record's error; a
/// failing store is the method's.
pub(crate) fn store(
    ctx: &Ctx<'_>,
    raw: &[u8],
    placement: Placement,
) -> Result<Result<Value, SetError>, MethodError> {
    let appended = ctx.store.import_email(
        ctx.account,
        &placement.mailboxes,
        tidings_store::NewEmail {
            raw,
            keywords: placement.keywords,
            received: placement.received,
        },
    );
    match appended {
        Ok(a) => Ok(Ok(json!({
            "id": a.email.to_string(),
            "blobId": a.email.to_string(),
            "threadId": a.thread.to_string(),
            "size": raw.len(),
        }))),
        Err(e) => set_error(e).map(Err),
    }
}

/// The per-record error a store refusal is (RFC 8620 §5.3, RFC 8621
/// §4.6); other store errors fail the method.
pub(crate) fn set_error(e: StoreError) -> Result<SetError, MethodError> {
    match e {
        e @ StoreError::OverQuota { .. } => Ok(SetError::new("overQuota", e.to_string())),
        StoreError::Refused(why) => Ok(SetError::new("forbidden", why)),
        StoreError::NotFound(what) => Ok(SetError::new("notFound", format!("{what} not found"))),
        e => Err(e.into()),
    }
}
