//! Django REST Framework's authentication for axum services, declared with
//! macros.
//!
//! ```
//! # #![allow(dead_code)]
//! use restflow_auth::prelude::*;
//!
//! #[derive(Clone, Debug, AuthUser)]
//! struct User {
//!     #[auth_user(id)]            id: i64,
//!     #[auth_user(username)]      username: String,
//!     #[auth_user(password_hash)] password: String,
//!     #[auth_user(is_active)]     is_active: bool,
//!     #[auth_user(is_staff)]      is_staff: bool,
//! }
//!
//! /// `X-User: <name>`, set by a trusted proxy.
//! #[derive(Default)]
//! struct ProxyUser;
//!
//! #[restflow_auth::authenticator]
//! impl Authenticator<User> for ProxyUser {
//!     async fn authenticate(&self, req: &Request<'_>, ctx: &Context<User>) -> Outcome<User> {
//!         let Some(name) = req.header("x-user") else { return Ok(None) };
//!         match ctx.users().find_by_username(name).await? {
//!             Some(user) => Ok(Some(Authenticated::user_only(user))),
//!             None => Err(AuthError::new(Rejection::UserInactiveOrDeleted)),
//!         }
//!     }
//! }
//!
//! #[authenticate(ProxyUser)]
//! #[permissions(IsAuthenticated)]
//! async fn me(user: CurrentUser<User>) -> String {
//!     user.username.clone()
//! }
//! ```
//!
//! The pieces, each in its module:
//!
//! - [`AuthUser`] (and `#[derive(AuthUser)]`), [`RequestUser`], [`UserStore`]: [`user`].
//! - [`Authenticator`], [`Chain`], [`Outcome`]: [`authentication`].
//! - [`Permission`] and DRF's permissions: [`permissions`](mod@permissions).
//! - DRF's dispatch rules (401 vs 403) without a server: [`dispatch`].
//! - Every rejection and its text: [`error`], [`messages`].
//! - [`Settings`]: [`settings`]; [`Auth`] and [`Context`]: [`context`].
//! - The axum edge: [`extract`], [`layer`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod authentication;
pub mod context;
pub mod database;
pub mod dispatch;
pub mod django;
pub mod error;
pub mod extract;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
pub mod invalidation;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
pub mod layer;
pub mod lockout;
pub mod messages;
pub mod negotiation;
pub mod net;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
pub mod password;
pub mod permissions;
mod prehashed;
#[cfg(feature = "redis")]
mod redis_conn;
pub mod request;
pub mod revocation;
pub mod session;
pub mod settings;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod sql;
pub mod telemetry;
pub mod throttle;
pub mod token;
pub mod user;
pub mod views;
pub mod wiring;

#[doc(hidden)]
pub mod __private;

#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzzing;

/// Lowercase hexadecimal, without an allocation per byte (it runs on
/// request paths: session auth hashes, SQL token digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Seconds since the epoch, with a fraction (Python's `time.time()`).
pub(crate) fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub use authentication::basic::Basic;
#[cfg(feature = "external-jwt")]
pub use authentication::external::ExternalJwt;
#[cfg(feature = "jwt")]
pub use authentication::jwt::Jwt;
pub use authentication::remote_user::RemoteUser;
pub use authentication::session::Session;
#[cfg(feature = "simplejwt")]
pub use authentication::simplejwt::SimpleJwt;
pub use authentication::token::Token;
pub use authentication::{Authenticated, Authenticator, Chain, Credential, Outcome};
pub use context::{Auth, AuthBuilder, Context, UserRef};
pub use error::{AuthError, Rejection};
pub use extract::{CurrentUser, MaybeUser};
pub use permissions::Permission;
pub use request::Request;
pub use settings::Settings;
#[cfg(feature = "memory")]
pub use user::MemoryUserStore;
pub use user::{AuthUser, RequestUser, UserId, UserRecord, UserStore};

#[cfg(feature = "macros")]
#[doc = include_str!("docs/derive_auth_user.md")]
pub use restflow_auth_macros::AuthUser;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/authenticate.md")]
pub use restflow_auth_macros::authenticate;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/authenticator.md")]
pub use restflow_auth_macros::authenticator;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/config.md")]
pub use restflow_auth_macros::config;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/permissions.md")]
pub use restflow_auth_macros::permissions;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/throttle.md")]
pub use restflow_auth_macros::throttle;

/// One import for handlers and authenticators.
pub mod prelude {
    pub use crate::authentication::basic::Basic;
    #[cfg(feature = "external-jwt")]
    pub use crate::authentication::external::ExternalJwt;
    #[cfg(feature = "jwt")]
    pub use crate::authentication::jwt::Jwt;
    pub use crate::authentication::remote_user::RemoteUser;
    pub use crate::authentication::session::Session;
    #[cfg(feature = "simplejwt")]
    pub use crate::authentication::simplejwt::SimpleJwt;
    pub use crate::authentication::token::Token;
    pub use crate::authentication::{Authenticated, Authenticator, Outcome};
    pub use crate::context::{Auth, Context};
    pub use crate::error::{AuthError, Rejection};
    pub use crate::extract::{CurrentUser, MaybeUser};
    pub use crate::permissions::{
        AllowAny, IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly, Permission,
    };
    pub use crate::request::Request;
    pub use crate::settings::Settings;
    #[cfg(feature = "macros")]
    pub use crate::throttle::{AnonRateThrottle, ScopedRateThrottle, UserRateThrottle};
    #[cfg(feature = "memory")]
    pub use crate::user::MemoryUserStore;
    pub use crate::user::{AuthUser, RequestUser, UserStore};
    #[cfg(feature = "macros")]
    pub use restflow_auth_macros::{AuthUser, authenticate, authenticator, permissions, throttle};
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }
}
