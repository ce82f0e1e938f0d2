//! A small in-memory fixed-window limiter of failed attempts (logins, token requests).
//!
//! Keys are `ip:…` (the peer address, only when the server was started with axum's connect
//! info; `X-Forwarded-For` is never trusted, since any client can send it), `client:…` and
//! `user:…`. Without connect info, the client and user keys still bound guessing of secrets
//! and passwords; account lockout ([`crate::users::login`]) is the second layer. The state
//! is per node: with several nodes the limit is per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window.
const WINDOW: Duration = Duration::from_secs(60);

/// Failures allowed per key and window.
pub const LOGIN_FAILURES_PER_USER: u32 = 10;
/// Failures allowed per peer address on the login form.
pub const LOGIN_FAILURES_PER_IP: u32 = 50;
/// Failed token, introspection and revocation requests per client or address.
pub const TOKEN_FAILURES: u32 = 20;

/// Counts failures per key in fixed windows.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `Err(seconds to wait)` when `key` already had `limit` failures in the current window.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), u64> {
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        match windows.get(key) {
            Some((start, count)) if start.elapsed() < WINDOW && *count >= limit => {
                Err(WINDOW.saturating_sub(start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure of `key`.
    pub fn fail(&self, key: &str) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        // Bounded memory: drop finished windows when the map grows.
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let entry = windows.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Checks several keys at once.
    pub fn check_all(&self, keys: &[(String, u32)]) -> Result<(), u64> {
        for (key, limit) in keys {
            self.check(key, *limit)?;
        }
        Ok(())
    }

    /// Counts a failure for several keys.
    pub fn fail_all(&self, keys: &[(String, u32)]) {
        for (key, _) in keys {
            self.fail(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_the_allowed_failures() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("user:a", 3).is_ok());
            limiter.fail("user:a");
        }
        assert!(limiter.check("user:a", 3).is_err());
        assert!(limiter.check("user:b", 3).is_ok());
    }
}
