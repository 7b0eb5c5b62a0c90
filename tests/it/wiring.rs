//! The startup check of the wiring (issue 12, item 5): a handler whose chain
//! names a scheme the configuration lacks, or a throttle without its rate,
//! makes `build()` fail with the handler and what to fix. This file has its
//! own user model, so only its handlers count.

use axum::Json;
use restflow_auth::context::BuildError;
use restflow_auth::prelude::*;
use restflow_auth::session::MemorySessionStore;
use restflow_auth::settings::Secret;
use restflow_auth::throttle::{Scoped, ThrottleScope};
use restflow_auth::token::MemoryTokenStore;
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, AuthUser)]
pub struct Wired {
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

#[authenticate(Jwt, Session)]
#[permissions(IsAuthenticated)]
async fn jwt_or_session(user: CurrentUser<Wired>) -> Json<Value> {
    Json(json!({ "id": user.id }))
}

#[authenticate(SimpleJwt, Token)]
async fn simplejwt_or_token(user: MaybeUser<Wired>) -> Json<Value> {
    Json(json!({ "name": user.username() }))
}

#[authenticate(Basic)]
#[throttle(ScopedRateThrottle, scope = "uploads")]
async fn upload(user: MaybeUser<Wired>) -> Json<Value> {
    Json(json!({ "name": user.username() }))
}

fn builder(settings: Settings) -> restflow_auth::context::AuthBuilder<Wired> {
    // The handlers are used by name so that the test fails if one is renamed
    // without its expected problem.
    let _ = (jwt_or_session, simplejwt_or_token, upload);
    Auth::builder(settings).users(MemoryUserStore::<Wired>::new())
}

fn complete() -> Settings {
    let mut s = Settings::default();
    s.jwt.signing_key = Some(Secret::new("a-signing-key-of-at-least-32-bytes!!"));
    s.jwt.blacklist_enabled = false;
    s.simplejwt.signing_key = Some(Secret::new("django-insecure-secret-key-for-tests"));
    s.throttle.rates.insert("uploads".into(), "10/min".into());
    s
}

fn problems(result: Result<Auth<Wired>, BuildError>) -> Vec<String> {
    match result {
        Err(BuildError::Wiring(p)) => p,
        Err(other) => panic!("expected a wiring error, got {other}"),
        Ok(_) => panic!("expected a wiring error, the build succeeded"),
    }
}

fn line_of(name: &str) -> u32 {
    let src = include_str!("wiring.rs");
    let at = src.find(&format!("async fn {name}(")).expect("handler");
    // The attribute macro reports the line of its first attribute: the line
    // of `#[authenticate` just above the function.
    let before = &src[..at];
    let attr = before.rfind("#[authenticate").expect("attribute");
    before[..attr].matches('\n').count() as u32 + 1
}

#[test]
fn every_missing_piece_is_named_with_its_handler() {
    let p = problems(builder(Settings::default()).build());
    let route = |name: &str| {
        format!(
            "`it::wiring::{name}` (tests/it/wiring.rs:{})",
            line_of(name)
        )
    };
    let expect = [
        format!(
            "{}: `Jwt` needs the built-in JWT: set `jwt.signing_key`",
            route("jwt_or_session")
        ),
        format!(
            "{}: `Session` needs a session store: call `.sessions(store)` on the builder",
            route("jwt_or_session")
        ),
        format!(
            "{}: `SimpleJwt` needs simplejwt's key: set `simplejwt.signing_key` (Django's SIMPLE_JWT SIGNING_KEY, SECRET_KEY by default)",
            route("simplejwt_or_token")
        ),
        format!(
            "{}: `Token` needs a token store: call `.tokens(store)` on the builder",
            route("simplejwt_or_token")
        ),
        format!(
            "{}: `ScopedRateThrottle` needs a rate for scope `uploads`: add it to `config!`'s `throttle_rates` or to `[throttle] rates`",
            route("upload")
        ),
    ];
    for e in &expect {
        assert!(p.contains(e), "missing problem {e:?} in {p:#?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    // The error's message lists each on its own line.
    let msg = BuildError::Wiring(p).to_string();
    assert!(
        msg.starts_with("the routes need what the configuration lacks:\n  `it::wiring::"),
        "{msg}"
    );
}

#[test]
fn each_fix_removes_its_problem_and_all_of_them_build() {
    let mut s = complete();
    s.throttle.rates.clear();
    let p = problems(
        builder(s)
            .sessions(MemorySessionStore::new())
            .tokens(MemoryTokenStore::<i64>::new())
            .build(),
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("`it::wiring::upload`") && p[0].contains("scope `uploads`"),
        "{p:#?}"
    );

    builder(complete())
        .sessions(MemorySessionStore::new())
        .tokens(MemoryTokenStore::<i64>::new())
        .build()
        .expect("everything the routes name is configured");
}

#[test]
fn the_check_is_on_by_default_and_can_be_turned_off() {
    // No `config!` of this user model turns it off: on.
    assert!(builder(Settings::default()).build().is_err());
    // The test suite's own model (`common::User`) is built with the check
    // off by main.rs's `config! { check_routes: false }`.
    crate::common::auth();
    // Per builder.
    builder(Settings::default())
        .check_routes(false)
        .build()
        .expect("unchecked");
}

struct Reports;
impl ThrottleScope for Reports {
    const SCOPE: Option<&'static str> = Some("reports");
}

#[test]
fn a_policy_layer_that_needs_what_is_missing_panics_when_applied() {
    let auth = builder(complete())
        .sessions(MemorySessionStore::new())
        .tokens(MemoryTokenStore::<i64>::new())
        .build()
        .expect("complete");
    let apply = |layer| {
        let _: axum::Router = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route_layer(layer);
    };
    apply(auth.policy::<(Jwt, Session), (IsAuthenticated,)>());
    // The project's throttles replaced before the layer is applied: fine.
    let _: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route_layer(auth.policy::<(Jwt,), (AllowAny,)>().throttle::<()>());
    // No route names scope `reports`, so only the layer can notice, when it
    // is applied.
    let layer = auth
        .policy::<(Jwt,), (AllowAny,)>()
        .throttle::<Scoped<(ScopedRateThrottle,), Reports>>();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: axum::Router = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route_layer(layer);
    }))
    .expect_err("a throttle without its rate");
    let msg = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert_eq!(
        msg,
        "restflow-auth: a policy layer needs what the configuration lacks: `ScopedRateThrottle` needs a rate for scope `reports`: add it to `config!`'s `throttle_rates` or to `[throttle] rates`"
    );
    // With the check off the layer is made (a request would meet the
    // missing rate's error instead).
    let unchecked = builder(Settings::default())
        .check_routes(false)
        .build()
        .expect("unchecked");
    let _: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route_layer(
            unchecked
                .policy::<(Token,), (AllowAny,)>()
                .throttle::<Scoped<(ScopedRateThrottle,), Reports>>(),
        );
}

/// A router without `auth.layer()`: the guarded route answers 500 with
/// DRF's body, and, with no tracing subscriber, stderr says what to add.
/// Run in a child process of this binary so that its stderr is its own.
#[test]
fn a_missing_auth_layer_is_named_on_stderr_without_a_subscriber() {
    if std::env::var_os("RESTFLOW_WIRING_CHILD").is_some() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "wiring::missing_layer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RESTFLOW_WIRING_CHILD", "1")
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child: two answers of 500"), "{stdout}");
    let said = "restflow-auth: no restflow-auth context for user model `it::wiring::Wired`: add `.layer(auth.layer())` to the router (every guarded request answers 500 until then)";
    assert_eq!(stderr.matches(said).count(), 1, "said once: {stderr}");
}

#[test]
fn missing_layer_child() {
    if std::env::var_os("RESTFLOW_WIRING_CHILD").is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route("/", axum::routing::get(upload));
        for _ in 0..2 {
            let req = http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap();
            let (status, _, body) = crate::handlers::send(app.clone(), req).await;
            assert_eq!(status, 500);
            assert_eq!(body, json!({ "detail": "A server error occurred." }));
        }
        println!("child: two answers of 500");
    });
}
