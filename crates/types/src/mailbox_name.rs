//! Mailbox names as the store keeps them: UTF-8, `/` between hierarchy levels.
//!
//! Protocol crates translate their own forms (IMAP modified UTF-7 or UTF-8,
//! RFC 9051 §5.1.3) to this one before asking the store. `INBOX` is matched
//! case-insensitively (RFC 9051 §5.1) and always stored as `INBOX`.

use std::fmt;

/// The hierarchy separator.
pub const SEPARATOR: char = '/';

/// Longest name accepted, in bytes.
pub const MAX_LEN: usize = 1000;

/// A validated mailbox name.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct MailboxName(String);

/// Why a mailbox name was refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxNameError {
    #[error("mailbox name is empty")]
    Empty,
    #[error("mailbox name is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("mailbox name is not valid UTF-8")]
    InvalidUtf8,
    #[error("mailbox name contains a control character")]
    ControlChar,
    #[error("mailbox name has an empty hierarchy level (leading, trailing or double '/')")]
    EmptyLevel,
    #[error("mailbox name contains '*' or '%', which are LIST wildcards")]
    Wildcard,
}

impl MailboxName {
    /// Validates raw bytes (as they came off the wire after decoding).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MailboxNameError> {
        let s = std::str::from_utf8(bytes).map_err(|_| MailboxNameError::InvalidUtf8)?;
        Self::new(s)
    }

    /// Validates a name.
    pub fn new(s: &str) -> Result<Self, MailboxNameError> {
        if s.is_empty() {
            return Err(MailboxNameError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(MailboxNameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(MailboxNameError::ControlChar);
        }
        if s.contains(['*', '%']) {
            return Err(MailboxNameError::Wildcard);
        }
        if s.split(SEPARATOR).any(str::is_empty) {
            return Err(MailboxNameError::EmptyLevel);
        }
        // RFC 9051 §5.1: INBOX is case-insensitive, also as a parent ("inbox/x").
        let mut levels = s.split(SEPARATOR);
        let first = levels.next().unwrap_or_default();
        if first.eq_ignore_ascii_case("INBOX") && first != "INBOX" {
            let rest: Vec<&str> = levels.collect();
            let mut name = String::from("INBOX");
            for l in rest {
                name.push(SEPARATOR);
                name.push_str(l);
            }
            return Ok(MailboxName(name));
        }
        Ok(MailboxName(s.to_string()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is INBOX itself.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The parent's name (`a/b` for `a/b/c`), if any.
    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rsplit_once(SEPARATOR)
            .map(|(p, _)| MailboxName(p.to_string()))
    }

    /// Every ancestor, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> Vec<MailboxName> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }

    /// Whether `self` is strictly inside `other` (`a/b` is inside `a`).
    pub fn is_inside(&self, other: &MailboxName) -> bool {
        self.0.len() > other.0.len()
            && self.0.starts_with(other.as_str())
            && self.0[other.0.len()..].starts_with(SEPARATOR)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_with_clear_reasons() {
        assert_eq!(MailboxName::new(""), Err(MailboxNameError::Empty));
        assert_eq!(MailboxName::new("a//b"), Err(MailboxNameError::EmptyLevel));
        assert_eq!(MailboxName::new("/a"), Err(MailboxNameError::EmptyLevel));
        assert_eq!(MailboxName::new("a/"), Err(MailboxNameError::EmptyLevel));
        assert_eq!(
            MailboxName::new("a\u{7}b"),
            Err(MailboxNameError::ControlChar)
        );
        assert_eq!(
            MailboxName::new("a\u{85}b"),
            Err(MailboxNameError::ControlChar)
        );
        assert_eq!(MailboxName::new("a*"), Err(MailboxNameError::Wildcard));
        assert_eq!(
            MailboxName::new(&"x".repeat(1001)),
            Err(MailboxNameError::TooLong)
        );
        assert!(MailboxName::new(&"x".repeat(1000)).is_ok());
        assert_eq!(
            MailboxName::from_bytes(b"a\xffb"),
            Err(MailboxNameError::InvalidUtf8)
        );
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(MailboxName::new("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(MailboxName::new("Inbox/Sub").unwrap().as_str(), "INBOX/Sub");
        assert_eq!(MailboxName::new("Inboxes").unwrap().as_str(), "Inboxes");
    }

    #[test]
    fn hierarchy() {
        let n = MailboxName::new("a/b/c").unwrap();
        assert_eq!(n.parent().unwrap().as_str(), "a/b");
        let anc: Vec<String> = n.ancestors().iter().map(|m| m.to_string()).collect();
        assert_eq!(anc, ["a", "a/b"]);
        assert!(n.is_inside(&MailboxName::new("a").unwrap()));
        assert!(
            !MailboxName::new("ab")
                .unwrap()
                .is_inside(&MailboxName::new("a").unwrap())
        );
        assert_eq!(
            MailboxName::new("日本語/メール").unwrap().as_str(),
            "日本語/メール"
        );
    }
}
