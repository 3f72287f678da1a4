//! Hostile clients against the real `tidings serve`: password guessing that
//! interleaves its guesses with logins to the guesser's own account, the
//! per-IP connection limit, silent unauthenticated POP3 connections, and the
//! permissions of everything the server writes to its data directory.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{PASSWORD, Raw, Server, Setup};

/// Failed logins from one address before it is refused (the test config).
const MAX_FAILURES: u32 = 3;

/// `[limits]` for the login tests: a low failure limit and short delays so
/// that a test runs in seconds.
const LOGIN_LIMITS: &str = "[limits]\nmax_login_failures = 3\nlogin_failure_delay = \"50ms\"\n";

const VICTIM: &str = "victim@localhost";
const ATTACKER: &str = "mallory@localhost";

fn start(protocols: &[&str], extra: &str) -> Server {
    Server::start(Setup {
        protocols,
        users: &[VICTIM, ATTACKER],
        extra,
        ..Setup::default()
    })
}

/// Regression: a successful login cleared the failure count of the whole
/// address, so whoever had one account could guess another's password
/// without limit (wrong for the victim, right for themself, repeat); the
/// victim's right password was then still accepted. Now the guesses stay
/// counted and the address is refused.
#[test]
fn imap_guessing_interleaved_with_own_logins_is_cut_off() {
    let server = start(&["imap"], LOGIN_LIMITS);
    let port = server.port("imap");
    for round in 1..=MAX_FAILURES + 1 {
        let (mut c, greeting) = Raw::connect(port);
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let r = c.cmd(&format!("g1 LOGIN {VICTIM} \"guess {round}\""));
        let last = r.last().unwrap();
        assert!(last.starts_with("g1 NO"), "round {round}: {r:?}");
        if round > MAX_FAILURES {
            // Over the limit: refused without the password being checked.
            assert!(last.contains("[UNAVAILABLE]"), "round {round}: {r:?}");
            continue;
        }
        // The guesser's own account; at the limit it is refused too.
        let r = c.cmd(&format!("g2 LOGIN {ATTACKER} \"{PASSWORD}\""));
        if round < MAX_FAILURES {
            assert!(
                r.last().unwrap().starts_with("g2 OK"),
                "round {round}: {r:?}"
            );
            c.cmd("g3 LOGOUT");
        }
    }
    // The victim's right password is refused from this address now.
    let (mut c, _) = Raw::connect(port);
    let r = c.cmd(&format!("v1 LOGIN {VICTIM} \"{PASSWORD}\""));
    let last = r.last().unwrap();
    assert!(
        last.starts_with("v1 NO") && last.contains("[UNAVAILABLE]"),
        "the victim's password was accepted after {} wrong guesses: {r:?}",
        MAX_FAILURES + 1
    );
}

/// The same attack over POP3 USER/PASS.
#[test]
fn pop3_guessing_interleaved_with_own_logins_is_cut_off() {
    let server = start(&["pop3"], LOGIN_LIMITS);
    let port = server.port("pop3");
    let pop = |c: &mut Raw, line: &str| {
        c.send(format!("{line}\r\n").as_bytes());
        c.line()
    };
    for round in 1..=MAX_FAILURES + 1 {
        let (mut c, greeting) = Raw::connect(port);
        assert!(greeting.starts_with("+OK"), "{greeting}");
        assert!(pop(&mut c, &format!("USER {VICTIM}")).starts_with("+OK"));
        let r = pop(&mut c, &format!("PASS guess {round}"));
        assert!(r.starts_with("-ERR"), "round {round}: {r}");
        if round > MAX_FAILURES {
            assert!(r.starts_with("-ERR [LOGIN-DELAY]"), "round {round}: {r}");
            continue;
        }
        assert!(pop(&mut c, &format!("USER {ATTACKER}")).starts_with("+OK"));
        let r = pop(&mut c, &format!("PASS {PASSWORD}"));
        if round < MAX_FAILURES {
            assert!(r.starts_with("+OK"), "round {round}: {r}");
        }
        pop(&mut c, "QUIT");
    }
    let (mut c, _) = Raw::connect(port);
    assert!(pop(&mut c, &format!("USER {VICTIM}")).starts_with("+OK"));
    let r = pop(&mut c, &format!("PASS {PASSWORD}"));
    assert!(
        r.starts_with("-ERR [LOGIN-DELAY]"),
        "the victim's password was accepted after {} wrong guesses: {r}",
        MAX_FAILURES + 1
    );
}

/// An SMTP reply (the lines of a multi-line one joined by newlines).
fn smtp_reply(c: &mut Raw) -> String {
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        assert!(!l.is_empty(), "connection closed after {lines:?}");
        let last = l.as_bytes().get(3) != Some(&b'-');
        lines.push(l);
        if last {
            return lines.join("\n");
        }
    }
}

fn smtp(c: &mut Raw, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes());
    smtp_reply(c)
}

/// RFC 4616 PLAIN: base64 of `\0user\0password` (RFC 4648 §4).
fn plain(user: &str, password: &str) -> String {
    common::base64_encode(format!("\0{user}\0{password}").as_bytes())
}

/// The same attack over SMTP AUTH on the submission port.
#[test]
fn smtp_auth_guessing_interleaved_with_own_logins_is_cut_off() {
    let server = start(&["submission"], LOGIN_LIMITS);
    let port = server.port("submission");
    let session = || {
        let (mut c, greeting) = Raw::connect(port);
        assert!(greeting.starts_with("220"), "{greeting}");
        let ehlo = smtp(&mut c, "EHLO client.example");
        assert!(ehlo.contains("AUTH"), "{ehlo}");
        c
    };
    for round in 1..=MAX_FAILURES + 1 {
        let mut c = session();
        let r = smtp(
            &mut c,
            &format!("AUTH PLAIN {}", plain(VICTIM, &format!("guess {round}"))),
        );
        if round > MAX_FAILURES {
            assert!(r.starts_with("454"), "round {round}: {r}");
            continue;
        }
        assert!(r.starts_with("535"), "round {round}: {r}");
        let r = smtp(&mut c, &format!("AUTH PLAIN {}", plain(ATTACKER, PASSWORD)));
        if round < MAX_FAILURES {
            assert!(r.starts_with("235"), "round {round}: {r}");
        }
        smtp(&mut c, "QUIT");
    }
    let mut c = session();
    let r = smtp(&mut c, &format!("AUTH PLAIN {}", plain(VICTIM, PASSWORD)));
    assert!(
        r.starts_with("454"),
        "the victim's password was accepted after {} wrong guesses: {r}",
        MAX_FAILURES + 1
    );
}

/// The per-IP connection limit holds over every port (and, unit-tested in
/// `tidings-net`, over an IPv6 /64).
#[test]
fn connections_over_the_per_ip_limit_are_closed() {
    let server = start(&["pop3", "imap"], "[limits]\nmax_connections_per_ip = 3\n");
    let (_a, g) = Raw::connect(server.port("pop3"));
    assert!(g.starts_with("+OK"), "{g}");
    let (_b, g) = Raw::connect(server.port("imap"));
    assert!(g.starts_with("* OK"), "{g}");
    let (_c, g) = Raw::connect(server.port("pop3"));
    assert!(g.starts_with("+OK"), "{g}");
    let (mut over, g) = Raw::connect(server.port("imap"));
    assert_eq!(g, "", "the fourth connection was greeted");
    assert!(over.closed());
}

/// Regression: a POP3 connection that never logged in and said nothing
/// stayed open for the 10-minute autologout (30 minutes measured). Now it
/// is closed after the (configurable) login timeout, while a logged-in
/// session keeps the RFC 1939 §3 autologout.
#[test]
fn silent_unauthenticated_pop3_connections_are_closed() {
    let server = start(&["pop3"], "[pop3]\nlogin_timeout = \"1s\"\n");
    let port = server.port("pop3");
    let (mut silent, greeting) = Raw::connect(port);
    assert!(greeting.starts_with("+OK"), "{greeting}");

    let (mut user, _) = Raw::connect(port);
    user.send(format!("USER {VICTIM}\r\nPASS {PASSWORD}\r\n").as_bytes());
    assert!(user.line().starts_with("+OK"));
    assert!(user.line().starts_with("+OK"));

    let bye = silent.line();
    assert!(bye.starts_with("-ERR"), "{bye:?}");
    assert!(silent.closed());

    // Idle for longer than the login timeout, the logged-in session is
    // still there.
    std::thread::sleep(Duration::from_millis(1500));
    user.send(b"STAT\r\n");
    let stat = user.line();
    assert!(stat.starts_with("+OK"), "{stat}");
}

#[cfg(unix)]
fn loose_entries(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut loose = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            loose.push(format!("{} {mode:o}", path.display()));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    loose
}

/// Regression: the data directory, the database and the blobs were made
/// with the default umask (directories 0755, files 0644): world-readable
/// mail and password hashes. Everything under the data directory must be
/// private to the server's user, and a data directory found loose is
/// tightened when the server starts.
#[cfg(unix)]
#[test]
fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = start(&["imap", "pop3"], "");
    let data = server.path("data");
    // A small message (in the database) and a large one (a blob file).
    server.deliver(VICTIM, &common::message("small"));
    let mut big = common::message("big");
    big.extend(std::iter::repeat_n(b"0123456789abcdef\r\n".as_slice(), 8000).flatten());
    server.deliver(VICTIM, &big);
    // Mail stored through a session as well.
    let mut c = Raw::imap_login(server.port("imap"), VICTIM);
    let r = c.cmd("s1 SELECT INBOX");
    assert!(r.iter().any(|l| l == "* 2 EXISTS"), "{r:?}");
    let loose = loose_entries(&data);
    assert!(loose.is_empty(), "group/other can reach: {loose:#?}");

    // A data directory left loose by an older version is tightened.
    server.terminate();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("tidings.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    server.kill_and_restart();
    let loose = loose_entries(&data);
    assert!(loose.is_empty(), "not tightened at start: {loose:#?}");
}
