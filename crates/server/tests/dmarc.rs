//! `tidings dmarc report` on aggregate reports as receivers mail them:
//! Python's `email`, `gzip` and `zipfile` build the messages (a gzip
//! attachment, a zip attachment, the same report twice, a broken one and a
//! report for a domain not asked about), delivered to postmaster's INBOX.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;

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
