//! GETQUOTA and GETQUOTAROOT (RFC 9208); SETQUOTA is refused.

use tidings_imap_proto::{Code, Data, Status, Tag};

use crate::session::{Session, store_error};

impl Session {
    /// RFC 9208 GETQUOTA (`mailbox` None) and GETQUOTAROOT: one quota
    /// root, `""`, the account's STORAGE (in KiB, §5.1) when it has a quota.
    pub(crate) async fn quota(&mut self, tag: &Tag, mailbox: Option<&str>, root: &str) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let acc = match self.call(move |s| s.account_by_id(account)).await {
            Ok(Some(a)) => a,
            Ok(None) => return Status::no(tag, "No such account").with_code(Code::NonExistent),
            Err(e) => return store_error(tag, &e),
        };
        if let Some(raw) = mailbox {
            let name = match self.name(tag, raw) {
                Ok(n) => n,
                Err(s) => return s,
            };
            match self.lookup(account, name.clone()).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Status::no(tag, "No such mailbox").with_code(Code::NonExistent);
                }
                Err(e) => return store_error(tag, &e),
            }
            self.put(Data::QuotaRoot {
                mailbox: name.as_str().to_string(),
                roots: if acc.quota.is_some() {
                    vec![String::new()]
                } else {
                    vec![]
                },
            });
        } else if !root.is_empty() || acc.quota.is_none() {
            return Status::no(tag, "No such quota root").with_code(Code::NonExistent);
        }
        if let Some(limit) = acc.quota {
            self.put(Data::Quota {
                root: String::new(),
                resources: vec![tidings_imap_proto::QuotaResource {
                    name: "STORAGE".into(),
                    usage: acc.used.div_ceil(1024),
                    limit: limit / 1024,
                }],
            });
        }
        Status::ok(tag, "GETQUOTA completed")
    }
}
