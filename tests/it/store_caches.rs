//! API tokens, sessions and user rows cached per process and invalidated
//! across instances (issue 13): two `Auth`s on one database, each with its
//! own pools and feed, as two instances would be. A token deleted, a
//! session ended or a user deactivated through one instance, or in SQL by
//! another application (Django), is refused by the other within 100 ms on
//! both paths and never accepted again; a table without the trigger is
//! never cached; a feed whose connection is killed loses nothing.

use std::time::{Duration, Instant};

use restflow_auth::invalidation::CacheStats;
use restflow_auth::prelude::*;
use restflow_auth::session::{SessionData, Sessions};
use restflow_auth::sql::{Database, TokenTable, UserTable};
use restflow_auth::token::Tokens;

use crate::common::{User, each_path};
use crate::sql::{Schema, SqliteFile, database_url};

const HASH: &str = "pbkdf2_sha256$1000$salt$c2FsdHk=";

/// An instance on a database: users, tokens and sessions in its tables.
macro_rules! instance {
    ($db:expr, $users:expr, $tokens:expr) => {{
        let db = $db;
        Auth::<User>::builder(Settings::default())
            .users(db.users::<User>($users).unwrap())
            .tokens(db.tokens::<i64>($tokens).unwrap())
            .sessions(db.sessions())
            .build()
            .unwrap()
    }};
}

fn stats(auth: &Auth<User>) -> [CacheStats; 3] {
    let c = auth.context();
    [
        c.store::<Tokens<i64>>().unwrap().cache_stats(),
        c.store::<Sessions>().unwrap().cache_stats(),
        c.users().cache_stats(),
    ]
    .map(|s| s.expect("the SQL stores are cached by default"))
}

async fn until_trusted(auth: &Auth<User>) {
    let start = Instant::now();
    while !stats(auth).iter().all(|s| s.trusted) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed never vouched: {:?}",
            stats(auth)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn token(key: &str) -> (&'static str, String) {
    ("authorization", format!("Token {key}"))
}

fn cookie(key: &str) -> (&'static str, String) {
    ("cookie", format!("sessionid={key}"))
}

/// Both paths' answers with `header` under the Token or the Session
/// scheme.
async fn answers(auth: &Auth<User>, header: &(&'static str, String)) -> [(u16, String); 2] {
    if header.0 == "cookie" {
        each_path::<(Session,)>(auth, header.clone()).await
    } else {
        each_path::<(Token,)>(auth, header.clone()).await
    }
}

/// Polls until both paths refuse `header` (401/403), after it was
/// revoked; panics past a second or if a path accepts it again after
/// refusing it. The time it took.
async fn refused_after(auth: &Auth<User>, header: &(&'static str, String)) -> Duration {
    let start = Instant::now();
    let mut refused = [false; 2];
    loop {
        for (i, (status, who)) in answers(auth, header).await.into_iter().enumerate() {
            match status {
                401 | 403 => refused[i] = true,
                200 => assert!(!refused[i], "{who} accepted again after a refusal"),
                other => panic!("neither accepted nor refused: {other} {who}"),
            }
        }
        if refused == [true; 2] {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(1), "never refused");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn accepted(auth: &Auth<User>, header: &(&'static str, String), name: &str) {
    for (status, who) in answers(auth, header).await {
        assert_eq!((status, who.as_str()), (200, name));
    }
}

/// A session of `user` on `auth`'s store.
async fn session_of(auth: &Auth<User>, user: &User) -> String {
    let sessions = auth.context().store::<Sessions>().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    sessions
        .create(&SessionData {
            user_id: serde_json::json!(user.id),
            auth_hash: sessions.auth_hash(&user.password),
            expires_at: now + 3600,
            issued_at: Some(now),
        })
        .await
        .unwrap()
}

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took[took.len() * 99 / 100]
}

/// Rounds of: a credential accepted twice on `b` (cached), revoked on `a`
/// (`revoke`), refused on `b` within 100 ms at p99.
macro_rules! rounds {
    ($a:expr, $b:expr, $n:expr, |$i:ident| $make:expr, |$h:ident| $revoke:expr) => {{
        let mut took = Vec::new();
        for $i in 0..$n {
            let $h = $make;
            accepted($b, &$h, "alice").await;
            accepted($b, &$h, "alice").await;
            $revoke;
            took.push(refused_after($b, &$h).await);
        }
        let p = p99(took);
        assert!(p < Duration::from_millis(100), "p99 {p:?}");
    }};
}

macro_rules! tokens_of {
    ($db:expr) => {
        $db.tokens::<i64>(TokenTable::restflow()).unwrap()
    };
}

/// Two instances' databases on a schema of the test's own (`migrate`d).
async fn two_databases(
    url: &str,
    name: &str,
) -> (Schema, Database<sqlx::Postgres>, Database<sqlx::Postgres>) {
    let schema = Schema::new(url, name).await;
    let (a, b) = (
        Database::<sqlx::Postgres>::with_options(schema.options()),
        Database::<sqlx::Postgres>::with_options(schema.options()),
    );
    a.migrate().await.unwrap();
    (schema, a, b)
}

/// alice in Django's `auth_user`, as `create_user` writes her.
async fn django_alice(db: &Database<sqlx::Postgres>) {
    sqlx::query("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES ($1, FALSE, 'alice', '', '', '', FALSE, TRUE, now())")
        .bind(HASH)
        .execute(db.pool())
        .await
        .unwrap();
}

/// A DRF API key of alice's in `authtoken_token`, as Django writes it.
async fn django_token(db: &Database<sqlx::Postgres>, key: &str) {
    sqlx::query("INSERT INTO authtoken_token (key, created, user_id) SELECT $1, now(), id FROM auth_user WHERE username = 'alice'")
        .bind(key)
        .execute(db.pool())
        .await
        .unwrap();
}

/// An instance's database on a SQLite file (`migrate`d).
async fn sqlite_db(file: &SqliteFile) -> Database<sqlx::Sqlite> {
    let db = Database::<sqlx::Sqlite>::connect(&file.url())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// API tokens deleted and sessions ended on `a`, `n` rounds each: refused
/// on `b` within 100 ms at p99; the writer's own cache forgets at once.
macro_rules! deleted_and_ended {
    ($a:expr, $b:expr, $db_a:expr, $alice:expr, $n:expr) => {{
        let tokens_a = tokens_of!($db_a);
        use restflow_auth::token::TokenStore as _;
        rounds!(
            $a,
            $b,
            $n,
            |_i| token(&tokens_a.issue(&$alice.id).await.unwrap()),
            |h| {
                let key = h.1.trim_start_matches("Token ");
                assert!(tokens_a.revoke(key).await.unwrap());
                assert_eq!(answers($a, &h).await.map(|(s, _)| s), [401; 2]);
            }
        );
        let sessions_a = $a.context().store::<Sessions>().unwrap().clone();
        rounds!(
            $a,
            $b,
            $n,
            |_i| cookie(&session_of($a, &$alice).await),
            |h| {
                let key = h.1.trim_start_matches("sessionid=");
                sessions_a.delete(key).await.unwrap();
                assert_eq!(answers($a, &h).await.map(|(s, _)| s), [403; 2]);
            }
        );
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tokens_sessions_and_users_reach_every_instance_within_100_ms() {
    let Some(url) = database_url() else { return };
    let (_schema, db_a, db_b) = two_databases(&url, "store_caches").await;
    let users_a = db_a.users::<User>(UserTable::restflow()).unwrap();
    let alice = users_a.insert("alice", HASH, true, false).await.unwrap();
    let (a, b) = (
        instance!(&db_a, UserTable::restflow(), TokenTable::restflow()),
        instance!(&db_b, UserTable::restflow(), TokenTable::restflow()),
    );
    until_trusted(&b).await;
    deleted_and_ended!(&a, &b, db_a, alice, 100);
    let tokens_a = tokens_of!(db_a);
    use restflow_auth::token::TokenStore as _;
    // A key replaced by a new one (issue): the old one is refused.
    rounds!(
        &a,
        &b,
        20,
        |_i| token(&tokens_a.issue(&alice.id).await.unwrap()),
        |_h| {
            tokens_a.issue(&alice.id).await.unwrap();
        }
    );
    // The user deactivated in SQL, as another application would: every
    // credential of alice refused on b.
    let key = tokens_a.issue(&alice.id).await.unwrap();
    let s = session_of(&a, &alice).await;
    let mut took = Vec::new();
    for _ in 0..30 {
        for h in [token(&key), cookie(&s)] {
            accepted(&b, &h, "alice").await;
            accepted(&b, &h, "alice").await;
        }
        sqlx::query("UPDATE restflow_user SET is_active = FALSE WHERE username = 'alice'")
            .execute(db_a.pool())
            .await
            .unwrap();
        took.push(refused_after(&b, &token(&key)).await);
        took.push(refused_after(&b, &cookie(&s)).await);
        users_a.set_active(&alice.id, true).await.unwrap();
        // Reactivated: accepted again once b hears it.
        let start = Instant::now();
        while answers(&b, &token(&key))
            .await
            .iter()
            .any(|(s, _)| *s != 200)
        {
            assert!(start.elapsed() < Duration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let p = p99(took);
    assert!(p < Duration::from_millis(100), "p99 {p:?}");
    // b's caches served: more hits than the rounds' second looks.
    let [t, s, u] = stats(&b);
    assert!(
        t.hits >= 120 && s.hits >= 100 && u.hits >= 200,
        "{t:?} {s:?} {u:?}"
    );
    assert_eq!(t.connects, s.connects, "one feed for the database's stores");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_django_tables_written_by_django_are_heard() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "store_caches_django").await;
    let (db_a, db_b) = (
        Database::<sqlx::Postgres>::with_options(schema.options()),
        Database::<sqlx::Postgres>::with_options(schema.options()),
    );
    // Django's tables first, then migrate: it puts its triggers on them.
    for ddl in crate::stores::DJANGO_POSTGRES {
        sqlx::query(ddl).execute(db_a.pool()).await.unwrap();
    }
    db_a.migrate().await.unwrap();
    django_alice(&db_a).await;
    let b = instance!(&db_b, UserTable::django(), TokenTable::drf());
    until_trusted(&b).await;
    // A DRF key of alice's, accepted twice on b (cached), then `sql` run
    // as Django would: how long b takes to refuse the key.
    let refused_once = |key: String, sql: &'static str| {
        let (b, db_a) = (&b, &db_a);
        async move {
            django_token(db_a, &key).await;
            accepted(b, &token(&key), "alice").await;
            accepted(b, &token(&key), "alice").await;
            let q = sqlx::query(sql);
            // `$1`, where the statement has it, is the key.
            let q = if sql.contains("$1") { q.bind(&key) } else { q };
            q.execute(db_a.pool()).await.unwrap();
            refused_after(b, &token(&key)).await
        }
    };
    let mut took = Vec::new();
    for i in 0..50 {
        // Deleted in Django's admin.
        let sql = "DELETE FROM authtoken_token WHERE key = $1";
        took.push(refused_once(format!("{i:040x}"), sql).await);
    }
    // Django's flush truncates: everything of the kind is dropped.
    let sql = "TRUNCATE authtoken_token";
    took.push(refused_once("e".repeat(40), sql).await);
    let sql = "UPDATE auth_user SET is_active = FALSE";
    took.push(refused_once("f".repeat(40), sql).await);
    let p = p99(took);
    assert!(p < Duration::from_millis(100), "p99 {p:?}");
    let [t, _, u] = stats(&b);
    assert!(t.hits >= 50 && u.hits >= 50, "{t:?} {u:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_table_without_the_trigger_is_never_cached() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "store_caches_untold").await;
    let db = Database::<sqlx::Postgres>::with_options(schema.options());
    db.migrate().await.unwrap();
    // Django's tables made after migrate: no trigger tells their changes.
    for ddl in crate::stores::DJANGO_POSTGRES {
        sqlx::query(ddl).execute(db.pool()).await.unwrap();
    }
    django_alice(&db).await;
    let key = "a".repeat(40);
    django_token(&db, &key).await;
    let other = Database::<sqlx::Postgres>::with_options(schema.options());
    let b = instance!(&other, UserTable::django(), TokenTable::drf());
    // The sessions' table has its trigger: the feed is up.
    let start = Instant::now();
    while !stats(&b)[1].trusted {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    accepted(&b, &token(&key), "alice").await;
    accepted(&b, &token(&key), "alice").await;
    let [t, _, u] = stats(&b);
    assert!(!t.trusted && !u.trusted, "{t:?} {u:?}");
    assert_eq!((t.hits, u.hits), (0, 0));
    sqlx::query("DELETE FROM authtoken_token")
        .execute(db.pool())
        .await
        .unwrap();
    // Read from the table every time: refused at once.
    assert_eq!(answers(&b, &token(&key)).await.map(|(s, _)| s), [401; 2]);
    // migrate again, now that they exist: the triggers go on, the caches serve.
    db.migrate().await.unwrap();
    let start = Instant::now();
    while !stats(&b)[0].trusted {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", stats(&b));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let key = "b".repeat(40);
    django_token(&db, &key).await;
    accepted(&b, &token(&key), "alice").await;
    accepted(&b, &token(&key), "alice").await;
    let hits = stats(&b)[0].hits;
    assert!(hits > 0, "{:?}", stats(&b));
    // The trigger disabled behind the cache's back (a restore without
    // triggers): within about a second the slot stops serving, and what
    // changes then is read from the table.
    sqlx::query("ALTER TABLE authtoken_token DISABLE TRIGGER restflow_invalidate")
        .execute(db.pool())
        .await
        .unwrap();
    let start = Instant::now();
    while stats(&b)[0].trusted {
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", stats(&b));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sqlx::query("DELETE FROM authtoken_token")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(answers(&b, &token(&key)).await.map(|(s, _)| s), [401; 2]);
    assert_eq!(stats(&b)[0].hits, hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_feed_connection_loses_no_revocation() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "store_caches_killed").await;
    let (db_a, db_b) = (
        Database::<sqlx::Postgres>::with_options(schema.options()),
        Database::<sqlx::Postgres>::with_options(
            schema
                .options()
                .application_name("restflow-killed-feed-test"),
        ),
    );
    db_a.migrate().await.unwrap();
    let alice = db_a
        .users::<User>(UserTable::restflow())
        .unwrap()
        .insert("alice", HASH, true, false)
        .await
        .unwrap();
    let b = instance!(&db_b, UserTable::restflow(), TokenTable::restflow());
    until_trusted(&b).await;
    let tokens_a = tokens_of!(db_a);
    use restflow_auth::token::TokenStore as _;
    let before = stats(&b)[0].connects;
    for _ in 0..10 {
        let key = tokens_a.issue(&alice.id).await.unwrap();
        accepted(&b, &token(&key), "alice").await;
        accepted(&b, &token(&key), "alice").await;
        // b's listening connection killed (the only one of b that has
        // sent a heartbeat), and the key deleted while it is gone: the
        // notification is lost, and b must not serve its cached answer.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'restflow-killed-feed-test' AND (query LIKE '%pg_notify%' OR query LIKE '%pg_trigger%')")
            .execute(db_a.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM restflow_token")
            .execute(db_a.pool())
            .await
            .unwrap();
        // Refused once the feed is found dead, or at the latest when the
        // last heartbeat's word runs out (max_staleness_ms, 100 ms).
        let took = refused_after(&b, &token(&key)).await;
        assert!(took < Duration::from_millis(120), "{took:?}");
        until_trusted(&b).await;
    }
    assert!(stats(&b)[0].connects >= before + 10, "{:?}", stats(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tokens_and_sessions_reach_another_pool_within_100_ms() {
    let file = SqliteFile::new("store_caches");
    let (db_a, db_b) = (sqlite_db(&file).await, sqlite_db(&file).await);
    let alice = db_a
        .users::<User>(UserTable::restflow())
        .unwrap()
        .insert("alice", HASH, true, false)
        .await
        .unwrap();
    let (a, b) = (
        instance!(&db_a, UserTable::restflow(), TokenTable::restflow()),
        instance!(&db_b, UserTable::restflow(), TokenTable::restflow()),
    );
    until_trusted(&a).await;
    until_trusted(&b).await;
    deleted_and_ended!(&a, &b, db_a, alice, 50);
    let [t, s, u] = stats(&b);
    assert!(
        t.hits >= 50 && s.hits >= 50 && u.hits >= 100,
        "{t:?} {s:?} {u:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sessions_reach_every_instance_within_100_ms() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "store_caches");
    let make = || {
        Auth::<User>::builder(Settings::default())
            .users(crate::common::users())
            .sessions(p.sessions())
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    let sessions = |auth: &Auth<User>| auth.context().store::<Sessions>().unwrap().clone();
    let start = Instant::now();
    while !sessions(&b).cache_stats().unwrap().trusted {
        assert!(start.elapsed() < Duration::from_secs(10), "never vouched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let alice = crate::common::users()
        .find_by_username_blocking("alice")
        .unwrap()
        .unwrap();
    let sessions_a = sessions(&a);
    rounds!(
        &a,
        &b,
        100,
        |_i| cookie(&session_of(&a, &alice).await),
        |h| {
            sessions_a
                .delete(h.1.trim_start_matches("sessionid="))
                .await
                .unwrap();
            assert_eq!(answers(&a, &h).await.map(|(s, _)| s), [403; 2]);
        }
    );
    let s = sessions(&b).cache_stats().unwrap();
    assert!(s.hits >= 100, "{s:?}");
}

/// `login` on one conformance server: the session cookie and the CSRF
/// cookie it set.
fn http_login(addr: &str) -> (String, String) {
    let r = crate::common::http(
        addr,
        "POST",
        "/api/auth/session/login/",
        &[],
        Some(serde_json::json!({"username": "alice", "password": "alice-password-1"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    (
        r.cookie("sessionid").expect("a session cookie"),
        r.cookie("csrftoken").expect("a CSRF cookie"),
    )
}

/// Two instances of the conformance example on one PostgreSQL database
/// (users, sessions and the blacklist): a session ended on A (Django's
/// logout, over HTTP, with its CSRF token) is refused by B within 100 ms
/// (p99), a thousand times; once refused, never accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conformance_servers_on_postgres_refuse_what_the_other_ended() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "two_servers").await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let pg = format!("{url}{sep}options=-c%20search_path%3D{}", schema.name());
    let Some(a) = crate::conformance::start(&pg, &pg) else {
        return;
    };
    let Some(b) = crate::conformance::start(&pg, &pg) else {
        return;
    };
    let (a, b) = (a.addr.clone(), b.addr.clone());
    let whoami = |addr: &str, cookie: &str| {
        crate::common::http(
            addr,
            "GET",
            "/api/whoami/session/",
            &[("Cookie", cookie)],
            None,
        )
        .status
    };
    let mut took = Vec::new();
    for _ in 0..1000 {
        let (session, csrf) = http_login(&a);
        let cookie = format!("sessionid={session}; csrftoken={csrf}");
        assert_eq!(whoami(&b, &cookie), 200);
        assert_eq!(whoami(&b, &cookie), 200);
        let r = crate::common::http(
            &a,
            "POST",
            "/api/auth/session/logout/",
            &[("Cookie", &cookie), ("X-CSRFToken", &csrf)],
            None,
        );
        assert_eq!(r.status, 204, "{}", r.text);
        let start = Instant::now();
        while whoami(&b, &cookie) == 200 {
            assert!(start.elapsed() < Duration::from_secs(1), "never refused");
            std::thread::sleep(Duration::from_millis(1));
        }
        took.push(start.elapsed());
        for _ in 0..3 {
            assert_eq!(whoami(&b, &cookie), 403, "accepted again after a refusal");
        }
    }
    let p = p99(took);
    assert!(p < Duration::from_millis(100), "p99 {p:?}");
}

/// Two instances of the conformance example on one Redis (the blacklist,
/// one key prefix): a refresh token blacklisted through A is refused by B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conformance_servers_on_redis_refuse_what_the_other_blacklisted() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "two_servers");
    let extra = ["--redis-prefix", p.prefix.as_str()];
    let Some(a) = crate::conformance::start_with("memory", &url, &extra) else {
        return;
    };
    let Some(b) = crate::conformance::start_with("memory", &url, &extra) else {
        return;
    };
    let (a, b) = (a.addr.clone(), b.addr.clone());
    for _ in 0..50 {
        let r = crate::common::http(
            &a,
            "POST",
            "/api/auth/token/",
            &[],
            Some(serde_json::json!({"username": "alice", "password": "alice-password-1"})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let refresh = r.body["refresh"].clone();
        let r = crate::common::http(
            &a,
            "POST",
            "/api/auth/token/blacklist/",
            &[],
            Some(serde_json::json!({"refresh": refresh})),
        );
        assert_eq!(r.status, 204, "{}", r.text);
        let r = crate::common::http(
            &b,
            "POST",
            "/api/auth/token/refresh/",
            &[],
            Some(serde_json::json!({"refresh": refresh})),
        );
        assert_eq!(
            (r.status, r.body),
            (
                401,
                serde_json::json!({"detail": "Token has been blacklisted."})
            )
        );
    }
}

/// Logout everywhere through one instance, the per-user times on a shared
/// store: the other refuses the user's session within 100 ms, its cached
/// "no revocation" forgotten.
macro_rules! logout_everywhere_rounds {
    ($db_a:expr, $db_b:expr, $revocations_a:expr, $revocations_b:expr) => {{
        let (db_a, db_b) = ($db_a, $db_b);
        let users = db_a.users::<User>(UserTable::restflow()).unwrap();
        macro_rules! make {
            ($db:expr, $r:expr) => {
                Auth::<User>::builder(Settings::default())
                    .users($db.users::<User>(UserTable::restflow()).unwrap())
                    .sessions($db.sessions())
                    .revocations($r)
                    .build()
                    .unwrap()
            };
        }
        let (a, b) = (make!(db_a, $revocations_a), make!(db_b, $revocations_b));
        let revocations = |auth: &Auth<User>| {
            auth.context()
                .store::<restflow_auth::revocation::Revocations>()
                .unwrap()
                .cache_stats()
                .expect("a shared revocation store is cached")
        };
        let start = Instant::now();
        while !revocations(&b).trusted {
            assert!(start.elapsed() < Duration::from_secs(10), "never vouched");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut took = Vec::new();
        for i in 0..30 {
            let name = format!("user{i}");
            let user = users.insert(&name, HASH, true, false).await.unwrap();
            let h = cookie(&session_of(&a, &user).await);
            accepted(&b, &h, &name).await;
            accepted(&b, &h, &name).await;
            restflow_auth::revocation::logout_everywhere(a.context(), &user)
                .await
                .unwrap();
            took.push(refused_after(&b, &h).await);
        }
        let p = p99(took);
        assert!(p < Duration::from_millis(100), "p99 {p:?}");
        assert!(revocations(&b).hits >= 30, "{:?}", revocations(&b));
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logout_everywhere_reaches_every_instance_within_100_ms() {
    let Some(url) = database_url() else { return };
    let (_schema, db_a, db_b) = two_databases(&url, "store_caches_everywhere").await;
    let (ra, rb) = (db_a.revocations(), db_b.revocations());
    logout_everywhere_rounds!(db_a, db_b, ra, rb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_logout_everywhere_reaches_every_instance_within_100_ms() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let p = crate::redis::Prefix::new(&url, "everywhere");
    let store = || {
        restflow_auth::revocation::redis::RedisRevocationStore::new(&url)
            .unwrap()
            .with_prefix(p.prefix.clone())
    };
    // Users and sessions in SQLite (a file each instance opens).
    let file = SqliteFile::new("store_caches_everywhere");
    let (db_a, db_b) = (sqlite_db(&file).await, sqlite_db(&file).await);
    logout_everywhere_rounds!(db_a, db_b, store(), store());
}
