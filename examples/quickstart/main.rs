//! The quickstart: a small axum service on 127.0.0.1:8000 with the in-memory
//! user store and the HMAC request-signature authenticator of
//! `examples/custom_authenticator`.
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
    authentication: [ApiKeySignature],
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
#[authenticate(ApiKeySignature)]
#[permissions(IsAdminUser)]
async fn admin(user: CurrentUser<User>) -> Json<Value> {
    Json(json!({ "admin": user.username }))
}

const SECRET: &str = "demo-secret-change-me";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::load()?;
    let users = MemoryUserStore::new();
    users.insert(User {
        id: 1,
        username: "demo".into(),
        password: String::new(),
        is_active: true,
        is_staff: false,
    });
    users.insert(User {
        id: 2,
        username: "admin".into(),
        password: String::new(),
        is_active: true,
        is_staff: true,
    });
    let keys = ApiKeys::<i64>::new()
        .with_key("demo-key", 1, SECRET.as_bytes())
        .with_key("admin-key", 2, SECRET.as_bytes());
    let auth = Auth::<User>::builder(settings)
        .users(users)
        .with_store(keys)
        .build()?;

    let app = Router::new()
        .route("/api/whoami/", get(whoami).post(whoami))
        .route("/api/orders/", post(orders))
        .route("/api/admin/", get(admin))
        // Signatures cover the body, so bodies are read before the chain runs.
        .layer(auth.layer().buffer_bodies());

    let addr = std::env::var("QUICKSTART_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("restflow-auth quickstart listening on http://{addr}");
    println!();
    println!(
        "Demo API keys: demo-key (user demo), admin-key (user admin, staff); secret: {SECRET}"
    );
    println!("A request is signed with hex(HMAC-SHA256(secret, METHOD \\n PATH \\n BODY)):");
    println!();
    println!("  curl -s http://{addr}/api/whoami/");
    let sig = signature(SECRET.as_bytes(), "GET", "/api/whoami/", b"");
    println!(
        "  curl -s http://{addr}/api/whoami/ -H 'X-Api-Key: demo-key' -H 'X-Signature: {sig}'"
    );
    println!("  curl -s -X POST http://{addr}/api/orders/ -d apples        # 401, not signed");
    println!(
        "  body=apples; sig=$(printf 'POST\\n/api/orders/\\n%s' \"$body\" | openssl dgst -sha256 -hmac {SECRET} | cut -d' ' -f2)"
    );
    println!(
        "  curl -s -X POST http://{addr}/api/orders/ -H 'X-Api-Key: demo-key' -H \"X-Signature: $sig\" -d \"$body\""
    );
    println!(
        "  sig=$(printf 'GET\\n/api/admin/\\n' | openssl dgst -sha256 -hmac {SECRET} | cut -d' ' -f2)"
    );
    println!(
        "  curl -s http://{addr}/api/admin/ -H 'X-Api-Key: demo-key' -H \"X-Signature: $sig\"   # 403, not staff"
    );
    println!(
        "  curl -s http://{addr}/api/admin/ -H 'X-Api-Key: admin-key' -H \"X-Signature: $sig\""
    );
    axum::serve(listener, app).await?;
    Ok(())
}
