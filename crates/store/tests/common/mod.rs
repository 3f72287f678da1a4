//! Helpers shared by the store's integration tests.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
#![allow(dead_code)]

use tidings_store::{Mailbox, NewEmail, Store};
use tidings_types::{AccountId, Keyword, MailboxName, MailboxRole, Secret};

/// What keeps a test's store alive: its data directory, or the
/// PostgreSQL cluster its database is in.
pub enum Backing {
    Dir(tempfile::TempDir),
    /// The cluster and the URL of the test's database in it.
    Postgres(tidings_store::postgres::cluster::TestCluster, String),
    /// The same, with the blobs in a private S3 server's bucket.
    PostgresS3(
        tidings_store::postgres::cluster::TestCluster,
        String,
        tidings_store::s3::TestS3,
    ),
}

impl Backing {
    /// The data directory of an embedded store.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Backing::Dir(d) => d.path(),
            Backing::Postgres(..) | Backing::PostgresS3(..) => {
                panic!("this test needs the SQLite backend's data directory")
            }
        }
    }

    /// Closes `store` and opens its data again: the same directory, or a
    /// new node on the same database.
    pub fn reopen(&self, store: Store) -> Store {
        store.close();
        drop(store);
        match self {
            Backing::Dir(d) => Store::open(d.path()).unwrap(),
            Backing::Postgres(_, url) => {
                Store::open_with(std::path::Path::new("/nonexistent"), Some(url)).unwrap()
            }
            Backing::PostgresS3(_, url, s3) => Store::open_with_blobs(
                std::path::Path::new("/nonexistent"),
                Some(url),
                Some(s3.config("mail/")),
            )
            .unwrap(),
        }
    }
}

/// The conformance suite's one backend factory: a fresh, empty store with
/// the domain example.org, on the backend `TIDINGS_TEST_STORE` names:
/// `sqlite` (the default), `postgresql` (a database of its own in the
/// cluster of `TIDINGS_TEST_PG_URL`, else in a cluster started for it) or
/// `postgresql+s3` (the same, with the blobs in the bucket of a private S3
/// server, moto, started for it).
pub fn store() -> (Backing, Store) {
    let (backing, store) = match std::env::var("TIDINGS_TEST_STORE").as_deref() {
        Err(_) | Ok("sqlite") => {
            let (dir, store) = sqlite_store();
            (Backing::Dir(dir), store)
        }
        Ok("postgresql") => pg_store(),
        Ok("postgresql+s3") => pg_s3_store(),
        Ok(other) => {
            panic!("TIDINGS_TEST_STORE={other}: expected sqlite, postgresql or postgresql+s3")
        }
    };
    store.add_domain("example.org").unwrap();
    (backing, store)
}

/// A fresh embedded store in a temporary directory (on tmpfs when there is
/// one: the tests check behaviour, and fsync on tmpfs costs nothing),
/// without domains: for what only the SQLite backend has (files, schema
/// versions, backup).
pub fn sqlite_store() -> (tempfile::TempDir, Store) {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = tempfile::Builder::new()
        .prefix("tidings-store")
        .tempdir_in(base)
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// A fresh PostgreSQL store, without domains. Fails the test, with the
/// reason, when PostgreSQL cannot be started.
pub fn pg_store() -> (Backing, Store) {
    let cluster = tidings_store::postgres::cluster::TestCluster::start()
        .unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open_with(std::path::Path::new("/nonexistent"), Some(&url)).unwrap();
    (Backing::Postgres(cluster, url), store)
}

/// A fresh PostgreSQL store with its blobs in S3 (moto on loopback),
/// without domains. Fails the test, with the reason, when PostgreSQL or the
/// S3 server cannot be started.
pub fn pg_s3_store() -> (Backing, Store) {
    let cluster = tidings_store::postgres::cluster::TestCluster::start()
        .unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap_or_else(|e| panic!("{e}"));
    let s3 = tidings_store::s3::TestS3::start("tidings-test")
        .unwrap_or_else(|e| panic!("an S3 server is needed for this test: {e}"));
    let store = Store::open_with_blobs(
        std::path::Path::new("/nonexistent"),
        Some(&url),
        Some(s3.config("mail/")),
    )
    .unwrap();
    (Backing::PostgresS3(cluster, url, s3), store)
}

pub fn account(store: &Store, email: &str) -> AccountId {
    store
        .create_account(email, &Secret::new("pw".to_string()))
        .unwrap()
}

pub fn mailbox(store: &Store, a: AccountId, role: MailboxRole) -> Mailbox {
    store.mailbox_by_role(a, role).unwrap().unwrap()
}

pub fn named(store: &Store, a: AccountId, name: &str) -> Mailbox {
    store
        .mailbox(a, &MailboxName::new(name).unwrap())
        .unwrap()
        .unwrap()
}

pub fn kw(s: &str) -> Keyword {
    Keyword::new(s).unwrap()
}

pub fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.net>\r\nTo: bob@example.org\r\nSubject: {subject}\r\nMessage-ID: <{}@example.net>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

pub fn new_email(raw: &[u8]) -> NewEmail<'_> {
    NewEmail {
        raw,
        ..Default::default()
    }
}

/// The UIDs in a mailbox.
pub fn uids(store: &Store, a: AccountId, mb: &Mailbox) -> Vec<u32> {
    store
        .mailbox_entries(a, mb.id)
        .unwrap()
        .iter()
        .map(|e| e.uid.0)
        .collect()
}

pub fn assert_clean(store: &Store) {
    let r = store.check().unwrap();
    assert!(r.is_clean(), "check found problems: {:#?}", r.problems);
}
