//! libFuzzer entry for [`tidings_store::fuzz::mime`], whose doc says what it
//! checks. Run with `scripts/fuzz`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_store::fuzz::mime(data));
