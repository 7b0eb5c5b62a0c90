//! The JWT views, as an axum `Router` to nest: `POST token/` (obtain),
//! `POST token/refresh/`, `POST token/blacklist/`.
//!
//! ```
//! # use restflow_auth::prelude::*;
//! # use restflow_auth::jwt::MemoryBlacklist;
//! # #[derive(Clone, Debug, AuthUser)]
//! # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
//! #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
//! #   #[auth_user(is_staff)] staff: bool }
//! let settings = Settings::from_sources(Some(r#"
//!     [jwt]
//!     signing_key = "a-random-secret-of-at-least-32-bytes!"
//!     allow_local_blacklist = true
//! "#), []).unwrap();
//! let auth = Auth::<User>::builder(settings)
//!     .users(MemoryUserStore::new())
//!     .blacklist(MemoryBlacklist::new())
//!     .build()
//!     .unwrap();
//! let app: axum::Router = axum::Router::new().nest("/api/auth", auth.jwt_routes());
//! # let _ = app;
//! ```
//!
//! Answers, as drf-restflow's views (with the deliberate differences of the
//! README): 200 `{"access","refresh"}`; 400 with DRF's field errors
//! (`{"username":["This field is required."]}`); 401 with
//! `WWW-Authenticate` and `{"detail": ...}`; 204 for a blacklisted token; 405
//! `{"detail":"Method \"GET\" not allowed."}`; 413 and 415 for bodies the
//! views will not read; 503 when a store cannot be reached.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

use crate::authentication::jwt::{Lookup, check_user, lookup};
use crate::context::{Auth, Context};
use crate::dispatch::Denial;
use crate::error::{AuthError, Rejected, Rejection};
use crate::jwt::{JwtState, RefreshToken};
use crate::user::AuthUser;

/// drf-restflow's `USER_AUTHENTICATION_RULE` for the obtain view.
pub struct UserRule<U> {
    rule: Arc<dyn Fn(&U) -> bool + Send + Sync>,
}

impl<U> UserRule<U> {
    /// Wraps a rule.
    pub fn new(rule: impl Fn(&U) -> bool + Send + Sync + 'static) -> Self {
        UserRule {
            rule: Arc::new(rule),
        }
    }
}

impl<U> std::fmt::Debug for UserRule<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserRule")
    }
}

impl<U: AuthUser> Auth<U> {
    /// The obtain, refresh and blacklist views, to nest under a prefix.
    pub fn jwt_routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let ctx = Arc::clone(self.context());
        Router::new()
            .route("/token/", view(&ctx, obtain::<U>))
            .route("/token/refresh/", view(&ctx, refresh::<U>))
            .route("/token/blacklist/", view(&ctx, blacklist::<U>))
    }
}

type ViewFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
type View<U> = fn(Arc<Context<U>>, http::request::Parts, Map<String, Value>) -> ViewFuture;

fn view<U: AuthUser, S: Clone + Send + Sync + 'static>(
    ctx: &Arc<Context<U>>,
    f: View<U>,
) -> MethodRouter<S> {
    let ctx = Arc::clone(ctx);
    post(move |req: http::Request<Body>| {
        let ctx = Arc::clone(&ctx);
        async move {
            let (parts, body) = req.into_parts();
            match read_body(&ctx, &parts, body).await {
                Ok(data) => f(ctx, parts, data).await,
                Err(res) => res,
            }
        }
    })
    .fallback(|req: http::Request<Body>| async move {
        let detail = format!("Method \"{}\" not allowed.", req.method());
        let mut res = json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({ "detail": detail }).to_string(),
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        res
    })
}

fn json(status: StatusCode, body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn lang(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// A rejection with the JWT challenge (the views' `Bearer realm="api"`).
fn reject<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    error: AuthError,
) -> Response {
    let challenge = ctx.store::<JwtState>().map(|j| Cow::Owned(j.challenge()));
    Rejected::new(&Denial { error, challenge }, ctx.messages(), lang(parts)).into_response()
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a JSON or form body into an object, or answers as DRF would.
async fn read_body<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Map<String, Value>, Response> {
    let limit = ctx.settings().body_limit;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let e = AuthError::new(Rejection::PayloadTooLarge).arg("limit", limit.to_string());
            return Err(Rejected::new(&Denial::new(e), ctx.messages(), lang(parts)).into_response());
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    let raw_type = content_type.unwrap_or_default();
    let media = raw_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "non_field_errors": [format!("Invalid data. Expected a dictionary, but got {}.", python_type(&other))]
                })
                .to_string(),
            )),
            Err(e) => {
                let err = AuthError::new(Rejection::JsonParseError).arg("error", e.to_string());
                Err(Rejected::new(&Denial::new(err), ctx.messages(), lang(parts)).into_response())
            }
        },
        "application/x-www-form-urlencoded" => {
            let text = String::from_utf8_lossy(&bytes);
            let mut m = Map::new();
            for pair in text.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                m.insert(percent_decode(k), Value::String(percent_decode(v)));
            }
            Ok(m)
        }
        _ => {
            let err = AuthError::new(Rejection::UnsupportedMediaType).arg("media_type", raw_type);
            Err(Rejected::new(&Denial::new(err), ctx.messages(), lang(parts)).into_response())
        }
    }
}

/// DRF's `CharField` (trimmed): the value, or the field's error.
fn char_field(data: &Map<String, Value>, name: &str) -> Result<String, &'static str> {
    match data.get(name) {
        None => Err("This field is required."),
        Some(Value::Null) => Err("This field may not be null."),
        Some(Value::String(s)) if s.trim().is_empty() => Err("This field may not be blank."),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err("Not a valid string."),
    }
}

/// Reads fields in order; on any error, the 400 with every field's error.
fn fields<const N: usize>(
    data: &Map<String, Value>,
    names: [&str; N],
) -> Result<[String; N], Box<Response>> {
    let mut errors = String::new();
    let mut values: [String; N] = std::array::from_fn(|_| String::new());
    for (i, name) in names.iter().enumerate() {
        match char_field(data, name) {
            Ok(v) => values[i] = v,
            Err(e) => {
                errors.push(if errors.is_empty() { '{' } else { ',' });
                errors.push_str(&format!("{}:[{}]", Value::from(*name), Value::from(e)));
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        errors.push('}');
        Err(Box::new(json(StatusCode::BAD_REQUEST, errors)))
    }
}

fn pair(access: &str, refresh: Option<&str>) -> Response {
    let body = match refresh {
        Some(r) => format!(
            "{{\"access\":{},\"refresh\":{}}}",
            Value::from(access),
            Value::from(r)
        ),
        None => format!("{{\"access\":{}}}", Value::from(access)),
    };
    json(StatusCode::OK, body)
}

fn jwt_state<U: AuthUser>(ctx: &Context<U>) -> Result<&JwtState, AuthError> {
    crate::authentication::jwt::state(ctx)
}

fn obtain<U: AuthUser>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    data: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        let [username, password] = match fields(&data, ["username", "password"]) {
            Ok(v) => v,
            Err(res) => return *res,
        };
        let result: Result<Response, AuthError> = async {
            let jwt = jwt_state(&ctx)?;
            let user = ctx.users().find_by_username(&username).await?;
            let stored = user.as_ref().map(|u| u.password_hash().to_owned());
            let matches =
                crate::authentication::basic::verify_off_executor(password, stored).await?;
            let allowed = match (&user, matches) {
                (Some(u), true) => match ctx.store::<UserRule<U>>() {
                    Some(rule) => (rule.rule)(u),
                    None => u.is_active(),
                },
                _ => false,
            };
            let Some(user) = user.filter(|_| allowed) else {
                return Err(Rejection::NoActiveAccount.into());
            };
            let refresh = RefreshToken::for_user(&user, jwt)?;
            let access = refresh.access_token(jwt)?;
            Ok(pair(access.as_str(), Some(refresh.as_str())))
        }
        .await;
        result.unwrap_or_else(|e| reject(&ctx, &parts, e))
    })
}

fn refresh<U: AuthUser>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    data: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        let [raw] = match fields(&data, ["refresh"]) {
            Ok(v) => v,
            Err(res) => return *res,
        };
        let result: Result<Response, AuthError> = async {
            let jwt = jwt_state(&ctx)?;
            let token = RefreshToken::verify(&raw, jwt)?;
            let blacklist = jwt.checked_blacklist();
            if let Some(bl) = blacklist
                && !token.jti().is_empty()
                && bl.is_blacklisted(token.jti()).await?
            {
                return Err(Rejection::TokenBlacklisted.into());
            }
            // Unlike the reference, the user is loaded: deleted or inactive users get no tokens.
            let user = match lookup::<U>(jwt, token.user_id())? {
                Lookup::Id(id) => ctx.users().find_by_id(&id).await?,
                Lookup::Username(name) => ctx.users().find_by_username(&name).await?,
            };
            let user = user.ok_or(Rejection::UserNotFound)?;
            if !user.is_active() {
                return Err(Rejection::UserInactive.into());
            }
            check_user(jwt, Ok(Some(user)), token.verified().revoke.as_deref())?;
            if !jwt.settings().rotate_refresh_tokens {
                return Ok(pair(token.access_token(jwt)?.as_str(), None));
            }
            // Rotation: the old token is blacklisted atomically before any
            // new token exists, so of concurrent refreshes exactly one wins.
            if let Some(bl) = blacklist
                && !bl
                    .check_and_blacklist(token.jti(), jwt.keep_until(token.exp()))
                    .await?
            {
                return Err(Rejection::TokenBlacklisted.into());
            }
            let access = token.access_token(jwt)?;
            let rotated = token.rotate(jwt)?;
            Ok(pair(access.as_str(), Some(rotated.as_str())))
        }
        .await;
        result.unwrap_or_else(|e| reject(&ctx, &parts, e))
    })
}

fn blacklist<U: AuthUser>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    data: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        let [raw] = match fields(&data, ["refresh"]) {
            Ok(v) => v,
            Err(res) => return *res,
        };
        let result: Result<Response, AuthError> = async {
            let jwt = jwt_state(&ctx)?;
            let token = RefreshToken::verify(&raw, jwt)?;
            token.blacklist(jwt).await?;
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            Ok(res)
        }
        .await;
        result.unwrap_or_else(|e| reject(&ctx, &parts, e))
    })
}
