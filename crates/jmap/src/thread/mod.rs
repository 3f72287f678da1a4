//! `Thread/*` (RFC 8621 §3).

pub mod changes;
pub mod get;
