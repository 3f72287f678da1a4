//! Runs the checks of the fuzz targets over the committed inputs, so the
//! seeds and the properties are exercised on stable Rust by every test run:
//! the `*_seeds` tests check the seeds are what they claim (commands that
//! parse, responses that parse), the `*_corpus` tests replay every input —
//! seeds, the corpus `scripts/fuzz` grew (`fuzz/grown/`), and the crash inputs in
//! `fuzz/regressions/` — through the very functions the fuzz targets call
//! (`tidings_imap_proto::fuzz`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

use tidings_imap_proto::*;

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

#[test]
fn command_seeds() {
    let mut parsed = 0;
    for (name, data) in corpus("command") {
        for opts in [CodecOptions { utf8: false }, CodecOptions { utf8: true }] {
            let mut framer = Framer::new(FramerLimits::default());
            framer.push(&data);
            loop {
                match framer.next_frame() {
                    Frame::Complete(bytes) => {
                        if let Ok(cmd) = parse_command(&bytes, opts) {
                            parsed += 1;
                            for lit in [LiteralSyntax::Sync, LiteralSyntax::NonSync] {
                                let wire = cmd.encode(opts, lit);
                                assert_eq!(parse_command(&wire, opts).as_ref(), Ok(&cmd), "{name}");
                            }
                        }
                    }
                    Frame::Incomplete | Frame::Fatal { .. } => break,
                    Frame::Spooled { .. } => {}
                    Frame::NeedContinuation { .. } | Frame::Rejected { .. } => {}
                }
            }
            assert_eq!(framer.buffered_len(), 0, "{name} ends with a whole command");
        }
    }
    assert!(parsed >= 30, "only {parsed} seed commands parsed");
}

#[test]
fn response_seeds() {
    for (name, data) in corpus("response") {
        let opts = CodecOptions {
            utf8: data.first().is_some_and(|b| b & 1 == 1),
        };
        let r1 = parse_response(&data, opts)
            .unwrap_or_else(|e| panic!("seed {name} does not parse: {e}"));
        let b1 = r1.to_bytes(opts);
        let r2 = parse_response(&b1, opts).unwrap();
        assert_eq!(r2.to_bytes(opts), b1, "{name}");
    }
}

#[test]
fn framer_seeds() {
    let limits = FramerLimits {
        max_line: 64,
        max_literal: 32,
        max_append_literal: 128,
        max_literals: 3,
        max_command_literals: 200,
        max_nonsync_literal: 16,
        spool_append_literal: 64,
    };
    for (name, data) in corpus("framer") {
        let mut framer = Framer::new(limits);
        framer.push(&data);
        let mut frames = 0;
        loop {
            match framer.next_frame() {
                Frame::Incomplete | Frame::Fatal { .. } => break,
                Frame::Complete(c) => assert!(c.ends_with(b"\n"), "{name}"),
                _ => {}
            }
            frames += 1;
        }
        assert!(frames > 0 || name == "nonsync-over", "{name}");
    }
}

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus", "grown", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let data = std::fs::read(&path).unwrap();
                let ok = std::panic::catch_unwind(|| check(&data));
                assert!(ok.is_ok(), "{} fails the {target} check", path.display());
                n += 1;
            }
        }
    }
    assert!(n > 0, "no corpus for {target}");
}

#[test]
fn command_corpus() {
    replay("command", tidings_imap_proto::fuzz::command);
}

#[test]
fn framer_corpus() {
    replay("framer", tidings_imap_proto::fuzz::framer);
}

#[test]
fn response_corpus() {
    replay("response", tidings_imap_proto::fuzz::response);
}
