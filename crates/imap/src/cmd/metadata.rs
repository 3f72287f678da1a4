//! GETMETADATA and SETMETADATA (RFC 5464, capability `METADATA`): entries
//! of the server (mailbox `""`) and of each mailbox, kept by the store.
//!
//! Entry names are case-insensitive (RFC 5464 §3.2) and kept in lower case.
//! A mailbox's `/shared` entries are the mailbox's, seen by everyone who
//! may see them; its `/private` entries are each user's own, so on a
//! mailbox another account shares (`shared/OWNER/NAME`, RFC 4314) a
//! grantee reads and writes its own private entries and the owner's shared
//! ones. Reading or writing either needs `l` and one of `r`, `s`, `w`, `i`
//! or `p` (RFC 5464 §3.3, as Dovecot checks it): without `l` the mailbox
//! does not exist (`NO [NONEXISTENT]`), without the others `NO [NOPERM]`.
//! The store decides (`metadata_access`). The server's
//! `/shared` entries would be shared by every user, so a user cannot set
//! them (`NO [NOPERM]`; Dovecot says `NO [CANNOT]`); the server's `/private`
//! entries are the user's. Limits: a value of at most
//! [`MAX_VALUE_SIZE`] octets (`NO [METADATA MAXSIZE n]`, §4.3), at most
//! [`MAX_ENTRIES`] entries per mailbox and for the server
//! (`NO [METADATA TOOMANY]`).

use tidings_imap_proto::{Code, Data, MetadataDepth, Status, Tag};
use tidings_store::MetadataWrite;
use tidings_types::MailboxId;

use crate::session::{Session, store_error};

/// The largest value SETMETADATA stores (below the 64 KiB literal limit of
/// commands other than APPEND, so the answer is the RFC's MAXSIZE code).
pub const MAX_VALUE_SIZE: usize = 16 * 1024;
/// The most entries one mailbox (or the server) holds.
pub const MAX_ENTRIES: usize = 128;

/// An entry name as RFC 5464 §3.2 allows it, in lower case: `/private` or
/// `/shared` and below, ASCII without controls, `*` or `%`, no empty
/// component, no trailing `/`.
fn entry_name(raw: &str) -> Option<String> {
    let name = raw.to_ascii_lowercase();
    let top_ok = name == "/private"
        || name == "/shared"
        || name.starts_with("/private/")
        || name.starts_with("/shared/");
    let chars_ok = name
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'*' && b != b'%');
    (top_ok && chars_ok && !name.ends_with('/') && !name.contains("//") && name.len() <= 1024)
        .then_some(name)
}

/// Whether `stored` is what a request for `asked` at `depth` returns.
fn wanted(asked: &str, stored: &str, depth: MetadataDepth) -> bool {
    if stored == asked {
        return true;
    }
    let Some(rest) = stored.strip_prefix(asked).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    match depth {
        MetadataDepth::Zero => false,
        MetadataDepth::One => !rest.contains('/'),
        MetadataDepth::Infinity => true,
    }
}

fn metadata_code(text: &str) -> Code {
    Code::Other {
        name: "METADATA".into(),
        text: Some(text.into()),
    }
}

impl Session {
    /// The mailbox a METADATA command names: `None` for the server (`""`).
    async fn metadata_target(&mut self, tag: &Tag, raw: &str) -> Result<Option<MailboxId>, Status> {
        let Some(account) = self.account() else {
            return Err(Status::bad(tag, "Not authenticated"));
        };
        if raw.is_empty() {
            return Ok(None);
        }
        let name = self.name(tag, raw)?;
        match self.lookup(account, name).await {
            Ok(Some(m)) => Ok(Some(m.id)),
            Ok(None) => Err(Status::no(tag, "No such mailbox").with_code(Code::NonExistent)),
            Err(e) => Err(store_error(tag, &e)),
        }
    }

    /// RFC 5464 §4.2 GETMETADATA.
    pub(crate) async fn get_metadata(
        &mut self,
        tag: &Tag,
        mailbox: &str,
        entries: &[String],
        max_size: Option<u64>,
        depth: MetadataDepth,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let mut asked = Vec::with_capacity(entries.len());
        for e in entries {
            match entry_name(e) {
                Some(n) => asked.push(n),
                None => return Status::bad(tag, &format!("Invalid entry name {e}")),
            }
        }
        let target = match self.metadata_target(tag, mailbox).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        let stored = match self.call(move |s| s.metadata(account, target)).await {
            Ok(s) => s,
            Err(e) => return store_error(tag, &e),
        };
        let mut found: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut longest_left_out: Option<usize> = None;
        for a in &asked {
            let mut any = false;
            for e in stored.iter().filter(|e| wanted(a, &e.name, depth)) {
                any = true;
                if found.iter().any(|(n, _)| *n == e.name) {
                    continue;
                }
                // §4.2.1: a value over MAXSIZE is left out, and the tagged OK
                // says how long the longest one was.
                if max_size.is_some_and(|m| e.value.len() as u64 > m) {
                    longest_left_out = longest_left_out.max(Some(e.value.len()));
                    continue;
                }
                found.push((e.name.clone(), Some(e.value.clone())));
            }
            // An entry that does not exist is returned with NIL (§4.2).
            if !any && !found.iter().any(|(n, _)| n == a) {
                found.push((a.clone(), None));
            }
        }
        if !found.is_empty() {
            self.put(Data::Metadata {
                mailbox: mailbox.to_string(),
                entries: found,
            });
        }
        match longest_left_out {
            Some(n) => Status::ok(tag, "GETMETADATA completed")
                .with_code(metadata_code(&format!("LONGENTRIES {n}"))),
            None => Status::ok(tag, "GETMETADATA completed"),
        }
    }

    /// RFC 5464 §4.3 SETMETADATA: all entries or none.
    pub(crate) async fn set_metadata(
        &mut self,
        tag: &Tag,
        mailbox: &str,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let mut named = Vec::with_capacity(entries.len());
        for (e, value) in entries {
            let Some(name) = entry_name(&e) else {
                return Status::bad(tag, &format!("Invalid entry name {e}"));
            };
            // The two top-level names hold no value themselves.
            if name == "/private" || name == "/shared" {
                return Status::bad(tag, &format!("{e} cannot hold a value"));
            }
            if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_SIZE) {
                return Status::no(tag, "Value too long")
                    .with_code(metadata_code(&format!("MAXSIZE {MAX_VALUE_SIZE}")));
            }
            named.push((name, value));
        }
        let target = match self.metadata_target(tag, mailbox).await {
            Ok(t) => t,
            Err(s) => return s,
        };
        if target.is_none() && named.iter().any(|(n, _)| n.starts_with("/shared")) {
            return Status::no(
                tag,
                "The server's shared entries are set by the administrator",
            )
            .with_code(Code::NoPerm);
        }
        match self
            .call(move |s| s.set_metadata(account, target, &named, MAX_ENTRIES))
            .await
        {
            Ok(MetadataWrite::Written) => Status::ok(tag, "SETMETADATA completed"),
            Ok(MetadataWrite::TooMany { limit }) => {
                Status::no(tag, &format!("At most {limit} entries per mailbox"))
                    .with_code(metadata_code("TOOMANY"))
            }
            Err(e) => store_error(tag, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_follow_rfc_5464() {
        assert_eq!(
            entry_name("/Shared/Comment").as_deref(),
            Some("/shared/comment")
        );
        assert_eq!(entry_name("/private").as_deref(), Some("/private"));
        for bad in [
            "/other/x",
            "shared/x",
            "/shared/",
            "/shared//x",
            "/shared/a*",
            "/shared/a%",
            "/shared/caf\u{e9}",
            "/shared/a\tb",
        ] {
            assert_eq!(entry_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn depth_selects_the_entry_its_children_or_all_below() {
        use MetadataDepth::*;
        assert!(wanted("/shared/a", "/shared/a", Zero));
        assert!(!wanted("/shared/a", "/shared/a/b", Zero));
        assert!(wanted("/shared/a", "/shared/a/b", One));
        assert!(!wanted("/shared/a", "/shared/a/b/c", One));
        assert!(wanted("/shared/a", "/shared/a/b/c", Infinity));
        assert!(!wanted("/shared/a", "/shared/ab", Infinity));
    }
}
