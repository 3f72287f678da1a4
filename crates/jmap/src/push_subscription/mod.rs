//! `PushSubscription/get|set` (RFC 8620 §7.2): URLs the server POSTs a
//! StateChange to when the account changes, for clients that cannot keep
//! a connection open (phones).
//!
//! Implementation notes:
//! - Subscriptions belong to the account that made them (§7.2: only the
//!   same credentials see them) and are stored with [`crate::objects`]
//!   (one METADATA entry), at most [`MAX_PER_ACCOUNT`].
//! - Creating one queues a PushVerification POST through the server's
//!   [`PushSender`]; StateChanges go only to subscriptions whose
//!   `verificationCode` the client has set back (§7.2.2).
//! - Which URLs are allowed is the sender's rule ([`PushSender::check_url`]:
//!   HTTPS; plain HTTP only to loopback when configured, for tests).
//! - `keys` (RFC 8291 encrypted push) is not supported: a subscription
//!   with keys is refused (`invalidProperties`) rather than pushed to in
//!   clear text.
//! - `expires` is at most [`MAX_LIFETIME`] from now (later or null asks
//!   are cut, and the set response says so); an expired subscription is
//!   neither shown nor pushed to, and is dropped at the next set.

pub mod get;
pub mod set;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings_store::Store;
use tidings_types::AccountId;

use crate::MethodError;
use crate::objects::Collection;

/// The collection's name (its METADATA entry).
pub const KIND: &str = "push-subscriptions";
/// Subscriptions one account may have.
pub const MAX_PER_ACCOUNT: usize = 50;
/// The longest a subscription lives before the client must extend it.
pub const MAX_LIFETIME: i64 = 7 * 86_400;

/// Properties `/get` returns by default (§7.2.1: never `url` or `keys`).
pub const PROPERTIES: [&str; 5] = [
    "id",
    "deviceClientId",
    "verificationCode",
    "expires",
    "types",
];

/// Where and how the server pushes (implemented by the HTTP server).
pub trait PushSender: Send + Sync + std::fmt::Debug {
    /// Why the server will not push to `url`, if it will not.
    fn check_url(&self, url: &str) -> Result<(), String>;
    /// Queues `body` (a PushVerification) to be POSTed to `url`; never
    /// blocks.
    fn send_verification(&self, url: &str, body: Value);
    /// The subscriptions of `account` were written (whatever the sender
    /// remembers of them is out of date).
    fn subscriptions_changed(&self, account: AccountId);
}

/// One stored subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    pub device_client_id: String,
    pub url: String,
    /// The code sent in the PushVerification.
    pub code: String,
    /// Whether the client set `verificationCode` to `code`.
    pub verified: bool,
    /// Unix seconds.
    pub expires: i64,
    /// Type names to push, or all (`None`).
    pub types: Option<Vec<String>>,
}

impl PushSubscription {
    /// Every property but `url` and `keys` (§7.2.1).
    pub fn to_json(&self, id: &str) -> Value {
        json!({
            "id": id,
            "deviceClientId": self.device_client_id,
            "verificationCode": self.verified.then_some(&self.code),
            "expires": crate::date::utc(self.expires),
            "types": self.types,
        })
    }
}

/// Where StateChanges go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTarget {
    pub url: String,
    /// The type names the subscription wants, or all (`None`).
    pub types: Option<Vec<String>>,
    /// Unix seconds; nothing is pushed from then on.
    pub expires: i64,
}

/// Where to push a change of `account`: every verified subscription
/// (expired ones too: the caller compares `expires` with its clock).
pub fn targets(store: &Store, account: AccountId) -> Result<Vec<PushTarget>, MethodError> {
    let c = Collection::<PushSubscription>::load(store, account, KIND)?;
    Ok(c.items
        .into_values()
        .filter(|s| s.verified)
        .map(|s| PushTarget {
            url: s.url,
            types: s.types,
            expires: s.expires,
        })
        .collect())
}

/// A random verification code (128 bits, hex).
fn verification_code() -> Result<String, MethodError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| MethodError::ServerFail(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
