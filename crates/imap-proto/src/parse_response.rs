//! A response parser for clients: the load generator and tests. It reads
//! everything [`Response::encode`] writes (RFC 9051 §7 and the extensions'
//! response grammar), so `parse_response(&r.to_bytes(o), o) == Ok(r)`.
//!
//! It is stricter than a general client needs to be with other servers:
//! unknown data responses and unknown LIST extended items are errors.
//! A continuation request whose text is valid base64 with no space is read
//! as a SASL challenge.

use base64::Engine as _;
use tidings_types::Keyword;

use crate::error::ParseErrorKind;
use crate::parse::{Cursor, MAX_DEPTH, PResult};
use crate::parse_command::{CodecOptions, section, section_binary};
use crate::response::*;
use crate::types::Tag;
use crate::{StatusItem, parse::Cursor as C};

/// Parses one complete response (CRLF and literals included).
pub fn parse_response(input: &[u8], opts: CodecOptions) -> Result<Response, ParseErrorKind> {
    let mut c = Cursor::new(input, opts.utf8);
    let r = response(&mut c)?;
    c.end()?;
    Ok(r)
}

fn response(c: &mut C<'_>) -> PResult<Response> {
    if c.eat(b'+') {
        let text = rest_of_line(c);
        let text = text.strip_prefix(' ').unwrap_or(&text).to_string();
        if text.is_empty() {
            return Ok(Response::Continue(Continue::Challenge(Vec::new())));
        }
        if !text.contains(' ')
            && let Ok(d) = base64::engine::general_purpose::STANDARD.decode(&text)
        {
            return Ok(Response::Continue(Continue::Challenge(d)));
        }
        return Ok(Response::Continue(Continue::Text(text)));
    }
    if c.eat(b'*') {
        c.sp()?;
        return untagged(c);
    }
    let t = c.atom()?;
    let tag = Tag::new(t).or_else(|_| c.expected("a tag"))?;
    c.sp()?;
    let kind = match c.atom_upper()?.as_str() {
        "OK" => StatusKind::Ok,
        "NO" => StatusKind::No,
        "BAD" => StatusKind::Bad,
        _ => return c.expected("OK, NO or BAD"),
    };
    status(c, Some(tag), kind).map(Response::Status)
}

fn rest_of_line(c: &mut C<'_>) -> String {
    let rest = c.rest();
    let n = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let s = String::from_utf8_lossy(&rest[..n]).into_owned();
    c.advance(n);
    s
}

/// resp-text after the status word.
fn status(c: &mut C<'_>, tag: Option<Tag>, kind: StatusKind) -> PResult<Status> {
    if c.at_end() {
        return Ok(Status {
            tag,
            kind,
            code: None,
            text: String::new(),
        });
    }
    c.sp()?;
    let code = if c.eat(b'[') {
        let code = resp_code(c)?;
        c.byte(b']', "']'")?;
        if !c.at_end() {
            c.sp()?;
        }
        Some(code)
    } else {
        None
    };
    Ok(Status {
        tag,
        kind,
        code,
        text: rest_of_line(c),
    })
}

fn code_name(c: &mut C<'_>) -> PResult<String> {
    let rest = c.rest();
    let n = rest
        .iter()
        .position(|&b| !b.is_ascii_graphic() || b == b']')
        .unwrap_or(rest.len());
    if n == 0 {
        return c.expected("a response code");
    }
    let s = String::from_utf8_lossy(&rest[..n]).to_ascii_uppercase();
    c.advance(n);
    Ok(s)
}

fn resp_code(c: &mut C<'_>) -> PResult<Code> {
    let name = code_name(c)?;
    if let Some(code) = simple_code(&name) {
        return Ok(code);
    }
    Ok(match name.as_str() {
        "BADCHARSET" => {
            let mut cs = Vec::new();
            if c.eat(b' ') {
                cs = c.paren_list(false, |c| c.astring_utf8("charset"))?;
            }
            Code::BadCharset(cs)
        }
        "NOUPDATE" => {
            c.sp()?;
            Code::NoUpdate(c.string_utf8("tag")?)
        }
        // RFC 9585 §5: `INPROGRESS [SP "(" tag SP count SP goal ")"]`.
        "INPROGRESS" => {
            let (mut tag, mut count, mut goal) = (None, None, None);
            if c.eat(b' ') {
                c.byte(b'(', "(")?;
                tag = match c.nstring()? {
                    Some(t) => Some(c.utf8(t, "tag")?),
                    None => None,
                };
                c.sp()?;
                count = (!c.eat_word("NIL")).then(|| c.number()).transpose()?;
                c.sp()?;
                goal = (!c.eat_word("NIL")).then(|| c.number()).transpose()?;
                c.byte(b')', ")")?;
            }
            Code::InProgress { tag, count, goal }
        }
        "BADEVENT" => {
            c.sp()?;
            Code::BadEvent(c.paren_list(false, |c| Ok(c.atom()?.to_string()))?)
        }
        "CAPABILITY" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom()?.to_string());
            }
            Code::Capability(caps)
        }
        "PERMANENTFLAGS" => {
            c.sp()?;
            let mut any_keyword = false;
            let mut flags = Vec::new();
            c.paren_list(true, |c| {
                if c.rest().starts_with(b"\\*") {
                    c.advance(2);
                    any_keyword = true;
                } else {
                    flags.push(c.flag()?);
                }
                Ok(())
            })?;
            Code::PermanentFlags { flags, any_keyword }
        }
        "UIDNEXT" => Code::UidNext(sp_then(c, C::number)?),
        "UIDVALIDITY" => Code::UidValidity(sp_then(c, C::number)?),
        "UNSEEN" => Code::Unseen(sp_then(c, C::number)?),
        "HIGHESTMODSEQ" => Code::HighestModSeq(sp_then(c, C::number64)?),
        "APPENDUID" => {
            let uid_validity = sp_then(c, C::number)?;
            Code::AppendUid {
                uid_validity,
                uids: sp_then(c, C::sequence_set)?,
            }
        }
        "COPYUID" => {
            let uid_validity = sp_then(c, C::number)?;
            let source = sp_then(c, C::sequence_set)?;
            Code::CopyUid {
                uid_validity,
                source,
                destination: sp_then(c, C::sequence_set)?,
            }
        }
        "MODIFIED" => Code::Modified(sp_then(c, C::sequence_set)?),
        "BADURL" => {
            c.sp()?;
            let rest = c.rest();
            let n = rest
                .iter()
                .position(|&b| b == b']' || b == b'\r' || b == b'\n')
                .unwrap_or(rest.len());
            let url = String::from_utf8_lossy(&rest[..n]).into_owned();
            c.advance(n);
            Code::BadUrl(url)
        }
        "MAILBOXID" => {
            c.sp()?;
            Code::MailboxId(paren_id(c)?)
        }
        _ => {
            let text = if c.eat(b' ') {
                let rest = c.rest();
                let n = rest
                    .iter()
                    .position(|&b| b == b']' || b == b'\r' || b == b'\n')
                    .unwrap_or(rest.len());
                let t = String::from_utf8_lossy(&rest[..n]).into_owned();
                c.advance(n);
                Some(t)
            } else {
                None
            };
            Code::Other { name, text }
        }
    })
}

fn sp_then<'a, T>(c: &mut C<'a>, f: impl FnOnce(&mut C<'a>) -> PResult<T>) -> PResult<T> {
    c.sp()?;
    f(c)
}

/// `(objectid)`
fn paren_id(c: &mut C<'_>) -> PResult<String> {
    c.byte(b'(', "'('")?;
    let id = c.atom()?.to_string();
    c.byte(b')', "')'")?;
    Ok(id)
}

fn numbers_and_modseq(c: &mut C<'_>) -> PResult<(Vec<u32>, Option<u64>)> {
    let mut ids = Vec::new();
    let mut mod_seq = None;
    while c.eat(b' ') {
        if c.peek() == Some(b'(') {
            c.byte(b'(', "'('")?;
            c.word("MODSEQ")?;
            mod_seq = Some(sp_then(c, C::number64)?);
            c.byte(b')', "')'")?;
            break;
        }
        ids.push(c.nz_number()?);
    }
    Ok((ids, mod_seq))
}

fn untagged(c: &mut C<'_>) -> PResult<Response> {
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let n = c.number()?;
        c.sp()?;
        let name = c.atom_upper()?;
        return Ok(Response::Data(match name.as_str() {
            "EXISTS" => Data::Exists(n),
            "RECENT" => Data::Recent(n),
            "EXPUNGE" => Data::Expunge(n),
            "FETCH" => {
                c.sp()?;
                Data::Fetch {
                    seq: n,
                    items: c.paren_list(false, fetch_item)?,
                }
            }
            // RFC 9586 §3.3 uidfetch-resp = uniqueid SP "UIDFETCH" SP msg-att
            "UIDFETCH" => {
                c.sp()?;
                Data::UidFetch {
                    uid: n,
                    items: c.paren_list(false, fetch_item)?,
                }
            }
            _ => return c.invalid(format!("unknown message data {name}")),
        }));
    }
    let start = c.pos();
    let name = c.atom_upper()?;
    let status_kind = match name.as_str() {
        "OK" => Some(StatusKind::Ok),
        "NO" => Some(StatusKind::No),
        "BAD" => Some(StatusKind::Bad),
        "PREAUTH" => Some(StatusKind::PreAuth),
        "BYE" => Some(StatusKind::Bye),
        _ => None,
    };
    if let Some(kind) = status_kind {
        return status(c, None, kind).map(Response::Status);
    }
    let data = match name.as_str() {
        "CAPABILITY" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom()?.to_string());
            }
            Data::Capability(caps)
        }
        "ENABLED" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom()?.to_string());
            }
            Data::Enabled(caps)
        }
        "LIST" => Data::List(sp_then(c, list_item)?),
        "LSUB" => Data::Lsub(sp_then(c, list_item)?),
        "STATUS" => {
            let mailbox = sp_then(c, C::mailbox)?;
            c.sp()?;
            let mut items = Vec::new();
            c.paren_list(true, |c| {
                items.push(status_value(c)?);
                Ok(())
            })?;
            Data::Status { mailbox, items }
        }
        "FLAGS" => Data::Flags(sp_then(c, C::flag_list)?),
        "VANISHED" => {
            c.sp()?;
            let earlier = c.rest().len() >= 9 && c.rest()[..9].eq_ignore_ascii_case(b"(EARLIER)");
            if earlier {
                c.advance(9);
                c.sp()?;
            }
            Data::Vanished {
                earlier,
                uids: c.sequence_set()?,
            }
        }
        "SEARCH" => {
            let (ids, mod_seq) = numbers_and_modseq(c)?;
            Data::Search { ids, mod_seq }
        }
        "SORT" => {
            let (ids, mod_seq) = numbers_and_modseq(c)?;
            Data::Sort { ids, mod_seq }
        }
        "ESEARCH" => Data::ESearch(esearch(c)?),
        "THREAD" => {
            let mut threads = Vec::new();
            if c.eat(b' ') {
                while c.peek() == Some(b'(') {
                    threads.push(thread(c, 0)?);
                }
            }
            Data::Thread(threads)
        }
        "NAMESPACE" => {
            let personal = sp_then(c, namespace)?;
            let other = sp_then(c, namespace)?;
            Data::Namespace {
                personal,
                other,
                shared: sp_then(c, namespace)?,
            }
        }
        "ID" => {
            c.sp()?;
            if c.eat_word("NIL") {
                Data::Id(None)
            } else {
                Data::Id(Some(c.paren_list(true, |c| {
                    let k = c.string_utf8("ID field")?;
                    c.sp()?;
                    let v = match c.nstring()? {
                        Some(v) => Some(c.utf8(v, "ID value")?),
                        None => None,
                    };
                    Ok((k, v))
                })?))
            }
        }
        "QUOTA" => {
            let root = sp_then(c, |c| c.astring_utf8("quota root"))?;
            c.sp()?;
            let resources = c.paren_list(true, |c| {
                let name = c.atom()?.to_string();
                let usage = sp_then(c, C::number64)?;
                Ok(QuotaResource {
                    name,
                    usage,
                    limit: sp_then(c, C::number64)?,
                })
            })?;
            Data::Quota { root, resources }
        }
        "QUOTAROOT" => {
            let mailbox = sp_then(c, C::mailbox)?;
            let mut roots = Vec::new();
            while c.eat(b' ') {
                roots.push(c.astring_utf8("quota root")?);
            }
            Data::QuotaRoot { mailbox, roots }
        }
        "ACL" => {
            let mailbox = sp_then(c, C::mailbox)?;
            let mut entries = Vec::new();
            while c.eat(b' ') {
                let identifier = c.astring_utf8("identifier")?;
                entries.push((identifier, sp_then(c, |c| c.astring_utf8("rights"))?));
            }
            Data::Acl { mailbox, entries }
        }
        "LISTRIGHTS" => {
            let mailbox = sp_then(c, C::mailbox)?;
            let identifier = sp_then(c, |c| c.astring_utf8("identifier"))?;
            let required = sp_then(c, |c| c.astring_utf8("rights"))?;
            let mut optional = Vec::new();
            while c.eat(b' ') {
                optional.push(c.astring_utf8("rights")?);
            }
            Data::ListRights {
                mailbox,
                identifier,
                required,
                optional,
            }
        }
        "MYRIGHTS" => {
            let mailbox = sp_then(c, C::mailbox)?;
            let rights = sp_then(c, |c| c.astring_utf8("rights"))?;
            Data::MyRights { mailbox, rights }
        }
        "METADATA" => {
            let mailbox = sp_then(c, C::mailbox)?;
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
            Data::Metadata { mailbox, entries }
        }
        "GENURLAUTH" => {
            let mut urls = Vec::new();
            while c.eat(b' ') {
                urls.push(c.astring_utf8("URL")?);
            }
            Data::GenUrlAuth(urls)
        }
        "URLFETCH" => {
            let mut items = Vec::new();
            while c.eat(b' ') {
                let url = c.astring_utf8("URL")?;
                c.sp()?;
                let data = if c.peek() == Some(b'~') {
                    Some(c.literal8()?)
                } else {
                    c.nstring()?
                };
                items.push((url, data));
            }
            Data::UrlFetch(items)
        }
        _ => return c.invalid(format!("unknown response {name} at byte {start}")),
    };
    Ok(Response::Data(data))
}

fn delimiter(c: &mut C<'_>) -> PResult<Option<char>> {
    if c.eat_word("NIL") {
        return Ok(None);
    }
    let q = c.quoted()?;
    let s = c.utf8(q, "delimiter")?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(ch), None) => Ok(Some(ch)),
        _ => c.invalid("a delimiter is one character".into()),
    }
}

fn list_item(c: &mut C<'_>) -> PResult<ListItem> {
    let attributes = c.paren_list(true, C::flag_like)?;
    let delimiter = sp_then(c, delimiter)?;
    let mailbox = sp_then(c, C::mailbox)?;
    let mut item = ListItem {
        attributes,
        delimiter,
        mailbox,
        child_info: vec![],
        old_name: None,
    };
    if c.eat(b' ') {
        // RFC 5258 §9 mbox-list-extended
        c.paren_list(true, |c| {
            let tag = c.astring_utf8("extended item")?.to_ascii_uppercase();
            c.sp()?;
            match tag.as_str() {
                "CHILDINFO" => {
                    item.child_info = c.paren_list(false, |c| c.astring_utf8("child info"))?;
                }
                "OLDNAME" => {
                    c.byte(b'(', "'('")?;
                    item.old_name = Some(c.mailbox()?);
                    c.byte(b')', "')'")?;
                }
                _ => return c.invalid(format!("unknown LIST extended item {tag}")),
            }
            Ok(())
        })?;
    }
    Ok(item)
}

fn status_value(c: &mut C<'_>) -> PResult<StatusValue> {
    let n = c.atom_upper()?;
    let item = StatusItem::TABLE
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, i)| *i)
        .map_or_else(|| c.invalid(format!("unknown STATUS item {n}")), Ok)?;
    c.sp()?;
    Ok(match item {
        StatusItem::Messages => StatusValue::Messages(c.number()?),
        StatusItem::UidNext => StatusValue::UidNext(c.number()?),
        StatusItem::UidValidity => StatusValue::UidValidity(c.number()?),
        StatusItem::Unseen => StatusValue::Unseen(c.number()?),
        StatusItem::Deleted => StatusValue::Deleted(c.number()?),
        StatusItem::Recent => StatusValue::Recent(c.number()?),
        StatusItem::Size => StatusValue::Size(c.number64()?),
        StatusItem::HighestModSeq => StatusValue::HighestModSeq(c.number64()?),
        StatusItem::AppendLimit => {
            if c.eat_word("NIL") {
                StatusValue::AppendLimit(None)
            } else {
                StatusValue::AppendLimit(Some(c.number64()?))
            }
        }
        StatusItem::MailboxId => StatusValue::MailboxId(paren_id(c)?),
    })
}

fn esearch(c: &mut C<'_>) -> PResult<ESearch> {
    let mut e = ESearch::default();
    if c.peek() == Some(b' ') && c.peek_at(1) == Some(b'(') {
        c.sp()?;
        c.byte(b'(', "'('")?;
        c.word("TAG")?;
        c.sp()?;
        let t = c.astring_utf8("tag")?;
        e.tag = Some(Tag::new(&t).or_else(|_| c.invalid(format!("invalid tag {t:?}")))?);
        c.byte(b')', "')'")?;
    }
    while c.eat(b' ') {
        let name = c.atom_upper()?;
        if name == "UID" {
            e.uid = true;
            continue;
        }
        c.sp()?;
        match name.as_str() {
            "MIN" => e.min = Some(c.nz_number()?),
            "MAX" => e.max = Some(c.nz_number()?),
            "ALL" => e.all = Some(c.sequence_set()?),
            "COUNT" => e.count = Some(c.number()?),
            // RFC 9394 §4: "PARTIAL" SP "(" partial-range SP partial-results ")"
            "PARTIAL" => {
                c.byte(b'(', "'('")?;
                let range = crate::parse_command::partial_range(c)?;
                c.sp()?;
                let set = if c.eat_word("NIL") {
                    None
                } else {
                    Some(c.sequence_set()?)
                };
                c.byte(b')', "')'")?;
                e.partial = Some((range, set));
            }
            "MODSEQ" => e.mod_seq = Some(c.number64()?),
            // RFC 5267 §6: ("ADDTO" / "REMOVEFROM") SP "(" position SP set ")"
            // (several `position set` pairs are several updates in turn)
            "ADDTO" | "REMOVEFROM" => {
                c.byte(b'(', "'('")?;
                loop {
                    let position = c.number()?;
                    c.sp()?;
                    let set = c.sequence_set()?;
                    e.updates.push(ContextUpdate {
                        add: name == "ADDTO",
                        position,
                        set,
                    });
                    if !c.eat(b' ') {
                        break;
                    }
                }
                c.byte(b')', "')'")?;
            }
            _ => return c.invalid(format!("unknown ESEARCH item {name}")),
        }
    }
    Ok(e)
}

fn thread(c: &mut C<'_>, depth: usize) -> PResult<ThreadTree> {
    if depth > MAX_DEPTH {
        return c.invalid(format!("threads nest deeper than {MAX_DEPTH} levels"));
    }
    c.byte(b'(', "'('")?;
    let mut members = Vec::new();
    let mut children = Vec::new();
    loop {
        match c.peek() {
            Some(b')') => break,
            Some(b'(') => children.push(thread(c, depth + 1)?),
            _ => {
                if !members.is_empty() {
                    c.sp()?;
                }
                if c.peek() == Some(b'(') {
                    continue;
                }
                members.push(c.nz_number()?);
            }
        }
    }
    c.byte(b')', "')'")?;
    if members.is_empty() && children.is_empty() {
        return c.invalid("empty thread".into());
    }
    Ok(ThreadTree { members, children })
}

fn namespace(c: &mut C<'_>) -> PResult<Vec<NamespaceDesc>> {
    if c.eat_word("NIL") {
        return Ok(Vec::new());
    }
    c.byte(b'(', "'('")?;
    let mut out = Vec::new();
    while c.peek() == Some(b'(') {
        c.byte(b'(', "'('")?;
        let raw = c.string()?;
        let prefix = c.decode_mailbox(raw)?;
        let delimiter = sp_then(c, delimiter)?;
        c.byte(b')', "')'")?;
        out.push(NamespaceDesc { prefix, delimiter });
    }
    c.byte(b')', "')'")?;
    if out.is_empty() {
        return c.invalid("empty namespace list".into());
    }
    Ok(out)
}

fn origin(c: &mut C<'_>) -> PResult<Option<u32>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let o = c.number()?;
    c.byte(b'>', "'>'")?;
    Ok(Some(o))
}

fn fetch_item(c: &mut C<'_>) -> PResult<FetchItem> {
    let start = c.pos();
    let name = c.name()?;
    Ok(match name.as_str() {
        "FLAGS" => {
            c.sp()?;
            let mut recent = false;
            let mut flags = Vec::new();
            c.paren_list(true, |c| {
                let f = c.flag_like()?;
                if f.eq_ignore_ascii_case("\\Recent") {
                    recent = true;
                } else {
                    flags.push(
                        Keyword::new(&f).map_err(|e| {
                            ParseErrorKind::Syntax(format!("invalid flag {f:?}: {e}"))
                        })?,
                    );
                }
                Ok(())
            })?;
            FetchItem::Flags { flags, recent }
        }
        "INTERNALDATE" => FetchItem::InternalDate(sp_then(c, C::date_time)?),
        "RFC822.SIZE" => FetchItem::Rfc822Size(sp_then(c, C::number64)?),
        "ENVELOPE" => FetchItem::Envelope(Box::new(sp_then(c, envelope)?)),
        "BODYSTRUCTURE" => FetchItem::BodyStructure(Box::new(sp_then(c, |c| body(c, 0))?)),
        "BODY" if c.peek() == Some(b'[') => {
            let section = section(c)?;
            let origin = origin(c)?;
            FetchItem::BodySection {
                section,
                origin,
                data: sp_then(c, C::nstring)?,
            }
        }
        "BODY" => FetchItem::Body(Box::new(sp_then(c, |c| body(c, 0))?)),
        "UID" => FetchItem::Uid(sp_then(c, C::nz_number)?),
        "BINARY" => {
            let part = section_binary(c)?;
            let origin = origin(c)?;
            c.sp()?;
            let data = if c.peek() == Some(b'~') {
                Some(c.literal8()?)
            } else {
                c.nstring()?
            };
            FetchItem::Binary { part, origin, data }
        }
        "BINARY.SIZE" => {
            let part = section_binary(c)?;
            FetchItem::BinarySize {
                part,
                size: sp_then(c, C::number64)?,
            }
        }
        "RFC822" => FetchItem::Rfc822(sp_then(c, C::nstring)?),
        "RFC822.HEADER" => FetchItem::Rfc822Header(sp_then(c, C::nstring)?),
        "RFC822.TEXT" => FetchItem::Rfc822Text(sp_then(c, C::nstring)?),
        "MODSEQ" => {
            c.sp()?;
            c.byte(b'(', "'('")?;
            let m = c.number64()?;
            c.byte(b')', "')'")?;
            FetchItem::ModSeq(m)
        }
        "EMAILID" => FetchItem::EmailId(sp_then(c, paren_id)?),
        "THREADID" => {
            c.sp()?;
            if c.eat_word("NIL") {
                FetchItem::ThreadId(None)
            } else {
                FetchItem::ThreadId(Some(paren_id(c)?))
            }
        }
        "SAVEDATE" => {
            c.sp()?;
            if c.eat_word("NIL") {
                FetchItem::SaveDate(None)
            } else {
                FetchItem::SaveDate(Some(c.date_time()?))
            }
        }
        "PREVIEW" => FetchItem::Preview(
            sp_then(c, C::nstring)?.map(|b| String::from_utf8_lossy(&b).into_owned()),
        ),
        "X-GM-MSGID" => FetchItem::XGmMsgId(sp_then(c, C::number64)?),
        "X-GM-THRID" => FetchItem::XGmThrId(sp_then(c, C::number64)?),
        "X-GM-LABELS" => {
            c.sp()?;
            FetchItem::XGmLabels(c.paren_list(true, |c| {
                if c.peek() == Some(b'\\') {
                    c.flag_like()
                } else {
                    c.mailbox()
                }
            })?)
        }
        _ => return c.invalid(format!("unknown FETCH item {name} at byte {start}")),
    })
}

fn nstring_vec(c: &mut C<'_>) -> PResult<Option<Vec<u8>>> {
    c.nstring()
}

fn addresses(c: &mut C<'_>) -> PResult<Vec<Address>> {
    if c.eat_word("NIL") {
        return Ok(Vec::new());
    }
    c.byte(b'(', "'('")?;
    let mut out = Vec::new();
    while c.eat(b'(') {
        let name = nstring_vec(c)?;
        let adl = sp_then(c, nstring_vec)?;
        let mailbox = sp_then(c, nstring_vec)?;
        let host = sp_then(c, nstring_vec)?;
        c.byte(b')', "')'")?;
        out.push(Address {
            name,
            adl,
            mailbox,
            host,
        });
    }
    c.byte(b')', "')'")?;
    Ok(out)
}

fn envelope(c: &mut C<'_>) -> PResult<Envelope> {
    c.byte(b'(', "'('")?;
    let date = nstring_vec(c)?;
    let subject = sp_then(c, nstring_vec)?;
    let from = sp_then(c, addresses)?;
    let sender = sp_then(c, addresses)?;
    let reply_to = sp_then(c, addresses)?;
    let to = sp_then(c, addresses)?;
    let cc = sp_then(c, addresses)?;
    let bcc = sp_then(c, addresses)?;
    let in_reply_to = sp_then(c, nstring_vec)?;
    let message_id = sp_then(c, nstring_vec)?;
    c.byte(b')', "')'")?;
    Ok(Envelope {
        date,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        in_reply_to,
        message_id,
    })
}

fn string_utf8(c: &mut C<'_>) -> PResult<String> {
    c.string_utf8("body field")
}

fn params(c: &mut C<'_>) -> PResult<Vec<(String, String)>> {
    if c.eat_word("NIL") {
        return Ok(Vec::new());
    }
    c.paren_list(false, |c| {
        let k = string_utf8(c)?;
        Ok((k, sp_then(c, string_utf8)?))
    })
}

fn disposition(c: &mut C<'_>) -> PResult<Option<Disposition>> {
    if c.eat_word("NIL") {
        return Ok(None);
    }
    c.byte(b'(', "'('")?;
    let kind = string_utf8(c)?;
    let params = sp_then(c, params)?;
    c.byte(b')', "')'")?;
    Ok(Some(Disposition { kind, params }))
}

fn language(c: &mut C<'_>) -> PResult<Vec<String>> {
    match c.peek() {
        Some(b'(') => c.paren_list(false, string_utf8),
        _ => Ok(c
            .nstring()?
            .map(|s| c.utf8(s, "language"))
            .transpose()?
            .into_iter()
            .collect()),
    }
}

/// The four extension fields after a body's own, each optional.
type Ext = (
    Option<Option<Disposition>>,
    Option<Vec<String>>,
    Option<Option<Vec<u8>>>,
);

fn ext_tail(c: &mut C<'_>) -> PResult<Ext> {
    let mut out: Ext = (None, None, None);
    if c.eat(b' ') {
        out.0 = Some(disposition(c)?);
        if c.eat(b' ') {
            out.1 = Some(language(c)?);
            if c.eat(b' ') {
                out.2 = Some(nstring_vec(c)?);
                // RFC 9051 §9: *(SP body-extension), which nothing defines
                // yet: read and dropped.
                while c.eat(b' ') {
                    body_extension(c, 0)?;
                }
            }
        }
    }
    Ok(out)
}

/// RFC 9051 §9 body-extension = nstring / number64 / "(" body-extension *(SP body-extension) ")"
fn body_extension(c: &mut C<'_>, depth: usize) -> PResult<()> {
    if depth > MAX_DEPTH {
        return c.invalid(format!(
            "body extensions nest deeper than {MAX_DEPTH} levels"
        ));
    }
    match c.peek() {
        Some(b'(') => {
            c.paren_list(false, |c| body_extension(c, depth + 1))?;
        }
        Some(b'0'..=b'9') => {
            c.number64()?;
        }
        _ => {
            c.nstring()?;
        }
    }
    Ok(())
}

fn body(c: &mut C<'_>, depth: usize) -> PResult<BodyStructure> {
    if depth > MAX_DEPTH {
        return c.invalid(format!("body parts nest deeper than {MAX_DEPTH} levels"));
    }
    c.byte(b'(', "'('")?;
    let b = if c.peek() == Some(b'(') {
        let mut parts = Vec::new();
        while c.peek() == Some(b'(') {
            parts.push(body(c, depth + 1)?);
        }
        let subtype = sp_then(c, string_utf8)?;
        let ext = if c.eat(b' ') {
            let params = params(c)?;
            let (d, l, loc) = ext_tail(c)?;
            Some(MultipartExt {
                params,
                disposition: d.flatten(),
                language: l.unwrap_or_default(),
                location: loc.flatten(),
            })
        } else {
            None
        };
        BodyStructure::Multipart(Multipart {
            parts,
            subtype,
            ext,
        })
    } else {
        let media_type = string_utf8(c)?;
        let subtype = sp_then(c, string_utf8)?;
        let params = sp_then(c, params)?;
        let id = sp_then(c, nstring_vec)?;
        let description = sp_then(c, nstring_vec)?;
        let encoding = sp_then(c, string_utf8)?;
        let size = sp_then(c, C::number)?;
        let kind = if media_type.eq_ignore_ascii_case("TEXT") {
            SinglePartKind::Text {
                lines: sp_then(c, C::number)?,
            }
        } else if media_type.eq_ignore_ascii_case("MESSAGE")
            && (subtype.eq_ignore_ascii_case("RFC822") || subtype.eq_ignore_ascii_case("GLOBAL"))
        {
            let envelope = Box::new(sp_then(c, envelope)?);
            let body = Box::new(sp_then(c, |c| body(c, depth + 1))?);
            SinglePartKind::Message {
                envelope,
                body,
                lines: sp_then(c, C::number)?,
            }
        } else {
            SinglePartKind::Basic
        };
        let ext = if c.eat(b' ') {
            let md5 = nstring_vec(c)?;
            let (d, l, loc) = ext_tail(c)?;
            Some(SinglePartExt {
                md5,
                disposition: d.flatten(),
                language: l.unwrap_or_default(),
                location: loc.flatten(),
            })
        } else {
            None
        };
        BodyStructure::Single(SinglePart {
            media_type,
            subtype,
            params,
            id,
            description,
            encoding,
            size,
            kind,
            ext,
        })
    };
    c.byte(b')', "')'")?;
    Ok(b)
}
