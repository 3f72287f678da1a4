//! Postfix's `smtp-sink` as the remote server of the tests that deliver
//! mail out: it records each message with its envelope (`X-Mail-Args`,
//! `X-Rcpt-Args`) in a file of its own.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `smtp-sink` (from Postfix) on a free port, as the remote server: it
/// dumps each message with its envelope.
pub struct Sink {
    child: Child,
    dump: PathBuf,
}

impl Sink {
    /// `args`: smtp-sink's options (`-f RCPT`: refuse recipients with 5xx).
    pub fn start(dir: &Path, port: u16, args: &[&str]) -> Sink {
        let bin = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("smtp-sink not installed (scripts/install-deps --peers)");
        let dump = dir.join(format!("sink-{port}"));
        std::fs::create_dir_all(&dump).unwrap();
        // smtp-sink drops root privileges to `nobody`, who must write the dumps.
        let _ = Command::new("chmod").arg("777").arg(&dump).status();
        let mut cmd = Command::new(bin);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if root {
            cmd.args(["-u", "nobody"]);
        }
        let template = format!("{}/%H%M%S.", dump.display());
        let child = cmd
            .args(["-d", &template])
            .args(args)
            .arg(format!("127.0.0.1:{port}"))
            .arg("10")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink { child, dump }
    }

    pub fn messages(&self) -> Vec<String> {
        std::fs::read_dir(&self.dump)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    /// Waits (20 s at most) for a message containing `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m.contains(needle)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message with {needle:?} at the sink; got {:?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
