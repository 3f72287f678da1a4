//! SASL PLAIN (RFC 4616) as POP3 carries it (RFC 5034 §4).
//!
//! RFC 5034 §4: a client response is one line of base64 (RFC 4648 §4); `*`
//! cancels the exchange; an initial response of `=` is an empty one. The
//! PLAIN message (RFC 4616 §2) is `[authzid] NUL authcid NUL passwd`, each
//! part UTF-8, the last two non-empty. Padding is accepted with or without
//! the trailing `=`s, as some clients omit it.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use tidings_types::Secret;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a PLAIN message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Who to act as; `None` when empty (act as `authcid`).
    pub authzid: Option<String>,
    /// Who is logging in.
    pub authcid: String,
    pub password: Secret<String>,
}

/// Why a SASL response was not accepted; the text is fit for `-ERR`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// RFC 5034 §4: the client sent `*`.
    #[error("authentication cancelled")]
    Cancelled,
    #[error("the response is not valid base64")]
    BadBase64,
    #[error("malformed PLAIN response: {0}")]
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

/// The base64 PLAIN response a client sends (client side, for tests).
pub fn encode_plain(authzid: &str, authcid: &str, password: &str) -> String {
    BASE64.encode(format!("{authzid}\0{authcid}\0{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5034_example() {
        // RFC 5034 §6: "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=" is test/test/test.
        let creds = decode_plain(&decode_response("dGVzdAB0ZXN0AHRlc3Q=").unwrap()).unwrap();
        assert_eq!(creds.authzid.as_deref(), Some("test"));
        assert_eq!(creds.authcid, "test");
        assert_eq!(creds.password.expose(), "test");
    }

    #[test]
    fn rfc4616_examples() {
        // RFC 4616 §4: "\0tim\0tanstaaftanstaaf".
        let creds = decode_plain(b"\0tim\0tanstaaftanstaaf").unwrap();
        assert_eq!(creds.authzid, None);
        assert_eq!(creds.authcid, "tim");
        assert_eq!(creds.password.expose(), "tanstaaftanstaaf");
        let creds = decode_plain(b"Ursel\0Kurt\0xipj3plmq").unwrap();
        assert_eq!(creds.authzid.as_deref(), Some("Ursel"));
    }

    #[test]
    fn round_trip_and_errors() {
        let b64 = encode_plain("", "bob@localhost", "pw d");
        let creds = decode_plain(&decode_response(&b64).unwrap()).unwrap();
        assert_eq!(
            (creds.authcid.as_str(), creds.password.expose().as_str()),
            ("bob@localhost", "pw d")
        );
        assert_eq!(
            decode_response(b64.trim_end_matches('=')).unwrap(),
            decode_response(&b64).unwrap()
        );
        assert_eq!(decode_response("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response("="), Ok(Vec::new()));
        assert_eq!(decode_response("!!"), Err(SaslError::BadBase64));
        for bad in [
            &b"no nuls"[..],
            b"\0\0pw",
            b"\0user\0",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            assert!(
                matches!(decode_plain(bad), Err(SaslError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
