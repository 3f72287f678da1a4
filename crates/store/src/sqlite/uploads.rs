//! Uploaded blobs (JMAP upload, RFC 8620 §6.1): bytes a client sent to be
//! used by a later call (`Email/import`, attachments of `Email/set`), kept
//! per account until they expire.
//!
//! Implementation notes:
//! - An upload is named by the SHA-256 of its bytes within its account
//!   (`uploads` primary key (account, hash)); another account's upload is
//!   never found. Uploading the same bytes again keeps the one copy and
//!   moves its expiry.
//! - Bytes up to [`crate::blob::INLINE_MAX`] live in the row; larger ones
//!   are a file `blobs/uploads/{account}-{hash}-{random}` made from the
//!   spool by a hard link (no copy) before the row commits. The random
//!   part makes each file belong to one row, so a file is unlinked after
//!   the commit that deleted its row without any race with a new upload.
//! - Uploads are apart from the emails' content-addressed blobs (their
//!   reference counts stay "emails that name them"): importing an upload
//!   stores its bytes as a new email through the normal ingest.
//! - Expired uploads are dropped (rows, then files) whenever an upload is
//!   stored; a crash between the two leaves a file `check` does not mind.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use tidings_types::AccountId;

use super::writer::Ctx;
use crate::blob::{BlobHash, is_inline};
use crate::{Result, Spooled, StoreError, Upload};

/// The directory of upload files under the blob root.
pub(crate) fn dir(blob_root: &Path) -> PathBuf {
    blob_root.join("uploads")
}

/// Where an upload's bytes are about to be stored.
pub(crate) enum Source<'a> {
    Inline(Vec<u8>),
    /// A durable file already in the uploads directory, by name.
    File(&'a str),
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_upload(
    (hash, media_type, size, created, expires): (String, String, i64, i64, i64),
) -> Option<Upload> {
    Some(Upload {
        hash: BlobHash::parse(&hash)?,
        media_type,
        size: u64::try_from(size).ok()?,
        created,
        expires,
    })
}

/// Stores the upload, or refreshes the expiry of the same bytes uploaded
/// before. Returns the upload and whether `source`'s file is now used.
/// Expired uploads of every account go; their files are returned for
/// unlinking after the commit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    hash: &BlobHash,
    size: u64,
    media_type: &str,
    expires: i64,
    cap: u64,
    source: &Source<'_>,
) -> Result<(Upload, bool, Vec<String>)> {
    let now = ctx.now;
    let mut gone = Vec::new();
    {
        let mut stmt = ctx
            .tx
            .prepare_cached("DELETE FROM uploads WHERE expires <= ?1 RETURNING file")?;
        let rows = stmt.query_map([now], |r| r.get::<_, Option<String>>(0))?;
        for f in rows {
            if let Some(f) = f? {
                gone.push(f);
            }
        }
    }
    let size_i = i64::try_from(size).unwrap_or(i64::MAX);
    let refreshed = ctx
        .tx
        .prepare_cached(
            "UPDATE uploads SET expires = max(expires, ?3) WHERE account_id = ?1 AND hash = ?2 \
             RETURNING hash, media_type, size, created, expires",
        )?
        .query_row(params![account.0, hash.as_str(), expires], upload_row)
        .optional()?;
    if let Some(row) = refreshed.and_then(to_upload) {
        return Ok((row, false, gone));
    }
    let used: i64 = ctx.tx.query_row(
        "SELECT coalesce(sum(size), 0) FROM uploads WHERE account_id = ?1",
        [account.0],
        |r| r.get(0),
    )?;
    let used = u64::try_from(used).unwrap_or(0);
    if used.saturating_add(size) > cap {
        return Err(StoreError::OverQuota {
            used,
            quota: cap,
            needed: size,
        });
    }
    let (data, file) = match source {
        Source::Inline(bytes) => (Some(&bytes[..]), None),
        Source::File(name) => (None, Some(*name)),
    };
    ctx.tx.execute(
        "INSERT INTO uploads(account_id, hash, media_type, size, created, expires, data, file) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            account.0,
            hash.as_str(),
            media_type,
            size_i,
            now,
            expires,
            data,
            file
        ],
    )?;
    let upload = Upload {
        hash: hash.clone(),
        media_type: media_type.to_string(),
        size,
        created: now,
        expires,
    };
    Ok((upload, file.is_some(), gone))
}

/// An upload with its inline bytes or its file's name.
pub(crate) type Found = (Upload, Option<Vec<u8>>, Option<String>);

/// The live upload `hash` of `account`, with its inline bytes or file name.
pub(crate) fn find(
    c: &Connection,
    account: AccountId,
    hash: &BlobHash,
    now: i64,
) -> Result<Option<Found>> {
    let row = c
        .prepare_cached(
            "SELECT hash, media_type, size, created, expires, data, file FROM uploads \
             WHERE account_id = ?1 AND hash = ?2 AND expires > ?3",
        )?
        .query_row(params![account.0, hash.as_str(), now], |r| {
            Ok((
                upload_row(r)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(u, data, file)| Some((to_upload(u)?, data, file))))
}

/// The upload files of an account (before it is deleted).
pub(crate) fn files_of(c: &Connection, account: AccountId) -> Result<Vec<String>> {
    let mut stmt =
        c.prepare("SELECT file FROM uploads WHERE account_id = ?1 AND file IS NOT NULL")?;
    let rows = stmt.query_map([account.0], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Makes the durable file for a spooled body in the uploads directory and
/// returns its name: a hard link of the spool file, or the bytes written.
pub(crate) fn place(dir: &Path, account: AccountId, body: &Spooled) -> Result<String> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{}-{}-{suffix}", account.0, body.hash().as_str());
    let fresh_dir = !dir.is_dir();
    crate::private::create_dir_all(dir)?;
    let path = dir.join(&name);
    match (body.path(), body.bytes()) {
        (Some(spool), _) => fs::hard_link(spool, &path)?,
        (None, Some(bytes)) => {
            use std::io::Write;
            let mut f = crate::private::create_file(&path)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        (None, None) => return Err(StoreError::Corrupt("a spool with no bytes".into())),
    }
    crate::blob::sync_dir(dir)?;
    if fresh_dir && let Some(parent) = dir.parent() {
        crate::blob::sync_dir(parent)?;
    }
    Ok(name)
}

/// Whether an upload of `size` bytes is kept in its row.
pub(crate) fn inline(size: u64) -> bool {
    usize::try_from(size).is_ok_and(is_inline)
}

/// Unlinks upload files whose rows are gone.
pub(crate) fn remove_files(dir: &Path, names: &[String]) {
    for n in names {
        // Names are ours (account-hash-random), never a path.
        if n.contains('/') || n.contains("..") {
            continue;
        }
        if let Err(e) = fs::remove_file(dir.join(n))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %n, error = %e, "could not unlink an expired upload");
        }
    }
}
