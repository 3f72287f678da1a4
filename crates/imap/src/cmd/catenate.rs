//! CATENATE (RFC 4469): an APPEND message made of literal text and of
//! parts of messages already stored, named by IMAP URLs (RFC 5092).
//!
//! Implementation notes:
//! - The message is written into a store spool ([`tidings_store::Spool`])
//!   as its parts are resolved: memory up to 1 MiB, then a file, exactly as
//!   an APPEND literal; the spooled result is stored like one (the file
//!   becomes the blob). A URL part is copied from the stored message a
//!   piece at a time ([`Store::email_reader`]), never loaded whole; only a
//!   `HEADER.FIELDS` section reads the referenced header into memory, under
//!   the store's memory budget when it is large.
//! - A URL is resolved for the logged-in user only: relative URLs
//!   (`/INBOX;UIDVALIDITY=../;UID=20`, and `;UID=20` for the selected
//!   mailbox), or absolute ones naming this server (`hostname`,
//!   `localhost`, a loopback address) and this user. A `;UIDVALIDITY=` must
//!   match the mailbox's. Sections and partials are cut with FETCH's code
//!   ([`crate::fetch::section_span`]): the bytes CATENATE inserts are the
//!   bytes `FETCH BODY[section]<partial>` returns. A URLAUTH-authorized
//!   URL (RFC 4467, `urlauth.rs`) may name another user's message: it is
//!   validated as URLFETCH validates it (RFC 4467 §6), for this user.
//! - RFC 4469 §3, §4: if any part fails, nothing is stored: `NO [BADURL url]`
//!   for a URL that cannot be used (bad syntax, another server or user, no
//!   such mailbox or message, a stale UIDVALIDITY, no such section, a
//!   URLAUTH URL not valid for this user), `NO [TOOBIG]` when the message would exceed APPENDLIMIT
//!   (the framer already bounds each literal and all of a command's
//!   literals). With MULTIAPPEND, no message is stored (RFC 3502 §6.3.11).
//! - Decided where RFC 4469 is silent: the URLs are checked when the whole
//!   command has arrived, not before each literal is sent; an empty
//!   `TEXT {0}` part adds nothing; a zero-byte result is refused as an
//!   empty APPEND is.

use std::io::{self, Read};

use tidings_imap_proto::{CatPart, Code, ImapUrl, Section, Status, Tag, TextKind, UrlPartial};
use tidings_store::{Spool, Spooled, Store, StoreError};
use tidings_types::{AccountId, MailboxName, Uid};

use crate::fetch::{SectionSpan, header_fields, section_span};
use crate::session::{Session, State, store_error};

/// One part, checked and ready to be copied.
enum Piece {
    Text(Spooled),
    Url(UrlPart),
    /// A URLAUTH-authorized URL (RFC 4467): checked in the store call
    /// (its owner may be another user).
    Authorized(String),
}

/// A URL part resolved as far as it can be without the store.
struct UrlPart {
    /// The URL as the client sent it (for `[BADURL ...]`).
    raw: String,
    /// The user an absolute URL names (checked against the account's).
    user: Option<String>,
    mailbox: MailboxName,
    uid_validity: Option<u32>,
    uid: u32,
    section: Option<Section>,
    partial: Option<UrlPartial>,
}

/// Why the message could not be made.
pub(crate) enum CatError {
    BadUrl(String),
    TooBig(u64),
    Io(io::Error),
    Store(StoreError),
}

impl From<io::Error> for CatError {
    fn from(e: io::Error) -> Self {
        CatError::Io(e)
    }
}

/// Whether an absolute URL's host names this server.
pub(crate) fn our_host(host: &str, hostname: &str) -> bool {
    host.eq_ignore_ascii_case(hostname)
        || host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Session {
    /// Builds a CATENATE message (see the module notes): the spooled
    /// result, or the answer refusing the APPEND.
    pub(crate) async fn catenate(
        &mut self,
        tag: &Tag,
        parts: Vec<CatPart>,
    ) -> Result<Spooled, Status> {
        let Some(account) = self.account() else {
            return Err(Status::bad(tag, "Not authenticated"));
        };
        let selected = match &self.state {
            State::Selected { view, .. } => Some(view.name.clone()),
            _ => None,
        };
        let bad_url = |raw: &str| {
            Status::no(tag, "CATENATE append has failed: cannot use this URL")
                .with_code(Code::BadUrl(raw.to_string()))
        };
        let mut pieces = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                CatPart::Text { data, kind } => {
                    // RFC 6855 §4: UTF8 (~{n}) once UTF8=ACCEPT is enabled.
                    if kind == TextKind::Utf8 && !self.opts.utf8 {
                        return Err(Status::bad(tag, "Enable UTF8=ACCEPT first"));
                    }
                    pieces.push(Piece::Text(self.literal_body(data)));
                }
                CatPart::Url(raw) => {
                    if raw.is_empty() {
                        // A literal spooled in its place (a URL of 1 MiB).
                        return Err(bad_url(&raw));
                    }
                    let Ok(url) = ImapUrl::parse(&raw) else {
                        return Err(bad_url(&raw));
                    };
                    // An authorized URL (RFC 4467) is validated as URLFETCH
                    // would, with this user's rights; a rump is no URL.
                    if let Some(auth) = &url.urlauth {
                        if auth.verifier.is_none() {
                            return Err(bad_url(&raw));
                        }
                        pieces.push(Piece::Authorized(raw));
                        continue;
                    }
                    let user = match &url.server {
                        Some(srv) => {
                            if !our_host(&srv.host, &self.shared.config.hostname) {
                                return Err(bad_url(&raw));
                            }
                            // RFC 5092 §3.2: no user is anonymous access.
                            match &srv.user {
                                Some(u) => Some(u.clone()),
                                None => return Err(bad_url(&raw)),
                            }
                        }
                        None => None,
                    };
                    let mailbox = match (&url.mailbox, &selected) {
                        (Some(name), _) => match tidings_imap_proto::mailbox_name(name) {
                            Ok(n) => n,
                            Err(_) => return Err(bad_url(&raw)),
                        },
                        (None, Some(name)) => name.clone(),
                        (None, None) => return Err(bad_url(&raw)),
                    };
                    pieces.push(Piece::Url(UrlPart {
                        raw,
                        user,
                        mailbox,
                        uid_validity: url.uid_validity,
                        uid: url.uid,
                        section: url.section,
                        partial: url.partial,
                    }));
                }
            }
        }
        let limit = self.shared.config.limits.max_append_literal;
        let hostname = self.shared.config.hostname.clone();
        let result = self
            .call(move |s| Ok(build(s, account, &hostname, pieces, limit)))
            .await;
        match result {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(CatError::BadUrl(raw))) => Err(bad_url(&raw)),
            Ok(Err(CatError::TooBig(limit))) => Err(Status::no(
                tag,
                &format!(
                    "CATENATE append has failed: the message would be larger than {limit} bytes"
                ),
            )
            .with_code(Code::TooBig)),
            Ok(Err(CatError::Io(e))) => Err(store_error(tag, &StoreError::Io(e))),
            Ok(Err(CatError::Store(e))) | Err(e) => Err(store_error(tag, &e)),
        }
    }
}

/// Writes the pieces in order into a spool (blocking: runs off the async
/// threads). Fails on the first URL that cannot be used.
fn build(
    s: &Store,
    account: AccountId,
    hostname: &str,
    pieces: Vec<Piece>,
    limit: u64,
) -> Result<Spooled, CatError> {
    let mut spool = s.spool();
    let mut email: Option<String> = None;
    for piece in pieces {
        match piece {
            Piece::Text(body) => {
                room(&spool, body.len(), limit)?;
                spool.write_from(&mut body.reader()?)?;
            }
            Piece::Url(u) => url_part(s, account, &mut email, &mut spool, u, limit)?,
            Piece::Authorized(raw) => {
                let fetcher = account_email(s, account, &mut email)?;
                let now = crate::cmd::urlauth::now();
                let target = crate::cmd::urlauth::authorized(s, &fetcher, hostname, &raw, now)
                    .map_err(CatError::Store)?
                    .ok_or_else(|| CatError::BadUrl(raw.clone()))?;
                copy_target(s, &target, &mut spool, limit).map_err(|e| e.with_url(&raw))?;
            }
        }
    }
    Ok(spool.finish()?)
}

/// The logged-in user's address, read once.
fn account_email(
    s: &Store,
    account: AccountId,
    email: &mut Option<String>,
) -> Result<String, CatError> {
    if email.is_none() {
        let a = s.account_by_id(account).map_err(CatError::Store)?;
        *email = Some(a.map(|a| a.email).unwrap_or_default());
    }
    Ok(email.clone().unwrap_or_default())
}

/// `TOOBIG` unless `more` bytes still fit under `limit`.
fn room(spool: &Spool, more: u64, limit: u64) -> Result<(), CatError> {
    if spool.len().saturating_add(more) > limit {
        return Err(CatError::TooBig(limit));
    }
    Ok(())
}

/// What a URL names, once its owner is known.
pub(crate) struct Target {
    pub(crate) account: AccountId,
    pub(crate) mailbox: MailboxName,
    pub(crate) uid_validity: Option<u32>,
    pub(crate) uid: u32,
    pub(crate) section: Option<Section>,
    pub(crate) partial: Option<UrlPartial>,
}

impl CatError {
    /// A target that names nothing is this URL's fault.
    fn with_url(self, raw: &str) -> CatError {
        match self {
            CatError::BadUrl(_) => CatError::BadUrl(raw.to_string()),
            e => e,
        }
    }
}

/// Copies the bytes a (relative or plain absolute) URL names into the
/// spool, after checking that an absolute URL names the logged-in user.
fn url_part(
    s: &Store,
    account: AccountId,
    email: &mut Option<String>,
    spool: &mut Spool,
    u: UrlPart,
    limit: u64,
) -> Result<(), CatError> {
    if let Some(user) = &u.user
        && !account_email(s, account, email)?.eq_ignore_ascii_case(user)
    {
        return Err(CatError::BadUrl(u.raw));
    }
    let target = Target {
        account,
        mailbox: u.mailbox,
        uid_validity: u.uid_validity,
        uid: u.uid,
        section: u.section,
        partial: u.partial,
    };
    copy_target(s, &target, spool, limit).map_err(|e| e.with_url(&u.raw))
}

/// Copies the bytes `t` names into the spool: the bytes FETCH
/// `BODY[section]<partial>` gives. `BadUrl` (with no URL yet) when it
/// names nothing.
pub(crate) fn copy_target(
    s: &Store,
    t: &Target,
    spool: &mut Spool,
    limit: u64,
) -> Result<(), CatError> {
    let bad = || CatError::BadUrl(String::new());
    let account = t.account;
    let mailbox = match s.mailbox(account, &t.mailbox) {
        Ok(Some(m)) => m,
        Ok(None) => return Err(bad()),
        Err(e) => return Err(CatError::Store(e)),
    };
    // RFC 5092 §6: a URL with a UIDVALIDITY names nothing once the
    // mailbox's has changed.
    if t.uid_validity.is_some_and(|v| v != mailbox.uid_validity.0) {
        return Err(bad());
    }
    let entry = match s.mailbox_entry(account, mailbox.id, Uid(t.uid)) {
        Ok(Some(e)) => e,
        Ok(None) => return Err(bad()),
        Err(e) => return Err(CatError::Store(e)),
    };
    let whole = Section {
        part: Vec::new(),
        text: None,
    };
    let section = t.section.as_ref().unwrap_or(&whole);
    let meta = if t.section.is_some() {
        Some(
            s.email_meta(account, entry.email)
                .map_err(CatError::Store)?,
        )
    } else {
        None
    };
    let span = match &meta {
        Some(meta) => section_span(entry.size, meta, section).ok_or_else(bad)?,
        None => SectionSpan::Range(0, entry.size),
    };
    // RFC 5092 §6 partial-range: offset (0-based), then at most length.
    let cut = |len: u64| -> (u64, u64) {
        match t.partial {
            None => (0, len),
            Some(p) => {
                let start = u64::from(p.offset).min(len);
                let n = p
                    .length
                    .map_or(len - start, |l| u64::from(l).min(len - start));
                (start, n)
            }
        }
    };
    match span {
        SectionSpan::Range(a, b) => {
            let (skip, n) = cut(b - a);
            room(spool, n, limit)?;
            let mut reader = s
                .email_reader(account, entry.email)
                .map_err(CatError::Store)?;
            io::copy(&mut (&mut reader).take(a + skip), &mut io::sink())?;
            let copied = spool.write_from(&mut reader.take(n))?;
            if copied != n {
                // The blob is shorter than its row says.
                return Err(CatError::Store(StoreError::Corrupt(format!(
                    "email {} is shorter than its size",
                    entry.email.0
                ))));
            }
        }
        SectionSpan::HeaderFields {
            header,
            fields,
            not,
        } => {
            let len = header.1 - header.0;
            let _permit = (len >= tidings_store::spool::SPOOL_THRESHOLD as u64)
                .then(|| tidings_store::memory_budget().acquire(len.saturating_mul(2)));
            let mut reader = s
                .email_reader(account, entry.email)
                .map_err(CatError::Store)?;
            io::copy(&mut (&mut reader).take(header.0), &mut io::sink())?;
            let mut bytes = Vec::new();
            reader.take(len).read_to_end(&mut bytes)?;
            let lines = header_fields(&bytes, fields, not);
            let (skip, n) = cut(lines.len() as u64);
            room(spool, n, limit)?;
            let (skip, n) = (skip as usize, n as usize);
            spool.write(&lines[skip..skip + n])?;
        }
    }
    Ok(())
}
