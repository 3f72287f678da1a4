//! A Dovecot imapd as a test peer (installed by `scripts/install-deps
//! --peers`): one user with the harness's password, mail in a Maildir, on
//! loopback, under a temporary directory. A missing Dovecot (or a test not
//! run as root, which Dovecot's service model needs here) fails the test
//! with the reason.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PASSWORD;

/// A Dovecot imapd on loopback with one user, mail in a Maildir, under a
/// temporary directory of its own.
pub struct Dovecot {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// The Maildir (Dovecot's `LAYOUT=fs`) that holds `user`'s mail.
    pub fn maildir(&self, user: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join("mail")
            .join(user.split('@').next().unwrap())
    }

    pub fn start(user: &str) -> Dovecot {
        let binary = Path::new("/usr/sbin/dovecot");
        assert!(
            binary.exists(),
            "Dovecot is needed as the peer of this test: run scripts/install-deps --peers"
        );
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test runs Dovecot, which needs root here (CI runs as root)"
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
            format!("{user}:{{PLAIN}}{PASSWORD}::::::\n"),
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
        Dovecot { child, port, dir }
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
