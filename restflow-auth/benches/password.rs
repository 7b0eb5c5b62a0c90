//! Username enumeration by timing (issue 10): Basic authentication of a
//! known user with a wrong password against an unknown user, through the
//! `Basic` authenticator and the password executor, for the two hashers a
//! store holds in practice: Argon2id PHC strings (the default) and
//! Django's `pbkdf2_sha256` at 1,000,000 iterations (a Django table, with
//! `password.hasher = "pbkdf2_sha256"`). The two medians of a pair should
//! be within 10%: the dummy verification of an unknown user costs what a
//! real one costs.
//!
//! ```text
//! cargo bench -p restflow-auth --bench password
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use restflow_auth::dispatch::authenticate_blocking;
use restflow_auth::password::Hasher;
use restflow_auth::prelude::*;

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

fn auth(hasher: Hasher) -> Auth<User> {
    let mut s = Settings::default();
    s.password.hasher = hasher;
    s.login.lockout = false;
    let passwords = restflow_auth::password::Passwords::new(&s.password);
    let users = MemoryUserStore::new();
    users.insert(User {
        id: 1,
        username: "alice".into(),
        password: passwords.hash_blocking("alice-password").unwrap(),
        is_active: true,
        is_staff: false,
    });
    Auth::builder(s).users(users).build().unwrap()
}

fn basic(credentials: &str) -> http::request::Parts {
    use base64::Engine;
    let v = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    http::Request::get("/")
        .header("authorization", v)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn bench(c: &mut Criterion) {
    for (name, hasher) in [
        ("argon2id", Hasher::Argon2id),
        ("pbkdf2_sha256 1M", Hasher::Pbkdf2Sha256),
    ] {
        let auth = auth(hasher);
        let mut g = c.benchmark_group(format!("basic, {name}"));
        g.sample_size(10).warm_up_time(Duration::from_secs(1));
        for (case, credentials) in [
            ("known user, wrong password", "alice:wrong"),
            ("unknown user", "zed:wrong"),
        ] {
            let parts = basic(credentials);
            g.bench_function(case, |b| {
                b.iter(|| {
                    let r = authenticate_blocking::<User, (Basic,), (IsAuthenticated,)>(
                        &Request::new(&parts),
                        auth.context(),
                    );
                    black_box(r.is_err())
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
