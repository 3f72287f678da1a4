//! `Email/query` (RFC 8621 §4.4, RFC 8620 §5.5): filters, sorts, paging by
//! position or anchor, `collapseThreads`. Changes to the results are
//! served by `Email/queryChanges` (`query_changes.rs`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use tidings_store::EmailMeta;
use tidings_types::{EmailId, MailboxId, ThreadId};

use super::types::{Comparator, QueryRequest, QueryResponse};
use crate::view::{AccountView, EmailInfo, store_keyword};
use crate::{Ctx, MethodError, arguments, date};

/// The sort properties served (the session's `emailQuerySortOptions`).
pub const SORT_PROPERTIES: [&str; 3] = ["receivedAt", "size", "sentAt"];

/// The most ids one query returns (RFC 8620 §5.5: the server may cap
/// `limit` and says so in the response).
const MAX_LIMIT: u64 = 1000;

/// Filters nest at most this deep (a request is bounded anyway; this keeps
/// recursion on client data shallow).
const MAX_FILTER_DEPTH: usize = 16;

/// A parsed filter (RFC 8620 §5.5 FilterOperator / RFC 8621 §4.4.1).
#[derive(Debug)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Vec<Filter>),
    InMailbox(MailboxId),
    InMailboxOtherThan(Vec<MailboxId>),
    Before(i64),
    After(i64),
    MinSize(u64),
    MaxSize(u64),
    HasKeyword(String),
    NotKeyword(String),
    HasAttachment(bool),
    /// Full-text: the store's index or any address/subject field.
    Text(String),
    From(String),
    To(String),
    Cc(String),
    Bcc(String),
    Subject(String),
    Body(String),
    /// A mailbox id that does not exist: matches nothing.
    Nothing,
}

/// Checks a filter as `Email/query` would (for `SearchSnippet/get`).
pub(crate) fn check_filter(v: &Value, view: &AccountView) -> Result<(), MethodError> {
    parse_filter(v, view, 0).map(|_| ())
}

fn parse_filter(v: &Value, view: &AccountView, depth: usize) -> Result<Filter, MethodError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(MethodError::UnsupportedFilter(
            "filter nested too deep".into(),
        ));
    }
    let Value::Object(map) = v else {
        return Err(MethodError::InvalidArguments(
            "a filter is an object".into(),
        ));
    };
    if let Some(op) = map.get("operator") {
        let conditions = map
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| MethodError::InvalidArguments("operator without conditions".into()))?;
        if map.len() != 2 {
            return Err(MethodError::InvalidArguments(
                "a FilterOperator has only operator and conditions".into(),
            ));
        }
        let parsed = conditions
            .iter()
            .map(|c| parse_filter(c, view, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return match op.as_str() {
            Some("AND") => Ok(Filter::And(parsed)),
            Some("OR") => Ok(Filter::Or(parsed)),
            Some("NOT") => Ok(Filter::Not(parsed)),
            _ => Err(MethodError::InvalidArguments(format!(
                "unknown operator {op}"
            ))),
        };
    }
    let mut all = Vec::new();
    for (key, value) in map {
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| MethodError::InvalidArguments(format!("{key} must be a string")))
        };
        let date = || {
            value
                .as_str()
                .and_then(date::parse)
                .ok_or_else(|| MethodError::InvalidArguments(format!("{key} must be a UTCDate")))
        };
        let number = || {
            value
                .as_u64()
                .ok_or_else(|| MethodError::InvalidArguments(format!("{key} must be a number")))
        };
        let keyword = || {
            let k = text()?;
            store_keyword(&k)
                .map(|_| k.to_ascii_lowercase())
                .ok_or_else(|| MethodError::InvalidArguments(format!("{key}: bad keyword")))
        };
        let mailbox = |s: &str| MailboxId::parse(s).filter(|id| view.mailbox(*id).is_some());
        let f = match key.as_str() {
            "inMailbox" => match mailbox(&text()?) {
                Some(id) => Filter::InMailbox(id),
                None => Filter::Nothing,
            },
            "inMailboxOtherThan" => {
                let ids = value.as_array().ok_or_else(|| {
                    MethodError::InvalidArguments("inMailboxOtherThan must be a list".into())
                })?;
                Filter::InMailboxOtherThan(
                    ids.iter()
                        .filter_map(Value::as_str)
                        .filter_map(mailbox)
                        .collect(),
                )
            }
            "before" => Filter::Before(date()?),
            "after" => Filter::After(date()?),
            "minSize" => Filter::MinSize(number()?),
            "maxSize" => Filter::MaxSize(number()?),
            "hasKeyword" => Filter::HasKeyword(keyword()?),
            "notKeyword" => Filter::NotKeyword(keyword()?),
            "hasAttachment" => Filter::HasAttachment(value.as_bool().ok_or_else(|| {
                MethodError::InvalidArguments("hasAttachment must be a boolean".into())
            })?),
            "text" => Filter::Text(text()?),
            "from" => Filter::From(text()?),
            "to" => Filter::To(text()?),
            "cc" => Filter::Cc(text()?),
            "bcc" => Filter::Bcc(text()?),
            "subject" => Filter::Subject(text()?),
            "body" => Filter::Body(text()?),
            other => {
                return Err(MethodError::UnsupportedFilter(format!(
                    "filter condition {other} is not supported"
                )));
            }
        };
        all.push(f);
    }
    Ok(Filter::And(all))
}

/// Evaluates filters, loading each email's metadata and the full-text
/// results at most once.
struct Matcher<'a> {
    ctx: &'a Ctx<'a>,
    metas: HashMap<EmailId, Option<EmailMeta>>,
    searches: HashMap<String, HashSet<EmailId>>,
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn addresses_contain(list: &[tidings_store::Address], needle: &str) -> bool {
    list.iter().any(|a| {
        a.name.as_deref().is_some_and(|n| contains(n, needle))
            || a.email.as_deref().is_some_and(|e| contains(e, needle))
    })
}

impl Matcher<'_> {
    fn meta(&mut self, id: EmailId) -> Result<Option<&EmailMeta>, MethodError> {
        if !self.metas.contains_key(&id) {
            let meta = match self.ctx.store.email_meta(self.ctx.account, id) {
                Ok(m) => Some(m),
                Err(tidings_store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            self.metas.insert(id, meta);
        }
        Ok(self.metas.get(&id).and_then(Option::as_ref))
    }

    fn search(&mut self, text: &str) -> Result<&HashSet<EmailId>, MethodError> {
        if !self.searches.contains_key(text) {
            let found = match self.ctx.store.search_text(self.ctx.account, text) {
                Ok(ids) => ids.into_iter().collect(),
                Err(tidings_store::StoreError::Refused(why)) => {
                    return Err(MethodError::UnsupportedFilter(why));
                }
                Err(e) => return Err(e.into()),
            };
            self.searches.insert(text.to_string(), found);
        }
        Ok(&self.searches[text])
    }

    fn matches(&mut self, f: &Filter, id: EmailId, info: &EmailInfo) -> Result<bool, MethodError> {
        Ok(match f {
            Filter::And(fs) => {
                for f in fs {
                    if !self.matches(f, id, info)? {
                        return Ok(false);
                    }
                }
                true
            }
            Filter::Or(fs) => {
                for f in fs {
                    if self.matches(f, id, info)? {
                        return Ok(true);
                    }
                }
                false
            }
            Filter::Not(fs) => {
                for f in fs {
                    if self.matches(f, id, info)? {
                        return Ok(false);
                    }
                }
                true
            }
            Filter::Nothing => false,
            Filter::InMailbox(m) => info.mailboxes.contains(m),
            Filter::InMailboxOtherThan(ms) => info.mailboxes.iter().any(|m| !ms.contains(m)),
            Filter::Before(t) => info.received < *t,
            Filter::After(t) => info.received >= *t,
            Filter::MinSize(n) => info.size >= *n,
            Filter::MaxSize(n) => info.size < *n,
            Filter::HasKeyword(k) => info.has_keyword(k),
            Filter::NotKeyword(k) => !info.has_keyword(k),
            Filter::HasAttachment(want) => {
                self.meta(id)?.is_some_and(|m| m.has_attachment) == *want
            }
            Filter::Body(text) => self.search(text)?.contains(&id),
            Filter::Text(text) => {
                if self.search(text)?.contains(&id) {
                    true
                } else {
                    self.meta(id)?.is_some_and(|m| {
                        let e = &m.envelope;
                        e.subject.as_deref().is_some_and(|s| contains(s, text))
                            || [&e.from, &e.to, &e.cc, &e.bcc]
                                .iter()
                                .any(|l| addresses_contain(l, text))
                    })
                }
            }
            Filter::From(t) => self
                .meta(id)?
                .is_some_and(|m| addresses_contain(&m.envelope.from, t)),
            Filter::To(t) => self
                .meta(id)?
                .is_some_and(|m| addresses_contain(&m.envelope.to, t)),
            Filter::Cc(t) => self
                .meta(id)?
                .is_some_and(|m| addresses_contain(&m.envelope.cc, t)),
            Filter::Bcc(t) => self
                .meta(id)?
                .is_some_and(|m| addresses_contain(&m.envelope.bcc, t)),
            Filter::Subject(t) => self.meta(id)?.is_some_and(|m| {
                m.envelope
                    .subject
                    .as_deref()
                    .is_some_and(|s| contains(s, t))
            }),
        })
    }
}

/// The ids of a query's results in order, each with its thread: the
/// whole list, before paging (shared with `Email/queryChanges`). Kept in
/// the view, so the pages of one query at one state are computed once;
/// emails that came since a kept result was computed are added to it
/// where they belong instead of computing it again.
pub fn results(
    ctx: &Ctx<'_>,
    view: &AccountView,
    filter: Option<&Value>,
    sort: &[Comparator],
    collapse_threads: bool,
) -> Result<std::sync::Arc<Vec<(EmailId, ThreadId)>>, MethodError> {
    let key = serde_json::to_string(&(filter, sort, collapse_threads))
        .map_err(|e| MethodError::ServerFail(e.to_string()))?;
    let mut query = Query::new(ctx, view, filter, sort)?;
    let list = match view.query_result(&key) {
        Some(kept) if kept.added.is_empty() => return Ok(kept.list),
        Some(kept) => match query.add(&kept.list, &kept.added, collapse_threads)? {
            Some(list) => list,
            None => query.compute(collapse_threads)?,
        },
        None => query.compute(collapse_threads)?,
    };
    let list = std::sync::Arc::new(list);
    view.keep_query_result(key, std::sync::Arc::clone(&list));
    Ok(list)
}

/// One query over one view: its filter parsed and checked, its sort.
struct Query<'q> {
    view: &'q AccountView,
    filter: Filter,
    sort: &'q [Comparator],
    matcher: Matcher<'q>,
}

impl<'q> Query<'q> {
    fn new(
        ctx: &'q Ctx<'q>,
        view: &'q AccountView,
        filter: Option<&Value>,
        sort: &'q [Comparator],
    ) -> Result<Query<'q>, MethodError> {
        let filter = match filter {
            Some(v) => parse_filter(v, view, 0)?,
            None => Filter::And(Vec::new()),
        };
        for c in sort {
            if !SORT_PROPERTIES.contains(&c.property.as_str()) || c.keyword.is_some() {
                return Err(MethodError::UnsupportedSort(format!(
                    "sorting by {} is not supported",
                    c.property
                )));
            }
            if let Some(coll) = &c.collation
                && coll != "i;ascii-casemap"
            {
                return Err(MethodError::UnsupportedSort(format!("collation {coll}")));
            }
        }
        Ok(Query {
            view,
            filter,
            sort,
            matcher: Matcher {
                ctx,
                metas: HashMap::new(),
                searches: HashMap::new(),
            },
        })
    }

    /// An email's sort key, appended to `out`: ascending order is the
    /// result's order (ties broken by id, RFC 8620 §5.5). Without a sort:
    /// newest first.
    fn key(
        &mut self,
        id: EmailId,
        info: &EmailInfo,
        out: &mut Vec<i64>,
    ) -> Result<(), MethodError> {
        if self.sort.is_empty() {
            out.push(-info.received);
        }
        for c in self.sort {
            let v = match c.property.as_str() {
                "size" => i64::try_from(info.size).unwrap_or(i64::MAX),
                "sentAt" => self
                    .matcher
                    .meta(id)?
                    .and_then(|m| m.envelope.sent_at)
                    .unwrap_or(info.received),
                _ => info.received,
            };
            out.push(if c.is_ascending { v } else { -v });
        }
        Ok(())
    }

    /// The whole result.
    fn compute(&mut self, collapse_threads: bool) -> Result<Vec<(EmailId, ThreadId)>, MethodError> {
        let view = self.view;
        let mut hits: Vec<(EmailId, &EmailInfo)> = Vec::new();
        for (id, info) in &view.emails {
            if self.matcher.matches(&self.filter, *id, info)? {
                hits.push((*id, info));
            }
        }
        // Sort keys computed once, in one flat list (`width` per hit).
        let width = self.sort.len().max(1);
        let mut keys: Vec<i64> = Vec::with_capacity(hits.len() * width);
        for (id, info) in &hits {
            self.key(*id, info, &mut keys)?;
        }
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            keys[a * width..(a + 1) * width]
                .cmp(&keys[b * width..(b + 1) * width])
                .then(hits[a].0.cmp(&hits[b].0))
        });
        let mut seen_threads = HashSet::new();
        Ok(order
            .into_iter()
            .map(|i| hits[i])
            .filter(|(_, info)| !collapse_threads || seen_threads.insert(info.thread))
            .map(|(id, info)| (id, info.thread))
            .collect())
    }

    /// `kept` (complete before `added` came) with those of `added` that
    /// match, each where the sort puts it; with `collapse_threads`, a new
    /// email takes its thread's place only if it sorts first. `None` if an
    /// email of `kept` is no longer in the view (compute it again).
    fn add(
        &mut self,
        kept: &[(EmailId, ThreadId)],
        added: &std::collections::BTreeSet<EmailId>,
        collapse_threads: bool,
    ) -> Result<Option<Vec<(EmailId, ThreadId)>>, MethodError> {
        let view = self.view;
        let mut list = kept.to_vec();
        for id in added {
            let Some(info) = view.emails.get(id) else {
                continue;
            };
            if list.iter().any(|(e, _)| e == id)
                || !self.matcher.matches(&self.filter, *id, info)?
            {
                continue;
            }
            let mut key = Vec::new();
            self.key(*id, info, &mut key)?;
            // Whether `other` sorts before the new email.
            let before = |query: &mut Self, other: EmailId| -> Result<Option<bool>, MethodError> {
                let Some(other_info) = view.emails.get(&other) else {
                    return Ok(None);
                };
                let mut other_key = Vec::new();
                query.key(other, other_info, &mut other_key)?;
                Ok(Some((other_key.as_slice(), other) < (key.as_slice(), *id)))
            };
            if collapse_threads && let Some(at) = list.iter().position(|(_, t)| *t == info.thread) {
                match before(self, list[at].0)? {
                    None => return Ok(None),
                    Some(true) => continue,
                    Some(false) => {
                        list.remove(at);
                    }
                }
            }
            // The first position whose email sorts after the new one.
            let (mut lo, mut hi) = (0, list.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match before(self, list[mid].0)? {
                    None => return Ok(None),
                    Some(true) => lo = mid + 1,
                    Some(false) => hi = mid,
                }
            }
            list.insert(lo, (*id, info.thread));
        }
        Ok(Some(list))
    }
}

pub fn query(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: QueryRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let state = ctx.state()?;
    let view = ctx.view(&state)?;
    let sort: Vec<Comparator> = req.sort.unwrap_or_default();
    let ids: Vec<EmailId> = results(ctx, &view, req.filter.as_ref(), &sort, req.collapse_threads)?
        .iter()
        .map(|(id, _)| *id)
        .collect();
    let total = ids.len() as i64;
    let start = match &req.anchor {
        Some(anchor) => {
            let at = EmailId::parse(anchor)
                .and_then(|a| ids.iter().position(|id| *id == a))
                .ok_or(MethodError::AnchorNotFound)?;
            (at as i64 + req.anchor_offset).max(0)
        }
        None if req.position < 0 => (total + req.position).max(0),
        None => req.position,
    };
    let limit = req.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let page: Vec<String> = ids
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|id| id.to_string())
        .collect();
    let response = QueryResponse {
        account_id: req.account_id,
        query_state: state,
        can_calculate_changes: ctx.shared.is_none(),
        position: u64::try_from(start.min(total)).unwrap_or(0),
        ids: page,
        total: req.calculate_total.then_some(total as u64),
        limit: (req.limit.is_none_or(|l| l > MAX_LIMIT)).then_some(limit),
    };
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use serde_json::json;
    use tidings_store::{Recipient, Store};
    use tidings_types::{MailboxRole, Secret};

    use crate::{Caller, Jmap, Limits};

    /// A message of `thread` (a reply when `reply`), of `size` extra bytes.
    fn message(n: u32, thread: u32, reply: bool, size: usize) -> Vec<u8> {
        let parent = if reply {
            format!("In-Reply-To: <t{thread}@x>\r\nReferences: <t{thread}@x>\r\n")
        } else {
            String::new()
        };
        let id = if reply {
            format!("<r{n}@x>")
        } else {
            format!("<t{thread}@x>")
        };
        format!(
            "From: a@example.org\r\nSubject: thread {thread}\r\nMessage-ID: {id}\r\n{parent}\r\n{}\r\n",
            "x".repeat(size)
        )
        .into_bytes()
    }

    fn ids(jmap: &Jmap, caller: &Caller, query: &serde_json::Value) -> Vec<String> {
        let body = json!({
            "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
            "methodCalls": [["Email/query", query, "q"]],
        });
        let r = jmap.api(caller, body.to_string().as_bytes()).unwrap();
        let (name, args, _) = &r.method_responses[0];
        assert_eq!(name, "Email/query", "{args}");
        serde_json::from_value(args["ids"].clone()).unwrap()
    }

    /// Results kept from before new mail, with the new emails added where
    /// they belong, are what a server that kept nothing computes, for
    /// each sort direction, with and without collapsed threads.
    #[test]
    fn kept_results_with_new_mail_added_equal_fresh_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_domain("example.org").unwrap();
        let account = store
            .create_account("u@example.org", &Secret::new("pw".to_string()))
            .unwrap();
        let inbox = store
            .mailbox_by_role(account, MailboxRole::Inbox)
            .unwrap()
            .unwrap()
            .id;
        let to = [Recipient {
            account,
            mailbox: inbox,
            keywords: Vec::new(),
        }];
        let deliver = |n: u32, thread: u32, reply: bool, at: i64| {
            let raw = message(n, thread, reply, (n as usize * 37) % 500);
            store.deliver(&raw, Some(at), &to).unwrap();
        };
        for n in 0..20 {
            deliver(n, n % 7, n >= 7, 1_000_000 + i64::from(n) * 100);
        }
        let caller = Caller {
            account,
            username: "u@example.org".into(),
        };
        let kept = Jmap::new(store.clone(), Limits::default());
        let queries = [
            json!({"accountId": account.to_string(), "filter": {"inMailbox": inbox.to_string()},
                   "sort": [{"property": "receivedAt", "isAscending": false}], "collapseThreads": true}),
            json!({"accountId": account.to_string(),
                   "sort": [{"property": "receivedAt", "isAscending": true}], "collapseThreads": true}),
            json!({"accountId": account.to_string(),
                   "sort": [{"property": "size"}, {"property": "receivedAt", "isAscending": false}]}),
            json!({"accountId": account.to_string(), "filter": {"minSize": 200}}),
        ];
        for q in &queries {
            ids(&kept, &caller, q);
        }
        // New threads, replies newer and older than their thread's emails,
        // and a tie in time with an older email.
        deliver(100, 50, false, 2_000_000);
        deliver(101, 2, true, 3_000_000);
        deliver(102, 3, true, 500);
        deliver(103, 4, true, 1_000_000 + 500);
        for round in 0..2 {
            for q in &queries {
                let fresh = Jmap::new(store.clone(), Limits::default());
                assert_eq!(
                    ids(&kept, &caller, q),
                    ids(&fresh, &caller, q),
                    "round {round}: {q}"
                );
            }
            deliver(104 + round, 5, true, 4_000_000);
        }
    }
}
