//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3, RFC 9051 §5.1.3).
//!
//! IMAP4rev1 clients that have not enabled `UTF8=ACCEPT` send and expect
//! mailbox names in this form: printable US-ASCII stands for itself, `&` is
//! written `&-`, and every other run of characters is `&`, the UTF-16BE bytes
//! in base64 with `,` for `/` and no padding, then `-`.
//!
//! Decoding is strict, so that a name has exactly one spelling and
//! `encode(decode(s)) == s` for every accepted `s`: a shifted run must not
//! encode printable ASCII, two shifted runs must not follow each other, and
//! the unused bits at the end of a run must be zero.

use thiserror::Error;

/// Why a mailbox name is not valid modified UTF-7. Each message is fit for a
/// `BAD` response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Utf7Error {
    #[error("byte 0x{0:02x} is not allowed in a modified UTF-7 mailbox name")]
    BadByte(u8),
    #[error("'&' starts a modified UTF-7 sequence that is not closed with '-'")]
    Unterminated,
    #[error("character '{0}' is not modified base64")]
    BadBase64(char),
    #[error("modified UTF-7 sequence has a partial UTF-16 unit or non-zero padding bits")]
    BadPadding,
    #[error("modified UTF-7 sequence holds an invalid UTF-16 surrogate")]
    BadSurrogate,
    #[error("modified UTF-7 sequence encodes printable ASCII, which must be sent as itself")]
    NotCanonical,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Decodes a modified UTF-7 mailbox name to UTF-8.
pub fn decode(input: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut last_run_end: Option<usize> = None;
    while i < input.len() {
        let b = input[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(Utf7Error::BadByte(b));
            }
            out.push(b as char);
            i += 1;
            continue;
        }
        // b == '&'
        let start = i + 1;
        let end = input[start..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| start + p)
            .ok_or(Utf7Error::Unterminated)?;
        if end == start {
            out.push('&');
            i = end + 1;
            continue;
        }
        if last_run_end == Some(i) {
            // Two shifted runs back to back must be one run.
            return Err(Utf7Error::NotCanonical);
        }
        let mut units = Vec::new();
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for &c in &input[start..end] {
            let v = b64_value(c).ok_or(Utf7Error::BadBase64(c as char))?;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        if bits >= 6 || acc != 0 {
            return Err(Utf7Error::BadPadding);
        }
        for r in char::decode_utf16(units.iter().copied()) {
            let c = r.map_err(|_| Utf7Error::BadSurrogate)?;
            if is_direct(c) {
                return Err(Utf7Error::NotCanonical);
            }
            out.push(c);
        }
        i = end + 1;
        last_run_end = Some(i);
    }
    Ok(out)
}

/// Encodes a UTF-8 mailbox name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for u in pending.drain(..) {
        acc = (acc << 16) | u32::from(u);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3f) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize] as char);
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語"
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let name = decode(wire.as_bytes()).unwrap();
        assert_eq!(name, "~peter/mail/台北/日本語");
        assert_eq!(encode(&name), wire);
    }

    #[test]
    fn ampersand_and_ascii() {
        assert_eq!(decode(b"Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(decode(b"Entw&APw-rfe").unwrap(), "Entwürfe");
        // A character outside the BMP: a surrogate pair.
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode(b"&2D3eAA-").unwrap(), "😀");
    }

    #[test]
    fn invalid_inputs_have_clear_errors() {
        assert_eq!(decode(b"a&Jjo"), Err(Utf7Error::Unterminated));
        assert_eq!(decode(b"&Jj!-"), Err(Utf7Error::BadBase64('!')));
        assert_eq!(decode(b"&AGE-"), Err(Utf7Error::NotCanonical)); // "a"
        assert_eq!(decode(b"&APw-&APw-"), Err(Utf7Error::NotCanonical));
        assert_eq!(decode(b"&APx-"), Err(Utf7Error::BadPadding));
        assert_eq!(decode(b"&AP-"), Err(Utf7Error::BadPadding));
        assert_eq!(decode(b"&2D0-"), Err(Utf7Error::BadSurrogate));
        assert_eq!(decode("é".as_bytes()), Err(Utf7Error::BadByte(0xc3)));
        assert_eq!(decode(b"a\tb"), Err(Utf7Error::BadByte(9)));
    }

    #[test]
    fn round_trips() {
        for s in [
            "",
            "a",
            "ü",
            "üü",
            "üüü",
            "a&b",
            "日本語/メール",
            "x😀y",
            "~&-",
        ] {
            let enc = encode(s);
            assert_eq!(decode(enc.as_bytes()).unwrap(), s, "{enc}");
        }
    }
}
