//! The outbound queue worker: delivers queued messages to other servers,
//! retries, and bounces.
//!
//! Implementation notes:
//! - The queue is in the store (`tidings_store::queue`); this task holds no
//!   state a crash could lose. A message is taken when due, tried, and the
//!   outcome per recipient recorded in one store write; a crash in between
//!   means the message is tried again (a duplicate is possible, a loss is
//!   not: RFC 5321 §6.1 prefers that).
//! - Routing, per recipient domain (RFC 5321 §5.1): a domain of our own
//!   is delivered here, into the account's INBOX; else the `relay` smarthost
//!   when set; else the static MX map; else DNS: MX records by preference
//!   (a null MX, RFC 7505, fails at once), and without MX records the
//!   domain's own A/AAAA (the implicit MX). Each address is tried in
//!   order until one answers. An address from DNS that is not public
//!   (loopback, private, link-local, ... see `dns::is_public`) is never
//!   connected to; when DNS gives only such addresses the recipients fail
//!   with 550 5.4.4. The relay and the static map may name any address.
//! - MX hosts from DNS are under the domain's MTA-STS policy (RFC 8461,
//!   `mta_sts`): with `enforce`, hosts outside it are skipped and the
//!   others must verify over STARTTLS, else the recipients stay pending
//!   with 451 4.7.5 and the reason.
//! - DANE (RFC 7672, `dane`, with `[dns] dnssec`): an MX host from DNS
//!   with DNSSEC-signed TLSA records must offer STARTTLS and a
//!   certificate that matches them, else the recipients stay pending with
//!   451 4.7.5. DANE takes precedence over MTA-STS (RFC 8461 §2), per
//!   host: such a host need not be in the domain's policy, and its
//!   certificate need not verify against the WebPKI roots. The hosts of
//!   `relay` and `[smtp.mx]` routes, when written as names, are under
//!   DANE alike (TLSA at `_PORT._tcp.HOST`); a relay with credentials
//!   then has its certificate checked by the records rather than by its
//!   roots.
//! - REQUIRETLS (RFC 8689): a message that carries it goes to an MX from
//!   DNS only with usable DANE records, or under an MTA-STS policy (any
//!   mode) that names it, and to
//!   any next hop only over verified STARTTLS when it offers REQUIRETLS
//!   (passed on MAIL); otherwise it is returned at once, 550 5.7.30.
//!   `TLS-Required: No` in the header section turns MTA-STS off for the
//!   message, unless it carries REQUIRETLS.
//! - Per recipient: 2xx delivered; 5xx failed; 4xx or no answer stays
//!   pending, retried after `retry_after`, doubled with each attempt up to
//!   4 hours, until `lifetime` has passed since the message was queued
//!   (RFC 5321 §4.5.4.1: give up after 4-5 days); then it fails.
//! - Up to `BATCH` due messages are tried side by side on the worker's
//!   task; the next batch is read once all of them are recorded.
//! - A failed recipient yields a delivery status notification (RFC 3464
//!   multipart/report) in the sender's INBOX, unless its NOTIFY excludes
//!   failures (RFC 3461 §4.1) or the sender is the null path; RET=HDRS
//!   attaches only the header section. One report per attempt lists every
//!   recipient that failed in it.
//! - DSN to the next hop (RFC 3461 §5.2.3): a server that advertises DSN
//!   gets RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, and reports
//!   from then on. One that does not gets none of them; a recipient whose
//!   NOTIFY has SUCCESS then yields a "relayed" report (§5.2.4) after its
//!   250, and one whose NOTIFY has DELAY a single "delayed" report at the
//!   first temporary failure (recorded in the queue, not repeated at the
//!   retries). Success and delay reports carry the header section unless
//!   RET=FULL was given (§4.3).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_smtp_proto::{EnhancedCode, Notify as NotifyParam, Path, RcptParams, Reply, Ret};
use tidings_store::{DeliveryStatus, QueueUpdate, QueuedMessage, Recipient, Store, StoreError};
use tidings_types::MailboxRole;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Envelope, SessionError};
use crate::message;

/// Messages taken from the queue per round.
const BATCH: usize = 16;
/// How often the queue is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(1);
/// How often cached MTA-STS policies are looked at for refreshing.
const STS_REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(4 * 3600);

/// How outbound mail leaves.
#[derive(Clone, Debug)]
pub struct OutboundConfig {
    /// Our name in EHLO and in bounces.
    pub hostname: String,
    /// A smarthost `host:port` for everything.
    pub relay: Option<String>,
    /// How to talk to the smarthost when it needs TLS and a login
    /// (`relay_user`); `None`: opportunistic TLS as for any MX.
    pub relay_security: Option<Arc<client::RelaySecurity>>,
    /// Static routes: lowercased domain → `host:port`.
    pub mx: BTreeMap<String, String>,
    /// How long a message is retried before it bounces (RFC 5321 §4.5.4.1).
    pub lifetime: Duration,
    /// The first retry's delay; doubled with each attempt.
    pub retry_after: Duration,
    /// Where MX lookups go.
    pub dns: crate::dns::DnsConfig,
    /// Reverses the SRS sender of a forwarded copy, so that its bounce
    /// reaches the original sender; `None`: such bounces go nowhere.
    pub srs: Option<Arc<crate::srs::Srs>>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            hostname: "localhost".into(),
            relay: None,
            relay_security: None,
            mx: BTreeMap::new(),
            srs: None,
            lifetime: Duration::from_secs(5 * 86_400),
            retry_after: Duration::from_secs(5 * 60),
            dns: crate::dns::DnsConfig::default(),
        }
    }
}

/// Wakes the worker when a message was queued.
#[derive(Clone, Debug, Default)]
pub struct OutboundHandle {
    kick: Arc<Notify>,
}

impl OutboundHandle {
    /// A handle with no worker behind it (messages wait for the next poll
    /// of whichever worker runs).
    pub fn new() -> Self {
        OutboundHandle::default()
    }

    /// Tells the worker to look at the queue now.
    pub fn kick(&self) {
        self.kick.notify_one();
    }
}

/// Starts the worker on the current runtime; it stops when `shutdown` is
/// cancelled (between attempts).
pub fn spawn(
    store: Store,
    config: OutboundConfig,
    handle: OutboundHandle,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let worker = match Worker::new(store, config) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("outbound delivery cannot start: {e}");
                return;
            }
        };
        if let Some(sts) = &worker.sts {
            // RFC 8461 §3.3: cached policies refreshed before they expire.
            let policies = Arc::clone(&sts.policies);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    policies.refresh().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(STS_REFRESH_EVERY) => {}
                    }
                }
            });
        }
        worker.run(handle, shutdown).await;
    })
}

struct Worker {
    store: Store,
    config: OutboundConfig,
    tls: Arc<rustls::ClientConfig>,
    resolver: Option<hickory_resolver::TokioResolver>,
    /// MTA-STS policies, and the TLS configurations their modes need;
    /// `None` without a resolver or trusted roots.
    sts: Option<StsTls>,
    /// TLSA lookups; `None` unless `[dns] dnssec`.
    dane: Option<crate::dane::DaneResolver>,
}

/// What MTA-STS needs (see `mta_sts`).
struct StsTls {
    policies: Arc<crate::mta_sts::StsResolver>,
    /// `enforce`: the certificate must verify.
    verified: Arc<rustls::ClientConfig>,
    /// `testing`: a failure is logged (and counted for TLS-RPT).
    reporting: client::ReportingRoots,
}

/// Where a domain's mail goes.
enum Route {
    /// Addresses to try in order, each with the name for TLS; `true` when
    /// they come from the domain's MX records (or its own address) in DNS.
    Hosts(Vec<(String, SocketAddr)>, bool),
    /// The domain accepts no mail, or does not exist.
    Permanent(String),
    /// DNS failed; try later.
    Temporary(String),
    /// DNS named only addresses mail must not go to (`dns::is_public`).
    Internal(String),
}

impl Worker {
    fn new(store: Store, config: OutboundConfig) -> Result<Worker, String> {
        let tls = client::opportunistic_tls().map_err(|e| e.to_string())?;
        let resolver = match config.dns.resolver() {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("no DNS resolver ({e}): only the relay and [smtp.mx] routes work");
                None
            }
        };
        let sts = resolver.as_ref().and_then(|resolver| {
            let configs = client::verifying_tls(None).and_then(|verified| {
                client::ReportingRoots::new().map(|reporting| (verified, reporting))
            });
            match configs {
                Ok((verified, reporting)) => Some(StsTls {
                    policies: Arc::new(crate::mta_sts::StsResolver::new(
                        store.clone(),
                        resolver.clone(),
                        Arc::clone(&verified),
                    )),
                    verified,
                    reporting,
                }),
                Err(e) => {
                    tracing::warn!("MTA-STS policies are not applied: {e}");
                    None
                }
            }
        });
        let dane = if resolver.is_some() {
            crate::dane::DaneResolver::new(&config.dns).unwrap_or_else(|e| {
                tracing::warn!("DANE is off: {e}");
                None
            })
        } else {
            None
        };
        Ok(Worker {
            store,
            config,
            tls,
            resolver,
            sts,
            dane,
        })
    }

    async fn run(self, handle: OutboundHandle, shutdown: CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let store = self.store.clone();
            let due = tokio::task::spawn_blocking(move || store.queue_due(message::now(), BATCH))
                .await
                .unwrap_or_else(|e| Err(StoreError::Database(e.to_string())));
            let due = match due {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("cannot read the queue: {e}");
                    Vec::new()
                }
            };
            let busy = !due.is_empty();
            // One batch at a time, its messages side by side: a slow remote
            // server does not hold up the others, and no message is taken
            // twice (the next query runs after every attempt is recorded).
            let attempts = due.into_iter().map(|item| self.attempt(item));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = join_all(attempts) => {}
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = handle.kick.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Tries every pending recipient of one message once.
    async fn attempt(&self, item: QueuedMessage) {
        let id = item.id;
        let store = self.store.clone();
        let raw = match tokio::task::spawn_blocking(move || store.queue_raw(id)).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => {
                tracing::warn!(%id, "cannot read queued message: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(%id, "cannot read queued message: {e}");
                return;
            }
        };
        // Pending recipients by domain.
        let mut by_domain: BTreeMap<String, Vec<(usize, Path)>> = BTreeMap::new();
        let ret = if item.ret_hdrs {
            Some(Ret::Hdrs)
        } else if item.ret_full {
            Some(Ret::Full)
        } else {
            None
        };
        for (i, r) in item.recipients.iter().enumerate() {
            if r.status != DeliveryStatus::Pending {
                continue;
            }
            if r.address.starts_with("https://") {
                // A TLS-RPT report to post (see `post_report`), grouped
                // under its URL.
                by_domain.entry(r.address.clone()).or_default().push((
                    i,
                    Path {
                        local: r.address.clone(),
                        domain: String::new(),
                    },
                ));
                continue;
            }
            let path = match r.address.rsplit_once('@') {
                Some((local, domain)) => Path {
                    local: local.to_string(),
                    domain: domain.to_lowercase(),
                },
                None => Path {
                    local: r.address.clone(),
                    domain: String::new(),
                },
            };
            by_domain
                .entry(path.domain.clone())
                .or_default()
                .push((i, path));
        }
        let from = item.sender.rsplit_once('@').map(|(l, d)| Path {
            local: l.to_string(),
            domain: d.to_string(),
        });
        let now = message::now();
        let expired = now.saturating_sub(item.created)
            >= i64::try_from(self.config.lifetime.as_secs()).unwrap_or(i64::MAX);
        let mut results: Vec<(usize, DeliveryStatus, Option<String>)> = Vec::new();
        let mut failed: Vec<(usize, Reply, Option<String>)> = Vec::new();
        let mut relayed: Vec<(usize, Reply, Option<String>)> = Vec::new();
        let mut delayed: Vec<(usize, Reply, Option<String>)> = Vec::new();
        for (domain, rcpts) in by_domain {
            let paths: Vec<Path> = rcpts.iter().map(|(_, p)| p.clone()).collect();
            let params: Vec<RcptParams> = rcpts
                .iter()
                .map(|(i, _)| RcptParams {
                    notify: notify_param(&item.recipients[*i].notify),
                    orcpt: item.recipients[*i].orcpt.clone(),
                })
                .collect();
            let dsn = DsnParams {
                ret,
                envid: item.envid.as_deref(),
                rcpts: &params,
                requiretls: item.requiretls,
            };
            let (mut replies, mut remote, mut took_dsn) = if domain.starts_with("https://") {
                let reply = self.post_report(&domain, &raw).await;
                (vec![reply; paths.len()], None, false)
            } else {
                self.deliver_domain(&domain, from.clone(), &paths, &raw, &dsn)
                    .await
            };
            if item.requiretls
                && item.sender.is_empty()
                && replies
                    .iter()
                    .all(|r| r.enhanced == Some(EnhancedCode(5, 7, 30)))
                && let Some(redacted) = redact_report(&raw)
            {
                // RFC 8689 §5: a bounce of a REQUIRETLS message that cannot
                // go with REQUIRETLS is not discarded: it goes without,
                // stripped of the returned header section.
                tracing::info!(%id, "the report cannot go with REQUIRETLS to {domain}: sending it redacted");
                let plain = DsnParams {
                    requiretls: false,
                    ..dsn
                };
                (replies, remote, took_dsn) = self
                    .deliver_domain(&domain, from.clone(), &paths, &redacted, &plain)
                    .await;
            }
            for ((idx, path), reply) in rcpts.iter().zip(replies) {
                let text = reply.to_string();
                let rcpt = &item.recipients[*idx];
                if reply.is_positive() {
                    tracing::info!(%id, rcpt = %path, "delivered: {text}");
                    tidings_metrics::sent(tidings_metrics::Sent::Sent, 1);
                    results.push((*idx, DeliveryStatus::Delivered, Some(text)));
                    if !took_dsn && rcpt.notify_has("SUCCESS") {
                        relayed.push((*idx, reply, remote.clone()));
                    }
                } else if reply.is_transient() && !expired {
                    tracing::info!(%id, rcpt = %path, "deferred: {text}");
                    tidings_metrics::sent(tidings_metrics::Sent::Deferred, 1);
                    results.push((*idx, DeliveryStatus::Pending, Some(text)));
                    if rcpt.notify_has("DELAY") && !rcpt.delay_reported {
                        delayed.push((*idx, reply, remote.clone()));
                    }
                } else {
                    tracing::info!(%id, rcpt = %path, "failed: {text}");
                    tidings_metrics::sent(tidings_metrics::Sent::Bounced, 1);
                    results.push((*idx, DeliveryStatus::Failed, Some(text)));
                    failed.push((*idx, reply, remote.clone()));
                }
            }
        }
        let backoff = self
            .config
            .retry_after
            .saturating_mul(2u32.saturating_pow(item.attempts.min(16)))
            .min(MAX_BACKOFF);
        let update = QueueUpdate {
            recipients: results,
            next_attempt: now + i64::try_from(backoff.as_secs()).unwrap_or(i64::MAX / 2),
            delay_reported: delayed.iter().map(|(i, _, _)| *i).collect(),
        };
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || store.queue_update(id, &update))
            .await
            .unwrap_or_else(|e| Err(StoreError::Database(e.to_string())));
        if let Err(e) = written {
            tracing::warn!(%id, "cannot record the attempt: {e}");
            return;
        }
        let reportable: Vec<(usize, Reply, Option<String>)> = failed
            .into_iter()
            .filter(|(i, _, _)| item.recipients[*i].wants_failure_report())
            .collect();
        if item.sender.is_empty() {
            // RFC 3461 §6.2: nothing goes back to the null path.
            return;
        }
        let host = &self.config.hostname;
        if !reportable.is_empty() {
            let report = delivery_report(host, &item, &raw, &reportable, expired);
            self.notify(&item, report, "bounce").await;
        }
        if !relayed.is_empty() {
            let report = status_report(host, &item, &raw, &relayed, Action::Relayed, false, None);
            self.notify(&item, report, "relayed report").await;
        }
        if !delayed.is_empty() {
            let until = item.created
                + i64::try_from(self.config.lifetime.as_secs()).unwrap_or(i64::MAX / 2);
            let report = status_report(
                host,
                &item,
                &raw,
                &delayed,
                Action::Delayed,
                false,
                Some(until),
            );
            self.notify(&item, report, "delay report").await;
        }
    }

    /// Delivers to the recipients of one domain: one reply per recipient
    /// and the server that gave them.
    async fn deliver_domain(
        &self,
        domain: &str,
        from: Option<Path>,
        rcpts: &[Path],
        raw: &[u8],
        dsn: &DsnParams<'_>,
    ) -> (Vec<Reply>, Option<String>, bool) {
        let all = |reply: Reply| (vec![reply; rcpts.len()], None, false);
        let store = self.store.clone();
        let name = domain.to_string();
        let local = tokio::task::spawn_blocking(move || store.is_local_domain(&name))
            .await
            .unwrap_or_else(|e| Err(StoreError::Database(e.to_string())));
        match local {
            Ok(true) => {
                let host = self.config.hostname.clone();
                return (self.deliver_here(rcpts, raw).await, Some(host), false);
            }
            Ok(false) => {}
            Err(e) => {
                return all(Reply::new(
                    451,
                    EnhancedCode(4, 3, 0),
                    format!("store: {e}"),
                ));
            }
        }
        let (hosts, from_dns) = match self.route(domain).await {
            Route::Hosts(h, from_dns) => (h, from_dns),
            Route::Permanent(why) => return all(Reply::new(550, EnhancedCode(5, 1, 2), why)),
            Route::Temporary(why) => return all(Reply::new(451, EnhancedCode(4, 4, 3), why)),
            // RFC 3463 X.4.4: unable to route.
            Route::Internal(why) => return all(Reply::new(550, EnhancedCode(5, 4, 4), why)),
        };
        let requiretls = dsn.requiretls;
        // RFC 8689 §5: `TLS-Required: No` asks to deliver whatever the
        // policies say; REQUIRETLS overrides it.
        let tls_optional = !requiretls && tls_required_no(raw);
        // RFC 8461: only MX hosts from DNS are under the domain's policy.
        let policy = match (&self.sts, from_dns, tls_optional) {
            (Some(sts), true, false) => {
                let (policy, error) = sts.policies.policy_and_error(domain).await;
                if let Some(e) = error {
                    // TLS-RPT (RFC 8460 §4.3): the policy could not be had.
                    self.count_tls(domain, "sts", String::new(), "", "", e.result_type())
                        .await;
                }
                policy
            }
            _ => None,
        };
        // RFC 8689 §4.2.1: MX hosts from DNS are trusted only through
        // DANE or an MTA-STS policy; the relay and `[smtp.mx]` are the
        // administrator's. Without DANE, that is known now.
        if requiretls && from_dns && policy.is_none() && self.dane.is_none() {
            return all(Reply::new(
                550,
                EnhancedCode(5, 7, 30),
                format!("REQUIRETLS: {domain} has no MTA-STS policy to check its MX hosts against"),
            ));
        }
        let enforce = requiretls
            || policy
                .as_ref()
                .is_some_and(|p| p.mode == crate::mta_sts::Mode::Enforce);
        let what = if requiretls {
            "REQUIRETLS".to_string()
        } else {
            format!("MTA-STS policy of {domain}: enforce")
        };
        let mut last = String::from("no address to deliver to");
        let mut insecure = false;
        for (name, addr) in hosts {
            // What a `testing` policy let pass, counted for TLS-RPT in
            // place of a success (RFC 8461 §5).
            let seen: client::SeenFailure = Arc::default();
            let dane = match &self.dane {
                // MX hosts from DNS, and the administrator's routes by
                // name (their port in the TLSA name); not IP literals.
                Some(dane)
                    if !tls_optional && (from_dns || name.parse::<std::net::IpAddr>().is_err()) =>
                {
                    dane.host(&name, addr.ip(), addr.port()).await
                }
                _ => crate::dane::HostDane::None,
            };
            let dane_tls = match &dane {
                crate::dane::HostDane::None => None,
                crate::dane::HostDane::Failed(why) => {
                    tracing::info!("{why}: not delivering to {name} now");
                    if from_dns {
                        self.count_tls(
                            domain,
                            "tlsa",
                            String::new(),
                            &name,
                            addr.ip(),
                            "dnssec-invalid",
                        )
                        .await;
                    }
                    last = format!("{name}: {why}");
                    insecure = true;
                    continue;
                }
                // An administrator's route: its roots can still
                // authenticate it, as without records.
                crate::dane::HostDane::Encrypt if requiretls && !from_dns => None,
                crate::dane::HostDane::Encrypt if requiretls => {
                    // RFC 8689 §4.2.1 wants the next hop authenticated.
                    last = format!(
                        "REQUIRETLS: {name} has DNSSEC-signed TLSA records, none of them usable to authenticate it"
                    );
                    insecure = true;
                    continue;
                }
                crate::dane::HostDane::Encrypt => Some((Arc::clone(&self.tls), false)),
                crate::dane::HostDane::Verify { records, base } => {
                    match crate::dane::verifying_tls(Arc::clone(records), base.as_deref()) {
                        Ok(tls) => Some((tls, true)),
                        Err(e) => {
                            last = format!("{name}: DANE: {e}");
                            insecure = true;
                            continue;
                        }
                    }
                }
            };
            if dane_tls.is_none() && requiretls && from_dns && policy.is_none() {
                last = format!(
                    "REQUIRETLS: {name} has no DNSSEC-signed TLSA records and {domain} no MTA-STS policy to check it against"
                );
                insecure = true;
                continue;
            }
            // RFC 8461 §2: DANE takes precedence over MTA-STS.
            if dane_tls.is_none()
                && let Some(policy) = &policy
                && !policy.matches(&name)
            {
                if enforce {
                    let (policy_type, text) = tls_policy(&dane, Some(policy));
                    self.count_tls(
                        domain,
                        policy_type,
                        text,
                        &name,
                        addr.ip(),
                        "validation-failure",
                    )
                    .await;
                    last = format!(
                        "{name} is not a mail host of {domain}'s MTA-STS policy ({what}): not delivering there"
                    );
                    tracing::info!("{last}");
                    insecure = true;
                    continue;
                }
                tracing::warn!(
                    "MTA-STS (testing): {name} is not a mail host of {domain}'s policy; an enforced policy would refuse it, delivering anyway"
                );
                if let Ok(mut seen) = seen.lock() {
                    *seen = Some(client::TlsFailure::ValidationFailure);
                }
            }
            let env = Envelope {
                hostname: &self.config.hostname,
                server_name: &name,
                from: from.clone(),
                recipients: rcpts,
                raw,
                ret: dsn.ret,
                envid: dsn.envid,
                rcpt_params: dsn.rcpts,
                requiretls,
            };
            let what = if dane_tls.is_some() && !requiretls {
                format!("DANE TLSA records of {name}")
            } else {
                what.clone()
            };
            let testing_tls = match &self.sts {
                Some(sts) if policy.is_some() && !enforce => match sts.reporting.config(&seen) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        last = format!("{name}: {e}");
                        continue;
                    }
                },
                _ => None,
            };
            let security = match (&self.config.relay, &self.config.relay_security, &self.sts) {
                // A relay with usable DANE records is verified by them
                // (RFC 7672 §2.2.3); else by its roots.
                (Some(_), Some(relay), _) => client::Security::Relay {
                    relay,
                    tls: match &dane_tls {
                        Some((tls, true)) => tls,
                        _ => &relay.tls,
                    },
                },
                _ if let Some((tls, verified)) = &dane_tls => client::Security::Dane {
                    tls,
                    verified: *verified,
                },
                (_, _, Some(sts)) if policy.is_some() || requiretls => client::Security::Sts {
                    tls: match &testing_tls {
                        Some(testing) if !enforce => testing,
                        _ => &sts.verified,
                    },
                    enforce,
                },
                (_, _, None) if requiretls => {
                    return all(Reply::new(
                        451,
                        EnhancedCode(4, 7, 30),
                        "REQUIRETLS: no trusted root certificates to verify the next hop with",
                    ));
                }
                _ => client::Security::Opportunistic(&self.tls),
            };
            let (session, reached_tls) = client::deliver_traced(addr, security, &env).await;
            // TLS-RPT (RFC 8460): MX hosts from DNS only.
            let let_pass = seen.lock().ok().and_then(|s| *s);
            let under_policy = dane_tls.is_some() || policy.is_some();
            let counted = match &session {
                // RFC 8460 §4.3.2.1: signed TLSA records none of which is
                // usable; the session was encrypted, not authenticated.
                Ok(outcome) if outcome.tls && matches!(dane, crate::dane::HostDane::Encrypt) => {
                    Some("tlsa-invalid")
                }
                Ok(outcome) if outcome.tls => {
                    Some(let_pass.map_or("success", client::TlsFailure::result_type))
                }
                Ok(_) => Some("starttls-not-supported"),
                Err(SessionError::Insecure(_, Some(failure))) => Some(failure.result_type()),
                Err(SessionError::Insecure(_, None)) => Some("success"),
                // Refused or broken off after a good handshake: TLS worked.
                Err(SessionError::Refused(_) | SessionError::Connection(_)) if reached_tls => {
                    Some(let_pass.map_or("success", client::TlsFailure::result_type))
                }
                // Under a policy, a session that never got to TLS (no
                // connection, a refusal or a break before STARTTLS) is a
                // failure of the kind RFC 8460 §4.3.3 leaves to
                // `validation-failure`; without one, TLS was not owed.
                Err(SessionError::Refused(_) | SessionError::Connection(_)) if under_policy => {
                    Some("validation-failure")
                }
                Err(_) => None,
            };
            if let Some(result) = counted
                && from_dns
            {
                let (policy_type, text) = tls_policy(&dane, policy.as_ref());
                self.count_tls(domain, policy_type, text, &name, addr.ip(), result)
                    .await;
            }
            match session {
                Ok(outcome) => return (outcome.recipients, Some(name), outcome.dsn),
                Err(SessionError::Refused(reply)) => {
                    // A 4xx for the whole transaction: another MX may do
                    // better (RFC 5321 §5.1); a 5xx is final.
                    if reply.is_transient() {
                        last = format!("{name} ({addr}) said: {reply}");
                        continue;
                    }
                    return (vec![reply; rcpts.len()], Some(name), false);
                }
                Err(SessionError::Insecure(e, _)) => {
                    tracing::info!(%addr, "not delivering: {e}");
                    insecure = true;
                    last = format!("{name} ({addr}): {e} ({what})");
                }
                Err(SessionError::Connection(e)) => {
                    tracing::debug!(%addr, "cannot deliver: {e}");
                    insecure = false;
                    last = if enforce || dane_tls.is_some() {
                        format!("{name} ({addr}): {e} ({what})")
                    } else {
                        format!("{name} ({addr}): {e}")
                    };
                }
            }
        }
        if requiretls && insecure {
            // RFC 8689 §4.2.1 and X.7.30: returned, not retried for days.
            return all(Reply::new(550, EnhancedCode(5, 7, 30), last));
        }
        // RFC 3463 X.7.5: cryptographic failure; else X.4.1: no answer.
        let code = if enforce || insecure {
            EnhancedCode(4, 7, 5)
        } else {
            EnhancedCode(4, 4, 1)
        };
        all(Reply::new(451, code, last))
    }

    /// POSTs a TLS-RPT report that `tlsrpt::send` could not post at once
    /// and queued (RFC 8460 §5.4; the queued bytes are the gzipped JSON,
    /// the recipient the `https:` URL): retried like mail, with the same
    /// backoff and lifetime, and as verified (the system's roots, a public
    /// address).
    async fn post_report(&self, url: &str, body: &[u8]) -> Reply {
        let (Some(resolver), Some(sts)) = (&self.resolver, &self.sts) else {
            return Reply::new(
                451,
                EnhancedCode(4, 4, 3),
                "no resolver or no trusted roots to post the report with",
            );
        };
        match crate::tlsrpt::post(resolver, &sts.verified, url, body).await {
            Ok(()) => {
                tracing::info!("TLS-RPT report posted to {url}");
                Reply::new(250, EnhancedCode(2, 0, 0), "report posted")
            }
            Err(e) => Reply::new(451, EnhancedCode(4, 4, 1), format!("POST to {url}: {e}")),
        }
    }

    /// Counts one TLS session with an MX host for TLS-RPT (RFC 8460); a
    /// store error is logged, never a reason not to deliver.
    async fn count_tls(
        &self,
        domain: &str,
        policy_type: &str,
        policy: String,
        host: &str,
        addr: impl std::fmt::Display,
        result: &str,
    ) {
        let entry = tidings_store::TlsResult {
            day: message::now().div_euclid(86_400),
            domain: domain.to_string(),
            policy_type: policy_type.to_string(),
            policy,
            mx_host: host.to_string(),
            receiving_ip: addr.to_string(),
            result: result.to_string(),
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.tls_result_add(&entry)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot count a TLS session for TLS-RPT: {e}"),
            Err(e) => tracing::warn!("cannot count a TLS session for TLS-RPT: {e}"),
        }
    }

    /// Delivers to recipients in one of our own domains: into each
    /// account's INBOX, one reply per recipient as a server would give
    /// (a JMAP submission held for undo, or a vacation reply, to a local
    /// address comes this way).
    async fn deliver_here(&self, rcpts: &[Path], raw: &[u8]) -> Vec<Reply> {
        let store = self.store.clone();
        let addresses: Vec<String> = rcpts.iter().map(Path::address).collect();
        let raw = raw.to_vec();
        let n = addresses.len();
        let replies = tokio::task::spawn_blocking(move || {
            let now = message::now();
            addresses
                .iter()
                .map(|address| {
                    let account = match store.resolve_recipient(address) {
                        Ok(Some(a)) => a,
                        Ok(None) => {
                            return Reply::new(550, EnhancedCode(5, 1, 1), "no such user");
                        }
                        Err(e) => return Reply::new(451, EnhancedCode(4, 3, 0), e.to_string()),
                    };
                    let inbox = match store.mailbox_by_role(account, MailboxRole::Inbox) {
                        Ok(Some(m)) => m,
                        Ok(None) => return Reply::new(451, EnhancedCode(4, 3, 0), "no INBOX"),
                        Err(e) => return Reply::new(451, EnhancedCode(4, 3, 0), e.to_string()),
                    };
                    let rcpt = Recipient {
                        account,
                        mailbox: inbox.id,
                        keywords: Vec::new(),
                    };
                    match store.deliver(&raw, Some(now), &[rcpt]).map(|mut r| r.pop()) {
                        Ok(Some(Ok(_))) => Reply::new(250, EnhancedCode(2, 0, 0), "delivered"),
                        Ok(Some(Err(StoreError::OverQuota { .. }))) => {
                            Reply::new(552, EnhancedCode(5, 2, 2), "mailbox full")
                        }
                        Ok(Some(Err(e))) | Err(e) => {
                            Reply::new(451, EnhancedCode(4, 3, 0), e.to_string())
                        }
                        Ok(None) => Reply::new(451, EnhancedCode(4, 3, 0), "not stored"),
                    }
                })
                .collect::<Vec<Reply>>()
        })
        .await;
        replies.unwrap_or_else(|e| vec![Reply::new(451, EnhancedCode(4, 3, 0), e.to_string()); n])
    }

    async fn route(&self, domain: &str) -> Route {
        if let Some(relay) = &self.config.relay {
            return self.resolve_host_port(relay).await;
        }
        if let Some(target) = self.config.mx.get(domain) {
            return self.resolve_host_port(target).await;
        }
        let Some(resolver) = &self.resolver else {
            return Route::Temporary("no DNS resolver".into());
        };
        let mut exchanges: Vec<(u16, String)> = Vec::new();
        match resolver.mx_lookup(format!("{domain}.")).await {
            Ok(lookup) => {
                for record in lookup.answers() {
                    if let hickory_resolver::proto::rr::RData::MX(mx) = &record.data {
                        exchanges.push((mx.preference, mx.exchange.to_utf8()));
                    }
                }
            }
            Err(e) if e.is_nx_domain() => {
                return Route::Permanent(format!("domain {domain} does not exist"));
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => return Route::Temporary(format!("MX lookup for {domain} failed: {e}")),
        }
        exchanges.sort();
        // RFC 7505: a single MX of "." means the domain takes no mail.
        if exchanges.len() == 1 && exchanges[0].1.trim_end_matches('.').is_empty() {
            return Route::Permanent(format!("{domain} accepts no mail (null MX)"));
        }
        if exchanges.is_empty() {
            // RFC 5321 §5.1: no MX, the domain itself is the host.
            exchanges.push((0, domain.to_string()));
        }
        let mut hosts = Vec::new();
        let mut internal = Vec::new();
        let mut failed = false;
        for (_, name) in exchanges {
            let name = name.trim_end_matches('.').to_string();
            match resolver.lookup_ip(format!("{name}.")).await {
                Ok(ips) => {
                    for ip in ips.iter() {
                        // Checked before any connection (see `dns`).
                        if crate::dns::is_public(ip) {
                            hosts.push((name.clone(), SocketAddr::new(ip, 25)));
                        } else {
                            internal.push(format!("{name} has address {ip}"));
                        }
                    }
                }
                Err(e) => {
                    failed |= !e.is_nx_domain() && !e.is_no_records_found();
                    tracing::debug!("no address for {name}: {e}");
                }
            }
        }
        if !internal.is_empty() {
            tracing::warn!(
                "mail hosts of {domain} in DNS point inside: {}: not delivering there",
                internal.join(", ")
            );
        }
        if !hosts.is_empty() {
            Route::Hosts(hosts, true)
        } else if !internal.is_empty() && !failed {
            Route::Internal(format!(
                "{}, not a public address: mail is not delivered there from DNS",
                internal.join(", ")
            ))
        } else {
            Route::Temporary(format!("no address found for the mail hosts of {domain}"))
        }
    }

    /// The addresses of a `host:port` the administrator wrote (`relay`,
    /// `[smtp.mx]`): an IP literal as it is, a name through the configured
    /// resolver, else the system's `getaddrinfo` (`/etc/hosts`). Not checked
    /// with `dns::is_public`: these routes may point inside on purpose.
    async fn resolve_host_port(&self, target: &str) -> Route {
        let Some((host, port)) = target.rsplit_once(':') else {
            return Route::Temporary(format!("{target} is not host:port"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(port) = port.parse::<u16>() else {
            return Route::Temporary(format!("{target} is not host:port"));
        };
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Route::Hosts(vec![(host.to_string(), SocketAddr::new(ip, port))], false);
        }
        let from_dns = match &self.resolver {
            Some(resolver) => resolver
                .lookup_ip(format!("{}.", host.trim_end_matches('.')))
                .await
                .ok()
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(ip, port)).collect()),
            None => None,
        };
        // A name DNS does not know may still be in /etc/hosts.
        let addrs: Result<Vec<SocketAddr>, String> = match from_dns {
            Some(addrs) => Ok(addrs),
            None => tokio::net::lookup_host(target)
                .await
                .map(Iterator::collect)
                .map_err(|e| e.to_string()),
        };
        match addrs {
            Ok(addrs) if addrs.is_empty() => Route::Temporary(format!("{target} has no address")),
            Ok(addrs) => Route::Hosts(
                addrs.into_iter().map(|a| (host.to_string(), a)).collect(),
                false,
            ),
            Err(e) => Route::Temporary(format!("cannot resolve {target}: {e}")),
        }
    }

    /// Puts an RFC 3464 report in the sender's INBOX; for a copy we
    /// forwarded (its sender one of our SRS addresses), queues it with the
    /// null sender (RFC 5321 §4.5.5) to the original sender.
    async fn notify(&self, item: &QueuedMessage, report: Vec<u8>, what: &'static str) {
        let sender = item.sender.to_lowercase();
        let original = item.sender.clone();
        let account = item.account;
        let store = self.store.clone();
        let srs = self.config.srs.clone();
        let id = item.id;
        let requiretls = item.requiretls;
        let result = tokio::task::spawn_blocking(move || -> Result<Notified, StoreError> {
            let account = match account {
                Some(a) => Some(a),
                None => store.resolve_recipient(&sender)?,
            };
            let Some(account) = account else {
                return forward_report(&store, srs.as_deref(), &original, &report, requiretls);
            };
            let inbox = store
                .mailbox_by_role(account, MailboxRole::Inbox)?
                .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
            let results = store.deliver(
                &report,
                None,
                &[Recipient {
                    account,
                    mailbox: inbox.id,
                    keywords: Vec::new(),
                }],
            )?;
            results.into_iter().next().transpose()?;
            Ok(Notified::Delivered)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Database(e.to_string())));
        match result {
            Ok(Notified::Delivered) => tracing::info!(%id, "{what} delivered to the sender"),
            Ok(Notified::Forwarded(q)) => {
                tracing::info!(%id, queued = %q, "{what} queued to the original sender of a forwarded message");
            }
            Ok(Notified::Nowhere) => tracing::info!(%id, "sender is not local: no {what}"),
            Err(e) => tracing::warn!(%id, "cannot deliver the {what}: {e}"),
        }
    }
}

/// Where [`Worker::notify`] put a report.
enum Notified {
    Delivered,
    Forwarded(tidings_store::QueueId),
    Nowhere,
}

/// A report for a copy we forwarded: `sender` is one of our SRS addresses
/// (in a local domain, verifying); the report goes to the address it
/// stands for, from `<>`. Anything else: nowhere.
fn forward_report(
    store: &Store,
    srs: Option<&crate::srs::Srs>,
    sender: &str,
    report: &[u8],
    requiretls: bool,
) -> Result<Notified, StoreError> {
    let (Some(srs), Some((local, domain))) = (srs, sender.rsplit_once('@')) else {
        return Ok(Notified::Nowhere);
    };
    let ours = store
        .domains()?
        .iter()
        .any(|d| d.name.eq_ignore_ascii_case(domain));
    if !ours || !crate::srs::Srs::is_srs(local) {
        return Ok(Notified::Nowhere);
    }
    let Ok(to) = srs.reverse(local, message::now()) else {
        return Ok(Notified::Nowhere);
    };
    let id = store.queue_add(&tidings_store::NewQueued {
        raw: report,
        sender: String::new(),
        account: None,
        recipients: vec![tidings_store::QueueRecipient::new(to)],
        envid: None,
        ret_hdrs: false,
        ret_full: false,
        // RFC 8689 §5: the report of a REQUIRETLS message goes with
        // REQUIRETLS (or redacted, see `attempt`).
        requiretls,
    })?;
    Ok(Notified::Forwarded(id))
}

/// One of our delivery reports without its returned part (the original
/// header section or message), for RFC 8689 §5; `None` when `raw` is not
/// such a report.
fn redact_report(raw: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(raw).ok()?;
    let head_end = text.find("\r\n\r\n")?;
    let head = &text[..head_end];
    if !head.contains("multipart/report") {
        return None;
    }
    let boundary = head.split("boundary=\"").nth(1)?.split('"').next()?;
    let returned = ["text/rfc822-headers", "message/rfc822"]
        .iter()
        .find_map(|kind| text.find(&format!("\r\n--{boundary}\r\nContent-Type: {kind}\r\n")))?;
    let mut out = text[..returned].to_string();
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    Some(out.into_bytes())
}

/// Whether the message's header section has `TLS-Required: No` (RFC 8689
/// §5).
fn tls_required_no(raw: &[u8]) -> bool {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    raw[..end].split(|&b| b == b'\n').any(|line| {
        let line = String::from_utf8_lossy(line);
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("TLS-Required") && value.trim().eq_ignore_ascii_case("no")
        })
    })
}

/// Runs futures concurrently on this task and waits for all of them.
async fn join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

/// The RFC 3461 parameters of a queued message, for the next hop.
struct DsnParams<'a> {
    ret: Option<Ret>,
    envid: Option<&'a str>,
    rcpts: &'a [RcptParams],
    /// RFC 8689 REQUIRETLS (not a DSN parameter, but carried alike).
    requiretls: bool,
}

/// A stored NOTIFY (`SUCCESS,DELAY`) as the RCPT parameter; `None` for
/// the default.
fn notify_param(stored: &str) -> Option<NotifyParam> {
    if stored.is_empty() {
        return None;
    }
    let mut n = NotifyParam::default();
    for word in stored.split(',') {
        match word.to_ascii_uppercase().as_str() {
            "NEVER" => n.never = true,
            "SUCCESS" => n.success = true,
            "FAILURE" => n.failure = true,
            "DELAY" => n.delay = true,
            _ => {}
        }
    }
    Some(n)
}

/// The RFC 3464 §2.3.3 action a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
}

/// An RFC 3464 delivery status notification (multipart/report, RFC 6522)
/// about failed recipients.
pub fn delivery_report(
    hostname: &str,
    item: &QueuedMessage,
    raw: &[u8],
    failed: &[(usize, Reply, Option<String>)],
    expired: bool,
) -> Vec<u8> {
    status_report(hostname, item, raw, failed, Action::Failed, expired, None)
}

/// An RFC 3464 report of `action` for `rcpts` (index into the item's
/// recipients, the reply, the server that gave it). A failure report
/// returns the message unless RET=HDRS; the others only its header
/// section unless RET=FULL (RFC 3461 §4.3). `retry_until` is the
/// Will-Retry-Until of a delay report.
pub fn status_report(
    hostname: &str,
    item: &QueuedMessage,
    raw: &[u8],
    rcpts: &[(usize, Reply, Option<String>)],
    action: Action,
    expired: bool,
    retry_until: Option<i64>,
) -> Vec<u8> {
    let failed = rcpts;
    let (subject, intro) = match action {
        Action::Failed => (
            "Undelivered Mail Returned to Sender",
            "Your message could not be delivered to the following recipients",
        ),
        Action::Delayed => (
            "Delayed Mail (still being retried)",
            "Your message could not be delivered yet to the following recipients; delivery will be retried",
        ),
        Action::Delivered => (
            "Successful Mail Delivery Report",
            "Your message was delivered to the following recipients",
        ),
        Action::Relayed => (
            "Successful Mail Delivery Report",
            "Your message was relayed to the following recipients (the next server will not report on them)",
        ),
    };
    let boundary = format!("dsn-{}", message::random_hex(12));
    let now = message::now();
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{}>\r\n\
         Subject: {subject}\r\n\
         Date: {}\r\n\
         Message-ID: <{}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n",
        item.sender,
        message::rfc5322_date(now),
        message::random_hex(16),
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         This is the mail system at {hostname}.\r\n\r\n\
         {intro}{}:\r\n\r\n",
        if expired && action == Action::Failed {
            " (it could not be delivered in time)"
        } else {
            ""
        }
    ));
    for (i, reply, _) in failed {
        out.push_str(&format!(
            "<{}>: {}\r\n",
            item.recipients[*i].address,
            reply.to_string().replace(['\r', '\n'], " ")
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {hostname}\r\n"
    ));
    if let Some(envid) = &item.envid {
        out.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    out.push_str(&format!(
        "Arrival-Date: {}\r\n",
        message::rfc5322_date(item.created)
    ));
    for (i, reply, remote) in failed {
        let rcpt = &item.recipients[*i];
        let status = match action {
            Action::Delivered | Action::Relayed => "2.0.0".to_string(),
            Action::Delayed => match reply.enhanced {
                Some(e) if e.0 == 4 => e.to_string(),
                _ => "4.0.0".to_string(),
            },
            Action::Failed => match (reply.enhanced, expired && reply.is_transient()) {
                (_, true) => "4.4.7".to_string(),
                (Some(e), false) => e.to_string(),
                (None, false) => "5.0.0".to_string(),
            },
        };
        let action_word = match action {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        };
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {action_word}\r\nStatus: {status}\r\n",
            rcpt.address
        ));
        if let Some(orcpt) = &rcpt.orcpt {
            out.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        if let Some(remote) = remote {
            out.push_str(&format!("Remote-MTA: dns; {remote}\r\n"));
        }
        out.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\n",
            reply.to_string().replace(['\r', '\n'], " ")
        ));
        if let Some(until) = retry_until {
            out.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                message::rfc5322_date(until)
            ));
        }
    }
    // RFC 8689 §5: a REQUIRETLS message is returned as with RET=HDRS,
    // whatever RET said.
    let headers_only = item.requiretls
        || match action {
            Action::Failed => item.ret_hdrs,
            _ => !item.ret_full,
        };
    let (kind, attached) = if headers_only {
        ("text/rfc822-headers", message::header_section(raw))
    } else {
        ("message/rfc822", raw)
    };
    out.push_str(&format!("\r\n--{boundary}\r\nContent-Type: {kind}\r\n\r\n"));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(attached);
    if !attached.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    bytes
}

/// The policy a session with an MX host was under, as TLS-RPT names it
/// (RFC 8460 §4.4): its type and its `policy-string` lines, joined by
/// newlines. DANE first (RFC 8461 §2).
fn tls_policy(
    dane: &crate::dane::HostDane,
    sts: Option<&crate::mta_sts::Policy>,
) -> (&'static str, String) {
    use crate::dane::HostDane;
    match (dane, sts) {
        (HostDane::Verify { records, .. }, _) => ("tlsa", {
            records
                .iter()
                .map(|r| {
                    let hex: String = r.data.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{} {} {} {hex}", r.usage, r.selector, r.matching)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        (HostDane::Encrypt | HostDane::Failed(_), _) => ("tlsa", String::new()),
        (HostDane::None, Some(policy)) => ("sts", policy.to_text()),
        (HostDane::None, None) => ("no-policy-found", String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_report_keeps_the_status_and_drops_the_returned_headers() {
        let item = QueuedMessage {
            id: tidings_store::QueueId(1),
            sender: "alice@sender.test".into(),
            account: None,
            recipients: vec![tidings_store::QueueRecipient::new("dave@bad.test")],
            envid: None,
            ret_hdrs: false,
            ret_full: true,
            requiretls: true,
            created: 0,
            attempts: 0,
            next_attempt: 0,
            size: 0,
        };
        let raw = b"Subject: secret plans\r\nFrom: alice@sender.test\r\n\r\nthe plans\r\n";
        let reply = Reply::new(550, EnhancedCode(5, 7, 30), "no REQUIRETLS");
        let report = delivery_report("mx.example.org", &item, raw, &[(0, reply, None)], false);
        let text = String::from_utf8(report.clone()).unwrap();
        // RET=FULL is disregarded for REQUIRETLS: headers only.
        assert!(text.contains("text/rfc822-headers"), "{text}");
        assert!(!text.contains("the plans"), "{text}");
        assert!(text.contains("Subject: secret plans"), "{text}");
        let redacted = String::from_utf8(redact_report(&report).unwrap()).unwrap();
        assert!(!redacted.contains("secret plans"), "{redacted}");
        assert!(
            redacted.contains("Final-Recipient: rfc822; dave@bad.test"),
            "{redacted}"
        );
        assert!(redacted.trim_end().ends_with("--"), "{redacted}");
        assert_eq!(redact_report(b"Subject: x\r\n\r\nbody"), None);
    }

    #[test]
    fn tls_required_no_is_read_from_the_header_section_only() {
        assert!(tls_required_no(
            b"Subject: x\r\nTLS-Required: No\r\n\r\nbody\r\n"
        ));
        assert!(tls_required_no(b"tls-required:no\r\n\r\n"));
        assert!(!tls_required_no(b"Subject: x\r\n\r\nTLS-Required: No\r\n"));
        assert!(!tls_required_no(b"TLS-Required: Yes\r\n\r\n"));
    }
}
