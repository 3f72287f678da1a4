//! The byte cursor and the grammar's primitives (RFC 9051 §9): atoms,
//! numbers, strings, literals, mailbox names, dates, sequence sets, flags.

use tidings_types::Keyword;

use crate::error::ParseErrorKind;
use crate::types::{
    Date, DateTime, MONTHS, SeqItem, SeqNumber, SequenceSet, is_astring_char, is_atom_char,
    is_list_char,
};
use crate::utf7;

/// How deep parenthesised search keys and body structures may nest. Deeper
/// input is refused rather than risk the stack.
pub(crate) const MAX_DEPTH: usize = 48;

pub(crate) type PResult<T> = Result<T, ParseErrorKind>;

/// A position in a complete command (or response) being parsed.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// UTF-8 mailbox names (IMAP4rev2 or UTF8=ACCEPT enabled).
    pub utf8: bool,
}

fn show(b: Option<u8>) -> String {
    match b {
        None => "end of input".to_string(),
        Some(b'\r') | Some(b'\n') => "end of line".to_string(),
        Some(b' ') => "space".to_string(),
        Some(b) if b.is_ascii_graphic() => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], utf8: bool) -> Self {
        Cursor { buf, pos: 0, utf8 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn peek_at(&self, off: usize) -> Option<u8> {
        self.buf.get(self.pos + off).copied()
    }

    /// Moves past `n` bytes already looked at with [`Cursor::rest`].
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// A syntax error: `what` was expected here.
    pub fn expected<T>(&self, what: &str) -> PResult<T> {
        Err(ParseErrorKind::Syntax(format!(
            "expected {what} at byte {}, found {}",
            self.pos,
            show(self.peek())
        )))
    }

    pub fn invalid<T>(&self, why: String) -> PResult<T> {
        Err(ParseErrorKind::Syntax(why))
    }

    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn byte(&mut self, b: u8, what: &str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            self.expected(what)
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.byte(b' ', "space")
    }

    /// Whether the input here is `word` (any case) not followed by another
    /// atom character; consumes it if so.
    pub fn eat_word(&mut self, word: &str) -> bool {
        let n = word.len();
        match self.buf.get(self.pos..self.pos + n) {
            Some(s) if s.eq_ignore_ascii_case(word.as_bytes()) => {
                if self.peek_at(n).is_some_and(is_atom_char) {
                    return false;
                }
                self.pos += n;
                true
            }
            _ => false,
        }
    }

    pub fn word(&mut self, word: &str) -> PResult<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            self.expected(word)
        }
    }

    /// Whether the line ends here (CRLF, or a bare LF, then nothing).
    pub fn at_end(&self) -> bool {
        matches!(self.rest(), b"\r\n" | b"\n" | b"")
    }

    /// The end of the command: CRLF (a bare LF is accepted) and nothing after.
    pub fn end(&mut self) -> PResult<()> {
        match self.rest() {
            b"\r\n" | b"\n" => {
                self.pos = self.buf.len();
                Ok(())
            }
            _ => self.expected("end of line"),
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// 1*ATOM-CHAR, as text.
    pub fn atom(&mut self) -> PResult<&'a str> {
        let s = self.take_while(is_atom_char);
        if s.is_empty() {
            return self.expected("an atom");
        }
        // ATOM-CHAR is ASCII, so this cannot fail.
        std::str::from_utf8(s).or_else(|_| self.expected("an atom"))
    }

    /// An atom, upper-cased.
    pub fn atom_upper(&mut self) -> PResult<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    /// A name made of letters, digits, `.`, `-` and `=` (command names, fetch
    /// attributes, search keys), upper-cased. Stops at `[`, `(`, space.
    pub fn name(&mut self) -> PResult<String> {
        let s = self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if s.is_empty() {
            return self.expected("a name");
        }
        Ok(String::from_utf8_lossy(s).to_ascii_uppercase())
    }

    fn digits(&mut self) -> PResult<&'a [u8]> {
        let s = self.take_while(|b| b.is_ascii_digit());
        if s.is_empty() {
            return self.expected("a number");
        }
        Ok(s)
    }

    /// RFC 9051 number64: 0 to 2^63-1.
    pub fn number64(&mut self) -> PResult<u64> {
        let start = self.pos;
        let d = self.digits()?;
        let mut n: u64 = 0;
        for &b in d {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| {
                    ParseErrorKind::Syntax(format!("number at byte {start} is too large"))
                })?;
        }
        Ok(n)
    }

    /// RFC 9051 number: 0 to 2^32-1.
    pub fn number(&mut self) -> PResult<u32> {
        let start = self.pos;
        let n = self.number64()?;
        u32::try_from(n)
            .map_err(|_| ParseErrorKind::Syntax(format!("number at byte {start} is too large")))
    }

    pub fn nz_number(&mut self) -> PResult<u32> {
        let start = self.pos;
        let n = self.number()?;
        if n == 0 {
            return Err(ParseErrorKind::Syntax(format!(
                "number at byte {start} must not be zero"
            )));
        }
        Ok(n)
    }

    /// RFC 9051 quoted: escapes `\"` and `\\` only; no CR or LF.
    pub fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.byte(b'"', "'\"'")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return self.expected("'\"' or '\\' after '\\' in a quoted string"),
                    }
                }
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return self.expected("the end of the quoted string");
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}` or `{n+}` then CRLF then n bytes (RFC 9051 §4.3, RFC 7888).
    pub fn literal(&mut self) -> PResult<Vec<u8>> {
        self.byte(b'{', "'{'")?;
        self.literal_rest()
    }

    /// `~{n}` (RFC 3516 §4.4 literal8).
    pub fn literal8(&mut self) -> PResult<Vec<u8>> {
        self.byte(b'~', "'~'")?;
        self.byte(b'{', "'{'")?;
        self.literal_rest()
    }

    fn literal_rest(&mut self) -> PResult<Vec<u8>> {
        let n = self.number64()?;
        self.eat(b'+');
        self.byte(b'}', "'}'")?;
        self.eat(b'\r');
        self.byte(b'\n', "end of line after a literal's size")?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        match self.rest().get(..n) {
            Some(data) => {
                self.pos += n;
                Ok(data.to_vec())
            }
            None => self.invalid(format!("literal of {n} bytes is cut short")),
        }
    }

    /// RFC 9051 string: quoted or literal.
    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => self.expected("a string"),
        }
    }

    /// RFC 9051 astring: 1*ASTRING-CHAR or string.
    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let s = self.take_while(is_astring_char);
                if s.is_empty() {
                    return self.expected("an atom or a string");
                }
                Ok(s.to_vec())
            }
        }
    }

    /// RFC 9051 nstring: NIL or string.
    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// Text that must be UTF-8.
    pub fn utf8(&self, bytes: Vec<u8>, what: &str) -> PResult<String> {
        String::from_utf8(bytes)
            .map_err(|_| ParseErrorKind::Syntax(format!("{what} is not valid UTF-8")))
    }

    pub fn astring_utf8(&mut self, what: &str) -> PResult<String> {
        let b = self.astring()?;
        self.utf8(b, what)
    }

    pub fn string_utf8(&mut self, what: &str) -> PResult<String> {
        let b = self.string()?;
        self.utf8(b, what)
    }

    /// Decodes a mailbox name: UTF-8 in UTF-8 mode, else modified UTF-7
    /// (RFC 9051 §5.1.3, RFC 6855 §3).
    pub fn decode_mailbox(&self, raw: Vec<u8>) -> PResult<String> {
        if self.utf8 {
            String::from_utf8(raw)
                .map_err(|_| ParseErrorKind::Syntax("mailbox name is not valid UTF-8".to_string()))
        } else {
            utf7::decode(&raw).map_err(ParseErrorKind::MailboxName)
        }
    }

    /// RFC 9051 mailbox, decoded.
    pub fn mailbox(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        self.decode_mailbox(raw)
    }

    /// RFC 9051 list-mailbox: 1*list-char or string, decoded.
    pub fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let s = self.take_while(is_list_char);
                if s.is_empty() {
                    return self.expected("a mailbox pattern");
                }
                s.to_vec()
            }
        };
        self.decode_mailbox(raw).map_err(|e| match e {
            ParseErrorKind::MailboxName(why) => ParseErrorKind::ListPattern(why),
            other => other,
        })
    }

    /// `( item *(SP item) )`, or `()` when `allow_empty`.
    pub fn paren_list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.byte(b'(', "'('")?;
        let mut out = Vec::new();
        if self.eat(b')') {
            if allow_empty {
                return Ok(out);
            }
            return self.invalid(format!("empty list at byte {}", self.pos - 1));
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.byte(b' ', "space or ')'")?;
        }
    }

    /// RFC 9051 flag: `\Seen` etc. or a keyword atom.
    pub fn flag(&mut self) -> PResult<Keyword> {
        let start = self.pos;
        let backslash = self.eat(b'\\');
        let a = self.atom()?;
        let text = if backslash {
            format!("\\{a}")
        } else {
            a.to_string()
        };
        Keyword::new(&text).map_err(|e| {
            ParseErrorKind::Syntax(format!("invalid flag {text:?} at byte {start}: {e}"))
        })
    }

    /// RFC 9051 flag-list, possibly empty.
    pub fn flag_list(&mut self) -> PResult<Vec<Keyword>> {
        self.paren_list(true, |c| c.flag())
    }

    fn seq_number(&mut self) -> PResult<SeqNumber> {
        if self.eat(b'*') {
            Ok(SeqNumber::Largest)
        } else {
            Ok(SeqNumber::Value(self.nz_number()?))
        }
    }

    /// RFC 9051 sequence-set, with `$` (RFC 5182 §2.1).
    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let mut items = Vec::new();
        loop {
            if self.eat(b'$') {
                items.push(SeqItem::Saved);
            } else {
                let a = self.seq_number()?;
                let b = if self.eat(b':') {
                    self.seq_number()?
                } else {
                    a
                };
                items.push(SeqItem::Range(a, b));
            }
            if !self.eat(b',') {
                break;
            }
        }
        SequenceSet::new(items).map_or_else(|| self.expected("a sequence set"), Ok)
    }

    fn month(&mut self) -> PResult<u8> {
        match self.rest().get(..3) {
            Some(m) => match MONTHS
                .iter()
                .position(|x| x.as_bytes().eq_ignore_ascii_case(m))
            {
                Some(i) => {
                    self.pos += 3;
                    Ok(i as u8 + 1)
                }
                None => self.expected("a month (Jan..Dec)"),
            },
            None => self.expected("a month (Jan..Dec)"),
        }
    }

    fn fixed_digits(&mut self, n: usize, what: &str) -> PResult<u32> {
        match self.rest().get(..n) {
            Some(d) if d.iter().all(u8::is_ascii_digit) => {
                self.pos += n;
                Ok(d.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
            }
            _ => self.expected(what),
        }
    }

    fn date_text(&mut self) -> PResult<Date> {
        let start = self.pos;
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 2 {
            return self.invalid(format!("expected a day of 1 or 2 digits at byte {start}"));
        }
        let day = d.iter().fold(0u8, |acc, b| acc * 10 + (b - b'0'));
        self.byte(b'-', "'-'")?;
        let month = self.month()?;
        self.byte(b'-', "'-'")?;
        let year = self.fixed_digits(4, "a 4-digit year")? as u16;
        Date::new(year, month, day)
            .map_or_else(|| self.invalid(format!("no such date at byte {start}")), Ok)
    }

    /// RFC 9051 date: date-text, optionally quoted.
    pub fn date(&mut self) -> PResult<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.byte(b'"', "'\"'")?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    /// RFC 9051 date-time: `"17-Jul-1996 02:44:25 -0700"` (the day may be
    /// padded with a space or not).
    pub fn date_time(&mut self) -> PResult<DateTime> {
        let start = self.pos;
        self.byte(b'"', "'\"' starting a date-time")?;
        self.eat(b' ');
        let date = self.date_text()?;
        self.sp()?;
        let hour = self.fixed_digits(2, "2-digit hours")?;
        self.byte(b':', "':'")?;
        let minute = self.fixed_digits(2, "2-digit minutes")?;
        self.byte(b':', "':'")?;
        let second = self.fixed_digits(2, "2-digit seconds")?;
        self.sp()?;
        let sign: i16 = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return self.expected("'+' or '-' starting a zone"),
        };
        self.pos += 1;
        let zh = self.fixed_digits(2, "a 4-digit zone")? as i16;
        let zm = self.fixed_digits(2, "a 4-digit zone")? as i16;
        self.byte(b'"', "'\"' ending a date-time")?;
        DateTime::new(
            date,
            hour as u8,
            minute as u8,
            second as u8,
            sign * (zh * 60 + zm),
        )
        .map_or_else(
            || self.invalid(format!("no such date-time at byte {start}")),
            Ok,
        )
    }

    /// A `\`-prefixed atom such as a special-use attribute, or a plain atom.
    pub fn flag_like(&mut self) -> PResult<String> {
        let bs = self.eat(b'\\');
        let a = self.atom()?;
        Ok(if bs { format!("\\{a}") } else { a.to_string() })
    }
}
