//! The SMTP client that hands queued mail to another server (RFC 5321
//! §3-4 from the client's side).
//!
//! Implementation notes:
//! - Opportunistic TLS (RFC 3207, RFC 7435): STARTTLS is used whenever the
//!   server offers it, without checking its certificate (most MX
//!   certificates do not match or are self-signed; refusing them would
//!   only push the mail to plaintext). A failed handshake fails the
//!   attempt (temporary), as the connection state is then unknown.
//! - A smarthost (`[smtp] relay`) with credentials is different
//!   ([`Security::Relay`]): TLS is required — implicit TLS (RFC 8314) on
//!   port 465, else STARTTLS, which the relay must offer — and its
//!   certificate is verified against the system's roots or the configured
//!   CA file, before AUTH PLAIN or LOGIN (RFC 4954) sends the password. A
//!   relay without STARTTLS, a certificate that does not verify or a
//!   refused login fails the attempt as a temporary error with the reason,
//!   so the message waits in the queue for the administrator; nothing is
//!   ever sent in plain text to it. When the relay's host name has usable
//!   DNSSEC-signed TLSA records (`dane`), they verify the certificate in
//!   place of the roots.
//! - An MX under an MTA-STS policy (RFC 8461, see `mta_sts`) in `enforce`
//!   mode ([`Security::Sts`]) must offer STARTTLS and a certificate that
//!   verifies for its host name, or the attempt fails (temporary) before
//!   MAIL; in `testing` mode the same checks only log.
//! - An MX with DNSSEC-signed TLSA records (RFC 7672, see `dane`,
//!   [`Security::Dane`]) must offer STARTTLS, and its certificate must
//!   match a usable record (or, when none is usable, any certificate will
//!   do, but still over TLS); else the attempt fails (temporary) before
//!   MAIL. DANE takes precedence over MTA-STS (RFC 8461 §2).
//! - Timeouts are RFC 5321 §4.5.3.2's: 5 minutes for the greeting, MAIL
//!   and RCPT, 2 for the DATA reply, 3 per write of the body, 10 for the
//!   reply after the final dot.
//! - One session delivers one message to the recipients of one domain;
//!   each RCPT's reply is kept, so the caller records a status per
//!   recipient.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_smtp_proto::data::stuff;
use tidings_smtp_proto::{Command, MailParams, Path, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DATA_INIT_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const DATA_BLOCK_TIMEOUT: Duration = Duration::from_secs(3 * 60);
const DATA_END_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A reply longer than this is a broken server.
const MAX_REPLY: usize = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a session did not get as far as the per-recipient replies.
#[derive(Debug)]
pub enum SessionError {
    /// The server could not be reached or broke off: try the next host, or later.
    Connection(String),
    /// The server refused the whole transaction with this reply.
    Refused(Reply),
    /// The server does not meet what the message or the domain's policy
    /// demands of TLS (MTA-STS `enforce`, REQUIRETLS): no STARTTLS, a
    /// certificate that does not verify, no REQUIRETLS; what failed in
    /// TLS-RPT's terms when it was TLS itself.
    Insecure(String, Option<TlsFailure>),
}

/// What went wrong with TLS, as TLS-RPT (RFC 8460 §4.3) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    StarttlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
}

impl TlsFailure {
    /// The result type of RFC 8460 §4.3.
    pub fn result_type(self) -> &'static str {
        match self {
            TlsFailure::StarttlsNotSupported => "starttls-not-supported",
            TlsFailure::CertificateHostMismatch => "certificate-host-mismatch",
            TlsFailure::CertificateExpired => "certificate-expired",
            TlsFailure::CertificateNotTrusted => "certificate-not-trusted",
            TlsFailure::ValidationFailure => "validation-failure",
        }
    }

    /// The failure behind a failed handshake.
    fn of(e: &io::Error) -> TlsFailure {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(e) => TlsFailure::of_rustls(e),
            None => TlsFailure::ValidationFailure,
        }
    }

    /// The failure a certificate check reported.
    fn of_rustls(e: &rustls::Error) -> TlsFailure {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    TlsFailure::CertificateHostMismatch
                }
                C::Expired | C::ExpiredContext { .. } => TlsFailure::CertificateExpired,
                C::UnknownIssuer => TlsFailure::CertificateNotTrusted,
                _ => TlsFailure::ValidationFailure,
            },
            _ => TlsFailure::ValidationFailure,
        }
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Connection(e) => f.write_str(e),
            SessionError::Refused(r) => write!(f, "{r}"),
            SessionError::Insecure(e, _) => f.write_str(e),
        }
    }
}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> Self {
        SessionError::Connection(e.to_string())
    }
}

/// What the server said to each recipient, and to the message.
#[derive(Debug)]
pub struct Outcome {
    /// One reply per recipient, in order: the RCPT reply when it was
    /// refused, else the reply after the message.
    pub recipients: Vec<Reply>,
    /// Whether the server advertised DSN (RFC 3461), so took the DSN
    /// parameters and answers for them from now on.
    pub dsn: bool,
    /// Whether the session was under TLS.
    pub tls: bool,
}

struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn send(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), SessionError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(SessionError::Connection("write timed out".into())),
        }
    }

    async fn command(&mut self, cmd: &Command) -> Result<(), SessionError> {
        let mut line = Vec::new();
        cmd.encode(&mut line);
        self.send(&line, COMMAND_TIMEOUT).await
    }

    /// Reads one complete reply.
    async fn reply(&mut self, timeout: Duration) -> Result<Reply, SessionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(reply) = self.take_reply()? {
                return Ok(reply);
            }
            if self.buf.len() > MAX_REPLY {
                return Err(SessionError::Connection("reply too long".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(SessionError::Connection(
                        "timed out waiting for a reply".into(),
                    ));
                }
            };
            if n == 0 {
                return Err(SessionError::Connection("connection closed".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A complete reply at the head of `buf`, if there is one.
    fn take_reply(&mut self) -> Result<Option<Reply>, SessionError> {
        let mut lines: Vec<&[u8]> = Vec::new();
        let mut start = 0;
        while let Some(lf) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + lf];
            if line.ends_with(b"\r") {
                line = &line[..line.len() - 1];
            }
            start += lf + 1;
            lines.push(line);
            if line.get(3) != Some(&b'-') {
                let reply = Reply::parse(&lines).ok_or_else(|| {
                    SessionError::Connection(format!(
                        "malformed reply: {}",
                        String::from_utf8_lossy(line)
                    ))
                })?;
                self.buf.drain(..start);
                return Ok(Some(reply));
            }
        }
        Ok(None)
    }
}

/// A TLS client configuration that accepts any certificate (opportunistic
/// TLS, see the module notes).
pub fn opportunistic_tls() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One message for one server.
pub struct Envelope<'a> {
    /// Our name for EHLO.
    pub hostname: &'a str,
    /// The server's name (for TLS SNI); an IP address when unknown.
    pub server_name: &'a str,
    pub from: Option<Path>,
    pub recipients: &'a [Path],
    pub raw: &'a [u8],
    /// RFC 3461 parameters passed on when the server offers DSN (§5.2.3):
    /// RET and ENVID of MAIL, NOTIFY and ORCPT of each RCPT (in the order
    /// of `recipients`; missing entries mean none).
    pub ret: Option<tidings_smtp_proto::Ret>,
    pub envid: Option<&'a str>,
    pub rcpt_params: &'a [tidings_smtp_proto::RcptParams],
    /// RFC 8689: the message needs REQUIRETLS of the next hop (and
    /// verified TLS, which the caller's [`Security`] gives).
    pub requiretls: bool,
}

/// A smarthost's login (RFC 4954).
pub struct Credentials {
    pub user: String,
    pub password: tidings_types::Secret<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.user)
    }
}

/// A smarthost that needs TLS (see the module notes).
#[derive(Debug)]
pub struct RelaySecurity {
    /// A configuration that verifies the server's certificate.
    pub tls: Arc<rustls::ClientConfig>,
    /// TLS from the first byte (port 465) rather than STARTTLS.
    pub implicit: bool,
    pub auth: Option<Credentials>,
}

/// How one connection uses TLS.
#[derive(Clone, Copy, Debug)]
pub enum Security<'a> {
    /// STARTTLS when offered, any certificate (MX delivery).
    Opportunistic(&'a Arc<rustls::ClientConfig>),
    /// TLS required and verified with `tls` (the relay's own
    /// verification, or its DANE records'), then AUTH when credentials
    /// are given.
    Relay {
        relay: &'a RelaySecurity,
        tls: &'a Arc<rustls::ClientConfig>,
    },
    /// An MX under an MTA-STS policy (`mta_sts`): with `enforce`, STARTTLS
    /// is required and `tls` verifies the certificate (never plain text);
    /// without, `tls` is a [`ReportingRoots::config`]: the certificate is
    /// checked, a failure noted for TLS-RPT, not fatal; plain text is logged.
    Sts {
        tls: &'a Arc<rustls::ClientConfig>,
        enforce: bool,
    },
    /// An MX with DNSSEC-signed TLSA records (`dane`): STARTTLS required;
    /// `tls` checks the certificate against the records, or accepts any
    /// when none is usable (`verified` false).
    Dane {
        tls: &'a Arc<rustls::ClientConfig>,
        verified: bool,
    },
}

/// The trust anchors for verified TLS: the system's roots
/// (`rustls-native-certs`, which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`), or only the PEM certificates of `ca_file` when one is
/// given.
fn roots(ca_file: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // One unusable system certificate does not stop the others.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(match ca_file {
            Some(p) => format!("{} holds no certificate", p.display()),
            None => "no trusted root certificates found on this system".into(),
        });
    }
    Ok(roots)
}

/// A TLS client configuration that verifies certificates against the
/// system's roots, or only against the PEM certificates of `ca_file` when
/// one is given.
pub fn verifying_tls(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What an MTA-STS policy in `testing` mode (RFC 8461 §5) checks
/// certificates against: the system's roots, as `enforce` would.
#[derive(Clone, Debug)]
pub struct ReportingRoots {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

/// Where a `testing` session notes the failure it let pass (for TLS-RPT).
pub type SeenFailure = Arc<std::sync::Mutex<Option<TlsFailure>>>;

impl ReportingRoots {
    pub fn new() -> Result<ReportingRoots, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(None)?),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| e.to_string())?;
        Ok(ReportingRoots { inner, provider })
    }

    /// A TLS client configuration for one session: it checks the
    /// certificate, and a failure is logged and noted in `seen`, not fatal.
    pub fn config(&self, seen: &SeenFailure) -> Result<Arc<rustls::ClientConfig>, String> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ReportingVerifier {
                inner: Arc::clone(&self.inner),
                seen: Arc::clone(seen),
            }))
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct ReportingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: SeenFailure,
}

impl rustls::client::danger::ServerCertVerifier for ReportingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Err(e) = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Some(TlsFailure::of_rustls(&e));
            }
            tracing::warn!(
                "MTA-STS (testing): the certificate of {} does not verify ({e}); an enforced policy would refuse it, delivering anyway",
                server_name.to_str()
            );
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// TLS over `conn`'s stream, with `config`, for `server_name`.
async fn start_tls(
    conn: Conn,
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
    addr: SocketAddr,
) -> Result<Conn, (String, TlsFailure)> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .unwrap_or_else(|_| rustls::pki_types::ServerName::from(addr.ip()));
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    let stream = connector
        .connect(name, conn.stream)
        .await
        .map_err(|e| (format!("TLS handshake failed: {e}"), TlsFailure::of(&e)))?;
    Ok(Conn {
        stream: Box::new(stream),
        buf: Vec::new(),
    })
}

/// AUTH PLAIN (RFC 4616) or LOGIN, whichever the EHLO reply offers, PLAIN
/// first. A refusal is a temporary error: the message waits until the
/// administrator mends the credentials.
async fn authenticate(
    conn: &mut Conn,
    ehlo: Option<&Reply>,
    creds: &Credentials,
) -> Result<(), SessionError> {
    let b64 = tidings_smtp_proto::sasl::encode;
    let mechanisms: Vec<String> = ehlo
        .map(|r| {
            r.lines
                .iter()
                .skip(1)
                .filter_map(|l| {
                    let mut words = l.split(' ');
                    let first = words.next()?;
                    (first.eq_ignore_ascii_case("AUTH"))
                        .then(|| words.map(str::to_ascii_uppercase).collect::<Vec<_>>())
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    let refused = |reply: Reply| {
        SessionError::Connection(format!(
            "the relay refused the login of {}: {reply}",
            creds.user
        ))
    };
    if mechanisms.iter().any(|m| m == "PLAIN") {
        let mut token = Vec::new();
        token.push(0);
        token.extend_from_slice(creds.user.as_bytes());
        token.push(0);
        token.extend_from_slice(creds.password.expose().as_bytes());
        conn.send(
            format!("AUTH PLAIN {}\r\n", b64(&token)).as_bytes(),
            COMMAND_TIMEOUT,
        )
        .await?;
        let reply = conn.reply(COMMAND_TIMEOUT).await?;
        return if reply.code == 235 {
            Ok(())
        } else {
            Err(refused(reply))
        };
    }
    if mechanisms.iter().any(|m| m == "LOGIN") {
        conn.send(b"AUTH LOGIN\r\n", COMMAND_TIMEOUT).await?;
        for answer in [creds.user.as_bytes(), creds.password.expose().as_bytes()] {
            let reply = conn.reply(COMMAND_TIMEOUT).await?;
            if reply.code != 334 {
                return Err(refused(reply));
            }
            conn.send(format!("{}\r\n", b64(answer)).as_bytes(), COMMAND_TIMEOUT)
                .await?;
        }
        let reply = conn.reply(COMMAND_TIMEOUT).await?;
        return if reply.code == 235 {
            Ok(())
        } else {
            Err(refused(reply))
        };
    }
    Err(SessionError::Connection(format!(
        "the relay offers neither AUTH PLAIN nor AUTH LOGIN (it offers: {})",
        if mechanisms.is_empty() {
            "no AUTH".to_string()
        } else {
            mechanisms.join(" ")
        }
    )))
}

/// Delivers one message over one connection to `addr`.
pub async fn deliver(
    addr: SocketAddr,
    security: Security<'_>,
    env: &Envelope<'_>,
) -> Result<Outcome, SessionError> {
    deliver_traced(addr, security, env).await.0
}

/// [`deliver`], and whether the session got as far as TLS, whatever
/// happened after (for TLS-RPT: a session refused or broken off after a
/// good handshake was a TLS success).
pub async fn deliver_traced(
    addr: SocketAddr,
    security: Security<'_>,
    env: &Envelope<'_>,
) -> (Result<Outcome, SessionError>, bool) {
    let mut secure = false;
    let result = session(addr, security, env, &mut secure).await;
    (result, secure)
}

async fn session(
    addr: SocketAddr,
    security: Security<'_>,
    env: &Envelope<'_>,
    secure: &mut bool,
) -> Result<Outcome, SessionError> {
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(SessionError::Connection(format!(
                "connecting to {addr} timed out"
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        stream: Box::new(tcp),
        buf: Vec::new(),
    };
    if let Security::Relay { relay, tls } = security
        && relay.implicit
    {
        conn = start_tls(conn, tls, env.server_name, addr)
            .await
            .map_err(|(e, _)| SessionError::Connection(e))?;
        *secure = true;
    }
    let greeting = conn.reply(COMMAND_TIMEOUT).await?;
    if greeting.code != 220 {
        return Err(SessionError::Refused(greeting));
    }
    let mut ehlo = hello(&mut conn, env.hostname).await?;
    let offers = |reply: &Reply, word: &str| {
        reply.lines.iter().skip(1).any(|l| {
            l.split(' ')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case(word))
        })
    };
    let tls_config = match security {
        Security::Opportunistic(config) => config,
        Security::Relay { tls, .. } | Security::Sts { tls, .. } | Security::Dane { tls, .. } => tls,
    };
    if !*secure && ehlo.as_ref().is_some_and(|r| offers(r, "STARTTLS")) {
        conn.command(&Command::StartTls).await?;
        let reply = conn.reply(COMMAND_TIMEOUT).await?;
        if reply.code == 220 {
            // RFC 3207 §4.2: nothing read before TLS counts after it.
            conn.buf.clear();
            conn = match start_tls(conn, tls_config, env.server_name, addr).await {
                Ok(c) => c,
                Err((e, failure))
                    if matches!(
                        security,
                        Security::Sts { enforce: true, .. } | Security::Dane { .. }
                    ) =>
                {
                    return Err(SessionError::Insecure(e, Some(failure)));
                }
                Err((e, _)) => return Err(SessionError::Connection(e)),
            };
            *secure = true;
            ehlo = hello(&mut conn, env.hostname).await?;
        }
    }
    if let Security::Sts { enforce, .. } = security
        && !*secure
    {
        if enforce {
            let _ = quit(&mut conn).await;
            // RFC 8461 §5: never in plain text under an enforced policy.
            return Err(SessionError::Insecure(
                format!(
                    "{} ({addr}) offers no STARTTLS; {} forbids plain text",
                    env.server_name,
                    if env.requiretls {
                        "REQUIRETLS"
                    } else {
                        "the MTA-STS policy"
                    }
                ),
                Some(TlsFailure::StarttlsNotSupported),
            ));
        }
        tracing::warn!(
            "MTA-STS (testing): {} ({addr}) offers no STARTTLS; an enforced policy would refuse it, delivering anyway",
            env.server_name
        );
    }
    if let Security::Dane { .. } = security
        && !*secure
    {
        let _ = quit(&mut conn).await;
        // RFC 7672 §2.2: TLSA records make STARTTLS mandatory.
        return Err(SessionError::Insecure(
            format!(
                "{} ({addr}) offers no STARTTLS; its DNSSEC-signed TLSA records (DANE) forbid plain text",
                env.server_name
            ),
            Some(TlsFailure::StarttlsNotSupported),
        ));
    }
    if let Security::Relay { relay, .. } = security {
        if !*secure {
            let _ = quit(&mut conn).await;
            return Err(SessionError::Connection(format!(
                "the relay {} ({addr}) offers no STARTTLS; mail is not sent to it in plain text",
                env.server_name
            )));
        }
        if let Some(creds) = &relay.auth
            && let Err(e) = authenticate(&mut conn, ehlo.as_ref(), creds).await
        {
            let _ = quit(&mut conn).await;
            return Err(e);
        }
    }
    let ext = |word: &str| ehlo.as_ref().is_some_and(|r| offers(r, word));
    if env.requiretls && !(*secure && ext("REQUIRETLS")) {
        // RFC 8689 §4.2.1: the next hop must take on the promise.
        let _ = quit(&mut conn).await;
        return Err(SessionError::Insecure(
            format!("{} ({addr}) does not offer REQUIRETLS", env.server_name),
            (!*secure).then_some(TlsFailure::StarttlsNotSupported),
        ));
    }
    let needs_utf8 =
        env.from.as_ref().is_some_and(Path::is_utf8) || env.recipients.iter().any(Path::is_utf8);
    if needs_utf8 && !ext("SMTPUTF8") {
        // RFC 6531 §3.2: the message cannot be sent to this server.
        return Err(SessionError::Refused(Reply::new(
            553,
            tidings_smtp_proto::EnhancedCode(5, 6, 7),
            "the receiving server does not support SMTPUTF8",
        )));
    }
    let dsn = ext("DSN");
    let eight_bit = env.raw.iter().any(|b| *b >= 0x80);
    let params = MailParams {
        size: ext("SIZE").then_some(env.raw.len() as u64),
        body: (eight_bit && ext("8BITMIME")).then_some(tidings_smtp_proto::Body::EightBitMime),
        smtputf8: needs_utf8,
        ret: env.ret.filter(|_| dsn),
        envid: env.envid.filter(|_| dsn).map(str::to_string),
        requiretls: env.requiretls,
        ..MailParams::default()
    };
    conn.command(&Command::Mail {
        from: env.from.clone(),
        params,
    })
    .await?;
    let mail = conn.reply(COMMAND_TIMEOUT).await?;
    if mail.code != 250 {
        let _ = quit(&mut conn).await;
        return Err(SessionError::Refused(mail));
    }
    let mut replies: Vec<Option<Reply>> = Vec::with_capacity(env.recipients.len());
    for (i, rcpt) in env.recipients.iter().enumerate() {
        let params = if dsn {
            env.rcpt_params.get(i).cloned().unwrap_or_default()
        } else {
            Default::default()
        };
        conn.command(&Command::Rcpt {
            to: rcpt.clone(),
            params,
        })
        .await?;
        let reply = conn.reply(COMMAND_TIMEOUT).await?;
        replies.push((!matches!(reply.code, 250 | 251)).then_some(reply));
    }
    if replies.iter().all(Option::is_some) {
        let _ = quit(&mut conn).await;
        return Ok(Outcome {
            recipients: replies.into_iter().flatten().collect(),
            dsn,
            tls: *secure,
        });
    }
    conn.command(&Command::Data).await?;
    let data = conn.reply(DATA_INIT_TIMEOUT).await?;
    if data.code != 354 {
        let _ = quit(&mut conn).await;
        return Err(SessionError::Refused(data));
    }
    let body = stuff(env.raw);
    for chunk in body.chunks(64 * 1024) {
        conn.send(chunk, DATA_BLOCK_TIMEOUT).await?;
    }
    let end = conn.reply(DATA_END_TIMEOUT).await?;
    let _ = quit(&mut conn).await;
    Ok(Outcome {
        recipients: replies
            .into_iter()
            .map(|r| r.unwrap_or_else(|| end.clone()))
            .collect(),
        dsn,
        tls: *secure,
    })
}

/// EHLO, or HELO when EHLO is refused (RFC 5321 §4.1.4). `Some` is the
/// EHLO reply with its extensions.
async fn hello(conn: &mut Conn, hostname: &str) -> Result<Option<Reply>, SessionError> {
    conn.command(&Command::Ehlo(hostname.to_string())).await?;
    let reply = conn.reply(COMMAND_TIMEOUT).await?;
    if reply.code == 250 {
        return Ok(Some(reply));
    }
    conn.command(&Command::Helo(hostname.to_string())).await?;
    let reply = conn.reply(COMMAND_TIMEOUT).await?;
    if reply.code == 250 {
        Ok(None)
    } else {
        Err(SessionError::Refused(reply))
    }
}

async fn quit(conn: &mut Conn) -> Result<(), SessionError> {
    conn.command(&Command::Quit).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.reply(COMMAND_TIMEOUT)).await;
    Ok(())
}
