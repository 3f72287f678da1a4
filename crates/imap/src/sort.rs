//! SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957) ordering over the
//! metadata the store parsed at ingest.
//!
//! Implementation notes:
//! - Strings compare with `i;ascii-casemap` (ASCII upper-cased, RFC 5256
//!   §3); ties fall back to the next key, then to sequence-number order.
//! - DATE is the Date header's time, or INTERNALDATE when there is none
//!   (RFC 5256 §3 "if the sent date cannot be determined").
//! - FROM, TO, CC compare the first address's local part (addr-mailbox);
//!   DISPLAYFROM/DISPLAYTO its display name, or the address without one.
//! - SUBJECT compares the base subject ([`base_subject`], RFC 5256 §2.1).
//! - THREAD=ORDEREDSUBJECT ([`ordered_subject`], RFC 5256 §3): messages
//!   with the same base subject form a thread whose first message (by sent
//!   date) is the parent of all the others; threads are ordered by the
//!   date of their first message.

use std::cmp::Ordering;

use tidings_imap_proto::{SortCriterion, SortKey, ThreadTree};
use tidings_store::{Address, EmailMeta, MailboxEntry};

/// RFC 5256 §2.1 base subject, without the RFC 2047 decoding step (the
/// store's subject is already decoded): leading `Re:`, `Fw:`, `Fwd:` (with
/// optional `[blob]`s) and `[blob]`s, trailing `(fwd)`, `[fwd: ...]`
/// wrappers, and whitespace are removed, repeatedly.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        let before = s.clone();
        // (2) trailing "(fwd)" and whitespace.
        loop {
            let t = s.trim_end();
            let lower = t.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else {
                s = t.to_string();
                break;
            }
        }
        // (3) leading subj-refwd and subj-blob.
        loop {
            let t = s.trim_start().to_string();
            let lower = t.to_ascii_lowercase();
            let mut rest = None;
            for p in ["re", "fwd", "fw"] {
                if let Some(r) = lower.strip_prefix(p) {
                    let r_trim = r.trim_start();
                    let skipped = skip_blobs(r_trim);
                    if let Some(after) = skipped.strip_prefix(':') {
                        rest = Some(t[t.len() - after.len()..].to_string());
                        break;
                    }
                }
            }
            if rest.is_none() && t.starts_with('[') {
                let after = skip_blobs(&t);
                if !after.trim().is_empty() && after.len() < t.len() {
                    rest = Some(after.to_string());
                }
            }
            match rest {
                Some(r) => s = r,
                None => {
                    s = t;
                    break;
                }
            }
        }
        // (6) "[fwd: ...]" wrapper.
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
        }
        if s == before {
            return s.trim().to_string();
        }
    }
}

/// Skips `[...]` blobs and whitespace at the start.
fn skip_blobs(s: &str) -> &str {
    let mut rest = s.trim_start();
    while rest.starts_with('[') {
        match rest.find(']') {
            Some(i) => rest = rest[i + 1..].trim_start(),
            None => break,
        }
    }
    rest
}

fn first_mailbox(list: &[Address]) -> String {
    list.first()
        .and_then(|a| a.email.as_deref())
        .map(|e| e.rsplit_once('@').map_or(e, |(l, _)| l))
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn display(list: &[Address]) -> String {
    list.first()
        .map(|a| {
            a.name
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(a.email.as_deref())
                .unwrap_or("")
        })
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// One message to sort.
pub struct Item<'a> {
    pub seq: u32,
    pub entry: &'a MailboxEntry,
    pub meta: Option<&'a EmailMeta>,
}

fn env<'a>(i: &Item<'a>) -> Option<&'a tidings_store::Envelope> {
    i.meta.map(|m| &m.envelope)
}

fn text(i: &Item, f: &dyn Fn(&tidings_store::Envelope) -> String) -> String {
    env(i).map(f).unwrap_or_default()
}

fn compare_key(key: SortKey, a: &Item, b: &Item) -> Ordering {
    match key {
        SortKey::Arrival => a.entry.received.cmp(&b.entry.received),
        SortKey::Size => a.entry.size.cmp(&b.entry.size),
        SortKey::Date => {
            let d = |i: &Item| env(i).and_then(|e| e.sent_at).unwrap_or(i.entry.received);
            d(a).cmp(&d(b))
        }
        SortKey::From => {
            text(a, &|e| first_mailbox(&e.from)).cmp(&text(b, &|e| first_mailbox(&e.from)))
        }
        SortKey::To => text(a, &|e| first_mailbox(&e.to)).cmp(&text(b, &|e| first_mailbox(&e.to))),
        SortKey::Cc => text(a, &|e| first_mailbox(&e.cc)).cmp(&text(b, &|e| first_mailbox(&e.cc))),
        SortKey::DisplayFrom => text(a, &|e| display(&e.from)).cmp(&text(b, &|e| display(&e.from))),
        SortKey::DisplayTo => text(a, &|e| display(&e.to)).cmp(&text(b, &|e| display(&e.to))),
        SortKey::Subject => {
            let s = |e: &tidings_store::Envelope| {
                base_subject(e.subject.as_deref().unwrap_or("")).to_ascii_uppercase()
            };
            text(a, &s).cmp(&text(b, &s))
        }
    }
}

/// Sorts `items` by `criteria`, then by sequence number.
pub fn sort(items: &mut [Item], criteria: &[SortCriterion]) {
    items.sort_by(|a, b| {
        for c in criteria {
            let o = compare_key(c.key, a, b);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
}

fn sent(i: &Item) -> i64 {
    env(i).and_then(|e| e.sent_at).unwrap_or(i.entry.received)
}

fn subject_key(i: &Item) -> String {
    base_subject(env(i).and_then(|e| e.subject.as_deref()).unwrap_or("")).to_ascii_uppercase()
}

/// RFC 5256 §3 THREAD=ORDEREDSUBJECT; `id` gives the number to report
/// (sequence number or UID).
pub fn ordered_subject(items: &mut [Item], id: impl Fn(&Item) -> u32) -> Vec<ThreadTree> {
    items.sort_by(|a, b| {
        subject_key(a)
            .cmp(&subject_key(b))
            .then(sent(a).cmp(&sent(b)))
            .then(a.seq.cmp(&b.seq))
    });
    let mut threads: Vec<(i64, u32, ThreadTree)> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let key = subject_key(&items[i]);
        let mut j = i + 1;
        while j < items.len() && subject_key(&items[j]) == key {
            j += 1;
        }
        let first = &items[i];
        let children = items[i + 1..j]
            .iter()
            .map(|c| ThreadTree {
                members: vec![id(c)],
                children: vec![],
            })
            .collect();
        threads.push((
            sent(first),
            first.seq,
            ThreadTree {
                members: vec![id(first)],
                children,
            },
        ));
        i = j;
    }
    threads.sort_by_key(|(d, seq, _)| (*d, *seq));
    threads.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_follow_rfc_5256() {
        assert_eq!(base_subject("Re: Fwd: hello"), "hello");
        assert_eq!(base_subject("RE: [list] Re: hello (fwd)"), "hello");
        assert_eq!(base_subject("[fwd: Re: lunch]"), "lunch");
        assert_eq!(base_subject("  spaced   out  "), "spaced out");
        assert_eq!(base_subject("[only a blob]"), "[only a blob]");
        assert_eq!(base_subject("Re[2]: again"), "again");
        assert_eq!(base_subject("Rebase plans"), "Rebase plans");
    }
}
