//! `tidings check`: verifies that the store is what the store wrote.
//!
//! Checked: SQLite's own consistency; every email's blob row and file exist
//! with the right size; blob reference counts; quota usage; UIDs below
//! UIDNEXT and not also tombstoned; MODSEQs within the mailbox's and the
//! account's; the All Mail and Starred rules; no email in no mailbox; ACL
//! rows name existing mailboxes and accounts, never the owner.
//! Blob files that no row names are notes, not problems: a crash between a
//! blob write and its commit leaves one, and it is harmless.

use std::collections::HashSet;

use rusqlite::Connection;

use crate::blob::{BlobDir, BlobHash};
use crate::{CheckReport, Result};

fn all<T>(
    c: &Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map([], f)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn check(c: &Connection, blobs: &BlobDir, files: Vec<BlobHash>) -> Result<CheckReport> {
    c.execute_batch("BEGIN")?;
    let r = check_in_tx(c, blobs, files);
    c.execute_batch("COMMIT")?;
    r
}

fn check_in_tx(c: &Connection, blobs: &BlobDir, files: Vec<BlobHash>) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut problem = |s: String| report.problems.push(s);

    for row in all(c, "PRAGMA quick_check", |r| r.get::<_, String>(0))? {
        if row != "ok" {
            problem(format!("sqlite: {row}"));
        }
    }
    let queries = [
        "SELECT 'email ' || e.id || ' names blob ' || e.blob || ', which has no row' FROM emails e LEFT JOIN blobs b ON b.hash = e.blob WHERE b.hash IS NULL",
        "SELECT 'blob ' || b.hash || ' counts ' || b.refs || ' references, has ' || count(e.id) FROM blobs b LEFT JOIN emails e ON e.blob = b.hash GROUP BY b.hash HAVING count(e.id) != b.refs",
        "SELECT 'account ' || a.email || ' records ' || a.used || ' bytes used, emails sum to ' || coalesce(sum(e.size), 0) FROM accounts a LEFT JOIN emails e ON e.account_id = a.id GROUP BY a.id HAVING coalesce(sum(e.size), 0) != a.used",
        "SELECT 'mailbox ' || m.id || ' uid ' || en.uid || ' is not below UIDNEXT ' || m.uidnext FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id WHERE en.uid >= m.uidnext OR en.uid < 1",
        "SELECT 'mailbox ' || m.id || ' tombstone uid ' || t.uid || ' is not below UIDNEXT' FROM tombstones t JOIN mailboxes m ON m.id = t.mailbox_id WHERE t.uid >= m.uidnext",
        "SELECT 'mailbox ' || t.mailbox_id || ' uid ' || t.uid || ' is both live and expunged' FROM tombstones t JOIN entries en ON en.mailbox_id = t.mailbox_id AND en.uid = t.uid",
        "SELECT 'mailbox ' || m.id || ' HIGHESTMODSEQ ' || m.highestmodseq || ' is below an entry or tombstone MODSEQ' FROM mailboxes m WHERE m.highestmodseq < max(coalesce((SELECT max(modseq) FROM entries WHERE mailbox_id = m.id), 0), coalesce((SELECT max(modseq) FROM tombstones WHERE mailbox_id = m.id), 0))",
        "SELECT 'account ' || a.email || ' MODSEQ ' || a.modseq || ' is below a mailbox HIGHESTMODSEQ' FROM accounts a JOIN mailboxes m ON m.account_id = a.id GROUP BY a.id HAVING max(m.highestmodseq) > a.modseq",
        "SELECT 'email ' || e.id || ' is in no mailbox' FROM emails e WHERE NOT EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id)",
        "SELECT 'acl of mailbox ' || acl.mailbox_id || ': no such mailbox' FROM acl WHERE NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.id = acl.mailbox_id)",
        "SELECT 'acl of mailbox ' || acl.mailbox_id || ': grantee ' || acl.grantee || ' is no account' FROM acl WHERE acl.grantee != 0 AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = acl.grantee)",
        "SELECT 'acl of mailbox ' || acl.mailbox_id || ' grants its owner' FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id WHERE acl.grantee = m.account_id",
    ];
    for sql in queries {
        for p in all(c, sql, |r| r.get::<_, String>(0))? {
            problem(p);
        }
    }
    // The counters kept on each mailbox, against a recount.
    let counters = "SELECT 'mailbox ' || m.id || ' counters (' || m.messages || ',' || m.unseen || ',' || m.deleted || ',' || m.size
            || ') differ from a recount (' || count(en.uid) || ',' || coalesce(sum(1 - e.seen), 0) || ',' || coalesce(sum(en.deleted), 0) || ',' || coalesce(sum(e.size), 0) || ')'
        FROM mailboxes m LEFT JOIN entries en ON en.mailbox_id = m.id LEFT JOIN emails e ON e.id = en.email_id
        GROUP BY m.id
        HAVING m.messages != count(en.uid) OR m.unseen != coalesce(sum(1 - e.seen), 0)
            OR m.deleted != coalesce(sum(en.deleted), 0) OR m.size != coalesce(sum(e.size), 0)";
    for p in all(c, counters, |r| r.get::<_, String>(0))? {
        problem(p);
    }
    let seen = "SELECT 'email ' || id || ' seen column disagrees with its keywords' FROM emails
        WHERE seen != (' ' || keywords || ' ' LIKE '% \\Seen %')";
    for p in all(c, seen, |r| r.get::<_, String>(0))? {
        problem(p);
    }
    let copies = "SELECT 'entry ' || en.mailbox_id || '/' || en.uid || ' disagrees with email ' || e.id
        FROM entries en JOIN emails e ON e.id = en.email_id
        WHERE en.keywords != e.keywords OR en.thread_id != e.thread_id OR en.size != e.size OR en.received != e.received";
    for p in all(c, copies, |r| r.get::<_, String>(0))? {
        problem(p);
    }
    let meta = "SELECT 'email ' || e.id || ' has no metadata row' FROM emails e
        WHERE NOT EXISTS (SELECT 1 FROM email_meta m WHERE m.id = e.id)";
    for p in all(c, meta, |r| r.get::<_, String>(0))? {
        problem(p);
    }
    // The rules of All Mail and Starred.
    let rules = [
        "SELECT 'email ' || e.id || ' breaks the All Mail rule' FROM emails e JOIN mailboxes allm ON allm.account_id = e.account_id AND allm.role = 'all'
         WHERE (EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id AND en.mailbox_id = allm.id))
             = (EXISTS (SELECT 1 FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id WHERE en.email_id = e.id AND m.role IN ('trash', 'junk')))",
        "SELECT 'email ' || e.id || ' breaks the Starred rule' FROM emails e JOIN mailboxes st ON st.account_id = e.account_id AND st.role = 'flagged'
         WHERE (EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id AND en.mailbox_id = st.id))
             != (' ' || e.keywords || ' ' LIKE '% \\Flagged %')",
        "SELECT 'entry in mailbox ' || en.mailbox_id || ' names email ' || en.email_id || ' of another account or none' FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id LEFT JOIN emails e ON e.id = en.email_id WHERE e.id IS NULL OR e.account_id != m.account_id",
    ];
    for sql in rules {
        for p in all(c, sql, |r| r.get::<_, String>(0))? {
            problem(p);
        }
    }
    // Blob rows against files.
    // Inline blobs: the bytes in the row must be the blob, by size and hash.
    let inline = all(
        c,
        "SELECT hash, size, data FROM blobs WHERE data IS NOT NULL",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        },
    )?;
    for (hash, size, data) in &inline {
        if data.len() as i64 != *size || BlobHash::of(data).as_str() != hash {
            problem(format!("inline blob {hash} does not match its bytes"));
        }
    }
    let rows = all(c, "SELECT hash, size FROM blobs WHERE data IS NULL", |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let on_disk: HashSet<String> = files.iter().map(|h| h.as_str().to_string()).collect();
    for (hash, size) in &rows {
        match BlobHash::parse(hash) {
            None => problem(format!("blob row {hash:?} is not a SHA-256 name")),
            Some(_) if !on_disk.contains(hash) => {
                problem(format!("blob {hash} has a row but no file"))
            }
            Some(h) => match std::fs::metadata(blobs.path(&h)) {
                Ok(m) if m.len() as i64 == *size => {}
                Ok(m) => problem(format!(
                    "blob {hash} is {} bytes, its row says {size}",
                    m.len()
                )),
                Err(e) => problem(format!("blob {hash}: {e}")),
            },
        }
    }
    let named: HashSet<&str> = rows.iter().map(|(h, _)| h.as_str()).collect();
    let orphans = files.iter().filter(|h| !named.contains(h.as_str())).count();
    if orphans > 0 {
        report.notes.push(format!(
            "{orphans} blob files are not referenced (left by an interrupted write; harmless)"
        ));
    }
    // One index row per email: rowids of the index against the emails.
    let indexed: i64 = c.query_row("SELECT count(*) FROM email_fts", [], |r| r.get(0))?;
    let emails: i64 = c.query_row("SELECT count(*) FROM emails", [], |r| r.get(0))?;
    if indexed != emails {
        report.problems.push(format!(
            "the full-text index has {indexed} rows for {emails} emails"
        ));
    }
    report.blobs = (rows.len() + inline.len()) as u64;
    report.emails = c.query_row("SELECT count(*) FROM emails", [], |r| r.get::<_, i64>(0))? as u64;
    report.accounts =
        c.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))? as u64;
    Ok(report)
}
