//! The change-log window behind every `Foo/changes` (RFC 8620 §5.2) and
//! `Foo/queryChanges` (§5.6): which rows of the store's change log a
//! response covers, and the state it ends at.
//!
//! Implementation notes:
//! - States are account MODSEQs and every commit logs its rows under one
//!   MODSEQ, so a response may stop after any commit: that commit's MODSEQ
//!   is a real intermediate state (`hasMoreChanges: true`). It never stops
//!   inside a commit, a state that never existed.
//! - `maxChanges` counts the distinct objects the window touches, an upper
//!   bound of what the response lists (an email created and destroyed in
//!   the window is listed nowhere but counted), so the limit always holds.
//! - One commit that alone touches more than `maxChanges` objects cannot be
//!   split: `cannotCalculateChanges` (the client resyncs). Without
//!   `maxChanges` the server stops after about [`SERVER_MAX_CHANGES`]
//!   objects (§5.2 lets it choose), but always returns at least one commit.

use std::collections::HashSet;

use tidings_store::{ChangeLog, LoggedChange};
use tidings_types::ModSeq;

use crate::mailbox::changes::parse_state;
use crate::{Ctx, MethodError};

/// The most objects one `/changes` response lists when the client sets no
/// `maxChanges`.
pub const SERVER_MAX_CHANGES: usize = 5000;

/// Log rows read for one window: rows repeat objects (a flag set twice),
/// so a few per object allowed.
const ROWS_PER_CHANGE: usize = 4;

/// The rows a response covers and where it ends.
pub struct Window {
    pub entries: Vec<LoggedChange>,
    pub new_state: ModSeq,
    pub has_more: bool,
}

/// The window after `since_state` of at most `max_changes` objects, each
/// row's objects named by `keys` (several for a row that touches many,
/// none for a row of another type).
pub fn window(
    ctx: &Ctx<'_>,
    since_state: &str,
    max_changes: Option<u64>,
    mut keys: impl FnMut(&LoggedChange, &mut Vec<i64>),
) -> Result<Window, MethodError> {
    let since = parse_state(since_state)?;
    let max = match max_changes {
        Some(0) => {
            return Err(MethodError::InvalidArguments(
                "maxChanges must be positive".into(),
            ));
        }
        Some(n) => usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(SERVER_MAX_CHANGES),
        None => SERVER_MAX_CHANGES,
    };
    let log = ctx.store.change_log(
        ctx.account,
        since,
        max.saturating_mul(ROWS_PER_CHANGE).saturating_add(1),
    )?;
    if since > log.current {
        return Err(MethodError::CannotCalculateChanges(since_state.to_string()));
    }
    let strict = max_changes.is_some();
    cut(log, max, strict, &mut keys).ok_or_else(|| {
        MethodError::CannotCalculateChanges(format!(
            "one commit after {since_state} changed more than maxChanges {max} objects"
        ))
    })
}

/// Cuts `log` after the last commit that keeps the distinct objects at
/// `max` or fewer; `None` if even the first does not and `strict`.
fn cut(
    log: ChangeLog,
    max: usize,
    strict: bool,
    keys: &mut impl FnMut(&LoggedChange, &mut Vec<i64>),
) -> Option<Window> {
    let mut seen: HashSet<i64> = HashSet::new();
    let mut buf = Vec::new();
    // Rows kept: every commit up to `end` (exclusive index).
    let mut end = 0;
    let mut i = 0;
    let entries = &log.entries;
    while i < entries.len() {
        let modseq = entries[i].modseq;
        let mut j = i;
        while j < entries.len() && entries[j].modseq == modseq {
            buf.clear();
            keys(&entries[j], &mut buf);
            seen.extend(buf.iter().copied());
            j += 1;
        }
        if seen.len() > max {
            if end == 0 && !strict {
                end = j;
            }
            break;
        }
        end = j;
        i = j;
    }
    if end == 0 && !entries.is_empty() {
        return None;
    }
    let complete = end == entries.len() && !log.truncated;
    let new_state = if complete {
        log.current
    } else {
        entries[end - 1].modseq
    };
    let mut entries = log.entries;
    entries.truncate(end);
    Some(Window {
        entries,
        new_state,
        has_more: !complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_store::ChangeKind;

    fn row(modseq: u64, object: i64) -> LoggedChange {
        LoggedChange {
            modseq: ModSeq(modseq),
            kind: ChangeKind::EmailUpdated,
            object,
        }
    }

    fn log(rows: Vec<LoggedChange>, current: u64) -> ChangeLog {
        ChangeLog {
            entries: rows,
            truncated: false,
            current: ModSeq(current),
        }
    }

    fn by_object(c: &LoggedChange, out: &mut Vec<i64>) {
        out.push(c.object);
    }

    #[test]
    fn stops_after_the_last_commit_that_fits() {
        // Commits 5 (objects 1, 2), 6 (object 1 again), 7 (3, 4).
        let rows = vec![row(5, 1), row(5, 2), row(6, 1), row(7, 3), row(7, 4)];
        let w = cut(log(rows.clone(), 9), 3, true, &mut by_object).unwrap();
        assert_eq!(w.entries.len(), 3);
        assert_eq!(w.new_state, ModSeq(6));
        assert!(w.has_more);
        let w = cut(log(rows.clone(), 9), 4, true, &mut by_object).unwrap();
        assert_eq!(w.entries.len(), 5);
        assert_eq!(w.new_state, ModSeq(9), "all there: the current state");
        assert!(!w.has_more);
        // A commit larger than the limit cannot be split.
        assert!(cut(log(rows.clone(), 9), 1, true, &mut by_object).is_none());
        // … unless the limit is the server's own.
        let w = cut(log(rows, 9), 1, false, &mut by_object).unwrap();
        assert_eq!((w.entries.len(), w.new_state), (2, ModSeq(5)));
    }

    #[test]
    fn a_truncated_log_has_more() {
        let mut l = log(vec![row(5, 1)], 9);
        l.truncated = true;
        let w = cut(l, 10, true, &mut by_object).unwrap();
        assert_eq!(w.new_state, ModSeq(5));
        assert!(w.has_more);
        let w = cut(log(Vec::new(), 9), 10, true, &mut by_object).unwrap();
        assert_eq!(w.new_state, ModSeq(9));
        assert!(!w.has_more);
    }
}
