//! Online backup and restore of an SQLite store: a consistent copy of the
//! database and of every blob file it names, taken while a server runs.
//!
//! Implementation notes:
//! - The database is copied with `VACUUM INTO` on a read-only connection:
//!   one read transaction, so the copy is the state of one commit, and the
//!   server's writer goes on meanwhile (WAL).
//! - Blob files are then copied by the names in the *copy*. Files are
//!   content-addressed and never change, so any file found is right; but one
//!   the copy names may have been collected since the snapshot (its last
//!   email destroyed after it). Then the whole copy is taken again, up to
//!   `ATTEMPTS` (5) times; files copied before are kept when still named.
//! - Everything written is fsynced (files, then their directories) before
//!   the command reports success; files of an abandoned attempt that the
//!   final copy does not name are removed.
//! - Restore copies a backup into an empty data directory and opens it; the
//!   caller then runs `check`.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

/// How many snapshots a backup takes before giving up (each retry means a
/// blob was collected between the snapshot and its copy).
const ATTEMPTS: usize = 5;

/// What a backup or restore copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    pub emails: u64,
    pub blob_files: u64,
    /// Bytes of the database and blob files together.
    pub bytes: u64,
}

fn blob_path(root: &Path, hash: &str) -> Option<PathBuf> {
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| root.join(&hash[..2]).join(&hash[2..]))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Copies `from` to `to` (a temporary name, fsync, rename).
fn copy_durably(from: &Path, to: &Path) -> io::Result<u64> {
    let dir = to.parent().unwrap_or(Path::new("."));
    crate::private::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        to.file_name().and_then(|n| n.to_str()).unwrap_or("blob")
    ));
    let mut src = fs::File::open(from)?;
    let mut dst = crate::private::create_file(&tmp)?;
    let n = io::copy(&mut src, &mut dst)?;
    dst.sync_all()?;
    fs::rename(&tmp, to)?;
    Ok(n)
}

/// The file blobs a database names, and its email count.
fn named_blobs(db: &Path) -> Result<(Vec<String>, u64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT hash FROM blobs WHERE data IS NULL ORDER BY hash")?;
    let hashes = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let emails: i64 = conn.query_row("SELECT count(*) FROM emails", [], |r| r.get(0))?;
    Ok((hashes, u64::try_from(emails).unwrap_or(0)))
}

/// An empty directory to write into (made 0700 if it does not exist).
fn empty_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if fs::read_dir(dir)?.next().is_some() {
            return Err(StoreError::Refused(format!(
                "{} is not empty",
                dir.display()
            )));
        }
    } else {
        crate::private::create_dir_all(dir)?;
    }
    Ok(())
}

/// Backs up the store whose database is `db_path` and whose blob files are
/// under `blob_root` into the new directory `dest`.
pub(crate) fn backup(db_path: &Path, blob_root: &Path, dest: &Path) -> Result<BackupReport> {
    empty_dir(dest)?;
    let dest_db = dest.join("tidings.db");
    let dest_blobs = dest.join("blobs");
    let mut copied: HashSet<String> = HashSet::new();
    for _ in 0..ATTEMPTS {
        let _ = fs::remove_file(&dest_db);
        {
            let conn = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            conn.execute_batch("PRAGMA busy_timeout=10000;")?;
            let target = dest_db
                .to_str()
                .ok_or_else(|| StoreError::Refused("the backup path is not UTF-8".into()))?;
            conn.execute("VACUUM INTO ?1", [target])?;
        }
        crate::private::restrict_file(&dest_db)?;
        let (hashes, emails) = named_blobs(&dest_db)?;
        let mut report = BackupReport {
            emails,
            blob_files: 0,
            bytes: fs::metadata(&dest_db)?.len(),
        };
        let mut collected = false;
        for h in &hashes {
            let (Some(from), Some(to)) = (blob_path(blob_root, h), blob_path(&dest_blobs, h))
            else {
                return Err(StoreError::Corrupt(format!("blob name {h}")));
            };
            if copied.contains(h) {
                report.bytes += fs::metadata(&to)?.len();
                report.blob_files += 1;
                continue;
            }
            match copy_durably(&from, &to) {
                Ok(n) => {
                    copied.insert(h.clone());
                    report.bytes += n;
                    report.blob_files += 1;
                }
                // Collected after the snapshot: take a new one.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    collected = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if collected {
            continue;
        }
        // Files of an earlier attempt the final copy does not name.
        let named: HashSet<&String> = hashes.iter().collect();
        for h in copied.iter().filter(|h| !named.contains(h)) {
            if let Some(p) = blob_path(&dest_blobs, h) {
                let _ = fs::remove_file(p);
            }
        }
        let mut dirs: HashSet<PathBuf> = hashes
            .iter()
            .filter_map(|h| blob_path(&dest_blobs, h))
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        dirs.insert(dest_blobs.clone());
        dirs.insert(dest.to_path_buf());
        for d in dirs.iter().filter(|d| d.is_dir()) {
            sync_dir(d)?;
        }
        fs::File::open(&dest_db)?.sync_all()?;
        return Ok(report);
    }
    Err(StoreError::Refused(format!(
        "the store changed under {ATTEMPTS} backups in a row (blobs collected between snapshot and copy); try again"
    )))
}

/// Copies the backup in `src` into the empty (or new) data directory
/// `data_dir`.
pub(crate) fn restore(src: &Path, data_dir: &Path) -> Result<BackupReport> {
    let src_db = src.join("tidings.db");
    if !src_db.is_file() {
        return Err(StoreError::NotFound(format!(
            "{} (not a tidings backup)",
            src_db.display()
        )));
    }
    empty_dir(data_dir)?;
    let (hashes, emails) = named_blobs(&src_db)?;
    let mut report = BackupReport {
        emails,
        ..BackupReport::default()
    };
    let (src_blobs, dest_blobs) = (src.join("blobs"), data_dir.join("blobs"));
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    for h in &hashes {
        let (Some(from), Some(to)) = (blob_path(&src_blobs, h), blob_path(&dest_blobs, h)) else {
            return Err(StoreError::Corrupt(format!("blob name {h}")));
        };
        report.bytes += copy_durably(&from, &to)
            .map_err(|e| StoreError::Corrupt(format!("backup blob {h}: {e}")))?;
        report.blob_files += 1;
        if let Some(d) = to.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    report.bytes += copy_durably(&src_db, &data_dir.join("tidings.db"))?;
    dirs.insert(dest_blobs);
    dirs.insert(data_dir.to_path_buf());
    for d in dirs.iter().filter(|d| d.is_dir()) {
        sync_dir(d)?;
    }
    Ok(report)
}
