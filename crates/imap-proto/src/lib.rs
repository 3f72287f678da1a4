//! The IMAP codec of Tidings: IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051)
//! with the extensions Tidings serves, as pure functions from bytes to
//! values and back.
//!
//! It has three parts, used in this order by a server session:
//!
//! 1. [`Framer`]: splits the client's byte stream into complete commands
//!    (lines plus `{n}`, `{n+}` and `~{n}` literals), says when a
//!    continuation request is due ([`Frame::NeedContinuation`]), and enforces
//!    the size limits before anything is parsed ([`FramerLimits`]).
//! 2. [`parse_command`]: turns one command into a typed [`Command`]
//!    ([`CommandBody`] has one variant per command), or a [`ParseError`]
//!    that carries the tag when it could be read and knows its own response
//!    ([`ParseError::response`]). Mailbox names come out decoded from
//!    modified UTF-7 ([`utf7`]) or as UTF-8 when [`CodecOptions::utf8`] is
//!    set; [`mailbox_name`] validates them for the store. [`parse_idle_done`]
//!    and [`parse_sasl_response`] read the lines sent during IDLE and
//!    AUTHENTICATE.
//! 3. [`Response`]: status responses with codes ([`Status`], [`Code`]), data
//!    ([`Data`], [`FetchItem`], [`Envelope`], [`BodyStructure`]) and
//!    continuation requests, written by [`Response::encode`] with correct
//!    quoting and literals.
//!
//! For clients (the load generator, tests) [`Command::encode`] writes
//! commands and [`parse_response`] reads responses back.
//!
//! Extensions covered: LITERAL+/LITERAL-, SASL-IR, ID, ENABLE, IDLE,
//! NAMESPACE, UNSELECT, UIDPLUS, MOVE, CHILDREN, SPECIAL-USE,
//! CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, STATUS=SIZE, CONDSTORE,
//! QRESYNC, ESEARCH, SEARCHRES, SORT, SORT=DISPLAY, THREAD, BINARY,
//! UTF8=ACCEPT, QUOTA, COMPRESS=DEFLATE, OBJECTID, SAVEDATE, WITHIN,
//! APPENDLIMIT, MULTIAPPEND and Gmail's X-GM-EXT-1. The supported RFC
//! sections are cited where the grammar is implemented.
//!
//! This crate must stay pure: no I/O, no tokio, no store. It depends only on
//! `tidings-types` (keywords, mailbox names), `base64` and `thiserror`.

#![forbid(unsafe_code)]

mod command;
mod encode;
mod encode_command;
mod error;
mod framer;
mod parse;
mod parse_command;
mod parse_response;
mod response;
mod types;
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

/// Validates a decoded mailbox name for the store (RFC 9051 §5.1: INBOX in
/// any case is INBOX). The session answers `NO` (or `BAD`) with the error's
/// text when this fails.
pub fn mailbox_name(
    decoded: &str,
) -> Result<tidings_types::MailboxName, tidings_types::MailboxNameError> {
    tidings_types::MailboxName::new(decoded)
}
