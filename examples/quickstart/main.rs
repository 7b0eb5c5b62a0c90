//! The quickstart: a small axum service on 127.0.0.1:8000 with the in-memory
//! user store, the built-in JWT (obtain, refresh, blacklist) and the HMAC
//! request-signature authenticator of `examples/custom_authenticator`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It prints the demo credentials and curl commands to try. Settings come
//! from `restflow.toml` and `RESTFLOW_*` variables when present.

#[path = "../custom_authenticator/signature.rs"]
mod signature;

use axum::routing::{get, post};
use axum::{Json, Router};
use restflow_auth::jwt::MemoryBlacklist;
use restflow_auth::permissions::IsAdminUser;
use restflow_auth::prelude::*;
use serde_json::{Value, json};
use signature::{ApiKeySignature, ApiKeys, signature};

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
    authentication: [Jwt, ApiKeySignature],
    permissions: [IsAuthenticated],
}

/// Anyone; tells who is calling.
#[permissions(AllowAny)]
async fn whoami(user: MaybeUser<User>) -> Json<Value> {
    Json(json!({ "id": user.user().map(|u| u.id), "username": user.username() }))
}

/// Authenticated users only (the project defaults).
#[authenticate]
async fn orders(user: CurrentUser<User>, body: String) -> Json<Value> {
    Json(json!({ "ordered_by": user.username, "order": body }))
}

/// Staff only.
#[authenticate(Jwt, ApiKeySignature)]
#[permissions(IsAdminUser)]
async fn admin(user: CurrentUser<User>) -> Json<Value> {
    Json(json!({ "admin": user.username }))
}

const SECRET: &str = "demo-secret-change-me";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut settings = Settings::load()?;
    if settings.jwt.signing_key.is_none() {
        // No key configured: a random one for this run (tokens end with it).
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes)?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        settings.jwt.signing_key = Some(restflow_auth::settings::Secret::new(key));
    }
    // One process: an in-memory blacklist is fine here, and must be said so.
    settings.jwt.allow_local_blacklist = true;

    let users = MemoryUserStore::new();
    for (id, name, staff) in [(1, "demo", false), (2, "admin", true)] {
        let password = restflow_auth::password::hash_password(&format!("{name}-password"))?;
        users.insert(User {
            id,
            username: name.into(),
            password,
            is_active: true,
            is_staff: staff,
        });
    }
    let keys = ApiKeys::<i64>::new()
        .with_key("demo-key", 1, SECRET.as_bytes())
        .with_key("admin-key", 2, SECRET.as_bytes());
    let auth = Auth::<User>::builder(settings)
        .users(users)
        .with_store(keys)
        .blacklist(MemoryBlacklist::new())
        .build()?;

    let app = Router::new()
        .route("/api/whoami/", get(whoami).post(whoami))
        .route("/api/orders/", post(orders))
        .route("/api/admin/", get(admin))
        .nest("/api/auth", auth.jwt_routes())
        // Signatures cover the body, so bodies are read before the chain runs.
        .layer(auth.layer().buffer_bodies());

    let addr = std::env::var("QUICKSTART_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let json = "-H 'Content-Type: application/json'";
    println!("restflow-auth quickstart listening on http://{addr}");
    println!();
    println!("Users: demo / demo-password, admin / admin-password (staff).");
    println!();
    println!("JWT: obtain a pair, call protected routes, refresh (rotates), blacklist:");
    println!(
        "  curl -s -X POST http://{addr}/api/auth/token/ {json} -d '{{\"username\":\"demo\",\"password\":\"demo-password\"}}'"
    );
    println!("  ACCESS=...; REFRESH=...   # from the answer");
    println!("  curl -s http://{addr}/api/whoami/ -H \"Authorization: Bearer $ACCESS\"");
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
    println!(
        "HMAC-signed requests: API keys demo-key (demo) and admin-key (admin), secret {SECRET};"
    );
    println!("the signature is hex(HMAC-SHA256(secret, METHOD \\n PATH \\n BODY)):");
    let sig = signature(SECRET.as_bytes(), "GET", "/api/whoami/", b"");
    println!(
        "  curl -s http://{addr}/api/whoami/ -H 'X-Api-Key: demo-key' -H 'X-Signature: {sig}'"
    );
    println!(
        "  body=apples; sig=$(printf 'POST\\n/api/orders/\\n%s' \"$body\" | openssl dgst -sha256 -hmac {SECRET} | cut -d' ' -f2)"
    );
    println!(
        "  curl -s -X POST http://{addr}/api/orders/ -H 'X-Api-Key: demo-key' -H \"X-Signature: $sig\" -d \"$body\""
    );
    axum::serve(listener, app).await?;
    Ok(())
}
