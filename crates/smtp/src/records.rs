//! `tidings dns check`: asks the configured resolver for the records a
//! served domain needs and says, one line each, what is there, missing or
//! wrong.
//!
//! Required (mail fails or goes to spam without them): the MX pointing at
//! this server (RFC 5321 §5.1), an address for that host, one SPF record
//! (RFC 7208 §3.2: more than one is a permerror), the DKIM key record whose
//! `p=` is this server's key (RFC 6376 §3.6.1), and a DMARC record (RFC 7489
//! §6.1). Recommended, reported but not failed: the RFC 6186 SRV records
//! that let clients find the ports, the MTA-STS record (RFC 8461 §3.1)
//! naming the id of the policy this server serves, and a TLS-RPT record
//! (RFC 8460 §3).
//!
//! A TXT record's strings are joined before they are read (RFC 7208 §3.3,
//! RFC 6376 §3.6.2.2). An answer the resolver could not give (timeout,
//! SERVFAIL) is reported as unknown, never as missing.

use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;

/// What this server expects to find for a domain.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The served mail domain.
    pub domain: &'a str,
    /// The host name the MX must name.
    pub hostname: &'a str,
    /// The DKIM selector.
    pub selector: &'a str,
    /// The base64 `p=` of this server's DKIM key, when it has one.
    pub dkim_public_key: Option<&'a str>,
    /// The id of the MTA-STS policy this server serves, if it serves one.
    pub mta_sts_id: Option<&'a str>,
}

/// The MTA-STS policy (RFC 8461 §3.2) this server serves at
/// `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` for every domain: mail
/// for them goes to `hostname` alone. `mode` is `testing`, `enforce` or
/// `none`; `max_age` in seconds.
pub fn mta_sts_policy(hostname: &str, mode: &str, max_age: u64) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {hostname}\r\nmax_age: {max_age}\r\n")
}

/// The policy's id for the `_mta-sts` TXT record: taken from its text, so
/// it changes exactly when the policy does (§3.1: 1–32 letters and digits).
pub fn mta_sts_id(policy: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, policy.as_bytes());
    digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The verdict on one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Published as it should be.
    Ok,
    /// Not published.
    Missing,
    /// Published, but not as it should be.
    Wrong,
    /// The resolver gave no answer.
    Unknown,
}

impl Status {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Wrong => "wrong",
            Status::Unknown => "unknown",
        }
    }
}

/// One checked record.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The record, e.g. `MX example.org`.
    pub record: String,
    pub status: Status,
    /// Whether mail needs it (a required record that is not `Ok` fails the
    /// check).
    pub required: bool,
    /// What was found or what to publish.
    pub detail: String,
}

/// The answer to one question: records, none, or no answer.
enum Answer<T> {
    Found(Vec<T>),
    None,
    Failed(String),
}

fn answer<T>(result: Result<Vec<T>, NetError>) -> Answer<T> {
    match result {
        Ok(v) if v.is_empty() => Answer::None,
        Ok(v) => Answer::Found(v),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::None,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

async fn txt(resolver: &TokioResolver, name: &str) -> Answer<String> {
    ask(async {
        resolver.txt_lookup(fqdn(name)).await.map(|lookup| {
            lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()
        })
    })
    .await
}

/// The value of tag `name` in a `tag=value; …` record (RFC 6376 §3.2).
fn tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// How long one question may take; the questions are asked at once, so
/// this bounds the whole check.
const QUESTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one lookup within [`QUESTION_TIMEOUT`].
async fn ask<T>(lookup: impl Future<Output = Result<Vec<T>, NetError>>) -> Answer<T> {
    match tokio::time::timeout(QUESTION_TIMEOUT, lookup).await {
        Ok(result) => answer(result),
        Err(_) => Answer::Failed(format!("no answer within {} s", QUESTION_TIMEOUT.as_secs())),
    }
}

fn finding(record: String, status: Status, required: bool, detail: String) -> Finding {
    Finding {
        record,
        status,
        required,
        detail,
    }
}

/// Checks every record of `expected.domain`, all questions at once.
pub async fn check(resolver: &TokioResolver, expected: &Expected<'_>) -> Vec<Finding> {
    let domain = expected.domain.trim_end_matches('.');
    let (mx, host, spf, dkim, dmarc, srv, sts, tlsrpt) = tokio::join!(
        check_mx(resolver, domain, expected.hostname),
        check_host(resolver, expected.hostname),
        check_spf(resolver, domain),
        check_dkim(resolver, domain, expected),
        check_dmarc(resolver, domain),
        check_srv(resolver, domain, expected.hostname),
        check_mta_sts(resolver, domain, expected.mta_sts_id),
        check_tlsrpt(resolver, domain),
    );
    let mut out = vec![mx, host, spf, dkim, dmarc];
    out.extend(srv);
    out.extend(sts);
    out.push(tlsrpt);
    out
}

async fn check_mx(resolver: &TokioResolver, domain: &str, hostname: &str) -> Finding {
    let record = format!("MX {domain}");
    let mx = ask(async {
        resolver.mx_lookup(fqdn(domain)).await.map(|lookup| {
            lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_utf8())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    })
    .await;
    let want = format!("publish {} IN MX 10 {}", fqdn(domain), fqdn(hostname));
    match mx {
        Answer::Found(list) => {
            let shown = list
                .iter()
                .map(|(p, h)| format!("{p} {h}"))
                .collect::<Vec<_>>()
                .join(", ");
            if list.iter().any(|(_, h)| same_host(h, hostname)) {
                finding(record, Status::Ok, true, shown)
            } else {
                finding(
                    record,
                    Status::Wrong,
                    true,
                    format!("found {shown}; {want}"),
                )
            }
        }
        Answer::None => finding(record, Status::Missing, true, want),
        Answer::Failed(e) => finding(record, Status::Unknown, true, e),
    }
}

async fn check_host(resolver: &TokioResolver, hostname: &str) -> Finding {
    let host = hostname.trim_end_matches('.');
    let record = format!("A/AAAA {host}");
    let ips = ask(async {
        resolver
            .lookup_ip(fqdn(host))
            .await
            .map(|l| l.iter().collect::<Vec<_>>())
    })
    .await;
    match ips {
        Answer::Found(ips) => finding(
            record,
            Status::Ok,
            true,
            ips.iter()
                .map(|ip| ip.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Answer::None => finding(
            record,
            Status::Missing,
            true,
            format!("publish {} IN A <this server's address>", fqdn(host)),
        ),
        Answer::Failed(e) => finding(record, Status::Unknown, true, e),
    }
}

/// SPF: exactly one `v=spf1` record (RFC 7208 §4.5).
async fn check_spf(resolver: &TokioResolver, domain: &str) -> Finding {
    let record = format!("SPF {domain}");
    let want = format!("publish {} IN TXT \"v=spf1 mx -all\"", fqdn(domain));
    match txt(resolver, domain).await {
        Answer::Found(records) => {
            let spf: Vec<&String> = records
                .iter()
                .filter(|r| {
                    r.get(..7)
                        .is_some_and(|p| p.eq_ignore_ascii_case("v=spf1 "))
                        || r.eq_ignore_ascii_case("v=spf1")
                })
                .collect();
            match spf.len() {
                0 => finding(record, Status::Missing, true, want),
                1 => finding(record, Status::Ok, true, spf[0].clone()),
                n => finding(
                    record,
                    Status::Wrong,
                    true,
                    format!("{n} SPF records (RFC 7208 §4.5: a permerror); keep one"),
                ),
            }
        }
        Answer::None => finding(record, Status::Missing, true, want),
        Answer::Failed(e) => finding(record, Status::Unknown, true, e),
    }
}

/// DKIM: the selector's record carries this server's key.
async fn check_dkim(resolver: &TokioResolver, domain: &str, expected: &Expected<'_>) -> Finding {
    let name = format!("{}._domainkey.{domain}", expected.selector);
    let record = format!("DKIM {name}");
    match (txt(resolver, &name).await, expected.dkim_public_key) {
        (Answer::Failed(e), _) => finding(record, Status::Unknown, true, e),
        (_, None) => finding(
            record,
            Status::Missing,
            true,
            "this server has no DKIM key yet (`tidings domain add` or the first start makes it)"
                .into(),
        ),
        (Answer::None, Some(_)) => finding(
            record,
            Status::Missing,
            true,
            "publish the record `tidings domain add` printed".into(),
        ),
        (Answer::Found(records), Some(key)) => {
            let key = key.trim();
            let ours = records
                .iter()
                .filter_map(|r| tag(r, "p"))
                .any(|p| p.split_whitespace().collect::<String>() == key);
            if ours {
                finding(record, Status::Ok, true, "the key matches".into())
            } else {
                finding(
                    record,
                    Status::Wrong,
                    true,
                    "the published p= is not this server's key: publish the record `tidings domain add` printed".into(),
                )
            }
        }
    }
}

async fn check_dmarc(resolver: &TokioResolver, domain: &str) -> Finding {
    let name = format!("_dmarc.{domain}");
    let record = format!("DMARC {name}");
    let want = format!("publish {} IN TXT \"v=DMARC1; p=quarantine\"", fqdn(&name));
    match txt(resolver, &name).await {
        Answer::Found(records) => match records.iter().find(|r| {
            r.get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("v=DMARC1"))
        }) {
            Some(r) => finding(record, Status::Ok, true, r.clone()),
            None => finding(record, Status::Missing, true, want),
        },
        Answer::None => finding(record, Status::Missing, true, want),
        Answer::Failed(e) => finding(record, Status::Unknown, true, e),
    }
}

/// The `_mta-sts` TXT record: `v=STSv1` with the id of the policy served
/// (an old id keeps senders on a cached old policy).
async fn check_mta_sts(
    resolver: &TokioResolver,
    domain: &str,
    id: Option<&str>,
) -> Option<Finding> {
    let id = id?;
    let name = format!("_mta-sts.{domain}");
    let record = format!("MTA-STS {name}");
    let want = format!("publish {} IN TXT \"v=STSv1; id={id}\"", fqdn(&name));
    Some(match txt(resolver, &name).await {
        Answer::Found(records) => match records.iter().find(|r| r.starts_with("v=STSv1")) {
            Some(r) if tag(r, "id") == Some(id) => finding(record, Status::Ok, false, r.clone()),
            Some(r) => finding(
                record,
                Status::Wrong,
                false,
                format!("{r}: the policy served now has id={id}"),
            ),
            None => finding(record, Status::Missing, false, want),
        },
        Answer::None => finding(record, Status::Missing, false, want),
        Answer::Failed(e) => finding(record, Status::Unknown, false, e),
    })
}

/// The TLS-RPT record (RFC 8460 §3): where senders report TLS failures.
async fn check_tlsrpt(resolver: &TokioResolver, domain: &str) -> Finding {
    let name = format!("_smtp._tls.{domain}");
    let record = format!("TLS-RPT {name}");
    let want = format!(
        "publish {} IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@{domain}\"",
        fqdn(&name)
    );
    match txt(resolver, &name).await {
        Answer::Found(records) => match records.iter().find(|r| r.starts_with("v=TLSRPTv1")) {
            Some(r) if tag(r, "rua").is_some() => finding(record, Status::Ok, false, r.clone()),
            Some(r) => finding(record, Status::Wrong, false, format!("{r}: no rua=")),
            None => finding(record, Status::Missing, false, want),
        },
        Answer::None => finding(record, Status::Missing, false, want),
        Answer::Failed(e) => finding(record, Status::Unknown, false, e),
    }
}

/// RFC 6186 SRV records: clients find the ports with them.
async fn check_srv(resolver: &TokioResolver, domain: &str, hostname: &str) -> Vec<Finding> {
    let one = |service: &'static str| async move {
        let name = format!("_{service}._tcp.{domain}");
        let record = format!("SRV {name}");
        let srv = ask(async {
            resolver.srv_lookup(fqdn(&name)).await.map(|lookup| {
                lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(s) => Some((s.port, s.target.to_utf8())),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await;
        match srv {
            Answer::Found(list) if list.iter().any(|(_, t)| same_host(t, hostname)) => {
                let shown = list
                    .iter()
                    .map(|(p, t)| format!("{t}:{p}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                finding(record, Status::Ok, false, shown)
            }
            Answer::Found(list) => finding(
                record,
                Status::Wrong,
                false,
                format!(
                    "points at {}, not {hostname}",
                    list.iter()
                        .map(|(_, t)| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Answer::None => finding(
                record,
                Status::Missing,
                false,
                "recommended (RFC 6186)".into(),
            ),
            Answer::Failed(e) => finding(record, Status::Unknown, false, e),
        }
    };
    let (a, b, c, d, e) = tokio::join!(
        one("submissions"),
        one("submission"),
        one("imaps"),
        one("imap"),
        one("pop3s")
    );
    vec![a, b, c, d, e]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_with_spaces_around() {
        let r = "v=DKIM1; k=rsa; p=MIIB AQAB ";
        assert_eq!(tag(r, "p"), Some("MIIB AQAB"));
        assert_eq!(tag(r, "k"), Some("rsa"));
        assert_eq!(tag(r, "t"), None);
    }

    #[test]
    fn host_names_compare_without_case_or_final_dot() {
        assert!(same_host("Mail.Example.org.", "mail.example.org"));
        assert!(!same_host("mx.example.org", "mail.example.org"));
    }
}
