//! The properties the fuzz targets check, as plain functions, so that the
//! same checks run in two places: under libFuzzer (`crates/imap-proto/fuzz`,
//! driven by `scripts/fuzz`) and as ordinary tests that replay every input in
//! the committed corpora and crash files (`tests/fuzz_corpus.rs`). Each
//! function panics when a property fails; that is the whole interface.

use crate::{
    AppendDataKind, CatPart, CodecOptions, CommandBody, Frame, Framer, FramerLimits, ImapUrl,
    LiteralSyntax, parse_command, parse_idle_done, parse_response, parse_sasl_response,
};

/// The server's read path: bytes → framer → command parser, in both
/// mailbox-name modes; every parsed command encodes back to bytes that parse
/// to the same command (RFC 9051 §9 grammar).
pub fn command(data: &[u8]) {
    // The first byte picks the chunk size and the mode, so splits are explored too.
    let first = data.first().copied().unwrap_or(1);
    let step = usize::from(first >> 1).max(1);
    let opts = CodecOptions {
        utf8: first & 1 == 1,
    };
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
                        for url in urls(&cmd.body) {
                            url_round_trip(url);
                        }
                    }
                }
                Frame::Incomplete | Frame::Fatal { .. } => break,
                Frame::NeedContinuation { .. } | Frame::Rejected { .. } | Frame::Spooled { .. } => {
                }
            }
        }
    }
    // The parser alone, on the raw bytes.
    let _ = parse_command(data, opts);
}

/// The IMAP URLs a command carries (CATENATE, GENURLAUTH, URLFETCH).
fn urls(body: &CommandBody) -> Vec<&str> {
    match body {
        CommandBody::Append { messages, .. } => messages
            .iter()
            .flat_map(|m| match &m.kind {
                AppendDataKind::Catenate(parts) => parts
                    .iter()
                    .filter_map(|p| match p {
                        CatPart::Url(u) => Some(u.as_str()),
                        CatPart::Text { .. } => None,
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .collect(),
        CommandBody::GenUrlAuth(urls) => urls.iter().map(|(u, _)| u.as_str()).collect(),
        CommandBody::UrlFetch(urls) => urls.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// An IMAP URL (RFC 5092) that parses is written back in a form that
/// parses to the same URL.
pub fn url_round_trip(text: &str) {
    if let Ok(url) = ImapUrl::parse(text) {
        let again = url.to_string();
        assert_eq!(
            ImapUrl::parse(&again).as_ref(),
            Ok(&url),
            "{text} -> {again}"
        );
    }
}

/// The framer with small limits: memory stays bounded, every command it
/// returns ends a line, and once poisoned it stays poisoned (RFC 9051 §4.3,
/// RFC 7888 §4).
pub fn framer(data: &[u8]) {
    let limits = FramerLimits {
        max_line: 64,
        max_literal: 32,
        max_append_literal: 128,
        max_literals: 3,
        max_command_literals: 200,
        max_nonsync_literal: 16,
        spool_append_literal: 64,
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
                Frame::Spooled { bytes, .. } => assert!(bytes.len() <= 200 + step),
            }
        }
        assert!(framer.buffered_len() <= 64 + 200 + step + 3 * 20);
    }
}

/// The response parser (the load generator's read path) and the
/// serializer: whatever parses encodes to bytes that parse again to a value
/// that encodes to the same bytes (RFC 9051 §7).
pub fn response(data: &[u8]) {
    let opts = CodecOptions {
        utf8: data.first().is_some_and(|b| b & 1 == 1),
    };
    let Ok(r1) = parse_response(data, opts) else {
        return;
    };
    let b1 = r1.to_bytes(opts);
    let r2 = parse_response(&b1, opts).expect("an encoded response parses");
    assert_eq!(r2.to_bytes(opts), b1);
}
