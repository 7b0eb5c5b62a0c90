//! Sessions in the crate's `restflow_session` table.

use std::fmt;
use std::marker::PhantomData;

use super::{Database, Dialect, sql, unavailable};
use crate::session::SessionData;
use crate::user::StoreResult;

/// A [`SessionStore`](crate::session::SessionStore) in `restflow_session`; expired rows are never read
/// and are removed by `Database::cleanup`. Build it with `Database::sessions`.
pub struct SqlSessions<DB: sqlx::Database> {
    db: Database<DB>,
    load: String,
    save: String,
    delete: String,
    _db: PhantomData<DB>,
}

impl<DB: sqlx::Database> Clone for SqlSessions<DB> {
    fn clone(&self) -> Self {
        SqlSessions {
            db: self.db.clone(),
            load: self.load.clone(),
            save: self.save.clone(),
            delete: self.delete.clone(),
            _db: PhantomData,
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlSessions<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSessions")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl<DB: Dialect> SqlSessions<DB> {
    /// The sessions of `db`.
    pub fn new(db: &Database<DB>) -> Self {
        SqlSessions {
            db: db.clone(),
            load: sql::<DB>(
                "SELECT user_id, auth_hash, expires_at, issued_at FROM restflow_session WHERE session_key = {1} AND expires_at > {2}",
            ),
            save: sql::<DB>(
                "INSERT INTO restflow_session (session_key, user_id, auth_hash, expires_at, issued_at) VALUES ({1}, {2}, {3}, {4}, {5}) \
                 ON CONFLICT (session_key) DO UPDATE SET user_id = excluded.user_id, auth_hash = excluded.auth_hash, \
                 expires_at = excluded.expires_at, issued_at = excluded.issued_at",
            ),
            delete: sql::<DB>("DELETE FROM restflow_session WHERE session_key = {1}"),
            _db: PhantomData,
        }
    }
}

impl<DB: sqlx::Database> SqlSessions<DB> {
    /// The trigger that tells this table's changes.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn watch(&self) -> crate::invalidation::Watch {
        crate::invalidation::Watch::new("restflow_session", "s", "session_key", false)
    }
}

macro_rules! sql_sessions {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl SqlSessions<$db> {
            async fn read(
                &self,
                pool: &sqlx::Pool<$db>,
                key: &str,
            ) -> StoreResult<Option<SessionData>> {
                let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(&self.load)
                    .bind(key)
                    .bind(crate::unix_now())
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| unavailable("sessions", e))?;
                let Some((user_id, auth_hash, expires_at, issued_at)) = row else {
                    return Ok(None);
                };
                let user_id = serde_json::from_str(&user_id).map_err(|e| {
                    crate::AuthError::internal(format!(
                        "sql sessions: a stored user id is not JSON: {e}"
                    ))
                })?;
                Ok(Some(SessionData {
                    user_id,
                    auth_hash,
                    expires_at,
                    issued_at,
                }))
            }

            async fn write(
                &self,
                pool: &sqlx::Pool<$db>,
                key: &str,
                data: &SessionData,
            ) -> StoreResult<()> {
                sqlx::query(&self.save)
                    .bind(key)
                    .bind(data.user_id.to_string())
                    .bind(&data.auth_hash)
                    .bind(data.expires_at)
                    .bind(data.issued_at)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("sessions", e))?;
                self.db.wrote("s", Some(key));
                Ok(())
            }

            async fn remove(&self, pool: &sqlx::Pool<$db>, key: &str) -> StoreResult<()> {
                sqlx::query(&self.delete)
                    .bind(key)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("sessions", e))?;
                self.db.wrote("s", Some(key));
                Ok(())
            }
        }

        sql_session_store!(SqlSessions<$db>, $feature);
    };
}

sql_sessions!(sqlx::Sqlite, "sqlite");
sql_sessions!(sqlx::Postgres, "postgres");
