//! JMAP over WebSocket (RFC 8887): `GET /jmap/ws/` with the `jmap`
//! subprotocol upgrades the HTTP/1.1 connection (hyper's upgrade; framing
//! by tungstenite), then carries Request objects and push on one socket.
//!
//! Implementation notes:
//! - Authentication is the API's (HTTP Basic on the upgrade request,
//!   §4.2); the account is fixed for the connection's life.
//! - Client messages are JSON text: `Request` (§4.3.1; `id` echoed as
//!   `requestId`), `WebSocketPushEnable` / `WebSocketPushDisable` (§4.3.5).
//!   Anything else, bad JSON and binary messages get a `RequestError`
//!   object (§4.3.4) and the connection stays open.
//! - Requests run one at a time per connection, through [`tidings_jmap::Jmap::api`] on a
//!   blocking thread, counted in the account's `maxConcurrentRequests`
//!   with the HTTP API's.
//! - A message or frame larger than `maxSizeRequest` is not read: the
//!   connection is closed with 1009 (Message Too Big, RFC 6455 §7.4.1).
//! - Push: StateChange objects (RFC 8620 §7.1) with `pushState` (the
//!   account's MODSEQ) from the store's change events, shared with
//!   EventSource ([`crate::push`]). `pushState` on enable gets an
//!   immediate StateChange if the account moved on since.
//! - Idle: without push, a connection that sends no message for
//!   [`crate::WebConfig::websocket_idle_timeout`] is closed (1001). With push on,
//!   the server pings every third of that and a pong counts as activity,
//!   so a live listener stays and a dead peer goes.
//! - The connection keeps its `tidings-net` permit (per-IP and total
//!   limits) until the WebSocket ends: the HTTP connection task waits for
//!   it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tidings_jmap::{Caller, RequestError};
use tidings_types::AccountId;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::CapacityError};

use crate::push::{self, Wake};
use crate::{Peer, Reply, Shared, problem, reply};

/// Where the WebSocket endpoint is.
pub const PATH: &str = "/jmap/ws/";
/// The subprotocol (RFC 8887 §4.2).
pub const PROTOCOL: &str = "jmap";

/// Whether a header holds `token` in its comma-separated list.
fn has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `Sec-WebSocket-Accept` value for a valid JMAP upgrade request
/// (RFC 6455 §4.2.1, RFC 8887 §4.2), or why it is not one.
pub fn check_upgrade(req: &Request<Incoming>) -> Result<String, &'static str> {
    if !has_token(req, header::CONNECTION, "upgrade")
        || !has_token(req, header::UPGRADE, "websocket")
    {
        return Err("this is the JMAP WebSocket endpoint: upgrade to websocket");
    }
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("Sec-WebSocket-Version must be 13");
    }
    if !has_token(req, header::SEC_WEBSOCKET_PROTOCOL, PROTOCOL) {
        return Err("the jmap subprotocol is required (RFC 8887 §4.2)");
    }
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("Sec-WebSocket-Key is missing")?;
    Ok(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// `GET /jmap/ws/`: authenticates, answers 101 and runs the WebSocket on
/// a task the HTTP connection waits for.
pub(crate) async fn upgrade(shared: &Arc<Shared>, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match crate::authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let accept = match check_upgrade(&req) {
        Ok(a) => a,
        Err(why) => {
            let mut r = problem(StatusCode::BAD_REQUEST, "about:blank", why);
            if why.contains("Version") {
                r.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            return r;
        }
    };
    let caller = Caller {
        account: who.account,
        username: who.username,
    };
    let on_upgrade = hyper::upgrade::on(req);
    let shared = Arc::clone(shared);
    let shutdown = peer.shutdown.clone();
    let task = tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("WebSocket upgrade failed: {e}");
                return;
            }
        };
        let max = shared.config.jmap.max_size_request;
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        serve(&shared, ws, caller, shutdown).await;
    });
    if let Ok(mut slot) = peer.upgraded.lock() {
        *slot = Some(task);
    }
    let mut r = reply(StatusCode::SWITCHING_PROTOCOLS, "text/plain", "");
    let h = r.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.remove(header::CACHE_CONTROL);
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(PROTOCOL),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// What push the client asked for (§4.3.5).
struct PushOn {
    events: broadcast::Receiver<tidings_store::ChangeEvent>,
    watch: push::Watch,
    types: Vec<&'static str>,
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn serve(
    shared: &Shared,
    mut ws: Socket,
    caller: Caller,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let idle = shared.config.websocket_idle_timeout;
    let mut push: Option<PushOn> = None;
    let mut last_heard = tokio::time::Instant::now();
    let tick = (idle / 3).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    loop {
        let out: Option<Message> = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = ws.send(close(CloseCode::Away, "server shutting down")).await;
                return;
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() >= idle {
                    let _ = ws.send(close(CloseCode::Away, "idle")).await;
                    return;
                }
                push.as_ref().map(|_| Message::Ping(Vec::new().into()))
            }
            wake = async {
                match push.as_mut() {
                    Some(p) => push::next_change(&mut p.events, &p.watch).await,
                    None => std::future::pending().await,
                }
            } => {
                let states = match (wake, push.as_ref()) {
                    (Wake::State(account, s), _) => Some(vec![(account, s)]),
                    (Wake::Lagged, Some(p)) => p.watch.current_states(&shared.store).await,
                    _ => None,
                };
                match (states, push.as_ref()) {
                    (Some(states), Some(p)) => Some(state_change(caller.account, &states, &p.types)),
                    _ => {
                        push = None;
                        None
                    }
                }
            }
            msg = ws.next() => match msg {
                None => return,
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    let _ = ws
                        .send(close(CloseCode::Size, "message larger than maxSizeRequest"))
                        .await;
                    drain(ws.get_mut(), shared.config.jmap.max_size_request).await;
                    return;
                }
                Some(Err(e)) => {
                    tracing::debug!("WebSocket ended: {e}");
                    return;
                }
                Some(Ok(Message::Text(text))) => {
                    last_heard = tokio::time::Instant::now();
                    let (reply, enable) = message(shared, &caller, text.as_bytes()).await;
                    match enable {
                        Some(Toggle::Off) => push = None,
                        Some(Toggle::On { types, push_state }) => {
                            let events = shared.store.subscribe();
                            // §4.3.5: changes since the client's pushState
                            // are sent at once.
                            let now = push::current_state(&shared.store, caller.account).await;
                            if let (Some(now), Some(theirs)) = (now, push_state)
                                && theirs != now
                                && ws
                                    .send(state_change(caller.account, &[(caller.account, now)], &types))
                                    .await
                                    .is_err()
                            {
                                return;
                            }
                            let watch = push::Watch::of(&shared.store, caller.account).await;
                            push = Some(PushOn { events, watch, types });
                        }
                        None => {}
                    }
                    reply
                }
                Some(Ok(Message::Binary(_))) => {
                    last_heard = tokio::time::Instant::now();
                    Some(request_error(
                        &RequestError::NotJson("JMAP over WebSocket messages are text (RFC 8887 §4.2)".into()),
                        None,
                    ))
                }
                Some(Ok(Message::Pong(_))) => {
                    if push.is_some() {
                        last_heard = tokio::time::Instant::now();
                    }
                    None
                }
                // Pings are answered by tungstenite; a Close is answered
                // and the stream then ends.
                Some(Ok(_)) => None,
            },
        };
        if let Some(out) = out
            && ws.send(out).await.is_err()
        {
            return;
        }
    }
}

/// Reads and drops what the peer still sends, at most `max` bytes for at
/// most 2 s, so that closing does not reset the connection before the
/// peer has read the Close frame (unread data makes the kernel send RST,
/// and the peer would then never see why).
async fn drain(io: &mut TokioIo<hyper::upgrade::Upgraded>, max: usize) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 8192];
    let mut left = max;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while left > 0 {
        match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// A StateChange with its `pushState` (RFC 8887 §4.3.5): the caller's own
/// state, when it is among those reported (`pushState` is optional, and a
/// change of a shared account alone does not move it).
fn state_change(own: AccountId, states: &[(AccountId, u64)], types: &[&'static str]) -> Message {
    let mut change = push::state_changes(states, types);
    if let Some((_, state)) = states.iter().find(|(a, _)| *a == own) {
        change["pushState"] = json!(state.to_string());
    }
    Message::text(change.to_string())
}

/// A RequestError object (§4.3.4): the problem details with `@type`.
fn request_error(e: &RequestError, id: Option<&Value>) -> Message {
    let mut v = e.problem();
    v["@type"] = json!("RequestError");
    if let Some(id) = id {
        v["requestId"] = id.clone();
    }
    Message::text(v.to_string())
}

/// Push switched by a message.
enum Toggle {
    On {
        types: Vec<&'static str>,
        push_state: Option<u64>,
    },
    Off,
}

/// Handles one text message: the reply to send, and the push switch.
async fn message(
    shared: &Shared,
    caller: &Caller,
    text: &[u8],
) -> (Option<Message>, Option<Toggle>) {
    let mut object: Map<String, Value> = match serde_json::from_slice(text) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            let e = RequestError::NotRequest("a message is a JSON object".into());
            return (Some(request_error(&e, None)), None);
        }
        Err(e) => {
            return (
                Some(request_error(&RequestError::NotJson(e.to_string()), None)),
                None,
            );
        }
    };
    let kind = object.remove("@type");
    let id = object.remove("id");
    match kind.as_ref().and_then(Value::as_str) {
        Some("Request") => {}
        Some("WebSocketPushEnable") => {
            let types = match object.get("dataTypes") {
                None | Some(Value::Null) => push::TYPES.to_vec(),
                Some(Value::Array(list)) => push::TYPES
                    .iter()
                    .copied()
                    .filter(|t| list.iter().any(|v| v.as_str() == Some(t)))
                    .collect(),
                Some(_) => {
                    let e = RequestError::NotRequest(
                        "dataTypes is a list of type names or null".into(),
                    );
                    return (Some(request_error(&e, id.as_ref())), None);
                }
            };
            let push_state = object
                .get("pushState")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            return (None, Some(Toggle::On { types, push_state }));
        }
        Some("WebSocketPushDisable") => return (None, Some(Toggle::Off)),
        _ => {
            let e = RequestError::NotRequest(
                "@type must be Request, WebSocketPushEnable or WebSocketPushDisable".into(),
            );
            return (Some(request_error(&e, id.as_ref())), None);
        }
    }
    let Some(_slot) = crate::enter(shared, caller.account) else {
        let e = RequestError::Limit {
            limit: "maxConcurrentRequests",
            detail: format!(
                "at most {} requests at once",
                shared.config.jmap.max_concurrent_requests
            ),
        };
        return (Some(request_error(&e, id.as_ref())), None);
    };
    let body = match serde_json::to_vec(&Value::Object(object)) {
        Ok(b) => b,
        Err(e) => {
            return (
                Some(request_error(
                    &RequestError::NotJson(e.to_string()),
                    id.as_ref(),
                )),
                None,
            );
        }
    };
    let jmap = shared.jmap.clone();
    let who = caller.clone();
    let result = tokio::task::spawn_blocking(move || {
        jmap.api(&who, &body)
            .map(|response| serde_json::to_value(&response))
    })
    .await;
    let out = match result {
        Ok(Ok(Ok(mut v))) => {
            v["@type"] = json!("Response");
            if let Some(id) = &id {
                v["requestId"] = id.clone();
            }
            Message::text(v.to_string())
        }
        Ok(Err(e)) => request_error(&e, id.as_ref()),
        Ok(Ok(Err(e))) => {
            tracing::error!("JMAP response not serializable: {e}");
            request_error(
                &RequestError::NotRequest("internal error".into()),
                id.as_ref(),
            )
        }
        Err(e) => {
            tracing::error!("JMAP request task failed: {e}");
            request_error(
                &RequestError::NotRequest("internal error".into()),
                id.as_ref(),
            )
        }
    };
    (Some(out), None)
}
