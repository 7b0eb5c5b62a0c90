//! A property (issue 10 item 5): on random requests, the async and the
//! blocking paths of every built-in authenticator give identical answers,
//! and none is a server error. The requests mix valid and broken
//! credentials of every scheme, repeated headers, cookies, origins and
//! methods.

use proptest::prelude::*;
use restflow_auth::jwt::{AccessToken, MemoryBlacklist};
use restflow_auth::prelude::*;
use restflow_auth::session::MemorySessionStore;
use restflow_auth::token::MemoryTokenStore;

use crate::common::{User, both_paths};
use crate::jwt::{settings_with, users};

struct World {
    auth: Auth<User>,
    access: String,
    session: String,
}

fn world() -> &'static World {
    static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let mut s = settings_with(|_| {});
        s.simplejwt.signing_key = Some(restflow_auth::settings::Secret::new(crate::jwt::KEY));
        s.password.hasher = restflow_auth::password::Hasher::Pbkdf2Sha256;
        s.password.iterations = 1000;
        s.login.lockout = false;
        let tokens = MemoryTokenStore::new();
        tokens.insert_key("a11ce0000000000000000000000000000000a11c", 1);
        let sessions = MemorySessionStore::new();
        let auth = Auth::<User>::builder(s.clone())
            .users(users())
            .tokens(tokens)
            .sessions(sessions.clone())
            .blacklist(MemoryBlacklist::new())
            .build()
            .unwrap();
        let jwt = auth
            .context()
            .store::<restflow_auth::jwt::JwtState>()
            .unwrap();
        let alice = users().find_by_username_blocking("alice").unwrap().unwrap();
        let access = AccessToken::for_user(&alice, jwt)
            .unwrap()
            .as_str()
            .to_owned();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let store = restflow_auth::session::Sessions::new(sessions);
        let session = rt
            .block_on(restflow_auth::session::login(
                &store, &s.session, &alice, None,
            ))
            .unwrap();
        World {
            auth,
            access,
            session,
        }
    })
}

/// A header value: one of the interesting ones, bent a little.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let w = world();
    let base = prop::sample::select(vec![
        format!("Bearer {}", w.access),
        "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMQ==".to_owned(),
        "Basic YWxpY2U6bm9wZQ==".to_owned(),
        "Token a11ce0000000000000000000000000000000a11c".to_owned(),
        "Token".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("sessionid={}", w.session),
        format!(
            "sessionid={}; csrftoken=abcdefghijklmnopqrstuvwxyzABCDEF",
            w.session
        ),
        "http://testserver".to_owned(),
        "http://evil.example".to_owned(),
        "abcdefghijklmnopqrstuvwxyzABCDEF".to_owned(),
        "alice".to_owned(),
        String::new(),
    ]);
    (base, prop::collection::vec(any::<u8>(), 0..3), any::<u8>()).prop_map(|(b, noise, how)| {
        let mut v = b.into_bytes();
        match how % 4 {
            0 => {}
            1 => v.extend_from_slice(&noise),
            2 if !v.is_empty() => {
                let at = usize::from(how) % v.len();
                v.truncate(at);
            }
            _ => {
                v.splice(0..0, noise);
            }
        }
        v.retain(|b| *b != b'\r' && *b != b'\n' && *b != 0 && *b != 0x7f);
        v
    })
}

fn request() -> impl Strategy<Value = (String, Vec<(&'static str, Vec<u8>)>)> {
    let names = prop::sample::select(vec![
        "authorization",
        "cookie",
        "origin",
        "referer",
        "x-csrftoken",
        "x-remote-user",
        "host",
    ]);
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]);
    (method, prop::collection::vec((names, value()), 0..5)).prop_map(|(m, h)| (m.to_owned(), h))
}

fn check(method: &str, headers: &[(&'static str, Vec<u8>)]) {
    let auth = &world().auth;
    let h: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(_, v)| http::HeaderValue::from_bytes(v).is_ok())
        .map(|(k, v)| (*k, v.as_slice()))
        .collect();
    for answer in [
        both_paths::<(Jwt, Session), (IsAuthenticated,)>(auth, method, &h),
        both_paths::<(Session, Jwt), (IsAuthenticatedOrReadOnly,)>(auth, method, &h),
        both_paths::<(Basic, Token), (IsAuthenticated,)>(auth, method, &h),
        both_paths::<(SimpleJwt, RemoteUser), (AllowAny,)>(auth, method, &h),
    ] {
        assert!(
            answer.0 < 500,
            "a server error for {method} {headers:?}: {answer:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn async_and_blocking_paths_agree_on_random_requests((method, headers) in request()) {
        check(&method, &headers);
    }
}
