//! The PostgreSQL backend's side of the S3 blob store (`crate::s3` says
//! the rules): pinning and PUTting blobs before a write, reading them back,
//! the collector, and `check`'s look at the bucket.
//!
//! The pin: a *shared* advisory lock on each hash (key space
//! [`LOCK_CLASS`], the hash's first 32 bits), taken by the write's
//! transaction before the PUT and held until it commits. The collector
//! takes the same lock *exclusively* (in its transaction) before it looks
//! at the row and the object again and deletes: it either runs before the
//! PUT (which then stores the bytes anew) or after the commit (and sees
//! the row).

use std::collections::HashSet;

use super::{PgBackend, db_error, unix_now};
use crate::blob::BlobHash;
use crate::postgres::rows::{PgCtx, Prepared};
use crate::{CheckReport, Result, StoreError};

/// The first key of the advisory locks on blob hashes ("S3OB"); the
/// two-key form is a key space apart from the one-key locks of
/// migrations and POP3.
const LOCK_CLASS: i32 = 0x5333_4f42;

/// Where a `blobs` row's bytes are (its `location` column).
pub(crate) const IN_S3: &str = "s3";

/// The second key of `hash`'s advisory lock: its first 32 bits.
fn lock_key(hash: &BlobHash) -> i32 {
    u32::from_str_radix(&hash.as_str()[..8], 16).unwrap_or(0) as i32
}

impl PgCtx<'_> {
    /// With the S3 store: PUTs `msgs`' bytes, first thing in the write
    /// that references them (before any account row is locked, so no
    /// account waits on S3), under a shared advisory lock on each hash that
    /// this transaction holds until it ends. Without it: nothing to do.
    pub(crate) fn put_blobs(&mut self, msgs: &[&Prepared]) -> Result<()> {
        let Some(s3) = &self.b.s3 else {
            return Ok(());
        };
        let mut keys: Vec<i32> = msgs.iter().map(|m| lock_key(&m.hash)).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in &keys {
            self.execute(
                "SELECT pg_advisory_xact_lock_shared($1, $2)",
                &[&LOCK_CLASS, k],
            )?;
        }
        for m in msgs {
            if !self.blobs_put.contains(&m.hash) {
                // The message's own bytes, not a copy.
                let body = bytes::Bytes::from_owner(std::sync::Arc::clone(&m.raw));
                self.b.block(s3.put(&m.hash, body))?;
                self.blobs_put.insert(m.hash.clone());
            }
        }
        Ok(())
    }
}

impl PgBackend {
    /// Whether new blobs go to S3.
    pub(crate) fn blobs_in_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// The bytes of `hash` from S3 (the first `len` of them: a ranged GET).
    pub(crate) fn s3_bytes(&self, hash: &str, len: Option<u64>) -> Result<Vec<u8>> {
        let hash = BlobHash::parse(hash)
            .ok_or_else(|| StoreError::Corrupt(format!("blob name {hash:?}")))?;
        let s3 = self.s3.as_ref().ok_or_else(|| {
            StoreError::Refused(format!(
                "blob {} is in an S3 bucket, and this node has no [store] blobs = \"s3://…\"",
                hash.as_str()
            ))
        })?;
        self.block(s3.get(&hash, len))
    }

    /// Deletes the objects that no `blobs` row names and that were last
    /// PUT more than the grace period ago; how many. Every node may run it
    /// (the advisory lock keeps two from deleting the same object at once,
    /// and one deleting what a write is about to reference).
    pub(crate) fn collect_s3_blobs(&self) -> Result<u64> {
        let Some(s3) = &self.s3 else {
            return Ok(0);
        };
        let cutoff = unix_now() - i64::try_from(s3.grace.as_secs()).unwrap_or(i64::MAX);
        let conn = self.client()?;
        // Old enough and without a row, as listed.
        let mut candidates: Vec<BlobHash> = Vec::new();
        self.block(s3.list(async |page| {
            let old: Vec<&str> = page
                .iter()
                .filter(|o| o.modified <= cutoff)
                .map(|o| o.hash.as_str())
                .collect();
            if old.is_empty() {
                return Ok(());
            }
            let named: HashSet<String> = conn
                .query("SELECT hash FROM blobs WHERE hash = ANY($1)", &[&old])
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            candidates.extend(
                page.into_iter()
                    .filter(|o| o.modified <= cutoff && !named.contains(o.hash.as_str()))
                    .map(|o| o.hash),
            );
            Ok(())
        }))?;
        drop(conn);
        let mut deleted = 0;
        for hash in candidates {
            let mut conn = self.client()?;
            let gone = self.block(async {
                let tx = conn.transaction().await.map_err(db_error)?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)",
                    &[&LOCK_CLASS, &lock_key(&hash)],
                )
                .await
                .map_err(db_error)?;
                // Again, under the lock: a write may have committed a
                // reference, or PUT the bytes anew, since the listing.
                let named = tx
                    .query_opt("SELECT 1 FROM blobs WHERE hash = $1", &[&hash.as_str()])
                    .await
                    .map_err(db_error)?
                    .is_some();
                let old = matches!(s3.modified(&hash).await?, Some(t) if t <= cutoff);
                let gone = !named && old;
                if gone {
                    s3.delete(&hash).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok::<_, StoreError>(gone)
            })?;
            if gone {
                tracing::debug!("deleted blob {} from {}", hash.as_str(), s3.name());
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// `check`'s look at the bucket: every row that says its bytes are in
    /// S3 has its object (the rows are read first: an object is PUT before
    /// its row commits, so it is in a listing made after). Objects without
    /// a row are a note: the collector deletes them after the grace period.
    pub(crate) fn check_s3_blobs(&self, report: &mut CheckReport) -> Result<()> {
        let rows: Vec<String> = self
            .query(
                "SELECT hash FROM blobs WHERE location = $1 ORDER BY hash",
                &[&IN_S3],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let Some(s3) = &self.s3 else {
            if !rows.is_empty() {
                report.problems.push(format!(
                    "{} blobs are in an S3 bucket, and [store] blobs names none",
                    rows.len()
                ));
            }
            return Ok(());
        };
        let mut objects = HashSet::new();
        self.block(s3.list(async |page| {
            objects.extend(page.into_iter().map(|o| o.hash.as_str().to_string()));
            Ok(())
        }))?;
        for hash in &rows {
            if !objects.remove(hash) {
                report
                    .problems
                    .push(format!("blob {hash} is missing from {}", s3.name()));
            }
        }
        // What is left has no row that names S3.
        let orphans = objects.len();
        if orphans > 0 {
            report.notes.push(format!(
                "{orphans} objects in {} have no row yet or any more (the collector deletes them {} s after their last PUT)",
                s3.name(),
                s3.grace.as_secs()
            ));
        }
        Ok(())
    }
}
