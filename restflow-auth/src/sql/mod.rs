//! Stores in SQL with sqlx: SQLite (a file or memory; the embedded default)
//! and PostgreSQL, for users, API tokens, sessions and the JWT blacklist.
//!
//! One [`Database`] (a pool) serves every store; `connect` creates
//! nothing, and [`Database::migrate`] creates the crate's tables in one
//! call when the application asks (the statements ship with the crate, in
//! `migrations/`, and are idempotent). Tables the application
//! already owns, such as Django's `auth_user` and DRF's `authtoken_token`,
//! are read where they are through a mapping ([`UserTable`],
//! [`TokenTable`]) and never created or altered here.
//!
//! ```
//! # #[derive(Clone, Debug)] struct User { id: i64, username: String, password: String, active: bool, staff: bool }
//! # impl restflow_auth::AuthUser for User {
//! #     type Id = i64;
//! #     fn id(&self) -> &i64 { &self.id }
//! #     fn username(&self) -> &str { &self.username }
//! #     fn password_hash(&self) -> &str { &self.password }
//! #     fn is_active(&self) -> bool { self.active }
//! #     fn is_staff(&self) -> bool { self.staff }
//! # }
//! use restflow_auth::UserStore;
//! use restflow_auth::sql::{SqliteDatabase, TokenTable, UserRecord, UserTable};
//! use restflow_auth::token::TokenStore;
//!
//! impl From<UserRecord<i64>> for User {
//!     fn from(r: UserRecord<i64>) -> Self {
//!         User { id: r.id, username: r.username, password: r.password, active: r.is_active, staff: r.is_staff }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let path = std::env::temp_dir().join(format!("restflow-doc-{}.db", std::process::id()));
//! # let url = format!("sqlite://{}", path.display());
//! let db = SqliteDatabase::connect(&url).await?; // the file is created; nothing in it
//! db.migrate().await?;                          // the crate's tables
//! let users = db.users::<User>(UserTable::restflow())?; // or UserTable::django()
//! let alice = users.insert("alice", "!", true, false).await?;
//! assert_eq!(users.find_by_username("alice").await?.map(|u| u.id), Some(alice.id));
//!
//! let tokens = db.tokens::<i64>(TokenTable::restflow())?; // or TokenTable::drf()
//! let key = tokens.issue(&alice.id).await?;
//! assert_eq!(tokens.user_for(&key).await?, Some(alice.id));
//! let _sessions = db.sessions();
//! # drop(db); for s in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{s}", path.display())); }
//! # Ok(()) }
//! ```
//!
//! Every pool connects lazily and waits at most two seconds for a
//! connection, so a database that cannot be reached fails requests closed
//! (503) and serves them again as soon as it returns, with no restart.
//!
//! The blocking methods run on a pool of their own, driven by a private
//! runtime: call them from threads that are not inside an async runtime
//! (a synchronous server, a CLI). For SQLite, use a file when both paths
//! are used: an in-memory database is private to each pool.

/// [`SessionStore`](crate::session::SessionStore) for a SQL session store
/// whose inherent `read`, `write` and `remove` take a pool: the async
/// methods on the store's pool, the blocking ones through
/// [`Database::block_on`]; any further trait methods after the feature.
macro_rules! sql_session_store {
    ($store:ty, $feature:literal $(, $extra:item)*) => {
        #[cfg(feature = $feature)]
        impl crate::session::SessionStore for $store {
            async fn load(&self, key: &str) -> StoreResult<Option<SessionData>> {
                self.read(self.db.pool(), key).await
            }
            async fn save(&self, key: &str, data: &SessionData) -> StoreResult<()> {
                self.write(self.db.pool(), key, data).await
            }
            async fn delete(&self, key: &str) -> StoreResult<()> {
                self.remove(self.db.pool(), key).await
            }
            fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
                self.db.block_on(|pool| self.read(pool, key))
            }
            fn save_blocking(&self, key: &str, data: &SessionData) -> StoreResult<()> {
                self.db.block_on(|pool| self.write(pool, key, data))
            }
            fn delete_blocking(&self, key: &str) -> StoreResult<()> {
                self.db.block_on(|pool| self.remove(pool, key))
            }
            fn feed(&self) -> Option<crate::invalidation::Feed> {
                self.db.feed(self.watch())
            }
            $($extra)*
        }
    };
}

#[cfg(feature = "django")]
mod django_sessions;
mod revocations;
mod sessions;
#[cfg(feature = "django")]
mod simplejwt_blacklist;
mod tokens;
mod users;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[cfg(feature = "django")]
#[cfg_attr(docsrs, doc(cfg(feature = "django")))]
pub use self::django_sessions::DjangoSessions;
pub use self::revocations::SqlRevocations;
pub use self::sessions::SqlSessions;
#[cfg(feature = "django")]
#[cfg_attr(docsrs, doc(cfg(feature = "django")))]
pub use self::simplejwt_blacklist::SimpleJwtBlacklist;
#[cfg(feature = "postgres")]
pub use self::tokens::PostgresTokens;
#[cfg(feature = "sqlite")]
pub use self::tokens::SqliteTokens;
pub use self::tokens::{SqlTokens, TokenTable};
#[cfg(feature = "postgres")]
pub use self::users::PostgresUsers;
#[cfg(feature = "sqlite")]
pub use self::users::SqliteUsers;
pub use self::users::{SqlId, SqlUsers, UserTable};
use crate::error::AuthError;
use crate::user::StoreResult;
pub use crate::user::UserRecord;

/// How long a request waits for a connection before it fails closed.
const TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn unavailable(what: &str, e: sqlx::Error) -> AuthError {
    AuthError::unavailable(format!("sql {what}: {e}"))
}

/// The runtime of the blocking methods. Dropping it never blocks, so a
/// store may be dropped anywhere, inside an async runtime included.
struct PrivateRuntime(Option<tokio::runtime::Runtime>);

impl PrivateRuntime {
    fn new() -> Result<Self, AuthError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| PrivateRuntime(Some(rt)))
            .map_err(|e| AuthError::internal(format!("blocking runtime: {e}")))
    }

    fn get(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("present until drop")
    }
}

impl Drop for PrivateRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

type Options<DB> = <<DB as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// A connection pool shared by the SQL stores (cloning shares it).
/// [`SqliteDatabase`] and [`PostgresDatabase`] are the two kinds.
pub struct Database<DB: sqlx::Database> {
    inner: Arc<Inner<DB>>,
}

struct Inner<DB: sqlx::Database> {
    options: Options<DB>,
    pool: sqlx::Pool<DB>,
    blocking: OnceLock<Result<(PrivateRuntime, sqlx::Pool<DB>), String>>,
    /// The invalidation hubs this database's writes tell at once.
    local: Arc<crate::invalidation::Local>,
}

/// A SQLite database (`sqlite://path/to/file.db`, `sqlite::memory:`).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteDatabase = Database<sqlx::Sqlite>;

/// A PostgreSQL database (`postgres://user@host/db`).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresDatabase = Database<sqlx::Postgres>;

impl<DB: sqlx::Database> Clone for Database<DB> {
    fn clone(&self) -> Self {
        Database {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for Database<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The options hold a password: not printed.
        f.debug_struct("Database")
            .field("driver", &DB::NAME)
            .finish_non_exhaustive()
    }
}

impl<DB: sqlx::Database> Database<DB> {
    fn pool_for(options: &Options<DB>) -> sqlx::Pool<DB> {
        sqlx::pool::PoolOptions::<DB>::new()
            .acquire_timeout(TIMEOUT)
            .max_connections(8)
            .connect_lazy_with(options.clone())
    }

    /// A database with these connection options. Nothing connects until
    /// the first query; the tables are created by `migrate`.
    pub fn with_options(options: Options<DB>) -> Self {
        let pool = Self::pool_for(&options);
        Database {
            inner: Arc::new(Inner {
                options,
                pool,
                blocking: OnceLock::new(),
                local: Arc::default(),
            }),
        }
    }

    /// The async pool, for the application's own queries.
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.inner.pool
    }

    /// The connection options (for a feed's connection of its own).
    pub(crate) fn options(&self) -> &Options<DB> {
        &self.inner.options
    }

    /// Which database this is, for the stores on it to share one feed.
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner).cast::<()>() as usize
    }

    /// This database committed a change to `key` of kind `kind` (`None`:
    /// every key of it): its invalidation caches forget it at once.
    pub(crate) fn wrote(&self, kind: &str, key: Option<&str>) {
        self.inner.local.wrote(kind, key);
    }

    /// Runs `f` on the blocking pool and its private runtime.
    pub(crate) fn block_on<'a, T, F>(
        &'a self,
        f: impl FnOnce(&'a sqlx::Pool<DB>) -> F,
    ) -> StoreResult<T>
    where
        F: std::future::Future<Output = StoreResult<T>> + 'a,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking inside a runtime would panic (or stall its worker).
            return Err(AuthError::internal(
                "a blocking SQL store method was called inside an async runtime: call the async method, or run the blocking path on a thread of its own",
            ));
        }
        let (rt, pool) = self
            .inner
            .blocking
            .get_or_init(|| {
                let rt = PrivateRuntime::new().map_err(|e| e.to_string())?;
                let pool = {
                    let _guard = rt.get().enter();
                    Self::pool_for(&self.inner.options)
                };
                Ok((rt, pool))
            })
            .as_ref()
            .map_err(|e| AuthError::internal(e.clone()))?;
        rt.get().block_on(f(pool))
    }
}

#[cfg(feature = "sqlite")]
impl Database<sqlx::Sqlite> {
    /// The feed of a store on this database: `PRAGMA data_version` (none
    /// for an in-memory database).
    pub(crate) fn feed(
        &self,
        watch: crate::invalidation::Watch,
    ) -> Option<crate::invalidation::Feed> {
        let _ = watch;
        crate::invalidation::Feed::sqlite(
            self.options().clone(),
            self.identity(),
            Arc::clone(&self.inner.local),
        )
    }
}

#[cfg(feature = "postgres")]
impl Database<sqlx::Postgres> {
    /// The feed of a store on this database: its notifications, once the
    /// store's table has the trigger of `watch`.
    pub(crate) fn feed(
        &self,
        watch: crate::invalidation::Watch,
    ) -> Option<crate::invalidation::Feed> {
        Some(crate::invalidation::Feed::postgres(
            self.options().clone(),
            self.identity(),
            Arc::clone(&self.inner.local),
            watch,
        ))
    }
}

/// Checks a table or column name: letters, digits and `_`, optionally
/// `schema.name`; returns it quoted for SQL.
pub(crate) fn ident(name: &str) -> Result<String, ConfigError> {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.as_bytes()[0].is_ascii_digit()
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if name.split('.').count() <= 2 && name.split('.').all(ok) {
        Ok(name
            .split('.')
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join("."))
    } else {
        Err(ConfigError(format!(
            "`{name}` is not a plain SQL name: use letters, digits and `_` (and one `.` for a schema)"
        )))
    }
}

/// A table mapping that cannot be used: says which name and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("restflow-auth sql mapping: {0}")]
pub struct ConfigError(String);

mod sealed {
    pub trait Sealed {}
}

/// The databases the SQL stores support, SQLite and PostgreSQL, and what
/// differs between their dialects. Sealed.
pub trait Dialect: sqlx::Database + sealed::Sealed {
    /// Placeholder `n` (1-based).
    #[doc(hidden)]
    fn param(n: usize) -> String;
    /// The migrations, statements separated by `;`.
    #[doc(hidden)]
    const MIGRATIONS: &'static str;
    /// A datetime column `col` as seconds since the epoch (`BIGINT`).
    #[doc(hidden)]
    fn epoch(col: &str) -> String;
    /// Placeholder `p` (seconds since the epoch) as the datetime Django stores.
    #[doc(hidden)]
    fn from_epoch(p: &str) -> String;
    /// The current time as the datetime Django stores.
    #[doc(hidden)]
    fn now() -> String;
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for sqlx::Sqlite {}
#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::Postgres {}

#[cfg(feature = "sqlite")]
impl Dialect for sqlx::Sqlite {
    fn param(n: usize) -> String {
        format!("?{n}")
    }

    const MIGRATIONS: &'static str = include_str!("../../migrations/sqlite.sql");

    fn epoch(col: &str) -> String {
        format!("CAST(strftime('%s', {col}) AS INTEGER)")
    }

    /// Django keeps SQLite datetimes as UTC text, `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    fn from_epoch(p: &str) -> String {
        format!("strftime('%Y-%m-%d %H:%M:%S', {p}, 'unixepoch')")
    }

    fn now() -> String {
        "strftime('%Y-%m-%d %H:%M:%f', 'now')".into()
    }
}

#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    fn param(n: usize) -> String {
        format!("${n}")
    }

    const MIGRATIONS: &'static str = include_str!("../../migrations/postgres.sql");

    fn epoch(col: &str) -> String {
        format!("CAST(EXTRACT(EPOCH FROM {col}) AS BIGINT)")
    }

    fn from_epoch(p: &str) -> String {
        format!("to_timestamp({p})")
    }

    fn now() -> String {
        "now()".into()
    }
}

/// The statements of a migration script: split at `;`, except inside a
/// `$$`-quoted body (a PL/pgSQL function).
fn statements(script: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = script.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$$") {
            quoted = !quoted;
            i += 2;
            continue;
        }
        if bytes[i] == b';' && !quoted {
            out.push(script[start..i].trim());
            start = i + 1;
        }
        i += 1;
    }
    out.push(script[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Expands `{1}`, `{2}`, ... in `sql` to the dialect's placeholders.
pub(crate) fn sql<DB: Dialect>(template: &str) -> String {
    let mut out = template.to_owned();
    for n in (1..=9).rev() {
        out = out.replace(&format!("{{{n}}}"), &DB::param(n));
    }
    out
}

macro_rules! database {
    ($db:ty, $feature:literal, $prepare:expr) => {
        #[cfg(feature = $feature)]
        impl Database<$db> {
            /// Opens the database at `url` (a SQLite file is created if it
            /// is missing). Nothing in the database is created or changed:
            /// the crate's tables appear when the application calls
            /// [`migrate`](Self::migrate), and a service on Django's tables
            /// needs none of them.
            pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
                let options: Options<$db> = url.parse()?;
                let options = ($prepare)(options);
                Ok(Self::with_options(options))
            }

            /// Creates the crate's tables and indexes if they are missing:
            /// `restflow_user`, `restflow_token`, `restflow_session` and
            /// `restflow_blacklisted_token`. Idempotent.
            pub async fn migrate(&self) -> Result<(), sqlx::Error> {
                let mut tx = self.pool().begin().await?;
                let script: String = <$db as Dialect>::MIGRATIONS
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for statement in statements(&script) {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                // Columns added since a table was first made (outside the
                // transaction: a failed probe would abort it on PostgreSQL).
                for (table, column, kind) in [("restflow_session", "issued_at", "BIGINT")] {
                    let probe = format!("SELECT {column} FROM {table} LIMIT 0");
                    if sqlx::query(&probe).execute(self.pool()).await.is_err() {
                        let add = format!("ALTER TABLE {table} ADD COLUMN {column} {kind}");
                        if let Err(e) = sqlx::query(&add).execute(self.pool()).await {
                            // Another instance may have added it meanwhile.
                            sqlx::query(&probe).execute(self.pool()).await.map_err(|_| e)?;
                        }
                    }
                }
                Ok(())
            }

            /// Deletes expired sessions and expired blacklist entries from
            /// the crate's tables; returns how many rows went.
            pub async fn cleanup(&self) -> StoreResult<u64> {
                let now = crate::unix_now();
                let mut n = 0;
                for table in ["restflow_session", "restflow_blacklisted_token", "restflow_user_revocation"] {
                    let q = sql::<$db>(&format!("DELETE FROM {table} WHERE expires_at <= {{1}}"));
                    n += sqlx::query(&q)
                        .bind(now)
                        .execute(self.pool())
                        .await
                        .map_err(|e| unavailable("cleanup", e))?
                        .rows_affected();
                }
                Ok(n)
            }

            /// What Django's `clearsessions` deletes: the rows of
            /// `django_session` whose `expire_date` has passed; returns how
            /// many went.
            #[cfg(feature = "django")]
            #[cfg_attr(docsrs, doc(cfg(feature = "django")))]
            pub async fn django_clear_sessions(&self) -> StoreResult<u64> {
                let q = sql::<$db>(&format!(
                    "DELETE FROM django_session WHERE {} < {{1}}",
                    <$db as Dialect>::epoch("expire_date")
                ));
                Ok(sqlx::query(&q)
                    .bind(crate::unix_now())
                    .execute(self.pool())
                    .await
                    .map_err(|e| unavailable("django clearsessions", e))?
                    .rows_affected())
            }

            /// What simplejwt's `flushexpiredtokens` deletes: the outstanding
            /// tokens past their expiry, with their blacklist rows (Django
            /// cascades in the ORM, not in the database); one transaction;
            /// returns how many outstanding tokens went.
            #[cfg(feature = "django")]
            #[cfg_attr(docsrs, doc(cfg(feature = "django")))]
            pub async fn simplejwt_flush_expired(&self) -> StoreResult<u64> {
                let expired = format!(
                    "SELECT id FROM token_blacklist_outstandingtoken WHERE {} <= {{1}}",
                    <$db as Dialect>::epoch("expires_at")
                );
                let blacklisted = sql::<$db>(&format!(
                    "DELETE FROM token_blacklist_blacklistedtoken WHERE token_id IN ({expired})"
                ));
                let outstanding = sql::<$db>(&format!(
                    "DELETE FROM token_blacklist_outstandingtoken WHERE {} <= {{1}}",
                    <$db as Dialect>::epoch("expires_at")
                ));
                let fail = |e| unavailable("simplejwt flushexpiredtokens", e);
                let now = crate::unix_now();
                let mut tx = self.pool().begin().await.map_err(fail)?;
                sqlx::query(&blacklisted).bind(now).execute(&mut *tx).await.map_err(fail)?;
                let n = sqlx::query(&outstanding)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?
                    .rows_affected();
                tx.commit().await.map_err(fail)?;
                Ok(n)
            }

            /// Runs [`cleanup`](Self::cleanup) every `every` on the current
            /// runtime; a failure is logged and retried next time.
            pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
                let this = self.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        if let Err(e) = this.cleanup().await {
                            tracing::warn!(error = %e, cause = e.cause().unwrap_or(""), "restflow-auth: sql cleanup failed");
                        }
                    }
                })
            }

            /// The users of `table`, read as `U`.
            pub fn users<U>(&self, table: UserTable) -> Result<SqlUsers<U, $db>, ConfigError>
            where
                U: crate::AuthUser + From<UserRecord<U::Id>>,
                U::Id: SqlId,
            {
                SqlUsers::<U, $db>::new(self, table)
            }

            /// The API tokens of `table`.
            pub fn tokens<I: SqlId>(&self, table: TokenTable) -> Result<SqlTokens<I, $db>, ConfigError> {
                SqlTokens::<I, $db>::new(self, table)
            }

            /// The sessions, in `restflow_session`.
            pub fn sessions(&self) -> SqlSessions<$db> {
                SqlSessions::<$db>::new(self)
            }

            /// The per-user revocation times (logout everywhere), in
            /// `restflow_user_revocation`.
            pub fn revocations(&self) -> SqlRevocations<$db> {
                SqlRevocations::<$db>::new(self)
            }

            /// simplejwt's blacklist tables, shared with a Django service;
            /// `user_table` is the user model's (`auth_user`).
            #[cfg(feature = "django")]
            #[cfg_attr(docsrs, doc(cfg(feature = "django")))]
            pub fn simplejwt_blacklist(&self, user_table: &str) -> Result<SimpleJwtBlacklist<$db>, ConfigError> {
                SimpleJwtBlacklist::<$db>::new(self, user_table)
            }

            /// Django's sessions, in `django_session`, signed with `settings`.
            #[cfg(feature = "django")]
            #[cfg_attr(docsrs, doc(cfg(feature = "django")))]
            pub fn django_sessions(
                &self,
                settings: &crate::django::DjangoSettings,
            ) -> Result<DjangoSessions<$db>, crate::django::MissingSecret> {
                DjangoSessions::<$db>::new(self, settings)
            }
        }
    };
}

database!(
    sqlx::Sqlite,
    "sqlite",
    |o: sqlx::sqlite::SqliteConnectOptions| {
        o.create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
    }
);
database!(
    sqlx::Postgres,
    "postgres",
    |o: sqlx::postgres::PgConnectOptions| o
);
