//! Accounting of failed logins, shared by every protocol, so that a password
//! guesser cannot spread its attempts over IMAP, POP3 and SMTP.
//!
//! Failures are counted three ways, each count forgotten once it has been
//! quiet for the window:
//! - per address ([`ip_key`]: an IPv4 address, or an IPv6 /64): at
//!   `max_failures` the address is refused outright until the window passes
//!   ([`AuthLimiter::check`]), whatever account it names;
//! - per (address, account) pair: what a successful login forgives. A success
//!   takes its own pair's failures off the address's count and nothing else,
//!   so someone with one account cannot reset the count of their guesses at
//!   another account by logging in to their own between guesses;
//! - per account, over all addresses: past `account_threshold` failures every
//!   login attempt on that account waits before its password is checked
//!   (successful or not, so the wait tells nothing), the wait doubling with
//!   each further failure from `step` up to `max_account_delay` (15 s by
//!   default, like Dovecot's auth penalty). An account is never locked: a
//!   guesser on many addresses can slow its owner's login down by at most
//!   `max_account_delay`, not stop it, and the owner's success clears the
//!   account's count.
//!
//! Implementation notes:
//! - A session waits [`AuthLimiter::failure`]'s delay before answering a
//!   failed login (growing with the address's count, capped at `max_delay`).
//! - Account names are compared ASCII-case-insensitively and cut to
//!   [`MAX_ACCOUNT_LEN`] bytes.
//! - Memory is bounded: past `MAX_TRACKED` entries in a table the quiet ones
//!   are dropped first, then the oldest.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ip_key;

const MAX_TRACKED: usize = 100_000;

/// Account names longer than this are cut (an address is at most 254 octets,
/// RFC 5321 §4.5.3.1.3 with §4.1.2).
pub const MAX_ACCOUNT_LEN: usize = 320;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last: Instant,
}

#[derive(Debug, Default)]
struct Tables {
    ips: HashMap<IpAddr, Record>,
    pairs: HashMap<(IpAddr, String), Record>,
    accounts: HashMap<String, Record>,
}

/// Failed-login counts. Cheap to clone; clones share counts.
#[derive(Clone, Debug)]
pub struct AuthLimiter {
    tables: Arc<Mutex<Tables>>,
    max_failures: u32,
    window: Duration,
    step: Duration,
    max_delay: Duration,
    account_threshold: u32,
    max_account_delay: Duration,
}

impl Default for AuthLimiter {
    /// 10 failures per address per 15 minutes; delays of 1 s per failure, at
    /// most 5 s; past 10 failures on one account, waits of 1 s doubling up
    /// to 15 s before its logins are checked.
    fn default() -> Self {
        AuthLimiter::new(
            10,
            Duration::from_secs(15 * 60),
            Duration::from_secs(1),
            Duration::from_secs(5),
        )
    }
}

/// The account key: ASCII lower case, at most [`MAX_ACCOUNT_LEN`] bytes.
fn account_key(account: &str) -> String {
    let mut end = account.len().min(MAX_ACCOUNT_LEN);
    while !account.is_char_boundary(end) {
        end -= 1;
    }
    account[..end].to_ascii_lowercase()
}

/// `record`'s count, or 0 once it has been quiet for `window`.
fn live(record: Option<&Record>, window: Duration) -> u32 {
    record
        .filter(|r| r.last.elapsed() < window)
        .map_or(0, |r| r.failures)
}

/// Adds a failure to `key`'s count (restarting it after a quiet window);
/// returns the new count.
fn count<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, Record>,
    key: K,
    now: Instant,
    window: Duration,
) -> u32 {
    if table.len() >= MAX_TRACKED && !table.contains_key(&key) {
        table.retain(|_, r| now.duration_since(r.last) < window);
        if table.len() >= MAX_TRACKED
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, r)| r.last)
                .map(|(k, _)| k.clone())
        {
            table.remove(&oldest);
        }
    }
    let r = table.entry(key).or_insert(Record {
        failures: 0,
        last: now,
    });
    if now.duration_since(r.last) >= window {
        r.failures = 0;
    }
    r.failures = r.failures.saturating_add(1);
    r.last = now;
    r.failures
}

impl AuthLimiter {
    /// `max_failures` within `window` blocks an address; each failure is
    /// answered after `step` × failures, at most `max_delay`. Accounts are
    /// slowed down past `max_failures` failures, by up to 15 s
    /// ([`AuthLimiter::with_account_penalty`] changes that).
    pub fn new(max_failures: u32, window: Duration, step: Duration, max_delay: Duration) -> Self {
        AuthLimiter {
            tables: Arc::default(),
            max_failures,
            window,
            step,
            max_delay,
            account_threshold: max_failures,
            max_account_delay: Duration::from_secs(15),
        }
    }

    /// Past `threshold` failures on one account (within the window, from any
    /// address), its logins wait `step` × 2^(failures − threshold), at most
    /// `max_delay`, before their password is checked.
    pub fn with_account_penalty(mut self, threshold: u32, max_delay: Duration) -> Self {
        self.account_threshold = threshold;
        self.max_account_delay = max_delay;
        self
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(remaining)` while `ip` is blocked: refuse the login attempt
    /// without checking the password.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let ip = ip_key(ip);
        let tables = self.tables();
        match tables.ips.get(&ip) {
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

    /// How long a login attempt on `account` waits before its password is
    /// checked (zero unless the account is past its threshold).
    pub fn account_delay(&self, account: &str) -> Duration {
        let failures = live(
            self.tables().accounts.get(&account_key(account)),
            self.window,
        );
        match failures.checked_sub(self.account_threshold) {
            None => Duration::ZERO,
            Some(excess) => {
                let factor = 1u32.checked_shl(excess.min(31)).unwrap_or(u32::MAX);
                self.step.saturating_mul(factor).min(self.max_account_delay)
            }
        }
    }

    /// The gate before a password for `account` from `ip` is checked:
    /// `Err(remaining)` when `ip` is blocked (refuse without checking),
    /// else `Ok` after the account's wait ([`AuthLimiter::account_delay`]).
    pub async fn admit(&self, ip: IpAddr, account: &str) -> Result<(), Duration> {
        self.check(ip)?;
        let delay = self.account_delay(account);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    /// Records a failed login on `account` from `ip`; returns how long to
    /// wait before answering it.
    pub fn failure(&self, ip: IpAddr, account: &str) -> Duration {
        tidings_metrics::login(false);
        tracing::info!(account, "login failed");
        let ip = ip_key(ip);
        let account = account_key(account);
        let now = Instant::now();
        let window = self.window;
        let mut tables = self.tables();
        let failures = count(&mut tables.ips, ip, now, window);
        count(&mut tables.pairs, (ip, account.clone()), now, window);
        count(&mut tables.accounts, account, now, window);
        self.delay(failures)
    }

    /// A successful login on `account` from `ip`: forgets the account's
    /// failures and takes this pair's off the address's count. Failures from
    /// `ip` on other accounts stay counted.
    pub fn success(&self, ip: IpAddr, account: &str) {
        tidings_metrics::login(true);
        tracing::info!(account, "login");
        let ip = ip_key(ip);
        let account = account_key(account);
        let window = self.window;
        let mut tables = self.tables();
        tables.accounts.remove(&account);
        let forgiven = live(tables.pairs.remove(&(ip, account)).as_ref(), window);
        // A live pair's failures are all in the address's live count (a
        // pair is never quieter than its address).
        if forgiven > 0
            && let Some(r) = tables.ips.get_mut(&ip)
        {
            r.failures = r.failures.saturating_sub(forgiven);
            if r.failures == 0 {
                tables.ips.remove(&ip);
            }
        }
    }

    /// The wait before answering the `failures`-th failure of an address.
    pub fn delay(&self, failures: u32) -> Duration {
        self.step.saturating_mul(failures).min(self.max_delay)
    }

    /// The current failure count of `ip` (for logs and tests).
    pub fn failures(&self, ip: IpAddr) -> u32 {
        live(self.tables().ips.get(&ip_key(ip)), self.window)
    }

    /// The current failure count of `account`, over all addresses.
    pub fn account_failures(&self, account: &str) -> u32 {
        live(
            self.tables().accounts.get(&account_key(account)),
            self.window,
        )
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
        assert_eq!(l.failure(a, "bob"), Duration::from_millis(100));
        assert_eq!(l.failure(a, "bob"), Duration::from_millis(200));
        assert!(l.check(a).is_ok());
        assert_eq!(l.failure(a, "bob"), Duration::from_millis(250), "capped");
        assert!(l.check(a).is_err(), "blocked at the limit");
        assert!(
            l.check(ip("192.0.2.2")).is_ok(),
            "other addresses unaffected"
        );
        // The same address over IPv6-mapped form shares the count.
        assert!(l.check(ip("::ffff:192.0.2.1")).is_err());
        l.success(a, "BOB");
        assert!(l.check(a).is_ok());
        assert_eq!(l.failures(a), 0);
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_window() {
        let l = AuthLimiter::new(1, Duration::from_millis(30), Duration::ZERO, Duration::ZERO);
        let a = ip("198.51.100.7");
        l.failure(a, "bob");
        assert!(l.check(a).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check(a).is_ok());
        assert_eq!(l.failures(a), 0);
        l.failure(a, "bob");
        assert_eq!(l.failures(a), 1, "a new window starts from zero");
    }

    /// Regression: a success used to clear the whole address's count, so an
    /// attacker with an account could guess another's password without
    /// limit: wrong for the victim, right for themself, repeat.
    #[test]
    fn own_success_does_not_forgive_guesses_at_another_account() {
        let l = AuthLimiter::new(5, Duration::from_secs(60), Duration::ZERO, Duration::ZERO);
        let a = ip("203.0.113.9");
        for round in 1..=5 {
            assert!(l.check(a).is_ok(), "round {round}");
            l.failure(a, "victim@example.org");
            l.success(a, "me@example.org");
        }
        assert!(l.check(a).is_err(), "the address is blocked");
        assert_eq!(l.failures(a), 5);
    }

    #[test]
    fn success_forgives_only_its_own_pair() {
        let l = AuthLimiter::new(10, Duration::from_secs(60), Duration::ZERO, Duration::ZERO);
        let a = ip("203.0.113.10");
        let b = ip("203.0.113.11");
        for _ in 0..3 {
            l.failure(a, "ann");
        }
        l.failure(a, "bob");
        l.failure(a, "bob");
        l.failure(b, "ann");
        assert_eq!(l.failures(a), 5);
        assert_eq!(l.account_failures("ann"), 4);
        l.success(a, "Ann");
        assert_eq!(l.failures(a), 2, "bob's failures stay counted");
        assert_eq!(l.failures(b), 1, "other addresses' failures stay");
        assert_eq!(l.account_failures("ann"), 0, "the account is cleared");
        assert_eq!(l.account_failures("bob"), 2);
    }

    #[test]
    fn an_attacked_account_is_slowed_down_never_locked() {
        let l = AuthLimiter::new(
            3,
            Duration::from_secs(60),
            Duration::from_millis(100),
            Duration::from_millis(500),
        )
        .with_account_penalty(3, Duration::from_millis(1000));
        // Guesses from many addresses, two each: no address is blocked.
        for i in 0..3u8 {
            l.failure(IpAddr::from([192, 0, 2, i]), "victim");
        }
        assert_eq!(l.account_delay("victim"), Duration::from_millis(100));
        assert_eq!(l.account_delay("someone-else"), Duration::ZERO);
        for i in 3..5u8 {
            l.failure(IpAddr::from([192, 0, 2, i]), "victim");
        }
        assert_eq!(l.account_delay("victim"), Duration::from_millis(400));
        for i in 5..20u8 {
            l.failure(IpAddr::from([192, 0, 2, i]), "VICTIM");
        }
        assert_eq!(
            l.account_delay("victim"),
            Duration::from_millis(1000),
            "the wait is capped"
        );
        // The owner's address is not blocked, and their success clears it.
        assert!(l.check(ip("198.51.100.1")).is_ok());
        l.success(ip("198.51.100.1"), "victim");
        assert_eq!(l.account_delay("victim"), Duration::ZERO);
    }

    #[test]
    fn an_ipv6_64_is_one_address() {
        let l = AuthLimiter::new(2, Duration::from_secs(60), Duration::ZERO, Duration::ZERO);
        l.failure(ip("2001:db8:1:2::1"), "bob");
        l.failure(ip("2001:db8:1:2:ffff::9"), "bob");
        assert!(l.check(ip("2001:db8:1:2::77")).is_err());
        assert!(l.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn long_account_names_are_cut() {
        let long = "é".repeat(400);
        assert!(account_key(&long).len() <= MAX_ACCOUNT_LEN);
        assert_eq!(account_key("Bob@Example.ORG"), "bob@example.org");
    }
}
