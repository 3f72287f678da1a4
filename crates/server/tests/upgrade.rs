//! Upgrades: a data directory made by an old release opens with this
//! binary, which migrates its schema, and every user finds what they had —
//! the same mailboxes, subscriptions, UIDs, UIDVALIDITY, flags, internal
//! dates and bytes — logs in with the old password, and can go on (new mail
//! arrives, METADATA and ACLs, which the old schema lacked, work), with
//! `tidings check` clean.
//!
//! The fixture `upgrade/v1` is schema version 1 (the oldest), made by the
//! binary of commit 03ed01e with `upgrade/datadir.py fill`; its
//! `expected.json` is `datadir.py dump` on that old server. See
//! `upgrade/README.md`.

mod common;

use std::path::{Path, PathBuf};

use common::{Server, Setup};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/upgrade")
        .join(name)
}

#[test]
fn a_schema_1_data_dir_opens_with_everything_in_place() {
    let server = Server::start(Setup {
        protocols: &["imap", "smtp", "pop3"],
        domains: &["example.org"],
        users: &[],
        data_from: Some(&fixture("v1/data")),
        ..Setup::default()
    });
    let o = std::process::Command::new("python3")
        .arg(fixture("datadir.py"))
        .arg("compare")
        .arg(server.port("imap").to_string())
        .arg(fixture("v1/expected.json"))
        .output()
        .unwrap();
    common::assert_success(&o, "IMAP shows what the old release showed");
    server.run_python(
        Path::new("python3"),
        r#"
import imaplib, os, poplib, smtplib
port = int(os.environ["PORT_IMAP"])
imaplib.Commands["SETMETADATA"] = ("AUTH", "SELECTED")
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SMTP"])) as s:
    s.sendmail("carol@example.net", ["alice@example.org"],
               b"From: carol@example.net\r\nTo: alice@example.org\r\nSubject: after\r\n\r\nNew.\r\n")
im = imaplib.IMAP4("127.0.0.1", port)
im.login("alice@example.org", "alice old password")
typ, data = im.select("INBOX")
assert typ == "OK" and data[0] == b"6", data
typ, data = im.uid("FETCH", "*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"after" in data[0][1] and b"UID 7 " in data[0][0], data
# Schema 3 and 7 (METADATA, ACL) on a mailbox the old release made.
typ, data = im._simple_command("SETMETADATA", "Projects", '(/private/comment "kept")')
assert typ == "OK", data
typ, data = im.getacl("Projects")
assert typ == "OK", data
assert im.setacl("Projects", "bob@example.org", "lr")[0] == "OK"
im.logout()
bob = imaplib.IMAP4("127.0.0.1", port)
bob.login("bob@example.org", "bob old password")
typ, data = bob.select('"shared/alice@example.org/Projects"', readonly=True)
assert typ == "OK" and data[0] == b"2", data
bob.logout()
p = poplib.POP3("127.0.0.1", int(os.environ["PORT_POP3"]))
p.user("bob@example.org"); p.pass_("bob old password")
count, _ = p.stat()
assert count == 1, count
p.quit()
"#,
        "new mail, METADATA, ACL and POP3 on the upgraded data dir",
    );
    let out = server.tidings().arg("check").output().unwrap();
    common::assert_success(&out, "tidings check on the upgraded data dir");
}
