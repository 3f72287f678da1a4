//! Message bodies on their way in, held so that memory does not grow with
//! message size × connections (hardening issue, item 5).
//!
//! A [`Spool`] takes a body as it arrives (an SMTP DATA or BDAT body, an
//! IMAP APPEND literal). The first [`SPOOL_THRESHOLD`] bytes stay in
//! memory; past that everything goes to a temporary file in the blob
//! directory (`blobs/tmp/spool.*`, mode 0600, on the same filesystem as the
//! blobs), hashed (the SHA-256 that names the blob) and counted on the way.
//! [`Spool::finish`] fsyncs the file and gives a [`Spooled`] body; dropping
//! either removes the file, so a client that vanishes mid-body leaves
//! nothing behind (and a crash leaves only `blobs/tmp/` files, which the
//! store deletes when it opens).
//!
//! When the store ingests a spooled body ([`crate::Backend::deliver_spooled`],
//! [`crate::Backend::append_spooled`]) the temporary file *becomes* the blob
//! file by a hard link (then a directory fsync): the bytes are written to
//! disk once and never copied again. The link, not a rename, keeps the
//! temporary name valid until the metadata commits, so the writer can link
//! it again if a concurrent delete removed the blob file meanwhile.
//!
//! Work that needs a whole message in memory (MIME parsing at ingest,
//! DKIM signing and verification, whose libraries take `&[u8]`) loads it
//! with [`Spooled::load`], under the process-wide [`MemoryBudget`]
//! ([`memory_budget`], `[limits] message_memory`, default
//! [`DEFAULT_MEMORY_BUDGET`]): such memory is bounded by the budget, not by
//! connections × size. A message larger than the whole budget takes all of
//! it, alone. Waiting for the budget blocks the calling thread: call from a
//! blocking thread (`spawn_blocking`), never on an async worker.
//!
//! Writes to the spool file go through a 64 KiB buffer and are plain
//! blocking writes into the page cache (no fsync until `finish`); they are
//! short enough to make from an async task, as the sessions do.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::blob::BlobHash;

/// Bodies up to this size stay in memory; larger ones go to a file.
pub const SPOOL_THRESHOLD: usize = 1024 * 1024;

/// The default of [`memory_budget`]: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

/// Bytes of whole messages that may be in memory at once, over all
/// sessions, for the work that needs a message whole (see the module docs).
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// A share of the [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Permit {
    budget: &'static MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    fn new(total: u64) -> Self {
        MemoryBudget {
            total: total.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes taken now.
    pub fn in_use(&self) -> u64 {
        self.used.lock().map_or(0, |u| *u)
    }

    /// Takes `bytes` of the budget (all of it when `bytes` is larger),
    /// waiting until they are free. Blocks: call from a blocking thread.
    pub fn acquire(&'static self, bytes: u64) -> Permit {
        let bytes = bytes.min(self.total);
        let mut used = match self.used.lock() {
            Ok(u) => u,
            Err(poisoned) => poisoned.into_inner(),
        };
        while *used + bytes > self.total {
            used = match self.freed.wait(used) {
                Ok(u) => u,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        *used += bytes;
        Permit {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut used = match self.budget.used.lock() {
            Ok(u) => u,
            Err(poisoned) => poisoned.into_inner(),
        };
        *used = used.saturating_sub(self.bytes);
        self.budget.freed.notify_all();
    }
}

static BUDGET: OnceLock<MemoryBudget> = OnceLock::new();

/// Sets the size of the process-wide [`MemoryBudget`]; only the first call
/// before any use counts (the server calls it once at start). Returns
/// whether it took effect.
pub fn set_memory_budget(bytes: u64) -> bool {
    BUDGET.set(MemoryBudget::new(bytes)).is_ok()
}

/// The process-wide [`MemoryBudget`] ([`DEFAULT_MEMORY_BUDGET`] unless
/// [`set_memory_budget`] was called first).
pub fn memory_budget() -> &'static MemoryBudget {
    BUDGET.get_or_init(|| MemoryBudget::new(DEFAULT_MEMORY_BUDGET))
}

/// A temporary file, removed when dropped.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A body being received; see the module docs.
#[derive(Debug)]
pub struct Spool {
    /// Where a file goes (`blobs/tmp`); `None`: memory only.
    dir: Option<PathBuf>,
    threshold: usize,
    mem: Vec<u8>,
    file: Option<(TempFile, BufWriter<File>)>,
    hasher: Sha256,
    len: u64,
}

impl Spool {
    /// A spool whose bodies over `threshold` bytes go to a file in `dir`.
    pub fn new(dir: Option<PathBuf>, threshold: usize) -> Self {
        Spool {
            dir,
            threshold,
            mem: Vec::new(),
            file: None,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// A spool that keeps everything in memory (for backends without files).
    pub fn in_memory() -> Self {
        Spool::new(None, usize::MAX)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the body has gone to a file.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        if let Some((_, w)) = &mut self.file {
            return w.write_all(bytes);
        }
        self.mem.extend_from_slice(bytes);
        if self.mem.len() > self.threshold
            && let Some(dir) = &self.dir
        {
            let path = dir.join(format!(
                "spool.{}.{}.{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            ));
            let file = crate::private::create_file(&path)?;
            let temp = TempFile { path };
            let mut w = BufWriter::with_capacity(64 * 1024, file);
            w.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some((temp, w));
        }
        Ok(())
    }

    /// Copies everything `reader` gives into the spool, 64 KiB at a time.
    pub fn write_from(&mut self, reader: &mut impl Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let got = match reader.read(&mut buf) {
                Ok(0) => return Ok(n),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write(&buf[..got])?;
            n += got as u64;
        }
    }

    /// The body as received: a file is flushed and fsynced (a blob must
    /// be durable before the metadata naming it commits).
    pub fn finish(self) -> io::Result<Spooled> {
        let hash = BlobHash::from_digest(self.hasher.finalize().as_slice());
        let data = match self.file {
            None => Data::Mem(self.mem),
            Some((temp, w)) => {
                let file = w.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                drop(file);
                Data::File { temp }
            }
        };
        Ok(Spooled {
            hash,
            len: self.len,
            data,
        })
    }
}

#[derive(Debug)]
enum Data {
    Mem(Vec<u8>),
    File { temp: TempFile },
}

/// A complete body ([`Spool::finish`]): its bytes in memory or in a
/// temporary file, their hash and length.
#[derive(Debug)]
pub struct Spooled {
    hash: BlobHash,
    len: u64,
    data: Data,
}

/// A [`Spooled`] body loaded whole, holding its share of the
/// [`MemoryBudget`] until dropped.
#[derive(Debug)]
pub struct Loaded<'a> {
    bytes: Cow<'a, [u8]>,
    _permit: Option<Permit>,
}

impl std::ops::Deref for Loaded<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Loaded<'_> {
    /// The bytes, owned (still counted against the budget only while the
    /// `Loaded` lives: the caller takes over the memory).
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes.into_owned()
    }
}

impl Spooled {
    /// A body already in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Spooled {
            hash: BlobHash::of(&bytes),
            len: bytes.len() as u64,
            data: Data::Mem(bytes),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of the bytes (the blob's name).
    pub fn hash(&self) -> &BlobHash {
        &self.hash
    }

    /// The temporary file holding the bytes, when they are not in memory.
    pub fn path(&self) -> Option<&Path> {
        match &self.data {
            Data::Mem(_) => None,
            Data::File { temp, .. } => Some(&temp.path),
        }
    }

    /// The bytes when they are in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            Data::Mem(b) => Some(b),
            Data::File { .. } => None,
        }
    }

    /// A reader over the bytes from the start.
    pub fn reader(&self) -> io::Result<SpooledReader<'_>> {
        Ok(match &self.data {
            Data::Mem(b) => SpooledReader::Mem(io::Cursor::new(b)),
            // Opened anew: two readers never share an offset.
            Data::File { temp } => SpooledReader::File(io::BufReader::with_capacity(
                64 * 1024,
                File::open(&temp.path)?,
            )),
        })
    }

    /// The first `len` bytes (fewer if the body is shorter), without
    /// loading the rest.
    pub fn read_prefix(&self, len: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader()?.take(len).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The whole body in memory, under the [`MemoryBudget`] (`factor`
    /// times its length is taken: what the caller's work allocates
    /// beside it, e.g. 2 for MIME parsing, which decodes the parts).
    /// Blocks while the budget is taken: call from a blocking thread.
    pub fn load(&self, factor: u64) -> io::Result<Loaded<'_>> {
        match &self.data {
            Data::Mem(b) if b.len() <= SPOOL_THRESHOLD => Ok(Loaded {
                bytes: Cow::Borrowed(b),
                _permit: None,
            }),
            Data::Mem(b) => Ok(Loaded {
                bytes: Cow::Borrowed(b),
                // In memory already; the work on it still counts.
                _permit: Some(
                    memory_budget().acquire(self.len.saturating_mul(factor.saturating_sub(1))),
                ),
            }),
            Data::File { .. } => {
                let permit = memory_budget().acquire(self.len.saturating_mul(factor.max(1)));
                let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
                self.reader()?.read_to_end(&mut bytes)?;
                Ok(Loaded {
                    bytes: Cow::Owned(bytes),
                    _permit: Some(permit),
                })
            }
        }
    }
}

/// Reads a [`Spooled`] body.
#[derive(Debug)]
pub enum SpooledReader<'a> {
    Mem(io::Cursor<&'a Vec<u8>>),
    File(io::BufReader<File>),
}

impl Read for SpooledReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpooledReader::Mem(c) => c.read(buf),
            SpooledReader::File(f) => f.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_in_memory_large_ones_go_to_a_file_removed_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let mut s = Spool::new(Some(t.path().to_path_buf()), 10);
        s.write(b"hello").unwrap();
        assert!(!s.on_disk());
        s.write(b" world, and more").unwrap();
        assert!(s.on_disk());
        let done = s.finish().unwrap();
        assert_eq!(done.len(), 21);
        assert_eq!(done.hash(), &BlobHash::of(b"hello world, and more"));
        let path = done.path().unwrap().to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(done.read_prefix(5).unwrap(), b"hello");
        assert_eq!(&*done.load(1).unwrap(), b"hello world, and more");
        drop(done);
        assert!(!path.exists());

        let mut s = Spool::new(Some(t.path().to_path_buf()), 10);
        s.write(&[b'x'; 100]).unwrap();
        drop(s);
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_budget_counts_and_caps_what_is_taken() {
        static B: OnceLock<MemoryBudget> = OnceLock::new();
        let b = B.get_or_init(|| MemoryBudget::new(100));
        let p = b.acquire(1000);
        assert_eq!(b.in_use(), 100);
        drop(p);
        let p1 = b.acquire(40);
        let p2 = b.acquire(60);
        assert_eq!(b.in_use(), 100);
        let waiter = std::thread::spawn(move || {
            let _p = b.acquire(50);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(p1);
        drop(p2);
        waiter.join().unwrap();
        assert_eq!(b.in_use(), 0);
    }
}
