//! Tokens of an external issuer (`[external_jwt]`, see
//! [`jwt::external`](crate::jwt::external)): Auth0, Keycloak, Okta, another
//! restflow service.
//!
//! | request | answer |
//! | --- | --- |
//! | no `Authorization`, or another scheme | not mine |
//! | `Bearer` alone, or more than one value | 401 `Authorization header must be 'Bearer <token>'.` |
//! | malformed, badly signed, an `alg` its key is not pinned to, expired, not yet valid, another issuer or audience, no `exp` | 401 with PyJWT's message |
//! | a `kid` the issuer does not publish (after the one refetch the cooldown allows) | 401 `The token's "kid" names no key of this service.` |
//! | the issuer's keys unavailable (never loaded, or stale beyond `stale_s`) | 503 `Authentication service temporarily unavailable.` |
//! | no user claim / no such user (and none created) / inactive | 401 `Token contained no recognizable user identification.` / `User not found.` / `User is inactive.` |
//!
//! The credential is an [`ExternalToken`] (its claims). The challenge is
//! `<first accepted scheme> realm="api"`. The built-in `Jwt` claims every
//! `Bearer` token too: put one of the two on a route, or give them
//! different `auth_header_types`.

use std::borrow::Cow;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::{Context, UserRef};
use crate::error::{AuthError, Rejection};
use crate::jwt::external::{ExternalIssuer, ExternalToken, Verdict};
use crate::request::Request;
use crate::user::{AuthUser, StoreResult};

/// Authentication with tokens of the external issuer of `[external_jwt]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExternalJwt;

fn state<U: AuthUser>(ctx: &Context<U>) -> Result<&ExternalIssuer, AuthError> {
    ctx.store::<ExternalIssuer>().ok_or_else(|| {
        AuthError::internal("the external issuer is not configured: set `external_jwt.issuer`")
    })
}

/// One verification against the cached keys. When the keys are missing
/// or lack the token's `kid`, the error comes with the generation of the
/// fetch to wait for (asked for, at most one per cooldown), if any.
fn look(iss: &ExternalIssuer, raw: &str) -> Result<ExternalToken, (AuthError, Option<u64>)> {
    let keys = iss
        .keys()
        .current()
        .map_err(|(e, seen)| (e, iss.keys().ask(seen)))?;
    match iss.verify(raw, &keys) {
        Verdict::Token(t) => Ok(t),
        Verdict::Invalid(e) => Err((e.into(), None)),
        Verdict::UnknownKid(e) => Err((e.into(), iss.keys().ask(keys.generation))),
    }
}

/// The local user the token names.
fn user_ref<U: AuthUser>(
    iss: &ExternalIssuer,
    token: &ExternalToken,
) -> Result<UserRef<U::Id>, AuthError> {
    let s = iss.settings();
    let value = token.claim(&s.user_claim).ok_or(Rejection::NoUserId)?;
    // A name as Django's `username` can hold one: 1 to 150 characters,
    // no control characters (nothing else is looked up, or created).
    UserRef::from_claim(value, s.user_field == "username")
        .filter(|r| match r {
            UserRef::Username(n) => {
                !n.is_empty() && n.chars().count() <= 150 && !n.chars().any(char::is_control)
            }
            UserRef::Id(_) => true,
        })
        .ok_or_else(|| AuthError::new(Rejection::UserNotFound))
}

fn conclude<U: AuthUser>(
    iss: &ExternalIssuer,
    user: StoreResult<Option<U>>,
    token: ExternalToken,
) -> Outcome<U> {
    let user = user?.ok_or(Rejection::UserNotFound)?;
    if iss.settings().check_user_is_active && !user.is_active() {
        return Err(Rejection::UserInactive.into());
    }
    Ok(Some(Authenticated::new(user, token)))
}

/// The token's `iat`, for logout everywhere (0 without one).
fn issued_at(token: &ExternalToken) -> i64 {
    token
        .claim("iat")
        .and_then(serde_json::Value::as_f64)
        .map_or(0, |t| t.floor() as i64)
}

fn creates(iss: &ExternalIssuer) -> bool {
    iss.settings().create_unknown_user
}

impl<U: AuthUser> Authenticator<U> for ExternalJwt {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let iss = state(ctx)?;
        let Some(raw) = super::jwt::bearer_of(req, &iss.settings().auth_header_types)? else {
            return Ok(None);
        };
        let token = match look(iss, &raw) {
            Ok(t) => t,
            Err((_, Some(seen))) => {
                iss.keys().wait_for(seen).await;
                look(iss, &raw).map_err(|(e, _)| e)?
            }
            Err((e, None)) => return Err(e),
        };
        let r = user_ref::<U>(iss, &token)?;
        let iat = issued_at(&token);
        let mut user = ctx.users().find(&r).await;
        if let (Ok(None), UserRef::Username(name), true) = (&user, &r, creates(iss)) {
            user = ctx.users().create_remote_user(name).await;
        }
        let found = conclude(iss, user, token)?;
        if let Some(a) = &found
            && crate::revocation::revoked(ctx, a.user.id(), iat).await?
        {
            return Err(crate::revocation::token_revoked());
        }
        Ok(found)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let iss = state(ctx)?;
        let Some(raw) = super::jwt::bearer_of(req, &iss.settings().auth_header_types)? else {
            return Ok(None);
        };
        let token = match look(iss, &raw) {
            Ok(t) => t,
            Err((_, Some(seen))) => {
                iss.keys().wait_for_blocking(seen);
                look(iss, &raw).map_err(|(e, _)| e)?
            }
            Err((e, None)) => return Err(e),
        };
        let r = user_ref::<U>(iss, &token)?;
        let iat = issued_at(&token);
        let mut user = ctx.users().find_blocking(&r);
        if let (Ok(None), UserRef::Username(name), true) = (&user, &r, creates(iss)) {
            user = ctx.users().create_remote_user_blocking(name);
        }
        let found = conclude(iss, user, token)?;
        if let Some(a) = &found
            && crate::revocation::revoked_blocking(ctx, a.user.id(), iat)?
        {
            return Err(crate::revocation::token_revoked());
        }
        Ok(found)
    }

    fn openapi(_: &Context<U>, _: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        vec![crate::authentication::SchemeDoc {
            name: "external_jwt".into(),
            kind: crate::authentication::SchemeKind::Bearer {
                format: Some("JWT".into()),
            },
            description: Some("An access token of the external issuer.".into()),
        }]
    }

    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        Some(Cow::Owned(ctx.store::<ExternalIssuer>().map_or_else(
            || "Bearer realm=\"api\"".to_owned(),
            ExternalIssuer::challenge,
        )))
    }

    fn name(&self) -> &'static str {
        "ExternalJwt"
    }

    fn missing(ctx: &Context<U>) -> Option<String> {
        ctx.store::<ExternalIssuer>().is_none().then(|| {
            "`ExternalJwt` needs the external issuer: set `external_jwt.issuer` and `external_jwt.audience`".to_owned()
        })
    }
}
