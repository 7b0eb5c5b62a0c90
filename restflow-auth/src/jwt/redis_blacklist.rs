//! The JWT blacklist in Redis, shared by every instance of a service.
//!
//! Each entry is one key, `<prefix><jti>`, that expires with the token
//! (`EXAT`), so Redis drops it by itself. The atomic step of rotation is a
//! single `SET key 1 NX EXAT exp`: of concurrent refreshes of one token,
//! exactly one sees `OK`.
//!
//! Connections are made on first use and remade after a failure; while
//! Redis cannot be reached every call fails with a 503 (fail closed: a
//! revoked token is never accepted because its state could not be read),
//! and the first call after Redis returns succeeds again.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::blacklist::Blacklist;
use crate::error::AuthError;
use crate::user::StoreResult;

/// How long one Redis call may take before the request fails closed.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis-backed [`Blacklist`].
pub struct RedisBlacklist {
    client: redis::Client,
    prefix: String,
    manager: std::sync::RwLock<Option<ConnectionManager>>,
    blocking: Mutex<Option<redis::Connection>>,
}

impl fmt::Debug for RedisBlacklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the prefix is printed.
        f.debug_struct("RedisBlacklist")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> AuthError {
    AuthError::unavailable(format!("redis blacklist: {e}"))
}

impl RedisBlacklist {
    /// A blacklist at `url` (`redis://host:port/db`). The URL is checked
    /// here; the connection is made on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisBlacklist {
            client: redis::Client::open(url)?,
            prefix: "restflow:jwt:bl:".into(),
            manager: std::sync::RwLock::new(None),
            blocking: Mutex::new(None),
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

    fn manager(&self) -> Option<ConnectionManager> {
        self.manager
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_manager(&self, m: Option<ConnectionManager>) {
        *self
            .manager
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = m;
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
        // The manager multiplexes one connection: cloning it is cheap.
        let mut conn = match self.manager() {
            Some(m) => m,
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1);
                let m = self
                    .client
                    .get_connection_manager_with_config(config)
                    .await
                    .map_err(unavailable)?;
                self.set_manager(Some(m.clone()));
                m
            }
        };
        match cmd.query_async::<T>(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                // Start afresh next time: a dead manager would keep failing.
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                {
                    self.set_manager(None);
                }
                Err(unavailable(e))
            }
        }
    }

    fn run_blocking<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
        let mut guard = self
            .blocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .map_err(unavailable)?;
            conn.set_read_timeout(Some(TIMEOUT)).map_err(unavailable)?;
            conn.set_write_timeout(Some(TIMEOUT)).map_err(unavailable)?;
            *guard = Some(conn);
        }
        let result = cmd.query::<T>(guard.as_mut().expect("set above"));
        if result.is_err() {
            *guard = None;
        }
        result.map_err(unavailable)
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
}

impl Blacklist for RedisBlacklist {
    async fn blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.run::<()>(self.set_cmd(jti, expires_at, false)).await
    }
    async fn is_blacklisted(&self, jti: &str) -> StoreResult<bool> {
        self.run::<bool>(self.exists_cmd(jti)).await
    }
    async fn check_and_blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(self
            .run::<Option<String>>(self.set_cmd(jti, expires_at, true))
            .await?
            .is_some())
    }
    fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.run_blocking::<()>(self.set_cmd(jti, expires_at, false))
    }
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
        self.run_blocking::<bool>(self.exists_cmd(jti))
    }
    fn check_and_blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(self
            .run_blocking::<Option<String>>(self.set_cmd(jti, expires_at, true))?
            .is_some())
    }
}
