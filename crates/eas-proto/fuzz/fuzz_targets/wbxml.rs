//! libFuzzer entry for [`tidings_eas_proto::fuzz::wbxml`], whose doc says
//! what it checks. Run with `scripts/fuzz`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_eas_proto::fuzz::wbxml(data));
