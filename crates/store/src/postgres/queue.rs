//! The outbound queue shared by every node (tables `queue`, `queue_rcpts`,
//! `mta_sts`): the same rows as SQLite's (`crate::sqlite::queue`), plus a
//! lease. `queue_due` claims what it returns: it takes due messages that no
//! node holds with `FOR UPDATE SKIP LOCKED` and leases them to this node
//! for [`LEASE`] seconds, so two nodes never attempt one message at once;
//! recording the attempt (`queue_update`) ends the lease, and a node that
//! dies mid-delivery leaves its messages to another once their lease ends.

use tidings_types::AccountId;
use tokio_postgres::Row;

use super::{PgBackend, rows::PgCtx};
use crate::queue::{
    DeliveryStatus, NewQueued, QueueId, QueueRecipient, QueueUpdate, QueuedMessage,
};
use crate::{Result, StoreError, StsPolicy};

/// How long a claimed message is this node's (seconds): longer than one
/// attempt at all of a message's recipients takes.
pub(crate) const LEASE: i64 = 30 * 60;

const COLUMNS: &str = "id, sender, account_id, envid, ret_hdrs, size, created, next_attempt, attempts, ret_full, requiretls";

fn message_from_row(r: &Row) -> QueuedMessage {
    QueuedMessage {
        id: QueueId(r.get(0)),
        sender: r.get(1),
        account: r.get::<_, Option<i64>>(2).map(AccountId),
        recipients: Vec::new(),
        envid: r.get(3),
        ret_hdrs: r.get(4),
        ret_full: r.get(9),
        requiretls: r.get(10),
        size: r.get::<_, i64>(5) as u64,
        created: r.get(6),
        next_attempt: r.get(7),
        attempts: u32::try_from(r.get::<_, i32>(8)).unwrap_or(u32::MAX),
    }
}

fn with_recipients(
    ctx: &PgCtx<'_>,
    mut messages: Vec<QueuedMessage>,
) -> Result<Vec<QueuedMessage>> {
    for m in &mut messages {
        for r in ctx.query(
            "SELECT address, status, notify, orcpt, reply, delay_reported FROM queue_rcpts
             WHERE queue_id = $1 ORDER BY idx",
            &[&m.id.0],
        )? {
            let status: String = r.get(1);
            m.recipients.push(QueueRecipient {
                address: r.get(0),
                status: DeliveryStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("queue status `{status}`")))?,
                notify: r.get(2),
                orcpt: r.get(3),
                reply: r.get(4),
                delay_reported: r.get(5),
            });
        }
    }
    Ok(messages)
}

fn delete(ctx: &PgCtx<'_>, id: QueueId) -> Result<()> {
    ctx.execute("DELETE FROM queue_rcpts WHERE queue_id = $1", &[&id.0])?;
    if ctx.execute("DELETE FROM queue WHERE id = $1", &[&id.0])? == 0 {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(())
}

impl PgBackend {
    pub(crate) fn queue_add_at_(&self, item: &NewQueued<'_>, not_before: i64) -> Result<QueueId> {
        if item.recipients.is_empty() {
            return Err(StoreError::Refused(
                "a queued message needs a recipient".into(),
            ));
        }
        self.write(|ctx| {
            let id: i64 = ctx
                .query_one(
                    "INSERT INTO queue(sender, account_id, envid, ret_hdrs, ret_full, requiretls, raw, size, created, next_attempt)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    &[
                        &item.sender,
                        &item.account.map(|a| a.0),
                        &item.envid,
                        &item.ret_hdrs,
                        &item.ret_full,
                        &item.requiretls,
                        &item.raw,
                        &(item.raw.len() as i64),
                        &ctx.now,
                        &not_before,
                    ],
                )?
                .get(0);
            for (i, r) in item.recipients.iter().enumerate() {
                ctx.execute(
                    "INSERT INTO queue_rcpts(queue_id, idx, address, status, notify, orcpt, reply)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &id,
                        &(i as i32),
                        &r.address,
                        &r.status.as_str(),
                        &r.notify,
                        &r.orcpt,
                        &r.reply,
                    ],
                )?;
            }
            Ok(QueueId(id))
        })
    }

    pub(crate) fn queue_cancel_held_(&self, id: QueueId, now: i64) -> Result<bool> {
        self.write(|ctx| {
            // Never tried, still held, and no node is sending it.
            let held = ctx
                .query_opt(
                    "SELECT id FROM queue WHERE id = $1 AND attempts = 0 AND next_attempt > $2
                       AND leased_until <= $2 FOR UPDATE",
                    &[&id.0, &now],
                )?
                .is_some();
            if held {
                delete(ctx, id)?;
            }
            Ok(held)
        })
    }

    pub(crate) fn queue_list_(&self) -> Result<Vec<QueuedMessage>> {
        self.write(|ctx| {
            let messages = ctx
                .query(&format!("SELECT {COLUMNS} FROM queue ORDER BY id"), &[])?
                .iter()
                .map(message_from_row)
                .collect();
            with_recipients(ctx, messages)
        })
    }

    pub(crate) fn queue_message_(&self, id: QueueId) -> Result<Option<QueuedMessage>> {
        self.write(|ctx| {
            let messages = ctx
                .query(
                    &format!("SELECT {COLUMNS} FROM queue WHERE id = $1"),
                    &[&id.0],
                )?
                .iter()
                .map(message_from_row)
                .collect();
            Ok(with_recipients(ctx, messages)?.pop())
        })
    }

    /// Claims at most `limit` due messages no node holds (see the module).
    pub(crate) fn queue_due_(&self, now: i64, limit: usize) -> Result<Vec<QueuedMessage>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(|ctx| {
            let mut messages: Vec<QueuedMessage> = ctx
                .query(
                    &format!(
                        "WITH claimed AS (
                             SELECT id FROM queue WHERE next_attempt <= $1 AND leased_until <= $1
                             ORDER BY next_attempt, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                         UPDATE queue SET leased_until = $1 + $3 FROM claimed WHERE queue.id = claimed.id
                         RETURNING {}",
                        COLUMNS
                            .split(", ")
                            .map(|c| format!("queue.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    &[&now, &limit, &LEASE],
                )?
                .iter()
                .map(message_from_row)
                .collect();
            messages.sort_by_key(|m| (m.next_attempt, m.id));
            with_recipients(ctx, messages)
        })
    }

    pub(crate) fn queue_raw_(&self, id: QueueId) -> Result<Vec<u8>> {
        Ok(self
            .query_opt("SELECT raw FROM queue WHERE id = $1", &[&id.0])?
            .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))?
            .get(0))
    }

    pub(crate) fn queue_update_(&self, id: QueueId, update: &QueueUpdate) -> Result<()> {
        self.write(|ctx| {
            let n = ctx.execute(
                "UPDATE queue SET attempts = attempts + 1, next_attempt = $2, leased_until = 0 WHERE id = $1",
                &[&id.0, &update.next_attempt],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("queued message {id}")));
            }
            for (idx, status, reply) in &update.recipients {
                ctx.execute(
                    "UPDATE queue_rcpts SET status = $3, reply = $4 WHERE queue_id = $1 AND idx = $2",
                    &[&id.0, &(*idx as i32), &status.as_str(), reply],
                )?;
            }
            for idx in &update.delay_reported {
                ctx.execute(
                    "UPDATE queue_rcpts SET delay_reported = true WHERE queue_id = $1 AND idx = $2",
                    &[&id.0, &(*idx as i32)],
                )?;
            }
            let pending: i64 = ctx
                .query_one(
                    "SELECT count(*) FROM queue_rcpts WHERE queue_id = $1 AND status = 'pending'",
                    &[&id.0],
                )?
                .get(0);
            if pending == 0 {
                delete(ctx, id)?;
            }
            Ok(())
        })
    }

    pub(crate) fn queue_retry_(&self, id: QueueId) -> Result<()> {
        self.write(|ctx| {
            if ctx.execute("UPDATE queue SET next_attempt = 0 WHERE id = $1", &[&id.0])? == 0 {
                return Err(StoreError::NotFound(format!("queued message {id}")));
            }
            Ok(())
        })
    }

    pub(crate) fn queue_delete_(&self, id: QueueId) -> Result<()> {
        self.write(|ctx| delete(ctx, id))
    }

    pub(crate) fn sts_policy_(&self, domain: &str) -> Result<Option<StsPolicy>> {
        Ok(self
            .query_opt(
                "SELECT id, policy, fetched, expires FROM mta_sts WHERE domain = $1",
                &[&domain],
            )?
            .map(|r| StsPolicy {
                id: r.get(0),
                policy: r.get(1),
                fetched: r.get(2),
                expires: r.get(3),
            }))
    }

    pub(crate) fn sts_policy_put_(&self, domain: &str, policy: &StsPolicy) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                "INSERT INTO mta_sts(domain, id, policy, fetched, expires) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (domain) DO UPDATE SET id = EXCLUDED.id, policy = EXCLUDED.policy,
                     fetched = EXCLUDED.fetched, expires = EXCLUDED.expires",
                &[&domain, &policy.id, &policy.policy, &policy.fetched, &policy.expires],
            )?;
            Ok(())
        })
    }
}

/// The columns of a DMARC evaluation row, in `DmarcResult`'s order.
const DMARC_FIELDS: &str = "day, domain, policy, rua, source_ip, disposition, dkim_aligned, spf_aligned, envelope_from, dkim_domain, dkim_result, spf_domain, spf_result";

/// The reports' counters (TLS-RPT, RFC 8460; DMARC aggregate reports,
/// RFC 7489 §7.2) and the MTA-STS cache's listing, shared by the nodes:
/// counts are added in the database, so every node's sessions are in one
/// report.
impl PgBackend {
    pub(crate) fn sts_policies_(&self) -> Result<Vec<(String, StsPolicy)>> {
        Ok(self
            .query(
                "SELECT domain, id, policy, fetched, expires FROM mta_sts ORDER BY domain COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    StsPolicy {
                        id: r.get(1),
                        policy: r.get(2),
                        fetched: r.get(3),
                        expires: r.get(4),
                    },
                )
            })
            .collect())
    }

    pub(crate) fn tls_result_add_(&self, r: &crate::TlsResult) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                "INSERT INTO tls_results(day, domain, policy_type, policy, mx_host, receiving_ip, result, count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
                 ON CONFLICT (day, domain, policy_type, policy, mx_host, receiving_ip, result)
                 DO UPDATE SET count = tls_results.count + 1",
                &[
                    &r.day,
                    &r.domain,
                    &r.policy_type,
                    &r.policy,
                    &r.mx_host,
                    &r.receiving_ip,
                    &r.result,
                ],
            )?;
            Ok(())
        })
    }

    pub(crate) fn tls_results_(&self, last_day: i64) -> Result<Vec<crate::TlsResultCount>> {
        Ok(self
            .query(
                "SELECT day, domain, policy_type, policy, mx_host, receiving_ip, result, count
                 FROM tls_results WHERE day <= $1
                 ORDER BY domain COLLATE \"C\", day, policy_type COLLATE \"C\", policy COLLATE \"C\",
                     mx_host COLLATE \"C\", receiving_ip COLLATE \"C\", result COLLATE \"C\"",
                &[&last_day],
            )?
            .iter()
            .map(|r| crate::TlsResultCount {
                result: crate::TlsResult {
                    day: r.get(0),
                    domain: r.get(1),
                    policy_type: r.get(2),
                    policy: r.get(3),
                    mx_host: r.get(4),
                    receiving_ip: r.get(5),
                    result: r.get(6),
                },
                count: u64::try_from(r.get::<_, i64>(7)).unwrap_or(0),
            })
            .collect())
    }

    pub(crate) fn tls_results_delete_(&self, domain: &str, last_day: i64) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                "DELETE FROM tls_results WHERE domain = $1 AND day <= $2",
                &[&domain, &last_day],
            )?;
            Ok(())
        })
    }

    pub(crate) fn dmarc_result_add_(&self, r: &crate::DmarcResult) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                &format!(
                    "INSERT INTO dmarc_results({DMARC_FIELDS}, count)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)
                     ON CONFLICT ({DMARC_FIELDS}) DO UPDATE SET count = dmarc_results.count + 1"
                ),
                &[
                    &r.day,
                    &r.domain,
                    &r.policy,
                    &r.rua,
                    &r.source_ip,
                    &r.disposition,
                    &r.dkim_aligned,
                    &r.spf_aligned,
                    &r.envelope_from,
                    &r.dkim_domain,
                    &r.dkim_result,
                    &r.spf_domain,
                    &r.spf_result,
                ],
            )?;
            Ok(())
        })
    }

    pub(crate) fn dmarc_results_(&self, last_day: i64) -> Result<Vec<crate::DmarcResultCount>> {
        let order = DMARC_FIELDS
            .split(", ")
            .map(|f| match f {
                "day" | "dkim_aligned" | "spf_aligned" => f.to_string(),
                _ => format!("{f} COLLATE \"C\""),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(self
            .query(
                &format!(
                    "SELECT {DMARC_FIELDS}, count FROM dmarc_results WHERE day <= $1 ORDER BY {order}"
                ),
                &[&last_day],
            )?
            .iter()
            .map(|r| crate::DmarcResultCount {
                result: crate::DmarcResult {
                    day: r.get(0),
                    domain: r.get(1),
                    policy: r.get(2),
                    rua: r.get(3),
                    source_ip: r.get(4),
                    disposition: r.get(5),
                    dkim_aligned: r.get(6),
                    spf_aligned: r.get(7),
                    envelope_from: r.get(8),
                    dkim_domain: r.get(9),
                    dkim_result: r.get(10),
                    spf_domain: r.get(11),
                    spf_result: r.get(12),
                },
                count: u64::try_from(r.get::<_, i64>(13)).unwrap_or(0),
            })
            .collect())
    }

    pub(crate) fn dmarc_results_delete_(&self, domain: &str, last_day: i64) -> Result<()> {
        self.write(|ctx| {
            ctx.execute(
                "DELETE FROM dmarc_results WHERE domain = $1 AND day <= $2",
                &[&domain, &last_day],
            )?;
            Ok(())
        })
    }
}
