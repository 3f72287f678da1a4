//! The I/O loop of one POP3 connection: bytes between the socket and the
//! [`Session`].
//!
//! Implementation notes:
//! - Pipelining (RFC 2449 §6.6): every complete line already received is
//!   handled in order; replies collect in one buffer that is written when
//!   no complete line is left (or when it grows past [`CHUNK`]), so a
//!   client that sends many commands at once gets its replies in few
//!   writes.
//! - Memory per connection is bounded: a command line is at most 255
//!   octets (the framer drops longer ones), reads are [`READ_SIZE`] bytes,
//!   and RETR reads the stored message [`CHUNK`] bytes at a time (on a
//!   blocking thread: a large one comes from its blob file) and sends each
//!   piece dot-stuffed, so a session never holds a whole message; TOP loads
//!   the message once to cut it.
//! - Timeouts: before login a read waits at most `login_timeout` (1
//!   minute), after it `idle_timeout` (RFC 1939 §3 autologout, at least 10
//!   minutes); a write at most `write_timeout`. Either timeout closes with
//!   `-ERR` and without the UPDATE state.
//! - STLS (RFC 2595 §4): after `+OK` the reply buffer is flushed, any bytes
//!   the client sent after STLS are dropped (they were sent in plaintext and
//!   must not be acted on inside TLS), then the handshake runs.
//! - Shutdown: the command being handled is finished; then the client gets
//!   `-ERR [SYS/TEMP] server shutting down` and the connection closes,
//!   without the UPDATE state.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tidings_net::{Connection, MaybeTls};
use tidings_pop3_proto::{
    DotStuffer, LineFramer, MAX_COMMAND_LINE, RespCode, Response, StreamStuffer,
};
use tidings_store::MessageReader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::session::{Body, Next, Session};

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 4096;
/// Replies are written once this many bytes are waiting.
const CHUNK: usize = 64 * 1024;

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
        peer.ip(),
        stream.is_tls(),
        starttls.is_some(),
        shutdown.clone(),
    );
    let io = Io {
        stream,
        out: Vec::with_capacity(1024),
        write_timeout: shared.config.write_timeout,
    };
    match drive(io, session, starttls, &shared, &shutdown).await {
        Ok(()) => {}
        Err(e) => tracing::debug!("connection ended: {e}"),
    }
}

struct Io {
    stream: MaybeTls,
    out: Vec<u8>,
    write_timeout: Duration,
}

impl Io {
    /// Writes what is waiting in `out`.
    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
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

    /// Says `response` and closes.
    async fn close_with(&mut self, response: Response) -> io::Result<()> {
        response.encode(&mut self.out);
        self.flush().await?;
        let _ = self.stream.shutdown().await;
        Ok(())
    }
}

async fn drive(
    mut io: Io,
    mut session: Session,
    starttls: Option<TlsAcceptor>,
    shared: &Shared,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    let mut framer = LineFramer::new(MAX_COMMAND_LINE);
    let mut buf = vec![0u8; READ_SIZE];
    session.greeting(&mut io.out);
    loop {
        let Some(frame) = framer.next_frame() else {
            // The end of a batch of pipelined commands.
            io.flush().await?;
            let read = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return io.close_with(shutting_down()).await,
                read = tokio::time::timeout(read_timeout(&session, shared), io.stream.read(&mut buf)) => read,
            };
            let n = match read {
                Ok(n) => n?,
                Err(_) => {
                    tracing::debug!("autologout");
                    // RFC 1939 §3: closed without entering UPDATE.
                    return io
                        .close_with(Response::err("autologout: idle for too long"))
                        .await;
                }
            };
            if n == 0 {
                // Dropped before QUIT: RFC 1939 §6, nothing is applied.
                return Ok(());
            }
            framer.push(&buf[..n]);
            continue;
        };
        if shutdown.is_cancelled() {
            return io.close_with(shutting_down()).await;
        }
        match session.handle(frame, &mut io.out).await {
            Next::Continue => {}
            Next::Body(Body::Part { raw, len }) => {
                let mut stuffer = DotStuffer::new(&raw[..len]);
                while !stuffer.encode_chunk(&mut io.out, CHUNK) {
                    io.flush().await?;
                }
            }
            Next::Body(Body::Stream(reader)) => send_stream(&mut io, reader).await?,
            Next::StartTls => {
                io.flush().await?;
                let dropped = framer.clear();
                if dropped > 0 {
                    tracing::info!(dropped, "dropped bytes sent after STLS before TLS");
                }
                let Some(acceptor) = &starttls else {
                    return Ok(());
                };
                let Io {
                    stream,
                    out,
                    write_timeout,
                } = io;
                let stream = match stream.upgrade(acceptor).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::info!("STLS handshake failed: {e}");
                        return Ok(());
                    }
                };
                io = Io {
                    stream,
                    out,
                    write_timeout,
                };
                session.tls_started();
            }
            Next::Close => {
                io.flush().await?;
                let _ = io.stream.shutdown().await;
                return Ok(());
            }
        }
        framer.set_max_line(session.max_line());
        if io.out.len() >= CHUNK {
            io.flush().await?;
        }
    }
}

/// How long the next read may wait: RFC 1939 §3's autologout once logged in,
/// the shorter `login_timeout` before (the RFC's 10 minutes are for a
/// session that has logged in; an anonymous connection holding a slot that
/// long is a cheap way to exhaust the per-IP and global limits).
fn read_timeout(session: &Session, shared: &Shared) -> Duration {
    if session.logged_in() {
        shared.config.idle_timeout
    } else {
        shared.config.login_timeout
    }
}

/// RFC 2449 §8 / RFC 3206 §4: the reply when the server stops.
fn shutting_down() -> Response {
    Response::err_code(RespCode::SysTemp, "server shutting down")
}

/// Sends a stored message as the rest of a multi-line reply, reading it
/// [`CHUNK`] bytes at a time off the async workers (RFC 1939 §3 stuffing).
async fn send_stream(io: &mut Io, mut reader: MessageReader) -> io::Result<()> {
    let mut stuffer = StreamStuffer::default();
    loop {
        let (back, piece) = tokio::task::spawn_blocking(move || {
            let mut piece = vec![0u8; CHUNK];
            let read = std::io::Read::read(&mut reader, &mut piece).map(|n| {
                piece.truncate(n);
                piece
            });
            (reader, read)
        })
        .await
        .map_err(io::Error::other)?;
        reader = back;
        let piece = piece?;
        if piece.is_empty() {
            break;
        }
        stuffer.push(&piece, &mut io.out);
        if io.out.len() >= CHUNK {
            io.flush().await?;
        }
    }
    stuffer.finish(&mut io.out);
    Ok(())
}
