//! IMAP end to end: the real `tidings serve` on free loopback ports in a
//! temporary directory, driven by Python's imaplib (the conversations in
//! `tests/imap-clients/*.py`, which assert on every tagged and untagged
//! response) and by byte-level sessions for what imaplib cannot produce:
//! missing tags, over-long lines, literals over the limit, a client that
//! drops mid-APPEND, repeated failed logins, shutdown during a session.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, Setup, assert_success};
use tidings_store::Store;
use tidings_types::MailboxRole;

/// A running `tidings serve` with its IMAP ports open (the shared harness,
/// `tests/common`, with the ports at hand).
struct Tidings {
    server: Server,
    imap: u16,
    imaps: u16,
    /// SMTP (MX) and POP3 ports, open only with [`Tidings::start_all`].
    smtp: u16,
    pop3: u16,
}

impl std::ops::Deref for Tidings {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Tidings {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

impl Tidings {
    /// Starts a server whose store has `users` (all with [`PASSWORD`]),
    /// IMAP and IMAPS listening on `host`.
    fn start_on(host: &str, users: &[&str]) -> Tidings {
        Tidings::start_with(host, users, &["imap", "imaps"])
    }

    /// Also opens SMTP (MX) and POP3, for cross-protocol push.
    fn start_all(users: &[&str]) -> Tidings {
        Tidings::start_with("127.0.0.1", users, &["imap", "imaps", "smtp", "pop3"])
    }

    fn start_with(host: &str, users: &[&str], protocols: &[&str]) -> Tidings {
        let server = Server::start(Setup {
            protocols,
            users,
            host,
            ..Setup::default()
        });
        let port = |p: &str| {
            if protocols.contains(&p) {
                server.port(p)
            } else {
                0
            }
        };
        let (imap, imaps, smtp, pop3) = (port("imap"), port("imaps"), port("smtp"), port("pop3"));
        Tidings {
            server,
            imap,
            imaps,
            smtp,
            pop3,
        }
    }

    fn start(users: &[&str]) -> Tidings {
        Tidings::start_on("127.0.0.1", users)
    }

    fn store(&self) -> Store {
        self.open_store()
    }

    /// Runs one imaplib conversation from `tests/imap-clients`.
    fn python(&self, script: &str, host: &str, port: u16, user: &str) {
        self.python_with(script, host, port, user, &[]);
    }

    /// [`Tidings::python`] with more arguments after the password.
    fn python_with(&self, script: &str, host: &str, port: u16, user: &str, extra: &[&str]) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/imap-clients")
            .join(script);
        let o = Command::new("python3")
            .arg(&path)
            .args([host, &port.to_string(), user, PASSWORD])
            .args(extra)
            .output()
            .unwrap();
        assert_success(&o, script);
    }
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\nHello\r\n"
    )
    .into_bytes()
}

fn inbox_len(store: &Store, user: &str) -> usize {
    let account = store.account(user).unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(account, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    store.mailbox_entries(account, inbox.id).unwrap().len()
}

/// A byte-level IMAP client.
struct Raw {
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(host: &str, port: u16) -> (Raw, String) {
        let tcp = TcpStream::connect((host, port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Raw {
            r: BufReader::new(tcp),
        };
        let greeting = c.line();
        assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
        (c, greeting)
    }

    fn login(port: u16, user: &str) -> Raw {
        let (mut c, _) = Raw::connect("127.0.0.1", port);
        let r = c.cmd(&format!("l1 LOGIN {user} \"{PASSWORD}\""));
        assert!(r.last().unwrap().starts_with("l1 OK"), "{r:?}");
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    /// One line without CRLF; empty at end of input.
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.r.read_line(&mut s).unwrap();
        s.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Sends a command line; returns every line up to the tagged reply.
    fn cmd(&mut self, line: &str) -> Vec<String> {
        let tag = line.split(' ').next().unwrap().to_string();
        self.send(format!("{line}\r\n").as_bytes());
        self.until(&tag)
    }

    fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "connection closed; got {out:?}");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Whether the server closed the connection (after reading what is left).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).is_ok()
    }
}

#[test]
fn imaplib_mailbox_commands_and_authentication() {
    let t = Tidings::start(&["bob@localhost"]);
    t.ok(&["user", "quota", "bob@localhost", "10M"]);
    t.python("basics.py", "127.0.0.1", t.imap, "bob@localhost");
}

#[test]
fn imaplib_append_select_fetch_store_copy_move_expunge_search() {
    let t = Tidings::start(&["bob@localhost"]);
    t.python("messages.py", "127.0.0.1", t.imap, "bob@localhost");
}

/// RFC 8508 REPLACE: see `tests/imap-clients/replace.py`.
#[test]
fn imaplib_replace_swaps_a_draft_and_keeps_it_when_the_append_fails() {
    let t = Tidings::start(&["bob@localhost"]);
    t.ok(&["user", "quota", "bob@localhost", "3M"]);
    t.python("replace.py", "127.0.0.1", t.imap, "bob@localhost");
}

/// RFC 8508 §3.3 on the wire: the untagged OK [APPENDUID] comes before
/// the old message's EXPUNGE; literal8 (RFC 3516) is accepted; with
/// UIDONLY (RFC 9586) plain REPLACE is BAD [UIDREQUIRED].
#[test]
fn replace_announces_the_new_uid_before_the_expunge() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    let r = c.cmd("a1 APPEND Drafts {10+}\r\nSubject: 1");
    assert!(r.last().unwrap().starts_with("a1 OK [APPENDUID "), "{r:?}");
    let r = c.cmd("a2 SELECT Drafts");
    assert!(r.contains(&"* 1 EXISTS".to_string()), "{r:?}");
    let mut r = c.cmd("a3 REPLACE 1 Drafts (\\Draft) ~{10+}\r\nSubject: 2");
    // IMAP4rev1 `* n RECENT` updates aside
    r.retain(|l| !l.ends_with(" RECENT"));
    assert_eq!(r.len(), 4, "{r:?}");
    assert!(r[0].starts_with("* OK [APPENDUID "), "{r:?}");
    let new_uid: u32 = r[0]
        .split(' ')
        .nth(4)
        .unwrap()
        .trim_end_matches(']')
        .parse()
        .unwrap();
    assert_eq!(new_uid, 2, "{r:?}");
    assert_eq!(r[1], "* 1 EXPUNGE", "{r:?}");
    assert_eq!(r[2], "* 1 EXISTS", "{r:?}");
    assert!(r[3].starts_with("a3 OK"), "{r:?}");
    let r = c.cmd("a4 UID FETCH 1:* (FLAGS)");
    assert_eq!(r[0], "* 1 FETCH (UID 2 FLAGS (\\Draft \\Recent))", "{r:?}");
    let r = c.cmd("a5 UNSELECT");
    assert!(r[0].starts_with("a5 OK"), "{r:?}");
    let r = c.cmd("a6 ENABLE UIDONLY");
    assert!(r.last().unwrap().starts_with("a6 OK"), "{r:?}");
    let r = c.cmd("a7 SELECT Drafts");
    assert!(r.last().unwrap().starts_with("a7 OK"), "{r:?}");
    let r = c.cmd("a8 REPLACE 1 Drafts {10+}\r\nSubject: 3");
    assert!(r[0].starts_with("a8 BAD [UIDREQUIRED]"), "{r:?}");
    let r = c.cmd("a9 UID REPLACE 2 Drafts {10+}\r\nSubject: 3");
    assert!(r[0].starts_with("* OK [APPENDUID "), "{r:?}");
    assert_eq!(r[1], "* VANISHED 2", "{r:?}");
    assert!(r.last().unwrap().starts_with("a9 OK"), "{r:?}");
}

/// RFC 4469 CATENATE: see `tests/imap-clients/catenate.py`.
#[test]
fn imaplib_catenate_composes_a_forward_and_refuses_bad_urls() {
    let t = Tidings::start(&["bob@localhost", "ann@localhost"]);
    t.python_with(
        "catenate.py",
        "127.0.0.1",
        t.imap,
        "bob@localhost",
        &["ann@localhost"],
    );
}

/// RFC 4467 URLAUTH: see `tests/imap-clients/urlauth.py`.
#[test]
fn imaplib_urlauth_hands_a_part_to_another_user_until_the_key_is_reset() {
    let t = Tidings::start(&["bob@localhost", "ann@localhost"]);
    t.python_with(
        "urlauth.py",
        "127.0.0.1",
        t.imap,
        "bob@localhost",
        &["ann@localhost"],
    );
}

/// RFC 4467 URLFETCH of big parts: the data of one command is held to
/// APPENDLIMIT (50 MiB): a 26 MiB message comes once, its second URL in
/// the same command gets NIL; the bytes are the message's.
#[test]
fn urlfetch_of_big_parts_is_held_to_appendlimit() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() < 26 * 1024 * 1024 {
        big.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n",
        );
    }
    c.send(format!("a1 APPEND INBOX {{{}+}}\r\n", big.len()).as_bytes());
    c.send(&big);
    c.send(b"\r\n");
    let r = c.until("a1");
    assert!(r.last().unwrap().starts_with("a1 OK"), "{r:?}");
    let r = c.cmd(
        "a2 GENURLAUTH \"imap://bob%40localhost@localhost/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL",
    );
    assert!(r.last().unwrap().starts_with("a2 OK"), "{r:?}");
    let url = r[0]
        .strip_prefix("* GENURLAUTH \"")
        .and_then(|u| u.strip_suffix('"'))
        .unwrap()
        .to_string();
    c.send(format!("a3 URLFETCH \"{url}\" \"{url}\"\r\n").as_bytes());
    let first = c.line();
    assert_eq!(first, format!("* URLFETCH \"{url}\" {{{}}}", big.len()));
    let mut data = vec![0u8; big.len()];
    c.r.read_exact(&mut data).unwrap();
    assert!(data == big, "URLFETCH gave other bytes");
    assert_eq!(c.line(), "");
    assert_eq!(c.line(), format!("* URLFETCH \"{url}\" NIL"));
    assert!(c.line().starts_with("a3 OK"));
}

/// RFC 4469 CATENATE with big parts: a 2 MiB TEXT literal (spooled by the
/// framer) and a 26 MiB message by URL make one stored message, exactly;
/// a result over APPENDLIMIT (50 MiB) is `NO [TOOBIG]` and stores
/// nothing; no spool file is left behind either way.
#[test]
fn catenate_of_big_parts_is_exact_and_held_to_appendlimit() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    let line: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n";
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() < 26 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    c.send(format!("a1 APPEND INBOX {{{}+}}\r\n", big.len()).as_bytes());
    c.send(&big);
    c.send(b"\r\n");
    let r = c.until("a1");
    assert!(r.last().unwrap().starts_with("a1 OK [APPENDUID "), "{r:?}");
    let mut text = b"X-Forwarded: yes\r\n".to_vec();
    while text.len() < 2 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    c.send(format!("a2 APPEND Drafts CATENATE (TEXT {{{}+}}\r\n", text.len()).as_bytes());
    c.send(&text);
    c.send(b" URL \"/INBOX/;UID=1/;SECTION=TEXT\" TEXT {1+}\r\n.)\r\n");
    let r = c.until("a2");
    assert!(r.last().unwrap().starts_with("a2 OK [APPENDUID "), "{r:?}");
    let store = t.store();
    let account = store.account("bob@localhost").unwrap().unwrap().id;
    let drafts = store
        .mailbox_by_role(account, MailboxRole::Drafts)
        .unwrap()
        .unwrap();
    let entries = store.mailbox_entries(account, drafts.id).unwrap();
    assert_eq!(entries.len(), 1);
    let raw = store.email_raw(account, entries[0].email).unwrap();
    let header_len = b"Subject: big\r\n\r\n".len();
    assert_eq!(raw.len(), text.len() + big.len() - header_len + 1);
    assert!(raw.starts_with(&text));
    assert!(raw[text.len()..].starts_with(&big[header_len..header_len + 100]));
    assert!(raw.ends_with(b"\r\n."));
    drop(raw);
    // 26 MiB twice is over the 50 MiB APPENDLIMIT.
    let r = c.cmd("a3 APPEND Drafts CATENATE (URL \"/INBOX/;UID=1\" URL \"/INBOX/;UID=1\")");
    assert!(r.last().unwrap().starts_with("a3 NO [TOOBIG]"), "{r:?}");
    assert_eq!(store.mailbox_entries(account, drafts.id).unwrap().len(), 1);
    // An empty TEXT literal beside a spooled one cannot be told from it.
    c.send(b"a4 APPEND Drafts CATENATE (TEXT {0+}\r\n TEXT {1048576+}\r\n");
    c.send(&vec![b'x'; 1024 * 1024]);
    c.send(b")\r\n");
    let r = c.until("a4");
    assert!(r.last().unwrap().starts_with("a4 NO [CANNOT]"), "{r:?}");
    // Alone it is just nothing.
    let r = c.cmd("a5 APPEND Drafts CATENATE (TEXT {0+}\r\n TEXT {8+}\r\nSubject:)");
    assert!(r.last().unwrap().starts_with("a5 OK"), "{r:?}");
    assert_eq!(store.mailbox_entries(account, drafts.id).unwrap().len(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = match std::fs::read_dir(t.path("data/blobs/tmp")) {
            Ok(d) => d.map(|e| e.unwrap().file_name()).collect(),
            Err(_) => Vec::new(),
        };
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "spool files left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_devices_see_each_others_changes_after_noop_and_during_idle() {
    let t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("before"));
    t.python("multidevice.py", "127.0.0.1", t.imap, "bob@localhost");
}

/// RFC 3501 §2.3.2 `\Recent`: only one of two sessions sees new mail as
/// recent; EXAMINE does not take it; none in an IMAP4rev2 session.
#[test]
fn new_mail_is_recent_in_exactly_one_session() {
    let t = Tidings::start(&["bob@localhost"]);
    t.python("recent.py", "127.0.0.1", t.imap, "bob@localhost");
}

#[test]
fn imaps_and_starttls_carry_the_same_session() {
    let t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("over-tls"));
    let script = format!(
        r#"
import imaplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", {imaps}, ssl_context=ctx)
assert b"AUTH=PLAIN" in m.welcome and b"STARTTLS" not in m.welcome, m.welcome
m.login("bob@localhost", "{PASSWORD}")
typ, data = m.select("INBOX"); assert data == [b"1"], data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert data[0][1] == b"Subject: over-tls\r\n\r\n", data
m.logout()
m = imaplib.IMAP4("127.0.0.1", {imap})
assert b"STARTTLS" in m.welcome, m.welcome
m.starttls(ssl_context=ctx)
caps = m.capability()[1][0]
assert b"STARTTLS" not in caps and b"AUTH=PLAIN" in caps, caps
m.login("bob@localhost", "{PASSWORD}")
m.logout()
print("tls ok")
"#,
        imaps = t.imaps,
        imap = t.imap
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&o, "imaplib over TLS");
}

#[test]
fn bad_input_gets_bad_and_the_session_goes_on() {
    let t = Tidings::start(&["bob@localhost"]);
    let (mut c, _) = Raw::connect("127.0.0.1", t.imap);
    // No tag at all: untagged BAD.
    c.send(b"\r\n");
    let l = c.line();
    assert!(l.starts_with("* BAD"), "{l}");
    // Unknown command, malformed arguments: tagged BAD.
    assert!(c.cmd("a1 FROB").last().unwrap().starts_with("a1 BAD"));
    assert!(
        c.cmd("a2 LOGIN onlyone")
            .last()
            .unwrap()
            .starts_with("a2 BAD")
    );
    // A line over the 64 KiB limit: BAD, the rest of the line is skipped.
    let long = format!("a3 NOOP {}\r\n", "x".repeat(70_000));
    c.send(long.as_bytes());
    let l = c.line();
    assert!(l.starts_with("a3 BAD") || l.starts_with("* BAD"), "{l}");
    assert!(c.cmd("a4 NOOP").last().unwrap().starts_with("a4 OK"));
    // Wrong state.
    assert!(
        c.cmd("a5 FETCH 1 FLAGS")
            .last()
            .unwrap()
            .starts_with("a5 BAD")
    );
    let r = c.cmd(&format!("a6 LOGIN bob@localhost \"{PASSWORD}\""));
    assert!(r.last().unwrap().starts_with("a6 OK"), "{r:?}");
    // A synchronizing literal over the limit is refused before its bytes
    // are sent: no continuation request, NO [TOOBIG], session goes on.
    c.send(b"a7 APPEND INBOX {999999999}\r\n");
    let l = c.line();
    assert!(l.starts_with("a7 NO [TOOBIG]"), "{l}");
    assert!(c.cmd("a8 NOOP").last().unwrap().starts_with("a8 OK"));
    // Within the limit: a continuation, then the command completes.
    c.send(b"a9 APPEND INBOX {14}\r\n");
    assert!(c.line().starts_with("+ "));
    c.send(b"Subject: x\r\n\r\n\r\n");
    let r = c.until("a9");
    assert!(r.last().unwrap().starts_with("a9 OK [APPENDUID"), "{r:?}");
    // A non-synchronizing literal over the limit poisons the stream: BYE.
    c.send(b"b1 LOGIN {999999999+}\r\n");
    let l = c.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(c.closed());
}

#[test]
fn a_client_that_drops_mid_append_stores_nothing() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    c.send(b"a1 APPEND INBOX {100}\r\n");
    assert!(c.line().starts_with("+ "));
    c.send(b"Subject: half\r\n\r\nonly part of it");
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = Raw::login(t.imap, "bob@localhost");
    let r = c.cmd("s1 STATUS INBOX (MESSAGES)");
    assert!(r[0].contains("MESSAGES 0"), "{r:?}");
    let store = t.store();
    assert_eq!(inbox_len(&store, "bob@localhost"), 0);
    store.close();
}

/// A zero-byte APPEND is refused (NO, as Dovecot does), alone or as part
/// of a MULTIAPPEND (RFC 3502 §6.3.11: then nothing is stored).
#[test]
fn a_zero_byte_append_is_refused_and_nothing_is_stored() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    let r = c.cmd("a1 APPEND INBOX () {0+}\r\n");
    assert!(r.last().unwrap().starts_with("a1 NO"), "{r:?}");
    c.send(b"a2 APPEND INBOX {14+}\r\nSubject: x\r\n\r\n {0+}\r\n\r\n");
    let r = c.until("a2");
    assert!(r.last().unwrap().starts_with("a2 NO"), "{r:?}");
    assert!(c.cmd("a3 NOOP").last().unwrap().starts_with("a3 OK"));
    let r = c.cmd("s1 STATUS INBOX (MESSAGES)");
    assert!(r[0].contains("MESSAGES 0"), "{r:?}");
    let store = t.store();
    assert_eq!(inbox_len(&store, "bob@localhost"), 0);
    store.close();
}

/// RFC 7162: once CONDSTORE is on, a .SILENT STORE still reports UID and
/// MODSEQ (§3.1); with QRESYNC the tagged OK of EXPUNGE carries
/// HIGHESTMODSEQ (§3.2.10.1), and that value never runs ahead of what the
/// client was told: another session's change is reported first.
#[test]
fn condstore_silent_store_and_qresync_expunge_report_modseqs() {
    let t = Tidings::start(&["bob@localhost"]);
    for s in ["one", "two"] {
        t.deliver("bob@localhost", &message(s));
    }
    let mut a = Raw::login(t.imap, "bob@localhost");
    let mut b = Raw::login(t.imap, "bob@localhost");
    assert!(
        a.cmd("a1 ENABLE QRESYNC")
            .last()
            .unwrap()
            .starts_with("a1 OK")
    );
    assert!(
        a.cmd("a2 SELECT INBOX")
            .last()
            .unwrap()
            .starts_with("a2 OK")
    );
    assert!(
        b.cmd("b1 SELECT INBOX")
            .last()
            .unwrap()
            .starts_with("b1 OK")
    );
    let r = a.cmd("a3 STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert!(r.last().unwrap().starts_with("a3 OK"), "{r:?}");
    assert!(
        r.iter().any(|l| l.starts_with("* 2 FETCH (")
            && l.contains("UID 2")
            && l.contains("MODSEQ (")
            && !l.contains("FLAGS")),
        "{r:?}"
    );
    assert!(
        b.cmd("b2 STORE 1 +FLAGS.SILENT (\\Flagged)")
            .last()
            .unwrap()
            .starts_with("b2 OK")
    );
    let r = a.cmd("a4 EXPUNGE");
    let last = r.last().unwrap();
    assert!(last.starts_with("a4 OK [HIGHESTMODSEQ "), "{r:?}");
    let highest: u64 = last["a4 OK [HIGHESTMODSEQ ".len()..]
        .split(']')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // b's \Flagged was reported before the OK, at or below HIGHESTMODSEQ.
    let flagged = r
        .iter()
        .find(|l| l.starts_with("* 1 FETCH") && l.contains("\\Flagged"))
        .unwrap_or_else(|| panic!("no FETCH for b's change: {r:?}"));
    let m: u64 = flagged
        .split("MODSEQ (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(m <= highest, "{r:?}");
    assert!(r.iter().any(|l| l == "* VANISHED 2"), "{r:?}");
    let r = b.cmd("b3 STATUS INBOX (HIGHESTMODSEQ)");
    assert!(
        r[0].contains(&format!("HIGHESTMODSEQ {highest}")),
        "{r:?} {highest}"
    );
}

/// RFC 3501 §7.2.6: FLAGS and PERMANENTFLAGS list the keywords in use, and
/// a keyword new to the mailbox (by this session's STORE or another
/// session's APPEND) is announced before the FETCH that shows it.
#[test]
fn flags_list_the_mailbox_keywords_and_new_ones_are_announced() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut a = Raw::login(t.imap, "bob@localhost");
    let mut b = Raw::login(t.imap, "bob@localhost");
    let m = message("kw");
    a.send(format!("a1 APPEND INBOX (Old $Label1) {{{}+}}\r\n", m.len()).as_bytes());
    a.send(&m);
    a.send(b"\r\n");
    assert!(a.until("a1").last().unwrap().starts_with("a1 OK"));
    let r = a.cmd("a2 SELECT INBOX");
    let flags = r.iter().find(|l| l.starts_with("* FLAGS (")).unwrap();
    let perm = r.iter().find(|l| l.contains("[PERMANENTFLAGS (")).unwrap();
    for kw in ["Old", "$Label1"] {
        assert!(flags.contains(kw) && perm.contains(kw), "{r:?}");
    }
    // A new keyword by STORE: FLAGS and PERMANENTFLAGS, then the FETCH.
    let r = a.cmd("a3 STORE 1 +FLAGS (NewKw)");
    let at = |p: &str| {
        r.iter()
            .position(|l| l.starts_with(p))
            .unwrap_or(usize::MAX)
    };
    assert!(at("* FLAGS (") < at("* 1 FETCH"), "{r:?}");
    assert!(r[at("* FLAGS (")].contains("NewKw"), "{r:?}");
    assert!(
        r.iter()
            .any(|l| l.contains("[PERMANENTFLAGS (") && l.contains("NewKw")),
        "{r:?}"
    );
    // A known keyword brings no FLAGS.
    let r = a.cmd("a4 STORE 1 -FLAGS (Old)");
    assert!(!r.iter().any(|l| l.starts_with("* FLAGS")), "{r:?}");
    // Another session appends a message with a keyword new to the mailbox.
    b.send(format!("b1 APPEND INBOX (FromB) {{{}+}}\r\n", m.len()).as_bytes());
    b.send(&m);
    b.send(b"\r\n");
    assert!(b.until("b1").last().unwrap().starts_with("b1 OK"));
    let r = a.cmd("a5 NOOP");
    let at = |p: &str| {
        r.iter()
            .position(|l| l.starts_with(p))
            .unwrap_or(usize::MAX)
    };
    assert!(at("* FLAGS (") < at("* 2 EXISTS"), "{r:?}");
    assert!(r[at("* FLAGS (")].contains("FromB"), "{r:?}");
}

/// RFC 3501 §6.3.9: `LSUB "" %` with "foo/bar" subscribed and "foo" not
/// returns foo, flagged \Noselect, not foo/bar.
#[test]
fn lsub_percent_shows_an_unsubscribed_parent_as_noselect() {
    let t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    for (i, cmd) in [
        "CREATE foo",
        "CREATE foo/bar",
        "SUBSCRIBE foo/bar",
        "UNSUBSCRIBE foo",
    ]
    .iter()
    .enumerate()
    {
        let r = c.cmd(&format!("c{i} {cmd}"));
        assert!(r.last().unwrap().starts_with(&format!("c{i} OK")), "{r:?}");
    }
    let r = c.cmd("l1 LSUB \"\" f%");
    assert_eq!(r[..r.len() - 1], ["* LSUB (\\Noselect) \"/\" foo"], "{r:?}");
    let r = c.cmd("l2 LSUB \"\" foo*");
    assert_eq!(r[..r.len() - 1], ["* LSUB () \"/\" foo/bar"], "{r:?}");
    let r = c.cmd("l3 LSUB \"\" foo/%");
    assert_eq!(r[..r.len() - 1], ["* LSUB () \"/\" foo/bar"], "{r:?}");
}

#[test]
fn a_subscription_outlives_delete_and_follows_rename() {
    let t = Tidings::start(&["bob@localhost"]);
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("127.0.0.1", {imap})
m.login("bob@localhost", "{PASSWORD}")
def ok(r):
    assert r[0] == "OK", r
    return r[1]
ok(m.create("Projects/Old"))
ok(m.create("Gone"))
ok(m.subscribe("Gone"))
# DELETE keeps the subscription (RFC 3501 6.3.9): LSUB still shows it, and
# LIST (SUBSCRIBED) marks it \NonExistent.
ok(m.delete("Gone"))
assert ok(m.lsub('""', "Gone")) == [b'() "/" Gone'], m.lsub('""', "Gone")
data = ok(m.list('(SUBSCRIBED) ""', "Gone"))
assert data == [b'(\\NonExistent \\Subscribed) "/" Gone'], data
assert ok(m.list('""', "Gone")) == [None], "a plain LIST shows no deleted mailbox"
# RENAME moves it with the mailbox and its children.
ok(m.rename("Projects", "Archive2020"))
names = ok(m.lsub('""', "*"))
assert b'() "/" Archive2020/Old' in names and b'() "/" Projects/Old' not in names, names
# UNSUBSCRIBE works without the mailbox, and again is no error (as Dovecot).
ok(m.unsubscribe("Gone"))
ok(m.unsubscribe("Gone"))
assert ok(m.lsub('""', "Gone")) == [None]
# A pattern that is not modified UTF-7 matches nothing; the session goes on.
typ, data = m._simple_command("LIST", '""', '"bad&name%*"')
assert typ == "OK", (typ, data)
assert ok(m.noop()) is not None
m.logout()
print("subscriptions ok")
"#,
        imap = t.imap
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&o, "imaplib subscriptions");
}

#[test]
fn metadata_entries_are_kept_per_mailbox_and_account_within_limits() {
    let t = Tidings::start(&["bob@localhost", "ann@localhost"]);
    let script = format!(
        r#"
import imaplib
# imaplib knows no METADATA commands (RFC 5464) by name; teach it.
imaplib.Commands["GETMETADATA"] = ("AUTH", "SELECTED")
imaplib.Commands["SETMETADATA"] = ("AUTH", "SELECTED")
def login(user):
    m = imaplib.IMAP4("127.0.0.1", {imap})
    m.login(user, "{PASSWORD}")
    return m
def cmd(m, name, *args):
    typ, data = m._simple_command(name, *args)
    return typ, m.untagged_responses.pop("METADATA", []), data
bob = login("bob@localhost")
assert b"METADATA" in bob.capability()[1][0]
bob.create("Notes")
typ, _, _ = cmd(bob, "SETMETADATA", "Notes", '(/private/vendor/app/a "1" /private/vendor/app/a/b "2" /shared/comment "c")')
assert typ == "OK", typ
typ, meta, _ = cmd(bob, "GETMETADATA", "(DEPTH infinity)", "Notes", "/private/vendor")
assert typ == "OK" and meta == [b'Notes (/private/vendor/app/a "1" /private/vendor/app/a/b "2")'], meta
# A value over the limit is refused; so are more entries than allowed.
typ, _, data = cmd(bob, "SETMETADATA", "Notes", "(/private/big {{16385+}}\r\n" + "x" * 16385 + ")")
assert typ == "NO" and b"METADATA MAXSIZE 16384" in data[0], (typ, data)
many = " ".join(f'/private/k{{i}} "v"' for i in range(130))
typ, _, data = cmd(bob, "SETMETADATA", "Notes", f"({{many}})")
assert typ == "NO" and b"METADATA TOOMANY" in data[0], (typ, data)
typ, meta, _ = cmd(bob, "GETMETADATA", "Notes", "/private/k1")
assert meta == [b"Notes (/private/k1 NIL)"], "nothing of a refused SETMETADATA is kept"
# Another account sees none of it, in its own mailbox of the same name.
ann = login("ann@localhost")
ann.create("Notes")
typ, meta, _ = cmd(ann, "GETMETADATA", "Notes", "/shared/comment")
assert meta == [b"Notes (/shared/comment NIL)"], meta
# DELETE takes the mailbox's entries with it.
bob.delete("Notes"); bob.create("Notes")
typ, meta, _ = cmd(bob, "GETMETADATA", "Notes", "/shared/comment")
assert meta == [b"Notes (/shared/comment NIL)"], meta
bob.logout(); ann.logout()
print("metadata ok")
"#,
        imap = t.imap
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&o, "imaplib metadata");
}

/// The imaplib preamble of the search-extension tests: `m`, logged in as
/// bob, with INBOX selected holding messages with subjects `subjects` (in
/// that order), and `cmd(name, *args)` returning (status, untagged
/// ESEARCH/SEARCH/SORT data, tagged text).
fn search_ext_script(imap: u16, subjects: &[&str], body: &str) -> String {
    let subjects: Vec<String> = subjects.iter().map(|s| format!("{s:?}")).collect();
    format!(
        r#"
import imaplib, time
m = imaplib.IMAP4("127.0.0.1", {imap})
m.login("bob@localhost", "{PASSWORD}")
for s in [{subjects}]:
    msg = f"From: a@example.org\r\nSubject: {{s}}\r\n\r\nHi\r\n".encode()
    typ, _ = m.append("INBOX", None, None, msg)
    assert typ == "OK", typ
m.select("INBOX")
def cmd(name, *args):
    # imaplib raises on BAD.
    for k in ("ESEARCH", "SEARCH", "SORT"):
        m.untagged_responses.pop(k, None)
    typ, data = m._simple_command(name, *args)
    out = []
    for k in ("ESEARCH", "SEARCH", "SORT"):
        out += m.untagged_responses.pop(k, [])
    return typ, out, data
{body}
m.logout()
print("ok")
"#,
        subjects = subjects.join(", "),
    )
}

fn run_python(script: &str, what: &str) {
    let o = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert_success(&o, what);
}

#[test]
fn esort_answers_sort_return_in_sort_order_and_saves_what_it_names() {
    let t = Tidings::start(&["bob@localhost"]);
    // Subjects c, a, b: SORT (SUBJECT) is 2 3 1.
    let body = r#"
assert b"ESORT" in m.capability()[1][0].split()
# RFC 5267 §3.1: MIN and MAX are the first and last in sort order.
typ, out, _ = cmd("SORT", "RETURN (MIN MAX COUNT)", "(SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and len(out) == 1 and out[0].endswith(b") MIN 2 MAX 1 COUNT 3"), out
# ALL keeps the sort order; RETURN () means ALL.
typ, out, _ = cmd("SORT", "RETURN (ALL)", "(SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and out[0].endswith(b" ALL 2:3,1"), out
typ, out, _ = cmd("UID", "SORT", "RETURN ()", "(REVERSE SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and out[0].endswith(b" UID ALL 1,3,2"), out
# Without RETURN: the classic SORT response.
typ, out, _ = cmd("SORT", "(SUBJECT)", "UTF-8", "ALL")
assert out == [b"2 3 1"], out
# RFC 5182 §2.1 with RFC 5267: SAVE with MIN keeps the first in sort order.
typ, out, _ = cmd("SORT", "RETURN (SAVE MIN)", "(SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and out[0].endswith(b"MIN 2"), out
typ, out, _ = cmd("SEARCH", "$")
assert out == [b"2"], out
# SAVE alone: no ESEARCH, and $ holds every match.
typ, out, _ = cmd("SORT", "RETURN (SAVE)", "(SUBJECT)", "UTF-8", "NOT 3")
assert typ == "OK" and out == [], out
typ, out, _ = cmd("SEARCH", "$")
assert out == [b"1 2"], out
try:
    cmd("SORT", "RETURN (BOGUS)", "(SUBJECT)", "UTF-8", "ALL")
    raise AssertionError("RETURN (BOGUS) accepted")
except imaplib.IMAP4.error as e:
    assert "BAD" in str(e), e
"#;
    run_python(
        &search_ext_script(t.imap, &["c", "a", "b"], body),
        "imaplib ESORT",
    );
}

#[test]
fn partial_pages_search_and_sort_results_from_either_end() {
    let t = Tidings::start(&["bob@localhost"]);
    // Subjects c, a, b, e, d: SORT (REVERSE SUBJECT) is 4 5 1 3 2.
    let body = r#"
assert b"PARTIAL" in m.capability()[1][0].split()
# RFC 9394 §3.1: positions among the results, from the start...
typ, out, _ = cmd("UID", "SEARCH", "RETURN (PARTIAL 1:2)", "ALL")
assert typ == "OK" and out[0].endswith(b" UID PARTIAL (1:2 1:2)"), out
# ... or from the end (-1 is the last); either order of the two ends.
typ, out, _ = cmd("SEARCH", "RETURN (PARTIAL -1:-2)", "ALL")
assert out[0].endswith(b" PARTIAL (-1:-2 4:5)"), out
typ, out, _ = cmd("SEARCH", "RETURN (PARTIAL -100:-4)", "ALL")
assert out[0].endswith(b" PARTIAL (-4:-100 1:2)"), out
# Nothing there: NIL; COUNT counts every result.
typ, out, _ = cmd("SEARCH", "RETURN (COUNT PARTIAL -6:-10)", "ALL")
assert out[0].endswith(b" PARTIAL (-6:-10 NIL) COUNT 5"), out
# SORT pages in sort order.
typ, out, _ = cmd("SORT", "RETURN (PARTIAL -1:-2)", "(REVERSE SUBJECT)", "UTF-8", "ALL")
assert out[0].endswith(b" PARTIAL (-1:-2 3,2)"), out
typ, out, _ = cmd("SORT", "RETURN (MIN PARTIAL 2:3)", "(REVERSE SUBJECT)", "UTF-8", "ALL")
assert out[0].endswith(b" MIN 4 PARTIAL (2:3 5,1)"), out
# SAVE with PARTIAL (and no COUNT/ALL) keeps that page.
typ, out, _ = cmd("SEARCH", "RETURN (SAVE PARTIAL -1:-1)", "ALL")
typ, out, _ = cmd("SEARCH", "$")
assert out == [b"5"], out
# RFC 9394 §3.2: UID FETCH pages too; plain FETCH may not.
typ, data = m.uid("FETCH", "1:*", "(FLAGS)", "(PARTIAL -1:-2)")
assert typ == "OK" and [d.split(b" (")[0] for d in data] == [b"4", b"5"], data
typ, data = m.uid("FETCH", "2:*", "(FLAGS)", "(PARTIAL 1:1)")
assert typ == "OK" and [d.split(b" (")[0] for d in data] == [b"2"], data
try:
    m._simple_command("FETCH", "1:*", "(FLAGS)", "(PARTIAL 1:2)")
    raise AssertionError("FETCH PARTIAL accepted")
except imaplib.IMAP4.error as e:
    assert "BAD" in str(e), e
for bad in ["RETURN (PARTIAL 1:2 ALL)", "RETURN (PARTIAL -1:2)", "RETURN (PARTIAL 0:3)"]:
    try:
        cmd("SEARCH", bad, "ALL")
        raise AssertionError(bad + " accepted")
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e), e
"#;
    run_python(
        &search_ext_script(t.imap, &["c", "a", "b", "e", "d"], body),
        "imaplib PARTIAL",
    );
}

#[test]
fn uidonly_refuses_message_numbers_and_answers_with_uids() {
    let t = Tidings::start(&["bob@localhost"]);
    for s in ["one", "two", "three"] {
        t.deliver("bob@localhost", &message(s));
    }
    let mut c = Raw::login(t.imap, "bob@localhost");
    let r = c.cmd("e1 CAPABILITY");
    assert!(r[0].split(' ').any(|w| w == "UIDONLY"), "{r:?}");
    let r = c.cmd("e2 ENABLE UIDONLY");
    assert_eq!(r[0], "* ENABLED UIDONLY", "{r:?}");
    // RFC 9586 §3: no message number in SELECT's reply (no UNSEEN).
    let r = c.cmd("s1 SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s1 OK"), "{r:?}");
    assert!(!r.iter().any(|l| l.contains("[UNSEEN")), "{r:?}");
    // Message numbers are refused, as commands and as search keys.
    for cmd in [
        "b1 FETCH 1 FLAGS",
        "b2 STORE 1 +FLAGS (\\Seen)",
        "b3 SEARCH ALL",
        "b4 UID SEARCH 1:2",
        "b5 COPY 1 INBOX",
        "b6 MOVE 1 INBOX",
        "b7 SORT (DATE) UTF-8 ALL",
        "b8 UID SEARCH OR UID 1 NOT 2",
    ] {
        let r = c.cmd(cmd);
        let tag = cmd.split(' ').next().unwrap();
        assert!(
            r.last()
                .unwrap()
                .starts_with(&format!("{tag} BAD [UIDREQUIRED]")),
            "{cmd}: {r:?}"
        );
        assert_eq!(r.len(), 1, "{cmd}: {r:?}");
    }
    // FETCH data is UIDFETCH, named by UID.
    let r = c.cmd("f1 UID FETCH 2:* (FLAGS)");
    assert_eq!(
        r[..2],
        [
            "* 2 UIDFETCH (FLAGS (\\Recent))",
            "* 3 UIDFETCH (FLAGS (\\Recent))"
        ],
        "{r:?}"
    );
    let r = c.cmd("f2 UID SEARCH RETURN (SAVE) UID 1:2");
    assert!(r[0].starts_with("f2 OK"), "{r:?}");
    // `$` names the saved messages, not numbers: allowed.
    let r = c.cmd("f4 UID SEARCH $");
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");
    let r = c.cmd("f3 UID STORE 2 +FLAGS (\\Deleted)");
    assert_eq!(r[0], "* 2 UIDFETCH (FLAGS (\\Deleted \\Recent))", "{r:?}");
    // Expunges are VANISHED, never EXPUNGE.
    let r = c.cmd("x1 EXPUNGE");
    assert_eq!(r[0], "* VANISHED 2", "{r:?}");
    assert!(r.last().unwrap().starts_with("x1 OK"), "{r:?}");
    // Another session's changes arrive the same way.
    let mut other = Raw::login(t.imap, "bob@localhost");
    other.cmd("o1 SELECT INBOX");
    other.cmd("o2 STORE 2 +FLAGS (\\Flagged)");
    other.cmd("o3 STORE 1 +FLAGS (\\Deleted)");
    other.cmd("o4 EXPUNGE");
    let r = c.cmd("n1 NOOP");
    assert!(r.contains(&"* VANISHED 1".to_string()), "{r:?}");
    assert!(
        r.contains(&"* 3 UIDFETCH (FLAGS (\\Flagged \\Recent))".to_string()),
        "{r:?}"
    );
    assert!(
        !r.iter()
            .any(|l| l.contains(" FETCH ") || l.contains("EXPUNGE")),
        "{r:?}"
    );
}

#[test]
fn failed_logins_are_delayed_then_the_session_ends() {
    let t = Tidings::start(&["bob@localhost"]);
    let (mut c, _) = Raw::connect("127.0.0.1", t.imap);
    let start = Instant::now();
    for i in 1..=3 {
        let r = c.cmd(&format!("f{i} LOGIN bob@localhost wrong"));
        assert!(
            r.last()
                .unwrap()
                .starts_with(&format!("f{i} NO [AUTHENTICATIONFAILED]")),
            "{r:?}"
        );
    }
    // Each failure waits (1 s per failure counted for the address).
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let l = c.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(c.closed());
}

#[test]
fn login_before_tls_off_loopback_is_refused() {
    // Needs an address of this host that is not loopback: the test runs in
    // a network namespace of its own that has one.
    if !common::in_private_netns("login_before_tls_off_loopback_is_refused") {
        return;
    }
    let ip = common::NETNS_ADDR;
    let t = Tidings::start_on(ip, &["bob@localhost"]);
    let (mut c, greeting) = Raw::connect(ip, t.imap);
    assert!(greeting.contains("LOGINDISABLED"), "{greeting}");
    assert!(
        greeting.contains("STARTTLS") && !greeting.contains("AUTH=PLAIN"),
        "{greeting}"
    );
    let r = c.cmd(&format!("a1 LOGIN bob@localhost \"{PASSWORD}\""));
    assert!(
        r.last().unwrap().starts_with("a1 NO [PRIVACYREQUIRED]"),
        "{r:?}"
    );
    let r = c.cmd("a2 AUTHENTICATE PLAIN AGJvYkBsb2NhbGhvc3QAdGVzdCBwYXNzd29yZA==");
    assert!(
        r.last().unwrap().starts_with("a2 NO [PRIVACYREQUIRED]"),
        "{r:?}"
    );
}

#[test]
fn shutdown_says_bye_to_open_sessions() {
    let mut t = Tidings::start(&["bob@localhost"]);
    let mut c = Raw::login(t.imap, "bob@localhost");
    assert!(
        c.cmd("a1 SELECT INBOX")
            .last()
            .unwrap()
            .starts_with("a1 OK")
    );
    t.terminate();
    let l = c.line();
    assert!(l.starts_with("* BYE"), "{l}");
}

/// Files of a Maildir folder (`new` and `cur`), by name.
fn maildir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            out.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

/// The mbsync (isync) file of the message with IMAP UID `uid`.
fn by_uid(files: &[PathBuf], uid: u32) -> Option<PathBuf> {
    let tag = format!(",U={uid}:");
    files
        .iter()
        .find(|p| p.to_string_lossy().contains(&tag))
        .cloned()
}

#[test]
fn mbsync_two_devices_sync_flags_and_deletions() {
    assert!(
        Command::new("mbsync").arg("--version").output().is_ok(),
        "mbsync is not installed: run scripts/install-deps"
    );
    let t = Tidings::start(&["bob@localhost"]);
    for s in ["m1", "m2", "m3"] {
        t.deliver("bob@localhost", &message(s));
    }
    let device = |name: &str| -> (PathBuf, PathBuf) {
        let root = t.path(name);
        std::fs::create_dir_all(&root).unwrap();
        let rc = t.path(&format!("{name}.rc"));
        std::fs::write(
            &rc,
            format!(
                "IMAPAccount tidings\nHost 127.0.0.1\nPort {port}\nUser bob@localhost\n\
                 Pass \"{PASSWORD}\"\nSSLType None\nAuthMechs PLAIN\n\n\
                 IMAPStore remote\nAccount tidings\n\n\
                 MaildirStore local\nPath {root}/\nInbox {root}/INBOX\n\n\
                 Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\n\
                 Create Both\nExpunge Both\nSyncState *\n",
                port = t.imap,
                root = root.display()
            ),
        )
        .unwrap();
        (rc, root.join("INBOX"))
    };
    let sync = |rc: &Path| {
        let o = Command::new("mbsync")
            .arg("-c")
            .arg(rc)
            .arg("-a")
            .output()
            .unwrap();
        assert_success(&o, "mbsync");
    };
    let (rc1, inbox1) = device("phone");
    let (rc2, inbox2) = device("laptop");
    sync(&rc1);
    sync(&rc2);
    assert_eq!(maildir(&inbox1).len(), 3);
    assert_eq!(maildir(&inbox2).len(), 3);

    // On the phone: read message 1, delete message 2 (Maildir flags S, T).
    let files = maildir(&inbox1);
    let m1 = by_uid(&files, 1).unwrap();
    let m2 = by_uid(&files, 2).unwrap();
    let flagged = |p: &Path, flag: &str| {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        inbox1.join("cur").join(format!("{name}{flag}"))
    };
    std::fs::rename(&m1, flagged(&m1, "S")).unwrap();
    std::fs::rename(&m2, flagged(&m2, "T")).unwrap();
    sync(&rc1);
    // The server has it.
    let store = t.store();
    let account = store.account("bob@localhost").unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(account, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let entries = store.mailbox_entries(account, inbox.id).unwrap();
    let uids: Vec<u32> = entries.iter().map(|e| e.uid.0).collect();
    assert_eq!(uids, [1, 3]);
    assert!(entries[0].keywords.iter().any(|k| k.as_str() == "\\Seen"));
    store.close();
    // The laptop sees it on its next sync.
    sync(&rc2);
    let files = maildir(&inbox2);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(by_uid(&files, 2).is_none());
    let m1 = by_uid(&files, 1).unwrap();
    assert!(m1.to_string_lossy().ends_with(":2,S"), "{m1:?}");
    // New mail reaches both.
    t.deliver("bob@localhost", &message("m4"));
    sync(&rc2);
    sync(&rc1);
    assert_eq!(maildir(&inbox1).len(), 3);
    assert_eq!(maildir(&inbox2).len(), 3);
}

#[test]
fn curl_lists_folders_searches_and_fetches() {
    let t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("curl-1"));
    let curl = |url: String| -> String {
        let o = Command::new("curl")
            .args(["-s", "--user", &format!("bob@localhost:{PASSWORD}")])
            .arg(url)
            .output()
            .unwrap();
        assert_success(&o, "curl");
        String::from_utf8(o.stdout).unwrap()
    };
    let base = format!("imap://127.0.0.1:{}", t.imap);
    let list = curl(format!("{base}/"));
    assert!(
        list.contains("* LIST (\\HasNoChildren) \"/\" INBOX"),
        "{list}"
    );
    assert!(list.contains("\\Sent) \"/\" Sent"), "{list}");
    let search = curl(format!("{base}/INBOX?SUBJECT%20curl-1"));
    assert_eq!(search.trim(), "* SEARCH 1");
    let msg = curl(format!("{base}/INBOX;UID=1"));
    assert_eq!(msg.as_bytes(), message("curl-1"));
}

#[test]
fn smtp_delivery_and_pop3_deletion_reach_an_idling_client_at_once() {
    let t = Tidings::start_all(&["bob@localhost"]);
    let script = format!(
        r#"
import imaplib, poplib, smtplib
m = imaplib.IMAP4("127.0.0.1", {imap})
m.login("bob@localhost", "{PASSWORD}")
m.select("INBOX")
m.send(b"i1 IDLE\r\n")
assert m.readline().startswith(b"+ ")
m.sock.settimeout(5)
s = smtplib.SMTP("127.0.0.1", {smtp})
s.sendmail("ann@example.org", ["bob@localhost"],
           b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: pushed\r\n\r\nhi\r\n")
s.quit()
# Within the socket's 5 s: pushed, not found by the 30 s periodic check.
line = m.readline()
assert line == b"* 1 EXISTS\r\n", line
assert m.readline() == b"* 1 RECENT\r\n"
# POP3 DELE under the default mark-read policy: \Seen, pushed as FETCH.
p = poplib.POP3("127.0.0.1", {pop3})
p.user("bob@localhost"); p.pass_("{PASSWORD}")
p.dele(1)
p.quit()
line = m.readline()
assert line == b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n", line
m.send(b"DONE\r\n")
assert m.readline().startswith(b"i1 OK")
m.logout()
print("push ok")
"#,
        imap = t.imap,
        smtp = t.smtp,
        pop3 = t.pop3,
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&o, "IDLE push from SMTP and POP3");
}

#[test]
fn offlineimap_syncs_both_ways() {
    if Command::new("offlineimap")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("offlineimap is not installed: run scripts/install-deps");
    }
    let t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("o1"));
    let mail = t.path("oi-mail");
    std::fs::create_dir_all(&mail).unwrap();
    let rc = t.path("offlineimaprc");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = t\nmetadata = {meta}\n\n[Account t]\n\
             localrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {mail}\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = bob@localhost\nremotepass = {PASSWORD}\nssl = no\nstarttls = no\n\
             folderfilter = lambda f: f in ['INBOX']\n",
            meta = t.path("oi-meta").display(),
            mail = mail.display(),
            port = t.imap
        ),
    )
    .unwrap();
    let sync = || {
        let o = Command::new("offlineimap")
            .arg("-c")
            .arg(&rc)
            .args(["-o", "-u", "basic"])
            .output()
            .unwrap();
        assert_success(&o, "offlineimap");
    };
    sync();
    let inbox = mail.join("INBOX");
    let files = maildir(&inbox);
    assert_eq!(files.len(), 1, "{files:?}");
    // Read it locally; the server learns \Seen on the next sync.
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    std::fs::rename(&files[0], inbox.join("cur").join(format!("{name}S"))).unwrap();
    // A message written locally is appended to the server.
    std::fs::write(
        inbox.join("new").join("1700000000.local.host"),
        message("from-offlineimap"),
    )
    .unwrap();
    sync();
    let store = t.store();
    let account = store.account("bob@localhost").unwrap().unwrap().id;
    let inbox_box = store
        .mailbox_by_role(account, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let entries = store.mailbox_entries(account, inbox_box.id).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].keywords.iter().any(|k| k.as_str() == "\\Seen"));
    store.close();
}
