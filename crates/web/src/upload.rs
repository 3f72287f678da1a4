//! `POST /upload/{accountId}/` (RFC 8620 §6.1): the body becomes a blob of
//! the account, answered with its `blobId`, `type` and `size`.
//!
//! Implementation notes:
//! - The body is streamed into the store's spool (memory below 1 MiB, then
//!   a 0600 file), never held whole: memory per upload is one frame.
//! - `maxSizeUpload`: a `Content-Length` above it is refused before any
//!   byte is read, a body without one as soon as it passes it: `413` with
//!   an RFC 8620 §3.6.1 `limit` problem; the spool is dropped, so nothing
//!   is kept. Each frame must come within the body timeout.
//! - `maxConcurrentUpload` uploads per account at once (`400` `limit`
//!   problem beyond).
//! - Uploads are kept [`tidings_jmap::Limits::upload_ttl`] (24 h) and count
//!   against the account's `upload_quota` (`413` beyond). The same bytes
//!   uploaded twice are kept once and get the same blobId.
//! - The blob is durable (fsynced, row committed) before the `201`.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};
use serde_json::json;
use tidings_store::StoreError;
use tidings_types::AccountId;

use super::{Peer, Reply, Shared, authenticate, json_reply, not_found, problem};

/// `POST /upload/{accountId}/`.
pub(crate) async fn upload(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Reply {
    let who = match authenticate(shared, peer, &req).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let path = req.uri().path().to_string();
    let account = path
        .trim_start_matches("/upload/")
        .trim_end_matches('/')
        .to_string();
    // Only the caller's own account exists for it.
    if AccountId::parse(&account) != Some(who.account) {
        return not_found();
    }
    let limits = &shared.config.jmap;
    let max = limits.max_size_upload;
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max
    {
        return too_large(max);
    }
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 255
                && t.contains('/')
                && t.bytes().all(|b| (32..127).contains(&b))
        })
        .unwrap_or("application/octet-stream")
        .to_string();
    let Some(_slot) = enter_upload(shared, who.account) else {
        return problem_limit(
            StatusCode::BAD_REQUEST,
            "maxConcurrentUpload",
            &format!("at most {} uploads at once", limits.max_concurrent_upload),
        );
    };
    let mut spool = shared.store.spool();
    let mut body = req.into_body();
    loop {
        let frame = match tokio::time::timeout(shared.config.body_timeout, body.frame()).await {
            Err(_) => {
                return problem(
                    StatusCode::REQUEST_TIMEOUT,
                    "about:blank",
                    "the upload stalled",
                );
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "about:blank",
                    &format!("cannot read the upload: {e}"),
                );
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if spool.len().saturating_add(data.len() as u64) > max {
            // `spool` is dropped: its file is removed.
            return too_large(max);
        }
        if let Err(e) = spool.write(&data) {
            tracing::warn!("upload spool: {e}");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "about:blank",
                "cannot store the upload",
            );
        }
    }
    let store = shared.store.clone();
    let account = who.account;
    let expires = unix_now() + limits.upload_ttl;
    let quota = limits.upload_quota;
    let stored = tokio::task::spawn_blocking(move || {
        let spooled = spool.finish()?;
        store.add_upload(account, &spooled, &media_type, expires, quota)
    })
    .await;
    match stored {
        Ok(Ok(u)) => json_reply(
            StatusCode::CREATED,
            &json!({
                "accountId": account.to_string(),
                "blobId": tidings_jmap::upload_blob_id(&u.hash),
                "type": u.media_type,
                "size": u.size,
            }),
        ),
        Ok(Err(StoreError::OverQuota { used, quota, .. })) => problem_limit(
            StatusCode::PAYLOAD_TOO_LARGE,
            "uploadQuota",
            &format!(
                "the account holds {used} of its {quota} bytes of uploads; they expire after a day"
            ),
        ),
        Ok(Err(StoreError::DiskFull)) => problem(
            StatusCode::INSUFFICIENT_STORAGE,
            "about:blank",
            "the server's disk is full",
        ),
        Ok(Err(e)) => {
            tracing::warn!("upload failed: {e}");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "about:blank",
                "cannot store the upload",
            )
        }
        Err(e) => {
            tracing::error!("upload task failed: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "internal error",
            )
        }
    }
}

fn too_large(max: u64) -> Reply {
    problem_limit(
        StatusCode::PAYLOAD_TOO_LARGE,
        "maxSizeUpload",
        &format!("the upload is larger than {max} bytes"),
    )
}

/// An RFC 8620 §3.6.1 `limit` problem.
fn problem_limit(status: StatusCode, limit: &str, detail: &str) -> Reply {
    let body = json!({
        "type": "urn:ietf:params:jmap:error:limit",
        "status": status.as_u16(),
        "limit": limit,
        "detail": detail,
    });
    super::reply(status, "application/problem+json", body.to_string())
}

/// Counts an account's upload in progress; released when dropped.
struct UploadSlot<'a> {
    shared: &'a Shared,
    account: AccountId,
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .uploads_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

fn enter_upload(shared: &Shared, account: AccountId) -> Option<UploadSlot<'_>> {
    let mut map = shared
        .uploads_in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let n = map.entry(account).or_insert(0);
    if *n >= shared.config.jmap.max_concurrent_upload {
        return None;
    }
    *n += 1;
    Some(UploadSlot { shared, account })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
