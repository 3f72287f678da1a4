//! SMTP commands (RFC 5321 §4.1) and their extension parameters.
//!
//! [`Command::parse`] takes one line without its CRLF. Verbs are
//! case-insensitive (§2.4). Paths follow §4.1.2 with the leniencies real
//! clients need: a space after `FROM:`/`TO:` is accepted, source routes
//! (`<@a,@b:user@d>`, §4.1.1.3 "MUST accept and ignore") are dropped, and
//! the local part may be UTF-8 (RFC 6531 §3.3; the session checks that
//! SMTPUTF8 was given). `<Postmaster>` without a domain is accepted in
//! RCPT (§4.1.1.3). Parameters: SIZE (RFC 1870 §6), BODY (RFC 6152 §2,
//! RFC 3030 §3), SMTPUTF8 (RFC 6531 §3.4), RET/ENVID (RFC 3461 §4.3-4.4),
//! AUTH= (RFC 4954 §5, parsed and ignored), NOTIFY/ORCPT (RFC 3461
//! §4.1-4.2). An unknown parameter is refused with 555 (§4.1.1.11).
//!
//! [`Command::encode`] writes the client side (used by the delivery client
//! and by the tests: parse → encode → parse is the identity).

use std::fmt::Write as _;

use crate::reply::{EnhancedCode, Reply};

/// A mailbox `local@domain` (the domain is lowercased; the local part is
/// kept as sent, quotes included).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub local: String,
    /// Empty only for RCPT `<Postmaster>` (RFC 5321 §4.1.1.3).
    pub domain: String,
}

impl Path {
    /// `local@domain` (or just `local` for a bare postmaster).
    pub fn address(&self) -> String {
        if self.domain.is_empty() {
            self.local.clone()
        } else {
            format!("{}@{}", self.local, self.domain)
        }
    }

    /// Whether either part uses non-ASCII (needs SMTPUTF8, RFC 6531 §3.4).
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || !self.domain.is_ascii()
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.address())
    }
}

/// MAIL FROM's path: a mailbox or the null path `<>` (bounces, §4.5.5).
pub type ReversePath = Option<Path>;

/// RFC 6152 / RFC 3030 `BODY=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// RFC 3461 §4.3 `RET=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

/// RFC 3461 §4.1 `NOTIFY=`: `NEVER` or any of the three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notify {
    pub never: bool,
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

/// MAIL FROM parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// RFC 3461 §4.4, still xtext-encoded.
    pub envid: Option<String>,
    /// RFC 4954 §5 `AUTH=`, still xtext-encoded.
    pub auth: Option<String>,
    /// RFC 8689 §4 `REQUIRETLS`: the message may travel only over verified TLS.
    pub requiretls: bool,
}

/// RCPT TO parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    /// RFC 3461 §4.2 `ORCPT=addr-type;xtext`, as sent.
    pub orcpt: Option<String>,
}

/// One SMTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: Path,
        params: RcptParams,
    },
    Data,
    /// RFC 3030 §2: `BDAT size [LAST]`.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help,
    StartTls,
    /// RFC 4954 §4: `AUTH mechanism [initial-response]`.
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
}

/// Why a line is not a command; [`ParseError::reply`] is what to answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// RFC 5321 §4.2.4: 500 5.5.1.
    #[error("command not recognized")]
    Unrecognized,
    /// 501 5.5.4: arguments of a known command are wrong.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// 501 5.1.7 / 5.1.3: the path is not an address.
    #[error("bad address syntax")]
    BadAddress,
    /// 555 5.5.4 (§4.1.1.11): a parameter not recognized or not implemented.
    #[error("parameter not recognized: {0}")]
    UnknownParam(String),
}

impl ParseError {
    /// The reply RFC 5321 §4.2.4 / RFC 3463 give for this error.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::Unrecognized => {
                Reply::new(500, EnhancedCode(5, 5, 1), "command not recognized")
            }
            ParseError::Syntax(what) => Reply::new(501, EnhancedCode(5, 5, 4), *what),
            ParseError::BadAddress => Reply::new(501, EnhancedCode(5, 1, 3), "bad address syntax"),
            ParseError::UnknownParam(p) => Reply::new(
                555,
                EnhancedCode(5, 5, 4),
                format!("parameter {p} not recognized"),
            ),
        }
    }
}

impl Command {
    /// The command's verb, upper case (`MAIL`, `BDAT`).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }

    /// Parses one command line (without CRLF).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax("not UTF-8"))?;
        let (verb, rest) = match line.find(' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        let upper = verb.to_ascii_uppercase();
        let no_args = |cmd: Command| {
            if rest.trim().is_empty() {
                Ok(cmd)
            } else {
                Err(ParseError::Syntax("this command takes no arguments"))
            }
        };
        match upper.as_str() {
            "EHLO" | "HELO" => {
                let name = rest.trim();
                if name.is_empty() || name.contains(' ') {
                    return Err(ParseError::Syntax("expected a domain or address literal"));
                }
                Ok(if upper == "EHLO" {
                    Command::Ehlo(name.to_string())
                } else {
                    Command::Helo(name.to_string())
                })
            }
            "MAIL" => {
                let args = strip_prefix_ci(rest, "FROM:")
                    .ok_or(ParseError::Syntax("expected MAIL FROM:<address>"))?;
                let (path, params) = split_path(args.trim_start())?;
                let from = if path == "<>" {
                    None
                } else {
                    Some(parse_path(path, false)?)
                };
                Ok(Command::Mail {
                    from,
                    params: parse_mail_params(params)?,
                })
            }
            "RCPT" => {
                let args = strip_prefix_ci(rest, "TO:")
                    .ok_or(ParseError::Syntax("expected RCPT TO:<address>"))?;
                let (path, params) = split_path(args.trim_start())?;
                Ok(Command::Rcpt {
                    to: parse_path(path, true)?,
                    params: parse_rcpt_params(params)?,
                })
            }
            "DATA" => no_args(Command::Data),
            "BDAT" => {
                let mut words = rest.split(' ').filter(|w| !w.is_empty());
                let size = words
                    .next()
                    .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|w| w.parse().ok())
                    .ok_or(ParseError::Syntax("expected BDAT size [LAST]"))?;
                let last = match words.next() {
                    None => false,
                    Some(w) if w.eq_ignore_ascii_case("LAST") => true,
                    Some(_) => return Err(ParseError::Syntax("expected BDAT size [LAST]")),
                };
                if words.next().is_some() {
                    return Err(ParseError::Syntax("expected BDAT size [LAST]"));
                }
                Ok(Command::Bdat { size, last })
            }
            "RSET" => no_args(Command::Rset),
            // §4.1.1.9: NOOP may carry a string, which is ignored.
            "NOOP" => Ok(Command::Noop),
            "QUIT" => no_args(Command::Quit),
            "VRFY" | "EXPN" => {
                let arg = rest.trim();
                if arg.is_empty() {
                    return Err(ParseError::Syntax("expected an argument"));
                }
                Ok(if upper == "VRFY" {
                    Command::Vrfy(arg.to_string())
                } else {
                    Command::Expn(arg.to_string())
                })
            }
            "HELP" => Ok(Command::Help),
            "STARTTLS" => no_args(Command::StartTls),
            "AUTH" => {
                let mut words = rest.split(' ').filter(|w| !w.is_empty());
                let mechanism = words
                    .next()
                    .ok_or(ParseError::Syntax("expected AUTH mechanism"))?
                    .to_ascii_uppercase();
                let initial = words.next().map(str::to_string);
                if words.next().is_some() {
                    return Err(ParseError::Syntax(
                        "expected AUTH mechanism [initial-response]",
                    ));
                }
                Ok(Command::Auth { mechanism, initial })
            }
            _ => Err(ParseError::Unrecognized),
        }
    }

    /// Writes the command as a client sends it, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = match self {
            Command::Ehlo(d) => write!(s, "EHLO {d}"),
            Command::Helo(d) => write!(s, "HELO {d}"),
            Command::Mail { from, params } => {
                let path = from.as_ref().map(Path::address).unwrap_or_default();
                let _ = write!(s, "MAIL FROM:<{path}>");
                if let Some(size) = params.size {
                    let _ = write!(s, " SIZE={size}");
                }
                if let Some(body) = params.body {
                    s.push_str(match body {
                        Body::SevenBit => " BODY=7BIT",
                        Body::EightBitMime => " BODY=8BITMIME",
                        Body::BinaryMime => " BODY=BINARYMIME",
                    });
                }
                if params.smtputf8 {
                    s.push_str(" SMTPUTF8");
                }
                if let Some(ret) = params.ret {
                    s.push_str(match ret {
                        Ret::Full => " RET=FULL",
                        Ret::Hdrs => " RET=HDRS",
                    });
                }
                if let Some(envid) = &params.envid {
                    let _ = write!(s, " ENVID={envid}");
                }
                if let Some(auth) = &params.auth {
                    let _ = write!(s, " AUTH={auth}");
                }
                if params.requiretls {
                    s.push_str(" REQUIRETLS");
                }
                Ok(())
            }
            Command::Rcpt { to, params } => {
                let _ = write!(s, "RCPT TO:<{}>", to.address());
                if let Some(n) = params.notify {
                    let mut parts = Vec::new();
                    if n.never {
                        parts.push("NEVER");
                    }
                    if n.success {
                        parts.push("SUCCESS");
                    }
                    if n.failure {
                        parts.push("FAILURE");
                    }
                    if n.delay {
                        parts.push("DELAY");
                    }
                    let _ = write!(s, " NOTIFY={}", parts.join(","));
                }
                if let Some(orcpt) = &params.orcpt {
                    let _ = write!(s, " ORCPT={orcpt}");
                }
                Ok(())
            }
            Command::Data => write!(s, "DATA"),
            Command::Bdat { size, last } => {
                write!(s, "BDAT {size}{}", if *last { " LAST" } else { "" })
            }
            Command::Rset => write!(s, "RSET"),
            Command::Noop => write!(s, "NOOP"),
            Command::Quit => write!(s, "QUIT"),
            Command::Vrfy(a) => write!(s, "VRFY {a}"),
            Command::Expn(a) => write!(s, "EXPN {a}"),
            Command::Help => write!(s, "HELP"),
            Command::StartTls => write!(s, "STARTTLS"),
            Command::Auth { mechanism, initial } => match initial {
                Some(i) => write!(s, "AUTH {mechanism} {i}"),
                None => write!(s, "AUTH {mechanism}"),
            },
        };
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `<path> params` at the closing `>` that is not inside quotes.
fn split_path(s: &str) -> Result<(&str, &str), ParseError> {
    if !s.starts_with('<') {
        return Err(ParseError::BadAddress);
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                let rest = &s[i + 1..];
                if !rest.is_empty() && !rest.starts_with(' ') {
                    return Err(ParseError::BadAddress);
                }
                return Ok((&s[..=i], rest));
            }
            _ => {}
        }
    }
    Err(ParseError::BadAddress)
}

/// Parses `<[@route,...:]local@domain>` (RFC 5321 §4.1.2).
fn parse_path(path: &str, rcpt: bool) -> Result<Path, ParseError> {
    let inner = path
        .strip_prefix('<')
        .and_then(|p| p.strip_suffix('>'))
        .ok_or(ParseError::BadAddress)?;
    // §4.1.1.3: source routes are accepted and ignored.
    let inner = if inner.starts_with('@') {
        inner.split_once(':').ok_or(ParseError::BadAddress)?.1
    } else {
        inner
    };
    if rcpt && inner.eq_ignore_ascii_case("postmaster") {
        return Ok(Path {
            local: "postmaster".into(),
            domain: String::new(),
        });
    }
    let at = inner.rfind('@').ok_or(ParseError::BadAddress)?;
    let (local, domain) = (&inner[..at], &inner[at + 1..]);
    if !valid_local(local) || !valid_domain(domain) {
        return Err(ParseError::BadAddress);
    }
    Ok(Path {
        local: local.to_string(),
        domain: domain.to_lowercase(),
    })
}

/// RFC 5321 §4.1.2 Local-part: a dot-string or a quoted string; atext is
/// extended with UTF-8 by RFC 6531 §3.3. At most 64 octets (§4.5.3.1.1).
fn valid_local(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    if let Some(q) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        let mut escaped = false;
        for c in q.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return false,
                c if (c as u32) < 32 || c == '\x7f' => return false,
                _ => {}
            }
        }
        return !escaped;
    }
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// A domain (letters, digits, hyphens, dots; UTF-8 labels per RFC 6531) or
/// an address literal `[...]`. At most 255 octets (§4.5.3.1.2).
fn valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 255 {
        return false;
    }
    if domain.starts_with('[') {
        return domain.ends_with(']')
            && domain.len() > 2
            && domain[1..domain.len() - 1]
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '[' && c != ']' && c != '\\');
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    })
}

/// `KEY[=VALUE]` words (§4.1.2 Mail-parameters); keys are case-insensitive.
fn params(s: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (w.to_ascii_uppercase(), None),
        })
}

/// RFC 3461 §4 xtext: printable ASCII but `+` and `=`, or `+XX`.
fn valid_xtext(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                if b.get(i + 1).copied().is_none_or(|c| !hex(c))
                    || b.get(i + 2).copied().is_none_or(|c| !hex(c))
                {
                    return false;
                }
                i += 3;
            }
            b'!'..=b'~' if b[i] != b'=' => i += 1,
            _ => return false,
        }
    }
    true
}

/// Whether xtext `s` (already [`valid_xtext`]) decodes to printable
/// US-ASCII, spaces allowed (RFC 3461 §4.2 ORCPT, §4.4 ENVID): no control
/// characters, so nothing a peer sends can break a line of the delivery
/// report it ends up in.
fn xtext_printable(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let byte = if b[i] == b'+' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3).unwrap_or_default())
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            i += 3;
            match hex {
                Some(v) => v,
                None => return false,
            }
        } else {
            i += 1;
            b[i - 1]
        };
        if !(0x20..=0x7e).contains(&byte) {
            return false;
        }
    }
    true
}

/// RFC 3461 §4.2 addr-type: an RFC 5322 atom (`rfc822`, `utf-8`, ...).
fn valid_addr_type(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
}

fn parse_mail_params(s: &str) -> Result<MailParams, ParseError> {
    let mut p = MailParams::default();
    for (key, value) in params(s) {
        match (key.as_str(), value) {
            ("SIZE", Some(v)) if p.size.is_none() => {
                p.size = Some(
                    v.bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| v.parse().ok())
                        .flatten()
                        .ok_or(ParseError::Syntax("SIZE must be a number"))?,
                );
            }
            ("BODY", Some(v)) if p.body.is_none() => {
                p.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(ParseError::UnknownParam(format!("BODY={v}"))),
                });
            }
            ("SMTPUTF8", None) => p.smtputf8 = true,
            ("REQUIRETLS", None) => p.requiretls = true,
            ("RET", Some(v)) if p.ret.is_none() => {
                p.ret = Some(match v.to_ascii_uppercase().as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Hdrs,
                    _ => return Err(ParseError::Syntax("RET must be FULL or HDRS")),
                });
            }
            ("ENVID", Some(v)) if p.envid.is_none() => {
                if v.is_empty() || v.len() > 100 || !valid_xtext(v) || !xtext_printable(v) {
                    return Err(ParseError::Syntax("bad ENVID"));
                }
                p.envid = Some(v.to_string());
            }
            ("AUTH", Some(v)) if p.auth.is_none() => {
                if v != "<>" && !valid_xtext(v) {
                    return Err(ParseError::Syntax("bad AUTH= value"));
                }
                p.auth = Some(v.to_string());
            }
            _ => return Err(ParseError::UnknownParam(key)),
        }
    }
    Ok(p)
}

fn parse_rcpt_params(s: &str) -> Result<RcptParams, ParseError> {
    let mut p = RcptParams::default();
    for (key, value) in params(s) {
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) if p.notify.is_none() => {
                let mut n = Notify::default();
                for word in v.split(',') {
                    match word.to_ascii_uppercase().as_str() {
                        "NEVER" => n.never = true,
                        "SUCCESS" => n.success = true,
                        "FAILURE" => n.failure = true,
                        "DELAY" => n.delay = true,
                        _ => return Err(ParseError::Syntax("bad NOTIFY value")),
                    }
                }
                // RFC 3461 §4.1: NEVER stands alone.
                if n.never && (n.success || n.failure || n.delay) {
                    return Err(ParseError::Syntax("NOTIFY=NEVER stands alone"));
                }
                p.notify = Some(n);
            }
            ("ORCPT", Some(v)) if p.orcpt.is_none() => {
                let Some((kind, addr)) = v.split_once(';') else {
                    return Err(ParseError::Syntax("ORCPT must be addr-type;xtext"));
                };
                // RFC 3461 §4.2: at most 500 characters, an atom, then
                // xtext that decodes to printable US-ASCII.
                if v.len() > 500
                    || !valid_addr_type(kind)
                    || addr.is_empty()
                    || !valid_xtext(addr)
                    || !xtext_printable(addr)
                {
                    return Err(ParseError::Syntax("bad ORCPT"));
                }
                p.orcpt = Some(v.to_string());
            }
            _ => return Err(ParseError::UnknownParam(key)),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        Command::parse(s.as_bytes())
    }

    fn path(local: &str, domain: &str) -> Path {
        Path {
            local: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn rfc5321_appendix_d1_session() {
        // RFC 5321 Appendix D.1, the client's side.
        assert_eq!(p("EHLO bar.com"), Ok(Command::Ehlo("bar.com".into())));
        assert_eq!(
            p("MAIL FROM:<Smith@bar.com>"),
            Ok(Command::Mail {
                from: Some(path("Smith", "bar.com")),
                params: MailParams::default()
            })
        );
        assert_eq!(
            p("RCPT TO:<Jones@foo.com>"),
            Ok(Command::Rcpt {
                to: path("Jones", "foo.com"),
                params: RcptParams::default()
            })
        );
        assert_eq!(p("DATA"), Ok(Command::Data));
        assert_eq!(p("QUIT"), Ok(Command::Quit));
        assert_eq!(p("quit"), Ok(Command::Quit));
    }

    #[test]
    fn null_path_source_route_and_postmaster() {
        assert!(matches!(
            p("MAIL FROM:<>"),
            Ok(Command::Mail { from: None, .. })
        ));
        // §4.1.1.3: the route is ignored.
        assert_eq!(
            p("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>"),
            Ok(Command::Rcpt {
                to: path("userc", "d.bar.org"),
                params: RcptParams::default()
            })
        );
        assert_eq!(
            p("RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: path("postmaster", ""),
                params: RcptParams::default()
            })
        );
        assert_eq!(p("MAIL FROM:<Postmaster>"), Err(ParseError::BadAddress));
        // A space after the colon, as some clients send.
        assert!(p("MAIL FROM: <a@b.c>").is_ok());
        assert_eq!(p("MAIL FROM:a@b.c"), Err(ParseError::BadAddress));
        assert_eq!(p("RCPT TO:<a@b..c>"), Err(ParseError::BadAddress));
        assert_eq!(p("RCPT TO:<a..b@c>"), Err(ParseError::BadAddress));
        assert_eq!(p("RCPT TO:<a@b.c>x"), Err(ParseError::BadAddress));
    }

    #[test]
    fn quoted_and_utf8_local_parts() {
        let Ok(Command::Rcpt { to, .. }) = p("RCPT TO:<\"john doe>\"@example.org>") else {
            panic!()
        };
        assert_eq!(to.local, "\"john doe>\"");
        let Ok(Command::Rcpt { to, .. }) = p("RCPT TO:<用户@例子.广告>") else {
            panic!()
        };
        assert!(to.is_utf8());
        assert_eq!(to.domain, "例子.广告");
    }

    #[test]
    fn mail_parameters() {
        let Ok(Command::Mail { params, .. }) = p(
            "MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159 AUTH=<> REQUIRETLS",
        ) else {
            panic!()
        };
        assert_eq!(
            params,
            MailParams {
                size: Some(1000),
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: Some(Ret::Hdrs),
                envid: Some("QQ314159".into()),
                auth: Some("<>".into()),
                requiretls: true,
            }
        );
        assert!(matches!(
            p("MAIL FROM:<a@b.c> body=binarymime"),
            Ok(Command::Mail {
                params: MailParams {
                    body: Some(Body::BinaryMime),
                    ..
                },
                ..
            })
        ));
        assert_eq!(
            p("MAIL FROM:<a@b.c> FOO=1"),
            Err(ParseError::UnknownParam("FOO".into()))
        );
        assert!(matches!(
            p("MAIL FROM:<a@b.c> SIZE=x"),
            Err(ParseError::Syntax(_))
        ));
        assert!(p("MAIL FROM:<a@b.c> SIZE=1 SIZE=2").is_err());
    }

    #[test]
    fn rcpt_parameters_rfc3461_examples() {
        let Ok(Command::Rcpt { params, .. }) =
            p("RCPT TO:<Dana@Ivory.EDU> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Dana@Ivory.EDU")
        else {
            panic!()
        };
        assert_eq!(
            params.notify,
            Some(Notify {
                success: true,
                failure: true,
                ..Notify::default()
            })
        );
        assert_eq!(params.orcpt.as_deref(), Some("rfc822;Dana@Ivory.EDU"));
        assert!(p("RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS").is_err());
        assert!(p("RCPT TO:<a@b.c> ORCPT=x").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(
            p("BDAT 86 LAST"),
            Ok(Command::Bdat {
                size: 86,
                last: true
            })
        );
        assert_eq!(
            p("bdat 0"),
            Ok(Command::Bdat {
                size: 0,
                last: false
            })
        );
        assert!(p("BDAT -1").is_err());
        assert!(p("BDAT 1 FIRST").is_err());
        assert_eq!(
            p("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("dGVzdAB0ZXN0AHRlc3Q=".into())
            })
        );
        assert_eq!(p("VRFY Smith"), Ok(Command::Vrfy("Smith".into())));
        assert_eq!(p("NOOP anything"), Ok(Command::Noop));
        assert_eq!(p("STARTTLS"), Ok(Command::StartTls));
        assert!(p("STARTTLS now").is_err());
        assert_eq!(p("XYZZY"), Err(ParseError::Unrecognized));
        assert!(p("EHLO").is_err());
        assert_eq!(ParseError::Unrecognized.reply().code, 500);
        assert_eq!(ParseError::UnknownParam("X".into()).reply().code, 555);
    }

    #[test]
    fn orcpt_and_envid_decode_to_printable_ascii() {
        let rcpt = |p: &str| Command::parse(format!("RCPT TO:<a@b.test> {p}").as_bytes());
        assert!(rcpt("ORCPT=rfc822;a+2Bb@b.test").is_ok());
        assert!(rcpt("ORCPT=rfc822;a+20b@b.test").is_ok());
        for bad in [
            "ORCPT=rfc822;a+0D+0Ab@b.test",
            "ORCPT=rfc822;a+00@b.test",
            "ORCPT=rfc822;a+7F@b.test",
            "ORCPT=rfc822;a+C3+A9@b.test",
            "ORCPT=rfc\u{1}822;a@b.test",
            "ORCPT=rfc(822);a@b.test",
            "ORCPT=;a@b.test",
        ] {
            assert!(rcpt(bad).is_err(), "{bad}");
        }
        assert!(rcpt(&format!("ORCPT=rfc822;{}@b.test", "a".repeat(500))).is_err());
        assert!(Command::parse(b"MAIL FROM:<a@b.test> ENVID=x+0Ay").is_err());
        assert!(Command::parse(b"MAIL FROM:<a@b.test> ENVID=x+20y").is_ok());
    }

    #[test]
    fn xtext() {
        assert!(valid_xtext("a+2Bb"));
        assert!(!valid_xtext("a+2"));
        assert!(!valid_xtext("a=b"));
        assert!(!valid_xtext("a b"));
    }
}
