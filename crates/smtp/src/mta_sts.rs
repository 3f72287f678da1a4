//! MTA-STS (RFC 8461), the sending side: which MX hosts of a domain
//! outbound mail may go to, and whether their certificates must verify.
//!
//! Implementation notes:
//! - Discovery (§3.1, §5.1): the TXT record `_mta-sts.DOMAIN` with
//!   `v=STSv1` and an `id`. Exactly one such record counts; none, several
//!   or a malformed one mean "no record".
//! - Fetching (§3.3): `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`
//!   over HTTPS whose certificate verifies (system roots, or
//!   `SSL_CERT_FILE`) for `mta-sts.DOMAIN`; only a 200 with `text/plain`
//!   counts, redirects are not followed, the body is at most
//!   [`MAX_POLICY`] bytes and the whole fetch takes at most
//!   [`FETCH_TIMEOUT`]. The name is resolved by the configured resolver
//!   and, like an MX host, must have a public address (`dns::is_public`).
//! - Caching (§3.3, §5.1): a fetched policy is kept in the store with the
//!   record's id, until `max_age` has passed. A record whose id is the
//!   cached one uses the cached policy; a new id fetches again, and a
//!   failed fetch keeps the cached policy while it is valid. No record (or
//!   a DNS failure) with a valid cached policy uses the cached policy, so
//!   removing the record cannot be used to downgrade. Without either,
//!   delivery goes on as if the domain had no policy.
//! - Refreshing (§3.3): a background task ([`StsResolver::refresh`], at
//!   start and then hourly) fetches again each cached policy that is still
//!   valid and was fetched more than [`REFRESH_AFTER`] ago, when the
//!   domain's record still exists, and caches it anew with a new expiry:
//!   a domain we keep mailing never has its policy run out during an
//!   outage of its policy server. A failed refresh keeps the cached
//!   policy; an expired one is fetched again by the next delivery.
//! - Applying it (§4.1, §5): `mode: enforce` delivers only to MX hosts a
//!   `mx` pattern matches, over STARTTLS with a certificate that verifies
//!   for the MX host name, never in plain text; otherwise the attempt fails
//!   temporarily with the reason (the message stays queued until its
//!   lifetime runs out). `mode: testing` delivers as without a policy and
//!   logs what enforcing would have refused. `mode: none` is no policy.
//! - Only MX delivery found through DNS is subject to a policy: the
//!   `relay` smarthost and `[smtp.mx]` routes are the administrator's
//!   choice and keep their own rules. A message with `TLS-Required: No`
//!   (RFC 8689 §5) ignores policies; one with REQUIRETLS (RFC 8689 §4.2.1)
//!   needs one (see `outbound`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_store::{Store, StsPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest policy file read (§3.2 suggests 64 KiB).
pub const MAX_POLICY: usize = 64 * 1024;
/// How long fetching one policy may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How old a cached policy is before the background task fetches it again.
pub const REFRESH_AFTER: i64 = 86_400;
/// The largest `max_age` (§3.2: one year).
const MAX_AGE_LIMIT: u64 = 31_557_600;

/// Why a record or a policy is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StsError {
    #[error("invalid MTA-STS policy: {0}")]
    Policy(String),
    #[error("cannot fetch the MTA-STS policy: {0}")]
    Fetch(String),
}

impl StsError {
    /// The TLS-RPT result type (RFC 8460 §4.3).
    pub fn result_type(&self) -> &'static str {
        match self {
            StsError::Policy(_) => "sts-policy-invalid",
            StsError::Fetch(_) => "sts-policy-fetch-error",
        }
    }
}

/// A policy's `mode` (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy file (§3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns: a host name, or `*.` and a domain for one more label.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

impl Policy {
    /// Parses a policy file: `key: value` lines, CRLF or LF, unknown keys
    /// ignored, the first of a repeated key (other than `mx`) used.
    pub fn parse(text: &str) -> Result<Policy, StsError> {
        let bad = |why: &str| StsError::Policy(why.to_string());
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(bad(&format!("line without a colon: {line:?}")));
            };
            let value = value.trim();
            match key.trim() {
                "version" => {
                    version.get_or_insert(value);
                }
                "mode" => {
                    mode.get_or_insert(value);
                }
                "max_age" => {
                    max_age.get_or_insert(value);
                }
                "mx" => mx.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        if version != Some("STSv1") {
            return Err(bad("version is not STSv1"));
        }
        let mode = match mode {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            Some(other) => return Err(bad(&format!("unknown mode {other:?}"))),
            None => return Err(bad("no mode")),
        };
        let max_age = max_age
            .filter(|v| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v <= MAX_AGE_LIMIT)
            .ok_or_else(|| bad("max_age is not a number of seconds up to 31557600"))?;
        if mode != Mode::None && mx.is_empty() {
            return Err(bad("no mx"));
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// The policy as its file says it (§3.2), one field a line: what a
    /// TLS-RPT report gives as the `policy-string`.
    pub fn to_text(&self) -> String {
        let mode = match self.mode {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        };
        let mut lines = vec!["version: STSv1".to_string(), format!("mode: {mode}")];
        lines.extend(self.mx.iter().map(|mx| format!("mx: {mx}")));
        lines.push(format!("max_age: {}", self.max_age));
        lines.join("\n")
    }

    /// Whether an MX host name matches one of the `mx` patterns (§4.1): the
    /// same name, or `*.` standing for exactly one left-most label.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|pattern| {
            let pattern = pattern.trim_end_matches('.');
            match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => host == pattern,
            }
        })
    }
}

/// The `id` of the one `v=STSv1` record among a name's TXT records (each
/// given with its strings joined), or `None` (§3.1).
pub fn record_id(records: &[String]) -> Option<String> {
    let mut sts = records.iter().filter(|r| {
        let r = r.trim_start();
        r.strip_prefix("v=STSv1")
            .is_some_and(|rest| rest.trim_start().is_empty() || rest.trim_start().starts_with(';'))
    });
    let record = sts.next()?;
    if sts.next().is_some() {
        return None;
    }
    record.split(';').skip(1).find_map(|field| {
        let (key, value) = field.trim().split_once('=')?;
        (key.trim() == "id"
            && (1..=32).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| value.to_string())
    })
}

/// Fetches and caches policies (see the module notes).
pub struct StsResolver {
    store: Store,
    resolver: hickory_resolver::TokioResolver,
    /// Verifies the policy host's certificate.
    tls: Arc<rustls::ClientConfig>,
}

impl StsResolver {
    pub fn new(
        store: Store,
        resolver: hickory_resolver::TokioResolver,
        tls: Arc<rustls::ClientConfig>,
    ) -> StsResolver {
        StsResolver {
            store,
            resolver,
            tls,
        }
    }

    /// The policy in force for `domain` (lowercase), if any; `mode: none`
    /// counts as none.
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        self.policy_and_error(domain).await.0
    }

    /// [`StsResolver::policy`], and why a policy the record announced could
    /// not be had (for TLS-RPT, RFC 8460 §4.3: `sts-policy-fetch-error`,
    /// `sts-policy-invalid`).
    pub async fn policy_and_error(&self, domain: &str) -> (Option<Policy>, Option<StsError>) {
        let now = crate::message::now();
        let store = self.store.clone();
        let key = domain.to_string();
        let cached = tokio::task::spawn_blocking(move || store.sts_policy(&key))
            .await
            .ok()
            .and_then(|r| {
                r.map_err(|e| tracing::warn!("cannot read the cached MTA-STS policy: {e}"))
                    .ok()
            })
            .flatten()
            .filter(|c| c.expires > now);
        let id = self.record(domain).await;
        let mut error = None;
        let policy = match (id, cached) {
            (Some(id), Some(cached)) if cached.id == id => Policy::parse(&cached.policy).ok(),
            (Some(id), cached) => match self.fetch(domain).await {
                Ok((text, policy)) => {
                    self.cache(domain, id, text, &policy, now).await;
                    tracing::info!(
                        "MTA-STS policy of {domain}: {:?}, mx {}, max_age {}",
                        policy.mode,
                        policy.mx.join(" "),
                        policy.max_age
                    );
                    Some(policy)
                }
                Err(e) => {
                    tracing::warn!(
                        "{domain}: {e}; {}",
                        if cached.is_some() {
                            "the cached policy stays in force"
                        } else {
                            "delivering as without a policy"
                        }
                    );
                    error = Some(e);
                    cached.and_then(|c| Policy::parse(&c.policy).ok())
                }
            },
            (None, cached) => cached.and_then(|c| Policy::parse(&c.policy).ok()),
        };
        (policy.filter(|p| p.mode != Mode::None), error)
    }

    /// Keeps a fetched policy in the store until its `max_age` runs out.
    async fn cache(&self, domain: &str, id: String, text: String, policy: &Policy, now: i64) {
        let entry = StsPolicy {
            id,
            policy: text,
            fetched: now,
            expires: now.saturating_add(i64::try_from(policy.max_age).unwrap_or(i64::MAX)),
        };
        let store = self.store.clone();
        let key = domain.to_string();
        let put = tokio::task::spawn_blocking(move || store.sts_policy_put(&key, &entry)).await;
        if let Ok(Err(e)) = put {
            tracing::warn!("cannot cache the MTA-STS policy of {domain}: {e}");
        }
    }

    /// Fetches again the cached policies due for it (see the module
    /// notes); returns the domains whose policy was refreshed.
    pub async fn refresh(&self) -> Vec<String> {
        let now = crate::message::now();
        let store = self.store.clone();
        let cached = match tokio::task::spawn_blocking(move || store.sts_policies()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the cached MTA-STS policies: {e}");
                return Vec::new();
            }
            Err(e) => {
                tracing::warn!("cannot read the cached MTA-STS policies: {e}");
                return Vec::new();
            }
        };
        let mut refreshed = Vec::new();
        for (domain, entry) in cached {
            if entry.expires <= now || now.saturating_sub(entry.fetched) < REFRESH_AFTER {
                continue;
            }
            let Some(id) = self.record(&domain).await else {
                tracing::debug!(
                    "{domain}: no MTA-STS record now; the cached policy is not refreshed"
                );
                continue;
            };
            match self.fetch(&domain).await {
                Ok((text, policy)) => {
                    self.cache(&domain, id, text, &policy, now).await;
                    tracing::info!(
                        "MTA-STS policy of {domain} refreshed: {:?}, max_age {}",
                        policy.mode,
                        policy.max_age
                    );
                    refreshed.push(domain);
                }
                Err(e) => tracing::warn!(
                    "{domain}: refreshing the MTA-STS policy: {e}; the cached one stays in force"
                ),
            }
        }
        refreshed
    }

    /// The id of `_mta-sts.DOMAIN`'s record; `None` without one, or when
    /// DNS fails.
    async fn record(&self, domain: &str) -> Option<String> {
        let name = format!("_mta-sts.{domain}.");
        let lookup = match self.resolver.txt_lookup(name).await {
            Ok(l) => l,
            Err(e) => {
                if !e.is_nx_domain() && !e.is_no_records_found() {
                    tracing::debug!("MTA-STS record of {domain}: {e}");
                }
                return None;
            }
        };
        let records: Vec<String> = lookup
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
            .collect();
        record_id(&records)
    }

    /// Fetches and parses the policy file.
    async fn fetch(&self, domain: &str) -> Result<(String, Policy), StsError> {
        let text = tokio::time::timeout(FETCH_TIMEOUT, self.download(domain))
            .await
            .map_err(|_| StsError::Fetch(format!("timed out after {FETCH_TIMEOUT:?}")))??;
        let policy = Policy::parse(&text)?;
        Ok((text, policy))
    }

    async fn download(&self, domain: &str) -> Result<String, StsError> {
        let fail = |why: String| StsError::Fetch(why);
        let host = format!("mta-sts.{domain}");
        let ips = self
            .resolver
            .lookup_ip(format!("{host}."))
            .await
            .map_err(|e| fail(format!("{host}: {e}")))?;
        let addrs: Vec<SocketAddr> = ips
            .iter()
            .filter(|ip| crate::dns::is_public(*ip))
            .map(|ip| SocketAddr::new(ip, 443))
            .collect();
        let mut last = format!("{host} has no public address");
        for addr in addrs {
            match self.get(&host, addr).await {
                Ok(text) => return Ok(text),
                Err(e) => last = format!("{host} ({addr}): {e}"),
            }
        }
        Err(fail(last))
    }

    /// `GET /.well-known/mta-sts.txt` over HTTPS (HTTP/1.0, so the body
    /// ends with the connection and is never chunked).
    async fn get(&self, host: &str, addr: SocketAddr) -> Result<String, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tidings\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        // The headers and the body, at most MAX_POLICY of it.
        let mut limited = (&mut tls).take((MAX_POLICY + 16 * 1024) as u64 + 1);
        match limited.read_to_end(&mut response).await {
            Ok(_) => {}
            // Many servers close without TLS close_notify: the body read so
            // far is whole when its length says so (checked below).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e.to_string()),
        }
        parse_response(&response)
    }
}

/// The body of an HTTP response that is a 200 with `text/plain`.
fn parse_response(response: &[u8]) -> Result<String, String> {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP header")?;
    let head = std::str::from_utf8(&response[..end]).map_err(|_| "HTTP header is not text")?;
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split(' ').nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        // §3.3: redirects are not followed; anything but 200 is no policy.
        return Err(format!("the server answered {status:?}"));
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let media = header("content-type")
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() != Some("text/plain") {
        return Err(format!(
            "the policy is served as {:?}, not text/plain",
            media.unwrap_or_default()
        ));
    }
    if header("transfer-encoding").is_some() {
        return Err("a transfer encoding on an HTTP/1.0 response".into());
    }
    if body.len() > MAX_POLICY {
        return Err(format!("the policy is longer than {MAX_POLICY} bytes"));
    }
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| "bad Content-Length")?;
        if length != body.len() {
            return Err(format!(
                "the policy was cut off ({} of {length} bytes)",
                body.len()
            ));
        }
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the policy is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8461 §3.2's example.
    const EXAMPLE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn the_rfc_example_parses_and_matches() {
        let p = Policy::parse(EXAMPLE).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("Mail.Example.COM."));
        assert!(p.matches("mx1.example.net"));
        assert!(p.matches("backupmx.example.com"));
        // §4.1: the wildcard is one label, and not the parent itself.
        assert!(!p.matches("example.net"));
        assert!(!p.matches("a.b.example.net"));
        assert!(!p.matches("other.example.com"));
        assert!(!p.matches("mail.example.com.evil.test"));
    }

    #[test]
    fn lf_lines_unknown_keys_and_first_repeated_value() {
        let p = Policy::parse(
            "version: STSv1\nmode: testing\nmode: enforce\nfoo: bar\nmx: a.test\nmax_age:86400\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Testing);
        assert_eq!(p.max_age, 86_400);
        assert_eq!(p.mx, ["a.test"]);
        let none = Policy::parse("version: STSv1\nmode: none\nmax_age: 1\n").unwrap();
        assert_eq!(none.mode, Mode::None);
    }

    #[test]
    fn bad_policies_are_refused() {
        for bad in [
            "",
            "mode: enforce\nmx: a.test\nmax_age: 1\n",
            "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a.test\n",
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
            "version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_policy_we_serve_parses_and_its_id_is_a_valid_one() {
        let text = crate::records::mta_sts_policy("mx.example.org", "enforce", 86_400);
        let p = Policy::parse(&text).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.matches("mx.example.org"));
        let id = crate::records::mta_sts_id(&text);
        assert_eq!(
            record_id(&[format!("v=STSv1; id={id}")]).as_deref(),
            Some(id.as_str())
        );
    }

    #[test]
    fn txt_records() {
        let r = |v: &[&str]| record_id(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // RFC 8461 §3.1's example.
        assert_eq!(
            r(&["v=STSv1; id=20160831085700Z;"]).as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(
            r(&["v=spf1 -all", "v=STSv1;id=abc"]).as_deref(),
            Some("abc")
        );
        assert_eq!(r(&["v=STSv1; id=a", "v=STSv1; id=b"]), None);
        assert_eq!(r(&["v=STSv1;"]), None);
        assert_eq!(r(&["v=STSv1; id=no-dashes"]), None);
        assert_eq!(r(&["v=STSv1; id=0123456789012345678901234567890123"]), None);
        assert_eq!(r(&["v=STSv10; id=a"]), None);
        assert_eq!(r(&[]), None);
    }

    #[test]
    fn http_responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_response(ok).unwrap(), "hello");
        let redirect =
            b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Type: text/plain\r\n\r\n";
        assert!(parse_response(redirect).is_err());
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nhello";
        assert!(parse_response(html).is_err());
        let cut = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nhello";
        assert!(parse_response(cut).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n").is_err());
    }
}
