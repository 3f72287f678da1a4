//! The server's metrics: one process-wide registry that the protocol crates
//! count into and `GET /metrics` renders (OpenMetrics text, which
//! Prometheus scrapes; every name starts with `tidings_`).
//!
//! Each protocol calls a function here at the one place an event happens
//! (a connection accepted in `net`, a command answered in a session, a
//! group commit in the store's writer), so the counting is not spread
//! through the code. Gauges that are cheaper to read than to keep (queue
//! length and age) are set by the HTTP server just before it renders.
//!
//! Main items: [`render`], [`connection_opened`], [`command`], [`login`],
//! [`delivered`], [`sent`], [`store_commit`], [`blob_written`],
//! [`set_queue`].
//!
//! Implementation notes:
//! - Labels are `&'static str` chosen by the caller from a fixed set
//!   (protocol names, command names the parser knows), so the number of
//!   series is bounded whatever clients send.
//! - Counting is a few atomic operations and, for a label set seen before,
//!   a read lock; the registry is built on first use.

#![forbid(unsafe_code)]

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    connections: Family<Labels1, Counter>,
    open: Family<Labels1, Gauge>,
    commands: HistogramFamily<Labels2>,
    logins: Family<Labels1, Counter>,
    delivered: Family<Labels1, Counter>,
    sent: Family<Labels1, Counter>,
    commit: Histogram,
    group: Histogram,
    blob_bytes: Counter,
    queue_messages: Gauge,
    queue_oldest: Gauge<f64, AtomicU64>,
}

/// Latencies from 100 µs to about 6.5 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("tidings");
        let connections = Family::<Labels1, Counter>::default();
        registry.register(
            "connections",
            "Connections accepted, by protocol",
            connections.clone(),
        );
        let open = Family::<Labels1, Gauge>::default();
        registry.register(
            "connections_open",
            "Connections open now, by protocol",
            open.clone(),
        );
        let commands: HistogramFamily<Labels2> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "command_duration",
            "Time from a command's arrival to its reply, by protocol and command \
             (streamed FETCH bodies not included)",
            Unit::Seconds,
            commands.clone(),
        );
        let logins = Family::<Labels1, Counter>::default();
        registry.register(
            "logins",
            "Password checks, by result (ok, failed)",
            logins.clone(),
        );
        let delivered = Family::<Labels1, Counter>::default();
        registry.register(
            "deliveries_in",
            "Messages received by SMTP, by result (accepted, rejected)",
            delivered.clone(),
        );
        let sent = Family::<Labels1, Counter>::default();
        registry.register(
            "deliveries_out",
            "Outbound delivery attempts per recipient, by result (sent, deferred, bounced)",
            sent.clone(),
        );
        let commit = latency_histogram();
        registry.register_with_unit(
            "store_commit_duration",
            "Time of one group commit of the store's writer",
            Unit::Seconds,
            commit.clone(),
        );
        let group = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "store_commit_group_size",
            "Writes committed together in one transaction",
            group.clone(),
        );
        let blob_bytes = Counter::default();
        registry.register_with_unit(
            "blob_written",
            "Message bytes written to new blob files",
            Unit::Bytes,
            blob_bytes.clone(),
        );
        let queue_messages = Gauge::default();
        registry.register(
            "queue_messages",
            "Messages in the outbound queue",
            queue_messages.clone(),
        );
        let queue_oldest = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "queue_oldest_age",
            "Age of the oldest message in the outbound queue",
            Unit::Seconds,
            queue_oldest.clone(),
        );
        Metrics {
            registry,
            connections,
            open,
            commands,
            logins,
            delivered,
            sent,
            commit,
            group,
            blob_bytes,
            queue_messages,
            queue_oldest,
        }
    })
}

/// Counts a connection accepted by `protocol`; it is counted open until
/// the returned guard is dropped.
pub fn connection_opened(protocol: &'static str) -> OpenConnection {
    let m = metrics();
    let labels = [("protocol", protocol)];
    m.connections.get_or_create(&labels).inc();
    m.open.get_or_create(&labels).inc();
    OpenConnection { protocol }
}

/// Keeps a connection counted in `tidings_connections_open`.
#[must_use = "the connection counts as open until this is dropped"]
pub struct OpenConnection {
    protocol: &'static str,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics()
            .open
            .get_or_create(&[("protocol", self.protocol)])
            .dec();
    }
}

/// Records one command of `protocol` named `name` that took `took`.
pub fn command(protocol: &'static str, name: &'static str, took: Duration) {
    metrics()
        .commands
        .get_or_create(&[("protocol", protocol), ("command", name)])
        .observe(took.as_secs_f64());
}

/// Counts one password (or token) check.
pub fn login(ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics().logins.get_or_create(&[("result", result)]).inc();
}

/// Counts one message received by SMTP: `accepted` once it is committed,
/// else refused after its data arrived.
pub fn delivered(accepted: bool) {
    let result = if accepted { "accepted" } else { "rejected" };
    metrics()
        .delivered
        .get_or_create(&[("result", result)])
        .inc();
}

/// The outcome of one outbound delivery attempt for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Deferred,
    Bounced,
}

/// Counts `n` recipients of one outbound attempt with outcome `outcome`.
pub fn sent(outcome: Sent, n: u64) {
    let result = match outcome {
        Sent::Sent => "sent",
        Sent::Deferred => "deferred",
        Sent::Bounced => "bounced",
    };
    metrics()
        .sent
        .get_or_create(&[("result", result)])
        .inc_by(n);
}

/// Records one group commit of `size` writes that took `took`.
pub fn store_commit(size: usize, took: Duration) {
    let m = metrics();
    m.commit.observe(took.as_secs_f64());
    m.group.observe(size as f64);
}

/// Counts `bytes` written to a new blob file.
pub fn blob_written(bytes: u64) {
    metrics().blob_bytes.inc_by(bytes);
}

/// Sets the outbound queue's length and the age of its oldest message.
pub fn set_queue(messages: usize, oldest: Duration) {
    let m = metrics();
    m.queue_messages
        .set(i64::try_from(messages).unwrap_or(i64::MAX));
    m.queue_oldest.set(oldest.as_secs_f64());
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric in the OpenMetrics text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &metrics().registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text() {
        let conn = connection_opened("imap");
        command("imap", "FETCH", Duration::from_millis(3));
        login(false);
        sent(Sent::Deferred, 2);
        store_commit(4, Duration::from_micros(800));
        let text = render();
        assert!(
            text.contains("tidings_connections_total{protocol=\"imap\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tidings_connections_open{protocol=\"imap\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "tidings_command_duration_seconds_count{protocol=\"imap\",command=\"FETCH\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("tidings_logins_total{result=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tidings_deliveries_out_total{result=\"deferred\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tidings_store_commit_group_size_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(conn);
        assert!(render().contains("tidings_connections_open{protocol=\"imap\"} 0"));
    }
}
