//! Message authentication: DKIM signing of submitted mail (RFC 6376 §5)
//! and, on inbound mail, SPF (RFC 7208), DKIM (RFC 6376 §6) and DMARC
//! (RFC 7489) checks recorded in an Authentication-Results field
//! (RFC 8601). The work is the `mail-auth` crate's; this module holds the
//! policy.
//!
//! Implementation notes:
//! - Signing: `rsa-sha256`, relaxed/relaxed, `d=` the domain of the From:
//!   address (submission has checked the user owns it), one key (`[dkim]`)
//!   for every domain. The signed fields are the usual set (From, To, Cc,
//!   Subject, Date, Message-ID, In-Reply-To, References, MIME fields);
//!   From is listed twice so another From cannot be added (RFC 6376 §8.15).
//! - Verifying: all three checks together get the message's DNS budget
//!   (`[dns] budget`, see `crate::dns`); checks that cannot finish in it
//!   (DNS slow or down) are `temperror` and never reject. Without a
//!   resolver nothing runs, and the session marks the message `none`.
//! - Verdict (RFC 7489 §6.6.3): a DMARC `fail` with policy `reject` is
//!   refused (550 5.7.1); with `quarantine` the message goes to Junk;
//!   anything else is delivered. SPF and DKIM alone only annotate.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner as Signer;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator, Parameters,
    ResolverCache, Txt,
};

const SIGNED_HEADERS: [&str; 13] = [
    "From",
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Reply-To",
];

/// Why a DKIM key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the DKIM key: {0}")]
    Pem(String),
    #[error("cannot use the DKIM key: {0}")]
    Key(String),
}

/// A DKIM signing key and its selector.
pub struct DkimKey {
    selector: String,
    /// PKCS#8 or PKCS#1 DER, parsed again for each signature (the signer
    /// takes its key by value and keys are not `Clone`).
    der: rustls::pki_types::PrivateKeyDer<'static>,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DkimKey(selector {})", self.selector)
    }
}

impl DkimKey {
    /// Loads an RSA key in PEM (PKCS#8 or PKCS#1).
    pub fn from_pem(selector: &str, pem: &[u8]) -> Result<DkimKey, KeyError> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        // Fail now, not at the first message.
        RsaKey::<Sha256>::from_key_der(der.clone_key())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(DkimKey {
            selector: selector.to_string(),
            der,
        })
    }

    /// The `DKIM-Signature` field for `raw` signed as `domain`, CRLF ended.
    pub fn sign(&self, domain: &str, raw: &[u8]) -> Result<String, KeyError> {
        let key = RsaKey::<Sha256>::from_key_der(self.der.clone_key())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        let signer = Signer::from_key(key)
            .domain(domain)
            .selector(&self.selector)
            .headers(SIGNED_HEADERS);
        let signature = signer.sign(raw).map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(signature.to_header())
    }
}

/// TXT records (SPF, DKIM keys, DMARC policies) kept for their TTL, so a
/// burst of mail from one domain costs one lookup. Bounded: when full it
/// is emptied. Records can also be put in by hand ([`TxtCache::insert_record`]),
/// which is how the tests run without DNS.
#[derive(Default)]
pub struct TxtCache {
    entries: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
}

const TXT_CACHE_MAX: usize = 10_000;

impl std::fmt::Debug for TxtCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map_or(0, |e| e.len());
        write!(f, "TxtCache({n} records)")
    }
}

impl TxtCache {
    /// Caches `record` (a TXT record's text) for `name` for an hour.
    pub fn insert_record(&self, name: &str, record: &str) -> Result<(), KeyError> {
        use mail_auth::common::parse::TxtRecordParser;
        let name = format!("{}.", name.trim_end_matches('.').to_lowercase());
        let txt = if name.starts_with("_dmarc.") {
            Txt::from(
                mail_auth::dmarc::Dmarc::parse(record.as_bytes())
                    .map_err(|e| KeyError::Key(e.to_string()))?,
            )
        } else if name.contains("._domainkey.") {
            Txt::from(
                mail_auth::common::verify::DomainKey::parse(record.as_bytes())
                    .map_err(|e| KeyError::Key(e.to_string()))?,
            )
        } else {
            Txt::from(
                mail_auth::spf::Spf::parse(record.as_bytes())
                    .map_err(|e| KeyError::Key(e.to_string()))?,
            )
        };
        self.insert(name.into(), txt, Instant::now() + Duration::from_secs(3600));
        Ok(())
    }
}

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        let (txt, until) = entries.get(name)?;
        (*until > Instant::now()).then(|| txt.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().ok()?.remove(name).map(|(t, _)| t)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= TXT_CACHE_MAX {
                entries.clear();
            }
            entries.insert(key, (value, valid_until));
        }
    }
}

/// The outcome of the inbound checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    /// DMARC quarantine: deliver to Junk.
    Junk,
    /// DMARC reject: refuse with 550 5.7.1 and this reason.
    Reject(String),
}

/// A DMARC evaluation of one inbound message whose author domain asks
/// for aggregate reports (RFC 7489 §7.2): what a report row says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcEvaluation {
    /// The RFC5322.From domain (lowercase).
    pub header_from: String,
    /// The RFC5321.MailFrom domain (or the HELO name for `<>`).
    pub envelope_from: String,
    /// The record's `rua` addresses, each with `!BYTES` when it has a
    /// size limit (RFC 7489 §6.2).
    pub rua: Vec<String>,
    /// `policy_published` as `p sp adkim aspf pct` (`none none r r 100`).
    pub policy: String,
    /// `none`, `quarantine` or `reject`: what we did.
    pub disposition: &'static str,
    /// DKIM and SPF passed in alignment (`policy_evaluated`).
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    /// The first DKIM signature's domain and result (`auth_results`),
    /// empty without one.
    pub dkim_domain: String,
    pub dkim_result: String,
    /// SPF's domain and result.
    pub spf_domain: String,
    pub spf_result: String,
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        _ => "none",
    }
}

/// What the inbound checks run with.
pub struct Checker<'a> {
    pub authenticator: &'a MessageAuthenticator,
    pub cache: &'a TxtCache,
    /// The time all of one message's lookups may take together.
    pub budget: Duration,
}

/// Runs SPF, DKIM and DMARC on an inbound message. Returns the
/// Authentication-Results field (CRLF ended) and the verdict.
pub async fn verify(
    checker: &Checker<'_>,
    hostname: &str,
    ip: IpAddr,
    helo: &str,
    mail_from: &str,
    raw: &[u8],
) -> (String, Verdict) {
    let (results, verdict, _) = evaluate(checker, hostname, ip, helo, mail_from, raw).await;
    (results, verdict)
}

/// [`verify`], and the DMARC evaluation when the author domain's record
/// asks for aggregate reports.
pub async fn evaluate(
    checker: &Checker<'_>,
    hostname: &str,
    ip: IpAddr,
    helo: &str,
    mail_from: &str,
    raw: &[u8],
) -> (String, Verdict, Option<DmarcEvaluation>) {
    let Checker {
        authenticator,
        cache,
        budget,
    } = *checker;
    let checks = async {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            let none = AuthenticationResults::new(hostname);
            return (none.to_header(), Verdict::Deliver, None);
        };
        let dkim = authenticator
            .verify_dkim(Parameters::new(&message).with_txt_cache(cache))
            .await;
        let spf_params = SpfParameters::verify(ip, helo, hostname, mail_from);
        let spf = authenticator
            .verify_spf(Parameters::new(spf_params).with_txt_cache(cache))
            .await;
        let mail_from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc = authenticator
            .verify_dmarc(
                Parameters::new(DmarcParameters::new(
                    &message,
                    &dkim,
                    mail_from_domain,
                    &spf,
                ))
                .with_txt_cache(cache),
            )
            .await;
        let from_domain = message.from().rsplit_once('@').map_or("", |(_, d)| d);
        let results = AuthenticationResults::new(hostname)
            .with_dkim_results(&dkim, from_domain)
            .with_spf_mailfrom_result(&spf, ip, mail_from, helo)
            .with_dmarc_result(&dmarc);
        let verdict = match (dmarc.result(), dmarc.policy()) {
            (DmarcResult::Fail(_), Policy::Reject) => Verdict::Reject(format!(
                "DMARC policy of {} rejects this message",
                dmarc.domain()
            )),
            (DmarcResult::Fail(_), Policy::Quarantine) => Verdict::Junk,
            _ => Verdict::Deliver,
        };
        let evaluation = dmarc
            .dmarc_record()
            .filter(|r| !r.rua.is_empty())
            .map(|record| {
                let first = dkim.iter().find(|d| d.signature().is_some());
                let dkim_word = |r: &mail_auth::DkimResult| match r {
                    mail_auth::DkimResult::Pass => "pass",
                    mail_auth::DkimResult::Fail(_) => "fail",
                    mail_auth::DkimResult::Neutral(_) => "neutral",
                    mail_auth::DkimResult::TempError(_) => "temperror",
                    mail_auth::DkimResult::PermError(_) => "permerror",
                    mail_auth::DkimResult::None => "none",
                };
                let alignment = |a: mail_auth::dmarc::Alignment| match a {
                    mail_auth::dmarc::Alignment::Strict => "s",
                    mail_auth::dmarc::Alignment::Relaxed => "r",
                };
                DmarcEvaluation {
                    header_from: from_domain.to_ascii_lowercase(),
                    envelope_from: mail_from_domain.to_ascii_lowercase(),
                    rua: record
                        .rua
                        .iter()
                        .map(|u| match u.max_size {
                            0 => u.uri.clone(),
                            n => format!("{}!{n}", u.uri),
                        })
                        .collect(),
                    policy: format!(
                        "{} {} {} {} 100",
                        policy_word(record.p),
                        policy_word(record.sp),
                        alignment(record.adkim),
                        alignment(record.aspf)
                    ),
                    disposition: match &verdict {
                        Verdict::Reject(_) => "reject",
                        Verdict::Junk => "quarantine",
                        Verdict::Deliver => "none",
                    },
                    dkim_aligned: matches!(dmarc.dkim_result(), DmarcResult::Pass),
                    spf_aligned: matches!(dmarc.spf_result(), DmarcResult::Pass),
                    dkim_domain: first
                        .and_then(|d| d.signature())
                        .map(|s| s.d.to_ascii_lowercase())
                        .unwrap_or_default(),
                    dkim_result: first
                        .map(|d| dkim_word(d.result()))
                        .unwrap_or("none")
                        .into(),
                    spf_domain: spf.domain().to_ascii_lowercase(),
                    spf_result: spf.result().to_string().to_ascii_lowercase(),
                }
            });
        (results.to_header(), verdict, evaluation)
    };
    match tokio::time::timeout(budget, checks).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(
                "the SPF/DKIM/DMARC checks of a message from {mail_from} ran out of the DNS budget ({budget:?}): temperror"
            );
            (
                format!(
                    "Authentication-Results: {hostname}; spf=temperror; dkim=temperror; dmarc=temperror\r\n"
                ),
                Verdict::Deliver,
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit key made for these tests only (`testdata/dkim-test.key`).
    fn key() -> DkimKey {
        DkimKey::from_pem("s1", include_bytes!("../testdata/dkim-test.key")).unwrap()
    }

    async fn check(cache: &TxtCache, raw: &[u8]) -> (String, Verdict) {
        let authenticator = MessageAuthenticator::new_system_conf().unwrap();
        let checker = Checker {
            authenticator: &authenticator,
            cache,
            budget: Duration::from_secs(5),
        };
        verify(
            &checker,
            "mx.example.org",
            "192.0.2.9".parse().unwrap(),
            "client.evil.test",
            "ceo@evil.test",
            raw,
        )
        .await
    }

    /// DMARC policies with records put in the cache (no DNS): an SPF fail
    /// and no DKIM signature fail DMARC; the policy decides.
    #[tokio::test]
    async fn dmarc_reject_refuses_and_quarantine_goes_to_junk() {
        let raw = b"From: CEO <ceo@evil.test>\r\nSubject: pay\r\n\r\nnow\r\n";
        for (policy, verdict) in [
            (
                "reject",
                Verdict::Reject("DMARC policy of evil.test rejects this message".into()),
            ),
            ("quarantine", Verdict::Junk),
            ("none", Verdict::Deliver),
        ] {
            let cache = TxtCache::default();
            cache.insert_record("evil.test", "v=spf1 -all").unwrap();
            cache
                .insert_record("client.evil.test", "v=spf1 -all")
                .unwrap();
            cache
                .insert_record("_dmarc.evil.test", &format!("v=DMARC1; p={policy}"))
                .unwrap();
            let (results, got) = check(&cache, raw).await;
            assert_eq!(got, verdict, "{policy}: {results}");
            assert!(
                results.starts_with("Authentication-Results: mx.example.org;"),
                "{results}"
            );
            assert!(
                results.contains("spf=fail") && results.contains("dmarc=fail"),
                "{results}"
            );
        }
    }

    /// A message Tidings signed passes DKIM and DMARC with the key's record.
    #[tokio::test]
    async fn a_tidings_signature_verifies() {
        let raw = b"From: CEO <ceo@evil.test>\r\nSubject: signed\r\n\r\nbody\r\n".to_vec();
        let sig = key().sign("evil.test", &raw).unwrap();
        let mut signed = sig.into_bytes();
        signed.extend_from_slice(&raw);
        let public = public_key_b64();
        let cache = TxtCache::default();
        cache.insert_record("evil.test", "v=spf1 -all").unwrap();
        cache
            .insert_record("client.evil.test", "v=spf1 -all")
            .unwrap();
        cache
            .insert_record("_dmarc.evil.test", "v=DMARC1; p=reject")
            .unwrap();
        cache
            .insert_record(
                "s1._domainkey.evil.test",
                &format!("v=DKIM1; k=rsa; p={public}"),
            )
            .unwrap();
        let (results, verdict) = check(&cache, &signed).await;
        assert_eq!(verdict, Verdict::Deliver, "{results}");
        assert!(
            results.contains("dkim=pass") && results.contains("dmarc=pass"),
            "{results}"
        );
    }

    /// The test key's public half, base64 DER (SubjectPublicKeyInfo).
    fn public_key_b64() -> String {
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "PEM", "-in"])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/testdata/dkim-test.key"
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }

    #[test]
    fn signs_with_the_from_domain_and_selector() {
        let k = key();
        let raw = b"From: Bob <bob@example.org>\r\nTo: x@y.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let sig = k.sign("example.org", raw).unwrap();
        assert!(sig.starts_with("DKIM-Signature: "), "{sig}");
        assert!(
            sig.contains("d=example.org") && sig.contains("s=s1"),
            "{sig}"
        );
        assert!(sig.contains("a=rsa-sha256"), "{sig}");
        assert!(sig.ends_with("\r\n"));
    }
}
