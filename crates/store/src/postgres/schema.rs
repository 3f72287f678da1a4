//! The PostgreSQL schema as numbered migrations, applied at open under an
//! advisory lock so that nodes starting together apply each once.
//!
//! The tables mirror the SQLite schema (`crate::sqlite::schema`) for what
//! the PostgreSQL backend does today; blobs are `bytea` rows.

/// The advisory lock key under which migrations run ("tidings" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x0074_6964_696e_6773;

/// Migration `n` is `MIGRATIONS[n - 1]`; never edit one that shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: accounts, mailboxes, emails, entries, the change log, blobs.
    "
CREATE TABLE meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE domains(id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE accounts(
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    password_hash TEXT NOT NULL,
    quota BIGINT,
    used BIGINT NOT NULL DEFAULT 0,
    modseq BIGINT NOT NULL DEFAULT 0,
    leave_policy TEXT NOT NULL DEFAULT 'archive',
    pop_policy TEXT NOT NULL DEFAULT 'mark-read',
    created BIGINT NOT NULL
);
CREATE TABLE mailboxes(
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    role TEXT,
    uidvalidity BIGINT NOT NULL,
    uidnext BIGINT NOT NULL DEFAULT 1,
    highestmodseq BIGINT NOT NULL DEFAULT 0,
    messages BIGINT NOT NULL DEFAULT 0,
    unseen BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    size BIGINT NOT NULL DEFAULT 0,
    first_recent_uid BIGINT NOT NULL DEFAULT 1,
    UNIQUE(account_id, name)
);
CREATE UNIQUE INDEX mailboxes_role ON mailboxes(account_id, role) WHERE role IS NOT NULL;
CREATE TABLE subscriptions(
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    PRIMARY KEY(account_id, name)
);
CREATE TABLE blobs(hash TEXT PRIMARY KEY, size BIGINT NOT NULL, refs BIGINT NOT NULL, data BYTEA NOT NULL);
CREATE TABLE emails(
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    blob TEXT NOT NULL REFERENCES blobs(hash),
    size BIGINT NOT NULL,
    received BIGINT NOT NULL,
    keywords TEXT NOT NULL DEFAULT '',
    seen BOOLEAN NOT NULL DEFAULT false,
    thread_id BIGINT NOT NULL,
    modseq BIGINT NOT NULL,
    pop_deleted BOOLEAN NOT NULL DEFAULT false,
    preview TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL
);
CREATE INDEX emails_account ON emails(account_id, received);
CREATE TABLE entries(
    mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id),
    uid BIGINT NOT NULL,
    email_id BIGINT NOT NULL REFERENCES emails(id),
    deleted BOOLEAN NOT NULL DEFAULT false,
    modseq BIGINT NOT NULL,
    saved BIGINT NOT NULL,
    keywords TEXT NOT NULL,
    thread_id BIGINT NOT NULL,
    size BIGINT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY(mailbox_id, uid),
    UNIQUE(email_id, mailbox_id)
);
CREATE INDEX entries_modseq ON entries(mailbox_id, modseq);
CREATE TABLE tombstones(
    mailbox_id BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    modseq BIGINT NOT NULL,
    PRIMARY KEY(mailbox_id, uid)
);
CREATE TABLE changes(
    account_id BIGINT NOT NULL,
    modseq BIGINT NOT NULL,
    kind INT NOT NULL,
    object_id BIGINT NOT NULL,
    PRIMARY KEY(account_id, modseq, kind, object_id)
);
CREATE TABLE thread_refs(
    account_id BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id BIGINT NOT NULL,
    PRIMARY KEY(account_id, message_id)
);
CREATE TABLE thread_subjects(
    account_id BIGINT NOT NULL,
    subject TEXT NOT NULL,
    thread_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY(account_id, subject)
);
",
    // 2: full-text search: an email's words (subject, addresses, body) as
    // a tsvector of lexemes the store made (crate::postgres::search_words),
    // under a GIN index.
    "
CREATE TABLE email_search(
    email_id BIGINT PRIMARY KEY REFERENCES emails(id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL,
    doc TSVECTOR NOT NULL
);
CREATE INDEX email_search_doc ON email_search USING GIN(doc);
",
    // 3: the outbound queue, shared by the nodes (crate::postgres::queue),
    // and the MTA-STS policy cache.
    "
CREATE TABLE queue(
    id BIGSERIAL PRIMARY KEY,
    sender TEXT NOT NULL,
    account_id BIGINT,
    envid TEXT,
    ret_hdrs BOOLEAN NOT NULL DEFAULT false,
    ret_full BOOLEAN NOT NULL DEFAULT false,
    requiretls BOOLEAN NOT NULL DEFAULT false,
    raw BYTEA NOT NULL,
    size BIGINT NOT NULL,
    created BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    -- Until when (Unix seconds) the node that claimed it is sending it.
    leased_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue(next_attempt);
CREATE TABLE queue_rcpts(
    queue_id BIGINT NOT NULL REFERENCES queue(id),
    idx INT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    notify TEXT NOT NULL DEFAULT '',
    orcpt TEXT,
    reply TEXT,
    delay_reported BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY(queue_id, idx)
);
CREATE TABLE mta_sts(
    domain TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
",
    // 4: access tokens (app passwords, webmail sessions): a token's SHA-256.
    "
CREATE TABLE tokens(
    hash BYTEA PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_used BIGINT,
    expires BIGINT,
    idle BIGINT,
    UNIQUE(account_id, name)
);
",
    // 5: aliases: to one account, or to several or remote targets.
    "
CREATE TABLE aliases(
    address TEXT PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id)
);
CREATE INDEX aliases_account ON aliases(account_id);
CREATE TABLE alias_targets(
    address TEXT NOT NULL,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    position BIGINT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY(address, position)
);
CREATE INDEX alias_targets_domain ON alias_targets(domain_id);
",
    // 6: sending limits: an account's own, and when it sent.
    "
ALTER TABLE accounts ADD COLUMN send_per_hour BIGINT, ADD COLUMN send_per_day BIGINT;
CREATE TABLE sent(account_id BIGINT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX sent_account ON sent(account_id, at);
",
    // 7: IMAP METADATA entries (mailbox 0: the account's server) and
    // URLAUTH mailbox access keys.
    "
CREATE TABLE metadata(
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    mailbox_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY(account_id, mailbox_id, name)
);
CREATE TABLE urlauth_keys(
    mailbox_id BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    key BYTEA NOT NULL
);
",
    // 8: JMAP uploads, per account until they expire; bytes in the row.
    "
CREATE TABLE uploads(
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    hash TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY(account_id, hash)
);
CREATE INDEX uploads_expires ON uploads(expires);
",
    // 9: the counters of the TLS-RPT (RFC 8460) and DMARC aggregate
    // (RFC 7489 §7.2) reports, per UTC day, summed across the nodes.
    "
CREATE TABLE tls_results(
    day BIGINT NOT NULL,
    domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    result TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY(day, domain, policy_type, policy, mx_host, receiving_ip, result)
);
CREATE TABLE dmarc_results(
    day BIGINT NOT NULL,
    domain TEXT NOT NULL,
    policy TEXT NOT NULL,
    rua TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim_aligned BOOLEAN NOT NULL,
    spf_aligned BOOLEAN NOT NULL,
    envelope_from TEXT NOT NULL,
    dkim_domain TEXT NOT NULL,
    dkim_result TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_result TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY(day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned,
        envelope_from, dkim_domain, dkim_result, spf_domain, spf_result)
);
",
    // 10: large blobs in 1 MiB chunks (their `blobs` row without data).
    "
ALTER TABLE blobs ALTER COLUMN data DROP NOT NULL;
CREATE TABLE blob_chunks(
    hash TEXT NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
    seq INT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY(hash, seq)
);
",
    // 11: Exchange ActiveSync devices (MS-ASPROV) and their sync state per
    // collection, as the SQLite backend's (its schema version 13): wipe is
    // 0 (none), 1 (requested), 2 (confirmed); the state is opaque.
    "
CREATE TABLE eas_devices(
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    policy_key BIGINT NOT NULL DEFAULT 0,
    pending_key BIGINT NOT NULL DEFAULT 0,
    wipe INT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY(account_id, device_id)
);
CREATE TABLE eas_sync(
    account_id BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY(account_id, device_id, collection),
    FOREIGN KEY(account_id, device_id) REFERENCES eas_devices(account_id, device_id) ON DELETE CASCADE
);
",
    // 12: where a blob's bytes are: 'db' (`data` or `blob_chunks`) or 's3'
    // (an object of the S3 blob store, `crate::s3`; the row has no data).
    "
ALTER TABLE blobs ADD COLUMN location TEXT NOT NULL DEFAULT 'db';
",
    // 13: sharing (RFC 4314 ACLs), as the SQLite backend's `acl`: a
    // mailbox's grantees (an account id, or 0 for `anyone`) and their
    // rights letters; the owner has every right and no row.
    "
CREATE TABLE acl(
    mailbox_id BIGINT NOT NULL,
    grantee BIGINT NOT NULL,
    rights TEXT NOT NULL,
    PRIMARY KEY(mailbox_id, grantee)
);
CREATE INDEX acl_grantee ON acl(grantee);
",
];
