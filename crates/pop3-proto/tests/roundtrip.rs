//! Property tests: encode → frame → parse gives back what was encoded,
//! whatever the chunking of the byte stream; the framer never buffers more
//! than its limit; dot-stuffing is undone exactly by a client.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use tidings_pop3_proto::message::unstuff;
use tidings_pop3_proto::response::encode_line;
use tidings_pop3_proto::{
    Command, DotStuffer, Frame, LineFramer, MAX_COMMAND_LINE, RespCode, Response, Status,
};
use tidings_types::Secret;

/// A word without spaces or line ends (user names, mechanisms, base64).
fn word() -> impl Strategy<Value = String> {
    "[!-~äöü€]{1,40}"
}

fn command() -> impl Strategy<Value = Command> {
    let n = 0u32..=u32::MAX;
    prop_oneof![
        word().prop_map(Command::User),
        // PASS keeps spaces, but the line cannot start empty.
        "[ -~äöü€]{1,60}".prop_map(|p| Command::Pass(Secret::new(p))),
        Just(Command::Quit),
        Just(Command::Stat),
        proptest::option::of(n.clone()).prop_map(Command::List),
        n.clone().prop_map(Command::Retr),
        n.clone().prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        (n.clone(), n.clone()).prop_map(|(msg, lines)| Command::Top { msg, lines }),
        proptest::option::of(n).prop_map(Command::Uidl),
        Just(Command::Capa),
        Just(Command::Stls),
        Just(Command::Utf8),
        Just(Command::Auth {
            mechanism: None,
            initial: None
        }),
        ("[A-Z0-9-]{1,20}", proptest::option::of(word())).prop_map(|(m, initial)| {
            Command::Auth {
                mechanism: Some(m),
                initial,
            }
        }),
    ]
}

/// Feeds `bytes` to a framer in chunks whose sizes come from `cuts`.
fn frame_all(framer: &mut LineFramer, bytes: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    let mut cuts = cuts.iter().cycle();
    while !rest.is_empty() {
        let n = (*cuts.next().unwrap_or(&1)).clamp(1, rest.len());
        framer.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(f) = framer.next_frame() {
            frames.push(f);
        }
        assert!(
            framer.buffered() <= framer.max_line() + n,
            "framer buffers too much"
        );
    }
    frames
}

proptest! {
    #[test]
    fn commands_survive_encode_frame_parse(
        cmds in proptest::collection::vec(command(), 1..20),
        cuts in proptest::collection::vec(1usize..64, 1..10),
    ) {
        let mut wire = Vec::new();
        for c in &cmds {
            c.encode(&mut wire);
        }
        let mut framer = LineFramer::new(MAX_COMMAND_LINE);
        let frames = frame_all(&mut framer, &wire, &cuts);
        prop_assert_eq!(frames.len(), cmds.len());
        for (frame, cmd) in frames.iter().zip(&cmds) {
            let Frame::Line(line) = frame else {
                return Err(TestCaseError::fail("a short command was framed as too long"));
            };
            let parsed = Command::parse(line);
            prop_assert_eq!(parsed.as_ref(), Ok(cmd));
        }
    }

    #[test]
    fn keywords_parse_in_any_case(cmd in command(), mask in any::<u8>()) {
        let mut wire = Vec::new();
        cmd.encode(&mut wire);
        let end = wire.len() - 2;
        let line = &mut wire[..end];
        for (i, b) in line.iter_mut().take(4).enumerate() {
            if mask & (1 << i) != 0 {
                *b = b.to_ascii_lowercase();
            }
        }
        prop_assert_eq!(Command::parse(line), Ok(cmd));
    }

    #[test]
    fn framer_cuts_lines_and_flags_long_ones(
        lines in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..400), any::<bool>()),
            1..12,
        ),
        cuts in proptest::collection::vec(1usize..700, 1..10),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (content, crlf) in &lines {
            wire.extend_from_slice(content);
            let ending: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
            wire.extend_from_slice(ending);
            let on_wire = content.len() + ending.len();
            let mut line = content.clone();
            // The framer removes one CR before the LF.
            if !*crlf && line.last() == Some(&b'\r') {
                line.pop();
            }
            want.push(if on_wire > MAX_COMMAND_LINE { Frame::TooLong } else { Frame::Line(line) });
        }
        let mut framer = LineFramer::new(MAX_COMMAND_LINE);
        prop_assert_eq!(frame_all(&mut framer, &wire, &cuts), want);
        prop_assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Command::parse(&line);
        let _ = Response::parse(&line);
    }

    #[test]
    fn dot_stuffing_is_undone_by_the_client(
        body in proptest::collection::vec(
            prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()],
            0..2000,
        ),
        limit in 1usize..300,
    ) {
        // What the client gets back: bare LF as CRLF, a final line end added.
        let mut want = Vec::new();
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
                want.push(b'\r');
            }
            want.push(b);
        }
        if !want.is_empty() && !want.ends_with(b"\n") {
            if want.ends_with(b"\r") {
                want.push(b'\n');
            } else {
                want.extend_from_slice(b"\r\n");
            }
        }
        let mut wire = Vec::new();
        let mut enc = DotStuffer::new(&body);
        let mut chunk = Vec::new();
        while !enc.encode_chunk(&mut chunk, limit) {
            prop_assert!(chunk.len() <= limit + 3);
            wire.append(&mut chunk);
        }
        wire.append(&mut chunk);
        prop_assert!(wire.ends_with(b".\r\n"));
        prop_assert_eq!(unstuff(&wire), Some(want));
    }

    #[test]
    fn responses_round_trip(
        ok in any::<bool>(),
        code in proptest::option::of(proptest::sample::select(RespCode::ALL.to_vec())),
        text in "[ -Z\\\\-~]{0,80}",
    ) {
        let text = text.trim_start().to_string();
        let r = Response {
            status: if ok { Status::Ok } else { Status::Err },
            code,
            text,
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        prop_assert!(out.ends_with(b"\r\n"));
        prop_assert_eq!(Response::parse(&out[..out.len() - 2]), Some(r));
    }

    #[test]
    fn multi_line_text_lines_are_stuffed(lines in proptest::collection::vec("[ -~]{0,30}", 0..10)) {
        let mut out = Vec::new();
        for l in &lines {
            encode_line(&mut out, l);
        }
        out.extend_from_slice(b".\r\n");
        let back = unstuff(&out).unwrap();
        let want: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        prop_assert_eq!(back, want.into_bytes());
    }
}
