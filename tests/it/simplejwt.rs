//! The simplejwt verifier: simplejwt's own answers (DRF-BEHAVIOUR §2.7 sync
//! column, §5.5) on both paths, and tokens minted by the real
//! djangorestframework-simplejwt (`RESTFLOW_TEST_PYTHON` with it installed).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use restflow_auth::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{User, both_paths};
use crate::jwt::users;

const KEY: &str = "conformance-simplejwt-signing-key-fedcba9876543210fedcba";

fn auth_with(f: impl FnOnce(&mut restflow_auth::settings::SimpleJwtSettings)) -> Auth<User> {
    let mut s = Settings::default();
    s.simplejwt.signing_key = Some(restflow_auth::settings::Secret::new(KEY));
    f(&mut s.simplejwt);
    Auth::builder(s).users(users()).build().unwrap()
}

/// (status, WWW-Authenticate, the JSON body or "user:<name>").
fn check(auth: &Auth<User>, authorization: &str) -> (u16, Option<String>, Value) {
    let headers: &[(&str, &[u8])] = &[("authorization", authorization.as_bytes())];
    let (status, challenge, detail) =
        both_paths::<(SimpleJwt,), (IsAuthenticated,)>(auth, "GET", headers);
    if status == 200 {
        return (status, challenge, Value::String(detail));
    }
    // Render the body as the wire does.
    let mut b = http::Request::get("/");
    b = b.header("authorization", authorization);
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let denial = restflow_auth::dispatch::authenticate_blocking::<
        User,
        (SimpleJwt,),
        (IsAuthenticated,),
    >(&Request::new(&parts), auth.context())
    .unwrap_err();
    let body: Value = serde_json::from_str(&denial.body(auth.context().messages(), "en")).unwrap();
    assert_eq!(body["detail"], json!(detail));
    (status, challenge, body)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn craft(payload: Value, key: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn access(extra: Value) -> Value {
    let mut c = json!({"token_type": "access", "exp": now() + 300, "iat": now(), "jti": "0123456789abcdef0123456789abcdef", "user_id": "1"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn invalid_for_all(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

#[test]
fn simplejwt_answers_on_both_paths() {
    let auth = auth_with(|_| {});
    let ch = Some("Bearer realm=\"api\"".to_owned());
    let b = |c: Value| format!("Bearer {}", craft(c, KEY));
    assert_eq!(check(&auth, &b(access(json!({})))).2, "user:alice");
    assert_eq!(
        check(&auth, &b(access(json!({"user_id": 1, "iat": null})))).2,
        "user:alice"
    );
    // aud is ignored when no audience is set.
    assert_eq!(
        check(&auth, &b(access(json!({"aud": "x"})))).2,
        "user:alice"
    );
    let cases: Vec<(String, Value)> = vec![
        (
            "Bearer".into(),
            json!({"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}),
        ),
        (
            "Bearer a b".into(),
            json!({"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}),
        ),
        ("Bearer garbage".into(), invalid_for_all("Token is invalid")),
        (
            format!(
                "Bearer {}",
                craft(access(json!({})), "another-key-another-key-another-key!")
            ),
            invalid_for_all("Token is invalid"),
        ),
        (
            b(access(json!({"exp": now() - 5}))),
            invalid_for_all("Token is expired"),
        ),
        (
            b(access(json!({"token_type": "refresh"}))),
            invalid_for_all("Token has wrong type"),
        ),
        (
            b(access(json!({"token_type": null}))),
            invalid_for_all("Token has no type"),
        ),
        (
            b(access(json!({"jti": null}))),
            invalid_for_all("Token has no id"),
        ),
        (
            b(access(json!({"exp": null}))),
            invalid_for_all("Token has no 'exp' claim"),
        ),
        (
            b(access(json!({"user_id": null}))),
            json!({"detail": "Token contained no recognizable user identification", "code": "token_not_valid"}),
        ),
        (
            b(access(json!({"user_id": "99"}))),
            json!({"detail": "User not found", "code": "user_not_found"}),
        ),
        (
            b(access(json!({"user_id": "abc"}))),
            json!({"detail": "User not found", "code": "user_not_found"}),
        ),
        (
            b(access(json!({"user_id": "2"}))),
            json!({"detail": "User is inactive", "code": "user_inactive"}),
        ),
    ];
    for (header, body) in cases {
        assert_eq!(check(&auth, &header), (401, ch.clone(), body), "{header}");
    }
    // The scheme is case-sensitive: `bearer` is not ours.
    let lower = format!("bearer {}", craft(access(json!({})), KEY));
    assert_eq!(
        check(&auth, &lower).2["detail"],
        "Authentication credentials were not provided."
    );
}

#[test]
fn several_token_classes_report_each_message() {
    let auth = auth_with(|s| s.auth_token_classes = vec!["access".into(), "sliding".into()]);
    let sliding = craft(access(json!({"token_type": "sliding"})), KEY);
    assert_eq!(check(&auth, &format!("Bearer {sliding}")).2, "user:alice");
    let refresh = craft(access(json!({"token_type": "refresh"})), KEY);
    let (_, _, body) = check(&auth, &format!("Bearer {refresh}"));
    assert_eq!(
        body["messages"],
        json!([
            {"token_class": "AccessToken", "token_type": "access", "message": "Token has wrong type"},
            {"token_class": "SlidingToken", "token_type": "sliding", "message": "Token has wrong type"},
        ])
    );
}

#[test]
fn revocation_uses_simplejwts_uppercase_md5() {
    let auth = auth_with(|s| s.check_revoke_token = true);
    let alice = auth
        .context()
        .users()
        .find_by_id_blocking(&1)
        .unwrap()
        .unwrap();
    use md5::Digest;
    let upper: String = md5::Md5::digest(alice.password.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let good = craft(access(json!({"hash_password": upper})), KEY);
    assert_eq!(check(&auth, &format!("Bearer {good}")).2, "user:alice");
    let stale = craft(access(json!({"hash_password": upper.to_lowercase()})), KEY);
    assert_eq!(
        check(&auth, &format!("Bearer {stale}")).2,
        json!({"detail": "The user's password has been changed.", "code": "password_changed"})
    );
}

/// Tokens from the real simplejwt package.
fn minted(python: &str, key: &str, requests: &[Value]) -> Vec<String> {
    let helper = format!(
        "{}/tests/it/simplejwt_helper.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = Command::new(python)
        .args([helper.as_str(), key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the simplejwt helper");
    let mut stdin = child.stdin.take().unwrap();
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let tokens: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert!(
        child.wait().unwrap().success(),
        "the helper failed (is djangorestframework-simplejwt installed?)"
    );
    assert_eq!(tokens.len(), requests.len());
    tokens
}

#[test]
fn tokens_minted_by_the_real_simplejwt() {
    let python = match std::env::var("RESTFLOW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "RESTFLOW_TEST_PYTHON is not set but RESTFLOW_REQUIRE_SERVICES=1"
            );
            eprintln!(
                "skipped: RESTFLOW_TEST_PYTHON is not set (a Python with djangorestframework-simplejwt)"
            );
            return;
        }
    };
    let auth = auth_with(|s| s.auth_token_classes = vec!["access".into(), "sliding".into()]);
    let ours = minted(
        &python,
        KEY,
        &[
            json!({"kind": "access", "user_id": "1"}),
            json!({"kind": "sliding", "user_id": "3"}),
            json!({"kind": "access", "user_id": "1", "exp_delta": -30}),
            json!({"kind": "refresh", "user_id": "1"}),
            json!({"kind": "access", "user_id": "99"}),
            json!({"kind": "access", "user_id": "2"}),
            json!({"kind": "access"}),
        ],
    );
    let other_key = minted(
        &python,
        "a-different-key-for-the-wrong-key-case-0000",
        &[json!({"kind": "access", "user_id": "1"})],
    );
    let both = |m: &str| {
        json!([
            {"token_class": "AccessToken", "token_type": "access", "message": m},
            {"token_class": "SlidingToken", "token_type": "sliding", "message": m},
        ])
    };
    let c = |t: &str| check(&auth, &format!("Bearer {t}"));
    assert_eq!(c(&ours[0]).2, "user:alice");
    assert_eq!(c(&ours[1]).2, "user:root");
    assert_eq!(c(&ours[2]).2["messages"], both("Token is expired"));
    assert_eq!(c(&ours[3]).2["messages"], both("Token has wrong type"));
    assert_eq!(
        c(&ours[4]).2,
        json!({"detail": "User not found", "code": "user_not_found"})
    );
    assert_eq!(
        c(&ours[5]).2,
        json!({"detail": "User is inactive", "code": "user_inactive"})
    );
    assert_eq!(
        c(&ours[6]).2["detail"],
        "Token contained no recognizable user identification"
    );
    assert_eq!(c(&other_key[0]).2["messages"], both("Token is invalid"));
}

#[test]
fn logout_everywhere_ends_its_tokens() {
    let mut s = Settings::default();
    s.simplejwt.signing_key = Some(restflow_auth::settings::Secret::new(KEY));
    let auth = Auth::builder(s)
        .users(users())
        .revocations(restflow_auth::revocation::MemoryRevocationStore::new())
        .build()
        .unwrap();
    let bearer = format!("Bearer {}", craft(access(json!({})), KEY));
    assert_eq!(check(&auth, &bearer).0, 200);
    let alice = auth
        .context()
        .users()
        .find_by_id_blocking(&1)
        .unwrap()
        .unwrap();
    let at = restflow_auth::revocation::logout_everywhere_blocking(auth.context(), &alice).unwrap();
    let (status, _, body) = check(&auth, &bearer);
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        )
    );
    while now() < at {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let fresh = format!("Bearer {}", craft(access(json!({})), KEY));
    assert_eq!(check(&auth, &fresh).0, 200);
}
