//! Blob download (RFC 8620 §6.2): an email's blobId is its id (the exact
//! bytes stored, `message/rfc822`); a body part's is `{emailId}.P{n}`,
//! served decoded with the part's media type.

use mail_parser::MessageParser;
use tidings_store::{Store, StoreError};
use tidings_types::{AccountId, EmailId};

use super::get::{media_type, part_bytes};
use crate::{Blob, DownloadError, Limits};

pub fn download(
    store: &Store,
    account: AccountId,
    blob_id: &str,
    limits: &Limits,
) -> Result<Blob, DownloadError> {
    let (email, part) = match blob_id.split_once(".P") {
        Some((email, part)) => (
            email,
            Some(part.parse::<u32>().map_err(|_| DownloadError::NotFound)?),
        ),
        None => (blob_id, None),
    };
    let email = EmailId::parse(email).ok_or(DownloadError::NotFound)?;
    let raw = match store.email_raw(account, email) {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Err(DownloadError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if raw.len() as u64 > limits.max_size_download {
        return Err(DownloadError::TooLarge);
    }
    let Some(index) = part else {
        return Ok(Blob {
            bytes: raw,
            media_type: "message/rfc822".to_string(),
        });
    };
    let msg = MessageParser::default()
        .parse(&raw)
        .ok_or(DownloadError::NotFound)?;
    let part = msg
        .parts
        .get(index as usize)
        .ok_or(DownloadError::NotFound)?;
    if matches!(part.body, mail_parser::PartType::Multipart(_)) {
        return Err(DownloadError::NotFound);
    }
    Ok(Blob {
        bytes: part_bytes(part, &raw).to_vec(),
        media_type: media_type(part),
    })
}
