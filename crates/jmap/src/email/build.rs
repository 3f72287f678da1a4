//! A message built from a JMAP Email object (RFC 8621 §4.6, `Email/set`
//! create): header fields from the convenience properties (`from`,
//! `subject`, `sentAt`, …) and `header:{name}[:as{Form}][:all]`, the body
//! from `bodyStructure` or from `textBody`/`htmlBody`/`attachments`, with
//! contents from `bodyValues` (by `partId`) or from blobs of the account
//! (by `blobId`: uploads, emails, parts).
//!
//! Implementation notes:
//! - The RFC's rules are checked before anything is built: no server-set
//!   property, no `headers` array, no field given twice, no `Content-*`
//!   field at the top, `bodyStructure` or the three lists but not both,
//!   one `text/plain` textBody and one `text/html` htmlBody at most,
//!   `partId` xor `blobId`, no `charset` or `size` with a `partId`, no
//!   `Content-Transfer-Encoding`. A broken rule is `invalidProperties`
//!   naming the property; a blob that is not there is `blobNotFound`.
//! - Lines end in CRLF. Text from `bodyValues` is UTF-8, sent as is when
//!   it is ASCII with short lines, else quoted-printable; blobs are
//!   base64 (an attached `message/rfc822` as is, RFC 2046 §5.2.1).
//!   Non-ASCII header text becomes RFC 2047 encoded words, non-ASCII
//!   file names RFC 2231 parameters.
//! - With `textBody`/`htmlBody`/`attachments` the structure is the usual
//!   one: `multipart/alternative` of text and HTML, the HTML in a
//!   `multipart/related` with the inline attachments that have a `cid`,
//!   all in a `multipart/mixed` with the other attachments.
//! - `Date` is `sentAt` (now if not given) in the offset given;
//!   `Message-ID` is made up (`@` the account's domain) if not given.

use std::hash::{BuildHasher, Hasher};

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::SetError;
use crate::{Ctx, DownloadError, MethodError, date};

/// How deep a `bodyStructure` may nest.
const MAX_DEPTH: usize = 16;

/// Why a message could not be built.
pub(crate) enum Fail {
    /// The record's error.
    Set(SetError),
    /// The method's (the store failed).
    Method(MethodError),
}

impl From<SetError> for Fail {
    fn from(e: SetError) -> Self {
        Fail::Set(e)
    }
}

impl From<MethodError> for Fail {
    fn from(e: MethodError) -> Self {
        Fail::Method(e)
    }
}

fn invalid(property: &str, why: impl Into<String>) -> Fail {
    Fail::Set(SetError::invalid_property(property, why))
}

/// The Email properties the server sets (RFC 8621 §4.1).
const SERVER_SET: [&str; 6] = [
    "id",
    "blobId",
    "threadId",
    "size",
    "hasAttachment",
    "preview",
];

/// Where a new email goes: read by [`super::new::placement`].
const PLACEMENT: [&str; 3] = ["mailboxIds", "keywords", "receivedAt"];

const BODY: [&str; 5] = [
    "bodyStructure",
    "textBody",
    "htmlBody",
    "attachments",
    "bodyValues",
];

/// The parsed forms of a header field (RFC 8621 §4.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Raw,
    Text,
    Addresses,
    MessageIds,
    Date,
    Urls,
}

/// The convenience properties (RFC 8621 §4.1.3): property, field, form.
const CONVENIENCE: [(&str, &str, Form); 11] = [
    ("messageId", "Message-ID", Form::MessageIds),
    ("inReplyTo", "In-Reply-To", Form::MessageIds),
    ("references", "References", Form::MessageIds),
    ("sender", "Sender", Form::Addresses),
    ("from", "From", Form::Addresses),
    ("to", "To", Form::Addresses),
    ("cc", "Cc", Form::Addresses),
    ("bcc", "Bcc", Form::Addresses),
    ("replyTo", "Reply-To", Form::Addresses),
    ("subject", "Subject", Form::Text),
    ("sentAt", "Date", Form::Date),
];

/// Header fields a body part gets from its properties (`type`, …) and
/// that may therefore not be given as `header:` properties.
const PART_FIELDS: [&str; 6] = [
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
    "content-language",
    "content-location",
];

/// The message `obj` describes, CRLF line ends.
pub(crate) fn message(ctx: &Ctx<'_>, obj: &Map<String, Value>) -> Result<Vec<u8>, Fail> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut has_date = false;
    let mut has_message_id = false;
    for (property, value) in obj {
        let p = property.as_str();
        if PLACEMENT.contains(&p) || BODY.contains(&p) {
            continue;
        }
        if SERVER_SET.contains(&p) {
            return Err(invalid(p, format!("{p} is set by the server")));
        }
        if p == "headers" {
            return Err(invalid(
                p,
                "set each header field as its own property (RFC 8621 §4.6)",
            ));
        }
        let (name, form, all) = match CONVENIENCE.iter().find(|(q, _, _)| *q == p) {
            Some((_, name, form)) => (name.to_string(), *form, false),
            None => header_property(p)?,
        };
        if name.to_ascii_lowercase().starts_with("content-") {
            return Err(invalid(
                p,
                "Content-* fields belong on body parts, not on the Email",
            ));
        }
        has_date |= name.eq_ignore_ascii_case("Date");
        has_message_id |= name.eq_ignore_ascii_case("Message-ID");
        add_fields(&mut fields, p, &name, form, all, value)?;
    }
    if !has_date {
        fields.push(("Date".into(), date::rfc5322(now(), 0)));
    }
    if !has_message_id {
        fields.push(("Message-ID".into(), format!("<{}>", new_message_id(ctx)?)));
    }
    fields.push(("MIME-Version".into(), "1.0".into()));

    let values = body_values(obj)?;
    let mut budget = Budget {
        left: ctx.limits.max_size_upload,
    };
    let root = match obj.get("bodyStructure") {
        Some(structure) => {
            if let Some(p) = ["textBody", "htmlBody", "attachments"]
                .into_iter()
                .find(|p| obj.contains_key(*p))
            {
                return Err(invalid(p, "not with bodyStructure"));
            }
            let top: Vec<String> = fields.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
            part(
                ctx,
                structure,
                &values,
                &mut budget,
                &top,
                0,
                "bodyStructure",
            )?
        }
        None => from_lists(ctx, obj, &values, &mut budget)?,
    };
    let mut out = Vec::new();
    for (name, value) in &fields {
        write_field(&mut out, name, value);
    }
    write_node(&mut out, &root);
    Ok(out)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// 64 bits nobody can guess (a fresh randomly keyed hasher: std seeds
/// each from the OS), for Message-IDs and boundaries.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now());
    h.finish()
}

fn new_message_id(ctx: &Ctx<'_>) -> Result<String, MethodError> {
    let account = ctx
        .store
        .account_by_id(ctx.account)?
        .ok_or_else(|| MethodError::ServerFail("account vanished".into()))?;
    let domain = account
        .email
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d)
        .to_string();
    Ok(format!("{:016x}{:08x}@{domain}", random(), now()))
}

/// `header:{name}[:as{Form}][:all]` (RFC 8621 §4.1.3) split up.
fn header_property(p: &str) -> Result<(String, Form, bool), Fail> {
    let Some(rest) = p.strip_prefix("header:") else {
        return Err(invalid(p, format!("unknown property {p}")));
    };
    let mut parts: Vec<&str> = rest.split(':').collect();
    let all = parts.last() == Some(&"all");
    if all {
        parts.pop();
    }
    let form = match parts.as_slice() {
        [_] => Form::Raw,
        [_, f] => match *f {
            "asRaw" => Form::Raw,
            "asText" => Form::Text,
            "asAddresses" => Form::Addresses,
            "asMessageIds" => Form::MessageIds,
            "asDate" => Form::Date,
            "asURLs" => Form::Urls,
            _ => return Err(invalid(p, format!("form {f} is not supported here"))),
        },
        _ => return Err(invalid(p, "not a header property")),
    };
    let name = parts[0];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(invalid(p, "not a header field name"));
    }
    Ok((name.to_string(), form, all))
}

/// Adds the field(s) a property gives; a second property for the same
/// field is refused (RFC 8621 §4.6).
fn add_fields(
    fields: &mut Vec<(String, String)>,
    property: &str,
    name: &str,
    form: Form,
    all: bool,
    value: &Value,
) -> Result<(), Fail> {
    if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(invalid(property, format!("{name} is given twice")));
    }
    let values: Vec<&Value> = match (all, value) {
        (_, Value::Null) => Vec::new(),
        (true, Value::Array(list)) => list.iter().collect(),
        (true, _) => return Err(invalid(property, ":all takes a list")),
        (false, v) => vec![v],
    };
    for v in values {
        let encoded = encode_value(form, v).map_err(|why| invalid(property, why))?;
        fields.push((name.to_string(), encoded));
    }
    Ok(())
}

/// A header field value in `form`, encoded for the wire (without the
/// leading space).
fn encode_value(form: Form, v: &Value) -> Result<String, String> {
    match form {
        Form::Raw => {
            let s = v.as_str().ok_or("a raw value is a string")?;
            check_raw(s)?;
            Ok(s.trim_start_matches([' ', '\t']).to_string())
        }
        Form::Text => Ok(encode_text(v.as_str().ok_or("a text value is a string")?)),
        Form::Addresses => {
            let list = v.as_array().ok_or("addresses are a list")?;
            let mut out = Vec::with_capacity(list.len());
            for a in list {
                out.push(address(a)?);
            }
            Ok(out.join(",\r\n "))
        }
        Form::MessageIds => {
            let list = v.as_array().ok_or("message ids are a list")?;
            let mut out = Vec::with_capacity(list.len());
            for id in list {
                let id = id.as_str().ok_or("a message id is a string")?;
                if id.is_empty()
                    || !id.contains('@')
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b))
                {
                    return Err(format!("{id:?} is not a message id"));
                }
                out.push(format!("<{id}>"));
            }
            Ok(out.join("\r\n "))
        }
        Form::Date => {
            let s = v.as_str().ok_or("a date is a string")?;
            let secs = date::parse(s).ok_or("not an RFC 3339 date-time")?;
            Ok(date::rfc5322(secs, date::offset(s).unwrap_or(0)))
        }
        Form::Urls => {
            let list = v.as_array().ok_or("URLs are a list")?;
            let mut out = Vec::with_capacity(list.len());
            for u in list {
                let u = u.as_str().ok_or("a URL is a string")?;
                if u.is_empty() || !u.bytes().all(|b| b.is_ascii_graphic() && b != b'>') {
                    return Err(format!("{u:?} is not a URL"));
                }
                out.push(format!("<{u}>"));
            }
            Ok(out.join(",\r\n "))
        }
    }
}

/// A raw value may fold (CRLF then a space or tab) but carries no other
/// line break or NUL, and no line over 998 octets.
fn check_raw(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        match c {
            0 => return Err("a header value has no NUL".into()),
            b'\r' if b.get(i + 1) == Some(&b'\n') && matches!(b.get(i + 2), Some(b' ' | b'\t')) => {
            }
            b'\n' if i > 0 && b[i - 1] == b'\r' => {}
            b'\r' | b'\n' => return Err("a line break in a header value must fold".into()),
            _ => {}
        }
    }
    if s.split("\r\n").any(|l| l.len() > 900) {
        return Err("a header line is too long".into());
    }
    Ok(())
}

/// Unstructured text (RFC 5322 §3.2.5): as is when it is short printable
/// ASCII, else RFC 2047 encoded words, one per line.
fn encode_text(s: &str) -> String {
    let plain = s.len() <= 900 && s.bytes().all(|b| (0x20..0x7f).contains(&b)) && !s.contains("=?");
    if plain {
        s.to_string()
    } else {
        encoded_words(s).join("\r\n ")
    }
}

/// `=?UTF-8?B?…?=` words of at most 45 octets of `s` each (72 characters:
/// under RFC 2047's 75), cut between characters.
fn encoded_words(s: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + 45).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push(format!("=?UTF-8?B?{}?=", b64.encode(&s[start..end])));
        start = end;
    }
    if out.is_empty() {
        out.push("=?UTF-8?B??=".to_string());
    }
    out
}

/// `{"name": …, "email": …}` as `Name <email>` (RFC 5322 §3.4).
fn address(a: &Value) -> Result<String, String> {
    let obj = a.as_object().ok_or("an address is an object")?;
    if let Some(k) = obj.keys().find(|k| *k != "name" && *k != "email") {
        return Err(format!("unknown address property {k}"));
    }
    let email = obj
        .get("email")
        .and_then(Value::as_str)
        .ok_or("an address needs an email")?;
    let ok = |b: u8| b > b' ' && b != 0x7f && !b"<>()[],;:\\\"".contains(&b);
    match email.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && email.bytes().all(|b| b == b'@' || ok(b)) => {}
        _ => return Err(format!("{email:?} is not an address")),
    }
    let name = match obj.get("name") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("an address name is a string".into()),
    };
    if name.is_empty() {
        return Ok(format!("<{email}>"));
    }
    Ok(format!("{} <{email}>", phrase(name)))
}

/// A display name: atoms as they are, other ASCII quoted, the rest
/// encoded words.
fn phrase(name: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if name.chars().all(atext) && !name.contains("=?") && !name.trim().is_empty() {
        name.to_string()
    } else if name.bytes().all(|b| (0x20..0x7f).contains(&b)) && !name.contains("=?") {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        encoded_words(name).join(" ")
    }
}

/// A MIME parameter (RFC 2045 §5.1): quoted when ASCII, else RFC 2231
/// `name*=utf-8''…`.
fn parameter(name: &str, value: &str) -> String {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.len() < 200 {
        format!(
            "{name}=\"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    } else {
        let mut v = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                v.push(char::from(b));
            } else {
                v.push_str(&format!("%{b:02X}"));
            }
        }
        format!("{name}*=utf-8''{v}")
    }
}

/// `bodyValues`: partId → text (RFC 8621 §4.1.4 EmailBodyValue;
/// `isEncodingProblem` and `isTruncated` must be false if given).
fn body_values(obj: &Map<String, Value>) -> Result<Map<String, Value>, Fail> {
    let values = match obj.get("bodyValues") {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("bodyValues", "bodyValues is an object")),
    };
    let mut out = Map::new();
    for (id, v) in values {
        let Some(v) = v.as_object() else {
            return Err(invalid("bodyValues", "a body value is an object"));
        };
        for (k, x) in v {
            match k.as_str() {
                "value" if x.is_string() => {}
                "isEncodingProblem" | "isTruncated" if *x == Value::Bool(false) => {}
                _ => return Err(invalid("bodyValues", format!("{k} is not allowed here"))),
            }
        }
        let Some(text) = v.get("value") else {
            return Err(invalid("bodyValues", "a body value needs a value"));
        };
        out.insert(id.clone(), text.clone());
    }
    Ok(out)
}

/// A body part to write.
struct Node {
    /// Content-Type and the other fields, values encoded.
    fields: Vec<(String, String)>,
    content: Content,
}

enum Content {
    /// Bytes already encoded for the wire (CRLF lines).
    Leaf(Vec<u8>),
    Multi {
        boundary: String,
        parts: Vec<Node>,
    },
}

/// What is left of the size allowed for the blobs of one message.
struct Budget {
    left: u64,
}

fn multi(subtype: &str, parts: Vec<Node>) -> Node {
    let boundary = format!("=_tidings_{:016x}", random());
    Node {
        fields: vec![(
            "Content-Type".into(),
            format!("multipart/{subtype}; boundary=\"{boundary}\""),
        )],
        content: Content::Multi { boundary, parts },
    }
}

/// The body from `textBody`, `htmlBody` and `attachments` (module notes).
fn from_lists(
    ctx: &Ctx<'_>,
    obj: &Map<String, Value>,
    values: &Map<String, Value>,
    budget: &mut Budget,
) -> Result<Node, Fail> {
    let one = |p: &str, media: &str| -> Result<Option<&Value>, Fail> {
        match obj.get(p) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(list)) if list.len() == 1 => {
                let t = list[0].get("type").and_then(Value::as_str).unwrap_or(media);
                if !t.eq_ignore_ascii_case(media) {
                    return Err(invalid(p, format!("{p} is one {media} part")));
                }
                Ok(Some(&list[0]))
            }
            Some(Value::Array(list)) if list.is_empty() => Ok(None),
            Some(_) => Err(invalid(p, format!("{p} is one {media} part"))),
        }
    };
    let text = one("textBody", "text/plain")?;
    let html = one("htmlBody", "text/html")?;
    let attachments: &[Value] = match obj.get("attachments") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("attachments", "attachments is a list")),
    };
    let text = text
        .map(|t| leaf(ctx, t, values, budget, Some("text/plain"), "textBody"))
        .transpose()?;
    let html = html
        .map(|h| leaf(ctx, h, values, budget, Some("text/html"), "htmlBody"))
        .transpose()?;
    let mut inline = Vec::new();
    let mut others = Vec::new();
    for a in attachments {
        let node = leaf(ctx, a, values, budget, None, "attachments")?;
        let is_inline = a.get("cid").is_some_and(Value::is_string)
            && a.get("disposition").and_then(Value::as_str) == Some("inline");
        if is_inline && html.is_some() {
            inline.push(node);
        } else {
            others.push(node);
        }
    }
    let html = html.map(|h| {
        if inline.is_empty() {
            h
        } else {
            let mut parts = vec![h];
            parts.append(&mut inline);
            multi("related", parts)
        }
    });
    let main = match (text, html) {
        (Some(t), Some(h)) => Some(multi("alternative", vec![t, h])),
        (t, h) => t.or(h),
    };
    Ok(match (main, others.is_empty()) {
        (Some(m), true) => m,
        (None, true) => Node {
            fields: vec![(
                "Content-Type".into(),
                "text/plain; charset=\"us-ascii\"".into(),
            )],
            content: Content::Leaf(Vec::new()),
        },
        (main, false) => {
            let mut parts: Vec<Node> = main.into_iter().collect();
            parts.append(&mut others);
            multi("mixed", parts)
        }
    })
}

/// One part of `bodyStructure`, `multipart/*` ones with their `subParts`.
/// `top` are the fields of the Email, which the root part must not repeat.
fn part(
    ctx: &Ctx<'_>,
    v: &Value,
    values: &Map<String, Value>,
    budget: &mut Budget,
    top: &[String],
    depth: usize,
    property: &str,
) -> Result<Node, Fail> {
    if depth > MAX_DEPTH {
        return Err(invalid(property, "body parts nest too deep"));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(property, "a body part is an object"))?;
    let media = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        let node = leaf(ctx, v, values, budget, None, property)?;
        if let Some((n, _)) = node
            .fields
            .iter()
            .find(|(n, _)| depth == 0 && top.contains(&n.to_ascii_lowercase()))
        {
            return Err(invalid(property, format!("{n} is given on the Email")));
        }
        return Ok(node);
    }
    for (k, _) in obj {
        if !matches!(k.as_str(), "type" | "subParts") {
            return Err(invalid(
                property,
                format!("{k} is not allowed on a multipart"),
            ));
        }
    }
    let subtype = &media["multipart/".len()..];
    if subtype.is_empty()
        || !subtype
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(property, format!("bad type {media}")));
    }
    let children = obj
        .get("subParts")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid(property, "a multipart needs subParts"))?;
    let mut parts = Vec::with_capacity(children.len());
    for c in children {
        parts.push(part(ctx, c, values, budget, top, depth + 1, property)?);
    }
    Ok(multi(&subtype.to_ascii_lowercase(), parts))
}

/// A single (not multipart) part: its content from `bodyValues` or a
/// blob, its fields from its properties. `media` is the type it must
/// default to (a textBody's, an htmlBody's).
fn leaf(
    ctx: &Ctx<'_>,
    v: &Value,
    values: &Map<String, Value>,
    budget: &mut Budget,
    media: Option<&str>,
    property: &str,
) -> Result<Node, Fail> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(property, "a body part is an object"))?;
    let string = |k: &str| -> Result<Option<&str>, Fail> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.contains(['\r', '\n', '\0']) => Ok(Some(s.as_str())),
            Some(_) => Err(invalid(property, format!("{k} is a one-line string"))),
        }
    };
    let mut extra: Vec<(String, String)> = Vec::new();
    for (k, x) in obj {
        match k.as_str() {
            "partId" | "blobId" | "type" | "charset" | "name" | "disposition" | "cid"
            | "language" | "location" | "size" => {}
            "headers" => {
                return Err(invalid(
                    property,
                    "set each header field as its own property (RFC 8621 §4.6)",
                ));
            }
            "subParts" => return Err(invalid(property, "subParts only on a multipart")),
            k => {
                let (name, form, all) = header_property(k)
                    .map_err(|_| invalid(property, format!("unknown part property {k}")))?;
                if PART_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(invalid(
                        property,
                        format!("{name} comes from the part's properties"),
                    ));
                }
                add_fields(&mut extra, property, &name, form, all, x)?;
            }
        }
    }
    let part_id = string("partId")?;
    let blob_id = string("blobId")?;
    let (bytes, is_text_value, blob_type) = match (part_id, blob_id) {
        (Some(id), None) => {
            if obj.contains_key("charset") || obj.contains_key("size") {
                return Err(invalid(
                    property,
                    "no charset or size with a partId (RFC 8621 §4.6)",
                ));
            }
            let text = values
                .get(id)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("bodyValues", format!("no body value {id}")))?;
            (crlf(text).into_bytes(), true, None)
        }
        (None, Some(id)) => {
            let Some(resolved) = super::new::resolve(ctx, id) else {
                return Err(Fail::Set(super::import::blob_not_found(id)));
            };
            match crate::blob::fetch(ctx.store, ctx.account, &resolved, ctx.limits) {
                Ok(b) => {
                    let size = b.bytes.len() as u64;
                    if size > budget.left {
                        return Err(Fail::Set(SetError::new(
                            "tooLarge",
                            "the attachments are larger than maxSizeAttachmentsPerEmail",
                        )));
                    }
                    budget.left -= size;
                    (b.bytes, false, Some(b.media_type))
                }
                Err(DownloadError::NotFound) => {
                    return Err(Fail::Set(super::import::blob_not_found(id)));
                }
                Err(DownloadError::TooLarge) => {
                    return Err(Fail::Set(SetError::new(
                        "tooLarge",
                        "the blob is too large",
                    )));
                }
                Err(DownloadError::Store(e)) => return Err(Fail::Method(e.into())),
            }
        }
        _ => return Err(invalid(property, "a body part has a partId or a blobId")),
    };
    let media_type = match string("type")? {
        Some(t) => t.to_ascii_lowercase(),
        None => match (media, &blob_type) {
            (Some(m), _) => m.to_string(),
            (None, Some(t)) if !is_text_value => t
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
            _ => "text/plain".to_string(),
        },
    };
    let good_type = media_type.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && media_type
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/-+.!#$&^_".contains(&c))
    });
    if !good_type || media_type.starts_with("multipart/") {
        return Err(invalid(property, format!("bad type {media_type}")));
    }
    if is_text_value && !media_type.starts_with("text/") {
        return Err(invalid(property, "a part from bodyValues is text/*"));
    }
    let name = string("name")?;
    let mut content_type = media_type.clone();
    let charset = if is_text_value {
        Some(if bytes.is_ascii() {
            "us-ascii"
        } else {
            "utf-8"
        })
    } else {
        string("charset")?
    };
    if let Some(c) = charset {
        content_type.push_str("; ");
        content_type.push_str(&parameter("charset", c));
    }
    if let Some(n) = name {
        content_type.push_str(";\r\n ");
        content_type.push_str(&parameter("name", n));
    }
    let mut fields = vec![("Content-Type".to_string(), content_type)];
    let disposition = match string("disposition")? {
        Some(d) => Some(d.to_ascii_lowercase()),
        None if property == "attachments" || (name.is_some() && !is_text_value) => {
            Some("attachment".to_string())
        }
        None => None,
    };
    if let Some(d) = disposition {
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(invalid(property, format!("bad disposition {d}")));
        }
        let mut value = d;
        if let Some(n) = name {
            value.push_str(";\r\n ");
            value.push_str(&parameter("filename", n));
        }
        fields.push(("Content-Disposition".into(), value));
    }
    if let Some(cid) = string("cid")? {
        let cid = cid.trim_start_matches('<').trim_end_matches('>');
        if cid.is_empty() || !cid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(property, "bad cid"));
        }
        fields.push(("Content-ID".into(), format!("<{cid}>")));
    }
    match obj.get("language") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            let mut tags = Vec::new();
            for t in list {
                match t.as_str() {
                    Some(t)
                        if !t.is_empty()
                            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                    {
                        tags.push(t)
                    }
                    _ => return Err(invalid(property, "bad language tag")),
                }
            }
            if !tags.is_empty() {
                fields.push(("Content-Language".into(), tags.join(", ")));
            }
        }
        Some(_) => return Err(invalid(property, "language is a list")),
    }
    if let Some(loc) = string("location")? {
        if !loc.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(property, "bad location"));
        }
        fields.push(("Content-Location".into(), loc.to_string()));
    }
    let body = if is_text_value {
        let seven_bit = bytes.is_ascii() && bytes.split(|b| *b == b'\n').all(|l| l.len() <= 998);
        if seven_bit {
            fields.push(("Content-Transfer-Encoding".into(), "7bit".into()));
            bytes
        } else {
            fields.push((
                "Content-Transfer-Encoding".into(),
                "quoted-printable".into(),
            ));
            quoted_printable(&bytes)
        }
    } else if media_type == "message/rfc822" {
        let eight_bit = !bytes.is_ascii();
        fields.push((
            "Content-Transfer-Encoding".into(),
            if eight_bit { "8bit" } else { "7bit" }.into(),
        ));
        crlf_bytes(&bytes)
    } else {
        fields.push(("Content-Transfer-Encoding".into(), "base64".into()));
        base64_lines(&bytes)
    };
    fields.append(&mut extra);
    Ok(Node {
        fields,
        content: Content::Leaf(body),
    })
}

/// Text with every line break as CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// Bytes with every bare LF as CRLF (an attached message).
fn crlf_bytes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

/// Base64 in lines of 76 (RFC 2045 §6.8).
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for line in text.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7) of CRLF text: lines of at most 76,
/// soft breaks, trailing blanks encoded.
fn quoted_printable(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 2);
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut width = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if literal {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            if width + piece.len() > 75 {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            width += piece.len();
            out.extend_from_slice(&piece);
        }
        if n + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A part's fields, blank line and content; a multipart's children
/// between its boundaries (RFC 2046 §5.1.1).
fn write_node(out: &mut Vec<u8>, node: &Node) {
    for (name, value) in &node.fields {
        write_field(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    match &node.content {
        Content::Leaf(bytes) => out.extend_from_slice(bytes),
        Content::Multi { boundary, parts } => {
            for p in parts {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                write_node(out, p);
                // The CRLF before a boundary is the boundary's (RFC 2046
                // §5.1.1), so a part's own last line break stays its own.
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_breaks_soft_and_encodes_ends() {
        let qp = quoted_printable("caf\u{e9} au lait \r\n".as_bytes());
        assert_eq!(qp, b"caf=C3=A9 au lait=20\r\n");
        let long = "a".repeat(100);
        let qp = String::from_utf8(quoted_printable(long.as_bytes())).unwrap();
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", ""), long);
    }

    #[test]
    fn header_text_and_names_are_encoded() {
        assert_eq!(encode_text("Hello"), "Hello");
        assert_eq!(encode_text("Gr\u{fc}\u{df}e"), "=?UTF-8?B?R3LDvMOfZQ==?=");
        assert_eq!(phrase("Joe Q. Public"), "\"Joe Q. Public\"");
        assert_eq!(phrase("Joe Public"), "Joe Public");
        assert_eq!(
            address(&serde_json::json!({"name": "A \"B\"", "email": "a@b.example"})).unwrap(),
            "\"A \\\"B\\\"\" <a@b.example>"
        );
        assert!(address(&serde_json::json!({"email": "a@b\r\nBcc: x@y"})).is_err());
        assert!(address(&serde_json::json!({"email": "nobody"})).is_err());
        assert_eq!(
            parameter("filename", "r\u{e9}sum\u{e9}.pdf"),
            "filename*=utf-8''r%C3%A9sum%C3%A9.pdf"
        );
    }

    #[test]
    fn raw_values_fold_only() {
        assert!(check_raw(" a\r\n b").is_ok());
        assert!(check_raw(" a\r\nBcc: x@y").is_err());
        assert!(check_raw(" a\nb").is_err());
    }

    #[test]
    fn header_properties_split() {
        assert!(matches!(
            header_property("header:X-Tag:asText:all"),
            Ok((n, Form::Text, true)) if n == "X-Tag"
        ));
        assert!(matches!(
            header_property("header:List-Post:asURLs"),
            Ok((_, Form::Urls, false))
        ));
        assert!(header_property("header:X:asGroupedAddresses").is_err());
        assert!(header_property("subjectx").is_err());
    }
}
