//! The parity server of `shared/conformance/CONTRACT.md`: every route of
//! the contract, from the fixtures. `main.rs` runs it; the integration
//! tests start it in-process on a free port.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::routing::get;
use axum::{Json, Router};
use restflow_auth::AuthBuilder;
use restflow_auth::jwt::{MemoryBlacklist, PostgresBlacklist, RedisBlacklist, SqliteBlacklist};
use restflow_auth::openapi::routes;
use restflow_auth::permissions::{IsAdminUser, IsAuthenticatedOrReadOnly};
use restflow_auth::prelude::*;
use restflow_auth::session::MemorySessionStore;
use restflow_auth::settings::{JwtKeySettings, Secret};
use restflow_auth::sql::{PostgresDatabase, SqliteDatabase, TokenTable, UserRecord, UserTable};
use restflow_auth::throttle::RedisThrottleStore;
use restflow_auth::token::MemoryTokenStore;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

/// The user model of the contract.
#[derive(Clone, Debug, AuthUser)]
pub struct User {
    #[auth_user(id)]
    pub id: i64,
    #[auth_user(username)]
    pub username: String,
    #[auth_user(password_hash)]
    pub password: String,
    #[auth_user(is_active)]
    pub is_active: bool,
    #[auth_user(is_staff)]
    pub is_staff: bool,
    #[auth_user(is_superuser)]
    pub is_superuser: bool,
}

/// Where users, tokens and sessions live (`--store`), or the JWT blacklist
/// (`--blacklist`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In this process.
    Memory,
    /// A SQLite file.
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
    /// A Redis URL (the blacklist only).
    Redis(String),
    /// No blacklist at all (`--blacklist off`, for the load benchmark's
    /// baseline; the contract's rotation rows then no longer hold).
    Off,
}

impl Backend {
    /// Parses `memory | sqlite:PATH | postgres:URL | redis:URL`.
    pub fn parse(flag: &str, value: &str) -> Result<Self, String> {
        let backend = if value == "memory" {
            Backend::Memory
        } else if value == "off" && flag == "--blacklist" {
            Backend::Off
        } else if let Some(path) = value.strip_prefix("sqlite:") {
            Backend::Sqlite(path.to_owned())
        } else if value.starts_with("postgres:") || value.starts_with("postgresql:") {
            Backend::Postgres(value.to_owned())
        } else if value.starts_with("redis:") {
            Backend::Redis(value.to_owned())
        } else {
            return Err(format!(
                "{flag} {value}: expected memory | sqlite:PATH | postgres:URL | redis:URL"
            ));
        };
        if flag == "--store" && matches!(backend, Backend::Redis(_)) {
            return Err(format!(
                "{flag} {value}: users and API tokens live in SQL; use --store sqlite:PATH or postgres:URL (Redis serves --blacklist)"
            ));
        }
        Ok(backend)
    }
}

/// `--external-jwks URL --external-issuer ISS --external-audience AUD`:
/// the external issuer `/api/whoami/external/` accepts tokens of.
#[derive(Clone, Debug, Default)]
pub struct External {
    /// The issuer's JWK set.
    pub jwks: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` they must name.
    pub audience: String,
}

/// `/api/whoami/external/`: guarded by a policy layer (not the macros),
/// so the server needs the external issuer only when the flags ask for it.
async fn external_whoami(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

fn whoami(user: &RequestUser<User>) -> Json<Value> {
    Json(json!({ "id": user.user().map(|u| u.id), "username": user.username() }))
}

#[authenticate(Jwt)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/jwt/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn jwt(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Basic)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/basic/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn basic(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Token)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/token/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn token(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Session)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/session/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn session(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(RemoteUser)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/remote/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn remote(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(SimpleJwt)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/simplejwt/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn simplejwt(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Jwt, Session)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/jwt-session/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn jwt_session(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Session, Jwt)]
#[permissions(IsAuthenticated)]
#[utoipa::path(method(get, post), path = "/api/whoami/session-jwt/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn session_jwt(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

/// The project defaults (`config!` in main.rs and the test crate): JWT, Session.
#[authenticate]
#[utoipa::path(method(get, post), path = "/api/whoami/default/", responses((status = 200, description = "The caller: `id` and `username`")))]
pub async fn default_route(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Basic, Jwt)]
#[permissions(IsAdminUser)]
#[utoipa::path(method(get, post), path = "/api/whoami/admin/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn admin(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Jwt, Session)]
#[permissions(AllowAny)]
#[utoipa::path(method(get, post), path = "/api/whoami/open/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn open(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(Jwt)]
#[permissions(IsAuthenticatedOrReadOnly)]
#[utoipa::path(method(get, post), path = "/api/whoami/readonly/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn readonly(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

/// DRF's `AnonRateThrottle` (3/min) and `UserRateThrottle` (5/min): the
/// rates are the `config!`'s in main.rs.
#[authenticate(Jwt)]
#[permissions(AllowAny)]
#[throttle(AnonRateThrottle, UserRateThrottle)]
#[utoipa::path(get, path = "/api/whoami/throttled/", responses((status = 200, description = "The caller: `id` and `username`")))]
async fn throttled(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

fn string(v: &Value, what: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("fixtures: `{what}` must be a string"))
}

/// The fixture users, passwords hashed.
type FixtureUsers = Vec<UserRecord<i64>>;
/// The fixture token keys and their users.
type FixtureTokens = Vec<(String, i64)>;

/// The fixture users and tokens.
fn fixture_rows(fixtures: &Value) -> Result<(FixtureUsers, FixtureTokens), String> {
    let mut users = Vec::new();
    for u in fixtures["users"]
        .as_array()
        .ok_or("fixtures: `users` must be a list")?
    {
        users.push(UserRecord {
            id: u["id"].as_i64().ok_or("fixtures: user ids are integers")?,
            username: string(&u["username"], "users.username")?,
            password: restflow_auth::password::hash_password(&string(
                &u["password"],
                "users.password",
            )?)
            .map_err(|e| e.to_string())?,
            is_active: u["is_active"].as_bool().unwrap_or(true),
            is_staff: u["is_staff"].as_bool().unwrap_or(false),
            is_superuser: u["is_superuser"].as_bool().unwrap_or(false),
        });
    }
    let mut tokens = Vec::new();
    for t in fixtures["tokens"].as_array().into_iter().flatten() {
        tokens.push((
            string(&t["key"], "tokens.key")?,
            t["user_id"].as_i64().ok_or("fixtures: token user ids")?,
        ));
    }
    Ok((users, tokens))
}

/// Loads the fixtures into a SQL database, emptied first (a fresh start).
macro_rules! load_sql {
    ($builder:expr, $db:expr, $users:expr, $tokens:expr) => {{
        let db = $db;
        db.migrate().await?;
        for table in ["restflow_session", "restflow_token", "restflow_user"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(db.pool())
                .await?;
        }
        let users = db.users::<User>(UserTable::restflow())?;
        for u in &$users {
            users.insert_record(u).await?;
        }
        let tokens = db.tokens::<i64>(TokenTable::restflow())?;
        for (key, user_id) in &$tokens {
            tokens.insert_key(key, user_id).await?;
        }
        $builder.users(users).tokens(tokens).sessions(db.sessions())
    }};
}

/// Users, API tokens and sessions on the `--store` backend.
async fn with_stores(
    builder: AuthBuilder<User>,
    fixtures: &Value,
    store: &Backend,
) -> Result<AuthBuilder<User>, Box<dyn std::error::Error>> {
    let (fixture_users, fixture_tokens) = fixture_rows(fixtures)?;
    Ok(match store {
        Backend::Memory => {
            let next_id = Arc::new(AtomicI64::new(
                fixture_users.iter().map(|u| u.id).max().unwrap_or(0) + 1,
            ));
            let users = MemoryUserStore::new().with_user_factory(move |name| User {
                id: next_id.fetch_add(1, Ordering::SeqCst),
                username: name.to_owned(),
                password: String::new(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
            });
            for u in fixture_users {
                users.insert(User::from(u));
            }
            let tokens = MemoryTokenStore::new();
            for (key, user_id) in fixture_tokens {
                tokens.insert_key(&key, user_id);
            }
            builder
                .users(users)
                .tokens(tokens)
                .sessions(MemorySessionStore::new())
        }
        Backend::Sqlite(path) => load_sql!(
            builder,
            SqliteDatabase::connect(&format!("sqlite://{path}")).await?,
            fixture_users,
            fixture_tokens
        ),
        Backend::Postgres(url) => load_sql!(
            builder,
            PostgresDatabase::connect(url).await?,
            fixture_users,
            fixture_tokens
        ),
        Backend::Redis(_) | Backend::Off => return Err("--store: not a user store".into()),
    })
}

/// The key set of `--jwt-keys DIR`: one PKCS#8 private key per file
/// `<kid>.pem` (RSA, EC P-256 or Ed25519: the algorithm follows the key),
/// and `ACTIVE` naming the kid that signs.
fn key_dir(dir: &Path) -> Result<(Vec<JwtKeySettings>, String), String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| format!("--jwt-keys: cannot read {}: {e}", p.display()))
    };
    let active = read(&dir.join("ACTIVE"))?.trim().to_owned();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("--jwt-keys {}: {e}", dir.display()))?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("--jwt-keys {}: {e}", dir.display()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("pem") {
            continue;
        }
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("--jwt-keys: {} is not a UTF-8 name", path.display()))?
            .to_owned();
        keys.push(JwtKeySettings {
            kid,
            signing_key: Some(Secret::new(read(&path)?)),
            ..JwtKeySettings::default()
        });
    }
    if keys.is_empty() {
        return Err(format!("--jwt-keys {}: no <kid>.pem file", dir.display()));
    }
    // A stable order: the listing's is the file system's.
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    Ok((keys, active))
}

/// Builds the whole application from the fixtures; with `jwt_keys`, the
/// built-in JWT signs and verifies with that directory's keys and
/// publishes them at `/.well-known/jwks.json`.
pub async fn app(
    fixtures: &Value,
    store: &Backend,
    blacklist: &Backend,
    throttle: &Backend,
    redis_prefix: Option<&str>,
    jwt_keys: Option<&Path>,
    external: Option<&External>,
) -> Result<Router, Box<dyn std::error::Error>> {
    // A fresh key prefix per start, as the contract asks, unless the
    // instances of one service share it (`--redis-prefix`).
    let prefix = redis_prefix.map_or_else(
        || format!("restflow:conformance:{}:", std::process::id()),
        str::to_owned,
    );
    let mut s = Settings::default();
    if let Some(e) = external {
        s.external_jwt.jwks_url = Some(e.jwks.clone());
        s.external_jwt.issuer = Some(e.issuer.clone());
        s.external_jwt.audience = Some(e.audience.clone());
    }
    let j = &fixtures["jwt"];
    s.jwt.algorithm = string(&j["algorithm"], "jwt.algorithm")?;
    match jwt_keys {
        None => {
            s.jwt.signing_key = Some(Secret::new(string(&j["signing_key"], "jwt.signing_key")?))
        }
        Some(dir) => {
            let (keys, active) = key_dir(dir)?;
            s.jwt.keys = keys;
            s.jwt.active_kid = Some(active);
        }
    }
    s.jwt.access_token_lifetime_s = j["access_token_lifetime_s"].as_u64().unwrap_or(300);
    s.jwt.refresh_token_lifetime_s = j["refresh_token_lifetime_s"].as_u64().unwrap_or(86_400);
    s.jwt.rotate_refresh_tokens = j["rotate_refresh_tokens"].as_bool().unwrap_or(true);
    s.jwt.blacklist_enabled =
        j["blacklist_enabled"].as_bool().unwrap_or(true) && *blacklist != Backend::Off;
    s.jwt.user_id_claim = string(&j["user_id_claim"], "jwt.user_id_claim")?;
    s.jwt.leeway_s = j["leeway_s"].as_u64().unwrap_or(0);
    s.jwt.auth_header_types = serde_json::from_value(j["auth_header_types"].clone())?;
    // The in-memory blacklist is chosen on purpose here (one process).
    s.jwt.allow_local_blacklist = *blacklist == Backend::Memory;
    let sj = &fixtures["simplejwt"];
    s.simplejwt.signing_key = Some(Secret::new(string(
        &sj["signing_key"],
        "simplejwt.signing_key",
    )?));
    s.simplejwt.algorithm = string(&sj["algorithm"], "simplejwt.algorithm")?;
    s.simplejwt.user_id_claim = string(&sj["user_id_claim"], "simplejwt.user_id_claim")?;
    s.simplejwt.auth_header_types = serde_json::from_value(sj["auth_header_types"].clone())?;
    let se = &fixtures["session"];
    s.session.cookie_name = string(&se["cookie_name"], "session.cookie_name")?;
    s.session.csrf_cookie_name = string(&se["csrf_cookie_name"], "session.csrf_cookie_name")?;
    s.session.csrf_header_name = string(&se["csrf_header_name"], "session.csrf_header_name")?;
    s.remote_user.header = string(&fixtures["remote_user_header"], "remote_user_header")?;
    // The reference has no login lockout (it is beyond DRF): off here, so
    // the two answer wrong passwords alike.
    s.login.lockout = false;

    let builder = with_stores(Auth::<User>::builder(s), fixtures, store).await?;
    let builder = match blacklist {
        Backend::Memory => builder.blacklist(MemoryBlacklist::new()),
        Backend::Off => builder,
        Backend::Redis(url) => builder.blacklist(RedisBlacklist::new(url)?.with_prefix(&prefix)),
        Backend::Sqlite(path) => {
            let bl = SqliteBlacklist::connect(&format!("sqlite://{path}?mode=rwc")).await?;
            bl.migrate().await?;
            builder.blacklist(bl)
        }
        Backend::Postgres(url) => {
            let bl = PostgresBlacklist::connect(url).await?;
            bl.migrate().await?;
            builder.blacklist(bl)
        }
    };
    let builder = match throttle {
        Backend::Memory => builder,
        Backend::Redis(url) => builder.throttle_store(
            RedisThrottleStore::new(url)?.with_prefix(format!("{prefix}throttle:")),
        ),
        other => {
            return Err(format!("--throttle {other:?}: expected memory or redis://URL").into());
        }
    };
    let auth = builder.build()?;
    // The documented routes, with their security from the declarations.
    let (documented, mut doc) = OpenApiRouter::new()
        .routes(routes!(auth, jwt))
        .routes(routes!(auth, basic))
        .routes(routes!(auth, token))
        .routes(routes!(auth, session))
        .routes(routes!(auth, remote))
        .routes(routes!(auth, simplejwt))
        .routes(routes!(auth, jwt_session))
        .routes(routes!(auth, session_jwt))
        .routes(routes!(auth, default_route))
        .routes(routes!(auth, admin))
        .routes(routes!(auth, open))
        .routes(routes!(auth, readonly))
        .routes(routes!(auth, throttled))
        .split_for_parts();
    restflow_auth::openapi::finish(&mut doc);
    doc.info.title = "restflow-auth conformance server".into();
    let doc = Json(doc);
    let jwks = match jwt_keys {
        Some(_) => auth.jwks_routes()?,
        None => Router::new(),
    };
    let external = match external {
        Some(_) => Router::new()
            .route(
                "/api/whoami/external/",
                get(external_whoami).post(external_whoami),
            )
            .route_layer(auth.policy::<(ExternalJwt,), (IsAuthenticated,)>()),
        None => Router::new(),
    };
    Ok(Router::new()
        .merge(jwks)
        .merge(external)
        .route(
            "/api/openapi.json",
            get(move || std::future::ready(doc.clone())),
        )
        .merge(documented)
        .nest("/api/auth", auth.jwt_routes())
        .nest("/api/auth", auth.session_routes())
        .nest("/api", auth.csrf_routes())
        .layer(auth.layer())
        // Outside the layer: the same server without authentication, the
        // baseline of `bench/load.sh routes`.
        .route("/api/plain/", get(plain)))
}

/// `/api/plain/`: the whoami answer of an anonymous caller, with no
/// restflow-auth layer or guard in front of it.
async fn plain() -> Json<Value> {
    whoami(&RequestUser::Anonymous)
}
