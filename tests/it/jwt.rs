//! The built-in JWT: the authenticator's check order and messages (PyJWT's
//! and drf-restflow's), on both paths; the algorithm matrix; tokens from an
//! independent implementation; the RFC 7515 example; startup errors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use restflow_auth::jwt::{AccessToken, JwtState, MemoryBlacklist, RefreshToken};
use restflow_auth::prelude::*;
use restflow_auth::settings::JwtSettings;
use serde_json::json;
use sha2::Sha256;

use crate::common::{User, user};

pub(crate) const KEY: &str = "conformance-jwt-signing-key-0123456789abcdef0123456789";

pub(crate) fn users() -> MemoryUserStore<User> {
    let store = MemoryUserStore::new();
    for (id, name, active, staff) in [
        (1, "alice", true, false),
        (2, "bob", false, false),
        (3, "root", true, true),
    ] {
        let mut u = user(id, name, active, staff);
        u.password = restflow_auth::password::django_pbkdf2_sha256(
            &format!("{name}-password-{id}"),
            "salt",
            1000,
        );
        store.insert(u);
    }
    store
}

pub(crate) fn settings_with(f: impl FnOnce(&mut JwtSettings)) -> Settings {
    let mut s = Settings::default();
    s.jwt.signing_key = Some(restflow_auth::settings::Secret::new(KEY));
    s.jwt.allow_local_blacklist = true;
    f(&mut s.jwt);
    s
}

/// Settings for a shared blacklist backend: the process-local opt-in off.
pub(crate) fn shared_settings() -> Settings {
    settings_with(|j| j.allow_local_blacklist = false)
}

/// alice, bob and root (`users()`) with `blacklist`, a shared backend.
pub(crate) fn auth_on(blacklist: impl restflow_auth::jwt::Blacklist) -> Auth<User> {
    Auth::builder(shared_settings())
        .users(users())
        .blacklist(blacklist)
        .build()
        .unwrap()
}

/// An access token and a refresh token for alice (id 1).
pub(crate) fn alice_tokens(auth: &Auth<User>) -> (AccessToken, RefreshToken) {
    let jwt = state(auth);
    let alice = user(1, "alice", true, false);
    (
        AccessToken::for_user(&alice, jwt).unwrap(),
        RefreshToken::for_user(&alice, jwt).unwrap(),
    )
}

pub(crate) fn auth_with(f: impl FnOnce(&mut JwtSettings)) -> Auth<User> {
    Auth::builder(settings_with(f))
        .users(users())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap()
}

pub(crate) fn state(auth: &Auth<User>) -> &JwtState {
    auth.context().store::<JwtState>().unwrap()
}

pub(crate) fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A token with any header and payload, signed with `key` (HS256).
pub(crate) fn craft(header: &str, payload: &str, key: &str) -> String {
    sign(&format!("{}.{}", b64(header), b64(payload)), key)
}

/// `input` (the two first segments) with its HS256 signature appended.
pub(crate) fn sign(input: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

pub(crate) const H: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn claims(extra: serde_json::Value) -> String {
    let mut c = json!({"token_type": "access", "iat": now(), "exp": now() + 300, "jti": "j1", "user_id": 1});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() && k.starts_with('-') {
            c.as_object_mut().unwrap().remove(&k[1..]);
        } else {
            c[k] = v.clone();
        }
    }
    c.to_string()
}

/// (status, WWW-Authenticate, detail or "user:<name>"), equal on both paths.
fn check_raw(auth: &Auth<User>, authorization: &[u8]) -> (u16, Option<String>, String) {
    let headers: &[(&str, &[u8])] = if authorization.is_empty() {
        &[]
    } else {
        &[("authorization", authorization)]
    };
    crate::common::both_paths::<(Jwt,), (IsAuthenticated,)>(auth, "GET", headers)
}

pub(crate) fn check(auth: &Auth<User>, token: &str) -> String {
    let (status, challenge, detail) = check_raw(auth, format!("Bearer {token}").as_bytes());
    if status != 200 {
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some("Bearer realm=\"api\"")),
            "{detail}"
        );
    }
    detail
}

#[test]
fn header_parsing_matches_drf_restflow() {
    let auth = auth_with(|_| {});
    let ok = AccessToken::for_user(&user(1, "alice", true, false), state(&auth)).unwrap();
    let bearer = "Bearer realm=\"api\"".to_owned();
    assert_eq!(
        check_raw(&auth, b""),
        (
            401,
            Some(bearer.clone()),
            "Authentication credentials were not provided.".into()
        )
    );
    assert_eq!(
        check_raw(&auth, b"Token abc").2,
        "Authentication credentials were not provided."
    );
    assert_eq!(
        check_raw(&auth, b"JWT abc").2,
        "Authentication credentials were not provided."
    );
    let shape = "Authorization header must be 'Bearer <token>'.";
    assert_eq!(
        check_raw(&auth, b"Bearer"),
        (401, Some(bearer.clone()), shape.into())
    );
    assert_eq!(check_raw(&auth, b"Bearer a b").2, shape);
    // A tab splits as a space does (Python's bytes.split()).
    assert_eq!(
        check_raw(&auth, format!("Bearer {ok}\tx").as_bytes()).2,
        shape
    );
    assert_eq!(
        check_raw(&auth, b"Bearer \xff\xfe").2,
        "Token contains invalid characters."
    );
    for scheme in ["bearer", "BEARER", "Bearer\t"] {
        assert_eq!(
            check_raw(&auth, format!("{scheme} {ok}").as_bytes()).2,
            "user:alice",
            "{scheme}"
        );
    }
}

#[test]
fn malformed_tokens_get_pyjwt_messages_in_pyjwt_order() {
    let auth = auth_with(|_| {});
    let good = craft(H, &claims(json!({})), KEY);
    let (input, sig) = good.rsplit_once('.').unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("abc".into(), "Not enough segments"),
        ("a.b".into(), "Not enough segments"),
        ("a.b.c".into(), "Invalid header padding"),
        (format!("{input}.{sig}.x"), "Invalid payload padding"),
        (format!("{good}."), "Invalid payload padding"),
        (format!("{input}.{sig}=="), "Invalid crypto padding"),
        (
            format!("{b}.{p}.{sig}", b = b64("[]"), p = b64("{}")),
            "Invalid header string: must be a json object",
        ),
        (
            format!("{}.{}.{sig}", b64(r#"{"alg":"HS256","kid":5}"#), b64("{}")),
            "Key ID header parameter must be a string",
        ),
        (
            format!(
                "{}.{}.{sig}",
                b64(r#"{"alg":"HS256","crit":["x"]}"#),
                b64("{}")
            ),
            "Unsupported critical extension: x",
        ),
        (
            format!("{}.{}.{sig}", b64(r#"{"typ":"JWT"}"#), b64("{}")),
            "Algorithm not specified",
        ),
        (
            craft(r#"{"alg":"none"}"#, &claims(json!({})), KEY),
            "The specified alg value is not allowed",
        ),
        (
            craft(r#"{"alg":"HS512"}"#, &claims(json!({})), KEY),
            "The specified alg value is not allowed",
        ),
        (
            craft(
                H,
                &claims(json!({})),
                "another-key-another-key-another-key!!",
            ),
            "Signature verification failed",
        ),
        (
            // A whole quad shorter: canonical base64, a wrong signature.
            format!("{input}.{}", &sig[..sig.len() - 3]),
            "Signature verification failed",
        ),
        (format!("{input}."), "Signature verification failed"),
        (
            craft(H, "[1]", KEY),
            "Invalid payload string: must be a json object",
        ),
        (
            craft(H, &claims(json!({"-exp": null})), KEY),
            "Token is missing the \"exp\" claim",
        ),
        (
            craft(H, &claims(json!({"exp": null})), KEY),
            "Token is missing the \"exp\" claim",
        ),
        (
            craft(H, &claims(json!({"-iat": null})), KEY),
            "Token is missing the \"iat\" claim",
        ),
        (
            craft(H, &claims(json!({"iat": "soon"})), KEY),
            "Issued At claim (iat) must be an integer.",
        ),
        (
            craft(H, &claims(json!({"iat": now() + 60})), KEY),
            "The token is not yet valid (iat)",
        ),
        (
            craft(H, &claims(json!({"nbf": now() + 60})), KEY),
            "The token is not yet valid (nbf)",
        ),
        (
            craft(H, &claims(json!({"nbf": "x"})), KEY),
            "Not Before claim (nbf) must be an integer.",
        ),
        (
            craft(H, &claims(json!({"exp": "x"})), KEY),
            "Expiration Time claim (exp) must be an integer.",
        ),
        (
            craft(H, &claims(json!({"exp": now() - 1})), KEY),
            "Token has expired.",
        ),
        (
            craft(H, &claims(json!({"exp": now()})), KEY),
            "Token has expired.",
        ),
        (
            craft(H, &claims(json!({"aud": "clients"})), KEY),
            "Invalid audience",
        ),
        (
            craft(H, &claims(json!({"sub": 5})), KEY),
            "Subject must be a string",
        ),
        (
            craft(H, &claims(json!({"jti": 5})), KEY),
            "JWT ID must be a string",
        ),
        (
            craft(H, &claims(json!({"token_type": "refresh"})), KEY),
            "Wrong token type, expected 'access'.",
        ),
        (
            craft(H, &claims(json!({"-token_type": null})), KEY),
            "Wrong token type, expected 'access'.",
        ),
        (
            craft(H, &claims(json!({"token_type": "Access"})), KEY),
            "Wrong token type, expected 'access'.",
        ),
        (
            craft(H, &claims(json!({"-user_id": null})), KEY),
            "Token contained no recognizable user identification.",
        ),
        (
            craft(H, &claims(json!({"user_id": 99})), KEY),
            "User not found.",
        ),
        (
            craft(H, &claims(json!({"user_id": true})), KEY),
            "User not found.",
        ),
        (
            craft(H, &claims(json!({"user_id": "abc"})), KEY),
            "User not found.",
        ),
        (
            craft(H, &claims(json!({"user_id": [1]})), KEY),
            "User not found.",
        ),
        (
            craft(H, &claims(json!({"user_id": 2})), KEY),
            "User is inactive.",
        ),
    ];
    for (token, expected) in &cases {
        assert_eq!(check(&auth, token), *expected, "token {token}");
    }
    let junk = check(&auth, "junk.token.value");
    assert!(
        junk.starts_with("Invalid header string: 'utf-8' codec can't decode byte 0x8e"),
        "{junk}"
    );
    let not_json = check(&auth, &format!("{}.{}.{sig}", b64("hello"), b64("{}")));
    assert!(
        not_json.starts_with("Invalid header string: "),
        "{not_json}"
    );
    let bad_payload = check(&auth, &craft(H, "not json", KEY));
    assert!(
        bad_payload.starts_with("Invalid payload string: "),
        "{bad_payload}"
    );
}

#[test]
fn accepted_variants() {
    let auth = auth_with(|_| {});
    let good = craft(H, &claims(json!({})), KEY);
    for token in [
        format!("{good}="),
        craft(H, &claims(json!({"-jti": null})), KEY),
        craft(H, &claims(json!({"user_id": "1"})), KEY),
        craft(H, &claims(json!({"iss": "anyone"})), KEY),
        craft(r#"{"alg":"HS256"}"#, &claims(json!({})), KEY),
        craft(H, &claims(json!({"aud": ""})), KEY),
    ] {
        assert_eq!(check(&auth, &token), "user:alice", "{token}");
    }
}

#[test]
fn issuer_audience_and_leeway() {
    let auth = auth_with(|j| {
        j.issuer = Some("svc".into());
        j.audience = Some("clients".into());
        j.leeway_s = 30;
    });
    let t = |extra| check(&auth, &craft(H, &claims(extra), KEY));
    assert_eq!(
        t(json!({"aud": "clients"})),
        "Token is missing the \"iss\" claim"
    );
    assert_eq!(
        t(json!({"iss": 5, "aud": "clients"})),
        "Payload Issuer (iss) must be a string"
    );
    assert_eq!(
        t(json!({"iss": "other", "aud": "clients"})),
        "Invalid issuer"
    );
    assert_eq!(
        t(json!({"iss": "svc"})),
        "Token is missing the \"aud\" claim"
    );
    assert_eq!(
        t(json!({"iss": "svc", "aud": 5})),
        "Invalid claim format in token"
    );
    assert_eq!(
        t(json!({"iss": "svc", "aud": ["x", 5]})),
        "Invalid claim format in token"
    );
    assert_eq!(
        t(json!({"iss": "svc", "aud": "others"})),
        "Audience doesn't match"
    );
    assert_eq!(
        t(json!({"iss": "svc", "aud": ["others", "clients"]})),
        "user:alice"
    );
    // Leeway: expired 10 s ago, 30 s allowed.
    assert_eq!(
        t(json!({"iss": "svc", "aud": "clients", "exp": now() - 10})),
        "user:alice"
    );
    assert_eq!(
        t(json!({"iss": "svc", "aud": "clients", "exp": now() - 40})),
        "Token has expired."
    );
    // Minted tokens carry both, so they verify.
    let minted = AccessToken::for_user(&user(1, "alice", true, false), state(&auth)).unwrap();
    assert_eq!(minted.claims()["iss"], "svc");
    assert_eq!(check(&auth, minted.as_str()), "user:alice");
}

#[test]
fn minted_tokens_have_drf_restflow_claims_in_order() {
    let auth = auth_with(|_| {});
    let refresh = RefreshToken::for_user(&user(1, "alice", true, false), state(&auth)).unwrap();
    let payload = refresh.as_str().split('.').nth(1).unwrap();
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let keys: Vec<&str> = text
        .trim_matches(['{', '}'])
        .split(',')
        .map(|kv| kv.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "\"token_type\"",
            "\"iat\"",
            "\"exp\"",
            "\"jti\"",
            "\"user_id\"",
            "\"fam\""
        ]
    );
    let header = URL_SAFE_NO_PAD
        .decode(refresh.as_str().split('.').next().unwrap())
        .unwrap();
    // Every token names its key (issue 14): the one key's derived kid.
    let kid = state(&auth).keys().active_kid().to_owned();
    assert_eq!(kid.len(), 22);
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"JWT"}}"#)
    );
    let c = refresh.claims();
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(refresh.jti().len(), 22);
    assert!(
        refresh
            .jti()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(c["user_id"], 1);
    let access = refresh.access_token(state(&auth)).unwrap();
    assert_ne!(access.jti(), refresh.jti());
    assert_eq!(
        access.claims()["exp"].as_i64().unwrap() - access.claims()["iat"].as_i64().unwrap(),
        300
    );
    assert!(
        !format!("{access:?}").contains(access.as_str()),
        "raw token in Debug"
    );
    // Custom claims are carried, but cannot replace registered ones.
    let mut extra = serde_json::Map::new();
    extra.insert("scope".into(), json!("orders:read"));
    extra.insert("exp".into(), json!(1));
    let custom =
        AccessToken::for_user_with(&user(1, "alice", true, false), state(&auth), &extra).unwrap();
    let verified = AccessToken::verify(custom.as_str(), state(&auth)).unwrap();
    assert_eq!(verified.claims()["scope"], "orders:read");
    assert!(verified.exp() > now());
}

#[test]
fn blacklisted_access_tokens_and_revocation_on_password_change() {
    let auth = auth_with(|j| j.check_revoke_token = true);
    let jwt = state(&auth);
    let alice = auth
        .context()
        .users()
        .find_by_id_blocking(&1)
        .unwrap()
        .unwrap();
    let token = AccessToken::for_user(&alice, jwt).unwrap();
    assert_eq!(check(&auth, token.as_str()), "user:alice");
    jwt.blacklist_backend()
        .unwrap()
        .blacklist_blocking(token.jti(), token.exp())
        .unwrap();
    assert_eq!(check(&auth, token.as_str()), "Token has been blacklisted.");
    let mut changed = alice.clone();
    changed.password = restflow_auth::password::django_pbkdf2_sha256("new", "salt", 1000);
    let stale = AccessToken::for_user(&changed, jwt).unwrap();
    assert_eq!(
        check(&auth, stale.as_str()),
        "The user's password has been changed."
    );
    let no_claim = craft(H, &claims(json!({})), KEY);
    assert_eq!(
        check(&auth, &no_claim),
        "The user's password has been changed."
    );
}

#[test]
fn every_algorithm_signs_and_verifies() {
    let key = |f: &str| {
        std::fs::read_to_string(format!("{}/tests/it/keys/{f}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    };
    let hmac_keys = |len: usize| "k".repeat(len);
    let matrix: Vec<(&str, String, Option<String>)> = vec![
        ("HS256", hmac_keys(32), None),
        ("HS384", hmac_keys(48), None),
        ("HS512", hmac_keys(64), None),
        ("RS256", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("RS384", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("RS512", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("PS256", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("PS384", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("PS512", key("rsa.pem"), Some(key("rsa.pub.pem"))),
        ("ES256", key("ec256.pem"), Some(key("ec256.pub.pem"))),
        ("ES384", key("ec384.pem"), Some(key("ec384.pub.pem"))),
        ("EdDSA", key("ed25519.pem"), Some(key("ed25519.pub.pem"))),
    ];
    let alice = user(1, "alice", true, false);
    let mut previous: Option<String> = None;
    for (alg, private, public) in matrix {
        let auth = {
            let mut s = settings_with(|j| {
                j.algorithm = alg.into();
                j.signing_key = Some(restflow_auth::settings::Secret::new(private.clone()));
                j.verifying_key = public.clone();
            });
            s.jwt.blacklist_enabled = false;
            Auth::<User>::builder(s)
                .users(users())
                .build()
                .unwrap_or_else(|e| panic!("{alg}: {e}"))
        };
        let token = AccessToken::for_user(&alice, state(&auth)).unwrap();
        let header = URL_SAFE_NO_PAD
            .decode(token.as_str().split('.').next().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            format!(
                "{{\"alg\":\"{alg}\",\"kid\":\"{}\",\"typ\":\"JWT\"}}",
                state(&auth).keys().active_kid()
            )
        );
        assert_eq!(check(&auth, token.as_str()), "user:alice", "{alg}");
        // A flipped signature byte fails.
        let (input, sig) = token.as_str().rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[0] ^= 1;
        assert_eq!(
            check(&auth, &format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))),
            "Signature verification failed",
            "{alg}"
        );
        // The previous algorithm's token is refused by name.
        if let Some(p) = &previous {
            assert_eq!(
                check(&auth, p),
                "The specified alg value is not allowed",
                "{alg}"
            );
        }
        previous = Some(token.as_str().to_owned());
        // An independent implementation (jsonwebtoken) reads our token.
        let a: jsonwebtoken::Algorithm = alg.parse().unwrap();
        let dk = match a {
            jsonwebtoken::Algorithm::HS256
            | jsonwebtoken::Algorithm::HS384
            | jsonwebtoken::Algorithm::HS512 => {
                jsonwebtoken::DecodingKey::from_secret(private.as_bytes()).unwrap()
            }
            jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
                jsonwebtoken::DecodingKey::from_ec_pem(public.as_deref().unwrap().as_bytes())
                    .unwrap()
            }
            jsonwebtoken::Algorithm::EdDSA => {
                jsonwebtoken::DecodingKey::from_ed_pem(public.as_deref().unwrap().as_bytes())
                    .unwrap()
            }
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(public.as_deref().unwrap().as_bytes())
                .unwrap(),
        };
        let mut v = jsonwebtoken::Validation::new(a);
        v.leeway = 0;
        v.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(token.as_str(), &dk, &v)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.claims["user_id"], 1);
        // And we read a token it writes.
        let ek = match a {
            jsonwebtoken::Algorithm::HS256
            | jsonwebtoken::Algorithm::HS384
            | jsonwebtoken::Algorithm::HS512 => {
                jsonwebtoken::EncodingKey::from_secret(private.as_bytes()).unwrap()
            }
            jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
                jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).unwrap()
            }
            jsonwebtoken::Algorithm::EdDSA => {
                jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).unwrap()
            }
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
        };
        let theirs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(a),
            &json!({"token_type": "access", "iat": now(), "exp": now() + 60, "jti": "x", "user_id": 3}),
            &ek,
        )
        .unwrap();
        assert_eq!(check(&auth, &theirs), "user:root", "{alg}");
    }
}

#[test]
fn the_rfc_7515_example_signature_verifies() {
    // RFC 7515 A.1 / RFC 7519 3.1: HS256 over the example JWS with the example key.
    let key = URL_SAFE_NO_PAD
        .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        .unwrap();
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let keys = restflow_auth::jwt::JwtKeys::hmac("HS256", &key).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert!(keys.verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap()));
    let mut bad = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bad[31] ^= 0x80;
    assert!(!keys.verify(input.as_bytes(), &bad));
    let keys = restflow_auth::jwt::KeySet::single("k", keys);
    // Through the full reader the signature passes and the claims check
    // stops at the missing `iat` (the example has none).
    let s = JwtSettings::default();
    let e = restflow_auth::jwt::jws::decode(token, &keys, &s, "access", 1.3e9).unwrap_err();
    assert_eq!(e.to_string(), "Token is missing the \"iat\" claim");
}

#[test]
fn misconfiguration_fails_at_startup_with_a_fix() {
    let build = |f: &dyn Fn(&mut Settings), blacklist: bool| {
        let mut s = settings_with(|_| {});
        f(&mut s);
        let b = Auth::<User>::builder(s).users(users());
        let b = if blacklist {
            b.blacklist(MemoryBlacklist::new())
        } else {
            b
        };
        b.build().map(|_| ()).unwrap_err().to_string()
    };
    assert!(build(&|_| {}, false).contains("no backend was given"));
    assert!(
        build(&|s| s.jwt.allow_local_blacklist = false, true).contains("jwt.allow_local_blacklist")
    );
    assert!(
        build(&|s| s.jwt.algorithm = "none".into(), true)
            .contains("'none' disables signature verification")
    );
    assert!(
        build(
            &|s| s.jwt.signing_key = Some(restflow_auth::settings::Secret::new("short")),
            true
        )
        .contains("at least 32 bytes")
    );
    assert!(
        build(&|s| s.jwt.user_id_field = "email".into(), true)
            .contains("`email` is not part of `AuthUser`")
    );
    let key = |f: &str| {
        std::fs::read_to_string(format!("{}/tests/it/keys/{f}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    };
    let e = build(
        &|s| {
            s.jwt.algorithm = "ES256".into();
            s.jwt.signing_key = Some(restflow_auth::settings::Secret::new(key("ec256.pem")));
            s.jwt.verifying_key = Some(key("ec384.pub.pem"));
        },
        true,
    );
    assert!(e.contains("jwt.verifying_key"), "{e}");
    let e = build(
        &|s| {
            s.jwt.algorithm = "RS256".into();
            s.jwt.signing_key = Some(restflow_auth::settings::Secret::new(key("rsa.pem")));
        },
        true,
    );
    assert!(e.contains("needs the PEM-encoded public key"), "{e}");
}

#[test]
fn custom_header_types_name_the_challenge() {
    let auth = auth_with(|j| j.auth_header_types = vec!["JWT".into(), "Bearer".into()]);
    let token = AccessToken::for_user(&user(1, "alice", true, false), state(&auth)).unwrap();
    let jwt_challenge = Some("JWT realm=\"api\"".to_owned());
    assert_eq!(
        check_raw(&auth, format!("jwt {token}").as_bytes()).2,
        "user:alice"
    );
    assert_eq!(
        check_raw(&auth, format!("Bearer {token}").as_bytes()).2,
        "user:alice"
    );
    assert_eq!(
        check_raw(&auth, b"Token x"),
        (
            401,
            jwt_challenge.clone(),
            "Authentication credentials were not provided.".into()
        )
    );
    // The shape message names Bearer whatever the types, as drf-restflow's.
    assert_eq!(
        check_raw(&auth, b"JWT"),
        (
            401,
            jwt_challenge,
            "Authorization header must be 'Bearer <token>'.".into()
        )
    );
    let only_jwt = auth_with(|j| j.auth_header_types = vec!["JWT".into()]);
    assert_eq!(
        check_raw(&only_jwt, format!("Bearer {token}").as_bytes()).2,
        "Authentication credentials were not provided."
    );
}

/// A token verified once is served from the cache afterwards, but what must
/// be current is read every time: the blacklist, the user, and the clock.
#[test]
fn a_cached_token_still_meets_the_blacklist_the_user_and_the_clock() {
    let store = users();
    let auth = Auth::builder(settings_with(|j| j.leeway_s = 0))
        .users(store.clone())
        .blacklist(MemoryBlacklist::new())
        .build()
        .unwrap();
    let key = KEY;
    // Verified twice: the second answer comes from the cache and is the same.
    let t = craft(H, &claims(json!({"jti": "cached-1"})), key);
    assert_eq!(check(&auth, &t), "user:alice");
    assert_eq!(check(&auth, &t), "user:alice");
    // Blacklisted after it was cached: refused.
    let jwt = state(&auth);
    jwt.blacklist_backend()
        .unwrap()
        .blacklist_blocking("cached-1", now() + 300)
        .unwrap();
    assert_eq!(check(&auth, &t), "Token has been blacklisted.");
    // The user turned inactive after the token was cached: refused.
    let t2 = craft(H, &claims(json!({"jti": "cached-2"})), key);
    assert_eq!(check(&auth, &t2), "user:alice");
    let mut alice = store.find_by_id_blocking(&1).unwrap().unwrap();
    alice.is_active = false;
    store.insert(alice);
    assert_eq!(check(&auth, &t2), "User is inactive.");
    // Expiry is checked on every hit: a token that expires while cached is refused
    // with PyJWT's message.
    let t3 = craft(
        H,
        &claims(json!({"jti": "cached-3", "user_id": 3, "exp": now() + 1})),
        key,
    );
    assert_eq!(check(&auth, &t3), "user:root");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(check(&auth, &t3), "Token has expired.");
}
