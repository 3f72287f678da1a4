//! `tidings import imap`: copies every folder of an account on another
//! IMAP server, with flags and INTERNALDATEs, through a small blocking IMAP
//! client (RFC 9051/3501: LOGIN, LIST, EXAMINE, UID FETCH).
//!
//! Resumable and idempotent: after each committed batch, the source
//! folder's UIDVALIDITY and the highest UID copied are kept in the target
//! account's store (a private METADATA entry of the account,
//! `/private/vendor/tidings/import/<user>@<host>:<port>/<folder>`), so a
//! second run fetches only what came since. Should the state be lost or
//! lag (a crash between a batch's commit and its state, or a UIDVALIDITY
//! that changed), a message is skipped when the target mailbox already
//! holds one with the same size, INTERNALDATE and bytes.
//!
//! Folders map by special use (RFC 6154): `\Sent`, `\Drafts`, `\Trash`,
//! `\Junk`, `\Archive` go to the account's mailboxes of those roles,
//! INBOX to INBOX, others by name with `/` as separator. The source's
//! virtual `\All` and `\Flagged` folders are not copied (their mail is in
//! the others) — except on a server that advertises Gmail's `X-GM-EXT-1`:
//! there, `\All` is the one copy of each message, and its `X-GM-LABELS`
//! say which mailboxes it goes to (`\Inbox` INBOX, `\Sent`, `\Draft`, other
//! labels by name; none: Archive); `\Trash` and `\Junk` are copied as well.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tidings_store::Store;
use tidings_types::{AccountId, MailboxId, MailboxName, MailboxRole, Secret};

use super::{Pending, Progress, Sink, date};

/// How the connection to the source is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// Plain text (a server on the same machine or network).
    None,
    /// TLS from the first byte (IMAPS, port 993).
    Implicit,
    /// STARTTLS after the greeting (RFC 9051 §6.2.1), required.
    StartTls,
}

/// Where to import from.
pub struct Source {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// Certificates (PEM) to trust instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    pub user: String,
    pub password: Secret<String>,
}

/// Messages fetched per command at most …
const FETCH_CHUNK: usize = 100;
/// … and bytes (a single larger message is fetched alone).
const FETCH_BYTES: u64 = 32 * 1024 * 1024;

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// TLS over `tcp`, the server's certificate checked against the system's
/// roots or `--ca-file`, for the host name (or address) given.
fn tls(source: &Source, tcp: TcpStream) -> anyhow::Result<Conn> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &source.ca_file {
        Some(path) => {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for cert in certs {
                let cert = cert.with_context(|| format!("{}", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("{}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // One unusable system certificate does not stop the others.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        bail!("no certificate to trust: none in the system's store or the --ca-file");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(source.host.clone())
        .with_context(|| format!("bad host name {}", source.host))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let mut tcp = tcp;
    // Handshake now, so that a bad certificate is named as such.
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .with_context(|| format!("TLS with {}:{} failed", source.host, source.port))?;
    }
    Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// A command the source answered NO or BAD.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// A parsed piece of a response.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Atom(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
}

impl Value {
    fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::List(_) => None,
        }
    }
}

/// One response: its text (literals left out) and its parsed values.
struct Response {
    text: String,
    values: Vec<Value>,
}

/// The largest literal accepted from the source.
const MAX_LITERAL: u64 = super::MAX_MESSAGE;

struct Client {
    conn: BufReader<Conn>,
    tag: u32,
}

impl Client {
    fn connect(source: &Source) -> anyhow::Result<Client> {
        let addr = format!("{}:{}", source.host, source.port);
        let tcp = TcpStream::connect(&addr).with_context(|| format!("cannot connect to {addr}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(120)))?;
        let conn = match source.tls {
            Tls::Implicit => tls(source, tcp)?,
            Tls::None | Tls::StartTls => Conn::Plain(tcp),
        };
        let mut client = Client {
            conn: BufReader::new(conn),
            tag: 0,
        };
        let greeting = client.response()?;
        if !greeting.text.starts_with("* OK") && !greeting.text.starts_with("* PREAUTH") {
            bail!("{addr} did not greet as an IMAP server: {}", greeting.text);
        }
        if source.tls == Tls::StartTls {
            client.command("STARTTLS")?;
            // RFC 9051 §6.2.1: nothing may follow the OK before the handshake.
            if !client.conn.buffer().is_empty() {
                bail!("{addr} sent data after its STARTTLS reply");
            }
            let Conn::Plain(tcp) = client.conn.into_inner() else {
                bail!("STARTTLS on a TLS connection");
            };
            client.conn = BufReader::new(tls(source, tcp)?);
        }
        Ok(client)
    }

    /// Reads one response line with its literals.
    fn response(&mut self) -> anyhow::Result<Response> {
        let mut text = String::new();
        let mut pieces: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        loop {
            let mut line = Vec::new();
            (&mut self.conn)
                .take(1024 * 1024)
                .read_until(b'\n', &mut line)?;
            if line.is_empty() {
                bail!("the source server closed the connection");
            }
            if !line.ends_with(b"\n") {
                bail!("the source server sent a line longer than 1 MiB");
            }
            let l = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            text.push_str(&l);
            // A literal `{n}` ends the line.
            let literal = l
                .strip_suffix('}')
                .and_then(|s| s.rsplit_once('{'))
                .and_then(|(before, n)| {
                    n.trim_end_matches('+')
                        .parse::<u64>()
                        .ok()
                        .map(|n| (before, n))
                });
            match literal {
                Some((before, n)) => {
                    if n > MAX_LITERAL {
                        bail!("the source server sent a literal of {n} bytes");
                    }
                    let mut buf = vec![0; n as usize];
                    self.conn.read_exact(&mut buf)?;
                    pieces.push((before.to_string(), Some(buf)));
                }
                None => {
                    pieces.push((l, None));
                    break;
                }
            }
        }
        let mut values = Vec::new();
        let mut stack: Vec<Vec<Value>> = Vec::new();
        for (piece, literal) in pieces {
            tokenize(&piece, &mut values, &mut stack);
            if let Some(lit) = literal {
                match stack.last_mut() {
                    Some(top) => top.push(Value::Bytes(lit)),
                    None => values.push(Value::Bytes(lit)),
                }
            }
        }
        while let Some(list) = stack.pop() {
            match stack.last_mut() {
                Some(top) => top.push(Value::List(list)),
                None => values.push(Value::List(list)),
            }
        }
        Ok(Response { text, values })
    }

    /// Sends a command; returns its untagged responses, or an error unless
    /// it ends OK.
    fn command(&mut self, command: &str) -> anyhow::Result<Vec<Response>> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let conn = self.conn.get_mut();
        conn.write_all(format!("{tag} {command}\r\n").as_bytes())?;
        conn.flush()?;
        let mut untagged = Vec::new();
        loop {
            let r = self.response()?;
            if let Some(rest) = r.text.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    return Ok(untagged);
                }
                let verb = command.split(' ').next().unwrap_or_default();
                return Err(Refused(format!("the source server refused {verb}: {rest}")).into());
            }
            if r.text.starts_with("* BYE") {
                bail!("the source server closed the session: {}", r.text);
            }
            untagged.push(r);
        }
    }
}

/// Splits response text into atoms, quoted strings and lists.
fn tokenize(text: &str, values: &mut Vec<Value>, stack: &mut Vec<Vec<Value>>) {
    fn push(v: Value, values: &mut Vec<Value>, stack: &mut [Vec<Value>]) {
        match stack.last_mut() {
            Some(top) => top.push(v),
            None => values.push(v),
        }
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'(' => {
                stack.push(Vec::new());
                i += 1;
            }
            b')' => {
                if let Some(list) = stack.pop() {
                    push(Value::List(list), values, stack);
                }
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    s.push(b[i]);
                    i += 1;
                }
                i += 1;
                push(Value::Bytes(s), values, stack);
            }
            _ => {
                let start = i;
                // `BODY[]` and `[UIDVALIDITY n]` keep their brackets in the atom.
                let mut depth = 0;
                while i < b.len() {
                    match b[i] {
                        b'[' => depth += 1,
                        b']' => depth -= 1,
                        b' ' | b'(' | b')' if depth <= 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
                push(Value::Atom(text[start..i].to_string()), values, stack);
            }
        }
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A folder of the source: its name there (as sent, for commands), its
/// name here, and its attributes.
struct SourceFolder {
    wire: Vec<u8>,
    name: String,
    attributes: Vec<String>,
}

impl SourceFolder {
    fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }

    fn role(&self) -> Option<MailboxRole> {
        if self.name.eq_ignore_ascii_case("INBOX") {
            return Some(MailboxRole::Inbox);
        }
        [
            ("\\Sent", MailboxRole::Sent),
            ("\\Drafts", MailboxRole::Drafts),
            ("\\Trash", MailboxRole::Trash),
            ("\\Junk", MailboxRole::Junk),
            ("\\Archive", MailboxRole::Archive),
        ]
        .into_iter()
        .find(|(a, _)| self.has(a))
        .map(|(_, r)| r)
    }

    fn wire_name(&self) -> String {
        quote(&String::from_utf8_lossy(&self.wire))
    }
}

fn list_folders(client: &mut Client) -> anyhow::Result<Vec<SourceFolder>> {
    let mut out = Vec::new();
    for r in client.command("LIST \"\" \"*\"")? {
        let v = &r.values;
        if v.len() < 5 || v[1] != Value::Atom("LIST".into()) {
            continue;
        }
        let Value::List(attrs) = &v[2] else { continue };
        let attributes: Vec<String> = attrs.iter().filter_map(Value::text).collect();
        let separator = match &v[3] {
            Value::Bytes(b) => b.first().map(|&c| char::from(c)),
            _ => None,
        };
        let wire = match &v[4] {
            Value::Bytes(b) => b.clone(),
            Value::Atom(a) => a.clone().into_bytes(),
            Value::List(_) => continue,
        };
        let decoded = tidings_imap_proto::utf7::decode(&wire)
            .unwrap_or_else(|_| String::from_utf8_lossy(&wire).into_owned());
        let name = match separator {
            Some(sep) if sep != '/' => decoded
                .split(sep)
                .map(|l| l.replace('/', "_"))
                .collect::<Vec<_>>()
                .join("/"),
            _ => decoded,
        };
        out.push(SourceFolder {
            wire,
            name,
            attributes,
        });
    }
    Ok(out)
}

/// One fetched message.
struct Fetched {
    uid: u32,
    /// RFC822.SIZE.
    size: u64,
    flags: Vec<String>,
    received: Option<i64>,
    body: Vec<u8>,
    labels: Vec<String>,
}

fn parse_fetch(r: &Response) -> Option<Fetched> {
    let v = &r.values;
    if v.len() < 4 || v[2] != Value::Atom("FETCH".into()) {
        return None;
    }
    let Value::List(items) = &v[3] else {
        return None;
    };
    let mut f = Fetched {
        uid: 0,
        size: 0,
        flags: Vec::new(),
        received: None,
        body: Vec::new(),
        labels: Vec::new(),
    };
    let mut it = items.iter();
    while let (Some(key), Some(value)) = (it.next(), it.next()) {
        let Value::Atom(key) = key else { return None };
        match key.to_ascii_uppercase().as_str() {
            "UID" => f.uid = value.text()?.parse().ok()?,
            "RFC822.SIZE" => f.size = value.text()?.parse().ok()?,
            "FLAGS" => {
                if let Value::List(l) = value {
                    f.flags = l.iter().filter_map(Value::text).collect();
                }
            }
            "INTERNALDATE" => f.received = date::parse_imap(&value.text()?),
            "BODY[]" => {
                if let Value::Bytes(b) = value {
                    f.body = b.clone();
                }
            }
            "X-GM-LABELS" => {
                if let Value::List(l) = value {
                    f.labels = l.iter().filter_map(Value::text).collect();
                }
            }
            _ => {}
        }
    }
    (f.uid != 0).then_some(f)
}

/// The `[UIDVALIDITY n]` of a SELECT/EXAMINE's responses.
fn uid_validity(responses: &[Response]) -> Option<u32> {
    responses.iter().find_map(|r| {
        let at = r.text.find("[UIDVALIDITY ")? + "[UIDVALIDITY ".len();
        r.text[at..].split(']').next()?.trim().parse().ok()
    })
}

/// The account-level METADATA entry that holds a folder's progress.
fn state_key(source: &Source, folder: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_control() || c == '*' || c == '%' {
                    '_'
                } else {
                    c
                }
            })
            .collect::<String>()
    };
    format!(
        "/private/vendor/tidings/import/{}@{}:{}/{}",
        clean(&source.user),
        clean(&source.host),
        source.port,
        clean(folder)
    )
}

/// The state as `(uidvalidity, last uid)`.
fn read_state(store: &Store, account: AccountId, key: &str) -> anyhow::Result<Option<(u32, u32)>> {
    Ok(store
        .metadata(account, None)?
        .into_iter()
        .find(|e| e.name == key)
        .and_then(|e| {
            let text = String::from_utf8(e.value).ok()?;
            let (v, u) = text.split_once(' ')?;
            Some((v.parse().ok()?, u.parse().ok()?))
        }))
}

fn write_state(
    store: &Store,
    account: AccountId,
    key: &str,
    validity: u32,
    last: u32,
) -> anyhow::Result<()> {
    let entry = (
        key.to_string(),
        Some(format!("{validity} {last}").into_bytes()),
    );
    store.set_metadata(account, None, &[entry], usize::MAX)?;
    Ok(())
}

/// What a target mailbox already holds, to skip a message copied before.
struct Existing {
    by_size_date: HashMap<(u64, i64), Vec<tidings_types::EmailId>>,
}

impl Existing {
    fn load(store: &Store, account: AccountId, mailbox: MailboxId) -> anyhow::Result<Existing> {
        let mut by_size_date: HashMap<(u64, i64), Vec<_>> = HashMap::new();
        for e in store.mailbox_entries(account, mailbox)? {
            by_size_date
                .entry((e.size, e.received))
                .or_default()
                .push(e.email);
        }
        Ok(Existing { by_size_date })
    }

    fn holds(&self, store: &Store, account: AccountId, raw: &[u8], received: i64) -> bool {
        self.by_size_date
            .get(&(raw.len() as u64, received))
            .is_some_and(|ids| {
                ids.iter()
                    .any(|id| store.email_raw(account, *id).is_ok_and(|r| r == raw))
            })
    }
}

/// `tidings import imap`.
pub fn import(store: &Store, source: &Source, to: &str) -> anyhow::Result<()> {
    let account = super::account(store, to)?;
    let mut client = Client::connect(source)?;
    client
        .command(&format!(
            "LOGIN {} {}",
            quote(&source.user),
            quote(source.password.expose())
        ))
        .context("cannot log in to the source server")?;
    let caps: String = client
        .command("CAPABILITY")?
        .into_iter()
        .map(|r| r.text)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let gmail = caps.split_whitespace().any(|c| c == "X-GM-EXT-1");
    let folders: Vec<SourceFolder> = list_folders(&mut client)?
        .into_iter()
        .filter(|f| !f.has("\\Noselect") && !f.has("\\NonExistent"))
        .filter(|f| {
            if gmail {
                f.has("\\All") || f.has("\\Trash") || f.has("\\Junk")
            } else {
                !f.has("\\All") && !f.has("\\Flagged")
            }
        })
        .collect();
    // The total grows as each folder says how many messages it has.
    let mut sink = Sink::new(store, account, Progress::new("importing", Some(0)));
    let mut skipped = 0u64;
    let mut total = 0u64;
    let mut unreadable: Vec<String> = Vec::new();
    let mut too_large: Vec<String> = Vec::new();
    for folder in &folders {
        sink.progress.set_message(&folder.name);
        let selected = match client.command(&format!("EXAMINE {}", folder.wire_name())) {
            Ok(r) => r,
            // One folder the source will not open does not stop the others.
            Err(e) if e.is::<Refused>() => {
                tracing::warn!("folder {} left out: {e}", folder.name);
                unreadable.push(folder.name.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(validity) = uid_validity(&selected) else {
            bail!("the source server gave no UIDVALIDITY for {}", folder.name);
        };
        let key = state_key(source, &folder.name);
        let after = match read_state(store, account, &key)? {
            Some((v, last)) if v == validity => last,
            _ => 0,
        };
        // Sizes first, so that a fetch holds at most FETCH_CHUNK messages
        // and about FETCH_BYTES of them.
        let mut sizes: Vec<(u32, u64)> = client
            .command(&format!(
                "UID FETCH {}:* (UID RFC822.SIZE)",
                after.saturating_add(1)
            ))?
            .iter()
            .filter_map(parse_fetch)
            .map(|f| (f.uid, f.size))
            .filter(|&(u, _)| u > after)
            .collect();
        sizes.sort_unstable();
        // A message over the limit is left out (and named), not fetched.
        sizes.retain(|&(uid, size)| {
            let fits = size <= MAX_LITERAL;
            if !fits {
                tracing::warn!(
                    "{} UID {uid}: {size} bytes, over {MAX_LITERAL}",
                    folder.name
                );
                too_large.push(format!("{} UID {uid}", folder.name));
            }
            fits
        });
        if sizes.is_empty() {
            continue;
        }
        total += sizes.len() as u64;
        sink.progress.set_total(total);
        let levels: Vec<String> = folder.name.split('/').map(str::to_string).collect();
        let name = super::mailbox_name(&levels)
            .with_context(|| format!("source folder {:?}", folder.name))?;
        // A Gmail `\All` message goes where its labels say; All Mail
        // holds every one of them, so that is where a copy is looked for.
        let role = if gmail && folder.has("\\All") {
            Some(MailboxRole::All)
        } else {
            folder.role()
        };
        let target = super::target_mailbox(store, account, &name, role)?;
        let existing = Existing::load(store, account, target)?;
        let items = if gmail {
            "(UID FLAGS INTERNALDATE X-GM-LABELS BODY.PEEK[])"
        } else {
            "(UID FLAGS INTERNALDATE BODY.PEEK[])"
        };
        let mut chunks: Vec<Vec<u32>> = vec![Vec::new()];
        let mut chunk_bytes = 0;
        for (uid, size) in sizes {
            if let Some(last) = chunks.last_mut()
                && !last.is_empty()
                && (last.len() >= FETCH_CHUNK || chunk_bytes + size > FETCH_BYTES)
            {
                chunks.push(Vec::new());
                chunk_bytes = 0;
            }
            chunk_bytes += size;
            chunks.last_mut().into_iter().for_each(|c| c.push(uid));
        }
        let mut last = after;
        for chunk in &chunks {
            let set: Vec<String> = chunk.iter().map(u32::to_string).collect();
            let mut fetched: Vec<Fetched> = client
                .command(&format!("UID FETCH {} {items}", set.join(",")))?
                .iter()
                .filter_map(parse_fetch)
                .collect();
            fetched.sort_by_key(|f| f.uid);
            let mut here_already = 0;
            for f in fetched {
                last = last.max(f.uid);
                let received = f.received.unwrap_or(0);
                if existing.holds(store, account, &f.body, received) {
                    here_already += 1;
                    continue;
                }
                let keywords = super::keywords(f.flags.iter().map(String::as_str));
                if gmail && folder.has("\\All") {
                    gmail_store(store, account, &mut sink, f, keywords)?;
                    continue;
                }
                sink.add(
                    target,
                    Pending {
                        raw: f.body,
                        keywords,
                        received: f.received,
                    },
                )?;
            }
            sink.flush()?;
            write_state(store, account, &key, validity, last)?;
            skipped += here_already;
            sink.progress.advance(here_already);
        }
    }
    let _ = client.command("LOGOUT");
    sink.progress.finish();
    println!(
        "imported {} messages from {} folders ({skipped} were here already)",
        sink.imported,
        folders.len() - unreadable.len()
    );
    if !too_large.is_empty() {
        bail!(
            "{} messages are larger than {MAX_LITERAL} bytes and were left out: {}",
            too_large.len(),
            too_large.join(", ")
        );
    }
    if !unreadable.is_empty() {
        bail!(
            "the source server would not open {} folders: {}",
            unreadable.len(),
            unreadable.join(", ")
        );
    }
    Ok(())
}

/// Stores a Gmail `\All` message in its first labelled mailbox (Archive
/// without a label) and copies it to the others (one email, many labels).
/// A message with one label goes into the batch; one with several is
/// stored at once (after the batch), as the copies need its UID.
fn gmail_store(
    store: &Store,
    account: AccountId,
    sink: &mut Sink<'_>,
    f: Fetched,
    keywords: Vec<tidings_types::Keyword>,
) -> anyhow::Result<()> {
    let mut targets: Vec<MailboxId> = Vec::new();
    let mut seen = HashSet::new();
    for label in &f.labels {
        let (name, role) = match label.as_str() {
            "\\Inbox" => ("INBOX".to_string(), Some(MailboxRole::Inbox)),
            "\\Sent" => ("Sent".to_string(), Some(MailboxRole::Sent)),
            "\\Draft" => ("Drafts".to_string(), Some(MailboxRole::Drafts)),
            l if l.starts_with('\\') => continue, // \Important, \Starred (= \Flagged)
            // Labels are mailbox names, in modified UTF-7 like LIST's.
            l => (
                tidings_imap_proto::utf7::decode(l.as_bytes()).unwrap_or_else(|_| l.to_string()),
                None,
            ),
        };
        let Ok(name) = MailboxName::new(&name) else {
            tracing::warn!("label {label:?} left out: no valid mailbox name");
            continue;
        };
        let id = super::target_mailbox(store, account, &name, role)?;
        if seen.insert(id) {
            targets.push(id);
        }
    }
    if targets.is_empty() {
        targets.push(super::target_mailbox(
            store,
            account,
            &MailboxName::new("Archive")?,
            Some(MailboxRole::Archive),
        )?);
    }
    if let [only] = targets[..] {
        // One label (the usual case): batched like any other message.
        return sink.add(
            only,
            Pending {
                raw: f.body,
                keywords,
                received: f.received,
            },
        );
    }
    sink.flush()?;
    let appended = store.append(
        account,
        targets[0],
        tidings_store::NewEmail {
            raw: &f.body,
            keywords,
            received: f.received,
        },
    )?;
    for to in &targets[1..] {
        store.copy(account, targets[0], &[appended.uid], *to)?;
    }
    sink.imported += 1;
    sink.progress.advance(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_fetch_and_list() {
        let mut values = Vec::new();
        let mut stack = Vec::new();
        tokenize(
            r#"* 3 FETCH (UID 7 FLAGS (\Seen $x) INTERNALDATE "17-Jul-1996 02:44:25 -0700" BODY[] "#,
            &mut values,
            &mut stack,
        );
        stack
            .last_mut()
            .unwrap()
            .push(Value::Bytes(b"Subject: x\r\n\r\n".to_vec()));
        tokenize(")", &mut values, &mut stack);
        let f = parse_fetch(&Response {
            text: String::new(),
            values,
        })
        .unwrap();
        assert_eq!(f.uid, 7);
        assert_eq!(f.flags, ["\\Seen", "$x"]);
        assert_eq!(f.received, Some(837_596_665));
        assert_eq!(f.body, b"Subject: x\r\n\r\n");
    }

    #[test]
    fn gmail_labels_make_one_email_in_several_mailboxes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_domain("localhost").unwrap();
        let bob = store
            .create_account("bob@localhost", &Secret::new("pw".to_string()))
            .unwrap();
        let mut sink = Sink::new(&store, bob, Progress::new("importing", None));
        let fetched = |uid, labels: &[&str]| Fetched {
            uid,
            size: 0,
            flags: vec![],
            received: Some(1_000_000 + i64::from(uid)),
            body: format!("Subject: {uid}\r\n\r\nhi\r\n").into_bytes(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        };
        let labelled = fetched(1, &["\\Inbox", "Work/Old", "\\Important"]);
        gmail_store(&store, bob, &mut sink, labelled, vec![]).unwrap();
        gmail_store(&store, bob, &mut sink, fetched(2, &[]), vec![]).unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.imported, 2);
        let entries = |name: &str| {
            let m = store
                .mailbox(bob, &MailboxName::new(name).unwrap())
                .unwrap()
                .unwrap();
            store.mailbox_entries(bob, m.id).unwrap()
        };
        let (inbox, work, archive) = (entries("INBOX"), entries("Work/Old"), entries("Archive"));
        assert_eq!((inbox.len(), work.len(), archive.len()), (1, 1, 1));
        assert_eq!(inbox[0].email, work[0].email);
        assert_ne!(inbox[0].email, archive[0].email);
        assert_eq!(inbox[0].received, 1_000_001);
        store.close();
    }
}
