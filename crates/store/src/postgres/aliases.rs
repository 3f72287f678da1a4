//! Aliases in PostgreSQL (tables `aliases`, `alias_targets`): the rows
//! and checks of `crate::sqlite::accounts`; what an address reaches and
//! how aliases expand is `crate::model`'s ([`AddressBook`]).

use tidings_types::AccountId;

use super::PgBackend;
use super::rows::PgCtx;
use crate::model::{self, AddressBook};
use crate::sqlite::accounts::{normalize_address, normalize_alias};
use crate::{Alias, Expansion, ExpansionLimits, Result, StoreError};

impl AddressBook for PgCtx<'_> {
    fn account_of(&mut self, address: &str) -> Result<Option<AccountId>> {
        Ok(self
            .query_opt("SELECT id FROM accounts WHERE email = $1", &[&address])?
            .map(|r| AccountId(r.get(0))))
    }
    fn alias_account(&mut self, address: &str) -> Result<Option<AccountId>> {
        Ok(self
            .query_opt(
                "SELECT account_id FROM aliases WHERE address = $1",
                &[&address],
            )?
            .map(|r| AccountId(r.get(0))))
    }
    fn alias_targets(&mut self, address: &str) -> Result<Vec<String>> {
        Ok(self
            .query(
                "SELECT target FROM alias_targets WHERE address = $1 ORDER BY position",
                &[&address],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
    fn is_local_domain(&mut self, domain: &str) -> Result<bool> {
        Ok(self
            .query_opt("SELECT 1 FROM domains WHERE name = $1", &[&domain])?
            .is_some())
    }
}

impl PgCtx<'_> {
    fn domain_id(&self, domain: &str) -> Result<i64> {
        Ok(self
            .query_opt("SELECT id FROM domains WHERE name = $1", &[&domain])?
            .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?
            .get(0))
    }

    /// Whether an account or alias has `address` already.
    pub(crate) fn address_taken(&self, address: &str) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM accounts WHERE email = $1 UNION ALL SELECT 1 FROM aliases WHERE address = $1
                 UNION ALL SELECT 1 FROM alias_targets WHERE address = $1 LIMIT 1",
                &[&address],
            )?
            .is_some())
    }

    fn add_alias(&mut self, address: &str, target: &str) -> Result<()> {
        let (address, domain) = normalize_alias(address)?;
        let domain_id = self.domain_id(&domain)?;
        let (target, _) = normalize_address(target)?;
        let account = self
            .account_of(&target)?
            .ok_or_else(|| StoreError::NotFound(format!("account {target}")))?;
        if self.address_taken(&address)? {
            return Err(StoreError::AlreadyExists(format!(
                "account or alias {address}"
            )));
        }
        self.execute(
            "INSERT INTO aliases(address, domain_id, account_id) VALUES ($1, $2, $3)",
            &[&address, &domain_id, &account.0],
        )?;
        Ok(())
    }

    fn add_alias_targets(&mut self, address: &str, targets: &[String]) -> Result<()> {
        if let [one] = targets {
            let (email, _) = normalize_address(one)?;
            if self.account_of(&email)?.is_some() {
                return self.add_alias(address, &email);
            }
        }
        let (address, domain) = normalize_alias(address)?;
        let domain_id = self.domain_id(&domain)?;
        if targets.is_empty() {
            return Err(StoreError::Refused(format!(
                "alias {address} needs a target"
            )));
        }
        if self.address_taken(&address)? {
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
            if self.is_local_domain(&target_domain)? && model::lookup(self, &target)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "{target}: no account or alias has this address"
                )));
            }
            self.execute(
                "INSERT INTO alias_targets(address, domain_id, position, target) VALUES ($1, $2, $3, $4)",
                &[&address, &domain_id, &(position as i64), &target],
            )?;
        }
        Ok(())
    }
}

impl PgBackend {
    /// Runs a read of the address rules in a transaction of its own.
    fn with_book<T>(&self, f: impl FnMut(&mut PgCtx<'_>) -> Result<T>) -> Result<T> {
        self.write(f)
    }

    pub(crate) fn add_alias_(&self, address: &str, target: &str) -> Result<()> {
        self.write(|ctx| ctx.add_alias(address, target))
            .map_err(super::unique_is_taken(address))
    }

    pub(crate) fn add_alias_targets_(&self, address: &str, targets: &[String]) -> Result<()> {
        self.write(|ctx| ctx.add_alias_targets(address, targets))
            .map_err(super::unique_is_taken(address))
    }

    pub(crate) fn aliases_(&self) -> Result<Vec<Alias>> {
        let mut out: Vec<Alias> = Vec::new();
        for r in self.query(
            "SELECT address, target FROM (
                 SELECT a.address, ac.email AS target, 0::BIGINT AS position FROM aliases a JOIN accounts ac ON ac.id = a.account_id
                 UNION ALL SELECT address, target, position FROM alias_targets) t
             ORDER BY address COLLATE \"C\", position",
            &[],
        )? {
            let (address, target): (String, String) = (r.get(0), r.get(1));
            match out.last_mut() {
                Some(last) if last.address == address => last.targets.push(target),
                _ => out.push(Alias {
                    address,
                    targets: vec![target],
                }),
            }
        }
        Ok(out)
    }

    pub(crate) fn remove_alias_(&self, address: &str) -> Result<()> {
        let (address, _) = normalize_alias(address)?;
        self.write(|ctx| {
            let removed = ctx.execute("DELETE FROM aliases WHERE address = $1", &[&address])?
                + ctx.execute("DELETE FROM alias_targets WHERE address = $1", &[&address])?;
            if removed == 0 {
                return Err(StoreError::NotFound(format!("alias {address}")));
            }
            Ok(())
        })
    }

    pub(crate) fn resolve_recipient_(&self, address: &str) -> Result<Option<AccountId>> {
        let Ok((address, _)) = normalize_address(address) else {
            return Ok(None);
        };
        self.with_book(|ctx| model::resolve_recipient(ctx, &address))
    }

    pub(crate) fn expand_recipient_(
        &self,
        address: &str,
        limits: ExpansionLimits,
    ) -> Result<Expansion> {
        let Ok((address, _)) = normalize_address(address) else {
            return Ok(Expansion::Unknown);
        };
        self.with_book(|ctx| model::expand_recipient(ctx, address.clone(), limits))
    }
}
