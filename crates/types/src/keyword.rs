//! Message keywords and system flags (RFC 9051 §2.3.2).
//!
//! System flags are stored in their canonical case (`\Seen`); user keywords are
//! atoms, compared case-insensitively by IMAP, stored as the client first wrote
//! them. `\Deleted` is not a keyword of the email: it belongs to one mailbox
//! entry (see docs/design.md), so the store keeps it apart. `\Recent` is never stored.

use std::fmt;

/// A validated keyword or system flag.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Keyword(String);

/// Why a keyword was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    #[error("empty keyword")]
    Empty,
    #[error("keyword longer than 255 bytes")]
    TooLong,
    #[error("keyword contains a character IMAP does not allow in an atom")]
    BadChar,
    #[error("unknown system flag {0}")]
    UnknownSystemFlag(String),
}

impl Keyword {
    pub const SEEN: &'static str = "\\Seen";
    pub const ANSWERED: &'static str = "\\Answered";
    pub const FLAGGED: &'static str = "\\Flagged";
    pub const DELETED: &'static str = "\\Deleted";
    pub const DRAFT: &'static str = "\\Draft";
    pub const FORWARDED: &'static str = "$Forwarded";
    pub const JUNK: &'static str = "$Junk";

    const SYSTEM: [&'static str; 5] = [
        Self::SEEN,
        Self::ANSWERED,
        Self::FLAGGED,
        Self::DELETED,
        Self::DRAFT,
    ];

    /// Validates a flag as IMAP writes it: `\Seen` (any case) or an atom.
    pub fn new(s: &str) -> Result<Self, KeywordError> {
        if s.is_empty() {
            return Err(KeywordError::Empty);
        }
        if s.len() > 255 {
            return Err(KeywordError::TooLong);
        }
        if let Some(rest) = s.strip_prefix('\\') {
            return Self::SYSTEM
                .iter()
                .find(|f| f[1..].eq_ignore_ascii_case(rest))
                .map(|f| Keyword((*f).to_string()))
                .ok_or_else(|| KeywordError::UnknownSystemFlag(s.to_string()));
        }
        // RFC 9051 atom-char minus the list/resp specials, ASCII only.
        let ok = s.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        });
        if !ok {
            return Err(KeywordError::BadChar);
        }
        Ok(Keyword(s.to_string()))
    }

    /// The keyword as stored and sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `\Deleted`, which lives on a mailbox entry, not the email.
    pub fn is_deleted(&self) -> bool {
        self.0 == Self::DELETED
    }

    /// Case-insensitive comparison, as IMAP compares keywords.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_are_canonicalised() {
        assert_eq!(Keyword::new("\\seen").unwrap().as_str(), "\\Seen");
        assert_eq!(Keyword::new("\\FLAGGED").unwrap().as_str(), "\\Flagged");
        assert!(matches!(
            Keyword::new("\\Bogus"),
            Err(KeywordError::UnknownSystemFlag(_))
        ));
    }

    #[test]
    fn atoms_only() {
        assert!(Keyword::new("$Forwarded").is_ok());
        assert!(Keyword::new("Work-2024").is_ok());
        assert_eq!(Keyword::new("a b"), Err(KeywordError::BadChar));
        assert_eq!(Keyword::new("a(b"), Err(KeywordError::BadChar));
        assert_eq!(Keyword::new("é"), Err(KeywordError::BadChar));
        assert_eq!(Keyword::new(""), Err(KeywordError::Empty));
        assert_eq!(Keyword::new(&"x".repeat(256)), Err(KeywordError::TooLong));
    }
}
