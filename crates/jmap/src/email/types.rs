//! Request and response types of the `Email/*` methods.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Email/get` arguments (RFC 8620 §5.1 with RFC 8621 §4.2).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetRequest {
    pub account_id: String,
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
    #[serde(default)]
    pub body_properties: Option<Vec<String>>,
    #[serde(default)]
    pub fetch_text_body_values: bool,
    #[serde(default, rename = "fetchHTMLBodyValues")]
    pub fetch_html_body_values: bool,
    #[serde(default)]
    pub fetch_all_body_values: bool,
    #[serde(default)]
    pub max_body_value_bytes: u64,
}

/// `Email/query` arguments (RFC 8620 §5.5 with RFC 8621 §4.4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryRequest {
    pub account_id: String,
    #[serde(default)]
    pub filter: Option<Value>,
    #[serde(default)]
    pub sort: Option<Vec<Comparator>>,
    #[serde(default)]
    pub position: i64,
    #[serde(default)]
    pub anchor: Option<String>,
    #[serde(default)]
    pub anchor_offset: i64,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub calculate_total: bool,
    #[serde(default)]
    pub collapse_threads: bool,
}

/// `Email/queryChanges` arguments (RFC 8620 §5.6 with RFC 8621 §4.5).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryChangesRequest {
    pub account_id: String,
    #[serde(default)]
    pub filter: Option<Value>,
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
    pub collapse_threads: bool,
}

/// A sort criterion (RFC 8620 §5.5 Comparator). Unknown members are
/// ignored, not refused: jmapc 0.4 (a Python client) sends the query's
/// `position`, `anchorOffset` and `calculateTotal` inside each comparator.
/// Serialized only as part of a query's cache key.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparator {
    pub property: String,
    #[serde(default = "yes")]
    pub is_ascending: bool,
    #[serde(default)]
    pub collation: Option<String>,
    /// RFC 8621 §4.4.2: for `hasKeyword` & co. (refused as unsupported).
    #[serde(default)]
    pub keyword: Option<String>,
}

fn yes() -> bool {
    true
}

/// `Email/query` response (RFC 8620 §5.5).
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `Email/set` arguments (RFC 8620 §5.3). `create` is refused per record.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRequest {
    pub account_id: String,
    #[serde(default)]
    pub if_in_state: Option<String>,
    #[serde(default)]
    pub create: Option<Map<String, Value>>,
    #[serde(default)]
    pub update: Option<Map<String, Value>>,
    #[serde(default)]
    pub destroy: Option<Vec<String>>,
}

/// `Email/set` response (RFC 8620 §5.3).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetResponse {
    pub account_id: String,
    pub old_state: String,
    pub new_state: String,
    pub created: Option<Map<String, Value>>,
    pub updated: Option<Map<String, Value>>,
    pub destroyed: Option<Vec<String>>,
    pub not_created: Option<Map<String, Value>>,
    pub not_updated: Option<Map<String, Value>>,
    pub not_destroyed: Option<Map<String, Value>>,
}

/// The properties of an Email (RFC 8621 §4.1) served by `Email/get`.
pub const PROPERTIES: [&str; 25] = [
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "headers",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyStructure",
    "bodyValues",
    "textBody",
    "htmlBody",
];

/// `attachments` as well (kept apart so the array above stays the
/// §4.1 order of the default list).
pub const MORE_PROPERTIES: [&str; 1] = ["attachments"];

/// What `Email/get` returns when `properties` is null (RFC 8621 §4.2).
pub const DEFAULT_PROPERTIES: [&str; 24] = [
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// EmailBodyPart properties (RFC 8621 §4.1.4).
pub const BODY_PROPERTIES: [&str; 13] = [
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
    "header",
];

/// What `bodyProperties` defaults to (RFC 8621 §4.2).
pub const DEFAULT_BODY_PROPERTIES: [&str; 10] = [
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
];

/// `Email/import` arguments (RFC 8621 §4.8).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRequest {
    pub account_id: String,
    #[serde(default)]
    pub if_in_state: Option<String>,
    /// Creation id → EmailImport object.
    pub emails: Map<String, Value>,
}

/// `Email/parse` arguments (RFC 8621 §4.9).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParseRequest {
    pub account_id: String,
    pub blob_ids: Vec<String>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
    #[serde(default)]
    pub body_properties: Option<Vec<String>>,
    #[serde(default)]
    pub fetch_text_body_values: bool,
    #[serde(default, rename = "fetchHTMLBodyValues")]
    pub fetch_html_body_values: bool,
    #[serde(default)]
    pub fetch_all_body_values: bool,
    #[serde(default)]
    pub max_body_value_bytes: u64,
}

/// What `Email/parse` returns when `properties` is null (RFC 8621 §4.9).
pub const PARSE_DEFAULT_PROPERTIES: [&str; 17] = [
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// `Email/copy` arguments (RFC 8620 §5.4 with RFC 8621 §4.7).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyRequest {
    pub from_account_id: String,
    #[serde(default)]
    pub if_from_in_state: Option<String>,
    pub account_id: String,
    #[serde(default)]
    pub if_in_state: Option<String>,
    pub create: Map<String, Value>,
    #[serde(default)]
    pub on_success_destroy_original: bool,
    #[serde(default)]
    pub destroy_from_if_in_state: Option<String>,
}
