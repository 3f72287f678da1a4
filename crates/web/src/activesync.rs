//! The Exchange ActiveSync endpoint, `/Microsoft-Server-ActiveSync`
//! (MS-ASHTTP): `OPTIONS` advertises the versions and commands, `POST`
//! carries one command, run by `tidings-eas`.
//!
//! Implementation notes:
//! - Both methods need HTTP Basic (the full address and its password or
//!   an app password) or a Bearer token, checked by the shared
//!   [`crate::auth::Authenticator`] (the login limiter); passwords over
//!   plain HTTP only from loopback, as everywhere.
//! - The request line is parsed by `tidings_eas_proto::parse_query`
//!   (plain or base64 form). Its `User` must name the authenticated
//!   account (its address, or the address's local part): another user's
//!   name is refused with 403, before anything is read or written.
//! - A body that does not decode gets a WBXML status answer (MS-ASCMD
//!   §2.2.2), not an HTTP error; a body over [`MAX_BODY`] gets 413.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};

use crate::{Peer, Reply, Shared, authenticate, problem, read_body, reply};

/// The largest command body (SendMail with its attachments).
pub const MAX_BODY: usize = 48 * 1024 * 1024;
/// The highest version, for `MS-Server-ActiveSync`.
const SERVER_VERSION: &str = "16.1";

pub(crate) fn is_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p.eq_ignore_ascii_case("/Microsoft-Server-ActiveSync")
}

fn headers(r: &mut Reply) {
    let h = r.headers_mut();
    h.insert(
        "MS-Server-ActiveSync",
        HeaderValue::from_static(SERVER_VERSION),
    );
    h.insert(
        "MS-ASProtocolVersions",
        HeaderValue::from_static(tidings_eas::PROTOCOL_VERSIONS),
    );
    h.insert(
        "MS-ASProtocolCommands",
        HeaderValue::from_static(tidings_eas::PROTOCOL_COMMANDS),
    );
    h.insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
    h.insert("Public", HeaderValue::from_static("OPTIONS, POST"));
}

pub(crate) async fn handle(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    match *req.method() {
        Method::OPTIONS => {
            let mut r = reply(StatusCode::OK, "text/plain", "");
            headers(&mut r);
            return r;
        }
        Method::POST => {}
        _ => {
            let mut r = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "about:blank",
                "ActiveSync takes OPTIONS and POST",
            );
            headers(&mut r);
            return r;
        }
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let line = match tidings_eas_proto::parse_query(&query) {
        Ok(l) => l,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "about:blank", &e.to_string()),
    };
    let address = who.username.clone();
    if let Some(user) = &line.user {
        let local = address.split('@').next().unwrap_or(&address);
        let user = user.rsplit('\\').next().unwrap_or(user);
        if !user.eq_ignore_ascii_case(&address) && !user.eq_ignore_ascii_case(local) {
            return problem(
                StatusCode::FORBIDDEN,
                "about:blank",
                "the User of the request is not the authenticated account",
            );
        }
    }
    let header_text = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let policy_key = line
        .policy_key
        .or_else(|| header_text("X-MS-PolicyKey").and_then(|k| k.trim().parse::<u32>().ok()));
    let version = line
        .protocol_version
        .clone()
        .or_else(|| header_text("MS-ASProtocolVersion"))
        .unwrap_or_else(|| "14.1".into());
    if !tidings_eas::PROTOCOL_VERSIONS
        .split(',')
        .any(|v| v == version)
    {
        let mut r = problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            "unsupported MS-ASProtocolVersion",
        );
        headers(&mut r);
        return r;
    }
    let user_agent = header_text("User-Agent").unwrap_or_default();
    let body = match read_body(shared, req, MAX_BODY).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let request = tidings_eas::Request {
        account: who.account,
        address: &address,
        command: line.command,
        device_id: &line.device_id,
        device_type: &line.device_type,
        policy_key,
        protocol_version: &version,
        user_agent: &user_agent,
        params: &line.params,
        body: &body,
    };
    let started = std::time::Instant::now();
    let answer = shared.eas.handle(request, &peer.shutdown).await;
    // Per command (a fixed set of names), beside the HTTP route's count.
    tidings_metrics::command("activesync", line.command.name(), started.elapsed());
    let mut r = match answer {
        tidings_eas::Reply::Wbxml(bytes) => {
            reply(StatusCode::OK, "application/vnd.ms-sync.wbxml", bytes)
        }
        tidings_eas::Reply::Empty => {
            let mut r = reply(StatusCode::OK, "text/plain", "");
            r.headers_mut().remove(header::CONTENT_TYPE);
            r
        }
    };
    r.headers_mut().insert(
        "MS-Server-ActiveSync",
        HeaderValue::from_static(SERVER_VERSION),
    );
    r
}
