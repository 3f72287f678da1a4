//! One hostile IMAP client must never stall, crash or exhaust the server:
//! each test here is an attack that once did one of those, run against the
//! real binary, followed by a check that the server still serves others.
//!
//! Every read has a timeout, so a server that hangs makes the test fail
//! rather than hang; none of the tests measures the attack's own duration.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{PASSWORD, Raw, Server, Setup};

const USER: &str = "bob@localhost";

fn start() -> Server {
    Server::start(Setup::default())
}

fn start_with(extra: &str) -> Server {
    Server::start(Setup {
        extra,
        ..Setup::default()
    })
}

/// A logged-in connection whose reads give up after `secs` seconds.
fn login(server: &Server, secs: u64) -> Raw {
    let c = Raw::imap_login(server.port("imap"), USER);
    c.set_timeout(Duration::from_secs(secs));
    c
}

/// Appends `raw` to INBOX with a synchronizing literal; returns the tagged reply.
fn append(c: &mut Raw, raw: &[u8]) -> String {
    c.send(format!("ap APPEND INBOX {{{}}}\r\n", raw.len()).as_bytes());
    let cont = c.line();
    assert!(cont.starts_with('+'), "{cont}");
    c.send(raw);
    c.send(b"\r\n");
    c.until("ap").pop().unwrap_or_default()
}

/// Another client can still log in and get an answer to NOOP.
#[track_caller]
fn server_still_answers(server: &mut Server) {
    assert!(server.alive(), "the server process is gone");
    let mut other = login(server, 10);
    let r = other.cmd("n NOOP");
    assert!(r.last().unwrap().starts_with("n OK"), "{r:?}");
}

/// Reads lines (literals may hold empty ones) up to the tagged reply.
fn tagged_reply(c: &mut Raw, tag: &str) -> String {
    loop {
        let mut l = Vec::new();
        let n = std::io::BufRead::read_until(&mut c.r, b'\n', &mut l).expect("a reply");
        assert!(n > 0, "connection closed before the tagged reply");
        let l = String::from_utf8_lossy(&l).trim_end().to_string();
        if l.starts_with(&format!("{tag} ")) {
            return l;
        }
    }
}

/// Whether the peer closed the connection within `secs` (reading what is left).
fn closed_within(c: &mut Raw, secs: u64) -> bool {
    c.set_timeout(Duration::from_secs(secs));
    let mut rest = Vec::new();
    match c.r.read_to_end(&mut rest) {
        Ok(_) => true,
        // Closed with our unread bytes in its buffer: a reset.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

// ---- item 1: COMPRESS=DEFLATE ----

#[test]
fn deflate_data_after_the_final_block_closes_that_connection() {
    let mut server = start();
    // As many attackers as the runtime has workers, and one more: before
    // the fix each pinned a worker forever.
    let mut attackers = Vec::new();
    for _ in 0..3 {
        let mut c = login(&server, 5);
        let r = c.cmd("z COMPRESS DEFLATE");
        assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
        // An empty final deflate block (RFC 1951 §3.2.3), then one more byte.
        c.send(&[0x03, 0x00, 0x41]);
        attackers.push(c);
    }
    for c in &mut attackers {
        assert!(closed_within(c, 10), "the attacker's connection stays open");
    }
    server_still_answers(&mut server);
}

// ---- item 2: deep References, deep MIME ----

fn long_references(n: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: a@example.org\r\nTo: bob@localhost\r\nSubject: Re: chain\r\n\
         Message-ID: <last@example.org>\r\nReferences:",
    );
    for i in 0..n {
        m.push_str(&format!("\r\n <r{i}@example.org>"));
    }
    m.push_str("\r\n\r\nbody\r\n");
    m.into_bytes()
}

#[test]
fn thread_and_sort_survive_a_references_chain_of_60000_ids() {
    let mut server = start();
    let mut c = login(&server, 20);
    let raw = long_references(60_000);
    assert!(raw.len() > 500_000);
    let r = append(&mut c, &raw);
    assert!(r.starts_with("ap OK"), "{r}");
    let r = append(&mut c, &common::message("plain"));
    assert!(r.starts_with("ap OK"), "{r}");
    c.cmd("s SELECT INBOX");
    let r = c.cmd("t THREAD REFERENCES UTF-8 ALL");
    assert!(r.last().unwrap().starts_with("t OK"), "{r:?}");
    assert!(r.iter().any(|l| l.starts_with("* THREAD ")), "{r:?}");
    let r = c.cmd("t2 SORT (SUBJECT) UTF-8 ALL");
    assert!(r.last().unwrap().starts_with("t2 OK"), "{r:?}");
    let r = c.cmd("t3 THREAD ORDEREDSUBJECT UTF-8 ALL");
    assert!(r.last().unwrap().starts_with("t3 OK"), "{r:?}");
    let r = c.cmd("t4 FETCH 1 (ENVELOPE THREADID)");
    assert!(r.last().unwrap().starts_with("t4 OK"), "{r:?}");
    server_still_answers(&mut server);
}

/// `depth` multiparts nested in each other, or message/rfc822 parts.
fn nested(depth: usize, rfc822: bool) -> Vec<u8> {
    let mut m = String::from(
        "From: a@example.org\r\nTo: bob@localhost\r\nSubject: deep\r\nMIME-Version: 1.0\r\n",
    );
    if rfc822 {
        for _ in 0..depth {
            m.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
        }
        m.push_str("\r\ncore\r\n");
    } else {
        for i in 0..depth {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\ncore\r\n");
        for i in (0..depth).rev() {
            m.push_str(&format!("--b{i}--\r\n"));
        }
    }
    m.into_bytes()
}

#[test]
fn messages_nested_thousands_of_levels_deep_are_served() {
    let mut server = start();
    let mut c = login(&server, 20);
    for rfc822 in [false, true] {
        let r = append(&mut c, &nested(3000, rfc822));
        assert!(r.starts_with("ap OK"), "{r}");
    }
    // The same kind of message delivered, not appended.
    server.deliver(USER, &nested(3000, false));
    c.cmd("s SELECT INBOX");
    let r = c.cmd("f FETCH 1:* (BODYSTRUCTURE BODY ENVELOPE)");
    assert!(r.last().unwrap().starts_with("f OK"), "{r:?}");
    let deep = vec!["1"; 2000].join(".");
    c.send(format!("f2 FETCH 1:* (BODY.PEEK[{deep}] BINARY.PEEK[{deep}])\r\n").as_bytes());
    let last = tagged_reply(&mut c, "f2");
    assert!(last.starts_with("f2 "), "{last}");
    let r = c.cmd("f3 SEARCH TEXT core");
    assert!(r.last().unwrap().starts_with("f3 OK"), "{r:?}");
    server_still_answers(&mut server);
}

// ---- item 3: FETCH amplification ----

#[test]
fn fetching_the_same_large_body_thousands_of_times_stays_bounded() {
    let mut server = start();
    let mut c = login(&server, 20);
    let mut big = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
    while big.len() < 1024 * 1024 {
        big.extend_from_slice(&[b'x'; 78]);
        big.extend_from_slice(b"\r\n");
    }
    let r = append(&mut c, &big);
    assert!(r.starts_with("ap OK"), "{r}");
    c.cmd("s SELECT INBOX");
    let before = server.rss_kib();
    let items = vec!["BODY.PEEK[]"; 3000].join(" ");
    c.send(format!("f FETCH 1 ({items})\r\n").as_bytes());
    // Read the reply, watching the server's memory meanwhile.
    let mut peak = before;
    let mut got = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        peak = peak.max(server.rss_kib());
        let n = c.r.read(&mut buf).expect("the reply comes");
        assert!(n > 0, "connection closed after {got} bytes");
        got += n;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 4096 {
            tail.drain(..tail.len() - 4096);
        }
        let text = String::from_utf8_lossy(&tail);
        if text.contains("\r\nf OK") || text.contains("\r\nf NO") || text.contains("\r\nf BAD") {
            break;
        }
        // Far more than one copy of the body: the reply is not bounded.
        assert!(got < 64 * 1024 * 1024, "reply already {got} bytes");
        assert!(
            Instant::now() < deadline,
            "no tagged reply after {got} bytes"
        );
    }
    peak = peak.max(server.rss_kib());
    assert!(
        peak < before + 200 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );
    // Distinct partial sections defeat deduplication: the size cap answers.
    let items: Vec<String> = (0..2000)
        .map(|i| format!("BODY.PEEK[]<{i}.1048576>"))
        .collect();
    let mut other = login(&server, 20);
    other.cmd("s SELECT INBOX");
    other.send(format!("g FETCH 1 ({})\r\n", items.join(" ")).as_bytes());
    let reply = tagged_reply(&mut other, "g");
    assert!(reply.starts_with("g NO [LIMIT]"), "{reply}");
    let peak = server.rss_kib();
    assert!(
        peak < before + 200 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );
    server_still_answers(&mut server);
}

// ---- item 4: limits before login ----

#[test]
fn before_login_a_large_synchronizing_literal_is_refused_before_its_bytes() {
    let server = start();
    let (mut c, greeting) = Raw::connect(server.port("imap"));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    c.set_timeout(Duration::from_secs(5));
    c.send(b"a APPEND INBOX {52428800}\r\n");
    let l = c.line();
    assert!(l.starts_with("a NO") || l.starts_with("a BAD"), "{l}");
    // A LOGIN literal is small and still welcome.
    let user = USER.as_bytes();
    c.send(format!("b LOGIN {{{}}}\r\n", user.len()).as_bytes());
    assert!(c.line().starts_with('+'));
    c.send(format!("{USER} \"{PASSWORD}\"\r\n").as_bytes());
    let r = c.until("b");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    // After login the APPENDLIMIT applies again.
    c.send(b"c APPEND INBOX {1048576}\r\n");
    assert!(c.line().starts_with('+'));
}

#[test]
fn before_login_a_large_non_synchronizing_literal_gets_bye() {
    let server = start();
    let (mut c, _) = Raw::connect(server.port("imap"));
    c.set_timeout(Duration::from_secs(5));
    c.send(b"a APPEND INBOX {52428800+}\r\n");
    // Keep sending a while, as such a client would; the server may close
    // under our feet.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..16 {
        if c.r.get_mut().write_all(&chunk).is_err() {
            break;
        }
    }
    let l = c.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(closed_within(&mut c, 5));
}

#[test]
fn an_idle_unauthenticated_connection_is_closed_after_the_login_timeout() {
    let server = start_with("[imap]\nlogin_timeout = \"2s\"\n");
    let (mut c, _) = Raw::connect(server.port("imap"));
    c.set_timeout(Duration::from_secs(10));
    let l = c.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(closed_within(&mut c, 5));
    // A logged-in session is not held to it.
    let mut c = login(&server, 10);
    std::thread::sleep(Duration::from_secs(3));
    let r = c.cmd("n NOOP");
    assert!(r.last().unwrap().starts_with("n OK"), "{r:?}");
}

// ---- item 6: SEARCH HEADER ----

#[test]
fn header_search_reads_only_headers() {
    let mut server = start();
    let mut c = login(&server, 20);
    let mut big = b"From: a@example.org\r\nX-Tag: needle\r\nSubject: big\r\n\r\n".to_vec();
    big.resize(4 * 1024 * 1024, b'y');
    for i in 0..12 {
        big[60] = b'a' + i; // distinct blobs
        let r = append(&mut c, &big);
        assert!(r.starts_with("ap OK"), "{r}");
    }
    c.cmd("s SELECT INBOX");
    std::thread::sleep(Duration::from_millis(200));
    let before = server.peak_rss_kib();
    let r = c.cmd("h SEARCH HEADER X-Tag needle");
    let all: Vec<String> = (1..=12).map(|n| n.to_string()).collect();
    assert!(r.contains(&format!("* SEARCH {}", all.join(" "))), "{r:?}");
    let r = c.cmd("h2 SORT (SUBJECT) UTF-8 HEADER X-Tag needle");
    assert!(r.last().unwrap().starts_with("h2 OK"), "{r:?}");
    let r = c.cmd("h3 THREAD REFERENCES UTF-8 HEADER X-Tag needle");
    assert!(r.last().unwrap().starts_with("h3 OK"), "{r:?}");
    // Whole messages (48 MiB) were once read and kept during the search.
    let after = server.peak_rss_kib();
    assert!(
        after < before + 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    server_still_answers(&mut server);
}

// ---- item 7: CPU-heavy patterns and sets ----

/// Sends `line` on `c`, and while the reply has not come, checks that a
/// second client is answered.
fn attack_while_others_are_served(
    server: &mut Server,
    c: &mut Raw,
    tag: &str,
    line: &str,
) -> Vec<String> {
    c.send(format!("{line}\r\n").as_bytes());
    server_still_answers(server);
    c.until(tag)
}

#[test]
fn list_with_a_64k_wildcard_pattern_answers() {
    let mut server = start();
    let mut c = login(&server, 20);
    for i in 0..20 {
        c.cmd(&format!("c CREATE \"Folder{i}/Sub{i}/Deeper{i}\""));
    }
    let pattern = "*%".repeat(30_000);
    let r = attack_while_others_are_served(
        &mut server,
        &mut c,
        "l",
        &format!("l LIST \"\" \"{pattern}x\""),
    );
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
}

#[test]
fn huge_sequence_sets_answer() {
    let mut server = start();
    let mut c = login(&server, 20);
    for i in 0..50 {
        append(&mut c, &common::message(&format!("m{i}")));
    }
    c.cmd("s SELECT INBOX");
    let many: Vec<String> = (1..=9_000u32).map(|i| (i * 2).to_string()).collect();
    let set = many.join(",");
    let half = many[..4000].join(",");
    for (tag, line) in [
        ("a", "a UID FETCH 1:4294967295 (UID)".to_string()),
        ("b", "b UID SEARCH UID 1:4294967295".to_string()),
        ("c", format!("c SEARCH UID {set}")),
        ("d", format!("d UID FETCH {set} (FLAGS)")),
        ("e", format!("e SEARCH OR UID {half} UID {half}")),
        ("f", format!("f UID STORE {set} +FLAGS (x)")),
    ] {
        let r = attack_while_others_are_served(&mut server, &mut c, tag, &line);
        assert!(
            r.last().unwrap().starts_with(&format!("{tag} OK")),
            "{line:.40}: {r:?}"
        );
    }
}

#[test]
fn full_text_prefix_queries_answer() {
    let mut server = start();
    let mut c = login(&server, 20);
    let mut body = String::new();
    for i in 0..3000 {
        body.push_str(&format!("a{i} b{i} c{i} "));
    }
    for i in 0..5 {
        let m = format!("From: a@example.org\r\nSubject: words {i}\r\n\r\n{body}\r\n");
        append(&mut c, m.as_bytes());
    }
    c.cmd("s SELECT INBOX");
    let words = vec!["a"; 2000].join(" ");
    let r = attack_while_others_are_served(
        &mut server,
        &mut c,
        "t",
        &format!("t SEARCH BODY \"{words}\""),
    );
    assert!(r.last().unwrap().starts_with("t OK"), "{r:?}");
    // Thousands of distinct prefixes, each matching many terms: refused
    // (the store's MAX_FTS_TERMS), not run.
    let words: Vec<String> = (0..2000).map(|i| format!("a{}", i % 300)).collect();
    let words = words.join(" ");
    let r = attack_while_others_are_served(
        &mut server,
        &mut c,
        "u",
        &format!("u SEARCH TEXT \"{words}\""),
    );
    assert!(r.last().unwrap().starts_with("u NO"), "{r:?}");
    let r = c.cmd("v SEARCH BODY a12");
    assert!(r.last().unwrap().starts_with("v OK"), "{r:?}");
}

// ---- malformed mailbox names ----

#[test]
fn a_name_that_is_not_modified_utf7_gets_no() {
    let mut server = start();
    let mut c = login(&server, 10);
    let r = c.cmd("c CREATE \"&Jjo!\"");
    assert!(r.last().unwrap().starts_with("c NO"), "{r:?}");
    let r = c.cmd("l LIST \"\" \"&Jjo!%*\"");
    assert!(r.last().unwrap().starts_with("l "), "{r:?}");
    assert!(
        !r.last().unwrap().starts_with("l OK") || r.len() == 1,
        "{r:?}"
    );
    let r = c.cmd("n NOOP");
    assert!(r.last().unwrap().starts_with("n OK"), "{r:?}");
    server_still_answers(&mut server);
}
