//! The SQLite schema and its migrations. `migrate` brings an older database
//! up to [`VERSION`] step by step, each step in one transaction, and refuses
//! a newer one.
//!
//! - 1: the first schema.
//! - 2: subscriptions are a list of names of their own (RFC 3501 §6.3.9: a
//!   subscription outlives its mailbox), not a column of `mailboxes`.
//! - 3: `metadata`, the IMAP METADATA entries (RFC 5464) of the server and
//!   of each mailbox.
//! - 4: `mailboxes.first_recent_uid`, the first UID no session has claimed
//!   as `\Recent` yet (RFC 3501 §2.3.2); mail stored before is not recent.
//! - 5: sending limits: `sent` (when each submitted message was accepted)
//!   and the per-account limits `accounts.send_per_hour`/`send_per_day`.
//! - 6: `urlauth_keys`, the IMAP URLAUTH mailbox access keys (RFC 4467
//!   §3.2), one per mailbox that has had a URL authorized.
//! - 7: `acl`, the rights (RFC 4314) other accounts have on a mailbox.
//! - 8: `tokens`, app passwords and webmail sessions (the SHA-256 of each
//!   random token, never the token); `uploads`, JMAP uploaded blobs.
//! - 9: `alias_targets`, aliases with several targets or remote ones
//!   (forwarding); `aliases` keeps the one-account aliases.
//! - 10: `mta_sts`, the MTA-STS policies (RFC 8461) outbound delivery
//!   fetched, cached until their `max_age` runs out; `queue.requiretls`
//!   (RFC 8689).
//! - 11: `tls_results`, outbound TLS sessions counted for TLS-RPT
//!   (RFC 8460) reports.
//! - 12: `dmarc_results`, inbound DMARC evaluations counted for the
//!   aggregate reports (RFC 7489 §7.2) senders ask for.

use rusqlite::Connection;

use crate::{Result, StoreError};

pub(crate) const VERSION: i64 = 12;

const SCHEMA: &str = r#"
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE domains(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
CREATE TABLE accounts(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    password_hash TEXT NOT NULL,
    quota INTEGER,
    used INTEGER NOT NULL DEFAULT 0,
    modseq INTEGER NOT NULL DEFAULT 0,
    leave_policy TEXT NOT NULL DEFAULT 'archive',
    pop_policy TEXT NOT NULL DEFAULT 'mark-read',
    created INTEGER NOT NULL,
    -- Sending limits of this account; NULL: the server's ([smtp]).
    send_per_hour INTEGER,
    send_per_day INTEGER
);
-- address is 'local@domain' or '@domain' (catch-all).
CREATE TABLE aliases(
    address TEXT PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id)
) WITHOUT ROWID;
CREATE INDEX aliases_account ON aliases(account_id);
-- Aliases with several targets, or a remote one (forwarding): one row per
-- target address, in the order given (an account, another alias, or an
-- address elsewhere). An address is in `aliases` or here, never both.
CREATE TABLE alias_targets(
    address TEXT NOT NULL,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY(address, position)
) WITHOUT ROWID;
CREATE INDEX alias_targets_domain ON alias_targets(domain_id);
CREATE TABLE mailboxes(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    role TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 0,
    -- Counters kept by every write (STATUS without a scan); check() recounts.
    messages INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    -- RFC 3501 §2.3.2 \Recent: UIDs from here on are not claimed by a
    -- session yet (Backend::recent_uids).
    first_recent_uid INTEGER NOT NULL DEFAULT 1,
    UNIQUE(account_id, name)
);
CREATE UNIQUE INDEX mailboxes_role ON mailboxes(account_id, role) WHERE role IS NOT NULL;
-- Submitted messages by account and time, for the sending limits; rows
-- older than a day are pruned as new ones come.
CREATE TABLE sent(account_id INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE INDEX sent_account ON sent(account_id, at);
-- Mailbox sharing (RFC 4314): the rights letters (crate::acl::Rights)
-- `grantee` has on a mailbox of another account; grantee 0 is `anyone`.
-- The owner's rights are implicit (all of them).
CREATE TABLE acl(
    mailbox_id INTEGER NOT NULL,
    grantee INTEGER NOT NULL,
    rights TEXT NOT NULL,
    PRIMARY KEY(mailbox_id, grantee)
) WITHOUT ROWID;
CREATE INDEX acl_grantee ON acl(grantee);
-- IMAP METADATA (RFC 5464): entries of the account's server (mailbox_id 0)
-- and of each mailbox, by full name (/private/... or /shared/...).
CREATE TABLE metadata(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    mailbox_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY(account_id, mailbox_id, name)
) WITHOUT ROWID;
-- IMAP URLAUTH (RFC 4467 §2.2): the mailbox access key that authorizes
-- URLs of a mailbox; made by the first GENURLAUTH, dropped by RESETKEY.
CREATE TABLE urlauth_keys(
    mailbox_id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    key BLOB NOT NULL
);
-- Subscribed mailbox names (IMAP SUBSCRIBE, JMAP isSubscribed): names, not
-- mailbox ids, since a subscription outlives its mailbox (RFC 3501 §6.3.9).
CREATE TABLE subscriptions(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    PRIMARY KEY(account_id, name)
) WITHOUT ROWID;
-- Access tokens (app passwords, webmail sessions): the SHA-256 of a
-- random 256-bit token, never the token. kind is 'app' or 'web'; expires
-- is Unix seconds, idle seconds without use after last_used (or created).
CREATE TABLE tokens(
    hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER,
    expires INTEGER,
    idle INTEGER,
    UNIQUE(account_id, name)
) WITHOUT ROWID;
-- JMAP uploads (RFC 8620 §6.1), per account until `expires` (Unix
-- seconds): bytes inline in `data`, or the file `blobs/uploads/<file>`.
CREATE TABLE uploads(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    hash TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    data BLOB,
    file TEXT,
    PRIMARY KEY(account_id, hash)
) WITHOUT ROWID;
CREATE INDEX uploads_expires ON uploads(expires);
-- data holds the bytes of small blobs (see blob::INLINE_MAX); NULL means
-- the bytes are in the file blobs/ab/cdef...
CREATE TABLE blobs(hash TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL, data BLOB);
CREATE TABLE emails(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    blob TEXT NOT NULL REFERENCES blobs(hash),
    size INTEGER NOT NULL,
    received INTEGER NOT NULL,
    keywords TEXT NOT NULL DEFAULT '',
    -- Whether keywords hold \Seen, for the unseen counters.
    seen INTEGER NOT NULL DEFAULT 0,
    thread_id INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    sent_at INTEGER,
    subject TEXT NOT NULL DEFAULT '',
    from_addr TEXT NOT NULL DEFAULT '',
    to_addr TEXT NOT NULL DEFAULT '',
    cc_addr TEXT NOT NULL DEFAULT '',
    message_id TEXT,
    has_attachment INTEGER NOT NULL DEFAULT 0,
    -- Set when a POP3 client deleted it: never offered to POP3 again.
    pop_deleted INTEGER NOT NULL DEFAULT 0
);
-- The parsed metadata (JSON of EmailMeta) and preview, apart from emails so
-- that the UID/flags view reads narrow rows.
CREATE TABLE email_meta(
    id INTEGER PRIMARY KEY REFERENCES emails(id),
    preview TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL
);
CREATE INDEX emails_account ON emails(account_id, received);
CREATE INDEX emails_blob ON emails(blob);
-- Ids are AUTOINCREMENT: an email, mailbox or account id is never reused
-- (JMAP ids, OBJECTID, POP3 UIDL are promises).
-- One row per (mailbox, email): the email's UID there and its \Deleted.
CREATE TABLE entries(
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    email_id INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    modseq INTEGER NOT NULL,
    saved INTEGER NOT NULL,
    -- Copies of the email's keywords (kept equal by every keyword change,
    -- which rewrites each entry's modseq anyway), thread, size and date:
    -- the UID/flags view is then one range scan with no join.
    keywords TEXT NOT NULL,
    thread_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE UNIQUE INDEX entries_email ON entries(email_id, mailbox_id);
CREATE INDEX entries_modseq ON entries(mailbox_id, modseq);
-- Expunged (mailbox, uid) pairs, for QRESYNC VANISHED.
CREATE TABLE tombstones(
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX tombstones_modseq ON tombstones(mailbox_id, modseq);
-- The account change log. kind: 0 email created, 1 email updated,
-- 2 email destroyed, 3 mailbox created or changed, 4 mailbox destroyed.
CREATE TABLE changes(
    account_id INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    PRIMARY KEY(account_id, modseq, kind, object_id)
) WITHOUT ROWID;
CREATE TABLE thread_refs(
    account_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    thread_id INTEGER NOT NULL,
    PRIMARY KEY(account_id, message_id)
) WITHOUT ROWID;
CREATE TABLE thread_subjects(
    account_id INTEGER NOT NULL,
    subject TEXT NOT NULL,
    thread_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY(account_id, subject)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE email_fts USING fts5(
    subject, addresses, body,
    content='', contentless_delete=1,
    tokenize='unicode61 remove_diacritics 2'
);
-- The outbound queue (store/src/queue.rs): messages for other servers.
-- sender '' is the null path; account_id is the local sender, whose
-- INBOX gets the bounces; next_attempt 0 means now.
CREATE TABLE queue(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    account_id INTEGER,
    envid TEXT,
    ret_hdrs INTEGER NOT NULL DEFAULT 0,
    ret_full INTEGER NOT NULL DEFAULT 0,
    requiretls INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue(next_attempt);
-- status: 'pending', 'delivered' or 'failed'.
CREATE TABLE queue_rcpts(
    queue_id INTEGER NOT NULL REFERENCES queue(id),
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    notify TEXT NOT NULL DEFAULT '',
    orcpt TEXT,
    reply TEXT,
    delay_reported INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(queue_id, idx)
) WITHOUT ROWID;
-- MTA-STS policies (RFC 8461 §3.3) of the domains we deliver to: the id of
-- the TXT record the policy was fetched for, its text as served, and when
-- it was fetched and stops being valid (fetched + max_age), Unix seconds.
CREATE TABLE mta_sts(
    domain TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
-- Outbound TLS sessions per UTC day (Unix seconds / 86400) as TLS-RPT
-- (RFC 8460) reports them, summed; rows leave once reported.
CREATE TABLE tls_results(
    day INTEGER NOT NULL,
    domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    result TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(day, domain, policy_type, policy, mx_host, receiving_ip, result)
) WITHOUT ROWID;
-- Inbound messages' DMARC evaluations per UTC day, summed, for the
-- aggregate reports (RFC 7489 §7.2) their author domains ask for; rows
-- leave once reported.
CREATE TABLE dmarc_results(
    day INTEGER NOT NULL,
    domain TEXT NOT NULL,
    policy TEXT NOT NULL,
    rua TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim_aligned INTEGER NOT NULL,
    spf_aligned INTEGER NOT NULL,
    envelope_from TEXT NOT NULL,
    dkim_domain TEXT NOT NULL,
    dkim_result TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_result TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned,
                envelope_from, dkim_domain, dkim_result, spf_domain, spf_result)
) WITHOUT ROWID;
"#;

/// The step from version N-1 to N is `MIGRATIONS[N - 2]`.
const MIGRATIONS: [&str; (VERSION - 1) as usize] = [
    // 2: subscriptions by name.
    r#"
CREATE TABLE subscriptions(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    PRIMARY KEY(account_id, name)
) WITHOUT ROWID;
INSERT INTO subscriptions(account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed;
ALTER TABLE mailboxes DROP COLUMN subscribed;
"#,
    // 3: IMAP METADATA entries.
    r#"
-- IMAP METADATA (RFC 5464): entries of the account's server (mailbox_id 0)
-- and of each mailbox, by full name (/private/... or /shared/...).
CREATE TABLE metadata(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    mailbox_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY(account_id, mailbox_id, name)
) WITHOUT ROWID;
"#,
    // 4: `\Recent`: what a mailbox holds already is not recent to anyone
    // after the upgrade.
    r#"
ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent_uid = uidnext;
"#,
    // 5: sending limits.
    r#"
ALTER TABLE accounts ADD COLUMN send_per_hour INTEGER;
ALTER TABLE accounts ADD COLUMN send_per_day INTEGER;
-- Submitted messages by account and time, for the sending limits; rows
-- older than a day are pruned as new ones come.
CREATE TABLE sent(account_id INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE INDEX sent_account ON sent(account_id, at);
"#,
    // 6: URLAUTH mailbox access keys.
    r#"
-- IMAP URLAUTH (RFC 4467 §2.2): the mailbox access key that authorizes
-- URLs of a mailbox; made by the first GENURLAUTH, dropped by RESETKEY.
CREATE TABLE IF NOT EXISTS urlauth_keys(
    mailbox_id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    key BLOB NOT NULL
);
"#,
    // 7: mailbox sharing.
    r#"
-- Mailbox sharing (RFC 4314): the rights letters (crate::acl::Rights)
-- `grantee` has on a mailbox of another account; grantee 0 is `anyone`.
-- The owner's rights are implicit (all of them).
CREATE TABLE acl(
    mailbox_id INTEGER NOT NULL,
    grantee INTEGER NOT NULL,
    rights TEXT NOT NULL,
    PRIMARY KEY(mailbox_id, grantee)
) WITHOUT ROWID;
CREATE INDEX acl_grantee ON acl(grantee);
"#,
    // 8: access tokens.
    r#"
-- Access tokens (app passwords, webmail sessions): the SHA-256 of a
-- random 256-bit token, never the token. kind is 'app' or 'web'; expires
-- is Unix seconds, idle seconds without use after last_used (or created).
CREATE TABLE tokens(
    hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER,
    expires INTEGER,
    idle INTEGER,
    UNIQUE(account_id, name)
) WITHOUT ROWID;
-- JMAP uploads (RFC 8620 §6.1), per account until `expires` (Unix
-- seconds): bytes inline in `data`, or the file `blobs/uploads/<file>`.
CREATE TABLE uploads(
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    hash TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    data BLOB,
    file TEXT,
    PRIMARY KEY(account_id, hash)
) WITHOUT ROWID;
CREATE INDEX uploads_expires ON uploads(expires);
"#,
    // 9: aliases with several or remote targets.
    r#"
-- Aliases with several targets, or a remote one (forwarding): one row per
-- target address, in the order given (an account, another alias, or an
-- address elsewhere). An address is in `aliases` or here, never both.
CREATE TABLE alias_targets(
    address TEXT NOT NULL,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY(address, position)
) WITHOUT ROWID;
CREATE INDEX alias_targets_domain ON alias_targets(domain_id);
"#,
    // 10: cached MTA-STS policies; REQUIRETLS on queued messages.
    r#"
-- MTA-STS policies (RFC 8461 §3.3) of the domains we deliver to: the id of
-- the TXT record the policy was fetched for, its text as served, and when
-- it was fetched and stops being valid (fetched + max_age), Unix seconds.
CREATE TABLE mta_sts(
    domain TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE queue ADD COLUMN requiretls INTEGER NOT NULL DEFAULT 0;
"#,
    // 11: TLS-RPT session counts.
    r#"
-- Outbound TLS sessions per UTC day (Unix seconds / 86400) as TLS-RPT
-- (RFC 8460) reports them, summed; rows leave once reported.
CREATE TABLE tls_results(
    day INTEGER NOT NULL,
    domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    result TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(day, domain, policy_type, policy, mx_host, receiving_ip, result)
) WITHOUT ROWID;
"#,
    // 12: DMARC aggregate report rows.
    r#"
-- Inbound messages' DMARC evaluations per UTC day, summed, for the
-- aggregate reports (RFC 7489 §7.2) their author domains ask for; rows
-- leave once reported.
CREATE TABLE dmarc_results(
    day INTEGER NOT NULL,
    domain TEXT NOT NULL,
    policy TEXT NOT NULL,
    rua TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim_aligned INTEGER NOT NULL,
    spf_aligned INTEGER NOT NULL,
    envelope_from TEXT NOT NULL,
    dkim_domain TEXT NOT NULL,
    dkim_result TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_result TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned,
                envelope_from, dkim_domain, dkim_result, spf_domain, spf_result)
) WITHOUT ROWID;
"#,
];

/// Prepared statements kept per connection. The ingest path alone uses about
/// thirty distinct statements; rusqlite's default of 16 made them thrash and
/// be parsed again on every message.
pub(crate) const STATEMENT_CACHE: usize = 256;

/// Sets the connection options of the writer connection. Its page cache is
/// kept small: SQLite walks it at every commit (`pcache1Truncate`), which
/// showed in profiles; reads come from the memory map.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=10000;
         PRAGMA cache_size=-8000;
         PRAGMA temp_store=MEMORY;
         PRAGMA mmap_size=1073741824;",
    )?;
    Ok(())
}

/// Creates the schema in a new database; checks the version of an old one.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match version {
        0 => {
            let tx = conn.transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.execute_batch(&format!("PRAGMA user_version={VERSION}"))?;
            tx.commit()?;
            Ok(())
        }
        1..VERSION => {
            for step in version + 1..=VERSION {
                let tx = conn.transaction()?;
                tx.execute_batch(MIGRATIONS[(step - 2) as usize])?;
                tx.execute_batch(&format!("PRAGMA user_version={step}"))?;
                tx.commit()?;
            }
            Ok(())
        }
        VERSION => Ok(()),
        v => Err(StoreError::Refused(format!(
            "database schema version {v} is newer than this tidings understands ({VERSION})"
        ))),
    }
}
