//! What an account may send, and its vacation response: rules that SMTP
//! submission, JMAP submission and the inbound auto-responder share.
//!
//! - [`Store::may_send_as`]: the originator rule of submission (RFC 6409
//!   §6.1): an address in a local domain that resolves to the account
//!   (its own address, an alias or a catch-all that targets it).
//! - [`Vacation`]: an account's vacation response (RFC 8621 §8), kept as
//!   an account METADATA entry (so it is in backups and moves with the
//!   account), with the senders already answered (RFC 3834 §2: at most
//!   one reply per sender per period) in a second entry, at most
//!   [`MAX_REPLIED`] of them.
//!
//! The entries' writes are serialized in this process by one lock; two
//! processes writing them at once (the CLI beside the server) may lose one
//! of the writes, never corrupt the store.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tidings_types::AccountId;

use crate::{Result, Store};

/// The METADATA entry of the vacation response.
pub const VACATION_ENTRY: &str = "/private/vendor/tidings/vacation";
/// The METADATA entry of the senders answered.
const REPLIED_ENTRY: &str = "/private/vendor/tidings/vacation-replied";
/// The most senders remembered per account; beyond, the oldest are
/// forgotten (they may get a second reply within the period).
pub const MAX_REPLIED: usize = 10_000;

/// Serializes read-modify-write of the entries of this module.
static LOCK: Mutex<()> = Mutex::new(());

/// An account's vacation response (RFC 8621 §8.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacation {
    pub enabled: bool,
    /// Unix seconds: no reply before.
    pub from_date: Option<i64>,
    /// Unix seconds: no reply from then on.
    pub to_date: Option<i64>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
}

impl Vacation {
    /// Whether it answers mail that arrives at `now` (RFC 8621 §8.1:
    /// from `fromDate` inclusive to `toDate` exclusive).
    pub fn active_at(&self, now: i64) -> bool {
        self.enabled
            && self.from_date.is_none_or(|f| now >= f)
            && self.to_date.is_none_or(|t| now < t)
    }
}

impl Store {
    /// Whether `domain` is one of the store's own.
    pub fn is_local_domain(&self, domain: &str) -> Result<bool> {
        Ok(self
            .domains()?
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(domain)))
    }

    /// Whether `account` may send as `address` (RFC 6409 §6.1): the
    /// address is in a local domain and mail to it reaches the account.
    pub fn may_send_as(&self, account: AccountId, address: &str) -> Result<bool> {
        let address = address.to_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(false);
        };
        if !self.is_local_domain(domain)? {
            return Ok(false);
        }
        Ok(self.resolve_recipient(&address)? == Some(account))
    }

    /// The addresses `account` receives mail at and may send as: its own,
    /// then every alias whose one target it is (catch-alls and aliases
    /// with several targets, lists, left out), sorted.
    pub fn own_addresses(&self, account: AccountId) -> Result<Vec<String>> {
        let Some(me) = self.account_by_id(account)? else {
            return Ok(Vec::new());
        };
        let mut out = vec![me.email.to_lowercase()];
        let mut aliases: Vec<String> = self
            .aliases()?
            .into_iter()
            .filter(|a| {
                matches!(a.targets.as_slice(), [t] if t.eq_ignore_ascii_case(&me.email))
                    && !a.address.starts_with('@')
            })
            .map(|a| a.address.to_lowercase())
            .collect();
        aliases.sort();
        aliases.dedup();
        out.extend(aliases);
        Ok(out)
    }

    /// The account's vacation response (disabled if none was set, or if
    /// the entry does not parse).
    pub fn vacation(&self, account: AccountId) -> Result<Vacation> {
        Ok(self
            .metadata(account, None)?
            .into_iter()
            .find(|e| e.name == VACATION_ENTRY)
            .and_then(|e| serde_json::from_slice(&e.value).ok())
            .unwrap_or_default())
    }

    /// Sets the account's vacation response and forgets the senders
    /// answered before (a new response is owed to everyone).
    pub fn set_vacation(&self, account: AccountId, vacation: &Vacation) -> Result<()> {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let value =
            serde_json::to_vec(vacation).map_err(|e| crate::StoreError::Database(e.to_string()))?;
        self.set_metadata(
            account,
            None,
            &[
                (VACATION_ENTRY.to_string(), Some(value)),
                (REPLIED_ENTRY.to_string(), None),
            ],
            usize::MAX,
        )?;
        Ok(())
    }

    /// Whether `sender` (lowercased) is owed a vacation reply at `now`:
    /// not if one went to it less than `period` seconds ago (RFC 3834
    /// §2). When owed, it is recorded as answered in the same step, so
    /// two deliveries at once yield one reply.
    pub fn vacation_reply_due(
        &self,
        account: AccountId,
        sender: &str,
        now: i64,
        period: i64,
    ) -> Result<bool> {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let sender = sender.to_lowercase();
        let mut replied: BTreeMap<String, i64> = self
            .metadata(account, None)?
            .into_iter()
            .find(|e| e.name == REPLIED_ENTRY)
            .and_then(|e| serde_json::from_slice(&e.value).ok())
            .unwrap_or_default();
        replied.retain(|_, at| now.saturating_sub(*at) < period);
        if replied.contains_key(&sender) {
            return Ok(false);
        }
        replied.insert(sender, now);
        if replied.len() > MAX_REPLIED {
            let mut by_age: Vec<(i64, String)> =
                replied.iter().map(|(s, at)| (*at, s.clone())).collect();
            by_age.sort();
            for (_, s) in by_age.iter().take(replied.len() - MAX_REPLIED) {
                replied.remove(s);
            }
        }
        let value =
            serde_json::to_vec(&replied).map_err(|e| crate::StoreError::Database(e.to_string()))?;
        self.set_metadata(
            account,
            None,
            &[(REPLIED_ENTRY.to_string(), Some(value))],
            usize::MAX,
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_between_from_and_to() {
        let v = Vacation {
            enabled: true,
            from_date: Some(100),
            to_date: Some(200),
            ..Vacation::default()
        };
        assert!(!v.active_at(99));
        assert!(v.active_at(100));
        assert!(v.active_at(199));
        assert!(!v.active_at(200));
        assert!(
            !Vacation {
                enabled: false,
                ..v
            }
            .active_at(150)
        );
    }
}
