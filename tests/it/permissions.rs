//! Permission composition with `&`, `|`, `!`, as DRF's `AND`, `OR`, `NOT`,
//! at the request and the object level, through the attribute grammar too.

use std::any::Any;

use restflow_auth::permissions::{
    AllowAny, And, IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly, Not, Or, Permission,
};
use restflow_auth::prelude::*;

use crate::common::{User, user};

fn req(method: &str) -> http::request::Parts {
    http::Request::builder()
        .method(method)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn allows<P: Permission<User>>(method: &str, who: &RequestUser<User>) -> bool {
    let parts = req(method);
    P::default().has_permission(&Request::new(&parts), who)
}

fn anon() -> RequestUser<User> {
    RequestUser::Anonymous
}
fn alice() -> RequestUser<User> {
    RequestUser::Authenticated(user(1, "alice", true, false))
}
fn root() -> RequestUser<User> {
    RequestUser::Authenticated(user(3, "root", true, true))
}

#[test]
fn and_or_not_truth_tables() {
    type AdminAndAuth = And<IsAdminUser, IsAuthenticated>;
    type AdminOrReadOnly = Or<IsAdminUser, IsAuthenticatedOrReadOnly>;
    type NotAdmin = Not<IsAdminUser>;
    assert!(allows::<AdminAndAuth>("GET", &root()));
    assert!(!allows::<AdminAndAuth>("GET", &alice()));
    assert!(allows::<AdminOrReadOnly>("GET", &anon()));
    assert!(!allows::<AdminOrReadOnly>("POST", &anon()));
    assert!(allows::<AdminOrReadOnly>("POST", &alice()));
    assert!(allows::<NotAdmin>("POST", &alice()));
    assert!(!allows::<NotAdmin>("POST", &root()));
    assert!(!allows::<Not<AllowAny>>("GET", &root()));
    assert!(allows::<Not<Not<IsAuthenticated>>>("GET", &alice()));
}

/// Allows the request, but no object.
#[derive(Default)]
struct RequestOnly;
impl Permission<User> for RequestOnly {
    fn has_permission(&self, _: &Request<'_>, _: &RequestUser<User>) -> bool {
        true
    }
    fn has_object_permission(&self, _: &Request<'_>, _: &RequestUser<User>, _: &dyn Any) -> bool {
        false
    }
}

/// Denies the request, but allows every object.
#[derive(Default)]
struct ObjectOnly;
impl Permission<User> for ObjectOnly {
    fn has_permission(&self, _: &Request<'_>, _: &RequestUser<User>) -> bool {
        false
    }
}

#[test]
fn or_at_object_level_needs_both_checks_of_one_operand() {
    let parts = req("GET");
    let r = Request::new(&parts);
    let obj: &dyn Any = &42u32;
    // Neither operand passes both its checks: denied (as DRF's OR).
    assert!(!Or(RequestOnly, ObjectOnly).has_object_permission(&r, &alice(), obj));
    assert!(Or(RequestOnly, AllowAny).has_object_permission(&r, &alice(), obj));
    assert!(!And(RequestOnly, AllowAny).has_object_permission(&r, &alice(), obj));
    assert!(Not(RequestOnly).has_object_permission(&r, &alice(), obj));
}

#[test]
fn operators_build_the_same_types() {
    let p: Or<And<IsAuthenticated, Not<IsAdminUser>>, AllowAny> =
        (IsAuthenticated & !IsAdminUser) | AllowAny;
    let parts = req("GET");
    assert!(p.has_permission(&Request::new(&parts), &anon()));
}
