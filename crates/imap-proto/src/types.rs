//! Values shared by commands and responses: tags, sequence sets, dates,
//! body sections.

use std::fmt;

use thiserror::Error;
use tidings_types::civil::{civil_from_days, days_from_civil};

/// A command tag (RFC 9051 §2.2.1): one or more ASTRING-CHAR except `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag(String);

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "a tag is one or more printable ASCII characters other than space, '+', '(', ')', '{{', '%', '*', '\"' and '\\'"
)]
pub struct TagError;

impl Tag {
    /// Validates a tag. RFC 9051 §9: `tag = 1*<any ASTRING-CHAR except "+">`.
    pub fn new(s: &str) -> Result<Self, TagError> {
        if !s.is_empty() && s.bytes().all(|b| is_astring_char(b) && b != b'+') {
            Ok(Tag(s.to_string()))
        } else {
            Err(TagError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 9051 §9 ATOM-CHAR: any CHAR except atom-specials.
pub(crate) fn is_atom_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// RFC 9051 §9 ASTRING-CHAR: ATOM-CHAR or resp-specials (`]`).
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// RFC 9051 §9 list-char: ATOM-CHAR, list-wildcards or resp-specials.
pub(crate) fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// One end of a sequence range: a number, or `*` (the largest in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    /// A non-zero message sequence number or UID.
    Value(u32),
    /// `*`: the largest number in use (RFC 9051 §9 seq-number).
    Largest,
}

impl SeqNumber {
    /// The number, with `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n,
            SeqNumber::Largest => largest,
        }
    }
}

/// One element of a sequence set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqItem {
    /// `n`, `*`, `a:b` (either order; a single number is a range with
    /// equal ends).
    Range(SeqNumber, SeqNumber),
    /// `$`: the result saved by an earlier `SEARCH RETURN (SAVE)`
    /// (RFC 5182 §2.1).
    Saved,
}

/// A sequence set (RFC 9051 §9 sequence-set) of sequence numbers or UIDs,
/// as the client wrote it. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SequenceSet(Vec<SeqItem>);

impl SequenceSet {
    /// A set from its items; `None` if there are none.
    pub fn new(items: Vec<SeqItem>) -> Option<Self> {
        if items.is_empty() {
            None
        } else {
            Some(SequenceSet(items))
        }
    }

    /// A single number.
    pub fn single(n: u32) -> Self {
        SequenceSet(vec![SeqItem::Range(
            SeqNumber::Value(n),
            SeqNumber::Value(n),
        )])
    }

    /// `a:b`.
    pub fn range(a: SeqNumber, b: SeqNumber) -> Self {
        SequenceSet(vec![SeqItem::Range(a, b)])
    }

    /// `$` (RFC 5182).
    pub fn saved() -> Self {
        SequenceSet(vec![SeqItem::Saved])
    }

    /// The shortest set holding exactly `numbers` (zeros are ignored), for
    /// responses: `VANISHED`, `COPYUID`, `APPENDUID`, ESEARCH `ALL`
    /// (RFC 9051 §7.1 uid-set, RFC 7162 §3.2.10). `None` if nothing is left.
    pub fn compact(numbers: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut v: Vec<u32> = numbers.into_iter().filter(|&n| n != 0).collect();
        v.sort_unstable();
        v.dedup();
        let mut items = Vec::new();
        let mut iter = v.into_iter();
        let mut cur = iter.next()?;
        let mut start = cur;
        for n in iter {
            if n != cur + 1 {
                items.push(SeqItem::Range(
                    SeqNumber::Value(start),
                    SeqNumber::Value(cur),
                ));
                start = n;
            }
            cur = n;
        }
        items.push(SeqItem::Range(
            SeqNumber::Value(start),
            SeqNumber::Value(cur),
        ));
        Some(SequenceSet(items))
    }

    /// `numbers` in their given order (zeros are ignored), a run of
    /// consecutive ascending numbers written as a range: ESORT's `ALL`,
    /// which is in sort order (RFC 5267 §3.1: a range only where the
    /// numbers follow each other in that order). `None` if nothing is left.
    pub fn in_order(numbers: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut items: Vec<SeqItem> = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        for n in numbers.into_iter().filter(|&n| n != 0) {
            run = match run {
                Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
                Some((a, b)) => {
                    items.push(SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b)));
                    Some((n, n))
                }
                None => Some((n, n)),
            };
        }
        let (a, b) = run?;
        items.push(SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b)));
        Some(SequenceSet(items))
    }

    pub fn items(&self) -> &[SeqItem] {
        &self.0
    }

    /// Whether the set uses `$`.
    pub fn uses_saved(&self) -> bool {
        self.0.iter().any(|i| matches!(i, SeqItem::Saved))
    }

    /// Whether the set uses `*`.
    pub fn uses_largest(&self) -> bool {
        self.0.iter().any(|i| {
            matches!(i, SeqItem::Range(a, b) if *a == SeqNumber::Largest || *b == SeqNumber::Largest)
        })
    }

    /// The set as sorted, merged, inclusive ranges, with `*` standing for
    /// `largest` and `$` for `saved` (whose ranges must be inclusive pairs).
    /// RFC 9051 §9: `a:b` and `b:a` are the same range. Ranges are not
    /// clipped: the caller decides what numbers beyond `largest` mean.
    pub fn ranges(&self, largest: u32, saved: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for item in &self.0 {
            match *item {
                SeqItem::Range(a, b) => {
                    let (a, b) = (a.resolve(largest), b.resolve(largest));
                    v.push((a.min(b), a.max(b)));
                }
                SeqItem::Saved => v.extend(saved.iter().map(|&(a, b)| (a.min(b), a.max(b)))),
            }
        }
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Whether `n` is in the set (see [`SequenceSet::ranges`]).
    pub fn contains(&self, n: u32, largest: u32, saved: &[(u32, u32)]) -> bool {
        self.0.iter().any(|item| match *item {
            SeqItem::Range(a, b) => {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                (a.min(b)..=a.max(b)).contains(&n)
            }
            SeqItem::Saved => saved
                .iter()
                .any(|&(a, b)| (a.min(b)..=a.max(b)).contains(&n)),
        })
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match item {
                SeqItem::Saved => f.write_str("$")?,
                SeqItem::Range(a, b) => {
                    write!(f, "{a}")?;
                    if a != b {
                        write!(f, ":{b}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => write!(f, "{n}"),
            SeqNumber::Largest => f.write_str("*"),
        }
    }
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date as SEARCH takes it (RFC 9051 §9 date: `1-Feb-1994`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the month's length.
    pub day: u8,
}

impl Date {
    /// A valid date of years 1 to 9999; `None` otherwise.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let len = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1..=9999).contains(&year) && (1..=len).contains(&day)).then_some(Date {
            year,
            month,
            day,
        })
    }
}

impl fmt::Display for Date {
    /// The RFC 9051 `date-text` form, `1-Feb-1994`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS
            .get(usize::from(self.month).wrapping_sub(1))
            .unwrap_or(&"Jan");
        write!(f, "{}-{}-{:04}", self.day, m, self.year)
    }
}

/// A date and time with its zone, as INTERNALDATE and APPEND use it
/// (RFC 9051 §9 date-time: `"17-Jul-1996 02:44:25 -0700"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset east of UTC in minutes, -5999..=5999 (`-0700` is -420).
    pub zone_minutes: i16,
}

impl DateTime {
    /// A valid date-time; `None` otherwise.
    pub fn new(date: Date, hour: u8, minute: u8, second: u8, zone_minutes: i16) -> Option<Self> {
        (hour < 24 && minute < 60 && second < 61 && zone_minutes.abs() <= 99 * 60 + 59).then_some(
            DateTime {
                date,
                hour,
                minute,
                second,
                zone_minutes,
            },
        )
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    pub fn unix_timestamp(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.date.year),
            i64::from(self.date.month),
            i64::from(self.date.day),
        );
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }

    /// The UTC date-time of a Unix timestamp, for years 1 to 9999.
    pub fn from_unix_timestamp(ts: i64) -> Option<Self> {
        let days = ts.div_euclid(86_400);
        let secs = ts.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let date = Date::new(u16::try_from(y).ok()?, m as u8, d as u8)?;
        DateTime::new(
            date,
            (secs / 3600) as u8,
            (secs / 60 % 60) as u8,
            (secs % 60) as u8,
            0,
        )
    }
}

impl fmt::Display for DateTime {
    /// The RFC 9051 `date-time` form without its quotes,
    /// ` 1-Jul-1996 02:44:25 -0700` (the day is padded with a space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS
            .get(usize::from(self.date.month).wrapping_sub(1))
            .unwrap_or(&"Jan");
        let sign = if self.zone_minutes < 0 { '-' } else { '+' };
        let z = self.zone_minutes.unsigned_abs();
        write!(
            f,
            "{:>2}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            m,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            z / 60,
            z % 60
        )
    }
}

/// The text part of a body section (RFC 9051 §6.4.5 section-msgtext,
/// section-text).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (..)`, or `HEADER.FIELDS.NOT (..)` when `not`.
    /// Field names as the client wrote them.
    HeaderFields { not: bool, fields: Vec<String> },
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// A body section specifier: `BODY[1.2.HEADER]` is part `[1, 2]` with text
/// `Header`; `BODY[]` is the whole message (RFC 9051 §6.4.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Section {
    /// Part numbers, outermost first, each non-zero.
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

impl fmt::Display for Section {
    /// The specifier without brackets, e.g. `1.2.HEADER.FIELDS (DATE FROM)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.part.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        if let Some(t) = &self.text {
            if !self.part.is_empty() {
                f.write_str(".")?;
            }
            match t {
                SectionText::Header => f.write_str("HEADER")?,
                SectionText::Text => f.write_str("TEXT")?,
                SectionText::Mime => f.write_str("MIME")?,
                SectionText::HeaderFields { not, fields } => {
                    f.write_str(if *not {
                        "HEADER.FIELDS.NOT ("
                    } else {
                        "HEADER.FIELDS ("
                    })?;
                    for (i, h) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" ")?;
                        }
                        crate::encode::write_astring_fmt(f, h)?;
                    }
                    f.write_str(")")?;
                }
            }
        }
        Ok(())
    }
}

/// `<origin.count>` of a partial FETCH (RFC 9051 §6.4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Partial {
    pub origin: u32,
    /// Non-zero.
    pub count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_sets() {
        let s = SequenceSet::compact([5, 1, 2, 3, 9, 10, 3, 0]).unwrap();
        assert_eq!(s.to_string(), "1:3,5,9:10");
        assert!(SequenceSet::compact([]).is_none());
    }

    #[test]
    fn ranges_merge_and_resolve() {
        let s = SequenceSet::new(vec![
            SeqItem::Range(SeqNumber::Value(7), SeqNumber::Value(4)),
            SeqItem::Range(SeqNumber::Largest, SeqNumber::Value(9)),
            SeqItem::Saved,
        ])
        .unwrap();
        assert_eq!(s.ranges(12, &[(1, 2)]), vec![(1, 2), (4, 7), (9, 12)]);
        assert!(s.contains(10, 12, &[]));
        assert!(!s.contains(8, 12, &[]));
        assert_eq!(s.to_string(), "7:4,*:9,$");
    }

    #[test]
    fn dates() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2000, 13, 1).is_none());
        let dt = DateTime::new(Date::new(1996, 7, 17).unwrap(), 2, 44, 25, -420).unwrap();
        assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(dt.unix_timestamp(), 837_596_665);
        let utc = DateTime::from_unix_timestamp(837_596_665).unwrap();
        assert_eq!(utc.to_string(), "17-Jul-1996 09:44:25 +0000");
        let d = DateTime::new(Date::new(1994, 2, 1).unwrap(), 0, 0, 0, 0).unwrap();
        assert_eq!(d.to_string(), " 1-Feb-1994 00:00:00 +0000");
    }
}
