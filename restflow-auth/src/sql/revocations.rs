//! The per-user revocation times (logout everywhere) in the crate's
//! `restflow_user_revocation` table.

use std::fmt;

use super::{Database, Dialect, sql, unavailable};
use crate::user::StoreResult;

/// A [`RevocationStore`](crate::revocation::RevocationStore) in
/// `restflow_user_revocation`: one row per user, the later time winning in
/// one `INSERT .. ON CONFLICT`; rows past their `expires_at` are never read
/// and are removed by `Database::cleanup`. Build it with `Database::revocations`.
pub struct SqlRevocations<DB: sqlx::Database> {
    db: Database<DB>,
    load: String,
    save: String,
}

impl<DB: sqlx::Database> Clone for SqlRevocations<DB> {
    fn clone(&self) -> Self {
        SqlRevocations {
            db: self.db.clone(),
            load: self.load.clone(),
            save: self.save.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlRevocations<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlRevocations")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl<DB: Dialect> SqlRevocations<DB> {
    /// The revocation times of `db`.
    pub fn new(db: &Database<DB>) -> Self {
        SqlRevocations {
            db: db.clone(),
            load: sql::<DB>(
                "SELECT valid_after FROM restflow_user_revocation WHERE user_key = {1} AND expires_at > {2}",
            ),
            save: sql::<DB>(
                "INSERT INTO restflow_user_revocation (user_key, valid_after, expires_at) VALUES ({1}, {2}, {3}) \
                 ON CONFLICT (user_key) DO UPDATE SET \
                 valid_after = CASE WHEN excluded.valid_after > restflow_user_revocation.valid_after \
                     THEN excluded.valid_after ELSE restflow_user_revocation.valid_after END, \
                 expires_at = CASE WHEN excluded.expires_at > restflow_user_revocation.expires_at \
                     THEN excluded.expires_at ELSE restflow_user_revocation.expires_at END",
            ),
        }
    }
}

macro_rules! sql_revocations {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl SqlRevocations<$db> {
            async fn read(&self, pool: &sqlx::Pool<$db>, user: &str) -> StoreResult<Option<i64>> {
                let row: Option<(i64,)> = sqlx::query_as(&self.load)
                    .bind(user)
                    .bind(crate::unix_now())
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| unavailable("revocations", e))?;
                Ok(row.map(|(at,)| at))
            }

            async fn write(
                &self,
                pool: &sqlx::Pool<$db>,
                user: &str,
                at: i64,
                keep: i64,
            ) -> StoreResult<()> {
                sqlx::query(&self.save)
                    .bind(user)
                    .bind(at)
                    .bind(keep)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("revocations", e))?;
                self.db.wrote("r", Some(user));
                Ok(())
            }
        }

        #[cfg(feature = $feature)]
        impl crate::revocation::RevocationStore for SqlRevocations<$db> {
            async fn valid_after(&self, user: &str) -> StoreResult<Option<i64>> {
                self.read(self.db.pool(), user).await
            }
            async fn revoke(
                &self,
                user: &str,
                valid_after: i64,
                keep_until: i64,
            ) -> StoreResult<()> {
                self.write(self.db.pool(), user, valid_after, keep_until)
                    .await
            }
            fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>> {
                self.db.block_on(|pool| self.read(pool, user))
            }
            fn revoke_blocking(
                &self,
                user: &str,
                valid_after: i64,
                keep_until: i64,
            ) -> StoreResult<()> {
                self.db
                    .block_on(|pool| self.write(pool, user, valid_after, keep_until))
            }
            fn feed(&self) -> Option<crate::invalidation::Feed> {
                self.db.feed(crate::invalidation::Watch::new(
                    "restflow_user_revocation",
                    "r",
                    "user_key",
                    false,
                ))
            }
        }
    };
}

sql_revocations!(sqlx::Sqlite, "sqlite");
sql_revocations!(sqlx::Postgres, "postgres");
