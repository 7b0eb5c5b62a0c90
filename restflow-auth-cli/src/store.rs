//! The commands that open the database: the same code for SQLite and
//! PostgreSQL, on the crate's tables or Django's.

use std::process::ExitCode;

use restflow_auth::database::{Backend, Tables};
use restflow_auth::password::{Hasher, Passwords};
use restflow_auth::sql::{TokenTable, UserTable};
use restflow_auth::{AuthError, Settings};

use crate::cli::Command;
use crate::{Failure, Result};

/// The user model of the command: every field the tables have.
#[derive(Clone, Debug, restflow_auth::AuthUser)]
pub(crate) struct User {
    #[auth_user(id)]
    id: i64,
    #[auth_user(username)]
    username: String,
    #[auth_user(password_hash)]
    password: String,
    #[auth_user(is_active)]
    is_active: bool,
    #[auth_user(is_staff)]
    is_staff: bool,
    #[auth_user(is_superuser)]
    is_superuser: bool,
}

fn user_table(tables: Tables) -> UserTable {
    match tables {
        Tables::Restflow => UserTable::restflow(),
        Tables::Django => UserTable::django(),
    }
}

fn token_table(tables: Tables) -> TokenTable {
    match tables {
        Tables::Restflow => TokenTable::restflow(),
        Tables::Django => TokenTable::drf(),
    }
}

/// What to run when a table is missing.
fn migrate_hint(tables: Tables) -> &'static str {
    match tables {
        Tables::Restflow => "run `restflow-auth migrate` first",
        Tables::Django => {
            "run Django's `manage.py migrate` first (with django.contrib.auth and rest_framework.authtoken installed)"
        }
    }
}

fn is_missing_table(cause: &str) -> bool {
    cause.contains("no such table")
        || (cause.contains("relation ") && cause.contains("does not exist"))
}

/// A store error in plain words: its cause, and what to do about a
/// missing table.
fn store_failure(what: &str, tables: Tables, e: &AuthError) -> Failure {
    let cause = e.cause().map_or_else(|| e.to_string(), str::to_owned);
    let cause = cause
        .strip_prefix("sql users: ")
        .or_else(|| cause.strip_prefix("sql tokens: "))
        .or_else(|| cause.strip_prefix("sql cleanup: "))
        .unwrap_or(&cause);
    if is_missing_table(cause) {
        Failure::new(format!(
            "{what}: a table is missing ({cause}); {}",
            migrate_hint(tables)
        ))
    } else if cause.contains("pool timed out") || cause.contains("error communicating") {
        Failure::new(format!(
            "{what}: cannot reach the database ({cause}); is it running, and is the URL right?"
        ))
    } else {
        Failure::new(format!("{what}: {cause}"))
    }
}

fn no_user(username: &str) -> Failure {
    Failure::new(format!("no user named {username}"))
}

/// The password executor. Django cannot read Argon2id PHC strings, so on
/// Django's tables that default gives way to Django's own default hasher.
fn passwords(settings: &Settings) -> Passwords {
    let mut p = settings.password.clone();
    if settings.database.tables == Tables::Django && p.hasher == Hasher::Argon2id {
        eprintln!(
            "note: Django cannot read argon2id hashes, so this password is hashed with pbkdf2_sha256 (Django's default); set password.hasher to `pbkdf2_sha256` or `argon2` to choose"
        );
        p.hasher = Hasher::Pbkdf2Sha256;
    }
    Passwords::new(&p)
}

async fn hash(settings: &Settings, password: String) -> Result<String> {
    passwords(settings).hash(password).await.map_err(|e| {
        Failure::new(format!(
            "cannot hash the password: {}",
            e.cause().unwrap_or("")
        ))
    })
}

/// The file a `sqlite:` URL names, unless it is an in-memory database.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.split_once(':')?.1;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && !path.starts_with(":memory:") && !url.contains("mode=memory"))
        .then_some(path)
}

/// Opens the configured database and runs `command` on it.
pub(crate) async fn run(settings: &Settings, command: Command) -> Result<ExitCode> {
    let check = matches!(command, Command::Check);
    if check {
        println!("ok    settings: loaded and valid");
    }
    let Some(url) = settings.database.url.as_ref().map(|u| u.expose()) else {
        return Err(Failure::new(
            "no database: set `[database] url` in restflow.toml, or RESTFLOW_DATABASE__URL, or pass --database URL",
        ));
    };
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => {
            if let Some(path) = sqlite_path(url)
                && !matches!(command, Command::Migrate)
                && !std::path::Path::new(path).exists()
            {
                return Err(Failure::new(format!(
                    "the SQLite database {path} does not exist; {}",
                    migrate_hint(settings.database.tables)
                )));
            }
            let db = restflow_auth::sql::SqliteDatabase::connect(url)
                .await
                .map_err(connect_failure)?;
            sqlite::run(&db, settings, command).await
        }
        Some(Backend::Postgres) => {
            let db = restflow_auth::sql::PostgresDatabase::connect(url)
                .await
                .map_err(connect_failure)?;
            postgres::run(&db, settings, command).await
        }
        _ => Err(Failure::new(
            "database.url must be a `sqlite:` or `postgres:` URL",
        )),
    }
}

fn connect_failure(e: sqlx::Error) -> Failure {
    // sqlx's parse errors name the part that is wrong, not the password.
    Failure::new(format!("cannot use the database URL: {e}"))
}

/// One line of `check`'s report.
fn report(ok: bool, what: &str, detail: &str) {
    println!("{}  {what}: {detail}", if ok { "ok  " } else { "FAIL" });
}

macro_rules! commands {
    ($module:ident, $db:ty, $blacklist:ty) => {
        mod $module {
            use std::process::ExitCode;

            use restflow_auth::UserStore as _;
            use restflow_auth::database::Tables;
            use restflow_auth::jwt::Blacklist as _;
            use restflow_auth::session::SessionStore as _;
            use restflow_auth::sql::{SqlTokens, SqlUsers};
            use restflow_auth::token::TokenStore as _;
            use restflow_auth::{AuthUser as _, Settings};

            use super::{
                User, hash, is_missing_table, migrate_hint, no_user, report, store_failure,
                token_table, user_table,
            };
            use crate::cli::Command;
            use crate::{Failure, Result, prompt};

            type Db = restflow_auth::sql::Database<$db>;

            pub(super) async fn run(
                db: &Db,
                settings: &Settings,
                command: Command,
            ) -> Result<ExitCode> {
                let tables = settings.database.tables;
                match command {
                    Command::Migrate => migrate(db, tables).await,
                    Command::Createuser {
                        username,
                        staff,
                        superuser,
                        inactive,
                        input,
                    } => {
                        create_user(
                            db,
                            settings,
                            &username,
                            (!inactive, staff || superuser, superuser),
                            input.noinput,
                        )
                        .await
                    }
                    Command::Createsuperuser { username, input } => {
                        let username = match username {
                            Some(u) => u,
                            None if input.noinput => {
                                return Err(Failure::new("--noinput needs --username"));
                            }
                            None => prompt::username()?,
                        };
                        create_user(db, settings, &username, (true, true, true), input.noinput)
                            .await
                    }
                    Command::Changepassword { username, input } => {
                        change_password(db, settings, &username, input.noinput).await
                    }
                    Command::Deactivate { username } => deactivate(db, tables, &username).await,
                    Command::Createtoken { username, reset } => {
                        create_token(db, tables, &username, reset).await
                    }
                    Command::Flushexpired => flush_expired(db, tables).await,
                    Command::Check => check(db, settings).await,
                    Command::Genkey { .. } | Command::Jwks => {
                        Err(Failure::new("this command needs no database"))
                    }
                }
            }

            fn users(db: &Db, tables: Tables) -> Result<SqlUsers<User, $db>> {
                db.users::<User>(user_table(tables))
                    .map_err(|e| Failure::new(e.to_string()))
            }

            fn tokens(db: &Db, tables: Tables) -> Result<SqlTokens<i64, $db>> {
                db.tokens::<i64>(token_table(tables))
                    .map_err(|e| Failure::new(e.to_string()))
            }

            async fn find(
                users: &SqlUsers<User, $db>,
                tables: Tables,
                username: &str,
            ) -> Result<User> {
                users
                    .find_by_username(username)
                    .await
                    .map_err(|e| store_failure("users", tables, &e))?
                    .ok_or_else(|| no_user(username))
            }

            async fn migrate(db: &Db, tables: Tables) -> Result<ExitCode> {
                if tables == Tables::Django {
                    return Err(Failure::new(
                        "database.tables is `django`: Django owns that schema, so run Django's `manage.py migrate` (restflow-auth creates no Django table)",
                    ));
                }
                db.migrate().await.map_err(|e| {
                    Failure::new(format!("cannot create the tables: {e}"))
                })?;
                println!(
                    "Created the restflow-auth tables (restflow_user, restflow_token, restflow_session, restflow_blacklisted_token), or found them in place."
                );
                Ok(ExitCode::SUCCESS)
            }

            async fn create_user(
                db: &Db,
                settings: &Settings,
                username: &str,
                (active, staff, superuser): (bool, bool, bool),
                noinput: bool,
            ) -> Result<ExitCode> {
                let tables = settings.database.tables;
                prompt::check_username(username)?;
                let users = users(db, tables)?;
                let exists = |username: &str| {
                    Failure::new(format!("a user named {username} already exists"))
                };
                // Asked before the password, so nobody types one for nothing.
                if users
                    .find_by_username(username)
                    .await
                    .map_err(|e| store_failure("users", tables, &e))?
                    .is_some()
                {
                    return Err(exists(username));
                }
                let password = prompt::new_password(noinput, username)?;
                let hash = hash(settings, password).await?;
                let user = users
                    .create_user(username, &hash, active, staff, superuser)
                    .await
                    .map_err(|e| store_failure("users", tables, &e))?
                    .ok_or_else(|| exists(username))?;
                let kind = if superuser {
                    "Superuser"
                } else if staff {
                    "Staff user"
                } else {
                    "User"
                };
                let inactive = if active { "" } else { " (inactive)" };
                println!("{kind} {} created{inactive}, id {}.", user.username(), user.id());
                Ok(ExitCode::SUCCESS)
            }

            async fn change_password(
                db: &Db,
                settings: &Settings,
                username: &str,
                noinput: bool,
            ) -> Result<ExitCode> {
                let tables = settings.database.tables;
                let users = users(db, tables)?;
                let user = find(&users, tables, username).await?;
                let password = prompt::new_password(noinput, username)?;
                let hash = hash(settings, password).await?;
                // Compare-and-swap on the old hash: a concurrent change is
                // not overwritten silently.
                let changed = users
                    .set_password_hash(user.id(), &user.password, &hash)
                    .await
                    .map_err(|e| store_failure("users", tables, &e))?;
                if !changed {
                    return Err(Failure::new(format!(
                        "the password of {username} changed meanwhile (or the user went): nothing was done; try again"
                    )));
                }
                println!("Password changed successfully for user {username}.");
                Ok(ExitCode::SUCCESS)
            }

            async fn deactivate(db: &Db, tables: Tables, username: &str) -> Result<ExitCode> {
                let users = users(db, tables)?;
                let user = find(&users, tables, username).await?;
                if !user.is_active {
                    println!("User {username} is already inactive.");
                    return Ok(ExitCode::SUCCESS);
                }
                if !users
                    .set_active(user.id(), false)
                    .await
                    .map_err(|e| store_failure("users", tables, &e))?
                {
                    return Err(no_user(username));
                }
                println!("User {username} deactivated.");
                Ok(ExitCode::SUCCESS)
            }

            async fn create_token(
                db: &Db,
                tables: Tables,
                username: &str,
                reset: bool,
            ) -> Result<ExitCode> {
                let users = users(db, tables)?;
                let user = find(&users, tables, username).await?;
                let tokens = tokens(db, tables)?;
                let fail = |e: restflow_auth::AuthError| store_failure("tokens", tables, &e);
                let key = if reset {
                    tokens.issue(user.id()).await.map_err(fail)?
                } else if tables == Tables::Django {
                    // DRF's table keeps keys: get or create.
                    tokens.obtain(user.id()).await.map_err(fail)?
                } else if tokens.has_key(user.id()).await.map_err(fail)? {
                    return Err(Failure::new(format!(
                        "{username} already has a token, and restflow_token keeps only its SHA-256 digest, so it cannot be shown again: run `restflow-auth createtoken {username} --reset` to replace it"
                    )));
                } else {
                    tokens.issue(user.id()).await.map_err(fail)?
                };
                if !user.is_active {
                    eprintln!(
                        "note: {username} is inactive: the token authenticates nobody until the user is active again"
                    );
                }
                println!("{key}");
                Ok(ExitCode::SUCCESS)
            }

            async fn flush_expired(db: &Db, tables: Tables) -> Result<ExitCode> {
                let fail = |e: restflow_auth::AuthError| store_failure("flushexpired", tables, &e);
                if tables == Tables::Restflow {
                    let n = db.cleanup().await.map_err(fail)?;
                    println!("{n} expired rows deleted (sessions and blacklisted tokens).");
                    return Ok(ExitCode::SUCCESS);
                }
                // Django's tables: what `clearsessions` and simplejwt's
                // `flushexpiredtokens` delete, for the tables that exist.
                let present = |t: &'static str| async move { matches!(count(db, t).await, Ok(Some(_))) };
                if present("django_session").await {
                    let n = db.django_clear_sessions().await.map_err(fail)?;
                    println!("{n} ended sessions deleted (django_session).");
                } else {
                    println!("note: no django_session table: no sessions to clear");
                }
                if present("token_blacklist_outstandingtoken").await
                    && present("token_blacklist_blacklistedtoken").await
                {
                    let n = db.simplejwt_flush_expired().await.map_err(fail)?;
                    println!("{n} expired outstanding tokens deleted, with their blacklist rows (token_blacklist_*).");
                } else {
                    println!("note: no simplejwt blacklist tables: no tokens to flush");
                }
                Ok(ExitCode::SUCCESS)
            }

            /// `SELECT COUNT(*)` of `table`: `Ok(None)` when it is missing.
            async fn count(db: &Db, table: &str) -> std::result::Result<Option<i64>, String> {
                match sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(db.pool())
                    .await
                {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if is_missing_table(&e.to_string()) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            }

            async fn check(db: &Db, settings: &Settings) -> Result<ExitCode> {
                let tables = settings.database.tables;
                let mut ok = true;
                if let Err(e) = sqlx::query("SELECT 1").execute(db.pool()).await {
                    report(false, "database", &format!("cannot connect: {e}"));
                    return Ok(ExitCode::FAILURE);
                }
                report(true, "database", &format!("connected ({})", <$db as sqlx::Database>::NAME));
                // (what, table, required, what it is for)
                let list: &[(&str, &str, bool, &str)] = match tables {
                    Tables::Restflow => &[
                        ("users", "restflow_user", true, ""),
                        ("tokens", "restflow_token", true, ""),
                        ("sessions", "restflow_session", true, ""),
                        ("blacklist", "restflow_blacklisted_token", true, ""),
                    ],
                    Tables::Django => &[
                        ("users", "auth_user", true, ""),
                        ("tokens", "authtoken_token", true, ""),
                        ("sessions", "django_session", false, "needed only for Django's sessions"),
                        ("blacklist", "token_blacklist_blacklistedtoken", false, "needed only for simplejwt's blacklist"),
                    ],
                };
                for (what, table, required, purpose) in list {
                    match count(db, table).await {
                        Ok(Some(n)) => report(true, what, &format!("{table}, {n} rows")),
                        Ok(None) if *required => {
                            ok = false;
                            report(false, what, &format!("the table {table} is missing; {}", migrate_hint(tables)));
                        }
                        Ok(None) => println!("note  {what}: no table {table} ({purpose})"),
                        Err(e) => {
                            ok = false;
                            report(false, what, &format!("{table} does not answer: {e}"));
                        }
                    }
                }
                // The stores' own queries: every mapped column is there.
                let probes: [(&str, std::result::Result<(), restflow_auth::AuthError>); 2] = [
                    ("users", match users(db, tables) {
                        Ok(u) => u.find_by_username("").await.map(drop),
                        Err(e) => return Err(e),
                    }),
                    ("tokens", match tokens(db, tables) {
                        Ok(t) => t.user_for("restflow-auth-check").await.map(drop),
                        Err(e) => return Err(e),
                    }),
                ];
                for (what, result) in probes {
                    if let Err(e) = result {
                        let cause = e.cause().unwrap_or("").to_owned();
                        if !is_missing_table(&cause) {
                            ok = false;
                            report(false, what, &format!("the table does not fit the store: {cause}"));
                        }
                    }
                }
                if tables == Tables::Restflow {
                    for (what, result) in [
                        ("sessions", db.sessions().load("restflow-auth-check").await.map(drop)),
                        (
                            "blacklist",
                            <$blacklist>::from_database(db)
                                .is_blacklisted("restflow-auth-check")
                                .await
                                .map(drop),
                        ),
                    ] {
                        if let Err(e) = result {
                            let cause = e.cause().unwrap_or("").to_owned();
                            if !is_missing_table(&cause) {
                                ok = false;
                                report(false, what, &format!("the table does not fit the store: {cause}"));
                            }
                        }
                    }
                }
                let jwt = &settings.jwt;
                if jwt.signing_key.is_some() || !jwt.keys.is_empty() {
                    // The whole key set, as the service builds it: every
                    // key loads, pairs are proved, the active key signs.
                    match restflow_auth::jwt::KeySet::from_settings(jwt) {
                        Ok(set) => report(
                            true,
                            "jwt",
                            &format!(
                                "{} key(s) load; \"{}\" signs",
                                set.kids().count(),
                                set.active_kid()
                            ),
                        ),
                        Err(e) => {
                            ok = false;
                            report(false, "jwt", &e.to_string());
                        }
                    }
                } else {
                    println!("note  jwt: no jwt.signing_key (needed only for the built-in JWT)");
                }
                if ok {
                    println!("All checks passed.");
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("restflow-auth: check found problems (the FAIL lines above)");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    };
}

commands!(sqlite, sqlx::Sqlite, restflow_auth::jwt::SqliteBlacklist);
commands!(
    postgres,
    sqlx::Postgres,
    restflow_auth::jwt::PostgresBlacklist
);
