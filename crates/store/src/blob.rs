//! Content-addressed blobs, named by the SHA-256 of their bytes, so one
//! message to fifty local recipients is stored once.
//!
//! A blob of up to [`INLINE_MAX`] bytes lives in the database row itself, so
//! the one WAL fsync of a group commit makes the whole group durable; larger
//! ones are files `blobs/ab/cdef…`, each fsynced on its own. (SQLite's own
//! measurements put the crossover between in-database and file blobs near
//! 100 KB: <https://www.sqlite.org/intern-v-extern-blob.html>.)
//!
//! Implementation notes:
//! - Directories are made 0700 and files 0600 (`private`).
//! - A blob is written to a temporary file, fsynced, renamed into place and
//!   its directory fsynced, all before the metadata transaction that names it
//!   commits (docs/design.md, "Durability").
//! - Files are deleted only by the writer thread, after the commit that removed
//!   the last row naming them; the writer also re-checks a blob's file inside
//!   the transaction that adds a row for it, so a concurrent delete cannot
//!   leave a row without its file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Blobs up to this size are kept inside the database.
pub const INLINE_MAX: usize = 64 * 1024;

/// Whether a blob of `len` bytes is kept inside the database.
pub fn is_inline(len: usize) -> bool {
    len <= INLINE_MAX
}

/// The hex SHA-256 of a blob's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_digest(Sha256::digest(bytes).as_slice())
    }

    /// The name of a SHA-256 `digest` computed elsewhere (as bytes arrive).
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut s = String::with_capacity(64);
        for &b in digest {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        BlobHash(s)
    }

    /// Accepts only the 64 lower-case hex digits this type writes.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| BlobHash(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The blob directory.
#[derive(Debug)]
pub(crate) struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    pub fn open(root: PathBuf) -> io::Result<Self> {
        crate::private::create_dir_all(&root.join("tmp"))?;
        Ok(BlobDir { root })
    }

    /// The directory the blob files are under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        self.root.join(&hash.0[..2]).join(&hash.0[2..])
    }

    pub fn exists(&self, hash: &BlobHash) -> bool {
        self.path(hash).is_file()
    }

    /// Writes the blob durably unless a file for it already exists.
    pub fn write(&self, hash: &BlobHash, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(hash);
        if path.is_file() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let fresh_dir = !dir.is_dir();
        crate::private::create_dir_all(&dir)?;
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}.{:?}",
            hash.0,
            std::process::id(),
            std::thread::current().id()
        ));
        let result = (|| {
            let mut f = crate::private::create_file(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&dir)?;
            if fresh_dir {
                sync_dir(&self.root)?;
            }
            Ok(())
        })();
        match &result {
            Ok(()) => tidings_metrics::blob_written(bytes.len() as u64),
            Err(_) => {
                let _ = fs::remove_file(&tmp);
            }
        }
        result
    }

    /// Where in-flight files go (spool files included: same filesystem).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Makes the durable (fsynced) file `from` the blob's file, unless one
    /// exists already: a hard link, so no byte is copied; the directory is
    /// fsynced. Where links are refused, a copy is written instead.
    pub fn link(&self, hash: &BlobHash, from: &Path) -> io::Result<()> {
        let path = self.path(hash);
        if path.is_file() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let fresh_dir = !dir.is_dir();
        crate::private::create_dir_all(&dir)?;
        match fs::hard_link(from, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(_) => {
                let tmp = self.root.join("tmp").join(format!(
                    "{}.{}.{:?}",
                    hash.0,
                    std::process::id(),
                    std::thread::current().id()
                ));
                let result = (|| {
                    let mut src = File::open(from)?;
                    let mut f = crate::private::create_file(&tmp)?;
                    io::copy(&mut src, &mut f)?;
                    f.sync_all()?;
                    fs::rename(&tmp, &path)
                })();
                if result.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                result?;
            }
        }
        sync_dir(&dir)?;
        if fresh_dir {
            sync_dir(&self.root)?;
        }
        if let Ok(meta) = fs::metadata(&path) {
            tidings_metrics::blob_written(meta.len());
        }
        Ok(())
    }

    /// The first `len` bytes of a blob (fewer if it is shorter).
    pub fn read_prefix(&self, hash: &BlobHash, len: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let file = fs::File::open(self.path(hash))?;
        let mut out = Vec::new();
        file.take(len).read_to_end(&mut out)?;
        Ok(out)
    }

    pub fn remove(&self, hash: &BlobHash) -> io::Result<()> {
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Every blob file present, for `check`.
    pub fn list(&self) -> io::Result<Vec<BlobHash>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let name = f?.file_name().to_string_lossy().into_owned();
                if let Some(h) = BlobHash::parse(&format!("{prefix}{name}")) {
                    out.push(h);
                }
            }
        }
        Ok(out)
    }

    /// Removes temporary files left by a crash mid-write.
    pub fn clean_tmp(&self) -> io::Result<()> {
        for f in fs::read_dir(self.root.join("tmp"))? {
            let _ = fs::remove_file(f?.path());
        }
        Ok(())
    }
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_is_idempotent_and_addressed_by_content() {
        let t = tempfile::tempdir().unwrap();
        let d = BlobDir::open(t.path().join("blobs")).unwrap();
        let h = BlobHash::of(b"hello");
        assert_eq!(
            h.as_str(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        d.write(&h, b"hello").unwrap();
        d.write(&h, b"hello").unwrap();
        assert_eq!(fs::read(d.path(&h)).unwrap(), b"hello");
        assert_eq!(d.list().unwrap(), vec![h.clone()]);
        d.remove(&h).unwrap();
        d.remove(&h).unwrap();
        assert!(!d.exists(&h));
    }
}
