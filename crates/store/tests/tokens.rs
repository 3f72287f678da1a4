//! Access tokens: app passwords open the account through the one password
//! check, web tokens only as bearer tokens, revoked and expired ones
//! nothing, and the store keeps no token in clear.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::Backing;
use tidings_store::{Store, TokenKind};
use tidings_types::Secret;

/// A store of the conformance suite's backend with ann and bob.
fn store() -> (Backing, Store) {
    let (dir, s) = common::store();
    s.create_account("ann@example.org", &Secret::new("pw-ann".into()))
        .unwrap();
    s.create_account("bob@example.org", &Secret::new("pw-bob".into()))
        .unwrap();
    (dir, s)
}

#[test]
fn app_token_is_a_password_of_its_account_only() {
    let (dir, s) = store();
    let token = s
        .add_token("ann@example.org", "phone", TokenKind::App, None, None)
        .unwrap();
    let ann = s.account("ann@example.org").unwrap().unwrap().id;
    assert_eq!(
        s.authenticate("Ann@Example.org", &token).unwrap(),
        Some(ann)
    );
    assert_eq!(s.authenticate("bob@example.org", &token).unwrap(), None);
    assert_eq!(s.token_owner(&token).unwrap().unwrap().account, ann);
    // The password still works; a second token with the same name does not.
    assert!(
        s.authenticate("ann@example.org", &Secret::new("pw-ann".into()))
            .unwrap()
            .is_some()
    );
    assert!(
        s.add_token("ann@example.org", "phone", TokenKind::App, None, None)
            .is_err()
    );
    let list = s.tokens("ann@example.org").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "phone");
    assert!(list[0].last_used.is_some());
    // Only the hash is on disk (SQLite's files; PostgreSQL has the same
    // rows, bytea hashes).
    let s = match &dir {
        Backing::Dir(d) => {
            drop(s);
            let db = std::fs::read(d.path().join("tidings.db")).unwrap_or_default();
            let wal = std::fs::read(d.path().join("tidings.db-wal")).unwrap_or_default();
            let needle = token.expose().as_bytes();
            for bytes in [db, wal] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle));
            }
            Store::open(d.path()).unwrap()
        }
        Backing::Postgres(..) | Backing::PostgresS3(..) => s,
    };
    s.delete_token("ann@example.org", "phone").unwrap();
    assert_eq!(s.authenticate("ann@example.org", &token).unwrap(), None);
    assert!(s.token_owner(&token).unwrap().is_none());
    assert!(s.delete_token("ann@example.org", "phone").is_err());
}

#[test]
fn web_token_is_no_password_and_expires() {
    let (_dir, s) = store();
    let web = s
        .add_token("ann@example.org", "web-1", TokenKind::Web, None, Some(3600))
        .unwrap();
    assert_eq!(s.authenticate("ann@example.org", &web).unwrap(), None);
    assert_eq!(s.token_owner(&web).unwrap().unwrap().kind, TokenKind::Web);
    assert!(s.revoke_token(&web).unwrap());
    assert!(s.token_owner(&web).unwrap().is_none());
    assert!(!s.revoke_token(&web).unwrap());
    let old = s
        .add_token("ann@example.org", "old", TokenKind::App, Some(1), None)
        .unwrap();
    assert!(s.token_owner(&old).unwrap().is_none());
    assert_eq!(s.authenticate("ann@example.org", &old).unwrap(), None);
    assert!(s.tokens("ann@example.org").unwrap().is_empty());
    // Deleting the account drops its tokens.
    let t = s
        .add_token("bob@example.org", "x", TokenKind::App, None, None)
        .unwrap();
    s.delete_account("bob@example.org").unwrap();
    assert!(s.token_owner(&t).unwrap().is_none());
}
