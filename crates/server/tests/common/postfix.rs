//! A throwaway Postfix as a test peer (installed by `scripts/install-deps
//! --peers`): its own configuration, queue and data directories under a
//! directory the test gives, `smtpd` on the addresses the test names and
//! nowhere else, mail for its virtual domains written to Maildirs, its log
//! in a file of its own. Debian's `master.cf` is the base, without chroot.
//! A missing Postfix, or a test not run as root (Postfix changes to its
//! own users), fails the test with the reason. Stopped when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::assert_success;

/// A running private Postfix.
pub struct Postfix {
    dir: PathBuf,
}

/// The `main.cf` every instance starts from; a test's own lines replace
/// the parameters they set and add the others. `$D` is the
/// instance's directory. Mail for `ann@peer.test` is delivered to the
/// Maildir `$D/vmail/ann/`.
const MAIN_CF: &str = "compatibility_level = 3.6
queue_directory = $D/queue
data_directory = $D/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.test
mydomain = postfix.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no
maillog_file = $D/maillog
maillog_file_prefixes = $D
smtp_tls_security_level = may
smtpd_tls_security_level = none
virtual_mailbox_domains = peer.test
virtual_mailbox_base = $D/vmail
virtual_mailbox_maps = inline:{ ann@peer.test=ann/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
biff = no
";

impl Postfix {
    /// Starts an instance in `dir` (created). `listeners` are the
    /// `smtpd` services, each `ADDR:PORT` optionally followed by
    /// `-o name=value` overrides (as in `master.cf`); `main_cf` holds
    /// `name = value` lines (one a line) over [`MAIN_CF`], with `$D`
    /// standing for `dir`. Returns once every
    /// listener accepts connections.
    pub fn start(dir: &Path, listeners: &[&str], main_cf: &str) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "Postfix is needed as the peer of this test: run scripts/install-deps --peers"
        );
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test runs Postfix, which needs root to change to its own users (CI runs as root)"
        );
        for sub in ["etc", "queue", "data", "vmail"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.to_str().unwrap();
        // master.cf: Debian's, no chroot, no smtpd but the test's.
        let debian = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
        let mut master = String::new();
        for line in debian.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let service = !line.starts_with(['#', ' ', '\t'])
                && fields.len() >= 8
                && ["inet", "unix", "unix-dgram", "fifo", "pass"].contains(&fields[1]);
            if service && fields[0] == "smtp" && fields[1] == "inet" {
                continue;
            }
            if service && fields[4] == "y" {
                let mut fields = fields.clone();
                fields[4] = "n";
                master.push_str(&fields.join(" "));
            } else {
                master.push_str(line);
            }
            master.push('\n');
        }
        for listener in listeners {
            let (addr, options) = listener.split_once(' ').unwrap_or((listener, ""));
            master.push_str(&format!("{addr} inet n - n - - smtpd {options}\n"));
        }
        std::fs::write(dir.join("etc/master.cf"), master).unwrap();
        // A parameter the test sets replaces the default: a repeated one
        // is logged as a warning by every process, and Postfix's log
        // daemon, logging its own, can block on its own socket.
        let name = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
        let ours: Vec<String> = main_cf.lines().map(name).collect();
        let mut main: String = MAIN_CF
            .lines()
            .filter(|l| !ours.contains(&name(l)))
            .map(|l| format!("{l}\n"))
            .collect();
        main.push_str(main_cf);
        std::fs::write(dir.join("etc/main.cf"), main.replace("$D", d)).unwrap();
        // Virtual delivery runs as 65534; the queue's data as postfix.
        let chown = |owner: &str, path: &Path| {
            let o = Command::new("chown").arg(owner).arg(path).output().unwrap();
            assert_success(&o, "chown");
        };
        chown("65534", &dir.join("vmail"));
        chown("postfix", &dir.join("data"));
        let postfix = |args: &[&str]| {
            Command::new("postfix")
                .arg("-c")
                .arg(dir.join("etc"))
                .args(args)
                .output()
                .unwrap()
        };
        // Makes the queue's subdirectories with their owners; its
        // complaints about Debian's own files do not matter here.
        let _ = postfix(&["set-permissions"]);
        assert_success(&postfix(&["check"]), "postfix check");
        assert_success(&postfix(&["start"]), "postfix start");
        let running = Postfix {
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for listener in listeners {
            let addr = listener.split(' ').next().unwrap();
            while TcpStream::connect(addr).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "postfix did not listen on {addr}:\n{}",
                    running.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        running
    }

    /// The messages delivered to the Maildir `$D/vmail/<mailbox>/`.
    pub fn maildir(&self, mailbox: &str) -> Vec<String> {
        let new = self.dir.join("vmail").join(mailbox).join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// The messages in Postfix's queue, as `postqueue -j` describes them
    /// (one JSON object each: `queue_name`, `recipients` with
    /// `address` and `delay_reason`, ...).
    pub fn queue(&self) -> Vec<serde_json::Value> {
        let o = Command::new("postqueue")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("-j")
            .output()
            .unwrap();
        assert_success(&o, "postqueue -j");
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // Bounded: a stuck instance must not hang the test run.
        let _ = Command::new("timeout")
            .args(["20", "postfix", "-c"])
            .arg(self.dir.join("etc"))
            .arg("stop")
            .output();
    }
}
