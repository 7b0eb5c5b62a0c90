//! Permissions: DRF's `AllowAny`, `IsAuthenticated`, `IsAdminUser`,
//! `IsAuthenticatedOrReadOnly`, and their composition with `&`, `|` and `!`
//! (DRF's `&`, `|`, `~`).
//!
//! In `#[permissions(...)]` a comma-separated list means *all of them*, in
//! order, and the first denial answers; expressions combine types:
//! `#[permissions(IsAuthenticated & !IsAdminUser)]` stands for
//! `And<IsAuthenticated, Not<IsAdminUser>>`. The same operators work on
//! values:
//!
//! ```
//! use restflow_auth::permissions::*;
//! let _either: Or<IsAdminUser, IsAuthenticatedOrReadOnly> = IsAdminUser | IsAuthenticatedOrReadOnly;
//! let _neither: Not<Or<IsAdminUser, AllowAny>> = !(IsAdminUser | AllowAny);
//! ```
//!
//! When a permission denies a request and the view has authenticators of
//! which none succeeded, the answer is `NotAuthenticated` (401/403 by the
//! chain's challenge); otherwise it is `PermissionDenied` with the
//! permission's [`message`](Permission::message) or DRF's default.

use std::any::Any;
use std::borrow::Cow;

use crate::request::Request;
use crate::user::{AuthUser, RequestUser};

/// A permission check (DRF's `BasePermission`). Types are constructed with
/// [`Default`] for each request.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a permission for user model `{U}`",
    label = "not a `Permission<{U}>`",
    note = "use `AllowAny`, `IsAuthenticated`, `IsAdminUser`, `IsAuthenticatedOrReadOnly`, a composition with `&`, `|`, `!`, or implement `restflow_auth::Permission<{U}>`"
)]
pub trait Permission<U: AuthUser>: Default + Send + Sync + 'static {
    /// May this request go on?
    fn has_permission(&self, req: &Request<'_>, user: &RequestUser<U>) -> bool;

    /// May this request act on `object`? (DRF's `has_object_permission`,
    /// true by default.)
    fn has_object_permission(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        object: &dyn Any,
    ) -> bool {
        let _ = (req, user, object);
        true
    }

    /// The `detail` of the 403 when this permission denies (DRF's
    /// `message`); `None` for DRF's default text.
    fn message(&self) -> Option<Cow<'static, str>> {
        None
    }
}

/// A list of permissions that must all pass: a tuple of [`Permission`]
/// types, or `()` for none.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of permissions for `{U}`",
    note = "a permission list is a tuple of types that implement `Permission<{U}>`, such as `(IsAuthenticated,)`"
)]
pub trait PermissionSet<U: AuthUser>: Send + Sync + 'static {
    /// `Err(message)` with the first denying permission's message.
    fn check(req: &Request<'_>, user: &RequestUser<U>) -> Result<(), Option<Cow<'static, str>>>;

    /// The object-level check, in the same order.
    fn check_object(
        req: &Request<'_>,
        user: &RequestUser<U>,
        object: &dyn Any,
    ) -> Result<(), Option<Cow<'static, str>>>;
}

impl<U: AuthUser> PermissionSet<U> for () {
    fn check(_: &Request<'_>, _: &RequestUser<U>) -> Result<(), Option<Cow<'static, str>>> {
        Ok(())
    }
    fn check_object(
        _: &Request<'_>,
        _: &RequestUser<U>,
        _: &dyn Any,
    ) -> Result<(), Option<Cow<'static, str>>> {
        Ok(())
    }
}

macro_rules! permission_tuple {
    ($($p:ident),+) => {
        impl<U: AuthUser, $($p: Permission<U>),+> PermissionSet<U> for ($($p,)+) {
            fn check(req: &Request<'_>, user: &RequestUser<U>) -> Result<(), Option<Cow<'static, str>>> {
                $(
                    let p = $p::default();
                    if !p.has_permission(req, user) {
                        return Err(p.message());
                    }
                )+
                Ok(())
            }
            fn check_object(
                req: &Request<'_>,
                user: &RequestUser<U>,
                object: &dyn Any,
            ) -> Result<(), Option<Cow<'static, str>>> {
                $(
                    let p = $p::default();
                    if !p.has_object_permission(req, user, object) {
                        return Err(p.message());
                    }
                )+
                Ok(())
            }
        }
    };
}

permission_tuple!(A);
permission_tuple!(A, B);
permission_tuple!(A, B, C);
permission_tuple!(A, B, C, D);
permission_tuple!(A, B, C, D, E);
permission_tuple!(A, B, C, D, E, F);

/// Lets every request through.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAny;

/// Authenticated users only.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsAuthenticated;

/// Staff users only (`is_staff`).
#[derive(Clone, Copy, Debug, Default)]
pub struct IsAdminUser;

/// Anyone may read (GET, HEAD, OPTIONS); only authenticated users may write.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsAuthenticatedOrReadOnly;

/// Both must allow (DRF `A & B`).
#[derive(Clone, Copy, Debug, Default)]
pub struct And<A, B>(pub A, pub B);

/// Either may allow (DRF `A | B`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Or<A, B>(pub A, pub B);

/// Allows what the inner permission denies (DRF `~A`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Not<A>(pub A);

impl<U: AuthUser> Permission<U> for AllowAny {
    fn has_permission(&self, _: &Request<'_>, _: &RequestUser<U>) -> bool {
        true
    }
}

impl<U: AuthUser> Permission<U> for IsAuthenticated {
    fn has_permission(&self, _: &Request<'_>, user: &RequestUser<U>) -> bool {
        user.is_authenticated()
    }
}

impl<U: AuthUser> Permission<U> for IsAdminUser {
    fn has_permission(&self, _: &Request<'_>, user: &RequestUser<U>) -> bool {
        user.is_staff()
    }
}

impl<U: AuthUser> Permission<U> for IsAuthenticatedOrReadOnly {
    fn has_permission(&self, req: &Request<'_>, user: &RequestUser<U>) -> bool {
        matches!(
            *req.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        ) || user.is_authenticated()
    }
}

impl<U: AuthUser, A: Permission<U>, B: Permission<U>> Permission<U> for And<A, B> {
    fn has_permission(&self, req: &Request<'_>, user: &RequestUser<U>) -> bool {
        self.0.has_permission(req, user) && self.1.has_permission(req, user)
    }
    fn has_object_permission(&self, req: &Request<'_>, user: &RequestUser<U>, o: &dyn Any) -> bool {
        self.0.has_object_permission(req, user, o) && self.1.has_object_permission(req, user, o)
    }
}

impl<U: AuthUser, A: Permission<U>, B: Permission<U>> Permission<U> for Or<A, B> {
    fn has_permission(&self, req: &Request<'_>, user: &RequestUser<U>) -> bool {
        self.0.has_permission(req, user) || self.1.has_permission(req, user)
    }
    /// As DRF: an operand allows the object only if it also allows the
    /// request (`has_permission and has_object_permission`).
    fn has_object_permission(&self, req: &Request<'_>, user: &RequestUser<U>, o: &dyn Any) -> bool {
        (self.0.has_permission(req, user) && self.0.has_object_permission(req, user, o))
            || (self.1.has_permission(req, user) && self.1.has_object_permission(req, user, o))
    }
}

impl<U: AuthUser, A: Permission<U>> Permission<U> for Not<A> {
    fn has_permission(&self, req: &Request<'_>, user: &RequestUser<U>) -> bool {
        !self.0.has_permission(req, user)
    }
    fn has_object_permission(&self, req: &Request<'_>, user: &RequestUser<U>, o: &dyn Any) -> bool {
        !self.0.has_object_permission(req, user, o)
    }
}

macro_rules! operators {
    ($([$($g:ident),*] $t:ty;)*) => {$(
        impl<$($g,)* Rhs> std::ops::BitAnd<Rhs> for $t {
            type Output = And<Self, Rhs>;
            fn bitand(self, rhs: Rhs) -> And<Self, Rhs> { And(self, rhs) }
        }
        impl<$($g,)* Rhs> std::ops::BitOr<Rhs> for $t {
            type Output = Or<Self, Rhs>;
            fn bitor(self, rhs: Rhs) -> Or<Self, Rhs> { Or(self, rhs) }
        }
        impl<$($g),*> std::ops::Not for $t {
            type Output = Not<Self>;
            fn not(self) -> Not<Self> { Not(self) }
        }
    )*};
}

operators! {
    [] AllowAny;
    [] IsAuthenticated;
    [] IsAdminUser;
    [] IsAuthenticatedOrReadOnly;
    [A, B] And<A, B>;
    [A, B] Or<A, B>;
    [A] Not<A>;
}
