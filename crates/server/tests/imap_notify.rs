//! IMAP NOTIFY (RFC 5465) end to end: one session asks for notifications,
//! another connection changes the account, and the first receives STATUS,
//! LIST, EXISTS, FETCH and EXPUNGE responses without sending a command
//! (read with a bounded wait), and none after NOTIFY NONE.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Raw, Server, Setup};

const USER: &str = "bob@localhost";
/// How long a notification may take to arrive.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long to wait to be sure none comes.
const QUIET: Duration = Duration::from_millis(1500);

fn ok(c: &mut Raw, line: &str) -> Vec<String> {
    let r = c.cmd(line);
    let tag = line.split(' ').next().unwrap();
    assert!(
        r.last().unwrap().starts_with(&format!("{tag} OK")),
        "{line}: {r:?}"
    );
    r
}

/// APPENDs a small message with `subject` to `mailbox`.
fn append(c: &mut Raw, mailbox: &str, subject: &str) {
    let msg = format!("From: ann@example.org\r\nSubject: {subject}\r\n\r\nhi\r\n");
    c.send(format!("ap APPEND {mailbox} {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes());
    let r = c.until("ap");
    assert!(r.last().unwrap().starts_with("ap OK"), "{r:?}");
}

/// The next unsolicited line, which must come within [`ARRIVES`].
fn arrives(c: &mut Raw, what: &str) -> String {
    c.line_within(ARRIVES)
        .unwrap_or_else(|| panic!("no notification for {what}"))
}

#[test]
fn notify_reports_other_mailboxes_changes_without_a_command() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    ok(&mut b, "c1 CREATE Work");
    append(&mut b, "Work", "first");
    // RFC 5465 §3.1: with STATUS, one STATUS per mailbox before the OK.
    let r = ok(
        &mut a,
        "n1 NOTIFY SET STATUS (subtree Work (MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange))",
    );
    // (All Mail, which also holds the message, has no message events.)
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].starts_with("* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ")
            && r[0].contains(" UNSEEN 1 HIGHESTMODSEQ "),
        "{r:?}"
    );

    // MessageNew in another mailbox: STATUS (§5.1).
    append(&mut b, "Work", "second");
    assert_eq!(
        arrives(&mut a, "APPEND"),
        "* STATUS Work (MESSAGES 2 UIDNEXT 3 UNSEEN 2)"
    );
    // FlagChange: the new UNSEEN (§5.3).
    ok(&mut b, "s1 SELECT Work");
    ok(&mut b, "s2 STORE 1 +FLAGS.SILENT (\\Seen)");
    assert_eq!(arrives(&mut a, "STORE"), "* STATUS Work (UNSEEN 1)");
    // MessageExpunge (§5.2); `\Deleted` changes no STATUS item (without
    // CONDSTORE), so the next notification is the expunge's.
    ok(&mut b, "s3 STORE 2 +FLAGS.SILENT (\\Deleted)");
    ok(&mut b, "s4 CLOSE");
    assert_eq!(
        arrives(&mut a, "EXPUNGE"),
        "* STATUS Work (MESSAGES 1 UIDNEXT 3 UNSEEN 0)"
    );
    // MailboxName: created, renamed (OLDNAME), deleted (§5.4).
    ok(&mut b, "m1 CREATE Play");
    assert_eq!(
        arrives(&mut a, "CREATE"),
        "* LIST (\\HasNoChildren) \"/\" Play"
    );
    ok(&mut b, "m2 RENAME Play Games");
    assert_eq!(
        arrives(&mut a, "RENAME"),
        "* LIST (\\HasNoChildren) \"/\" Games (\"OLDNAME\" (Play))"
    );
    // SubscriptionChange (§5.5).
    ok(&mut b, "m3 UNSUBSCRIBE Games");
    assert_eq!(
        arrives(&mut a, "UNSUBSCRIBE"),
        "* LIST (\\HasNoChildren) \"/\" Games"
    );
    ok(&mut b, "m4 SUBSCRIBE Games");
    assert_eq!(
        arrives(&mut a, "SUBSCRIBE"),
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" Games"
    );
    ok(&mut b, "m5 DELETE Games");
    assert_eq!(
        arrives(&mut a, "DELETE"),
        "* LIST (\\NonExistent) \"/\" Games"
    );
    assert_eq!(a.line_within(QUIET), None, "one response per change");

    // NOTIFY NONE: nothing unsolicited any more, not even at the next
    // command for a mailbox that is not selected.
    ok(&mut a, "n2 NOTIFY NONE");
    append(&mut b, "Work", "third");
    ok(&mut b, "m6 CREATE Later");
    assert_eq!(a.line_within(QUIET), None);
    assert_eq!(a.cmd("n3 NOOP"), vec!["n3 OK NOOP completed".to_string()]);
}

#[test]
fn notify_for_the_selected_mailbox_sends_exists_fetch_and_expunge() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    ok(&mut a, "e1 ENABLE IMAP4rev2");
    ok(&mut a, "s1 SELECT INBOX");
    ok(
        &mut a,
        "n1 NOTIFY SET (selected (MessageNew (UID BODY[HEADER.FIELDS (Subject)]) MessageExpunge FlagChange)) (subtree INBOX (MessageNew))",
    );
    append(&mut b, "INBOX", "hello");
    assert_eq!(arrives(&mut a, "APPEND"), "* 1 EXISTS");
    // §5.1: the new message's attributes, unasked; BODY[] as a PEEK.
    assert_eq!(
        arrives(&mut a, "MessageNew FETCH"),
        "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {18}"
    );
    assert_eq!(arrives(&mut a, "literal"), "Subject: hello");
    assert_eq!(arrives(&mut a, "literal"), "");
    assert_eq!(arrives(&mut a, "end of FETCH"), ")");
    // No STATUS for the selected mailbox, though `subtree INBOX` names it.
    assert_eq!(a.line_within(QUIET), None);
    ok(&mut b, "s1 SELECT INBOX");
    ok(&mut b, "s2 STORE 1 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(arrives(&mut a, "STORE"), "* 1 FETCH (FLAGS (\\Flagged))");
    ok(&mut b, "s3 STORE 1 +FLAGS.SILENT (\\Deleted)");
    arrives(&mut a, "STORE \\Deleted");
    ok(&mut b, "s4 EXPUNGE");
    assert_eq!(arrives(&mut a, "EXPUNGE"), "* 1 EXPUNGE");
    // The FETCH did not set \Seen.
    append(&mut b, "INBOX", "again");
    assert_eq!(arrives(&mut a, "APPEND"), "* 1 EXISTS");
    while arrives(&mut a, "FETCH") != ")" {}
    let r = ok(&mut a, "f1 UID FETCH 2 FLAGS");
    assert_eq!(r[0], "* 1 FETCH (UID 2 FLAGS ())", "{r:?}");
}

#[test]
fn selected_delayed_holds_expunges_until_a_command_allows_them() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    append(&mut b, "INBOX", "one");
    append(&mut b, "INBOX", "two");
    ok(&mut a, "e1 ENABLE IMAP4rev2");
    ok(&mut a, "s1 SELECT INBOX");
    ok(
        &mut a,
        "n1 NOTIFY SET (selected-delayed (MessageNew MessageExpunge))",
    );
    ok(&mut b, "s1 SELECT INBOX");
    ok(&mut b, "s2 STORE 1 +FLAGS.SILENT (\\Deleted \\Seen)");
    ok(&mut b, "s3 EXPUNGE");
    // No FlagChange asked, and the expunge waits (§6).
    assert_eq!(a.line_within(QUIET), None);
    // FETCH does not allow expunges (RFC 9051 §7.5.1); NOOP does.
    let r = ok(&mut a, "f1 FETCH 1 FLAGS");
    assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{r:?}");
    let r = ok(&mut a, "n2 NOOP");
    assert_eq!(r[0], "* 1 EXPUNGE", "{r:?}");
    // New mail is still reported at once.
    append(&mut b, "INBOX", "three");
    assert_eq!(arrives(&mut a, "APPEND"), "* 2 EXISTS");
}

#[test]
fn notify_refuses_what_it_does_not_serve() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let caps = a.cmd("c CAPABILITY");
    assert!(caps[0].contains(" NOTIFY"), "{caps:?}");
    for (line, want) in [
        // §5: events this server does not serve, named in BADEVENT.
        (
            "a NOTIFY SET (personal (MessageNew AnnotationChange MailboxMetadataChange XFoo))",
            "a NO [BADEVENT (AnnotationChange MailboxMetadataChange XFoo)] ",
        ),
        // §5.1/§5.2: MessageNew and MessageExpunge together for selected.
        ("a NOTIFY SET (selected (MessageNew))", "a BAD "),
        ("a NOTIFY SET (selected (FlagChange))", "a BAD "),
        (
            "a NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
            "a BAD ",
        ),
        // Fetch attributes only for the selected mailbox.
        ("a NOTIFY SET (personal (MessageNew (UID)))", "a BAD "),
        ("a NOTIFY SET (personal)", "a BAD "),
        ("a NOTIFY SET (nowhere (MessageNew))", "a BAD "),
    ] {
        let r = a.cmd(line);
        assert!(r.last().unwrap().starts_with(want), "{line}: {r:?}");
    }
    // Too many names: NOTIFICATIONOVERFLOW, not unbounded state.
    let names: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
    let r = a.cmd(&format!(
        "a NOTIFY SET (mailboxes ({}) (MessageNew))",
        names.join(" ")
    ));
    assert!(
        r.last()
            .unwrap()
            .starts_with("a NO [NOTIFICATIONOVERFLOW] "),
        "{r:?}"
    );
    // The session goes on, and NOTIFY works afterwards.
    ok(&mut a, "b NOTIFY SET (inboxes (MessageNew MessageExpunge))");
    ok(&mut a, "c NOOP");
}

#[test]
fn notify_during_idle_and_with_condstore() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    ok(&mut b, "c1 CREATE Work");
    ok(&mut a, "e1 ENABLE CONDSTORE");
    ok(
        &mut a,
        "n1 NOTIFY SET (subtree Work (MessageNew MessageExpunge FlagChange))",
    );
    ok(&mut a, "s1 SELECT INBOX");
    a.send(b"i1 IDLE\r\n");
    assert!(a.line().starts_with('+'));
    // §4: notifications for other mailboxes arrive during IDLE too, with
    // HIGHESTMODSEQ once CONDSTORE is on (§5.1).
    append(&mut b, "Work", "during idle");
    let l = arrives(&mut a, "APPEND during IDLE");
    assert!(
        l.starts_with("* STATUS Work (MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ "),
        "{l}"
    );
    // A flag change that leaves UNSEEN alone still moves HIGHESTMODSEQ.
    ok(&mut b, "s1 SELECT Work");
    ok(&mut b, "s2 STORE 1 +FLAGS.SILENT (\\Flagged)");
    let l = arrives(&mut a, "STORE during IDLE");
    assert!(l.starts_with("* STATUS Work (HIGHESTMODSEQ "), "{l}");
    // A change to a mailbox NOTIFY does not name says nothing.
    append(&mut b, "Drafts", "elsewhere");
    assert_eq!(a.line_within(QUIET), None);
    a.send(b"DONE\r\n");
    assert_eq!(a.line(), "i1 OK IDLE terminated");
}

/// The same with Python's imaplib: `tests/imap-clients/notify.py`.
#[test]
fn imaplib_notify_and_search_updates() {
    let server = Server::start(Setup::default());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-clients/notify.py");
    let o = std::process::Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.port("imap").to_string(),
            USER,
            common::PASSWORD,
        ])
        .output()
        .unwrap();
    common::assert_success(&o, "notify.py");
}

/// With QRESYNC the selected mailbox's expunges come as VANISHED, and with
/// UIDONLY (RFC 9586) MessageNew's FETCH as UIDFETCH, between commands too.
#[test]
fn notify_for_the_selected_mailbox_follows_qresync_and_uidonly() {
    let server = Server::start(Setup::default());
    let port = server.port("imap");
    let mut a = Raw::imap_login(port, USER);
    let mut b = Raw::imap_login(port, USER);
    append(&mut b, "INBOX", "one");
    ok(&mut a, "e1 ENABLE IMAP4rev2 QRESYNC UIDONLY");
    ok(&mut a, "s1 SELECT INBOX");
    ok(
        &mut a,
        "n1 NOTIFY SET (selected (MessageNew (FLAGS) MessageExpunge))",
    );
    append(&mut b, "INBOX", "two");
    assert_eq!(arrives(&mut a, "APPEND"), "* 2 EXISTS");
    assert_eq!(arrives(&mut a, "FETCH"), "* 2 UIDFETCH (FLAGS ())");
    ok(&mut b, "s1 SELECT INBOX");
    ok(&mut b, "s2 STORE 1 +FLAGS.SILENT (\\Deleted)");
    ok(&mut b, "s3 EXPUNGE");
    assert_eq!(arrives(&mut a, "EXPUNGE"), "* VANISHED 1");
}
