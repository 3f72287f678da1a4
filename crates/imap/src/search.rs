//! SEARCH evaluation (RFC 9051 §6.4.4) over the session's view, the
//! metadata the store parsed at ingest, and its full-text index.
//!
//! Implementation notes:
//! - [`needs`] says what a query must have loaded before evaluation
//!   (envelopes, raw headers, full-text hits), so the session fetches that
//!   once in one blocking store call and [`matches()`] stays pure.
//! - Header keys (FROM, TO, CC, BCC, SUBJECT) are case-insensitive
//!   substring matches on the decoded envelope fields (addresses as
//!   `Name <local@domain>`). HEADER matches the raw header field values.
//! - BODY uses the store's full-text index, which matches words, not
//!   arbitrary substrings (a documented departure from RFC 9051's
//!   substring rule); TEXT is BODY or a header substring.
//! - Dates: BEFORE/ON/SINCE compare INTERNALDATE's UTC day; SENT* compare
//!   the Date header's (RFC 9051 §6.4.4 "disregarding time and timezone").

use std::collections::{HashMap, HashSet};

use tidings_imap_proto::{Date, DateTime, SearchKey, SequenceSet};
use tidings_store::{Address, EmailMeta, MailboxEntry};
use tidings_types::{EmailId, Keyword};

use crate::gmail::{RawTerm, parse_raw};

/// What a query needs loaded.
#[derive(Debug, Default)]
pub struct Needs {
    pub meta: bool,
    pub header: bool,
    /// The email's labels (X-GM-LABELS, X-GM-RAW).
    pub labels: bool,
    /// Queries for the full-text index.
    pub texts: Vec<String>,
}

/// Walks the keys and records what they need.
pub fn needs(keys: &[SearchKey]) -> Needs {
    let mut n = Needs::default();
    for k in keys {
        need(k, &mut n);
    }
    n
}

fn need(k: &SearchKey, n: &mut Needs) {
    match k {
        SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Cc(_)
        | SearchKey::Bcc(_)
        | SearchKey::Subject(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => n.meta = true,
        SearchKey::Header(..) => n.header = true,
        SearchKey::Body(s) => n.texts.push(s.clone()),
        SearchKey::Text(s) => {
            n.header = true;
            n.texts.push(s.clone());
        }
        SearchKey::XGmLabels(_) => n.labels = true,
        SearchKey::XGmRaw(q) => {
            n.meta = true;
            n.labels = true;
            fn texts(t: &RawTerm, n: &mut Needs) {
                match t {
                    RawTerm::Text(w) => n.texts.push(w.clone()),
                    RawTerm::Not(t) => texts(t, n),
                    _ => {}
                }
            }
            for t in parse_raw(q) {
                texts(&t, n);
            }
        }
        SearchKey::Not(a) => need(a, n),
        SearchKey::Or(a, b) => {
            need(a, n);
            need(b, n);
        }
        SearchKey::And(v) => v.iter().for_each(|k| need(k, n)),
        _ => {}
    }
}

/// Whether a key is one this module evaluates (the session answers
/// `BAD`/`NO` for the rest rather than guessing).
pub fn supported(k: &SearchKey) -> bool {
    match k {
        SearchKey::Not(a) => supported(a),
        SearchKey::Or(a, b) => supported(a) && supported(b),
        SearchKey::And(v) => v.iter().all(supported),
        _ => true,
    }
}

/// What evaluation looks at besides the message.
pub struct Context<'a> {
    pub max_seq: u32,
    pub max_uid: u32,
    /// `$` (RFC 5182) as sequence-number ranges, for a sequence-set key.
    pub saved: &'a [(u32, u32)],
    /// `$` as UID ranges, for a UID key.
    pub saved_uids: &'a [(u32, u32)],
    /// Full-text hits per query string.
    pub text_hits: &'a HashMap<String, HashSet<EmailId>>,
    /// Now, Unix seconds (OLDER/YOUNGER).
    pub now: i64,
    /// The query's sequence sets resolved once ([`resolve_sets`]); a set
    /// not in it is tested item by item.
    pub sets: HashMap<usize, Vec<(u32, u32)>>,
}

/// Where a set lives: the key of [`Context::sets`].
fn set_key(set: &SequenceSet) -> usize {
    std::ptr::from_ref(set) as usize
}

/// Resolves every sequence set of `key` to sorted, merged ranges, so that
/// each message is tested in O(log ranges) rather than against each of
/// the (up to thousands of) items a client wrote. Sets are never expanded
/// into numbers.
pub fn resolve_sets(
    key: &SearchKey,
    max_seq: u32,
    max_uid: u32,
    saved: &[(u32, u32)],
    saved_uids: &[(u32, u32)],
) -> HashMap<usize, Vec<(u32, u32)>> {
    let mut out = HashMap::new();
    let mut stack = vec![key];
    while let Some(k) = stack.pop() {
        match k {
            SearchKey::Uid(set) => {
                out.insert(set_key(set), set.ranges(max_uid, saved_uids));
            }
            SearchKey::SequenceSet(set) => {
                out.insert(set_key(set), set.ranges(max_seq, saved));
            }
            SearchKey::Not(a) => stack.push(a),
            SearchKey::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            SearchKey::And(v) => stack.extend(v.iter()),
            _ => {}
        }
    }
    out
}

/// Whether `n` is in `ranges` (sorted, disjoint).
fn in_ranges(ranges: &[(u32, u32)], n: u32) -> bool {
    let i = ranges.partition_point(|&(_, b)| b < n);
    ranges.get(i).is_some_and(|&(a, _)| a <= n)
}

/// One message being tested.
pub struct Candidate<'a> {
    pub seq: u32,
    pub entry: &'a MailboxEntry,
    pub meta: Option<&'a EmailMeta>,
    pub header: Option<&'a [u8]>,
    /// X-GM-LABELS of the email, when loaded.
    pub labels: Option<&'a [String]>,
    /// `\Recent` in this session (RFC 3501 §2.3.2; never in IMAP4rev2).
    pub recent: bool,
}

fn has(entry: &MailboxEntry, flag: &str) -> bool {
    if flag.eq_ignore_ascii_case(Keyword::DELETED) {
        return entry.deleted;
    }
    entry.keywords.iter().any(|k| k.matches(flag))
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn addr_match(list: &[Address], needle: &str) -> bool {
    list.iter().any(|a| {
        let s = format!(
            "{} <{}>",
            a.name.as_deref().unwrap_or(""),
            a.email.as_deref().unwrap_or("")
        );
        contains(&s, needle)
    })
}

fn day_of_date(d: &Date) -> i64 {
    DateTime::new(*d, 0, 0, 0, 0).map_or(0, |t| t.unix_timestamp().div_euclid(86_400))
}

fn day(ts: i64) -> i64 {
    ts.div_euclid(86_400)
}

fn header_value_match(header: &[u8], name: &str, needle: &str) -> bool {
    let fields = crate::fetch::header_fields(header, &[name.to_string()], false);
    let text = String::from_utf8_lossy(&fields);
    // Match on the values only: strip each "Name:" prefix.
    let values: String = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case(name) => v.to_string(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    // RFC 9051 §6.4.4: an empty string matches every message with the field.
    if needle.is_empty() {
        return fields.len() > 2;
    }
    contains(&values, needle)
}

/// Whether the message matches `key`.
pub fn matches(key: &SearchKey, c: &Candidate, ctx: &Context) -> bool {
    let e = c.entry;
    let meta = |f: &dyn Fn(&EmailMeta) -> bool| c.meta.is_some_and(f);
    match key {
        SearchKey::All => true,
        SearchKey::Answered => has(e, Keyword::ANSWERED),
        SearchKey::Unanswered => !has(e, Keyword::ANSWERED),
        SearchKey::Deleted => e.deleted,
        SearchKey::Undeleted => !e.deleted,
        SearchKey::Draft => has(e, Keyword::DRAFT),
        SearchKey::Undraft => !has(e, Keyword::DRAFT),
        SearchKey::Flagged => has(e, Keyword::FLAGGED),
        SearchKey::Unflagged => !has(e, Keyword::FLAGGED),
        SearchKey::Seen => has(e, Keyword::SEEN),
        SearchKey::Unseen => !has(e, Keyword::SEEN),
        // RFC 3501 §6.4.4: NEW is RECENT UNSEEN; OLD is NOT RECENT.
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !has(e, Keyword::SEEN),
        SearchKey::Old => !c.recent,
        SearchKey::Keyword(k) => has(e, k.as_str()),
        SearchKey::Unkeyword(k) => !has(e, k.as_str()),
        SearchKey::Larger(n) => e.size > *n,
        SearchKey::Smaller(n) => e.size < *n,
        SearchKey::Before(d) => day(e.received) < day_of_date(d),
        SearchKey::On(d) => day(e.received) == day_of_date(d),
        SearchKey::Since(d) => day(e.received) >= day_of_date(d),
        SearchKey::SentBefore(d) => {
            meta(&|m| m.envelope.sent_at.is_some_and(|t| day(t) < day_of_date(d)))
        }
        SearchKey::SentOn(d) => {
            meta(&|m| m.envelope.sent_at.is_some_and(|t| day(t) == day_of_date(d)))
        }
        SearchKey::SentSince(d) => {
            meta(&|m| m.envelope.sent_at.is_some_and(|t| day(t) >= day_of_date(d)))
        }
        SearchKey::From(s) => meta(&|m| addr_match(&m.envelope.from, s)),
        SearchKey::To(s) => meta(&|m| addr_match(&m.envelope.to, s)),
        SearchKey::Cc(s) => meta(&|m| addr_match(&m.envelope.cc, s)),
        SearchKey::Bcc(s) => meta(&|m| addr_match(&m.envelope.bcc, s)),
        SearchKey::Subject(s) => meta(&|m| {
            m.envelope
                .subject
                .as_deref()
                .is_some_and(|x| contains(x, s))
        }),
        SearchKey::Header(name, value) => {
            c.header.is_some_and(|h| header_value_match(h, name, value))
        }
        SearchKey::Body(s) => ctx.text_hits.get(s).is_some_and(|h| h.contains(&e.email)),
        SearchKey::Text(s) => {
            ctx.text_hits.get(s).is_some_and(|h| h.contains(&e.email))
                || c.header
                    .is_some_and(|h| contains(&String::from_utf8_lossy(h), s))
        }
        SearchKey::Uid(set) => match ctx.sets.get(&set_key(set)) {
            Some(r) => in_ranges(r, e.uid.0),
            None => set.contains(e.uid.0, ctx.max_uid, ctx.saved_uids),
        },
        SearchKey::SequenceSet(set) => match ctx.sets.get(&set_key(set)) {
            Some(r) => in_ranges(r, c.seq),
            None => set.contains(c.seq, ctx.max_seq, ctx.saved),
        },
        SearchKey::Not(k) => !matches(k, c, ctx),
        SearchKey::Or(a, b) => matches(a, c, ctx) || matches(b, c, ctx),
        SearchKey::And(v) => v.iter().all(|k| matches(k, c, ctx)),
        SearchKey::ModSeq { mod_seq, .. } => e.modseq.0 >= *mod_seq,
        SearchKey::Older(secs) => e.received <= ctx.now - i64::from(*secs),
        SearchKey::Younger(secs) => e.received >= ctx.now - i64::from(*secs),
        SearchKey::EmailId(id) => e.email.to_string() == *id,
        SearchKey::ThreadId(id) => e.thread.to_string() == *id,
        SearchKey::XGmMsgId(n) => u64::try_from(e.email.0).is_ok_and(|x| x == *n),
        SearchKey::XGmThrId(n) => u64::try_from(e.thread.0).is_ok_and(|x| x == *n),
        // RFC 8514 §4: the date the message was added to this mailbox.
        SearchKey::SavedBefore(d) => day(e.saved) < day_of_date(d),
        SearchKey::SavedOn(d) => day(e.saved) == day_of_date(d),
        SearchKey::SavedSince(d) => day(e.saved) >= day_of_date(d),
        SearchKey::SaveDateSupported => true,
        SearchKey::XGmLabels(l) => has_label(c, l),
        SearchKey::XGmRaw(q) => parse_raw(q).iter().all(|t| raw_matches(t, c, ctx)),
    }
}

fn has_label(c: &Candidate, label: &str) -> bool {
    let bare = label.trim_start_matches('\\');
    c.labels.is_some_and(|ls| {
        ls.iter()
            .any(|x| x == label || (x.starts_with('\\') && x[1..].eq_ignore_ascii_case(bare)))
    })
}

fn raw_matches(t: &RawTerm, c: &Candidate, ctx: &Context) -> bool {
    let e = c.entry;
    let meta = |f: &dyn Fn(&EmailMeta) -> bool| c.meta.is_some_and(f);
    match t {
        RawTerm::Label(l) => has_label(c, l),
        RawTerm::Unread => !has(e, Keyword::SEEN),
        RawTerm::Read => has(e, Keyword::SEEN),
        RawTerm::Starred => has(e, Keyword::FLAGGED),
        RawTerm::From(s) => meta(&|m| addr_match(&m.envelope.from, s)),
        RawTerm::To(s) => meta(&|m| addr_match(&m.envelope.to, s)),
        RawTerm::Cc(s) => meta(&|m| addr_match(&m.envelope.cc, s)),
        RawTerm::Subject(s) => meta(&|m| {
            m.envelope
                .subject
                .as_deref()
                .is_some_and(|x| contains(x, s))
        }),
        RawTerm::HasAttachment => meta(&|m| m.has_attachment),
        RawTerm::Text(w) => ctx.text_hits.get(w).is_some_and(|h| h.contains(&e.email)),
        RawTerm::Not(t) => !raw_matches(t, c, ctx),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tidings_types::{ModSeq, ThreadId, Uid};

    #[test]
    fn flags_sizes_and_boolean_keys() {
        let e = MailboxEntry {
            uid: Uid(7),
            email: EmailId(3),
            thread: ThreadId(3),
            keywords: vec![Keyword::new("\\Seen").unwrap()],
            deleted: true,
            modseq: ModSeq(5),
            size: 100,
            received: 86_400 * 3 + 5,
            saved: 0,
        };
        let hits = HashMap::new();
        let labels = vec!["\\Inbox".to_string(), "Work".to_string()];
        let ctx = Context {
            max_seq: 1,
            max_uid: 7,
            saved: &[],
            saved_uids: &[],
            text_hits: &hits,
            now: 0,
            sets: HashMap::new(),
        };
        let c = Candidate {
            seq: 1,
            entry: &e,
            meta: None,
            header: Some(b"Subject: Hello World\r\n\r\n"),
            labels: Some(&labels),
            recent: false,
        };
        assert!(matches(&SearchKey::Seen, &c, &ctx));
        assert!(matches(&SearchKey::Deleted, &c, &ctx));
        assert!(!matches(&SearchKey::Larger(100), &c, &ctx));
        assert!(matches(&SearchKey::Smaller(101), &c, &ctx));
        let d = Date::new(1970, 1, 4).unwrap();
        assert!(matches(&SearchKey::On(d), &c, &ctx));
        assert!(matches(
            &SearchKey::Before(Date::new(1970, 1, 5).unwrap()),
            &c,
            &ctx
        ));
        let or = SearchKey::Or(
            Box::new(SearchKey::Unseen),
            Box::new(SearchKey::ModSeq {
                mod_seq: 5,
                entry: None,
            }),
        );
        assert!(matches(&or, &c, &ctx));
        assert!(matches(
            &SearchKey::Header("subject".into(), "world".into()),
            &c,
            &ctx
        ));
        assert!(!matches(
            &SearchKey::Header("from".into(), "".into()),
            &c,
            &ctx
        ));
        assert!(matches(&SearchKey::XGmLabels("inbox".into()), &c, &ctx));
        assert!(matches(
            &SearchKey::XGmRaw("label:Work is:read".into()),
            &c,
            &ctx
        ));
        assert!(!matches(&SearchKey::XGmRaw("-label:Work".into()), &c, &ctx));
        // Resolved sets give the same answers as item-by-item tests.
        let set = SequenceSet::compact((1..5000).map(|n| n * 2)).unwrap();
        for key in [SearchKey::Uid(set.clone()), SearchKey::SequenceSet(set)] {
            let key = SearchKey::Not(Box::new(key));
            let slow = matches(&key, &c, &ctx);
            let sets = resolve_sets(&key, 1, 7, &[], &[]);
            let fast_ctx = Context { sets, ..ctx };
            assert_eq!(matches(&key, &c, &fast_ctx), slow);
        }
    }
}
