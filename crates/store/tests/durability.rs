//! Durability: a child process writes emails from several threads, is killed
//! with SIGKILL at varying points, and every email it was told was stored
//! must be there, byte for byte, with the integrity check clean.
//!
//! The child is this same test binary, started with `TIDINGS_DURABILITY_CHILD`
//! set, running `child_writer`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_store::{FlagOp, NewEmail, Recipient, Store};
use tidings_types::{EmailId, Keyword, MailboxRole, Secret, Uid};

const CHILD: &str = "TIDINGS_DURABILITY_CHILD";

fn body(thread: usize, i: usize) -> Vec<u8> {
    // Every seventh message is over 64 KiB: a blob file, not a database row.
    let pad = "lorem ipsum dolor sit amet ".repeat(if i % 7 == 3 { 2600 } else { i % 200 });
    format!(
        "From: t{thread}@example.org\r\nTo: bob@example.org\r\nSubject: msg {thread}-{i}\r\nMessage-ID: <{thread}.{i}@test>\r\n\r\n{pad}\r\nend {thread}-{i}\r\n"
    )
    .into_bytes()
}

/// The child: writes until killed, printing `ACK thread i email-id` after
/// each write returns.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let bob = store.account("bob@example.org").unwrap().unwrap().id;
    let ann = store.account("ann@example.org").unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(bob, MailboxRole::Inbox)
        .unwrap()
        .unwrap()
        .id;
    let ann_inbox = store
        .mailbox_by_role(ann, MailboxRole::Inbox)
        .unwrap()
        .unwrap()
        .id;
    let round: usize = std::env::var("ROUND").unwrap().parse().unwrap();
    let store = Arc::new(store);
    let mut threads = Vec::new();
    for t in 0..3 {
        let s = store.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0.. {
                let raw = body(round * 10 + t, i);
                let r = s
                    .append(
                        bob,
                        inbox,
                        NewEmail {
                            raw: &raw,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                println!("ACK {} {i} {}", round * 10 + t, r.email.0);
            }
        }));
    }
    // Deliveries to two accounts sharing one blob.
    let s = store.clone();
    threads.push(std::thread::spawn(move || {
        for i in 0.. {
            let t = round * 10 + 5;
            let raw = body(t, i);
            let rc = [
                Recipient {
                    account: bob,
                    mailbox: inbox,
                    keywords: vec![],
                },
                Recipient {
                    account: ann,
                    mailbox: ann_inbox,
                    keywords: vec![],
                },
            ];
            let out = s.deliver(&raw, None, &rc).unwrap();
            for r in out {
                println!("ACK {t} {i} {}", r.unwrap().email.0);
            }
        }
    }));
    // Churn: flag changes and destroyed emails (blob garbage collection).
    let s = store.clone();
    threads.push(std::thread::spawn(move || {
        let seen = Keyword::new("\\Seen").unwrap();
        for i in 1u32.. {
            let _ = s.store_flags(
                bob,
                inbox,
                &[Uid(i % 50 + 1)],
                FlagOp::Add,
                std::slice::from_ref(&seen),
                None,
            );
            let raw = format!("Subject: scratch {i}\r\n\r\nscratch\r\n").into_bytes();
            let r = s
                .append(
                    ann,
                    ann_inbox,
                    NewEmail {
                        raw: &raw,
                        ..Default::default()
                    },
                )
                .unwrap();
            s.destroy_emails(ann, &[r.email]).unwrap();
        }
    }));
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_email() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.add_domain("example.org").unwrap();
        s.create_account("bob@example.org", &Secret::new("pw".into()))
            .unwrap();
        s.create_account("ann@example.org", &Secret::new("pw".into()))
            .unwrap();
        s.close();
    }
    let mut acked: Vec<(usize, usize, EmailId)> = Vec::new();
    // Kill points vary from "during the first writes" to "well into a batch".
    for (round, delay_ms) in [40u64, 150, 90, 400, 250, 10].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD, dir.path())
            .env("ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let ["ACK", t, i, id] = parts[..] {
                    out.push((
                        t.parse().unwrap(),
                        i.parse().unwrap(),
                        EmailId(id.parse().unwrap()),
                    ));
                }
            }
            out
        });
        // Wait until the child is writing, then kill it mid-flight.
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(300 + delay_ms));
        assert!(start.elapsed() < Duration::from_secs(60));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(
            !got.is_empty(),
            "round {round}: the child acknowledged nothing before it was killed"
        );
        eprintln!(
            "round {round}: {} writes acknowledged before SIGKILL",
            got.len()
        );
        acked.extend(got);

        // Reopen as a fresh process would, and verify everything acknowledged.
        let s = Store::open(dir.path()).unwrap();
        let report = s.check().unwrap();
        assert!(report.is_clean(), "round {round}: {:#?}", report.problems);
        let bob = s.account("bob@example.org").unwrap().unwrap().id;
        let ann = s.account("ann@example.org").unwrap().unwrap().id;
        for &(t, i, id) in &acked {
            let raw = s.email_raw(bob, id).or_else(|_| s.email_raw(ann, id));
            assert_eq!(
                raw.unwrap_or_default(),
                body(t, i),
                "round {round}: acknowledged email {t}-{i} ({id}) lost"
            );
        }
        s.close();
    }
}
