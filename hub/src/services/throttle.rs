//! Sign-in throttling: a rate per client address (governor), exponential back-off after repeated
//! failures per account and per address (the lock doubles with each failure past the threshold,
//! up to a cap), and a cap on password checks running at once (argon2 takes 19 MiB and a core
//! each, so a flood of sign-ins waits, then gets 503, instead of exhausting memory).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::config::StaffConfig;
use crate::error::Error;

/// Entries (accounts, addresses) remembered before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;
/// The first lock after the threshold; each further failure doubles it.
const FIRST_LOCK: Duration = Duration::from_secs(2);
/// How long a password check waits for a free slot before the sign-in gets 503.
const CHECK_WAIT: Duration = Duration::from_secs(5);
/// Failures from one address allowed per failure allowed on one account (an office shares an
/// address).
const ADDRESS_FACTOR: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// The SHA-256 of the lower-cased e-mail, known or not (so the answer says nothing about
    /// which accounts exist).
    Account([u8; 32]),
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The account key of an e-mail address.
fn account(email: &str) -> Key {
    use sha2::Digest as _;
    Key::Account(sha2::Sha256::digest(email.trim().to_lowercase().as_bytes()).into())
}

/// Sign-in throttling.
#[derive(Debug)]
pub struct LoginThrottle {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    failures: Mutex<HashMap<Key, Failures>>,
    threshold: u32,
    max_lock: Duration,
    checks: Semaphore,
}

impl LoginThrottle {
    #[must_use]
    pub fn new(config: &StaffConfig) -> Self {
        let per_minute = NonZeroU32::new(config.login_attempts_per_minute_per_address).unwrap_or(NonZeroU32::MIN);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let checks = if config.password_checks_at_once == 0 { 2 * cores } else { config.password_checks_at_once };
        Self {
            per_address: RateLimiter::keyed(Quota::per_minute(per_minute)),
            failures: Mutex::new(HashMap::new()),
            threshold: config.login_failures_before_lock.max(1),
            max_lock: Duration::from_secs(config.login_lock_max_secs.max(1)),
            checks: Semaphore::new(checks.max(1)),
        }
    }

    fn threshold(&self, key: &Key) -> u32 {
        match key {
            Key::Account(_) => self.threshold,
            Key::Address(_) => self.threshold.saturating_mul(ADDRESS_FACTOR),
        }
    }

    /// Whether a sign-in for `email` from `from` may be tried now (counted against the
    /// address's rate).
    ///
    /// # Errors
    /// 429 with the seconds to wait.
    pub fn check(&self, email: &str, from: Option<IpAddr>) -> Result<(), Error> {
        if let Some(ip) = from {
            if self.per_address.len() > MAX_TRACKED {
                self.per_address.retain_recent();
            }
            if let Err(not_until) = self.per_address.check_key(&ip) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(address = %ip, "sign-in refused: too many attempts from this address");
                return Err(too_many(wait));
            }
        }
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in std::iter::once(account(email)).chain(from.map(Key::Address)) {
            if let Some(until) = failures.get(&key).and_then(|f| f.locked_until).filter(|u| *u > now) {
                let by = if matches!(key, Key::Account(_)) { "account" } else { "address" };
                tracing::warn!(address = ?from, locked_by = by, "sign-in refused: locked after repeated failures");
                return Err(too_many(until - now));
            }
        }
        Ok(())
    }

    /// Counts a failed sign-in (wrong password or code) against the account and the address.
    pub fn failed(&self, email: &str, from: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() > MAX_TRACKED {
            let forget = self.max_lock * 2;
            failures.retain(|_, f| now.duration_since(f.last) < forget);
        }
        for key in std::iter::once(account(email)).chain(from.map(Key::Address)) {
            let threshold = self.threshold(&key);
            let entry = failures.entry(key).or_insert(Failures { count: 0, last: now, locked_until: None });
            // A quiet spell twice the longest lock starts the count again.
            if now.duration_since(entry.last) > self.max_lock * 2 {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count >= threshold {
                let doublings = (entry.count - threshold).min(30);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(self.max_lock);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn succeeded(&self, email: &str) {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(&account(email));
    }

    /// Runs a password check on a blocking thread once one of the limited slots is free.
    ///
    /// # Errors
    /// 503 when no slot frees up in a few seconds.
    pub async fn password_check<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let Ok(Ok(_permit)) = tokio::time::timeout(CHECK_WAIT, self.checks.acquire()).await else {
            tracing::warn!("sign-in refused: too many password checks at once");
            return Err(Error::Unavailable("too many sign-ins at once; retry in a moment".into()));
        };
        tokio::task::spawn_blocking(check).await.map_err(|e| Error::Internal(format!("password check failed: {e}")))
    }
}

fn too_many(wait: Duration) -> Error {
    Error::retry_later("too many sign-in attempts", wait)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(&StaffConfig {
            login_failures_before_lock: 3,
            login_lock_max_secs: 5,
            login_attempts_per_minute_per_address: 1000,
            ..StaffConfig::default()
        })
    }

    fn lock_secs(t: &LoginThrottle, email: &str) -> Option<u64> {
        match t.check(email, None) {
            Ok(()) => None,
            Err(e @ Error::RetryLater { .. }) => e.retry_after_secs(),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn locks_double_up_to_the_cap_and_clear_on_success() {
        let t = throttle();
        t.failed("a@x.example", None);
        t.failed("A@X.example ", None);
        assert_eq!(lock_secs(&t, "a@x.example"), None);
        t.failed("a@x.example", None);
        assert_eq!(lock_secs(&t, "a@x.example"), Some(2));
        t.failed("a@x.example", None);
        assert_eq!(lock_secs(&t, "a@x.example"), Some(4));
        t.failed("a@x.example", None);
        assert_eq!(lock_secs(&t, "a@x.example"), Some(5));
        assert_eq!(lock_secs(&t, "b@x.example"), None);
        t.succeeded("a@x.example");
        assert_eq!(lock_secs(&t, "a@x.example"), None);
    }

    #[test]
    fn an_address_is_locked_after_more_failures_than_an_account() {
        let t = throttle();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..(3 * ADDRESS_FACTOR - 1) {
            t.failed(&format!("u{i}@x.example"), Some(ip));
        }
        assert!(t.check("new@x.example", Some(ip)).is_ok());
        t.failed("last@x.example", Some(ip));
        assert!(t.check("new@x.example", Some(ip)).is_err());
        assert!(t.check("new@x.example", Some("192.0.2.8".parse().unwrap())).is_ok());
    }
}
