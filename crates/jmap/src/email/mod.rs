//! `Email/*` (RFC 8621 §4) and blob download.

pub mod blob;
pub mod changes;
pub mod get;
pub mod query;
pub mod query_changes;
pub mod set;
pub mod types;
