//! JMAP uploads (RFC 8620 §6.1) in PostgreSQL: the rules of
//! `crate::sqlite::uploads` (named by SHA-256 within the account, the same
//! bytes stored once with their expiry moved, a cap per account, expired
//! ones dropped when one is stored), the bytes always in the row (`bytea`),
//! so every node reads what any node stored.

use tidings_types::AccountId;

use super::PgBackend;
use crate::blob::BlobHash;
use crate::{Result, Spooled, StoreError, Upload};

fn to_upload(r: &tokio_postgres::Row) -> Option<Upload> {
    Some(Upload {
        hash: BlobHash::parse(r.get(0))?,
        media_type: r.get(1),
        size: u64::try_from(r.get::<_, i64>(2)).ok()?,
        created: r.get(3),
        expires: r.get(4),
    })
}

impl PgBackend {
    pub(crate) fn add_upload_(
        &self,
        account: AccountId,
        body: &Spooled,
        media_type: &str,
        expires: i64,
        cap: u64,
    ) -> Result<Upload> {
        let size = body.len();
        let hash = body.hash().clone();
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::io::Read::read_to_end(&mut body.reader()?, &mut bytes)?;
        self.write(|ctx| {
            ctx.lock_accounts(&[account])?;
            let now = ctx.now;
            ctx.execute("DELETE FROM uploads WHERE expires <= $1", &[&now])?;
            if let Some(r) = ctx.query_opt(
                "UPDATE uploads SET expires = GREATEST(expires, $3) WHERE account_id = $1 AND hash = $2
                 RETURNING hash, media_type, size, created, expires",
                &[&account.0, &hash.as_str(), &expires],
            )? && let Some(u) = to_upload(&r)
            {
                return Ok(u);
            }
            let used: i64 = ctx
                .query_one(
                    "SELECT COALESCE(sum(size), 0)::BIGINT FROM uploads WHERE account_id = $1",
                    &[&account.0],
                )?
                .get(0);
            let used = u64::try_from(used).unwrap_or(0);
            if used.saturating_add(size) > cap {
                return Err(StoreError::OverQuota {
                    used,
                    quota: cap,
                    needed: size,
                });
            }
            ctx.execute(
                "INSERT INTO uploads(account_id, hash, media_type, size, created, expires, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &account.0,
                    &hash.as_str(),
                    &media_type,
                    &i64::try_from(size).unwrap_or(i64::MAX),
                    &now,
                    &expires,
                    &bytes,
                ],
            )?;
            Ok(Upload {
                hash: hash.clone(),
                media_type: media_type.to_string(),
                size,
                created: now,
                expires,
            })
        })
    }

    pub(crate) fn upload_(&self, account: AccountId, hash: &BlobHash) -> Result<Option<Upload>> {
        Ok(self
            .query_opt(
                "SELECT hash, media_type, size, created, expires FROM uploads
                 WHERE account_id = $1 AND hash = $2 AND expires > $3",
                &[&account.0, &hash.as_str(), &super::unix_now()],
            )?
            .as_ref()
            .and_then(to_upload))
    }

    pub(crate) fn upload_bytes_(&self, account: AccountId, hash: &BlobHash) -> Result<Vec<u8>> {
        Ok(self
            .query_opt(
                "SELECT data FROM uploads WHERE account_id = $1 AND hash = $2 AND expires > $3",
                &[&account.0, &hash.as_str(), &super::unix_now()],
            )?
            .ok_or_else(|| StoreError::NotFound(format!("blob G{}", hash.as_str())))?
            .get(0))
    }
}
