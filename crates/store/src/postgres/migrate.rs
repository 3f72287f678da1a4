//! `tidings migrate`: copies a stopped SQLite installation (a data
//! directory) into an empty PostgreSQL database, row for row: ids, UIDs,
//! UIDVALIDITY, MODSEQs and the change log are kept, so clients do not
//! resynchronize, and ids are never handed out again (the sequences start
//! after SQLite's `AUTOINCREMENT` counters). Blob files and upload files
//! become `bytea` rows; the search index is made again from each message.
//! One transaction: an interrupted copy leaves the database empty.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use tokio_postgres::types::ToSql;

use super::PgBackend;
use super::rows::PgCtx;
use crate::blob::{BlobDir, BlobHash};
use crate::{Result, StoreError};

/// What a migration copied, by table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    pub tables: Vec<(&'static str, u64)>,
}

/// A value read from SQLite, as PostgreSQL takes it.
#[derive(Debug)]
enum Value {
    Int(Option<i64>),
    /// A PostgreSQL `INT` column.
    Int32(Option<i32>),
    /// SQLite's 0/1 integers that are PostgreSQL booleans.
    Bool(bool),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Value {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Int32(v) => v,
            Value::Bool(v) => v,
            Value::Text(v) => v,
            Value::Bytes(v) => v,
        }
    }
}

/// Column kinds: `i` integer, `n` 32-bit integer, `b` boolean, `t` text,
/// `x` bytes.
fn read_rows(c: &Connection, sql: &str, kinds: &str) -> Result<Vec<Vec<Value>>> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        kinds
            .chars()
            .enumerate()
            .map(|(i, k)| {
                Ok(match k {
                    'i' => Value::Int(r.get(i)?),
                    'n' => Value::Int32(r.get(i)?),
                    'b' => Value::Bool(r.get::<_, Option<i64>>(i)?.unwrap_or(0) != 0),
                    't' => Value::Text(r.get(i)?),
                    _ => Value::Bytes(r.get(i)?),
                })
            })
            .collect::<rusqlite::Result<Vec<Value>>>()
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The tables copied as they are: (PostgreSQL table and columns, the SQLite
/// query giving them in order, their kinds).
const TABLES: &[(&str, &str, &str, &str)] = &[
    ("meta", "meta(key, value)", "SELECT key, value FROM meta", "ti"),
    ("domains", "domains(id, name)", "SELECT id, name FROM domains", "it"),
    (
        "accounts",
        "accounts(id, email, domain_id, password_hash, quota, used, modseq, leave_policy, pop_policy, created, send_per_hour, send_per_day)",
        "SELECT id, email, domain_id, password_hash, quota, used, modseq, leave_policy, pop_policy, created, send_per_hour, send_per_day FROM accounts",
        "ititiiittiii",
    ),
    (
        "mailboxes",
        "mailboxes(id, account_id, name, role, uidvalidity, uidnext, highestmodseq, messages, unseen, deleted, size, first_recent_uid)",
        "SELECT id, account_id, name, role, uidvalidity, uidnext, highestmodseq, messages, unseen, deleted, size, first_recent_uid FROM mailboxes",
        "iittiiiiiiii",
    ),
    (
        "subscriptions",
        "subscriptions(account_id, name)",
        "SELECT account_id, name FROM subscriptions",
        "it",
    ),
    (
        "emails",
        "emails(id, account_id, blob, size, received, keywords, seen, thread_id, modseq, pop_deleted, preview, meta)",
        "SELECT e.id, e.account_id, e.blob, e.size, e.received, e.keywords, e.seen, e.thread_id, e.modseq, e.pop_deleted, m.preview, m.meta
         FROM emails e JOIN email_meta m ON m.id = e.id",
        "iitiitbiibtt",
    ),
    (
        "entries",
        "entries(mailbox_id, uid, email_id, deleted, modseq, saved, keywords, thread_id, size, received)",
        "SELECT mailbox_id, uid, email_id, deleted, modseq, saved, keywords, thread_id, size, received FROM entries",
        "iiibiitiii",
    ),
    (
        "tombstones",
        "tombstones(mailbox_id, uid, modseq)",
        "SELECT mailbox_id, uid, modseq FROM tombstones",
        "iii",
    ),
    (
        "changes",
        "changes(account_id, modseq, kind, object_id)",
        "SELECT account_id, modseq, kind, object_id FROM changes",
        "iini",
    ),
    (
        "thread_refs",
        "thread_refs(account_id, message_id, thread_id)",
        "SELECT account_id, message_id, thread_id FROM thread_refs",
        "iti",
    ),
    (
        "thread_subjects",
        "thread_subjects(account_id, subject, thread_id, at)",
        "SELECT account_id, subject, thread_id, at FROM thread_subjects",
        "itii",
    ),
    (
        "aliases",
        "aliases(address, domain_id, account_id)",
        "SELECT address, domain_id, account_id FROM aliases",
        "tii",
    ),
    (
        "alias_targets",
        "alias_targets(address, domain_id, position, target)",
        "SELECT address, domain_id, position, target FROM alias_targets",
        "tiit",
    ),
    (
        "tokens",
        "tokens(hash, account_id, name, kind, created, last_used, expires, idle)",
        "SELECT hash, account_id, name, kind, created, last_used, expires, idle FROM tokens",
        "xittiiii",
    ),
    ("sent", "sent(account_id, at)", "SELECT account_id, at FROM sent", "ii"),
    (
        "metadata",
        "metadata(account_id, mailbox_id, name, value)",
        "SELECT account_id, mailbox_id, name, value FROM metadata",
        "iitx",
    ),
    (
        "urlauth_keys",
        "urlauth_keys(mailbox_id, account_id, key)",
        "SELECT mailbox_id, account_id, key FROM urlauth_keys",
        "iix",
    ),
    (
        "queue",
        "queue(id, sender, account_id, envid, ret_hdrs, ret_full, requiretls, raw, size, created, next_attempt, attempts)",
        "SELECT id, sender, account_id, envid, ret_hdrs, ret_full, requiretls, raw, size, created, next_attempt, attempts FROM queue",
        "ititbbbxiiin",
    ),
    (
        "queue_rcpts",
        "queue_rcpts(queue_id, idx, address, status, notify, orcpt, reply, delay_reported)",
        "SELECT queue_id, idx, address, status, notify, orcpt, reply, delay_reported FROM queue_rcpts",
        "intttttb",
    ),
    (
        "tls_results",
        "tls_results(day, domain, policy_type, policy, mx_host, receiving_ip, result, count)",
        "SELECT day, domain, policy_type, policy, mx_host, receiving_ip, result, count FROM tls_results",
        "itttttti",
    ),
    (
        "dmarc_results",
        "dmarc_results(day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned, envelope_from, dkim_domain, dkim_result, spf_domain, spf_result, count)",
        "SELECT day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned, envelope_from, dkim_domain, dkim_result, spf_domain, spf_result, count FROM dmarc_results",
        "itttttbbttttti",
    ),
    (
        "mta_sts",
        "mta_sts(domain, id, policy, fetched, expires)",
        "SELECT domain, id, policy, fetched, expires FROM mta_sts",
        "tttii",
    ),
    (
        "eas_devices",
        "eas_devices(account_id, device_id, device_type, user_agent, model, policy_key, pending_key, wipe, created, last_seen)",
        "SELECT account_id, device_id, device_type, user_agent, model, policy_key, pending_key, wipe, created, last_seen FROM eas_devices",
        "ittttiinii",
    ),
    (
        "eas_sync",
        "eas_sync(account_id, device_id, collection, state)",
        "SELECT account_id, device_id, collection, state FROM eas_sync",
        "ittx",
    ),
];

fn insert(ctx: &PgCtx<'_>, target: &str, row: &[Value]) -> Result<()> {
    let placeholders: Vec<String> = (1..=row.len()).map(|i| format!("${i}")).collect();
    let params: Vec<&(dyn ToSql + Sync)> = row.iter().map(Value::sql).collect();
    ctx.execute(
        &format!(
            "INSERT INTO {target} VALUES ({}) ON CONFLICT DO NOTHING",
            placeholders.join(", ")
        ),
        &params,
    )?;
    Ok(())
}

/// The bytes of a blob of the SQLite store: in its row, else its file.
fn blob_bytes(blobs: &BlobDir, hash: &str, data: Option<Vec<u8>>) -> Result<Vec<u8>> {
    if let Some(d) = data {
        return Ok(d);
    }
    let h =
        BlobHash::parse(hash).ok_or_else(|| StoreError::Corrupt(format!("blob name {hash:?}")))?;
    Ok(std::fs::read(blobs.path(&h))?)
}

impl PgBackend {
    /// Copies the SQLite store in `data_dir` (its server stopped) into this
    /// database, which must hold no domain or account yet. `progress` hears
    /// each table's name and row count as it is copied.
    pub fn migrate_from_sqlite(
        &self,
        data_dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<MigrateReport> {
        // Brings the SQLite schema up to date (and checks it is one).
        let sqlite = crate::sqlite::SqliteBackend::open(data_dir)?;
        crate::Backend::close(&sqlite);
        drop(sqlite);
        let c = Connection::open_with_flags(
            data_dir.join("tidings.db"),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let blobs = BlobDir::open(data_dir.join("blobs"))?;
        let shared: i64 = c.query_row("SELECT count(*) FROM acl", [], |r| r.get(0))?;
        if shared > 0 {
            return Err(StoreError::Unsupported {
                backend: "PostgreSQL",
                what: "sharing (ACL), which this store uses",
            });
        }
        let mut report = MigrateReport::default();
        self.write(|ctx| {
            let used: i64 = ctx
                .query_one(
                    "SELECT (SELECT count(*) FROM domains) + (SELECT count(*) FROM accounts)",
                    &[],
                )?
                .get(0);
            if used > 0 {
                return Err(StoreError::Refused(
                    "the PostgreSQL database is not empty: migrate into a new one".into(),
                ));
            }
            report.tables.clear();
            // Blobs before the emails that name them.
            let mut n = 0;
            for row in read_rows(&c, "SELECT hash, size, refs, data FROM blobs", "tiix")? {
                let [Value::Text(Some(hash)), size, refs, Value::Bytes(data)] =
                    <[Value; 4]>::try_from(row).map_err(|_| {
                        StoreError::Corrupt("a blob row of another shape".into())
                    })?
                else {
                    return Err(StoreError::Corrupt("a blob row without a hash".into()));
                };
                let bytes = blob_bytes(&blobs, &hash, data)?;
                insert(
                    ctx,
                    "blobs(hash, size, refs, data)",
                    &[
                        Value::Text(Some(hash)),
                        size,
                        refs,
                        Value::Bytes(Some(bytes)),
                    ],
                )?;
                n += 1;
            }
            progress("blobs", n);
            report.tables.push(("blobs", n));
            for (name, target, sql, kinds) in TABLES {
                let rows = read_rows(&c, sql, kinds)?;
                for row in &rows {
                    insert(ctx, target, row)?;
                }
                progress(name, rows.len() as u64);
                report.tables.push((name, rows.len() as u64));
            }
            // Uploads: bytes in the row, or the upload's file.
            let mut n = 0;
            for row in read_rows(
                &c,
                "SELECT account_id, hash, media_type, size, created, expires, data, file FROM uploads",
                "ittiiixt",
            )? {
                let mut row = row;
                let Some(Value::Text(file)) = row.pop() else {
                    return Err(StoreError::Corrupt("an upload row of another shape".into()));
                };
                if let (Some(Value::Bytes(data @ None)), Some(f)) = (row.last_mut(), file) {
                    *data = Some(std::fs::read(
                        crate::sqlite::uploads::dir(blobs.root()).join(f),
                    )?);
                }
                insert(
                    ctx,
                    "uploads(account_id, hash, media_type, size, created, expires, data)",
                    &row,
                )?;
                n += 1;
            }
            progress("uploads", n);
            report.tables.push(("uploads", n));
            // The search index, from each stored message.
            let emails = ctx.query(
                &format!(
                    "SELECT e.id, e.account_id, {} FROM emails e JOIN blobs b ON b.hash = e.blob",
                    super::BLOB_BYTES
                ),
                &[],
            )?;
            for r in &emails {
                let (id, account, raw): (i64, i64, &[u8]) = (r.get(0), r.get(1), r.get(2));
                let words = super::rows::Prepared::new(raw)?.words;
                ctx.execute(
                    "INSERT INTO email_search(email_id, account_id, doc) VALUES ($1, $2, array_to_tsvector($3::text[]))",
                    &[&id, &account, &words],
                )?;
            }
            progress("search index", emails.len() as u64);
            report.tables.push(("search index", emails.len() as u64));
            // Ids continue after SQLite's counters (never one handed out twice).
            for (table, seq) in read_rows(&c, "SELECT name, seq FROM sqlite_sequence", "ti")?
                .into_iter()
                .filter_map(|r| match <[Value; 2]>::try_from(r) {
                    Ok([Value::Text(Some(t)), Value::Int(Some(s))]) => Some((t, s)),
                    _ => None,
                })
            {
                if ["domains", "accounts", "mailboxes", "emails", "queue"].contains(&table.as_str())
                    && seq > 0
                {
                    ctx.query(
                        "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)",
                        &[&table, &seq],
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(report)
    }
}
