//! The shared harness itself: every listener binds its own port and the
//! harness finds it in the log.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{Raw, Server, Setup};

#[test]
fn every_requested_listener_reports_its_own_port() {
    let server = Server::start(Setup {
        protocols: &["imap", "pop3", "smtp"],
        ..Setup::default()
    });
    let (_, greeting) = Raw::connect(server.port("imap"));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let (_, greeting) = Raw::connect(server.port("pop3"));
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let (_, greeting) = Raw::connect(server.port("smtp"));
    assert!(greeting.starts_with("220 "), "{greeting}");
    let mut c = Raw::imap_login(server.port("imap"), "bob@localhost");
    let r = c.cmd("a LOGOUT");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
}
