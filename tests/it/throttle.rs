//! DRF's throttling (issue 10): the sliding log, the 429 and its
//! `Retry-After`, every throttle evaluated, rates from `config!` and the
//! settings, client identity, on both paths and on the memory and Redis
//! stores; and concurrency: 64 requests at once against `10/min` admit
//! exactly 10.

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use restflow_auth::dispatch::{Denial, Identity, check, check_blocking};
use restflow_auth::net::PeerAddr;
use restflow_auth::prelude::*;
use restflow_auth::throttle::{
    MemoryThrottleStore, RedisThrottleStore, Scoped, ThrottleScope, ThrottleSet,
};

use crate::common::{HeaderUser, User, users};
use crate::handlers::send;

/// The test crate's `config!` declares `anon: 3/min`, `user: 5/min` and
/// `burst: 10/min`.
fn auth_with(f: impl FnOnce(&mut Settings), store: Option<RedisThrottleStore>) -> Auth<User> {
    let mut s = Settings::default();
    f(&mut s);
    let b = Auth::builder(s).users(users());
    match store {
        Some(store) => b.throttle_store(store),
        None => b,
    }
    .build()
    .unwrap()
}

fn parts(peer: &str, user: Option<&str>) -> http::request::Parts {
    let mut b = http::Request::get("/");
    if let Some(u) = user {
        b = b.header("x-user", u);
    }
    let (mut parts, ()) = b.body(()).unwrap().into_parts();
    parts
        .extensions
        .insert(PeerAddr(format!("{peer}:40000").parse().unwrap()));
    parts
}

type Throttles = (AnonRateThrottle, UserRateThrottle);

/// One runtime for every async call of this module, as a server has (a
/// Redis connection lives on the runtime that made it).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// One request through `(HeaderUser,)` + AllowAny + `T`, on the async or the
/// blocking path: `Ok(username)` or `Err((status, detail, Retry-After))`.
fn one<T: ThrottleSet<User>>(
    auth: &Auth<User>,
    blocking: bool,
    peer: &str,
    user: Option<&str>,
) -> Result<String, (u16, String, Option<u64>)> {
    let parts = parts(peer, user);
    let req = Request::new(&parts);
    let show = |r: Result<Identity<User>, Denial>| match r {
        Ok(id) => Ok(id.user.username().to_owned()),
        Err(d) => Err((
            d.status().as_u16(),
            format!(
                "{}{}",
                d.error,
                d.error
                    .cause()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default()
            ),
            d.error.retry_after(),
        )),
    };
    if blocking {
        std::thread::scope(|s| {
            s.spawn(|| {
                show(check_blocking::<User, (HeaderUser,), (AllowAny,), T>(
                    &req,
                    auth.context(),
                ))
            })
            .join()
            .unwrap()
        })
    } else {
        std::thread::scope(|s| {
            s.spawn(|| {
                show(
                    runtime().block_on(check::<User, (HeaderUser,), (AllowAny,), T>(
                        &req,
                        auth.context(),
                    )),
                )
            })
            .join()
            .unwrap()
        })
    }
}

fn assert_throttled(r: Result<String, (u16, String, Option<u64>)>, max_wait: u64) {
    let (status, detail, retry) = r.expect_err("throttled");
    assert_eq!(status, 429, "{detail}");
    let wait = retry.expect("Retry-After");
    assert!((1..=max_wait).contains(&wait), "{wait}");
    let expected = if wait == 1 {
        "Request was throttled. Expected available in 1 second.".to_owned()
    } else {
        format!("Request was throttled. Expected available in {wait} seconds.")
    };
    assert_eq!(detail, expected);
}

/// DRF's rules, on one path and one store, from addresses `<net>.N`.
fn drf_rules(auth: &Auth<User>, blocking: bool, net: &str) {
    let peer = &format!("{net}.1");
    // Anonymous: anon 3/min refuses the 4th; user 5/min (by address) the 6th.
    for _ in 0..3 {
        assert_eq!(one::<Throttles>(auth, blocking, peer, None).unwrap(), "");
    }
    assert_throttled(one::<Throttles>(auth, blocking, peer, None), 60);
    // Another address has its own log.
    assert!(one::<Throttles>(auth, blocking, &format!("{net}.2"), None).is_ok());
    // Authenticated: anon does not apply, user 5/min by user id, whatever the address.
    for i in 0..5 {
        let addr = format!("{net}.{}", i + 10);
        assert_eq!(
            one::<Throttles>(auth, blocking, &addr, Some("alice")).unwrap(),
            "alice"
        );
    }
    assert_throttled(one::<Throttles>(auth, blocking, peer, Some("alice")), 60);
    assert_eq!(
        one::<Throttles>(auth, blocking, peer, Some("root")).unwrap(),
        "root"
    );
    // No throttles: never refused.
    for _ in 0..10 {
        assert!(one::<()>(auth, blocking, peer, None).is_ok());
    }
}

#[test]
fn drf_semantics_on_both_paths_in_memory() {
    drf_rules(&auth_with(|_| {}, None), false, "10.0.1");
    drf_rules(&auth_with(|_| {}, None), true, "10.0.2");
}

#[test]
fn drf_semantics_on_both_paths_on_redis() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "throttle");
    let store = || {
        RedisThrottleStore::new(&url)
            .unwrap()
            .with_prefix(p.prefix.clone())
    };
    let p2 = crate::redis::Prefix::new(&url, "throttle-blocking");
    drf_rules(&auth_with(|_| {}, Some(store())), false, "10.0.3");
    let blocking = RedisThrottleStore::new(&url)
        .unwrap()
        .with_prefix(p2.prefix.clone());
    drf_rules(&auth_with(|_| {}, Some(blocking)), true, "10.0.4");
    // Another instance on the same Redis sees the same logs.
    let other = auth_with(|_| {}, Some(store()));
    assert_throttled(one::<Throttles>(&other, false, "10.0.3.1", None), 60);
}

/// A refused request is not recorded: with `2/1s`, the third is refused,
/// and a second later two go through again.
#[test]
fn a_refused_request_is_not_recorded() {
    let auth = auth_with(
        |s| {
            s.throttle.rates.insert("anon".into(), "2/1s".into());
        },
        None,
    );
    assert!(one::<(AnonRateThrottle,)>(&auth, false, "10.9.0.1", None).is_ok());
    assert!(one::<(AnonRateThrottle,)>(&auth, false, "10.9.0.1", None).is_ok());
    for _ in 0..5 {
        assert_throttled(
            one::<(AnonRateThrottle,)>(&auth, false, "10.9.0.1", None),
            1,
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(one::<(AnonRateThrottle,)>(&auth, false, "10.9.0.1", None).is_ok());
    assert!(one::<(AnonRateThrottle,)>(&auth, false, "10.9.0.1", None).is_ok());
}

struct Burst;
impl ThrottleScope for Burst {
    const SCOPE: Option<&'static str> = Some("burst");
}
type BurstThrottle = Scoped<(ScopedRateThrottle,), Burst>;

/// 64 requests at once against `burst: 10/min` (the test crate's
/// `config!`): exactly 10 are admitted, on each store and each path.
fn exactly_ten(auth: &Auth<User>, peer_prefix: &str) {
    for blocking in [false, true] {
        let peer = format!("{peer_prefix}{}", u8::from(blocking));
        let admitted = std::sync::atomic::AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(64);
        std::thread::scope(|s| {
            for _ in 0..64 {
                s.spawn(|| {
                    barrier.wait();
                    match one::<BurstThrottle>(auth, blocking, &peer, None) {
                        Ok(_) => {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err((status, detail, _)) => assert_eq!(status, 429, "{detail}"),
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 10, "blocking: {blocking}");
    }
}

#[test]
fn sixty_four_concurrent_requests_against_ten_per_minute_admit_exactly_ten() {
    exactly_ten(&auth_with(|_| {}, None), "10.7.0.");
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "throttle-race");
    let store = RedisThrottleStore::new(&url)
        .unwrap()
        .with_prefix(p.prefix.clone());
    exactly_ten(&auth_with(|_| {}, Some(store)), "10.8.0.");
}

#[test]
fn rates_from_the_settings_win_over_config() {
    let auth = auth_with(
        |s| {
            s.throttle.rates.insert("anon".into(), "1/min".into());
        },
        None,
    );
    assert!(one::<(AnonRateThrottle,)>(&auth, false, "10.6.0.1", None).is_ok());
    assert_throttled(
        one::<(AnonRateThrottle,)>(&auth, false, "10.6.0.1", None),
        60,
    );
    // A bad rate in the settings fails at startup, with the key.
    let mut s = Settings::default();
    s.throttle.rates.insert("anon".into(), "3/fortnight".into());
    let err = Auth::<User>::builder(s)
        .users(users())
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("throttle.rates") && err.contains("3/fortnight"),
        "{err}"
    );
}

#[test]
fn a_store_that_cannot_answer_refuses_or_allows_as_configured() {
    let down = || {
        RedisThrottleStore::new(&format!("redis://127.0.0.1:{}", crate::common::free_port()))
            .unwrap()
    };
    let refuse = auth_with(|_| {}, Some(down()));
    for blocking in [false, true] {
        let (status, detail, _) =
            one::<(AnonRateThrottle,)>(&refuse, blocking, "10.5.0.1", None).unwrap_err();
        assert_eq!(status, 503);
        assert!(
            detail.starts_with("Authentication service temporarily unavailable."),
            "{detail}"
        );
    }
    let allow = auth_with(
        |s| s.throttle.on_store_error = restflow_auth::throttle::OnStoreError::Allow,
        Some(down()),
    );
    for blocking in [false, true] {
        assert!(one::<(AnonRateThrottle,)>(&allow, blocking, "10.5.0.1", None).is_ok());
    }
}

#[test]
fn a_client_cannot_pick_its_identity_behind_trusted_proxies() {
    let auth = auth_with(
        |s| {
            s.throttle.rates.insert("anon".into(), "1/min".into());
            s.throttle.num_proxies = Some(1);
            s.throttle.trusted_proxies = serde_json::from_str(r#"["10.4.0.0/24"]"#).unwrap();
        },
        None,
    );
    let with_xff = |peer: &str, xff: &str| {
        let mut p = parts(peer, None);
        p.headers.insert("x-forwarded-for", xff.parse().unwrap());
        let req = Request::new(&p);
        restflow_auth::throttle::client_ident(&req, &auth.context().settings().throttle)
    };
    // From the trusted proxy: the address it appended.
    assert_eq!(with_xff("10.4.0.1", "1.1.1.1, 203.0.113.5"), "203.0.113.5");
    // From anywhere else: the peer, whatever the client wrote.
    assert_eq!(with_xff("198.51.100.9", "203.0.113.5"), "198.51.100.9");
}

#[authenticate(HeaderUser)]
#[permissions(AllowAny)]
#[throttle(AnonRateThrottle, UserRateThrottle)]
async fn search(user: MaybeUser<User>) -> String {
    user.username().to_owned()
}

#[tokio::test]
async fn a_throttled_handler_answers_429_with_retry_after() {
    let auth = auth_with(|_| {}, None);
    let app = axum::Router::new()
        .route("/search/", get(search))
        .layer(auth.layer());
    let call = || {
        let mut req = http::Request::get("/search/").body(Body::empty()).unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(
            "10.3.0.1:1234".parse::<std::net::SocketAddr>().unwrap(),
        ));
        send(app.clone(), req)
    };
    for _ in 0..3 {
        assert_eq!(call().await.0, 200);
    }
    let (status, headers, body) = call().await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        body["detail"],
        format!("Request was throttled. Expected available in {wait} seconds.")
    );
    assert_eq!(headers["content-type"], "application/json");
}

#[test]
fn the_memory_store_stays_bounded_under_a_flood_of_clients() {
    let store = Arc::new(MemoryThrottleStore::new(1000));
    let rate = restflow_auth::throttle::Rate::parse("5/min").unwrap();
    for i in 0..20_000u32 {
        restflow_auth::throttle::ThrottleStore::hit_blocking(&*store, &format!("client-{i}"), rate)
            .unwrap();
    }
    assert!(store.len() <= 1000, "{}", store.len());
}
