//! Listeners: the accept loop every protocol shares, and the connection a
//! protocol session is handed (plain or TLS, upgradable by STARTTLS).
//!
//! This crate is the seam between `server` (which binds ports and builds the
//! TLS acceptor) and the protocol session crates (which get a [`Connection`]).
//! It knows no mail protocol and no store.
//!
//! A protocol plugs in as a [`Service`]; it is handed one [`Connection`] per
//! accepted socket: a stream that is plain or TLS ([`MaybeTls`]), the
//! addresses, and on STARTTLS ports the acceptor to upgrade with.
//!
//! Implementation notes:
//! - A permit of the global connection limit is taken *before* `accept`
//!   (mini-redis's `server.rs`): at the limit we stop accepting and new
//!   connections wait in the kernel's backlog instead of being refused.
//! - The per-IP limit counts open connections per address over all ports;
//!   a connection over it is closed at once, before any byte is written.
//!   Addresses are counted by [`ip_key`]: an IPv6 address as its /64 (one
//!   host may use any address of its /64), an IPv4-mapped IPv6 address as
//!   its IPv4 address.
//! - Implicit-TLS ports do the handshake here, under a timeout, so a peer
//!   that connects and says nothing holds a slot for a bounded time only.
//! - Each connection runs in its own task, tracked by a `TaskTracker`, in a
//!   tracing span carrying a connection id, the service and the peer.
//! - Shutdown: when the token is cancelled the loop stops accepting; sessions
//!   get the same token and are expected to finish their command, say
//!   goodbye (BYE, 421, -ERR) and return.

#![forbid(unsafe_code)]

mod auth_limit;
pub use auth_limit::{AuthLimiter, MAX_ACCOUNT_LEN};

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How long a TLS handshake may take, at connect or after STARTTLS.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The key per-address limits (open connections, failed logins) count `ip`
/// under: an IPv4 address as itself, also in its IPv4-mapped IPv6 form
/// (RFC 4291 §2.5.5.2); an IPv6 address as its /64, the subnet one host or
/// one customer's site gets (RFC 4291 §2.5.4: interface ids are 64 bits, so
/// a host can use any of 2^64 addresses; RFC 6177 §2).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// When TLS starts on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (RFC 8314 implicit TLS: 465, 993, 995, 443).
    Implicit,
    /// Plaintext first; the protocol may upgrade (SMTP/IMAP `STARTTLS`, POP3 `STLS`).
    StartTls,
}

/// A connection's byte stream: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// Whether TLS is active (the fact protocols need for "no plaintext login").
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// The ALPN protocol the TLS handshake agreed on, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(tls) => tls.get_ref().1.alpn_protocol(),
        }
    }

    /// Runs the server side of a TLS handshake on a plain stream (after the
    /// protocol said "go ahead" to STARTTLS), under [`HANDSHAKE_TIMEOUT`].
    /// The caller must not hold bytes read past the STARTTLS command: they
    /// would be plaintext injected into the TLS session (RFC 3207 §4.2).
    pub async fn upgrade(self, acceptor: &TlsAcceptor) -> io::Result<MaybeTls> {
        match self {
            MaybeTls::Plain(tcp) => handshake(acceptor, tcp, HANDSHAKE_TIMEOUT).await,
            MaybeTls::Tls(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS is already active",
            )),
        }
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    limit: Duration,
) -> io::Result<MaybeTls> {
    match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Ok(MaybeTls::Tls(Box::new(tls))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Asks the kernel to acknowledge what arrives next at once instead of
/// delaying the ACK (Linux `TCP_QUICKACK`; the kernel drops back to delayed
/// ACKs on its own, so it is asked again before every read).
///
/// Why: a client that leaves Nagle's algorithm on (Python's imaplib, most
/// scripts) sends a literal and then its closing CRLF as two writes; the CRLF
/// waits until the literal is acknowledged, and a server in delayed-ACK mode
/// acknowledges only after ~40 ms, because it has nothing to say until the
/// command is complete. Every APPEND then took 40+ ms. Dovecot is not hit as
/// hard only by the timing of its own replies; quick ACKs remove the stall
/// for every protocol (SMTP DATA and BDAT chunks have the same shape).
fn quick_ack(tcp: &TcpStream) {
    // Best effort: on failure the ACK is merely delayed, as before.
    let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => {
                quick_ack(s);
                Pin::new(s).poll_read(cx, buf)
            }
            MaybeTls::Tls(s) => {
                quick_ack(s.get_ref().0);
                Pin::new(s).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// One accepted connection, handed to a [`Service`].
pub struct Connection {
    /// Unique in this process; also in the connection's tracing span.
    pub id: u64,
    pub stream: MaybeTls,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// On STARTTLS ports: the acceptor for [`MaybeTls::upgrade`]. A protocol
    /// advertises STARTTLS only while this is `Some` and TLS is not active.
    pub starttls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("tls_active", &self.tls_active())
            .field("starttls", &self.starttls.is_some())
            .finish()
    }
}

impl Connection {
    /// Whether TLS is active now.
    pub fn tls_active(&self) -> bool {
        self.stream.is_tls()
    }
}

/// The future of one session.
pub type SessionFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A protocol served on a listener.
pub trait Service: Send + Sync + 'static {
    /// A short name for logs: `imap`, `smtp`.
    fn name(&self) -> &'static str;

    /// Runs one session to its end. When `shutdown` is cancelled the session
    /// should finish the command in progress, say goodbye and return soon.
    fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture;
}

/// The connection limits, shared by all listeners of a server.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    inner: Arc<LimitsInner>,
}

#[derive(Debug)]
struct LimitsInner {
    total: Arc<Semaphore>,
    per_ip_max: u32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    next_id: AtomicU64,
}

impl ConnectionLimits {
    pub fn new(max_connections: u32, max_per_ip: u32) -> Self {
        let total = usize::try_from(max_connections).unwrap_or(usize::MAX);
        ConnectionLimits {
            inner: Arc::new(LimitsInner {
                total: Arc::new(Semaphore::new(total)),
                per_ip_max: max_per_ip,
                per_ip: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Takes a slot for `ip` (its [`ip_key`]), or `None` when it has its
    /// maximum open already.
    fn try_ip_slot(&self, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip_key(ip);
        let mut map = self.inner.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(ip).or_insert(0);
        if *count >= self.inner.per_ip_max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// How many connections `ip` has open (its IPv6 /64 for IPv6).
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let map = self.inner.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip_key(ip)).copied().unwrap_or(0)
    }
}

/// One open connection counted against its IP; released on drop.
struct IpSlot {
    limits: ConnectionLimits,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self
            .limits
            .inner
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A bound port and the service behind it.
pub struct Listener {
    pub tcp: TcpListener,
    pub mode: TlsMode,
    pub acceptor: TlsAcceptor,
    pub service: Arc<dyn Service>,
    /// The limit on the implicit-TLS handshake ([`HANDSHAKE_TIMEOUT`]).
    pub handshake_timeout: Duration,
}

impl Listener {
    pub fn new(
        tcp: TcpListener,
        mode: TlsMode,
        acceptor: TlsAcceptor,
        service: Arc<dyn Service>,
    ) -> Self {
        Listener {
            tcp,
            mode,
            acceptor,
            service,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Accepts connections until `shutdown` is cancelled, spawning one task
    /// per connection on `tracker`.
    pub async fn run(
        self,
        limits: ConnectionLimits,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let name = self.service.name();
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = limits.inner.total.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break, // the semaphore is never closed
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.tcp.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little.
                        tracing::warn!(service = name, "accept failed: {e}");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        }
                    }
                },
            };
            let Some(ip_slot) = limits.try_ip_slot(peer.ip()) else {
                tracing::debug!(service = name, %peer, "too many connections from this address; closed");
                drop(tcp);
                continue;
            };
            let id = limits.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let span = tracing::info_span!("conn", id, service = name, %peer);
            let session = Session {
                id,
                tcp,
                peer,
                mode: self.mode,
                acceptor: self.acceptor.clone(),
                handshake_timeout: self.handshake_timeout,
                service: Arc::clone(&self.service),
                shutdown: shutdown.clone(),
            };
            let open = tidings_metrics::connection_opened(name);
            tracker.spawn(
                async move {
                    session.run().await;
                    drop((permit, ip_slot, open));
                }
                .instrument(span),
            );
        }
        tracing::debug!(service = name, "stopped accepting");
    }
}

/// An accepted socket on its way to the service.
struct Session {
    id: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    mode: TlsMode,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    service: Arc<dyn Service>,
    shutdown: CancellationToken,
}

impl Session {
    async fn run(self) {
        tracing::debug!("connected");
        let local = match self.tcp.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("connection gone before it started: {e}");
                return;
            }
        };
        // Protocols write small replies; don't let Nagle delay them.
        if let Err(e) = self.tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let (stream, starttls) = match self.mode {
            TlsMode::StartTls => (MaybeTls::Plain(self.tcp), Some(self.acceptor)),
            TlsMode::Implicit => {
                // Boxed: the handshake's state (a TLS connection) would
                // otherwise stay in every connection's future for as long
                // as it lasts (1.7 KB where 0.3 KB will do).
                match Box::pin(handshake(&self.acceptor, self.tcp, self.handshake_timeout)).await {
                    Ok(stream) => (stream, None),
                    Err(e) => {
                        tracing::info!("TLS handshake failed: {e}");
                        return;
                    }
                }
            }
        };
        let conn = Connection {
            id: self.id,
            stream,
            peer: self.peer,
            local,
            starttls,
        };
        self.service.serve(conn, self.shutdown).await;
        tracing::debug!("closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio_rustls::TlsConnector;

    /// Greets with `* tls` or `* plain`, echoes what it reads, upgrades on
    /// `STARTTLS` (greeting again), says `* bye` on shutdown.
    struct Echo;

    impl Service for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn serve(&self, conn: Connection, shutdown: CancellationToken) -> SessionFuture {
            Box::pin(async move {
                let _ = echo(conn, shutdown).await;
            })
        }
    }

    async fn echo(conn: Connection, shutdown: CancellationToken) -> io::Result<()> {
        let Connection {
            mut stream,
            starttls,
            ..
        } = conn;
        'greet: loop {
            let greeting: &[u8] = if stream.is_tls() {
                b"* tls\r\n"
            } else {
                b"* plain\r\n"
            };
            stream.write_all(greeting).await?;
            let mut buf = [0u8; 1024];
            loop {
                let n = tokio::select! {
                    _ = shutdown.cancelled() => {
                        stream.write_all(b"* bye\r\n").await?;
                        return stream.shutdown().await;
                    }
                    n = stream.read(&mut buf) => n?,
                };
                if n == 0 {
                    return Ok(());
                }
                if let (b"STARTTLS\r\n", Some(acceptor), false) =
                    (&buf[..n], &starttls, stream.is_tls())
                {
                    stream.write_all(b"GO\r\n").await?;
                    stream = stream.upgrade(acceptor).await?;
                    continue 'greet;
                }
                stream.write_all(&buf[..n]).await?;
            }
        }
    }

    struct Harness {
        addr: SocketAddr,
        connector: TlsConnector,
        limits: ConnectionLimits,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    }

    async fn start(mode: TlsMode, per_ip: u32, handshake_timeout: Duration) -> Harness {
        let certified = rcgen::generate_simple_self_signed(vec![
            "mail.example.org".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .unwrap();
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap(),
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = Listener::new(tcp, mode, TlsAcceptor::from(server), Arc::new(Echo));
        listener.handshake_timeout = handshake_timeout;
        let limits = ConnectionLimits::new(100, per_ip);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(listener.run(limits.clone(), shutdown.clone(), tracker.clone()));
        Harness {
            addr,
            connector: TlsConnector::from(Arc::new(client)),
            limits,
            shutdown,
            tracker,
        }
    }

    async fn line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
        let mut s = String::new();
        tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut s))
            .await
            .expect("no reply within 5 s")
            .unwrap();
        s
    }

    async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>, text: &str) {
        r.get_mut().write_all(text.as_bytes()).await.unwrap();
        assert_eq!(line(r).await, text);
    }

    fn localhost() -> ServerName<'static> {
        ServerName::try_from("localhost").unwrap()
    }

    #[test]
    fn ip_key_groups_an_ipv6_64_and_unmaps_ipv4() {
        let key = |s: &str| ip_key(s.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:a:b:1:2:3:4"), "2001:db8:a:b::");
        assert_eq!(key("2001:db8:a:b::ffff"), "2001:db8:a:b::");
        assert_ne!(key("2001:db8:a:c::1"), key("2001:db8:a:b::1"));
        assert_eq!(key("::1"), "::");
    }

    /// The per-IP limit counts an IPv6 /64 as one address, so a host cannot
    /// escape it by connecting from other addresses of its subnet.
    #[test]
    fn per_ip_slots_are_shared_by_an_ipv6_64() {
        let limits = ConnectionLimits::new(100, 2);
        let a = limits.try_ip_slot("2001:db8:1:2::1".parse().unwrap());
        let b = limits.try_ip_slot("2001:db8:1:2:ab:cd:ef:1".parse().unwrap());
        assert!(a.is_some() && b.is_some());
        assert!(
            limits
                .try_ip_slot("2001:db8:1:2::99".parse().unwrap())
                .is_none(),
            "a third address of the same /64 is over the limit"
        );
        assert!(
            limits
                .try_ip_slot("2001:db8:1:3::1".parse().unwrap())
                .is_some(),
            "another /64 is another address"
        );
        assert_eq!(limits.open_from("2001:db8:1:2::5".parse().unwrap()), 2);
        drop(a);
        assert_eq!(limits.open_from("2001:db8:1:2::5".parse().unwrap()), 1);
        // IPv4 and its mapped form share a slot count.
        let v4 = limits.try_ip_slot("192.0.2.1".parse().unwrap());
        let mapped = limits.try_ip_slot("::ffff:192.0.2.1".parse().unwrap());
        assert!(v4.is_some() && mapped.is_some());
        assert!(limits.try_ip_slot("192.0.2.1".parse().unwrap()).is_none());
    }

    #[tokio::test]
    async fn plain_echo() {
        let h = start(TlsMode::StartTls, 10, HANDSHAKE_TIMEOUT).await;
        let mut c = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        assert_eq!(line(&mut c).await, "* plain\r\n");
        round_trip(&mut c, "hello\r\n").await;
    }

    #[tokio::test]
    async fn implicit_tls_echo() {
        let h = start(TlsMode::Implicit, 10, HANDSHAKE_TIMEOUT).await;
        let tcp = TcpStream::connect(h.addr).await.unwrap();
        let tls = h.connector.connect(localhost(), tcp).await.unwrap();
        let mut c = BufReader::new(tls);
        assert_eq!(line(&mut c).await, "* tls\r\n");
        round_trip(&mut c, "secret hello\r\n").await;
    }

    #[tokio::test]
    async fn starttls_upgrade() {
        let h = start(TlsMode::StartTls, 10, HANDSHAKE_TIMEOUT).await;
        let mut c = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        assert_eq!(line(&mut c).await, "* plain\r\n");
        round_trip(&mut c, "before\r\n").await;
        c.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
        assert_eq!(line(&mut c).await, "GO\r\n");
        assert!(c.buffer().is_empty());
        let tls = h
            .connector
            .connect(localhost(), c.into_inner())
            .await
            .unwrap();
        let mut c = BufReader::new(tls);
        assert_eq!(line(&mut c).await, "* tls\r\n");
        round_trip(&mut c, "after\r\n").await;
    }

    #[tokio::test]
    async fn per_ip_limit_closes_the_connection_over_it() {
        let h = start(TlsMode::StartTls, 2, HANDSHAKE_TIMEOUT).await;
        let mut first = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        let mut second = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        assert_eq!(line(&mut first).await, "* plain\r\n");
        assert_eq!(line(&mut second).await, "* plain\r\n");

        let mut third = TcpStream::connect(h.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
            .await
            .expect("the third connection was neither answered nor closed");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "third connection answered: {read:?}"
        );

        // Closing one frees its slot.
        drop(first);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while h.limits.open_from("127.0.0.1".parse().unwrap()) > 1 {
            assert!(tokio::time::Instant::now() < deadline, "slot not released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut fourth = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        assert_eq!(line(&mut fourth).await, "* plain\r\n");
        round_trip(&mut second, "still here\r\n").await;
    }

    #[tokio::test]
    async fn silent_peer_on_implicit_tls_port_is_dropped() {
        let h = start(TlsMode::Implicit, 10, Duration::from_millis(200)).await;
        let mut c = TcpStream::connect(h.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("not dropped after the handshake timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_ends_sessions() {
        let h = start(TlsMode::StartTls, 10, HANDSHAKE_TIMEOUT).await;
        let mut c = BufReader::new(TcpStream::connect(h.addr).await.unwrap());
        assert_eq!(line(&mut c).await, "* plain\r\n");
        h.shutdown.cancel();
        h.tracker.close();
        assert_eq!(line(&mut c).await, "* bye\r\n");
        tokio::time::timeout(Duration::from_secs(5), h.tracker.wait())
            .await
            .expect("tasks still running after shutdown");
        assert!(TcpStream::connect(h.addr).await.is_err());
    }
}
#[cfg(test)]
mod resting_size {
    /// The size of the future `f` returns.
    fn future_size<A, F: std::future::Future>(_: &impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Regression: the TLS handshake's state was part of every
    /// connection's future (1,720 bytes in a debug build), also of a
    /// plaintext one sitting in IMAP IDLE.
    #[test]
    fn a_connection_future_does_not_keep_the_handshake_room() {
        let size = future_size(&super::Session::run);
        assert!(size <= 512, "{size} bytes");
    }
}
