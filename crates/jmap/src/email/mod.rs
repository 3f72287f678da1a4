//! `Email/*` (RFC 8621 §4) and blob download.

pub mod blob;
pub mod build;
pub mod changes;
pub mod copy;
pub mod get;
pub mod import;
pub mod new;
pub mod parse;
pub mod query;
pub mod query_changes;
pub mod set;
pub mod types;
