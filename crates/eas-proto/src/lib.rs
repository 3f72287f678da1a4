//! WBXML as Exchange ActiveSync uses it (MS-ASWBXML), as pure functions
//! over bytes.
//!
//! - [`codepage`]: the ActiveSync code pages (MS-ASWBXML §2.1.2.1): every
//!   tag of pages 0–25 with its token, and [`tags`], a constant per tag
//!   (`tags::AirSync::SyncKey`).
//! - [`wbxml`]: the WBXML 1.3 decoder and encoder (W3C NOTE-wbxml-19990624
//!   §5), limited before anything is allocated: document size, depth,
//!   element count, opaque length, string table length. Decoding is a
//!   loop with an explicit stack, never recursion on peer data.
//! - [`Element`] / [`Node`]: the small tree the two work on.
//! - [`request`]: the request line (MS-ASHTTP §2.2.1.1.1): the command,
//!   user and device, in the plain or the base64 form.
//!
//! ActiveSync uses a subset of WBXML: no attributes, no literal tag names,
//! no processing instructions or extensions. The decoder refuses those
//! with an error rather than guessing; it accepts string-table
//! references (`STR_T`) and character entities, which other encoders
//! (libwbxml) produce.
//!
//! This crate is pure: it must not depend on tokio, on the store or on
//! any other Tidings crate. That is what lets it be unit-tested against
//! the specification's examples and fuzzed (`fuzz/`, not a workspace
//! member).

#![forbid(unsafe_code)]

pub mod codepage;
#[doc(hidden)]
pub mod fuzz;
pub mod request;
mod tree;
pub mod wbxml;

pub use codepage::{CodePage, PAGES, Tag, tags};
pub use request::{Command, QueryError, RequestLine, parse_query};
pub use tree::{Element, Node};
pub use wbxml::{DecodeError, Limits, decode, encode};
