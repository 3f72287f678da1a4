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

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use tidings_imap_proto::{
    Code, CodecOptions, Command, CommandBody, Data, Framer, NamespaceDesc, Response, Status,
    StatusKind, Tag, mailbox_name, parse_command,
};
use tidings_net::MaybeTls;
use tidings_store::{ChangeEvent, Mailbox, Store, StoreError};
use tidings_types::{AccountId, MailboxName, ModSeq, Uid};
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::connection::{Deflate, tls_of};
use crate::view::{Reporting, View};

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
pub(crate) enum State {
    NotAuthenticated { failures: u32 },
    Authenticated { account: AccountId },
    Selected { account: AccountId, view: View },
    Logout,
}

/// What the loop does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

/// Extensions the client turned on with ENABLE (RFC 5161) or with a
/// CONDSTORE-enabling command (RFC 7162 §3.1).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Enabled {
    pub(crate) condstore: bool,
    pub(crate) qresync: bool,
    /// RFC 9051 §6.3.1: IMAP4rev2 semantics (UTF-8 names, ESEARCH for
    /// SEARCH, no RECENT or UNSEEN in SELECT, a LIST reply in SELECT).
    pub(crate) rev2: bool,
}

pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stream: Option<MaybeTls>,
    pub(crate) starttls: Option<TlsAcceptor>,
    pub(crate) peer: IpAddr,
    pub(crate) framer: Framer,
    pub(crate) out: Vec<u8>,
    pub(crate) opts: CodecOptions,
    pub(crate) state: State,
    pub(crate) enabled: Enabled,
    pub(crate) events: Option<broadcast::Receiver<ChangeEvent>>,
    /// An event for the selected mailbox arrived since the last delta.
    pub(crate) dirty: bool,
    /// COMPRESS=DEFLATE state once active (RFC 4978).
    pub(crate) deflate: Option<Deflate>,
    /// The SEARCHRES result (`$`, RFC 5182), as UIDs, ascending. Emptied
    /// when a mailbox is selected or closed.
    pub(crate) saved: Vec<Uid>,
    /// When an unauthenticated connection is closed
    /// ([`crate::ImapConfig::login_timeout`]).
    pub(crate) login_deadline: tokio::time::Instant,
    pub(crate) shutdown: CancellationToken,
}

impl Session {
    // ---- I/O ----

    pub(crate) fn put(&mut self, r: impl Into<Response>) {
        r.into().encode(&mut self.out, self.opts);
    }

    /// Runs a blocking store call off the async threads.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
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

    pub(crate) fn tls(&self) -> bool {
        tls_of(&self.stream)
    }

    pub(crate) fn plaintext_ok(&self) -> bool {
        plaintext_auth_allowed(
            self.tls(),
            self.peer,
            self.shared.config.allow_plaintext_auth,
        )
    }

    /// What CAPABILITY says now: only what works end to end.
    pub(crate) fn capabilities(&self) -> Vec<String> {
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

    pub(crate) fn account(&self) -> Option<AccountId> {
        match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => Some(*account),
            _ => None,
        }
    }

    pub(crate) fn reporting(&self) -> Reporting {
        Reporting {
            qresync: self.enabled.qresync,
            condstore: self.enabled.condstore,
        }
    }

    /// Turns CONDSTORE on (RFC 7162 §3.1: any CONDSTORE-enabling command).
    /// Returns whether it was off: the first SELECT after that must still
    /// include HIGHESTMODSEQ, which it always does here.
    pub(crate) fn enable_condstore(&mut self) {
        self.enabled.condstore = true;
    }

    /// Drains change events; sends the untagged updates the client may be
    /// told now (RFC 9051 §7.5.1). `force` asks the store even without an
    /// event (NOOP, CHECK, IDLE poll).
    pub(crate) async fn sync(&mut self, allow_expunge: bool, force: bool) -> io::Result<()> {
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

    pub(crate) async fn command(&mut self, bytes: &[u8]) -> io::Result<Flow> {
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

    // ---- authenticated ----

    pub(crate) fn name(&self, tag: &Tag, raw: &str) -> Result<MailboxName, Status> {
        mailbox_name(raw)
            .map_err(|e| Status::no(tag, &format!("Bad mailbox name: {e}")).with_code(Code::Cannot))
    }

    pub(crate) async fn lookup(
        &self,
        account: AccountId,
        name: MailboxName,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.call(move |s| s.mailbox(account, &name)).await
    }

    // ---- selected ----

    /// `$` as ranges of UIDs or of the sequence numbers those UIDs have now.
    pub(crate) fn saved_ranges(&self, uid: bool) -> Vec<(u32, u32)> {
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

    pub(crate) fn view(&self) -> Option<(AccountId, &View)> {
        match &self.state {
            State::Selected { account, view } => Some((*account, view)),
            _ => None,
        }
    }
}

pub(crate) fn view_max(state: &State) -> u32 {
    match state {
        State::Selected { view, .. } => view.max_uid(),
        _ => 0,
    }
}

/// X-GM-LABELS of every email of the account ([`crate::gmail`]).
pub(crate) fn labels_by_email(
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

/// The reply for a store error (STYLE.md: refused → NO, temporary →
/// NO [UNAVAILABLE], internal → NO [SERVERBUG], logged).
pub(crate) fn store_error(tag: &Tag, e: &StoreError) -> Status {
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
}
