//! The built-in JWT authenticator (drf-restflow's `JWTAuthentication`).
//!
//! | request | answer |
//! | --- | --- |
//! | no `Authorization`, or another scheme | not mine |
//! | `Bearer` alone, or more than one value | 401 `Authorization header must be 'Bearer <token>'.` |
//! | a token that is not valid text | 401 `Token contains invalid characters.` |
//! | malformed, badly signed, expired, wrong type | 401 with PyJWT's (or drf-restflow's) message |
//! | blacklisted jti | 401 `Token has been blacklisted.` |
//! | no user id claim / no such user / inactive | 401 `Token contained no recognizable user identification.` / `User not found.` / `User is inactive.` |
//! | password changed (revoke check on) | 401 `The user's password has been changed.` |
//!
//! The challenge is `<first accepted scheme> realm="api"`.

use std::borrow::Cow;

use subtle::ConstantTimeEq;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::context::UserRef;
use crate::error::{AuthError, Rejection};
use crate::jwt::{AccessToken, JwtState};
use crate::request::{Request, split_ascii_whitespace};
use crate::user::{AuthUser, StoreResult};

/// JSON Web Token authentication: `Authorization: Bearer <token>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Jwt;

pub(crate) fn state<U: AuthUser>(ctx: &Context<U>) -> Result<&JwtState, AuthError> {
    ctx.store::<JwtState>().ok_or_else(|| {
        AuthError::internal("JWT is not configured: set `jwt.signing_key` in the settings")
    })
}

/// The token of a `Bearer` header, `Ok(None)` when the header is not ours.
pub(crate) fn bearer<'a>(
    req: &Request<'a>,
    jwt: &JwtState,
) -> Result<Option<Cow<'a, str>>, AuthError> {
    bearer_of(req, &jwt.settings().auth_header_types)
}

/// The token of an `Authorization: <one of types> <token>` header (the
/// scheme matched case-insensitively, as PyJWT's users do), `Ok(None)` when
/// the header is not one of them.
pub(crate) fn bearer_of<'a>(
    req: &Request<'a>,
    types: &[String],
) -> Result<Option<Cow<'a, str>>, AuthError> {
    // Fast path: one header, `<Type> <token>` with a single space and a
    // token of visible ASCII (no whitespace): one pass over the token.
    if let Some(token) = types
        .first()
        .and_then(|first| crate::request::simple_credentials(req, first))
    {
        return Ok(Some(Cow::Borrowed(token)));
    }
    let header = req.authorization();
    let mut parts = split_ascii_whitespace(&header);
    let Some(scheme) = parts.next() else {
        return Ok(None);
    };
    if !types
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(scheme))
    {
        return Ok(None);
    }
    let (Some(token), None) = (parts.next(), parts.next()) else {
        return Err(Rejection::BearerHeaderShape.into());
    };
    let token =
        std::str::from_utf8(token).map_err(|_| AuthError::new(Rejection::JwtInvalidCharacters))?;
    Ok(Some(Cow::Owned(token.to_owned())))
}

/// The access token: the `Authorization` header's, or else (with
/// `[jwt_cookie]`) its cookie's, and whether it came from the cookie.
fn credentials<'a, U: AuthUser>(
    req: &Request<'a>,
    ctx: &Context<U>,
    jwt: &JwtState,
) -> Result<Option<(Cow<'a, str>, bool)>, AuthError> {
    if let Some(raw) = bearer(req, jwt)? {
        return Ok(Some((raw, false)));
    }
    match ctx.store::<crate::jwt::cookie::JwtCookies>() {
        Some(cookies) => Ok(cookies.access(req)?.map(|raw| (raw, true))),
        None => Ok(None),
    }
}

/// The user the claim names: 401 "Token contained no recognizable user
/// identification." without one, "User not found." when it cannot name a user.
pub(crate) fn lookup<U: AuthUser>(
    jwt: &JwtState,
    claim: Option<&serde_json::Value>,
) -> Result<UserRef<U::Id>, AuthError> {
    let value = claim.ok_or(Rejection::NoUserId)?;
    UserRef::from_claim(value, jwt.settings().user_id_field == "username")
        .ok_or_else(|| AuthError::new(Rejection::UserNotFound))
}

/// The user checks after the lookup: missing, inactive, revoked.
pub(crate) fn check_user<U: AuthUser>(
    jwt: &JwtState,
    user: StoreResult<Option<U>>,
    revoke: Option<&str>,
) -> Result<U, AuthError> {
    let user = user?.ok_or(Rejection::UserNotFound)?;
    if jwt.settings().check_user_is_active && !user.is_active() {
        return Err(Rejection::UserInactive.into());
    }
    if jwt.settings().check_revoke_token {
        let expected = crate::jwt::tokens::revoke_value(user.password_hash());
        let ok = revoke.is_some_and(|r| bool::from(r.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            return Err(Rejection::PasswordChanged.into());
        }
    }
    Ok(user)
}

/// The blacklist entries that end an access token: its jti, and its
/// refresh family's entry (`jwt/family.rs`).
enum Revocations<'a> {
    None,
    Jti(&'a str),
    Both([&'a str; 2]),
}

fn revocations(token: &AccessToken) -> Revocations<'_> {
    let family = token.verified().family_key.as_deref();
    // A revoked family stays revoked whatever the settings say now.
    match (token.jti(), family) {
        ("", None) => Revocations::None,
        (jti, None) => Revocations::Jti(jti),
        (jti, Some(family)) => Revocations::Both([jti, family]),
    }
}

impl<U: AuthUser> Authenticator<U> for Jwt {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let jwt = state(ctx)?;
        let Some((raw, from_cookie)) = credentials(req, ctx, jwt)? else {
            return Ok(None);
        };
        let token = AccessToken::verify_cached(&raw, jwt)?;
        if let Some(bl) = jwt.checked_blacklist() {
            let revoked = match revocations(&token) {
                Revocations::None => false,
                Revocations::Jti(jti) => bl.revoked(&[jti]).await?,
                Revocations::Both(ids) => bl.revoked(&ids).await?,
            };
            if revoked {
                return Err(Rejection::TokenBlacklisted.into());
            }
        }
        let v = token.verified();
        let user = ctx
            .users()
            .find(&lookup::<U>(jwt, v.user_id.as_ref())?)
            .await;
        let user = check_user(jwt, user, v.revoke.as_deref())?;
        if crate::revocation::revoked(ctx, user.id(), v.iat).await? {
            return Err(crate::revocation::token_revoked());
        }
        if from_cookie {
            // A cookie comes with any request the browser makes: Django's
            // CSRF check, as SessionAuthentication runs it.
            crate::authentication::session::enforce_csrf(req, ctx)?;
        }
        Ok(Some(Authenticated::new(user, token)))
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let jwt = state(ctx)?;
        let Some((raw, from_cookie)) = credentials(req, ctx, jwt)? else {
            return Ok(None);
        };
        let token = AccessToken::verify_cached(&raw, jwt)?;
        if let Some(bl) = jwt.checked_blacklist() {
            let revoked = match revocations(&token) {
                Revocations::None => false,
                Revocations::Jti(jti) => bl.revoked_blocking(&[jti])?,
                Revocations::Both(ids) => bl.revoked_blocking(&ids)?,
            };
            if revoked {
                return Err(Rejection::TokenBlacklisted.into());
            }
        }
        let v = token.verified();
        let user = ctx
            .users()
            .find_blocking(&lookup::<U>(jwt, v.user_id.as_ref())?);
        let user = check_user(jwt, user, v.revoke.as_deref())?;
        if crate::revocation::revoked_blocking(ctx, user.id(), v.iat)? {
            return Err(crate::revocation::token_revoked());
        }
        if from_cookie {
            // A cookie comes with any request the browser makes: Django's
            // CSRF check, as SessionAuthentication runs it.
            crate::authentication::session::enforce_csrf(req, ctx)?;
        }
        Ok(Some(Authenticated::new(user, token)))
    }

    fn openapi(ctx: &Context<U>, _: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        let _ = ctx;
        vec![crate::authentication::SchemeDoc {
            name: "jwt".into(),
            kind: crate::authentication::SchemeKind::Bearer {
                format: Some("JWT".into()),
            },
            description: Some(
                "An access token of the built-in JWT (`Authorization: Bearer <token>`).".into(),
            ),
        }]
    }

    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        // Computed for every request: the default without an allocation.
        const DEFAULT: &str = "Bearer realm=\"api\"";
        match ctx.store::<JwtState>() {
            Some(jwt)
                if jwt
                    .settings()
                    .auth_header_types
                    .first()
                    .is_some_and(|t| t != "Bearer") =>
            {
                Some(Cow::Owned(jwt.challenge()))
            }
            _ => Some(Cow::Borrowed(DEFAULT)),
        }
    }

    fn name(&self) -> &'static str {
        "Jwt"
    }

    fn missing(ctx: &Context<U>) -> Option<String> {
        ctx.store::<JwtState>()
            .is_none()
            .then(|| "`Jwt` needs the built-in JWT: set `jwt.signing_key`".to_owned())
    }
}
