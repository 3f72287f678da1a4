//! Mailboxes shared between accounts over IMAP (RFC 4314 ACL, RFC 8440
//! LIST-MYRIGHTS), end to end against the real binary: imaplib's ACL
//! methods in `tests/imap-clients/sharing.py`, and the `tidings mailbox`
//! CLI with a byte-level client.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::{PASSWORD, Raw, Server, Setup, assert_success};

const ALICE: &str = "alice@localhost";
const BOB: &str = "bob@localhost";
const CAROL: &str = "carol@localhost";

fn start() -> Server {
    Server::start(Setup {
        users: &[ALICE, BOB, CAROL],
        ..Setup::default()
    })
}

/// alice shares "Projects" read-only with bob (LIST, SELECT READ-ONLY,
/// FETCH; STORE, APPEND, EXPUNGE refused with NOPERM), carol sees nothing
/// (LIST, SELECT, STATUS by name), then bob gets `lrswi` (APPEND, \Seen,
/// COPY out), IDLE wakes on alice's change, and revoking closes bob's
/// selected mailbox at his next command.
#[test]
fn a_mailbox_shared_read_only_then_read_write_and_revoked() {
    let server = start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-clients/sharing.py");
    let o = Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.port("imap").to_string(),
            ALICE,
            PASSWORD,
            BOB,
            CAROL,
        ])
        .output()
        .unwrap();
    assert_success(&o, "sharing.py");
}

/// A shared mailbox in GETQUOTAROOT/GETQUOTA (the owner's quota root),
/// METADATA (the owner's shared entries, each user's private ones, RFC
/// 5464 §3.3 rights) and NOTIFY (the owner's changes, with `l` and `r`):
/// `tests/imap-clients/shared_extras.py`.
#[test]
fn a_shared_mailbox_in_quota_metadata_and_notify() {
    let server = start();
    server.ok(&["user", "quota", ALICE, "10M"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-clients/shared_extras.py");
    let o = Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.port("imap").to_string(),
            ALICE,
            PASSWORD,
            BOB,
            CAROL,
        ])
        .output()
        .unwrap();
    assert_success(&o, "shared_extras.py");
}

/// `tidings mailbox share` / `unshare` / `acl` change what another
/// account sees over IMAP, while the server runs.
#[test]
fn the_cli_shares_and_unshares_a_mailbox() {
    let server = start();
    let mut alice = Raw::imap_login(server.port("imap"), ALICE);
    assert!(
        alice
            .cmd("a CREATE Team")
            .last()
            .unwrap()
            .starts_with("a OK")
    );
    let out = server.ok(&["mailbox", "share", ALICE, "Team", BOB, "lr"]);
    assert!(out.contains("granted bob@localhost lr"), "{out}");
    let acl = server.ok(&["mailbox", "acl", ALICE, "Team"]);
    assert_eq!(acl, "alice@localhost lrwstipekxa\nbob@localhost lr\n");
    let mut bob = Raw::imap_login(server.port("imap"), BOB);
    let lines = bob.cmd("l LIST \"\" shared/%/% RETURN (MYRIGHTS)");
    assert_eq!(
        lines,
        [
            "* LIST (\\HasNoChildren) \"/\" shared/alice@localhost/Team",
            "* MYRIGHTS shared/alice@localhost/Team lr",
            "l OK LIST completed",
        ]
    );
    let lines = bob.cmd("e EXAMINE shared/alice@localhost/Team");
    assert!(
        lines.last().unwrap().starts_with("e OK [READ-ONLY]"),
        "{lines:?}"
    );
    // Bad rights are refused with a clear error.
    let o = server
        .tidings()
        .args(["mailbox", "share", ALICE, "Team", BOB, "lrz"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown right"));
    server.ok(&["mailbox", "unshare", ALICE, "Team", BOB]);
    let lines = bob.cmd("n NOOP");
    assert!(lines[0].starts_with("* OK [CLOSED]"), "{lines:?}");
    assert_eq!(lines.last().unwrap(), "n OK NOOP completed");
    let lines = bob.cmd("l LIST \"\" shared/*");
    assert_eq!(lines, ["l OK LIST completed"]);
}
