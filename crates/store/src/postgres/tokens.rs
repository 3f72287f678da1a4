//! Access tokens (app passwords, webmail sessions) in PostgreSQL: the
//! `tokens` rows and rules of `crate::sqlite::tokens` (only a token's
//! SHA-256 is stored; `last_used` is written at most once a minute), whose
//! helpers make and recognise the tokens.

use tidings_types::{AccountId, Secret};

use super::PgBackend;
use crate::sqlite::accounts::normalize_address;
use crate::sqlite::tokens::{USE_GRANULARITY, check_name, generate, hash, looks_like_token, stale};
use crate::{AccessToken, Result, StoreError, TokenKind, TokenOwner};

/// The condition under which a token row `t` works at `$now`.
fn live(now: &str) -> String {
    format!(
        "(t.expires IS NULL OR t.expires > {now}) \
         AND (t.idle IS NULL OR COALESCE(t.last_used, t.created) + t.idle > {now})"
    )
}

impl PgBackend {
    fn account_id_of(&self, email: &str) -> Result<(String, AccountId)> {
        let (email, _) = normalize_address(email)?;
        let id: i64 = self
            .query_opt("SELECT id FROM accounts WHERE email = $1", &[&email])?
            .ok_or_else(|| StoreError::NotFound(format!("account {email}")))?
            .get(0);
        Ok((email, AccountId(id)))
    }

    pub(crate) fn add_token_(
        &self,
        email: &str,
        name: &str,
        kind: TokenKind,
        expires: Option<i64>,
        idle: Option<i64>,
    ) -> Result<Secret<String>> {
        check_name(name)?;
        let token = generate()?;
        let digest = hash(&token).to_vec();
        let (_, id) = self.account_id_of(email)?;
        self.write(|ctx| {
            ctx.lock_accounts(&[id])?;
            let now = ctx.now;
            ctx.execute(
                &format!(
                    "DELETE FROM tokens AS t WHERE t.account_id = $1 AND NOT ({})",
                    live("$2")
                ),
                &[&id.0, &now],
            )?;
            if ctx
                .query_opt(
                    "SELECT 1 FROM tokens WHERE account_id = $1 AND name = $2",
                    &[&id.0, &name],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!("token {name:?}")));
            }
            ctx.execute(
                "INSERT INTO tokens(hash, account_id, name, kind, created, expires, idle)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&digest, &id.0, &name, &kind.as_str(), &now, &expires, &idle],
            )?;
            Ok(())
        })?;
        Ok(Secret::new(token))
    }

    pub(crate) fn tokens_(&self, email: &str) -> Result<Vec<AccessToken>> {
        let (_, id) = self.account_id_of(email)?;
        Ok(self
            .query(
                &format!(
                    "SELECT t.name, t.kind, t.created, t.last_used, t.expires, t.idle FROM tokens t
                     WHERE t.account_id = $1 AND {} ORDER BY t.name COLLATE \"C\"",
                    live("$2")
                ),
                &[&id.0, &super::unix_now()],
            )?
            .iter()
            .filter_map(|r| {
                Some(AccessToken {
                    name: r.get(0),
                    kind: TokenKind::parse(r.get(1))?,
                    created: r.get(2),
                    last_used: r.get(3),
                    expires: r.get(4),
                    idle: r.get(5),
                })
            })
            .collect())
    }

    pub(crate) fn delete_token_(&self, email: &str, name: &str) -> Result<()> {
        let (email, id) = self.account_id_of(email)?;
        self.write(|ctx| {
            let n = ctx.execute(
                "DELETE FROM tokens WHERE account_id = $1 AND name = $2",
                &[&id.0, &name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("token {name:?} of {email}")));
            }
            Ok(())
        })
    }

    pub(crate) fn token_owner_(&self, token: &Secret<String>) -> Result<Option<TokenOwner>> {
        if !looks_like_token(token.expose()) {
            return Ok(None);
        }
        let digest = hash(token.expose()).to_vec();
        let now = super::unix_now();
        let Some(r) = self.query_opt(
            &format!(
                "SELECT t.account_id, a.email, t.kind, t.name, COALESCE(t.last_used, 0)
                 FROM tokens t JOIN accounts a ON a.id = t.account_id
                 WHERE t.hash = $1 AND {}",
                live("$2")
            ),
            &[&digest, &now],
        )?
        else {
            return Ok(None);
        };
        let Some(kind) = TokenKind::parse(r.get(2)) else {
            return Ok(None);
        };
        let last_used: i64 = r.get(4);
        if stale(last_used, now) {
            self.write(|ctx| {
                ctx.execute(
                    "UPDATE tokens SET last_used = $2 WHERE hash = $1
                     AND (last_used IS NULL OR last_used <= $2::BIGINT - $3::BIGINT)",
                    &[&digest, &now, &USE_GRANULARITY],
                )?;
                Ok(())
            })?;
        }
        Ok(Some(TokenOwner {
            account: AccountId(r.get(0)),
            email: r.get(1),
            kind,
            name: r.get(3),
        }))
    }

    pub(crate) fn revoke_token_(&self, token: &Secret<String>) -> Result<bool> {
        if !looks_like_token(token.expose()) {
            return Ok(false);
        }
        let digest = hash(token.expose()).to_vec();
        self.write(|ctx| Ok(ctx.execute("DELETE FROM tokens WHERE hash = $1", &[&digest])? > 0))
    }
}
