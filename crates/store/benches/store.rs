//! Store benchmarks (foundation issue): ingest throughput with durability on,
//! "changes since N" and the UID/flags view on a 100,000-email account.
//!
//! Run: `cargo bench -p tidings-store --bench store`. The data directories
//! live under `target/bench-store/` on the real disk (fsync is real); the
//! 100,000-email account is built once and reused by later runs.
//! With `target/corpus/spam-assassin/` present (`scripts/fetch-corpus`), the
//! ingest benchmark also runs on those real messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings_store::{NewEmail, Recipient, Store};
use tidings_types::{AccountId, MailboxId, MailboxRole, ModSeq, Secret};

/// Concurrent writers: deliveries arrive on many connections at once, which
/// is what lets group commit share one fsync among them.
const WRITERS: usize = 32;
const BIG: usize = 100_000;

fn bench_root() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bench-store")
}

fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {i} <sender{i}@example.net>\r\nTo: bob@example.org\r\nSubject: Report number {i}\r\nMessage-ID: <{i}.{size}@bench>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    let words = [
        "quarterly",
        "numbers",
        "meeting",
        "tidings",
        "server",
        "mailbox",
        "deliver",
        "review",
    ];
    let mut n = i;
    while m.len() < size {
        m.extend_from_slice(words[n % words.len()].as_bytes());
        m.push(if n % 12 == 11 { b'\n' } else { b' ' });
        n = n.wrapping_mul(31).wrapping_add(7);
    }
    m
}

fn open_fresh(name: &str) -> (Store, AccountId, MailboxId) {
    let dir = bench_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let s = Store::open(&dir).expect("open store");
    s.add_domain("example.org").expect("domain");
    let a = s
        .create_account("bob@example.org", &Secret::new("pw".into()))
        .expect("account");
    let inbox = s
        .mailbox_by_role(a, MailboxRole::Inbox)
        .expect("inbox")
        .expect("inbox")
        .id;
    (s, a, inbox)
}

/// Appends `msgs` from `WRITERS` threads; returns the time taken.
fn ingest(
    s: &Store,
    a: AccountId,
    inbox: MailboxId,
    msgs: &Arc<Vec<Vec<u8>>>,
    count: usize,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            let next = next.clone();
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let raw = &msgs[i % msgs.len()];
                    s.append(
                        a,
                        inbox,
                        NewEmail {
                            raw,
                            ..Default::default()
                        },
                    )
                    .expect("append");
                }
            });
        }
    });
    start.elapsed()
}

fn bench_ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let batch = 2_000;
    g.throughput(Throughput::Elements(batch as u64));
    let msgs: Arc<Vec<Vec<u8>>> = Arc::new((0..batch).map(|i| message(i, 10 * 1024)).collect());
    let (s, a, inbox) = open_fresh("ingest");
    g.bench_function("10KB messages, 32 writers, fsync on", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(&s, a, inbox, &msgs, batch)).sum())
    });
    s.close();

    let corpus = bench_root().join("../corpus/spam-assassin");
    let msgs = corpus_messages(&corpus);
    if !msgs.is_empty() {
        let n = msgs.len();
        let msgs = Arc::new(msgs);
        let (s, a, inbox) = open_fresh("ingest-corpus");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(
            format!("spam-assassin corpus ({n} real messages), 32 writers"),
            |b| b.iter_custom(|iters| (0..iters).map(|_| ingest(&s, a, inbox, &msgs, n)).sum()),
        );
        s.close();
    }
    g.finish();
}

/// Every `.eml` under `dir` (scripts/fetch-corpus lays them out by group).
fn corpus_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(corpus_messages(&path));
        } else if path.extension().is_some_and(|x| x == "eml")
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.push(bytes);
        }
    }
    out
}

/// The 100,000-email account, built once (deliveries of 2 KB messages).
fn big_account() -> (Store, AccountId, MailboxId) {
    let dir = bench_root().join("big");
    if let Ok(s) = Store::open(&dir)
        && let Ok(Some(acc)) = s.account("bob@example.org")
        && let Ok(Some(inbox)) = s.mailbox_by_role(acc.id, MailboxRole::Inbox)
        && s.mailbox_counts(acc.id, inbox.id)
            .map(|c| c.messages as usize)
            .unwrap_or(0)
            == BIG
    {
        return (s, acc.id, inbox.id);
    }
    let (s, a, inbox) = open_fresh("big");
    eprintln!("building a {BIG}-email account (once)...");
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= BIG {
                        break;
                    }
                    let raw = message(i, 2048);
                    let r = Recipient {
                        account: a,
                        mailbox: inbox,
                        keywords: Vec::new(),
                    };
                    s.deliver(&raw, None, &[r]).expect("deliver");
                }
            });
        }
    });
    (s, a, inbox)
}

fn bench_big(c: &mut Criterion) {
    let (s, a, inbox) = big_account();
    let mut g = c.benchmark_group("100k-email account");
    let now = s
        .account_by_id(a)
        .expect("account")
        .expect("account")
        .modseq;
    // A device that was away for the last 100 changes, and one for 1,000.
    for back in [100u64, 1_000] {
        let since = ModSeq(now.0.saturating_sub(back));
        g.bench_function(format!("changes since N ({back} changes back)"), |b| {
            b.iter(|| s.changes_since(a, since).expect("changes"))
        });
        g.bench_function(format!("mailbox changes since N ({back} back)"), |b| {
            b.iter(|| s.mailbox_changes(a, inbox, since).expect("delta"))
        });
    }
    g.bench_function("open mailbox UID/flags view (100,000 entries)", |b| {
        b.iter(|| {
            let v = s.mailbox_entries(a, inbox).expect("entries");
            assert_eq!(v.len(), BIG);
            v
        })
    });
    g.bench_function("mailbox counts (STATUS)", |b| {
        b.iter(|| s.mailbox_counts(a, inbox).expect("counts"))
    });
    g.bench_function("full-text search, one word", |b| {
        b.iter(|| s.search_text(a, "quarterly").expect("search"))
    });
    g.finish();
    s.close();
}

criterion_group!(benches, bench_ingest, bench_big);
criterion_main!(benches);
