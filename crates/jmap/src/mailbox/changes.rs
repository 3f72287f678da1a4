//! `Mailbox/changes` (RFC 8621 §2.2, RFC 8620 §5.2) from the store's change
//! log. The log records that a mailbox changed, not whether it was created
//! or updated, so a mailbox that exists now is reported as updated (a
//! client fetches an unknown id it is told about either way) and one gone
//! as destroyed. Split at `maxChanges` by [`crate::changes::window`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_store::ChangeKind;
use tidings_types::{MailboxId, ModSeq};

use super::types::{ChangesRequest, ChangesResponse};
use crate::changes::window;
use crate::{Ctx, MethodError, arguments};

pub fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let mailboxes = ctx.store.mailboxes(ctx.account)?;
    // Counts (totalEmails …) change with the emails: any email change
    // reports every mailbox as updated, with only the counts changed when
    // nothing else did (RFC 8621 §2.2 updatedProperties).
    let w = window(ctx, &req.since_state, req.max_changes, |c, out| {
        match c.kind {
            ChangeKind::MailboxChanged | ChangeKind::MailboxDestroyed => out.push(c.object),
            ChangeKind::EmailCreated | ChangeKind::EmailUpdated | ChangeKind::EmailDestroyed => {
                out.extend(mailboxes.iter().map(|m| m.id.0));
            }
            ChangeKind::ThreadChanged => {}
        }
    })?;
    let (mut changed, mut destroyed) = (BTreeSet::new(), BTreeSet::new());
    let mut emails_changed = false;
    for c in &w.entries {
        match c.kind {
            ChangeKind::MailboxChanged => {
                changed.insert(c.object);
            }
            ChangeKind::MailboxDestroyed => {
                changed.remove(&c.object);
                destroyed.insert(c.object);
            }
            ChangeKind::ThreadChanged => {}
            _ => emails_changed = true,
        }
    }
    let mut updated: Vec<MailboxId> = changed.iter().map(|i| MailboxId(*i)).collect();
    let mut updated_properties = None;
    if emails_changed {
        if updated.is_empty() {
            updated_properties = Some(
                [
                    "totalEmails",
                    "unreadEmails",
                    "totalThreads",
                    "unreadThreads",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        for m in &mailboxes {
            if !updated.contains(&m.id) {
                updated.push(m.id);
            }
        }
    }
    let response = ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: w.new_state.0.to_string(),
        has_more_changes: w.has_more,
        created: Vec::new(),
        updated: updated.iter().map(|m| m.to_string()).collect(),
        destroyed: destroyed
            .iter()
            .map(|m| MailboxId(*m).to_string())
            .collect(),
        updated_properties,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// A state string is the account's MODSEQ in decimal.
pub fn parse_state(state: &str) -> Result<ModSeq, MethodError> {
    if state.is_empty() || !state.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MethodError::CannotCalculateChanges(state.to_string()));
    }
    state
        .parse()
        .map(ModSeq)
        .map_err(|_| MethodError::CannotCalculateChanges(state.to_string()))
}
