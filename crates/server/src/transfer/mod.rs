//! Moving mail in and out: `tidings import mbox|maildir|imap` and
//! `tidings export mbox|maildir`.
//!
//! Imports go through the store's normal append path ([`Sink`]: batches of
//! [`tidings_store::Backend::append_many`], each one transaction, durable
//! when it returns), so the index, threads, All Mail and Starred are as for
//! mail that arrived by SMTP or APPEND, and they run beside a running
//! `tidings serve` (the store is shared through SQLite's WAL). A source is
//! read and checked before anything is written where it can be (mbox,
//! maildir): bad input gives an error and imports nothing.
//!
//! Messages in mbox and maildir files have bare LF line ends by Unix
//! convention; imports store them with CRLF (what IMAP and SMTP carry) and
//! exports write LF, so an mbox or maildir comes back byte for byte
//! ([`to_crlf`], [`to_lf`]: a message with mixed line ends is kept as it is).
//!
//! Modules: [`date`] (mbox and IMAP dates), [`mbox`], [`maildir`],
//! [`imap`] (a small IMAP client for `import imap`).

pub mod date;
pub mod imap;
pub mod maildir;
pub mod mbox;

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use tidings_store::{NewEmail, Store, StoreError};
use tidings_types::{AccountId, Keyword, MailboxId, MailboxName, MailboxRole};

/// The largest message imported (as `tidings deliver` takes).
pub const MAX_MESSAGE: u64 = crate::deliver::MAX_MESSAGE;

/// A batch is committed when it holds this many messages …
const BATCH_MESSAGES: usize = 200;
/// … or this many bytes.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// The account an import writes to or an export reads from.
pub fn account(store: &Store, email: &str) -> anyhow::Result<AccountId> {
    Ok(store
        .account(email)?
        .with_context(|| format!("no account {email} (see tidings user add)"))?
        .id)
}

/// The mailbox `name` of `account`, made if missing; with a `role`, the
/// account's mailbox of that role whatever its name.
pub fn target_mailbox(
    store: &Store,
    account: AccountId,
    name: &MailboxName,
    role: Option<MailboxRole>,
) -> anyhow::Result<MailboxId> {
    if let Some(role) = role
        && let Some(m) = store.mailbox_by_role(account, role)?
    {
        return Ok(m.id);
    }
    if let Some(m) = store.mailbox(account, name)? {
        return Ok(m.id);
    }
    match store.create_mailbox(account, name, None) {
        Ok(id) => Ok(id),
        // Made meanwhile by another client.
        Err(StoreError::AlreadyExists(_)) => store
            .mailbox(account, name)?
            .map(|m| m.id)
            .with_context(|| format!("cannot make mailbox {name}")),
        Err(e) => Err(e).with_context(|| format!("cannot make mailbox {name}")),
    }
}

/// A mailbox name from a source's folder levels: a character the store
/// refuses in a name (control, `*`, `%`, `/` inside a level) becomes `_`,
/// empty levels are dropped.
pub fn mailbox_name(levels: &[String]) -> anyhow::Result<MailboxName> {
    let levels: Vec<String> = levels
        .iter()
        .map(|l| {
            l.chars()
                .map(|c| {
                    if c.is_control() || matches!(c, '*' | '%' | '/') {
                        '_'
                    } else {
                        c
                    }
                })
                .collect::<String>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    let joined = levels.join("/");
    MailboxName::new(&joined).with_context(|| format!("bad mailbox name {joined:?}"))
}

/// Keywords from flag names, skipping (with a warning) those the store
/// refuses and `\Recent`, which is no stored flag.
pub fn keywords<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Keyword> {
    let mut out: Vec<Keyword> = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("\\Recent") || name.is_empty() {
            continue;
        }
        match Keyword::new(name) {
            Ok(k) if !out.contains(&k) => out.push(k),
            Ok(_) => {}
            Err(e) => tracing::warn!("flag {name:?} left out: {e}"),
        }
    }
    out
}

/// A message with bare LF line ends (and no CR at all) with CRLF ones; a
/// message that has a CR anywhere is left as it is, so that one with mixed
/// line ends comes back from [`to_lf`] byte for byte.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    if raw.contains(&b'\r') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for &b in raw {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A message whose every line ends with CRLF with LF ones; any other is
/// left as it is (the inverse of [`to_crlf`]).
pub fn to_lf(raw: &[u8]) -> Vec<u8> {
    let all_crlf = raw
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && raw[i - 1] == b'\r'));
    let lone_cr = raw
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && raw.get(i + 1) != Some(&b'\n'));
    if !all_crlf || lone_cr {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Counts and rate of an import or export: a bar on a terminal, otherwise
/// one plain line on standard error per committed batch.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    verb: &'static str,
    done: u64,
    total: Option<u64>,
    started: Instant,
}

impl Progress {
    pub fn new(verb: &'static str, total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{msg} [{bar:30}] {pos}/{len} messages, {rate}, {eta} left"
            } else {
                "{msg} {spinner} {pos} messages, {rate}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                let style = style.with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                );
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(verb);
            bar
        });
        Progress {
            bar,
            verb,
            done: 0,
            total,
            started: Instant::now(),
        }
    }

    /// What is being read now (a folder).
    pub fn set_message(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} {what}", self.verb));
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// `n` more messages are done (committed).
    pub fn advance(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => {
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
                eprintln!(
                    "{} {}{of} messages ({:.0}/s)",
                    self.verb,
                    self.done,
                    self.done as f64 / secs
                );
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One message waiting for its batch.
pub struct Pending {
    pub raw: Vec<u8>,
    pub keywords: Vec<Keyword>,
    /// INTERNALDATE, Unix seconds; the time of import when `None`.
    pub received: Option<i64>,
}

/// Writes imported messages in batches through
/// [`tidings_store::Backend::append_many`] (one transaction each, UIDs in
/// the order given).
pub struct Sink<'a> {
    store: &'a Store,
    account: AccountId,
    mailbox: Option<MailboxId>,
    pending: Vec<Pending>,
    bytes: usize,
    /// Messages committed so far.
    pub imported: u64,
    pub progress: Progress,
}

impl<'a> Sink<'a> {
    pub fn new(store: &'a Store, account: AccountId, progress: Progress) -> Sink<'a> {
        Sink {
            store,
            account,
            mailbox: None,
            pending: Vec::new(),
            bytes: 0,
            imported: 0,
            progress,
        }
    }

    /// Queues `message` for `mailbox`; commits the batch when it is full
    /// or when the mailbox changes.
    pub fn add(&mut self, mailbox: MailboxId, message: Pending) -> anyhow::Result<()> {
        if self.mailbox != Some(mailbox) {
            self.flush()?;
            self.mailbox = Some(mailbox);
        }
        self.bytes += message.raw.len();
        self.pending.push(message);
        if self.pending.len() >= BATCH_MESSAGES || self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Commits what is queued.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let Some(mailbox) = self.mailbox else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.bytes = 0;
        let emails = batch
            .iter()
            .map(|p| NewEmail {
                raw: &p.raw,
                keywords: p.keywords.clone(),
                received: p.received,
            })
            .collect();
        let appended = self
            .store
            .append_many(self.account, mailbox, emails)
            .with_context(|| {
                format!(
                    "cannot store {} messages ({} were imported before)",
                    batch.len(),
                    self.imported
                )
            })?;
        self.imported += appended.len() as u64;
        self.progress.advance(appended.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_round_trip() {
        for raw in [
            &b"a\nb\n\nc\n"[..],
            b"a\r\nb\nc\rd\n",
            b"no line end",
            b"a\rb\r",
            b"",
        ] {
            assert_eq!(to_lf(&to_crlf(raw)), raw, "{raw:?}");
        }
        assert_eq!(to_crlf(b"a\nb\n"), b"a\r\nb\r\n");
        // Only a file that was CRLF already changes on the way back.
        assert_eq!(to_lf(&to_crlf(b"a\r\nb\r\n")), b"a\nb\n");
    }
}
