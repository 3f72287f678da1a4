//! `tidings import mbox|maildir|imap` and `tidings export mbox|maildir`
//! against the real binary, checked by third-party readers: Python's
//! `mailbox` module writes and reads the mbox files and maildirs, Python's
//! `imaplib` reads what landed over IMAP, and a Dovecot started by the test
//! is the source of `import imap` (`tests/import-export/tool.py`).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use common::dovecot::Dovecot;
use common::{PASSWORD, Raw, Server, Setup, assert_success};
use tidings_store::Store;

const BOB: &str = "bob@localhost";
const CAROL: &str = "carol@localhost";

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import-export/tool.py")
}

/// Runs `tool.py ARGS`, which must succeed; returns its standard output.
fn py(args: &[&str]) -> String {
    let o = Command::new("python3")
        .arg(tool())
        .args(args)
        .output()
        .unwrap();
    assert_success(&o, &format!("tool.py {args:?}"));
    String::from_utf8(o.stdout).unwrap()
}

/// Every message over IMAP, as `mailbox \t flags \t internaldate \t sha256`.
fn imap_dump(port: u16, user: &str) -> Vec<String> {
    py(&["imap-dump", "127.0.0.1", &port.to_string(), user, PASSWORD])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The (mailbox, flags, internaldate) of dump lines.
fn without_hash(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.rsplit_once('\t').unwrap().0.to_string())
        .collect()
}

#[test]
fn an_mbox_imported_then_exported_gives_back_its_messages_flags_and_dates() {
    let server = Server::start(Setup::default());
    let original = server.path("original.mbox");
    py(&["mbox-write", original.to_str().unwrap()]);

    let out = server.ok(&[
        "import",
        "mbox",
        original.to_str().unwrap(),
        "--to",
        BOB,
        "--mailbox",
        "Old/Mail",
    ]);
    assert_eq!(out.trim(), "imported 24 messages into Old/Mail");

    // Flags from Status/X-Status, the From line's date as INTERNALDATE.
    let flags = [
        "",
        "\\Seen",
        "\\Seen",
        "\\Flagged",
        "\\Answered \\Seen",
        "\\Answered \\Flagged \\Seen",
        "\\Deleted",
        "",
    ];
    let expected: BTreeSet<String> = (0..24)
        .map(|i| format!("Old/Mail\t{}\t{}", flags[i % 8], 1_600_000_000 + 86_401 * i))
        .collect();
    let dump = imap_dump(server.port("imap"), BOB);
    let got: BTreeSet<String> = without_hash(&dump)
        .into_iter()
        .filter(|l| l.starts_with("Old/Mail\t"))
        .collect();
    assert_eq!(got, expected);

    // Stored unquoted, with CRLF, without the mbox's bookkeeping fields.
    let mut imap = Raw::imap_login(server.port("imap"), BOB);
    imap.cmd("s EXAMINE Old/Mail");
    imap.send(b"f UID FETCH 1 BODY.PEEK[]\r\n");
    let mut fetched = String::new();
    while !fetched.contains("\r\nf OK") {
        let mut line = Vec::new();
        assert!(
            imap.r.read_until(b'\n', &mut line).unwrap() > 0,
            "{fetched}"
        );
        fetched.push_str(&String::from_utf8_lossy(&line));
    }
    assert!(fetched.contains("\nFrom the start of a line."), "{fetched}");
    assert!(fetched.contains("\n>From twice."), "{fetched}");
    assert!(!fetched.contains("Status:"), "{fetched}");

    let exported = server.path("exported.mbox");
    let out = server.ok(&[
        "export",
        "mbox",
        "--from",
        BOB,
        "--out",
        exported.to_str().unwrap(),
        "--mailbox",
        "Old/Mail",
    ]);
    assert!(out.contains("exported 24 messages"), "{out}");
    let same = py(&[
        "mbox-compare",
        original.to_str().unwrap(),
        exported.to_str().unwrap(),
    ]);
    assert_eq!(same.trim(), "ok 24 messages");

    // An existing file is not overwritten.
    let o = server
        .tidings()
        .args(["export", "mbox", "--from", BOB, "--out"])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
}

#[test]
fn bad_input_is_refused_and_imports_nothing() {
    let server = Server::start(Setup::default());
    let fail = |args: &[&str], needle: &str| {
        let o = server.tidings().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    };
    let not_mbox = server.path("not.mbox");
    std::fs::write(&not_mbox, "Subject: x\n\nbody\n").unwrap();
    let p = not_mbox.to_str().unwrap();
    fail(&["import", "mbox", p, "--to", BOB], "not an mbox file");
    fail(
        &["import", "mbox", p, "--to", "nobody@localhost"],
        "no account",
    );
    let empty = server.path("empty-dir");
    std::fs::create_dir(&empty).unwrap();
    fail(
        &["import", "maildir", empty.to_str().unwrap(), "--to", BOB],
        "no maildir",
    );
    assert!(imap_dump(server.port("imap"), BOB).is_empty());
    let out = server.path("out.mbox");
    let o = out.to_str().unwrap();
    fail(
        &[
            "export",
            "mbox",
            "--from",
            BOB,
            "--out",
            o,
            "--mailbox",
            "Nope",
        ],
        "has no mailbox Nope",
    );
    assert!(!out.exists());
    fail(
        &[
            "export",
            "maildir",
            "--from",
            BOB,
            "--out",
            server.path("data").to_str().unwrap(),
        ],
        "exists and is not empty",
    );

    // An empty message (two From lines in a row) is left out, not an error.
    let gap = server.path("gap.mbox");
    std::fs::write(
        &gap,
        "From a Thu Jan  1 00:00:00 1970\n\nFrom b Thu Jan  1 00:00:00 1970\nSubject: x\n\nhi\n",
    )
    .unwrap();
    let out = server.ok(&["import", "mbox", gap.to_str().unwrap(), "--to", BOB]);
    assert_eq!(out.trim(), "imported 1 messages into INBOX");
}

/// Writes a message file with its modification time.
fn put(dir: &Path, name: &str, body: &str, mtime: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(body.as_bytes()).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .unwrap();
}

fn msg(subject: &str) -> String {
    format!(
        "From: Ann <ann@example.org>\nTo: bob@localhost\nSubject: {subject}\n\
         Message-ID: <{subject}@example.org>\n\nHello,\nFrom the maildir.\n"
    )
}

#[test]
fn a_dovecot_maildir_lands_in_its_folders_with_its_flags_and_exports_back() {
    let server = Server::start(Setup::default());
    let tree = server.path("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    // Dovecot's own files beside the mail are not messages.
    std::fs::write(tree.join("dovecot-uidlist"), "3 V1 N1\n").unwrap();
    put(
        &tree.join("cur"),
        "1600000000.M1P1.host,S=99:2,S",
        &msg("read"),
        1_600_000_000,
    );
    put(
        &tree.join("new"),
        "1600000100.M2P1.host",
        &msg("new"),
        1_600_000_100,
    );
    let work = tree.join(".Work");
    std::fs::create_dir_all(work.join("tmp")).unwrap();
    std::fs::write(work.join("maildirfolder"), "").unwrap();
    std::fs::write(work.join("dovecot-keywords"), "0 $Label1\n1 Important\n").unwrap();
    put(
        &work.join("cur"),
        "1600000200.M3P1.host:2,FRa",
        &msg("flagged"),
        1_600_000_200,
    );
    put(
        &work.join("cur"),
        "1600000300.M4P1.host:2,b",
        &msg("kw"),
        1_600_000_300,
    );
    put(
        &tree.join(".Work.Reports/cur"),
        "1600000400.M5P1.host:2,",
        &msg("report"),
        1_600_000_400,
    );
    put(
        &tree.join(".Sent/cur"),
        "1600000500.M6P1.host:2,S",
        &msg("sent"),
        1_600_000_500,
    );

    for folder in [
        &tree,
        &work,
        &tree.join(".Work.Reports"),
        &tree.join(".Sent"),
    ] {
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(folder.join(d)).unwrap();
        }
    }
    let out = server.ok(&["import", "maildir", tree.to_str().unwrap(), "--to", BOB]);
    assert_eq!(out.trim(), "imported 6 messages into 4 mailboxes");

    let got = without_hash(&imap_dump(server.port("imap"), BOB));
    let expected = [
        "INBOX\t\t1600000100",
        "INBOX\t\\Seen\t1600000000",
        "Sent\t\\Seen\t1600000500",
        "Work\t$Label1 \\Answered \\Flagged\t1600000200",
        "Work\tImportant\t1600000300",
        "Work/Reports\t\t1600000400",
    ];
    assert_eq!(got, expected);

    // Exported as Maildir++ again, Python's reader sees the same messages,
    // byte for byte, with the same flags, keywords, dates and folders.
    let exported = server.path("exported");
    let out = server.ok(&[
        "export",
        "maildir",
        "--from",
        BOB,
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(out.contains("exported 6 messages"), "{out}");
    assert_eq!(
        py(&["maildir-dump", exported.to_str().unwrap()]),
        py(&["maildir-dump", tree.to_str().unwrap()])
    );
}

/// Courier-IMAP's `maildirkw` (from Debian's courier-base package, which
/// `scripts/install-deps` unpacks without installing Courier's services).
fn maildirkw() -> PathBuf {
    let path = std::env::var_os("TIDINGS_MAILDIRKW").map_or_else(
        || {
            Path::new(&std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/tidings/courier/usr/bin/maildirkw")
        },
        PathBuf::from,
    );
    let runs = Command::new(&path)
        .args(["-L", "/nonexistent"])
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stderr).contains("shared librar"));
    assert!(
        runs,
        "Courier's maildirkw is not at {}: run scripts/install-deps",
        path.display()
    );
    path
}

/// A Courier-IMAP maildir: keywords live in `courierimapkeywords/`, set
/// here by Courier's own `maildirkw` (its `:list`, and the update files a
/// later change leaves), and arrive as IMAP keywords beside the flags of
/// the file names.
#[test]
fn a_courier_maildir_keeps_its_keywords() {
    let server = Server::start(Setup::default());
    let tree = server.path("Maildir");
    let work = tree.join(".Work");
    for folder in [&tree, &work] {
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(folder.join(d)).unwrap();
        }
    }
    std::fs::write(work.join("maildirfolder"), "").unwrap();
    std::fs::write(tree.join("courierimapuiddb"), "1 1600000000 3\n").unwrap();
    put(
        &tree.join("cur"),
        "1600000000.M1P1.host:2,S",
        &msg("one"),
        1_600_000_000,
    );
    put(
        &tree.join("cur"),
        "1600000100.M2P1.host:2,",
        &msg("two"),
        1_600_000_100,
    );
    put(
        &work.join("cur"),
        "1600000200.M3P1.host:2,F",
        &msg("three"),
        1_600_000_200,
    );
    let kw = maildirkw();
    // `maildirkw [-a|-r] MAILDIR MESSAGE KEYWORD...`
    let set = |option: Option<&str>, dir: &Path, args: &[&str]| {
        let o = Command::new(&kw)
            .args(option)
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert_success(&o, &format!("maildirkw {option:?} {args:?}"));
    };
    set(None, &tree, &["1600000000.M1P1.host", "Work", "Urgent"]);
    set(Some("-a"), &tree, &["1600000100.M2P1.host", "Personal"]);
    // A later removal: Courier writes an update file beside `:list`.
    set(Some("-r"), &tree, &["1600000000.M1P1.host", "Work"]);
    set(None, &work, &["1600000200.M3P1.host", "$Label2"]);
    let listed = Command::new(&kw).arg("-L").arg(&tree).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "1600000000.M1P1.host Urgent\n1600000100.M2P1.host Personal\n"
    );
    let out = server.ok(&["import", "maildir", tree.to_str().unwrap(), "--to", BOB]);
    assert_eq!(out.trim(), "imported 3 messages into 2 mailboxes");
    let got = without_hash(&imap_dump(server.port("imap"), BOB));
    assert_eq!(
        got,
        [
            "INBOX\tPersonal\t1600000100",
            "INBOX\tUrgent \\Seen\t1600000000",
            "Work\t$Label2 \\Flagged\t1600000200",
        ]
    );
}

#[test]
fn import_imap_copies_a_dovecot_account_message_by_message_and_twice_adds_nothing() {
    let server = Server::start(Setup {
        users: &[BOB, CAROL],
        ..Setup::default()
    });
    let dovecot = Dovecot::start(BOB);
    let dport = dovecot.port.to_string();
    py(&["imap-fill", "127.0.0.1", &dport, BOB, PASSWORD, "300"]);
    let source = imap_dump(dovecot.port, BOB);
    assert_eq!(source.len(), 300);
    let in_inbox = source.iter().filter(|l| l.starts_with("INBOX\t")).count();
    assert!(
        in_inbox > 200,
        "{in_inbox} in INBOX: one batch would hold them all"
    );

    let import = || {
        let mut child = server
            .tidings()
            .args(["import", "imap", "--host", "127.0.0.1", "--port", &dport])
            .args(["--user", BOB, "--password-stdin", "--to", BOB])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let o = child.wait_with_output().unwrap();
        assert_success(&o, "tidings import imap");
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    let (out, progress) = import();
    assert!(
        out.starts_with("imported 300 messages from 6 folders"),
        "{out}"
    );
    // Not a terminal: the progress is plain lines with counts and rate.
    assert!(
        progress.contains("importing 300/300 messages ("),
        "{progress}"
    );
    // Bytes, flags, INTERNALDATE and folder of every message.
    assert_eq!(imap_dump(server.port("imap"), BOB), source);

    let (out, _) = import();
    assert!(out.starts_with("imported 0 messages"), "{out}");
    assert_eq!(imap_dump(server.port("imap"), BOB), source);

    // What came since is all a third run copies.
    py(&["imap-fill", "127.0.0.1", &dport, BOB, PASSWORD, "7", "300"]);
    let source = imap_dump(dovecot.port, BOB);
    assert_eq!(source.len(), 307);
    let (out, _) = import();
    assert!(out.starts_with("imported 7 messages"), "{out}");
    assert_eq!(imap_dump(server.port("imap"), BOB), source);

    // With its state lost (as after a crash between a batch and its state),
    // a run finds every message here already.
    {
        let store = Store::open(&server.path("data")).unwrap();
        let bob = store.account(BOB).unwrap().unwrap().id;
        let state: Vec<_> = store
            .metadata(bob, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.name.starts_with("/private/vendor/tidings/import/"))
            .map(|e| (e.name, None))
            .collect();
        assert_eq!(state.len(), 6, "{state:?}");
        store.set_metadata(bob, None, &state, usize::MAX).unwrap();
        store.close();
    }
    let (out, _) = import();
    assert!(
        out.starts_with("imported 0 messages from 6 folders (307 were here already)"),
        "{out}"
    );
    assert_eq!(imap_dump(server.port("imap"), BOB), source);

    // The same account read from the Maildir Dovecot wrote (LAYOUT=fs,
    // dovecot-keywords, file times as INTERNALDATE) lands the same way.
    let maildir = dovecot.maildir(BOB);
    let out = server.ok(&[
        "import",
        "maildir",
        maildir.to_str().unwrap(),
        "--to",
        CAROL,
    ]);
    assert!(out.starts_with("imported 307 messages"), "{out}");
    assert_eq!(imap_dump(server.port("imap"), CAROL), source);
}

/// The SpamAssassin corpus `scripts/fetch-corpus` unpacks (installed by
/// `scripts/install-deps`); missing, the test fails saying so.
fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/corpus/spam-assassin");
    assert!(
        dir.join(".complete").exists(),
        "the SpamAssassin corpus is not in {}: run scripts/install-deps (or scripts/fetch-corpus)",
        dir.display()
    );
    dir
}

#[test]
fn the_spamassassin_corpus_moves_from_dovecot_byte_for_byte() {
    let corpus = corpus();
    let server = Server::start(Setup {
        users: &[BOB, CAROL],
        ..Setup::default()
    });
    let dovecot = Dovecot::start(BOB);
    let dport = dovecot.port.to_string();
    let out = py(&[
        "imap-fill-corpus",
        "127.0.0.1",
        &dport,
        BOB,
        PASSWORD,
        corpus.to_str().unwrap(),
    ]);
    let (taken, refused) = out.trim().split_once(' ').unwrap();
    let taken: usize = taken.parse().unwrap();
    assert!(
        taken > 6000,
        "Dovecot took {taken} of the corpus, refused {refused}"
    );
    let source = imap_dump(dovecot.port, BOB);
    assert_eq!(source.len(), taken);

    let mut child = server
        .tidings()
        .args(["import", "imap", "--host", "127.0.0.1", "--port", &dport])
        .args(["--user", BOB, "--password-stdin", "--to", BOB])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_success(&o, "tidings import imap");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!("imported {taken} messages from 5 folders")),
        "{out}"
    );
    // Bytes, flags, INTERNALDATE and folder of every real message.
    assert_eq!(imap_dump(server.port("imap"), BOB), source);

    // And back out: the mbox export of one folder reads in Python's mailbox
    // with as many messages.
    let mbox = server.path("caught-one.mbox");
    server.ok(&[
        "export",
        "mbox",
        "--from",
        BOB,
        "--out",
        mbox.to_str().unwrap(),
        "--mailbox",
        "Caught/One",
    ]);
    let in_folder = source
        .iter()
        .filter(|l| l.starts_with("Caught/One\t"))
        .count();
    let counted = Command::new("python3")
        .args([
            "-c",
            "import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))",
            mbox.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_success(&counted, "mailbox.mbox");
    assert_eq!(
        String::from_utf8_lossy(&counted.stdout).trim(),
        in_folder.to_string()
    );
}

#[test]
fn import_imap_from_a_gmail_like_server_follows_its_labels() {
    let server = Server::start(Setup {
        users: &[BOB, CAROL],
        ..Setup::default()
    });
    let port = server.port("imap").to_string();
    py(&["imap-fill", "127.0.0.1", &port, BOB, PASSWORD, "40"]);
    // Three messages get a second label.
    let mut imap = Raw::imap_login(server.port("imap"), BOB);
    imap.cmd("s SELECT INBOX");
    let r = imap.cmd("c UID COPY 1:3 Lists");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    let source = imap_dump(server.port("imap"), BOB);
    assert_eq!(source.len(), 43);
    let import = || {
        server.ok(&[
            "import",
            "imap",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            BOB,
            "--password",
            PASSWORD,
            "--to",
            CAROL,
        ])
    };
    let out = import();
    // Tidings speaks Gmail's X-GM-EXT-1 too: only All Mail, Trash and Junk
    // are read, and X-GM-LABELS put each message in its mailboxes.
    assert!(
        out.starts_with("imported 40 messages from 3 folders"),
        "{out}"
    );
    assert_eq!(imap_dump(server.port("imap"), CAROL), source);
    let out = import();
    assert!(out.starts_with("imported 0 messages"), "{out}");
    assert_eq!(imap_dump(server.port("imap"), CAROL), source);
}

#[test]
fn import_imap_over_tls_and_starttls_checks_the_certificate() {
    let server = Server::start(Setup {
        protocols: &["imap", "imaps"],
        users: &[BOB, CAROL],
        ..Setup::default()
    });
    py(&[
        "imap-fill",
        "127.0.0.1",
        &server.port("imap").to_string(),
        BOB,
        PASSWORD,
        "12",
    ]);
    let source = imap_dump(server.port("imap"), BOB);
    let cert = server.path("data/tls/cert.pem");
    let import = |port: u16, tls: &[&str]| {
        server
            .tidings()
            .args(["import", "imap", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(tls)
            .args(["--user", BOB, "--password", PASSWORD, "--to", CAROL])
            .output()
            .unwrap()
    };
    // The self-signed certificate is no system root: refused, nothing stored.
    let o = import(server.port("imaps"), &["--tls"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("TLS with 127.0.0.1"), "{err}");
    assert!(imap_dump(server.port("imap"), CAROL).is_empty());

    let ca = cert.to_str().unwrap();
    let o = import(server.port("imaps"), &["--tls", "--ca-file", ca]);
    assert_success(&o, "import imap --tls");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("imported 12 messages"));
    assert_eq!(imap_dump(server.port("imap"), CAROL), source);

    // Another port is another source with no state yet: every message is
    // recognised as here already.
    let o = import(server.port("imap"), &["--starttls", "--ca-file", ca]);
    assert_success(&o, "import imap --starttls");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("imported 0 messages from 3 folders (12 were here already)"),
        "{out}"
    );
    assert_eq!(imap_dump(server.port("imap"), CAROL), source);
}
