//! The checks the fuzz target runs (`fuzz/`), kept here so that the seed
//! corpus also runs in the ordinary tests (`tests/fuzz_corpus.rs`).

use crate::wbxml::{Limits, decode, encode};

/// Decodes any bytes under small limits without panicking; a document
/// that decodes encodes to bytes that decode to the same tree, and
/// encoding that tree again gives the same bytes.
pub fn wbxml(data: &[u8]) {
    let limits = Limits {
        max_size: 1 << 20,
        max_depth: 16,
        max_elements: 4096,
        max_opaque: 1 << 16,
        max_string_table: 1 << 12,
    };
    if let Ok(tree) = decode(data, &limits) {
        let bytes = encode(&tree);
        let again = decode(&bytes, &Limits::default());
        assert_eq!(again.as_ref(), Ok(&tree), "round trip");
        assert_eq!(encode(&tree), bytes);
    }
}
