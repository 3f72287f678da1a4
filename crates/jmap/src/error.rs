//! The error types of RFC 8620 §3.6, as two enums: request-level errors
//! (an HTTP 400 with an RFC 7807 problem-details body, §3.6.1) and
//! method-level errors (an `error` response in `methodResponses`, §3.6.2).

use serde_json::{Value, json};

/// A request-level error: the whole request is refused (RFC 8620 §3.6.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The content type was not `application/json` or the body not I-JSON.
    #[error("the request is not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not a JMAP Request object.
    #[error("the request is not a JMAP Request object: {0}")]
    NotRequest(String),
    /// `using` names a capability this server does not support.
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    /// A request limit (named as in the session's core capability) was
    /// exceeded.
    #[error("request limit {limit} exceeded: {detail}")]
    Limit { limit: &'static str, detail: String },
}

impl RequestError {
    /// The problem type URI (RFC 8620 §3.6.1).
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::NotJson(_) => "urn:ietf:params:jmap:error:notJSON",
            RequestError::NotRequest(_) => "urn:ietf:params:jmap:error:notRequest",
            RequestError::UnknownCapability(_) => "urn:ietf:params:jmap:error:unknownCapability",
            RequestError::Limit { .. } => "urn:ietf:params:jmap:error:limit",
        }
    }

    /// The HTTP status: 400 for all of them (RFC 8620 §3.6.1).
    pub fn status(&self) -> u16 {
        400
    }

    /// The RFC 7807 problem-details body (`application/problem+json`).
    pub fn problem(&self) -> Value {
        let mut v = json!({
            "type": self.kind(),
            "status": self.status(),
            "detail": self.to_string(),
        });
        if let RequestError::Limit { limit, .. } = self {
            v["limit"] = json!(limit);
        }
        v
    }
}

/// A method-level error (RFC 8620 §3.6.2, RFC 8621 §§2-4 additions). It
/// becomes the response `["error", {"type": …, "description": …}, callId]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodError {
    #[error("the server cannot process this method right now: {0}")]
    ServerUnavailable(String),
    #[error("internal error: {0}")]
    ServerFail(String),
    #[error("the method name is not known or its capability is not in `using`: {0}")]
    UnknownMethod(String),
    #[error("{0}")]
    InvalidArguments(String),
    #[error("{0}")]
    InvalidResultReference(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such account: {0}")]
    AccountNotFound(String),
    /// RFC 8620 §3.6.2: a shared account is read-only here.
    #[error("account {0} is read-only")]
    AccountReadOnly(String),
    /// RFC 8620 §3.6.2: the account exists but this method does not
    /// apply to it (a shared account has mail only).
    #[error("account {0} does not support this method")]
    AccountNotSupportedByMethod(String),
    /// RFC 8620 §5.4, §6.3: the account to copy from is not one the
    /// caller can read.
    #[error("no such account to copy from: {0}")]
    FromAccountNotFound(String),
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("the state is too old or unknown: {0}")]
    CannotCalculateChanges(String),
    /// `/queryChanges` would list more than `maxChanges` (RFC 8620 §5.6).
    #[error("{0}")]
    TooManyChanges(String),
    #[error("ifInState {0} is not the current state")]
    StateMismatch(String),
    #[error("the anchor is not in the results")]
    AnchorNotFound,
    #[error("{0}")]
    UnsupportedFilter(String),
    #[error("{0}")]
    UnsupportedSort(String),
}

impl MethodError {
    /// The error `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            MethodError::ServerUnavailable(_) => "serverUnavailable",
            MethodError::ServerFail(_) => "serverFail",
            MethodError::UnknownMethod(_) => "unknownMethod",
            MethodError::InvalidArguments(_) => "invalidArguments",
            MethodError::InvalidResultReference(_) => "invalidResultReference",
            MethodError::Forbidden(_) => "forbidden",
            MethodError::AccountNotFound(_) => "accountNotFound",
            MethodError::AccountReadOnly(_) => "accountReadOnly",
            MethodError::AccountNotSupportedByMethod(_) => "accountNotSupportedByMethod",
            MethodError::FromAccountNotFound(_) => "fromAccountNotFound",
            MethodError::RequestTooLarge(_) => "requestTooLarge",
            MethodError::CannotCalculateChanges(_) => "cannotCalculateChanges",
            MethodError::TooManyChanges(_) => "tooManyChanges",
            MethodError::StateMismatch(_) => "stateMismatch",
            MethodError::AnchorNotFound => "anchorNotFound",
            MethodError::UnsupportedFilter(_) => "unsupportedFilter",
            MethodError::UnsupportedSort(_) => "unsupportedSort",
        }
    }

    /// The arguments of the `error` response.
    pub fn to_json(&self) -> Value {
        json!({ "type": self.kind(), "description": self.to_string() })
    }

    /// Arguments that do not deserialize into the method's request type.
    pub fn arguments(e: impl std::fmt::Display) -> Self {
        MethodError::InvalidArguments(e.to_string())
    }
}

impl From<tidings_store::StoreError> for MethodError {
    fn from(e: tidings_store::StoreError) -> Self {
        use tidings_store::StoreError as E;
        match e {
            E::NotFound(what) => MethodError::InvalidArguments(format!("{what} not found")),
            E::Refused(why) => MethodError::Forbidden(why),
            e @ E::OverQuota { .. } => MethodError::Forbidden(e.to_string()),
            e if e.is_temporary() => MethodError::ServerUnavailable(e.to_string()),
            e => {
                tracing::error!("store error in a JMAP method: {e}");
                MethodError::ServerFail(e.to_string())
            }
        }
    }
}

/// A per-record error of `/set` (RFC 8620 §5.3 SetError).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    pub kind: &'static str,
    pub description: String,
    /// For `invalidProperties`: the offending properties; for
    /// `blobNotFound`: the blobIds not found (RFC 8621 §4.6 `notFound`).
    pub properties: Vec<String>,
}

impl SetError {
    pub fn new(kind: &'static str, description: impl Into<String>) -> Self {
        SetError {
            kind,
            description: description.into(),
            properties: Vec::new(),
        }
    }

    pub fn invalid_property(property: &str, description: impl Into<String>) -> Self {
        SetError {
            kind: "invalidProperties",
            description: description.into(),
            properties: vec![property.to_string()],
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "type": self.kind, "description": self.description });
        if self.kind == "blobNotFound" {
            v["notFound"] = json!(self.properties);
        } else if !self.properties.is_empty() {
            v["properties"] = json!(self.properties);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_problem_names_the_limit() {
        let p = RequestError::Limit {
            limit: "maxCallsInRequest",
            detail: "17 calls, at most 16".into(),
        }
        .problem();
        assert_eq!(p["type"], "urn:ietf:params:jmap:error:limit");
        assert_eq!(p["status"], 400);
        assert_eq!(p["limit"], "maxCallsInRequest");
    }
}
