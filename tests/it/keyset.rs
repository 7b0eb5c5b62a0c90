//! Key sets of the built-in JWT (issue 14, parts 1, 2 and 7): every token
//! carries a `kid`, rotation is a settings change that rejects no valid
//! token, a token without `kid` verifies with the default key, each key is
//! pinned to its algorithm, and the public set is served at
//! `/.well-known/jwks.json` (checked by real PyJWT's `PyJWKClient` against
//! the conformance example started with `--jwt-keys DIR`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restflow_auth::jwt::{AccessToken, KeySet, MemoryBlacklist};
use restflow_auth::prelude::*;
use restflow_auth::settings::{JwtKeySettings, JwtSettings, Secret};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{User, user};
use crate::jwt::{H, KEY, check, claims, craft, sign, state, users};

fn pem(f: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/it/keys/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A key of `[[jwt.keys]]` from a private PEM (the algorithm follows it).
fn private(kid: &str, file: &str) -> JwtKeySettings {
    JwtKeySettings {
        kid: kid.into(),
        signing_key: Some(Secret::new(pem(file))),
        ..JwtKeySettings::default()
    }
}

/// A retired key: its public part only.
fn public(kid: &str, file: &str) -> JwtKeySettings {
    JwtKeySettings {
        kid: kid.into(),
        verifying_key: Some(pem(file)),
        ..JwtKeySettings::default()
    }
}

/// `[jwt]` with no default key, `keys`, and `active` signing.
fn set_settings(keys: Vec<JwtKeySettings>, active: &str) -> Settings {
    let mut s = Settings::default();
    s.jwt.allow_local_blacklist = true;
    s.jwt.keys = keys;
    s.jwt.active_kid = Some(active.into());
    s
}

fn build(s: Settings) -> Result<Auth<User>, String> {
    Auth::builder(s)
        .users(users())
        .blacklist(MemoryBlacklist::new())
        .build()
        .map_err(|e| e.to_string())
}

fn alice_access(auth: &Auth<User>) -> String {
    AccessToken::for_user(&user(1, "alice", true, false), state(auth))
        .unwrap()
        .as_str()
        .to_owned()
}

fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

#[test]
fn rotation_is_a_settings_change_that_rejects_no_valid_token() {
    // Before: one RSA key signs.
    let before = build(set_settings(vec![private("r1", "rsa.pem")], "r1")).unwrap();
    let old = alice_access(&before);
    assert_eq!(
        header_of(&old),
        json!({"alg": "RS256", "kid": "r1", "typ": "JWT"})
    );
    assert_eq!(check(&before, &old), "user:alice");

    // Step 1: the next key is added (verifies, is published), r1 still signs.
    let added = build(set_settings(
        vec![private("r1", "rsa.pem"), private("e1", "ed25519.pem")],
        "r1",
    ))
    .unwrap();
    assert_eq!(check(&added, &old), "user:alice");
    assert_eq!(header_of(&alice_access(&added))["kid"], "r1");

    // Step 2: e1 signs; r1's tokens still verify, its private part gone.
    let switched = build(set_settings(
        vec![public("r1", "rsa.pub.pem"), private("e1", "ed25519.pem")],
        "e1",
    ))
    .unwrap();
    let new = alice_access(&switched);
    assert_eq!(
        header_of(&new),
        json!({"alg": "EdDSA", "kid": "e1", "typ": "JWT"})
    );
    assert_eq!(check(&switched, &old), "user:alice");
    assert_eq!(check(&switched, &new), "user:alice");
    // An instance not yet rolled to step 2 accepts the new tokens too.
    assert_eq!(check(&added, &new), "user:alice");

    // Step 3: r1 dropped once its tokens expired; a token naming it is refused.
    let after = build(set_settings(vec![private("e1", "ed25519.pem")], "e1")).unwrap();
    assert_eq!(check(&after, &new), "user:alice");
    assert_eq!(
        check(&after, &old),
        "The token's \"kid\" names no key of this service."
    );
}

#[test]
fn a_token_without_kid_verifies_with_the_default_key() {
    // The legacy key (drf-restflow's and simplejwt's tokens carry no kid)
    // stays the default beside a new active key.
    let mut s = crate::jwt::settings_with(|j| j.kid = Some("legacy".into()));
    s.jwt.keys = vec![private("e1", "ec256.pem")];
    s.jwt.active_kid = Some("e1".into());
    let auth = build(s).unwrap();
    let kidless = craft(H, &claims(json!({})), KEY);
    assert_eq!(check(&auth, &kidless), "user:alice");
    let named = craft(
        r#"{"alg":"HS256","kid":"legacy","typ":"JWT"}"#,
        &claims(json!({})),
        KEY,
    );
    assert_eq!(check(&auth, &named), "user:alice");
    assert_eq!(header_of(&alice_access(&auth))["kid"], "e1");
    assert_eq!(header_of(&alice_access(&auth))["alg"], "ES256");
    // A kid of no key is refused in a configured set, even when the
    // signature is the default key's.
    let unknown = craft(
        r#"{"alg":"HS256","kid":"other","typ":"JWT"}"#,
        &claims(json!({})),
        KEY,
    );
    assert_eq!(
        check(&auth, &unknown),
        "The token's \"kid\" names no key of this service."
    );
    // Without `[[jwt.keys]]` (one key, as before key sets) every token
    // carries the key's derived kid and any kid is read with the one key,
    // as PyJWT and drf-restflow do.
    let single = crate::jwt::auth_with(|_| {});
    let kid = header_of(&alice_access(&single))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid.len(), 22, "{kid}");
    assert_eq!(check(&single, &unknown), "user:alice");
    assert_eq!(check(&single, &kidless), "user:alice");
}

#[test]
fn each_key_is_pinned_to_its_algorithm() {
    let auth = build(set_settings(
        vec![private("r1", "rsa.pem"), private("e1", "ed25519.pem")],
        "r1",
    ))
    .unwrap();
    // The classic confusion: HS256 keyed with the RSA public PEM.
    let confused = craft(
        r#"{"alg":"HS256","kid":"r1","typ":"JWT"}"#,
        &claims(json!({})),
        &pem("rsa.pub.pem"),
    );
    assert_eq!(
        check(&auth, &confused),
        "The specified alg value is not allowed"
    );
    // A real RS256 signature under the Ed25519 key's kid.
    let good = alice_access(&auth);
    let (_, rest) = good.split_once('.').unwrap();
    let relabeled = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"e1","typ":"JWT"}"#)
    );
    assert_eq!(
        check(&auth, &relabeled),
        "The specified alg value is not allowed"
    );
    // A kid that is not a string is no kid of the set.
    let odd = sign(
        &format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":7,"typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims(json!({})))
        ),
        KEY,
    );
    assert_ne!(check(&auth, &odd), "user:alice");
}

#[test]
fn misconfigured_key_sets_fail_at_startup_with_a_fix() {
    let e = |s: Settings| build(s).map(|_| ()).unwrap_err();
    let err = e(set_settings(vec![public("r1", "rsa.pub.pem")], "r1"));
    assert!(
        err.contains("jwt.active_kid") && err.contains("no private part"),
        "{err}"
    );
    let err = e(set_settings(vec![private("r1", "rsa.pem")], "r2"));
    assert!(err.contains("\"r2\" is not the kid of a key"), "{err}");
    let err = e(set_settings(
        vec![private("r1", "rsa.pem"), private("r1", "ec256.pem")],
        "r1",
    ));
    assert!(err.contains("kid \"r1\" is given twice"), "{err}");
    let err = e(set_settings(vec![private("r 1", "rsa.pem")], "r 1"));
    assert!(err.contains("printable ASCII"), "{err}");
    let mut s = Settings::default();
    s.jwt.keys = vec![private("r1", "rsa.pem")];
    s.jwt.allow_local_blacklist = true;
    let err = e(s);
    assert!(
        err.contains("jwt.active_kid") && err.contains("is not set"),
        "{err}"
    );
    let hmac = JwtKeySettings {
        kid: "h".into(),
        signing_key: Some(Secret::new("a-random-secret-of-at-least-32-bytes!")),
        ..JwtKeySettings::default()
    };
    let err = e(set_settings(vec![hmac.clone()], "h"));
    assert!(err.contains("set `algorithm`"), "{err}");
    let short = JwtKeySettings {
        algorithm: Some("HS256".into()),
        signing_key: Some(Secret::new("short")),
        ..hmac
    };
    let err = e(set_settings(vec![short], "h"));
    assert!(
        err.contains("key \"h\"") && err.contains("at least 32 bytes"),
        "{err}"
    );
    let mismatched = JwtKeySettings {
        algorithm: Some("ES256".into()),
        ..private("r1", "rsa.pem")
    };
    let err = e(set_settings(vec![mismatched], "r1"));
    assert!(err.contains("key \"r1\""), "{err}");
    let mut pair = private("e1", "ec256.pem");
    pair.verifying_key = Some(pem("ec384.pub.pem"));
    let err = e(set_settings(vec![pair], "e1"));
    assert!(err.contains("key \"e1\""), "{err}");
    // The settings file says the same.
    let s = Settings::from_sources(
        Some(
            "[jwt]\nactive_kid = \"x\"\n[[jwt.keys]]\nkid = \"x\"\nalgorithm = \"HS256\"\nsigning_key = \"a-random-secret-of-at-least-32-bytes!\"\nsecret = 1\n",
        ),
        [],
    );
    assert!(s.unwrap_err().to_string().contains("secret"));
}

async fn get(app: axum::Router, path: &str) -> (u16, http::HeaderMap, Value) {
    let res = app
        .oneshot(
            http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status.as_u16(),
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_public_set_is_served_and_a_secret_never_is() {
    let mut s = crate::jwt::settings_with(|j| j.jwks_max_age_s = 120);
    s.jwt.keys = vec![
        private("r1", "rsa.pem"),
        private("p1", "ec256.pem"),
        public("p2", "ec384.pub.pem"),
        private("d1", "ed25519.pem"),
    ];
    s.jwt.active_kid = Some("d1".into());
    let auth = build(s).unwrap();
    let app: axum::Router = auth.jwks_routes().unwrap().layer(auth.layer());
    let (status, headers, body) = get(app.clone(), "/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=120");
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    let keys = body["keys"].as_array().unwrap();
    // The HMAC default key is left out; the others in order.
    let kids: Vec<_> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["r1", "p1", "p2", "d1"]);
    let algs: Vec<_> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["RS256", "ES256", "ES384", "EdDSA"]);
    for k in keys {
        assert_eq!(k["use"], "sig");
        for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(member).is_none(), "{member} published: {k}");
        }
    }
    assert!(!body.to_string().contains(KEY));
    // Each published key verifies the tokens of its kid (an independent
    // implementation: jsonwebtoken's own JWK reader).
    let token = alice_access(&auth);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(body.clone()).unwrap();
    let jwk = set.find("d1").unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_required_spec_claims(&["exp"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
    assert_eq!(data.claims["user_id"], 1);
    // Other methods are refused.
    let res = app
        .oneshot(
            http::Request::post("/.well-known/jwks.json")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 405);

    // A set of secrets only is never published.
    let hmac_only = crate::jwt::auth_with(|_| {});
    let err = hmac_only.jwks_routes::<()>().unwrap_err();
    assert_eq!(err.key, "jwt.keys");
    assert!(err.message.contains("never published"), "{}", err.message);
    // The set reports the same, with its kids.
    let set = KeySet::from_settings(&JwtSettings {
        signing_key: Some(Secret::new(KEY)),
        ..JwtSettings::default()
    })
    .unwrap();
    assert!(set.jwks().is_err());
}

/// The `--jwt-keys DIR` of the conformance example.
fn key_dir(name: &str, active: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("restflow-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (kid, file) in [
        ("rsa-1", "rsa.pem"),
        ("ec-1", "ec256.pem"),
        ("ed-1", "ed25519.pem"),
    ] {
        std::fs::write(dir.join(format!("{kid}.pem")), pem(file)).unwrap();
    }
    std::fs::write(dir.join("ACTIVE"), format!("{active}\n")).unwrap();
    dir
}

const PYJWKS: &str = r#"
import json, sys, jwt
url, tokens = sys.argv[1], json.loads(sys.argv[2])
client = jwt.PyJWKClient(url)
out = []
for t in tokens:
    key = client.get_signing_key_from_jwt(t)
    claims = jwt.decode(t, key.key, algorithms=[key.algorithm_name])
    out.append([key.key_id, key.algorithm_name, claims["user_id"]])
print(json.dumps(out))
"#;

/// Obtains a pair for alice from the server at `addr`.
fn obtain(addr: &str) -> (String, String) {
    let r = crate::common::http(
        addr,
        "POST",
        "/api/auth/token/",
        &[],
        Some(json!({"username": "alice", "password": "alice-password-1"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    (
        r.body["access"].as_str().unwrap().to_owned(),
        r.body["refresh"].as_str().unwrap().to_owned(),
    )
}

fn whoami(addr: &str, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    crate::common::http(
        addr,
        "GET",
        "/api/whoami/jwt/",
        &[("Authorization", &auth)],
        None,
    )
    .status
}

/// The conformance example on the keys of `dir`.
fn start_on(dir: &std::path::Path) -> Option<crate::conformance::Server> {
    crate::conformance::start_with("memory", "memory", &["--jwt-keys", dir.to_str().unwrap()])
}

/// Real PyJWT's `PyJWKClient` on the server's set: `[kid, alg, user_id]`
/// of each token.
fn pyjwks(py: &str, addr: &str, tokens: &Value) -> Value {
    let out = std::process::Command::new(py)
        .args([
            "-c",
            PYJWKS,
            &format!("http://{addr}/.well-known/jwks.json"),
            &tokens.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_conformance_server_rotates_its_key_dir_and_pyjwt_reads_its_jwks() {
    let Some(py) = crate::pyjwt::python() else {
        return;
    };
    let dir = key_dir("rotate", "ec-1");
    let Some(server) = start_on(&dir) else {
        return;
    };
    let (access, refresh) = obtain(&server.addr);
    assert_eq!(header_of(&access)["kid"], "ec-1");
    assert_eq!(header_of(&access)["alg"], "ES256");
    assert_eq!(whoami(&server.addr, &access), 200);
    let jwks = crate::common::http(&server.addr, "GET", "/.well-known/jwks.json", &[], None);
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let kids: Vec<_> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["ec-1", "ed-1", "rsa-1"]);
    // The fixtures' HMAC key no longer verifies.
    assert_eq!(
        whoami(&server.addr, &craft(H, &claims(json!({})), KEY)),
        401
    );
    let first = server.addr.clone();

    // Rotate: the next start signs with ed-1; the first token still works.
    std::fs::write(dir.join("ACTIVE"), "ed-1").unwrap();
    let Some(rotated) = start_on(&dir) else {
        return;
    };
    let (access2, _) = obtain(&rotated.addr);
    assert_eq!(header_of(&access2)["kid"], "ed-1");
    assert_eq!(header_of(&access2)["alg"], "EdDSA");
    assert_eq!(whoami(&rotated.addr, &access), 200);
    assert_eq!(whoami(&rotated.addr, &access2), 200);
    assert_eq!(whoami(&first, &access2), 200);
    let r = crate::common::http(
        &rotated.addr,
        "POST",
        "/api/auth/token/refresh/",
        &[],
        Some(json!({"refresh": refresh})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(header_of(r.body["access"].as_str().unwrap())["kid"], "ed-1");

    // Real PyJWT's JWKS client picks each token's key by kid and verifies.
    assert_eq!(
        pyjwks(
            &py,
            &rotated.addr,
            &json!([access, access2, r.body["access"]])
        ),
        json!([
            ["ec-1", "ES256", 1],
            ["ed-1", "EdDSA", 1],
            ["ed-1", "EdDSA", 1]
        ])
    );
    // An RSA-signed token (the third key) verifies there and here.
    std::fs::write(dir.join("ACTIVE"), "rsa-1").unwrap();
    let Some(third) = start_on(&dir) else {
        return;
    };
    let (access3, _) = obtain(&third.addr);
    assert_eq!(header_of(&access3)["alg"], "RS256");
    assert_eq!(whoami(&rotated.addr, &access3), 200);
    assert_eq!(
        pyjwks(&py, &third.addr, &json!([access3])),
        json!([["rsa-1", "RS256", 1]])
    );
    // A key dir whose ACTIVE names no key fails at startup with the fix.
    std::fs::write(dir.join("ACTIVE"), "nope").unwrap();
    let out = crate::conformance::run_to_exit(&["--jwt-keys", dir.to_str().unwrap()]);
    assert!(
        out.contains("jwt.active_kid") && out.contains("\"nope\" is not the kid of a key"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
