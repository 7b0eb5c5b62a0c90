//! Users read from a SQL table through a column mapping.

use std::fmt;
use std::marker::PhantomData;

use super::{ConfigError, Database, Dialect, ident, sql, unavailable};
use crate::user::{AuthUser, StoreResult, UserId, UserRecord, UserStore};

/// How a user id is kept in SQL: integers as `BIGINT`, the rest as text.
pub trait SqlId: UserId {
    #[doc(hidden)]
    const INTEGER: bool;
}

impl SqlId for i64 {
    const INTEGER: bool = true;
}

impl SqlId for String {
    const INTEGER: bool = false;
}

#[cfg(feature = "uuid")]
impl SqlId for uuid::Uuid {
    const INTEGER: bool = false;
}

/// A bound id: an integer, or text.
pub(crate) enum IdParam {
    Int(i64),
    Text(String),
}

pub(crate) fn id_param<I: SqlId>(id: &I) -> IdParam {
    match id.to_json() {
        serde_json::Value::Number(n) if I::INTEGER => IdParam::Int(n.as_i64().unwrap_or(i64::MAX)),
        other => IdParam::Text(other.as_str().map_or_else(|| id.to_string(), str::to_owned)),
    }
}

/// Reads the id in column 0 of `row`: an integer (integer ids, unless
/// `as_text`) or text. `None` when the value does not parse as `I`.
pub(crate) fn read_id<I: SqlId, R: sqlx::Row>(
    row: &R,
    as_text: bool,
) -> Result<Option<I>, sqlx::Error>
where
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(if I::INTEGER && !as_text {
        I::from_json(&serde_json::Value::from(row.try_get::<i64, _>(0)?))
    } else {
        I::parse_str(&row.try_get::<String, _>(0)?)
    })
}

/// The SQL expression that reads id column `col` (quoted) so that it decodes
/// as `i64` (integer ids) or `String`.
pub(crate) fn id_select<I: SqlId>(col: &str) -> String {
    if I::INTEGER {
        format!("CAST({col} AS BIGINT)")
    } else {
        format!("CAST({col} AS TEXT)")
    }
}

/// The comparison of id column `col` with placeholder `p`. Text ids are
/// compared as text, so a `uuid` column in PostgreSQL matches too.
pub(crate) fn id_where<I: SqlId>(col: &str, p: &str) -> String {
    if I::INTEGER {
        format!("{col} = {p}")
    } else {
        format!("CAST({col} AS TEXT) = {p}")
    }
}

/// Where the users are: a table and its columns. [`UserTable::restflow`]
/// is the crate's own table (created by `migrate`); [`UserTable::django`]
/// reads Django's `auth_user` where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTable {
    table: String,
    id: String,
    username: String,
    password: String,
    is_active: String,
    is_staff: String,
    is_superuser: Option<String>,
    /// Column and SQL expression pairs added to the row that
    /// `create_remote_user` inserts (for `NOT NULL` columns without defaults).
    insert_defaults: Vec<(String, String)>,
}

impl Default for UserTable {
    fn default() -> Self {
        Self::restflow()
    }
}

impl UserTable {
    /// `restflow_user (id, username, password, is_active, is_staff, is_superuser)`.
    pub fn restflow() -> Self {
        UserTable {
            table: "restflow_user".into(),
            id: "id".into(),
            username: "username".into(),
            password: "password".into(),
            is_active: "is_active".into(),
            is_staff: "is_staff".into(),
            is_superuser: Some("is_superuser".into()),
            insert_defaults: Vec::new(),
        }
    }

    /// Django's `auth_user` (`django.contrib.auth`); a user created by
    /// RemoteUser gets empty names and email and `date_joined` now, as
    /// Django's `create_user` does.
    pub fn django() -> Self {
        UserTable {
            table: "auth_user".into(),
            insert_defaults: vec![
                ("first_name".into(), "''".into()),
                ("last_name".into(), "''".into()),
                ("email".into(), "''".into()),
                ("date_joined".into(), "CURRENT_TIMESTAMP".into()),
            ],
            ..Self::restflow()
        }
    }

    /// Another table (`name` or `schema.name`) with the same column names.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Renames the columns: id, username, password hash, is_active, is_staff.
    pub fn columns(
        mut self,
        id: &str,
        username: &str,
        password: &str,
        is_active: &str,
        is_staff: &str,
    ) -> Self {
        self.id = id.into();
        self.username = username.into();
        self.password = password.into();
        self.is_active = is_active.into();
        self.is_staff = is_staff.into();
        self
    }

    /// The `is_superuser` column, or `None` when the table has none.
    pub fn is_superuser(mut self, column: Option<&str>) -> Self {
        self.is_superuser = column.map(str::to_owned);
        self
    }

    /// A column set to the SQL expression `value` when a user is created.
    pub fn insert_default(mut self, column: &str, value: &str) -> Self {
        self.insert_defaults.push((column.into(), value.into()));
        self
    }
}

struct Queries {
    /// The trigger that tells the table's changes.
    watch: crate::invalidation::Watch,
    by_id: String,
    /// A new password hash for a user.
    set_password: String,
    by_username: String,
    /// A user with an unusable password (RemoteUser's new users).
    insert: String,
    /// A user with every field given.
    insert_full: String,
    /// A user with every field and the id given.
    insert_with_id: String,
    /// A user with every field given, `is_superuser` included.
    insert_user: String,
    /// Sets `is_active`.
    set_active: String,
    /// Whether the table has an `is_superuser` column.
    has_superuser: bool,
    /// After ids were given: moves PostgreSQL's id sequence past them.
    bump_sequence: Option<String>,
}

impl Queries {
    fn new<DB: Dialect, I: SqlId>(t: &UserTable) -> Result<Self, ConfigError> {
        let table = ident(&t.table)?;
        let id = ident(&t.id)?;
        let username = ident(&t.username)?;
        let superuser = match &t.is_superuser {
            Some(c) => ident(c)?,
            None => "FALSE".into(),
        };
        let select = format!(
            "SELECT {}, {username}, {}, {}, {}, {superuser} FROM {table}",
            id_select::<I>(&id),
            ident(&t.password)?,
            ident(&t.is_active)?,
            ident(&t.is_staff)?,
        );
        let mut columns = vec![
            username.clone(),
            ident(&t.password)?,
            ident(&t.is_active)?,
            ident(&t.is_staff)?,
        ];
        // `'!'` is Django's unusable password: no password matches it.
        let mut values = vec![
            "{1}".to_owned(),
            "'!'".into(),
            "TRUE".into(),
            "FALSE".into(),
        ];
        let mut full = vec!["{1}".to_owned(), "{2}".into(), "{3}".into(), "{4}".into()];
        let mut with_superuser = full.clone();
        if let Some(c) = &t.is_superuser {
            columns.push(ident(c)?);
            values.push("FALSE".into());
            full.push("FALSE".into());
            with_superuser.push("{5}".into());
        }
        for (c, v) in &t.insert_defaults {
            if v.contains(';') {
                return Err(ConfigError(format!(
                    "the default of `{c}` must be one SQL expression"
                )));
            }
            columns.push(ident(c)?);
            values.push(v.clone());
            full.push(v.clone());
            with_superuser.push(v.clone());
        }
        let insert = |columns: &[String], values: &[String]| {
            sql::<DB>(&format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({username}) DO NOTHING",
                columns.join(", "),
                values.join(", ")
            ))
        };
        let mut with_id_columns = columns.clone();
        with_id_columns.push(id.clone());
        let mut with_id_values = full.clone();
        with_id_values.push("{5}".into());
        if t.is_superuser.is_some() {
            // After username, password, is_active, is_staff: is_superuser.
            with_id_values[4] = "{6}".into();
        }
        let bump_sequence = (DB::NAME == "PostgreSQL" && I::INTEGER).then(|| {
            let plain = |s: &str| s.replace('"', "");
            format!(
                "SELECT setval(pg_get_serial_sequence('{}', '{}'), GREATEST((SELECT MAX({id}) FROM {table}), 1))",
                plain(&table),
                plain(&id)
            )
        });
        Ok(Queries {
            watch: crate::invalidation::Watch::new(&t.table, "u", &t.id, false),
            insert: insert(&columns, &values),
            insert_full: insert(&columns, &full),
            insert_with_id: insert(&with_id_columns, &with_id_values),
            insert_user: insert(&columns, &with_superuser),
            set_active: sql::<DB>(&format!(
                "UPDATE {table} SET {} = {{1}} WHERE {}",
                ident(&t.is_active)?,
                id_where::<I>(&id, "{2}"),
            )),
            has_superuser: t.is_superuser.is_some(),
            bump_sequence,
            by_id: sql::<DB>(&format!("{select} WHERE {}", id_where::<I>(&id, "{1}"))),
            set_password: sql::<DB>(&format!(
                "UPDATE {table} SET {password} = {{1}} WHERE {} AND {password} = {{3}}",
                id_where::<I>(&id, "{2}"),
                password = ident(&t.password)?,
            )),
            by_username: sql::<DB>(&format!("{select} WHERE {username} = {{1}}")),
        })
    }
}

/// A [`UserStore`] over a SQL table. Build it with `Database::users`.
pub struct SqlUsers<U, DB: sqlx::Database> {
    db: Database<DB>,
    queries: std::sync::Arc<Queries>,
    _user: PhantomData<fn() -> U>,
}

impl<U, DB: sqlx::Database> Clone for SqlUsers<U, DB> {
    fn clone(&self) -> Self {
        SqlUsers {
            db: self.db.clone(),
            queries: self.queries.clone(),
            _user: PhantomData,
        }
    }
}

impl<U, DB: sqlx::Database> fmt::Debug for SqlUsers<U, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlUsers")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Users in SQLite.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteUsers<U> = SqlUsers<U, sqlx::Sqlite>;

/// Users in PostgreSQL.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresUsers<U> = SqlUsers<U, sqlx::Postgres>;

macro_rules! sql_users {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        impl<U> SqlUsers<U, $db>
        where
            U: AuthUser + From<UserRecord<U::Id>>,
            U::Id: SqlId,
        {
            /// The users of `table` in `db`.
            pub fn new(db: &Database<$db>, table: UserTable) -> Result<Self, ConfigError> {
                Ok(SqlUsers {
                    db: db.clone(),
                    queries: std::sync::Arc::new(Queries::new::<$db, U::Id>(&table)?),
                    _user: PhantomData,
                })
            }

            /// Adds a user unless one with this username exists; returns the
            /// stored user, with its id. For fixtures, demos and tests.
            pub async fn insert(
                &self,
                username: &str,
                password_hash: &str,
                is_active: bool,
                is_staff: bool,
            ) -> StoreResult<U> {
                sqlx::query(&self.queries.insert_full)
                    .bind(username)
                    .bind(password_hash)
                    .bind(is_active)
                    .bind(is_staff)
                    .execute(self.db.pool())
                    .await
                    .map_err(|e| unavailable("users", e))?;
                Self::fetch(
                    self.db.pool(),
                    &self.queries.by_username,
                    Param::Text(username.to_owned()),
                )
                .await?
                .ok_or_else(|| {
                    crate::AuthError::internal("sql users: the inserted row is not readable")
                })
            }

            /// Adds `record` with its own id unless its username exists (for
            /// fixtures); in PostgreSQL an integer id sequence then moves
            /// past it. Text ids are bound as text (a PostgreSQL `uuid`
            /// column needs the application's own insert).
            pub async fn insert_record(&self, record: &UserRecord<U::Id>) -> StoreResult<()> {
                let q = sqlx::query(&self.queries.insert_with_id)
                    .bind(record.username.clone())
                    .bind(record.password.clone())
                    .bind(record.is_active)
                    .bind(record.is_staff);
                let q = match id_param(&record.id) {
                    Param::Int(i) => q.bind(i),
                    Param::Text(s) => q.bind(s),
                };
                let q = if self.queries.has_superuser {
                    q.bind(record.is_superuser)
                } else {
                    q
                };
                q.execute(self.db.pool())
                    .await
                    .map_err(|e| unavailable("users", e))?;
                if let Some(bump) = &self.queries.bump_sequence {
                    sqlx::query(bump)
                        .execute(self.db.pool())
                        .await
                        .map_err(|e| unavailable("users", e))?;
                }
                Ok(())
            }

            /// Creates a user, as Django's `create_user` and
            /// `create_superuser` do, unless one with this username exists:
            /// then `None` and nothing changes. `is_superuser` needs the
            /// table's `is_superuser` column.
            pub async fn create_user(
                &self,
                username: &str,
                password_hash: &str,
                is_active: bool,
                is_staff: bool,
                is_superuser: bool,
            ) -> StoreResult<Option<U>> {
                let q = sqlx::query(if self.queries.has_superuser {
                    &self.queries.insert_user
                } else if is_superuser {
                    return Err(crate::AuthError::internal(
                        "sql users: the table has no is_superuser column",
                    ));
                } else {
                    &self.queries.insert_full
                })
                .bind(username)
                .bind(password_hash)
                .bind(is_active)
                .bind(is_staff);
                let q = if self.queries.has_superuser {
                    q.bind(is_superuser)
                } else {
                    q
                };
                let done = q
                    .execute(self.db.pool())
                    .await
                    .map_err(|e| unavailable("users", e))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                Self::fetch(
                    self.db.pool(),
                    &self.queries.by_username,
                    Param::Text(username.to_owned()),
                )
                .await
            }

            /// Sets the user's `is_active` (`false` deactivates: every
            /// authenticator then refuses the user). `false` when no user
            /// has this id.
            pub async fn set_active(&self, id: &U::Id, is_active: bool) -> StoreResult<bool> {
                let q = sqlx::query(&self.queries.set_active).bind(is_active);
                let q = match id_param(id) {
                    Param::Int(i) => q.bind(i),
                    Param::Text(s) => q.bind(s),
                };
                let done = q
                    .execute(self.db.pool())
                    .await
                    .map_err(|e| unavailable("users", e))?;
                self.db.wrote("u", Some(&id.to_string()));
                Ok(done.rows_affected() > 0)
            }

            async fn update_password(
                pool: &sqlx::Pool<$db>,
                q: &str,
                (old, new): (&str, &str),
                id: Param,
            ) -> StoreResult<bool> {
                let query = sqlx::query(q).bind(new);
                let query = match id {
                    Param::Int(i) => query.bind(i),
                    Param::Text(s) => query.bind(s),
                }
                .bind(old);
                let done = query
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("users", e))?;
                Ok(done.rows_affected() == 1)
            }

            async fn fetch(
                pool: &sqlx::Pool<$db>,
                q: &str,
                param: Param,
            ) -> StoreResult<Option<U>> {
                use sqlx::Row as _;
                let query = sqlx::query(q);
                let query = match param {
                    Param::Int(i) => query.bind(i),
                    Param::Text(s) => query.bind(s),
                };
                let Some(row) = query
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| unavailable("users", e))?
                else {
                    return Ok(None);
                };
                let bad = |e: sqlx::Error| {
                    crate::AuthError::internal(format!(
                        "sql users: a row does not fit the mapping: {e}"
                    ))
                };
                let Some(id) = read_id::<U::Id, _>(&row, false).map_err(bad)? else {
                    return Err(crate::AuthError::internal(
                        "sql users: an id does not parse as the model's id type",
                    ));
                };
                Ok(Some(U::from(UserRecord {
                    id,
                    username: row.try_get(1).map_err(bad)?,
                    password: row.try_get(2).map_err(bad)?,
                    is_active: row.try_get(3).map_err(bad)?,
                    is_staff: row.try_get(4).map_err(bad)?,
                    is_superuser: row.try_get(5).map_err(bad)?,
                })))
            }

            async fn create(
                pool: &sqlx::Pool<$db>,
                queries: &Queries,
                username: &str,
            ) -> StoreResult<Option<U>> {
                sqlx::query(&queries.insert)
                    .bind(username)
                    .execute(pool)
                    .await
                    .map_err(|e| unavailable("users", e))?;
                Self::fetch(pool, &queries.by_username, Param::Text(username.to_owned())).await
            }
        }

        #[cfg(feature = $feature)]
        impl<U> UserStore<U> for SqlUsers<U, $db>
        where
            U: AuthUser + From<UserRecord<U::Id>>,
            U::Id: SqlId,
        {
            async fn find_by_id(&self, id: &U::Id) -> StoreResult<Option<U>> {
                Self::fetch(self.db.pool(), &self.queries.by_id, id_param(id)).await
            }
            async fn find_by_username(&self, username: &str) -> StoreResult<Option<U>> {
                Self::fetch(
                    self.db.pool(),
                    &self.queries.by_username,
                    Param::Text(username.to_owned()),
                )
                .await
            }
            fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>> {
                let param = id_param(id);
                self.db
                    .block_on(|pool| Self::fetch(pool, &self.queries.by_id, param))
            }
            fn find_by_username_blocking(&self, username: &str) -> StoreResult<Option<U>> {
                let param = Param::Text(username.to_owned());
                self.db
                    .block_on(|pool| Self::fetch(pool, &self.queries.by_username, param))
            }
            async fn create_remote_user(&self, username: &str) -> StoreResult<Option<U>> {
                Self::create(self.db.pool(), &self.queries, username).await
            }
            fn create_remote_user_blocking(&self, username: &str) -> StoreResult<Option<U>> {
                self.db
                    .block_on(|pool| Self::create(pool, &self.queries, username))
            }
            async fn set_password_hash(
                &self,
                id: &U::Id,
                old: &str,
                new: &str,
            ) -> StoreResult<bool> {
                let done = Self::update_password(
                    self.db.pool(),
                    &self.queries.set_password,
                    (old, new),
                    id_param(id),
                )
                .await;
                self.db.wrote("u", Some(&id.to_string()));
                done
            }
            fn set_password_hash_blocking(
                &self,
                id: &U::Id,
                old: &str,
                new: &str,
            ) -> StoreResult<bool> {
                let param = id_param(id);
                let done = self.db.block_on(|pool| {
                    Self::update_password(pool, &self.queries.set_password, (old, new), param)
                });
                self.db.wrote("u", Some(&id.to_string()));
                done
            }
            fn feed(&self) -> Option<crate::invalidation::Feed> {
                self.db.feed(self.queries.watch.clone())
            }
        }
    };
}

use IdParam as Param;

sql_users!(sqlx::Sqlite, "sqlite");
sql_users!(sqlx::Postgres, "postgres");
