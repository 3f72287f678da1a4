//! Mailbox commands (RFC 9051 §6.3, §6.4.2): SELECT/EXAMINE (with
//! CONDSTORE/QRESYNC, RFC 7162), CREATE (with SPECIAL-USE, RFC 6154),
//! DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, CLOSE/UNSELECT.

use tidings_imap_proto::{Code, Data, FetchItem, ListItem, SelectParams, SequenceSet, Status, Tag};
use tidings_store::{Right, StoreError};
use tidings_types::{Keyword, MailboxRole, ModSeq};

use crate::session::{Session, State, store_error};
use crate::view::{View, flags_of};

impl Session {
    pub(crate) async fn select(
        &mut self,
        tag: &Tag,
        raw: &str,
        read_only: bool,
        params: SelectParams,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        if params.qresync.is_some() && !self.enabled.qresync {
            return Status::bad(tag, "QRESYNC is not enabled");
        }
        // RFC 9051 §6.3.2: a SELECT leaves the selected state first;
        // RFC 7162 §3.2.11: CLOSED tells the client where the old
        // mailbox's responses end.
        if matches!(self.state, State::Selected { .. }) {
            self.state = State::Authenticated { account };
            self.put(Status::untagged_ok("Previous mailbox closed").with_code(Code::Closed));
        }
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        // One blocking call for the mailbox, the recent claim and the
        // entries. RFC 3501 §2.3.2: a read-write SELECT claims what no
        // session has seen as recent yet; EXAMINE only looks (§6.3.2: it
        // "MUST NOT cause messages to lose the \Recent flag"). Before the
        // entries are read, so that every claimed UID that exists is among
        // them.
        // RFC 4314 §4: a shared mailbox needs `r`; without a right to
        // change anything (flags, insert, expunge) it opens read-only.
        let opened = self
            .call(move |s| {
                let Some(mbox) = crate::cmd::resolve(s, account, &name)? else {
                    return Ok(None);
                };
                let rights = crate::cmd::rights_on(s, account, &mbox)?;
                let writable = [
                    Right::Seen,
                    Right::Write,
                    Right::DeleteMessages,
                    Right::Insert,
                    Right::Expunge,
                ]
                .iter()
                .any(|r| rights.has(*r));
                let read_only = read_only || !writable;
                let recent = s.recent_uids(account, mbox.id, !read_only)?;
                let entries = s.mailbox_entries(account, mbox.id)?;
                Ok(Some((mbox, rights, read_only, recent, entries)))
            })
            .await;
        let (mbox, rights, read_only, recent, entries) = match opened {
            Ok(Some(opened)) => opened,
            Ok(None) => {
                return Status::no(tag, "No such mailbox").with_code(Code::NonExistent);
            }
            Err(e) => return store_error(tag, &e),
        };
        let id = mbox.id;
        if params.condstore {
            self.enable_condstore();
        }
        let mut view = View {
            mailbox: mbox.id,
            owner: mbox.account,
            rights,
            name: mbox.name.clone(),
            uid_validity: mbox.uid_validity,
            read_only,
            entries,
            modseq: mbox.highest_modseq.0,
            keywords: Vec::new(),
            recent: Vec::new(),
            reported_recent: 0,
        };
        view.add_recent(recent.first, recent.next);
        // RFC 3501 §7.2.6: FLAGS lists the flags used in the mailbox.
        let entries = std::mem::take(&mut view.entries);
        view.learn_keywords(&entries);
        view.entries = entries;
        for r in view.flags_responses() {
            self.put(r);
        }
        self.put(Data::Exists(view.exists()));
        if self.enabled.rev2 {
            // RFC 9051 §6.3.2: the mailbox's canonical name.
            self.put(Data::List(ListItem {
                attributes: vec![],
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: mbox.name.as_str().to_string(),
                child_info: vec![],
                old_name: None,
            }));
        } else {
            view.reported_recent = view.recent_count();
            self.put(Data::Recent(view.reported_recent));
        }
        if let Some(i) = view
            .entries
            .iter()
            .position(|e| !e.keywords.iter().any(|k| k.matches(Keyword::SEEN)))
            // RFC 9586 §3: no message numbers under UIDONLY.
            .filter(|_| !self.enabled.rev2 && !self.enabled.uidonly)
        {
            self.put(
                Status::untagged_ok("First unseen")
                    .with_code(Code::Unseen(u32::try_from(i + 1).unwrap_or(u32::MAX))),
            );
        }
        self.put(
            Status::untagged_ok("UIDs valid").with_code(Code::UidValidity(view.uid_validity.0)),
        );
        let uid_next = mbox.uid_next.0.max(view.max_uid().saturating_add(1));
        self.put(Status::untagged_ok("Predicted next UID").with_code(Code::UidNext(uid_next)));
        self.put(Status::untagged_ok("Highest").with_code(Code::HighestModSeq(view.modseq)));
        self.put(Status::untagged_ok("Mailbox id").with_code(Code::MailboxId(mbox.id.to_string())));
        if let Some(q) = params.qresync
            && q.uid_validity == view.uid_validity.0
        {
            // RFC 7162 §3.2.5.1: what changed since the client's MODSEQ.
            let since = q.mod_seq;
            let delta = match self
                .call(move |s| s.mailbox_changes(account, id, ModSeq(since)))
                .await
            {
                Ok(d) => d,
                Err(e) => return store_error(tag, &e),
            };
            let max_uid = view.max_uid();
            let vanished: Vec<u32> = delta
                .vanished
                .iter()
                .map(|u| u.0)
                .filter(|u| {
                    q.known_uids
                        .as_ref()
                        .is_none_or(|k| k.contains(*u, max_uid.max(*u), &[]))
                })
                .collect();
            if let Some(uids) = SequenceSet::compact(vanished) {
                self.put(Data::Vanished {
                    earlier: true,
                    uids,
                });
            }
            for e in &delta.changed {
                if let Some(seq) = view.seq_of(e.uid) {
                    self.put(Data::Fetch {
                        seq,
                        items: vec![
                            FetchItem::Uid(e.uid.0),
                            FetchItem::Flags {
                                flags: flags_of(e),
                                recent: !self.enabled.rev2 && view.is_recent(e.uid),
                            },
                            FetchItem::ModSeq(e.modseq.0),
                        ],
                    });
                }
            }
        }
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        let what = if read_only { "EXAMINE" } else { "SELECT" };
        self.state = State::Selected {
            account,
            view,
            saved: Vec::new(),
            dirty: false,
        };
        Status::ok(tag, &format!("{what} completed")).with_code(code)
    }

    pub(crate) async fn create(&mut self, tag: &Tag, raw: &str, special_use: &[String]) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // RFC 9051 §6.3.4: a trailing delimiter only declares intent.
        let trimmed = raw.strip_suffix(tidings_types::SEPARATOR).unwrap_or(raw);
        let name = match self.name(tag, trimmed) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let mut role = None;
        for attr in special_use {
            match MailboxRole::from_special_use(attr) {
                Some(r) if role.is_none() => role = Some(r),
                // RFC 6154 §3: one role per mailbox here.
                _ => {
                    return Status::no(tag, "Unsupported special-use attribute")
                        .with_code(Code::UseAttr);
                }
            }
        }
        let n = name.clone();
        // RFC 4314 §4: inside a mailbox another account shared (`k`).
        match self
            .call(
                move |s| match crate::cmd::in_other_account(s, account, &n)? {
                    Some(_) if role.is_some() => Err(StoreError::Refused(
                        "special use is for one's own mailboxes".into(),
                    )),
                    Some((owner, inner)) => s.create_mailbox_of(account, owner, &inner),
                    None => s.create_mailbox(account, &n, role),
                },
            )
            .await
        {
            Ok(_) => Status::ok(tag, "CREATE completed"),
            // RFC 6154 §3: the name is free but the role is taken.
            Err(StoreError::AlreadyExists(what)) if role.is_some() => {
                match self.lookup(account, name).await {
                    Ok(None) => {
                        Status::no(tag, &format!("{what} already exists")).with_code(Code::UseAttr)
                    }
                    _ => Status::no(tag, &format!("{what} already exists"))
                        .with_code(Code::AlreadyExists),
                }
            }
            Err(e) => store_error(tag, &e),
        }
    }

    pub(crate) async fn delete(&mut self, tag: &Tag, raw: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        if name.is_inbox() {
            return Status::no(tag, "INBOX cannot be deleted").with_code(Code::Cannot);
        }
        // RFC 4314 §4: another account's mailbox needs `x`.
        let result = self
            .call(move |s| match crate::cmd::resolve(s, account, &name)? {
                Some(m) if m.account != account => s.delete_mailbox_of(account, m.id),
                _ => s.delete_mailbox(account, &name),
            })
            .await;
        match result {
            Ok(()) => Status::ok(tag, "DELETE completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    pub(crate) async fn rename(&mut self, tag: &Tag, from: &str, to: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let (from, to) = match (self.name(tag, from), self.name(tag, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        // RFC 4314 §4: within another account's hierarchy, `x` on the
        // mailbox and `k` on the new parent; never between accounts.
        let result = self
            .call(move |s| {
                let shared_to = crate::cmd::in_other_account(s, account, &to)?;
                match (crate::cmd::resolve(s, account, &from)?, shared_to) {
                    (Some(m), Some((owner, to))) if m.account != account && owner == m.account => {
                        s.rename_mailbox_of(account, m.id, &to)
                    }
                    (Some(m), _) if m.account != account => Err(StoreError::Refused(
                        "a mailbox cannot move to another account".into(),
                    )),
                    (_, Some(_)) => Err(StoreError::Refused(
                        "a mailbox cannot move to another account".into(),
                    )),
                    _ => s.rename_mailbox(account, &from, &to),
                }
            })
            .await;
        match result {
            Ok(()) => Status::ok(tag, "RENAME completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    pub(crate) async fn subscribe(&mut self, tag: &Tag, raw: &str, on: bool) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let name = match self.name(tag, raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        match self
            .call(move |s| {
                // A mailbox another account shared (`l`) is subscribed by
                // the name this account sees.
                if on
                    && let Some(m) = crate::cmd::resolve(s, account, &name)?
                    && m.account != account
                {
                    return s.subscribe_shared(account, m.id, &name);
                }
                s.set_subscribed(account, &name, on)
            })
            .await
        {
            Ok(()) if on => Status::ok(tag, "SUBSCRIBE completed"),
            Ok(()) => Status::ok(tag, "UNSUBSCRIBE completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    pub(crate) async fn close(&mut self, tag: &Tag, expunge: bool) -> Status {
        let Some((account, view)) = self.view() else {
            return Status::bad(tag, "No mailbox selected");
        };
        // RFC 4314 §4: CLOSE expunges only with the `e` right.
        let (mailbox, read_only) = (
            view.mailbox,
            view.read_only || !view.rights.has(Right::Expunge),
        );
        self.state = State::Authenticated { account };
        if expunge && !read_only {
            // RFC 9051 §6.4.1: expunge silently.
            if let Err(e) = self.call(move |s| s.expunge(account, mailbox, None)).await {
                return store_error(tag, &e);
            }
        }
        Status::ok(
            tag,
            if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            },
        )
    }
}
