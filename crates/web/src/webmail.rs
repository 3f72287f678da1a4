//! The webmail: its page and assets (built from `web/` by
//! `scripts/build-web`, committed in `crates/web/assets/` and embedded
//! here, so building the server needs no Node), the security headers of
//! every page, and the session cookie with its CSRF rules.
//!
//! The webmail is a JMAP client like any other: everything it does goes
//! through `/jmap/`, `/eventsource/`, `/upload/` and `/download/`; the
//! only thing it adds is a way to hold the session in a cookie instead of
//! in script-readable memory.
//!
//! Implementation notes:
//! - The session cookie [`COOKIE`] holds a `web` access token (from
//!   `POST /auth/session` with [`WEBMAIL_HEADER`]); it is `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and `Secure` when set over HTTPS. Only
//!   `web` tokens are taken from the cookie (an app password never is).
//! - CSRF: a request authenticated by the cookie (never one with an
//!   `Authorization` header) that changes state (any method but GET and
//!   HEAD) must carry [`WEBMAIL_HEADER`], a custom header that a cross-site
//!   form cannot send and cross-site script cannot send without a CORS
//!   preflight we never answer; and any cookie request whose `Origin` (or
//!   `Sec-Fetch-Site`) says it comes from elsewhere is refused, which also
//!   covers the WebSocket upgrade (a GET). `SameSite=Strict` is a third
//!   layer.
//! - Every page and asset carries [`CSP`] (no inline script, no remote
//!   script or style, no framing), `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`.
//! - Mail HTML is sanitised in the page (DOMPurify) and shown in an
//!   `<iframe sandbox>` without `allow-scripts`, whose own CSP (a `<meta>`
//!   the page writes) forbids remote loads until the user asks; the page's
//!   CSP allows remote images only so that such a request can work.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::{Reply, reply};

/// The name of the session cookie.
pub const COOKIE: &str = "tidings_session";

/// The header the webmail sends with every request (CSRF protection for
/// cookie-authenticated requests; also asks `POST /auth/session` for a
/// cookie).
pub const WEBMAIL_HEADER: &str = "x-tidings-webmail";

/// The Content-Security-Policy of the webmail's pages (CSP Level 3).
/// `img-src` allows remote images for the sandboxed message frame (which
/// inherits this policy and adds its own, stricter one until the user
/// allows images); `style-src 'unsafe-inline'` lets a message's own
/// styles apply in that frame (styles, not scripts).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob: https: http:; connect-src 'self'; frame-src 'self' blob: data:; \
    child-src 'self' blob: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const INDEX_HTML: &[u8] = include_bytes!("../assets/index.html");
const APP_JS: &[u8] = include_bytes!("../assets/app.js");
const APP_CSS: &[u8] = include_bytes!("../assets/app.css");

/// The webmail's own paths: `/` and its assets.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/webmail/app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/webmail/app.css" => Some(("text/css; charset=utf-8", APP_CSS)),
        _ => None,
    }
}

/// Serves an asset with the security headers.
pub fn serve(content_type: &str, body: &'static [u8]) -> Reply {
    let mut r = reply(StatusCode::OK, content_type, body);
    secure_headers(&mut r);
    // The page is tiny and must match the assets of this binary: no cache
    // (`reply` says no-store), but allow revalidation of the assets.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The headers every webmail response carries.
pub fn secure_headers(r: &mut Reply) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// The session token in the request's cookie, if any.
pub fn cookie_token(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty() && v.len() <= 256).then(|| v.to_string())
        })
}

/// The `Set-Cookie` value that holds `token` (or clears the cookie when
/// `token` is `None`).
pub fn set_cookie(token: Option<&str>, secure: bool, max_age: u64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => {
            format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
        }
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Whether a cookie-authenticated request passes the CSRF rules (see
/// the module notes); `origin` is this server's `scheme://host[:port]`
/// as the request reached it.
pub fn csrf_ok(req: &Request<Incoming>, origin: &str) -> Result<(), &'static str> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err("a cross-site request cannot use the session cookie");
    }
    if let Some(o) = headers.get(header::ORIGIN)
        && !o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())
    {
        return Err("a request from another origin cannot use the session cookie");
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if !safe && !headers.contains_key(WEBMAIL_HEADER) {
        return Err(
            "a state-changing request with the session cookie needs the X-Tidings-Webmail header",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values() {
        let v = set_cookie(Some("tdg_x"), true, 60);
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("Secure"));
        assert!(!set_cookie(Some("t"), false, 60).contains("Secure"));
        assert!(set_cookie(None, false, 0).contains("Max-Age=0"));
    }

    #[test]
    fn assets_exist() {
        let (t, page) = asset("/").unwrap();
        assert!(t.starts_with("text/html"));
        let page = std::str::from_utf8(page).unwrap();
        // No inline script: the page loads its script from a file.
        assert!(page.contains("<script type=\"module\" src=\"/webmail/app.js\"></script>"));
        assert_eq!(page.matches("<script").count(), 1);
        assert!(asset("/webmail/app.js").is_some() && asset("/webmail/app.css").is_some());
        assert!(asset("/webmail/other.js").is_none());
    }
}
