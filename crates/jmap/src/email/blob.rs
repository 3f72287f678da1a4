//! The blobs of emails (RFC 8620 §6.2): an email's blobId is its id (the
//! exact bytes stored, `message/rfc822`); a body part's is `{blobId}.P{n}`,
//! served decoded with the part's media type ([`crate::blob::fetch`]
//! follows the chain of parts).

use mail_parser::MessageParser;
use tidings_store::Store;
use tidings_store::StoreError;
use tidings_types::{AccountId, EmailId};

use super::get::{media_type, part_bytes};
use crate::{Blob, DownloadError, Limits};

/// The bytes of the email `id` (`M42`) of `account`.
pub fn email(
    store: &Store,
    account: AccountId,
    id: &str,
    limits: &Limits,
) -> Result<Blob, DownloadError> {
    let email = EmailId::parse(id).ok_or(DownloadError::NotFound)?;
    let raw = match store.email_raw(account, email) {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Err(DownloadError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if raw.len() as u64 > limits.max_size_download {
        return Err(DownloadError::TooLarge);
    }
    Ok(Blob {
        bytes: raw,
        media_type: "message/rfc822".to_string(),
    })
}

/// Part `index` of the message `raw`, decoded; a multipart has no blob.
pub fn part(raw: &[u8], index: u32) -> Result<Blob, DownloadError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(DownloadError::NotFound)?;
    let part = msg
        .parts
        .get(index as usize)
        .ok_or(DownloadError::NotFound)?;
    if matches!(part.body, mail_parser::PartType::Multipart(_)) {
        return Err(DownloadError::NotFound);
    }
    Ok(Blob {
        bytes: part_bytes(part, raw).to_vec(),
        media_type: media_type(part),
    })
}
