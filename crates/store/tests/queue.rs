//! The outbound queue: add, due, update per recipient, retry, delete, and
//! durability across reopening.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use tidings_store::{DeliveryStatus, NewQueued, QueueRecipient, QueueUpdate, Store, StoreError};

fn item(raw: &[u8]) -> NewQueued<'_> {
    let mut never = QueueRecipient::new("c@remote.example");
    never.notify = "NEVER".into();
    NewQueued {
        raw,
        sender: "bob@localhost".into(),
        account: None,
        recipients: vec![
            QueueRecipient::new("a@remote.example"),
            QueueRecipient::new("b@other.example"),
            never,
        ],
        envid: Some("ENV1".into()),
        ret_hdrs: true,
        ret_full: false,
        requiretls: false,
    }
}

#[test]
fn a_message_leaves_the_queue_when_no_recipient_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let raw = b"Subject: q\r\n\r\nbody\r\n";
    let id = store.queue_add(&item(raw)).unwrap();
    assert_eq!(store.queue_raw(id).unwrap(), raw);
    let due = store.queue_due(100, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].recipients.len(), 3);
    assert_eq!(due[0].envid.as_deref(), Some("ENV1"));
    assert!(due[0].ret_hdrs);
    assert!(!due[0].recipients[2].wants_failure_report());
    assert!(due[0].recipients[0].wants_failure_report());

    store
        .queue_update(
            id,
            &QueueUpdate {
                recipients: vec![
                    (0, DeliveryStatus::Delivered, Some("250 ok".into())),
                    (1, DeliveryStatus::Pending, Some("451 later".into())),
                    (2, DeliveryStatus::Failed, Some("550 no".into())),
                ],
                next_attempt: 1000,
                delay_reported: vec![1],
            },
        )
        .unwrap();
    assert!(store.queue_due(999, 10).unwrap().is_empty());
    let listed = store.queue_list().unwrap();
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].recipients[1].reply.as_deref(), Some("451 later"));
    assert!(listed[0].recipients[1].delay_reported);
    assert!(!listed[0].recipients[0].delay_reported);
    store.queue_retry(id).unwrap();
    assert_eq!(store.queue_due(0, 10).unwrap().len(), 1);

    store
        .queue_update(
            id,
            &QueueUpdate {
                recipients: vec![(1, DeliveryStatus::Delivered, None)],
                next_attempt: 0,
                delay_reported: Vec::new(),
            },
        )
        .unwrap();
    assert!(store.queue_list().unwrap().is_empty());
    assert!(matches!(store.queue_raw(id), Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.queue_delete(id),
        Err(StoreError::NotFound(_))
    ));
    store.close();
}

#[test]
fn the_queue_survives_reopening_and_delete_removes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let big = vec![b'x'; 200_000];
    let a = store.queue_add(&item(b"A\r\n")).unwrap();
    let b = store.queue_add(&item(&big)).unwrap();
    assert!(b.0 > a.0);
    store.close();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.queue_list().unwrap().len(), 2);
    assert_eq!(store.queue_raw(b).unwrap().len(), 200_000);
    store.queue_delete(a).unwrap();
    let left = store.queue_list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, b);
    assert_eq!(left[0].size, 200_000);
    assert_eq!("Q7".parse::<tidings_store::QueueId>().unwrap().0, 7);
    assert!(store.check().unwrap().is_clean());
    store.close();
}

#[test]
fn an_mta_sts_policy_is_cached_replaced_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.sts_policy("sts.example").unwrap(), None);
    let first = tidings_store::StsPolicy {
        id: "one".into(),
        policy: "version: STSv1\r\nmode: testing\r\nmx: mx.sts.example\r\nmax_age: 60\r\n".into(),
        fetched: 1_000,
        expires: 1_060,
    };
    store.sts_policy_put("sts.example", &first).unwrap();
    assert_eq!(
        store.sts_policy("sts.example").unwrap(),
        Some(first.clone())
    );
    let second = tidings_store::StsPolicy {
        id: "two".into(),
        policy: first.policy.replace("testing", "enforce"),
        fetched: 2_000,
        expires: 2_060,
    };
    store.sts_policy_put("sts.example", &second).unwrap();
    store.close();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.sts_policy("sts.example").unwrap(), Some(second));
    assert_eq!(store.sts_policy("other.example").unwrap(), None);
    store.sts_policy_put("a.example", &first).unwrap();
    let all: Vec<String> = store
        .sts_policies()
        .unwrap()
        .into_iter()
        .map(|(d, p)| format!("{d} {}", p.id))
        .collect();
    assert_eq!(all, ["a.example one", "sts.example two"]);
    store.close();
}

#[test]
fn tls_sessions_are_summed_per_day_and_forgotten_per_domain_once_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let session = |day: i64, domain: &str, result: &str| tidings_store::TlsResult {
        day,
        domain: domain.into(),
        policy_type: "tlsa".into(),
        policy: "3 1 1 00ff".into(),
        mx_host: format!("mx.{domain}"),
        receiving_ip: "192.0.2.25".into(),
        result: result.into(),
    };
    for r in [
        session(100, "a.example", "success"),
        session(100, "a.example", "success"),
        session(100, "a.example", "validation-failure"),
        session(101, "a.example", "success"),
        session(100, "b.example", "success"),
        session(102, "b.example", "success"),
    ] {
        store.tls_result_add(&r).unwrap();
    }
    store.close();
    let store = Store::open(dir.path()).unwrap();
    let up_to_101: Vec<(String, i64, String, u64)> = store
        .tls_results(101)
        .unwrap()
        .into_iter()
        .map(|c| (c.result.domain, c.result.day, c.result.result, c.count))
        .collect();
    assert_eq!(
        up_to_101,
        [
            ("a.example".into(), 100, "success".into(), 2),
            ("a.example".into(), 100, "validation-failure".into(), 1),
            ("a.example".into(), 101, "success".into(), 1),
            ("b.example".into(), 100, "success".into(), 1),
        ]
    );
    store.tls_results_delete("a.example", 101).unwrap();
    let left: Vec<(String, i64)> = store
        .tls_results(i64::MAX)
        .unwrap()
        .into_iter()
        .map(|c| (c.result.domain, c.result.day))
        .collect();
    assert_eq!(left, [("b.example".into(), 100), ("b.example".into(), 102)]);
    store.close();
}

#[test]
fn dmarc_evaluations_are_summed_per_day_and_forgotten_once_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let eval = |day: i64, domain: &str, ip: &str, spf: bool| tidings_store::DmarcResult {
        day,
        domain: domain.into(),
        policy: "none none r r 100".into(),
        rua: format!("mailto:dmarc@{domain}"),
        source_ip: ip.into(),
        disposition: "none".into(),
        dkim_aligned: false,
        spf_aligned: spf,
        envelope_from: domain.into(),
        dkim_domain: String::new(),
        dkim_result: "none".into(),
        spf_domain: domain.into(),
        spf_result: if spf { "pass" } else { "fail" }.into(),
    };
    for r in [
        eval(7, "a.example", "192.0.2.1", true),
        eval(7, "a.example", "192.0.2.1", true),
        eval(7, "a.example", "192.0.2.2", false),
        eval(8, "b.example", "192.0.2.1", true),
    ] {
        store.dmarc_result_add(&r).unwrap();
    }
    let rows: Vec<(String, String, bool, u64)> = store
        .dmarc_results(7)
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.result.domain,
                c.result.source_ip,
                c.result.spf_aligned,
                c.count,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a.example".into(), "192.0.2.1".into(), true, 2),
            ("a.example".into(), "192.0.2.2".into(), false, 1),
        ]
    );
    store.dmarc_results_delete("a.example", 7).unwrap();
    store.close();
    let store = Store::open(dir.path()).unwrap();
    let left: Vec<String> = store
        .dmarc_results(i64::MAX)
        .unwrap()
        .into_iter()
        .map(|c| c.result.domain)
        .collect();
    assert_eq!(left, ["b.example"]);
    store.close();
}
