//! FETCH and UID FETCH (RFC 9051 §6.4.5; CONDSTORE/QRESYNC RFC 7162,
//! BINARY RFC 3516, OBJECTID RFC 8474, X-GM-EXT-1). The pure pieces
//! (sections, ENVELOPE, BODYSTRUCTURE) are in [`crate::fetch`].

use std::collections::{HashMap, HashSet};

use tidings_imap_proto::{
    Code, Data, FetchAttribute, FetchItem, Section, SectionText, SequenceSet, Status, Tag,
};
use tidings_store::{EmailMeta, FlagOp, MailboxEntry};
use tidings_types::{EmailId, Keyword, ModSeq, Uid};

use crate::fetch;
use crate::session::{Session, State, labels_by_email, store_error, view_max};
use crate::view::flags_of;

impl Session {
    /// Everything FETCH does before it sends messages: resolves the set,
    /// sets `\Seen` where a section asks it, reports VANISHED (QRESYNC).
    /// The messages are then sent a batch at a time by
    /// [`Session::fetch_batch`]; `Err` is the tagged reply of a FETCH that
    /// ends before it sends any.
    pub(crate) async fn fetch(
        &mut self,
        tag: &Tag,
        f: tidings_imap_proto::Fetch,
    ) -> Result<FetchJob, Status> {
        let Some((account, view)) = self.view() else {
            return Err(Status::bad(tag, "No mailbox selected"));
        };
        let mut indexes = match view.resolve(&f.set, f.uid, &self.saved_ranges(f.uid)) {
            Ok(i) => i,
            Err(e) => return Err(Status::bad(tag, &e)),
        };
        let mut attrs = dedupe_attributes(f.items.expand());
        // RFC 9051 §6.4.9: UID FETCH always returns UID.
        if f.uid && !attrs.contains(&FetchAttribute::Uid) {
            attrs.insert(0, FetchAttribute::Uid);
        }
        // RFC 4314 §4: BODY[] marks \Seen only with the `s` right.
        let (mailbox, read_only) = (
            view.mailbox,
            view.read_only || !view.rights.has(tidings_store::Right::Seen),
        );
        // RFC 9394 §3.2: PARTIAL is a UID FETCH modifier.
        if f.partial.is_some() && !f.uid {
            return Err(Status::bad(tag, "PARTIAL needs UID FETCH"));
        }
        if let Some(cs) = f.changed_since {
            // RFC 7162 §3.1.4: CHANGEDSINCE implies MODSEQ.
            self.enable_condstore();
            if !attrs.contains(&FetchAttribute::ModSeq) {
                attrs.push(FetchAttribute::ModSeq);
            }
            let Some((_, view)) = self.view() else {
                return Err(Status::bad(tag, "No mailbox selected"));
            };
            indexes.retain(|&i| view.entries[i].modseq.0 > cs);
            if f.vanished {
                if !f.uid || !self.enabled.qresync {
                    return Err(Status::bad(tag, "VANISHED needs UID FETCH and QRESYNC"));
                }
                let delta = match self
                    .call(move |s| s.mailbox_changes(account, mailbox, ModSeq(cs)))
                    .await
                {
                    Ok(d) => d,
                    Err(e) => return Err(store_error(tag, &e)),
                };
                let max = view_max(&self.state);
                let gone: Vec<u32> = delta
                    .vanished
                    .iter()
                    .map(|u| u.0)
                    .filter(|u| f.set.contains(*u, max.max(*u), &[]))
                    .collect();
                if let Some(uids) = SequenceSet::compact(gone) {
                    self.put(Data::Vanished {
                        earlier: true,
                        uids,
                    });
                }
            }
        } else if f.vanished {
            return Err(Status::bad(tag, "VANISHED needs CHANGEDSINCE"));
        }
        // RFC 9394 §3.2: only the messages at those positions among the
        // ones the set (and CHANGEDSINCE) picked, in UID order.
        if let Some(p) = f.partial {
            let (start, end) = p.window(indexes.len());
            indexes = indexes
                .get(start..end)
                .map(<[usize]>::to_vec)
                .unwrap_or_default();
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        // RFC 9051 §6.4.5: BODY[] (not PEEK) sets \Seen, and the new FLAGS
        // are returned.
        let mut flags_changed: HashSet<Uid> = HashSet::new();
        if !read_only && attrs.iter().any(FetchAttribute::sets_seen) {
            let Some((_, view)) = self.view() else {
                return Err(Status::bad(tag, "No mailbox selected"));
            };
            let unseen: Vec<Uid> = indexes
                .iter()
                .map(|&i| &view.entries[i])
                .filter(|e| !e.keywords.iter().any(|k| k.matches(Keyword::SEEN)))
                .map(|e| e.uid)
                .collect();
            if !unseen.is_empty() {
                let Ok(seen) = Keyword::new(Keyword::SEEN) else {
                    return Err(Status::no(tag, "Internal error").with_code(Code::ServerBug));
                };
                match self
                    .call(move |s| {
                        s.store_flags(account, mailbox, &unseen, FlagOp::Add, &[seen], None)
                    })
                    .await
                {
                    Ok(changed) => {
                        if let State::Selected { view, .. } = &mut self.state {
                            for e in &changed.changed {
                                view.update_entry(e);
                                flags_changed.insert(e.uid);
                            }
                        }
                    }
                    Err(e) => return Err(store_error(tag, &e)),
                }
            }
        }
        let need_meta = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttribute::Envelope
                    | FetchAttribute::Body
                    | FetchAttribute::BodyStructure
                    | FetchAttribute::BodySection { .. }
                    | FetchAttribute::Rfc822Header
                    | FetchAttribute::Rfc822Text
                    | FetchAttribute::Binary { .. }
                    | FetchAttribute::BinarySize { .. }
                    | FetchAttribute::Preview { .. }
            )
        });
        let need_raw = attrs.iter().any(needs_raw);
        // One body item of a large message is sent from its file a piece
        // at a time, when it is the only item that needs the message's bytes
        // and a contiguous range of them (any section but HEADER.FIELDS,
        // RFC822, RFC822.HEADER, RFC822.TEXT, with or without a partial):
        // what mbsync, Thunderbird and offlineimap ask for when they
        // download a message or an attachment.
        let raw_attrs: Vec<usize> = attrs
            .iter()
            .enumerate()
            .filter(|(_, a)| needs_raw(a))
            .map(|(i, _)| i)
            .collect();
        let stream_attr = match raw_attrs.as_slice() {
            [i] if streamable(&attrs[*i]) => Some(*i),
            _ => None,
        };
        let labels = if attrs.contains(&FetchAttribute::XGmLabels) {
            match self.call(move |s| labels_by_email(s, account)).await {
                Ok(l) => l,
                Err(e) => return Err(store_error(tag, &e)),
            }
        } else {
            HashMap::new()
        };
        Ok(FetchJob {
            tag: tag.clone(),
            attrs,
            indexes,
            next: 0,
            need_meta,
            need_raw,
            labels,
            flags_changed,
            stream_attr,
            streaming: None,
            broken: false,
            missing: false,
            unknown_cte: false,
            too_large: None,
            failed: None,
        })
    }

    /// Sends the next batch of a FETCH: at most FETCH_BATCH messages and,
    /// when bodies are loaded, FETCH_BATCH_BYTES of them (one message may
    /// exceed it). Whether messages are left.
    pub(crate) async fn fetch_batch(&mut self, job: &mut FetchJob) -> bool {
        if let Some(streaming) = job.streaming.take() {
            match self.stream_piece(streaming).await {
                Ok(Some(streaming)) => {
                    job.streaming = Some(streaming);
                    return true;
                }
                Ok(None) => return job.next < job.indexes.len(),
                Err(e) => {
                    // The literal's length is announced: the response
                    // cannot be finished, so the connection ends.
                    tracing::warn!(error = %e, "reading a message to send failed");
                    job.broken = true;
                    return false;
                }
            }
        }
        let Some((account, view)) = self.view() else {
            return false;
        };
        let start = job.next;
        let mut end = start;
        let mut bytes = 0u64;
        // A message sent from its file goes in a batch of its own.
        let mut stream = false;
        while let Some(&i) = job.indexes.get(end) {
            let size = if job.need_raw {
                view.entries[i].size
            } else {
                0
            };
            if job.stream_attr.is_some() && size >= STREAM_AT {
                if end == start {
                    stream = true;
                    end += 1;
                }
                break;
            }
            if end > start && (end - start >= FETCH_BATCH || bytes + size > FETCH_BATCH_BYTES) {
                break;
            }
            bytes += size;
            end += 1;
        }
        if start == end {
            return false;
        }
        job.next = end;
        // Large bodies not streamed (see `stream_attr`) are loaded whole: a
        // batch of 1 MiB or more waits for its share of the store's memory budget
        // (twice its size: the bytes and the items cut from them) while its
        // responses are built. The encoded responses stay in the session's
        // output until written; holding the budget for that long would let
        // one client that does not read stall everyone's large messages.
        let _permit = if bytes >= tidings_store::spool::SPOOL_THRESHOLD as u64 {
            let want = bytes.saturating_mul(2);
            match tokio::task::spawn_blocking(move || tidings_store::memory_budget().acquire(want))
                .await
            {
                Ok(permit) => Some(permit),
                Err(e) => {
                    let e = tidings_store::StoreError::Database(format!("store task failed: {e}"));
                    job.failed = Some(store_error(&job.tag, &e));
                    return false;
                }
            }
        } else {
            None
        };
        let chunk = &job.indexes[start..end];
        // The streamed message needs its metadata (BODY[TEXT] starts at
        // the header's end) and a reader, not its bytes.
        let (need_meta, need_raw) = (job.need_meta || stream, job.need_raw && !stream);
        let batch: Vec<(u32, MailboxEntry)> = chunk
            .iter()
            .map(|&i| {
                (
                    u32::try_from(i + 1).unwrap_or(u32::MAX),
                    view.entries[i].clone(),
                )
            })
            .collect();
        let loaded: Vec<(u32, MailboxEntry, Option<Loaded>)> = if need_meta || need_raw {
            let result = self
                .call(move |s| {
                    Ok(batch
                        .into_iter()
                        .map(|(seq, e)| {
                            let meta = if need_meta {
                                s.email_meta(account, e.email).ok()
                            } else {
                                None
                            };
                            let raw = if need_raw {
                                s.email_raw(account, e.email).ok()
                            } else {
                                None
                            };
                            let reader = if stream {
                                s.email_reader(account, e.email).ok()
                            } else {
                                None
                            };
                            let ok = (!need_meta || meta.is_some())
                                && (!need_raw || raw.is_some())
                                && (!stream || reader.is_some());
                            (seq, e, ok.then_some(Loaded { meta, raw, reader }))
                        })
                        .collect())
                })
                .await;
            match result {
                Ok(v) => v,
                Err(e) => {
                    job.failed = Some(store_error(&job.tag, &e));
                    return false;
                }
            }
        } else {
            batch
                .into_iter()
                .map(|(s, e)| {
                    (
                        s,
                        e,
                        Some(Loaded {
                            meta: None,
                            raw: None,
                            reader: None,
                        }),
                    )
                })
                .collect()
        };
        for (seq, entry, data) in loaded {
            let Some(mut data) = data else {
                job.missing = true;
                continue;
            };
            let recent = self.shows_recent(entry.uid);
            let mut items = Vec::with_capacity(job.attrs.len() + 1);
            // The streamed item: its place among the items, its range.
            let mut streamed: Option<(usize, u64, u64)> = None;
            let stream_len = if stream {
                match data
                    .reader
                    .as_ref()
                    .map(tidings_store::MessageReader::byte_len)
                {
                    Some(Ok(len)) => Some(len),
                    _ => {
                        job.missing = true;
                        continue;
                    }
                }
            } else {
                None
            };
            let cap = fetch_response_cap(entry.size);
            let (mut bytes, mut counted) = (0u64, 0usize);
            for (n, a) in job.attrs.iter().enumerate() {
                bytes = items[counted..]
                    .iter()
                    .fold(bytes, |b, i| b.saturating_add(item_bytes(i)));
                counted = items.len();
                if bytes > cap {
                    break;
                }
                if *a == FetchAttribute::XGmLabels {
                    let l = job.labels.get(&entry.email).cloned().unwrap_or_default();
                    items.push(FetchItem::XGmLabels(l));
                    continue;
                }
                if let Some(len) = stream_len.filter(|_| job.stream_attr == Some(n)) {
                    if let (Some((from, to)), Some(item)) =
                        (stream_range(a, data.meta.as_ref(), len), placeholder(a))
                    {
                        streamed = Some((items.len(), from, to));
                        items.push(item);
                    }
                    continue;
                }
                match binary_item(a, &data) {
                    Some(Ok(item)) => items.push(item),
                    Some(Err(fetch::BinaryError::UnknownCte)) => job.unknown_cte = true,
                    Some(Err(fetch::BinaryError::NoPart)) => {}
                    None => {
                        if let Some(item) = fetch_item(a, &entry, &data, self.opts.utf8, recent) {
                            items.push(item);
                        }
                    }
                }
            }
            let bytes = items[counted..]
                .iter()
                .fold(bytes, |b, i| b.saturating_add(item_bytes(i)));
            if bytes > cap {
                // Let go of what was built at once, before the next message.
                drop(items);
                job.too_large.get_or_insert(seq);
                continue;
            }
            if job.flags_changed.contains(&entry.uid) && !job.attrs.contains(&FetchAttribute::Flags)
            {
                items.push(FetchItem::Flags {
                    flags: flags_of(&entry),
                    recent,
                });
            }
            if let (Some((at, from, to)), Some(mut reader)) = (streamed, data.reader.take()) {
                if let Err(e) = std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(from)) {
                    tracing::warn!(error = %e, "reading a message to send failed");
                    job.missing = true;
                    continue;
                }
                if let Some(rest) = self.put_streamed(Data::Fetch { seq, items }, at, to - from) {
                    job.streaming = Some(Streaming {
                        reader,
                        left: to - from,
                        rest,
                    });
                    return true;
                }
                job.missing = true;
                continue;
            }
            self.put(Data::Fetch { seq, items });
        }
        job.next < job.indexes.len()
    }

    /// Sends the next piece of a body item being streamed: `None` once it
    /// and the rest of its response are in the output.
    async fn stream_piece(&mut self, s: Streaming) -> std::io::Result<Option<Streaming>> {
        let Streaming {
            mut reader,
            left,
            rest,
        } = s;
        let want = left.min(STREAM_PIECE);
        let mut out = std::mem::take(&mut self.out);
        let (reader, out, result) = tokio::task::spawn_blocking(move || {
            let at = out.len();
            out.resize(at + usize::try_from(want).unwrap_or(0), 0);
            let result = std::io::Read::read_exact(&mut reader, &mut out[at..]);
            if result.is_err() {
                out.truncate(at);
            }
            (reader, out, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.out = out;
        result?;
        let left = left - want;
        if left == 0 {
            self.out.extend_from_slice(&rest);
            return Ok(None);
        }
        Ok(Some(Streaming { reader, left, rest }))
    }
}

/// A body item being sent from the message's file, a piece at a time,
/// after its response's head; then `rest`, the items after it.
pub(crate) struct Streaming {
    reader: tidings_store::MessageReader,
    /// Bytes of the item still to send.
    left: u64,
    rest: Vec<u8>,
}

/// Messages at least this large are streamed from their file when
/// the FETCH allows it (see [`FetchJob::stream_attr`]): the spool's
/// threshold, so that a message held in memory on the way in is also
/// loaded on the way out, and one kept in a file is never loaded whole.
const STREAM_AT: u64 = tidings_store::spool::SPOOL_THRESHOLD as u64;

/// Bytes read from a streamed message between two writes to the client:
/// below what makes the output buffer shrink again after a write.
const STREAM_PIECE: u64 = 192 * 1024;

/// Whether an attribute needs the message's bytes (not only metadata).
fn needs_raw(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::BodySection { .. }
            | FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Header
            | FetchAttribute::Rfc822Text
            | FetchAttribute::Binary { .. }
            | FetchAttribute::BinarySize { .. }
    )
}

/// Whether an attribute's data is one range of the stored message, so
/// that it can be sent from the file: every body section but
/// `HEADER.FIELDS [.NOT]` (which is built from the header's lines), and
/// `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`. (BINARY decodes.)
fn streamable(a: &FetchAttribute) -> bool {
    match a {
        FetchAttribute::BodySection { section, .. } => {
            !matches!(section.text, Some(SectionText::HeaderFields { .. }))
        }
        FetchAttribute::Rfc822 | FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => true,
        _ => false,
    }
}

/// The bytes `[from, to)` of a message of `len` bytes that a
/// [`streamable`] attribute sends: where [`fetch::section_span`] puts its
/// section, with the partial applied as [`fetch::partial_slice`] does; a
/// section that does not exist is empty, as when it is loaded.
fn stream_range(a: &FetchAttribute, meta: Option<&EmailMeta>, len: u64) -> Option<(u64, u64)> {
    let whole = |text: Option<SectionText>| Section { part: vec![], text };
    let (section, partial) = match a {
        FetchAttribute::BodySection {
            section, partial, ..
        } => (std::borrow::Cow::Borrowed(section), *partial),
        FetchAttribute::Rfc822 => (std::borrow::Cow::Owned(whole(None)), None),
        FetchAttribute::Rfc822Header => (
            std::borrow::Cow::Owned(whole(Some(SectionText::Header))),
            None,
        ),
        FetchAttribute::Rfc822Text => (
            std::borrow::Cow::Owned(whole(Some(SectionText::Text))),
            None,
        ),
        _ => return None,
    };
    let (from, to) = match fetch::section_span(len, meta?, &section) {
        Some(fetch::SectionSpan::Range(a, b)) => (a.min(len), b.min(len).max(a.min(len))),
        Some(fetch::SectionSpan::HeaderFields { .. }) => return None,
        None => (0, 0),
    };
    Some(match partial {
        None => (from, to),
        Some(p) => {
            let start = from.saturating_add(u64::from(p.origin)).min(to);
            (start, start.saturating_add(u64::from(p.count)).min(to))
        }
    })
}

/// The item of a streamed attribute, its data an empty placeholder (see
/// `Response::encode_streamed`).
fn placeholder(a: &FetchAttribute) -> Option<FetchItem> {
    Some(match a {
        FetchAttribute::BodySection {
            section, partial, ..
        } => FetchItem::BodySection {
            section: section.clone(),
            origin: partial.map(|p| p.origin),
            data: Some(Vec::new()),
        },
        FetchAttribute::Rfc822 => FetchItem::Rfc822(Some(Vec::new())),
        FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(Some(Vec::new())),
        FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(Some(Vec::new())),
        _ => return None,
    })
}

/// A FETCH being sent a batch at a time ([`Session::fetch_batch`]).
pub(crate) struct FetchJob {
    tag: Tag,
    attrs: Vec<FetchAttribute>,
    /// The messages to send, as indexes into the view.
    indexes: Vec<usize>,
    /// The first of `indexes` not sent yet.
    next: usize,
    need_meta: bool,
    need_raw: bool,
    /// X-GM-LABELS of every email, when asked for.
    labels: HashMap<EmailId, Vec<String>>,
    /// Messages whose `\Seen` this FETCH set: their FLAGS are sent too.
    flags_changed: HashSet<Uid>,
    /// The attribute (an index into `attrs`) sent from the file of a
    /// large message instead of being loaded: set when it is the only one
    /// that needs the message's bytes and those are one range of them.
    stream_attr: Option<usize>,
    /// The body item being streamed now.
    streaming: Option<Streaming>,
    /// Reading a streamed message failed mid-response: the connection
    /// has to close.
    pub(crate) broken: bool,
    /// A message was gone from the store.
    missing: bool,
    unknown_cte: bool,
    /// The first message whose response would exceed its cap (see
    /// `fetch_response_cap`): left out, and the tagged reply says so.
    too_large: Option<u32>,
    /// A store error ended the FETCH: its tagged reply.
    failed: Option<Status>,
}

impl FetchJob {
    /// The tagged reply once every batch is sent.
    pub(crate) fn status(self) -> Status {
        if let Some(failed) = self.failed {
            return failed;
        }
        if let Some(seq) = self.too_large {
            // RFC 5530 §3 LIMIT: an implementation limit, not a syntax error.
            Status::no(
                &self.tag,
                &format!(
                    "FETCH response for message {seq} too large; fetch fewer or smaller items at once"
                ),
            )
            .with_code(Code::Limit)
        } else if self.unknown_cte {
            // RFC 3516 §4.3.
            Status::no(&self.tag, "Unknown content transfer encoding").with_code(Code::UnknownCte)
        } else if self.missing {
            Status::no(&self.tag, "Some messages were expunged").with_code(Code::ExpungeIssued)
        } else {
            Status::ok(&self.tag, "FETCH completed")
        }
    }
}

/// The attributes of a FETCH without repeats: `BODY[]` asked 3,000 times
/// is sent once (RFC 9051 §6.4.5 does not ask for repeats; sending each
/// would copy the message once per item). `BODY[x]` and `BODY.PEEK[x]`
/// answer with the same item, so they count as one, keeping the first
/// place and setting `\Seen` if either does.
pub(crate) fn dedupe_attributes(attrs: Vec<FetchAttribute>) -> Vec<FetchAttribute> {
    let key = |a: &FetchAttribute| -> String {
        match a {
            FetchAttribute::BodySection {
                section, partial, ..
            } => format!("B{section:?}{partial:?}"),
            FetchAttribute::Binary { part, partial, .. } => format!("N{part:?}{partial:?}"),
            a => format!("{a:?}"),
        }
    };
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<FetchAttribute> = Vec::with_capacity(attrs.len().min(64));
    for a in attrs {
        match at.get(&key(&a)) {
            Some(&i) => {
                if a.sets_seen() && !out[i].sets_seen() {
                    out[i] = a;
                }
            }
            None => {
                at.insert(key(&a), out.len());
                out.push(a);
            }
        }
    }
    out
}

/// The most data one message's FETCH response may carry: twice the
/// message and 1 MiB. Real clients ask each part once, maybe the whole
/// message and its header together; distinct overlapping sections
/// (`BODY[]<0.n>`, `BODY[]<1.n>`, …) past this would copy the message
/// over and over into memory. Over the cap the message's response is
/// left out and FETCH ends with `NO [LIMIT]` (RFC 5530 §3).
pub(crate) fn fetch_response_cap(size: u64) -> u64 {
    size.saturating_mul(2).saturating_add(1024 * 1024)
}

/// Data bytes an item carries (body sections; the rest is small).
pub(crate) fn item_bytes(item: &FetchItem) -> u64 {
    let len = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, |d| d.len() as u64);
    match item {
        FetchItem::BodySection { data, .. }
        | FetchItem::Binary { data, .. }
        | FetchItem::Rfc822(data)
        | FetchItem::Rfc822Header(data)
        | FetchItem::Rfc822Text(data) => len(data),
        _ => 0,
    }
}

/// What FETCH loaded for one message.
pub(crate) struct Loaded {
    meta: Option<EmailMeta>,
    raw: Option<Vec<u8>>,
    /// The message to stream, instead of `raw`.
    reader: Option<tidings_store::MessageReader>,
}

pub(crate) fn fetch_item(
    a: &FetchAttribute,
    e: &MailboxEntry,
    d: &Loaded,
    utf8: bool,
    recent: bool,
) -> Option<FetchItem> {
    let section = |sec: &Section| -> Option<Vec<u8>> {
        let (raw, meta) = (d.raw.as_deref()?, d.meta.as_ref()?);
        fetch::section(raw, meta, sec)
    };
    // One copy of what is sent, sliced out of the loaded message.
    let section_partial = |sec: &Section, partial: Option<tidings_imap_proto::Partial>| {
        let (raw, meta) = (d.raw.as_deref()?, d.meta.as_ref()?);
        // A section that does not exist (BODY[4] of a message with three
        // parts, BODY[1.3] of a single part) is an empty string, as
        // Dovecot sends: RFC 9051 §6.4.5 describes no NIL for it, and
        // body's grammar (RFC 9051 §9 msg-att-static) allows nstring, so
        // "" is what every client can take.
        let data = fetch::section_slice(raw, meta, sec).unwrap_or(std::borrow::Cow::Borrowed(&[]));
        Some(match partial {
            Some(p) => fetch::partial_slice(&data, p.origin, p.count).to_vec(),
            None => data.into_owned(),
        })
    };
    Some(match a {
        FetchAttribute::Flags => FetchItem::Flags {
            flags: flags_of(e),
            recent,
        },
        FetchAttribute::Uid => FetchItem::Uid(e.uid.0),
        FetchAttribute::InternalDate => FetchItem::InternalDate(
            tidings_imap_proto::DateTime::from_unix_timestamp(e.received)?,
        ),
        FetchAttribute::Rfc822Size => FetchItem::Rfc822Size(e.size),
        FetchAttribute::Envelope => {
            FetchItem::Envelope(Box::new(fetch::envelope(&d.meta.as_ref()?.envelope, utf8)))
        }
        FetchAttribute::Body => FetchItem::Body(Box::new(fetch::body_structure(
            &d.meta.as_ref()?.body,
            false,
            utf8,
        ))),
        FetchAttribute::BodyStructure => FetchItem::BodyStructure(Box::new(fetch::body_structure(
            &d.meta.as_ref()?.body,
            true,
            utf8,
        ))),
        FetchAttribute::BodySection {
            section: sec,
            partial,
            ..
        } => {
            let data = section_partial(sec, *partial);
            FetchItem::BodySection {
                section: sec.clone(),
                origin: partial.map(|p| p.origin),
                data,
            }
        }
        FetchAttribute::Rfc822 => FetchItem::Rfc822(d.raw.clone()),
        FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(section(&Section {
            part: vec![],
            text: Some(SectionText::Header),
        })),
        FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(section(&Section {
            part: vec![],
            text: Some(SectionText::Text),
        })),
        FetchAttribute::ModSeq => FetchItem::ModSeq(e.modseq.0),
        FetchAttribute::EmailId => FetchItem::EmailId(e.email.to_string()),
        FetchAttribute::ThreadId => FetchItem::ThreadId(Some(e.thread.to_string())),
        FetchAttribute::SaveDate => {
            FetchItem::SaveDate(tidings_imap_proto::DateTime::from_unix_timestamp(e.saved))
        }
        // RFC 8970: the preview is made at delivery, so LAZY changes nothing.
        FetchAttribute::Preview { .. } => {
            FetchItem::Preview(Some(d.meta.as_ref()?.preview.clone()))
        }
        FetchAttribute::XGmMsgId => FetchItem::XGmMsgId(u64::try_from(e.email.0).ok()?),
        FetchAttribute::XGmThrId => FetchItem::XGmThrId(u64::try_from(e.thread.0).ok()?),
        FetchAttribute::Binary { .. }
        | FetchAttribute::BinarySize { .. }
        | FetchAttribute::XGmLabels => return None,
    })
}

/// BINARY and BINARY.SIZE (RFC 3516 §4.2); `None` for other attributes.
pub(crate) fn binary_item(
    a: &FetchAttribute,
    d: &Loaded,
) -> Option<Result<FetchItem, fetch::BinaryError>> {
    let (part, partial, size) = match a {
        FetchAttribute::Binary { part, partial, .. } => (part, *partial, false),
        FetchAttribute::BinarySize { part } => (part, None, true),
        _ => return None,
    };
    let (Some(raw), Some(meta)) = (d.raw.as_deref(), d.meta.as_ref()) else {
        return Some(Err(fetch::BinaryError::NoPart));
    };
    Some(fetch::binary(raw, meta, part).map(|data| {
        if size {
            FetchItem::BinarySize {
                part: part.clone(),
                size: data.len() as u64,
            }
        } else {
            FetchItem::Binary {
                part: part.clone(),
                origin: partial.map(|p| p.origin),
                data: Some(match partial {
                    Some(p) => fetch::partial(data, p.origin, p.count),
                    None => data,
                }),
            }
        }
    }))
}

/// Messages loaded from the store per blocking call during FETCH.
pub(crate) const FETCH_BATCH: usize = 32;

/// Message bytes loaded per blocking call during FETCH: with the reply
/// buffer, what bounds a session's memory while it sends bodies.
pub(crate) const FETCH_BATCH_BYTES: u64 = 4 * 1024 * 1024;
