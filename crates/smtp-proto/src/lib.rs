//! SMTP's wire format, pure: bytes in, values out. No tokio, no store.
//!
//! - [`command`]: the commands of RFC 5321 §4.1 with the parameters of the
//!   extensions Tidings speaks: SIZE (RFC 1870), 8BITMIME (RFC 6152),
//!   BINARYMIME and CHUNKING (RFC 3030), SMTPUTF8 (RFC 6531), DSN
//!   (RFC 3461), AUTH (RFC 4954), STARTTLS (RFC 3207).
//! - [`reply`]: replies, single and multi-line, with enhanced status codes
//!   (RFC 3463, RFC 2034).
//! - [`framer`]: cuts the stream into command lines of at most
//!   [`MAX_LINE`] octets (RFC 5321 §4.5.3.1.6) without ever buffering more.
//! - [`data`]: reads a DATA body up to `<CRLF>.<CRLF>` (RFC 5321 §4.1.1.4),
//!   removes dot-stuffing (§4.5.2) and is safe against SMTP smuggling.
//! - [`sasl`]: SASL PLAIN (RFC 4616) and LOGIN decoding.
//!
//! Must not depend on any other Tidings crate but `tidings-types`.

#![forbid(unsafe_code)]

pub mod command;
pub mod data;
pub mod framer;
#[doc(hidden)]
pub mod fuzz;
pub mod reply;
pub mod sasl;

pub use command::{
    Body, Command, MailParams, Notify, ParseError, Path, RcptParams, Ret, ReversePath,
};
pub use data::{BareLineEndScan, DataOutcome, DataReader, has_bare_line_end};
pub use framer::{Frame, LineFramer, MAX_LINE};
pub use reply::{EnhancedCode, Reply};
