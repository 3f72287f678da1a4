//! Per-IP accounting of failed logins, shared by every protocol, so that a
//! password guesser cannot spread its attempts over IMAP, POP3 and SMTP.
//!
//! Implementation notes:
//! - Each failure from an address adds to its count; the count is forgotten
//!   once the address has been quiet for the window.
//! - A session waits [`AuthLimiter::delay`] before answering a failed login
//!   (growing with the count, capped), and an address at the limit is refused
//!   outright until the window passes ([`AuthLimiter::check`]).
//! - Memory is bounded: past `MAX_TRACKED` addresses the quiet ones are
//!   dropped first, then the oldest.
//! - IPv4-mapped IPv6 addresses count as their IPv4 address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last: Instant,
}

/// Failed-login counts per IP address. Cheap to clone; clones share counts.
#[derive(Clone, Debug)]
pub struct AuthLimiter {
    records: Arc<Mutex<HashMap<IpAddr, Record>>>,
    max_failures: u32,
    window: Duration,
    step: Duration,
    max_delay: Duration,
}

impl Default for AuthLimiter {
    /// 10 failures per address per 15 minutes; delays of 1 s per failure, at
    /// most 5 s.
    fn default() -> Self {
        AuthLimiter::new(
            10,
            Duration::from_secs(15 * 60),
            Duration::from_secs(1),
            Duration::from_secs(5),
        )
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl AuthLimiter {
    /// `max_failures` within `window` blocks an address; each failure is
    /// answered after `step` × failures, at most `max_delay`.
    pub fn new(max_failures: u32, window: Duration, step: Duration, max_delay: Duration) -> Self {
        AuthLimiter {
            records: Arc::default(),
            max_failures,
            window,
            step,
            max_delay,
        }
    }

    /// `Err(remaining)` while `ip` is blocked: refuse the login attempt
    /// without checking the password.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let ip = canonical(ip);
        let Ok(records) = self.records.lock() else {
            return Ok(());
        };
        match records.get(&ip) {
            Some(r) if r.failures >= self.max_failures => {
                let quiet = r.last.elapsed();
                if quiet < self.window {
                    Err(self.window - quiet)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a failed login from `ip`; returns how long to wait before
    /// answering it.
    pub fn failure(&self, ip: IpAddr) -> Duration {
        let ip = canonical(ip);
        let Ok(mut records) = self.records.lock() else {
            return self.max_delay;
        };
        let now = Instant::now();
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            let window = self.window;
            records.retain(|_, r| now.duration_since(r.last) < window);
            if records.len() >= MAX_TRACKED
                && let Some(oldest) = records.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k)
            {
                records.remove(&oldest);
            }
        }
        let r = records.entry(ip).or_insert(Record {
            failures: 0,
            last: now,
        });
        if now.duration_since(r.last) >= self.window {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last = now;
        self.delay(r.failures)
    }

    /// A successful login from `ip` clears its count.
    pub fn success(&self, ip: IpAddr) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(&canonical(ip));
        }
    }

    /// The wait before answering the `failures`-th failure.
    pub fn delay(&self, failures: u32) -> Duration {
        self.step.saturating_mul(failures).min(self.max_delay)
    }

    /// The current failure count of `ip` (for logs and tests).
    pub fn failures(&self, ip: IpAddr) -> u32 {
        self.records
            .lock()
            .ok()
            .and_then(|r| r.get(&canonical(ip)).map(|r| r.failures))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_the_limit_and_delays_grow() {
        let l = AuthLimiter::new(
            3,
            Duration::from_secs(60),
            Duration::from_millis(100),
            Duration::from_millis(250),
        );
        let a = ip("192.0.2.1");
        assert!(l.check(a).is_ok());
        assert_eq!(l.failure(a), Duration::from_millis(100));
        assert_eq!(l.failure(a), Duration::from_millis(200));
        assert!(l.check(a).is_ok());
        assert_eq!(l.failure(a), Duration::from_millis(250), "capped");
        assert!(l.check(a).is_err(), "blocked at the limit");
        assert!(
            l.check(ip("192.0.2.2")).is_ok(),
            "other addresses unaffected"
        );
        // The same address over IPv6-mapped form shares the count.
        assert!(l.check(ip("::ffff:192.0.2.1")).is_err());
        l.success(a);
        assert!(l.check(a).is_ok());
        assert_eq!(l.failures(a), 0);
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_window() {
        let l = AuthLimiter::new(1, Duration::from_millis(30), Duration::ZERO, Duration::ZERO);
        let a = ip("198.51.100.7");
        l.failure(a);
        assert!(l.check(a).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check(a).is_ok());
        l.failure(a);
        assert_eq!(l.failures(a), 1, "a new window starts from zero");
    }
}
