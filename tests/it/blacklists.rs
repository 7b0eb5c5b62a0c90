//! The suite every JWT blacklist backend passes (memory, Redis, SQLite,
//! PostgreSQL), and the rotation race through the refresh view.

use axum::Router;
use axum::body::Body;
use restflow_auth::jwt::Blacklist;
use restflow_auth::prelude::*;
use serde_json::json;

use crate::common::User;
use crate::handlers::send;
use crate::jwt::{settings_with, users};

pub(crate) fn later() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 120
}

/// The suite every blacklist backend passes, async and blocking.
pub(crate) async fn suite(bl: &impl Blacklist) {
    assert!(!bl.is_blacklisted("a").await.unwrap());
    bl.blacklist("a", later()).await.unwrap();
    bl.blacklist("a", later()).await.unwrap(); // idempotent
    assert!(bl.is_blacklisted("a").await.unwrap());
    assert!(bl.check_and_blacklist("b", later()).await.unwrap());
    assert!(!bl.check_and_blacklist("b", later()).await.unwrap());
    assert!(!bl.check_and_blacklist("a", later()).await.unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(bl.is_blacklisted_blocking("a").unwrap());
            assert!(!bl.is_blacklisted_blocking("c").unwrap());
            bl.blacklist_blocking("c", later()).unwrap();
            assert!(bl.is_blacklisted_blocking("c").unwrap());
            assert!(bl.check_and_blacklist_blocking("d", later()).unwrap());
            assert!(!bl.check_and_blacklist_blocking("d", later()).unwrap());
        })
        .join()
        .unwrap();
    });
    assert!(bl.is_blacklisted("c").await.unwrap() && bl.is_blacklisted("d").await.unwrap());
}

/// 32 concurrent refreshes of one token through the refresh view: exactly one 200.
pub(crate) async fn race(blacklist: impl Blacklist) {
    // Allowed for the memory backend; the others are shared anyway.
    let s = settings_with(|j| j.allow_local_blacklist = true);
    let auth = Auth::<User>::builder(s)
        .users(users())
        .blacklist(blacklist)
        .build()
        .unwrap();
    let app = Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .layer(auth.layer());
    let post = |uri: &str, body: String| {
        http::Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (_, _, pair) = send(
        app.clone(),
        post(
            "/api/auth/token/",
            json!({"username": "alice", "password": "alice-password-1"}).to_string(),
        ),
    )
    .await;
    let body = json!({"refresh": pair["refresh"]}).to_string();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (app, body, barrier) = (app.clone(), body.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                send(app, post("/api/auth/token/refresh/", body))
                    .await
                    .0
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        31,
        "{statuses:?}"
    );
}
