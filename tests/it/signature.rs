//! The custom HMAC-signature authenticator of `examples/custom_authenticator`,
//! written once with `#[authenticator]`: both generated paths, on the wire
//! and in a table.

#[path = "../../examples/custom_authenticator/signature.rs"]
mod example;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use example::{ApiKeySignature, ApiKeys, signature};
use restflow_auth::dispatch::{authenticate, authenticate_blocking};
use restflow_auth::prelude::*;
use serde_json::json;

use crate::common::{User, users};
use crate::handlers::send;

const SECRET: &[u8] = b"alice-shared-secret";

fn auth() -> Auth<User> {
    let keys = ApiKeys::<i64>::new()
        .with_key("alice-key", 1, SECRET)
        .with_key("bob-key", 2, b"bob-secret")
        .with_key("ghost-key", 99, b"g");
    Auth::builder(Settings::default())
        .users(users())
        .with_store(keys)
        .build()
        .unwrap()
}

#[authenticate(ApiKeySignature)]
#[permissions(IsAuthenticated)]
async fn orders(user: CurrentUser<User>, body: String) -> String {
    format!("{} ordered {body}", user.username)
}

fn signed(key: &str, secret: &[u8], body: &str, tamper: bool) -> http::Request<Body> {
    let sig = signature(secret, "POST", "/orders/?x=1", body.as_bytes());
    let body = if tamper {
        format!("{body}!")
    } else {
        body.to_owned()
    };
    http::Request::post("/orders/?x=1")
        .header("x-api-key", key)
        .header("x-signature", sig)
        .body(Body::from(body))
        .unwrap()
}

fn app(buffer: bool) -> Router {
    let auth = auth();
    let layer = if buffer {
        auth.layer().buffer_bodies()
    } else {
        auth.layer()
    };
    Router::new().route("/orders/", post(orders)).layer(layer)
}

#[tokio::test]
async fn a_valid_signature_authenticates_and_the_handler_still_gets_the_body() {
    let res = app(true)
        .oneshot_text(signed("alice-key", SECRET, "2 apples", false))
        .await;
    assert_eq!(res, (200, "alice ordered 2 apples".to_owned()));
}

#[tokio::test]
async fn bad_signatures_keys_and_users_fail_with_the_hmac_challenge() {
    for (req, detail) in [
        (
            signed("alice-key", SECRET, "2 apples", true),
            "Invalid signature.",
        ),
        (
            signed("alice-key", b"wrong", "2 apples", false),
            "Invalid signature.",
        ),
        (signed("nope", SECRET, "x", false), "Invalid API key."),
        (
            signed("bob-key", b"bob-secret", "x", false),
            "User inactive or deleted.",
        ),
        (
            signed("ghost-key", b"g", "x", false),
            "User inactive or deleted.",
        ),
    ] {
        let (status, headers, body) = send(app(true), req).await;
        assert_eq!(status, 401, "{detail}");
        assert_eq!(headers["www-authenticate"], "HMAC realm=\"api\"");
        assert_eq!(body, json!({ "detail": detail }));
    }
    let (status, _, body) = send(
        app(true),
        http::Request::post("/orders/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["detail"].as_str()),
        (401, Some("Authentication credentials were not provided."))
    );
}

#[tokio::test]
async fn without_a_buffered_body_the_authenticator_says_so_instead_of_guessing() {
    let (status, _, body) = send(app(false), signed("alice-key", SECRET, "x", false)).await;
    assert_eq!(status, 500);
    assert_eq!(body["detail"], "A server error occurred.");
}

#[tokio::test]
async fn a_policy_layer_buffers_the_body_itself_and_refuses_oversized_ones() {
    let auth = {
        let keys = ApiKeys::new().with_key("alice-key", 1_i64, SECRET);
        let s = Settings {
            body_limit: 16,
            ..Settings::default()
        };
        Auth::<User>::builder(s)
            .users(users())
            .with_store(keys)
            .build()
            .unwrap()
    };
    async fn plain(user: CurrentUser<User>, body: String) -> String {
        format!("{}:{body}", user.username)
    }
    let app = Router::new()
        .route("/orders/", post(plain))
        .route_layer(auth.policy::<(ApiKeySignature,), (IsAuthenticated,)>())
        .layer(auth.layer());
    assert_eq!(
        app.clone()
            .oneshot_text(signed("alice-key", SECRET, "pears", false))
            .await,
        (200, "alice:pears".to_owned())
    );
    let (status, _, body) = send(
        app,
        signed(
            "alice-key",
            SECRET,
            "a body longer than sixteen bytes",
            false,
        ),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["detail"], "Request body is larger than 16 bytes.");
}

#[test]
fn the_generated_blocking_twin_agrees_with_the_async_path() {
    let auth = auth();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (key, secret, tamper) in [
        ("alice-key", SECRET, false),
        ("alice-key", SECRET, true),
        ("nope", SECRET, false),
    ] {
        let sig = signature(secret, "POST", "/orders/", b"body");
        let body: &[u8] = if tamper { b"body!" } else { b"body" };
        let (parts, ()) = http::Request::post("/orders/")
            .header("x-api-key", key)
            .header("x-signature", sig)
            .body(())
            .unwrap()
            .into_parts();
        let req = Request::new(&parts).with_body(body);
        type C = (ApiKeySignature,);
        type P = (IsAuthenticated,);
        let a = rt.block_on(authenticate::<User, C, P>(&req, auth.context()));
        let b = std::thread::scope(|s| {
            s.spawn(|| authenticate_blocking::<User, C, P>(&req, auth.context()))
                .join()
                .unwrap()
        });
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a.user, b.user),
            (Err(a), Err(b)) => {
                assert_eq!(a.error, b.error);
                assert_eq!(a.status(), b.status());
            }
            (a, b) => panic!("paths disagree: {a:?} vs {b:?}"),
        }
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let keys = ApiKeys::new().with_key("k", 1_i64, b"very-secret-bytes");
    assert!(!format!("{keys:?}").contains("very-secret"));
    let c = restflow_auth::Credential::new(String::from("alice-key"));
    assert!(!format!("{c:?}").contains("alice-key"));
}

trait OneshotText {
    async fn oneshot_text(self, req: http::Request<Body>) -> (u16, String);
}

impl OneshotText for Router {
    async fn oneshot_text(self, req: http::Request<Body>) -> (u16, String) {
        use tower::ServiceExt;
        let res = self.oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }
}
