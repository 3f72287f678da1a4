//! Failed logins per IP address, shared by the sessions of a service.
//!
//! Each session already slows down and ends after a few failures; this
//! stops a client that opens session after session. After `max` failures
//! from one address within `window` (counted from the first of them), that
//! address may not try again until the window has passed. A success does
//! not clear the count (one known account must not unlock guessing on the
//! others). In-process only: each server node counts for itself.
//!
//! Memory is bounded: past [`LoginLimiter::MAX_TRACKED`] addresses, expired
//! entries are dropped, and if none has expired the new address is not
//! tracked (the per-session limit still applies).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins by IP address.
#[derive(Debug)]
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    since: Instant,
}

impl LoginLimiter {
    /// Addresses tracked at most.
    pub const MAX_TRACKED: usize = 100_000;

    pub fn new(max: u32, window: Duration) -> Self {
        LoginLimiter {
            max: max.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` has used up its failed logins for now.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip.to_canonical())
            .is_some_and(|f| f.since.elapsed() < self.window && f.count >= self.max)
    }

    /// Counts a failed login from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let ip = ip.to_canonical();
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, f| f.since.elapsed() < self.window);
            if map.len() >= Self::MAX_TRACKED {
                return;
            }
        }
        let entry = map.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.duration_since(entry.since) >= self.window {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let limiter = LoginLimiter::new(2, Duration::from_millis(100));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        limiter.record_failure(ip);
        assert!(!limiter.is_blocked(ip));
        limiter.record_failure(ip);
        assert!(limiter.is_blocked(ip));
        assert!(!limiter.is_blocked(other));
        // IPv4-mapped IPv6 is the same address.
        assert!(limiter.is_blocked("::ffff:192.0.2.1".parse().unwrap()));
        std::thread::sleep(Duration::from_millis(120));
        assert!(!limiter.is_blocked(ip));
        limiter.record_failure(ip);
        assert!(!limiter.is_blocked(ip), "a new window starts from zero");
    }
}
