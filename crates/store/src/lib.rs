//! The Tidings mail store: accounts, domains, aliases, mailboxes, emails,
//! blobs, the change log, full-text search and change events.
//!
//! It is protocol-agnostic: IMAP, POP3, SMTP and HTTP crates call the
//! [`Backend`] trait through a [`Store`] and never see SQL. The mail model is
//! Gmail's (docs/design.md): an email has one keyword set and a set of mailboxes,
//! each membership with its own UID; All Mail and Starred follow rules the
//! store enforces on every write.
//!
//! Main types: [`Store`] (cheap to clone), [`Backend`] (the seam each
//! backend implements), [`StoreError`], [`ChangeEvent`]. The mail model's
//! rules are written once, above the backends (`model.rs`), over the row
//! operations each backend provides.
//! The embedded backend is SQLite in WAL mode plus blob files ([`sqlite`]),
//! all private to the server's user (directories 0700, files 0600; a loose
//! data directory is tightened at open). The scale-out backend is
//! PostgreSQL ([`postgres`]), shared by several nodes; it does part of the
//! API so far, and fails with [`StoreError::Unsupported`] for the rest.
//!
//! Limits on what a sender or a client controls: a References field keeps
//! at most [`MAX_REFERENCES`] ids at ingest (threading uses them all
//! otherwise); a full-text query at most [`sqlite::MAX_FTS_TERMS`]
//! distinct words ([`StoreError::Refused`] beyond); the MIME part tree at
//! most 32 levels. [`Backend::email_raw_prefix`] reads a header without the
//! body.
//!
//! Must not depend on any protocol crate.

#![forbid(unsafe_code)]

pub mod acl;
mod blob;
mod catch_up;
#[doc(hidden)]
pub mod fuzz;
mod model;
mod parse;
pub mod postgres;
mod private;
pub mod queue;
pub mod s3;
mod sending;
pub mod spool;
pub mod sqlite;

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

pub use acl::{AclEntry, Grantee, Right, Rights, SharedMailbox};
pub use blob::BlobHash;
pub use parse::{Address, BodyPart, EmailMeta, Envelope, MAX_REFERENCES, capped_references};
pub use queue::{
    DeliveryStatus, DmarcResult, DmarcResultCount, NewQueued, QueueId, QueueRecipient, QueueUpdate,
    QueuedMessage, StsPolicy, TlsResult, TlsResultCount,
};
pub use sending::{MAX_REPLIED, VACATION_ENTRY, Vacation};
pub use spool::{Loaded, MemoryBudget, Spool, Spooled, memory_budget, set_memory_budget};
use tidings_types::{
    AccountId, EmailId, Keyword, LeavePolicy, MailboxId, MailboxName, MailboxNameError,
    MailboxRole, ModSeq, PopPolicy, Secret, ThreadId, Uid, UidValidity,
};
use tokio::sync::broadcast;

/// Everything that can go wrong in the store, by what the caller should say.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist (or belongs to another account).
    #[error("{0} not found")]
    NotFound(String),
    /// The mailbox is another account's and the caller may look it up,
    /// but lacks a right the call needs (RFC 4314 §4; IMAP `NOPERM`).
    #[error("permission denied: {0}")]
    NoPermission(String),
    /// The thing being created exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request is refused as it stands; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    BadMailboxName(#[from] MailboxNameError),
    /// Storing this would exceed the account's quota.
    #[error("quota exceeded: {used} of {quota} bytes used, {needed} more needed")]
    OverQuota { used: u64, quota: u64, needed: u64 },
    /// The disk is full: nothing was stored.
    #[error("disk full: nothing was stored")]
    DiskFull,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(String),
    /// The stored data is not what the store wrote.
    #[error("store corrupt: {0}")]
    Corrupt(String),
    /// The store is closed (shutting down).
    #[error("store is closed")]
    Closed,
    /// The store's backend does not do this yet (the PostgreSQL backend,
    /// whose coverage of the [`Backend`] API is partial: docs/architecture.md).
    #[error("the {backend} backend does not do {what} yet")]
    Unsupported {
        backend: &'static str,
        what: &'static str,
    },
}

impl StoreError {
    /// Whether retrying later may succeed (SMTP 4xx rather than 5xx).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull | StoreError::Io(_) | StoreError::Database(_) | StoreError::Closed
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A mail domain served by this server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
}

/// The metadata the store would keep for `raw` (JMAP `Email/parse` of a
/// blob that is not stored as an email). Never fails: garbage gives empty
/// metadata.
pub fn email_meta_of(raw: &[u8]) -> EmailMeta {
    parse::parse(raw).meta
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    /// Quota in bytes; `None` is unlimited.
    pub quota: Option<u64>,
    /// Bytes used: the sum of the sizes of the account's emails.
    pub used: u64,
    pub leave_policy: LeavePolicy,
    pub pop_policy: PopPolicy,
    /// The account's current MODSEQ (JMAP state).
    pub modseq: ModSeq,
}

/// What an access token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An app password: made with `tidings user token add`, accepted
    /// wherever the account's password is (IMAP, POP3, SMTP AUTH, HTTP
    /// Basic) and as an HTTP Bearer token.
    App,
    /// A webmail sign-in (`POST /auth/session`): accepted only as an HTTP
    /// Bearer token, ends after a time without use.
    Web,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::App => "app",
            TokenKind::Web => "web",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "app" => Some(TokenKind::App),
            "web" => Some(TokenKind::Web),
            _ => None,
        }
    }
}

/// An access token of an account, as listed (the token itself is never
/// stored, only its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub name: String,
    pub kind: TokenKind,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds of the last successful use (to the minute), if any.
    pub last_used: Option<i64>,
    /// Unix seconds after which it no longer works, if it expires.
    pub expires: Option<i64>,
    /// Seconds without use after which it no longer works, if any.
    pub idle: Option<i64>,
}

/// The account a presented token opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub account: AccountId,
    pub email: String,
    pub kind: TokenKind,
    pub name: String,
}

/// An uploaded blob of an account (JMAP upload, RFC 8620 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The SHA-256 of the bytes; unique within the account.
    pub hash: BlobHash,
    pub media_type: String,
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds after which it is gone.
    pub expires: i64,
}

/// An alias: mail to `address` goes to `targets`: one account, or several
/// addresses (accounts, other aliases, addresses elsewhere: forwarding).
/// An address `@domain` is the domain's catch-all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub address: String,
    pub targets: Vec<String>,
}

/// Bounds of an alias expansion ([`Backend::expand_recipient`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpansionLimits {
    /// Aliases nested deeper than this are refused (a chain, or a cycle
    /// the visited set did not already cut).
    pub max_depth: usize,
    /// The most addresses (local accounts plus remote targets) one alias
    /// may expand to.
    pub max_recipients: usize,
}

impl Default for ExpansionLimits {
    fn default() -> Self {
        ExpansionLimits {
            max_depth: 8,
            max_recipients: 100,
        }
    }
}

/// Where mail for one address goes ([`Backend::expand_recipient`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expansion {
    /// No account or alias has this address.
    Unknown,
    /// One account (an account, a one-account alias, `+tag`, a catch-all).
    Account(AccountId),
    /// An alias with several or remote targets, expanded: the distinct
    /// accounts that get a copy and the remote addresses to forward to.
    Targets {
        accounts: Vec<AccountId>,
        remote: Vec<String>,
    },
    /// The expansion exceeded [`ExpansionLimits::max_recipients`].
    TooMany,
    /// Aliases nested deeper than [`ExpansionLimits::max_depth`], or
    /// aliases that lead only back to themselves (a cycle).
    Loop,
}

/// A mailbox with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub id: MailboxId,
    pub account: AccountId,
    pub name: MailboxName,
    pub role: Option<MailboxRole>,
    pub subscribed: bool,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
}

/// The `\Recent` UIDs of a mailbox (RFC 3501 §2.3.2), as
/// [`Backend::recent_uids`] finds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentUids {
    /// The first UID no session had claimed before the call.
    pub first: Uid,
    /// UIDNEXT at the call: the UIDs are `first..next` (none when
    /// `first >= next`).
    pub next: Uid,
    /// How many entries of the mailbox have one of them.
    pub count: u32,
}

/// Message counts of a mailbox (IMAP STATUS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    pub messages: u32,
    pub unseen: u32,
    pub deleted: u32,
    /// Sum of the sizes of its messages (STATUS=SIZE).
    pub size: u64,
}

/// One email as seen in one mailbox: the UID/flags view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxEntry {
    pub uid: Uid,
    pub email: EmailId,
    pub thread: ThreadId,
    /// The email's keywords (shared by every mailbox it is in).
    pub keywords: Vec<Keyword>,
    /// `\Deleted` on this entry only.
    pub deleted: bool,
    /// The last change to this entry or its email.
    pub modseq: ModSeq,
    pub size: u64,
    /// INTERNALDATE, Unix seconds.
    pub received: i64,
    /// When it was added to this mailbox (SAVEDATE), Unix seconds.
    pub saved: i64,
}

/// A new email to store.
#[derive(Clone, Debug, Default)]
pub struct NewEmail<'a> {
    pub raw: &'a [u8],
    pub keywords: Vec<Keyword>,
    /// INTERNALDATE in Unix seconds; now when `None`.
    pub received: Option<i64>,
}

/// A new email to store from a [`Spooled`] body.
#[derive(Debug)]
pub struct SpooledEmail<'a> {
    pub body: &'a Spooled,
    pub keywords: Vec<Keyword>,
    /// INTERNALDATE in Unix seconds; now when `None`.
    pub received: Option<i64>,
}

/// Where one delivered copy goes.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub account: AccountId,
    pub mailbox: MailboxId,
    pub keywords: Vec<Keyword>,
}

/// The result of storing an email in a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub email: EmailId,
    pub thread: ThreadId,
    pub mailbox: MailboxId,
    pub uid_validity: UidValidity,
    pub uid: Uid,
    pub modseq: ModSeq,
}

/// The result of [`Backend::replace_spooled`] (IMAP REPLACE, RFC 8508).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// The new email.
    pub appended: Appended,
    /// Whether the old entry left its mailbox (out of a virtual mailbox it
    /// may stay, as with EXPUNGE).
    pub expunged: bool,
}

/// How STORE combines the given flags with the current ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// The result of a flag change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagsChanged {
    /// The entries whose flags changed, as they are now.
    pub changed: Vec<MailboxEntry>,
    /// UIDs not changed because they were modified after UNCHANGEDSINCE
    /// (RFC 7162 §3.1.3 MODIFIED).
    pub modified: Vec<Uid>,
    pub modseq: ModSeq,
}

/// The result of COPY or MOVE: source and destination UIDs (RFC 4315 COPYUID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub uid_validity: UidValidity,
    pub pairs: Vec<(Uid, Uid)>,
    pub modseq: ModSeq,
}

/// A mailbox's changes since a MODSEQ (RFC 7162 CONDSTORE/QRESYNC).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxDelta {
    pub changed: Vec<MailboxEntry>,
    /// UIDs expunged after `since` (QRESYNC VANISHED), ascending.
    pub vanished: Vec<Uid>,
    pub highest_modseq: ModSeq,
}

/// An account's changes since a MODSEQ (JMAP `/changes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: Vec<EmailId>,
    pub updated: Vec<EmailId>,
    pub destroyed: Vec<EmailId>,
    pub mailboxes_changed: Vec<MailboxId>,
    pub mailboxes_destroyed: Vec<MailboxId>,
    pub new_modseq: ModSeq,
}

/// What one row of the account change log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    EmailCreated,
    EmailUpdated,
    EmailDestroyed,
    /// A mailbox was created or changed (name, parent, subscription …).
    MailboxChanged,
    MailboxDestroyed,
    /// A thread lost an email (the email was destroyed): the log keeps
    /// the thread, which the destroyed email no longer tells.
    ThreadChanged,
}

/// One row of the change log: what changed, at which MODSEQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedChange {
    pub modseq: ModSeq,
    pub kind: ChangeKind,
    /// The email, mailbox or thread id, by `kind`.
    pub object: i64,
}

/// The raw change log after a MODSEQ, oldest first, in whole commits
/// (JMAP `/changes` with `maxChanges` and `/queryChanges`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeLog {
    pub entries: Vec<LoggedChange>,
    /// Whether rows after the last entry's MODSEQ were left out (the
    /// limit was reached); the last MODSEQ's rows are all there.
    pub truncated: bool,
    /// The account's MODSEQ when the log was read.
    pub current: ModSeq,
}

/// Published after every commit that changed an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEvent {
    pub account: AccountId,
    pub modseq: ModSeq,
    /// Mailboxes whose contents or flags changed.
    pub mailboxes: Vec<MailboxId>,
}

/// One METADATA entry: its full name (`/private/...` or `/shared/...`) and
/// value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataEntry {
    pub name: String,
    pub value: Vec<u8>,
}

/// An Exchange ActiveSync device of an account (`tidings user devices`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EasDevice {
    pub account: AccountId,
    /// The `DeviceId` it sends (MS-ASHTTP §2.2.1.1.1.2.3).
    pub device_id: String,
    pub device_type: String,
    pub user_agent: String,
    pub model: String,
    /// The policy key the device acknowledged (0: not provisioned).
    pub policy_key: u32,
    /// The key handed out by the first Provision step, not yet
    /// acknowledged (0: none).
    pub pending_key: u32,
    pub wipe: EasWipe,
    /// Unix seconds.
    pub created: i64,
    pub last_seen: i64,
}

/// Where a device's remote wipe (MS-ASPROV §3.1.5.2) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EasWipe {
    None,
    /// Asked for: the device's next Provision answers RemoteWipe.
    Requested,
    /// The device confirmed it wiped itself.
    Done,
}

/// How many messages an account may submit (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendLimits {
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
}

/// What [`Backend::reserve_send`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendCheck {
    /// Counted; the message may go.
    Allowed,
    /// This many were sent in the last hour already.
    OverHour { limit: u32 },
    /// This many were sent in the last 24 hours already.
    OverDay { limit: u32 },
}

/// What [`Backend::set_metadata`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataWrite {
    Written,
    /// Nothing written: the entries would exceed this many.
    TooMany {
        limit: usize,
    },
}

/// One message of a POP3 maildrop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PopMessage {
    pub email: EmailId,
    pub size: u64,
}

/// Holds an account's POP3 maildrop lock (RFC 1939 §8: one session at a
/// time); released when dropped. The backend provides it
/// ([`Backend::pop_lock`]): an in-process set for SQLite, a PostgreSQL
/// advisory lock (which every node sees) for PostgreSQL.
pub struct PopLock {
    account: AccountId,
    _guard: Box<dyn Send + Sync>,
}

/// The in-process lock of [`PopLock::take`].
struct HeldInProcess {
    held: Arc<std::sync::Mutex<std::collections::HashSet<AccountId>>>,
    account: AccountId,
}

impl Drop for HeldInProcess {
    fn drop(&mut self) {
        if let Ok(mut set) = self.held.lock() {
            set.remove(&self.account);
        }
    }
}

impl PopLock {
    /// Takes the lock of `account` in `held`, unless someone has it.
    pub fn take(
        held: &Arc<std::sync::Mutex<std::collections::HashSet<AccountId>>>,
        account: AccountId,
    ) -> Option<PopLock> {
        let mut set = held.lock().ok()?;
        set.insert(account).then(|| PopLock {
            account,
            _guard: Box::new(HeldInProcess {
                held: held.clone(),
                account,
            }),
        })
    }

    /// The lock of `account` held by `guard`, which releases it when dropped.
    pub fn from_guard(account: AccountId, guard: impl Send + Sync + 'static) -> PopLock {
        PopLock {
            account,
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for PopLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PopLock({})", self.account)
    }
}

/// The findings of an integrity check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub problems: Vec<String>,
    /// Notes that are not errors (e.g. an orphan blob file left by a crash).
    pub notes: Vec<String>,
    pub accounts: u64,
    pub emails: u64,
    pub blobs: u64,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The store's operations. Every method that names an account checks that
/// the mailboxes and emails it is given belong to it, or that their owner
/// granted it the right the call needs ([`acl`]): one user never sees
/// another's mail unless the owner shared it. A call on a shared mailbox
/// acts as its owner (the owner's MODSEQ, change events and quota). Every
/// write is durable when it returns.
pub trait Backend: Send + Sync + 'static {
    // --- domains, accounts, aliases ---
    fn add_domain(&self, name: &str) -> Result<()>;
    fn domains(&self) -> Result<Vec<Domain>>;
    /// Refused while accounts or aliases use the domain.
    fn remove_domain(&self, name: &str) -> Result<()>;
    /// Creates the account and its standard mailboxes. The domain must exist.
    fn create_account(&self, email: &str, password: &Secret<String>) -> Result<AccountId>;
    fn accounts(&self) -> Result<Vec<Account>>;
    fn account(&self, email: &str) -> Result<Option<Account>>;
    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>>;
    fn set_password(&self, email: &str, password: &Secret<String>) -> Result<()>;
    /// Deletes the account with all its mail.
    fn delete_account(&self, email: &str) -> Result<()>;
    fn set_quota(&self, email: &str, quota: Option<u64>) -> Result<()>;
    fn set_policies(
        &self,
        email: &str,
        leave: Option<LeavePolicy>,
        pop: Option<PopPolicy>,
    ) -> Result<()>;
    /// Checks a password (argon2id; CPU-heavy: call from a blocking thread)
    /// or an app token ([`TokenKind::App`]) of the account, which is
    /// checked first and costs one SHA-256.
    fn authenticate(&self, email: &str, password: &Secret<String>) -> Result<Option<AccountId>>;
    /// Makes an access token for the account and returns it (the only
    /// time it is seen: the store keeps its SHA-256). `expires` is in Unix
    /// seconds, `idle` in seconds without use. Names are unique per
    /// account. Expired tokens of the account are dropped on the way.
    fn add_token(
        &self,
        email: &str,
        name: &str,
        kind: TokenKind,
        expires: Option<i64>,
        idle: Option<i64>,
    ) -> Result<Secret<String>>;
    /// The account's tokens that still work, by name.
    fn tokens(&self, email: &str) -> Result<Vec<AccessToken>>;
    /// Revokes a token by name (`NotFound` if there is none).
    fn delete_token(&self, email: &str, name: &str) -> Result<()>;
    /// The account `token` opens, if it is a token that works now; counts
    /// the use (`last_used`, to the minute). Cheap: one SHA-256.
    fn token_owner(&self, token: &Secret<String>) -> Result<Option<TokenOwner>>;
    /// Revokes the token presented; false if it opened nothing.
    fn revoke_token(&self, token: &Secret<String>) -> Result<bool>;
    /// Keeps an uploaded body for `account` until `expires` (Unix
    /// seconds), durably. The same bytes uploaded again are stored once
    /// (their expiry moves). `OverQuota` when the account's live uploads
    /// would pass `cap` bytes. Expired uploads are dropped on the way.
    fn add_upload(
        &self,
        account: AccountId,
        body: &Spooled,
        media_type: &str,
        expires: i64,
        cap: u64,
    ) -> Result<Upload>;
    /// A live upload of `account` (never another account's).
    fn upload(&self, account: AccountId, hash: &BlobHash) -> Result<Option<Upload>>;
    /// The bytes of a live upload of `account`; `NotFound` if none.
    fn upload_bytes(&self, account: AccountId, hash: &BlobHash) -> Result<Vec<u8>>;
    /// An alias to one account (which must exist).
    fn add_alias(&self, address: &str, target: &str) -> Result<()>;
    /// An alias to `targets`: with one target that is an account, the same
    /// as [`Backend::add_alias`]; otherwise each target is an account,
    /// another alias or catch-all of a local domain (which must resolve
    /// now), or an address in a domain that is not ours (forwarding).
    fn add_alias_targets(&self, address: &str, targets: &[String]) -> Result<()>;
    fn aliases(&self) -> Result<Vec<Alias>>;
    fn remove_alias(&self, address: &str) -> Result<()>;
    /// The account that receives mail for `address`: an account, an alias,
    /// or the domain's catch-all, in that order. An alias with several or
    /// remote targets is no one account: see [`Backend::expand_recipient`].
    fn resolve_recipient(&self, address: &str) -> Result<Option<AccountId>>;
    /// Where mail for `address` (in a local domain) goes, expanding aliases
    /// with several or remote targets recursively within `limits`. A target
    /// already visited in this expansion is skipped (so a cycle ends), a
    /// local target that no longer resolves is skipped.
    fn expand_recipient(&self, address: &str, limits: ExpansionLimits) -> Result<Expansion>;

    // --- mailboxes ---
    fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>>;
    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<Mailbox>>;
    fn mailbox_by_role(&self, account: AccountId, role: MailboxRole) -> Result<Option<Mailbox>>;
    fn mailbox_counts(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxCounts>;
    /// RFC 3501 §2.3.2 `\Recent`: the UIDs of `mailbox` no session has
    /// claimed yet, and how many of its entries have one. With `claim` (a
    /// read-write SELECT, or a session with the mailbox selected that sees
    /// new mail) they become the caller's, atomically: the mailbox's first
    /// recent UID moves to UIDNEXT, so each message is recent in exactly
    /// one session. Without it (EXAMINE, STATUS) nothing changes. A claim
    /// is no change of the mailbox (no MODSEQ, no event).
    fn recent_uids(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        claim: bool,
    ) -> Result<RecentUids>;
    /// Creates a mailbox and any missing parents.
    fn create_mailbox(
        &self,
        account: AccountId,
        name: &MailboxName,
        role: Option<MailboxRole>,
    ) -> Result<MailboxId>;
    /// Renames a mailbox and its children. Renaming INBOX moves its messages
    /// to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
    fn rename_mailbox(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()>;
    /// Deletes a mailbox without children; its emails lose that label.
    fn delete_mailbox(&self, account: AccountId, name: &MailboxName) -> Result<()>;
    /// Subscribes or unsubscribes a name. Subscribing needs an existing
    /// mailbox; a subscription outlives its mailbox (DELETE keeps it, RENAME
    /// moves it to the new name) until it is unsubscribed.
    fn set_subscribed(
        &self,
        account: AccountId,
        name: &MailboxName,
        subscribed: bool,
    ) -> Result<()>;
    /// Counts one submitted message of `account` at `now` (Unix seconds)
    /// if the account's limits (its own, else `defaults`) allow it; one
    /// transaction, so concurrent sessions cannot both take the last one.
    fn reserve_send(&self, account: AccountId, now: i64, defaults: SendLimits)
    -> Result<SendCheck>;
    /// The account's own sending limits (`None` in a field: the server's),
    /// and how many it sent in the last hour and day.
    fn send_limits(&self, email: &str, now: i64) -> Result<(SendLimits, u32, u32)>;
    /// Sets the account's own sending limits (`None`: the server's).
    fn set_send_limits(&self, email: &str, limits: SendLimits) -> Result<()>;
    /// A consistent copy of the store (database and blob files) in the new
    /// or empty directory `dest`, taken while the store is in use
    /// (`tidings backup`). `dest` then opens as a data directory.
    fn backup(&self, dest: &Path) -> Result<sqlite::backup::BackupReport>;
    /// Every subscribed name, existing mailbox or not, in name order.
    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>>;
    /// The IMAP METADATA entries (RFC 5464) of a mailbox, or of the
    /// account's server when `mailbox` is `None`, in name order.
    fn metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
    ) -> Result<Vec<MetadataEntry>>;
    /// Sets (`Some`) or removes (`None`) entries, all or none. Refused with
    /// [`MetadataWrite::TooMany`] when the mailbox (or server) would hold
    /// more than `max_entries`; nothing is changed then.
    fn set_metadata(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
        entries: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<MetadataWrite>;

    // --- sharing (RFC 4314; see [`acl`]) ---
    /// The rights `account` has on `mailbox`: all of them for the owner.
    /// `NotFound` when it has none.
    fn my_rights(&self, account: AccountId, mailbox: MailboxId) -> Result<Rights>;
    /// The ACL of `mailbox`, its owner first; needs `a`.
    fn acl(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<AclEntry>>;
    /// Sets (`Some`) or removes (`None`, or no rights) what `grantee` may
    /// do with `mailbox`; needs `a`. The owner's rights are fixed
    /// (`Refused`); an unknown account is `NotFound`.
    fn set_rights(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        grantee: &Grantee,
        rights: Option<Rights>,
    ) -> Result<()>;
    /// The mailboxes of other accounts on which `account` has any right
    /// (its own grants and `anyone`'s), by owner and name. Only those with
    /// `l` are to be listed; the others open by name only.
    fn shared_mailboxes(&self, account: AccountId) -> Result<Vec<SharedMailbox>>;
    /// Creates `name` in `owner`'s hierarchy (RFC 4314 §4 CREATE): its
    /// parent must exist there and `account` needs `k` on it. The new
    /// mailbox starts with its parent's ACL.
    fn create_mailbox_of(
        &self,
        account: AccountId,
        owner: AccountId,
        name: &MailboxName,
    ) -> Result<MailboxId>;
    /// Subscribes `account` to `name`, its name for `mailbox` of another
    /// account (needs `l`). Unsubscribing is [`Backend::set_subscribed`].
    fn subscribe_shared(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        name: &MailboxName,
    ) -> Result<()>;
    /// Deletes a mailbox without children of another account (needs `x`).
    fn delete_mailbox_of(&self, account: AccountId, mailbox: MailboxId) -> Result<()>;
    /// Renames a mailbox (and its children) of another account to `to`
    /// in the same owner's hierarchy: `x` on it, `k` on the new parent,
    /// which must exist (RFC 4314 §4 RENAME).
    fn rename_mailbox_of(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        to: &MailboxName,
    ) -> Result<()>;

    // --- emails ---
    /// Stores a new email in one mailbox (IMAP APPEND). `\Deleted` among the
    /// keywords marks the new entry, not the email.
    fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: NewEmail<'_>,
    ) -> Result<Appended>;
    /// Stores several new emails in one mailbox, all or none (IMAP
    /// MULTIAPPEND, RFC 3502): one transaction. UIDs ascend in the given order.
    fn append_many(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<NewEmail<'_>>,
    ) -> Result<Vec<Appended>>;
    /// Stores a new email of `account` in several of its own mailboxes at
    /// once (JMAP `Email/import`, `Email/set` create): one transaction, so
    /// it is in all of them or in none. The first mailbox's entry is the
    /// one returned.
    fn import_email(
        &self,
        account: AccountId,
        mailboxes: &[MailboxId],
        email: NewEmail<'_>,
    ) -> Result<Appended>;
    /// Stores one message for many recipients: one blob, one transaction,
    /// one result per recipient (a full quota refuses only that recipient).
    fn deliver(
        &self,
        raw: &[u8],
        received: Option<i64>,
        recipients: &[Recipient],
    ) -> Result<Vec<Result<Appended>>>;
    /// A [`Spool`] for a body about to arrive: in memory below a threshold,
    /// else a temporary file that becomes the blob (see [`spool`]).
    fn spool(&self) -> Spool {
        Spool::in_memory()
    }
    /// [`Backend::deliver`] for a spooled body: a spooled file becomes the
    /// blob without being copied; the message is in memory only to be
    /// parsed, under the [`MemoryBudget`]. Blocks while the budget is taken.
    fn deliver_spooled(
        &self,
        body: &Spooled,
        received: Option<i64>,
        recipients: &[Recipient],
    ) -> Result<Vec<Result<Appended>>> {
        let raw = body.load(1)?;
        self.deliver(&raw, received, recipients)
    }
    /// [`Backend::append_many`] for spooled bodies (as
    /// [`Backend::deliver_spooled`]): all or none, UIDs in the given order.
    /// This default reads the bodies whole, outside the memory budget.
    fn append_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        emails: Vec<SpooledEmail<'_>>,
    ) -> Result<Vec<Appended>> {
        let mut raws = Vec::with_capacity(emails.len());
        for e in &emails {
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut e.body.reader()?, &mut raw)?;
            raws.push(raw);
        }
        let emails = emails
            .into_iter()
            .zip(&raws)
            .map(|(e, raw)| NewEmail {
                raw,
                keywords: e.keywords,
                received: e.received,
            })
            .collect();
        self.append_many(account, mailbox, emails)
    }
    /// IMAP REPLACE (RFC 8508 §3.3): stores `email` in `mailbox` and
    /// expunges the entry `uid` of `from` (`\Deleted` or not) in one
    /// transaction: if either fails, neither happens. The new email is
    /// stored first, so the quota must hold both for a moment. `NotFound`
    /// when the entry is gone already.
    fn replace_spooled(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        email: SpooledEmail<'_>,
        from: MailboxId,
        uid: Uid,
    ) -> Result<Replaced>;
    /// The UID/flags view of a mailbox, ascending by UID.
    fn mailbox_entries(&self, account: AccountId, mailbox: MailboxId) -> Result<Vec<MailboxEntry>>;
    /// The URLAUTH mailbox access key of `mailbox` (RFC 4467 §2.2: 32
    /// random bytes, kept until RESETKEY); with `create`, one is made if
    /// the mailbox has none. `None`: no key (URLs of the mailbox are not
    /// valid).
    fn urlauth_key(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        create: bool,
    ) -> Result<Option<Secret<Vec<u8>>>>;
    /// RESETKEY (RFC 4467 §7.1): forgets the access key of `mailbox`, or of
    /// every mailbox of the account, so that every URL they authorized is
    /// no longer valid.
    fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()>;
    /// One entry of a mailbox by UID (an IMAP URL's `;UID=`, RFC 5092), or
    /// `None` when no message has it.
    fn mailbox_entry(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<Option<MailboxEntry>> {
        let entries = self.mailbox_entries(account, mailbox)?;
        Ok(entries
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .map(|i| entries[i].clone()))
    }
    /// Changes to a mailbox's entries after `since`.
    fn mailbox_changes(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<MailboxDelta>;
    /// Changes `flags` on the entries `uids` of a mailbox. Keywords change on
    /// the email (every mailbox sees them); `\Deleted` only on the entry.
    fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &[Keyword],
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsChanged>;
    /// Adds the mailbox `to` to the emails at `uids` (no bytes copied).
    fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied>;
    /// Like copy, then removes the emails from `from`.
    fn move_emails(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied>;
    /// Removes the entries marked `\Deleted` (only those in `uids` when given)
    /// and returns their UIDs, ascending.
    fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[Uid]>,
    ) -> Result<(Vec<Uid>, ModSeq)>;
    /// Adds and removes keywords of whole emails (POP3, JMAP).
    fn set_email_keywords(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[Keyword],
        remove: &[Keyword],
    ) -> Result<ModSeq>;
    /// Adds and removes mailboxes of whole emails (POP3 policies, JMAP).
    /// An email that loses its last visible mailbox follows the leave policy.
    fn set_email_mailboxes(
        &self,
        account: AccountId,
        emails: &[EmailId],
        add: &[MailboxId],
        remove: &[MailboxId],
    ) -> Result<ModSeq>;
    /// Deletes emails for good.
    fn destroy_emails(&self, account: AccountId, emails: &[EmailId]) -> Result<ModSeq>;
    /// The exact bytes stored.
    fn email_raw(&self, account: AccountId, email: EmailId) -> Result<Vec<u8>>;
    /// The first `len` bytes stored (all of them if fewer), read without
    /// loading the rest: e.g. the header, up to [`EmailMeta::header_end`].
    fn email_raw_prefix(&self, account: AccountId, email: EmailId, len: u64) -> Result<Vec<u8>> {
        let mut raw = self.email_raw(account, email)?;
        raw.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(raw)
    }
    /// The bytes stored, as a reader, so that a large message is sent a
    /// piece at a time instead of being loaded whole (POP3 RETR).
    fn email_reader(&self, account: AccountId, email: EmailId) -> Result<MessageReader> {
        Ok(MessageReader::Bytes(std::io::Cursor::new(
            self.email_raw(account, email)?,
        )))
    }
    /// The metadata parsed at ingest.
    fn email_meta(&self, account: AccountId, email: EmailId) -> Result<EmailMeta>;
    /// Full-text search (FTS5 syntax-free: words are ANDed), newest first.
    fn search_text(&self, account: AccountId, query: &str) -> Result<Vec<EmailId>>;

    // --- POP3 ---
    /// The POP3 maildrop, oldest first. Normally INBOX's emails that no POP3
    /// client deleted; with `recent` (Gmail's "recent mode"), every email of
    /// the last 30 days not in Trash or Junk, whatever POP3 did before.
    fn pop_maildrop(&self, account: AccountId, recent: bool) -> Result<Vec<PopMessage>>;
    /// Applies a POP3 session's `DELE`s at `QUIT`, in one transaction, by the
    /// account's POP policy; those emails are never offered to POP3 again.
    /// Emails gone meanwhile (deleted by another device) are skipped.
    fn pop_commit(&self, account: AccountId, deleted: &[EmailId]) -> Result<ModSeq>;
    /// Takes the account's maildrop lock; `None` while another session has it.
    fn pop_lock(&self, account: AccountId) -> Option<PopLock>;

    // --- sync ---
    /// Email and mailbox changes after `since`, from the change log.
    fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Changes>;
    /// The change log rows after `since`, oldest first: about `limit` rows,
    /// more only to finish the last commit's (a commit is never cut).
    fn change_log(&self, account: AccountId, since: ModSeq, limit: usize) -> Result<ChangeLog>;
    /// A receiver of change events, published after each commit.
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent>;

    // --- Exchange ActiveSync devices ---
    /// A device of `account` by its DeviceId.
    fn eas_device(&self, account: AccountId, device_id: &str) -> Result<Option<EasDevice>>;
    /// Every device of `account`, by DeviceId.
    fn eas_devices(&self, account: AccountId) -> Result<Vec<EasDevice>>;
    /// Creates or updates a device (all its fields but `created`).
    fn eas_put_device(&self, device: &EasDevice) -> Result<()>;
    /// Forgets a device and its sync state; whether it existed.
    fn eas_delete_device(&self, account: AccountId, device_id: &str) -> Result<bool>;
    /// A device's sync state for one collection, as last written.
    fn eas_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
    ) -> Result<Option<Vec<u8>>>;
    /// Writes (`Some`) or forgets (`None`) a device's sync state for one
    /// collection. The device must exist.
    fn eas_set_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
        state: Option<Vec<u8>>,
    ) -> Result<()>;

    // --- outbound queue (queue.rs) ---
    /// Queues a message for remote recipients; durable when it returns.
    fn queue_add(&self, item: &NewQueued<'_>) -> Result<QueueId> {
        self.queue_add_at(item, 0)
    }
    /// Queues a message held until `not_before` (Unix seconds; 0: due
    /// now), e.g. a JMAP submission that may still be cancelled
    /// (RFC 8621 §7 `undoStatus`, RFC 4865 FUTURERELEASE).
    fn queue_add_at(&self, item: &NewQueued<'_>, not_before: i64) -> Result<QueueId>;
    /// Removes a message that is still held at `now` and was never tried
    /// (its first attempt is after `now`); false, and nothing changed, if
    /// it is gone or may be leaving already.
    fn queue_cancel_held(&self, id: QueueId, now: i64) -> Result<bool>;
    /// One queued message (without its bytes), if still queued.
    fn queue_message(&self, id: QueueId) -> Result<Option<QueuedMessage>> {
        Ok(self.queue_list()?.into_iter().find(|m| m.id == id))
    }
    /// Every queued message, oldest first.
    fn queue_list(&self) -> Result<Vec<QueuedMessage>>;
    /// At most `limit` messages whose next attempt is due at `now`.
    fn queue_due(&self, now: i64, limit: usize) -> Result<Vec<QueuedMessage>>;
    /// A queued message's bytes.
    fn queue_raw(&self, id: QueueId) -> Result<Vec<u8>>;
    /// Records an attempt; the message leaves the queue once no recipient
    /// is pending.
    fn queue_update(&self, id: QueueId, update: &QueueUpdate) -> Result<()>;
    /// Makes a message due now.
    fn queue_retry(&self, id: QueueId) -> Result<()>;
    /// Removes a message from the queue without a bounce.
    fn queue_delete(&self, id: QueueId) -> Result<()>;
    /// The cached MTA-STS policy of a (lowercase) domain, expired or not.
    fn sts_policy(&self, domain: &str) -> Result<Option<StsPolicy>>;
    /// Caches a domain's MTA-STS policy, replacing the one before.
    fn sts_policy_put(&self, domain: &str, policy: &StsPolicy) -> Result<()>;
    /// Every cached MTA-STS policy with its domain, by domain.
    fn sts_policies(&self) -> Result<Vec<(String, StsPolicy)>>;
    /// Counts one outbound TLS session (TLS-RPT, RFC 8460).
    fn tls_result_add(&self, result: &TlsResult) -> Result<()>;
    /// The counted sessions of the days up to `last_day` (inclusive),
    /// ordered by domain, day and the other fields.
    fn tls_results(&self, last_day: i64) -> Result<Vec<TlsResultCount>>;
    /// Forgets a domain's counted sessions up to `last_day` (inclusive),
    /// once they are reported.
    fn tls_results_delete(&self, domain: &str, last_day: i64) -> Result<()>;
    /// Counts one inbound message's DMARC evaluation (RFC 7489 §7.2).
    fn dmarc_result_add(&self, result: &DmarcResult) -> Result<()>;
    /// The counted evaluations of the days up to `last_day` (inclusive),
    /// ordered by domain, day and the other fields.
    fn dmarc_results(&self, last_day: i64) -> Result<Vec<DmarcResultCount>>;
    /// Forgets a domain's counted evaluations up to `last_day`.
    fn dmarc_results_delete(&self, domain: &str, last_day: i64) -> Result<()>;

    // --- maintenance ---
    /// Verifies integrity: every row's blob exists, counters and UIDs agree.
    fn check(&self) -> Result<CheckReport>;
    /// Deletes the blobs nothing references any more that the backend
    /// keeps for a while (the PostgreSQL backend's S3 objects, after their
    /// grace period: `crate::s3`); how many. Run now and then.
    fn collect_blobs(&self) -> Result<u64> {
        Ok(0)
    }
    /// Commits pending writes and stops the writer; later writes fail with `Closed`.
    fn close(&self);
}

/// A handle on the store: cheap to clone, shared by every session.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

/// A stored message being read ([`Backend::email_reader`]): a small one
/// comes whole from the database, a large one from its blob file (which
/// stays readable even if the message is deleted meanwhile).
#[derive(Debug)]
pub enum MessageReader {
    Bytes(std::io::Cursor<Vec<u8>>),
    File(std::fs::File),
}

impl std::io::Read for MessageReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            MessageReader::Bytes(c) => c.read(buf),
            MessageReader::File(f) => f.read(buf),
        }
    }
}

impl std::io::Seek for MessageReader {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match self {
            MessageReader::Bytes(c) => c.seek(pos),
            MessageReader::File(f) => f.seek(pos),
        }
    }
}

impl MessageReader {
    /// The message's length in bytes.
    pub fn byte_len(&self) -> std::io::Result<u64> {
        match self {
            MessageReader::Bytes(c) => Ok(c.get_ref().len() as u64),
            MessageReader::File(f) => Ok(f.metadata()?.len()),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the embedded store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Ok(Store {
            backend: Arc::new(sqlite::SqliteBackend::open(data_dir)?),
        })
    }

    /// Opens the store the configuration names: the PostgreSQL database at
    /// `url` (`postgresql://user:pass@host:port/db`, from `[store] url` or
    /// `TIDINGS_STORE_URL`), else the embedded store in `data_dir`.
    pub fn open_with(data_dir: &Path, url: Option<&str>) -> Result<Store> {
        match url {
            Some(url) => Store::open_with_blobs(data_dir, Some(url), None),
            None => Store::open(data_dir),
        }
    }

    /// As [`Store::open_with`], with the S3 blob store of `blobs`
    /// (`[store] blobs = "s3://…"`), which only the PostgreSQL backend has.
    pub fn open_with_blobs(
        data_dir: &Path,
        url: Option<&str>,
        blobs: Option<s3::S3Config>,
    ) -> Result<Store> {
        match url {
            Some(url) if url.starts_with("postgresql://") || url.starts_with("postgres://") => {
                Ok(Store {
                    backend: Arc::new(postgres::PgBackend::open_with_blobs(url, blobs)?),
                })
            }
            Some(url) => Err(StoreError::Refused(format!(
                "unknown store URL {url:?}: expected postgresql://…"
            ))),
            None if blobs.is_some() => Err(StoreError::Refused(
                "an S3 blob store ([store] blobs) needs the PostgreSQL store ([store] url); the embedded store keeps its blobs in its data directory".into(),
            )),
            None => Store::open(data_dir),
        }
    }

    /// Wraps another backend.
    pub fn from_backend(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// Makes the new or empty data directory `data_dir` from a backup made
    /// by [`Backend::backup`] (`tidings restore`); run `check` on it after.
    pub fn restore(backup: &Path, data_dir: &Path) -> Result<sqlite::backup::BackupReport> {
        sqlite::backup::restore(backup, data_dir)
    }
}

impl Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}
