//! POP3 commands: parsing (server side) and encoding (client side).
//!
//! Grammar (RFC 1939 §3, RFC 2449 §3): a case-insensitive keyword, then
//! arguments separated by spaces. Implemented commands:
//!
//! | command | standard |
//! |---|---|
//! | `USER name`, `PASS string`, `QUIT` | RFC 1939 §4, §7 |
//! | `STAT`, `LIST [msg]`, `RETR msg`, `DELE msg`, `NOOP`, `RSET` | RFC 1939 §5 |
//! | `TOP msg n`, `UIDL [msg]` | RFC 1939 §7 |
//! | `CAPA` | RFC 2449 §5 |
//! | `AUTH [mechanism [initial-response]]` | RFC 5034 §4 (bare `AUTH` lists mechanisms, as common servers do) |
//! | `STLS` | RFC 2595 §4 |
//! | `UTF8` | RFC 6856 §2 |
//!
//! `APOP` is not offered (it needs the plaintext password on the server):
//! it parses as an unknown command.
//!
//! Leniency: runs of spaces between arguments are accepted. `PASS` takes
//! the whole rest of the line, spaces included (RFC 1939 §7 notes that a
//! server may do so). Arguments must be UTF-8 (RFC 6856 allows UTF-8 user
//! names and passwords; ASCII is a subset).

use tidings_types::Secret;

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Secret<String>),
    Quit,
    Stat,
    /// `LIST` or `LIST msg`.
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    /// `TOP msg n`: the header and `n` lines of the body.
    Top {
        msg: u32,
        lines: u32,
    },
    /// `UIDL` or `UIDL msg`.
    Uidl(Option<u32>),
    Capa,
    /// `AUTH`, `AUTH mech` or `AUTH mech initial-response`. The mechanism
    /// is upper-cased; the initial response is the base64 text as sent
    /// (`=` is an empty one, RFC 5034 §4).
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Stls,
    Utf8,
}

/// Why a line is not a command; the text is fit for a `-ERR` reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty command line")]
    Empty,
    #[error("command line is not UTF-8")]
    NotUtf8,
    #[error("unknown command {0}")]
    Unknown(String),
    #[error("{command} takes {expected}")]
    Arguments {
        command: &'static str,
        expected: &'static str,
    },
    #[error("{0} is not a valid number")]
    BadNumber(String),
}

impl Command {
    /// The command's keyword, upper case (for logs and replies).
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Utf8 => "UTF8",
        }
    }

    /// Parses one command line (without its CRLF).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        if line.trim_matches(' ').is_empty() {
            return Err(ParseError::Empty);
        }
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
        let none = |command: &'static str, cmd: Command| {
            if args.is_empty() {
                Ok(cmd)
            } else {
                Err(ParseError::Arguments {
                    command,
                    expected: "no arguments",
                })
            }
        };
        match keyword.as_str() {
            "USER" => match args[..] {
                [name] => Ok(Command::User(name.to_string())),
                _ => Err(ParseError::Arguments {
                    command: "USER",
                    expected: "one argument: the user name",
                }),
            },
            // RFC 1939 §7: the argument may contain spaces.
            "PASS" if !rest.is_empty() => Ok(Command::Pass(Secret::new(rest.to_string()))),
            "PASS" => Err(ParseError::Arguments {
                command: "PASS",
                expected: "one argument: the password",
            }),
            "QUIT" => none("QUIT", Command::Quit),
            "STAT" => none("STAT", Command::Stat),
            "NOOP" => none("NOOP", Command::Noop),
            "RSET" => none("RSET", Command::Rset),
            "CAPA" => none("CAPA", Command::Capa),
            "STLS" => none("STLS", Command::Stls),
            "UTF8" => none("UTF8", Command::Utf8),
            "LIST" | "UIDL" => {
                let msg = match args[..] {
                    [] => None,
                    [n] => Some(number(n)?),
                    _ => {
                        return Err(ParseError::Arguments {
                            command: if keyword == "LIST" { "LIST" } else { "UIDL" },
                            expected: "at most one argument: a message number",
                        });
                    }
                };
                Ok(if keyword == "LIST" {
                    Command::List(msg)
                } else {
                    Command::Uidl(msg)
                })
            }
            "RETR" | "DELE" => match args[..] {
                [n] => {
                    let n = number(n)?;
                    Ok(if keyword == "RETR" {
                        Command::Retr(n)
                    } else {
                        Command::Dele(n)
                    })
                }
                _ => Err(ParseError::Arguments {
                    command: if keyword == "RETR" { "RETR" } else { "DELE" },
                    expected: "one argument: a message number",
                }),
            },
            "TOP" => match args[..] {
                [msg, lines] => Ok(Command::Top {
                    msg: number(msg)?,
                    lines: number(lines)?,
                }),
                _ => Err(ParseError::Arguments {
                    command: "TOP",
                    expected: "two arguments: a message number and a number of lines",
                }),
            },
            "AUTH" => match args[..] {
                [] => Ok(Command::Auth {
                    mechanism: None,
                    initial: None,
                }),
                [mech] => Ok(Command::Auth {
                    mechanism: Some(mech.to_ascii_uppercase()),
                    initial: None,
                }),
                [mech, initial] => Ok(Command::Auth {
                    mechanism: Some(mech.to_ascii_uppercase()),
                    initial: Some(initial.to_string()),
                }),
                _ => Err(ParseError::Arguments {
                    command: "AUTH",
                    expected: "a mechanism and an optional initial response",
                }),
            },
            _ => Err(ParseError::Unknown(printable(&keyword))),
        }
    }

    /// Appends the command as a client sends it, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut put = |s: &str| out.extend_from_slice(s.as_bytes());
        match self {
            Command::User(name) => put(&format!("USER {name}")),
            Command::Pass(p) => put(&format!("PASS {}", p.expose())),
            Command::List(Some(n)) => put(&format!("LIST {n}")),
            Command::Uidl(Some(n)) => put(&format!("UIDL {n}")),
            Command::Retr(n) => put(&format!("RETR {n}")),
            Command::Dele(n) => put(&format!("DELE {n}")),
            Command::Top { msg, lines } => put(&format!("TOP {msg} {lines}")),
            Command::Auth {
                mechanism: Some(m),
                initial,
            } => {
                put(&format!("AUTH {m}"));
                if let Some(i) = initial {
                    put(&format!(" {i}"));
                }
            }
            other => put(other.keyword()),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A message number or line count: ASCII digits, fitting in 32 bits.
fn number(arg: &str) -> Result<u32, ParseError> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber(printable(arg)));
    }
    arg.parse()
        .map_err(|_| ParseError::BadNumber(printable(arg)))
}

/// At most 40 printable ASCII characters of what the peer sent, to echo it.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if s.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, ParseError> {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn rfc1939_example_session() {
        // RFC 1939 §10 (the example POP3 session) and the §4–7 examples.
        assert_eq!(
            parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb").unwrap_err(),
            ParseError::Unknown("APOP".into())
        );
        assert_eq!(parse("USER mrose").unwrap(), Command::User("mrose".into()));
        assert_eq!(
            parse("PASS secret").unwrap(),
            Command::Pass(Secret::new("secret".into()))
        );
        assert_eq!(parse("STAT").unwrap(), Command::Stat);
        assert_eq!(parse("LIST").unwrap(), Command::List(None));
        assert_eq!(parse("LIST 2").unwrap(), Command::List(Some(2)));
        assert_eq!(parse("RETR 1").unwrap(), Command::Retr(1));
        assert_eq!(parse("DELE 1").unwrap(), Command::Dele(1));
        assert_eq!(parse("NOOP").unwrap(), Command::Noop);
        assert_eq!(parse("RSET").unwrap(), Command::Rset);
        assert_eq!(
            parse("TOP 1 10").unwrap(),
            Command::Top { msg: 1, lines: 10 }
        );
        assert_eq!(parse("UIDL").unwrap(), Command::Uidl(None));
        assert_eq!(parse("UIDL 2").unwrap(), Command::Uidl(Some(2)));
        assert_eq!(parse("QUIT").unwrap(), Command::Quit);
    }

    #[test]
    fn extensions() {
        assert_eq!(parse("CAPA").unwrap(), Command::Capa);
        assert_eq!(parse("STLS").unwrap(), Command::Stls);
        assert_eq!(parse("UTF8").unwrap(), Command::Utf8);
        assert_eq!(
            parse("AUTH").unwrap(),
            Command::Auth {
                mechanism: None,
                initial: None
            }
        );
        // RFC 5034 §4 examples.
        assert_eq!(
            parse("AUTH plain dGVzdAB0ZXN0AHRlc3Q=").unwrap(),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("dGVzdAB0ZXN0AHRlc3Q=".into())
            }
        );
        assert_eq!(
            parse("AUTH PLAIN =").unwrap(),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("=".into())
            }
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_pass_keeps_spaces() {
        assert_eq!(parse("stat").unwrap(), Command::Stat);
        assert_eq!(parse("rEtR 7").unwrap(), Command::Retr(7));
        assert_eq!(
            parse("PASS  two words ").unwrap(),
            Command::Pass(Secret::new(" two words ".into()))
        );
        assert_eq!(parse("LIST  3 ").unwrap(), Command::List(Some(3)));
        assert_eq!(
            parse("USER jörg@example.org").unwrap(),
            Command::User("jörg@example.org".into())
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(parse("").unwrap_err(), ParseError::Empty);
        assert_eq!(parse("  ").unwrap_err(), ParseError::Empty);
        assert_eq!(
            Command::parse(b"USER \xff").unwrap_err(),
            ParseError::NotUtf8
        );
        assert_eq!(
            parse("FROB 1").unwrap_err(),
            ParseError::Unknown("FROB".into())
        );
        assert_eq!(
            parse("RETR x").unwrap_err(),
            ParseError::BadNumber("x".into())
        );
        assert_eq!(
            parse("RETR -1").unwrap_err(),
            ParseError::BadNumber("-1".into())
        );
        assert_eq!(
            parse("RETR 99999999999").unwrap_err(),
            ParseError::BadNumber("99999999999".into())
        );
        assert!(matches!(
            parse("RETR").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        assert!(matches!(
            parse("TOP 1").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        assert!(matches!(
            parse("STAT 1").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        assert!(matches!(
            parse("USER").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        assert!(matches!(
            parse("PASS").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        assert!(matches!(
            parse("USER a b").unwrap_err(),
            ParseError::Arguments { .. }
        ));
        let long = format!("X{}", "Y".repeat(100));
        let ParseError::Unknown(echo) = parse(&long).unwrap_err() else {
            panic!()
        };
        assert_eq!(echo.len(), 43);
        assert_eq!(
            parse("B\u{1}D").unwrap_err(),
            ParseError::Unknown("B?D".into())
        );
    }

    #[test]
    fn encode_then_parse() {
        for cmd in [
            Command::User("bob@localhost".into()),
            Command::Pass(Secret::new("a b".into())),
            Command::Top { msg: 3, lines: 0 },
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("=".into()),
            },
            Command::List(None),
            Command::Uidl(Some(9)),
        ] {
            let mut out = Vec::new();
            cmd.encode(&mut out);
            assert!(out.ends_with(b"\r\n"));
            assert_eq!(Command::parse(&out[..out.len() - 2]).unwrap(), cmd);
        }
    }
}
