//! Command line framing (RFC 5321 §2.3.8, §4.5.3.1).
//!
//! A command is one line ending in CRLF. RFC 5321 §4.5.3.1.4 allows 512
//! octets for a command line and lets extensions add to it (SIZE, DSN and
//! AUTH parameters do); a line longer than [`MAX_LINE`] (1000 octets with
//! its CRLF, the text-line limit of §4.5.3.1.6) is answered with
//! 500 5.5.2 ("line too long"). The framer holds at most one partial line
//! of that size: a longer line is dropped as it arrives, up to its LF, and
//! reported once, in its place, as [`Frame::TooLong`], so that replies to
//! pipelined commands stay in order and the over-long bytes are never read
//! as commands.
//!
//! Leniency: a bare LF also ends a *command* line (Postfix and most servers
//! accept it); the CR of a CRLF is removed. Message content is read by
//! [`crate::DataReader`], which is strict. [`LineFramer::take_buffered`]
//! hands the bytes that follow `DATA`/`BDAT` over to the body reader.

/// RFC 5321 §4.5.3.1.6: a line is at most 1000 octets, CRLF included.
pub const MAX_LINE: usize = 1000;

/// One unit cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A line, without its CRLF (or LF).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped.
    TooLong,
}

/// Cuts a byte stream into lines of at most `max_line` octets (with CRLF).
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Where unconsumed bytes start in `buf`.
    start: usize,
    /// `buf[start..scanned]` is known to hold no LF.
    scanned: usize,
    max_line: usize,
    /// Dropping an over-long line up to its LF; `buf` holds nothing then.
    discarding: bool,
    /// An over-long line ended: report it before the bytes after it.
    too_long_ready: bool,
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new(MAX_LINE)
    }
}

impl LineFramer {
    /// A framer for lines of at most `max_line` octets, line end included.
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line: max_line.max(2),
            discarding: false,
            too_long_ready: false,
        }
    }

    /// Adds bytes read from the peer. While an over-long line is being
    /// dropped, its bytes are not kept.
    pub fn push(&mut self, mut input: &[u8]) {
        if self.discarding {
            match input.iter().position(|&b| b == b'\n') {
                None => return,
                Some(lf) => {
                    self.discarding = false;
                    self.too_long_ready = true;
                    input = &input[lf + 1..];
                }
            }
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(input);
    }

    /// The next complete frame, or `None` until more bytes are pushed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.too_long_ready {
            self.too_long_ready = false;
            return Some(Frame::TooLong);
        }
        if self.discarding {
            return None;
        }
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(at) => {
                let lf = self.scanned + at;
                let line_len = lf + 1 - self.start;
                let mut end = lf;
                if end > self.start && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                let frame = if line_len > self.max_line {
                    Frame::TooLong
                } else {
                    Frame::Line(self.buf[self.start..end].to_vec())
                };
                self.start = lf + 1;
                self.scanned = self.start;
                if self.start == self.buf.len() {
                    self.reset();
                }
                Some(frame)
            }
            None => {
                self.scanned = self.buf.len();
                // A line that fits has its LF within `max_line` octets.
                if self.buf.len() - self.start >= self.max_line {
                    self.reset();
                    self.discarding = true;
                }
                None
            }
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
    }

    /// How many bytes are held that no frame has returned yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Takes the bytes held after the last frame returned (the start of a
    /// DATA or BDAT body that arrived with its command).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.reset();
        rest
    }

    /// Forgets everything held (RFC 3207 §4.2: nothing received before TLS
    /// may be acted upon after it). Returns how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.buffered();
        self.reset();
        self.discarding = false;
        self.too_long_ready = false;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut LineFramer) -> Vec<Frame> {
        std::iter::from_fn(|| framer.next_frame()).collect()
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn pipelined_commands_and_the_body_after_data() {
        let mut f = LineFramer::default();
        f.push(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nDATA\r\nSubject: x\r\n");
        assert_eq!(
            frames(&mut f),
            [
                line("MAIL FROM:<a@b>"),
                line("RCPT TO:<c@d>"),
                line("DATA"),
                line("Subject: x")
            ]
        );
        f.push(b"MAIL FROM:<a@b>\r\nDATA\r\nbody");
        f.next_frame();
        f.next_frame();
        assert_eq!(f.take_buffered(), b"body");
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn the_limit_counts_the_crlf() {
        let ok = format!("{}\r\n", "a".repeat(998));
        let long = format!("{}\r\n", "a".repeat(999));
        let mut f = LineFramer::default();
        f.push(ok.as_bytes());
        f.push(long.as_bytes());
        f.push(b"NOOP\r\n");
        assert_eq!(
            frames(&mut f),
            [line(&"a".repeat(998)), Frame::TooLong, line("NOOP")]
        );
    }

    #[test]
    fn a_huge_line_is_dropped_without_being_buffered() {
        let mut f = LineFramer::default();
        f.push(b"MAIL FROM:<");
        for _ in 0..10_000 {
            f.push(&[b'x'; 1000]);
            assert_eq!(f.next_frame(), None);
            assert!(f.buffered() < 2 * MAX_LINE + 1000);
        }
        f.push(b"xx\r\nQUIT\r\n");
        assert_eq!(frames(&mut f), [Frame::TooLong, line("QUIT")]);
    }

    #[test]
    fn clear_drops_what_came_after_starttls() {
        let mut f = LineFramer::default();
        f.push(b"STARTTLS\r\nMAIL FROM:<injected@x>\r\n");
        assert_eq!(f.next_frame(), Some(line("STARTTLS")));
        assert_eq!(f.clear(), 24);
        assert_eq!(f.next_frame(), None);
    }
}
