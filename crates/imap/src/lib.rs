//! The IMAP server session of Tidings: IMAP4rev1 (RFC 3501) with the
//! IMAP4rev2 (RFC 9051) behaviour and extensions that modern clients use,
//! as a thin view over the protocol-agnostic store (`tidings-store`).
//!
//! Main types: [`ImapService`] (plugs into a `tidings_net::Listener`),
//! [`ImapConfig`]. The grammar lives in `tidings-imap-proto` (framer,
//! parser, serializer); this crate holds the session state machine
//! (`session`, sans I/O: frames in, responses out), the connection loop
//! that alone owns the socket (`connection`: framing, TLS, COMPRESS,
//! timeouts, IDLE waiting, NOTIFY's waiting between commands), the command handlers (`cmd`, one module per
//! command group), the per-session UID↔sequence map ([`view`]), and the
//! pure pieces a command needs: LIST pattern matching ([`list`]), FETCH
//! section slicing and ENVELOPE/BODYSTRUCTURE conversion ([`fetch`]),
//! SEARCH evaluation ([`search`]), SORT and ORDEREDSUBJECT ordering
//! ([`sort`]), REFERENCES threading ([`thread`]) and Gmail's labels
//! ([`gmail`]).
//!
//! Where to extend: an `impl Session` method in the `cmd` module of the
//! command's group, dispatched in `Session::command`; a command that needs
//! the socket mid-way returns an `Outcome` the loop acts on. Capabilities
//! in `Session::capabilities` (advertise only what the end-to-end tests in
//! `crates/server/tests/imap.rs` cover).
//! Benchmarks: `scripts/bench imap` (the `crates/load` IMAP mix against
//! Dovecot, then 10,000 IDLE clients); figures in BENCHMARKS.md. Each
//! selected session holds its mailbox's UID/flags list: the first thing to
//! look at for memory with many idle clients.
//!
//! Limits (docs/design.md "Limits that hold before anyone logs in"; each one
//! documented where it is defined): before login [`PREAUTH_LIMITS`] and
//! [`ImapConfig::login_timeout`]; per FETCH, repeated items are sent once
//! and one message's response carries at most twice the message plus
//! 1 MiB (`NO [LIMIT]` beyond); SEARCH/SORT/THREAD run in blocking tasks,
//! 256 messages' metadata at a time, headers read without bodies;
//! THREAD nests at most [`thread::MAX_THREAD_DEPTH`] deep; LIST patterns
//! match in O(pattern × name) with wildcard runs collapsed; sequence sets
//! are resolved to merged ranges, never expanded; COMPRESS=DEFLATE input
//! after the end of the compressed stream closes the connection; NOTIFY
//! (RFC 5465, `cmd::notify`) takes at most 100 mailbox names, keeps one
//! entry per mailbox of the account and sends at most 1 MiB of
//! notifications in one round (`* OK [NOTIFICATIONOVERFLOW]` beyond);
//! CONTEXT=SEARCH/SORT (RFC 5267, `cmd::context`) keeps at most 10
//! searches up to date per session (`NO [NOUPDATE]` beyond); a
//! CATENATE message (RFC 4469) is built in a store spool and held to
//! APPENDLIMIT, and the data of one URLFETCH (RFC 4467) to APPENDLIMIT.
//!
//! Mail model (docs/design.md): folders are labels. COPY adds a label, MOVE
//! swaps one, flags live on the email (every folder sees them) except
//! `\Deleted`, which is per folder entry. The store enforces All Mail and
//! Starred rules; this crate only reports what the store did.
//!
//! Must not depend on another protocol crate or on `server`.

#![forbid(unsafe_code)]

mod cmd;
mod connection;
pub mod fetch;
pub mod gmail;
pub mod list;
pub mod search;
mod session;
pub use session::plaintext_auth_allowed;
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
    /// Framer limits once logged in: line length, literal sizes
    /// (APPENDLIMIT).
    pub limits: tidings_imap_proto::FramerLimits,
    /// Framer limits before authentication ([`PREAUTH_LIMITS`]): LOGIN and
    /// AUTHENTICATE need only small literals, so an unauthenticated client
    /// cannot make the server buffer a 50 MiB APPEND.
    pub preauth_limits: tidings_imap_proto::FramerLimits,
    /// How long a connection may stay unauthenticated (counted from the
    /// connection, not from the last read, so a client trickling bytes is
    /// cut off too): then `* BYE` and close. `[imap] login_timeout`.
    pub login_timeout: Duration,
    /// Failed logins in one session before the server says BYE.
    pub max_login_failures: u32,
    /// During IDLE, how often the store is asked for changes that did not
    /// come as an event (another process, e.g. `tidings deliver`). Changes
    /// made inside the server (SMTP, other IMAP or POP3 sessions) arrive as
    /// events at once; this is only the fallback, kept long so that many
    /// idle sessions cost the store little.
    pub idle_poll: Duration,
    /// RFC 9585: how long a SEARCH, SORT or THREAD runs before its first
    /// `* OK [INPROGRESS ("tag" count goal)]`, and the least time between
    /// two of them. The RFC recommends one every 10–15 seconds; `[imap]
    /// progress_interval`.
    pub progress_interval: Duration,
    /// This server's name (`hostname` of the configuration): an absolute
    /// IMAP URL (RFC 5092) in CATENATE must name it (or `localhost`, or a
    /// loopback address) to be read here.
    pub hostname: String,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            write_timeout: Duration::from_secs(60),
            allow_plaintext_auth: false,
            // APPEND literals of 1 MiB or more are spooled as they arrive
            // (`tidings_store::spool`), never held whole.
            limits: tidings_imap_proto::FramerLimits {
                spool_append_literal: tidings_store::spool::SPOOL_THRESHOLD as u64,
                ..tidings_imap_proto::FramerLimits::default()
            },
            preauth_limits: PREAUTH_LIMITS,
            login_timeout: Duration::from_secs(60),
            max_login_failures: 3,
            idle_poll: Duration::from_secs(30),
            progress_interval: Duration::from_secs(10),
            hostname: "localhost".to_string(),
        }
    }
}

/// Framer limits before login (as Dovecot's login process has): 8 KiB of
/// command text and 4 KiB literals, at most 4 of them, 8 KiB together. A
/// LOGIN or AUTHENTICATE PLAIN needs far less. A synchronizing literal
/// over them gets `NO [TOOBIG]` before its bytes are sent; a
/// non-synchronizing one gets `* BYE` and the connection is closed
/// (RFC 7888 §4, which also allows 4096 octets as LITERAL- does).
pub const PREAUTH_LIMITS: tidings_imap_proto::FramerLimits = tidings_imap_proto::FramerLimits {
    max_line: 8 * 1024,
    max_literal: 4096,
    max_append_literal: 4096,
    max_literals: 4,
    max_command_literals: 8 * 1024,
    max_nonsync_literal: 4096,
    spool_append_literal: u64::MAX,
};

/// What every session of one service shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: ImapConfig,
    pub(crate) limiter: AuthLimiter,
}

/// The IMAP service: one session per connection.
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
        Box::pin(connection::run(conn, Arc::clone(&self.shared), shutdown))
    }
}
