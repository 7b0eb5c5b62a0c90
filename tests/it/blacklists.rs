//! The suite every JWT blacklist backend passes (memory, Redis, SQLite,
//! PostgreSQL), and the rotation race through the refresh view.

use axum::body::Body;
use restflow_auth::jwt::Blacklist;
use restflow_auth::prelude::*;
use serde_json::json;

use crate::common::User;
use crate::handlers::send;

pub(crate) fn later() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 120
}

/// [`crate::jwt::check`] (both paths) from a thread outside the test's runtime.
pub(crate) fn off_runtime(auth: &Auth<User>, token: &str) -> String {
    std::thread::scope(|s| s.spawn(|| crate::jwt::check(auth, token)).join().unwrap())
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
    // An access token's jti and its family's entry in one call.
    assert!(bl.any_blacklisted(&["zz", "a"]).await.unwrap());
    assert!(bl.any_blacklisted(&["c", "zz"]).await.unwrap());
    assert!(!bl.any_blacklisted(&["zz", "yy"]).await.unwrap());
    assert!(!bl.any_blacklisted(&[]).await.unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(bl.any_blacklisted_blocking(&["zz", "d"]).unwrap());
            assert!(!bl.any_blacklisted_blocking(&["zz", "yy"]).unwrap());
        })
        .join()
        .unwrap();
    });
    // A refresh family's grace marker ends at its own expiry, on every
    // backend (simplejwt's tables included).
    let soon = later() - 120 + 1;
    bl.blacklist("recent:g", soon).await.unwrap();
    assert!(bl.is_blacklisted("recent:g").await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(!bl.is_blacklisted("recent:g").await.unwrap());
}

/// 32 concurrent refreshes of one token through the refresh view: exactly
/// one 200; the others are reuses of a rotated token, so the family ends:
/// no token of it (the winner's pair included) works afterwards.
pub(crate) async fn race(blacklist: impl Blacklist) {
    // The process-local opt-in is on (memory); the others are shared anyway.
    let (app, auth) = crate::family::app_on(blacklist, |_| {});
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
                let (status, _, body) = send(app, post("/api/auth/token/refresh/", body)).await;
                (status.as_u16(), body)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut winner = serde_json::Value::Null;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 200 {
            winner = body;
        }
        statuses.push(status);
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
    let revoked = "Token has been blacklisted.";
    // Every access token of the family, on both paths, the winner's too.
    for access in [&pair["access"], &winner["access"]] {
        assert_eq!(off_runtime(&auth, access.as_str().unwrap()), revoked);
    }
    let (status, _, body) = send(
        app.clone(),
        post(
            "/api/auth/token/refresh/",
            json!({"refresh": winner["refresh"]}).to_string(),
        ),
    )
    .await;
    assert_eq!((status.as_u16(), &body["detail"]), (401, &json!(revoked)));
    let (_, _, fresh) = send(
        app.clone(),
        post(
            "/api/auth/token/",
            json!({"username": "alice", "password": "alice-password-1"}).to_string(),
        ),
    )
    .await;
    // A new login is a new family.
    assert_eq!(
        off_runtime(&auth, fresh["access"].as_str().unwrap()),
        "user:alice"
    );
    let (status, _, body) = send(
        app.clone(),
        post(
            "/api/auth/token/refresh/",
            json!({"refresh": fresh["refresh"]}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
