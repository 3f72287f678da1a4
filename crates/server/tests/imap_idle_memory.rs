//! Memory of clients that sit in IDLE: a connection waiting for input must
//! not hold a full read buffer (it held 16 KiB on its task's stack, 35 KB a
//! connection in all) nor room for work it is not doing (100,000 IDLE
//! clients are the goal); and every one of them still gets its push.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{Raw, Server, Setup};

/// Opens a session for `user` that is in IDLE on INBOX.
fn idling(port: u16, user: &str) -> Raw {
    let mut c = Raw::imap_login(port, user);
    let r = c.cmd("s SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    c.send(b"i IDLE\r\n");
    let l = c.line();
    assert!(l.starts_with('+'), "{l}");
    c
}

#[test]
fn idle_connections_are_cheap_and_each_gets_the_exists_push() {
    let server = Server::start(Setup {
        extra: "[limits]\nmax_connections_per_ip = 2000\nmax_connections = 2000\n",
        ..Setup::default()
    });
    let port = server.port("imap");
    // Warm-up: the password cache, the store's connections, the runtime.
    let mut clients: Vec<Raw> = (0..50).map(|_| idling(port, "bob@localhost")).collect();
    let before = server.rss_kib();
    const N: u64 = 1000;
    clients.extend((0..N).map(|_| idling(port, "bob@localhost")));
    let after = server.rss_kib();
    let per_connection = (after.saturating_sub(before)) * 1024 / N;
    eprintln!("{per_connection} bytes per IDLE connection ({before} KiB -> {after} KiB)");
    // Before: 26 KB a connection here (debug build, empty mailbox), the 16
    // KiB read buffer among it; then about 5–7 KB, of which the
    // connection's future was 4.9 KB and the listener's task 1.7 KB (the
    // room of the largest command's future and of a TLS handshake); 3.4
    // KB with those boxed while they run.
    assert!(
        per_connection < 6 * 1024,
        "{per_connection} bytes per IDLE connection ({before} KiB -> {after} KiB)"
    );
    // Cheap and still awake: a message appended by another session is
    // pushed to every one of them (RFC 2177: EXISTS during IDLE).
    let mut writer = Raw::imap_login(port, "bob@localhost");
    let msg = common::message("to everyone idling");
    writer.send(format!("a APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
    writer.send(&msg);
    writer.send(b"\r\n");
    let r = writer.until("a");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    for (i, c) in clients.iter_mut().enumerate() {
        let mut seen = Vec::new();
        loop {
            let l = c.line();
            assert!(!l.is_empty(), "client {i}: closed; got {seen:?}");
            let done = l == "* 1 EXISTS";
            seen.push(l);
            if done {
                break;
            }
            assert!(seen.len() < 4, "client {i}: no EXISTS; got {seen:?}");
        }
    }
    for mut c in clients {
        c.send(b"DONE\r\n");
        let r = c.until("i");
        assert!(r.last().unwrap().starts_with("i OK"), "{r:?}");
    }
}
