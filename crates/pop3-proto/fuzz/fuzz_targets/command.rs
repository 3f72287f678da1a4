//! libFuzzer entry for [`tidings_pop3_proto::fuzz::command`], whose doc says
//! what it checks. Run with `scripts/fuzz`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_pop3_proto::fuzz::command(data));
