//! MTA-STS (RFC 8461) and DANE (RFC 7672) for outbound mail, end to end.
//!
//! Each test runs in a network namespace of its own
//! ([`common::in_private_netns`]) and gives its loopback device two more
//! addresses that look public ([`MX_IP`], [`WEB_IP`]; outbound delivery
//! refuses MX hosts with private addresses), so the server delivers the
//! way it does on the internet: MX and A records from a DNS stub, port 25,
//! the policy fetched over HTTPS on port 443. No packet leaves the
//! namespace. The other side is `tests/mta-sts/peer.py` (an MX with
//! STARTTLS and the policy web server); a test CA made with `openssl`
//! signs their certificates, and the server trusts it through
//! `SSL_CERT_FILE`. For DANE the stub serves TLSA records and sets the AD
//! bit for the names the test marks as signed, and the server is told
//! that its resolver validates (`[dns] dnssec = true`); the digests in
//! the records are computed with the `openssl` command.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::dns::{DnsStub, Zone};
use common::pki::{Pki, cert_sha256, openssl_pipe, spki_sha256};
use common::{PASSWORD, Server, Setup, assert_success, eventually, queued_reason};
use tidings_store::Store;

/// The MX host's address in the namespace.
const MX_IP: &str = "5.5.5.25";
/// The policy web server's address in the namespace.
const WEB_IP: &str = "5.5.5.80";

/// `tests/mta-sts/peer.py`: the MX on `MX_IP:25` and the policy server on
/// `WEB_IP:443`. Killed when dropped.
struct Peer {
    out: PathBuf,
    child: Child,
}

impl Peer {
    /// `starttls`: "yes", "no", or "requiretls" (and REQUIRETLS after it).
    fn start(
        out: &Path,
        mx: &(PathBuf, PathBuf),
        web: &(PathBuf, PathBuf),
        starttls: &str,
    ) -> Peer {
        std::fs::create_dir_all(out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mta-sts/peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(out)
            .arg(format!("{MX_IP}:25"))
            .args([&mx.0, &mx.1])
            .arg(starttls)
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
        Peer {
            out: out.to_path_buf(),
            child,
        }
    }

    fn set_policy(&self, policy: &str) {
        std::fs::write(self.out.join("policy"), policy).unwrap();
    }

    /// The messages the MX took, in order.
    fn messages(&self) -> Vec<String> {
        let mut found: Vec<(u32, String)> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let n = name
                    .strip_prefix("msg-")?
                    .strip_suffix(".eml")?
                    .parse()
                    .ok()?;
                Some((n, std::fs::read_to_string(self.out.join(&name)).ok()?))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// The policy requests the web server answered.
    fn fetches(&self) -> Vec<String> {
        std::fs::read_to_string(self.out.join("fetches"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds the namespace's addresses and makes the CA; in the namespace only.
fn network(dir: &Path) -> Pki {
    for ip in [MX_IP, WEB_IP] {
        let o = Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .output()
            .unwrap();
        assert_success(&o, "ip addr add");
    }
    Pki::new(dir)
}

/// `sts.test` and `other.test` with their MX, policy host and `_mta-sts`
/// records; `other.test`'s MX (`mx.other.test`) is not in the policy the
/// peer serves, which names `mx.sts.test`.
fn zone(with_record: bool) -> Zone {
    let mut zone = Zone::new()
        .mx("sts.test", 10, "mx.sts.test")
        .ip("mx.sts.test", MX_IP)
        .ip("mta-sts.sts.test", WEB_IP)
        .mx("other.test", 10, "mx.other.test")
        .ip("mx.other.test", MX_IP)
        .ip("mta-sts.other.test", WEB_IP);
    if with_record {
        zone = zone
            .txt("_mta-sts.sts.test", "v=STSv1; id=20261203one;")
            .txt("_mta-sts.other.test", "v=STSv1; id=20261203one;");
    }
    zone
}

fn start(pki: &Pki, stub: &DnsStub) -> Server {
    start_with(pki, stub, "")
}

/// `start`, with more lines for `[dns]`.
fn start_with(pki: &Pki, stub: &DnsStub, dns: &str) -> Server {
    let ca = pki.ca();
    Server::start(Setup {
        protocols: &["submission"],
        domains: &["example.org"],
        users: &["bob@example.org"],
        top: "hostname = \"mx.example.org\"",
        extra: &format!("[smtp]\nretry_after = \"1s\"\n\n{}{dns}", stub.config()),
        env: &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        ..Setup::default()
    })
}

/// Bob submits a message to `to` (smtplib, AUTH PLAIN on loopback).
fn submit(server: &Server, to: &str, subject: &str) {
    let out = submit_with(server, to, subject, "", "");
    assert_eq!(out.lines().next(), Some("sent"), "{out}");
}

/// Submits with `header` (a line, or "") and, when `mail_option` is
/// given, STARTTLS first and that MAIL FROM parameter. Prints "sent", or
/// the refusal's code and text; then the EHLO keywords, one a line.
fn submit_with(
    server: &Server,
    to: &str,
    subject: &str,
    header: &str,
    mail_option: &str,
) -> String {
    let script = r#"
import smtplib, sys
port, password, to, subject, header, option = sys.argv[1:7]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
if option:
    s.starttls()
s.login("bob@example.org", password)
msg = "From: bob@example.org\r\nTo: %s\r\nSubject: %s\r\n%s\r\nhello\r\n" % (
    to, subject, header + "\r\n" if header else "")
try:
    s.sendmail("bob@example.org", [to], msg, mail_options=[option] if option else [])
    print("sent")
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code, e.smtp_error.decode())
print("\n".join(sorted(s.esmtp_features)))
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(server.port("submission").to_string())
        .args([PASSWORD, to, subject, header, mail_option])
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib submission");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// The TLS-RPT counts once there are at least `rows` of them: a session
/// is counted when its delivery is over, a moment after the peer has the
/// message.
fn tls_counted(server: &Server, rows: usize) -> Vec<tidings_store::TlsResultCount> {
    eventually("the sessions counted for TLS-RPT", || {
        let store = Store::open(&server.path("data")).unwrap();
        let counted = store.tls_results(i64::MAX).unwrap();
        store.close();
        (counted.len() >= rows).then_some(counted)
    })
}

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n";

#[test]
fn enforce_delivers_over_verified_tls_and_caches_the_policy_by_id() {
    if !common::in_private_netns("enforce_delivers_over_verified_tls_and_caches_the_policy_by_id") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let mx = pki.leaf("mx", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &mx, &web, "yes");
    peer.set_policy(ENFORCE);
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    submit(&server, "dave@sts.test", "first under the policy");
    let first = eventually("the MX took the first message", || {
        peer.messages().into_iter().next()
    });
    assert!(first.starts_with("X-Peer-TLS: yes"), "{first}");
    assert!(first.contains("Subject: first under the policy"), "{first}");
    assert_eq!(
        peer.fetches(),
        ["mta-sts.sts.test /.well-known/mta-sts.txt"]
    );
    let store = Store::open(&server.path("data")).unwrap();
    let cached = store.sts_policy("sts.test").unwrap().unwrap();
    store.close();
    assert_eq!(cached.id, "20261203one");
    assert_eq!(cached.policy, ENFORCE);
    assert_eq!(cached.expires - cached.fetched, 86_400);

    // Same record id: the cached policy, no second fetch, even with the
    // web server now serving nothing.
    std::fs::remove_file(dir.path().join("peer/policy")).unwrap();
    submit(&server, "dave@sts.test", "second under the cached policy");
    let second = eventually("the MX took the second message", || {
        peer.messages().get(1).cloned()
    });
    assert!(second.starts_with("X-Peer-TLS: yes"), "{second}");
    assert_eq!(peer.fetches().len(), 1, "{:?}", peer.fetches());
    assert!(
        stub.queries().iter().any(|q| q == "TXT _mta-sts.sts.test"),
        "{:?}",
        stub.queries()
    );
}

#[test]
fn enforce_never_falls_back_to_an_unverified_certificate_plain_text_or_another_mx() {
    if !common::in_private_netns(
        "enforce_never_falls_back_to_an_unverified_certificate_plain_text_or_another_mx",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // The MX's certificate is self-signed: no path to a trusted root.
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy(ENFORCE);
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    submit(&server, "dave@sts.test", "bad certificate");
    let reason = queued_reason(&server, "dave@sts.test", "MTA-STS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("certificate"), "{reason}");

    // other.test's policy does not name its MX: not even a connection.
    submit(&server, "erin@other.test", "MX not in the policy");
    let reason = queued_reason(&server, "erin@other.test", "not a mail host");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("mx.other.test"), "{reason}");

    // An MX without STARTTLS, now with a good certificate it never offers:
    // nothing in plain text.
    drop(peer);
    let good = pki.leaf("mx", &["mx.sts.test"], true);
    let plain = Peer::start(&dir.path().join("plain"), &good, &web, "no");
    plain.set_policy(ENFORCE);
    let store = Store::open(&server.path("data")).unwrap();
    let ids: Vec<String> = store
        .queue_list()
        .unwrap()
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    store.close();
    for id in ids {
        server.ok(&["queue", "retry", &id]);
    }
    let reason = queued_reason(&server, "dave@sts.test", "offers no STARTTLS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(plain.messages().is_empty(), "{:?}", plain.messages());
    let store = Store::open(&server.path("data")).unwrap();
    assert_eq!(store.queue_list().unwrap().len(), 2, "both stay queued");
    store.close();
}

#[test]
fn testing_mode_delivers_anyway_and_logs_what_enforce_would_refuse() {
    if !common::in_private_netns("testing_mode_delivers_anyway_and_logs_what_enforce_would_refuse")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy("version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 600\n");
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    submit(&server, "dave@sts.test", "testing mode");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    let log = server.wait_for("MTA-STS (testing)");
    assert!(log.contains("mx.sts.test"), "{log}");
    // TLS-RPT counts the session as the failure the policy let pass.
    let counted: Vec<(String, String, String)> = tls_counted(&server, 1)
        .into_iter()
        .map(|c| (c.result.domain, c.result.policy_type, c.result.result))
        .collect();
    assert_eq!(
        counted,
        [(
            "sts.test".to_string(),
            "sts".to_string(),
            "certificate-not-trusted".to_string()
        )]
    );
}

#[test]
fn without_a_record_delivery_is_opportunistic_and_fetches_nothing() {
    if !common::in_private_netns("without_a_record_delivery_is_opportunistic_and_fetches_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy(ENFORCE);
    let stub = DnsStub::start(zone(false));
    let server = start(&pki, &stub);

    submit(&server, "dave@sts.test", "no policy published");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    assert!(peer.fetches().is_empty(), "{:?}", peer.fetches());
}

#[test]
fn tls_required_no_delivers_despite_an_enforced_policy() {
    if !common::in_private_netns("tls_required_no_delivers_despite_an_enforced_policy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy(ENFORCE);
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    // RFC 8689 §5: the sender asks for delivery whatever the policy says.
    let out = submit_with(
        &server,
        "dave@sts.test",
        "optional TLS",
        "TLS-Required: No",
        "",
    );
    assert!(out.starts_with("sent"), "{out}");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.contains("Subject: optional TLS"), "{got}");
    assert!(got.contains("TLS-Required: No"), "{got}");
    // Without the header, the same policy holds the message back.
    submit(&server, "dave@sts.test", "policy applies");
    let reason = queued_reason(&server, "dave@sts.test", "MTA-STS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert_eq!(peer.messages().len(), 1);
}

#[test]
fn requiretls_is_taken_over_tls_only_and_goes_only_to_a_verified_next_hop_offering_it() {
    if !common::in_private_netns(
        "requiretls_is_taken_over_tls_only_and_goes_only_to_a_verified_next_hop_offering_it",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let mx = pki.leaf("mx", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    // Inbound, RFC 8689 §4: not offered, and refused, without TLS.
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.login("bob@example.org", sys.argv[2])
print("offered" if s.has_extn("requiretls") else "not offered")
print(s.mail("bob@example.org", ["REQUIRETLS"]))
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(server.port("submission").to_string())
        .arg(PASSWORD)
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("not offered"), "{out}");
    assert!(out.contains("530") && out.contains("5.7.10"), "{out}");

    // A verified MX under the policy, but without REQUIRETLS: returned at
    // once with 5.7.30, nothing delivered.
    let peer = Peer::start(&dir.path().join("peer"), &mx, &web, "yes");
    peer.set_policy(ENFORCE);
    let out = submit_with(
        &server,
        "dave@sts.test",
        "needs REQUIRETLS",
        "",
        "REQUIRETLS",
    );
    assert!(out.starts_with("sent"), "{out}");
    assert!(
        out.lines().any(|l| l == "requiretls"),
        "offered after STARTTLS: {out}"
    );
    let failed = server.wait_for("5.7.30");
    assert!(failed.contains("does not offer REQUIRETLS"), "{failed}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(peer.messages().is_empty(), "{:?}", peer.messages());

    // other.test's MX is not in its policy: returned too, no connection.
    let out = submit_with(
        &server,
        "erin@other.test",
        "REQUIRETLS, MX not in policy",
        "",
        "REQUIRETLS",
    );
    assert!(out.starts_with("sent"), "{out}");
    let failed = server.wait_for("5.7.30");
    assert!(failed.contains("not a mail host"), "{failed}");

    // A next hop that offers it gets the message, with REQUIRETLS on MAIL.
    drop(peer);
    let peer = Peer::start(&dir.path().join("peer2"), &mx, &web, "requiretls");
    peer.set_policy(ENFORCE);
    let out = submit_with(
        &server,
        "dave@sts.test",
        "with REQUIRETLS",
        "",
        "REQUIRETLS",
    );
    assert!(out.starts_with("sent"), "{out}");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    let mail = got.lines().nth(1).unwrap();
    assert!(
        mail.starts_with("X-Peer-Mail: MAIL FROM:<bob@example.org>"),
        "{mail}"
    );
    assert!(mail.ends_with(" REQUIRETLS"), "{mail}");
}

const DNSSEC: &str = "dnssec = true\n";

#[test]
fn dane_ee_authenticates_a_self_signed_mx_and_takes_precedence_over_mta_sts() {
    if !common::in_private_netns(
        "dane_ee_authenticates_a_self_signed_mx_and_takes_precedence_over_mta_sts",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // Self-signed: the enforced MTA-STS policy alone would refuse it (see
    // enforce_never_falls_back_...), and the policy does not name
    // mx.other.test either.
    let self_signed = pki.leaf("mx-self", &["mx.sts.test", "mx.other.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy(ENFORCE);
    let key = spki_sha256(&self_signed.0);
    let stub = DnsStub::start(
        zone(true)
            .tlsa("_25._tcp.mx.sts.test", 3, 1, 1, &key)
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test")
            // DANE-EE with the whole certificate, SHA-512.
            .tlsa("_25._tcp.mx.other.test", 3, 0, 2, &{
                let pem = &self_signed.0;
                openssl_pipe(
                    pem.parent().unwrap(),
                    &format!(
                        "openssl x509 -in '{}' -outform DER | openssl dgst -sha512 -binary",
                        pem.display()
                    ),
                )
            })
            .signed("mx.other.test")
            .signed("_25._tcp.mx.other.test")
            // unusable.test: signed records, but PKIX-EE (usage 1), which
            // SMTP does not use: TLS required, certificate unchecked.
            .mx("unusable.test", 10, "mx.unusable.test")
            .ip("mx.unusable.test", MX_IP)
            .tlsa("_25._tcp.mx.unusable.test", 1, 1, 1, &key)
            .signed("mx.unusable.test")
            .signed("_25._tcp.mx.unusable.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    server.wait_for_since_start("DANE on");
    submit(&server, "dave@sts.test", "under DANE-EE");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    assert!(got.contains("Subject: under DANE-EE"), "{got}");
    submit(&server, "erin@other.test", "DANE-EE, MX outside the policy");
    let got = eventually("the MX took the second message", || {
        peer.messages().get(1).cloned()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    assert!(
        got.contains("Subject: DANE-EE, MX outside the policy"),
        "{got}"
    );
    submit(&server, "gus@unusable.test", "unusable TLSA records");
    let got = eventually("the MX took the third message", || {
        peer.messages().get(2).cloned()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    // TLS-RPT: two authenticated sessions, one with unusable records.
    let mut counted: Vec<(String, String, String)> = tls_counted(&server, 3)
        .into_iter()
        .map(|c| (c.result.domain, c.result.policy_type, c.result.result))
        .collect();
    counted.sort();
    let row = |d: &str, r: &str| (d.to_string(), "tlsa".to_string(), r.to_string());
    assert_eq!(
        counted,
        [
            row("other.test", "success"),
            row("sts.test", "success"),
            row("unusable.test", "tlsa-invalid"),
        ]
    );
    let queries = stub.queries();
    for q in [
        "A mx.sts.test",
        "TLSA _25._tcp.mx.sts.test",
        "TLSA _25._tcp.mx.other.test",
    ] {
        assert!(queries.iter().any(|x| x == q), "{q} in {queries:?}");
    }
}

#[test]
fn dane_mismatch_and_plain_text_defer_and_unsigned_tlsa_records_are_ignored() {
    if !common::in_private_netns(
        "dane_mismatch_and_plain_text_defer_and_unsigned_tlsa_records_are_ignored",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test", "mx.other.test"], false);
    let other_key = pki.leaf("other", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    // The records name another key. For sts.test they are signed; for
    // other.test only the address is, so its records do not count.
    let wrong = spki_sha256(&other_key.0);
    let stub = DnsStub::start(
        zone(false)
            .tlsa("_25._tcp.mx.sts.test", 3, 1, 1, &wrong)
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test")
            .tlsa("_25._tcp.mx.other.test", 3, 1, 1, &wrong)
            .signed("mx.other.test")
            // plain.test: signed records, but its MX's address is not
            // (RFC 7672 §2.2.2: then TLSA records are not even asked for).
            .mx("plain.test", 10, "mx.plain.test")
            .ip("mx.plain.test", MX_IP)
            .tlsa("_25._tcp.mx.plain.test", 3, 1, 1, &wrong)
            .signed("_25._tcp.mx.plain.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    submit(&server, "dave@sts.test", "wrong key");
    let reason = queued_reason(&server, "dave@sts.test", "DANE");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("no TLSA record matches"), "{reason}");

    submit(&server, "erin@other.test", "unsigned records");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.contains("Subject: unsigned records"), "{got}");
    assert_eq!(peer.messages().len(), 1, "only the unsigned domain's");
    submit(&server, "fay@plain.test", "insecure address");
    eventually("plain.test's message delivered", || {
        peer.messages().get(1).cloned()
    });
    assert!(
        !stub
            .queries()
            .iter()
            .any(|q| q == "TLSA _25._tcp.mx.plain.test"),
        "{:?}",
        stub.queries()
    );

    // The same MX without STARTTLS: nothing in plain text under DANE.
    drop(peer);
    let plain = Peer::start(&dir.path().join("plain"), &self_signed, &web, "no");
    let store = Store::open(&server.path("data")).unwrap();
    let ids: Vec<String> = store
        .queue_list()
        .unwrap()
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    store.close();
    assert_eq!(ids.len(), 1, "only the DANE message waits");
    server.ok(&["queue", "retry", &ids[0]]);
    let reason = queued_reason(&server, "dave@sts.test", "offers no STARTTLS");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("DANE"), "{reason}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(plain.messages().is_empty(), "{:?}", plain.messages());
}

#[test]
fn dane_ta_anchors_the_chain_and_checks_the_mx_name() {
    if !common::in_private_netns("dane_ta_anchors_the_chain_and_checks_the_mx_name") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // A second CA the server does not trust (not in SSL_CERT_FILE), named
    // only by TLSA records; the MX sends it in its chain (RFC 7672 §3.1.2).
    let dane_dir = dir.path().join("dane-ca");
    std::fs::create_dir_all(&dane_dir).unwrap();
    let dane_ca = Pki::new(&dane_dir);
    let (cert, key) = dane_ca.leaf("mx", &["mx.sts.test"], true);
    let chain = dane_dir.join("chain.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(dane_ca.ca()).unwrap());
    std::fs::write(&chain, pem).unwrap();
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &(chain, key), &web, "yes");
    peer.set_policy(ENFORCE);
    let anchor = cert_sha256(&dane_ca.ca());
    let stub = DnsStub::start(
        zone(true)
            .tlsa("_25._tcp.mx.sts.test", 2, 0, 1, &anchor)
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test")
            // The same anchor for mx.other.test, whose name the MX's
            // certificate does not carry.
            .tlsa("_25._tcp.mx.other.test", 2, 0, 1, &anchor)
            .signed("mx.other.test")
            .signed("_25._tcp.mx.other.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    submit(&server, "dave@sts.test", "under DANE-TA");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    assert!(got.contains("Subject: under DANE-TA"), "{got}");

    submit(&server, "erin@other.test", "DANE-TA, wrong name");
    let reason = queued_reason(&server, "erin@other.test", "DANE");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("does not verify"), "{reason}");
    assert_eq!(peer.messages().len(), 1);
}

#[test]
fn without_dnssec_in_the_config_no_tlsa_record_is_asked_for() {
    if !common::in_private_netns("without_dnssec_in_the_config_no_tlsa_record_is_asked_for") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    let stub = DnsStub::start(
        zone(false)
            .tlsa("_25._tcp.mx.sts.test", 3, 1, 1, &[0u8; 32])
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test"),
    );
    let server = start(&pki, &stub);
    submit(&server, "dave@sts.test", "no DANE configured");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.contains("Subject: no DANE configured"), "{got}");
    assert!(
        !stub.queries().iter().any(|q| q.starts_with("TLSA")),
        "{:?}",
        stub.queries()
    );
}

/// The TLS-RPT reports among the messages the peer took, one JSON object
/// each (parsed with Python's `email` and `gzip`): the report's header
/// fields, its attachment's media type and name, and the report itself.
fn tls_reports(peer: &Peer) -> Vec<serde_json::Value> {
    let script = r#"
import email, email.policy, gzip, json, sys
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    if m["TLS-Report-Domain"] is None:
        continue
    part = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
    print(json.dumps({
        "domain": str(m["TLS-Report-Domain"]),
        "submitter": str(m["TLS-Report-Submitter"]),
        "subject": str(m["Subject"]),
        "type": m.get_content_type(),
        "report_type": m.get_param("report-type"),
        "dkim": m["DKIM-Signature"] is not None,
        "filename": part.get_filename(),
        "report": json.loads(gzip.decompress(part.get_payload(decode=True))),
    }))
"#;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&peer.out)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            p.extension().is_some_and(|x| x == "eml").then_some(p)
        })
        .collect();
    files.sort();
    let o = Command::new("python3")
        .args(["-c", script])
        .args(&files)
        .output()
        .unwrap();
    assert_success(&o, "python3 email/gzip/json");
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tls_rpt_reports_the_sessions_of_each_policy_domain_to_its_rua() {
    if !common::in_private_netns("tls_rpt_reports_the_sessions_of_each_policy_domain_to_its_rua") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test"], false);
    let other_key = pki.leaf("other", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    peer.set_policy(ENFORCE);
    let rua = "v=TLSRPTv1; rua=mailto:tls-reports@reports.test";
    let stub = DnsStub::start(
        zone(true)
            // sts.test: DANE, the records name another key: a failure.
            .tlsa("_25._tcp.mx.sts.test", 3, 1, 1, &spki_sha256(&other_key.0))
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test")
            .txt("_smtp._tls.sts.test", rua)
            // ok.test: DANE, the records name the MX's key: a success.
            .mx("ok.test", 10, "mx.ok.test")
            .ip("mx.ok.test", MX_IP)
            .tlsa("_25._tcp.mx.ok.test", 3, 1, 1, &spki_sha256(&self_signed.0))
            .signed("mx.ok.test")
            .signed("_25._tcp.mx.ok.test")
            .txt("_smtp._tls.ok.test", rua)
            // other.test: MTA-STS, its MX is not in the policy; reports
            // by HTTPS POST (to the peer's web server).
            .txt(
                "_smtp._tls.other.test",
                "v=TLSRPTv1; rua=https://mta-sts.other.test/tlsrpt",
            )
            // Where the reports go (no policy, opportunistic TLS).
            .mx("reports.test", 10, "mx.reports.test")
            .ip("mx.reports.test", MX_IP),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    submit(&server, "ann@ok.test", "to ok.test");
    submit(&server, "dave@sts.test", "to sts.test");
    submit(&server, "erin@other.test", "to other.test");
    eventually("ok.test's message delivered", || {
        peer.messages().into_iter().next()
    });
    queued_reason(&server, "dave@sts.test", "no TLSA record matches");
    queued_reason(&server, "erin@other.test", "not a mail host");

    // The command checks the POST destination's certificate as the
    // server does: with the test CA.
    let o = server
        .tidings()
        .args(["tlsrpt", "send", "--now"])
        .env("SSL_CERT_FILE", pki.ca())
        .output()
        .unwrap();
    assert_success(&o, "tidings tlsrpt send --now");
    let out = String::from_utf8(o.stdout).unwrap();
    for line in [
        "ok.test: 1 report(s) queued to tls-reports@reports.test",
        "sts.test: 1 report(s) queued to tls-reports@reports.test",
        "other.test: 1 report(s) posted to https://mta-sts.other.test/tlsrpt",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    let reports = eventually("both reports delivered", || {
        let r = tls_reports(&peer);
        (r.len() == 2).then_some(r)
    });
    let by_domain = |d: &str| {
        reports
            .iter()
            .find(|r| r["domain"] == d)
            .unwrap_or_else(|| panic!("no report for {d}: {reports:?}"))
    };
    let ok = by_domain("ok.test");
    assert_eq!(ok["type"], "multipart/report");
    assert_eq!(ok["report_type"], "tlsrpt");
    assert_eq!(ok["submitter"], "example.org");
    assert_eq!(ok["dkim"], true);
    let id = ok["report"]["report-id"].as_str().unwrap();
    assert_eq!(
        ok["subject"],
        format!("Report Domain: ok.test Submitter: example.org Report-ID: <{id}>")
    );
    let filename = ok["filename"].as_str().unwrap();
    assert!(
        filename.starts_with("example.org!ok.test!") && filename.ends_with(".json.gz"),
        "{filename}"
    );
    let report = &ok["report"];
    assert_eq!(report["organization-name"], "example.org");
    assert_eq!(report["contact-info"], "postmaster@example.org");
    assert!(
        report["date-range"]["start-datetime"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z"),
        "{report}"
    );
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{report}");
    assert_eq!(policies[0]["policy"]["policy-type"], "tlsa");
    assert_eq!(policies[0]["policy"]["policy-domain"], "ok.test");
    assert_eq!(policies[0]["policy"]["mx-host"][0], "mx.ok.test");
    assert_eq!(policies[0]["summary"]["total-successful-session-count"], 1);
    assert_eq!(policies[0]["summary"]["total-failure-session-count"], 0);

    let sts = &by_domain("sts.test")["report"]["policies"];
    let sts = sts.as_array().unwrap();
    assert_eq!(sts.len(), 1, "{sts:?}");
    assert_eq!(sts[0]["policy"]["policy-type"], "tlsa");
    assert_eq!(sts[0]["summary"]["total-successful-session-count"], 0);
    let failures = sts[0]["summary"]["total-failure-session-count"]
        .as_u64()
        .unwrap();
    assert!(failures >= 1, "{sts:?}");
    let detail = &sts[0]["failure-details"][0];
    assert_eq!(detail["result-type"], "validation-failure");
    assert_eq!(detail["receiving-mx-hostname"], "mx.sts.test");
    assert_eq!(detail["receiving-ip"], MX_IP);
    assert_eq!(detail["failed-session-count"], failures);

    // other.test's report came by POST.
    let posts: Vec<PathBuf> = std::fs::read_dir(&peer.out)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.to_string_lossy().ends_with(".meta"))
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let meta = std::fs::read_to_string(&posts[0]).unwrap();
    assert_eq!(
        meta.trim(),
        "mta-sts.other.test /tlsrpt application/tlsrpt+gzip"
    );
    let o = Command::new("python3")
        .args([
            "-c",
            "import gzip, sys; sys.stdout.write(gzip.open(sys.argv[1]).read().decode())",
        ])
        .arg(posts[0].with_extension("gz"))
        .output()
        .unwrap();
    assert_success(&o, "python3 gzip");
    let posted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let policy = &posted["policies"][0];
    assert_eq!(policy["policy"]["policy-type"], "sts", "{posted}");
    assert_eq!(policy["policy"]["policy-domain"], "other.test");
    assert_eq!(policy["policy"]["mx-host"][0], "mx.sts.test");
    assert_eq!(
        policy["failure-details"][0]["result-type"],
        "validation-failure"
    );
    assert_eq!(
        policy["failure-details"][0]["receiving-mx-hostname"],
        "mx.other.test"
    );

    // Reported sessions are forgotten: only what happened since is left.
    let store = Store::open(&server.path("data")).unwrap();
    let left = store.tls_results(i64::MAX).unwrap();
    store.close();
    // (sts.test and other.test are being retried meanwhile.)
    assert!(
        left.iter().all(|r| r.result.domain != "ok.test"),
        "{left:?}"
    );
}

#[test]
fn a_cached_policy_fetched_over_a_day_ago_is_refreshed_in_the_background() {
    if !common::in_private_netns(
        "a_cached_policy_fetched_over_a_day_ago_is_refreshed_in_the_background",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let mx = pki.leaf("mx", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test", "mta-sts.other.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &mx, &web, "yes");
    peer.set_policy(ENFORCE);
    // A data directory whose cache holds sts.test's policy fetched two
    // days ago (valid five more), and other.test's fetched an hour ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let old = "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 604800\n";
    let data = dir.path().join("data-before");
    let store = Store::open(&data).unwrap();
    for (domain, fetched) in [("sts.test", now - 2 * 86_400), ("other.test", now - 3600)] {
        store
            .sts_policy_put(
                domain,
                &tidings_store::StsPolicy {
                    id: "20261203one".into(),
                    policy: old.into(),
                    fetched,
                    expires: fetched + 604_800,
                },
            )
            .unwrap();
    }
    store.close();
    let stub = DnsStub::start(zone(true));
    let ca = pki.ca();
    let server = Server::start(Setup {
        protocols: &["submission"],
        domains: &["example.org"],
        users: &["bob@example.org"],
        top: "hostname = \"mx.example.org\"",
        extra: &stub.config(),
        env: &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        data_from: Some(&data),
        ..Setup::default()
    });

    // No mail is sent: the refresh alone fetches the policy anew.
    let log = server.wait_for("MTA-STS policy of sts.test refreshed");
    assert!(log.contains("Enforce"), "{log}");
    let store = Store::open(&server.path("data")).unwrap();
    let sts = store.sts_policy("sts.test").unwrap().unwrap();
    let other = store.sts_policy("other.test").unwrap().unwrap();
    store.close();
    assert_eq!(sts.policy, ENFORCE);
    assert_eq!(sts.expires - sts.fetched, 86_400);
    assert!(sts.fetched >= now, "{sts:?}");
    assert_eq!(other.policy, old, "fetched an hour ago: not yet");
    assert_eq!(
        peer.fetches(),
        ["mta-sts.sts.test /.well-known/mta-sts.txt"]
    );
}

#[test]
fn requiretls_goes_to_an_mx_authenticated_by_dane_without_an_mta_sts_policy() {
    if !common::in_private_netns(
        "requiretls_goes_to_an_mx_authenticated_by_dane_without_an_mta_sts_policy",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["mx.sts.test", "mx.other.test"], false);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "requiretls");
    // No _mta-sts records at all; only sts.test's MX has TLSA records.
    let stub = DnsStub::start(
        zone(false)
            .tlsa(
                "_25._tcp.mx.sts.test",
                3,
                1,
                1,
                &spki_sha256(&self_signed.0),
            )
            .signed("mx.sts.test")
            .signed("_25._tcp.mx.sts.test")
            .signed("mx.other.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    let out = submit_with(
        &server,
        "dave@sts.test",
        "REQUIRETLS over DANE",
        "",
        "REQUIRETLS",
    );
    assert!(out.starts_with("sent"), "{out}");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    let mail = got.lines().nth(1).unwrap();
    assert!(mail.ends_with(" REQUIRETLS"), "{mail}");

    // other.test: no TLSA records, no policy: nothing vouches for its MX.
    let out = submit_with(
        &server,
        "erin@other.test",
        "REQUIRETLS, no DANE",
        "",
        "REQUIRETLS",
    );
    assert!(out.starts_with("sent"), "{out}");
    let failed = server.wait_for("5.7.30");
    assert!(failed.contains("no DNSSEC-signed TLSA records"), "{failed}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(peer.messages().len(), 1);
}

#[test]
fn a_policy_that_cannot_be_fetched_is_counted_for_tls_rpt() {
    if !common::in_private_netns("a_policy_that_cannot_be_fetched_is_counted_for_tls_rpt") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let mx = pki.leaf("mx", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    // The record announces a policy; the web server has none (404).
    let peer = Peer::start(&dir.path().join("peer"), &mx, &web, "yes");
    let stub = DnsStub::start(zone(true));
    let server = start(&pki, &stub);

    submit(&server, "dave@sts.test", "policy missing");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.contains("Subject: policy missing"), "{got}");
    let mut counted: Vec<(String, String, String)> = tls_counted(&server, 2)
        .into_iter()
        .map(|c| (c.result.policy_type, c.result.mx_host, c.result.result))
        .collect();
    counted.sort();
    let row = |t: &str, h: &str, r: &str| (t.to_string(), h.to_string(), r.to_string());
    assert_eq!(
        counted,
        [
            row("no-policy-found", "mx.sts.test", "success"),
            row("sts", "", "sts-policy-fetch-error"),
        ]
    );
}

#[test]
fn dane_follows_a_secure_cname_of_the_mx_host_then_the_original_name() {
    if !common::in_private_netns(
        "dane_follows_a_secure_cname_of_the_mx_host_then_the_original_name",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let self_signed = pki.leaf("mx-self", &["host.provider.test"], false);
    let other_key = pki.leaf("other", &["host.provider.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    let (right, wrong) = (spki_sha256(&self_signed.0), spki_sha256(&other_key.0));
    let stub = DnsStub::start(
        Zone::new()
            // alias.test: a signed alias of a signed host whose records
            // match; the original name's (wrong) records are not used.
            .mx("alias.test", 10, "mx.alias.test")
            .cname("mx.alias.test", "host.provider.test")
            .signed("mx.alias.test")
            .ip("host.provider.test", MX_IP)
            .signed("host.provider.test")
            .tlsa("_25._tcp.host.provider.test", 3, 1, 1, &right)
            .signed("_25._tcp.host.provider.test")
            .tlsa("_25._tcp.mx.alias.test", 3, 1, 1, &wrong)
            .signed("_25._tcp.mx.alias.test")
            // fallback.test: the expanded name has no records; the
            // original name's (wrong) ones apply.
            .mx("fallback.test", 10, "mx.fallback.test")
            .cname("mx.fallback.test", "host2.provider.test")
            .signed("mx.fallback.test")
            .ip("host2.provider.test", MX_IP)
            .signed("host2.provider.test")
            .tlsa("_25._tcp.mx.fallback.test", 3, 1, 1, &wrong)
            .signed("_25._tcp.mx.fallback.test")
            // half.test: a signed alias of an unsigned host: only the
            // original name counts (its records are wrong); the target's
            // unsigned (matching) ones do not.
            .mx("half.test", 10, "mx.half.test")
            .cname("mx.half.test", "host.unsigned.test")
            .signed("mx.half.test")
            .ip("host.unsigned.test", MX_IP)
            .tlsa("_25._tcp.host.unsigned.test", 3, 1, 1, &right)
            .tlsa("_25._tcp.mx.half.test", 3, 1, 1, &wrong)
            .signed("_25._tcp.mx.half.test")
            // unsigned.test: an unsigned alias: no DANE at all.
            .mx("unsigned.test", 10, "mx.unsigned.test")
            .cname("mx.unsigned.test", "host.unsigned.test")
            .tlsa("_25._tcp.mx.unsigned.test", 3, 1, 1, &wrong)
            .signed("_25._tcp.mx.unsigned.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    submit(&server, "ann@alias.test", "through a signed alias");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    assert!(got.contains("Subject: through a signed alias"), "{got}");
    submit(&server, "ann@fallback.test", "fallback");
    let reason = queued_reason(&server, "ann@fallback.test", "DANE");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("no TLSA record matches"), "{reason}");
    submit(&server, "ann@half.test", "half signed");
    let reason = queued_reason(&server, "ann@half.test", "DANE");
    assert!(reason.contains("no TLSA record matches"), "{reason}");
    submit(&server, "ann@unsigned.test", "unsigned alias");
    eventually("the unsigned alias's message delivered", || {
        peer.messages()
            .into_iter()
            .find(|m| m.contains("Subject: unsigned alias"))
    });
    assert_eq!(
        peer.messages().len(),
        2,
        "only alias.test and unsigned.test"
    );

    let queries = stub.queries();
    let asked = |q: &str| queries.iter().any(|x| x == q);
    assert!(asked("TLSA _25._tcp.host.provider.test"), "{queries:?}");
    assert!(!asked("TLSA _25._tcp.mx.alias.test"), "{queries:?}");
    assert!(asked("TLSA _25._tcp.host2.provider.test"), "{queries:?}");
    assert!(asked("TLSA _25._tcp.mx.fallback.test"), "{queries:?}");
    assert!(asked("CNAME mx.half.test"), "{queries:?}");
    assert!(!asked("TLSA _25._tcp.host.unsigned.test"), "{queries:?}");
    assert!(!asked("TLSA _25._tcp.mx.unsigned.test"), "{queries:?}");
}

#[test]
fn dane_applies_to_static_routes_and_the_relay_by_name() {
    if !common::in_private_netns("dane_applies_to_static_routes_and_the_relay_by_name") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // Self-signed: only TLSA records can vouch for it.
    let self_signed = pki.leaf("mx-self", &["smarthost.test"], false);
    let other_key = pki.leaf("other", &["smarthost.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &self_signed, &web, "yes");
    let (right, wrong) = (spki_sha256(&self_signed.0), spki_sha256(&other_key.0));
    let mut zone = Zone::new();
    for (host, tlsa) in [
        ("route.test", &right),
        ("badroute.test", &wrong),
        ("smarthost.test", &right),
        ("badsmarthost.test", &wrong),
    ] {
        let name = format!("_25._tcp.{host}");
        zone = zone
            .ip(host, MX_IP)
            .signed(host)
            .tlsa(&name, 3, 1, 1, tlsa)
            .signed(&name);
    }
    let stub = DnsStub::start(zone);
    let routes = format!(
        "\n[smtp.mx]\n\"good.test\" = \"route.test:25\"\n\"bad.test\" = \"badroute.test:25\"\n\"literal.test\" = \"{MX_IP}:25\"\n"
    );
    let server = start_with(&pki, &stub, &format!("{DNSSEC}{routes}"));

    // Static routes: the route's host by name is under its records; an
    // IP literal is not (opportunistic, delivered).
    submit(&server, "ann@good.test", "static route, matching records");
    submit(&server, "ann@bad.test", "static route, wrong records");
    submit(&server, "ann@literal.test", "static route by address");
    let reason = queued_reason(&server, "ann@bad.test", "DANE");
    assert!(reason.starts_with("451 4.7.5"), "{reason}");
    assert!(reason.contains("no TLSA record matches"), "{reason}");
    let delivered = eventually("two routed messages delivered", || {
        let m = peer.messages();
        (m.len() >= 2).then_some(m)
    });
    assert!(
        delivered
            .iter()
            .any(|m| m.contains("Subject: static route, matching records")),
        "{delivered:?}"
    );
    assert!(
        delivered
            .iter()
            .any(|m| m.contains("Subject: static route by address")),
        "{delivered:?}"
    );

    // A relay with credentials: its self-signed certificate, which the
    // roots (the test CA) would refuse, passes by its matching records,
    // and the session goes on to AUTH (which this peer does not offer);
    // with records naming another key it stops at the handshake.
    std::fs::write(dir.path().join("relay.password"), "secret\n").unwrap();
    for (relay, expected) in [
        ("smarthost.test", "offers neither AUTH PLAIN nor AUTH LOGIN"),
        ("badsmarthost.test", "no TLSA record matches"),
    ] {
        let ca = pki.ca();
        let server = Server::start(Setup {
            protocols: &["submission"],
            domains: &["example.org"],
            users: &["bob@example.org"],
            top: "hostname = \"mx.example.org\"",
            extra: &format!(
                "[smtp]\nretry_after = \"1s\"\nrelay = \"{relay}:25\"\nrelay_user = \"tidings\"\nrelay_password_file = \"{}\"\n\n{}{DNSSEC}",
                dir.path().join("relay.password").display(),
                stub.config()
            ),
            env: &[("SSL_CERT_FILE", ca.to_str().unwrap())],
            ..Setup::default()
        });
        submit(&server, "carl@far.test", &format!("via {relay}"));
        let reason = queued_reason(&server, "carl@far.test", expected);
        assert!(reason.starts_with("451"), "{reason}");
    }
    let queries = stub.queries();
    for q in [
        "TLSA _25._tcp.route.test",
        "TLSA _25._tcp.smarthost.test",
        "TLSA _25._tcp.badsmarthost.test",
    ] {
        assert!(queries.iter().any(|x| x == q), "{q} in {queries:?}");
    }
}

#[test]
fn tls_rpt_counts_a_session_that_never_got_to_tls_under_a_policy_only() {
    if !common::in_private_netns(
        "tls_rpt_counts_a_session_that_never_got_to_tls_under_a_policy_only",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // Nothing listens on MX_IP:25: every connection is refused.
    let stub = DnsStub::start(
        Zone::new()
            .mx("down.test", 10, "mx.down.test")
            .ip("mx.down.test", MX_IP)
            .signed("mx.down.test")
            .tlsa("_25._tcp.mx.down.test", 3, 1, 1, &[7u8; 32])
            .signed("_25._tcp.mx.down.test")
            .mx("nopolicy.test", 10, "mx.nopolicy.test")
            .ip("mx.nopolicy.test", MX_IP),
    );
    let server = start_with(&pki, &stub, DNSSEC);
    submit(&server, "ann@down.test", "to a dead MX under DANE");
    submit(
        &server,
        "ann@nopolicy.test",
        "to a dead MX without a policy",
    );
    queued_reason(&server, "ann@down.test", "refused");
    queued_reason(&server, "ann@nopolicy.test", "refused");
    let counted = tls_counted(&server, 1);
    let rows: Vec<(String, String, String, String)> = counted
        .into_iter()
        .map(|c| {
            (
                c.result.domain,
                c.result.policy_type,
                c.result.mx_host,
                c.result.result,
            )
        })
        .collect();
    assert!(
        rows.iter().all(|r| r
            == &(
                "down.test".to_string(),
                "tlsa".to_string(),
                "mx.down.test".to_string(),
                "validation-failure".to_string()
            )),
        "{rows:?}"
    );
}

#[test]
fn a_tls_rpt_report_whose_post_fails_is_queued_and_posted_later() {
    if !common::in_private_netns("a_tls_rpt_report_whose_post_fails_is_queued_and_posted_later") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    let mx = pki.leaf("mx", &["mx.sts.test"], true);
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &mx, &web, "yes");
    // sts.test has no policy (no _mta-sts record), and asks for reports
    // by POST to its web server, which refuses them at first.
    let stub = DnsStub::start(zone(false).txt(
        "_smtp._tls.sts.test",
        "v=TLSRPTv1; rua=https://mta-sts.sts.test/v1/tlsrpt",
    ));
    let server = start(&pki, &stub);
    submit(&server, "dave@sts.test", "counted");
    eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    tls_counted(&server, 1);
    std::fs::write(dir.path().join("peer/post-status"), "503").unwrap();

    let o = server
        .tidings()
        .args(["tlsrpt", "send", "--now"])
        .env("SSL_CERT_FILE", pki.ca())
        .output()
        .unwrap();
    assert_success(&o, "tidings tlsrpt send --now");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("sts.test: posting the report to https://mta-sts.sts.test/v1/tlsrpt failed")
            && out.contains("queued"),
        "{out}"
    );
    // The counted sessions are gone (the report is safe in the queue),
    // and the server's queue tries again, with the same refusal.
    let store = Store::open(&server.path("data")).unwrap();
    assert!(store.tls_results(i64::MAX).unwrap().is_empty());
    store.close();
    let reason = queued_reason(&server, "https://mta-sts.sts.test/v1/tlsrpt", "503");
    assert!(reason.starts_with("451 4.4.1"), "{reason}");

    // The receiver recovers: the retry posts the report.
    std::fs::remove_file(dir.path().join("peer/post-status")).unwrap();
    let meta = eventually("the report posted", || {
        std::fs::read_dir(&peer.out)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .find(|p| p.to_string_lossy().ends_with(".meta"))
    });
    let refused = std::fs::read_to_string(dir.path().join("peer/post-refused")).unwrap();
    assert!(refused.lines().count() >= 2, "{refused}");
    assert_eq!(
        std::fs::read_to_string(&meta).unwrap().trim(),
        "mta-sts.sts.test /v1/tlsrpt application/tlsrpt+gzip"
    );
    let o = Command::new("python3")
        .args([
            "-c",
            "import gzip, sys; sys.stdout.write(gzip.open(sys.argv[1]).read().decode())",
        ])
        .arg(meta.with_extension("gz"))
        .output()
        .unwrap();
    assert_success(&o, "python3 gzip");
    let posted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let policy = &posted["policies"][0];
    assert_eq!(
        policy["policy"]["policy-type"], "no-policy-found",
        "{posted}"
    );
    assert_eq!(policy["summary"]["total-successful-session-count"], 1);
    let store = Store::open(&server.path("data")).unwrap();
    eventually("an empty queue", || {
        store.queue_list().unwrap().is_empty().then_some(())
    });
    store.close();
}

#[test]
fn dane_ta_accepts_the_cname_expanded_name_in_the_certificate() {
    if !common::in_private_netns("dane_ta_accepts_the_cname_expanded_name_in_the_certificate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = network(dir.path());
    // A CA named only by TLSA records; the MX's certificate carries the
    // name its MX host name expands to, not the MX host name itself.
    let dane_dir = dir.path().join("dane-ca");
    std::fs::create_dir_all(&dane_dir).unwrap();
    let dane_ca = Pki::new(&dane_dir);
    let (cert, key) = dane_ca.leaf("mx", &["host.provider.test"], true);
    let chain = dane_dir.join("chain.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(dane_ca.ca()).unwrap());
    std::fs::write(&chain, pem).unwrap();
    let web = pki.leaf("web", &["mta-sts.sts.test"], true);
    let peer = Peer::start(&dir.path().join("peer"), &(chain, key), &web, "yes");
    let anchor = cert_sha256(&dane_ca.ca());
    let stub = DnsStub::start(
        Zone::new()
            .mx("ta.test", 10, "mx.ta.test")
            .cname("mx.ta.test", "host.provider.test")
            .signed("mx.ta.test")
            .ip("host.provider.test", MX_IP)
            .signed("host.provider.test")
            .tlsa("_25._tcp.host.provider.test", 2, 0, 1, &anchor)
            .signed("_25._tcp.host.provider.test")
            // Without the alias the same certificate is for another name.
            .mx("direct.test", 10, "mx.direct.test")
            .ip("mx.direct.test", MX_IP)
            .signed("mx.direct.test")
            .tlsa("_25._tcp.mx.direct.test", 2, 0, 1, &anchor)
            .signed("_25._tcp.mx.direct.test"),
    );
    let server = start_with(&pki, &stub, DNSSEC);

    submit(&server, "ann@ta.test", "DANE-TA through an alias");
    let got = eventually("the MX took the message", || {
        peer.messages().into_iter().next()
    });
    assert!(got.starts_with("X-Peer-TLS: yes"), "{got}");
    submit(&server, "ann@direct.test", "DANE-TA, another name");
    let reason = queued_reason(&server, "ann@direct.test", "DANE");
    assert!(reason.contains("does not verify"), "{reason}");
    assert_eq!(peer.messages().len(), 1);
}
