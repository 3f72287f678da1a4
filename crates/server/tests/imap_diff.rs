//! Differential IMAP conformance: the conversations of
//! `tests/imap-diff/conversations.py` run against the real `tidings serve`
//! and against Debian's Dovecot (installed by `scripts/install-deps --peers`)
//! side by side; `tests/imap-diff/diff.py` normalises and compares the
//! replies. The differences that are known are listed, each with its reason,
//! in `tests/imap-diff/expected.txt`: intentional ones (justified in
//! docs/rfc-status.md) and defects not fixed yet. Any other difference fails
//! the test, and so does a listed one that is gone.
//!
//! Dovecot is a required peer: when it is missing (or the test is not run as
//! root, which Dovecot's service model needs here), the test fails and says
//! why.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::dovecot::Dovecot;
use common::{PASSWORD, Server, Setup};

const USER: &str = "bob@localhost";

#[test]
fn imap_replies_match_dovecot_except_the_listed_differences() {
    let tidings = Server::start(Setup {
        users: &[USER],
        ..Setup::default()
    });
    let dovecot = Dovecot::start(USER);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-diff");
    let o = Command::new("python3")
        .arg(dir.join("diff.py"))
        .arg(tidings.port("imap").to_string())
        .arg(dovecot.port.to_string())
        .args([USER, PASSWORD])
        .arg(dir.join("expected.txt"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    if std::env::var_os("IMAP_DIFF_SHOW").is_some() {
        println!("{out}");
    }
    assert!(
        o.status.success(),
        "differences from Dovecot:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
}
