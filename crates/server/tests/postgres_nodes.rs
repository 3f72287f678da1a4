//! Two `tidings serve` nodes on one PostgreSQL database (`[store] url`),
//! with Python's imaplib and smtplib as the clients: mail delivered on one
//! node wakes an IDLE on the other, flags set on one are seen on the other,
//! and APPENDs on both at once get unique, increasing UIDs. PostgreSQL 15
//! runs in a private cluster (`tidings_store::postgres::cluster`); without
//! it the test fails and says why.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use tidings_store::postgres::cluster::TestCluster;

#[test]
fn two_nodes_share_mail_flags_uids_and_push() {
    let cluster =
        TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed for this test: {e}"));
    let url = cluster.database().unwrap();
    let extra = format!("[store]\nurl = \"{url}\"\n");
    let a = Server::start(Setup {
        protocols: &["imap", "smtp"],
        users: &["bob@localhost"],
        extra: &extra,
        ..Default::default()
    });
    let b = Server::start(Setup {
        protocols: &["imap"],
        users: &[],
        extra: &extra,
        ..Default::default()
    });
    let script = format!(
        r#"
import imaplib, smtplib, threading, time
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
t = time.monotonic()
s.quit()
line = b.readline()
took = time.monotonic() - t
assert line == b"* 1 EXISTS\r\n", line
assert took < 1.0, took
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
