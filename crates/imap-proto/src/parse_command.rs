//! The command parser (RFC 9051 §9 `command` and the extensions' grammar).
//!
//! Input is one complete command as the [`crate::Framer`] returns it: the
//! lines and the literals' bytes, ending with CRLF. Command names, search
//! keys and fetch attributes are matched case-insensitively through tables.

use base64::Engine as _;
use tidings_types::{Keyword, Secret};

use crate::command::*;
use crate::error::{ParseError, ParseErrorKind};
use crate::parse::{Cursor, MAX_DEPTH, PResult};
use crate::types::{Partial, Section, SectionText, Tag, is_astring_char};

/// What the parser must know about the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodecOptions {
    /// Mailbox names are UTF-8 rather than modified UTF-7: IMAP4rev2 or
    /// UTF8=ACCEPT is enabled (RFC 9051 §5.1, RFC 6855 §3).
    pub utf8: bool,
}

/// Parses one complete command (with its CRLF and literals).
pub fn parse_command(input: &[u8], opts: CodecOptions) -> Result<Command, ParseError> {
    let mut c = Cursor::new(input, opts.utf8);
    let tag_end = input
        .iter()
        .position(|&b| !is_astring_char(b) || b == b'+')
        .unwrap_or(input.len());
    let tag = std::str::from_utf8(&input[..tag_end])
        .ok()
        .and_then(|s| Tag::new(s).ok());
    let Some(tag) = tag else {
        let kind = c
            .expected::<()>("a tag")
            .err()
            .unwrap_or_else(|| ParseErrorKind::Syntax("expected a tag".into()));
        return Err(ParseError { tag: None, kind });
    };
    c.advance(tag_end);
    let body = (|| {
        c.sp()?;
        let body = command_body(&mut c)?;
        c.end()?;
        Ok(body)
    })();
    match body {
        Ok(body) => Ok(Command { tag, body }),
        Err(kind) => Err(ParseError {
            tag: Some(tag),
            kind,
        }),
    }
}

type Parser = fn(&mut Cursor<'_>, bool) -> PResult<CommandBody>;

/// Command name, whether `UID name` exists, and its argument parser.
const COMMANDS: &[(&str, bool, Parser)] = &[
    ("CAPABILITY", false, |_, _| Ok(CommandBody::Capability)),
    ("NOOP", false, |_, _| Ok(CommandBody::Noop)),
    ("LOGOUT", false, |_, _| Ok(CommandBody::Logout)),
    ("STARTTLS", false, |_, _| Ok(CommandBody::StartTls)),
    ("AUTHENTICATE", false, authenticate),
    ("LOGIN", false, login),
    ("ENABLE", false, enable),
    ("SELECT", false, |c, _| select(c, false)),
    ("EXAMINE", false, |c, _| select(c, true)),
    ("CREATE", false, create),
    ("DELETE", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::Delete {
            mailbox: c.mailbox()?,
        })
    }),
    ("RENAME", false, |c, _| {
        c.sp()?;
        let from = c.mailbox()?;
        c.sp()?;
        Ok(CommandBody::Rename {
            from,
            to: c.mailbox()?,
        })
    }),
    ("SUBSCRIBE", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::Subscribe {
            mailbox: c.mailbox()?,
        })
    }),
    ("UNSUBSCRIBE", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::Unsubscribe {
            mailbox: c.mailbox()?,
        })
    }),
    ("LIST", false, list),
    ("LSUB", false, |c, _| {
        c.sp()?;
        let reference = c.mailbox()?;
        c.sp()?;
        Ok(CommandBody::Lsub {
            reference,
            pattern: c.list_mailbox()?,
        })
    }),
    ("NAMESPACE", false, |_, _| Ok(CommandBody::Namespace)),
    ("STATUS", false, status),
    ("APPEND", false, append),
    ("REPLACE", true, replace),
    ("IDLE", false, |_, _| Ok(CommandBody::Idle)),
    ("CHECK", false, |_, _| Ok(CommandBody::Check)),
    ("CLOSE", false, |_, _| Ok(CommandBody::Close)),
    ("UNSELECT", false, |_, _| Ok(CommandBody::Unselect)),
    ("EXPUNGE", true, |c, uid| {
        if uid {
            c.sp()?;
            Ok(CommandBody::UidExpunge(c.sequence_set()?))
        } else {
            Ok(CommandBody::Expunge)
        }
    }),
    ("SEARCH", true, search),
    ("FETCH", true, fetch),
    ("STORE", true, store),
    ("COPY", true, |c, uid| {
        let (set, mailbox) = set_and_mailbox(c)?;
        Ok(CommandBody::Copy { uid, set, mailbox })
    }),
    ("MOVE", true, |c, uid| {
        let (set, mailbox) = set_and_mailbox(c)?;
        Ok(CommandBody::Move { uid, set, mailbox })
    }),
    ("ID", false, id),
    ("SORT", true, sort),
    ("THREAD", true, thread),
    ("GETQUOTA", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::GetQuota(c.astring_utf8("quota root")?))
    }),
    ("GETQUOTAROOT", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::GetQuotaRoot(c.mailbox()?))
    }),
    ("SETQUOTA", false, setquota),
    ("GETMETADATA", false, getmetadata),
    ("SETMETADATA", false, setmetadata),
    ("NOTIFY", false, notify),
    ("CANCELUPDATE", false, |c, _| {
        // RFC 5267 §4.4: "CANCELUPDATE" 1*(SP quoted)
        let mut tags = Vec::new();
        while c.eat(b' ') {
            tags.push(c.string_utf8("tag")?);
        }
        if tags.is_empty() {
            return c.expected("a tag");
        }
        Ok(CommandBody::CancelUpdate(tags))
    }),
    ("RESETKEY", false, resetkey),
    ("GENURLAUTH", false, genurlauth),
    ("URLFETCH", false, |c, _| {
        // RFC 4467 §9: urlfetch = "URLFETCH" 1*(SP url-full)
        let mut urls = Vec::new();
        while !c.at_end() {
            c.sp()?;
            urls.push(c.astring_utf8("URL")?);
        }
        if urls.is_empty() {
            return c.expected("a URL");
        }
        Ok(CommandBody::UrlFetch(urls))
    }),
    // RFC 4314 §3, §5 (identifier and rights are astrings).
    ("SETACL", false, |c, _| {
        let (mailbox, identifier) = mailbox_and_identifier(c)?;
        c.sp()?;
        let rights = c.astring_utf8("rights")?;
        Ok(CommandBody::SetAcl {
            mailbox,
            identifier,
            rights,
        })
    }),
    ("DELETEACL", false, |c, _| {
        let (mailbox, identifier) = mailbox_and_identifier(c)?;
        Ok(CommandBody::DeleteAcl {
            mailbox,
            identifier,
        })
    }),
    ("GETACL", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::GetAcl {
            mailbox: c.mailbox()?,
        })
    }),
    ("LISTRIGHTS", false, |c, _| {
        let (mailbox, identifier) = mailbox_and_identifier(c)?;
        Ok(CommandBody::ListRights {
            mailbox,
            identifier,
        })
    }),
    ("MYRIGHTS", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::MyRights {
            mailbox: c.mailbox()?,
        })
    }),
    ("COMPRESS", false, |c, _| {
        c.sp()?;
        Ok(CommandBody::Compress(c.atom_upper()?))
    }),
];

fn command_body(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let mut name = c.name()?;
    let uid = name == "UID";
    if uid {
        c.sp()?;
        name = c.name()?;
    }
    match COMMANDS.iter().find(|(n, _, _)| *n == name) {
        Some((_, uid_ok, parse)) if !uid || *uid_ok => parse(c, uid),
        _ if uid => Err(ParseErrorKind::UnknownCommand(format!("UID {name}"))),
        _ => Err(ParseErrorKind::UnknownCommand(name)),
    }
}

fn authenticate(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mechanism = c.atom_upper()?;
    let initial_response = if c.eat(b' ') {
        // RFC 4959 §7: initial-response = base64 / "="
        Some(Secret::new(sasl_data(c)?))
    } else {
        None
    };
    Ok(CommandBody::Authenticate {
        mechanism,
        initial_response,
    })
}

/// `base64` or `=` (empty), up to the end of the line.
fn sasl_data(c: &mut Cursor<'_>) -> PResult<Vec<u8>> {
    let start = c.pos();
    let rest = c.rest();
    let len = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let text = &rest[..len];
    c.advance(len);
    if text == b"=" {
        return Ok(Vec::new());
    }
    if text.is_empty() {
        return c.invalid(format!("expected base64 or '=' at byte {start}"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ParseErrorKind::Syntax(format!("invalid base64 at byte {start}: {e}")))
}

fn login(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let username = c.astring_utf8("user name")?;
    c.sp()?;
    let password = Secret::new(c.astring_utf8("password")?);
    Ok(CommandBody::Login { username, password })
}

fn enable(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    let mut caps = Vec::new();
    // RFC 5161 §4: command-any =/ "ENABLE" 1*(SP capability)
    loop {
        c.sp()?;
        caps.push(c.atom_upper()?);
        if c.at_end() {
            return Ok(CommandBody::Enable(caps));
        }
    }
}

fn select(c: &mut Cursor<'_>, read_only: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut params = SelectParams::default();
    if c.eat(b' ') {
        // RFC 7162 §3.1.8, §3.2.5 select-param
        c.paren_list(false, |c| {
            if c.eat_word("CONDSTORE") {
                params.condstore = true;
                Ok(())
            } else if c.eat_word("QRESYNC") {
                c.sp()?;
                c.byte(b'(', "'('")?;
                let uid_validity = c.nz_number()?;
                c.sp()?;
                let mod_seq = c.number64()?;
                let mut q = QresyncParams {
                    uid_validity,
                    mod_seq,
                    known_uids: None,
                    seq_match: None,
                };
                if c.eat(b' ') {
                    if c.peek() != Some(b'(') {
                        q.known_uids = Some(c.sequence_set()?);
                        if c.eat(b' ') {
                            q.seq_match = Some(seq_match(c)?);
                        }
                    } else {
                        q.seq_match = Some(seq_match(c)?);
                    }
                }
                c.byte(b')', "')'")?;
                params.qresync = Some(q);
                Ok(())
            } else {
                c.expected("CONDSTORE or QRESYNC")
            }
        })?;
    }
    Ok(CommandBody::Select {
        mailbox,
        read_only,
        params,
    })
}

fn seq_match(c: &mut Cursor<'_>) -> PResult<(crate::SequenceSet, crate::SequenceSet)> {
    c.byte(b'(', "'('")?;
    let seqs = c.sequence_set()?;
    c.sp()?;
    let uids = c.sequence_set()?;
    c.byte(b')', "')'")?;
    Ok((seqs, uids))
}

fn create(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.eat(b' ') {
        // RFC 6154 §6 create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"
        c.paren_list(false, |c| {
            c.word("USE")?;
            c.sp()?;
            special_use.extend(c.paren_list(true, |c| {
                c.byte(b'\\', "a special-use attribute")?;
                Ok(format!("\\{}", c.atom()?))
            })?);
            Ok(())
        })?;
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

const LIST_SELECT: [(&str, ListSelect); 4] = [
    ("SUBSCRIBED", ListSelect::Subscribed),
    ("REMOTE", ListSelect::Remote),
    ("RECURSIVEMATCH", ListSelect::RecursiveMatch),
    ("SPECIAL-USE", ListSelect::SpecialUse),
];

fn list(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    // RFC 5258 §6 list-select-opts
    let selection = if c.peek() == Some(b'(') {
        let sel = c.paren_list(true, |c| {
            let n = c.atom_upper()?;
            match LIST_SELECT.iter().find(|(k, _)| *k == n) {
                Some((_, v)) => Ok(v.clone()),
                None => c.invalid(format!("unknown LIST selection option {n}")),
            }
        })?;
        c.sp()?;
        sel
    } else {
        Vec::new()
    };
    let reference = c.mailbox()?;
    c.sp()?;
    let patterns = if c.peek() == Some(b'(') {
        c.paren_list(false, |c| c.list_mailbox())?
    } else {
        vec![c.list_mailbox()?]
    };
    let return_options = if c.eat(b' ') {
        c.word("RETURN")?;
        c.sp()?;
        Some(c.paren_list(true, |c| {
            let n = c.atom_upper()?;
            match n.as_str() {
                "SUBSCRIBED" => Ok(ListReturn::Subscribed),
                "CHILDREN" => Ok(ListReturn::Children),
                "SPECIAL-USE" => Ok(ListReturn::SpecialUse),
                "MYRIGHTS" => Ok(ListReturn::MyRights),
                "STATUS" => {
                    c.sp()?;
                    Ok(ListReturn::Status(c.paren_list(false, status_item)?))
                }
                _ => c.invalid(format!("unknown LIST return option {n}")),
            }
        })?)
    } else {
        None
    };
    Ok(CommandBody::List(List {
        selection,
        reference,
        patterns,
        return_options,
    }))
}

fn status_item(c: &mut Cursor<'_>) -> PResult<StatusItem> {
    let n = c.atom_upper()?;
    match StatusItem::TABLE.iter().find(|(k, _)| *k == n) {
        Some((_, v)) => Ok(*v),
        None => c.invalid(format!("unknown STATUS item {n}")),
    }
}

fn status(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = c.paren_list(false, status_item)?;
    Ok(CommandBody::Status { mailbox, items })
}

fn append(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    // RFC 3502 §6: append = "APPEND" SP mailbox 1*append-message
    while !c.at_end() {
        c.sp()?;
        messages.push(append_message(c)?);
    }
    if messages.is_empty() {
        return c.expected("space and a message");
    }
    Ok(CommandBody::Append { mailbox, messages })
}

/// RFC 4466 §2.3 append-message = append-opts SP append-data, after its SP.
fn append_message(c: &mut Cursor<'_>) -> PResult<AppendMessage> {
    let flags = if c.peek() == Some(b'(') {
        let f = c.flag_list()?;
        c.sp()?;
        f
    } else {
        Vec::new()
    };
    let date = if c.peek() == Some(b'"') {
        let d = c.date_time()?;
        c.sp()?;
        Some(d)
    } else {
        None
    };
    let (data, kind) = match c.peek() {
        Some(b'{') => (c.literal()?, AppendDataKind::Literal),
        Some(b'~') => (c.literal8()?, AppendDataKind::Literal8),
        _ if c.eat_word("UTF8") => {
            // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")"
            c.sp()?;
            c.byte(b'(', "'('")?;
            let d = c.literal8()?;
            c.byte(b')', "')'")?;
            (d, AppendDataKind::Utf8)
        }
        _ if c.eat_word("CATENATE") => {
            // RFC 4469 §5: "CATENATE" SP "(" cat-part *(SP cat-part) ")"
            c.sp()?;
            let parts = c.paren_list(false, cat_part)?;
            if parts.is_empty() {
                return c.expected("a CATENATE part");
            }
            (Vec::new(), AppendDataKind::Catenate(parts))
        }
        _ => return c.expected("a literal with the message"),
    };
    Ok(AppendMessage {
        flags,
        date,
        data,
        kind,
    })
}

/// RFC 4469 §5 cat-part = text-literal / url; RFC 6855 §4 cat-part =/
/// utf8-literal.
fn cat_part(c: &mut Cursor<'_>) -> PResult<CatPart> {
    if c.eat_word("TEXT") {
        c.sp()?;
        return Ok(match c.peek() {
            Some(b'~') => CatPart::Text {
                data: c.literal8()?,
                kind: TextKind::Literal8,
            },
            _ => CatPart::Text {
                data: c.literal()?,
                kind: TextKind::Literal,
            },
        });
    }
    if c.eat_word("UTF8") {
        c.sp()?;
        c.byte(b'(', "'('")?;
        let data = c.literal8()?;
        c.byte(b')', "')'")?;
        return Ok(CatPart::Text {
            data,
            kind: TextKind::Utf8,
        });
    }
    if c.eat_word("URL") {
        c.sp()?;
        let url = c.astring_utf8("URL")?;
        return Ok(CatPart::Url(url));
    }
    c.expected("TEXT, URL or UTF8")
}

/// RFC 4467 §9 mechanism = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / "."),
/// upper-cased.
fn urlauth_mechanism(c: &mut Cursor<'_>) -> PResult<String> {
    let m = c.atom_upper()?;
    if !m
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return c.invalid(format!("{m} is not a URLAUTH mechanism"));
    }
    Ok(m)
}

/// RFC 4467 §9: resetkey = "RESETKEY" [SP mailbox *(SP mechanism)]
fn resetkey(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    if c.at_end() {
        return Ok(CommandBody::ResetKey {
            mailbox: None,
            mechanisms: Vec::new(),
        });
    }
    c.sp()?;
    let mailbox = Some(c.mailbox()?);
    let mut mechanisms = Vec::new();
    while !c.at_end() {
        c.sp()?;
        mechanisms.push(urlauth_mechanism(c)?);
    }
    Ok(CommandBody::ResetKey {
        mailbox,
        mechanisms,
    })
}

/// RFC 4467 §9: genurlauth = "GENURLAUTH" 1*(SP url-rump SP mechanism)
fn genurlauth(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    let mut urls = Vec::new();
    while !c.at_end() {
        c.sp()?;
        let url = c.astring_utf8("URL")?;
        c.sp()?;
        urls.push((url, urlauth_mechanism(c)?));
    }
    if urls.is_empty() {
        return c.expected("a URL and a mechanism");
    }
    Ok(CommandBody::GenUrlAuth(urls))
}

/// RFC 8508 §6: replace = "REPLACE" SP seq-number SP mailbox append-message;
/// uid-replace = "UID" SP replace (the number is then a UID).
fn replace(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let number = c.seq_number()?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let message = append_message(c)?;
    Ok(CommandBody::Replace {
        uid,
        number,
        mailbox,
        message,
    })
}

fn set_and_mailbox(c: &mut Cursor<'_>) -> PResult<(crate::SequenceSet, String)> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    Ok((set, c.mailbox()?))
}

const SEARCH_RETURN: [(&str, SearchReturn); 7] = [
    ("MIN", SearchReturn::Min),
    ("MAX", SearchReturn::Max),
    ("ALL", SearchReturn::All),
    ("COUNT", SearchReturn::Count),
    ("SAVE", SearchReturn::Save),
    ("CONTEXT", SearchReturn::Context),
    ("UPDATE", SearchReturn::Update),
];

/// RFC 4731 §7 search-return-opts (RFC 5267 §5 sort-return-opts are the
/// same) and the space after them, if present.
fn return_options(c: &mut Cursor<'_>) -> PResult<Option<Vec<SearchReturn>>> {
    if !c.eat_word("RETURN") {
        return Ok(None);
    }
    c.sp()?;
    let opts = c.paren_list(true, |c| {
        let n = c.atom_upper()?;
        if n == "PARTIAL" {
            c.sp()?;
            return Ok(SearchReturn::Partial(partial_range(c)?));
        }
        match SEARCH_RETURN.iter().find(|(k, _)| *k == n) {
            Some((_, v)) => Ok(*v),
            None => c.invalid(format!("unknown SEARCH return option {n}")),
        }
    })?;
    // RFC 9394 §3.1: PARTIAL and ALL are mutually exclusive, and one
    // PARTIAL at most.
    let partials = opts
        .iter()
        .filter(|o| matches!(o, SearchReturn::Partial(_)))
        .count();
    if partials > 1 || (partials == 1 && opts.contains(&SearchReturn::All)) {
        return c.invalid("PARTIAL conflicts with ALL or another PARTIAL".into());
    }
    if opts.iter().filter(|o| **o == SearchReturn::Update).count() > 1 {
        return c.invalid("UPDATE given twice".into());
    }
    c.sp()?;
    Ok(Some(opts))
}

/// RFC 9394 §4 partial-range = partial-range-first / partial-range-last:
/// `nz-number ":" nz-number` or `"-" nz-number ":" "-" nz-number`.
pub(crate) fn partial_range(c: &mut Cursor<'_>) -> PResult<PartialRange> {
    let from_end = c.eat(b'-');
    let first = c.nz_number()?;
    c.byte(b':', "':'")?;
    if from_end {
        c.byte(
            b'-',
            "'-' (both ends of a partial range count from the end)",
        )?;
    }
    let second = c.nz_number()?;
    Ok(PartialRange {
        from_end,
        first,
        second,
    })
}

fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    // RFC 4731 §7 search-return-opts
    let return_options = return_options(c)?;
    let charset = if c.eat_word("CHARSET") {
        c.sp()?;
        let cs = charset(c)?;
        c.sp()?;
        Some(cs)
    } else {
        None
    };
    let criteria = search_keys(c)?;
    Ok(CommandBody::Search(Search {
        uid,
        return_options,
        charset,
        criteria,
    }))
}

/// A charset (atom or quoted string), upper-cased; only the ones every
/// server supports are accepted (RFC 9051 §6.4.4: NO [BADCHARSET] otherwise).
fn charset(c: &mut Cursor<'_>) -> PResult<String> {
    let raw = if c.peek() == Some(b'"') {
        c.quoted()?
    } else {
        c.atom()?.as_bytes().to_vec()
    };
    let cs = String::from_utf8_lossy(&raw).to_ascii_uppercase();
    match cs.as_str() {
        "UTF-8" | "US-ASCII" => Ok(cs),
        _ => Err(ParseErrorKind::BadCharset(cs)),
    }
}

/// 1*(key SP) up to the end of the line.
fn search_keys(c: &mut Cursor<'_>) -> PResult<Vec<SearchKey>> {
    let mut keys = vec![search_key(c, 0)?];
    while c.eat(b' ') {
        keys.push(search_key(c, 0)?);
    }
    Ok(keys)
}

/// How a search key's arguments are read.
enum KeyArgs {
    None(SearchKey),
    Text(fn(String) -> SearchKey),
    Date(fn(crate::Date) -> SearchKey),
    Size(fn(u64) -> SearchKey),
    Seconds(fn(u32) -> SearchKey),
    Flag(fn(Keyword) -> SearchKey),
    Special,
}

/// RFC 9051 §6.4.4 search keys, then RFC 5032, 7162, 8474, 8514, Gmail.
const SEARCH_KEYS: &[(&str, KeyArgs)] = &[
    ("ALL", KeyArgs::None(SearchKey::All)),
    ("ANSWERED", KeyArgs::None(SearchKey::Answered)),
    ("BCC", KeyArgs::Text(SearchKey::Bcc)),
    ("BEFORE", KeyArgs::Date(SearchKey::Before)),
    ("BODY", KeyArgs::Text(SearchKey::Body)),
    ("CC", KeyArgs::Text(SearchKey::Cc)),
    ("DELETED", KeyArgs::None(SearchKey::Deleted)),
    ("DRAFT", KeyArgs::None(SearchKey::Draft)),
    ("FLAGGED", KeyArgs::None(SearchKey::Flagged)),
    ("FROM", KeyArgs::Text(SearchKey::From)),
    ("HEADER", KeyArgs::Special),
    ("KEYWORD", KeyArgs::Flag(SearchKey::Keyword)),
    ("LARGER", KeyArgs::Size(SearchKey::Larger)),
    ("NEW", KeyArgs::None(SearchKey::New)),
    ("NOT", KeyArgs::Special),
    ("OLD", KeyArgs::None(SearchKey::Old)),
    ("ON", KeyArgs::Date(SearchKey::On)),
    ("OR", KeyArgs::Special),
    ("RECENT", KeyArgs::None(SearchKey::Recent)),
    ("SEEN", KeyArgs::None(SearchKey::Seen)),
    ("SENTBEFORE", KeyArgs::Date(SearchKey::SentBefore)),
    ("SENTON", KeyArgs::Date(SearchKey::SentOn)),
    ("SENTSINCE", KeyArgs::Date(SearchKey::SentSince)),
    ("SINCE", KeyArgs::Date(SearchKey::Since)),
    ("SMALLER", KeyArgs::Size(SearchKey::Smaller)),
    ("SUBJECT", KeyArgs::Text(SearchKey::Subject)),
    ("TEXT", KeyArgs::Text(SearchKey::Text)),
    ("TO", KeyArgs::Text(SearchKey::To)),
    ("UID", KeyArgs::Special),
    ("UNANSWERED", KeyArgs::None(SearchKey::Unanswered)),
    ("UNDELETED", KeyArgs::None(SearchKey::Undeleted)),
    ("UNDRAFT", KeyArgs::None(SearchKey::Undraft)),
    ("UNFLAGGED", KeyArgs::None(SearchKey::Unflagged)),
    ("UNKEYWORD", KeyArgs::Flag(SearchKey::Unkeyword)),
    ("UNSEEN", KeyArgs::None(SearchKey::Unseen)),
    ("MODSEQ", KeyArgs::Special),
    ("OLDER", KeyArgs::Seconds(SearchKey::Older)),
    ("YOUNGER", KeyArgs::Seconds(SearchKey::Younger)),
    ("SAVEDBEFORE", KeyArgs::Date(SearchKey::SavedBefore)),
    ("SAVEDON", KeyArgs::Date(SearchKey::SavedOn)),
    ("SAVEDSINCE", KeyArgs::Date(SearchKey::SavedSince)),
    (
        "SAVEDATESUPPORTED",
        KeyArgs::None(SearchKey::SaveDateSupported),
    ),
    ("EMAILID", KeyArgs::Special),
    ("THREADID", KeyArgs::Special),
    ("X-GM-RAW", KeyArgs::Text(SearchKey::XGmRaw)),
    ("X-GM-MSGID", KeyArgs::Special),
    ("X-GM-THRID", KeyArgs::Special),
    ("X-GM-LABELS", KeyArgs::Special),
];

fn search_key(c: &mut Cursor<'_>, depth: usize) -> PResult<SearchKey> {
    if depth > MAX_DEPTH {
        return c.invalid(format!("search keys nest deeper than {MAX_DEPTH} levels"));
    }
    match c.peek() {
        Some(b'(') => {
            return Ok(SearchKey::And(
                c.paren_list(false, |c| search_key(c, depth + 1))?,
            ));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::SequenceSet(c.sequence_set()?)),
        _ => {}
    }
    let start = c.pos();
    let name = c.name()?;
    let Some((_, args)) = SEARCH_KEYS.iter().find(|(k, _)| *k == name) else {
        return c.invalid(format!("unknown search key {name} at byte {start}"));
    };
    if let KeyArgs::None(k) = args {
        return Ok(k.clone());
    }
    c.sp()?;
    Ok(match args {
        KeyArgs::None(k) => k.clone(),
        KeyArgs::Text(f) => f(c.astring_utf8("search text")?),
        KeyArgs::Date(f) => f(c.date()?),
        KeyArgs::Size(f) => f(c.number64()?),
        KeyArgs::Seconds(f) => f(c.nz_number()?),
        KeyArgs::Flag(f) => f(c.flag()?),
        KeyArgs::Special => match name.as_str() {
            "HEADER" => {
                let field = c.astring_utf8("header field name")?;
                c.sp()?;
                SearchKey::Header(field, c.astring_utf8("search text")?)
            }
            "NOT" => SearchKey::Not(Box::new(search_key(c, depth + 1)?)),
            "OR" => {
                let a = search_key(c, depth + 1)?;
                c.sp()?;
                SearchKey::Or(Box::new(a), Box::new(search_key(c, depth + 1)?))
            }
            "UID" => SearchKey::Uid(c.sequence_set()?),
            "MODSEQ" => {
                // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
                let entry = if c.peek() == Some(b'"') {
                    let raw = c.quoted()?;
                    let name = c.utf8(raw, "entry name")?;
                    c.sp()?;
                    let t = match c.atom_upper()?.as_str() {
                        "PRIV" => EntryType::Private,
                        "SHARED" => EntryType::Shared,
                        "ALL" => EntryType::All,
                        other => return c.invalid(format!("unknown entry type {other}")),
                    };
                    c.sp()?;
                    Some((name, t))
                } else {
                    None
                };
                SearchKey::ModSeq {
                    entry,
                    mod_seq: c.number64()?,
                }
            }
            "EMAILID" => SearchKey::EmailId(object_id(c)?),
            "THREADID" => SearchKey::ThreadId(object_id(c)?),
            "X-GM-MSGID" => SearchKey::XGmMsgId(c.number64()?),
            "X-GM-THRID" => SearchKey::XGmThrId(c.number64()?),
            "X-GM-LABELS" => SearchKey::XGmLabels(label(c)?),
            _ => return c.invalid(format!("unknown search key {name}")),
        },
    })
}

/// RFC 8474 §7 objectid = 1*255(ALPHA / DIGIT / "_" / "-")
fn object_id(c: &mut Cursor<'_>) -> PResult<String> {
    let start = c.pos();
    let a = c.atom()?;
    if a.len() > 255
        || !a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return c.invalid(format!("invalid object id at byte {start}"));
    }
    Ok(a.to_string())
}

/// A Gmail label: `\Inbox`-style system label or an astring decoded like a
/// mailbox name.
fn label(c: &mut Cursor<'_>) -> PResult<String> {
    if c.peek() == Some(b'\\') {
        c.flag_like()
    } else {
        c.mailbox()
    }
}

/// A FETCH attribute name and how it continues.
const FETCH_ATTRIBUTES: &[(&str, FetchAttribute)] = &[
    ("ENVELOPE", FetchAttribute::Envelope),
    ("FLAGS", FetchAttribute::Flags),
    ("INTERNALDATE", FetchAttribute::InternalDate),
    ("RFC822.SIZE", FetchAttribute::Rfc822Size),
    ("RFC822", FetchAttribute::Rfc822),
    ("RFC822.HEADER", FetchAttribute::Rfc822Header),
    ("RFC822.TEXT", FetchAttribute::Rfc822Text),
    ("BODYSTRUCTURE", FetchAttribute::BodyStructure),
    ("UID", FetchAttribute::Uid),
    ("MODSEQ", FetchAttribute::ModSeq),
    ("EMAILID", FetchAttribute::EmailId),
    ("THREADID", FetchAttribute::ThreadId),
    ("SAVEDATE", FetchAttribute::SaveDate),
    ("X-GM-MSGID", FetchAttribute::XGmMsgId),
    ("X-GM-THRID", FetchAttribute::XGmThrId),
    ("X-GM-LABELS", FetchAttribute::XGmLabels),
];

fn fetch_attribute(c: &mut Cursor<'_>) -> PResult<FetchAttribute> {
    let start = c.pos();
    let name = c.name()?;
    match name.as_str() {
        "BODY" | "BODY.PEEK" => {
            let peek = name == "BODY.PEEK";
            if c.peek() != Some(b'[') {
                if peek {
                    return c.expected("'[' after BODY.PEEK");
                }
                return Ok(FetchAttribute::Body);
            }
            let section = section(c)?;
            let partial = partial(c)?;
            Ok(FetchAttribute::BodySection {
                peek,
                section,
                partial,
            })
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = section_binary(c)?;
            let partial = partial(c)?;
            Ok(FetchAttribute::Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial,
            })
        }
        "BINARY.SIZE" => Ok(FetchAttribute::BinarySize {
            part: section_binary(c)?,
        }),
        // RFC 8970 §3: PREVIEW [SP "(" preview-mod *(SP preview-mod) ")"],
        // and LAZY is the only modifier.
        "PREVIEW" => {
            let mut lazy = false;
            if c.peek() == Some(b' ') && c.peek_at(1) == Some(b'(') {
                c.sp()?;
                for m in c.paren_list(false, |c| c.name())? {
                    if m != "LAZY" {
                        return c.invalid(format!("unknown PREVIEW modifier {m}"));
                    }
                    lazy = true;
                }
            }
            Ok(FetchAttribute::Preview { lazy })
        }
        _ => match FETCH_ATTRIBUTES.iter().find(|(k, _)| *k == name) {
            Some((_, a)) => Ok(a.clone()),
            None => c.invalid(format!("unknown FETCH attribute {name} at byte {start}")),
        },
    }
}

fn part_numbers(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(c.nz_number()?);
        if !(c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit())) {
            break;
        }
        c.eat(b'.');
    }
    Ok(part)
}

/// RFC 9051 §9 section: `[` [section-spec] `]`.
pub(crate) fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.byte(b'[', "'['")?;
    let part = part_numbers(c)?;
    let text = if c.peek() == Some(b']') {
        None
    } else {
        if !part.is_empty() {
            c.byte(b'.', "'.'")?;
        }
        let start = c.pos();
        let n = c.name()?;
        Some(match n.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                c.sp()?;
                let fields = c.paren_list(false, |c| c.astring_utf8("header field name"))?;
                SectionText::HeaderFields {
                    not: n.ends_with(".NOT"),
                    fields,
                }
            }
            _ => return c.invalid(format!("unknown section {n} at byte {start}")),
        })
    };
    c.byte(b']', "']'")?;
    Ok(Section { part, text })
}

/// RFC 3516 section-binary: `[` [section-part] `]`.
pub(crate) fn section_binary(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    c.byte(b'[', "'['")?;
    let part = part_numbers(c)?;
    c.byte(b']', "']'")?;
    Ok(part)
}

/// `<origin.count>`
fn partial(c: &mut Cursor<'_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let origin = c.number()?;
    c.byte(b'.', "'.'")?;
    let count = c.nz_number()?;
    c.byte(b'>', "'>'")?;
    Ok(Some(Partial { origin, count }))
}

fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let items = if c.peek() == Some(b'(') {
        FetchItems::Attributes(c.paren_list(false, fetch_attribute)?)
    } else if c.eat_word("ALL") {
        FetchItems::All
    } else if c.eat_word("FAST") {
        FetchItems::Fast
    } else if c.eat_word("FULL") {
        FetchItems::Full
    } else {
        FetchItems::Attributes(vec![fetch_attribute(c)?])
    };
    let mut changed_since = None;
    let mut vanished = false;
    let mut partial = None;
    if c.eat(b' ') {
        // RFC 7162 §7 fetch-modifier
        c.paren_list(false, |c| {
            if c.eat_word("CHANGEDSINCE") {
                c.sp()?;
                changed_since = Some(c.number64()?);
                Ok(())
            } else if c.eat_word("VANISHED") {
                vanished = true;
                Ok(())
            } else if c.eat_word("PARTIAL") {
                // RFC 9394 §4 fetch-modifier =/ "PARTIAL" SP partial-range
                if partial.is_some() {
                    return c.invalid("PARTIAL given twice".into());
                }
                c.sp()?;
                partial = Some(partial_range(c)?);
                Ok(())
            } else {
                c.expected("CHANGEDSINCE, VANISHED or PARTIAL")
            }
        })?;
    }
    Ok(CommandBody::Fetch(Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
        partial,
    }))
}

fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek() == Some(b'(') {
        // RFC 7162 §3.1.3 store-modifier
        c.paren_list(false, |c| {
            c.word("UNCHANGEDSINCE")?;
            c.sp()?;
            unchanged_since = Some(c.number64()?);
            Ok(())
        })?;
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let start = c.pos();
    let name = c.name()?;
    let (labels, silent) = match name.as_str() {
        "FLAGS" => (false, false),
        "FLAGS.SILENT" => (false, true),
        "X-GM-LABELS" => (true, false),
        "X-GM-LABELS.SILENT" => (true, true),
        _ => {
            return c.invalid(format!(
                "expected FLAGS or X-GM-LABELS at byte {start}, found {name}"
            ));
        }
    };
    c.sp()?;
    let what = if labels {
        StoreWhat::GmLabels(items_or_list(c, label)?)
    } else {
        StoreWhat::Flags(items_or_list(c, |c| c.flag())?)
    };
    Ok(CommandBody::Store(Store {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        what,
    }))
}

/// `(a b c)` or `a b c` to the end of the line (RFC 9051 store-att-flags).
fn items_or_list<T>(
    c: &mut Cursor<'_>,
    mut f: impl FnMut(&mut Cursor<'_>) -> PResult<T>,
) -> PResult<Vec<T>> {
    if c.peek() == Some(b'(') {
        return c.paren_list(true, f);
    }
    let mut out = vec![f(c)?];
    while c.eat(b' ') {
        out.push(f(c)?);
    }
    Ok(out)
}

fn id(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    if c.eat_word("NIL") {
        return Ok(CommandBody::Id(None));
    }
    // RFC 2971 §4: id-params-list = "(" *(string SP nstring) ")" / nil
    let pairs = c.paren_list(true, |c| {
        let k = c.string_utf8("ID field")?;
        c.sp()?;
        let v = match c.nstring()? {
            Some(v) => Some(c.utf8(v, "ID value")?),
            None => None,
        };
        Ok((k, v))
    })?;
    Ok(CommandBody::Id(Some(pairs)))
}

fn sort(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    // RFC 5267 §5: ["UID" SP] "SORT" SP [sort-return-opts SP] sort-criteria ...
    let return_options = return_options(c)?;
    // RFC 5256 §5 sort-criteria
    let criteria = c.paren_list(false, |c| {
        let reverse = c.eat_word("REVERSE");
        if reverse {
            c.sp()?;
        }
        let n = c.atom_upper()?;
        match SortKey::TABLE.iter().find(|(k, _)| *k == n) {
            Some((_, key)) => Ok(SortCriterion { reverse, key: *key }),
            None => c.invalid(format!("unknown sort key {n}")),
        }
    })?;
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let search = search_keys(c)?;
    Ok(CommandBody::Sort(Sort {
        uid,
        return_options,
        criteria,
        charset,
        search,
    }))
}

fn thread(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let algorithm = match c.atom_upper()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        other => ThreadAlgorithm::Other(other.to_string()),
    };
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let search = search_keys(c)?;
    Ok(CommandBody::Thread(Thread {
        uid,
        algorithm,
        charset,
        search,
    }))
}

fn setquota(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let root = c.astring_utf8("quota root")?;
    c.sp()?;
    let limits = c.paren_list(true, |c| {
        let r = c.atom_upper()?;
        c.sp()?;
        Ok((r, c.number64()?))
    })?;
    Ok(CommandBody::SetQuota { root, limits })
}

/// RFC 5464 §4.2: `GETMETADATA [SP "(" option *(SP option) ")"] SP mailbox
/// SP (entry / "(" entry *(SP entry) ")")`, options `MAXSIZE n` and
/// `DEPTH 0|1|infinity`.
/// ` mailbox identifier` of the ACL commands (RFC 4314 §5).
fn mailbox_and_identifier(c: &mut Cursor<'_>) -> PResult<(String, String)> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    Ok((mailbox, c.astring_utf8("identifier")?))
}

fn getmetadata(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let (mut max_size, mut depth) = (None, MetadataDepth::Zero);
    if c.peek() == Some(b'(') {
        let options = c.paren_list(false, |c| {
            let name = c.name()?;
            c.sp()?;
            match name.as_str() {
                "MAXSIZE" => Ok((Some(c.number64()?), None)),
                "DEPTH" => {
                    let d = match c.atom()? {
                        "0" => MetadataDepth::Zero,
                        "1" => MetadataDepth::One,
                        d if d.eq_ignore_ascii_case("infinity") => MetadataDepth::Infinity,
                        d => return c.invalid(format!("DEPTH {d}: want 0, 1 or infinity")),
                    };
                    Ok((None, Some(d)))
                }
                _ => c.invalid(format!("unknown GETMETADATA option {name}")),
            }
        })?;
        for (m, d) in options {
            max_size = m.or(max_size);
            depth = d.unwrap_or(depth);
        }
        c.sp()?;
    }
    let mailbox = c.mailbox()?;
    c.sp()?;
    let entries = if c.peek() == Some(b'(') {
        c.paren_list(false, |c| c.astring_utf8("entry name"))?
    } else {
        vec![c.astring_utf8("entry name")?]
    };
    Ok(CommandBody::GetMetadata {
        mailbox,
        entries,
        max_size,
        depth,
    })
}

/// RFC 5464 §4.3: `SETMETADATA SP mailbox SP "(" entry SP value *(SP entry
/// SP value) ")"`, a value being an nstring or a literal8.
fn setmetadata(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let entries = c.paren_list(false, |c| {
        let name = c.astring_utf8("entry name")?;
        c.sp()?;
        let value = if c.peek() == Some(b'~') {
            Some(c.literal8()?)
        } else {
            c.nstring()?
        };
        Ok((name, value))
    })?;
    Ok(CommandBody::SetMetadata { mailbox, entries })
}

/// RFC 5465 §8: `notify = "NOTIFY" SP (notify-set / notify-none)`,
/// `notify-set = "SET" [status-indicator] SP event-groups`,
/// `event-group = "(" filter-mailboxes SP events ")"`,
/// `events = ("(" event *(SP event) ")") / "NONE"`.
fn notify(c: &mut Cursor<'_>, _: bool) -> PResult<CommandBody> {
    c.sp()?;
    if c.eat_word("NONE") {
        return Ok(CommandBody::Notify(None));
    }
    c.word("SET")?;
    c.sp()?;
    let status = c.eat_word("STATUS");
    if status {
        c.sp()?;
    }
    let mut groups = vec![notify_group(c)?];
    while c.eat(b' ') {
        groups.push(notify_group(c)?);
    }
    Ok(CommandBody::Notify(Some(NotifySet { status, groups })))
}

fn notify_group(c: &mut Cursor<'_>) -> PResult<NotifyGroup> {
    c.byte(b'(', "'('")?;
    let start = c.pos();
    let filter = match c.name()?.as_str() {
        "SELECTED" => NotifyFilter::Selected,
        "SELECTED-DELAYED" => NotifyFilter::SelectedDelayed,
        "INBOXES" => NotifyFilter::Inboxes,
        "PERSONAL" => NotifyFilter::Personal,
        "SUBSCRIBED" => NotifyFilter::Subscribed,
        n @ ("SUBTREE" | "MAILBOXES") => {
            // one-or-more-mailbox = mailbox / many-mailboxes
            c.sp()?;
            let names = if c.peek() == Some(b'(') {
                c.paren_list(false, |c| c.mailbox())?
            } else {
                vec![c.mailbox()?]
            };
            if n == "SUBTREE" {
                NotifyFilter::Subtree(names)
            } else {
                NotifyFilter::Mailboxes(names)
            }
        }
        other => return c.invalid(format!("unknown NOTIFY filter {other} at byte {start}")),
    };
    c.sp()?;
    let events = if c.eat_word("NONE") {
        Vec::new()
    } else {
        c.paren_list(false, |c| {
            let event = NotifyEvent::named(c.atom()?);
            // RFC 5465 §8: "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]
            if let NotifyEvent::MessageNew(_) = event
                && c.peek() == Some(b' ')
                && c.peek_at(1) == Some(b'(')
            {
                c.sp()?;
                return Ok(NotifyEvent::MessageNew(
                    c.paren_list(false, fetch_attribute)?,
                ));
            }
            Ok(event)
        })?
    };
    c.byte(b')', "')'")?;
    Ok(NotifyGroup { filter, events })
}

/// Whether a line sent during IDLE is `DONE` (RFC 2177 §3, RFC 9051 §6.3.13).
/// Anything else is a protocol error: the server answers BAD and ends IDLE.
pub fn parse_idle_done(line: &[u8]) -> bool {
    let mut c = Cursor::new(line, false);
    c.eat_word("DONE") && c.end().is_ok()
}

/// A client's answer to an AUTHENTICATE challenge (RFC 9051 §6.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslResponse {
    /// The decoded data (empty for an empty line).
    Data(Secret<Vec<u8>>),
    /// `*`: the client cancels; the server answers `tag BAD`.
    Cancel,
}

/// Parses a line sent in answer to a `+ challenge` during AUTHENTICATE.
pub fn parse_sasl_response(line: &[u8]) -> Result<SaslResponse, ParseErrorKind> {
    let body = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .ok_or_else(|| ParseErrorKind::Syntax("expected end of line".into()))?;
    if body == b"*" {
        return Ok(SaslResponse::Cancel);
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map(|d| SaslResponse::Data(Secret::new(d)))
        .map_err(|e| ParseErrorKind::Syntax(format!("invalid base64: {e}")))
}
