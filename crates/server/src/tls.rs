//! TLS: the certificate (configured PEM files, or a self-signed one made
//! once with rcgen and reused), the certificates per server name (SNI,
//! `[tls.sni]`), and the rustls acceptor every listener shares.
//!
//! rustls with the `ring` provider and its safe defaults (TLS 1.2 and 1.3).
//! Private keys are written with mode 0600.
//!
//! [`Certificates`] is the acceptor's certificate resolver: it picks the
//! certificate by the name the client asked for (exact, then `*.parent`),
//! else the default one. [`Certificates::reload`] reads every file again
//! and swaps them in only if all load and match their keys; handshakes
//! already done keep their certificate, so no connection is dropped. The
//! server reloads on SIGHUP and when a file's modification time changes.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::CertSource;

/// The file names of the self-signed certificate in `<data_dir>/tls/`.
pub const SELF_SIGNED_CERT: &str = "cert.pem";
pub const SELF_SIGNED_KEY: &str = "key.pem";

/// The file names of the ACME certificate and its key in `<data_dir>/acme/`.
pub const ACME_CERT: &str = "cert.pem";
pub const ACME_KEY: &str = "key.pem";

/// A loaded certificate chain and key.
#[derive(Debug)]
pub struct CertifiedKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Loads the configured certificate, or makes (first start) or reuses
/// (later starts) the self-signed one for `hostname`.
pub fn certificate(source: &CertSource, hostname: &str) -> anyhow::Result<CertifiedKey> {
    match source {
        CertSource::Files { cert, key } => load_pem(cert, key),
        CertSource::SelfSigned { dir } => {
            let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
            if !(cert.exists() && key.exists()) {
                let (cert_pem, key_pem) = self_signed(hostname)?;
                create_private_dir(dir)?;
                write_private(&key, key_pem.as_bytes())?;
                std::fs::write(&cert, cert_pem)
                    .with_context(|| format!("cannot write {}", cert.display()))?;
                tracing::info!(cert = %cert.display(), "made a self-signed certificate for {hostname}");
            }
            load_pem(&cert, &key)
        }
    }
}

/// A self-signed certificate (PEM) and its ECDSA P-256 key (PKCS#8 PEM) for
/// `hostname`, `localhost`, `127.0.0.1` and `::1`.
pub fn self_signed(hostname: &str) -> anyhow::Result<(String, String)> {
    let mut names = vec![hostname.to_string()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names)
        .with_context(|| format!("cannot make a certificate for `{hostname}`"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("cannot sign the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn load_pem(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    Ok(CertifiedKey { chain, key })
}

/// The acceptor every listener shares, with its certificates (to reload).
pub fn acceptor(
    source: &CertSource,
    hostname: &str,
    sni: &[SniCert],
    acme: Option<&Path>,
) -> anyhow::Result<(TlsAcceptor, Arc<Certificates>)> {
    let certs = Arc::new(Certificates::load(source, hostname, sni, acme)?);
    Ok((acceptor_for(&certs, &[])?, certs))
}

/// ALPN of the HTTPS port: HTTP/2 and HTTP/1.1, and `acme-tls/1` for the
/// ACME TLS-ALPN-01 challenge (RFC 8737), which only a CA's validator
/// offers.
pub const HTTPS_ALPN: [&[u8]; 3] = [b"h2", b"http/1.1", ACME_TLS_ALPN];

/// The ALPN protocol of RFC 8737.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// An acceptor over the same certificates offering `alpn` (the mail ports
/// offer none: a client's ALPN list that names none of ours would
/// otherwise end the handshake).
pub fn acceptor_for(certs: &Arc<Certificates>, alpn: &[&[u8]]) -> anyhow::Result<TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_cert_resolver(certs.clone());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A certificate for the server names it is configured for (`[tls.sni]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniCert {
    /// Lower case; `*.example.org` matches one label under example.org.
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

type Signed = Arc<rustls::sign::CertifiedKey>;

#[derive(Debug)]
struct Loaded {
    default: Signed,
    by_name: HashMap<String, Signed>,
}

/// The certificates the server presents, reloadable (see the module docs).
#[derive(Debug)]
pub struct Certificates {
    source: CertSource,
    hostname: String,
    sni: Vec<SniCert>,
    /// `<data_dir>/acme` when `[acme]` is on: its certificate, once
    /// there, is the default one.
    acme: Option<PathBuf>,
    loaded: RwLock<Arc<Loaded>>,
    /// TLS-ALPN-01 challenge certificates by name, while an ACME order is
    /// pending: presented only to a client that offers `acme-tls/1`.
    alpn_challenges: RwLock<HashMap<String, Signed>>,
}

impl Certificates {
    fn load(
        source: &CertSource,
        hostname: &str,
        sni: &[SniCert],
        acme: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let loaded = load_all(source, hostname, sni, acme)?;
        Ok(Certificates {
            source: source.clone(),
            hostname: hostname.to_string(),
            sni: sni.to_vec(),
            acme: acme.map(Path::to_path_buf),
            alpn_challenges: RwLock::default(),
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    /// Reads every certificate again; on any error the ones in use stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load_all(
            &self.source,
            &self.hostname,
            &self.sni,
            self.acme.as_deref(),
        )?;
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The modification times of the configured files, to notice a change.
    pub fn file_times(&self) -> Vec<Option<SystemTime>> {
        let mut paths: Vec<&Path> = Vec::new();
        if let CertSource::Files { cert, key } = &self.source {
            paths.extend([cert.as_path(), key.as_path()]);
        }
        for s in &self.sni {
            paths.extend([s.cert.as_path(), s.key.as_path()]);
        }
        let acme: Vec<PathBuf> = self
            .acme
            .iter()
            .flat_map(|d| [d.join(ACME_CERT), d.join(ACME_KEY)])
            .collect();
        paths.extend(acme.iter().map(PathBuf::as_path));
        paths
            .into_iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// Presents the RFC 8737 challenge certificate (a self-signed one for
    /// `name` whose critical acmeIdentifier extension holds the SHA-256 of
    /// the key authorization) to validators that ask for `name` with ALPN
    /// `acme-tls/1`, until [`Certificates::end_alpn_challenge`].
    pub fn start_alpn_challenge(&self, name: &str, digest: &[u8]) -> anyhow::Result<()> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()])
            .with_context(|| format!("cannot make a challenge certificate for `{name}`"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
        let key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
        let cert = params
            .self_signed(&key)
            .context("cannot sign the challenge certificate")?;
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("challenge key: {e}"))?;
        // Not `signed()`: its key check parses the certificate, and the
        // critical acmeIdentifier extension is one a parser must refuse.
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .context("unsupported private key type")?;
        let signed = Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert.der().clone()],
            signing,
        ));
        self.alpn_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_ascii_lowercase(), signed);
        Ok(())
    }

    /// Stops presenting `name`'s challenge certificate.
    pub fn end_alpn_challenge(&self, name: &str) {
        self.alpn_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name.to_ascii_lowercase());
    }

    fn pick(&self, name: Option<&str>) -> Signed {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(name) = name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(c) = loaded.by_name.get(&name) {
                return c.clone();
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(c) = loaded.by_name.get(&format!("*.{parent}"))
            {
                return c.clone();
            }
        }
        loaded.default.clone()
    }
}

impl rustls::server::ResolvesServerCert for Certificates {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Signed> {
        // A validator offers `acme-tls/1` alone (RFC 8737 §3); it gets the
        // challenge certificate or nothing, never the real one.
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN))
        {
            let name = hello
                .server_name()?
                .trim_end_matches('.')
                .to_ascii_lowercase();
            return self
                .alpn_challenges
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .cloned();
        }
        Some(self.pick(hello.server_name()))
    }
}

fn load_all(
    source: &CertSource,
    hostname: &str,
    sni: &[SniCert],
    acme: Option<&Path>,
) -> anyhow::Result<Loaded> {
    let from_acme = acme
        .map(|d| (d.join(ACME_CERT), d.join(ACME_KEY)))
        .filter(|(c, k)| c.exists() && k.exists())
        .and_then(|(c, k)| match load_pem(&c, &k).and_then(signed) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(
                    "the ACME certificate {} is not usable ({e:#}); using the [tls] one",
                    c.display()
                );
                None
            }
        });
    let default = match from_acme {
        Some(s) => s,
        None => signed(certificate(source, hostname)?)?,
    };
    let mut by_name = HashMap::new();
    for s in sni {
        let c = signed(load_pem(&s.cert, &s.key)?)
            .with_context(|| format!("[tls.sni.\"{}\"]", s.name))?;
        by_name.insert(s.name.clone(), c);
    }
    Ok(Loaded { default, by_name })
}

/// The chain with its signing key, checked to belong together.
fn signed(cert: CertifiedKey) -> anyhow::Result<Signed> {
    let key = rustls::crypto::ring::sign::any_supported_type(&cert.key)
        .context("unsupported private key type")?;
    let signed = rustls::sign::CertifiedKey::new(cert.chain, key);
    signed
        .keys_match()
        .context("the certificate and key do not go together")?;
    Ok(Arc::new(signed))
}

/// Creates `dir` (and parents) and makes it private to its owner.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Writes a secret file: mode 0600 from its creation on, then fsynced.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The file may have existed with a wider mode.
    set_mode(path, 0o600)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = CertSource::SelfSigned {
            dir: dir.path().join("tls"),
        };
        let first = certificate(&source, "mail.example.org").unwrap();
        let second = certificate(&source, "mail.example.org").unwrap();
        assert_eq!(first.chain, second.chain);
        signed(second).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &str| {
                std::fs::metadata(dir.path().join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode("tls/key.pem"), 0o600);
            assert_eq!(mode("tls"), 0o700);
        }
    }

    #[test]
    fn missing_configured_files_are_named() {
        let source = CertSource::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let e = certificate(&source, "x").unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/cert.pem"));
    }
}
