//! The obtain, refresh and blacklist views on the wire, and the rotation
//! race: 32 concurrent refreshes of one token, exactly one winner.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use restflow_auth::jwt::{Blacklist, MemoryBlacklist};
use restflow_auth::prelude::*;
use restflow_auth::settings::JwtSettings;
use serde_json::{Value, json};

use crate::common::User;
use crate::handlers::send;
use crate::jwt::{auth_with, settings_with, users};

#[authenticate(Jwt)]
#[permissions(IsAuthenticated)]
async fn whoami(user: CurrentUser<User>) -> axum::Json<Value> {
    axum::Json(json!({ "id": user.id, "username": user.username }))
}

fn app_with(f: impl FnOnce(&mut JwtSettings)) -> (Router, Auth<User>) {
    let auth = auth_with(f);
    let app = Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .route("/api/whoami/jwt/", get(whoami))
        .layer(auth.layer());
    (app, auth)
}

fn app() -> Router {
    app_with(|_| {}).0
}

fn post_json(uri: &str, body: &str) -> http::Request<Body> {
    http::Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn obtain(app: &Router, user: &str, password: &str) -> (u16, Value) {
    let (s, _, b) = send(
        app.clone(),
        post_json(
            "/api/auth/token/",
            &json!({"username": user, "password": password}).to_string(),
        ),
    )
    .await;
    (s.as_u16(), b)
}

async fn whoami_with(app: &Router, access: &str) -> (u16, Value) {
    let req = http::Request::get("/api/whoami/jwt/")
        .header("authorization", format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(app.clone(), req).await;
    (s.as_u16(), b)
}

#[tokio::test]
async fn obtain_then_use_the_access_token() {
    let app = app();
    let (status, body) = obtain(&app, "alice", "alice-password-1").await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);
    let access = body["access"].as_str().unwrap();
    assert_eq!(
        whoami_with(&app, access).await,
        (200, json!({"id": 1, "username": "alice"}))
    );
    // Leading and trailing spaces are trimmed, as DRF's CharField does.
    assert_eq!(obtain(&app, " alice ", " alice-password-1 ").await.0, 200);
}

#[tokio::test]
async fn obtain_refuses_with_drf_restflow_messages() {
    let app = app();
    let denied = json!({"detail": "No active account found with the given credentials."});
    for (user, pw) in [
        ("alice", "wrong"),
        ("nobody", "x"),
        ("bob", "bob-password-2"),
        ("Alice", "alice-password-1"),
    ] {
        let (s, headers, b) = send(
            app.clone(),
            post_json(
                "/api/auth/token/",
                &json!({"username": user, "password": pw}).to_string(),
            ),
        )
        .await;
        assert_eq!((s.as_u16(), &b), (401, &denied), "{user}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"api\"");
    }
    let cases = [
        (
            "{}",
            json!({"username": ["This field is required."], "password": ["This field is required."]}),
        ),
        (
            r#"{"username":"alice"}"#,
            json!({"password": ["This field is required."]}),
        ),
        (
            r#"{"username":"","password":"  "}"#,
            json!({"username": ["This field may not be blank."], "password": ["This field may not be blank."]}),
        ),
        (
            r#"{"username":null,"password":null}"#,
            json!({"username": ["This field may not be null."], "password": ["This field may not be null."]}),
        ),
        (
            r#"{"username":["a"],"password":"x"}"#,
            json!({"username": ["Not a valid string."]}),
        ),
        (
            "[1,2]",
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            r#""alice""#,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
    ];
    for (body, expected) in cases {
        let (s, _, b) = send(app.clone(), post_json("/api/auth/token/", body)).await;
        assert_eq!((s.as_u16(), b), (400, expected), "{body}");
    }
    // Field errors keep DRF's order: username first.
    let res = tower::ServiceExt::oneshot(app.clone(), post_json("/api/auth/token/", "{}"))
        .await
        .unwrap();
    let raw = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert_eq!(
        &raw[..],
        br#"{"username":["This field is required."],"password":["This field is required."]}"#
    );

    let (s, _, b) = send(app.clone(), post_json("/api/auth/token/", "{bad")).await;
    assert_eq!(s, 400);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{b}"
    );
    let req = http::Request::post("/api/auth/token/")
        .header("content-type", "text/plain")
        .body(Body::from("x"))
        .unwrap();
    let (s, _, b) = send(app.clone(), req).await;
    assert_eq!(
        (s.as_u16(), b),
        (
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."})
        )
    );
    let (s, headers, b) = send(
        app.clone(),
        http::Request::get("/api/auth/token/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (405, json!({"detail": "Method \"GET\" not allowed."}))
    );
    assert_eq!(headers["allow"], "POST, OPTIONS");
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(2 << 20)
    );
    let (s, _, _) = send(app.clone(), post_json("/api/auth/token/", &big)).await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn obtain_accepts_form_bodies() {
    let req = http::Request::post("/api/auth/token/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=alice%2Dpassword%2D1"))
        .unwrap();
    let (s, _, b) = send(app(), req).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn refresh_rotates_and_blacklists_the_old_token() {
    let app = app();
    let (_, pair) = obtain(&app, "alice", "alice-password-1").await;
    let refresh = pair["refresh"].as_str().unwrap().to_owned();
    let body = json!({"refresh": refresh}).to_string();
    let (s, _, b) = send(app.clone(), post_json("/api/auth/token/refresh/", &body)).await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["refresh"], pair["refresh"]);
    assert_eq!(
        whoami_with(&app, b["access"].as_str().unwrap()).await.0,
        200
    );
    // Reuse of the rotated token.
    let (s, h, b2) = send(app.clone(), post_json("/api/auth/token/refresh/", &body)).await;
    assert_eq!(
        (s.as_u16(), b2),
        (401, json!({"detail": "Token has been blacklisted."}))
    );
    assert_eq!(h["www-authenticate"], "Bearer realm=\"api\"");
    // The reuse ended the family: the new one is refused too (simplejwt
    // and drf-restflow let it live; see tests/it/family.rs).
    let (s, _, b3) = send(
        app.clone(),
        post_json(
            "/api/auth/token/refresh/",
            &json!({"refresh": b["refresh"]}).to_string(),
        ),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b3),
        (401, json!({"detail": "Token has been blacklisted."}))
    );
}

#[tokio::test]
async fn refresh_refusals() {
    let (app, auth) = app_with(|_| {});
    let (_, pair) = obtain(&app, "alice", "alice-password-1").await;
    let r = |v: Value| {
        post_json(
            "/api/auth/token/refresh/",
            &json!({"refresh": v}).to_string(),
        )
    };
    let (s, _, b) = send(app.clone(), r(pair["access"].clone())).await;
    assert_eq!(
        (s.as_u16(), b),
        (
            401,
            json!({"detail": "Wrong token type, expected 'refresh'."})
        )
    );
    let (s, _, b) = send(app.clone(), r(json!("garbage"))).await;
    assert_eq!(
        (s.as_u16(), b),
        (401, json!({"detail": "Not enough segments"}))
    );
    for (body, expected) in [
        ("{}", "This field is required."),
        (r#"{"refresh":""}"#, "This field may not be blank."),
        (r#"{"refresh":null}"#, "This field may not be null."),
    ] {
        let (s, _, b) = send(app.clone(), post_json("/api/auth/token/refresh/", body)).await;
        assert_eq!((s.as_u16(), b), (400, json!({"refresh": [expected]})));
    }
    // Deleted and inactive users get no new tokens (the reference mints them).
    let store = users();
    let auth2 = Auth::<User>::builder(settings_with(|_| {}))
        .users(store.clone())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap();
    let app2 = Router::new()
        .nest("/api/auth", auth2.jwt_routes())
        .layer(auth2.layer());
    let (_, pair2) = obtain(&app2, "alice", "alice-password-1").await;
    let mut alice = store.find_by_id_blocking(&1).unwrap().unwrap();
    alice.is_active = false;
    store.insert(alice);
    let (s, _, b) = send(app2.clone(), r(pair2["refresh"].clone())).await;
    assert_eq!(
        (s.as_u16(), b),
        (401, json!({"detail": "User is inactive."}))
    );
    store.remove(&1);
    let (s, _, b) = send(app2.clone(), r(pair2["refresh"].clone())).await;
    assert_eq!((s.as_u16(), b), (401, json!({"detail": "User not found."})));
    let _ = auth;
}

#[tokio::test]
async fn without_rotation_refresh_returns_access_only() {
    let (app, _) = app_with(|j| j.rotate_refresh_tokens = false);
    let (_, pair) = obtain(&app, "alice", "alice-password-1").await;
    let body = json!({"refresh": pair["refresh"]}).to_string();
    for _ in 0..2 {
        let (s, _, b) = send(app.clone(), post_json("/api/auth/token/refresh/", &body)).await;
        assert_eq!(s, 200);
        assert_eq!(
            b.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["access"]
        );
    }
}

#[tokio::test]
async fn blacklist_view() {
    let app = app();
    let (_, pair) = obtain(&app, "alice", "alice-password-1").await;
    let body = json!({"refresh": pair["refresh"]}).to_string();
    for _ in 0..2 {
        let res =
            tower::ServiceExt::oneshot(app.clone(), post_json("/api/auth/token/blacklist/", &body))
                .await
                .unwrap();
        assert_eq!(res.status(), 204);
        assert!(res.headers().get("content-type").is_none());
        assert!(
            axum::body::to_bytes(res.into_body(), 16)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let (s, _, b) = send(app.clone(), post_json("/api/auth/token/refresh/", &body)).await;
    assert_eq!(
        (s.as_u16(), b),
        (401, json!({"detail": "Token has been blacklisted."}))
    );
    // The access token of the same pair still works (a different jti; a
    // token blacklisted at logout is not a reuse: its family lives).
    assert_eq!(
        whoami_with(&app, pair["access"].as_str().unwrap()).await.0,
        200
    );
    let (s, _, b) = send(
        app.clone(),
        post_json(
            "/api/auth/token/blacklist/",
            &json!({"refresh": pair["access"]}).to_string(),
        ),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            401,
            json!({"detail": "Wrong token type, expected 'refresh'."})
        )
    );
}

#[test]
fn thirty_two_concurrent_refreshes_have_exactly_one_winner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(crate::blacklists::race(MemoryBlacklist::new()));
}

#[test]
fn the_blocking_check_and_blacklist_has_one_winner_across_threads() {
    let bl = MemoryBlacklist::new();
    let exp = 4_102_444_800; // 2100-01-01
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| s.spawn(|| bl.check_and_blacklist_blocking("jti-1", exp).unwrap()))
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
    assert!(bl.is_blacklisted_blocking("jti-1").unwrap());
    // Expired entries are not reported, and are dropped.
    bl.blacklist_blocking("old", 1).unwrap();
    assert!(!bl.is_blacklisted_blocking("old").unwrap());
}
