//! Forwarding end to end: aliases with several local and remote targets,
//! the Sender Rewriting Scheme on forwarded mail and on the bounces that
//! come back through it, and loop detection. The real `tidings serve`,
//! driven by Python's smtplib and swaks; the remote server is Postfix's
//! `smtp-sink`, which records each message's envelope (`X-Mail-Args`,
//! `X-Rcpt-Args`). SRS addresses are also computed independently in
//! Python (hmac, base64), from the key file, in the libsrs2 format.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::sink::Sink;
use common::{Server, Setup, assert_success, free_port};
use tidings_store::Store;
use tidings_types::MailboxRole;

/// example.org with bob and ann; `elsewhere.net` and `sender.test` are
/// remote, both at the sink.
fn start(extra: &str) -> (Server, Sink) {
    start_with(extra, "")
}

/// [`start`] with more `[smtp.mx]` routes.
fn start_with(extra: &str, routes: &str) -> (Server, Sink) {
    let port = free_port();
    let server = Server::start(Setup {
        protocols: &["smtp"],
        domains: &["example.org"],
        users: &["bob@example.org", "ann@example.org"],
        top: "hostname = \"mx.example.org\"",
        extra: &format!(
            "[smtp]\nretry_after = \"1s\"\n{extra}\n[smtp.mx]\n\"elsewhere.net\" = \"127.0.0.1:{port}\"\n\"sender.test\" = \"127.0.0.1:{port}\"\n{routes}"
        ),
        ..Setup::default()
    });
    let sink = Sink::start(server.dir.path(), port, &[]);
    (server, sink)
}

/// Sends with smtplib; prints `OK` or the refusal (`code message`) of
/// RCPT or DATA. argv: port, sender ('' for <>), recipient, message file.
const SEND: &str = r#"
import smtplib, sys
port, sender, rcpt, path = sys.argv[1:5]
msg = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", int(port), timeout=20)
s.ehlo("client.sender.test")
try:
    s.sendmail(sender, [rcpt], msg)
    print("OK")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients[rcpt]
    print(code, text.decode())
except smtplib.SMTPDataError as e:
    print(e.smtp_code, e.smtp_error.decode())
s.quit()
"#;

fn send(server: &Server, from: &str, to: &str, msg: &str) -> String {
    let path = server.path("msg.eml");
    std::fs::write(&path, msg.replace('\n', "\r\n")).unwrap();
    let o = Command::new("python3")
        .args(["-c", SEND, &server.port("smtp").to_string(), from, to])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn inbox(store: &Store, user: &str) -> Vec<String> {
    let account = store.account(user).unwrap().unwrap().id;
    let mailbox = store
        .mailbox_by_role(account, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    store
        .mailbox_entries(account, mailbox.id)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8(store.email_raw(account, e.email).unwrap()).unwrap())
        .collect()
}

/// An SRS0 address made in Python from the server's key file, `days_ago`
/// days old: the libsrs2 algorithm written independently of the server's.
const SRS0: &str = r#"
import base64, hashlib, hmac, sys, time
key = open(sys.argv[1]).read().split("\n")[0].strip().encode()
user, host, days_ago = sys.argv[2], sys.argv[3], int(sys.argv[4])
chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
day = (int(time.time()) // 86400 - days_ago) % 1024
stamp = chars[(day >> 5) & 31] + chars[day & 31]
mac = hmac.new(key, (stamp + host + user).lower().encode(), hashlib.sha1).digest()
h = base64.b64encode(mac).decode()[:4]
print("SRS0=%s=%s=%s=%s@example.org" % (h, stamp, host, user))
"#;

fn python_srs0(server: &Server, user: &str, host: &str, days_ago: u32) -> String {
    let o = Command::new("python3")
        .args(["-c", SRS0])
        .arg(server.path("data/srs.key"))
        .args([user, host, &days_ago.to_string()])
        .output()
        .unwrap();
    assert_success(&o, "python3 srs0");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// The envelope sender smtp-sink recorded.
fn mail_from(dump: &str) -> String {
    let line = dump
        .lines()
        .find(|l| l.starts_with("X-Mail-Args:"))
        .unwrap_or_else(|| panic!("no X-Mail-Args in {dump}"));
    let args = line["X-Mail-Args:".len()..].trim();
    let start = args.find('<').unwrap();
    let end = args.find('>').unwrap();
    args[start + 1..end].to_string()
}

#[test]
fn an_alias_with_local_and_remote_targets_stores_once_each_and_forwards_with_srs() {
    let (server, sink) = start("");
    let out = server.ok(&[
        "alias",
        "add",
        "team@example.org",
        "bob@example.org",
        "ann@example.org",
        "carol@elsewhere.net",
        "bob+dup@example.org",
    ]);
    assert!(out.contains("team@example.org ->"), "{out}");
    let list = server.ok(&["alias", "list"]);
    assert!(
        list.contains(
            "team@example.org -> bob@example.org, ann@example.org, carol@elsewhere.net, bob+dup@example.org"
        ),
        "{list}"
    );
    let got = send(
        &server,
        "alice@sender.test",
        "team@example.org",
        "From: alice@sender.test\nSubject: to the team\n\nhello team\n",
    );
    assert_eq!(got, "OK");

    // The remote copy: the sender rewritten into our domain (SPF at the
    // next hop checks example.org, whose record names us), Delivered-To
    // naming the alias.
    let remote = sink.wait_for("Subject: to the team");
    assert!(
        remote.contains("X-Rcpt-Args: <carol@elsewhere.net>"),
        "{remote}"
    );
    let srs = mail_from(&remote);
    assert!(srs.starts_with("SRS0="), "{srs}");
    assert!(srs.ends_with("=sender.test=alice@example.org"), "{srs}");
    assert!(
        remote.contains("Delivered-To: team@example.org"),
        "{remote}"
    );
    // The same address as Python computes from the key file.
    assert_eq!(srs, python_srs0(&server, "alice", "sender.test", 0));

    // One stored copy per account, even when two targets reach bob.
    let store = Store::open(&server.path("data")).unwrap();
    for user in ["bob@example.org", "ann@example.org"] {
        let mails = inbox(&store, user);
        assert_eq!(mails.len(), 1, "{user}: {mails:?}");
        assert!(
            mails[0].starts_with("Delivered-To: team@example.org\r\n"),
            "{}",
            mails[0]
        );
        assert!(mails[0].contains("hello team"));
    }
    store.close();

    // The bounce comes back to the SRS address: verified, and forwarded
    // to the original sender with the null sender kept null.
    let bounce = swaks(&[
        "--server",
        &format!("127.0.0.1:{}", server.port("smtp")),
        "--from",
        "<>",
        "--to",
        &srs,
        "--h-Subject",
        "Undelivered Mail Returned to Sender",
    ]);
    assert!(bounce.contains("250 2.0.0 OK"), "{bounce}");
    let back = sink.wait_for("Subject: Undelivered Mail Returned to Sender");
    assert!(back.contains("X-Rcpt-Args: <alice@sender.test>"), "{back}");
    assert_eq!(mail_from(&back), "");
}

/// Runs swaks; returns its transcript (it exits non-zero on a refusal).
fn swaks(args: &[&str]) -> String {
    let o = Command::new("swaks")
        .args(["--timeout", "20", "--hide-informational"])
        .args(args)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn forged_and_expired_srs_addresses_are_refused_and_a_fresh_one_accepted() {
    let (server, sink) = start("");
    // Made by Python with our key: 3 days old is fine, 30 is too old.
    let fresh = python_srs0(&server, "alice", "sender.test", 3);
    assert_eq!(
        send(&server, "", &fresh, "Subject: fresh bounce\n\nx\n"),
        "OK"
    );
    let back = sink.wait_for("Subject: fresh bounce");
    assert!(back.contains("X-Rcpt-Args: <alice@sender.test>"), "{back}");

    let old = python_srs0(&server, "alice", "sender.test", 30);
    let got = send(&server, "", &old, "Subject: old\n\nx\n");
    assert!(got.starts_with("550 5.7.1"), "{got}");
    assert!(got.contains("too old"), "{got}");
    // The user changed: the hash no longer matches.
    let forged = fresh.replace("=alice@", "=mallory@");
    let got = send(&server, "", &forged, "Subject: forged\n\nx\n");
    assert!(got.starts_with("550 5.7.1"), "{got}");
    // Garbage in SRS form, even with a catch-all that would take anything.
    server.ok(&["alias", "add", "@example.org", "bob@example.org"]);
    let got = send(
        &server,
        "",
        "SRS0=abcd=ZZ@example.org",
        "Subject: junk\n\nx\n",
    );
    assert!(got.starts_with("550 5.7.1"), "{got}");
    // The catch-all still takes ordinary addresses.
    assert_eq!(
        send(
            &server,
            "a@sender.test",
            "anyone@example.org",
            "Subject: c\n\nx\n"
        ),
        "OK"
    );
}

#[test]
fn a_message_with_our_delivered_to_or_too_many_hops_is_refused_not_looped() {
    let (server, sink) = start("max_hops = 5\n");
    server.ok(&[
        "alias",
        "add",
        "team@example.org",
        "bob@example.org",
        "carol@elsewhere.net",
    ]);
    // It has been through team@ before: refused, not forwarded again.
    let got = send(
        &server,
        "alice@sender.test",
        "team@example.org",
        "Delivered-To: team@example.org\nSubject: looping\n\nround and round\n",
    );
    assert!(got.starts_with("554 5.4.6"), "{got}");
    // Another address's Delivered-To is no loop.
    let got = send(
        &server,
        "alice@sender.test",
        "team@example.org",
        "Delivered-To: someone@elsewhere.net\nSubject: once\n\nx\n",
    );
    assert_eq!(got, "OK");
    sink.wait_for("Subject: once");
    // Too many Received fields (the limit is 5 here).
    let received: String = (0..6)
        .map(|i| {
            format!(
                "Received: from hop{i}.test by hop{}.test; Thu, 3 Dec 2026 03:00:00 +0000\n",
                i + 1
            )
        })
        .collect();
    let got = send(
        &server,
        "alice@sender.test",
        "bob@example.org",
        &format!("{received}Subject: hops\n\nx\n"),
    );
    assert!(got.starts_with("554 5.4.6"), "{got}");
    let fine: String = received.lines().take(5).map(|l| format!("{l}\n")).collect();
    let got = send(
        &server,
        "alice@sender.test",
        "bob@example.org",
        &format!("{fine}Subject: five hops\n\nx\n"),
    );
    assert_eq!(got, "OK");
    let store = Store::open(&server.path("data")).unwrap();
    let bob = inbox(&store, "bob@example.org");
    assert!(
        bob.iter().all(|m| !m.contains("round and round")),
        "{bob:?}"
    );
    assert_eq!(bob.len(), 2, "once, five hops");
    store.close();
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.contains("round and round"))
    );
}

#[test]
fn nested_aliases_cycles_and_the_expansion_limit() {
    let (server, sink) = start("max_alias_recipients = 3\n");
    // a -> b, x@elsewhere; b -> a (a cycle), bob: a reaches bob and x once.
    server.ok(&[
        "alias",
        "add",
        "b@example.org",
        "bob@example.org",
        "y@elsewhere.net",
    ]);
    server.ok(&[
        "alias",
        "add",
        "a@example.org",
        "b@example.org",
        "x@elsewhere.net",
    ]);
    server.ok(&["alias", "del", "b@example.org"]);
    server.ok(&[
        "alias",
        "add",
        "b@example.org",
        "a@example.org",
        "bob@example.org",
    ]);
    assert_eq!(
        send(
            &server,
            "alice@sender.test",
            "a@example.org",
            "Subject: nested\n\nx\n"
        ),
        "OK"
    );
    let got = sink.wait_for("Subject: nested");
    assert!(got.contains("X-Rcpt-Args: <x@elsewhere.net>"), "{got}");
    let store = Store::open(&server.path("data")).unwrap();
    assert_eq!(inbox(&store, "bob@example.org").len(), 1);
    store.close();

    // c -> d -> c and nothing else: a loop, refused at RCPT.
    server.ok(&[
        "alias",
        "add",
        "c@example.org",
        "bob@example.org",
        "z@elsewhere.net",
    ]);
    server.ok(&[
        "alias",
        "add",
        "d@example.org",
        "c@example.org",
        "w@elsewhere.net",
    ]);
    server.ok(&["alias", "del", "c@example.org"]);
    server.ok(&[
        "alias",
        "add",
        "c@example.org",
        "d@example.org",
        "d+tag@example.org",
    ]);
    server.ok(&["alias", "del", "d@example.org"]);
    server.ok(&[
        "alias",
        "add",
        "d@example.org",
        "c@example.org",
        "c+x@example.org",
    ]);
    let got = send(
        &server,
        "alice@sender.test",
        "c@example.org",
        "Subject: cycle\n\nx\n",
    );
    assert!(got.starts_with("550 5.4.6"), "{got}");

    // Four targets with a limit of three: refused at RCPT.
    server.ok(&[
        "alias",
        "add",
        "big@example.org",
        "p1@elsewhere.net",
        "p2@elsewhere.net",
        "p3@elsewhere.net",
        "p4@elsewhere.net",
    ]);
    let got = send(
        &server,
        "alice@sender.test",
        "big@example.org",
        "Subject: big\n\nx\n",
    );
    assert!(got.starts_with("550 5.5.3"), "{got}");
    // An unknown local target is refused when the alias is made.
    let o = server
        .tidings()
        .args([
            "alias",
            "add",
            "e@example.org",
            "nobody@example.org",
            "q@elsewhere.net",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nobody@example.org"));
}

#[test]
fn mail_from_the_null_sender_is_forwarded_with_the_null_sender() {
    let (server, sink) = start("");
    server.ok(&["alias", "add", "fwd@example.org", "carol@elsewhere.net"]);
    assert_eq!(
        send(
            &server,
            "",
            "fwd@example.org",
            "Subject: a bounce to forward\n\nx\n"
        ),
        "OK"
    );
    let got = sink.wait_for("Subject: a bounce to forward");
    assert_eq!(mail_from(&got), "");
    assert!(got.contains("X-Rcpt-Args: <carol@elsewhere.net>"), "{got}");
    // A sender of our own domain is not rewritten (our SPF covers it).
    assert_eq!(
        send(
            &server,
            "ann@example.org",
            "fwd@example.org",
            "Subject: from ann\n\nx\n"
        ),
        "OK"
    );
    let got = sink.wait_for("Subject: from ann");
    assert_eq!(mail_from(&got), "ann@example.org");
}

#[test]
fn srs_rotate_keeps_the_old_secret_verifying() {
    let (mut server, sink) = start("");
    let before = python_srs0(&server, "alice", "sender.test", 1);
    let out = server.ok(&["srs", "rotate"]);
    assert!(out.contains("2 secrets verify"), "{out}");
    server.kill_and_restart();
    let after = python_srs0(&server, "alice", "sender.test", 1);
    assert_ne!(before, after, "the new secret signs");
    for (i, a) in [before, after].iter().enumerate() {
        let subject = format!("Subject: rotated {i}");
        assert_eq!(send(&server, "", a, &format!("{subject}\n\nx\n")), "OK");
        sink.wait_for(&subject);
    }
}

#[test]
fn our_own_bounce_of_a_forwarded_copy_reaches_the_original_sender() {
    let bad = free_port();
    let (server, sink) = start_with("", &format!("\"bad.test\" = \"127.0.0.1:{bad}\"\n"));
    let _refusing = Sink::start(server.dir.path(), bad, &["-f", "RCPT"]);
    server.ok(&["alias", "add", "fwd@example.org", "dave@bad.test"]);
    assert_eq!(
        send(
            &server,
            "alice@sender.test",
            "fwd@example.org",
            "Subject: to dave via fwd\n\nx\n"
        ),
        "OK"
    );
    // bad.test refuses dave (5xx): the queue's report goes, from <>, to
    // the sender the SRS address stands for.
    let report = sink.wait_for("Final-Recipient: rfc822; dave@bad.test");
    assert!(
        report.contains("X-Rcpt-Args: <alice@sender.test>"),
        "{report}"
    );
    assert_eq!(mail_from(&report), "");
    assert!(report.contains("Subject: to dave via fwd"), "{report}");
}

#[test]
fn the_bounce_of_a_requiretls_message_is_redacted_when_it_cannot_go_with_requiretls() {
    // RFC 8689 §5. smtp-sink offers neither STARTTLS nor REQUIRETLS: the
    // forwarded REQUIRETLS copy is returned (5.7.30), and its report to the
    // original sender cannot go with REQUIRETLS either, so it goes without
    // the returned header section (which holds the Subject).
    let (server, sink) = start("");
    server.ok(&["alias", "add", "fwd@example.org", "dave@elsewhere.net"]);
    let script = r#"
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("client.sender.test")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("client.sender.test")
print("requiretls" if s.has_extn("requiretls") else "no requiretls")
msg = b"From: alice@sender.test\r\nTo: fwd@example.org\r\nSubject: the secret plans\r\n\r\nx\r\n"
s.sendmail("alice@sender.test", ["fwd@example.org"], msg, mail_options=["REQUIRETLS"])
print("OK")
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script, &server.port("smtp").to_string()])
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib with REQUIRETLS");
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        "requiretls\nOK"
    );
    let report = sink.wait_for("Final-Recipient: rfc822; dave@elsewhere.net");
    assert!(
        report.contains("X-Rcpt-Args: <alice@sender.test>"),
        "{report}"
    );
    assert_eq!(mail_from(&report), "");
    assert!(report.contains("Status: 5.7.30"), "{report}");
    assert!(!report.contains("the secret plans"), "{report}");
    assert!(!report.contains("text/rfc822-headers"), "{report}");
    assert!(!mail_args(&report).contains("REQUIRETLS"), "{report}");
    server.wait_for("cannot go with REQUIRETLS to sender.test: sending it redacted");
    // Nothing reached dave.
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| m.contains("X-Rcpt-Args: <dave@elsewhere.net>")),
        "{:?}",
        sink.messages()
    );
}

fn mail_args(dump: &str) -> String {
    dump.lines()
        .find(|l| l.starts_with("X-Mail-Args:"))
        .unwrap_or_default()
        .to_string()
}
