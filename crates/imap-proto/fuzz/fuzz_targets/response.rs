//! Fuzzes the response parser (the load generator's read path) and the
//! serializer: whatever parses, encodes to bytes that parse again to a value
//! that encodes to the same bytes (RFC 9051 §7).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_imap_proto::{CodecOptions, parse_response};

fuzz_target!(|data: &[u8]| {
    let opts = CodecOptions { utf8: data.first().is_some_and(|b| b & 1 == 1) };
    let Ok(r1) = parse_response(data, opts) else { return };
    let b1 = r1.to_bytes(opts);
    let r2 = parse_response(&b1, opts).expect("an encoded response parses");
    assert_eq!(r2.to_bytes(opts), b1);
});
