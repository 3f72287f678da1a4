//! Exchange ActiveSync devices and their sync state in PostgreSQL
//! (`eas_devices`, `eas_sync`), the rows of the SQLite backend's
//! `sqlite/eas.rs`. The store keeps the rows; what they mean (policy keys,
//! SyncKeys) is the ActiveSync crate's. A device's rows are shared by the
//! nodes, so a phone may talk to any of them.

use tidings_types::AccountId;
use tokio_postgres::Row;

use super::PgBackend;
use crate::{EasDevice, EasWipe, Result};

const COLUMNS: &str = "account_id, device_id, device_type, user_agent, model, policy_key, \
                       pending_key, wipe, created, last_seen";

fn wipe_of(n: i32) -> EasWipe {
    match n {
        1 => EasWipe::Requested,
        2 => EasWipe::Done,
        _ => EasWipe::None,
    }
}

fn wipe_code(w: EasWipe) -> i32 {
    match w {
        EasWipe::None => 0,
        EasWipe::Requested => 1,
        EasWipe::Done => 2,
    }
}

fn device_from_row(r: &Row) -> EasDevice {
    EasDevice {
        account: AccountId(r.get(0)),
        device_id: r.get(1),
        device_type: r.get(2),
        user_agent: r.get(3),
        model: r.get(4),
        policy_key: u32::try_from(r.get::<_, i64>(5)).unwrap_or(0),
        pending_key: u32::try_from(r.get::<_, i64>(6)).unwrap_or(0),
        wipe: wipe_of(r.get(7)),
        created: r.get(8),
        last_seen: r.get(9),
    }
}

impl PgBackend {
    pub(crate) fn eas_device_(
        &self,
        account: AccountId,
        device_id: &str,
    ) -> Result<Option<EasDevice>> {
        Ok(self
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM eas_devices WHERE account_id = $1 AND device_id = $2"
                ),
                &[&account.0, &device_id],
            )?
            .as_ref()
            .map(device_from_row))
    }

    pub(crate) fn eas_devices_(&self, account: AccountId) -> Result<Vec<EasDevice>> {
        Ok(self
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM eas_devices WHERE account_id = $1 ORDER BY device_id COLLATE \"C\""
                ),
                &[&account.0],
            )?
            .iter()
            .map(device_from_row)
            .collect())
    }

    pub(crate) fn eas_put_device_(&self, d: &EasDevice) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                &format!(
                    "INSERT INTO eas_devices({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (account_id, device_id) DO UPDATE SET device_type = EXCLUDED.device_type,
                     user_agent = EXCLUDED.user_agent, model = EXCLUDED.model,
                     policy_key = EXCLUDED.policy_key, pending_key = EXCLUDED.pending_key,
                     wipe = EXCLUDED.wipe, last_seen = EXCLUDED.last_seen"
                ),
                &[
                    &d.account.0,
                    &d.device_id,
                    &d.device_type,
                    &d.user_agent,
                    &d.model,
                    &i64::from(d.policy_key),
                    &i64::from(d.pending_key),
                    &wipe_code(d.wipe),
                    &d.created,
                    &d.last_seen,
                ],
            )?;
            Ok(())
        })
    }

    pub(crate) fn eas_delete_device_(&self, account: AccountId, device_id: &str) -> Result<bool> {
        self.write(|ctx| {
            // Its sync states go with it (ON DELETE CASCADE).
            let n = ctx.execute(
                "DELETE FROM eas_devices WHERE account_id = $1 AND device_id = $2",
                &[&account.0, &device_id],
            )?;
            Ok(n > 0)
        })
    }

    pub(crate) fn eas_sync_state_(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query_opt(
                "SELECT state FROM eas_sync WHERE account_id = $1 AND device_id = $2 AND collection = $3",
                &[&account.0, &device_id, &collection],
            )?
            .map(|r| r.get(0)))
    }

    pub(crate) fn eas_set_sync_state_(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
        state: Option<&[u8]>,
    ) -> Result<()> {
        self.write(|ctx| {
            match state {
                Some(state) => ctx.execute(
                    "INSERT INTO eas_sync(account_id, device_id, collection, state) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id, device_id, collection) DO UPDATE SET state = EXCLUDED.state",
                    &[&account.0, &device_id, &collection, &state],
                )?,
                None => ctx.execute(
                    "DELETE FROM eas_sync WHERE account_id = $1 AND device_id = $2 AND collection = $3",
                    &[&account.0, &device_id, &collection],
                )?,
            };
            Ok(())
        })
    }
}
