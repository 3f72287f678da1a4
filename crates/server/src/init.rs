//! `tidings init`: writes a config for a real domain, makes the DKIM key and
//! prints the DNS records to publish.
//!
//! The records: MX (RFC 5321 §5), SPF (RFC 7208), DKIM (RFC 6376 §3.6.1, an
//! RSA-2048 key, TXT strings of at most 255 characters as RFC 1035 §3.3.14
//! allows), DMARC (RFC 7489), SRV for mail clients (RFC 6186, implicit TLS
//! preferred as RFC 8314 §5.1 asks) and the autoconfig/autodiscover names.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use tidings_store::{Store, StoreError};

use crate::config::{DEFAULT_DKIM_SELECTOR, Protocol, Settings, dkim_key_path, srs_key_path};
use crate::tls::{create_private_dir, write_private};

/// What `tidings init` was asked for.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub domain: String,
    pub hostname: String,
    /// The config file to write.
    pub config: PathBuf,
    pub data_dir: PathBuf,
    /// Overwrite an existing config file.
    pub force: bool,
}

/// Runs `init`; returns what to print.
pub fn run(opts: &InitOptions) -> anyhow::Result<String> {
    let domain = dns_name(&opts.domain).context("--domain")?;
    let hostname = dns_name(&opts.hostname).context("--hostname")?;
    if opts.config.exists() && !opts.force {
        bail!(
            "{} exists already; use --force to overwrite it",
            opts.config.display()
        );
    }

    let selector = DEFAULT_DKIM_SELECTOR;
    let key_path = dkim_key_path(&opts.data_dir, selector);
    let (public_key, key_note) = if key_path.exists() {
        // Never replace a key whose record may be published already.
        (read_dkim_key(&key_path)?, "kept the existing DKIM key")
    } else {
        (make_dkim_key(&key_path)?, "made a DKIM key")
    };

    let srs_path = srs_key_path(&opts.data_dir);
    if !srs_path.exists() {
        make_srs_key(&srs_path)?;
    }

    let store = Store::open(&opts.data_dir)
        .with_context(|| format!("cannot open the store in {}", opts.data_dir.display()))?;
    let added = match store.add_domain(&domain) {
        Ok(()) => Ok("added domain"),
        Err(StoreError::AlreadyExists(_)) => Ok("the store serves domain"),
        Err(e) => Err(e),
    };
    store.close();
    let domain_note = added.with_context(|| format!("cannot add domain {domain}"))?;

    let text = config_text(&domain, &hostname, &opts.config, &opts.data_dir, &key_path)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).truncate(true);
    // The config names the key files and the data directory: the owner's.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if opts.force {
        options.create(true);
    } else {
        options.create_new(true);
    }
    let mut file = options
        .open(&opts.config)
        .with_context(|| format!("cannot create {}", opts.config.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", opts.config.display()))?;

    let unit_path = opts.config.with_file_name("tidings.service");
    let unit = systemd_unit(&opts.config, &opts.data_dir)?;
    if opts.force || !unit_path.exists() {
        std::fs::write(&unit_path, unit)
            .with_context(|| format!("cannot write {}", unit_path.display()))?;
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Wrote {}; {key_note} ({}); {domain_note} {domain}.",
        opts.config.display(),
        key_path.display()
    );
    let _ = writeln!(
        out,
        "Wrote {}, a systemd unit that runs the server as the user `tidings` \
         (install it in /etc/systemd/system/, create that user, give it the data directory).",
        unit_path.display()
    );
    let _ = writeln!(out, "\nPublish these DNS records for {domain}:\n");
    out.push_str(&dns_records(
        &domain,
        &hostname,
        selector,
        &public_key,
        &crate::config::default_mta_sts_policy(&hostname),
    ));
    let _ = writeln!(
        out,
        "\nThen: tidings user add you@{domain}, tidings alias add postmaster@{domain} you@{domain}, tidings serve."
    );
    Ok(out)
}

/// The DKIM key of `settings` as PEM, with its public key for the DNS
/// record. When the default key file (`<data_dir>/dkim/<selector>.key`) does
/// not exist it is made, so that a zero-config start signs its mail as it
/// makes its certificate; a key named in `[dkim] key` must exist.
pub fn ensure_dkim_key(settings: &Settings) -> anyhow::Result<DkimKeyFile> {
    let path = &settings.dkim_key;
    let made = if path.exists() {
        false
    } else if *path == dkim_key_path(&settings.data_dir, &settings.dkim_selector) {
        make_dkim_key(path)?;
        true
    } else {
        bail!(
            "the DKIM key {} named in [dkim] key does not exist",
            path.display()
        );
    };
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(DkimKeyFile {
        public_key: read_dkim_key(path)?,
        pem,
        made,
    })
}

/// The SRS secrets of `settings` (`[srs] key`), the first signing. The
/// default file (`<data_dir>/srs.key`) is made with one random secret when
/// it does not exist, so that a zero-config start can forward; a file named
/// in the config must exist. Returns the secrets and whether it made them.
pub fn ensure_srs_key(settings: &Settings) -> anyhow::Result<(Vec<Vec<u8>>, bool)> {
    let path = &settings.srs_key;
    let made = if path.exists() {
        false
    } else if *path == srs_key_path(&settings.data_dir) {
        make_srs_key(path)?;
        true
    } else {
        bail!(
            "the SRS key file {} named in [srs] key does not exist",
            path.display()
        );
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let secrets = tidings_smtp::srs::Srs::parse_key_file(&text);
    if secrets.is_empty() {
        bail!("the SRS key file {} has no secret", path.display());
    }
    Ok((secrets, made))
}

/// A new SRS secret: 32 random bytes, base64 (one line of the key file).
fn new_srs_secret() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
}

/// Writes a key file with one new secret (mode 0600).
fn make_srs_key(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_private_dir(dir)?;
    }
    write_private(path, format!("{}\n", new_srs_secret()?).as_bytes())
}

/// `tidings srs rotate`: a new secret first (it signs from the next start
/// on); the old ones stay and still verify bounces to addresses they made.
/// Returns how many secrets the file now has.
pub fn rotate_srs_key(settings: &Settings) -> anyhow::Result<usize> {
    let path = &settings.srs_key;
    let (old, _) = ensure_srs_key(settings)?;
    let mut text = format!("{}\n", new_srs_secret()?);
    for secret in &old {
        text.push_str(&String::from_utf8_lossy(secret));
        text.push('\n');
    }
    // A whole new file, renamed over the old one: never half a key file.
    let tmp = path.with_extension("key.new");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(old.len() + 1)
}

/// A DKIM private key read from its file.
pub struct DkimKeyFile {
    /// The PKCS#8 PEM text.
    pub pem: Vec<u8>,
    /// The `p=` value of its DNS record.
    pub public_key: String,
    /// Whether [`ensure_dkim_key`] made it just now.
    pub made: bool,
}

/// Generates an RSA-2048 key, writes it as PKCS#8 PEM (mode 0600) and
/// returns the base64 of its SubjectPublicKeyInfo.
fn make_dkim_key(path: &Path) -> anyhow::Result<String> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .context("cannot generate the DKIM key")?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("cannot encode the DKIM key")?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    write_private(path, pem.as_bytes())?;
    public_key_base64(&key)
}

fn read_dkim_key(path: &Path) -> anyhow::Result<String> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not a PKCS#8 PEM RSA key", path.display()))?;
    public_key_base64(&key)
}

/// The `p=` value: base64 of the DER SubjectPublicKeyInfo (RFC 6376 §3.6.1),
/// which is exactly the body of its PEM form.
fn public_key_base64(key: &rsa::RsaPrivateKey) -> anyhow::Result<String> {
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .context("cannot encode the DKIM public key")?;
    Ok(pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>())
}

/// A lower-case DNS name without the final dot, or an error saying why not.
fn dns_name(name: &str) -> anyhow::Result<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        bail!("`{name}` is not a valid DNS name");
    }
    Ok(name)
}

/// `path` as the config file should name it: relative to the file's
/// directory when it lies below it, absolute otherwise.
fn path_in_config(path: &Path, config: &Path) -> anyhow::Result<String> {
    let path = std::path::absolute(path)?;
    let config = std::path::absolute(config)?;
    let shown = config
        .parent()
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(&path);
    shown
        .to_str()
        .map(str::to_string)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// A systemd unit for `tidings serve` with this config: an unprivileged
/// user that may bind the mail ports (CAP_NET_BIND_SERVICE and nothing
/// else), a read-only system, writes only to the data directory.
fn systemd_unit(config: &Path, data_dir: &Path) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let config = std::path::absolute(config)?;
    let data_dir = std::path::absolute(data_dir)?;
    let shown = |p: &Path| -> anyhow::Result<String> {
        p.to_str()
            .map(str::to_string)
            .with_context(|| format!("{} is not valid UTF-8", p.display()))
    };
    let workdir = config.parent().unwrap_or(Path::new("/"));
    Ok(format!(
        "[Unit]\n\
         Description=Tidings mail server\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         ExecStart={exe} --config {config} serve\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         WorkingDirectory={workdir}\n\
         User=tidings\n\
         Group=tidings\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectControlGroups=yes\n\
         RestrictSUIDSGID=yes\n\
         ReadWritePaths={data}\n\
         UMask=0077\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=30\n\
         Restart=on-failure\n\
         LimitNOFILE=65536\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        exe = shown(&exe)?,
        config = shown(&config)?,
        workdir = shown(workdir)?,
        data = shown(&data_dir)?,
    ))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn config_text(
    domain: &str,
    hostname: &str,
    config: &Path,
    data_dir: &Path,
    key: &Path,
) -> anyhow::Result<String> {
    let mut t = String::new();
    let _ = writeln!(t, "# Tidings configuration, written by `tidings init`.");
    let _ = writeln!(
        t,
        "# Relative paths are relative to this file's directory.\n"
    );
    let _ = writeln!(t, "hostname = {}", toml_string(hostname));
    let _ = writeln!(t, "domains = [{}]", toml_string(domain));
    let _ = writeln!(
        t,
        "data_dir = {}",
        toml_string(&path_in_config(data_dir, config)?)
    );
    let _ = writeln!(t, "\n[listen]");
    for p in Protocol::ALL {
        let _ = writeln!(t, "{} = \"0.0.0.0:{}\"", p.name(), p.standard_port());
    }
    let _ = writeln!(t, "\n[tls]");
    let _ = writeln!(
        t,
        "# Without cert and key, a self-signed certificate is made in <data_dir>/tls/."
    );
    let _ = writeln!(
        t,
        "# cert = \"/etc/letsencrypt/live/{hostname}/fullchain.pem\""
    );
    let _ = writeln!(
        t,
        "# key = \"/etc/letsencrypt/live/{hostname}/privkey.pem\""
    );
    let _ = writeln!(
        t,
        "\n[limits]\nmax_connections_per_ip = 20\nmax_connections = 1000"
    );
    let _ = writeln!(t, "\n[dkim]");
    let _ = writeln!(t, "selector = {}", toml_string(DEFAULT_DKIM_SELECTOR));
    let _ = writeln!(t, "key = {}", toml_string(&path_in_config(key, config)?));
    Ok(t)
}

/// The DNS records for `domain`, in zone-file syntax.
pub fn dns_records(
    domain: &str,
    hostname: &str,
    selector: &str,
    public_key: &str,
    mta_sts_policy: &str,
) -> String {
    let dkim = format!("v=DKIM1; k=rsa; p={public_key}");
    let sts_id = tidings_smtp::records::mta_sts_id(mta_sts_policy);
    let srv = |service: &str, priority: u16, protocol: Protocol| {
        (
            format!("_{service}._tcp.{domain}."),
            "SRV",
            format!("{priority} 1 {} {hostname}.", protocol.standard_port()),
        )
    };
    let records = [
        (format!("{domain}."), "MX", format!("10 {hostname}.")),
        (
            format!("{hostname}."),
            "A",
            "<this server's IPv4 address>   ; and AAAA for IPv6".to_string(),
        ),
        (
            format!("{domain}."),
            "TXT",
            "\"v=spf1 mx -all\"".to_string(),
        ),
        (
            format!("{selector}._domainkey.{domain}."),
            "TXT",
            format!("( {} )", txt_strings(&dkim)),
        ),
        (
            format!("_dmarc.{domain}."),
            "TXT",
            // No `rua=`: nothing here reads aggregate reports yet, and
            // asking every receiver to mail them would fill a mailbox.
            "\"v=DMARC1; p=quarantine\"".to_string(),
        ),
        // MTA-STS (RFC 8461): the policy is served by this server's HTTPS
        // port, so mta-sts.DOMAIN points here (its certificate must name
        // it: add it to [acme] names or [tls.sni]).
        (
            format!("_mta-sts.{domain}."),
            "TXT",
            format!("\"v=STSv1; id={sts_id}\""),
        ),
        (
            format!("mta-sts.{domain}."),
            "CNAME",
            format!("{hostname}."),
        ),
        // TLS-RPT (RFC 8460): senders' reports of failed TLS, as mail.
        (
            format!("_smtp._tls.{domain}."),
            "TXT",
            format!("\"v=TLSRPTv1; rua=mailto:postmaster@{domain}\""),
        ),
        srv("submissions", 0, Protocol::Submissions),
        srv("submission", 10, Protocol::Submission),
        srv("imaps", 0, Protocol::Imaps),
        srv("imap", 10, Protocol::Imap),
        srv("pop3s", 0, Protocol::Pop3s),
        (
            format!("autoconfig.{domain}."),
            "CNAME",
            format!("{hostname}."),
        ),
        (
            format!("autodiscover.{domain}."),
            "CNAME",
            format!("{hostname}."),
        ),
    ];
    let width = records.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, kind, value) in &records {
        let _ = writeln!(out, "{name:<width$} IN {kind:<5} {value}");
    }
    let _ = writeln!(
        out,
        "; and ask your hosting provider for a PTR (reverse DNS) record: <IP> -> {hostname}."
    );
    out
}

/// A TXT value as quoted strings of at most 255 characters each.
fn txt_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_txt_is_split_into_255_character_strings() {
        let key = "A".repeat(392);
        let records = dns_records("example.org", "mail.example.org", "tidings", &key, "P");
        let line = records
            .lines()
            .find(|l| l.starts_with("tidings._domainkey.example.org. IN TXT"))
            .unwrap();
        let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), format!("v=DKIM1; k=rsa; p={key}"));
    }

    #[test]
    fn records_name_the_host_and_ports() {
        let r = dns_records("example.org", "mail.example.org", "s", "KEY", "P");
        for want in [
            "example.org.",
            "IN MX    10 mail.example.org.",
            "\"v=spf1 mx -all\"",
            "_dmarc.example.org.",
            "\"v=DMARC1; p=quarantine\"",
            "_submissions._tcp.example.org. IN SRV   0 1 465 mail.example.org.",
            "IN SRV   10 1 587 mail.example.org.",
            "_imaps._tcp.example.org.",
            "IN SRV   0 1 993 mail.example.org.",
            "IN SRV   10 1 143 mail.example.org.",
            "_pop3s._tcp.example.org.",
            "IN SRV   0 1 995 mail.example.org.",
            "autoconfig.example.org.",
            "autodiscover.example.org.",
        ] {
            assert!(r.contains(want), "missing {want:?} in\n{r}");
        }
    }

    #[test]
    fn dns_names_are_checked() {
        assert_eq!(dns_name("Example.ORG.").unwrap(), "example.org");
        for bad in [
            "",
            "a..b",
            "-a.org",
            "a b.org",
            "ex_ample.org",
            &"a".repeat(64),
        ] {
            assert!(dns_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_text_parses_and_names_paths_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tidings.toml");
        let data = dir.path().join("data");
        let key = dkim_key_path(&data, "tidings");
        let text = config_text("example.org", "mail.example.org", &config, &data, &key).unwrap();
        assert!(text.contains("data_dir = \"data\""), "{text}");
        std::fs::write(&config, &text).unwrap();
        let s = crate::config::Settings::load(Some(&config), None).unwrap();
        assert_eq!(s.hostname, "mail.example.org");
        assert_eq!(s.data_dir, data);
        assert_eq!(s.dkim_key, key);
        assert!(
            s.listen
                .iter()
                .any(|(p, a)| *p == Protocol::Imaps && a.to_string() == "0.0.0.0:993")
        );
    }

    #[test]
    fn public_key_is_the_spki_der() {
        use rsa::pkcs8::DecodePublicKey;
        // A small key keeps the test fast; the encoding does not depend on size.
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let b64 = public_key_base64(&key).unwrap();
        let body: Vec<String> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            body.join("\n")
        );
        let back = rsa::RsaPublicKey::from_public_key_pem(&pem).unwrap();
        assert_eq!(back, key.to_public_key());
    }
}
