//! A private PostgreSQL 15 cluster for tests: Debian's `initdb` and
//! `pg_ctl` (package `postgresql-15`, installed by `scripts/install-deps
//! --peers`) in a temporary directory, listening on 127.0.0.1 on a port of
//! its own, with password (SCRAM) authentication. No system service is
//! involved. PostgreSQL refuses to run as root: started as root, the
//! cluster runs as the unprivileged `postgres` user the package creates.
//!
//! `TIDINGS_TEST_PG_URL` (a `postgresql://` URL of a superuser) makes the
//! tests use a cluster that is already running instead of starting one.
//! Each test gets a database of its own ([`TestCluster::database`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian installs PostgreSQL 15's server programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

const USER: &str = "tidings";
const PASSWORD: &str = "tidings-test";

/// A running cluster; stopped and removed when dropped (unless it was
/// given by `TIDINGS_TEST_PG_URL`).
#[derive(Debug)]
pub struct TestCluster {
    /// `postgresql://user:password@127.0.0.1:port`, without a database.
    base_url: String,
    /// The directory of a cluster this process started.
    dir: Option<PathBuf>,
    /// The user the cluster runs as, when started as root.
    run_as: Option<String>,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl TestCluster {
    /// The cluster of `TIDINGS_TEST_PG_URL`, else a new one. The error
    /// says why PostgreSQL could not be started (a test then fails with it).
    pub fn start() -> Result<TestCluster, String> {
        if let Ok(url) = std::env::var("TIDINGS_TEST_PG_URL") {
            return Ok(TestCluster {
                base_url: url.trim_end_matches('/').to_string(),
                dir: None,
                run_as: None,
            });
        }
        let initdb = Path::new(PG_BIN).join("initdb");
        if !initdb.is_file() {
            return Err(format!(
                "PostgreSQL 15 is not installed ({} is missing): run scripts/install-deps --peers as root",
                initdb.display()
            ));
        }
        let run_as = if is_root() {
            // initdb and postgres refuse root; the package's user runs them.
            let ok = Command::new("id")
                .arg("-u")
                .arg("postgres")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(
                    "running as root, and there is no unprivileged `postgres` user to run PostgreSQL as"
                        .into(),
                );
            }
            Some("postgres".to_string())
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!(
            "tidings-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = TestCluster {
            base_url: String::new(),
            dir: Some(dir.clone()),
            run_as,
        };
        if let Some(user) = &cluster.run_as {
            run(Command::new("chown").arg(user).arg(&dir))?;
        }
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| format!("{}: {e}", pwfile.display()))?;
        if let Some(user) = &cluster.run_as {
            run(Command::new("chown").arg(user).arg(&pwfile))?;
        }
        let data = dir.join("data");
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .arg("-U")
            .arg(USER)
            .arg("--auth=scram-sha-256")
            .arg("--pwfile")
            .arg(&pwfile)
            .arg("--no-sync")
            .arg("-E")
            .arg("UTF8")
            .arg("--locale=C"))?;
        // A port nobody listens on now; postmaster fails clearly if taken.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
            dir.display()
        );
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .arg("-o")
            .arg(options)
            .arg("-w")
            .arg("start"))
        .map_err(|e| {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            format!("{e}\n{log}")
        })?;
        cluster.base_url = format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}");
        Ok(cluster)
    }

    /// A new, empty database of the cluster; its URL.
    pub fn database(&self) -> Result<String, String> {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let psql = Path::new("/usr/bin/psql");
        if !psql.is_file() {
            return Err("psql (postgresql-client) is not installed".into());
        }
        run(Command::new(psql)
            .arg(format!("{}/postgres", self.base_url))
            .arg("-q")
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}")))?;
        Ok(format!("{}/{name}", self.base_url))
    }

    /// The URL without a database.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn command(&self, program: &str) -> Command {
        let path = Path::new(PG_BIN).join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(path);
                c
            }
            None => Command::new(path),
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-m")
                .arg("immediate")
                .arg("-w")
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether this process runs as root (by `id -u`: the store forbids
/// `unsafe` and has no libc binding for `geteuid`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
