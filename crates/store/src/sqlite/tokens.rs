//! Access tokens: app passwords and webmail sessions (`tokens` table).
//!
//! A token is 32 random bytes written as `tdg_` and 64 hex digits (the
//! prefix lets secret scanners and people tell it from a password). Only
//! its SHA-256 is stored: a token has 256 bits of entropy, so a fast hash
//! is as safe as argon2 would be and costs nothing per request.
//!
//! A token works while `expires` (if any) has not passed and, for one
//! with `idle`, while less than `idle` seconds went by since it was last
//! used (or made). `last_used` is written at most once a minute per token,
//! so a webmail polling every second does not write every second.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tidings_types::AccountId;

use super::accounts;
use super::writer::Ctx;
use crate::{AccessToken, Result, StoreError, TokenKind, TokenOwner};

/// The prefix of every token.
pub(crate) const PREFIX: &str = "tdg_";
/// `last_used` is written again only after this many seconds.
pub(crate) const USE_GRANULARITY: i64 = 60;
/// Longest token name.
const MAX_NAME: usize = 64;

pub(crate) fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh token.
pub(crate) fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    let mut s = String::with_capacity(PREFIX.len() + 64);
    s.push_str(PREFIX);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    Ok(s)
}

/// Whether a password could be a token (so the password check looks it
/// up first).
pub(crate) fn looks_like_token(s: &str) -> bool {
    s.len() == PREFIX.len() + 64
        && s.starts_with(PREFIX)
        && s[PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SQL condition under which a token row works at `?now`.
const LIVE: &str = "(t.expires IS NULL OR t.expires > :now) \
     AND (t.idle IS NULL OR COALESCE(t.last_used, t.created) + t.idle > :now)";

pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "a token name is 1 to {MAX_NAME} printable characters"
        )))
    }
}

pub(crate) fn add(
    ctx: &mut Ctx<'_>,
    email: &str,
    name: &str,
    kind: TokenKind,
    expires: Option<i64>,
    idle: Option<i64>,
    token: &str,
) -> Result<()> {
    check_name(name)?;
    let now = super::unix_now();
    let id = accounts::account_id(ctx, email)?;
    let live = LIVE.replace(":now", "?2");
    ctx.tx.execute(
        &format!("DELETE FROM tokens AS t WHERE t.account_id = ?1 AND NOT ({live})"),
        params![id.0, now],
    )?;
    let taken: bool = ctx.tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM tokens WHERE account_id = ?1 AND name = ?2)",
        params![id.0, name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(StoreError::AlreadyExists(format!("token {name:?}")));
    }
    ctx.tx.execute(
        "INSERT INTO tokens(hash, account_id, name, kind, created, expires, idle) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            hash(token).as_slice(),
            id.0,
            name,
            kind.as_str(),
            now,
            expires,
            idle
        ],
    )?;
    Ok(())
}

pub(crate) fn list(c: &Connection, email: &str, now: i64) -> Result<Vec<AccessToken>> {
    let (email, _) = accounts::normalize_address(email)?;
    let id: Option<i64> = c
        .query_row("SELECT id FROM accounts WHERE email = ?1", [&email], |r| {
            r.get(0)
        })
        .optional()?;
    let id = id.ok_or_else(|| StoreError::NotFound(format!("account {email}")))?;
    let live = LIVE.replace(":now", "?2");
    let mut stmt = c.prepare(&format!(
        "SELECT t.name, t.kind, t.created, t.last_used, t.expires, t.idle FROM tokens t \
         WHERE t.account_id = ?1 AND {live} ORDER BY t.name"
    ))?;
    let rows = stmt.query_map(params![id, now], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, kind, created, last_used, expires, idle) = row?;
        let Some(kind) = TokenKind::parse(&kind) else {
            continue;
        };
        out.push(AccessToken {
            name,
            kind,
            created,
            last_used,
            expires,
            idle,
        });
    }
    Ok(out)
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, email: &str, name: &str) -> Result<()> {
    let id = accounts::account_id(ctx, email)?;
    let n = ctx.tx.execute(
        "DELETE FROM tokens WHERE account_id = ?1 AND name = ?2",
        params![id.0, name],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("token {name:?} of {email}")));
    }
    Ok(())
}

/// The live token with this hash: (owner, last use or creation).
pub(crate) fn find(c: &Connection, hash: &[u8; 32], now: i64) -> Result<Option<(TokenOwner, i64)>> {
    let live = LIVE.replace(":now", "?2");
    let row = c
        .prepare_cached(&format!(
            "SELECT t.account_id, a.email, t.kind, t.name, COALESCE(t.last_used, 0) \
             FROM tokens t JOIN accounts a ON a.id = t.account_id \
             WHERE t.hash = ?1 AND {live}"
        ))?
        .query_row(params![hash.as_slice(), now], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(account, email, kind, name, last_used)| {
        Some((
            TokenOwner {
                account: AccountId(account),
                email,
                kind: TokenKind::parse(&kind)?,
                name,
            },
            last_used,
        ))
    }))
}

/// Records a use at `now` unless one was recorded within the minute.
pub(crate) fn touch(ctx: &mut Ctx<'_>, hash: &[u8; 32], now: i64) -> Result<()> {
    ctx.tx.execute(
        "UPDATE tokens SET last_used = ?2 WHERE hash = ?1 \
         AND (last_used IS NULL OR last_used <= ?2 - ?3)",
        params![hash.as_slice(), now, USE_GRANULARITY],
    )?;
    Ok(())
}

/// Whether `last_used` is old enough to be written again.
pub(crate) fn stale(last_used: i64, now: i64) -> bool {
    last_used <= now - USE_GRANULARITY
}

pub(crate) fn revoke(ctx: &mut Ctx<'_>, hash: &[u8; 32]) -> Result<bool> {
    Ok(ctx
        .tx
        .execute("DELETE FROM tokens WHERE hash = ?1", [hash.as_slice()])?
        > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_random_and_recognised() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(looks_like_token(&a));
        assert!(!looks_like_token("tdg_short"));
        assert!(!looks_like_token("hunter2"));
        assert_eq!(a.len(), 68);
    }
}
