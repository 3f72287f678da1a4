//! Fuzzes the framer with small limits: memory stays bounded, every command
//! it returns ends a line, and once poisoned it stays poisoned
//! (RFC 9051 §4.3, RFC 7888 §4).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_imap_proto::{Frame, Framer, FramerLimits};

fuzz_target!(|data: &[u8]| {
    let limits = FramerLimits {
        max_line: 64,
        max_literal: 32,
        max_append_literal: 128,
        max_literals: 3,
        max_command_literals: 200,
        max_nonsync_literal: 16,
    };
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = Framer::new(limits);
    let mut fatal = None;
    for chunk in data.chunks(step) {
        framer.push(chunk);
        loop {
            let frame = framer.next_frame();
            if let Some(f) = &fatal {
                assert_eq!(&frame, f);
                break;
            }
            match frame {
                Frame::Complete(c) => assert!(c.ends_with(b"\n") && c.len() <= 64 + 200 + 3 * 20),
                Frame::Incomplete => break,
                Frame::Fatal { .. } => fatal = Some(frame),
                Frame::NeedContinuation { size } => assert!(size <= 128),
                Frame::Rejected { .. } => {}
            }
        }
        assert!(framer.buffered_len() <= 64 + 200 + step + 3 * 20);
    }
});
