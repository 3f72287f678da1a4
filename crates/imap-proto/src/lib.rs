//! The IMAP codec of Tidings: IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051)
//! with the extensions Tidings serves, as pure functions from bytes to
//! values and back.
//!
//! It has three parts, used in this order by a server session:
//!
//! 1. [`Framer`]: splits the client's byte stream into complete commands
//!    (lines plus `{n}`, `{n+}` and `~{n}` literals), says when a
//!    continuation request is due ([`Frame::NeedContinuation`]), and enforces
//!    the size limits before anything is parsed ([`FramerLimits`]): a refused
//!    command or a poisoned stream comes with its reply
//!    ([`FrameError::response`], [`FrameError::bye`]).
//! 2. [`parse_command`]: turns one command into a typed [`Command`]
//!    ([`CommandBody`] has one variant per command), or a [`ParseError`]
//!    that carries the tag when it could be read and knows its own response
//!    ([`ParseError::response`]). [`CommandBody::valid_states`] says in which
//!    session states a command is allowed. Mailbox names come out decoded from
//!    modified UTF-7 ([`utf7`]) or as UTF-8 when [`CodecOptions::utf8`] is
//!    set; [`mailbox_name`] validates them for the store. [`parse_idle_done`]
//!    and [`parse_sasl_response`] read the lines sent during IDLE and
//!    AUTHENTICATE.
//! 3. [`Response`]: status responses with codes ([`Status`], [`Code`]), data
//!    ([`Data`], [`FetchItem`], [`Envelope`], [`BodyStructure`]) and
//!    continuation requests, written by [`Response::encode`] with correct
//!    quoting and literals.
//!
//! A server's read loop, in short:
//!
//! ```
//! use tidings_imap_proto::*;
//!
//! let opts = CodecOptions::default(); // utf8: true once IMAP4rev2 or UTF8=ACCEPT is on
//! let mut framer = Framer::new(FramerLimits::default());
//! framer.push(b"a1 SELECT INBOX\r\n"); // bytes as they come off the socket
//! let mut out = Vec::new();
//! loop {
//!     let reply: Response = match framer.next_frame() {
//!         Frame::Incomplete => break, // read more
//!         Frame::NeedContinuation { .. } => Continue::Text("Ready".into()).into(),
//!         Frame::Rejected { tag, error } => error.response(tag.as_ref()).into(),
//!         Frame::Fatal { error, .. } => error.bye().into(), // then close
//!         // Only with `spool_append_literal` set: a big APPEND literal's bytes.
//!         Frame::Spooled { .. } => continue, // write them to a spool file
//!         Frame::Complete(bytes) => match parse_command(&bytes, opts) {
//!             Err(e) => e.response().into(),
//!             Ok(cmd) => {
//!                 assert!(cmd.body.valid_states().authenticated);
//!                 Data::Exists(3).into_response().encode(&mut out, opts);
//!                 Status::ok(&cmd.tag, "SELECT completed").with_code(Code::ReadWrite).into()
//!             }
//!         },
//!     };
//!     reply.encode(&mut out, opts);
//! }
//! assert_eq!(out, b"* 3 EXISTS\r\na1 OK [READ-WRITE] SELECT completed\r\n");
//! ```
//!
//! For clients (the load generator, tests) [`Command::encode`] writes
//! commands and [`parse_response`] reads responses back.
//!
//! Extensions covered: LITERAL+/LITERAL-, SASL-IR, ID, ENABLE, IDLE,
//! NAMESPACE, UNSELECT, UIDPLUS, MOVE, CHILDREN, SPECIAL-USE,
//! CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, STATUS=SIZE, CONDSTORE,
//! QRESYNC, ESEARCH, SEARCHRES, SORT, SORT=DISPLAY, ESORT, PARTIAL, UIDONLY,
//! THREAD, BINARY, UTF8=ACCEPT, QUOTA, COMPRESS=DEFLATE, OBJECTID, SAVEDATE,
//! WITHIN, APPENDLIMIT, MULTIAPPEND, REPLACE, NOTIFY, CONTEXT=SEARCH/SORT,
//! CATENATE and URLAUTH (with IMAP URLs, [`ImapUrl`]) and Gmail's X-GM-EXT-1. The
//! supported RFC sections are cited where the grammar is implemented.
//!
//! This crate must stay pure: no I/O, no tokio, no store. It depends only on
//! `tidings-types` (keywords, mailbox names), `base64` and `thiserror`.

#![forbid(unsafe_code)]

mod command;
mod encode;
mod encode_command;
mod error;
mod framer;
#[doc(hidden)]
pub mod fuzz;
mod parse;
mod parse_command;
mod parse_response;
mod response;
mod types;
mod url;
pub mod utf7;

pub use command::*;
pub use encode::LiteralSyntax;
pub use error::{ParseError, ParseErrorKind};
pub use framer::{Frame, FrameError, Framer, FramerLimits};
pub use parse_command::{
    CodecOptions, SaslResponse, parse_command, parse_idle_done, parse_sasl_response,
};
pub use parse_response::parse_response;
pub use response::*;
pub use types::{
    Date, DateTime, Partial, Section, SectionText, SeqItem, SeqNumber, SequenceSet, Tag, TagError,
};
pub use url::{ImapUrl, UrlAccess, UrlAuth, UrlError, UrlPartial, UrlServer, UrlVerifier};

/// Validates a decoded mailbox name for the store (RFC 9051 §5.1: INBOX in
/// any case is INBOX). The session answers `NO` (or `BAD`) with the error's
/// text when this fails.
pub fn mailbox_name(
    decoded: &str,
) -> Result<tidings_types::MailboxName, tidings_types::MailboxNameError> {
    tidings_types::MailboxName::new(decoded)
}
