//! The DSL on real axum handlers: `#[authenticate]`, `#[permissions]`, the
//! project defaults from `config!`, the extractors, and router-wide policies.

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use restflow_auth::permissions::IsAdminUser;
use restflow_auth::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{HeaderUser, SessionLike, User, auth};

pub async fn send(app: Router, req: http::Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, body)
}

fn whoami(user: &RequestUser<User>) -> Json<Value> {
    Json(json!({ "id": user.user().map(|u| u.id), "username": user.username() }))
}

#[authenticate(HeaderUser, SessionLike)]
#[permissions(IsAuthenticated)]
async fn profile(user: CurrentUser<User>) -> Json<Value> {
    Json(json!({ "id": user.id, "username": user.username }))
}

/// No list: the chain and permissions of `config!` in main.rs.
#[authenticate]
async fn by_default(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

/// Only permissions: the default chain.
#[permissions(AllowAny)]
async fn open(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

/// Attribute order does not matter.
#[permissions(IsAdminUser)]
#[authenticate(SessionLike, HeaderUser)]
async fn admin(user: MaybeUser<User>) -> Json<Value> {
    whoami(&user)
}

#[authenticate(none)]
#[permissions(AllowAny)]
async fn public(user: Option<CurrentUser<User>>) -> Json<Value> {
    Json(json!({ "user": user.map(|u| u.username.clone()) }))
}

#[authenticate(HeaderUser)]
#[permissions(IsAuthenticated & !IsAdminUser)]
async fn staff_excluded(user: CurrentUser<User>) -> String {
    user.username.clone()
}

#[authenticate(HeaderUser)]
#[permissions(IsAuthenticated)]
async fn with_state_and_body(
    State(n): State<u32>,
    user: CurrentUser<User>,
    Json(v): Json<Value>,
) -> Json<Value> {
    Json(json!({ "n": n, "user": user.username, "echo": v }))
}

async fn plain(user: CurrentUser<User>) -> String {
    user.username.clone()
}

fn app() -> Router {
    let auth = auth();
    let group = Router::new()
        .route("/group/a/", get(plain))
        .route("/group/b/", post(plain))
        .route_layer(auth.policy::<(SessionLike,), (IsAdminUser,)>());
    Router::new()
        .route("/profile/", get(profile).post(profile))
        .route("/default/", get(by_default))
        .route("/open/", get(open))
        .route("/admin/", get(admin))
        .route("/public/", get(public))
        .route("/staff-excluded/", get(staff_excluded))
        .route("/unguarded/", get(plain))
        .route("/state/", post(with_state_and_body))
        .with_state(7u32)
        .merge(group)
        .layer(auth.layer())
}

fn get_req(uri: &str, headers: &[(&str, &str)]) -> http::Request<Body> {
    let mut b = http::Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

#[tokio::test]
async fn a_declared_chain_answers_drf_401_with_challenge_and_json() {
    let (status, headers, body) = send(app(), get_req("/profile/", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Header realm=\"test\"");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, json!({ "detail": NOT_PROVIDED }));

    let (status, headers, body) = send(app(), get_req("/profile/", &[("x-user", "alice")])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("www-authenticate").is_none());
    assert_eq!(body, json!({ "id": 1, "username": "alice" }));
}

#[tokio::test]
async fn the_raw_json_is_drf_compact() {
    let res = app().oneshot(get_req("/profile/", &[])).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert_eq!(
        &bytes[..],
        br#"{"detail":"Authentication credentials were not provided."}"#
    );
}

#[tokio::test]
async fn a_bare_authenticate_uses_the_project_defaults() {
    // Defaults: [HeaderUser, SessionLike] + IsAuthenticated.
    let (status, headers, body) = send(app(), get_req("/default/", &[])).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Header realm=\"test\"");
    assert_eq!(body["detail"], NOT_PROVIDED);
    let (status, _, body) = send(app(), get_req("/default/", &[("x-session", "3")])).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "id": 3, "username": "root" }));
}

#[tokio::test]
async fn permissions_alone_use_the_default_chain() {
    let (status, _, body) = send(app(), get_req("/open/", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "id": null, "username": "" }));
    let (status, _, body) = send(app(), get_req("/open/", &[("x-user", "nobody")])).await;
    assert_eq!(
        (status.as_u16(), body["detail"].as_str()),
        (401, Some("User not found."))
    );
}

#[tokio::test]
async fn session_first_chains_answer_403_and_admin_is_checked() {
    let (status, headers, body) = send(app(), get_req("/admin/", &[])).await;
    assert_eq!(status, 403);
    assert!(headers.get("www-authenticate").is_none());
    assert_eq!(body["detail"], NOT_PROVIDED);
    let (status, _, body) = send(app(), get_req("/admin/", &[("x-user", "alice")])).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["detail"],
        "You do not have permission to perform this action."
    );
    let (status, _, _) = send(app(), get_req("/admin/", &[("x-user", "root")])).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn no_authenticators_leave_every_request_anonymous() {
    let (status, _, body) = send(app(), get_req("/public/", &[("x-user", "alice")])).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "user": null }));
}

#[tokio::test]
async fn composed_permissions_apply() {
    let (status, _, _) = send(app(), get_req("/staff-excluded/", &[("x-user", "alice")])).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(app(), get_req("/staff-excluded/", &[("x-user", "root")])).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["detail"],
        "You do not have permission to perform this action."
    );
}

#[tokio::test]
async fn the_guard_works_beside_state_and_body_extractors() {
    let req = http::Request::post("/state/")
        .header("x-user", "alice")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"a":1}"#))
        .unwrap();
    let (status, _, body) = send(app(), req).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "n": 7, "user": "alice", "echo": { "a": 1 } }));
}

#[tokio::test]
async fn a_policy_layer_guards_a_whole_group() {
    let (status, headers, body) = send(app(), get_req("/group/a/", &[])).await;
    assert_eq!(status, 403);
    assert!(headers.get("www-authenticate").is_none());
    assert_eq!(body["detail"], NOT_PROVIDED);
    let (status, _, body) = send(app(), get_req("/group/a/", &[("x-session", "1")])).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["detail"],
        "You do not have permission to perform this action."
    );
    let req = http::Request::post("/group/b/")
        .header("x-session", "3")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(app(), req).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn missing_glue_is_a_clear_500_not_a_panic() {
    // A handler that reads the user without any guard.
    let (status, _, body) = send(app(), get_req("/unguarded/", &[("x-user", "alice")])).await;
    assert_eq!(status, 500);
    assert_eq!(body, json!({ "detail": "A server error occurred." }));
    // A router without `auth.layer()`.
    let bare = Router::new().route("/profile/", get(profile));
    let (status, headers, body) = send(bare, get_req("/profile/", &[("x-user", "alice")])).await;
    assert_eq!(status, 500);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, json!({ "detail": "A server error occurred." }));
}
