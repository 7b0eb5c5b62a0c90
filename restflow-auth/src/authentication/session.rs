//! DRF's `SessionAuthentication`: the `sessionid` cookie, with Django's CSRF
//! checks on authenticated unsafe requests.
//!
//! | request | answer |
//! | --- | --- |
//! | no session cookie, an unknown or expired session, a password changed since login | not mine (anonymous) |
//! | the session of an inactive or deleted user | 403 `User inactive or deleted.` (DRF skips) |
//! | logged in, GET/HEAD/OPTIONS/TRACE | the user, no CSRF check |
//! | logged in, unsafe method, CSRF check fails | 403 `CSRF Failed: <Django's reason>` |
//!
//! There is no challenge, so a chain that starts with `Session` answers 403.
//! The CSRF check follows Django: the `Origin` (when sent) must be this host
//! or one of `session.csrf_trusted_origins`; over HTTPS (`session.cookie_secure`
//! says the service is served so) a request without `Origin` needs a
//! matching `https` `Referer`; then the `csrftoken` cookie;
//! then the token from the `csrfmiddlewaretoken` form field (when the body
//! was buffered) or the `X-CSRFToken` header, plain or masked.

use subtle::ConstantTimeEq;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::Request;
use crate::session::csrf::{self, Source};
use crate::session::{SessionData, Sessions, auth_hash, cookie};
use crate::user::{AuthUser, StoreResult, UserId};

/// Session authentication (Django's session cookie), with CSRF.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session;

/// The session key that authenticated a request (the credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKey(pub String);

pub(crate) fn store<U: AuthUser>(ctx: &Context<U>) -> Result<&Sessions, AuthError> {
    ctx.store::<Sessions>().ok_or_else(|| {
        AuthError::internal("no session store: call `.sessions(store)` on the builder")
    })
}

/// The form field of a buffered `application/x-www-form-urlencoded` POST.
fn form_token<'a>(req: &Request<'a>) -> Option<String> {
    let ct = req.header("content-type")?;
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return None;
    }
    let body = std::str::from_utf8(req.body()?).ok()?;
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "csrfmiddlewaretoken")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Django's `CsrfViewMiddleware` as DRF calls it.
pub fn enforce_csrf<U: AuthUser>(req: &Request<'_>, ctx: &Context<U>) -> Result<(), AuthError> {
    if req.is_safe_method() {
        return Ok(());
    }
    let s = &ctx.settings().session;
    let host = req
        .header("host")
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let scheme = if s.cookie_secure { "https" } else { "http" };
    let good_origin = format!("{scheme}://{host}");
    let form = if req.method() == http::Method::POST {
        form_token(req)
    } else {
        None
    };
    let header = req.header(&s.csrf_header_name).filter(|v| !v.is_empty());
    let source = match (&form, header) {
        (Some(f), _) => Some(Source::Form(f)),
        (None, Some(h)) => Some(Source::Header(h, &s.csrf_header_name)),
        (None, None) => None,
    };
    csrf::check(
        req.header("origin"),
        req.header("referer"),
        s.cookie_secure,
        &good_origin,
        &s.csrf_trusted_origins,
        cookie(req, &s.csrf_cookie_name),
        source,
    )
    .map_err(AuthError::csrf)
}

fn conclude<U: AuthUser>(
    req: &Request<'_>,
    ctx: &Context<U>,
    key: &str,
    data: &SessionData,
    user: StoreResult<Option<U>>,
) -> Outcome<U> {
    let user = user?.ok_or(Rejection::UserInactiveOrDeleted)?;
    if !user.is_active() {
        return Err(Rejection::UserInactiveOrDeleted.into());
    }
    // A password changed since login ends the session: anonymous, as Django.
    if !bool::from(
        auth_hash(user.password_hash())
            .as_bytes()
            .ct_eq(data.auth_hash.as_bytes()),
    ) {
        return Ok(None);
    }
    enforce_csrf(req, ctx)?;
    Ok(Some(Authenticated::new(user, SessionKey(key.to_owned()))))
}

impl<U: AuthUser> Authenticator<U> for Session {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let sessions = store(ctx)?;
        let Some(key) = cookie(req, &ctx.settings().session.cookie_name) else {
            return Ok(None);
        };
        let Some(data) = sessions.load(key).await? else {
            return Ok(None);
        };
        let user = match U::Id::from_json(&data.user_id) {
            Some(id) => ctx.users().find_by_id(&id).await,
            None => Ok(None),
        };
        conclude(req, ctx, key, &data, user)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let sessions = store(ctx)?;
        let Some(key) = cookie(req, &ctx.settings().session.cookie_name) else {
            return Ok(None);
        };
        let Some(data) = sessions.load_blocking(key)? else {
            return Ok(None);
        };
        let user = match U::Id::from_json(&data.user_id) {
            Some(id) => ctx.users().find_by_id_blocking(&id),
            None => Ok(None),
        };
        conclude(req, ctx, key, &data, user)
    }

    fn name(&self) -> &'static str {
        "Session"
    }
}
