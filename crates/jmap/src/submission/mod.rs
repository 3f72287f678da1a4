//! `EmailSubmission/*` (RFC 8621 §7): sending an Email of the account.
//!
//! The message leaves through the server's SMTP outbound queue, behind
//! the [`Outbound`] trait (this crate depends on no other protocol crate;
//! `tidings-server` implements it with `tidings_smtp::submit`, which
//! applies the originator rule, sending limits and DKIM signature of SMTP
//! submission). Local recipients are delivered by the queue worker too.
//!
//! Implementation notes:
//! - The envelope, when not given, is derived as §7 says: `mailFrom` from
//!   Sender, else From; `rcptTo` the To, Cc and Bcc addresses, deduplicated.
//!   Bcc fields are removed from the copy that is sent (RFC 5322 §3.6.3).
//! - Delayed send: `mailFrom` parameters `HOLDFOR=<seconds>` or
//!   `HOLDUNTIL=<date>` (RFC 4865 FUTURERELEASE) up to `maxDelayedSend`
//!   seconds; the message waits in the queue until `sendAt`, and while it
//!   does `undoStatus` is `pending` and `update {undoStatus: "canceled"}`
//!   takes it out of the queue. After `sendAt` it is `final` and
//!   cancelling is `cannotUnsend`.
//! - `deliveryStatus` is read from the queue while the message is in it
//!   (per recipient: `queued`, `yes`, `no`); once it has left, null.
//! - The sent Email is left where it is unless the client asks
//!   (`onSuccessUpdateEmail`, as clients do to move Drafts to Sent), as
//!   RFC 8621 leaves it to the client.
//! - Submissions are stored with `crate::objects`; the last
//!   [`MAX_KEPT`] are kept (older ones are forgotten, reported destroyed).

pub(crate) mod get;
pub(crate) mod query;
pub(crate) mod set;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings_store::QueueId;
use tidings_types::AccountId;

/// The capability of submission (RFC 8621 §1.3.2).
pub const CAPABILITY: &str = "urn:ietf:params:jmap:submission";
/// The collection's name.
pub const KIND: &str = "submissions";
/// Submissions kept per account.
pub const MAX_KEPT: usize = 500;
/// Recipients per submission (as SMTP's `max_recipients` default).
pub const MAX_RECIPIENTS: usize = 100;

/// The properties of an EmailSubmission (RFC 8621 §7).
pub const PROPERTIES: [&str; 10] = [
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
];

/// Sends a message through the server's outbound path.
pub trait Outbound: Send + Sync + std::fmt::Debug {
    /// Checks the message (originators, sending limits), signs it and
    /// queues it to leave at `send_at` (Unix seconds); durable when it
    /// returns.
    fn send(&self, message: &Outgoing<'_>) -> Result<QueueId, SendError>;
}

/// One message to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub account: AccountId,
    pub mail_from: &'a str,
    pub rcpt_to: &'a [String],
    pub raw: &'a [u8],
    pub send_at: i64,
}

/// Why [`Outbound::send`] refused, by the SetError it becomes.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A From/Sender address the account may not use (`forbiddenFrom`).
    #[error("{0}")]
    ForbiddenFrom(String),
    /// The account may not send now, e.g. over its limits
    /// (`forbiddenToSend`).
    #[error("{0}")]
    ForbiddenToSend(String),
    /// The message is not valid to send (`invalidEmail`).
    #[error("{0}")]
    InvalidEmail(String),
    /// Anything else (`serverFail`).
    #[error("{0}")]
    Failed(String),
}

/// An SMTP address with parameters (RFC 8621 §7 Address).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub email: String,
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

/// RFC 8621 §7 Envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub mail_from: Address,
    pub rcpt_to: Vec<Address>,
}

/// One stored submission.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    pub identity_id: String,
    pub email_id: String,
    pub thread_id: String,
    pub envelope: Envelope,
    pub send_at: i64,
    /// `pending` (until `send_at`), `canceled`.
    pub undo_status: String,
    pub queue_id: i64,
}

impl Submission {
    /// The undo status at `now` (RFC 8621 §7): pending only while held.
    pub fn undo_status_at(&self, now: i64) -> &str {
        match self.undo_status.as_str() {
            "pending" if now >= self.send_at => "final",
            s => s,
        }
    }

    pub fn to_json(&self, id: &str, now: i64, delivery: Value) -> Value {
        json!({
            "id": id,
            "identityId": self.identity_id,
            "emailId": self.email_id,
            "threadId": self.thread_id,
            "envelope": self.envelope,
            "sendAt": crate::date::utc(self.send_at),
            "undoStatus": self.undo_status_at(now),
            "deliveryStatus": delivery,
            "dsnBlobIds": [],
            "mdnBlobIds": [],
        })
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `deliveryStatus` (RFC 8621 §7) from the queue, or null once the
/// message left it (or was never queued).
pub fn delivery_status(store: &tidings_store::Store, s: &Submission) -> Value {
    let Ok(Some(queued)) = store.queue_message(QueueId(s.queue_id)) else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for r in queued.recipients {
        let delivered = match r.status {
            tidings_store::DeliveryStatus::Pending => "queued",
            tidings_store::DeliveryStatus::Delivered => "yes",
            tidings_store::DeliveryStatus::Failed => "no",
        };
        out.insert(
            r.address,
            json!({
                "smtpReply": r.reply.unwrap_or_else(|| "250 2.0.0 queued".into()),
                "delivered": delivered,
                "displayed": "unknown",
            }),
        );
    }
    Value::Object(out)
}
