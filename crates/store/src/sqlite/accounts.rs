//! Domains, accounts, aliases and passwords (argon2id, RFC 9106).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use rusqlite::{OptionalExtension, params};
use tidings_types::{AccountId, MailboxName, MailboxRole, Secret};

use super::mail::{self, insert_mailbox};
use super::writer::Ctx;
use crate::{Result, StoreError};

/// Longest address accepted (RFC 5321 §4.5.3.1.3 path limit).
const MAX_ADDRESS: usize = 254;

/// Lower-cases and checks a domain name.
pub(crate) fn normalize_domain(name: &str) -> Result<String> {
    let d = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(d)
    } else {
        Err(StoreError::Refused(format!(
            "{name:?} is not a valid domain name"
        )))
    }
}

/// Lower-cases and checks `local@domain`. Returns (address, domain).
pub(crate) fn normalize_address(addr: &str) -> Result<(String, String)> {
    let a = addr.trim();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(StoreError::Refused(format!(
            "{addr:?} is not an email address (no @)"
        )));
    };
    let domain = normalize_domain(domain)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok || a.len() > MAX_ADDRESS {
        return Err(StoreError::Refused(format!(
            "{addr:?} is not a valid email address"
        )));
    }
    Ok((format!("{}@{domain}", local.to_lowercase()), domain))
}

pub(crate) fn hash_password(password: &Secret<String>) -> Result<String> {
    if password.expose().is_empty() {
        return Err(StoreError::Refused("the password is empty".into()));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Refused(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Refused(format!("cannot hash password: {e}")))
}

/// Checks a password against its stored argon2 hash.
///
/// At most one check per CPU runs at a time, each in a memory buffer kept
/// for reuse (19 MiB with the default parameters). Letting every blocking
/// thread allocate its own made the allocator keep the freed buffers: a
/// benchmark server reached 2.7 GB of memory after a few thousand logins.
/// Queueing here also keeps a burst of logins from taking every core.
pub(crate) fn verify_password(hash: &str, password: &Secret<String>) -> bool {
    use argon2::{Algorithm, Block, Params, Version};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let computed = with_hash_memory(params.block_count(), |blocks: &mut [Block]| {
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut out, blocks)
            .is_ok()
    });
    // Constant time over the output: no early exit on the first difference.
    computed
        && out.len() == expected.len()
        && out
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Runs `f` with one of the per-CPU argon2 buffers, grown to `blocks`.
fn with_hash_memory<R>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};
    static SLOTS: OnceLock<Vec<Mutex<Vec<argon2::Block>>>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let slots = SLOTS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        (0..n).map(|_| Mutex::new(Vec::new())).collect()
    });
    // A free slot if there is one; else wait for one in turn.
    let mut guard = slots
        .iter()
        .find_map(|s| s.try_lock().ok())
        .unwrap_or_else(|| {
            let i = NEXT.fetch_add(1, Ordering::Relaxed) % slots.len();
            slots[i]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
    if guard.len() < blocks {
        guard.resize(blocks, argon2::Block::default());
    }
    f(&mut guard[..blocks])
}

pub(crate) fn domain_id(ctx: &Ctx<'_>, domain: &str) -> Result<i64> {
    ctx.tx
        .query_row("SELECT id FROM domains WHERE name = ?1", [domain], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "domain {domain} (add it first with `tidings domain add {domain}`)"
            ))
        })
}

pub(crate) fn account_id(ctx: &Ctx<'_>, email: &str) -> Result<AccountId> {
    let (email, _) = normalize_address(email)?;
    ctx.tx
        .query_row("SELECT id FROM accounts WHERE email = ?1", [&email], |r| {
            r.get(0)
        })
        .optional()?
        .map(AccountId)
        .ok_or_else(|| StoreError::NotFound(format!("account {email}")))
}

pub(crate) fn create_account(ctx: &mut Ctx<'_>, email: &str, hash: &str) -> Result<AccountId> {
    let (email, domain) = normalize_address(email)?;
    let domain_id = domain_id(ctx, &domain)?;
    let taken = ctx
        .tx
        .query_row(
            "SELECT 1 FROM accounts WHERE email = ?1 UNION SELECT 1 FROM aliases WHERE address = ?1 UNION SELECT 1 FROM alias_targets WHERE address = ?1",
            [&email],
            |_| Ok(()),
        )
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "account or alias {email}"
        )));
    }
    ctx.tx.execute(
        "INSERT INTO accounts(email, domain_id, password_hash, created) VALUES (?1, ?2, ?3, ?4)",
        params![email, domain_id, hash, ctx.now],
    )?;
    let id = AccountId(ctx.tx.last_insert_rowid());
    for role in MailboxRole::ALL {
        let name = MailboxName::new(role.default_name())?;
        insert_mailbox(ctx, id, &name, Some(role))?;
    }
    Ok(id)
}

pub(crate) fn delete_account(ctx: &mut Ctx<'_>, email: &str) -> Result<()> {
    let id = account_id(ctx, email)?;
    let emails: Vec<i64> = ctx
        .tx
        .prepare("SELECT id FROM emails WHERE account_id = ?1")?
        .query_map([id.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for e in emails {
        mail::destroy_email(ctx, id, tidings_types::EmailId(e))?;
    }
    ctx.tx.execute(
        "DELETE FROM tombstones WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)",
        [id.0],
    )?;
    for sql in [
        // Its grants on others' mailboxes, and others' on its own.
        "DELETE FROM acl WHERE grantee = ?1",
        "DELETE FROM acl WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)",
        "DELETE FROM mailboxes WHERE account_id = ?1",
        "DELETE FROM subscriptions WHERE account_id = ?1",
        "DELETE FROM metadata WHERE account_id = ?1",
        "DELETE FROM urlauth_keys WHERE account_id = ?1",
        "DELETE FROM tokens WHERE account_id = ?1",
        "DELETE FROM uploads WHERE account_id = ?1",
        "DELETE FROM sent WHERE account_id = ?1",
        "DELETE FROM aliases WHERE account_id = ?1",
        "DELETE FROM thread_refs WHERE account_id = ?1",
        "DELETE FROM thread_subjects WHERE account_id = ?1",
        "DELETE FROM changes WHERE account_id = ?1",
        "DELETE FROM accounts WHERE id = ?1",
    ] {
        ctx.tx.execute(sql, [id.0])?;
    }
    Ok(())
}

/// Normalizes an alias address: `local@domain` or `@domain` (catch-all).
pub(crate) fn normalize_alias(address: &str) -> Result<(String, String)> {
    match address.trim().strip_prefix('@') {
        Some(domain) => {
            let d = normalize_domain(domain)?;
            Ok((format!("@{d}"), d))
        }
        None => normalize_address(address),
    }
}

pub(crate) fn add_alias(ctx: &mut Ctx<'_>, address: &str, target: &str) -> Result<()> {
    let (address, domain) = normalize_alias(address)?;
    let domain_id = domain_id(ctx, &domain)?;
    let account = account_id(ctx, target)?;
    let taken = ctx
        .tx
        .query_row(
            "SELECT 1 FROM accounts WHERE email = ?1 UNION SELECT 1 FROM aliases WHERE address = ?1 UNION SELECT 1 FROM alias_targets WHERE address = ?1",
            [&address],
            |_| Ok(()),
        )
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "account or alias {address}"
        )));
    }
    ctx.tx.execute(
        "INSERT INTO aliases(address, domain_id, account_id) VALUES (?1, ?2, ?3)",
        params![address, domain_id, account.0],
    )?;
    Ok(())
}

/// `alias add` with a list of targets: one account makes a plain alias
/// (`aliases`), anything else rows of `alias_targets`. A target in a local
/// domain must resolve now (an account, an alias, a catch-all); one in
/// another domain is forwarded to.
pub(crate) fn add_alias_targets(
    ctx: &mut Ctx<'_>,
    address: &str,
    targets: &[String],
) -> Result<()> {
    if let [one] = targets {
        let (email, _) = normalize_address(one)?;
        let is_account = ctx
            .tx
            .query_row("SELECT 1 FROM accounts WHERE email = ?1", [&email], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if is_account {
            return add_alias(ctx, address, &email);
        }
    }
    let (address, domain) = normalize_alias(address)?;
    let domain_id = domain_id(ctx, &domain)?;
    if targets.is_empty() {
        return Err(StoreError::Refused(format!(
            "alias {address} needs a target"
        )));
    }
    let taken = ctx
        .tx
        .query_row(
            "SELECT 1 FROM accounts WHERE email = ?1 UNION SELECT 1 FROM aliases WHERE address = ?1 UNION SELECT 1 FROM alias_targets WHERE address = ?1",
            [&address],
            |_| Ok(()),
        )
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "account or alias {address}"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (position, target) in targets.iter().enumerate() {
        let (target, target_domain) = normalize_address(target)?;
        if target == address {
            return Err(StoreError::Refused(format!(
                "alias {address} cannot point at itself"
            )));
        }
        if !seen.insert(target.clone()) {
            continue;
        }
        let local = ctx
            .tx
            .query_row(
                "SELECT 1 FROM domains WHERE name = ?1",
                [&target_domain],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if local && crate::model::lookup(&mut Book(ctx.tx), &target)?.is_none() {
            return Err(StoreError::NotFound(format!(
                "{target}: no account or alias has this address"
            )));
        }
        ctx.tx.execute(
            "INSERT INTO alias_targets(address, domain_id, position, target) VALUES (?1, ?2, ?3, ?4)",
            params![address, domain_id, position as i64, target],
        )?;
    }
    Ok(())
}

/// The SQLite rows behind `crate::model`'s address rules.
pub(crate) struct Book<'a>(pub &'a rusqlite::Connection);

impl crate::model::AddressBook for Book<'_> {
    fn account_of(&mut self, address: &str) -> Result<Option<AccountId>> {
        Ok(self
            .0
            .prepare_cached("SELECT id FROM accounts WHERE email = ?1")?
            .query_row([address], |r| r.get(0))
            .optional()?
            .map(AccountId))
    }
    fn alias_account(&mut self, address: &str) -> Result<Option<AccountId>> {
        Ok(self
            .0
            .prepare_cached("SELECT account_id FROM aliases WHERE address = ?1")?
            .query_row([address], |r| r.get(0))
            .optional()?
            .map(AccountId))
    }
    fn alias_targets(&mut self, address: &str) -> Result<Vec<String>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT target FROM alias_targets WHERE address = ?1 ORDER BY position",
            )?
            .query_map([address], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?)
    }
    fn is_local_domain(&mut self, domain: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM domains WHERE name = ?1")?
            .query_row([domain], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// [`crate::Backend::expand_recipient`].
pub(crate) fn expand(
    c: &rusqlite::Connection,
    address: &str,
    limits: crate::ExpansionLimits,
) -> Result<crate::Expansion> {
    let Ok((address, _)) = normalize_address(address) else {
        return Ok(crate::Expansion::Unknown);
    };
    crate::model::expand_recipient(&mut Book(c), address, limits)
}

/// Recently verified credentials, so that a mail client that logs in every
/// few minutes with the same password does not pay argon2 each time (what
/// Dovecot's `auth_cache` does).
///
/// An entry holds SHA-256(process salt ‖ stored hash ‖ password), never the
/// password. It matches only while the account's stored hash is the one it
/// was made with, so a password change (even by another process, such as
/// `tidings user passwd`) invalidates it at once; a deleted account is not
/// found before the cache is asked. Failures are never cached.
pub(crate) struct AuthCache {
    salt: [u8; 32],
    entries: std::sync::Mutex<std::collections::HashMap<i64, (Vec<u8>, std::time::Instant)>>,
}

/// How long a verified password is remembered.
const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The most entries kept (expired ones are dropped first).
const AUTH_CACHE_MAX: usize = 100_000;

impl AuthCache {
    pub fn new() -> Self {
        // The stored argon2 hash carries its own random salt, so the digest
        // differs per account even if no random process salt can be had.
        let mut salt = [0u8; 32];
        let _ = getrandom::fill(&mut salt);
        AuthCache {
            salt,
            entries: std::sync::Mutex::default(),
        }
    }

    fn digest(&self, stored_hash: &str, password: &Secret<String>) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update((stored_hash.len() as u64).to_le_bytes());
        h.update(stored_hash.as_bytes());
        h.update(password.expose().as_bytes());
        h.finalize().to_vec()
    }

    /// Whether `password` was verified against `stored_hash` recently.
    pub fn hit(&self, account: AccountId, stored_hash: &str, password: &Secret<String>) -> bool {
        let digest = self.digest(stored_hash, password);
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(&account.0)
            .is_some_and(|(d, at)| at.elapsed() < AUTH_CACHE_TTL && *d == digest)
    }

    /// Remembers a successful verification.
    pub fn remember(&self, account: AccountId, stored_hash: &str, password: &Secret<String>) {
        let digest = self.digest(stored_hash, password);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= AUTH_CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < AUTH_CACHE_TTL);
            if entries.len() >= AUTH_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(account.0, (digest, std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    use super::*;

    fn secret(s: &str) -> Secret<String> {
        Secret::new(s.to_string())
    }

    #[test]
    fn pooled_verification_agrees_with_the_argon2_crate() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = [
            (
                Algorithm::Argon2id,
                Params::new(19 * 1024, 2, 1, None).unwrap(),
            ),
            (
                Algorithm::Argon2id,
                Params::new(8 * 1024, 3, 2, Some(16)).unwrap(),
            ),
            (
                Algorithm::Argon2i,
                Params::new(4 * 1024, 2, 1, None).unwrap(),
            ),
            (
                Algorithm::Argon2d,
                Params::new(4 * 1024, 1, 1, None).unwrap(),
            ),
        ];
        for (alg, p) in params {
            let a = Argon2::new(alg, Version::V0x13, p);
            let hash = a.hash_password(b"right", &salt).unwrap().to_string();
            let parsed = PasswordHash::new(&hash).unwrap();
            for (pw, want) in [
                ("right", true),
                ("wrong", false),
                ("", false),
                ("right ", false),
            ] {
                assert_eq!(
                    a.verify_password(pw.as_bytes(), &parsed).is_ok(),
                    want,
                    "{hash} {pw:?}"
                );
                assert_eq!(verify_password(&hash, &secret(pw)), want, "{hash} {pw:?}");
            }
        }
        assert!(!verify_password("not a hash", &secret("x")));
        assert!(!verify_password(
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",
            &secret("x")
        ));
    }

    #[test]
    fn concurrent_checks_share_the_per_cpu_buffers() {
        let hash = hash_password(&secret("pw")).unwrap();
        let threads: Vec<_> = (0..12)
            .map(|i| {
                let hash = hash.clone();
                std::thread::spawn(move || {
                    verify_password(&hash, &secret(if i % 3 == 0 { "no" } else { "pw" }))
                })
            })
            .collect();
        let results: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (i, ok) in results.iter().enumerate() {
            assert_eq!(*ok, i % 3 != 0);
        }
    }
}
