//! JWT authentication under concurrent load with the blacklist checked on
//! each backend, against the blacklist off, in interleaved rounds of the
//! same run (the machines here are shared: compare ratios, not absolutes).
//!
//! ```text
//! RESTFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! RESTFLOW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! cargo bench -p restflow-auth --bench blacklist --all-features
//! ```
//!
//! Each round runs 64 concurrent tasks on two worker threads for two
//! seconds, each authenticating one request after another through the
//! async path of the `Jwt` authenticator. Backends that are not configured
//! are left out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use restflow_auth::jwt::{
    AccessToken, JwtState, MemoryBlacklist, PostgresBlacklist, RedisBlacklist, SqliteBlacklist,
};
use restflow_auth::prelude::*;
use restflow_auth::settings::Secret;

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
}

const TASKS: usize = 64;
const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

fn settings(blacklist: bool) -> Settings {
    let mut s = Settings::default();
    s.jwt.signing_key = Some(Secret::new(
        "bench-signing-key-0123456789abcdef0123456789abcdef",
    ));
    s.jwt.blacklist_enabled = blacklist;
    // Long-lived tokens: a round must not outlive its token.
    s.jwt.access_token_lifetime_s = 7 * 86_400;
    s.jwt.allow_local_blacklist = true;
    s
}

fn users() -> MemoryUserStore<User> {
    let users = MemoryUserStore::new();
    for id in 1..=100 {
        users.insert(User {
            id,
            username: format!("u{id}"),
            password: String::new(),
            is_active: true,
            is_staff: false,
        });
    }
    users
}

async fn throughput(auth: Auth<User>) -> f64 {
    let jwt = auth.context().store::<JwtState>().unwrap();
    let token = AccessToken::for_user(
        &User {
            id: 7,
            username: "u7".into(),
            password: String::new(),
            is_active: true,
            is_staff: false,
        },
        jwt,
    )
    .unwrap();
    let (parts, ()) = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    let parts = Arc::new(parts);
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (auth, parts, count, stop) =
                (auth.clone(), parts.clone(), count.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::new(&parts);
                    let found = Jwt
                        .authenticate(&req, auth.context())
                        .await
                        .expect("authenticates");
                    assert!(found.is_some());
                    count.fetch_add(1, Ordering::Relaxed);
                    // In-memory backends never wait: let the timer run.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test`) does nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sqlite_path =
            std::env::temp_dir().join(format!("restflow-bench-{}.db", std::process::id()));
        let mut backends: Vec<(&str, Auth<User>)> = vec![
            (
                "off",
                Auth::builder(settings(false))
                    .users(users())
                    .build()
                    .unwrap(),
            ),
            (
                "memory",
                Auth::builder(settings(true))
                    .users(users())
                    .blacklist(MemoryBlacklist::new())
                    .build()
                    .unwrap(),
            ),
        ];
        if let Ok(url) = std::env::var("RESTFLOW_TEST_REDIS_URL") {
            let bl = RedisBlacklist::new(&url)
                .unwrap()
                .with_prefix(format!("restflow-bench:{}:", std::process::id()));
            backends.push((
                "redis",
                Auth::builder(settings(true))
                    .users(users())
                    .blacklist(bl)
                    .build()
                    .unwrap(),
            ));
        }
        let sqlite =
            SqliteBlacklist::connect(&format!("sqlite://{}?mode=rwc", sqlite_path.display()))
                .await
                .unwrap();
        sqlite.migrate().await.unwrap();
        backends.push((
            "sqlite",
            Auth::builder(settings(true))
                .users(users())
                .blacklist(sqlite)
                .build()
                .unwrap(),
        ));
        // PostgreSQL in a schema of this run's own, dropped at the end.
        let schema = format!("restflow_bench_{}", std::process::id());
        let pg_url = std::env::var("RESTFLOW_TEST_DATABASE_URL").ok();
        if let Some(url) = &pg_url {
            let admin = restflow_auth::sql::PostgresDatabase::with_options(url.parse().unwrap());
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(admin.pool())
                .await
                .unwrap();
            let options = url
                .parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let pg = PostgresBlacklist::with_options(options);
            pg.migrate().await.unwrap();
            backends.push((
                "postgres",
                Auth::builder(settings(true))
                    .users(users())
                    .blacklist(pg)
                    .build()
                    .unwrap(),
            ));
        }
        let mut totals = vec![0.0; backends.len()];
        for round in 1..=ROUNDS {
            for (i, (name, auth)) in backends.iter().enumerate() {
                let rps = throughput(auth.clone()).await;
                totals[i] += rps;
                println!("round {round} {name:>8}: {rps:>10.0} auth/s");
            }
        }
        let off = totals[0];
        println!();
        println!("{:>8} {:>12} {:>8}", "backend", "auth/s", "ratio");
        for ((name, _), total) in backends.iter().zip(&totals) {
            println!(
                "{name:>8} {:>12.0} {:>8.2}",
                total / ROUNDS as f64,
                total / off
            );
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
        }
        if let Some(url) = &pg_url {
            let admin = restflow_auth::sql::PostgresDatabase::with_options(url.parse().unwrap());
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(admin.pool())
                .await
                .unwrap();
        }
    });
}
