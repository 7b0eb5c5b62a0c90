//! What the fuzz targets share: one configured `Auth` (users alice, bob
//! inactive, root staff; cheap PBKDF2 hashes so the password work does not
//! dominate), and a runner that sends one request through a chain on the
//! async and the blocking path and asserts they agree.

use std::sync::OnceLock;

use restflow_auth::jwt::MemoryBlacklist;
use restflow_auth::prelude::*;
use restflow_auth::session::MemorySessionStore;
use restflow_auth::settings::Secret;
use restflow_auth::token::MemoryTokenStore;

#[derive(Clone, Debug, AuthUser)]
pub struct User {
    #[auth_user(id)]
    pub id: i64,
    #[auth_user(username)]
    pub username: String,
    #[auth_user(password_hash)]
    pub password: String,
    #[auth_user(is_active)]
    pub is_active: bool,
    #[auth_user(is_staff)]
    pub is_staff: bool,
}

pub const JWT_KEY: &str = "fuzz-jwt-signing-key-0123456789abcdef0123456789";
pub const SJWT_KEY: &str = "fuzz-simplejwt-signing-key-fedcba9876543210fedcba";

/// The shared configuration (built once per process).
pub fn auth() -> &'static Auth<User> {
    static AUTH: OnceLock<Auth<User>> = OnceLock::new();
    AUTH.get_or_init(|| {
        let mut s = Settings::default();
        s.jwt.signing_key = Some(Secret::new(JWT_KEY));
        s.jwt.allow_local_blacklist = true;
        s.simplejwt.signing_key = Some(Secret::new(SJWT_KEY));
        s.password.hasher = restflow_auth::password::Hasher::Pbkdf2Sha256;
        s.password.iterations = 1000;
        s.login.lockout = false;
        let users = MemoryUserStore::new();
        for (id, name, active, staff) in [
            (1, "alice", true, false),
            (2, "bob", false, false),
            (3, "root", true, true),
        ] {
            users.insert(User {
                id,
                username: name.into(),
                password: restflow_auth::password::django_pbkdf2_sha256(
                    &format!("{name}-pw"),
                    "salt",
                    1000,
                ),
                is_active: active,
                is_staff: staff,
            });
        }
        let tokens = MemoryTokenStore::new();
        tokens.insert_key("a11ce0000000000000000000000000000000a11c", 1);
        Auth::builder(s)
            .users(users)
            .tokens(tokens)
            .sessions(MemorySessionStore::new())
            .blacklist(MemoryBlacklist::new())
            .build()
            .expect("valid")
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

/// (status, detail or `user:<name>`): what a chain answers.
pub type Answer = (u16, String);

/// Sends `parts` through chain `C` (IsAuthenticated) on both paths;
/// panics if they disagree or if either answers 5xx.
pub fn both_paths<C: restflow_auth::Chain<User>>(parts: &http::request::Parts) -> Answer {
    both_paths_with_body::<C>(parts, None)
}

/// [`both_paths`] with a buffered body.
pub fn both_paths_with_body<C: restflow_auth::Chain<User>>(
    parts: &http::request::Parts,
    body: Option<&[u8]>,
) -> Answer {
    use restflow_auth::dispatch::{authenticate, authenticate_blocking};
    let show = |r: Result<
        restflow_auth::dispatch::Identity<User>,
        restflow_auth::dispatch::Denial,
    >| match r {
        Ok(id) => (200, format!("user:{}", id.user.username())),
        Err(d) => (d.status().as_u16(), d.error.to_string()),
    };
    let mut req = Request::new(parts);
    if let Some(b) = body {
        req = req.with_body(b);
    }
    let a = show(
        runtime().block_on(authenticate::<User, C, (IsAuthenticated,)>(
            &req,
            auth().context(),
        )),
    );
    let b = show(authenticate_blocking::<User, C, (IsAuthenticated,)>(
        &req,
        auth().context(),
    ));
    assert_eq!(a, b, "the async and blocking paths disagree");
    assert!(a.0 < 500, "a server error for input: {a:?}");
    a
}

/// Splits fuzz input into fields at `0xff 0x00` (a pair no header value has).
pub fn fields(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(2).position(|w| w == [0xff, 0x00]) {
        out.push(&rest[..i]);
        rest = &rest[i + 2..];
    }
    out.push(rest);
    out
}

/// A header value from fuzz bytes, when `http` accepts it as one.
pub fn header(bytes: &[u8]) -> Option<http::HeaderValue> {
    http::HeaderValue::from_bytes(bytes).ok()
}

/// Runs a future on the shared runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}
