//! `Mailbox/changes` (RFC 8621 §2.2, RFC 8620 §5.2) from the store's change
//! log. The log records that a mailbox changed, not whether it was created
//! or updated, so a mailbox that exists now is reported as updated (a
//! client fetches an unknown id it is told about either way) and one gone
//! as destroyed.

use serde_json::{Map, Value};
use tidings_types::{MailboxId, ModSeq};

use super::types::{ChangesRequest, ChangesResponse};
use crate::{Ctx, MethodError, arguments};

pub fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let since = parse_state(&req.since_state)?;
    let changes = ctx.store.changes_since(ctx.account, since)?;
    if since > changes.new_modseq {
        return Err(MethodError::CannotCalculateChanges(req.since_state));
    }
    check_max_changes(
        req.max_changes,
        changes.mailboxes_changed.len() + changes.mailboxes_destroyed.len(),
    )?;
    // Counts (totalEmails …) change with the emails: any email change
    // reports every mailbox as updated, with only the counts changed when
    // nothing else did (RFC 8621 §2.2 updatedProperties).
    let emails_changed =
        !(changes.created.is_empty() && changes.updated.is_empty() && changes.destroyed.is_empty());
    let mut updated: Vec<MailboxId> = changes.mailboxes_changed.clone();
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
        for m in ctx.store.mailboxes(ctx.account)? {
            if !updated.contains(&m.id) {
                updated.push(m.id);
            }
        }
    }
    let response = ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: changes.new_modseq.0.to_string(),
        has_more_changes: false,
        created: Vec::new(),
        updated: updated.iter().map(|m| m.to_string()).collect(),
        destroyed: changes
            .mailboxes_destroyed
            .iter()
            .map(|m| m.to_string())
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

/// `maxChanges` (RFC 8620 §5.2): the log gives no intermediate state to
/// stop at, so more changes than allowed cannot be split; the client is
/// told to resync (cannotCalculateChanges) rather than given too many.
pub fn check_max_changes(max: Option<u64>, count: usize) -> Result<(), MethodError> {
    match max {
        Some(0) => Err(MethodError::InvalidArguments(
            "maxChanges must be positive".into(),
        )),
        Some(max) if count as u64 > max => Err(MethodError::CannotCalculateChanges(format!(
            "{count} changes, more than maxChanges {max}"
        ))),
        _ => Ok(()),
    }
}
