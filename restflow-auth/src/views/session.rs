//! The session views: login, logout, and the CSRF cookie.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json as j};

use super::{ViewFuture, check_password, fields, json, lang, reject_with, view};
use crate::authentication::session::{Session, store};
use crate::authentication::{Authenticator, Outcome};
use crate::context::{Auth, Context};
use crate::dispatch::Denial;
use crate::error::{AuthError, Rejected, Rejection};
use crate::request::Request;
use crate::session::{cookie, csrf};
use crate::user::{AuthUser, UserId};

/// Django's `CSRF_COOKIE_AGE`: one year.
const CSRF_COOKIE_AGE: u64 = 31_449_600;

impl<U: AuthUser> Auth<U> {
    /// `POST session/login/`, `POST session/logout/` and `GET csrf/`, to
    /// nest under a prefix (the parity contract nests the first two under
    /// `/api/auth` and the last under `/api`: see [`Auth::csrf_routes`]).
    pub fn session_routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let ctx = Arc::clone(self.context());
        Router::new()
            .route("/session/login/", view(&ctx, login::<U>))
            .route("/session/logout/", view(&ctx, logout::<U>))
    }

    /// `GET csrf/`: sets the CSRF cookie and answers `{"csrftoken": <masked token>}`.
    pub fn csrf_routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let ctx = Arc::clone(self.context());
        Router::new().route(
            "/csrf/",
            get(move |req: http::Request<Body>| {
                let ctx = Arc::clone(&ctx);
                async move { csrf_view(&ctx, req) }
            }),
        )
    }
}

fn cookie_header<U: AuthUser>(
    ctx: &Context<U>,
    name: &str,
    value: &str,
    max_age: u64,
    http_only: bool,
) -> HeaderValue {
    let s = &ctx.settings().session;
    let mut c = format!("{name}={value}; Max-Age={max_age}; Path=/; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if s.cookie_secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie names and values are checked")
}

fn valid_secret(v: &str) -> bool {
    v.len() == csrf::SECRET_LENGTH && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn csrf_view<U: AuthUser>(ctx: &Context<U>, req: http::Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let s = &ctx.settings().session;
    let existing = cookie(&Request::new(&parts), &s.csrf_cookie_name).filter(|v| valid_secret(v));
    let secret = existing.map_or_else(csrf::new_secret, str::to_owned);
    let mut res = json(
        StatusCode::OK,
        j!({ "csrftoken": csrf::mask(&secret) }).to_string(),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(ctx, &s.csrf_cookie_name, &secret, CSRF_COOKIE_AGE, false),
    );
    res
}

fn login<U: AuthUser>(
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
            let sessions = store(&ctx)?;
            let user = check_password(&ctx, &username, password).await?;
            // A route without authenticators: AuthenticationFailed is a 403.
            let user = user
                .filter(AuthUser::is_active)
                .ok_or(Rejection::InvalidUsernamePassword)?;
            let s = &ctx.settings().session;
            let previous = cookie(&Request::new(&parts), &s.cookie_name);
            let key = crate::session::login(sessions, s, &user, previous).await?;
            let body = j!({ "id": user.id().to_json(), "username": user.username() }).to_string();
            let mut res = json(StatusCode::OK, body);
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookie_header(&ctx, &s.cookie_name, &key, s.cookie_age_s, true),
            );
            // Django rotates the CSRF secret at login.
            h.append(
                header::SET_COOKIE,
                cookie_header(
                    &ctx,
                    &s.csrf_cookie_name,
                    &csrf::new_secret(),
                    CSRF_COOKIE_AGE,
                    false,
                ),
            );
            Ok(res)
        }
        .await;
        result.unwrap_or_else(|e| reject_with(&ctx, &parts, e, None))
    })
}

fn logout<U: AuthUser>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    _: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        // Session-authenticated: a logged-in POST must pass the CSRF check.
        let outcome: Outcome<U> = Session.authenticate(&Request::new(&parts), &ctx).await;
        let result: Result<Response, AuthError> = async {
            let found = outcome?;
            let s = &ctx.settings().session;
            if found.is_some()
                && let Some(key) = cookie(&Request::new(&parts), &s.cookie_name)
            {
                crate::session::logout(store(&ctx)?, key).await?;
            }
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let clear = format!(
                "{}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
                s.cookie_name
            );
            res.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_str(&clear).expect("checked name"),
            );
            Ok(res)
        }
        .await;
        result.unwrap_or_else(|e| {
            Rejected::new(&Denial::new(e), ctx.messages(), lang(&parts)).into_response()
        })
    })
}
