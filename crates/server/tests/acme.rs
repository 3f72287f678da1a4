//! ACME (RFC 8555) against Pebble, the Let's Encrypt team's test CA
//! (Debian's `pebble`, installed by `scripts/install-deps`): the server
//! orders a certificate for its hostname, proves it with HTTP-01 on its own
//! HTTP port, serves it on its TLS ports, keeps it over a restart and
//! renews it when it is due. Pebble resolves names through a DNS stub; no
//! packet leaves 127.0.0.1.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::dns::{DnsStub, Zone};
use common::{Server, Setup, assert_success, free_port};

const HOST: &str = "mail.example.org";

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed: run scripts/install-deps");
    assert_success(&o, &format!("openssl {args:?}"));
}

/// A CA (`ca.pem`) and, signed by it, the certificate Pebble's own HTTPS
/// listener presents (`pebble.pem`, `pebble.key`).
fn pebble_tls(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tidings test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "pebble.key",
            "-out",
            "pebble.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("pebble.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "pebble.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "pebble.pem",
            "-days",
            "2",
            "-extfile",
            "pebble.ext",
        ],
    );
}

/// A running Pebble; killed when dropped.
struct Pebble {
    child: Child,
    mgmt: u16,
    _dns: DnsStub,
}

impl Pebble {
    /// Pebble on `port`, checking HTTP-01 on `http_port`, issuing
    /// certificates valid for `validity_days`.
    fn start(dir: &Path, port: u16, http_port: u16, https_port: u16, validity_days: u64) -> Pebble {
        let bin = Path::new("/usr/bin/pebble");
        assert!(
            bin.exists(),
            "pebble (the ACME test CA) is not installed: run scripts/install-deps"
        );
        let dns = DnsStub::start(Zone::new().ip(HOST, "127.0.0.1"));
        let mgmt = free_port();
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt}"),
                "certificate": dir.join("pebble.pem"),
                "privateKey": dir.join("pebble.key"),
                "httpPort": http_port,
                "tlsPort": https_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": validity_days * 86_400,
            }
        });
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
        let child = Command::new(bin)
            .args(["-config", dir.join("pebble.json").to_str().unwrap()])
            .args(["-dnsserver", &dns.addr().to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble starts");
        Pebble {
            child,
            mgmt,
            _dns: dns,
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client that trusts only Pebble's root sees on `port` when it
/// asks for HOST: the certificate's serial number and notAfter. The root is
/// fetched from Pebble's management port (it is made at each start).
fn served(server: &Server, dir: &Path, pebble: &Pebble, protocol: &str) -> String {
    let script = format!(
        r#"
import os, socket, ssl, urllib.request
ctx = ssl.create_default_context(cafile={ca:?})
root = urllib.request.urlopen("https://127.0.0.1:{mgmt}/roots/0", context=ctx).read()
with open({root:?}, "wb") as f:
    f.write(root)
client = ssl.create_default_context(cafile={root:?})
with socket.create_connection(("127.0.0.1", int(os.environ["PORT_{port}"]))) as sock:
    with client.wrap_socket(sock, server_hostname="{host}") as tls:
        cert = tls.getpeercert()
        names = [v for k, v in cert["subjectAltName"] if k == "DNS"]
        assert names == ["{host}"], names
        print(cert["serialNumber"], cert["notAfter"])
"#,
        ca = dir.join("ca.pem").display().to_string(),
        root = dir.join("pebble-root.pem").display().to_string(),
        mgmt = pebble.mgmt,
        port = protocol.to_uppercase(),
        host = HOST,
    );
    server
        .run_python(
            Path::new("/usr/bin/python3"),
            &script,
            "a TLS client trusting Pebble's root",
        )
        .trim()
        .to_string()
}

fn set_renew_before(server: &Server, value: &str) {
    let path = server.path("tidings.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let start = config.find("renew_before = \"").unwrap() + "renew_before = \"".len();
    let end = start + config[start..].find('"').unwrap();
    let mut config = config;
    config.replace_range(start..end, value);
    std::fs::write(&path, config).unwrap();
}

#[test]
fn a_certificate_from_the_ca_is_served_kept_and_renewed() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    pebble_tls(dir);
    let acme_port = free_port();
    let mut server = Server::start(Setup {
        protocols: &["http", "https", "imaps"],
        top: &format!("hostname = \"{HOST}\""),
        extra: &format!(
            "[acme]\ndirectory = \"https://127.0.0.1:{acme_port}/dir\"\nca_file = \"{}\"\nemail = \"postmaster@example.org\"\nretry_after = \"1s\"\nrenew_before = \"1d\"\n",
            dir.join("ca.pem").display()
        ),
        ..Setup::default()
    });
    // The CA is not up yet: the order fails, says so, and is tried again.
    server.wait_for_since_start("ACME order failed");
    let pebble = Pebble::start(
        dir,
        acme_port,
        server.port("http"),
        server.port("https"),
        20,
    );
    let line = server.wait_for("ACME certificate in use");
    assert!(line.contains(HOST), "{line}");
    let acme_dir: PathBuf = server.path("data/acme");
    for f in ["account.json", "key.pem"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(acme_dir.join(f)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let first = served(&server, dir, &pebble, "imaps");
    assert_eq!(served(&server, dir, &pebble, "https"), first);
    let cert = std::fs::read(acme_dir.join("cert.pem")).unwrap();
    let account = std::fs::read(acme_dir.join("account.json")).unwrap();

    // A restart with 20 days left and renewal at 1 day: nothing ordered,
    // the same certificate served from the first handshake on.
    server.kill_and_restart();
    let line = server.wait_for_since_start("ACME certificate valid until");
    assert!(line.contains("renewal from"), "{line}");
    assert_eq!(served(&server, dir, &pebble, "imaps"), first);
    assert_eq!(std::fs::read(acme_dir.join("cert.pem")).unwrap(), cert);

    // Renewal 25 days ahead: the 20-day certificate is due, so a new one
    // (same account) replaces it.
    set_renew_before(&server, "25d");
    server.kill_and_restart();
    server.wait_for_since_start("ACME certificate in use");
    let second = served(&server, dir, &pebble, "imaps");
    assert_ne!(second, first);
    assert_ne!(std::fs::read(acme_dir.join("cert.pem")).unwrap(), cert);
    // The same account both times.
    assert_eq!(
        std::fs::read(acme_dir.join("account.json")).unwrap(),
        account
    );
}

#[test]
fn tls_alpn_01_proves_the_name_on_the_https_port_alone() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    pebble_tls(dir);
    let acme_port = free_port();
    let server = Server::start(Setup {
        protocols: &["https", "imaps"],
        top: &format!("hostname = \"{HOST}\""),
        extra: &format!(
            "[acme]\ndirectory = \"https://127.0.0.1:{acme_port}/dir\"\nca_file = \"{}\"\nchallenge = \"tls-alpn-01\"\nretry_after = \"1s\"\n",
            dir.join("ca.pem").display()
        ),
        ..Setup::default()
    });
    // No HTTP port: Pebble's HTTP-01 checks would find nothing there.
    let pebble = Pebble::start(dir, acme_port, free_port(), server.port("https"), 90);
    server.wait_for("ACME certificate in use");
    let cert = served(&server, dir, &pebble, "imaps");
    assert_eq!(served(&server, dir, &pebble, "https"), cert);
    // ALPN: HTTPS picks http/1.1 from a browser's list; a mail port offers
    // none, so a client that asks for one still connects; a client that
    // asks for acme-tls/1 with no challenge pending gets no certificate.
    let script = r#"
import os, socket, ssl
def hello(port, alpn):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname="mail.example.org") as tls:
                return tls.selected_alpn_protocol() or "none"
        except ssl.SSLError as e:
            return "refused"
print(hello(int(os.environ["PORT_HTTPS"]), ["h2", "http/1.1"]))
print(hello(int(os.environ["PORT_IMAPS"]), ["imap"]))
print(hello(int(os.environ["PORT_HTTPS"]), ["acme-tls/1"]))
"#;
    let out = server.run_python(Path::new("/usr/bin/python3"), script, "ALPN");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["h2", "none", "refused"]);
}
