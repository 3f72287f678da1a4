//! Mailbox sharing: access control lists in the rights of RFC 4314 §2.1.
//!
//! The owner of a mailbox has every right, always (RFC 4314 §2: the
//! implementation may fix some rights; here the owner's are fixed, so an
//! owner cannot lock themself out). Other accounts have the rights the
//! owner (or someone with `a`) granted them, or that were granted to
//! `anyone`; the two add up. There are no negative rights.
//!
//! The store checks the rights itself, in one place per backend
//! (`sqlite::acl::access` for the SQLite one): every call that takes an
//! account and a mailbox of another account asks it for the right the
//! call needs ([`Right`]), and the call then acts as the owner (the
//! owner's MODSEQ, change log and quota). A mailbox the caller has no
//! right on at all, or may not look up (`l`), is `NotFound`, as if it did
//! not exist (RFC 4314 §4); a missing right on a mailbox it may look up is
//! [`crate::StoreError::NoPermission`].
//!
//! Keywords, `\Seen` included, live on the email: a shared mailbox shows
//! its owner's flags to every grantee, and what a grantee with `s` marks
//! read is read for the owner too. RFC 4314 allows this (the `s` right
//! exists precisely to guard the shared `\Seen`); Dovecot keeps `\Seen`
//! per user only when configured to. `\Deleted` is per entry, as always.

use std::fmt;

use tidings_types::{Keyword, MailboxName, SEPARATOR};

/// The root of the names other users' mailboxes have for a grantee
/// (`shared/OWNER/NAME`; IMAP's other users' namespace, RFC 2342).
pub const SHARED_ROOT: &str = "shared";

/// The name a grantee sees for `name` of `owner`'s account (its
/// subscriptions use it).
pub fn shared_name(owner: &str, name: &MailboxName) -> Option<MailboxName> {
    MailboxName::new(&format!(
        "{SHARED_ROOT}{SEPARATOR}{owner}{SEPARATOR}{name}",
        name = name.as_str()
    ))
    .ok()
}

/// One right of RFC 4314 §2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Right {
    /// `l`: the mailbox is visible to LIST and its name resolves.
    Lookup,
    /// `r`: SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from.
    Read,
    /// `s`: keep `\Seen` across sessions (STORE, APPEND, COPY).
    Seen,
    /// `w`: flags and keywords other than `\Seen` and `\Deleted`.
    Write,
    /// `i`: APPEND and COPY into the mailbox.
    Insert,
    /// `p`: send mail to the mailbox's submission address (no such
    /// address here: stored and reported only).
    Post,
    /// `k`: create mailboxes below this one.
    CreateChild,
    /// `x`: delete the mailbox (or rename it away).
    DeleteMailbox,
    /// `t`: set or clear `\Deleted`.
    DeleteMessages,
    /// `e`: EXPUNGE.
    Expunge,
    /// `a`: change the ACL (SETACL, DELETEACL, GETACL, LISTRIGHTS).
    Administer,
}

impl Right {
    /// Every right, in the order Dovecot writes them (`lrwstipekxa`).
    pub const ALL: [Right; 11] = [
        Right::Lookup,
        Right::Read,
        Right::Write,
        Right::Seen,
        Right::DeleteMessages,
        Right::Insert,
        Right::Post,
        Right::Expunge,
        Right::CreateChild,
        Right::DeleteMailbox,
        Right::Administer,
    ];

    pub fn letter(self) -> char {
        match self {
            Right::Lookup => 'l',
            Right::Read => 'r',
            Right::Seen => 's',
            Right::Write => 'w',
            Right::Insert => 'i',
            Right::Post => 'p',
            Right::CreateChild => 'k',
            Right::DeleteMailbox => 'x',
            Right::DeleteMessages => 't',
            Right::Expunge => 'e',
            Right::Administer => 'a',
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The right that changing `flag` needs (RFC 4314 §4, STORE).
    pub fn for_flag(flag: &Keyword) -> Right {
        if flag.is_deleted() {
            Right::DeleteMessages
        } else if flag.as_str().eq_ignore_ascii_case("\\Seen") {
            Right::Seen
        } else {
            Right::Write
        }
    }
}

/// A set of rights.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rights(u16);

/// Why a rights string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown right {0:?}")]
pub struct UnknownRight(pub char);

impl Rights {
    pub const NONE: Rights = Rights(0);

    /// Every right: the owner's.
    pub fn all() -> Rights {
        Right::ALL.iter().fold(Rights::NONE, |r, &x| r.with(x))
    }

    pub fn of(rights: &[Right]) -> Rights {
        rights.iter().fold(Rights::NONE, |r, &x| r.with(x))
    }

    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    pub fn has(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    /// Whether every right of `other` is in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn minus(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    /// Parses rights letters. The obsolete `c` is `k` and `d` is `te`
    /// (RFC 4314 §2.1.1 leaves the mapping to the server; these are
    /// Dovecot's); digits are refused (no implementation-defined rights
    /// here).
    pub fn parse(text: &str) -> Result<Rights, UnknownRight> {
        let mut r = Rights::NONE;
        for c in text.chars() {
            r = match c {
                'c' => r.with(Right::CreateChild),
                'd' => r.with(Right::DeleteMessages).with(Right::Expunge),
                c => match Right::ALL.iter().find(|x| x.letter() == c) {
                    Some(&x) => r.with(x),
                    None => return Err(UnknownRight(c)),
                },
            };
        }
        Ok(r)
    }

    /// The letters as stored: only the RFC 4314 rights, in Dovecot's order.
    pub fn letters(self) -> String {
        Right::ALL
            .iter()
            .filter(|r| self.has(**r))
            .map(|r| r.letter())
            .collect()
    }

    /// The letters as IMAP reports them (MYRIGHTS, ACL): with `c` when
    /// `k` is there and `d` when `t` or `e` is (RFC 4314 §2.1.1: a server
    /// MUST return them for old clients; as Dovecot).
    pub fn imap_letters(self) -> String {
        let mut s = self.letters();
        if self.has(Right::CreateChild) {
            s.push('c');
        }
        if self.has(Right::DeleteMessages) || self.has(Right::Expunge) {
            s.push('d');
        }
        s
    }

    /// The flags of `flags` these rights allow changing (RFC 4314 §4).
    pub fn allowed_flags(self, flags: &[Keyword]) -> Vec<Keyword> {
        flags
            .iter()
            .filter(|k| self.has(Right::for_flag(k)))
            .cloned()
            .collect()
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({:?})", self.letters())
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.letters())
    }
}

/// Who is granted rights: one account, or every account (`anyone`,
/// RFC 4314 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Grantee {
    Anyone,
    /// An account's address.
    Account(String),
}

impl Grantee {
    /// `anyone` or an address, as IMAP names identifiers.
    pub fn parse(identifier: &str) -> Grantee {
        if identifier.eq_ignore_ascii_case("anyone") {
            Grantee::Anyone
        } else {
            Grantee::Account(identifier.to_string())
        }
    }
}

impl Grantee {
    /// Whether two identifiers name the same grantee (addresses compare
    /// without case, as accounts are stored).
    pub fn same(&self, other: &Grantee) -> bool {
        match (self, other) {
            (Grantee::Anyone, Grantee::Anyone) => true,
            (Grantee::Account(a), Grantee::Account(b)) => a.to_lowercase() == b.to_lowercase(),
            _ => false,
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Anyone => f.write_str("anyone"),
            Grantee::Account(a) => f.write_str(a),
        }
    }
}

/// One line of a mailbox's ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub grantee: Grantee,
    pub rights: Rights,
}

/// A mailbox of another account that an account may look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMailbox {
    /// The owner's address.
    pub owner: String,
    pub mailbox: crate::Mailbox,
    /// The caller's rights on it (`l` among them).
    pub rights: Rights,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_parse_and_print_like_dovecot() {
        assert_eq!(Rights::all().letters(), "lrwstipekxa");
        assert_eq!(Rights::all().imap_letters(), "lrwstipekxacd");
        assert_eq!(Rights::parse("rl").unwrap().letters(), "lr");
        assert_eq!(Rights::parse("lrd").unwrap().letters(), "lrte");
        assert_eq!(Rights::parse("lrx").unwrap().imap_letters(), "lrx");
        assert_eq!(Rights::parse("c").unwrap().letters(), "k");
        assert_eq!(Rights::parse("lr").unwrap().imap_letters(), "lr");
        assert_eq!(Rights::parse("lrt").unwrap().imap_letters(), "lrtd");
        assert_eq!(Rights::parse("lrz"), Err(UnknownRight('z')));
        assert_eq!(Rights::parse("1"), Err(UnknownRight('1')));
        assert!(Rights::all().contains(Rights::parse("lrswi").unwrap()));
        assert!(
            !Rights::parse("lr")
                .unwrap()
                .contains(Rights::parse("li").unwrap())
        );
    }

    #[test]
    fn flags_need_their_own_rights() {
        let seen = Keyword::new("\\Seen").unwrap();
        let deleted = Keyword::new("\\Deleted").unwrap();
        let flagged = Keyword::new("\\Flagged").unwrap();
        let flags = [seen.clone(), deleted.clone(), flagged.clone()];
        let r = Rights::parse("lrs").unwrap();
        assert_eq!(r.allowed_flags(&flags), vec![seen]);
        let r = Rights::parse("lrtw").unwrap();
        assert_eq!(r.allowed_flags(&flags), vec![deleted, flagged]);
    }
}
