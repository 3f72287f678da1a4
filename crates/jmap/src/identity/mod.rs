//! `Identity/*` (RFC 8621 §6): who the account may send as.
//!
//! Every account has a default identity for its own address (`I0`, not
//! deletable, made on first read); more may be created for any address
//! the account may send as (the store's rule shared with SMTP submission,
//! [`tidings_store::Store::may_send_as`]: its aliases), else
//! `forbiddenFrom`. Identities are stored with [`crate::objects`].

pub mod get;
pub mod set;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings_store::Store;
use tidings_types::AccountId;

use crate::MethodError;
use crate::objects::Collection;

/// The collection's name (its METADATA entry).
pub const KIND: &str = "identities";
/// The default identity's id.
pub const DEFAULT_ID: &str = "I0";

/// The properties of an Identity (RFC 8621 §6).
pub const PROPERTIES: [&str; 8] = [
    "id",
    "name",
    "email",
    "replyTo",
    "bcc",
    "textSignature",
    "htmlSignature",
    "mayDelete",
];

/// One stored identity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// `EmailAddress[]` or null, as given.
    pub reply_to: Value,
    pub bcc: Value,
    pub text_signature: String,
    pub html_signature: String,
}

impl Identity {
    pub fn to_json(&self, id: &str) -> Value {
        json!({
            "id": id,
            "name": self.name,
            "email": self.email,
            "replyTo": self.reply_to,
            "bcc": self.bcc,
            "textSignature": self.text_signature,
            "htmlSignature": self.html_signature,
            "mayDelete": id != DEFAULT_ID,
        })
    }
}

/// The account's identities, the default one included.
pub fn load(store: &Store, account: AccountId) -> Result<Collection<Identity>, MethodError> {
    let mut c = Collection::<Identity>::load(store, account, KIND)?;
    with_default(store, account, &mut c)?;
    Ok(c)
}

/// Puts the default identity in `c` if it is missing (not a change: it
/// has always been there as far as a client can tell).
pub fn with_default(
    store: &Store,
    account: AccountId,
    c: &mut Collection<Identity>,
) -> Result<(), MethodError> {
    if !c.items.contains_key(DEFAULT_ID) {
        let me = store
            .account_by_id(account)?
            .ok_or_else(|| MethodError::ServerFail("account vanished".into()))?;
        c.items.insert(
            DEFAULT_ID.to_string(),
            Identity {
                email: me.email,
                reply_to: Value::Null,
                bcc: Value::Null,
                ..Identity::default()
            },
        );
    }
    Ok(())
}
