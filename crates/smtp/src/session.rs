//! One SMTP session: the state machine (RFC 5321 §4.1.4 command order)
//! and the loop that moves bytes between it and the socket.
//!
//! Implementation notes:
//! - State: [`State`] is `Fresh` (no EHLO yet), `Ready` (greeted, no
//!   transaction) or `Transaction` (after MAIL: the sender, the accepted
//!   recipients, a BDAT body in progress). AUTH and TLS are facts of the
//!   session and survive RSET; STARTTLS resets everything (RFC 3207 §4.2).
//! - Pipelining (RFC 2920): every complete line already received is
//!   handled before replies are flushed; a DATA after refused recipients
//!   gets 554 without 354, so the body that follows is read as commands
//!   only by a broken client, and each of its lines is refused.
//! - The `250` after DATA/BDAT LAST is written only after the store has
//!   committed the message for every accepted local recipient in one
//!   transaction (one blob) and queued it for the remote ones.
//! - Bodies: DATA is read by [`DataReader`] (ends only at `<CRLF>.<CRLF>`,
//!   bare CR/LF refused: see `tidings_smtp_proto::data`); BDAT chunks are
//!   read by count, and the whole body is refused for a bare CR/LF too
//!   unless it is `BODY=BINARYMIME` (scanned chunk by chunk). Neither keeps
//!   more than `max_message_size` octets, and neither keeps them in the
//!   session: they go to a store spool as they arrive (a file past 1 MiB,
//!   `tidings_store::spool`), dropped with its file if the client goes
//!   away. The checks read the header section only (at most
//!   [`HEADER_MAX`]); DKIM loads the message whole under the store's
//!   memory budget; the stored message is composed into a second spool,
//!   whose file becomes the blob.
//! - Delivery reports (RFC 3461) from this session: success reports only
//!   to an authenticated sender; an unauthenticated one (anyone on the MX
//!   port, with any MAIL FROM) gets only a failure report for a message
//!   accepted and then not stored for some recipient, headers only, so the
//!   server cannot be made to mail chosen content to a chosen address.
//! - Relaying: a recipient in a domain that is not local is accepted only
//!   from an authenticated user (554 5.7.1 otherwise, RFC 5321 §3.6.2).
//! - Submission (RFC 6409): MAIL needs AUTH (530 5.7.0); AUTH needs TLS
//!   unless the peer is on loopback (538 5.7.11, RFC 4954 §4); the
//!   envelope sender and every address in From, Sender, Resent-From and
//!   Resent-Sender must be the user's own (an address the store resolves
//!   to the user's account: the account, its aliases, `+tag`, a catch-all
//!   it owns), else 550 5.7.1. Header fields are read as RFC 5322 reads
//!   them (`message::header_fields`: any case, obsolete space before the
//!   colon, folding), with exactly one From and at most one Sender
//!   (§3.6), else 550 5.6.0; Date and Message-ID are added when missing
//!   (RFC 6409 §8).
//! - Failed AUTH: the answer waits [`AuthLimiter`]'s delay; an address
//!   over its limit is refused without checking; a session is closed
//!   after `max_auth_failures`.
//! - Timeouts: `command_timeout` per command read (§4.5.3.2.7) inside a
//!   transaction or once authenticated; before that (no MAIL yet, or
//!   between messages, unauthenticated, SASL exchange included) the shorter
//!   `greeting_timeout`; then 421 4.4.2 and close. `data_timeout` per body
//!   read. Shutdown: the command in progress is finished, then 421 4.3.2
//!   and close.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_smtp_proto::command::{Body, MailParams, Path, RcptParams, ReversePath};
use tidings_smtp_proto::sasl;
use tidings_smtp_proto::{
    BareLineEndScan, Command, DataOutcome, DataReader, EnhancedCode as E, Reply,
};
use tidings_store::{Recipient, Spool, Spooled, Store, StoreError};
use tidings_types::{AccountId, MailboxRole, Secret};

use crate::message;
use crate::{Mode, Shared};

/// The longest header section accepted (552 5.3.4 beyond): it is the part
/// of a message the session reads into memory to check and rewrite.
const HEADER_MAX: usize = 1024 * 1024;

/// Runs blocking file work (a spooled body) off the async workers.
async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// `head` then the spooled `body` after its first `skip` octets, whole in
/// memory, with its share of the store's memory budget (held until the
/// permit is dropped). Blocks while the budget is taken.
fn whole_message(
    head: &[u8],
    body: &Spooled,
    skip: u64,
) -> io::Result<(Vec<u8>, tidings_store::spool::Permit)> {
    let len = head.len() as u64 + body.len().saturating_sub(skip);
    let permit = tidings_store::memory_budget().acquire(len);
    let mut raw = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    raw.extend_from_slice(head);
    let mut reader = body.reader()?;
    io::copy(&mut io::Read::take(&mut reader, skip), &mut io::sink())?;
    io::Read::read_to_end(&mut reader, &mut raw)?;
    Ok((raw, permit))
}

/// A DATA body being read: the end is found by [`DataReader`] (only at
/// `<CRLF>.<CRLF>`; bare CR/LF refused), the octets go to the spool.
pub(crate) struct DataBody {
    reader: DataReader,
    spool: Spool,
    piece: Vec<u8>,
    /// Why the spool could not be written, if it could not: that fails
    /// the message, not the session (the body is still read to its end).
    failed: Option<io::Error>,
}

impl DataBody {
    fn new(spool: Spool, limit: u64) -> DataBody {
        DataBody {
            reader: DataReader::new(limit),
            spool,
            piece: Vec::with_capacity(crate::connection::READ_SIZE),
            failed: None,
        }
    }

    /// Takes the next octets from the socket; at the end of the body, the
    /// outcome and how many of `input` belonged to it.
    pub(crate) fn push(&mut self, input: &[u8]) -> Option<(DataOutcome, usize)> {
        let done = self.reader.push(input, &mut self.piece);
        if self.failed.is_none()
            && let Err(e) = self.spool.write(&self.piece)
        {
            self.failed = Some(e);
        }
        self.piece.clear();
        done
    }
}

/// One BDAT chunk being read (RFC 3030 §2): exactly `size` octets, kept
/// in the body while it stays within the size limit, else (and when there
/// is no body to add to) read and dropped.
pub(crate) struct Chunk {
    size: u64,
    last: bool,
    body: Option<BdatBody>,
    /// Every octet so far went to the body.
    kept: bool,
    limit: u64,
}

impl Chunk {
    /// A chunk read and dropped (no transaction, or no recipients).
    fn dropped(size: u64, last: bool) -> Chunk {
        Chunk {
            size,
            last,
            body: None,
            kept: false,
            limit: 0,
        }
    }

    /// A chunk added to `body` while the body stays within `limit`.
    fn added(size: u64, last: bool, body: BdatBody, limit: u64) -> Chunk {
        Chunk {
            size,
            last,
            kept: body.within,
            body: Some(body),
            limit,
        }
    }

    /// The chunk's size in octets.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The next octets of the chunk.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        match &mut self.body {
            Some(body) if self.kept && body.spool.len() + bytes.len() as u64 <= self.limit => {
                body.scan.push(bytes);
                if body.failed.is_none()
                    && let Err(e) = body.spool.write(bytes)
                {
                    // Disk full: the message fails at LAST, not the session.
                    body.failed = Some(e);
                }
            }
            _ => self.kept = false,
        }
    }
}

/// A BDAT body in progress (RFC 3030): the chunks so far, spooled, and a
/// scan for bare line ends over them.
pub(crate) struct BdatBody {
    pub(crate) spool: Spool,
    pub(crate) scan: BareLineEndScan,
    /// Still within the size limit.
    pub(crate) within: bool,
    /// Why the spool could not be written, if it could not.
    pub(crate) failed: Option<io::Error>,
}

/// Makes a spooled body durable (an fsync: on a blocking thread).
async fn finish(spool: Spool) -> io::Result<Spooled> {
    tokio::task::spawn_blocking(move || spool.finish())
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// The reply when a body could not be spooled (RFC 3463 X.3.1: mail
/// system full; temporary).
fn spool_failed(e: &io::Error) -> Reply {
    tracing::warn!("cannot spool a message body: {e}");
    r(
        452,
        E(4, 3, 1),
        "insufficient system storage, try again later",
    )
}

/// Who the client said it is.
struct Helo {
    name: String,
    esmtp: bool,
}

/// The authenticated user.
struct Authenticated {
    account: AccountId,
    email: String,
}

/// Where a session is in RFC 5321 §4.1.4's command order.
enum State {
    /// No EHLO/HELO yet (or after STARTTLS).
    Fresh,
    /// Greeted; no transaction.
    Ready,
    /// In an AUTH exchange (only from `Ready`, where it ends).
    Sasl(Sasl),
    /// After MAIL.
    Transaction(Box<Transaction>),
}

/// Where an AUTH exchange is (RFC 4954 §4).
enum Sasl {
    /// PLAIN (RFC 4616) sent an empty challenge; the next line is the
    /// response.
    Plain,
    /// LOGIN asked for the user name, then
    LoginUser,
    /// for the password.
    LoginPassword { user: String },
    /// The credentials were refused; 535 once the delay is over.
    Refused,
}

/// One mail transaction.
struct Transaction {
    from: ReversePath,
    params: MailParams,
    /// Accepted local recipients; one store copy per distinct account.
    local: Vec<LocalRcpt>,
    /// Accepted remote recipients (authenticated users only).
    remote: Vec<RemoteRcpt>,
    /// A BDAT body in progress.
    bdat: Option<BdatBody>,
}

impl Transaction {
    fn recipients(&self) -> usize {
        self.local.len() + self.remote.len()
    }
}

struct LocalRcpt {
    path: Path,
    account: AccountId,
    params: RcptParams,
}

struct RemoteRcpt {
    path: Path,
    params: RcptParams,
}

/// What the connection loop does once the session has handled its input.
pub(crate) enum Outcome {
    /// Read the next command line and hand it to [`Session::line`].
    Command,
    /// The 354 is in the output: write it, read the DATA body into this,
    /// then hand it to [`Session::data_done`].
    Data(DataBody),
    /// Read the BDAT chunk into this (RFC 3030 §2: its octets follow the
    /// command at once, whatever the reply), then hand it to
    /// [`Session::chunk_done`].
    Chunk(Chunk),
    /// A 334 challenge is in the output: read the client's response line
    /// and hand it to [`Session::sasl_response`] (`None` for a line too
    /// long). The server's shutdown does not cut the exchange short; the
    /// connection ends, without a reply, when no line comes.
    SaslResponse,
    /// Write the output, wait this long (a failed AUTH's delay), then call
    /// [`Session::resume`].
    Pause(Duration),
    /// STARTTLS's 220 is in the output: write it, drop the input received
    /// before the handshake, run it, then call [`Session::tls_started`];
    /// close if it fails.
    StartTls,
    /// Write the output and close the connection.
    Close,
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    /// The connection is under TLS (implicit, or after STARTTLS).
    tls: bool,
    /// STARTTLS is offered (a plaintext listener with a certificate).
    starttls: bool,
    /// Encoded replies waiting for the loop to write them.
    pub(crate) out: Vec<u8>,
    helo: Option<Helo>,
    auth: Option<Authenticated>,
    auth_failures: u32,
    state: State,
    /// Messages accepted in this session (for ids).
    messages: u32,
}

fn r(code: u16, e: E, text: impl Into<String>) -> Reply {
    Reply::new(code, e, text)
}

impl Session {
    /// A session for connection `id` from `peer`; `tls` when it is under
    /// TLS already, `starttls` when STARTTLS may be offered.
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: u64,
        peer: SocketAddr,
        tls: bool,
        starttls: bool,
    ) -> Session {
        Session {
            shared,
            id,
            peer,
            tls,
            starttls,
            out: Vec::with_capacity(1024),
            helo: None,
            auth: None,
            auth_failures: 0,
            state: State::Fresh,
            messages: 0,
        }
    }

    fn hostname(&self) -> &str {
        &self.shared.config.hostname
    }

    fn reply(&mut self, reply: &Reply) {
        reply.encode(&mut self.out);
    }

    /// The 220 that opens the session (RFC 5321 §4.2).
    pub(crate) fn greeting(&mut self) {
        let greeting = Reply::plain(220, format!("{} ESMTP Tidings", self.hostname()));
        self.reply(&greeting);
    }

    /// The framer dropped a line longer than RFC 5321 §4.5.3.1.6 allows.
    pub(crate) fn line_too_long(&mut self) {
        // RFC 5321 §4.5.3.1.6 / §4.2.2.
        self.reply(&r(500, E(5, 5, 2), "line too long"));
    }

    /// One command line (without its CRLF).
    pub(crate) async fn line(&mut self, line: &[u8]) -> Outcome {
        match Command::parse(line) {
            Ok(cmd) => self.handle(cmd).await,
            Err(e) => {
                self.reply(&e.reply());
                Outcome::Command
            }
        }
    }

    /// The STARTTLS handshake succeeded: the session starts again
    /// (RFC 3207 §4.2), under TLS.
    pub(crate) fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.state = State::Fresh;
    }

    /// How long to wait for the next command: RFC 5321 §4.5.3.2.7's 5
    /// minutes inside a transaction or once authenticated; before that (no
    /// MAIL yet, or between messages, unauthenticated) the shorter
    /// `greeting_timeout`, so silent connections do not hold their slots.
    pub(crate) fn idle_timeout(&self) -> Duration {
        let config = &self.shared.config;
        if self.auth.is_some() || matches!(self.state, State::Transaction(_)) {
            config.command_timeout
        } else {
            config.greeting_timeout
        }
    }

    /// Whether AUTH may be used now: over TLS, or (when configured) from
    /// a loopback address.
    fn auth_allowed(&self) -> bool {
        self.tls
            || (self.shared.config.plaintext_auth_on_loopback
                && self.peer.ip().to_canonical().is_loopback())
    }

    fn ehlo_reply(&self, name: &str) -> Reply {
        let mut lines = vec![format!("{} greets {name}", self.hostname())];
        lines.push("PIPELINING".into());
        lines.push(format!("SIZE {}", self.shared.config.max_message_size));
        lines.push("8BITMIME".into());
        lines.push("BINARYMIME".into());
        lines.push("CHUNKING".into());
        lines.push("SMTPUTF8".into());
        lines.push("ENHANCEDSTATUSCODES".into());
        lines.push("DSN".into());
        if self.starttls && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth_allowed() && self.auth.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        Reply::multi(250, lines)
    }

    async fn handle(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Ehlo(name) => {
                let reply = self.ehlo_reply(&name);
                self.reply(&reply);
                self.helo = Some(Helo { name, esmtp: true });
                self.state = State::Ready;
                Outcome::Command
            }
            Command::Helo(name) => {
                let reply = Reply::plain(250, self.hostname().to_string());
                self.reply(&reply);
                self.helo = Some(Helo { name, esmtp: false });
                self.state = State::Ready;
                Outcome::Command
            }
            Command::Quit => {
                let reply = Reply::new(221, E(2, 0, 0), format!("{} closing", self.hostname()));
                self.reply(&reply);
                Outcome::Close
            }
            Command::Noop => {
                self.reply(&r(250, E(2, 0, 0), "OK"));
                Outcome::Command
            }
            Command::Rset => {
                if !matches!(self.state, State::Fresh) {
                    self.state = State::Ready;
                }
                self.reply(&r(250, E(2, 0, 0), "OK"));
                Outcome::Command
            }
            // RFC 5321 §3.5.3: 252 when we will not verify.
            Command::Vrfy(_) => {
                self.reply(&r(
                    252,
                    E(2, 5, 0),
                    "cannot VRFY user, but will accept message and attempt delivery",
                ));
                Outcome::Command
            }
            Command::Expn(_) => {
                self.reply(&r(502, E(5, 5, 1), "EXPN not available"));
                Outcome::Command
            }
            Command::Help => {
                self.reply(&r(
                    214,
                    E(2, 0, 0),
                    "see RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH",
                ));
                Outcome::Command
            }
            Command::StartTls => {
                if self.tls || !self.starttls {
                    self.reply(&r(502, E(5, 5, 1), "STARTTLS not available"));
                    return Outcome::Command;
                }
                if matches!(self.state, State::Transaction(_)) {
                    self.reply(&r(503, E(5, 5, 1), "STARTTLS not allowed in a transaction"));
                    return Outcome::Command;
                }
                self.reply(&r(220, E(2, 0, 0), "ready to start TLS"));
                Outcome::StartTls
            }
            Command::Auth { mechanism, initial } => {
                if self.helo.as_ref().is_none_or(|h| !h.esmtp) {
                    self.reply(&r(503, E(5, 5, 1), "say EHLO first"));
                } else if self.auth.is_some() {
                    self.reply(&r(503, E(5, 5, 1), "already authenticated"));
                } else if matches!(self.state, State::Transaction(_)) {
                    self.reply(&r(503, E(5, 5, 1), "AUTH not allowed in a transaction"));
                } else if !self.auth_allowed() {
                    // RFC 4954 §4 / RFC 3207: no password in plaintext.
                    self.reply(&r(
                        538,
                        E(5, 7, 11),
                        "encryption required: use STARTTLS first",
                    ));
                } else if mechanism != "PLAIN" && mechanism != "LOGIN" {
                    self.reply(&r(504, E(5, 5, 4), "unrecognized authentication mechanism"));
                } else {
                    return self.authenticate(&mechanism, initial).await;
                }
                Outcome::Command
            }
            Command::Mail { from, params } => {
                self.mail(from, params).await;
                Outcome::Command
            }
            Command::Rcpt { to, params } => {
                self.rcpt(to, params).await;
                Outcome::Command
            }
            Command::Data => {
                let State::Transaction(tx) = &self.state else {
                    self.reply(&r(503, E(5, 5, 1), "need MAIL before DATA"));
                    return Outcome::Command;
                };
                if tx.bdat.is_some() {
                    self.reply(&r(503, E(5, 5, 1), "DATA not allowed after BDAT"));
                } else if tx.recipients() == 0 {
                    // RFC 2920 §3.1: no 354 when no recipient was accepted.
                    self.reply(&r(554, E(5, 5, 1), "no valid recipients"));
                } else if tx.params.body == Some(Body::BinaryMime) {
                    // RFC 3030 §3: BINARYMIME needs BDAT.
                    self.reply(&r(503, E(5, 5, 1), "BODY=BINARYMIME requires BDAT"));
                } else {
                    self.reply(&Reply::plain(354, "end data with <CR><LF>.<CR><LF>"));
                    // Dropped (its file removed) if the client goes away
                    // mid-body.
                    let spool = self.shared.store.spool();
                    return Outcome::Data(DataBody::new(
                        spool,
                        self.shared.config.max_message_size,
                    ));
                }
                Outcome::Command
            }
            Command::Bdat { size, last } => self.bdat(size, last),
        }
    }

    async fn mail(&mut self, from: ReversePath, params: MailParams) {
        if matches!(self.state, State::Fresh) {
            self.reply(&r(503, E(5, 5, 1), "say EHLO first"));
            return;
        }
        if matches!(self.state, State::Transaction(_)) {
            self.reply(&r(503, E(5, 5, 1), "nested MAIL command"));
            return;
        }
        if self.shared.mode == Mode::Submission && self.auth.is_none() {
            self.reply(&r(530, E(5, 7, 0), "authentication required"));
            return;
        }
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        let uses_extensions = params != MailParams::default();
        if uses_extensions && !esmtp {
            self.reply(&r(555, E(5, 5, 4), "parameters need EHLO"));
            return;
        }
        // RFC 6531 §3.4: a UTF-8 address needs SMTPUTF8.
        if from.as_ref().is_some_and(Path::is_utf8) && !params.smtputf8 {
            self.reply(&r(553, E(5, 6, 7), "UTF-8 address without SMTPUTF8"));
            return;
        }
        // RFC 1870 §6.
        let max = self.shared.config.max_message_size;
        if params.size.is_some_and(|s| s > max) {
            self.reply(&r(
                552,
                E(5, 3, 4),
                format!("message size exceeds the limit of {max} octets"),
            ));
            return;
        }
        if let Some(auth) = &self.auth {
            // RFC 6409 §6.1: the user may send only as themselves.
            let allowed = match &from {
                None => false,
                Some(path) => self.owns_address(auth.account, &path.address()).await,
            };
            if !allowed {
                self.reply(&r(
                    550,
                    E(5, 7, 1),
                    format!("{} may not send as this address", auth.email),
                ));
                return;
            }
        }
        self.state = State::Transaction(Box::new(Transaction {
            from,
            params,
            local: Vec::new(),
            remote: Vec::new(),
            bdat: None,
        }));
        self.reply(&r(250, E(2, 1, 0), "sender OK"));
    }

    /// Whether `address` is one of `account`'s own: in a local domain and
    /// resolving to that account.
    async fn owns_address(&self, account: AccountId, address: &str) -> bool {
        let address = address.to_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_string();
        let result = self
            .blocking(move |store| {
                if !is_local_domain(store, &domain)? {
                    return Ok(None);
                }
                store.resolve_recipient(&address)
            })
            .await;
        matches!(result, Ok(Some(a)) if a == account)
    }

    async fn rcpt(&mut self, to: Path, params: RcptParams) {
        let max = self.shared.config.max_recipients;
        let State::Transaction(tx) = &self.state else {
            self.reply(&r(503, E(5, 5, 1), "need MAIL before RCPT"));
            return;
        };
        if tx.bdat.is_some() {
            self.reply(&r(503, E(5, 5, 1), "RCPT not allowed during BDAT"));
            return;
        }
        if tx.recipients() >= max {
            // RFC 5321 §4.5.3.1.10.
            self.reply(&r(452, E(4, 5, 3), "too many recipients"));
            return;
        }
        if to.is_utf8() && !tx.params.smtputf8 {
            self.reply(&r(553, E(5, 6, 7), "UTF-8 address without SMTPUTF8"));
            return;
        }
        let size = tx.params.size.unwrap_or(0);
        let hostname = self.hostname().to_string();
        let address = if to.domain.is_empty() {
            // RFC 5321 §4.1.1.3: <Postmaster> is the server's postmaster.
            format!("postmaster@{hostname}")
        } else {
            to.address().to_lowercase()
        };
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_string());
        let lookup = self
            .blocking(move |store| {
                let domain = domain.unwrap_or_default();
                let local = is_local_domain(store, &domain)?
                    || (domain == hostname && address.starts_with("postmaster@"));
                if !local {
                    return Ok(Lookup::Remote);
                }
                let account = match store.resolve_recipient(&address)? {
                    Some(a) => a,
                    None if address.starts_with("postmaster@") => {
                        // Any postmaster reaches the first domain's postmaster.
                        let mut found = None;
                        for d in store.domains()? {
                            if let Some(a) =
                                store.resolve_recipient(&format!("postmaster@{}", d.name))?
                            {
                                found = Some(a);
                                break;
                            }
                        }
                        match found {
                            Some(a) => a,
                            None => return Ok(Lookup::Unknown),
                        }
                    }
                    None => return Ok(Lookup::Unknown),
                };
                let full = store
                    .account_by_id(account)?
                    .and_then(|a| a.quota.map(|q| (a.used, q)))
                    .is_some_and(|(used, quota)| used.saturating_add(size) > quota);
                Ok(if full {
                    Lookup::Full
                } else {
                    Lookup::Local(account)
                })
            })
            .await;
        let State::Transaction(tx) = &mut self.state else {
            return;
        };
        match lookup {
            Ok(Lookup::Local(account)) => {
                tx.local.push(LocalRcpt {
                    path: to,
                    account,
                    params,
                });
                self.reply(&r(250, E(2, 1, 5), "recipient OK"));
            }
            Ok(Lookup::Unknown) => {
                self.reply(&r(550, E(5, 1, 1), "no such user here"));
            }
            Ok(Lookup::Full) => {
                // RFC 3463 X.2.2 mailbox full: temporary, the user may make room.
                self.reply(&r(452, E(4, 2, 2), "mailbox full"));
            }
            Ok(Lookup::Remote) if self.auth.is_some() => {
                tx.remote.push(RemoteRcpt { path: to, params });
                self.reply(&r(250, E(2, 1, 5), "recipient OK"));
            }
            Ok(Lookup::Remote) => {
                // RFC 5321 §3.6.2: no open relay.
                self.reply(&r(554, E(5, 7, 1), "relay access denied"));
            }
            Err(e) => {
                tracing::warn!("recipient lookup failed: {e}");
                self.reply(&r(451, E(4, 3, 0), "temporary failure, try again later"));
            }
        }
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .unwrap_or_else(|e| Err(StoreError::Database(format!("task failed: {e}"))))
    }

    /// The DATA body was read to its end (or refused on the way).
    pub(crate) async fn data_done(&mut self, body: DataBody, outcome: DataOutcome) -> Outcome {
        let max = self.shared.config.max_message_size;
        let DataBody { spool, failed, .. } = body;
        let State::Transaction(tx) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let reply = match outcome {
            DataOutcome::Complete => match failed {
                Some(e) => spool_failed(&e),
                None => match finish(spool).await {
                    Ok(body) => self.accept(*tx, body).await,
                    Err(e) => spool_failed(&e),
                },
            },
            DataOutcome::TooBig { size } => r(
                552,
                E(5, 3, 4),
                format!("message of {size} octets exceeds the limit of {max}"),
            ),
            DataOutcome::BareLineEnd => r(
                550,
                E(5, 6, 0),
                "bare CR or LF in message: lines must end with CRLF (RFC 5321 §2.3.8)",
            ),
        };
        self.reply(&reply);
        Outcome::Command
    }

    /// BDAT (RFC 3030 §2): the chunk that follows is read whatever the
    /// reply; into the body in progress when there is a transaction with
    /// recipients, else dropped.
    fn bdat(&mut self, size: u64, last: bool) -> Outcome {
        let max = self.shared.config.max_message_size;
        let State::Transaction(tx) = &mut self.state else {
            return Outcome::Chunk(Chunk::dropped(size, last));
        };
        if tx.recipients() == 0 {
            return Outcome::Chunk(Chunk::dropped(size, last));
        }
        let body = tx.bdat.take().unwrap_or_else(|| BdatBody {
            spool: self.shared.store.spool(),
            scan: BareLineEndScan::default(),
            within: true,
            failed: None,
        });
        Outcome::Chunk(Chunk::added(size, last, body, max))
    }

    /// A BDAT chunk was read.
    pub(crate) async fn chunk_done(&mut self, chunk: Chunk) -> Outcome {
        let max = self.shared.config.max_message_size;
        let Chunk {
            size,
            last,
            body,
            kept,
            ..
        } = chunk;
        let Some(mut body) = body else {
            let reply = if matches!(self.state, State::Transaction(_)) {
                r(554, E(5, 5, 1), "no valid recipients")
            } else {
                r(503, E(5, 5, 1), "need MAIL and RCPT before BDAT")
            };
            self.reply(&reply);
            return Outcome::Command;
        };
        if !kept && body.within {
            // Over the limit: nothing more is kept (the file goes now).
            body.within = false;
            body.spool = Spool::in_memory();
        }
        if !last {
            if let State::Transaction(tx) = &mut self.state {
                tx.bdat = Some(body);
            }
            self.reply(&r(250, E(2, 0, 0), format!("{size} octets received")));
            return Outcome::Command;
        }
        let State::Transaction(tx) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let binary = tx.params.body == Some(Body::BinaryMime);
        let reply = if !body.within {
            r(
                552,
                E(5, 3, 4),
                format!("message exceeds the limit of {max} octets"),
            )
        } else if !binary && body.scan.found() {
            // As in DATA (RFC 5321 §2.3.8): a bare CR or LF is refused.
            r(
                550,
                E(5, 6, 0),
                "bare CR or LF in message: lines must end with CRLF (RFC 5321 §2.3.8)",
            )
        } else if let Some(e) = &body.failed {
            spool_failed(e)
        } else {
            match finish(body.spool).await {
                Ok(spooled) => self.accept(*tx, spooled).await,
                Err(e) => spool_failed(&e),
            }
        };
        self.reply(&reply);
        Outcome::Command
    }

    /// A complete message: checks, headers, storage. The reply is 250 only
    /// when every accepted recipient has it durably.
    ///
    /// The body stays spooled: the checks read its header section (at most
    /// [`HEADER_MAX`] octets); only DKIM signing and verification load it
    /// whole, under the store's memory budget. The stored message is the
    /// new header lines and the (possibly rewritten) header section, then
    /// the body copied from the spool into a new spool a piece at a time.
    async fn accept(&mut self, tx: Transaction, body: Spooled) -> Reply {
        let now = message::now();
        // The header fields added above the message, in order.
        let mut added = String::new();
        let mut role = MailboxRole::Inbox;
        let (body, prefix) = match blocking_io(move || {
            let prefix = body.read_prefix(HEADER_MAX as u64 + 2)?;
            Ok((body, prefix))
        })
        .await
        {
            Ok(b) => b,
            Err(e) => return spool_failed(&e),
        };
        let header_len = message::header_section(&prefix).len();
        if header_len == prefix.len() && body.len() > prefix.len() as u64 {
            // Like Postfix's header_size_limit, but refused rather than
            // cut: a header section this long is not mail (RFC 5322 §2.1.1
            // puts lines at 998 characters; no MUA writes a megabyte).
            return r(
                552,
                E(5, 3, 4),
                format!("header section longer than {HEADER_MAX} octets"),
            );
        }
        // The header section as stored; the body after it stays spooled.
        let mut header = prefix;
        header.truncate(header_len);
        let mut body = body;
        if let Some(auth) = &self.auth {
            // RFC 6409 §6.1 for the originator fields (From, Sender and
            // their Resent- forms, read as a mail reader reads them), §8.1-8.3
            // for Date and Message-ID.
            let originators = match message::originators(&header) {
                Ok(o) => o,
                Err(e) => return r(550, E(5, 6, 0), e.to_string()),
            };
            let from = originators.from;
            for address in &originators.all {
                if !self.owns_address(auth.account, address).await {
                    return r(
                        550,
                        E(5, 7, 1),
                        format!("{} may not send as {address}", auth.email),
                    );
                }
            }
            // The account's sending limits, counted last so that a refused
            // message does not count.
            let (account, limits) = (auth.account, self.shared.config.send_limits);
            let check = self
                .blocking(move |store| store.reserve_send(account, now, limits))
                .await;
            match check {
                Ok(tidings_store::SendCheck::Allowed) => {}
                Ok(tidings_store::SendCheck::OverHour { limit }) => {
                    tracing::warn!(account = %auth.email, limit, "hourly sending limit reached");
                    return r(
                        451,
                        E(4, 7, 1),
                        format!(
                            "{} sent {limit} messages in the last hour, the limit; try later",
                            auth.email
                        ),
                    );
                }
                Ok(tidings_store::SendCheck::OverDay { limit }) => {
                    tracing::warn!(account = %auth.email, limit, "daily sending limit reached");
                    return r(
                        550,
                        E(5, 7, 1),
                        format!(
                            "{} sent {limit} messages in the last 24 hours, the limit",
                            auth.email
                        ),
                    );
                }
                Err(e) => {
                    tracing::warn!("cannot count the sending limit: {e}");
                    return r(451, E(4, 3, 0), "temporary failure, try again later");
                }
            }
            let mut prefix = String::new();
            if !message::has_header(&header, "Date") {
                prefix.push_str(&format!("Date: {}\r\n", message::rfc5322_date(now)));
            }
            if !message::has_header(&header, "Message-ID") {
                prefix.push_str(&format!(
                    "Message-ID: <{}@{}>\r\n",
                    message::random_hex(16),
                    self.hostname()
                ));
            }
            if !prefix.is_empty() {
                let mut with = prefix.into_bytes();
                with.append(&mut header);
                header = with;
            }
            // RFC 6376: signed as the From: domain, which the user owns.
            if let (Some(key), Some(domain)) = (
                &self.shared.dkim,
                from.first()
                    .and_then(|a| a.rsplit_once('@'))
                    .map(|(_, d)| d.to_string()),
            ) {
                let key = Arc::clone(key);
                let head = header.clone();
                let signed = tokio::task::spawn_blocking(move || {
                    let whole = whole_message(&head, &body, header_len as u64)
                        .map(|(raw, _permit)| key.sign(&domain, &raw));
                    (whole, body)
                })
                .await;
                match signed {
                    Ok((Ok(Ok(sig)), b)) => {
                        added.push_str(&sig);
                        body = b;
                    }
                    Ok((Ok(Err(e)), b)) => {
                        tracing::warn!("DKIM signing failed: {e}");
                        body = b;
                    }
                    Ok((Err(e), _)) => return spool_failed(&e),
                    Err(e) => {
                        tracing::warn!("DKIM signing failed: {e}");
                        return r(451, E(4, 3, 0), "temporary failure, try again later");
                    }
                }
            }
        } else if let Some(authenticator) = &self.shared.authenticator {
            // Inbound: SPF, DKIM, DMARC (RFC 8601 Authentication-Results),
            // after removing fields that pretend to be ours (§5).
            header = message::strip_authentication_results(header, self.hostname());
            let helo = self.helo.as_ref().map_or("unknown", |h| h.name.as_str());
            let sender = tx.from.as_ref().map(Path::address).unwrap_or_default();
            let checker = crate::auth::Checker {
                authenticator,
                cache: &self.shared.txt_cache,
                budget: self.shared.config.dns.budget,
            };
            // The whole message, under the memory budget while it is checked.
            let head = header.clone();
            let loaded = blocking_io(move || {
                let (raw, permit) = whole_message(&head, &body, header_len as u64)?;
                Ok((raw, permit, body))
            })
            .await;
            let (raw, permit, b) = match loaded {
                Ok(l) => l,
                Err(e) => return spool_failed(&e),
            };
            body = b;
            let (results, verdict) = crate::auth::verify(
                &checker,
                self.hostname(),
                self.peer.ip().to_canonical(),
                helo,
                &sender,
                &raw,
            )
            .await;
            drop(raw);
            drop(permit);
            match verdict {
                crate::auth::Verdict::Reject(why) => {
                    tracing::info!("refused by DMARC: {why}");
                    return r(550, E(5, 7, 1), why);
                }
                crate::auth::Verdict::Junk => role = MailboxRole::Junk,
                crate::auth::Verdict::Deliver => {}
            }
            added.push_str(&results);
        } else {
            // No resolver: nothing could be checked, and the field says so
            // (RFC 8601 §2.2 `no-result`) rather than leaving it out, which
            // would look the same as a server that does not check at all.
            header = message::strip_authentication_results(header, self.hostname());
            added.push_str(&format!(
                "Authentication-Results: {}; none (no DNS resolver: SPF, DKIM and DMARC not checked)\r\n",
                self.hostname()
            ));
        }
        self.messages += 1;
        let queue_id = format!("{:x}{:x}{}", self.id, self.messages, message::random_hex(2));
        let received = self.received_field(&tx, &queue_id, now);
        // The header section as stored: trace fields, ours, the client's.
        let mut head = Vec::with_capacity(received.len() + added.len() + header.len());
        head.extend_from_slice(received.as_bytes());
        head.extend_from_slice(added.as_bytes());
        head.extend_from_slice(&header);
        let mut spool = self.shared.store.spool();
        let composed = blocking_io(move || {
            spool.write(&head)?;
            let mut reader = body.reader()?;
            io::copy(
                &mut io::Read::take(&mut reader, header_len as u64),
                &mut io::sink(),
            )?;
            spool.write_from(&mut reader)?;
            drop(reader);
            drop(body);
            Ok((spool.finish()?, head))
        })
        .await;
        let (full, head) = match composed {
            Ok((full, head)) => (Arc::new(full), head),
            Err(e) => return spool_failed(&e),
        };

        if tx.local.is_empty() {
            return self.queue_remote(&tx, full, &queue_id).await;
        }
        let reply = self
            .deliver_local(&tx, full.clone(), head, now, &queue_id, role)
            .await;
        if tx.remote.is_empty() || !reply.is_positive() {
            return reply;
        }
        // Local copies are stored; a failure to queue now asks the client
        // to send again, which may duplicate the local copies (never lose).
        self.queue_remote(&tx, full, &queue_id).await
    }

    /// Queues the message for the remote recipients (durably) and wakes
    /// the delivery worker.
    ///
    /// The queue keeps its messages in its database rows as before: the
    /// message is loaded whole for that, under the memory budget.
    async fn queue_remote(&self, tx: &Transaction, full: Arc<Spooled>, queue_id: &str) -> Reply {
        let item = tidings_store::NewQueued {
            raw: &[],
            sender: tx.from.as_ref().map(Path::address).unwrap_or_default(),
            account: self.auth.as_ref().map(|a| a.account),
            recipients: tx
                .remote
                .iter()
                .map(|r| {
                    let mut q = tidings_store::QueueRecipient::new(r.path.address());
                    if let Some(n) = r.params.notify {
                        let mut words = Vec::new();
                        for (on, word) in [
                            (n.never, "NEVER"),
                            (n.success, "SUCCESS"),
                            (n.failure, "FAILURE"),
                            (n.delay, "DELAY"),
                        ] {
                            if on {
                                words.push(word);
                            }
                        }
                        q.notify = words.join(",");
                    }
                    q.orcpt = r.params.orcpt.clone();
                    q
                })
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: tx.params.ret == Some(tidings_smtp_proto::Ret::Hdrs),
            ret_full: tx.params.ret == Some(tidings_smtp_proto::Ret::Full),
        };
        let result = self
            .blocking(move |store| {
                let raw = full.load(1)?;
                let item = tidings_store::NewQueued { raw: &raw, ..item };
                store.queue_add(&item)
            })
            .await;
        match result {
            Ok(id) => {
                tracing::info!(id = queue_id, queued = %id, recipients = tx.remote.len(), "queued for remote delivery");
                self.shared.outbound.kick();
                r(250, E(2, 0, 0), format!("OK: queued as {queue_id} ({id})"))
            }
            Err(e) => {
                tracing::warn!(id = queue_id, "cannot queue: {e}");
                r(451, E(4, 3, 0), "temporary failure, try again later")
            }
        }
    }

    /// RFC 5321 §4.4 trace field, with RFC 3848 protocol types.
    fn received_field(&self, tx: &Transaction, id: &str, now: i64) -> String {
        let helo = self.helo.as_ref().map_or("unknown", |h| h.name.as_str());
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        // RFC 3848 and RFC 6531 §3.7.3 protocol types.
        let base = match (tx.params.smtputf8, esmtp) {
            (_, false) => "SMTP",
            (true, true) => "UTF8SMTP",
            (false, true) => "ESMTP",
        };
        let suffix = match (esmtp, self.tls, self.auth.is_some()) {
            (false, _, _) | (true, false, false) => "",
            (true, true, false) => "S",
            (true, false, true) => "A",
            (true, true, true) => "SA",
        };
        let with = format!("{base}{suffix}");
        let for_clause = match (tx.local.len() + tx.remote.len(), tx.local.first()) {
            (1, Some(rcpt)) => format!("\r\n\tfor <{}>", rcpt.path),
            _ => String::new(),
        };
        let helo: String = helo
            .chars()
            .filter(|c| !c.is_control() && *c != '(' && *c != ')')
            .collect();
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (Tidings) with {with} id {id}{for_clause};\r\n\t{}\r\n",
            self.peer.ip().to_canonical(),
            self.hostname(),
            message::rfc5322_date(now)
        )
    }

    async fn deliver_local(
        &mut self,
        tx: &Transaction,
        full: Arc<Spooled>,
        head: Vec<u8>,
        now: i64,
        queue_id: &str,
        role: MailboxRole,
    ) -> Reply {
        let mut accounts: Vec<AccountId> = Vec::new();
        let mut seen = HashSet::new();
        for rcpt in &tx.local {
            if seen.insert(rcpt.account) {
                accounts.push(rcpt.account);
            }
        }
        let size = full.len();
        let order = accounts.clone();
        // The stored message's header section is `head`.
        let headers = head;
        // RFC 3461 NOTIFY=SUCCESS: a report once the copies are stored,
        // with the message itself only for RET=FULL (§4.3). Only for an
        // authenticated sender: anyone can put any address in MAIL FROM on
        // the MX port, and a report to it would be backscatter: mail with
        // content of the client's choosing sent to an address of its
        // choosing. Only a failure is owed to the sender (RFC 5321 §6.1).
        let wants_success = self.auth.is_some()
            && tx.from.is_some()
            && tx
                .local
                .iter()
                .any(|l| l.params.notify.is_some_and(|n| n.success));
        let return_full = wants_success && tx.params.ret == Some(tidings_smtp_proto::Ret::Full);
        let result = self
            .blocking(move |store| {
                let mut recipients = Vec::with_capacity(accounts.len());
                for account in &accounts {
                    // Junk when DMARC says quarantine; INBOX if there is no Junk.
                    let inbox = match store.mailbox_by_role(*account, role)? {
                        Some(m) => m,
                        None => store
                            .mailbox_by_role(*account, MailboxRole::Inbox)?
                            .ok_or_else(|| StoreError::NotFound("INBOX".into()))?,
                    };
                    recipients.push(Recipient {
                        account: *account,
                        mailbox: inbox.id,
                        keywords: Vec::new(),
                    });
                }
                let quotas: Vec<Option<u64>> = accounts
                    .iter()
                    .map(|a| store.account_by_id(*a).ok().flatten().and_then(|a| a.quota))
                    .collect();
                let results = store.deliver_spooled(&full, Some(now), &recipients)?;
                // RET=FULL returns the whole message (rare: loaded then).
                let returned = if return_full {
                    Some(full.load(1)?.into_vec())
                } else {
                    None
                };
                Ok((results, quotas, returned))
            })
            .await;
        match result {
            Ok((results, quotas, returned)) => {
                let returned = returned.as_deref().unwrap_or(&headers);
                let failed: Vec<(usize, &StoreError)> = results
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
                    .collect();
                if wants_success {
                    let delivered: Vec<&LocalRcpt> = tx
                        .local
                        .iter()
                        .filter(|l| l.params.notify.is_some_and(|n| n.success))
                        .filter(|l| {
                            order
                                .iter()
                                .position(|a| *a == l.account)
                                .and_then(|i| results.get(i))
                                .is_some_and(Result::is_ok)
                        })
                        .collect();
                    if !delivered.is_empty() {
                        self.report_delivered(tx, &delivered, returned).await;
                    }
                }
                if failed.is_empty() {
                    tracing::info!(id = queue_id, size, recipients = results.len(), "delivered");
                    return r(250, E(2, 0, 0), format!("OK: queued as {queue_id}"));
                }
                for (i, e) in &failed {
                    tracing::info!(id = queue_id, recipient = i, "not delivered: {e}");
                }
                if failed.len() < results.len() {
                    // Some have it: the message is accepted (DATA has one
                    // reply for all recipients, RFC 5321 §3.3), and the
                    // sender is told about the others (§6.1).
                    let mut refused = Vec::new();
                    for (i, e) in &failed {
                        let reply = match e {
                            StoreError::OverQuota { .. } => r(552, E(5, 2, 2), "mailbox full"),
                            _ => r(451, E(4, 3, 0), "temporary failure in the mail store"),
                        };
                        // RFC 3461 §4.1: no failure report for a
                        // recipient whose NOTIFY leaves failures out.
                        for rcpt in tx
                            .local
                            .iter()
                            .filter(|l| Some(&l.account) == order.get(*i))
                            .filter(|l| l.params.notify.is_none_or(|n| n.failure))
                        {
                            refused.push((rcpt.path.address(), reply.clone()));
                        }
                    }
                    if !refused.is_empty() {
                        self.report_failures(tx, &refused, &headers).await;
                    }
                    return r(
                        250,
                        E(2, 0, 0),
                        format!("OK: queued as {queue_id} (some recipients refused it)"),
                    );
                }
                let (i, e) = failed[0];
                match e {
                    StoreError::OverQuota { .. } => {
                        let never_fits = quotas.get(i).copied().flatten().is_some_and(|q| size > q);
                        if never_fits {
                            r(
                                552,
                                E(5, 2, 2),
                                "mailbox full: message larger than the quota",
                            )
                        } else {
                            r(452, E(4, 2, 2), "mailbox full")
                        }
                    }
                    e if e.is_temporary() => {
                        r(451, E(4, 3, 0), "temporary failure, try again later")
                    }
                    _ => r(554, E(5, 3, 0), "message refused by the store"),
                }
            }
            Err(e) => {
                tracing::warn!(id = queue_id, "delivery failed: {e}");
                if e.is_temporary() || matches!(e, StoreError::DiskFull) {
                    r(451, E(4, 3, 0), "temporary failure, try again later")
                } else {
                    r(554, E(5, 3, 0), "message refused by the store")
                }
            }
        }
    }

    /// Tells the envelope sender that `refused` did not get a message that
    /// was otherwise accepted: an RFC 3464 report with the message's
    /// header section, into a local sender's INBOX or queued (with the
    /// null sender, RFC 5321 §4.5.5) to a remote one. Nothing for a
    /// message that itself had the null sender. This is the one report an
    /// unauthenticated sender can get (RFC 5321 §6.1: the server took
    /// responsibility for the message), and never with the message's
    /// content, whatever RET asked: only the header section goes back.
    async fn report_failures(&self, tx: &Transaction, refused: &[(String, Reply)], headers: &[u8]) {
        let Some(sender) = tx.from.as_ref().map(Path::address) else {
            return;
        };
        let item = tidings_store::QueuedMessage {
            id: tidings_store::QueueId(0),
            sender: sender.clone(),
            account: None,
            recipients: refused
                .iter()
                .map(|(a, _)| tidings_store::QueueRecipient::new(a.clone()))
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: true,
            ret_full: false,
            size: headers.len() as u64,
            created: message::now(),
            next_attempt: 0,
            attempts: 0,
        };
        let failed: Vec<(usize, Reply, Option<String>)> = refused
            .iter()
            .enumerate()
            .map(|(i, (_, reply))| (i, reply.clone(), Some(self.hostname().to_string())))
            .collect();
        let report =
            crate::outbound::delivery_report(self.hostname(), &item, headers, &failed, false);
        self.send_report(sender, report).await;
    }

    /// Tells the envelope sender that `delivered` got the message (RFC 3461
    /// NOTIFY=SUCCESS): an RFC 3464 "delivered" report with the header
    /// section, or the message for RET=FULL (`returned`).
    async fn report_delivered(&self, tx: &Transaction, delivered: &[&LocalRcpt], returned: &[u8]) {
        let Some(sender) = tx.from.as_ref().map(Path::address) else {
            return;
        };
        let item = tidings_store::QueuedMessage {
            id: tidings_store::QueueId(0),
            sender: sender.clone(),
            account: None,
            recipients: delivered
                .iter()
                .map(|l| {
                    let mut q = tidings_store::QueueRecipient::new(l.path.address());
                    q.orcpt = l.params.orcpt.clone();
                    q
                })
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: tx.params.ret != Some(tidings_smtp_proto::Ret::Full),
            ret_full: tx.params.ret == Some(tidings_smtp_proto::Ret::Full),
            size: returned.len() as u64,
            created: message::now(),
            next_attempt: 0,
            attempts: 0,
        };
        let ok = r(250, E(2, 0, 0), "delivered to the mailbox");
        let rcpts: Vec<(usize, Reply, Option<String>)> = (0..delivered.len())
            .map(|i| (i, ok.clone(), Some(self.hostname().to_string())))
            .collect();
        let report = crate::outbound::status_report(
            self.hostname(),
            &item,
            returned,
            &rcpts,
            crate::outbound::Action::Delivered,
            false,
            None,
        );
        self.send_report(sender, report).await;
    }

    /// Delivers a report to `sender`: into a local sender's INBOX, else
    /// queued with the null reverse-path (RFC 5321 §4.5.5).
    async fn send_report(&self, sender: String, report: Vec<u8>) {
        let result = self
            .blocking(move |store| {
                let local = match sender.rsplit_once('@') {
                    Some((_, domain)) if is_local_domain(store, domain)? => {
                        store.resolve_recipient(&sender)?
                    }
                    _ => None,
                };
                if let Some(account) = local {
                    let inbox = store
                        .mailbox_by_role(account, MailboxRole::Inbox)?
                        .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
                    let recipient = Recipient {
                        account,
                        mailbox: inbox.id,
                        keywords: Vec::new(),
                    };
                    store.deliver(&report, None, &[recipient])?;
                    return Ok(false);
                }
                store.queue_add(&tidings_store::NewQueued {
                    raw: &report,
                    sender: String::new(),
                    account: None,
                    recipients: vec![tidings_store::QueueRecipient::new(sender.clone())],
                    envid: None,
                    ret_hdrs: false,
                    ret_full: false,
                })?;
                Ok(true)
            })
            .await;
        match result {
            Ok(true) => self.shared.outbound.kick(),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot report refused recipients to the sender: {e}"),
        }
    }

    /// RFC 4954 AUTH PLAIN / LOGIN, once the command was found usable:
    /// the credentials come with it or in answer to 334 challenges.
    async fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> Outcome {
        if self.shared.auth_limiter.check(self.peer.ip()).is_err() {
            self.reply(&r(
                454,
                E(4, 7, 0),
                "too many failed logins from your address, try later",
            ));
            return Outcome::Command;
        }
        match (mechanism, initial) {
            ("PLAIN", Some(response)) => self.plain(&response).await,
            ("PLAIN", None) => self.challenge(Sasl::Plain, ""),
            (_, Some(user)) => self.login_user(&user),
            (_, None) => self.challenge(Sasl::LoginUser, sasl::LOGIN_USERNAME),
        }
    }

    /// Sends `334 text`; the client's next line answers `step`.
    fn challenge(&mut self, step: Sasl, text: &str) -> Outcome {
        self.reply(&Reply::plain(334, text));
        self.state = State::Sasl(step);
        Outcome::SaslResponse
    }

    /// The client's answer to a 334 challenge; `None` for a line that was
    /// too long.
    pub(crate) async fn sasl_response(&mut self, line: Option<&[u8]>) -> Outcome {
        let State::Sasl(step) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let Some(line) = line.and_then(|l| std::str::from_utf8(l).ok()) else {
            self.reply(&r(501, E(5, 5, 2), "no response"));
            return Outcome::Command;
        };
        match step {
            Sasl::Plain => self.plain(line).await,
            Sasl::LoginUser => self.login_user(line),
            Sasl::LoginPassword { user } => match sasl::decode_login(line) {
                Ok(password) => self.verify(user, Secret::new(password)).await,
                Err(e) => {
                    self.reply(&sasl_refused(e));
                    Outcome::Command
                }
            },
            Sasl::Refused => Outcome::Command,
        }
    }

    /// PLAIN's response (RFC 4616): an authorization identity other than
    /// the user's own is refused.
    async fn plain(&mut self, response: &str) -> Outcome {
        let creds = sasl::decode_response(response).and_then(|b| sasl::decode_plain(&b));
        match creds {
            Ok(c) if c.authzid.as_ref().is_none_or(|z| *z == c.authcid) => {
                self.verify(c.authcid, c.password).await
            }
            Ok(_) => {
                self.reply(&r(535, E(5, 7, 8), "authorization identity not allowed"));
                Outcome::Command
            }
            Err(e) => {
                self.reply(&sasl_refused(e));
                Outcome::Command
            }
        }
    }

    /// LOGIN's user name; the password is asked for next.
    fn login_user(&mut self, line: &str) -> Outcome {
        match sasl::decode_login(line) {
            Ok(user) => self.challenge(Sasl::LoginPassword { user }, sasl::LOGIN_PASSWORD),
            Err(e) => {
                self.reply(&sasl_refused(e));
                Outcome::Command
            }
        }
    }

    /// Checks the credentials. A failure is answered after the limiter's
    /// delay ([`Outcome::Pause`], then [`Session::resume`]).
    async fn verify(&mut self, user: String, password: Secret<String>) -> Outcome {
        let ip = self.peer.ip();
        let limiter = self.shared.auth_limiter.clone();
        if limiter.admit(ip, &user).await.is_err() {
            self.reply(&r(
                454,
                E(4, 7, 0),
                "too many failed logins from your address, try later",
            ));
            return Outcome::Command;
        }
        let login = user.clone();
        let result = self
            .blocking(move |store| {
                let Some(account) = store.authenticate(&login, &password)? else {
                    return Ok(None);
                };
                Ok(store.account_by_id(account)?.map(|a| (account, a.email)))
            })
            .await;
        match result {
            Ok(Some((account, email))) => {
                limiter.success(ip, &user);
                tracing::info!(user = %email, "authenticated");
                self.auth = Some(Authenticated { account, email });
                self.reply(&r(235, E(2, 7, 0), "authentication succeeded"));
                Outcome::Command
            }
            Ok(None) => {
                let delay = limiter.failure(ip, &user);
                self.auth_failures += 1;
                tracing::info!(user = %user, "authentication failed");
                self.state = State::Sasl(Sasl::Refused);
                Outcome::Pause(delay)
            }
            Err(e) => {
                tracing::warn!("authentication error: {e}");
                self.reply(&r(454, E(4, 7, 0), "temporary authentication failure"));
                Outcome::Command
            }
        }
    }

    /// The pause asked for is over: a refused AUTH gets its 535, and the
    /// session ends after `max_auth_failures` of them.
    pub(crate) fn resume(&mut self) -> Outcome {
        if !matches!(self.state, State::Sasl(Sasl::Refused)) {
            return Outcome::Command;
        }
        self.state = State::Ready;
        self.reply(&r(535, E(5, 7, 8), "authentication credentials invalid"));
        if self.auth_failures < self.shared.config.max_auth_failures {
            return Outcome::Command;
        }
        self.reply(&r(421, E(4, 7, 0), "too many failed logins"));
        Outcome::Close
    }
}

/// The reply to a SASL response that cannot be read.
fn sasl_refused(e: sasl::SaslError) -> Reply {
    match e {
        sasl::SaslError::Cancelled => r(501, E(5, 0, 0), "authentication cancelled"),
        e => r(501, E(5, 5, 2), e.to_string()),
    }
}

/// The result of looking up a recipient.
enum Lookup {
    Local(AccountId),
    Unknown,
    Full,
    Remote,
}

fn is_local_domain(store: &Store, domain: &str) -> Result<bool, StoreError> {
    Ok(store
        .domains()?
        .iter()
        .any(|d| d.name.eq_ignore_ascii_case(domain)))
}
