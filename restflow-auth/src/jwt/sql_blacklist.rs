//! The JWT blacklist in SQL: SQLite (a file; the embedded default) and
//! PostgreSQL, with sqlx. Both keep drf-restflow's `BlacklistedToken`
//! layout: `jti` unique, `expires_at` indexed, `created_at`.
//!
//! The atomic step of rotation is one `INSERT .. ON CONFLICT (jti) DO
//! NOTHING`: of concurrent refreshes of one token exactly one inserts.
//! Pools connect lazily and time out after two seconds, so a database that
//! cannot be reached fails requests closed (503) and serves them again when
//! it returns. Expired rows stay until [`cleanup`](SqliteBlacklist::cleanup)
//! (or the task of `spawn_cleanup`) removes them.
//!
//! The blocking methods use a pool of their own on a private runtime: call
//! them from threads that are not running an async runtime. For SQLite, use
//! a file: an in-memory database is private to each pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::blacklist::Blacklist;
use crate::error::AuthError;
use crate::sql::Database;
use crate::user::StoreResult;

fn unavailable(e: sqlx::Error) -> AuthError {
    AuthError::unavailable(format!("sql blacklist: {e}"))
}

macro_rules! sql_blacklist {
    (
        $(#[$doc:meta])*
        $name:ident, $feature:literal, $db:ty, $options:ty,
        upsert: $upsert:literal,
        insert_new: $insert_new:literal,
        exists: $exists:literal,
        exists_pair: $exists_pair:literal,
        cleanup: $cleanup:literal,
        feed: |$db_:ident| $feed:expr $(,)?
    ) => {
        $(#[$doc])*
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        #[derive(Clone)]
        pub struct $name {
            db: Database<$db>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The options hold a password: not printed.
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl $name {
            /// A blacklist with these connection options; the table is
            /// created by [`migrate`](Self::migrate).
            pub fn with_options(options: $options) -> Self {
                $name { db: Database::with_options(options) }
            }

            /// The blacklist in `db`, sharing its pool (`Database::migrate`
            /// creates its table with the others).
            pub fn from_database(db: &Database<$db>) -> Self {
                $name { db: db.clone() }
            }

            /// Connects to `url` (`Database::connect`: nothing is created;
            /// call [`migrate`](Self::migrate) for the table).
            pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
                Ok($name { db: Database::<$db>::connect(url).await? })
            }

            /// Creates the crate's tables, this one among them, if they are
            /// missing (`Database::migrate`). Idempotent.
            pub async fn migrate(&self) -> Result<(), sqlx::Error> {
                self.db.migrate().await
            }

            /// Deletes rows whose token has expired; returns how many.
            pub async fn cleanup(&self) -> StoreResult<u64> {
                let r = sqlx::query($cleanup).bind(crate::unix_now()).execute(self.db.pool()).await.map_err(unavailable)?;
                Ok(r.rows_affected())
            }

            /// Runs [`cleanup`](Self::cleanup) every `every` on the current runtime.
            pub fn spawn_cleanup(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        if let Err(e) = this.cleanup().await {
                            tracing::warn!(error = %e, "restflow-auth: blacklist cleanup failed");
                        }
                    }
                })
            }

            async fn upsert(pool: &sqlx::Pool<$db>, jti: &str, exp: i64) -> StoreResult<()> {
                sqlx::query($upsert).bind(jti).bind(exp).bind(crate::unix_now()).execute(pool).await.map_err(unavailable)?;
                Ok(())
            }

            /// One query for a token's jti and its family's entry; more
            /// ids one after the other.
            async fn exists_any(pool: &sqlx::Pool<$db>, jtis: &[&str]) -> StoreResult<bool> {
                if let [a, b] = jtis {
                    let row: Option<(i32,)> = sqlx::query_as($exists_pair).bind(*a).bind(*b).bind(crate::unix_now()).fetch_optional(pool).await.map_err(unavailable)?;
                    return Ok(row.is_some());
                }
                for jti in jtis {
                    if Self::exists(pool, jti).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }

            async fn exists(pool: &sqlx::Pool<$db>, jti: &str) -> StoreResult<bool> {
                let row: Option<(i32,)> = sqlx::query_as($exists).bind(jti).bind(crate::unix_now()).fetch_optional(pool).await.map_err(unavailable)?;
                Ok(row.is_some())
            }

            async fn insert_new(pool: &sqlx::Pool<$db>, jti: &str, exp: i64) -> StoreResult<bool> {
                let r = sqlx::query($insert_new).bind(jti).bind(exp).bind(crate::unix_now()).execute(pool).await.map_err(unavailable)?;
                Ok(r.rows_affected() == 1)
            }
        }

        impl Blacklist for $name {
            async fn blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                Self::upsert(self.db.pool(), jti, expires_at).await
            }
            async fn is_blacklisted(&self, jti: &str) -> StoreResult<bool> {
                Self::exists(self.db.pool(), jti).await
            }
            async fn check_and_blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
                Self::insert_new(self.db.pool(), jti, expires_at).await
            }
            fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                self.db.block_on(|pool| Self::upsert(pool, jti, expires_at))
            }
            fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
                self.db.block_on(|pool| Self::exists(pool, jti))
            }
            async fn any_blacklisted(&self, jtis: &[&str]) -> StoreResult<bool> {
                Self::exists_any(self.db.pool(), jtis).await
            }
            fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
                self.db.block_on(|pool| Self::exists_any(pool, jtis))
            }
            fn check_and_blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
                self.db.block_on(|pool| Self::insert_new(pool, jti, expires_at))
            }
            fn feed(&self) -> Option<crate::invalidation::Feed> {
                let $db_ = &self.db;
                $feed
            }
        }
    };
}

#[cfg(feature = "sqlite")]
sql_blacklist! {
    /// The JWT blacklist in SQLite (`sqlite://path/to/file.db?mode=rwc`).
    SqliteBlacklist, "sqlite", sqlx::Sqlite, sqlx::sqlite::SqliteConnectOptions,
    upsert: "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
    insert_new: "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (jti) DO NOTHING",
    exists: "SELECT 1 FROM restflow_blacklisted_token WHERE jti = ?1 AND expires_at > ?2",
    exists_pair: "SELECT 1 FROM restflow_blacklisted_token WHERE jti IN (?1, ?2) AND expires_at > ?3 LIMIT 1",
    cleanup: "DELETE FROM restflow_blacklisted_token WHERE expires_at <= ?1",
    feed: |db| db.feed(crate::invalidation::Watch::new("restflow_blacklisted_token", "b", "jti", false)),
}

#[cfg(feature = "postgres")]
sql_blacklist! {
    /// The JWT blacklist in PostgreSQL (`postgres://user@host/db`).
    PostgresBlacklist, "postgres", sqlx::Postgres, sqlx::postgres::PgConnectOptions,
    upsert: "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(restflow_blacklisted_token.expires_at, excluded.expires_at)",
    insert_new: "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
    exists: "SELECT 1 FROM restflow_blacklisted_token WHERE jti = $1 AND expires_at > $2",
    exists_pair: "SELECT 1 FROM restflow_blacklisted_token WHERE jti IN ($1, $2) AND expires_at > $3 LIMIT 1",
    cleanup: "DELETE FROM restflow_blacklisted_token WHERE expires_at <= $1",
    feed: |db| db.feed(crate::invalidation::Watch::new("restflow_blacklisted_token", "b", "jti", false)),
}
