//! Memory of clients that sit in IDLE: a connection waiting for input must
//! not hold a full read buffer (it held 16 KiB on its task's stack, 35 KB a
//! connection in all; 100,000 IDLE clients are the goal).
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
fn idle_connections_do_not_each_hold_a_read_buffer() {
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
    // Before: 26 KB a connection here (debug build, empty mailbox), the 16
    // KiB read buffer among it; after: about 7 KB (the session, its view,
    // the task).
    assert!(
        per_connection < 16 * 1024,
        "{per_connection} bytes per IDLE connection ({before} KiB -> {after} KiB)"
    );
    for mut c in clients {
        c.send(b"DONE\r\n");
    }
}
