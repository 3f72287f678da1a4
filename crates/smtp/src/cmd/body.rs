//! DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030): the bodies the
//! connection loop reads for the session, a piece at a time, into a store
//! spool (a file past 1 MiB, `tidings_store::spool`), never whole into
//! memory, and the replies once a body is complete.
//!
//! - DATA ends only at `<CRLF>.<CRLF>`, bare CR/LF refused
//!   (`tidings_smtp_proto::data`); BDAT chunks are read by count, and the
//!   whole body is refused for a bare CR/LF too unless it is
//!   `BODY=BINARYMIME` (scanned chunk by chunk).
//! - Neither keeps more than `max_message_size` octets; past it the rest
//!   is read and dropped, then 552.
//! - A spool that cannot be written (disk full) fails the message (452
//!   4.3.1), not the session: the body is still read to its end.

use std::io;

use tidings_smtp_proto::command::Body;
use tidings_smtp_proto::{BareLineEndScan, DataOutcome, DataReader, EnhancedCode as E, Reply};
use tidings_store::{Spool, Spooled};

use crate::session::{Outcome, Session, State, r};

/// A DATA body being read: the end is found by [`DataReader`] (only at
/// `<CRLF>.<CRLF>`; bare CR/LF refused), the octets go to the spool.
pub(crate) struct DataBody {
    reader: DataReader,
    spool: Spool,
    piece: Vec<u8>,
    /// Why the spool could not be written, if it could not: that fails
    /// the message, not the session (the body is still read to its end).
    failed: Option<io::Error>,
}

impl DataBody {
    fn new(spool: Spool, limit: u64) -> DataBody {
        DataBody {
            reader: DataReader::new(limit),
            spool,
            piece: Vec::with_capacity(crate::connection::READ_SIZE),
            failed: None,
        }
    }

    /// Takes the next octets from the socket; at the end of the body, the
    /// outcome and how many of `input` belonged to it.
    pub(crate) fn push(&mut self, input: &[u8]) -> Option<(DataOutcome, usize)> {
        let done = self.reader.push(input, &mut self.piece);
        if self.failed.is_none()
            && let Err(e) = self.spool.write(&self.piece)
        {
            self.failed = Some(e);
        }
        self.piece.clear();
        done
    }
}

/// One BDAT chunk being read (RFC 3030 §2): exactly `size` octets, kept
/// in the body while it stays within the size limit, else (and when there
/// is no body to add to) read and dropped.
pub(crate) struct Chunk {
    size: u64,
    last: bool,
    body: Option<BdatBody>,
    /// Every octet so far went to the body.
    kept: bool,
    limit: u64,
}

impl Chunk {
    /// A chunk read and dropped (no transaction, or no recipients).
    fn dropped(size: u64, last: bool) -> Chunk {
        Chunk {
            size,
            last,
            body: None,
            kept: false,
            limit: 0,
        }
    }

    /// A chunk added to `body` while the body stays within `limit`.
    fn added(size: u64, last: bool, body: BdatBody, limit: u64) -> Chunk {
        Chunk {
            size,
            last,
            kept: body.within,
            body: Some(body),
            limit,
        }
    }

    /// The chunk's size in octets.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The next octets of the chunk.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        match &mut self.body {
            Some(body) if self.kept && body.spool.len() + bytes.len() as u64 <= self.limit => {
                body.scan.push(bytes);
                if body.failed.is_none()
                    && let Err(e) = body.spool.write(bytes)
                {
                    // Disk full: the message fails at LAST, not the session.
                    body.failed = Some(e);
                }
            }
            _ => self.kept = false,
        }
    }
}

/// A BDAT body in progress (RFC 3030): the chunks so far, spooled, and a
/// scan for bare line ends over them.
pub(crate) struct BdatBody {
    spool: Spool,
    scan: BareLineEndScan,
    /// Still within the size limit.
    within: bool,
    /// Why the spool could not be written, if it could not.
    failed: Option<io::Error>,
}

/// Makes a spooled body durable (an fsync: on a blocking thread).
pub(crate) async fn finish(spool: Spool) -> io::Result<Spooled> {
    tokio::task::spawn_blocking(move || spool.finish())
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// The reply when a body could not be spooled (RFC 3463 X.3.1: mail
/// system full; temporary).
pub(crate) fn spool_failed(e: &io::Error) -> Reply {
    tracing::warn!("cannot spool a message body: {e}");
    r(
        452,
        E(4, 3, 1),
        "insufficient system storage, try again later",
    )
}

impl Session {
    /// DATA (RFC 5321 §4.1.1.4): 354, then the loop reads the body.
    pub(crate) fn data(&mut self) -> Outcome {
        let State::Transaction(tx) = &self.state else {
            self.reply(&r(503, E(5, 5, 1), "need MAIL before DATA"));
            return Outcome::Command;
        };
        if tx.bdat.is_some() {
            self.reply(&r(503, E(5, 5, 1), "DATA not allowed after BDAT"));
        } else if tx.recipients() == 0 {
            // RFC 2920 §3.1: no 354 when no recipient was accepted.
            self.reply(&r(554, E(5, 5, 1), "no valid recipients"));
        } else if tx.params.body == Some(Body::BinaryMime) {
            // RFC 3030 §3: BINARYMIME needs BDAT.
            self.reply(&r(503, E(5, 5, 1), "BODY=BINARYMIME requires BDAT"));
        } else {
            self.reply(&Reply::plain(354, "end data with <CR><LF>.<CR><LF>"));
            // Dropped (its file removed) if the client goes away
            // mid-body.
            let spool = self.shared.store.spool();
            return Outcome::Data(DataBody::new(spool, self.shared.config.max_message_size));
        }
        Outcome::Command
    }

    /// Delivers or queues a whole message ([`Session::accept`]), counted in
    /// the metrics as received (or rejected) and timed as the command
    /// `end-of-data` (the wait between the last byte and the reply).
    async fn deliver(&mut self, tx: crate::session::Transaction, body: Spooled) -> Reply {
        let started = std::time::Instant::now();
        let reply = self.accept(tx, body).await;
        tidings_metrics::delivered(reply.code < 400);
        tidings_metrics::command("smtp", "end-of-data", started.elapsed());
        reply
    }

    /// The DATA body was read to its end (or refused on the way).
    pub(crate) async fn data_done(&mut self, body: DataBody, outcome: DataOutcome) -> Outcome {
        let max = self.shared.config.max_message_size;
        let DataBody { spool, failed, .. } = body;
        let State::Transaction(tx) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let reply = match outcome {
            DataOutcome::Complete => match failed {
                Some(e) => spool_failed(&e),
                None => match finish(spool).await {
                    Ok(body) => self.deliver(*tx, body).await,
                    Err(e) => spool_failed(&e),
                },
            },
            DataOutcome::TooBig { size } => r(
                552,
                E(5, 3, 4),
                format!("message of {size} octets exceeds the limit of {max}"),
            ),
            DataOutcome::BareLineEnd => r(
                550,
                E(5, 6, 0),
                "bare CR or LF in message: lines must end with CRLF (RFC 5321 §2.3.8)",
            ),
        };
        self.reply(&reply);
        Outcome::Command
    }

    /// BDAT (RFC 3030 §2): the chunk that follows is read whatever the
    /// reply; into the body in progress when there is a transaction with
    /// recipients, else dropped.
    pub(crate) fn bdat(&mut self, size: u64, last: bool) -> Outcome {
        let max = self.shared.config.max_message_size;
        let State::Transaction(tx) = &mut self.state else {
            return Outcome::Chunk(Chunk::dropped(size, last));
        };
        if tx.recipients() == 0 {
            return Outcome::Chunk(Chunk::dropped(size, last));
        }
        let body = tx.bdat.take().unwrap_or_else(|| BdatBody {
            spool: self.shared.store.spool(),
            scan: BareLineEndScan::default(),
            within: true,
            failed: None,
        });
        Outcome::Chunk(Chunk::added(size, last, body, max))
    }

    /// A BDAT chunk was read.
    pub(crate) async fn chunk_done(&mut self, chunk: Chunk) -> Outcome {
        let max = self.shared.config.max_message_size;
        let Chunk {
            size,
            last,
            body,
            kept,
            ..
        } = chunk;
        let Some(mut body) = body else {
            let reply = if matches!(self.state, State::Transaction(_)) {
                r(554, E(5, 5, 1), "no valid recipients")
            } else {
                r(503, E(5, 5, 1), "need MAIL and RCPT before BDAT")
            };
            self.reply(&reply);
            return Outcome::Command;
        };
        if !kept && body.within {
            // Over the limit: nothing more is kept (the file goes now).
            body.within = false;
            body.spool = Spool::in_memory();
        }
        if !last {
            if let State::Transaction(tx) = &mut self.state {
                tx.bdat = Some(body);
            }
            self.reply(&r(250, E(2, 0, 0), format!("{size} octets received")));
            return Outcome::Command;
        }
        let State::Transaction(tx) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let binary = tx.params.body == Some(Body::BinaryMime);
        let reply = if !body.within {
            r(
                552,
                E(5, 3, 4),
                format!("message exceeds the limit of {max} octets"),
            )
        } else if !binary && body.scan.found() {
            // As in DATA (RFC 5321 §2.3.8): a bare CR or LF is refused.
            r(
                550,
                E(5, 6, 0),
                "bare CR or LF in message: lines must end with CRLF (RFC 5321 §2.3.8)",
            )
        } else if let Some(e) = &body.failed {
            spool_failed(e)
        } else {
            match finish(body.spool).await {
                Ok(spooled) => self.deliver(*tx, spooled).await,
                Err(e) => spool_failed(&e),
            }
        };
        self.reply(&reply);
        Outcome::Command
    }
}
