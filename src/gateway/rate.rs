//! A per-client request budget in fixed windows. Its state is what BigCommerce clients read from the four
//! `X-Rate-Limit-*` headers (the Python client needs all four or none); over budget the reply is 429 with
//! `X-Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    quota: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// The budget after counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub quota: u32,
    pub left: u32,
    pub window: Duration,
    pub reset_in: Duration,
    pub allowed: bool,
}

impl RateLimiter {
    pub fn new(quota: u32, window: Duration) -> Self {
        RateLimiter {
            quota,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` at `now`.
    pub fn check(&self, client: &str, now: Instant) -> Budget {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = windows.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        let allowed = entry.1 < self.quota;
        if allowed {
            entry.1 += 1;
        }
        Budget {
            quota: self.quota,
            left: self.quota - entry.1,
            window: self.window,
            reset_in: self.window.saturating_sub(now.duration_since(entry.0)),
            allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_refuses_and_resets() {
        let r = RateLimiter::new(2, Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(r.check("a", t0).left, 1);
        assert!(r.check("a", t0).allowed);
        let over = r.check("a", t0);
        assert!(!over.allowed);
        assert_eq!(over.left, 0);
        assert!(r.check("b", t0).allowed, "budgets are per client");
        assert!(r.check("a", t0 + Duration::from_secs(30)).allowed);
    }
}
