//! The `tidings` command line, run as a subprocess in a fresh temporary
//! directory per test: the contract scripts rely on (exit codes, one-line
//! errors, what goes to standard output).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn tidings(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("TIDINGS_CONFIG")
        .env_remove("TIDINGS_DATA_DIR");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    tidings(dir)
        .args(args)
        .output()
        .expect("cannot run tidings")
}

/// Runs with `stdin` as standard input.
fn run_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = tidings(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run tidings");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("cannot write to tidings");
    child.wait_with_output().expect("cannot wait for tidings")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Asserts a failure with exactly one line on standard error, `error: ...`,
/// and returns that line.
#[track_caller]
fn assert_one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err:?}");
    assert!(lines[0].starts_with("error: "), "{err:?}");
    lines[0].to_string()
}

#[test]
fn version() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["version"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        format!("tidings {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn user_add_then_a_wrong_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run_with_stdin(
        d,
        &["user", "add", "bob@localhost", "--password-stdin"],
        "s3cret\n",
    );
    assert_ok(&o);
    assert_eq!(stdout(&o), "added bob@localhost\n");

    let o = run_with_stdin(
        d,
        &["user", "verify", "bob@localhost", "--password-stdin"],
        "s3cret\n",
    );
    assert_ok(&o);
    let o = run_with_stdin(
        d,
        &["user", "verify", "bob@localhost", "--password-stdin"],
        "wrong\n",
    );
    assert_eq!(assert_one_line_error(&o), "error: wrong password");
    assert_eq!(o.status.code(), Some(1));

    // passwd changes it; --password works as well as standard input.
    assert_ok(&run(
        d,
        &["user", "passwd", "bob@localhost", "--password", "n3w"],
    ));
    assert_one_line_error(&run(
        d,
        &["user", "verify", "bob@localhost", "--password", "s3cret"],
    ));
    assert_ok(&run(
        d,
        &["user", "verify", "bob@localhost", "--password", "n3w"],
    ));
}

#[test]
fn user_add_needs_the_domain_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = assert_one_line_error(&run(
        d,
        &["user", "add", "a@example.org", "--password", "x"],
    ));
    assert!(e.contains("tidings domain add example.org"), "{e}");
    // No terminal and no password flag: refused, not stuck on a prompt.
    let o = run_with_stdin(d, &["user", "add", "a@localhost"], "");
    let e = assert_one_line_error(&o);
    assert!(e.contains("--password-stdin"), "{e}");
    let o = run_with_stdin(d, &["user", "add", "a@localhost", "--password-stdin"], "\n");
    assert_eq!(assert_one_line_error(&o), "error: empty password");
}

#[test]
fn check_is_clean_on_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(d, &["check"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("clean"), "{}", stdout(&o));
    assert_ok(&run(
        d,
        &["user", "add", "bob@localhost", "--password", "pw"],
    ));
    let o = run(d, &["check"]);
    assert_ok(&o);
    assert!(
        stdout(&o).starts_with("checked 1 accounts"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn admin_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_ok(&run(d, &["domain", "add", "example.org"]));
    assert_eq!(
        stdout(&run(d, &["domain", "list"])),
        "example.org\nlocalhost\n"
    );
    assert_ok(&run(
        d,
        &["user", "add", "ann@example.org", "--password", "pw"],
    ));
    assert_ok(&run(d, &["user", "quota", "ann@example.org", "2G"]));
    let list = stdout(&run(d, &["user", "list"]));
    assert!(
        list.starts_with("ann@example.org") && list.contains("quota     2G"),
        "{list}"
    );
    assert_ok(&run(
        d,
        &["alias", "add", "@example.org", "ann@example.org"],
    ));
    assert_eq!(
        stdout(&run(d, &["alias", "list"])),
        "@example.org -> ann@example.org\n"
    );

    // A domain in use cannot go.
    assert_one_line_error(&run(d, &["domain", "del", "example.org"]));
    assert_ok(&run(d, &["alias", "del", "@example.org"]));
    assert_ok(&run(d, &["user", "del", "ann@example.org"]));
    assert_ok(&run(d, &["domain", "del", "example.org"]));
    assert_eq!(stdout(&run(d, &["domain", "list"])), "localhost\n");
    assert_eq!(stdout(&run(d, &["user", "list"])), "");
}

#[test]
fn bad_commands_fail_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["frobnicate"][..],
        &["user", "add"],
        &[
            "user",
            "add",
            "a@localhost",
            "--password",
            "x",
            "--password-stdin",
        ],
        &["init", "--domain", "example.org"],
        &[
            "init",
            "--domain",
            "bad domain",
            "--hostname",
            "mail.example.org",
        ],
        &["user", "quota", "a@localhost", "5X"],
        &["user", "del", "nobody@localhost"],
        &["user", "verify", "nobody@localhost", "--password", "x"],
        &["domain", "del", "nonexistent.example"],
        &["alias", "add", "x@localhost", "nobody@localhost"],
        &["--config", "missing.toml", "user", "list"],
    ] {
        let o = run(d, args);
        assert!(o.status.code().is_some_and(|c| c != 0), "{args:?}");
        let line = assert_one_line_error(&o);
        assert!(line.len() > "error: ".len() + 5, "{args:?}: {line}");
    }
}

#[test]
fn unknown_config_key_names_the_key_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("tidings.toml"),
        "hostname = \"mail.example.org\"\n\n[listen]\nimap = \"127.0.0.1:1143\"\nimapp = \"127.0.0.1:1144\"\n",
    )
    .unwrap();
    for args in [&["user", "list"][..], &["serve"]] {
        let e = assert_one_line_error(&run(d, args));
        assert!(e.contains("tidings.toml line 5"), "{e}");
        assert!(e.contains("`imapp`"), "{e}");
    }
    // --config names another file.
    std::fs::write(d.join("other.toml"), "data_dir = \"x\"\nbogus = 1\n").unwrap();
    let e = assert_one_line_error(&run(d, &["--config", "other.toml", "check"]));
    assert!(
        e.contains("other.toml line 2") && e.contains("`bogus`"),
        "{e}"
    );
}

#[test]
fn init_writes_a_config_and_prints_a_valid_dkim_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "init",
        "--domain",
        "example.org",
        "--hostname",
        "mail.example.org",
    ];
    let o = run(d, &args);
    assert_ok(&o);
    let out = stdout(&o);
    for want in [
        "example.org.",
        "IN MX    10 mail.example.org.",
        "v=spf1 mx -all",
        "_dmarc.example.org.",
        "_imaps._tcp.example.org.",
        "autoconfig.example.org.",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }

    // The DKIM record: quoted strings of at most 255 characters whose
    // concatenation carries the base64 of an RSA SubjectPublicKeyInfo.
    let line = out
        .lines()
        .find(|l| l.starts_with("tidings._domainkey.example.org."))
        .unwrap();
    let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
    let txt = strings.concat();
    let p = txt.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
    let der = base64_decode(p).unwrap_or_else(|| panic!("p= is not base64: {p}"));
    assert_eq!(der[0], 0x30, "not a DER SEQUENCE");
    assert_eq!(der.len(), 294, "not an RSA-2048 SubjectPublicKeyInfo");

    // The key is private; the config works; the domain is in the store.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(d.join("tidings-data/dkim/tidings.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let config = std::fs::read_to_string(d.join("tidings.toml")).unwrap();
    assert!(config.contains("imaps = \"0.0.0.0:993\""), "{config}");
    // No DMARC aggregate reports are asked for: nothing reads them yet.
    let dmarc = out.lines().find(|l| l.starts_with("_dmarc.")).unwrap();
    assert!(!dmarc.contains("rua="), "{out}");
    // A systemd unit beside the config: never root, only the bind capability.
    let unit = std::fs::read_to_string(d.join("tidings.service")).unwrap();
    let abs = std::path::absolute(d).unwrap();
    for want in [
        format!(
            "ExecStart={} --config {}/tidings.toml serve",
            env!("CARGO_BIN_EXE_tidings"),
            abs.display()
        ),
        "User=tidings".to_string(),
        "AmbientCapabilities=CAP_NET_BIND_SERVICE".to_string(),
        "NoNewPrivileges=yes".to_string(),
        "ProtectSystem=strict".to_string(),
        format!("ReadWritePaths={}/tidings-data", abs.display()),
    ] {
        assert!(unit.contains(&want), "missing {want:?}:\n{unit}");
    }
    let o = run(d, &["domain", "list"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "example.org\n");

    // Not overwritten without --force; with it, the DKIM key is kept.
    let e = assert_one_line_error(&run(d, &args));
    assert!(e.contains("--force"), "{e}");
    let o = run(d, &[&args[..], &["--force"]].concat());
    assert_ok(&o);
    assert!(
        stdout(&o).contains(p.get(..100).unwrap()),
        "the DKIM key changed"
    );
}

#[test]
fn user_add_works_on_a_fresh_config_before_the_first_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("tidings.toml"),
        "hostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n",
    )
    .unwrap();
    let o = run_with_stdin(
        d,
        &[
            "--config",
            "tidings.toml",
            "user",
            "add",
            "ann@example.com",
            "--password-stdin",
        ],
        "a good long password\n",
    );
    assert_ok(&o);
    let o = run(d, &["--config", "tidings.toml", "domain", "list"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "example.com\n");
}

#[test]
fn domain_add_prints_the_records_to_publish_with_the_servers_dkim_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("tidings.toml"), "hostname = \"mail.example.com\"\n").unwrap();
    let o = run(
        d,
        &["--config", "tidings.toml", "domain", "add", "Example.NET"],
    );
    assert_ok(&o);
    let out = stdout(&o);
    for want in [
        "example.net.",
        "IN MX    10 mail.example.com.",
        "v=spf1 mx -all",
        "_dmarc.example.net.",
        "tidings._domainkey.example.net.",
        "_submissions._tcp.example.net.",
        "_mta-sts.example.net.",
        "\"v=STSv1; id=",
        "mta-sts.example.net.",
        "_smtp._tls.example.net.",
        "\"v=TLSRPTv1; rua=mailto:postmaster@example.net\"",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    // The key was made (0600) and a second domain is published with the same one.
    let key = std::fs::read(d.join("tidings-data/dkim/tidings.key")).unwrap();
    let p = |out: &str| {
        let line = out
            .lines()
            .find(|l| l.contains("._domainkey."))
            .unwrap()
            .to_string();
        line.split('"').skip(1).step_by(2).collect::<String>()
    };
    let first = p(&out);
    assert!(first.starts_with("v=DKIM1; k=rsa; p="), "{first}");
    let o = run(
        d,
        &["--config", "tidings.toml", "domain", "add", "example.org"],
    );
    assert_ok(&o);
    assert_eq!(p(&stdout(&o)), first);
    assert_eq!(
        std::fs::read(d.join("tidings-data/dkim/tidings.key")).unwrap(),
        key
    );
}

/// A running `tidings serve` whose output lines arrive on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the zero-config server in a network namespace of its own
    /// (`unshare -rn`, loopback brought up inside): it binds the default
    /// ports (2525, 1143, …), which may be taken on the machine that runs
    /// the tests (a developer's own server), but never are in there.
    fn start(dir: &Path) -> Server {
        let mut child = Command::new("unshare")
            .args(["-rn", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_tidings"))
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env_remove("TIDINGS_CONFIG")
            .env_remove("TIDINGS_DATA_DIR")
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run tidings serve");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(format!("out: {line}"));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("err: {line}"));
            }
        });
        Server { child, lines }
    }

    /// Waits for a line containing `needle`; panics with what came instead.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?}; got:\n{}", seen.join("\n"));
    }

    /// Sends SIGTERM and returns the exit status, waiting at most 15 s.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for serve") {
                return (status, self.lines.try_iter().collect());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("serve did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn serve_with_no_config_prints_the_postmaster_password_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    // The first start makes a DKIM key, as it makes the certificate.
    server.wait_for("made a DKIM key at");
    server.wait_for("DKIM signing with selector tidings");
    let line = server.wait_for("postmaster@localhost password: ");
    let password = line
        .strip_prefix("out: postmaster@localhost password: ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(p, _)| p.to_string())
        .unwrap();
    assert!(
        line.ends_with("(shown once; change it with tidings user passwd)"),
        "{line}"
    );
    assert!(password.len() >= 16 && password.bytes().all(|b| b.is_ascii_alphanumeric()));
    let key = std::fs::read(d.join("tidings-data/dkim/tidings.key")).unwrap();
    let (status, rest) = server.terminate();
    assert!(status.success(), "{status:?}: {rest:#?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:#?}");

    // The printed password is the postmaster's.
    let o = run_with_stdin(
        d,
        &["user", "verify", "postmaster@localhost", "--password-stdin"],
        &format!("{password}\n"),
    );
    assert_ok(&o);

    // The second start shows no password and reuses the certificate.
    let cert = std::fs::read(d.join("tidings-data/tls/cert.pem")).unwrap();
    let server = Server::start(d);
    server.wait_for("started");
    let (status, rest) = server.terminate();
    assert!(status.success(), "{status:?}: {rest:#?}");
    assert!(!rest.iter().any(|l| l.contains("password")), "{rest:#?}");
    assert_eq!(
        std::fs::read(d.join("tidings-data/tls/cert.pem")).unwrap(),
        cert
    );
    assert_eq!(
        std::fs::read(d.join("tidings-data/dkim/tidings.key")).unwrap(),
        key
    );
    assert_ok(&run(d, &["check"]));
}

/// Standard base64 with padding (RFC 4648 §4); `None` if it is not.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in body.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    // Leftover bits must be zero padding.
    (bits == 0).then_some(out)
}

#[test]
fn deliver_is_a_local_delivery_agent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_ok(&run(
        d,
        &["user", "add", "bob@localhost", "--password", "pw"],
    ));
    assert_ok(&run(
        d,
        &["user", "add", "ann@localhost", "--password", "pw"],
    ));
    assert_ok(&run(
        d,
        &["alias", "add", "team@localhost", "ann@localhost"],
    ));
    let msg = "From: x@example.net\r\nSubject: hello\r\n\r\nbody\r\n";
    // bob twice (via +tag) gets one copy; ann via her alias.
    let o = run_with_stdin(
        d,
        &[
            "deliver",
            "bob@localhost",
            "bob+tag@localhost",
            "team@localhost",
        ],
        msg,
    );
    assert_ok(&o);
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    // Into a named mailbox, with a flag.
    let o = run_with_stdin(
        d,
        &[
            "deliver",
            "--mailbox",
            "Archive",
            "--flag",
            "\\Seen",
            "bob@localhost",
        ],
        msg,
    );
    assert_ok(&o);
    // Unknown recipient: EX_NOUSER, nothing stored for anyone.
    let o = run_with_stdin(d, &["deliver", "bob@localhost", "nobody@localhost"], msg);
    assert_one_line_error(&o);
    assert_eq!(o.status.code(), Some(67));
    // Over quota: EX_TEMPFAIL.
    assert_ok(&run(d, &["user", "quota", "ann@localhost", "10"]));
    let o = run_with_stdin(d, &["deliver", "team@localhost"], msg);
    assert_eq!(o.status.code(), Some(75), "{}", stderr(&o));
    // Empty message: EX_DATAERR.
    let o = run_with_stdin(d, &["deliver", "bob@localhost"], "");
    assert_eq!(o.status.code(), Some(65));
    assert_ok(&run(d, &["check"]));

    // What was stored is exactly what was sent.
    let store = tidings_store::Store::open(&d.join("tidings-data")).unwrap();
    let bob = store.account("bob@localhost").unwrap().unwrap();
    let inbox = store
        .mailbox_by_role(bob.id, tidings_types::MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let entries = store.mailbox_entries(bob.id, inbox.id).unwrap();
    assert_eq!(
        entries.len(),
        1,
        "one copy for two addresses, none from the refused delivery"
    );
    assert_eq!(
        store.email_raw(bob.id, entries[0].email).unwrap(),
        msg.as_bytes()
    );
    let archive = store
        .mailbox_by_role(bob.id, tidings_types::MailboxRole::Archive)
        .unwrap()
        .unwrap();
    let archived = store.mailbox_entries(bob.id, archive.id).unwrap();
    assert!(archived[0].keywords.iter().any(|k| k.as_str() == "\\Seen"));
    store.close();
}

/// Durability through the binary: `tidings deliver` processes are killed
/// with SIGKILL at varying points; every delivery that exited 0 is stored
/// exactly once, byte for byte, and `tidings check` is clean.
#[test]
fn deliveries_killed_mid_write_leave_a_clean_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_ok(&run(
        d,
        &["user", "add", "bob@localhost", "--password", "pw"],
    ));
    let message = |i: usize| {
        // Some over 64 KiB (a blob file), most small (inside the database).
        let pad = "x".repeat(if i.is_multiple_of(4) { 70_000 } else { i * 37 });
        format!("Subject: crash {i}\r\nMessage-ID: <{i}@crash>\r\n\r\n{pad}\r\nend {i}\r\n")
    };
    let mut acked = Vec::new();
    for i in 0..40 {
        let mut child = tidings(d)
            .args(["deliver", "bob@localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(message(i).as_bytes());
        drop(stdin);
        // Kill points from "before it opened the store" to "after it finished".
        std::thread::sleep(Duration::from_millis((i as u64 * 7) % 60));
        let _ = child.kill(); // SIGKILL; an error means it had already exited
        let status = child.wait().unwrap();
        if status.success() {
            acked.push(i);
        }
    }
    assert!(
        !acked.is_empty(),
        "no delivery finished before its kill; the kill points are too early"
    );
    assert!(
        acked.len() < 40,
        "every delivery finished before its kill; the kill points are too late"
    );
    let o = run(d, &["check"]);
    assert_ok(&o);
    let store = tidings_store::Store::open(&d.join("tidings-data")).unwrap();
    let bob = store.account("bob@localhost").unwrap().unwrap();
    let inbox = store
        .mailbox_by_role(bob.id, tidings_types::MailboxRole::Inbox)
        .unwrap()
        .unwrap();
    let stored: Vec<Vec<u8>> = store
        .mailbox_entries(bob.id, inbox.id)
        .unwrap()
        .iter()
        .map(|e| store.email_raw(bob.id, e.email).unwrap())
        .collect();
    for i in &acked {
        let want = message(*i).into_bytes();
        assert_eq!(
            stored.iter().filter(|s| **s == want).count(),
            1,
            "acknowledged delivery {i} not stored exactly once"
        );
    }
    store.close();
}
