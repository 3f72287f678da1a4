//! POP3 replies: status lines, response codes, multi-line responses and the
//! CAPA listing.
//!
//! - RFC 1939 §3: a reply is a status indicator (`+OK` or `-ERR`) and text
//!   on one line; a multi-line reply continues with lines ended by a line
//!   holding only `.`, and any line starting with `.` gets one more.
//! - RFC 2449 §8: extended response codes in brackets right after `-ERR`
//!   (`[IN-USE]`, `[LOGIN-DELAY]`); §8.1 registry; RFC 3206 adds
//!   `[SYS/TEMP]`, `[SYS/PERM]` and `[AUTH]`.
//! - RFC 2449 §5: `CAPA` lists one capability per line.
//!
//! Reply text comes from the server, but may quote the peer: CR and LF in it
//! become spaces, so a reply is always exactly one line.

use std::fmt;

/// `+OK` or `-ERR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Err,
}

/// An extended response code (RFC 2449 §8, RFC 3206).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespCode {
    /// RFC 2449 §8.1.1: the maildrop is locked by another session.
    InUse,
    /// RFC 2449 §8.1.2: not allowed to log in again yet.
    LoginDelay,
    /// RFC 3206 §4: a temporary system problem; trying later may work.
    SysTemp,
    /// RFC 3206 §4: a permanent system problem.
    SysPerm,
    /// RFC 3206 §5: the credentials are wrong (or not acceptable here).
    Auth,
}

impl RespCode {
    pub const ALL: [RespCode; 5] = [
        RespCode::InUse,
        RespCode::LoginDelay,
        RespCode::SysTemp,
        RespCode::SysPerm,
        RespCode::Auth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::Auth => "AUTH",
        }
    }

    /// Parses a code (case-insensitive); unknown codes are `None`.
    pub fn parse(s: &str) -> Option<RespCode> {
        RespCode::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A one-line reply: the first line of every reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub code: Option<RespCode>,
    pub text: String,
}

impl Response {
    pub fn ok(text: impl Into<String>) -> Response {
        Response {
            status: Status::Ok,
            code: None,
            text: text.into(),
        }
    }

    pub fn err(text: impl Into<String>) -> Response {
        Response {
            status: Status::Err,
            code: None,
            text: text.into(),
        }
    }

    pub fn err_code(code: RespCode, text: impl Into<String>) -> Response {
        Response {
            status: Status::Err,
            code: Some(code),
            text: text.into(),
        }
    }

    /// Appends the reply line, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.status {
            Status::Ok => b"+OK",
            Status::Err => b"-ERR",
        });
        if let Some(code) = self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend(
                self.text
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Parses a reply line (without CRLF), as a client reads it.
    pub fn parse(line: &[u8]) -> Option<Response> {
        let line = std::str::from_utf8(line).ok()?;
        let (status, rest) = if let Some(rest) = line.strip_prefix("+OK") {
            (Status::Ok, rest)
        } else if let Some(rest) = line.strip_prefix("-ERR") {
            (Status::Err, rest)
        } else {
            return None;
        };
        if !rest.is_empty() && !rest.starts_with(' ') {
            return None;
        }
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        // RFC 2449 §8: the code directly follows the status indicator.
        if let Some(inner) = rest.strip_prefix('[')
            && let Some((code, text)) = inner.split_once(']')
            && let Some(code) = RespCode::parse(code)
        {
            return Some(Response {
                status,
                code: Some(code),
                text: text.strip_prefix(' ').unwrap_or(text).to_string(),
            });
        }
        Some(Response {
            status,
            code: None,
            text: rest.to_string(),
        })
    }
}

/// Appends one line of a multi-line reply, dot-stuffed (RFC 1939 §3).
pub fn encode_line(out: &mut Vec<u8>, line: &str) {
    if line.starts_with('.') {
        out.push(b'.');
    }
    out.extend(
        line.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Appends the end of a multi-line reply: a line holding only `.`.
pub fn encode_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b".\r\n");
}

/// A capability line of the CAPA reply (RFC 2449 §6 and later RFCs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// RFC 2449 §6.1.
    Top,
    /// RFC 2449 §6.2: USER/PASS is allowed.
    User,
    /// RFC 2449 §6.3, RFC 5034 §5: the SASL mechanisms allowed now.
    Sasl(Vec<String>),
    /// RFC 2449 §6.4.
    RespCodes,
    /// RFC 3206 §6: `[AUTH]` is used.
    AuthRespCode,
    /// RFC 2449 §6.6.
    Pipelining,
    /// RFC 2449 §6.8.
    Uidl,
    /// RFC 2449 §6.9.
    Implementation(String),
    /// RFC 2595 §4.
    Stls,
    /// RFC 6856 §2.
    Utf8,
}

impl Capability {
    /// The capability line, without CRLF.
    pub fn line(&self) -> String {
        match self {
            Capability::Top => "TOP".into(),
            Capability::User => "USER".into(),
            Capability::Sasl(mechs) => format!("SASL {}", mechs.join(" ")),
            Capability::RespCodes => "RESP-CODES".into(),
            Capability::AuthRespCode => "AUTH-RESP-CODE".into(),
            Capability::Pipelining => "PIPELINING".into(),
            Capability::Uidl => "UIDL".into(),
            Capability::Implementation(s) => format!("IMPLEMENTATION {s}"),
            Capability::Stls => "STLS".into(),
            Capability::Utf8 => "UTF8".into(),
        }
    }

    /// Appends the whole CAPA reply (RFC 2449 §5).
    pub fn encode_list(caps: &[Capability], out: &mut Vec<u8>) {
        Response::ok("Capability list follows").encode(out);
        for cap in caps {
            encode_line(out, &cap.line());
        }
        encode_end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response) -> String {
        let mut out = Vec::new();
        r.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_lines_with_codes() {
        // RFC 1939 §10 and RFC 2449 §8.1.1.
        assert_eq!(
            text(&Response::ok(
                "mrose's maildrop has 2 messages (320 octets)"
            )),
            "+OK mrose's maildrop has 2 messages (320 octets)\r\n"
        );
        assert_eq!(
            text(&Response::err_code(
                RespCode::InUse,
                "Do you have another POP session running?"
            )),
            "-ERR [IN-USE] Do you have another POP session running?\r\n"
        );
        assert_eq!(text(&Response::ok("")), "+OK\r\n");
        assert_eq!(
            text(&Response::err("a\r\nb")),
            "-ERR a  b\r\n",
            "a reply stays one line"
        );
    }

    #[test]
    fn parse_round_trips() {
        for r in [
            Response::ok("dewey POP3 server signing off"),
            Response::err("no such message"),
            Response::err_code(RespCode::SysTemp, "server shutting down"),
            Response::err_code(RespCode::Auth, "bad password"),
            Response::ok(""),
        ] {
            let line = text(&r);
            assert_eq!(
                Response::parse(line.trim_end_matches("\r\n").as_bytes()),
                Some(r)
            );
        }
        assert_eq!(
            Response::parse(b"-ERR [X-UNKNOWN] text"),
            Some(Response::err("[X-UNKNOWN] text"))
        );
        assert_eq!(Response::parse(b"+OKAY"), None);
        assert_eq!(Response::parse(b"* OK"), None);
    }

    #[test]
    fn capa_list_is_dot_terminated() {
        // RFC 2449 §5 example, shortened.
        let mut out = Vec::new();
        Capability::encode_list(
            &[
                Capability::Top,
                Capability::User,
                Capability::Sasl(vec!["PLAIN".into()]),
                Capability::RespCodes,
                Capability::Implementation("Tidings".into()),
            ],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nIMPLEMENTATION Tidings\r\n.\r\n"
        );
    }

    #[test]
    fn multi_line_text_is_dot_stuffed() {
        let mut out = Vec::new();
        encode_line(&mut out, ".hidden");
        encode_line(&mut out, "1 M7");
        encode_end(&mut out);
        assert_eq!(out, b"..hidden\r\n1 M7\r\n.\r\n");
    }
}
