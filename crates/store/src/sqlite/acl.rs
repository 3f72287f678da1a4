//! Mailbox sharing in SQLite (RFC 4314; the model is in [`crate::acl`]).
//!
//! [`access`] is the one place that decides whether an account may do
//! something to a mailbox: every `Backend` call that takes an account and
//! a mailbox asks it first, and acts as the owner it returns. Reads of an
//! email by id (FETCH of a shared message) use [`readable`], the same
//! rule in SQL: the email is the account's, or is in a mailbox where the
//! account (or `anyone`) has `r`.

use rusqlite::{Connection, OptionalExtension, params};
use tidings_types::{AccountId, MailboxId, MailboxName};

use crate::acl::{AclEntry, Grantee, Right, Rights, SharedMailbox};
use crate::{Result, StoreError};

/// The grantee id that stands for `anyone`.
pub(crate) const ANYONE: i64 = 0;

/// The owner of `mailbox` and the rights `account` has on it; `None`
/// when the mailbox does not exist.
pub(crate) fn rights(
    c: &Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Option<(AccountId, Rights)>> {
    let Some(owner) = c
        .prepare_cached("SELECT account_id FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(None);
    };
    if owner == account.0 {
        return Ok(Some((AccountId(owner), Rights::all())));
    }
    let mut have = Rights::NONE;
    let mut stmt =
        c.prepare_cached("SELECT rights FROM acl WHERE mailbox_id = ?1 AND grantee IN (?2, ?3)")?;
    let rows = stmt.query_map(params![mailbox.0, account.0, ANYONE], |r| {
        r.get::<_, String>(0)
    })?;
    for row in rows {
        // Stored by `set`, from parsed rights; anything else is ignored.
        have = have.union(Rights::parse(&row?).unwrap_or_default());
    }
    Ok(Some((AccountId(owner), have)))
}

/// Checks that `account` has every right of `need` on `mailbox`; returns
/// the owner, as whom the caller then acts, and all the rights `account`
/// has. RFC 4314 §4: without `l` (and without what was asked) the mailbox
/// is as if it did not exist.
pub(crate) fn access(
    c: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    need: Rights,
) -> Result<(AccountId, Rights)> {
    let not_found = || StoreError::NotFound(format!("mailbox {mailbox}"));
    let (owner, have) = rights(c, account, mailbox)?.ok_or_else(not_found)?;
    if have.contains(need) && !have.is_empty() {
        Ok((owner, have))
    } else if have.has(Right::Lookup) {
        let missing = need.minus(have);
        Err(StoreError::NoPermission(format!(
            "no right {missing} on mailbox {mailbox}"
        )))
    } else {
        Err(not_found())
    }
}

/// SQL that is true when the email row `{e}` (an alias of `emails`) may
/// be read by the account `{account}` (a parameter): its own, or in a
/// mailbox shared with it (or with `anyone`) with `r`.
pub(crate) fn readable(e: &str, account: &str) -> String {
    format!(
        "({e}.account_id = {account} OR EXISTS (
            SELECT 1 FROM entries x JOIN acl a ON a.mailbox_id = x.mailbox_id
            WHERE x.email_id = {e}.id AND a.grantee IN ({account}, {ANYONE})
              AND instr(a.rights, 'r') > 0))"
    )
}

/// The account id a grantee stands for in the `acl` table.
pub(crate) fn grantee_id(c: &Connection, grantee: &Grantee) -> Result<i64> {
    match grantee {
        Grantee::Anyone => Ok(ANYONE),
        Grantee::Account(email) => {
            let not_found = || StoreError::NotFound(format!("account {email}"));
            // Addresses are stored as `create_account` normalized them.
            let (normal, _) = super::accounts::normalize_address(email).map_err(|_| not_found())?;
            c.prepare_cached("SELECT id FROM accounts WHERE email = ?1")?
                .query_row([normal], |r| r.get(0))
                .optional()?
                .ok_or_else(not_found)
        }
    }
}

/// The ACL of a mailbox: its owner first (every right), then the
/// grantees by address, `anyone` last.
pub(crate) fn list(c: &Connection, mailbox: MailboxId) -> Result<Vec<AclEntry>> {
    let owner: String = c
        .prepare_cached(
            "SELECT a.email FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE m.id = ?1",
        )?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let mut out = vec![AclEntry {
        grantee: Grantee::Account(owner),
        rights: Rights::all(),
    }];
    let mut stmt = c.prepare_cached(
        "SELECT a.email, acl.rights FROM acl LEFT JOIN accounts a ON a.id = acl.grantee
         WHERE acl.mailbox_id = ?1 ORDER BY acl.grantee = 0, a.email",
    )?;
    let rows = stmt.query_map([mailbox.0], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (email, rights) = row?;
        out.push(AclEntry {
            grantee: email.map_or(Grantee::Anyone, Grantee::Account),
            rights: Rights::parse(&rights).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Sets (`Some`, not empty) or removes the rights of `grantee` on
/// `mailbox`.
pub(crate) fn set(
    c: &Connection,
    mailbox: MailboxId,
    grantee: i64,
    rights: Option<Rights>,
) -> Result<()> {
    match rights.filter(|r| !r.is_empty()) {
        Some(r) => {
            c.prepare_cached(
                "INSERT INTO acl(mailbox_id, grantee, rights) VALUES (?1, ?2, ?3)
                 ON CONFLICT(mailbox_id, grantee) DO UPDATE SET rights = excluded.rights",
            )?
            .execute(params![mailbox.0, grantee, r.letters()])?;
        }
        None => {
            c.prepare_cached("DELETE FROM acl WHERE mailbox_id = ?1 AND grantee = ?2")?
                .execute(params![mailbox.0, grantee])?;
        }
    }
    Ok(())
}

/// The mailboxes of other accounts on which `account` has a right
/// (granted to it or to `anyone`), by owner and name.
pub(crate) fn shared_with(c: &Connection, account: AccountId) -> Result<Vec<SharedMailbox>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {cols},
           (SELECT email FROM accounts WHERE accounts.id = mailboxes.account_id),
           (SELECT group_concat(rights, '') FROM acl
            WHERE acl.mailbox_id = mailboxes.id AND acl.grantee IN (?1, {ANYONE}))
         FROM mailboxes
         WHERE account_id != ?1
           AND id IN (SELECT mailbox_id FROM acl WHERE grantee IN (?1, {ANYONE}))
         ORDER BY 9, name",
        cols = super::MAILBOX_COLUMNS
    ))?;
    let rows = stmt.query_map([account.0], |r| {
        let mailbox = super::mailbox_from_row(r)?;
        Ok((mailbox, r.get::<_, String>(8)?, r.get::<_, String>(9)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mailbox, owner, rights) = row?;
        let rights = Rights::parse(&rights).unwrap_or_default();
        if !rights.is_empty() {
            out.push(SharedMailbox {
                owner,
                mailbox,
                rights,
            });
        }
    }
    Ok(out)
}

/// The mailbox of `owner` that would be the parent of `name` (a top-level
/// name has none: only the owner creates there). `NotFound` when missing.
pub(crate) fn parent_in(c: &Connection, owner: AccountId, name: &MailboxName) -> Result<MailboxId> {
    let not_found = || StoreError::NotFound(format!("parent of mailbox {name}"));
    let parent = name.parent().ok_or_else(not_found)?;
    c.prepare_cached("SELECT id FROM mailboxes WHERE account_id = ?1 AND name = ?2")?
        .query_row(params![owner.0, parent.as_str()], |r| r.get(0))
        .optional()?
        .map(MailboxId)
        .ok_or_else(not_found)
}

/// A mailbox's name in its owner's hierarchy.
pub(crate) fn name_of(c: &Connection, mailbox: MailboxId) -> Result<MailboxName> {
    let name: String = c
        .prepare_cached("SELECT name FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    Ok(MailboxName::new(&name)?)
}
