//! The session views: login, logout, and the CSRF cookie.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json as j};

use super::{ViewFuture, check_password, fields, json, lang, reject_with, view};
use crate::authentication::session::{Session, csrf_check, request_host, store};
use crate::authentication::{Authenticator, Outcome};
use crate::context::{Auth, Context};
use crate::dispatch::Denial;
use crate::error::{AuthError, Rejected, Rejection};
use crate::request::Request;
use crate::session::{cookie, cookies, csrf, valid_key};
use crate::user::{AuthUser, UserId};

use crate::layer::CSRF_COOKIE_AGE;

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

fn set_cookie<U: AuthUser>(
    ctx: &Context<U>,
    name: &str,
    value: &str,
    max_age: u64,
    http_only: bool,
) -> HeaderValue {
    cookies::set_cookie(
        name,
        value,
        max_age,
        http_only,
        ctx.settings().session.cookie_secure,
    )
}

/// Django's `get_token`: the secret of a well-formed CSRF cookie (a 64
/// character one unmasked), else a new secret; the cookie is (re)set.
fn csrf_view<U: AuthUser>(ctx: &Context<U>, req: http::Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    if let Err(e) =
        crate::negotiation::negotiate(&Request::new(&parts), &ctx.settings().renderer_media_types)
    {
        return reject_with(ctx, &parts, e, None);
    }
    let s = &ctx.settings().session;
    let existing = cookie(&Request::new(&parts), &s.csrf_cookie_name)
        .filter(|v| csrf::is_well_formed(v))
        .map(|v| csrf::secret_of(&v));
    let secret = existing.unwrap_or_else(csrf::new_secret);
    let mut res = json(
        StatusCode::OK,
        j!({ "csrftoken": csrf::mask(&secret) }).to_string(),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(ctx, &s.csrf_cookie_name, &secret, CSRF_COOKIE_AGE, false),
    );
    res
}

/// Login CSRF (DRF-BEHAVIOUR.md rule 14): an HTML form posted to the login
/// view from another site would log the browser in as the attacker. A form
/// body must come from this origin or a trusted one, judged by `Origin`, or
/// without it by `Referer` (a client that sends neither is not a browser
/// form). JSON bodies cannot be sent cross-site without CORS.
pub(super) fn check_login_form<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
) -> Result<(), AuthError> {
    let req = Request::new(parts);
    if !crate::request::is_form(&req) {
        return Ok(());
    }
    let (origin, referer, host) = (
        req.meta(http::header::ORIGIN),
        req.meta(http::header::REFERER),
        request_host(&req),
    );
    csrf_check(ctx, origin.as_deref(), referer.as_deref(), host.as_deref())
        .check_form_source()
        .map_err(AuthError::csrf)
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
            check_login_form(&ctx, &parts)?;
            let sessions = store(&ctx)?;
            let user = check_password(&ctx, &parts, &username, password).await?;
            // A route without authenticators: AuthenticationFailed is a 403.
            let user = user
                .filter(AuthUser::is_active)
                .ok_or(Rejection::InvalidUsernamePassword)?;
            let s = &ctx.settings().session;
            let previous = cookie(&Request::new(&parts), &s.cookie_name);
            let key = crate::session::login(sessions, s, &user, previous.as_deref()).await?;
            let body = j!({ "id": user.id().to_json(), "username": user.username() }).to_string();
            let mut res = json(StatusCode::OK, body);
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&ctx, &s.cookie_name, &key, s.cookie_age_s, true),
            );
            // Django rotates the CSRF secret at login.
            h.append(
                header::SET_COOKIE,
                set_cookie(
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

/// Django's `logout`: the session is flushed, and a request that carried a
/// session cookie gets it deleted; one that carried none gets no cookie.
fn logout<U: AuthUser>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    _: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        // Session-authenticated: a logged-in POST must pass the CSRF check,
        // whose token may come in the form body.
        let req = super::buffered_request(&parts);
        let outcome: Outcome<U> = Session.authenticate(&req, &ctx).await;
        let result: Result<Response, AuthError> = async {
            outcome?;
            let s = &ctx.settings().session;
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            if let Some(key) = cookie(&req, &s.cookie_name) {
                if valid_key(&key) {
                    crate::session::logout(store(&ctx)?, &key).await?;
                }
                res.headers_mut()
                    .append(header::SET_COOKIE, cookies::delete_cookie(&s.cookie_name));
            }
            Ok(res)
        }
        .await;
        result.unwrap_or_else(|e| {
            Rejected::new(&Denial::new(e), ctx.messages(), lang(&parts)).into_response()
        })
    })
}
