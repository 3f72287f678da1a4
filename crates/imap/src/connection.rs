//! The I/O loop of one IMAP connection: the socket, TLS and STARTTLS,
//! COMPRESS=DEFLATE (RFC 4978), the framer, flushing and timeouts.

use std::io;
use std::sync::Arc;

use tidings_imap_proto::{CodecOptions, Continue, Frame, Framer, Status};
use tidings_net::{Connection, MaybeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::session::{Enabled, Flow, Session, State};

/// Runs one connection to its end.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Connection {
        stream,
        peer,
        starttls,
        ..
    } = conn;
    // Small limits until the client has logged in (see `PREAUTH_LIMITS`).
    let framer = Framer::new(shared.config.preauth_limits);
    let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
    let mut s = Session {
        shared,
        stream: Some(stream),
        starttls,
        peer: peer.ip(),
        framer,
        out: Vec::with_capacity(4096),
        opts: CodecOptions::default(),
        state: State::NotAuthenticated { failures: 0 },
        enabled: Enabled::default(),
        events: None,
        dirty: false,
        saved: Vec::new(),
        deflate: None,
        login_deadline,
        shutdown,
    };
    if let Err(e) = s.drive().await {
        tracing::debug!("imap connection ended: {e}");
    }
}

pub(crate) fn tls_of(stream: &Option<MaybeTls>) -> bool {
    stream.as_ref().is_some_and(MaybeTls::is_tls)
}

/// Raw DEFLATE (RFC 1951) both ways, as RFC 4978 §4 requires: no zlib
/// header, a sync flush after every burst of responses.
pub(crate) struct Deflate {
    compress: flate2::Compress,
    decompress: flate2::Decompress,
}

/// Inflated bytes allowed from one read (a decompression bomb is cut off
/// here; the framer limits apply to what passes).
pub(crate) const MAX_INFLATE: usize = 4 * 1024 * 1024;

impl Deflate {
    pub(crate) fn new() -> Self {
        Deflate {
            compress: flate2::Compress::new(flate2::Compression::default(), false),
            decompress: flate2::Decompress::new(false),
        }
    }

    pub(crate) fn deflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
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
    pub(crate) fn inflate(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
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

/// Bytes read from the socket at a time.
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// The reply buffer is written once it holds this much.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

impl Session {
    /// Hands bytes from the socket to the framer, inflated once
    /// COMPRESS=DEFLATE is active.
    pub(crate) fn push_input(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.deflate.as_mut() {
            Some(z) => {
                let plain = z.inflate(bytes)?;
                self.framer.push(&plain);
            }
            None => self.framer.push(bytes),
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let compressed;
        let bytes: &[u8] = match self.deflate.as_mut() {
            Some(z) => {
                compressed = z.deflate(&self.out)?;
                &compressed
            }
            None => &self.out,
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
        self.out.clear();
        Ok(())
    }

    pub(crate) async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Reads more input into the framer. `Ok(false)` on end of input,
    /// autologout or shutdown (the BYE is already written).
    pub(crate) async fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; READ_SIZE];
        let pre_auth = matches!(self.state, State::NotAuthenticated { .. });
        let deadline = if pre_auth {
            self.login_deadline
        } else {
            tokio::time::Instant::now() + self.shared.config.idle_timeout
        };
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))?;
        tokio::select! {
            _ = self.shutdown.cancelled() => {
                self.put(Status::bye("Server shutting down"));
                self.flush().await?;
                Ok(false)
            }
            r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match r {
                Err(_) if pre_auth => {
                    self.put(Status::bye("Login timeout; log in sooner"));
                    self.flush().await?;
                    Ok(false)
                }
                Err(_) => {
                    self.put(Status::bye("Autologout; idle for too long"));
                    self.flush().await?;
                    Ok(false)
                }
                Ok(Ok(0)) => Ok(false),
                Ok(Ok(n)) => {
                    self.push_input(&buf[..n])?;
                    Ok(true)
                }
                Ok(Err(e)) => Err(e),
            }
        }
    }

    /// The next complete frame (a line such as a SASL response), reading
    /// as needed; `None` when the connection ended.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.framer.next_frame() {
                Frame::Complete(b) => return Ok(Some(b)),
                Frame::Incomplete => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
                Frame::NeedContinuation { .. } => {
                    self.put(Continue::Text("Ready for literal data".into()));
                    self.flush().await?;
                }
                Frame::Rejected { .. } => return Ok(Some(Vec::new())),
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    self.flush().await?;
                    return Ok(None);
                }
            }
        }
    }

    pub(crate) async fn drive(&mut self) -> io::Result<()> {
        let caps = self.capabilities().join(" ");
        self.out
            .extend_from_slice(format!("* OK [CAPABILITY {caps}] Tidings ready\r\n").as_bytes());
        self.flush().await?;
        loop {
            match self.framer.next_frame() {
                Frame::Incomplete => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(());
                    }
                }
                Frame::NeedContinuation { .. } => {
                    self.put(Continue::Text("Ready for literal data".into()));
                    self.flush().await?;
                }
                Frame::Rejected { tag, error } => self.put(error.response(tag.as_ref())),
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    self.flush().await?;
                    return Ok(());
                }
                Frame::Complete(bytes) => {
                    let flow = self.command(&bytes).await?;
                    self.maybe_flush().await?;
                    if flow == Flow::Close || matches!(self.state, State::Logout) {
                        self.flush().await?;
                        return Ok(());
                    }
                    if self.shutdown.is_cancelled() {
                        self.put(Status::bye("Server shutting down"));
                        self.flush().await?;
                        return Ok(());
                    }
                }
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
