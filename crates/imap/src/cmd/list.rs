//! LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819)
//! and LSUB (RFC 3501 §6.3.9).

use std::collections::HashSet;

use tidings_imap_proto::{Data, ListItem, ListReturn, ListSelect, Status, StatusItem, Tag};
use tidings_store::Mailbox;
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
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let patterns: Vec<String> = l
            .patterns
            .iter()
            .map(|p| list::full_pattern(&l.reference, p))
            .collect();
        let mut sorted: Vec<&Mailbox> = mailboxes.iter().collect();
        sorted.sort_by_key(|m| (!m.name.is_inbox(), m.name.as_str().to_string()));
        let mut items = Vec::new();
        for m in sorted {
            let name = m.name.as_str();
            if !patterns.iter().any(|p| list::matches(p, name)) {
                continue;
            }
            let special = m.role.and_then(MailboxRole::special_use);
            // RFC 5258 §3.5: with RECURSIVEMATCH, a mailbox whose descendants
            // meet the selection (here: SUBSCRIBED) is listed with CHILDINFO,
            // even if it does not meet it itself.
            let child_info: Vec<String> = if sel_recursive
                && mailboxes
                    .iter()
                    .any(|c| c.subscribed && c.name.is_inside(&m.name))
            {
                vec!["SUBSCRIBED".to_string()]
            } else {
                Vec::new()
            };
            if sel_subscribed && !m.subscribed && child_info.is_empty() {
                continue;
            }
            if sel_special && special.is_none() {
                continue;
            }
            let has_children = mailboxes
                .iter()
                .any(|c| c.name.parent().as_ref() == Some(&m.name));
            let mut attributes = vec![
                if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            ];
            if ret_subscribed && m.subscribed {
                attributes.push("\\Subscribed".into());
            }
            if let Some(s) = special {
                attributes.push(s.to_string());
            }
            items.push((m.clone(), attributes, child_info));
        }
        for (m, attributes, child_info) in items {
            self.put(Data::List(ListItem {
                attributes,
                delimiter: Some(tidings_types::SEPARATOR),
                mailbox: m.name.as_str().to_string(),
                child_info,
                old_name: None,
            }));
            if let Some(items) = &status_items {
                // RFC 5819 §2: STATUS right after its LIST; errors are skipped.
                if let Ok(values) = self.status_values(account, &m, items).await {
                    self.put(Data::Status {
                        mailbox: m.name.as_str().to_string(),
                        items: values,
                    });
                }
            }
        }
        Status::ok(tag, "LIST completed")
    }

    pub(crate) async fn lsub(&mut self, tag: &Tag, reference: &str, pattern: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let mailboxes = match self.call(move |s| s.mailboxes(account)).await {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let pattern = list::full_pattern(reference, pattern);
        let subscribed: HashSet<&str> = mailboxes
            .iter()
            .filter(|m| m.subscribed)
            .map(|m| m.name.as_str())
            .collect();
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
