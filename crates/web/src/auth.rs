//! HTTP Basic authentication (RFC 7617) with the full address and password,
//! through the store's password check and the login limiter every protocol
//! shares.
//!
//! Implementation notes:
//! - A password goes over plain HTTP only from a loopback peer (the
//!   project's rule, as IMAP's LOGINDISABLED); elsewhere it is refused
//!   before it is looked at.
//! - HTTP clients send the password with every request; argon2 runs only
//!   on the first, as for IMAP clients that log in often: the store's
//!   credential cache remembers a verified password (as a digest bound to
//!   the stored hash, so a password change ends it at once).
//! - Failures wait the limiter's delay before the 401, and a blocked
//!   address gets 429 without its password being checked.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use tidings_net::AuthLimiter;
use tidings_store::Store;
use tidings_types::{AccountId, Secret};

/// Who the request is from, once the password is checked.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub account: AccountId,
    pub username: String,
}

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum AuthError {
    /// No (usable) Authorization header: 401 with a challenge.
    Missing,
    /// Wrong address or password: 401 after the limiter's delay.
    Invalid,
    /// A password over plain HTTP from a non-loopback peer: 403.
    NeedsTls,
    /// Too many failures from this address: 429.
    Blocked(Duration),
    /// The store failed: 503.
    Unavailable,
}

/// The password check shared by every HTTP connection. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    limiter: AuthLimiter,
}

impl Authenticator {
    pub fn new(store: Store, limiter: AuthLimiter) -> Self {
        Authenticator { store, limiter }
    }

    /// Checks the `Authorization` header of a request from `peer`.
    pub async fn check(
        &self,
        header: Option<&[u8]>,
        peer: IpAddr,
        secure: bool,
    ) -> Result<Authenticated, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let (username, password) = parse_basic(header).ok_or(AuthError::Missing)?;
        if !secure && !peer.to_canonical().is_loopback() {
            return Err(AuthError::NeedsTls);
        }
        self.limiter
            .admit(peer, &username)
            .await
            .map_err(AuthError::Blocked)?;
        let store = self.store.clone();
        let name = username.clone();
        let checked =
            tokio::task::spawn_blocking(move || store.authenticate(&name, &password)).await;
        match checked {
            Ok(Ok(Some(account))) => {
                self.limiter.success(peer, &username);
                Ok(Authenticated { account, username })
            }
            Ok(Ok(None)) => {
                tracing::info!(user = %username, %peer, "HTTP login failed: wrong user name or password");
                let delay = self.limiter.failure(peer, &username);
                tokio::time::sleep(delay).await;
                Err(AuthError::Invalid)
            }
            Ok(Err(e)) => {
                tracing::warn!("password check failed: {e}");
                Err(AuthError::Unavailable)
            }
            Err(e) => {
                tracing::error!("password check task failed: {e}");
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// `Basic base64(user:password)` (RFC 7617 §2; the scheme name is
/// case-insensitive, RFC 9110 §11.1).
pub fn parse_basic(header: &[u8]) -> Option<(String, Secret<String>)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    if user.is_empty() || user.len() > tidings_net::MAX_ACCOUNT_LEN {
        return None;
    }
    Some((user.to_string(), Secret::new(password.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parses() {
        // RFC 7617 §2 example: Aladdin / open sesame.
        let (u, p) = parse_basic(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(u, "Aladdin");
        assert_eq!(p.expose(), "open sesame");
        assert!(parse_basic(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").is_some());
        assert!(parse_basic(b"Bearer abc").is_none());
        assert!(parse_basic(b"Basic !!!").is_none());
        assert!(parse_basic(b"Basic bm9jb2xvbg==").is_none()); // "nocolon"
    }
}
