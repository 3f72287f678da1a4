//! HTTP authentication: Basic (RFC 7617) with the full address and the
//! password or an app password, and Bearer (RFC 6750 §2.1) with an access
//! token (an app password or a webmail session from `POST /auth/session`),
//! through the store's checks and the login limiter every protocol shares.
//!
//! Implementation notes:
//! - A Bearer token is looked up by its SHA-256 (one indexed read), so it
//!   skips the limiter's wait when it is right, as remembered credentials
//!   do; a wrong one counts as a failed login of the address and waits the
//!   limiter's delay, and a blocked address gets 429 for a wrong token.
//!   A token has 256 random bits: the limiter keeps the noise down, it is
//!   not what makes tokens unguessable.
//! - A password goes over plain HTTP only from a loopback peer (the
//!   project's rule, as IMAP's LOGINDISABLED); elsewhere it is refused
//!   before it is looked at.
//! - HTTP clients send the password with every request; argon2 runs only
//!   on the first, as for IMAP clients that log in often: the store's
//!   credential cache remembers a verified password (as a digest bound to
//!   the stored hash, so a password change ends it at once).
//! - Failures wait the limiter's delay before the 401, and a blocked
//!   address gets 429 without its password being checked.
//! - An IMAP client meets the limiter once per session, an HTTP client at
//!   every request. So that an attack on an account (which makes its
//!   logins wait up to 15 s) or on a shared address does not stall every
//!   request of the owner's open webmail, credentials that succeeded from
//!   an address are remembered for [`KNOWN_TTL`] (as a SHA-256 digest keyed
//!   by a random per-process key, never the password) and then skip the
//!   limiter: only someone who has the password gets past it this way, and
//!   the store still checks the password each time (from its own cache),
//!   so a changed password stops working at once. At most [`KNOWN_MAX`]
//!   are kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use tidings_net::AuthLimiter;
use tidings_store::{Store, TokenOwner};
use tidings_types::{AccountId, Secret};

/// How long credentials that succeeded skip the limiter.
pub const KNOWN_TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many remembered (address, credentials).
pub const KNOWN_MAX: usize = 10_000;

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
    key: [u8; 32],
    /// Digests of (address, user, password) that succeeded, and when.
    known: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

impl Authenticator {
    pub fn new(store: Store, limiter: AuthLimiter) -> Self {
        let mut key = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut key) {
            // Still never the password itself; only the digests are guessable.
            tracing::warn!("no random numbers for the HTTP login key: {e}");
        }
        Authenticator {
            store,
            limiter,
            key,
            known: Arc::default(),
        }
    }

    fn digest(&self, peer: IpAddr, username: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(tidings_net::ip_key(peer).to_string().as_bytes());
        h.update([0]);
        h.update(username.to_ascii_lowercase().as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_known(&self, digest: &[u8; 32]) -> bool {
        self.known()
            .get(digest)
            .is_some_and(|at| at.elapsed() < KNOWN_TTL)
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut known = self.known();
        if known.len() >= KNOWN_MAX {
            known.retain(|_, at| at.elapsed() < KNOWN_TTL);
            if known.len() >= KNOWN_MAX {
                known.clear();
            }
        }
        known.insert(digest, Instant::now());
    }

    /// The store, for the session endpoints.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The limiter, for the session endpoints.
    pub fn limiter(&self) -> &AuthLimiter {
        &self.limiter
    }

    /// Checks the `Authorization` header of a request from `peer`.
    pub async fn check(
        &self,
        header: Option<&[u8]>,
        peer: IpAddr,
        secure: bool,
    ) -> Result<Authenticated, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        if let Some(token) = parse_bearer(header) {
            if !secure && !peer.to_canonical().is_loopback() {
                return Err(AuthError::NeedsTls);
            }
            return self
                .check_token(token, peer)
                .await
                .map(|owner| Authenticated {
                    account: owner.account,
                    username: owner.email,
                });
        }
        let (username, password) = parse_basic(header).ok_or(AuthError::Missing)?;
        if !secure && !peer.to_canonical().is_loopback() {
            return Err(AuthError::NeedsTls);
        }
        let digest = self.digest(peer, &username, password.expose());
        let known = self.is_known(&digest);
        if !known {
            self.limiter
                .admit(peer, &username)
                .await
                .map_err(AuthError::Blocked)?;
        }
        let store = self.store.clone();
        let name = username.clone();
        let checked =
            tokio::task::spawn_blocking(move || store.authenticate(&name, &password)).await;
        match checked {
            Ok(Ok(Some(account))) => {
                if !known {
                    self.limiter.success(peer, &username);
                    self.remember(digest);
                }
                Ok(Authenticated { account, username })
            }
            Ok(Ok(None)) => {
                if known {
                    // The password changed: this digest opens nothing now.
                    self.known().remove(&digest);
                }
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

impl Authenticator {
    /// The owner of a Bearer token, or the limiter's answer to a wrong one.
    pub async fn check_token(
        &self,
        token: Secret<String>,
        peer: IpAddr,
    ) -> Result<TokenOwner, AuthError> {
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || store.token_owner(&token)).await;
        match found {
            Ok(Ok(Some(owner))) => Ok(owner),
            Ok(Ok(None)) => {
                self.limiter.check(peer).map_err(AuthError::Blocked)?;
                tracing::info!(%peer, "HTTP login failed: unknown, expired or revoked token");
                let delay = self.limiter.failure(peer, BEARER);
                tokio::time::sleep(delay).await;
                Err(AuthError::Invalid)
            }
            Ok(Err(e)) => {
                tracing::warn!("token check failed: {e}");
                Err(AuthError::Unavailable)
            }
            Err(e) => {
                tracing::error!("token check task failed: {e}");
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// The limiter's account name for failed Bearer tokens (which name none).
const BEARER: &str = "(bearer token)";

/// `Bearer TOKEN` (RFC 6750 §2.1; the scheme name is case-insensitive).
pub fn parse_bearer(header: &[u8]) -> Option<Secret<String>> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty() && token.len() <= 256).then(|| Secret::new(token.to_string()))
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

    #[test]
    fn bearer_header_parses() {
        assert_eq!(parse_bearer(b"Bearer abc").unwrap().expose(), "abc");
        assert_eq!(parse_bearer(b"bearer  abc ").unwrap().expose(), "abc");
        assert!(parse_bearer(b"Basic abc").is_none());
        assert!(parse_bearer(b"Bearer ").is_none());
    }
}
