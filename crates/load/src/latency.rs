//! Latencies gathered from the workload's client tasks, and their percentiles.

use std::time::Duration;

use tokio::task::JoinHandle;

/// Waits for every client task and returns all their latencies, sorted.
pub async fn gather(tasks: Vec<JoinHandle<Vec<Duration>>>) -> Result<Latencies, String> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())?);
    }
    all.sort();
    Ok(Latencies(all))
}

/// Sorted latencies.
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p` quantile (0.5 for the median) in milliseconds; 0 when empty.
    pub fn ms(&self, p: f64) -> f64 {
        let v = &self.0;
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}
