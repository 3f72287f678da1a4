//! The IMAP session state machine (RFC 9051 §3: not authenticated →
//! authenticated ⇄ selected → logout), sans I/O: it takes the frames the
//! connection loop ([`crate::connection`]) cuts from the input and puts
//! its responses into an output buffer the loop writes. The command
//! handlers live in [`crate::cmd`], one module per command group.
//!
//! Implementation notes / invariants:
//! - [`State`] holds what is valid in each state: the failed logins before
//!   authentication, the AUTHENTICATE exchange waiting for the client's
//!   next response, the account once logged in, the account and the
//!   mailbox [`View`] once a mailbox is selected.
//! - A handler never touches the socket. What needs the socket in the
//!   middle of a command is an [`Outcome`] the loop acts on: a FETCH too
//!   large for one buffer is sent in batches ([`Outcome::More`], the loop
//!   writes and calls [`Session::resume`]), STARTTLS and COMPRESS ask the
//!   loop to change the stream once their OK is written, IDLE hands the
//!   waiting to the loop ([`Outcome::Idle`]), and an AUTHENTICATE
//!   challenge is a state: the next line the loop hands in is the answer.
//!   The synchronizing-literal continuation (`+ Ready`) is the framer's and
//!   the loop's business; the session sees whole commands.
//! - Memory per connection is bounded by the framer limits, by FETCH
//!   loading messages `FETCH_BATCH` (and `FETCH_BATCH_BYTES`) at a
//!   time, and by the loop writing the reply buffer after each batch.
//! - The store is blocking; every call goes through `spawn_blocking`
//!   (`Session::call`), one per command where it can: SELECT and STATUS
//!   read everything they need in one call, and a write to the selected
//!   mailbox (STORE, EXPUNGE, APPEND) reads the mailbox's changes in the
//!   same call as the write (`Session::call_and_prefetch`), for the sync
//!   before its tagged reply. Nothing is locked across an `.await`.
//! - Untagged updates for changes made elsewhere (other sessions, SMTP,
//!   POP3) come from the store's change events (`Store::subscribe`): an
//!   event for the selected mailbox marks the view dirty, and after the
//!   next command (before its tagged reply) the session asks the store for
//!   the delta since the view's MODSEQ ([`crate::view::View::apply`]); an
//!   event at or below the MODSEQ the view (or the prefetched delta)
//!   already covers asks for nothing, since the writer hands out an
//!   account's MODSEQs in commit order. During
//!   FETCH, STORE and SEARCH (non-UID) expunges are held back
//!   (RFC 9051 §7.5.1). NOOP, CHECK and IDLE also poll the store, which
//!   catches writes by another process (`tidings deliver`) that raise no
//!   event here.
//! - Before login the framer has [`crate::ImapConfig::preauth_limits`]
//!   (small literals and lines, [`Session::framer_limits`]); the logged-in
//!   limits apply from the tagged OK of LOGIN / AUTHENTICATE.
//! - `\Recent` (RFC 3501 §2.3.2), as Dovecot keeps it: each mailbox has a
//!   first unclaimed UID in the store; a read-write SELECT, and a selected
//!   session that sees new UIDs, claim everything from there to UIDNEXT
//!   (`Store::recent_uids`, atomic), so a message is recent in exactly one
//!   session. EXAMINE and STATUS only look. The view keeps the claimed
//!   UIDs ([`View::recent`]); an IMAP4rev2 session claims the same way
//!   but shows none of it (RFC 9051 §2.3.2).
//! - A mailbox another account shared (RFC 4314, [`crate::cmd`]'s `acl`)
//!   is selected like one's own; the store checks every right on every
//!   call. Its view listens for the owner's events ([`View::owner`]), and
//!   each command first asks the store for the session's rights on it, so
//!   a revoked grant closes it (`* OK [CLOSED]`) at the next command.
//! - Plaintext authentication (LOGIN, AUTHENTICATE PLAIN) is refused before
//!   TLS unless the peer is on loopback or the configuration allows it
//!   ([`plaintext_auth_allowed`]); the greeting then says `LOGINDISABLED`
//!   and offers no `AUTH=` mechanism (RFC 9051 §6.2.3, §7.2.2).
//! - Failed logins are counted per IP and account in the shared `AuthLimiter` (each
//!   answered after its delay) and per session: after
//!   [`crate::ImapConfig::max_login_failures`] the session says BYE.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use tidings_imap_proto::{
    Code, CodecOptions, Command, CommandBody, Data, FetchItem, FrameError, FramerLimits,
    NamespaceDesc, Response, SearchKey, Status, StatusKind, Tag, mailbox_name, parse_command,
};
use tidings_store::{ChangeEvent, Mailbox, MailboxDelta, RecentUids, Store, StoreError};
use tidings_types::{AccountId, MailboxName, ModSeq, Secret, Uid};
use tokio::sync::broadcast;

use crate::Shared;
use crate::cmd::{FetchJob, SearchCommand};
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
    NotAuthenticated {
        failures: u32,
    },
    /// AUTHENTICATE sent a challenge; the next line is the client's
    /// answer (RFC 9051 §6.2.2).
    Authenticating {
        failures: u32,
        tag: Tag,
        step: SaslStep,
    },
    Authenticated {
        account: AccountId,
    },
    Selected {
        account: AccountId,
        view: View,
        /// The SEARCHRES result (`$`, RFC 5182), as UIDs, ascending; a
        /// new selection starts without one.
        saved: Vec<Uid>,
        /// An event for the mailbox arrived since the last delta.
        dirty: bool,
    },
    Logout,
}

/// What an AUTHENTICATE exchange waits for.
#[derive(Debug)]
pub(crate) enum SaslStep {
    /// PLAIN's one response (RFC 4616).
    Plain,
    /// LOGIN's user name, then its password (draft-murchison-sasl-login).
    LoginUser,
    LoginPassword {
        user: Secret<Vec<u8>>,
    },
}

/// What the connection loop does once the session has handled a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Read the next command (or SASL response).
    Continue,
    /// The command has more responses to give (a FETCH in batches): write
    /// the output if it is large, then call [`Session::resume`].
    More,
    /// STARTTLS's OK is in the output: write it, drop the input received
    /// before the handshake (RFC 9051 §6.2.1), run the TLS handshake, then
    /// call [`Session::tls_started`]; close if it fails.
    StartTls,
    /// COMPRESS's OK is in the output: write it uncompressed, then DEFLATE
    /// both ways (RFC 4978 §3).
    Compress,
    /// IDLE's continuation is in the output: wait for the client's DONE,
    /// for change events and for the poll interval (the `Session::idle_*`
    /// methods), autologout after `idle_timeout` (RFC 2177 §3).
    Idle,
    /// Write the output and close the connection.
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
    /// RFC 9586 UIDONLY: no message numbers either way.
    pub(crate) uidonly: bool,
}

/// What changed in the selected mailbox, read in the same blocking call as
/// the command's write ([`Session::call_and_prefetch`]) for the sync
/// before the tagged reply.
pub(crate) struct Prefetched {
    mailbox: tidings_types::MailboxId,
    /// The view's MODSEQ the delta starts from.
    since: u64,
    delta: MailboxDelta,
    /// New messages claimed as recent, when the delta has any.
    recent: Option<RecentUids>,
}

/// Reads what changed in `mailbox` since `since` and, when that includes
/// messages past `max_uid`, claims the new ones as recent (RFC 3501
/// §2.3.2: a new message is recent in the first session to notice it:
/// claim before reporting; read-only: only look).
fn prefetch(
    store: &Store,
    account: AccountId,
    mailbox: tidings_types::MailboxId,
    since: u64,
    max_uid: u32,
    read_only: bool,
) -> Result<Prefetched, StoreError> {
    let delta = store.mailbox_changes(account, mailbox, ModSeq(since))?;
    let recent = if delta.changed.iter().any(|e| e.uid.0 > max_uid) {
        match store.recent_uids(account, mailbox, !read_only) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!("recent: {e}");
                None
            }
        }
    } else {
        None
    };
    Ok(Prefetched {
        mailbox,
        since,
        delta,
        recent,
    })
}

/// The work of a command that goes on across [`Outcome::More`].
pub(crate) enum Job {
    /// FETCH responses, a batch at a time.
    Fetch(Box<FetchJob>),
    /// SEARCH, SORT or THREAD matching, a piece at a time (RFC 9585
    /// progress in between).
    Search(Box<crate::cmd::SearchJob>),
}

/// A command that was cut short to let the loop write its output.
pub(crate) struct Pending {
    pub(crate) job: Job,
    pub(crate) allow_expunge: bool,
    /// The FETCH of a NOTIFY MessageNew (RFC 5465 §5.1): no tagged reply.
    pub(crate) unsolicited: bool,
}

/// One IMAP session; see the module notes.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: IpAddr,
    /// The connection is under TLS (implicit, or after STARTTLS).
    pub(crate) tls: bool,
    /// STARTTLS is offered (a plaintext listener with a certificate).
    pub(crate) starttls: bool,
    /// COMPRESS=DEFLATE is active (RFC 4978).
    pub(crate) compressed: bool,
    /// Encoded responses waiting for the loop to write them.
    pub(crate) out: Vec<u8>,
    pub(crate) opts: CodecOptions,
    pub(crate) state: State,
    pub(crate) enabled: Enabled,
    pub(crate) events: Option<broadcast::Receiver<ChangeEvent>>,
    /// The tag of the IDLE in progress.
    pub(crate) idling: Option<Tag>,
    pub(crate) pending: Option<Pending>,
    /// NOTIFY (RFC 5465) is on: what it asks for and what the client was
    /// told ([`crate::cmd::Notify`]).
    pub(crate) notify: Option<Box<crate::cmd::Notify>>,
    /// The searches kept up to date (CONTEXT=SEARCH, RFC 5267 §4) in the
    /// selected mailbox.
    pub(crate) contexts: Vec<crate::cmd::SearchContext>,
    /// The large APPEND literal arriving now ([`Frame::Spooled`]): it
    /// goes to a spool (a file past 1 MiB), never whole into memory.
    ///
    /// [`Frame::Spooled`]: tidings_imap_proto::Frame::Spooled
    spooling: Option<tidings_store::Spool>,
    /// The spooled literals of the command being read, in order: APPEND
    /// puts them where its messages are empty (`{0}`).
    pub(crate) spooled: std::collections::VecDeque<tidings_store::Spooled>,
    /// A literal of the command being read could not be spooled.
    pub(crate) spool_failed: bool,
    /// The selected mailbox's changes read right after this command's
    /// write, if it wrote; [`Session::sync`] uses them.
    prefetched: Option<Prefetched>,
    /// The output holds a progress response (RFC 9585) to write now,
    /// however short it is.
    pub(crate) flush_soon: bool,
}

impl Session {
    /// A session for a connection from `peer`; `tls` when it is under TLS
    /// already, `starttls` when STARTTLS may be offered.
    pub(crate) fn new(shared: Arc<Shared>, peer: IpAddr, tls: bool, starttls: bool) -> Session {
        Session {
            shared,
            peer,
            tls,
            starttls,
            compressed: false,
            out: Vec::with_capacity(4096),
            opts: CodecOptions::default(),
            state: State::NotAuthenticated { failures: 0 },
            enabled: Enabled::default(),
            events: None,
            idling: None,
            pending: None,
            notify: None,
            contexts: Vec::new(),
            spooling: None,
            spooled: std::collections::VecDeque::new(),
            spool_failed: false,
            prefetched: None,
            flush_soon: false,
        }
    }

    /// Bytes of a large APPEND literal, as they arrive; `done` with the
    /// last ones, when the spool is made durable. A failure (disk full)
    /// fails the APPEND, not the connection.
    pub(crate) async fn spooled_bytes(&mut self, bytes: &[u8], done: bool) {
        if !self.spool_failed {
            let store = &self.shared.store;
            let spool = self.spooling.get_or_insert_with(|| store.spool());
            if let Err(e) = spool.write(bytes) {
                tracing::warn!("cannot spool an APPEND literal: {e}");
                self.spool_failed = true;
                self.spooling = None;
            }
        }
        if done && let Some(spool) = self.spooling.take() {
            match tokio::task::spawn_blocking(move || spool.finish()).await {
                Ok(Ok(body)) => self.spooled.push_back(body),
                Ok(Err(e)) => {
                    tracing::warn!("cannot spool an APPEND literal: {e}");
                    self.spool_failed = true;
                }
                Err(e) => {
                    tracing::warn!("cannot spool an APPEND literal: {e}");
                    self.spool_failed = true;
                }
            }
        }
    }

    /// Forgets the spooled literals of the command just handled (their
    /// files go with them).
    fn drop_spooled(&mut self) {
        self.spooling = None;
        self.spooled.clear();
        self.spool_failed = false;
    }

    pub(crate) fn put(&mut self, r: impl Into<Response>) {
        let mut r = r.into();
        if self.enabled.uidonly {
            r = self.uidonly_form(r);
        }
        r.encode(&mut self.out, self.opts);
    }

    /// Puts a FETCH response whose item `at` (a placeholder) has `len`
    /// data bytes that follow in the output separately; the bytes to put
    /// after them (see `Response::encode_streamed`).
    pub(crate) fn put_streamed(&mut self, d: Data, at: usize, len: u64) -> Option<Vec<u8>> {
        let mut at = at;
        let mut r = Response::Data(d);
        if self.enabled.uidonly {
            // The UID item goes, so the streamed item may move up.
            if let Response::Data(Data::Fetch { items, .. }) = &r {
                at -= items[..at.min(items.len())]
                    .iter()
                    .filter(|i| matches!(i, FetchItem::Uid(_)))
                    .count();
            }
            r = self.uidonly_form(r);
        }
        r.encode_streamed(&mut self.out, self.opts, at, len)
    }

    /// RFC 9586 §3.3: once UIDONLY is enabled, FETCH data goes out as
    /// `* uid UIDFETCH (...)`, without the then redundant UID item. The
    /// UID is the item's, or the selected view's for that number (every
    /// FETCH is put while the view matches the client's numbering).
    fn uidonly_form(&self, r: Response) -> Response {
        let Response::Data(Data::Fetch { seq, mut items }) = r else {
            return r;
        };
        let uid = items
            .iter()
            .find_map(|i| match i {
                FetchItem::Uid(u) => Some(*u),
                _ => None,
            })
            .or_else(|| {
                let (_, view) = self.view()?;
                let i = usize::try_from(seq).ok()?.checked_sub(1)?;
                view.entries.get(i).map(|e| e.uid.0)
            });
        match uid {
            Some(uid) => {
                items.retain(|i| !matches!(i, FetchItem::Uid(_)));
                Response::Data(Data::UidFetch { uid, items })
            }
            None => Response::Data(Data::Fetch { seq, items }),
        }
    }

    /// The greeting (RFC 9051 §7.1.1), with the capabilities.
    pub(crate) fn greeting(&mut self) {
        let caps = self.capabilities().join(" ");
        self.out
            .extend_from_slice(format!("* OK [CAPABILITY {caps}] Tidings ready\r\n").as_bytes());
    }

    /// Whether the client has logged in (the loop's read timeout and the
    /// framer limits depend on it).
    pub(crate) fn logged_in(&self) -> bool {
        !matches!(
            self.state,
            State::NotAuthenticated { .. } | State::Authenticating { .. }
        )
    }

    /// The framer limits that apply now: [`crate::ImapConfig::preauth_limits`]
    /// before login, [`crate::ImapConfig::limits`] after.
    pub(crate) fn framer_limits(&self) -> FramerLimits {
        if self.logged_in() {
            self.shared.config.limits
        } else {
            self.shared.config.preauth_limits
        }
    }

    /// The TLS handshake after STARTTLS succeeded.
    pub(crate) fn tls_started(&mut self) {
        self.tls = true;
        self.starttls = false;
    }

    /// Handles one complete frame from the framer: a command, or the
    /// answer to an AUTHENTICATE challenge.
    pub(crate) async fn handle(&mut self, bytes: &[u8]) -> Outcome {
        if matches!(self.state, State::Authenticating { .. }) {
            return self.sasl_response(bytes).await;
        }
        let outcome = self.command(bytes).await;
        self.drop_spooled();
        outcome
    }

    /// The framer refused a command (line too long, literal too large,
    /// RFC 7888 §4); during AUTHENTICATE it ends the exchange.
    pub(crate) async fn rejected(&mut self, tag: Option<Tag>, error: FrameError) -> Outcome {
        if matches!(self.state, State::Authenticating { .. }) {
            return self.sasl_response(&[]).await;
        }
        self.drop_spooled();
        self.put(error.response(tag.as_ref()));
        Outcome::Continue
    }

    /// Goes on with the command that returned [`Outcome::More`].
    pub(crate) async fn resume(&mut self) -> Outcome {
        let Some(Pending {
            mut job,
            allow_expunge,
            unsolicited,
        }) = self.pending.take()
        else {
            return Outcome::Continue;
        };
        let status = match &mut job {
            Job::Fetch(fetch) => {
                if self.fetch_batch(fetch).await {
                    self.pending = Some(Pending {
                        job,
                        allow_expunge,
                        unsolicited,
                    });
                    return Outcome::More;
                }
                if fetch.broken {
                    return Outcome::Close;
                }
                if unsolicited {
                    return Outcome::Continue;
                }
                match job {
                    Job::Fetch(fetch) => fetch.status(),
                    Job::Search(_) => return Outcome::Continue,
                }
            }
            Job::Search(search) => match self.search_step(search).await {
                Some(status) => status,
                None => {
                    self.pending = Some(Pending {
                        job,
                        allow_expunge,
                        unsolicited,
                    });
                    return Outcome::More;
                }
            },
        };
        self.finish(status, allow_expunge, false, false).await;
        Outcome::Continue
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

    /// Runs a store write like [`Session::call`] and, in the same blocking
    /// call, reads what changed in the selected mailbox since the view's
    /// MODSEQ (and claims new messages as recent) for the sync before the
    /// tagged reply: one hand-off to the blocking pool instead of two or
    /// three. A failure to read the changes only means the sync asks again.
    pub(crate) async fn call_and_prefetch<T, F>(&mut self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let selected = match &self.state {
            State::Selected { account, view, .. } => Some((
                *account,
                view.mailbox,
                view.modseq,
                view.max_uid(),
                view.read_only,
            )),
            _ => None,
        };
        let store = self.shared.store.clone();
        let (result, prefetched) = tokio::task::spawn_blocking(move || {
            let result = f(&store);
            let prefetched = match selected {
                Some((account, mailbox, since, max_uid, read_only)) if result.is_ok() => {
                    prefetch(&store, account, mailbox, since, max_uid, read_only)
                        .inspect_err(|e| tracing::debug!("mailbox changes: {e}"))
                        .ok()
                }
                _ => None,
            };
            (result, prefetched)
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?;
        self.prefetched = prefetched;
        result
    }

    // ---- state helpers ----

    pub(crate) fn tls(&self) -> bool {
        self.tls
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
            if self.starttls && !self.tls() {
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
            "ESORT",
            "PARTIAL",
            "UIDONLY",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "OBJECTID",
            "UTF8=ACCEPT",
            "MULTIAPPEND",
            "REPLACE",
            "CATENATE",
            "URLAUTH",
            "BINARY",
            "COMPRESS=DEFLATE",
            "X-GM-EXT-1",
            "WITHIN",
            "SAVEDATE",
            "PREVIEW",
            "METADATA",
            "NOTIFY",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            // RFC 4314 §2.1.1, RFC 8440.
            "ACL",
            "RIGHTS=texk",
            "LIST-MYRIGHTS",
            // RFC 9585: SEARCH, SORT and THREAD report their progress.
            "INPROGRESS",
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
            recent: !self.enabled.rev2,
            uidonly: self.enabled.uidonly,
        }
    }

    /// Whether FLAGS shows `\Recent` for `uid` of the selected mailbox
    /// (RFC 3501 §2.3.2; never in IMAP4rev2, RFC 9051 §2.3.2).
    pub(crate) fn shows_recent(&self, uid: Uid) -> bool {
        !self.enabled.rev2
            && matches!(&self.state, State::Selected { view, .. } if view.is_recent(uid))
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
    pub(crate) async fn sync(&mut self, allow_expunge: bool, force: bool) {
        self.sync_reporting(allow_expunge, force, true).await;
    }

    /// [`Session::sync`]; without `flags`, changes of flags are left for
    /// a later sync (a NOTIFY without FlagChange, RFC 5465 §5.3): the
    /// view takes only new and expunged messages and stays dirty.
    pub(crate) async fn sync_reporting(&mut self, allow_expunge: bool, force: bool, flags: bool) {
        let prefetched = self.prefetched.take();
        let logged_in = self.account();
        let State::Selected {
            account,
            view,
            dirty,
            ..
        } = &mut self.state
        else {
            // Nothing selected: the events only matter to NOTIFY.
            if let (Some(n), Some(rx), Some(account)) =
                (self.notify.as_mut(), self.events.as_mut(), logged_in)
            {
                loop {
                    match rx.try_recv() {
                        Ok(ev) => n.note(&Ok(ev), account),
                        Err(broadcast::error::TryRecvError::Lagged(k)) => {
                            n.note(&Err(broadcast::error::RecvError::Lagged(k)), account);
                        }
                        Err(_) => break,
                    }
                }
            }
            return;
        };
        let (account, owner, mailbox, since) = (*account, view.owner, view.mailbox, view.modseq);
        let prefetched = prefetched.filter(|p| p.mailbox == mailbox && p.since == since);
        // Every commit up to this MODSEQ is in the view or in the prefetched
        // delta: the writer assigns an account's MODSEQs in commit order and
        // both were read after the commit that set the mailbox's highest.
        let covered = prefetched
            .as_ref()
            .map_or(since, |p| since.max(p.delta.highest_modseq.0));
        if let Some(rx) = self.events.as_mut() {
            loop {
                match rx.try_recv() {
                    Ok(ev) => {
                        if let Some(n) = self.notify.as_mut() {
                            n.note(&Ok(ev.clone()), account);
                        }
                        // A shared mailbox changes under its owner's
                        // MODSEQs and events.
                        if ev.account == owner
                            && ev.modseq.0 > covered
                            && ev.mailboxes.contains(&mailbox)
                        {
                            *dirty = true;
                        }
                    }
                    Err(broadcast::error::TryRecvError::Lagged(k)) => {
                        if let Some(n) = self.notify.as_mut() {
                            n.note(&Err(broadcast::error::RecvError::Lagged(k)), account);
                        }
                        *dirty = true;
                    }
                    Err(_) => break,
                }
            }
        }
        let (delta, recent) = match prefetched {
            Some(p) if !*dirty && !force => (p.delta, p.recent),
            _ => {
                if !*dirty && !force {
                    return;
                }
                let (max_uid, read_only) = (view.max_uid(), view.read_only);
                match self
                    .call(move |s| prefetch(s, account, mailbox, since, max_uid, read_only))
                    .await
                {
                    Ok(p) => (p.delta, p.recent),
                    Err(e) => {
                        tracing::debug!("mailbox changes: {e}");
                        return;
                    }
                }
            }
        };
        if let Some(r) = recent
            && let State::Selected { view, .. } = &mut self.state
        {
            view.add_recent(r.first, r.next);
        }
        let how = self.reporting();
        let State::Selected { view, dirty, .. } = &mut self.state else {
            return;
        };
        // RFC 5267 §4.3.2: REMOVEFROM before the EXPUNGE.
        let removed = if allow_expunge && !delta.vanished.is_empty() && !self.contexts.is_empty() {
            crate::cmd::before_expunge(&mut self.contexts, view, &delta.vanished)
        } else {
            Vec::new()
        };
        let changed = !delta.changed.is_empty() || !delta.vanished.is_empty();
        let (data, delta) = if flags {
            let data = view.apply(&delta, how, allow_expunge);
            *dirty = !allow_expunge && view.modseq < delta.highest_modseq.0;
            (data, delta)
        } else {
            // New messages only (and expunges): the flag changes come
            // again from the same MODSEQ at the next sync.
            let max_uid = view.max_uid();
            let mut delta = delta;
            delta.changed.retain(|e| e.uid.0 > max_uid);
            let modseq = view.modseq;
            let data = view.apply(&delta, how, allow_expunge);
            view.modseq = modseq;
            *dirty = true;
            (data, delta)
        };
        // RFC 3501 §7.2.6: a keyword new to the mailbox is announced in
        // FLAGS (and PERMANENTFLAGS) before the FETCH that shows it.
        let announce = view
            .learn_keywords(&delta.changed)
            .then(|| view.flags_responses());
        for d in removed {
            self.put(d);
        }
        for r in announce.into_iter().flatten() {
            self.put(r);
        }
        for d in data {
            self.put(d);
        }
        if changed && !self.contexts.is_empty() {
            self.refresh_contexts().await;
        }
    }

    // ---- dispatch ----

    async fn command(&mut self, bytes: &[u8]) -> Outcome {
        let cmd = match parse_command(bytes, self.opts) {
            Ok(c) => c,
            Err(e) => {
                self.put(e.response());
                return Outcome::Continue;
            }
        };
        let name = cmd.body.name();
        let started = std::time::Instant::now();
        let outcome = self.run_command(cmd).await;
        tidings_metrics::command("imap", name, started.elapsed());
        outcome
    }

    /// Runs a parsed command: the state checks, then its handler.
    async fn run_command(&mut self, cmd: Command) -> Outcome {
        let valid = cmd.body.valid_states();
        let allowed = match self.state {
            State::NotAuthenticated { .. } => valid.not_authenticated,
            State::Authenticated { .. } => valid.authenticated,
            State::Selected { .. } => valid.selected,
            State::Authenticating { .. } | State::Logout => false,
        };
        let Command { tag, body } = cmd;
        if !allowed {
            let name = body.name();
            self.put(Status::bad(&tag, &format!("{name} not allowed now")));
            return Outcome::Continue;
        }
        // RFC 4314: rights on a shared mailbox may be taken away while it
        // is selected; the next command finds out, and the mailbox is
        // closed for it.
        if let Some(refused) = self.check_shared_access(&tag, valid.authenticated).await {
            self.put(refused);
            return Outcome::Continue;
        }
        if self.enabled.uidonly
            && let Some(name) = uses_message_numbers(&body)
        {
            self.put(
                Status::bad(
                    &tag,
                    &format!("{name} uses message numbers; UIDONLY is enabled"),
                )
                .with_code(Code::UidRequired),
            );
            return Outcome::Continue;
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
        // RFC 5267 §4.3: a search's updates end with its mailbox.
        if matches!(
            body,
            CommandBody::Select { .. } | CommandBody::Close | CommandBody::Unselect
        ) {
            self.contexts.clear();
        }
        let force_sync = matches!(body, CommandBody::Noop | CommandBody::Check);
        // RFC 7162 §3.2.10.1: with QRESYNC enabled, the tagged OK of
        // EXPUNGE carries HIGHESTMODSEQ. It must not claim more than the
        // client was told, so the view is brought in line first (a forced
        // sync below, which may also report others' changes) and its
        // mod-sequence is the one sent.
        let expunge_modseq = self.enabled.qresync
            && matches!(body, CommandBody::Expunge | CommandBody::UidExpunge(_));
        let force_sync = force_sync || expunge_modseq;
        let status = match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.put(Data::Capability(caps));
                Status::ok(&tag, "CAPABILITY completed")
            }
            CommandBody::Noop => Status::ok(&tag, "NOOP completed"),
            CommandBody::Logout => {
                self.put(Status::bye("Logging out"));
                self.put(Status::ok(&tag, "LOGOUT completed"));
                self.state = State::Logout;
                return Outcome::Close;
            }
            CommandBody::StartTls => return self.starttls(&tag),
            CommandBody::Login { username, password } => {
                return self.login(&tag, username, password).await;
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => return self.authenticate(&tag, &mechanism, initial_response).await,
            CommandBody::Enable(caps) => self.enable(&tag, &caps),
            CommandBody::Id(_) => {
                self.put(Data::Id(Some(vec![
                    ("name".into(), Some("Tidings".into())),
                    ("version".into(), Some(env!("CARGO_PKG_VERSION").into())),
                ])));
                Status::ok(&tag, "ID completed")
            }
            CommandBody::Namespace => {
                self.put(Data::Namespace {
                    personal: vec![NamespaceDesc {
                        prefix: String::new(),
                        delimiter: Some(tidings_types::SEPARATOR),
                    }],
                    // RFC 2342 §5: mailboxes other accounts shared
                    // (crate::cmd::acl).
                    other: vec![NamespaceDesc {
                        prefix: format!("{}{}", crate::cmd::SHARED_ROOT, tidings_types::SEPARATOR),
                        delimiter: Some(tidings_types::SEPARATOR),
                    }],
                    shared: vec![],
                });
                Status::ok(&tag, "NAMESPACE completed")
            }
            CommandBody::Select {
                mailbox,
                read_only,
                params,
            } => self.select(&tag, &mailbox, read_only, params).await,
            CommandBody::Create {
                mailbox,
                special_use,
            } => self.create(&tag, &mailbox, &special_use).await,
            CommandBody::Delete { mailbox } => self.delete(&tag, &mailbox).await,
            CommandBody::Rename { from, to } => self.rename(&tag, &from, &to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(&tag, &mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&tag, &mailbox, false).await,
            CommandBody::List(l) => self.list(&tag, l).await,
            CommandBody::Lsub { reference, pattern } => self.lsub(&tag, &reference, &pattern).await,
            CommandBody::Status { mailbox, items } => self.status(&tag, &mailbox, &items).await,
            CommandBody::Append { mailbox, messages } => {
                self.append(&tag, &mailbox, messages).await
            }
            CommandBody::Replace {
                uid,
                number,
                mailbox,
                message,
            } => self.replace(&tag, uid, number, &mailbox, message).await,
            CommandBody::Idle => return self.idle(&tag).await,
            CommandBody::Check => Status::ok(&tag, "CHECK completed"),
            CommandBody::Close => self.close(&tag, true).await,
            CommandBody::Unselect => self.close(&tag, false).await,
            CommandBody::Expunge => self.expunge(&tag, None).await,
            CommandBody::UidExpunge(set) => self.expunge(&tag, Some(set)).await,
            CommandBody::Fetch(f) => match self.fetch(&tag, f).await {
                Ok(job) => {
                    self.pending = Some(Pending {
                        job: Job::Fetch(Box::new(job)),
                        allow_expunge,
                        unsolicited: false,
                    });
                    return self.resume().await;
                }
                Err(status) => status,
            },
            CommandBody::Store(s) => self.store(&tag, s).await,
            CommandBody::Copy { uid, set, mailbox } => {
                self.copy_move(&tag, uid, &set, &mailbox, false).await
            }
            CommandBody::Move { uid, set, mailbox } => {
                self.copy_move(&tag, uid, &set, &mailbox, true).await
            }
            CommandBody::Search(_) | CommandBody::Sort(_) | CommandBody::Thread(_) => {
                let command = match body {
                    CommandBody::Search(s) => SearchCommand::Search(s),
                    CommandBody::Sort(s) => SearchCommand::Sort(s),
                    CommandBody::Thread(t) => {
                        let references = match &t.algorithm {
                            tidings_imap_proto::ThreadAlgorithm::OrderedSubject => false,
                            tidings_imap_proto::ThreadAlgorithm::References => true,
                            // RFC 5256 §3: "If the server does not support
                            // the threading algorithm, it MUST return a
                            // tagged BAD response."
                            tidings_imap_proto::ThreadAlgorithm::Other(_) => {
                                self.put(Status::bad(&tag, "Unsupported threading algorithm"));
                                return Outcome::Continue;
                            }
                        };
                        SearchCommand::Thread(t, references)
                    }
                    _ => return Outcome::Continue,
                };
                match self.start_search(&tag, command) {
                    Ok(job) => {
                        self.pending = Some(Pending {
                            job: Job::Search(Box::new(job)),
                            allow_expunge,
                            unsolicited: false,
                        });
                        return self.resume().await;
                    }
                    Err(status) => status,
                }
            }
            CommandBody::GetQuota(root) => self.quota(&tag, None, &root).await,
            CommandBody::GetMetadata {
                mailbox,
                entries,
                max_size,
                depth,
            } => {
                self.get_metadata(&tag, &mailbox, &entries, max_size, depth)
                    .await
            }
            CommandBody::SetMetadata { mailbox, entries } => {
                self.set_metadata(&tag, &mailbox, entries).await
            }
            CommandBody::Notify(set) => self.notify(&tag, set).await,
            CommandBody::CancelUpdate(tags) => self.cancel_update(&tag, &tags),
            CommandBody::ResetKey {
                mailbox,
                mechanisms,
            } => self.reset_key(&tag, mailbox, mechanisms).await,
            CommandBody::GenUrlAuth(urls) => self.gen_url_auth(&tag, urls).await,
            CommandBody::UrlFetch(urls) => self.url_fetch(&tag, urls).await,
            CommandBody::SetAcl {
                mailbox,
                identifier,
                rights,
            } => {
                self.set_acl(&tag, &mailbox, &identifier, Some(&rights))
                    .await
            }
            CommandBody::DeleteAcl {
                mailbox,
                identifier,
            } => self.set_acl(&tag, &mailbox, &identifier, None).await,
            CommandBody::GetAcl { mailbox } => self.get_acl(&tag, &mailbox).await,
            CommandBody::ListRights {
                mailbox,
                identifier,
            } => self.list_rights(&tag, &mailbox, &identifier).await,
            CommandBody::MyRights { mailbox } => self.my_rights(&tag, &mailbox).await,
            CommandBody::GetQuotaRoot(mailbox) => self.quota(&tag, Some(&mailbox), "").await,
            // RFC 9208 §4.3: quotas are set by the administrator.
            CommandBody::SetQuota { .. } => {
                Status::no(&tag, "Quotas are set with tidings user quota").with_code(Code::NoPerm)
            }
            CommandBody::Compress(mechanism) => {
                // RFC 4978 §3: the OK goes out uncompressed, then both
                // directions are raw DEFLATE.
                if self.compressed {
                    self.put(
                        Status::no(&tag, "Compression is already active")
                            .with_code(Code::CompressionActive),
                    );
                    return Outcome::Continue;
                }
                if mechanism != "DEFLATE" {
                    self.put(Status::bad(&tag, "Unknown compression mechanism"));
                    return Outcome::Continue;
                }
                self.sync(true, false).await;
                self.put(Status::ok(&tag, "DEFLATE active"));
                self.compressed = true;
                return Outcome::Compress;
            }
        };
        self.finish(status, allow_expunge, force_sync, expunge_modseq)
            .await;
        Outcome::Continue
    }

    /// What ends every command: the untagged updates the client may be
    /// told now, then the tagged status.
    pub(crate) async fn finish(
        &mut self,
        status: Status,
        allow_expunge: bool,
        force_sync: bool,
        expunge_modseq: bool,
    ) {
        self.sync(allow_expunge, force_sync).await;
        // RFC 5465: notifications for other mailboxes may come any time.
        self.notify_others().await;
        let status = match &self.state {
            State::Selected { view, .. }
                if expunge_modseq && status.kind == StatusKind::Ok && status.code.is_none() =>
            {
                status.with_code(Code::HighestModSeq(view.modseq))
            }
            _ => status,
        };
        self.put(status);
    }

    /// With a mailbox of another account selected, asks the store for the
    /// session's rights on it. Without `r` any more, the mailbox is closed
    /// (`* OK [CLOSED]`, RFC 7162 §3.2.11); a command that needs a
    /// selected mailbox is then refused with `NO [NOPERM]` (returned),
    /// any other runs in the authenticated state.
    async fn check_shared_access(&mut self, tag: &Tag, runs_unselected: bool) -> Option<Status> {
        let State::Selected { account, view, .. } = &self.state else {
            return None;
        };
        if view.owner == *account {
            return None;
        }
        let (account, mailbox) = (*account, view.mailbox);
        let rights = self.call(move |s| s.my_rights(account, mailbox)).await;
        match rights {
            Ok(r) if r.has(tidings_store::Right::Read) => {
                if let State::Selected { view, .. } = &mut self.state {
                    view.rights = r;
                }
                None
            }
            Err(e) if e.is_temporary() => None,
            _ => {
                self.state = State::Authenticated { account };
                self.put(
                    Status::untagged_ok("Access to the mailbox was revoked")
                        .with_code(Code::Closed),
                );
                (!runs_unselected).then(|| {
                    Status::no(tag, "Access to the mailbox was revoked").with_code(Code::NoPerm)
                })
            }
        }
    }

    pub(crate) fn name(&self, tag: &Tag, raw: &str) -> Result<MailboxName, Status> {
        mailbox_name(raw)
            .map_err(|e| Status::no(tag, &format!("Bad mailbox name: {e}")).with_code(Code::Cannot))
    }

    pub(crate) async fn lookup(
        &self,
        account: AccountId,
        name: MailboxName,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.call(move |s| crate::cmd::resolve(s, account, &name))
            .await
    }

    // ---- selected ----

    /// `$` as ranges of UIDs or of the sequence numbers those UIDs have now.
    pub(crate) fn saved_ranges(&self, uid: bool) -> Vec<(u32, u32)> {
        let State::Selected { view, saved, .. } = &self.state else {
            return Vec::new();
        };
        if uid {
            return saved.iter().map(|u| (u.0, u.0)).collect();
        }
        saved
            .iter()
            .filter_map(|u| view.seq_of(*u))
            .map(|n| (n, n))
            .collect()
    }

    /// Sets `$` (RFC 5182) of the selected mailbox.
    pub(crate) fn set_saved(&mut self, uids: Vec<Uid>) {
        if let State::Selected { saved, .. } = &mut self.state {
            *saved = uids;
        }
    }

    pub(crate) fn view(&self) -> Option<(AccountId, &View)> {
        match &self.state {
            State::Selected { account, view, .. } => Some((*account, view)),
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
/// `NO [UNAVAILABLE]`, internal → `NO [SERVERBUG]`, logged).
pub(crate) fn store_error(tag: &Tag, e: &StoreError) -> Status {
    match e {
        StoreError::NotFound(_) => Status::no(tag, &e.to_string()).with_code(Code::NonExistent),
        StoreError::NoPermission(_) => Status::no(tag, &e.to_string()).with_code(Code::NoPerm),
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

/// RFC 9586 §3: after `ENABLE UIDONLY` a command must not use message
/// numbers: FETCH, STORE, SEARCH, SORT, THREAD, COPY, MOVE and REPLACE without
/// UID; a sequence-set search key; QRESYNC's sequence-match data. The
/// command's name if it does.
fn uses_message_numbers(body: &CommandBody) -> Option<&'static str> {
    let numbered = match body {
        CommandBody::Fetch(f) => !f.uid,
        CommandBody::Store(s) => !s.uid,
        CommandBody::Copy { uid, .. }
        | CommandBody::Move { uid, .. }
        | CommandBody::Replace { uid, .. } => !uid,
        CommandBody::Search(s) => !s.uid || has_seq_key(&s.criteria),
        CommandBody::Sort(s) => !s.uid || has_seq_key(&s.search),
        CommandBody::Thread(t) => !t.uid || has_seq_key(&t.search),
        CommandBody::Select { params, .. } => params
            .qresync
            .as_ref()
            .is_some_and(|q| q.seq_match.is_some()),
        _ => false,
    };
    numbered.then(|| body.name())
}

/// Whether a search program has a sequence-set key with message numbers
/// (`$` alone names the saved messages, not numbers).
fn has_seq_key(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::SequenceSet(set) => set
            .items()
            .iter()
            .any(|i| !matches!(i, tidings_imap_proto::SeqItem::Saved)),
        SearchKey::Not(a) => has_seq_key(std::slice::from_ref(a)),
        SearchKey::Or(a, b) => {
            has_seq_key(std::slice::from_ref(a)) || has_seq_key(std::slice::from_ref(b))
        }
        SearchKey::And(v) => has_seq_key(v),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    //! The session driven directly, without a socket: frames in, responses
    //! and outcomes out, over a real store in a temporary directory.

    use super::*;
    use tidings_net::AuthLimiter;
    use tidings_store::{FlagOp, NewEmail};
    use tidings_types::{Keyword, MailboxName, MailboxRole};

    use crate::ImapConfig;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        account: AccountId,
        session: Session,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_domain("example.org").unwrap();
        let account = store
            .create_account("bob@example.org", &Secret::new("pw".to_string()))
            .unwrap();
        let shared = Arc::new(Shared {
            store: store.clone(),
            config: ImapConfig::default(),
            limiter: AuthLimiter::default(),
        });
        let session = Session::new(shared, IpAddr::from([127, 0, 0, 1]), false, true);
        Fixture {
            _dir: dir,
            store,
            account,
            session,
        }
    }

    impl Fixture {
        /// Logged in without a password check (that costs an argon2 hash).
        fn logged_in(mut self) -> Self {
            self.session.state = State::Authenticated {
                account: self.account,
            };
            self.session.events = Some(self.store.subscribe());
            self
        }

        fn deliver(&self, n: usize, body_len: usize) {
            let inbox = self
                .store
                .mailbox_by_role(self.account, MailboxRole::Inbox)
                .unwrap()
                .unwrap();
            let body = "x".repeat(body_len);
            for i in 0..n {
                let raw = format!(
                    "From: ann@example.net\r\nSubject: m{i}\r\nMessage-ID: <m{i}@example.net>\r\n\r\n{body}\r\n"
                );
                self.store
                    .append(
                        self.account,
                        inbox.id,
                        NewEmail {
                            raw: raw.as_bytes(),
                            ..NewEmail::default()
                        },
                    )
                    .unwrap();
            }
        }

        /// Hands one line to the session; what it answered and asked.
        /// Handles one command; a SEARCH, SORT or THREAD is driven to
        /// its end as the connection loop does (a FETCH is left to the
        /// test).
        async fn send(&mut self, line: &str) -> (Outcome, String) {
            let mut outcome = self.session.handle(format!("{line}\r\n").as_bytes()).await;
            while outcome == Outcome::More
                && matches!(
                    self.session.pending,
                    Some(Pending {
                        job: Job::Search(_),
                        ..
                    })
                )
            {
                outcome = self.session.resume().await;
            }
            (outcome, self.take())
        }

        fn take(&mut self) -> String {
            String::from_utf8(std::mem::take(&mut self.session.out)).unwrap()
        }
    }

    #[tokio::test]
    async fn authenticate_plain_without_initial_response_waits_in_a_state() {
        let mut f = fixture();
        assert_eq!(f.session.framer_limits(), crate::PREAUTH_LIMITS);
        let (outcome, out) = f.send("a AUTHENTICATE PLAIN").await;
        assert_eq!(outcome, Outcome::Continue);
        assert_eq!(out, "+ \r\n");
        assert!(matches!(f.session.state, State::Authenticating { .. }));
        assert!(!f.session.logged_in());
        // "\0bob@example.org\0pw"
        let (outcome, out) = f.send("AGJvYkBleGFtcGxlLm9yZwBwdw==").await;
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.starts_with("a OK [CAPABILITY "), "{out}");
        assert!(f.session.logged_in());
        // Logged in: the logged-in limits, with big APPEND literals spooled.
        assert_eq!(
            f.session.framer_limits(),
            FramerLimits {
                spool_append_literal: tidings_store::spool::SPOOL_THRESHOLD as u64,
                ..ImapConfig::default().limits
            }
        );
    }

    #[tokio::test]
    async fn authenticate_is_cancelled_by_a_star_and_a_refused_line_ends_it() {
        let mut f = fixture();
        f.send("a AUTHENTICATE LOGIN").await;
        let (_, out) = f.send("*").await;
        assert_eq!(out, "a BAD Authentication cancelled\r\n");
        assert!(matches!(
            f.session.state,
            State::NotAuthenticated { failures: 0 }
        ));
        // A line the framer refused during the exchange ends it with BAD.
        f.send("b AUTHENTICATE PLAIN").await;
        let outcome = f
            .session
            .rejected(None, FrameError::LineTooLong { limit: 8192 })
            .await;
        assert_eq!(outcome, Outcome::Continue);
        assert!(f.take().starts_with("b BAD Invalid SASL response"));
        // Commands work again afterwards.
        let (_, out) = f.send("c NOOP").await;
        assert_eq!(out, "c OK NOOP completed\r\n");
    }

    #[tokio::test]
    async fn starttls_and_compress_are_outcomes_for_the_loop() {
        let mut f = fixture();
        let (outcome, out) = f.send("a STARTTLS").await;
        assert_eq!(outcome, Outcome::StartTls);
        assert_eq!(out, "a OK Begin TLS negotiation now\r\n");
        f.session.tls_started();
        let (outcome, out) = f.send("b STARTTLS").await;
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.starts_with("b BAD"), "{out}");
        let mut f = f.logged_in();
        let (outcome, out) = f.send("c COMPRESS DEFLATE").await;
        assert_eq!(outcome, Outcome::Compress);
        assert_eq!(out, "c OK DEFLATE active\r\n");
        let (outcome, out) = f.send("d COMPRESS DEFLATE").await;
        assert_eq!(outcome, Outcome::Continue);
        assert!(out.starts_with("d NO [COMPRESSIONACTIVE]"), "{out}");
    }

    #[tokio::test]
    async fn a_large_fetch_is_handed_out_in_batches() {
        let mut f = fixture().logged_in();
        f.deliver(70, 100);
        f.send("s SELECT INBOX").await;
        let (mut outcome, mut out) = f.send("f FETCH 1:* (UID BODY.PEEK[])").await;
        let mut rounds = 1;
        while outcome == Outcome::More {
            assert!(!out.contains("f OK"), "tagged reply before the last batch");
            outcome = f.session.resume().await;
            out.push_str(&f.take());
            rounds += 1;
        }
        assert_eq!(outcome, Outcome::Continue);
        // 70 messages, FETCH_BATCH (32) at a time.
        assert_eq!(rounds, 3);
        assert_eq!(out.matches(" FETCH (UID ").count(), 70);
        assert!(out.ends_with("f OK FETCH completed\r\n"), "{out}");
    }

    #[tokio::test]
    async fn a_long_search_yields_between_pieces_with_inprogress() {
        let mut f = fixture();
        // RFC 9585: report after every piece.
        let config = ImapConfig {
            progress_interval: std::time::Duration::ZERO,
            ..ImapConfig::default()
        };
        f.session = Session::new(
            Arc::new(Shared {
                store: f.store.clone(),
                config,
                limiter: AuthLimiter::default(),
            }),
            IpAddr::from([127, 0, 0, 1]),
            false,
            true,
        );
        let mut f = f.logged_in();
        f.deliver(600, 10);
        f.send("s SELECT INBOX").await;
        let mut outcome = f.session.handle(b"t1 SEARCH HEADER Subject m599\r\n").await;
        let mut out = f.take();
        let mut rounds = 0;
        while outcome == Outcome::More {
            assert!(!out.contains("t1 OK"), "tagged reply before the end");
            assert!(std::mem::take(&mut f.session.flush_soon), "{out}");
            outcome = f.session.resume().await;
            out.push_str(&f.take());
            rounds += 1;
        }
        assert_eq!(outcome, Outcome::Continue);
        // The preparation, then 600 messages SEARCH_BATCH (256) at a time.
        assert_eq!(rounds, 3, "{out}");
        let progress: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("* OK [INPROGRESS"))
            .collect();
        assert_eq!(
            progress,
            [
                "* OK [INPROGRESS (\"t1\" 0 600)] Searching",
                "* OK [INPROGRESS (\"t1\" 256 600)] Searching",
                "* OK [INPROGRESS (\"t1\" 512 600)] Searching",
            ]
        );
        assert!(
            out.ends_with("* SEARCH 600\r\nt1 OK SEARCH completed\r\n"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn idle_reports_new_mail_from_an_event_and_ends_with_done() {
        let mut f = fixture().logged_in();
        f.deliver(1, 10);
        f.send("s SELECT INBOX").await;
        let (outcome, out) = f.send("i IDLE").await;
        assert_eq!(outcome, Outcome::Idle);
        assert_eq!(out, "+ idling\r\n");
        f.deliver(1, 10);
        let ev = f.session.next_event().await;
        assert!(f.session.idle_event(ev).await);
        assert!(f.take().contains("* 2 EXISTS\r\n"));
        f.session.idle_done(b"DONE\r\n").await;
        assert_eq!(f.take(), "i OK IDLE terminated\r\n");
    }

    /// Regression: THREAD skipped the CONDSTORE step that SEARCH and SORT
    /// take (RFC 7162 §3.1: a MODSEQ search key is a CONDSTORE-enabling
    /// command), so a later STORE did not report MODSEQ.
    #[tokio::test]
    async fn thread_with_a_modseq_key_enables_condstore() {
        let mut f = fixture().logged_in();
        f.deliver(1, 10);
        f.send("s SELECT INBOX").await;
        let (_, out) = f.send("t THREAD REFERENCES UTF-8 MODSEQ 1").await;
        assert!(out.ends_with("t OK THREAD completed\r\n"), "{out}");
        let (_, out) = f.send("u STORE 1 +FLAGS (\\Seen)").await;
        assert!(out.contains("MODSEQ ("), "{out}");
    }

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

    #[tokio::test]
    async fn new_mail_is_recent_in_the_first_session_that_sees_it() {
        let mut f = fixture().logged_in();
        f.deliver(2, 10);
        let mut other = Fixture {
            _dir: tempfile::tempdir().unwrap(),
            store: f.store.clone(),
            account: f.account,
            session: Session::new(
                Arc::clone(&f.session.shared),
                IpAddr::from([127, 0, 0, 1]),
                false,
                false,
            ),
        }
        .logged_in();
        let (_, out) = other.send("e EXAMINE INBOX").await;
        assert!(out.contains("* 2 RECENT\r\n"), "{out}");
        let (_, out) = f.send("s SELECT INBOX").await;
        assert!(
            out.contains("* 2 RECENT\r\n"),
            "EXAMINE took nothing: {out}"
        );
        let (_, out) = other.send("s SELECT INBOX").await;
        assert!(out.contains("* 0 RECENT\r\n"), "{out}");
        f.deliver(1, 10);
        let (_, out) = other.send("n NOOP").await;
        assert!(out.contains("* 3 EXISTS\r\n* 1 RECENT\r\n"), "{out}");
        let (_, out) = f.send("n NOOP").await;
        assert!(
            out.contains("* 3 EXISTS\r\n") && !out.contains("RECENT"),
            "{out}"
        );
        let (_, out) = other.send("f FETCH 1:3 FLAGS").await;
        assert_eq!(out.matches("\\Recent").count(), 1, "{out}");
        let (_, out) = f.send("r SEARCH RECENT").await;
        assert!(out.starts_with("* SEARCH 1 2\r\n"), "{out}");
    }
    /// The sync after a write uses the changes read with the write
    /// ([`Session::call_and_prefetch`]): a change another connection
    /// committed before it still shows in the reply, and the write's own
    /// change event asks for nothing more.
    #[tokio::test]
    async fn a_store_reply_carries_another_writers_change_and_no_echo_of_its_own() {
        let mut f = fixture().logged_in();
        f.deliver(3, 10);
        f.send("s SELECT INBOX").await;
        let inbox = f
            .store
            .mailbox_by_role(f.account, MailboxRole::Inbox)
            .unwrap()
            .unwrap();
        let flagged = Keyword::new("\\Flagged").unwrap();
        f.store
            .store_flags(
                f.account,
                inbox.id,
                &[Uid(2)],
                FlagOp::Add,
                &[flagged],
                None,
            )
            .unwrap();
        let (_, out) = f.send("a STORE 1 +FLAGS.SILENT (\\Seen)").await;
        assert_eq!(
            out,
            "* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\na OK STORE completed\r\n"
        );
        let (_, out) = f.send("n NOOP").await;
        assert_eq!(out, "n OK NOOP completed\r\n");
        // APPEND into the selected mailbox: EXISTS and RECENT come with it.
        let msg = "From: ann@example.net\r\nSubject: new\r\n\r\nhi\r\n";
        let (_, out) = f
            .send(&format!("p APPEND INBOX {{{}+}}\r\n{msg}", msg.len()))
            .await;
        assert!(
            out.starts_with("* 4 EXISTS\r\n* 4 RECENT\r\np OK [APPENDUID "),
            "{out}"
        );
        let (_, out) = f.send("n NOOP").await;
        assert_eq!(out, "n OK NOOP completed\r\n");
    }

    /// RFC 5465: a lost stretch of events (the session fell behind the
    /// store's event channel) is recovered from the store, not dropped;
    /// a round of notifications over the bound is dropped for
    /// `* OK [NOTIFICATIONOVERFLOW]` and NOTIFY is off (§5.8).
    #[tokio::test]
    async fn notify_recovers_lost_events_and_overflows_within_its_bound() {
        let mut f = fixture().logged_in();
        let mut ids = Vec::new();
        for i in 0..5 {
            let name = MailboxName::new(&format!("box{i}")).unwrap();
            ids.push(f.store.create_mailbox(f.account, &name, None).unwrap());
        }
        let (_, out) = f
            .send("n NOTIFY SET (personal (MessageNew MessageExpunge))")
            .await;
        assert_eq!(out, "n OK NOTIFY completed\r\n");
        let append = |f: &Fixture, mailbox| {
            let raw = b"From: ann@example.net\r\nSubject: x\r\n\r\nhi\r\n";
            f.store
                .append(
                    f.account,
                    mailbox,
                    NewEmail {
                        raw,
                        ..NewEmail::default()
                    },
                )
                .unwrap();
        };
        append(&f, ids[0]);
        let lost = Err(broadcast::error::RecvError::Lagged(7));
        assert_eq!(f.session.notify_event(lost).await, Outcome::Continue);
        let out = f.take();
        assert!(
            out.contains("* STATUS box0 (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\n"),
            "{out}"
        );
        // Every mailbox changes; the round is over a 100-byte bound.
        f.session.notify.as_mut().unwrap().round_limit = 100;
        for &id in &ids {
            append(&f, id);
        }
        let lost = Err(broadcast::error::RecvError::Lagged(7));
        f.session.notify_event(lost).await;
        assert_eq!(
            f.take(),
            "* OK [NOTIFICATIONOVERFLOW] Too many notifications; NOTIFY is off\r\n"
        );
        assert!(!f.session.notify_active());
        let (_, out) = f.send("z NOOP").await;
        assert_eq!(out, "z OK NOOP completed\r\n");
    }

    /// A change no event announced (another process writing the store) is
    /// found by NOTIFY's poll: the mailbox's HIGHESTMODSEQ moved.
    #[tokio::test]
    async fn notify_poll_finds_changes_without_events() {
        let mut f = fixture().logged_in();
        let name = MailboxName::new("Work").unwrap();
        let work = f.store.create_mailbox(f.account, &name, None).unwrap();
        let (_, out) = f
            .send("n NOTIFY SET (subtree Work (MessageNew MessageExpunge))")
            .await;
        assert_eq!(out, "n OK NOTIFY completed\r\n");
        // The session is not subscribed to events any more: they never
        // reach it, as for a write by another process.
        f.session.events = None;
        let raw = b"From: ann@example.net\r\nSubject: x\r\n\r\nhi\r\n";
        f.store
            .append(
                f.account,
                work,
                NewEmail {
                    raw,
                    ..NewEmail::default()
                },
            )
            .unwrap();
        assert_eq!(f.session.notify_poll().await, Outcome::Continue);
        assert_eq!(
            f.take(),
            "* STATUS Work (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\n"
        );
        // Nothing moved since: nothing said.
        f.session.notify_poll().await;
        assert_eq!(f.take(), "");
    }
}
