//! The outbound queue in SQLite (tables `queue` and `queue_rcpts`, see
//! `schema.rs`). The message bytes are a column of `queue`: a queued
//! message is written once and read at each attempt, and deleting the row
//! frees them, with no reference counting.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tidings_types::AccountId;

use crate::queue::{
    DeliveryStatus, NewQueued, QueueId, QueueRecipient, QueueUpdate, QueuedMessage,
};
use crate::{Result, StoreError};

pub(crate) fn add(
    tx: &Transaction<'_>,
    item: &NewQueued<'_>,
    now: i64,
    not_before: i64,
) -> Result<QueueId> {
    if item.recipients.is_empty() {
        return Err(StoreError::Refused(
            "a queued message needs a recipient".into(),
        ));
    }
    tx.prepare_cached(
        "INSERT INTO queue(sender, account_id, envid, ret_hdrs, ret_full, raw, size, created, next_attempt, attempts, requiretls)
         VALUES (?1, ?2, ?3, ?4, ?8, ?5, ?6, ?7, ?9, 0, ?10)",
    )?
    .execute(params![
        item.sender,
        item.account.map(|a| a.0),
        item.envid,
        item.ret_hdrs,
        item.raw,
        item.raw.len() as i64,
        now,
        item.ret_full,
        not_before,
        item.requiretls
    ])?;
    let id = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached(
        "INSERT INTO queue_rcpts(queue_id, idx, address, status, notify, orcpt, reply)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, r) in item.recipients.iter().enumerate() {
        insert.execute(params![
            id,
            i as i64,
            r.address,
            r.status.as_str(),
            r.notify,
            r.orcpt,
            r.reply
        ])?;
    }
    Ok(QueueId(id))
}

fn recipients(conn: &Connection, id: i64) -> Result<Vec<QueueRecipient>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, status, notify, orcpt, reply, delay_reported FROM queue_rcpts WHERE queue_id = ?1 ORDER BY idx",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, bool>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (address, status, notify, orcpt, reply, delay_reported) = row?;
        let status = DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("queue status `{status}`")))?;
        out.push(QueueRecipient {
            address,
            status,
            notify,
            orcpt,
            reply,
            delay_reported,
        });
    }
    Ok(out)
}

fn select(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<QueuedMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, sender, account_id, envid, ret_hdrs, size, created, next_attempt, attempts, ret_full, requiretls
         FROM queue {filter}"
    ))?;
    let rows = stmt.query_map(args, |r| {
        Ok(QueuedMessage {
            id: QueueId(r.get(0)?),
            sender: r.get(1)?,
            account: r.get::<_, Option<i64>>(2)?.map(AccountId),
            recipients: Vec::new(),
            envid: r.get(3)?,
            ret_hdrs: r.get(4)?,
            ret_full: r.get(9)?,
            requiretls: r.get(10)?,
            size: r.get::<_, i64>(5)? as u64,
            created: r.get(6)?,
            next_attempt: r.get(7)?,
            attempts: r.get::<_, i64>(8)?.try_into().unwrap_or(u32::MAX),
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let mut m = row?;
        m.recipients = recipients(conn, m.id.0)?;
        out.push(m);
    }
    Ok(out)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<QueuedMessage>> {
    select(conn, "ORDER BY id", &[])
}

pub(crate) fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<QueuedMessage>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    select(
        conn,
        "WHERE next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2",
        &[&now, &limit],
    )
}

pub(crate) fn raw(conn: &Connection, id: QueueId) -> Result<Vec<u8>> {
    conn.prepare_cached("SELECT raw FROM queue WHERE id = ?1")?
        .query_row([id.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))
}

pub(crate) fn update(tx: &Transaction<'_>, id: QueueId, update: &QueueUpdate) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE queue SET attempts = attempts + 1, next_attempt = ?2 WHERE id = ?1",
        )?
        .execute(params![id.0, update.next_attempt])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    let mut set = tx.prepare_cached(
        "UPDATE queue_rcpts SET status = ?3, reply = ?4 WHERE queue_id = ?1 AND idx = ?2",
    )?;
    for (idx, status, reply) in &update.recipients {
        set.execute(params![id.0, *idx as i64, status.as_str(), reply])?;
    }
    let mut reported = tx.prepare_cached(
        "UPDATE queue_rcpts SET delay_reported = 1 WHERE queue_id = ?1 AND idx = ?2",
    )?;
    for idx in &update.delay_reported {
        reported.execute(params![id.0, *idx as i64])?;
    }
    let pending: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM queue_rcpts WHERE queue_id = ?1 AND status = 'pending'",
        )?
        .query_row([id.0], |r| r.get(0))?;
    if pending == 0 {
        delete(tx, id)?;
    }
    Ok(())
}

pub(crate) fn retry(tx: &Transaction<'_>, id: QueueId) -> Result<()> {
    let n = tx
        .prepare_cached("UPDATE queue SET next_attempt = 0 WHERE id = ?1")?
        .execute([id.0])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(())
}

pub(crate) fn delete(tx: &Transaction<'_>, id: QueueId) -> Result<()> {
    tx.prepare_cached("DELETE FROM queue_rcpts WHERE queue_id = ?1")?
        .execute([id.0])?;
    let n = tx
        .prepare_cached("DELETE FROM queue WHERE id = ?1")?
        .execute([id.0])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(())
}

/// Deletes a message still held at `now` that was never tried.
pub(crate) fn cancel_held(tx: &Transaction<'_>, id: QueueId, now: i64) -> Result<bool> {
    let held: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM queue WHERE id = ?1 AND attempts = 0 AND next_attempt > ?2",
        )?
        .query_row(params![id.0, now], |r| r.get(0))
        .optional()?;
    if held.is_none() {
        return Ok(false);
    }
    delete(tx, id)?;
    Ok(true)
}

pub(crate) fn sts_policy(c: &Connection, domain: &str) -> Result<Option<crate::StsPolicy>> {
    Ok(
        c.prepare_cached("SELECT id, policy, fetched, expires FROM mta_sts WHERE domain = ?1")?
            .query_row([domain], |r| {
                Ok(crate::StsPolicy {
                    id: r.get(0)?,
                    policy: r.get(1)?,
                    fetched: r.get(2)?,
                    expires: r.get(3)?,
                })
            })
            .optional()?,
    )
}

pub(crate) fn sts_policies(c: &Connection) -> Result<Vec<(String, crate::StsPolicy)>> {
    let mut stmt = c.prepare_cached(
        "SELECT domain, id, policy, fetched, expires FROM mta_sts ORDER BY domain",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            crate::StsPolicy {
                id: r.get(1)?,
                policy: r.get(2)?,
                fetched: r.get(3)?,
                expires: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

pub(crate) fn sts_policy_put(
    tx: &Transaction<'_>,
    domain: &str,
    policy: &crate::StsPolicy,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO mta_sts(domain, id, policy, fetched, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        domain,
        policy.id,
        policy.policy,
        policy.fetched,
        policy.expires
    ])?;
    Ok(())
}

pub(crate) fn tls_result_add(tx: &Transaction<'_>, r: &crate::TlsResult) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO tls_results(day, domain, policy_type, policy, mx_host, receiving_ip, result, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)
         ON CONFLICT(day, domain, policy_type, policy, mx_host, receiving_ip, result)
         DO UPDATE SET count = count + 1",
    )?
    .execute(params![
        r.day,
        r.domain,
        r.policy_type,
        r.policy,
        r.mx_host,
        r.receiving_ip,
        r.result
    ])?;
    Ok(())
}

pub(crate) fn tls_results(c: &Connection, last_day: i64) -> Result<Vec<crate::TlsResultCount>> {
    let mut stmt = c.prepare_cached(
        "SELECT day, domain, policy_type, policy, mx_host, receiving_ip, result, count
         FROM tls_results WHERE day <= ?1
         ORDER BY domain, day, policy_type, policy, mx_host, receiving_ip, result",
    )?;
    let rows = stmt.query_map([last_day], |r| {
        Ok(crate::TlsResultCount {
            result: crate::TlsResult {
                day: r.get(0)?,
                domain: r.get(1)?,
                policy_type: r.get(2)?,
                policy: r.get(3)?,
                mx_host: r.get(4)?,
                receiving_ip: r.get(5)?,
                result: r.get(6)?,
            },
            count: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

pub(crate) fn tls_results_delete(tx: &Transaction<'_>, domain: &str, last_day: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM tls_results WHERE domain = ?1 AND day <= ?2")?
        .execute(params![domain, last_day])?;
    Ok(())
}

const DMARC_FIELDS: &str = "day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned, envelope_from, dkim_domain, dkim_result, spf_domain, spf_result";

pub(crate) fn dmarc_result_add(tx: &Transaction<'_>, r: &crate::DmarcResult) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO dmarc_results({DMARC_FIELDS}, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1)
         ON CONFLICT({DMARC_FIELDS}) DO UPDATE SET count = count + 1"
    ))?
    .execute(params![
        r.day,
        r.domain,
        r.policy,
        r.rua,
        r.source_ip,
        r.disposition,
        r.dkim_aligned,
        r.spf_aligned,
        r.envelope_from,
        r.dkim_domain,
        r.dkim_result,
        r.spf_domain,
        r.spf_result
    ])?;
    Ok(())
}

pub(crate) fn dmarc_results(c: &Connection, last_day: i64) -> Result<Vec<crate::DmarcResultCount>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DMARC_FIELDS}, count FROM dmarc_results WHERE day <= ?1 ORDER BY {DMARC_FIELDS}"
    ))?;
    let rows = stmt.query_map([last_day], |r| {
        Ok(crate::DmarcResultCount {
            result: crate::DmarcResult {
                day: r.get(0)?,
                domain: r.get(1)?,
                policy: r.get(2)?,
                rua: r.get(3)?,
                source_ip: r.get(4)?,
                disposition: r.get(5)?,
                dkim_aligned: r.get(6)?,
                spf_aligned: r.get(7)?,
                envelope_from: r.get(8)?,
                dkim_domain: r.get(9)?,
                dkim_result: r.get(10)?,
                spf_domain: r.get(11)?,
                spf_result: r.get(12)?,
            },
            count: u64::try_from(r.get::<_, i64>(13)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

pub(crate) fn dmarc_results_delete(
    tx: &Transaction<'_>,
    domain: &str,
    last_day: i64,
) -> Result<()> {
    tx.prepare_cached("DELETE FROM dmarc_results WHERE domain = ?1 AND day <= ?2")?
        .execute(params![domain, last_day])?;
    Ok(())
}
