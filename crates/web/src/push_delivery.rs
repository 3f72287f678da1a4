//! PushSubscription delivery (RFC 8620 §7.2): POSTs PushVerification and
//! StateChange objects to the URLs clients subscribed with
//! `PushSubscription/set` (the method itself is `tidings-jmap`'s).
//!
//! Implementation notes:
//! - One dispatcher task ([`run`]) listens to the store's change events
//!   and to verifications queued by `PushSubscription/set`
//!   ([`PushDelivery`], a bounded channel); each POST is a task of its
//!   own, at most [`MAX_IN_FLIGHT`] at once (more are dropped with a
//!   warning: the next change pushes the newest state anyway).
//! - Events that arrive together are merged per account: one StateChange
//!   with the newest state, to each verified, unexpired subscription of
//!   the account, with the types it asked for.
//! - The verified subscriptions of each account that changed are kept in
//!   memory ([`TargetCache`]) after the first read, so a commit costs no
//!   store read; `PushSubscription/set` drops the account's entry. (A
//!   change made to the METADATA entry by other means is seen after a
//!   restart.)
//! - URLs: `https` only, verified against the system's roots (the
//!   server's `push_tls`); plain `http` only to a loopback host and only
//!   when `[jmap] push_http_loopback` is set (tests). No user info in the
//!   URL. The host's addresses must pass [`Rules::address_allowed`] (the
//!   server gives SMTP's public-address rule), so a push URL cannot reach
//!   into the operator's network.
//! - Each POST (connect, TLS, request, response head) has
//!   [`POST_TIMEOUT`]; the body is `application/json` with `TTL` (RFC
//!   8030 §5.2). The answer's status is logged, nothing is retried.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tidings_jmap::{Jmap, PushSender, PushTarget};
use tidings_store::Store;
use tidings_types::AccountId;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::push;

/// POSTs running at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Verifications waiting for the dispatcher.
const QUEUE: usize = 256;
/// The longest one POST may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a push service may keep a message for a device (RFC 8030
/// §5.2): a StateChange older than a day is of no use.
const TTL: &str = "86400";

/// One POST to make.
#[derive(Debug)]
pub struct Post {
    url: String,
    body: Value,
}

/// The verified subscriptions of accounts, as last read.
#[derive(Debug, Default)]
pub struct TargetCache {
    /// Bumped by every `PushSubscription/set`: a read that started before
    /// is not kept.
    generation: u64,
    accounts: HashMap<AccountId, Vec<PushTarget>>,
}

type SharedCache = Arc<std::sync::Mutex<TargetCache>>;

fn lock(cache: &SharedCache) -> std::sync::MutexGuard<'_, TargetCache> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The [`PushSender`] handed to the JMAP methods: checks URLs, queues
/// verifications for [`run`] and keeps its cache current.
#[derive(Debug)]
pub struct PushDelivery {
    http_loopback: bool,
    queue: mpsc::Sender<Post>,
    cache: SharedCache,
}

/// What [`run`] takes from [`PushDelivery::new`].
#[derive(Debug)]
pub struct Inbox {
    queue: mpsc::Receiver<Post>,
    cache: SharedCache,
}

impl PushDelivery {
    /// The sender and the receiving end [`run`] takes.
    pub fn new(http_loopback: bool) -> (Self, Inbox) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let cache = SharedCache::default();
        (
            PushDelivery {
                http_loopback,
                queue,
                cache: Arc::clone(&cache),
            },
            Inbox { queue: rx, cache },
        )
    }
}

impl PushSender for PushDelivery {
    fn check_url(&self, url: &str) -> Result<(), String> {
        Target::parse(url, self.http_loopback).map(|_| ())
    }

    fn send_verification(&self, url: &str, body: Value) {
        let post = Post {
            url: url.to_string(),
            body,
        };
        if self.queue.try_send(post).is_err() {
            tracing::warn!("push verification not sent: the delivery queue is full");
        }
    }

    fn subscriptions_changed(&self, account: AccountId) {
        let mut cache = lock(&self.cache);
        cache.generation += 1;
        cache.accounts.remove(&account);
    }
}

/// Where a POST goes.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str, http_loopback: bool) -> Result<Target, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("the URL must not hold user info".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if http_loopback && loopback => false,
            _ => return Err("push URLs must be https".into()),
        };
        Ok(Target {
            tls,
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), ToString::to_string),
            host,
        })
    }
}

/// Where pushes may go.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// `http` URLs to a loopback host are allowed (tests).
    pub http_loopback: bool,
    /// Whether a host may be reached at an address.
    pub address_allowed: fn(IpAddr) -> bool,
}

/// Delivers pushes until `shutdown`, then waits up to [`POST_TIMEOUT`]
/// for the POSTs in flight.
pub async fn run(
    store: Store,
    jmap: Jmap,
    tls: Option<Arc<rustls::ClientConfig>>,
    rules: Rules,
    inbox: Inbox,
    shutdown: CancellationToken,
) {
    let Inbox { mut queue, cache } = inbox;
    let mut events = store.subscribe();
    let jmap = Arc::new(jmap);
    let posts = Poster {
        tls,
        rules,
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        tracker: TaskTracker::new(),
    };
    loop {
        let mut pending: HashMap<AccountId, u64> = HashMap::new();
        tokio::select! {
            () = shutdown.cancelled() => break,
            post = queue.recv() => match post {
                Some(post) => posts.spawn(post),
                None => break,
            },
            event = events.recv() => match event {
                Ok(e) => {
                    pending.insert(e.account, e.modseq.0);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("push delivery fell {n} change events behind; those are not pushed");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
        // What else has arrived goes in the same round.
        loop {
            match events.try_recv() {
                Ok(e) => {
                    let state = pending.entry(e.account).or_default();
                    *state = (*state).max(e.modseq.0);
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        for (account, state) in pending {
            let cached = lock(&cache).accounts.get(&account).cloned();
            let targets = match cached {
                Some(t) => t,
                None => {
                    let generation = lock(&cache).generation;
                    let j = Arc::clone(&jmap);
                    match tokio::task::spawn_blocking(move || j.push_targets(account)).await {
                        Ok(Ok(t)) => {
                            let mut c = lock(&cache);
                            if c.generation == generation {
                                c.accounts.insert(account, t.clone());
                            }
                            t
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(%account, "push subscriptions unreadable: {e}");
                            continue;
                        }
                        Err(e) => {
                            tracing::error!("push subscription task failed: {e}");
                            continue;
                        }
                    }
                }
            };
            let now = tidings_jmap::submission::now();
            for target in targets.into_iter().filter(|t| t.expires > now) {
                let wanted = target.types.as_ref();
                let types: Vec<&str> = push::TYPES
                    .iter()
                    .copied()
                    .filter(|t| wanted.is_none_or(|w| w.iter().any(|x| x == t)))
                    .collect();
                if types.is_empty() {
                    continue;
                }
                let body = push::state_change(account, state, &types);
                posts.spawn(Post {
                    url: target.url,
                    body,
                });
            }
        }
    }
    posts.tracker.close();
    let _ = tokio::time::timeout(POST_TIMEOUT, posts.tracker.wait()).await;
}

struct Poster {
    tls: Option<Arc<rustls::ClientConfig>>,
    rules: Rules,
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
}

impl Poster {
    fn spawn(&self, post: Post) {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            tracing::warn!(url = %post.url, "push not sent: {MAX_IN_FLIGHT} POSTs already running");
            return;
        };
        let tls = self.tls.clone();
        let rules = self.rules;
        self.tracker.spawn(async move {
            let _slot = slot;
            let what = post.body.get("@type").cloned().unwrap_or_default();
            match tokio::time::timeout(POST_TIMEOUT, send(tls, rules, &post)).await {
                Ok(Ok(status)) if status.is_success() => {
                    tracing::debug!(url = %post.url, %what, %status, "push sent");
                }
                Ok(Ok(status)) => {
                    tracing::info!(url = %post.url, %what, %status, "push refused");
                }
                Ok(Err(e)) => tracing::info!(url = %post.url, %what, "push failed: {e}"),
                Err(_) => tracing::info!(url = %post.url, %what, "push timed out"),
            }
        });
    }
}

async fn send(
    tls: Option<Arc<rustls::ClientConfig>>,
    rules: Rules,
    post: &Post,
) -> Result<hyper::StatusCode, String> {
    // Checked again: the rule may have changed since the subscription.
    let target = Target::parse(&post.url, rules.http_loopback)?;
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("{}: {e}", target.host))?
            .filter(|a| (!target.tls && a.ip().is_loopback()) || (rules.address_allowed)(a.ip()))
            .collect();
    if addrs.is_empty() {
        return Err(format!("{} has no address pushes may go to", target.host));
    }
    let tcp = TcpStream::connect(&addrs[..])
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let body = Bytes::from(post.body.to_string());
    if target.tls {
        let config = tls.ok_or("no trusted root certificates for https pushes")?;
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("bad host name: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        request(TokioIo::new(stream), &target, body).await
    } else {
        request(TokioIo::new(tcp), &target, body).await
    }
}

async fn request<I>(io: I, target: &Target, body: Bytes) -> Result<hyper::StatusCode, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = tokio::time::timeout(POST_TIMEOUT, conn).await;
    });
    let req = Request::post(target.path.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header("TTL", TTL)
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    Ok(response.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http_when_allowed() {
        let t = Target::parse("https://push.example.org/p/1?x=2", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(t.tls && t.port == 443 && t.host == "push.example.org" && t.path == "/p/1?x=2");
        assert!(Target::parse("http://push.example.org/", true).is_err());
        assert!(Target::parse("http://127.0.0.1:9/", false).is_err());
        let t = Target::parse("http://127.0.0.1:9/x", true).unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.tls && t.port == 9 && t.authority == "127.0.0.1:9");
        assert!(Target::parse("http://[::1]:9/", true).is_ok_and(|t| t.host == "::1"));
        assert!(Target::parse("https://user:pw@push.example.org/", false).is_err());
        assert!(Target::parse("ftp://push.example.org/", true).is_err());
        assert!(Target::parse("/relative", true).is_err());
    }
}
