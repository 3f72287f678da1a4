//! `tidings dmarc report` on aggregate reports as receivers mail them:
//! Python's `email`, `gzip` and `zipfile` build the messages (a gzip
//! attachment, a zip attachment, the same report twice, a broken one and a
//! report for a domain not asked about), delivered to postmaster's INBOX.
//! And the reports we send: mail from other domains received on port 25
//! (Python's `smtplib`, DNS from the stub), `tidings dmarc send --now`,
//! and our own `tidings dmarc report` reading what arrived.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::dns::{DnsStub, Zone};
use common::{Server, Setup, assert_success};

const BUILD: &str = r#"
import email.message, gzip, io, sys, zipfile

def xml(org, rid, domain, rows):
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        f"<disposition>{disp}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>"
        f"</policy_evaluated></row><identifiers><header_from>{domain}</header_from></identifiers></record>"
        for ip, n, disp, dkim, spf in rows)
    return (f'<?xml version="1.0"?><feedback><report_metadata><org_name>{org}</org_name>'
            f"<report_id>{rid}</report_id><date_range><begin>1764720000</begin><end>1764806399</end>"
            f"</date_range></report_metadata><policy_published><domain>{domain}</domain><p>quarantine</p>"
            f"</policy_published>{records}</feedback>").encode()

def message(name, ctype, data):
    m = email.message.EmailMessage()
    m["From"] = "noreply-dmarc@receiver.test"
    m["To"] = "postmaster@example.org"
    m["Subject"] = "Report domain: example.org"
    m.set_content("DMARC aggregate report attached.")
    maintype, subtype = ctype.split("/")
    m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()

which = sys.argv[1]
good = xml("google.com", "g-1", "example.org",
           [("192.0.2.25", 40, "none", "pass", "pass"), ("198.51.100.7", 5, "quarantine", "fail", "fail")])
if which == "gzip":
    out = message("google.com!example.org!1764720000!1764806399.xml.gz", "application/gzip", gzip.compress(good))
elif which == "again":
    out = message("again.xml.gz", "application/gzip", gzip.compress(good))
elif which == "zip":
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.xml", xml("outlook.com", "o-9", "example.org",
                                     [("192.0.2.25", 7, "none", "fail", "pass")]))
    out = message("outlook.com!example.org.zip", "application/zip", buf.getvalue())
elif which == "other":
    out = message("other.xml", "text/xml", xml("yahoo.com", "y-3", "example.net",
                                               [("203.0.113.9", 2, "none", "pass", "fail")]))
elif which == "broken":
    out = message("broken.xml.gz", "application/gzip", b"this is not gzip")
sys.stdout.buffer.write(out)
"#;

fn build(which: &str) -> Vec<u8> {
    let o = Command::new("python3")
        .args(["-c", BUILD, which])
        .output()
        .unwrap();
    assert_success(&o, "building a report message");
    o.stdout
}

#[test]
fn aggregate_reports_in_a_mailbox_are_summed_up() {
    let server = Server::start(Setup {
        domains: &["example.org"],
        users: &["postmaster@example.org"],
        ..Setup::default()
    });
    let out = server.ok(&["dmarc", "report", "--from", "postmaster@example.org"]);
    assert_eq!(out.trim(), "no DMARC aggregate reports found");
    for which in ["gzip", "again", "zip", "other", "broken"] {
        server.deliver("postmaster@example.org", &build(which));
    }
    let o = server
        .tidings()
        .args(["dmarc", "report", "--from", "postmaster@example.org"])
        .output()
        .unwrap();
    assert_success(&o, "dmarc report");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    // The duplicate counts once; 40 + 5 + 7 messages, 47 passed.
    assert!(
        out.contains("example.org: 2 report(s) from google.com, outlook.com (2025-12-03 to 2025-12-03), 52 message(s), 47 passed DMARC, 5 failed"),
        "{out}"
    );
    assert!(
        out.contains("example.net: 1 report(s) from yahoo.com"),
        "{out}"
    );
    // Domains in order; under each, failing sources first.
    let lines: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("example.org:"))
        .collect();
    assert!(lines[1].trim_start().starts_with("198.51.100.7"), "{out}");
    assert!(lines[2].trim_start().starts_with("192.0.2.25"), "{out}");
    assert!(lines[2].contains("47 message(s)"), "{out}");
    assert!(err.contains("broken.xml.gz"), "{err}");
    assert!(
        out.contains("1 attachment(s) that looked like reports did not read"),
        "{out}"
    );

    let out = server.ok(&[
        "dmarc",
        "report",
        "--from",
        "postmaster@example.org",
        "--domain",
        "example.net",
    ]);
    assert!(!out.contains("example.org:"), "{out}");
    assert!(out.contains("203.0.113.9"), "{out}");
}

/// Sends one message from `from` to bob@example.org on port 25; prints
/// "sent" or the refusal.
fn receive(server: &Server, from: &str) -> String {
    let script = r#"
import smtplib, sys
port, sender = sys.argv[1], sys.argv[2]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
s.ehlo("client.test")
msg = "From: %s\r\nTo: bob@example.org\r\nSubject: hello\r\n\r\nhello\r\n" % sender
try:
    s.sendmail(sender, ["bob@example.org"], msg)
    print("sent")
except smtplib.SMTPDataError as e:
    print(e.smtp_code, e.smtp_error.decode())
s.quit()
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(server.port("smtp").to_string())
        .arg(from)
        .output()
        .unwrap();
    assert_success(&o, "python3 smtplib to port 25");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn aggregate_reports_we_send_reach_only_addresses_that_agreed_and_read_back() {
    // sender.test passes SPF and asks for reports at our postmaster's
    // address (outside sender.test), which agreed (RFC 7489 §7.1);
    // forged.test fails and is rejected, and its address never agreed.
    let stub = DnsStub::start(
        Zone::new()
            .txt("sender.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt(
                "_dmarc.sender.test",
                "v=DMARC1; p=none; rua=mailto:dmarc@example.org",
            )
            .txt("sender.test._report._dmarc.example.org", "v=DMARC1")
            .txt("forged.test", "v=spf1 -all")
            .txt(
                "_dmarc.forged.test",
                "v=DMARC1; p=reject; rua=mailto:dmarc@example.org",
            )
            // small.test agreed too, but takes at most 1 KiB.
            .txt("small.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt(
                "_dmarc.small.test",
                "v=DMARC1; p=none; rua=mailto:dmarc@example.org!1k",
            )
            .txt("small.test._report._dmarc.example.org", "v=DMARC1")
            .txt("quiet.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt("_dmarc.quiet.test", "v=DMARC1; p=none"),
    );
    let server = Server::start(Setup {
        protocols: &["smtp"],
        domains: &["example.org"],
        users: &["bob@example.org", "dmarc@example.org"],
        extra: &stub.config(),
        ..Setup::default()
    });
    assert_eq!(receive(&server, "ann@sender.test"), "sent");
    assert_eq!(receive(&server, "ann@sender.test"), "sent");
    assert_eq!(receive(&server, "quiet@quiet.test"), "sent");
    assert_eq!(receive(&server, "tiny@small.test"), "sent");
    let refused = receive(&server, "ceo@forged.test");
    assert!(refused.starts_with("550"), "{refused}");

    let out = server.ok(&["dmarc", "send", "--now"]);
    for line in [
        "sender.test: 1 report(s) queued to dmarc@example.org",
        "forged.test: dmarc@example.org is outside forged.test and has not agreed to its reports (no forged.test._report._dmarc record, RFC 7489 §7.1)",
        "forged.test: no address may have its reports",
        "small.test: 0 report(s) queued to dmarc@example.org",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("small.test: the report (")
                && l.ends_with(
                    "bytes) is over dmarc@example.org's limit of 1024 bytes; not sent there"
                )),
        "{out}"
    );
    assert!(
        !out.contains("quiet.test"),
        "no rua, nothing counted: {out}"
    );

    // The worker delivers the report to dmarc@'s INBOX; our own reader
    // makes sense of it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let summary = loop {
        let out = server.ok(&["dmarc", "report", "--from", "dmarc@example.org"]);
        if out.contains("sender.test:") {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no report arrived: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        summary.contains("sender.test: 1 report(s) from example.org"),
        "{summary}"
    );
    assert!(
        summary.contains("2 message(s), 2 passed DMARC, 0 failed"),
        "{summary}"
    );
    assert!(summary.contains("127.0.0.1"), "{summary}");
    // Reported rows are gone: a second run has nothing.
    let again = server.ok(&["dmarc", "send", "--now"]);
    assert_eq!(again.trim(), "no DMARC evaluations to report", "{again}");
}

#[test]
fn refused_and_quarantined_mail_is_in_the_aggregate_report_with_its_disposition() {
    // Both domains fail DMARC here (SPF -all, no DKIM) and agreed to
    // send their reports to our dmarc@ (RFC 7489 §7.1).
    let mut zone = Zone::new();
    for (domain, p) in [("reject.test", "reject"), ("junk.test", "quarantine")] {
        zone = zone
            .txt(domain, "v=spf1 -all")
            .txt(
                &format!("_dmarc.{domain}"),
                &format!("v=DMARC1; p={p}; rua=mailto:dmarc@example.org"),
            )
            .txt(&format!("{domain}._report._dmarc.example.org"), "v=DMARC1");
    }
    let stub = DnsStub::start(zone);
    let server = Server::start(Setup {
        protocols: &["smtp", "imap"],
        domains: &["example.org"],
        users: &["bob@example.org", "dmarc@example.org"],
        extra: &stub.config(),
        ..Setup::default()
    });
    // Refused at the end of DATA (550), twice; quarantined (to Junk) once.
    for _ in 0..2 {
        let refused = receive(&server, "ceo@reject.test");
        assert!(refused.starts_with("550"), "{refused}");
    }
    assert_eq!(receive(&server, "ceo@junk.test"), "sent");

    let out = server.ok(&["dmarc", "send", "--now"]);
    for line in [
        "reject.test: 1 report(s) queued to dmarc@example.org",
        "junk.test: 1 report(s) queued to dmarc@example.org",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    // The reports, read over IMAP (imaplib) and parsed with Python's
    // email, gzip and ElementTree: one row per domain, with what we did.
    let script = r#"
import email, gzip, imaplib, os, time
import xml.etree.ElementTree as ET
rows = {}
for _ in range(150):
    c = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
    c.login("dmarc@example.org", os.environ["PASSWORD"])
    c.select("INBOX")
    _, found = c.search(None, "ALL")
    for n in found[0].split():
        _, data = c.fetch(n, "(RFC822)")
        m = email.message_from_bytes(data[0][1])
        for part in m.walk():
            if part.get_content_type() == "application/gzip":
                root = ET.fromstring(gzip.decompress(part.get_payload(decode=True)))
                domain = root.find("policy_published/domain").text
                for r in root.findall("record"):
                    rows[domain] = (r.find("row/count").text,
                                    r.find("row/policy_evaluated/disposition").text,
                                    r.find("identifiers/header_from").text)
    c.logout()
    if len(rows) == 2:
        break
    time.sleep(0.2)
for d in sorted(rows):
    print(d, *rows[d])
"#;
    let python = std::path::Path::new("python3");
    let got = server.run_python(python, script, "imaplib, gzip and ElementTree");
    assert_eq!(
        got.trim(),
        "junk.test 1 quarantine junk.test\nreject.test 2 reject reject.test",
        "{got}"
    );
}
