//! Command line framing (RFC 1939 §3, RFC 2449 §4).
//!
//! A POP3 command is one line ending in CRLF, and RFC 2449 §4 caps it at
//! 255 octets *including* the CRLF. The framer cuts the byte stream into
//! lines before anything parses them, and holds at most one partial line of
//! that size: a longer line is dropped as it arrives, up to its LF, and
//! reported once, in its place, as [`Frame::TooLong`], so the replies to
//! pipelined commands stay in order and the over-long bytes are never read
//! as commands.
//!
//! Leniency: a bare LF also ends a line (some clients send one); the CR of
//! a CRLF is removed. The limit can be raised for the lines that are not
//! commands (SASL responses, RFC 5034 §4) with [`LineFramer::set_max_line`].

/// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 255;

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

    /// The current limit.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Changes the limit for the lines not yet returned.
    pub fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line.max(2);
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
                    self.buf.clear();
                    self.start = 0;
                    self.scanned = 0;
                }
                Some(frame)
            }
            None => {
                self.scanned = self.buf.len();
                // A line that fits has its LF within `max_line` octets.
                if self.buf.len() - self.start >= self.max_line {
                    self.buf.clear();
                    self.start = 0;
                    self.scanned = 0;
                    self.discarding = true;
                }
                None
            }
        }
    }

    /// How many bytes are held that no frame has returned yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Forgets everything held (RFC 2595 §4: nothing received before TLS
    /// may be acted upon after it). Returns how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.buffered();
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
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
    fn splits_pipelined_commands_and_keeps_the_partial_line() {
        let mut f = LineFramer::new(MAX_COMMAND_LINE);
        f.push(b"STAT\r\nLIST\r\nRETR 1\r\nUID");
        assert_eq!(frames(&mut f), [line("STAT"), line("LIST"), line("RETR 1")]);
        assert_eq!(f.buffered(), 3);
        f.push(b"L 2\n");
        assert_eq!(frames(&mut f), [line("UIDL 2")]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn the_limit_counts_the_crlf() {
        let ok = format!("{}\r\n", "a".repeat(253));
        let long = format!("{}\r\n", "a".repeat(254));
        let mut f = LineFramer::new(MAX_COMMAND_LINE);
        f.push(ok.as_bytes());
        f.push(long.as_bytes());
        f.push(b"NOOP\r\n");
        assert_eq!(
            frames(&mut f),
            [line(&"a".repeat(253)), Frame::TooLong, line("NOOP")]
        );
    }

    #[test]
    fn a_huge_line_is_dropped_without_being_buffered() {
        let mut f = LineFramer::new(MAX_COMMAND_LINE);
        f.push(b"USER ");
        for _ in 0..10_000 {
            f.push(&[b'x'; 1000]);
            assert_eq!(f.next_frame(), None);
            assert!(f.buffered() < 2 * MAX_COMMAND_LINE + 1000);
        }
        f.push(b"xx\r\nQUIT\r\n");
        assert_eq!(frames(&mut f), [Frame::TooLong, line("QUIT")]);
    }

    #[test]
    fn clear_drops_what_came_after_stls() {
        let mut f = LineFramer::new(MAX_COMMAND_LINE);
        f.push(b"STLS\r\nUSER injected\r\n");
        assert_eq!(f.next_frame(), Some(line("STLS")));
        assert_eq!(f.clear(), 15);
        assert_eq!(f.next_frame(), None);
    }

    #[test]
    fn a_raised_limit_admits_long_sasl_responses() {
        let mut f = LineFramer::new(MAX_COMMAND_LINE);
        f.set_max_line(4096);
        let long = "QUFB".repeat(200);
        f.push(format!("{long}\r\n").as_bytes());
        assert_eq!(frames(&mut f), [line(&long)]);
    }
}
