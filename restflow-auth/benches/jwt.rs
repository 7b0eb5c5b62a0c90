//! JWT authentication of one request through the `Jwt` authenticator
//! (header parse, verification, claims, blacklist check on the memory
//! backend, user lookup) against `jsonwebtoken::decode` plus a map lookup,
//! measured in the same run; and verification alone for RS256, ES256 and
//! EdDSA against their jsonwebtoken baselines.
//!
//! ```text
//! cargo bench -p restflow-auth --bench jwt
//! ```
//!
//! Machines here are shared and noisy, so the same binary also counts
//! instructions, which do not depend on the load: with
//! `RESTFLOW_BENCH_LOOP=<baseline|restflow>:<iterations>` it runs only that
//! loop, to be measured with `valgrind --tool=callgrind` at two iteration
//! counts (the difference cancels the setup); `RESTFLOW_BENCH_TOKEN=family`
//! uses an access token of a refresh family.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use restflow_auth::jwt::{AccessToken, JwtState, MemoryBlacklist, RefreshToken};
use restflow_auth::prelude::*;
use restflow_auth::settings::Secret;

#[derive(Clone, Debug, AuthUser)]
struct User {
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

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    token_type: String,
    exp: u64,
    iat: u64,
    jti: String,
    user_id: i64,
}

fn user(id: i64) -> User {
    User {
        id,
        username: format!("user{id}"),
        password: String::new(),
        is_active: true,
        is_staff: false,
    }
}

fn keys_dir(f: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../tests/it/keys/{f}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn auth(alg: &str, private: &str, public: Option<String>, blacklist: bool) -> Auth<User> {
    let mut s = Settings::default();
    s.jwt.algorithm = alg.into();
    s.jwt.signing_key = Some(Secret::new(private));
    s.jwt.verifying_key = public;
    s.jwt.allow_local_blacklist = true;
    s.jwt.blacklist_enabled = blacklist;
    let users = MemoryUserStore::new();
    for id in 1..=1000 {
        users.insert(user(id));
    }
    let b = Auth::builder(s).users(users);
    let b = if blacklist {
        b.blacklist(MemoryBlacklist::new())
    } else {
        b
    };
    b.build().unwrap()
}

fn hs256(c: &mut Criterion) {
    let key = "bench-signing-key-0123456789abcdef0123456789abcdef";
    let auth = auth("HS256", key, None, true);
    let jwt = auth.context().store::<JwtState>().unwrap();
    let token = AccessToken::for_user(&user(7), jwt).unwrap();
    // Some unrelated revocations, so the blacklist is not empty.
    let bl = jwt.blacklist_backend().unwrap();
    for i in 0..1000 {
        bl.blacklist_blocking(&format!("other-{i}"), token.exp())
            .unwrap();
    }
    let (parts, ()) = http::Request::get("/api/me/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();

    let users: HashMap<i64, User> = (1..=1000).map(|id| (id, user(id))).collect();
    let dk = jsonwebtoken::DecodingKey::from_secret(key.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;

    let mut g = c.benchmark_group("hs256_request");
    g.bench_function("baseline_jsonwebtoken_decode_plus_map", |b| {
        b.iter(|| {
            let header = parts
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap();
            let raw = header.strip_prefix("Bearer ").unwrap();
            let data = jsonwebtoken::decode::<Claims>(black_box(raw), &dk, &validation).unwrap();
            black_box(users.get(&data.claims.user_id).cloned())
        })
    });
    g.bench_function("restflow_verify_only", |b| {
        b.iter(|| black_box(AccessToken::verify(black_box(token.as_str()), jwt).unwrap()))
    });
    g.bench_function("restflow_jwt_authenticator", |b| {
        b.iter(|| {
            let req = Request::new(black_box(&parts));
            black_box(
                Jwt.authenticate_blocking(&req, auth.context())
                    .unwrap()
                    .unwrap(),
            )
        })
    });
    g.finish();
}

fn asymmetric(c: &mut Criterion) {
    let cases = [
        (
            "RS256",
            "rsa.pem",
            "rsa.pub.pem",
            jsonwebtoken::Algorithm::RS256,
        ),
        (
            "ES256",
            "ec256.pem",
            "ec256.pub.pem",
            jsonwebtoken::Algorithm::ES256,
        ),
        (
            "EdDSA",
            "ed25519.pem",
            "ed25519.pub.pem",
            jsonwebtoken::Algorithm::EdDSA,
        ),
    ];
    for (name, private, public, alg) in cases {
        let public_pem = keys_dir(public);
        let auth = auth(name, &keys_dir(private), Some(public_pem.clone()), false);
        let jwt = auth.context().store::<JwtState>().unwrap();
        let token = AccessToken::for_user(&user(7), jwt).unwrap();
        let dk = match alg {
            jsonwebtoken::Algorithm::ES256 => {
                jsonwebtoken::DecodingKey::from_ec_pem(public_pem.as_bytes())
            }
            jsonwebtoken::Algorithm::EdDSA => {
                jsonwebtoken::DecodingKey::from_ed_pem(public_pem.as_bytes())
            }
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()),
        }
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.leeway = 0;
        let mut g = c.benchmark_group(format!("{}_verify", name.to_lowercase()));
        g.bench_function("baseline_jsonwebtoken_decode", |b| {
            b.iter(|| {
                black_box(
                    jsonwebtoken::decode::<Claims>(black_box(token.as_str()), &dk, &validation)
                        .unwrap(),
                )
            })
        });
        g.bench_function("restflow_access_token_verify", |b| {
            b.iter(|| black_box(AccessToken::verify(black_box(token.as_str()), jwt).unwrap()))
        });
        g.finish();
    }
}

criterion_group!(benches, hs256, asymmetric);

/// The HS256 request loops alone, for instruction counting.
fn instruction_loop(spec: &str) {
    let (which, n) = spec
        .split_once(':')
        .expect("<baseline|restflow>:<iterations>");
    let n: u64 = n.parse().expect("iterations");
    let key = "bench-signing-key-0123456789abcdef0123456789abcdef";
    let auth = auth("HS256", key, None, true);
    let jwt = auth.context().store::<JwtState>().unwrap();
    // RESTFLOW_BENCH_TOKEN=family: an access token of a refresh family
    // (its jti and its family's entry are checked in one blacklist call).
    let token = match std::env::var("RESTFLOW_BENCH_TOKEN").as_deref() {
        Ok("family") => RefreshToken::for_user(&user(7), jwt)
            .unwrap()
            .access_token(jwt)
            .unwrap(),
        _ => AccessToken::for_user(&user(7), jwt).unwrap(),
    };
    let (parts, ()) = http::Request::get("/api/me/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    let users: HashMap<i64, User> = (1..=1000).map(|id| (id, user(id))).collect();
    let dk = jsonwebtoken::DecodingKey::from_secret(key.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    for _ in 0..n {
        if which == "baseline" {
            let header = parts
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap();
            let raw = header.strip_prefix("Bearer ").unwrap();
            let data = jsonwebtoken::decode::<Claims>(black_box(raw), &dk, &validation).unwrap();
            black_box(users.get(&data.claims.user_id).cloned());
        } else {
            let req = Request::new(black_box(&parts));
            black_box(
                Jwt.authenticate_blocking(&req, auth.context())
                    .unwrap()
                    .unwrap(),
            );
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var("RESTFLOW_BENCH_LOOP") {
        instruction_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
