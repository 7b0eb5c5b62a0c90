//! The views, as axum `Router`s to nest: the JWT views ([`Auth::jwt_routes`](crate::Auth::jwt_routes):
//! `POST token/`, `POST token/refresh/`, `POST token/blacklist/`), and the
//! session views ([`Auth::session_routes`](crate::Auth::session_routes): `POST session/login/`,
//! `POST session/logout/`, `GET csrf/`).
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

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::dispatch::Denial;
use crate::error::{AuthError, Rejected, Rejection};
use crate::user::AuthUser;

#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod jwt;
mod logout_everywhere;
mod session;

#[cfg(feature = "jwt")]
pub use self::jwt::UserRule;

pub(crate) type ViewFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
type View<U> = fn(Arc<Context<U>>, http::request::Parts, Map<String, Value>) -> ViewFuture;

pub(crate) fn view<U: AuthUser, S: Clone + Send + Sync + 'static>(
    ctx: &Arc<Context<U>>,
    f: View<U>,
) -> MethodRouter<S> {
    let ctx = Arc::clone(ctx);
    post(move |req: http::Request<Body>| {
        let ctx = Arc::clone(&ctx);
        async move {
            let (mut parts, body) = req.into_parts();
            if let Err(e) = crate::negotiation::negotiate(
                &crate::request::Request::new(&parts),
                &ctx.settings().renderer_media_types,
            ) {
                return reject_with(&ctx, &parts, e, None);
            }
            match read_body(&ctx, &mut parts, body).await {
                Ok(data) => f(ctx, parts, data).await,
                Err(res) => res,
            }
        }
    })
    .fallback(move |req: http::Request<Body>| async move {
        let (parts, _) = req.into_parts();
        let catalog = parts
            .extensions
            .get::<Arc<Context<U>>>()
            .map(|c| c.messages().clone());
        let mut res =
            crate::layer::method_not_allowed(&parts.method, catalog.as_ref(), lang(&parts));
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        res
    })
}

pub(crate) fn json(status: StatusCode, body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The view's request with the body [`read_body`] buffered (a CSRF token
/// may come in a form field).
pub(crate) fn buffered_request(parts: &http::request::Parts) -> crate::request::Request<'_> {
    let req = crate::request::Request::new(parts);
    match parts.extensions.get::<crate::layer::BufferedBody>() {
        Some(b) => req.with_body(b.as_ref()),
        None => req,
    }
}

pub(crate) fn lang(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
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

/// Reads a JSON or form body into an object, or answers as DRF would. The
/// bytes stay in the request's extensions as a
/// [`BufferedBody`](crate::layer::BufferedBody) (the CSRF check of a form
/// post reads its token field).
pub(crate) async fn read_body<U: AuthUser>(
    ctx: &Context<U>,
    parts: &mut http::request::Parts,
    body: Body,
) -> Result<Map<String, Value>, Response> {
    let limit = ctx.settings().body_limit;
    let too_large = |parts: &http::request::Parts| {
        let e = AuthError::new(Rejection::PayloadTooLarge).arg("limit", limit.to_string());
        Rejected::new(&Denial::new(e), ctx.messages(), lang(parts)).into_response()
    };
    // A declared length over the limit is refused before a byte is read.
    if crate::layer::declared_length(parts).is_some_and(|n| n > limit as u64) {
        return Err(too_large(parts));
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return Err(too_large(parts)),
    };
    parts
        .extensions
        .insert(crate::layer::BufferedBody(bytes.clone()));
    let req = crate::request::Request::new(parts);
    let unsupported = |raw: String| {
        let err = AuthError::new(Rejection::UnsupportedMediaType).arg("media_type", raw);
        Rejected::new(&Denial::new(err), ctx.messages(), lang(parts)).into_response()
    };
    let media = match crate::request::body_type(&req) {
        Ok(m) => m,
        // A repeated or unreadable Content-Type: no parser takes it.
        Err(raw) => return Err(unsupported(raw)),
    };
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match media.as_deref() {
        Some("application/json") => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            // DRF's serializer given `None`.
            Ok(Value::Null) => Err(json(
                StatusCode::BAD_REQUEST,
                r#"{"non_field_errors":["No data provided"]}"#.to_owned(),
            )),
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
        // The last value of a repeated field wins, as `QueryDict.get`.
        Some(crate::request::FORM) => match crate::request::form_pairs(&bytes) {
            Some(pairs) => Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
            None => {
                let err = AuthError::new(Rejection::TooManyFields)
                    .arg("limit", crate::request::MAX_FORM_FIELDS.to_string());
                Err(Rejected::new(&Denial::new(err), ctx.messages(), lang(parts)).into_response())
            }
        },
        _ => {
            let raw = req.meta(http::header::CONTENT_TYPE).unwrap_or_default().into_owned();
            Err(unsupported(raw))
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
pub(crate) fn fields<const N: usize>(
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

/// A rejection rendered with `challenge` (the views have no chain).
pub(crate) fn reject_with<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    error: AuthError,
    challenge: Option<Cow<'static, str>>,
) -> Response {
    Rejected::new(&Denial { error, challenge }, ctx.messages(), lang(parts)).into_response()
}

/// The user named `username` if `password` is theirs; the check runs on
/// the bounded password executor, costs the same when there is no such
/// user, and is counted by the login lockout.
pub(crate) async fn check_password<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    username: &str,
    password: String,
) -> Result<Option<U>, AuthError> {
    let req = crate::request::Request::new(parts);
    let (user, matches) = crate::password::check_login(&req, ctx, username, password).await?;
    Ok(user.filter(|_| matches))
}
