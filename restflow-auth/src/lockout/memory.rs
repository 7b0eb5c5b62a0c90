//! Lockout counters in this process.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Attempt, BoxFuture, LOCKOUT_MEMORY_S, LockoutStore, LoginSettings, cooloff};
use crate::error::AuthError;

/// One (username, client) pair, or one username (empty client).
#[derive(Debug, Default, Clone)]
struct Entry {
    failures: u32,
    window_start: u64,
    /// Lockouts so far (for the doubling) and when that memory ends.
    lockouts: u32,
    lockouts_until: u64,
    locked_until: u64,
}

/// The lockout counters in memory, at most `max_keys` entries (expired
/// ones first, then any, go when it is full).
#[derive(Debug)]
pub struct MemoryLockoutStore {
    entries: Mutex<HashMap<(String, String), Entry>>,
    max_keys: usize,
}

impl MemoryLockoutStore {
    /// An empty store.
    pub fn new(max_keys: usize) -> Self {
        MemoryLockoutStore {
            entries: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, String), Entry>, u64) -> T) -> T {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut map, crate::unix_now().max(0) as u64)
    }

    fn locked_now(&self, a: &Attempt, _: &LoginSettings) -> Option<u64> {
        self.with(|map, now| {
            [
                (a.user.clone(), a.client.clone()),
                (a.user.clone(), String::new()),
            ]
            .iter()
            .filter_map(|k| map.get(k))
            .map(|e| e.locked_until.saturating_sub(now))
            .filter(|left| *left > 0)
            .max()
        })
    }

    fn fail_now(&self, a: &Attempt, s: &LoginSettings) {
        self.with(|map, now| {
            if map.len() + 2 > self.max_keys {
                map.retain(|_, e| {
                    e.locked_until > now
                        || e.lockouts_until > now
                        || e.window_start + s.window_s > now
                });
                if map.len() + 2 > self.max_keys {
                    let evict: Vec<_> = map.keys().take(self.max_keys / 10 + 2).cloned().collect();
                    for k in evict {
                        map.remove(&k);
                    }
                }
            }
            for (key, max, single_cooloff) in [
                ((a.user.clone(), a.client.clone()), s.max_failures, false),
                (
                    (a.user.clone(), String::new()),
                    s.username_max_failures,
                    true,
                ),
            ] {
                let e = map.entry(key).or_default();
                if e.window_start + s.window_s <= now {
                    e.failures = 0;
                    e.window_start = now;
                }
                if e.lockouts_until <= now {
                    e.lockouts = 0;
                }
                e.failures += 1;
                if e.failures >= max {
                    e.failures = 0;
                    e.window_start = now;
                    e.lockouts += 1;
                    e.lockouts_until = now + LOCKOUT_MEMORY_S;
                    let wait = if single_cooloff {
                        s.username_cooloff_s
                    } else {
                        cooloff(s, e.lockouts)
                    };
                    e.locked_until = now + wait;
                }
            }
        });
    }

    fn succeed_now(&self, a: &Attempt) {
        self.with(|map, _| {
            if let Some(e) = map.get_mut(&(a.user.clone(), a.client.clone())) {
                e.failures = 0;
            }
        });
    }
}

impl LockoutStore for MemoryLockoutStore {
    fn locked<'a>(
        &'a self,
        a: &'a Attempt,
        s: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<Option<u64>, AuthError>> {
        Box::pin(std::future::ready(Ok(self.locked_now(a, s))))
    }
    fn failed<'a>(
        &'a self,
        a: &'a Attempt,
        s: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        self.fail_now(a, s);
        Box::pin(std::future::ready(Ok(())))
    }
    fn succeeded<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<(), AuthError>> {
        self.succeed_now(a);
        Box::pin(std::future::ready(Ok(())))
    }
    fn locked_blocking(&self, a: &Attempt, s: &LoginSettings) -> Result<Option<u64>, AuthError> {
        Ok(self.locked_now(a, s))
    }
    fn failed_blocking(&self, a: &Attempt, s: &LoginSettings) -> Result<(), AuthError> {
        self.fail_now(a, s);
        Ok(())
    }
    fn succeeded_blocking(&self, a: &Attempt) -> Result<(), AuthError> {
        self.succeed_now(a);
        Ok(())
    }
}
