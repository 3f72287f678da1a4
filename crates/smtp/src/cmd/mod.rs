//! The command handlers of [`crate::session::Session`], one module per
//! command group. Each is an `impl Session` block; dispatch is in
//! `Session::handle`.
//!
//! - `helo`: EHLO, HELO, STARTTLS, RSET, NOOP, QUIT, VRFY, EXPN, HELP.
//! - `auth`: AUTH PLAIN / LOGIN (RFC 4954) and its SASL exchange.
//! - `envelope`: MAIL and RCPT.
//! - `body`: DATA and BDAT, and the bodies the connection loop reads
//!   for them ([`DataBody`], [`Chunk`]).
//! - `deliver`: a complete message's checks, headers and storage
//!   (`accept`, `deliver_local`, `queue_remote`) and the delivery reports
//!   (RFC 3461) the session sends.

mod auth;
mod body;
mod deliver;
mod envelope;
mod helo;

use tidings_store::{Store, StoreError};

pub(crate) use auth::Sasl;
pub(crate) use body::{BdatBody, Chunk, DataBody};

/// Whether `domain` is one of the store's own.
pub(crate) fn is_local_domain(store: &Store, domain: &str) -> Result<bool, StoreError> {
    store.is_local_domain(domain)
}
