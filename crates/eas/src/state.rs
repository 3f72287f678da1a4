//! A device's synchronisation state, as the store keeps it
//! ([`tidings_store::Backend::eas_sync_state`]): one JSON value per
//! collection.
//!
//! A SyncKey is `NONCE-N`: a random 32-bit nonce drawn when the device
//! starts the collection over (SyncKey `0`) and a counter. A key of
//! another device, or of an earlier start, has another nonce and is
//! refused; an older counter too, except the one just before the current
//! key, which the device sends again when it lost the last answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidings_store::Store;
use tidings_types::AccountId;

use crate::Result;

/// What a device was sent of an item's state: the read and follow-up
/// flags, and above them a hash of its categories (its user keywords).
pub(crate) const READ: u32 = 1;
pub(crate) const FLAGGED: u32 = 2;

/// The state of one mail (or empty) collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionState {
    pub nonce: u32,
    pub key: u32,
    /// UID → state (read 1, flagged 2, the categories' hash above) of the items
    /// the device holds.
    pub items: BTreeMap<u32, u32>,
    /// The key before, and what the device held then.
    pub prev_key: u32,
    pub prev_items: BTreeMap<u32, u32>,
    /// The FilterType the device asked for (0: all).
    pub filter: u8,
}

/// The folder hierarchy a device holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyState {
    pub nonce: u32,
    pub key: u32,
    /// ServerId → (ParentId, DisplayName, Type).
    pub folders: BTreeMap<String, (String, String, u8)>,
}

/// The last Ping's folders and heartbeat (a Ping may leave them out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingState {
    pub heartbeat: u32,
    pub folders: Vec<String>,
}

/// The store's name of the hierarchy state and the Ping state.
pub(crate) const HIERARCHY: &str = "hierarchy";
pub(crate) const PING: &str = "ping";

/// `NONCE-N`.
pub(crate) fn format_key(nonce: u32, key: u32) -> String {
    format!("{nonce:08x}-{key}")
}

/// The nonce and counter of a SyncKey; `None` for anything else.
pub(crate) fn parse_key(s: &str) -> Option<(u32, u32)> {
    let (nonce, n) = s.split_once('-')?;
    if nonce.len() != 8 {
        return None;
    }
    Some((u32::from_str_radix(nonce, 16).ok()?, n.parse().ok()?))
}

pub(crate) fn fresh_nonce() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // The clock's nanoseconds: unique enough to tell starts apart.
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
    }
    u32::from_le_bytes(b) | 1
}

pub(crate) fn load<T: for<'de> Deserialize<'de>>(
    store: &Store,
    account: AccountId,
    device: &str,
    collection: &str,
) -> Result<Option<T>> {
    let Some(bytes) = store.eas_sync_state(account, device, collection)? else {
        return Ok(None);
    };
    // A state that does not read (written by a later version) is as none:
    // the device is told to start over.
    Ok(serde_json::from_slice(&bytes).ok())
}

pub(crate) fn save<T: Serialize>(
    store: &Store,
    account: AccountId,
    device: &str,
    collection: &str,
    state: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(state)
        .map_err(|e| tidings_store::StoreError::Io(std::io::Error::other(e.to_string())))?;
    store.eas_set_sync_state(account, device, collection, Some(bytes))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(format_key(0xAB, 3), "000000ab-3");
        assert_eq!(parse_key("000000ab-3"), Some((0xAB, 3)));
        assert_eq!(parse_key("0"), None);
        assert_eq!(parse_key("ab-3"), None);
        assert_eq!(parse_key("zzzzzzzz-3"), None);
        assert_ne!(fresh_nonce(), 0);
    }
}
