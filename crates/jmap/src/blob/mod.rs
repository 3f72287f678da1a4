//! Blobs as methods see them (RFC 8620 §6): the ids of uploaded blobs,
//! the bytes behind any blobId of the caller's account, and `Blob/copy`
//! (§6.3).
//!
//! Three kinds of blobId, all scoped to one account:
//! - `G{sha256}`: an upload (`POST /upload/{accountId}/`), kept by the
//!   store for a day (`tidings_store::Backend::add_upload`);
//! - `M42`: an email's exact bytes (`message/rfc822`);
//! - `M42.P3`: a body part of an email, decoded ([`crate::email::blob`]).

pub mod copy;
pub mod types;

use tidings_store::{BlobHash, Store, StoreError};
use tidings_types::AccountId;

use crate::{Blob, DownloadError, Limits};

/// The blobId of an upload.
pub fn upload_blob_id(hash: &BlobHash) -> String {
    format!("G{}", hash.as_str())
}

/// The upload a blobId names, if it is an upload's.
pub fn parse_upload_blob_id(id: &str) -> Option<BlobHash> {
    BlobHash::parse(id.strip_prefix('G')?)
}

/// The bytes and media type of any blob of `account` (an upload, an email
/// or a part). `NotFound` for anything else, another account's included.
pub(crate) fn fetch(
    store: &Store,
    account: AccountId,
    blob_id: &str,
    limits: &Limits,
) -> Result<Blob, DownloadError> {
    match parse_upload_blob_id(blob_id) {
        Some(hash) => {
            let Some(upload) = store.upload(account, &hash)? else {
                return Err(DownloadError::NotFound);
            };
            if upload.size > limits.max_size_download {
                return Err(DownloadError::TooLarge);
            }
            match store.upload_bytes(account, &hash) {
                Ok(bytes) => Ok(Blob {
                    bytes,
                    media_type: upload.media_type,
                }),
                Err(StoreError::NotFound(_)) => Err(DownloadError::NotFound),
                Err(e) => Err(e.into()),
            }
        }
        None => crate::email::blob::download(store, account, blob_id, limits),
    }
}

/// Whether `blob_id` names a blob of `account` (without loading an
/// upload's bytes).
pub(crate) fn exists(
    store: &Store,
    account: AccountId,
    blob_id: &str,
    limits: &Limits,
) -> Result<bool, StoreError> {
    if let Some(hash) = parse_upload_blob_id(blob_id) {
        return Ok(store.upload(account, &hash)?.is_some());
    }
    match crate::email::blob::download(store, account, blob_id, limits) {
        Ok(_) | Err(DownloadError::TooLarge) => Ok(true),
        Err(DownloadError::NotFound) => Ok(false),
        Err(DownloadError::Store(e)) => Err(e),
    }
}
