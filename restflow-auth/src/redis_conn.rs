//! The Redis connection every Redis store shares the handling of: one
//! multiplexed connection (redis' `ConnectionManager`) for the async path,
//! one plain connection for the blocking path, both made on first use and
//! remade after a failure. While Redis cannot be reached every call fails
//! with a 503 (fail closed), and the first call after it returns succeeds.

use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::AuthError;
use crate::user::StoreResult;

/// How long one Redis call may take before the request fails closed.
const TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct RedisConn {
    client: redis::Client,
    /// Names the store in errors ("redis blacklist").
    what: &'static str,
    manager: RwLock<Option<ConnectionManager>>,
    blocking: Mutex<Option<redis::Connection>>,
    /// Which Redis (a digest of its URL), for the stores on it to share
    /// one invalidation feed.
    identity: usize,
    /// The invalidation hubs this Redis's writes tell at once.
    local: std::sync::Arc<crate::invalidation::Local>,
}

impl RedisConn {
    pub(crate) fn new(url: &str, what: &'static str) -> Result<Self, redis::RedisError> {
        Ok(RedisConn {
            client: redis::Client::open(url)?,
            what,
            identity: {
                use std::hash::{BuildHasher, Hasher};
                // Fixed keys: one process's stores on one URL agree.
                let mut h = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default()
                    .build_hasher();
                h.write(b"redis:");
                h.write(url.as_bytes());
                h.finish() as usize
            },
            local: std::sync::Arc::default(),
            manager: RwLock::new(None),
            blocking: Mutex::new(None),
        })
    }

    fn unavailable(&self, e: redis::RedisError) -> AuthError {
        AuthError::unavailable(format!("{}: {e}", self.what))
    }

    fn manager(&self) -> Option<ConnectionManager> {
        self.manager
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_manager(&self, m: Option<ConnectionManager>) {
        *self.manager.write().unwrap_or_else(PoisonError::into_inner) = m;
    }

    /// `cmd`, and in the same `MULTI`/`EXEC` the message `<kind>:<key>` on
    /// the invalidation channel (the other processes' caches of this
    /// Redis hear of the write with it).
    pub(crate) fn telling(cmd: redis::Cmd, kind: &str, key: &str) -> redis::Pipeline {
        let mut p = redis::pipe();
        p.atomic().add_command(cmd);
        p.cmd("PUBLISH")
            .arg(crate::invalidation::REDIS_CHANNEL)
            .arg(format!("{kind}:{key}"))
            .ignore();
        p
    }

    /// The feed of the stores on this Redis (its URL names it).
    pub(crate) fn feed(&self) -> Option<crate::invalidation::Feed> {
        Some(crate::invalidation::Feed::redis(
            self.client.clone(),
            self.identity,
            std::sync::Arc::clone(&self.local),
        ))
    }

    /// This process wrote `key` of `kind`: its caches forget it at once.
    pub(crate) fn wrote(&self, kind: &str, key: &str) {
        self.local.wrote(kind, Some(key));
    }

    /// A pipeline [`telling`](Self::telling) of a write; its one result is
    /// the write's.
    pub(crate) async fn run_telling<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
        kind: &str,
        key: &str,
    ) -> StoreResult<T> {
        let mut conn = self.connection().await?;
        let r = Self::telling(cmd, kind, key)
            .query_async::<(T,)>(&mut conn)
            .await;
        self.wrote(kind, key);
        self.answer(r.map(|(t,)| t))
    }

    /// Blocking twin of [`run_telling`](Self::run_telling).
    pub(crate) fn run_telling_blocking<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
        kind: &str,
        key: &str,
    ) -> StoreResult<T> {
        let mut guard = self.blocking_connection()?;
        let result = Self::telling(cmd, kind, key).query::<(T,)>(guard.as_mut().expect("set"));
        if result.is_err() {
            *guard = None;
        }
        self.wrote(kind, key);
        result.map(|(t,)| t).map_err(|e| self.unavailable(e))
    }

    async fn connection(&self) -> StoreResult<ConnectionManager> {
        // The manager multiplexes one connection: cloning it is cheap.
        Ok(match self.manager() {
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
                    .map_err(|e| self.unavailable(e))?;
                self.set_manager(Some(m.clone()));
                m
            }
        })
    }

    pub(crate) async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
        let mut conn = self.connection().await?;
        let r = cmd.query_async::<T>(&mut conn).await;
        self.answer(r)
    }

    fn answer<T>(&self, r: redis::RedisResult<T>) -> StoreResult<T> {
        match r {
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
                Err(self.unavailable(e))
            }
        }
    }

    fn blocking_connection(
        &self,
    ) -> StoreResult<std::sync::MutexGuard<'_, Option<redis::Connection>>> {
        let mut guard = self.blocking.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .map_err(|e| self.unavailable(e))?;
            conn.set_read_timeout(Some(TIMEOUT))
                .map_err(|e| self.unavailable(e))?;
            conn.set_write_timeout(Some(TIMEOUT))
                .map_err(|e| self.unavailable(e))?;
            *guard = Some(conn);
        }
        Ok(guard)
    }

    pub(crate) fn run_blocking<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
        let mut guard = self.blocking_connection()?;
        let result = cmd.query::<T>(guard.as_mut().expect("set above"));
        if result.is_err() {
            *guard = None;
        }
        result.map_err(|e| self.unavailable(e))
    }
}
