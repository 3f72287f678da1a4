//! GETQUOTA and GETQUOTAROOT (RFC 9208); SETQUOTA is refused.
//!
//! Implementation notes:
//! - Each account has one quota root: `""` for the account's own
//!   mailboxes, and `shared/OWNER` for the mailboxes OWNER shares with it
//!   (RFC 9208 §3.2: a mailbox is in the root whose resources it uses,
//!   and a shared mailbox uses its owner's storage). So GETQUOTAROOT of
//!   `shared/OWNER/NAME` names the owner's root and reports the owner's
//!   STORAGE, as Dovecot reports the owner's quota in its shared
//!   namespace.
//! - A shared mailbox's root is shown only to who may read the mailbox
//!   (`r`, as STATUS: the usage is about its contents): with `l` alone
//!   `NO [NOPERM]`, without either `NO [NONEXISTENT]`, as if it did not
//!   exist (RFC 4314 §4); GETQUOTA of `shared/OWNER` only to an account
//!   that OWNER shared some mailbox with so.

use tidings_imap_proto::{Code, Data, Status, Tag};
use tidings_store::{Account, Right, StoreError};
use tidings_types::{AccountId, SEPARATOR};

use crate::cmd::SHARED_ROOT;
use crate::session::{Session, store_error};

/// The quota root of `owner`'s mailboxes as `account` sees them.
fn root_name(account: AccountId, owner: &Account) -> String {
    if owner.id == account {
        String::new()
    } else {
        format!("{SHARED_ROOT}{SEPARATOR}{}", owner.email)
    }
}

/// The owner of the root `root` for `account`: the account itself for
/// `""`, the owner of a mailbox shared with `account` (with `r`) for
/// `shared/OWNER`.
fn root_owner(
    st: &tidings_store::Store,
    account: AccountId,
    root: &str,
) -> Result<Option<Account>, StoreError> {
    if root.is_empty() {
        return st.account_by_id(account);
    }
    let Some(owner) = root.strip_prefix(&format!("{SHARED_ROOT}{SEPARATOR}")) else {
        return Ok(None);
    };
    let visible = st
        .shared_mailboxes(account)?
        .into_iter()
        .any(|s| s.owner.eq_ignore_ascii_case(owner) && s.rights.has(Right::Read));
    if !visible {
        return Ok(None);
    }
    st.account(owner)
}

impl Session {
    /// RFC 9208 GETQUOTA (`mailbox` None) and GETQUOTAROOT: one quota
    /// root per owner (see the module notes), STORAGE in KiB (§5.1) when
    /// the owner has a quota.
    pub(crate) async fn quota(&mut self, tag: &Tag, mailbox: Option<&str>, root: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let owner = if let Some(raw) = mailbox {
            let name = match self.name(tag, raw) {
                Ok(n) => n,
                Err(s) => return s,
            };
            let found = self
                .call(move |st| {
                    let Some(m) = crate::cmd::resolve(st, account, &name)? else {
                        return Ok(None);
                    };
                    // RFC 4314 §4: a mailbox the user may not see does
                    // not exist for them.
                    let rights = crate::cmd::rights_on(st, account, &m)?;
                    if !rights.has(Right::Read) {
                        return if rights.has(Right::Lookup) {
                            Err(StoreError::NoPermission(
                                "no right r on the mailbox".to_string(),
                            ))
                        } else {
                            Ok(None)
                        };
                    }
                    Ok(st.account_by_id(m.account)?.map(|owner| (m.name, owner)))
                })
                .await;
            let (name, owner) = match found {
                Ok(Some(found)) => found,
                Ok(None) => {
                    return Status::no(tag, "No such mailbox").with_code(Code::NonExistent);
                }
                Err(e) => return store_error(tag, &e),
            };
            self.put(Data::QuotaRoot {
                mailbox: name.as_str().to_string(),
                roots: if owner.quota.is_some() {
                    vec![root_name(account, &owner)]
                } else {
                    vec![]
                },
            });
            owner
        } else {
            let root = root.to_string();
            match self.call(move |st| root_owner(st, account, &root)).await {
                Ok(Some(owner)) if owner.quota.is_some() => owner,
                Ok(_) => return Status::no(tag, "No such quota root").with_code(Code::NonExistent),
                Err(e) => return store_error(tag, &e),
            }
        };
        if let Some(limit) = owner.quota {
            self.put(Data::Quota {
                root: root_name(account, &owner),
                resources: vec![tidings_imap_proto::QuotaResource {
                    name: "STORAGE".into(),
                    usage: owner.used.div_ceil(1024),
                    limit: limit / 1024,
                }],
            });
        }
        Status::ok(tag, "GETQUOTA completed")
    }
}
