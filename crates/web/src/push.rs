//! Push over EventSource (RFC 8620 §7.3): `GET /eventsource/?types=…&
//! closeafter=state|no&ping=N` keeps the response open and sends a `state`
//! event, a StateChange object (§7.1), after every commit that changed the
//! caller's account, straight from the store's change events (no polling).
//!
//! Implementation notes:
//! - Every state of this server is the account's MODSEQ, so one change
//!   event reports the new state of every type asked for.
//! - A client that falls behind the store's event channel (lagged) is sent
//!   the account's current state: it loses nothing, as a state event only
//!   says "fetch the changes since your state".
//! - `ping` is kept between [`MIN_PING`] and [`MAX_PING`] seconds (§7.3
//!   lets the server bound it); 0 sends none.
//! - Changes of mailboxes other accounts share with the caller are
//!   pushed too, under the owner's account id ([`Watch`]).
//! - The stream ends when the client goes, at shutdown, or after the first
//!   state event with `closeafter=state`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use tidings_store::{ChangeEvent, Right, Store};
use tidings_types::{AccountId, MailboxId};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// The shortest ping interval served, seconds.
pub const MIN_PING: u64 = 5;
/// The longest ping interval served, seconds.
pub const MAX_PING: u64 = 3600;
/// The data types whose state a StateChange reports (RFC 8621 §1.5).
pub const TYPES: [&str; 3] = ["Mailbox", "Email", "Thread"];

/// What the client asked for in the query string.
#[derive(Debug, PartialEq, Eq)]
pub struct Params {
    pub types: Vec<&'static str>,
    pub close_after_state: bool,
    pub ping: Option<Duration>,
}

/// Parses `types`, `closeafter` and `ping` (RFC 8620 §7.3); `Err` names
/// what is wrong.
pub fn params(query: Option<&str>) -> Result<Params, String> {
    let mut out = Params {
        types: TYPES.to_vec(),
        close_after_state: false,
        ping: None,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::percent_decode(value);
        match key {
            "types" if value == "*" => out.types = TYPES.to_vec(),
            "types" => {
                out.types = TYPES
                    .iter()
                    .copied()
                    .filter(|t| value.split(',').any(|v| v == *t))
                    .collect();
            }
            "closeafter" => match value.as_str() {
                "state" => out.close_after_state = true,
                "no" => out.close_after_state = false,
                other => return Err(format!("closeafter must be state or no, not {other:?}")),
            },
            "ping" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| format!("ping must be a number of seconds, not {value:?}"))?;
                out.ping = (secs > 0).then(|| Duration::from_secs(secs.clamp(MIN_PING, MAX_PING)));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The response body: events as they are produced.
pub struct EventStream(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// A StateChange object (RFC 8620 §7.1) saying every type in `types` is at
/// `state` (every state is the account's MODSEQ).
pub fn state_change(account: AccountId, state: u64, types: &[&str]) -> Value {
    state_changes(&[(account, state)], types)
}

/// A StateChange object for several accounts at once.
pub fn state_changes(accounts: &[(AccountId, u64)], types: &[&str]) -> Value {
    let mut changed = Map::new();
    for (account, state) in accounts {
        let states: Map<String, Value> = types
            .iter()
            .map(|t| ((*t).to_string(), json!(state.to_string())))
            .collect();
        changed.insert(account.to_string(), Value::Object(states));
    }
    json!({ "@type": "StateChange", "changed": changed })
}

fn state_event(accounts: &[(AccountId, u64)], types: &[&str]) -> Bytes {
    let change = state_changes(accounts, types);
    Bytes::from(format!("event: state\ndata: {change}\n\n"))
}

/// Whose changes a push channel reports: the caller's account, and the
/// other accounts' mailboxes shared with it that it may look up (read
/// when the channel opens; a mailbox shared later is pushed on the next
/// channel). A change of another account that touches none of those
/// mailboxes is not reported.
#[derive(Clone, Debug)]
pub struct Watch {
    pub account: AccountId,
    /// Shared mailbox → its owner.
    shared: HashMap<MailboxId, AccountId>,
}

impl Watch {
    /// The caller's own account and what is shared with it now.
    pub async fn of(store: &Store, account: AccountId) -> Watch {
        let store = store.clone();
        let shared = tokio::task::spawn_blocking(move || store.shared_mailboxes(account))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.rights.has(Right::Lookup))
            .map(|s| (s.mailbox.id, s.mailbox.account))
            .collect();
        Watch { account, shared }
    }

    /// The account a change event is reported for, if any.
    fn reports(&self, e: &ChangeEvent) -> Option<AccountId> {
        if e.account == self.account
            || e.mailboxes
                .iter()
                .any(|m| self.shared.get(m) == Some(&e.account))
        {
            Some(e.account)
        } else {
            None
        }
    }

    /// Every account watched: the caller's first.
    fn accounts(&self) -> Vec<AccountId> {
        let mut out = vec![self.account];
        for owner in self.shared.values() {
            if !out.contains(owner) {
                out.push(*owner);
            }
        }
        out
    }

    /// The current state of every account watched (after lost events);
    /// `None` if the store cannot say.
    pub async fn current_states(&self, store: &Store) -> Option<Vec<(AccountId, u64)>> {
        let mut out = Vec::new();
        for account in self.accounts() {
            out.push((account, current_state(store, account).await?));
        }
        Some(out)
    }
}

/// What the store's change events say to one account's push channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// An account changed: its new MODSEQ.
    State(AccountId, u64),
    /// Events were lost: read the current state with [`current_state`].
    Lagged,
    /// The store is gone.
    Closed,
}

/// The next change event `watch` reports, skipping the others.
/// Cancel-safe (only the broadcast receive awaits), so it can be one
/// branch of a `select!`.
pub async fn next_change(events: &mut broadcast::Receiver<ChangeEvent>, watch: &Watch) -> Wake {
    loop {
        match events.recv().await {
            Ok(e) => {
                if let Some(account) = watch.reports(&e) {
                    return Wake::State(account, e.modseq.0);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => return Wake::Lagged,
            Err(broadcast::error::RecvError::Closed) => return Wake::Closed,
        }
    }
}

/// The account's current state, read on a blocking thread; `None` if the
/// store cannot say.
pub async fn current_state(store: &Store, account: AccountId) -> Option<u64> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.account_by_id(account)).await {
        Ok(Ok(Some(a))) => Some(a.modseq.0),
        _ => None,
    }
}

/// Starts the event stream of `watch`; the task ends with the stream.
pub fn start(
    store: &Store,
    watch: Watch,
    params: Params,
    shutdown: CancellationToken,
) -> EventStream {
    let (tx, rx) = mpsc::channel(16);
    let mut events = store.subscribe();
    let store = store.clone();
    tokio::spawn(async move {
        let ping_every = params.ping.unwrap_or(Duration::from_secs(MAX_PING));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                _ = ping.tick(), if params.ping.is_some() => {
                    let data = json!({ "interval": ping_every.as_secs() });
                    Bytes::from(format!("event: ping\ndata: {data}\n\n"))
                }
                wake = next_change(&mut events, &watch) => match wake {
                    Wake::State(account, state) => state_event(&[(account, state)], &params.types),
                    Wake::Lagged => match watch.current_states(&store).await {
                        Some(states) => state_event(&states, &params.types),
                        None => return,
                    },
                    Wake::Closed => return,
                },
            };
            let is_state = event.starts_with(b"event: state");
            if tx.send(event).await.is_err() {
                return;
            }
            if is_state && params.close_after_state {
                return;
            }
            // §7.3: a ping is due `ping` after the previous event of any kind.
            ping.reset();
        }
    });
    EventStream(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let p = params(Some("types=Email,Foo&closeafter=state&ping=1")).unwrap();
        assert_eq!(p.types, vec!["Email"]);
        assert!(p.close_after_state);
        assert_eq!(p.ping, Some(Duration::from_secs(MIN_PING)));
        let p = params(Some("types=*&closeafter=no&ping=0")).unwrap();
        assert_eq!(p.types, TYPES.to_vec());
        assert_eq!(p.ping, None);
        assert!(params(Some("closeafter=maybe")).is_err());
        assert!(params(Some("ping=soon")).is_err());
    }

    #[test]
    fn state_events_are_server_sent_events() {
        let e = state_event(&[(AccountId(3), 42), (AccountId(5), 7)], &["Email"]);
        let text = std::str::from_utf8(&e).unwrap();
        assert!(text.starts_with("event: state\ndata: {"), "{text}");
        assert!(text.ends_with("\n\n"));
        let data: Value =
            serde_json::from_str(text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["@type"], "StateChange");
        assert_eq!(data["changed"]["A3"]["Email"], "42");
        assert_eq!(data["changed"]["A5"]["Email"], "7");
    }

    #[test]
    fn a_watch_reports_its_account_and_shared_mailboxes_only() {
        let watch = Watch {
            account: AccountId(1),
            shared: HashMap::from([(MailboxId(9), AccountId(2))]),
        };
        let event = |account, mailboxes: &[i64]| ChangeEvent {
            account: AccountId(account),
            modseq: tidings_types::ModSeq(5),
            mailboxes: mailboxes.iter().map(|m| MailboxId(*m)).collect(),
        };
        assert_eq!(watch.reports(&event(1, &[])), Some(AccountId(1)));
        assert_eq!(watch.reports(&event(2, &[8, 9])), Some(AccountId(2)));
        assert_eq!(watch.reports(&event(2, &[8])), None);
        // A mailbox id of the watch's under another account is not it.
        assert_eq!(watch.reports(&event(3, &[9])), None);
        assert_eq!(watch.accounts(), vec![AccountId(1), AccountId(2)]);
    }
}
