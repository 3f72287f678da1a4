//! `Email/changes` (RFC 8621 §4.3, RFC 8620 §5.2): straight from the
//! store's change log, so a flag set over IMAP is reported like one set
//! over JMAP; split at `maxChanges` by [`crate::changes::window`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tidings_store::{ChangeKind, LoggedChange};
use tidings_types::EmailId;

use crate::changes::window;
use crate::mailbox::types::{ChangesRequest, ChangesResponse};
use crate::{Ctx, MethodError, arguments};

/// The emails a window created, updated and destroyed (created then
/// destroyed: nowhere; created then updated: created).
#[derive(Default)]
pub struct EmailChanges {
    pub created: BTreeSet<i64>,
    pub updated: BTreeSet<i64>,
    pub destroyed: BTreeSet<i64>,
}

impl EmailChanges {
    pub fn fold(entries: &[LoggedChange]) -> Self {
        let mut c = EmailChanges::default();
        for e in entries {
            match e.kind {
                ChangeKind::EmailCreated => {
                    c.created.insert(e.object);
                }
                ChangeKind::EmailUpdated if !c.created.contains(&e.object) => {
                    c.updated.insert(e.object);
                }
                ChangeKind::EmailDestroyed => {
                    if !c.created.remove(&e.object) {
                        c.destroyed.insert(e.object);
                    }
                    c.updated.remove(&e.object);
                }
                _ => {}
            }
        }
        c
    }
}

/// The email a row names, if it names one.
pub fn email_key(c: &LoggedChange, out: &mut Vec<i64>) {
    if matches!(
        c.kind,
        ChangeKind::EmailCreated | ChangeKind::EmailUpdated | ChangeKind::EmailDestroyed
    ) {
        out.push(c.object);
    }
}

pub fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ChangesRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let w = window(ctx, &req.since_state, req.max_changes, email_key)?;
    let c = EmailChanges::fold(&w.entries);
    let ids = |v: &BTreeSet<i64>| v.iter().map(|i| EmailId(*i).to_string()).collect();
    let response = ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: w.new_state.0.to_string(),
        has_more_changes: w.has_more,
        created: ids(&c.created),
        updated: ids(&c.updated),
        destroyed: ids(&c.destroyed),
        updated_properties: None,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}
