//! The per-user revocation times in Redis, shared by every instance: one
//! key per user, `<prefix><user id>`, holding the time and expiring
//! (`EXAT`) when no credential issued before it can live. A revocation is
//! one script on that one key (the later time wins), so it is atomic and
//! runs on a cluster too.

use std::fmt;

use super::RevocationStore;
use crate::redis_conn::RedisConn;
use crate::user::StoreResult;

/// Keeps the later of the stored and the given time, and the later expiry.
/// (`TTL` and `TIME`, not `EXPIRETIME`: Redis 6.2 runs it too.)
const REVOKE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local at = math.max(cur, tonumber(ARGV[1]))
local keep = tonumber(ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then
  keep = math.max(keep, tonumber(redis.call('TIME')[1]) + ttl)
end
redis.call('SET', KEYS[1], at, 'EXAT', keep)
return at
";

/// A Redis-backed [`RevocationStore`].
pub struct RedisRevocationStore {
    conn: RedisConn,
    prefix: String,
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the prefix is printed.
        f.debug_struct("RedisRevocationStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRevocationStore {
    /// A store at `url` (`redis://host:port/db`); the connection is made
    /// on first use, and a Redis that cannot be reached fails closed (503).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisRevocationStore {
            conn: RedisConn::new(url, "redis revocations")?,
            prefix: "restflow:revoked:".into(),
        })
    }

    /// Keys start with `prefix` (default `restflow:revoked:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn get(&self, user: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{user}", self.prefix));
        cmd
    }

    fn revoke_cmd(&self, user: &str, at: i64, keep: i64) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REVOKE)
            .arg(1)
            .arg(format!("{}{user}", self.prefix))
            .arg(at)
            .arg(keep.max(crate::unix_now() + 1));
        cmd
    }
}

impl RevocationStore for RedisRevocationStore {
    async fn valid_after(&self, user: &str) -> StoreResult<Option<i64>> {
        self.conn.run::<Option<i64>>(self.get(user)).await
    }
    async fn revoke(&self, user: &str, valid_after: i64, keep_until: i64) -> StoreResult<()> {
        self.conn
            .run_telling::<i64>(self.revoke_cmd(user, valid_after, keep_until), "r", user)
            .await
            .map(drop)
    }
    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>> {
        self.conn.run_blocking::<Option<i64>>(self.get(user))
    }
    fn revoke_blocking(&self, user: &str, valid_after: i64, keep_until: i64) -> StoreResult<()> {
        self.conn
            .run_telling_blocking::<i64>(self.revoke_cmd(user, valid_after, keep_until), "r", user)
            .map(drop)
    }
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        self.conn.feed()
    }
}
