//! DRF's SessionAuthentication with Django's CSRF rules, the login, logout
//! and CSRF views, and chains mixing Session and JWT.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use restflow_auth::jwt::{AccessToken, JwtState, MemoryBlacklist};
use restflow_auth::prelude::*;
use restflow_auth::session::{MemorySessionStore, csrf};
use serde_json::{Value, json};

use crate::common::{User, both_paths};
use crate::handlers::send;
use crate::jwt::{settings_with, users};

fn whoami(user: &RequestUser<User>) -> axum::Json<Value> {
    axum::Json(json!({ "id": user.user().map(|u| u.id), "username": user.username() }))
}

#[authenticate(Session)]
#[permissions(IsAuthenticated)]
async fn session_only(user: MaybeUser<User>) -> axum::Json<Value> {
    whoami(&user)
}

#[authenticate(Jwt, Session)]
#[permissions(IsAuthenticated)]
async fn jwt_session(user: MaybeUser<User>) -> axum::Json<Value> {
    whoami(&user)
}

#[authenticate(Session, Jwt)]
#[permissions(IsAuthenticated)]
async fn session_jwt(user: MaybeUser<User>) -> axum::Json<Value> {
    whoami(&user)
}

pub(crate) struct App {
    pub(crate) router: Router,
    pub(crate) auth: Auth<User>,
    pub(crate) store: MemoryUserStore<User>,
    pub(crate) sessions: MemorySessionStore,
}

pub(crate) fn app_with(f: impl FnOnce(&mut Settings)) -> App {
    let mut s = settings_with(|_| {});
    f(&mut s);
    let store = users();
    let sessions = MemorySessionStore::new();
    let auth = Auth::<User>::builder(s)
        .users(store.clone())
        .sessions(sessions.clone())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap();
    let router = Router::new()
        .nest("/api/auth", auth.session_routes())
        .nest("/api", auth.csrf_routes())
        .route("/api/whoami/session/", get(session_only).post(session_only))
        .route(
            "/api/whoami/jwt-session/",
            get(jwt_session).post(jwt_session),
        )
        .route(
            "/api/whoami/session-jwt/",
            get(session_jwt).post(session_jwt),
        )
        .layer(auth.layer());
    App {
        router,
        auth,
        store,
        sessions,
    }
}

pub(crate) fn set_cookies(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers).into_iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap().to_owned())
    })
}

pub(crate) async fn login(
    app: &App,
    user: &str,
    password: &str,
    cookie: Option<&str>,
) -> (u16, http::HeaderMap, Value) {
    let mut b =
        http::Request::post("/api/auth/session/login/").header("content-type", "application/json");
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    let req = b
        .body(Body::from(
            json!({"username": user, "password": password}).to_string(),
        ))
        .unwrap();
    let (s, h, body) = send(app.router.clone(), req).await;
    (s.as_u16(), h, body)
}

/// Logs alice in; returns (sessionid, csrf secret).
pub(crate) async fn alice(app: &App) -> (String, String) {
    let (status, headers, body) = login(app, "alice", "alice-password-1", None).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"id": 1, "username": "alice"}))
    );
    (
        cookie_value(&headers, "sessionid").unwrap(),
        cookie_value(&headers, "csrftoken").unwrap(),
    )
}

pub(crate) async fn call(
    app: &App,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "testserver");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (s, _, body) = send(app.router.clone(), b.body(Body::empty()).unwrap()).await;
    (s.as_u16(), body)
}

pub(crate) fn csrf_failed(reason: &str) -> (u16, Value) {
    (403, json!({ "detail": format!("CSRF Failed: {reason}") }))
}

#[tokio::test]
async fn login_sets_the_session_and_csrf_cookies() {
    let app = app_with(|_| {});
    let (status, headers, _) = login(&app, "alice", "alice-password-1", None).await;
    assert_eq!(status, 200);
    let cookies = set_cookies(&headers);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("sessionid="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("Path=/"),
        "{session}"
    );
    let key = cookie_value(&headers, "sessionid").unwrap();
    assert!(
        key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(cookie_value(&headers, "csrftoken").unwrap().len(), 32);
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/whoami/session/",
            &[("cookie", &format!("sessionid={key}"))]
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn login_refusals() {
    let app = app_with(|_| {});
    let refused = json!({"detail": "Invalid username/password."});
    for (u, p) in [
        ("alice", "wrong"),
        ("nobody", "x"),
        ("bob", "bob-password-2"),
    ] {
        let (s, h, b) = login(&app, u, p, None).await;
        assert_eq!((s, &b), (403, &refused), "{u}");
        assert!(h.get("www-authenticate").is_none());
        assert!(set_cookies(&h).is_empty());
    }
    let req = http::Request::post("/api/auth/session/login/")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let (s, _, b) = send(app.router.clone(), req).await;
    assert_eq!(
        (s.as_u16(), b),
        (
            400,
            json!({"username": ["This field is required."], "password": ["This field is required."]})
        )
    );
}

#[tokio::test]
async fn csrf_rules_on_unsafe_methods() {
    let app = app_with(|s| s.session.csrf_trusted_origins = vec!["https://front.example".into()]);
    let (key, secret) = alice(&app).await;
    let session = format!("sessionid={key}");
    let both = format!("sessionid={key}; csrftoken={secret}");
    let url = "/api/whoami/session/";
    // Safe methods are not checked.
    assert_eq!(call(&app, "GET", url, &[("cookie", &session)]).await.0, 200);
    assert_eq!(
        call(&app, "POST", url, &[("cookie", &session)]).await,
        csrf_failed("CSRF cookie not set.")
    );
    assert_eq!(
        call(&app, "POST", url, &[("cookie", &both)]).await,
        csrf_failed("CSRF token missing.")
    );
    let h = "x-csrftoken";
    assert_eq!(
        call(&app, "POST", url, &[("cookie", &both), (h, "short")]).await,
        csrf_failed("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[("cookie", &both), (h, &"!".repeat(32))]
        )
        .await,
        csrf_failed("CSRF token from the 'X-Csrftoken' HTTP header has invalid characters.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[("cookie", &both), (h, &csrf::new_secret())]
        )
        .await,
        csrf_failed("CSRF token from the 'X-Csrftoken' HTTP header incorrect.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[
                ("cookie", &format!("{session}; csrftoken=abc")),
                (h, &secret)
            ]
        )
        .await,
        csrf_failed("CSRF cookie has incorrect length.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[
                ("cookie", &both),
                (h, &secret),
                ("origin", "http://evil.example")
            ]
        )
        .await,
        csrf_failed(
            "Origin checking failed - http://evil.example does not match any trusted origins."
        )
    );
    // Plain and masked tokens both pass; so do this host and trusted origins.
    assert_eq!(
        call(&app, "POST", url, &[("cookie", &both), (h, &secret)])
            .await
            .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "DELETE",
            url,
            &[("cookie", &both), (h, &csrf::mask(&secret))]
        )
        .await
        .0,
        405
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[("cookie", &both), (h, &csrf::mask(&secret))]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[
                ("cookie", &both),
                (h, &secret),
                ("origin", "http://testserver")
            ]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &[
                ("cookie", &both),
                (h, &secret),
                ("origin", "https://front.example")
            ]
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn the_csrf_view_sets_a_cookie_and_returns_a_masked_token() {
    let app = app_with(|_| {});
    let (s, h, body) = send(
        app.router.clone(),
        http::Request::get("/api/csrf/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let secret = cookie_value(&h, "csrftoken").unwrap();
    let token = body["csrftoken"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(csrf::unmask(token), secret);
    // An existing valid cookie is kept.
    let req = http::Request::get("/api/csrf/")
        .header("cookie", format!("csrftoken={secret}"))
        .body(Body::empty())
        .unwrap();
    let (_, h, _) = send(app.router.clone(), req).await;
    assert_eq!(cookie_value(&h, "csrftoken").unwrap(), secret);
}

#[tokio::test]
async fn login_rotates_the_session_id_and_logout_ends_it() {
    let app = app_with(|_| {});
    let (first, secret) = alice(&app).await;
    let (status, headers, _) = login(
        &app,
        "alice",
        "alice-password-1",
        Some(&format!("sessionid={first}")),
    )
    .await;
    assert_eq!(status, 200);
    let second = cookie_value(&headers, "sessionid").unwrap();
    assert_ne!(first, second);
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/whoami/session/",
            &[("cookie", &format!("sessionid={first}"))]
        )
        .await
        .0,
        403
    );
    assert_eq!(app.sessions.len(), 1);
    // Logout is Session-authenticated: CSRF applies.
    let logout = "/api/auth/session/logout/";
    let cookies = format!("sessionid={second}; csrftoken={secret}");
    assert_eq!(
        call(&app, "POST", logout, &[("cookie", &cookies)]).await,
        csrf_failed("CSRF token missing.")
    );
    let req = http::Request::post(logout)
        .header("host", "testserver")
        .header("cookie", &cookies)
        .header("x-csrftoken", &secret)
        .body(Body::empty())
        .unwrap();
    let (s, h, body) = send(app.router.clone(), req).await;
    assert_eq!((s.as_u16(), body), (204, Value::Null));
    assert!(
        set_cookies(&h)[0]
            .starts_with("sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")
    );
    assert!(app.sessions.is_empty());
    let gone = call(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", &format!("sessionid={second}"))],
    )
    .await;
    assert_eq!(
        gone,
        (
            403,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    // An anonymous logout is 204.
    assert_eq!(call(&app, "POST", logout, &[]).await.0, 204);
}

#[test]
fn sessions_of_changed_inactive_or_deleted_users() {
    let app = app_with(|_| {});
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (key, _) = rt.block_on(alice(&app));
    drop(rt);
    let cookie = format!("sessionid={key}");
    let mut alice = app.store.find_by_id_blocking(&1).unwrap().unwrap();
    alice.is_active = false;
    app.store.insert(alice.clone());
    let inactive = both_paths::<(Session,), (IsAuthenticated,)>(
        &app.auth,
        "GET",
        &[("cookie", cookie.as_bytes())],
    );
    assert_eq!(inactive, (403, None, "User inactive or deleted.".into()));
    app.store.remove(&1);
    let deleted = both_paths::<(Session,), (IsAuthenticated,)>(
        &app.auth,
        "GET",
        &[("cookie", cookie.as_bytes())],
    );
    assert_eq!(deleted, (403, None, "User inactive or deleted.".into()));
    // A password changed since login: the session no longer counts.
    alice.is_active = true;
    alice.password = restflow_auth::password::django_pbkdf2_sha256("new", "s", 1000);
    app.store.insert(alice);
    let changed = both_paths::<(Session,), (IsAuthenticated,)>(
        &app.auth,
        "GET",
        &[("cookie", cookie.as_bytes())],
    );
    assert_eq!(
        changed,
        (
            403,
            None,
            "Authentication credentials were not provided.".into()
        )
    );
}

#[tokio::test]
async fn jwt_session_against_session_jwt() {
    let app = app_with(|_| {});
    let (key, _) = alice(&app).await;
    let jwt = app.auth.context().store::<JwtState>().unwrap();
    let root = app.store.find_by_id_blocking(&3).unwrap().unwrap();
    let bearer = format!("Bearer {}", AccessToken::for_user(&root, jwt).unwrap());
    let headers = [
        ("cookie", format!("sessionid={key}")),
        ("authorization", bearer),
    ];
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // JWT first: the bearer wins and CSRF is never checked.
    assert_eq!(
        call(&app, "POST", "/api/whoami/jwt-session/", &h).await,
        (200, json!({"id": 3, "username": "root"}))
    );
    // Session first: it fails on CSRF, and JWT is never tried.
    assert_eq!(
        call(&app, "POST", "/api/whoami/session-jwt/", &h).await,
        csrf_failed("CSRF cookie not set.")
    );
    // No credentials: 401 with JWT first, 403 with Session first.
    let (s, _, b) = send(
        app.router.clone(),
        http::Request::get("/api/whoami/jwt-session/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["detail"].as_str()),
        (401, Some("Authentication credentials were not provided."))
    );
    assert_eq!(
        call(&app, "GET", "/api/whoami/session-jwt/", &[]).await.0,
        403
    );
}

#[tokio::test]
async fn over_https_the_referer_is_checked_when_there_is_no_origin() {
    let app = app_with(|s| {
        s.session.cookie_secure = true;
        s.session.csrf_trusted_origins = vec!["https://front.example".into()];
    });
    let (key, secret) = alice(&app).await;
    let both = format!("sessionid={key}; csrftoken={secret}");
    let url = "/api/whoami/session/";
    let base = [("cookie", both.as_str()), ("x-csrftoken", secret.as_str())];
    let with = |extra: Option<(&'static str, &'static str)>| {
        let mut h: Vec<(&str, &str)> = base.to_vec();
        h.extend(extra);
        h
    };
    assert_eq!(
        call(&app, "POST", url, &with(None)).await,
        csrf_failed("Referer checking failed - no Referer.")
    );
    assert_eq!(
        call(&app, "POST", url, &with(Some(("referer", "not a url")))).await,
        csrf_failed("Referer checking failed - Referer is malformed.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &with(Some(("referer", "http://testserver/page")))
        )
        .await,
        csrf_failed("Referer checking failed - Referer is insecure while host is secure.")
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &with(Some(("referer", "https://evil.example/x")))
        )
        .await,
        csrf_failed(
            "Referer checking failed - https://evil.example/x does not match any trusted origins."
        )
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &with(Some(("referer", "https://testserver/page")))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &with(Some(("referer", "https://front.example/app")))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "POST",
            url,
            &with(Some(("origin", "https://testserver")))
        )
        .await
        .0,
        200
    );
}
