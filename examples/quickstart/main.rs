//! The quickstart: a small axum service on 127.0.0.1:8000 on the embedded
//! SQLite default, with a browser page for session login (CSRF included),
//! the built-in JWT (obtain, refresh, blacklist), the HMAC
//! request-signature authenticator of `examples/custom_authenticator`, and
//! the library's metrics in Prometheus text at `/metrics`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! On first start it creates `restflow-quickstart.db` in the working
//! directory (migrated by one call), a demo user with a random password
//! (printed once; only its hash is stored) and random secrets in
//! `restflow-quickstart.secrets.json` (mode 0600), so no key is hard-coded.
//! Settings come from `restflow.toml` and `RESTFLOW_*` variables when
//! present; `QUICKSTART_ADDR` and `QUICKSTART_DB` move the address and the
//! database.

#[path = "../custom_authenticator/signature.rs"]
mod signature;

use std::path::Path;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use restflow_auth::jwt::SqliteBlacklist;
use restflow_auth::permissions::IsAdminUser;
use restflow_auth::prelude::*;
use restflow_auth::settings::Secret;
use restflow_auth::sql::{SqliteDatabase, UserTable};
use serde::Serialize;
use serde_json::{Value, json};
use signature::{ApiKeySignature, ApiKeys, signature};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;

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

// Project defaults: every handler without its own list uses these.
restflow_auth::config! {
    user: User,
    authentication: [Jwt, Session, ApiKeySignature],
    permissions: [IsAuthenticated],
}

/// The browser page: session login, a protected call, logout.
async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// Who is calling (`null` and an empty name when nobody is).
#[derive(Serialize, ToSchema)]
struct Caller {
    id: Option<i64>,
    username: String,
}

/// The logged-in user.
#[derive(Serialize, ToSchema)]
struct Me {
    id: i64,
    username: String,
    is_staff: bool,
}

/// A saved note: the body as JSON, or as a string when it is not JSON.
#[derive(Serialize, ToSchema)]
struct Saved {
    saved_by: String,
    #[schema(value_type = Value)]
    note: Value,
}

/// An order: the body as sent.
#[derive(Serialize, ToSchema)]
struct Ordered {
    ordered_by: String,
    order: String,
}

/// A staff member.
#[derive(Serialize, ToSchema)]
struct Admin {
    admin: String,
}

fn caller(user: &MaybeUser<User>) -> Json<Caller> {
    let id = user.user().map(|u| u.id);
    Json(Caller {
        id,
        username: user.username().to_owned(),
    })
}

/// Anyone; tells who is calling.
#[utoipa::path(get, path = "/api/whoami/", responses((status = 200, description = "OK", body = Caller)))]
#[permissions(AllowAny)]
async fn whoami(user: MaybeUser<User>) -> Json<Caller> {
    caller(&user)
}

/// The same with POST (open to anyone; CSRF applies only with a session).
#[utoipa::path(post, path = "/api/whoami/", responses((status = 200, description = "OK", body = Caller)))]
#[permissions(AllowAny)]
async fn whoami_post(user: MaybeUser<User>) -> Json<Caller> {
    caller(&user)
}

/// The logged-in user (session or JWT).
#[authenticate(Session, Jwt)]
#[permissions(IsAuthenticated)]
#[utoipa::path(get, path = "/api/me/", responses((status = 200, description = "OK", body = Me)))]
async fn me(user: CurrentUser<User>) -> Json<Me> {
    Json(Me {
        id: user.id,
        username: user.username.clone(),
        is_staff: user.is_staff,
    })
}

/// A protected write: with a session, Django's CSRF rules apply.
#[utoipa::path(
    post,
    path = "/api/notes/",
    request_body(content = Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Saved))
)]
#[authenticate(Session, Jwt)]
#[permissions(IsAuthenticated)]
async fn notes(user: CurrentUser<User>, body: String) -> Json<Saved> {
    let note: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Json(Saved {
        saved_by: user.username.clone(),
        note,
    })
}

/// Authenticated users only (the project defaults).
#[authenticate]
#[utoipa::path(
    post,
    path = "/api/orders/",
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, description = "OK", body = Ordered))
)]
async fn orders(user: CurrentUser<User>, body: String) -> Json<Ordered> {
    Json(Ordered {
        ordered_by: user.username.clone(),
        order: body,
    })
}

/// Staff only.
#[authenticate(Jwt, Session, ApiKeySignature)]
#[permissions(IsAdminUser)]
#[utoipa::path(get, path = "/api/admin/", responses((status = 200, description = "OK", body = Admin)))]
async fn admin(user: CurrentUser<User>) -> Json<Admin> {
    Json(Admin {
        admin: user.username.clone(),
    })
}

/// The API's OpenAPI document, made from the declarations.
#[derive(utoipa::OpenApi)]
#[openapi(info(title = "restflow-auth quickstart"))]
struct ApiDoc;

/// 48 random bytes as hex.
fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The secrets of this installation: read, or made and stored (0600).
fn secrets(path: &Path) -> Result<(String, String), Box<dyn std::error::Error>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let v: Value = serde_json::from_str(&text)?;
        let get = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: `{k}` is missing", path.display()))
        };
        return Ok((get("jwt_signing_key")?, get("api_key_secret")?));
    }
    let (jwt, api) = (random_hex(48)?, random_hex(32)?);
    let text = json!({ "jwt_signing_key": jwt, "api_key_secret": api }).to_string();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
    Ok((jwt, api))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // restflow-auth reports requests that failed closed, store errors and
    // wiring mistakes through `tracing`; RUST_LOG=debug says more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Metrics (restflow-auth's `metrics` feature): a Prometheus recorder,
    // served at /metrics below. A real service serves it on an internal port.
    let durations = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("duration".into()),
            &durations,
        )?
        .install_recorder()?;
    restflow_auth::telemetry::enable();
    let db_path =
        std::env::var("QUICKSTART_DB").unwrap_or_else(|_| "restflow-quickstart.db".into());
    let secrets_path = Path::new(&db_path).with_extension("secrets.json");
    let (jwt_key, api_secret) = secrets(&secrets_path)?;
    let mut settings = Settings::load()?;
    if settings.jwt.signing_key.is_none() {
        settings.jwt.signing_key = Some(Secret::new(jwt_key));
    }

    // The embedded default: a SQLite file, created and migrated here.
    let db = SqliteDatabase::connect(&format!("sqlite://{db_path}")).await?;
    db.migrate().await?;
    let users = db.users::<User>(UserTable::restflow())?;
    let created = match users.find_by_username("demo").await? {
        Some(_) => None,
        None => {
            let password = random_hex(8)?;
            let hash = restflow_auth::password::hash_password(&password)?;
            users.insert("demo", &hash, true, false).await?;
            Some(password)
        }
    };
    let demo = users
        .find_by_username("demo")
        .await?
        .ok_or("the demo user is missing")?;
    // Expired sessions and blacklist entries are removed every five minutes.
    db.spawn_cleanup(Duration::from_secs(300));

    let keys = ApiKeys::<i64>::new().with_key("demo-key", demo.id, api_secret.as_bytes());
    let auth = Auth::<User>::builder(settings)
        .users(users)
        .sessions(db.sessions())
        .blacklist(SqliteBlacklist::from_database(&db))
        .with_store(keys)
        .build()?;

    // The documented API: each handler's `#[utoipa::path]`, with security
    // requirements and rejections from its restflow attributes.
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(restflow_auth::openapi::routes!(auth, whoami, whoami_post))
        .routes(restflow_auth::openapi::routes!(auth, me))
        .routes(restflow_auth::openapi::routes!(auth, notes))
        .routes(restflow_auth::openapi::routes!(auth, orders))
        .routes(restflow_auth::openapi::routes!(auth, admin))
        .split_for_parts();
    restflow_auth::openapi::finish(&mut doc);
    let doc = Json(doc);

    let app = Router::new()
        .route("/", get(page))
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route(
            "/api/openapi.json",
            get(move || std::future::ready(doc.clone())),
        )
        .merge(api)
        .nest("/api/auth", auth.jwt_routes())
        .nest("/api/auth", auth.session_routes())
        .nest("/api", auth.csrf_routes())
        // Signatures cover the body, so bodies are read before the chain runs.
        .layer(auth.layer().buffer_bodies());

    let addr = std::env::var("QUICKSTART_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    print_help(addr, &db_path, created.as_deref(), &api_secret);
    axum::serve(listener, app).await?;
    Ok(())
}

fn print_help(addr: std::net::SocketAddr, db_path: &str, created: Option<&str>, secret: &str) {
    let json = "-H 'Content-Type: application/json'";
    println!("restflow-auth quickstart listening on http://{addr}");
    println!();
    match created {
        Some(password) => {
            println!("Created {db_path} and the demo user:");
            println!("  username: demo");
            println!("  password: {password}");
            println!("(shown once: only its hash is stored; delete {db_path} to start over)");
        }
        None => {
            println!("Using {db_path}; the demo user's password was printed at its first start.")
        }
    }
    println!();
    println!("Browser: open http://{addr}/ to log in with a session (CSRF included).");
    println!();
    println!("JWT: obtain a pair, call a protected route, refresh (rotates), blacklist:");
    // The real password when it was just made; a placeholder afterwards.
    let password = created.unwrap_or("PASSWORD");
    println!(
        "  curl -s -X POST http://{addr}/api/auth/token/ {json} -d '{{\"username\":\"demo\",\"password\":\"{password}\"}}'"
    );
    println!("  ACCESS=...; REFRESH=...   # from the answer");
    println!("  curl -s http://{addr}/api/me/ -H \"Authorization: Bearer $ACCESS\"");
    println!(
        "  curl -s http://{addr}/api/admin/ -H \"Authorization: Bearer $ACCESS\"     # 403, not staff"
    );
    println!(
        "  curl -s -X POST http://{addr}/api/auth/token/refresh/ {json} -d \"{{\\\"refresh\\\":\\\"$REFRESH\\\"}}\""
    );
    println!(
        "  curl -s -X POST http://{addr}/api/auth/token/blacklist/ {json} -d \"{{\\\"refresh\\\":\\\"$REFRESH\\\"}}\""
    );
    println!();
    println!("HMAC-signed requests: API key demo-key, with this installation's secret;");
    println!("the signature is hex(HMAC-SHA256(secret, METHOD \\n PATH \\n BODY)):");
    let sig = signature(secret.as_bytes(), "GET", "/api/whoami/", b"");
    println!(
        "  curl -s http://{addr}/api/whoami/ -H 'X-Api-Key: demo-key' -H 'X-Signature: {sig}'"
    );
    println!(
        "  SECRET=$(python3 -c 'import json;print(json.load(open(\"{}\"))[\"api_key_secret\"])')",
        Path::new(db_path).with_extension("secrets.json").display()
    );
    println!(
        "  body=apples; sig=$(printf 'POST\\n/api/orders/\\n%s' \"$body\" | openssl dgst -sha256 -hmac \"$SECRET\" | cut -d' ' -f2)"
    );
    println!(
        "  curl -s -X POST http://{addr}/api/orders/ -H 'X-Api-Key: demo-key' -H \"X-Signature: $sig\" -d \"$body\""
    );
}
