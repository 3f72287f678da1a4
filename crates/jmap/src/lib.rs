//! JMAP over the Tidings store: the core protocol (RFC 8620) and mail
//! (RFC 8621), independent of HTTP.
//!
//! The HTTP server (`tidings-web`) authenticates the caller and hands this
//! crate the request body; [`Jmap::api`] parses the Request object, runs the
//! method calls in order (resolving back-references, §3.7) and returns the
//! Response object, or a [`RequestError`] that the server sends as problem
//! details. [`Jmap::session`] builds the session resource (§2) and
//! [`Jmap::download`] serves blobs (§6.2). The same code will serve the
//! webmail and WebSocket transports.
//!
//! Main types: [`Jmap`], [`Limits`], [`Caller`], [`RequestError`],
//! [`MethodError`]. One module per method family (`mailbox/get.rs`,
//! `email/query.rs`, …), each family's request and response types in its
//! `types.rs`.
//!
//! Implementation notes:
//! - Ids are the store's: account `A1`, mailbox `F3`, email `M42`, thread
//!   `T7`. An email's blobId is its id; a body part's is `M42.P3`
//!   (the part's position in the parsed message), downloaded decoded.
//! - Every state string (Mailbox, Email, Thread, query) is the account's
//!   MODSEQ: one counter bumped by every change, whoever made it (IMAP,
//!   POP3, SMTP, JMAP). A state may thus change with nothing of that type
//!   changed, which RFC 8620 §5.1 allows.
//! - Calls are blocking (the store is): the server runs [`Jmap::api`] on a
//!   blocking thread.
//! - An id of another account is never found: every store call is scoped
//!   to the caller's account.
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
mod reference;
pub mod request;
pub mod submission;
mod thread;
mod vacation;
mod view;

use serde_json::{Map, Value, json};
use tidings_store::Store;
use tidings_types::AccountId;

pub use blob::{parse_upload_blob_id, upload_blob_id};
pub use error::{MethodError, RequestError, SetError};
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
}

/// What a method needs: the store, the caller's account, the limits, and
/// the account view shared by the calls of one request while the state
/// does not change.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub account: AccountId,
    pub limits: &'a Limits,
    view: std::cell::RefCell<Option<(String, std::rc::Rc<view::AccountView>)>>,
    /// Creation id → id of what this request created (RFC 8620 §3.3
    /// `createdIds`), seeded from the request's.
    pub created: std::cell::RefCell<Map<String, Value>>,
    /// Where EmailSubmission sends.
    pub outbound: Option<&'a dyn Outbound>,
    /// Responses of implicit calls a method made (RFC 8621 §7.5's
    /// `Email/set` after `EmailSubmission/set`), sent after its own.
    pub implicit: std::cell::RefCell<Vec<(String, Value)>>,
}

impl Ctx<'_> {
    /// Checks a method's `accountId` argument (RFC 8620 §3.6.2
    /// accountNotFound): only the caller's own account exists for them.
    pub fn check_account(&self, account_id: &str) -> Result<(), MethodError> {
        if AccountId::parse(account_id) == Some(self.account) {
            Ok(())
        } else {
            Err(MethodError::AccountNotFound(account_id.to_string()))
        }
    }

    /// The account view at `state` (read by [`Ctx::state`] just before):
    /// the one an earlier call of the request loaded if the state is the
    /// same, else loaded now. Loaded after the state was read, a view is
    /// never older than its state string says.
    pub fn view(&self, state: &str) -> Result<std::rc::Rc<view::AccountView>, MethodError> {
        if let Some((at, view)) = &*self.view.borrow()
            && at == state
        {
            return Ok(std::rc::Rc::clone(view));
        }
        let view = std::rc::Rc::new(view::AccountView::load(self.store, self.account)?);
        *self.view.borrow_mut() = Some((state.to_string(), std::rc::Rc::clone(&view)));
        Ok(view)
    }

    /// The account's current state (its MODSEQ).
    pub fn state(&self) -> Result<String, MethodError> {
        let account = self
            .store
            .account_by_id(self.account)?
            .ok_or_else(|| MethodError::ServerFail("account vanished".into()))?;
        Ok(account.modseq.0.to_string())
    }
}

impl Jmap {
    pub fn new(store: Store, limits: Limits) -> Self {
        Jmap {
            store,
            limits,
            outbound: None,
        }
    }

    /// Sends EmailSubmissions through `outbound`.
    pub fn with_outbound(mut self, outbound: std::sync::Arc<dyn Outbound>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The session state: changes only if the session object would.
    fn session_state(caller: &Caller) -> String {
        format!("s{}", caller.account.0)
    }

    /// The session resource (RFC 8620 §2).
    pub fn session(&self, caller: &Caller, urls: &Urls) -> Value {
        let account_id = caller.account.to_string();
        let l = &self.limits;
        json!({
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
                            "maxSizeAttachmentsPerEmail": 0,
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
                    },
                },
            },
            "primaryAccounts": {
                CORE: account_id.clone(),
                MAIL: account_id.clone(),
                SUBMISSION: account_id.clone(),
                VACATION: account_id,
            },
            "username": caller.username,
            "apiUrl": urls.api,
            "downloadUrl": urls.download,
            "uploadUrl": urls.upload,
            "eventSourceUrl": urls.event_source,
            "state": Self::session_state(caller),
        })
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
            if ![CORE, MAIL, SUBMISSION, VACATION].contains(&capability.as_str()) {
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
        let ctx = Ctx {
            store: &self.store,
            account: caller.account,
            limits: &self.limits,
            view: std::cell::RefCell::new(None),
            created: std::cell::RefCell::new(request.created_ids.clone().unwrap_or_default()),
            outbound: self.outbound.as_deref(),
            implicit: std::cell::RefCell::new(Vec::new()),
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
        Ok(Response {
            method_responses: responses,
            // §3.4: returned only if the request had it, with what was added.
            created_ids: request.created_ids.map(|_| ctx.created.into_inner()),
            session_state: Self::session_state(caller),
        })
    }

    /// A blob of the caller's account (RFC 8620 §6.2).
    pub fn download(
        &self,
        caller: &Caller,
        account_id: &str,
        blob_id: &str,
    ) -> Result<Blob, DownloadError> {
        if AccountId::parse(account_id) != Some(caller.account) {
            return Err(DownloadError::NotFound);
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
    match name {
        "Core/echo" if uses(CORE) => Ok(core::echo(args)),
        "Mailbox/get" if mail => mailbox::get::get(ctx, args),
        "Mailbox/changes" if mail => mailbox::changes::changes(ctx, args),
        "Mailbox/query" if mail => mailbox::query::query(ctx, args),
        "Mailbox/queryChanges" if mail => mailbox::query_changes::query_changes(ctx, args),
        "Mailbox/set" if mail => mailbox::set::set(ctx, args),
        "Email/query" if mail => email::query::query(ctx, args),
        "Email/queryChanges" if mail => email::query_changes::query_changes(ctx, args),
        "Email/get" if mail => email::get::get(ctx, args),
        "Email/changes" if mail => email::changes::changes(ctx, args),
        "Email/set" if mail => email::set::set(ctx, args),
        "Thread/get" if mail => thread::get::get(ctx, args),
        "Identity/get" if uses(SUBMISSION) => identity::get::get(ctx, args),
        "Identity/changes" if uses(SUBMISSION) => {
            objects::changes::<identity::Identity>(ctx, args, identity::KIND)
        }
        "Identity/set" if uses(SUBMISSION) => identity::set::set(ctx, args),
        "EmailSubmission/get" if uses(SUBMISSION) => submission::get::get(ctx, args),
        "EmailSubmission/changes" if uses(SUBMISSION) => {
            objects::changes::<submission::Submission>(ctx, args, submission::KIND)
        }
        "EmailSubmission/query" if uses(SUBMISSION) => submission::query::query(ctx, args),
        "EmailSubmission/set" if uses(SUBMISSION) => submission::set::set(ctx, args),
        "VacationResponse/get" if uses(VACATION) => vacation::get(ctx, args),
        "VacationResponse/set" if uses(VACATION) => vacation::set(ctx, args),
        "Blob/copy" if uses(CORE) => blob::copy::copy(ctx, args),
        "Thread/changes" if mail => thread::changes::changes(ctx, args),
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
