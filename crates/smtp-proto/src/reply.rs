//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463,
//! carried as RFC 2034 §3 says: after the reply code, on every line).

use std::fmt;

/// An RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A reply: a three-digit code, an optional enhanced code and one or more
/// lines of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced code.
    pub fn new(code: u16, enhanced: EnhancedCode, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced code (the greeting, EHLO, 354, 334).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply without enhanced code (EHLO's keywords).
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// 2yz and 3yz.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// 4yz: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Writes the reply, CRLF after each line (§4.2.1: `code-text` for all
    /// lines but the last, `code text` for the last). CR and LF inside a
    /// line's text are replaced so a reply can never inject another.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() {
            &empty
        } else {
            &self.lines
        };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let mut s = format!("{}{sep}", self.code);
            if let Some(e) = self.enhanced {
                s.push_str(&e.to_string());
                s.push(' ');
            }
            s.extend(
                line.chars()
                    .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
            );
            let s = s.trim_end();
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Parses a complete reply (client side): the lines of one reply, each
    /// without CRLF. The enhanced code is taken from the first line when
    /// the reply code's class matches (RFC 2034 §3).
    pub fn parse(lines: &[&[u8]]) -> Option<Reply> {
        let mut code = None;
        let mut enhanced = None;
        let mut texts = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let line = String::from_utf8_lossy(line);
            let digits = line.get(..3)?;
            let c: u16 = digits.parse().ok().filter(|c| (200..600).contains(c))?;
            if *code.get_or_insert(c) != c {
                return None;
            }
            let sep = line.as_bytes().get(3).copied();
            let last = i + 1 == lines.len();
            match sep {
                None | Some(b' ') if last => {}
                Some(b'-') if !last => {}
                _ => return None,
            }
            let mut text = line.get(4..).unwrap_or("").to_string();
            if let Some((e, rest)) = parse_enhanced(&text, c) {
                if i == 0 {
                    enhanced = Some(e);
                }
                if enhanced == Some(e) {
                    text = rest.to_string();
                }
            }
            texts.push(text);
        }
        Some(Reply {
            code: code?,
            enhanced,
            lines: texts,
        })
    }

    /// All lines joined by a space (for logs and bounce messages).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

fn parse_enhanced(text: &str, code: u16) -> Option<(EnhancedCode, &str)> {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = word.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || u16::from(class) != code / 100 {
        return None;
    }
    Some((EnhancedCode(class, subject, detail), rest))
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.enhanced {
            Some(e) => write!(f, "{} {e} {}", self.code, self.text()),
            None => write!(f, "{} {}", self.code, self.text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply) -> String {
        let mut out = Vec::new();
        r.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn single_and_multi_line() {
        assert_eq!(
            enc(&Reply::new(
                250,
                EnhancedCode(2, 1, 0),
                "Originator <a@b> ok"
            )),
            "250 2.1.0 Originator <a@b> ok\r\n"
        );
        // RFC 5321 Appendix D.1's EHLO reply shape.
        assert_eq!(
            enc(&Reply::multi(
                250,
                vec![
                    "foo.com greets bar.com".into(),
                    "8BITMIME".into(),
                    "HELP".into()
                ]
            )),
            "250-foo.com greets bar.com\r\n250-8BITMIME\r\n250 HELP\r\n"
        );
        assert_eq!(
            enc(&Reply::new(550, EnhancedCode(5, 1, 1), "a\r\n250 b")),
            "550 5.1.1 a  250 b\r\n"
        );
    }

    #[test]
    fn parse_round_trip() {
        let r = Reply {
            code: 452,
            enhanced: Some(EnhancedCode(4, 2, 2)),
            lines: vec!["mailbox full".into(), "try later".into()],
        };
        let wire = enc(&r);
        let lines: Vec<&[u8]> = wire.split_terminator("\r\n").map(str::as_bytes).collect();
        assert_eq!(Reply::parse(&lines), Some(r));
        assert_eq!(Reply::parse(&[b"250"]).map(|r| r.code), Some(250));
        assert_eq!(Reply::parse(&[b"250-a", b"251 b"]), None);
        assert_eq!(Reply::parse(&[b"abc"]), None);
    }
}
