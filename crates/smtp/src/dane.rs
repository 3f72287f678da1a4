//! DANE for outbound SMTP (RFC 7672, with RFC 6698 and RFC 7671): TLSA
//! records of an MX host, trusted only when DNSSEC vouches for them, say
//! which certificate the host must present.
//!
//! Implementation notes:
//! - Tidings does not validate DNSSEC itself. With `[dns] dnssec = true`
//!   the administrator declares that the configured resolver validates
//!   (and that the path to it is trusted, typically loopback), as Postfix's
//!   `smtp_dns_support_level = dnssec` does; an answer is then "secure"
//!   when the resolver sets the AD bit (RFC 4035 §3.2.3, asked for with AD
//!   in the query, RFC 6840 §5.7). Without it no TLSA record is looked up
//!   and there is no DANE. [`DaneResolver`] asks these questions itself
//!   (UDP, TCP when truncated) so that it sees the AD bit.
//! - Per MX host from DNS (RFC 7672 §2.2): its address records must be
//!   secure, else there is no DANE for it (§2.2.2). Then the TLSA records
//!   of `_25._tcp.<base>`: none, or an insecure answer, is no DANE; a
//!   failed lookup (SERVFAIL, no answer) for a host with secure addresses
//!   skips the host for now ([`HostDane::Failed`]: the records may exist
//!   and be withheld by an attacker). The MX records themselves need not
//!   be secure (§2.2.1 allows DANE for the hosts of an insecure MX
//!   RRset).
//! - An MX host name that is an alias (§2.2.2): when the whole CNAME
//!   chain and the addresses at its end are secure (the resolver's AD bit
//!   on the address answer), the TLSA base domain is the expanded name,
//!   and the original name only when the expanded one has no TLSA
//!   records; when only the first link is secure (the AD bit on a CNAME
//!   query for the MX host name itself), the base domain is the original
//!   name; when not even that, no DANE. The certificate then may carry
//!   either name (§3.2.2).
//! - Hosts of the administrator's routes (`[smtp] relay`, `[smtp.mx]`) by
//!   name: the same, with the route's port in the TLSA name
//!   (`_587._tcp.smarthost.example.net`, as Postfix does for
//!   `[host]:port`); an IP literal has no DANE.
//! - Usable records (§3.1): usage DANE-TA(2) or DANE-EE(3), selector
//!   Cert(0) or SPKI(1), matching Full(0), SHA2-256(1) or SHA2-512(2)
//!   with a digest of the right length. PKIX-TA(0) and PKIX-EE(1) are not
//!   usable for SMTP (§3.1.3). Secure records none of which is usable:
//!   STARTTLS is still required, the certificate is not checked
//!   ([`HostDane::Encrypt`], §2.2, Postfix's `encrypt` level).
//! - With usable records ([`HostDane::Verify`]) STARTTLS is required and
//!   the certificate checked ([`verifier`]): a DANE-EE record matches the
//!   server's own certificate, and then neither its names nor its dates
//!   are looked at (§3.1.1); a DANE-TA record matches a certificate of
//!   the chain the server sends (which must include its trust anchor,
//!   §3.1.2), which then serves as the only root for an ordinary WebPKI
//!   check of the chain, dates and the MX host name (§3.2.2). No match
//!   fails the handshake, and the delivery waits (never plain text, never
//!   another certificate).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dns::{DnsConfig, LOOKUP_TIMEOUT, Resolver};

/// One TLSA record (RFC 6698 §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

/// Certificate usages (RFC 7218 names).
const DANE_TA: u8 = 2;
const DANE_EE: u8 = 3;

impl Tlsa {
    /// Whether an SMTP client may use the record (see the module notes).
    pub fn usable(&self) -> bool {
        matches!(self.usage, DANE_TA | DANE_EE)
            && matches!(self.selector, 0 | 1)
            && match self.matching {
                0 => !self.data.is_empty(),
                1 => self.data.len() == 32,
                2 => self.data.len() == 64,
                _ => false,
            }
    }

    /// Whether the record matches `cert` (DER): its selected part, digested
    /// as the matching type says.
    pub fn matches(&self, cert: &[u8]) -> bool {
        let selected = match self.selector {
            0 => cert,
            1 => match spki(cert) {
                Some(s) => s,
                None => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data.as_slice(),
            1 => ring::digest::digest(&ring::digest::SHA256, selected).as_ref() == self.data,
            2 => ring::digest::digest(&ring::digest::SHA512, selected).as_ref() == self.data,
            _ => false,
        }
    }
}

/// One DER element at the start of `der`: (tag, whole element, content).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, der.get(..end)?, der.get(header..end)?))
}

/// The SubjectPublicKeyInfo (whole DER element) of an X.509 certificate
/// (RFC 5280 §4.1): the seventh element of the TBSCertificate, counting
/// the optional `[0]` version.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, _, certificate) = der_element(cert)? else {
        return None;
    };
    let (0x30, _, mut tbs) = der_element(certificate)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        let (_, whole, _) = der_element(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        let (_, whole, _) = der_element(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    match der_element(tbs)? {
        (0x30, whole, _) => Some(whole),
        _ => None,
    }
}

/// What DANE says about one MX host.
#[derive(Clone, Debug)]
pub enum HostDane {
    /// No DANE: insecure addresses, no TLSA records, or an insecure answer.
    None,
    /// Secure TLSA records, some usable: STARTTLS required, the certificate
    /// checked against the usable ones. `base` is the TLSA base domain
    /// when it is not the host name itself (a CNAME-expanded name).
    Verify {
        records: Arc<Vec<Tlsa>>,
        base: Option<String>,
    },
    /// Secure TLSA records, none usable: STARTTLS required, unchecked.
    Encrypt,
    /// The host's addresses are secure but its TLSA records could not be
    /// had: not delivered to now.
    Failed(String),
}

/// An answer and whether the resolver vouched for it.
struct Answer {
    secure: bool,
    records: Vec<RData>,
    /// Where the CNAME chain of the answer ends (lowercase, no final
    /// dot); `None` when the name asked for is no alias.
    expanded: Option<String>,
}

/// The end of the CNAME chain from `name` among `answers` (at most 8
/// links, RFC 1034 §3.6.2 leaves loops to the resolver).
fn expand(name: &str, answers: &[hickory_resolver::proto::rr::Record]) -> Option<String> {
    let key = |n: &Name| n.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let mut at = name.trim_end_matches('.').to_ascii_lowercase();
    let mut expanded = None;
    for _ in 0..8 {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if key(&r.name) == at => Some(key(&target.0)),
            _ => None,
        });
        match next {
            Some(target) => {
                at = target.clone();
                expanded = Some(target);
            }
            None => break,
        }
    }
    expanded
}

/// Asks the validating resolver (see the module notes).
#[derive(Clone, Debug)]
pub struct DaneResolver {
    servers: Vec<SocketAddr>,
}

impl DaneResolver {
    /// `None` unless `[dns] dnssec` says the resolver validates.
    pub fn new(config: &DnsConfig) -> Result<Option<DaneResolver>, String> {
        if !config.dnssec {
            return Ok(None);
        }
        let servers = match config.resolver {
            Resolver::Off => return Ok(None),
            Resolver::Addr(addr) => vec![addr],
            Resolver::System => {
                let (conf, _) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
                conf.name_servers()
                    .iter()
                    .map(|ns| {
                        let port = ns.connections.first().map_or(53, |c| c.port);
                        SocketAddr::new(ns.ip, port)
                    })
                    .collect()
            }
        };
        if servers.is_empty() {
            return Err("no resolver to ask for TLSA records".into());
        }
        Ok(Some(DaneResolver { servers }))
    }

    /// DANE for the host `host` at `ip`, on `port` (25 for an MX; see
    /// the module notes).
    pub async fn host(&self, host: &str, ip: IpAddr, port: u16) -> HostDane {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let address_type = match ip {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::AAAA,
        };
        let cannot_tell = |e: String| {
            HostDane::Failed(format!(
                "DANE: cannot tell whether the address of {host} is DNSSEC-signed: {e}"
            ))
        };
        let addresses = match self.query(&host, address_type).await {
            Ok(a) => a,
            Err(e) => return cannot_tell(e),
        };
        // RFC 7672 §2.2.2: the TLSA base domains to try, in order.
        let bases: Vec<String> = match (addresses.secure, addresses.expanded) {
            (true, Some(expanded)) if expanded != host => vec![expanded, host.clone()],
            (true, _) => vec![host.clone()],
            (false, Some(_)) => match self.query(&host, RecordType::CNAME).await {
                // The alias itself is signed, what it points to is not.
                Ok(alias) if alias.secure => vec![host.clone()],
                Ok(_) => return HostDane::None,
                Err(e) => return cannot_tell(e),
            },
            (false, None) => return HostDane::None,
        };
        for base in bases {
            let name = format!("_{port}._tcp.{base}");
            let answer = match self.query(&name, RecordType::TLSA).await {
                Ok(a) => a,
                Err(e) => {
                    return HostDane::Failed(format!(
                        "DANE: the TLSA lookup of {name} failed ({e}); {host} has DNSSEC-signed addresses, so it may have TLSA records"
                    ));
                }
            };
            let records: Vec<Tlsa> = answer
                .records
                .into_iter()
                .filter_map(|r| match r {
                    RData::TLSA(t) => Some(Tlsa {
                        usage: t.cert_usage.into(),
                        selector: t.selector.into(),
                        matching: t.matching.into(),
                        data: t.cert_data,
                    }),
                    _ => None,
                })
                .collect();
            if records.is_empty() {
                continue;
            }
            if !answer.secure {
                tracing::debug!("DANE: the TLSA records of {name} are not DNSSEC-signed: ignored");
                continue;
            }
            let usable: Vec<Tlsa> = records.into_iter().filter(Tlsa::usable).collect();
            return if usable.is_empty() {
                HostDane::Encrypt
            } else {
                HostDane::Verify {
                    records: Arc::new(usable),
                    base: (base != host).then_some(base),
                }
            };
        }
        HostDane::None
    }

    /// One question to the first server that answers; NXDOMAIN and an
    /// empty answer are answers. SERVFAIL and the like are errors.
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, String> {
        let qname = Name::from_ascii(format!("{name}.")).map_err(|e| e.to_string())?;
        let mut last = String::from("no resolver");
        for server in &self.servers {
            match tokio::time::timeout(LOOKUP_TIMEOUT, ask(*server, &qname, rtype)).await {
                Ok(Ok(response)) => match response.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        return Ok(Answer {
                            secure: response.metadata.authentic_data,
                            expanded: expand(name, &response.answers),
                            records: response
                                .answers
                                .into_iter()
                                .filter(|r| r.record_type() == rtype)
                                .map(|r| r.data)
                                .collect(),
                        });
                    }
                    code => last = format!("{server} answered {code}"),
                },
                Ok(Err(e)) => last = format!("{server}: {e}"),
                Err(_) => last = format!("{server} did not answer in {LOOKUP_TIMEOUT:?}"),
            }
        }
        Err(last)
    }
}

/// Sends one query with AD and DO set (so that a validating resolver says
/// whether it validated), over UDP, and again over TCP when truncated.
async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Message, String> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.metadata.authentic_data = true;
    query.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232).set_dnssec_ok(true);
    query.set_edns(edns);
    let id = query.metadata.id;
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().map_err(|_| "bind")?,
        SocketAddr::V6(_) => "[::]:0".parse().map_err(|_| "bind")?,
    };
    let udp = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| e.to_string())?;
    udp.connect(server).await.map_err(|e| e.to_string())?;
    udp.send(&bytes).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let response = loop {
        let n = udp.recv(&mut buf).await.map_err(|e| e.to_string())?;
        // Anything else is a stray or forged datagram: wait for ours.
        if let Ok(m) = Message::from_vec(&buf[..n])
            && m.metadata.id == id
            && m.queries.first().is_some_and(|q| q.name() == name)
        {
            break m;
        }
    };
    if !response.metadata.truncation {
        return Ok(response);
    }
    let mut tcp = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long")?;
    tcp.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(&bytes).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut reply)
        .await
        .map_err(|e| e.to_string())?;
    let m = Message::from_vec(&reply).map_err(|e| e.to_string())?;
    if m.metadata.id != id {
        return Err("a TCP answer to another query".into());
    }
    Ok(m)
}

/// A TLS client configuration that accepts only a certificate one of
/// `records` (all usable) vouches for; `base` is the TLSA base domain
/// when it is not the host name (see the module notes).
pub fn verifying_tls(
    records: Arc<Vec<Tlsa>>,
    base: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier(records, base, provider)?))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate check of [`HostDane::Verify`].
pub fn verifier(
    records: Arc<Vec<Tlsa>>,
    base: Option<&str>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<DaneVerifier, String> {
    let base = base
        .map(|b| {
            rustls::pki_types::ServerName::try_from(b.to_string())
                .map_err(|e| format!("DANE: the TLSA base domain {b}: {e}"))
        })
        .transpose()?;
    Ok(DaneVerifier {
        records,
        base,
        provider,
    })
}

/// Checks a server's certificate against TLSA records.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Arc<Vec<Tlsa>>,
    /// A CNAME-expanded TLSA base domain, which the certificate may
    /// carry instead of the host name (RFC 7672 §3.2.2).
    base: Option<rustls::pki_types::ServerName<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        // RFC 7672 §3.1.1: DANE-EE binds the key; names and dates do not count.
        if self
            .records
            .iter()
            .any(|r| r.usage == DANE_EE && r.matches(end_entity))
        {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        let mut why = String::from("no TLSA record matches the certificate");
        for anchor in intermediates {
            if !self
                .records
                .iter()
                .any(|r| r.usage == DANE_TA && r.matches(anchor))
            {
                continue;
            }
            // RFC 7672 §3.1.2: the matched certificate is the trust anchor.
            let mut roots = rustls::RootCertStore::empty();
            if let Err(e) = roots.add(anchor.clone().into_owned()) {
                why = format!("the DANE-TA certificate is not usable as a trust anchor: {e}");
                continue;
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&self.provider),
            )
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
            // RFC 7672 §3.2.2: the host name, or the TLSA base domain it
            // expanded to.
            for name in std::iter::once(server_name).chain(self.base.as_ref()) {
                match webpki.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
                {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        why = format!("the chain to the DANE-TA certificate does not verify: {e}")
                    }
                }
            }
        }
        Err(rustls::Error::General(format!(
            "DANE: {why} of {}",
            server_name.to_str()
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER TLV with a short or long length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate-shaped DER structure with a known SPKI.
    fn fake_cert(with_version: bool, spki_content: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let spki = tlv(0x30, spki_content);
        let mut tbs = Vec::new();
        if with_version {
            tbs.extend(tlv(0xa0, &tlv(0x02, &[2])));
        }
        tbs.extend(tlv(0x02, &[1, 2, 3])); // serial
        tbs.extend(tlv(0x30, &[0x06, 0x01, 0x2a])); // signature algorithm
        tbs.extend(tlv(0x30, &[0u8; 200])); // issuer (long form length)
        tbs.extend(tlv(0x30, &[0u8; 30])); // validity
        tbs.extend(tlv(0x30, &[])); // subject
        tbs.extend(&spki);
        tbs.extend(tlv(0xa3, &[0x30, 0x00])); // extensions
        let mut cert = tlv(0x30, &tbs);
        cert.extend(tlv(0x30, &[0x06, 0x01, 0x2a]));
        cert.extend(tlv(0x03, &[0, 1, 2]));
        (tlv(0x30, &cert), spki)
    }

    #[test]
    fn the_spki_is_found_with_and_without_a_version() {
        for v in [true, false] {
            let (cert, spki_der) = fake_cert(v, &[0x30, 0x00, 0x03, 0x02, 0x00, 0x42]);
            assert_eq!(spki(&cert), Some(spki_der.as_slice()));
        }
        assert_eq!(spki(&[]), None);
        assert_eq!(spki(&[0x30, 0x05, 0x30]), None);
        let (cert, _) = fake_cert(true, &[1, 2, 3]);
        assert_eq!(spki(&cert[..cert.len() - 40]), None, "cut off");
    }

    #[test]
    fn records_match_by_selector_and_matching_type() {
        let (cert, spki_der) = fake_cert(true, &[0x30, 0x00, 0x03, 0x02, 0x00, 0x42]);
        let sha256 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, b)
                .as_ref()
                .to_vec()
        };
        let sha512 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA512, b)
                .as_ref()
                .to_vec()
        };
        let r = |selector, matching, data: Vec<u8>| Tlsa {
            usage: DANE_EE,
            selector,
            matching,
            data,
        };
        for record in [
            r(0, 0, cert.clone()),
            r(0, 1, sha256(&cert)),
            r(0, 2, sha512(&cert)),
            r(1, 0, spki_der.clone()),
            r(1, 1, sha256(&spki_der)),
            r(1, 2, sha512(&spki_der)),
        ] {
            assert!(record.usable(), "{record:?}");
            assert!(record.matches(&cert), "{record:?}");
        }
        assert!(!r(1, 1, sha256(&cert)).matches(&cert));
        assert!(!r(0, 1, sha256(&spki_der)).matches(&cert));
    }

    #[test]
    fn only_dane_usages_with_known_parameters_are_usable() {
        let t = |usage, selector, matching, len| Tlsa {
            usage,
            selector,
            matching,
            data: vec![7; len],
        };
        assert!(t(3, 1, 1, 32).usable());
        assert!(t(2, 0, 2, 64).usable());
        assert!(t(2, 0, 0, 300).usable());
        assert!(!t(0, 0, 1, 32).usable(), "PKIX-TA");
        assert!(!t(1, 1, 1, 32).usable(), "PKIX-EE");
        assert!(!t(3, 2, 1, 32).usable(), "selector");
        assert!(!t(3, 1, 3, 32).usable(), "matching type");
        assert!(!t(3, 1, 1, 31).usable(), "digest length");
        assert!(!t(3, 1, 2, 32).usable(), "digest length");
    }
}
