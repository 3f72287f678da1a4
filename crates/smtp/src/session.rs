//! One SMTP session: the state machine (RFC 5321 §4.1.4 command order),
//! sans I/O. It takes the command lines the connection loop
//! ([`crate::connection`]) cuts from the input, and the bodies the loop
//! read for it, and puts its replies into an output buffer the loop
//! writes. The command handlers live in [`crate::cmd`], one module per
//! command group.
//!
//! Implementation notes:
//! - State: [`State`] is `Fresh` (no EHLO yet), `Ready` (greeted, no
//!   transaction), `Sasl` (in an AUTH exchange: what the next line
//!   answers) or `Transaction` (after MAIL: the sender, the accepted
//!   recipients, a BDAT body in progress). AUTH and TLS are facts of the
//!   session and survive RSET; STARTTLS resets everything (RFC 3207 §4.2).
//! - A handler never touches the socket. What needs it in the middle of
//!   a command is an [`Outcome`] the loop acts on: DATA hands out a
//!   [`DataBody`] (the loop writes the 354, reads the body into it up to
//!   `<CRLF>.<CRLF>` and hands it back to [`Session::data_done`]), BDAT a
//!   [`Chunk`] (read by count, back to [`Session::chunk_done`]), an AUTH
//!   challenge asks for one line ([`Session::sasl_response`]), a refused
//!   login asks the loop to write the replies and wait
//!   ([`Outcome::Pause`], then [`Session::resume`]), STARTTLS asks for the
//!   handshake after its 220 ([`Session::tls_started`]).
//! - Pipelining (RFC 2920): every complete line already received is
//!   handled before replies are written; a DATA after refused recipients
//!   gets 554 without 354, so the body that follows is read as commands
//!   only by a broken client, and each of its lines is refused.
//! - The `250` after DATA/BDAT LAST is written only after the store has
//!   committed the message for every accepted local recipient in one
//!   transaction (one blob) and queued it for the remote ones.
//! - Bodies: DATA ends only at `<CRLF>.<CRLF>`, bare CR/LF refused (see
//!   `tidings_smtp_proto::data`); BDAT chunks are read by count, and the
//!   whole body is refused for a bare CR/LF too unless it is
//!   `BODY=BINARYMIME` (scanned chunk by chunk). Neither keeps more than
//!   `max_message_size` octets, and neither keeps them in memory: they go
//!   to a store spool as they arrive (a file past 1 MiB,
//!   `tidings_store::spool`), dropped with its file if the client goes
//!   away. The checks read the header section only (at most 1 MiB,
//!   `HEADER_MAX` in `cmd::deliver`); DKIM loads the message whole under
//!   the store's memory budget; the stored message is composed into a
//!   second spool, whose file becomes the blob.
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
//! - Failed AUTH: the answer waits `tidings_net::AuthLimiter`'s delay;
//!   an address over its limit is refused without checking; a session is
//!   closed after `max_auth_failures`.
//! - Timeouts ([`Session::idle_timeout`]): `command_timeout` per command
//!   read (§4.5.3.2.7) inside a transaction or once authenticated; before
//!   that (no MAIL yet, or between messages, unauthenticated, SASL
//!   exchange included) the shorter `greeting_timeout`; then 421 4.4.2 and
//!   close (a SASL response that does not come ends the connection without
//!   a reply). `data_timeout` per body read. Shutdown: the command in
//!   progress is finished (an AUTH exchange included), then 421 4.3.2 and
//!   close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_smtp_proto::command::{MailParams, Path, RcptParams, ReversePath};
use tidings_smtp_proto::{Command, EnhancedCode as E, Reply};
use tidings_store::{Store, StoreError};
use tidings_types::AccountId;

use crate::Shared;
use crate::cmd::{BdatBody, Chunk, DataBody, Sasl};

/// Who the client said it is.
pub(crate) struct Helo {
    pub(crate) name: String,
    pub(crate) esmtp: bool,
}

/// The authenticated user.
pub(crate) struct Authenticated {
    pub(crate) account: AccountId,
    pub(crate) email: String,
}

/// Where a session is in RFC 5321 §4.1.4's command order.
pub(crate) enum State {
    /// No EHLO/HELO yet (or after STARTTLS).
    Fresh,
    /// Greeted; no transaction.
    Ready,
    /// In an AUTH exchange (only from `Ready`, where it ends).
    Sasl(Sasl),
    /// After MAIL.
    Transaction(Box<Transaction>),
}

/// One mail transaction.
pub(crate) struct Transaction {
    pub(crate) from: ReversePath,
    pub(crate) params: MailParams,
    /// Accepted local recipients; one store copy per distinct account.
    pub(crate) local: Vec<LocalRcpt>,
    /// Accepted remote recipients (authenticated users only).
    pub(crate) remote: Vec<RemoteRcpt>,
    /// Local addresses that forward elsewhere (aliases with remote
    /// targets, bounces to our SRS addresses): queued as their own copies.
    pub(crate) forward: Vec<ForwardRcpt>,
    /// A BDAT body in progress.
    pub(crate) bdat: Option<BdatBody>,
}

impl Transaction {
    pub(crate) fn recipients(&self) -> usize {
        self.local.len() + self.remote.len() + self.forward.len()
    }
}

pub(crate) struct LocalRcpt {
    pub(crate) path: Path,
    pub(crate) account: AccountId,
    pub(crate) params: RcptParams,
}

pub(crate) struct RemoteRcpt {
    pub(crate) path: Path,
    pub(crate) params: RcptParams,
}

/// A local address whose mail goes on to other domains.
pub(crate) struct ForwardRcpt {
    /// The address as given at RCPT (lowercased): one of ours, named in the
    /// forwarded copy's `Delivered-To:` and the domain of its SRS sender.
    pub(crate) alias: String,
    /// Where the copy goes.
    pub(crate) targets: Vec<String>,
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
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// The connection is under TLS (implicit, or after STARTTLS).
    pub(crate) tls: bool,
    /// STARTTLS is offered (a plaintext listener with a certificate).
    pub(crate) starttls: bool,
    /// Encoded replies waiting for the loop to write them.
    pub(crate) out: Vec<u8>,
    pub(crate) helo: Option<Helo>,
    pub(crate) auth: Option<Authenticated>,
    pub(crate) auth_failures: u32,
    pub(crate) state: State,
    /// Messages accepted in this session (for ids).
    pub(crate) messages: u32,
}

pub(crate) fn r(code: u16, e: E, text: impl Into<String>) -> Reply {
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

    pub(crate) fn hostname(&self) -> &str {
        &self.shared.config.hostname
    }

    pub(crate) fn reply(&mut self, reply: &Reply) {
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
            Ok(cmd) => {
                let verb = cmd.verb();
                let started = std::time::Instant::now();
                let outcome = self.handle(cmd).await;
                tidings_metrics::command("smtp", verb, started.elapsed());
                outcome
            }
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

    /// Dispatches one command to its handler in [`crate::cmd`].
    async fn handle(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Ehlo(name) => self.greet(name, true),
            Command::Helo(name) => self.greet(name, false),
            Command::Quit => self.quit(),
            Command::Noop => self.noop(),
            Command::Rset => self.rset(),
            Command::Vrfy(_) => self.vrfy(),
            Command::Expn(_) => self.expn(),
            Command::Help => self.help(),
            Command::StartTls => self.start_tls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await,
            Command::Mail { from, params } => {
                self.mail(from, params).await;
                Outcome::Command
            }
            Command::Rcpt { to, params } => {
                self.rcpt(to, params).await;
                Outcome::Command
            }
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
        }
    }

    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .unwrap_or_else(|e| Err(StoreError::Database(format!("task failed: {e}"))))
    }
}

#[cfg(test)]
mod tests {
    //! The session driven directly, without a socket: lines and bodies in,
    //! replies and outcomes out, over a real store in a temporary
    //! directory.

    use super::*;
    use tidings_net::AuthLimiter;
    use tidings_smtp_proto::{DataOutcome, sasl};
    use tidings_types::{MailboxRole, Secret};

    use crate::{Mode, SmtpConfig, auth, outbound};

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        account: AccountId,
        session: Session,
    }

    /// A session on the MX port from loopback, over a plaintext
    /// connection that offers STARTTLS.
    fn fixture(config: SmtpConfig) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_domain("example.org").unwrap();
        let account = store
            .create_account("bob@example.org", &Secret::new("pw".to_string()))
            .unwrap();
        let shared = Arc::new(Shared {
            store: store.clone(),
            config,
            mode: Mode::Mx,
            auth_limiter: AuthLimiter::default(),
            outbound: outbound::OutboundHandle::new(),
            dkim: None,
            authenticator: None,
            txt_cache: auth::TxtCache::default(),
            srs: None,
        });
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        let session = Session::new(shared, 1, peer, false, true);
        Fixture {
            _dir: dir,
            store,
            account,
            session,
        }
    }

    impl Fixture {
        /// Hands one command line to the session; what it answered and
        /// asked the loop to do.
        async fn send(&mut self, line: &str) -> (Outcome, String) {
            let outcome = self.session.line(line.as_bytes()).await;
            (outcome, self.take())
        }

        /// Like `send`, for a command that only replies.
        async fn say(&mut self, line: &str) -> String {
            let (outcome, out) = self.send(line).await;
            assert!(matches!(outcome, Outcome::Command), "{line}: {out}");
            out
        }

        fn take(&mut self) -> String {
            String::from_utf8(std::mem::take(&mut self.session.out)).unwrap()
        }

        /// The raw messages in bob's INBOX.
        fn inbox(&self) -> Vec<String> {
            let inbox = self
                .store
                .mailbox_by_role(self.account, MailboxRole::Inbox)
                .unwrap()
                .unwrap();
            self.store
                .mailbox_entries(self.account, inbox.id)
                .unwrap()
                .into_iter()
                .map(|e| {
                    let raw = self.store.email_raw(self.account, e.email).unwrap();
                    String::from_utf8(raw).unwrap()
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn commands_out_of_order_are_refused_without_a_transaction() {
        let mut f = fixture(SmtpConfig::default());
        f.session.greeting();
        assert_eq!(f.take(), "220 localhost ESMTP Tidings\r\n");
        assert_eq!(
            f.say("MAIL FROM:<ann@example.net>").await,
            "503 5.5.1 say EHLO first\r\n"
        );
        assert_eq!(
            f.say("RCPT TO:<bob@example.org>").await,
            "503 5.5.1 need MAIL before RCPT\r\n"
        );
        assert_eq!(f.say("DATA").await, "503 5.5.1 need MAIL before DATA\r\n");
        let ehlo = f.say("EHLO client.example.net").await;
        assert!(ehlo.starts_with("250-localhost greets client.example.net\r\n"));
        assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
        assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
        assert_eq!(
            f.say("RCPT TO:<bob@example.org>").await,
            "503 5.5.1 need MAIL before RCPT\r\n"
        );
        assert_eq!(
            f.say("MAIL FROM:<ann@example.net>").await,
            "250 2.1.0 sender OK\r\n"
        );
        assert_eq!(
            f.say("MAIL FROM:<ann@example.net>").await,
            "503 5.5.1 nested MAIL command\r\n"
        );
        assert_eq!(
            f.say("AUTH PLAIN").await,
            "503 5.5.1 AUTH not allowed in a transaction\r\n"
        );
        assert_eq!(f.say("RSET").await, "250 2.0.0 OK\r\n");
        assert!(matches!(f.session.state, State::Ready));
        assert_eq!(f.say("FOO").await, "500 5.5.1 command not recognized\r\n");
    }

    #[tokio::test]
    async fn data_without_an_accepted_recipient_gets_554_and_no_354() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        assert_eq!(
            f.say("RCPT TO:<nobody@example.org>").await,
            "550 5.1.1 no such user here\r\n"
        );
        assert_eq!(
            f.say("RCPT TO:<someone@elsewhere.example>").await,
            "554 5.7.1 relay access denied\r\n"
        );
        // RFC 2920 §3.1: the loop is not asked to read a body.
        assert_eq!(f.say("DATA").await, "554 5.5.1 no valid recipients\r\n");
        assert!(matches!(f.session.state, State::Transaction(_)));
    }

    #[tokio::test]
    async fn a_data_body_handed_back_by_the_loop_is_stored_before_250() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        assert_eq!(
            f.say("RCPT TO:<bob@example.org>").await,
            "250 2.1.5 recipient OK\r\n"
        );
        let (outcome, out) = f.send("DATA").await;
        assert_eq!(out, "354 end data with <CR><LF>.<CR><LF>\r\n");
        let Outcome::Data(mut body) = outcome else {
            panic!("DATA did not ask for a body");
        };
        assert!(body.push(b"Subject: hi\r\n\r\n..dot\r\n").is_none());
        let input = b"end\r\n.\r\nQUIT\r\n";
        let (done, used) = body.push(input).unwrap();
        assert_eq!(done, DataOutcome::Complete);
        // The pipelined QUIT stays with the loop.
        assert_eq!(&input[used..], b"QUIT\r\n");
        assert!(f.inbox().is_empty());
        let outcome = f.session.data_done(body, done).await;
        assert!(matches!(outcome, Outcome::Command));
        let out = f.take();
        assert!(out.starts_with("250 2.0.0 OK: queued as "), "{out}");
        let inbox = f.inbox();
        assert_eq!(inbox.len(), 1);
        assert!(
            inbox[0].starts_with(
                "Delivered-To: bob@example.org\r\nReceived: from client.example.net ([127.0.0.1])"
            ),
            "{}",
            inbox[0]
        );
        assert!(
            inbox[0].ends_with("Subject: hi\r\n\r\n.dot\r\nend\r\n"),
            "{}",
            inbox[0]
        );
        assert!(matches!(f.session.state, State::Ready));
    }

    #[tokio::test]
    async fn an_over_size_data_body_is_refused_after_it_is_read() {
        let config = SmtpConfig {
            max_message_size: 10,
            ..SmtpConfig::default()
        };
        let mut f = fixture(config);
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        f.say("RCPT TO:<bob@example.org>").await;
        let (Outcome::Data(mut body), _) = f.send("DATA").await else {
            panic!("DATA did not ask for a body");
        };
        let (done, _) = body
            .push(b"Subject: far more than ten octets\r\n\r\n.\r\n")
            .unwrap();
        assert!(matches!(done, DataOutcome::TooBig { .. }));
        f.session.data_done(body, done).await;
        assert!(f.take().starts_with("552 5.3.4 message of "));
        assert!(f.inbox().is_empty());
    }

    #[tokio::test]
    async fn bdat_without_a_transaction_or_recipients_is_read_and_dropped() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        // RFC 3030 §2: the chunk follows whatever the reply, so the loop
        // reads it (into nothing) before the session answers.
        let (Outcome::Chunk(mut chunk), out) = f.send("BDAT 5 LAST").await else {
            panic!("BDAT did not ask for its chunk");
        };
        assert_eq!(out, "");
        assert_eq!(chunk.size(), 5);
        chunk.push(b"hello");
        f.session.chunk_done(chunk).await;
        assert_eq!(f.take(), "503 5.5.1 need MAIL and RCPT before BDAT\r\n");

        f.say("MAIL FROM:<ann@example.net>").await;
        f.say("RCPT TO:<nobody@example.org>").await;
        let (Outcome::Chunk(mut chunk), _) = f.send("BDAT 5").await else {
            panic!("BDAT did not ask for its chunk");
        };
        chunk.push(b"hello");
        f.session.chunk_done(chunk).await;
        assert_eq!(f.take(), "554 5.5.1 no valid recipients\r\n");
        assert!(f.inbox().is_empty());
    }

    #[tokio::test]
    async fn bdat_chunks_make_one_message_and_refuse_data_and_rcpt_between_them() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        f.say("RCPT TO:<bob@example.org>").await;
        let first = b"Subject: chunks\r\n\r\none ";
        let (Outcome::Chunk(mut chunk), _) = f.send(&format!("BDAT {}", first.len())).await else {
            panic!("BDAT did not ask for its chunk");
        };
        chunk.push(first);
        f.session.chunk_done(chunk).await;
        assert_eq!(
            f.take(),
            format!("250 2.0.0 {} octets received\r\n", first.len())
        );
        assert_eq!(
            f.say("DATA").await,
            "503 5.5.1 DATA not allowed after BDAT\r\n"
        );
        assert_eq!(
            f.say("RCPT TO:<bob@example.org>").await,
            "503 5.5.1 RCPT not allowed during BDAT\r\n"
        );
        let (Outcome::Chunk(mut chunk), _) = f.send("BDAT 5 LAST").await else {
            panic!("BDAT did not ask for its chunk");
        };
        chunk.push(b"two\r\n");
        f.session.chunk_done(chunk).await;
        let out = f.take();
        assert!(out.starts_with("250 2.0.0 OK: queued as "), "{out}");
        let inbox = f.inbox();
        assert_eq!(inbox.len(), 1);
        assert!(
            inbox[0].ends_with("Subject: chunks\r\n\r\none two\r\n"),
            "{}",
            inbox[0]
        );
    }

    #[tokio::test]
    async fn a_bdat_body_over_the_limit_is_read_to_its_end_then_refused() {
        let config = SmtpConfig {
            max_message_size: 10,
            ..SmtpConfig::default()
        };
        let mut f = fixture(config);
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        f.say("RCPT TO:<bob@example.org>").await;
        for (command, reply) in [
            ("BDAT 8", "250 2.0.0 8 octets received\r\n"),
            ("BDAT 8", "250 2.0.0 8 octets received\r\n"),
            (
                "BDAT 8 LAST",
                "552 5.3.4 message exceeds the limit of 10 octets\r\n",
            ),
        ] {
            let (Outcome::Chunk(mut chunk), _) = f.send(command).await else {
                panic!("BDAT did not ask for its chunk");
            };
            chunk.push(b"12345678");
            f.session.chunk_done(chunk).await;
            assert_eq!(f.take(), reply);
        }
        assert!(matches!(f.session.state, State::Ready));
        assert!(f.inbox().is_empty());
    }

    #[tokio::test]
    async fn auth_login_is_an_exchange_of_lines_the_loop_hands_in() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        let (outcome, out) = f.send("AUTH LOGIN").await;
        assert!(matches!(outcome, Outcome::SaslResponse));
        assert_eq!(out, "334 VXNlcm5hbWU6\r\n");
        assert!(matches!(f.session.state, State::Sasl(Sasl::LoginUser)));
        let user = sasl::encode(b"bob@example.org");
        let outcome = f.session.sasl_response(Some(user.as_bytes())).await;
        assert!(matches!(outcome, Outcome::SaslResponse));
        assert_eq!(f.take(), "334 UGFzc3dvcmQ6\r\n");
        let outcome = f
            .session
            .sasl_response(Some(sasl::encode(b"pw").as_bytes()))
            .await;
        assert!(matches!(outcome, Outcome::Command));
        assert_eq!(f.take(), "235 2.7.0 authentication succeeded\r\n");
        assert!(matches!(f.session.state, State::Ready));
        assert!(f.session.auth.is_some());
        assert_eq!(
            f.say("AUTH PLAIN").await,
            "503 5.5.1 already authenticated\r\n"
        );
        let ehlo = f.say("EHLO client.example.net").await;
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
    }

    #[tokio::test]
    async fn a_refused_login_is_answered_after_the_pause_and_the_last_closes() {
        let config = SmtpConfig {
            max_auth_failures: 2,
            ..SmtpConfig::default()
        };
        let mut f = fixture(config);
        f.say("EHLO client.example.net").await;
        let wrong = sasl::encode(b"\0bob@example.org\0wrong");
        for last in [false, true] {
            let (outcome, out) = f.send(&format!("AUTH PLAIN {wrong}")).await;
            // Nothing yet: the loop writes what is waiting, then pauses.
            assert_eq!(out, "");
            assert!(matches!(outcome, Outcome::Pause(_)));
            let outcome = f.session.resume();
            let out = f.take();
            if last {
                assert!(matches!(outcome, Outcome::Close));
                assert_eq!(
                    out,
                    "535 5.7.8 authentication credentials invalid\r\n\
                     421 4.7.0 too many failed logins\r\n"
                );
            } else {
                assert!(matches!(outcome, Outcome::Command));
                assert_eq!(out, "535 5.7.8 authentication credentials invalid\r\n");
            }
            assert!(matches!(f.session.state, State::Ready));
        }
        assert!(f.session.auth.is_none());
    }

    #[tokio::test]
    async fn a_sasl_response_too_long_or_cancelled_ends_the_exchange() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        let (outcome, out) = f.send("AUTH PLAIN").await;
        assert!(matches!(outcome, Outcome::SaslResponse));
        assert_eq!(out, "334\r\n");
        let outcome = f.session.sasl_response(None).await;
        assert!(matches!(outcome, Outcome::Command));
        assert_eq!(f.take(), "501 5.5.2 no response\r\n");
        assert!(matches!(f.session.state, State::Ready));
        f.send("AUTH LOGIN").await;
        f.session.sasl_response(Some(b"*")).await;
        assert_eq!(f.take(), "501 5.0.0 authentication cancelled\r\n");
        assert!(matches!(f.session.state, State::Ready));
    }

    #[tokio::test]
    async fn starttls_starts_the_session_again() {
        let mut f = fixture(SmtpConfig::default());
        f.say("EHLO client.example.net").await;
        f.say("MAIL FROM:<ann@example.net>").await;
        assert_eq!(
            f.say("STARTTLS").await,
            "503 5.5.1 STARTTLS not allowed in a transaction\r\n"
        );
        f.say("RSET").await;
        let (outcome, out) = f.send("STARTTLS").await;
        assert!(matches!(outcome, Outcome::StartTls));
        assert_eq!(out, "220 2.0.0 ready to start TLS\r\n");
        f.session.tls_started();
        assert_eq!(
            f.say("MAIL FROM:<ann@example.net>").await,
            "503 5.5.1 say EHLO first\r\n"
        );
        let ehlo = f.say("EHLO client.example.net").await;
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(
            f.say("STARTTLS").await,
            "502 5.5.1 STARTTLS not available\r\n"
        );
    }

    #[tokio::test]
    async fn auth_needs_tls_away_from_loopback() {
        let mut f = fixture(SmtpConfig::default());
        f.session.peer = SocketAddr::from(([192, 0, 2, 1], 40000));
        let ehlo = f.say("EHLO client.example.net").await;
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        assert_eq!(
            f.say("AUTH PLAIN").await,
            "538 5.7.11 encryption required: use STARTTLS first\r\n"
        );
        let (outcome, _) = f.send("QUIT").await;
        assert!(matches!(outcome, Outcome::Close));
    }
}
