//! The only items generated code touches. Not public API: no semver
//! guarantees; the macros and this module move in lockstep.

pub use crate::authentication::{Authenticator, Chain};
pub use crate::context::Context;
pub use crate::extract::Guard;
pub use crate::permissions::{And, Not, Or, Permission, PermissionSet};
pub use crate::throttle::{
    DefaultThrottles, ProjectRates, ProjectThrottles, Scoped, Throttle, ThrottleScope, ThrottleSet,
};
pub use crate::user::{AuthUser, UserId, UserRecord};
pub use crate::wiring::{Check, ProjectOptions, Route};
/// The requirements a handler registers (see [`crate::wiring`]).
pub mod requires {
    pub use crate::wiring::{authenticator, chain, throttle, throttles};
}
pub use core;
pub use inventory;

/// Set once per crate by `restflow_auth::config!`; a bare `#[authenticate]`
/// and a handler without `#[permissions]` read their chain and permissions
/// from here.
#[diagnostic::on_unimplemented(
    message = "no project defaults for restflow-auth",
    note = "add `restflow_auth::config! {{ user: User, authentication: [..], permissions: [..] }}` at the root of this crate"
)]
pub trait ProjectDefaults {
    /// The user model.
    type User: AuthUser;
    /// The default chain (DRF's `DEFAULT_AUTHENTICATION_CLASSES`).
    type Authenticators: Chain<Self::User>;
    /// The default permissions (DRF's `DEFAULT_PERMISSION_CLASSES`).
    type Permissions: PermissionSet<Self::User>;
}

/// The scope of a handler's throttles without `scope = ".."`.
#[derive(Debug)]
pub struct NoScope;

impl ThrottleScope for NoScope {
    const SCOPE: Option<&'static str> = None;
}

/// Compile-time check that `T` is a throttle for `U`.
pub const fn assert_throttle<U: AuthUser, T: Throttle<U>>() {}

/// Compile-time check that `A` is an authenticator for `U` (spanned on the
/// user's token by the macros).
pub const fn assert_authenticator<U: AuthUser, A: Authenticator<U>>() {}

/// Compile-time check that `P` is a permission for `U`.
pub const fn assert_permission<U: AuthUser, P: Permission<U>>() {}

/// Compile-time check that `I` is a user id type.
pub const fn assert_user_id<I: UserId>() {}

/// The type of a `#[auth_user(username)]` field.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(username)]` needs a `String` field, found `{Self}`",
    label = "expected `String`"
)]
pub trait UsernameField {
    /// The text.
    fn as_str(&self) -> &str;
}

/// The type of a `#[auth_user(password_hash)]` field.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(password_hash)]` needs a `String` field, found `{Self}`",
    label = "expected `String`"
)]
pub trait PasswordHashField {
    /// The text.
    fn as_str(&self) -> &str;
}

/// The type of a `#[auth_user(is_active)]`, `is_staff` or `is_superuser` field.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(is_active)]`, `is_staff` and `is_superuser` need a `bool` field, found `{Self}`",
    label = "expected `bool`"
)]
pub trait FlagField {
    /// The flag.
    fn get(&self) -> bool;
}

impl UsernameField for String {
    fn as_str(&self) -> &str {
        self
    }
}

impl PasswordHashField for String {
    fn as_str(&self) -> &str {
        self
    }
}

impl FlagField for bool {
    fn get(&self) -> bool {
        *self
    }
}
