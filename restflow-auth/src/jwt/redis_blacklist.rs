//! The JWT blacklist in Redis, shared by every instance of a service.
//!
//! Each entry is one key, `<prefix><jti>`, that expires with the token
//! (`EXAT`), so Redis drops it by itself. The atomic step of rotation is a
//! single `SET key 1 NX EXAT exp`: of concurrent refreshes of one token,
//! exactly one sees `OK`.
//!
//! Every write publishes the jti on the invalidation channel in the same
//! `MULTI`/`EXEC`, so that each process may keep the answers in memory
//! ([`invalidation`](crate::invalidation)).
//!
//! Connections are made on first use and remade after a failure; while
//! Redis cannot be reached every call fails with a 503 (fail closed: a
//! revoked token is never accepted because its state could not be read),
//! and the first call after Redis returns succeeds again.

use std::fmt;

use super::blacklist::Blacklist;
use crate::redis_conn::RedisConn;
use crate::user::StoreResult;

/// A Redis-backed [`Blacklist`].
pub struct RedisBlacklist {
    conn: RedisConn,
    prefix: String,
}

impl fmt::Debug for RedisBlacklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the prefix is printed.
        f.debug_struct("RedisBlacklist")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBlacklist {
    /// A blacklist at `url` (`redis://host:port/db`). The URL is checked
    /// here; the connection is made on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisBlacklist {
            conn: RedisConn::new(url, "redis blacklist")?,
            prefix: "restflow:jwt:bl:".into(),
        })
    }

    /// Keys start with `prefix` (default `restflow:jwt:bl:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, jti: &str) -> String {
        format!("{}{jti}", self.prefix)
    }

    fn set_cmd(&self, jti: &str, expires_at: i64, only_new: bool) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(jti)).arg(1);
        if only_new {
            cmd.arg("NX");
        }
        // An absolute expiry at least one second away (a past EXAT deletes).
        cmd.arg("EXAT").arg(expires_at.max(crate::unix_now() + 1));
        cmd
    }

    fn exists_cmd(&self, jti: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.key(jti));
        cmd
    }

    /// `EXISTS` of several keys answers how many exist.
    fn exists_any_cmd(&self, jtis: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd("EXISTS");
        for jti in jtis {
            cmd.arg(self.key(jti));
        }
        cmd
    }
}

impl Blacklist for RedisBlacklist {
    async fn blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.conn
            .run_telling::<()>(self.set_cmd(jti, expires_at, false), "b", jti)
            .await
    }
    async fn is_blacklisted(&self, jti: &str) -> StoreResult<bool> {
        self.conn.run::<bool>(self.exists_cmd(jti)).await
    }
    async fn check_and_blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(self
            .conn
            .run_telling::<Option<String>>(self.set_cmd(jti, expires_at, true), "b", jti)
            .await?
            .is_some())
    }
    fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.conn
            .run_telling_blocking::<()>(self.set_cmd(jti, expires_at, false), "b", jti)
    }
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
        self.conn.run_blocking::<bool>(self.exists_cmd(jti))
    }
    async fn any_blacklisted(&self, jtis: &[&str]) -> StoreResult<bool> {
        if jtis.is_empty() {
            return Ok(false);
        }
        Ok(self.conn.run::<u64>(self.exists_any_cmd(jtis)).await? > 0)
    }
    fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
        if jtis.is_empty() {
            return Ok(false);
        }
        Ok(self.conn.run_blocking::<u64>(self.exists_any_cmd(jtis))? > 0)
    }
    fn check_and_blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(self
            .conn
            .run_telling_blocking::<Option<String>>(self.set_cmd(jti, expires_at, true), "b", jti)?
            .is_some())
    }
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        self.conn.feed()
    }
}
