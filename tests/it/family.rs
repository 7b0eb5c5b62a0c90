//! Refresh-token families (issue 14, part 4; RFC 9700 §4.14.2): a reuse
//! of a rotated refresh token ends the family, the newest tokens included,
//! on both paths; the grace window lets a client retry the immediately
//! previous token and get the same successor; startup refuses a grace
//! window without families. The concurrent reuse on every blacklist
//! backend is `blacklists::race`.

use axum::Router;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restflow_auth::jwt::{Blacklist, MemoryBlacklist, RefreshToken};
use restflow_auth::prelude::*;
use restflow_auth::settings::JwtSettings;
use serde_json::{Value, json};

use crate::blacklists::off_runtime;
use crate::common::{User, user};
use crate::handlers::send;
use crate::jwt::{settings_with, state, users};

const REVOKED: &str = "Token has been blacklisted.";

pub(crate) fn app_on(
    blacklist: impl Blacklist,
    f: impl FnOnce(&mut JwtSettings),
) -> (Router, Auth<User>) {
    let auth = Auth::<User>::builder(settings_with(f))
        .users(users())
        .blacklist(blacklist)
        .build()
        .unwrap();
    let app = Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .layer(auth.layer());
    (app, auth)
}

async fn post(app: &Router, uri: &str, body: Value) -> (u16, Value) {
    let req = http::Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, _, b) = send(app.clone(), req).await;
    (s.as_u16(), b)
}

async fn login(app: &Router) -> Value {
    let (s, b) = post(
        app,
        "/api/auth/token/",
        json!({"username": "alice", "password": "alice-password-1"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b
}

/// The blacklist view (logout) on `refresh`: its status.
async fn logout(app: &Router, refresh: &Value) -> u16 {
    post(
        app,
        "/api/auth/token/blacklist/",
        json!({"refresh": refresh}),
    )
    .await
    .0
}

async fn refresh(app: &Router, refresh: &Value) -> (u16, Value) {
    post(app, "/api/auth/token/refresh/", json!({"refresh": refresh})).await
}

fn claims(token: &Value) -> Value {
    let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn every_token_of_a_login_carries_one_family() {
    let (app, _) = app_on(MemoryBlacklist::new(), |_| {});
    let first = login(&app).await;
    let fam = claims(&first["refresh"])["fam"].clone();
    assert_eq!(fam.as_str().unwrap().len(), 22);
    assert_eq!(claims(&first["access"])["fam"], fam);
    let (s, next) = refresh(&app, &first["refresh"]).await;
    assert_eq!(s, 200);
    assert_eq!(claims(&next["refresh"])["fam"], fam);
    assert_eq!(claims(&next["access"])["fam"], fam);
    assert_ne!(
        claims(&next["refresh"])["jti"],
        claims(&first["refresh"])["jti"]
    );
    // Another login, another family.
    assert_ne!(claims(&login(&app).await["refresh"])["fam"], fam);
}

/// On the memory and SQLite backends: a sequential reuse.
async fn reuse_ends_the_family(blacklist: impl Blacklist) {
    let (app, auth) = app_on(blacklist, |_| {});
    let r0 = login(&app).await;
    let (s, r1) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(s, 200);
    let (s, r2) = refresh(&app, &r1["refresh"]).await;
    assert_eq!(s, 200);
    assert_eq!(
        off_runtime(&auth, r2["access"].as_str().unwrap()),
        "user:alice"
    );
    // The thief (or the client) presents r1 again: 401, and the family ends.
    let (s, b) = refresh(&app, &r1["refresh"]).await;
    assert_eq!((s, &b["detail"]), (401, &json!(REVOKED)));
    let (s, b) = refresh(&app, &r2["refresh"]).await;
    assert_eq!(
        (s, &b["detail"]),
        (401, &json!(REVOKED)),
        "the newest refresh token ends too"
    );
    for access in [&r0["access"], &r1["access"], &r2["access"]] {
        assert_eq!(off_runtime(&auth, access.as_str().unwrap()), REVOKED);
    }
    // Another session of the user lives on.
    let other = login(&app).await;
    assert_eq!(
        off_runtime(&auth, other["access"].as_str().unwrap()),
        "user:alice"
    );
    assert_eq!(refresh(&app, &other["refresh"]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_ends_its_family() {
    reuse_ends_the_family(MemoryBlacklist::new()).await;
    let file = crate::sql::SqliteFile::new("family");
    reuse_ends_the_family(crate::sql::sqlite(&file).await).await;
}

#[tokio::test]
async fn without_families_a_reuse_is_refused_and_the_successor_lives() {
    let (app, auth) = app_on(MemoryBlacklist::new(), |j| j.refresh_families = false);
    let r0 = login(&app).await;
    assert!(claims(&r0["refresh"]).get("fam").is_none());
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(refresh(&app, &r0["refresh"]).await.0, 401);
    assert_eq!(
        off_runtime(&auth, r1["access"].as_str().unwrap()),
        "user:alice"
    );
    assert_eq!(refresh(&app, &r1["refresh"]).await.0, 200);
}

#[tokio::test]
async fn a_token_from_before_families_starts_one_at_its_rotation() {
    let (app, auth) = app_on(MemoryBlacklist::new(), |_| {});
    // Minted by an older release (or simplejwt): no `fam`.
    let old = {
        let (_, legacy) = app_on(MemoryBlacklist::new(), |j| j.refresh_families = false);
        RefreshToken::for_user(&user(1, "alice", true, false), state(&legacy)).unwrap()
    };
    assert!(old.family().is_none());
    let (s, r1) = refresh(&app, &json!(old.as_str())).await;
    assert_eq!(s, 200, "{r1}");
    let fam = claims(&r1["refresh"])["fam"].clone();
    assert!(fam.is_string());
    // Its reuse has no family to end: refused, the successor lives.
    assert_eq!(refresh(&app, &json!(old.as_str())).await.0, 401);
    assert_eq!(
        off_runtime(&auth, r1["access"].as_str().unwrap()),
        "user:alice"
    );
    // From here on the family rules hold.
    let (_, r2) = refresh(&app, &r1["refresh"]).await;
    assert_eq!(refresh(&app, &r1["refresh"]).await.0, 401);
    assert_eq!(off_runtime(&auth, r2["access"].as_str().unwrap()), REVOKED);
}

#[tokio::test]
async fn the_grace_window_lets_a_client_retry_the_previous_token() {
    let (app, auth) = app_on(MemoryBlacklist::new(), |j| j.refresh_reuse_grace_s = 2);
    let r0 = login(&app).await;
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    // The client lost the answer and retries: the same successor again.
    let (s, retry) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(s, 200, "{retry}");
    assert_eq!(
        claims(&retry["refresh"])["jti"],
        claims(&r1["refresh"])["jti"]
    );
    assert_eq!(
        off_runtime(&auth, r1["access"].as_str().unwrap()),
        "user:alice"
    );
    // The family does not fork: of the two copies one rotates.
    let (s, r2) = refresh(&app, &retry["refresh"]).await;
    assert_eq!(s, 200);
    // r0 is no longer the immediately previous token: a reuse.
    let (s, b) = refresh(&app, &r0["refresh"]).await;
    assert_eq!((s, &b["detail"]), (401, &json!(REVOKED)));
    assert_eq!(off_runtime(&auth, r2["access"].as_str().unwrap()), REVOKED);

    // Past the window, a retry is a reuse.
    let r0 = login(&app).await;
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(refresh(&app, &r0["refresh"]).await.0, 401);
    assert_eq!(refresh(&app, &r1["refresh"]).await.0, 401);
    assert_eq!(off_runtime(&auth, r1["access"].as_str().unwrap()), REVOKED);
}

#[test]
fn a_grace_window_needs_families() {
    let e = |f: &dyn Fn(&mut JwtSettings), blacklist: bool| {
        let b = Auth::<User>::builder(settings_with(|j| {
            j.refresh_reuse_grace_s = 5;
            f(j);
        }))
        .users(users());
        let b = if blacklist {
            b.blacklist(MemoryBlacklist::new())
        } else {
            b
        };
        b.build().map(|_| ()).unwrap_err().to_string()
    };
    let err = e(&|j| j.refresh_families = false, true);
    assert!(
        err.contains("jwt.refresh_reuse_grace_s") && err.contains("needs refresh families"),
        "{err}"
    );
    let err = e(&|j| j.rotate_refresh_tokens = false, true);
    assert!(err.contains("needs refresh families"), "{err}");
    let err = e(&|j| j.blacklist_enabled = false, false);
    assert!(err.contains("needs refresh families"), "{err}");
    let err = e(&|j| j.refresh_token_lifetime_s = 5, true);
    assert!(err.contains("is not shorter than"), "{err}");
}

#[tokio::test]
async fn a_token_blacklisted_at_logout_is_refused_and_ends_nothing() {
    let (app, auth) = app_on(MemoryBlacklist::new(), |_| {});
    let r0 = login(&app).await;
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(logout(&app, &r1["refresh"]).await, 204);
    let (s, b) = refresh(&app, &r1["refresh"]).await;
    assert_eq!((s, &b["detail"]), (401, &json!(REVOKED)));
    // As drf-restflow: the pair's access token lives until it expires.
    assert_eq!(
        off_runtime(&auth, r1["access"].as_str().unwrap()),
        "user:alice"
    );
}

#[tokio::test]
async fn a_revoked_family_stays_revoked_when_families_are_turned_off() {
    let shared = MemoryBlacklist::new();
    let (app, _) = app_on(shared.clone(), |_| {});
    let r0 = login(&app).await;
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(refresh(&app, &r0["refresh"]).await.0, 401);
    // The same blacklist, a configuration without families (or rotation).
    for off in [
        &(|j: &mut JwtSettings| j.refresh_families = false) as &dyn Fn(&mut JwtSettings),
        &|j: &mut JwtSettings| j.rotate_refresh_tokens = false,
    ] {
        let (later, auth) = app_on(shared.clone(), off);
        assert_eq!(off_runtime(&auth, r1["access"].as_str().unwrap()), REVOKED);
        let (s, b) = refresh(&later, &r1["refresh"]).await;
        assert_eq!((s, &b["detail"]), (401, &json!(REVOKED)));
    }
}

#[tokio::test]
async fn a_logout_within_the_grace_window_is_not_a_retry() {
    let (app, auth) = app_on(MemoryBlacklist::new(), |j| j.refresh_reuse_grace_s = 5);
    let r0 = login(&app).await;
    let (_, r1) = refresh(&app, &r0["refresh"]).await;
    assert_eq!(logout(&app, &r1["refresh"]).await, 204);
    // r1 was never rotated: refused, nothing minted, the family lives.
    assert_eq!(refresh(&app, &r1["refresh"]).await.0, 401);
    assert_eq!(
        off_runtime(&auth, r1["access"].as_str().unwrap()),
        "user:alice"
    );
}

#[test]
fn the_family_claim_is_not_another_claims_name() {
    for f in [
        &(|j: &mut JwtSettings| j.user_id_claim = "fam".into()) as &dyn Fn(&mut JwtSettings),
        &|j: &mut JwtSettings| {
            j.check_revoke_token = true;
            j.revoke_token_claim = "fam".into();
        },
    ] {
        let err = Auth::<User>::builder(settings_with(f))
            .users(users())
            .blacklist(MemoryBlacklist::new())
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("is the refresh family's claim"), "{err}");
    }
}
