//! Throttle logs in Redis, shared by every instance.

use std::fmt;

use super::{BoxFuture, Hit, Rate, ThrottleStore};
use crate::error::AuthError;
use crate::redis_conn::RedisConn;

/// DRF's sliding log as one Redis list per key, changed by one Lua script
/// (atomic, so concurrent requests on any instance cannot exceed the
/// rate, where DRF's read-modify-write on the cache can), on Redis's own
/// clock (`TIME`), so instances with skewed clocks agree. One key per
/// script: cluster-safe.
pub struct RedisThrottleStore {
    conn: RedisConn,
    prefix: String,
}

impl fmt::Debug for RedisThrottleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottleStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Drops the expired entries (oldest at the tail), refuses at `num`,
/// otherwise records now; returns `{allowed, len, oldest, now}`.
const SCRIPT: &str = r"
local key = KEYS[1]
local num = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
while true do
  local last = redis.call('LINDEX', key, -1)
  if not last or tonumber(last) > now - duration then break end
  redis.call('RPOP', key)
end
local len = redis.call('LLEN', key)
local allowed = 0
if len < num then
  redis.call('LPUSH', key, string.format('%.6f', now))
  redis.call('EXPIRE', key, duration)
  len = len + 1
  allowed = 1
end
local oldest = redis.call('LINDEX', key, -1)
return {allowed, len, oldest or '', string.format('%.6f', now)}
";

impl RedisThrottleStore {
    /// A store at `url` (`redis://host:port/db`); the connection is made
    /// on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisThrottleStore {
            conn: RedisConn::new(url, "redis throttle store")?,
            prefix: "restflow:throttle:".into(),
        })
    }

    /// Keys start with `prefix` (default `restflow:throttle:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn cmd(&self, key: &str, rate: Rate) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT)
            .arg(1)
            .arg(format!("{}{key}", self.prefix))
            .arg(rate.num)
            .arg(rate.duration_s);
        cmd
    }
}

fn hit((allowed, len, oldest, now): (i64, u64, String, String)) -> Result<Hit, AuthError> {
    let now = now
        .parse::<f64>()
        .map_err(|_| AuthError::unavailable("redis throttle store: a malformed answer"))?;
    Ok(Hit {
        allowed: allowed == 1,
        len,
        oldest: oldest.parse::<f64>().ok(),
        now,
    })
}

impl ThrottleStore for RedisThrottleStore {
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<Hit, AuthError>> {
        Box::pin(async move { hit(self.conn.run(self.cmd(key, rate)).await?) })
    }

    fn hit_blocking(&self, key: &str, rate: Rate) -> Result<Hit, AuthError> {
        hit(self.conn.run_blocking(self.cmd(key, rate))?)
    }
}
