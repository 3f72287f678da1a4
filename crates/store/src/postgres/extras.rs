//! IMAP METADATA (RFC 5464) and URLAUTH access keys (RFC 4467) in
//! PostgreSQL: the rows of the SQLite backend's. On a shared mailbox,
//! `/shared` entries are its owner's and `/private` ones the caller's
//! (RFC 5464 §3.3); URLAUTH keys are for the account's own mailboxes.

use tidings_types::{AccountId, MailboxId, Secret};

use super::PgBackend;
use crate::{MetadataEntry, MetadataWrite, Result, StoreError};

impl PgBackend {
    pub(crate) fn metadata_(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
    ) -> Result<Vec<MetadataEntry>> {
        // A shared mailbox: its owner's `/shared` entries and the caller's
        // own `/private` ones (RFC 5464 §3.3).
        let owner = match mailbox {
            Some(m) => super::acl::metadata_access(self, account, m)?,
            None => account,
        };
        Ok(self
            .query(
                "SELECT name, value FROM metadata WHERE mailbox_id = $3 AND (
                    (account_id = $1 AND (name = '/private' OR starts_with(name, '/private/')))
                    OR (account_id = $2 AND (name = '/shared' OR starts_with(name, '/shared/'))))
                 ORDER BY name COLLATE \"C\"",
                &[&account.0, &owner.0, &mailbox.map_or(0, |m| m.0)],
            )?
            .iter()
            .map(|r| MetadataEntry {
                name: r.get(0),
                value: r.get(1),
            })
            .collect())
    }

    pub(crate) fn set_metadata_(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
        entries: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<MetadataWrite> {
        let mailbox_id = mailbox.map_or(0, |m| m.0);
        const TOO_MANY: &str = "too many METADATA entries";
        self.write(|ctx| {
            let owner = match mailbox {
                Some(m) => super::acl::metadata_access(&*ctx, account, m)?,
                None => account,
            };
            ctx.lock_accounts(&[account, owner])?;
            let mut holders = std::collections::BTreeSet::new();
            for (name, value) in entries {
                // RFC 5464 §3.3: `/private` entries are the caller's,
                // `/shared` ones the mailbox's (kept as its owner's).
                let holder = if name.starts_with("/shared") {
                    owner
                } else {
                    account
                };
                holders.insert(holder);
                match value {
                    Some(v) => ctx.execute(
                        "INSERT INTO metadata(account_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (account_id, mailbox_id, name) DO UPDATE SET value = EXCLUDED.value",
                        &[&holder.0, &mailbox_id, name, v],
                    )?,
                    None => ctx.execute(
                        "DELETE FROM metadata WHERE account_id = $1 AND mailbox_id = $2 AND name = $3",
                        &[&holder.0, &mailbox_id, name],
                    )?,
                };
            }
            for holder in holders {
                let count: i64 = ctx
                    .query_one(
                        "SELECT count(*) FROM metadata WHERE account_id = $1 AND mailbox_id = $2",
                        &[&holder.0, &mailbox_id],
                    )?
                    .get(0);
                if usize::try_from(count).unwrap_or(usize::MAX) > max_entries {
                    // Rolls the transaction back: nothing is written.
                    return Err(StoreError::Refused(TOO_MANY.into()));
                }
            }
            Ok(())
        })
        .map(|()| MetadataWrite::Written)
        .or_else(|e| match e {
            StoreError::Refused(why) if why == TOO_MANY => Ok(MetadataWrite::TooMany {
                limit: max_entries,
            }),
            e => Err(e),
        })
    }

    pub(crate) fn urlauth_key_(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        create: bool,
    ) -> Result<Option<Secret<Vec<u8>>>> {
        self.owned_mailbox(account, mailbox)?;
        if let Some(r) = self.query_opt(
            "SELECT key FROM urlauth_keys WHERE mailbox_id = $1",
            &[&mailbox.0],
        )? {
            return Ok(Some(Secret::new(r.get(0))));
        }
        if !create {
            return Ok(None);
        }
        let mut fresh = vec![0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        self.write(|ctx| {
            ctx.mailbox_info(account, mailbox)?;
            // A concurrent GENURLAUTH (on any node) may have made one: keep the first.
            ctx.execute(
                "INSERT INTO urlauth_keys(mailbox_id, account_id, key) VALUES ($1, $2, $3)
                 ON CONFLICT (mailbox_id) DO NOTHING",
                &[&mailbox.0, &account.0, &fresh],
            )?;
            let key: Vec<u8> = ctx
                .query_one(
                    "SELECT key FROM urlauth_keys WHERE mailbox_id = $1",
                    &[&mailbox.0],
                )?
                .get(0);
            Ok(Some(Secret::new(key)))
        })
    }

    pub(crate) fn reset_urlauth_keys_(
        &self,
        account: AccountId,
        mailbox: Option<MailboxId>,
    ) -> Result<()> {
        self.write(|ctx| {
            match mailbox {
                Some(m) => {
                    ctx.mailbox_info(account, m)?;
                    ctx.execute(
                        "DELETE FROM urlauth_keys WHERE mailbox_id = $1 AND account_id = $2",
                        &[&m.0, &account.0],
                    )?
                }
                None => ctx.execute(
                    "DELETE FROM urlauth_keys WHERE account_id = $1",
                    &[&account.0],
                )?,
            };
            Ok(())
        })
    }
}
