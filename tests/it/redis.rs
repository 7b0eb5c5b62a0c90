//! The Redis blacklist against a real Redis (`RESTFLOW_TEST_REDIS_URL`):
//! the shared blacklist suite on both paths, the rotation race through the
//! refresh view, and an outage (a Redis of the test's own, stopped and
//! started again) that fails closed and recovers without a restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use restflow_auth::jwt::{MemoryBlacklist, RedisBlacklist};
use restflow_auth::prelude::*;

use crate::blacklists::suite;
use crate::common::User;

pub(crate) fn redis_url() -> Option<String> {
    match std::env::var("RESTFLOW_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "RESTFLOW_TEST_REDIS_URL is not set but RESTFLOW_REQUIRE_SERVICES=1"
            );
            eprintln!("skipped: RESTFLOW_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// A key prefix of this test alone; its keys are deleted on drop.
pub(crate) struct Prefix {
    url: String,
    pub(crate) prefix: String,
}

impl Prefix {
    pub(crate) fn new(url: &str, name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Prefix {
            url: url.to_owned(),
            prefix: format!("restflow-test:{name}:{}:{nanos}:", std::process::id()),
        }
    }
    pub(crate) fn sessions(&self) -> restflow_auth::session::RedisSessionStore {
        restflow_auth::session::RedisSessionStore::new(&self.url)
            .unwrap()
            .with_prefix(self.prefix.clone())
    }
    pub(crate) fn blacklist(&self) -> RedisBlacklist {
        RedisBlacklist::new(&self.url)
            .unwrap()
            .with_prefix(self.prefix.clone())
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(mut conn) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_redis_pass_the_same_suite() {
    suite(&MemoryBlacklist::new()).await;
    let Some(url) = redis_url() else { return };
    let p = Prefix::new(&url, "suite");
    suite(&p.blacklist()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_refreshes_have_one_winner_on_redis() {
    let Some(url) = redis_url() else { return };
    let p = Prefix::new(&url, "race");
    crate::blacklists::race(p.blacklist()).await;
}

use crate::common::free_port;

fn start_redis(port: u16) -> Option<Child> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_closed_and_recovers_without_a_restart() {
    let Some(_) = redis_url() else { return };
    let port = free_port();
    let Some(mut server) = start_redis(port) else {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "redis-server could not be started"
        );
        eprintln!("skipped: no redis-server binary");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let auth = crate::jwt::auth_on(RedisBlacklist::new(&url).unwrap());
    let (token, _) = crate::jwt::alice_tokens(&auth);
    let bearer = format!("Bearer {token}");
    let check = |auth: &Auth<User>| {
        let (parts, ()) = http::Request::get("/")
            .header("authorization", bearer.as_str())
            .body(())
            .unwrap()
            .into_parts();
        let ctx = auth.context().clone();
        std::thread::spawn(move || {
            restflow_auth::dispatch::authenticate_blocking::<User, (Jwt,), (IsAuthenticated,)>(
                &Request::new(&parts),
                &ctx,
            )
            .map(|_| 200)
            .unwrap_or_else(|d| d.status().as_u16())
        })
        .join()
        .unwrap()
    };
    let check_async = |auth: &Auth<User>| {
        let (parts, ()) = http::Request::get("/")
            .header("authorization", bearer.as_str())
            .body(())
            .unwrap()
            .into_parts();
        let ctx = auth.context().clone();
        async move {
            restflow_auth::dispatch::authenticate::<User, (Jwt,), (IsAuthenticated,)>(
                &Request::new(&parts),
                &ctx,
            )
            .await
            .map(|_| (200, String::new()))
            .unwrap_or_else(|d| (d.status().as_u16(), d.error.to_string()))
        }
    };
    assert_eq!(check(&auth), 200);
    assert_eq!(check_async(&auth).await.0, 200);
    // Redis goes away: fail closed with 503, on both paths, once the
    // invalidation feed stops vouching (at the latest max_staleness_ms
    // after its last heartbeat).
    server.kill().unwrap();
    server.wait().unwrap();
    let cut = std::time::Instant::now();
    let stats = || {
        crate::jwt::state(&auth)
            .blacklist_backend()
            .unwrap()
            .cache_stats()
            .expect("the Redis blacklist is cached")
    };
    while stats().trusted {
        assert!(cut.elapsed() < Duration::from_millis(150));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(check(&auth), 503);
    assert_eq!(
        check_async(&auth).await,
        (
            503,
            "Authentication service temporarily unavailable.".into()
        )
    );
    // A revocation cannot be written either.
    let bl = auth
        .context()
        .store::<restflow_auth::jwt::JwtState>()
        .unwrap()
        .blacklist_backend()
        .unwrap();
    assert!(bl.blacklist(token.jti(), token.exp()).await.is_err());
    // Redis comes back on the same port: requests succeed again.
    let mut server = start_redis(port).expect("restart redis-server");
    assert_eq!(check(&auth), 200);
    assert_eq!(check_async(&auth).await.0, 200);
    bl.blacklist(token.jti(), token.exp()).await.unwrap();
    assert_eq!(
        check_async(&auth).await,
        (401, "Token has been blacklisted.".into())
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
