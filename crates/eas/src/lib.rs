//! Exchange ActiveSync (MS-ASCMD, MS-ASPROV, MS-ASEMAIL; protocol 14.1,
//! 16.0 and 16.1) as one more view over the store: a phone's mail app
//! sees the same mailboxes, flags and messages as IMAP and JMAP clients.
//!
//! [`Eas::handle`] takes one command (its request line, already
//! authenticated, and its WBXML body) and returns the WBXML answer. HTTP
//! (the endpoint, `OPTIONS`, authentication) is `tidings-web`'s; the
//! WBXML codec is `tidings-eas-proto`'s. This crate depends on no HTTP
//! crate and on no other protocol crate: sending goes through the
//! [`Outbound`] trait, which the server implements with SMTP submission.
//!
//! Implementation notes:
//! - Ids: a collection is a mailbox (`CollectionId` = the mailbox id), an
//!   item is one entry of it (`ServerId` = `mailbox:uid`), so a message
//!   in two mailboxes (labels) is an item of each, as in IMAP.
//! - SyncKeys ([`state`]): per device and collection the store keeps the
//!   current key, the items the device holds with the flags it was sent,
//!   and the previous key's items, so a device that lost a response and
//!   sends the previous key again gets the same answer. A Sync compares
//!   the mailbox now with what the device holds: a device that was off
//!   for a week gets exactly what changed. Any other key is refused with
//!   the protocol's status (3, invalid synchronization key).
//! - Ping waits on the store's change events: it subscribes, then looks
//!   for changes the device has not synced yet, then waits for an event
//!   of a watched mailbox that leaves a change pending. Changes by
//!   another process (`tidings deliver`) become events here within about
//!   a second (the store's writer notices commits it did not make); a look
//!   every [`EasConfig::external_poll`] (30 s) is the last resort.
//! - Commands of one device run one at a time (a per-device lock), except
//!   Ping, which only reads.
//! - Bad input (WBXML that does not decode, elements missing) gets the
//!   common status codes of MS-ASCMD §2.2.2 in the command's own Status
//!   element, never an HTTP error; the store is unchanged.

#![forbid(unsafe_code)]

mod date;
mod fetch;
mod folders;
mod items;
mod moves;
mod ping;
mod provision;
mod search;
mod send;
mod settings;
pub mod state;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_eas_proto::tags::{
    AirSync, ComposeMail, FolderHierarchy, GetItemEstimate, ItemOperations, Move, Ping, Provision,
    ResolveRecipients, Search, Settings,
};
use tidings_eas_proto::{Command, Element, Limits, Tag, decode, encode};
use tidings_store::{EasDevice, EasWipe, Store, StoreError};
use tidings_types::AccountId;
use tokio_util::sync::CancellationToken;

/// The protocol versions served (`MS-ASProtocolVersions`).
pub const PROTOCOL_VERSIONS: &str = "14.1,16.0,16.1";
/// The commands served (`MS-ASProtocolCommands`).
pub const PROTOCOL_COMMANDS: &str = "Sync,SendMail,SmartForward,SmartReply,FolderSync,\
FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,Search,Settings,Ping,\
ItemOperations,Provision,ResolveRecipients,Find";

/// What the ActiveSync service may be configured with.
#[derive(Clone, Debug)]
pub struct EasConfig {
    /// Whether a device must complete Provision before other commands
    /// (MS-ASPROV); the policy itself is permissive.
    pub require_provisioning: bool,
    /// Ping's heartbeat bounds, seconds (MS-ASCMD §2.2.3.79.1).
    pub min_heartbeat: u32,
    pub max_heartbeat: u32,
    /// The most folders one Ping may watch.
    pub max_ping_folders: usize,
    /// How often a waiting Ping asks the store for changes that came as
    /// no event. Changes made inside the server wake it at once, and those
    /// of another process (e.g. `tidings deliver`) within about a second;
    /// this is only the last resort, as IMAP IDLE's.
    pub external_poll: Duration,
    /// The WBXML limits of a request.
    pub limits: Limits,
    /// The most devices one account may have; a new one beyond gets
    /// status 177 (`tidings user devices del` makes room).
    pub max_devices: usize,
}

impl Default for EasConfig {
    fn default() -> Self {
        EasConfig {
            require_provisioning: true,
            min_heartbeat: 60,
            max_heartbeat: 3540,
            max_ping_folders: 300,
            external_poll: Duration::from_secs(30),
            limits: Limits::default(),
            max_devices: 100,
        }
    }
}

/// Sends a message through the server's outbound path (SMTP submission's
/// originator rule, sending limits, DKIM, queue).
pub trait Outbound: Send + Sync + std::fmt::Debug {
    /// Checks, signs and queues `raw`; durable when it returns.
    fn send(
        &self,
        account: AccountId,
        mail_from: &str,
        rcpt_to: &[String],
        raw: &[u8],
    ) -> std::result::Result<(), SendError>;
}

/// Why [`Outbound::send`] refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A From/Sender address the account may not use.
    #[error("{0}")]
    Forbidden(String),
    /// Over the account's sending limits.
    #[error("{0}")]
    OverLimit(String),
    /// Not a message that can be sent.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

/// One authenticated command.
#[derive(Debug)]
pub struct Request<'a> {
    pub account: AccountId,
    /// The account's address.
    pub address: &'a str,
    pub command: Command,
    pub device_id: &'a str,
    pub device_type: &'a str,
    /// `X-MS-PolicyKey` or the base64 form's key.
    pub policy_key: Option<u32>,
    /// `MS-ASProtocolVersion`.
    pub protocol_version: &'a str,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// Query parameters besides the standard ones (`SaveInSent`, ...).
    pub params: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The answer to a command: a WBXML body, or none (HTTP 200, empty).
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Wbxml(Vec<u8>),
    Empty,
}

impl Reply {
    fn of(e: &Element) -> Reply {
        Reply::Wbxml(encode(e))
    }
}

/// A command failed in a way the store or the client caused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A status of the command's own Status element.
    #[error("status {0}")]
    Status(u32),
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Common status codes (MS-ASCMD §2.2.2).
pub(crate) mod status {
    pub const OK: u32 = 1;
    pub const INVALID_WBXML: u32 = 102;
    pub const INVALID_XML: u32 = 103;
    pub const SERVER_ERROR: u32 = 110;
    pub const DEVICE_NOT_PROVISIONED: u32 = 142;
    pub const INVALID_POLICY_KEY: u32 = 144;
    pub const REMOTE_WIPE_REQUESTED: u32 = 140;
    pub const COMMAND_NOT_SUPPORTED: u32 = 137;
    pub const TOO_MANY_DEVICES: u32 = 177;
}

/// The ActiveSync service: cheap to clone.
#[derive(Clone)]
pub struct Eas {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) config: EasConfig,
    pub(crate) outbound: Option<Arc<dyn Outbound>>,
    /// One lock per (account, device): its commands run one at a time.
    locks: Mutex<DeviceLocks>,
    /// The Ping each device has waiting: a new one ends it.
    pings: Mutex<HashMap<(AccountId, String), Arc<tokio::sync::Notify>>>,
}

/// One lock per (account, DeviceId).
type DeviceLocks = HashMap<(AccountId, String), Arc<tokio::sync::Mutex<()>>>;

/// What a command handler gets.
pub(crate) struct Ctx<'a> {
    pub(crate) store: &'a Store,
    pub(crate) config: &'a EasConfig,
    pub(crate) outbound: Option<&'a Arc<dyn Outbound>>,
    pub(crate) account: AccountId,
    pub(crate) address: &'a str,
    pub(crate) device: EasDevice,
    pub(crate) params: &'a [(String, String)],
}

impl Ctx<'_> {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Eas {
    pub fn new(store: Store, config: EasConfig, outbound: Option<Arc<dyn Outbound>>) -> Self {
        Eas {
            inner: Arc::new(Inner {
                store,
                config,
                outbound,
                locks: Mutex::default(),
                pings: Mutex::default(),
            }),
        }
    }

    fn device_lock(&self, account: AccountId, device: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(locks.entry((account, device.to_string())).or_default())
    }

    /// Runs one command. `shutdown` ends a Ping early.
    pub async fn handle(&self, req: Request<'_>, shutdown: &CancellationToken) -> Reply {
        let command = req.command;
        let (root, status_tag) = root_of(command);
        let body = if req.body.is_empty() {
            None
        } else {
            match decode(req.body, &self.inner.config.limits) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::debug!("ActiveSync {}: bad WBXML: {e}", command.name());
                    return status_reply(root, status_tag, status::INVALID_WBXML);
                }
            }
        };
        if let Some(b) = &body
            && b.tag != root
            && !matches!(command, Command::SmartForward | Command::SmartReply)
        {
            return status_reply(root, status_tag, status::INVALID_XML);
        }
        // The device: known, or made now (it is remembered from its first
        // command; Provision then gives it a policy key).
        let device = match self.device(&req).await {
            Ok(Some(d)) => d,
            Ok(None) => return status_reply(root, status_tag, status::TOO_MANY_DEVICES),
            Err(e) => {
                tracing::error!("ActiveSync device lookup: {e}");
                return status_reply(root, status_tag, status::SERVER_ERROR);
            }
        };
        if command != Command::Provision {
            if device.wipe == EasWipe::Requested {
                return status_reply(root, status_tag, status::REMOTE_WIPE_REQUESTED);
            }
            if self.inner.config.require_provisioning {
                if device.policy_key == 0 {
                    return status_reply(root, status_tag, status::DEVICE_NOT_PROVISIONED);
                }
                if req.policy_key != Some(device.policy_key) {
                    return status_reply(root, status_tag, status::INVALID_POLICY_KEY);
                }
            }
        }
        let inner = &*self.inner;
        let ctx = Ctx {
            store: &inner.store,
            config: &inner.config,
            outbound: inner.outbound.as_ref(),
            account: req.account,
            address: req.address,
            device,
            params: req.params,
        };
        let empty = Element::new(root);
        let body = body.as_ref().unwrap_or(&empty);
        if command == Command::Ping {
            // A device has one Ping waiting: a new one ends the old one
            // (MS-ASCMD §3.2.5.1: as if its heartbeat had passed).
            let key = (req.account, req.device_id.to_string());
            let mine = Arc::new(tokio::sync::Notify::new());
            let old = self
                .inner
                .pings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), Arc::clone(&mine));
            if let Some(old) = old {
                old.notify_one();
            }
            let r = ping::ping(&ctx, body, shutdown, &mine).await;
            let mut pings = self.inner.pings.lock().unwrap_or_else(|e| e.into_inner());
            if pings.get(&key).is_some_and(|p| Arc::ptr_eq(p, &mine)) {
                pings.remove(&key);
            }
            drop(pings);
            return match r {
                Ok(r) => r,
                Err(e) => error_reply(command, root, status_tag, e),
            };
        }
        let lock = self.device_lock(req.account, req.device_id);
        let _guard = lock.lock().await;
        let result = match command {
            Command::Provision => provision::provision(&ctx, body).await,
            Command::FolderSync => folders::folder_sync(&ctx, body).await,
            Command::FolderCreate => folders::folder_create(&ctx, body).await,
            Command::FolderUpdate => folders::folder_update(&ctx, body).await,
            Command::FolderDelete => folders::folder_delete(&ctx, body).await,
            Command::Sync => sync::sync(&ctx, body).await,
            Command::GetItemEstimate => sync::get_item_estimate(&ctx, body).await,
            Command::ItemOperations => fetch::item_operations(&ctx, body).await,
            Command::MoveItems => moves::move_items(&ctx, body).await,
            Command::SendMail | Command::SmartReply | Command::SmartForward => {
                send::send(&ctx, command, body).await
            }
            Command::Search => search::search(&ctx, body).await,
            Command::Find => search::find(&ctx, body).await,
            Command::Settings => settings::settings(&ctx, body).await,
            Command::Ping => unreachable_ping(),
            Command::ResolveRecipients => search::resolve_recipients(&ctx, body).await,
            Command::GetAttachment | Command::MeetingResponse | Command::ValidateCert => {
                Err(Error::Status(status::COMMAND_NOT_SUPPORTED))
            }
        };
        match result {
            Ok(r) => r,
            Err(e) => error_reply(command, root, status_tag, e),
        }
    }

    /// The request's device, made on its first request; `None` when the
    /// account has [`EasConfig::max_devices`] already.
    async fn device(
        &self,
        req: &Request<'_>,
    ) -> std::result::Result<Option<EasDevice>, StoreError> {
        let store = self.inner.store.clone();
        let max = self.inner.config.max_devices;
        let (account, id, kind, agent) = (
            req.account,
            req.device_id.to_string(),
            req.device_type.to_string(),
            req.user_agent.to_string(),
        );
        blocking(move || {
            let now = date::now();
            if let Some(mut d) = store.eas_device(account, &id)? {
                // last_seen is written at most once a minute.
                if now - d.last_seen >= 60 {
                    d.last_seen = now;
                    store.eas_put_device(&d)?;
                }
                return Ok(Some(d));
            }
            if store.eas_devices(account)?.len() >= max {
                return Ok(None);
            }
            let d = EasDevice {
                account,
                device_id: id,
                device_type: kind,
                user_agent: agent.chars().take(200).collect(),
                model: String::new(),
                policy_key: 0,
                pending_key: 0,
                wipe: EasWipe::None,
                created: now,
                last_seen: now,
            };
            store.eas_put_device(&d)?;
            Ok(Some(d))
        })
        .await
    }
}

fn unreachable_ping() -> Result<Reply> {
    Err(Error::Status(status::SERVER_ERROR))
}

fn error_reply(command: Command, root: Tag, status_tag: Tag, e: Error) -> Reply {
    let code = match e {
        Error::Status(s) => s,
        Error::Store(e) => {
            tracing::error!("ActiveSync {}: {e}", command.name());
            status::SERVER_ERROR
        }
    };
    status_reply(root, status_tag, code)
}

/// `<Root><Status>code</Status></Root>`.
fn status_reply(root: Tag, status_tag: Tag, code: u32) -> Reply {
    Reply::of(&Element::new(root).with_text(status_tag, code.to_string()))
}

/// The root element of a command's request and response, and its Status.
fn root_of(command: Command) -> (Tag, Tag) {
    use tidings_eas_proto::tags::Find;
    match command {
        Command::Sync => (AirSync::Sync, AirSync::Status),
        Command::FolderSync => (FolderHierarchy::FolderSync, FolderHierarchy::Status),
        Command::FolderCreate => (FolderHierarchy::FolderCreate, FolderHierarchy::Status),
        Command::FolderUpdate => (FolderHierarchy::FolderUpdate, FolderHierarchy::Status),
        Command::FolderDelete => (FolderHierarchy::FolderDelete, FolderHierarchy::Status),
        Command::GetItemEstimate => (GetItemEstimate::GetItemEstimate, GetItemEstimate::Status),
        Command::MoveItems => (Move::MoveItems, Move::Status),
        Command::Ping => (Ping::Ping, Ping::Status),
        Command::ItemOperations => (ItemOperations::ItemOperations, ItemOperations::Status),
        Command::SendMail => (ComposeMail::SendMail, ComposeMail::Status),
        Command::SmartReply => (ComposeMail::SmartReply, ComposeMail::Status),
        Command::SmartForward => (ComposeMail::SmartForward, ComposeMail::Status),
        Command::Search => (Search::Search, Search::Status),
        Command::Find => (Find::Find, Find::Status),
        Command::Settings => (Settings::Settings, Settings::Status),
        Command::Provision => (Provision::Provision, Provision::Status),
        Command::ResolveRecipients => (
            ResolveRecipients::ResolveRecipients,
            ResolveRecipients::Status,
        ),
        Command::GetAttachment | Command::MeetingResponse | Command::ValidateCert => {
            (ComposeMail::SendMail, ComposeMail::Status)
        }
    }
}

/// Runs blocking store work off the async workers.
pub(crate) async fn blocking<T, E, F>(f: F) -> std::result::Result<T, E>
where
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(E::from(StoreError::Io(std::io::Error::other(
            e.to_string(),
        )))),
    }
}

/// A heartbeat in seconds as a duration.
pub(crate) fn heartbeat(seconds: u32) -> Duration {
    Duration::from_secs(u64::from(seconds))
}
