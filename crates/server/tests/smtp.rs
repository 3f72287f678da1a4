//! SMTP end to end: the real `tidings serve` on free ports in a temporary
//! directory, driven by real clients (Python's smtplib, swaks; both
//! installed by `scripts/install-deps`) and, as a peer for outbound
//! delivery, Postfix's `smtp-sink` (`scripts/install-deps --peers`; the
//! peer tests fail, saying so, when it is missing). A few byte-level
//! sessions cover what the clients cannot produce (smuggling, pipelining
//! BDAT). Effects are checked in the store, opened beside the server.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::postfix::Postfix;
use common::sink::Sink;
use common::{PASSWORD, Server, Setup, assert_success, free_port};
use tidings_store::Store;
use tidings_types::MailboxRole;

/// `[smtp] max_message_size` of the test servers.
const MAX_SIZE: usize = 200_000;

/// A running `tidings serve` with only its SMTP ports open (the shared
/// harness, `tests/common`, which also gives it a DNS stub with an empty
/// zone: no test asks the system resolver).
struct Tidings {
    server: Server,
    smtp: u16,
    submission: u16,
    submissions: u16,
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
    /// A server for `example.org` and `other.org` with bob and ann, the
    /// alias team@ → bob, the catch-all @other.org → ann; `extra` is added
    /// to the config file.
    fn start(extra: &str) -> Tidings {
        Tidings::start_on("127.0.0.1", extra)
    }

    fn start_on(ip: &str, extra: &str) -> Tidings {
        let extra = format!("[smtp]\nmax_message_size = {MAX_SIZE}\nretry_after = \"1s\"\n{extra}");
        let server = Server::start(Setup {
            protocols: &["smtp", "submission", "submissions"],
            domains: &["example.org", "other.org"],
            users: &["bob@example.org", "ann@example.org"],
            host: ip,
            top: "hostname = \"mx.example.org\"",
            extra: &extra,
            ..Setup::default()
        });
        server.ok(&["alias", "add", "team@example.org", "bob@example.org"]);
        server.ok(&["alias", "add", "@other.org", "ann@example.org"]);
        let (smtp, submission, submissions) = (
            server.port("smtp"),
            server.port("submission"),
            server.port("submissions"),
        );
        Tidings {
            server,
            smtp,
            submission,
            submissions,
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.path("data")).unwrap()
    }
}

/// Runs a Python script (smtplib) with `args`; returns its standard output.
fn python(script: &str, args: &[&str]) -> String {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert_success(&o, "python3");
    String::from_utf8(o.stdout).unwrap()
}

/// Runs swaks; returns its transcript (it exits non-zero on a refusal).
fn swaks(args: &[&str]) -> String {
    let o = Command::new("swaks")
        .args(["--timeout", "20", "--hide-informational"])
        .args(args)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The raw messages in INBOX (or another role) of `user`, in UID order.
fn mailbox(store: &Store, user: &str, role: MailboxRole) -> Vec<Vec<u8>> {
    let account = store.account(user).unwrap().unwrap().id;
    let mailbox = store.mailbox_by_role(account, role).unwrap().unwrap();
    store
        .mailbox_entries(account, mailbox.id)
        .unwrap()
        .iter()
        .map(|e| store.email_raw(account, e.email).unwrap())
        .collect()
}

fn inbox(store: &Store, user: &str) -> Vec<String> {
    mailbox(store, user, MailboxRole::Inbox)
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .collect()
}

/// A byte-level SMTP client.
struct Smtp {
    r: BufReader<TcpStream>,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        Smtp::connect_to(&format!("127.0.0.1:{port}"))
    }

    fn connect_to(addr: &str) -> Smtp {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut s = Smtp {
            r: BufReader::new(tcp),
        };
        assert!(s.reply().starts_with("220 "));
        s
    }

    /// One complete reply (all its lines, joined by `\n`).
    fn reply(&mut self) -> String {
        let mut all = Vec::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed; got {all:?}");
            let line = line.trim_end_matches("\r\n").to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            all.push(line);
            if last {
                return all.join("\n");
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    fn cmd(&mut self, c: &str) -> String {
        self.send(format!("{c}\r\n").as_bytes());
        self.reply()
    }

    #[track_caller]
    fn expect(&mut self, c: &str, code: &str) -> String {
        let reply = self.cmd(c);
        assert!(reply.starts_with(code), "{c}: {reply}");
        reply
    }

    fn at_eof(&mut self) -> bool {
        let mut rest = Vec::new();
        let _ = self.r.read_to_end(&mut rest);
        rest.is_empty()
    }
}

const SMTPLIB_MX: &str = r#"
import smtplib, sys
port = int(sys.argv[1])
msg = b"From: x@remote.test\r\nTo: bob@example.org\r\nSubject: via smtplib\r\n\r\nHello Bob.\r\n.leading dot\r\n"
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("client.remote.test")
assert s.has_extn("pipelining") and s.has_extn("chunking") and s.has_extn("smtputf8")
assert s.has_extn("size") and int(s.esmtp_features["size"]) > 0
# one message: an account, an alias, a catch-all address; an unknown user and a relay attempt refused
refused = s.sendmail("x@remote.test", ["bob@example.org", "team@example.org", "anyone@other.org",
                                         "nobody@example.org", "victim@elsewhere.test"], msg)
print("refused", sorted((k, v[0], v[1].decode()[:5]) for k, v in refused.items()))
code, text = s.verify("bob@example.org")
print("vrfy", code)
s.quit()
"#;

#[test]
fn smtplib_delivers_to_accounts_aliases_and_catch_all_and_refuses_the_rest() {
    // remote.test routes to a port where nobody listens: a report queued
    // for it stays in the queue.
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"remote.test\" = \"127.0.0.1:{}\"\n",
        free_port()
    ));
    let out = python(SMTPLIB_MX, &[&t.smtp.to_string()]);
    assert!(
        out.contains(
            "refused [('nobody@example.org', 550, '5.1.1'), ('victim@elsewhere.test', 554, '5.7.1')]"
        ),
        "{out}"
    );
    assert!(out.contains("vrfy 252"), "{out}");
    let store = t.store();
    // bob once (account and alias are the same account), ann once (catch-all).
    let bob = inbox(&store, "bob@example.org");
    let ann = inbox(&store, "ann@example.org");
    assert_eq!((bob.len(), ann.len()), (1, 1));
    assert!(
        bob[0]
            .starts_with("Received: from client.remote.test ([127.0.0.1])\r\n\tby mx.example.org")
    );
    assert!(
        bob[0].contains("\r\n\r\nHello Bob.\r\n.leading dot\r\n"),
        "{}",
        bob[0]
    );
    assert_eq!(bob[0], ann[0]);
    store.close();

    // ann's quota fits no more: at RCPT without SIZE she is accepted, the
    // store refuses her copy, bob still gets his (250), and the remote
    // sender is sent a report about ann (queued with the null sender).
    let used = store.account("ann@example.org").unwrap().unwrap().used;
    store.close();
    t.ok(&["user", "quota", "ann@example.org", &(used + 10).to_string()]);
    let mut s = Smtp::connect(t.smtp);
    s.expect("EHLO client.remote.test", "250");
    s.expect("MAIL FROM:<x@remote.test>", "250");
    s.expect("RCPT TO:<bob@example.org>", "250");
    s.expect("RCPT TO:<anyone@other.org>", "250");
    s.expect("DATA", "354");
    s.send(b"From: x@remote.test\r\nSubject: second\r\n\r\nagain, and long enough\r\n.\r\n");
    let reply = s.reply();
    assert!(reply.starts_with("250 2.0.0 OK"), "{reply}");
    let store = t.store();
    assert_eq!(inbox(&store, "bob@example.org").len(), 2);
    assert_eq!(inbox(&store, "ann@example.org").len(), 1);
    let queued = store.queue_list().unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].sender, "");
    assert_eq!(queued[0].recipients[0].address, "x@remote.test");
    let report = String::from_utf8(store.queue_raw(queued[0].id).unwrap()).unwrap();
    assert!(
        report.contains("Final-Recipient: rfc822; anyone@other.org"),
        "{report}"
    );
    assert!(report.contains("Status: 5.2.2"), "{report}");
    store.close();
}

#[test]
fn an_unauthenticated_relay_attempt_is_refused_by_swaks() {
    let t = Tidings::start("");
    let port = t.smtp.to_string();
    let out = swaks(&[
        "--server",
        &format!("127.0.0.1:{port}"),
        "--from",
        "a@remote.test",
        "--to",
        "b@elsewhere.test",
    ]);
    assert!(out.contains("554 5.7.1 relay access denied"), "{out}");
    // Submission without AUTH: MAIL needs it.
    let out = swaks(&[
        "--server",
        &format!("127.0.0.1:{}", t.submission),
        "--from",
        "bob@example.org",
        "--to",
        "ann@example.org",
    ]);
    assert!(out.contains("530 5.7.0"), "{out}");
}

#[test]
fn submission_checks_the_sender_adds_headers_and_queues_remote_mail() {
    // remote.test routes to a port where nobody listens: its mail stays queued.
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"remote.test\" = \"127.0.0.1:{}\"\n",
        free_port()
    ));
    let sub = format!("127.0.0.1:{}", t.submission);
    let subs = format!("127.0.0.1:{}", t.submissions);
    let auth = [
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ];
    // STARTTLS on 587, as the alias team@, to ann: delivered, with Date and Message-ID added.
    let mut args = vec![
        "--server",
        &sub,
        "--tls",
        "--from",
        "team@example.org",
        "--to",
        "ann@example.org",
        "--data",
        "From: Bob <team@example.org>\r\nTo: ann@example.org\r\nSubject: no id\r\n\r\nhi\r\n",
    ];
    args.extend(auth);
    let out = swaks(&args);
    assert!(out.contains("250 2.0.0 OK"), "{out}");
    // Implicit TLS on 465 with LOGIN, as ann (someone else): refused at MAIL.
    let out = swaks(&[
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "ann@example.org",
        "--to",
        "ann@example.org",
        "--auth",
        "LOGIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ]);
    assert!(
        out.contains("550 5.7.1 bob@example.org may not send as this address"),
        "{out}"
    );
    // Own envelope, someone else's From: refused after DATA.
    let mut args = vec![
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "ann@example.org",
        "--h-From",
        "ann@example.org",
    ];
    args.extend(auth);
    let out = swaks(&args);
    assert!(
        out.contains("550 5.7.1 bob@example.org may not send as ann@example.org"),
        "{out}"
    );
    // A wrong password.
    let out = swaks(&[
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "ann@example.org",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        "wrong",
    ]);
    assert!(out.contains("535 5.7.8"), "{out}");
    // A remote recipient is queued (remote.test does not answer: it stays pending).
    let mut args = vec![
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "carol@remote.test",
    ];
    args.extend(auth);
    let out = swaks(&args);
    assert!(out.contains("250 2.0.0 OK"), "{out}");

    let store = t.store();
    let ann = inbox(&store, "ann@example.org");
    assert_eq!(ann.len(), 1, "{ann:?}");
    assert!(ann[0].contains("with ESMTPSA id"), "{}", ann[0]);
    assert!(
        ann[0].contains("\r\nDate: ") && ann[0].contains("\r\nMessage-ID: <"),
        "{}",
        ann[0]
    );
    // Not copied into the sender's Sent (clients APPEND there themselves).
    assert!(mailbox(&store, "bob@example.org", MailboxRole::Sent).is_empty());
    let queued = store.queue_list().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients[0].address, "carol@remote.test");
    store.close();
    let list = t.ok(&["queue", "list"]);
    assert!(list.contains("carol@remote.test"), "{list}");
    let id = queued[0].id.to_string();
    t.ok(&["queue", "delete", &id]);
    assert!(t.ok(&["queue", "list"]).contains("the queue is empty"));
}

#[test]
fn auth_before_starttls_is_refused_on_a_non_loopback_address() {
    // An address of this host that is not loopback, in a network namespace
    // of the test's own: connecting to it makes the peer non-loopback too.
    if !common::in_private_netns("auth_before_starttls_is_refused_on_a_non_loopback_address") {
        return;
    }
    let ip = common::NETNS_ADDR;
    let t = Tidings::start_on(ip, "");
    let server = format!("{ip}:{}", t.submission);
    let mut s = Smtp::connect_to(&server);
    let ehlo = s.expect("EHLO client.test", "250");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    // RFC 4954 §4 / RFC 3207: no password before TLS (the one below is
    // base64 of "\0bob@example.org\0test password").
    s.expect(
        "AUTH PLAIN AGJvYkBleGFtcGxlLm9yZwB0ZXN0IHBhc3N3b3Jk",
        "538 5.7.11",
    );
    s.expect("MAIL FROM:<bob@example.org>", "530 5.7.0");
    s.expect("QUIT", "221");
    let out = swaks(&[
        "--server",
        &server,
        "--tls",
        "--from",
        "bob@example.org",
        "--to",
        "ann@example.org",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ]);
    assert!(
        out.contains("235 2.7.0") && out.contains("250 2.0.0 OK"),
        "{out}"
    );
}

#[test]
fn bdat_pipelining_smtputf8_and_oversize() {
    let t = Tidings::start("");
    let mut s = Smtp::connect(t.smtp);
    s.expect("EHLO client.test", "250");
    // PIPELINING (RFC 2920): the whole transaction in one write, BDAT chunks included.
    let body1 = b"Subject: chunked\r\n\r\nfirst ";
    let body2 = b"second\r\n";
    let mut batch = Vec::new();
    batch.extend_from_slice(b"MAIL FROM:<x@remote.test> BODY=BINARYMIME\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\n");
    batch.extend_from_slice(format!("BDAT {}\r\n", body1.len()).as_bytes());
    batch.extend_from_slice(body1);
    batch.extend_from_slice(format!("BDAT {} LAST\r\n", body2.len()).as_bytes());
    batch.extend_from_slice(body2);
    batch.extend_from_slice(b"NOOP\r\n");
    s.send(&batch);
    for code in [
        "250 2.1.0",
        "550 5.1.1",
        "250 2.1.5",
        "250 2.0.0",
        "250 2.0.0 OK",
        "250 2.0.0",
    ] {
        let reply = s.reply();
        assert!(reply.starts_with(code), "expected {code}: {reply}");
    }
    // SMTPUTF8 (RFC 6531): a UTF-8 address needs the parameter.
    s.expect("MAIL FROM:<José@remote.test>", "553 5.6.7");
    s.expect("MAIL FROM:<José@remote.test> SMTPUTF8", "250");
    s.expect("RCPT TO:<bob@example.org>", "250");
    s.expect("DATA", "354");
    s.send("Subject: ¡hola!\r\n\r\nUTF-8 body\r\n.\r\n".as_bytes());
    assert!(s.reply().starts_with("250 2.0.0 OK"));
    // Oversize: announced with SIZE, refused at MAIL; unannounced, refused after DATA.
    s.expect(
        &format!("MAIL FROM:<x@remote.test> SIZE={}", MAX_SIZE + 1),
        "552 5.3.4",
    );
    s.expect("MAIL FROM:<x@remote.test>", "250");
    s.expect("RCPT TO:<bob@example.org>", "250");
    s.expect("DATA", "354");
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..(MAX_SIZE / 1000 + 10) {
        s.send(line.as_bytes());
    }
    s.send(b".\r\n");
    assert!(s.reply().starts_with("552 5.3.4"));
    // A line over 1000 octets is refused, and the session goes on.
    s.expect(&format!("NOOP {}", "y".repeat(1200)), "500 5.5.2");
    s.expect("RSET", "250");
    s.expect("QUIT", "221");
    assert!(s.at_eof());

    let store = t.store();
    let bob = inbox(&store, "bob@example.org");
    assert_eq!(bob.len(), 2, "the oversize message was not stored");
    assert!(bob[0].ends_with("\r\n\r\nfirst second\r\n"), "{}", bob[0]);
    assert!(
        bob[1].contains("with UTF8SMTP id") && bob[1].contains("¡hola!"),
        "{}",
        bob[1]
    );
    store.close();
}

#[test]
fn smuggling_patterns_never_split_a_message() {
    let t = Tidings::start("");
    for end in ["\n.\n", "\r.\r", "\n.\r\n", "\r.\r\n", "\r\n.\n"] {
        let mut s = Smtp::connect(t.smtp);
        s.expect("EHLO client.test", "250");
        s.expect("MAIL FROM:<x@remote.test>", "250");
        s.expect("RCPT TO:<bob@example.org>", "250");
        s.expect("DATA", "354");
        let smuggled = format!(
            "Subject: outer\r\n\r\nouter body{end}MAIL FROM:<ceo@example.org>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nforged\r\n.\r\n"
        );
        s.send(smuggled.as_bytes());
        // One reply for the whole thing: refused for its bare line ends.
        let reply = s.reply();
        assert!(reply.starts_with("550 5.6.0"), "{end:?}: {reply}");
        s.expect("QUIT", "221");
    }
    let store = t.store();
    assert!(inbox(&store, "ann@example.org").is_empty());
    assert!(inbox(&store, "bob@example.org").is_empty());
    store.close();
}

const SMTPLIB_LOOP: &str = r#"
import smtplib, sys
port = int(sys.argv[1])
i = 0
try:
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    while i < 2000:
        msg = ("From: x@remote.test\r\nSubject: load %d\r\nMessage-ID: <load-%d@test>\r\n\r\nbody %d\r\n" % (i, i, i)).encode()
        s.sendmail("x@remote.test", ["bob@example.org"], msg)
        print("acked", i, flush=True)
        i += 1
except Exception as e:
    print("stopped", i, type(e).__name__, flush=True)
"#;

#[test]
fn sigkill_mid_load_keeps_every_acknowledged_message_once() {
    let mut t = Tidings::start("");
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB_LOOP)
        .arg(t.smtp.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut lines = out.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.parse::<u32>().unwrap());
            if acked.len() == 40 {
                t.kill_and_restart();
            }
        } else {
            break;
        }
    }
    child.wait().unwrap();
    assert!(acked.len() >= 40, "{acked:?}");
    let store = t.store();
    let mut found: Vec<u32> = inbox(&store, "bob@example.org")
        .iter()
        .map(|m| {
            let at = m.find("Subject: load ").unwrap() + 14;
            m[at..].split("\r\n").next().unwrap().parse().unwrap()
        })
        .collect();
    found.sort();
    let unique = found.len();
    found.dedup();
    assert_eq!(unique, found.len(), "a message was stored twice");
    for n in &acked {
        assert!(found.contains(n), "acknowledged message {n} is missing");
    }
    store.close();
    // `check` exits non-zero on any problem.
    t.ok(&["check"]);
}

/// Polls `f` every 50 ms for at most 30 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_queue_delivers_to_a_peer_retries_4xx_and_bounces_5xx() {
    let (good, bad) = (free_port(), free_port());
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"remote.test\" = \"127.0.0.1:{good}\"\n\"bad.test\" = \"127.0.0.1:{bad}\"\n"
    ));
    // First the good peer answers 4xx to RCPT.
    let sink = Sink::start(t.dir.path(), good, &["-r", "RCPT"]);
    let _refusing = Sink::start(t.dir.path(), bad, &["-f", "RCPT"]);
    let subs = format!("127.0.0.1:{}", t.submissions);
    for to in ["carol@remote.test", "dave@bad.test"] {
        let out = swaks(&[
            "--server",
            &subs,
            "--tlsc",
            "--from",
            "bob@example.org",
            "--to",
            to,
            "--h-Subject",
            &format!("to {to}"),
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@example.org",
            "--auth-password",
            PASSWORD,
        ]);
        assert!(out.contains("250 2.0.0 OK"), "{out}");
    }
    // 5xx: a bounce in bob's INBOX, and dave's message leaves the queue.
    let store = t.store();
    eventually("a bounce for dave", || {
        inbox(&store, "bob@example.org")
            .iter()
            .any(|m| m.contains("Final-Recipient: rfc822; dave@bad.test"))
    });
    let bounce = inbox(&store, "bob@example.org").remove(0);
    assert!(
        bounce.contains("Content-Type: multipart/report; report-type=delivery-status"),
        "{bounce}"
    );
    assert!(bounce.contains("Action: failed\r\nStatus: 5."), "{bounce}");
    assert!(bounce.contains("Subject: to dave@bad.test"), "{bounce}");
    // 4xx: still queued, with the reply recorded.
    eventually("a deferred attempt for carol", || {
        store.queue_list().unwrap().iter().any(|m| {
            m.attempts > 0
                && m.recipients[0]
                    .reply
                    .as_deref()
                    .is_some_and(|r| r.starts_with("4"))
        })
    });
    assert!(sink.messages().is_empty());
    // The peer recovers: the retry delivers.
    drop(sink);
    let sink = Sink::start(t.dir.path(), good, &[]);
    eventually("carol's message at the peer", || {
        !sink.messages().is_empty()
    });
    let got = sink.messages().remove(0);
    assert!(
        got.contains("X-Rcpt-Args: <carol@remote.test>")
            && got.contains("Subject: to carol@remote.test"),
        "{got}"
    );
    eventually("an empty queue", || store.queue_list().unwrap().is_empty());
    assert_eq!(inbox(&store, "bob@example.org").len(), 1, "one bounce only");
    store.close();
}

const DKIMPY_VERIFY: &str = r#"
import dkim, sys
msg = open(sys.argv[1], "rb").read()
def dns(name, timeout=5):
    assert name == b"tidings._domainkey.example.org.", name
    return b"v=DKIM1; k=rsa; p=" + sys.argv[2].encode()
print("dkim", dkim.verify(msg, dnsfunc=dns))
"#;

#[test]
fn submitted_mail_is_dkim_signed_and_dkimpy_verifies_it() {
    let t = Tidings::start("");
    // The key `tidings init` would make, at its default place.
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../smtp/testdata/dkim-test.key");
    std::fs::create_dir_all(t.path("data/dkim")).unwrap();
    std::fs::copy(&key, t.path("data/dkim/tidings.key")).unwrap();
    let mut t = t;
    t.kill_and_restart();
    let subs = format!("127.0.0.1:{}", t.submissions);
    let out = swaks(&[
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "ann@example.org",
        "--h-Subject",
        "signed",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ]);
    assert!(out.contains("250 2.0.0 OK"), "{out}");
    let store = t.store();
    let raw = inbox(&store, "ann@example.org").remove(0);
    store.close();
    assert!(
        raw.contains("DKIM-Signature: ")
            && raw.contains("d=example.org")
            && raw.contains("s=tidings"),
        "{raw}"
    );
    let python = Path::new("/usr/bin/python3");
    let has_dkimpy = python.exists()
        && Command::new(python)
            .args(["-c", "import dkim"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_dkimpy {
        panic!("cannot run the dkimpy check: python3-dkim not installed (scripts/install-deps)");
    }
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert_success(&public, "openssl pkey");
    let b64 = common::base64_encode(&public.stdout);
    let file = t.path("signed.eml");
    std::fs::write(&file, &raw).unwrap();
    let o = Command::new(python)
        .args(["-c", DKIMPY_VERIFY])
        .arg(&file)
        .arg(&b64)
        .output()
        .unwrap();
    assert_success(&o, "dkimpy");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("dkim True"), "{out}");
}

const SMTPLIB_TO_POSTFIX: &str = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.sendmail("ext@postfix.test", ["bob@example.org"],
           b"From: ext@postfix.test\r\nTo: bob@example.org\r\nSubject: relayed by postfix\r\n\r\nhello\r\n")
s.quit()
"#;

#[test]
fn postfix_delivers_into_tidings_and_tidings_delivers_to_postfix() {
    let pf_port = free_port();
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"peer.test\" = \"127.0.0.1:{pf_port}\"\n"
    ));
    // Mail for example.org relayed to Tidings' MX.
    let pf = Postfix::start(
        &t.dir.path().join("postfix"),
        &[&format!("127.0.0.1:{pf_port}")],
        &format!(
            "transport_maps = inline:{{ example.org=smtp:[127.0.0.1]:{} }}\n",
            t.smtp
        ),
    );

    // Postfix → Tidings' MX.
    python(SMTPLIB_TO_POSTFIX, &[&pf_port.to_string()]);
    let store = t.store();
    eventually("Postfix's message in bob's INBOX", || {
        inbox(&store, "bob@example.org")
            .iter()
            .any(|m| m.contains("Subject: relayed by postfix"))
    });
    let got = inbox(&store, "bob@example.org").remove(0);
    // Delivered-To first, as Postfix's own local delivery writes it.
    assert!(
        got.starts_with(
            "Delivered-To: bob@example.org\r\nReceived: from postfix.test ([127.0.0.1])"
        ),
        "{got}"
    );

    // Tidings' queue → Postfix (its smtpd: Maildir delivery).
    let subs = format!("127.0.0.1:{}", t.submissions);
    let out = swaks(&[
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "ann@peer.test",
        "--h-Subject",
        "from tidings",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ]);
    assert!(out.contains("250 2.0.0 OK"), "{out}");
    eventually("the message in Postfix's Maildir", || {
        pf.maildir("ann")
            .iter()
            .any(|m| m.contains("Subject: from tidings"))
    });
    eventually("an empty queue", || store.queue_list().unwrap().is_empty());
    assert!(
        pf.log().contains("to=<ann@peer.test>, relay=virtual"),
        "{}",
        pf.log()
    );
    store.close();
}

/// Sends one message as ann over implicit TLS (465) with DSN parameters:
/// `port`, the recipient, NOTIFY, RET.
const SMTPLIB_DSN: &str = r#"
import smtplib, ssl, sys
port, to, notify, ret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx)
s.ehlo("client.example.org")
assert s.has_extn("dsn")
s.login("ann@example.org", "test password")
msg = ("From: ann@example.org\r\nTo: %s\r\nSubject: dsn %s\r\n\r\nSECRET BODY\r\n" % (to, notify)).encode()
refused = s.sendmail("ann@example.org", [to], msg, mail_options=["RET=" + ret, "ENVID=abc"],
                     rcpt_options=["NOTIFY=" + notify, "ORCPT=rfc822;" + to])
print("refused", refused)
s.quit()
"#;

fn send_dsn(t: &Tidings, to: &str, notify: &str, ret: &str) {
    let out = python(SMTPLIB_DSN, &[&t.submissions.to_string(), to, notify, ret]);
    assert!(out.contains("refused {}"), "{out}");
}

fn reports(store: &Store, user: &str, action: &str) -> Vec<String> {
    inbox(store, user)
        .into_iter()
        .filter(|m| m.contains(&format!("Action: {action}\r\n")))
        .collect()
}

#[test]
fn notify_success_on_local_delivery_yields_a_delivered_report() {
    let t = Tidings::start("");
    send_dsn(&t, "bob@example.org", "SUCCESS", "HDRS");
    let store = t.store();
    eventually("a delivered report for ann", || {
        !reports(&store, "ann@example.org", "delivered").is_empty()
    });
    assert_eq!(inbox(&store, "bob@example.org").len(), 1);
    let report = reports(&store, "ann@example.org", "delivered").remove(0);
    assert!(
        report.contains("Content-Type: multipart/report; report-type=delivery-status"),
        "{report}"
    );
    assert!(report.contains("Original-Envelope-Id: abc\r\n"), "{report}");
    assert!(
        report.contains(
            "Final-Recipient: rfc822; bob@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("Original-Recipient: rfc822;bob@example.org\r\n"),
        "{report}"
    );
    assert!(
        report.contains("Content-Type: text/rfc822-headers"),
        "{report}"
    );
    assert!(report.contains("Subject: dsn SUCCESS"), "{report}");
    assert!(!report.contains("SECRET BODY"), "{report}");
    // NOTIFY=FAILURE alone: no report on success.
    send_dsn(&t, "bob@example.org", "FAILURE", "FULL");
    eventually("the second message", || {
        inbox(&store, "bob@example.org").len() == 2
    });
    assert_eq!(inbox(&store, "ann@example.org").len(), 1);
    store.close();
}

#[test]
fn dsn_parameters_go_to_a_dsn_peer_and_a_relayed_report_otherwise() {
    let (dsn_port, plain_port) = (free_port(), free_port());
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"dsn.test\" = \"127.0.0.1:{dsn_port}\"\n\"plain.test\" = \"127.0.0.1:{plain_port}\"\n"
    ));
    let dsn_sink = Sink::start(t.dir.path(), dsn_port, &[]);
    let plain_sink = Sink::start(t.dir.path(), plain_port, &["-N"]);
    send_dsn(&t, "carol@dsn.test", "SUCCESS,FAILURE", "HDRS");
    send_dsn(&t, "dave@plain.test", "SUCCESS", "HDRS");
    let store = t.store();
    eventually("both messages at the peers", || {
        !dsn_sink.messages().is_empty() && !plain_sink.messages().is_empty()
    });
    let got = dsn_sink.messages().remove(0);
    assert!(
        got.contains("RET=HDRS") && got.contains("ENVID=abc"),
        "MAIL parameters passed on: {got}"
    );
    assert!(
        got.contains("NOTIFY=SUCCESS,FAILURE") && got.contains("ORCPT=rfc822;carol@dsn.test"),
        "RCPT parameters passed on: {got}"
    );
    let got = plain_sink.messages().remove(0);
    assert!(!got.contains("NOTIFY=") && !got.contains("ENVID="), "{got}");
    eventually("a relayed report for dave", || {
        !reports(&store, "ann@example.org", "relayed").is_empty()
    });
    eventually("an empty queue", || store.queue_list().unwrap().is_empty());
    let relayed = reports(&store, "ann@example.org", "relayed");
    assert_eq!(relayed.len(), 1, "{relayed:?}");
    assert!(
        relayed[0].contains(
            "Final-Recipient: rfc822; dave@plain.test\r\nAction: relayed\r\nStatus: 2.0.0\r\n"
        ) && relayed[0].contains("Original-Envelope-Id: abc\r\n")
            && !relayed[0].contains("SECRET BODY"),
        "{}",
        relayed[0]
    );
    // The DSN peer reports itself: nothing from us about carol.
    assert_eq!(inbox(&store, "ann@example.org").len(), 1);
    store.close();
}

#[test]
fn notify_delay_yields_one_delayed_report_across_retries() {
    let port = free_port();
    let t = Tidings::start(&format!(
        "[smtp.mx]\n\"slow.test\" = \"127.0.0.1:{port}\"\n"
    ));
    // The peer answers 4xx to RCPT.
    let _sink = Sink::start(t.dir.path(), port, &["-r", "RCPT"]);
    send_dsn(&t, "erin@slow.test", "DELAY,FAILURE", "FULL");
    let store = t.store();
    eventually("three deferred attempts", || {
        store.queue_list().unwrap().iter().any(|m| m.attempts >= 3)
    });
    let delayed = reports(&store, "ann@example.org", "delayed");
    assert_eq!(delayed.len(), 1, "one delayed report: {delayed:?}");
    let report = &delayed[0];
    assert!(
        report.contains("Final-Recipient: rfc822; erin@slow.test\r\nAction: delayed\r\nStatus: 4."),
        "{report}"
    );
    assert!(report.contains("Will-Retry-Until: "), "{report}");
    assert!(report.contains("Original-Envelope-Id: abc\r\n"), "{report}");
    assert!(
        store.queue_list().unwrap()[0].recipients[0].delay_reported,
        "recorded in the queue"
    );
    assert_eq!(inbox(&store, "ann@example.org").len(), 1);
    store.close();
}

/// A smarthost with a login: a second Tidings plays the provider, its
/// submission port (STARTTLS) with a self-signed certificate for
/// `relay.test` that the first trusts through `relay_ca_file`.
fn relay_pair(password: &str, ca: bool) -> (Server, Server, common::dns::DnsStub) {
    let provider = Server::start(Setup {
        protocols: &["submission"],
        domains: &["example.org", "example.net"],
        users: &["bob@example.org", "carol@example.net"],
        top: "hostname = \"relay.test\"",
        ..Setup::default()
    });
    let stub = common::dns::DnsStub::start(common::dns::Zone::new().ip("relay.test", "127.0.0.1"));
    // The password file lives in the provider's directory, gone with it.
    let pw_file = provider.path("relay-password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let ca_line = if ca {
        format!(
            "relay_ca_file = \"{}\"\n",
            provider.path("data/tls/cert.pem").display()
        )
    } else {
        String::new()
    };
    let extra = format!(
        "[smtp]\nrelay = \"relay.test:{}\"\nrelay_user = \"bob@example.org\"\n\
         relay_password_file = \"{}\"\n{ca_line}retry_after = \"1s\"\n\n{}",
        provider.port("submission"),
        pw_file.display(),
        stub.config()
    );
    let ours = Server::start(Setup {
        protocols: &["submissions"],
        domains: &["example.org"],
        users: &["bob@example.org"],
        extra: &extra,
        ..Setup::default()
    });
    (provider, ours, stub)
}

fn submit_to_carol(ours: &Server) {
    let subs = format!("127.0.0.1:{}", ours.port("submissions"));
    let out = swaks(&[
        "--server",
        &subs,
        "--tlsc",
        "--from",
        "bob@example.org",
        "--to",
        "carol@example.net",
        "--h-Subject",
        "through the relay",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        PASSWORD,
    ]);
    assert!(out.contains("250 2.0.0 OK"), "{out}");
}

#[test]
fn a_smarthost_gets_the_mail_over_verified_tls_with_a_login() {
    let (provider, ours, _dns) = relay_pair(PASSWORD, true);
    submit_to_carol(&ours);
    let store = Store::open(&provider.path("data")).unwrap();
    eventually("the provider delivered to carol", || {
        inbox(&store, "carol@example.net")
            .iter()
            .any(|m| m.contains("Subject: through the relay"))
    });
    let ours_store = Store::open(&ours.path("data")).unwrap();
    eventually("our queue is empty", || {
        ours_store.queue_list().unwrap().is_empty()
    });
}

#[test]
fn a_refused_relay_login_or_certificate_keeps_the_mail_queued_with_the_reason() {
    // A wrong password: the provider says 535; the message waits.
    let (_provider, ours, _dns) = relay_pair("not the password", true);
    submit_to_carol(&ours);
    let store = Store::open(&ours.path("data")).unwrap();
    eventually("a recorded login refusal", || {
        store.queue_list().unwrap().iter().any(|m| {
            m.attempts > 0
                && m.recipients[0]
                    .reply
                    .as_deref()
                    .is_some_and(|r| r.starts_with("4") && r.contains("refused the login"))
        })
    });
    // A certificate the system's roots do not vouch for: no login is sent.
    let (provider, ours, _dns) = relay_pair(PASSWORD, false);
    submit_to_carol(&ours);
    let store = Store::open(&ours.path("data")).unwrap();
    eventually("a recorded certificate failure", || {
        store.queue_list().unwrap().iter().any(|m| {
            m.attempts > 0
                && m.recipients[0]
                    .reply
                    .as_deref()
                    .is_some_and(|r| r.starts_with("4") && r.contains("TLS handshake failed"))
        })
    });
    let provider_store = Store::open(&provider.path("data")).unwrap();
    assert!(inbox(&provider_store, "carol@example.net").is_empty());
}

#[test]
fn the_sending_limit_refuses_the_next_message_per_account() {
    let server = Server::start(Setup {
        protocols: &["submission"],
        domains: &["example.org"],
        users: &["bob@example.org", "ann@example.org"],
        extra: "[smtp]\nmax_messages_per_hour = 3\nmax_messages_per_day = 5\n",
        ..Setup::default()
    });
    let script = format!(
        r#"
import smtplib
def send(user, n):
    s = smtplib.SMTP("127.0.0.1", {port})
    s.login(user, "{PASSWORD}")
    codes = []
    for i in range(n):
        msg = f"From: {{user}}\r\nTo: ann@example.org\r\nSubject: n{{i}}\r\n\r\nhi\r\n"
        try:
            s.sendmail(user, ["ann@example.org"], msg)
            codes.append(250)
        except smtplib.SMTPDataError as e:
            codes.append(e.smtp_code)
            assert b"limit" in e.smtp_error, e.smtp_error
    s.quit()
    return codes
assert send("bob@example.org", 4) == [250, 250, 250, 451], "bob"
# Each account has its own count.
assert send("ann@example.org", 1) == [250], "ann"
print("limits ok")
"#,
        port = server.port("submission")
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&o, "smtplib over the sending limit");
    // Nothing was stored or queued for the refused message: ann got 4.
    let store = Store::open(&server.path("data")).unwrap();
    assert_eq!(inbox(&store, "ann@example.org").len(), 4);
    // An account's own limit; `none` lifts it.
    let out = server.ok(&["user", "limit", "bob@example.org", "--per-hour", "none"]);
    assert!(out.contains("per hour none (sent 3)"), "{out}");
    let out = server.ok(&["user", "limit", "bob@example.org"]);
    assert!(out.contains("per day the server's"), "{out}");
}
