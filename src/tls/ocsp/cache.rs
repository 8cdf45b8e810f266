//! Remembered OCSP outcomes, keyed by certificate id, each until its
//! expiry; bounded in size. No locking here: the checker wraps it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::query::Outcome;

/// Enough for every client certificate of a large deployment; past it the
/// expired entries go first, then the oldest.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How long a failure (responder down, timeout, bad answer) is remembered.
/// Long enough that a burst of connections does not hammer a dead
/// responder (each would otherwise cost a worker up to the verify
/// timeout), short enough that under hard-fail a recovered responder is
/// used again within seconds.
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

struct Entry {
    outcome: Outcome,
    expires_at: Instant,
    /// Insertion order, to find the oldest entry when full.
    born: u64,
}

pub struct Cache {
    entries: HashMap<Vec<u8>, Entry>,
    capacity: usize,
    next_born: u64,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            next_born: 0,
        }
    }

    /// The outcome for `key` if it has not expired by `now`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Outcome> {
        self.entries
            .get(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.outcome.clone())
    }

    /// Remembers `outcome` until `expires_at`; an already expired entry is
    /// not stored (a response whose nextUpdate is past, within the leeway).
    pub fn put(&mut self, key: Vec<u8>, outcome: Outcome, expires_at: Instant, now: Instant) {
        if expires_at <= now {
            self.entries.remove(&key);
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, entry| entry.expires_at > now);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.born)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        let born = self.next_born;
        self.next_born += 1;
        self.entries.insert(
            key,
            Entry {
                outcome,
                expires_at,
                born,
            },
        );
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// When an answer stops being trusted: at the response's nextUpdate, or
/// after the refresh period when the responder gave none. Failures last
/// `FAILURE_TTL`.
pub fn expiry(
    outcome: &Outcome,
    next_update: Option<SystemTime>,
    refresh_period: Duration,
    now: Instant,
) -> Instant {
    if matches!(outcome, Outcome::Failed(_)) {
        return now + FAILURE_TTL;
    }
    match next_update {
        // A nextUpdate in the past gives `now`: not cached.
        Some(at) => {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            now.checked_add(left).unwrap_or(now + refresh_period)
        }
        None => now + refresh_period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Vec<u8> {
        vec![n; 4]
    }

    #[test]
    fn entries_expire() {
        let now = Instant::now();
        let mut cache = Cache::new(10);
        cache.put(key(1), Outcome::Good, now + Duration::from_secs(5), now);
        assert_eq!(cache.get(&key(1), now), Some(Outcome::Good));
        assert_eq!(
            cache.get(&key(1), now + Duration::from_secs(4)),
            Some(Outcome::Good)
        );
        assert_eq!(cache.get(&key(1), now + Duration::from_secs(5)), None);
        assert_eq!(cache.get(&key(2), now), None);
        cache.put(key(3), Outcome::Unknown, now, now);
        assert_eq!(cache.len(), 1, "an expired answer is not stored");
    }

    #[test]
    fn full_cache_drops_expired_then_oldest() {
        let now = Instant::now();
        let mut cache = Cache::new(3);
        cache.put(key(1), Outcome::Good, now + Duration::from_secs(100), now);
        cache.put(key(2), Outcome::Good, now + Duration::from_secs(1), now);
        cache.put(key(3), Outcome::Good, now + Duration::from_secs(100), now);
        let later = now + Duration::from_secs(2);
        cache.put(
            key(4),
            Outcome::Unknown,
            later + Duration::from_secs(100),
            later,
        );
        assert_eq!(cache.len(), 3);
        assert!(
            cache.get(&key(1), later).is_some(),
            "the expired one went, not the oldest"
        );
        cache.put(
            key(5),
            Outcome::Unknown,
            later + Duration::from_secs(100),
            later,
        );
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&key(1), later), None, "then the oldest");
        assert!(cache.get(&key(3), later).is_some());
        assert!(cache.get(&key(5), later).is_some());
        // Replacing an entry does not evict another.
        cache.put(
            key(5),
            Outcome::Good,
            later + Duration::from_secs(100),
            later,
        );
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&key(5), later), Some(Outcome::Good));
    }

    #[test]
    fn expiry_follows_next_update_or_refresh_period() {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let next = SystemTime::now() + Duration::from_secs(300);
        let at = expiry(&Outcome::Good, Some(next), hour, now);
        assert!(at > now + Duration::from_secs(290) && at <= now + Duration::from_secs(300));
        assert_eq!(expiry(&Outcome::Good, None, hour, now), now + hour);
        let past = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(expiry(&Outcome::Unknown, Some(past), hour, now), now);
        let failed = Outcome::Failed("down".into());
        assert_eq!(expiry(&failed, None, hour, now), now + FAILURE_TTL);
    }
}
