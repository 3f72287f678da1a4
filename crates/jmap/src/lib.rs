//! JMAP over the Tidings store: the core protocol (RFC 8620) and mail
//! (RFC 8621), independent of HTTP.
//!
//! The HTTP server (`tidings-web`) authenticates the caller and hands this
//! crate the request body; [`Jmap::api`] parses the Request object, runs the
//! method calls in order (resolving back-references, §3.7) and returns the
//! Response object, or a [`RequestError`] that the server sends as problem
//! details. [`Jmap::session`] builds the session resource (§2) and
//! [`Jmap::download`] serves blobs (§6.2). The same code serves the
//! WebSocket transport (RFC 8887) and the webmail. PushSubscriptions are
//! stored here; the server delivers them through a [`PushSender`].
//!
//! Main types: [`Jmap`], [`Limits`], [`Caller`], [`RequestError`],
//! [`MethodError`]. One module per method family (`mailbox/get.rs`,
//! `email/query.rs`, …), each family's request and response types in its
//! `types.rs`.
//!
//! Implementation notes:
//! - Ids are the store's: account `A1`, mailbox `F3`, email `M42`, thread
//!   `T7`. An email's blobId is its id; a body part's is `M42.P3`
//!   (the part's position in the parsed message), downloaded decoded;
//!   an upload's `G{sha256}`; parts nest (`G….P2.P1`, see `blob/`).
//! - New emails (`Email/import`, `Email/set` create, `Email/copy`) are
//!   stored by `email/new.rs` through the store's ingest, the one SMTP
//!   delivery uses; `email/build.rs` writes the MIME of a created one.
//! - Every state string (Mailbox, Email, Thread, query) is the account's
//!   MODSEQ: one counter bumped by every change, whoever made it (IMAP,
//!   POP3, SMTP, JMAP). A state may thus change with nothing of that type
//!   changed, which RFC 8620 §5.1 allows.
//! - Calls are blocking (the store is): the server runs [`Jmap::api`] on a
//!   blocking thread.
//! - An id of another account is never found: every store call is scoped
//!   to the caller's account. A mailbox another account shares with the
//!   caller (IMAP ACL) makes that account a shared one in the session
//!   (`SharedAccount`): read-only, mail only; its calls run with the
//!   caller's id, so the store checks the caller's rights, and the view
//!   holds only what the caller may look up and read.
//! - Keywords: `$seen`, `$flagged`, `$answered`, `$draft` are the IMAP
//!   system flags `\Seen`, `\Flagged`, `\Answered`, `\Draft` (RFC 8621
//!   §4.1.1); other keywords are compared case-insensitively and shown in
//!   lower case.
//!
//! - Identity, EmailSubmission and VacationResponse (RFC 8621 §§6-8):
//!   `identity/`, `submission/` (sending through the [`Outbound`] trait
//!   the server implements with the SMTP queue) and `vacation/`; the first
//!   two are stored as small per-account collections (`objects.rs`).
//!
//! Must not depend on any HTTP crate or any other protocol crate.

#![forbid(unsafe_code)]

mod blob;
mod changes;
mod core;
mod date;
mod email;
pub mod error;
mod identity;
mod mailbox;
mod objects;
mod push_subscription;
mod quota;
mod reference;
pub mod request;
mod search_snippet;
pub mod submission;
mod thread;
mod vacation;
mod view;

use serde_json::{Map, Value, json};
use tidings_store::Store;
use tidings_types::AccountId;

pub use blob::{parse_upload_blob_id, upload_blob_id};
pub use error::{MethodError, RequestError, SetError};
pub use push_subscription::{PushSender, PushTarget};
use request::{Request, Response};
pub use submission::{Outbound, Outgoing, SendError};

/// The capability of the core protocol (RFC 8620 §2).
pub const CORE: &str = "urn:ietf:params:jmap:core";
/// The capability of mail (RFC 8621 §1.3.1).
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
/// The capability of submission (RFC 8621 §1.3.2).
pub const SUBMISSION: &str = submission::CAPABILITY;
/// The capability of the vacation response (RFC 8621 §1.3.3).
pub const VACATION: &str = vacation::CAPABILITY;
/// The capability of quotas (RFC 9425 §3).
pub const QUOTA: &str = quota::CAPABILITY;
/// The capability of JMAP over WebSocket (RFC 8887 §4.1).
pub const WEBSOCKET: &str = "urn:ietf:params:jmap:websocket";

/// The request limits advertised in the core capability and enforced.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, bytes (enforced by the HTTP server, which
    /// stops reading there).
    pub max_size_request: usize,
    pub max_calls_in_request: usize,
    pub max_objects_in_get: usize,
    pub max_objects_in_set: usize,
    /// Concurrent API requests per account (enforced by the HTTP server).
    pub max_concurrent_requests: usize,
    /// The largest blob download served, bytes.
    pub max_size_download: u64,
    /// The longest an EmailSubmission may be held before it leaves
    /// (RFC 8621 §1.3.2 `maxDelayedSend`, seconds): the undo-send window.
    pub max_delayed_send: u64,
    /// The largest upload, bytes (RFC 8620 §6.1 `maxSizeUpload`; enforced
    /// by the HTTP server while the body arrives).
    pub max_size_upload: u64,
    /// Uploads in progress per account (`maxConcurrentUpload`).
    pub max_concurrent_upload: usize,
    /// Bytes of live uploads an account may hold.
    pub upload_quota: u64,
    /// How long an upload is kept, seconds (RFC 8620 §6.1: at least an
    /// hour).
    pub upload_ttl: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size_request: 10_000_000,
            max_calls_in_request: 16,
            max_objects_in_get: 500,
            max_objects_in_set: 500,
            max_concurrent_requests: 4,
            max_size_download: 256 * 1024 * 1024,
            max_delayed_send: 30,
            max_size_upload: 50_000_000,
            max_concurrent_upload: 4,
            upload_quota: 500_000_000,
            upload_ttl: 24 * 3600,
        }
    }
}

/// The authenticated user a request is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    /// The login name (the account's address).
    pub username: String,
}

/// The URLs of the session resource, made absolute by the server.
#[derive(Clone, Debug)]
pub struct Urls {
    pub api: String,
    pub download: String,
    pub upload: String,
    pub event_source: String,
    /// The WebSocket endpoint (`ws://` or `wss://`, RFC 8887 §4.1).
    pub websocket: String,
}

/// A blob to send: its bytes and media type.
#[derive(Debug)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No such blob in this account (also: another account's).
    #[error("blob not found")]
    NotFound,
    #[error("blob larger than the download limit")]
    TooLarge,
    #[error("store error: {0}")]
    Store(#[from] tidings_store::StoreError),
}

/// JMAP over one store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Jmap {
    store: Store,
    limits: Limits,
    /// Where EmailSubmission sends (none: `forbiddenToSend`).
    outbound: Option<std::sync::Arc<dyn Outbound>>,
    /// Where PushSubscription verifications go (none: no subscriptions).
    push: Option<std::sync::Arc<dyn PushSender>>,
    /// The account views of the accounts used last.
    views: std::sync::Arc<view::ViewCache>,
}

/// How many emails the account views kept between requests hold at most
/// (about 150 bytes each).
pub const VIEW_CACHE_EMAILS: usize = 1_000_000;

/// What a method needs: the store, the caller's account, the limits, and
/// the account view shared by the calls of one request while the state
/// does not change.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub account: AccountId,
    pub limits: &'a Limits,
    view: std::cell::RefCell<Option<(String, std::sync::Arc<view::AccountView>)>>,
    /// The views kept between requests.
    views: &'a view::ViewCache,
    /// The other user's account a call is on, when it is not the
    /// caller's own (see [`SharedAccount`]); `account` stays the caller,
    /// so every store call checks the caller's rights.
    pub shared: Option<SharedAccount>,
    /// Creation id → id of what this request created (RFC 8620 §3.3
    /// `createdIds`), seeded from the request's.
    pub created: &'a std::cell::RefCell<Map<String, Value>>,
    /// Where EmailSubmission sends.
    pub outbound: Option<&'a dyn Outbound>,
    /// Where PushSubscription verifications go.
    pub push: Option<&'a dyn PushSender>,
    /// Responses of implicit calls a method made (RFC 8621 §7.5's
    /// `Email/set` after `EmailSubmission/set`), sent after its own.
    pub implicit: &'a std::cell::RefCell<Vec<(String, Value)>>,
    /// The accounts shared with the caller, read at the first call that
    /// names one.
    shared_accounts: &'a std::cell::OnceCell<Vec<SharedAccount>>,
}

/// Another user's account that shares mailboxes with the caller (IMAP
/// ACL, RFC 4314), as JMAP shows it (RFC 8620 §1.6.2): the mailboxes the
/// caller may look up (`l`), each with the caller's rights.
#[derive(Clone, Debug)]
pub(crate) struct SharedAccount {
    pub owner: AccountId,
    /// The owner's address.
    pub name: String,
    pub mailboxes: Vec<(tidings_store::Mailbox, tidings_store::Rights)>,
}

/// The accounts that share at least one mailbox the caller may look up,
/// by owner id.
pub(crate) fn shared_accounts(
    store: &Store,
    caller: AccountId,
) -> Result<Vec<SharedAccount>, tidings_store::StoreError> {
    let mut out: Vec<SharedAccount> = Vec::new();
    for shared in store.shared_mailboxes(caller)? {
        if !shared.rights.has(tidings_store::Right::Lookup) {
            continue;
        }
        let owner = shared.mailbox.account;
        match out.iter_mut().find(|a| a.owner == owner) {
            Some(account) => account.mailboxes.push((shared.mailbox, shared.rights)),
            None => out.push(SharedAccount {
                owner,
                name: shared.owner,
                mailboxes: vec![(shared.mailbox, shared.rights)],
            }),
        }
    }
    out.sort_by_key(|a| a.owner);
    Ok(out)
}

impl Ctx<'_> {
    /// Checks a method's `accountId` argument (RFC 8620 §3.6.2
    /// accountNotFound): the account the call is on.
    pub fn check_account(&self, account_id: &str) -> Result<(), MethodError> {
        if AccountId::parse(account_id) == Some(self.target()) {
            Ok(())
        } else {
            Err(MethodError::AccountNotFound(account_id.to_string()))
        }
    }

    /// The account view at `state` (read by [`Ctx::state`] just before):
    /// the one an earlier call of the request loaded if the state is the
    /// same, else loaded now. Loaded after the state was read, a view is
    /// never older than its state string says.
    pub fn view(&self, state: &str) -> Result<std::sync::Arc<view::AccountView>, MethodError> {
        if let Some((at, view)) = &*self.view.borrow()
            && at == state
        {
            return Ok(std::sync::Arc::clone(view));
        }
        let view = match &self.shared {
            None => {
                let modseq = state.parse().unwrap_or(0);
                self.views.view(self.store, self.account, modseq)?
            }
            Some(shared) => std::sync::Arc::new(view::AccountView::load_shared(
                self.store,
                self.account,
                shared,
            )?),
        };
        *self.view.borrow_mut() = Some((state.to_string(), std::sync::Arc::clone(&view)));
        Ok(view)
    }

    /// The account's current state (its MODSEQ; a shared account's is
    /// its owner's).
    pub fn state(&self) -> Result<String, MethodError> {
        let account = self
            .store
            .account_by_id(self.target())?
            .ok_or_else(|| MethodError::ServerFail("account vanished".into()))?;
        Ok(account.modseq.0.to_string())
    }
}

impl<'a> Ctx<'a> {
    /// The account the call is on: the caller's, or a shared one.
    pub fn target(&self) -> AccountId {
        self.shared.as_ref().map_or(self.account, |s| s.owner)
    }

    /// The shared account `id`, if it is one the caller sees.
    fn shared_account(&self, id: AccountId) -> Result<Option<SharedAccount>, MethodError> {
        if self.shared_accounts.get().is_none() {
            let list = shared_accounts(self.store, self.account)?;
            let _ = self.shared_accounts.set(list);
        }
        Ok(self
            .shared_accounts
            .get()
            .and_then(|list| list.iter().find(|a| a.owner == id))
            .cloned())
    }

    /// This request's context for a call on `shared`.
    fn on(&self, shared: SharedAccount) -> Ctx<'a> {
        Ctx {
            store: self.store,
            account: self.account,
            limits: self.limits,
            view: std::cell::RefCell::new(None),
            views: self.views,
            shared: Some(shared),
            created: self.created,
            outbound: self.outbound,
            push: self.push,
            implicit: self.implicit,
            shared_accounts: self.shared_accounts,
        }
    }
}

impl Jmap {
    pub fn new(store: Store, limits: Limits) -> Self {
        Jmap {
            store,
            limits,
            outbound: None,
            push: None,
            views: std::sync::Arc::new(view::ViewCache::new(VIEW_CACHE_EMAILS)),
        }
    }

    /// Sends EmailSubmissions through `outbound`.
    pub fn with_outbound(mut self, outbound: std::sync::Arc<dyn Outbound>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    /// Allows PushSubscriptions, verified through `push`.
    pub fn with_push(mut self, push: std::sync::Arc<dyn PushSender>) -> Self {
        self.push = Some(push);
        self
    }

    /// Where to push a change of `account`: each verified
    /// PushSubscription (RFC 8620 §7.2), expired or not. Blocking.
    pub fn push_targets(&self, account: AccountId) -> Result<Vec<PushTarget>, MethodError> {
        push_subscription::targets(&self.store, account)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The session state: changes only if the session object would (the
    /// caller and the accounts shared with it).
    fn session_state(caller: &Caller, shared: &[SharedAccount]) -> String {
        let mut state = format!("s{}", caller.account.0);
        for account in shared {
            state.push_str(&format!("-{}", account.owner.0));
        }
        state
    }

    /// The session resource (RFC 8620 §2), with the accounts that share
    /// mailboxes with the caller (read-only, mail only). Blocking.
    pub fn session(&self, caller: &Caller, urls: &Urls) -> Result<Value, MethodError> {
        let shared = shared_accounts(&self.store, caller.account)?;
        let account_id = caller.account.to_string();
        let l = &self.limits;
        let mut session = json!({
            "capabilities": {
                CORE: {
                    "maxSizeUpload": l.max_size_upload,
                    "maxConcurrentUpload": l.max_concurrent_upload,
                    "maxSizeRequest": l.max_size_request,
                    "maxConcurrentRequests": l.max_concurrent_requests,
                    "maxCallsInRequest": l.max_calls_in_request,
                    "maxObjectsInGet": l.max_objects_in_get,
                    "maxObjectsInSet": l.max_objects_in_set,
                    "collationAlgorithms": ["i;ascii-casemap"],
                },
                MAIL: {},
                SUBMISSION: {},
                VACATION: {},
                QUOTA: {},
                WEBSOCKET: { "url": urls.websocket, "supportsPush": true },
            },
            "accounts": {
                account_id.clone(): {
                    "name": caller.username,
                    "isPersonal": true,
                    "isReadOnly": false,
                    "accountCapabilities": {
                        CORE: {},
                        MAIL: {
                            "maxMailboxesPerEmail": null,
                            "maxMailboxDepth": null,
                            "maxSizeMailboxName": 255,
                            "maxSizeAttachmentsPerEmail": l.max_size_upload,
                            "emailQuerySortOptions": email::query::SORT_PROPERTIES,
                            "mayCreateTopLevelMailbox": true,
                        },
                        SUBMISSION: {
                            "maxDelayedSend": l.max_delayed_send,
                            // RFC 4865 FUTURERELEASE: the longest hold.
                            "submissionExtensions": {
                                "FUTURERELEASE": [l.max_delayed_send.to_string()],
                            },
                        },
                        VACATION: {},
                        QUOTA: {},
                    },
                },
            },
            "primaryAccounts": {
                CORE: account_id.clone(),
                MAIL: account_id.clone(),
                SUBMISSION: account_id.clone(),
                VACATION: account_id.clone(),
                QUOTA: account_id,
            },
            "username": caller.username,
            "apiUrl": urls.api,
            "downloadUrl": urls.download,
            "uploadUrl": urls.upload,
            "eventSourceUrl": urls.event_source,
            "state": Self::session_state(caller, &shared),
        });
        for account in &shared {
            session["accounts"][account.owner.to_string()] = json!({
                "name": account.name,
                "isPersonal": false,
                "isReadOnly": true,
                "accountCapabilities": {
                    MAIL: {
                        "maxMailboxesPerEmail": null,
                        "maxMailboxDepth": null,
                        "maxSizeMailboxName": 255,
                        "maxSizeAttachmentsPerEmail": l.max_size_upload,
                        "emailQuerySortOptions": email::query::SORT_PROPERTIES,
                        "mayCreateTopLevelMailbox": false,
                    },
                },
            });
        }
        Ok(session)
    }

    /// Runs an API request (RFC 8620 §3): `body` is the HTTP body, already
    /// cut at `max_size_request` by the server.
    pub fn api(&self, caller: &Caller, body: &[u8]) -> Result<Response, RequestError> {
        if body.len() > self.limits.max_size_request {
            return Err(RequestError::Limit {
                limit: "maxSizeRequest",
                detail: format!("at most {} bytes", self.limits.max_size_request),
            });
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
        let request: Request =
            serde_json::from_value(value).map_err(|e| RequestError::NotRequest(e.to_string()))?;
        for capability in &request.using {
            if ![CORE, MAIL, SUBMISSION, VACATION, QUOTA, WEBSOCKET].contains(&capability.as_str())
            {
                return Err(RequestError::UnknownCapability(capability.clone()));
            }
        }
        if request.method_calls.len() > self.limits.max_calls_in_request {
            return Err(RequestError::Limit {
                limit: "maxCallsInRequest",
                detail: format!(
                    "{} method calls, at most {}",
                    request.method_calls.len(),
                    self.limits.max_calls_in_request
                ),
            });
        }
        let created = std::cell::RefCell::new(request.created_ids.clone().unwrap_or_default());
        let implicit = std::cell::RefCell::new(Vec::new());
        let shared_accounts = std::cell::OnceCell::new();
        let ctx = Ctx {
            store: &self.store,
            account: caller.account,
            limits: &self.limits,
            view: std::cell::RefCell::new(None),
            views: self.views.as_ref(),
            shared: None,
            created: &created,
            outbound: self.outbound.as_deref(),
            push: self.push.as_deref(),
            implicit: &implicit,
            shared_accounts: &shared_accounts,
        };
        let mut responses: Vec<(String, Value, String)> = Vec::new();
        for request::Invocation(name, args, call_id) in request.method_calls {
            let result = reference::resolve(args, &responses)
                .and_then(|args| dispatch(&ctx, &request.using, &name, args));
            match result {
                Ok(value) => {
                    responses.push((name, value, call_id.clone()));
                    for (name, value) in ctx.implicit.borrow_mut().drain(..) {
                        responses.push((name, value, call_id.clone()));
                    }
                }
                Err(e) => {
                    tracing::debug!(method = %name, "JMAP method error: {e}");
                    responses.push(("error".to_string(), e.to_json(), call_id));
                }
            }
        }
        // The session's state names the shared accounts: read them if no
        // call did.
        let session_state = match shared_accounts.get() {
            Some(list) => Self::session_state(caller, list),
            None => match crate::shared_accounts(&self.store, caller.account) {
                Ok(list) => Self::session_state(caller, &list),
                Err(e) => {
                    tracing::warn!("shared accounts of {}: {e}", caller.account);
                    Self::session_state(caller, &[])
                }
            },
        };
        Ok(Response {
            method_responses: responses,
            // §3.4: returned only if the request had it, with what was added.
            created_ids: request.created_ids.map(|_| created.into_inner()),
            session_state,
        })
    }

    /// A blob of the caller's account (RFC 8620 §6.2).
    pub fn download(
        &self,
        caller: &Caller,
        account_id: &str,
        blob_id: &str,
    ) -> Result<Blob, DownloadError> {
        let Some(account) = AccountId::parse(account_id) else {
            return Err(DownloadError::NotFound);
        };
        if account != caller.account {
            // A shared account's blobs are its emails (and their parts)
            // in mailboxes the caller may read.
            let shared = shared_accounts(&self.store, caller.account)?
                .into_iter()
                .find(|a| a.owner == account)
                .ok_or(DownloadError::NotFound)?;
            let view = view::AccountView::load_shared(&self.store, caller.account, &shared)?;
            let email = blob_id
                .split(".P")
                .next()
                .and_then(tidings_types::EmailId::parse);
            if !email.is_some_and(|e| view.emails.contains_key(&e)) {
                return Err(DownloadError::NotFound);
            }
        }
        blob::fetch(&self.store, caller.account, blob_id, &self.limits)
    }
}

/// Runs one method; a method whose capability is not in `using` is
/// unknown (RFC 8620 §3.6.2 unknownMethod).
fn dispatch(
    ctx: &Ctx<'_>,
    using: &[String],
    name: &str,
    args: Map<String, Value>,
) -> Result<Value, MethodError> {
    let uses = |c: &str| using.iter().any(|u| u == c);
    let mail = uses(MAIL);
    if let Some(id) = args.get("accountId").and_then(Value::as_str)
        && let Some(target) = AccountId::parse(id)
        && target != ctx.account
        && let Some(shared) = ctx.shared_account(target)?
    {
        let id = id.to_string();
        return dispatch_shared(&ctx.on(shared), mail, name, &id, args);
    }
    match METHODS.iter().find(|m| m.name == name) {
        Some(m) if uses(m.capability) => (m.run)(ctx, args),
        _ => Err(MethodError::UnknownMethod(name.to_string())),
    }
}

/// A method: its name, the capability a request must use for it, and what
/// runs it.
struct Method {
    name: &'static str,
    capability: &'static str,
    run: fn(&Ctx<'_>, Map<String, Value>) -> Result<Value, MethodError>,
}

const fn method(
    name: &'static str,
    capability: &'static str,
    run: fn(&Ctx<'_>, Map<String, Value>) -> Result<Value, MethodError>,
) -> Method {
    Method {
        name,
        capability,
        run,
    }
}

/// Every method [`dispatch`] knows.
const METHODS: &[Method] = &[
    method("Core/echo", CORE, |_, args| Ok(core::echo(args))),
    method("PushSubscription/get", CORE, push_subscription::get::get),
    method("PushSubscription/set", CORE, push_subscription::set::set),
    method("Blob/copy", CORE, blob::copy::copy),
    method("Mailbox/get", MAIL, mailbox::get::get),
    method("Mailbox/changes", MAIL, mailbox::changes::changes),
    method("Mailbox/query", MAIL, mailbox::query::query),
    method(
        "Mailbox/queryChanges",
        MAIL,
        mailbox::query_changes::query_changes,
    ),
    method("Mailbox/set", MAIL, mailbox::set::set),
    method("Email/query", MAIL, email::query::query),
    method(
        "Email/queryChanges",
        MAIL,
        email::query_changes::query_changes,
    ),
    method("Email/get", MAIL, email::get::get),
    method("Email/changes", MAIL, email::changes::changes),
    method("Email/set", MAIL, email::set::set),
    method("Email/import", MAIL, email::import::import),
    method("Email/parse", MAIL, email::parse::parse),
    method("Email/copy", MAIL, email::copy::copy),
    method("SearchSnippet/get", MAIL, search_snippet::get),
    method("Thread/get", MAIL, thread::get::get),
    method("Thread/changes", MAIL, thread::changes::changes),
    method("Quota/get", QUOTA, quota::get),
    method("Quota/changes", QUOTA, quota::changes),
    method("Quota/query", QUOTA, quota::query),
    method("Quota/queryChanges", QUOTA, quota::query_changes),
    method("Identity/get", SUBMISSION, identity::get::get),
    method("Identity/changes", SUBMISSION, |ctx, args| {
        objects::changes::<identity::Identity>(ctx, args, identity::KIND)
    }),
    method("Identity/set", SUBMISSION, identity::set::set),
    method("EmailSubmission/get", SUBMISSION, submission::get::get),
    method("EmailSubmission/changes", SUBMISSION, |ctx, args| {
        objects::changes::<submission::Submission>(ctx, args, submission::KIND)
    }),
    method(
        "EmailSubmission/query",
        SUBMISSION,
        submission::query::query,
    ),
    method("EmailSubmission/set", SUBMISSION, submission::set::set),
    method("VacationResponse/get", VACATION, vacation::get),
    method("VacationResponse/set", VACATION, vacation::set),
];

/// A call on a shared account: it reads mail and nothing else; a change
/// is `accountReadOnly` (the account says `isReadOnly`; changes to shared
/// mail go through IMAP), and `/changes` and `/queryChanges` cannot be
/// calculated (the owner's change log also covers what the caller may not
/// see), so a client refetches.
fn dispatch_shared(
    ctx: &Ctx<'_>,
    mail: bool,
    name: &str,
    account_id: &str,
    args: Map<String, Value>,
) -> Result<Value, MethodError> {
    match name {
        "Mailbox/get" if mail => mailbox::get::get(ctx, args),
        "Mailbox/query" if mail => mailbox::query::query(ctx, args),
        "Email/get" if mail => email::get::get(ctx, args),
        "Email/query" if mail => email::query::query(ctx, args),
        "Thread/get" if mail => thread::get::get(ctx, args),
        "SearchSnippet/get" if mail => search_snippet::get(ctx, args),
        "Mailbox/changes"
        | "Mailbox/queryChanges"
        | "Email/changes"
        | "Email/queryChanges"
        | "Thread/changes"
            if mail =>
        {
            Err(MethodError::CannotCalculateChanges(format!(
                "changes of shared account {account_id} are not tracked: fetch again"
            )))
        }
        "Mailbox/set" | "Email/set" | "Email/import" | "Email/copy" if mail => {
            Err(MethodError::AccountReadOnly(account_id.to_string()))
        }
        _ if METHODS.iter().any(|m| m.name == name) => Err(
            MethodError::AccountNotSupportedByMethod(account_id.to_string()),
        ),
        _ => Err(MethodError::UnknownMethod(name.to_string())),
    }
}

/// Deserializes a method's arguments (unknown ones are refused, RFC 8620
/// §3.6.2 invalidArguments).
pub(crate) fn arguments<T: serde::de::DeserializeOwned>(
    args: Map<String, Value>,
) -> Result<T, MethodError> {
    serde_json::from_value(Value::Object(args)).map_err(MethodError::arguments)
}
