//! Property tests: parse → encode → parse is the identity for commands;
//! the DATA reader returns exactly what `stuff` was given, however the
//! bytes are split; no input makes the framer hold more than a line.

use proptest::prelude::*;
use tidings_smtp_proto::data::stuff;
use tidings_smtp_proto::{
    Body, Command, DataOutcome, DataReader, Frame, LineFramer, MAX_LINE, MailParams, Notify, Path,
    RcptParams, Ret,
};

fn path() -> impl Strategy<Value = Path> {
    (
        "[a-zA-Z0-9._+-]{1,20}",
        "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}",
    )
        .prop_filter_map("dot-atom", |(local, domain)| {
            let ok = !local.starts_with('.') && !local.ends_with('.') && !local.contains("..");
            ok.then_some(Path { local, domain })
        })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        "[a-z0-9.]{1,30}".prop_map(Command::Ehlo),
        (
            proptest::option::of(path()),
            proptest::option::of(0u64..1 << 40),
            proptest::option::of(prop_oneof![
                Just(Body::SevenBit),
                Just(Body::EightBitMime),
                Just(Body::BinaryMime)
            ]),
            any::<bool>(),
            proptest::option::of(prop_oneof![Just(Ret::Full), Just(Ret::Hdrs)]),
            proptest::option::of("[A-Za-z0-9]{1,20}"),
            any::<bool>(),
        )
            .prop_map(|(from, size, body, smtputf8, ret, envid, requiretls)| {
                Command::Mail {
                    from,
                    params: MailParams {
                        size,
                        body,
                        smtputf8,
                        ret,
                        envid,
                        auth: None,
                        requiretls,
                    },
                }
            }),
        (
            path(),
            proptest::option::of(any::<(bool, bool, bool)>()),
            any::<bool>()
        )
            .prop_map(|(to, notify, orcpt)| {
                let notify = notify.map(|(s, f, d)| Notify {
                    never: !(s || f || d),
                    success: s,
                    failure: f,
                    delay: d,
                });
                Command::Rcpt {
                    params: RcptParams {
                        notify,
                        orcpt: orcpt.then(|| {
                            format!(
                                "rfc822;{}",
                                to.address().replace('+', "+2B").replace('=', "+3D")
                            )
                        }),
                    },
                    to,
                }
            }),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Data),
        Just(Command::Rset),
        Just(Command::Quit),
        Just(Command::StartTls),
        (
            "[A-Z0-9-]{1,20}",
            proptest::option::of("[A-Za-z0-9+/]{1,40}={0,2}")
        )
            .prop_map(|(mechanism, initial)| Command::Auth { mechanism, initial }),
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(cmd in command()) {
        let mut wire = Vec::new();
        cmd.encode(&mut wire);
        prop_assert!(wire.ends_with(b"\r\n"));
        let again = Command::parse(&wire[..wire.len() - 2]);
        prop_assert_eq!(again, Ok(cmd));
    }

    #[test]
    fn any_line_parses_or_errs(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Command::parse(&line);
    }

    #[test]
    fn data_round_trips_however_split(
        lines in proptest::collection::vec("[ -~]{0,80}", 0..30),
        step in 1usize..50,
    ) {
        let mut msg = Vec::new();
        for l in &lines {
            msg.extend_from_slice(l.as_bytes());
            msg.extend_from_slice(b"\r\n");
        }
        let mut wire = stuff(&msg);
        wire.extend_from_slice(b"QUIT\r\n");
        let mut r = DataReader::new(1 << 20);
        let mut out = Vec::new();
        let mut end = None;
        let mut offset = 0;
        for chunk in wire.chunks(step) {
            if let Some((outcome, used)) = r.push(chunk, &mut out) {
                end = Some((outcome, offset + used));
                break;
            }
            offset += chunk.len();
        }
        prop_assert_eq!(end, Some((DataOutcome::Complete, wire.len() - 6)));
        prop_assert_eq!(out, msg);
    }

    #[test]
    fn data_reader_never_ends_early_on_bare_line_ends(
        body in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a')], 0..200),
    ) {
        // Whatever comes before, `<CRLF>.<CRLF>` is the only end, and a
        // body with a bare CR or LF is refused, never split.
        let mut r = DataReader::new(1 << 20);
        let mut out = Vec::new();
        if let Some((outcome, used)) = r.push(&body, &mut out) {
            prop_assert!(used >= 5 || used == 3);
            let end = &body[..used];
            prop_assert!(end.ends_with(b"\r\n.\r\n") || end == b".\r\n");
            let _ = outcome;
        }
    }

    #[test]
    fn framer_memory_is_bounded(input in proptest::collection::vec(any::<u8>(), 0..5000), step in 1usize..700) {
        let mut f = LineFramer::default();
        for chunk in input.chunks(step) {
            f.push(chunk);
            while let Some(frame) = f.next_frame() {
                if let Frame::Line(l) = frame {
                    prop_assert!(l.len() < MAX_LINE);
                }
            }
            prop_assert!(f.buffered() <= MAX_LINE + step);
        }
    }
}
