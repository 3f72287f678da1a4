//! A stored message as the body of a multi-line reply (RFC 1939 §3, RETR
//! and TOP of §5 and §7).
//!
//! What goes on the wire is the stored bytes, with exactly two changes:
//! - dot-stuffing: a line that starts with `.` gets one more `.` in front
//!   (RFC 1939 §3);
//! - line ends: a bare LF becomes CRLF, because a multi-line reply is made
//!   of CRLF-terminated lines (RFC 1939 §3) and clients look for
//!   `CRLF.CRLF`. A CRLF stays as it is; a CR that does not precede an LF
//!   is passed through untouched; a message whose last line has no line
//!   end gets a CRLF before the terminating `.` line.
//!
//! A client that undoes the dot-stuffing therefore gets back the stored
//! bytes exactly when they use CRLF line ends (as everything received over
//! SMTP does). [`DotStuffer`] produces the reply in chunks of bounded size,
//! so a large message is never copied whole.

/// The part of a message `TOP msg n` sends (RFC 1939 §7): the header, the
/// blank line after it, and the first `lines` lines of the body. A message
/// without a blank line is all header.
pub fn top(raw: &[u8], lines: u32) -> &[u8] {
    let mut pos = 0;
    // The header ends with the first empty line.
    let body_start = loop {
        let Some(lf) = raw[pos..].iter().position(|&b| b == b'\n') else {
            return raw;
        };
        let line = &raw[pos..pos + lf];
        pos += lf + 1;
        if line.is_empty() || line == b"\r" {
            break pos;
        }
    };
    let mut end = body_start;
    for _ in 0..lines {
        match raw[end..].iter().position(|&b| b == b'\n') {
            Some(lf) => end += lf + 1,
            None => return raw,
        }
    }
    &raw[..end]
}

/// Encodes message bytes as the rest of a multi-line reply, terminator
/// included, a bounded chunk at a time.
#[derive(Debug)]
pub struct DotStuffer<'a> {
    rest: &'a [u8],
    at_line_start: bool,
    /// The last byte written was a CR of the current line.
    prev_cr: bool,
    done: bool,
}

impl<'a> DotStuffer<'a> {
    pub fn new(message: &'a [u8]) -> DotStuffer<'a> {
        DotStuffer {
            rest: message,
            at_line_start: true,
            prev_cr: false,
            done: false,
        }
    }

    /// Whether the terminator has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Appends the next part of the reply to `out`, stopping once `out`
    /// holds about `limit` bytes (a little more: a line end, a stuffed dot,
    /// the terminator). Returns whether the reply is complete.
    pub fn encode_chunk(&mut self, out: &mut Vec<u8>, limit: usize) -> bool {
        while !self.done && out.len() < limit {
            if self.rest.is_empty() {
                terminate(self.at_line_start, self.prev_cr, out);
                self.done = true;
                break;
            }
            self.step(out, limit);
        }
        self.done
    }

    /// Encodes the start of `rest`: up to and including one line end, or
    /// as much of a line as the budget allows.
    fn step(&mut self, out: &mut Vec<u8>, limit: usize) {
        if self.at_line_start && self.rest[0] == b'.' {
            out.push(b'.');
        }
        self.at_line_start = false;
        let budget = limit.saturating_sub(out.len()).max(1);
        let window = &self.rest[..budget.min(self.rest.len())];
        match window.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let cr_before = if lf > 0 {
                    window[lf - 1] == b'\r'
                } else {
                    self.prev_cr
                };
                out.extend_from_slice(&window[..lf]);
                out.extend_from_slice(if cr_before { b"\n" } else { b"\r\n" });
                self.rest = &self.rest[lf + 1..];
                self.at_line_start = true;
                self.prev_cr = false;
            }
            None => {
                out.extend_from_slice(window);
                self.prev_cr = window.last() == Some(&b'\r');
                self.rest = &self.rest[window.len()..];
            }
        }
    }

    /// The whole reply body at once (for tests and small messages).
    pub fn encode_all(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + 16);
        DotStuffer::new(message).encode_chunk(&mut out, usize::MAX);
        out
    }
}

/// The end of a multi-line reply: a line end for a last line without one,
/// then the `.` line.
fn terminate(at_line_start: bool, prev_cr: bool, out: &mut Vec<u8>) {
    if !at_line_start {
        out.extend_from_slice(if prev_cr { b"\n" } else { b"\r\n" });
    }
    out.extend_from_slice(b".\r\n");
}

/// [`DotStuffer`] for a message that arrives in pieces (read from a file a
/// chunk at a time): the line state is carried from one piece to the next,
/// so the output is the same as [`DotStuffer::encode_all`] of the whole.
#[derive(Debug)]
pub struct StreamStuffer {
    at_line_start: bool,
    prev_cr: bool,
}

impl Default for StreamStuffer {
    fn default() -> Self {
        StreamStuffer {
            at_line_start: true,
            prev_cr: false,
        }
    }
}

impl StreamStuffer {
    /// Appends the encoding of the next piece of the message to `out`.
    pub fn push(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        let mut d = DotStuffer {
            rest: piece,
            at_line_start: self.at_line_start,
            prev_cr: self.prev_cr,
            done: false,
        };
        while !d.rest.is_empty() {
            d.step(out, usize::MAX);
        }
        self.at_line_start = d.at_line_start;
        self.prev_cr = d.prev_cr;
    }

    /// Ends the reply.
    pub fn finish(self, out: &mut Vec<u8>) {
        terminate(self.at_line_start, self.prev_cr, out);
    }
}

/// Undoes [`DotStuffer`] as a client does: the lines up to the `.` line,
/// with one leading dot removed, each ended by CRLF. `None` without the
/// terminator. (Client side: for tests, the fuzzer and the load generator.)
pub fn unstuff(reply: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(reply.len());
    let mut rest = reply;
    loop {
        let lf = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = &rest[..lf];
        rest = &rest[lf + 2..];
        if line == b"." {
            return Some(out);
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_messages_come_back_exactly() {
        let msg = b"From: a@example.org\r\nSubject: dots\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nend\r\n";
        let wire = DotStuffer::encode_all(msg);
        assert_eq!(
            wire,
            b"From: a@example.org\r\nSubject: dots\r\n\r\n..starts with a dot\r\n...two\r\n..\r\nend\r\n.\r\n"
        );
        assert_eq!(unstuff(&wire).unwrap(), msg);
    }

    #[test]
    fn bare_lf_becomes_crlf_and_a_missing_last_line_end_is_added() {
        let wire = DotStuffer::encode_all(b"A: b\n\n.x\nlast");
        assert_eq!(wire, b"A: b\r\n\r\n..x\r\nlast\r\n.\r\n");
        assert_eq!(DotStuffer::encode_all(b""), b".\r\n");
        assert_eq!(
            DotStuffer::encode_all(b"lone\rcr\r\n"),
            b"lone\rcr\r\n.\r\n"
        );
    }

    #[test]
    fn chunks_are_bounded_and_join_to_the_whole() {
        let mut msg = Vec::new();
        for i in 0..500 {
            msg.extend_from_slice(format!(".line {i}\r\n").as_bytes());
            msg.extend_from_slice(&[b'x'; 333]);
            msg.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        }
        let whole = DotStuffer::encode_all(&msg);
        for limit in [1, 2, 7, 64, 4096] {
            let mut enc = DotStuffer::new(&msg);
            let mut joined = Vec::new();
            let mut chunk = Vec::new();
            while !enc.encode_chunk(&mut chunk, limit) {
                assert!(chunk.len() <= limit + 3, "{limit}: {}", chunk.len());
                joined.append(&mut chunk);
            }
            joined.append(&mut chunk);
            assert_eq!(joined, whole, "limit {limit}");
        }
    }

    #[test]
    fn a_message_in_pieces_encodes_as_the_whole() {
        let mut msg = Vec::new();
        for i in 0..300 {
            msg.extend_from_slice(format!(".line {i}\r\n").as_bytes());
            msg.extend_from_slice(&[b'x'; 57]);
            msg.extend_from_slice(match i % 3 {
                0 => b"\r\n".as_slice(),
                1 => b"\n",
                _ => b"\r",
            });
        }
        msg.extend_from_slice(b"no line end");
        let whole = DotStuffer::encode_all(&msg);
        for piece in [1, 2, 3, 7, 64, 4096, msg.len()] {
            let mut s = StreamStuffer::default();
            let mut out = Vec::new();
            for p in msg.chunks(piece) {
                s.push(p, &mut out);
            }
            s.finish(&mut out);
            assert_eq!(out, whole, "pieces of {piece}");
        }
    }

    #[test]
    fn a_crlf_split_between_chunks_stays_one_crlf() {
        let msg = b"ab\r\ncd";
        let mut enc = DotStuffer::new(msg);
        let mut out = Vec::new();
        enc.encode_chunk(&mut out, 3); // "ab\r"
        enc.encode_chunk(&mut out, usize::MAX);
        assert_eq!(out, b"ab\r\ncd\r\n.\r\n");
    }

    #[test]
    fn top_cuts_after_the_header_and_n_body_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(msg, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(msg, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(msg, 10), msg);
        assert_eq!(top(b"A: 1\nB: 2\n\nbody\n", 0), b"A: 1\nB: 2\n\n");
        assert_eq!(top(b"No: body\r\n", 5), b"No: body\r\n");
        assert_eq!(top(b"A: 1\r\n\r\nno end", 3), b"A: 1\r\n\r\nno end");
    }
}
