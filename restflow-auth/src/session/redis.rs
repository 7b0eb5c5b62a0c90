//! Sessions in Redis, shared by every instance of a service.

use std::fmt;

use super::{SessionData, SessionStore};
use crate::redis_conn::RedisConn;
use crate::user::StoreResult;

/// A [`SessionStore`] in Redis: one key per session, `<prefix><key>`,
/// holding the session as JSON and expiring with it (`EXAT`), so ended
/// sessions leave nothing behind; every write publishes the session's key
/// on the invalidation channel in the same `MULTI`/`EXEC`, so that each
/// process may keep live sessions in memory. An unreachable Redis fails closed (503)
/// and the first request after it returns succeeds again.
pub struct RedisSessionStore {
    conn: RedisConn,
    prefix: String,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the prefix is printed.
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    user_id: serde_json::Value,
    auth_hash: String,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at: Option<i64>,
}

impl RedisSessionStore {
    /// Sessions at `url` (`redis://host:port/db`). The URL is checked here;
    /// the connection is made on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisSessionStore {
            conn: RedisConn::new(url, "redis sessions")?,
            prefix: "restflow:session:".into(),
        })
    }

    /// Keys start with `prefix` (default `restflow:session:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn get_cmd(&self, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{key}", self.prefix));
        cmd
    }

    fn set_cmd(&self, key: &str, data: &SessionData) -> redis::Cmd {
        let value = serde_json::to_string(&Stored {
            user_id: data.user_id.clone(),
            auth_hash: data.auth_hash.clone(),
            expires_at: data.expires_at,
            issued_at: data.issued_at,
        })
        .expect("JSON values serialise");
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{key}", self.prefix)).arg(value);
        // A past EXAT deletes the key at once, as an ended session should.
        cmd.arg("EXAT").arg(data.expires_at.max(1));
        cmd
    }

    fn del_cmd(&self, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}{key}", self.prefix));
        cmd
    }

    fn parse(value: Option<String>) -> StoreResult<Option<SessionData>> {
        let Some(value) = value else { return Ok(None) };
        let s: Stored = serde_json::from_str(&value).map_err(|e| {
            crate::AuthError::internal(format!("redis sessions: a stored session is not ours: {e}"))
        })?;
        // Redis expires keys by the second too; this keeps the boundary exact.
        Ok((s.expires_at > crate::unix_now()).then_some(SessionData {
            user_id: s.user_id,
            auth_hash: s.auth_hash,
            expires_at: s.expires_at,
            issued_at: s.issued_at,
        }))
    }
}

impl SessionStore for RedisSessionStore {
    async fn load(&self, key: &str) -> StoreResult<Option<SessionData>> {
        Self::parse(self.conn.run(self.get_cmd(key)).await?)
    }
    async fn save(&self, key: &str, data: &SessionData) -> StoreResult<()> {
        self.conn
            .run_telling::<()>(self.set_cmd(key, data), "s", key)
            .await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.conn
            .run_telling::<()>(self.del_cmd(key), "s", key)
            .await
    }
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        Self::parse(self.conn.run_blocking(self.get_cmd(key))?)
    }
    fn save_blocking(&self, key: &str, data: &SessionData) -> StoreResult<()> {
        self.conn
            .run_telling_blocking::<()>(self.set_cmd(key, data), "s", key)
    }
    fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        self.conn
            .run_telling_blocking::<()>(self.del_cmd(key), "s", key)
    }
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        self.conn.feed()
    }
}
