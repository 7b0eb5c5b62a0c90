//! Tokens of an external issuer (issue 14, part 3): `ExternalJwt` against a
//! real HTTP issuer served here (its JWK set, its OIDC discovery document),
//! whose keys rotate, fail and come back mid-test. Every request goes
//! through both paths (`both_paths`: async, then blocking on a thread
//! without a runtime), which must agree.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use restflow_auth::jwt::external::{ExternalIssuer, ExternalJwtSettings};
use restflow_auth::permissions::IsAuthenticated;
use restflow_auth::prelude::*;
use serde_json::{Value, json};

use crate::common::{User, both_paths, user};

fn pem(f: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/it/keys/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A signing key of the issuer: its kid, algorithm and private key.
#[derive(Clone)]
struct Key {
    kid: &'static str,
    alg: Algorithm,
    private: EncodingKey,
}

fn rsa(kid: &'static str) -> Key {
    Key {
        kid,
        alg: Algorithm::RS256,
        private: EncodingKey::from_rsa_pem(&pem("rsa.pem")).unwrap(),
    }
}

fn ec(kid: &'static str) -> Key {
    Key {
        kid,
        alg: Algorithm::ES256,
        private: EncodingKey::from_ec_pem(&pem("ec256.pem")).unwrap(),
    }
}

fn ed(kid: &'static str) -> Key {
    Key {
        kid,
        alg: Algorithm::EdDSA,
        private: EncodingKey::from_ed_pem(&pem("ed25519.pem")).unwrap(),
    }
}

impl Key {
    /// Its public JWK, as an issuer publishes it (`kid`, `alg`, `use`).
    fn jwk(&self) -> Value {
        let mut v =
            serde_json::to_value(Jwk::from_encoding_key(&self.private, self.alg).unwrap()).unwrap();
        v["kid"] = json!(self.kid);
        v["use"] = json!("sig");
        v["alg"] = json!(format!("{:?}", self.alg));
        v
    }
}

/// The issuer: its key set, whether it is down, how often it was asked.
#[derive(Default)]
struct Issuer {
    set: Mutex<Value>,
    /// The discovery document's `issuer` (default: the base URL).
    claims_issuer: Mutex<Option<String>>,
    down: AtomicBool,
    max_age: AtomicU64,
    jwks_hits: AtomicU64,
    discovery_hits: AtomicU64,
    base: Mutex<String>,
}

impl Issuer {
    fn publish(&self, keys: &[&Key]) {
        *self.set.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    }
    fn hits(&self) -> u64 {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn jwks(State(i): State<Arc<Issuer>>) -> Response {
    i.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if i.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut h = HeaderMap::new();
    h.insert(
        header::CACHE_CONTROL,
        format!("public, max-age={}", i.max_age.load(Ordering::SeqCst))
            .parse()
            .unwrap(),
    );
    h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    (h, i.set.lock().unwrap().to_string()).into_response()
}

async fn discovery(State(i): State<Arc<Issuer>>) -> Response {
    i.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if i.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let base = i.base.lock().unwrap().clone();
    let issuer = i
        .claims_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or(base.clone());
    axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{base}/keys")})).into_response()
}

/// Serves the issuer on a free port, on its own runtime; answers its base URL.
fn serve(issuer: Arc<Issuer>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *issuer.base.lock().unwrap() = base.clone();
    let app = Router::new()
        .route("/keys", get(jwks))
        .route(
            "/big",
            get(|| async { format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2 << 20)) }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/keys")]) }),
        )
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(issuer);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    base
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const AUD: &str = "https://api.example.test";

/// A token of `key` with the claims given over the defaults (issuer `iss`,
/// audience AUD, `sub` alice, valid for five minutes); `null` removes one.
fn token(key: &Key, iss: &str, over: Value) -> String {
    let mut claims =
        json!({"iss": iss, "aud": AUD, "sub": "alice", "iat": now(), "exp": now() + 300});
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.into());
    jsonwebtoken::encode(&h, &claims, &key.private).unwrap()
}

fn users() -> MemoryUserStore<User> {
    let store = crate::common::users();
    store.with_user_factory(|name| user(100, name, true, false))
}

/// `[external_jwt]` for the issuer at `base` (its JWK set at `/keys`),
/// short lifetimes so the test sees them pass.
type Edit = fn(&mut ExternalJwtSettings);

fn settings(base: &str, f: impl FnOnce(&mut ExternalJwtSettings)) -> Settings {
    let mut s = Settings::default();
    let e = &mut s.external_jwt;
    e.issuer = Some(base.into());
    e.jwks_url = Some(format!("{base}/keys"));
    e.audience = Some(AUD.into());
    e.min_cache_s = 1;
    e.unknown_kid_cooldown_s = 2;
    e.timeout_ms = 2_000;
    f(e);
    s
}

fn build(s: Settings) -> Auth<User> {
    Auth::builder(s).users(users()).build().expect("valid")
}

fn issuer_of(auth: &Auth<User>) -> &ExternalIssuer {
    auth.context().store::<ExternalIssuer>().unwrap()
}

/// Waits until the first fetch has finished.
fn loaded(auth: &Auth<User>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while issuer_of(auth).keys().stats().fetches == 0
        || (issuer_of(auth).keys().stats().keys == 0
            && issuer_of(auth).keys().stats().failures == 0)
    {
        assert!(Instant::now() < deadline, "the keys never loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request with `Authorization: Bearer <token>` through both paths.
fn check(auth: &Auth<User>, token: &str) -> (u16, String) {
    let value = format!("Bearer {token}");
    let (status, challenge, detail) = both_paths::<(ExternalJwt,), (IsAuthenticated,)>(
        auth,
        "GET",
        &[("authorization", value.as_bytes())],
    );
    if status == 401 {
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\""));
    }
    (status, detail)
}

/// The blocking path alone, on a thread without a runtime.
fn blocking(auth: &Auth<User>, token: &str) -> (u16, String) {
    use restflow_auth::dispatch::authenticate_blocking;
    let (parts, ()) = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    std::thread::scope(|s| {
        s.spawn(|| {
            match authenticate_blocking::<User, (ExternalJwt,), (IsAuthenticated,)>(
                &Request::new(&parts),
                auth.context(),
            ) {
                Ok(id) => (200, format!("user:{}", id.user.username())),
                Err(d) => (d.status().as_u16(), d.error.to_string()),
            }
        })
        .join()
        .unwrap()
    })
}

fn ok(who: &str) -> (u16, String) {
    (200, format!("user:{who}"))
}

#[test]
fn rotation_keeps_old_and_new_tokens_through_the_overlap() {
    let issuer = Arc::new(Issuer::default());
    let (k1, k2) = (rsa("k1"), ec("k2"));
    issuer.publish(&[&k1]);
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let auth = build(settings(&base, |_| {}));
    let old = token(&k1, &base, json!({}));
    assert_eq!(check(&auth, &old), ok("alice"));
    assert_eq!(issuer.hits(), 1, "one fetch at startup, then the cache");

    // The issuer adds k2: its first token is an unknown kid, refetched once.
    issuer.publish(&[&k1, &k2]);
    let new = token(&k2, &base, json!({"sub": "root"}));
    assert_eq!(check(&auth, &new), ok("root"));
    assert_eq!(issuer.hits(), 2);
    assert_eq!(
        check(&auth, &old),
        ok("alice"),
        "the old key verifies through the overlap"
    );
    assert_eq!(check(&auth, &new), ok("root"));
    assert_eq!(issuer.hits(), 2, "known kids are served from the cache");
    let mut kids = issuer_of(&auth).keys().kids();
    kids.sort();
    assert_eq!(kids, ["k1", "k2"]);

    // k1 retired and k3 added: k3's first token (after the cooldown)
    // brings the new set, and k1's tokens are refused from then on (a
    // retired key verifies until the cached set it is in expires).
    let k3 = ed("k3");
    issuer.publish(&[&k2, &k3]);
    std::thread::sleep(Duration::from_millis(2_100));
    // The blocking path first: it waits for the fetch it asked for.
    assert_eq!(blocking(&auth, &token(&k3, &base, json!({}))), ok("alice"));
    assert_eq!(issuer.hits(), 3);
    assert_eq!(check(&auth, &token(&k3, &base, json!({}))), ok("alice"));
    assert_eq!(
        check(&auth, &old),
        (
            401,
            "The token's \"kid\" names no key of this service.".into()
        )
    );
    assert_eq!(
        issuer.hits(),
        3,
        "within the cooldown: refused without a fetch"
    );
    assert_eq!(check(&auth, &new), ok("root"));
    let mut kids = issuer_of(&auth).keys().kids();
    kids.sort();
    assert_eq!(kids, ["k2", "k3"]);
}

#[test]
fn unknown_kids_refetch_once_per_cooldown_under_a_burst() {
    let issuer = Arc::new(Issuer::default());
    let k1 = rsa("k1");
    issuer.publish(&[&k1]);
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    // A cooldown long enough for the whole burst, on a loaded machine too.
    let auth = build(settings(&base, |e| e.unknown_kid_cooldown_s = 4));
    loaded(&auth);
    assert_eq!(issuer.hits(), 1);
    let junk = |n: usize| {
        let key = Key {
            kid: Box::leak(format!("junk-{n}").into_boxed_str()),
            ..k1.clone()
        };
        token(&key, &base, json!({}))
    };
    // 64 requests of 64 different unknown kids at once, on both paths.
    let tokens: Vec<String> = (0..64).map(junk).collect();
    std::thread::scope(|s| {
        for t in &tokens {
            let auth = &auth;
            s.spawn(move || {
                assert_eq!(
                    check(auth, t),
                    (
                        401,
                        "The token's \"kid\" names no key of this service.".into()
                    )
                );
            });
        }
    });
    assert_eq!(issuer.hits(), 2, "one refetch for the whole burst");
    assert_eq!(check(&auth, &junk(99)).0, 401);
    assert_eq!(issuer.hits(), 2, "within the cooldown: no fetch");
    assert_eq!(check(&auth, &token(&k1, &base, json!({}))), ok("alice"));
    std::thread::sleep(Duration::from_millis(4_100));
    assert_eq!(check(&auth, &junk(100)).0, 401);
    assert_eq!(issuer.hits(), 3, "after the cooldown: one more");
    let stats = issuer_of(&auth).keys().stats();
    assert_eq!((stats.fetches, stats.failures, stats.keys), (3, 0, 1));
}

#[test]
fn an_unreachable_issuer_serves_stale_keys_then_503_and_recovers() {
    let issuer = Arc::new(Issuer::default());
    let k1 = ed("k1");
    issuer.publish(&[&k1]);
    issuer.max_age.store(1, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let auth = build(settings(&base, |e| {
        e.stale_s = 2;
        e.unknown_kid_cooldown_s = 1;
    }));
    let t = token(&k1, &base, json!({}));
    assert_eq!(check(&auth, &t), ok("alice"));
    issuer.down.store(true, Ordering::SeqCst);
    let down_at = Instant::now();
    // Refreshed ahead at 0.8 s (failing), expired at 1 s, stale until 3 s.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(check(&auth, &t), ok("alice"), "stale keys serve");
    assert!(issuer.hits() >= 2, "refresh attempts while down");
    while down_at.elapsed() < Duration::from_millis(3_300) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, challenge, detail) = both_paths::<(ExternalJwt,), (IsAuthenticated,)>(
        &auth,
        "GET",
        &[("authorization", format!("Bearer {t}").as_bytes())],
    );
    assert_eq!(
        (status, detail.as_str()),
        (503, "Authentication service temporarily unavailable.")
    );
    assert_eq!(challenge, None);
    assert!(issuer_of(&auth).keys().stats().failures >= 2);
    // Back: the next fetch (backoff, or the one a request asks for) restores it.
    issuer.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = check(&auth, &t);
        if got == ok("alice") {
            break;
        }
        assert_eq!(got.0, 503);
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn keys_are_pinned_and_claims_checked() {
    let issuer = Arc::new(Issuer::default());
    let (k1, k2) = (rsa("k1"), ec("k2"));
    issuer.publish(&[&k1, &k2]);
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let auth = build(settings(&base, |e| e.create_unknown_user = true));
    loaded(&auth);
    let t = |over: Value| token(&k1, &base, over);
    let fail = |m: &str| (401, m.to_owned());
    assert_eq!(check(&auth, &t(json!({}))), ok("alice"));

    // The same RSA key under another algorithm (PS256), and the public key
    // as an HMAC secret (the classic confusion): refused.
    let ps = Key {
        alg: Algorithm::PS256,
        ..k1.clone()
    };
    assert_eq!(
        check(&auth, &token(&ps, &base, json!({}))),
        fail("The specified alg value is not allowed")
    );
    let hs = Key {
        alg: Algorithm::HS256,
        kid: "k1",
        private: EncodingKey::from_secret(&pem("rsa.pub.pem")).unwrap(),
    };
    assert_eq!(
        check(&auth, &token(&hs, &base, json!({}))),
        fail("The specified alg value is not allowed")
    );
    // k2's token with k1's signature.
    let mut wrong = token(&k2, &base, json!({}));
    wrong.truncate(wrong.rfind('.').unwrap());
    let sig = t(json!({}));
    wrong.push_str(&sig[sig.rfind('.').unwrap()..]);
    assert_eq!(check(&auth, &wrong), fail("Signature verification failed"));

    // The default leeway is 30 s (another machine's clock).
    assert_eq!(check(&auth, &t(json!({"exp": now() - 10}))), ok("alice"));
    assert_eq!(
        check(&auth, &t(json!({"exp": now() - 60}))),
        fail("Token has expired.")
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(
            json!({"iss": base, "aud": AUD, "sub": "alice", "exp": now() + 60}).to_string()
        )
    );
    assert_eq!(
        check(&auth, &none),
        fail("The specified alg value is not allowed")
    );
    assert_eq!(
        check(&auth, &t(json!({"exp": null}))),
        fail("Token is missing the \"exp\" claim")
    );
    assert_eq!(
        check(&auth, &t(json!({"nbf": now() + 60}))),
        fail("The token is not yet valid (nbf)")
    );
    assert_eq!(
        check(&auth, &t(json!({"iss": "https://evil.test"}))),
        fail("Invalid issuer")
    );
    assert_eq!(
        check(&auth, &t(json!({"aud": "another-api"}))),
        fail("Audience doesn't match")
    );
    assert_eq!(
        check(&auth, &t(json!({"aud": null}))),
        fail("Token is missing the \"aud\" claim")
    );
    assert_eq!(
        check(&auth, &t(json!({"sub": null}))),
        fail("Token contained no recognizable user identification.")
    );
    assert_eq!(
        check(&auth, &t(json!({"sub": "bob"}))),
        fail("User is inactive.")
    );
    // Only names Django's username could hold are looked up, or created.
    let long = "x".repeat(151);
    assert_eq!(
        check(&auth, &t(json!({"sub": long}))),
        fail("User not found.")
    );
    assert_eq!(
        check(&auth, &t(json!({"sub": "ca\u{0}rol"}))),
        fail("User not found.")
    );
    // An unknown subject is created (create_unknown_user), as RemoteUser does.
    assert_eq!(check(&auth, &t(json!({"sub": "carol"}))), ok("carol"));
    // Several keys: a token without kid names none of them.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = None;
    let claims = json!({"iss": base, "aud": AUD, "sub": "alice", "exp": now() + 60});
    let kidless = jsonwebtoken::encode(&h, &claims, &k1.private).unwrap();
    assert_eq!(
        check(&auth, &kidless),
        fail("The token has no \"kid\" and the issuer publishes several keys.")
    );
    // Other schemes are not ours.
    let (status, _, detail) = both_paths::<(ExternalJwt,), (IsAuthenticated,)>(
        &auth,
        "GET",
        &[("authorization", b"Token abc")],
    );
    assert_eq!(
        (status, detail.as_str()),
        (401, "Authentication credentials were not provided.")
    );
    assert_eq!(
        check(&auth, "a b"),
        fail("Authorization header must be 'Bearer <token>'.")
    );

    // One key: a kid-less token is its.
    issuer.publish(&[&k1]);
    let one = build(settings(&base, |_| {}));
    loaded(&one);
    assert_eq!(check(&one, &kidless), ok("alice"));
    assert_eq!(
        check(&one, &t(json!({"sub": "carol"}))),
        fail("User not found.")
    );
}

#[test]
fn oidc_discovery_checks_the_issuer() {
    let issuer = Arc::new(Issuer::default());
    let k1 = rsa("k1");
    issuer.publish(&[&k1]);
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let discovered = build(settings(&base, |e| e.jwks_url = None));
    let t = token(&k1, &base, json!({}));
    assert_eq!(check(&discovered, &t), ok("alice"));
    assert_eq!(issuer.discovery_hits.load(Ordering::SeqCst), 1);

    // A document naming another issuer is refused: no keys, 503.
    *issuer.claims_issuer.lock().unwrap() = Some("https://someone-else.test".into());
    let refused = build(settings(&base, |e| e.jwks_url = None));
    loaded(&refused);
    assert_eq!(
        check(&refused, &t),
        (
            503,
            "Authentication service temporarily unavailable.".into()
        )
    );
    let stats = issuer_of(&refused).keys().stats();
    assert_eq!(stats.keys, 0);
    assert!(stats.failures >= 1);
}

#[test]
fn misconfiguration_fails_at_startup() {
    let cases: [(Edit, &str); 6] = [
        (|e| e.audience = None, "external_jwt.audience"),
        (
            |e| e.jwks_url = Some("http://issuer.example.test/keys".into()),
            "plain HTTP",
        ),
        (
            |e| e.jwks_url = Some("ftp://x/keys".into()),
            "unsupported scheme",
        ),
        (|e| e.algorithms = vec!["HS256".into()], "shared-secret"),
        (|e| e.user_field = "email".into(), "external_jwt.user_field"),
        (
            |e| e.unknown_kid_cooldown_s = 0,
            "external_jwt.unknown_kid_cooldown_s",
        ),
    ];
    for (f, expected) in cases {
        let e = Auth::<User>::builder(settings("https://issuer.example.test", f))
            .users(users())
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{e}");
    }
    // http to a lab issuer when allowed.
    let s = settings("https://issuer.example.test", |e| {
        e.jwks_url = Some("http://keycloak:8080/keys".into());
        e.allow_http = true;
    });
    Auth::<User>::builder(s).users(users()).build().unwrap();
    // A route on ExternalJwt without [external_jwt] says what to set.
    let auth = Auth::<User>::builder(Settings::default())
        .users(users())
        .check_routes(false)
        .build()
        .unwrap();
    let (status, _, detail) = both_paths::<(ExternalJwt,), (IsAuthenticated,)>(
        &auth,
        "GET",
        &[("authorization", b"Bearer x.y.z")],
    );
    assert_eq!((status, detail.as_str()), (500, "A server error occurred."));
}

/// The conformance example with `--external-jwks/--external-issuer/--external-audience`.
#[test]
fn conformance_example_serves_the_external_route() {
    let issuer = Arc::new(Issuer::default());
    let k1 = rsa("k1");
    issuer.publish(&[&k1]);
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let jwks = format!("{base}/keys");
    let Some(server) = crate::conformance::start_with(
        "memory",
        "memory",
        &[
            "--external-jwks",
            &jwks,
            "--external-issuer",
            &base,
            "--external-audience",
            AUD,
        ],
    ) else {
        return;
    };
    let t = token(&k1, &base, json!({"sub": "dave"}));
    let r = crate::common::http(
        &server.addr,
        "GET",
        "/api/whoami/external/",
        &[("Authorization", &format!("Bearer {t}"))],
        None,
    );
    assert_eq!(
        (r.status, r.body["username"].as_str()),
        (200, Some("dave")),
        "{}",
        r.text
    );
    let r = crate::common::http(&server.addr, "GET", "/api/whoami/external/", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
    assert_eq!(
        r.body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    let r = crate::common::http(
        &server.addr,
        "GET",
        "/api/whoami/external/",
        &[(
            "Authorization",
            &format!("Bearer {}", token(&k1, &base, json!({"aud": "other"}))),
        )],
        None,
    );
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (401, Some("Audience doesn't match"))
    );
    // The flags go together.
    let err = crate::conformance::run_to_exit(&["--external-jwks", &jwks]);
    assert!(err.contains("go together"), "{err}");
}

#[test]
fn unusable_keys_are_left_out_of_a_set() {
    let issuer = Arc::new(Issuer::default());
    let (k1, k2) = (rsa("k1"), ec("noalg"));
    let mut noalg = k2.jwk();
    noalg.as_object_mut().unwrap().remove("alg");
    let mut rsa_as_es = k1.jwk();
    rsa_as_es["kid"] = json!("rsa-as-es");
    rsa_as_es["alg"] = json!("ES256");
    let mut short = k1.jwk();
    short["kid"] = json!("short");
    let n = URL_SAFE_NO_PAD
        .decode(short["n"].as_str().unwrap())
        .unwrap();
    short["n"] = json!(URL_SAFE_NO_PAD.encode(&n[..128]));
    let mut enc = ed("enc").jwk();
    enc["use"] = json!("enc");
    let mut duplicate = ec("k1").jwk();
    duplicate["kid"] = json!("k1");
    let mut kidless = ed("x").jwk();
    kidless.as_object_mut().unwrap().remove("kid");
    let secret = json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "alg": "HS256"});
    *issuer.set.lock().unwrap() = json!({"keys": [
        k1.jwk(), noalg, rsa_as_es, short, enc, duplicate, kidless, secret,
    ]});
    issuer.max_age.store(600, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    let auth = build(settings(&base, |_| {}));
    loaded(&auth);
    let mut kids = issuer_of(&auth).keys().kids();
    kids.sort();
    assert_eq!(kids, ["k1", "noalg"]);
    // The key without alg is pinned to what its curve implies (ES256).
    assert_eq!(check(&auth, &token(&k2, &base, json!({}))), ok("alice"));
    assert_eq!(check(&auth, &token(&k1, &base, json!({}))), ok("alice"));
}

#[test]
fn oversized_and_redirected_sets_are_refused_and_the_fetcher_stops_with_its_auth() {
    let issuer = Arc::new(Issuer::default());
    let k1 = rsa("k1");
    issuer.publish(&[&k1]);
    issuer.max_age.store(1, Ordering::SeqCst);
    let base = serve(Arc::clone(&issuer));
    for (path, why) in [("/big", "over"), ("/moved", "302")] {
        let auth = build(settings(&base, |e| {
            e.jwks_url = Some(format!("{base}{path}"))
        }));
        loaded(&auth);
        let stats = issuer_of(&auth).keys().stats();
        assert_eq!((stats.keys, stats.failures), (0, 1), "{path}");
        assert_eq!(
            check(&auth, &token(&k1, &base, json!({}))),
            (
                503,
                "Authentication service temporarily unavailable.".into()
            ),
            "{path}: {why}"
        );
    }
    // Refreshed every second while the Auth lives; not once after it is dropped.
    let auth = build(settings(&base, |_| {}));
    loaded(&auth);
    std::thread::sleep(Duration::from_millis(1_300));
    assert!(issuer.hits() >= 2, "refreshed ahead");
    drop(auth);
    std::thread::sleep(Duration::from_millis(200));
    let after = issuer.hits();
    std::thread::sleep(Duration::from_millis(2_200));
    assert_eq!(issuer.hits(), after, "the fetcher stopped with its Auth");
}
