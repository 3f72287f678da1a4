//! Small per-account object collections that live beside the mail rather
//! than in it (Identity, EmailSubmission): one JSON document per type in
//! an account METADATA entry (`/private/vendor/tidings/jmap/<type>`), so
//! they are in backups and go with the account without a schema of their
//! own.
//!
//! Each collection has its own state (a counter bumped by every write,
//! RFC 8620 §1.6.4 says a type's state changes when any of its objects
//! does) and a log of the last [`MAX_LOG`] changes for `/changes`; an
//! older `sinceState` is `cannotCalculateChanges`.
//!
//! Read-modify-write is serialized in the process by one lock
//! ([`Collection::edit`]). A document that does not parse (edited over
//! IMAP SETMETADATA by hand) reads as empty rather than failing requests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidings_store::Store;
use tidings_types::AccountId;

use crate::MethodError;

/// Changes kept per collection for `/changes`.
pub const MAX_LOG: usize = 1000;

static LOCK: Mutex<()> = Mutex::new(());

/// How an object changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    #[serde(rename = "c")]
    Created,
    #[serde(rename = "u")]
    Updated,
    #[serde(rename = "d")]
    Destroyed,
}

/// One type's objects of one account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
pub struct Collection<T> {
    pub state: u64,
    /// The number in the next id made.
    pub next_id: u64,
    pub items: BTreeMap<String, T>,
    /// `(state after the change, id, change)`, oldest first.
    log: Vec<(u64, String, Change)>,
    /// The earliest state `/changes` can start from.
    floor: u64,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            state: 0,
            next_id: 1,
            items: BTreeMap::new(),
            log: Vec::new(),
            floor: 0,
        }
    }
}

/// What `/changes` reports.
#[derive(Debug, Default)]
pub struct Delta {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub destroyed: Vec<String>,
}

fn entry(kind: &str) -> String {
    format!("/private/vendor/tidings/jmap/{kind}")
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    /// The collection `kind` of `account` (empty if none).
    pub fn load(store: &Store, account: AccountId, kind: &str) -> Result<Self, MethodError> {
        let name = entry(kind);
        Ok(store
            .metadata(account, None)?
            .into_iter()
            .find(|e| e.name == name)
            .and_then(|e| serde_json::from_slice(&e.value).ok())
            .unwrap_or_default())
    }

    /// Loads, lets `f` change it, and saves it if `f` returned `Ok`,
    /// under the process lock.
    pub fn edit<R>(
        store: &Store,
        account: AccountId,
        kind: &str,
        f: impl FnOnce(&mut Self) -> Result<R, MethodError>,
    ) -> Result<R, MethodError> {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = Self::load(store, account, kind)?;
        let before = c.state;
        let out = f(&mut c)?;
        if c.state != before {
            let value =
                serde_json::to_vec(&c).map_err(|e| MethodError::ServerFail(e.to_string()))?;
            store.set_metadata(account, None, &[(entry(kind), Some(value))], usize::MAX)?;
        }
        Ok(out)
    }

    /// The state string.
    pub fn state_string(&self) -> String {
        self.state.to_string()
    }

    /// A new id with `prefix` (`I3`, `S12`), never handed out before.
    pub fn make_id(&mut self, prefix: char) -> String {
        let id = format!("{prefix}{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Records a change (and bumps the state).
    pub fn record(&mut self, id: &str, change: Change) {
        self.state += 1;
        self.log.push((self.state, id.to_string(), change));
        if self.log.len() > MAX_LOG {
            let cut = self.log.len() - MAX_LOG;
            self.floor = self.log[cut - 1].0;
            self.log.drain(..cut);
        }
    }

    /// What changed after `since` (RFC 8620 §5.2); `None` when the log
    /// no longer reaches back that far (or `since` is from the future).
    pub fn changes_since(&self, since: u64) -> Option<Delta> {
        if since < self.floor || since > self.state {
            return None;
        }
        let mut first: BTreeMap<&str, Change> = BTreeMap::new();
        for (state, id, change) in &self.log {
            if *state > since {
                first.entry(id.as_str()).or_insert(*change);
            }
        }
        let mut delta = Delta::default();
        for (id, change) in first {
            let exists = self.items.contains_key(id);
            match (change, exists) {
                (Change::Created, true) => delta.created.push(id.to_string()),
                (Change::Created, false) => {}
                (_, true) => delta.updated.push(id.to_string()),
                (_, false) => delta.destroyed.push(id.to_string()),
            }
        }
        Some(delta)
    }
}

/// `/changes` of a collection, answered with the standard response.
pub fn changes<T: Serialize + DeserializeOwned>(
    ctx: &crate::Ctx<'_>,
    args: serde_json::Map<String, serde_json::Value>,
    kind: &str,
) -> Result<serde_json::Value, MethodError> {
    let req: crate::mailbox::types::ChangesRequest = crate::arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let c = Collection::<T>::load(ctx.store, ctx.account, kind)?;
    let since: u64 = req
        .since_state
        .parse()
        .map_err(|_| MethodError::CannotCalculateChanges(req.since_state.clone()))?;
    let delta = c
        .changes_since(since)
        .ok_or_else(|| MethodError::CannotCalculateChanges(req.since_state.clone()))?;
    check_max_changes(
        req.max_changes,
        delta.created.len() + delta.updated.len() + delta.destroyed.len(),
    )?;
    let response = crate::mailbox::types::ChangesResponse {
        account_id: req.account_id,
        old_state: req.since_state,
        new_state: c.state_string(),
        has_more_changes: false,
        created: delta.created,
        updated: delta.updated,
        destroyed: delta.destroyed,
        updated_properties: None,
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// `maxChanges` for these small collections: they are answered whole, so
/// more changes than the client allows is `cannotCalculateChanges`.
fn check_max_changes(max: Option<u64>, count: usize) -> Result<(), MethodError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_report_the_net_effect_since_a_state() {
        let mut c: Collection<u32> = Collection::default();
        c.items.insert("A".into(), 1);
        c.record("A", Change::Created);
        let s1 = c.state;
        c.items.insert("B".into(), 2);
        c.record("B", Change::Created);
        c.items.insert("A".into(), 3);
        c.record("A", Change::Updated);
        c.items.remove("B");
        c.record("B", Change::Destroyed);
        let d = c.changes_since(s1).unwrap_or_default();
        assert_eq!(d.updated, vec!["A"]);
        assert!(d.created.is_empty() && d.destroyed.is_empty());
        let d = c.changes_since(0).unwrap_or_default();
        assert_eq!(d.created, vec!["A"]);
        assert!(c.changes_since(c.state + 1).is_none());
    }

    #[test]
    fn an_old_state_beyond_the_log_cannot_be_calculated() {
        let mut c: Collection<u32> = Collection::default();
        for i in 0..(MAX_LOG + 5) {
            let id = format!("X{i}");
            c.items.insert(id.clone(), 0);
            c.record(&id, Change::Created);
        }
        assert!(c.changes_since(0).is_none());
        assert!(c.changes_since(c.state - 3).is_some());
    }
}
