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
//! Modules: `session` (the state machine), `connection` (the I/O loop),
//! `limiter` (failed logins per IP address).
//!
//! Depends on `tidings-pop3-proto` for the wire format, `tidings-store` for
//! the mail and `tidings-net` for the connection; it must not depend on any
//! other protocol crate, and holds no mail state of its own.

#![forbid(unsafe_code)]

mod connection;
mod limiter;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tidings_net::{Connection, Service, SessionFuture};
use tidings_store::Store;
use tokio_util::sync::CancellationToken;

pub use limiter::LoginLimiter;

/// Timeouts and limits of POP3 sessions.
#[derive(Clone, Debug)]
pub struct Pop3Config {
    /// RFC 1939 §3 autologout: a session idle this long is closed without
    /// entering the UPDATE state. The RFC requires at least 10 minutes.
    pub idle_timeout: Duration,
    /// How long writing a reply may take before the client is given up on.
    pub write_timeout: Duration,
    /// The n-th failed login of a session is answered after n times this.
    pub failure_delay: Duration,
    /// Failed logins after which the session is closed.
    pub max_failures: u32,
    /// Failed logins from one IP address within `ip_window` after which
    /// that address may not try again until the window has passed.
    pub ip_max_failures: u32,
    pub ip_window: Duration,
    /// Allow USER/PASS and AUTH PLAIN without TLS from a loopback address
    /// (the project's rule: no plaintext login before TLS except on
    /// loopback). Off, plaintext login always needs TLS.
    pub plaintext_on_loopback: bool,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            idle_timeout: Duration::from_secs(10 * 60),
            write_timeout: Duration::from_secs(5 * 60),
            failure_delay: Duration::from_secs(1),
            max_failures: 3,
            ip_max_failures: 10,
            ip_window: Duration::from_secs(15 * 60),
            plaintext_on_loopback: true,
        }
    }
}

/// What every session of one service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub config: Pop3Config,
    pub limiter: LoginLimiter,
}

/// The POP3 service: one session per connection.
#[derive(Clone, Debug)]
pub struct Pop3Service {
    shared: Arc<Shared>,
}

impl Pop3Service {
    /// A service with the default [`Pop3Config`].
    pub fn new(store: Store) -> Self {
        Pop3Service::with_config(store, Pop3Config::default())
    }

    pub fn with_config(store: Store, config: Pop3Config) -> Self {
        let limiter = LoginLimiter::new(config.ip_max_failures, config.ip_window);
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
