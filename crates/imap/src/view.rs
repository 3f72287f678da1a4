//! The selected mailbox as one session sees it: the UID↔sequence-number map
//! and the flags the client was last told.
//!
//! Implementation notes / invariants:
//! - `entries` is ascending by UID; message sequence number `n` is
//!   `entries[n - 1]` (RFC 9051 §2.3.1.2). The map changes only in
//!   [`View::apply`], which the session calls when it may tell the client
//!   (RFC 9051 §7.5.1: never while answering FETCH, STORE or SEARCH), and
//!   when the session itself expunges (its own EXPUNGE/MOVE replies).
//! - `modseq` is the mailbox HIGHESTMODSEQ up to which the view is in line
//!   with the store. A delta from the store (`mailbox_changes(since:
//!   modseq)`) is turned into untagged responses by [`View::apply`]:
//!   expunges first (highest sequence number first, so each number is right
//!   when it is read), then `EXISTS` for new UIDs, then `FETCH (FLAGS)` for
//!   entries whose flags differ from what the client was told.
//! - An entry the session changed itself (STORE) is updated in place by
//!   [`View::update_entry`], so the later delta that carries the same change
//!   produces no duplicate FETCH.
//! - `keywords` are the keywords (besides the system flags) the client was
//!   told in FLAGS/PERMANENTFLAGS: those in use at SELECT, then each new
//!   one as an entry that carries it is reported; a new one brings a new
//!   FLAGS and `OK [PERMANENTFLAGS]` before the FETCH that shows it (RFC
//!   3501 §7.2.6). At most [`MAX_ANNOUNCED_KEYWORDS`] are listed; past that
//!   clients rely on `\*` in PERMANENTFLAGS.
//! - `recent` are the UIDs `\Recent` in this session (RFC 3501 §2.3.2):
//!   the ones it claimed from the store (`Store::recent_uids`) at SELECT and
//!   whenever new messages appeared, or, read-only, the ones nobody had
//!   claimed. They are shown (RECENT after EXISTS, `\Recent` in FLAGS)
//!   only when [`Reporting::recent`] says so (not in IMAP4rev2, RFC 9051
//!   §2.3.2).
//! - `owner` and `rights`: a mailbox shared by another account (RFC 4314)
//!   changes under its owner's MODSEQ and events; PERMANENTFLAGS lists
//!   only the flags the rights allow changing (RFC 4314 §4), and a
//!   SELECT without a right to change anything is read-only.

use tidings_imap_proto::{Code, Data, FetchItem, Response, SequenceSet, Status, Tag};
use tidings_store::{MailboxDelta, MailboxEntry, Right, Rights};
use tidings_types::{AccountId, Keyword, MailboxId, MailboxName, Uid, UidValidity};

/// A selected mailbox.
#[derive(Debug)]
pub struct View {
    pub mailbox: MailboxId,
    /// The account the mailbox belongs to (another one when shared).
    pub owner: AccountId,
    /// The session's rights on it (all of them on its own).
    pub rights: Rights,
    pub name: MailboxName,
    pub uid_validity: UidValidity,
    /// EXAMINE, or SELECT of a mailbox the user may not change.
    pub read_only: bool,
    /// Ascending by UID; index + 1 is the sequence number.
    pub entries: Vec<MailboxEntry>,
    /// The HIGHESTMODSEQ the view is in line with.
    pub modseq: u64,
    /// Keywords announced in FLAGS besides [`system_flags`].
    pub keywords: Vec<Keyword>,
    /// UIDs `\Recent` in this session: half-open ranges, ascending,
    /// disjoint.
    pub recent: Vec<(u32, u32)>,
    /// The RECENT count the client was last told.
    pub reported_recent: u32,
}

/// How many keywords FLAGS lists at most. Every new keyword re-sends the
/// whole list, so this bounds one FLAGS response (keywords are at most 255
/// bytes) and what a session spends announcing them; real mailboxes use a
/// few dozen.
pub const MAX_ANNOUNCED_KEYWORDS: usize = 256;

/// The flags every mailbox offers: the system flags (not `\Recent`, which
/// no client sets, RFC 3501 §2.3.2; Dovecot leaves it out too) and the
/// `$Forwarded`/`$Junk` keywords clients look for.
pub fn system_flags() -> Vec<Keyword> {
    [
        Keyword::ANSWERED,
        Keyword::FLAGGED,
        Keyword::DELETED,
        Keyword::SEEN,
        Keyword::DRAFT,
        Keyword::FORWARDED,
        Keyword::JUNK,
    ]
    .iter()
    .filter_map(|k| Keyword::new(k).ok())
    .collect()
}

/// How expunges are reported (RFC 7162 §3.2.10: VANISHED once QRESYNC is
/// enabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reporting {
    pub qresync: bool,
    /// Add MODSEQ to unsolicited FETCH responses (CONDSTORE enabled,
    /// RFC 7162 §3.1.4.1).
    pub condstore: bool,
    /// Show `\Recent`: RECENT responses and the flag in FETCH (not in
    /// IMAP4rev2 sessions, RFC 9051 §2.3.2).
    pub recent: bool,
    /// RFC 9586 §3 (UIDONLY): expunges as VANISHED, and unsolicited FETCH
    /// carries the UID (the session sends it as UIDFETCH).
    pub uidonly: bool,
}

/// The flags of an entry as IMAP shows them: the email's keywords plus
/// this entry's `\Deleted`.
pub fn flags_of(entry: &MailboxEntry) -> Vec<Keyword> {
    let mut flags: Vec<Keyword> = entry
        .keywords
        .iter()
        .filter(|k| !k.is_deleted())
        .cloned()
        .collect();
    if entry.deleted
        && let Ok(k) = Keyword::new(Keyword::DELETED)
    {
        flags.push(k);
    }
    flags
}

/// Whether `uid` is in `ranges` (half-open, ascending, disjoint), as
/// [`View::recent`] holds them.
pub fn in_recent(ranges: &[(u32, u32)], uid: Uid) -> bool {
    let i = ranges.partition_point(|&(_, b)| b <= uid.0);
    ranges.get(i).is_some_and(|&(a, _)| a <= uid.0)
}

fn same_flags(a: &MailboxEntry, b: &MailboxEntry) -> bool {
    a.deleted == b.deleted && a.keywords == b.keywords
}

impl View {
    /// Adds `first..next` to the UIDs recent in this session.
    pub fn add_recent(&mut self, first: Uid, next: Uid) {
        if first >= next {
            return;
        }
        self.recent.push((first.0, next.0));
        self.recent.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.recent.len());
        for (a, b) in self.recent.drain(..) {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.recent = merged;
    }

    /// Whether `uid` is `\Recent` in this session.
    pub fn is_recent(&self, uid: Uid) -> bool {
        in_recent(&self.recent, uid)
    }

    /// How many messages of the view are `\Recent` in this session.
    pub fn recent_count(&self) -> u32 {
        let Some(&(first, _)) = self.recent.first() else {
            return 0;
        };
        let from = self.entries.partition_point(|e| e.uid.0 < first);
        let n = self.entries[from..]
            .iter()
            .filter(|e| self.is_recent(e.uid))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Adds the keywords of `entries` not announced yet (up to
    /// [`MAX_ANNOUNCED_KEYWORDS`]); whether any was new.
    pub fn learn_keywords<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a MailboxEntry>,
    ) -> bool {
        let mut known: std::collections::HashSet<String> = system_flags()
            .iter()
            .chain(&self.keywords)
            .map(|k| k.as_str().to_ascii_lowercase())
            .collect();
        let mut added = false;
        for e in entries {
            for k in &e.keywords {
                if self.keywords.len() >= MAX_ANNOUNCED_KEYWORDS {
                    return added;
                }
                // System flags (`\Seen`, ...) are always listed.
                if k.as_str().starts_with('\\') {
                    continue;
                }
                if known.insert(k.as_str().to_ascii_lowercase()) {
                    self.keywords.push(k.clone());
                    added = true;
                }
            }
        }
        added
    }

    /// FLAGS and `OK [PERMANENTFLAGS]` for this mailbox (RFC 9051 §7.3.5,
    /// §7.1): the system flags and the announced keywords; none permanent
    /// when read-only.
    pub fn flags_responses(&self) -> [Response; 2] {
        let mut flags = system_flags();
        flags.extend(self.keywords.iter().cloned());
        let permanent = if self.read_only {
            vec![]
        } else {
            self.rights.allowed_flags(&flags)
        };
        [
            Response::Data(Data::Flags(flags)),
            Response::Status(Status::untagged_ok("Flags permitted").with_code(
                Code::PermanentFlags {
                    flags: permanent,
                    any_keyword: !self.read_only && self.rights.has(Right::Write),
                },
            )),
        ]
    }

    /// The refusal of a change that needs one of `any` (RFC 4314 §4:
    /// `NO [NOPERM]` without the right), or any change at all to a
    /// read-only (EXAMINEd) mailbox.
    pub fn refuse_change(&self, tag: &Tag, any: &[Right]) -> Option<Status> {
        if !any.iter().any(|r| self.rights.has(*r)) {
            let letters: String = any.iter().map(|r| r.letter()).collect();
            return Some(
                Status::no(tag, &format!("You lack the right ({letters}) to do that"))
                    .with_code(Code::NoPerm),
            );
        }
        self.read_only
            .then(|| Status::no(tag, "Mailbox is read-only").with_code(Code::Cannot))
    }
    /// The number of messages the client knows about.
    pub fn exists(&self) -> u32 {
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    /// The sequence number of `uid`, if the client knows it.
    pub fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.entries
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    /// The largest UID the client knows (0 when empty).
    pub fn max_uid(&self) -> u32 {
        self.entries.last().map_or(0, |e| e.uid.0)
    }

    /// Indexes (0-based) of the messages `set` names. For a UID set, `*` is
    /// the largest UID, and UIDs that are not in the mailbox are skipped
    /// (RFC 9051 §6.4.9); for sequence numbers, `Err` when a number is
    /// beyond EXISTS (RFC 9051 §9 "invalid sequence number"), `*` in an
    /// empty mailbox also being invalid.
    pub fn resolve(
        &self,
        set: &SequenceSet,
        uid: bool,
        saved: &[(u32, u32)],
    ) -> Result<Vec<usize>, String> {
        if uid {
            let ranges = set.ranges(self.max_uid(), saved);
            let mut out = Vec::new();
            for (a, b) in ranges {
                let start = self.entries.partition_point(|e| e.uid.0 < a);
                let end = self.entries.partition_point(|e| e.uid.0 <= b);
                out.extend(start..end);
            }
            Ok(out)
        } else {
            let n = self.exists();
            let ranges = set.ranges(n, saved);
            let mut out = Vec::new();
            for (a, b) in ranges {
                if a == 0 || b > n {
                    return Err("invalid message sequence number".into());
                }
                out.extend((a as usize - 1)..(b as usize));
            }
            Ok(out)
        }
    }

    /// Replaces an entry with what the store says it is now (after this
    /// session's own STORE). Returns false if the UID is not in the view.
    pub fn update_entry(&mut self, entry: &MailboxEntry) -> bool {
        match self.entries.binary_search_by_key(&entry.uid, |e| e.uid) {
            Ok(i) => {
                self.entries[i] = entry.clone();
                true
            }
            Err(_) => false,
        }
    }

    /// Removes `uids` (this session's own expunge) and returns the
    /// untagged responses that report it.
    pub fn remove(&mut self, uids: &[Uid], how: Reporting) -> Vec<Data> {
        let before = self.entries.len();
        let mut out = self.remove_entries(uids, how);
        if self.entries.len() != before {
            self.report_recent(how, &mut out);
        }
        out
    }

    /// RFC 3501 §7.3.2: `* n RECENT` when the number of recent messages
    /// changed since the client was last told (new mail, expunges), as
    /// Dovecot does, once per update. Called only when messages came or
    /// went (the count is a scan of the view).
    fn report_recent(&mut self, how: Reporting, out: &mut Vec<Data>) {
        let recent = self.recent_count();
        if how.recent && recent != self.reported_recent {
            out.push(Data::Recent(recent));
            self.reported_recent = recent;
        }
    }

    fn remove_entries(&mut self, uids: &[Uid], how: Reporting) -> Vec<Data> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        let mut sorted: Vec<Uid> = uids.to_vec();
        sorted.sort_unstable();
        // Highest first: each EXPUNGE number is valid when the client reads it.
        for uid in sorted.iter().rev() {
            if let Ok(i) = self.entries.binary_search_by_key(uid, |e| e.uid) {
                self.entries.remove(i);
                gone.push(uid.0);
                if !how.qresync && !how.uidonly {
                    out.push(Data::Expunge(u32::try_from(i + 1).unwrap_or(u32::MAX)));
                }
            }
        }
        if (how.qresync || how.uidonly)
            && let Some(uids) = SequenceSet::compact(gone)
        {
            out.push(Data::Vanished {
                earlier: false,
                uids,
            });
        }
        out
    }

    /// Brings the view in line with `delta` and returns what to tell the
    /// client. With `allow_expunge` false (during FETCH, STORE, SEARCH),
    /// vanished UIDs stay in the map and the view's MODSEQ is not advanced
    /// past them, so a later call reports them.
    pub fn apply(
        &mut self,
        delta: &MailboxDelta,
        how: Reporting,
        allow_expunge: bool,
    ) -> Vec<Data> {
        let mut out = Vec::new();
        let before = (self.entries.len(), self.max_uid());
        let vanished_known: Vec<Uid> = delta
            .vanished
            .iter()
            .copied()
            .filter(|u| self.seq_of(*u).is_some())
            .collect();
        if !vanished_known.is_empty() && !allow_expunge {
            // Report only flag changes and new messages now; keep the
            // MODSEQ so the expunges come again.
            self.apply_changes(delta, how, &mut out);
            if (self.entries.len(), self.max_uid()) != before {
                self.report_recent(how, &mut out);
            }
            return out;
        }
        out.extend(self.remove_entries(&vanished_known, how));
        self.apply_changes(delta, how, &mut out);
        self.modseq = self.modseq.max(delta.highest_modseq.0);
        if (self.entries.len(), self.max_uid()) != before {
            self.report_recent(how, &mut out);
        }
        out
    }

    fn apply_changes(&mut self, delta: &MailboxDelta, how: Reporting, out: &mut Vec<Data>) {
        let before = self.entries.len();
        let max = self.max_uid();
        let mut flag_updates = Vec::new();
        for e in &delta.changed {
            if e.uid.0 > max {
                self.entries.push(e.clone());
            } else if let Ok(i) = self.entries.binary_search_by_key(&e.uid, |x| x.uid) {
                if !same_flags(&self.entries[i], e) {
                    flag_updates.push(i);
                }
                self.entries[i] = e.clone();
            }
        }
        if self.entries.len() != before {
            self.entries.sort_unstable_by_key(|e| e.uid);
            out.push(Data::Exists(self.exists()));
        }
        for i in flag_updates {
            let e = &self.entries[i];
            let mut items = vec![FetchItem::Flags {
                flags: flags_of(e),
                recent: how.recent && self.is_recent(e.uid),
            }];
            if how.condstore || how.qresync || how.uidonly {
                items.push(FetchItem::Uid(e.uid.0));
            }
            if how.condstore || how.qresync {
                items.push(FetchItem::ModSeq(e.modseq.0));
            }
            out.push(Data::Fetch {
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                items,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tidings_imap_proto::{SeqNumber, SequenceSet};
    use tidings_types::{EmailId, ModSeq, ThreadId};

    fn entry(uid: u32, modseq: u64, seen: bool) -> MailboxEntry {
        MailboxEntry {
            uid: Uid(uid),
            email: EmailId(i64::from(uid)),
            thread: ThreadId(1),
            keywords: if seen {
                vec![Keyword::new("\\Seen").unwrap()]
            } else {
                vec![]
            },
            deleted: false,
            modseq: ModSeq(modseq),
            size: 10,
            received: 0,
            saved: 0,
        }
    }

    fn view(uids: &[u32]) -> View {
        View {
            mailbox: MailboxId(1),
            owner: AccountId(1),
            rights: Rights::all(),
            name: MailboxName::new("INBOX").unwrap(),
            uid_validity: UidValidity(1),
            read_only: false,
            entries: uids.iter().map(|&u| entry(u, 1, false)).collect(),
            modseq: 1,
            keywords: vec![],
            recent: vec![],
            reported_recent: 0,
        }
    }

    #[test]
    fn new_keywords_are_learned_once_case_blind_and_bounded() {
        let mut v = view(&[1]);
        let mut e = entry(2, 2, true);
        e.keywords.push(Keyword::new("NewKw").unwrap());
        e.keywords.push(Keyword::new("$junk").unwrap());
        assert!(v.learn_keywords([&e]));
        assert_eq!(v.keywords, vec![Keyword::new("NewKw").unwrap()]);
        e.keywords = vec![Keyword::new("newkw").unwrap()];
        assert!(!v.learn_keywords([&e]));
        let many: Vec<MailboxEntry> = (0..MAX_ANNOUNCED_KEYWORDS + 10)
            .map(|i| {
                let mut e = entry(3, 3, false);
                e.keywords = vec![Keyword::new(&format!("k{i}")).unwrap()];
                e
            })
            .collect();
        v.learn_keywords(&many);
        assert_eq!(v.keywords.len(), MAX_ANNOUNCED_KEYWORDS);
        let [flags, _] = v.flags_responses();
        assert!(
            matches!(flags, Response::Data(Data::Flags(f)) if f.len() == MAX_ANNOUNCED_KEYWORDS + 7)
        );
    }

    const PLAIN: Reporting = Reporting {
        qresync: false,
        condstore: false,
        recent: true,
        uidonly: false,
    };

    #[test]
    fn expunges_are_reported_highest_first_and_exists_after() {
        let mut v = view(&[1, 2, 3, 4]);
        let delta = MailboxDelta {
            changed: vec![entry(5, 3, false), entry(3, 3, true)],
            vanished: vec![Uid(2), Uid(4)],
            highest_modseq: ModSeq(3),
        };
        let out = v.apply(&delta, PLAIN, true);
        assert_eq!(out[0], Data::Expunge(4));
        assert_eq!(out[1], Data::Expunge(2));
        assert_eq!(out[2], Data::Exists(3));
        assert!(matches!(out[3], Data::Fetch { seq: 2, .. }));
        assert_eq!(v.modseq, 3);
        assert_eq!(v.seq_of(Uid(5)), Some(3));
    }

    #[test]
    fn no_expunge_during_fetch_keeps_the_map_and_the_modseq() {
        let mut v = view(&[1, 2]);
        let delta = MailboxDelta {
            changed: vec![],
            vanished: vec![Uid(1)],
            highest_modseq: ModSeq(2),
        };
        assert!(v.apply(&delta, PLAIN, false).is_empty());
        assert_eq!(v.exists(), 2);
        assert_eq!(v.modseq, 1);
        let q = Reporting {
            qresync: true,
            condstore: true,
            recent: true,
            uidonly: false,
        };
        let out = v.apply(&delta, q, true);
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0], Data::Vanished { earlier: false, uids } if uids.to_string() == "1")
        );
    }

    #[test]
    fn sequence_and_uid_sets_resolve() {
        let v = view(&[3, 7, 9]);
        let all = SequenceSet::range(SeqNumber::Value(1), SeqNumber::Largest);
        assert_eq!(v.resolve(&all, false, &[]).unwrap(), vec![0, 1, 2]);
        assert_eq!(v.resolve(&all, true, &[]).unwrap(), vec![0, 1, 2]);
        let uids = SequenceSet::range(SeqNumber::Value(4), SeqNumber::Value(9));
        assert_eq!(v.resolve(&uids, true, &[]).unwrap(), vec![1, 2]);
        assert!(v.resolve(&SequenceSet::single(4), false, &[]).is_err());
        // `*` in a UID set is the largest UID even past the last (RFC 9051 §6.4.9).
        let star = SequenceSet::range(SeqNumber::Value(100), SeqNumber::Largest);
        assert_eq!(v.resolve(&star, true, &[]).unwrap(), vec![2]);
    }

    #[test]
    fn recent_ranges_merge_and_count_only_messages_in_the_view() {
        let mut v = view(&[1, 2, 3, 5, 8]);
        v.add_recent(Uid(5), Uid(7));
        v.add_recent(Uid(2), Uid(3));
        v.add_recent(Uid(3), Uid(5));
        v.add_recent(Uid(9), Uid(9));
        assert_eq!(v.recent, [(2, 7)]);
        assert!(!v.is_recent(Uid(1)) && v.is_recent(Uid(2)) && v.is_recent(Uid(6)));
        assert!(!v.is_recent(Uid(7)) && !v.is_recent(Uid(8)));
        assert_eq!(v.recent_count(), 3);
        // An expunge of a recent message is followed by RECENT; of another,
        // not.
        v.reported_recent = 3;
        let out = v.remove(&[Uid(1)], PLAIN);
        assert!(!out.iter().any(|d| matches!(d, Data::Recent(_))), "{out:?}");
        let out = v.remove(&[Uid(3)], PLAIN);
        assert!(out.iter().any(|d| matches!(d, Data::Recent(2))), "{out:?}");
    }
}
