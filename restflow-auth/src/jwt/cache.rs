//! Access tokens verified before, so that a client sending the same token
//! on every request pays for its signature and claims once.
//!
//! An entry is keyed by the whole token (header, claims and signature), so
//! a hit means these exact bytes were verified with this state's keys and
//! settings. What can change with time is checked again on every hit: the
//! entry serves only while `exp` is ahead of now minus the leeway (PyJWT's
//! rule); after that the full path runs and gives the exact error. What
//! must be current is never cached: the blacklist and the user are read on
//! every request. The cache is bounded (a few MiB at most) and sharded to
//! keep lock contention low.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

use super::jws::Verified;

const SHARDS: usize = 16;
const PER_SHARD: usize = 512;
/// Longer tokens are not kept (they are unusual and would cost memory).
const MAX_TOKEN_LEN: usize = 2048;

/// One shard: the keyed hash of a token to the token and its verified
/// claims. The token is hashed once per lookup (SipHash with this cache's
/// random key, so no client can aim at a slot); two tokens of one hash
/// share a slot, the later replacing the earlier (a miss, never a mix-up:
/// a hit compares the whole token).
type Shard = Mutex<HashMap<u64, (Box<str>, Arc<Verified>), crate::prehashed::BuildPrehashed>>;

pub(crate) struct VerifiedCache {
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Shard]>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are bearer credentials: only the size is printed.
        f.debug_struct("VerifiedCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl Default for VerifiedCache {
    fn default() -> Self {
        VerifiedCache {
            hasher: Default::default(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

impl VerifiedCache {
    /// The token's hash and its shard (by bits the map does not use: it
    /// indexes by the low bits and tags by the top seven).
    ///
    /// Only the signature segment is hashed: entries are verified tokens,
    /// whose signatures differ (a forged token that reuses one lands in
    /// its slot, compares unequal and misses), and it is a fifth of the
    /// token.
    fn shard(&self, raw: &str) -> (u64, &Shard) {
        let signature = raw.rsplit_once('.').map_or(raw, |(_, s)| s);
        let h = self.hasher.hash_one(signature);
        (h, &self.shards[((h >> 32) as usize) % SHARDS])
    }

    /// The claims of `raw` if it was verified before and has not expired
    /// at `now` (seconds, with `leeway`).
    pub(crate) fn get(&self, raw: &str, now: f64, leeway: f64) -> Option<Arc<Verified>> {
        let (h, shard) = self.shard(raw);
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match shard.get(&h) {
            Some((token, hit)) if **token == *raw && (hit.exp as f64) > now - leeway => {
                Some(Arc::clone(hit))
            }
            Some((token, _)) if **token == *raw => {
                shard.remove(&h);
                None
            }
            _ => None,
        };
        crate::telemetry::cache("jwt_verified", found.is_some());
        found
    }

    /// Keeps `claims`, verified just now, for `raw`. A full shard first
    /// drops its expired entries, then, if still full, all of them.
    pub(crate) fn insert(&self, raw: &str, claims: &Arc<Verified>, now: f64, leeway: f64) {
        if raw.len() > MAX_TOKEN_LEN {
            return;
        }
        let (h, shard) = self.shard(raw);
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            shard.retain(|_, (_, v)| (v.exp as f64) > now - leeway);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(h, (raw.into(), Arc::clone(claims)));
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<Verified> {
        Arc::new(Verified {
            payload: "{}".into(),
            jti: None,
            exp,
            iat: 0,
            user_id: None,
            revoke: None,
            fam: None,
            family_key: None,
        })
    }

    #[test]
    fn serves_live_entries_only_and_stays_bounded() {
        let cache = VerifiedCache::default();
        cache.insert("a.b.c", &claims(1_000), 900.0, 0.0);
        assert!(cache.get("a.b.c", 999.0, 0.0).is_some());
        assert!(
            cache.get("a.b.d", 999.0, 0.0).is_none(),
            "another signature"
        );
        assert!(
            cache.get("a.b.c", 1_005.0, 10.0).is_some(),
            "within the leeway"
        );
        assert!(cache.get("a.b.c", 1_000.0, 0.0).is_none(), "expired at exp");
        assert_eq!(cache.len(), 0, "an expired entry is dropped when seen");
        for i in 0..(SHARDS * PER_SHARD * 3) {
            cache.insert(&format!("token-{i}"), &claims(2_000), 900.0, 0.0);
        }
        assert!(cache.len() <= SHARDS * PER_SHARD);
        cache.insert(&"x".repeat(MAX_TOKEN_LEN + 1), &claims(2_000), 900.0, 0.0);
        assert!(
            cache
                .get(&"x".repeat(MAX_TOKEN_LEN + 1), 900.0, 0.0)
                .is_none()
        );
    }
}
