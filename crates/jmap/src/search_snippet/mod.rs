//! `SearchSnippet/get` (RFC 8621 §5.1): the subject and a piece of the
//! body of each email with the words a search matched marked up with
//! `<mark>`, as HTML.
//!
//! Implementation notes:
//! - The terms are the words of the filter's `text`, `subject` and
//!   `body` conditions (not those under NOT), split as the full-text
//!   index splits them (runs of letters and digits); a word of the email
//!   matches a term it starts with, ignoring case, as the index's prefix
//!   queries do. Accents are not folded here (the index folds them), so
//!   `cafe` finds `café` but does not mark it.
//! - `subject` gets `text` and `subject` terms, `preview` gets `text` and
//!   `body` terms; a field with no marked word is null (§5.1).
//! - `preview` is the email's stored preview when a term occurs in it;
//!   otherwise, for an email the index says matches, about 200
//!   characters of the body text around the first match (bodies up to
//!   [`MAX_BODY_SCAN`] octets are read for this).
//! - The filter is checked as `Email/query` checks it; ids not in the
//!   account are `notFound`.

use mail_parser::MessageParser;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tidings_types::EmailId;

use crate::{Ctx, MethodError, arguments};

/// The largest message whose body is read for an excerpt.
pub const MAX_BODY_SCAN: u64 = 1024 * 1024;
/// Characters of body text around the first match.
const EXCERPT_BEFORE: usize = 60;
const EXCERPT_AFTER: usize = 140;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetRequest {
    account_id: String,
    #[serde(default)]
    filter: Option<Value>,
    email_ids: Vec<String>,
}

/// The search terms of a filter, by the field they mark.
#[derive(Debug, Default, PartialEq, Eq)]
struct Terms {
    subject: Vec<String>,
    body: Vec<String>,
    /// The `text`/`body` strings, to ask the index whether an email
    /// matches before reading its body.
    body_queries: Vec<String>,
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn collect(v: &Value, terms: &mut Terms, depth: usize) {
    let Some(map) = v.as_object() else { return };
    if depth > 16 {
        return;
    }
    if let Some(op) = map.get("operator") {
        if op.as_str() != Some("NOT")
            && let Some(list) = map.get("conditions").and_then(Value::as_array)
        {
            for c in list {
                collect(c, terms, depth + 1);
            }
        }
        return;
    }
    for (key, value) in map {
        let Some(text) = value.as_str() else { continue };
        let (subject, body) = match key.as_str() {
            "text" => (true, true),
            "subject" => (true, false),
            "body" => (false, true),
            _ => continue,
        };
        for w in words(text) {
            if subject && !terms.subject.contains(&w) {
                terms.subject.push(w.clone());
            }
            if body && !terms.body.contains(&w) {
                terms.body.push(w);
            }
        }
        if body {
            terms.body_queries.push(text.to_string());
        }
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Whether `word` (any case) starts with one of `terms` (lower case).
fn is_match(word: &str, terms: &[String]) -> bool {
    let lower = word.to_lowercase();
    terms.iter().any(|t| lower.starts_with(t.as_str()))
}

/// Byte ranges of the words of `text`.
fn word_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// `text` as HTML with the matching words in `<mark>`; `None` if no word
/// matches.
fn highlight(text: &str, terms: &[String]) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 32);
    let mut at = 0;
    let mut found = false;
    for (s, e) in word_ranges(text) {
        let word = &text[s..e];
        if is_match(word, terms) {
            escape_into(&mut out, &text[at..s]);
            out.push_str("<mark>");
            escape_into(&mut out, word);
            out.push_str("</mark>");
            at = e;
            found = true;
        }
    }
    escape_into(&mut out, &text[at..]);
    found.then_some(out)
}

/// About [`EXCERPT_BEFORE`] + [`EXCERPT_AFTER`] characters of `text`
/// around its first matching word, whitespace collapsed, marked up.
fn excerpt(text: &str, terms: &[String]) -> Option<String> {
    let (s, _) = word_ranges(text)
        .into_iter()
        .find(|&(s, e)| is_match(&text[s..e], terms))?;
    let before: Vec<(usize, char)> = text[..s].char_indices().collect();
    let from = before
        .len()
        .checked_sub(EXCERPT_BEFORE)
        .map_or(0, |i| before[i].0);
    let to = text[s..]
        .char_indices()
        .nth(EXCERPT_AFTER)
        .map_or(text.len(), |(i, _)| s + i);
    let piece: String = text[from..to]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut marked = highlight(&piece, terms)?;
    if from > 0 {
        marked.insert(0, '…');
    }
    if to < text.len() {
        marked.push('…');
    }
    Some(marked)
}

pub fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: GetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    if req.email_ids.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::RequestTooLarge(format!(
            "{} ids, at most {} (maxObjectsInGet)",
            req.email_ids.len(),
            ctx.limits.max_objects_in_get
        )));
    }
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let mut terms = Terms::default();
    if let Some(filter) = req.filter.as_ref().filter(|f| !f.is_null()) {
        crate::email::query::check_filter(filter, &view)?;
        collect(filter, &mut terms, 0);
    }
    // Emails the index says match each body query.
    let mut indexed: Option<std::collections::HashSet<EmailId>> = None;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in req.email_ids {
        let Some(email) = EmailId::parse(&id).filter(|e| view.emails.contains_key(e)) else {
            not_found.push(id);
            continue;
        };
        let meta = match ctx.store.email_meta(ctx.account, email) {
            Ok(m) => m,
            Err(tidings_store::StoreError::NotFound(_)) => {
                not_found.push(id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let subject = meta
            .envelope
            .subject
            .as_deref()
            .and_then(|s| highlight(s, &terms.subject));
        let mut preview = highlight(&meta.preview, &terms.body);
        if preview.is_none() && !terms.body.is_empty() {
            let matched = match &indexed {
                Some(set) => set.contains(&email),
                None => {
                    let mut set = std::collections::HashSet::new();
                    for q in &terms.body_queries {
                        match ctx.store.search_text(ctx.account, q) {
                            Ok(ids) => set.extend(ids),
                            Err(tidings_store::StoreError::Refused(why)) => {
                                return Err(MethodError::UnsupportedFilter(why));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    let hit = set.contains(&email);
                    indexed = Some(set);
                    hit
                }
            };
            let small = view
                .emails
                .get(&email)
                .is_some_and(|i| i.size <= MAX_BODY_SCAN);
            if matched && small {
                let raw = ctx.store.email_raw(ctx.account, email)?;
                preview = MessageParser::default()
                    .parse(&raw)
                    .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
                    .and_then(|text| excerpt(&text, &terms.body));
            }
        }
        list.push(json!({ "emailId": id, "subject": subject, "preview": preview }));
    }
    Ok(json!({
        "accountId": req.account_id,
        "list": list,
        "notFound": if not_found.is_empty() { Value::Null } else { json!(not_found) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn matching_words_are_marked_and_the_rest_escaped() {
        assert_eq!(
            highlight("Re: Lunch <today> & Lunches", &t(&["lunch"])).as_deref(),
            Some("Re: <mark>Lunch</mark> &lt;today&gt; &amp; <mark>Lunches</mark>")
        );
        assert_eq!(highlight("nothing here", &t(&["lunch"])), None);
        assert_eq!(highlight("anything", &[]), None);
        // A term matches the start of a word only.
        assert_eq!(highlight("brunch", &t(&["unch"])), None);
    }

    #[test]
    fn terms_come_from_text_subject_and_body_but_not_from_not() {
        let mut terms = Terms::default();
        let filter = json!({"operator": "AND", "conditions": [
            {"text": "Alpha beta"},
            {"subject": "gamma", "from": "delta"},
            {"body": "epsilon"},
            {"operator": "NOT", "conditions": [{"text": "zeta"}]}
        ]});
        collect(&filter, &mut terms, 0);
        assert_eq!(terms.subject, t(&["alpha", "beta", "gamma"]));
        assert_eq!(terms.body, t(&["alpha", "beta", "epsilon"]));
        assert_eq!(terms.body_queries, t(&["Alpha beta", "epsilon"]));
    }

    #[test]
    fn an_excerpt_surrounds_the_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(50), "straw ".repeat(50));
        let e = excerpt(&text, &t(&["needle"])).unwrap_or_default();
        assert!(e.starts_with('…') && e.ends_with('…'), "{e}");
        assert!(e.contains("<mark>needle</mark>"), "{e}");
        assert!(e.chars().count() < 260, "{e}");
        assert_eq!(excerpt("no match", &t(&["needle"])), None);
    }
}
