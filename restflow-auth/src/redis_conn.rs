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
}

impl RedisConn {
    pub(crate) fn new(url: &str, what: &'static str) -> Result<Self, redis::RedisError> {
        Ok(RedisConn {
            client: redis::Client::open(url)?,
            what,
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

    pub(crate) async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
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
                    .map_err(|e| self.unavailable(e))?;
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
                Err(self.unavailable(e))
            }
        }
    }

    pub(crate) fn run_blocking<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
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
        let result = cmd.query::<T>(guard.as_mut().expect("set above"));
        if result.is_err() {
            *guard = None;
        }
        result.map_err(|e| self.unavailable(e))
    }
}
