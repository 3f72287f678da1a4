//! `Core/*` methods (RFC 8620 §4).

/// `Core/echo` (RFC 8620 §4.1): returns its arguments unchanged.
pub fn echo(args: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    serde_json::Value::Object(args)
}
