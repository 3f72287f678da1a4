//! Writing the grammar's primitives: atoms, quoted strings, literals,
//! mailbox names (RFC 9051 §4.3, §5.1.3).

use std::fmt;

use crate::types::{Section, SectionText, is_astring_char, is_atom_char};
use crate::utf7;

/// How literals are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiteralSyntax {
    /// `{n}`: what a server sends, and a client's synchronizing literal.
    Sync,
    /// `{n+}` (RFC 7888 LITERAL+), for a client.
    NonSync,
}

/// Where bytes go, and how strings are written there.
pub(crate) struct Writer<'a> {
    pub out: &'a mut Vec<u8>,
    /// UTF-8 allowed in quoted strings and mailbox names.
    pub utf8: bool,
    pub literal: LiteralSyntax,
    /// Where each synchronizing literal's data starts in `out`.
    pub sync_points: Vec<usize>,
}

/// Whether `b` can be sent as a quoted string: no NUL, CR, LF; 8-bit only
/// as UTF-8 and only when `utf8` (RFC 9051 §9 QUOTED-CHAR, RFC 6855 §3).
pub(crate) fn quotable(b: &[u8], utf8: bool) -> bool {
    if b.iter().any(|&c| matches!(c, 0 | b'\r' | b'\n')) {
        return false;
    }
    if b.is_ascii() {
        return true;
    }
    utf8 && std::str::from_utf8(b).is_ok()
}

impl Writer<'_> {
    pub fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Formatted text, written in place (no allocation).
    pub fn fmt(&mut self, args: fmt::Arguments<'_>) {
        use std::io::Write as _;
        // Writing to a Vec cannot fail.
        let _ = self.out.write_fmt(args);
    }

    pub fn num(&mut self, n: impl fmt::Display) {
        self.fmt(format_args!("{n}"));
    }

    pub fn sp(&mut self) {
        self.out.push(b' ');
    }

    pub fn quoted(&mut self, b: &[u8]) {
        self.out.push(b'"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(c);
        }
        self.out.push(b'"');
    }

    pub fn literal(&mut self, b: &[u8]) {
        let plus = if self.literal == LiteralSyntax::NonSync {
            "+"
        } else {
            ""
        };
        self.fmt(format_args!("{{{}{plus}}}\r\n", b.len()));
        if self.literal == LiteralSyntax::Sync {
            self.sync_points.push(self.out.len());
        }
        self.raw(b);
    }

    /// `~{n}` (RFC 3516 literal8).
    pub fn literal8(&mut self, b: &[u8]) {
        self.out.push(b'~');
        self.literal(b);
    }

    /// A string: quoted when it can be, else a literal.
    pub fn string(&mut self, b: &[u8]) {
        if quotable(b, self.utf8) && b.len() < 1024 {
            self.quoted(b);
        } else {
            self.literal(b);
        }
    }

    /// An astring: an atom when it can be, else a string.
    pub fn astring(&mut self, b: &[u8]) {
        if !b.is_empty() && b.iter().all(|&c| is_astring_char(c)) && !b.eq_ignore_ascii_case(b"NIL")
        {
            self.raw(b);
        } else {
            self.string(b);
        }
    }

    pub fn nstring(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.string(b),
            None => self.str("NIL"),
        }
    }

    /// A mailbox name: modified UTF-7 unless UTF-8 is enabled.
    pub fn mailbox(&mut self, name: &str) {
        if self.utf8 {
            self.astring(name.as_bytes());
        } else {
            self.astring(utf7::encode(name).as_bytes());
        }
    }

    /// A LIST pattern: like a mailbox name, but `%` and `*` stay bare.
    pub fn list_mailbox(&mut self, pattern: &str) {
        let enc = if self.utf8 {
            pattern.to_string()
        } else {
            utf7::encode(pattern)
        };
        let b = enc.as_bytes();
        if !b.is_empty()
            && b.iter()
                .all(|&c| is_astring_char(c) || c == b'%' || c == b'*')
        {
            self.raw(b);
        } else {
            self.string(b);
        }
    }

    /// `(a b c)` with `f` writing each item.
    pub fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push(b'(');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.sp();
            }
            f(self, item);
        }
        self.out.push(b')');
    }

    /// A body section without brackets, field names as astrings.
    pub fn section(&mut self, s: &Section) {
        let parts: Vec<String> = s.part.iter().map(u32::to_string).collect();
        self.str(&parts.join("."));
        if let Some(t) = &s.text {
            if !s.part.is_empty() {
                self.str(".");
            }
            match t {
                SectionText::Header => self.str("HEADER"),
                SectionText::Text => self.str("TEXT"),
                SectionText::Mime => self.str("MIME"),
                SectionText::HeaderFields { not, fields } => {
                    self.str(if *not {
                        "HEADER.FIELDS.NOT "
                    } else {
                        "HEADER.FIELDS "
                    });
                    self.list(fields, |w, f| w.astring(f.as_bytes()));
                }
            }
        }
    }
}

/// Writes an astring to a formatter; what cannot be an atom is quoted (a
/// formatter cannot hold a literal, so CR and LF are dropped).
pub(crate) fn write_astring_fmt(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if !s.is_empty() && s.bytes().all(is_atom_char) {
        return f.write_str(s);
    }
    f.write_str("\"")?;
    for c in s.chars().filter(|&c| c != '\r' && c != '\n') {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}
