//! The property the fuzz target checks, as a plain function, run both under
//! libFuzzer (`crates/smtp-proto/fuzz`, driven by `scripts/fuzz`) and as an
//! ordinary test replaying the committed corpus and crash inputs
//! (`tests/fuzz_corpus.rs`). It panics when a property fails.

use crate::{Command, DataReader, Frame, LineFramer, MAX_LINE, Reply};

/// The server's read path: bytes → framer → command parser (a parsed
/// command encodes to a line that parses to the same command), and the same
/// bytes through the DATA reader (bounded output, an end only at
/// `<CRLF>.<CRLF>`) and the reply parser (RFC 5321 §4.1, §4.5.2).
pub fn session(data: &[u8]) {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = LineFramer::default();
    for chunk in data.chunks(step) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            if let Frame::Line(line) = frame {
                assert!(line.len() < MAX_LINE);
                if let Ok(cmd) = Command::parse(&line) {
                    let mut wire = Vec::new();
                    cmd.encode(&mut wire);
                    let again = Command::parse(&wire[..wire.len() - 2]);
                    assert_eq!(again.as_ref(), Ok(&cmd));
                }
                let _ = Reply::parse(&[&line]);
            }
        }
        assert!(framer.buffered() <= MAX_LINE + step);
    }
    let mut reader = DataReader::new(1024);
    let mut out = Vec::new();
    if let Some((_, used)) = reader.push(data, &mut out) {
        assert!(data[..used].ends_with(b"\r\n.\r\n") || &data[..used] == b".\r\n");
    }
    assert!(out.len() <= 1024);
}
