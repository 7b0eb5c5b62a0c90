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

/// What a guarded handler declares: emitted by `#[authenticate]` /
/// `#[permissions]` as a hidden item `__restflow_auth_policy_<handler>`
/// beside the handler, read by `restflow_auth::openapi::routes!`. The
/// types stay inside the body, so the item leaks no private type.
pub trait HandlerPolicy {
    /// Patches the handler's operations (`paths`: utoipa's `Paths`,
    /// `schemas`: its component schemas) for `auth` (an `Auth<User>`);
    /// `false` when `auth` is not for the handler's user model or the
    /// `openapi` feature is off.
    fn openapi(
        auth: &dyn core::any::Any,
        schemas: &mut dyn core::any::Any,
        paths: &mut dyn core::any::Any,
    ) -> bool;
}

/// A handler's declared types, for [`HandlerPolicy::openapi`]. Method
/// resolution picks [`ViaPolicy`] when the types are a valid declaration
/// and [`ViaFallback`] (`false`) otherwise, so a wrong declaration is
/// reported once, by the guard's own checks, not again here.
#[derive(Debug)]
#[allow(clippy::type_complexity)]
pub struct Probe<U, C, P, T>(core::marker::PhantomData<fn() -> (U, C, P, T)>);

#[allow(clippy::new_without_default)]
impl<U, C, P, T> Probe<U, C, P, T> {
    /// The probe.
    pub const fn new() -> Self {
        Probe(core::marker::PhantomData)
    }
}

/// See [`Probe`].
pub trait ViaPolicy {
    /// Patches the handler's operations.
    fn openapi_patch(
        &self,
        auth: &dyn core::any::Any,
        schemas: &mut dyn core::any::Any,
        paths: &mut dyn core::any::Any,
    ) -> bool;
}

/// See [`Probe`].
pub trait ViaFallback {
    /// Nothing to patch: the declaration does not compile anyway.
    fn openapi_patch(
        &self,
        auth: &dyn core::any::Any,
        schemas: &mut dyn core::any::Any,
        paths: &mut dyn core::any::Any,
    ) -> bool {
        let _ = (auth, schemas, paths);
        false
    }
}

impl<U, C, P, T> ViaFallback for &Probe<U, C, P, T> {}

impl<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: crate::throttle::ThrottleSet<U>> ViaPolicy
    for Probe<U, C, P, T>
{
    fn openapi_patch(
        &self,
        auth: &dyn core::any::Any,
        schemas: &mut dyn core::any::Any,
        paths: &mut dyn core::any::Any,
    ) -> bool {
        openapi_patch::<U, C, P, T>(auth, schemas, paths)
    }
}

/// [`HandlerPolicy::openapi`] for a handler's types.
#[cfg_attr(not(feature = "openapi"), allow(clippy::extra_unused_type_parameters))]
fn openapi_patch<
    U: AuthUser,
    C: Chain<U>,
    P: PermissionSet<U>,
    T: crate::throttle::ThrottleSet<U>,
>(
    auth: &dyn core::any::Any,
    schemas: &mut dyn core::any::Any,
    paths: &mut dyn core::any::Any,
) -> bool {
    #[cfg(feature = "openapi")]
    {
        let (Some(auth), Some(schemas), Some(paths)) = (
            auth.downcast_ref::<crate::context::Auth<U>>(),
            schemas
                .downcast_mut::<Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::Schema>)>>(),
            paths.downcast_mut::<utoipa::openapi::path::Paths>(),
        ) else {
            return false;
        };
        crate::openapi::secure::<U, C, P, T>(auth, schemas, paths);
        true
    }
    #[cfg(not(feature = "openapi"))]
    {
        let _ = (auth, schemas, paths);
        false
    }
}
