//! DMARC aggregate reports we send (RFC 7489 §7.2) about the mail we
//! received from domains that ask for them.
//!
//! Implementation notes:
//! - The MX counts each inbound message whose author domain's DMARC record
//!   has a `rua` (`auth::evaluate`) in the store (`dmarc_results`: per
//!   UTC day, author domain, published policy, source address, what we
//!   did, the aligned DKIM and SPF results and the underlying ones),
//!   before the verdict is acted on: a message refused at the end of DATA
//!   by `p=reject` is counted with disposition `reject`, one put in Junk
//!   by `p=quarantine` with `quarantine`. Mail refused before DATA was
//!   never evaluated (DMARC needs the From: field) and is not counted.
//! - [`send`] makes one report per domain and day: the appendix C XML
//!   (`feedback`, `report_metadata`, `policy_published`, a `record` per
//!   distinct row), gzipped (`application/gzip`, named
//!   `receiver!policy-domain!begin!end.xml.gz`, §7.2.1.1), in a message with
//!   the §7.2.1.1 subject, DKIM-signed as our domain, queued from
//!   `postmaster@` it to each `rua` address.
//! - §7.1: an address outside the author domain (and its subdomains) gets
//!   reports only when `<author-domain>._report._dmarc.<its domain>` has a
//!   `v=DMARC1` TXT record; a DNS failure there keeps the rows for the
//!   next run, a missing record drops the address (logged). A report
//!   larger than an address's size limit (`!10m`, §6.2) is not sent there
//!   (logged).
//! - Counted rows are forgotten once the domain's reports are queued (or
//!   when none of its addresses may have them).

use std::collections::BTreeMap;
use std::io::Write;

use tidings_store::{DmarcResultCount, NewQueued, QueueRecipient, Store};

use crate::message;
use crate::outbound::OutboundHandle;
use crate::tlsrpt::Reporter;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The aggregate report XML (appendix C) of one domain's day.
pub fn report_xml(
    reporter: &Reporter,
    report_id: &str,
    domain: &str,
    day: i64,
    rows: &[DmarcResultCount],
) -> String {
    let begin = day * 86_400;
    let end = begin + 86_399;
    // The policy as last seen that day.
    let policy = rows
        .last()
        .map(|r| r.result.policy.clone())
        .unwrap_or_default();
    let mut words = policy.split(' ');
    let mut next = |default: &str| words.next().unwrap_or(default).to_string();
    let (p, sp, adkim, aspf, pct) = (
        next("none"),
        next("none"),
        next("r"),
        next("r"),
        next("100"),
    );
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n");
    x.push_str("  <version>1.0</version>\n");
    x.push_str("  <report_metadata>\n");
    x.push_str(&format!(
        "    <org_name>{}</org_name>\n    <email>{}</email>\n    <report_id>{}</report_id>\n",
        escape(&reporter.domain),
        escape(&reporter.contact()),
        escape(report_id)
    ));
    x.push_str(&format!(
        "    <date_range><begin>{begin}</begin><end>{end}</end></date_range>\n"
    ));
    x.push_str("  </report_metadata>\n");
    x.push_str(&format!(
        "  <policy_published>\n    <domain>{}</domain><adkim>{}</adkim><aspf>{}</aspf><p>{}</p><sp>{}</sp><pct>{}</pct>\n  </policy_published>\n",
        escape(domain),
        escape(&adkim),
        escape(&aspf),
        escape(&p),
        escape(&sp),
        escape(&pct)
    ));
    let word = |b: bool| if b { "pass" } else { "fail" };
    // Rows that differ only in the policy or rua seen are one record.
    let mut records: BTreeMap<_, u64> = BTreeMap::new();
    for row in rows {
        let r = &row.result;
        *records
            .entry((
                &r.source_ip,
                &r.disposition,
                r.dkim_aligned,
                r.spf_aligned,
                &r.envelope_from,
                &r.dkim_domain,
                &r.dkim_result,
                &r.spf_domain,
                &r.spf_result,
            ))
            .or_default() += row.count;
    }
    for (
        (
            ip,
            disposition,
            dkim,
            spf,
            envelope_from,
            dkim_domain,
            dkim_result,
            spf_domain,
            spf_result,
        ),
        count,
    ) in records
    {
        x.push_str("  <record>\n    <row>\n");
        x.push_str(&format!(
            "      <source_ip>{}</source_ip><count>{count}</count>\n",
            escape(ip)
        ));
        x.push_str(&format!(
            "      <policy_evaluated><disposition>{}</disposition><dkim>{}</dkim><spf>{}</spf></policy_evaluated>\n",
            escape(disposition),
            word(dkim),
            word(spf)
        ));
        x.push_str("    </row>\n");
        x.push_str(&format!(
            "    <identifiers><header_from>{}</header_from><envelope_from>{}</envelope_from></identifiers>\n",
            escape(domain),
            escape(envelope_from)
        ));
        x.push_str("    <auth_results>\n");
        if !dkim_domain.is_empty() {
            x.push_str(&format!(
                "      <dkim><domain>{}</domain><result>{}</result></dkim>\n",
                escape(dkim_domain),
                escape(dkim_result)
            ));
        }
        x.push_str(&format!(
            "      <spf><domain>{}</domain><result>{}</result></spf>\n",
            escape(spf_domain),
            escape(spf_result)
        ));
        x.push_str("    </auth_results>\n  </record>\n");
    }
    x.push_str("</feedback>\n");
    x
}

/// The report message to `to` (§7.2.1.1), unsigned.
pub fn report_message(
    reporter: &Reporter,
    report_id: &str,
    domain: &str,
    day: i64,
    xml: &str,
    to: &str,
) -> std::io::Result<Vec<u8>> {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(xml.as_bytes())?;
    let gz = gz.finish()?;
    let begin = day * 86_400;
    let end = begin + 86_399;
    let filename = format!("{}!{domain}!{begin}!{end}.xml.gz", reporter.domain);
    let boundary = format!("dmarc-{}", message::random_hex(12));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gz);
    let mut m = String::new();
    m.push_str(&format!("From: <{}>\r\n", reporter.contact()));
    m.push_str(&format!("To: <{to}>\r\n"));
    m.push_str(&format!(
        "Date: {}\r\n",
        message::rfc5322_date(message::now())
    ));
    m.push_str(&format!(
        "Message-ID: <{}@{}>\r\n",
        message::random_hex(16),
        reporter.hostname
    ));
    m.push_str(&format!(
        "Subject: Report Domain: {domain} Submitter: {} Report-ID: <{report_id}>\r\n",
        reporter.domain
    ));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    m.push_str(&format!(
        "This is a DMARC aggregate report (RFC 7489) from {} about the mail it\r\nreceived from {domain} on {} (UTC).\r\n\r\n",
        reporter.domain,
        {
            let (y, mo, d) = tidings_types::civil::civil_from_days(day);
            format!("{y:04}-{mo:02}-{d:02}")
        }
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: application/gzip\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n");
    m.push_str(&format!(
        "Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n"
    ));
    for chunk in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        m.push_str("\r\n");
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    Ok(m.into_bytes())
}

/// Whether `address` may get `domain`'s reports (§7.1); `Err` when DNS
/// could not say.
async fn authorized(
    authenticator: &mail_auth::MessageAuthenticator,
    domain: &str,
    address: &str,
) -> Result<bool, String> {
    let addresses = [address.to_string()];
    match authenticator
        .verify_dmarc_report_address(domain, &addresses, None::<&crate::auth::TxtCache>)
        .await
    {
        Some(ok) => Ok(!ok.is_empty()),
        None => Err(format!(
            "the lookup of {domain}._report._dmarc for {address} failed"
        )),
    }
}

/// Sends the reports of the days up to `last_day` (see the module notes);
/// one line per domain says what became of it.
pub async fn send(
    store: &Store,
    authenticator: &mail_auth::MessageAuthenticator,
    reporter: &Reporter,
    last_day: i64,
    outbound: &OutboundHandle,
) -> Result<Vec<String>, String> {
    let rows = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.dmarc_results(last_day))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let by_domain =
        crate::reports::by_domain_and_day(rows, |r| (r.result.domain.as_str(), r.result.day));
    let mut said = Vec::new();
    let mut any = false;
    'domains: for (domain, days) in by_domain {
        // The addresses of the latest row: the record as last seen.
        let rua: Vec<String> = days
            .values()
            .last()
            .and_then(|rows| rows.last())
            .map(|r| {
                r.result
                    .rua
                    .split(' ')
                    .filter(|a| a.contains('@'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut to: Vec<(String, usize)> = Vec::new();
        for entry in rua {
            // `address!limit` (bytes; 0: none).
            let (address, limit) = match entry.split_once('!') {
                Some((a, n)) => (a.to_string(), n.parse().unwrap_or(0)),
                None => (entry, 0),
            };
            match authorized(authenticator, &domain, &address).await {
                Ok(true) => to.push((address, limit)),
                Ok(false) => said.push(format!(
                    "{domain}: {address} is outside {domain} and has not agreed to its reports (no {domain}._report._dmarc record, RFC 7489 §7.1)"
                )),
                Err(e) => {
                    said.push(format!("{domain}: {e}; kept for later"));
                    continue 'domains;
                }
            }
        }
        let mut queued = 0;
        for (day, rows) in &days {
            let report_id = format!("{}.{}@{}", day, message::random_hex(8), reporter.hostname);
            let xml = report_xml(reporter, &report_id, &domain, *day, rows);
            for (address, limit) in &to {
                let raw = report_message(reporter, &report_id, &domain, *day, &xml, address)
                    .map_err(|e| e.to_string())?;
                if *limit > 0 && raw.len() > *limit {
                    // RFC 7489 §7.2.1.1: over the destination's limit,
                    // the report is not sent there.
                    said.push(format!(
                        "{domain}: the report ({} bytes) is over {address}'s limit of {limit} bytes; not sent there",
                        raw.len()
                    ));
                    continue;
                }
                let raw = crate::tlsrpt::sign(reporter, raw);
                let store = store.clone();
                let (sender, rcpt) = (reporter.contact(), address.clone());
                let added = tokio::task::spawn_blocking(move || {
                    store.queue_add(&NewQueued {
                        raw: &raw,
                        sender,
                        account: None,
                        recipients: vec![QueueRecipient::new(rcpt)],
                        envid: None,
                        ret_hdrs: false,
                        ret_full: false,
                        requiretls: false,
                    })
                })
                .await
                .map_err(|e| e.to_string())?;
                match added {
                    Ok(id) => {
                        queued += 1;
                        tracing::info!(queued = %id, "DMARC aggregate report for {domain} to {address}");
                    }
                    Err(e) => {
                        said.push(format!(
                            "{domain}: cannot queue the report to {address}: {e}"
                        ));
                        continue 'domains;
                    }
                }
            }
        }
        let s = store.clone();
        let d = domain.clone();
        tokio::task::spawn_blocking(move || s.dmarc_results_delete(&d, last_day))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        any |= queued > 0;
        said.push(if to.is_empty() {
            format!("{domain}: no address may have its reports")
        } else {
            format!(
                "{domain}: {queued} report(s) queued to {}",
                to.iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    if any {
        outbound.kick();
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_store::DmarcResult;

    #[test]
    fn the_report_has_one_record_per_source_and_outcome() {
        let reporter = Reporter {
            domain: "example.org".into(),
            hostname: "mx.example.org".into(),
            dkim: None,
        };
        let row = |ip: &str, spf: bool, count| DmarcResultCount {
            result: DmarcResult {
                day: 20_000,
                domain: "sender.test".into(),
                policy: "reject quarantine s r 100".into(),
                rua: "dmarc@sender.test".into(),
                source_ip: ip.into(),
                disposition: if spf { "none" } else { "reject" }.into(),
                dkim_aligned: false,
                spf_aligned: spf,
                envelope_from: "sender.test".into(),
                dkim_domain: String::new(),
                dkim_result: "none".into(),
                spf_domain: "sender.test".into(),
                spf_result: if spf { "pass" } else { "fail" }.into(),
            },
            count,
        };
        let xml = report_xml(
            &reporter,
            "r1",
            "sender.test",
            20_000,
            &[row("192.0.2.1", true, 3), row("198.51.100.2", false, 1)],
        );
        assert!(
            xml.contains("<begin>1728000000</begin><end>1728086399</end>"),
            "{xml}"
        );
        assert!(xml.contains("<domain>sender.test</domain><adkim>s</adkim><aspf>r</aspf><p>reject</p><sp>quarantine</sp><pct>100</pct>"), "{xml}");
        assert!(
            xml.contains("<source_ip>192.0.2.1</source_ip><count>3</count>"),
            "{xml}"
        );
        assert!(
            xml.contains("<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>"),
            "{xml}"
        );
        assert_eq!(xml.matches("<record>").count(), 2);
        assert!(
            !xml.contains("<dkim><domain>"),
            "no signature, no dkim result: {xml}"
        );
    }
}
