//! The startup check of the wiring: every handler that `#[authenticate]`,
//! `#[permissions]` or `#[throttle]` guards registers what its chain and
//! throttles need (inventory), and [`AuthBuilder::build`](crate::AuthBuilder::build)
//! fails when the configuration lacks any of it (`SimpleJwt` without
//! `simplejwt.signing_key`, `Token` without a token store, `Session`
//! without a session store, `Jwt` without `jwt.signing_key`, a throttle
//! without its rate), naming each handler and what to fix.
//!
//! A binary that serves its routes with several differently configured
//! `Auth`s of one user model (a test suite) turns the check off in its
//! `config!` (`check_routes: false`), or per builder with
//! [`AuthBuilder::check_routes`](crate::AuthBuilder::check_routes).

use std::any::{Any, TypeId};

use crate::authentication::{Authenticator, Chain};
use crate::context::Context;
use crate::throttle::{Throttle, ThrottleScope, ThrottleSet};
use crate::user::AuthUser;

/// One requirement of a route: what `ctx` (a `Context<U>`) lacks for it.
#[doc(hidden)]
pub type Check = fn(&(dyn Any + Send + Sync)) -> Vec<String>;

/// A guarded handler and what it needs, as the macros register it.
#[doc(hidden)]
pub struct Route {
    user: fn() -> TypeId,
    checks: &'static [Check],
    name: &'static str,
    file: &'static str,
    line: u32,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Route({} at {}:{})", self.name, self.file, self.line)
    }
}

impl Route {
    /// The route `name` (at `file:line`) of user model `U`, needing `checks`.
    pub const fn new<U: AuthUser>(
        name: &'static str,
        file: &'static str,
        line: u32,
        checks: &'static [Check],
    ) -> Self {
        Route {
            user: TypeId::of::<U>,
            checks,
            name,
            file,
            line,
        }
    }
}

fn with<U: AuthUser>(
    ctx: &(dyn Any + Send + Sync),
    f: impl FnOnce(&Context<U>) -> Vec<String>,
) -> Vec<String> {
    ctx.downcast_ref::<Context<U>>().map(f).unwrap_or_default()
}

/// What authenticator `A` of a handler's chain needs (spanned on the
/// scheme by the macros: a type that is no authenticator fails here once).
#[doc(hidden)]
pub fn authenticator<U: AuthUser, A: Authenticator<U>>(
    ctx: &(dyn Any + Send + Sync),
) -> Vec<String> {
    with::<U>(ctx, |ctx| A::missing(ctx).into_iter().collect())
}

/// What a chain needs (the project's default chain).
#[doc(hidden)]
pub fn chain<U: AuthUser, C: Chain<U>>(ctx: &(dyn Any + Send + Sync)) -> Vec<String> {
    with::<U>(ctx, C::missing)
}

/// What throttle `T` of a handler with scope `S` needs.
#[doc(hidden)]
pub fn throttle<U: AuthUser, T: Throttle<U>, S: ThrottleScope>(
    ctx: &(dyn Any + Send + Sync),
) -> Vec<String> {
    with::<U>(ctx, |ctx| {
        crate::throttle::missing_rate(
            ctx,
            crate::throttle::short(std::any::type_name::<T>()),
            T::rate_scope(S::SCOPE),
        )
        .into_iter()
        .collect()
    })
}

/// What a set of throttles needs (the project's default throttles).
#[doc(hidden)]
pub fn throttles<U: AuthUser, T: ThrottleSet<U>>(ctx: &(dyn Any + Send + Sync)) -> Vec<String> {
    with::<U>(ctx, T::missing)
}

inventory::collect!(Route);

/// A crate's `config! { check_routes: false }` for its user model.
#[doc(hidden)]
pub struct ProjectOptions {
    user: fn() -> TypeId,
    check_routes: bool,
}

impl ProjectOptions {
    /// Whether `build()` checks the routes of user model `U`.
    pub const fn new<U: AuthUser>(check_routes: bool) -> Self {
        ProjectOptions {
            user: TypeId::of::<U>,
            check_routes,
        }
    }
}

impl std::fmt::Debug for ProjectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectOptions")
            .field("check_routes", &self.check_routes)
            .finish_non_exhaustive()
    }
}

inventory::collect!(ProjectOptions);

/// Whether the check runs for user model `U`: the builder's choice, else
/// the `config!`s' for `U` (on unless one turns it off).
pub(crate) fn enabled<U: AuthUser>(forced: Option<bool>) -> bool {
    let id = TypeId::of::<U>();
    forced.unwrap_or_else(|| {
        inventory::iter::<ProjectOptions>
            .into_iter()
            .filter(|o| (o.user)() == id)
            .all(|o| o.check_routes)
    })
}

/// Every problem of the routes of user model `U` under `ctx`, one line each.
pub(crate) fn problems<U: AuthUser>(ctx: &Context<U>) -> Vec<String> {
    let id = TypeId::of::<U>();
    let mut out = Vec::new();
    for route in inventory::iter::<Route> {
        if (route.user)() != id {
            continue;
        }
        for p in route.checks.iter().flat_map(|check| check(ctx)) {
            out.push(format!(
                "`{}` ({}:{}): {p}",
                route.name, route.file, route.line
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a policy layer's chain and throttles lack (checked when it is made).
pub(crate) fn policy_problems<U: AuthUser, C: Chain<U>, T: ThrottleSet<U>>(
    ctx: &Context<U>,
) -> Vec<String> {
    let mut out = C::missing(ctx);
    out.extend(T::missing(ctx));
    out
}
