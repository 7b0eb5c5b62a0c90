//! DRF's TokenAuthentication: every message of DRF-BEHAVIOUR §2.4 on both
//! paths; keys stored as digests; chains with Token.

use restflow_auth::prelude::*;
use restflow_auth::token::{MemoryTokenStore, TokenStore};

use crate::common::{User, both_paths};
use crate::jwt::users;

const ALICE: &str = "a11ce0000000000000000000000000000000a11c";
const BOB: &str = "b0b00000000000000000000000000000000000b0";
const GHOST: &str = "9905700000000000000000000000000000000099";

fn auth_with(settings: Settings) -> (Auth<User>, MemoryTokenStore<i64>) {
    let tokens = MemoryTokenStore::new();
    tokens.insert_key(ALICE, 1);
    tokens.insert_key(BOB, 2);
    tokens.insert_key(GHOST, 99);
    let auth = Auth::builder(settings)
        .users(users())
        .tokens(tokens.clone())
        .build()
        .unwrap();
    (auth, tokens)
}

fn token(auth: &Auth<User>, value: &[u8]) -> (u16, Option<String>, String) {
    let headers: &[(&str, &[u8])] = if value.is_empty() {
        &[]
    } else {
        &[("authorization", value)]
    };
    both_paths::<(Token,), (IsAuthenticated,)>(auth, "GET", headers)
}

#[test]
fn every_token_message() {
    let (auth, _) = auth_with(Settings::default());
    let ch = Some("Token".to_owned());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"".to_vec(),
            "Authentication credentials were not provided.",
        ),
        (
            b"Bearer x".to_vec(),
            "Authentication credentials were not provided.",
        ),
        (
            b"Token".to_vec(),
            "Invalid token header. No credentials provided.",
        ),
        (
            b"Token a b".to_vec(),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            b"Token \xff\xfe".to_vec(),
            "Invalid token header. Token string should not contain invalid characters.",
        ),
        (b"Token nope".to_vec(), "Invalid token."),
        (format!("Token {GHOST}").into_bytes(), "Invalid token."),
        (
            format!("Token {BOB}").into_bytes(),
            "User inactive or deleted.",
        ),
    ];
    for (header, detail) in cases {
        assert_eq!(
            token(&auth, &header),
            (401, ch.clone(), detail.to_owned()),
            "{}",
            String::from_utf8_lossy(&header)
        );
    }
    assert_eq!(
        token(&auth, format!("Token {ALICE}").as_bytes()).2,
        "user:alice"
    );
    assert_eq!(
        token(&auth, format!("token {ALICE}").as_bytes()).2,
        "user:alice"
    );
}

#[test]
fn the_keyword_is_configurable() {
    let mut s = Settings::default();
    s.token.keyword = "Key".into();
    let (auth, _) = auth_with(s);
    assert_eq!(
        token(&auth, format!("Key {ALICE}").as_bytes()).2,
        "user:alice"
    );
    assert_eq!(
        token(&auth, format!("Token {ALICE}").as_bytes()),
        (
            401,
            Some("Key".into()),
            "Authentication credentials were not provided.".into()
        )
    );
}

#[test]
fn issue_and_revoke_take_effect_at_once() {
    let (auth, tokens) = auth_with(Settings::default());
    let key = tokens.issue_blocking(&3).unwrap();
    assert!(
        key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert_eq!(
        token(&auth, format!("Token {key}").as_bytes()).2,
        "user:root"
    );
    assert!(tokens.revoke_blocking(&key).unwrap());
    assert_eq!(
        token(&auth, format!("Token {key}").as_bytes()).2,
        "Invalid token."
    );
    assert!(!format!("{tokens:?}").contains(ALICE));
}

#[test]
fn without_a_token_store_the_error_is_clear() {
    let auth = Auth::<User>::builder(Settings::default())
        .users(users())
        .build()
        .unwrap();
    let (status, _, detail) = token(&auth, format!("Token {ALICE}").as_bytes());
    assert_eq!((status, detail.as_str()), (500, "A server error occurred."));
}
