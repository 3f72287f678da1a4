//! Request and response types of `Blob/copy` (RFC 8620 §6.3).

use serde::Deserialize;

/// `Blob/copy` arguments.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyRequest {
    pub from_account_id: String,
    pub account_id: String,
    pub blob_ids: Vec<String>,
}
