//! The I/O loop of one IMAP connection: the only code that touches the
//! socket. It reads, frames and writes, and acts on what the sans-I/O
//! [`Session`] asks for ([`Outcome`]).
//!
//! Implementation notes:
//! - Input goes through the codec's [`Framer`] before anything is parsed,
//!   with [`Session::framer_limits`] (the small pre-login limits until
//!   LOGIN / AUTHENTICATE succeeded): a synchronizing literal within the
//!   limits gets `+ Ready`, one over the limit gets `NO [TOOBIG]` *before*
//!   its bytes are sent (the client never got a continuation), and a
//!   non-synchronizing literal over the limit poisons the stream: `* BYE`
//!   and close (RFC 7888 §4).
//! - Pipelining: every complete command already received is handled in
//!   order; responses collect in the session's output, written when no
//!   complete command is left or when it holds [`FLUSH_AT`] bytes (between
//!   the batches of a large FETCH too, [`Outcome::More`]).
//! - Timeouts: before login the connection lives at most
//!   [`crate::ImapConfig::login_timeout`] (counted from the connection, so
//!   a client trickling bytes is cut off too); after it a read waits at
//!   most [`crate::ImapConfig::idle_timeout`] (30 minutes, RFC 9051 §5.4),
//!   also during IDLE (clients re-issue IDLE every 29 minutes, RFC 2177
//!   §3); a write at most [`crate::ImapConfig::write_timeout`].
//! - STARTTLS (RFC 9051 §6.2.1): the OK is written, any bytes received
//!   after the command are dropped (sent in plaintext, they must not be
//!   read as if they came over TLS), then the handshake runs.
//! - COMPRESS=DEFLATE (RFC 4978): the OK is written uncompressed, then
//!   both directions are raw DEFLATE; input after the end of the
//!   compressed stream, or expanding past [`MAX_INFLATE`] from one read,
//!   closes the connection.
//! - IDLE: the loop waits for the client's line, for the store's change
//!   events (at once) and for [`crate::ImapConfig::idle_poll`] (changes
//!   made by another process), and hands each to the session.
//! - NOTIFY (RFC 5465 §4): while it is on and the client is between
//!   commands (nothing of a next command received), a wait for input also
//!   waits for the store's change events and for
//!   [`crate::ImapConfig::idle_poll`] (changes by another process), and
//!   writes the notifications the session makes of them at once.
//! - Shutdown: the command in progress is finished, then `* BYE` and close.

use std::io;
use std::sync::Arc;

use tidings_imap_proto::{Continue, Frame, Framer, Status};
use tidings_net::{Connection, MaybeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::session::{Outcome, Session};

/// Bytes read from the socket at a time once input is there.
const READ_SIZE: usize = 16 * 1024;
/// The buffer a read waits with. It is part of the connection's future for
/// as long as the client is silent, so it is small: with `READ_SIZE` on the
/// stack there, 10,000 IDLE clients cost 32 KiB each. A wait that fills it
/// is followed by one read of what else is ready into a `READ_SIZE` buffer
/// on the heap (`Io::read_ready`).
const WAIT_READ: usize = 512;
/// The reply buffer is written once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

/// Runs one connection to its end.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Connection {
        stream,
        peer,
        starttls,
        ..
    } = conn;
    let session = Session::new(
        Arc::clone(&shared),
        peer.ip(),
        stream.is_tls(),
        starttls.is_some(),
    );
    let mut io = Io {
        framer: Framer::new(session.framer_limits()),
        login_deadline: tokio::time::Instant::now() + shared.config.login_timeout,
        last_input: tokio::time::Instant::now(),
        notify_poll_at: tokio::time::Instant::now() + shared.config.idle_poll,
        shared,
        stream: Some(stream),
        starttls,
        deflate: None,
        shutdown,
        session,
    };
    if let Err(e) = io.drive().await {
        tracing::debug!("imap connection ended: {e}");
    }
}

/// The socket side of one connection, and the session it drives.
struct Io {
    shared: Arc<Shared>,
    stream: Option<MaybeTls>,
    /// For STARTTLS, until it is used.
    starttls: Option<TlsAcceptor>,
    framer: Framer,
    /// COMPRESS=DEFLATE state once active (RFC 4978).
    deflate: Option<Deflate>,
    /// When an unauthenticated connection is closed
    /// ([`crate::ImapConfig::login_timeout`]).
    login_deadline: tokio::time::Instant,
    /// When the client last sent something (autologout counts from here).
    last_input: tokio::time::Instant,
    /// When NOTIFY next looks for changes no event announced.
    notify_poll_at: tokio::time::Instant,
    shutdown: CancellationToken,
    session: Session,
}

impl Io {
    /// Hands bytes from the socket to the framer, inflated once
    /// COMPRESS=DEFLATE is active.
    fn push_input(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.deflate.as_mut() {
            Some(z) => {
                let plain = z.inflate(bytes)?;
                self.framer.push(&plain);
            }
            None => self.framer.push(bytes),
        }
        Ok(())
    }

    /// Writes the session's output.
    async fn flush(&mut self) -> io::Result<()> {
        let out = &mut self.session.out;
        if out.is_empty() {
            return Ok(());
        }
        let compressed;
        let bytes: &[u8] = match self.deflate.as_mut() {
            Some(z) => {
                compressed = z.deflate(out)?;
                &compressed
            }
            None => out,
        };
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))?;
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.shared.config.write_timeout, write).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "write timeout")),
        }
        self.session.out.clear();
        // A large FETCH response is written: its memory goes now, not when
        // the session ends.
        if self.session.out.capacity() > 4 * FLUSH_AT {
            self.session.out = Vec::with_capacity(4096);
        }
        Ok(())
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.session.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Says `* BYE text` and writes it.
    async fn bye(&mut self, text: &str) -> io::Result<()> {
        self.session.put(Status::bye(text));
        self.flush().await
    }

    /// Reads more input into the framer. `Ok(false)` on end of input,
    /// autologout or shutdown (the BYE is already written).
    async fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; WAIT_READ];
        let pre_auth = !self.session.logged_in();
        let deadline = if pre_auth {
            self.login_deadline
        } else {
            // Notifications sent meanwhile do not count as activity.
            self.last_input + self.shared.config.idle_timeout
        };
        // RFC 5465 §4: with NOTIFY on, events are reported whenever the
        // client is between commands, not only during IDLE.
        let notify = self.session.notify_active() && self.framer.between_commands();
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))?;
        tokio::select! {
            _ = self.shutdown.cancelled() => {
                self.bye("Server shutting down").await?;
                Ok(false)
            }
            ev = self.session.next_event(), if notify => {
                let outcome = self.session.notify_event(ev).await;
                if !self.act(outcome).await? {
                    return Ok(false);
                }
                self.flush().await?;
                Ok(true)
            }
            // Changes by another process raise no event: looked for every
            // `idle_poll`, as in IDLE (a deadline kept across waits, so
            // that other accounts' events cannot put it off for ever).
            _ = tokio::time::sleep_until(self.notify_poll_at), if notify => {
                self.notify_poll_at = tokio::time::Instant::now() + self.shared.config.idle_poll;
                let outcome = self.session.notify_poll().await;
                if !self.act(outcome).await? {
                    return Ok(false);
                }
                self.flush().await?;
                Ok(true)
            }
            r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match r {
                Err(_) if pre_auth => {
                    self.bye("Login timeout; log in sooner").await?;
                    Ok(false)
                }
                Err(_) => {
                    self.bye("Autologout; idle for too long").await?;
                    Ok(false)
                }
                Ok(Ok(0)) => Ok(false),
                Ok(Ok(n)) => {
                    self.last_input = tokio::time::Instant::now();
                    self.push_input(&buf[..n])?;
                    if n == WAIT_READ {
                        self.read_ready().await?;
                    }
                    Ok(true)
                }
                Ok(Err(e)) => Err(e),
            }
        }
    }

    /// After a wait that filled its small buffer: reads once more, up to
    /// `READ_SIZE`, what the stream has ready, without waiting (an end of
    /// input is left for the next wait to see). At most `WAIT_READ +
    /// READ_SIZE` bytes go to the framer per wait, as one `READ_SIZE` read
    /// did before.
    async fn read_ready(&mut self) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let mut buf = vec![0u8; READ_SIZE];
        // A zero timeout polls the read once: data that is there, or nothing.
        match tokio::time::timeout(std::time::Duration::ZERO, stream.read(&mut buf)).await {
            Ok(Ok(n)) => self.push_input(&buf[..n]),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(()),
        }
    }

    async fn drive(&mut self) -> io::Result<()> {
        self.session.greeting();
        self.flush().await?;
        loop {
            let outcome = match self.framer.next_frame() {
                Frame::Incomplete => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(());
                    }
                    continue;
                }
                Frame::NeedContinuation { .. } => {
                    self.session
                        .put(Continue::Text("Ready for literal data".into()));
                    self.flush().await?;
                    continue;
                }
                Frame::Rejected { tag, error } => self.session.rejected(tag, error).await,
                Frame::Fatal { error, .. } => {
                    self.session.put(error.bye());
                    self.flush().await?;
                    return Ok(());
                }
                Frame::Complete(bytes) => self.session.handle(&bytes).await,
                Frame::Spooled { bytes, done } => {
                    self.session.spooled_bytes(&bytes, done).await;
                    continue;
                }
            };
            if !self.act(outcome).await? {
                return Ok(());
            }
        }
    }

    /// Does what the session asked once it handled a frame; `false` when
    /// the connection is to close.
    async fn act(&mut self, mut outcome: Outcome) -> io::Result<bool> {
        loop {
            outcome = match outcome {
                Outcome::Continue => break,
                Outcome::More => {
                    // RFC 9585: a progress response goes out when made.
                    if std::mem::take(&mut self.session.flush_soon) {
                        self.flush().await?;
                    }
                    self.maybe_flush().await?;
                    self.session.resume().await
                }
                Outcome::StartTls => {
                    if !self.start_tls().await? {
                        return Ok(false);
                    }
                    break;
                }
                Outcome::Compress => {
                    // RFC 4978 §3: the OK goes out uncompressed.
                    self.flush().await?;
                    self.deflate = Some(Deflate::new());
                    break;
                }
                Outcome::Idle => self.idle().await?,
                Outcome::Close => {
                    self.flush().await?;
                    return Ok(false);
                }
            };
        }
        // The logged-in limits (APPENDLIMIT) from the tagged OK of LOGIN.
        self.framer.set_limits(self.session.framer_limits());
        self.maybe_flush().await?;
        if self.shutdown.is_cancelled() {
            self.bye("Server shutting down").await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// STARTTLS after its OK (RFC 9051 §6.2.1); `false` when the
    /// handshake failed.
    async fn start_tls(&mut self) -> io::Result<bool> {
        self.flush().await?;
        // Anything sent before the handshake is discarded.
        self.framer.clear();
        let (Some(acceptor), Some(stream)) = (self.starttls.take(), self.stream.take()) else {
            return Ok(false);
        };
        match stream.upgrade(&acceptor).await {
            Ok(s) => {
                self.stream = Some(s);
                self.session.tls_started();
                Ok(true)
            }
            Err(e) => {
                tracing::debug!("STARTTLS handshake failed: {e}");
                Ok(false)
            }
        }
    }

    /// Waits during IDLE (RFC 2177 §3) until the client's line, autologout
    /// or shutdown; change events and the poll interval go to the session
    /// and what it says is written at once.
    async fn idle(&mut self) -> io::Result<Outcome> {
        self.flush().await?;
        // An IDLE may last 29 minutes: keep no spare buffer meanwhile.
        self.session.out = Vec::new();
        self.framer.shrink();
        let poll = self.shared.config.idle_poll;
        let deadline = tokio::time::Instant::now() + self.shared.config.idle_timeout;
        let mut buf = [0u8; WAIT_READ];
        loop {
            match self.framer.next_frame() {
                Frame::Incomplete => {}
                Frame::Complete(line) => {
                    self.session.idle_done(&line).await;
                    return Ok(Outcome::Continue);
                }
                Frame::NeedContinuation { .. } | Frame::Rejected { .. } | Frame::Spooled { .. } => {
                    self.session.idle_interrupted();
                    return Ok(Outcome::Continue);
                }
                Frame::Fatal { error, .. } => {
                    self.session.idle_abandoned();
                    self.session.put(error.bye());
                    return Ok(Outcome::Close);
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Outcome::Close);
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    self.session.idle_abandoned();
                    self.session.put(Status::bye("Server shutting down"));
                    return Ok(Outcome::Close);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.session.idle_abandoned();
                    self.session.put(Status::bye("Autologout; idle for too long"));
                    return Ok(Outcome::Close);
                }
                r = stream.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(Outcome::Close);
                    }
                    self.last_input = tokio::time::Instant::now();
                    self.push_input(&buf[..n])?;
                    if n == WAIT_READ {
                        self.read_ready().await?;
                    }
                }
                ev = self.session.next_event() => {
                    if self.session.idle_event(ev).await {
                        self.flush().await?;
                    }
                    while self.session.has_pending() {
                        let outcome = self.session.resume().await;
                        self.flush().await?;
                        if outcome == Outcome::Close {
                            return Ok(Outcome::Close);
                        }
                    }
                }
                _ = tokio::time::sleep(poll) => {
                    self.session.idle_poll().await;
                    self.flush().await?;
                }
            }
        }
    }
}

/// Raw DEFLATE (RFC 1951) both ways, as RFC 4978 §4 requires: no zlib
/// header, a sync flush after every burst of responses.
struct Deflate {
    compress: flate2::Compress,
    decompress: flate2::Decompress,
}

/// Inflated bytes allowed from one read (a decompression bomb is cut off
/// here; the framer limits apply to what passes).
const MAX_INFLATE: usize = 4 * 1024 * 1024;

impl Deflate {
    fn new() -> Self {
        Deflate {
            compress: flate2::Compress::new(flate2::Compression::default(), false),
            decompress: flate2::Decompress::new(false),
        }
    }

    fn deflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            out.reserve(input.len() + 64);
            let before = self.compress.total_in();
            self.compress
                .compress_vec(input, &mut out, flate2::FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.compress.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Inflates what the client sent. An error ends the connection: the
    /// stream ended (a final block, RFC 1951 §3.2.3, after which RFC 4978
    /// allows nothing) with bytes still coming, the data is not DEFLATE, or
    /// it expands past [`MAX_INFLATE`]. Every turn of the loop consumes
    /// input or produces output, or the loop ends.
    fn inflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.len() > MAX_INFLATE {
                return Err(io::Error::other("compressed input expands too much"));
            }
            out.reserve(16 * 1024);
            let (in_before, out_before) = (self.decompress.total_in(), out.len());
            let status = self
                .decompress
                .decompress_vec(input, &mut out, flate2::FlushDecompress::Sync)
                .map_err(io::Error::other)?;
            let used =
                usize::try_from(self.decompress.total_in() - in_before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            if status == flate2::Status::StreamEnd {
                // RFC 4978 §4: the compression lasts as long as the
                // connection; a final block ends what may be read.
                return Err(io::Error::other("compressed stream ended"));
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if used == 0 && out.len() == out_before && out.len() < out.capacity() {
                // Room to write, input left, and nothing moved: it never will.
                return Err(io::Error::other("compressed input makes no progress"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflate_ends_at_the_final_block_instead_of_spinning() {
        let mut z = Deflate::new();
        // An empty final stored block, then one more byte (RFC 1951 §3.2.3).
        assert!(z.inflate(&[0x03, 0x00, 0x41]).is_err());
        let mut z = Deflate::new();
        assert!(z.inflate(&[0x03, 0x00]).is_err());
        // A normal round trip still works.
        let (mut a, mut b) = (Deflate::new(), Deflate::new());
        let packed = a.deflate(b"a NOOP\r\n").unwrap_or_default();
        assert_eq!(b.inflate(&packed).unwrap_or_default(), b"a NOOP\r\n");
    }
}
