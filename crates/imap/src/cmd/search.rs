//! SEARCH (RFC 9051 §6.4.4; ESEARCH RFC 4731, SEARCHRES RFC 5182), SORT
//! and THREAD (RFC 5256, SORT=DISPLAY RFC 5957). The pure matching,
//! ordering and threading are in [`crate::search`], [`crate::sort`] and
//! [`crate::thread`].

use std::collections::{HashMap, HashSet};

use tidings_imap_proto::{
    Code, Data, ESearch, PartialRange, SearchKey, SearchReturn, SequenceSet, Status, Tag,
};
use tidings_store::{EmailMeta, MailboxEntry, StoreError};
use tidings_types::{AccountId, Uid};

use crate::search;
use crate::session::{Session, labels_by_email, store_error};

/// What SEARCH, SORT and THREAD matched.
struct Matches {
    /// Sequence number, entry and (when asked) envelope of each match, in
    /// mailbox order.
    found: Vec<(u32, MailboxEntry, Option<EmailMeta>)>,
    /// A MODSEQ search key was used (RFC 7162 §3.1.5: SEARCH and SORT
    /// then report the highest mod-sequence of the matches).
    uses_modseq: bool,
}

/// One matched message: its sequence number, entry and (when asked) its
/// envelope.
pub(crate) type Found = (u32, MailboxEntry, Option<EmailMeta>);

/// The matching of SEARCH, SORT and THREAD over a snapshot of the view,
/// a piece at a time ([`Scan::step`]), so that the session can report
/// progress (RFC 9585) and the connection loop writes between pieces.
pub(crate) struct Scan {
    account: AccountId,
    entries: Vec<MailboxEntry>,
    /// `\Recent` ranges (empty in IMAP4rev2).
    recent: Vec<(u32, u32)>,
    key: SearchKey,
    saved_seqs: Vec<(u32, u32)>,
    saved_uids: Vec<(u32, u32)>,
    need_meta: bool,
    need_header: bool,
    with_meta: bool,
    need_labels: bool,
    texts: Vec<String>,
    /// Labels and full-text hits, read by the first step.
    prepared: Option<Prepared>,
    /// The first entry not examined yet.
    next: usize,
    found: Vec<Found>,
}

impl Scan {
    /// How many entries of the view have been examined (RFC 9585 count).
    pub(crate) fn done(&self) -> usize {
        self.next
    }

    /// The number of entries to examine (RFC 9585 goal).
    pub(crate) fn goal(&self) -> usize {
        self.entries.len()
    }

    fn finished(&self) -> bool {
        self.prepared.is_some() && self.next >= self.entries.len()
    }

    /// Runs one piece: the preparation (labels, full-text queries), then
    /// [`SEARCH_BATCH`] messages whose metadata or headers must be loaded,
    /// or [`FLAG_BATCH`] that need nothing loaded. Whether all is done.
    pub(crate) fn step(&mut self, st: &tidings_store::Store) -> Result<bool, StoreError> {
        let account = self.account;
        let Some((labels, hits)) = &self.prepared else {
            let labels = if self.need_labels {
                labels_by_email(st, account)?
            } else {
                HashMap::new()
            };
            let mut hits: HashMap<String, HashSet<tidings_types::EmailId>> = HashMap::new();
            for t in &self.texts {
                let ids = st.search_text(account, t)?;
                hits.insert(t.clone(), ids.into_iter().collect());
            }
            self.prepared = Some((labels, hits));
            return Ok(self.finished());
        };
        let loads = self.need_meta || self.need_header;
        let batch = if loads { SEARCH_BATCH } else { FLAG_BATCH };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let max_seq = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let max_uid = self.entries.last().map_or(0, |e| e.uid.0);
        let ctx = search::Context {
            max_seq,
            max_uid,
            saved: &self.saved_seqs,
            saved_uids: &self.saved_uids,
            text_hits: hits,
            now,
            sets: search::resolve_sets(
                &self.key,
                max_seq,
                max_uid,
                &self.saved_seqs,
                &self.saved_uids,
            ),
        };
        let from = self.next;
        let to = (from + batch).min(self.entries.len());
        let chunk = self.entries.get(from..to).unwrap_or_default();
        let mut loaded: Vec<(Option<EmailMeta>, Option<Vec<u8>>)> = Vec::with_capacity(chunk.len());
        for e in chunk {
            if !loads {
                loaded.push((None, None));
                continue;
            }
            let meta = st.email_meta(account, e.email).ok();
            let header = match (&meta, self.need_header) {
                (Some(m), true) => st.email_raw_prefix(account, e.email, m.header_end).ok(),
                _ => None,
            };
            loaded.push((meta, header));
        }
        for (k, (e, (meta, header))) in chunk.iter().zip(loaded).enumerate() {
            let seq = u32::try_from(from + k + 1).unwrap_or(u32::MAX);
            let c = search::Candidate {
                seq,
                entry: e,
                meta: meta.as_ref(),
                header: header.as_deref(),
                labels: labels.get(&e.email).map(Vec::as_slice),
                recent: crate::view::in_recent(&self.recent, e.uid),
            };
            if search::matches(&self.key, &c, &ctx) {
                // Only the envelope is used later (SORT, THREAD).
                let meta = meta.filter(|_| self.with_meta).map(|m| EmailMeta {
                    envelope: m.envelope,
                    ..EmailMeta::default()
                });
                self.found.push((seq, e.clone(), meta));
            }
        }
        self.next = to;
        Ok(self.finished())
    }
}

/// What a scan reads once before it looks at messages: each email's
/// labels (X-GM-LABELS, X-GM-RAW) and the full-text hits per query.
type Prepared = (
    HashMap<tidings_types::EmailId, Vec<String>>,
    HashMap<String, HashSet<tidings_types::EmailId>>,
);

/// Which command a [`SearchJob`] answers once its scan is done.
pub(crate) enum SearchCommand {
    Search(tidings_imap_proto::Search),
    Sort(tidings_imap_proto::Sort),
    /// THREAD, and whether with REFERENCES (else ORDEREDSUBJECT).
    Thread(tidings_imap_proto::Thread, bool),
}

/// A SEARCH, SORT or THREAD run a piece at a time in the session's job
/// loop ([`Session::search_step`]), with RFC 9585 progress responses.
pub(crate) struct SearchJob {
    tag: Tag,
    command: SearchCommand,
    uses_modseq: bool,
    save: bool,
    scan: Option<Scan>,
    /// When the command started, and when it last reported progress.
    started: std::time::Instant,
    reported: Option<std::time::Instant>,
    /// A store error ended the scan: the tagged reply.
    failed: Option<Status>,
}

impl Session {
    /// The setup SEARCH, SORT and THREAD share, then the matching: the
    /// search keys must be supported (`NO [CANNOT]`) and the charset one
    /// of ours (`NO [BADCHARSET]`, RFC 9051 §6.4.4); a MODSEQ key turns
    /// CONDSTORE on (RFC 7162 §3.1: a CONDSTORE-enabling command, for all
    /// three); `$` (RFC 5182) is read before a `save` empties it, so that
    /// a failed SEARCH ... SAVE leaves it empty (§2.1). `Err` is the
    /// tagged reply of a command that ends here.
    pub(crate) fn start_search(
        &mut self,
        tag: &Tag,
        command: SearchCommand,
    ) -> Result<SearchJob, Status> {
        let (criteria, charset, with_meta, save): (&[SearchKey], Option<&str>, bool, bool) =
            match &command {
                SearchCommand::Search(s) => {
                    // RFC 5267 §4.3: UPDATE keeps the result up to date (`cmd::context`).
                    if returns(s.return_options.as_deref(), SearchReturn::Update)
                        && self.context_tag_in_use(tag)
                    {
                        return Err(Status::bad(tag, "The tag of a search kept up to date"));
                    }
                    (
                        &s.criteria,
                        s.charset.as_deref(),
                        false,
                        returns(s.return_options.as_deref(), SearchReturn::Save),
                    )
                }
                SearchCommand::Sort(s) => {
                    if returns(s.return_options.as_deref(), SearchReturn::Update)
                        && self.context_tag_in_use(tag)
                    {
                        return Err(Status::bad(tag, "The tag of a search kept up to date"));
                    }
                    (
                        &s.search,
                        Some(s.charset.as_str()),
                        true,
                        returns(s.return_options.as_deref(), SearchReturn::Save),
                    )
                }
                SearchCommand::Thread(t, _) => (&t.search, Some(t.charset.as_str()), true, false),
            };
        let Some((account, _)) = self.view() else {
            return Err(Status::bad(tag, "No mailbox selected"));
        };
        if !criteria.iter().all(search::supported) {
            return Err(Status::no(tag, "A search key is not supported").with_code(Code::Cannot));
        }
        if let Some(cs) = charset
            && !cs.eq_ignore_ascii_case("UTF-8")
            && !cs.eq_ignore_ascii_case("US-ASCII")
        {
            return Err(Status::no(tag, "Unsupported charset")
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])));
        }
        let (saved_seqs, saved_uids) = (self.saved_ranges(false), self.saved_ranges(true));
        let uses_modseq = uses_modseq(criteria);
        let scan = self.scan(account, criteria, saved_seqs, saved_uids, with_meta);
        if save {
            self.set_saved(Vec::new());
        }
        if uses_modseq {
            self.enable_condstore();
        }
        Ok(SearchJob {
            tag: tag.clone(),
            command,
            uses_modseq,
            save,
            scan,
            started: std::time::Instant::now(),
            reported: None,
            failed: None,
        })
    }

    /// A scan of the selected mailbox for `criteria` (None when nothing is
    /// selected).
    fn scan(
        &self,
        account: AccountId,
        criteria: &[SearchKey],
        saved_seqs: Vec<(u32, u32)>,
        saved_uids: Vec<(u32, u32)>,
        with_meta: bool,
    ) -> Option<Scan> {
        let needs = search::needs(criteria);
        let (_, view) = self.view()?;
        Some(Scan {
            account,
            entries: view.entries.clone(),
            // RFC 9051 §2.3.2: no message is recent in an IMAP4rev2 session.
            recent: if self.enabled.rev2 {
                Vec::new()
            } else {
                view.recent.clone()
            },
            key: SearchKey::And(criteria.to_vec()),
            saved_seqs,
            saved_uids,
            need_meta: needs.meta || with_meta,
            need_header: needs.header,
            with_meta,
            need_labels: needs.labels,
            texts: needs.texts,
            prepared: None,
            next: 0,
            found: Vec::new(),
        })
    }

    /// Runs one piece of a search job; `Some(status)` once it is answered
    /// (its responses put). In between, every
    /// [`crate::ImapConfig::progress_interval`] (the first after one
    /// interval), `* OK [INPROGRESS ("tag" count goal)]` (RFC 9585 §4):
    /// the messages examined of those in the mailbox, so the count only
    /// grows and never passes the goal.
    pub(crate) async fn search_step(&mut self, job: &mut SearchJob) -> Option<Status> {
        if let Some(failed) = job.failed.take() {
            return Some(failed);
        }
        let done = match job.scan.take() {
            None => true,
            Some(mut scan) => {
                let stepped = self
                    .call(move |st| {
                        let r = scan.step(st);
                        Ok((scan, r))
                    })
                    .await;
                match stepped {
                    Ok((scan, Ok(done))) => {
                        job.scan = Some(scan);
                        done
                    }
                    Ok((_, Err(e))) | Err(e) => return Some(store_error(&job.tag, &e)),
                }
            }
        };
        if !done {
            let interval = self.shared.config.progress_interval;
            let since = job.reported.unwrap_or(job.started);
            if since.elapsed() >= interval
                && let Some(scan) = &job.scan
            {
                job.reported = Some(std::time::Instant::now());
                let (count, goal) = (
                    u32::try_from(scan.done()).unwrap_or(u32::MAX),
                    u32::try_from(scan.goal()).unwrap_or(u32::MAX),
                );
                self.put(
                    Status::untagged_ok("Searching").with_code(Code::InProgress {
                        tag: Some(job.tag.as_str().to_string()),
                        count: Some(count.min(goal)),
                        goal: Some(goal),
                    }),
                );
                self.flush_soon = true;
            }
            return None;
        }
        let found = job.scan.take().map(|s| s.found).unwrap_or_default();
        let tag = job.tag.clone();
        let matches = Matches {
            found,
            uses_modseq: job.uses_modseq,
        };
        let command = std::mem::replace(
            &mut job.command,
            SearchCommand::Thread(
                tidings_imap_proto::Thread {
                    uid: false,
                    algorithm: tidings_imap_proto::ThreadAlgorithm::OrderedSubject,
                    charset: String::new(),
                    search: Vec::new(),
                },
                false,
            ),
        );
        Some(match command {
            SearchCommand::Search(s) => self.search_done(&tag, s, matches, job.save),
            SearchCommand::Sort(s) => self.sort_done(&tag, s, matches, job.save).await,
            SearchCommand::Thread(t, references) => {
                self.thread_done(&tag, t, matches, references).await
            }
        })
    }

    /// The messages of the selected mailbox that match `criteria`, with
    /// their sequence numbers, and their envelopes when they were loaded
    /// (the criteria needed them, or `with_meta`), in one go (the updates
    /// of CONTEXT=SEARCH, RFC 5267 §4).
    ///
    /// All of it runs off the async workers, in batches of
    /// [`SEARCH_BATCH`] messages: metadata and headers are loaded for one
    /// batch, matched, and dropped (only the header part of each blob is
    /// read, up to its `header_end`); what is kept of a match is its
    /// envelope, for SORT and THREAD.
    pub(crate) async fn evaluate(
        &self,
        account: AccountId,
        criteria: &[SearchKey],
        saved_seqs: &[(u32, u32)],
        saved_uids: &[(u32, u32)],
        with_meta: bool,
    ) -> Result<Vec<Found>, StoreError> {
        let Some(mut scan) = self.scan(
            account,
            criteria,
            saved_seqs.to_vec(),
            saved_uids.to_vec(),
            with_meta,
        ) else {
            return Ok(Vec::new());
        };
        self.call(move |st| {
            while !scan.step(st)? {}
            Ok(scan.found)
        })
        .await
    }

    /// RFC 5256 §3 SORT, RFC 5957 SORT=DISPLAY; with `RETURN (...)`
    /// ESORT (RFC 5267 §3), answered with ESEARCH.
    async fn sort_done(
        &mut self,
        tag: &Tag,
        s: tidings_imap_proto::Sort,
        matches: Matches,
        save: bool,
    ) -> Status {
        let Matches { found, uses_modseq } = matches;
        // Sorting many messages is CPU work: off the async workers.
        let (criteria, uid) = (s.criteria, s.uid);
        let (criteria_kept, search) = (criteria.clone(), s.search);
        let sorted = tokio::task::spawn_blocking(move || {
            let mut items: Vec<crate::sort::Item> = found
                .iter()
                .map(|(seq, e, m)| crate::sort::Item {
                    seq: *seq,
                    entry: e,
                    meta: m.as_ref(),
                })
                .collect();
            crate::sort::sort(&mut items, &criteria);
            let ids: Vec<u32> = items
                .iter()
                .map(|i| if uid { i.entry.uid.0 } else { i.seq })
                .collect();
            let uids: Vec<Uid> = items.iter().map(|i| i.entry.uid).collect();
            let mod_seq = uses_modseq
                .then(|| items.iter().map(|i| i.entry.modseq.0).max())
                .flatten();
            (ids, uids, mod_seq)
        })
        .await;
        let Ok((ids, uids, mod_seq)) = sorted else {
            return Status::no(tag, "Internal error").with_code(Code::ServerBug);
        };
        match &s.return_options {
            None => self.put(Data::Sort { ids, mod_seq }),
            Some(opts) => {
                if save {
                    self.save_result(opts, &uids);
                }
                self.put_esearch(tag, s.uid, opts, &ids, mod_seq, true);
                // RFC 5267 §4: CONTEXT=SORT.
                if opts.contains(&SearchReturn::Update) {
                    let uids = uids.iter().map(|u| u.0).collect();
                    self.keep_context(tag, s.uid, search, Some(criteria_kept), uids);
                }
            }
        }
        Status::ok(tag, "SORT completed")
    }

    /// RFC 5256 §3 THREAD: ORDEREDSUBJECT and REFERENCES.
    async fn thread_done(
        &mut self,
        tag: &Tag,
        t: tidings_imap_proto::Thread,
        matches: Matches,
        references: bool,
    ) -> Status {
        let found = matches.found;
        let uid = t.uid;
        // Threading many messages is CPU work: off the async workers.
        let threads = tokio::task::spawn_blocking(move || {
            let mut items: Vec<crate::sort::Item> = found
                .iter()
                .map(|(seq, e, m)| crate::sort::Item {
                    seq: *seq,
                    entry: e,
                    meta: m.as_ref(),
                })
                .collect();
            if references {
                let msgs: Vec<crate::thread::Msg> = items
                    .iter()
                    .map(|i| {
                        let env = i.meta.map(|m| &m.envelope);
                        crate::thread::Msg {
                            id: if uid { i.entry.uid.0 } else { i.seq },
                            seq: i.seq,
                            date: env.and_then(|e| e.sent_at).unwrap_or(i.entry.received),
                            message_id: env.and_then(|e| e.message_id.clone()),
                            references: env
                                .map(|e| {
                                    tidings_store::capped_references(&e.references).into_owned()
                                })
                                .unwrap_or_default(),
                            in_reply_to: env.map(|e| e.in_reply_to.clone()).unwrap_or_default(),
                            subject: env.and_then(|e| e.subject.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                return crate::thread::references(&msgs);
            }
            crate::sort::ordered_subject(&mut items, |i| if uid { i.entry.uid.0 } else { i.seq })
        })
        .await;
        let Ok(threads) = threads else {
            return Status::no(tag, "Internal error").with_code(Code::ServerBug);
        };
        self.put(Data::Thread(threads));
        Status::ok(tag, "THREAD completed")
    }

    fn search_done(
        &mut self,
        tag: &Tag,
        s: tidings_imap_proto::Search,
        matches: Matches,
        save: bool,
    ) -> Status {
        let update = returns(s.return_options.as_deref(), SearchReturn::Update);
        let Matches { found, uses_modseq } = matches;
        let ids: Vec<u32> = found
            .iter()
            .map(|(seq, e, _)| if s.uid { e.uid.0 } else { *seq })
            .collect();
        let mod_seq = uses_modseq
            .then(|| found.iter().map(|(_, e, _)| e.modseq.0).max())
            .flatten();
        match &s.return_options {
            // RFC 9051 §6.4.4: IMAP4rev2 answers with ESEARCH.
            None if self.enabled.rev2 => self.put(Data::ESearch(ESearch {
                tag: Some(tag.clone()),
                uid: s.uid,
                all: SequenceSet::compact(ids.iter().copied()),
                mod_seq,
                ..ESearch::default()
            })),
            None => self.put(Data::Search { ids, mod_seq }),
            Some(opts) => {
                if save {
                    let uids: Vec<Uid> = found.iter().map(|(_, e, _)| e.uid).collect();
                    self.save_result(opts, &uids);
                }
                self.put_esearch(tag, s.uid, opts, &ids, mod_seq, false);
            }
        }
        if update {
            let uids = found.iter().map(|(_, e, _)| e.uid.0).collect();
            self.keep_context(tag, s.uid, s.criteria, None, uids);
        }
        Status::ok(tag, "SEARCH completed")
    }
}

impl Session {
    /// RFC 5182 §2.1: what `RETURN (... SAVE)` keeps as `$`, from the
    /// matches' UIDs in the command's order (mailbox order for SEARCH,
    /// sort order for SORT, RFC 5267 §3.1): with MIN, MAX or PARTIAL and
    /// neither ALL nor COUNT, only the messages those return (RFC 9394
    /// §3.1 for PARTIAL; Dovecot does the same); else all of them.
    fn save_result(&mut self, opts: &[SearchReturn], uids: &[Uid]) {
        let (min, max) = (
            opts.contains(&SearchReturn::Min),
            opts.contains(&SearchReturn::Max),
        );
        let partial = partial_range(opts);
        let mut saved: Vec<Uid> = if (min || max || partial.is_some())
            && !opts.contains(&SearchReturn::All)
            && !opts.contains(&SearchReturn::Count)
        {
            let mut v = Vec::new();
            if min && let Some(u) = uids.first() {
                v.push(*u);
            }
            if max && let Some(u) = uids.last() {
                v.push(*u);
            }
            if let Some(p) = partial {
                let (start, end) = p.window(uids.len());
                v.extend_from_slice(uids.get(start..end).unwrap_or_default());
            }
            v
        } else {
            uids.to_vec()
        };
        // `$` is kept as ascending UIDs.
        saved.sort_unstable();
        saved.dedup();
        self.set_saved(saved);
    }

    /// The ESEARCH answer to `RETURN (opts)` (RFC 4731 §3.1) over `ids`
    /// (sequence numbers or UIDs) in the command's order: ascending for
    /// SEARCH; sort order for SORT (`sorted`, RFC 5267 §3.1), where MIN and
    /// MAX are the first and last in that order and ALL keeps it. SAVE
    /// alone sends nothing (RFC 5182 §2.4); `RETURN ()` means ALL.
    fn put_esearch(
        &mut self,
        tag: &Tag,
        uid: bool,
        opts: &[SearchReturn],
        ids: &[u32],
        mod_seq: Option<u64>,
        sorted: bool,
    ) {
        // RFC 5267 §4.2/§4.3: CONTEXT and UPDATE ask for no data; UPDATE
        // alone answers a bare ESEARCH (as Dovecot does).
        let update = opts.contains(&SearchReturn::Update);
        let opts: Vec<SearchReturn> = opts
            .iter()
            .copied()
            .filter(|o| !matches!(o, SearchReturn::Context | SearchReturn::Update))
            .collect();
        let opts = opts.as_slice();
        if update && opts.is_empty() {
            self.put(Data::ESearch(ESearch {
                tag: Some(tag.clone()),
                uid,
                ..ESearch::default()
            }));
            return;
        }
        if !opts.is_empty() && opts.iter().all(|o| *o == SearchReturn::Save) {
            return;
        }
        let all = opts.is_empty() || opts.contains(&SearchReturn::All);
        self.put(Data::ESearch(ESearch {
            tag: Some(tag.clone()),
            uid,
            min: opts
                .contains(&SearchReturn::Min)
                .then(|| ids.first().copied())
                .flatten(),
            max: opts
                .contains(&SearchReturn::Max)
                .then(|| ids.last().copied())
                .flatten(),
            all: match (all, sorted) {
                (false, _) => None,
                (true, false) => SequenceSet::compact(ids.iter().copied()),
                (true, true) => SequenceSet::in_order(ids.iter().copied()),
            },
            count: opts
                .contains(&SearchReturn::Count)
                .then(|| u32::try_from(ids.len()).unwrap_or(u32::MAX)),
            // RFC 9394 §3.1: the results at the range's positions, in the
            // command's order; NIL when there are none.
            partial: partial_range(opts).map(|range| {
                let (start, end) = range.window(ids.len());
                let page = ids.get(start..end).unwrap_or_default().iter().copied();
                let set = if sorted {
                    SequenceSet::in_order(page)
                } else {
                    SequenceSet::compact(page)
                };
                (range.normalized(), set)
            }),
            mod_seq,
            updates: Vec::new(),
        }));
    }
}

/// Whether `RETURN (...)` holds `what`.
fn returns(opts: Option<&[SearchReturn]>, what: SearchReturn) -> bool {
    opts.is_some_and(|r| r.contains(&what))
}

/// The `PARTIAL` range among `opts` (the parser allows one at most).
fn partial_range(opts: &[SearchReturn]) -> Option<PartialRange> {
    opts.iter().find_map(|o| match o {
        SearchReturn::Partial(p) => Some(*p),
        _ => None,
    })
}

pub(crate) fn uses_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(a) => uses_modseq(std::slice::from_ref(a)),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b))
        }
        SearchKey::And(v) => uses_modseq(v),
        _ => false,
    })
}

/// Messages whose metadata (and header) SEARCH, SORT and THREAD load at a
/// time, then match and drop.
pub(crate) const SEARCH_BATCH: usize = 256;

/// Messages examined at a time when nothing has to be loaded for them
/// (flags, UIDs, dates, sizes).
pub(crate) const FLAG_BATCH: usize = 8192;
