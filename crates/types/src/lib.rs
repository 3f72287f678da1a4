//! Small types shared by every Tidings crate: ids, IMAP counters, keywords,
//! mailbox names, account policies, a `Secret` wrapper and civil dates.
//!
//! This crate is a leaf: it depends on nothing of Tidings and on no I/O crate,
//! so protocol codecs can use it without pulling in the store.

#![forbid(unsafe_code)]

pub mod civil;
mod keyword;
mod mailbox_name;

use std::fmt;

pub use keyword::{Keyword, KeywordError};
pub use mailbox_name::{MailboxName, MailboxNameError, SEPARATOR};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            /// The form shown to clients (JMAP id, IMAP OBJECTID, POP3 UIDL).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl $name {
            /// Parses the client-visible form written by `Display`.
            pub fn parse(s: &str) -> Option<Self> {
                s.strip_prefix($prefix)?.parse().ok().map(Self)
            }
        }
    };
}

id_type!(
    /// An account (one user, one login).
    AccountId(i64), "A"
);
id_type!(
    /// A mailbox (folder, label). Stable across renames: IMAP `MAILBOXID`.
    MailboxId(i64), "F"
);
id_type!(
    /// An email, stable for its whole life: JMAP id, IMAP `EMAILID`,
    /// `X-GM-MSGID` (the number) and POP3 `UIDL`.
    EmailId(i64), "M"
);
id_type!(
    /// A conversation: IMAP `THREADID`, `X-GM-THRID` (the number).
    ThreadId(i64), "T"
);

/// An IMAP UID: unique in its mailbox for the mailbox's UIDVALIDITY, never reused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Uid(pub u32);

/// An account-wide change counter (RFC 7162 MODSEQ, JMAP state).
/// Every committed change bumps it; it never goes back.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ModSeq(pub u64);

/// RFC 9051 §2.3.1.1 UIDVALIDITY: fixed for a mailbox's life, never reused by
/// a later mailbox of the same name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct UidValidity(pub u32);

macro_rules! display_via_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }
    )*};
}
display_via_inner!(Uid, ModSeq, UidValidity);

/// The special use of a mailbox (RFC 6154), or one of the two rule-driven views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MailboxRole {
    Inbox,
    Drafts,
    Sent,
    Junk,
    Trash,
    Archive,
    /// Every email not in Trash or Junk (`\All`). Membership follows a rule.
    All,
    /// Every email with `\Flagged` (`\Flagged`). Membership is that keyword.
    Flagged,
}

impl MailboxRole {
    /// Every role, in the order the standard mailboxes are created.
    pub const ALL: [MailboxRole; 8] = [
        MailboxRole::Inbox,
        MailboxRole::Drafts,
        MailboxRole::Sent,
        MailboxRole::Junk,
        MailboxRole::Trash,
        MailboxRole::Archive,
        MailboxRole::All,
        MailboxRole::Flagged,
    ];

    /// The name the standard mailbox of this role gets in a new account.
    pub fn default_name(self) -> &'static str {
        match self {
            MailboxRole::Inbox => "INBOX",
            MailboxRole::Drafts => "Drafts",
            MailboxRole::Sent => "Sent",
            MailboxRole::Junk => "Junk",
            MailboxRole::Trash => "Trash",
            MailboxRole::Archive => "Archive",
            MailboxRole::All => "All Mail",
            MailboxRole::Flagged => "Starred",
        }
    }

    /// The RFC 6154 attribute, e.g. `\Sent`. INBOX has none.
    pub fn special_use(self) -> Option<&'static str> {
        match self {
            MailboxRole::Inbox => None,
            MailboxRole::Drafts => Some("\\Drafts"),
            MailboxRole::Sent => Some("\\Sent"),
            MailboxRole::Junk => Some("\\Junk"),
            MailboxRole::Trash => Some("\\Trash"),
            MailboxRole::Archive => Some("\\Archive"),
            MailboxRole::All => Some("\\All"),
            MailboxRole::Flagged => Some("\\Flagged"),
        }
    }

    /// Parses an RFC 6154 attribute (case-insensitive), for CREATE-SPECIAL-USE.
    pub fn from_special_use(attr: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| {
            r.special_use()
                .is_some_and(|a| a.eq_ignore_ascii_case(attr))
        })
    }

    /// Whether membership is computed by the store rather than chosen by users
    /// (All Mail, Starred). Such mailboxes are not "visible labels".
    pub fn is_virtual(self) -> bool {
        matches!(self, MailboxRole::All | MailboxRole::Flagged)
    }

    /// The stable text used in the database and the config.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxRole::Inbox => "inbox",
            MailboxRole::Drafts => "drafts",
            MailboxRole::Sent => "sent",
            MailboxRole::Junk => "junk",
            MailboxRole::Trash => "trash",
            MailboxRole::Archive => "archive",
            MailboxRole::All => "all",
            MailboxRole::Flagged => "flagged",
        }
    }

    /// Inverse of [`MailboxRole::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What happens to an email that leaves its last visible mailbox (not All Mail
/// or Starred) other than by being expunged from Trash or Junk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeavePolicy {
    /// It stays, visible in All Mail only (Gmail's behaviour).
    #[default]
    Archive,
    /// It goes to Trash.
    Trash,
    /// It is deleted for good.
    Delete,
}

/// What a POP3 `DELE` followed by `QUIT` does to the email for other devices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PopPolicy {
    /// Stays in INBOX as it was.
    Keep,
    /// Stays in INBOX, marked `\Seen`.
    #[default]
    MarkRead,
    /// Leaves INBOX, stays in All Mail.
    Archive,
    /// Goes to Trash.
    Trash,
    /// Deleted for good.
    Delete,
}

macro_rules! policy_text {
    ($t:ty { $($v:ident => $s:literal),* }) => {
        impl $t {
            /// The stable text used in the database, config and CLI.
            pub fn as_str(self) -> &'static str { match self { $(Self::$v => $s),* } }
            /// Inverse of `as_str`.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some(Self::$v),)* _ => None } }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
policy_text!(LeavePolicy { Archive => "archive", Trash => "trash", Delete => "delete" });
policy_text!(PopPolicy { Keep => "keep", MarkRead => "mark-read", Archive => "archive", Trash => "trash", Delete => "delete" });

/// A value that must never be printed: passwords, private keys.
/// `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret itself; name the call site so a reader sees it is exposed.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn ids_round_trip_through_display() {
        assert_eq!(EmailId::parse(&EmailId(42).to_string()), Some(EmailId(42)));
        assert_eq!(MailboxId::parse("M1"), None);
    }

    #[test]
    fn roles_and_policies_round_trip() {
        for r in MailboxRole::ALL {
            assert_eq!(MailboxRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            MailboxRole::from_special_use("\\trash"),
            Some(MailboxRole::Trash)
        );
        assert_eq!(PopPolicy::parse("mark-read"), Some(PopPolicy::MarkRead));
        assert_eq!(LeavePolicy::parse("nope"), None);
    }
}
