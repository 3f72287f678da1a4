//! Mailboxes shared between accounts: the ACL commands SETACL, DELETEACL,
//! GETACL, LISTRIGHTS and MYRIGHTS (RFC 4314 §3), and the "Other Users"
//! namespace in which a grantee sees them.
//!
//! Implementation notes:
//! - The store decides every access (`tidings_store::acl`); this module
//!   only names things. A mailbox `Projects` of `alice@example.org`
//!   shared with bob is `shared/alice@example.org/Projects` for him: the
//!   prefix Dovecot's documented shared namespace uses (`prefix =
//!   shared/%%u/`, separator `/`), which NAMESPACE announces as the
//!   other users' namespace `("shared/" "/")` (RFC 2342 §5). [`resolve`]
//!   turns such a name into the owner's mailbox, with the name as the
//!   grantee sees it and the owner's account in `Mailbox::account`; every
//!   command that takes a mailbox name goes through it.
//! - A personal mailbox whose name starts with `shared/` stays reachable:
//!   a name is first looked up among the shared mailboxes, then among the
//!   account's own.
//! - CREATE, DELETE, RENAME and SUBSCRIBE with a name under
//!   `shared/OWNER/` act on the owner's hierarchy ([`in_other_account`],
//!   the store's `*_of` calls check `k` and `x`); a mailbox never moves
//!   between accounts.
//! - Identifiers are account addresses and `anyone` (RFC 4314 §2); there
//!   are no negative rights (`-name` is refused) and no groups. The owner
//!   always has every right, so the owner's line of GETACL is fixed.
//! - The obsolete rights `c` and `d` (RFC 4314 §2.1.1) are accepted as
//!   `k` and `te` and reported beside them, as Dovecot does.

use tidings_imap_proto::{Code, Data, Status, Tag};
use tidings_store::{Grantee, Mailbox, Rights, Store, StoreError};
use tidings_types::{AccountId, MailboxName, SEPARATOR};

use crate::session::{Session, store_error};

pub(crate) use tidings_store::acl::{SHARED_ROOT, shared_name};

/// The mailbox `name` means to `account`: one shared with it
/// (`shared/OWNER/NAME`, named so, its owner in `account`), or its own.
pub(crate) fn resolve(
    st: &Store,
    account: AccountId,
    name: &MailboxName,
) -> Result<Option<Mailbox>, StoreError> {
    let prefix = format!("{SHARED_ROOT}{SEPARATOR}");
    if let Some(rest) = name.as_str().strip_prefix(&prefix)
        && let Some((owner, inner)) = rest.split_once(SEPARATOR)
        && let Ok(inner) = MailboxName::new(inner)
    {
        let found = st
            .shared_mailboxes(account)?
            .into_iter()
            .find(|s| s.owner.eq_ignore_ascii_case(owner) && s.mailbox.name == inner);
        if let Some(s) = found {
            let mut m = s.mailbox;
            m.name = name.clone();
            return Ok(Some(m));
        }
    }
    st.mailbox(account, name)
}

/// For a name under `shared/OWNER/` where OWNER is another account: that
/// account and the name in its hierarchy (CREATE and RENAME there, RFC
/// 4314 §4 `k`).
pub(crate) fn in_other_account(
    st: &Store,
    account: AccountId,
    name: &MailboxName,
) -> Result<Option<(AccountId, MailboxName)>, StoreError> {
    let prefix = format!("{SHARED_ROOT}{SEPARATOR}");
    let Some((owner, inner)) = name
        .as_str()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split_once(SEPARATOR))
    else {
        return Ok(None);
    };
    match st.account(owner)? {
        Some(a) if a.id != account => Ok(Some((a.id, MailboxName::new(inner)?))),
        _ => Ok(None),
    }
}

/// The rights `account` has on `m` (as [`resolve`] found it).
pub(crate) fn rights_on(st: &Store, account: AccountId, m: &Mailbox) -> Result<Rights, StoreError> {
    if m.account == account {
        Ok(Rights::all())
    } else {
        st.my_rights(account, m.id)
    }
}

/// Parses a SETACL rights argument: `+letters`, `-letters` or `letters`.
enum RightsChange {
    Add(Rights),
    Remove(Rights),
    Replace(Rights),
}

impl Session {
    /// Resolves a mailbox argument of an ACL command.
    async fn acl_target(&self, tag: &Tag, raw: &str) -> Result<(AccountId, Mailbox), Status> {
        let Some(account) = self.account() else {
            return Err(Status::bad(tag, "Not authenticated"));
        };
        let name = self.name(tag, raw)?;
        match self.call(move |s| resolve(s, account, &name)).await {
            Ok(Some(m)) => Ok((account, m)),
            Ok(None) => Err(Status::no(tag, "No such mailbox").with_code(Code::NonExistent)),
            Err(e) => Err(store_error(tag, &e)),
        }
    }

    /// RFC 4314 §3.5 MYRIGHTS.
    pub(crate) async fn my_rights(&mut self, tag: &Tag, raw: &str) -> Status {
        let (account, m) = match self.acl_target(tag, raw).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        let m2 = m.clone();
        match self.call(move |s| rights_on(s, account, &m2)).await {
            Ok(rights) => {
                self.put(Data::MyRights {
                    mailbox: raw.to_string(),
                    rights: rights.imap_letters(),
                });
                Status::ok(tag, "MYRIGHTS completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }

    /// RFC 4314 §3.3 GETACL (needs `a`).
    pub(crate) async fn get_acl(&mut self, tag: &Tag, raw: &str) -> Status {
        let (account, m) = match self.acl_target(tag, raw).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        let id = m.id;
        match self.call(move |s| s.acl(account, id)).await {
            Ok(entries) => {
                self.put(Data::Acl {
                    mailbox: raw.to_string(),
                    entries: entries
                        .into_iter()
                        .map(|e| (e.grantee.to_string(), e.rights.imap_letters()))
                        .collect(),
                });
                Status::ok(tag, "GETACL completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }

    /// RFC 4314 §3.1 SETACL and §3.2 DELETEACL (`rights` is `None`); both
    /// need `a`.
    pub(crate) async fn set_acl(
        &mut self,
        tag: &Tag,
        raw: &str,
        identifier: &str,
        rights: Option<&str>,
    ) -> Status {
        let what = if rights.is_some() {
            "SETACL"
        } else {
            "DELETEACL"
        };
        // RFC 4314 §2: a leading "-" names negative rights.
        if identifier.starts_with('-') {
            return Status::no(tag, "Negative rights are not supported").with_code(Code::Cannot);
        }
        let change = match rights {
            None => None,
            Some(text) => {
                let (make, letters): (fn(Rights) -> RightsChange, &str) =
                    match text.strip_prefix('+') {
                        Some(l) => (RightsChange::Add, l),
                        None => match text.strip_prefix('-') {
                            Some(l) => (RightsChange::Remove, l),
                            None => (RightsChange::Replace, text),
                        },
                    };
                // RFC 4314 §3.1: an unknown right is a BAD command.
                match Rights::parse(letters) {
                    Ok(r) => Some(make(r)),
                    Err(e) => return Status::bad(tag, &format!("{what}: {e}")),
                }
            }
        };
        let (account, m) = match self.acl_target(tag, raw).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        let grantee = Grantee::parse(identifier);
        let id = m.id;
        let result = self
            .call(move |s| {
                let current = || -> Result<Rights, StoreError> {
                    Ok(s.acl(account, id)?
                        .into_iter()
                        .find(|e| e.grantee.same(&grantee))
                        .map_or(Rights::NONE, |e| e.rights))
                };
                let new = match change {
                    None => None,
                    Some(RightsChange::Replace(r)) => Some(r),
                    Some(RightsChange::Add(r)) => Some(current()?.union(r)),
                    Some(RightsChange::Remove(r)) => Some(current()?.minus(r)),
                };
                s.set_rights(account, id, &grantee, new)
            })
            .await;
        match result {
            Ok(()) => Status::ok(tag, &format!("{what} completed")),
            Err(e) => store_error(tag, &e),
        }
    }

    /// RFC 4314 §3.4 LISTRIGHTS (needs `a`): the owner's rights are all
    /// fixed; anyone else may be granted each right on its own.
    pub(crate) async fn list_rights(&mut self, tag: &Tag, raw: &str, identifier: &str) -> Status {
        let (account, m) = match self.acl_target(tag, raw).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        let id = m.id;
        let acl = match self.call(move |s| s.acl(account, id)).await {
            Ok(acl) => acl,
            Err(e) => return store_error(tag, &e),
        };
        // The first line of the ACL is the owner's.
        let is_owner = acl
            .first()
            .is_some_and(|e| e.grantee.same(&Grantee::parse(identifier)));
        let (required, optional) = if is_owner {
            (Rights::all().imap_letters(), Vec::new())
        } else {
            // Each right on its own, in Dovecot's order.
            let optional = "lrwstpiekxacd".chars().map(String::from).collect();
            (String::new(), optional)
        };
        self.put(Data::ListRights {
            mailbox: raw.to_string(),
            identifier: identifier.to_string(),
            required,
            optional,
        });
        Status::ok(tag, "LISTRIGHTS completed")
    }
}
