//! IMAP URLs (RFC 5092) naming one message or part of it, as CATENATE
//! (RFC 4469) and URLAUTH (RFC 4467) use them.
//!
//! Implementation notes:
//! - Three forms are read: absolute (`imap://user@host/INBOX;UIDVALIDITY=
//!   1/;UID=20/;SECTION=1.MIME`), absolute-path (`/INBOX/;UID=20`, RFC 4469
//!   Appendix A's examples; relative to the session's server and user) and
//!   relative-path, to the selected mailbox (`;UID=20/;SECTION=2`), as RFC
//!   3986 §5.2 resolves them against `imap://user@host/mailbox/`. RFC 5092
//!   §7.2 restricts relative-path references; Dovecot takes them in
//!   CATENATE, and so does Tidings.
//! - Only the `imessagepart` form is accepted (RFC 5092 §6, §11:
//!   `imailbox-ref iuid [isection] [ipartial] [iurlauth]`): a URL that
//!   names a mailbox list, a search or a whole mailbox names no message.
//! - Mailbox names and sections are `%`-encoded UTF-8 (RFC 5092 §8): they
//!   are decoded here; a section is then read with the FETCH grammar
//!   (`1.MIME`, `HEADER.FIELDS (FROM)`, any case).
//! - Parameter names (`;UID=`, `;SECTION=`, …) are matched in any case
//!   (RFC 5092 §11: ABNF strings are case-insensitive).
//! - [`ImapUrl`]'s `Display` writes the URL back in its canonical form.

use std::fmt;

use thiserror::Error;

use crate::encode::LiteralSyntax;
use crate::encode::Writer;
use crate::parse::Cursor;
use crate::types::Section;

/// An IMAP URL naming one message (and maybe a part of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapUrl {
    /// `imap://[user@]host[:port]` of an absolute URL; `None` for the
    /// relative forms (this server, the logged-in user).
    pub server: Option<UrlServer>,
    /// The mailbox (decoded); `None`: relative to the selected mailbox.
    pub mailbox: Option<String>,
    /// `;UIDVALIDITY=n` (RFC 5092 §6): the mailbox must still have it.
    pub uid_validity: Option<u32>,
    /// `;UID=n`.
    pub uid: u32,
    /// `;SECTION=...`, read as a FETCH `BODY[section]`.
    pub section: Option<Section>,
    /// `;PARTIAL=offset[.length]` (RFC 5092 §6 partial-range).
    pub partial: Option<UrlPartial>,
    /// `[;EXPIRE=..];URLAUTH=access[:mechanism:token]` (RFC 4467 §3).
    pub urlauth: Option<UrlAuth>,
}

/// The server part of an absolute IMAP URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlServer {
    /// `enc-user` (decoded), without `;AUTH=`.
    pub user: Option<String>,
    /// The host as written (a name, an IPv4 address or `[v6]`), lower-cased.
    pub host: String,
    pub port: Option<u16>,
}

/// `;PARTIAL=offset[.length]`: bytes from `offset` (0-based), at most
/// `length` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlPartial {
    pub offset: u32,
    pub length: Option<u32>,
}

/// The URLAUTH part of a URL (RFC 4467 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlAuth {
    /// `;EXPIRE=` date-time (RFC 3339), as written.
    pub expire: Option<String>,
    pub access: UrlAccess,
    /// `:mechanism:token` (absent in a "rump" URL, RFC 4467 §2.1).
    pub verifier: Option<UrlVerifier>,
}

/// Who may use a URLAUTH URL (RFC 4467 §2.3 `access`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlAccess {
    /// `submit+user`: the submission server acting for `user`.
    Submit(String),
    /// `user+user`: that user only.
    User(String),
    /// `authuser`: any logged-in user of this server.
    AuthUser,
    /// `anonymous`: anyone.
    Anonymous,
}

/// `:mechanism:token` of an authorized URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlVerifier {
    /// Upper-cased (`INTERNAL`).
    pub mechanism: String,
    /// Hex digits, as written.
    pub token: String,
}

/// Why a string is not an IMAP URL naming a message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("not an IMAP URL naming a message")]
    Form,
    #[error("bad %-encoding")]
    Encoding,
    #[error("bad UID or UIDVALIDITY")]
    Number,
    #[error("bad section")]
    Section,
    #[error("bad partial range")]
    Partial,
    #[error("bad URLAUTH")]
    UrlAuth,
}

/// Whether the ASCII prefix of `s` is `p`, in any case.
fn starts_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

fn strip_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    starts_ci(s, p).then(|| &s[p.len()..])
}

/// `%XX` decoding to UTF-8 (RFC 3986 §2.1).
fn pct_decode(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(UrlError::Encoding)?;
            let h = std::str::from_utf8(hex).map_err(|_| UrlError::Encoding)?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| UrlError::Encoding)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Encoding)
}

/// `%`-encodes what is not a `bchar` (RFC 5092 §11) of a mailbox or
/// section; `/` is kept (hierarchy, and allowed in both).
fn pct_encode(s: &str, out: &mut String) {
    pct_encode_keeping(s, b":@/", out);
}

/// `%`-encodes what may not stand in an `enc-user` (RFC 5092 §11: no
/// `:`, `@`, `/` or `;` unencoded).
fn pct_encode_user(s: &str, out: &mut String) {
    pct_encode_keeping(s, b"", out);
}

/// `%`-encodes every byte but the unreserved and sub-delimiter characters
/// both forms keep (`achar` without `:` `@`) and `extra`.
fn pct_encode_keeping(s: &str, extra: &[u8], out: &mut String) {
    for &b in s.as_bytes() {
        let keep =
            b.is_ascii_alphanumeric() || b"-._~!$'()*+,&=".contains(&b) || extra.contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// RFC 9051 nz-number.
fn nz_number(s: &str) -> Result<u32, UrlError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return Err(UrlError::Number);
    }
    s.parse().map_err(|_| UrlError::Number)
}

/// The digits at the start of `s` and the rest.
fn digits(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(n)
}

/// A section as the FETCH grammar reads it inside `[...]`.
fn section(decoded: &str) -> Result<Section, UrlError> {
    let wrapped = format!("[{decoded}]");
    let mut c = Cursor::new(wrapped.as_bytes(), true);
    let s = crate::parse_command::section(&mut c).map_err(|_| UrlError::Section)?;
    if !c.rest().is_empty() {
        return Err(UrlError::Section);
    }
    Ok(s)
}

fn server(s: &str) -> Result<UrlServer, UrlError> {
    let (user, hostport) = match s.rsplit_once('@') {
        Some((u, h)) => {
            // iuserinfo = enc-user [iauth]; the ;AUTH= part is not needed.
            let u = match u.find(';') {
                Some(i) if starts_ci(&u[i..], ";AUTH=") => &u[..i],
                Some(_) => return Err(UrlError::Form),
                None => u,
            };
            let u = pct_decode(u)?;
            (if u.is_empty() { None } else { Some(u) }, h)
        }
        None => (None, s),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(UrlError::Form)?;
        (format!("[{h}]"), after)
    } else {
        match hostport.find(':') {
            Some(i) => (hostport[..i].to_string(), &hostport[i..]),
            None => (hostport.to_string(), ""),
        }
    };
    if host.is_empty() {
        return Err(UrlError::Form);
    }
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => None,
        None => return Err(UrlError::Form),
        Some(p) => Some(p.parse::<u16>().map_err(|_| UrlError::Form)?),
    };
    Ok(UrlServer {
        user,
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn access(s: &str) -> Result<UrlAccess, UrlError> {
    if let Some(u) = strip_ci(s, "submit+") {
        return Ok(UrlAccess::Submit(pct_decode(u)?));
    }
    if let Some(u) = strip_ci(s, "user+") {
        return Ok(UrlAccess::User(pct_decode(u)?));
    }
    if s.eq_ignore_ascii_case("authuser") {
        return Ok(UrlAccess::AuthUser);
    }
    if s.eq_ignore_ascii_case("anonymous") {
        return Ok(UrlAccess::Anonymous);
    }
    Err(UrlError::UrlAuth)
}

/// `[;EXPIRE=..];URLAUTH=access[:mech:token]` (RFC 4467 §3).
fn urlauth(s: &str) -> Result<UrlAuth, UrlError> {
    let (expire, rest) = match strip_ci(s, ";EXPIRE=") {
        Some(r) => {
            let i = r.find(';').ok_or(UrlError::UrlAuth)?;
            (Some(r[..i].to_string()), &r[i..])
        }
        None => (None, s),
    };
    let rest = strip_ci(rest, ";URLAUTH=").ok_or(UrlError::UrlAuth)?;
    // enc-user cannot hold ':' unencoded (achar has no ':'... but bchar
    // does): the verifier is the last two ':' fields.
    let (access_text, verifier) = match rest.split_once(':') {
        Some((a, v)) => {
            let (mech, token) = v.split_once(':').ok_or(UrlError::UrlAuth)?;
            let mech_ok = !mech.is_empty()
                && mech
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            // RFC 4467 §9 enc-urlauth = 32*HEXDIG
            let token_ok = token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
            if !mech_ok || !token_ok {
                return Err(UrlError::UrlAuth);
            }
            (
                a,
                Some(UrlVerifier {
                    mechanism: mech.to_ascii_uppercase(),
                    token: token.to_string(),
                }),
            )
        }
        None => (rest, None),
    };
    Ok(UrlAuth {
        expire,
        access: access(access_text)?,
        verifier,
    })
}

impl ImapUrl {
    /// Reads an IMAP URL naming a message; see the module notes.
    pub fn parse(s: &str) -> Result<ImapUrl, UrlError> {
        if s.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(UrlError::Form);
        }
        let (server, path) = if let Some(rest) = strip_ci(s, "imap://") {
            let (srv, path) = rest.split_once('/').ok_or(UrlError::Form)?;
            (Some(server(srv)?), path)
        } else if let Some(path) = s.strip_prefix('/') {
            (None, path)
        } else if starts_ci(s, ";UID=") {
            (None, s)
        } else {
            return Err(UrlError::Form);
        };
        // imailbox-ref: enc-mailbox [";UIDVALIDITY=" nz-number], then
        // "/;UID=" (a relative URL starts at ";UID=").
        let (mailbox, uid_validity, rest) =
            if starts_ci(path, ";UID=") && server.is_none() && !s.starts_with('/') {
                (None, None, path)
            } else {
                let i = path.find(';').ok_or(UrlError::Form)?;
                let (enc, rest) = path.split_at(i);
                if let Some(r) = strip_ci(rest, ";UIDVALIDITY=") {
                    let (n, r) = digits(r);
                    let v = nz_number(n)?;
                    let r = r.strip_prefix('/').ok_or(UrlError::Form)?;
                    (Some(pct_decode(enc)?), Some(v), r)
                } else {
                    let enc = enc.strip_suffix('/').ok_or(UrlError::Form)?;
                    (Some(pct_decode(enc)?), None, rest)
                }
            };
        if mailbox.as_deref() == Some("") {
            return Err(UrlError::Form);
        }
        let rest = strip_ci(rest, ";UID=").ok_or(UrlError::Form)?;
        let (n, mut rest) = digits(rest);
        let uid = nz_number(n)?;
        let mut section_part = None;
        if let Some(r) = strip_ci(rest, "/;SECTION=") {
            let end = r.find(';').unwrap_or(r.len());
            let (mut text, after) = r.split_at(end);
            // "/;PARTIAL=" follows after a '/'; ";URLAUTH" directly.
            if starts_ci(after, ";PARTIAL=") {
                text = text.strip_suffix('/').ok_or(UrlError::Form)?;
                rest = &r[end - 1..];
            } else {
                rest = after;
            }
            if text.is_empty() {
                return Err(UrlError::Section);
            }
            section_part = Some(section(&pct_decode(text)?)?);
        }
        let mut partial = None;
        if let Some(r) = strip_ci(rest, "/;PARTIAL=") {
            let (o, r) = digits(r);
            if o.is_empty() {
                return Err(UrlError::Partial);
            }
            let offset = o.parse().map_err(|_| UrlError::Partial)?;
            let (length, r) = match r.strip_prefix('.') {
                Some(r) => {
                    let (l, r) = digits(r);
                    (Some(nz_number(l).map_err(|_| UrlError::Partial)?), r)
                }
                None => (None, r),
            };
            partial = Some(UrlPartial { offset, length });
            rest = r;
        }
        let urlauth = if rest.is_empty() {
            None
        } else {
            Some(urlauth(rest)?)
        };
        Ok(ImapUrl {
            server,
            mailbox,
            uid_validity,
            uid,
            section: section_part,
            partial,
            urlauth,
        })
    }

    /// The URL without its `:mechanism:token` (RFC 4467 §2.1 "rump").
    pub fn rump(&self) -> ImapUrl {
        let mut r = self.clone();
        if let Some(a) = &mut r.urlauth {
            a.verifier = None;
        }
        r
    }
}

fn section_text(s: &Section) -> String {
    let mut out = Vec::new();
    let mut w = Writer {
        out: &mut out,
        utf8: true,
        literal: LiteralSyntax::Sync,
        sync_points: Vec::new(),
    };
    w.section(s);
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        if let Some(srv) = &self.server {
            s.push_str("imap://");
            if let Some(u) = &srv.user {
                pct_encode_user(u, &mut s);
                s.push('@');
            }
            s.push_str(&srv.host);
            if let Some(p) = srv.port {
                s.push_str(&format!(":{p}"));
            }
            s.push('/');
        } else if self.mailbox.is_some() {
            s.push('/');
        }
        if let Some(m) = &self.mailbox {
            pct_encode(m, &mut s);
            if let Some(v) = self.uid_validity {
                s.push_str(&format!(";UIDVALIDITY={v}"));
            }
            s.push('/');
        }
        s.push_str(&format!(";UID={}", self.uid));
        if let Some(sec) = &self.section {
            s.push_str("/;SECTION=");
            pct_encode(&section_text(sec), &mut s);
        }
        if let Some(p) = &self.partial {
            s.push_str(&format!("/;PARTIAL={}", p.offset));
            if let Some(l) = p.length {
                s.push_str(&format!(".{l}"));
            }
        }
        if let Some(a) = &self.urlauth {
            if let Some(e) = &a.expire {
                s.push_str(";EXPIRE=");
                s.push_str(e);
            }
            s.push_str(";URLAUTH=");
            match &a.access {
                UrlAccess::Submit(u) => {
                    s.push_str("submit+");
                    pct_encode_user(u, &mut s);
                }
                UrlAccess::User(u) => {
                    s.push_str("user+");
                    pct_encode_user(u, &mut s);
                }
                UrlAccess::AuthUser => s.push_str("authuser"),
                UrlAccess::Anonymous => s.push_str("anonymous"),
            }
            if let Some(v) = &a.verifier {
                s.push_str(&format!(":{}:{}", v.mechanism, v.token));
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SectionText;

    #[test]
    fn rfc_4469_examples() {
        // RFC 4469 Appendix A.
        let u = ImapUrl::parse("/INBOX;UIDVALIDITY=385759045/;UID=20/;section=1.mime").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.uid_validity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(
            u.section,
            Some(Section {
                part: vec![1],
                text: Some(SectionText::Mime)
            })
        );
        assert_eq!(
            u.to_string(),
            "/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME"
        );
        let u = ImapUrl::parse("/Drafts;UIDVALIDITY=385759045/;UID=30").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Drafts"));
        assert_eq!(u.section, None);
        let u = ImapUrl::parse("/INBOX;UIDVALIDITY=785799047/;UID=113330;section=1.5.9");
        // RFC 4469 Appendix A writes "; section" after the UID without the
        // '/': not RFC 5092 (and a bad URL in that example anyway).
        assert!(u.is_err());
    }

    #[test]
    fn absolute_relative_partial_and_urlauth() {
        let u = ImapUrl::parse(
            "imap://joe%40example.com;AUTH=*@mail.example.com:143/Sent%20Mail/;UID=7/;SECTION=HEADER.FIELDS%20(FROM%20TO)/;PARTIAL=10.20",
        )
        .unwrap();
        let srv = u.server.clone().unwrap();
        assert_eq!(srv.user.as_deref(), Some("joe@example.com"));
        assert_eq!(srv.host, "mail.example.com");
        assert_eq!(srv.port, Some(143));
        assert_eq!(u.mailbox.as_deref(), Some("Sent Mail"));
        assert_eq!(
            u.partial,
            Some(UrlPartial {
                offset: 10,
                length: Some(20)
            })
        );
        assert_eq!(
            u.section.as_ref().unwrap().text,
            Some(SectionText::HeaderFields {
                not: false,
                fields: vec!["FROM".into(), "TO".into()]
            })
        );
        assert_eq!(ImapUrl::parse(&u.to_string()).unwrap(), u);

        let r = ImapUrl::parse(";UID=5/;SECTION=2").unwrap();
        assert_eq!((r.mailbox, r.uid), (None, 5));

        // RFC 4467 §2.1 / §3.
        let a = ImapUrl::parse(
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
        )
        .unwrap();
        let auth = a.urlauth.clone().unwrap();
        assert_eq!(auth.access, UrlAccess::Submit("fred".into()));
        let v = auth.verifier.unwrap();
        assert_eq!(v.mechanism, "INTERNAL");
        assert_eq!(v.token, "91354a473744909de610943775f92038");
        assert_eq!(
            a.rump().to_string(),
            "imap://joe@example.com/INBOX/;UID=20/;SECTION=1.2;URLAUTH=submit+fred"
        );
        let e = ImapUrl::parse(
            "imap://joe@example.com/INBOX/;UID=20;EXPIRE=2026-12-31T23:59:59Z;URLAUTH=authuser",
        )
        .unwrap();
        assert_eq!(
            e.urlauth.unwrap().expire.as_deref(),
            Some("2026-12-31T23:59:59Z")
        );
    }

    #[test]
    fn not_message_urls() {
        for bad in [
            "",
            "INBOX",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=0/;UID=1",
            "/;UID=1",
            "imap://host",
            "imap:///INBOX/;UID=1",
            "/INBOX/;UID=1/;SECTION=1.BOGUS",
            "/INBOX/;UID=1/;PARTIAL=x",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1;URLAUTH=nobody",
            "/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:12",
            "/IN%ZZBOX/;UID=1",
            "/INBOX/;UID=1 trailing",
        ] {
            assert!(ImapUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
