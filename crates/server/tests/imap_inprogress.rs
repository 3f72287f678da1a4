//! RFC 9585 INPROGRESS end to end: a SEARCH, SORT or THREAD over a large
//! mailbox reports its progress with `* OK [INPROGRESS ("tag" count
//! goal)]` while it runs. The server runs with `[imap] progress_interval =
//! "0s"`, so that every piece of the search is reported whatever the
//! machine's speed (no wall-clock assertion); imaplib drives it
//! (`tests/imap-clients/inprogress.py`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::{PASSWORD, Server, Setup, assert_success};

const USER: &str = "bob@localhost";
const MESSAGES: usize = 2000;
/// Every this many messages carries the `X-Marker: yes` header and a
/// subject with "marked".
const EVERY: usize = 100;

#[test]
fn search_sort_and_thread_report_progress_with_their_tag() {
    let server = Server::start(Setup {
        extra: "[imap]\nprogress_interval = \"0s\"\n",
        ..Setup::default()
    });
    // Fast population: one mbox file through `tidings import`.
    let mut mbox = String::new();
    for i in 0..MESSAGES {
        let marked = i % EVERY == 0;
        mbox.push_str(&format!(
            "From ann@example.org Thu Dec  3 00:00:00 2026\n\
             From: Ann <ann@example.org>\nTo: {USER}\n\
             Subject: {} {i}\nMessage-ID: <m{i}@example.org>\n{}\nHello {i}\n\n",
            if marked { "marked" } else { "plain" },
            if marked { "X-Marker: yes\n" } else { "" },
        ));
    }
    let path = server.path("big.mbox");
    std::fs::write(&path, mbox).unwrap();
    let out = server.ok(&["import", "mbox", path.to_str().unwrap(), "--to", USER]);
    assert!(
        out.contains(&format!("imported {MESSAGES} messages")),
        "{out}"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-clients/inprogress.py");
    let o = Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.port("imap").to_string(),
            USER,
            PASSWORD,
            &MESSAGES.to_string(),
            &(MESSAGES / EVERY).to_string(),
        ])
        .output()
        .unwrap();
    assert_success(&o, "inprogress.py");
}
