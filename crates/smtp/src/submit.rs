//! Mail that the server sends on an account's behalf without an SMTP
//! session: JMAP `EmailSubmission` (RFC 8621 §7) and vacation replies
//! (RFC 3834). Both go the way SMTP submission's remote mail goes: the
//! originator rule and sending limits of submission, Date and Message-ID
//! added when missing, a DKIM signature as the From: domain, then the
//! outbound queue (retries, bounces, local recipients delivered by the
//! worker).
//!
//! [`Submitter`] is blocking (the store is): call it from a blocking
//! thread.

use std::sync::Arc;

use tidings_store::{NewQueued, QueueId, QueueRecipient, SendCheck, SendLimits, Store, StoreError};
use tidings_types::AccountId;

use crate::auth::DkimKey;
use crate::message;
use crate::outbound::OutboundHandle;

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// An originator field (From, Sender, Resent-*) or the envelope
    /// sender names an address the account may not send as.
    #[error("{account} may not send as {address}")]
    Forbidden { account: String, address: String },
    /// The header section breaks RFC 5322 §3.6 (one From, …).
    #[error("{0}")]
    Malformed(String),
    /// No recipient.
    #[error("no recipients")]
    NoRecipients,
    /// The account's hourly limit: try later.
    #[error("{0} messages sent in the last hour, the limit")]
    OverHour(u32),
    /// The account's daily limit.
    #[error("{0} messages sent in the last 24 hours, the limit")]
    OverDay(u32),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// One message to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The sending account (its bounces go to its INBOX).
    pub account: AccountId,
    /// The envelope sender (RFC 5321 MAIL FROM); empty for `<>`.
    pub sender: &'a str,
    pub recipients: &'a [String],
    /// The message as it is to leave (Bcc already removed).
    pub raw: &'a [u8],
    /// Unix seconds before which it does not leave (0: now).
    pub not_before: i64,
}

/// Queues mail for an account: checks, headers, signature, queue.
#[derive(Clone, Debug)]
pub struct Submitter {
    store: Store,
    hostname: String,
    dkim: Option<Arc<DkimKey>>,
    limits: SendLimits,
    outbound: OutboundHandle,
}

impl Submitter {
    /// `limits` are the server's default sending limits (`[smtp]
    /// send_limits`), as for SMTP submission.
    pub fn new(
        store: Store,
        hostname: String,
        dkim: Option<Arc<DkimKey>>,
        limits: SendLimits,
        outbound: OutboundHandle,
    ) -> Self {
        Submitter {
            store,
            hostname,
            dkim,
            limits,
            outbound,
        }
    }

    /// Checks and queues a message the account submits (RFC 6409 §6.1
    /// originators, §8 Date and Message-ID; the sending limits counted
    /// last, so a refused message does not count).
    pub fn submit(&self, out: &Outgoing<'_>) -> Result<QueueId, SubmitError> {
        let name = || {
            self.store
                .account_by_id(out.account)
                .ok()
                .flatten()
                .map_or_else(|| out.account.to_string(), |a| a.email)
        };
        if out.recipients.is_empty() {
            return Err(SubmitError::NoRecipients);
        }
        let header = message::header_section(out.raw);
        let originators =
            message::originators(header).map_err(|e| SubmitError::Malformed(e.to_string()))?;
        let mut addresses = originators.all.clone();
        if !out.sender.is_empty() {
            addresses.push(out.sender.to_lowercase());
        }
        for address in addresses {
            if !self.store.may_send_as(out.account, &address)? {
                return Err(SubmitError::Forbidden {
                    account: name(),
                    address,
                });
            }
        }
        let now = message::now();
        match self.store.reserve_send(out.account, now, self.limits)? {
            SendCheck::Allowed => {}
            SendCheck::OverHour { limit } => return Err(SubmitError::OverHour(limit)),
            SendCheck::OverDay { limit } => return Err(SubmitError::OverDay(limit)),
        }
        let domain = originators
            .from
            .first()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.to_string());
        let raw = self.finish(out.raw, domain.as_deref(), now);
        self.queue(
            out.account,
            out.sender,
            out.recipients,
            &raw,
            out.not_before,
        )
    }

    /// Queues an automatic reply (RFC 3834) of `account` to `recipient`,
    /// with the null envelope sender (§3.3: nothing comes back to it),
    /// signed as `domain`. No originator check or sending limit: the
    /// server writes it, once per sender and period.
    pub fn auto_reply(
        &self,
        account: AccountId,
        recipient: &str,
        raw: &[u8],
        domain: &str,
    ) -> Result<QueueId, SubmitError> {
        let raw = self.finish(raw, Some(domain), message::now());
        self.queue(account, "", &[recipient.to_string()], &raw, 0)
    }

    /// Date and Message-ID when missing, then the DKIM-Signature.
    fn finish(&self, raw: &[u8], domain: Option<&str>, now: i64) -> Vec<u8> {
        let header = message::header_section(raw);
        let mut out = Vec::with_capacity(raw.len() + 512);
        let mut added = String::new();
        if !message::has_header(header, "Date") {
            added.push_str(&format!("Date: {}\r\n", message::rfc5322_date(now)));
        }
        if !message::has_header(header, "Message-ID") {
            added.push_str(&format!(
                "Message-ID: <{}@{}>\r\n",
                message::random_hex(16),
                self.hostname
            ));
        }
        out.extend_from_slice(added.as_bytes());
        out.extend_from_slice(raw);
        if let (Some(key), Some(domain)) = (&self.dkim, domain) {
            // RFC 6376: signed as the From: domain, which the user owns.
            match key.sign(domain, &out) {
                Ok(sig) => {
                    let mut signed = sig.into_bytes();
                    signed.extend_from_slice(&out);
                    out = signed;
                }
                Err(e) => tracing::warn!("DKIM signing failed: {e}"),
            }
        }
        out
    }

    fn queue(
        &self,
        account: AccountId,
        sender: &str,
        recipients: &[String],
        raw: &[u8],
        not_before: i64,
    ) -> Result<QueueId, SubmitError> {
        let item = NewQueued {
            raw,
            sender: sender.to_string(),
            account: Some(account),
            recipients: recipients
                .iter()
                .map(|r| QueueRecipient::new(r.clone()))
                .collect(),
            envid: None,
            ret_hdrs: false,
            ret_full: false,
            requiretls: false,
        };
        let id = self.store.queue_add_at(&item, not_before)?;
        tracing::info!(queued = %id, recipients = recipients.len(), not_before, "queued by the server for {account}");
        self.outbound.kick();
        Ok(id)
    }
}
