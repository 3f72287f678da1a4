//! libFuzzer entry for [`tidings_smtp_proto::fuzz::session`], whose doc says
//! what it checks. Run with `scripts/fuzz`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_smtp_proto::fuzz::session(data));
