//! Certificates from an ACME CA (RFC 8555), with `instant-acme`.
//!
//! With `[acme] directory` set, a task orders one certificate for the
//! configured names (default: the hostname) when there is none or it has
//! less than `renew_before` left, proving each name with the HTTP-01
//! challenge (§8.3: the CA fetches
//! `http://NAME/.well-known/acme-challenge/TOKEN`, which the HTTP listener
//! answers from [`AcmeChallenges`] while the order is pending; plain HTTP
//! serves that path even on a public address) or TLS-ALPN-01 (RFC 8737:
//! the CA connects to the HTTPS port offering ALPN `acme-tls/1` and gets a
//! certificate made for the challenge, see
//! [`Certificates::start_alpn_challenge`]). The account key, the
//! certificate chain and its key are kept in `<data_dir>/acme/`
//! (`account.json`, `cert.pem`, `key.pem`; keys mode 0600), so a restart
//! orders nothing. Once written, the certificates are reloaded: the new one
//! is the default certificate of every TLS port, and connections already
//! open keep theirs. A failed order is logged and tried again after
//! `retry_after`; the certificate in use stays.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tidings_types::civil::{civil_from_days, days_from_civil};
use tidings_web::AcmeChallenges;
use tokio_util::sync::CancellationToken;

use crate::config::{AcmeChallenge, AcmeSettings};
use crate::tls::{ACME_CERT, ACME_KEY, Certificates};

const ACCOUNT: &str = "account.json";

/// How often a valid certificate's expiry is looked at again.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);

/// Starts the certificate task; it ends with `shutdown`.
pub fn spawn(
    settings: AcmeSettings,
    certs: Arc<Certificates>,
    challenges: AcmeChallenges,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let wait = match due(&settings) {
                None => match order(&settings, &challenges, &certs).await {
                    Ok(until) => {
                        match certs.reload() {
                            Ok(()) => tracing::info!(
                                names = %settings.names.join(" "),
                                "ACME certificate in use, valid until {}",
                                unix_date(until)
                            ),
                            Err(e) => tracing::warn!("ACME certificate not loaded: {e:#}"),
                        }
                        CHECK_EVERY
                    }
                    Err(e) => {
                        tracing::warn!(
                            names = %settings.names.join(" "),
                            "ACME order failed: {e:#}; trying again in {}s",
                            settings.retry_after.as_secs()
                        );
                        settings.retry_after
                    }
                },
                Some(wait) => wait,
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// `None` if a certificate is needed now, else how long until it is (at
/// most [`CHECK_EVERY`]).
fn due(settings: &AcmeSettings) -> Option<Duration> {
    let chain = CertificateDer::pem_file_iter(settings.dir.join(ACME_CERT))
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let not_after = not_after(chain.first()?)?;
    if !settings.dir.join(ACME_KEY).exists() {
        return None;
    }
    let renew_at = not_after.saturating_sub(settings.renew_before.as_secs());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if renew_at <= now {
        return None;
    }
    tracing::info!(
        "ACME certificate valid until {}; renewal from {}",
        unix_date(not_after),
        unix_date(renew_at)
    );
    Some(Duration::from_secs(renew_at - now).min(CHECK_EVERY))
}

/// Orders a certificate for the configured names and writes it; returns
/// its expiry (Unix seconds).
async fn order(
    settings: &AcmeSettings,
    challenges: &AcmeChallenges,
    certs: &Certificates,
) -> anyhow::Result<u64> {
    crate::tls::create_private_dir(&settings.dir)?;
    let account = account(settings).await?;
    let identifiers: Vec<Identifier> = settings
        .names
        .iter()
        .map(|n| Identifier::Dns(n.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .context("new order")?;
    let mut tokens = Vec::new();
    let mut alpn_names = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.context("authorization")?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => bail!("an authorization is {other:?}"),
            }
            let kind = match settings.challenge {
                AcmeChallenge::Http01 => ChallengeType::Http01,
                AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            };
            let mut challenge = authz.challenge(kind).with_context(|| {
                format!("the CA offers no {} challenge", settings.challenge.as_str())
            })?;
            let name = challenge.identifier().to_string();
            let key_authorization = challenge.key_authorization();
            match settings.challenge {
                AcmeChallenge::Http01 => {
                    let token = challenge.token.clone();
                    challenges
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(token.clone(), key_authorization.as_str().to_string());
                    tokens.push(token);
                }
                AcmeChallenge::TlsAlpn01 => {
                    certs.start_alpn_challenge(&name, key_authorization.digest().as_ref())?;
                    alpn_names.push(name);
                }
            }
            challenge.set_ready().await.context("challenge ready")?;
        }
        let retry = RetryPolicy::new().timeout(Duration::from_secs(120));
        let status = order.poll_ready(&retry).await.context("validation")?;
        if status != OrderStatus::Ready {
            bail!("the order is {status:?} after validation");
        }
        let key_pem = order.finalize().await.context("finalize")?;
        let chain_pem = order
            .poll_certificate(&retry)
            .await
            .context("certificate")?;
        Ok((key_pem, chain_pem))
    }
    .await;
    {
        let mut map = challenges.write().unwrap_or_else(|e| e.into_inner());
        for t in &tokens {
            map.remove(t);
        }
    }
    for name in &alpn_names {
        certs.end_alpn_challenge(name);
    }
    let (key_pem, chain_pem) = result?;
    let first = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .context("the CA sent no certificate")?
        .context("the CA's certificate does not parse")?;
    let until = not_after(&first).context("the CA's certificate has no expiry we can read")?;
    // Key first: a certificate without its key would not load.
    crate::tls::write_private(&settings.dir.join(ACME_KEY), key_pem.as_bytes())?;
    write_durably(&settings.dir.join(ACME_CERT), chain_pem.as_bytes())?;
    Ok(until)
}

/// The ACME account: the one in `account.json`, else a new one (saved).
async fn account(settings: &AcmeSettings) -> anyhow::Result<Account> {
    let builder = || match &settings.ca_file {
        Some(ca) => Account::builder_with_root(ca)
            .with_context(|| format!("[acme] ca_file {}", ca.display())),
        None => Account::builder().context("ACME HTTP client"),
    };
    let path = settings.dir.join(ACCOUNT);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let credentials: AccountCredentials = serde_json::from_str(&text)
            .with_context(|| format!("{} does not parse", path.display()))?;
        return builder()?
            .from_credentials(credentials)
            .await
            .context("ACME account");
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .with_context(|| format!("new ACME account at {}", settings.directory))?;
    let json = serde_json::to_string(&credentials).context("account credentials")?;
    crate::tls::write_private(&path, json.as_bytes())?;
    tracing::info!(directory = %settings.directory, "made an ACME account");
    Ok(account)
}

/// Writes a file whole: a temporary file, fsynced, renamed over the old.
fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    crate::tls::write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds.
fn unix_date(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        day(secs),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD` of Unix seconds (UTC).
pub(crate) fn day(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400).try_into().unwrap_or(i64::MAX));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `notAfter` of an X.509 certificate (RFC 5280 §4.1.2.5), Unix
/// seconds: the few DER steps to it, nothing more.
pub fn not_after(cert: &[u8]) -> Option<u64> {
    let (_, cert_body, _) = der(cert)?; // Certificate SEQUENCE
    let (_, tbs, _) = der(cert_body)?; // TBSCertificate SEQUENCE
    let mut rest = tbs;
    // [0] version (optional), serial, signature algorithm, issuer.
    let (tag, _, after) = der(rest)?;
    rest = after;
    if tag == 0xa0 {
        let (_, _, after) = der(rest)?; // serial
        rest = after;
    }
    let (_, _, after) = der(rest)?; // signature algorithm
    let (_, _, after) = der(after)?; // issuer
    let (_, validity, _) = der(after)?;
    let (_, _, after) = der(validity)?; // notBefore
    let (tag, time, _) = der(after)?;
    let text = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            // UTCTime YYMMDDHHMMSSZ: 50–99 are 19xx.
            let yy: i64 = text.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(0..4)?.parse().ok()?, text.get(4..)?), // GeneralizedTime
        _ => return None,
    };
    if !rest.ends_with('Z') || rest.len() < 11 {
        return None;
    }
    let field = |i: usize| -> Option<u32> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month.into(), day.into());
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec);
    u64::try_from(secs).ok()
}

/// One DER element: (tag, contents, what follows).
fn der(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (len, start) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in bytes.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, bytes.get(start..end)?, bytes.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_after_of_rcgen_certificates() {
        for (y, m, d) in [(2031, 7, 9), (2049, 12, 31), (2050, 1, 1), (1999, 3, 1)] {
            let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
            params.not_after = rcgen::date_time_ymd(y, m, d);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let want =
                u64::try_from(days_from_civil(i64::from(y), m.into(), d.into()) * 86_400).unwrap();
            assert_eq!(not_after(cert.der()), Some(want), "{y}-{m}-{d}");
            assert_eq!(
                unix_date(want),
                format!("{y:04}-{m:02}-{d:02} 00:00:00 UTC")
            );
        }
        assert_eq!(not_after(b"\x30\x03\x02\x01"), None);
        assert_eq!(not_after(b""), None);
    }
}
