//! Replays every committed fuzz input (the seeds in `fuzz/corpus/<target>/`,
//! what `scripts/fuzz` grew in `fuzz/grown/<target>/`, the crash inputs in
//! `fuzz/regressions/<target>/`)
//! through the same checks the fuzz targets run, so a found crash stays
//! fixed without a fuzzer.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

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
fn mime_corpus() {
    replay("mime", tidings_store::fuzz::mime);
}
