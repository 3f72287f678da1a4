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

/// The DKIM key `domain add` printed, as published: `v=DKIM1; k=rsa; p=…`.
fn dkim_record(dir: &Path) -> String {
    let stub = DnsStub::start(Zone::new());
    let o = tidings(dir, &stub, &["domain", "add", "example.org"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find(|l| l.starts_with("tidings._domainkey.example.org."))
        .unwrap()
        .split('"')
        .skip(1)
        .step_by(2)
        .collect()
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
    let dkim = dkim_record(dir.path());
    let stub = DnsStub::start(good_zone(&dkim));
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
    ] {
        assert!(line(&out, record).starts_with("ok "), "{record}:\n{out}");
    }
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
