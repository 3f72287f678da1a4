//! The POP3 session state machine (RFC 1939 §3–§6).
//!
//! Implementation notes:
//! - [`State`] holds the data valid in each state: the user name given by
//!   `USER` and the failure count in AUTHORIZATION (RFC 1939 §4), the same
//!   while a SASL exchange waits for the client's response (RFC 5034 §4),
//!   and the locked maildrop in TRANSACTION (RFC 1939 §5). The UPDATE state
//!   (§6) is the `QUIT` handler: it consumes the maildrop.
//! - The maildrop is INBOX as it was at login (`pop_maildrop`), taken after
//!   the account's POP lock (RFC 1939 §8: one session per maildrop;
//!   `-ERR [IN-USE]` otherwise, RFC 2449 §8.1.1). Messages are numbered
//!   1..n in the order the store gives (oldest first); `UIDL` is the
//!   email's stable id (`M<n>`), never reused.
//! - `DELE` only marks; `RSET` unmarks. Only `QUIT` in TRANSACTION applies
//!   the marks, through `pop_commit`, which follows the account's POP
//!   policy in one durable transaction; `+OK` is said after it returned.
//!   A session that ends any other way (dropped connection, autologout,
//!   shutdown) changes nothing.
//! - Plaintext login (USER/PASS, AUTH PLAIN) needs TLS, except from a
//!   loopback address (configurable); it is refused with `-ERR [AUTH]`
//!   and not advertised in CAPA while refused (RFC 2595 §4).
//! - Failed logins: each is answered `-ERR [AUTH]` after the delay the
//!   shared `AuthLimiter` gives (growing with the address's failures); after
//!   `max_failures` in one session the session is closed. An address the
//!   limiter blocks (too many failures, over every protocol) gets `-ERR
//!   [LOGIN-DELAY]` without its password being checked; a login on an
//!   account under attack waits the limiter's account delay first. A
//!   success forgives only that account's failures (never the address's
//!   failures on other accounts).
//! - Before login a read waits at most `login_timeout` (a connection that
//!   never logs in holds its slot briefly); after it, `idle_timeout`.
//! - Store calls run on the blocking pool (argon2 is CPU-heavy; SQLite
//!   blocks). Store errors are answered `-ERR [SYS/TEMP]` when retrying may
//!   help, else `-ERR [SYS/PERM]` with the connection id that the log line
//!   carries too (RFC 3206 §4).
//! - Commands in the wrong state and unknown commands get `-ERR` and the
//!   session goes on (RFC 1939 §3).

use std::net::IpAddr;
use std::sync::Arc;

use tidings_pop3_proto::response::{encode_end, encode_line};
use tidings_pop3_proto::sasl::{self, PlainCredentials};
use tidings_pop3_proto::{
    Capability, Command, Frame, MAX_COMMAND_LINE, ParseError, RespCode, Response,
};
use tidings_store::{MessageReader, PopLock, Store, StoreError};
use tidings_types::{AccountId, EmailId, Secret};
use tokio_util::sync::CancellationToken;

use crate::Shared;

/// The longest SASL response line accepted (RFC 5034 §4 does not apply the
/// 255-octet command limit to responses; a PLAIN response with a long
/// password still fits here).
pub(crate) const MAX_SASL_LINE: usize = 4096;

/// The login prefix of Gmail's recent mode.
const RECENT_PREFIX: &str = "recent:";

/// What the I/O loop does after a command.
#[derive(Debug)]
pub(crate) enum Next {
    /// Read the next command.
    Continue,
    /// The `+OK` line is written: send `body` as the rest of the multi-line
    /// reply (dot-stuffed), then go on.
    Body(Body),
    /// `+OK` to STLS is written: flush, drop buffered input, handshake.
    StartTls,
    /// Flush and close the connection.
    Close,
}

/// A message to send as a multi-line reply.
#[derive(Debug)]
pub(crate) enum Body {
    /// RETR: the whole message, read from the store a piece at a time, so a
    /// large one is never held whole.
    Stream(MessageReader),
    /// TOP: `raw[..len]` (the header and the first lines of the body).
    Part { raw: Vec<u8>, len: usize },
}

/// One message of the maildrop.
#[derive(Clone, Copy, Debug)]
struct Message {
    email: EmailId,
    size: u64,
    deleted: bool,
}

/// The locked maildrop of the TRANSACTION state.
#[derive(Debug)]
struct Maildrop {
    account: AccountId,
    address: String,
    messages: Vec<Message>,
    /// Held until the session ends (RFC 1939 §8).
    _lock: PopLock,
}

impl Maildrop {
    /// Count and octets of the messages not marked deleted.
    fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    /// The messages not marked deleted, with their numbers.
    fn live(&self) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, m))
    }

    /// Message `n`, unless it does not exist or is marked deleted
    /// (RFC 1939 §5: such a message may not be referred to).
    fn get(&mut self, n: u32) -> Result<&mut Message, Response> {
        let index = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < self.messages.len());
        let count = self.messages.len();
        match index.map(|i| &mut self.messages[i]) {
            None => Err(Response::err(format!(
                "no such message: {n} (the maildrop has {count})"
            ))),
            Some(m) if m.deleted => Err(Response::err(format!("message {n} already deleted"))),
            Some(m) => Ok(m),
        }
    }
}

/// The session's state (RFC 1939 §3).
#[derive(Debug)]
enum State {
    /// RFC 1939 §4; `user` is the name given by `USER`, waiting for `PASS`.
    Authorization { user: Option<String>, failures: u32 },
    /// RFC 5034 §4: `AUTH PLAIN` sent without an initial response; the next
    /// line is the client's response.
    SaslPlain { failures: u32 },
    /// RFC 1939 §5.
    Transaction(Maildrop),
    /// After QUIT, or a failure that ends the session.
    Done,
}

/// Why a store call failed.
#[derive(Debug)]
enum CallError {
    Store(StoreError),
    /// The blocking task panicked or was cancelled.
    Task(String),
}

/// One POP3 session: the state and what it needs to know about the
/// connection.
pub(crate) struct Session {
    shared: Arc<Shared>,
    conn_id: u64,
    peer: IpAddr,
    tls: bool,
    /// The port offers STLS (it is a STARTTLS port).
    stls_port: bool,
    /// RFC 6856: the client enabled UTF-8 mode.
    utf8: bool,
    shutdown: CancellationToken,
    state: State,
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        conn_id: u64,
        peer: IpAddr,
        tls: bool,
        stls_port: bool,
        shutdown: CancellationToken,
    ) -> Session {
        Session {
            shared,
            conn_id,
            peer: peer.to_canonical(),
            tls,
            stls_port,
            utf8: false,
            shutdown,
            state: State::Authorization {
                user: None,
                failures: 0,
            },
        }
    }

    /// RFC 1939 §4: the greeting.
    pub(crate) fn greeting(&self, out: &mut Vec<u8>) {
        Response::ok("Tidings POP3 server ready").encode(out);
    }

    /// The line limit for the next line the client sends.
    pub(crate) fn max_line(&self) -> usize {
        match self.state {
            State::SaslPlain { .. } => MAX_SASL_LINE,
            _ => MAX_COMMAND_LINE,
        }
    }

    /// Whether the session is past login (RFC 1939 §5 TRANSACTION).
    pub(crate) fn logged_in(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// TLS is now active (after STLS).
    pub(crate) fn tls_started(&mut self) {
        self.tls = true;
    }

    /// Whether a plaintext password may be sent now.
    fn plaintext_allowed(&self) -> bool {
        self.tls || (self.shared.config.plaintext_on_loopback && self.peer.is_loopback())
    }

    /// RFC 2449 §5: the same list in AUTHORIZATION and TRANSACTION.
    fn capabilities(&self) -> Vec<Capability> {
        let mut caps = vec![
            Capability::Top,
            Capability::Uidl,
            Capability::RespCodes,
            Capability::AuthRespCode,
            Capability::Pipelining,
            Capability::Utf8,
        ];
        if self.plaintext_allowed() {
            caps.push(Capability::User);
            caps.push(Capability::Sasl(vec!["PLAIN".into()]));
        }
        if self.stls_port && !self.tls {
            caps.push(Capability::Stls);
        }
        caps.push(Capability::Implementation("Tidings".into()));
        caps
    }

    /// Handles one frame from the client, appending replies to `out`.
    pub(crate) async fn handle(&mut self, frame: Frame, out: &mut Vec<u8>) -> Next {
        if let State::SaslPlain { failures } = self.state {
            self.state = State::Authorization {
                user: None,
                failures,
            };
            return match frame {
                Frame::TooLong => {
                    Response::err("SASL response too long; authentication cancelled").encode(out);
                    Next::Continue
                }
                Frame::Line(line) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    self.sasl_plain(&text, out).await
                }
            };
        }
        let line = match frame {
            Frame::TooLong => {
                Response::err(format!(
                    "line too long: a command is at most {MAX_COMMAND_LINE} octets"
                ))
                .encode(out);
                return Next::Continue;
            }
            Frame::Line(line) => line,
        };
        let command = match Command::parse(&line) {
            Ok(c) => c,
            Err(e @ ParseError::Unknown(_)) => {
                Response::err(e.to_string()).encode(out);
                return Next::Continue;
            }
            Err(e) => {
                Response::err(format!("syntax error: {e}")).encode(out);
                return Next::Continue;
            }
        };
        let name = command.keyword();
        tracing::trace!(command = name, "command");
        let started = std::time::Instant::now();
        let next = match &self.state {
            State::Authorization { .. } => self.authorization(command, out).await,
            State::Transaction(_) => self.transaction(command, out).await,
            State::SaslPlain { .. } | State::Done => Next::Close,
        };
        tidings_metrics::command("pop3", name, started.elapsed());
        next
    }

    /// RFC 1939 §4, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4, RFC 6856 §2.
    async fn authorization(&mut self, command: Command, out: &mut Vec<u8>) -> Next {
        let plaintext = self.plaintext_allowed();
        let State::Authorization { user, failures } = &mut self.state else {
            return Next::Close;
        };
        let failures = *failures;
        match command {
            Command::Capa => Capability::encode_list(&self.capabilities(), out),
            Command::Quit => {
                Response::ok("Tidings POP3 server signing off").encode(out);
                self.state = State::Done;
                return Next::Close;
            }
            Command::User(name) => {
                if !plaintext {
                    *user = None;
                    plaintext_refused(out);
                } else {
                    *user = Some(name);
                    Response::ok("send PASS").encode(out);
                }
            }
            Command::Pass(password) => {
                let Some(name) = user.take() else {
                    Response::err("USER first").encode(out);
                    return Next::Continue;
                };
                if !plaintext {
                    plaintext_refused(out);
                    return Next::Continue;
                }
                return self.login(name, password, out).await;
            }
            Command::Auth {
                mechanism: None, ..
            } => {
                // The bare AUTH many clients send to list mechanisms.
                Response::ok("SASL mechanisms follow").encode(out);
                if plaintext {
                    encode_line(out, "PLAIN");
                }
                encode_end(out);
            }
            Command::Auth {
                mechanism: Some(mechanism),
                initial,
            } => {
                *user = None;
                if mechanism != "PLAIN" {
                    Response::err(format!("unsupported SASL mechanism {mechanism}")).encode(out);
                } else if !plaintext {
                    plaintext_refused(out);
                } else if let Some(initial) = initial {
                    return self.sasl_plain(&initial, out).await;
                } else {
                    // RFC 5034 §4: an empty challenge.
                    out.extend_from_slice(b"+ \r\n");
                    self.state = State::SaslPlain { failures };
                }
            }
            Command::Stls => {
                if self.tls {
                    Response::err("TLS is already active").encode(out);
                } else if !self.stls_port {
                    Response::err("STLS is not offered on this port").encode(out);
                } else {
                    // RFC 2595 §4: forget what was said before TLS.
                    *user = None;
                    Response::ok("begin TLS negotiation").encode(out);
                    return Next::StartTls;
                }
            }
            Command::Utf8 => {
                self.utf8 = true;
                Response::ok("UTF8 enabled").encode(out);
            }
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => {
                Response::err(format!(
                    "{} is only allowed after login (TRANSACTION state)",
                    command.keyword()
                ))
                .encode(out);
            }
        }
        Next::Continue
    }

    /// RFC 4616 over RFC 5034 §4: one response carries the credentials.
    async fn sasl_plain(&mut self, response: &str, out: &mut Vec<u8>) -> Next {
        let creds = sasl::decode_response(response).and_then(|m| sasl::decode_plain(&m));
        match creds {
            Ok(PlainCredentials {
                authzid,
                authcid,
                password,
            }) => {
                if authzid.as_ref().is_some_and(|z| *z != authcid) {
                    // Acting as another user is not supported: a failure.
                    return self.login_failed(&authcid, out).await;
                }
                self.login(authcid, password, out).await
            }
            Err(e) => {
                Response::err(e.to_string()).encode(out);
                Next::Continue
            }
        }
    }

    /// Checks the password, locks and snapshots the maildrop.
    async fn login(&mut self, login: String, password: Secret<String>, out: &mut Vec<u8>) -> Next {
        let (address, recent) = match login.get(..RECENT_PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(RECENT_PREFIX) => {
                (login[RECENT_PREFIX.len()..].to_string(), true)
            }
            _ => (login, false),
        };
        if let Err(left) = self.shared.limiter.admit(self.peer, &address).await {
            tracing::warn!(peer = %self.peer, "login refused: too many failed logins from this address ({}s left)", left.as_secs());
            return self.count_failure(
                Response::err_code(
                    RespCode::LoginDelay,
                    "too many failed logins from your address; try again later",
                ),
                out,
            );
        }
        let authenticated = {
            let address = address.clone();
            self.call(move |s| s.authenticate(&address, &password))
                .await
        };
        let account = match authenticated {
            Ok(Some(account)) => account,
            Ok(None) => {
                tracing::info!(user = %address, "login failed: wrong user name or password");
                return self.login_failed(&address, out).await;
            }
            Err(e) => {
                self.call_error(e, out);
                return Next::Continue;
            }
        };
        self.shared.limiter.success(self.peer, &address);
        let Some(lock) = self.shared.store.pop_lock(account) else {
            tracing::info!(user = %address, "login refused: maildrop in use");
            Response::err_code(
                RespCode::InUse,
                "another POP3 session is using this maildrop",
            )
            .encode(out);
            return Next::Continue;
        };
        let messages = match self.call(move |s| s.pop_maildrop(account, recent)).await {
            Ok(m) => m,
            Err(e) => {
                self.call_error(e, out);
                return Next::Continue;
            }
        };
        let maildrop = Maildrop {
            account,
            address,
            messages: messages
                .into_iter()
                .map(|m| Message {
                    email: m.email,
                    size: m.size,
                    deleted: false,
                })
                .collect(),
            _lock: lock,
        };
        let (count, size) = maildrop.stat();
        tracing::info!(user = %maildrop.address, recent, count, utf8 = self.utf8, "logged in");
        let mode = if recent {
            " (recent mode: the last 30 days)"
        } else {
            ""
        };
        Response::ok(format!(
            "{}'s maildrop has {count} messages ({size} octets){mode}",
            maildrop.address
        ))
        .encode(out);
        self.state = State::Transaction(maildrop);
        Next::Continue
    }

    /// A wrong password (or a refused identity): count, wait, say so.
    async fn login_failed(&mut self, account: &str, out: &mut Vec<u8>) -> Next {
        let delay = self.shared.limiter.failure(self.peer, account);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.count_failure(
            Response::err_code(RespCode::Auth, "invalid user name or password"),
            out,
        )
    }

    /// Failed logins so far in this session.
    fn failures(&self) -> u32 {
        match &self.state {
            State::Authorization { failures, .. } | State::SaslPlain { failures } => *failures,
            State::Transaction(_) | State::Done => 0,
        }
    }

    /// Counts a failed login and answers `reply`; at the limit the reply
    /// says the connection closes, and it does (one reply per command).
    fn count_failure(&mut self, mut reply: Response, out: &mut Vec<u8>) -> Next {
        let failures = self.failures() + 1;
        if failures >= self.shared.config.max_failures {
            tracing::warn!(peer = %self.peer, failures, "too many failed logins; closing");
            reply
                .text
                .push_str("; too many failed logins, closing the connection");
            reply.encode(out);
            self.state = State::Done;
            return Next::Close;
        }
        reply.encode(out);
        self.state = State::Authorization {
            user: None,
            failures,
        };
        Next::Continue
    }

    /// RFC 1939 §5 and §7 (TOP, UIDL), and QUIT of §6.
    async fn transaction(&mut self, command: Command, out: &mut Vec<u8>) -> Next {
        if let Command::Quit = command {
            return self.update(out).await;
        }
        if let Command::Capa = command {
            Capability::encode_list(&self.capabilities(), out);
            return Next::Continue;
        }
        let State::Transaction(maildrop) = &mut self.state else {
            return Next::Close;
        };
        match command {
            Command::Stat => {
                let (count, size) = maildrop.stat();
                Response::ok(format!("{count} {size}")).encode(out);
            }
            Command::List(None) => {
                let (count, size) = maildrop.stat();
                Response::ok(format!("{count} messages ({size} octets)")).encode(out);
                for (n, m) in maildrop.live() {
                    encode_line(out, &format!("{n} {}", m.size));
                }
                encode_end(out);
            }
            Command::List(Some(n)) => match maildrop.get(n) {
                Ok(m) => Response::ok(format!("{n} {}", m.size)).encode(out),
                Err(r) => r.encode(out),
            },
            Command::Uidl(None) => {
                Response::ok("unique-id listing follows").encode(out);
                for (n, m) in maildrop.live() {
                    encode_line(out, &format!("{n} {}", m.email));
                }
                encode_end(out);
            }
            Command::Uidl(Some(n)) => match maildrop.get(n) {
                Ok(m) => Response::ok(format!("{n} {}", m.email)).encode(out),
                Err(r) => r.encode(out),
            },
            Command::Dele(n) => match maildrop.get(n) {
                Ok(m) => {
                    m.deleted = true;
                    Response::ok(format!("message {n} deleted")).encode(out);
                }
                Err(r) => r.encode(out),
            },
            Command::Rset => {
                for m in &mut maildrop.messages {
                    m.deleted = false;
                }
                let (count, size) = maildrop.stat();
                Response::ok(format!("maildrop has {count} messages ({size} octets)")).encode(out);
            }
            Command::Noop => Response::ok("").encode(out),
            Command::Retr(n) => return self.retrieve(n, None, out).await,
            Command::Top { msg, lines } => return self.retrieve(msg, Some(lines), out).await,
            Command::User(_)
            | Command::Pass(_)
            | Command::Auth { .. }
            | Command::Stls
            | Command::Utf8 => {
                Response::err(format!("{} is not allowed after login", command.keyword()))
                    .encode(out);
            }
            Command::Quit | Command::Capa => {}
        }
        Next::Continue
    }

    /// RETR (RFC 1939 §5) or TOP (§7): the stored bytes.
    async fn retrieve(&mut self, n: u32, top_lines: Option<u32>, out: &mut Vec<u8>) -> Next {
        let State::Transaction(maildrop) = &mut self.state else {
            return Next::Close;
        };
        let account = maildrop.account;
        let (email, size) = match maildrop.get(n) {
            Ok(m) => (m.email, m.size),
            Err(r) => {
                r.encode(out);
                return Next::Continue;
            }
        };
        let read = match top_lines {
            None => self
                .call(move |s| s.email_reader(account, email))
                .await
                .map(Body::Stream),
            Some(lines) => self
                .call(move |s| s.email_raw(account, email))
                .await
                .map(|raw| {
                    let len = tidings_pop3_proto::top(&raw, lines).len();
                    Body::Part { raw, len }
                }),
        };
        match read {
            Ok(body) => {
                match top_lines {
                    None => Response::ok(format!("{size} octets")).encode(out),
                    Some(_) => Response::ok("top of message follows").encode(out),
                }
                Next::Body(body)
            }
            Err(CallError::Store(StoreError::NotFound(_))) => {
                Response::err(format!(
                    "message {n} is no longer available (deleted by another device)"
                ))
                .encode(out);
                Next::Continue
            }
            Err(e) => {
                self.call_error(e, out);
                Next::Continue
            }
        }
    }

    /// RFC 1939 §6: QUIT in TRANSACTION enters UPDATE: the DELE marks are
    /// applied (by the POP policy, durably) before `+OK`.
    async fn update(&mut self, out: &mut Vec<u8>) -> Next {
        let State::Transaction(maildrop) = std::mem::replace(&mut self.state, State::Done) else {
            return Next::Close;
        };
        let deleted: Vec<EmailId> = maildrop
            .messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.email)
            .collect();
        if deleted.is_empty() {
            Response::ok("Tidings POP3 server signing off").encode(out);
            return Next::Close;
        }
        let account = maildrop.account;
        let count = deleted.len();
        match self.call(move |s| s.pop_commit(account, &deleted)).await {
            Ok(_) => {
                tracing::info!(user = %maildrop.address, count, "POP3 deletions committed");
                Response::ok(format!(
                    "Tidings POP3 server signing off ({count} messages deleted)"
                ))
                .encode(out);
            }
            Err(e) => {
                let id = self.conn_id;
                tracing::error!(user = %maildrop.address, "committing POP3 deletions failed: {e:?} (connection {id})");
                // RFC 1939 §6.
                Response::err_code(RespCode::SysTemp, "some deleted messages not removed")
                    .encode(out);
            }
        }
        drop(maildrop);
        Next::Close
    }

    /// Runs a store call on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.shared.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CallError::Store(e)),
            Err(e) => Err(CallError::Task(e.to_string())),
        }
    }

    /// Answers a failed store call (RFC 3206 §4) and logs it.
    fn call_error(&self, e: CallError, out: &mut Vec<u8>) {
        let id = self.conn_id;
        match e {
            CallError::Store(e) if e.is_temporary() => {
                tracing::warn!("store error (temporary): {e} (connection {id})");
                Response::err_code(
                    RespCode::SysTemp,
                    "temporary server problem; try again later",
                )
                .encode(out);
            }
            CallError::Store(e) => {
                tracing::error!("store error: {e} (connection {id})");
                Response::err_code(
                    RespCode::SysPerm,
                    format!("internal server error (reference: connection {id})"),
                )
                .encode(out);
            }
            CallError::Task(e) => {
                tracing::error!("store task failed: {e} (connection {id})");
                Response::err_code(
                    RespCode::SysPerm,
                    format!("internal server error (reference: connection {id})"),
                )
                .encode(out);
            }
        }
    }
}

/// RFC 2595 §4 via RFC 3206 §5: a plaintext password is not accepted here.
fn plaintext_refused(out: &mut Vec<u8>) {
    Response::err_code(
        RespCode::Auth,
        "plaintext login needs TLS: use STLS first, or the POP3S port",
    )
    .encode(out);
}
