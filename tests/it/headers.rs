//! Issue 10 item 6: a header that cannot be read, or is sent twice, never
//! reads as absent. For each header that matters to security (Origin,
//! Referer, Authorization, Cookie, the remote-user header,
//! X-Forwarded-For, the CSRF header), a value with a byte above 0x7f and a
//! repeated value, answered as Django answers them (it joins copies with
//! `,` and reads bytes as Latin-1), on both paths. Also the attacker
//! review's findings on the edge (Content-Type, Content-Length, Host).

use axum::body::Body;
use restflow_auth::jwt::MemoryBlacklist;
use restflow_auth::net::PeerAddr;
use restflow_auth::prelude::*;
use restflow_auth::session::{MemorySessionStore, csrf};
use serde_json::{Value, json};

use crate::common::{User, both_paths};
use crate::handlers::send;
use crate::jwt::{settings_with, users};

struct Setup {
    auth: Auth<User>,
    session: String,
    secret: String,
}

fn setup(secure: bool) -> Setup {
    let mut s = settings_with(|_| {});
    s.session.cookie_secure = secure;
    let sessions = MemorySessionStore::new();
    let auth = Auth::<User>::builder(s.clone())
        .users(users())
        .sessions(sessions.clone())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap();
    let alice = users().find_by_username_blocking("alice").unwrap().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = restflow_auth::session::Sessions::new(sessions);
    let session = rt
        .block_on(restflow_auth::session::login(
            &store, &s.session, &alice, None,
        ))
        .unwrap();
    Setup {
        auth,
        session,
        secret: csrf::new_secret(),
    }
}

fn session_post(st: &Setup, extra: &[(&str, &[u8])]) -> (u16, Option<String>, String) {
    let cookie = format!("sessionid={}; csrftoken={}", st.session, st.secret);
    let mut headers: Vec<(&str, &[u8])> =
        vec![("host", b"testserver"), ("cookie", cookie.as_bytes())];
    let has_token = extra.iter().any(|(k, _)| *k == "x-csrftoken");
    if !has_token {
        headers.push(("x-csrftoken", st.secret.as_bytes()));
    }
    headers.extend_from_slice(extra);
    both_paths::<(Session,), (IsAuthenticated,)>(&st.auth, "POST", &headers)
}

fn csrf_failed(reason: &str) -> (u16, Option<String>, String) {
    (403, None, format!("CSRF Failed: {reason}"))
}

#[test]
fn origin_unreadable_or_repeated_matches_nothing() {
    let st = setup(false);
    assert_eq!(
        session_post(&st, &[("origin", b"http://testserver")]).2,
        "user:alice"
    );
    // Django reads the bytes as Latin-1 and compares the text.
    assert_eq!(
        session_post(&st, &[("origin", b"http://testserver\xc3\xa9")]),
        csrf_failed(
            "Origin checking failed - http://testserver\u{c3}\u{a9} does not match any trusted origins."
        )
    );
    assert_eq!(
        session_post(
            &st,
            &[
                ("origin", b"http://testserver"),
                ("origin", b"http://testserver")
            ]
        ),
        csrf_failed(
            "Origin checking failed - http://testserver,http://testserver does not match any trusted origins."
        )
    );
    assert_eq!(
        session_post(
            &st,
            &[
                ("origin", b"http://testserver"),
                ("origin", b"http://evil.example")
            ]
        )
        .0,
        403
    );
}

#[test]
fn referer_unreadable_or_repeated_as_django_splits_it() {
    let st = setup(true);
    assert_eq!(
        session_post(&st, &[("referer", b"https://testserver/page")]).2,
        "user:alice"
    );
    // A byte above 0x7f in the path: Django's urlsplit still finds this host.
    assert_eq!(
        session_post(&st, &[("referer", b"https://testserver/caf\xe9")]).2,
        "user:alice"
    );
    // ... and in the host, it is another host.
    assert_eq!(
        session_post(&st, &[("referer", b"https://testserv\xe9r/")]),
        csrf_failed(
            "Referer checking failed - https://testserv\u{e9}r/ does not match any trusted origins."
        )
    );
    // Two copies are one text: its host is the first copy's.
    assert_eq!(
        session_post(
            &st,
            &[
                ("referer", b"https://evil.example/"),
                ("referer", b"https://testserver/")
            ]
        ),
        csrf_failed(
            "Referer checking failed - https://evil.example/,https://testserver/ does not match any trusted origins."
        )
    );
}

#[test]
fn csrf_header_unreadable_or_repeated_is_a_bad_token() {
    let st = setup(false);
    // 31 characters and one Latin-1 character: the right length, a bad character.
    let mut odd = st.secret.as_bytes()[..31].to_vec();
    odd.push(0xe9);
    assert_eq!(
        session_post(&st, &[("x-csrftoken", &odd)]),
        csrf_failed("CSRF token from the 'X-Csrftoken' HTTP header has invalid characters.")
    );
    let secret = st.secret.clone();
    assert_eq!(
        session_post(
            &st,
            &[
                ("x-csrftoken", secret.as_bytes()),
                ("x-csrftoken", secret.as_bytes())
            ]
        ),
        csrf_failed("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.")
    );
}

#[test]
fn cookie_unreadable_or_repeated_names_no_session() {
    let st = setup(false);
    let not_provided = (
        403,
        None,
        "Authentication credentials were not provided.".to_owned(),
    );
    let get = |headers: &[(&str, &[u8])]| {
        both_paths::<(Session,), (IsAuthenticated,)>(&st.auth, "GET", headers)
    };
    let good = format!("sessionid={}", st.session);
    assert_eq!(get(&[("cookie", good.as_bytes())]).2, "user:alice");
    let mut bad = good.clone().into_bytes();
    bad.push(0xe9);
    assert_eq!(get(&[("cookie", &bad)]), not_provided);
    // Two Cookie headers are one text joined with ",": the session cookie's
    // value runs into the next header, as Django reads it.
    let csrf = format!("csrftoken={}", st.secret);
    assert_eq!(
        get(&[("cookie", good.as_bytes()), ("cookie", csrf.as_bytes())]),
        not_provided
    );
    // The last of repeated names counts.
    let last = format!("sessionid=abcdefghijklmnop; {good}");
    assert_eq!(get(&[("cookie", last.as_bytes())]).2, "user:alice");
}

#[test]
fn authorization_unreadable_or_repeated() {
    let auth = crate::jwt::auth_with(|_| {});
    let jwt = |headers: &[(&str, &[u8])]| {
        both_paths::<(Jwt,), (IsAuthenticated,)>(&auth, "GET", headers).2
    };
    assert_eq!(
        jwt(&[("authorization", b"Bearer \xe9\xe9")]),
        "Token contains invalid characters."
    );
    assert_eq!(
        jwt(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b")
        ]),
        "Authorization header must be 'Bearer <token>'."
    );
    let basic = |headers: &[(&str, &[u8])]| {
        both_paths::<(Basic,), (IsAuthenticated,)>(&auth, "GET", headers).2
    };
    assert_eq!(
        basic(&[
            ("authorization", b"Basic YWxpY2U6eA=="),
            ("authorization", b"Basic YWxpY2U6eA==")
        ]),
        "Invalid basic header. Credentials string should not contain spaces."
    );
    assert_eq!(
        basic(&[("authorization", b"Basic \xe9")]),
        "Invalid basic header. Credentials not correctly base64 encoded."
    );
}

#[test]
fn remote_user_unreadable_or_repeated_names_nobody() {
    let auth = Auth::builder(Settings::default())
        .users(crate::common::users())
        .build()
        .unwrap();
    let remote = |headers: &[(&str, &[u8])]| {
        both_paths::<(RemoteUser,), (IsAuthenticated,)>(&auth, "GET", headers).2
    };
    let nobody = "Authentication credentials were not provided.";
    assert_eq!(remote(&[("x-remote-user", b"alice")]), "user:alice");
    assert_eq!(remote(&[("x-remote-user", b"alic\xe9")]), nobody);
    assert_eq!(
        remote(&[("x-remote-user", b"alice"), ("x-remote-user", b"alice")]),
        nobody
    );
    let long = "a".repeat(151);
    assert_eq!(remote(&[("x-remote-user", long.as_bytes())]), nobody);
}

#[test]
fn remote_user_only_from_trusted_proxies() {
    let mut s = Settings::default();
    s.remote_user.trusted_proxies = serde_json::from_str(r#"["10.20.0.0/16", "::1"]"#).unwrap();
    let auth = Auth::builder(s)
        .users(crate::common::users())
        .build()
        .unwrap();
    let from = |peer: Option<&str>| {
        let (mut parts, ()) = http::Request::get("/")
            .header("x-remote-user", "alice")
            .body(())
            .unwrap()
            .into_parts();
        if let Some(p) = peer {
            parts.extensions.insert(PeerAddr(p.parse().unwrap()));
        }
        let req = Request::new(&parts);
        let a = restflow_auth::dispatch::authenticate_blocking::<
            User,
            (RemoteUser,),
            (IsAuthenticated,),
        >(&req, auth.context())
        .map(|id| id.user.username().to_owned())
        .map_err(|d| d.status().as_u16());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let b = rt
            .block_on(restflow_auth::dispatch::authenticate::<
                User,
                (RemoteUser,),
                (IsAuthenticated,),
            >(&req, auth.context()))
            .map(|id| id.user.username().to_owned())
            .map_err(|d| d.status().as_u16());
        assert_eq!(a, b, "async and blocking agree");
        a
    };
    assert_eq!(from(Some("10.20.3.4:5000")), Ok("alice".to_owned()));
    assert_eq!(from(Some("[::1]:5000")), Ok("alice".to_owned()));
    assert_eq!(
        from(Some("[::ffff:10.20.0.9]:5000")),
        Ok("alice".to_owned())
    );
    assert_eq!(
        from(Some("192.0.2.1:5000")),
        Err(403),
        "not a trusted proxy"
    );
    assert_eq!(from(None), Err(403), "an unknown peer cannot vouch");
}

#[test]
fn x_forwarded_for_unreadable_or_repeated_as_django_joins_it() {
    use restflow_auth::throttle::{ThrottleSettings, client_ident};
    let ident = |headers: &[(&str, &[u8])], num_proxies: Option<usize>| {
        let mut b = http::Request::get("/");
        for (k, v) in headers {
            b = b.header(*k, http::HeaderValue::from_bytes(v).unwrap());
        }
        let (mut parts, ()) = b.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(PeerAddr("10.1.1.1:80".parse().unwrap()));
        let s = ThrottleSettings {
            num_proxies,
            ..ThrottleSettings::default()
        };
        client_ident(&Request::new(&parts), &s)
    };
    let two: &[(&str, &[u8])] = &[
        ("x-forwarded-for", b"203.0.113.1"),
        ("x-forwarded-for", b"198.51.100.2"),
    ];
    assert_eq!(ident(two, None), "203.0.113.1,198.51.100.2");
    assert_eq!(
        ident(two, Some(1)),
        "198.51.100.2",
        "the proxy's own copy counts"
    );
    assert_eq!(
        ident(&[("x-forwarded-for", b"203.0.113.\xe9")], None),
        "203.0.113.\u{e9}"
    );
    assert_eq!(
        ident(&[("x-forwarded-for", b"203.0.113.\xe9")], Some(0)),
        "10.1.1.1"
    );
}

// ---------------------------------------------------------------------------
// The edge: Content-Type, Content-Length, Host (the attacker review).

async fn login_with(headers: &[(&str, &[u8])], body: &str) -> (u16, http::HeaderMap, Value) {
    let app = crate::session::app_with(|_| {});
    let router = axum::Router::new()
        .nest("/api/auth", app.auth.session_routes())
        .nest("/api/auth", app.auth.jwt_routes())
        .layer(app.auth.layer());
    let mut b = http::Request::post("/api/auth/session/login/");
    for (k, v) in headers {
        b = b.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    let (s, h, v) = send(router, b.body(Body::from(body.to_owned())).unwrap()).await;
    (s.as_u16(), h, v)
}

const FORM: &str = "username=alice&password=alice-password-1";

#[tokio::test]
async fn one_reading_of_content_type_for_the_parser_and_the_csrf_check() {
    for ct in [
        &b"application/x-www-form-urlencoded\xc2\xa0"[..],
        b"\xc2\xa0application/x-www-form-urlencoded",
        b"application/x-www-form-urlencoded\xc2\x85;x=1",
    ] {
        let (status, h, _) = login_with(
            &[
                ("host", b"testserver"),
                ("content-type", ct),
                ("origin", b"http://evil.example"),
            ],
            FORM,
        )
        .await;
        assert_eq!(status, 415, "{ct:?}");
        assert!(h.get("set-cookie").is_none());
    }
    let (status, h, _) = login_with(
        &[
            ("host", b"testserver"),
            ("content-type", b"application/x-www-form-urlencoded"),
            ("content-type", b"application/json"),
            ("origin", b"http://evil.example"),
        ],
        FORM,
    )
    .await;
    assert_eq!(status, 415);
    assert!(h.get("set-cookie").is_none());
}

#[tokio::test]
async fn a_form_with_too_many_fields_is_refused_before_it_is_decoded() {
    let body = (0..1001)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, body) = login_with(
        &[
            ("host", b"testserver"),
            ("content-type", b"application/x-www-form-urlencoded"),
        ],
        &body,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "The number of fields exceeded the limit of 1000."})
        )
    );
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_at_once() {
    let (status, _, body) = login_with(
        &[
            ("host", b"testserver"),
            ("content-type", b"application/json"),
            ("content-length", b"10000000000"),
        ],
        "",
    )
    .await;
    assert_eq!(
        (status, body),
        (
            413,
            json!({"detail": "Request body is larger than 1048576 bytes."})
        )
    );
}

#[tokio::test]
async fn without_a_host_header_no_origin_is_this_host() {
    let (status, _, body) = login_with(
        &[
            ("content-type", b"application/x-www-form-urlencoded"),
            ("origin", b"http://evil"),
        ],
        FORM,
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

/// A challenge an application's authenticator gives as `'static` text
/// outside visible ASCII is sent as its bytes (as `HeaderValue::from_str`
/// takes them), never a panic: the static fast path takes only what
/// `HeaderValue::from_static` accepts.
#[test]
fn a_static_challenge_outside_visible_ascii_is_sent_as_its_bytes() {
    use axum::response::IntoResponse;
    use restflow_auth::dispatch::Denial;
    use restflow_auth::error::{AuthError, Rejected, Rejection};
    let denial = Denial {
        error: AuthError::new(Rejection::NotAuthenticated),
        challenge: Some(std::borrow::Cow::Borrowed("Bearer realm=\"café\"")),
    };
    let rejected = Rejected::new(&denial, &restflow_auth::messages::Catalog::default(), None);
    assert_eq!(rejected.status(), 401);
    let res = rejected.into_response();
    assert_eq!(
        res.headers()["www-authenticate"].as_bytes(),
        "Bearer realm=\"café\"".as_bytes()
    );
    // And the usual one, from the static path.
    let denial = Denial {
        error: AuthError::new(Rejection::NotAuthenticated),
        challenge: Some(std::borrow::Cow::Borrowed("Bearer realm=\"api\"")),
    };
    let res =
        Rejected::new(&denial, &restflow_auth::messages::Catalog::default(), None).into_response();
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(res.headers()["content-language"], "en");
}
