//! DRF's BasicAuthentication: every message of DRF-BEHAVIOUR §2.2 on both
//! paths, strict base64, Latin-1 credentials, and chains with Basic.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use restflow_auth::permissions::IsAdminUser;
use restflow_auth::prelude::*;

use crate::common::{HeaderUser, User, both_paths};
use crate::jwt::users;

fn auth() -> Auth<User> {
    let store = users();
    let mut latin = crate::common::user(4, "zoë", true, false);
    latin.password = restflow_auth::password::hash_password("pässword").unwrap();
    store.insert(latin);
    let mut colon = crate::common::user(5, "carol", true, false);
    colon.password = restflow_auth::password::django_pbkdf2_sha256("pa:ss:word", "s", 1000);
    store.insert(colon);
    Auth::builder(Settings::default())
        .users(store)
        .build()
        .unwrap()
}

fn basic(auth: &Auth<User>, value: &[u8]) -> (u16, Option<String>, String) {
    let headers: &[(&str, &[u8])] = if value.is_empty() {
        &[]
    } else {
        &[("authorization", value)]
    };
    both_paths::<(Basic,), (IsAuthenticated,)>(auth, "GET", headers)
}

fn creds(user: &str, password: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))).into_bytes()
}

const REALM: Option<&str> = Some("Basic realm=\"api\"");

#[test]
fn every_basic_message() {
    let auth = auth();
    let realm = REALM.map(str::to_owned);
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
            b"Basic".to_vec(),
            "Invalid basic header. No credentials provided.",
        ),
        (
            b"Basic a b".to_vec(),
            "Invalid basic header. Credentials string should not contain spaces.",
        ),
        (
            b"Basic !!!".to_vec(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        (
            b"Basic YWxpY2U".to_vec(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        (
            format!("Basic {}", STANDARD.encode("no-colon")).into_bytes(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        // DRF drops the `!` and authenticates; decoding strictly refuses it.
        (
            format!(
                "Basic YWxp!{}",
                &STANDARD.encode("alice:alice-password-1")[4..]
            )
            .into_bytes(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        (creds("alice", "wrong"), "Invalid username/password."),
        (creds("nobody", "x"), "Invalid username/password."),
        (creds("", ""), "Invalid username/password."),
        (creds("bob", "wrong"), "Invalid username/password."),
        (creds("bob", "bob-password-2"), "User inactive or deleted."),
    ];
    for (header, detail) in cases {
        assert_eq!(
            basic(&auth, &header),
            (401, realm.clone(), detail.to_owned()),
            "{}",
            String::from_utf8_lossy(&header)
        );
    }
}

#[test]
fn valid_credentials_in_every_accepted_form() {
    let auth = auth();
    assert_eq!(
        basic(&auth, &creds("alice", "alice-password-1")).2,
        "user:alice"
    );
    let encoded = STANDARD.encode("alice:alice-password-1");
    assert_eq!(
        basic(&auth, format!("basic {encoded}").as_bytes()).2,
        "user:alice"
    );
    assert_eq!(
        basic(&auth, format!("BASIC\t{encoded}").as_bytes()).2,
        "user:alice"
    );
    // The password may hold `:` (split at the first one).
    assert_eq!(basic(&auth, &creds("carol", "pa:ss:word")).2, "user:carol");
    // UTF-8 credentials, and the same as Latin-1 bytes.
    assert_eq!(basic(&auth, &creds("zoë", "pässword")).2, "user:zoë");
    let latin1: Vec<u8> = "zoë:pässword".chars().map(|c| c as u8).collect();
    assert_eq!(
        basic(
            &auth,
            format!("Basic {}", STANDARD.encode(latin1)).as_bytes()
        )
        .2,
        "user:zoë"
    );
}

#[test]
fn chains_with_basic_first_answer_with_its_challenge() {
    let auth = auth();
    type Chain = (Basic, HeaderUser);
    let none = both_paths::<Chain, (IsAdminUser,)>(&auth, "GET", &[]);
    assert_eq!(
        none,
        (
            401,
            REALM.map(str::to_owned),
            "Authentication credentials were not provided.".into()
        )
    );
    let header = both_paths::<Chain, (IsAdminUser,)>(&auth, "GET", &[("x-user", b"root")]);
    assert_eq!(header.2, "user:root");
    let not_staff = both_paths::<Chain, (IsAdminUser,)>(
        &auth,
        "GET",
        &[("authorization", &creds("alice", "alice-password-1"))],
    );
    assert_eq!(
        not_staff,
        (
            403,
            None,
            "You do not have permission to perform this action.".into()
        )
    );
}
