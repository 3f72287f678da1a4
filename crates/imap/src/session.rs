//! One IMAP connection: the I/O loop and the session state machine
//! (RFC 9051 §3: not authenticated → authenticated ⇄ selected → logout).
//!
//! Implementation notes / invariants:
//! - Input goes through the codec's [`Framer`] with [`crate::ImapConfig::limits`]
//!   before anything is parsed: a synchronizing literal within the limits
//!   gets `+ Ready`, one over the limit gets `NO [TOOBIG]` *before* its
//!   bytes are sent (the client never got a continuation), and a
//!   non-synchronizing literal over the limit poisons the stream: `* BYE`
//!   and close (RFC 7888 §4).
//! - Memory per connection is bounded by the framer limits, by FETCH
//!   loading messages `FETCH_BATCH` (and `FETCH_BATCH_BYTES`) at a
//!   time, and by writing the reply buffer after each batch.
//! - The store is blocking; every call goes through `spawn_blocking`
//!   (`Session::call`). Nothing is locked across an `.await`.
//! - Untagged updates for changes made elsewhere (other sessions, SMTP,
//!   POP3) come from the store's change events (`Store::subscribe`): an
//!   event for the selected mailbox marks the view dirty, and after the
//!   next command (before its tagged reply) the session asks the store for
//!   the delta since the view's MODSEQ ([`crate::view::View::apply`]). During
//!   FETCH, STORE and SEARCH (non-UID) expunges are held back
//!   (RFC 9051 §7.5.1). NOOP, CHECK and IDLE also poll the store, which
//!   catches writes by another process (`tidings deliver`) that raise no
//!   event here.
//! - Before login the framer has [`crate::ImapConfig::preauth_limits`]
//!   (small literals and lines) and the connection lives at most
//!   [`crate::ImapConfig::login_timeout`]; the logged-in limits apply
//!   from the tagged OK of LOGIN / AUTHENTICATE.
//! - Autologout: a read waits at most [`crate::ImapConfig::idle_timeout`]
//!   (30 minutes, RFC 9051 §5.4), also during IDLE (clients re-issue IDLE
//!   every 29 minutes, RFC 2177 §3).
//! - Plaintext authentication (LOGIN, AUTHENTICATE PLAIN) is refused before
//!   TLS unless the peer is on loopback or the configuration allows it
//!   ([`plaintext_auth_allowed`]); the greeting then says `LOGINDISABLED`
//!   and offers no `AUTH=` mechanism (RFC 9051 §6.2.3, §7.2.2).
//! - Failed logins are counted per IP and account in the shared `AuthLimiter` (each
//!   answered after its delay) and per session: after
//!   [`crate::ImapConfig::max_login_failures`] the session says BYE.
//! - Shutdown: the command in progress is finished, then `* BYE` and close.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use tidings_imap_proto::{
    Code, CodecOptions, Command, CommandBody, Continue, Data, ESearch, FetchAttribute, FetchItem,
    Frame, Framer, ListItem, ListReturn, ListSelect, NamespaceDesc, Response, SaslResponse,
    SearchKey, SearchReturn, Section, SectionText, SelectParams, SequenceSet, Status, StatusItem,
    StatusKind, StatusValue, StoreMode, StoreWhat, Tag, mailbox_name, parse_command,
    parse_idle_done, parse_sasl_response,
};
use tidings_net::{Connection, MaybeTls};
use tidings_store::{
    ChangeEvent, EmailMeta, FlagOp, Mailbox, MailboxEntry, NewEmail, Store, StoreError,
};
use tidings_types::{AccountId, Keyword, MailboxName, MailboxRole, ModSeq, Secret, Uid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::view::{Reporting, View, flags_of};
use crate::{Shared, fetch, list, search};

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;
/// The reply buffer is written once it holds this much.
const FLUSH_AT: usize = 64 * 1024;
/// Messages loaded from the store per blocking call during FETCH.
const FETCH_BATCH: usize = 32;
/// Messages whose metadata (and header) SEARCH, SORT and THREAD load at a
/// time, then match and drop.
const SEARCH_BATCH: usize = 256;
/// Message bytes loaded per blocking call during FETCH: with the reply
/// buffer, what bounds a session's memory while it sends bodies.
const FETCH_BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// Whether LOGIN / AUTHENTICATE PLAIN may be used on this connection:
/// under TLS, from loopback, or when the configuration allows plaintext.
pub fn plaintext_auth_allowed(tls: bool, peer: IpAddr, allow_plaintext: bool) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    tls || allow_plaintext || peer.is_loopback()
}

/// The session states (RFC 9051 §3); each holds what is valid in it.
#[derive(Debug)]
enum State {
    NotAuthenticated { failures: u32 },
    Authenticated { account: AccountId },
    Selected { account: AccountId, view: View },
    Logout,
}

/// What the loop does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Extensions the client turned on with ENABLE (RFC 5161) or with a
/// CONDSTORE-enabling command (RFC 7162 §3.1).
#[derive(Clone, Copy, Debug, Default)]
struct Enabled {
    condstore: bool,
    qresync: bool,
    /// RFC 9051 §6.3.1: IMAP4rev2 semantics (UTF-8 names, ESEARCH for
    /// SEARCH, no RECENT or UNSEEN in SELECT, a LIST reply in SELECT).
    rev2: bool,
}

struct Session {
    shared: Arc<Shared>,
    stream: Option<MaybeTls>,
    starttls: Option<TlsAcceptor>,
    peer: IpAddr,
    framer: Framer,
    out: Vec<u8>,
    opts: CodecOptions,
    state: State,
    enabled: Enabled,
    events: Option<broadcast::Receiver<ChangeEvent>>,
    /// An event for the selected mailbox arrived since the last delta.
    dirty: bool,
    /// COMPRESS=DEFLATE state once active (RFC 4978).
    deflate: Option<Deflate>,
    /// The SEARCHRES result (`$`, RFC 5182), as UIDs, ascending. Emptied
    /// when a mailbox is selected or closed.
    saved: Vec<Uid>,
    /// When an unauthenticated connection is closed
    /// ([`crate::ImapConfig::login_timeout`]).
    login_deadline: tokio::time::Instant,
    shutdown: CancellationToken,
}

/// Runs one connection to its end.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Connection {
        stream,
        peer,
        starttls,
        ..
    } = conn;
    // Small limits until the client has logged in (see `PREAUTH_LIMITS`).
    let framer = Framer::new(shared.config.preauth_limits);
    let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
    let mut s = Session {
        shared,
        stream: Some(stream),
        starttls,
        peer: peer.ip(),
        framer,
        out: Vec::with_capacity(4096),
        opts: CodecOptions::default(),
        state: State::NotAuthenticated { failures: 0 },
        enabled: Enabled::default(),
        events: None,
        dirty: false,
        saved: Vec::new(),
        deflate: None,
        login_deadline,
        shutdown,
    };
    if let Err(e) = s.drive().await {
        tracing::debug!("imap connection ended: {e}");
    }
}

fn tls_of(stream: &Option<MaybeTls>) -> bool {
    stream.as_ref().is_some_and(MaybeTls::is_tls)
}

impl Session {
    // ---- I/O ----

    fn put(&mut self, r: impl Into<Response>) {
        r.into().encode(&mut self.out, self.opts);
    }

    /// Hands bytes from the socket to the framer, inflated once
    /// COMPRESS=DEFLATE is active.
    fn push_input(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.deflate.as_mut() {
            Some(z) => {
                let plain = z.inflate(bytes)?;
                self.framer.push(&plain);
            }
            None => self.framer.push(bytes),
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let compressed;
        let bytes: &[u8] = match self.deflate.as_mut() {
            Some(z) => {
                compressed = z.deflate(&self.out)?;
                &compressed
            }
            None => &self.out,
        };
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))?;
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.shared.config.write_timeout, write).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "write timeout")),
        }
        self.out.clear();
        Ok(())
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Reads more input into the framer. `Ok(false)` on end of input,
    /// autologout or shutdown (the BYE is already written).
    async fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; READ_SIZE];
        let pre_auth = matches!(self.state, State::NotAuthenticated { .. });
        let deadline = if pre_auth {
            self.login_deadline
        } else {
            tokio::time::Instant::now() + self.shared.config.idle_timeout
        };
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))?;
        tokio::select! {
            _ = self.shutdown.cancelled() => {
                self.put(Status::bye("Server shutting down"));
                self.flush().await?;
                Ok(false)
            }
            r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match r {
                Err(_) if pre_auth => {
                    self.put(Status::bye("Login timeout; log in sooner"));
                    self.flush().await?;
                    Ok(false)
                }
                Err(_) => {
                    self.put(Status::bye("Autologout; idle for too long"));
                    self.flush().await?;
                    Ok(false)
                }
                Ok(Ok(0)) => Ok(false),
                Ok(Ok(n)) => {
                    self.push_input(&buf[..n])?;
                    Ok(true)
                }
                Ok(Err(e)) => Err(e),
            }
        }
    }

    /// The next complete frame (a line such as a SASL response), reading
    /// as needed; `None` when the connection ended.
    async fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.framer.next_frame() {
                Frame::Complete(b) => return Ok(Some(b)),
                Frame::Incomplete => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
                Frame::NeedContinuation { .. } => {
                    self.put(Continue::Text("Ready for literal data".into()));
                    self.flush().await?;
                }
                Frame::Rejected { .. } => return Ok(Some(Vec::new())),
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    self.flush().await?;
                    return Ok(None);
                }
            }
        }
    }

    async fn drive(&mut self) -> io::Result<()> {
        let caps = self.capabilities().join(" ");
        self.out
            .extend_from_slice(format!("* OK [CAPABILITY {caps}] Tidings ready\r\n").as_bytes());
        self.flush().await?;
        loop {
            match self.framer.next_frame() {
                Frame::Incomplete => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(());
                    }
                }
                Frame::NeedContinuation { .. } => {
                    self.put(Continue::Text("Ready for literal data".into()));
                    self.flush().await?;
                }
                Frame::Rejected { tag, error } => self.put(error.response(tag.as_ref())),
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    self.flush().await?;
                    return Ok(());
                }
                Frame::Complete(bytes) => {
                    let flow = self.command(&bytes).await?;
                    self.maybe_flush().await?;
                    if flow == Flow::Close || matches!(self.state, State::Logout) {
                        self.flush().await?;
                        return Ok(());
                    }
                    if self.shutdown.is_cancelled() {
                        self.put(Status::bye("Server shutting down"));
                        self.flush().await?;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Runs a blocking store call off the async threads.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }

    // ---- state helpers ----

    fn tls(&self) -> bool {
        tls_of(&self.stream)
    }

    fn plaintext_ok(&self) -> bool {
        plaintext_auth_allowed(
            self.tls(),
            self.peer,
            self.shared.config.allow_plaintext_auth,
        )
    }

    /// What CAPABILITY says now: only what works end to end.
    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<&str> = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
        ];
        if matches!(self.state, State::NotAuthenticated { .. }) {
            if self.starttls.is_some() && !self.tls() {
                caps.push("STARTTLS");
            }
            if self.plaintext_ok() {
                caps.push("AUTH=PLAIN");
                caps.push("AUTH=LOGIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        }
        caps.extend([
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "STATUS=SIZE",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "SORT=DISPLAY",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "OBJECTID",
            "UTF8=ACCEPT",
            "MULTIAPPEND",
            "BINARY",
            "COMPRESS=DEFLATE",
            "X-GM-EXT-1",
            "WITHIN",
            "SAVEDATE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
        ]);
        let mut caps: Vec<String> = caps.into_iter().map(String::from).collect();
        // RFC 7889 §4: the limit a literal in APPEND may have.
        caps.push(format!(
            "APPENDLIMIT={}",
            self.shared.config.limits.max_append_literal
        ));
        caps
    }

    fn account(&self) -> Option<AccountId> {
        match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => Some(*account),
            _ => None,
        }
    }

    fn reporting(&self) -> Reporting {
        Reporting {
            qresync: self.enabled.qresync,
            condstore: self.enabled.condstore,
        }
    }

    /// Turns CONDSTORE on (RFC 7162 §3.1: any CONDSTORE-enabling command).
    /// Returns whether it was off: the first SELECT after that must still
    /// include HIGHESTMODSEQ, which it always does here.
    fn enable_condstore(&mut self) {
        self.enabled.condstore = true;
    }

    /// Drains change events; sends the untagged updates the client may be
    /// told now (RFC 9051 §7.5.1). `force` asks the store even without an
    /// event (NOOP, CHECK, IDLE poll).
    async fn sync(&mut self, allow_expunge: bool, force: bool) -> io::Result<()> {
        let State::Selected { account, view } = &self.state else {
            return Ok(());
        };
        let (account, mailbox, since) = (*account, view.mailbox, view.modseq);
        if let Some(rx) = self.events.as_mut() {
            loop {
                match rx.try_recv() {
                    Ok(ev) => {
                        if ev.account == account && ev.mailboxes.contains(&mailbox) {
                            self.dirty = true;
                        }
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => self.dirty = true,
                    Err(_) => break,
                }
            }
        }
        if !self.dirty && !force {
            return Ok(());
        }
        let delta = match self
            .call(move |s| s.mailbox_changes(account, mailbox, ModSeq(since)))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("mailbox changes: {e}");
                return Ok(());
            }
        };
        let how = self.reporting();
        let State::Selected { view, .. } = &mut self.state else {
            return Ok(());
        };
        let data = view.apply(&delta, how, allow_expunge);
        self.dirty = !allow_expunge && view.modseq < delta.highest_modseq.0;
        // RFC 3501 §7.2.6: a keyword new to the mailbox is announced in
        // FLAGS (and PERMANENTFLAGS) before the FETCH that shows it.
        let announce = view
            .learn_keywords(&delta.changed)
            .then(|| view.flags_responses());
        for r in announce.into_iter().flatten() {
            self.put(r);
        }
        for d in data {
            self.put(d);
        }
        Ok(())
    }

    // ---- dispatch ----

    async fn command(&mut self, bytes: &[u8]) -> io::Result<Flow> {
        let cmd = match parse_command(bytes, self.opts) {
            Ok(c) => c,
            Err(e) => {
                self.put(e.response());
                return Ok(Flow::Continue);
            }
        };
        let valid = cmd.body.valid_states();
        let allowed = match self.state {
            State::NotAuthenticated { .. } => valid.not_authenticated,
            State::Authenticated { .. } => valid.authenticated,
            State::Selected { .. } => valid.selected,
            State::Logout => false,
        };
        let Command { tag, body } = cmd;
        if !allowed {
            let name = body.name();
            self.put(Status::bad(&tag, &format!("{name} not allowed now")));
            return Ok(Flow::Continue);
        }
        // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE, SEARCH.
        let allow_expunge = !matches!(
            &body,
            CommandBody::Fetch(f) if !f.uid
        ) && !matches!(&body, CommandBody::Store(s) if !s.uid)
            && !matches!(&body, CommandBody::Search(s) if !s.uid);
        let allow_expunge = allow_expunge
            && !matches!(&body, CommandBody::Sort(s) if !s.uid)
            && !matches!(&body, CommandBody::Thread(t) if !t.uid);
        let force_sync = matches!(body, CommandBody::Noop | CommandBody::Check);
        // RFC 7162 §3.2.10.1: with QRESYNC enabled, the tagged OK of
        // EXPUNGE carries HIGHESTMODSEQ. It must not claim more than the
        // client was told, so the view is brought in line first (a forced
        // sync below, which may also report others' changes) and its
        // mod-sequence is the one sent.
        let expunge_modseq = self.enabled.qresync
            && matches!(body, CommandBody::Expunge | CommandBody::UidExpunge(_));
        let force_sync = force_sync || expunge_modseq;
        let (status, flow) = match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.put(Data::Capability(caps));
                (Status::ok(&tag, "CAPABILITY completed"), Flow::Continue)
            }
            CommandBody::Noop => (Status::ok(&tag, "NOOP completed"), Flow::Continue),
            CommandBody::Logout => {
                self.put(Status::bye("Logging out"));
                self.put(Status::ok(&tag, "LOGOUT completed"));
                self.state = State::Logout;
                return Ok(Flow::Close);
            }
            CommandBody::StartTls => return self.starttls(&tag).await,
            CommandBody::Login { username, password } => {
                return self.login(&tag, username, password).await;
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => return self.authenticate(&tag, &mechanism, initial_response).await,
            CommandBody::Enable(caps) => (self.enable(&tag, &caps), Flow::Continue),
            CommandBody::Id(_) => {
                self.put(Data::Id(Some(vec![
                    ("name".into(), Some("Tidings".into())),
                    ("version".into(), Some(env!("CARGO_PKG_VERSION").into())),
                ])));
                (Status::ok(&tag, "ID completed"), Flow::Continue)
            }
            CommandBody::Namespace => {
                self.put(Data::Namespace {
                    personal: vec![NamespaceDesc {
                        prefix: String::new(),
                        delimiter: Some(tidings_types::SEPARATOR),
                    }],
                    other: vec![],
                    shared: vec![],
                });
                (Status::ok(&tag, "NAMESPACE completed"), Flow::Continue)
            }
            CommandBody::Select {
                mailbox,
                read_only,
                params,
            } => (
                self.select(&tag, &mailbox, read_only, params).await?,
                Flow::Continue,
            ),
            CommandBody::Create {
                mailbox,
                special_use,
            } => (
                self.create(&tag, &mailbox, &special_use).await,
                Flow::Continue,
            ),
            CommandBody::Delete { mailbox } => (self.delete(&tag, &mailbox).await, Flow::Continue),
            CommandBody::Rename { from, to } => {
                (self.rename(&tag, &from, &to).await, Flow::Continue)
            }
            CommandBody::Subscribe { mailbox } => {
                (self.subscribe(&tag, &mailbox, true).await, Flow::Continue)
            }
            CommandBody::Unsubscribe { mailbox } => {
                (self.subscribe(&tag, &mailbox, false).await, Flow::Continue)
            }
            CommandBody::List(l) => (self.list(&tag, l).await, Flow::Continue),
            CommandBody::Lsub { reference, pattern } => {
                (self.lsub(&tag, &reference, &pattern).await, Flow::Continue)
            }
            CommandBody::Status { mailbox, items } => {
                (self.status(&tag, &mailbox, &items).await, Flow::Continue)
            }
            CommandBody::Append { mailbox, messages } => {
                (self.append(&tag, &mailbox, messages).await, Flow::Continue)
            }
            CommandBody::Idle => return self.idle(&tag).await,
            CommandBody::Check => (Status::ok(&tag, "CHECK completed"), Flow::Continue),
            CommandBody::Close => (self.close(&tag, true).await, Flow::Continue),
            CommandBody::Unselect => (self.close(&tag, false).await, Flow::Continue),
            CommandBody::Expunge => (self.expunge(&tag, None).await, Flow::Continue),
            CommandBody::UidExpunge(set) => (self.expunge(&tag, Some(set)).await, Flow::Continue),
            CommandBody::Fetch(f) => (self.fetch(&tag, f).await?, Flow::Continue),
            CommandBody::Store(s) => (self.store(&tag, s).await, Flow::Continue),
            CommandBody::Copy { uid, set, mailbox } => (
                self.copy_move(&tag, uid, &set, &mailbox, false).await,
                Flow::Continue,
            ),
            CommandBody::Move { uid, set, mailbox } => (
                self.copy_move(&tag, uid, &set, &mailbox, true).await,
                Flow::Continue,
            ),
            CommandBody::Search(s) => (self.search(&tag, s).await, Flow::Continue),
            CommandBody::Sort(s) => (self.sort(&tag, s).await, Flow::Continue),
            CommandBody::Thread(t) => (self.thread(&tag, t).await, Flow::Continue),
            CommandBody::GetQuota(root) => (self.quota(&tag, None, &root).await, Flow::Continue),
            CommandBody::GetQuotaRoot(mailbox) => {
                (self.quota(&tag, Some(&mailbox), "").await, Flow::Continue)
            }
            CommandBody::SetQuota { .. } => (
                // RFC 9208 §4.3: quotas are set by the administrator.
                Status::no(&tag, "Quotas are set with tidings user quota").with_code(Code::NoPerm),
                Flow::Continue,
            ),
            CommandBody::Compress(mechanism) => {
                // RFC 4978 §3: the OK goes out uncompressed, then both
                // directions are raw DEFLATE.
                if self.deflate.is_some() {
                    self.put(
                        Status::no(&tag, "Compression is already active")
                            .with_code(Code::CompressionActive),
                    );
                    return Ok(Flow::Continue);
                }
                if mechanism != "DEFLATE" {
                    self.put(Status::bad(&tag, "Unknown compression mechanism"));
                    return Ok(Flow::Continue);
                }
                self.sync(true, false).await?;
                self.put(Status::ok(&tag, "DEFLATE active"));
                self.flush().await?;
                self.deflate = Some(Deflate::new());
                return Ok(Flow::Continue);
            }
        };
        self.sync(allow_expunge, force_sync).await?;
        let status = match &self.state {
            State::Selected { view, .. }
                if expunge_modseq && status.kind == StatusKind::Ok && status.code.is_none() =>
            {
                status.with_code(Code::HighestModSeq(view.modseq))
            }
            _ => status,
        };
        self.put(status);
        Ok(flow)
    }

    // ---- not authenticated ----

    async fn starttls(&mut self, tag: &Tag) -> io::Result<Flow> {
        let Some(acceptor) = self.starttls.clone().filter(|_| !self.tls()) else {
            self.put(Status::bad(tag, "STARTTLS is not available here"));
            return Ok(Flow::Continue);
        };
        self.put(Status::ok(tag, "Begin TLS negotiation now"));
        self.flush().await?;
        // RFC 9051 §6.2.1: anything sent before the handshake is discarded.
        self.framer.clear();
        let Some(stream) = self.stream.take() else {
            return Ok(Flow::Close);
        };
        match stream.upgrade(&acceptor).await {
            Ok(s) => {
                self.stream = Some(s);
                self.starttls = None;
                Ok(Flow::Continue)
            }
            Err(e) => {
                tracing::debug!("STARTTLS handshake failed: {e}");
                Ok(Flow::Close)
            }
        }
    }

    async fn login(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
    ) -> io::Result<Flow> {
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "LOGIN is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Ok(Flow::Continue);
        }
        self.check_credentials(tag, username, password, "LOGIN")
            .await
    }

    async fn authenticate(
        &mut self,
        tag: &Tag,
        mechanism: &str,
        initial: Option<Secret<Vec<u8>>>,
    ) -> io::Result<Flow> {
        if mechanism != "PLAIN" && mechanism != "LOGIN" {
            self.put(
                Status::no(tag, "Unsupported authentication mechanism").with_code(Code::Cannot),
            );
            return Ok(Flow::Continue);
        }
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "Authentication is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Ok(Flow::Continue);
        }
        if mechanism == "LOGIN" {
            // draft-murchison-sasl-login: "Username:", then "Password:";
            // an initial response is the user name.
            let user = match initial {
                Some(d) => d,
                None => match self.sasl_step(tag, b"Username:").await? {
                    Ok(d) => d,
                    Err(flow) => return Ok(flow),
                },
            };
            let pass = match self.sasl_step(tag, b"Password:").await? {
                Ok(d) => d,
                Err(flow) => return Ok(flow),
            };
            let (Ok(user), Ok(pass)) = (
                String::from_utf8(user.expose().clone()),
                String::from_utf8(pass.expose().clone()),
            ) else {
                self.put(Status::bad(tag, "Malformed LOGIN response"));
                return Ok(Flow::Continue);
            };
            return self
                .check_credentials(tag, user, Secret::new(pass), "AUTHENTICATE")
                .await;
        }
        let data = match initial {
            Some(d) => d,
            None => match self.sasl_step(tag, b"").await? {
                Ok(d) => d,
                Err(flow) => return Ok(flow),
            },
        };
        // RFC 4616: [authzid] NUL authcid NUL passwd
        let parts: Vec<&[u8]> = data.expose().split(|&b| b == 0).collect();
        let [authz, authc, pass] = parts.as_slice() else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Ok(Flow::Continue);
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Ok(Flow::Continue);
        };
        if !authz.is_empty() && authz != authc {
            self.put(
                Status::no(tag, "Cannot act as another user").with_code(Code::AuthorizationFailed),
            );
            return Ok(Flow::Continue);
        }
        self.check_credentials(
            tag,
            authc.to_string(),
            Secret::new(pass.to_string()),
            "AUTHENTICATE",
        )
        .await
    }

    /// Sends a SASL challenge and reads the answer. `Err(flow)` when the
    /// exchange ended (cancelled or malformed: tagged BAD already written;
    /// connection gone: close).
    async fn sasl_step(
        &mut self,
        tag: &Tag,
        challenge: &[u8],
    ) -> io::Result<Result<Secret<Vec<u8>>, Flow>> {
        self.put(Continue::Challenge(challenge.to_vec()));
        self.flush().await?;
        let Some(line) = self.next_line().await? else {
            return Ok(Err(Flow::Close));
        };
        Ok(match parse_sasl_response(&line) {
            Ok(SaslResponse::Data(d)) => Ok(d),
            Ok(SaslResponse::Cancel) => {
                self.put(Status::bad(tag, "Authentication cancelled"));
                Err(Flow::Continue)
            }
            Err(e) => {
                self.put(Status::bad(tag, &format!("Invalid SASL response: {e}")));
                Err(Flow::Continue)
            }
        })
    }

    async fn check_credentials(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
        what: &str,
    ) -> io::Result<Flow> {
        let limiter = self.shared.limiter.clone();
        if limiter.admit(self.peer, &username).await.is_err() {
            self.put(
                Status::no(tag, "Too many failed logins; try again later")
                    .with_code(Code::Unavailable),
            );
            self.put(Status::bye("Too many failed logins"));
            return Ok(Flow::Close);
        }
        let login = username.clone();
        let result = self.call(move |s| s.authenticate(&login, &password)).await;
        match result {
            Ok(Some(account)) => {
                limiter.success(self.peer, &username);
                self.state = State::Authenticated { account };
                // The logged-in limits (APPENDLIMIT) from now on.
                self.framer.set_limits(self.shared.config.limits);
                self.events = Some(self.shared.store.subscribe());
                let caps = self.capabilities();
                self.put(
                    Status::ok(tag, &format!("{what} completed")).with_code(Code::Capability(caps)),
                );
                Ok(Flow::Continue)
            }
            Ok(None) => {
                let delay = limiter.failure(self.peer, &username);
                tokio::time::sleep(delay).await;
                let failures = match &mut self.state {
                    State::NotAuthenticated { failures } => {
                        *failures += 1;
                        *failures
                    }
                    _ => 0,
                };
                self.put(
                    Status::no(tag, "Invalid credentials").with_code(Code::AuthenticationFailed),
                );
                if failures >= self.shared.config.max_login_failures {
                    self.put(Status::bye("Too many failed logins"));
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
            Err(e) => {
                self.put(store_error(tag, &e));
                Ok(Flow::Continue)
            }
        }
    }

    // ---- authenticated ----

    fn enable(&mut self, tag: &Tag, caps: &[String]) -> Status {
        let mut newly = Vec::new();
        for cap in caps {
            match cap.as_str() {
                "CONDSTORE" if !self.enabled.condstore => {
                    self.enabled.condstore = true;
                    newly.push(cap.clone());
                }
                "IMAP4REV2" if !self.enabled.rev2 => {
                    self.enabled.rev2 = true;
                    self.opts.utf8 = true;
                    newly.push("IMAP4rev2".into());
                }
                // RFC 6855 §3: names and header text in UTF-8 from now on.
                "UTF8=ACCEPT" if !self.opts.utf8 => {
                    self.opts.utf8 = true;
                    newly.push(cap.clone());
                }
                "QRESYNC" if !self.enabled.qresync => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.enabled.qresync = true;
                    self.enabled.condstore = true;
                    newly.push(cap.clone());
                }
                _ => {}
            }
        }
        self.put(Data::Enabled(newly));
        Status::ok(tag, "ENABLE completed")
    }

    fn name(&self, tag: &Tag, raw: &str) -> Result<MailboxName, Status> {
        mailbox_name(raw)
            .map_err(|e| Status::no(tag, &format!("Bad mailbox name: {e}")).with_code(Code::Cannot))
    }

    async fn lookup(
        &self,
        account: AccountId,
        name: MailboxName,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.call(move |s| s.mailbox(account, &name)).await
    }

    async fn select(
        &mut self,
        tag: &Tag,
        raw: &str,
        read_only: bool,
        params: SelectParams,
    ) -> io::Result<Status> {
        let Some(account) = self.account() else {
            return Ok(Status::bad(tag, "Not authenticated"));
        };
        if params.qresync.is_some() && !self.enabled.qresync {
            return Ok(Status::bad(tag, "QRESYNC is not enabled"));
        }
        // RFC 9051 §6.3.2: a SELECT leaves the selected state first;
        // RFC 7162 §3.2.11: CLOSED tells the client where the old
        // mailbox's responses end.
        if matches!(self.state, State::Selected { .. }) {
            self.state = State::Authenticated { account };
            self.put(Status::untagged_ok("Previous mailbox closed").with_code(Code::Closed));
        }
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return Ok(s),
        };
        let mbox = match self.lookup(account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Ok(Status::no(tag, "No such mailbox").with_code(Code::NonExistent));
            }
            Err(e) => return Ok(store_error(tag, &e)),
        };
        let id = mbox.id;
        let entries = match self.call(move |s| s.mailbox_entries(account, id)).await {
            Ok(e) => e,
            Err(e) => return Ok(store_error(tag, &e)),
        };
        if params.condstore {
            self.enable_condstore();
        }
        let mut view = View {
            mailbox: mbox.id,
            name: mbox.name.clone(),
            uid_validity: mbox.uid_validity,
            read_only,
            entries,
            modseq: mbox.highest_modseq.0,
            keywords: Vec::new(),
        };
        // RFC 3501 §7.2.6: FLAGS lists the flags used in the mailbox.
        let entries = std::mem::take(&mut view.entries);
        view.learn_keywords(&entries);
        view.entries = entries;
        for r in view.flags_responses() {
            self.put(r);
        }
        self.put(Data::Exists(view.exists()));
        if self.enabled.rev2 {
            // RFC 9051 §6.3.2: the mailbox's canonical name.
            self.put(Data::List(ListItem {
                attributes: vec![],
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: mbox.name.as_str().to_string(),
                child_info: vec![],
                old_name: None,
            }));
        } else {
            self.put(Data::Recent(0));
        }
        if let Some(i) = view
            .entries
            .iter()
            .position(|e| !e.keywords.iter().any(|k| k.matches(Keyword::SEEN)))
            .filter(|_| !self.enabled.rev2)
        {
            self.put(
                Status::untagged_ok("First unseen")
                    .with_code(Code::Unseen(u32::try_from(i + 1).unwrap_or(u32::MAX))),
            );
        }
        self.put(
            Status::untagged_ok("UIDs valid").with_code(Code::UidValidity(view.uid_validity.0)),
        );
        let uid_next = mbox.uid_next.0.max(view.max_uid().saturating_add(1));
        self.put(Status::untagged_ok("Predicted next UID").with_code(Code::UidNext(uid_next)));
        self.put(Status::untagged_ok("Highest").with_code(Code::HighestModSeq(view.modseq)));
        self.put(Status::untagged_ok("Mailbox id").with_code(Code::MailboxId(mbox.id.to_string())));
        if let Some(q) = params.qresync
            && q.uid_validity == view.uid_validity.0
        {
            // RFC 7162 §3.2.5.1: what changed since the client's MODSEQ.
            let since = q.mod_seq;
            let delta = match self
                .call(move |s| s.mailbox_changes(account, id, ModSeq(since)))
                .await
            {
                Ok(d) => d,
                Err(e) => return Ok(store_error(tag, &e)),
            };
            let max_uid = view.max_uid();
            let vanished: Vec<u32> = delta
                .vanished
                .iter()
                .map(|u| u.0)
                .filter(|u| {
                    q.known_uids
                        .as_ref()
                        .is_none_or(|k| k.contains(*u, max_uid.max(*u), &[]))
                })
                .collect();
            if let Some(uids) = SequenceSet::compact(vanished) {
                self.put(Data::Vanished {
                    earlier: true,
                    uids,
                });
            }
            for e in &delta.changed {
                if let Some(seq) = view.seq_of(e.uid) {
                    self.put(Data::Fetch {
                        seq,
                        items: vec![
                            FetchItem::Uid(e.uid.0),
                            FetchItem::Flags {
                                flags: flags_of(e),
                                recent: false,
                            },
                            FetchItem::ModSeq(e.modseq.0),
                        ],
                    });
                }
            }
        }
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        let what = if read_only { "EXAMINE" } else { "SELECT" };
        self.state = State::Selected { account, view };
        self.dirty = false;
        self.saved.clear();
        Ok(Status::ok(tag, &format!("{what} completed")).with_code(code))
    }

    async fn create(&mut self, tag: &Tag, raw: &str, special_use: &[String]) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // RFC 9051 §6.3.4: a trailing delimiter only declares intent.
        let trimmed = raw.strip_suffix(tidings_types::SEPARATOR).unwrap_or(raw);
        let name = match self.name(tag, trimmed) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let mut role = None;
        for attr in special_use {
            match MailboxRole::from_special_use(attr) {
                Some(r) if role.is_none() => role = Some(r),
                // RFC 6154 §3: one role per mailbox here.
                _ => {
                    return Status::no(tag, "Unsupported special-use attribute")
                        .with_code(Code::UseAttr);
                }
            }
        }
        let n = name.clone();
        match self
            .call(move |s| s.create_mailbox(account, &n, role))
            .await
        {
            Ok(_) => Status::ok(tag, "CREATE completed"),
            // RFC 6154 §3: the name is free but the role is taken.
            Err(StoreError::AlreadyExists(what)) if role.is_some() => {
                match self.lookup(account, name).await {
                    Ok(None) => {
                        Status::no(tag, &format!("{what} already exists")).with_code(Code::UseAttr)
                    }
                    _ => Status::no(tag, &format!("{what} already exists"))
                        .with_code(Code::AlreadyExists),
                }
            }
            Err(e) => store_error(tag, &e),
        }
    }

    async fn delete(&mut self, tag: &Tag, raw: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        if name.is_inbox() {
            return Status::no(tag, "INBOX cannot be deleted").with_code(Code::Cannot);
        }
        match self.call(move |s| s.delete_mailbox(account, &name)).await {
            Ok(()) => Status::ok(tag, "DELETE completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    async fn rename(&mut self, tag: &Tag, from: &str, to: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let (from, to) = match (self.name(tag, from), self.name(tag, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        match self
            .call(move |s| s.rename_mailbox(account, &from, &to))
            .await
        {
            Ok(()) => Status::ok(tag, "RENAME completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    async fn subscribe(&mut self, tag: &Tag, raw: &str, on: bool) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        match self
            .call(move |s| s.set_subscribed(account, &name, on))
            .await
        {
            Ok(()) if on => Status::ok(tag, "SUBSCRIBE completed"),
            Ok(()) => Status::ok(tag, "UNSUBSCRIBE completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    async fn list(&mut self, tag: &Tag, l: tidings_imap_proto::List) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
        if !l.is_extended() && l.patterns.iter().all(String::is_empty) {
            self.put(Data::List(ListItem {
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: String::new(),
                child_info: vec![],
                old_name: None,
            }));
            return Status::ok(tag, "LIST completed");
        }
        let sel_subscribed = l.selection.contains(&ListSelect::Subscribed);
        // RFC 5258 §3: RECURSIVEMATCH "MUST NOT occur as the only
        // selection option (or only with REMOTE)", and the server MUST
        // answer BAD if it does.
        if l.selection.contains(&ListSelect::RecursiveMatch)
            && l.selection
                .iter()
                .all(|o| matches!(o, ListSelect::RecursiveMatch | ListSelect::Remote))
        {
            return Status::bad(tag, "RECURSIVEMATCH needs another selection option");
        }
        let sel_special = l.selection.contains(&ListSelect::SpecialUse);
        let sel_recursive = sel_subscribed && l.selection.contains(&ListSelect::RecursiveMatch);
        if l.selection.contains(&ListSelect::Remote) && l.selection.len() == 1 {
            // REMOTE alone selects everything (RFC 5258 §3.1): no remote
            // mailboxes exist here.
        }
        let returns = l.return_options.clone().unwrap_or_default();
        let ret_subscribed = sel_subscribed || returns.contains(&ListReturn::Subscribed);
        let status_items: Option<Vec<StatusItem>> = returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let patterns: Vec<String> = l
            .patterns
            .iter()
            .map(|p| list::full_pattern(&l.reference, p))
            .collect();
        let mut sorted: Vec<&Mailbox> = mailboxes.iter().collect();
        sorted.sort_by_key(|m| (!m.name.is_inbox(), m.name.as_str().to_string()));
        let mut items = Vec::new();
        for m in sorted {
            let name = m.name.as_str();
            if !patterns.iter().any(|p| list::matches(p, name)) {
                continue;
            }
            let special = m.role.and_then(MailboxRole::special_use);
            // RFC 5258 §3.5: with RECURSIVEMATCH, a mailbox whose descendants
            // meet the selection (here: SUBSCRIBED) is listed with CHILDINFO,
            // even if it does not meet it itself.
            let child_info: Vec<String> = if sel_recursive
                && mailboxes
                    .iter()
                    .any(|c| c.subscribed && c.name.is_inside(&m.name))
            {
                vec!["SUBSCRIBED".to_string()]
            } else {
                Vec::new()
            };
            if sel_subscribed && !m.subscribed && child_info.is_empty() {
                continue;
            }
            if sel_special && special.is_none() {
                continue;
            }
            let has_children = mailboxes
                .iter()
                .any(|c| c.name.parent().as_ref() == Some(&m.name));
            let mut attributes = vec![
                if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            ];
            if ret_subscribed && m.subscribed {
                attributes.push("\\Subscribed".into());
            }
            if let Some(s) = special {
                attributes.push(s.to_string());
            }
            items.push((m.clone(), attributes, child_info));
        }
        for (m, attributes, child_info) in items {
            self.put(Data::List(ListItem {
                attributes,
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: m.name.as_str().to_string(),
                child_info,
                old_name: None,
            }));
            if let Some(items) = &status_items {
                // RFC 5819 §2: STATUS right after its LIST; errors are skipped.
                if let Ok(values) = self.status_values(account, &m, items).await {
                    self.put(Data::Status {
                        mailbox: m.name.as_str().to_string(),
                        items: values,
                    });
                }
            }
        }
        Status::ok(tag, "LIST completed")
    }

    async fn lsub(&mut self, tag: &Tag, reference: &str, pattern: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let pattern = list::full_pattern(reference, pattern);
        let subscribed: HashSet<&str> = mailboxes
            .iter()
            .filter(|m| m.subscribed)
            .map(|m| m.name.as_str())
            .collect();
        // (name, \Noselect): the subscribed names that match, and (RFC 3501
        // §6.3.9) an unsubscribed parent of a subscribed name where a `%`
        // stops short of that name: `LSUB "" %` with only "foo/bar"
        // subscribed "MUST return foo, not foo/bar", flagged \Noselect.
        let mut names: Vec<(&str, bool)> = Vec::new();
        let mut parents: HashSet<&str> = HashSet::new();
        for &n in &subscribed {
            if list::matches(&pattern, n) {
                names.push((n, false));
                continue;
            }
            for (i, _) in n.match_indices(tidings_types::SEPARATOR) {
                let parent = &n[..i];
                if !parent.is_empty()
                    && !subscribed.contains(parent)
                    && list::matches(&pattern, parent)
                    && parents.insert(parent)
                {
                    names.push((parent, true));
                }
            }
        }
        names.sort_unstable();
        let items: Vec<Data> = names
            .into_iter()
            .map(|(n, noselect)| {
                Data::Lsub(ListItem {
                    attributes: if noselect {
                        vec!["\\Noselect".into()]
                    } else {
                        vec![]
                    },
                    delimiter: Some(tidings_types::SEPARATOR),
                    mailbox: n.to_string(),
                    child_info: vec![],
                    old_name: None,
                })
            })
            .collect();
        for d in items {
            self.put(d);
        }
        Status::ok(tag, "LSUB completed")
    }

    async fn status_values(
        &self,
        account: AccountId,
        m: &Mailbox,
        items: &[StatusItem],
    ) -> Result<Vec<StatusValue>, StoreError> {
        let id = m.id;
        let counts = self.call(move |s| s.mailbox_counts(account, id)).await?;
        Ok(items
            .iter()
            .map(|i| match i {
                StatusItem::Messages => StatusValue::Messages(counts.messages),
                StatusItem::UidNext => StatusValue::UidNext(m.uid_next.0),
                StatusItem::UidValidity => StatusValue::UidValidity(m.uid_validity.0),
                StatusItem::Unseen => StatusValue::Unseen(counts.unseen),
                StatusItem::Deleted => StatusValue::Deleted(counts.deleted),
                StatusItem::Size => StatusValue::Size(counts.size),
                StatusItem::Recent => StatusValue::Recent(0),
                StatusItem::HighestModSeq => StatusValue::HighestModSeq(m.highest_modseq.0),
                StatusItem::AppendLimit => {
                    StatusValue::AppendLimit(Some(self.shared.config.limits.max_append_literal))
                }
                StatusItem::MailboxId => StatusValue::MailboxId(m.id.to_string()),
            })
            .collect())
    }

    async fn status(&mut self, tag: &Tag, raw: &str, items: &[StatusItem]) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let m = match self.lookup(account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::NonExistent),
            Err(e) => return store_error(tag, &e),
        };
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        match self.status_values(account, &m, items).await {
            Ok(values) => {
                self.put(Data::Status {
                    mailbox: m.name.as_str().to_string(),
                    items: values,
                });
                Status::ok(tag, "STATUS completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }

    async fn append(
        &mut self,
        tag: &Tag,
        raw: &str,
        messages: Vec<tidings_imap_proto::AppendMessage>,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let m = match self.lookup(account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Status::no(tag, "No such mailbox").with_code(Code::TryCreate);
            }
            Err(e) => return store_error(tag, &e),
        };
        if messages.is_empty() {
            return Status::bad(tag, "Nothing to append");
        }
        let mut batch = Vec::with_capacity(messages.len());
        for msg in messages {
            match msg.kind {
                tidings_imap_proto::AppendDataKind::Literal => {}
                // RFC 6855 §4: UTF8 (~{n}) once UTF8=ACCEPT is enabled.
                tidings_imap_proto::AppendDataKind::Utf8 if self.opts.utf8 => {}
                tidings_imap_proto::AppendDataKind::Utf8 => {
                    return Status::bad(tag, "Enable UTF8=ACCEPT first");
                }
                // RFC 3516 §4.4: literal8 may hold any octet.
                tidings_imap_proto::AppendDataKind::Literal8 => {}
            }
            // A zero-byte message is no message (RFC 5322 §3.5 needs at
            // least a header field): refuse it, as Dovecot does, rather than
            // store an empty entry a client sent by mistake. With MULTIAPPEND
            // nothing is stored (RFC 3502 §6.3.11).
            if msg.data.is_empty() {
                return Status::no(tag, "Cannot save a zero-byte message");
            }
            let received = msg.date.map(|d| d.unix_timestamp());
            // \Deleted among the flags marks the new entry (the store keeps it
            // per mailbox entry, not on the email).
            let keywords: Vec<Keyword> = msg
                .flags
                .into_iter()
                .filter(|k| !k.matches("\\Recent"))
                .collect();
            batch.push((msg.data, keywords, received));
        }
        let id = m.id;
        // RFC 3502 §6.3.11: all or nothing: one store transaction.
        let result = self
            .call(move |s| {
                let emails = batch
                    .iter()
                    .map(|(data, keywords, received)| NewEmail {
                        raw: data,
                        keywords: keywords.clone(),
                        received: *received,
                    })
                    .collect();
                s.append_many(account, id, emails)
            })
            .await;
        match result {
            Ok(done) => {
                let uid_validity = done.first().map_or(0, |a| a.uid_validity.0);
                let status = Status::ok(tag, "APPEND completed");
                match SequenceSet::compact(done.iter().map(|a| a.uid.0)) {
                    Some(uids) => status.with_code(Code::AppendUid { uid_validity, uids }),
                    None => status,
                }
            }
            Err(e) => store_error(tag, &e),
        }
    }

    async fn idle(&mut self, tag: &Tag) -> io::Result<Flow> {
        self.sync(true, true).await?;
        self.put(Continue::Text("idling".into()));
        self.flush().await?;
        let poll = self.shared.config.idle_poll;
        let timeout = self.shared.config.idle_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; READ_SIZE];
        loop {
            match self.framer.next_frame() {
                Frame::Incomplete => {}
                Frame::Complete(line) => {
                    self.sync(true, false).await?;
                    if parse_idle_done(&line) {
                        self.put(Status::ok(tag, "IDLE terminated"));
                    } else {
                        self.put(Status::bad(tag, "Expected DONE"));
                    }
                    return Ok(Flow::Continue);
                }
                Frame::NeedContinuation { .. } | Frame::Rejected { .. } => {
                    self.put(Status::bad(tag, "Expected DONE"));
                    return Ok(Flow::Continue);
                }
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    return Ok(Flow::Close);
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Flow::Close);
            };
            let event = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    self.put(Status::bye("Server shutting down"));
                    return Ok(Flow::Close);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.put(Status::bye("Autologout; idle for too long"));
                    return Ok(Flow::Close);
                }
                r = stream.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(Flow::Close);
                    }
                    self.push_input(&buf[..n])?;
                }
                ev = event => {
                    let mine = match (&ev, &self.state) {
                        (Ok(ev), State::Selected { account, view }) => {
                            ev.account == *account && ev.mailboxes.contains(&view.mailbox)
                        }
                        (Ok(_), _) => false,
                        // Missed events: ask the store.
                        (Err(broadcast::error::RecvError::Lagged(_)), _) => true,
                        // The store is closing: no more events, keep polling.
                        (Err(broadcast::error::RecvError::Closed), _) => {
                            self.events = None;
                            false
                        }
                    };
                    if mine {
                        self.dirty = true;
                        self.sync(true, false).await?;
                        self.flush().await?;
                    }
                }
                _ = tokio::time::sleep(poll) => {
                    self.sync(true, true).await?;
                    self.flush().await?;
                }
            }
        }
    }

    // ---- selected ----

    /// `$` as ranges of UIDs or of the sequence numbers those UIDs have now.
    fn saved_ranges(&self, uid: bool) -> Vec<(u32, u32)> {
        if uid {
            return self.saved.iter().map(|u| (u.0, u.0)).collect();
        }
        match &self.state {
            State::Selected { view, .. } => self
                .saved
                .iter()
                .filter_map(|u| view.seq_of(*u))
                .map(|n| (n, n))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn view(&self) -> Option<(AccountId, &View)> {
        match &self.state {
            State::Selected { account, view } => Some((*account, view)),
            _ => None,
        }
    }

    async fn close(&mut self, tag: &Tag, expunge: bool) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        let (mailbox, read_only) = (view.mailbox, view.read_only);
        self.state = State::Authenticated { account };
        self.saved.clear();
        if expunge && !read_only {
            // RFC 9051 §6.4.1: expunge silently.
            if let Err(e) = self.call(move |s| s.expunge(account, mailbox, None)).await {
                return store_error(tag, &e);
            }
        }
        Status::ok(
            tag,
            if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            },
        )
    }

    async fn expunge(&mut self, tag: &Tag, set: Option<SequenceSet>) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if view.read_only {
            return Status::no(tag, "Mailbox is read-only").with_code(Code::Cannot);
        }
        let mailbox = view.mailbox;
        let uids: Option<Vec<Uid>> = match &set {
            Some(set) => match view.resolve(set, true, &self.saved_ranges(true)) {
                Ok(idx) => Some(idx.iter().map(|&i| view.entries[i].uid).collect()),
                Err(e) => return Status::bad(tag, &e),
            },
            None => None,
        };
        let result = self
            .call(move |s| s.expunge(account, mailbox, uids.as_deref()))
            .await;
        match result {
            Ok((gone, _)) => {
                let how = self.reporting();
                if let State::Selected { view, .. } = &mut self.state {
                    for d in view.remove(&gone, how) {
                        self.put(d);
                    }
                }
                Status::ok(tag, "EXPUNGE completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }

    async fn fetch(&mut self, tag: &Tag, f: tidings_imap_proto::Fetch) -> io::Result<Status> {
        let Some((account, view)) = self.view() else {
            return Ok(Status::bad(tag, "No mailbox selected"));
        };
        let mut indexes = match view.resolve(&f.set, f.uid, &self.saved_ranges(f.uid)) {
            Ok(i) => i,
            Err(e) => return Ok(Status::bad(tag, &e)),
        };
        let mut attrs = dedupe_attributes(f.items.expand());
        // RFC 9051 §6.4.9: UID FETCH always returns UID.
        if f.uid && !attrs.contains(&FetchAttribute::Uid) {
            attrs.insert(0, FetchAttribute::Uid);
        }
        let (mailbox, read_only) = (view.mailbox, view.read_only);
        if let Some(cs) = f.changed_since {
            // RFC 7162 §3.1.4: CHANGEDSINCE implies MODSEQ.
            self.enable_condstore();
            if !attrs.contains(&FetchAttribute::ModSeq) {
                attrs.push(FetchAttribute::ModSeq);
            }
            let Some((_, view)) = self.view() else {
                return Ok(Status::bad(tag, "No mailbox selected"));
            };
            indexes.retain(|&i| view.entries[i].modseq.0 > cs);
            if f.vanished {
                if !f.uid || !self.enabled.qresync {
                    return Ok(Status::bad(tag, "VANISHED needs UID FETCH and QRESYNC"));
                }
                let delta = match self
                    .call(move |s| s.mailbox_changes(account, mailbox, ModSeq(cs)))
                    .await
                {
                    Ok(d) => d,
                    Err(e) => return Ok(store_error(tag, &e)),
                };
                let max = view_max(&self.state);
                let gone: Vec<u32> = delta
                    .vanished
                    .iter()
                    .map(|u| u.0)
                    .filter(|u| f.set.contains(*u, max.max(*u), &[]))
                    .collect();
                if let Some(uids) = SequenceSet::compact(gone) {
                    self.put(Data::Vanished {
                        earlier: true,
                        uids,
                    });
                }
            }
        } else if f.vanished {
            return Ok(Status::bad(tag, "VANISHED needs CHANGEDSINCE"));
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        // RFC 9051 §6.4.5: BODY[] (not PEEK) sets \Seen, and the new FLAGS
        // are returned.
        let mut flags_changed: HashSet<Uid> = HashSet::new();
        if !read_only && attrs.iter().any(FetchAttribute::sets_seen) {
            let Some((_, view)) = self.view() else {
                return Ok(Status::bad(tag, "No mailbox selected"));
            };
            let unseen: Vec<Uid> = indexes
                .iter()
                .map(|&i| &view.entries[i])
                .filter(|e| !e.keywords.iter().any(|k| k.matches(Keyword::SEEN)))
                .map(|e| e.uid)
                .collect();
            if !unseen.is_empty() {
                let seen = Keyword::new(Keyword::SEEN).map_err(io::Error::other)?;
                match self
                    .call(move |s| {
                        s.store_flags(account, mailbox, &unseen, FlagOp::Add, &[seen], None)
                    })
                    .await
                {
                    Ok(changed) => {
                        if let State::Selected { view, .. } = &mut self.state {
                            for e in &changed.changed {
                                view.update_entry(e);
                                flags_changed.insert(e.uid);
                            }
                        }
                    }
                    Err(e) => return Ok(store_error(tag, &e)),
                }
            }
        }
        let need_meta = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttribute::Envelope
                    | FetchAttribute::Body
                    | FetchAttribute::BodyStructure
                    | FetchAttribute::BodySection { .. }
                    | FetchAttribute::Rfc822Header
                    | FetchAttribute::Rfc822Text
                    | FetchAttribute::Binary { .. }
                    | FetchAttribute::BinarySize { .. }
            )
        });
        let need_raw = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttribute::BodySection { .. }
                    | FetchAttribute::Rfc822
                    | FetchAttribute::Rfc822Header
                    | FetchAttribute::Rfc822Text
                    | FetchAttribute::Binary { .. }
                    | FetchAttribute::BinarySize { .. }
            )
        });
        let mut missing = false;
        let mut unknown_cte = false;
        // A message whose response would exceed its cap (see
        // `fetch_response_cap`) is left out; the tagged reply says so.
        let mut too_large: Option<u32> = None;
        let labels = if attrs.contains(&FetchAttribute::XGmLabels) {
            match self.call(move |s| labels_by_email(s, account)).await {
                Ok(l) => l,
                Err(e) => return Ok(store_error(tag, &e)),
            }
        } else {
            HashMap::new()
        };
        // Batches of at most FETCH_BATCH messages and, when bodies are
        // loaded, FETCH_BATCH_BYTES of them (one message may exceed it).
        let mut batches: Vec<&[usize]> = Vec::new();
        if let Some((_, view)) = self.view() {
            let mut start = 0;
            let mut bytes = 0u64;
            for (k, &i) in indexes.iter().enumerate() {
                let size = if need_raw { view.entries[i].size } else { 0 };
                if k > start && (k - start >= FETCH_BATCH || bytes + size > FETCH_BATCH_BYTES) {
                    batches.push(&indexes[start..k]);
                    start = k;
                    bytes = 0;
                }
                bytes += size;
            }
            if start < indexes.len() {
                batches.push(&indexes[start..]);
            }
        }
        for chunk in batches {
            let Some((_, view)) = self.view() else {
                break;
            };
            let batch: Vec<(u32, MailboxEntry)> = chunk
                .iter()
                .map(|&i| {
                    (
                        u32::try_from(i + 1).unwrap_or(u32::MAX),
                        view.entries[i].clone(),
                    )
                })
                .collect();
            let loaded: Vec<(u32, MailboxEntry, Option<Loaded>)> = if need_meta || need_raw {
                let result = self
                    .call(move |s| {
                        Ok(batch
                            .into_iter()
                            .map(|(seq, e)| {
                                let meta = if need_meta {
                                    s.email_meta(account, e.email).ok()
                                } else {
                                    None
                                };
                                let raw = if need_raw {
                                    s.email_raw(account, e.email).ok()
                                } else {
                                    None
                                };
                                let ok =
                                    (!need_meta || meta.is_some()) && (!need_raw || raw.is_some());
                                (seq, e, ok.then_some(Loaded { meta, raw }))
                            })
                            .collect())
                    })
                    .await;
                match result {
                    Ok(v) => v,
                    Err(e) => return Ok(store_error(tag, &e)),
                }
            } else {
                batch
                    .into_iter()
                    .map(|(s, e)| {
                        (
                            s,
                            e,
                            Some(Loaded {
                                meta: None,
                                raw: None,
                            }),
                        )
                    })
                    .collect()
            };
            for (seq, entry, data) in loaded {
                let Some(data) = data else {
                    missing = true;
                    continue;
                };
                let mut items = Vec::with_capacity(attrs.len() + 1);
                let cap = fetch_response_cap(entry.size);
                let (mut bytes, mut counted) = (0u64, 0usize);
                for a in &attrs {
                    bytes = items[counted..]
                        .iter()
                        .fold(bytes, |b, i| b.saturating_add(item_bytes(i)));
                    counted = items.len();
                    if bytes > cap {
                        break;
                    }
                    if *a == FetchAttribute::XGmLabels {
                        let l = labels.get(&entry.email).cloned().unwrap_or_default();
                        items.push(FetchItem::XGmLabels(l));
                        continue;
                    }
                    match binary_item(a, &data) {
                        Some(Ok(item)) => items.push(item),
                        Some(Err(fetch::BinaryError::UnknownCte)) => unknown_cte = true,
                        Some(Err(fetch::BinaryError::NoPart)) => {}
                        None => {
                            if let Some(item) = fetch_item(a, &entry, &data, self.opts.utf8) {
                                items.push(item);
                            }
                        }
                    }
                }
                let bytes = items[counted..]
                    .iter()
                    .fold(bytes, |b, i| b.saturating_add(item_bytes(i)));
                if bytes > cap {
                    // Let go of what was built at once, before the next message.
                    drop(items);
                    too_large.get_or_insert(seq);
                    continue;
                }
                if flags_changed.contains(&entry.uid) && !attrs.contains(&FetchAttribute::Flags) {
                    items.push(FetchItem::Flags {
                        flags: flags_of(&entry),
                        recent: false,
                    });
                }
                self.put(Data::Fetch { seq, items });
            }
            self.maybe_flush().await?;
        }
        Ok(if let Some(seq) = too_large {
            // RFC 5530 §3 LIMIT: an implementation limit, not a syntax error.
            Status::no(
                tag,
                &format!(
                    "FETCH response for message {seq} too large; fetch fewer or smaller items at once"
                ),
            )
            .with_code(Code::Limit)
        } else if unknown_cte {
            // RFC 3516 §4.3.
            Status::no(tag, "Unknown content transfer encoding").with_code(Code::UnknownCte)
        } else if missing {
            Status::no(tag, "Some messages were expunged").with_code(Code::ExpungeIssued)
        } else {
            Status::ok(tag, "FETCH completed")
        })
    }

    async fn store(&mut self, tag: &Tag, st: tidings_imap_proto::Store) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if view.read_only {
            return Status::no(tag, "Mailbox is read-only").with_code(Code::Cannot);
        }
        let indexes = match view.resolve(&st.set, st.uid, &self.saved_ranges(st.uid)) {
            Ok(i) => i,
            Err(e) => return Status::bad(tag, &e),
        };
        let flags = match st.what {
            StoreWhat::Flags(flags) => flags,
            StoreWhat::GmLabels(labels) => {
                let emails: Vec<_> = indexes.iter().map(|&i| view.entries[i].email).collect();
                return self
                    .store_labels(
                        tag, account, &indexes, emails, st.mode, labels, st.silent, st.uid,
                    )
                    .await;
            }
        };
        let op = match st.mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let flags: Vec<Keyword> = flags
            .into_iter()
            .filter(|k| !k.matches("\\Recent"))
            .collect();
        let mailbox = view.mailbox;
        let uids: Vec<Uid> = indexes.iter().map(|&i| view.entries[i].uid).collect();
        if st.unchanged_since.is_some() {
            self.enable_condstore();
        }
        let unchanged = st.unchanged_since.map(ModSeq);
        let result = self
            .call(move |s| s.store_flags(account, mailbox, &uids, op, &flags, unchanged))
            .await;
        let changed = match result {
            Ok(c) => c,
            Err(e) => return store_error(tag, &e),
        };
        let with_modseq = self.enabled.condstore;
        let State::Selected { view, .. } = &mut self.state else {
            return Status::bad(tag, "No mailbox selected");
        };
        for e in &changed.changed {
            view.update_entry(e);
        }
        // RFC 3501 §7.2.6: a new keyword is announced (FLAGS, PERMANENTFLAGS)
        // before the FETCH that shows it, .SILENT or not.
        let announce = view
            .learn_keywords(&changed.changed)
            .then(|| view.flags_responses());
        let modified: HashSet<Uid> = changed.modified.iter().copied().collect();
        let mut out = Vec::new();
        if !st.silent {
            for &i in &indexes {
                let Some(e) = view.entries.get(i) else {
                    continue;
                };
                if modified.contains(&e.uid) {
                    continue;
                }
                let mut items = vec![FetchItem::Flags {
                    flags: flags_of(e),
                    recent: false,
                }];
                // RFC 7162 §3.1 (RFC 5162 erratum 1807): once CONDSTORE is
                // enabled, every untagged FETCH a STORE causes carries UID
                // and MODSEQ.
                if st.uid || with_modseq {
                    items.push(FetchItem::Uid(e.uid.0));
                }
                if with_modseq {
                    items.push(FetchItem::ModSeq(e.modseq.0));
                }
                out.push(Data::Fetch {
                    seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    items,
                });
            }
        } else if with_modseq {
            // RFC 7162 §3.1.3: once CONDSTORE is enabled (by ENABLE, by a
            // CONDSTORE-aware command, or by this STORE's UNCHANGEDSINCE),
            // a STORE sends, even with .SILENT, an untagged FETCH carrying
            // MODSEQ for every message it changed, so the client's cache
            // learns the new mod-sequence (Dovecot does too).
            let updated: HashSet<Uid> = changed.changed.iter().map(|e| e.uid).collect();
            for &i in &indexes {
                let Some(e) = view.entries.get(i) else {
                    continue;
                };
                if !updated.contains(&e.uid) {
                    continue;
                }
                let items = vec![FetchItem::Uid(e.uid.0), FetchItem::ModSeq(e.modseq.0)];
                out.push(Data::Fetch {
                    seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    items,
                });
            }
        }
        let modified_set = if st.uid {
            SequenceSet::compact(changed.modified.iter().map(|u| u.0))
        } else {
            SequenceSet::compact(changed.modified.iter().filter_map(|u| view.seq_of(*u)))
        };
        for r in announce.into_iter().flatten() {
            self.put(r);
        }
        for d in out {
            self.put(d);
        }
        match modified_set {
            // RFC 7162 §3.1.3: MODIFIED lists what was not changed.
            Some(set) => Status::ok(tag, "Conditional STORE failed for some messages")
                .with_code(Code::Modified(set)),
            None => Status::ok(tag, "STORE completed"),
        }
    }

    /// STORE X-GM-LABELS: labels are mailboxes ([`crate::gmail`]), so this
    /// adds and removes mailboxes of the emails.
    #[allow(clippy::too_many_arguments)] // one STORE's parts
    async fn store_labels(
        &mut self,
        tag: &Tag,
        account: AccountId,
        indexes: &[usize],
        emails: Vec<tidings_types::EmailId>,
        mode: StoreMode,
        labels: Vec<String>,
        silent: bool,
        uid: bool,
    ) -> Status {
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let mut named = Vec::new();
        for l in &labels {
            match mailboxes.iter().find(|m| crate::gmail::names(l, m)) {
                Some(m) => named.push(m.id),
                None => {
                    return Status::no(tag, &format!("No such label: {l}"))
                        .with_code(Code::TryCreate);
                }
            }
        }
        let (add, remove) = match mode {
            StoreMode::Add => (named, vec![]),
            StoreMode::Remove => (vec![], named),
            StoreMode::Replace => {
                let others = mailboxes
                    .iter()
                    .filter(|m| crate::gmail::label_of(m).is_some() && !named.contains(&m.id))
                    .map(|m| m.id)
                    .collect();
                (named, others)
            }
        };
        if let Err(e) = self
            .call(move |s| s.set_email_mailboxes(account, &emails, &add, &remove))
            .await
        {
            return store_error(tag, &e);
        }
        if !silent {
            let map = match self.call(move |s| labels_by_email(s, account)).await {
                Ok(m) => m,
                Err(e) => return store_error(tag, &e),
            };
            let Some((_, view)) = self.view() else {
                return Status::bad(tag, "No mailbox selected");
            };
            let out: Vec<Data> = indexes
                .iter()
                .filter_map(|&i| view.entries.get(i).map(|e| (i, e)))
                .map(|(i, e)| {
                    let mut items = vec![FetchItem::XGmLabels(
                        map.get(&e.email).cloned().unwrap_or_default(),
                    )];
                    if uid {
                        items.push(FetchItem::Uid(e.uid.0));
                    }
                    Data::Fetch {
                        seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                        items,
                    }
                })
                .collect();
            for d in out {
                self.put(d);
            }
        }
        Status::ok(tag, "STORE completed")
    }

    async fn copy_move(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        raw: &str,
        is_move: bool,
    ) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if is_move && view.read_only {
            return Status::no(tag, "Mailbox is read-only").with_code(Code::Cannot);
        }
        let indexes = match view.resolve(set, uid, &self.saved_ranges(uid)) {
            Ok(i) => i,
            Err(e) => return Status::bad(tag, &e),
        };
        let uids: Vec<Uid> = indexes.iter().map(|&i| view.entries[i].uid).collect();
        let from = view.mailbox;
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let to = match self.lookup(account, name).await {
            Ok(Some(m)) => m.id,
            Ok(None) => return Status::no(tag, "No such mailbox").with_code(Code::TryCreate),
            Err(e) => return store_error(tag, &e),
        };
        let what = if is_move { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            return Status::ok(tag, &format!("{what} completed; nothing to do"));
        }
        let src = uids.clone();
        let result = if is_move {
            self.call(move |s| s.move_emails(account, from, &src, to))
                .await
        } else {
            self.call(move |s| s.copy(account, from, &src, to)).await
        };
        let copied = match result {
            Ok(c) => c,
            Err(e) => return store_error(tag, &e),
        };
        let code = match (
            SequenceSet::compact(copied.pairs.iter().map(|p| p.0.0)),
            SequenceSet::compact(copied.pairs.iter().map(|p| p.1.0)),
        ) {
            (Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity: copied.uid_validity.0,
                source,
                destination,
            }),
            _ => None,
        };
        if !is_move {
            let s = Status::ok(tag, "COPY completed");
            return match code {
                Some(c) => s.with_code(c),
                None => s,
            };
        }
        // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
        if let Some(c) = code {
            self.put(Status::untagged_ok("Moved").with_code(c));
        }
        let how = self.reporting();
        if let State::Selected { view, .. } = &mut self.state {
            for d in view.remove(&uids, how) {
                self.put(d);
            }
        }
        Status::ok(tag, "MOVE completed")
    }

    /// The messages of the selected mailbox that match `criteria`, with
    /// their sequence numbers, and their envelopes when they were loaded
    /// (the criteria needed them, or `with_meta`).
    ///
    /// All of it runs off the async workers, in batches of
    /// [`SEARCH_BATCH`] messages: metadata and headers are loaded for one
    /// batch, matched, and dropped (only the header part of each blob is
    /// read, up to its `header_end`); what is kept of a match is its
    /// envelope, for SORT and THREAD.
    async fn evaluate(
        &self,
        account: AccountId,
        criteria: &[SearchKey],
        saved_seqs: &[(u32, u32)],
        saved_uids: &[(u32, u32)],
        with_meta: bool,
    ) -> Result<Vec<(u32, MailboxEntry, Option<EmailMeta>)>, StoreError> {
        let needs = search::needs(criteria);
        let Some((_, view)) = self.view() else {
            return Ok(Vec::new());
        };
        let entries = view.entries.clone();
        let (need_meta, need_header, texts) = (needs.meta || with_meta, needs.header, needs.texts);
        let need_labels = needs.labels;
        let key = SearchKey::And(criteria.to_vec());
        let (saved_seqs, saved_uids) = (saved_seqs.to_vec(), saved_uids.to_vec());
        self.call(move |st| {
            let labels = if need_labels {
                labels_by_email(st, account)?
            } else {
                HashMap::new()
            };
            let mut hits: HashMap<String, HashSet<tidings_types::EmailId>> = HashMap::new();
            for t in texts {
                let ids = st.search_text(account, &t)?;
                hits.insert(t, ids.into_iter().collect());
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let ctx = search::Context {
                max_seq: u32::try_from(entries.len()).unwrap_or(u32::MAX),
                max_uid: entries.last().map_or(0, |e| e.uid.0),
                saved: &saved_seqs,
                saved_uids: &saved_uids,
                text_hits: &hits,
                now,
                sets: search::resolve_sets(
                    &key,
                    u32::try_from(entries.len()).unwrap_or(u32::MAX),
                    entries.last().map_or(0, |e| e.uid.0),
                    &saved_seqs,
                    &saved_uids,
                ),
            };
            let mut found = Vec::new();
            for (b, chunk) in entries.chunks(SEARCH_BATCH).enumerate() {
                let mut loaded: Vec<(Option<EmailMeta>, Option<Vec<u8>>)> =
                    Vec::with_capacity(chunk.len());
                for e in chunk {
                    if !(need_meta || need_header) {
                        loaded.push((None, None));
                        continue;
                    }
                    let meta = st.email_meta(account, e.email).ok();
                    let header = match (&meta, need_header) {
                        (Some(m), true) => st.email_raw_prefix(account, e.email, m.header_end).ok(),
                        _ => None,
                    };
                    loaded.push((meta, header));
                }
                for (k, (e, (meta, header))) in chunk.iter().zip(loaded).enumerate() {
                    let seq = u32::try_from(b * SEARCH_BATCH + k + 1).unwrap_or(u32::MAX);
                    let c = search::Candidate {
                        seq,
                        entry: e,
                        meta: meta.as_ref(),
                        header: header.as_deref(),
                        labels: labels.get(&e.email).map(Vec::as_slice),
                    };
                    if search::matches(&key, &c, &ctx) {
                        // Only the envelope is used later (SORT, THREAD).
                        let meta = meta.filter(|_| with_meta).map(|m| EmailMeta {
                            envelope: m.envelope,
                            ..EmailMeta::default()
                        });
                        found.push((seq, e.clone(), meta));
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    /// RFC 5256 §3 SORT, RFC 5957 SORT=DISPLAY.
    async fn sort(&mut self, tag: &Tag, s: tidings_imap_proto::Sort) -> Status {
        let Some((account, _)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if !s.search.iter().all(search::supported) {
            return Status::no(tag, "A search key is not supported").with_code(Code::Cannot);
        }
        if s.charset != "UTF-8" && s.charset != "US-ASCII" {
            return Status::no(tag, "Unsupported charset")
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]));
        }
        let uses_modseq = uses_modseq(&s.search);
        if uses_modseq {
            self.enable_condstore();
        }
        let (saved_seqs, saved_uids) = (self.saved_ranges(false), self.saved_ranges(true));
        let found = match self
            .evaluate(account, &s.search, &saved_seqs, &saved_uids, true)
            .await
        {
            Ok(f) => f,
            Err(e) => return store_error(tag, &e),
        };
        // Sorting many messages is CPU work: off the async workers.
        let (criteria, uid) = (s.criteria, s.uid);
        let sorted = tokio::task::spawn_blocking(move || {
            let mut items: Vec<crate::sort::Item> = found
                .iter()
                .map(|(seq, e, m)| crate::sort::Item {
                    seq: *seq,
                    entry: e,
                    meta: m.as_ref(),
                })
                .collect();
            crate::sort::sort(&mut items, &criteria);
            let ids: Vec<u32> = items
                .iter()
                .map(|i| if uid { i.entry.uid.0 } else { i.seq })
                .collect();
            let mod_seq = uses_modseq
                .then(|| items.iter().map(|i| i.entry.modseq.0).max())
                .flatten();
            (ids, mod_seq)
        })
        .await;
        let Ok((ids, mod_seq)) = sorted else {
            return Status::no(tag, "Internal error").with_code(Code::ServerBug);
        };
        self.put(Data::Sort { ids, mod_seq });
        Status::ok(tag, "SORT completed")
    }

    /// RFC 9208 GETQUOTA (`mailbox` None) and GETQUOTAROOT: one quota
    /// root, `""`, the account's STORAGE (in KiB, §5.1) when it has a quota.
    async fn quota(&mut self, tag: &Tag, mailbox: Option<&str>, root: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let acc = match self.call(move |s| s.account_by_id(account)).await {
            Ok(Some(a)) => a,
            Ok(None) => return Status::no(tag, "No such account").with_code(Code::NonExistent),
            Err(e) => return store_error(tag, &e),
        };
        if let Some(raw) = mailbox {
            let name = match self.name(tag, raw) {
                Ok(n) => n,
                Err(s) => return s,
            };
            match self.lookup(account, name.clone()).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Status::no(tag, "No such mailbox").with_code(Code::NonExistent);
                }
                Err(e) => return store_error(tag, &e),
            }
            self.put(Data::QuotaRoot {
                mailbox: name.as_str().to_string(),
                roots: if acc.quota.is_some() {
                    vec![String::new()]
                } else {
                    vec![]
                },
            });
        } else if !root.is_empty() || acc.quota.is_none() {
            return Status::no(tag, "No such quota root").with_code(Code::NonExistent);
        }
        if let Some(limit) = acc.quota {
            self.put(Data::Quota {
                root: String::new(),
                resources: vec![tidings_imap_proto::QuotaResource {
                    name: "STORAGE".into(),
                    usage: acc.used.div_ceil(1024),
                    limit: limit / 1024,
                }],
            });
        }
        Status::ok(tag, "GETQUOTA completed")
    }

    /// RFC 5256 §3 THREAD: ORDEREDSUBJECT and REFERENCES.
    async fn thread(&mut self, tag: &Tag, t: tidings_imap_proto::Thread) -> Status {
        let Some((account, _)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        let references = match &t.algorithm {
            tidings_imap_proto::ThreadAlgorithm::OrderedSubject => false,
            tidings_imap_proto::ThreadAlgorithm::References => true,
            // RFC 5256 §3: "If the server does not support the threading
            // algorithm, it MUST return a tagged BAD response."
            tidings_imap_proto::ThreadAlgorithm::Other(_) => {
                return Status::bad(tag, "Unsupported threading algorithm");
            }
        };
        if !t.search.iter().all(search::supported) {
            return Status::no(tag, "A search key is not supported").with_code(Code::Cannot);
        }
        if t.charset != "UTF-8" && t.charset != "US-ASCII" {
            return Status::no(tag, "Unsupported charset")
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]));
        }
        let (saved_seqs, saved_uids) = (self.saved_ranges(false), self.saved_ranges(true));
        let found = match self
            .evaluate(account, &t.search, &saved_seqs, &saved_uids, true)
            .await
        {
            Ok(f) => f,
            Err(e) => return store_error(tag, &e),
        };
        let uid = t.uid;
        // Threading many messages is CPU work: off the async workers.
        let threads = tokio::task::spawn_blocking(move || {
            let mut items: Vec<crate::sort::Item> = found
                .iter()
                .map(|(seq, e, m)| crate::sort::Item {
                    seq: *seq,
                    entry: e,
                    meta: m.as_ref(),
                })
                .collect();
            if references {
                let msgs: Vec<crate::thread::Msg> = items
                    .iter()
                    .map(|i| {
                        let env = i.meta.map(|m| &m.envelope);
                        crate::thread::Msg {
                            id: if uid { i.entry.uid.0 } else { i.seq },
                            seq: i.seq,
                            date: env.and_then(|e| e.sent_at).unwrap_or(i.entry.received),
                            message_id: env.and_then(|e| e.message_id.clone()),
                            references: env
                                .map(|e| {
                                    tidings_store::capped_references(&e.references).into_owned()
                                })
                                .unwrap_or_default(),
                            in_reply_to: env.map(|e| e.in_reply_to.clone()).unwrap_or_default(),
                            subject: env.and_then(|e| e.subject.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                return crate::thread::references(&msgs);
            }
            crate::sort::ordered_subject(&mut items, |i| if uid { i.entry.uid.0 } else { i.seq })
        })
        .await;
        let Ok(threads) = threads else {
            return Status::no(tag, "Internal error").with_code(Code::ServerBug);
        };
        self.put(Data::Thread(threads));
        Status::ok(tag, "THREAD completed")
    }

    async fn search(&mut self, tag: &Tag, s: tidings_imap_proto::Search) -> Status {
        let Some((account, _)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        if !s.criteria.iter().all(search::supported) {
            return Status::no(tag, "A search key is not supported").with_code(Code::Cannot);
        }
        if let Some(cs) = &s.charset
            && !cs.eq_ignore_ascii_case("UTF-8")
            && !cs.eq_ignore_ascii_case("US-ASCII")
        {
            return Status::no(tag, "Unsupported charset")
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]));
        }
        let save = s
            .return_options
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save));
        let (saved_seqs, saved_uids) = (self.saved_ranges(false), self.saved_ranges(true));
        if save {
            // RFC 5182 §2.1: a failed SEARCH ... SAVE leaves `$` empty.
            self.saved.clear();
        }
        let uses_modseq = uses_modseq(&s.criteria);
        if uses_modseq {
            self.enable_condstore();
        }
        let found = match self
            .evaluate(account, &s.criteria, &saved_seqs, &saved_uids, false)
            .await
        {
            Ok(f) => f,
            Err(e) => return store_error(tag, &e),
        };
        let ids: Vec<u32> = found
            .iter()
            .map(|(seq, e, _)| if s.uid { e.uid.0 } else { *seq })
            .collect();
        let mod_seq = uses_modseq
            .then(|| found.iter().map(|(_, e, _)| e.modseq.0).max())
            .flatten();
        if save {
            let opts = s.return_options.as_deref().unwrap_or_default();
            let (min, max) = (
                opts.contains(&SearchReturn::Min),
                opts.contains(&SearchReturn::Max),
            );
            // RFC 5182 §2.1: with MIN or MAX (and not ALL or COUNT) only
            // those are saved.
            self.saved = if (min || max)
                && !opts.contains(&SearchReturn::All)
                && !opts.contains(&SearchReturn::Count)
            {
                let mut v = Vec::new();
                if min && let Some((_, e, _)) = found.first() {
                    v.push(e.uid);
                }
                if max && let Some((_, e, _)) = found.last() {
                    v.push(e.uid);
                }
                v.dedup();
                v
            } else {
                found.iter().map(|(_, e, _)| e.uid).collect()
            };
        }
        match &s.return_options {
            // RFC 9051 §6.4.4: IMAP4rev2 answers with ESEARCH.
            None if self.enabled.rev2 => self.put(Data::ESearch(ESearch {
                tag: Some(tag.clone()),
                uid: s.uid,
                all: SequenceSet::compact(ids.iter().copied()),
                mod_seq,
                ..ESearch::default()
            })),
            None => self.put(Data::Search { ids, mod_seq }),
            // RFC 5182 §2.4: SAVE alone returns no ESEARCH.
            Some(opts) if opts.as_slice() == [SearchReturn::Save] => {}
            Some(opts) => {
                let all = opts.is_empty()
                    || opts.contains(&SearchReturn::All)
                    || opts.iter().all(|o| *o == SearchReturn::Save);
                self.put(Data::ESearch(ESearch {
                    tag: Some(tag.clone()),
                    uid: s.uid,
                    min: opts
                        .contains(&SearchReturn::Min)
                        .then(|| ids.iter().min().copied())
                        .flatten(),
                    max: opts
                        .contains(&SearchReturn::Max)
                        .then(|| ids.iter().max().copied())
                        .flatten(),
                    all: if all {
                        SequenceSet::compact(ids.iter().copied())
                    } else {
                        None
                    },
                    count: opts
                        .contains(&SearchReturn::Count)
                        .then(|| u32::try_from(ids.len()).unwrap_or(u32::MAX)),
                    mod_seq,
                }));
            }
        }
        Status::ok(tag, "SEARCH completed")
    }
}

fn uses_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(a) => uses_modseq(std::slice::from_ref(a)),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b))
        }
        SearchKey::And(v) => uses_modseq(v),
        _ => false,
    })
}

fn view_max(state: &State) -> u32 {
    match state {
        State::Selected { view, .. } => view.max_uid(),
        _ => 0,
    }
}

/// Raw DEFLATE (RFC 1951) both ways, as RFC 4978 §4 requires: no zlib
/// header, a sync flush after every burst of responses.
struct Deflate {
    compress: flate2::Compress,
    decompress: flate2::Decompress,
}

/// Inflated bytes allowed from one read (a decompression bomb is cut off
/// here; the framer limits apply to what passes).
const MAX_INFLATE: usize = 4 * 1024 * 1024;

impl Deflate {
    fn new() -> Self {
        Deflate {
            compress: flate2::Compress::new(flate2::Compression::default(), false),
            decompress: flate2::Decompress::new(false),
        }
    }

    fn deflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            out.reserve(input.len() + 64);
            let before = self.compress.total_in();
            self.compress
                .compress_vec(input, &mut out, flate2::FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.compress.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Inflates what the client sent. An error ends the connection: the
    /// stream ended (a final block, RFC 1951 §3.2.3, after which RFC 4978
    /// allows nothing) with bytes still coming, the data is not DEFLATE, or
    /// it expands past [`MAX_INFLATE`]. Every turn of the loop consumes
    /// input or produces output, or the loop ends.
    fn inflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.len() > MAX_INFLATE {
                return Err(io::Error::other("compressed input expands too much"));
            }
            out.reserve(16 * 1024);
            let (in_before, out_before) = (self.decompress.total_in(), out.len());
            let status = self
                .decompress
                .decompress_vec(input, &mut out, flate2::FlushDecompress::Sync)
                .map_err(io::Error::other)?;
            let used =
                usize::try_from(self.decompress.total_in() - in_before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            if status == flate2::Status::StreamEnd {
                // RFC 4978 §4: the compression lasts as long as the
                // connection; a final block ends what may be read.
                return Err(io::Error::other("compressed stream ended"));
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if used == 0 && out.len() == out_before && out.len() < out.capacity() {
                // Room to write, input left, and nothing moved: it never will.
                return Err(io::Error::other("compressed input makes no progress"));
            }
        }
    }
}

/// X-GM-LABELS of every email of the account ([`crate::gmail`]).
fn labels_by_email(
    st: &Store,
    account: AccountId,
) -> Result<HashMap<tidings_types::EmailId, Vec<String>>, StoreError> {
    let mut map: HashMap<tidings_types::EmailId, Vec<String>> = HashMap::new();
    for m in st.mailboxes(account)? {
        let Some(label) = crate::gmail::label_of(&m) else {
            continue;
        };
        for e in st.mailbox_entries(account, m.id)? {
            map.entry(e.email).or_default().push(label.clone());
        }
    }
    Ok(map)
}

/// The attributes of a FETCH without repeats: `BODY[]` asked 3,000 times
/// is sent once (RFC 9051 §6.4.5 does not ask for repeats; sending each
/// would copy the message once per item). `BODY[x]` and `BODY.PEEK[x]`
/// answer with the same item, so they count as one, keeping the first
/// place and setting `\Seen` if either does.
fn dedupe_attributes(attrs: Vec<FetchAttribute>) -> Vec<FetchAttribute> {
    let key = |a: &FetchAttribute| -> String {
        match a {
            FetchAttribute::BodySection {
                section, partial, ..
            } => format!("B{section:?}{partial:?}"),
            FetchAttribute::Binary { part, partial, .. } => format!("N{part:?}{partial:?}"),
            a => format!("{a:?}"),
        }
    };
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<FetchAttribute> = Vec::with_capacity(attrs.len().min(64));
    for a in attrs {
        match at.get(&key(&a)) {
            Some(&i) => {
                if a.sets_seen() && !out[i].sets_seen() {
                    out[i] = a;
                }
            }
            None => {
                at.insert(key(&a), out.len());
                out.push(a);
            }
        }
    }
    out
}

/// The most data one message's FETCH response may carry: twice the
/// message and 1 MiB. Real clients ask each part once, maybe the whole
/// message and its header together; distinct overlapping sections
/// (`BODY[]<0.n>`, `BODY[]<1.n>`, …) past this would copy the message
/// over and over into memory. Over the cap the message's response is
/// left out and FETCH ends with `NO [LIMIT]` (RFC 5530 §3).
fn fetch_response_cap(size: u64) -> u64 {
    size.saturating_mul(2).saturating_add(1024 * 1024)
}

/// Data bytes an item carries (body sections; the rest is small).
fn item_bytes(item: &FetchItem) -> u64 {
    let len = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, |d| d.len() as u64);
    match item {
        FetchItem::BodySection { data, .. }
        | FetchItem::Binary { data, .. }
        | FetchItem::Rfc822(data)
        | FetchItem::Rfc822Header(data)
        | FetchItem::Rfc822Text(data) => len(data),
        _ => 0,
    }
}

/// What FETCH loaded for one message.
struct Loaded {
    meta: Option<EmailMeta>,
    raw: Option<Vec<u8>>,
}

fn fetch_item(a: &FetchAttribute, e: &MailboxEntry, d: &Loaded, utf8: bool) -> Option<FetchItem> {
    let section = |sec: &Section| -> Option<Vec<u8>> {
        let (raw, meta) = (d.raw.as_deref()?, d.meta.as_ref()?);
        fetch::section(raw, meta, sec)
    };
    // One copy of what is sent, sliced out of the loaded message.
    let section_partial = |sec: &Section, partial: Option<tidings_imap_proto::Partial>| {
        let (raw, meta) = (d.raw.as_deref()?, d.meta.as_ref()?);
        // A section that does not exist (BODY[4] of a message with three
        // parts, BODY[1.3] of a single part) is an empty string, as
        // Dovecot sends: RFC 9051 §6.4.5 describes no NIL for it, and
        // body's grammar (RFC 9051 §9 msg-att-static) allows nstring, so
        // "" is what every client can take.
        let data = fetch::section_slice(raw, meta, sec).unwrap_or(std::borrow::Cow::Borrowed(&[]));
        Some(match partial {
            Some(p) => fetch::partial_slice(&data, p.origin, p.count).to_vec(),
            None => data.into_owned(),
        })
    };
    Some(match a {
        FetchAttribute::Flags => FetchItem::Flags {
            flags: flags_of(e),
            recent: false,
        },
        FetchAttribute::Uid => FetchItem::Uid(e.uid.0),
        FetchAttribute::InternalDate => FetchItem::InternalDate(
            tidings_imap_proto::DateTime::from_unix_timestamp(e.received)?,
        ),
        FetchAttribute::Rfc822Size => FetchItem::Rfc822Size(e.size),
        FetchAttribute::Envelope => {
            FetchItem::Envelope(Box::new(fetch::envelope(&d.meta.as_ref()?.envelope, utf8)))
        }
        FetchAttribute::Body => FetchItem::Body(Box::new(fetch::body_structure(
            &d.meta.as_ref()?.body,
            false,
            utf8,
        ))),
        FetchAttribute::BodyStructure => FetchItem::BodyStructure(Box::new(fetch::body_structure(
            &d.meta.as_ref()?.body,
            true,
            utf8,
        ))),
        FetchAttribute::BodySection {
            section: sec,
            partial,
            ..
        } => {
            let data = section_partial(sec, *partial);
            FetchItem::BodySection {
                section: sec.clone(),
                origin: partial.map(|p| p.origin),
                data,
            }
        }
        FetchAttribute::Rfc822 => FetchItem::Rfc822(d.raw.clone()),
        FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(section(&Section {
            part: vec![],
            text: Some(SectionText::Header),
        })),
        FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(section(&Section {
            part: vec![],
            text: Some(SectionText::Text),
        })),
        FetchAttribute::ModSeq => FetchItem::ModSeq(e.modseq.0),
        FetchAttribute::EmailId => FetchItem::EmailId(e.email.to_string()),
        FetchAttribute::ThreadId => FetchItem::ThreadId(Some(e.thread.to_string())),
        FetchAttribute::SaveDate => {
            FetchItem::SaveDate(tidings_imap_proto::DateTime::from_unix_timestamp(e.saved))
        }
        FetchAttribute::XGmMsgId => FetchItem::XGmMsgId(u64::try_from(e.email.0).ok()?),
        FetchAttribute::XGmThrId => FetchItem::XGmThrId(u64::try_from(e.thread.0).ok()?),
        FetchAttribute::Binary { .. }
        | FetchAttribute::BinarySize { .. }
        | FetchAttribute::XGmLabels => return None,
    })
}

/// BINARY and BINARY.SIZE (RFC 3516 §4.2); `None` for other attributes.
fn binary_item(a: &FetchAttribute, d: &Loaded) -> Option<Result<FetchItem, fetch::BinaryError>> {
    let (part, partial, size) = match a {
        FetchAttribute::Binary { part, partial, .. } => (part, *partial, false),
        FetchAttribute::BinarySize { part } => (part, None, true),
        _ => return None,
    };
    let (Some(raw), Some(meta)) = (d.raw.as_deref(), d.meta.as_ref()) else {
        return Some(Err(fetch::BinaryError::NoPart));
    };
    Some(fetch::binary(raw, meta, part).map(|data| {
        if size {
            FetchItem::BinarySize {
                part: part.clone(),
                size: data.len() as u64,
            }
        } else {
            FetchItem::Binary {
                part: part.clone(),
                origin: partial.map(|p| p.origin),
                data: Some(match partial {
                    Some(p) => fetch::partial(data, p.origin, p.count),
                    None => data,
                }),
            }
        }
    }))
}

/// The reply for a store error (STYLE.md: refused → NO, temporary →
/// NO [UNAVAILABLE], internal → NO [SERVERBUG], logged).
fn store_error(tag: &Tag, e: &StoreError) -> Status {
    match e {
        StoreError::NotFound(_) => Status::no(tag, &e.to_string()).with_code(Code::NonExistent),
        StoreError::AlreadyExists(_) => {
            Status::no(tag, &e.to_string()).with_code(Code::AlreadyExists)
        }
        StoreError::Refused(_) | StoreError::BadMailboxName(_) => {
            Status::no(tag, &e.to_string()).with_code(Code::Cannot)
        }
        StoreError::OverQuota { .. } => Status::no(tag, &e.to_string()).with_code(Code::OverQuota),
        e if e.is_temporary() => {
            tracing::warn!("store: {e}");
            Status::no(tag, "Temporary failure; try again").with_code(Code::Unavailable)
        }
        e => {
            tracing::error!("store: {e}");
            Status::no(tag, "Internal error").with_code(Code::ServerBug)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_login_needs_tls_off_loopback() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let remote = IpAddr::from([192, 0, 2, 7]);
        let mapped_lo: IpAddr = "::ffff:127.0.0.1".parse().unwrap_or(lo);
        assert!(plaintext_auth_allowed(false, lo, false));
        assert!(plaintext_auth_allowed(false, mapped_lo, false));
        assert!(!plaintext_auth_allowed(false, remote, false));
        assert!(plaintext_auth_allowed(true, remote, false));
        assert!(plaintext_auth_allowed(false, remote, true));
    }

    #[test]
    fn inflate_ends_at_the_final_block_instead_of_spinning() {
        let mut z = Deflate::new();
        // An empty final stored block, then one more byte (RFC 1951 §3.2.3).
        assert!(z.inflate(&[0x03, 0x00, 0x41]).is_err());
        let mut z = Deflate::new();
        assert!(z.inflate(&[0x03, 0x00]).is_err());
        // A normal round trip still works.
        let (mut a, mut b) = (Deflate::new(), Deflate::new());
        let packed = a.deflate(b"a NOOP\r\n").unwrap_or_default();
        assert_eq!(b.inflate(&packed).unwrap_or_default(), b"a NOOP\r\n");
    }
}
