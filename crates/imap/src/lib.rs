//! The IMAP server session of Tidings: IMAP4rev1 (RFC 3501) with the
//! IMAP4rev2 (RFC 9051) behaviour and extensions that modern clients use,
//! as a thin view over the protocol-agnostic store (`tidings-store`).
//!
//! Main types: [`ImapService`] (plugs into a `tidings_net::Listener`),
//! [`ImapConfig`]. The grammar lives in `tidings-imap-proto` (framer,
//! parser, serializer); this crate holds the session state machine
//! ([`session`]), the per-session UID↔sequence map ([`view`]), and the
//! pure pieces a command needs: LIST pattern matching ([`list`]), FETCH
//! section slicing and ENVELOPE/BODYSTRUCTURE conversion ([`fetch`]),
//! SEARCH evaluation ([`search`]), SORT and ORDEREDSUBJECT ordering
//! ([`sort`]), REFERENCES threading ([`thread`]) and Gmail's labels
//! ([`gmail`]).
//!
//! Where to extend: one `async fn` per command in [`session`] (dispatch in
//! `Session::command`); capabilities in `Session::capabilities` (advertise
//! only what the end-to-end tests in `crates/server/tests/imap.rs` cover).
//! Benchmarks: `scripts/bench imap` (the `crates/load` IMAP mix against
//! Dovecot, then 10,000 IDLE clients); figures in BENCHMARKS.md. Each
//! selected session holds its mailbox's UID/flags list: the first thing to
//! look at for memory with many idle clients.
//!
//! Mail model (DESIGN.md): folders are labels. COPY adds a label, MOVE
//! swaps one, flags live on the email (every folder sees them) except
//! `\Deleted`, which is per folder entry. The store enforces All Mail and
//! Starred rules; this crate only reports what the store did.
//!
//! Must not depend on another protocol crate or on `server`.

#![forbid(unsafe_code)]

pub mod fetch;
pub mod gmail;
pub mod list;
pub mod search;
pub mod session;
pub mod sort;
pub mod thread;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use tidings_net::{AuthLimiter, Connection, Service, SessionFuture};
use tidings_store::Store;
use tokio_util::sync::CancellationToken;

/// Settings of the IMAP service.
#[derive(Clone, Debug)]
pub struct ImapConfig {
    /// RFC 9051 §5.4 autologout: at least 30 minutes of inactivity.
    pub idle_timeout: Duration,
    /// How long one write may take before the client is dropped.
    pub write_timeout: Duration,
    /// Allow LOGIN / AUTHENTICATE PLAIN without TLS from any address, not
    /// only loopback (RFC 9051 §6.2.3 LOGINDISABLED otherwise).
    pub allow_plaintext_auth: bool,
    /// Framer limits: line length, literal sizes (APPENDLIMIT).
    pub limits: tidings_imap_proto::FramerLimits,
    /// Failed logins in one session before the server says BYE.
    pub max_login_failures: u32,
    /// During IDLE, how often the store is asked for changes that did not
    /// come as an event (another process, e.g. `tidings deliver`). Changes
    /// made inside the server (SMTP, other IMAP or POP3 sessions) arrive as
    /// events at once; this is only the fallback, kept long so that many
    /// idle sessions cost the store little.
    pub idle_poll: Duration,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            write_timeout: Duration::from_secs(60),
            allow_plaintext_auth: false,
            limits: tidings_imap_proto::FramerLimits::default(),
            max_login_failures: 3,
            idle_poll: Duration::from_secs(30),
        }
    }
}

/// What every session of one service shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: ImapConfig,
    pub(crate) limiter: AuthLimiter,
}

/// The IMAP service: one [`session`] per connection.
pub struct ImapService {
    shared: Arc<Shared>,
}

impl ImapService {
    /// A service counting failed logins in `limiter` (share one limiter
    /// between all the protocols of a server).
    pub fn new(store: Store, config: ImapConfig, limiter: AuthLimiter) -> Self {
        ImapService {
            shared: Arc::new(Shared {
                store,
                config,
                limiter,
            }),
        }
    }
}

impl Service for ImapService {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture {
        Box::pin(session::run(conn, Arc::clone(&self.shared), shutdown))
    }
}
