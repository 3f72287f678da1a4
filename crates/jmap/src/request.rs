//! The Request and Response objects of RFC 8620 §3.3/§3.4 and the
//! ResultReference of §3.7, as types. The code that serves them is in
//! `lib.rs` (dispatch) and `reference.rs` (back-references).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A method call: name, arguments, method call id (RFC 8620 §3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct Invocation(pub String, pub Map<String, Value>, pub String);

/// The Request object (RFC 8620 §3.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    pub using: Vec<String>,
    pub method_calls: Vec<Invocation>,
    #[serde(default)]
    pub created_ids: Option<Map<String, Value>>,
}

/// The Response object (RFC 8620 §3.4).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub method_responses: Vec<(String, Value, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_ids: Option<Map<String, Value>>,
    pub session_state: String,
}

/// A back-reference to an earlier result (RFC 8620 §3.7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultReference {
    pub result_of: String,
    pub name: String,
    pub path: String,
}
