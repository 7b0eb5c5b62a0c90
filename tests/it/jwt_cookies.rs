//! The JWT's cookie transport (issue 14, part 6): HttpOnly cookies set by
//! the obtain and refresh views, the access cookie read by the
//! authenticator on both paths with Django's CSRF check on unsafe methods,
//! refresh and logout from the cookie, login CSRF on the obtain view, a
//! repeated cookie refused, and startup errors.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use restflow_auth::jwt::MemoryBlacklist;
use restflow_auth::prelude::*;
use serde_json::{Value, json};

use crate::common::{User, both_paths};
use crate::handlers::send;
use crate::jwt::{settings_with, users};

#[authenticate(Jwt)]
#[permissions(IsAuthenticated)]
async fn whoami(user: CurrentUser<User>) -> axum::Json<Value> {
    axum::Json(json!({ "username": user.username }))
}

fn settings(enabled: bool) -> Settings {
    let mut s = settings_with(|_| {});
    s.jwt_cookie.enabled = enabled;
    s
}

fn auth(enabled: bool) -> Auth<User> {
    Auth::builder(settings(enabled))
        .users(users())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap()
}

fn app(auth: &Auth<User>) -> Router {
    Router::new()
        .nest("/api/auth", auth.jwt_routes())
        .route("/api/whoami/", get(whoami).post(whoami))
        .layer(auth.layer())
}

/// A csrftoken cookie value and the same in the header (Django's double submit).
const CSRF: &str = "abcdefghijklmnopqrstuvwxyzABCDEF";

fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> http::Request<Body> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "api.example");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    match body {
        Some(body) => b
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn set_cookies(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn login(app: &Router) -> (Value, Vec<String>) {
    let (s, h, b) = send(
        app.clone(),
        request(
            "POST",
            "/api/auth/token/",
            &[],
            Some(&json!({"username": "alice", "password": "alice-password-1"}).to_string()),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    (b, set_cookies(&h))
}

#[tokio::test]
async fn obtain_sets_httponly_cookies() {
    let auth = auth(true);
    let (pair, cookies) = login(&app(&auth)).await;
    assert_eq!(
        cookies,
        [
            format!(
                "access_token={}; Max-Age=300; Path=/; SameSite=Lax; HttpOnly; Secure",
                pair["access"].as_str().unwrap()
            ),
            format!(
                "refresh_token={}; Max-Age=86400; Path=/api/auth/token/; SameSite=Lax; HttpOnly; Secure",
                pair["refresh"].as_str().unwrap()
            ),
        ]
    );
    // Off by default: no cookie, and a cookie is not read.
    let plain = auth_off();
    let (pair, cookies) = login(&app(&plain)).await;
    assert!(cookies.is_empty(), "{cookies:?}");
    let cookie = format!("access_token={}", pair["access"].as_str().unwrap());
    assert_eq!(
        check(&plain, "GET", &[("cookie", &cookie)]),
        (401, "Authentication credentials were not provided.".into())
    );
}

fn auth_off() -> Auth<User> {
    auth(false)
}

/// (status, detail or user) on both paths.
fn check(auth: &Auth<User>, method: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut all: Vec<(&str, &[u8])> = vec![("host", b"api.example")];
    all.extend(headers.iter().map(|(k, v)| (*k, v.as_bytes())));
    // Off the test's runtime: both_paths runs one of its own.
    let (status, _, detail) = std::thread::scope(|s| {
        s.spawn(|| both_paths::<(Jwt,), (IsAuthenticated,)>(auth, method, &all))
            .join()
            .unwrap()
    });
    (status, detail)
}

#[tokio::test]
async fn the_access_cookie_authenticates_and_unsafe_methods_need_csrf() {
    let auth = auth(true);
    let (pair, _) = login(&app(&auth)).await;
    let access = pair["access"].as_str().unwrap();
    let cookie = format!("access_token={access}");
    let ok = (200, "user:alice".to_owned());
    assert_eq!(check(&auth, "GET", &[("cookie", &cookie)]), ok);
    assert_eq!(
        check(&auth, "POST", &[("cookie", &cookie)]),
        (403, "CSRF Failed: CSRF cookie not set.".into())
    );
    let with_csrf = format!("{cookie}; csrftoken={CSRF}");
    assert_eq!(
        check(&auth, "POST", &[("cookie", &with_csrf)]),
        (403, "CSRF Failed: CSRF token missing.".into())
    );
    assert_eq!(
        check(
            &auth,
            "DELETE",
            &[("cookie", &with_csrf), ("x-csrftoken", CSRF)]
        ),
        ok
    );
    // A cross-site page cannot forge it.
    assert_eq!(
        check(
            &auth,
            "POST",
            &[("cookie", &with_csrf), ("x-csrftoken", CSRF), ("origin", "https://evil.example")]
        ),
        (
            403,
            "CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins."
                .into()
        )
    );
    // The header wins over the cookie and needs no CSRF token.
    let bearer = format!("Bearer {access}");
    assert_eq!(
        check(
            &auth,
            "POST",
            &[("authorization", &bearer), ("cookie", "access_token=junk")]
        ),
        ok
    );
    // A tossed second cookie is refused, whichever comes first.
    let twice = format!("access_token=junk; {cookie}");
    assert_eq!(
        check(&auth, "GET", &[("cookie", &twice)]),
        (401, "The token cookie was sent more than once.".into())
    );
    // A bad token in the cookie gets the token's message.
    assert_eq!(
        check(&auth, "GET", &[("cookie", "access_token=junk")]).0,
        401
    );
}

#[tokio::test]
async fn refresh_and_logout_from_the_cookie() {
    let auth = auth(true);
    let app = app(&auth);
    let (pair, _) = login(&app).await;
    let refresh = pair["refresh"].as_str().unwrap();
    let cookie = format!("refresh_token={refresh}; csrftoken={CSRF}");
    // Without the CSRF token the cookie is not used.
    let (s, _, b) = send(
        app.clone(),
        request(
            "POST",
            "/api/auth/token/refresh/",
            &[("cookie", &cookie)],
            Some("{}"),
        ),
    )
    .await;
    assert_eq!(
        (s.as_u16(), &b["detail"]),
        (403, &json!("CSRF Failed: CSRF token missing."))
    );
    let (s, h, b) = send(
        app.clone(),
        request(
            "POST",
            "/api/auth/token/refresh/",
            &[("cookie", &cookie), ("x-csrftoken", CSRF)],
            Some("{}"),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let set = set_cookies(&h);
    assert_eq!(set.len(), 2);
    assert!(set[1].starts_with(&format!("refresh_token={}", b["refresh"].as_str().unwrap())));
    // The body's token, when given, is the one used.
    let (s, _, _) = send(
        app.clone(),
        request(
            "POST",
            "/api/auth/token/refresh/",
            &[("cookie", &cookie)],
            Some(&json!({"refresh": b["refresh"]}).to_string()),
        ),
    )
    .await;
    assert_eq!(s, 200);
    // Logout from the cookie ends both cookies.
    let (_, pair) = {
        let (p, c) = login(&app).await;
        (c, p)
    };
    let cookie = format!(
        "refresh_token={}; csrftoken={CSRF}",
        pair["refresh"].as_str().unwrap()
    );
    let (s, h, _) = send(
        app.clone(),
        request(
            "POST",
            "/api/auth/token/blacklist/",
            &[("cookie", &cookie), ("x-csrftoken", CSRF)],
            Some("{}"),
        ),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        set_cookies(&h),
        [
            "access_token=\"\"; Max-Age=0; Path=/; SameSite=Lax; HttpOnly; Secure",
            "refresh_token=\"\"; Max-Age=0; Path=/api/auth/token/; SameSite=Lax; HttpOnly; Secure"
        ]
    );
    // Neither cookie nor body: DRF's field error.
    let (s, _, b) = send(
        app.clone(),
        request("POST", "/api/auth/token/refresh/", &[], Some("{}")),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (400, json!({"refresh": ["This field is required."]}))
    );
}

#[tokio::test]
async fn a_cross_site_form_cannot_log_the_browser_in() {
    let auth = auth(true);
    let req = http::Request::post("/api/auth/token/")
        .header("host", "api.example")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=alice-password-1"))
        .unwrap();
    let (s, h, b) = send(app(&auth), req).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .starts_with("CSRF Failed: Origin checking failed"),
        "{b}"
    );
    assert!(set_cookies(&h).is_empty());
}

#[test]
fn misconfigured_cookies_fail_at_startup() {
    let e = |f: &dyn Fn(&mut Settings)| {
        let mut s = settings(true);
        f(&mut s);
        Auth::<User>::builder(s)
            .users(users())
            .blacklist(MemoryBlacklist::new())
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = e(&|s| {
        s.jwt_cookie.samesite = "None".into();
        s.jwt_cookie.secure = false;
    });
    assert!(
        err.contains("jwt_cookie.samesite") && err.contains("needs"),
        "{err}"
    );
    let err = e(&|s| s.jwt_cookie.samesite = "lax".into());
    assert!(err.contains("give Strict, Lax or None"), "{err}");
    let err = e(&|s| s.jwt_cookie.access_name = "csrftoken".into());
    assert!(err.contains("jwt_cookie.access_name"), "{err}");
    let err = e(&|s| s.jwt_cookie.refresh_name = "access_token".into());
    assert!(err.contains("jwt_cookie.refresh_name"), "{err}");
    let err = e(&|s| s.jwt_cookie.refresh_path = "api; Domain=evil".into());
    assert!(err.contains("jwt_cookie.refresh_path"), "{err}");
    let err = e(&|s| s.jwt_cookie.access_name = "a b".into());
    assert!(err.contains("jwt_cookie.access_name"), "{err}");
    let mut s = Settings::default();
    s.jwt_cookie.enabled = true;
    let err = Auth::<User>::builder(s)
        .users(users())
        .build()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("need the built-in JWT"), "{err}");
}
