//! The property the fuzz target checks, as a plain function, run both under
//! libFuzzer (`crates/pop3-proto/fuzz`, driven by `scripts/fuzz`) and as an
//! ordinary test replaying the committed corpus and crash inputs
//! (`tests/fuzz_corpus.rs`). It panics when a property fails.

use crate::message::unstuff;
use crate::{Command, DotStuffer, Frame, LineFramer, MAX_COMMAND_LINE, Response, StreamStuffer};

/// The server's read path: bytes → framer → command parser; a parsed command
/// encodes back to a line that parses to the same command; the reply parser
/// and the dot-stuffer run on the same bytes, whole and in pieces (RFC 1939
/// §3).
pub fn command(data: &[u8]) {
    // Chunk sizes come from the first byte, so splits are explored too.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = LineFramer::new(MAX_COMMAND_LINE);
    for chunk in data.chunks(step) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            if let Frame::Line(line) = frame {
                assert!(line.len() < MAX_COMMAND_LINE);
                if let Ok(cmd) = Command::parse(&line) {
                    let mut wire = Vec::new();
                    cmd.encode(&mut wire);
                    let again = Command::parse(&wire[..wire.len() - 2]);
                    assert_eq!(again.as_ref(), Ok(&cmd));
                }
                let _ = Response::parse(&line);
            }
        }
        assert!(framer.buffered() <= MAX_COMMAND_LINE + step);
    }
    let wire = DotStuffer::encode_all(data);
    assert!(unstuff(&wire).is_some());
    // The same bytes arriving in pieces encode the same.
    let mut stream = StreamStuffer::default();
    let mut pieces = Vec::new();
    for piece in data.chunks(step) {
        stream.push(piece, &mut pieces);
    }
    stream.finish(&mut pieces);
    assert_eq!(pieces, wire);
}
