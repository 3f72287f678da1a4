//! The command handlers of [`crate::session::Session`], one module per
//! command group. Each is an `impl Session` block; dispatch is in
//! `Session::command`.

mod acl;
mod append;
mod auth;
mod catenate;
mod context;
mod copy;
mod enable;
mod expunge;
mod fetch;
mod idle;
mod list;
mod mailbox;
mod metadata;
mod notify;
mod quota;
mod replace;
mod search;
mod status;
mod store;
mod urlauth;

pub(crate) use acl::{SHARED_ROOT, in_other_account, resolve, rights_on, shared_name};
pub(crate) use context::{SearchContext, before_expunge};
pub(crate) use fetch::FetchJob;
pub(crate) use notify::Notify;
pub(crate) use search::{SearchCommand, SearchJob};
