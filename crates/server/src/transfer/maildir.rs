//! Maildir trees (`tidings import maildir`, `tidings export maildir`).
//!
//! A directory holding `cur/` or `new/` is a mailbox. The top directory is
//! INBOX; below it, Maildir++ folders (Dovecot's default and Courier's
//! layout) are `.A.B` → `A/B`, and Dovecot's `LAYOUT=fs` folders are
//! nested directories `A/B` → `A/B`. Folder names are IMAP modified UTF-7
//! as Dovecot writes them (decoded; a name that is not is taken as it is).
//! Flags come from a file name's `:2,` info: `D` draft, `F` flagged,
//! `P` passed (`$Forwarded`), `R` replied, `S` seen, `T` trashed
//! (`\Deleted`), and `a`–`z` the keywords that folder's `dovecot-keywords`
//! file names. Courier-IMAP keeps keywords apart, in a folder's
//! `courierimapkeywords/`: the file `:list` names the keywords (one per
//! line), then after an empty line maps message base names (the file name
//! before `:2,`) to keyword numbers (`name:0 3`); a file `.N.name` (the
//! highest `N` wins) or `name` (which beats them) in that directory is a
//! later update, the message's whole keyword list, one per line. Both are
//! read, and a message gets the keywords of either. The INTERNALDATE is the
//! file's modification time, which is what Dovecot uses.
//!
//! Export writes the Maildir++ layout, one folder per mailbox except the
//! virtual All Mail and Starred (their mail is in the other folders), a
//! `dovecot-keywords` per folder, files named `<time>.M<n>P<pid>.tidings,S=<size>:2,<flags>`
//! with the INTERNALDATE as their modification time. A `.` inside a level
//! of a mailbox name (Maildir++'s separator) is written as `_`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tidings_store::Store;
use tidings_types::{Keyword, MailboxName, MailboxRole};

use super::{MAX_MESSAGE, Pending, Progress, Sink};

/// One mailbox found in a tree: its name and directory.
struct Folder {
    name: MailboxName,
    dir: PathBuf,
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// A folder name as Dovecot wrote it (modified UTF-7), as UTF-8.
fn decode_name(level: &str) -> String {
    tidings_imap_proto::utf7::decode(level.as_bytes()).unwrap_or_else(|_| level.to_string())
}

/// Every mailbox of the tree at `root`, INBOX first.
fn folders(root: &Path) -> anyhow::Result<Vec<Folder>> {
    let mut out = Vec::new();
    if is_maildir(root) {
        out.push(Folder {
            name: MailboxName::new("INBOX")?,
            dir: root.to_path_buf(),
        });
    }
    walk(root, &[], &mut out)?;
    if out.is_empty() {
        anyhow::bail!(
            "{} is no maildir: no cur/ or new/ directory in it or its folders",
            root.display()
        );
    }
    Ok(out)
}

fn walk(dir: &Path, levels: &[String], out: &mut Vec<Folder>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !path.is_dir() || ["cur", "new", "tmp"].contains(&name.as_str()) {
            continue;
        }
        let mut names: Vec<String> = if levels.is_empty() && name.len() > 1 && name.starts_with('.')
        {
            // Maildir++: `.A.B`, with Courier's `.INBOX.A` style tolerated.
            name[1..].split('.').map(decode_name).collect()
        } else if !name.starts_with('.') {
            let mut l = levels.to_vec();
            l.push(decode_name(&name));
            l
        } else {
            continue;
        };
        if names.len() > 1 && names[0].eq_ignore_ascii_case("INBOX") && levels.is_empty() {
            names.remove(0);
        }
        if is_maildir(&path) {
            let name = super::mailbox_name(&names)
                .with_context(|| format!("folder {}", path.display()))?;
            out.push(Folder {
                name,
                dir: path.clone(),
            });
        }
        if !name.starts_with('.') {
            walk(&path, &names, out)?;
        }
    }
    Ok(())
}

/// The keywords a folder's `dovecot-keywords` names by letter.
fn keyword_letters(dir: &Path) -> BTreeMap<char, String> {
    let mut map = BTreeMap::new();
    let Ok(text) = fs::read_to_string(dir.join("dovecot-keywords")) else {
        return map;
    };
    for line in text.lines() {
        if let Some((n, name)) = line.split_once(' ')
            && let Ok(n) = n.trim().parse::<u8>()
            && n < 26
        {
            map.insert(char::from(b'a' + n), name.trim().to_string());
        }
    }
    map
}

/// Courier-IMAP's keywords of a folder, by message base name (see the
/// module docs for the format). Entries that do not parse are skipped.
fn courier_keywords(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let kw_dir = dir.join("courierimapkeywords");
    let mut by_message: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(text) = fs::read_to_string(kw_dir.join(":list")) {
        let mut lines = text.lines();
        let names: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
        for line in lines {
            let Some((base, numbers)) = line.rsplit_once(':') else {
                continue;
            };
            let keywords = numbers
                .split_whitespace()
                .filter_map(|n| n.parse::<usize>().ok())
                .filter_map(|n| names.get(n))
                .map(|k| (*k).to_string())
                .collect();
            by_message.insert(base.to_string(), keywords);
        }
    }
    // Updates: `name` beats every `.N.name`; among those the highest N.
    let mut updates: BTreeMap<String, (Option<u64>, PathBuf)> = BTreeMap::new();
    for entry in fs::read_dir(&kw_dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file == ":list" {
            continue;
        }
        let (n, base) = match file.strip_prefix('.').and_then(|r| r.split_once('.')) {
            Some((n, base)) => match n.parse::<u64>() {
                Ok(n) => (Some(n), base.to_string()),
                Err(_) => continue,
            },
            None => (None, file.clone()),
        };
        let newer = match updates.get(&base) {
            None => true,
            Some((None, _)) => false,
            Some((Some(old), _)) => n.is_none_or(|n| n > *old),
        };
        if newer {
            updates.insert(base, (n, entry.path()));
        }
    }
    for (base, (_, path)) in updates {
        if let Ok(text) = fs::read_to_string(&path) {
            let keywords = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            by_message.insert(base, keywords);
        }
    }
    by_message
}

/// A message file's base name: before the `:2,` (or `!2,`) info.
fn base_name(file_name: &str) -> &str {
    file_name
        .rsplit_once(":2,")
        .or_else(|| file_name.rsplit_once("!2,"))
        .map_or(file_name, |(base, _)| base)
}

/// The flags of a file name's `:2,` info.
fn flags(file_name: &str, letters: &BTreeMap<char, String>) -> Vec<String> {
    let Some((_, info)) = file_name
        .rsplit_once(":2,")
        .or_else(|| file_name.rsplit_once("!2,"))
    else {
        return Vec::new();
    };
    info.chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft".into()),
            'F' => Some("\\Flagged".into()),
            'P' => Some("$Forwarded".into()),
            'R' => Some("\\Answered".into()),
            'S' => Some("\\Seen".into()),
            'T' => Some("\\Deleted".into()),
            c => letters.get(&c).cloned(),
        })
        .collect()
}

/// A message file: its path, name and modification time.
struct MessageFile {
    path: PathBuf,
    name: String,
    mtime: Option<i64>,
}

fn message_files(dir: &Path) -> anyhow::Result<Vec<MessageFile>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if name.starts_with('.') || !meta.is_file() {
                continue;
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            if meta.len() > MAX_MESSAGE {
                anyhow::bail!(
                    "{} is larger than {MAX_MESSAGE} bytes",
                    entry.path().display()
                );
            }
            files.push(MessageFile {
                path: entry.path(),
                name,
                mtime,
            });
        }
    }
    // Oldest first, as they arrived.
    files.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
    Ok(files)
}

/// The store's role for a folder name common in other servers.
fn role_of(name: &MailboxName) -> Option<MailboxRole> {
    match name.as_str() {
        "INBOX" => Some(MailboxRole::Inbox),
        "Sent" | "Sent Messages" | "Sent Items" => Some(MailboxRole::Sent),
        "Drafts" => Some(MailboxRole::Drafts),
        "Trash" | "Deleted Messages" | "Deleted Items" => Some(MailboxRole::Trash),
        "Junk" | "Spam" => Some(MailboxRole::Junk),
        "Archive" => Some(MailboxRole::Archive),
        _ => None,
    }
}

/// `tidings import maildir DIR --to EMAIL`.
pub fn import(store: &Store, dir: &Path, to: &str) -> anyhow::Result<()> {
    let account = super::account(store, to)?;
    // Read the whole tree's listing first: a bad tree imports nothing.
    let mut plan = Vec::new();
    let mut total = 0u64;
    for folder in folders(dir)? {
        let files = message_files(&folder.dir)?;
        total += files.len() as u64;
        plan.push((folder, files));
    }
    let mut sink = Sink::new(store, account, Progress::new("importing", Some(total)));
    let mut mailboxes = 0;
    for (folder, files) in plan {
        sink.progress.set_message(folder.name.as_str());
        let target = super::target_mailbox(store, account, &folder.name, role_of(&folder.name))?;
        mailboxes += 1;
        let letters = keyword_letters(&folder.dir);
        let courier = courier_keywords(&folder.dir);
        for f in files {
            let raw =
                fs::read(&f.path).with_context(|| format!("cannot read {}", f.path.display()))?;
            if raw.iter().all(u8::is_ascii_whitespace) {
                tracing::warn!("{} is empty: left out", f.path.display());
                sink.progress.advance(1);
                continue;
            }
            let mut flags = flags(&f.name, &letters);
            if let Some(more) = courier.get(base_name(&f.name)) {
                for k in more {
                    if !flags.contains(k) {
                        flags.push(k.clone());
                    }
                }
            }
            sink.add(
                target,
                Pending {
                    raw: super::to_crlf(&raw),
                    keywords: super::keywords(flags.iter().map(String::as_str)),
                    received: f.mtime,
                },
            )?;
        }
    }
    sink.flush()?;
    sink.progress.finish();
    println!(
        "imported {} messages into {mailboxes} mailboxes",
        sink.imported
    );
    Ok(())
}

/// The directory of mailbox `name` in an exported Maildir++ tree.
fn folder_dir(root: &Path, name: &MailboxName) -> PathBuf {
    if name.as_str() == "INBOX" {
        return root.to_path_buf();
    }
    let levels: Vec<String> = name
        .as_str()
        .split('/')
        .map(|l| tidings_imap_proto::utf7::encode(l).replace('.', "_"))
        .collect();
    root.join(format!(".{}", levels.join(".")))
}

/// `tidings export maildir --from EMAIL --out DIR`: DIR must not exist or
/// be empty.
pub fn export(store: &Store, from: &str, out: &Path) -> anyhow::Result<()> {
    let account = super::account(store, from)?;
    if out.exists()
        && fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_some()
    {
        anyhow::bail!("{} exists and is not empty", out.display());
    }
    let mailboxes: Vec<_> = store
        .mailboxes(account)?
        .into_iter()
        .filter(|m| !matches!(m.role, Some(MailboxRole::All | MailboxRole::Flagged)))
        .collect();
    let mut progress = Progress::new("exporting", None);
    let mut total = 0u64;
    let pid = std::process::id();
    for m in &mailboxes {
        progress.set_message(m.name.as_str());
        let dir = folder_dir(out, &m.name);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let mut letters: Vec<String> = Vec::new();
        let entries = store.mailbox_entries(account, m.id)?;
        let mut n = 0u64;
        for e in &entries {
            let raw = match store.email_raw(account, e.email) {
                Ok(raw) => super::to_lf(&raw),
                Err(tidings_store::StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut info = String::new();
            let has = |k: &str| e.keywords.iter().any(|x| x.matches(k));
            for (c, f) in [
                ('D', Keyword::DRAFT),
                ('F', Keyword::FLAGGED),
                ('P', Keyword::FORWARDED),
                ('R', Keyword::ANSWERED),
                ('S', Keyword::SEEN),
            ] {
                if has(f) {
                    info.push(c);
                }
            }
            if e.deleted {
                info.push('T');
            }
            for k in &e.keywords {
                let k = k.as_str();
                if k.starts_with('\\') || k.eq_ignore_ascii_case(Keyword::FORWARDED) {
                    continue;
                }
                let i = match letters.iter().position(|l| l == k) {
                    Some(i) => i,
                    None if letters.len() < 26 => {
                        letters.push(k.to_string());
                        letters.len() - 1
                    }
                    None => {
                        tracing::warn!("keyword {k} left out: a maildir folder holds 26");
                        continue;
                    }
                };
                info.push(char::from(b'a' + i as u8));
            }
            let mut chars: Vec<char> = info.chars().collect();
            chars.sort_unstable();
            let info: String = chars.into_iter().collect();
            let base = format!("{}.M{}P{pid}.tidings,S={}", e.received, e.uid.0, raw.len());
            let tmp = dir.join("tmp").join(&base);
            let mut f = fs::File::create_new(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            f.write_all(&raw)?;
            let t = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(e.received).unwrap_or(0));
            f.set_modified(t)?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join("cur").join(format!("{base}:2,{info}")))?;
            n += 1;
        }
        if !letters.is_empty() {
            let text: String = letters
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{i} {k}\n"))
                .collect();
            fs::write(dir.join("dovecot-keywords"), text)?;
        }
        total += n;
        progress.advance(n);
    }
    progress.finish();
    println!(
        "exported {total} messages of {} mailboxes to {}",
        mailboxes.len(),
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_info() {
        let mut letters = BTreeMap::new();
        letters.insert('a', "$Label1".to_string());
        assert_eq!(
            flags("1.M1P2.host,S=10:2,FSa", &letters),
            ["\\Flagged", "\\Seen", "$Label1"]
        );
        assert!(flags("1.M1P2.host,S=10", &letters).is_empty());
    }

    #[test]
    fn courier_updates_beat_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let kw = dir.path().join("courierimapkeywords");
        fs::create_dir(&kw).unwrap();
        fs::write(kw.join(":list"), "Alpha\nBeta\n\none:0 1\ntwo:1\nthree:0\n").unwrap();
        fs::write(kw.join(".3.two"), "Gamma\n").unwrap();
        fs::write(kw.join(".7.two"), "Delta\n").unwrap();
        fs::write(kw.join("three"), "Beta\n").unwrap();
        fs::write(kw.join(".9.three"), "Alpha\n").unwrap();
        let got = courier_keywords(dir.path());
        assert_eq!(got["one"], ["Alpha", "Beta"]);
        assert_eq!(got["two"], ["Delta"]);
        assert_eq!(got["three"], ["Beta"]);
        assert_eq!(base_name("one:2,S"), "one");
        assert_eq!(base_name("one!2,S"), "one");
        assert_eq!(base_name("one"), "one");
    }
}
