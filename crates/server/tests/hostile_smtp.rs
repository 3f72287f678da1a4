//! SMTP against hostile or careless peers: what one client (or one DNS
//! answer) must never get from the server. Each test names what broke
//! before it was fixed. Every server here asks a stub DNS server on
//! loopback (`common::dns`), never the system's resolver, and no test
//! sends a packet to an address outside 127.0.0.0/8.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::dns::{DnsStub, Zone};
use common::{PASSWORD, Server, Setup};
use tidings_store::Store;
use tidings_types::MailboxRole;

/// A byte-level SMTP client.
struct Smtp {
    r: BufReader<TcpStream>,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut s = Smtp {
            r: BufReader::new(tcp),
        };
        let greeting = s.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        s
    }

    /// One complete reply (its lines joined by `\n`); empty when the
    /// connection was closed, `TIMEOUT` when nothing came in 15 s.
    fn reply(&mut self) -> String {
        let mut all = Vec::new();
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) => return all.join("\n"),
                Ok(_) => {}
                Err(_) => return "TIMEOUT".into(),
            }
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

    #[track_caller]
    fn expect(&mut self, c: &str, code: &str) -> String {
        self.send(format!("{c}\r\n").as_bytes());
        let reply = self.reply();
        assert!(reply.starts_with(code), "{c}: {reply}");
        reply
    }

    /// DATA with `body` (CRLF lines, no final dot); returns the reply.
    fn data(&mut self, body: &str) -> String {
        self.expect("DATA", "354");
        self.send(body.as_bytes());
        self.send(b".\r\n");
        self.reply()
    }

    fn login(&mut self, user: &str) {
        self.expect("EHLO client.test", "250");
        let token = base64(format!("\0{user}\0{PASSWORD}").as_bytes());
        self.expect(&format!("AUTH PLAIN {token}"), "235");
    }

    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).is_ok()
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn store(server: &Server) -> Store {
    Store::open(&server.path("data")).unwrap()
}

/// The raw messages in `user`'s mailbox of `role`, in UID order.
fn mailbox(store: &Store, user: &str, role: MailboxRole) -> Vec<String> {
    let account = store.account(user).unwrap().unwrap().id;
    let mailbox = store.mailbox_by_role(account, role).unwrap().unwrap();
    store
        .mailbox_entries(account, mailbox.id)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&store.email_raw(account, e.email).unwrap()).into_owned())
        .collect()
}

fn inbox(store: &Store, user: &str) -> Vec<String> {
    mailbox(store, user, MailboxRole::Inbox)
}

#[track_caller]
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A port on loopback where nothing listens (connections are refused).
fn closed_port() -> u16 {
    common::free_port()
}

// ---------------------------------------------------------------- item 4

/// Regression: 10 silent SMTP connections were still open after 3 minutes
/// (the only limit was RFC 5321's 5 minutes per command). Before MAIL, an
/// unauthenticated session now gets `greeting_timeout` per command, then
/// 421 4.4.2; inside a transaction the RFC's 5 minutes still apply.
#[test]
fn idle_sessions_before_mail_are_closed_with_421() {
    let server = Server::start(Setup {
        protocols: &["smtp", "submission"],
        extra: "[smtp]\ngreeting_timeout = \"2s\"\n",
        ..Setup::default()
    });
    let started = Instant::now();
    // Silent after the greeting, after EHLO, after a NOOP; and on submission.
    let mut silent = Smtp::connect(server.port("smtp"));
    let mut greeted = Smtp::connect(server.port("smtp"));
    greeted.expect("EHLO client.test", "250");
    let mut nooped = Smtp::connect(server.port("smtp"));
    nooped.expect("NOOP", "250");
    let mut submission = Smtp::connect(server.port("submission"));
    submission.expect("EHLO client.test", "250");
    // A transaction in progress is not cut short by the greeting timeout.
    let mut busy = Smtp::connect(server.port("smtp"));
    busy.expect("EHLO client.test", "250");
    busy.expect("MAIL FROM:<ann@example.org>", "250");
    for s in [&mut silent, &mut greeted, &mut nooped, &mut submission] {
        let reply = s.reply();
        assert!(reply.starts_with("421 4.4.2"), "{reply}");
        assert!(s.closed());
    }
    assert!(started.elapsed() < Duration::from_secs(14));
    std::thread::sleep(Duration::from_secs(1));
    busy.expect("RCPT TO:<bob@localhost>", "250");
    let reply = busy.data("Subject: slow but fine\r\n\r\nbody\r\n");
    assert!(reply.starts_with("250"), "{reply}");
    busy.expect("QUIT", "221");
}

// ---------------------------------------------------------------- item 9

/// Regression: an unauthenticated sender on the MX port asked for a
/// success DSN with RET=FULL, and the server queued the whole message to
/// the address it named (backscatter). Now: no success report for an
/// unauthenticated sender; a failure report for a message accepted and
/// then not delivered to some recipient still goes out, headers only.
#[test]
fn no_backscatter_to_unauthenticated_senders() {
    // example.net's mail would go to a closed port: anything queued stays.
    let server = Server::start(Setup {
        protocols: &["smtp"],
        users: &["bob@localhost", "ann@localhost"],
        extra: &format!(
            "[smtp.mx]\n\"example.net\" = \"127.0.0.1:{}\"\n",
            closed_port()
        ),
        ..Setup::default()
    });
    server.ok(&["user", "quota", "ann@localhost", "200"]);
    let body = format!(
        "From: victim@example.net\r\nSubject: backscatter\r\n\r\nSECRET BODY {}\r\n",
        "x".repeat(300)
    );
    let mut s = Smtp::connect(server.port("smtp"));
    s.expect("EHLO client.test", "250");
    s.expect("MAIL FROM:<victim@example.net> RET=FULL ENVID=e1", "250");
    s.expect("RCPT TO:<bob@localhost> NOTIFY=SUCCESS,FAILURE", "250");
    let reply = s.data(&body);
    assert!(reply.starts_with("250"), "{reply}");
    let st = store(&server);
    assert_eq!(inbox(&st, "bob@localhost").len(), 1);
    assert!(
        st.queue_list().unwrap().is_empty(),
        "a success report was queued for an unauthenticated sender: {}",
        server.ok(&["queue", "list"])
    );
    // Accepted for bob, then not delivered to ann (over quota): one
    // failure report, with the header section only.
    s.expect("MAIL FROM:<victim@example.net> RET=FULL", "250");
    s.expect("RCPT TO:<bob@localhost> NOTIFY=SUCCESS,FAILURE", "250");
    s.expect("RCPT TO:<ann@localhost> NOTIFY=SUCCESS,FAILURE", "250");
    let reply = s.data(&body);
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let queued = st.queue_list().unwrap();
    assert_eq!(queued.len(), 1, "{}", server.ok(&["queue", "list"]));
    let report = String::from_utf8(st.queue_raw(queued[0].id).unwrap()).unwrap();
    assert!(report.contains("Action: failed"), "{report}");
    assert!(!report.contains("Action: delivered"), "{report}");
    assert!(report.contains("text/rfc822-headers"), "{report}");
    assert!(!report.contains("SECRET BODY"), "{report}");
    st.close();
}

// ---------------------------------------------------------------- item 10

/// Regression: the submission check matched only lines starting with
/// `from:`, so `From : Boss <boss@…>` before `From: alice@…` passed (and
/// mail readers show the first). Header names are now read as RFC 5322
/// does (§2.2, obsolete WSP before the colon §4.5.3, any case, folded
/// values); exactly one From, at most one Sender, and Sender, Resent-From
/// and Resent-Sender must be the user's own addresses too.
#[test]
fn submission_refuses_spoofed_originator_fields() {
    let server = Server::start(Setup {
        protocols: &["submission"],
        users: &["alice@localhost", "boss@localhost"],
        ..Setup::default()
    });
    let mut s = Smtp::connect(server.port("submission"));
    s.login("alice@localhost");
    let refused = [
        "From : Boss <boss@localhost>\r\nFrom: alice@localhost\r\n",
        "FROM\t: boss@localhost\r\nfrom:alice@localhost\r\n",
        "From: alice@localhost\r\nFrom : alice@localhost\r\n",
        "From: Alice\r\n <boss@localhost>\r\n",
        "From: alice@localhost\r\nSender: boss@localhost\r\n",
        "From: alice@localhost\r\nsender :boss@localhost\r\n",
        "From: alice@localhost\r\nSender: alice@localhost\r\nSender: alice@localhost\r\n",
        "From: alice@localhost\r\nResent-From: boss@localhost\r\n",
        "From: alice@localhost\r\nResent-Sender : Boss\r\n <boss@localhost>\r\n",
        "Subject: no from at all\r\n",
    ];
    for (i, fields) in refused.iter().enumerate() {
        s.expect("MAIL FROM:<alice@localhost>", "250");
        s.expect("RCPT TO:<boss@localhost>", "250");
        let reply = s.data(&format!("{fields}Subject: spoof {i}\r\n\r\nbody\r\n"));
        assert!(reply.starts_with("550"), "{fields:?}: {reply}");
    }
    // Her own addresses in every field are fine.
    s.expect("MAIL FROM:<alice@localhost>", "250");
    s.expect("RCPT TO:<boss@localhost>", "250");
    let reply = s.data(
        "From: Alice <alice@localhost>\r\nSender: alice@localhost\r\n\
         Resent-From: alice@localhost\r\nResent-Sender: Alice\r\n <alice@localhost>\r\n\
         Subject: mine\r\n\r\nbody\r\n",
    );
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let st = store(&server);
    let got = inbox(&st, "boss@localhost");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Subject: mine"));
    st.close();
}

// ---------------------------------------------------------------- item 11

/// Regression: ORCPT was checked only for xtext syntax, so control
/// characters (an addr-type with them, or `+0D+0A` in the address) went
/// into the delivery reports; and BDAT took bare CR/LF that DATA refuses.
#[test]
fn orcpt_envid_and_bdat_line_ends_are_checked() {
    let server = Server::start(Setup {
        protocols: &["smtp"],
        ..Setup::default()
    });
    let mut s = Smtp::connect(server.port("smtp"));
    s.expect("EHLO client.test", "250");
    s.expect("MAIL FROM:<ann@example.org>", "250");
    for bad in [
        "ORCPT=rfc822;bob+0D+0ABcc:+20evil@localhost",
        "ORCPT=rfc822;bob+00@localhost",
        "ORCPT=rfc\x01822;bob@localhost",
        "ORCPT=rfc(822);bob@localhost",
        "ORCPT=;bob@localhost",
    ] {
        s.expect(&format!("RCPT TO:<bob@localhost> {bad}"), "501");
    }
    s.expect(
        "RCPT TO:<bob@localhost> ORCPT=rfc822;bob+2Btag@localhost",
        "250",
    );
    s.expect("RSET", "250");
    s.expect("MAIL FROM:<ann@example.org> ENVID=a+0D+0Ab", "501");
    // BDAT: a bare LF or CR is refused as in DATA (RFC 5321 §2.3.8)...
    for body in [
        &b"Subject: x\n\nbare LF\n"[..],
        b"Subject: x\r\n\r\nbare\rCR\r\n",
    ] {
        s.expect("MAIL FROM:<ann@example.org>", "250");
        s.expect("RCPT TO:<bob@localhost>", "250");
        s.send(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
        s.send(body);
        let reply = s.reply();
        assert!(reply.starts_with("550 5.6.0"), "{reply}");
    }
    // ...but BODY=BINARYMIME content is binary (RFC 3030 §3).
    s.expect("MAIL FROM:<ann@example.org> BODY=BINARYMIME", "250");
    s.expect("RCPT TO:<bob@localhost>", "250");
    let body = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n\x00\n\r\xff\r\n";
    s.send(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    s.send(body);
    let reply = s.reply();
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let st = store(&server);
    assert_eq!(inbox(&st, "bob@localhost").len(), 1);
    st.close();
}

/// Regression: when a domain's MX (or its A/AAAA) pointed at loopback, a
/// private network, link-local, unspecified or multicast addresses, the
/// delivery client connected there: anyone who can publish an MX record
/// could make the server talk to its internal network. Addresses from DNS
/// are now refused before any connection (the `[smtp.mx]` map and the
/// relay, which the administrator wrote, may still say loopback). The
/// stub answers the private addresses, so no packet leaves loopback.
#[test]
fn mx_answers_pointing_inside_are_refused_before_connecting() {
    let dns = DnsStub::start(
        Zone::new()
            .mx("loop.test", 10, "mx.loop.test")
            .ip("mx.loop.test", "127.0.0.1")
            .mx("private.test", 10, "mx.private.test")
            .ip("mx.private.test", "10.0.0.1")
            // No MX: the domain's own address is the implicit MX.
            .ip("lan.test", "192.168.1.1")
            .mx("v6.test", 5, "mx.v6.test")
            .ip("mx.v6.test", "fd00::25")
            .ip("mx.v6.test", "::ffff:10.1.2.3")
            .mx("zero.test", 5, "mx.zero.test")
            .ip("mx.zero.test", "0.0.0.0")
            .ip("mx.zero.test", "169.254.1.1")
            .ip("mx.zero.test", "224.0.0.25"),
    );
    let server = Server::start(Setup {
        protocols: &["submission"],
        users: &["alice@localhost"],
        extra: &format!("{}[smtp]\nretry_after = \"1s\"\n", dns.config()),
        ..Setup::default()
    });
    let mut s = Smtp::connect(server.port("submission"));
    s.login("alice@localhost");
    s.expect("MAIL FROM:<alice@localhost>", "250");
    let domains = [
        "loop.test",
        "private.test",
        "lan.test",
        "v6.test",
        "zero.test",
    ];
    for d in domains {
        s.expect(&format!("RCPT TO:<x@{d}>"), "250");
    }
    let reply = s.data("From: alice@localhost\r\nSubject: inside\r\n\r\nbody\r\n");
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let st = store(&server);
    eventually("a bounce for every domain", || {
        inbox(&st, "alice@localhost")
            .iter()
            .map(|m| {
                domains
                    .iter()
                    .filter(|d| m.contains(&format!("<x@{d}>: ")))
                    .count()
            })
            .sum::<usize>()
            == domains.len()
    });
    let bounces = inbox(&st, "alice@localhost").join("\n");
    for d in domains {
        let line = bounces
            .lines()
            .find(|l| l.starts_with(&format!("<x@{d}>: ")))
            .unwrap();
        assert!(
            line.contains("5.4.4") && line.contains("not a public address"),
            "{line}"
        );
    }
    assert!(st.queue_list().unwrap().is_empty());
    st.close();
    // Refused while routing, before any connection was tried.
    let said = server.wait_for("in DNS point inside");
    assert!(said.contains("not delivering there"), "{said}");
    let asked = dns.queries();
    assert!(asked.iter().any(|q| q == "MX private.test"), "{asked:?}");
}

// ---------------------------------------------------------------- item 12

/// SPF from the stub's zone: a pass and a fail (RFC 7208), recorded in
/// Authentication-Results (RFC 8601); neither is refused (no DMARC record).
#[test]
fn spf_results_come_from_the_configured_resolver() {
    let dns = DnsStub::start(
        Zone::new()
            .txt("pass.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt("fail.test", "v=spf1 ip4:192.0.2.1 -all"),
    );
    let server = Server::start(Setup {
        protocols: &["smtp"],
        top: "hostname = \"mx.localhost\"",
        extra: &dns.config(),
        ..Setup::default()
    });
    let mut s = Smtp::connect(server.port("smtp"));
    s.expect("EHLO client.pass.test", "250");
    for sender in ["ann@pass.test", "eve@fail.test"] {
        s.expect(&format!("MAIL FROM:<{sender}>"), "250");
        s.expect("RCPT TO:<bob@localhost>", "250");
        let reply = s.data(&format!("From: {sender}\r\nSubject: spf\r\n\r\nbody\r\n"));
        assert!(reply.starts_with("250"), "{reply}");
    }
    s.expect("QUIT", "221");
    let st = store(&server);
    let got = inbox(&st, "bob@localhost");
    assert_eq!(got.len(), 2);
    assert!(
        got[0].contains("Authentication-Results: mx.localhost;") && got[0].contains("spf=pass"),
        "{}",
        got[0]
    );
    assert!(got[1].contains("spf=fail"), "{}", got[1]);
    st.close();
    let asked = dns.queries();
    assert!(asked.iter().any(|q| q == "TXT pass.test"), "{asked:?}");
}

/// Regression: with a resolver that never answers, each message waited
/// out the checks' own 20 s timeout (and the resolver's 5 s per lookup).
/// A message now gets `[dns] budget` for all its lookups together, and is
/// accepted when it runs out, marked `temperror`.
#[test]
fn a_dead_resolver_costs_a_message_at_most_its_dns_budget() {
    let dns = DnsStub::silent();
    let server = Server::start(Setup {
        protocols: &["smtp"],
        extra: &format!("{}budget = \"2s\"\n", dns.config()),
        ..Setup::default()
    });
    let mut s = Smtp::connect(server.port("smtp"));
    s.expect("EHLO client.test", "250");
    s.expect("MAIL FROM:<ann@slow.test>", "250");
    s.expect("RCPT TO:<bob@localhost>", "250");
    let reply = s.data("From: ann@slow.test\r\nSubject: slow dns\r\n\r\nbody\r\n");
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let st = store(&server);
    let got = inbox(&st, "bob@localhost");
    assert!(
        got[0].contains("spf=temperror") && got[0].contains("dmarc=temperror"),
        "{}",
        got[0]
    );
    st.close();
    assert!(!dns.queries().is_empty(), "the stub was asked");
    // And the log says so.
    server.wait_for("ran out of the DNS budget");
}

/// Regression: without a resolver the checks switched themselves off
/// with one log line, and mail went in as if checked. `resolver = "off"`
/// (or no usable system resolver) is now said at start and by `tidings
/// check`, and such mail is marked `Authentication-Results: …; none`.
#[test]
fn no_resolver_is_loud_and_mail_is_marked_none() {
    let server = Server::start(Setup {
        protocols: &["smtp"],
        top: "hostname = \"mx.localhost\"",
        extra: "[dns]\nresolver = \"off\"\n",
        ..Setup::default()
    });
    let warning = server
        .startup_log()
        .iter()
        .find(|l| l.contains("no DNS resolver"))
        .unwrap_or_else(|| panic!("not said at start: {:?}", server.startup_log()));
    assert!(
        warning.contains("WARN") || warning.contains("ERROR"),
        "{warning}"
    );
    let check = server.tidings().arg("check").output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("no DNS resolver"), "{said}");
    let mut s = Smtp::connect(server.port("smtp"));
    s.expect("EHLO client.test", "250");
    s.expect("MAIL FROM:<ann@example.org>", "250");
    s.expect("RCPT TO:<bob@localhost>", "250");
    let reply = s.data("From: ann@example.org\r\nSubject: unchecked\r\n\r\nbody\r\n");
    assert!(reply.starts_with("250"), "{reply}");
    s.expect("QUIT", "221");
    let st = store(&server);
    let got = inbox(&st, "bob@localhost");
    assert!(
        got[0].contains("Authentication-Results: mx.localhost; none"),
        "{}",
        got[0]
    );
    st.close();
}
