//! Exchange ActiveSync devices and their sync state (`eas_devices`,
//! `eas_sync`). The store keeps the rows; what they mean (policy keys,
//! SyncKeys) is the ActiveSync crate's.

use rusqlite::{Connection, OptionalExtension, params};
use tidings_types::AccountId;

use super::writer::Ctx;
use crate::{EasDevice, EasWipe, Result};

const COLUMNS: &str = "account_id, device_id, device_type, user_agent, model, policy_key, \
                       pending_key, wipe, created, last_seen";

fn wipe_of(n: i64) -> EasWipe {
    match n {
        1 => EasWipe::Requested,
        2 => EasWipe::Done,
        _ => EasWipe::None,
    }
}

fn wipe_code(w: EasWipe) -> i64 {
    match w {
        EasWipe::None => 0,
        EasWipe::Requested => 1,
        EasWipe::Done => 2,
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EasDevice> {
    Ok(EasDevice {
        account: AccountId(r.get(0)?),
        device_id: r.get(1)?,
        device_type: r.get(2)?,
        user_agent: r.get(3)?,
        model: r.get(4)?,
        policy_key: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        pending_key: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
        wipe: wipe_of(r.get(7)?),
        created: r.get(8)?,
        last_seen: r.get(9)?,
    })
}

pub(crate) fn device(
    c: &Connection,
    account: AccountId,
    device_id: &str,
) -> Result<Option<EasDevice>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM eas_devices WHERE account_id = ?1 AND device_id = ?2"
    ))?
    .query_row(params![account.0, device_id], row)
    .optional()?)
}

pub(crate) fn devices(c: &Connection, account: AccountId) -> Result<Vec<EasDevice>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM eas_devices WHERE account_id = ?1 ORDER BY device_id"
    ))?;
    let rows = stmt.query_map([account.0], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn put(ctx: &mut Ctx<'_>, d: &EasDevice) -> Result<()> {
    ctx.tx.execute(
        &format!(
            "INSERT INTO eas_devices({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT(account_id, device_id) DO UPDATE SET device_type = excluded.device_type, \
             user_agent = excluded.user_agent, model = excluded.model, \
             policy_key = excluded.policy_key, pending_key = excluded.pending_key, \
             wipe = excluded.wipe, last_seen = excluded.last_seen"
        ),
        params![
            d.account.0,
            d.device_id,
            d.device_type,
            d.user_agent,
            d.model,
            i64::from(d.policy_key),
            i64::from(d.pending_key),
            wipe_code(d.wipe),
            d.created,
            d.last_seen
        ],
    )?;
    Ok(())
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, account: AccountId, device_id: &str) -> Result<bool> {
    ctx.tx.execute(
        "DELETE FROM eas_sync WHERE account_id = ?1 AND device_id = ?2",
        params![account.0, device_id],
    )?;
    let n = ctx.tx.execute(
        "DELETE FROM eas_devices WHERE account_id = ?1 AND device_id = ?2",
        params![account.0, device_id],
    )?;
    Ok(n > 0)
}

pub(crate) fn sync_state(
    c: &Connection,
    account: AccountId,
    device_id: &str,
    collection: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(c.prepare_cached(
        "SELECT state FROM eas_sync WHERE account_id = ?1 AND device_id = ?2 AND collection = ?3",
    )?
    .query_row(params![account.0, device_id, collection], |r| r.get(0))
    .optional()?)
}

pub(crate) fn set_sync_state(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    device_id: &str,
    collection: &str,
    state: Option<&[u8]>,
) -> Result<()> {
    match state {
        Some(state) => ctx.tx.execute(
            "INSERT INTO eas_sync(account_id, device_id, collection, state) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(account_id, device_id, collection) DO UPDATE SET state = excluded.state",
            params![account.0, device_id, collection, state],
        )?,
        None => ctx.tx.execute(
            "DELETE FROM eas_sync WHERE account_id = ?1 AND device_id = ?2 AND collection = ?3",
            params![account.0, device_id, collection],
        )?,
    };
    Ok(())
}
