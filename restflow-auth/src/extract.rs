//! The axum extractors: the guard that `#[authenticate]` adds, and the
//! extractors a handler reads the user with.
//!
//! | extractor | gives | when the request is anonymous |
//! | --- | --- | --- |
//! | [`CurrentUser<U>`] | the authenticated user | rejects: `NotAuthenticated` (401/403) |
//! | `Option<CurrentUser<U>>` | the user or `None` | `None` |
//! | [`MaybeUser<U>`] | [`RequestUser<U>`] | `RequestUser::Anonymous` |
//! | [`Identity<U>`] | user, credential, challenge | anonymous identity |
//!
//! They read what a [`Guard`] (or a [`PolicyLayer`](crate::layer::PolicyLayer))
//! left in the request; without one they answer 500 with a message that
//! says what is missing.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::authentication::Chain;
use crate::context::Context;
use crate::dispatch::{self, Denial, Identity};
use crate::error::{AuthError, Rejected, Rejection};
use crate::layer::BufferedBody;
use crate::permissions::PermissionSet;
use crate::request::Request;
use crate::throttle::ThrottleSet;
use crate::user::{AuthUser, RequestUser};

fn accept_language(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

fn missing_context<U: AuthUser>() -> Rejected {
    let message = format!(
        "no restflow-auth context for user model `{}`: add `.layer(auth.layer())` to the router",
        std::any::type_name::<U>()
    );
    // A wiring mistake, not a request's: without a tracing subscriber the
    // log below goes nowhere, so say it once on stderr.
    static SAID: std::sync::Once = std::sync::Once::new();
    if !tracing::dispatcher::has_been_set() {
        SAID.call_once(|| {
            eprintln!("restflow-auth: {message} (every guarded request answers 500 until then)")
        });
    }
    let denial = Denial::new(AuthError::internal(message));
    Rejected::new(&denial, &crate::messages::Catalog::default(), None)
}

/// The policy types a guard or a policy layer carries (no data).
pub(crate) type Policy<C, P, T> = PhantomData<fn() -> (C, P, T)>;

/// Runs chain `C`, permissions `P` and throttles `T` (none by default)
/// before the handler, as DRF's `initial()`: the extractor
/// `#[authenticate]`, `#[permissions]` and `#[throttle]` add as a
/// handler's first argument. It can be written by hand:
///
/// ```
/// # #![allow(dead_code)]
/// use restflow_auth::prelude::*;
/// use restflow_auth::extract::Guard;
/// # #[derive(Clone, Debug, AuthUser)]
/// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
/// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
/// #   #[auth_user(is_staff)] staff: bool }
/// # #[derive(Default)] struct Header;
/// # #[restflow_auth::authenticator]
/// # impl Authenticator<User> for Header {
/// #     async fn authenticate(&self, _: &Request<'_>, _: &Context<User>) -> Outcome<User> { Ok(None) }
/// # }
/// async fn me(_: Guard<User, (Header,), (IsAuthenticated,)>, user: CurrentUser<User>) -> String {
///     user.name.clone()
/// }
/// ```
///
/// The guard carries no copy of what it found: the [`Identity<U>`] is in
/// the request, for the extractors that follow it.
pub struct Guard<U: AuthUser, C, P, T = crate::throttle::ProjectThrottles> {
    _marker: Policy<C, P, T>,
    _user: PhantomData<fn() -> U>,
}

impl<U: AuthUser, C, P, T> std::fmt::Debug for Guard<U, C, P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("chain", &std::any::type_name::<C>())
            .field("permissions", &std::any::type_name::<P>())
            .field("throttles", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<S, U, C, P, T> FromRequestParts<S> for Guard<U, C, P, T>
where
    S: Send + Sync,
    U: AuthUser,
    C: Chain<U>,
    P: PermissionSet<U>,
    T: ThrottleSet<U>,
{
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejected> {
        let ctx = parts
            .extensions
            .get::<Arc<Context<U>>>()
            .cloned()
            .ok_or_else(missing_context::<U>)?;
        let result = {
            let body = parts.extensions.get::<BufferedBody>().cloned();
            let mut req = Request::new(parts);
            if let Some(body) = &body {
                req = req.with_body(body.as_ref());
            }
            dispatch::check::<U, C, P, T>(&req, &ctx).await
        };
        match result {
            Ok(identity) => {
                parts.extensions.insert(identity);
                Ok(Guard {
                    _marker: PhantomData,
                    _user: PhantomData,
                })
            }
            Err(denial) => Err(Rejected::new(
                &denial,
                ctx.messages(),
                accept_language(parts),
            )),
        }
    }
}

fn identity<U: AuthUser>(parts: &Parts) -> Result<&Identity<U>, Rejected> {
    parts.extensions.get::<Identity<U>>().ok_or_else(|| {
        let denial = Denial::new(AuthError::internal(format!(
            "no authentication ran for this route: add `#[authenticate]` to the handler or a `PolicyLayer` for user model `{}`",
            std::any::type_name::<U>()
        )));
        Rejected::new(&denial, &crate::messages::Catalog::default(), None)
    })
}

/// The authenticated user; rejects anonymous requests with
/// `NotAuthenticated` (401 with the chain's challenge, else 403).
#[derive(Clone, Debug)]
pub struct CurrentUser<U>(pub U);

impl<U> Deref for CurrentUser<U> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.0
    }
}

impl<S: Send + Sync, U: AuthUser> FromRequestParts<S> for CurrentUser<U> {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejected> {
        let id = identity::<U>(parts)?;
        match &id.user {
            RequestUser::Authenticated(u) => Ok(CurrentUser(u.clone())),
            RequestUser::Anonymous => {
                let denial = Denial {
                    error: Rejection::NotAuthenticated.into(),
                    challenge: id.challenge.clone(),
                };
                let default;
                let catalog = match parts.extensions.get::<Arc<Context<U>>>() {
                    Some(ctx) => ctx.messages(),
                    None => {
                        default = crate::messages::Catalog::default();
                        &default
                    }
                };
                Err(Rejected::new(&denial, catalog, accept_language(parts)))
            }
        }
    }
}

impl<S: Send + Sync, U: AuthUser> OptionalFromRequestParts<S> for CurrentUser<U> {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Rejected> {
        Ok(identity::<U>(parts)?.user.user().cloned().map(CurrentUser))
    }
}

/// The request's user, authenticated or anonymous (DRF's `request.user`).
#[derive(Clone, Debug)]
pub struct MaybeUser<U>(pub RequestUser<U>);

impl<U> Deref for MaybeUser<U> {
    type Target = RequestUser<U>;
    fn deref(&self) -> &RequestUser<U> {
        &self.0
    }
}

impl<S: Send + Sync, U: AuthUser> FromRequestParts<S> for MaybeUser<U> {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejected> {
        Ok(MaybeUser(identity::<U>(parts)?.user.clone()))
    }
}

impl<S: Send + Sync, U: AuthUser> FromRequestParts<S> for Identity<U> {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejected> {
        identity::<U>(parts).cloned()
    }
}

/// The shared [`Context`], for handlers and views.
impl<S: Send + Sync, U: AuthUser> FromRequestParts<S> for crate::context::Auth<U> {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejected> {
        parts
            .extensions
            .get::<Arc<Context<U>>>()
            .cloned()
            .map(crate::context::Auth::from_context)
            .ok_or_else(missing_context::<U>)
    }
}
