//! The property the MIME-ingest fuzz target checks, as a plain function, run
//! both under libFuzzer (`crates/store/fuzz`, driven by `scripts/fuzz`) and
//! as an ordinary test replaying the committed corpus and crash inputs
//! (`tests/fuzz_corpus.rs`). It panics when a property fails.

use crate::parse::{BodyPart, parse};

/// Ingest parsing of arbitrary bytes: it never panics, every part's offsets
/// lie inside the message in order (so `BODY[n]` can slice them), and the
/// metadata survives the JSON round trip the store puts it through (a
/// message whose metadata could be written but not read back would break
/// every later FETCH of it).
pub fn mime(data: &[u8]) {
    let parsed = parse(data);
    let len = data.len() as u64;
    assert!(parsed.meta.header_end <= len);
    let mut stack: Vec<&BodyPart> = vec![&parsed.meta.body];
    while let Some(part) = stack.pop() {
        assert!(
            part.header_start <= part.body_start
                && part.body_start <= part.body_end
                && part.body_end <= len,
            "offsets {}..{}..{} of {len}",
            part.header_start,
            part.body_start,
            part.body_end
        );
        stack.extend(&part.parts);
        if let Some(inner) = &part.message {
            stack.push(&inner.1);
        }
    }
    let json = serde_json::to_string(&parsed.meta).expect("metadata serializes");
    let back: crate::EmailMeta = serde_json::from_str(&json).expect("metadata reads back");
    assert_eq!(back, parsed.meta);
}
