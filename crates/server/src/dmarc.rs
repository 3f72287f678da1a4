//! `tidings dmarc report`: the DMARC aggregate reports (RFC 7489 §7.2)
//! that receivers mailed to a domain's `rua=` address, read from an
//! account's mailbox and summed up.
//!
//! A report is an XML `<feedback>` document, sent as an attachment that is
//! gzip (`.xml.gz`), zip (`.zip`, one XML file) or plain XML (appendix C of
//! the RFC). Each `<record>` row says how many messages came from one
//! source address claiming one of our domains, and whether DKIM and SPF
//! passed in alignment (`policy_evaluated`). Decompression stops at
//! [`MAX_XML`] bytes, so a zip bomb in the mailbox costs nothing.
//!
//! The summary groups rows by domain and by source address: an address
//! with many failing messages is either a sender you forgot to authorize
//! (a newsletter service, a second server) or someone forging your domain.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;

use anyhow::{Context, bail};
use mail_parser::MimeHeaders;
use tidings_store::Store;
use tidings_types::MailboxName;

/// The most XML one attachment may inflate to.
pub const MAX_XML: u64 = 32 * 1024 * 1024;

/// One aggregate report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `report_metadata/org_name`: who sent it.
    pub org: String,
    pub report_id: String,
    /// `date_range` begin and end, Unix seconds.
    pub begin: u64,
    pub end: u64,
    /// `policy_published/domain` and its `p=`.
    pub domain: String,
    pub policy: String,
    pub rows: Vec<Row>,
}

/// One `<record>`: messages from one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub source_ip: String,
    pub count: u64,
    /// `none`, `quarantine` or `reject`: what the receiver did.
    pub disposition: String,
    /// DKIM / SPF passed in alignment with the From domain.
    pub dkim: bool,
    pub spf: bool,
    pub header_from: String,
}

impl Row {
    /// DMARC passes when either aligned check passes.
    pub fn passes(&self) -> bool {
        self.dkim || self.spf
    }
}

/// The first child element of `node` named `name`.
fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The trimmed text at `path` under `node` (empty if absent).
fn text(node: Option<roxmltree::Node<'_, '_>>, path: &[&str]) -> String {
    let mut n = node;
    for p in path {
        n = n.and_then(|n| child(n, p));
    }
    n.and_then(|n| n.text()).unwrap_or("").trim().to_string()
}

/// Parses a `<feedback>` document.
pub fn parse_xml(xml: &str) -> anyhow::Result<Report> {
    let doc = roxmltree::Document::parse(xml).context("not XML")?;
    let root = doc.root_element();
    if root.tag_name().name() != "feedback" {
        bail!(
            "the XML is <{}>, not a DMARC <feedback>",
            root.tag_name().name()
        );
    }
    let meta = child(root, "report_metadata");
    let published = child(root, "policy_published");
    let domain = text(published, &["domain"]).to_ascii_lowercase();
    if domain.is_empty() {
        bail!("the report names no domain (policy_published/domain)");
    }
    let number = |s: String| s.parse::<u64>().unwrap_or(0);
    let mut rows = Vec::new();
    for record in root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "record")
    {
        let row = child(record, "row");
        rows.push(Row {
            source_ip: text(row, &["source_ip"]),
            count: number(text(row, &["count"])),
            disposition: text(row, &["policy_evaluated", "disposition"]),
            dkim: text(row, &["policy_evaluated", "dkim"]) == "pass",
            spf: text(row, &["policy_evaluated", "spf"]) == "pass",
            header_from: text(Some(record), &["identifiers", "header_from"]).to_ascii_lowercase(),
        });
    }
    Ok(Report {
        org: text(meta, &["org_name"]),
        report_id: text(meta, &["report_id"]),
        begin: number(text(meta, &["date_range", "begin"])),
        end: number(text(meta, &["date_range", "end"])),
        domain,
        policy: text(published, &["p"]),
        rows,
    })
}

/// What an attachment holds, by its type and name.
fn kind(content_type: &str, name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let ct = content_type.to_ascii_lowercase();
    if name.ends_with(".gz") || ct.contains("gzip") {
        Some("gzip")
    } else if name.ends_with(".zip") || ct.contains("zip") {
        Some("zip")
    } else if name.ends_with(".xml") || ct.ends_with("/xml") {
        Some("xml")
    } else {
        None
    }
}

/// Reads at most [`MAX_XML`] bytes; more is an error.
fn bounded(mut r: impl Read) -> anyhow::Result<String> {
    let mut out = Vec::new();
    (&mut r)
        .take(MAX_XML + 1)
        .read_to_end(&mut out)
        .context("cannot decompress")?;
    if out.len() as u64 > MAX_XML {
        bail!("inflates to more than {MAX_XML} bytes");
    }
    String::from_utf8(out).context("the XML is not UTF-8")
}

/// The XML of one attachment.
fn xml_of(kind: &str, data: &[u8]) -> anyhow::Result<String> {
    match kind {
        "gzip" => bounded(flate2::read::GzDecoder::new(data)),
        "zip" => {
            let mut archive =
                zip::ZipArchive::new(std::io::Cursor::new(data)).context("not a zip file")?;
            if archive.is_empty() {
                bail!("an empty zip file");
            }
            let file = archive.by_index(0).context("cannot read the zip file")?;
            bounded(file)
        }
        _ => bounded(data),
    }
}

/// The reports attached to one message, and the attachments that looked
/// like reports but did not read (with why).
pub fn reports_in_message(raw: &[u8]) -> (Vec<Report>, Vec<String>) {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let Some(message) = mail_parser::MessageParser::default().parse(raw) else {
        return (reports, errors);
    };
    for part in &message.parts {
        if matches!(part.body, mail_parser::PartType::Multipart(_)) {
            continue;
        }
        let content_type = part.content_type().map_or(String::new(), |ct| {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
        });
        let name = part.attachment_name().unwrap_or("");
        let Some(kind) = kind(&content_type, name) else {
            continue;
        };
        match xml_of(kind, part.contents()).and_then(|xml| parse_xml(&xml)) {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(format!(
                "{}: {e:#}",
                if name.is_empty() { kind } else { name }
            )),
        }
    }
    (reports, errors)
}

/// `tidings dmarc report --from EMAIL [--mailbox NAME] [--domain D]`.
pub fn report(
    store: &Store,
    from: &str,
    mailbox: Option<&str>,
    domain: Option<&str>,
) -> anyhow::Result<()> {
    let account = store
        .account(from)?
        .with_context(|| format!("no account {from}"))?
        .id;
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).context("bad mailbox name")?;
    let mbox = store
        .mailbox(account, &name)?
        .with_context(|| format!("{from} has no mailbox {name}"))?;
    let mut reports = Vec::new();
    let mut unread = 0;
    for e in store.mailbox_entries(account, mbox.id)? {
        let raw = match store.email_raw(account, e.email) {
            Ok(raw) => raw,
            Err(tidings_store::StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let (found, errors) = reports_in_message(&raw);
        for err in errors {
            eprintln!(
                "warning: a report in message UID {} does not read: {err}",
                e.uid
            );
            unread += 1;
        }
        reports.extend(found);
    }
    // A receiver may mail the same report twice.
    let mut seen = std::collections::HashSet::new();
    reports.retain(|r| seen.insert((r.org.clone(), r.report_id.clone(), r.domain.clone())));
    if let Some(d) = domain {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        reports.retain(|r| r.domain == d);
    }
    print!("{}", summary(&reports));
    if unread > 0 {
        println!("({unread} attachment(s) that looked like reports did not read)");
    }
    Ok(())
}

/// The printed summary: per domain, the reports and messages, how many
/// passed, and each source address with its counts (failing ones first).
pub fn summary(reports: &[Report]) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("no DMARC aggregate reports found\n");
        return out;
    }
    let mut by_domain: BTreeMap<&str, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        by_domain.entry(&r.domain).or_default().push(r);
    }
    for (domain, reports) in by_domain {
        let begin = reports.iter().map(|r| r.begin).min().unwrap_or(0);
        let end = reports.iter().map(|r| r.end).max().unwrap_or(0);
        let mut orgs: Vec<&str> = reports.iter().map(|r| r.org.as_str()).collect();
        orgs.sort_unstable();
        orgs.dedup();
        // source → (messages, passed, dispositions that were not none)
        let mut sources: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        let (mut total, mut passed) = (0u64, 0u64);
        for row in reports.iter().flat_map(|r| &r.rows) {
            let s = sources.entry(&row.source_ip).or_default();
            s.0 += row.count;
            total += row.count;
            if row.passes() {
                s.1 += row.count;
                passed += row.count;
            }
            if row.disposition != "none" && !row.disposition.is_empty() {
                s.2 += row.count;
            }
        }
        let _ = writeln!(
            out,
            "{domain}: {} report(s) from {} ({} to {}), {total} message(s), {passed} passed DMARC, {} failed",
            reports.len(),
            orgs.join(", "),
            crate::acme::day(begin),
            crate::acme::day(end),
            total - passed
        );
        let mut list: Vec<(&str, (u64, u64, u64))> = sources.into_iter().collect();
        // Failing messages first, then the busiest sources.
        list.sort_by(|a, b| {
            (b.1.0 - b.1.1)
                .cmp(&(a.1.0 - a.1.1))
                .then(b.1.0.cmp(&a.1.0))
                .then(a.0.cmp(b.0))
        });
        for (ip, (n, ok, acted)) in list {
            let _ = writeln!(
                out,
                "  {ip:<39} {n:>7} message(s)  {ok:>7} pass  {:>7} fail  {acted:>7} quarantined/rejected",
                n - ok
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>1234567890</report_id>
    <date_range><begin>1764720000</begin><end>1764806399</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>Example.org</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.25</source_ip><count>12</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.org</header_from></identifiers>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.7</source_ip><count>3</count>
      <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.org</header_from></identifiers>
  </record>
</feedback>
"#;

    #[test]
    fn a_report_parses_and_sums_up() {
        let r = parse_xml(XML).unwrap();
        assert_eq!(r.org, "google.com");
        assert_eq!(r.domain, "example.org");
        assert_eq!(r.policy, "quarantine");
        assert_eq!((r.begin, r.end), (1_764_720_000, 1_764_806_399));
        assert_eq!(r.rows.len(), 2);
        assert!(r.rows[0].passes() && !r.rows[1].passes());
        let s = summary(&[r]);
        assert!(s.starts_with("example.org: 1 report(s) from google.com (2025-12-03 to 2025-12-03), 15 message(s), 12 passed DMARC, 3 failed"), "{s}");
        // The failing source is listed first.
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[1].trim_start().starts_with("198.51.100.7"), "{s}");
        assert!(lines[1].contains("3 quarantined/rejected"), "{s}");
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(parse_xml("<feedback>").is_err());
        assert!(parse_xml("<html></html>").is_err());
        assert!(parse_xml("<feedback><record/></feedback>").is_err());
        assert!(xml_of("gzip", b"not gzip").is_err());
        assert!(xml_of("zip", b"PK not zip").is_err());
    }
}
