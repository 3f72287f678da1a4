//! CONTEXT=SEARCH (RFC 5267 §4) end to end: a SEARCH with RETURN (UPDATE)
//! is kept up to date with `ESEARCH ... ADDTO/REMOVEFROM` as another
//! connection changes the mailbox, until CANCELUPDATE.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Raw, Server, Setup};

const USER: &str = "bob@localhost";

fn ok(c: &mut Raw, line: &str) -> Vec<String> {
    let r = c.cmd(line);
    let tag = line.split(' ').next().unwrap();
    assert!(
        r.last().unwrap().starts_with(&format!("{tag} OK")),
        "{line}: {r:?}"
    );
    r
}

fn append(c: &mut Raw, subject: &str) {
    let msg = format!("From: ann@example.org\r\nSubject: {subject}\r\n\r\nhi\r\n");
    c.send(format!("ap APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes());
    let r = c.until("ap");
    assert!(r.last().unwrap().starts_with("ap OK"), "{r:?}");
}

/// Two sessions of one user, both with INBOX selected (A in IMAP4rev2, so
/// no RECENT), INBOX holding `n` unseen messages.
fn two_sessions(server: &Server, n: usize) -> (Raw, Raw) {
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    for i in 0..n {
        append(&mut b, &format!("m{i}"));
    }
    ok(&mut a, "e1 ENABLE IMAP4rev2");
    ok(&mut a, "s1 SELECT INBOX");
    ok(&mut b, "s1 SELECT INBOX");
    (a, b)
}

#[test]
fn search_update_follows_the_mailbox_until_cancelupdate() {
    let server = Server::start(Setup::default());
    let (mut a, mut b) = two_sessions(&server, 2);
    let r = ok(&mut a, "a1 UID SEARCH RETURN (UPDATE ALL) UNSEEN");
    assert_eq!(r[0], "* ESEARCH (TAG \"a1\") UID ALL 1:2", "{r:?}");
    let r = ok(&mut a, "a2 SEARCH RETURN (UPDATE COUNT) ALL");
    assert_eq!(r[0], "* ESEARCH (TAG \"a2\") COUNT 2", "{r:?}");
    // A message stops matching (§4.3.2): REMOVEFROM, after its FETCH.
    ok(&mut b, "b1 STORE 1 +FLAGS.SILENT (\\Seen)");
    let r = ok(&mut a, "n1 NOOP");
    assert_eq!(
        r,
        vec![
            "* 1 FETCH (FLAGS (\\Seen))",
            "* ESEARCH (TAG \"a1\") UID REMOVEFROM (0 1)",
            "n1 OK NOOP completed",
        ]
    );
    // New mail matches both (§4.3.3): ADDTO after EXISTS; message numbers
    // for the SEARCH without UID.
    append(&mut b, "new");
    let r = ok(&mut a, "n2 NOOP");
    assert_eq!(
        r,
        vec![
            "* 3 EXISTS",
            "* ESEARCH (TAG \"a1\") UID ADDTO (0 3)",
            "* ESEARCH (TAG \"a2\") ADDTO (0 3)",
            "n2 OK NOOP completed",
        ]
    );
    // An expunged result leaves before the EXPUNGE, numbered as the client
    // still numbers it.
    ok(&mut b, "b2 STORE 2 +FLAGS.SILENT (\\Deleted)");
    ok(&mut b, "b3 EXPUNGE");
    let r = ok(&mut a, "n3 NOOP");
    assert_eq!(
        r,
        vec![
            "* ESEARCH (TAG \"a1\") UID REMOVEFROM (0 2)",
            "* ESEARCH (TAG \"a2\") REMOVEFROM (0 2)",
            "* 2 EXPUNGE",
            "n3 OK NOOP completed",
        ]
    );
    // §4.4: CANCELUPDATE ends them; an unknown tag is NO.
    ok(&mut a, "c1 CANCELUPDATE \"a1\" \"a2\"");
    append(&mut b, "after");
    let r = ok(&mut a, "n4 NOOP");
    assert_eq!(r, vec!["* 3 EXISTS", "n4 OK NOOP completed"]);
    let r = a.cmd("c2 CANCELUPDATE \"a1\"");
    assert!(r[0].starts_with("c2 NO "), "{r:?}");
    // A new SELECT ends every context.
    ok(&mut a, "a3 UID SEARCH RETURN (UPDATE) UNSEEN");
    ok(&mut a, "s2 SELECT INBOX");
    ok(&mut b, "b4 STORE 3 +FLAGS.SILENT (\\Seen)");
    let r = ok(&mut a, "n5 NOOP");
    assert!(!r.iter().any(|l| l.contains("ESEARCH")), "{r:?}");
}

#[test]
fn search_updates_come_unasked_with_notify() {
    let server = Server::start(Setup::default());
    let (mut a, mut b) = two_sessions(&server, 1);
    ok(
        &mut a,
        "n1 NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))",
    );
    ok(&mut a, "a1 UID SEARCH RETURN (UPDATE) FLAGGED");
    ok(&mut b, "b1 STORE 1 +FLAGS.SILENT (\\Flagged)");
    let wait = Duration::from_secs(10);
    assert_eq!(
        a.line_within(wait).as_deref(),
        Some("* 1 FETCH (FLAGS (\\Flagged))")
    );
    assert_eq!(
        a.line_within(wait).as_deref(),
        Some("* ESEARCH (TAG \"a1\") UID ADDTO (0 1)")
    );
}

#[test]
fn search_contexts_that_cannot_be_kept_say_noupdate() {
    let server = Server::start(Setup::default());
    let (mut a, _b) = two_sessions(&server, 2);
    let caps = a.cmd("c CAPABILITY");
    assert!(caps[0].contains(" CONTEXT=SEARCH"), "{caps:?}");
    assert!(caps[0].contains(" CONTEXT=SORT"), "{caps:?}");
    // Message numbers move as the mailbox changes: the search answers,
    // without updates (§4.4.1).
    let r = ok(&mut a, "a1 SEARCH RETURN (UPDATE ALL) 1:2");
    assert_eq!(
        r[..2],
        [
            "* ESEARCH (TAG \"a1\") ALL 1:2".to_string(),
            "* NO [NOUPDATE \"a1\"] A search naming messages by number is not kept up to date"
                .to_string()
        ]
    );
    let r = ok(&mut a, "a2 SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 1");
    assert!(r[1].starts_with("* NO [NOUPDATE \"a2\"] "), "{r:?}");
    // CONTEXT is a hint; UPDATE alone answers a bare ESEARCH.
    let r = ok(&mut a, "a3 SEARCH RETURN (CONTEXT) ALL");
    assert_eq!(r[0], "* ESEARCH (TAG \"a3\") ALL 1:2");
    // A tag in use is BAD; ten contexts at most.
    let r = a.cmd("a3 SEARCH RETURN (UPDATE) ALL");
    assert_eq!(r[0], "* ESEARCH (TAG \"a3\")");
    let r = a.cmd("a3 SEARCH RETURN (UPDATE) ALL");
    assert!(r[0].starts_with("a3 BAD "), "{r:?}");
    for i in 0..8 {
        ok(&mut a, &format!("k{i} SEARCH RETURN (UPDATE) ALL"));
    }
    let r = a.cmd("k0 SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL");
    assert!(r[0].starts_with("k0 BAD "), "{r:?}");
    ok(&mut a, "k8 SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL");
    let r = ok(&mut a, "k9 SEARCH RETURN (UPDATE) ALL");
    assert!(r[1].starts_with("* NO [NOUPDATE \"k9\"] "), "{r:?}");
    let r = a.cmd("u1 UNSELECT");
    assert!(r[0].starts_with("u1 OK"), "{r:?}");
    let r = a.cmd("c1 CANCELUPDATE \"k0\"");
    assert!(r[0].starts_with("c1 BAD "), "{r:?}");
}

/// The session's own EXPUNGE and MOVE: the result leaves the context before
/// the EXPUNGE, in the message numbers the client still has (it vanished
/// from a message-number context without a REMOVEFROM before).
#[test]
fn own_expunge_and_move_remove_from_contexts_first() {
    let server = Server::start(Setup::default());
    let (mut a, _b) = two_sessions(&server, 3);
    ok(&mut a, "a1 SEARCH RETURN (UPDATE) ALL");
    ok(&mut a, "s1 STORE 2 +FLAGS.SILENT (\\Deleted)");
    let r = ok(&mut a, "e1 EXPUNGE");
    assert_eq!(
        r,
        vec![
            "* ESEARCH (TAG \"a1\") REMOVEFROM (0 2)",
            "* 2 EXPUNGE",
            "e1 OK EXPUNGE completed"
        ]
    );
    let r = ok(&mut a, "m1 MOVE 2 Trash");
    assert_eq!(r[1], "* ESEARCH (TAG \"a1\") REMOVEFROM (0 2)", "{r:?}");
    assert_eq!(r[2], "* 2 EXPUNGE", "{r:?}");
}

/// CONTEXT=SORT (RFC 5267 §4.3.3): updates carry positions in sort order,
/// removals before the EXPUNGE, insertions where the message sorts.
#[test]
fn sort_update_reports_positions_in_sort_order() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    for s in ["d", "b", "f"] {
        append(&mut b, s);
    }
    ok(&mut a, "e1 ENABLE IMAP4rev2");
    ok(&mut a, "s1 SELECT INBOX");
    ok(&mut b, "s1 SELECT INBOX");
    let r = ok(
        &mut a,
        "a1 UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL",
    );
    assert_eq!(r[0], "* ESEARCH (TAG \"a1\") UID ALL 2,1,3", "{r:?}");
    let r = ok(
        &mut a,
        "a2 SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 ALL",
    );
    assert_eq!(r[0], "* ESEARCH (TAG \"a2\")", "{r:?}");
    // "c" sorts second (b c d f), and third in reverse (f d c b).
    append(&mut b, "c");
    let r = ok(&mut a, "n1 NOOP");
    assert_eq!(
        r,
        vec![
            "* 4 EXISTS",
            "* ESEARCH (TAG \"a1\") UID ADDTO (2 4)",
            "* ESEARCH (TAG \"a2\") ADDTO (3 4)",
            "n1 OK NOOP completed",
        ]
    );
    // "d" (UID 1, message 1) leaves: position 3 in b c d f, 2 in f d c b.
    ok(&mut b, "b1 STORE 1 +FLAGS.SILENT (\\Deleted)");
    ok(&mut b, "b2 EXPUNGE");
    let r = ok(&mut a, "n2 NOOP");
    assert_eq!(
        r,
        vec![
            "* ESEARCH (TAG \"a1\") UID REMOVEFROM (3 1)",
            "* ESEARCH (TAG \"a2\") REMOVEFROM (2 1)",
            "* 1 EXPUNGE",
            "n2 OK NOOP completed",
        ]
    );
}
