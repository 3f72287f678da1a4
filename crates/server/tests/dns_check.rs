//! `tidings dns check`: the records a domain needs, asked of a stub DNS
//! server on loopback that serves what a test publishes.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::dns::{DnsStub, Zone};

fn tidings(dir: &Path, stub: &DnsStub, args: &[&str]) -> Output {
    std::fs::write(
        dir.join("tidings.toml"),
        format!(
            "hostname = \"mail.example.org\"\ndata_dir = \"data\"\n\n{}",
            stub.config()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(["--config", "tidings.toml"])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The line of `out` about `record`, e.g. `MX example.org`.
fn line<'a>(out: &'a str, record: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(&format!(" {record} ")) || l.ends_with(&format!(" {record}")))
        .unwrap_or_else(|| panic!("no line for {record}:\n{out}"))
}

/// What `domain add example.org` printed.
fn domain_add(dir: &Path) -> String {
    let stub = DnsStub::start(Zone::new());
    let o = tidings(dir, &stub, &["domain", "add", "example.org"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The TXT value printed for `name`, as published.
fn printed_txt(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name}:\n{out}"))
        .split('"')
        .skip(1)
        .step_by(2)
        .collect()
}

/// The DKIM key `domain add` printed, as published: `v=DKIM1; k=rsa; p=…`.
fn dkim_record(dir: &Path) -> String {
    printed_txt(&domain_add(dir), "tidings._domainkey.example.org.")
}

fn good_zone(dkim: &str) -> Zone {
    let parts: Vec<&str> = dkim
        .as_bytes()
        .chunks(255)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    Zone::new()
        .mx("example.org", 10, "mail.example.org")
        .txt("example.org", "v=spf1 mx -all")
        .txt("example.org", "google-site-verification=abc")
        .ip("mail.example.org", "192.0.2.25")
        .txt_strings("tidings._domainkey.example.org", &parts)
        .txt("_dmarc.example.org", "v=DMARC1; p=quarantine")
        .srv("_submissions._tcp.example.org", 0, 465, "mail.example.org")
}

#[test]
fn a_domain_published_as_domain_add_says_passes() {
    let dir = tempfile::tempdir().unwrap();
    let printed = domain_add(dir.path());
    let dkim = printed_txt(&printed, "tidings._domainkey.example.org.");
    let sts = printed_txt(&printed, "_mta-sts.example.org.");
    let tlsrpt = printed_txt(&printed, "_smtp._tls.example.org.");
    let stub = DnsStub::start(
        good_zone(&dkim)
            .txt("_mta-sts.example.org", &sts)
            .txt("_smtp._tls.example.org", &tlsrpt),
    );
    let o = tidings(dir.path(), &stub, &["dns", "check", "example.org"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for record in [
        "MX example.org",
        "A/AAAA mail.example.org",
        "SPF example.org",
        "DKIM tidings._domainkey.example.org",
        "DMARC _dmarc.example.org",
        "SRV _submissions._tcp.example.org",
        "MTA-STS _mta-sts.example.org",
        "TLS-RPT _smtp._tls.example.org",
    ] {
        assert!(line(&out, record).starts_with("ok "), "{record}:\n{out}");
    }
    // A policy changed since the record was published: its id is wrong.
    std::fs::write(
        dir.path().join("tidings.toml"),
        format!(
            "hostname = \"mail.example.org\"\ndata_dir = \"data\"\n\n[mta_sts]\nmode = \"enforce\"\n\n{}",
            stub.config()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .args(["--config", "tidings.toml", "dns", "check", "example.org"])
        .output()
        .unwrap();
    let changed = text(&o);
    assert!(o.status.success(), "recommended only:\n{changed}");
    let sts_line = line(&changed, "MTA-STS _mta-sts.example.org");
    assert!(sts_line.starts_with("wrong "), "{changed}");
    // Recommended records that are missing are said, but do not fail.
    let imap = line(&out, "SRV _imap._tcp.example.org");
    assert!(
        imap.starts_with("missing ") && imap.ends_with("(recommended)"),
        "{out}"
    );
    // It asked the stub, not the system's resolver.
    assert!(
        stub.queries()
            .iter()
            .any(|q| q == "TXT tidings._domainkey.example.org"),
        "{:?}",
        stub.queries()
    );
}

#[test]
fn missing_and_wrong_records_are_named_and_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let _ = dkim_record(dir.path());
    let zone = Zone::new()
        .mx("example.org", 10, "mx.elsewhere.example")
        .txt("example.org", "v=spf1 mx -all")
        .txt("example.org", "v=spf1 a -all")
        .txt(
            "tidings._domainkey.example.org",
            "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnotours",
        );
    let stub = DnsStub::start(zone);
    let o = tidings(dir.path(), &stub, &["dns", "check", "example.org"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    let mx = line(&out, "MX example.org");
    assert!(
        mx.starts_with("wrong ") && mx.contains("mx.elsewhere.example"),
        "{out}"
    );
    assert!(line(&out, "SPF example.org").starts_with("wrong "), "{out}");
    assert!(
        line(&out, "DKIM tidings._domainkey.example.org").starts_with("wrong "),
        "{out}"
    );
    assert!(
        line(&out, "DMARC _dmarc.example.org").starts_with("missing "),
        "{out}"
    );
    assert!(
        line(&out, "A/AAAA mail.example.org").starts_with("missing "),
        "{out}"
    );
    assert!(
        out.contains("error: 5 required record(s) of example.org are missing"),
        "{out}"
    );
}

#[test]
fn the_https_port_serves_the_mta_sts_policy_the_record_names() {
    let server = common::Server::start(common::Setup {
        protocols: &["https"],
        domains: &["example.org"],
        users: &["bob@example.org"],
        top: "hostname = \"mail.example.org\"",
        extra: "[mta_sts]\nmode = \"enforce\"\nmax_age = \"2d\"\n",
        ..common::Setup::default()
    });
    let out = server.ok(&["domain", "add", "example.net"]);
    let record = printed_txt(&out, "_mta-sts.example.net.");
    let id = record.strip_prefix("v=STSv1; id=").unwrap().to_string();
    // What a sending MTA does (RFC 8461 §3.3): HTTPS GET at mta-sts.DOMAIN.
    let script = format!(
        r#"
import hashlib, http.client, os, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", int(os.environ["PORT_HTTPS"]), context=ctx)
c.request("GET", "/.well-known/mta-sts.txt", headers={{"Host": "mta-sts.example.net"}})
r = c.getresponse()
body = r.read()
assert r.status == 200, r.status
assert r.getheader("Content-Type").startswith("text/plain"), r.getheader("Content-Type")
assert body == b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 172800\r\n", body
assert hashlib.sha256(body).hexdigest()[:20] == "{id}", (hashlib.sha256(body).hexdigest(), "{id}")
print("ok")
"#
    );
    let got = server.run_python(
        Path::new("/usr/bin/python3"),
        &script,
        "MTA-STS policy fetch",
    );
    assert_eq!(got.trim(), "ok");
}
