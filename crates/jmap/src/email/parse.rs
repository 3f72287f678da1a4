//! `Email/parse` (RFC 8621 §4.9): an Email object made from any blob of
//! the account holding a message: an upload, a stored email, or a
//! `message/rfc822` part of either. `id`, `threadId`, `mailboxIds`,
//! `keywords` and `receivedAt` are null (the blob is no stored email);
//! `blobId` and `size` are the blob's; part blobIds are
//! `{blobId}.P{n}` and download like any other.

use mail_parser::MessageParser;
use serde_json::{Map, Value, json};

use super::get::{Wanted, render};
use super::types::{PARSE_DEFAULT_PROPERTIES, ParseRequest};
use crate::{Ctx, DownloadError, MethodError, arguments};

pub fn parse(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: ParseRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.blob_ids.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} blobs (maxObjectsInGet)",
            ctx.limits.max_objects_in_get
        )));
    }
    let wanted = Wanted::new(
        req.properties.as_deref(),
        &PARSE_DEFAULT_PROPERTIES,
        req.body_properties.as_deref(),
        [
            req.fetch_text_body_values,
            req.fetch_html_body_values,
            req.fetch_all_body_values,
        ],
        req.max_body_value_bytes,
    )?;
    let mut parsed = Map::new();
    let mut not_parsable = Vec::new();
    let mut not_found = Vec::new();
    for id in req.blob_ids {
        if parsed.contains_key(&id) || not_parsable.contains(&id) || not_found.contains(&id) {
            continue;
        }
        let blob = match crate::blob::fetch(ctx.store, ctx.account, &id, ctx.limits) {
            Ok(b) => b,
            Err(DownloadError::NotFound) => {
                not_found.push(id);
                continue;
            }
            Err(DownloadError::TooLarge) => {
                not_parsable.push(id);
                continue;
            }
            Err(DownloadError::Store(e)) => return Err(e.into()),
        };
        if !is_message(&blob.bytes) {
            not_parsable.push(id);
            continue;
        }
        let meta = tidings_store::email_meta_of(&blob.bytes);
        let end = usize::try_from(meta.header_end).unwrap_or(usize::MAX);
        let header = blob.bytes.get(..end).unwrap_or(&blob.bytes);
        let email = render(&id, None, Some(&meta), header, Some(&blob.bytes), &wanted);
        parsed.insert(id, email);
    }
    let or_null = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    Ok(json!({
        "accountId": req.account_id,
        "parsed": if parsed.is_empty() { Value::Null } else { Value::Object(parsed) },
        "notParsable": or_null(not_parsable),
        "notFound": or_null(not_found),
    }))
}

/// Whether `raw` reads as a message: it starts with a header field
/// (RFC 5322 §2.2: a name of printable ASCII, then a colon, on the first
/// line) and parses. Plain text and binary blobs do not.
pub(crate) fn is_message(raw: &[u8]) -> bool {
    let line_end = raw.iter().position(|b| *b == b'\n').unwrap_or(raw.len());
    let first = &raw[..line_end];
    let starts_with_field = first.iter().position(|b| *b == b':').is_some_and(|colon| {
        colon > 0
            && first[..colon]
                .iter()
                .all(|b| b.is_ascii_graphic() && *b != b':')
    });
    starts_with_field
        && MessageParser::default()
            .parse_headers(raw)
            .is_some_and(|m| !m.root_part().headers.is_empty())
}
