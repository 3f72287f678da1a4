//! The PostgreSQL backend against a real PostgreSQL 15 (a private cluster,
//! see `tidings_store::postgres::cluster`): what only several nodes on one
//! database can show. Two `Store`s opened on one database are two nodes.
//! These tests fail, with the reason, when PostgreSQL cannot be started.
//! (The shared conformance suite runs on this backend with
//! `TIDINGS_TEST_STORE=postgresql`: see `common::store`.)
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use tidings_store::postgres::cluster::TestCluster;
use tidings_store::{FlagOp, Store, StoreError};
use tidings_types::{MailboxRole, Secret};

fn cluster() -> TestCluster {
    TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"))
}

fn node(url: &str) -> Store {
    Store::open_with(std::path::Path::new("/nonexistent"), Some(url)).unwrap()
}

/// Two nodes started together on an empty database: the migrations run
/// once (under the advisory lock), and both nodes work.
#[test]
fn nodes_starting_together_migrate_once() {
    let c = cluster();
    let url = c.database().unwrap();
    let nodes: Vec<Store> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| node(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    nodes[0].add_domain("example.org").unwrap();
    let a = account(&nodes[1], "bob@example.org");
    assert_eq!(nodes[3].account("bob@example.org").unwrap().unwrap().id, a);
    let out = std::process::Command::new("psql")
        .arg(&url)
        .args([
            "-Atc",
            "SELECT count(*), max(version) FROM schema_migrations",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let (count, max) = text.trim().split_once('|').unwrap();
    assert_eq!(count, max, "each migration applied once: {text}");
}

/// Two nodes append to one mailbox at once, many times each: every UID is
/// used once and they ascend in commit order, the account's MODSEQ rises
/// strictly with every append, nothing is lost, and the change log holds
/// each email once.
#[test]
fn two_nodes_hammering_one_mailbox_get_unique_uids_and_increasing_modseqs() {
    const EACH: usize = 40;
    let c = cluster();
    let url = c.database().unwrap();
    let (a_node, b_node) = (node(&url), node(&url));
    a_node.add_domain("example.org").unwrap();
    let bob = account(&a_node, "bob@example.org");
    let inbox = mailbox(&b_node, bob, MailboxRole::Inbox);
    let results: Vec<Vec<tidings_store::Appended>> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a_node, &b_node]
            .into_iter()
            .enumerate()
            .flat_map(|(n, store)| {
                // Two writers per node: four concurrent writers in all.
                (0..2).map(move |w| (n, w, store))
            })
            .map(|(n, w, store)| {
                let inbox = inbox.id;
                s.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let raw = msg(&format!("node {n} writer {w} message {i}"), "hello");
                            store.append(bob, inbox, new_email(&raw)).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = 4 * EACH;
    let all: Vec<&tidings_store::Appended> = results.iter().flatten().collect();
    let uids: BTreeSet<u32> = all.iter().map(|a| a.uid.0).collect();
    assert_eq!(uids.len(), total, "no UID handed out twice");
    let modseqs: BTreeSet<u64> = all.iter().map(|a| a.modseq.0).collect();
    assert_eq!(modseqs.len(), total, "no MODSEQ handed out twice");
    // Within one writer, later appends have later UIDs and MODSEQs; and
    // across writers, UID order is MODSEQ order (both follow commit order).
    for w in &results {
        assert!(
            w.windows(2)
                .all(|p| p[0].uid < p[1].uid && p[0].modseq < p[1].modseq)
        );
    }
    let mut by_uid: Vec<_> = all.iter().map(|a| (a.uid, a.modseq)).collect();
    by_uid.sort();
    assert!(
        by_uid.windows(2).all(|p| p[0].1 < p[1].1),
        "UIDs and MODSEQs ascend together"
    );
    // Both nodes see the same mailbox: every email, UIDs 1..=total.
    for store in [&a_node, &b_node] {
        let entries = store.mailbox_entries(bob, inbox.id).unwrap();
        assert_eq!(entries.len(), total);
        assert_eq!(
            entries.iter().map(|e| e.uid.0).collect::<Vec<_>>(),
            (1..=total as u32).collect::<Vec<_>>()
        );
    }
    let changes = b_node.changes_since(bob, tidings_types::ModSeq(0)).unwrap();
    assert_eq!(
        changes.created.len(),
        total,
        "the change log has every email"
    );
    assert_eq!(
        a_node.account_by_id(bob).unwrap().unwrap().modseq,
        changes.new_modseq
    );
    assert_clean(&a_node);
}

/// Many deliveries at once on one node share transactions (group commit):
/// every message is stored once, each with its own UID and MODSEQ (unique,
/// ascending together in commit order) and its own change event; a
/// recipient refused in a group (over quota) is refused alone; and the
/// deliveries did share transactions (fewer transaction ids than emails).
#[test]
fn concurrent_deliveries_share_transactions_and_each_gets_its_own_uid_and_modseq() {
    const THREADS: usize = 12;
    const EACH: usize = 25;
    let c = cluster();
    let url = c.database().unwrap();
    let store = node(&url);
    store.add_domain("example.org").unwrap();
    let bob = account(&store, "bob@example.org");
    let carol = account(&store, "carol@example.org");
    store.set_quota("carol@example.org", Some(1)).unwrap();
    let inbox = mailbox(&store, bob, MailboxRole::Inbox);
    let carol_inbox = mailbox(&store, carol, MailboxRole::Inbox);
    let mut events = store.subscribe();
    let results: Vec<Vec<tidings_store::Appended>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let raw = msg(&format!("thread {t} message {i}"), "hello");
                            let to = |account, mailbox| tidings_store::Recipient {
                                account,
                                mailbox,
                                keywords: Vec::new(),
                            };
                            let mut out = store
                                .deliver(
                                    &raw,
                                    None,
                                    &[to(bob, inbox.id), to(carol, carol_inbox.id)],
                                )
                                .unwrap();
                            assert!(
                                matches!(out[1], Err(StoreError::OverQuota { .. })),
                                "{:?}",
                                out[1]
                            );
                            out.remove(0).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = THREADS * EACH;
    let all: Vec<&tidings_store::Appended> = results.iter().flatten().collect();
    let uids: BTreeSet<u32> = all.iter().map(|a| a.uid.0).collect();
    assert_eq!(uids.len(), total, "no UID handed out twice");
    let modseqs: BTreeSet<u64> = all.iter().map(|a| a.modseq.0).collect();
    assert_eq!(modseqs.len(), total, "no MODSEQ handed out twice");
    for t in &results {
        assert!(
            t.windows(2)
                .all(|p| p[0].uid < p[1].uid && p[0].modseq < p[1].modseq),
            "one caller's deliveries ascend"
        );
    }
    let mut by_uid: Vec<_> = all.iter().map(|a| (a.uid, a.modseq)).collect();
    by_uid.sort();
    assert!(
        by_uid.windows(2).all(|p| p[0].1 < p[1].1),
        "UIDs and MODSEQs ascend together"
    );
    let entries = store.mailbox_entries(bob, inbox.id).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.uid.0).collect::<Vec<_>>(),
        (1..=total as u32).collect::<Vec<_>>(),
        "every message stored once"
    );
    let emails: BTreeSet<_> = entries.iter().map(|e| e.email).collect();
    assert_eq!(emails.len(), total);
    assert!(
        store
            .mailbox_entries(carol, carol_inbox.id)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.account_by_id(carol).unwrap().unwrap().used, 0);
    let changes = store.changes_since(bob, tidings_types::ModSeq(0)).unwrap();
    assert_eq!(
        changes.created.len(),
        total,
        "the change log has every email"
    );
    // One event per delivery, with the delivery's MODSEQ.
    let mut seen = BTreeSet::new();
    while let Ok(e) = events.try_recv() {
        if e.account == bob {
            assert!(e.mailboxes.contains(&inbox.id), "{e:?}");
            seen.insert(e.modseq.0);
        }
    }
    assert_eq!(seen, modseqs, "an event for each delivery");
    // The groups (the store's group commit metrics: one observation of its
    // size per committed group) were fewer than the deliveries.
    let text = tidings_metrics::render();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let groups = value("tidings_store_commit_group_size_count");
    let grouped = value("tidings_store_commit_group_size_sum");
    assert!(grouped >= total as f64, "{grouped} deliveries in groups");
    assert!(
        groups < grouped,
        "{groups} transactions for {grouped} deliveries"
    );
    assert_clean(&store);
}

/// A flag change and a delivery on one node wake a subscriber on the other
/// (LISTEN/NOTIFY), with the account, the new MODSEQ and the mailbox.
#[test]
fn a_commit_on_one_node_is_an_event_on_the_other() {
    let c = cluster();
    let url = c.database().unwrap();
    let (a_node, b_node) = (node(&url), node(&url));
    a_node.add_domain("example.org").unwrap();
    let bob = account(&a_node, "bob@example.org");
    let inbox = mailbox(&a_node, bob, MailboxRole::Inbox);
    let mut events = b_node.subscribe();
    let raw = msg("hello", "across nodes");
    let delivered = a_node
        .deliver(
            &raw,
            None,
            &[tidings_store::Recipient {
                account: bob,
                mailbox: inbox.id,
                keywords: Vec::new(),
            }],
        )
        .unwrap()
        .remove(0)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // The first event at or past `modseq` (events of earlier commits, such
    // as the account's creation, may still be arriving).
    let reach = |events: &mut tokio::sync::broadcast::Receiver<tidings_store::ChangeEvent>,
                 modseq: tidings_types::ModSeq| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let e = events.recv().await.unwrap();
                    if e.account == bob && e.modseq >= modseq {
                        return e;
                    }
                }
            })
            .await
        })
        .expect("the event within 10 s")
    };
    let event = reach(&mut events, delivered.modseq);
    assert_eq!(event.modseq, delivered.modseq);
    assert!(event.mailboxes.contains(&inbox.id), "{event:?}");
    // And the other way: a flag change on B wakes a subscriber on A.
    let mut on_a = a_node.subscribe();
    let changed = b_node
        .store_flags(
            bob,
            inbox.id,
            &[delivered.uid],
            FlagOp::Add,
            &[kw("\\Seen")],
            None,
        )
        .unwrap();
    let event = reach(&mut on_a, changed.modseq);
    assert_eq!(event.modseq, changed.modseq);
    assert!(event.mailboxes.contains(&inbox.id), "{event:?}");
    assert_eq!(reach(&mut events, changed.modseq).modseq, changed.modseq);
}

/// POP3's maildrop lock holds across nodes, and is free again once the
/// session lets go.
#[test]
fn the_pop3_lock_is_one_session_across_nodes() {
    let c = cluster();
    let url = c.database().unwrap();
    let (a_node, b_node) = (node(&url), node(&url));
    a_node.add_domain("example.org").unwrap();
    let bob = account(&a_node, "bob@example.org");
    let held = a_node
        .pop_lock(bob)
        .expect("the first session gets the lock");
    assert!(
        b_node.pop_lock(bob).is_none(),
        "another node's session waits"
    );
    assert!(
        a_node.pop_lock(bob).is_none(),
        "so does one on the same node"
    );
    drop(held);
    let again = b_node.pop_lock(bob);
    assert!(again.is_some(), "the lock is free after the session ends");
}

/// What the backend does not do yet fails with an error that names it,
/// and changes nothing.
#[test]
fn what_is_not_done_yet_fails_clearly() {
    let (_c, s) = pg_store();
    s.add_domain("example.org").unwrap();
    let bob = account(&s, "bob@example.org");
    let before = s.account_by_id(bob).unwrap().unwrap().modseq;
    let inbox = mailbox(&s, bob, MailboxRole::Inbox);
    account(&s, "ann@example.org");
    let err = s
        .set_rights(
            bob,
            inbox.id,
            &tidings_store::Grantee::Account("ann@example.org".into()),
            Some(tidings_store::Rights::all()),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Unsupported { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the PostgreSQL backend does not do sharing (ACL) yet"
    );
    assert!(matches!(
        s.backup(std::path::Path::new("/nonexistent/backup")),
        Err(StoreError::Unsupported { .. })
    ));
    assert_eq!(s.account_by_id(bob).unwrap().unwrap().modseq, before);
    assert_eq!(
        s.authenticate("bob@example.org", &Secret::new("pw".to_string()))
            .unwrap(),
        Some(bob)
    );
    assert_clean(&s);
}

/// The outbound queue is shared: nodes asking for due messages at once
/// each claim different ones (`SKIP LOCKED`), a claimed message is nobody
/// else's until its attempt is recorded or its lease ends (a node that
/// died), and a held message being sent cannot be cancelled.
#[test]
fn queued_messages_are_claimed_by_one_node_at_a_time() {
    use tidings_store::{DeliveryStatus, NewQueued, QueueRecipient, QueueUpdate};
    const MESSAGES: usize = 30;
    let c = cluster();
    let url = c.database().unwrap();
    let (a_node, b_node) = (node(&url), node(&url));
    let raw = b"Subject: queued\r\n\r\nbody\r\n";
    let item = NewQueued {
        raw,
        sender: "bob@example.org".into(),
        account: None,
        recipients: vec![QueueRecipient::new("ann@remote.example")],
        envid: None,
        ret_hdrs: false,
        ret_full: false,
        requiretls: false,
    };
    for _ in 0..MESSAGES {
        a_node.queue_add(&item).unwrap();
    }
    let now = 1_000;
    // Four claimers on two nodes, a few messages at a time.
    let claims: Vec<Vec<tidings_store::QueueId>> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a_node, &b_node, &a_node, &b_node]
            .into_iter()
            .map(|store| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let due = store.queue_due(now, 3).unwrap();
                        if due.is_empty() {
                            return mine;
                        }
                        mine.extend(due.iter().map(|m| m.id));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<_> = claims.iter().flatten().copied().collect();
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), MESSAGES, "each message claimed once: {claims:?}");
    assert_eq!(distinct.len(), MESSAGES);
    // Claimed, so due for no one, until the lease ends.
    assert!(b_node.queue_due(now + 60, 100).unwrap().is_empty());
    let first = all[0];
    // An attempt recorded ends the lease: due again at its next attempt.
    b_node
        .queue_update(
            first,
            &QueueUpdate {
                recipients: vec![(0, DeliveryStatus::Pending, Some("451 later".into()))],
                next_attempt: now + 100,
                delay_reported: vec![],
            },
        )
        .unwrap();
    let again = a_node.queue_due(now + 100, 100).unwrap();
    assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), vec![first]);
    assert_eq!(again[0].attempts, 1);
    // A node that claimed and died: its messages are due for another once
    // the lease (30 minutes) has passed.
    let after_lease = b_node.queue_due(now + 31 * 60, 100).unwrap();
    assert_eq!(
        after_lease.len(),
        MESSAGES - 1,
        "all but the one re-claimed above"
    );
    // A held message that a node is sending cannot be cancelled.
    let held = a_node.queue_add_at(&item, now + 10_000).unwrap();
    let claimed = a_node.queue_due(now + 10_000, 100).unwrap();
    assert!(claimed.iter().any(|m| m.id == held));
    assert!(!b_node.queue_cancel_held(held, now).unwrap());
    assert!(a_node.queue_message(held).unwrap().is_some());
}

/// `tidings migrate`: an SQLite store copied into PostgreSQL keeps its
/// ids, UIDs, UIDVALIDITY, MODSEQs, flags, bytes, change log, aliases,
/// tokens and ActiveSync devices, and goes on from there (no id or UID handed out twice).
#[test]
fn a_sqlite_store_migrates_with_its_ids_uids_and_modseqs() {
    let (dir, old) = sqlite_store();
    old.add_domain("example.org").unwrap();
    let bob = account(&old, "bob@example.org");
    let inbox = mailbox(&old, bob, MailboxRole::Inbox);
    let big = msg("big one", &"x".repeat(100_000));
    let mut appended = Vec::new();
    for (i, raw) in [msg("one", "1"), msg("two", "2"), big, msg("three", "3")]
        .iter()
        .enumerate()
    {
        let mut e = new_email(raw);
        if i == 1 {
            e.keywords = vec![kw("\\Flagged")];
        }
        appended.push(old.append(bob, inbox.id, e).unwrap());
    }
    old.store_flags(
        bob,
        inbox.id,
        &[appended[0].uid],
        FlagOp::Add,
        &[kw("\\Deleted")],
        None,
    )
    .unwrap();
    old.expunge(bob, inbox.id, None).unwrap();
    old.add_alias("info@example.org", "bob@example.org")
        .unwrap();
    let token = old
        .add_token(
            "bob@example.org",
            "phone",
            tidings_store::TokenKind::App,
            None,
            None,
        )
        .unwrap();
    let phone = tidings_store::EasDevice {
        account: bob,
        device_id: "phone".into(),
        device_type: "iPhone".into(),
        user_agent: "Apple-iPhone/1".into(),
        model: String::new(),
        policy_key: 42,
        pending_key: 0,
        wipe: tidings_store::EasWipe::Requested,
        created: 1000,
        last_seen: 2000,
    };
    old.eas_put_device(&phone).unwrap();
    old.eas_set_sync_state(bob, "phone", "5", Some(b"state".to_vec()))
        .unwrap();
    let mailboxes = old.mailboxes(bob).unwrap();
    let entries: Vec<_> = mailboxes
        .iter()
        .map(|m| old.mailbox_entries(bob, m.id).unwrap())
        .collect();
    let changes = old.changes_since(bob, tidings_types::ModSeq(0)).unwrap();
    let modseq = old.account_by_id(bob).unwrap().unwrap().modseq;
    old.close();
    drop(old);

    let c = cluster();
    let url = c.database().unwrap();
    let pg = tidings_store::postgres::PgBackend::open(&url).unwrap();
    let mut heard = Vec::new();
    let report = pg
        .migrate_from_sqlite(dir.path(), &mut |table, n| {
            heard.push((table.to_string(), n))
        })
        .unwrap();
    assert!(
        heard.iter().any(|(t, n)| t == "emails" && *n == 4),
        "{heard:?}"
    );
    assert_eq!(report.tables.len(), heard.len());
    let s = Store::from_backend(std::sync::Arc::new(pg));
    assert_eq!(s.mailboxes(bob).unwrap(), mailboxes);
    for (m, want) in mailboxes.iter().zip(&entries) {
        assert_eq!(&s.mailbox_entries(bob, m.id).unwrap(), want, "{}", m.name);
    }
    assert_eq!(
        s.changes_since(bob, tidings_types::ModSeq(0)).unwrap(),
        changes
    );
    assert_eq!(s.account_by_id(bob).unwrap().unwrap().modseq, modseq);
    assert_eq!(
        s.email_raw(bob, appended[2].email).unwrap().len(),
        msg("big one", &"x".repeat(100_000)).len(),
        "a blob file became a row"
    );
    assert_eq!(
        s.search_text(bob, "three").unwrap(),
        vec![appended[3].email]
    );
    assert_eq!(s.resolve_recipient("info@example.org").unwrap(), Some(bob));
    assert_eq!(
        s.authenticate("bob@example.org", &token).unwrap(),
        Some(bob)
    );
    assert_eq!(s.eas_device(bob, "phone").unwrap(), Some(phone));
    assert_eq!(
        s.eas_sync_state(bob, "phone", "5").unwrap().as_deref(),
        Some(&b"state"[..])
    );
    assert_clean(&s);
    // It goes on after the copy: new ids, the next UID, a higher MODSEQ.
    let next = s
        .append(bob, inbox.id, new_email(&msg("four", "4")))
        .unwrap();
    assert!(next.email > appended[3].email);
    assert_eq!(next.uid.0, appended[3].uid.0 + 1);
    assert!(next.modseq > modseq);
    assert!(
        s.create_mailbox(bob, &tidings_types::MailboxName::new("New").unwrap(), None)
            .unwrap()
            > mailboxes.iter().map(|m| m.id).max().unwrap()
    );
    // A second migration into a database in use is refused.
    let again = tidings_store::postgres::PgBackend::open(&url).unwrap();
    assert!(matches!(
        again.migrate_from_sqlite(dir.path(), &mut |_, _| {}),
        Err(StoreError::Refused(_))
    ));
}

/// The TLS-RPT and DMARC report counters are summed across nodes: what
/// two nodes count is one row with the sum, and reporting forgets it for
/// both.
#[test]
fn report_counters_are_summed_across_nodes() {
    let c = cluster();
    let url = c.database().unwrap();
    let (a_node, b_node) = (node(&url), node(&url));
    let session = |day: i64, result: &str| tidings_store::TlsResult {
        day,
        domain: "a.example".into(),
        policy_type: "sts".into(),
        policy: "version: STSv1".into(),
        mx_host: "mx.a.example".into(),
        receiving_ip: "192.0.2.25".into(),
        result: result.into(),
    };
    a_node.tls_result_add(&session(100, "success")).unwrap();
    b_node.tls_result_add(&session(100, "success")).unwrap();
    b_node
        .tls_result_add(&session(101, "starttls-not-supported"))
        .unwrap();
    let counts: Vec<(i64, String, u64)> = a_node
        .tls_results(101)
        .unwrap()
        .into_iter()
        .map(|c| (c.result.day, c.result.result, c.count))
        .collect();
    assert_eq!(
        counts,
        [
            (100, "success".into(), 2),
            (101, "starttls-not-supported".into(), 1)
        ]
    );
    b_node.tls_results_delete("a.example", 100).unwrap();
    assert_eq!(a_node.tls_results(i64::MAX).unwrap().len(), 1);
    let eval = tidings_store::DmarcResult {
        day: 7,
        domain: "a.example".into(),
        policy: "none none r r 100".into(),
        rua: "mailto:r@a.example".into(),
        source_ip: "192.0.2.1".into(),
        disposition: "none".into(),
        dkim_aligned: true,
        spf_aligned: false,
        envelope_from: "a.example".into(),
        dkim_domain: "a.example".into(),
        dkim_result: "pass".into(),
        spf_domain: "a.example".into(),
        spf_result: "fail".into(),
    };
    a_node.dmarc_result_add(&eval).unwrap();
    b_node.dmarc_result_add(&eval).unwrap();
    let counts = b_node.dmarc_results(7).unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].count, &counts[0].result), (2, &eval));
    a_node.dmarc_results_delete("a.example", 7).unwrap();
    assert!(b_node.dmarc_results(i64::MAX).unwrap().is_empty());
    let policy = tidings_store::StsPolicy {
        id: "20261203".into(),
        policy: "version: STSv1\nmode: enforce\n".into(),
        fetched: 1,
        expires: 2,
    };
    a_node.sts_policy_put("a.example", &policy).unwrap();
    assert_eq!(
        b_node.sts_policies().unwrap(),
        vec![("a.example".to_string(), policy)]
    );
}
