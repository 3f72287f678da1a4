//! SASL as SMTP carries it (RFC 4954): PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login).
//!
//! RFC 4954 §4: a client response is one line of base64; `*` cancels the
//! exchange (answered 501); an initial response of `=` is an empty one.
//! Padding is accepted with or without the trailing `=`s.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use tidings_types::Secret;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The LOGIN mechanism's prompts, base64 of `Username:` and `Password:`.
pub const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// What a PLAIN message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Who to act as; `None` when empty (act as `authcid`).
    pub authzid: Option<String>,
    /// Who is logging in.
    pub authcid: String,
    pub password: Secret<String>,
}

/// Why a SASL response was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// RFC 4954 §4: the client sent `*`.
    #[error("authentication cancelled")]
    Cancelled,
    #[error("the response is not valid base64")]
    BadBase64,
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

/// Decodes one client response line (or initial response).
pub fn decode_response(text: &str) -> Result<Vec<u8>, SaslError> {
    match text.trim_end_matches(' ') {
        "*" => Err(SaslError::Cancelled),
        "=" | "" => Ok(Vec::new()),
        t => BASE64.decode(t).map_err(|_| SaslError::BadBase64),
    }
}

/// Decodes a LOGIN response (user name or password) as UTF-8 text.
pub fn decode_login(text: &str) -> Result<String, SaslError> {
    let bytes = decode_response(text)?;
    let s = String::from_utf8(bytes).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    if s.is_empty() {
        return Err(SaslError::Malformed("empty"));
    }
    Ok(s)
}

/// Parses a PLAIN message (RFC 4616 §2).
pub fn decode_plain(message: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed(
            "expected authzid NUL authcid NUL passwd",
        ));
    };
    let text =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed("not UTF-8"));
    if authcid.is_empty() {
        return Err(SaslError::Malformed("empty user name"));
    }
    if password.is_empty() {
        return Err(SaslError::Malformed("empty password"));
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then(|| text(authzid)).transpose()?,
        authcid: text(authcid)?,
        password: Secret::new(text(password)?),
    })
}

/// Base64 of `bytes` (client side, and for tests).
pub fn encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4954_example() {
        // RFC 4954 §4: "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=" is test/test/1234.
        let creds = decode_plain(&decode_response("dGVzdAB0ZXN0ADEyMzQ=").unwrap()).unwrap();
        assert_eq!(creds.authzid.as_deref(), Some("test"));
        assert_eq!(creds.authcid, "test");
        assert_eq!(creds.password.expose(), "1234");
    }

    #[test]
    fn login_and_errors() {
        assert_eq!(
            decode_login(&encode(b"bob@localhost")).unwrap(),
            "bob@localhost"
        );
        assert_eq!(decode_response("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response("!!"), Err(SaslError::BadBase64));
        assert!(decode_login("=").is_err());
        assert!(decode_plain(b"\0user\0").is_err());
        assert!(decode_plain(b"a\0b\0c\0d").is_err());
    }
}
