//! `serve` started as root with `user = "..."` binds, gives the data dir to
//! that user and becomes it for good; mail still flows over real clients.
//! These tests need root (CI runs as root, as `scripts/install-deps` does):
//! run as another user they fail, they do not skip.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{Server, Setup};

/// `nobody`'s ids from /etc/passwd.
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("user nobody in /etc/passwd");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn assert_root() {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(
        uid, 0,
        "these tests start the server as root to see it drop root; run them as root"
    );
}

/// A `/proc/PID/status` line's fields (`Uid:`, `Gid:`, `Groups:`, `CapEff:`).
fn status_field(pid: u32, name: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn owners(dir: &Path, out: &mut Vec<(String, u32, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        out.push((entry.path().display().to_string(), meta.uid(), meta.gid()));
        if meta.is_dir() {
            owners(&entry.path(), out);
        }
    }
}

#[test]
fn started_as_root_it_runs_as_the_configured_user() {
    assert_root();
    let (uid, gid) = nobody();
    let server = Server::start(Setup {
        protocols: &["imap", "submission"],
        top: "user = \"nobody\"",
        ..Setup::default()
    });
    assert!(
        server
            .startup_log()
            .iter()
            .any(|l| l.contains("dropped root: running as user nobody")),
        "{:?}",
        server.startup_log()
    );
    let pid = server.pid();
    let ids = [
        uid.to_string(),
        uid.to_string(),
        uid.to_string(),
        uid.to_string(),
    ];
    assert_eq!(
        status_field(pid, "Uid"),
        ids,
        "real, effective, saved, fs uid"
    );
    let gids = [
        gid.to_string(),
        gid.to_string(),
        gid.to_string(),
        gid.to_string(),
    ];
    assert_eq!(status_field(pid, "Gid"), gids);
    assert_eq!(status_field(pid, "Groups"), [gid.to_string()]);
    assert_eq!(status_field(pid, "CapEff"), ["0000000000000000"]);
    assert_eq!(status_field(pid, "CapPrm"), ["0000000000000000"]);
    // Every thread, not only the first.
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: u32 = task.unwrap().file_name().to_str().unwrap().parse().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(
            line.split_whitespace().skip(1).collect::<Vec<_>>(),
            ids,
            "thread {tid}"
        );
    }

    // Mail still flows: submission in, IMAP out, an APPEND stored.
    let python = Path::new("/usr/bin/python3");
    let out = server.run_python(
        python,
        r#"
import imaplib, os, smtplib, time
pw = os.environ["PASSWORD"]
s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
s.login("bob@localhost", pw)
s.sendmail("bob@localhost", ["bob@localhost"], b"From: bob@localhost\r\nTo: bob@localhost\r\nSubject: as nobody\r\n\r\nhello\r\n")
s.quit()
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
m.login("bob@localhost", pw)
m.append("INBOX", "(\\Seen)", None, b"Subject: appended\r\n\r\nbody\r\n")
for _ in range(100):
    m.select("INBOX")
    typ, data = m.search(None, "ALL")
    if len(data[0].split()) >= 2:
        break
    time.sleep(0.1)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(sorted(p[1].decode().strip() for p in data if isinstance(p, tuple)))
m.logout()
"#,
        "submission and IMAP as nobody",
    );
    assert!(out.contains("Subject: as nobody"), "{out}");
    assert!(out.contains("Subject: appended"), "{out}");

    // The data dir is the user's, down to the new blobs.
    let mut files = Vec::new();
    owners(&server.path("data"), &mut files);
    assert!(files.len() > 3, "{files:?}");
    for (path, u, g) in &files {
        assert_eq!((*u, *g), (uid, gid), "{path}");
    }
}

#[test]
fn an_unknown_user_stops_the_start_with_a_reason() {
    assert_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tidings.toml"),
        "user = \"no-such-user-here\"\ndata_dir = \"data\"\n\n[listen]\nimap = \"127.0.0.1:0\"\nimaps = \"off\"\npop3 = \"off\"\npop3s = \"off\"\nsmtp = \"off\"\nsubmission = \"off\"\nsubmissions = \"off\"\nhttp = \"off\"\nhttps = \"off\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir.path())
        .env_remove("TIDINGS_DATA_DIR")
        .env("TIDINGS_CONFIG", "tidings.toml")
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("\"no-such-user-here\""), "{err}");
    assert!(err.contains("not in /etc/passwd"), "{err}");
    // Nothing was made for a start that did not happen but the TLS
    // certificate (read, or made, before root is dropped).
    assert!(!dir.path().join("data/tidings.db").exists());
}
