//! API tokens in a SQL table: DRF's `authtoken_token` layout.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use sha2::Digest;

use super::users::{IdParam, SqlId, id_param, id_select, id_where, read_id};
use super::{ConfigError, Database, Dialect, ident, sql, unavailable};
use crate::token::TokenStore;
use crate::user::StoreResult;

/// Where the API tokens are: DRF's `authtoken_token` columns (`key`,
/// `user_id`, `created`) in some table. [`TokenTable::restflow`], the
/// crate's own table, keeps only the SHA-256 of each key, so a leaked table
/// holds no working token; [`TokenTable::drf`] reads and writes DRF's own
/// table, where keys are stored as they are (DRF's choice, kept so that a
/// Django service beside this one accepts the same tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenTable {
    table: String,
    key: String,
    user_id: String,
    created: String,
    hashed: bool,
    text_user_id: bool,
}

impl Default for TokenTable {
    fn default() -> Self {
        Self::restflow()
    }
}

impl TokenTable {
    /// `restflow_token`: digests of the keys; user ids of any type, as text.
    pub fn restflow() -> Self {
        TokenTable {
            table: "restflow_token".into(),
            key: "key".into(),
            user_id: "user_id".into(),
            created: "created".into(),
            hashed: true,
            text_user_id: true,
        }
    }

    /// DRF's `authtoken_token` (`rest_framework.authtoken`), keys in clear.
    pub fn drf() -> Self {
        TokenTable {
            table: "authtoken_token".into(),
            hashed: false,
            text_user_id: false,
            ..Self::restflow()
        }
    }

    /// Another table (`name` or `schema.name`) with the same columns.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Whether the `key` column holds SHA-256 digests (hex) of the keys.
    pub fn hashed(mut self, hashed: bool) -> Self {
        self.hashed = hashed;
        self
    }
}

struct Queries {
    watch: crate::invalidation::Watch,
    user_for: String,
    key_of: String,
    delete_user: String,
    insert: String,
    revoke: String,
}

/// A [`TokenStore`] over a SQL table. Build it with `Database::tokens`.
pub struct SqlTokens<I, DB: sqlx::Database> {
    db: Database<DB>,
    queries: Arc<Queries>,
    hashed: bool,
    text_user_id: bool,
    _id: PhantomData<fn() -> I>,
}

impl<I, DB: sqlx::Database> Clone for SqlTokens<I, DB> {
    fn clone(&self) -> Self {
        SqlTokens {
            db: self.db.clone(),
            queries: Arc::clone(&self.queries),
            hashed: self.hashed,
            text_user_id: self.text_user_id,
            _id: PhantomData,
        }
    }
}

impl<I, DB: sqlx::Database> fmt::Debug for SqlTokens<I, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTokens")
            .field("db", &self.db)
            .field("hashed", &self.hashed)
            .finish_non_exhaustive()
    }
}

/// API tokens in SQLite.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteTokens<I> = SqlTokens<I, sqlx::Sqlite>;

/// API tokens in PostgreSQL.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresTokens<I> = SqlTokens<I, sqlx::Postgres>;

impl<I: SqlId, DB: Dialect> SqlTokens<I, DB> {
    /// The tokens of `table` in `db`.
    pub fn new(db: &Database<DB>, table: TokenTable) -> Result<Self, ConfigError> {
        let t = ident(&table.table)?;
        let key = ident(&table.key)?;
        let user = ident(&table.user_id)?;
        let created = ident(&table.created)?;
        let (select, wher) = if table.text_user_id {
            (user.clone(), format!("{user} = {{1}}"))
        } else {
            (id_select::<I>(&user), id_where::<I>(&user, "{1}"))
        };
        let queries = Queries {
            // A table of digests tells them as they are; DRF's table of
            // keys tells the digest of each.
            watch: crate::invalidation::Watch::new(&table.table, "t", &table.key, !table.hashed),
            user_for: sql::<DB>(&format!("SELECT {select} FROM {t} WHERE {key} = {{1}}")),
            key_of: sql::<DB>(&format!("SELECT {key} FROM {t} WHERE {wher}")),
            delete_user: sql::<DB>(&format!("DELETE FROM {t} WHERE {wher}")),
            insert: sql::<DB>(&format!(
                "INSERT INTO {t} ({key}, {user}, {created}) VALUES ({{1}}, {{2}}, CURRENT_TIMESTAMP)"
            )),
            revoke: sql::<DB>(&format!("DELETE FROM {t} WHERE {key} = {{1}}")),
        };
        Ok(SqlTokens {
            db: db.clone(),
            queries: Arc::new(queries),
            hashed: table.hashed,
            text_user_id: table.text_user_id,
            _id: PhantomData,
        })
    }

    /// What the `key` column holds for `key`.
    fn stored(&self, key: &str) -> String {
        if self.hashed {
            crate::hex(&sha2::Sha256::digest(key.as_bytes()))
        } else {
            key.to_owned()
        }
    }

    fn user_param(&self, id: &I) -> IdParam {
        if self.text_user_id {
            IdParam::Text(id.to_string())
        } else {
            id_param(id)
        }
    }
}

macro_rules! sql_tokens {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl<I: SqlId> SqlTokens<I, $db> {
            async fn find(&self, pool: &sqlx::Pool<$db>, key: &str) -> StoreResult<Option<I>> {
                // Keys are ASCII and short: anything else cannot be one.
                if key.len() > 128 {
                    return Ok(None);
                }
                let row = sqlx::query(&self.queries.user_for)
                    .bind(self.stored(key))
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| unavailable("tokens", e))?;
                let Some(row) = row else { return Ok(None) };
                let bad = |e: sqlx::Error| crate::AuthError::internal(format!("sql tokens: {e}"));
                let id = read_id::<I, _>(&row, self.text_user_id).map_err(bad)?;
                id.map(Some).ok_or_else(|| {
                    crate::AuthError::internal(
                        "sql tokens: a user id does not parse as the model's id type",
                    )
                })
            }

            /// Sets `key` as the key of `user_id`, replacing the user's
            /// previous one (for fixtures; `issue` makes new keys).
            pub async fn insert_key(&self, key: &str, user_id: &I) -> StoreResult<()> {
                self.replace(self.db.pool(), user_id, key.to_owned())
                    .await
                    .map(drop)
            }

            async fn replace(
                &self,
                pool: &sqlx::Pool<$db>,
                user_id: &I,
                key: String,
            ) -> StoreResult<String> {
                let fail = |e| unavailable("tokens", e);
                let mut tx = pool.begin().await.map_err(fail)?;
                let (del, ins) = (
                    sqlx::query(&self.queries.delete_user),
                    sqlx::query(&self.queries.insert).bind(self.stored(&key)),
                );
                let (del, ins) = match self.user_param(user_id) {
                    IdParam::Int(i) => (del.bind(i), ins.bind(i)),
                    IdParam::Text(s) => (del.bind(s.clone()), ins.bind(s)),
                };
                del.execute(&mut *tx).await.map_err(fail)?;
                ins.execute(&mut *tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                // The user's previous key, whichever it was, is gone.
                self.db.wrote("t", None);
                Ok(key)
            }

            /// The user's key, or a new one (get or create). A key
            /// inserted by a concurrent call first wins: the insert fails
            /// on the table's unique `user_id` and the winner's is read.
            async fn get_or_create(
                &self,
                pool: &sqlx::Pool<$db>,
                user_id: &I,
            ) -> StoreResult<String> {
                if self.hashed {
                    return self
                        .replace(pool, user_id, crate::token::generate_key())
                        .await;
                }
                let fail = |e| unavailable("tokens", e);
                let find = || async {
                    let q = sqlx::query_scalar::<_, String>(&self.queries.key_of);
                    match self.user_param(user_id) {
                        IdParam::Int(i) => q.bind(i),
                        IdParam::Text(s) => q.bind(s),
                    }
                    .fetch_optional(pool)
                    .await
                    .map_err(fail)
                };
                if let Some(key) = find().await? {
                    return Ok(key);
                }
                let key = crate::token::generate_key();
                let ins = sqlx::query(&self.queries.insert).bind(key.clone());
                let ins = match self.user_param(user_id) {
                    IdParam::Int(i) => ins.bind(i),
                    IdParam::Text(s) => ins.bind(s),
                };
                match ins.execute(pool).await {
                    Ok(_) => Ok(key),
                    Err(e) => find().await?.ok_or_else(|| fail(e)),
                }
            }

            /// Whether `user_id` has a key. A table of digests cannot give
            /// the key back; this says whether one exists.
            pub async fn has_key(&self, user_id: &I) -> StoreResult<bool> {
                let q = sqlx::query_scalar::<_, String>(&self.queries.key_of);
                let found = match self.user_param(user_id) {
                    IdParam::Int(i) => q.bind(i),
                    IdParam::Text(s) => q.bind(s),
                }
                .fetch_optional(self.db.pool())
                .await
                .map_err(|e| unavailable("tokens", e))?;
                Ok(found.is_some())
            }

            async fn delete(&self, pool: &sqlx::Pool<$db>, key: &str) -> StoreResult<bool> {
                let r = sqlx::query(&self.queries.revoke)
                    .bind(self.stored(key))
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("tokens", e))?;
                self.db.wrote("t", Some(&crate::token::cache_key(key)));
                Ok(r.rows_affected() > 0)
            }
        }

        #[cfg(feature = $feature)]
        impl<I: SqlId> TokenStore<I> for SqlTokens<I, $db> {
            async fn user_for(&self, key: &str) -> StoreResult<Option<I>> {
                self.find(self.db.pool(), key).await
            }
            async fn issue(&self, user_id: &I) -> StoreResult<String> {
                self.replace(self.db.pool(), user_id, crate::token::generate_key())
                    .await
            }
            async fn obtain(&self, user_id: &I) -> StoreResult<String> {
                self.get_or_create(self.db.pool(), user_id).await
            }
            fn obtain_blocking(&self, user_id: &I) -> StoreResult<String> {
                self.db.block_on(|pool| self.get_or_create(pool, user_id))
            }
            async fn revoke(&self, key: &str) -> StoreResult<bool> {
                self.delete(self.db.pool(), key).await
            }
            fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>> {
                self.db.block_on(|pool| self.find(pool, key))
            }
            fn issue_blocking(&self, user_id: &I) -> StoreResult<String> {
                self.db
                    .block_on(|pool| self.replace(pool, user_id, crate::token::generate_key()))
            }
            fn revoke_blocking(&self, key: &str) -> StoreResult<bool> {
                self.db.block_on(|pool| self.delete(pool, key))
            }
            fn feed(&self) -> Option<crate::invalidation::Feed> {
                self.db.feed(self.queries.watch.clone())
            }
        }
    };
}

sql_tokens!(sqlx::Sqlite, "sqlite");
sql_tokens!(sqlx::Postgres, "postgres");
