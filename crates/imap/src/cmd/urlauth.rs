//! URLAUTH (RFC 4467): URLs that carry their own authorization, so that a
//! message part can be handed on (to another user, or to be forwarded)
//! without downloading it: RESETKEY, GENURLAUTH, URLFETCH, and URLAUTH
//! URLs in CATENATE (`catenate.rs`).
//!
//! Implementation notes:
//! - Each mailbox has its own access key (RFC 4467 §2.2), 32 random
//!   bytes kept by the store (`urlauth_keys`), made by the first
//!   GENURLAUTH of one of its URLs and dropped by RESETKEY (that mailbox,
//!   or every mailbox of the user): every URL it authorized is then
//!   invalid.
//! - The `INTERNAL` mechanism is HMAC-SHA256 with the mailbox's key over
//!   the rump URL exactly as the client sent it (RFC 4467 §2.1, §2.4.1: the URL
//!   up to and including `;URLAUTH=access`), as 64 hex digits; it is
//!   checked in constant time (`Mac::verify_slice`).
//! - A URLAUTH URL must be absolute and name this server (`hostname`,
//!   `localhost` or a loopback address) and its owner; GENURLAUTH makes
//!   them only for the logged-in user's own mailboxes, which must exist.
//! - Who may use one (RFC 4467 §2.3 `access`): `user+name` that user;
//!   `authuser` any logged-in user; `submit+name` the submission server
//!   acting for that user; Tidings has no separate submission identity
//!   (no BURL), so it is that user's own session. `anonymous` is refused
//!   (GENURLAUTH says NO; such a URL fetches nothing). A URL with
//!   `;EXPIRE=` (RFC 3339) is invalid from that moment.
//! - URLFETCH answers NIL for a URL that is not valid, whatever the
//!   reason (RFC 4467 §7.3), and for one whose data would take the
//!   command's data past APPENDLIMIT (all its URLs together: the data
//!   waits in the reply until written); the data of a valid one is what FETCH
//!   `BODY[section]<partial>` gives (the code CATENATE copies with).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tidings_imap_proto::{Code, Data, ImapUrl, Status, Tag, UrlAccess};
use tidings_store::{Store, StoreError};
use tidings_types::AccountId;

use super::catenate::{CatError, Target, copy_target, our_host};
use crate::session::{Session, store_error};
use tidings_types::civil::days_from_civil;

/// The only mechanism (RFC 4467 §2.4.1: every server has `INTERNAL`).
const MECHANISM: &str = "INTERNAL";

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An RFC 3339 `date-time` (`2026-12-31T23:59:59Z`, fractions and
/// offsets allowed) as Unix seconds.
pub(crate) fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset)
}

/// HMAC-SHA256 of the rump (`None` only for a key HMAC cannot take,
/// which does not exist: HMAC takes keys of any length).
fn hmac(key: &[u8], rump: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(rump.as_bytes());
    Some(mac)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The rump of an authorized URL's text and its token: the text before
/// `:mechanism:token`.
fn split_verifier(raw: &str) -> Option<(&str, &str)> {
    let (rest, token) = raw.rsplit_once(':')?;
    let (rump, _mechanism) = rest.rsplit_once(':')?;
    Some((rump, token))
}

/// Whether `fetcher` may use a URL with this access (see the module notes).
fn may_use(access: &UrlAccess, fetcher: &str) -> bool {
    match access {
        UrlAccess::User(u) | UrlAccess::Submit(u) => u.eq_ignore_ascii_case(fetcher),
        UrlAccess::AuthUser => true,
        UrlAccess::Anonymous => false,
    }
}

/// What an authorized URL names, if it is valid for the logged-in user
/// `fetcher` at `now` (RFC 4467 §6's checks; see the module notes).
/// Blocking.
pub(crate) fn authorized(
    s: &Store,
    fetcher: &str,
    hostname: &str,
    raw: &str,
    now: i64,
) -> Result<Option<Target>, StoreError> {
    let Ok(url) = ImapUrl::parse(raw) else {
        return Ok(None);
    };
    let (Some(server), Some(auth), Some(mailbox)) = (&url.server, &url.urlauth, &url.mailbox)
    else {
        return Ok(None);
    };
    let (Some(owner), Some(verifier)) = (&server.user, &auth.verifier) else {
        return Ok(None);
    };
    if !our_host(&server.host, hostname)
        || verifier.mechanism != MECHANISM
        || !may_use(&auth.access, fetcher)
    {
        return Ok(None);
    }
    if let Some(e) = &auth.expire {
        match rfc3339(e) {
            Some(t) if now < t => {}
            _ => return Ok(None),
        }
    }
    let Some(account) = s.account(owner)? else {
        return Ok(None);
    };
    let Ok(name) = tidings_imap_proto::mailbox_name(mailbox) else {
        return Ok(None);
    };
    let Some(mb) = s.mailbox(account.id, &name)? else {
        return Ok(None);
    };
    let Some(key) = s.urlauth_key(account.id, mb.id, false)? else {
        return Ok(None);
    };
    let Some((rump, token)) = split_verifier(raw) else {
        return Ok(None);
    };
    let Some(token) = unhex(token) else {
        return Ok(None);
    };
    if hmac(key.expose(), rump).is_none_or(|m| m.verify_slice(&token).is_err()) {
        return Ok(None);
    }
    Ok(Some(Target {
        account: account.id,
        mailbox: name,
        uid_validity: url.uid_validity,
        uid: url.uid,
        section: url.section,
        partial: url.partial,
    }))
}

/// Why GENURLAUTH refuses a URL.
enum GenError {
    Bad(String),
    No(String),
    Store(StoreError),
}

/// Authorizes one rump URL of `account` (`email`); blocking.
fn generate(
    s: &Store,
    account: AccountId,
    email: &str,
    hostname: &str,
    raw: &str,
) -> Result<String, GenError> {
    let url = ImapUrl::parse(raw).map_err(|e| GenError::Bad(format!("Invalid URL: {e}")))?;
    let (Some(server), Some(auth), Some(mailbox)) = (&url.server, &url.urlauth, &url.mailbox)
    else {
        // RFC 4467 §5, §7.2: an absolute URL with ;URLAUTH=.
        return Err(GenError::Bad(
            "Not an absolute URL with ;URLAUTH=".to_string(),
        ));
    };
    if auth.verifier.is_some() {
        return Err(GenError::Bad("The URL is authorized already".to_string()));
    }
    if !our_host(&server.host, hostname)
        || !server
            .user
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(email))
    {
        return Err(GenError::No(
            "Only URLs of your own mailboxes on this server".to_string(),
        ));
    }
    if auth.access == UrlAccess::Anonymous {
        return Err(GenError::No("Anonymous URLs are not offered".to_string()));
    }
    if auth.expire.as_deref().is_some_and(|e| rfc3339(e).is_none()) {
        return Err(GenError::Bad("Invalid EXPIRE date-time".to_string()));
    }
    let name = tidings_imap_proto::mailbox_name(mailbox)
        .map_err(|e| GenError::No(format!("Bad mailbox name: {e}")))?;
    let mb = match s.mailbox(account, &name) {
        Ok(Some(m)) => m,
        Ok(None) => return Err(GenError::No("No such mailbox".to_string())),
        Err(e) => return Err(GenError::Store(e)),
    };
    if url.uid_validity.is_some_and(|v| v != mb.uid_validity.0) {
        return Err(GenError::No("UIDVALIDITY has changed".to_string()));
    }
    let key = match s.urlauth_key(account, mb.id, true) {
        Ok(Some(k)) => k,
        Ok(None) => return Err(GenError::No("No access key".to_string())),
        Err(e) => return Err(GenError::Store(e)),
    };
    let Some(mac) = hmac(key.expose(), raw) else {
        return Err(GenError::No("Cannot authorize this URL".to_string()));
    };
    Ok(format!(
        "{raw}:{MECHANISM}:{}",
        hex(&mac.finalize().into_bytes())
    ))
}

impl Session {
    /// RESETKEY (RFC 4467 §7.1).
    pub(crate) async fn reset_key(
        &mut self,
        tag: &Tag,
        mailbox: Option<String>,
        mechanisms: Vec<String>,
    ) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        if let Some(m) = mechanisms.iter().find(|m| *m != MECHANISM) {
            return Status::no(tag, &format!("Unknown URLAUTH mechanism {m}"));
        }
        let one = mailbox.is_some();
        let mailbox = match mailbox {
            None => None,
            Some(raw) => {
                let name = match self.name(tag, &raw) {
                    Ok(n) => n,
                    Err(s) => return s,
                };
                match self.lookup(account, name).await {
                    Ok(Some(m)) => Some(m.id),
                    Ok(None) => {
                        return Status::no(tag, "No such mailbox").with_code(Code::NonExistent);
                    }
                    Err(e) => return store_error(tag, &e),
                }
            }
        };
        match self
            .call(move |s| s.reset_urlauth_keys(account, mailbox))
            .await
        {
            // RFC 4467 §7.1, §8.1: with a mailbox, the mechanisms it now has.
            Ok(()) if one => Status::ok(tag, "RESETKEY completed").with_code(Code::Other {
                name: "URLMECH".to_string(),
                text: Some(MECHANISM.to_string()),
            }),
            Ok(()) => Status::ok(tag, "RESETKEY completed"),
            Err(e) => store_error(tag, &e),
        }
    }

    /// GENURLAUTH (RFC 4467 §7.2): all URLs or none.
    pub(crate) async fn gen_url_auth(&mut self, tag: &Tag, urls: Vec<(String, String)>) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        // An argument that is not valid: BAD, as Dovecot answers.
        if let Some((_, m)) = urls.iter().find(|(_, m)| m != MECHANISM) {
            return Status::bad(tag, &format!("Unknown URLAUTH mechanism {m}"));
        }
        let hostname = self.shared.config.hostname.clone();
        let result = self
            .call(move |s| {
                let email = s
                    .account_by_id(account)?
                    .map(|a| a.email)
                    .unwrap_or_default();
                Ok(urls
                    .iter()
                    .map(|(raw, _)| generate(s, account, &email, &hostname, raw))
                    .collect::<Result<Vec<String>, GenError>>())
            })
            .await;
        match result {
            Ok(Ok(full)) => {
                self.put(Data::GenUrlAuth(full));
                Status::ok(tag, "GENURLAUTH completed")
            }
            Ok(Err(GenError::Bad(why))) => Status::bad(tag, &why),
            Ok(Err(GenError::No(why))) => Status::no(tag, &why),
            Ok(Err(GenError::Store(e))) | Err(e) => store_error(tag, &e),
        }
    }

    /// URLFETCH (RFC 4467 §7.3).
    pub(crate) async fn url_fetch(&mut self, tag: &Tag, urls: Vec<String>) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let hostname = self.shared.config.hostname.clone();
        let limit = self.shared.config.limits.max_append_literal;
        let result = self
            .call(move |s| {
                let fetcher = s
                    .account_by_id(account)?
                    .map(|a| a.email)
                    .unwrap_or_default();
                let now = now();
                let mut out = Vec::with_capacity(urls.len());
                // All the data of one URLFETCH together is held to
                // APPENDLIMIT: it waits in the reply until written.
                let mut total = 0u64;
                for raw in urls {
                    let data = match authorized(s, &fetcher, &hostname, &raw, now)? {
                        None => None,
                        Some(target) => {
                            let mut spool = s.spool();
                            match copy_target(s, &target, &mut spool, limit.saturating_sub(total)) {
                                Ok(()) => {
                                    let body = spool.finish()?;
                                    total += body.len();
                                    // Sent whole, as FETCH sends a body.
                                    Some(body.load(1)?.into_vec())
                                }
                                Err(CatError::BadUrl(_) | CatError::TooBig(_)) => None,
                                Err(CatError::Io(e)) => return Err(StoreError::Io(e)),
                                Err(CatError::Store(e)) => return Err(e),
                            }
                        }
                    };
                    out.push((raw, data));
                }
                Ok(out)
            })
            .await;
        match result {
            Ok(items) => {
                // One response per URL, as Dovecot sends them (RFC 4467
                // §7 allows one or several per line).
                for item in items {
                    self.put(Data::UrlFetch(vec![item]));
                }
                Status::ok(tag, "URLFETCH completed")
            }
            Err(e) => store_error(tag, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2026-12-31T23:59:59Z"), Some(1_798_761_599));
        assert_eq!(rfc3339("2026-12-31T23:59:59.123Z"), Some(1_798_761_599));
        assert_eq!(rfc3339("2027-01-01T01:00:00+01:00"), Some(1_798_761_600));
        assert_eq!(rfc3339("2026-12-31T22:00:00-02:00"), Some(1_798_761_600));
        for bad in [
            "",
            "2026-12-31",
            "2026-13-01T00:00:00Z",
            "2026-12-31T24:00:00Z",
            "2026-12-31T23:59:59",
            "2026-12-31T23:59:59Zx",
            "2026-12-31T23:59:59+0100",
            "2026-12-31T23:59:59.Z",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn verifier_is_hmac_sha256_of_the_rump() {
        // RFC 4231 §4.3 test case 2.
        let mac = hmac(b"Jefe", "what do ya want for nothing?").unwrap();
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let (rump, token) =
            split_verifier("imap://a@h:143/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:00ff").unwrap();
        assert_eq!(rump, "imap://a@h:143/INBOX/;UID=1;URLAUTH=authuser");
        assert_eq!(unhex(token), Some(vec![0, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
