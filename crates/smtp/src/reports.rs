//! The task that sends the reports other domains ask for: TLS-RPT
//! ([`crate::tlsrpt`]) and DMARC aggregate reports
//! ([`crate::dmarc_report`]), for the days before today, checked once an
//! hour (so a day's reports leave within the hour after midnight UTC, or
//! after the first start that follows).

use std::collections::BTreeMap;
use std::time::Duration;

use tidings_store::Store;
use tokio_util::sync::CancellationToken;

use crate::outbound::OutboundHandle;
use crate::tlsrpt::Reporter;

/// How often the task looks for days to report.
const EVERY: Duration = Duration::from_secs(3600);

/// Starts the task on the current runtime; it stops with `shutdown`.
/// Without an authenticator (no resolver for the inbound checks) no
/// DMARC reports are sent.
pub fn spawn(
    store: Store,
    resolver: hickory_resolver::TokioResolver,
    authenticator: Option<mail_auth::MessageAuthenticator>,
    reporter: Reporter,
    outbound: OutboundHandle,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let yesterday = crate::message::now().div_euclid(86_400) - 1;
            match crate::tlsrpt::send(&store, &resolver, &reporter, yesterday, &outbound).await {
                Ok(lines) => lines.iter().for_each(|l| tracing::info!("TLS-RPT: {l}")),
                Err(e) => tracing::warn!("TLS-RPT reports not sent: {e}"),
            }
            if let Some(authenticator) = &authenticator {
                match crate::dmarc_report::send(
                    &store,
                    authenticator,
                    &reporter,
                    yesterday,
                    &outbound,
                )
                .await
                {
                    Ok(lines) => lines
                        .iter()
                        .for_each(|l| tracing::info!("DMARC reports: {l}")),
                    Err(e) => tracing::warn!("DMARC aggregate reports not sent: {e}"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    })
}

/// Counted rows by report domain, then by day (oldest first): one report
/// per domain and day, for TLS-RPT and DMARC alike.
pub(crate) fn by_domain_and_day<T>(
    rows: Vec<T>,
    key: impl Fn(&T) -> (&str, i64),
) -> BTreeMap<String, BTreeMap<i64, Vec<T>>> {
    let mut out: BTreeMap<String, BTreeMap<i64, Vec<T>>> = BTreeMap::new();
    for row in rows {
        let (domain, day) = key(&row);
        let domain = domain.to_string();
        out.entry(domain)
            .or_default()
            .entry(day)
            .or_default()
            .push(row);
    }
    out
}
