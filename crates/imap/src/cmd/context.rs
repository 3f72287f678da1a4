//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): `SEARCH`/`SORT RETURN
//! (UPDATE ...)` keeps the result up to date with unsolicited `ESEARCH
//! (TAG "t") [UID] REMOVEFROM (...) ADDTO (...)` until `CANCELUPDATE "t"`
//! or until the mailbox is closed (SELECT, EXAMINE, CLOSE, UNSELECT).
//!
//! Implementation notes:
//! - A context keeps its search program and its result as UIDs. When the
//!   selected mailbox changes, expunged results leave with a REMOVEFROM
//!   sent before the EXPUNGE (RFC 5267 §4.3.2; in message numbers for a
//!   SEARCH without UID, so the numbers are still the client's), then,
//!   after the EXISTS and FETCH of the change, the program runs again and
//!   the difference goes out as one ESEARCH (REMOVEFROM before ADDTO, as
//!   Dovecot sends it). Updates come wherever the session reports the
//!   mailbox's changes: before a command's tagged reply, during IDLE, and
//!   between commands with NOTIFY.
//! - Positions (§4.3.3): 0 for a SEARCH, whose result has no order to
//!   keep, with one set per update (as Dovecot). For a SORT, one `position
//!   number` pair per message, applied in turn: REMOVEFROM with the
//!   message's position (from 1) in the list as it is at that point, then
//!   ADDTO with the position it takes, in ascending order, so that the
//!   client's list ends in the new sort order. Sort keys are properties of
//!   the message that never change, so the messages that stay keep their
//!   order.
//! - Refused with `* NO [NOUPDATE "t"]` (the search still answers): more
//!   than [`MAX_SEARCH_CONTEXTS`] contexts in the session, and a program
//!   that names messages by number or `$` (their meaning moves as the
//!   mailbox changes). A tag already used by a context is BAD (§4.3).
//! - `CONTEXT` (§4.2) is a hint and changes nothing; `RETURN (UPDATE)`
//!   alone answers a bare `ESEARCH (TAG "t")`, as Dovecot does.
//! - Cost: each change of the mailbox runs every context's program again
//!   (off the async workers, as SEARCH runs); at most
//!   [`MAX_SEARCH_CONTEXTS`] of them, each holding its result's UIDs.

use tidings_imap_proto::{
    Code, ContextUpdate, Data, ESearch, SearchKey, SeqItem, SequenceSet, SortCriterion, Status, Tag,
};
use tidings_types::Uid;

use crate::session::{Session, State};
use crate::view::View;

/// Searches with UPDATE one session keeps (Dovecot keeps 10).
pub const MAX_SEARCH_CONTEXTS: usize = 10;

/// One search kept up to date.
#[derive(Debug)]
pub(crate) struct SearchContext {
    tag: String,
    uid: bool,
    criteria: Vec<SearchKey>,
    /// A SORT's program (CONTEXT=SORT); `None` for a SEARCH.
    sort: Option<Vec<SortCriterion>>,
    /// The UIDs of the result the client was told: ascending for a
    /// SEARCH, in sort order for a SORT.
    result: Vec<u32>,
}

/// Whether the program names messages by number or `$`.
fn names_messages(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::SequenceSet(_) => true,
        SearchKey::Uid(set) => set.items().iter().any(|i| matches!(i, SeqItem::Saved)),
        SearchKey::Not(a) => names_messages(std::slice::from_ref(a)),
        SearchKey::Or(a, b) => {
            names_messages(std::slice::from_ref(a)) || names_messages(std::slice::from_ref(b))
        }
        SearchKey::And(v) => names_messages(v),
        _ => false,
    })
}

/// The message number (or UID) the context reports `uid` as.
fn number(ctx: &SearchContext, view: &View, uid: u32) -> Option<u32> {
    if ctx.uid {
        Some(uid)
    } else {
        view.seq_of(Uid(uid))
    }
}

/// The ESEARCH carrying `updates`; `None` when there are none.
fn esearch(ctx: &SearchContext, updates: Vec<ContextUpdate>) -> Option<Data> {
    if updates.is_empty() {
        return None;
    }
    Some(Data::ESearch(ESearch {
        tag: Tag::new(&ctx.tag).ok(),
        uid: ctx.uid,
        updates,
        ..ESearch::default()
    }))
}

/// Moves a context's result to `now` and returns the updates that tell
/// the client (see the module notes).
fn diff(ctx: &mut SearchContext, view: &View, now: Vec<u32>) -> Vec<ContextUpdate> {
    let mut updates = Vec::new();
    if ctx.sort.is_none() {
        let removed = ctx
            .result
            .iter()
            .filter(|u| now.binary_search(u).is_err())
            .filter_map(|u| number(ctx, view, *u));
        if let Some(set) = SequenceSet::compact(removed) {
            updates.push(ContextUpdate {
                add: false,
                position: 0,
                set,
            });
        }
        let added = now
            .iter()
            .filter(|u| ctx.result.binary_search(u).is_err())
            .filter_map(|u| number(ctx, view, *u));
        if let Some(set) = SequenceSet::compact(added) {
            updates.push(ContextUpdate {
                add: true,
                position: 0,
                set,
            });
        }
        ctx.result = now;
        return updates;
    }
    let keep: std::collections::HashSet<u32> = now.iter().copied().collect();
    let had: std::collections::HashSet<u32> = ctx.result.iter().copied().collect();
    let mut list = std::mem::take(&mut ctx.result);
    let mut i = 0;
    while i < list.len() {
        if keep.contains(&list[i]) {
            i += 1;
            continue;
        }
        let uid = list.remove(i);
        if let Some(n) = number(ctx, view, uid) {
            updates.push(ContextUpdate {
                add: false,
                position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                set: SequenceSet::single(n),
            });
        }
    }
    for (i, uid) in now.iter().enumerate() {
        if had.contains(uid) {
            continue;
        }
        if let Some(n) = number(ctx, view, *uid) {
            updates.push(ContextUpdate {
                add: true,
                position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                set: SequenceSet::single(n),
            });
        }
    }
    ctx.result = now;
    updates
}

/// RFC 5267 §4.3.2: the results about to be expunged leave their contexts
/// first, numbered as the client still numbers them.
pub(crate) fn before_expunge(
    contexts: &mut [SearchContext],
    view: &View,
    vanished: &[Uid],
) -> Vec<Data> {
    let mut out = Vec::new();
    let vanished: std::collections::HashSet<u32> = vanished.iter().map(|u| u.0).collect();
    for ctx in contexts.iter_mut() {
        if !ctx.result.iter().any(|u| vanished.contains(u)) {
            continue;
        }
        let now: Vec<u32> = ctx
            .result
            .iter()
            .copied()
            .filter(|u| !vanished.contains(u))
            .collect();
        let updates = diff(ctx, view, now);
        out.extend(esearch(ctx, updates));
    }
    out
}

impl Session {
    /// This session's own expunge (EXPUNGE, MOVE, REPLACE): the search
    /// contexts lose the messages first (§4.3.2), then the view, with the
    /// EXPUNGE or VANISHED responses.
    pub(crate) fn remove_from_view(&mut self, uids: &[Uid]) {
        let how = self.reporting();
        let State::Selected { view, .. } = &mut self.state else {
            return;
        };
        let mut out = before_expunge(&mut self.contexts, view, uids);
        out.extend(view.remove(uids, how));
        for d in out {
            self.put(d);
        }
    }

    /// Whether `tag` names a search kept up to date (a SEARCH reusing it
    /// with UPDATE is BAD, RFC 5267 §4.3).
    pub(crate) fn context_tag_in_use(&self, tag: &Tag) -> bool {
        self.contexts.iter().any(|c| c.tag == tag.as_str())
    }

    /// After a SEARCH with UPDATE answered: keeps its context, or says
    /// `* NO [NOUPDATE "t"]` (§4.4.1).
    pub(crate) fn keep_context(
        &mut self,
        tag: &Tag,
        uid: bool,
        criteria: Vec<SearchKey>,
        sort: Option<Vec<SortCriterion>>,
        result: Vec<u32>,
    ) {
        let refusal = if self.contexts.len() >= MAX_SEARCH_CONTEXTS {
            Some("Too many searches kept up to date")
        } else if names_messages(&criteria) {
            Some("A search naming messages by number is not kept up to date")
        } else {
            None
        };
        if let Some(text) = refusal {
            self.put(Status::untagged_no(text).with_code(Code::NoUpdate(tag.as_str().to_string())));
            return;
        }
        let mut result = result;
        if sort.is_none() {
            result.sort_unstable();
        }
        self.contexts.push(SearchContext {
            tag: tag.as_str().to_string(),
            uid,
            criteria,
            sort,
            result,
        });
    }

    /// CANCELUPDATE (RFC 5267 §4.4): each tag in turn; an unknown one ends
    /// the command with NO (as Dovecot answers).
    pub(crate) fn cancel_update(&mut self, tag: &Tag, tags: &[String]) -> Status {
        for t in tags {
            let Some(i) = self.contexts.iter().position(|c| &c.tag == t) else {
                return Status::no(tag, "Unknown tag");
            };
            self.contexts.remove(i);
        }
        Status::ok(tag, "Updates cancelled")
    }

    /// Runs every context's program again after the mailbox changed and
    /// reports the differences (§4.3).
    pub(crate) async fn refresh_contexts(&mut self) {
        let Some((account, _)) = self.view() else {
            return;
        };
        for i in 0..self.contexts.len() {
            let Some((criteria, sort)) = self
                .contexts
                .get(i)
                .map(|c| (c.criteria.clone(), c.sort.clone()))
            else {
                continue;
            };
            let found = match self
                .evaluate(account, &criteria, &[], &[], sort.is_some())
                .await
            {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!("search context: {e}");
                    continue;
                }
            };
            let now: Vec<u32> = match sort {
                None => {
                    let mut v: Vec<u32> = found.iter().map(|(_, e, _)| e.uid.0).collect();
                    v.sort_unstable();
                    v
                }
                // Sorting is CPU work: off the async workers, as SORT does.
                Some(criteria) => {
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
                        items.iter().map(|i| i.entry.uid.0).collect::<Vec<u32>>()
                    })
                    .await;
                    match sorted {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::debug!("search context: {e}");
                            continue;
                        }
                    }
                }
            };
            let State::Selected { view, .. } = &self.state else {
                return;
            };
            let Some(ctx) = self.contexts.get_mut(i) else {
                continue;
            };
            let updates = diff(ctx, view, now);
            if let Some(d) = esearch(ctx, updates) {
                self.put(d);
            }
        }
    }
}
