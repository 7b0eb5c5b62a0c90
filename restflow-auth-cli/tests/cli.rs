//! The `restflow-auth` command end to end: the built binary run on a
//! temporary SQLite file and, when `RESTFLOW_TEST_DATABASE_URL` is set, in
//! a PostgreSQL schema of each test's own; on the crate's tables and on
//! Django's. What the command writes is read back through the library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use restflow_auth::AuthUser;
use restflow_auth::password::verify_password;
use restflow_auth::sql::{PostgresDatabase, SqliteDatabase, TokenTable, UserTable};
use restflow_auth::token::TokenStore as _;
use restflow_auth::{Settings, UserStore as _};
use sqlx::Connection as _;

#[derive(Clone, Debug, AuthUser)]
struct User {
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

// ---------------------------------------------------------------- harness

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("restflow_cli_{name}_{}_{nanos}", std::process::id())
}

/// A directory of the test's own (the command's working directory, so no
/// `restflow.toml` of the checkout is read), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("auth.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
    /// Failed with a message on stderr containing `text`.
    fn fails_with(self, text: &str) -> Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure; stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}: {}",
            self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The command, with a clean environment: only `env` is set.
fn cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_restflow-auth"));
    cmd.env_clear()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap().into()
}

fn pg_url() -> Option<String> {
    match std::env::var("RESTFLOW_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "RESTFLOW_TEST_DATABASE_URL is not set but RESTFLOW_REQUIRE_SERVICES=1"
            );
            eprintln!("skipped: RESTFLOW_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// One runtime for the whole binary: a pool opened on it keeps its
/// connections there (a runtime per call would end them under the pool).
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A PostgreSQL schema of this test alone, dropped at the end; `url`
/// points its `search_path` there.
struct Schema {
    base: String,
    name: String,
    url: String,
}

impl Schema {
    fn new(base: &str, name: &str) -> Self {
        let name = unique(name);
        rt().block_on(async {
            let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        Schema {
            base: base.to_owned(),
            name,
            url,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        rt().block_on(async {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&self.base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// The library's view of the database the command writes.
enum Lib {
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

macro_rules! each {
    ($lib:expr, $db:ident => $body:expr) => {
        match $lib {
            Lib::Sqlite($db) => $body,
            Lib::Postgres($db) => $body,
        }
    };
}

impl Lib {
    fn open(url: &str) -> Self {
        rt().block_on(async {
            if url.starts_with("sqlite:") {
                Lib::Sqlite(SqliteDatabase::connect(url).await.unwrap())
            } else {
                Lib::Postgres(PostgresDatabase::connect(url).await.unwrap())
            }
        })
    }

    fn exec(&self, statements: &[&str]) {
        rt().block_on(async {
            for s in statements {
                each!(self, db => drop(sqlx::query(s).execute(db.pool()).await.unwrap()));
            }
        });
    }

    fn user(&self, django: bool, name: &str) -> Option<User> {
        let table = if django {
            UserTable::django()
        } else {
            UserTable::restflow()
        };
        rt().block_on(async {
            each!(self, db => db.users::<User>(table).unwrap().find_by_username(name).await.unwrap())
        })
    }

    /// Whose key `key` is.
    fn token_user(&self, django: bool, key: &str) -> Option<i64> {
        let table = if django {
            TokenTable::drf()
        } else {
            TokenTable::restflow()
        };
        rt().block_on(async {
            each!(self, db => db.tokens::<i64>(table).unwrap().user_for(key).await.unwrap())
        })
    }

    fn strings(&self, q: &str) -> Vec<String> {
        rt().block_on(async {
            each!(self, db => sqlx::query_scalar::<_, String>(q).fetch_all(db.pool()).await.unwrap())
        })
    }

    fn stored_keys(&self, table: &str) -> Vec<String> {
        rt().block_on(async {
            let q = format!("SELECT key FROM {table}");
            each!(self, db => sqlx::query_scalar::<_, String>(&q).fetch_all(db.pool()).await.unwrap())
        })
    }
}

// Django 5's DDL for auth_user and authtoken_token, as `manage.py migrate`
// makes them (the same as tests/it/stores.rs of the library).
const DJANGO_SQLITE: &[&str] = &[
    r#"CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)"#,
    r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED)"#,
    r#"CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)"#,
    r#"CREATE TABLE "token_blacklist_outstandingtoken" ("token" text NOT NULL, "created_at" datetime NULL, "expires_at" datetime NOT NULL, "user_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED, "jti" varchar(255) NOT NULL UNIQUE, "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT)"#,
    r#"CREATE TABLE "token_blacklist_blacklistedtoken" ("blacklisted_at" datetime NOT NULL, "token_id" bigint NOT NULL UNIQUE REFERENCES "token_blacklist_outstandingtoken" ("id") DEFERRABLE INITIALLY DEFERRED, "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT)"#,
    // Rows as Django writes them: live and ended, one expired token blacklisted.
    "INSERT INTO django_session VALUES ('live', 'x', '2099-01-01 00:00:00')",
    "INSERT INTO django_session VALUES ('ended', 'x', '2020-01-01 00:00:00.123456')",
    "INSERT INTO token_blacklist_outstandingtoken (token, created_at, expires_at, user_id, jti, id) VALUES ('t', NULL, '2099-01-01 00:00:00', NULL, 'live', 1)",
    "INSERT INTO token_blacklist_outstandingtoken (token, created_at, expires_at, user_id, jti, id) VALUES ('t', NULL, '2020-01-01 00:00:00', NULL, 'expired', 2)",
    "INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id, id) VALUES ('2020-01-01 00:00:00', 2, 1)",
];
const DJANGO_POSTGRES: &[&str] = &[
    r#"CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL, "is_superuser" boolean NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL)"#,
    r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED)"#,
    "CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, session_data text NOT NULL, expire_date timestamp with time zone NOT NULL)",
    "CREATE TABLE token_blacklist_outstandingtoken (id bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, token text NOT NULL, created_at timestamp with time zone NULL, expires_at timestamp with time zone NOT NULL, user_id integer NULL REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED, jti varchar(255) NOT NULL UNIQUE)",
    "CREATE TABLE token_blacklist_blacklistedtoken (id bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, blacklisted_at timestamp with time zone NOT NULL, token_id bigint NOT NULL UNIQUE REFERENCES token_blacklist_outstandingtoken (id))",
    "INSERT INTO django_session VALUES ('live', 'x', '2099-01-01 00:00:00+00')",
    "INSERT INTO django_session VALUES ('ended', 'x', '2020-01-01 00:00:00.123456+00')",
    "INSERT INTO token_blacklist_outstandingtoken (id, token, expires_at, jti) VALUES (1, 't', '2099-01-01 00:00:00+00', 'live')",
    "INSERT INTO token_blacklist_outstandingtoken (id, token, expires_at, jti) VALUES (2, 't', '2020-01-01 00:00:00+00', 'expired')",
    "INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) VALUES ('2020-01-01 00:00:00+00', 2)",
];

// ------------------------------------------------------------ the flows

/// Everything on the crate's tables, through `RESTFLOW_DATABASE__URL`.
fn restflow_flow(dir: &Path, url: &str) {
    let db = [("RESTFLOW_DATABASE__URL", url)];
    let with_pw = |pw: &'static str| {
        [
            ("RESTFLOW_DATABASE__URL", url),
            ("RESTFLOW_CLI_PASSWORD", pw),
        ]
    };

    // An empty database: check says what is missing; migrate makes it right.
    let lib = Lib::open(url); // SQLite: the file now exists, empty
    lib.exec(&["SELECT 1"]);
    let r = cli(dir, &["check"], &db);
    assert_ne!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "FAIL  users: the table restflow_user is missing; run `restflow-auth migrate` first"
        ),
        "{}",
        r.stdout
    );
    cli(dir, &["createuser", "alice", "--noinput"], &with_pw("pw"))
        .fails_with("run `restflow-auth migrate` first");
    cli(dir, &["migrate"], &db).ok();
    cli(dir, &["migrate"], &db).ok(); // idempotent
    let r = cli(dir, &["check"], &db).ok();
    assert!(r.stdout.contains("All checks passed."), "{}", r.stdout);

    // createuser: the stored hash verifies the password.
    let r = cli(
        dir,
        &["createuser", "alice", "--noinput"],
        &with_pw("correct horse"),
    )
    .ok();
    assert!(r.stdout.contains("User alice created"), "{}", r.stdout);
    assert!(!r.stdout.contains("correct horse") && !r.stderr.contains("correct horse"));
    let alice = lib.user(false, "alice").unwrap();
    assert!(
        alice.password.starts_with("$argon2id$"),
        "{}",
        alice.password
    );
    assert!(verify_password("correct horse", &alice.password).unwrap());
    assert!(!verify_password("wrong", &alice.password).unwrap());
    assert!(alice.is_active && !alice.is_staff && !alice.is_superuser);

    cli(
        dir,
        &["createuser", "alice", "--noinput"],
        &with_pw("other"),
    )
    .fails_with("a user named alice already exists");
    cli(dir, &["createuser", "bob", "--noinput"], &db)
        .fails_with("--noinput needs the password in $RESTFLOW_CLI_PASSWORD");
    cli(dir, &["createuser", "bob", "--noinput"], &with_pw(""))
        .fails_with("blank passwords aren't allowed");
    cli(
        dir,
        &["createuser", "bad name", "--noinput"],
        &with_pw("pw"),
    )
    .fails_with("the username contains ' '");
    // Without a terminal the prompt cannot be shown: said so, nothing made.
    cli(dir, &["createuser", "bob"], &db).fails_with("use --noinput");
    assert!(lib.user(false, "bob").is_none());

    cli(
        dir,
        &["createuser", "carol", "--noinput", "--staff", "--inactive"],
        &with_pw("pw"),
    )
    .ok();
    let carol = lib.user(false, "carol").unwrap();
    assert!(!carol.is_active && carol.is_staff && !carol.is_superuser);
    cli(dir, &["createsuperuser", "--noinput"], &with_pw("pw"))
        .fails_with("--noinput needs --username");
    cli(
        dir,
        &["createsuperuser", "--username", "root", "--noinput"],
        &with_pw("pw"),
    )
    .ok();
    let root = lib.user(false, "root").unwrap();
    assert!(root.is_active && root.is_staff && root.is_superuser);

    // changepassword
    cli(
        dir,
        &["changepassword", "alice", "--noinput"],
        &with_pw("battery staple"),
    )
    .ok();
    let alice = lib.user(false, "alice").unwrap();
    assert!(verify_password("battery staple", &alice.password).unwrap());
    assert!(!verify_password("correct horse", &alice.password).unwrap());
    cli(
        dir,
        &["changepassword", "nobody", "--noinput"],
        &with_pw("x"),
    )
    .fails_with("no user named nobody");

    // createtoken: printed once (the table keeps digests), --reset replaces it.
    let key = cli(dir, &["createtoken", "alice"], &db)
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(key.len(), 40, "{key}");
    assert_eq!(lib.token_user(false, &key), Some(alice.id));
    assert_eq!(
        lib.stored_keys("restflow_token"),
        [restflow_digest(&key)],
        "only the digest is stored"
    );
    let r = cli(dir, &["createtoken", "alice"], &db)
        .fails_with("already has a token")
        .fails_with("createtoken alice --reset");
    assert!(r.stdout.is_empty());
    let new = cli(dir, &["createtoken", "alice", "--reset"], &db)
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_ne!(new, key);
    assert_eq!(lib.token_user(false, &new), Some(alice.id));
    assert_eq!(lib.token_user(false, &key), None, "the old key is gone");
    cli(dir, &["createtoken", "nobody"], &db).fails_with("no user named nobody");

    // deactivate
    cli(dir, &["deactivate", "alice"], &db).ok();
    assert!(!lib.user(false, "alice").unwrap().is_active);
    cli(dir, &["deactivate", "alice"], &db).ok(); // already: fine
    cli(dir, &["deactivate", "nobody"], &db).fails_with("no user named nobody");

    // flushexpired: the expired rows go, the live ones stay.
    lib.exec(&[
        "INSERT INTO restflow_session (session_key, user_id, auth_hash, expires_at) VALUES ('old', '1', 'h', 1)",
        "INSERT INTO restflow_session (session_key, user_id, auth_hash, expires_at) VALUES ('live', '1', 'h', 99999999999)",
        "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES ('gone', 1, 1)",
        "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES ('kept', 99999999999, 1)",
    ]);
    let r = cli(dir, &["flushexpired"], &db).ok();
    assert!(
        r.stdout.starts_with("2 expired rows deleted"),
        "{}",
        r.stdout
    );
    let r = cli(dir, &["flushexpired"], &db).ok();
    assert!(
        r.stdout.starts_with("0 expired rows deleted"),
        "{}",
        r.stdout
    );

    // A broken table: check says so.
    lib.exec(&["DROP TABLE restflow_blacklisted_token"]);
    let r = cli(dir, &["check"], &db);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout
            .contains("FAIL  blacklist: the table restflow_blacklisted_token is missing")
            && r.stdout.contains("ok    users: restflow_user, 3 rows"),
        "{}",
        r.stdout
    );
    cli(dir, &["migrate"], &db).ok();
    cli(dir, &["check"], &db).ok();
}

fn restflow_digest(key: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Django's `auth_user` and DRF's `authtoken_token`, made as Django makes them.
fn django_flow(dir: &Path, url: &str, ddl: &[&str]) {
    let env = [
        ("RESTFLOW_DATABASE__URL", url),
        ("RESTFLOW_DATABASE__TABLES", "django"),
    ];
    let with_pw = |pw: &'static str| {
        [
            ("RESTFLOW_DATABASE__URL", url),
            ("RESTFLOW_DATABASE__TABLES", "django"),
            ("RESTFLOW_CLI_PASSWORD", pw),
        ]
    };
    let lib = Lib::open(url);
    lib.exec(&["SELECT 1"]);
    cli(dir, &["check"], &env).fails_with("check found problems");
    cli(dir, &["migrate"], &env).fails_with("run Django's `manage.py migrate`");
    lib.exec(ddl);
    let r = cli(dir, &["check"], &env).ok();
    assert!(
        r.stdout.contains("ok    users: auth_user, 0 rows"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("ok    sessions: django_session, 2 rows")
            && r.stdout
                .contains("ok    blacklist: token_blacklist_blacklistedtoken, 1 rows"),
        "{}",
        r.stdout
    );

    // A hash Django reads: pbkdf2_sha256 (Django cannot read argon2id).
    let r = cli(
        dir,
        &["createuser", "alice", "--noinput", "--staff"],
        &with_pw("correct horse"),
    )
    .ok();
    assert!(r.stderr.contains("pbkdf2_sha256"), "{}", r.stderr);
    let alice = lib.user(true, "alice").unwrap();
    assert!(
        alice.password.starts_with("pbkdf2_sha256$1000000$"),
        "{}",
        alice.password
    );
    assert!(verify_password("correct horse", &alice.password).unwrap());
    assert!(alice.is_active && alice.is_staff && !alice.is_superuser);
    cli(dir, &["createuser", "alice", "--noinput"], &with_pw("x"))
        .fails_with("a user named alice already exists");
    cli(
        dir,
        &["createsuperuser", "--username", "root", "--noinput"],
        &with_pw("pw"),
    )
    .ok();
    assert!(lib.user(true, "root").unwrap().is_superuser);

    // DRF's drf_create_token: get or create, keys kept as DRF keeps them.
    let key = cli(dir, &["createtoken", "alice"], &env)
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(key.len(), 40);
    let again = cli(dir, &["createtoken", "alice"], &env)
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(again, key, "the same key, as drf_create_token gives");
    assert_eq!(lib.stored_keys("authtoken_token"), [key.as_str()]);
    assert_eq!(lib.token_user(true, &key), Some(alice.id));
    let new = cli(dir, &["createtoken", "alice", "--reset"], &env)
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_ne!(new, key);
    assert_eq!(lib.stored_keys("authtoken_token"), [new.as_str()]);
    assert_eq!(lib.token_user(true, &new), Some(alice.id));

    cli(
        dir,
        &["changepassword", "alice", "--noinput"],
        &with_pw("battery staple"),
    )
    .ok();
    assert!(verify_password("battery staple", &lib.user(true, "alice").unwrap().password).unwrap());
    cli(dir, &["deactivate", "alice"], &env).ok();
    assert!(!lib.user(true, "alice").unwrap().is_active);
    // flushexpired: what clearsessions and flushexpiredtokens delete (the
    // expired token's blacklist row first, as Django's ORM cascades).
    let r = cli(dir, &["flushexpired"], &env).ok();
    assert!(
        r.stdout.contains("1 ended sessions deleted"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 expired outstanding tokens deleted"),
        "{}",
        r.stdout
    );
    assert_eq!(
        lib.strings("SELECT session_key FROM django_session"),
        ["live"]
    );
    assert_eq!(
        lib.strings("SELECT jti FROM token_blacklist_outstandingtoken"),
        ["live"]
    );
    assert!(
        lib.strings("SELECT 'x' FROM token_blacklist_blacklistedtoken")
            .is_empty()
    );
}

// ------------------------------------------------------------ the tests

#[test]
fn sqlite_on_the_crates_tables() {
    let dir = TempDir::new("sqlite");
    // No file yet: check fails and creates nothing.
    let url = dir.sqlite_url();
    cli(dir.path(), &["check"], &[("RESTFLOW_DATABASE__URL", &url)]).fails_with("does not exist");
    assert!(!dir.path().join("auth.db").exists());
    restflow_flow(dir.path(), &url);
}

#[test]
fn sqlite_on_djangos_tables() {
    let dir = TempDir::new("sqlite_django");
    django_flow(dir.path(), &dir.sqlite_url(), DJANGO_SQLITE);
}

#[test]
fn postgres_on_the_crates_tables() {
    let Some(base) = pg_url() else { return };
    let dir = TempDir::new("pg");
    let schema = Schema::new(&base, "crate");
    restflow_flow(dir.path(), &schema.url);
}

#[test]
fn postgres_on_djangos_tables() {
    let Some(base) = pg_url() else { return };
    let dir = TempDir::new("pg_django");
    let schema = Schema::new(&base, "django");
    django_flow(dir.path(), &schema.url, DJANGO_POSTGRES);
}

#[test]
fn settings_come_from_the_file_the_variables_and_the_flags() {
    let dir = TempDir::new("settings");
    let url = dir.sqlite_url();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, format!("[database]\nurl = \"{url}\"\n")).unwrap();
    let file = file.to_str().unwrap();
    cli(dir.path(), &["--settings", file, "migrate"], &[]).ok();
    cli(dir.path(), &["check", "--settings", file], &[]).ok();
    // $RESTFLOW_CONFIG, as the library reads it; ./restflow.toml too.
    cli(dir.path(), &["check"], &[("RESTFLOW_CONFIG", file)]).ok();
    std::fs::copy(file, dir.path().join("restflow.toml")).unwrap();
    cli(dir.path(), &["check"], &[]).ok();
    std::fs::remove_file(dir.path().join("restflow.toml")).unwrap();
    // --database wins over the settings.
    let other = TempDir::new("settings_other");
    let other_url = other.sqlite_url();
    cli(
        dir.path(),
        &["--settings", file, "--database", &other_url, "check"],
        &[],
    )
    .fails_with("does not exist");
    cli(
        dir.path(),
        &["check"],
        &[("RESTFLOW_DATABASE__URL", &other_url)],
    )
    .fails_with("does not exist");
    // What is wrong, in plain words.
    cli(dir.path(), &["check"], &[]).fails_with("no database: set `[database] url`");
    cli(
        dir.path(),
        &["--database", "mysql://u:hunter2@db/app", "check"],
        &[],
    )
    .fails_with("the scheme `mysql` is not supported");
    let r = cli(
        dir.path(),
        &["check"],
        &[("RESTFLOW_DATABASE__URL", "mysql://u:hunter2@db/app")],
    )
    .fails_with("invalid setting `database.url`");
    assert!(!r.stderr.contains("hunter2"), "the password is not printed");
    cli(dir.path(), &["--settings", "missing.toml", "check"], &[])
        .fails_with("cannot read settings file missing.toml");
    std::fs::write(dir.path().join("bad.toml"), "[database]\nurl = 1\n").unwrap();
    cli(dir.path(), &["--settings", "bad.toml", "check"], &[])
        .fails_with("invalid settings in bad.toml");
    cli(
        dir.path(),
        &["check"],
        &[("RESTFLOW_DATABASE__TABLES", "mongo")],
    )
    .fails_with("unknown variant `mongo`");
    // An unreachable PostgreSQL fails with a message, no panic.
    let r = cli(
        dir.path(),
        &["check"],
        &[(
            "RESTFLOW_DATABASE__URL",
            "postgres://u:hunter2@127.0.0.1:1/db",
        )],
    );
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("FAIL  database: cannot connect"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"));
    assert!(!r.stderr.contains("panicked"));
    let r = cli(
        dir.path(),
        &["deactivate", "alice"],
        &[(
            "RESTFLOW_DATABASE__URL",
            "postgres://u:hunter2@127.0.0.1:1/db",
        )],
    )
    .fails_with("cannot reach the database");
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    // Usage errors are clap's (exit 2).
    assert_eq!(cli(dir.path(), &["genkey", "dsa"], &[]).code, Some(2));
    assert_eq!(
        cli(dir.path(), &["genkey", "rsa", "--bits", "1024"], &[]).code,
        Some(2)
    );
}

/// Settings for `algorithm` with these keys, validated as the library does.
fn jwt_settings(algorithm: &str, private: &str, public: Option<&str>) -> Settings {
    let mut env = vec![
        ("RESTFLOW_JWT__ALGORITHM".to_owned(), algorithm.to_owned()),
        ("RESTFLOW_JWT__SIGNING_KEY".to_owned(), private.to_owned()),
    ];
    if let Some(p) = public {
        env.push(("RESTFLOW_JWT__VERIFYING_KEY".to_owned(), p.to_owned()));
    }
    Settings::from_sources(None, env).unwrap()
}

#[test]
fn genkey_makes_keys_the_library_loads_and_jwks_publishes_only_public_parts() {
    let dir = TempDir::new("keys");
    // HMAC: a secret long enough for HS512, different every time.
    let secret = cli(dir.path(), &["genkey", "hmac"], &[])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(secret.len() >= 64, "{secret}");
    assert_ne!(
        secret,
        cli(dir.path(), &["genkey", "hmac"], &[]).ok().stdout.trim()
    );
    for alg in ["HS256", "HS384", "HS512"] {
        let s = jwt_settings(alg, &secret, None);
        restflow_auth::jwt::JwtKeys::from_settings(&s.jwt).unwrap();
    }
    cli(dir.path(), &["genkey", "hmac", "--bits", "2048"], &[])
        .fails_with("--bits applies to rsa keys only");
    let r = cli(
        dir.path(),
        &["jwks"],
        &[("RESTFLOW_JWT__SIGNING_KEY", &secret)],
    )
    .fails_with("never published");
    assert!(!r.stderr.contains(&secret) && r.stdout.is_empty());

    for (kind, algs, kty) in [
        ("rsa", &["RS256", "PS256", "RS512"][..], "RSA"),
        ("ec", &["ES256"][..], "EC"),
        ("ed25519", &["EdDSA"][..], "OKP"),
    ] {
        let public_path = dir.path().join(format!("{kind}.pub"));
        let r = cli(
            dir.path(),
            &[
                "genkey",
                kind,
                "--public-out",
                public_path.to_str().unwrap(),
            ],
            &[],
        )
        .ok();
        let private = r.stdout;
        let public = std::fs::read_to_string(&public_path).unwrap();
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{private}"
        );
        assert!(
            public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{public}"
        );
        // --public-out never overwrites.
        cli(
            dir.path(),
            &[
                "genkey",
                kind,
                "--public-out",
                public_path.to_str().unwrap(),
            ],
            &[],
        )
        .fails_with("cannot create");
        for alg in algs {
            // The library loads the pair and proves it (a signature made
            // with the private key verifies with the public one).
            let s = jwt_settings(alg, &private, Some(&public));
            let keys = restflow_auth::jwt::JwtKeys::from_settings(&s.jwt).unwrap();
            let sig = keys.sign(b"hello").unwrap();
            assert!(keys.verify(b"hello", &sig));

            let env = [
                ("RESTFLOW_JWT__ALGORITHM", *alg),
                ("RESTFLOW_JWT__SIGNING_KEY", private.as_str()),
                ("RESTFLOW_JWT__VERIFYING_KEY", public.as_str()),
            ];
            let out = cli(dir.path(), &["jwks"], &env).ok().stdout;
            let set: serde_json::Value = serde_json::from_str(&out).unwrap();
            let keys = set["keys"].as_array().unwrap();
            assert_eq!(keys.len(), 1);
            let jwk = keys[0].as_object().unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], *alg);
            assert_eq!(jwk["use"], "sig");
            for private_member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(
                    !jwk.contains_key(private_member),
                    "{private_member} in {out}"
                );
            }
            // kid is the RFC 7638 thumbprint: SHA-256 of the required
            // members, in lexicographic order, without whitespace.
            let required: &[&str] = match kty {
                "RSA" => &["e", "kty", "n"],
                "EC" => &["crv", "kty", "x", "y"],
                _ => &["crv", "kty", "x"],
            };
            let canonical = format!(
                "{{{}}}",
                required
                    .iter()
                    .map(|m| format!("\"{m}\":{}", jwk[*m]))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            use base64::Engine as _;
            use sha2::Digest as _;
            let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(canonical.as_bytes()));
            assert_eq!(jwk["kid"], thumbprint.as_str());
            // No byte of the private key in the output.
            let body: String = private
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            assert!(!out.contains(&body[body.len() - 20..]));
            // A verifier-only service (public key alone) publishes the same set.
            let public_only = [
                ("RESTFLOW_JWT__ALGORITHM", *alg),
                ("RESTFLOW_JWT__VERIFYING_KEY", public.as_str()),
            ];
            assert_eq!(cli(dir.path(), &["jwks"], &public_only).ok().stdout, out);
        }
        // A private key where the public one belongs is refused.
        let env = [
            ("RESTFLOW_JWT__ALGORITHM", algs[0]),
            ("RESTFLOW_JWT__VERIFYING_KEY", private.as_str()),
        ];
        let r = cli(dir.path(), &["jwks"], &env).fails_with("holds a private key");
        assert!(r.stdout.is_empty());
    }
    // A public key that is not the signing key's: the pair is refused.
    let other = dir.path().join("other.pub");
    let private = cli(
        dir.path(),
        &["genkey", "ec", "--public-out", other.to_str().unwrap()],
        &[],
    )
    .ok()
    .stdout;
    let wrong = std::fs::read_to_string(dir.path().join("ec.pub")).unwrap();
    let env = [
        ("RESTFLOW_JWT__ALGORITHM", "ES256"),
        ("RESTFLOW_JWT__SIGNING_KEY", private.as_str()),
        ("RESTFLOW_JWT__VERIFYING_KEY", wrong.as_str()),
    ];
    cli(dir.path(), &["jwks"], &env).fails_with("the keys are not a pair");
    cli(
        dir.path(),
        &["jwks"],
        &[("RESTFLOW_JWT__ALGORITHM", "ES256")],
    )
    .fails_with("jwt.verifying_key is not set");
    // Larger RSA keys.
    let r = cli(dir.path(), &["genkey", "rsa", "--bits", "3072"], &[]).ok();
    assert!(r.stdout.len() > 2400, "{}", r.stdout.len());
}

/// The prompts on a real terminal (`script` gives the command a pty): the
/// password is asked twice and not echoed; a mismatch is an error.
#[test]
fn interactive_prompts_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "`script` (util-linux) is missing but RESTFLOW_REQUIRE_SERVICES=1"
        );
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let dir = TempDir::new("tty");
    let url = dir.sqlite_url();
    cli(
        dir.path(),
        &["migrate"],
        &[("RESTFLOW_DATABASE__URL", &url)],
    )
    .ok();
    let bin = env!("CARGO_BIN_EXE_restflow-auth");
    // The input arrives after each prompt has turned echo off.
    let typed = |lines: &[&str], args: &str| -> Run {
        let feed: String = lines
            .iter()
            .map(|l| format!("sleep 1; printf '%s\\n' '{l}'; "))
            .collect();
        let shell = format!("({feed} sleep 1) | script -qec \"'{bin}' {args}\" /dev/null");
        Command::new("sh")
            .arg("-c")
            .arg(shell)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RESTFLOW_DATABASE__URL", &url)
            .output()
            .unwrap()
            .into()
    };
    let r = typed(&["tty-secret-1", "tty-secret-1"], "createuser dave");
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Password for dave:"), "{}", r.stdout);
    assert!(r.stdout.contains("Password (again):"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("tty-secret-1"),
        "the password was echoed: {}",
        r.stdout
    );
    let lib = Lib::open(&url);
    assert!(verify_password("tty-secret-1", &lib.user(false, "dave").unwrap().password).unwrap());

    let r = typed(&["one", "two"], "changepassword dave");
    assert_ne!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains("the two passwords didn't match"),
        "{}",
        r.stdout
    );
    assert!(verify_password("tty-secret-1", &lib.user(false, "dave").unwrap().password).unwrap());

    // createsuperuser asks the username (echoed), then the password.
    let r = typed(&["erin", "tty-secret-2", "tty-secret-2"], "createsuperuser");
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let erin = lib.user(false, "erin").unwrap();
    assert!(erin.is_superuser && verify_password("tty-secret-2", &erin.password).unwrap());
}

#[test]
fn the_sqlite_url_forms_are_accepted() {
    let dir = TempDir::new("forms");
    let path = dir.path().join("forms.db");
    let url = format!("sqlite:{}?mode=rwc", path.display());
    cli(dir.path(), &["--database", &url, "migrate"], &[]).ok();
    cli(dir.path(), &["--database", &url, "check"], &[]).ok();
    cli(
        dir.path(),
        &["--database", "sqlite::memory:", "migrate"],
        &[],
    )
    .ok();
}

/// A key set (`[[jwt.keys]]`, issue 14): `check` loads every key, `jwks`
/// prints the public set the service serves, each key under its kid.
#[test]
fn check_and_jwks_read_a_key_set() {
    let dir = TempDir::new("keyset");
    let key = |kind: &str| {
        let public = dir.path().join(format!("{kind}.pub"));
        let private = cli(
            dir.path(),
            &["genkey", kind, "--public-out", public.to_str().unwrap()],
            &[],
        )
        .ok()
        .stdout;
        (private, std::fs::read_to_string(public).unwrap())
    };
    let (old_private, old_public) = key("ec");
    let (new_private, _) = key("ed25519");
    let file = dir.path().join("restflow.toml");
    let write = |active: &str, old_has_private: bool| {
        let old = if old_has_private {
            format!("signing_key = '''{old_private}'''")
        } else {
            format!("verifying_key = '''{old_public}'''")
        };
        std::fs::write(
            &file,
            format!(
                "[database]\nurl = \"{}\"\n[jwt]\nactive_kid = \"{active}\"\n[[jwt.keys]]\nkid = \"2026-12\"\n{old}\n[[jwt.keys]]\nkid = \"2027-01\"\nsigning_key = '''{new_private}'''\n",
                dir.sqlite_url()
            ),
        )
        .unwrap();
    };
    write("2027-01", false);
    cli(dir.path(), &["migrate"], &[]).ok();
    let r = cli(dir.path(), &["check"], &[]).ok();
    assert!(
        r.stdout.contains("2 key(s) load; \"2027-01\" signs"),
        "{}",
        r.stdout
    );
    let out = cli(dir.path(), &["jwks"], &[]).ok().stdout;
    let set: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kids: Vec<_> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert_eq!(kids, [("2026-12", "ES256"), ("2027-01", "EdDSA")]);
    assert!(!out.contains("\"d\""), "{out}");
    // The retired key, public part only, cannot be the active one.
    write("2026-12", false);
    let r = cli(dir.path(), &["check"], &[]).fails_with("check found problems");
    assert!(r.stdout.contains("no private part"), "{}", r.stdout);
    cli(dir.path(), &["jwks"], &[]).fails_with("no private part");
    write("2026-12", true);
    cli(dir.path(), &["check"], &[]).ok();
}
