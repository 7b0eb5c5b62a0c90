//! Authenticators and ordered chains of them.
//!
//! An [`Authenticator`] looks at a [`Request`] and answers one of three
//! things, as an [`Outcome`]:
//!
//! | answer | meaning | the chain |
//! | --- | --- | --- |
//! | `Ok(None)` | not my credentials | tries the next authenticator |
//! | `Ok(Some(Authenticated))` | a user, and the credential used | stops: this user wins |
//! | `Err(AuthError)` | my credentials, and they are bad | stops the request at once |
//!
//! A [`Chain`] is a tuple of authenticator types, run in order; when none
//! recognises the request the user is anonymous. The chain's *first*
//! authenticator decides the `WWW-Authenticate` challenge and so, with DRF's
//! rule, whether a rejection is 401 or 403.
//!
//! Authenticators have an async and a blocking path that must agree; write
//! the async body once under `#[restflow_auth::authenticator]` and the
//! blocking twin is generated.

pub mod basic;
#[cfg(feature = "external-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "external-jwt")))]
pub mod external;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
pub mod remote_user;
pub mod session;
#[cfg(feature = "simplejwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "simplejwt")))]
pub mod simplejwt;
pub mod token;

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::context::Context;
use crate::error::AuthError;
use crate::request::Request;
use crate::user::AuthUser;

/// What one authenticator answers: see the [module docs](self).
pub type Outcome<U> = Result<Option<Authenticated<U>>, AuthError>;

/// A recognised request: the user and the credential that was used (DRF's
/// `request.user` and `request.auth`).
#[derive(Clone, Debug)]
pub struct Authenticated<U> {
    /// The user.
    pub user: U,
    /// What authenticated it (`None` for schemes without one, such as Basic).
    pub credential: Option<Credential>,
}

impl<U> Authenticated<U> {
    /// A user with a credential.
    pub fn new<T: Any + Send + Sync>(user: U, credential: T) -> Self {
        Authenticated {
            user,
            credential: Some(Credential::new(credential)),
        }
    }

    /// A user without a credential (DRF returns `(user, None)`).
    pub fn user_only(user: U) -> Self {
        Authenticated {
            user,
            credential: None,
        }
    }
}

/// The credential behind an authentication (DRF's `request.auth`): any value,
/// read back with [`downcast_ref`](Credential::downcast_ref). Its `Debug`
/// never prints the value, which is often a secret.
///
/// ```
/// use restflow_auth::Credential;
/// let c = Credential::new(String::from("a11ce0000"));
/// assert_eq!(c.downcast_ref::<String>().unwrap(), "a11ce0000");
/// assert!(!format!("{c:?}").contains("a11ce"));
/// ```
#[derive(Clone)]
pub struct Credential(Arc<dyn Any + Send + Sync>);

impl Credential {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Credential(Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// An authentication scheme (DRF's `BaseAuthentication`).
///
/// Types in `#[authenticate(...)]` lists are constructed with [`Default`] for
/// each request, as DRF instantiates `authentication_classes`; keep them
/// zero-sized and read configuration and stores from the [`Context`].
///
/// ```
/// # #![allow(dead_code)]
/// use restflow_auth::prelude::*;
/// # #[derive(Clone, Debug, AuthUser)]
/// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
/// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
/// #   #[auth_user(is_staff)] staff: bool }
///
/// /// `X-User: <name>` from a trusted proxy (a toy).
/// #[derive(Default)]
/// struct TrustedHeader;
///
/// #[restflow_auth::authenticator]
/// impl Authenticator<User> for TrustedHeader {
///     async fn authenticate(&self, req: &Request<'_>, ctx: &Context<User>) -> Outcome<User> {
///         let Some(name) = req.header("x-user") else { return Ok(None) };
///         match ctx.users().find_by_username(name).await? {
///             Some(user) if user.is_active() => Ok(Some(Authenticated::user_only(user))),
///             _ => Err(AuthError::new(Rejection::UserInactiveOrDeleted)),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an authenticator for user model `{U}`",
    label = "not an `Authenticator<{U}>`",
    note = "implement `restflow_auth::Authenticator<{U}>` for `{Self}` (write the async body once under `#[restflow_auth::authenticator]`), or use a built-in scheme"
)]
pub trait Authenticator<U: AuthUser>: Default + Send + Sync + 'static {
    /// Whether this scheme reads the request body (for example a signature
    /// over it); the body is then buffered before the chain runs.
    const NEEDS_BODY: bool = false;

    /// The async path.
    fn authenticate(
        &self,
        req: &Request<'_>,
        ctx: &Context<U>,
    ) -> impl Future<Output = Outcome<U>> + Send;

    /// The blocking path: the same answers as [`authenticate`](Authenticator::authenticate),
    /// for callers without an async runtime.
    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U>;

    /// The `WWW-Authenticate` value offered on a 401 (DRF's
    /// `authenticate_header`); `None` makes rejections 403.
    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        let _ = ctx;
        None
    }

    /// A short name for logs, diagnostics and the `scheme` label of the
    /// [metrics](crate::telemetry): by default the type's name without its
    /// path or generic arguments.
    fn name(&self) -> &'static str {
        crate::telemetry::short_type_name(std::any::type_name::<Self>())
    }

    /// What this scheme needs that `ctx` lacks, said so that it can be
    /// fixed (`Some("JWT is not configured: set jwt.signing_key")`);
    /// checked at startup for every route that names the scheme.
    fn missing(ctx: &Context<U>) -> Option<String> {
        let _ = ctx;
        None
    }

    /// How an OpenAPI document describes this scheme for a request of
    /// `method`: every item must be present (one security requirement
    /// object). Empty, the default, leaves the scheme out of the document.
    fn openapi(ctx: &Context<U>, method: &http::Method) -> Vec<SchemeDoc> {
        let _ = (ctx, method);
        Vec::new()
    }
}

/// One security scheme of an OpenAPI document (`components.securitySchemes`),
/// as [`Authenticator::openapi`] describes it; the `openapi` feature turns it
/// into utoipa's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeDoc {
    /// The scheme's name in the document (`jwt`, `session`, ...).
    pub name: Cow<'static, str>,
    /// What the client sends.
    pub kind: SchemeKind,
    /// A sentence for readers of the document.
    pub description: Option<Cow<'static, str>>,
}

/// What a [`SchemeDoc`] says the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>` (HTTP bearer), with the token's format.
    Bearer {
        /// For example `JWT`.
        format: Option<Cow<'static, str>>,
    },
    /// `Authorization: Basic ...` (HTTP basic).
    Basic,
    /// A key in a request header (OpenAPI `apiKey` `in: header`).
    Header(Cow<'static, str>),
    /// A key in a cookie (OpenAPI `apiKey` `in: cookie`).
    Cookie(Cow<'static, str>),
}

/// An ordered list of authenticators: a tuple of [`Authenticator`] types,
/// `()` for none.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a chain of authenticators for `{U}`",
    note = "a chain is a tuple of types that implement `Authenticator<{U}>`, such as `(Jwt, Session)`, or `()`"
)]
pub trait Chain<U: AuthUser>: Send + Sync + 'static {
    /// How many authenticators the chain has.
    const LEN: usize;
    /// Whether any of them reads the body.
    const NEEDS_BODY: bool;

    /// Runs the chain (async path).
    fn run(req: &Request<'_>, ctx: &Context<U>) -> impl Future<Output = Outcome<U>> + Send;

    /// Runs the chain (blocking path).
    fn run_blocking(req: &Request<'_>, ctx: &Context<U>) -> Outcome<U>;

    /// The first authenticator's challenge.
    fn challenge(ctx: &Context<U>) -> Option<Cow<'static, str>>;

    /// What the chain's schemes need that `ctx` lacks.
    fn missing(ctx: &Context<U>) -> Vec<String>;

    /// Each authenticator's [`openapi`](Authenticator::openapi) description, in order.
    fn openapi(ctx: &Context<U>, method: &http::Method) -> Vec<Vec<SchemeDoc>> {
        let _ = (ctx, method);
        Vec::new()
    }
}

impl<U: AuthUser> Chain<U> for () {
    const LEN: usize = 0;
    const NEEDS_BODY: bool = false;

    async fn run(_: &Request<'_>, _: &Context<U>) -> Outcome<U> {
        Ok(None)
    }

    fn run_blocking(_: &Request<'_>, _: &Context<U>) -> Outcome<U> {
        Ok(None)
    }

    fn challenge(_: &Context<U>) -> Option<Cow<'static, str>> {
        None
    }

    fn missing(_: &Context<U>) -> Vec<String> {
        Vec::new()
    }
}

macro_rules! chain_tuple {
    ($first:ident $(, $rest:ident)*; $len:expr) => {
        impl<U: AuthUser, $first: Authenticator<U> $(, $rest: Authenticator<U>)*> Chain<U>
            for ($first, $($rest,)*)
        {
            const LEN: usize = $len;
            const NEEDS_BODY: bool = $first::NEEDS_BODY $(|| $rest::NEEDS_BODY)*;

            async fn run(req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
                let scheme = $first::default();
                let step = crate::telemetry::authenticator(|| scheme.name(), scheme.authenticate(req, ctx));
                if let Some(found) = step.await? {
                    return Ok(Some(found));
                }
                $(
                    let scheme = $rest::default();
                    let step = crate::telemetry::authenticator(|| scheme.name(), scheme.authenticate(req, ctx));
                    if let Some(found) = step.await? {
                        return Ok(Some(found));
                    }
                )*
                Ok(None)
            }

            fn run_blocking(req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
                let scheme = $first::default();
                let step = || scheme.authenticate_blocking(req, ctx);
                if let Some(found) = crate::telemetry::authenticator_blocking(|| scheme.name(), step)? {
                    return Ok(Some(found));
                }
                $(
                    let scheme = $rest::default();
                    let step = || scheme.authenticate_blocking(req, ctx);
                    if let Some(found) = crate::telemetry::authenticator_blocking(|| scheme.name(), step)? {
                        return Ok(Some(found));
                    }
                )*
                Ok(None)
            }

            fn challenge(ctx: &Context<U>) -> Option<Cow<'static, str>> {
                $first::default().authenticate_header(ctx)
            }

            fn missing(ctx: &Context<U>) -> Vec<String> {
                [$first::missing(ctx) $(, $rest::missing(ctx))*].into_iter().flatten().collect()
            }

            fn openapi(ctx: &Context<U>, method: &http::Method) -> Vec<Vec<SchemeDoc>> {
                vec![$first::openapi(ctx, method) $(, $rest::openapi(ctx, method))*]
            }
        }
    };
}

chain_tuple!(A; 1);
chain_tuple!(A, B; 2);
chain_tuple!(A, B, C; 3);
chain_tuple!(A, B, C, D; 4);
chain_tuple!(A, B, C, D, E; 5);
chain_tuple!(A, B, C, D, E, F; 6);
chain_tuple!(A, B, C, D, E, F, G; 7);
chain_tuple!(A, B, C, D, E, F, G, H; 8);
