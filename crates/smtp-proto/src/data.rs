//! Reading a DATA body (RFC 5321 §4.1.1.4, §4.5.2), safe against SMTP
//! smuggling.
//!
//! The body ends *only* at `<CRLF>.<CRLF>`, where the first CRLF ends the
//! last line of the message (or the DATA command itself, for an empty
//! message). Dot-stuffing is removed: a line that starts with `.` loses
//! that dot (§4.5.2).
//!
//! Bare line ends (an LF not preceded by CR, a CR not followed by LF) are
//! the raw material of SMTP smuggling: servers that disagree about where
//! a message ends let one message carry another with a forged sender
//! (`<LF>.<LF>`, `<CR>.<CR>`, `<LF>.<CR><LF>`, 2023). Tidings' decision:
//! a bare LF or CR never starts a line here, so none of those sequences
//! ends DATA or is unstuffed, and a message containing any bare CR or LF
//! is **refused** once its real end arrives ([`DataOutcome::BareLineEnd`],
//! answered `550 5.6.0`), like Postfix's `smtpd_forbid_bare_newline = yes`
//! (stricter than its default `normalize`, which rewrites bare LFs). RFC
//! 5321 §2.3.8 forbids them; every client we test (smtplib, swaks,
//! Postfix, Thunderbird) sends CRLF. Refusing rather than rewriting means
//! the stored bytes are exactly the bytes sent, and nothing downstream can
//! read a second message into them.
//!
//! Memory is bounded: at most `limit` octets are kept; past that the body
//! is still read to its end (so the session stays in step) but counted
//! only, and reported as [`DataOutcome::TooBig`] (552 5.3.4).

/// Where the reader is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of the body).
    LineStart,
    /// Inside a line.
    Mid,
    /// Saw a CR inside a line (not yet written).
    Cr,
    /// Saw `.` at the start of a line (not yet written).
    Dot,
    /// Saw `.` CR at the start of a line.
    DotCr,
}

/// How a body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// The message, unstuffed, is in the output buffer.
    Complete,
    /// Longer than the limit; `size` octets were sent (unstuffed).
    TooBig { size: u64 },
    /// It contained a bare CR or LF (see the module notes).
    BareLineEnd,
}

/// Reads one DATA body; feed it with [`DataReader::push`].
#[derive(Debug)]
pub struct DataReader {
    state: State,
    size: u64,
    limit: u64,
    bare: bool,
}

impl DataReader {
    /// A reader that keeps at most `limit` octets of message.
    pub fn new(limit: u64) -> Self {
        DataReader {
            state: State::LineStart,
            size: 0,
            limit,
            bare: false,
        }
    }

    /// Octets of message seen so far (after unstuffing).
    pub fn size(&self) -> u64 {
        self.size
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.size);
        self.size += bytes.len() as u64;
        let keep = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        out.extend_from_slice(&bytes[..keep]);
    }

    /// Consumes `input`, appending message bytes to `out`. Returns
    /// `Some((outcome, used))` when the end `<CRLF>.<CRLF>` was found
    /// after `used` bytes of `input` (the rest belongs to the next
    /// commands), or `None` when all of `input` was consumed.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<(DataOutcome, usize)> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            i += 1;
            match self.state {
                State::LineStart => match b {
                    b'.' => self.state = State::Dot,
                    _ => self.mid(b, out),
                },
                State::Dot => match b {
                    b'\r' => self.state = State::DotCr,
                    // §4.5.2: the leading dot is removed.
                    _ => self.mid(b, out),
                },
                State::DotCr => {
                    if b == b'\n' {
                        self.state = State::LineStart;
                        let outcome = if self.bare {
                            DataOutcome::BareLineEnd
                        } else if self.size > self.limit {
                            DataOutcome::TooBig { size: self.size }
                        } else {
                            DataOutcome::Complete
                        };
                        return Some((outcome, i));
                    }
                    // "." CR x: the dot is removed, the CR is bare.
                    self.state = State::Cr;
                    self.cr(b, out);
                }
                State::Mid => {
                    // The run of ordinary bytes up to the next CR or LF
                    // is emitted at once (the same as byte by byte).
                    let run = input[i - 1..]
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(input.len() - (i - 1));
                    if run > 1 {
                        self.emit(out, &input[i - 1..i - 1 + run]);
                        i += run - 1;
                    } else {
                        self.mid(b, out);
                    }
                }
                State::Cr => self.cr(b, out),
            }
        }
        None
    }

    /// A byte inside a line.
    fn mid(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                // A bare LF: kept, flagged, and *not* a line start.
                self.bare = true;
                self.emit(out, b"\n");
                self.state = State::Mid;
            }
            _ => {
                self.emit(out, &[b]);
                self.state = State::Mid;
            }
        }
    }

    /// The byte after a CR.
    fn cr(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\n' => {
                self.emit(out, b"\r\n");
                self.state = State::LineStart;
            }
            b'\r' => {
                self.bare = true;
                self.emit(out, b"\r");
                self.state = State::Cr;
            }
            _ => {
                self.bare = true;
                self.emit(out, b"\r");
                self.mid(b, out);
            }
        }
    }
}

/// Dot-stuffs a message for sending with DATA (RFC 5321 §4.5.2) and adds
/// the end `.CRLF` (with a CRLF before it when the message lacks one).
pub fn stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Whether `message` has a bare line end: an LF not after a CR, or a CR
/// not before an LF. A BDAT body (RFC 3030) is refused for one as a DATA
/// body is (RFC 5321 §2.3.8; see the module notes), unless it was
/// announced as `BODY=BINARYMIME`, whose content is binary.
pub fn has_bare_line_end(message: &[u8]) -> bool {
    message.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || message[i - 1] != b'\r',
        b'\r' => message.get(i + 1) != Some(&b'\n'),
        _ => false,
    })
}

/// [`has_bare_line_end`] over a body given in pieces (BDAT chunks, RFC
/// 3030), so that it need not be held whole: feed it with
/// [`BareLineEndScan::push`], ask [`BareLineEndScan::found`] at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct BareLineEndScan {
    prev: Option<u8>,
    bare: bool,
}

impl BareLineEndScan {
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match (self.prev, b) {
                (Some(b'\r'), b'\n') => {}
                (Some(b'\r'), _) | (_, b'\n') => self.bare = true,
                _ => {}
            }
            self.prev = Some(b);
        }
    }

    /// Whether the body so far, taken as ended, has a bare CR or LF.
    pub fn found(&self) -> bool {
        self.bare || self.prev == Some(b'\r')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_line_end_scan_in_pieces_agrees_with_the_whole() {
        let cases: [&[u8]; 9] = [
            b"",
            b"a\r\nb\r\n",
            b"a\nb",
            b"\n",
            b"a\r",
            b"a\rb",
            b"\r\r\n",
            b"x\r\n\r\n",
            b"\r",
        ];
        for case in cases {
            for step in 1..=3 {
                let mut scan = BareLineEndScan::default();
                for piece in case.chunks(step) {
                    scan.push(piece);
                }
                assert_eq!(
                    scan.found(),
                    has_bare_line_end(case),
                    "{case:?} in pieces of {step}"
                );
            }
        }
    }

    /// Feeds `input` in pieces of `step` bytes.
    fn read(input: &[u8], step: usize) -> (Option<DataOutcome>, Vec<u8>, usize) {
        let mut r = DataReader::new(1 << 20);
        let mut out = Vec::new();
        let mut offset = 0;
        for chunk in input.chunks(step.max(1)) {
            if let Some((outcome, used)) = r.push(chunk, &mut out) {
                return (Some(outcome), out, offset + used);
            }
            offset += chunk.len();
        }
        (None, out, offset)
    }

    #[test]
    fn rfc5321_end_and_unstuffing() {
        for step in [1, 2, 3, 7, 1000] {
            let (o, out, used) = read(b"Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n", step);
            assert_eq!(o, Some(DataOutcome::Complete));
            assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\n");
            assert_eq!(used, 24);
        }
        // An empty message: the CRLF of DATA itself precedes the dot.
        assert_eq!(read(b".\r\n", 1), (Some(DataOutcome::Complete), vec![], 3));
    }

    #[test]
    fn smuggling_sequences_never_end_data() {
        for end in [
            &b"\n.\n"[..],
            b"\r.\r",
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n.\n",
            b"\r\n.\r",
        ] {
            let mut msg = b"Subject: a\r\n\r\nbody".to_vec();
            msg.extend_from_slice(end);
            msg.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nforged\r\n");
            for step in [1, 4, 100] {
                let (o, out, _) = read(&msg, step);
                assert_eq!(o, None, "{end:?} ended DATA");
                assert!(out.windows(4).any(|w| w == b"MAIL"));
            }
            msg.extend_from_slice(b".\r\n");
            let (o, _, used) = read(&msg, 3);
            assert_eq!(o, Some(DataOutcome::BareLineEnd), "{end:?}");
            assert_eq!(used, msg.len());
        }
    }

    #[test]
    fn too_big_is_counted_not_kept() {
        let mut r = DataReader::new(10);
        let mut out = Vec::new();
        for _ in 0..1000 {
            assert_eq!(r.push(b"0123456789abcdef\r\n", &mut out), None);
        }
        assert!(out.len() <= 10);
        assert_eq!(
            r.push(b".\r\n", &mut out),
            Some((DataOutcome::TooBig { size: 18_000 }, 3))
        );
    }

    #[test]
    fn stuff_then_read_is_identity() {
        let msg = b".a\r\n..b\r\nc\r\n.\r\n";
        let wire = stuff(msg);
        let (o, out, used) = read(&wire, 1);
        assert_eq!(
            (o, out.as_slice(), used),
            (Some(DataOutcome::Complete), &msg[..], wire.len())
        );
    }

    #[test]
    fn bare_line_ends() {
        assert!(!has_bare_line_end(b"a\r\nb\r\n"));
        assert!(!has_bare_line_end(b""));
        for bare in [
            &b"\n"[..],
            b"a\nb",
            b"a\r",
            b"a\rb\r\n",
            b"\r\r\n",
            b"a\r\n\n",
        ] {
            assert!(has_bare_line_end(bare), "{bare:?}");
        }
    }
}
