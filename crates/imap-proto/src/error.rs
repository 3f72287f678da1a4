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
    /// A LIST or LSUB pattern is not valid modified UTF-7. No mailbox name
    /// can match it, so the answer is `tag OK` with no items, as Dovecot
    /// does; RFC 9051 §6.3.9 says nothing of such a pattern, and a NO would
    /// fail a client that only asked.
    #[error("the pattern is not modified UTF-7 ({0}) and matches no mailbox")]
    ListPattern(Utf7Error),
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
    /// any other name the server refuses), `tag OK` for such a LIST or LSUB
    /// pattern (it matches nothing).
    pub fn response(&self) -> Status {
        match &self.kind {
            ParseErrorKind::MailboxName(_) if self.tag.is_some() => Status {
                tag: self.tag.clone(),
                kind: StatusKind::No,
                code: Some(Code::Cannot),
                text: self.kind.to_string(),
            },
            ParseErrorKind::ListPattern(_) if self.tag.is_some() => Status {
                tag: self.tag.clone(),
                kind: StatusKind::Ok,
                code: None,
                text: format!("completed; {}", self.kind),
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
