//! Request and response types of `Mailbox/get` and `Mailbox/changes`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Mailbox/get` arguments (RFC 8620 §5.1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetRequest {
    pub account_id: String,
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
}

/// `Foo/get` response (RFC 8620 §5.1).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetResponse {
    pub account_id: String,
    pub state: String,
    pub list: Vec<Value>,
    pub not_found: Vec<String>,
}

/// `Foo/changes` arguments (RFC 8620 §5.2).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangesRequest {
    pub account_id: String,
    pub since_state: String,
    #[serde(default)]
    pub max_changes: Option<u64>,
}

/// `Foo/changes` response (RFC 8620 §5.2; `updatedProperties` of RFC 8621
/// §2.2 for Mailbox).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesResponse {
    pub account_id: String,
    pub old_state: String,
    pub new_state: String,
    pub has_more_changes: bool,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub destroyed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_properties: Option<Vec<String>>,
}

/// The properties of a Mailbox (RFC 8621 §2.1).
pub const PROPERTIES: [&str; 11] = [
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];
