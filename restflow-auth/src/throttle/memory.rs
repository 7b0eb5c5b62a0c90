//! Throttle logs in this process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{BoxFuture, Hit, Rate, ThrottleStore};
use crate::error::AuthError;

/// DRF's sliding logs in memory, one lock for the check-and-record step so
/// concurrent requests cannot exceed the rate. At most `max_keys` logs are
/// kept: past that, expired logs are dropped, then the oldest.
#[derive(Debug)]
pub struct MemoryThrottleStore {
    logs: Mutex<HashMap<String, Log>>,
    max_keys: usize,
}

#[derive(Debug, Default)]
struct Log {
    /// Newest first, as DRF's list.
    history: VecDeque<f64>,
    /// Until when the log matters (its newest entry plus the period).
    expires: f64,
}

impl MemoryThrottleStore {
    /// An empty store keeping at most `max_keys` logs.
    pub fn new(max_keys: usize) -> Self {
        MemoryThrottleStore {
            logs: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// How many logs are kept.
    pub fn len(&self) -> usize {
        self.logs.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Whether no log is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hit_at(&self, key: &str, rate: Rate, now: f64) -> Hit {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        if logs.len() >= self.max_keys && !logs.contains_key(key) {
            // Full: drop the expired logs, and if that is not enough a
            // tenth of the rest (any: a flood of new keys must not make
            // every request scan the map).
            logs.retain(|_, l| l.expires > now);
            if logs.len() >= self.max_keys {
                let evict: Vec<String> =
                    logs.keys().take(self.max_keys / 10 + 1).cloned().collect();
                for k in evict {
                    logs.remove(&k);
                }
            }
        }
        let log = logs.entry(key.to_owned()).or_default();
        let duration = rate.duration_s as f64;
        while log.history.back().is_some_and(|t| *t <= now - duration) {
            log.history.pop_back();
        }
        let allowed = (log.history.len() as u64) < rate.num;
        if allowed {
            log.history.push_front(now);
            log.expires = now + duration;
        }
        Hit {
            allowed,
            len: log.history.len() as u64,
            oldest: log.history.back().copied(),
            now,
        }
    }
}

fn now() -> f64 {
    crate::now_f64()
}

impl ThrottleStore for MemoryThrottleStore {
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<Hit, AuthError>> {
        let hit = self.hit_at(key, rate, now());
        Box::pin(std::future::ready(Ok(hit)))
    }

    fn hit_blocking(&self, key: &str, rate: Rate) -> Result<Hit, AuthError> {
        Ok(self.hit_at(key, rate, now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drf_sliding_log() {
        let s = MemoryThrottleStore::new(10);
        let rate = Rate {
            num: 3,
            duration_s: 60,
        };
        for i in 0..3 {
            assert!(s.hit_at("k", rate, 100.0 + f64::from(i)).allowed);
        }
        let refused = s.hit_at("k", rate, 110.0);
        assert!(!refused.allowed);
        // DRF's wait: 60 - (110 - 100) = 50 seconds, one request available.
        assert_eq!(refused.wait(rate), Some(50.0));
        // A refused request is not recorded: at 160.5 the first entry is gone.
        assert!(s.hit_at("k", rate, 160.5).allowed);
    }

    #[test]
    fn bounded_number_of_keys() {
        let s = MemoryThrottleStore::new(3);
        let rate = Rate {
            num: 1,
            duration_s: 60,
        };
        for i in 0..10 {
            s.hit_at(&format!("k{i}"), rate, 100.0 + f64::from(i));
        }
        assert!(s.len() <= 3);
    }
}
