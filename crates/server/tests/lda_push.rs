//! Mail stored by another process (`tidings deliver`, the local delivery
//! agent another MTA calls) reaches an IMAP client in IDLE on the running
//! server at once: the server notices commits it did not make and tells
//! its sessions, rather than leaving them to their periodic check (30 s).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_message_from_tidings_deliver_wakes_an_idle_session() {
    let server = Server::start(Setup::default());
    let mut c = Raw::imap_login(server.port("imap"), "bob@localhost");
    let r = c.cmd("s1 SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s1 OK"), "{r:?}");
    c.send(b"i1 IDLE\r\n");
    assert!(c.line().starts_with("+ "));
    server.deliver("bob@localhost", &message("from the LDA"));
    // Well inside the 30 s periodic check: only a wake-up gets it here.
    let line = c.line_within(Duration::from_secs(10));
    assert_eq!(
        line.as_deref(),
        Some("* 1 EXISTS"),
        "no push for the LDA's message"
    );
    c.send(b"DONE\r\n");
    let done = c.until("i1");
    assert!(done.last().unwrap().starts_with("i1 OK"), "{done:?}");
    let found = c.cmd("f1 SEARCH SUBJECT \"from the LDA\"");
    assert!(found.iter().any(|l| l == "* SEARCH 1"), "{found:?}");
}
