//! Lockout counters in Redis, shared by every instance.

use std::fmt;

use super::{Attempt, BoxFuture, LOCKOUT_MEMORY_S, LockoutStore, LoginSettings};
use crate::error::AuthError;
use crate::redis_conn::RedisConn;

/// The counters as two Redis hashes per attempt, the (username, client)
/// pair and the username alone, both in the username's hash slot (`{..}`),
/// changed by Lua scripts on Redis's clock: atomic, cluster-safe.
pub struct RedisLockoutStore {
    conn: RedisConn,
    prefix: String,
}

impl fmt::Debug for RedisLockoutStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLockoutStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The seconds left of the longer lockout of KEYS[1] and KEYS[2], or 0.
const LOCKED: &str = r"
local now = tonumber(redis.call('TIME')[1])
local left = 0
for i = 1, 2 do
  local u = tonumber(redis.call('HGET', KEYS[i], 'u') or '0')
  if u - now > left then left = u - now end
end
return left
";

/// Counts a failure on both keys (KEYS[1]: pair, KEYS[2]: username).
/// ARGV: max pair, max username, window, cooloff, max cooloff, username
/// cooloff, lockout memory.
const FAILED: &str = r"
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[3])
local memory = tonumber(ARGV[7])
for i = 1, 2 do
  local key = KEYS[i]
  local max = tonumber(ARGV[i])
  local h = redis.call('HMGET', key, 'f', 'ws', 'l', 'lu', 'u')
  local f, ws, l, lu, u = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0'), tonumber(h[4] or '0'), tonumber(h[5] or '0')
  if ws + window <= now then f = 0; ws = now end
  if lu <= now then l = 0 end
  f = f + 1
  if f >= max then
    f = 0; ws = now; l = l + 1; lu = now + memory
    local wait
    if i == 1 then
      wait = tonumber(ARGV[4]) * 2 ^ math.min(l - 1, 62)
      if wait > tonumber(ARGV[5]) then wait = tonumber(ARGV[5]) end
    else
      wait = tonumber(ARGV[6])
    end
    u = now + wait
  end
  redis.call('HSET', key, 'f', f, 'ws', ws, 'l', l, 'lu', lu, 'u', u)
  local keep = math.max(ws + window, lu, u) - now
  redis.call('EXPIRE', key, math.max(1, keep))
end
return 1
";

impl RedisLockoutStore {
    /// A store at `url`; the connection is made on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisLockoutStore {
            conn: RedisConn::new(url, "redis lockout store")?,
            prefix: "restflow:lockout:".into(),
        })
    }

    /// Keys start with `prefix` (default `restflow:lockout:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn keys(&self, a: &Attempt) -> [String; 2] {
        [
            format!("{}{{{}}}:c:{}", self.prefix, a.user, a.client),
            format!("{}{{{}}}:u", self.prefix, a.user),
        ]
    }

    fn locked_cmd(&self, a: &Attempt) -> redis::Cmd {
        let [k1, k2] = self.keys(a);
        let mut c = redis::cmd("EVAL");
        c.arg(LOCKED).arg(2).arg(k1).arg(k2);
        c
    }

    fn failed_cmd(&self, a: &Attempt, s: &LoginSettings) -> redis::Cmd {
        let [k1, k2] = self.keys(a);
        let mut c = redis::cmd("EVAL");
        c.arg(FAILED)
            .arg(2)
            .arg(k1)
            .arg(k2)
            .arg(s.max_failures)
            .arg(s.username_max_failures)
            .arg(s.window_s)
            .arg(s.cooloff_s)
            .arg(s.max_cooloff_s)
            .arg(s.username_cooloff_s)
            .arg(LOCKOUT_MEMORY_S);
        c
    }

    fn succeeded_cmd(&self, a: &Attempt) -> redis::Cmd {
        let mut c = redis::cmd("HSET");
        c.arg(&self.keys(a)[0]).arg("f").arg(0);
        c
    }
}

fn left(secs: u64) -> Option<u64> {
    (secs > 0).then_some(secs)
}

impl LockoutStore for RedisLockoutStore {
    fn locked<'a>(
        &'a self,
        a: &'a Attempt,
        _: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<Option<u64>, AuthError>> {
        Box::pin(async move { Ok(left(self.conn.run::<u64>(self.locked_cmd(a)).await?)) })
    }
    fn failed<'a>(
        &'a self,
        a: &'a Attempt,
        s: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move { self.conn.run::<()>(self.failed_cmd(a, s)).await })
    }
    fn succeeded<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move { self.conn.run::<()>(self.succeeded_cmd(a)).await })
    }
    fn locked_blocking(&self, a: &Attempt, _: &LoginSettings) -> Result<Option<u64>, AuthError> {
        Ok(left(self.conn.run_blocking::<u64>(self.locked_cmd(a))?))
    }
    fn failed_blocking(&self, a: &Attempt, s: &LoginSettings) -> Result<(), AuthError> {
        self.conn.run_blocking::<()>(self.failed_cmd(a, s))
    }
    fn succeeded_blocking(&self, a: &Attempt) -> Result<(), AuthError> {
        self.conn.run_blocking::<()>(self.succeeded_cmd(a))
    }
}
