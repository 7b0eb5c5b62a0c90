//! The suite every store passes, on the async path and on the blocking
//! path from a thread without a runtime: users (the crate's table and
//! Django's `auth_user`), API tokens (digests and DRF's `authtoken_token`),
//! sessions (memory, SQLite, PostgreSQL, Redis); then a request served end
//! to end from each database, and a PostgreSQL outage that fails closed and
//! recovers without a restart.

use restflow_auth::UserStore;
use restflow_auth::session::{MemorySessionStore, SessionData, SessionStore};
use restflow_auth::sql::{Database, Dialect, SqlUsers, TokenTable, UserTable};
use restflow_auth::token::{MemoryTokenStore, TokenStore};
use serde_json::json;

use crate::common::User;
use crate::sql::{Schema, SqliteFile, database_url};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs `f` on a fresh thread that has no async runtime.
/// Runs `n` copies of a future at once on the current runtime's workers.
async fn futures_join<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(make())).collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(tokio::runtime::Handle::try_current().is_err());
            f()
        })
        .join()
        .unwrap()
    })
}

/// The store holds alice (active), bob (inactive) and root (staff); ids
/// are looked up by name first, as they depend on the backend.
async fn users_suite(store: &impl UserStore<User>, creates: bool) {
    let alice = store.find_by_username("alice").await.unwrap().unwrap();
    assert!(alice.is_active && !alice.is_staff);
    assert_eq!(
        store.find_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    let bob = store.find_by_username("bob").await.unwrap().unwrap();
    assert!(!bob.is_active, "an inactive row is read as inactive");
    assert!(
        store
            .find_by_username("root")
            .await
            .unwrap()
            .unwrap()
            .is_staff
    );
    assert_eq!(store.find_by_username("nobody").await.unwrap(), None);
    assert_eq!(store.find_by_id(&987_654).await.unwrap(), None);
    let (a, missing) = off_runtime(|| {
        (
            store.find_by_id_blocking(&alice.id).unwrap(),
            store.find_by_username_blocking("nobody").unwrap(),
        )
    });
    assert_eq!((a, missing), (Some(alice.clone()), None));
    if creates {
        let carol = store.create_remote_user("carol").await.unwrap().unwrap();
        assert_eq!(carol.username, "carol");
        assert!(carol.is_active && !carol.is_staff);
        assert!(
            !restflow_auth::password::verify_password("", &carol.password).unwrap(),
            "a created user has no usable password"
        );
        // Creating again finds the same user, on both paths.
        assert_eq!(
            store.create_remote_user("carol").await.unwrap(),
            Some(carol.clone())
        );
        let dave = off_runtime(|| store.create_remote_user_blocking("dave").unwrap().unwrap());
        assert_eq!(store.find_by_username("dave").await.unwrap(), Some(dave));
    }
}

async fn tokens_suite(store: &impl TokenStore<i64>, alice: i64) {
    let key = store.issue(&alice).await.unwrap();
    assert!(key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(store.user_for(&key).await.unwrap(), Some(alice));
    assert_eq!(
        store
            .user_for("0000000000000000000000000000000000000000")
            .await
            .unwrap(),
        None
    );
    let newer = store.issue(&alice).await.unwrap();
    assert_eq!(
        store.user_for(&key).await.unwrap(),
        None,
        "a new key replaces the old one"
    );
    assert_eq!(store.user_for(&newer).await.unwrap(), Some(alice));
    let (found, blocking_key) = off_runtime(|| {
        let found = store.user_for_blocking(&newer).unwrap();
        let k = store.issue_blocking(&alice).unwrap();
        (found, k)
    });
    assert_eq!(found, Some(alice));
    assert_eq!(store.user_for(&newer).await.unwrap(), None);
    assert_eq!(store.user_for(&blocking_key).await.unwrap(), Some(alice));
    assert!(store.revoke(&blocking_key).await.unwrap());
    assert!(!store.revoke(&blocking_key).await.unwrap());
    assert_eq!(store.user_for(&blocking_key).await.unwrap(), None);
    let again = store.issue(&alice).await.unwrap();
    assert!(off_runtime(|| store.revoke_blocking(&again).unwrap()));
}

async fn sessions_suite(store: &impl SessionStore) {
    let data = SessionData {
        user_id: json!(7),
        auth_hash: "ab".repeat(32),
        expires_at: now() + 600,
        issued_at: Some(now() - 5),
    };
    assert_eq!(store.load("k1").await.unwrap(), None);
    store.save("k1", &data).await.unwrap();
    assert_eq!(store.load("k1").await.unwrap(), Some(data.clone()));
    let longer = SessionData {
        expires_at: now() + 1200,
        ..data.clone()
    };
    store.save("k1", &longer).await.unwrap();
    assert_eq!(store.load("k1").await.unwrap(), Some(longer.clone()));
    let ended = SessionData {
        expires_at: now() - 1,
        ..data.clone()
    };
    store.save("k2", &ended).await.unwrap();
    assert_eq!(
        store.load("k2").await.unwrap(),
        None,
        "an expired session is gone"
    );
    let text = SessionData {
        user_id: json!("u-1"),
        ..data.clone()
    };
    let (seen, after) = off_runtime(|| {
        let seen = store.load_blocking("k1").unwrap();
        store.save_blocking("k3", &text).unwrap();
        store.delete_blocking("k1").unwrap();
        (seen, store.load_blocking("k1").unwrap())
    });
    assert_eq!((seen, after), (Some(longer), None));
    assert_eq!(store.load("k3").await.unwrap(), Some(text));
    store.delete("k3").await.unwrap();
    store.delete("k3").await.unwrap(); // deleting twice is fine
    assert_eq!(store.load("k3").await.unwrap(), None);
}

const HASH: &str = "pbkdf2_sha256$1000$salt$c2FsdHk=";

/// The crate's own tables, with alice, bob and root.
async fn restflow_users<DB: Dialect>(db: &Database<DB>) -> SqlUsers<User, DB>
where
    SqlUsers<User, DB>: UserStore<User> + Inserts<Db = DB>,
{
    let users = SqlUsers::<User, DB>::new_for_test(db, UserTable::restflow());
    for (name, active, staff) in [
        ("alice", true, false),
        ("bob", false, false),
        ("root", true, true),
    ] {
        users.insert_user(name, HASH, active, staff).await;
    }
    users
}

/// The two backends' `new` and `insert`, for the generic helpers here.
trait Inserts: Sized {
    type Db: Dialect;
    fn new_for_test(db: &Database<Self::Db>, t: UserTable) -> Self;
    async fn insert_user(&self, name: &str, hash: &str, active: bool, staff: bool) -> User;
}

macro_rules! inserts {
    ($db:ty) => {
        impl Inserts for SqlUsers<User, $db> {
            type Db = $db;
            fn new_for_test(db: &Database<$db>, t: UserTable) -> Self {
                SqlUsers::<User, $db>::new(db, t).unwrap()
            }
            async fn insert_user(&self, name: &str, hash: &str, active: bool, staff: bool) -> User {
                self.insert(name, hash, active, staff).await.unwrap()
            }
        }
    };
}
inserts!(sqlx::Sqlite);
inserts!(sqlx::Postgres);

// Django 5's DDL for auth_user and authtoken_token, as `migrate` makes them.
pub(crate) const DJANGO_SQLITE: &[&str] = &[
    r#"CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)"#,
    r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED)"#,
];
pub(crate) const DJANGO_POSTGRES: &[&str] = &[
    r#"CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL, "is_superuser" boolean NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL)"#,
    r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED)"#,
];
// Rows as Django writes them (`create_user`, `Token.objects.create`).
const DJANGO_ROWS: &[&str] = &[
    "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES ('pbkdf2_sha256$1000$salt$c2FsdHk=', FALSE, 'alice', '', '', 'a@example.com', FALSE, TRUE, CURRENT_TIMESTAMP)",
    "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES ('!', FALSE, 'bob', '', '', '', FALSE, FALSE, CURRENT_TIMESTAMP)",
    "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES ('!', TRUE, 'root', '', '', '', TRUE, TRUE, CURRENT_TIMESTAMP)",
    "INSERT INTO authtoken_token (key, created, user_id) VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', CURRENT_TIMESTAMP, (SELECT id FROM auth_user WHERE username = 'alice'))",
];

macro_rules! run_all {
    ($db:expr, $ddl:expr) => {{
        let db = $db;
        // The crate's tables.
        let users = restflow_users(&db).await;
        users_suite(&users, true).await;
        let alice = users.find_by_username("alice").await.unwrap().unwrap().id;
        tokens_suite(&db.tokens::<i64>(TokenTable::restflow()).unwrap(), alice).await;
        let digest: (String,) = sqlx::query_as("SELECT key FROM restflow_token")
            .fetch_one(db.pool())
            .await
            .unwrap_or(("none".into(),));
        assert!(
            digest.0 == "none" || digest.0.len() == 64,
            "only digests are stored"
        );
        sessions_suite(&db.sessions()).await;
        // Django's tables, read where they are.
        for statement in $ddl.iter().chain(DJANGO_ROWS) {
            sqlx::query(statement).execute(db.pool()).await.unwrap();
        }
        let django = db.users::<User>(UserTable::django()).unwrap();
        users_suite(&django, true).await;
        let drf = db.tokens::<i64>(TokenTable::drf()).unwrap();
        let alice = django.find_by_username("alice").await.unwrap().unwrap().id;
        assert_eq!(
            drf.user_for("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")
                .await
                .unwrap(),
            Some(alice),
            "a token Django created is accepted"
        );
        tokens_suite(&drf, alice).await;
        let key = drf.issue(&alice).await.unwrap();
        let stored: (String,) = sqlx::query_as("SELECT key FROM authtoken_token")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(
            stored.0, key,
            "DRF's table keeps keys as DRF does, so Django accepts ours"
        );
        // obtain_auth_token: get or create. The existing key, on both paths;
        // for a user without one, 16 concurrent calls agree on one new key.
        assert_eq!(drf.obtain(&alice).await.unwrap(), key);
        assert_eq!(off_runtime(|| drf.obtain_blocking(&alice).unwrap()), key);
        let root = django.find_by_username("root").await.unwrap().unwrap().id;
        let keys = futures_join(16, || {
            let drf = drf.clone();
            async move { drf.obtain(&root).await.unwrap() }
        })
        .await;
        assert!(
            keys.iter().all(|k| *k == keys[0] && k.len() == 40),
            "{keys:?}"
        );
        assert_eq!(drf.user_for(&keys[0]).await.unwrap(), Some(root));
        // A store of digests cannot give a key back: obtain makes a new one.
        let digests = db.tokens::<i64>(TokenTable::restflow()).unwrap();
        let first = digests.obtain(&alice).await.unwrap();
        let second = digests.obtain(&alice).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(digests.user_for(&first).await.unwrap(), None);
        db
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stores_pass_the_suite() {
    users_suite(&crate::common::users(), false).await;
    tokens_suite(&MemoryTokenStore::<i64>::new(), 1).await;
    sessions_suite(&MemorySessionStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores_pass_the_suite() {
    let file = SqliteFile::new("stores");
    let db = restflow_auth::sql::SqliteDatabase::connect(&file.url())
        .await
        .unwrap();
    // `connect` creates nothing: no table until `migrate`.
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'restflow_%'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(tables, 0, "connect created tables");
    db.migrate().await.unwrap();
    db.migrate().await.unwrap(); // a second run changes nothing
    let db = run_all!(db, DJANGO_SQLITE);
    // Cleanup drops ended sessions and leaves live ones.
    let sessions = db.sessions();
    let live = SessionData {
        user_id: json!(1),
        auth_hash: String::new(),
        expires_at: now() + 60,
        issued_at: None,
    };
    sessions.save("live", &live).await.unwrap();
    sessions
        .save(
            "ended",
            &SessionData {
                expires_at: now() - 5,
                ..live.clone()
            },
        )
        .await
        .unwrap();
    // Two ended sessions: "ended" and the suite's "k2".
    assert_eq!(db.cleanup().await.unwrap(), 2);
    assert_eq!(db.cleanup().await.unwrap(), 0);
    let left: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM restflow_session")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(left.0, 1);
    assert_eq!(sessions.load("live").await.unwrap(), Some(live));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_pass_the_suite() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "stores").await;
    let db = restflow_auth::sql::PostgresDatabase::with_options(schema.options());
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    run_all!(db, DJANGO_POSTGRES);
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sessions_pass_the_suite() {
    let Some(url) = crate::redis::redis_url() else {
        return;
    };
    let prefix = crate::redis::Prefix::new(&url, "sessions");
    let store = prefix.sessions();
    sessions_suite(&store).await;
    // Entries expire with the session: Redis holds a TTL, not a forever key.
    let data = SessionData {
        user_id: json!(1),
        auth_hash: String::new(),
        expires_at: now() + 100,
        issued_at: None,
    };
    store.save("ttl", &data).await.unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{}ttl", prefix.prefix))
        .query(&mut conn)
        .unwrap();
    assert!((90..=101).contains(&ttl), "ttl {ttl}");
    drop(prefix);
}

/// A TCP forwarder to PostgreSQL that can be cut (listener and every live
/// connection closed) and started again on the same port: an outage of the
/// database as the service sees it, without stopping the shared server.
pub(crate) struct Forwarder {
    pub(crate) port: u16,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    pub(crate) fn new(target: &str) -> Self {
        let port = crate::common::free_port();
        Forwarder {
            port,
            target: target.to_owned(),
            task: None,
        }
    }

    pub(crate) async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let target = target.clone();
                // Dropping the set (when this task is aborted) aborts every copy.
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    pub(crate) async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_closed_and_recovers_without_a_restart() {
    use restflow_auth::dispatch::{authenticate, authenticate_blocking};
    use restflow_auth::prelude::*;

    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "outage").await;
    let real = schema.options();
    let mut forwarder = Forwarder::new(&format!("{}:{}", real.get_host(), real.get_port()));
    forwarder.start().await;
    let db = restflow_auth::sql::PostgresDatabase::with_options(
        schema.options().host("127.0.0.1").port(forwarder.port),
    );
    db.migrate().await.unwrap();
    let users = restflow_users(&db).await;
    let tokens = db.tokens::<i64>(TokenTable::restflow()).unwrap();
    let alice = users.find_by_username("alice").await.unwrap().unwrap();
    let key = tokens.issue(&alice.id).await.unwrap();
    // A revoked refresh token: during the outage it must not pass for a live one.
    let blacklist = restflow_auth::jwt::PostgresBlacklist::from_database(&db);
    let auth = Auth::<User>::builder(crate::jwt::shared_settings())
        .users(users)
        .tokens(tokens)
        .blacklist(blacklist)
        .build()
        .unwrap();
    let header = format!("Token {key}");
    let check = |auth: Auth<User>, header: String| async move {
        let (parts, ()) = http::Request::get("/")
            .header("authorization", &header)
            .body(())
            .unwrap()
            .into_parts();
        let on_async = match authenticate::<User, (Token,), (IsAuthenticated,)>(
            &Request::new(&parts),
            auth.context(),
        )
        .await
        {
            Ok(id) => (200, id.user.username().to_owned()),
            Err(d) => (d.status().as_u16(), d.error.to_string()),
        };
        let on_blocking = std::thread::spawn(move || {
            match authenticate_blocking::<User, (Token,), (IsAuthenticated,)>(
                &Request::new(&parts),
                auth.context(),
            ) {
                Ok(id) => (200, id.user.username().to_owned()),
                Err(d) => (d.status().as_u16(), d.error.to_string()),
            }
        })
        .join()
        .unwrap();
        (on_async, on_blocking)
    };
    let ok = (200, "alice".to_owned());
    assert_eq!(
        check(auth.clone(), header.clone()).await,
        (ok.clone(), ok.clone())
    );

    forwarder.cut().await;
    // Cached answers serve until the invalidation feed stops vouching (at
    // the latest max_staleness_ms after its last heartbeat); then every
    // answer comes from the database, which is down.
    let cut = std::time::Instant::now();
    let tokens = auth
        .context()
        .store::<restflow_auth::token::Tokens<i64>>()
        .unwrap();
    while tokens.cache_stats().is_some_and(|s| s.trusted) {
        assert!(cut.elapsed() < std::time::Duration::from_millis(150));
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let down = (
        503,
        "Authentication service temporarily unavailable.".to_owned(),
    );
    assert_eq!(
        check(auth.clone(), header.clone()).await,
        (down.clone(), down.clone())
    );
    let jwt = auth
        .context()
        .store::<restflow_auth::jwt::JwtState>()
        .unwrap();
    let refresh = restflow_auth::jwt::RefreshToken::for_user(&alice, jwt).unwrap();
    let app = axum::Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .layer(auth.layer());
    let refresh_call = |token: String| {
        http::Request::post("/api/auth/token/refresh/")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({ "refresh": token }).to_string(),
            ))
            .unwrap()
    };
    let (status, _, body) =
        crate::handlers::send(app.clone(), refresh_call(refresh.to_string())).await;
    assert_eq!((status.as_u16(), body), (503, json!({"detail": down.1})));

    forwarder.start().await;
    assert_eq!(
        check(auth.clone(), header.clone()).await,
        (ok.clone(), ok),
        "served again, no restart"
    );
    let (status, _, _) =
        crate::handlers::send(app.clone(), refresh_call(refresh.to_string())).await;
    assert_eq!(status.as_u16(), 200);
    forwarder.cut().await;
    drop(schema);
}

/// Keeps the cause of every `restflow-auth: request failed closed` event,
/// with the thread that logged it. Installed once as the global subscriber:
/// a thread-local one misses events when other tests hit the same callsite
/// first (tracing caches callsite interest).
#[derive(Clone, Default)]
struct FailedClosedLog(std::sync::Arc<std::sync::Mutex<Vec<(std::thread::ThreadId, String)>>>);

impl FailedClosedLog {
    fn global() -> &'static FailedClosedLog {
        static LOG: std::sync::OnceLock<FailedClosedLog> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = FailedClosedLog::default();
            tracing::subscriber::set_global_default(log.clone())
                .expect("the only global subscriber");
            log
        })
    }
    /// The causes logged on this thread.
    fn here(&self) -> Vec<String> {
        let me = std::thread::current().id();
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t == me)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

impl tracing::Subscriber for FailedClosedLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String, String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.0 = format!("{value:?}"),
                    "cause" => self.1 = format!("{value:?}"),
                    _ => {}
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "message" => self.0 = value.to_owned(),
                    "cause" => self.1 = value.to_owned(),
                    _ => {}
                }
            }
        }
        let mut f = Fields(String::new(), String::new());
        event.record(&mut f);
        if f.0.contains("request failed closed") {
            self.0
                .lock()
                .unwrap()
                .push((std::thread::current().id(), f.1));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_that_fails_closed_is_logged_once_with_its_cause() {
    // A database on a closed port: the refresh view's blacklist check fails.
    let port = crate::common::free_port();
    let options = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres");
    let auth = crate::jwt::auth_on(restflow_auth::jwt::PostgresBlacklist::with_options(options));
    let (_, refresh) = crate::jwt::alice_tokens(&auth);
    let app = axum::Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .layer(auth.layer());
    let log = FailedClosedLog::global();
    let before = log.here().len();
    let (status, _, body) = crate::handlers::send(
        app,
        http::Request::post("/api/auth/token/refresh/")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({ "refresh": refresh.to_string() }).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            503,
            json!({"detail": "Authentication service temporarily unavailable."})
        )
    );
    // This test's runtime is single-threaded: its events are on this thread.
    let causes = log.here()[before..].to_vec();
    assert_eq!(causes.len(), 1, "logged once: {causes:?}");
    assert!(
        causes[0].starts_with("sql blacklist: "),
        "with its cause: {causes:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_sql_call_inside_a_runtime_is_an_error_not_a_panic() {
    let file = SqliteFile::new("inside");
    let db = restflow_auth::sql::SqliteDatabase::connect(&file.url())
        .await
        .unwrap();
    let err = db.sessions().load_blocking("k").unwrap_err();
    assert_eq!(err.status(false).as_u16(), 500);
    assert!(
        err.cause().unwrap().contains("inside an async runtime"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_mapping_takes_plain_names_only() {
    let file = SqliteFile::new("names");
    let db = restflow_auth::sql::SqliteDatabase::connect(&file.url())
        .await
        .unwrap();
    let bad = db
        .users::<User>(UserTable::restflow().table("auth_user; DROP TABLE restflow_user"))
        .unwrap_err();
    assert!(bad.to_string().contains("is not a plain SQL name"), "{bad}");
    assert!(
        db.tokens::<i64>(TokenTable::drf().table("app.authtoken_token"))
            .is_ok(),
        "schema.table is allowed"
    );
    let quoted = db.users::<User>(UserTable::django().insert_default("email", "''; DROP TABLE x"));
    assert!(quoted.is_err(), "a default is one expression");
}
