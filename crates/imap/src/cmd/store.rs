//! STORE and UID STORE (RFC 9051 §6.4.6; UNCHANGEDSINCE RFC 7162),
//! and STORE X-GM-LABELS.

use std::collections::HashSet;

use tidings_imap_proto::{Code, Data, FetchItem, SequenceSet, Status, StoreMode, StoreWhat, Tag};
use tidings_store::{FlagOp, Right};
use tidings_types::{AccountId, Keyword, ModSeq, Uid};

use crate::session::{Session, State, labels_by_email, store_error};
use crate::view::flags_of;

impl Session {
    pub(crate) async fn store(&mut self, tag: &Tag, st: tidings_imap_proto::Store) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        // RFC 4314 §4: the store keeps to each flag's right.
        let any = [Right::Seen, Right::Write, Right::DeleteMessages];
        if let Some(refused) = view.refuse_change(tag, &any) {
            return refused;
        }
        let indexes = match view.resolve(&st.set, st.uid, &self.saved_ranges(st.uid)) {
            Ok(i) => i,
            Err(e) => return Status::bad(tag, &e),
        };
        let flags = match st.what {
            StoreWhat::Flags(flags) => flags,
            StoreWhat::GmLabels(labels) => {
                let emails: Vec<_> = indexes.iter().map(|&i| view.entries[i].email).collect();
                return self
                    .store_labels(
                        tag, account, &indexes, emails, st.mode, labels, st.silent, st.uid,
                    )
                    .await;
            }
        };
        let op = match st.mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let flags: Vec<Keyword> = flags
            .into_iter()
            .filter(|k| !k.matches("\\Recent"))
            .collect();
        let mailbox = view.mailbox;
        let uids: Vec<Uid> = indexes.iter().map(|&i| view.entries[i].uid).collect();
        if st.unchanged_since.is_some() {
            self.enable_condstore();
        }
        let unchanged = st.unchanged_since.map(ModSeq);
        let result = self
            .call_and_prefetch(move |s| {
                s.store_flags(account, mailbox, &uids, op, &flags, unchanged)
            })
            .await;
        let changed = match result {
            Ok(c) => c,
            Err(e) => return store_error(tag, &e),
        };
        let with_modseq = self.enabled.condstore;
        let show_recent = !self.enabled.rev2;
        let State::Selected { view, .. } = &mut self.state else {
            return Status::bad(tag, "No mailbox selected");
        };
        for e in &changed.changed {
            view.update_entry(e);
        }
        // RFC 3501 §7.2.6: a new keyword is announced (FLAGS, PERMANENTFLAGS)
        // before the FETCH that shows it, .SILENT or not.
        let announce = view
            .learn_keywords(&changed.changed)
            .then(|| view.flags_responses());
        let modified: HashSet<Uid> = changed.modified.iter().copied().collect();
        let mut out = Vec::new();
        if !st.silent {
            for &i in &indexes {
                let Some(e) = view.entries.get(i) else {
                    continue;
                };
                if modified.contains(&e.uid) {
                    continue;
                }
                let mut items = vec![FetchItem::Flags {
                    flags: flags_of(e),
                    recent: show_recent && view.is_recent(e.uid),
                }];
                // RFC 7162 §3.1 (RFC 5162 erratum 1807): once CONDSTORE is
                // enabled, every untagged FETCH a STORE causes carries UID
                // and MODSEQ.
                if st.uid || with_modseq {
                    items.push(FetchItem::Uid(e.uid.0));
                }
                if with_modseq {
                    items.push(FetchItem::ModSeq(e.modseq.0));
                }
                out.push(Data::Fetch {
                    seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    items,
                });
            }
        } else if with_modseq {
            // RFC 7162 §3.1.3: once CONDSTORE is enabled (by ENABLE, by a
            // CONDSTORE-aware command, or by this STORE's UNCHANGEDSINCE),
            // a STORE sends, even with .SILENT, an untagged FETCH carrying
            // MODSEQ for every message it changed, so the client's cache
            // learns the new mod-sequence (Dovecot does too).
            let updated: HashSet<Uid> = changed.changed.iter().map(|e| e.uid).collect();
            for &i in &indexes {
                let Some(e) = view.entries.get(i) else {
                    continue;
                };
                if !updated.contains(&e.uid) {
                    continue;
                }
                let items = vec![FetchItem::Uid(e.uid.0), FetchItem::ModSeq(e.modseq.0)];
                out.push(Data::Fetch {
                    seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    items,
                });
            }
        }
        let modified_set = if st.uid {
            SequenceSet::compact(changed.modified.iter().map(|u| u.0))
        } else {
            SequenceSet::compact(changed.modified.iter().filter_map(|u| view.seq_of(*u)))
        };
        for r in announce.into_iter().flatten() {
            self.put(r);
        }
        for d in out {
            self.put(d);
        }
        match modified_set {
            // RFC 7162 §3.1.3: MODIFIED lists what was not changed.
            Some(set) => Status::ok(tag, "Conditional STORE failed for some messages")
                .with_code(Code::Modified(set)),
            None => Status::ok(tag, "STORE completed"),
        }
    }

    /// STORE X-GM-LABELS: labels are mailboxes ([`crate::gmail`]), so this
    /// adds and removes mailboxes of the emails.
    #[allow(clippy::too_many_arguments)] // one STORE's parts
    pub(crate) async fn store_labels(
        &mut self,
        tag: &Tag,
        account: AccountId,
        indexes: &[usize],
        emails: Vec<tidings_types::EmailId>,
        mode: StoreMode,
        labels: Vec<String>,
        silent: bool,
        uid: bool,
    ) -> Status {
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let mut named = Vec::new();
        for l in &labels {
            match mailboxes.iter().find(|m| crate::gmail::names(l, m)) {
                Some(m) => named.push(m.id),
                None => {
                    return Status::no(tag, &format!("No such label: {l}"))
                        .with_code(Code::TryCreate);
                }
            }
        }
        let (add, remove) = match mode {
            StoreMode::Add => (named, vec![]),
            StoreMode::Remove => (vec![], named),
            StoreMode::Replace => {
                let others = mailboxes
                    .iter()
                    .filter(|m| crate::gmail::label_of(m).is_some() && !named.contains(&m.id))
                    .map(|m| m.id)
                    .collect();
                (named, others)
            }
        };
        if let Err(e) = self
            .call(move |s| s.set_email_mailboxes(account, &emails, &add, &remove))
            .await
        {
            return store_error(tag, &e);
        }
        if !silent {
            let map = match self.call(move |s| labels_by_email(s, account)).await {
                Ok(m) => m,
                Err(e) => return store_error(tag, &e),
            };
            let Some((_, view)) = self.view() else {
                return Status::bad(tag, "No mailbox selected");
            };
            let out: Vec<Data> = indexes
                .iter()
                .filter_map(|&i| view.entries.get(i).map(|e| (i, e)))
                .map(|(i, e)| {
                    let mut items = vec![FetchItem::XGmLabels(
                        map.get(&e.email).cloned().unwrap_or_default(),
                    )];
                    if uid {
                        items.push(FetchItem::Uid(e.uid.0));
                    }
                    Data::Fetch {
                        seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                        items,
                    }
                })
                .collect();
            for d in out {
                self.put(d);
            }
        }
        Status::ok(tag, "STORE completed")
    }
}
