//! `check` on PostgreSQL: the invariants `crate::sqlite::check` verifies,
//! in PostgreSQL's SQL, in one snapshot: blob references and sizes, quota
//! usage, UIDs below UIDNEXT and not also tombstoned, MODSEQs within the
//! mailbox's and the account's, the mailbox counters, the copies kept on
//! entries, the All Mail and Starred rules, no email in no mailbox, one
//! search row per email, ACL rows of existing mailboxes and accounts.

use crate::CheckReport;

const QUERIES: &[&str] = &[
    "SELECT 'email ' || e.id || ' names blob ' || e.blob || ', which has no row' FROM emails e LEFT JOIN blobs b ON b.hash = e.blob WHERE b.hash IS NULL",
    "SELECT 'blob ' || b.hash || ' counts ' || b.refs || ' references, has ' || count(e.id) FROM blobs b LEFT JOIN emails e ON e.blob = b.hash GROUP BY b.hash, b.refs HAVING count(e.id) != b.refs",
    "SELECT 'blob ' || hash || ' is ' || n || ' bytes, its row says ' || size FROM (
         SELECT b.hash, b.size, COALESCE(length(b.data), (SELECT sum(length(c.data)) FROM blob_chunks c WHERE c.hash = b.hash), 0) AS n
         FROM blobs b WHERE b.location = 'db') t WHERE n != size",
    "SELECT 'blob ' || hash || ' is in S3, and has bytes in the database too' FROM blobs b WHERE location = 's3' AND (data IS NOT NULL OR EXISTS (SELECT 1 FROM blob_chunks c WHERE c.hash = b.hash))",
    "SELECT 'blob ' || hash || ' is in an unknown place ' || location FROM blobs WHERE location NOT IN ('db', 's3')",
    "SELECT 'blob ' || hash || ' has both its bytes and chunks' FROM blobs b WHERE data IS NOT NULL AND EXISTS (SELECT 1 FROM blob_chunks c WHERE c.hash = b.hash)",
    "SELECT 'account ' || a.email || ' records ' || a.used || ' bytes used, emails sum to ' || coalesce(sum(e.size), 0) FROM accounts a LEFT JOIN emails e ON e.account_id = a.id GROUP BY a.id HAVING coalesce(sum(e.size), 0) != a.used",
    "SELECT 'mailbox ' || m.id || ' uid ' || en.uid || ' is not below UIDNEXT ' || m.uidnext FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id WHERE en.uid >= m.uidnext OR en.uid < 1",
    "SELECT 'mailbox ' || m.id || ' tombstone uid ' || t.uid || ' is not below UIDNEXT' FROM tombstones t JOIN mailboxes m ON m.id = t.mailbox_id WHERE t.uid >= m.uidnext",
    "SELECT 'mailbox ' || t.mailbox_id || ' uid ' || t.uid || ' is both live and expunged' FROM tombstones t JOIN entries en ON en.mailbox_id = t.mailbox_id AND en.uid = t.uid",
    "SELECT 'mailbox ' || m.id || ' HIGHESTMODSEQ ' || m.highestmodseq || ' is below an entry or tombstone MODSEQ' FROM mailboxes m WHERE m.highestmodseq < greatest(coalesce((SELECT max(modseq) FROM entries WHERE mailbox_id = m.id), 0), coalesce((SELECT max(modseq) FROM tombstones WHERE mailbox_id = m.id), 0))",
    "SELECT 'account ' || a.email || ' MODSEQ ' || a.modseq || ' is below a mailbox HIGHESTMODSEQ' FROM accounts a JOIN mailboxes m ON m.account_id = a.id GROUP BY a.id HAVING max(m.highestmodseq) > a.modseq",
    "SELECT 'email ' || e.id || ' is in no mailbox' FROM emails e WHERE NOT EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id)",
    "SELECT 'email ' || e.id || ' is not in the search index' FROM emails e WHERE NOT EXISTS (SELECT 1 FROM email_search s WHERE s.email_id = e.id AND s.account_id = e.account_id)",
    "SELECT 'mailbox ' || m.id || ' counters (' || m.messages || ',' || m.unseen || ',' || m.deleted || ',' || m.size
        || ') differ from a recount (' || count(en.uid) || ',' || coalesce(sum(CASE WHEN e.id IS NULL OR e.seen THEN 0 ELSE 1 END), 0) || ',' || coalesce(sum(CASE WHEN en.deleted THEN 1 ELSE 0 END), 0) || ',' || coalesce(sum(e.size), 0) || ')'
     FROM mailboxes m LEFT JOIN entries en ON en.mailbox_id = m.id LEFT JOIN emails e ON e.id = en.email_id
     GROUP BY m.id
     HAVING m.messages != count(en.uid) OR m.unseen != coalesce(sum(CASE WHEN e.id IS NULL OR e.seen THEN 0 ELSE 1 END), 0)
         OR m.deleted != coalesce(sum(CASE WHEN en.deleted THEN 1 ELSE 0 END), 0) OR m.size != coalesce(sum(e.size), 0)",
    "SELECT 'email ' || id || ' seen column disagrees with its keywords' FROM emails
     WHERE seen != (strpos(' ' || keywords || ' ', ' \\Seen ') > 0)",
    "SELECT 'entry ' || en.mailbox_id || '/' || en.uid || ' disagrees with email ' || e.id
     FROM entries en JOIN emails e ON e.id = en.email_id
     WHERE en.keywords != e.keywords OR en.thread_id != e.thread_id OR en.size != e.size OR en.received != e.received",
    "SELECT 'email ' || e.id || ' breaks the All Mail rule' FROM emails e JOIN mailboxes allm ON allm.account_id = e.account_id AND allm.role = 'all'
     WHERE (EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id AND en.mailbox_id = allm.id))
         = (EXISTS (SELECT 1 FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id WHERE en.email_id = e.id AND m.role IN ('trash', 'junk')))",
    "SELECT 'email ' || e.id || ' breaks the Starred rule' FROM emails e JOIN mailboxes st ON st.account_id = e.account_id AND st.role = 'flagged'
     WHERE (EXISTS (SELECT 1 FROM entries en WHERE en.email_id = e.id AND en.mailbox_id = st.id))
         != (strpos(' ' || e.keywords || ' ', ' \\Flagged ') > 0)",
    "SELECT 'entry in mailbox ' || en.mailbox_id || ' names email ' || en.email_id || ' of another account or none' FROM entries en JOIN mailboxes m ON m.id = en.mailbox_id LEFT JOIN emails e ON e.id = en.email_id WHERE e.id IS NULL OR e.account_id != m.account_id",
    "SELECT 'acl of mailbox ' || acl.mailbox_id || ': no such mailbox' FROM acl WHERE NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.id = acl.mailbox_id)",
    "SELECT 'acl of mailbox ' || acl.mailbox_id || ': grantee ' || acl.grantee || ' is no account' FROM acl WHERE acl.grantee != 0 AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = acl.grantee)",
    "SELECT 'acl of mailbox ' || acl.mailbox_id || ' grants its owner' FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id WHERE acl.grantee = m.account_id",
];

pub(crate) async fn check(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<CheckReport, tokio_postgres::Error> {
    let mut report = CheckReport::default();
    for sql in QUERIES {
        for r in tx.query(*sql, &[]).await? {
            report.problems.push(r.get(0));
        }
    }
    let count = async |sql: &str| -> Result<u64, tokio_postgres::Error> {
        Ok(tx.query_one(sql, &[]).await?.get::<_, i64>(0) as u64)
    };
    report.accounts = count("SELECT count(*) FROM accounts").await?;
    report.emails = count("SELECT count(*) FROM emails").await?;
    report.blobs = count("SELECT count(*) FROM blobs").await?;
    Ok(report)
}
