//! Credential guessing: after `limit` failed authentications (401s) from one address within a window, every API
//! request from that address is answered 429 until the window ends, whatever credentials it carries (OWASP API2).
//! IPv6 callers are counted per /64, the block one subscriber usually holds, so that walking through addresses
//! does not reset the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses counted at once: past it, expired counts are dropped, and while the table stays full new
/// addresses are not counted (memory stays bounded under a flood of addresses; each still needs a credential).
const MAX_TRACKED: usize = 65_536;

#[derive(Debug)]
pub struct AuthLockout {
    limit: u32,
    window: Duration,
    /// How many addresses the table holds, read without its lock: while it is 0, the common case, a request
    /// costs one atomic load.
    tracked: AtomicUsize,
    failures: Mutex<Table>,
}

/// Per address: when its window began, and its failures in it; and when counts whose window ended were last
/// dropped.
#[derive(Debug)]
struct Table {
    counts: HashMap<IpAddr, (Instant, u32)>,
    swept: Instant,
}

impl Table {
    /// Drops the counts whose window has ended, at most once a second (a full table is a long walk).
    fn sweep(&mut self, window: Duration, now: Instant) {
        if now.saturating_duration_since(self.swept) < Duration::from_secs(1) {
            return;
        }
        self.swept = now;
        self.counts
            .retain(|_, (started, _)| now.saturating_duration_since(*started) < window);
    }
}

impl AuthLockout {
    /// `limit` 0: never locks out.
    pub fn new(limit: u32, window: Duration) -> Self {
        AuthLockout {
            limit,
            window,
            tracked: AtomicUsize::new(0),
            failures: Mutex::new(Table {
                counts: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// How long `peer` must wait before it may try again, when it is locked out.
    pub fn locked(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        if self.limit == 0 || self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut table = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Counts whose window has ended are dropped as requests come, so that once an attack stops the table
        // empties and requests go back to not taking this lock at all.
        table.sweep(self.window, now);
        self.tracked.store(table.counts.len(), Ordering::Relaxed);
        let &(started, count) = table.counts.get(&counted_as(peer))?;
        let left = self
            .window
            .saturating_sub(now.saturating_duration_since(started));
        (count >= self.limit && !left.is_zero()).then_some(left)
    }

    /// Counts a failed authentication from `peer`; true when this one locks it out.
    pub fn failed(&self, peer: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let mut table = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = counted_as(peer);
        if !table.counts.contains_key(&key) && table.counts.len() >= MAX_TRACKED {
            table.sweep(self.window, now);
            if table.counts.len() >= MAX_TRACKED {
                self.tracked.store(table.counts.len(), Ordering::Relaxed);
                return false;
            }
        }
        let limit = self.limit;
        let window = self.window;
        let entry = table.counts.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let now_locked = entry.1 == limit;
        self.tracked.store(table.counts.len(), Ordering::Relaxed);
        now_locked
    }
}

/// The address counted for `peer`: itself, or for IPv6 its /64 (an IPv4 address mapped into IPv6 is itself).
fn counted_as(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// How a log line names `peer`: its network, not the address. An address is personal data; its /24 (IPv4) or /48
/// (IPv6, a site's usual allocation) says where the traffic comes from, which an operator can match against their
/// own access logs or block, without the log keeping who it was. An IPv4 address mapped into IPv6 is IPv4.
pub fn logged_as(peer: IpAddr) -> String {
    match counted_as(peer) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[3..].fill(0);
            format!("{}/48", std::net::Ipv6Addr::from(segments))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_address_is_its_network_alone() {
        assert_eq!(logged_as(ip("203.0.113.77")), "203.0.113.0/24");
        assert_eq!(logged_as(ip("::ffff:203.0.113.77")), "203.0.113.0/24");
        assert_eq!(
            logged_as(ip("2001:db8:1234:5678:9abc:def0:1234:5678")),
            "2001:db8:1234::/48"
        );
        assert_eq!(logged_as(ip("::1")), "::/48");
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_limit_th_failure_locks_the_address_out_until_its_window_ends() {
        let guard = AuthLockout::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        assert_eq!(guard.locked(a, t0), None);
        guard.failed(a, t0);
        guard.failed(a, t0 + Duration::from_secs(10));
        assert_eq!(guard.locked(a, t0 + Duration::from_secs(10)), None);
        assert!(
            guard.failed(a, t0 + Duration::from_secs(20)),
            "the third locks out"
        );
        assert_eq!(
            guard.locked(a, t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40))
        );
        assert_eq!(guard.locked(ip("203.0.113.8"), t0), None, "per address");
        assert_eq!(guard.locked(a, t0 + Duration::from_secs(60)), None);
        // A new window counts from zero.
        guard.failed(a, t0 + Duration::from_secs(61));
        assert_eq!(guard.locked(a, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn ipv6_addresses_of_one_64_count_together() {
        let guard = AuthLockout::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        guard.failed(ip("2001:db8:1:2::1"), t0);
        guard.failed(ip("2001:db8:1:2:ffff::9"), t0);
        assert!(guard.locked(ip("2001:db8:1:2::abcd"), t0).is_some());
        assert!(guard.locked(ip("2001:db8:1:3::1"), t0).is_none());
        // An IPv4 caller seen through an IPv6 socket is the IPv4 address.
        guard.failed(ip("::ffff:198.51.100.1"), t0);
        guard.failed(ip("198.51.100.1"), t0);
        assert!(guard.locked(ip("198.51.100.1"), t0).is_some());
        assert!(guard.locked(ip("198.51.100.2"), t0).is_none());
    }

    #[test]
    fn ended_windows_are_dropped_so_requests_stop_taking_the_lock() {
        let guard = AuthLockout::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        guard.failed(ip("203.0.113.7"), t0);
        guard.failed(ip("203.0.113.8"), t0 + Duration::from_secs(30));
        assert_eq!(guard.tracked.load(Ordering::Relaxed), 2);
        assert_eq!(
            guard.locked(ip("192.0.2.1"), t0 + Duration::from_secs(61)),
            None
        );
        assert_eq!(guard.tracked.load(Ordering::Relaxed), 1);
        assert_eq!(
            guard.locked(ip("192.0.2.1"), t0 + Duration::from_secs(91)),
            None
        );
        assert_eq!(guard.tracked.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_limit_of_zero_never_locks_out() {
        let guard = AuthLockout::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        for _ in 0..100 {
            guard.failed(a, t0);
        }
        assert_eq!(guard.locked(a, t0), None);
    }

    #[test]
    fn the_table_stays_bounded_and_sheds_expired_counts_first() {
        let guard = AuthLockout::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..MAX_TRACKED as u32 {
            guard.failed(IpAddr::V4(n.into()), t0);
        }
        let late = ip("255.255.255.255");
        assert!(!guard.failed(late, t0));
        assert!(guard.locked(late, t0).is_none(), "full: not counted");
        assert_eq!(guard.failures.lock().unwrap().counts.len(), MAX_TRACKED);
        // Once the old counts have expired, a new address is counted again.
        let t1 = t0 + Duration::from_secs(61);
        guard.failed(late, t1);
        assert!(guard.locked(late, t1).is_some());
        assert_eq!(guard.failures.lock().unwrap().counts.len(), 1);
    }
}
