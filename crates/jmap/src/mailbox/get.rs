//! `Mailbox/get` (RFC 8621 §2.1-2.2).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};
use tidings_store::{Mailbox, Right};
use tidings_types::{MailboxId, MailboxRole, ThreadId};

use super::types::{GetRequest, GetResponse, PROPERTIES};
use crate::view::AccountView;
use crate::{Ctx, MethodError, arguments};

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let properties = select_properties(req.properties.as_deref(), &PROPERTIES)?;
    if let Some(ids) = &req.ids
        && ids.len() > ctx.limits.max_objects_in_get
    {
        return Err(MethodError::RequestTooLarge(format!(
            "{} ids, at most {} (maxObjectsInGet)",
            ids.len(),
            ctx.limits.max_objects_in_get
        )));
    }
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    let wanted: Vec<&Mailbox> = match &req.ids {
        None => view.mailboxes.iter().collect(),
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                match MailboxId::parse(id).and_then(|id| view.mailbox(id)) {
                    Some(m) => out.push(m),
                    None => not_found.push(id.clone()),
                }
            }
            out
        }
    };
    let needs_counts = properties.iter().any(|p| {
        matches!(
            p.as_str(),
            "totalEmails" | "unreadEmails" | "totalThreads" | "unreadThreads"
        )
    });
    let counts = if needs_counts {
        all_counts(&view)
    } else {
        HashMap::new()
    };
    for mailbox in wanted {
        list.push(mailbox_object(&view, &counts, mailbox, &properties));
    }
    let response = GetResponse {
        account_id: req.account_id,
        state,
        list,
        not_found,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// The requested properties (`id` always), or all of `known` when `None`;
/// an unknown one is invalidArguments (RFC 8620 §5.1).
pub fn select_properties(
    requested: Option<&[String]>,
    known: &[&str],
) -> Result<Vec<String>, MethodError> {
    let Some(requested) = requested else {
        return Ok(known.iter().map(|s| s.to_string()).collect());
    };
    let mut out = vec!["id".to_string()];
    for p in requested {
        if !known.contains(&p.as_str()) {
            return Err(MethodError::InvalidArguments(format!(
                "unknown property {p}"
            )));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The role name of RFC 8621 §2 (IANA "IMAP Mailbox Name Attributes").
pub fn role_name(role: MailboxRole) -> &'static str {
    match role {
        MailboxRole::Inbox => "inbox",
        MailboxRole::Drafts => "drafts",
        MailboxRole::Sent => "sent",
        MailboxRole::Junk => "junk",
        MailboxRole::Trash => "trash",
        MailboxRole::Archive => "archive",
        MailboxRole::All => "all",
        MailboxRole::Flagged => "flagged",
    }
}

/// A mailbox's four counts (RFC 8621 §2.1).
#[derive(Default)]
struct Counts {
    total: u64,
    unread: u64,
    threads: BTreeSet<ThreadId>,
    unread_threads: BTreeSet<ThreadId>,
}

/// Every mailbox's counts, in one pass over the account's emails.
fn all_counts(view: &AccountView) -> HashMap<MailboxId, Counts> {
    let mut out: HashMap<MailboxId, Counts> = HashMap::new();
    for info in view.emails.values() {
        let unread = !info.has_keyword("$seen");
        for m in &info.mailboxes {
            let c = out.entry(*m).or_default();
            c.total += 1;
            c.threads.insert(info.thread);
            if unread {
                c.unread += 1;
                c.unread_threads.insert(info.thread);
            }
        }
    }
    out
}

fn mailbox_object(
    view: &AccountView,
    counts: &HashMap<MailboxId, Counts>,
    mailbox: &Mailbox,
    properties: &[String],
) -> Value {
    let (parent_name, name) = super::query::split_name(mailbox);
    let parent_id = parent_name.and_then(|p| {
        view.mailboxes
            .iter()
            .find(|m| m.name.as_str() == p)
            .map(|m| m.id.to_string())
    });
    let (total, unread, threads, unread_threads) =
        counts.get(&mailbox.id).map_or((0, 0, 0, 0), |c| {
            (c.total, c.unread, c.threads.len(), c.unread_threads.len())
        });
    let mut out = Map::new();
    for p in properties {
        let v = match p.as_str() {
            "id" => json!(mailbox.id.to_string()),
            "name" => json!(name),
            "parentId" => json!(parent_id),
            "role" => json!(mailbox.role.map(role_name)),
            "sortOrder" => json!(sort_order(mailbox.role)),
            "totalEmails" => json!(total),
            "unreadEmails" => json!(unread),
            "totalThreads" => json!(threads),
            "unreadThreads" => json!(unread_threads),
            "myRights" => my_rights(view, mailbox),
            "isSubscribed" => json!(view.subscribed(mailbox)),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    Value::Object(out)
}

/// RFC 8621 §2 `myRights`. In the caller's own account: everything but
/// renaming or deleting a standard mailbox. In a shared account, which
/// JMAP serves read-only: reading where the owner granted `r`.
fn my_rights(view: &AccountView, mailbox: &Mailbox) -> Value {
    let own = view.shared.is_none();
    let read = view.rights(mailbox.id).has(Right::Read);
    json!({
        "mayReadItems": read,
        "mayAddItems": own,
        "mayRemoveItems": own,
        "maySetSeen": own,
        "maySetKeywords": own,
        // Mailbox/set: the standard mailboxes stay as they are.
        "mayCreateChild": own,
        "mayRename": own && mailbox.role.is_none(),
        "mayDelete": own && mailbox.role.is_none(),
        "maySubmit": false,
    })
}

/// Standard mailboxes first, in the order of a new account; the rest after,
/// by name (RFC 8621 §2.1: equal sortOrder sorts by name).
pub fn sort_order(role: Option<MailboxRole>) -> u32 {
    match role {
        Some(r) => {
            MailboxRole::ALL
                .iter()
                .position(|x| *x == r)
                .map_or(100, |i| i as u32 + 1)
                * 10
        }
        None => 100,
    }
}
