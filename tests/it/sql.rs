//! The SQL blacklists against real databases: SQLite in a temporary file,
//! PostgreSQL (`RESTFLOW_TEST_DATABASE_URL`) in a schema of the test's own.
//! The shared suite on both paths, the 32-way rotation race, cleanup of
//! expired rows, and failing closed when the database cannot be reached.

use std::str::FromStr;

use restflow_auth::jwt::{Blacklist, PostgresBlacklist, SqliteBlacklist};
use restflow_auth::prelude::*;
use sqlx::Connection;

use crate::blacklists::{later, race, suite};

pub(crate) fn database_url() -> Option<String> {
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

pub(crate) fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("restflow_test_{name}_{}_{nanos}", std::process::id())
}

/// A temporary SQLite file, removed on drop.
pub(crate) struct SqliteFile(std::path::PathBuf);

impl SqliteFile {
    pub(crate) fn new(name: &str) -> Self {
        SqliteFile(std::env::temp_dir().join(format!("{}.db", unique(name))))
    }
    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

pub(crate) async fn sqlite(file: &SqliteFile) -> SqliteBlacklist {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&file.url())
        .unwrap()
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(10));
    let bl = SqliteBlacklist::with_options(opts);
    bl.migrate().await.unwrap();
    bl
}

/// A schema of this test alone, dropped at the end.
pub(crate) struct Schema {
    url: String,
    name: String,
}

impl Schema {
    pub(crate) async fn new(url: &str, name: &str) -> Self {
        let name = unique(name);
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Schema {
            url: url.to_owned(),
            name,
        }
    }
    /// The schema's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    /// Connection options whose `search_path` is this schema.
    pub(crate) fn options(&self) -> sqlx::postgres::PgConnectOptions {
        sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.name.as_str())])
    }
    async fn blacklist(&self) -> PostgresBlacklist {
        let opts = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.name.as_str())]);
        let bl = PostgresBlacklist::with_options(opts);
        bl.migrate().await.unwrap();
        bl
    }
}

/// The schema is dropped here, also when a test fails.
impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_suite_and_the_race() {
    let file = SqliteFile::new("suite");
    suite(&sqlite(&file).await).await;
    let file = SqliteFile::new("race");
    race(sqlite(&file).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_suite_and_the_race() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "suite").await;
    suite(&schema.blacklist().await).await;
    race(schema.blacklist().await).await;
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_expired_rows_only() {
    let file = SqliteFile::new("cleanup");
    let bl = sqlite(&file).await;
    let past = restflow_auth_now() - 10;
    bl.blacklist("old", past).await.unwrap();
    bl.blacklist("new", later()).await.unwrap();
    assert!(
        !bl.is_blacklisted("old").await.unwrap(),
        "an expired entry is not reported"
    );
    assert_eq!(bl.cleanup().await.unwrap(), 1);
    assert!(bl.is_blacklisted("new").await.unwrap());
    assert_eq!(bl.cleanup().await.unwrap(), 0);
    if let Some(url) = database_url() {
        let schema = Schema::new(&url, "cleanup").await;
        let pg = schema.blacklist().await;
        pg.blacklist("old", past).await.unwrap();
        pg.blacklist("new", later()).await.unwrap();
        assert_eq!(pg.cleanup().await.unwrap(), 1);
        drop(schema);
    }
}

fn restflow_auth_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_closed() {
    let Some(_) = database_url() else { return };
    // A closed port: every call fails, and a request gets 503 on both paths.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres");
    let bl = PostgresBlacklist::with_options(opts);
    assert!(bl.is_blacklisted("x").await.is_err());
    let auth = crate::jwt::auth_on(bl);
    let (token, _) = crate::jwt::alice_tokens(&auth);
    let auth2 = auth.clone();
    let bearer = format!("Bearer {token}");
    let b2 = bearer.clone();
    let blocking = std::thread::spawn(move || {
        let headers: &[(&str, &[u8])] = &[("authorization", b2.as_bytes())];
        let (parts, ()) = {
            let mut b = http::Request::get("/");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap().into_parts()
        };
        restflow_auth::dispatch::authenticate_blocking::<
            crate::common::User,
            (Jwt,),
            (IsAuthenticated,),
        >(&Request::new(&parts), auth2.context())
        .map(|_| 200)
        .unwrap_or_else(|d| d.status().as_u16())
    })
    .join()
    .unwrap();
    assert_eq!(blocking, 503);
    let (parts, ()) = http::Request::get("/")
        .header("authorization", bearer)
        .body(())
        .unwrap()
        .into_parts();
    let d =
        restflow_auth::dispatch::authenticate::<crate::common::User, (Jwt,), (IsAuthenticated,)>(
            &Request::new(&parts),
            auth.context(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (d.status().as_u16(), d.error.to_string()),
        (
            503,
            "Authentication service temporarily unavailable.".into()
        )
    );
}
