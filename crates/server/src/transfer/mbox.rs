//! mbox files (`tidings import mbox`, `tidings export mbox`).
//!
//! Reading: a line that starts with `From ` starts a message (what mutt,
//! Python's `mailbox` and Dovecot do, since writers quote such lines in
//! bodies); the blank line before it belongs to the file, not the message.
//! Quoted lines are unquoted the mboxrd way: one `>` comes off a line
//! `>…>From ` (for mboxo files, which quote only `From `, that is the same
//! for every line a writer quoted). The `From ` line's date becomes the
//! INTERNALDATE; the `Status` (`R` read), `X-Status` (`A` answered, `F`
//! flagged, `T` draft, `D` deleted) and `X-Keywords` fields of the header
//! become flags and are taken out of the stored message, with Dovecot's
//! own `X-UID`, `X-IMAP` and `X-IMAPbase`, as Dovecot and mutt treat them as
//! the file's bookkeeping rather than the message.
//!
//! Writing: mboxrd (every `>*From ` line gets one more `>`), flags written
//! back as `Status`/`X-Status`/`X-Keywords`, the INTERNALDATE on the `From `
//! line in UTC, a blank line after each message.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use tidings_store::Store;
use tidings_types::{Keyword, MailboxName};

use super::{MAX_MESSAGE, Pending, Progress, Sink, date};

/// Header fields that are mbox bookkeeping, not the message's.
const BOOKKEEPING: [&str; 6] = [
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imap",
    "x-imapbase",
];

/// One message read from an mbox: its bytes as in the file (LF or
/// whatever it had), unquoted, and its `From ` line's date.
struct Raw {
    bytes: Vec<u8>,
    received: Option<i64>,
}

/// Reads the messages of an mbox one by one.
struct Reader<R> {
    input: R,
    /// The `From ` line that starts the next message.
    next_from: Option<Vec<u8>>,
    line: Vec<u8>,
    /// 1-based line number, for errors.
    line_no: u64,
}

impl<R: BufRead> Reader<R> {
    /// Checks that the input starts with a `From ` line (an empty input
    /// has no messages).
    fn new(mut input: R) -> anyhow::Result<Reader<R>> {
        let mut first = Vec::new();
        input.read_until(b'\n', &mut first)?;
        if !first.is_empty() && !first.starts_with(b"From ") {
            anyhow::bail!("not an mbox file: it does not start with a \"From \" line");
        }
        Ok(Reader {
            input,
            next_from: (!first.is_empty()).then_some(first),
            line: Vec::new(),
            line_no: 1,
        })
    }

    fn next(&mut self) -> anyhow::Result<Option<Raw>> {
        let Some(from) = self.next_from.take() else {
            return Ok(None);
        };
        let from_line = String::from_utf8_lossy(&from);
        let received = date::parse_from_line(from_line.trim_end());
        let start_line = self.line_no;
        let mut bytes = Vec::new();
        loop {
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line)?;
            if n == 0 {
                break;
            }
            self.line_no += 1;
            if self.line.starts_with(b"From ") {
                self.next_from = Some(std::mem::take(&mut self.line));
                break;
            }
            let quoted = self.line.iter().position(|&b| b != b'>');
            if let Some(i) = quoted
                && i > 0
                && self.line[i..].starts_with(b"From ")
            {
                bytes.extend_from_slice(&self.line[1..]);
            } else {
                bytes.extend_from_slice(&self.line);
            }
            if bytes.len() as u64 > MAX_MESSAGE {
                anyhow::bail!(
                    "the message that starts at line {start_line} is larger than {MAX_MESSAGE} bytes"
                );
            }
        }
        // The blank line before the next `From ` (or at the end) is the file's.
        if bytes.ends_with(b"\r\n\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n\n") {
            bytes.truncate(bytes.len() - 1);
        }
        Ok(Some(Raw { bytes, received }))
    }
}

/// Where the header ends in `raw`: the offset of the blank line's start
/// (the header's fields are `raw[..end]`), or the whole message.
fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..line_end];
        if line == b"\n" || line == b"\r\n" {
            return i;
        }
        i = line_end;
    }
    raw.len()
}

/// Takes the bookkeeping fields out of the header; returns the flags they
/// carried.
fn take_bookkeeping(raw: &[u8]) -> (Vec<u8>, Vec<String>) {
    let end = header_end(raw);
    let mut out = Vec::with_capacity(raw.len());
    let mut flags = Vec::new();
    let mut skipping = false;
    for line in raw[..end].split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if continuation {
            if !skipping {
                out.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .iter()
            .position(|&b| b == b':')
            .map(|p| String::from_utf8_lossy(&line[..p]).to_ascii_lowercase());
        skipping = name
            .as_deref()
            .is_some_and(|n| BOOKKEEPING.contains(&n.trim_end()));
        if !skipping {
            out.extend_from_slice(line);
            continue;
        }
        let value = line
            .iter()
            .position(|&b| b == b':')
            .map(|p| String::from_utf8_lossy(&line[p + 1..]).trim().to_string())
            .unwrap_or_default();
        match name.as_deref().map(str::trim_end) {
            Some("status") if value.contains('R') => flags.push("\\Seen".into()),
            Some("x-status") => {
                for (c, f) in [
                    ('A', "\\Answered"),
                    ('F', "\\Flagged"),
                    ('T', "\\Draft"),
                    ('D', "\\Deleted"),
                ] {
                    if value.contains(c) {
                        flags.push(f.into());
                    }
                }
            }
            Some("x-keywords") => flags.extend(
                value
                    .split([',', ' '])
                    .filter(|k| !k.is_empty())
                    .map(str::to_string),
            ),
            _ => {}
        }
    }
    out.extend_from_slice(&raw[end..]);
    (out, flags)
}

/// `tidings import mbox FILE --to EMAIL [--mailbox NAME]`.
pub fn import(store: &Store, file: &Path, to: &str, mailbox: Option<&str>) -> anyhow::Result<()> {
    let account = super::account(store, to)?;
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).context("bad mailbox name")?;
    let open = || -> anyhow::Result<Reader<BufReader<File>>> {
        let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        Reader::new(BufReader::new(f)).with_context(|| format!("{}", file.display()))
    };
    // A first pass checks the whole file and counts, before anything is written.
    let mut reader = open()?;
    let mut total = 0u64;
    while reader
        .next()
        .with_context(|| format!("{}", file.display()))?
        .is_some()
    {
        total += 1;
    }
    let target = super::target_mailbox(store, account, &name, None)?;
    let mut sink = Sink::new(store, account, Progress::new("importing", Some(total)));
    let mut reader = open()?;
    while let Some(raw) = reader.next()? {
        let (bytes, flags) = take_bookkeeping(&raw.bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            tracing::warn!("an empty message left out");
            sink.progress.advance(1);
            continue;
        }
        sink.add(
            target,
            Pending {
                raw: super::to_crlf(&bytes),
                keywords: super::keywords(flags.iter().map(String::as_str)),
                received: raw.received,
            },
        )?;
    }
    sink.flush()?;
    sink.progress.finish();
    println!("imported {} messages into {name}", sink.imported);
    Ok(())
}

/// The header fields that carry `keywords` in an mbox, with LF ends.
fn bookkeeping_fields(keywords: &[Keyword]) -> Vec<u8> {
    let has = |k: &str| keywords.iter().any(|x| x.matches(k));
    let mut status = String::new();
    if has(Keyword::SEEN) {
        status.push('R');
    }
    status.push('O');
    let mut x_status = String::new();
    for (c, f) in [
        ('A', Keyword::ANSWERED),
        ('F', Keyword::FLAGGED),
        ('T', Keyword::DRAFT),
        ('D', Keyword::DELETED),
    ] {
        if has(f) {
            x_status.push(c);
        }
    }
    let others: Vec<&str> = keywords
        .iter()
        .map(Keyword::as_str)
        .filter(|k| !k.starts_with('\\'))
        .collect();
    let mut out = format!("Status: {status}\n");
    if !x_status.is_empty() {
        out.push_str(&format!("X-Status: {x_status}\n"));
    }
    if !others.is_empty() {
        out.push_str(&format!("X-Keywords: {}\n", others.join(" ")));
    }
    out.into_bytes()
}

/// Writes one message in mbox form: `From ` line, header with the flag
/// fields, mboxrd-quoted body, blank line.
pub fn write_message(
    out: &mut impl Write,
    raw: &[u8],
    keywords: &[Keyword],
    received: i64,
) -> std::io::Result<()> {
    let (raw, _) = take_bookkeeping(&super::to_lf(raw));
    let end = header_end(&raw);
    writeln!(
        out,
        "From MAILER-DAEMON {}",
        date::format_from_line_date(received)
    )?;
    let mut message = Vec::with_capacity(raw.len() + 64);
    message.extend_from_slice(&raw[..end]);
    if end > 0 && !message.ends_with(b"\n") {
        message.push(b'\n');
    }
    message.extend_from_slice(&bookkeeping_fields(keywords));
    message.extend_from_slice(&raw[end..]);
    if end == raw.len() {
        message.push(b'\n');
    }
    for line in message.split_inclusive(|&b| b == b'\n') {
        let quoted = line.iter().position(|&b| b != b'>');
        if quoted.is_some_and(|i| line[i..].starts_with(b"From ")) {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    if !message.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// `tidings export mbox --from EMAIL --out FILE [--mailbox NAME]`: a new
/// file (never overwritten), written beside it and renamed when complete.
pub fn export(store: &Store, from: &str, out: &Path, mailbox: Option<&str>) -> anyhow::Result<()> {
    let account = super::account(store, from)?;
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).context("bad mailbox name")?;
    let mbox = store
        .mailbox(account, &name)?
        .with_context(|| format!("{from} has no mailbox {name}"))?;
    if out.exists() {
        anyhow::bail!("{} exists already", out.display());
    }
    let tmp = out.with_extension("tidings-partial");
    let result = (|| -> anyhow::Result<u64> {
        let entries = store.mailbox_entries(account, mbox.id)?;
        let mut progress = Progress::new("exporting", Some(entries.len() as u64));
        let file =
            File::create_new(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = BufWriter::new(file);
        let mut n = 0u64;
        for e in &entries {
            let raw = match store.email_raw(account, e.email) {
                Ok(raw) => raw,
                // Deleted by a client since the listing.
                Err(tidings_store::StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut keywords = e.keywords.clone();
            if e.deleted {
                keywords.extend(Keyword::new(Keyword::DELETED).ok());
            }
            write_message(&mut w, &raw, &keywords, e.received)?;
            n += 1;
            if n.is_multiple_of(200) {
                progress.advance(200);
            }
        }
        progress.advance(n % 200);
        progress.finish();
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, out)?;
        Ok(n)
    })();
    match result {
        Ok(n) => {
            println!("exported {n} messages of {name} to {}", out.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("cannot export to {}", out.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(file: &[u8]) -> Vec<Raw> {
        let mut r = Reader::new(file).unwrap();
        let mut out = Vec::new();
        while let Some(m) = r.next().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn reads_and_unquotes() {
        let file = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: x\nStatus: RO\nX-Status: F\n\nhi\n>From here\n>>From there\n>Fromage\n\nFrom c@d Thu Jan  1 00:01:00 1970\n\nsecond\n";
        let m = read_all(file);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].bytes,
            b"Subject: x\nStatus: RO\nX-Status: F\n\nhi\nFrom here\n>From there\n>Fromage\n"
        );
        assert_eq!(m[0].received, Some(0));
        assert_eq!(m[1].bytes, b"\nsecond\n");
        assert_eq!(m[1].received, Some(60));
        let (bytes, flags) = take_bookkeeping(&m[0].bytes);
        assert_eq!(
            bytes,
            b"Subject: x\n\nhi\nFrom here\n>From there\n>Fromage\n"
        );
        assert_eq!(flags, ["\\Seen", "\\Flagged"]);
    }

    #[test]
    fn refuses_what_is_no_mbox() {
        assert!(Reader::new(&b"Subject: x\n\nbody\n"[..]).is_err());
        assert!(read_all(b"").is_empty());
    }

    #[test]
    fn writes_what_it_reads() {
        let raw = b"Subject: x\r\n\r\nFrom here\r\n>From there\r\n";
        let kw = vec![
            Keyword::new("\\Seen").unwrap(),
            Keyword::new("$label1").unwrap(),
        ];
        let mut out = Vec::new();
        write_message(&mut out, raw, &kw, 0).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: x\nStatus: RO\nX-Keywords: $label1\n\n>From here\n>>From there\n\n"
        );
        let m = read_all(&out);
        let (bytes, flags) = take_bookkeeping(&m[0].bytes);
        assert_eq!(super::super::to_crlf(&bytes), raw);
        assert_eq!(flags, ["\\Seen", "$label1"]);
    }
}
