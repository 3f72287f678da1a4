//! `Mailbox/*` (RFC 8621 §2). A Tidings mailbox is a label (DESIGN.md);
//! its JMAP `name` is the last segment of its hierarchical name and its
//! `parentId` the mailbox of the rest.

pub mod changes;
pub mod get;
pub mod query;
pub mod query_changes;
pub mod set;
pub mod types;
