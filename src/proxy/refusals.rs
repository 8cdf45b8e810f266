//! Rate-limits refusal log lines per peer address, so a plaintext client
//! retrying in a loop cannot flood the log: the first refusal from an
//! address is logged, then at most one line per interval, which counts
//! the refusals it did not log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One line per address per this interval.
const INTERVAL: Duration = Duration::from_secs(10);
/// Addresses remembered at most; beyond it the oldest are forgotten.
const MAX_ADDRESSES: usize = 4096;

#[derive(Default)]
pub struct RefusalLog {
    seen: HashMap<IpAddr, (Instant, u64)>,
}

impl RefusalLog {
    /// Whether to log a refusal from `ip` now; `Some(n)` also says how many
    /// were suppressed since the last line.
    pub fn should_log(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.seen.len() >= MAX_ADDRESSES && !self.seen.contains_key(&ip) {
            self.seen
                .retain(|_, (at, _)| now.duration_since(*at) < INTERVAL);
            if self.seen.len() >= MAX_ADDRESSES {
                self.seen.clear();
            }
        }
        match self.seen.get_mut(&ip) {
            Some((at, suppressed)) if now.duration_since(*at) < INTERVAL => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let n = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                self.seen.insert(ip, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_a_count() {
        let mut log = RefusalLog::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert_eq!(log.should_log(ip, t0), Some(0));
        assert_eq!(log.should_log(ip, t0 + Duration::from_secs(1)), None);
        assert_eq!(log.should_log(ip, t0 + Duration::from_secs(2)), None);
        assert_eq!(
            log.should_log(ip, t0 + INTERVAL + Duration::from_secs(1)),
            Some(2)
        );
        let other: IpAddr = [127, 0, 0, 2].into();
        assert_eq!(log.should_log(other, t0 + Duration::from_secs(1)), Some(0));
    }
}
