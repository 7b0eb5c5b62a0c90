//! The JWT views: obtain, refresh, blacklist.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value};

use super::{ViewFuture, check_password, fields, json, reject_with, view};
use crate::authentication::jwt::{check_user, lookup, state};
use crate::context::{Auth, Context};
use crate::error::{AuthError, Rejection};
use crate::jwt::cookie::JwtCookies;
use crate::jwt::family::{self, Admission};
use crate::jwt::{JwtState, RefreshToken};
use crate::user::AuthUser;

/// drf-restflow's `USER_AUTHENTICATION_RULE` for the obtain view.
pub struct UserRule<U> {
    pub(crate) rule: Arc<dyn Fn(&U) -> bool + Send + Sync>,
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

/// A rejection with the JWT challenge (the views' `Bearer realm="api"`).
fn reject<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    error: AuthError,
) -> Response {
    let challenge = ctx.store::<JwtState>().map(|j| Cow::Owned(j.challenge()));
    reject_with(ctx, parts, error, challenge)
}

/// `res` with the token cookies (`[jwt_cookie]`), when they are on.
fn with_cookies<U: AuthUser>(
    ctx: &Context<U>,
    mut res: Response,
    access: &str,
    refresh: Option<&str>,
) -> Response {
    if let Some(cookies) = ctx.store::<JwtCookies>() {
        for c in cookies.set(access, refresh) {
            res.headers_mut().append(http::header::SET_COOKIE, c);
        }
    }
    res
}

/// The refresh token: the body's `refresh`, or else (with `[jwt_cookie]`,
/// when the body has no such field) its cookie's, which must pass Django's
/// CSRF check (a browser sends the cookie with any request).
fn refresh_field<U: AuthUser>(
    ctx: &Context<U>,
    parts: &http::request::Parts,
    data: &Map<String, Value>,
) -> Result<String, Box<Response>> {
    if let Some(cookies) = ctx.store::<JwtCookies>()
        && !data.contains_key("refresh")
    {
        let req = super::buffered_request(parts);
        let from_cookie = cookies
            .refresh(&req)
            .and_then(|raw| match raw {
                Some(raw) => crate::authentication::session::enforce_csrf(&req, ctx)
                    .map(|()| Some(raw.into_owned())),
                None => Ok(None),
            })
            .map_err(|e| Box::new(reject(ctx, parts, e)))?;
        if let Some(raw) = from_cookie {
            return Ok(raw);
        }
    }
    fields(data, ["refresh"]).map(|[raw]| raw)
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
            let jwt = state(&ctx)?;
            if ctx.store::<JwtCookies>().is_some() {
                // The answer logs the browser in: login CSRF (rule 14).
                super::session::check_login_form(&ctx, &parts)?;
            }
            let user = check_password(&ctx, &parts, &username, password).await?;
            let allowed = match &user {
                Some(u) => match ctx.store::<UserRule<U>>() {
                    Some(rule) => (rule.rule)(u),
                    None => u.is_active(),
                },
                None => false,
            };
            let Some(user) = user.filter(|_| allowed) else {
                return Err(Rejection::NoActiveAccount.into());
            };
            let refresh = RefreshToken::for_user(&user, jwt)?;
            if let Some(bl) = jwt.checked_blacklist() {
                bl.outstand(&refresh.entry(jwt)).await?;
            }
            let access = refresh.access_token(jwt)?;
            Ok(with_cookies(
                &ctx,
                pair(access.as_str(), Some(refresh.as_str())),
                access.as_str(),
                Some(refresh.as_str()),
            ))
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
        let raw = match refresh_field(&ctx, &parts, &data) {
            Ok(v) => v,
            Err(res) => return *res,
        };
        let result: Result<Response, AuthError> = async {
            let jwt = state(&ctx)?;
            let token = RefreshToken::verify(&raw, jwt)?;
            let blacklist = jwt.checked_blacklist();
            // A revoked family, or a reuse (which revokes the family).
            let admission = match blacklist {
                Some(bl) => family::admit(jwt, bl, &token).await?,
                None => Admission::Fresh,
            };
            // Unlike the reference, the user is loaded: deleted or inactive users get no tokens.
            let user = ctx
                .users()
                .find(&lookup::<U>(jwt, token.user_id())?)
                .await?;
            let user = user.ok_or(Rejection::UserNotFound)?;
            if !user.is_active() {
                return Err(Rejection::UserInactive.into());
            }
            let user = check_user(jwt, Ok(Some(user)), token.verified().revoke.as_deref())?;
            // Logout everywhere ended the tokens issued before it: checked
            // after the new tokens exist, so a logout that lands meanwhile
            // is seen here, or else is later than their `iat`.
            let revoked = || async {
                match crate::revocation::revoked(&ctx, user.id(), token.verified().iat).await {
                    Ok(false) => Ok(()),
                    Ok(true) => Err(crate::revocation::token_revoked()),
                    Err(e) => Err(e),
                }
            };
            if !jwt.settings().rotate_refresh_tokens {
                let access = token.access_token(jwt)?;
                revoked().await?;
                return Ok(with_cookies(
                    &ctx,
                    pair(access.as_str(), None),
                    access.as_str(),
                    None,
                ));
            }
            // Rotation: the old token is blacklisted atomically before any
            // new token exists, so of concurrent refreshes exactly one wins;
            // a loser presented a token being rotated: a reuse (or, within
            // the grace window, a retry that gets the same successor).
            if let Some(bl) = blacklist
                && matches!(admission, Admission::Fresh)
            {
                family::rotate(jwt, bl, &token).await?;
            }
            let access = token.access_token(jwt)?;
            let rotated = token.rotate(jwt)?;
            if let Some(bl) = blacklist {
                bl.outstand(&rotated.entry(jwt)).await?;
            }
            revoked().await?;
            Ok(with_cookies(
                &ctx,
                pair(access.as_str(), Some(rotated.as_str())),
                access.as_str(),
                Some(rotated.as_str()),
            ))
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
        let raw = match refresh_field(&ctx, &parts, &data) {
            Ok(v) => v,
            Err(res) => return *res,
        };
        let result: Result<Response, AuthError> = async {
            let jwt = state(&ctx)?;
            let token = RefreshToken::verify(&raw, jwt)?;
            token.blacklist(jwt).await?;
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            if let Some(cookies) = ctx.store::<JwtCookies>() {
                for c in cookies.delete() {
                    res.headers_mut().append(http::header::SET_COOKIE, c);
                }
            }
            Ok(res)
        }
        .await;
        result.unwrap_or_else(|e| reject(&ctx, &parts, e))
    })
}
