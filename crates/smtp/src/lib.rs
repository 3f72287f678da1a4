//! SMTP over the Tidings store: the inbound MX session (RFC 5321), the
//! authenticated submission session (RFC 6409, with STARTTLS RFC 3207 on
//! 587 and implicit TLS RFC 8314 on 465), and (in `outbound`) the queue
//! worker that delivers to other servers.
//!
//! Main types: [`SmtpService`] (a [`tidings_net::Service`] for the `smtp`,
//! `submission` and `submissions` listeners), [`SmtpConfig`] (limits and
//! timeouts) and [`Mode`] (MX or submission).
//! Modules: `connection` (the I/O loop: the only code that touches the
//! socket), `session` (the state machine, sans I/O) and `cmd` (its
//! command handlers, one module per command group), `message`
//! (trace headers, dates, Message-ID, header fields and the originator
//! checks of submission), [`dns`] (the resolver, the per-message DNS
//! budget, which addresses outbound mail may go to), [`dane`] (TLSA
//! records of MX hosts, RFC 7672), [`mta_sts`] (RFC 8461 policies),
//! [`tlsrpt`] (TLS-RPT reports on our outbound sessions, RFC 8460),
//! [`dmarc_report`] (DMARC aggregate reports on the mail we received,
//! RFC 7489 §7.2), [`reports`] (the hourly task that sends both),
//! [`auth`] (DKIM
//! signing, SPF/DKIM/DMARC checks), [`outbound`] (the queue worker),
//! [`submit`] (mail the server queues for an account: JMAP submissions,
//! vacation replies), [`vacation`] (the RFC 3834 auto-responder),
//! [`srs`] (the sender rewriting of forwarded mail and its bounces).
//!
//! Forwarding: an alias with remote targets (or a bounce to one of our SRS
//! addresses) is expanded at RCPT; at the end of DATA its local accounts
//! get their copies with the other local recipients, and each forwarding
//! address gets one queued copy, with a `Delivered-To:` naming it and the
//! sender rewritten by SRS (`<>` stays `<>`). A message that already has
//! our `Delivered-To:` for a recipient, or more than `max_hops`
//! `Received:` fields, is refused for it (554 5.4.6, RFC 5321 §6.3).
//!
//! Limits that hold before anyone logs in: `greeting_timeout` per command
//! outside a transaction (60 s), the DNS budget per message (10 s), no
//! delivery report an unauthenticated sender can aim (success reports only
//! for authenticated senders; failure reports headers only).
//!
//! Depends on `tidings-smtp-proto` for the wire format, `tidings-store` for
//! the mail and `tidings-net` for connections; it must not depend on any
//! other protocol crate, and holds no mail state of its own: a message is
//! acknowledged only once the store has it durably.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
mod cmd;
mod connection;
pub mod dane;
pub mod dmarc_report;
pub mod dns;
pub mod message;
pub mod mta_sts;
pub mod outbound;
pub mod records;
pub mod reports;
mod session;
pub mod srs;
pub mod submit;
pub mod tlsrpt;
pub mod vacation;

use std::sync::Arc;
use std::time::Duration;

use tidings_net::{AuthLimiter, Connection, Service, SessionFuture};
use tidings_store::Store;
use tokio_util::sync::CancellationToken;

/// Which port a session serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Port 25: mail from other servers, for local recipients only
    /// (relaying needs AUTH).
    Mx,
    /// Ports 587/465 (RFC 6409): AUTH is required before MAIL.
    Submission,
}

/// Limits and timeouts of SMTP sessions.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// The name in the greeting, EHLO reply and Received fields.
    pub hostname: String,
    /// The largest message accepted, in octets (advertised as SIZE, RFC 1870).
    pub max_message_size: u64,
    /// Recipients per transaction (RFC 5321 §4.5.3.1.8 requires at least 100).
    pub max_recipients: usize,
    /// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for a command.
    pub command_timeout: Duration,
    /// How long an unauthenticated session with no transaction (before
    /// MAIL, or between messages) may wait before each command (`[smtp]
    /// greeting_timeout`); then 421 4.4.2 and close. Shorter than §4.5.3.2.7's
    /// 5 minutes on purpose: that figure protects a client in the middle of
    /// a transaction; a session that has not started one holds a connection
    /// slot and sends nothing worth waiting for (Postfix shortens its own
    /// timeouts to 10 s under load for the same reason).
    pub greeting_timeout: Duration,
    /// How long one read of a DATA or BDAT body may wait
    /// (RFC 5321 §4.5.3.2.5-6: 3 minutes per block, 10 for the end).
    pub data_timeout: Duration,
    /// How long writing a reply may take before the client is given up on.
    pub write_timeout: Duration,
    /// Allow AUTH without TLS from a loopback address (the project's rule:
    /// no plaintext password before TLS except on loopback).
    pub plaintext_auth_on_loopback: bool,
    /// Failed AUTHs in a session before it is closed (421 4.7.0).
    pub max_auth_failures: u32,
    /// The resolver and the per-message DNS budget of the inbound checks.
    pub dns: dns::DnsConfig,
    /// How many messages an account may submit per hour and per day unless
    /// it has limits of its own (`tidings user limit`); over them,
    /// submission answers 451 4.7.1 (hour) or 550 5.7.1 (day).
    pub send_limits: tidings_store::SendLimits,
    /// How long a sender answered by an account's vacation response gets
    /// no second reply (RFC 3834 §2; `[smtp] vacation_period`, 7 days).
    pub vacation_period: Duration,
    /// How far and how wide an alias may expand (`[smtp]
    /// max_alias_recipients`; the depth is fixed at 8).
    pub expansion: tidings_store::ExpansionLimits,
    /// A message with more `Received:` fields than this is refused as
    /// looping (`[smtp] max_hops`; RFC 5321 §6.3; Postfix's
    /// `hopcount_limit` is 50 as well).
    pub max_hops: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            command_timeout: Duration::from_secs(5 * 60),
            greeting_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(10 * 60),
            write_timeout: Duration::from_secs(5 * 60),
            plaintext_auth_on_loopback: true,
            max_auth_failures: 3,
            dns: dns::DnsConfig::default(),
            send_limits: tidings_store::SendLimits::default(),
            vacation_period: Duration::from_secs(7 * 86_400),
            expansion: tidings_store::ExpansionLimits::default(),
            max_hops: 50,
        }
    }
}

/// What every session of one service shares.
pub(crate) struct Shared {
    pub store: Store,
    pub config: SmtpConfig,
    pub mode: Mode,
    pub auth_limiter: AuthLimiter,
    pub outbound: outbound::OutboundHandle,
    /// Signs submitted mail (`[dkim]`); `None` leaves it unsigned.
    pub dkim: Option<Arc<auth::DkimKey>>,
    /// Checks SPF/DKIM/DMARC on inbound mail; `None` when no DNS resolver
    /// could be set up (mail is then accepted unchecked and marked
    /// `Authentication-Results: …; none`).
    pub authenticator: Option<mail_auth::MessageAuthenticator>,
    /// TXT records seen (SPF, DKIM, DMARC), kept for their TTL.
    pub txt_cache: auth::TxtCache,
    /// Rewrites the sender of forwarded mail and checks bounces to it;
    /// `None` forwards with the sender unchanged and knows no SRS address.
    pub srs: Option<Arc<srs::Srs>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("mode", &self.mode)
            .field("dkim", &self.dkim)
            .field("checks", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

/// The SMTP service for one kind of port.
#[derive(Clone, Debug)]
pub struct SmtpService {
    shared: Arc<Shared>,
}

impl SmtpService {
    /// `auth_limiter` is shared with the other protocols, so a password
    /// guesser cannot spread its attempts over them.
    pub fn new(store: Store, config: SmtpConfig, mode: Mode, auth_limiter: AuthLimiter) -> Self {
        let authenticator = match config.dns.authenticator() {
            Ok(a) => Some(a),
            Err(e) => {
                // Said loudly once by the server at start (`dns` module).
                tracing::debug!("no DNS resolver ({e}): inbound mail is marked unchecked");
                None
            }
        };
        SmtpService {
            shared: Arc::new(Shared {
                store,
                config,
                mode,
                auth_limiter,
                outbound: outbound::OutboundHandle::new(),
                dkim: None,
                txt_cache: auth::TxtCache::default(),
                authenticator,
                srs: None,
            }),
        }
    }

    /// Signs submitted mail with `key` (RFC 6376).
    pub fn with_dkim(mut self, key: Arc<auth::DkimKey>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.dkim = Some(key);
        }
        self
    }

    /// Rewrites the sender of forwarded mail with `srs` (and accepts
    /// bounces to the addresses it made).
    pub fn with_srs(mut self, srs: Arc<srs::Srs>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.srs = Some(srs);
        }
        self
    }

    /// Wakes the worker behind `handle` when a message is queued.
    pub fn with_outbound(mut self, handle: outbound::OutboundHandle) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.outbound = handle;
        }
        self
    }
}

impl Service for SmtpService {
    fn name(&self) -> &'static str {
        match self.shared.mode {
            Mode::Mx => "smtp",
            Mode::Submission => "submission",
        }
    }

    fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture {
        Box::pin(connection::run(conn, Arc::clone(&self.shared), shutdown))
    }
}
