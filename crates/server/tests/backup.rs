//! `tidings backup` of a running server while mail comes and goes, and
//! `tidings restore` of it into a new data directory.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Server, Setup};
use tidings_store::Store;
use tidings_types::MailboxRole;

/// A message of about `kib` KiB (above 64 KiB it is a blob file).
fn message(subject: &str, kib: usize) -> Vec<u8> {
    let mut m = format!(
        "From: ann@example.org\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\n"
    )
    .into_bytes();
    for i in 0..kib * 16 {
        m.extend_from_slice(format!("{subject} line {i:08} of filler text...\r\n").as_bytes());
    }
    m
}

#[test]
fn a_backup_taken_while_mail_comes_and_goes_restores_every_message() {
    let server = Server::start(Setup::default());
    // Emails that leave their last mailbox are deleted, so blobs are
    // collected while the backup runs.
    server.ok(&["user", "policy", "bob@localhost", "--leave", "delete"]);
    let mut kept = Vec::new();
    for i in 0..12 {
        let raw = message(&format!("kept{i}"), if i % 2 == 0 { 200 } else { 4 });
        server.deliver("bob@localhost", &raw);
        kept.push(raw);
    }
    // Churn: big messages delivered and destroyed until the backup is done.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        let data = server.path("data");
        std::thread::spawn(move || {
            let store = Store::open(&data).unwrap();
            let bob = store.account("bob@localhost").unwrap().unwrap().id;
            let inbox = store
                .mailbox_by_role(bob, MailboxRole::Inbox)
                .unwrap()
                .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let raw = message(&format!("churn{n}"), 100 + n % 7);
                let a = store
                    .append(
                        bob,
                        inbox.id,
                        tidings_store::NewEmail {
                            raw: &raw,
                            keywords: vec![],
                            received: None,
                        },
                    )
                    .unwrap();
                store.destroy_emails(bob, &[a.email]).unwrap();
                n += 1;
            }
            store.close();
            n
        })
    };
    let dest = server.path("backup");
    let out = server.ok(&["backup", dest.to_str().unwrap()]);
    assert!(out.starts_with("backed up "), "{out}");
    stop.store(true, Ordering::Relaxed);
    let churned = churn.join().unwrap();
    assert!(churned > 0);
    // The backup's database and files are private, like the store's.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("tidings.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    // Restore into a new data directory: check is clean, every kept
    // message is there, byte for byte.
    let restored = server.path("restored");
    let out = server.ok(&[
        "--data-dir",
        restored.to_str().unwrap(),
        "restore",
        dest.to_str().unwrap(),
    ]);
    assert!(out.contains("restored "), "{out}");
    let store = Store::open(&restored).unwrap();
    let bob = store.account("bob@localhost").unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(bob, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let mut found = Vec::new();
    for e in store.mailbox_entries(bob, inbox.id).unwrap() {
        found.push(store.email_raw(bob, e.email).unwrap());
    }
    for raw in &kept {
        assert!(
            found.contains(raw),
            "a message acknowledged before the backup is missing"
        );
    }
    assert!(store.check().unwrap().is_clean());
    store.close();

    // A restore never writes over a data directory in use.
    let o = server
        .tidings()
        .args(["--data-dir", restored.to_str().unwrap(), "restore"])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
}
