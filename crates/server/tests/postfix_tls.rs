//! Verified TLS between Tidings and Postfix, both ways: Postfix as the
//! next hop that Tidings' DANE (RFC 7672) and MTA-STS (RFC 8461) checks
//! must accept or refuse, and Postfix as the sender whose
//! `smtp_tls_security_level = verify` and `dane` check Tidings'
//! certificate and TLSA records.
//!
//! Each test runs as root in network and mount namespaces of its own
//! ([`common::in_private_netns_as_root`]): Postfix changes to its own
//! users, and takes its resolver from `/etc/resolv.conf`, which there names
//! the test's DNS stub on `127.0.0.1:53` (signed names answered with the
//! AD bit; `options trust-ad` keeps glibc from clearing it). Addresses that
//! look public (`5.5.5.0/24`) are added to the namespace's loopback device,
//! as Tidings delivers to MX hosts from DNS only there, on port 25. No
//! packet leaves the namespace. Certificates come from a test CA made with
//! `openssl` ([`common::pki`]), which both sides are told to trust.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::dns::{DnsStub, Zone};
use common::pki::{Pki, spki_sha256};
use common::postfix::Postfix;
use common::{PASSWORD, Server, Setup, assert_success, eventually, queued_reason};
use tidings_store::Store;

/// Postfix's smtpd with a certificate the test CA signed.
const CA_IP: &str = "5.5.5.25";
/// Postfix's smtpd with a self-signed certificate.
const SELF_IP: &str = "5.5.5.26";
/// Postfix's smtpd without STARTTLS.
const PLAIN_IP: &str = "5.5.5.27";
/// The MTA-STS policy server (`tests/mta-sts/peer.py`).
const WEB_IP: &str = "5.5.5.80";

/// Adds the namespace's addresses; in the namespace only.
fn addresses(ips: &[&str]) {
    for ip in ips {
        let o = Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .output()
            .unwrap();
        assert_success(&o, "ip addr add");
    }
}

/// A temporary directory that Postfix's unprivileged processes may enter.
fn shared_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

/// `tests/mta-sts/peer.py` as the HTTPS policy server on `WEB_IP:443`
/// (its MX side listens on a port nobody uses here). Killed when dropped.
struct PolicyServer(Child);

impl PolicyServer {
    fn start(out: &Path, web: &(PathBuf, PathBuf), policy: &str) -> PolicyServer {
        std::fs::create_dir_all(out).unwrap();
        std::fs::write(out.join("policy"), policy).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mta-sts/peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(out)
            .arg(format!("{WEB_IP}:2525"))
            .args([&web.0, &web.1])
            .arg("no")
            .arg(format!("{WEB_IP}:443"))
            .args([&web.0, &web.1])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed: scripts/install-deps");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "peer.py did not start");
        PolicyServer(child)
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bob submits a message to `to` with `subject` (smtplib, AUTH PLAIN on
/// loopback).
fn submit(server: &Server, to: &str, subject: &str) {
    let script = r#"
import smtplib, sys
port, password, to, subject = sys.argv[1:5]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
s.login("bob@example.org", password)
s.sendmail("bob@example.org", [to],
           "From: bob@example.org\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n" % (to, subject))
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(server.port("submission").to_string())
        .args([PASSWORD, to, subject])
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib submission");
}

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx.sts-ok.test\nmx: mx.sts-bad.test\nmx: mx.sts-name.test\nmax_age: 86400\n";

#[test]
fn tidings_delivers_to_postfix_only_where_dane_and_mta_sts_allow() {
    if !common::in_private_netns_as_root(
        "tidings_delivers_to_postfix_only_where_dane_and_mta_sts_allow",
    ) {
        return;
    }
    addresses(&[CA_IP, SELF_IP, PLAIN_IP, WEB_IP]);
    let dir = shared_tempdir();
    let pki = Pki::new(dir.path());
    let ca_signed = pki.leaf(
        "postfix",
        &[
            "mx.dane-ok.test",
            "mx.dane-bad.test",
            "mx.dane-plain.test",
            "mx.sts-ok.test",
        ],
        true,
    );
    let self_signed = pki.leaf("postfix-self", &["mx.sts-bad.test"], false);
    let other = pki.leaf("other", &["mx.dane-bad.test"], true);
    let web = pki.leaf(
        "web",
        &[
            "mta-sts.sts-ok.test",
            "mta-sts.sts-bad.test",
            "mta-sts.sts-name.test",
        ],
        true,
    );
    let _policy = PolicyServer::start(&dir.path().join("web"), &web, POLICY);
    let tlsa = spki_sha256(&ca_signed.0);
    let mut zone = Zone::new()
        // DANE-EE records naming Postfix's key.
        .mx("dane-ok.test", 10, "mx.dane-ok.test")
        .ip("mx.dane-ok.test", CA_IP)
        .tlsa("_25._tcp.mx.dane-ok.test", 3, 1, 1, &tlsa)
        // Records naming another key.
        .mx("dane-bad.test", 10, "mx.dane-bad.test")
        .ip("mx.dane-bad.test", CA_IP)
        .tlsa("_25._tcp.mx.dane-bad.test", 3, 1, 1, &spki_sha256(&other.0))
        // The right records, for the listener without STARTTLS.
        .mx("dane-plain.test", 10, "mx.dane-plain.test")
        .ip("mx.dane-plain.test", PLAIN_IP)
        .tlsa("_25._tcp.mx.dane-plain.test", 3, 1, 1, &tlsa)
        // MTA-STS enforce: a certificate for the MX's name from the CA, a
        // self-signed one, and one from the CA for other names.
        .mx("sts-ok.test", 10, "mx.sts-ok.test")
        .ip("mx.sts-ok.test", CA_IP)
        .mx("sts-bad.test", 10, "mx.sts-bad.test")
        .ip("mx.sts-bad.test", SELF_IP)
        .mx("sts-name.test", 10, "mx.sts-name.test")
        .ip("mx.sts-name.test", CA_IP);
    for d in ["dane-ok", "dane-bad", "dane-plain"] {
        zone = zone
            .signed(&format!("mx.{d}.test"))
            .signed(&format!("_25._tcp.mx.{d}.test"));
    }
    for d in ["sts-ok", "sts-bad", "sts-name"] {
        zone = zone
            .txt(&format!("_mta-sts.{d}.test"), "v=STSv1; id=20261203;")
            .ip(&format!("mta-sts.{d}.test"), WEB_IP);
    }
    let _stub = DnsStub::start_at(zone, "127.0.0.1:53");
    let chain = |(cert, key): &(PathBuf, PathBuf)| format!("{},{}", key.display(), cert.display());
    let pf = Postfix::start(
        &dir.path().join("postfix"),
        &[
            &format!("{CA_IP}:25 -o syslog_name=postfix-ca"),
            &format!(
                "{SELF_IP}:25 -o syslog_name=postfix-self -o smtpd_tls_chain_files={}",
                chain(&self_signed)
            ),
            &format!("{PLAIN_IP}:25 -o syslog_name=postfix-plain -o smtpd_tls_security_level=none"),
        ],
        &format!(
            "inet_interfaces = all\n\
             smtpd_tls_security_level = may\n\
             smtpd_tls_chain_files = {}\n\
             smtpd_tls_received_header = yes\n\
             smtpd_tls_loglevel = 1\n\
             virtual_mailbox_domains = dane-ok.test dane-bad.test dane-plain.test sts-ok.test sts-bad.test sts-name.test\n\
             virtual_mailbox_maps = static:ann/\n",
            chain(&ca_signed)
        ),
    );
    let ca = pki.ca();
    let server = Server::start(Setup {
        protocols: &["submission"],
        domains: &["example.org"],
        users: &["bob@example.org"],
        top: "hostname = \"mx.example.org\"",
        extra: "[smtp]\nretry_after = \"1s\"\n\n[dns]\nresolver = \"127.0.0.1:53\"\ndnssec = true\n",
        env: &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        ..Setup::default()
    });
    server.wait_for_since_start("DANE on");

    for d in [
        "dane-ok",
        "dane-bad",
        "dane-plain",
        "sts-ok",
        "sts-bad",
        "sts-name",
    ] {
        submit(&server, &format!("ann@{d}.test"), &format!("to {d}"));
    }

    // Delivered where the records match and where the certificate
    // verifies, over TLS (Postfix's Received field says so).
    let delivered = eventually("two messages in Postfix's Maildir", || {
        let got = pf.maildir("ann");
        (got.len() >= 2).then_some(got)
    });
    for subject in ["to dane-ok", "to sts-ok"] {
        let m = delivered
            .iter()
            .find(|m| m.contains(&format!("Subject: {subject}\n")))
            .unwrap_or_else(|| panic!("{subject:?} not delivered: {delivered:?}"));
        assert!(m.contains("(using TLSv1."), "{m}");
    }

    // The others wait in Tidings' queue, with the reason.
    let reason = queued_reason(&server, "ann@dane-bad.test", "DANE");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("no TLSA record matches"), "{reason}");
    let reason = queued_reason(&server, "ann@dane-plain.test", "offers no STARTTLS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("DANE"), "{reason}");
    let reason = queued_reason(&server, "ann@sts-bad.test", "MTA-STS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("certificate"), "{reason}");
    let reason = queued_reason(&server, "ann@sts-name.test", "MTA-STS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("certificate"), "{reason}");

    // Postfix's side: every session that got as far as MAIL was under
    // TLS, and those were the two delivered; the listeners without
    // STARTTLS and with the self-signed certificate were reached and
    // never given MAIL.
    let log = eventually(
        "Postfix's log of both plain and self-signed sessions",
        || {
            let log = pf.log();
            let ended = |name: &str| {
                log.lines()
                    .any(|l| l.contains(&format!("{name}/smtpd[")) && l.contains("disconnect from"))
            };
            (ended("postfix-plain") && ended("postfix-self")).then_some(log)
        },
    );
    let disconnects: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("disconnect from"))
        .collect();
    let with_mail: Vec<&&str> = disconnects
        .iter()
        .filter(|l| l.contains(" mail="))
        .collect();
    assert_eq!(with_mail.len(), 2, "{log}");
    for l in &with_mail {
        assert!(l.contains("postfix-ca/smtpd["), "{l}");
        assert!(l.contains(" starttls=1"), "{l}");
    }
    for l in &disconnects {
        assert!(
            l.contains("postfix-ca/smtpd[") || !l.contains(" mail="),
            "{l}"
        );
    }

    // TLS-RPT counted each kind of session as RFC 8460 §4.3 names it.
    let wanted = [
        ("dane-ok.test", "tlsa", "success"),
        ("dane-bad.test", "tlsa", "validation-failure"),
        ("dane-plain.test", "tlsa", "starttls-not-supported"),
        ("sts-ok.test", "sts", "success"),
        ("sts-bad.test", "sts", "certificate-not-trusted"),
        ("sts-name.test", "sts", "certificate-host-mismatch"),
    ];
    let counted = eventually("every kind of session counted for TLS-RPT", || {
        let store = Store::open(&server.path("data")).unwrap();
        let counted: Vec<(String, String, String)> = store
            .tls_results(i64::MAX)
            .unwrap()
            .into_iter()
            .map(|c| (c.result.domain, c.result.policy_type, c.result.result))
            .collect();
        store.close();
        wanted
            .iter()
            .all(|(d, t, r)| counted.iter().any(|c| c.0 == *d && c.1 == *t && c.2 == *r))
            .then_some(counted)
    });
    for (domain, _, result) in &counted {
        assert!(
            wanted.iter().any(|(d, _, r)| d == domain && r == result),
            "unexpected {domain} {result} in {counted:?}"
        );
    }
}

#[test]
fn postfix_verifies_our_certificate_and_our_tlsa_records() {
    if !common::in_private_netns_as_root("postfix_verifies_our_certificate_and_our_tlsa_records") {
        return;
    }
    let dir = shared_tempdir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.leaf("tidings", &["mx.example.org"], true);
    let other = pki.leaf("other", &["mx.example.org"], true);
    let server = Server::start(Setup {
        protocols: &["smtp", "imap"],
        domains: &["example.org"],
        users: &[
            "bob@example.org",
            "ann@example.org",
            "carl@example.org",
            "dora@example.org",
        ],
        top: "hostname = \"mx.example.org\"",
        extra: &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[dns]\nresolver = \"127.0.0.1:53\"\n",
            cert.display(),
            key.display()
        ),
        ..Setup::default()
    });
    let port = server.port("smtp");
    // Every name is Tidings on loopback; two carry TLSA records for its
    // SMTP port (Postfix asks for `_PORT._tcp`), one naming its key.
    let mut zone = Zone::new();
    for host in [
        "mx.example.org",
        "mx.wrong.test",
        "dane.example.org",
        "dane-bad.example.org",
    ] {
        zone = zone.ip(host, "127.0.0.1").signed(host);
    }
    let ours = format!("_{port}._tcp.dane.example.org");
    let wrong = format!("_{port}._tcp.dane-bad.example.org");
    let zone = zone
        .tlsa(&ours, 3, 1, 1, &spki_sha256(&cert))
        .signed(&ours)
        .tlsa(&wrong, 3, 1, 1, &spki_sha256(&other.0))
        .signed(&wrong);
    let stub = DnsStub::start_at(zone, "127.0.0.1:53");
    // Each recipient through its own next hop and TLS policy.
    let pf_port = common::free_port();
    let hop = |host: &str| format!("[{host}]:{port}");
    let pf = Postfix::start(
        &dir.path().join("postfix"),
        &[&format!("127.0.0.1:{pf_port}")],
        &format!(
            "smtp_dns_support_level = dnssec\n\
             smtp_host_lookup = dns\n\
             smtp_tls_CAfile = {ca}\n\
             smtp_tls_loglevel = 1\n\
             transport_maps = inline:{{ bob@example.org=smtp:{v}, ann@example.org=smtp:{w}, \
             carl@example.org=smtp:{d}, dora@example.org=smtp:{b} }}\n\
             smtp_tls_policy_maps = inline:{{ {v}=verify, {w}=verify, {d}=dane, {b}=dane }}\n",
            ca = pki.ca().display(),
            v = hop("mx.example.org"),
            w = hop("mx.wrong.test"),
            d = hop("dane.example.org"),
            b = hop("dane-bad.example.org"),
        ),
    );

    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
for user in ["bob", "ann", "carl", "dora"]:
    s.sendmail("ext@postfix.test", [user + "@example.org"],
               "From: ext@postfix.test\r\nTo: %s@example.org\r\nSubject: for %s\r\n\r\nhello\r\n" % (user, user))
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script, &pf_port.to_string()])
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib to Postfix");

    // Arrived over verified TLS: seen with IMAP (imaplib), and Tidings'
    // Received field says ESMTPS.
    let imap = r#"
import imaplib, os, sys
for user in ["bob", "carl"]:
    c = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
    c.login(user + "@example.org", os.environ["PASSWORD"])
    c.select("INBOX")
    _, found = c.search(None, "SUBJECT", '"for %s"' % user)
    for n in found[0].split():
        _, data = c.fetch(n, "(BODY.PEEK[HEADER])")
        sys.stdout.write(data[0][1].decode())
    c.logout()
"#;
    let got = eventually("bob's and carl's messages over IMAP", || {
        let out = server.run_python(Path::new("python3"), imap, "imaplib");
        (out.contains("Subject: for bob") && out.contains("Subject: for carl")).then_some(out)
    });
    assert_eq!(got.matches("with ESMTPS").count(), 2, "{got}");

    // Postfix checked what it was told to check.
    let log = pf.log();
    for host in ["mx.example.org", "dane.example.org"] {
        assert!(
            log.lines().any(|l| l.contains(&format!(
                "Verified TLS connection established to {host}[127.0.0.1]:{port}"
            ))),
            "{host}:\n{log}"
        );
    }
    for (host, why) in [
        ("mx.wrong.test", "hostname mismatch"),
        ("dane-bad.example.org", "no matching DANE TLSA records"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(&format!(
                "server certificate verification failed for {host}[127.0.0.1]:{port}"
            )) && l.contains(why)),
            "{host}:\n{log}"
        );
    }
    let queries = stub.queries();
    assert!(
        queries.iter().any(|q| q == &format!("TLSA {ours}")),
        "{queries:?}"
    );

    // ann (a name the certificate does not carry) and dora (TLSA records
    // naming another key) stay in Postfix's deferred queue.
    let deferred = eventually("ann and dora deferred by Postfix", || {
        let queue = pf.queue();
        let reasons: Vec<(String, String)> = queue
            .iter()
            .filter(|m| m["queue_name"] == "deferred")
            .flat_map(|m| m["recipients"].as_array().unwrap().clone())
            .map(|r| {
                (
                    r["address"].as_str().unwrap().to_string(),
                    r["delay_reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        (reasons.len() == 2).then_some(reasons)
    });
    let reason = |who: &str| {
        deferred
            .iter()
            .find(|(a, _)| a == who)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{who} not deferred: {deferred:?}"))
    };
    assert!(
        reason("ann@example.org").contains("certificate"),
        "{deferred:?}"
    );
    assert!(
        reason("dora@example.org").contains("certificate"),
        "{deferred:?}"
    );
    let store = Store::open(&server.path("data")).unwrap();
    for user in ["ann@example.org", "dora@example.org"] {
        let account = store.account(user).unwrap().unwrap().id;
        let inbox = store
            .mailbox_by_role(account, tidings_types::MailboxRole::Inbox)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.mailbox_entries(account, inbox.id).unwrap().len(),
            0,
            "{user} got mail"
        );
    }
    store.close();
}
