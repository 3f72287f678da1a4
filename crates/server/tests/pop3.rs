//! POP3 end to end: the real `tidings serve` on free loopback ports in a
//! temporary directory, driven by real clients: Python's poplib, curl,
//! fetchmail and getmail6 (all installed by `scripts/install-deps`), plus a
//! few byte-level sessions where the test needs to drop the connection or
//! stop the server mid-session. Effects are checked in the store, opened
//! alongside the running server.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, Setup, assert_success};
use tidings_store::Store;
use tidings_types::{EmailId, MailboxRole};

/// A running `tidings serve` with only its POP3 ports open (the shared
/// harness, `tests/common`, with the ports at hand).
struct Tidings {
    server: Server,
    pop3: u16,
    pop3s: u16,
}

impl std::ops::Deref for Tidings {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Tidings {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

impl Tidings {
    /// Starts a server whose store has `users` (all with [`PASSWORD`]).
    fn start(users: &[&str]) -> Tidings {
        let server = Server::start(Setup {
            protocols: &["pop3", "pop3s"],
            users,
            ..Setup::default()
        });
        let (pop3, pop3s) = (server.port("pop3"), server.port("pop3s"));
        Tidings {
            server,
            pop3,
            pop3s,
        }
    }

    /// The store, opened next to the running server.
    fn store(&self) -> Store {
        self.open_store()
    }
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\nHello,\r\n.a line with a leading dot\r\n\
         ..and two\r\n.\r\nlast line\r\n"
    )
    .into_bytes()
}

/// The emails in INBOX of `user`, in UID order.
fn inbox(store: &Store, user: &str) -> Vec<(EmailId, bool)> {
    let account = store.account(user).unwrap().unwrap().id;
    let inbox = store
        .mailbox_by_role(account, MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    store
        .mailbox_entries(account, inbox.id)
        .unwrap()
        .iter()
        .map(|e| (e.email, e.keywords.iter().any(|k| k.as_str() == "\\Seen")))
        .collect()
}

/// A byte-level POP3 client for the cases real clients cannot produce.
struct Pop {
    r: BufReader<TcpStream>,
}

impl Pop {
    fn connect(port: u16) -> Pop {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut p = Pop {
            r: BufReader::new(tcp),
        };
        assert!(p.line().starts_with("+OK"));
        p
    }

    fn login(port: u16, user: &str) -> Pop {
        let mut p = Pop::connect(port);
        p.ok(&format!("USER {user}"));
        p.ok(&format!("PASS {PASSWORD}"));
        p
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.r.read_line(&mut s).unwrap();
        s.trim_end_matches("\r\n").to_string()
    }

    fn cmd(&mut self, c: &str) -> String {
        self.r
            .get_mut()
            .write_all(format!("{c}\r\n").as_bytes())
            .unwrap();
        self.line()
    }

    #[track_caller]
    fn ok(&mut self, c: &str) -> String {
        let reply = self.cmd(c);
        assert!(reply.starts_with("+OK"), "{c}: {reply}");
        reply
    }

    /// The lines of a multi-line reply.
    fn lines(&mut self) -> Vec<String> {
        std::iter::from_fn(|| Some(self.line()))
            .take_while(|l| l != ".")
            .collect()
    }

    fn at_eof(&mut self) -> bool {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).unwrap();
        rest.is_empty()
    }
}

#[test]
fn poplib_drives_every_command_and_response_code() {
    let t = Tidings::start(&["bob@localhost"]);
    let msgs = t.path("msgs");
    std::fs::create_dir(&msgs).unwrap();
    for i in 1..=3 {
        let m = message(&format!("poplib-{i}"));
        t.deliver("bob@localhost", &m);
        std::fs::write(msgs.join(format!("{i}.eml")), m).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pop3-clients/poplib_session.py");
    let o = Command::new("python3")
        .arg(script)
        .args([
            "127.0.0.1",
            &t.pop3.to_string(),
            &t.pop3s.to_string(),
            "bob@localhost",
            PASSWORD,
        ])
        .arg(&msgs)
        .output()
        .unwrap();
    assert_success(&o, "poplib_session.py");
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    assert!(out.contains("poplib: all checks passed"), "{out}");

    // QUIT applied the DELE of message 3 under mark-read: still in INBOX, read.
    let store = t.store();
    let seen: Vec<bool> = inbox(&store, "bob@localhost")
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(seen, [false, false, true]);
    store.close();
}

#[test]
fn curl_lists_retrieves_and_deletes() {
    let t = Tidings::start(&["bob@localhost"]);
    let (m1, m2) = (message("curl-1"), message("curl-2"));
    t.deliver("bob@localhost", &m1);
    t.deliver("bob@localhost", &m2);
    let curl = |url: String, extra: &[&str]| {
        let o = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "-u",
                &format!("bob@localhost:{PASSWORD}"),
            ])
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        assert_success(&o, "curl");
        o.stdout
    };
    let plain = format!("pop3://127.0.0.1:{}", t.pop3);
    let tls = format!("pop3s://127.0.0.1:{}", t.pop3s);
    assert_eq!(
        String::from_utf8(curl(format!("{plain}/"), &[])).unwrap(),
        format!("1 {}\r\n2 {}\r\n", m1.len(), m2.len())
    );
    // RETR: curl undoes the dot-stuffing; the stored bytes come back.
    assert_eq!(curl(format!("{plain}/1"), &[]), m1);
    assert_eq!(curl(format!("{tls}/2"), &["-k"]), m2);
    // STLS, required.
    assert_eq!(curl(format!("{plain}/2"), &["--ssl-reqd", "-k"]), m2);
    let uidl = String::from_utf8(curl(format!("{plain}/"), &["-X", "UIDL"])).unwrap();
    assert!(
        uidl.starts_with("1 M") && uidl.contains("\r\n2 M"),
        "{uidl}"
    );
    // DELE via a custom request; curl QUITs, so it is applied.
    curl(format!("{plain}/1"), &["-X", "DELE", "-I"]);
    assert_eq!(
        String::from_utf8(curl(format!("{plain}/"), &[])).unwrap(),
        format!("1 {}\r\n", m2.len())
    );
    // A wrong password fails (curl: 67, login denied).
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-u", "bob@localhost:wrong"])
        .arg(format!("{plain}/"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(67), "{o:?}");
}

/// The messages a client wrote into `dir`, each with line ends made LF and
/// `strip` header lines removed, sorted.
fn received(dir: &Path, strip: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let text = String::from_utf8(std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            text.replace("\r\n", "\n")
                .lines()
                .filter(|l| !strip.iter().any(|s| l.starts_with(s)))
                .map(|l| format!("{l}\n"))
                .collect()
        })
        .collect();
    out.sort();
    out
}

fn lf(raw: &[u8]) -> String {
    String::from_utf8(raw.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

#[test]
fn fetchmail_downloads_into_files_with_and_without_keep() {
    let t = Tidings::start(&["bob@localhost"]);
    let msgs: Vec<Vec<u8>> = (1..=3)
        .map(|i| message(&format!("fetchmail-{i}")))
        .collect();
    for m in &msgs {
        t.deliver("bob@localhost", m);
    }
    let home = t.path("fm");
    std::fs::create_dir(&home).unwrap();
    let fetch = |name: &str, options: &str, port: u16| -> (Output, PathBuf) {
        let out = t.path(name);
        std::fs::create_dir(&out).unwrap();
        let rc = home.join(format!("{name}.rc"));
        // One file per message ($$: the MDA's pid); no CR stripping, so
        // the bytes are compared as they came.
        std::fs::write(
            &rc,
            format!(
                "set no syslog\n\
                 poll 127.0.0.1 with proto POP3 port {port} and options no dns\n  \
                 user \"bob@localhost\" there with password \"{PASSWORD}\" is \"{}\" here\n  \
                 options {options} no rewrite no stripcr\n  \
                 mda \"/bin/sh -c 'cat > {}/$$.eml'\"\n",
                whoami(),
                out.display()
            ),
        )
        .unwrap();
        set_mode(&rc, 0o600);
        let o = Command::new("fetchmail")
            .env("HOME", &home)
            .arg("-f")
            .arg(&rc)
            .args(["--invisible", "--nosyslog", "-v"])
            .arg("--idfile")
            .arg(home.join(format!("{name}.ids")))
            .arg("--pidfile")
            .arg(home.join("fetchmail.pid"))
            .output()
            .unwrap();
        (o, out)
    };

    // keep, plaintext on loopback (no STLS): all three, exactly; nothing deleted.
    let (o, out) = fetch("keep", "keep sslproto ''", t.pop3);
    assert_success(&o, "fetchmail keep");
    let mut want: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8(m.clone()).unwrap())
        .collect();
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| String::from_utf8(std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, want, "fetchmail got the stored bytes");
    let store = t.store();
    assert_eq!(inbox(&store, "bob@localhost").len(), 3);
    store.close();

    // no keep, over STLS (the self-signed certificate accepted): fetched
    // and deleted; under mark-read they stay in INBOX for IMAP, read.
    let (o, out) = fetch("nokeep", "no keep sslproto tls1.2+ no sslcertck", t.pop3);
    assert_success(&o, "fetchmail no keep");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(log.contains("POP3> STLS"), "{log}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    let store = t.store();
    let now = inbox(&store, "bob@localhost");
    assert_eq!(now.len(), 3);
    assert!(now.iter().all(|(_, seen)| *seen), "{now:?}");
    store.close();

    // The next poll, over implicit TLS, finds only what is new.
    t.deliver("bob@localhost", &message("fetchmail-4"));
    let (o, out) = fetch("pop3s", "no keep ssl no sslcertck", t.pop3s);
    assert_success(&o, "fetchmail pop3s");
    assert_eq!(received(&out, &[]), [lf(&message("fetchmail-4"))]);
}

#[test]
fn getmail_downloads_into_a_maildir_once_per_message() {
    let t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("getmail-1"));
    t.deliver("bob@localhost", &message("getmail-2"));
    let state = t.path("getmail");
    std::fs::create_dir(&state).unwrap();
    let root = whoami() == "root";
    // One getmail run into its own Maildir; returns the distinct messages
    // it delivered (line ends LF, getmail's Return-Path line removed).
    let getmail = |run: &str, retriever: &str, port: u16, delete: bool| -> Vec<String> {
        let maildir = t.path(run);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        // getmail refuses to deliver as root; it can deliver as another user.
        let as_user = if root {
            for sub in ["", "cur", "new", "tmp"] {
                set_mode(&maildir.join(sub), 0o777);
            }
            "user = nobody\n"
        } else {
            ""
        };
        let rc = state.join(format!("{run}.rc"));
        std::fs::write(
            &rc,
            format!(
                "[retriever]\ntype = {retriever}\nserver = 127.0.0.1\nport = {port}\n\
                 username = bob@localhost\npassword = {PASSWORD}\ntimeout = 20\n\n\
                 [destination]\ntype = Maildir\npath = {}/\n{as_user}\n\
                 [options]\ndelete = {delete}\nread_all = false\n\
                 delivered_to = false\nreceived = false\n",
                maildir.display()
            ),
        )
        .unwrap();
        for attempt in 1.. {
            let o = Command::new("getmail")
                .arg("--getmaildir")
                .arg(&state)
                .arg("--rcfile")
                .arg(&rc)
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&o.stderr);
            // getmail installs its SIGCHLD handler after fork(): a delivery
            // child that exits first is never noticed ("waiting child pid
            // N timed out"). That is getmail's race, not ours: try again.
            if !o.status.success() && log.contains("waiting child pid") && attempt < 3 {
                eprintln!("getmail lost its delivery child (a getmail race); retrying");
                continue;
            }
            assert_success(&o, &format!("getmail {run}"));
            break;
        }
        let mut got = received(&maildir.join("new"), &["Return-Path:"]);
        got.dedup();
        got
    };
    let m = |i: u32| lf(&message(&format!("getmail-{i}")));

    assert_eq!(
        getmail("a1", "SimplePOP3Retriever", t.pop3, false),
        [m(1), m(2)]
    );
    // getmail remembers UIDLs: the next run takes only the new message.
    t.deliver("bob@localhost", &message("getmail-3"));
    assert_eq!(getmail("a2", "SimplePOP3Retriever", t.pop3, false), [m(3)]);

    // A second device over implicit TLS, deleting: it has seen nothing, so
    // it takes all four and deletes them.
    t.deliver("bob@localhost", &message("getmail-4"));
    assert_eq!(
        getmail("b1", "SimplePOP3SSLRetriever", t.pop3s, true),
        [m(1), m(2), m(3), m(4)]
    );
    let store = t.store();
    let inbox_now = inbox(&store, "bob@localhost");
    assert_eq!(inbox_now.len(), 4, "mark-read: still in INBOX for IMAP");
    assert!(inbox_now.iter().all(|(_, seen)| *seen), "{inbox_now:?}");
    store.close();

    // POP3 never offers a deleted message again, to any device.
    t.deliver("bob@localhost", &message("getmail-5"));
    assert_eq!(getmail("a3", "SimplePOP3Retriever", t.pop3, false), [m(5)]);
}

#[test]
fn dele_and_quit_follow_each_pop_policy_and_nothing_else_changes_anything() {
    let users = [
        ("keep@localhost", "keep"),
        ("read@localhost", "mark-read"),
        ("arch@localhost", "archive"),
        ("trash@localhost", "trash"),
        ("del@localhost", "delete"),
    ];
    let names: Vec<&str> = users.iter().map(|(u, _)| *u).collect();
    let t = Tidings::start(&[&names[..], &["drop@localhost"]].concat());
    for (user, policy) in users {
        assert_eq!(
            t.ok(&["user", "policy", user, "--pop", policy]),
            format!("{user}: pop {policy}  leave archive\n")
        );
    }
    for i in 1..=2 {
        let m = message(&format!("multi-{i}"));
        let mut rcpts = names.clone();
        rcpts.push("drop@localhost");
        let mut child = t
            .tidings()
            .arg("deliver")
            .args(&rcpts)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&m).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let store = t.store();
    let before: Vec<_> = users.iter().map(|(u, _)| inbox(&store, u)).collect();
    for (user, _) in users {
        let mut p = Pop::login(t.pop3, user);
        p.ok("DELE 1");
        assert_eq!(
            p.ok("QUIT"),
            "+OK Tidings POP3 server signing off (1 messages deleted)"
        );
        assert!(p.at_eof());
    }
    // +OK to QUIT means committed: the store shows it at once.
    for ((user, policy), before) in users.iter().zip(&before) {
        let account = store.account(user).unwrap().unwrap().id;
        let (gone, _) = before[0];
        let now = inbox(&store, user);
        let in_inbox = now.iter().find(|(e, _)| *e == gone);
        let trash = store
            .mailbox_by_role(account, MailboxRole::Trash)
            .unwrap()
            .unwrap();
        let in_trash = store
            .mailbox_entries(account, trash.id)
            .unwrap()
            .iter()
            .any(|e| e.email == gone);
        let exists = store.email_raw(account, gone).is_ok();
        let all = store
            .mailbox_by_role(account, MailboxRole::All)
            .unwrap()
            .unwrap();
        let in_all = store
            .mailbox_entries(account, all.id)
            .unwrap()
            .iter()
            .any(|e| e.email == gone);
        let state = (in_inbox.copied(), in_trash, in_all, exists);
        match *policy {
            "keep" => assert_eq!(state, (Some((gone, false)), false, true, true)),
            "mark-read" => assert_eq!(state, (Some((gone, true)), false, true, true)),
            "archive" => assert_eq!(state, (None, false, true, true)),
            "trash" => assert_eq!(state, (None, true, false, true)),
            "delete" => assert_eq!(state, (None, false, false, false)),
            _ => unreachable!(),
        }
        // The other message is untouched; POP3 never offers the deleted one again.
        assert!(now.contains(&before[1]), "{policy}");
        let mut p = Pop::login(t.pop3, user);
        p.ok("UIDL");
        assert_eq!(p.lines(), [format!("1 {}", before[1].0)], "{policy}");
        p.ok("QUIT");
    }

    // Recent mode (a second device joining) lists the mark-read one again.
    let mut p = Pop::connect(t.pop3);
    p.ok("USER recent:read@localhost");
    assert!(p.ok(&format!("PASS {PASSWORD}")).contains("2 messages"));
    p.ok("QUIT");

    // A connection dropped after DELE changes nothing.
    let drop_before = inbox(&store, "drop@localhost");
    let mut p = Pop::login(t.pop3, "drop@localhost");
    p.ok("DELE 1");
    p.ok("DELE 2");
    drop(p);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut p = loop {
        let mut p = Pop::connect(t.pop3);
        p.ok("USER drop@localhost");
        let reply = p.cmd(&format!("PASS {PASSWORD}"));
        if reply.starts_with("+OK") {
            break p;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(Instant::now() < deadline, "the lock was never released");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(p.ok("STAT").split(' ').nth(1), Some("2"));
    p.ok("QUIT");
    assert_eq!(inbox(&store, "drop@localhost"), drop_before);
    store.close();
}

#[test]
fn sigterm_mid_session_says_sys_temp_and_commits_nothing() {
    let mut t = Tidings::start(&["bob@localhost"]);
    t.deliver("bob@localhost", &message("shutdown"));
    let mut p = Pop::login(t.pop3, "bob@localhost");
    p.ok("DELE 1");
    t.terminate();
    assert_eq!(p.line(), "-ERR [SYS/TEMP] server shutting down");
    assert!(p.at_eof());
    let store = t.store();
    assert_eq!(
        inbox(&store, "bob@localhost")
            .iter()
            .map(|(_, seen)| *seen)
            .collect::<Vec<_>>(),
        [false]
    );
    store.close();
}

fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

#[test]
fn retr_streams_a_large_message_from_its_blob_file_exactly() {
    // 3 MiB: stored as a blob file, read and dot-stuffed a piece at a time;
    // lines that start with dots fall on every kind of piece boundary.
    let t = Tidings::start(&["bob@localhost"]);
    let mut m =
        b"From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: big\r\n\r\n".to_vec();
    let mut i = 0u32;
    while m.len() < 3 * 1024 * 1024 {
        m.extend_from_slice(format!(".{i} ").as_bytes());
        m.extend_from_slice(&vec![b'x'; (i % 97) as usize]);
        m.extend_from_slice(if i.is_multiple_of(5) { b"\n" } else { b"\r\n" });
        i += 1;
    }
    m.extend_from_slice(b"..last line without an end");
    t.deliver("bob@localhost", &m);
    std::fs::write(t.path("big.eml"), &m).unwrap();
    let script = format!(
        r#"
import poplib, sys
p = poplib.POP3("127.0.0.1", {port})
p.user("bob@localhost"); p.pass_("{PASSWORD}")
resp, lines, octets = p.retr(1)
want = open(sys.argv[1], "rb").read()
# poplib undoes the stuffing; line ends come back as CRLF (bare LF became CRLF).
got = b"\r\n".join(lines)
want = want.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
assert got == want, (len(got), len(want))
assert resp.startswith(b"+OK %d octets" % len(open(sys.argv[1], "rb").read())), resp
p.quit()
print("ok")
"#,
        port = t.pop3
    );
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(t.path("big.eml"))
        .output()
        .unwrap();
    assert_success(&o, "poplib RETR of a large message");
    assert!(t.path("data/blobs").read_dir().unwrap().count() > 0);
}
