//! LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
//! LIST-MYRIGHTS RFC 8440) and LSUB (RFC 3501 §6.3.9).
//!
//! Mailboxes other accounts shared with the session's (with `l`, RFC 4314
//! §4) are listed under `shared/OWNER/` ([`crate::cmd::acl`]); the levels
//! above them that are no mailbox of the session's are `\Noselect
//! \HasChildren`, as Dovecot lists its shared namespace.

use std::collections::{BTreeSet, HashMap, HashSet};

use tidings_imap_proto::{Data, ListItem, ListReturn, ListSelect, Status, StatusItem, Tag};
use tidings_store::{Mailbox, Right, Rights};
use tidings_types::MailboxRole;

use crate::list;
use crate::session::{Session, store_error};

impl Session {
    pub(crate) async fn list(&mut self, tag: &Tag, l: tidings_imap_proto::List) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
        if !l.is_extended() && l.patterns.iter().all(String::is_empty) {
            self.put(Data::List(ListItem {
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: String::new(),
                child_info: vec![],
                old_name: None,
            }));
            return Status::ok(tag, "LIST completed");
        }
        let sel_subscribed = l.selection.contains(&ListSelect::Subscribed);
        // RFC 5258 §3: RECURSIVEMATCH "MUST NOT occur as the only
        // selection option (or only with REMOTE)", and the server MUST
        // answer BAD if it does.
        if l.selection.contains(&ListSelect::RecursiveMatch)
            && l.selection
                .iter()
                .all(|o| matches!(o, ListSelect::RecursiveMatch | ListSelect::Remote))
        {
            return Status::bad(tag, "RECURSIVEMATCH needs another selection option");
        }
        let sel_special = l.selection.contains(&ListSelect::SpecialUse);
        let sel_recursive = sel_subscribed && l.selection.contains(&ListSelect::RecursiveMatch);
        if l.selection.contains(&ListSelect::Remote) && l.selection.len() == 1 {
            // REMOTE alone selects everything (RFC 5258 §3.1): no remote
            // mailboxes exist here.
        }
        let returns = l.return_options.clone().unwrap_or_default();
        let ret_subscribed = sel_subscribed || returns.contains(&ListReturn::Subscribed);
        let status_items: Option<Vec<StatusItem>> = returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let ret_myrights = returns.contains(&ListReturn::MyRights);
        let (mut mailboxes, subscriptions, shared) = match self
            .call(move |s| {
                Ok((
                    s.mailboxes(account)?,
                    s.subscriptions(account)?,
                    s.shared_mailboxes(account)?,
                ))
            })
            .await
        {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        // Shared mailboxes under their names in the other users'
        // namespace, without their owner's special use; their rights for
        // MYRIGHTS (the session's own mailboxes: every right).
        let mut rights_of: HashMap<String, Rights> = HashMap::new();
        for sm in shared {
            if !sm.rights.has(Right::Lookup) {
                continue;
            }
            let Some(name) = crate::cmd::shared_name(&sm.owner, &sm.mailbox.name) else {
                continue;
            };
            rights_of.insert(name.as_str().to_string(), sm.rights);
            mailboxes.push(Mailbox {
                name,
                role: None,
                ..sm.mailbox
            });
        }
        let subscribed: HashSet<&str> = subscriptions.iter().map(|n| n.as_str()).collect();
        let existing: HashSet<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        // The levels above a shared mailbox that are not mailboxes.
        let mut noselect: BTreeSet<&str> = BTreeSet::new();
        for name in rights_of.keys() {
            for (i, _) in name.match_indices(tidings_types::SEPARATOR) {
                if !existing.contains(&name[..i]) {
                    noselect.insert(&name[..i]);
                }
            }
        }
        let patterns: Vec<String> = l
            .patterns
            .iter()
            .map(|p| list::full_pattern(&l.reference, p))
            .collect();
        let matching = |name: &str| patterns.iter().any(|p| list::matches(p, name));
        // Every name to consider: the mailboxes, and with SUBSCRIBED the
        // subscribed names whose mailbox is gone (RFC 5258 §3.1: listed
        // with \NonExistent) and, with RECURSIVEMATCH, their missing parents.
        let mut names: Vec<&str> = existing.iter().copied().collect();
        names.extend(noselect.iter().copied());
        if sel_subscribed {
            for n in &subscribed {
                if !existing.contains(n) {
                    names.push(n);
                }
                if sel_recursive {
                    for (i, _) in n.match_indices(tidings_types::SEPARATOR) {
                        let parent = &n[..i];
                        if !parent.is_empty()
                            && !existing.contains(parent)
                            && !subscribed.contains(parent)
                        {
                            names.push(parent);
                        }
                    }
                }
            }
        }
        names.sort_unstable_by_key(|n| (!list::is_inbox(n), *n));
        names.dedup();
        let by_name: std::collections::HashMap<&str, &Mailbox> =
            mailboxes.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut items = Vec::new();
        for name in names {
            if !matching(name) {
                continue;
            }
            let mailbox = by_name.get(name).copied();
            let is_subscribed = subscribed.contains(name);
            let special = mailbox.and_then(|m| m.role.and_then(MailboxRole::special_use));
            // RFC 5258 §3.5: with RECURSIVEMATCH, a mailbox whose descendants
            // meet the selection (here: SUBSCRIBED) is listed with CHILDINFO,
            // even if it does not meet it itself.
            let inside = |child: &str| {
                child.len() > name.len() + 1
                    && child.starts_with(name)
                    && child[name.len()..].starts_with(tidings_types::SEPARATOR)
            };
            let child_info: Vec<String> = if sel_recursive && subscribed.iter().any(|c| inside(c)) {
                vec!["SUBSCRIBED".to_string()]
            } else {
                Vec::new()
            };
            if sel_subscribed && !is_subscribed && child_info.is_empty() {
                continue;
            }
            if sel_special && special.is_none() {
                continue;
            }
            let mut attributes = Vec::new();
            if mailbox.is_some() {
                let has_children = existing.iter().any(|c| inside(c));
                attributes.push(
                    if has_children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    }
                    .to_string(),
                );
            } else if noselect.contains(name) {
                attributes.push("\\Noselect".to_string());
                attributes.push("\\HasChildren".to_string());
            } else {
                // RFC 5258 §3.4: \NonExistent implies \Noselect.
                attributes.push("\\NonExistent".to_string());
            }
            if ret_subscribed && is_subscribed {
                attributes.push("\\Subscribed".into());
            }
            if let Some(s) = special {
                attributes.push(s.to_string());
            }
            items.push((name.to_string(), mailbox.cloned(), attributes, child_info));
        }
        for (name, mailbox, attributes, child_info) in items {
            self.put(Data::List(ListItem {
                attributes,
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: name.clone(),
                child_info,
                old_name: None,
            }));
            if let (Some(items), Some(m)) = (&status_items, &mailbox) {
                // RFC 5819 §2: STATUS right after its LIST; errors are skipped.
                if let Ok(values) = self.status_values(account, m, items).await {
                    self.put(Data::Status {
                        mailbox: name.clone(),
                        items: values,
                    });
                }
            }
            // RFC 8440 §2: MYRIGHTS for each mailbox listed.
            if ret_myrights && mailbox.is_some() {
                let rights = rights_of.get(&name).copied().unwrap_or_else(Rights::all);
                self.put(Data::MyRights {
                    mailbox: name,
                    rights: rights.imap_letters(),
                });
            }
        }
        Status::ok(tag, "LIST completed")
    }

    pub(crate) async fn lsub(&mut self, tag: &Tag, reference: &str, pattern: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // The subscriptions, whether their mailboxes exist or not (RFC 3501
        // §6.3.9).
        let subscriptions = match self.call(move |s| s.subscriptions(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let pattern = list::full_pattern(reference, pattern);
        let subscribed: HashSet<&str> = subscriptions.iter().map(|n| n.as_str()).collect();
        // (name, \Noselect): the subscribed names that match, and (RFC 3501
        // §6.3.9) an unsubscribed parent of a subscribed name where a `%`
        // stops short of that name: `LSUB "" %` with only "foo/bar"
        // subscribed "MUST return foo, not foo/bar", flagged \Noselect.
        let mut names: Vec<(&str, bool)> = Vec::new();
        let mut parents: HashSet<&str> = HashSet::new();
        for &n in &subscribed {
            if list::matches(&pattern, n) {
                names.push((n, false));
                continue;
            }
            for (i, _) in n.match_indices(tidings_types::SEPARATOR) {
                let parent = &n[..i];
                if !parent.is_empty()
                    && !subscribed.contains(parent)
                    && list::matches(&pattern, parent)
                    && parents.insert(parent)
                {
                    names.push((parent, true));
                }
            }
        }
        names.sort_unstable();
        let items: Vec<Data> = names
            .into_iter()
            .map(|(n, noselect)| {
                Data::Lsub(ListItem {
                    attributes: if noselect {
                        vec!["\\Noselect".into()]
                    } else {
                        vec![]
                    },
                    delimiter: Some(tidings_types::SEPARATOR),
                    mailbox: n.to_string(),
                    child_info: vec![],
                    old_name: None,
                })
            })
            .collect();
        for d in items {
            self.put(d);
        }
        Status::ok(tag, "LSUB completed")
    }
}
