//! WBXML 1.3 (W3C NOTE-wbxml-19990624) as MS-ASWBXML profiles it: the
//! decoder and the encoder.
//!
//! Implementation notes:
//! - The decoder is one loop over the bytes with an explicit stack of open
//!   elements: depth is bounded by [`Limits::max_depth`], never by the
//!   call stack. Every length a peer states (opaque data, the string
//!   table) is checked against its limit and against the bytes left before
//!   anything is allocated.
//! - Accepted: `SWITCH_PAGE`, `END`, `ENTITY`, `STR_I`, `STR_T` (the
//!   string table, §5.7), `OPAQUE`, tags with and without content, any
//!   public identifier, UTF-8 (MIBenum 106) or an unstated charset.
//!   Refused (ActiveSync never sends them, §2.1.2.1 of MS-ASWBXML):
//!   attributes, literal tag names, processing instructions and the
//!   `EXT_*` tokens.
//! - The encoder writes WBXML 1.3, public identifier 1 (unknown), UTF-8,
//!   an empty string table, inline strings and opaque data, as Exchange
//!   does. A NUL inside text (which `STR_I` cannot carry) goes as the
//!   entity `&#0;`, so that decode(encode(tree)) is the tree.

use crate::codepage::{CodePage, Tag};
use crate::tree::{Element, Node};

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const EXT_I_0: u8 = 0x40;
const EXT_I_2: u8 = 0x42;
const PI: u8 = 0x43;
const LITERAL_C: u8 = 0x44;
const EXT_T_0: u8 = 0x80;
const EXT_T_2: u8 = 0x82;
const STR_T: u8 = 0x83;
const LITERAL_A: u8 = 0x84;
const EXT_0: u8 = 0xC0;
const EXT_2: u8 = 0xC2;
const OPAQUE: u8 = 0xC3;
const LITERAL_AC: u8 = 0xC4;

/// UTF-8's IANA MIBenum.
const UTF8: u32 = 106;

/// What a document may cost before it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole document, in bytes.
    pub max_size: usize,
    /// Open elements at once.
    pub max_depth: usize,
    /// Elements in the document.
    pub max_elements: usize,
    /// One opaque value, in bytes.
    pub max_opaque: usize,
    /// The string table, in bytes.
    pub max_string_table: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 64 * 1024 * 1024,
            max_depth: 32,
            max_elements: 100_000,
            max_opaque: 64 * 1024 * 1024,
            max_string_table: 64 * 1024,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the document ends early")]
    Truncated,
    #[error("WBXML version {0:#04x} is not supported")]
    Version(u8),
    #[error("charset {0} is not supported (only UTF-8)")]
    Charset(u32),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("elements nest deeper than {0}")]
    TooDeep(usize),
    #[error("the document has more than {0} elements")]
    TooManyElements(usize),
    #[error("opaque data of {len} bytes is over the limit of {limit}")]
    OpaqueTooLarge { len: u64, limit: usize },
    #[error("a string table of {len} bytes is over the limit of {limit}")]
    StringTableTooLarge { len: u64, limit: usize },
    #[error("unknown code page {0}")]
    UnknownPage(u8),
    #[error("unknown tag {0}")]
    UnknownTag(Tag),
    #[error("{0} are not used by ActiveSync")]
    Unsupported(&'static str),
    #[error("text is not UTF-8")]
    NotUtf8,
    #[error("invalid WBXML: {0}")]
    Invalid(&'static str),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.data.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// A `mb_u_int32` (§5.1): at most five bytes, the value fits 32 bits.
    fn mb_u_int32(&mut self) -> Result<u32, DecodeError> {
        let mut value: u64 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            value = (value << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return u32::try_from(value)
                    .map_err(|_| DecodeError::Invalid("integer over 32 bits"));
            }
        }
        Err(DecodeError::Invalid("integer longer than five bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(len).ok_or(DecodeError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// A NUL-terminated string, without the NUL.
    fn c_string(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }
}

/// Decodes a document into its root element.
pub fn decode(data: &[u8], limits: &Limits) -> Result<Element, DecodeError> {
    if data.len() > limits.max_size {
        return Err(DecodeError::TooLarge(limits.max_size));
    }
    let mut r = Reader { data, pos: 0 };
    let version = r.byte()?;
    if !(0x01..=0x03).contains(&version) {
        return Err(DecodeError::Version(version));
    }
    // §5.5: a public identifier of 0 is followed by a string table index.
    if r.mb_u_int32()? == 0 {
        r.mb_u_int32()?;
    }
    let charset = r.mb_u_int32()?;
    if charset != UTF8 && charset != 0 {
        return Err(DecodeError::Charset(charset));
    }
    let table_len = r.mb_u_int32()?;
    if u64::from(table_len) > limits.max_string_table as u64 {
        return Err(DecodeError::StringTableTooLarge {
            len: table_len.into(),
            limit: limits.max_string_table,
        });
    }
    let table = r.take(table_len as usize)?;

    let mut page = 0u8;
    let mut stack: Vec<Element> = Vec::new();
    let mut elements = 0usize;
    loop {
        let b = r.byte()?;
        match b {
            SWITCH_PAGE => {
                page = r.byte()?;
                if CodePage::by_number(page).is_none() {
                    return Err(DecodeError::UnknownPage(page));
                }
            }
            END => {
                let done = stack
                    .pop()
                    .ok_or(DecodeError::Invalid("END outside an element"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => return finish(&r, done),
                }
            }
            ENTITY => {
                let code = r.mb_u_int32()?;
                let c =
                    char::from_u32(code).ok_or(DecodeError::Invalid("entity is no character"))?;
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            STR_I => {
                let s = std::str::from_utf8(r.c_string()?).map_err(|_| DecodeError::NotUtf8)?;
                push_text(&mut stack, s)?;
            }
            STR_T => {
                let index = r.mb_u_int32()? as usize;
                let rest = table
                    .get(index..)
                    .ok_or(DecodeError::Invalid("string table index out of range"))?;
                let n = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(DecodeError::Invalid(
                        "unterminated string in the string table",
                    ))?;
                let s = std::str::from_utf8(&rest[..n]).map_err(|_| DecodeError::NotUtf8)?;
                push_text(&mut stack, s)?;
            }
            OPAQUE => {
                let len = r.mb_u_int32()?;
                if u64::from(len) > limits.max_opaque as u64 {
                    return Err(DecodeError::OpaqueTooLarge {
                        len: len.into(),
                        limit: limits.max_opaque,
                    });
                }
                let bytes = r.take(len as usize)?;
                let top = stack
                    .last_mut()
                    .ok_or(DecodeError::Invalid("content outside the root element"))?;
                top.children.push(Node::Opaque(bytes.to_vec()));
            }
            LITERAL | LITERAL_A | LITERAL_C | LITERAL_AC => {
                return Err(DecodeError::Unsupported("literal tag names"));
            }
            PI => return Err(DecodeError::Unsupported("processing instructions")),
            EXT_I_0..=EXT_I_2 | EXT_T_0..=EXT_T_2 | EXT_0..=EXT_2 => {
                return Err(DecodeError::Unsupported("extension tokens"));
            }
            _ => {
                if b & 0x80 != 0 {
                    return Err(DecodeError::Unsupported("attributes"));
                }
                let tag = Tag {
                    page,
                    token: b & 0x3F,
                };
                if tag.name().is_none() {
                    return Err(DecodeError::UnknownTag(tag));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(DecodeError::TooManyElements(limits.max_elements));
                }
                let element = Element::new(tag);
                if b & 0x40 != 0 {
                    if stack.len() >= limits.max_depth {
                        return Err(DecodeError::TooDeep(limits.max_depth));
                    }
                    stack.push(element);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(element)),
                        None => return finish(&r, element),
                    }
                }
            }
        }
    }
}

/// The root element is complete: nothing may follow it.
fn finish(r: &Reader<'_>, root: Element) -> Result<Element, DecodeError> {
    if r.pos != r.data.len() {
        return Err(DecodeError::Invalid("data after the root element"));
    }
    Ok(root)
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), DecodeError> {
    let top = stack
        .last_mut()
        .ok_or(DecodeError::Invalid("content outside the root element"))?;
    match top.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(s),
        _ => top.children.push(Node::Text(s.to_string())),
    }
    Ok(())
}

/// Encodes a document.
pub fn encode(root: &Element) -> Vec<u8> {
    let mut out = vec![0x03, 0x01, UTF8 as u8, 0x00];
    let mut page = 0u8;
    encode_element(root, &mut out, &mut page);
    out
}

fn encode_element(e: &Element, out: &mut Vec<u8>, page: &mut u8) {
    if e.tag.page != *page {
        out.push(SWITCH_PAGE);
        out.push(e.tag.page);
        *page = e.tag.page;
    }
    let content = !e.children.is_empty();
    out.push((e.tag.token & 0x3F) | if content { 0x40 } else { 0 });
    if !content {
        return;
    }
    for n in &e.children {
        match n {
            Node::Element(child) => encode_element(child, out, page),
            Node::Text(t) => {
                let mut pieces = t.split('\0').peekable();
                while let Some(piece) = pieces.next() {
                    if !piece.is_empty() || t.is_empty() {
                        out.push(STR_I);
                        out.extend_from_slice(piece.as_bytes());
                        out.push(0);
                    }
                    if pieces.peek().is_some() {
                        out.push(ENTITY);
                        out.push(0);
                    }
                }
            }
            Node::Opaque(b) => {
                out.push(OPAQUE);
                put_mb_u_int32(out, u32::try_from(b.len()).unwrap_or(u32::MAX));
                out.extend_from_slice(&b[..b.len().min(u32::MAX as usize)]);
            }
        }
    }
    out.push(END);
}

fn put_mb_u_int32(out: &mut Vec<u8>, mut n: u32) {
    let mut buf = [0u8; 5];
    let mut i = buf.len() - 1;
    buf[i] = (n & 0x7F) as u8;
    n >>= 7;
    while n > 0 {
        i -= 1;
        buf[i] = (n & 0x7F) as u8 | 0x80;
        n >>= 7;
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::{AirSync, AirSyncBase, ComposeMail, FolderHierarchy};

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn folder_sync_request_of_ms_ascmd() {
        // MS-ASCMD §4.5.1: <FolderSync xmlns="FolderHierarchy:"><SyncKey>0</SyncKey></FolderSync>
        let bytes = [
            0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, b'0', 0x00, 0x01, 0x01,
        ];
        let e = decode(&bytes, &limits()).unwrap();
        assert_eq!(e.tag, FolderHierarchy::FolderSync);
        assert_eq!(e.child_text(FolderHierarchy::SyncKey).as_deref(), Some("0"));
        assert_eq!(encode(&e), bytes);
    }

    #[test]
    fn string_table_entities_and_opaque() {
        // Two SyncKeys by STR_T, an entity inside a string, opaque MIME.
        let mut b = vec![0x03, 0x01, 0x6A, 0x04, b'a', 0, b'b', 0];
        b.extend([
            0x45, 0x5C, 0x4F, 0x4B, 0x83, 0x02, 0x01, 0x4D, 0x03, b'x', 0, 0x02, 0x81, 0x00, 0x01,
        ]);
        b.extend([
            0x00, 0x15, 0x50, 0xC3, 0x03, 1, 2, 3, 0x01, 0x01, 0x01, 0x01,
        ]);
        let e = decode(&b, &limits()).unwrap();
        let coll = e
            .child(AirSync::Collections)
            .unwrap()
            .child(AirSync::Collection)
            .unwrap();
        assert_eq!(coll.child_text(AirSync::SyncKey).as_deref(), Some("b"));
        assert_eq!(
            coll.child_text(AirSync::ServerId).as_deref(),
            Some("x\u{80}")
        );
        assert_eq!(
            coll.child(ComposeMail::Mime).unwrap().bytes(),
            Some(vec![1, 2, 3])
        );
        assert_eq!(decode(&encode(&e), &limits()).unwrap(), e);
    }

    #[test]
    fn nul_in_text_round_trips() {
        let e = Element::text(AirSync::ServerId, "a\0b\0");
        let bytes = encode(&e);
        assert_eq!(decode(&bytes, &limits()).unwrap(), e);
        let empty = Element::text(AirSync::ServerId, "");
        assert_eq!(decode(&encode(&empty), &limits()).unwrap(), empty);
    }

    #[test]
    fn multi_byte_integers() {
        let mut out = Vec::new();
        put_mb_u_int32(&mut out, 0xA0);
        assert_eq!(out, [0x81, 0x20]);
        let e = Element::opaque(AirSyncBase::Data, vec![7; 20_000]);
        assert_eq!(decode(&encode(&e), &limits()).unwrap(), e);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let ok = encode(&Element::new(AirSync::Sync).with_text(AirSync::SyncKey, "1"));
        for cut in 0..ok.len() {
            assert!(decode(&ok[..cut], &limits()).is_err(), "cut at {cut}");
        }
        let mut trailing = ok.clone();
        trailing.push(0x01);
        assert_eq!(
            decode(&trailing, &limits()),
            Err(DecodeError::Invalid("data after the root element"))
        );
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0, 99, 0x05], &limits()),
            Err(DecodeError::UnknownPage(99))
        );
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x3F], &limits()),
            Err(DecodeError::UnknownTag(Tag {
                page: 0,
                token: 0x3F
            }))
        );
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x85, 0x01], &limits()),
            Err(DecodeError::Unsupported("attributes"))
        );
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x04, 0], &limits()),
            Err(DecodeError::Unsupported("literal tag names"))
        );
        assert_eq!(
            decode(&[9, 1, 0x6A, 0], &limits()),
            Err(DecodeError::Version(9))
        );
        assert_eq!(
            decode(&[3, 1, 4, 0], &limits()),
            Err(DecodeError::Charset(4))
        );
        // Opaque length far beyond the bytes there: refused before allocating.
        let huge = [3, 1, 0x6A, 0, 0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(matches!(
            decode(&huge, &limits()),
            Err(DecodeError::OpaqueTooLarge { .. })
        ));
        let small = Limits {
            max_opaque: 1 << 30,
            ..limits()
        };
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x45, 0xC3, 0x84, 0x00, 1], &small),
            Err(DecodeError::Truncated)
        );
        // Deep nesting stops at the limit.
        let mut deep = vec![3, 1, 0x6A, 0];
        deep.extend(std::iter::repeat_n(0x45, 1000));
        assert_eq!(decode(&deep, &limits()), Err(DecodeError::TooDeep(32)));
        let tiny = Limits {
            max_size: 3,
            ..limits()
        };
        assert_eq!(decode(&ok, &tiny), Err(DecodeError::TooLarge(3)));
        let few = Limits {
            max_elements: 1,
            ..limits()
        };
        assert_eq!(decode(&ok, &few), Err(DecodeError::TooManyElements(1)));
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x03, b'a', 0], &limits()),
            Err(DecodeError::Invalid("content outside the root element"))
        );
        assert_eq!(
            decode(&[3, 1, 0x6A, 0, 0x45, 0x03, 0xFF, 0, 1], &limits()),
            Err(DecodeError::NotUtf8)
        );
    }
}
