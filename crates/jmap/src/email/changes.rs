//! `Email/changes` (RFC 8621 §4.3, RFC 8620 §5.2): straight from the
//! store's change log, so a flag set over IMAP is reported like one set
//! over JMAP.

use serde_json::{Map, Value};

use crate::mailbox::changes::{check_max_changes, parse_state};
use crate::mailbox::types::{ChangesRequest, ChangesResponse};
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
        changes.created.len() + changes.updated.len() + changes.destroyed.len(),
    )?;
    let ids = |v: &[tidings_types::EmailId]| v.iter().map(|i| i.to_string()).collect();
    let response = ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: changes.new_modseq.0.to_string(),
        has_more_changes: false,
        created: ids(&changes.created),
        updated: ids(&changes.updated),
        destroyed: ids(&changes.destroyed),
        updated_properties: None,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
