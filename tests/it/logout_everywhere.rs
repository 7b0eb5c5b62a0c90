//! Logout everywhere (issue 14, part 5): one call ends every access token,
//! refresh token and session of one user, and nobody else's, on both paths
//! and on every revocation store (memory, SQLite, PostgreSQL, Redis, each
//! beside the session store of its kind); the view; failing closed.

use restflow_auth::jwt::{AccessToken, MemoryBlacklist, RefreshToken};
use restflow_auth::permissions::IsAuthenticated;
use restflow_auth::prelude::*;
use restflow_auth::revocation::{self, MemoryRevocationStore, RevocationStore};
use restflow_auth::session::{MemorySessionStore, SessionStore, Sessions};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{User, user};
use crate::jwt::{settings_with, state, users};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const BLACKLISTED: &str = "Token has been blacklisted.";
const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

fn build(revocations: impl RevocationStore, sessions: impl SessionStore) -> Auth<User> {
    Auth::builder(settings_with(|_| {}))
        .users(users())
        .blacklist(MemoryBlacklist::new())
        .sessions(sessions)
        .revocations(revocations)
        .build()
        .unwrap()
}

/// Chain `C` on a GET with `header`: the async path on the test's runtime
/// (where the stores' pools live), the blocking path on a thread without
/// one; they must agree. `(status, detail or "user:<name>")`.
/// `blocking` is the header of the blocking path when it differs (a
/// session of its own: the async path's answer may end the first).
async fn both<C: restflow_auth::Chain<User>>(
    auth: &Auth<User>,
    header: (&str, String),
    blocking: Option<String>,
) -> (u16, String) {
    use restflow_auth::dispatch::{Denial, Identity, authenticate, authenticate_blocking};
    let request = |value: String| {
        http::Request::get("/")
            .header(header.0, value)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let blocking_parts = request(blocking.unwrap_or_else(|| header.1.clone()));
    let parts = request(header.1);
    let show = |r: Result<Identity<User>, Denial>| match r {
        Ok(id) => (200, format!("user:{}", id.user.username())),
        Err(d) => (d.status().as_u16(), d.error.to_string()),
    };
    let a = show(
        authenticate::<User, C, (IsAuthenticated,)>(&Request::new(&parts), auth.context()).await,
    );
    let b = std::thread::scope(|s| {
        s.spawn(|| {
            show(authenticate_blocking::<User, C, (IsAuthenticated,)>(
                &Request::new(&blocking_parts),
                auth.context(),
            ))
        })
        .join()
        .unwrap()
    });
    assert_eq!(a, b, "async and blocking paths disagree");
    a
}

async fn jwt(auth: &Auth<User>, token: &str) -> (u16, String) {
    both::<(Jwt,)>(auth, ("authorization", format!("Bearer {token}")), None).await
}

/// A pair of sessions of one user: one for each path.
struct Pair(String, String);

async fn pair(auth: &Auth<User>, who: &User) -> Pair {
    Pair(login(auth, who).await, login(auth, who).await)
}

async fn session(auth: &Auth<User>, keys: &Pair) -> (u16, String) {
    let cookie = |k: &str| format!("sessionid={k}");
    both::<(Session,)>(auth, ("cookie", cookie(&keys.0)), Some(cookie(&keys.1))).await
}

fn ok(who: &str) -> (u16, String) {
    (200, format!("user:{who}"))
}

/// Starts a session for the stored user of `who`'s id.
async fn login(auth: &Auth<User>, who: &User) -> String {
    let ctx = auth.context();
    let who = &ctx.users().find_by_id(&who.id).await.unwrap().unwrap();
    restflow_auth::session::login(
        ctx.store::<Sessions>().unwrap(),
        &ctx.settings().session,
        who,
        None,
    )
    .await
    .unwrap()
}

/// POST `path` of the JWT and logout-everywhere routes with a JSON body.
async fn post(
    auth: &Auth<User>,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let app: axum::Router = axum::Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .nest(
            "/api/auth",
            auth.logout_everywhere_routes::<(Jwt, Session), _>()
                .unwrap(),
        )
        .layer(auth.layer());
    let mut req = http::Request::post(path)
        .header("content-type", "application/json")
        .header("host", "testserver");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .oneshot(req.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn wait_until(at: i64) {
    while now() < at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The whole story on one pair of stores.
async fn scenario(auth: Auth<User>) {
    let (alice, bob) = (user(1, "alice", true, false), user(3, "root", true, true));
    let access = AccessToken::for_user(&alice, state(&auth)).unwrap();
    let refresh = RefreshToken::for_user(&alice, state(&auth)).unwrap();
    let bob_access = AccessToken::for_user(&bob, state(&auth)).unwrap();
    let alice_session = pair(&auth, &alice).await;
    let bob_session = pair(&auth, &bob).await;
    assert_eq!(jwt(&auth, access.as_str()).await, ok("alice"));
    assert_eq!(session(&auth, &alice_session).await, ok("alice"));

    let called = now();
    let at = revocation::logout_everywhere(auth.context(), &alice)
        .await
        .unwrap();
    assert!(at == called + 1 || at == called + 2, "{at} {called}");
    assert_eq!(jwt(&auth, access.as_str()).await, (401, BLACKLISTED.into()));
    assert_eq!(
        session(&auth, &alice_session).await,
        (403, NOT_PROVIDED.into())
    );
    let sessions = auth.context().store::<Sessions>().unwrap();
    for key in [&alice_session.0, &alice_session.1] {
        assert_eq!(sessions.load(key).await.unwrap(), None, "flushed");
    }
    let (status, body) = post(
        &auth,
        "/api/auth/token/refresh/",
        &[],
        json!({"refresh": refresh.as_str()}),
    )
    .await;
    assert_eq!((status, body), (401, json!({"detail": BLACKLISTED})));
    // Nobody else's.
    assert_eq!(jwt(&auth, bob_access.as_str()).await, ok("root"));
    assert_eq!(session(&auth, &bob_session).await, ok("root"));

    // After the recorded second, new credentials work.
    wait_until(at).await;
    let fresh = AccessToken::for_user(&alice, state(&auth)).unwrap();
    let fresh_session = pair(&auth, &alice).await;
    assert_eq!(jwt(&auth, fresh.as_str()).await, ok("alice"));
    assert_eq!(session(&auth, &fresh_session).await, ok("alice"));

    // Again, on the blocking path, a second later: the later time wins.
    wait_until(at + 1).await;
    let ctx = auth.context();
    let again = std::thread::scope(|s| {
        s.spawn(|| revocation::logout_everywhere_blocking(ctx, &alice).unwrap())
            .join()
            .unwrap()
    });
    assert!(again > at);
    assert_eq!(jwt(&auth, fresh.as_str()).await, (401, BLACKLISTED.into()));
    assert_eq!(
        session(&auth, &fresh_session).await,
        (403, NOT_PROVIDED.into())
    );
    assert_eq!(jwt(&auth, bob_access.as_str()).await, ok("root"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stores() {
    scenario(build(
        MemoryRevocationStore::new(),
        MemorySessionStore::new(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores() {
    let file = crate::sql::SqliteFile::new("revocations");
    let db = restflow_auth::sql::SqliteDatabase::connect(&file.url())
        .await
        .unwrap();
    // A sessions table made before `issued_at`: migrate adds the column.
    sqlx::query(
        "CREATE TABLE restflow_session (session_key VARCHAR(40) NOT NULL PRIMARY KEY, \
         user_id TEXT NOT NULL, auth_hash VARCHAR(64) NOT NULL, expires_at BIGINT NOT NULL)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    scenario(build(db.revocations(), db.sessions())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores() {
    let Some(url) = crate::sql::database_url() else {
        return;
    };
    let schema = crate::sql::Schema::new(&url, "revocations").await;
    let db = restflow_auth::sql::PostgresDatabase::with_options(schema.options());
    db.migrate().await.unwrap();
    scenario(build(db.revocations(), db.sessions())).await;
    // The row a direct SQL reader sees: the user's id as JSON and the time.
    let row: (String, i64) =
        sqlx::query_as("SELECT user_key, valid_after FROM restflow_user_revocation")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(row.0, "1");
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stores() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let prefix = crate::redis::Prefix::new(&url, "revocations");
    let store = revocation::redis::RedisRevocationStore::new(&url)
        .unwrap()
        .with_prefix(prefix.prefix.clone());
    scenario(build(store, prefix.sessions())).await;
    // The key expires once no credential issued before it can live.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{}1", prefix.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 86_400 && ttl <= 1_209_600 + 120, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_ends_the_callers_credentials() {
    let auth = build(MemoryRevocationStore::new(), MemorySessionStore::new());
    let alice = user(1, "alice", true, false);
    let access = AccessToken::for_user(&alice, state(&auth)).unwrap();
    let bearer = format!("Bearer {}", access.as_str());
    let (status, _) = post(&auth, "/api/auth/logout/everywhere/", &[], json!({})).await;
    assert_eq!(status, 401, "anonymous callers are refused");
    let (status, body) = post(
        &auth,
        "/api/auth/logout/everywhere/",
        &[("authorization", &bearer)],
        json!({}),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(jwt(&auth, access.as_str()).await, (401, BLACKLISTED.into()));
    // A session caller (a session begun after that call) must pass the CSRF check.
    wait_until(now() + 1).await;
    let key = login(&auth, &alice).await;
    let cookie = format!("sessionid={key}");
    let (status, body) = post(
        &auth,
        "/api/auth/logout/everywhere/",
        &[("cookie", &cookie)],
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["detail"].as_str().unwrap().starts_with("CSRF Failed"),
        "{body}"
    );
    assert_eq!(
        session(&auth, &Pair(key.clone(), key.clone())).await,
        ok("alice"),
        "a refused call revokes nothing"
    );
    let csrf = "a".repeat(32);
    let (status, _) = post(
        &auth,
        "/api/auth/logout/everywhere/",
        &[
            ("cookie", &format!("{cookie}; csrftoken={csrf}")),
            ("x-csrftoken", &csrf),
            ("origin", "http://testserver"),
        ],
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        session(&auth, &Pair(key.clone(), key.clone())).await,
        (403, NOT_PROVIDED.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_closed() {
    let port = crate::common::free_port();
    let store =
        revocation::redis::RedisRevocationStore::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    let auth = build(store, MemorySessionStore::new());
    let alice = user(1, "alice", true, false);
    let access = AccessToken::for_user(&alice, state(&auth)).unwrap();
    assert_eq!(
        jwt(&auth, access.as_str()).await,
        (
            503,
            "Authentication service temporarily unavailable.".into()
        )
    );
    let key = login(&auth, &alice).await;
    assert_eq!(
        session(&auth, &Pair(key.clone(), key.clone())).await,
        (
            503,
            "Authentication service temporarily unavailable.".into()
        )
    );
    assert!(
        revocation::logout_everywhere(auth.context(), &alice)
            .await
            .is_err()
    );
    // Without a revocation store nothing is checked, and the call says what to add.
    let plain = Auth::<User>::builder(settings_with(|_| {}))
        .users(users())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap();
    let e = revocation::logout_everywhere(plain.context(), &alice)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "A server error occurred.");
    let e = plain
        .logout_everywhere_routes::<(Jwt, Token), ()>()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("revocation store") && e.contains("token store"),
        "{e}"
    );
}
