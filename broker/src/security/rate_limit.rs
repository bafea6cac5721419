//! Failed authentications per client address, so that guessing passwords
//! costs the attacker time while costing the broker neither CPU nor memory.
//!
//! Each address has a budget of `burst` failures that refills by one every
//! `refill` (the generic cell rate algorithm: one `Instant` per address, the
//! time at which all its failures are forgiven). An attempt is charged
//! *before* the password is checked (PLAIN's PBKDF2, SCRAM's proof) and
//! refunded when it succeeds, so many connections from one address cannot all
//! pass the check before any failure is recorded. (SCRAM's first message
//! is only checked against the budget, not charged: the charge would
//! otherwise last a round trip, and many right logins at once from one
//! address would be refused.) An address over budget is
//! answered at once with the time to wait, without checking anything.
//!
//! The table has a fixed number of entries. When it is full, fully forgiven
//! entries are dropped first, then the entry closest to being forgiven: the
//! addresses that failed most are the last to be forgotten. An attacker with
//! more addresses than entries can still cycle through them; with IPv6, a
//! whole /64 counts as one address, since one host usually holds one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limiter's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Addresses remembered at once (bounds memory: about 64 bytes each).
    pub capacity: usize,
    /// Failures an address may have before it must wait.
    pub burst: u32,
    /// How long until one failure is forgiven.
    pub refill: Duration,
}

impl Default for LimiterConfig {
    /// 10 failures at once, then one attempt every 6 s (10 a minute) per
    /// address; 4096 addresses remembered.
    fn default() -> Self {
        LimiterConfig {
            capacity: 4096,
            burst: 10,
            refill: Duration::from_secs(6),
        }
    }
}

/// An address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Key {
    fn from(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => Key::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Key::V4(v4.into()),
                None => Key::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Too many failures from this address: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed authentications from this address; retry in {} s", .0.as_secs().max(1))]
pub struct RetryAfter(pub Duration);

/// The limiter, shared by every connection.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    config: LimiterConfig,
    /// Per address, the instant at which all its failures are forgiven.
    table: Mutex<HashMap<Key, Instant>>,
}

impl FailedAuthLimiter {
    /// Settings are clamped to sane ranges (at least one entry and one
    /// failure; at most a million failures and a day per refill), so the
    /// time arithmetic cannot overflow.
    pub fn new(config: LimiterConfig) -> Self {
        FailedAuthLimiter {
            config: LimiterConfig {
                capacity: config.capacity.max(1),
                burst: config.burst.clamp(1, 1_000_000),
                refill: config.refill.min(Duration::from_secs(86_400)),
            },
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges one failure to `ip` before an authentication attempt, or says
    /// how long it must wait. Call [`Self::succeeded`] if the attempt succeeds.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.try_acquire_at(ip, Instant::now())
    }

    /// Whether `ip` may try now, charging nothing (for the first step of an
    /// exchange whose costly check comes later).
    pub fn check(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let limit = self.config.refill.saturating_mul(self.config.burst - 1);
        match self.table().get(&Key::from(ip)) {
            Some(tat) if *tat > now + limit => Err(RetryAfter(*tat - (now + limit))),
            _ => Ok(()),
        }
    }

    /// Refunds the failure charged by [`Self::try_acquire`].
    pub fn succeeded(&self, ip: IpAddr) {
        if let Some(tat) = self.table().get_mut(&Key::from(ip)) {
            *tat = tat.checked_sub(self.config.refill).unwrap_or(*tat);
        }
    }

    /// Addresses currently remembered.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn try_acquire_at(&self, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let key = Key::from(ip);
        let LimiterConfig {
            capacity,
            burst,
            refill,
        } = self.config;
        let limit = refill.saturating_mul(burst - 1);
        let mut table = self.table();
        if let Some(tat) = table.get_mut(&key) {
            let allowed_until = now + limit;
            if *tat > allowed_until {
                return Err(RetryAfter(*tat - allowed_until));
            }
            *tat = (*tat).max(now) + refill;
            return Ok(());
        }
        if table.len() >= capacity {
            table.retain(|_, tat| *tat > now);
            if table.len() >= capacity {
                if let Some(victim) = table.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| *k) {
                    table.remove(&victim);
                }
            }
        }
        table.insert(key, now + refill);
        Ok(())
    }
}

impl Default for FailedAuthLimiter {
    fn default() -> Self {
        Self::new(LimiterConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(capacity: usize, burst: u32) -> FailedAuthLimiter {
        FailedAuthLimiter::new(LimiterConfig {
            capacity,
            burst,
            refill: Duration::from_secs(6),
        })
    }

    #[test]
    fn burst_then_one_per_refill() {
        let l = limiter(16, 3);
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        for _ in 0..3 {
            l.try_acquire_at(a, t0).unwrap();
        }
        let wait = l.try_acquire_at(a, t0).unwrap_err();
        assert_eq!(wait, RetryAfter(Duration::from_secs(6)));
        assert!(wait.to_string().contains("retry in 6 s"));
        // Refused attempts are not charged: waiting the time given is enough.
        assert!(l.try_acquire_at(a, t0 + Duration::from_secs(3)).is_err());
        l.try_acquire_at(a, t0 + Duration::from_secs(6)).unwrap();
        assert!(l.try_acquire_at(a, t0 + Duration::from_secs(6)).is_err());
        // Other addresses are not affected.
        l.try_acquire_at(ip("203.0.113.8"), t0).unwrap();
        // After a long quiet time the whole burst is back.
        let later = t0 + Duration::from_secs(600);
        for _ in 0..3 {
            l.try_acquire_at(a, later).unwrap();
        }
        assert!(l.try_acquire_at(a, later).is_err());
    }

    #[test]
    fn successes_are_refunded() {
        let l = limiter(16, 2);
        let t0 = Instant::now();
        let a = ip("198.51.100.1");
        for _ in 0..100 {
            l.try_acquire_at(a, t0).unwrap();
            l.succeeded(a);
        }
        l.try_acquire_at(a, t0).unwrap();
        l.try_acquire_at(a, t0).unwrap();
        assert!(l.try_acquire_at(a, t0).is_err());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = limiter(16, 1);
        let t0 = Instant::now();
        l.try_acquire_at(ip("2001:db8:1:2::1"), t0).unwrap();
        assert!(l.try_acquire_at(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        l.try_acquire_at(ip("2001:db8:1:3::1"), t0).unwrap();
        l.try_acquire_at(ip("192.0.2.1"), t0).unwrap();
        assert!(l.try_acquire_at(ip("::ffff:192.0.2.1"), t0).is_err());
    }

    #[test]
    fn memory_is_bounded_and_the_worst_offenders_are_kept() {
        let l = limiter(64, 2);
        let t0 = Instant::now();
        let attacker = ip("192.0.2.66");
        l.try_acquire_at(attacker, t0).unwrap();
        l.try_acquire_at(attacker, t0).unwrap();
        // 100 000 other addresses fail once each.
        for i in 0..100_000u32 {
            let a = IpAddr::V4((0x0a00_0000 + i).into());
            l.try_acquire_at(a, t0 + Duration::from_millis(i as u64 / 100))
                .unwrap();
            assert!(l.len() <= 64);
        }
        // The attacker, most in debt, is still remembered and still blocked.
        assert!(l
            .try_acquire_at(attacker, t0 + Duration::from_secs(1))
            .is_err());
        // Forgiven entries are dropped first when room is needed.
        let much_later = t0 + Duration::from_secs(3600);
        l.try_acquire_at(ip("192.0.2.1"), much_later).unwrap();
        assert_eq!(l.len(), 1);
    }
}
