//! POP3 commands and replies: the wire grammar of RFC 1939 and its
//! extensions, as pure functions over bytes.
//!
//! - [`framer`]: splits the byte stream into command lines with a length
//!   limit (RFC 2449 §4), before any parsing; an over-long line is dropped,
//!   never buffered.
//! - [`command`]: parses and encodes commands (RFC 1939 §4–7, CAPA and the
//!   response codes of RFC 2449, AUTH of RFC 5034, STLS of RFC 2595, UTF8 of
//!   RFC 6856).
//! - [`response`]: status lines with response codes (RFC 2449 §8,
//!   RFC 3206), multi-line responses and the CAPA listing.
//! - [`message`]: a message as a multi-line response: dot-stuffed, CRLF line
//!   ends, produced in bounded chunks straight from the stored bytes; the
//!   TOP cut (RFC 1939 §7).
//! - [`sasl`]: the SASL PLAIN mechanism (RFC 4616) in POP3's base64 framing.
//!
//! This crate is pure: bytes in, values out. It must not depend on tokio,
//! on the store, or on any other protocol crate; its only Tidings
//! dependency is `tidings-types` (for [`tidings_types::Secret`]). That is
//! what lets it be unit-tested from the RFCs' examples and fuzzed
//! (`fuzz/`, not a workspace member).

#![forbid(unsafe_code)]

pub mod command;
pub mod framer;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
pub mod response;
pub mod sasl;

pub use command::{Command, ParseError};
pub use framer::{Frame, LineFramer, MAX_COMMAND_LINE};
pub use message::{DotStuffer, StreamStuffer, top};
pub use response::{Capability, RespCode, Response, Status};
pub use sasl::{PlainCredentials, SaslError};
