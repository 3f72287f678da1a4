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

/// `Foo/queryChanges` response (RFC 8620 §5.6).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryChangesResponse {
    pub account_id: String,
    pub old_query_state: String,
    pub new_query_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    pub removed: Vec<String>,
    pub added: Vec<AddedItem>,
}

/// An id added to query results, at its index in the new results (RFC 8620
/// §5.6 AddedItem).
#[derive(Debug, Serialize)]
pub struct AddedItem {
    pub id: String,
    pub index: u64,
}

/// `Mailbox/queryChanges` arguments (RFC 8620 §5.6 with RFC 8621 §2.4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryChangesRequest {
    pub account_id: String,
    #[serde(default)]
    pub filter: Option<QueryFilter>,
    #[serde(default)]
    pub sort: Option<Vec<Comparator>>,
    pub since_query_state: String,
    #[serde(default)]
    pub max_changes: Option<u64>,
    /// Accepted and ignored (RFC 8620 §5.6 lets the server ignore it).
    #[serde(default)]
    #[allow(dead_code, reason = "read by serde only; ignored by design")]
    pub up_to_id: Option<String>,
    #[serde(default)]
    pub calculate_total: bool,
    #[serde(default)]
    pub sort_as_tree: bool,
    #[serde(default)]
    pub filter_as_tree: bool,
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

/// `Mailbox/query` arguments (RFC 8620 §5.5 with RFC 8621 §2.3).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryRequest {
    pub account_id: String,
    #[serde(default)]
    pub filter: Option<QueryFilter>,
    #[serde(default)]
    pub sort: Option<Vec<Comparator>>,
    #[serde(default)]
    pub position: i64,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub calculate_total: bool,
    #[serde(default)]
    pub sort_as_tree: bool,
    #[serde(default)]
    pub filter_as_tree: bool,
}

/// A Mailbox FilterCondition (RFC 8621 §2.3). A present-but-null
/// `parentId` or `role` means "none", so they are `Option<Option<…>>`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryFilter {
    #[serde(default, deserialize_with = "some")]
    pub parent_id: Option<Option<String>>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    pub role: Option<Option<String>>,
    #[serde(default)]
    pub has_any_role: Option<bool>,
    #[serde(default)]
    pub is_subscribed: Option<bool>,
}

/// A member that is present, null or not, is `Some`.
fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A sort criterion (RFC 8620 §5.5): `name` or `sortOrder` here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparator {
    pub property: String,
    #[serde(default = "yes")]
    pub is_ascending: bool,
}

fn yes() -> bool {
    true
}

/// `Mailbox/query` response (RFC 8620 §5.5).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    pub account_id: String,
    pub query_state: String,
    pub can_calculate_changes: bool,
    pub position: u64,
    pub ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `Mailbox/set` arguments (RFC 8620 §5.3 with RFC 8621 §2.5).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRequest {
    pub account_id: String,
    #[serde(default)]
    pub if_in_state: Option<String>,
    #[serde(default)]
    pub create: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub update: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub destroy: Option<Vec<String>>,
    #[serde(default)]
    pub on_destroy_remove_emails: bool,
}
