//! TLS: the certificate (configured PEM files, or a self-signed one made
//! once with rcgen and reused), and the rustls acceptor every listener shares.
//!
//! rustls with the `ring` provider and its safe defaults (TLS 1.2 and 1.3).
//! Private keys are written with mode 0600.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::CertSource;

/// The file names of the self-signed certificate in `<data_dir>/tls/`.
pub const SELF_SIGNED_CERT: &str = "cert.pem";
pub const SELF_SIGNED_KEY: &str = "key.pem";

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

/// The rustls server configuration for `cert`, on the ring provider.
pub fn server_config(cert: CertifiedKey) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .context("the certificate and key do not go together")?;
    Ok(Arc::new(config))
}

/// The acceptor every listener shares.
pub fn acceptor(source: &CertSource, hostname: &str) -> anyhow::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(server_config(certificate(
        source, hostname,
    )?)?))
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
        server_config(second).unwrap();
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
