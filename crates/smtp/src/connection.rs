//! The I/O loop of one SMTP connection: the only code that touches the
//! socket.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tidings_net::{Connection, MaybeTls};
use tidings_smtp_proto::{DataOutcome, DataReader, Frame, LineFramer, Reply};
use tidings_store::Spool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::session::{BdatBody, Session};

const READ_SIZE: usize = 16 * 1024;

/// Runs one connection to its end.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Connection {
        id,
        stream,
        peer,
        local,
        starttls,
    } = conn;
    let tls = stream.is_tls();
    let io = Io {
        stream: Some(stream),
        framer: LineFramer::default(),
        out: Vec::with_capacity(1024),
        buf: vec![0; READ_SIZE],
        write_timeout: shared.config.write_timeout,
    };
    let mut session = Session::new(io, shared, id, peer, local, tls, starttls);
    if let Err(e) = session.drive(&shutdown).await {
        tracing::debug!("connection ended: {e}");
    }
}

/// The bytes of one connection.
pub(crate) struct Io {
    /// `None` only while a STARTTLS handshake has it.
    pub(crate) stream: Option<MaybeTls>,
    pub(crate) framer: LineFramer,
    out: Vec<u8>,
    buf: Vec<u8>,
    write_timeout: Duration,
}

/// What waiting for a command line gave.
pub(crate) enum Input {
    Frame(Frame),
    Eof,
    Timeout,
    Shutdown,
}

impl Io {
    pub(crate) async fn shutdown(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
    }

    pub(crate) fn reply(&mut self, reply: &Reply) {
        reply.encode(&mut self.out);
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let Io { stream, out, .. } = self;
        let stream = stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no stream"))?;
        let write = async {
            stream.write_all(out).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                ));
            }
        }
        self.out.clear();
        Ok(())
    }

    /// Reads from the socket into `buf`; `Ok(0)` at end of stream.
    pub(crate) async fn read(&mut self, timeout: Duration) -> io::Result<usize> {
        let Io { stream, buf, .. } = self;
        let stream = stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no stream"))?;
        match tokio::time::timeout(timeout, stream.read(buf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    /// The next command line; replies waiting are flushed before waiting.
    pub(crate) async fn next(
        &mut self,
        timeout: Duration,
        shutdown: Option<&CancellationToken>,
    ) -> io::Result<Input> {
        loop {
            if let Some(frame) = self.framer.next_frame() {
                return Ok(Input::Frame(frame));
            }
            self.flush().await?;
            let Io { stream, buf, .. } = self;
            let stream = stream
                .as_mut()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no stream"))?;
            let read = async { tokio::time::timeout(timeout, stream.read(buf)).await };
            let n = match shutdown {
                Some(token) => tokio::select! {
                    biased;
                    _ = token.cancelled() => return Ok(Input::Shutdown),
                    r = read => r,
                },
                None => read.await,
            };
            match n {
                Err(_) => return Ok(Input::Timeout),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(0)) => return Ok(Input::Eof),
                Ok(Ok(n)) => {
                    let Io { framer, buf, .. } = self;
                    framer.push(&buf[..n]);
                }
            }
        }
    }

    /// Reads a DATA body up to its end into `spool` (a piece at a time:
    /// the session never holds the body); the bytes after it go back to
    /// the framer (the next pipelined commands).
    pub(crate) async fn read_data(
        &mut self,
        limit: u64,
        timeout: Duration,
        spool: &mut Spool,
    ) -> io::Result<(DataOutcome, Option<io::Error>)> {
        let mut reader = DataReader::new(limit);
        let mut piece = Vec::with_capacity(READ_SIZE);
        // A spool that cannot be written (disk full) fails the message,
        // not the session: the body is still read to its end.
        let mut failed = None;
        let mut keep = |piece: &mut Vec<u8>, failed: &mut Option<io::Error>| {
            if failed.is_none()
                && let Err(e) = spool.write(piece)
            {
                *failed = Some(e);
            }
            piece.clear();
        };
        let pending = self.framer.take_buffered();
        let done = reader.push(&pending, &mut piece);
        keep(&mut piece, &mut failed);
        if let Some((outcome, used)) = done {
            self.framer.push(&pending[used..]);
            return Ok((outcome, failed));
        }
        drop(pending);
        loop {
            let n = self.read(timeout).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside DATA",
                ));
            }
            let Io { framer, buf, .. } = self;
            let done = reader.push(&buf[..n], &mut piece);
            keep(&mut piece, &mut failed);
            if let Some((outcome, used)) = done {
                framer.push(&buf[used..n]);
                return Ok((outcome, failed));
            }
        }
    }

    /// Reads exactly `size` octets of a BDAT chunk (RFC 3030 §2), writing
    /// them to `into` only while the body stays within `limit` (`into`
    /// `None`: read and dropped). Returns whether all were kept.
    pub(crate) async fn read_chunk(
        &mut self,
        size: u64,
        mut into: Option<&mut BdatBody>,
        limit: u64,
        timeout: Duration,
    ) -> io::Result<bool> {
        let mut kept = into.is_some();
        let mut remaining = size;
        let mut take = |bytes: &[u8], into: &mut Option<&mut BdatBody>| match into {
            Some(body) if kept && body.spool.len() + bytes.len() as u64 <= limit => {
                body.scan.push(bytes);
                if body.failed.is_none()
                    && let Err(e) = body.spool.write(bytes)
                {
                    // Disk full: the message fails at LAST, not the session.
                    body.failed = Some(e);
                }
            }
            _ => kept = false,
        };
        let pending = self.framer.take_buffered();
        let first = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(pending.len());
        take(&pending[..first], &mut into);
        remaining -= first as u64;
        self.framer.push(&pending[first..]);
        while remaining > 0 {
            let n = self.read(timeout).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside BDAT",
                ));
            }
            let used = usize::try_from(remaining).unwrap_or(usize::MAX).min(n);
            take(&self.buf[..used], &mut into);
            remaining -= used as u64;
            let Io { framer, buf, .. } = self;
            framer.push(&buf[used..n]);
        }
        Ok(kept)
    }
}
