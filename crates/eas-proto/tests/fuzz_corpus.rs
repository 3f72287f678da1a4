//! Replays the fuzz target's seeds, grown corpus and regressions
//! (`fuzz/corpus`, `fuzz/grown`, `fuzz/regressions`) through the same
//! check libFuzzer runs ([`tidings_eas_proto::fuzz`]).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

#[test]
fn wbxml_corpus_passes() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus/wbxml", "grown/wbxml", "regressions/wbxml"] {
        let Ok(entries) = std::fs::read_dir(base.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            tidings_eas_proto::fuzz::wbxml(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} seeds under {}", base.display());
}
