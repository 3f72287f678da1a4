//! `Email/get` (RFC 8621 §4.2): metadata from the store's view and parsed
//! envelope; the body (`bodyStructure`, `textBody`, `bodyValues`, …) from
//! the message parsed again with mail-parser only when asked for, whose
//! textBody/htmlBody/attachments lists follow the algorithm of RFC 8621
//! §4.1.4.

use serde_json::{Map, Value, json};
use tidings_store::{Address, EmailMeta, StoreError};
use tidings_types::EmailId;

use super::types::{
    BODY_PROPERTIES, DEFAULT_BODY_PROPERTIES, DEFAULT_PROPERTIES, GetRequest, MORE_PROPERTIES,
    PROPERTIES,
};
use crate::view::{EmailInfo, jmap_keyword};
use crate::{Ctx, MethodError, arguments, date};

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

/// What one `Email/get` (or `Email/parse`) call asks for, checked.
pub(crate) struct Wanted {
    properties: Vec<String>,
    body_properties: Vec<String>,
    text_values: bool,
    html_values: bool,
    all_values: bool,
    max_value_bytes: usize,
}

impl Wanted {
    /// Checks the properties asked for (`defaults` when none), the body
    /// properties, and the `fetch*BodyValues` flags (text, HTML, all).
    pub(crate) fn new(
        properties: Option<&[String]>,
        defaults: &[&str],
        body_properties: Option<&[String]>,
        [text_values, html_values, all_values]: [bool; 3],
        max_body_value_bytes: u64,
    ) -> Result<Wanted, MethodError> {
        let properties = match properties {
            None => defaults.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                let mut out = vec!["id".to_string()];
                for p in list {
                    let known = PROPERTIES.contains(&p.as_str())
                        || MORE_PROPERTIES.contains(&p.as_str())
                        || HeaderForm::parse(p).is_some();
                    if !known {
                        return Err(MethodError::InvalidArguments(format!(
                            "unknown or unsupported property {p}"
                        )));
                    }
                    if !out.contains(p) {
                        out.push(p.clone());
                    }
                }
                out
            }
        };
        let body_properties = match body_properties {
            None => DEFAULT_BODY_PROPERTIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(list) => {
                for p in list {
                    if !BODY_PROPERTIES.contains(&p.as_str()) || p == "header" {
                        return Err(MethodError::InvalidArguments(format!(
                            "unknown or unsupported body property {p}"
                        )));
                    }
                }
                list.to_vec()
            }
        };
        Ok(Wanted {
            properties,
            body_properties,
            text_values,
            html_values,
            all_values,
            max_value_bytes: usize::try_from(max_body_value_bytes).unwrap_or(usize::MAX),
        })
    }
}

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let wanted = Wanted::new(
        req.properties.as_deref(),
        &DEFAULT_PROPERTIES,
        req.body_properties.as_deref(),
        [
            req.fetch_text_body_values,
            req.fetch_html_body_values,
            req.fetch_all_body_values,
        ],
        req.max_body_value_bytes,
    )?;
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let ids: Vec<String> = match req.ids {
        Some(ids) => ids,
        None => view.emails.keys().map(|id| id.to_string()).collect(),
    };
    if ids.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::RequestTooLarge(format!(
            "{} ids, at most {} (maxObjectsInGet)",
            ids.len(),
            ctx.limits.max_objects_in_get
        )));
    }
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        let found = EmailId::parse(&id).and_then(|e| view.emails.get(&e).map(|i| (e, i)));
        match found {
            Some((email, info)) => match email_object(ctx, email, info, &wanted) {
                Ok(object) => list.push(object),
                // Destroyed by another session since the view was made.
                Err(StoreError::NotFound(_)) => not_found.push(id),
                Err(e) => return Err(e.into()),
            },
            None => not_found.push(id),
        }
    }
    Ok(json!({
        "accountId": req.account_id,
        "state": state,
        "list": list,
        "notFound": not_found,
    }))
}

fn addresses(list: &[Address]) -> Value {
    if list.is_empty() {
        return Value::Null;
    }
    Value::Array(
        list.iter()
            .map(|a| json!({ "name": a.name, "email": a.email.clone().unwrap_or_default() }))
            .collect(),
    )
}

fn strings_or_null(list: &[String]) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        json!(list)
    }
}

/// A `header:{name}[:as{Form}][:all]` property (RFC 8621 §4.1.3).
struct HeaderForm {
    name: String,
    form: mail_parser::HeaderForm,
    all: bool,
}

impl HeaderForm {
    fn parse(property: &str) -> Option<HeaderForm> {
        use mail_parser::HeaderForm as F;
        let rest = property.strip_prefix("header:")?;
        let mut parts = rest.split(':');
        // RFC 5322 §3.6.8 field name: printable ASCII but the colon.
        let name = parts
            .next()
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))?;
        let mut form = F::Raw;
        let mut all = false;
        for (i, p) in parts.enumerate() {
            match (i, p) {
                (_, "all") if !all => all = true,
                (0, "asRaw") => form = F::Raw,
                (0, "asText") => form = F::Text,
                (0, "asAddresses") => form = F::Addresses,
                (0, "asGroupedAddresses") => form = F::GroupedAddresses,
                (0, "asMessageIds") => form = F::MessageIds,
                (0, "asDate") => form = F::Date,
                (0, "asURLs") => form = F::URLs,
                _ => return None,
            }
        }
        Some(HeaderForm {
            name: name.to_string(),
            form,
            all,
        })
    }

    /// One parsed value as JSON (RFC 8621 §4.1.2).
    fn to_json(&self, value: &mail_parser::HeaderValue<'_>) -> Value {
        use mail_parser::{Address as A, HeaderForm as F, HeaderValue as V};
        let addr = |a: &mail_parser::Addr<'_>| json!({ "name": a.name.as_deref(), "email": a.address.as_deref().unwrap_or("") });
        let list = |v: &V<'_>| -> Vec<String> {
            match v {
                V::Text(t) => vec![t.to_string()],
                V::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
                _ => Vec::new(),
            }
        };
        match self.form {
            F::Raw | F::Text => match value {
                V::Text(t) => json!(t),
                V::TextList(l) => json!(l.join(", ")),
                _ => json!(""),
            },
            F::Addresses => match value {
                V::Address(A::List(l)) => Value::Array(l.iter().map(addr).collect()),
                V::Address(A::Group(g)) => Value::Array(
                    g.iter()
                        .flat_map(|g| g.addresses.iter().map(addr))
                        .collect(),
                ),
                _ => json!([]),
            },
            F::GroupedAddresses => match value {
                V::Address(A::List(l)) => json!([{
                    "name": null,
                    "addresses": l.iter().map(addr).collect::<Vec<_>>(),
                }]),
                V::Address(A::Group(g)) => Value::Array(
                    g.iter()
                        .map(|g| {
                            json!({
                                "name": g.name.as_deref(),
                                "addresses": g.addresses.iter().map(addr).collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                ),
                _ => json!([]),
            },
            F::MessageIds => {
                let ids = list(value);
                if ids.is_empty() {
                    Value::Null
                } else {
                    json!(ids)
                }
            }
            F::Date => match value {
                V::DateTime(d) => json!(d.to_rfc3339()),
                _ => Value::Null,
            },
            F::URLs => match value {
                V::Address(A::List(l)) => {
                    json!(
                        l.iter()
                            .filter_map(|a| a.address.as_deref())
                            .collect::<Vec<_>>()
                    )
                }
                _ => Value::Null,
            },
        }
    }
}

/// The header fields of `header` (the bytes up to the blank line) as
/// (name, raw value) pairs in order (RFC 8621 §4.1.2 Raw form: the bytes
/// after the colon, folding kept).
pub fn raw_headers(header: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(header);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if body.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push_str("\r\n");
                value.push_str(body);
            }
            continue;
        }
        if let Some((name, value)) = body.split_once(':') {
            out.push((name.trim_end().to_string(), value.to_string()));
        }
    }
    out
}

fn email_object(
    ctx: &Ctx<'_>,
    email: EmailId,
    info: &EmailInfo,
    wanted: &Wanted,
) -> Result<Value, StoreError> {
    let props = &wanted.properties;
    let needs_meta = props.iter().any(|p| {
        matches!(
            p.as_str(),
            "messageId"
                | "inReplyTo"
                | "references"
                | "sender"
                | "from"
                | "to"
                | "cc"
                | "bcc"
                | "replyTo"
                | "subject"
                | "sentAt"
                | "hasAttachment"
                | "preview"
        )
    });
    let needs_headers = props
        .iter()
        .any(|p| p == "headers" || p.starts_with("header:"));
    let needs_body = props.iter().any(|p| {
        matches!(
            p.as_str(),
            "bodyStructure" | "bodyValues" | "textBody" | "htmlBody" | "attachments"
        )
    });
    let meta: Option<EmailMeta> = if needs_meta || needs_headers {
        Some(ctx.store.email_meta(ctx.account, email)?)
    } else {
        None
    };
    let header_bytes = match (&meta, needs_headers) {
        (Some(meta), true) => ctx
            .store
            .email_raw_prefix(ctx.account, email, meta.header_end)?,
        _ => Vec::new(),
    };
    let raw = if needs_body {
        Some(ctx.store.email_raw(ctx.account, email)?)
    } else {
        None
    };
    Ok(render(
        &email.to_string(),
        Some(info),
        meta.as_ref(),
        &header_bytes,
        raw.as_deref(),
        wanted,
    ))
}

/// An Email object of the properties `wanted` asks for. `info` is the
/// stored email's (id, thread, mailboxes, keywords, size, date), `None`
/// for a parsed blob (`Email/parse`: those are null, size is the blob's).
/// `raw` is needed only for the body properties; part blobIds are
/// `{blob_id}.P{n}`.
pub(crate) fn render(
    blob_id: &str,
    info: Option<&EmailInfo>,
    meta: Option<&EmailMeta>,
    header_bytes: &[u8],
    raw: Option<&[u8]>,
    wanted: &Wanted,
) -> Value {
    let props = &wanted.properties;
    let headers = raw_headers(header_bytes);
    let mut parsed_header: Option<Option<mail_parser::Message<'_>>> = None;
    let parsed = raw.and_then(|r| MessageParser::default().parse(r));
    let mut out = Map::new();
    for p in props {
        let env = meta.map(|m| &m.envelope);
        let v = match (p.as_str(), info) {
            ("id", Some(_)) => json!(blob_id),
            ("blobId", _) => json!(blob_id),
            ("threadId", Some(info)) => json!(info.thread.to_string()),
            ("mailboxIds", Some(info)) => Value::Object(
                info.mailboxes
                    .iter()
                    .map(|m| (m.to_string(), Value::Bool(true)))
                    .collect(),
            ),
            ("keywords", Some(info)) => Value::Object(
                info.keywords
                    .iter()
                    .filter(|k| !k.is_deleted())
                    .map(|k| (jmap_keyword(k), Value::Bool(true)))
                    .collect(),
            ),
            ("size", Some(info)) => json!(info.size),
            ("size", None) => json!(raw.map_or(0, <[u8]>::len)),
            ("receivedAt", Some(info)) => json!(date::utc(info.received)),
            ("id" | "threadId" | "mailboxIds" | "keywords" | "receivedAt", None) => Value::Null,
            (p, _) => match p {
                "messageId" => env.map_or(Value::Null, |e| {
                    e.message_id.as_ref().map_or(Value::Null, |m| json!([m]))
                }),
                "inReplyTo" => env.map_or(Value::Null, |e| strings_or_null(&e.in_reply_to)),
                "references" => env.map_or(Value::Null, |e| strings_or_null(&e.references)),
                "sender" => env.map_or(Value::Null, |e| addresses(&e.sender)),
                "from" => env.map_or(Value::Null, |e| addresses(&e.from)),
                "to" => env.map_or(Value::Null, |e| addresses(&e.to)),
                "cc" => env.map_or(Value::Null, |e| addresses(&e.cc)),
                "bcc" => env.map_or(Value::Null, |e| addresses(&e.bcc)),
                "replyTo" => env.map_or(Value::Null, |e| addresses(&e.reply_to)),
                "subject" => env.map_or(Value::Null, |e| json!(e.subject)),
                "sentAt" => env.map_or(Value::Null, |e| json!(e.sent_at.map(date::utc))),
                "hasAttachment" => json!(meta.is_some_and(|m| m.has_attachment)),
                "preview" => json!(meta.map_or("", |m| m.preview.as_str())),
                "headers" => Value::Array(
                    headers
                        .iter()
                        .map(|(n, v)| json!({ "name": n, "value": v }))
                        .collect(),
                ),
                "bodyStructure" | "textBody" | "htmlBody" | "attachments" | "bodyValues" => {
                    match &parsed {
                        Some(msg) => body_property(p, blob_id, msg, raw.unwrap_or(&[]), wanted),
                        None => Value::Null,
                    }
                }
                other => match HeaderForm::parse(other) {
                    Some(form) if form.form == mail_parser::HeaderForm::Raw => {
                        let mut values = headers
                            .iter()
                            .filter(|(n, _)| n.eq_ignore_ascii_case(&form.name))
                            .map(|(_, v)| json!(v));
                        if form.all {
                            Value::Array(values.collect())
                        } else {
                            values.next_back().unwrap_or(Value::Null)
                        }
                    }
                    Some(form) => {
                        if parsed_header.is_none() {
                            parsed_header =
                                Some(MessageParser::default().parse_headers(header_bytes));
                        }
                        let values: Vec<Value> =
                            match parsed_header.as_ref().and_then(Option::as_ref) {
                                Some(msg) => msg
                                    .header_as(form.name.as_str(), form.form)
                                    .iter()
                                    .map(|v| form.to_json(v))
                                    .collect(),
                                None => Vec::new(),
                            };
                        if form.all {
                            Value::Array(values)
                        } else {
                            values.into_iter().next_back().unwrap_or(Value::Null)
                        }
                    }
                    None => continue,
                },
            },
        };
        out.insert(p.clone(), v);
    }
    Value::Object(out)
}

fn body_property(
    property: &str,
    email: &str,
    msg: &mail_parser::Message<'_>,
    raw: &[u8],
    wanted: &Wanted,
) -> Value {
    let part = |i: u32, sub: bool| body_part(email, msg, raw, i, &wanted.body_properties, sub, 0);
    let list = |ids: &[u32]| Value::Array(ids.iter().map(|i| part(*i, false)).collect());
    match property {
        "bodyStructure" => part(0, true),
        "textBody" => list(&msg.text_body),
        "htmlBody" => list(&msg.html_body),
        "attachments" => list(&msg.attachments),
        _ => {
            // bodyValues (RFC 8621 §4.2): of textBody, htmlBody and/or every
            // text/* part, as asked.
            let mut ids: Vec<u32> = Vec::new();
            if wanted.text_values {
                ids.extend(&msg.text_body);
            }
            if wanted.html_values {
                ids.extend(&msg.html_body);
            }
            if wanted.all_values {
                ids.extend((0..msg.parts.len() as u32).filter(|i| {
                    msg.parts
                        .get(*i as usize)
                        .is_some_and(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
                }));
            }
            let mut out = Map::new();
            for i in ids {
                let Some(p) = msg.parts.get(i as usize) else {
                    continue;
                };
                let Some(text) = p.text_contents() else {
                    continue;
                };
                let (value, truncated) = truncate(text, wanted.max_value_bytes);
                out.insert(
                    i.to_string(),
                    json!({
                        "value": value,
                        "isEncodingProblem": p.is_encoding_problem,
                        "isTruncated": truncated,
                    }),
                );
            }
            Value::Object(out)
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary (0: no limit).
fn truncate(text: &str, max: usize) -> (&str, bool) {
    if max == 0 || text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// The media type of a part, lower case (RFC 2045 §5.2 default text/plain).
pub fn media_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Multipart(_) => "multipart/mixed".to_string(),
            PartType::Message(_) => "message/rfc822".to_string(),
            _ => "text/plain".to_string(),
        },
    }
}

/// The bytes a part's blob holds: its decoded content (RFC 8621 §4.1.4).
pub fn part_bytes<'a>(part: &'a MessagePart<'_>, raw: &'a [u8]) -> &'a [u8] {
    match &part.body {
        PartType::Message(_) | PartType::Multipart(_) => raw
            .get(part.offset_body as usize..part.offset_end as usize)
            .unwrap_or(&[]),
        _ => part.contents(),
    }
}

/// Deeper than this, sub-parts are not listed (mail-parser itself stops
/// nesting at its own limit; this bounds our recursion too).
const MAX_DEPTH: usize = 32;

fn body_part(
    email: &str,
    msg: &mail_parser::Message<'_>,
    raw: &[u8],
    index: u32,
    properties: &[String],
    with_sub_parts: bool,
    depth: usize,
) -> Value {
    let Some(part) = msg.parts.get(index as usize) else {
        return Value::Null;
    };
    let multipart = matches!(part.body, PartType::Multipart(_));
    let mut out = Map::new();
    for p in properties {
        let v = match p.as_str() {
            "partId" if multipart => Value::Null,
            "partId" => json!(index.to_string()),
            "blobId" if multipart => Value::Null,
            "blobId" => json!(format!("{email}.P{index}")),
            "size" if multipart => json!(0),
            "size" => json!(part_bytes(part, raw).len()),
            "headers" => Value::Array(
                part.headers
                    .iter()
                    .map(|h| {
                        let value = raw
                            .get(h.offset_start as usize..h.offset_end as usize)
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        let value = value.trim_end_matches(['\r', '\n']);
                        json!({ "name": h.name(), "value": value })
                    })
                    .collect(),
            ),
            "name" => json!(part.attachment_name()),
            "type" => json!(media_type(part)),
            "charset" => {
                let charset = part
                    .content_type()
                    .and_then(|ct| ct.attribute("charset"))
                    .map(|c| c.to_string());
                match charset {
                    Some(c) => json!(c),
                    None if media_type(part).starts_with("text/") => json!("us-ascii"),
                    None => Value::Null,
                }
            }
            "disposition" => json!(
                part.content_disposition()
                    .map(|d| d.ctype().to_ascii_lowercase())
            ),
            "cid" => json!(
                part.content_id()
                    .map(|c| c.trim_start_matches('<').trim_end_matches('>'))
            ),
            "language" => match part.content_language().as_text_list() {
                Some(l) => json!(l),
                None => match part.content_language().as_text() {
                    Some(t) => json!([t]),
                    None => Value::Null,
                },
            },
            "location" => json!(part.content_location()),
            "subParts" => match (&part.body, with_sub_parts && depth < MAX_DEPTH) {
                (PartType::Multipart(children), true) => Value::Array(
                    children
                        .iter()
                        .map(|c| body_part(email, msg, raw, *c, properties, true, depth + 1))
                        .collect(),
                ),
                _ => Value::Null,
            },
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    if with_sub_parts
        && multipart
        && !properties.iter().any(|p| p == "subParts")
        && depth < MAX_DEPTH
        && let PartType::Multipart(children) = &part.body
    {
        // bodyStructure always shows the tree (RFC 8621 §4.1.4 subParts).
        out.insert(
            "subParts".into(),
            Value::Array(
                children
                    .iter()
                    .map(|c| body_part(email, msg, raw, *c, properties, true, depth + 1))
                    .collect(),
            ),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_headers_keep_folding() {
        let h = raw_headers(b"Subject: a\r\n  b\r\nFrom: x@y\r\n\r\nbody");
        assert_eq!(h[0], ("Subject".into(), " a\r\n  b".into()));
        assert_eq!(h[1], ("From".into(), " x@y".into()));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), ("h", true));
        assert_eq!(truncate("héllo", 0), ("héllo", false));
    }
}
