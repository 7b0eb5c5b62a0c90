//! Issue 11: what a differential run against the real drf-restflow found,
//! one test per item (`issue_11_*`), on both paths where the item has two.

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use restflow_auth::dispatch::{authenticate, authenticate_blocking};
use restflow_auth::prelude::*;
use restflow_auth::session::{ResponseCookies, SessionStore, csrf};
use serde_json::{Value, json};

use crate::common::{User, both_paths};
use crate::handlers::send;
use crate::jwt::{H, KEY, auth_with, b64, check, claims, craft, now};
use crate::session::{App, alice, app_with, cookie_value, set_cookies};

async fn post_form(
    app: &App,
    uri: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, Value) {
    let mut b = http::Request::post(uri)
        .header("host", "testserver")
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (s, h, v) = send(
        app.router.clone(),
        b.body(Body::from(body.to_owned())).unwrap(),
    )
    .await;
    (s.as_u16(), h, v)
}

async fn request(
    app: &App,
    method: &str,
    uri: &str,
    headers: &[(&str, &[u8])],
    body: &str,
) -> (u16, http::HeaderMap, Value) {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "testserver");
    for (k, v) in headers {
        b = b.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    let (s, h, v) = send(
        app.router.clone(),
        b.body(Body::from(body.to_owned())).unwrap(),
    )
    .await;
    (s.as_u16(), h, v)
}

/// What the response does to cookie `name`: "set", "deleted" or "".
fn cookie_act(h: &http::HeaderMap, name: &str) -> &'static str {
    match set_cookies(h)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
    {
        Some(c) if c.contains("Max-Age=0") => "deleted",
        Some(_) => "set",
        None => "",
    }
}

const LOGIN: &str = "/api/auth/session/login/";
const FORM: &str = "username=alice&password=alice-password-1";

#[tokio::test]
async fn issue_11_login_csrf_refuses_cross_site_form_posts() {
    let app = app_with(|s| s.session.csrf_trusted_origins = vec!["https://app.example".into()]);
    // A cross-site HTML form: Origin from another site.
    let (status, h, body) =
        post_form(&app, LOGIN, FORM, &[("origin", "http://evil.example")]).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."})
        )
    );
    assert!(set_cookies(&h).is_empty(), "no cookie on a refused login");
    // Without Origin, the Referer decides.
    let (status, h, body) = post_form(
        &app,
        LOGIN,
        FORM,
        &[("referer", "http://evil.example/page")],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "CSRF Failed: Referer checking failed - http://evil.example/page does not match any trusted origins."})
        )
    );
    assert!(set_cookies(&h).is_empty());
    // An Origin sent twice or unreadable matches nothing.
    let (status, ..) = request(
        &app,
        "POST",
        LOGIN,
        &[
            ("content-type", b"application/x-www-form-urlencoded"),
            ("origin", b"http://testserver"),
            ("origin", b"http://evil.example"),
        ],
        FORM,
    )
    .await;
    assert_eq!(status, 403);
    let (status, ..) = request(
        &app,
        "POST",
        LOGIN,
        &[
            ("content-type", b"application/x-www-form-urlencoded"),
            ("origin", b"http://testserver\xc3\xa9"),
        ],
        FORM,
    )
    .await;
    assert_eq!(status, 403);
    assert!(app.sessions.is_empty(), "no session was created");
    // This origin, a trusted one, a Referer from here, or no browser at all: logged in.
    for headers in [
        &[("origin", "http://testserver")][..],
        &[("origin", "https://app.example")][..],
        &[("referer", "http://testserver/login")][..],
        &[][..],
    ] {
        let (status, h, _) = post_form(&app, LOGIN, FORM, headers).await;
        assert_eq!(status, 200, "{headers:?}");
        assert_eq!(cookie_act(&h, "sessionid"), "set");
    }
    // JSON cannot be sent cross-site without CORS: accepted.
    let (status, ..) = request(
        &app,
        "POST",
        LOGIN,
        &[
            ("content-type", b"application/json"),
            ("origin", b"http://evil.example"),
        ],
        &json!({"username": "alice", "password": "alice-password-1"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    // The other form view of the session routes, logout, reads the token
    // from the form like Django and refuses a foreign Origin.
    let (session, secret) = alice(&app).await;
    let cookies = format!("sessionid={session}; csrftoken={secret}");
    let (status, _, body) = post_form(
        &app,
        "/api/auth/session/logout/",
        &format!("csrfmiddlewaretoken={secret}"),
        &[("cookie", &cookies), ("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, h, _) = post_form(
        &app,
        "/api/auth/session/logout/",
        &format!("csrfmiddlewaretoken={}", csrf::mask(&secret)),
        &[("cookie", &cookies)],
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (204, "deleted"));
}

fn remote_auth() -> (Auth<User>, MemoryUserStore<User>) {
    let store = crate::common::users();
    let next = std::sync::atomic::AtomicI64::new(10);
    let users = store.clone().with_user_factory(move |name| {
        crate::common::user(
            next.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            name,
            true,
            false,
        )
    });
    let auth = Auth::builder(Settings::default())
        .users(users)
        .build()
        .unwrap();
    (auth, store)
}

#[test]
fn issue_11_remote_user_header_twice_or_unprintable_names_nobody() {
    let (auth, store) = remote_auth();
    let not_provided = (
        403,
        None,
        "Authentication credentials were not provided.".to_owned(),
    );
    let cases: &[&[(&str, &[u8])]] = &[
        &[("x-remote-user", b"alice"), ("x-remote-user", b"root")],
        &[("x-remote-user", b"carol"), ("x-remote-user", b"carol")],
        &[("x-remote-user", b"caf\xc3\xa9")],
        &[("x-remote-user", b"caf\xe9")],
        &[("x-remote-user", b"al\tice")],
    ];
    for headers in cases {
        assert_eq!(
            both_paths::<(RemoteUser,), (IsAuthenticated,)>(&auth, "GET", headers),
            not_provided,
            "{headers:?}"
        );
    }
    assert!(
        store.find_by_username_blocking("carol").unwrap().is_none(),
        "no user was created"
    );
    assert!(
        store
            .find_by_username_blocking("alice,root")
            .unwrap()
            .is_none()
    );
    // One printable copy still works, and creates unknown users.
    assert_eq!(
        both_paths::<(RemoteUser,), (IsAuthenticated,)>(
            &auth,
            "GET",
            &[("x-remote-user", b"carol")]
        )
        .2,
        "user:carol"
    );
}

#[authenticate(Token)]
#[permissions(IsAuthenticated)]
async fn token_route(user: CurrentUser<User>) -> String {
    user.username.clone()
}

#[tokio::test]
async fn issue_11_method_not_allowed_is_drf_json_with_allow() {
    let app = app_with(|_| {});
    let router = axum::Router::new()
        .route("/api/whoami/token/", get(token_route).post(token_route))
        .nest("/api/auth", app.auth.session_routes())
        .layer(app.auth.layer());
    let call = |method: &str, uri: &str, lang: Option<&str>| {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(l) = lang {
            b = b.header("accept-language", l);
        }
        send(router.clone(), b.body(Body::empty()).unwrap())
    };
    let (status, h, body) = call("PUT", "/api/whoami/token/", None).await;
    assert_eq!(
        (status.as_u16(), body),
        (405, json!({"detail": "Method \"PUT\" not allowed."}))
    );
    assert_eq!(h["content-type"], "application/json");
    let allow = h["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let (status, h, body) = call("GET", "/api/auth/session/login/", None).await;
    assert_eq!(
        (status.as_u16(), body),
        (405, json!({"detail": "Method \"GET\" not allowed."}))
    );
    assert_eq!(h["allow"], "POST, OPTIONS");
    let (_, h, body) = call("DELETE", "/api/whoami/token/", Some("fr")).await;
    assert_eq!(body, json!({"detail": "Méthode « DELETE » non autorisée."}));
    assert_eq!(h["content-language"], "fr");
}

/// Runs `(Session,)` on both paths with a [`ResponseCookies`] in the
/// request, as the layer does; returns what each path asked of the response.
fn session_cookies_on_both_paths(auth: &Auth<User>, cookie: &str) -> [Vec<String>; 2] {
    let run = |blocking: bool| {
        let jar = Arc::new(ResponseCookies::default());
        let mut req = http::Request::get("/")
            .header("cookie", cookie)
            .body(())
            .unwrap();
        req.extensions_mut().insert(Arc::clone(&jar));
        let (parts, ()) = req.into_parts();
        let r = Request::new(&parts);
        let outcome = if blocking {
            std::thread::scope(|s| {
                s.spawn(|| {
                    authenticate_blocking::<User, (Session,), (AllowAny,)>(&r, auth.context())
                })
                .join()
                .unwrap()
            })
        } else {
            std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap()
                        .block_on(authenticate::<User, (Session,), (AllowAny,)>(
                            &r,
                            auth.context(),
                        ))
                })
                .join()
                .unwrap()
            })
        };
        assert!(outcome.unwrap().user.user().is_none(), "anonymous");
        let mut h = http::HeaderMap::new();
        jar.apply(&mut h);
        set_cookies(&h)
    };
    [run(false), run(true)]
}

#[tokio::test]
async fn issue_11_session_cookie_lifecycle_as_django() {
    let app = app_with(|_| {});
    // An unknown session id: deleted in the response.
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", b"sessionid=abcdefghijklmnop")],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (403, "deleted"));
    // A malformed one (fewer than 8 characters): deleted on any route,
    // as Django's SessionMiddleware does.
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/csrf/",
        &[("cookie", b"sessionid=abc")],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (200, "deleted"));
    let (_, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", b"sessionid=")],
        "",
    )
    .await;
    assert_eq!(cookie_act(&h, "sessionid"), "deleted");
    // A live session: kept.
    let (session, _) = alice(&app).await;
    let c = format!("sessionid={session}");
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", c.as_bytes())],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (200, ""));
    // An expired one: deleted.
    let mut data = app.sessions.load_blocking(&session).unwrap().unwrap();
    data.expires_at = now() - 1;
    app.sessions.save_blocking(&session, &data).unwrap();
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", c.as_bytes())],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (403, "deleted"));
    // A password changed since login: flushed (row gone) and deleted.
    let (session, _) = alice(&app).await;
    let mut alice_row = app
        .store
        .find_by_username_blocking("alice")
        .unwrap()
        .unwrap();
    let old_password = alice_row.password.clone();
    alice_row.password = restflow_auth::password::django_pbkdf2_sha256("new", "salt", 1000);
    app.store.insert(alice_row.clone());
    let c = format!("sessionid={session}");
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", c.as_bytes())],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (403, "deleted"));
    assert!(
        app.sessions.load_blocking(&session).unwrap().is_none(),
        "the session row is gone"
    );
    alice_row.password = old_password;
    app.store.insert(alice_row);
    // Logout: a request without a session cookie gets no cookie; with one, it is deleted.
    let (status, h, _) = request(&app, "POST", "/api/auth/session/logout/", &[], "").await;
    assert_eq!((status, set_cookies(&h)), (204, Vec::<String>::new()));
    let (status, h, _) = request(
        &app,
        "POST",
        "/api/auth/session/logout/",
        &[("cookie", b"sessionid=abcdefghijklmnop")],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (204, "deleted"));
    // Repeated names: the last one counts, for the session and the CSRF cookie.
    let (session, secret) = alice(&app).await;
    let last_good = format!("sessionid=abcdefghijklmnop; sessionid={session}");
    let (status, ..) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", last_good.as_bytes())],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let first_good = format!("sessionid={session}; sessionid=abcdefghijklmnop");
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", first_good.as_bytes())],
        "",
    )
    .await;
    assert_eq!((status, cookie_act(&h, "sessionid")), (403, "deleted"));
    let two_csrf = format!(
        "sessionid={session}; csrftoken={secret}; csrftoken={}",
        csrf::new_secret()
    );
    let (status, _, body) = request(
        &app,
        "POST",
        "/api/whoami/session/",
        &[
            ("cookie", two_csrf.as_bytes()),
            ("x-csrftoken", secret.as_bytes()),
        ],
        "",
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect."})
        )
    );
    // Both paths of the authenticator ask for the same deletion.
    let [a, b] = session_cookies_on_both_paths(&app.auth, "sessionid=abcdefghijklmnop");
    assert_eq!(a, b);
    assert!(
        a.len() == 1 && a[0].starts_with("sessionid=\"\"") && a[0].contains("Max-Age=0"),
        "{a:?}"
    );
}

#[tokio::test]
async fn issue_11_a_malformed_csrf_cookie_is_replaced() {
    let app = app_with(|_| {});
    let (session, secret) = alice(&app).await;
    for bad in ["short", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", ""] {
        let c = format!("sessionid={session}; csrftoken={bad}");
        let (status, h, body) = request(
            &app,
            "POST",
            "/api/whoami/session/",
            &[("cookie", c.as_bytes()), ("x-csrftoken", secret.as_bytes())],
            "",
        )
        .await;
        assert_eq!(status, 403, "{bad}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("CSRF Failed: CSRF cookie has"),
            "{body}"
        );
        let fresh = cookie_value(&h, "csrftoken").expect("a fresh CSRF cookie");
        assert!(csrf::is_well_formed(&fresh) && fresh.len() == 32, "{fresh}");
    }
    // On a request that never reaches the check too (Django's middleware).
    let (_, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", b"csrftoken=short")],
        "",
    )
    .await;
    assert_eq!(cookie_act(&h, "csrftoken"), "set");
    // A well-formed cookie is left alone.
    let c = format!("csrftoken={secret}");
    let (_, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", c.as_bytes())],
        "",
    )
    .await;
    assert_eq!(cookie_act(&h, "csrftoken"), "");
}

#[test]
fn issue_11_pyjwt_base64url_is_strict() {
    let auth = auth_with(|_| {});
    let good = craft(H, &claims(json!({})), KEY);
    let (input, sig) = good.rsplit_once('.').unwrap();
    // One token, one spelling: a signature with other trailing bits.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = sig.chars().last().unwrap();
    let flipped = alphabet
        .chars()
        .nth(alphabet.find(last).unwrap() ^ 1)
        .unwrap();
    let loose = format!("{input}.{}{flipped}", &sig[..sig.len() - 1]);
    assert_eq!(check(&auth, &loose), "Invalid crypto padding");
    // The standard alphabet is not base64url.
    let std_sig = sig.replace('-', "+").replace('_', "/");
    if std_sig != sig {
        assert_eq!(
            check(&auth, &format!("{input}.{std_sig}")),
            "Invalid crypto padding"
        );
    }
    assert_eq!(
        check(
            &auth,
            &format!("{}.e30.{sig}", b64(r#"{"alg":"HS256"}"#).replace('J', "+"))
        ),
        "Invalid header padding"
    );
    // Padding only where it ends a quad.
    assert_eq!(check(&auth, &format!("{good}=")), "user:alice");
    assert_eq!(check(&auth, &format!("{good}==")), "Invalid crypto padding");
}

#[test]
fn issue_11_header_bytes_that_are_not_utf8_are_an_invalid_header_string() {
    let auth = auth_with(|_| {});
    let sig = "AAAA";
    for header in [&b"\x80abc"[..], b"{\"alg\":\"\xe9\"}", b"\xc3"] {
        let t = format!(
            "{}.e30.{sig}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
        );
        let got = check(&auth, &t);
        assert!(
            got.starts_with("Invalid header string: 'utf-8' codec can't decode"),
            "{got}"
        );
    }
    // Python's json.loads reads UTF-16 too.
    let utf16: Vec<u8> = H.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let input = format!(
        "{}.{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &utf16),
        b64(&claims(json!({})))
    );
    let t = crate::jwt::sign(&input, KEY);
    assert_eq!(check(&auth, &t), "user:alice");
}

#[test]
fn issue_11_crit_as_pyjwt() {
    let auth = auth_with(|_| {});
    let with_header = |h: &str| check(&auth, &craft(h, &claims(json!({})), KEY));
    assert_eq!(
        with_header(r#"{"alg":"HS256","crit":["b64"],"b64":true}"#),
        "user:alice"
    );
    for (header, message) in [
        (
            r#"{"alg":"HS256","crit":[]}"#,
            "Invalid 'crit' header: must be a non-empty list",
        ),
        (
            r#"{"alg":"HS256","crit":"b64"}"#,
            "Invalid 'crit' header: must be a non-empty list",
        ),
        (
            r#"{"alg":"HS256","crit":[1]}"#,
            "Invalid 'crit' header: values must be strings",
        ),
        (
            r#"{"alg":"HS256","crit":["x"],"x":1}"#,
            "Unsupported critical extension: x",
        ),
        (
            r#"{"alg":"HS256","crit":["b64"]}"#,
            "Critical extension 'b64' is missing from headers",
        ),
        (
            r#"{"alg":"HS256","b64":false}"#,
            "Payload segment must be empty when 'b64' is false.",
        ),
    ] {
        assert_eq!(with_header(header), message, "{header}");
    }
    let detached = format!(
        "{}..AAAA",
        b64(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#)
    );
    assert!(
        check(&auth, &detached)
            .starts_with("It is required that you pass in a value for the \"detached_payload\"")
    );
}

#[test]
fn issue_11_time_claims_must_be_integers_everywhere() {
    let bad: [(&str, &str); 5] = [
        ("exp", r#""9999999999""#),
        ("exp", "1e10"),
        ("exp", "1000000000000000000000000000000"),
        ("iat", "true"),
        ("nbf", "1.5"),
    ];
    let payload = |kind: &str, claim: &str, raw: &str| {
        let t = now();
        let mut p = json!({"token_type": kind, "iat": t, "exp": t + 300, "jti": format!("j-{claim}-{raw}"), "user_id": 1}).to_string();
        p = p.replacen('}', &format!(",\"{claim}\":{raw}}}"), 1);
        // A repeated name keeps the last value, as Python's json.loads.
        p
    };
    // The built-in JWT, both paths.
    let auth = auth_with(|_| {});
    for (claim, raw) in bad {
        let got = check(&auth, &craft(H, &payload("access", claim, raw), KEY));
        assert!(got.ends_with("must be an integer."), "{claim}={raw}: {got}");
    }
    // The simplejwt verifier: simplejwt's own answer, never accepted.
    let mut s = Settings::default();
    s.simplejwt.signing_key = Some(restflow_auth::settings::Secret::new(KEY));
    let sj = Auth::<User>::builder(s)
        .users(crate::jwt::users())
        .build()
        .unwrap();
    for (claim, raw) in bad {
        let t = craft(H, &payload("access", claim, raw), KEY);
        let (status, _, detail) = both_paths::<(SimpleJwt,), (IsAuthenticated,)>(
            &sj,
            "GET",
            &[("authorization", format!("Bearer {t}").as_bytes())],
        );
        assert_eq!(
            (status, detail.as_str()),
            (401, "Given token not valid for any token type"),
            "{claim}={raw}"
        );
    }
    // The refresh and blacklist views: 401, nothing rotated or blacklisted.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let app = app_with(|_| {});
    let router = axum::Router::new()
        .nest("/api/auth", app.auth.jwt_routes())
        .layer(app.auth.layer());
    for view in ["refresh", "blacklist"] {
        for (claim, raw) in bad {
            let t = craft(H, &payload("refresh", claim, raw), KEY);
            let req = http::Request::post(format!("/api/auth/token/{view}/"))
                .header("content-type", "application/json")
                .body(Body::from(json!({"refresh": t}).to_string()))
                .unwrap();
            let (status, _, body) = rt.block_on(send(router.clone(), req));
            assert_eq!(status.as_u16(), 401, "{view} {claim}={raw}: {body}");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .ends_with("must be an integer."),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn issue_11_a_json_null_body_is_no_data_provided() {
    let app = app_with(|_| {});
    let router = axum::Router::new()
        .nest("/api/auth", app.auth.jwt_routes())
        .nest("/api/auth", app.auth.session_routes())
        .layer(app.auth.layer());
    for uri in [
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/auth/token/blacklist/",
        LOGIN,
    ] {
        let req = http::Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from("null"))
            .unwrap();
        let (status, _, body) = send(router.clone(), req).await;
        assert_eq!(
            (status.as_u16(), body),
            (400, json!({"non_field_errors": ["No data provided"]})),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn issue_11_rule_11_a_relogin_rotates_the_session_id() {
    let app = app_with(|_| {});
    let (first, secret) = alice(&app).await;
    let c = format!("sessionid={first}; csrftoken={secret}");
    let (status, h, _) = crate::session::login(&app, "alice", "alice-password-1", Some(&c)).await;
    assert_eq!(status, 200);
    let second = cookie_value(&h, "sessionid").unwrap();
    assert_ne!(first, second);
    let old = format!("sessionid={first}");
    let (status, h, _) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", old.as_bytes())],
        "",
    )
    .await;
    assert_eq!(
        (status, cookie_act(&h, "sessionid")),
        (403, "deleted"),
        "the old id is unknown"
    );
    let new = format!("sessionid={second}");
    let (status, ..) = request(
        &app,
        "GET",
        "/api/whoami/session/",
        &[("cookie", new.as_bytes())],
        "",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn issue_11_rule_13_a_body_over_the_limit_is_413_before_any_parsing() {
    let app = app_with(|s| s.body_limit = 64);
    let router = axum::Router::new()
        .nest("/api/auth", app.auth.jwt_routes())
        .nest("/api/auth", app.auth.session_routes())
        .layer(app.auth.layer());
    for (uri, ct) in [
        ("/api/auth/token/", "application/json"),
        (LOGIN, "application/x-www-form-urlencoded"),
        (
            "/api/auth/session/logout/",
            "application/x-www-form-urlencoded",
        ),
    ] {
        let req = http::Request::post(uri)
            .header("content-type", ct)
            .body(Body::from(format!(
                "{{\"username\":\"{}\"}}",
                "a".repeat(100)
            )))
            .unwrap();
        let (status, _, body) = send(router.clone(), req).await;
        assert_eq!(
            (status.as_u16(), body),
            (
                413,
                json!({"detail": "Request body is larger than 64 bytes."})
            ),
            "{uri}"
        );
    }
}

#[test]
fn issue_11_not_acceptable_comes_before_authentication() {
    let auth = auth_with(|_| {});
    let (status, challenge, detail) = both_paths::<(Jwt,), (IsAuthenticated,)>(
        &auth,
        "GET",
        &[
            ("accept", b"application/xml"),
            ("authorization", b"Bearer garbage"),
        ],
    );
    assert_eq!(
        (status, challenge, detail.as_str()),
        (406, None, "Could not satisfy the request Accept header.")
    );
    for accept in [
        &b"application/json"[..],
        b"*/*",
        b"application/xml, text/*;q=0.1",
        b"application/*",
    ] {
        assert_eq!(
            both_paths::<(), (AllowAny,)>(&auth, "GET", &[("accept", accept)]).0,
            200
        );
    }
    assert_eq!(
        both_paths::<(), (AllowAny,)>(&auth, "GET", &[("accept", b"")]).0,
        406
    );
}
