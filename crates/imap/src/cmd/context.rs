//! CONTEXT=SEARCH (RFC 5267 §4): `SEARCH RETURN (UPDATE ...)` keeps the
//! result of a search up to date with unsolicited `ESEARCH (TAG "t")
//! [UID] REMOVEFROM (0 set) ADDTO (0 set)` until `CANCELUPDATE "t"` or
//! until the mailbox is closed (SELECT, EXAMINE, CLOSE, UNSELECT).
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
//! - Position 0 in ADDTO/REMOVEFROM: a SEARCH result has no order to keep
//!   (§4.3.3). CONTEXT=SORT is not offered: `SORT RETURN (UPDATE)` gets
//!   `* NO [NOUPDATE "t"]` and its result without updates.
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
    Code, ContextUpdate, Data, ESearch, SearchKey, SeqItem, SequenceSet, Status, Tag,
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
    /// The UIDs of the result the client was told, ascending.
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

/// The ESEARCH that reports `removed` and `added` (UIDs) to a context,
/// in the context's numbering; `None` when there is nothing to say.
fn update(ctx: &SearchContext, view: &View, removed: &[u32], added: &[u32]) -> Option<Data> {
    let number = |uids: &[u32]| -> Option<SequenceSet> {
        if ctx.uid {
            SequenceSet::compact(uids.iter().copied())
        } else {
            SequenceSet::compact(uids.iter().filter_map(|u| view.seq_of(Uid(*u))))
        }
    };
    let mut updates = Vec::new();
    if let Some(set) = number(removed) {
        updates.push(ContextUpdate {
            add: false,
            position: 0,
            set,
        });
    }
    if let Some(set) = number(added) {
        updates.push(ContextUpdate {
            add: true,
            position: 0,
            set,
        });
    }
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

/// RFC 5267 §4.3.2: the results about to be expunged leave their contexts
/// first, numbered as the client still numbers them.
pub(crate) fn before_expunge(
    contexts: &mut [SearchContext],
    view: &View,
    vanished: &[Uid],
) -> Vec<Data> {
    let mut out = Vec::new();
    for ctx in contexts.iter_mut() {
        let gone: Vec<u32> = vanished
            .iter()
            .map(|u| u.0)
            .filter(|u| ctx.result.binary_search(u).is_ok())
            .collect();
        if gone.is_empty() {
            continue;
        }
        ctx.result.retain(|u| !gone.contains(u));
        out.extend(update(ctx, view, &gone, &[]));
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
        result.sort_unstable();
        self.contexts.push(SearchContext {
            tag: tag.as_str().to_string(),
            uid,
            criteria,
            result,
        });
    }

    /// SORT with UPDATE: no CONTEXT=SORT here (§4.4.1).
    pub(crate) fn refuse_context(&mut self, tag: &Tag) {
        self.put(
            Status::untagged_no("SORT results are not kept up to date")
                .with_code(Code::NoUpdate(tag.as_str().to_string())),
        );
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
            let Some(criteria) = self.contexts.get(i).map(|c| c.criteria.clone()) else {
                continue;
            };
            let found = match self.evaluate(account, &criteria, &[], &[], false).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!("search context: {e}");
                    continue;
                }
            };
            let mut now: Vec<u32> = found.iter().map(|(_, e, _)| e.uid.0).collect();
            now.sort_unstable();
            let Some(ctx) = self.contexts.get_mut(i) else {
                continue;
            };
            let removed: Vec<u32> = ctx
                .result
                .iter()
                .copied()
                .filter(|u| now.binary_search(u).is_err())
                .collect();
            let added: Vec<u32> = now
                .iter()
                .copied()
                .filter(|u| ctx.result.binary_search(u).is_err())
                .collect();
            ctx.result = now;
            let Some((_, view)) = self.view() else {
                return;
            };
            let Some(ctx) = self.contexts.get(i) else {
                continue;
            };
            if let Some(d) = update(ctx, view, &removed, &added) {
                self.put(d);
            }
        }
    }
}
