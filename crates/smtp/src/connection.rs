//! The I/O loop of one SMTP connection: the only code that touches the
//! socket. It reads lines, DATA bodies and BDAT chunks, writes replies,
//! runs the STARTTLS handshake, and acts on what the sans-I/O
//! [`Session`] asks for ([`Outcome`]).
//!
//! Implementation notes:
//! - Pipelining (RFC 2920): every complete line already received is
//!   handed to the session before the replies are written; they are
//!   written when no complete line is left (before the loop waits).
//! - Bodies: a DATA body and a BDAT chunk are read here, a piece at a time
//!   ([`READ_SIZE`]), into the spool the session handed out with the
//!   outcome ([`DataBody`], [`Chunk`]); the bytes after the body go back to
//!   the framer (the next pipelined commands). The loop never holds a
//!   body, and neither does the session.
//! - Timeouts: [`Session::idle_timeout`] per command read, then 421 4.4.2
//!   and close; `data_timeout` per body read, `write_timeout` per write,
//!   then the connection is dropped.
//! - STARTTLS (RFC 3207 §4.2): the 220 is written, any bytes the client
//!   sent after the command are dropped (sent in plaintext, they must not
//!   be read as if they came over TLS), then the handshake runs; the
//!   connection is dropped if it fails.
//! - Shutdown: the command in progress is finished, then 421 4.3.2 and
//!   close.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tidings_net::{Connection, MaybeTls};
use tidings_smtp_proto::{DataOutcome, EnhancedCode as E, Frame, LineFramer, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::cmd::{Chunk, DataBody};
use crate::session::{Outcome, Session};

/// Bytes read from the socket at a time.
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// Runs one connection to its end.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Connection {
        id,
        stream,
        peer,
        starttls,
        ..
    } = conn;
    let session = Session::new(
        Arc::clone(&shared),
        id,
        peer,
        stream.is_tls(),
        starttls.is_some(),
    );
    let mut io = Io {
        stream: Some(stream),
        framer: LineFramer::default(),
        buf: vec![0; READ_SIZE],
        write_timeout: shared.config.write_timeout,
        starttls,
    };
    if let Err(e) = drive(&mut io, session, &shared, &shutdown).await {
        tracing::debug!("connection ended: {e}");
    }
}

/// The 421 when the server stops.
fn shutting_down() -> Reply {
    Reply::new(421, E(4, 3, 2), "server shutting down, try again later")
}

async fn drive(
    io: &mut Io,
    mut session: Session,
    shared: &Shared,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    let data_timeout = shared.config.data_timeout;
    session.greeting();
    let mut outcome = Outcome::Command;
    loop {
        outcome = match outcome {
            Outcome::Command => {
                let timeout = session.idle_timeout();
                let input = io.next(&mut session.out, timeout, Some(shutdown)).await?;
                let line = match input {
                    Input::Frame(Frame::Line(line)) => line,
                    Input::Frame(Frame::TooLong) => {
                        session.line_too_long();
                        outcome = Outcome::Command;
                        continue;
                    }
                    Input::Eof => return Ok(()),
                    Input::Timeout => {
                        let reply = Reply::new(421, E(4, 4, 2), "timeout: closing connection");
                        return io.close_with(&mut session.out, &reply).await;
                    }
                    Input::Shutdown => {
                        return io.close_with(&mut session.out, &shutting_down()).await;
                    }
                };
                if shutdown.is_cancelled() {
                    return io.close_with(&mut session.out, &shutting_down()).await;
                }
                session.line(&line).await
            }
            Outcome::Data(mut body) => {
                io.flush(&mut session.out).await?; // the 354
                let done = io.read_data(&mut body, data_timeout).await?;
                session.data_done(body, done).await
            }
            Outcome::Chunk(mut chunk) => {
                io.read_chunk(&mut chunk, data_timeout).await?;
                session.chunk_done(chunk).await
            }
            Outcome::SaslResponse => {
                let timeout = session.idle_timeout();
                let line = match io.next(&mut session.out, timeout, None).await? {
                    Input::Frame(Frame::Line(line)) => Some(line),
                    Input::Frame(Frame::TooLong) => None,
                    Input::Eof | Input::Timeout | Input::Shutdown => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "no SASL response",
                        ));
                    }
                };
                session.sasl_response(line.as_deref()).await
            }
            Outcome::Pause(delay) => {
                io.flush(&mut session.out).await?;
                tokio::time::sleep(delay).await;
                session.resume()
            }
            Outcome::StartTls => {
                if !io.start_tls(&mut session.out).await? {
                    return Ok(());
                }
                session.tls_started();
                Outcome::Command
            }
            Outcome::Close => {
                io.flush(&mut session.out).await?;
                io.shutdown().await;
                return Ok(());
            }
        };
    }
}

/// The bytes of one connection.
struct Io {
    /// `None` only while a STARTTLS handshake has it.
    stream: Option<MaybeTls>,
    framer: LineFramer,
    buf: Vec<u8>,
    write_timeout: Duration,
    /// For STARTTLS; taken by the handshake.
    starttls: Option<TlsAcceptor>,
}

/// What waiting for a command line gave.
enum Input {
    Frame(Frame),
    Eof,
    Timeout,
    Shutdown,
}

impl Io {
    async fn shutdown(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
    }

    /// Says `reply` and closes.
    async fn close_with(&mut self, out: &mut Vec<u8>, reply: &Reply) -> io::Result<()> {
        reply.encode(out);
        self.flush(out).await?;
        self.shutdown().await;
        Ok(())
    }

    /// Writes the replies waiting in `out`.
    async fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let Io { stream, .. } = self;
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
        out.clear();
        Ok(())
    }

    /// Reads from the socket into `buf`; `Ok(0)` at end of stream.
    async fn read(&mut self, timeout: Duration) -> io::Result<usize> {
        let Io { stream, buf, .. } = self;
        let stream = stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no stream"))?;
        match tokio::time::timeout(timeout, stream.read(buf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    /// The next command line; the replies in `out` are written before
    /// waiting.
    async fn next(
        &mut self,
        out: &mut Vec<u8>,
        timeout: Duration,
        shutdown: Option<&CancellationToken>,
    ) -> io::Result<Input> {
        loop {
            if let Some(frame) = self.framer.next_frame() {
                return Ok(Input::Frame(frame));
            }
            self.flush(out).await?;
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

    /// Reads a DATA body up to its end into `body` (a piece at a time);
    /// the bytes after it go back to the framer (the next pipelined
    /// commands).
    async fn read_data(
        &mut self,
        body: &mut DataBody,
        timeout: Duration,
    ) -> io::Result<DataOutcome> {
        let pending = self.framer.take_buffered();
        if let Some((outcome, used)) = body.push(&pending) {
            self.framer.push(&pending[used..]);
            return Ok(outcome);
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
            if let Some((outcome, used)) = body.push(&buf[..n]) {
                framer.push(&buf[used..n]);
                return Ok(outcome);
            }
        }
    }

    /// Reads exactly the chunk's octets (RFC 3030 §2) into `chunk`; the
    /// bytes after it go back to the framer.
    async fn read_chunk(&mut self, chunk: &mut Chunk, timeout: Duration) -> io::Result<()> {
        let mut remaining = chunk.size();
        let pending = self.framer.take_buffered();
        let first = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(pending.len());
        chunk.push(&pending[..first]);
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
            let Io { framer, buf, .. } = self;
            chunk.push(&buf[..used]);
            remaining -= used as u64;
            framer.push(&buf[used..n]);
        }
        Ok(())
    }

    /// RFC 3207 §4.2: after the 220, drop anything the client sent after
    /// STARTTLS and run the handshake. `false` when it failed (the
    /// connection is then dropped).
    async fn start_tls(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        self.flush(out).await?;
        let dropped = self.framer.clear();
        if dropped > 0 {
            tracing::info!(dropped, "dropped bytes sent after STARTTLS before TLS");
        }
        let Some(acceptor) = self.starttls.take() else {
            return Ok(false);
        };
        let Some(stream) = self.stream.take() else {
            return Ok(false);
        };
        match stream.upgrade(&acceptor).await {
            Ok(tls) => {
                self.stream = Some(tls);
                Ok(true)
            }
            Err(e) => {
                tracing::info!("STARTTLS handshake failed: {e}");
                Ok(false)
            }
        }
    }
}
