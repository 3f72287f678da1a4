//! The PostgreSQL backend with its blobs in an S3 bucket (`crate::s3`),
//! against a real PostgreSQL 15 and a real S3 server nobody here wrote
//! (moto, from the project's venv), both private and on loopback. These
//! tests fail, with the reason, when either cannot be started. (The
//! conformance suite runs on this setup with
//! `TIDINGS_TEST_STORE=postgresql+s3`: see `common::store`.)
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tidings_store::postgres::cluster::TestCluster;
use tidings_store::s3::{S3Config, TestS3};
use tidings_store::{BlobHash, Store};
use tidings_types::MailboxRole;

fn servers() -> (TestCluster, String, TestS3) {
    let c =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = c.database().unwrap();
    let s3 = TestS3::start("tidings-mail")
        .unwrap_or_else(|e| panic!("an S3 server is needed for this test: {e}"));
    (c, url, s3)
}

fn node(url: &str, config: S3Config) -> Store {
    Store::open_with_blobs(
        std::path::Path::new("/nonexistent"),
        Some(url),
        Some(config),
    )
    .unwrap()
}

fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-Atc", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A delivered message's bytes are one object named by their hash, under
/// the prefix; its row counts references and holds no bytes; reads (whole
/// and a prefix) come back exact; `check` is clean.
#[test]
fn delivered_bytes_are_an_object_named_by_their_hash() {
    let (_c, url, s3) = servers();
    let store = node(&url, s3.config("tidings/"));
    store.add_domain("example.org").unwrap();
    let bob = account(&store, "bob@example.org");
    let ann = account(&store, "ann@example.org");
    let raw = msg("to the bucket", &"a line of the body\r\n".repeat(2000));
    let inbox_b = mailbox(&store, bob, MailboxRole::Inbox);
    let inbox_a = mailbox(&store, ann, MailboxRole::Inbox);
    let recipients = [bob, ann].map(|a| tidings_store::Recipient {
        account: a,
        mailbox: mailbox(&store, a, MailboxRole::Inbox).id,
        keywords: vec![],
    });
    let out = store.deliver(&raw, None, &recipients).unwrap();
    let email = out[0].as_ref().unwrap().email;
    assert!(out[1].is_ok());
    let hash = BlobHash::of(&raw);
    let key = format!("tidings/{}", hash.as_str());
    assert_eq!(s3.keys().unwrap(), vec![key.clone()]);
    assert_eq!(s3.object(&key).unwrap().as_deref(), Some(&raw[..]));
    assert_eq!(
        psql(
            &url,
            &format!(
                "SELECT refs, size, location, data IS NULL FROM blobs WHERE hash = '{}'",
                hash.as_str()
            )
        ),
        format!("2|{}|s3|t", raw.len())
    );
    assert_eq!(store.email_raw(bob, email).unwrap(), raw);
    assert_eq!(store.email_raw_prefix(bob, email, 100).unwrap(), raw[..100]);
    assert_eq!(store.mailbox_entries(ann, inbox_a.id).unwrap().len(), 1);
    assert_eq!(store.mailbox_entries(bob, inbox_b.id).unwrap().len(), 1);
    assert_clean(&store);
}

/// The last reference's removal leaves the object (another node may be
/// committing a new reference); the collector deletes it only once it is
/// older than the grace period, and never one a row names.
#[test]
fn the_collector_deletes_only_unreferenced_objects_past_the_grace_period() {
    let (_c, url, s3) = servers();
    let store = node(&url, s3.config(""));
    store.add_domain("example.org").unwrap();
    let bob = account(&store, "bob@example.org");
    let inbox = mailbox(&store, bob, MailboxRole::Inbox);
    let kept = store
        .append(bob, inbox.id, new_email(&msg("kept", "stays")))
        .unwrap();
    let raw = msg("gone", "goes");
    let gone = store.append(bob, inbox.id, new_email(&raw)).unwrap();
    store.destroy_emails(bob, &[gone.email]).unwrap();
    let key = BlobHash::of(&raw).as_str().to_string();
    assert!(s3.object(&key).unwrap().is_some(), "kept until collected");
    // The default grace period (a day): nothing goes yet.
    assert_eq!(store.collect_blobs().unwrap(), 0);
    assert!(s3.object(&key).unwrap().is_some());
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(
        report.notes.iter().any(|n| n.contains("1 objects")),
        "{:?}",
        report.notes
    );
    // Another node, with no grace period: the unreferenced object goes,
    // the referenced one stays.
    let mut config = s3.config("");
    config.grace = Duration::ZERO;
    let collector = node(&url, config);
    std::thread::sleep(Duration::from_millis(1100)); // LastModified has whole seconds
    assert_eq!(collector.collect_blobs().unwrap(), 1);
    assert_eq!(s3.object(&key).unwrap(), None);
    assert_eq!(s3.keys().unwrap().len(), 1);
    assert_eq!(collector.collect_blobs().unwrap(), 0);
    assert_eq!(
        store.email_raw(bob, kept.email).unwrap(),
        msg("kept", "stays")
    );
    assert_clean(&store);
    // The same bytes again: stored anew, readable.
    let again = store.append(bob, inbox.id, new_email(&raw)).unwrap();
    assert_eq!(store.email_raw(bob, again.email).unwrap(), raw);
    assert_eq!(collector.collect_blobs().unwrap(), 0);
    assert_clean(&store);
}

/// An object that vanished behind the store's back: `check` names it,
/// and reading the email fails clearly rather than giving other bytes.
#[test]
fn check_reports_a_missing_object_and_reads_fail_clearly() {
    let (_c, url, s3) = servers();
    let store = node(&url, s3.config("p/"));
    store.add_domain("example.org").unwrap();
    let bob = account(&store, "bob@example.org");
    let inbox = mailbox(&store, bob, MailboxRole::Inbox);
    let raw = msg("lost", "lost bytes");
    let a = store.append(bob, inbox.id, new_email(&raw)).unwrap();
    let hash = BlobHash::of(&raw);
    s3.delete_object(&format!("p/{}", hash.as_str())).unwrap();
    let report = store.check().unwrap();
    assert_eq!(
        report.problems,
        vec![format!(
            "blob {} is missing from s3://tidings-mail/p/",
            hash.as_str()
        )]
    );
    let e = store.email_raw(bob, a.email).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

/// S3 unreachable: a write fails (no mail acknowledged without its bytes
/// stored) and changes nothing; reads fail with a clear error.
#[test]
fn a_write_fails_and_changes_nothing_when_s3_fails() {
    let (_c, url, s3) = servers();
    let store = node(&url, s3.config(""));
    store.add_domain("example.org").unwrap();
    let bob = account(&store, "bob@example.org");
    let inbox = mailbox(&store, bob, MailboxRole::Inbox);
    let first = store
        .append(bob, inbox.id, new_email(&msg("before", "stored")))
        .unwrap();
    let modseq = store.mailbox_entries(bob, inbox.id).unwrap()[0].modseq;
    drop(s3); // the server stops
    let e = store
        .append(bob, inbox.id, new_email(&msg("after", "not stored")))
        .unwrap_err();
    assert!(e.to_string().contains("S3 blob store"), "{e}");
    assert!(e.is_temporary(), "{e}");
    let entries = store.mailbox_entries(bob, inbox.id).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].modseq, modseq);
    let e = store.email_raw(bob, first.email).unwrap_err();
    assert!(e.to_string().contains("S3 blob store"), "{e}");
    assert_eq!(
        psql(&url, "SELECT count(*) FROM emails"),
        "1",
        "no row for the refused message"
    );
}

/// A bucket that is not there fails the start, not the first delivery;
/// the embedded store refuses an S3 blob store.
#[test]
fn a_missing_bucket_fails_the_start_and_sqlite_refuses_s3() {
    let (_c, url, s3) = servers();
    let mut config = s3.config("");
    config.bucket = "no-such-bucket".into();
    let e = Store::open_with_blobs(
        std::path::Path::new("/nonexistent"),
        Some(&url),
        Some(config),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open_with_blobs(dir.path(), None, Some(s3.config("")))
        .err()
        .unwrap();
    assert!(e.to_string().contains("needs the PostgreSQL store"), "{e}");
}

/// One node keeps storing and deleting the same bytes while another
/// collects with no grace period at all, as fast as it can: every email
/// stored is readable while it exists (the collector never deletes an
/// object between a write's PUT and its commit), and the store ends clean.
#[test]
fn a_collector_racing_a_writer_never_deletes_referenced_bytes() {
    let (_c, url, s3) = servers();
    let writer = node(&url, s3.config(""));
    writer.add_domain("example.org").unwrap();
    let bob = account(&writer, "bob@example.org");
    let inbox = mailbox(&writer, bob, MailboxRole::Inbox);
    let mut config = s3.config("");
    config.grace = Duration::ZERO;
    let collector = node(&url, config);
    let raw = msg("again and again", "the same bytes each time");
    let done = std::sync::atomic::AtomicBool::new(false);
    /// Stops the collector however the writer's part ends.
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let passes = std::thread::scope(|s| {
        let stop = Stop(&done);
        let c = s.spawn(|| {
            let mut passes = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                collector.collect_blobs().unwrap();
                passes += 1;
            }
            passes
        });
        for _ in 0..40 {
            let a = writer.append(bob, inbox.id, new_email(&raw)).unwrap();
            assert_eq!(writer.email_raw(bob, a.email).unwrap(), raw);
            writer.destroy_emails(bob, &[a.email]).unwrap();
        }
        let last = writer.append(bob, inbox.id, new_email(&raw)).unwrap();
        drop(stop);
        let n = c.join().unwrap();
        assert_eq!(collector.collect_blobs().unwrap(), 0);
        assert_eq!(writer.email_raw(bob, last.email).unwrap(), raw);
        n
    });
    assert!(passes > 0, "the collector ran alongside the writer");
    assert_eq!(
        s3.keys().unwrap(),
        vec![BlobHash::of(&raw).as_str().to_string()]
    );
    assert_clean(&writer);
}
