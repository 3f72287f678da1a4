//! Differential IMAP conformance: the conversations of
//! `tests/imap-diff/conversations.py` run against the real `tidings serve`
//! and against Debian's Dovecot (installed by `scripts/install-deps --peers`)
//! side by side; `tests/imap-diff/diff.py` normalises and compares the
//! replies. The differences that are known are listed, each with its reason,
//! in `tests/imap-diff/expected.txt`: intentional ones (justified in
//! docs/rfc-status.md) and defects not fixed yet. Any other difference fails
//! the test, and so does a listed one that is gone.
//!
//! Dovecot is a required peer: when it is missing (or the test is not run as
//! root, which Dovecot's service model needs here), the test fails and says
//! why.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, Setup};

const USER: &str = "bob@localhost";

/// A Dovecot imapd on loopback with one user, mail in a Maildir, under a
/// temporary directory of its own.
struct Dovecot {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    fn start() -> Dovecot {
        let binary = Path::new("/usr/sbin/dovecot");
        assert!(
            binary.exists(),
            "Dovecot is needed for the differential suite: run scripts/install-deps --peers"
        );
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the differential suite runs Dovecot, which needs root here (CI runs as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Dovecot's mail processes run as nobody; its login processes as dovenull.
        Command::new("chmod").arg("755").arg(d).status().unwrap();
        std::fs::create_dir_all(d.join("mail")).unwrap();
        std::fs::create_dir_all(d.join("run")).unwrap();
        Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(d.join("mail"))
            .status()
            .unwrap();
        std::fs::write(
            d.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();
        let port = {
            // Dovecot takes a port number; this one is free a moment before.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dp = d.display();
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                "base_dir = {dp}/run\nstate_dir = {dp}/run\nlog_path = {dp}/dovecot.log\n\
                 protocols = imap\nlisten = 127.0.0.1\nssl = no\n\
                 disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                 mail_location = maildir:{dp}/mail/%n:LAYOUT=fs\n\
                 namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
                 passdb {{\n  driver = passwd-file\n  args = username_format=%u {dp}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={dp}/mail/%n\n}}\n\
                 service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n\
                 inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
                 default_login_user = dovenull\ndefault_internal_user = dovecot\n\
                 mail_attribute_dict = file:%h/dovecot-attributes\n\
                 mail_plugins = acl\nplugin {{\n  acl = vfile\n  acl_anyone = allow\n}}\n\
                 protocol imap {{\n  imap_metadata = yes\n  mail_plugins = $mail_plugins imap_acl\n  imap_urlauth_host = localhost\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .args(["-F", "-c"])
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not listen within 20 s: {}",
                std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; then reap it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn imap_replies_match_dovecot_except_the_listed_differences() {
    let tidings = Server::start(Setup {
        users: &[USER],
        ..Setup::default()
    });
    let dovecot = Dovecot::start();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap-diff");
    let o = Command::new("python3")
        .arg(dir.join("diff.py"))
        .arg(tidings.port("imap").to_string())
        .arg(dovecot.port.to_string())
        .args([USER, PASSWORD])
        .arg(dir.join("expected.txt"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    if std::env::var_os("IMAP_DIFF_SHOW").is_some() {
        println!("{out}");
    }
    assert!(
        o.status.success(),
        "differences from Dovecot:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
}
