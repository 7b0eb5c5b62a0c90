//! The login lockout (issue 10 item 4): per username and client, per
//! username alone, the doubling cool-off, a success resetting the count,
//! the same answer for unknown users and right passwords once locked; on
//! Basic (both paths) and the obtain and session login views; in memory
//! and in Redis.

use axum::body::Body;
use restflow_auth::dispatch::{authenticate, authenticate_blocking};
use restflow_auth::jwt::MemoryBlacklist;
use restflow_auth::lockout::{LoginSettings, RedisLockoutStore};
use restflow_auth::net::PeerAddr;
use restflow_auth::prelude::*;
use restflow_auth::session::MemorySessionStore;
use serde_json::{Value, json};

use crate::common::User;
use crate::handlers::send;
use crate::jwt::{settings_with, users};

fn auth(login: LoginSettings, redis: Option<RedisLockoutStore>) -> Auth<User> {
    let mut s = settings_with(|_| {});
    s.login = login;
    let b = Auth::<User>::builder(s)
        .users(users())
        .sessions(MemorySessionStore::new())
        .blacklist(MemoryBlacklist::new());
    match redis {
        Some(r) => b.lockout_store(r),
        None => b,
    }
    .build()
    .unwrap()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// Basic `user:password` from `peer` on one path: `(status, detail, Retry-After)`.
fn basic(
    auth: &Auth<User>,
    blocking: bool,
    peer: &str,
    credentials: &str,
) -> (u16, String, Option<u64>) {
    use base64::Engine;
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let (mut parts, ()) = http::Request::get("/")
        .header("authorization", value)
        .body(())
        .unwrap()
        .into_parts();
    parts
        .extensions
        .insert(PeerAddr(format!("{peer}:1000").parse().unwrap()));
    let req = Request::new(&parts);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            if blocking {
                authenticate_blocking::<User, (Basic,), (IsAuthenticated,)>(&req, auth.context())
            } else {
                runtime().block_on(authenticate::<User, (Basic,), (IsAuthenticated,)>(
                    &req,
                    auth.context(),
                ))
            }
        })
        .join()
        .unwrap()
    });
    match result {
        Ok(id) => (200, format!("user:{}", id.user.username()), None),
        Err(d) => (
            d.status().as_u16(),
            d.error.to_string(),
            d.error.retry_after(),
        ),
    }
}

const WRONG: &str = "alice:nope";
const RIGHT: &str = "alice:alice-password-1";

/// A lockout answer with a wait of `wait` seconds (one less when a second
/// went by since it began).
#[track_caller]
fn assert_locked(r: (u16, String, Option<u64>), wait: u64) {
    let got = r.2.expect("Retry-After");
    assert!(got == wait || got + 1 == wait, "{r:?}");
    assert_eq!(
        (r.0, r.1),
        (
            429,
            format!("Too many failed login attempts. Try again in {got} seconds.")
        )
    );
}

fn rules(auth: &Auth<User>, blocking: bool, net: &str) {
    let a = &format!("{net}.1");
    for _ in 0..4 {
        assert_eq!(basic(auth, blocking, a, WRONG).0, 401);
    }
    // A success resets this client's count.
    assert_eq!(basic(auth, blocking, a, RIGHT).1, "user:alice");
    for _ in 0..4 {
        assert_eq!(basic(auth, blocking, a, WRONG).0, 401);
    }
    // The fifth failure locks (alice, this client) out for 60 s ...
    assert_eq!(basic(auth, blocking, a, WRONG).0, 401);
    // ... the right password included, checked before the password.
    assert_locked(basic(auth, blocking, a, RIGHT), 60);
    assert_locked(basic(auth, blocking, a, WRONG), 60);
    // Another client, another user: not locked.
    assert_eq!(
        basic(auth, blocking, &format!("{net}.2"), RIGHT).1,
        "user:alice"
    );
    assert_eq!(
        basic(auth, blocking, a, "root:root-password-3").1,
        "user:root"
    );
    // An unknown username locks the same way, with the same answer.
    for _ in 0..5 {
        assert_eq!(basic(auth, blocking, a, "zed:nope").0, 401);
    }
    assert_locked(basic(auth, blocking, a, "zed:nope"), 60);
}

fn defaults() -> LoginSettings {
    LoginSettings::default()
}

#[test]
fn lockout_per_username_and_client_in_memory_on_both_paths() {
    rules(&auth(defaults(), None), false, "10.30.0");
    rules(&auth(defaults(), None), true, "10.30.1");
}

fn redis_store(p: &crate::redis::Prefix) -> RedisLockoutStore {
    let url = crate::redis::redis_url().unwrap();
    RedisLockoutStore::new(&url)
        .unwrap()
        .with_prefix(p.prefix.clone())
}

#[test]
fn lockout_per_username_and_client_on_redis_on_both_paths() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let (p1, p2) = (
        crate::redis::Prefix::new(&url, "lockout-a"),
        crate::redis::Prefix::new(&url, "lockout-b"),
    );
    rules(&auth(defaults(), Some(redis_store(&p1))), false, "10.31.0");
    rules(&auth(defaults(), Some(redis_store(&p2))), true, "10.31.1");
    // A second instance on the same Redis sees the lockout.
    let other = auth(defaults(), Some(redis_store(&p1)));
    assert_locked(basic(&other, false, "10.31.0.1", RIGHT), 60);
}

#[test]
fn the_cooloff_doubles_with_each_lockout() {
    let s = LoginSettings {
        max_failures: 2,
        cooloff_s: 1,
        max_cooloff_s: 4,
        ..defaults()
    };
    let a = auth(s, None);
    let peer = "10.32.0.1";
    let mut waits = Vec::new();
    for _ in 0..4 {
        assert_eq!(basic(&a, false, peer, WRONG).0, 401);
        assert_eq!(basic(&a, false, peer, WRONG).0, 401);
        let (status, _, wait) = basic(&a, false, peer, RIGHT);
        assert_eq!(status, 429);
        let wait = wait.unwrap();
        waits.push(wait);
        std::thread::sleep(std::time::Duration::from_millis(wait * 1000 + 1100));
    }
    assert_eq!(waits, [1, 2, 4, 4], "doubling, capped at max_cooloff_s");
}

#[test]
fn a_username_guessed_from_many_clients_is_slowed_for_every_client() {
    let s = LoginSettings {
        max_failures: 5,
        username_max_failures: 10,
        username_cooloff_s: 30,
        ..defaults()
    };
    for redis in [false, true] {
        let prefix =
            crate::redis::redis_url().map(|u| crate::redis::Prefix::new(&u, "lockout-user"));
        let store = if redis {
            prefix.as_ref().map(redis_store)
        } else {
            None
        };
        if redis && store.is_none() {
            return;
        }
        let a = auth(s.clone(), store);
        for i in 0..10 {
            assert_eq!(basic(&a, false, &format!("10.33.{i}.1"), WRONG).0, 401);
        }
        // A client that never failed is slowed too, for alice only.
        assert_locked(basic(&a, true, "10.33.99.1", RIGHT), 30);
        assert_eq!(
            basic(&a, false, "10.33.99.1", "root:root-password-3").1,
            "user:root"
        );
    }
}

#[test]
fn concurrent_failures_on_redis_are_all_counted() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "lockout-race");
    let s = LoginSettings {
        max_failures: 20,
        ..defaults()
    };
    let a = auth(s, Some(redis_store(&p)));
    std::thread::scope(|sc| {
        for _ in 0..19 {
            sc.spawn(|| assert_eq!(basic(&a, true, "10.34.0.1", WRONG).0, 401));
        }
    });
    assert_eq!(
        basic(&a, true, "10.34.0.1", RIGHT).1,
        "user:alice",
        "19 failures: not yet"
    );
    assert_eq!(basic(&a, true, "10.34.0.2", WRONG).0, 401);
    // The success reset the first client's count: 20 more to lock it.
    std::thread::scope(|sc| {
        for _ in 0..20 {
            sc.spawn(|| assert_eq!(basic(&a, true, "10.34.0.1", WRONG).0, 401));
        }
    });
    assert_eq!(basic(&a, true, "10.34.0.1", RIGHT).0, 429);
}

async fn view(
    app: &axum::Router,
    uri: &str,
    user: &str,
    password: &str,
) -> (u16, Option<String>, Value) {
    let mut req = http::Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"username": user, "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        "10.35.0.1:9".parse::<std::net::SocketAddr>().unwrap(),
    ));
    let (status, headers, body) = send(app.clone(), req).await;
    (
        status.as_u16(),
        headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
    )
}

#[tokio::test]
async fn the_obtain_and_login_views_share_the_lockout() {
    let a = auth(defaults(), None);
    let app = axum::Router::new()
        .nest("/api/auth", a.jwt_routes())
        .nest("/api/auth", a.session_routes())
        .layer(a.layer());
    for uri in [
        "/api/auth/token/",
        "/api/auth/session/login/",
        "/api/auth/token/",
    ] {
        let (status, ..) = view(&app, uri, "alice", "nope").await;
        assert!(status == 401 || status == 403, "{uri}: {status}");
    }
    for _ in 0..2 {
        view(&app, "/api/auth/session/login/", "alice", "nope").await;
    }
    for uri in ["/api/auth/token/", "/api/auth/session/login/"] {
        let (status, retry, body) = view(&app, uri, "alice", "alice-password-1").await;
        let wait = retry.expect("Retry-After");
        assert!(wait == "60" || wait == "59", "{wait}");
        assert_eq!(
            (status, body),
            (
                429,
                json!({"detail": format!("Too many failed login attempts. Try again in {wait} seconds.")})
            ),
            "{uri}"
        );
    }
    // Off: never locked.
    let off = auth(
        LoginSettings {
            lockout: false,
            ..defaults()
        },
        None,
    );
    for _ in 0..10 {
        assert_eq!(basic(&off, false, "10.36.0.1", WRONG).0, 401);
    }
    assert_eq!(basic(&off, false, "10.36.0.1", RIGHT).0, 200);
}
