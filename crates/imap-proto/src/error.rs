//! Parse errors, and the response each one calls for.

use thiserror::Error;

use crate::response::{Code, Status, StatusKind};
use crate::types::Tag;
use crate::utf7::Utf7Error;

/// A command that could not be parsed. `tag` is set when the tag could be
/// read, so the server can answer `tag BAD ...`; otherwise it answers
/// `* BAD ...` (RFC 9051 §7.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct ParseError {
    pub tag: Option<Tag>,
    pub kind: ParseErrorKind,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// The input does not follow the grammar; the text says where and what
    /// was expected.
    #[error("{0}")]
    Syntax(String),
    /// The command name is not one this crate knows.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// A mailbox name is not valid modified UTF-7 (RFC 9051 §5.1.3).
    #[error("invalid mailbox name: {0}")]
    MailboxName(Utf7Error),
    /// SEARCH, SORT or THREAD named a charset other than US-ASCII and UTF-8.
    /// This is a `NO [BADCHARSET]`, not a `BAD` (RFC 9051 §6.4.4).
    #[error("unsupported charset {0}")]
    BadCharset(String),
}

impl ParseError {
    /// The status response the server sends for this error: `tag BAD text`,
    /// `* BAD text` without a tag, `tag NO [BADCHARSET (UTF-8 US-ASCII)]`,
    /// or `tag NO [CANNOT]` for a mailbox name that is not modified UTF-7
    /// (the command is well formed; no mailbox can have that name, as for
    /// any other name the server refuses).
    pub fn response(&self) -> Status {
        match &self.kind {
            ParseErrorKind::MailboxName(_) if self.tag.is_some() => Status {
                tag: self.tag.clone(),
                kind: StatusKind::No,
                code: Some(Code::Cannot),
                text: self.kind.to_string(),
            },
            ParseErrorKind::BadCharset(_) => Status {
                tag: self.tag.clone(),
                kind: StatusKind::No,
                code: Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                text: self.kind.to_string(),
            },
            _ => Status {
                tag: self.tag.clone(),
                kind: StatusKind::Bad,
                code: None,
                text: self.kind.to_string(),
            },
        }
    }
}
