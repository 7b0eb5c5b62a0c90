//! Revocation state cached per process and invalidated across instances
//! (issue 13): two `Auth`s on one database, each with pools and a feed of
//! its own, as two instances would be. A revocation made through one (or
//! written in SQL by another application) is refused by the other within
//! 100 ms, on both paths; the cache serves while its feed vouches; a cut
//! of the database drops what it holds and nothing revoked meanwhile is
//! accepted; it comes back without a restart.

use std::time::{Duration, Instant};

use restflow_auth::jwt::{AccessToken, Blacklist, PostgresBlacklist, SqliteBlacklist};
use restflow_auth::prelude::*;

use crate::common::{User, user};
use crate::jwt::{shared_settings, state, users};
use crate::sql::{Schema, SqliteFile, database_url};
use crate::stores::Forwarder;

fn instance(blacklist: impl Blacklist) -> Auth<User> {
    Auth::builder(shared_settings())
        .users(users())
        .blacklist(blacklist)
        .build()
        .unwrap()
}

fn stats(auth: &Auth<User>) -> restflow_auth::invalidation::CacheStats {
    state(auth)
        .blacklist_backend()
        .unwrap()
        .cache_stats()
        .expect("the SQL blacklist is cached by default")
}

async fn until_trusted(auth: &Auth<User>) {
    let start = Instant::now();
    while !stats(auth).trusted {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed never vouched"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Both paths' answer (they must agree: nothing changes meanwhile), the
/// async one on the caller's runtime: the detail, or the user's name.
async fn answer(auth: &Auth<User>, token: &str) -> String {
    let [a, b] = each_path(auth, token).await;
    assert_eq!(a, b, "async and blocking paths disagree");
    a
}

/// Both paths' answers (names or details), each its own.
async fn each_path(auth: &Auth<User>, token: &str) -> [String; 2] {
    let header = ("authorization", format!("Bearer {token}"));
    crate::common::each_path::<(Jwt,)>(auth, header)
        .await
        .map(|(_, answer)| answer)
}

/// How long `b` takes to refuse `token` on both paths after it was
/// revoked (polled every millisecond); panics past a second, or if a path
/// accepts it again after refusing it.
async fn refused_after(b: &Auth<User>, token: &str) -> Duration {
    const REVOKED: &str = "Token has been blacklisted.";
    let start = Instant::now();
    let mut refused = [false; 2];
    loop {
        let answers = each_path(b, token).await;
        for (i, a) in answers.iter().enumerate() {
            match a.as_str() {
                REVOKED => refused[i] = true,
                "alice" => assert!(!refused[i], "accepted again after a refusal"),
                other => panic!("neither accepted nor refused as blacklisted: {other}"),
            }
        }
        if refused == [true; 2] {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(1), "never refused");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Revoke on `a`, refused on `b` within 100 ms (p99) `rounds` times; once
/// refused, never accepted again. Returns the p99.
async fn rounds(a: &Auth<User>, b: &Auth<User>, rounds: usize) -> Duration {
    let alice = user(1, "alice", true, false);
    let mut took = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let token = AccessToken::for_user(&alice, state(a)).unwrap();
        // Cached "not revoked" on b first: the case invalidation must undo.
        assert_eq!(answer(b, token.as_str()).await, "alice");
        assert_eq!(answer(b, token.as_str()).await, "alice");
        let bl = state(a).blacklist_backend().unwrap();
        bl.blacklist(token.jti(), crate::blacklists::later())
            .await
            .unwrap();
        // The writer's own cache forgets at once.
        assert_eq!(
            answer(a, token.as_str()).await,
            "Token has been blacklisted."
        );
        took.push(refused_after(b, token.as_str()).await);
        assert_eq!(
            answer(b, token.as_str()).await,
            "Token has been blacklisted."
        );
    }
    took.sort();
    took[took.len() * 99 / 100]
}

/// Both instances' feeds up, then 300 rounds: p99 within 100 ms, and `b`'s
/// cache served (a hit and an invalidation per round at least).
async fn three_hundred_rounds(a: &Auth<User>, b: &Auth<User>) {
    until_trusted(a).await;
    until_trusted(b).await;
    let before = stats(b);
    let p99 = rounds(a, b, 300).await;
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    let after = stats(b);
    assert!(after.hits >= before.hits + 300, "{before:?} {after:?}");
    assert!(
        after.invalidations >= before.invalidations + 300,
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revocations_reach_every_instance_within_100_ms() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "invalidation").await;
    let bl = PostgresBlacklist::with_options(schema.options());
    bl.migrate().await.unwrap();
    let (a, b) = (
        instance(bl),
        instance(PostgresBlacklist::with_options(schema.options())),
    );
    three_hundred_rounds(&a, &b).await;

    // A write made in SQL by another application is heard too.
    let alice = user(1, "alice", true, false);
    let token = AccessToken::for_user(&alice, state(&a)).unwrap();
    assert_eq!(answer(&b, token.as_str()).await, "alice");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&schema.options())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO restflow_blacklisted_token (jti, expires_at, created_at) VALUES ($1, $2, 0)",
    )
    .bind(token.jti())
    .bind(crate::blacklists::later())
    .execute(&mut conn)
    .await
    .unwrap();
    let took = refused_after(&b, token.as_str()).await;
    assert!(took < Duration::from_millis(100), "{took:?}");
}

/// `b` reaches its store through `forwarder`, which is cut mid-run: `b`
/// notices within 2 s, accepts none of the tokens revoked through `a`
/// meanwhile, and once the forwarder is back it refuses them and its cache
/// serves again, without a restart.
async fn cut_mid_run(a: &Auth<User>, b: &Auth<User>, forwarder: &mut Forwarder) {
    let (a, b) = (a.clone(), b.clone());
    until_trusted(&b).await;
    let alice = user(1, "alice", true, false);
    let tokens: Vec<_> = (0..5)
        .map(|_| AccessToken::for_user(&alice, state(&a)).unwrap())
        .collect();
    for t in &tokens {
        assert_eq!(answer(&b, t.as_str()).await, "alice");
    }
    forwarder.cut().await;
    let start = Instant::now();
    while stats(&b).trusted {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the cut went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Revoked while b's feed is down: b must not accept them.
    for t in &tokens {
        state(&a)
            .blacklist_backend()
            .unwrap()
            .blacklist(t.jti(), crate::blacklists::later())
            .await
            .unwrap();
    }
    for t in &tokens {
        let got = answer(&b, t.as_str()).await;
        assert_ne!(got, "alice", "a token revoked during the cut was accepted");
    }
    forwarder.start().await;
    until_trusted(&b).await;
    for t in &tokens {
        assert_eq!(answer(&b, t.as_str()).await, "Token has been blacklisted.");
    }
    // And the cache serves again.
    let fresh = AccessToken::for_user(&alice, state(&a)).unwrap();
    let before = stats(&b);
    assert_eq!(answer(&b, fresh.as_str()).await, "alice");
    assert_eq!(answer(&b, fresh.as_str()).await, "alice");
    assert!(stats(&b).hits > before.hits, "{:?}", stats(&b));
    assert!(stats(&b).connects >= 2);
    forwarder.cut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_drops_the_cache_and_nothing_revoked_meanwhile_passes() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "invalidation_cut").await;
    let real = schema.options();
    let mut forwarder = Forwarder::new(&format!("{}:{}", real.get_host(), real.get_port()));
    forwarder.start().await;
    let a_bl = PostgresBlacklist::with_options(schema.options());
    a_bl.migrate().await.unwrap();
    let a = instance(a_bl);
    // b reaches the database through the forwarder (its pools and its feed).
    let b = instance(PostgresBlacklist::with_options(
        schema.options().host("127.0.0.1").port(forwarder.port),
    ));
    cut_mid_run(&a, &b, &mut forwarder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_revocations_reach_another_pool_within_100_ms() {
    let file = SqliteFile::new("invalidation");
    let (a, b) = (
        instance(crate::sql::sqlite(&file).await),
        instance(crate::sql::sqlite(&file).await),
    );
    until_trusted(&a).await;
    until_trusted(&b).await;
    let p99 = rounds(&a, &b, 100).await;
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    assert!(stats(&b).hits >= 100, "{:?}", stats(&b));
}

#[tokio::test]
async fn the_cache_can_be_turned_off_and_memory_sqlite_gets_none() {
    let mut s = shared_settings();
    s.invalidation.enabled = false;
    let file = SqliteFile::new("invalidation_off");
    let auth = Auth::<User>::builder(s)
        .users(users())
        .blacklist(crate::sql::sqlite(&file).await)
        .build()
        .unwrap();
    let memory = instance(SqliteBlacklist::connect("sqlite::memory:").await.unwrap());
    for auth in [auth, memory] {
        assert!(
            state(&auth)
                .blacklist_backend()
                .unwrap()
                .cache_stats()
                .is_none()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_revocations_reach_every_instance_within_100_ms() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "invalidation");
    let (a, b) = (instance(p.blacklist()), instance(p.blacklist()));
    three_hundred_rounds(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_drops_the_cache_and_nothing_revoked_meanwhile_passes() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "invalidation_cut");
    let target = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut forwarder = Forwarder::new(&target);
    forwarder.start().await;
    let a = instance(p.blacklist());
    // b reaches Redis through the forwarder (its connections and its feed).
    let b = instance(
        restflow_auth::jwt::RedisBlacklist::new(&format!("redis://127.0.0.1:{}", forwarder.port))
            .unwrap()
            .with_prefix(p.prefix.clone()),
    );
    cut_mid_run(&a, &b, &mut forwarder).await;
}
