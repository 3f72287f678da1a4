//! Two `tidings serve` nodes on one PostgreSQL database (`[store] url`),
//! with Python's imaplib and smtplib as the clients: mail delivered on one
//! node wakes an IDLE on the other, flags set on one are seen on the other,
//! APPENDs on both at once get unique, increasing UIDs, and a node killed
//! under SMTP load loses no acknowledged message, a node whose LISTEN
//! connection dropped catches up on what it missed, a POP3 session on one
//! node locks the maildrop on the other (poplib), and the shared queue
//! delivers each message once (Postfix's `smtp-sink` as the next hop).
//! PostgreSQL 15
//! runs in a private cluster (`tidings_store::postgres::cluster`); without
//! it the test fails and says why.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::sink::Sink;
use common::*;
use tidings_store::postgres::cluster::TestCluster;

/// A new database in a private PostgreSQL cluster and two nodes on it: A
/// (with `a` listening) makes bob@localhost, B (with `b`) serves the same
/// store. `more` is further configuration for both. The cluster lives as
/// long as the first value.
fn two_nodes(a: &[&str], b: &[&str], more: &str) -> (TestCluster, String, Server, Server) {
    let cluster =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap();
    let extra = format!("[store]\nurl = \"{url}\"\n{more}");
    let a = Server::start(Setup {
        protocols: a,
        users: &["bob@localhost"],
        extra: &extra,
        ..Default::default()
    });
    let b = Server::start(Setup {
        protocols: b,
        users: &[],
        extra: &extra,
        ..Default::default()
    });
    (cluster, url, a, b)
}

#[test]
fn two_nodes_share_mail_flags_uids_and_push() {
    let (_cluster, _, a, b) = two_nodes(&["imap", "smtp"], &["imap"], "");
    let script = format!(
        r#"
import imaplib, smtplib, threading
def login(port):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("bob@localhost", "{PASSWORD}")
    return m
# IDLE on node B, delivery by SMTP on node A.
b = login({imap_b})
b.select("INBOX")
b.send(b"i1 IDLE\r\n")
assert b.readline().startswith(b"+ ")
b.sock.settimeout(5)
s = smtplib.SMTP("127.0.0.1", {smtp_a})
s.sendmail("ann@example.org", ["bob@localhost"],
           b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: across\r\n\r\nhi\r\n")
s.quit()
# Within the socket's 5 s: woken by the other node's event, not by the
# 30 s check every session also makes.
line = b.readline()
assert line == b"* 1 EXISTS\r\n", line
b.send(b"DONE\r\n")
while not b.readline().startswith(b"i1 OK"):
    pass
# Flags set on B are seen on A.
typ, _ = b.uid("STORE", "1", "+FLAGS", r"(\Flagged)")
assert typ == "OK"
a = login({imap_a})
a.select("INBOX")
typ, data = a.uid("FETCH", "1", "(FLAGS)")
assert typ == "OK" and b"\\Flagged" in data[0], data
typ, data = a.select("Starred")
assert data == [b"1"], data
# APPENDs on both nodes at once: every UID once, ascending per node.
uids = {{"a": [], "b": []}}
def appender(name, port):
    m = login(port)
    for i in range(15):
        msg = ("From: ann@example.org\r\nSubject: %s %d\r\n\r\nx\r\n" % (name, i)).encode()
        typ, data = m.append("INBOX", None, None, msg)
        assert typ == "OK", data
        # [APPENDUID validity uid]
        uids[name].append(int(data[0].split()[2].rstrip(b"]")))
    m.logout()
threads = [threading.Thread(target=appender, args=("a", {imap_a})),
           threading.Thread(target=appender, args=("b", {imap_b}))]
for th in threads: th.start()
for th in threads: th.join()
assert len(uids["a"]) == 15 and len(uids["b"]) == 15, uids
assert uids["a"] == sorted(uids["a"]) and uids["b"] == sorted(uids["b"]), uids
every = sorted(uids["a"] + uids["b"])
assert every == list(range(2, 32)), every
typ, data = b.select("INBOX")
assert data == [b"31"], data
typ, data = a.select("INBOX")
assert data == [b"31"], data
typ, data = a.uid("SEARCH", "ALL")
assert data[0].split() == [str(u).encode() for u in range(1, 32)], data
print("nodes ok")
"#,
        imap_a = a.port("imap"),
        smtp_a = a.port("smtp"),
        imap_b = b.port("imap"),
    );
    let out = a.run_python(std::path::Path::new("python3"), &script, "two nodes");
    assert!(out.contains("nodes ok"), "{out}");
}

/// A node's LISTEN connection drops (killed by `pg_terminate_backend`)
/// while the node is frozen (SIGSTOP), and a delivery commits on the other
/// node meanwhile: its NOTIFY is lost to the first node. When the first
/// node resumes it reconnects and catches up, and an IDLE on it sees the
/// message from that catch-up, before IDLE's 30-second periodic check.
#[test]
fn an_idle_sees_what_committed_while_its_nodes_listener_was_down() {
    let (_cluster, url, a, b) = two_nodes(&["smtp"], &["imap"], "");
    let script = format!(
        r#"
import imaplib, os, signal, smtplib, subprocess, time
b = imaplib.IMAP4("127.0.0.1", {imap_b})
b.login("bob@localhost", "{PASSWORD}")
b.select("INBOX")
b.send(b"i1 IDLE\r\n")
assert b.readline().startswith(b"+ ")
idle_since = time.monotonic()
os.kill({pid_b}, signal.SIGSTOP)
try:
    out = subprocess.run(
        ["psql", "{url}", "-Atc",
         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
         "WHERE application_name = '{listener}'"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1", out
    s = smtplib.SMTP("127.0.0.1", {smtp_a})
    s.sendmail("ann@example.org", ["bob@localhost"],
               b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: meanwhile\r\n\r\nhi\r\n")
    s.quit()
finally:
    os.kill({pid_b}, signal.SIGCONT)
b.sock.settimeout(25)
line = b.readline()
took = time.monotonic() - idle_since
assert line == b"* 1 EXISTS\r\n", line
assert took < 29, took
b.send(b"DONE\r\n")
while not b.readline().startswith(b"i1 OK"):
    pass
# The node listens again: a delivery now reaches it by NOTIFY.
out = subprocess.run(
    ["psql", "{url}", "-Atc",
     "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{listener}'"],
    capture_output=True, text=True, check=True)
assert out.stdout.strip() == "1", out
b.send(b"i2 IDLE\r\n")
assert b.readline().startswith(b"+ ")
s = smtplib.SMTP("127.0.0.1", {smtp_a})
s.sendmail("ann@example.org", ["bob@localhost"],
           b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: after\r\n\r\nhi\r\n")
s.quit()
line = b.readline()
assert line == b"* 2 EXISTS\r\n", line
print("caught up")
"#,
        imap_b = b.port("imap"),
        smtp_a = a.port("smtp"),
        pid_b = b.pid(),
        listener = tidings_store::postgres::listener_name(b.pid()),
    );
    let out = a.run_python(
        std::path::Path::new("python3"),
        &script,
        "listener reconnect",
    );
    assert!(out.contains("caught up"), "{out}");
}

/// SMTP load on two nodes of one database, one of them killed with
/// SIGKILL in the middle: every message either node acknowledged is stored
/// once, and `check` finds the store consistent.
#[test]
fn sigkill_of_one_node_under_smtp_load_loses_no_acknowledged_message() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const LOOP: &str = r#"
import smtplib, sys
port, prefix, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
i = 0
try:
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    while i < count:
        msg = ("From: x@remote.test\r\nSubject: %s %d\r\n\r\nbody %d\r\n" % (prefix, i, i)).encode()
        s.sendmail("x@remote.test", ["bob@localhost"], msg)
        print("acked", i, flush=True)
        i += 1
except Exception as e:
    print("stopped", i, type(e).__name__, flush=True)
"#;
    let (_cluster, url, mut a, b) = two_nodes(&["smtp"], &["smtp"], "");
    let run = |port: u16, prefix: &str, count: u32| {
        let mut child = Command::new("python3")
            .args(["-c", LOOP, &port.to_string(), prefix, &count.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, lines)
    };
    let (mut b_child, b_lines) = run(b.port("smtp"), "b", 120);
    let b_reader = std::thread::spawn(move || {
        b_lines
            .map(|l| l.unwrap())
            .filter_map(|l| l.strip_prefix("acked ").map(|n| n.parse::<u32>().unwrap()))
            .collect::<Vec<_>>()
    });
    let (mut a_child, a_lines) = run(a.port("smtp"), "a", 2000);
    let mut acked_a = Vec::new();
    for line in a_lines {
        let line = line.unwrap();
        let Some(n) = line.strip_prefix("acked ") else {
            break;
        };
        acked_a.push(n.parse::<u32>().unwrap());
        if acked_a.len() == 40 {
            a.kill_and_restart();
        }
    }
    a_child.wait().unwrap();
    let acked_b = b_reader.join().unwrap();
    b_child.wait().unwrap();
    assert!(acked_a.len() >= 40, "{acked_a:?}");
    assert_eq!(acked_b.len(), 120, "node B went on: {acked_b:?}");
    let store =
        tidings_store::Store::open_with(std::path::Path::new("/nonexistent"), Some(&url)).unwrap();
    let bob = store.account("bob@localhost").unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(bob, tidings_types::MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let mut found: Vec<String> = store
        .mailbox_entries(bob, inbox.id)
        .unwrap()
        .iter()
        .map(|e| {
            let meta = store.email_meta(bob, e.email).unwrap();
            meta.envelope.subject.unwrap()
        })
        .collect();
    found.sort();
    let stored = found.len();
    found.dedup();
    assert_eq!(stored, found.len(), "a message was stored twice");
    for (prefix, acked) in [("a", &acked_a), ("b", &acked_b)] {
        for n in acked {
            let subject = format!("{prefix} {n}");
            assert!(
                found.contains(&subject),
                "acknowledged {subject} is missing"
            );
        }
    }
    store.close();
    // `check` (on the PostgreSQL store of the config) exits non-zero on any problem.
    b.ok(&["check"]);
}

/// `tidings migrate` moves a stopped installation into PostgreSQL: a node
/// on the database then serves the same mailbox, UIDVALIDITY, UIDs and
/// messages to an IMAP client (imaplib), and the password still works.
#[test]
fn tidings_migrate_moves_an_installation_into_postgresql() {
    let mut old = Server::start(Setup {
        protocols: &["imap"],
        users: &["bob@localhost"],
        ..Default::default()
    });
    old.deliver("bob@localhost", &message("first"));
    old.deliver("bob@localhost", &message("second"));
    let validity = {
        let store = old.open_store();
        let bob = store.account("bob@localhost").unwrap().unwrap().id;
        let inbox = store
            .mailbox_by_role(bob, tidings_types::MailboxRole::Inbox)
            .unwrap()
            .unwrap();
        store.close();
        inbox.uid_validity.0
    };
    old.terminate();
    let cluster =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap();
    let out = old.ok(&["migrate", "--to", &url]);
    assert!(out.contains("emails: 2 rows"), "{out}");
    let node = Server::start(Setup {
        protocols: &["imap"],
        users: &[],
        extra: &format!("[store]\nurl = \"{url}\"\n"),
        ..Default::default()
    });
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("bob@localhost", "{PASSWORD}")
typ, data = m.select("INBOX")
assert data == [b"2"], data
typ, data = m.response("UIDVALIDITY")
assert data == [b"{validity}"], data
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subjects = [d[1].strip() for d in data if isinstance(d, tuple)]
assert subjects == [b"Subject: first", b"Subject: second"], data
assert b"UID 1 " in data[0][0] and b"UID 2 " in data[2][0], data
m.logout()
print("migrated ok")
"#,
        port = node.port("imap"),
    );
    let out = node.run_python(
        std::path::Path::new("python3"),
        &script,
        "IMAP after migrate",
    );
    assert!(out.contains("migrated ok"), "{out}");
}

/// POP3's one session per maildrop holds across nodes (RFC 1939 §8: the
/// maildrop is locked): poplib logged in on node A keeps node B's login
/// out until it quits.
#[test]
fn a_pop3_session_on_one_node_locks_the_maildrop_on_the_other() {
    let (_cluster, _, a, b) = two_nodes(&["pop3"], &["pop3"], "");
    a.deliver("bob@localhost", &message("kept"));
    let script = format!(
        r#"
import poplib
a = poplib.POP3("127.0.0.1", {pop_a})
a.user("bob@localhost")
a.pass_("{PASSWORD}")
assert a.stat()[0] == 1, a.stat()
b = poplib.POP3("127.0.0.1", {pop_b})
b.user("bob@localhost")
try:
    b.pass_("{PASSWORD}")
    raise SystemExit("node B let a second session in")
except poplib.error_proto as e:
    assert b"[IN-USE]" in e.args[0], e
a.quit()
b = poplib.POP3("127.0.0.1", {pop_b})
b.user("bob@localhost")
b.pass_("{PASSWORD}")
assert b.stat()[0] == 1, b.stat()
b.quit()
print("pop3 lock ok")
"#,
        pop_a = a.port("pop3"),
        pop_b = b.port("pop3"),
    );
    let out = a.run_python(std::path::Path::new("python3"), &script, "pop3 lock");
    assert!(out.contains("pop3 lock ok"), "{out}");
}

/// The outbound queue is one for all nodes: mail for a remote alias
/// member taken in on both nodes at once reaches the next hop (Postfix's
/// `smtp-sink`) once per message, whichever node delivers it.
#[test]
fn the_shared_queue_delivers_each_message_once() {
    let sink_port = free_port();
    let more = format!(
        "[smtp]\nretry_after = \"1s\"\n[smtp.mx]\n\"elsewhere.net\" = \"127.0.0.1:{sink_port}\"\n"
    );
    let (_cluster, _, a, b) = two_nodes(&["smtp"], &["smtp"], &more);
    let sink = Sink::start(a.dir.path(), sink_port, &[]);
    a.ok(&["alias", "add", "team@localhost", "far@elsewhere.net"]);
    const COUNT: usize = 30;
    let script = format!(
        r#"
import smtplib, threading
def send(port, name):
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    for i in range({half}):
        msg = ("From: ann@sender.test\r\nTo: team@localhost\r\nSubject: queued %s %d\r\n\r\nx\r\n" % (name, i)).encode()
        s.sendmail("ann@sender.test", ["team@localhost"], msg)
    s.quit()
ts = [threading.Thread(target=send, args=({smtp_a}, "a")), threading.Thread(target=send, args=({smtp_b}, "b"))]
for t in ts: t.start()
for t in ts: t.join()
print("sent")
"#,
        half = COUNT / 2,
        smtp_a = a.port("smtp"),
        smtp_b = b.port("smtp"),
    );
    let out = a.run_python(std::path::Path::new("python3"), &script, "queue load");
    assert!(out.contains("sent"), "{out}");
    // Every message out, and nothing left queued on either node: no
    // second delivery can still come.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let empty = a.ok(&["queue", "list"]).contains("the queue is empty");
        if empty && sink.messages().len() >= COUNT {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {COUNT} at the sink; queue: {}",
            sink.messages().len(),
            a.ok(&["queue", "list"])
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut subjects: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect();
    subjects.sort();
    let mut want: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|n| (0..COUNT / 2).map(move |i| format!("queued {n} {i}")))
        .collect();
    want.sort();
    assert_eq!(subjects, want, "each message once at the next hop");
}

/// `tidings backup` of a store in PostgreSQL runs `pg_dump` (the password
/// kept out of what it prints), the dump restores with the `pg_restore`
/// command it prints into an empty database that a store then opens with
/// the mail in it, and `tidings restore` of it says to use `pg_restore`.
#[test]
fn tidings_backup_of_a_postgresql_store_is_a_dump_that_restores() {
    let cluster =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap();
    let extra = format!("[store]\nurl = \"{url}\"\n");
    let server = Server::start(Setup {
        protocols: &["imap"],
        users: &["bob@localhost"],
        extra: &extra,
        ..Default::default()
    });
    let raw = message("kept");
    server.deliver("bob@localhost", &raw);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup");
    let out = server.ok(&["backup", path.to_str().unwrap()]);
    let (public, password) = tidings_store::postgres::split_password(&url).unwrap();
    let password = password.expect("the test cluster's URL has a password");
    assert!(
        !out.contains(&password),
        "the password is not printed: {out}"
    );
    assert!(out.contains("pg_restore"), "{out}");
    assert!(out.contains(&public), "{out}");
    let dump = path.join("tidings.pgdump");
    assert!(dump.is_file(), "{out}");
    // A second backup into the same directory is refused.
    let again = server
        .tidings()
        .args(["backup", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    // Restored into a new database, the store has bob's message.
    let fresh = cluster.database().unwrap();
    let restored = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error"])
        .arg(format!("--dbname={fresh}"))
        .arg(&dump)
        .output()
        .unwrap();
    assert_success(&restored, "pg_restore");
    let store = tidings_store::Store::open_with(std::path::Path::new("/nonexistent"), Some(&fresh))
        .unwrap();
    let bob = store.account("bob@localhost").unwrap().unwrap();
    let inbox = store
        .mailbox_by_role(bob.id, tidings_types::MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let entries = store.mailbox_entries(bob.id, inbox.id).unwrap();
    assert_eq!(entries.len(), 1);
    let stored = store.email_raw(bob.id, entries[0].email).unwrap();
    assert!(stored.ends_with(&raw), "the message, byte for byte");
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    store.close();
    // `tidings restore` of a dump says how, and makes no data directory.
    let target = dir.path().join("data");
    let o = server
        .tidings()
        .arg("--data-dir")
        .arg(&target)
        .args(["restore", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_restore"), "{err}");
    assert!(!target.exists());
}
