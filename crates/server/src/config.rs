//! The configuration file (`tidings.toml`) and the settings resolved from it.
//!
//! One TOML file; every section rejects keys it does not know, and every
//! error names the file, the line and the column. The doc comments on
//! [`ConfigFile`] and its sections are the config reference. With no file at
//! all, [`Settings`] holds the zero-config defaults of docs/design.md: data in
//! `./tidings-data`, domain `localhost`, unprivileged ports on loopback.
//!
//! Relative paths inside a config file are relative to the directory that
//! holds the file; `--data-dir` on the command line is relative to the
//! current directory and overrides `data_dir`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use tidings_types::Secret;

/// The file looked for in the current directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "tidings.toml";
/// The data directory when neither `--data-dir` nor `data_dir` is given.
pub const DEFAULT_DATA_DIR: &str = "tidings-data";
/// The DKIM selector when `[dkim] selector` is not given.
pub const DEFAULT_DKIM_SELECTOR: &str = "tidings";

/// The whole config file. Every key is optional.
///
/// ```toml
/// hostname = "mail.example.org"
/// domains = ["example.org"]
/// data_dir = "/var/lib/tidings"
///
/// [listen]
/// smtp = "0.0.0.0:25"
/// pop3 = "off"
///
/// [tls]
/// cert = "/etc/tidings/fullchain.pem"
/// key = "/etc/tidings/privkey.pem"
///
/// [limits]
/// max_connections_per_ip = 20
/// max_login_failures = 10
/// message_memory = 268435456
///
/// [pop3]
/// login_timeout = "60s"
///
/// [dkim]
/// selector = "tidings"
///
/// [smtp]
/// max_message_size = 52428800
/// relay = "smtp.provider.example:587"
///
/// [dns]
/// resolver = "127.0.0.1:53"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The server's own host name: SMTP greeting and HELO, the name the
    /// self-signed certificate is made for, the MX target.
    /// Default: `localhost`.
    pub hostname: Option<String>,
    /// Mail domains this server receives mail for. Each is added to the
    /// store whenever a command opens it (`serve`, `user add`, …); more can
    /// be added with `tidings domain add`.
    /// Default: none; in zero-config mode `localhost` is added to an empty store.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Where the store, certificates and DKIM keys live.
    /// Default: `./tidings-data`. `--data-dir` overrides it.
    pub data_dir: Option<PathBuf>,
    /// The user `serve` runs as when started as root: it binds its ports
    /// (and reads the TLS files) as root, makes that user own the data dir,
    /// then drops to the user and its group for good. A name from
    /// `/etc/passwd`. Default: none (started as root, it stays root and
    /// says so in the log); ignored when not started as root.
    pub user: Option<String>,
    /// Addresses to listen on.
    #[serde(default)]
    pub listen: ListenSection,
    /// The TLS certificate.
    #[serde(default)]
    pub tls: TlsSection,
    /// Connection limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// DKIM signing of outgoing mail.
    #[serde(default)]
    pub dkim: DkimSection,
    /// SMTP limits and outbound delivery.
    #[serde(default)]
    pub smtp: SmtpSection,
    /// The sender rewriting of forwarded mail.
    #[serde(default)]
    pub srs: SrsSection,
    /// Certificates from an ACME CA (Let's Encrypt).
    #[serde(default)]
    pub acme: AcmeSection,
    /// The MTA-STS policy served for every domain.
    #[serde(default)]
    pub mta_sts: MtaStsSection,
    /// POP3 session settings.
    #[serde(default)]
    pub pop3: Pop3Section,
    /// The DNS resolver (inbound SPF/DKIM/DMARC checks, outbound MX lookups).
    #[serde(default)]
    pub dns: DnsSection,
    /// IMAP session limits.
    #[serde(default)]
    pub imap: ImapSection,
    /// JMAP limits.
    #[serde(default)]
    pub jmap: JmapSection,
    /// Exchange ActiveSync.
    #[serde(default)]
    pub activesync: ActiveSyncSection,
    /// Who may read `GET /metrics`.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Where the store is: the embedded one in `data_dir`, or PostgreSQL.
    #[serde(default)]
    pub store: StoreSection,
    /// How the server logs.
    #[serde(default)]
    pub log: LogSection,
}

/// `[metrics]`: `GET /metrics` (OpenMetrics text) on the HTTP ports is
/// answered to clients on this machine; a scraper elsewhere presents a
/// bearer token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// A file holding the token (one line; keep it mode 600) that a
    /// scraper on another machine sends as `Authorization: Bearer TOKEN`,
    /// over HTTPS. Default: none, so only loopback clients get metrics.
    pub token_file: Option<PathBuf>,
}

/// `[store]`: the mail store. Without `url`, the embedded SQLite store in
/// `data_dir` (the default, nothing to set up).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `postgresql://user:password@host:port/database`: keep the store in
    /// this PostgreSQL database, which several `tidings serve` nodes may
    /// share (docs/architecture.md says what the PostgreSQL backend does
    /// yet). `TIDINGS_STORE_URL` overrides it. TLS to the database:
    /// `?sslmode=require`. Default: none.
    pub url: Option<String>,
    /// `s3://bucket/prefix`: keep new mail's bytes as objects of this S3
    /// bucket (AWS, MinIO, Ceph, Garage, …), named by their SHA-256 under
    /// `prefix`, instead of in the PostgreSQL database. Only with `url`.
    /// Default: none (blobs in the database).
    pub blobs: Option<String>,
    /// The S3 endpoint, `https://host[:port]` (`http://` only to this
    /// machine). Default: AWS's for `s3_region`.
    pub s3_endpoint: Option<String>,
    /// The bucket's region (what requests are signed for). Default: `us-east-1`.
    pub s3_region: Option<String>,
    /// Name the bucket in the path (`endpoint/bucket/key`) rather than in
    /// the host name (`bucket.endpoint/key`). Default: true with
    /// `s3_endpoint` (self-hosted servers want it), false with AWS.
    pub s3_path_style: Option<bool>,
    /// A file holding the access key id (else `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_file: Option<PathBuf>,
    /// A file holding the secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub s3_secret_key_file: Option<PathBuf>,
    /// Trusted roots (PEM) for the endpoint, instead of the system's.
    pub s3_ca_file: Option<PathBuf>,
    /// An object no row names is deleted this long after its last PUT.
    /// Default: 86400 (a day).
    pub s3_grace_seconds: Option<u64>,
    /// How often each node looks for such objects. Default: 3600.
    pub s3_collect_seconds: Option<u64>,
}

/// The S3 blob store of `[store]`, if `blobs` names one; its credentials
/// from `s3_access_key_file` / `s3_secret_key_file`, else from
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
fn s3_config(
    store: &StoreSection,
    relative: &dyn Fn(PathBuf) -> PathBuf,
) -> anyhow::Result<Option<tidings_store::s3::S3Config>> {
    use tidings_store::s3::{DEFAULT_GRACE, S3Config};
    let Some(location) = &store.blobs else {
        let any_s3 = store.s3_endpoint.is_some()
            || store.s3_region.is_some()
            || store.s3_access_key_file.is_some()
            || store.s3_secret_key_file.is_some()
            || store.s3_ca_file.is_some();
        if any_s3 {
            bail!("[store] s3_* settings need `blobs = \"s3://bucket/prefix\"`");
        }
        return Ok(None);
    };
    let (bucket, prefix) = S3Config::parse_location(location)?;
    let secret = |file: &Option<PathBuf>, key: &str, env: &str| -> anyhow::Result<Secret<String>> {
        let value = match file {
            Some(path) => {
                let path = relative(path.clone());
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read [store] {key} {}", path.display()))?
                    .trim()
                    .to_string()
            }
            None => std::env::var(env).unwrap_or_default(),
        };
        if value.is_empty() {
            bail!("[store] blobs needs credentials: {key}, or {env} in the environment");
        }
        Ok(Secret::new(value))
    };
    let region = store
        .s3_region
        .clone()
        .unwrap_or_else(|| "us-east-1".to_string());
    Ok(Some(S3Config {
        bucket,
        prefix,
        endpoint: store
            .s3_endpoint
            .clone()
            .unwrap_or_else(|| S3Config::aws_endpoint(&region)),
        path_style: store.s3_path_style.unwrap_or(store.s3_endpoint.is_some()),
        region,
        access_key: secret(
            &store.s3_access_key_file,
            "s3_access_key_file",
            "AWS_ACCESS_KEY_ID",
        )?,
        secret_key: secret(
            &store.s3_secret_key_file,
            "s3_secret_key_file",
            "AWS_SECRET_ACCESS_KEY",
        )?,
        ca_file: store.s3_ca_file.clone().map(relative),
        grace: store
            .s3_grace_seconds
            .map_or(DEFAULT_GRACE, std::time::Duration::from_secs),
    }))
}

/// `[log]`: the log's form. The level comes from `RUST_LOG` (default
/// `info` for `serve`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"text"` (default: one line per event with `key=value` fields) or
    /// `"json"` (one JSON object per line: `timestamp`, `level`, `fields`,
    /// `target` and the spans with the connection id, protocol and peer).
    /// `TIDINGS_LOG_FORMAT` overrides it.
    pub format: Option<LogFormat>,
}

/// The log's form (`[log] format`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// The form `serve` logs in: `TIDINGS_LOG_FORMAT`, else the config's
    /// `[log] format`. A config that does not parse gives the default here;
    /// the command reports the error itself when it loads the config.
    pub fn choose(config: Option<&Path>) -> LogFormat {
        match std::env::var("TIDINGS_LOG_FORMAT").as_deref() {
            Ok("json") => return LogFormat::Json,
            Ok("text") => return LogFormat::Text,
            _ => {}
        }
        let path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE), Path::to_path_buf);
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text, &path).ok())
            .and_then(|file| file.log.format)
            .unwrap_or_default()
    }
}

/// `[jmap]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JmapSection {
    /// The largest blob upload (RFC 8620 §6.1 `maxSizeUpload`), octets;
    /// a larger body is refused with 413 as soon as it passes this, and
    /// nothing is kept. Default 50000000.
    pub max_size_upload: Option<u64>,
    /// Octets of uploaded blobs one account may hold at once (uploads are
    /// kept 24 hours). Default 500000000.
    pub upload_quota: Option<u64>,
    /// Let PushSubscription URLs be plain `http` to a loopback host (for
    /// tests against a local push endpoint); otherwise only `https`.
    /// Default false.
    pub push_http_loopback: Option<bool>,
}

/// `[activesync]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveSyncSection {
    /// Whether a device must complete Provision (accept the policy, which
    /// is permissive) before it may sync. Default true; some older clients
    /// cannot provision.
    pub require_provisioning: Option<bool>,
    /// The shortest Ping heartbeat accepted, seconds (a shorter one is
    /// answered with this bound). Default 60.
    pub min_heartbeat: Option<u32>,
    /// The most ActiveSync devices one account may have; a new one beyond
    /// is refused (status 177) until `tidings user devices del` makes room.
    /// Default 100.
    pub max_devices: Option<usize>,
}

/// `[dns]`: which resolver answers the inbound checks (SPF, DKIM, DMARC)
/// and the outbound MX lookups, and how long one message may spend on DNS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// `"ip:port"` of a recursive resolver (UDP, TCP for long answers), or
    /// `"off"`: no DNS at all (inbound mail is marked
    /// `Authentication-Results: …; none`, outbound mail leaves only through
    /// `[smtp] relay` or `[smtp.mx]`). Default: the system's resolver
    /// (`/etc/resolv.conf`). `serve` says at start when there is none (and
    /// when one named here does not answer); `tidings check` asks it.
    pub resolver: Option<String>,
    /// How long all the DNS lookups of one inbound message's checks may
    /// take together; past it the message is accepted, its results
    /// `temperror`. Default `"10s"`.
    pub budget: Option<String>,
    /// `true` when the resolver validates DNSSEC and is trusted to say so
    /// (the AD bit; run it on this machine or reach it over a trusted
    /// path), as Postfix's `smtp_dns_support_level = dnssec`: outbound
    /// delivery then looks up the TLSA records of MX hosts and applies
    /// DANE (RFC 7672). Default `false`: no DANE.
    pub dnssec: Option<bool>,
}

impl DnsSection {
    fn resolve(self) -> anyhow::Result<tidings_smtp::dns::DnsConfig> {
        use tidings_smtp::dns::{DEFAULT_BUDGET, DnsConfig, Resolver};
        let resolver = match self.resolver.as_deref() {
            None => Resolver::System,
            Some("off") => Resolver::Off,
            Some(addr) => Resolver::Addr(addr.parse().map_err(|_| {
                anyhow::anyhow!(
                    "[dns] resolver `{addr}`: expected \"ip:port\" (like \"127.0.0.1:53\") or \"off\""
                )
            })?),
        };
        let budget = match self.budget.as_deref() {
            None => DEFAULT_BUDGET,
            Some(b) => parse_duration(b, "[dns] budget")?,
        };
        Ok(DnsConfig {
            resolver,
            budget,
            dnssec: self.dnssec.unwrap_or(false),
        })
    }
}

/// `[imap]`: limits of the IMAP sessions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSection {
    /// How long a connection may stay unauthenticated: it is closed with
    /// `* BYE` this long after it was opened unless it has logged in.
    /// A number and a unit, `ms`, `s`, `m` or `h`. Default `"60s"`. Logged-in
    /// sessions keep the RFC 9051 §5.4 autologout of 30 minutes.
    pub login_timeout: Option<String>,
    /// How long a SEARCH, SORT or THREAD runs before the server sends its
    /// first progress response (`* OK [INPROGRESS ("tag" count goal)]`,
    /// RFC 9585), and the least time between two. Default `"10s"` (the RFC
    /// recommends every 10–15 seconds); `"0s"` reports after every piece
    /// of the search (a few hundred messages), which only tests want.
    pub progress_interval: Option<String>,
}

/// The `[imap]` settings, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapSettings {
    pub login_timeout: std::time::Duration,
    pub progress_interval: std::time::Duration,
}

impl ImapSection {
    fn resolve(self) -> anyhow::Result<ImapSettings> {
        let text = self.login_timeout.as_deref().unwrap_or("60s");
        let login_timeout =
            parse_span(text).with_context(|| format!("[imap] login_timeout `{text}`"))?;
        if login_timeout.is_zero() {
            bail!("[imap] login_timeout must be more than 0");
        }
        let text = self.progress_interval.as_deref().unwrap_or("10s");
        let progress_interval =
            parse_span(text).with_context(|| format!("[imap] progress_interval `{text}`"))?;
        Ok(ImapSettings {
            login_timeout,
            progress_interval,
        })
    }
}

/// `[listen]`: one `"address:port"` per protocol, or `"off"` to not open it.
/// Every default is the zero-config one, on loopback; `tidings init` writes
/// the standard ports on `0.0.0.0`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// SMTP from other servers (STARTTLS). Default `127.0.0.1:2525`; standard port 25.
    pub smtp: Option<ListenAddr>,
    /// Submission from users' clients (STARTTLS, RFC 6409). Default `127.0.0.1:5587`; standard 587.
    pub submission: Option<ListenAddr>,
    /// Submission over implicit TLS (RFC 8314). Default `127.0.0.1:5465`; standard 465.
    pub submissions: Option<ListenAddr>,
    /// IMAP (STARTTLS). Default `127.0.0.1:1143`; standard 143.
    pub imap: Option<ListenAddr>,
    /// IMAP over implicit TLS. Default `127.0.0.1:1993`; standard 993.
    pub imaps: Option<ListenAddr>,
    /// POP3 (STARTTLS, RFC 2595 `STLS`). Default `127.0.0.1:1110`; standard 110.
    pub pop3: Option<ListenAddr>,
    /// POP3 over implicit TLS. Default `127.0.0.1:1995`; standard 995.
    pub pop3s: Option<ListenAddr>,
    /// Plain HTTP: webmail, JMAP, autoconfig. Default `127.0.0.1:8080`; standard 80.
    pub http: Option<ListenAddr>,
    /// HTTPS (implicit TLS): webmail, JMAP, autoconfig. Default `127.0.0.1:8443`; standard 443.
    pub https: Option<ListenAddr>,
}

/// A `[listen]` value: a socket address, or `"off"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ListenAddr {
    On(SocketAddr),
    Off,
}

impl TryFrom<String> for ListenAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "off" {
            return Ok(ListenAddr::Off);
        }
        s.parse().map(ListenAddr::On).map_err(|_| {
            format!("invalid listen address `{s}`: expected \"ip:port\" (like \"0.0.0.0:25\" or \"[::]:25\") or \"off\"")
        })
    }
}

/// `[tls]`: a certificate chain and its private key, both PEM files. Give
/// both or neither. Default: a self-signed certificate for `hostname`,
/// `localhost` and `127.0.0.1`, made once in `<data_dir>/tls/` and reused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, leaf first (e.g. Let's Encrypt's `fullchain.pem`).
    pub cert: Option<PathBuf>,
    /// The private key (PKCS#8, PKCS#1 or SEC1 PEM).
    pub key: Option<PathBuf>,
    /// More certificates, by the server name a client asks for (SNI):
    /// `[tls.sni."mail.example.net"]` with `cert` and `key`; a name may be
    /// `*.example.net` (one label). A client asking for another name, or
    /// none, gets the certificate above. Every file is read again on
    /// SIGHUP and when it changes.
    #[serde(default)]
    pub sni: std::collections::BTreeMap<String, SniSection>,
}

/// `[tls.sni."name"]`: a certificate chain and its key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniSection {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Open connections allowed from one IP address (an IPv6 address counts
    /// as its /64), over all ports. Default 20.
    pub max_connections_per_ip: Option<u32>,
    /// Open connections allowed in all. Default 1000.
    pub max_connections: Option<u32>,
    /// Failed logins from one IP address (IPv6: its /64), over IMAP, POP3 and
    /// SMTP AUTH and every account named, after which the address is refused
    /// until it has been quiet for `login_failure_window`. A successful login
    /// forgives only that account's failures. Also the number of failures on
    /// one account (from anywhere) after which its logins are slowed down.
    /// Default 10.
    pub max_login_failures: Option<u32>,
    /// How long failed logins are remembered after the last one: a number
    /// and a unit, `ms`, `s`, `m` or `h`. Default `"15m"`.
    pub login_failure_window: Option<String>,
    /// The n-th failed login from an address is answered after n times this,
    /// at most 5 times this; logins on an account past `max_login_failures`
    /// wait this, doubling with each further failure, at most 15 times this.
    /// `"0s"` turns the waits off. Default `"1s"`.
    pub login_failure_delay: Option<String>,
    /// Octets of whole messages held in memory at once, over all sessions,
    /// by the work that needs a message whole (MIME parsing at ingest, DKIM
    /// signing and verification; see `tidings_store::spool`). Bodies
    /// arrive into a spool (a file past 1 MiB), so this, not connections ×
    /// message size, bounds that memory; a message larger than the budget
    /// takes all of it. At least 1048576. Default 268435456 (256 MiB).
    pub message_memory: Option<u64>,
}

/// `[pop3]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Section {
    /// A connection that has not logged in is closed after being silent this
    /// long (`ms`, `s`, `m` or `h`). Logged-in sessions get RFC 1939's 10
    /// minutes. Default `"60s"`.
    pub login_timeout: Option<String>,
}

/// The failed-login limits and the POP3 login timeout, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    pub max_failures: u32,
    pub failure_window: std::time::Duration,
    pub failure_delay: std::time::Duration,
    pub pop3_login_timeout: std::time::Duration,
}

impl LoginSettings {
    fn resolve(limits: &LimitsSection, pop3: &Pop3Section) -> anyhow::Result<LoginSettings> {
        let max_failures = limits.max_login_failures.unwrap_or(10);
        if max_failures == 0 {
            bail!("[limits] max_login_failures must be at least 1");
        }
        let span = |v: &Option<String>, default: &str, key: &str, zero: bool| {
            let text = v.as_deref().unwrap_or(default);
            let d = parse_span(text).with_context(|| format!("{key} `{text}`"))?;
            if d.is_zero() && !zero {
                bail!("{key} must be more than 0");
            }
            Ok(d)
        };
        Ok(LoginSettings {
            max_failures,
            failure_window: span(
                &limits.login_failure_window,
                "15m",
                "[limits] login_failure_window",
                false,
            )?,
            failure_delay: span(
                &limits.login_failure_delay,
                "1s",
                "[limits] login_failure_delay",
                true,
            )?,
            pop3_login_timeout: span(&pop3.login_timeout, "60s", "[pop3] login_timeout", false)?,
        })
    }
}

/// Parses `"250ms"`, `"0s"`, `"90s"`, `"15m"`, `"2h"`.
fn parse_span(text: &str) -> anyhow::Result<std::time::Duration> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: u64 = number
        .parse()
        .ok()
        .context("expected a number and ms, s, m or h (like \"60s\")")?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => bail!("expected a number and ms, s, m or h (like \"60s\")"),
    };
    Ok(std::time::Duration::from_millis(n.saturating_mul(ms)))
}

/// `[dkim]`: the key outgoing mail is signed with (`tidings init` makes one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSection {
    /// The selector published as `<selector>._domainkey.<domain>`. Default `tidings`.
    pub selector: Option<String>,
    /// The RSA private key, PKCS#8 PEM. Default `<data_dir>/dkim/<selector>.key`.
    pub key: Option<PathBuf>,
}

/// `[smtp]`: limits of the SMTP sessions and how outgoing mail leaves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// The largest message accepted, in octets (advertised as SIZE).
    /// Default 52428800 (50 MiB).
    pub max_message_size: Option<u64>,
    /// Recipients per message. Default 100 (the minimum RFC 5321 §4.5.3.1.8 allows).
    pub max_recipients: Option<u32>,
    /// How long the outbound queue keeps retrying a message before it
    /// bounces: a number and a unit, `s`, `m`, `h` or `d`. Default `"5d"`.
    pub queue_lifetime: Option<String>,
    /// The wait before the first retry; it doubles with each attempt, up to
    /// 4 hours. Default `"5m"`.
    pub retry_after: Option<String>,
    /// A smarthost: every outgoing message is handed to this `"host:port"`
    /// instead of the recipient domain's MX. Default: none (MX lookup).
    pub relay: Option<String>,
    /// The login at the relay (AUTH PLAIN or LOGIN). With it, TLS to the
    /// relay is required and its certificate verified. Default: none (no
    /// login; opportunistic TLS as for any MX).
    pub relay_user: Option<String>,
    /// A file whose first line is the relay password (never the password
    /// in the config itself). Required with `relay_user`.
    pub relay_password_file: Option<PathBuf>,
    /// PEM certificates the relay's certificate must chain to instead of
    /// the system's roots. Default: the system's roots.
    pub relay_ca_file: Option<PathBuf>,
    /// `"starttls"` or `"implicit"` (RFC 8314). Default: implicit on port
    /// 465, else STARTTLS.
    pub relay_tls: Option<String>,
    /// Messages an account may submit per hour; the next is refused with
    /// 451 4.7.1 until the hour has room. 0: no limit. Default 200.
    /// (`tidings user limit` sets an account's own.)
    pub max_messages_per_hour: Option<u32>,
    /// Messages an account may submit per 24 hours; the next is refused with
    /// 550 5.7.1. 0: no limit. Default 1000.
    pub max_messages_per_day: Option<u32>,
    /// A static MX map for tests and private networks: recipient domain →
    /// `"host:port"`, used before DNS. Default: empty. Unlike MX hosts found
    /// in DNS, these may be loopback or private addresses.
    #[serde(default)]
    pub mx: std::collections::BTreeMap<String, String>,
    /// How long an unauthenticated session with no mail transaction (before
    /// MAIL, or between messages) may stay silent before each command; then
    /// it is closed with `421 4.4.2`. Default `"60s"`: RFC 5321 §4.5.3.2.7's
    /// 5 minutes are for a client inside a transaction, and an idle session
    /// that has not started one only holds a connection slot.
    pub greeting_timeout: Option<String>,
    /// How long a sender answered by an account's vacation response gets
    /// no second reply (RFC 3834 §2). Default `"7d"`.
    pub vacation_period: Option<String>,
    /// The longest a JMAP EmailSubmission may be held before it leaves
    /// (`maxDelayedSend`, the undo-send window; held messages wait in the
    /// queue). Default `"30s"`.
    pub max_delayed_send: Option<String>,
    /// The most addresses one alias may expand to (its accounts and remote
    /// targets, through nested aliases); an alias that expands to more is
    /// refused at RCPT with 550 5.5.3. Default 100.
    pub max_alias_recipients: Option<u32>,
    /// A message with more `Received:` fields than this is refused as a
    /// mail loop (554 5.4.6; RFC 5321 §6.3). Default 50 (Postfix's
    /// `hopcount_limit`).
    pub max_hops: Option<u32>,
}

/// `[mta_sts]`: the MTA-STS policy (RFC 8461) the HTTPS port serves at
/// `/.well-known/mta-sts.txt` for every served domain (`mta-sts.DOMAIN`),
/// naming `hostname` as the one MX. `domain add` prints its `_mta-sts`
/// record, whose id follows the policy's text.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtaStsSection {
    /// `"testing"` (default: senders report failures but deliver),
    /// `"enforce"` (senders deliver only over verified TLS to `hostname`) or
    /// `"none"` (withdraws a policy).
    pub mode: Option<String>,
    /// How long senders may cache the policy. Default `"7d"`.
    pub max_age: Option<String>,
}

/// The policy an unconfigured `[mta_sts]` serves.
pub fn default_mta_sts_policy(hostname: &str) -> String {
    tidings_smtp::records::mta_sts_policy(hostname, "testing", 7 * 86_400)
}

impl MtaStsSection {
    fn policy(&self, hostname: &str) -> anyhow::Result<String> {
        let mode = self.mode.as_deref().unwrap_or("testing");
        if !matches!(mode, "testing" | "enforce" | "none") {
            bail!("[mta_sts] mode `{mode}`: expected \"testing\", \"enforce\" or \"none\"");
        }
        let max_age = parse_duration(self.max_age.as_deref().unwrap_or("7d"), "[mta_sts] max_age")?;
        // RFC 8461 §3.2: at most 31557600 seconds (a year).
        let max_age = max_age.as_secs().min(31_557_600);
        Ok(tidings_smtp::records::mta_sts_policy(
            hostname, mode, max_age,
        ))
    }
}

/// `[acme]`: the certificate from an ACME CA (RFC 8555), ordered at the
/// first start and renewed before it expires; without `directory`, no ACME.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSection {
    /// The CA's directory URL, or `"letsencrypt"` /
    /// `"letsencrypt-staging"`.
    pub directory: Option<String>,
    /// An address the CA may write to about the account (expiry notices).
    pub email: Option<String>,
    /// The names the certificate covers (each must resolve to this server
    /// and reach its HTTP port 80). Default: `[hostname]`.
    pub names: Option<Vec<String>>,
    /// A PEM file with the root that the CA's own HTTPS certificate chains
    /// to, for a private CA; default: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Renew when the certificate has less than this left. Default `"30d"`.
    pub renew_before: Option<String>,
    /// After a failed order, try again after this. Default `"1h"`.
    pub retry_after: Option<String>,
    /// How names are proved: `"http-01"` (a file on port 80) or
    /// `"tls-alpn-01"` (a certificate on port 443, RFC 8737). Default
    /// `"http-01"`.
    pub challenge: Option<String>,
}

/// The ACME challenge the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcmeChallenge {
    Http01,
    TlsAlpn01,
}

impl AcmeChallenge {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::Http01 => "http-01",
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// `[acme]`, resolved.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    pub directory: String,
    pub email: Option<String>,
    pub names: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub renew_before: std::time::Duration,
    pub retry_after: std::time::Duration,
    pub challenge: AcmeChallenge,
    /// `<data_dir>/acme`: the account key, the certificate and its key.
    pub dir: PathBuf,
}

impl AcmeSection {
    fn resolve(
        self,
        hostname: &str,
        data_dir: &Path,
        relative: impl Fn(PathBuf) -> PathBuf,
    ) -> anyhow::Result<Option<AcmeSettings>> {
        let Some(directory) = self.directory else {
            return Ok(None);
        };
        let directory = match directory.as_str() {
            "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory".to_string(),
            "letsencrypt-staging" => {
                "https://acme-staging-v02.api.letsencrypt.org/directory".to_string()
            }
            url if url.starts_with("https://") => url.to_string(),
            other => bail!(
                "[acme] directory `{other}`: expected an https:// URL, \"letsencrypt\" or \"letsencrypt-staging\""
            ),
        };
        let names = self.names.unwrap_or_else(|| vec![hostname.to_string()]);
        if names.is_empty() {
            bail!("[acme] names must name at least one host");
        }
        for n in &names {
            if n.is_empty() || n.contains(['*', ' ', '/']) || !n.contains('.') {
                bail!("[acme] names: `{n}` is not a host name a CA can check over HTTP");
            }
        }
        if let Some(e) = &self.email
            && !e.contains('@')
        {
            bail!("[acme] email `{e}` is not an address");
        }
        let challenge = match self.challenge.as_deref().unwrap_or("http-01") {
            "http-01" => AcmeChallenge::Http01,
            "tls-alpn-01" => AcmeChallenge::TlsAlpn01,
            other => bail!("[acme] challenge `{other}`: expected \"http-01\" or \"tls-alpn-01\""),
        };
        Ok(Some(AcmeSettings {
            directory,
            challenge,
            email: self.email,
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            ca_file: self.ca_file.map(relative),
            renew_before: parse_duration(
                self.renew_before.as_deref().unwrap_or("30d"),
                "[acme] renew_before",
            )?,
            retry_after: parse_duration(
                self.retry_after.as_deref().unwrap_or("1h"),
                "[acme] retry_after",
            )?,
            dir: data_dir.join("acme"),
        }))
    }
}

/// `[srs]`: the Sender Rewriting Scheme for forwarded mail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrsSection {
    /// The secrets file: one secret a line, the first signs, all verify
    /// (put a new one first to rotate, drop an old one after `max_age_days`).
    /// Default `<data_dir>/srs.key`, made at the first start.
    pub key: Option<PathBuf>,
    /// How many days a bounce to an SRS address is accepted. Default 21.
    pub max_age_days: Option<u32>,
}

/// The `[smtp]` settings, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    pub max_message_size: u64,
    pub max_recipients: u32,
    pub queue_lifetime: std::time::Duration,
    pub retry_after: std::time::Duration,
    pub relay: Option<String>,
    pub relay_auth: Option<RelayAuth>,
    pub send_limits: tidings_store::SendLimits,
    /// Lowercased domains.
    pub mx: std::collections::BTreeMap<String, String>,
    pub greeting_timeout: std::time::Duration,
    pub vacation_period: std::time::Duration,
    pub max_delayed_send: std::time::Duration,
    pub max_alias_recipients: u32,
    pub max_hops: u32,
}

/// How to log in to the `[smtp] relay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAuth {
    pub user: String,
    pub password_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// Implicit TLS rather than STARTTLS.
    pub implicit_tls: bool,
}

/// Parses `"90s"`, `"5m"`, `"4h"`, `"5d"`.
fn parse_duration(text: &str, key: &str) -> anyhow::Result<std::time::Duration> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{key} `{text}`: expected a number and s, m, h or d (like \"5d\")"),
    };
    let n: u64 =
        number.parse().ok().filter(|n| *n > 0).with_context(|| {
            format!("{key} `{text}`: expected a positive number and s, m, h or d")
        })?;
    Ok(std::time::Duration::from_secs(n.saturating_mul(scale)))
}

impl SmtpSection {
    fn resolve(self, relative: impl Fn(PathBuf) -> PathBuf) -> anyhow::Result<SmtpSettings> {
        let max_message_size = self.max_message_size.unwrap_or(50 * 1024 * 1024);
        if max_message_size < 1024 {
            bail!("[smtp] max_message_size must be at least 1024");
        }
        let max_recipients = self.max_recipients.unwrap_or(100);
        if max_recipients == 0 {
            bail!("[smtp] max_recipients must be at least 1");
        }
        let max_alias_recipients = self.max_alias_recipients.unwrap_or(100);
        if max_alias_recipients == 0 {
            bail!("[smtp] max_alias_recipients must be at least 1");
        }
        let max_hops = self.max_hops.unwrap_or(50);
        if max_hops == 0 {
            bail!("[smtp] max_hops must be at least 1");
        }
        let host_port = |v: &str, key: &str| -> anyhow::Result<()> {
            match v.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
                _ => bail!("[smtp] {key} `{v}`: expected \"host:port\""),
            }
        };
        if let Some(relay) = &self.relay {
            host_port(relay, "relay")?;
        }
        for (domain, target) in &self.mx {
            host_port(target, &format!("mx.\"{domain}\""))?;
        }
        let relay_auth = match (&self.relay, self.relay_user, self.relay_password_file) {
            (_, None, None) => {
                if self.relay_ca_file.is_some() || self.relay_tls.is_some() {
                    bail!("[smtp] relay_ca_file and relay_tls need relay_user");
                }
                None
            }
            (None, _, _) => bail!("[smtp] relay_user needs relay"),
            (Some(_), Some(_), None) => bail!("[smtp] relay_user needs relay_password_file"),
            (Some(_), None, Some(_)) => bail!("[smtp] relay_password_file needs relay_user"),
            (Some(relay), Some(user), Some(file)) => {
                let implicit_tls = match self.relay_tls.as_deref() {
                    Some("implicit") => true,
                    Some("starttls") => false,
                    Some(other) => {
                        bail!("[smtp] relay_tls `{other}`: expected \"starttls\" or \"implicit\"")
                    }
                    None => relay.ends_with(":465"),
                };
                Some(RelayAuth {
                    user,
                    password_file: relative(file),
                    ca_file: self.relay_ca_file.map(&relative),
                    implicit_tls,
                })
            }
        };
        Ok(SmtpSettings {
            max_message_size,
            max_recipients,
            max_alias_recipients,
            max_hops,
            queue_lifetime: parse_duration(
                self.queue_lifetime.as_deref().unwrap_or("5d"),
                "[smtp] queue_lifetime",
            )?,
            retry_after: parse_duration(
                self.retry_after.as_deref().unwrap_or("5m"),
                "[smtp] retry_after",
            )?,
            greeting_timeout: parse_duration(
                self.greeting_timeout.as_deref().unwrap_or("60s"),
                "[smtp] greeting_timeout",
            )?,
            vacation_period: parse_duration(
                self.vacation_period.as_deref().unwrap_or("7d"),
                "[smtp] vacation_period",
            )?,
            max_delayed_send: parse_duration(
                self.max_delayed_send.as_deref().unwrap_or("30s"),
                "[smtp] max_delayed_send",
            )?,
            relay: self.relay,
            relay_auth,
            send_limits: tidings_store::SendLimits {
                per_hour: Some(self.max_messages_per_hour.unwrap_or(200)).filter(|n| *n > 0),
                per_day: Some(self.max_messages_per_day.unwrap_or(1000)).filter(|n| *n > 0),
            },
            mx: self
                .mx
                .into_iter()
                .map(|(d, t)| (d.to_lowercase(), t))
                .collect(),
        })
    }
}

/// A protocol a listener can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Smtp,
    Submission,
    Submissions,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Http,
    Https,
}

impl Protocol {
    /// Every protocol, in the order of `[listen]`.
    pub const ALL: [Protocol; 9] = [
        Protocol::Smtp,
        Protocol::Submission,
        Protocol::Submissions,
        Protocol::Imap,
        Protocol::Imaps,
        Protocol::Pop3,
        Protocol::Pop3s,
        Protocol::Http,
        Protocol::Https,
    ];

    /// The `[listen]` key, also used in logs.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Submissions => "submissions",
            Protocol::Imap => "imap",
            Protocol::Imaps => "imaps",
            Protocol::Pop3 => "pop3",
            Protocol::Pop3s => "pop3s",
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    /// Whether TLS starts at connect (RFC 8314 implicit TLS) or the protocol
    /// may upgrade a plaintext connection (STARTTLS, STLS).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Protocol::Submissions | Protocol::Imaps | Protocol::Pop3s | Protocol::Https
        )
    }

    /// The zero-config address: an unprivileged port on loopback.
    pub fn default_addr(self) -> ListenAddr {
        let port = match self {
            Protocol::Smtp => 2525,
            Protocol::Submission => 5587,
            Protocol::Submissions => 5465,
            Protocol::Imap => 1143,
            Protocol::Imaps => 1993,
            Protocol::Pop3 => 1110,
            Protocol::Pop3s => 1995,
            Protocol::Http => 8080,
            Protocol::Https => 8443,
        };
        ListenAddr::On(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The port the standards assign (what `tidings init` writes).
    pub fn standard_port(self) -> u16 {
        match self {
            Protocol::Smtp => 25,
            Protocol::Submission => 587,
            Protocol::Submissions => 465,
            Protocol::Imap => 143,
            Protocol::Imaps => 993,
            Protocol::Pop3 => 110,
            Protocol::Pop3s => 995,
            Protocol::Http => 80,
            Protocol::Https => 443,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ListenSection {
    fn addr(&self, protocol: Protocol) -> Option<ListenAddr> {
        match protocol {
            Protocol::Smtp => self.smtp,
            Protocol::Submission => self.submission,
            Protocol::Submissions => self.submissions,
            Protocol::Imap => self.imap,
            Protocol::Imaps => self.imaps,
            Protocol::Pop3 => self.pop3,
            Protocol::Pop3s => self.pop3s,
            Protocol::Http => self.http,
            Protocol::Https => self.https,
        }
    }
}

/// Where the TLS certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files named in `[tls]`.
    Files { cert: PathBuf, key: PathBuf },
    /// Self-signed, made once in `<data_dir>/tls/`.
    SelfSigned { dir: PathBuf },
}

/// Everything the server needs, resolved from the config file (if any), the
/// command line and the defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The config file read, or `None` in zero-config mode.
    pub source: Option<PathBuf>,
    pub hostname: String,
    pub domains: Vec<String>,
    pub data_dir: PathBuf,
    /// The listeners that are on.
    pub listen: Vec<(Protocol, SocketAddr)>,
    pub cert: CertSource,
    /// `[tls.sni]`, names in lower case.
    pub sni: Vec<crate::tls::SniCert>,
    pub max_connections_per_ip: u32,
    pub max_connections: u32,
    pub dkim_selector: String,
    pub dkim_key: PathBuf,
    pub smtp: SmtpSettings,
    /// `[srs] key`.
    pub srs_key: PathBuf,
    /// `[srs] max_age_days`.
    pub srs_max_age_days: u32,
    pub login: LoginSettings,
    pub dns: tidings_smtp::dns::DnsConfig,
    pub imap: ImapSettings,
    /// `[limits] message_memory`.
    pub message_memory: u64,
    /// `[metrics] token_file`, resolved against the config's directory.
    pub metrics_token_file: Option<PathBuf>,
    /// `[store] url` or `TIDINGS_STORE_URL`: a PostgreSQL store, instead of
    /// the embedded one in `data_dir`. Holds a password: never logged.
    pub store_url: Option<String>,
    /// `[store] blobs` and its `s3_*` keys: the S3 blob store, credentials
    /// read (never logged).
    pub store_blobs: Option<tidings_store::s3::S3Config>,
    /// `[store] s3_collect_seconds`.
    pub blob_collect_every: std::time::Duration,
    /// `user`: whom `serve` runs as when started as root.
    pub user: Option<String>,
    /// `[acme]`, if on.
    pub acme: Option<AcmeSettings>,
    /// The MTA-STS policy text served (`[mta_sts]`).
    pub mta_sts_policy: String,
    /// `[jmap] max_size_upload`.
    pub jmap_max_size_upload: u64,
    /// `[jmap] upload_quota`.
    pub jmap_upload_quota: u64,
    /// `[jmap] push_http_loopback`.
    pub jmap_push_http_loopback: bool,
    /// `[activesync]`.
    pub activesync: tidings_eas::EasConfig,
}

impl Settings {
    /// Resolves the settings: `config` is `--config`, `data_dir` is `--data-dir`.
    /// Without `--config`, `./tidings.toml` is read if it exists; otherwise the
    /// zero-config defaults apply.
    pub fn load(config: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Settings> {
        let path = match config {
            Some(p) => Some(p.to_path_buf()),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                p.exists().then_some(p)
            }
        };
        match path {
            None => Settings::resolve(ConfigFile::default(), None, data_dir),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let file = parse(&text, &path)?;
                Settings::resolve(file, Some(path), data_dir)
            }
        }
    }

    /// Whether no config file was read (docs/design.md, "Defaults a new user meets").
    pub fn zero_config(&self) -> bool {
        self.source.is_none()
    }

    fn resolve(
        file: ConfigFile,
        source: Option<PathBuf>,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Settings> {
        let base = source
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let data_dir = match (data_dir, file.data_dir) {
            (Some(flag), _) => flag.to_path_buf(),
            (None, Some(d)) => relative(d),
            (None, None) => PathBuf::from(DEFAULT_DATA_DIR),
        };
        let sni = file
            .tls
            .sni
            .into_iter()
            .map(|(name, s)| crate::tls::SniCert {
                name: name.trim_end_matches('.').to_ascii_lowercase(),
                cert: relative(s.cert),
                key: relative(s.key),
            })
            .collect();
        let cert = match (file.tls.cert, file.tls.key) {
            (Some(cert), Some(key)) => CertSource::Files {
                cert: relative(cert),
                key: relative(key),
            },
            (None, None) => CertSource::SelfSigned {
                dir: data_dir.join("tls"),
            },
            _ => bail!(
                "[tls] needs both `cert` and `key`, or neither (for a self-signed certificate)"
            ),
        };
        let selector = file
            .dkim
            .selector
            .unwrap_or_else(|| DEFAULT_DKIM_SELECTOR.to_string());
        if selector.is_empty()
            || !selector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bail!("[dkim] selector `{selector}` must be letters, digits and `-`");
        }
        let dkim_key = match file.dkim.key {
            Some(k) => relative(k),
            None => dkim_key_path(&data_dir, &selector),
        };
        let hostname = file
            .hostname
            .clone()
            .unwrap_or_else(|| "localhost".to_string());
        let listen = Protocol::ALL
            .into_iter()
            .filter_map(|p| match file.listen.addr(p).unwrap_or(p.default_addr()) {
                ListenAddr::On(addr) => Some((p, addr)),
                ListenAddr::Off => None,
            })
            .collect();
        let limit = |v: Option<u32>, default: u32, key: &str| match v {
            Some(0) => bail!("[limits] {key} must be at least 1"),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(Settings {
            user: file.user,
            hostname: hostname.clone(),
            domains: file.domains,
            listen,
            cert,
            sni,
            max_connections_per_ip: limit(
                file.limits.max_connections_per_ip,
                20,
                "max_connections_per_ip",
            )?,
            max_connections: limit(file.limits.max_connections, 1000, "max_connections")?,
            dkim_selector: selector,
            dkim_key,
            smtp: file.smtp.resolve(relative)?,
            srs_key: file
                .srs
                .key
                .map_or_else(|| srs_key_path(&data_dir), relative),
            mta_sts_policy: file.mta_sts.policy(&hostname)?,
            acme: file.acme.resolve(&hostname, &data_dir, relative)?,
            srs_max_age_days: match file.srs.max_age_days {
                Some(0) => bail!("[srs] max_age_days must be at least 1"),
                Some(n) => n,
                None => 21,
            },
            login: LoginSettings::resolve(&file.limits, &file.pop3)?,
            dns: file.dns.resolve()?,
            imap: file.imap.resolve()?,
            message_memory: match file.limits.message_memory {
                Some(n) if n < 1024 * 1024 => {
                    bail!("[limits] message_memory must be at least 1048576")
                }
                Some(n) => n,
                None => tidings_store::spool::DEFAULT_MEMORY_BUDGET,
            },
            metrics_token_file: file.metrics.token_file.map(relative),
            store_blobs: s3_config(&file.store, &relative)?,
            blob_collect_every: match file.store.s3_collect_seconds {
                Some(0) => bail!("[store] s3_collect_seconds must be more than 0"),
                Some(n) => std::time::Duration::from_secs(n),
                None => std::time::Duration::from_secs(3600),
            },
            store_url: match std::env::var("TIDINGS_STORE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .or(file.store.url)
            {
                Some(u) if u.starts_with("postgresql://") || u.starts_with("postgres://") => {
                    Some(u)
                }
                Some(_) => bail!("[store] url (or TIDINGS_STORE_URL) must be a postgresql:// URL"),
                None => None,
            },
            jmap_max_size_upload: match file.jmap.max_size_upload {
                Some(0) => bail!("[jmap] max_size_upload must be more than 0"),
                Some(n) => n,
                None => tidings_jmap::Limits::default().max_size_upload,
            },
            jmap_upload_quota: file
                .jmap
                .upload_quota
                .unwrap_or(tidings_jmap::Limits::default().upload_quota),
            jmap_push_http_loopback: file.jmap.push_http_loopback.unwrap_or(false),
            activesync: {
                let d = tidings_eas::EasConfig::default();
                let min_heartbeat = file.activesync.min_heartbeat.unwrap_or(d.min_heartbeat);
                if min_heartbeat == 0 || min_heartbeat > d.max_heartbeat {
                    bail!(
                        "[activesync] min_heartbeat must be 1 to {}",
                        d.max_heartbeat
                    );
                }
                tidings_eas::EasConfig {
                    require_provisioning: file
                        .activesync
                        .require_provisioning
                        .unwrap_or(d.require_provisioning),
                    min_heartbeat,
                    max_devices: match file.activesync.max_devices {
                        Some(0) => bail!("[activesync] max_devices must be at least 1"),
                        Some(n) => n,
                        None => d.max_devices,
                    },
                    ..d
                }
            },
            data_dir,
            source,
        })
    }
}

/// Where the SRS secrets live by default.
pub fn srs_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("srs.key")
}

/// Where the DKIM key of `selector` lives by default.
pub fn dkim_key_path(data_dir: &Path, selector: &str) -> PathBuf {
    data_dir.join("dkim").join(format!("{selector}.key"))
}

/// Parses config text; errors read `<path> line L, column C: <what>` on one line.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<ConfigFile> {
    toml::from_str(text).map_err(|e| {
        let what = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                anyhow::anyhow!("{} line {line}, column {column}: {what}", path.display())
            }
            None => anyhow::anyhow!("{}: {what}", path.display()),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_limits_and_pop3_login_timeout() {
        let s = Settings::resolve(ConfigFile::default(), None, None).unwrap();
        assert_eq!(
            s.login,
            LoginSettings {
                max_failures: 10,
                failure_window: std::time::Duration::from_secs(900),
                failure_delay: std::time::Duration::from_secs(1),
                pop3_login_timeout: std::time::Duration::from_secs(60),
            }
        );
        let s = load_text(
            "[limits]\nmax_login_failures = 3\nlogin_failure_window = \"2h\"\n\
             login_failure_delay = \"0s\"\n[pop3]\nlogin_timeout = \"250ms\"\n",
        )
        .unwrap();
        assert_eq!(s.login.max_failures, 3);
        assert_eq!(s.login.failure_window, std::time::Duration::from_secs(7200));
        assert_eq!(s.login.failure_delay, std::time::Duration::ZERO);
        assert_eq!(
            s.login.pop3_login_timeout,
            std::time::Duration::from_millis(250)
        );
        for bad in [
            "[limits]\nmax_login_failures = 0\n",
            "[limits]\nlogin_failure_window = \"0s\"\n",
            "[limits]\nlogin_failure_delay = \"fast\"\n",
            "[pop3]\nlogin_timeout = \"5d\"\n",
            "[pop3]\nlogin_timeout = \"0ms\"\n",
        ] {
            assert!(load_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_blob_store_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s3.key"), "AKIDEXAMPLE\n").unwrap();
        std::fs::write(dir.path().join("s3.secret"), "very secret\n").unwrap();
        let load = |text: &str| {
            let path = dir.path().join("tidings.toml");
            Settings::resolve(parse(text, &path)?, Some(path), None)
        };
        let store = "[store]\nurl = \"postgresql://t@db/t\"\nblobs = \"s3://mail/tidings\"\n\
                     s3_access_key_file = \"s3.key\"\ns3_secret_key_file = \"s3.secret\"\n";
        // AWS: virtual-host style at the region's endpoint.
        let s = load(&format!("{store}s3_region = \"eu-west-3\"\n")).unwrap();
        let c = s.store_blobs.unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("mail", "tidings/"));
        assert_eq!(c.endpoint, "https://s3.eu-west-3.amazonaws.com");
        assert!(!c.path_style);
        assert_eq!(c.access_key.expose(), "AKIDEXAMPLE");
        assert_eq!(c.secret_key.expose(), "very secret");
        assert!(!format!("{c:?}").contains("very secret"));
        assert_eq!(c.grace, tidings_store::s3::DEFAULT_GRACE);
        assert_eq!(s.blob_collect_every, std::time::Duration::from_secs(3600));
        // A self-hosted endpoint: path style unless told otherwise.
        let s = load(&format!(
            "{store}s3_endpoint = \"https://minio.example.net:9000\"\n\
             s3_grace_seconds = 60\ns3_collect_seconds = 5\n"
        ))
        .unwrap();
        let c = s.store_blobs.unwrap();
        assert!(c.path_style);
        assert_eq!(c.grace, std::time::Duration::from_secs(60));
        assert_eq!(s.blob_collect_every, std::time::Duration::from_secs(5));
        for bad in [
            // s3_* without blobs
            "[store]\ns3_endpoint = \"https://minio.example.net\"\n".to_string(),
            // a key file that is not there
            "[store]\nblobs = \"s3://mail\"\ns3_access_key_file = \"nope\"\n".to_string(),
            format!("{store}s3_collect_seconds = 0\n"),
            "[store]\nblobs = \"https://mail\"\n".to_string(),
        ] {
            assert!(load(&bad).is_err(), "{bad}");
        }
    }

    fn load_text(text: &str) -> anyhow::Result<Settings> {
        let file = parse(text, Path::new("/etc/tidings.toml"))?;
        Settings::resolve(file, Some(PathBuf::from("/etc/tidings.toml")), None)
    }

    #[test]
    fn zero_config_defaults() {
        let s = Settings::resolve(ConfigFile::default(), None, None).unwrap();
        assert!(s.zero_config());
        assert_eq!(s.hostname, "localhost");
        assert_eq!(s.data_dir, PathBuf::from("tidings-data"));
        assert_eq!(s.max_connections_per_ip, 20);
        let ports: Vec<(&str, String)> = s
            .listen
            .iter()
            .map(|(p, a)| (p.name(), a.to_string()))
            .collect();
        assert_eq!(
            ports,
            [
                ("smtp", "127.0.0.1:2525"),
                ("submission", "127.0.0.1:5587"),
                ("submissions", "127.0.0.1:5465"),
                ("imap", "127.0.0.1:1143"),
                ("imaps", "127.0.0.1:1993"),
                ("pop3", "127.0.0.1:1110"),
                ("pop3s", "127.0.0.1:1995"),
                ("http", "127.0.0.1:8080"),
                ("https", "127.0.0.1:8443"),
            ]
            .map(|(p, a)| (p, a.to_string()))
        );
        assert_eq!(
            s.cert,
            CertSource::SelfSigned {
                dir: PathBuf::from("tidings-data/tls")
            }
        );
        assert_eq!(s.dkim_key, PathBuf::from("tidings-data/dkim/tidings.key"));
    }

    #[test]
    fn full_file() {
        let s = load_text(
            r#"
hostname = "mail.example.org"
domains = ["example.org"]
data_dir = "data"
[listen]
smtp = "0.0.0.0:25"
pop3 = "off"
https = "[::]:443"
[tls]
cert = "/tls/cert.pem"
key = "key.pem"
[limits]
max_connections_per_ip = 5
[dkim]
selector = "s1"
"#,
        )
        .unwrap();
        assert_eq!(s.hostname, "mail.example.org");
        assert_eq!(s.domains, ["example.org"]);
        assert_eq!(s.data_dir, PathBuf::from("/etc/data"));
        assert_eq!(s.max_connections_per_ip, 5);
        assert_eq!(s.dkim_key, PathBuf::from("/etc/data/dkim/s1.key"));
        assert_eq!(
            s.cert,
            CertSource::Files {
                cert: "/tls/cert.pem".into(),
                key: "/etc/key.pem".into()
            }
        );
        let find = |p| {
            s.listen
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, a)| a.to_string())
        };
        assert_eq!(find(Protocol::Smtp).as_deref(), Some("0.0.0.0:25"));
        assert_eq!(find(Protocol::Pop3), None);
        assert_eq!(find(Protocol::Https).as_deref(), Some("[::]:443"));
        assert_eq!(find(Protocol::Imap).as_deref(), Some("127.0.0.1:1143"));
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let e = load_text("hostname = \"x\"\n\n[listen]\nsmtpp = \"0.0.0.0:25\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("/etc/tidings.toml line 4, column 1: "),
            "{msg}"
        );
        assert!(msg.contains("unknown field `smtpp`"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn bad_values_are_refused() {
        let msg = format!(
            "{:#}",
            load_text("[listen]\nimap = \"localhost\"\n").unwrap_err()
        );
        assert!(
            msg.contains("line 2") && msg.contains("invalid listen address"),
            "{msg}"
        );
        let msg = format!("{:#}", load_text("[tls]\ncert = \"c.pem\"\n").unwrap_err());
        assert!(msg.contains("both"), "{msg}");
        let msg = format!(
            "{:#}",
            load_text("[limits]\nmax_connections = 0\n").unwrap_err()
        );
        assert!(msg.contains("at least 1"), "{msg}");
        let msg = format!(
            "{:#}",
            load_text("domains = \"example.org\"\n").unwrap_err()
        );
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn smtp_section() {
        let s = Settings::resolve(ConfigFile::default(), None, None).unwrap();
        assert_eq!(s.smtp.max_message_size, 50 * 1024 * 1024);
        assert_eq!(s.smtp.max_recipients, 100);
        assert_eq!(
            s.smtp.queue_lifetime,
            std::time::Duration::from_secs(5 * 86_400)
        );
        let s = load_text(
            "[smtp]\nmax_recipients = 5\nqueue_lifetime = \"90s\"\nrelay = \"smart.example:587\"\n[smtp.mx]\n\"Example.NET\" = \"127.0.0.1:2526\"\n",
        )
        .unwrap();
        assert_eq!(s.smtp.max_recipients, 5);
        assert_eq!(s.smtp.queue_lifetime, std::time::Duration::from_secs(90));
        assert_eq!(s.smtp.relay.as_deref(), Some("smart.example:587"));
        assert_eq!(
            s.smtp.mx.get("example.net").map(String::as_str),
            Some("127.0.0.1:2526")
        );
        assert_eq!(s.smtp.greeting_timeout, std::time::Duration::from_secs(60));
        for bad in [
            "[smtp]\ngreeting_timeout = \"0s\"\n",
            "[smtp]\nqueue_lifetime = \"5 days\"\n",
            "[smtp]\nrelay = \"nohost\"\n",
            "[smtp]\nmax_recipients = 0\n",
            "[smtp]\nrelays = \"a:1\"\n",
        ] {
            assert!(load_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_section() {
        use tidings_smtp::dns::Resolver;
        let s = Settings::resolve(ConfigFile::default(), None, None).unwrap();
        assert_eq!(s.dns.resolver, Resolver::System);
        assert_eq!(s.dns.budget, std::time::Duration::from_secs(10));
        let s = load_text("[dns]\nresolver = \"127.0.0.1:5353\"\nbudget = \"2s\"\n").unwrap();
        assert_eq!(
            s.dns.resolver,
            Resolver::Addr("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(s.dns.budget, std::time::Duration::from_secs(2));
        let s = load_text("[dns]\nresolver = \"off\"\n").unwrap();
        assert_eq!(s.dns.resolver, Resolver::Off);
        for bad in [
            "[dns]\nresolver = \"localhost\"\n",
            "[dns]\nbudget = \"10\"\n",
            "[dns]\ntimeout = \"1s\"\n",
            "[dns]\ndnssec = \"yes\"\n",
        ] {
            assert!(load_text(bad).is_err(), "{bad}");
        }
        assert!(!load_text("").unwrap().dns.dnssec, "off by default");
        let s = load_text("[dns]\nresolver = \"127.0.0.1:53\"\ndnssec = true\n").unwrap();
        assert!(s.dns.dnssec);
    }

    #[test]
    fn imap_section() {
        let s = Settings::resolve(ConfigFile::default(), None, None).unwrap();
        assert_eq!(s.imap.login_timeout, std::time::Duration::from_secs(60));
        let s = load_text("[imap]\nlogin_timeout = \"2m\"\n").unwrap();
        assert_eq!(s.imap.login_timeout, std::time::Duration::from_secs(120));
        assert_eq!(s.imap.progress_interval, std::time::Duration::from_secs(10));
        let s = load_text("[imap]\nprogress_interval = \"0s\"\n").unwrap();
        assert_eq!(s.imap.progress_interval, std::time::Duration::ZERO);
        for bad in [
            "[imap]\nprogress_interval = \"often\"\n",
            "[imap]\nlogin_timeout = \"0s\"\n",
            "[imap]\nlogin_timeout = \"soon\"\n",
            "[imap]\nidle = \"1m\"\n",
        ] {
            let e = format!("{:#}", load_text(bad).unwrap_err());
            assert!(e.contains("imap") || e.contains("idle"), "{bad}: {e}");
        }
    }

    #[test]
    fn data_dir_flag_wins() {
        let file = parse("data_dir = \"/srv/a\"", Path::new("t.toml")).unwrap();
        let s = Settings::resolve(file, Some("t.toml".into()), Some(Path::new("b"))).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("b"));
    }
}
