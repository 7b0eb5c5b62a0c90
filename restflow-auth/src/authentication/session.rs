//! DRF's `SessionAuthentication`: the `sessionid` cookie, with Django's CSRF
//! checks on authenticated unsafe requests.
//!
//! | request | answer |
//! | --- | --- |
//! | no session cookie, a malformed, unknown or expired session | not mine (anonymous); the cookie is deleted in the response |
//! | a password changed since login | the session ends (Django's flush): anonymous, cookie deleted |
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

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::Request;
use crate::session::cookies::response_cookies;
use crate::session::csrf::{self, Source};
use crate::session::{SessionData, Sessions, cookie, valid_key};
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

/// The form field of a buffered `application/x-www-form-urlencoded` POST
/// (Django's `request.POST.get("csrfmiddlewaretoken")`: the last value).
fn form_token(req: &Request<'_>) -> Option<String> {
    if !crate::request::is_form(req) {
        return None;
    }
    crate::request::form_value(req.body()?, "csrfmiddlewaretoken").filter(|v| !v.is_empty())
}

/// Django's `request.get_host()` with `ALLOWED_HOSTS = ["*"]`: the `Host`
/// header when `split_domain_port` accepts it, `None` where Django raises
/// `DisallowedHost`.
pub(crate) fn request_host<'a>(req: &Request<'a>) -> Option<std::borrow::Cow<'a, str>> {
    // Only the Host header: an absolute-form request line names whatever
    // host the client likes, and without Host nothing is "this host".
    let host = req.meta(http::header::HOST)?;
    valid_host(&host).then_some(host)
}

/// Django's `host_validation_re`: `domain[:port]` or `[ipv6][:port]`.
fn valid_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let split = if h.starts_with('[') {
        h.find(']').map(|i| h.split_at(i + 1))
    } else {
        Some(h.rfind(':').map_or((h.as_str(), ""), |i| h.split_at(i)))
    };
    let Some((domain, port)) = split else {
        return false;
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let domain_ok = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(ip) => {
            ip.split_once(':')
                .is_some_and(|(_, after)| !after.is_empty())
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        None => {
            !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        }
    };
    port_ok && domain_ok
}

/// The CSRF view of a request: Origin, Referer, HTTPS, host, trusted origins.
pub(crate) fn csrf_check<'r, U: AuthUser>(
    ctx: &'r Context<U>,
    origin: Option<&'r str>,
    referer: Option<&'r str>,
    host: Option<&'r str>,
) -> csrf::Check<'r> {
    let s = &ctx.settings().session;
    csrf::Check {
        origin,
        referer,
        secure: s.cookie_secure,
        // A host Django refuses matches no origin.
        host: host.unwrap_or("\0"),
        trusted: &s.csrf_trusted_origins,
    }
}

/// Django's `CsrfViewMiddleware` as DRF calls it. Every header is read as
/// Django reads it ([`Request::meta`]): a repeated or unreadable `Origin`
/// is compared as what it is and matches nothing.
pub fn enforce_csrf<U: AuthUser>(req: &Request<'_>, ctx: &Context<U>) -> Result<(), AuthError> {
    if req.is_safe_method() {
        return Ok(());
    }
    let s = &ctx.settings().session;
    let form = if req.method() == http::Method::POST {
        form_token(req)
    } else {
        None
    };
    let header = req.meta(&s.csrf_header_name);
    let source = match (&form, &header) {
        (Some(f), _) => Some(Source::Form(f)),
        (None, Some(h)) => Some(Source::Header(h, &s.csrf_header_name)),
        (None, None) => None,
    };
    let (origin, referer, host) = (
        req.meta(http::header::ORIGIN),
        req.meta(http::header::REFERER),
        request_host(req),
    );
    let cookie = cookie(req, &s.csrf_cookie_name);
    csrf_check(ctx, origin.as_deref(), referer.as_deref(), host.as_deref())
        .run(cookie.as_deref(), source)
        .map_err(AuthError::csrf)
}

/// What the session says, once its user is loaded.
enum Verdict<U> {
    /// The answer.
    Done(Outcome<U>),
    /// The password changed since login: Django flushes the session (the
    /// row is deleted, the cookie too) and the request is anonymous.
    Flush,
}

/// The session's user, if it may go on: `Err` with the answer otherwise.
fn session_user<U: AuthUser>(
    sessions: &Sessions,
    data: &SessionData,
    user: StoreResult<Option<U>>,
) -> Result<U, Verdict<U>> {
    let user = match user {
        Ok(Some(u)) => u,
        Ok(None) => return Err(Verdict::Done(Err(Rejection::UserInactiveOrDeleted.into()))),
        Err(e) => return Err(Verdict::Done(Err(e))),
    };
    if !user.is_active() {
        return Err(Verdict::Done(Err(Rejection::UserInactiveOrDeleted.into())));
    }
    if !sessions.auth_hash_matches(&data.auth_hash, user.password_hash()) {
        return Err(Verdict::Flush);
    }
    Ok(user)
}

/// A live session of `user`, not revoked: Django's CSRF check, then the user.
fn conclude<U: AuthUser>(req: &Request<'_>, ctx: &Context<U>, key: &str, user: U) -> Verdict<U> {
    Verdict::Done(
        enforce_csrf(req, ctx).map(|()| Some(Authenticated::new(user, SessionKey(key.to_owned())))),
    )
}

/// When a session began, for logout everywhere: as its store recorded it,
/// or else its expiry less `session.cookie_age_s` (sessions are written
/// once, at login).
fn began<U: AuthUser>(ctx: &Context<U>, data: &SessionData) -> i64 {
    data.issued_at.unwrap_or_else(|| {
        let age = i64::try_from(ctx.settings().session.cookie_age_s).unwrap_or(i64::MAX);
        data.expires_at.saturating_sub(age)
    })
}

/// The session cookie names no live session: Django deletes it in the
/// response (`SessionMiddleware`, an accessed session that is empty).
fn forget<U: AuthUser>(req: &Request<'_>, ctx: &Context<U>) {
    if let Some(rc) = response_cookies(req) {
        rc.delete(&ctx.settings().session.cookie_name);
    }
}

impl<U: AuthUser> Authenticator<U> for Session {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let sessions = store(ctx)?;
        let Some(key) = cookie(req, &ctx.settings().session.cookie_name) else {
            return Ok(None);
        };
        if !valid_key(&key) {
            return Ok(None);
        }
        let Some(data) = sessions.load(&key).await? else {
            forget(req, ctx);
            return Ok(None);
        };
        if data.user_id.is_null() {
            // A session without a login (Django's anonymous session): kept.
            return Ok(None);
        }
        let user = match U::Id::from_json(&data.user_id) {
            Some(id) => ctx.users().find_by_id(&id).await,
            None => Ok(None),
        };
        // Logout everywhere ends the session before its CSRF check.
        let verdict = match session_user(sessions, &data, user) {
            Ok(u) if crate::revocation::revoked(ctx, u.id(), began(ctx, &data)).await? => {
                Verdict::Flush
            }
            Ok(u) => conclude(req, ctx, &key, u),
            Err(v) => v,
        };
        match verdict {
            Verdict::Done(outcome) => outcome,
            Verdict::Flush => {
                sessions.delete(&key).await?;
                forget(req, ctx);
                Ok(None)
            }
        }
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let sessions = store(ctx)?;
        let Some(key) = cookie(req, &ctx.settings().session.cookie_name) else {
            return Ok(None);
        };
        if !valid_key(&key) {
            return Ok(None);
        }
        let Some(data) = sessions.load_blocking(&key)? else {
            forget(req, ctx);
            return Ok(None);
        };
        if data.user_id.is_null() {
            return Ok(None);
        }
        let user = match U::Id::from_json(&data.user_id) {
            Some(id) => ctx.users().find_by_id_blocking(&id),
            None => Ok(None),
        };
        let verdict = match session_user(sessions, &data, user) {
            Ok(u) if crate::revocation::revoked_blocking(ctx, u.id(), began(ctx, &data))? => {
                Verdict::Flush
            }
            Ok(u) => conclude(req, ctx, &key, u),
            Err(v) => v,
        };
        match verdict {
            Verdict::Done(outcome) => outcome,
            Verdict::Flush => {
                sessions.delete_blocking(&key)?;
                forget(req, ctx);
                Ok(None)
            }
        }
    }

    fn openapi(ctx: &Context<U>, method: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        let s = &ctx.settings().session;
        let mut docs = vec![crate::authentication::SchemeDoc {
            name: "session".into(),
            kind: crate::authentication::SchemeKind::Cookie(s.cookie_name.clone().into()),
            description: Some("The session cookie set by the login view.".into()),
        }];
        let safe = [
            http::Method::GET,
            http::Method::HEAD,
            http::Method::OPTIONS,
            http::Method::TRACE,
        ];
        if !safe.contains(method) {
            docs.push(crate::authentication::SchemeDoc {
                name: "csrf".into(),
                kind: crate::authentication::SchemeKind::Header(s.csrf_header_name.clone().into()),
                description: Some(format!(
                    "Django's CSRF token (the `{}` cookie's value) on unsafe methods with a session (over HTTPS, with a same-origin Referer or Origin).",
                    s.csrf_cookie_name
                ).into()),
            });
            docs.push(crate::authentication::SchemeDoc {
                name: "csrf_cookie".into(),
                kind: crate::authentication::SchemeKind::Cookie(s.csrf_cookie_name.clone().into()),
                description: Some(
                    "The CSRF cookie set by the CSRF view, which the header repeats.".into(),
                ),
            });
        }
        docs
    }

    fn name(&self) -> &'static str {
        "Session"
    }

    fn missing(ctx: &Context<U>) -> Option<String> {
        ctx.store::<Sessions>().is_none().then(|| {
            "`Session` needs a session store: call `.sessions(store)` on the builder".to_owned()
        })
    }
}
