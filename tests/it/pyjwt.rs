//! Interop with PyJWT, the library drf-restflow verifies with: tokens we
//! mint verify there, tokens it mints verify here, and malformed tokens get
//! the same message from both. Needs `RESTFLOW_TEST_PYTHON` (a Python with
//! `pyjwt[crypto]`; `.ci/run` makes one).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use restflow_auth::jwt::{AccessToken, JwtState, jws};
use restflow_auth::prelude::*;
use serde_json::{Value, json};

use crate::common::{User, user};
use crate::jwt::{KEY, settings_with, users};

pub(crate) fn python() -> Option<String> {
    match std::env::var("RESTFLOW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "RESTFLOW_TEST_PYTHON is not set but RESTFLOW_REQUIRE_SERVICES=1"
            );
            eprintln!("skipped: RESTFLOW_TEST_PYTHON is not set (a Python with pyjwt[crypto])");
            None
        }
    }
}

/// Sends every request to one PyJWT process; returns the answers in order.
fn pyjwt(python: &str, requests: &[Value]) -> Vec<Value> {
    let helper = format!("{}/tests/it/pyjwt_helper.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(helper)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the PyJWT helper");
    let mut stdin = child.stdin.take().unwrap();
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let out = BufReader::new(child.stdout.take().unwrap());
    let answers: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(answers.len(), requests.len());
    answers
}

fn key_file(f: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/it/keys/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn tokens_cross_both_ways_for_each_family() {
    let Some(py) = python() else { return };
    let families = [
        ("HS256", KEY.to_owned(), KEY.to_owned(), None),
        (
            "RS256",
            key_file("rsa.pem"),
            key_file("rsa.pub.pem"),
            Some(key_file("rsa.pub.pem")),
        ),
        (
            "PS256",
            key_file("rsa.pem"),
            key_file("rsa.pub.pem"),
            Some(key_file("rsa.pub.pem")),
        ),
        (
            "ES256",
            key_file("ec256.pem"),
            key_file("ec256.pub.pem"),
            Some(key_file("ec256.pub.pem")),
        ),
        (
            "EdDSA",
            key_file("ed25519.pem"),
            key_file("ed25519.pub.pem"),
            Some(key_file("ed25519.pub.pem")),
        ),
    ];
    for (alg, private, public, verifying) in families {
        let mut s = settings_with(|j| {
            j.algorithm = alg.into();
            j.signing_key = Some(restflow_auth::settings::Secret::new(private.clone()));
            j.verifying_key = verifying.clone();
        });
        s.jwt.blacklist_enabled = false;
        let auth = Auth::<User>::builder(s).users(users()).build().unwrap();
        let jwt = auth.context().store::<JwtState>().unwrap();
        let ours = AccessToken::for_user(&user(1, "alice", true, false), jwt).unwrap();
        let theirs_claims = json!({"token_type": "access", "iat": now(), "exp": now() + 60, "jti": "py", "user_id": 3});
        let answers = pyjwt(
            &py,
            &[
                json!({"op": "decode", "token": ours.as_str(), "key": public, "alg": alg}),
                json!({"op": "encode", "claims": theirs_claims, "key": private, "alg": alg}),
            ],
        );
        assert_eq!(answers[0]["claims"]["user_id"], 1, "{alg}: {}", answers[0]);
        assert_eq!(answers[0]["claims"]["token_type"], "access");
        let theirs = answers[1]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{alg}: {}", answers[1]));
        let verified = AccessToken::verify(theirs, jwt).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.user_id(), Some(&json!(3)));
    }
}

#[test]
fn malformed_tokens_get_pyjwts_own_messages() {
    let Some(py) = python() else { return };
    let auth = Auth::<User>::builder({
        let mut s = settings_with(|_| {});
        s.jwt.blacklist_enabled = false;
        s
    })
    .users(users())
    .build()
    .unwrap();
    let jwt = auth.context().store::<JwtState>().unwrap();
    let good = AccessToken::for_user(&user(1, "alice", true, false), jwt)
        .unwrap()
        .as_str()
        .to_owned();
    let (input, sig) = good.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let encode =
        |claims: Value| json!({"op": "encode", "claims": claims, "key": KEY, "alg": "HS256"});
    // Tokens PyJWT itself writes with odd claims.
    let crafted = pyjwt(
        &py,
        &[
            encode(json!({"token_type": "access", "iat": now()})),
            encode(json!({"token_type": "access", "exp": now() + 60})),
            encode(json!({"token_type": "access", "iat": now(), "exp": now() - 5})),
            encode(json!({"token_type": "access", "iat": now() + 100, "exp": now() + 600})),
            encode(
                json!({"token_type": "access", "iat": now(), "exp": now() + 60, "nbf": now() + 100}),
            ),
            encode(json!({"token_type": "access", "iat": "x", "exp": now() + 60})),
            encode(
                json!({"token_type": "access", "iat": now(), "exp": now() + 60, "aud": "someone"}),
            ),
            encode(json!({"token_type": "access", "iat": now(), "exp": now() + 60, "sub": 5})),
        ],
    );
    let mut tokens: Vec<String> = crafted
        .iter()
        .map(|a| a["token"].as_str().unwrap().to_owned())
        .collect();
    tokens.extend([
        "abc".to_owned(),
        "a.b".to_owned(),
        "a.b.c".to_owned(),
        format!("{input}.{sig}.x"),
        format!("{input}.{sig}=="),
        format!("{input}.{sig}="),
        format!("{input}."),
        format!("{}.{}.{sig}", b64(r#"{"typ":"JWT"}"#), b64("{}")),
        format!("{}.{}.{sig}", b64(r#"{"alg":"HS512"}"#), b64("{}")),
        format!("{}.{}.{sig}", b64("[]"), b64("{}")),
        format!("{header}.{}.{sig}", b64(r#"{"token_type":"access"}"#)),
    ]);
    let requests: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"op": "decode", "token": t, "key": KEY, "alg": "HS256"}))
        .collect();
    let answers = pyjwt(&py, &requests);
    let mut compared = 0;
    for (token, answer) in tokens.iter().zip(&answers) {
        let ours = jws::decode(
            token,
            &restflow_auth::jwt::KeySet::single(
                "k",
                restflow_auth::jwt::JwtKeys::hmac("HS256", KEY.as_bytes()).unwrap(),
            ),
            jwt.settings(),
            "access",
            jws_now(),
        );
        match (answer.get("error").and_then(Value::as_str), ours) {
            (Some(theirs), Err(e)) => {
                assert_eq!(e.to_string(), theirs, "token {token}");
                compared += 1;
            }
            (None, Ok(_)) => compared += 1,
            (theirs, ours) => panic!("disagree on {token}: PyJWT {theirs:?}, restflow {ours:?}"),
        }
    }
    assert_eq!(compared, tokens.len());
}

fn jws_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
