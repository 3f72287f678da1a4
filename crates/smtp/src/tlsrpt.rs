//! TLS-RPT (RFC 8460): daily reports on our outbound TLS sessions, sent to
//! the domains that ask for them.
//!
//! Implementation notes:
//! - The outbound worker counts each session with an MX host from DNS in
//!   the store (`tls_results`: per UTC day, recipient domain, policy —
//!   `tlsa` for DANE, `sts` for MTA-STS, else `no-policy-found` — MX host,
//!   address and result: `success` or a §4.3 result type; under an
//!   MTA-STS `testing` policy, the failure the policy let pass). A session
//!   refused or broken off after its handshake counts as the TLS success
//!   it was. Under a policy (DANE or MTA-STS, any mode), a session that
//!   never got to TLS (connection refused or timed out, a 4xx greeting,
//!   a break before STARTTLS) counts as `validation-failure` (§4.3.3,
//!   the general failure); without a policy it is not counted.
//! - [`send`] makes one report per domain and day (§4.1: 24-hour UTC
//!   periods), for every domain whose `_smtp._tls` TXT record (§3, one
//!   `v=TLSRPTv1` record) has a `mailto:` `rua`: JSON (§4.4), gzipped, in
//!   a `multipart/report; report-type="tlsrpt"` message with the
//!   `TLS-Report-Domain` and `TLS-Report-Submitter` fields and the subject
//!   of §5.3, signed with our DKIM key as the submitter domain, queued like
//!   any mail (from `postmaster@` the submitter). An `https:` destination
//!   gets the gzipped JSON by POST (§5.4, `application/tlsrpt+gzip`),
//!   over verified TLS to a public address, a 2xx answer being success.
//!   A failed POST is queued in the outbound queue (the gzipped JSON as
//!   its bytes, the URL as its recipient) and posted again by the
//!   outbound worker with the queue's backoff and lifetime, so it
//!   survives a restart. Counted sessions are forgotten once every
//!   destination took the report or has it queued, and when the domain
//!   wants none; when a report cannot be queued they are kept for the
//!   next run.
//! - `reports::spawn` runs [`send`] for the days before today once an hour, so
//!   each day's reports leave within an hour after midnight UTC (or after
//!   the first start that follows); `tidings tlsrpt send --now` runs it by
//!   hand, today included.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use tidings_store::{NewQueued, QueueRecipient, Store, TlsResultCount};

use crate::auth::DkimKey;
use crate::message;
use crate::outbound::OutboundHandle;

/// Who reports (§4.4 `organization-name`, `contact-info`; §5.3 submitter).
#[derive(Clone, Debug)]
pub struct Reporter {
    /// Our domain: the submitter, the organization, the DKIM `d=`.
    pub domain: String,
    /// Our host name (Message-ID, report ids).
    pub hostname: String,
    pub dkim: Option<Arc<DkimKey>>,
}

impl Reporter {
    /// The report's sender and contact: `postmaster@` our domain.
    pub fn contact(&self) -> String {
        format!("postmaster@{}", self.domain)
    }
}

/// The `rua` URIs of a domain's `_smtp._tls` TXT records (each given with
/// its strings joined): the one `v=TLSRPTv1` record's comma-separated list
/// (§3); `None` without exactly one such record or without `rua`.
pub fn rua(records: &[String]) -> Option<Vec<String>> {
    let mut found = records.iter().filter(|r| {
        r.trim_start()
            .strip_prefix("v=TLSRPTv1")
            .is_some_and(|rest| rest.trim_start().is_empty() || rest.trim_start().starts_with(';'))
    });
    let record = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let value = record.split(';').skip(1).find_map(|field| {
        let (key, value) = field.trim().split_once('=')?;
        (key.trim() == "rua").then(|| value.trim().to_string())
    })?;
    let uris: Vec<String> = value
        .split(',')
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    (!uris.is_empty()).then_some(uris)
}

/// `YYYY-MM-DD` of a day number (Unix seconds / 86400).
fn date(day: i64) -> String {
    let (y, m, d) = tidings_types::civil::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The JSON report (§4.4) of one domain's sessions of one day.
pub fn report_json(
    reporter: &Reporter,
    report_id: &str,
    domain: &str,
    day: i64,
    rows: &[TlsResultCount],
) -> String {
    // One policy entry per policy the sessions were under.
    let mut policies: BTreeMap<(&str, &str), Vec<&TlsResultCount>> = BTreeMap::new();
    for row in rows {
        policies
            .entry((&row.result.policy_type, &row.result.policy))
            .or_default()
            .push(row);
    }
    let policies: Vec<serde_json::Value> = policies
        .into_iter()
        .map(|((policy_type, text), rows)| {
            let mut policy = serde_json::json!({
                "policy-type": policy_type,
                "policy-domain": domain,
            });
            if !text.is_empty() {
                policy["policy-string"] = text.lines().collect::<Vec<_>>().into();
            }
            let mx: Vec<String> = match policy_type {
                // §4.4: the `mx` patterns of the MTA-STS policy.
                "sts" => text
                    .lines()
                    .filter_map(|l| l.strip_prefix("mx:").map(|v| v.trim().to_string()))
                    .collect(),
                _ => {
                    let mut hosts: Vec<String> = rows
                        .iter()
                        .map(|r| r.result.mx_host.clone())
                        .filter(|h| !h.is_empty())
                        .collect();
                    hosts.dedup();
                    hosts
                }
            };
            if !mx.is_empty() {
                policy["mx-host"] = mx.into();
            }
            let ok: u64 = rows
                .iter()
                .filter(|r| r.result.result == "success")
                .map(|r| r.count)
                .sum();
            let failed: u64 = rows
                .iter()
                .filter(|r| r.result.result != "success")
                .map(|r| r.count)
                .sum();
            let details: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.result.result != "success")
                .map(|r| {
                    let mut detail = serde_json::json!({
                        "result-type": r.result.result,
                        "failed-session-count": r.count,
                    });
                    // A policy fetch error has no MX host yet.
                    if !r.result.mx_host.is_empty() {
                        detail["receiving-mx-hostname"] = r.result.mx_host.clone().into();
                    }
                    if !r.result.receiving_ip.is_empty() {
                        detail["receiving-ip"] = r.result.receiving_ip.clone().into();
                    }
                    detail
                })
                .collect();
            let mut entry = serde_json::json!({
                "policy": policy,
                "summary": {
                    "total-successful-session-count": ok,
                    "total-failure-session-count": failed,
                },
            });
            if !details.is_empty() {
                entry["failure-details"] = details.into();
            }
            entry
        })
        .collect();
    let report = serde_json::json!({
        "organization-name": reporter.domain,
        "date-range": {
            "start-datetime": format!("{}T00:00:00Z", date(day)),
            "end-datetime": format!("{}T23:59:59Z", date(day)),
        },
        "contact-info": reporter.contact(),
        "report-id": report_id,
        "policies": policies,
    });
    report.to_string()
}

/// Base64 in lines of 76 (RFC 2045 §6.8).
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// The report gzipped (§5.3).
fn gzip(json: &str) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes())?;
    gz.finish()
}

/// How long one HTTPS POST of a report may take.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// POSTs a gzipped report to an `https:` destination (§5.4): the host's
/// certificate must verify, its address (from DNS) must be public, and the
/// answer must be a 2xx.
pub(crate) async fn post(
    resolver: &hickory_resolver::TokioResolver,
    tls: &Arc<rustls::ClientConfig>,
    url: &str,
    body: &[u8],
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("https://").ok_or("not an https: URL")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "bad port")?),
        None => (authority, 443),
    };
    if host.is_empty() || path.contains([' ', '\r', '\n']) {
        return Err("malformed URL".into());
    }
    let ips = resolver
        .lookup_ip(format!("{}.", host.trim_end_matches('.')))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let ip = ips
        .iter()
        .find(|ip| crate::dns::is_public(*ip))
        .ok_or_else(|| format!("{host} has no public address"))?;
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let mut stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Length: {}\r\nUser-Agent: tidings\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(body).await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.contains(&b'\n') && answer.len() < 8192 {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        let status = String::from_utf8_lossy(&answer);
        let status = status.lines().next().unwrap_or_default().to_string();
        let code = status.split(' ').nth(1).unwrap_or_default();
        if status.starts_with("HTTP/1.") && code.len() == 3 && code.starts_with('2') {
            Ok(())
        } else {
            Err(format!("the server answered {status:?}"))
        }
    };
    tokio::time::timeout(POST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer in {POST_TIMEOUT:?}"))?
}

/// The report message (§5.3) to `to`, unsigned: the JSON gzipped as an
/// `application/tlsrpt+gzip` attachment named as §5.1 says.
pub fn report_message(
    reporter: &Reporter,
    report_id: &str,
    domain: &str,
    day: i64,
    json: &str,
    to: &str,
) -> std::io::Result<Vec<u8>> {
    let gz = gzip(json)?;
    let begin = day * 86_400;
    let end = begin + 86_399;
    let filename = format!("{}!{domain}!{begin}!{end}.json.gz", reporter.domain);
    let boundary = format!("tlsrpt-{}", message::random_hex(12));
    let now = message::now();
    let mut m = String::new();
    m.push_str(&format!("From: <{}>\r\n", reporter.contact()));
    m.push_str(&format!("To: <{to}>\r\n"));
    m.push_str(&format!("Date: {}\r\n", message::rfc5322_date(now)));
    m.push_str(&format!(
        "Message-ID: <{}@{}>\r\n",
        message::random_hex(16),
        reporter.hostname
    ));
    m.push_str(&format!(
        "Subject: Report Domain: {domain} Submitter: {} Report-ID: <{report_id}>\r\n",
        reporter.domain
    ));
    m.push_str(&format!("TLS-Report-Domain: {domain}\r\n"));
    m.push_str(&format!("TLS-Report-Submitter: {}\r\n", reporter.domain));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    m.push_str(&format!(
        "This is an aggregate TLS report (RFC 8460) from {} about the TLS sessions\r\nit had with the mail hosts of {domain} on {} (UTC).\r\n\r\n",
        reporter.domain,
        date(day)
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: application/tlsrpt+gzip\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n");
    m.push_str(&format!(
        "Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n"
    ));
    m.push_str(&base64_lines(&gz));
    m.push_str(&format!("--{boundary}--\r\n"));
    Ok(m.into_bytes())
}

/// The `_smtp._tls` records of `domain`; `Err` when DNS failed (try
/// again later), an empty list when there are none.
async fn txt(
    resolver: &hickory_resolver::TokioResolver,
    domain: &str,
) -> Result<Vec<String>, String> {
    match resolver.txt_lookup(format!("_smtp._tls.{domain}.")).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends the reports of the days up to `last_day` (see the module notes);
/// one line per domain says what became of it.
pub async fn send(
    store: &Store,
    resolver: &hickory_resolver::TokioResolver,
    reporter: &Reporter,
    last_day: i64,
    outbound: &OutboundHandle,
) -> Result<Vec<String>, String> {
    let rows = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.tls_results(last_day))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let by_domain =
        crate::reports::by_domain_and_day(rows, |r| (r.result.domain.as_str(), r.result.day));
    let mut said = Vec::new();
    let https_tls = crate::client::verifying_tls(None);
    for (domain, days) in by_domain {
        let records = match txt(resolver, &domain).await {
            Ok(r) => r,
            Err(e) => {
                said.push(format!(
                    "{domain}: the _smtp._tls lookup failed ({e}); kept for later"
                ));
                continue;
            }
        };
        let uris = rua(&records).unwrap_or_default();
        let mailto: Vec<String> = uris
            .iter()
            .filter_map(|u| u.strip_prefix("mailto:"))
            .map(|a| a.split('?').next().unwrap_or(a).to_string())
            .filter(|a| a.contains('@'))
            .collect();
        let https: Vec<&String> = uris.iter().filter(|u| u.starts_with("https://")).collect();
        for other in uris
            .iter()
            .filter(|u| !u.starts_with("mailto:") && !u.starts_with("https://"))
        {
            said.push(format!(
                "{domain}: {other}: not a mailto: or https: destination"
            ));
        }
        let mut queued = 0;
        let mut posted = 0;
        let mut retried = 0;
        let mut failed = false;
        for (day, rows) in &days {
            let report_id = format!(
                "{}.{domain}.{}@{}",
                date(*day),
                message::random_hex(6),
                reporter.hostname
            );
            let json = report_json(reporter, &report_id, &domain, *day, rows);
            for url in &https {
                let result = match (&https_tls, gzip(&json)) {
                    (Ok(tls), Ok(body)) => post(resolver, tls, url, &body).await,
                    (Err(e), _) => Err(e.clone()),
                    (_, Err(e)) => Err(e.to_string()),
                };
                match result {
                    Ok(()) => {
                        posted += 1;
                        tracing::info!(
                            "TLS-RPT report for {domain} ({}) posted to {url}",
                            date(*day)
                        );
                    }
                    // Queued to be posted again by the outbound worker,
                    // with the queue's backoff (`outbound::post_report`).
                    Err(e) => match requeue(store, url, &json).await {
                        Ok(id) => {
                            retried += 1;
                            said.push(format!(
                                "{domain}: posting the report to {url} failed ({e}); queued ({id}) to be posted again"
                            ));
                        }
                        Err(qe) => {
                            failed = true;
                            said.push(format!(
                                "{domain}: posting the report to {url} failed ({e}) and it cannot be queued ({qe}); kept for the next run"
                            ));
                        }
                    },
                }
            }
            for to in &mailto {
                let raw = report_message(reporter, &report_id, &domain, *day, &json, to)
                    .map_err(|e| e.to_string())?;
                let raw = sign(reporter, raw);
                let raw_len = raw.len();
                let store = store.clone();
                let (sender, rcpt) = (reporter.contact(), to.clone());
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
                        tracing::info!(queued = %id, "TLS-RPT report for {domain} ({}) to {to}, {raw_len} bytes", date(*day));
                    }
                    Err(e) => {
                        failed = true;
                        said.push(format!("{domain}: cannot queue the report to {to}: {e}"));
                    }
                }
            }
        }
        if failed
            || (queued == 0
                && posted == 0
                && retried == 0
                && !(mailto.is_empty() && https.is_empty()))
        {
            // Kept for the next run.
            continue;
        }
        let store = store.clone();
        let d = domain.clone();
        tokio::task::spawn_blocking(move || store.tls_results_delete(&d, last_day))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !mailto.is_empty() {
            said.push(format!(
                "{domain}: {queued} report(s) queued to {}",
                mailto.join(", ")
            ));
        }
        if !https.is_empty() {
            said.push(format!(
                "{domain}: {posted} report(s) posted to {}",
                https
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if mailto.is_empty() && https.is_empty() {
            said.push(format!("{domain}: asks for no reports"));
        }
    }
    if said.iter().any(|l| l.contains("queued to")) {
        outbound.kick();
    }
    Ok(said)
}

/// Queues a report whose POST failed, to be posted again by the outbound
/// worker: the gzipped JSON as the queued bytes, the URL as the one
/// recipient, the null sender (nothing is returned when it expires).
async fn requeue(store: &Store, url: &str, json: &str) -> Result<tidings_store::QueueId, String> {
    let body = gzip(json).map_err(|e| e.to_string())?;
    let store = store.clone();
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        store.queue_add(&NewQueued {
            raw: &body,
            sender: String::new(),
            account: None,
            recipients: vec![QueueRecipient::new(url)],
            envid: None,
            ret_hdrs: false,
            ret_full: false,
            requiretls: false,
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Signs the report as our domain, when there is a key.
pub(crate) fn sign(reporter: &Reporter, raw: Vec<u8>) -> Vec<u8> {
    let Some(key) = &reporter.dkim else {
        return raw;
    };
    match key.sign(&reporter.domain, &raw) {
        Ok(sig) => {
            let mut signed = sig.into_bytes();
            signed.extend_from_slice(&raw);
            signed
        }
        Err(e) => {
            tracing::warn!("DKIM signing of a TLS-RPT report failed: {e}");
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_store::TlsResult;

    #[test]
    fn rua_of_the_one_tlsrpt_record() {
        let r = |v: &[&str]| rua(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // RFC 8460 §3's examples.
        assert_eq!(
            r(&["v=TLSRPTv1; rua=mailto:reports@example.com"]),
            Some(vec!["mailto:reports@example.com".to_string()])
        );
        assert_eq!(
            r(&["v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"]),
            Some(vec!["https://reporting.example.com/v1/tlsrpt".to_string()])
        );
        assert_eq!(
            r(&[
                "v=spf1 -all",
                "v=TLSRPTv1;rua=mailto:a@x.test, mailto:b@y.test"
            ]),
            Some(vec![
                "mailto:a@x.test".to_string(),
                "mailto:b@y.test".to_string()
            ])
        );
        assert_eq!(
            r(&["v=TLSRPTv1; rua=mailto:a@x", "v=TLSRPTv1; rua=mailto:b@x"]),
            None
        );
        assert_eq!(r(&["v=TLSRPTv1;"]), None);
        assert_eq!(r(&["v=TLSRPTv10; rua=mailto:a@x"]), None);
        assert_eq!(r(&[]), None);
    }

    #[test]
    fn the_report_sums_sessions_per_policy() {
        let reporter = Reporter {
            domain: "example.org".into(),
            hostname: "mx.example.org".into(),
            dkim: None,
        };
        let row =
            |policy_type: &str, policy: &str, host: &str, result: &str, count| TlsResultCount {
                result: TlsResult {
                    day: 20_000,
                    domain: "sts.test".into(),
                    policy_type: policy_type.into(),
                    policy: policy.into(),
                    mx_host: host.into(),
                    receiving_ip: "192.0.2.1".into(),
                    result: result.into(),
                },
                count,
            };
        let sts = "version: STSv1\nmode: enforce\nmx: *.sts.test\nmax_age: 86400";
        let json = report_json(
            &reporter,
            "id-1",
            "sts.test",
            20_000,
            &[
                row("sts", sts, "mx1.sts.test", "success", 5),
                row("sts", sts, "mx1.sts.test", "certificate-expired", 2),
                row(
                    "tlsa",
                    "3 1 1 00ff",
                    "mx2.sts.test",
                    "validation-failure",
                    1,
                ),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["organization-name"], "example.org");
        assert_eq!(v["contact-info"], "postmaster@example.org");
        assert_eq!(v["date-range"]["start-datetime"], "2024-10-04T00:00:00Z");
        assert_eq!(v["date-range"]["end-datetime"], "2024-10-04T23:59:59Z");
        let policies = v["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2);
        let s = &policies[0];
        assert_eq!(s["policy"]["policy-type"], "sts");
        assert_eq!(s["policy"]["mx-host"][0], "*.sts.test");
        assert_eq!(s["policy"]["policy-string"][1], "mode: enforce");
        assert_eq!(s["summary"]["total-successful-session-count"], 5);
        assert_eq!(s["summary"]["total-failure-session-count"], 2);
        assert_eq!(
            s["failure-details"][0]["result-type"],
            "certificate-expired"
        );
        assert_eq!(s["failure-details"][0]["failed-session-count"], 2);
        let t = &policies[1];
        assert_eq!(t["policy"]["policy-type"], "tlsa");
        assert_eq!(t["policy"]["mx-host"][0], "mx2.sts.test");
        assert_eq!(t["summary"]["total-successful-session-count"], 0);
        assert_eq!(t["failure-details"][0]["receiving-ip"], "192.0.2.1");
    }
}
