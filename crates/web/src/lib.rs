//! The Tidings HTTP server: one hyper HTTP/1.1 server behind the shared
//! `tidings-net` listeners (plain on `http`, TLS on `https`, the same
//! per-IP connection limits as every protocol), serving JMAP
//! (`tidings-jmap`), blob download and mail client autoconfiguration.
//!
//! Main types: [`WebService`] (the [`Service`] the listeners run) and
//! [`WebConfig`].
//!
//! Routes:
//! - `GET /`, `/webmail/app.js`, `/webmail/app.css`: the webmail
//!   ([`webmail`]), a JMAP client in the browser;
//! - `GET /.well-known/jmap`: the JMAP session resource (RFC 8620 §2);
//! - `POST /jmap/`: the JMAP API (RFC 8620 §3);
//! - `GET /download/{accountId}/{blobId}/{name}?accept=`: blobs (§6.2);
//! - `POST /upload/{accountId}/`: uploads (§6.1, `upload`);
//! - `GET /eventsource/?types=&closeafter=&ping=`: push (§7.3, [`push`]);
//! - `GET /jmap/ws/`: JMAP over WebSocket (RFC 8887, [`websocket`]);
//! - `POST /auth/session`, `DELETE /auth/session`: webmail sign-in and
//!   sign-out ([`session`]);
//! - `GET /.well-known/autoconfig/mail/config-v1.1.xml`,
//!   `GET /mail/config-v1.1.xml`: Thunderbird autoconfig;
//! - `POST /autodiscover/autodiscover.xml`: Outlook autodiscover.
//!
//! Implementation notes:
//! - Limits: request headers at most [`WebConfig::max_header_bytes`] (hyper's
//!   read buffer) and [`MAX_HEADERS`] fields, sent within
//!   [`WebConfig::header_timeout`] (also the keep-alive idle limit); a body
//!   at most `maxSizeRequest` bytes for the API (64 KiB elsewhere), read
//!   within [`WebConfig::body_timeout`]. A body over the limit is refused
//!   as soon as the limit is passed, without being read whole.
//! - API responses of [`GZIP_MIN`] bytes or more are gzipped when the
//!   client accepts it (serialized and compressed on the blocking thread).
//! - HTTP/2 is served on HTTPS connections whose ALPN chose `h2`
//!   (`serve_h2`); the request's host then comes from `:authority`.
//! - Authentication: `Authorization` (Basic or Bearer, [`auth`]), else
//!   the webmail's session cookie with its CSRF rules ([`webmail`]).
//! - Plain HTTP on a non-loopback address answers everything but ACME and
//!   autoconfig with a redirect to HTTPS (when HTTPS is on).
//! - JMAP and the password check run on blocking threads (the store and
//!   argon2 are blocking).
//! - Shutdown: hyper finishes the request in progress and closes.
//!
//! Must not depend on `server` or another protocol's session crate.

#![forbid(unsafe_code)]

pub mod activesync;
pub mod auth;
pub mod autoconfig;
pub mod push;
pub mod push_delivery;
pub mod session;
mod upload;
pub mod webmail;
pub mod websocket;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tidings_jmap::{Caller, Jmap, RequestError};
use tidings_net::{AuthLimiter, Connection, Service, SessionFuture};
use tidings_store::Store;
use tidings_types::AccountId;
use tokio_util::sync::CancellationToken;

use auth::{AuthError, Authenticated, Authenticator};
pub use autoconfig::MailPort;

/// At most this many header fields in a request.
pub const MAX_HEADERS: usize = 100;
/// The largest body accepted outside the JMAP API (autodiscover).
pub const MAX_SMALL_BODY: usize = 64 * 1024;

/// What the HTTP server needs to know.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The server's name, for autoconfig and redirects.
    pub hostname: String,
    /// The mail ports really listening, for autoconfig.
    pub mail_ports: Vec<MailPort>,
    /// The HTTPS port, if HTTPS listens (for redirects from plain HTTP).
    pub https_port: Option<u16>,
    /// Request header size limit (hyper's buffer; at least 8192).
    pub max_header_bytes: usize,
    /// Time to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// How long a WebSocket may stay silent (without push) or unanswered
    /// (pings, with push) before it is closed.
    pub websocket_idle_timeout: Duration,
    pub jmap: tidings_jmap::Limits,
    /// The bearer token that lets a scraper on another machine read
    /// `/metrics` (`[metrics] token_file`); loopback peers need none.
    pub metrics_token: Option<String>,
    /// Where JMAP EmailSubmission sends (the server's SMTP queue); none:
    /// submissions are refused (`forbiddenToSend`).
    pub outbound: Option<Arc<dyn tidings_jmap::Outbound>>,
    /// The TLS client settings of PushSubscription POSTs (the system's
    /// roots); none: only loopback http pushes can be delivered.
    pub push_tls: Option<Arc<rustls::ClientConfig>>,
    /// Whether PushSubscription URLs may be plain `http` to a loopback
    /// host (`[jmap] push_http_loopback`, for tests).
    pub push_http_loopback: bool,
    /// Whether a PushSubscription host may be reached at an address
    /// (the server passes SMTP's public-address rule); loopback for
    /// `push_http_loopback` URLs is always allowed.
    pub push_address_allowed: fn(std::net::IpAddr) -> bool,
    /// ACME HTTP-01 answers (RFC 8555 §8.3) while an order is pending:
    /// token → key authorization, served at
    /// `/.well-known/acme-challenge/TOKEN` on every HTTP port.
    pub acme_challenges: AcmeChallenges,
    /// The MTA-STS policy (RFC 8461 §3.2) served at
    /// `/.well-known/mta-sts.txt`, whatever the host asked (every
    /// `mta-sts.DOMAIN` points here); none: 404.
    pub mta_sts_policy: Option<String>,
    /// Exchange ActiveSync (`[activesync]`).
    pub activesync: tidings_eas::EasConfig,
    /// Where ActiveSync's SendMail sends (the same SMTP submission path as
    /// JMAP's); none: refused.
    pub eas_outbound: Option<Arc<dyn tidings_eas::Outbound>>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            hostname: "localhost".into(),
            mail_ports: Vec::new(),
            https_port: None,
            max_header_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            websocket_idle_timeout: Duration::from_secs(30 * 60),
            jmap: tidings_jmap::Limits::default(),
            metrics_token: None,
            outbound: None,
            push_tls: None,
            push_http_loopback: false,
            push_address_allowed: |ip| !ip.is_loopback() && !ip.is_unspecified(),
            acme_challenges: AcmeChallenges::default(),
            mta_sts_policy: None,
            activesync: tidings_eas::EasConfig::default(),
            eas_outbound: None,
        }
    }
}

/// The HTTP service behind the `http` and `https` listeners.
#[derive(Clone)]
pub struct WebService {
    shared: Arc<Shared>,
    /// Verifications for [`WebService::push_delivery`], taken by it.
    push_queue: Arc<Mutex<Option<push_delivery::Inbox>>>,
}

struct Shared {
    config: WebConfig,
    store: Store,
    jmap: Jmap,
    eas: tidings_eas::Eas,
    auth: Authenticator,
    /// API requests in progress per account (maxConcurrentRequests).
    in_flight: Mutex<HashMap<AccountId, usize>>,
    /// Uploads in progress per account (maxConcurrentUpload).
    uploads_in_flight: Mutex<HashMap<AccountId, usize>>,
}

impl WebService {
    pub fn new(store: Store, config: WebConfig, limiter: AuthLimiter) -> Self {
        let (push, push_queue) = push_delivery::PushDelivery::new(config.push_http_loopback);
        let mut jmap = Jmap::new(store.clone(), config.jmap.clone()).with_push(Arc::new(push));
        if let Some(o) = &config.outbound {
            jmap = jmap.with_outbound(Arc::clone(o));
        }
        WebService {
            push_queue: Arc::new(Mutex::new(Some(push_queue))),
            shared: Arc::new(Shared {
                jmap,
                eas: tidings_eas::Eas::new(
                    store.clone(),
                    config.activesync.clone(),
                    config.eas_outbound.clone(),
                ),
                auth: Authenticator::new(store.clone(), limiter),
                store,
                config,
                in_flight: Mutex::default(),
                uploads_in_flight: Mutex::default(),
            }),
        }
    }

    /// The PushSubscription delivery task (RFC 8620 §7.2,
    /// [`push_delivery`]); runs until `shutdown`. Only the first call
    /// gets a task that does anything.
    pub fn push_delivery(
        &self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let queue = self.push_queue.lock().ok().and_then(|mut q| q.take());
        let shared = Arc::clone(&self.shared);
        async move {
            let Some(queue) = queue else { return };
            push_delivery::run(
                shared.store.clone(),
                shared.jmap.clone(),
                shared.config.push_tls.clone(),
                push_delivery::Rules {
                    http_loopback: shared.config.push_http_loopback,
                    address_allowed: shared.config.push_address_allowed,
                },
                queue,
                shutdown,
            )
            .await;
        }
    }
}

impl Service for WebService {
    fn name(&self) -> &'static str {
        "http"
    }

    fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture {
        let shared = Arc::clone(&self.shared);
        Box::pin(serve_connection(shared, conn, shutdown))
    }
}

/// Facts about the connection a request came on.
#[derive(Clone)]
struct Peer {
    addr: SocketAddr,
    local: SocketAddr,
    tls: bool,
    /// The server's shutdown (ends push streams).
    shutdown: CancellationToken,
    /// The WebSocket this connection was upgraded to, which the
    /// connection task waits for (keeping its connection permit).
    upgraded: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

async fn serve_connection(shared: Arc<Shared>, conn: Connection, shutdown: CancellationToken) {
    let peer = Peer {
        addr: conn.peer,
        local: conn.local,
        tls: conn.tls_active(),
        shutdown: shutdown.clone(),
        upgraded: Arc::default(),
    };
    let upgraded = Arc::clone(&peer.upgraded);
    let h2 = conn.stream.alpn() == Some(b"h2".as_slice());
    let io = TokioIo::new(conn.stream);
    let handler = Arc::clone(&shared);
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&handler);
        let peer = peer.clone();
        async move {
            let route = route_name(req.uri().path());
            let started = std::time::Instant::now();
            let reply = handle(&shared, peer, req).await;
            // Push streams are counted until their headers are sent.
            tidings_metrics::command("http", route, started.elapsed());
            Ok::<_, Infallible>(reply)
        }
    });
    if h2 {
        serve_h2(&shared, io, service, &shutdown).await;
        return;
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_buf_size(shared.config.max_header_bytes.max(8192))
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        r = connection.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("HTTP connection ended: {e}");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!("HTTP connection ended at shutdown: {e}");
            }
        }
    }
    let task = upgraded.lock().ok().and_then(|mut t| t.take());
    if let Some(task) = task
        && let Err(e) = task.await
    {
        tracing::error!("WebSocket task failed: {e}");
    }
}

/// HTTP/2 (RFC 9113) on an HTTPS connection whose ALPN chose `h2`: the
/// same routes; at most [`H2_STREAMS`] requests at once per connection, the
/// header list bounded as HTTP/1.1's headers are, pings to find dead
/// peers. No WebSocket over HTTP/2 (RFC 8441): clients open an HTTP/1.1
/// connection for it, as browsers do when the server does not offer it.
async fn serve_h2<S>(
    shared: &Shared,
    io: TokioIo<tidings_net::MaybeTls>,
    service: S,
    shutdown: &CancellationToken,
) where
    S: hyper::service::HttpService<Incoming, ResBody = BoxBody<Bytes, Infallible>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor);
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_STREAMS)
        .max_header_list_size(
            u32::try_from(shared.config.max_header_bytes.max(8192)).unwrap_or(u32::MAX),
        )
        .keep_alive_interval(Some(std::time::Duration::from_secs(60)))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        r = connection.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("HTTP/2 connection ended: {e}");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!("HTTP/2 connection ended at shutdown: {e}");
            }
        }
    }
}

/// Requests one HTTP/2 connection may have open at once.
const H2_STREAMS: u32 = 100;

/// Runs HTTP/2's per-stream tasks on the runtime.
#[derive(Clone, Copy, Debug)]
struct TokioExecutor;

impl<F> hyper::rt::Executor<F> for TokioExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

type Reply = Response<BoxBody<Bytes, Infallible>>;

/// The ACME HTTP-01 tokens being validated and their key authorizations,
/// shared with the certificate task.
pub type AcmeChallenges = Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>;

/// The metrics label of a request: its endpoint, from a fixed set.
fn route_name(path: &str) -> &'static str {
    match path {
        "/jmap" | "/jmap/" => "jmap",
        "/.well-known/jmap" => "session",
        "/eventsource" | "/eventsource/" => "eventsource",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/.well-known/acme-challenge/") => "acme",
        "/.well-known/mta-sts.txt" => "mta-sts",
        "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml" => "autoconfig",
        p if p.eq_ignore_ascii_case("/autodiscover/autodiscover.xml") => "autodiscover",
        "/mobileconfig" => "mobileconfig",
        p if p.starts_with("/download/") => "download",
        p if p.starts_with("/upload/") => "upload",
        p if webmail::asset(p).is_some() => "webmail",
        p if activesync::is_path(p) => "activesync",
        _ => "other",
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

/// An RFC 7807 problem-details reply (RFC 8620 §3.6.1).
fn problem(status: StatusCode, kind: &str, detail: &str) -> Reply {
    let body = json!({ "type": kind, "status": status.as_u16(), "detail": detail });
    reply(status, "application/problem+json", body.to_string())
}

fn request_error(e: &RequestError) -> Reply {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    reply(status, "application/problem+json", e.problem().to_string())
}

fn not_found() -> Reply {
    problem(StatusCode::NOT_FOUND, "about:blank", "not found")
}

/// Paths plain HTTP serves on a public address: ACME HTTP-01 and
/// autoconfig (clients fetch it over HTTP before they know better).
fn allowed_in_plain(path: &str) -> bool {
    path.starts_with("/.well-known/acme-challenge/")
        || path.starts_with("/.well-known/autoconfig/")
        || path.starts_with("/mail/config-v1.1.xml")
        || path.eq_ignore_ascii_case("/autodiscover/autodiscover.xml")
}

/// The Host header's host part, if it is a plausible name or address.
fn host_of(req: &Request<Incoming>) -> Option<String> {
    // HTTP/2 sends `:authority` (in the URI) instead of Host (RFC 9113 §8.3.1).
    let authority = req.uri().authority().map(|a| a.as_str().to_string());
    let host = match &authority {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| host.to_string())
}

/// `host` without its port (`[::1]:80` → `[::1]`).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

async fn handle(shared: &Arc<Shared>, peer: Peer, req: Request<Incoming>) -> Reply {
    let peer = &peer;
    let path = req.uri().path().to_string();
    if !peer.tls
        && !peer.local.ip().to_canonical().is_loopback()
        && !allowed_in_plain(&path)
        && let Some(port) = shared.config.https_port
    {
        let host = host_of(&req).unwrap_or_else(|| shared.config.hostname.clone());
        let host = strip_port(&host);
        let port = if port == 443 {
            String::new()
        } else {
            format!(":{port}")
        };
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut r = reply(StatusCode::PERMANENT_REDIRECT, "text/plain", "use HTTPS\n");
        if let Ok(v) = HeaderValue::from_str(&format!("https://{host}{port}{target}")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/.well-known/jmap") => match authenticate(shared, peer, &req).await {
            Ok(who) => session(shared, peer, who, &req).await,
            Err(r) => *r,
        },
        (&Method::POST, "/jmap" | "/jmap/") => api(shared, peer, req).await,
        (&Method::GET, "/jmap/ws" | "/jmap/ws/") => websocket::upgrade(shared, peer, req).await,
        (&Method::GET, "/.well-known/mta-sts.txt") => match &shared.config.mta_sts_policy {
            Some(policy) => reply(StatusCode::OK, "text/plain", policy.clone()),
            None => not_found(),
        },
        (&Method::GET, p) if p.starts_with("/.well-known/acme-challenge/") => {
            let token = &p["/.well-known/acme-challenge/".len()..];
            let answer = shared
                .config
                .acme_challenges
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(token)
                .cloned();
            match answer {
                Some(key_authorization) => reply(
                    StatusCode::OK,
                    "application/octet-stream",
                    key_authorization,
                ),
                None => not_found(),
            }
        }
        (&Method::GET, p) if p.starts_with("/download/") => download(shared, peer, req).await,
        (&Method::POST, p) if p.starts_with("/upload/") => upload::upload(shared, peer, req).await,
        (&Method::POST, "/auth/session") => session::sign_in(shared, peer, req).await,
        (&Method::DELETE, "/auth/session") => session::sign_out(shared, peer, req).await,
        (&Method::GET, "/eventsource" | "/eventsource/") => event_source(shared, peer, req).await,
        (
            &Method::GET,
            "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml",
        ) => {
            let address = req
                .uri()
                .query()
                .and_then(|q| query_param(q, "emailaddress"));
            let xml = autoconfig::thunderbird(
                &shared.config.hostname,
                &shared.config.mail_ports,
                address.as_deref(),
            );
            reply(StatusCode::OK, "application/xml", xml)
        }
        (&Method::GET, "/mobileconfig") => {
            // An address is needed: the profile names the account.
            let address = req
                .uri()
                .query()
                .and_then(|q| query_param(q, "emailaddress"))
                .filter(|a| {
                    a.len() <= 254
                        && a.split_once('@')
                            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
                });
            let Some(address) = address else {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "about:blank",
                    "name the account: /mobileconfig?emailaddress=you@example.org",
                );
            };
            match autoconfig::mobileconfig(
                &shared.config.hostname,
                &shared.config.mail_ports,
                &address,
            ) {
                Some(profile) => {
                    let mut r = reply(StatusCode::OK, "application/x-apple-aspen-config", profile);
                    if let Ok(v) = HeaderValue::from_str(&format!(
                        "attachment; filename=\"{}.mobileconfig\"",
                        shared.config.hostname.replace(['"', '\\'], "")
                    )) {
                        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                    }
                    r
                }
                None => problem(
                    StatusCode::NOT_FOUND,
                    "about:blank",
                    "no IMAP or submission port listens",
                ),
            }
        }
        (&Method::POST, p) if p.eq_ignore_ascii_case("/autodiscover/autodiscover.xml") => {
            let body = match read_body(shared, req, MAX_SMALL_BODY).await {
                Ok(b) => b,
                Err(r) => return *r,
            };
            let address = autoconfig::request_address(&body);
            if autoconfig::wants_mobilesync(&body) {
                let xml = autoconfig::mobilesync(
                    &shared.config.hostname,
                    shared.config.https_port,
                    address.as_deref(),
                );
                return reply(StatusCode::OK, "text/xml", xml);
            }
            let xml = autoconfig::outlook(
                &shared.config.hostname,
                &shared.config.mail_ports,
                address.as_deref(),
            );
            reply(StatusCode::OK, "application/xml", xml)
        }
        (_, p) if activesync::is_path(p) => activesync::handle(shared, peer, req).await,
        (&Method::GET, "/healthz") => healthz(shared).await,
        (&Method::GET, "/metrics") => metrics(shared, peer, &req).await,
        (&Method::GET | &Method::HEAD, p) if webmail::asset(p).is_some() => {
            match webmail::asset(p) {
                Some((content_type, body)) => webmail::serve(content_type, body),
                None => not_found(),
            }
        }
        (_, "/.well-known/jmap" | "/jmap" | "/jmap/") => {
            let mut r = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "about:blank",
                "method not allowed",
            );
            let allow = if path == "/.well-known/jmap" {
                "GET"
            } else {
                "POST"
            };
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            r
        }
        _ => not_found(),
    }
}

/// `GET /healthz` for a load balancer or a monitor: `200 ok` when the store
/// answers a read within 5 s, else `503` with the reason. No login: it
/// tells nothing but that the server works.
async fn healthz(shared: &Shared) -> Reply {
    let store = shared.store.clone();
    let read = tokio::task::spawn_blocking(move || store.domains().map(|_| ()));
    match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(Ok(Ok(()))) => reply(StatusCode::OK, "text/plain", "ok\n"),
        Ok(Ok(Err(e))) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!("store: {e}\n"),
        ),
        Ok(Err(_)) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "store: the read failed\n",
        ),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "store: no answer within 5 s\n",
        ),
    }
}

/// `GET /metrics`: every counter in the OpenMetrics text format
/// (`tidings_*`), for Prometheus. Served to peers on this machine, and to
/// others that present `[metrics] token_file`'s token as a bearer token
/// (over HTTPS: plain HTTP from elsewhere is redirected before this). The
/// queue gauges are read from the store now.
async fn metrics(shared: &Shared, peer: &Peer, req: &Request<Incoming>) -> Reply {
    let local = peer.addr.ip().to_canonical().is_loopback();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&shared.config.metrics_token, presented) {
        (Some(token), Some(given)) => same_secret(token.as_bytes(), given.trim().as_bytes()),
        _ => false,
    };
    if !local && !allowed {
        return problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "metrics are served to this machine, or with the bearer token of [metrics] token_file",
        );
    }
    let store = shared.store.clone();
    if let Ok(Ok(queue)) = tokio::task::spawn_blocking(move || store.queue_list()).await {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let oldest = queue
            .iter()
            .map(|m| u64::try_from(m.created).unwrap_or(0))
            .min()
            .map_or(0, |created| now.saturating_sub(created));
        tidings_metrics::set_queue(queue.len(), Duration::from_secs(oldest));
    }
    reply(
        StatusCode::OK,
        tidings_metrics::CONTENT_TYPE,
        tidings_metrics::render(),
    )
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A query parameter's value, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn authenticate(
    shared: &Shared,
    peer: &Peer,
    req: &Request<Incoming>,
) -> Result<Authenticated, Box<Reply>> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if header.is_none()
        && let Some(token) = webmail::cookie_token(req)
    {
        return cookie_session(shared, peer, req, token).await;
    }
    match shared.auth.check(header, peer.addr.ip(), peer.tls).await {
        Ok(who) => Ok(who),
        Err(AuthError::Missing | AuthError::Invalid) => {
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "authentication required: HTTP Basic with the full address and password \
                 (or an app password), or an access token as Bearer",
            );
            // Not to the webmail: a Basic challenge makes the browser
            // ask for a password in a dialog of its own.
            if !req.headers().contains_key(webmail::WEBMAIL_HEADER) {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Tidings\", charset=\"UTF-8\""),
                );
            }
            r.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Tidings\""),
            );
            Err(Box::new(r))
        }
        Err(AuthError::NeedsTls) => Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "passwords are accepted over plain HTTP only from this machine: use HTTPS",
        ))),
        Err(AuthError::Blocked(left)) => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "about:blank",
                "too many failed logins from your address; try again later",
            );
            if let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Err(Box::new(r))
        }
        Err(AuthError::Unavailable) => Err(Box::new(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "about:blank",
            "the server cannot check passwords right now",
        ))),
    }
}

/// A request authenticated by the webmail's session cookie: a `web` token
/// and the CSRF rules of [`webmail::csrf_ok`].
async fn cookie_session(
    shared: &Shared,
    peer: &Peer,
    req: &Request<Incoming>,
    token: String,
) -> Result<Authenticated, Box<Reply>> {
    if let Err(why) = webmail::csrf_ok(req, &base_url(shared, peer, req)) {
        return Err(Box::new(problem(StatusCode::FORBIDDEN, "about:blank", why)));
    }
    if !peer.tls && !peer.addr.ip().to_canonical().is_loopback() {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "sessions are accepted over plain HTTP only from this machine: use HTTPS",
        )));
    }
    let owner = shared
        .auth
        .check_token(tidings_types::Secret::new(token), peer.addr.ip())
        .await;
    match owner {
        Ok(o) if o.kind == tidings_store::TokenKind::Web => Ok(Authenticated {
            account: o.account,
            username: o.email,
        }),
        Ok(_) | Err(AuthError::Missing | AuthError::Invalid | AuthError::NeedsTls) => {
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "the session has ended: sign in again",
            );
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&webmail::set_cookie(None, peer.tls, 0))
                    .unwrap_or(HeaderValue::from_static("")),
            );
            Err(Box::new(r))
        }
        Err(AuthError::Blocked(left)) => Err(Box::new(session::blocked(left))),
        Err(AuthError::Unavailable) => Err(Box::new(session::unavailable())),
    }
}

/// The scheme and authority clients reached us by.
fn base_url(shared: &Shared, peer: &Peer, req: &Request<Incoming>) -> String {
    let scheme = if peer.tls { "https" } else { "http" };
    let host =
        host_of(req).unwrap_or_else(|| format!("{}:{}", shared.config.hostname, peer.local.port()));
    format!("{scheme}://{host}")
}

async fn session(
    shared: &Shared,
    peer: &Peer,
    who: Authenticated,
    req: &Request<Incoming>,
) -> Reply {
    let base = base_url(shared, peer, req);
    let urls = tidings_jmap::Urls {
        api: format!("{base}/jmap/"),
        download: format!("{base}/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}"),
        upload: format!("{base}/upload/{{accountId}}/"),
        event_source: format!(
            "{base}/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"
        ),
        websocket: format!("{}{}", base.replacen("http", "ws", 1), websocket::PATH),
    };
    let caller = Caller {
        account: who.account,
        username: who.username,
    };
    // The shared accounts are read from the store.
    let jmap = shared.jmap.clone();
    let account = who.account;
    match tokio::task::spawn_blocking(move || jmap.session(&caller, &urls)).await {
        Ok(Ok(session)) => json_reply(StatusCode::OK, &session),
        Ok(Err(e)) => {
            tracing::warn!("JMAP session of {account}: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "try again later",
            )
        }
        Err(e) => {
            tracing::warn!("JMAP session task: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "try again later",
            )
        }
    }
}

/// Reads a body of at most `max` bytes within the body timeout.
async fn read_body(
    shared: &Shared,
    req: Request<Incoming>,
    max: usize,
) -> Result<Bytes, Box<Reply>> {
    let too_large = || {
        Box::new(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "about:blank",
            &format!("request body larger than {max} bytes"),
        ))
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), max);
    match tokio::time::timeout(shared.config.body_timeout, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            &format!("cannot read the request body: {e}"),
        ))),
        Err(_) => Err(Box::new(problem(
            StatusCode::REQUEST_TIMEOUT,
            "about:blank",
            "the request body did not arrive in time",
        ))),
    }
}

/// Counts an account's API request in progress; released when dropped.
struct InFlight<'a> {
    shared: &'a Shared,
    account: AccountId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

fn enter(shared: &Shared, account: AccountId) -> Option<InFlight<'_>> {
    let mut map = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    let n = map.entry(account).or_insert(0);
    if *n >= shared.config.jmap.max_concurrent_requests {
        return None;
    }
    *n += 1;
    Some(InFlight { shared, account })
}

async fn api(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    // RFC 8620 §3.1: the request is `application/json`.
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if json_type
        .as_deref()
        .is_some_and(|t| t != "application/json")
    {
        return request_error(&RequestError::NotJson(
            "the Content-Type is not application/json".into(),
        ));
    }
    let Some(_slot) = enter(shared, who.account) else {
        return request_error(&RequestError::Limit {
            limit: "maxConcurrentRequests",
            detail: format!(
                "at most {} requests at once",
                shared.config.jmap.max_concurrent_requests
            ),
        });
    };
    let gzip = accepts_gzip(&req);
    let max = shared.config.jmap.max_size_request;
    let body = match read_body(shared, req, max).await {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return request_error(&RequestError::Limit {
                limit: "maxSizeRequest",
                detail: format!("the request is larger than {max} bytes"),
            });
        }
        Err(r) => return *r,
    };
    let jmap = shared.jmap.clone();
    let caller = Caller {
        account: who.account,
        username: who.username,
    };
    // Serialized (and compressed) on the blocking thread too: a large
    // response is CPU work.
    let result = tokio::task::spawn_blocking(move || {
        jmap.api(&caller, &body)
            .map(|response| serde_json::to_vec(&response).map(|json| compress(json, gzip)))
    })
    .await;
    match result {
        Ok(Ok(Ok((bytes, gzipped)))) => {
            let mut r = reply(StatusCode::OK, "application/json", bytes);
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            if gzipped {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        Ok(Ok(Err(e))) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "about:blank",
            &e.to_string(),
        ),
        Ok(Err(e)) => request_error(&e),
        Err(e) => {
            tracing::error!("JMAP request task failed: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "internal error",
            )
        }
    }
}

/// Responses smaller than this are sent as they are.
pub const GZIP_MIN: usize = 1024;

/// Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3: a coding
/// with `q=0` is refused).
fn accepts_gzip(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip")) && !refused
        })
}

/// `body` gzipped when the client takes it and it is worth it (RFC 9110
/// §8.4 Content-Encoding); whether it was.
fn compress(body: Vec<u8>, gzip: bool) -> (Vec<u8>, bool) {
    use std::io::Write;
    if !gzip || body.len() < GZIP_MIN {
        return (body, false);
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    match encoder.write_all(&body).and_then(|()| encoder.finish()) {
        Ok(zipped) => (zipped, true),
        Err(_) => (body, false),
    }
}

/// `GET /eventsource/` (RFC 8620 §7.3): see [`push`].
async fn event_source(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let params = match push::params(req.uri().query()) {
        Ok(p) => p,
        Err(why) => return problem(StatusCode::BAD_REQUEST, "about:blank", &why),
    };
    let watch = push::Watch::of(&shared.store, who.account).await;
    let stream = push::start(&shared.store, watch, params, peer.shutdown.clone());
    let mut r = Response::new(stream.boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn download(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    // /download/{accountId}/{blobId}/{name}
    let path = req.uri().path().to_string();
    let mut segments = path.trim_start_matches("/download/").splitn(3, '/');
    let (Some(account), Some(blob), Some(name)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return not_found();
    };
    let accept = req.uri().query().and_then(|q| query_param(q, "accept"));
    let name = percent_decode(name);
    let (account, blob) = (account.to_string(), blob.to_string());
    let jmap = shared.jmap.clone();
    let caller = Caller {
        account: who.account,
        username: who.username,
    };
    let result = tokio::task::spawn_blocking(move || jmap.download(&caller, &account, &blob)).await;
    match result {
        Ok(Ok(blob)) => {
            // RFC 8620 §6.2: the type asked for, if it is a valid one.
            let media = accept
                .filter(|t| t.contains('/') && t.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or(blob.media_type);
            let mut r = reply(StatusCode::OK, &media, blob.bytes);
            let safe: String = name
                .chars()
                .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
                .collect();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, immutable, max-age=31536000"),
            );
            r
        }
        Ok(Err(tidings_jmap::DownloadError::NotFound)) => not_found(),
        Ok(Err(tidings_jmap::DownloadError::TooLarge)) => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "about:blank",
            "blob larger than the download limit",
        ),
        Ok(Err(e)) => {
            tracing::warn!("download failed: {e}");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "about:blank",
                "cannot read the blob",
            )
        }
        Err(e) => {
            tracing::error!("download task failed: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "internal error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.org"), "a@b.org");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("a+b"), "a b");
    }

    #[test]
    fn gzip_round_trips_and_skips_small_bodies() {
        use std::io::Read;
        let body = br#"{"a": "b"}"#.repeat(200);
        let (zipped, yes) = compress(body.clone(), true);
        assert!(yes && zipped.len() < body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert_eq!(compress(b"{}".to_vec(), true), (b"{}".to_vec(), false));
        assert_eq!(compress(body.clone(), false), (body, false));
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("example.org:8080"), "example.org");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("example.org"), "example.org");
    }
}
