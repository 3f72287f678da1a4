//! Mailbox sharing in PostgreSQL (RFC 4314; the model is in [`crate::acl`]),
//! the SQLite backend's `sqlite/acl.rs` on this backend's rows: one table,
//! `acl` (mailbox, grantee account or 0 for `anyone`, rights letters).
//!
//! [`access`] is the one place that decides whether an account may do
//! something to a mailbox: every `Backend` call that takes an account and
//! a mailbox asks it first, and acts as the owner it returns (inside a
//! write, before it locks the owner's account). Reads of an email by id use
//! [`readable`], the same rule in SQL.

use tidings_types::{AccountId, MailboxId, MailboxName};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PgBackend;
use super::rows::PgCtx;
use crate::acl::{AclEntry, Grantee, Right, Rights, SharedMailbox};
use crate::{Result, StoreError};

/// The grantee id that stands for `anyone`.
pub(crate) const ANYONE: i64 = 0;

/// What runs a query: the pool (a read on its own) or a write transaction.
pub(crate) trait Query {
    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>>;

    fn row(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
}

impl Query for PgBackend {
    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.query(sql, params)
    }
}

impl Query for PgCtx<'_> {
    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.query(sql, params)
    }
}

/// The owner of `mailbox` and the rights `account` has on it; `None`
/// when the mailbox does not exist. One round trip.
pub(crate) fn rights(
    q: &impl Query,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Option<(AccountId, Rights)>> {
    let Some(r) = q.row(
        "SELECT m.account_id, ARRAY(SELECT a.rights FROM acl a
                                    WHERE a.mailbox_id = m.id AND a.grantee IN ($2, 0))
         FROM mailboxes m WHERE m.id = $1",
        &[&mailbox.0, &account.0],
    )?
    else {
        return Ok(None);
    };
    let owner = AccountId(r.get(0));
    if owner == account {
        return Ok(Some((owner, Rights::all())));
    }
    let have = r
        .get::<_, Vec<String>>(1)
        .iter()
        // Stored by `set`, from parsed rights; anything else is ignored.
        .fold(Rights::NONE, |have, l| {
            have.union(Rights::parse(l).unwrap_or_default())
        });
    Ok(Some((owner, have)))
}

/// Checks that `account` has every right of `need` on `mailbox`; returns
/// the owner, as whom the caller then acts, and all the rights `account`
/// has. RFC 4314 §4: without `l` (and without what was asked) the mailbox
/// is as if it did not exist.
pub(crate) fn access(
    q: &impl Query,
    account: AccountId,
    mailbox: MailboxId,
    need: Rights,
) -> Result<(AccountId, Rights)> {
    let not_found = || StoreError::NotFound(format!("mailbox {mailbox}"));
    let (owner, have) = rights(q, account, mailbox)?.ok_or_else(not_found)?;
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

/// SQL that is true when the email row `{e}` (an alias of `emails`) may be
/// read by the account `{account}` (a BIGINT parameter): its own, or in a
/// mailbox shared with it (or with `anyone`) with `r`.
pub(crate) fn readable(e: &str, account: &str) -> String {
    format!(
        "({e}.account_id = {account} OR EXISTS (
            SELECT 1 FROM entries x JOIN acl a ON a.mailbox_id = x.mailbox_id
            WHERE x.email_id = {e}.id AND a.grantee IN ({account}, {ANYONE})
              AND strpos(a.rights, 'r') > 0))"
    )
}

/// The account id a grantee stands for in the `acl` table.
pub(crate) fn grantee_id(q: &impl Query, grantee: &Grantee) -> Result<i64> {
    match grantee {
        Grantee::Anyone => Ok(ANYONE),
        Grantee::Account(email) => {
            let not_found = || StoreError::NotFound(format!("account {email}"));
            // Addresses are stored as `create_account` normalized them.
            let (normal, _) =
                crate::sqlite::accounts::normalize_address(email).map_err(|_| not_found())?;
            Ok(
                q.row("SELECT id FROM accounts WHERE email = $1", &[&normal])?
                    .ok_or_else(not_found)?
                    .get(0),
            )
        }
    }
}

/// The ACL of a mailbox: its owner first (every right), then the grantees
/// by address, `anyone` last.
pub(crate) fn list(q: &impl Query, mailbox: MailboxId) -> Result<Vec<AclEntry>> {
    let owner: String = q
        .row(
            "SELECT a.email FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE m.id = $1",
            &[&mailbox.0],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?
        .get(0);
    let mut out = vec![AclEntry {
        grantee: Grantee::Account(owner),
        rights: Rights::all(),
    }];
    for r in q.rows(
        "SELECT a.email, acl.rights FROM acl LEFT JOIN accounts a ON a.id = acl.grantee
         WHERE acl.mailbox_id = $1 ORDER BY acl.grantee = 0, a.email COLLATE \"C\"",
        &[&mailbox.0],
    )? {
        out.push(AclEntry {
            grantee: r
                .get::<_, Option<String>>(0)
                .map_or(Grantee::Anyone, Grantee::Account),
            rights: Rights::parse(r.get(1)).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Sets (`Some`, not empty) or removes the rights of `grantee` on
/// `mailbox`.
pub(crate) fn set(
    ctx: &PgCtx<'_>,
    mailbox: MailboxId,
    grantee: i64,
    rights: Option<Rights>,
) -> Result<()> {
    match rights.filter(|r| !r.is_empty()) {
        Some(r) => ctx.execute(
            "INSERT INTO acl(mailbox_id, grantee, rights) VALUES ($1, $2, $3)
             ON CONFLICT (mailbox_id, grantee) DO UPDATE SET rights = EXCLUDED.rights",
            &[&mailbox.0, &grantee, &r.letters()],
        )?,
        None => ctx.execute(
            "DELETE FROM acl WHERE mailbox_id = $1 AND grantee = $2",
            &[&mailbox.0, &grantee],
        )?,
    };
    Ok(())
}

/// The mailboxes of other accounts on which `account` has a right
/// (granted to it or to `anyone`), by owner and name.
pub(crate) fn shared_with(q: &impl Query, account: AccountId) -> Result<Vec<SharedMailbox>> {
    let rows = q.rows(
        &format!(
            "SELECT {cols},
               (SELECT email FROM accounts WHERE accounts.id = mailboxes.account_id),
               ARRAY(SELECT rights FROM acl
                     WHERE acl.mailbox_id = mailboxes.id AND acl.grantee IN ($1, {ANYONE}))
             FROM mailboxes
             WHERE account_id <> $1
               AND id IN (SELECT mailbox_id FROM acl WHERE grantee IN ($1, {ANYONE}))",
            cols = super::MAILBOX_COLUMNS
        ),
        &[&account.0],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let mailbox = super::mailbox_from_row(&r)?;
        let owner: String = r.get(8);
        let rights = r
            .get::<_, Vec<String>>(9)
            .iter()
            .fold(Rights::NONE, |have, l| {
                have.union(Rights::parse(l).unwrap_or_default())
            });
        if !rights.is_empty() {
            out.push(SharedMailbox {
                owner,
                mailbox,
                rights,
            });
        }
    }
    // By owner, then name, byte-wise (as SQLite orders them).
    out.sort_by(|a, b| {
        (a.owner.as_str(), a.mailbox.name.as_str())
            .cmp(&(b.owner.as_str(), b.mailbox.name.as_str()))
    });
    Ok(out)
}

/// The mailbox of `owner` that would be the parent of `name` (a top-level
/// name has none: only the owner creates there). `NotFound` when missing.
pub(crate) fn parent_in(q: &impl Query, owner: AccountId, name: &MailboxName) -> Result<MailboxId> {
    let not_found = || StoreError::NotFound(format!("parent of mailbox {name}"));
    let parent = name.parent().ok_or_else(not_found)?;
    Ok(MailboxId(
        q.row(
            "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
            &[&owner.0, &parent.as_str()],
        )?
        .ok_or_else(not_found)?
        .get(0),
    ))
}

/// A mailbox's name in its owner's hierarchy.
pub(crate) fn name_of(q: &impl Query, mailbox: MailboxId) -> Result<MailboxName> {
    let name: String = q
        .row("SELECT name FROM mailboxes WHERE id = $1", &[&mailbox.0])?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?
        .get(0);
    Ok(MailboxName::new(&name)?)
}

/// The right reading a mailbox needs (RFC 4314 §4: `r`).
pub(crate) fn read_right() -> Rights {
    Rights::of(&[Right::Read])
}

/// The right APPEND and COPY into a mailbox need (RFC 4314 §4: `i`).
pub(crate) fn insert_right() -> Rights {
    Rights::of(&[Right::Insert])
}

/// The rights the source of a MOVE needs (RFC 6851 §3.3 with RFC 4314
/// §4: read, mark `\Deleted`, expunge); a COPY's needs `r`.
pub(crate) fn source_rights(is_move: bool) -> Rights {
    if is_move {
        Rights::of(&[Right::Read, Right::DeleteMessages, Right::Expunge])
    } else {
        read_right()
    }
}

/// RFC 5464 §3.3: METADATA on a mailbox needs `l` and one of `r`, `s`,
/// `w`, `i` or `p` (as the SQLite backend's `metadata_access`). The
/// mailbox's owner, under whom its `/shared` entries are kept.
pub(crate) fn metadata_access(
    q: &impl Query,
    account: AccountId,
    m: MailboxId,
) -> Result<AccountId> {
    let (owner, have) = access(q, account, m, Rights::of(&[Right::Lookup]))?;
    let any = [
        Right::Read,
        Right::Seen,
        Right::Write,
        Right::Insert,
        Right::Post,
    ];
    if any.iter().any(|r| have.has(*r)) {
        Ok(owner)
    } else {
        Err(StoreError::NoPermission(format!(
            "no right r, s, w, i or p on mailbox {m}"
        )))
    }
}
