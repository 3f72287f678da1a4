//! The framer: splits the bytes a client sends into complete commands
//! (lines plus the literals they announce) before any parsing, with limits.
//!
//! Implementation notes (model: duesee's imap-next):
//! - A command is one or more lines; a line ending in `{n}`, `{n+}` or
//!   `~{n}` (RFC 9051 §4.3, RFC 7888, RFC 3516 §4.4) is followed by `n`
//!   bytes of literal data, then the command goes on.
//! - Only the non-literal text counts against `max_line`; each literal
//!   against `max_literal` (or `max_append_literal` for APPEND, the server's
//!   APPENDLIMIT), and all of a command's literals against
//!   `max_command_literals`.
//! - A synchronizing literal over a limit is refused before the client sends
//!   it (it waits for `+`): the framer drops the command and goes on, and
//!   the server answers `tag NO [TOOBIG]` or `BAD`. A non-synchronizing one
//!   is already on its way and cannot be told apart from commands, so the
//!   framer is poisoned: the server says `BYE` and closes (RFC 7888 §4).
//! - A line over `max_line` is refused and the rest of it, up to its LF, is
//!   skipped without being buffered.
//! - An APPEND literal of `spool_append_literal` bytes or more is not
//!   buffered: its announcement becomes `{0}` in the command and its bytes
//!   are handed out as they arrive ([`Frame::Spooled`]), for the server
//!   to write to disk; the command that follows parses with an empty
//!   message in its place, which the server fills with the spooled body
//!   (one per such literal, in order). So one connection's memory does
//!   not grow with the size of the messages it appends.

use thiserror::Error;

use crate::response::{Code, Status, StatusKind};
use crate::types::Tag;

/// Size limits. All of them bound the memory one connection can make the
/// server hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramerLimits {
    /// Non-literal bytes in one command, all its lines together.
    pub max_line: usize,
    /// One literal in any command other than APPEND.
    pub max_literal: u64,
    /// One literal in APPEND: the message size limit (APPENDLIMIT, RFC 7889).
    pub max_append_literal: u64,
    /// Literals in one command (MULTIAPPEND sends one per message).
    pub max_literals: usize,
    /// All literal bytes of one command together.
    pub max_command_literals: u64,
    /// One non-synchronizing literal (`{n+}`): `u64::MAX` with LITERAL+,
    /// 4096 with LITERAL- (RFC 7888 §4), 0 with neither.
    pub max_nonsync_literal: u64,
    /// APPEND literals of this size or more are handed out as they arrive
    /// ([`Frame::Spooled`]) instead of being buffered; `u64::MAX`: never.
    pub spool_append_literal: u64,
}

impl Default for FramerLimits {
    fn default() -> Self {
        FramerLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append_literal: 50 * 1024 * 1024,
            max_literals: 100,
            max_command_literals: 100 * 1024 * 1024,
            max_nonsync_literal: u64::MAX,
            spool_append_literal: u64::MAX,
        }
    }
}

/// What went over a limit.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("command line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("literal of {size} bytes is larger than the limit of {limit} bytes")]
    LiteralTooLarge { size: u64, limit: u64 },
    #[error("more than {limit} literals in one command")]
    TooManyLiterals { limit: usize },
    #[error("literal size is not a number")]
    BadLiteralSize,
}

impl FrameError {
    /// The tagged (or, without a tag, untagged) reply to a
    /// [`Frame::Rejected`]: `NO [TOOBIG]` for a literal over the limit
    /// (RFC 7889 §3, RFC 4469), `BAD` otherwise.
    pub fn response(&self, tag: Option<&Tag>) -> Status {
        let (kind, code) = match self {
            FrameError::LiteralTooLarge { .. } => (StatusKind::No, Some(Code::TooBig)),
            _ => (StatusKind::Bad, None),
        };
        Status {
            tag: tag.cloned(),
            kind,
            code,
            text: self.to_string(),
        }
    }

    /// The `* BYE` to send before closing after a [`Frame::Fatal`].
    pub fn bye(&self) -> Status {
        let code = matches!(self, FrameError::LiteralTooLarge { .. }).then_some(Code::TooBig);
        Status {
            tag: None,
            kind: StatusKind::Bye,
            code,
            text: self.to_string(),
        }
    }
}

/// What [`Framer::next_frame`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete command (or a line such as `DONE` or a SASL response),
    /// CRLF and literals included: hand it to [`crate::parse_command`].
    Complete(Vec<u8>),
    /// More input is needed.
    Incomplete,
    /// The client announced a synchronizing literal within the limits:
    /// send a continuation request (`+ Ready`), then feed more input.
    NeedContinuation { size: u64 },
    /// The command was dropped without reading the rest of it; the
    /// connection goes on. Answer `tag NO [TOOBIG] ...` for a literal or
    /// `tag BAD ...` (`* BAD` when `tag` is `None`).
    Rejected { tag: Option<Tag>, error: FrameError },
    /// The input can no longer be split into commands (a non-synchronizing
    /// literal over the limit): send `* BYE` and close. Every later call
    /// says the same.
    Fatal { tag: Option<Tag>, error: FrameError },
    /// Bytes of an APPEND literal over `spool_append_literal`, in order;
    /// `done` with its last bytes. The command (a later
    /// [`Frame::Complete`]) has `{0}` where the literal was.
    Spooled { bytes: Vec<u8>, done: bool },
}

#[derive(Clone, Debug)]
enum State {
    /// Looking for the LF that ends the current line.
    Line,
    /// Literal data runs up to this index of `buf`.
    Literal {
        end: usize,
    },
    /// Handing out this many more bytes of a spooled literal, which
    /// starts at `line_start` of `buf`.
    Spooled {
        remaining: u64,
    },
    /// Dropping bytes up to the next LF.
    SkipLine,
    Poisoned {
        tag: Option<Tag>,
        error: FrameError,
    },
}

/// Splits a client's byte stream into commands. Feed it with
/// [`Framer::push`], then call [`Framer::next_frame`] until it says
/// `Incomplete`.
#[derive(Clone, Debug)]
pub struct Framer {
    limits: FramerLimits,
    buf: Vec<u8>,
    state: State,
    /// Bytes of `buf` already looked at.
    scanned: usize,
    /// Where the current line starts in `buf`.
    line_start: usize,
    /// Non-literal bytes of the current command in finished lines.
    line_bytes: usize,
    literals: usize,
    literal_bytes: u64,
}

/// A literal announced at the end of a line: its size and whether it is
/// synchronizing.
fn literal_announcement(line: &[u8]) -> Option<Result<(u64, bool), FrameError>> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let inner = body.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let spec = &inner[open + 1..];
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (spec, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // Not a literal (e.g. a quoted "{x}" at the end): no announcement.
        return None;
    }
    let size = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    Some(size.map(|n| (n, sync)).ok_or(FrameError::BadLiteralSize))
}

/// The tag at the start of a command, if it is a valid one.
fn leading_tag(buf: &[u8]) -> Option<Tag> {
    let end = buf
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end])
        .ok()
        .and_then(|s| Tag::new(s).ok())
}

/// Whether the command in `buf` carries a message: APPEND (`tag APPEND
/// ...`) or REPLACE (`tag [UID] REPLACE ...`, RFC 8508 §3.4: the same
/// size limit and spooling as APPEND).
fn is_append(buf: &[u8]) -> bool {
    let mut words = buf.split(|&b| b == b' ');
    words.next();
    let mut name = words.next();
    if name.is_some_and(|w| w.eq_ignore_ascii_case(b"UID")) {
        name = words.next();
        return name.is_some_and(|w| w.eq_ignore_ascii_case(b"REPLACE"));
    }
    name.is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND") || w.eq_ignore_ascii_case(b"REPLACE"))
}

impl Framer {
    pub fn new(limits: FramerLimits) -> Self {
        Framer {
            limits,
            buf: Vec::new(),
            state: State::Line,
            scanned: 0,
            line_start: 0,
            line_bytes: 0,
            literals: 0,
            literal_bytes: 0,
        }
    }

    pub fn limits(&self) -> &FramerLimits {
        &self.limits
    }

    /// Changes the limits, e.g. to the user's APPENDLIMIT after login. A
    /// literal already accepted keeps its size.
    pub fn set_limits(&mut self, limits: FramerLimits) {
        self.limits = limits;
    }

    /// Adds bytes read from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Poisoned { .. }) {
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as a command. After STARTTLS
    /// this must be zero: plaintext sent before the handshake must not be
    /// read as if it came over TLS (RFC 9051 §11.1).
    /// Gives back the buffer's spare memory (a connection about to wait a
    /// long time, in IDLE, keeps only what it has not handed out yet).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the client is between commands: nothing of a next command
    /// received yet (no partial line, no literal under way). A server may
    /// send unsolicited responses then (RFC 5465 §4).
    pub fn between_commands(&self) -> bool {
        self.buf.is_empty() && matches!(self.state, State::Line)
    }

    /// Forgets the buffered bytes and any command in progress.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.reset_command();
        if !matches!(self.state, State::Poisoned { .. }) {
            self.state = State::Line;
        }
    }

    fn reset_command(&mut self) {
        self.scanned = 0;
        self.line_start = 0;
        self.line_bytes = 0;
        self.literals = 0;
        self.literal_bytes = 0;
    }

    /// Drops the first `n` bytes of `buf` with the command they hold.
    fn drop_command(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.reset_command();
    }

    /// The next frame of the input.
    pub fn next_frame(&mut self) -> Frame {
        loop {
            match self.state.clone() {
                State::Poisoned { tag, error } => return Frame::Fatal { tag, error },
                State::SkipLine => match self.buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.drop_command(i + 1);
                        self.state = State::Line;
                    }
                    None => {
                        self.buf.clear();
                        return Frame::Incomplete;
                    }
                },
                State::Spooled { remaining } => {
                    let available = self.buf.len() - self.line_start;
                    if available == 0 {
                        self.scanned = self.buf.len();
                        return Frame::Incomplete;
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(available);
                    let bytes: Vec<u8> = if self.line_start == 0 && n == self.buf.len() {
                        std::mem::take(&mut self.buf)
                    } else {
                        self.buf
                            .drain(self.line_start..self.line_start + n)
                            .collect()
                    };
                    let remaining = remaining - n as u64;
                    self.scanned = self.line_start;
                    self.state = if remaining == 0 {
                        State::Line
                    } else {
                        State::Spooled { remaining }
                    };
                    return Frame::Spooled {
                        bytes,
                        done: remaining == 0,
                    };
                }
                State::Literal { end } => {
                    if self.buf.len() < end {
                        self.scanned = self.buf.len();
                        return Frame::Incomplete;
                    }
                    self.scanned = end;
                    self.line_start = end;
                    self.state = State::Line;
                }
                State::Line => {
                    let found = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
                    let Some(off) = found else {
                        self.scanned = self.buf.len();
                        let pending = self.line_bytes + (self.buf.len() - self.line_start);
                        if pending > self.limits.max_line {
                            let tag = leading_tag(&self.buf);
                            self.buf.clear();
                            self.reset_command();
                            self.state = State::SkipLine;
                            return Frame::Rejected {
                                tag,
                                error: FrameError::LineTooLong {
                                    limit: self.limits.max_line,
                                },
                            };
                        }
                        return Frame::Incomplete;
                    };
                    let end = self.scanned + off + 1;
                    let line = &self.buf[self.line_start..end];
                    self.line_bytes += line.len();
                    let announcement = literal_announcement(line);
                    if let Some(frame) = self.check_line(end, announcement) {
                        return frame;
                    }
                }
            }
        }
    }

    /// Handles a finished line ending at `end`; `None` to keep going.
    fn check_line(
        &mut self,
        end: usize,
        announcement: Option<Result<(u64, bool), FrameError>>,
    ) -> Option<Frame> {
        let (size, sync) = match announcement {
            None => {
                if self.line_bytes > self.limits.max_line {
                    let tag = leading_tag(&self.buf);
                    self.drop_command(end);
                    let error = FrameError::LineTooLong {
                        limit: self.limits.max_line,
                    };
                    return Some(Frame::Rejected { tag, error });
                }
                // Hand over the buffer itself when the command is all of it
                // (the common case, and the one that matters for a large
                // APPEND); otherwise keep the rest, which is short.
                let command = if end == self.buf.len() {
                    std::mem::take(&mut self.buf)
                } else {
                    let rest = self.buf.split_off(end);
                    std::mem::replace(&mut self.buf, rest)
                };
                self.reset_command();
                return Some(Frame::Complete(command));
            }
            Some(Err(error)) => {
                let tag = leading_tag(&self.buf);
                self.drop_command(end);
                return Some(Frame::Rejected { tag, error });
            }
            Some(Ok(a)) => a,
        };
        self.literals += 1;
        let limit = if is_append(&self.buf) {
            self.limits.max_append_literal
        } else {
            self.limits.max_literal
        };
        let error = if self.line_bytes > self.limits.max_line {
            Some(FrameError::LineTooLong {
                limit: self.limits.max_line,
            })
        } else if self.literals > self.limits.max_literals {
            Some(FrameError::TooManyLiterals {
                limit: self.limits.max_literals,
            })
        } else if size > limit {
            Some(FrameError::LiteralTooLarge { size, limit })
        } else if !sync && size > self.limits.max_nonsync_literal {
            Some(FrameError::LiteralTooLarge {
                size,
                limit: self.limits.max_nonsync_literal,
            })
        } else if self.literal_bytes.saturating_add(size) > self.limits.max_command_literals {
            Some(FrameError::LiteralTooLarge {
                size,
                limit: self.limits.max_command_literals,
            })
        } else {
            None
        };
        if let Some(error) = error {
            let tag = leading_tag(&self.buf);
            if sync {
                // RFC 9051 §4.3: the client waits for "+", so nothing of the
                // literal has been sent; drop the command and go on.
                self.drop_command(end);
                return Some(Frame::Rejected { tag, error });
            }
            // RFC 7888 §4: the bytes are coming anyway; we cannot find the
            // next command in them.
            self.buf.clear();
            self.state = State::Poisoned {
                tag: tag.clone(),
                error: error.clone(),
            };
            return Some(Frame::Fatal { tag, error });
        }
        self.literal_bytes = self.literal_bytes.saturating_add(size);
        if size >= self.limits.spool_append_literal && is_append(&self.buf) {
            // `{n}`, `{n+}` (after `~` too) becomes `{0}`: the bytes are
            // handed out, not kept.
            let line = &self.buf[self.line_start..end];
            let open = line.iter().rposition(|&b| b == b'{').unwrap_or(0);
            let at = self.line_start + open;
            self.buf.splice(at..end, b"{0}\r\n".iter().copied());
            let end = at + 5;
            self.scanned = end;
            self.line_start = end;
            self.state = State::Spooled { remaining: size };
            if sync {
                return Some(Frame::NeedContinuation { size });
            }
            return None;
        }
        // A literal that cannot fit in memory cannot be read; with sane
        // limits this never happens.
        let literal_end = usize::try_from(size).ok().and_then(|n| end.checked_add(n));
        let Some(literal_end) = literal_end else {
            let tag = leading_tag(&self.buf);
            let error = FrameError::LiteralTooLarge { size, limit };
            self.state = State::Poisoned {
                tag: tag.clone(),
                error: error.clone(),
            };
            return Some(Frame::Fatal { tag, error });
        };
        self.scanned = end;
        self.state = State::Literal { end: literal_end };
        if sync {
            return Some(Frame::NeedContinuation { size });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_commands_only_with_nothing_buffered() {
        let mut f = Framer::new(FramerLimits::default());
        assert!(f.between_commands());
        f.push(b"a NOOP");
        assert!(!f.between_commands());
        f.push(b"\r\n");
        assert!(matches!(f.next_frame(), Frame::Complete(_)));
        assert!(f.between_commands());
        f.push(b"b APPEND x {3}\r\n");
        assert!(matches!(f.next_frame(), Frame::NeedContinuation { .. }));
        assert!(!f.between_commands());
    }
    use crate::response::Response;

    fn framer() -> Framer {
        Framer::new(FramerLimits {
            max_line: 100,
            max_literal: 10,
            max_append_literal: 1000,
            max_literals: 3,
            max_command_literals: 1500,
            max_nonsync_literal: u64::MAX,
            spool_append_literal: u64::MAX,
        })
    }

    fn complete(f: &mut Framer) -> Vec<u8> {
        match f.next_frame() {
            Frame::Complete(c) => c,
            other => panic!("expected a command, got {other:?}"),
        }
    }

    #[test]
    fn splits_pipelined_lines() {
        let mut f = framer();
        f.push(b"a NOOP\r\nb CAPA");
        assert_eq!(complete(&mut f), b"a NOOP\r\n");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.push(b"BILITY\r\n");
        assert_eq!(complete(&mut f), b"b CAPABILITY\r\n");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert_eq!(f.buffered_len(), 0);
    }

    #[test]
    fn synchronizing_literal_asks_for_continuation_once() {
        let mut f = framer();
        f.push(b"a LOGIN {3}\r\n");
        assert_eq!(f.next_frame(), Frame::NeedContinuation { size: 3 });
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.push(b"bo");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.push(b"b {2+}\r\npw\r\nb NOOP\r\n");
        assert_eq!(complete(&mut f), b"a LOGIN {3}\r\nbob {2+}\r\npw\r\n");
        assert_eq!(complete(&mut f), b"b NOOP\r\n");
    }

    #[test]
    fn literal_bytes_are_not_lines() {
        let mut f = framer();
        // The literal holds CRLF and something that looks like a literal.
        f.push(b"a APPEND x {12+}\r\n{5}\r\n\r\nabcd\r\n");
        assert_eq!(complete(&mut f), b"a APPEND x {12+}\r\n{5}\r\n\r\nabcd\r\n");
    }

    #[test]
    fn binary_literal8() {
        let mut f = framer();
        f.push(b"a APPEND x ~{3}\r\n");
        assert_eq!(f.next_frame(), Frame::NeedContinuation { size: 3 });
        f.push(b"\0\0\0\r\n");
        assert_eq!(complete(&mut f), b"a APPEND x ~{3}\r\n\0\0\0\r\n");
    }

    #[test]
    fn sync_literal_over_limit_is_refused_without_reading_it() {
        let mut f = framer();
        f.push(b"a LOGIN {11}\r\n");
        assert_eq!(
            f.next_frame(),
            Frame::Rejected {
                tag: Tag::new("a").ok(),
                error: FrameError::LiteralTooLarge {
                    size: 11,
                    limit: 10
                }
            }
        );
        // The client never sent the literal; it goes on with a new command.
        f.push(b"b NOOP\r\n");
        assert_eq!(complete(&mut f), b"b NOOP\r\n");
    }

    #[test]
    fn append_uses_the_append_limit() {
        let mut f = framer();
        f.push(b"a APPEND INBOX {500}\r\n");
        assert_eq!(f.next_frame(), Frame::NeedContinuation { size: 500 });
        let mut g = framer();
        g.push(b"a append INBOX {1001}\r\n");
        assert!(matches!(
            g.next_frame(),
            Frame::Rejected {
                error: FrameError::LiteralTooLarge {
                    size: 1001,
                    limit: 1000
                },
                ..
            }
        ));
    }

    #[test]
    fn non_sync_literal_over_limit_poisons() {
        let mut f = framer();
        f.push(b"a LOGIN {11+}\r\nhello world\r\n");
        let fatal = Frame::Fatal {
            tag: Tag::new("a").ok(),
            error: FrameError::LiteralTooLarge {
                size: 11,
                limit: 10,
            },
        };
        assert_eq!(f.next_frame(), fatal);
        f.push(b"b NOOP\r\n");
        assert_eq!(f.next_frame(), fatal);
    }

    #[test]
    fn literal_minus_limits_only_non_synchronizing_literals() {
        // RFC 7888 §4: with LITERAL-, {n+} is allowed up to 4096 bytes only.
        let mut limits = *framer().limits();
        limits.max_literal = 10_000;
        limits.max_command_literals = 10_000;
        limits.max_nonsync_literal = 4096;
        let mut f = Framer::new(limits);
        f.push(b"a LOGIN {5000}\r\n");
        assert_eq!(f.next_frame(), Frame::NeedContinuation { size: 5000 });
        let mut f = Framer::new(limits);
        f.push(b"a LOGIN {4097+}\r\n");
        let Frame::Fatal { tag, error } = f.next_frame() else {
            panic!()
        };
        assert_eq!(tag, Tag::new("a").ok());
        let bye = Response::from(error.bye()).to_bytes(Default::default());
        assert_eq!(
            String::from_utf8(bye).unwrap(),
            "* BYE [TOOBIG] literal of 4097 bytes is larger than the limit of 4096 bytes\r\n"
        );
    }

    #[test]
    fn rejections_say_what_to_answer() {
        let t = Tag::new("a").unwrap();
        let r = FrameError::LiteralTooLarge {
            size: 11,
            limit: 10,
        }
        .response(Some(&t));
        assert_eq!(
            String::from_utf8(Response::from(r).to_bytes(Default::default())).unwrap(),
            "a NO [TOOBIG] literal of 11 bytes is larger than the limit of 10 bytes\r\n"
        );
        let r = FrameError::LineTooLong { limit: 100 }.response(None);
        assert_eq!(
            String::from_utf8(Response::from(r).to_bytes(Default::default())).unwrap(),
            "* BAD command line longer than 100 bytes\r\n"
        );
    }

    #[test]
    fn too_many_literals() {
        let mut f = framer();
        f.push(b"a X {1+}\r\na {1+}\r\nb {1+}\r\nc {1}\r\n");
        assert_eq!(
            f.next_frame(),
            Frame::Rejected {
                tag: Tag::new("a").ok(),
                error: FrameError::TooManyLiterals { limit: 3 }
            }
        );
    }

    #[test]
    fn total_literal_bytes_are_bounded() {
        let mut f = framer();
        f.push(b"a APPEND x {1000+}\r\n");
        f.push(&[b'x'; 1000]);
        f.push(b" {600}\r\n");
        assert!(matches!(
            f.next_frame(),
            Frame::Rejected {
                error: FrameError::LiteralTooLarge {
                    size: 600,
                    limit: 1500
                },
                ..
            }
        ));
    }

    #[test]
    fn over_long_line_is_refused_and_skipped() {
        let mut f = framer();
        f.push(b"a SEARCH ");
        f.push(&[b'x'; 120]);
        assert_eq!(
            f.next_frame(),
            Frame::Rejected {
                tag: Tag::new("a").ok(),
                error: FrameError::LineTooLong { limit: 100 }
            }
        );
        assert_eq!(f.buffered_len(), 0);
        f.push(&[b'y'; 500]);
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert_eq!(f.buffered_len(), 0, "skipped bytes are not kept");
        f.push(b"yyy\r\nb NOOP\r\n");
        assert_eq!(complete(&mut f), b"b NOOP\r\n");
    }

    #[test]
    fn over_long_line_arriving_whole() {
        let mut f = framer();
        let mut line = b"t1 NOOP ".to_vec();
        line.extend_from_slice(&[b'x'; 100]);
        line.extend_from_slice(b"\r\nt2 NOOP\r\n");
        f.push(&line);
        assert!(matches!(
            f.next_frame(),
            Frame::Rejected {
                error: FrameError::LineTooLong { .. },
                ..
            }
        ));
        assert_eq!(complete(&mut f), b"t2 NOOP\r\n");
    }

    #[test]
    fn lines_of_one_command_add_up() {
        let mut f = framer();
        let mut cmd = b"a X ".to_vec();
        cmd.extend_from_slice(&[b'x'; 60]);
        cmd.extend_from_slice(b" {1+}\r\nz ");
        cmd.extend_from_slice(&[b'x'; 60]);
        cmd.extend_from_slice(b"\r\n");
        f.push(&cmd);
        assert!(matches!(
            f.next_frame(),
            Frame::Rejected {
                error: FrameError::LineTooLong { .. },
                ..
            }
        ));
    }

    #[test]
    fn no_tag_when_there_is_none() {
        let mut f = framer();
        f.push(b"{99999}\r\n");
        assert!(matches!(f.next_frame(), Frame::Rejected { tag: None, .. }));
    }

    #[test]
    fn limits_of_u64_max_do_not_overflow() {
        let mut f = Framer::new(FramerLimits {
            max_line: 100,
            max_literal: u64::MAX,
            max_append_literal: u64::MAX,
            max_literals: 3,
            max_command_literals: u64::MAX,
            max_nonsync_literal: u64::MAX,
            spool_append_literal: u64::MAX,
        });
        f.push(b"a LOGIN {18446744073709551615}\r\n");
        assert!(matches!(f.next_frame(), Frame::Fatal { .. }));
        let mut f = Framer::new(*f.limits());
        f.push(b"a LOGIN {18446744073709551615+}\r\n");
        assert!(matches!(f.next_frame(), Frame::Fatal { .. }));
    }

    /// Takes frames until `Incomplete`: the spooled bytes, whether the
    /// spooled literal ended, and the complete commands.
    fn drain(f: &mut Framer) -> (Vec<u8>, bool, Vec<Vec<u8>>) {
        let (mut spooled, mut ended, mut commands) = (Vec::new(), false, Vec::new());
        loop {
            match f.next_frame() {
                Frame::Incomplete => return (spooled, ended, commands),
                Frame::Spooled { bytes, done } => {
                    spooled.extend_from_slice(&bytes);
                    ended |= done;
                }
                Frame::Complete(c) => commands.push(c),
                Frame::NeedContinuation { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn large_append_literals_are_handed_out_not_buffered() {
        let mut limits = *framer().limits();
        limits.spool_append_literal = 8;
        let mut f = Framer::new(limits);
        f.push(b"a APPEND INBOX (\\Seen) {12}\r\n");
        assert_eq!(f.next_frame(), Frame::NeedContinuation { size: 12 });
        f.push(b"Subject");
        let (bytes, ended, commands) = drain(&mut f);
        assert_eq!((bytes.as_slice(), ended), (&b"Subject"[..], false));
        assert!(commands.is_empty());
        assert!(f.buffered_len() < 40, "the literal is not kept");
        f.push(b": x\r\n {2+}\r\nhi\r\nb NOOP\r\n");
        let (bytes, ended, commands) = drain(&mut f);
        assert_eq!((bytes.as_slice(), ended), (&b": x\r\n"[..], true));
        // A small literal stays in the command; the large one is `{0}`.
        assert_eq!(
            commands,
            vec![
                b"a APPEND INBOX (\\Seen) {0}\r\n {2+}\r\nhi\r\n".to_vec(),
                b"b NOOP\r\n".to_vec()
            ]
        );
        // UTF8 (~{n+}) too; not other commands.
        f.push(b"c APPEND INBOX UTF8 (~{9+}\r\n123456789)\r\nd LOGIN {9}\r\n");
        let (bytes, ended, commands) = drain(&mut f);
        assert_eq!((bytes.as_slice(), ended), (&b"123456789"[..], true));
        assert_eq!(
            commands,
            vec![b"c APPEND INBOX UTF8 (~{0}\r\n)\r\n".to_vec()]
        );
    }

    #[test]
    fn replace_literals_are_spooled_and_limited_as_append() {
        // RFC 8508 §3.4: REPLACE's message is an APPEND message.
        let mut limits = *framer().limits();
        limits.spool_append_literal = 8;
        let mut f = Framer::new(limits);
        f.push(b"a UID REPLACE 7 Drafts {10+}\r\n0123456789\r\n");
        let (bytes, ended, commands) = drain(&mut f);
        assert_eq!((bytes.as_slice(), ended), (&b"0123456789"[..], true));
        assert_eq!(
            commands,
            vec![b"a UID REPLACE 7 Drafts {0}\r\n\r\n".to_vec()]
        );
        let mut g = framer();
        g.push(b"b replace 1 INBOX {500}\r\n");
        assert_eq!(g.next_frame(), Frame::NeedContinuation { size: 500 });
        // Other UID commands keep the ordinary literal limit.
        let mut h = framer();
        h.push(b"c UID FETCH 1 {500}\r\n");
        assert!(matches!(h.next_frame(), Frame::Rejected { .. }));
    }

    #[test]
    fn huge_literal_size_is_refused() {
        let mut f = framer();
        f.push(b"a LOGIN {99999999999999999999999}\r\n");
        assert!(matches!(
            f.next_frame(),
            Frame::Rejected {
                error: FrameError::BadLiteralSize,
                ..
            }
        ));
    }
}
