//! The real `tidings serve` on PostgreSQL with its blobs in an S3 bucket
//! (`[store] blobs`), against a private PostgreSQL 15 and a real S3 server
//! nobody here wrote (moto, from the project's venv), driven by Python's
//! smtplib and imaplib. Fails, with the reason, when PostgreSQL or the S3
//! server cannot be started.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use tidings_store::postgres::cluster::TestCluster;
use tidings_store::s3::{TEST_ACCESS_KEY, TEST_SECRET_KEY, TestS3};

/// Waits (30 s at most) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SMTP in, the object in the bucket, IMAP FETCH out exactly; the email
/// destroyed for good, the collector deletes the object once past the
/// grace period (a second here); `tidings check` is clean throughout and
/// names an object deleted behind its back.
#[test]
fn mail_travels_through_the_bucket_and_the_collector_deletes_it_after_the_grace_period() {
    let cluster =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap();
    let s3 = TestS3::start("tidings-mail")
        .unwrap_or_else(|e| panic!("an S3 server is needed for this test: {e}"));
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("access"), format!("{TEST_ACCESS_KEY}\n")).unwrap();
    std::fs::write(keys.path().join("secret"), format!("{TEST_SECRET_KEY}\n")).unwrap();
    let extra = format!(
        "[store]\nurl = \"{url}\"\nblobs = \"s3://tidings-mail/mail\"\ns3_endpoint = \"{}\"\n\
         s3_access_key_file = \"{}\"\ns3_secret_key_file = \"{}\"\n\
         s3_grace_seconds = 1\ns3_collect_seconds = 1\n",
        s3.endpoint,
        keys.path().join("access").display(),
        keys.path().join("secret").display()
    );
    let server = Server::start(Setup {
        protocols: &["smtp", "imap"],
        extra: &extra,
        // The collector's passes are logged at debug.
        env: &[("RUST_LOG", "info,tidings_server::serve=debug")],
        ..Default::default()
    });
    let python = pyvenv_python("imaplib");
    let fetched = server.run_python(
        &python,
        r#"
import imaplib, os, smtplib, sys
body = "".join("line %d of a message kept in S3\r\n" % i for i in range(3000))
msg = ("From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: to S3\r\n"
       "Message-ID: <s3@example.org>\r\n\r\n" + body).encode()
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SMTP"]), timeout=30) as s:
    s.sendmail("ann@example.org", ["bob@localhost"], msg)
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
m.login("bob@localhost", os.environ["PASSWORD"])
m.select("INBOX")
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[])")
assert typ == "OK", (typ, data)
got = data[0][1]
assert got.endswith(msg), "the body differs"
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert data[0][1] == b"Subject: to S3\r\n\r\n", data
m.logout()
sys.stdout.write(got.hex())
"#,
        "SMTP in, IMAP FETCH out",
    );
    let fetched = (0..fetched.trim().len() / 2)
        .map(|i| u8::from_str_radix(&fetched.trim()[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>();
    // The bytes IMAP gave are the object's, named by their hash.
    let hash = tidings_store::BlobHash::of(&fetched);
    let key = format!("mail/{}", hash.as_str());
    assert_eq!(s3.keys().unwrap(), vec![key.clone()]);
    assert_eq!(s3.object(&key).unwrap().unwrap(), fetched);
    let check = server.ok(&["check"]);
    assert!(check.contains(": clean"), "{check}");
    // The collector runs every second, and leaves a referenced object.
    server.wait_for("collecting S3 blobs: done, none deleted");
    server.wait_for("collecting S3 blobs: done, none deleted");
    assert_eq!(s3.keys().unwrap(), vec![key.clone()]);
    // Destroyed for good: moved to Trash and expunged there.
    server.run_python(
        &python,
        r#"
import imaplib, os
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
m.login("bob@localhost", os.environ["PASSWORD"])
m.select("INBOX")
typ, data = m.uid("MOVE", "1", "Trash")
assert typ == "OK", (typ, data)
m.select("Trash")
m.store("1:*", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
assert typ == "OK" and data != [None], (typ, data)
m.logout()
"#,
        "IMAP MOVE to Trash and EXPUNGE",
    );
    eventually("the collector deleting the object", || {
        s3.keys().unwrap().is_empty()
    });
    server.wait_for("deleted 1 unreferenced blobs from the S3 blob store");
    let check = server.ok(&["check"]);
    assert!(check.contains(": clean"), "{check}");
    // An object deleted behind the store's back: `check` names it.
    server.deliver("bob@localhost", &message("lost"));
    let keys_now = s3.keys().unwrap();
    assert_eq!(keys_now.len(), 1);
    s3.delete_object(&keys_now[0]).unwrap();
    let o = server.tidings().arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "{} is missing from s3://tidings-mail/mail/",
            &keys_now[0][5..]
        )),
        "{out}"
    );
    // The bucket gone: SMTP answers 451 after DATA (the sender retries),
    // and nothing is stored.
    drop(s3);
    server.run_python(
        &python,
        r#"
import imaplib, os, smtplib
try:
    with smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SMTP"]), timeout=60) as s:
        s.sendmail("ann@example.org", ["bob@localhost"], b"Subject: not stored\r\n\r\nno bucket\r\n")
    raise SystemExit("accepted without its bytes stored")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 451, e
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
m.login("bob@localhost", os.environ["PASSWORD"])
typ, data = m.select("INBOX")
assert data == [b"1"], data
m.logout()
"#,
        "SMTP with the bucket gone",
    );
}
