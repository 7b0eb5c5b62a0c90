//! Django's own sessions: the `django_session` table of the database
//! backend, its data signed as Django signs it.

use std::fmt;
use std::marker::PhantomData;

use super::{Database, Dialect, sql, unavailable};
use crate::django::{DjangoSettings, MissingSecret, decode_session, encode_session};
use crate::session::SessionData;
use crate::user::StoreResult;

/// A [`SessionStore`](crate::session::SessionStore) on Django's `django_session` (`session_key`,
/// `session_data`, `expire_date`), so that a Django login authenticates on
/// the Rust side and a Rust login on Django's (`login_required`, DRF's
/// `SessionAuthentication`): the data is `signing.dumps` of Django's three
/// keys (`_auth_user_id` as a string, `_auth_user_backend`,
/// `_auth_user_hash`) under `django.secret_key`, read under it and its
/// fallbacks. A row whose signature fails reads as no session (Django
/// reads it as an empty one); a session without a user (Django's anonymous
/// session) is no login and is left alone. Build it with
/// `Database::django_sessions`; the table is Django's and is never created
/// here.
pub struct DjangoSessions<DB: sqlx::Database> {
    db: Database<DB>,
    settings: DjangoSettings,
    load: String,
    save: String,
    delete: String,
    _db: PhantomData<DB>,
}

impl<DB: sqlx::Database> Clone for DjangoSessions<DB> {
    fn clone(&self) -> Self {
        DjangoSessions {
            db: self.db.clone(),
            settings: self.settings.clone(),
            load: self.load.clone(),
            save: self.save.clone(),
            delete: self.delete.clone(),
            _db: PhantomData,
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for DjangoSessions<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings hold SECRET_KEY: only the salt is printed.
        f.debug_struct("DjangoSessions")
            .field("salt", &self.settings.session_key_salt)
            .finish_non_exhaustive()
    }
}

impl<DB: Dialect> DjangoSessions<DB> {
    /// The sessions of `db`, signed with `settings` (which must hold
    /// `secret_key`).
    pub fn new(db: &Database<DB>, settings: &DjangoSettings) -> Result<Self, MissingSecret> {
        settings.secret_key.as_ref().ok_or(MissingSecret)?;
        Ok(DjangoSessions {
            db: db.clone(),
            settings: settings.clone(),
            load: sql::<DB>(&format!(
                "SELECT session_data, {} FROM django_session WHERE session_key = {{1}} AND {} > {{2}}",
                DB::epoch("expire_date"),
                DB::epoch("expire_date")
            )),
            save: sql::<DB>(&format!(
                "INSERT INTO django_session (session_key, session_data, expire_date) VALUES ({{1}}, {{2}}, {}) \
                 ON CONFLICT (session_key) DO UPDATE SET session_data = excluded.session_data, expire_date = excluded.expire_date",
                DB::from_epoch("{3}")
            )),
            delete: sql::<DB>("DELETE FROM django_session WHERE session_key = {1}"),
            _db: PhantomData,
        })
    }
}

impl<DB: sqlx::Database> DjangoSessions<DB> {
    /// The trigger that tells this table's changes.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn watch(&self) -> crate::invalidation::Watch {
        crate::invalidation::Watch::new("django_session", "s", "session_key", false)
    }
}

macro_rules! django_sessions {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl DjangoSessions<$db> {
            async fn read(
                &self,
                pool: &sqlx::Pool<$db>,
                key: &str,
            ) -> StoreResult<Option<SessionData>> {
                let row: Option<(String, i64)> = sqlx::query_as(&self.load)
                    .bind(key)
                    .bind(crate::unix_now())
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| unavailable("django sessions", e))?;
                Ok(row.and_then(|(data, expires)| {
                    decode_session(&self.settings, &data, &self.settings.session_key_salt, None)
                        .map(|(d, signed_at)| SessionData {
                            expires_at: expires,
                            issued_at: Some(signed_at),
                            ..d
                        })
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
                    .bind(encode_session(
                        &self.settings,
                        data,
                        &self.settings.session_key_salt,
                    ))
                    .bind(data.expires_at)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("django sessions", e))?;
                self.db.wrote("s", Some(key));
                Ok(())
            }

            async fn remove(&self, pool: &sqlx::Pool<$db>, key: &str) -> StoreResult<()> {
                sqlx::query(&self.delete)
                    .bind(key)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("django sessions", e))?;
                self.db.wrote("s", Some(key));
                Ok(())
            }
        }

        sql_session_store!(
            DjangoSessions<$db>,
            $feature,
            fn django(&self) -> Option<&DjangoSettings> {
                Some(&self.settings)
            }
        );
    };
}

django_sessions!(sqlx::Sqlite, "sqlite");
django_sessions!(sqlx::Postgres, "postgres");
