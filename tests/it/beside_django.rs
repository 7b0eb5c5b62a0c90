//! Beside a real Django (issue 12, item 7): a Django 5.2 project with DRF,
//! authtoken and simplejwt's token_blacklist (`tests/django_beside/`,
//! served by `runserver`) and a Rust service on restflow-auth, on one
//! database (a temporary SQLite file, then a PostgreSQL schema), with one
//! cookie jar for both, as a browser on one host has. Checked across the
//! two: users with every Django hasher, passwords set on either side
//! verified on the other, DRF tokens both ways, sessions both ways (login
//! on one, whoami on the other, logout, password change; `django_session`
//! and `signed_cookies`), the shared CSRF cookie, simplejwt tokens and the
//! one blacklist, deactivation at once, and the time an unknown username
//! takes against a known one.
//!
//! `.ci/run` installs Django, DRF, simplejwt, argon2-cffi, bcrypt and
//! psycopg into its venv (`RESTFLOW_TEST_PYTHON`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::get;
use base64::Engine;
use restflow_auth::jwt::Blacklist;
use restflow_auth::password::{Hasher, PasswordSettings, Passwords};
use restflow_auth::prelude::*;
use restflow_auth::session::SessionStore;
use restflow_auth::settings::Secret;
use restflow_auth::sql::{Database, TokenTable, UserTable};
use restflow_auth::token::TokenStore;
use serde_json::{Value, json};

use crate::sql::{Schema, SqliteFile, database_url};

const SECRET_KEY: &str = "django-insecure-beside-test-secret-key-0123456789abcdefghij";
const OLD_SECRET_KEY: &str = "django-insecure-the-key-before-rotation-9876543210zyxwvu";
const JWT_KEY: &str = "beside-test-simplejwt-signing-key-0123456789abcdefghijklmn";

/// A user of Django's `auth_user`, as the Rust service reads it.
#[derive(Clone, Debug, PartialEq, AuthUser)]
pub struct DjangoUser {
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

fn me(user: &DjangoUser) -> Json<Value> {
    Json(json!({ "username": user.username }))
}

#[authenticate(Session)]
#[permissions(IsAuthenticated)]
async fn by_session(user: CurrentUser<DjangoUser>) -> Json<Value> {
    me(&user)
}

#[authenticate(Token)]
#[permissions(IsAuthenticated)]
async fn by_token(user: CurrentUser<DjangoUser>) -> Json<Value> {
    me(&user)
}

#[authenticate(SimpleJwt)]
#[permissions(IsAuthenticated)]
async fn by_simplejwt(user: CurrentUser<DjangoUser>) -> Json<Value> {
    me(&user)
}

#[authenticate(Jwt)]
#[permissions(IsAuthenticated)]
async fn by_jwt(user: CurrentUser<DjangoUser>) -> Json<Value> {
    me(&user)
}

#[authenticate(Basic)]
#[permissions(IsAuthenticated)]
async fn by_basic(user: CurrentUser<DjangoUser>) -> Json<Value> {
    me(&user)
}

// ---------------------------------------------------------------------------
// HTTP with one cookie jar for both servers (cookies ignore the port).

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn text(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
            .to_owned()
    }
}

#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    fn absorb(&mut self, reply: &Reply) {
        for (k, v) in &reply.headers {
            if k != "set-cookie" {
                continue;
            }
            let (name, rest) = v.split_once('=').unwrap_or((v, ""));
            let value = rest
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            let lower = v.to_ascii_lowercase();
            if value.is_empty() || lower.contains("max-age=0") {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }
    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

fn send(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let payload = &raw[split + 4..];
    let body = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A browser-like client of both servers.
struct Client<'a> {
    django: &'a str,
    rust: &'a str,
    jar: Jar,
}

enum Side {
    Django,
    Rust,
}

enum Body<'a> {
    None,
    Json(Value),
    Form(Vec<(&'a str, &'a str)>),
}

impl Client<'_> {
    fn call(
        &mut self,
        side: Side,
        method: &str,
        path: &str,
        extra: &[(&str, String)],
        body: Body<'_>,
    ) -> Reply {
        let addr = match side {
            Side::Django => self.django,
            Side::Rust => self.rust,
        };
        let mut headers: Vec<(&str, String)> = extra.to_vec();
        if let Some(c) = self.jar.header() {
            headers.push(("Cookie", c));
        }
        let bytes = match body {
            Body::Form(fields) => {
                headers.push(("Content-Type", "application/x-www-form-urlencoded".into()));
                fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&")
                    .into_bytes()
            }
            Body::Json(v) => {
                headers.push(("Content-Type", "application/json".into()));
                v.to_string().into_bytes()
            }
            Body::None => Vec::new(),
        };
        let reply = send(addr, method, path, &headers, &bytes);
        self.jar.absorb(&reply);
        reply
    }
    /// A masked CSRF token from `side` (setting the shared cookie).
    fn csrf(&mut self, side: Side) -> String {
        let path = match side {
            Side::Django => "/django/csrf/",
            Side::Rust => "/api/csrf/",
        };
        let r = self.call(side, "GET", path, &[], Body::None);
        assert_eq!(r.status, 200, "{r:?}");
        r.text("csrftoken")
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    (
        "Authorization",
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ),
    )
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

// ---------------------------------------------------------------------------
// The Django side.

struct Django {
    child: Child,
    addr: String,
}

impl Drop for Django {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<String> {
    let python = std::env::var("RESTFLOW_TEST_PYTHON").ok();
    let ok = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args([
                "-c",
                "import django, rest_framework, rest_framework_simplejwt, argon2, bcrypt, psycopg",
            ])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "RESTFLOW_TEST_PYTHON must name a Python with Django, DRF, simplejwt, argon2-cffi, bcrypt and psycopg (.ci/run installs them)"
        );
        eprintln!("skipped: no Python with Django");
        return None;
    }
    python
}

fn manage(python: &str, database: &str, engine: &str, args: &[&str]) -> Command {
    let mut c = Command::new(python);
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django_beside/manage.py"))
        .args(args)
        .env("BESIDE_DATABASE", database)
        .env("BESIDE_SECRET_KEY", SECRET_KEY)
        .env("BESIDE_SECRET_KEY_FALLBACKS", OLD_SECRET_KEY)
        .env("BESIDE_JWT_KEY", JWT_KEY)
        .env("BESIDE_SESSION_ENGINE", engine)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

fn migrate(python: &str, database: &str) {
    let out = manage(python, database, "db", &["migrate", "-v0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "manage.py migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_django(python: &str, database: &str, engine: &str) -> Django {
    let addr = format!("127.0.0.1:{}", crate::common::free_port());
    let child = manage(
        python,
        database,
        engine,
        &["runserver", &addr, "--noreload", "--skip-checks"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "Django did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Django { child, addr }
}

/// The test's hands on the Django side (`/t/...`, what a shell would do).
fn t(django: &str, what: &str, body: Value) -> Value {
    let r = send(
        django,
        "POST",
        &format!("/t/{what}/"),
        &[("Content-Type", "application/json".into())],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "/t/{what}/: {r:?}");
    r.body
}

// ---------------------------------------------------------------------------
// The Rust side.

fn settings() -> Settings {
    let mut s = Settings::default();
    s.django.secret_key = Some(Secret::new(SECRET_KEY));
    s.django.secret_key_fallbacks = vec![Secret::new(OLD_SECRET_KEY)];
    // One key for the built-in JWT and the simplejwt verifier: the Django
    // service's SIMPLE_JWT SIGNING_KEY.
    s.jwt.signing_key = Some(Secret::new(JWT_KEY));
    s.simplejwt.signing_key = Some(Secret::new(JWT_KEY));
    // New hashes as Django writes them, upgraded on login as Django does.
    s.password.hasher = Hasher::Pbkdf2Sha256;
    s.password.rehash_on_login = true;
    // The timing check repeats wrong passwords; the lockout has its tests.
    s.login.lockout = false;
    s
}

/// The Rust service on the shared stores, served on a thread of its own.
struct RustSide {
    addr: String,
    auth: Auth<DjangoUser>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RustSide {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(auth: Auth<DjangoUser>) -> RustSide {
    let app = axum::Router::new()
        .route("/rust/session/", get(by_session).post(by_session))
        .route("/rust/token/", get(by_token))
        .route("/rust/simplejwt/", get(by_simplejwt))
        .route("/rust/jwt/", get(by_jwt))
        .route("/rust/basic/", get(by_basic).post(by_basic))
        .nest("/api/auth", auth.session_routes().merge(auth.jwt_routes()))
        .nest("/api", auth.csrf_routes())
        .layer(auth.layer());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    RustSide {
        addr,
        auth,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

fn build<Us, T, S, B>(
    settings: Settings,
    users: Us,
    tokens: T,
    sessions: S,
    blacklist: B,
) -> Auth<DjangoUser>
where
    Us: UserStore<DjangoUser>,
    T: TokenStore<i64>,
    S: SessionStore,
    B: Blacklist,
{
    Auth::builder(settings)
        .users(users)
        .tokens(tokens)
        .sessions(sessions)
        .blacklist(blacklist)
        .check_routes(true)
        .build()
        .expect("every route's scheme is configured")
}

/// What the scenarios need of the Rust side's stores.
trait Stores: Send + Sync + 'static {
    fn set_password_hash(&self, id: i64, hash: &str);
    fn obtain_token(&self, id: i64) -> String;
}

struct SqlStores<Us, T> {
    users: Us,
    tokens: T,
}

impl<Us: UserStore<DjangoUser>, T: TokenStore<i64>> Stores for SqlStores<Us, T> {
    fn set_password_hash(&self, id: i64, hash: &str) {
        // Compare and set: a hash that changed meanwhile is left alone.
        assert!(
            !self
                .users
                .set_password_hash_blocking(&id, "pbkdf2_sha256$1$stale$", hash)
                .unwrap(),
            "a stale hash is not replaced"
        );
        let current = self
            .users
            .find_by_id_blocking(&id)
            .unwrap()
            .unwrap()
            .password;
        assert!(
            self.users
                .set_password_hash_blocking(&id, &current, hash)
                .unwrap(),
            "the store writes passwords"
        );
    }
    fn obtain_token(&self, id: i64) -> String {
        self.tokens.obtain_blocking(&id).unwrap()
    }
}

// ---------------------------------------------------------------------------
// The scenarios, on one database.

fn hashers(django: &str, rust: &RustSide, stores: &dyn Stores) {
    let base = |r: &Reply| r.status;
    // Every hasher Django ships, as Django writes it.
    for hasher in [
        "pbkdf2_sha256",
        "pbkdf2_sha1",
        "argon2",
        "bcrypt_sha256",
        "bcrypt",
        "scrypt",
        "md5",
    ] {
        let name = format!("h_{hasher}");
        let password = format!("pw-{hasher}-Ωµ");
        let made = t(
            django,
            "user",
            json!({ "username": name, "password": password, "hasher": hasher }),
        );
        let stored = made["password"].as_str().unwrap().to_owned();
        assert!(stored.starts_with(&format!("{hasher}$")), "{stored}");
        let wrong = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic(&name, "not-it")],
            b"",
        );
        assert_eq!(wrong.status, 401, "{hasher}: {wrong:?}");
        assert_eq!(
            wrong.body,
            json!({ "detail": "Invalid username/password." })
        );
        let right = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic(&name, &password)],
            b"",
        );
        assert_eq!(base(&right), 200, "{hasher} ({stored}): {right:?}");
        assert_eq!(right.body, json!({ "username": name }));
        // rehash_on_login: the hash is now Django's default, and Django
        // reads it and says it needs no update.
        let after = t(
            django,
            "check",
            json!({ "username": name, "password": password }),
        );
        assert_eq!(after["valid"], true, "{hasher}: {after}");
        assert_eq!(after["algorithm"], "pbkdf2_sha256", "{hasher}: {after}");
        assert_eq!(after["must_update"], false, "{hasher}: {after}");
        if hasher == "pbkdf2_sha256" {
            assert_eq!(
                after["password"],
                stored.as_str(),
                "a current hash is left alone"
            );
        }
        let again = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic(&name, &password)],
            b"",
        );
        assert_eq!(again.status, 200, "{hasher} after the rehash");
    }

    // Unusable and unsalted hashes match nothing, on either side.
    let unusable = t(
        django,
        "user",
        json!({ "username": "h_unusable", "password": null }),
    );
    assert!(unusable["password"].as_str().unwrap().starts_with('!'));
    for (name, raw, password) in [
        ("h_unsalted_md5", "0cc175b9c0f1b6a831c399e269772661", "a"),
        ("h_md5_nosalt", "md5$$0cc175b9c0f1b6a831c399e269772661", "a"),
        (
            "h_sha1_nosalt",
            "sha1$$86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
            "a",
        ),
        ("h_unusable", "", ""),
    ] {
        if !raw.is_empty() {
            t(django, "user", json!({ "username": name, "raw": raw }));
        }
        let r = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic(name, password)],
            b"",
        );
        assert_eq!(r.status, 401, "{name}: {r:?}");
        let d = t(
            django,
            "check",
            json!({ "username": name, "password": password }),
        );
        assert_eq!(d["valid"], false, "{name}: Django refuses it too: {d}");
    }

    // Hashes the Rust side writes, read by Django; the PHC string Django
    // cannot read still verifies here.
    let made = t(
        django,
        "user",
        json!({ "username": "h_rust", "password": "first" }),
    );
    let id = made["id"].as_i64().unwrap();
    for (hasher, algorithm) in [
        (Hasher::Pbkdf2Sha256, Some("pbkdf2_sha256")),
        (Hasher::DjangoArgon2, Some("argon2")),
        (Hasher::Argon2id, None),
    ] {
        let passwords = Passwords::new(&PasswordSettings {
            hasher,
            ..PasswordSettings::default()
        });
        let password = format!("rust-{hasher:?}-ü");
        let hash = passwords.hash_blocking(&password).unwrap();
        stores.set_password_hash(id, &hash);
        let d = t(
            django,
            "check",
            json!({ "username": "h_rust", "password": password }),
        );
        match algorithm {
            Some(a) => {
                assert_eq!(d["valid"], true, "{hasher:?}: {d}");
                assert_eq!(d["algorithm"], a);
            }
            None => assert_eq!(d["valid"], false, "Django cannot read a PHC string: {d}"),
        }
        // Before the login below rehashes it.
        assert_eq!(
            send(
                &rust.addr,
                "GET",
                "/rust/basic/",
                &[basic("h_rust", "wrong")],
                b""
            )
            .status,
            401
        );
        let r = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic("h_rust", &password)],
            b"",
        );
        assert_eq!(r.status, 200, "{hasher:?}: {r:?}");
    }
    // A password Django sets is the Rust side's next one.
    t(
        django,
        "set",
        json!({ "username": "h_rust", "password": "set-by-django" }),
    );
    let r = send(
        &rust.addr,
        "GET",
        "/rust/basic/",
        &[basic("h_rust", "set-by-django")],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
}

fn tokens(django: &str, rust: &RustSide, stores: &dyn Stores) {
    t(
        django,
        "user",
        json!({ "username": "tok_a", "password": "tok-a-pw" }),
    );
    let b = t(
        django,
        "user",
        json!({ "username": "tok_b", "password": "tok-b-pw" }),
    );
    // Django's obtain_auth_token, accepted here.
    let r = send(
        django,
        "POST",
        "/django/api-token-auth/",
        &[("Content-Type", "application/json".into())],
        json!({ "username": "tok_a", "password": "tok-a-pw" })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let key = r.text("token");
    let ok = send(
        &rust.addr,
        "GET",
        "/rust/token/",
        &[("Authorization", format!("Token {key}"))],
        b"",
    );
    assert_eq!(
        (ok.status, &ok.body),
        (200, &json!({ "username": "tok_a" }))
    );
    // A key made here (get or create, as obtain_auth_token), accepted there.
    let id_b = b["id"].as_i64().unwrap();
    let ours = stores.obtain_token(id_b);
    assert_eq!(
        stores.obtain_token(id_b),
        ours,
        "the same key again, as DRF's get_or_create"
    );
    let theirs = t(django, "token", json!({ "username": "tok_b" }));
    assert_eq!(theirs, json!({ "key": ours, "created": false }));
    let r = send(
        django,
        "GET",
        "/django/drf/whoami/",
        &[("Authorization", format!("Token {ours}"))],
        b"",
    );
    assert_eq!(
        r.body,
        json!({ "username": "tok_b", "scheme": "TokenAuthentication" })
    );
    // And the key of tok_a that Django made is what obtain gives here.
    let a = send(
        &rust.addr,
        "GET",
        "/rust/token/",
        &[("Authorization", format!("Token {key}"))],
        b"",
    );
    assert_eq!(a.status, 200);
}

fn login_django(c: &mut Client<'_>, user: &str, password: &str) {
    let token = c.csrf(Side::Django);
    let r = c.call(
        Side::Django,
        "POST",
        "/django/login/",
        &[("X-CSRFToken", token)],
        Body::Form(vec![("username", user), ("password", password)]),
    );
    assert_eq!(r.status, 200, "Django login: {r:?}");
    assert!(c.jar.get("sessionid").is_some());
}

fn login_rust(c: &mut Client<'_>, user: &str, password: &str) {
    let r = c.call(
        Side::Rust,
        "POST",
        "/api/auth/session/login/",
        &[],
        Body::Json(json!({ "username": user, "password": password })),
    );
    assert_eq!(r.status, 200, "Rust login: {r:?}");
    assert!(c.jar.get("sessionid").is_some());
}

fn whoami(c: &mut Client<'_>, side: Side) -> (u16, Value) {
    let path = match side {
        Side::Django => "/django/whoami/",
        Side::Rust => "/rust/session/",
    };
    let r = c.call(side, "GET", path, &[], Body::None);
    (r.status, r.body)
}

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// A write made on Django's side (or through another connection) reaches
/// this side's caches within their staleness bound (`[invalidation]
/// max_staleness_ms`, 100 ms; on SQLite the next `data_version` read, on
/// PostgreSQL the trigger's notification): `f` again until `done` says it
/// has, for at most 150 ms; its last answer.
fn settled<T>(mut f: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let start = Instant::now();
    loop {
        let r = f();
        if done(&r) || start.elapsed() > Duration::from_millis(150) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn sessions(django: &str, rust: &RustSide, stores: &dyn Stores, signed_cookies: bool) {
    let user = if signed_cookies {
        "sc_alice"
    } else {
        "ses_alice"
    };
    let made = t(
        django,
        "user",
        json!({ "username": user, "password": "alice-pw" }),
    );
    let id = made["id"].as_i64().unwrap();
    let mut c = Client {
        django,
        rust: &rust.addr,
        jar: Jar::default(),
    };
    let alice = json!({ "username": user });

    // A Django login is a login here.
    login_django(&mut c, user, "alice-pw");
    assert_eq!(whoami(&mut c, Side::Rust), (200, alice.clone()));
    // Unsafe methods need the shared CSRF cookie and a token from either side.
    let r = c.call(Side::Rust, "POST", "/rust/session/", &[], Body::None);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "detail": "CSRF Failed: CSRF token missing." })
    );
    let theirs = c.csrf(Side::Django);
    let r = c.call(
        Side::Rust,
        "POST",
        "/rust/session/",
        &[("X-CSRFToken", theirs)],
        Body::None,
    );
    assert_eq!(
        (r.status, &r.body),
        (200, &alice),
        "a Django token passes here"
    );

    // A logout here ends it there.
    let before = c.jar.get("sessionid").unwrap().to_owned();
    let token = c.csrf(Side::Rust);
    let r = c.call(
        Side::Rust,
        "POST",
        "/api/auth/session/logout/",
        &[("X-CSRFToken", token)],
        Body::None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert!(c.jar.get("sessionid").is_none(), "the cookie is deleted");
    assert_eq!(whoami(&mut c, Side::Django).0, 302);
    if !signed_cookies {
        // The row is gone: the old cookie names nothing on either side.
        c.jar.0.insert("sessionid".into(), before);
        assert_eq!(whoami(&mut c, Side::Django).0, 302);
        assert_eq!(whoami(&mut c, Side::Rust).0, 403);
        c.jar.0.remove("sessionid");
    }

    // A login here is a login there: Django's login_required and DRF's
    // SessionAuthentication, whose CSRF check takes a token of ours.
    login_rust(&mut c, user, "alice-pw");
    assert_eq!(whoami(&mut c, Side::Django), (200, alice.clone()));
    let r = c.call(Side::Django, "GET", "/django/drf/whoami/", &[], Body::None);
    assert_eq!(
        r.body,
        json!({ "username": user, "scheme": "SessionAuthentication" })
    );
    let r = c.call(Side::Django, "POST", "/django/drf/whoami/", &[], Body::None);
    assert_eq!(r.status, 403, "DRF enforces CSRF: {r:?}");
    let ours = c.csrf(Side::Rust);
    let r = c.call(
        Side::Django,
        "POST",
        "/django/drf/whoami/",
        &[("X-CSRFToken", ours)],
        Body::None,
    );
    assert_eq!(r.status, 200, "a token of ours passes there: {r:?}");
    if !signed_cookies {
        // Django's three keys, as Django writes them.
        let key = c.jar.get("sessionid").unwrap().to_owned();
        let all = send(django, "GET", "/t/sessions/", &[], b"").body;
        let row = all["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key.as_str())
            .expect("the Rust login's row in django_session")
            .clone();
        let hash = t(
            django,
            "check",
            json!({ "username": user, "password": "x" }),
        )["password"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            row["data"],
            json!({
                "_auth_user_id": id.to_string(),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": restflow_auth::django::session_auth_hash(&hash, SECRET_KEY),
            })
        );
    }

    // A logout there ends it here.
    let before = c.jar.get("sessionid").unwrap().to_owned();
    let token = c.csrf(Side::Django);
    let r = c.call(
        Side::Django,
        "POST",
        "/django/logout/",
        &[("X-CSRFToken", token)],
        Body::None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        settled(|| whoami(&mut c, Side::Rust), |r| r.0 != 200),
        (403, json!({ "detail": NOT_PROVIDED }))
    );
    if !signed_cookies {
        c.jar.0.insert("sessionid".into(), before);
        assert_eq!(whoami(&mut c, Side::Rust).0, 403, "the row is gone");
        c.jar.0.remove("sessionid");
    }

    // A password change on either side ends the sessions on both.
    login_rust(&mut c, user, "alice-pw");
    let mut other = Client {
        django,
        rust: &rust.addr,
        jar: Jar::default(),
    };
    login_django(&mut other, user, "alice-pw");
    assert_eq!(whoami(&mut other, Side::Rust).0, 200);
    t(
        django,
        "set",
        json!({ "username": user, "password": "changed-by-django" }),
    );
    assert_eq!(settled(|| whoami(&mut c, Side::Rust).0, |s| *s != 200), 403);
    assert_eq!(whoami(&mut c, Side::Django).0, 302);
    assert_eq!(
        settled(|| whoami(&mut other, Side::Rust).0, |s| *s != 200),
        403
    );

    login_django(&mut c, user, "changed-by-django");
    login_rust(&mut other, user, "changed-by-django");
    assert_eq!(whoami(&mut c, Side::Rust).0, 200);
    assert_eq!(whoami(&mut other, Side::Django).0, 200);
    let hash = Passwords::new(&rust.auth.context().settings().password)
        .hash_blocking("changed-by-rust")
        .unwrap();
    stores.set_password_hash(id, &hash);
    assert_eq!(whoami(&mut c, Side::Django).0, 302);
    assert_eq!(settled(|| whoami(&mut c, Side::Rust).0, |s| *s != 200), 403);
    assert_eq!(whoami(&mut other, Side::Django).0, 302);
    assert_eq!(
        settled(|| whoami(&mut other, Side::Rust).0, |s| *s != 200),
        403
    );
    login_django(&mut c, user, "changed-by-rust");
    assert_eq!(whoami(&mut c, Side::Rust).0, 200);
}

fn simplejwt(django: &str, rust: &RustSide) {
    t(
        django,
        "user",
        json!({ "username": "jwt_alice", "password": "jwt-pw" }),
    );
    let obtain_django = || {
        let r = send(
            django,
            "POST",
            "/django/token/",
            &[("Content-Type", "application/json".into())],
            json!({ "username": "jwt_alice", "password": "jwt-pw" })
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 200, "{r:?}");
        (r.text("access"), r.text("refresh"))
    };
    let refresh_at = |addr: &str, path: &str, refresh: &str| {
        send(
            addr,
            "POST",
            path,
            &[("Content-Type", "application/json".into())],
            json!({ "refresh": refresh }).to_string().as_bytes(),
        )
    };
    let refresh_rust = |refresh: &str| refresh_at(&rust.addr, "/api/auth/token/refresh/", refresh);
    let refresh_django = |refresh: &str| refresh_at(django, "/django/token/refresh/", refresh);
    let blacklisted_django = json!({ "detail": "Token is blacklisted", "code": "token_not_valid" });

    // simplejwt's tokens authenticate here, on the verifier and the built-in JWT.
    let (access, refresh) = obtain_django();
    let me = json!({ "username": "jwt_alice" });
    for path in ["/rust/simplejwt/", "/rust/jwt/"] {
        let r = send(&rust.addr, "GET", path, &[bearer(&access)], b"");
        assert_eq!((r.status, &r.body), (200, &me), "{path}: {r:?}");
    }

    // Rotated here: refused there, and the new one rotates there once.
    let r = refresh_rust(&refresh);
    assert_eq!(r.status, 200, "{r:?}");
    let rotated = r.text("refresh");
    let r = refresh_django(&refresh);
    assert_eq!((r.status, &r.body), (401, &blacklisted_django), "{r:?}");
    let r = refresh_django(&rotated);
    assert_eq!(r.status, 200, "{r:?}");
    // (The built-in JWT answers as drf-restflow does.)
    let blacklisted_rust = json!({ "detail": "Token has been blacklisted." });
    let r = refresh_rust(&rotated);
    assert_eq!(
        (r.status, &r.body),
        (401, &blacklisted_rust),
        "rotated there, refused here: {r:?}"
    );

    // Our tokens authenticate there; blacklisted there, refused here.
    let r = send(
        &rust.addr,
        "POST",
        "/api/auth/token/",
        &[("Content-Type", "application/json".into())],
        json!({ "username": "jwt_alice", "password": "jwt-pw" })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let (ours_access, ours_refresh) = (r.text("access"), r.text("refresh"));
    let r = send(
        django,
        "GET",
        "/django/drf/whoami/",
        &[bearer(&ours_access)],
        b"",
    );
    assert_eq!(
        r.body,
        json!({ "username": "jwt_alice", "scheme": "JWTAuthentication" })
    );
    let r = refresh_at(django, "/django/token/blacklist/", &ours_refresh);
    assert_eq!(r.status, 200, "{r:?}");
    let r = refresh_rust(&ours_refresh);
    assert_eq!((r.status, &r.body), (401, &blacklisted_rust), "{r:?}");

    // Django's "log out everywhere" (blacklist the user's outstanding
    // tokens) reaches the refresh tokens issued here, obtained and rotated.
    let r = send(
        &rust.addr,
        "POST",
        "/api/auth/token/",
        &[("Content-Type", "application/json".into())],
        json!({ "username": "jwt_alice", "password": "jwt-pw" })
            .to_string()
            .as_bytes(),
    );
    let first = r.text("refresh");
    let second = refresh_rust(&first).text("refresh");
    let (_, theirs) = obtain_django();
    let done = t(
        django,
        "logout_everywhere",
        json!({ "username": "jwt_alice" }),
    );
    assert!(done["blacklisted"].as_u64().unwrap() >= 3, "{done}");
    for refresh in [&second, &theirs] {
        let r = refresh_rust(refresh);
        assert_eq!((r.status, &r.body), (401, &blacklisted_rust), "{r:?}");
    }

    // Of concurrent refreshes of one token here, exactly one wins.
    let (_, contested) = obtain_django();
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| refresh_rust(&contested).status))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|s| *s == 200)
            .count()
    });
    assert_eq!(wins, 1);
    let r = refresh_django(&contested);
    assert_eq!((r.status, &r.body), (401, &blacklisted_django));
}

fn deactivation(django: &str, rust: &RustSide, stores: &dyn Stores) {
    let made = t(
        django,
        "user",
        json!({ "username": "off_carol", "password": "carol-pw" }),
    );
    let id = made["id"].as_i64().unwrap();
    let key = stores.obtain_token(id);
    let r = send(
        django,
        "POST",
        "/django/token/",
        &[("Content-Type", "application/json".into())],
        json!({ "username": "off_carol", "password": "carol-pw" })
            .to_string()
            .as_bytes(),
    );
    let access = r.text("access");
    let mut c = Client {
        django,
        rust: &rust.addr,
        jar: Jar::default(),
    };
    login_django(&mut c, "off_carol", "carol-pw");
    let token = ("Authorization", format!("Token {key}"));
    for (path, h) in [
        ("/rust/basic/", Some(basic("off_carol", "carol-pw"))),
        ("/rust/token/", Some(token.clone())),
        ("/rust/simplejwt/", Some(bearer(&access))),
        ("/rust/session/", None),
    ] {
        let r = c.call(
            Side::Rust,
            "GET",
            path,
            &h.into_iter().collect::<Vec<_>>(),
            Body::None,
        );
        assert_eq!(r.status, 200, "{path} while active: {r:?}");
    }
    t(
        django,
        "active",
        json!({ "username": "off_carol", "is_active": false }),
    );
    let r = send(
        &rust.addr,
        "GET",
        "/rust/basic/",
        &[basic("off_carol", "carol-pw")],
        b"",
    );
    assert_eq!(
        (r.status, &r.body),
        (401, &json!({ "detail": "User inactive or deleted." }))
    );
    let r = settled(
        || {
            send(
                &rust.addr,
                "GET",
                "/rust/token/",
                std::slice::from_ref(&token),
                b"",
            )
        },
        |r| r.status != 200,
    );
    assert_eq!(
        (r.status, &r.body),
        (401, &json!({ "detail": "User inactive or deleted." }))
    );
    let r = send(
        &rust.addr,
        "GET",
        "/rust/simplejwt/",
        &[bearer(&access)],
        b"",
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "detail": "User is inactive", "code": "user_inactive" })
    );
    // DRF-BEHAVIOUR.md rule 2: Session says why instead of skipping.
    assert_eq!(
        whoami(&mut c, Side::Rust),
        (403, json!({ "detail": "User inactive or deleted." }))
    );
    // And Django ends its own session's login.
    assert_eq!(whoami(&mut c, Side::Django).0, 302);
}

/// An unknown username costs what a known one does (the dummy check runs
/// the hasher new hashes are written with, at Django's 1,000,000
/// iterations): medians of interleaved requests within 20%.
fn timing(django: &str, rust: &RustSide) {
    t(
        django,
        "user",
        json!({ "username": "time_known", "password": "known-pw" }),
    );
    let time = |user: &str| {
        let start = Instant::now();
        let r = send(
            &rust.addr,
            "GET",
            "/rust/basic/",
            &[basic(user, "wrong-password")],
            b"",
        );
        assert_eq!(r.status, 401);
        start.elapsed().as_secs_f64()
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..9 {
        known.push(time("time_known"));
        unknown.push(time(&format!("time_nobody_{i}")));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let ratio = u / k;
    eprintln!(
        "beside Django: known {:.1} ms, unknown {:.1} ms, ratio {ratio:.2}",
        k * 1e3,
        u * 1e3
    );
    assert!(
        (0.8..=1.2).contains(&ratio),
        "unknown/known = {ratio:.2} ({u:.3} s / {k:.3} s)"
    );
}

fn scenarios(
    python: &str,
    database: &str,
    rust: &RustSide,
    signed: &RustSide,
    stores: &dyn Stores,
) {
    let django = start_django(python, database, "db");
    hashers(&django.addr, rust, stores);
    tokens(&django.addr, rust, stores);
    sessions(&django.addr, rust, stores, false);
    simplejwt(&django.addr, rust);
    deactivation(&django.addr, rust, stores);
    timing(&django.addr, rust);
    drop(django);
    // Django's signed_cookies backend beside SignedCookieSessions.
    let django = start_django(python, database, "signed_cookies");
    sessions(&django.addr, signed, stores, true);
}

/// The Rust side on `db`'s Django tables (two services: `django_session`
/// and signed cookies), then the scenarios against Django on `database`.
macro_rules! beside {
    ($python:expr, $database:expr, $db:expr) => {{
        let db = $db;
        let s = settings();
        let users = db.users::<DjangoUser>(UserTable::django()).unwrap();
        let tokens = db.tokens::<i64>(TokenTable::drf()).unwrap();
        let blacklist = db.simplejwt_blacklist("auth_user").unwrap();
        let rust = serve(build(
            s.clone(),
            users.clone(),
            tokens.clone(),
            db.django_sessions(&s.django).unwrap(),
            blacklist.clone(),
        ));
        let signed_sessions =
            restflow_auth::session::SignedCookieSessions::new(&s.django, s.session.cookie_age_s)
                .unwrap();
        let signed = serve(build(
            s,
            users.clone(),
            tokens.clone(),
            signed_sessions,
            blacklist,
        ));
        scenarios(
            $python,
            $database,
            &rust,
            &signed,
            &SqlStores { users, tokens },
        );
    }};
}

#[test]
fn beside_django_on_sqlite() {
    let Some(python) = python() else { return };
    let file = SqliteFile::new("beside_django");
    let path = file.url();
    let path = path
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let database = format!("sqlite:{path}");
    migrate(&python, &database);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt
        .block_on(Database::<sqlx::Sqlite>::connect(&file.url()))
        .unwrap();
    beside!(&python, &database, db);
}

#[test]
fn beside_django_on_postgres() {
    let Some(python) = python() else { return };
    let Some(url) = database_url() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(Schema::new(&url, "beside_django"));
    let database = format!("postgres:{url}?{}", schema.name());
    migrate(&python, &database);
    let db = {
        let _runtime = rt.enter();
        Database::<sqlx::Postgres>::with_options(schema.options())
    };
    beside!(&python, &database, db);
}
