//! The start-a-server harness shared by the end-to-end tests: the real
//! `tidings serve` in a temporary directory, every listener it is asked for
//! bound to port 0 (on `127.0.0.1`) by the server itself (no "bind port 0, close, pass
//! the number" race), the ports read back from its `<protocol> listening on
//! <addr>` log lines, and small byte-level clients for what the third-party
//! clients cannot produce (hostile input).
//!
//! Each test file that uses it says `mod common;`; not every file uses every
//! helper.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, here as in every test file
#![allow(dead_code)]

pub mod dns;
pub mod dovecot;
pub mod pki;
pub mod postfix;
pub mod sink;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The password every account made by [`Server::start`] has.
pub const PASSWORD: &str = "test password";

/// Every listener the server knows, by its config/log name.
const PROTOCOLS: [&str; 9] = [
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "http",
    "https",
];

/// What to start: the listeners, the domains, the accounts and any extra
/// configuration text (appended to the file, so it may open sections).
pub struct Setup<'a> {
    pub protocols: &'a [&'a str],
    pub domains: &'a [&'a str],
    pub users: &'a [&'a str],
    /// The address every requested listener binds (port 0); loopback
    /// unless a test runs in its own network namespace
    /// ([`in_private_netns`]).
    pub host: &'a str,
    /// Top-level keys (before `[listen]`), e.g. `hostname = "mx.example.org"`.
    pub top: &'a str,
    /// Appended after `[listen]`: whole sections such as `[smtp]\n…`.
    /// Without a `[dns]` section of its own, the server is pointed at a
    /// [`dns::DnsStub`] with an empty zone (every name NXDOMAIN), so no
    /// test asks the system's resolver.
    pub extra: &'a str,
    /// Environment variables of the server process (e.g. `SSL_CERT_FILE`,
    /// the trust anchors for verified outbound TLS).
    pub env: &'a [(&'a str, &'a str)],
    /// A data directory to start from (copied), e.g. one an older release
    /// made; `None` starts empty.
    pub data_from: Option<&'a Path>,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            protocols: &["imap"],
            domains: &["localhost"],
            users: &["bob@localhost"],
            host: "127.0.0.1",
            top: "",
            extra: "",
            env: &[],
            data_from: None,
        }
    }
}

/// A running `tidings serve`. Killed (and reaped) when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    ports: HashMap<String, u16>,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// The log lines up to "started" of the last start.
    startup: Vec<String>,
    /// The default DNS stub, when the test did not bring its own.
    dns: Option<dns::DnsStub>,
    /// [`Setup::env`].
    env: Vec<(String, String)>,
    /// The PostgreSQL cluster of a server whose store is there
    /// (`TIDINGS_TEST_STORE=postgresql`).
    _postgres: Option<tidings_store::postgres::cluster::TestCluster>,
    /// The URL of that PostgreSQL store.
    store_url: Option<String>,
}

impl Server {
    pub fn start(setup: Setup<'_>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        // Enterable, not listable, by other users: a server started as
        // root that drops to another user must reach its data dir.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        let mut config = format!(
            "domains = [{}]\ndata_dir = \"data\"\n{}\n\n[listen]\n",
            setup
                .domains
                .iter()
                .map(|d| format!("\"{d}\""))
                .collect::<Vec<_>>()
                .join(", "),
            setup.top
        );
        for p in PROTOCOLS {
            let at = if setup.protocols.contains(&p) {
                format!("{}:0", setup.host)
            } else {
                "off".to_string()
            };
            config.push_str(&format!("{p} = \"{at}\"\n"));
        }
        config.push('\n');
        config.push_str(setup.extra);
        // `TIDINGS_TEST_STORE=postgresql` runs the server on a PostgreSQL
        // store (a database of its own in a private cluster), unless the
        // test chose its store itself.
        let postgres = match std::env::var("TIDINGS_TEST_STORE").as_deref() {
            Ok("postgresql") if !setup.extra.contains("[store]") => {
                let cluster = tidings_store::postgres::cluster::TestCluster::start()
                    .unwrap_or_else(|e| panic!("PostgreSQL is needed: {e}"));
                let url = cluster.database().unwrap_or_else(|e| panic!("{e}"));
                config.push_str(&format!("\n[store]\nurl = \"{url}\"\n"));
                Some((cluster, url))
            }
            _ => None,
        };
        let (postgres, store_url) = postgres.unzip();
        let dns = (!setup.extra.contains("[dns]")).then(|| dns::DnsStub::start(dns::Zone::new()));
        if let Some(stub) = &dns {
            config.push_str(&format!("\n{}", stub.config()));
        }
        std::fs::write(dir.path().join("tidings.toml"), config).unwrap();
        let (_tx, lines) = mpsc::channel();
        let mut server = Server {
            dir,
            ports: HashMap::new(),
            child: None,
            lines,
            startup: Vec::new(),
            dns,
            env: setup
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _postgres: postgres,
            store_url,
        };
        if let Some(from) = setup.data_from {
            copy_dir(from, &server.path("data"));
        }
        // The config's domains are added by every command that opens the
        // store. A fixed DKIM key spares each start an RSA key generation.
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../smtp/testdata/dkim-test.key");
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(server.path("data/dkim"))
                .unwrap();
            let at = server.path("data/dkim/tidings.key");
            std::fs::copy(&key, &at).unwrap();
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        for user in setup.users {
            server.ok(&["user", "add", user, "--password", PASSWORD]);
        }
        server.spawn();
        for p in setup.protocols {
            assert!(server.ports.contains_key(*p), "{p} did not listen");
        }
        server
    }

    fn spawn(&mut self) {
        let mut child = self
            .tidings()
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        self.lines = lines;
        self.ports.clear();
        self.startup = self.wait_for_all("started");
        for line in &self.startup {
            if let Some((protocol, port)) = listening(line) {
                self.ports.insert(protocol, port);
            }
        }
    }

    /// The log lines of the last start, up to "started".
    pub fn startup_log(&self) -> &[String] {
        &self.startup
    }

    /// The port a protocol's listener was bound to.
    pub fn port(&self, protocol: &str) -> u16 {
        *self
            .ports
            .get(protocol)
            .unwrap_or_else(|| panic!("{protocol} is not listening"))
    }

    /// The port a protocol's listener was bound to, if it listens.
    pub fn try_port(&self, protocol: &str) -> Option<u16> {
        self.ports.get(protocol).copied()
    }

    /// A `tidings` command run against this server's configuration.
    pub fn tidings(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
        cmd.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("TIDINGS_DATA_DIR")
            .env("TIDINGS_CONFIG", "tidings.toml");
        cmd
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The server's store, opened beside the running server: its data
    /// directory's, or the PostgreSQL one it runs on.
    pub fn open_store(&self) -> tidings_store::Store {
        tidings_store::Store::open_with(&self.path("data"), self.store_url.as_deref()).unwrap()
    }

    /// Runs a `tidings` subcommand that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.tidings().args(args).output().unwrap();
        assert_success(&o, &format!("tidings {args:?}"));
        String::from_utf8(o.stdout).unwrap()
    }

    /// Delivers `raw` to `rcpt` with `tidings deliver` (the LDA).
    pub fn deliver(&self, rcpt: &str, raw: &[u8]) {
        let mut child = self
            .tidings()
            .args(["deliver", rcpt])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(raw).unwrap();
        assert_success(&child.wait_with_output().unwrap(), "tidings deliver");
    }

    /// Waits (30 s at most) for a log line containing `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_all(needle).pop().unwrap()
    }

    /// Like [`Server::wait_for`], but a line logged during the last start
    /// (before "started", which the start itself took) counts too: for
    /// what a task spawned at start may log before or after "started".
    pub fn wait_for_since_start(&self, needle: &str) -> String {
        match self.startup.iter().find(|l| l.contains(needle)) {
            Some(line) => line.clone(),
            None => self.wait_for(needle),
        }
    }

    /// Every log line up to and including the first containing `needle`.
    fn wait_for_all(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(needle);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; got:\n{}", seen.join("\n"));
    }

    /// The log lines after the startup ones that [`Server::wait_for`] did
    /// not take, up to the end of the log (call after [`Server::terminate`]).
    pub fn rest_of_log(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }

    /// The server process's id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The server's resident memory in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The server's peak resident memory so far in KiB (Linux `VmHWM`):
    /// catches a spike that is freed before [`Server::rss_kib`] could see it.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// SIGTERM; waits (20 s at most) for the exit.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then start again on the same ports (clients that reconnect
    /// find the server where it was): the config's `:0` listeners are
    /// rewritten to the ports the first start was given.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let path = self.path("tidings.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        for (protocol, port) in &self.ports {
            let key = format!("\n{protocol} = \"");
            if let Some(at) = config.find(&key) {
                let start = at + key.len();
                let end = start + config[start..].find('"').unwrap();
                let addr = &config[start..end];
                if let Some(host) = addr.strip_suffix(":0") {
                    let fixed = format!("{host}:{port}");
                    config.replace_range(start..end, &fixed);
                }
            }
        }
        std::fs::write(&path, config).unwrap();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `… imap listening on 127.0.0.1:40123` → ("imap", 40123).
fn listening(line: &str) -> Option<(String, u16)> {
    // Text (`… imap listening on 127.0.0.1:143`) or JSON
    // (`…"message":"imap listening on 127.0.0.1:143"…`) log lines.
    let (before, after) = line.split_once(" listening on ")?;
    let protocol = before.rsplit(|c: char| !c.is_ascii_alphanumeric()).next()?;
    let addr: std::net::SocketAddr = after
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()?
        .parse()
        .ok()?;
    PROTOCOLS
        .contains(&protocol)
        .then(|| (protocol.to_string(), addr.port()))
}

/// Copies the directory `from` to `to` (created), files and subdirectories.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The Python interpreter of the PyPI test clients' virtualenv
/// (`scripts/install-deps` makes it; `TIDINGS_PYVENV` overrides where),
/// after checking that `module` imports there: a missing client fails the
/// test, it does not skip it.
pub fn pyvenv_python(module: &str) -> PathBuf {
    let venv = std::env::var_os("TIDINGS_PYVENV").map_or_else(
        || Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cache/tidings/pyvenv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{module} is not installed in {}: run scripts/install-deps",
        venv.display()
    );
    python
}

impl Server {
    /// Runs a Python script with `python`, the server's ports in its
    /// environment (`PORT_IMAP`, `PORT_HTTP`, …) and `PASSWORD`; fails
    /// the test (saying `what`) if the script fails.
    #[track_caller]
    pub fn run_python(&self, python: &Path, script: &str, what: &str) -> String {
        let mut cmd = Command::new(python);
        cmd.args(["-c", script]).env("PASSWORD", PASSWORD);
        for (protocol, port) in &self.ports {
            cmd.env(
                format!("PORT_{}", protocol.to_uppercase()),
                port.to_string(),
            );
        }
        let o = cmd.output().expect("python3 runs");
        assert_success(&o, what);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

#[track_caller]
pub fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A short message from ann@example.org with the given subject.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\nHello\r\n"
    )
    .into_bytes()
}

/// A line-oriented byte-level client for IMAP, POP3 and SMTP alike.
pub struct Raw {
    pub r: BufReader<TcpStream>,
}

impl Raw {
    /// Connects and reads the greeting line.
    pub fn connect(port: u16) -> (Raw, String) {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Raw {
            r: BufReader::new(tcp),
        };
        let greeting = c.line();
        (c, greeting)
    }

    /// An IMAP connection logged in as `user` with [`PASSWORD`].
    pub fn imap_login(port: u16, user: &str) -> Raw {
        let (mut c, greeting) = Raw::connect(port);
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let r = c.cmd(&format!("l1 LOGIN {user} \"{PASSWORD}\""));
        assert!(r.last().unwrap().starts_with("l1 OK"), "{r:?}");
        c
    }

    pub fn set_timeout(&self, t: Duration) {
        self.r.get_ref().set_read_timeout(Some(t)).unwrap();
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    /// One line without CRLF; empty at end of input.
    pub fn line(&mut self) -> String {
        let mut s = Vec::new();
        self.r.read_until(b'\n', &mut s).unwrap();
        String::from_utf8_lossy(&s)
            .trim_end_matches(['\r', '\n'])
            .to_string()
    }

    /// One line if it arrives within `t` (then the 20 s timeout again);
    /// `None` if nothing came: for unsolicited responses (IMAP NOTIFY,
    /// IDLE) and for checking that none come.
    pub fn line_within(&mut self, t: Duration) -> Option<String> {
        self.set_timeout(t);
        let mut s = Vec::new();
        let got = self.r.read_until(b'\n', &mut s);
        self.set_timeout(Duration::from_secs(20));
        match got {
            Ok(0) => None,
            Ok(_) => Some(
                String::from_utf8_lossy(&s)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                assert!(
                    s.is_empty(),
                    "half a line: {:?}",
                    String::from_utf8_lossy(&s)
                );
                None
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Sends an IMAP command line; returns every line up to the tagged reply.
    pub fn cmd(&mut self, line: &str) -> Vec<String> {
        let tag = line.split(' ').next().unwrap().to_string();
        self.send(format!("{line}\r\n").as_bytes());
        self.until(&tag)
    }

    /// Lines up to and including the one starting with `tag `.
    pub fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "connection closed; got {out:?}");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Whether the server closed the connection (after reading what is left).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).is_ok()
    }
}

/// A non-loopback address that tests reach inside their own network
/// namespace (TEST-NET-1, RFC 5737; on that namespace's `lo`, so no packet
/// leaves it).
pub const NETNS_ADDR: &str = "192.0.2.1";

/// Runs the calling test again inside a network namespace of its own
/// (`unshare -rn`), where [`NETNS_ADDR`] is an address of this host that is
/// not loopback: what tests of "no plaintext login off loopback" need,
/// without depending on the machine's own addresses or listening on them.
///
/// Returns `true` inside the namespace (go on with the test) and `false` in
/// the outer process, after asserting that the inner run passed (so the
/// caller just returns).
pub fn in_private_netns(test: &str) -> bool {
    rerun_in_namespaces(
        test,
        &["-rn"],
        &format!("ip link set lo up && ip addr add {NETNS_ADDR}/32 dev lo"),
    )
}

/// Like [`in_private_netns`], for tests whose peers must run as root and
/// take their resolver from `/etc/resolv.conf` (Postfix): the network
/// namespace comes without a user namespace, so the test stays the real
/// root (and fails with the reason when it is not), and with a mount
/// namespace of its own, in which `/etc/resolv.conf` names only
/// `127.0.0.1` (port 53, where the test starts its DNS stub,
/// [`dns::DnsStub::start_at`]) and trusts its AD bit (`options
/// trust-ad`, without which glibc clears it). Nothing outside the
/// namespaces sees either.
pub fn in_private_netns_as_root(test: &str) -> bool {
    if std::env::var_os("TIDINGS_TEST_IN_NETNS").is_some() {
        return true;
    }
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "{test} runs peers that need root (Postfix) in namespaces of its own: run it as root (CI does)"
    );
    let resolv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(resolv.path(), "nameserver 127.0.0.1\noptions trust-ad\n").unwrap();
    {
        // Read by Postfix's unprivileged processes too.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(resolv.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    rerun_in_namespaces(
        test,
        &["-mn"],
        &format!(
            "ip link set lo up && ip addr add {NETNS_ADDR}/32 dev lo && mount --bind '{}' /etc/resolv.conf",
            resolv.path().display()
        ),
    )
}

/// Runs the test binary again for `test` under `unshare FLAGS`, after the
/// shell commands `setup`; `true` inside, `false` outside once the inner
/// run passed.
fn rerun_in_namespaces(test: &str, flags: &[&str], setup: &str) -> bool {
    if std::env::var_os("TIDINGS_TEST_IN_NETNS").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!("{setup} && exec \"$0\" \"$@\"");
    let o = Command::new("unshare")
        .args(flags)
        .args(["sh", "-c", &script])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("TIDINGS_TEST_IN_NETNS", "1")
        .output()
        .expect("unshare (util-linux) and ip (iproute2) are needed: scripts/install-deps");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("1 passed"),
        "{test} inside its namespaces: {:?}\n{out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    false
}

/// Standard base64 with padding (RFC 4648 §4), for SASL and key material
/// in tests.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A loopback port free right now (for a peer that must know it before
/// it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 100 ms for at most 30 s, until it gives a value.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last reply the server's queue recorded for `rcpt`, once it
/// mentions `needle` (read from the store, beside the running server).
pub fn queued_reason(server: &Server, rcpt: &str, needle: &str) -> String {
    let store = tidings_store::Store::open(&server.path("data")).unwrap();
    let reason = eventually(
        &format!("a queue reason for {rcpt} with {needle:?}"),
        || {
            store
                .queue_list()
                .unwrap()
                .iter()
                .flat_map(|m| m.recipients.iter())
                .filter(|r| r.address == rcpt)
                .filter_map(|r| r.reply.clone())
                .find(|r| r.contains(needle))
        },
    );
    store.close();
    reason
}
