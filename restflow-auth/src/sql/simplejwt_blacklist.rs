//! One blacklist with a Django service: djangorestframework-simplejwt's
//! `token_blacklist` tables.

use std::fmt;
use std::marker::PhantomData;

use super::{Database, Dialect, sql, unavailable};
use crate::jwt::{Blacklist, Entry};
use crate::user::StoreResult;

/// A [`Blacklist`] on simplejwt's `token_blacklist_outstandingtoken` and
/// `token_blacklist_blacklistedtoken` (the `token_blacklist` app), so that
/// with one signing key a refresh token rotated or blacklisted by either
/// service is refused by the other. Blacklisting a token makes sure it has
/// an outstanding row (the token, its user when the user row exists, its
/// expiry), then adds the blacklisted row; every refresh token the views
/// mint gets its outstanding row as simplejwt's `for_user` writes it, so a
/// Django service that blacklists a user's outstanding tokens (log out
/// everywhere) finds ours too; the rotation step is that
/// insert, whose `token_id` is unique: of concurrent refreshes of one token
/// exactly one inserts. A token is blacklisted when a blacklisted row
/// points at its jti's outstanding row, as simplejwt checks it. The tables
/// are Django's and are never created here; expired rows go with
/// simplejwt's `flushexpiredtokens`. Build it with `Database::simplejwt_blacklist`.
pub struct SimpleJwtBlacklist<DB: sqlx::Database> {
    db: Database<DB>,
    outstanding: String,
    outstanding_anon: String,
    blacklisted: String,
    exists: String,
    _db: PhantomData<DB>,
}

impl<DB: sqlx::Database> Clone for SimpleJwtBlacklist<DB> {
    fn clone(&self) -> Self {
        SimpleJwtBlacklist {
            db: self.db.clone(),
            outstanding: self.outstanding.clone(),
            outstanding_anon: self.outstanding_anon.clone(),
            blacklisted: self.blacklisted.clone(),
            exists: self.exists.clone(),
            _db: PhantomData,
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SimpleJwtBlacklist<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleJwtBlacklist").finish_non_exhaustive()
    }
}

impl<DB: Dialect> SimpleJwtBlacklist<DB> {
    /// The blacklist in `db`; `user_table` is the user model's table
    /// (`auth_user`), read to link an outstanding row to its user.
    pub fn new(db: &Database<DB>, user_table: &str) -> Result<Self, super::ConfigError> {
        let users = super::ident(user_table)?;
        Ok(SimpleJwtBlacklist {
            db: db.clone(),
            outstanding: sql::<DB>(&format!(
                "INSERT INTO token_blacklist_outstandingtoken (jti, token, user_id, created_at, expires_at) \
                 VALUES ({{1}}, {{2}}, (SELECT id FROM {users} WHERE id = {{3}}), {}, {}) ON CONFLICT (jti) DO NOTHING",
                DB::now(),
                DB::from_epoch("{4}")
            )),
            // Without an integer user claim no user row is looked up (a
            // uuid or text key cannot be compared with an integer).
            outstanding_anon: sql::<DB>(&format!(
                "INSERT INTO token_blacklist_outstandingtoken (jti, token, user_id, created_at, expires_at) \
                 VALUES ({{1}}, {{2}}, NULL, {}, {}) ON CONFLICT (jti) DO NOTHING",
                DB::now(),
                DB::from_epoch("{3}")
            )),
            blacklisted: sql::<DB>(&format!(
                "INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at) \
                 SELECT id, {} FROM token_blacklist_outstandingtoken WHERE jti = {{1}} ON CONFLICT (token_id) DO NOTHING",
                DB::now()
            )),
            // simplejwt keeps a blacklisted row until flushexpiredtokens;
            // the grace marker of a refresh family (`recent:<jti>`) ends
            // at its own expiry.
            exists: sql::<DB>(&format!(
                "SELECT COUNT(*) FROM token_blacklist_blacklistedtoken b JOIN token_blacklist_outstandingtoken o \
                 ON o.id = b.token_id WHERE o.jti = {{1}} AND (o.jti NOT LIKE 'recent:%' OR o.expires_at > {})",
                DB::now()
            )),
            _db: PhantomData,
        })
    }
}

/// An integer user claim, for the outstanding row's user (none otherwise).
fn user_id(e: &Entry<'_>) -> Option<i64> {
    match e.user_id? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

macro_rules! simplejwt_blacklist {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl SimpleJwtBlacklist<$db> {
            /// Adds `e`; `true` when this call blacklisted it.
            async fn add(&self, pool: &sqlx::Pool<$db>, e: &Entry<'_>) -> StoreResult<bool> {
                let fail = |err| unavailable("simplejwt blacklist", err);
                let mut tx = pool.begin().await.map_err(fail)?;
                self.insert_outstanding(&mut *tx, e).await?;
                let added = sqlx::query(&self.blacklisted)
                    .bind(e.jti)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?
                    .rows_affected();
                tx.commit().await.map_err(fail)?;
                Ok(added == 1)
            }

            /// The outstanding row of `e` (simplejwt's `OutstandingToken`), unless one exists.
            async fn insert_outstanding<'c, X>(&self, conn: X, e: &Entry<'_>) -> StoreResult<()>
            where
                X: sqlx::Executor<'c, Database = $db>,
            {
                let fail = |err| unavailable("simplejwt blacklist", err);
                let q = match user_id(e) {
                    Some(id) => sqlx::query(&self.outstanding)
                        .bind(e.jti)
                        .bind(e.token)
                        .bind(id),
                    None => sqlx::query(&self.outstanding_anon)
                        .bind(e.jti)
                        .bind(e.token),
                };
                q.bind(e.expires_at).execute(conn).await.map_err(fail)?;
                Ok(())
            }

            async fn exists(&self, pool: &sqlx::Pool<$db>, jti: &str) -> StoreResult<bool> {
                let (n,): (i64,) = sqlx::query_as(&self.exists)
                    .bind(jti)
                    .fetch_one(pool)
                    .await
                    .map_err(|err| unavailable("simplejwt blacklist", err))?;
                Ok(n > 0)
            }
        }

        #[cfg(feature = $feature)]
        impl Blacklist for SimpleJwtBlacklist<$db> {
            async fn blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                let e = Entry {
                    jti,
                    expires_at,
                    token: "",
                    user_id: None,
                };
                self.add(self.db.pool(), &e).await.map(|_| ())
            }
            async fn is_blacklisted(&self, jti: &str) -> StoreResult<bool> {
                self.exists(self.db.pool(), jti).await
            }
            async fn check_and_blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
                let e = Entry {
                    jti,
                    expires_at,
                    token: "",
                    user_id: None,
                };
                self.add(self.db.pool(), &e).await
            }
            fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                let e = Entry {
                    jti,
                    expires_at,
                    token: "",
                    user_id: None,
                };
                self.db.block_on(|pool| self.add(pool, &e)).map(|_| ())
            }
            fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
                self.db.block_on(|pool| self.exists(pool, jti))
            }
            fn check_and_blacklist_blocking(
                &self,
                jti: &str,
                expires_at: i64,
            ) -> StoreResult<bool> {
                let e = Entry {
                    jti,
                    expires_at,
                    token: "",
                    user_id: None,
                };
                self.db.block_on(|pool| self.add(pool, &e))
            }
            async fn blacklist_entry(&self, e: &Entry<'_>) -> StoreResult<()> {
                self.add(self.db.pool(), e).await.map(|_| ())
            }
            async fn check_and_blacklist_entry(&self, e: &Entry<'_>) -> StoreResult<bool> {
                self.add(self.db.pool(), e).await
            }
            fn blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
                self.db.block_on(|pool| self.add(pool, e)).map(|_| ())
            }
            fn check_and_blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<bool> {
                self.db.block_on(|pool| self.add(pool, e))
            }
            async fn outstand(&self, e: &Entry<'_>) -> StoreResult<()> {
                self.insert_outstanding(self.db.pool(), e).await
            }
            fn outstand_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
                self.db.block_on(|pool| self.insert_outstanding(pool, e))
            }
        }
    };
}

simplejwt_blacklist!(sqlx::Sqlite, "sqlite");
simplejwt_blacklist!(sqlx::Postgres, "postgres");
