//! Fuzzes the server's read path: bytes → framer → command parser, in both
//! mailbox-name modes, and checks that every parsed command encodes back to
//! bytes that parse to the same command (RFC 9051 §9 grammar).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_imap_proto::{
    CodecOptions, Frame, Framer, FramerLimits, LiteralSyntax, parse_command, parse_idle_done,
    parse_sasl_response,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size and the mode, so splits are explored too.
    let first = data.first().copied().unwrap_or(1);
    let step = usize::from(first >> 1).max(1);
    let opts = CodecOptions { utf8: first & 1 == 1 };
    let mut framer = Framer::new(FramerLimits::default());
    for chunk in data.chunks(step) {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Frame::Complete(bytes) => {
                    assert!(bytes.ends_with(b"\n"));
                    let _ = parse_idle_done(&bytes);
                    let _ = parse_sasl_response(&bytes);
                    if let Ok(cmd) = parse_command(&bytes, opts) {
                        for lit in [LiteralSyntax::Sync, LiteralSyntax::NonSync] {
                            let wire = cmd.encode(opts, lit);
                            assert_eq!(parse_command(&wire, opts).as_ref(), Ok(&cmd));
                        }
                    }
                }
                Frame::Incomplete | Frame::Fatal { .. } => break,
                Frame::NeedContinuation { .. } | Frame::Rejected { .. } => {}
            }
        }
    }
    // The parser alone, on the raw bytes.
    let _ = parse_command(data, opts);
});
