//! DRF's dispatch, without a server: run a [`Chain`], then a
//! [`PermissionSet`], and decide the answer with DRF's rules.
//!
//! 0. Content negotiation: an `Accept` that admits no response type is 406
//!    (see [`negotiation`](crate::negotiation)).
//! 1. Authenticators run in order; the first that recognises the request
//!    wins, the first that fails ends the request, none means anonymous.
//! 2. Permissions run in order. On the first denial: if the chain has at
//!    least one authenticator and none succeeded, the answer is
//!    `NotAuthenticated`; otherwise `PermissionDenied` with the permission's
//!    message.
//! 3. Throttles (when the route has any) all run; a refusal is 429 with
//!    `Retry-After` (see [`throttle`](mod@crate::throttle)).
//! 4. An authentication rejection is 401 with the chain's first
//!    authenticator's `WWW-Authenticate` value, or 403 when it has none.
//!
//! The axum edge ([`extract`](crate::extract), [`layer`](crate::layer)) and
//! the blocking path call the same two functions, [`authenticate`] and
//! [`authenticate_blocking`].

use std::borrow::Cow;

use http::StatusCode;

use crate::authentication::{Authenticated, Chain, Credential, Outcome};
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::messages::Catalog;
use crate::permissions::PermissionSet;
use crate::request::Request;
use crate::throttle::ThrottleSet;
use crate::user::{AuthUser, RequestUser};

/// The result of a successful dispatch: DRF's `request.user` and
/// `request.auth`, plus the chain's challenge for later rejections.
#[derive(Clone, Debug)]
pub struct Identity<U> {
    /// The user (possibly anonymous, when the permissions allow it).
    pub user: RequestUser<U>,
    /// The credential of the winning authenticator.
    pub credential: Option<Credential>,
    /// Whether the chain had any authenticator.
    pub chain_len: usize,
    /// The chain's first authenticator's `WWW-Authenticate` value.
    pub challenge: Option<Cow<'static, str>>,
}

/// A rejected request: the error and the challenge that decides 401 vs 403.
#[derive(Clone, Debug)]
pub struct Denial {
    /// Why.
    pub error: AuthError,
    /// The chain's first authenticator's `WWW-Authenticate` value.
    pub challenge: Option<Cow<'static, str>>,
}

impl Denial {
    /// A denial without a challenge.
    pub fn new(error: AuthError) -> Self {
        Denial {
            error,
            challenge: None,
        }
    }

    /// The status, by DRF's rule.
    pub fn status(&self) -> StatusCode {
        self.error.status(self.challenge.is_some())
    }

    /// The `WWW-Authenticate` value to send (only on a 401).
    pub fn www_authenticate(&self) -> Option<&str> {
        self.sent_challenge().map(|c| c.as_ref())
    }

    /// The challenge as the chain gave it, when it is sent (only on a 401).
    pub(crate) fn sent_challenge(&self) -> Option<&Cow<'static, str>> {
        match self.status() {
            StatusCode::UNAUTHORIZED => self.challenge.as_ref(),
            _ => None,
        }
    }

    /// The JSON body `{"detail": "..."}` in `language`.
    pub fn body(&self, catalog: &Catalog, language: &str) -> String {
        let detail = catalog.detail(&self.error, language);
        // One buffer, written in place: this renders every 401 and 403.
        let mut body = Vec::with_capacity(detail.len() + 16);
        body.extend_from_slice(b"{\"detail\":");
        // Most texts need no escape: copied between quotes as they are.
        let plain = detail
            .bytes()
            .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f);
        let written = if plain {
            body.push(b'"');
            body.extend_from_slice(detail.as_bytes());
            body.push(b'"');
            Ok(())
        } else {
            serde_json::to_writer(&mut body, detail.as_ref())
        };
        let written = written.and_then(|()| {
            self.error.fields().iter().try_for_each(|(name, value)| {
                body.push(b',');
                serde_json::to_writer(&mut body, name)?;
                body.push(b':');
                serde_json::to_writer(&mut body, value)
            })
        });
        debug_assert!(written.is_ok(), "writing JSON to a Vec does not fail");
        body.push(b'}');
        // serde_json writes UTF-8 only.
        String::from_utf8(body).unwrap_or_default()
    }
}

impl From<Denial> for AuthError {
    fn from(d: Denial) -> Self {
        d.error
    }
}

fn conclude<U: AuthUser, C: Chain<U>, P: PermissionSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
    outcome: Outcome<U>,
    span: &tracing::Span,
) -> Result<Identity<U>, Denial> {
    let challenge = C::challenge(ctx);
    let found = match outcome {
        Ok(found) => found,
        Err(error) => return Err(Denial { error, challenge }),
    };
    let (user, credential) = match found {
        Some(Authenticated { user, credential }) => {
            if !user.is_active() {
                // Inactive users are always rejected, whatever the scheme.
                return Err(Denial {
                    error: Rejection::UserInactiveOrDeleted.into(),
                    challenge,
                });
            }
            crate::telemetry::record_user(span, &user);
            (RequestUser::Authenticated(user), credential)
        }
        None => (RequestUser::Anonymous, None),
    };
    if let Err(message) = P::check(req, &user) {
        let error = if C::LEN > 0 && !user.is_authenticated() {
            AuthError::new(Rejection::NotAuthenticated)
        } else {
            match message {
                Some(m) => AuthError::denied(m),
                None => AuthError::new(Rejection::PermissionDenied),
            }
        };
        return Err(Denial { error, challenge });
    }
    Ok(Identity {
        user,
        credential,
        chain_len: C::LEN,
        challenge,
    })
}

/// Runs chain `C` and permissions `P` on `req` (async path), then the
/// project's default throttles ([`ProjectThrottles`](crate::throttle::ProjectThrottles)).
pub async fn authenticate<U: AuthUser, C: Chain<U>, P: PermissionSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    check::<U, C, P, crate::throttle::ProjectThrottles>(req, ctx).await
}

/// Runs chain `C`, permissions `P` and then throttles `T` on `req` (async
/// path): DRF's `initial()`.
pub async fn check<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: ThrottleSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    crate::negotiation::negotiate(req, &ctx.settings().renderer_media_types)
        .map_err(Denial::new)?;
    decide::<U, C, P, T>(req, ctx).await
}

/// [`check`] without content negotiation, for transports whose content
/// types are not DRF's renderers' (gRPC): chain, permissions, throttles.
pub async fn decide<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: ThrottleSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    let span = crate::telemetry::span();
    let outcome = tracing::Instrument::instrument(C::run(req, ctx), span.clone()).await;
    let identity = conclude::<U, C, P>(req, ctx, outcome, &span)?;
    if !T::EMPTY {
        let verdict = T::check(req, &identity.user, ctx).await;
        throttle_verdict(verdict, &identity)?;
    }
    Ok(identity)
}

/// Blocking twin of [`check`].
pub fn check_blocking<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: ThrottleSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    crate::negotiation::negotiate(req, &ctx.settings().renderer_media_types)
        .map_err(Denial::new)?;
    decide_blocking::<U, C, P, T>(req, ctx)
}

/// Blocking twin of [`decide`].
pub fn decide_blocking<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: ThrottleSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    let span = crate::telemetry::span();
    let outcome = span.in_scope(|| C::run_blocking(req, ctx));
    let identity = conclude::<U, C, P>(req, ctx, outcome, &span)?;
    if !T::EMPTY {
        let verdict = T::check_blocking(req, &identity.user, ctx);
        throttle_verdict(verdict, &identity)?;
    }
    Ok(identity)
}

fn throttle_verdict<U>(
    verdict: Result<Option<Option<f64>>, AuthError>,
    identity: &Identity<U>,
) -> Result<(), Denial> {
    let error = match verdict {
        Ok(None) => return Ok(()),
        Ok(Some(wait)) => crate::throttle::throttled(wait),
        Err(e) => e,
    };
    Err(Denial {
        error,
        challenge: identity.challenge.clone(),
    })
}

/// Runs chain `C` and permissions `P` on `req` (blocking path, same answers).
///
/// ```
/// use restflow_auth::prelude::*;
/// use restflow_auth::dispatch;
/// # #[derive(Clone, Debug, AuthUser)]
/// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
/// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
/// #   #[auth_user(is_staff)] staff: bool }
/// let auth = Auth::<User>::builder(Settings::default()).users(MemoryUserStore::new()).build().unwrap();
/// let (parts, ()) = http::Request::new(()).into_parts();
/// // No authenticators: IsAuthenticated denies with PermissionDenied, 403.
/// let denial = dispatch::authenticate_blocking::<User, (), (IsAuthenticated,)>(
///     &Request::new(&parts),
///     auth.context(),
/// )
/// .unwrap_err();
/// assert_eq!(denial.status(), 403);
/// assert_eq!(denial.error.to_string(), "You do not have permission to perform this action.");
/// ```
pub fn authenticate_blocking<U: AuthUser, C: Chain<U>, P: PermissionSet<U>>(
    req: &Request<'_>,
    ctx: &Context<U>,
) -> Result<Identity<U>, Denial> {
    crate::negotiation::negotiate(req, &ctx.settings().renderer_media_types)
        .map_err(Denial::new)?;
    let span = crate::telemetry::span();
    let outcome = span.in_scope(|| C::run_blocking(req, ctx));
    conclude::<U, C, P>(req, ctx, outcome, &span)
}
