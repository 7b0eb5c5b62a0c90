//! The user model, stores and small authenticators the tests share.

use std::borrow::Cow;

use restflow_auth::prelude::*;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, AuthUser)]
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

pub fn user(id: i64, name: &str, active: bool, staff: bool) -> User {
    User {
        id,
        username: name.into(),
        password: String::new(),
        is_active: active,
        is_staff: staff,
    }
}

/// alice (1, active), bob (2, inactive), root (3, staff).
pub fn users() -> MemoryUserStore<User> {
    let store = MemoryUserStore::new();
    store.insert(user(1, "alice", true, false));
    store.insert(user(2, "bob", false, false));
    store.insert(user(3, "root", true, true));
    store
}

pub fn auth() -> Auth<User> {
    Auth::builder(Settings::default())
        .users(users())
        .build()
        .expect("valid")
}

/// `X-User: <name>`: not mine without the header; an unknown name fails.
/// Offers the challenge `Header realm="test"`.
#[derive(Default)]
pub struct HeaderUser;

#[restflow_auth::authenticator]
impl Authenticator<User> for HeaderUser {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<User>) -> Outcome<User> {
        let Some(name) = req.header("x-user") else {
            return Ok(None);
        };
        match ctx.users().find_by_username(name).await? {
            Some(user) => Ok(Some(Authenticated::new(user, format!("header:{name}")))),
            None => Err(AuthError::new(Rejection::UserNotFound)),
        }
    }

    fn authenticate_header(&self, _: &Context<User>) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed("Header realm=\"test\""))
    }
}

/// `X-Session: <id>`, like DRF's Session: no challenge, so 403s.
#[derive(Default)]
pub struct SessionLike;

#[restflow_auth::authenticator]
impl Authenticator<User> for SessionLike {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<User>) -> Outcome<User> {
        let Some(raw) = req.header("x-session") else {
            return Ok(None);
        };
        let id: i64 = raw.parse().map_err(|_| AuthError::failed("Bad session."))?;
        let user = ctx.users().find_by_id(&id).await?;
        let user = user.ok_or(Rejection::UserInactiveOrDeleted)?;
        Ok(Some(Authenticated::user_only(user)))
    }
}

/// Fails every request that carries `X-Reject`; counts how often it ran.
#[derive(Default)]
pub struct Rejecting;

pub static REJECTING_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[restflow_auth::authenticator]
impl Authenticator<User> for Rejecting {
    async fn authenticate(&self, req: &Request<'_>, _: &Context<User>) -> Outcome<User> {
        REJECTING_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if req.header("x-reject").is_some() {
            return Err(AuthError::failed("Rejected."));
        }
        Ok(None)
    }

    fn authenticate_header(&self, _: &Context<User>) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed("Reject"))
    }
}

/// A store whose every answer is "unreachable".
#[derive(Clone, Debug, Default)]
pub struct DownStore;

impl UserStore<User> for DownStore {
    async fn find_by_id(&self, _: &i64) -> Result<Option<User>, AuthError> {
        Err(AuthError::unavailable("connection refused (127.0.0.1:1)"))
    }
    async fn find_by_username(&self, _: &str) -> Result<Option<User>, AuthError> {
        Err(AuthError::unavailable("connection refused (127.0.0.1:1)"))
    }
    fn find_by_id_blocking(&self, _: &i64) -> Result<Option<User>, AuthError> {
        Err(AuthError::unavailable("connection refused (127.0.0.1:1)"))
    }
    fn find_by_username_blocking(&self, _: &str) -> Result<Option<User>, AuthError> {
        Err(AuthError::unavailable("connection refused (127.0.0.1:1)"))
    }
}

/// Staff or a user named "alice".
#[derive(Default)]
pub struct IsAliceOrStaff;

impl Permission<User> for IsAliceOrStaff {
    fn has_permission(&self, _: &Request<'_>, user: &RequestUser<User>) -> bool {
        user.is_staff() || user.username() == "alice"
    }
    fn message(&self) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed("Only Alice may do this."))
    }
}

/// Runs chain `C` and permissions `P` on one request through the async path
/// and through the blocking path on a thread without a runtime, asserts
/// they agree, and answers `(status, WWW-Authenticate, detail or "user:<name>")`.
pub fn both_paths<C, P>(
    auth: &Auth<User>,
    method: &str,
    headers: &[(&str, &[u8])],
) -> (u16, Option<String>, String)
where
    C: restflow_auth::Chain<User>,
    P: restflow_auth::permissions::PermissionSet<User>,
{
    use restflow_auth::dispatch::{Denial, Identity, authenticate, authenticate_blocking};
    let mut b = http::Request::builder().method(method).uri("/");
    for (k, v) in headers {
        b = b.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let show = |r: Result<Identity<User>, Denial>| match r {
        Ok(id) => (200, None, format!("user:{}", id.user.username())),
        Err(d) => (
            d.status().as_u16(),
            d.www_authenticate().map(str::to_owned),
            d.error.to_string(),
        ),
    };
    // Timers and I/O on: a SQL or Redis store answers the async path.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = show(rt.block_on(authenticate::<User, C, P>(
        &Request::new(&parts),
        auth.context(),
    )));
    let b = std::thread::scope(|s| {
        s.spawn(|| {
            assert!(
                tokio::runtime::Handle::try_current().is_err(),
                "no runtime on this thread"
            );
            show(authenticate_blocking::<User, C, P>(
                &Request::new(&parts),
                auth.context(),
            ))
        })
        .join()
        .unwrap()
    });
    assert_eq!(a, b, "async and blocking paths disagree");
    a
}

/// Chain `C` with `IsAuthenticated` on a GET with `header`: the async path
/// on the caller's runtime, then the blocking path on a thread without
/// one, each allowed its own answer (a revocation may land between them);
/// `(status, user name or detail)` for each.
pub async fn each_path<C: restflow_auth::Chain<User>>(
    auth: &Auth<User>,
    header: (&str, String),
) -> [(u16, String); 2] {
    use restflow_auth::dispatch::{Denial, Identity, authenticate, authenticate_blocking};
    use restflow_auth::permissions::IsAuthenticated;
    let (parts, ()) = http::Request::get("/")
        .header(header.0, header.1)
        .body(())
        .unwrap()
        .into_parts();
    let show = |r: Result<Identity<User>, Denial>| match r {
        Ok(id) => (200, id.user.username().to_owned()),
        Err(d) => (d.status().as_u16(), d.error.to_string()),
    };
    let a = show(
        authenticate::<User, C, (IsAuthenticated,)>(&Request::new(&parts), auth.context()).await,
    );
    let b = crate::stores::off_runtime(|| {
        show(authenticate_blocking::<User, C, (IsAuthenticated,)>(
            &Request::new(&parts),
            auth.context(),
        ))
    });
    [a, b]
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP answer: status, headers, the body as text and as JSON (`Null`
/// when it is not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                v.strip_prefix(&format!("{name}="))
                    .map(|r| r.split(';').next().unwrap().to_owned())
            })
    }
}

/// One HTTP/1.1 request over a plain TCP connection.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    std::io::Write::write_all(&mut stream, req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, payload) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(payload).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        text: payload.to_owned(),
        body,
    }
}
