//! `tidings deliver`: a local delivery agent. Reads one message on standard
//! input and stores it durably for each recipient (accounts, aliases,
//! catch-alls), as `dovecot-lda` or `procmail` would — for fetchmail, a
//! `.forward`-style pipe, scripts, and tests before mail arrives by SMTP.
//!
//! Exit codes follow `sysexits.h`, as MTAs expect of a delivery agent:
//! 0 delivered to every recipient; 67 (EX_NOUSER) a recipient is unknown,
//! nothing was stored; 75 (EX_TEMPFAIL) a recipient is over quota or the disk
//! is full, try again later (recipients that succeeded are listed);
//! 65 (EX_DATAERR) the message is empty or too large.

use std::io::Read;

use anyhow::Context;
use tidings_store::{Recipient, Store, StoreError};
use tidings_types::{Keyword, MailboxName, MailboxRole};

/// The largest message accepted on standard input.
pub const MAX_MESSAGE: u64 = 64 * 1024 * 1024;

/// A delivery failure with the exit code an MTA understands.
#[derive(Debug)]
pub struct DeliverError {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for DeliverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeliverError {}

fn fail(code: u8, message: String) -> anyhow::Error {
    DeliverError { code, message }.into()
}

/// Delivers standard input to `recipients`, into `mailbox` (INBOX when
/// `None`; a recipient without that mailbox gets it in INBOX) with `flags`.
pub fn deliver(
    store: &Store,
    recipients: &[String],
    mailbox: Option<&str>,
    flags: &[String],
) -> anyhow::Result<()> {
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_MESSAGE + 1)
        .read_to_end(&mut raw)
        .context("cannot read the message from standard input")?;
    if raw.is_empty() {
        return Err(fail(65, "the message on standard input is empty".into()));
    }
    if raw.len() as u64 > MAX_MESSAGE {
        return Err(fail(
            65,
            format!("the message is larger than {MAX_MESSAGE} bytes"),
        ));
    }
    let keywords = flags
        .iter()
        .map(|f| Keyword::new(f).with_context(|| format!("bad flag {f:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let folder = mailbox
        .map(MailboxName::new)
        .transpose()
        .context("bad mailbox name")?;

    let mut targets = Vec::new();
    for r in recipients {
        let Some(account) = store.resolve_recipient(r)? else {
            return Err(fail(67, format!("no such recipient {r}")));
        };
        let chosen = match &folder {
            Some(name) => store.mailbox(account, name)?,
            None => None,
        };
        let mailbox = match chosen {
            Some(m) => m,
            None => store
                .mailbox_by_role(account, MailboxRole::Inbox)?
                .with_context(|| format!("{r} has no INBOX"))?,
        };
        // Two addresses of one account get one copy.
        if !targets.iter().any(|t: &Recipient| t.account == account) {
            targets.push(Recipient {
                account,
                mailbox: mailbox.id,
                keywords: keywords.clone(),
            });
        }
    }
    let results = match store.deliver(&raw, None, &targets) {
        Ok(r) => r,
        Err(e) if e.is_temporary() => {
            return Err(fail(75, format!("not delivered, try later: {e}")));
        }
        Err(e) => return Err(e.into()),
    };
    let mut failed = Vec::new();
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(a) => println!("delivered {} uid {} to {}", a.email, a.uid, target.account),
            Err(e @ (StoreError::OverQuota { .. } | StoreError::DiskFull)) => {
                failed.push(e.to_string())
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !failed.is_empty() {
        return Err(fail(
            75,
            format!("not delivered to every recipient: {}", failed.join("; ")),
        ));
    }
    Ok(())
}
