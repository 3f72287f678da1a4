//! Webmail sign-in and sign-out: `POST /auth/session` trades an address
//! and password for a `web` access token; `DELETE /auth/session` with that
//! token as `Authorization: Bearer` revokes it on the server.
//!
//! Implementation notes:
//! - The body is a form (`application/x-www-form-urlencoded`) or JSON,
//!   with `username` and `password`; at most [`super::MAX_SMALL_BODY`].
//! - Like HTTP Basic, a password is taken over plain HTTP only from a
//!   loopback peer (403 elsewhere), and the check goes through the login
//!   limiter every protocol shares (429 when the address is blocked, the
//!   limiter's delay before a 401).
//! - The password may be the account's or an app password (one check,
//!   the store's `authenticate`).
//! - A web token ends after [`WEB_SESSION_IDLE`] without use, and after
//!   [`WEB_SESSION_MAX`] whatever happens; `tidings user token list`
//!   shows them, `tidings user token del` ends one.
//! - The answer (201) is JSON: `token`, `username`, `accountId`,
//!   `expires` (RFC 3339 UTC), `idleTimeout` (seconds).
//! - The webmail sends `X-Tidings-Webmail` (and its own `Origin`): then
//!   the token goes into the `HttpOnly` session cookie
//!   ([`super::webmail`]) instead of the body, and sign-out takes the
//!   cookie (with the same header) and clears it.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};
use serde_json::json;
use tidings_store::TokenKind;
use tidings_types::Secret;

use super::auth::{AuthError, parse_bearer};
use super::{Peer, Reply, Shared, json_reply, percent_decode, problem, read_body, reply};

/// A webmail session ends after this long without a request.
pub const WEB_SESSION_IDLE: Duration = Duration::from_secs(24 * 3600);
/// A webmail session ends this long after sign-in at the latest.
pub const WEB_SESSION_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// `POST /auth/session`.
pub(crate) async fn sign_in(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let ip = peer.addr.ip();
    if !peer.tls && !ip.to_canonical().is_loopback() {
        return problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "passwords are accepted over plain HTTP only from this machine: use HTTPS",
        );
    }
    // The webmail asks for its session in a cookie (and never sees the
    // token); from elsewhere than its own origin it may not (login CSRF).
    let wants_cookie = req.headers().contains_key(super::webmail::WEBMAIL_HEADER);
    if wants_cookie
        && let Err(why) = super::webmail::csrf_ok(&req, &super::base_url(shared, peer, &req))
    {
        return problem(StatusCode::FORBIDDEN, "about:blank", why);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    let body = match read_body(shared, req, super::MAX_SMALL_BODY).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some((username, password)) = credentials(&body, is_json) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            "send `username` and `password` as a form or as JSON",
        );
    };
    let auth = &shared.auth;
    if let Err(left) = auth.limiter().admit(ip, &username).await {
        return blocked(left);
    }
    let store = auth.store().clone();
    let name = username.clone();
    let now = unix_now();
    let expires = now + WEB_SESSION_MAX.as_secs() as i64;
    let idle = WEB_SESSION_IDLE.as_secs() as i64;
    let made = tokio::task::spawn_blocking(move || {
        let Some(account) = store.authenticate(&name, &password)? else {
            return Ok(None);
        };
        let email = store
            .account_by_id(account)?
            .map_or_else(|| name.clone(), |a| a.email);
        let token_name = format!("web-{now}-{}", random_hex());
        let token = store.add_token(
            &email,
            &token_name,
            TokenKind::Web,
            Some(expires),
            Some(idle),
        )?;
        Ok::<_, tidings_store::StoreError>(Some((account, email, token)))
    })
    .await;
    match made {
        Ok(Ok(Some((account, email, token)))) => {
            auth.limiter().success(ip, &username);
            tracing::info!(user = %email, peer = %ip, "webmail sign-in");
            if wants_cookie {
                let mut r = json_reply(
                    StatusCode::CREATED,
                    &json!({
                        "username": email,
                        "accountId": account.to_string(),
                        "expires": rfc3339(expires),
                        "idleTimeout": idle,
                    }),
                );
                let cookie = super::webmail::set_cookie(
                    Some(token.expose()),
                    peer.tls,
                    WEB_SESSION_MAX.as_secs(),
                );
                if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                return r;
            }
            json_reply(
                StatusCode::CREATED,
                &json!({
                    "token": token.expose(),
                    "username": email,
                    "accountId": account.to_string(),
                    "expires": rfc3339(expires),
                    "idleTimeout": idle,
                }),
            )
        }
        Ok(Ok(None)) => {
            tracing::info!(user = %username, peer = %ip, "webmail sign-in failed: wrong user name or password");
            let delay = auth.limiter().failure(ip, &username);
            tokio::time::sleep(delay).await;
            problem(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "wrong user name or password",
            )
        }
        Ok(Err(e)) => {
            tracing::warn!("webmail sign-in failed: {e}");
            unavailable()
        }
        Err(e) => {
            tracing::error!("webmail sign-in task failed: {e}");
            unavailable()
        }
    }
}

/// `DELETE /auth/session`: revokes the web token presented.
pub(crate) async fn sign_out(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| parse_bearer(h.as_bytes()));
    let from_cookie = bearer.is_none();
    let token = match bearer {
        Some(t) => t,
        None => match super::webmail::cookie_token(&req) {
            Some(t) => {
                if let Err(why) =
                    super::webmail::csrf_ok(&req, &super::base_url(shared, peer, &req))
                {
                    return problem(StatusCode::FORBIDDEN, "about:blank", why);
                }
                Secret::new(t)
            }
            None => {
                return problem(
                    StatusCode::UNAUTHORIZED,
                    "about:blank",
                    "sign out with the session's token as `Authorization: Bearer` or its cookie",
                );
            }
        },
    };
    let owner = match shared.auth.check_token(token.clone(), peer.addr.ip()).await {
        Ok(o) => o,
        Err(AuthError::Blocked(left)) => return blocked(left),
        Err(AuthError::Unavailable) => return unavailable(),
        Err(_) => {
            return problem(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "unknown, expired or revoked token",
            );
        }
    };
    if owner.kind != TokenKind::Web {
        return problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            "this is an app password, not a web session: revoke it with `tidings user token del`",
        );
    }
    let store = shared.auth.store().clone();
    match tokio::task::spawn_blocking(move || store.revoke_token(&token)).await {
        Ok(Ok(_)) => {
            tracing::info!(user = %owner.email, "webmail sign-out");
            let mut r = reply(StatusCode::NO_CONTENT, "text/plain", "");
            if from_cookie
                && let Ok(v) =
                    header::HeaderValue::from_str(&super::webmail::set_cookie(None, peer.tls, 0))
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Err(e)) => {
            tracing::warn!("webmail sign-out failed: {e}");
            unavailable()
        }
        Err(e) => {
            tracing::error!("webmail sign-out task failed: {e}");
            unavailable()
        }
    }
}

/// `username` and `password` from a form or a JSON object.
fn credentials(body: &[u8], is_json: bool) -> Option<(String, Secret<String>)> {
    let (user, password) = if is_json {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        (
            v.get("username")?.as_str()?.to_string(),
            v.get("password")?.as_str()?.to_string(),
        )
    } else {
        let text = std::str::from_utf8(body).ok()?;
        let field = |name: &str| {
            text.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == name).then(|| percent_decode(v))
            })
        };
        (field("username")?, field("password")?)
    };
    let user = user.trim().to_string();
    if user.is_empty() || user.len() > tidings_net::MAX_ACCOUNT_LEN || password.is_empty() {
        return None;
    }
    Some((user, Secret::new(password)))
}

pub(crate) fn blocked(left: Duration) -> Reply {
    let mut r = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "about:blank",
        "too many failed logins from your address; try again later",
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub(crate) fn unavailable() -> Reply {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "about:blank",
        "the server cannot check passwords right now",
    )
}

fn random_hex() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return "0".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds as RFC 3339 UTC.
fn rfc3339(t: i64) -> String {
    let (y, m, d) = tidings_types::civil::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_from_form_and_json() {
        let (u, p) = credentials(b"username=ann%40example.org&password=a+b%26c", false).unwrap();
        assert_eq!(u, "ann@example.org");
        assert_eq!(p.expose(), "a b&c");
        let (u, p) = credentials(br#"{"username":"ann@x.org","password":"pw"}"#, true).unwrap();
        assert_eq!((u.as_str(), p.expose().as_str()), ("ann@x.org", "pw"));
        assert!(credentials(b"username=ann", false).is_none());
        assert!(credentials(b"{}", true).is_none());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
