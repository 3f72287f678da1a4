//! Helpers shared by the store's integration tests.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
#![allow(dead_code)]

use tidings_store::{Mailbox, NewEmail, Store};
use tidings_types::{AccountId, Keyword, MailboxName, MailboxRole, Secret};

/// A fresh store in a temporary directory (on tmpfs when there is one: the
/// tests check behaviour, and fsync on tmpfs costs nothing).
pub fn store() -> (tempfile::TempDir, Store) {
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
    store.add_domain("example.org").unwrap();
    (dir, store)
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
