//! The outbound queue's types: messages waiting to be delivered to other
//! servers, with a status per recipient.
//!
//! The queue lives in the store so that a message accepted for a remote
//! recipient is as durable as one delivered locally: `queue_add` returns
//! after the commit, and the SMTP `250` follows it. The delivery worker
//! (in `tidings-smtp`) takes due messages with `queue_due`, records each
//! attempt with `queue_update`, and a message leaves the queue when no
//! recipient is pending any more.

use std::fmt;

use tidings_types::AccountId;

/// A queued message's id (stable, never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub i64);

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Q{}", self.0)
    }
}

impl std::str::FromStr for QueueId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s
            .strip_prefix('Q')
            .or_else(|| s.strip_prefix('q'))
            .unwrap_or(s);
        digits
            .parse()
            .map(QueueId)
            .map_err(|_| format!("invalid queue id `{s}` (expected like Q12)"))
    }
}

/// Where one recipient of a queued message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; will be tried again.
    Pending,
    /// Accepted by the receiving server.
    Delivered,
    /// Refused for good, or still pending when the queue lifetime ran out.
    Failed,
}

impl DeliveryStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRecipient {
    pub address: String,
    pub status: DeliveryStatus,
    /// RFC 3461 NOTIFY as the client gave it (`NEVER`, `FAILURE,DELAY`);
    /// empty for the default.
    pub notify: String,
    /// RFC 3461 ORCPT as given.
    pub orcpt: Option<String>,
    /// The last reply of the receiving server (or why it could not be reached).
    pub reply: Option<String>,
    /// Whether a "delayed" DSN (RFC 3464) went to the sender already.
    pub delay_reported: bool,
}

impl QueueRecipient {
    /// A pending recipient.
    pub fn new(address: impl Into<String>) -> Self {
        QueueRecipient {
            address: address.into(),
            status: DeliveryStatus::Pending,
            notify: String::new(),
            orcpt: None,
            reply: None,
            delay_reported: false,
        }
    }

    /// Whether a failure should be reported to the sender (RFC 3461 §4.1:
    /// not with NOTIFY=NEVER, nor with a NOTIFY that lacks FAILURE).
    pub fn wants_failure_report(&self) -> bool {
        self.notify.is_empty()
            || self
                .notify
                .split(',')
                .any(|w| w.eq_ignore_ascii_case("FAILURE"))
    }

    /// Whether NOTIFY asked for `word` (`SUCCESS`, `DELAY`) explicitly.
    pub fn notify_has(&self, word: &str) -> bool {
        self.notify.split(',').any(|w| w.eq_ignore_ascii_case(word))
    }
}

/// A message to queue.
#[derive(Clone, Debug)]
pub struct NewQueued<'a> {
    pub raw: &'a [u8],
    /// The envelope sender; empty for the null path `<>` (no bounces).
    pub sender: String,
    /// The local account that sent it (its bounces go to this account's INBOX).
    pub account: Option<AccountId>,
    pub recipients: Vec<QueueRecipient>,
    /// RFC 3461 ENVID, xtext as given.
    pub envid: Option<String>,
    /// RFC 3461 RET=HDRS: bounces carry only the headers.
    pub ret_hdrs: bool,
    /// RFC 3461 RET=FULL given explicitly (success reports carry only the
    /// headers unless it was, §4.3).
    pub ret_full: bool,
    /// RFC 8689 REQUIRETLS: only over verified TLS to a next hop that
    /// offers REQUIRETLS.
    pub requiretls: bool,
}

/// A queued message (without its bytes: see `queue_raw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: QueueId,
    pub sender: String,
    pub account: Option<AccountId>,
    pub recipients: Vec<QueueRecipient>,
    pub envid: Option<String>,
    pub ret_hdrs: bool,
    pub ret_full: bool,
    /// RFC 8689 REQUIRETLS (see [`NewQueued::requiretls`]).
    pub requiretls: bool,
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds; 0 means now.
    pub next_attempt: i64,
    pub attempts: u32,
}

/// The outcome of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUpdate {
    /// By index into `QueuedMessage::recipients`: the new status and reply.
    pub recipients: Vec<(usize, DeliveryStatus, Option<String>)>,
    /// When to try again (Unix seconds), if anything is still pending.
    pub next_attempt: i64,
    /// Recipients (by index) whose "delayed" report (RFC 3461 NOTIFY=DELAY)
    /// went out in this attempt: it is sent once.
    pub delay_reported: Vec<usize>,
}

/// One outbound TLS session's outcome as TLS-RPT (RFC 8460 §4.4) counts
/// it: sessions with the same fields are summed per UTC day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TlsResult {
    /// The UTC day (Unix seconds / 86400).
    pub day: i64,
    /// The policy domain: the recipient domain (lowercase).
    pub domain: String,
    /// `"sts"`, `"tlsa"` or `"no-policy-found"`.
    pub policy_type: String,
    /// The policy as the report gives it (`policy-string`), one line per
    /// element; empty without a policy.
    pub policy: String,
    /// The MX host the session was with.
    pub mx_host: String,
    /// Its address.
    pub receiving_ip: String,
    /// `"success"`, or an RFC 8460 §4.3 result type.
    pub result: String,
}

/// One inbound message's DMARC evaluation as an aggregate report row
/// (RFC 7489 §7.2, appendix C) counts it: messages with the same fields
/// are summed per UTC day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DmarcResult {
    /// The UTC day (Unix seconds / 86400).
    pub day: i64,
    /// The author (RFC5322.From) domain, lowercase.
    pub domain: String,
    /// `policy_published`: `p sp adkim aspf pct`.
    pub policy: String,
    /// The record's `rua` URIs, space-separated.
    pub rua: String,
    pub source_ip: String,
    /// `none`, `quarantine` or `reject`.
    pub disposition: String,
    /// Aligned DKIM and SPF passed.
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub envelope_from: String,
    pub dkim_domain: String,
    pub dkim_result: String,
    pub spf_domain: String,
    pub spf_result: String,
}

/// A [`DmarcResult`] and how many messages had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmarcResultCount {
    pub result: DmarcResult,
    pub count: u64,
}

/// A [`TlsResult`] and how many sessions had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsResultCount {
    pub result: TlsResult,
    pub count: u64,
}

/// An MTA-STS policy (RFC 8461) as fetched and cached for one domain; the
/// SMTP crate parses `policy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsPolicy {
    /// The `id` of the `_mta-sts` TXT record it was fetched for.
    pub id: String,
    /// The policy file's text.
    pub policy: String,
    /// When it was fetched, Unix seconds.
    pub fetched: i64,
    /// When it stops being valid (`fetched` + its `max_age`), Unix seconds.
    pub expires: i64,
}
