//! The POP3 server session: RFC 1939 with CAPA, response codes and
//! pipelining (RFC 2449), SASL PLAIN (RFC 5034, RFC 4616), STLS (RFC 2595)
//! and UTF8 (RFC 6856), over the Tidings store.
//!
//! A POP3 client sees the account's INBOX as its maildrop: a snapshot taken
//! at login, numbered 1..n, each message's UIDL its stable email id. What
//! `DELE` + `QUIT` does to a message for the account's other devices is the
//! account's POP policy, applied by the store in one durable transaction at
//! `QUIT` ([`tidings_store::Backend::pop_commit`]); a connection that ends
//! any other way changes nothing.
//!
//! Main types: [`Pop3Service`] (a [`tidings_net::Service`] for the `pop3`
//! and `pop3s` listeners) and [`Pop3Config`] (timeouts and login limits).
//! Modules: `session` (the state machine), `connection` (the I/O loop).
//! Failed logins are counted per IP address and per account in the
//! server-wide [`tidings_net::AuthLimiter`] that every protocol shares.
//!
//! Depends on `tidings-pop3-proto` for the wire format, `tidings-store` for
//! the mail and `tidings-net` for the connection; it must not depend on any
//! other protocol crate, and holds no mail state of its own.

#![forbid(unsafe_code)]

mod connection;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tidings_net::{AuthLimiter, Connection, Service, SessionFuture};
use tidings_store::Store;
use tokio_util::sync::CancellationToken;

/// Timeouts and limits of POP3 sessions.
#[derive(Clone, Debug)]
pub struct Pop3Config {
    /// RFC 1939 §3 autologout: a session idle this long is closed without
    /// entering the UPDATE state. The RFC requires at least 10 minutes.
    pub idle_timeout: Duration,
    /// Before login, a connection silent this long is closed (`-ERR`). The
    /// RFC 1939 §3 minimum applies to a logged-in session only; a short one
    /// here keeps connections that never log in from holding their slots.
    pub login_timeout: Duration,
    /// How long writing a reply may take before the client is given up on.
    pub write_timeout: Duration,
    /// Failed logins after which the session is closed. (How long each
    /// failure is answered after, and when an address is refused outright,
    /// is the [`AuthLimiter`]'s business.)
    pub max_failures: u32,
    /// Allow USER/PASS and AUTH PLAIN without TLS from a loopback address
    /// (the project's rule: no plaintext login before TLS except on
    /// loopback). Off, plaintext login always needs TLS.
    pub plaintext_on_loopback: bool,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            idle_timeout: Duration::from_secs(10 * 60),
            login_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(5 * 60),
            max_failures: 3,
            plaintext_on_loopback: true,
        }
    }
}

/// What every session of one service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub config: Pop3Config,
    pub limiter: AuthLimiter,
}

/// The POP3 service: one session per connection.
#[derive(Clone, Debug)]
pub struct Pop3Service {
    shared: Arc<Shared>,
}

impl Pop3Service {
    /// A service counting failed logins in `limiter` (share one limiter
    /// between all the protocols of a server).
    pub fn new(store: Store, config: Pop3Config, limiter: AuthLimiter) -> Self {
        Pop3Service {
            shared: Arc::new(Shared {
                store,
                config,
                limiter,
            }),
        }
    }
}

impl Service for Pop3Service {
    fn name(&self) -> &'static str {
        "pop3"
    }

    fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture {
        Box::pin(connection::run(conn, Arc::clone(&self.shared), shutdown))
    }
}
