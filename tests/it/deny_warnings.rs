//! Many handler shapes, compiled under `#![deny(warnings)]` (see main.rs):
//! the generated code must not warn, whatever the user wrote.
#![allow(dead_code)]

use axum::extract::{Path, Query, State};
use restflow_auth::permissions::{IsAdminUser, IsAuthenticatedOrReadOnly};
use restflow_auth::prelude::*;

use crate::common::{HeaderUser, SessionLike, User};

// Names that generated code must not pick up.
#[allow(non_camel_case_types)]
struct Option;
#[allow(non_camel_case_types)]
struct Result;
#[allow(non_camel_case_types)]
struct Guard;

#[authenticate(HeaderUser)]
pub async fn public_fn(user: CurrentUser<User>) -> String {
    user.username.clone()
}

#[authenticate(crate::common::Rejecting, HeaderUser)]
#[permissions(IsAuthenticatedOrReadOnly | IsAdminUser, IsAuthenticated)]
pub(crate) async fn qualified_paths(_: MaybeUser<User>) {}

#[authenticate(HeaderUser, user = User)]
async fn explicit_user() -> &'static str {
    "ok"
}

#[authenticate(SessionLike)]
#[permissions(!(IsAdminUser & IsAuthenticated))]
async fn with_extractors(
    Path(id): Path<u32>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    State(s): State<u8>,
) -> String {
    format!("{id} {} {s}", q.len())
}

/// Documented handlers keep their docs and attributes.
#[authenticate]
#[inline]
#[must_use = "a handler's answer"]
async fn documented(user: ::core::option::Option<CurrentUser<User>>) -> &'static str {
    match user {
        ::core::option::Option::Some(_) => "user",
        ::core::option::Option::None => "anonymous",
    }
}

#[authenticate(none)]
#[permissions(AllowAny)]
async fn unit_return() {}

#[authenticate(HeaderUser, crate = ::restflow_auth)]
async fn crate_override(_: Identity) -> &'static str {
    "ok"
}

type Identity = restflow_auth::dispatch::Identity<User>;

#[test]
fn handlers_are_axum_handlers() {
    fn is_handler<T, S, H: axum::handler::Handler<T, S>>(_: H) {}
    is_handler::<_, (), _>(public_fn);
    is_handler::<_, (), _>(qualified_paths);
    is_handler::<_, (), _>(explicit_user);
    is_handler::<_, u8, _>(with_extractors);
    is_handler::<_, (), _>(documented);
    is_handler::<_, (), _>(unit_return);
    is_handler::<_, (), _>(crate_override);
    let _ = (Option, Result, Guard);
}

/// Every id type the derive supports.
mod id_types {
    use restflow_auth::AuthUser;

    #[derive(Clone, AuthUser)]
    pub(crate) struct ByUuid {
        #[auth_user(id)]
        id: uuid::Uuid,
        #[auth_user(username)]
        username: String,
        #[auth_user(password_hash)]
        password: String,
        #[auth_user(is_active)]
        is_active: bool,
        #[auth_user(is_staff)]
        is_staff: bool,
        #[auth_user(is_superuser)]
        is_superuser: bool,
    }

    #[derive(Clone, AuthUser)]
    #[auth_user(crate = ::restflow_auth)]
    pub(crate) struct ByName<T: Clone + Send + Sync + 'static> {
        #[auth_user(id)]
        name: String,
        #[auth_user(username)]
        username: String,
        #[auth_user(password_hash)]
        password: String,
        #[auth_user(is_active)]
        is_active: bool,
        #[auth_user(is_staff)]
        is_staff: bool,
        extra: T,
    }

    #[derive(Clone, AuthUser)]
    pub(crate) struct ByU64 {
        #[auth_user(id)]
        id: u64,
        #[auth_user(username)]
        username: String,
        #[auth_user(password_hash)]
        password: String,
        #[auth_user(is_active)]
        is_active: bool,
        #[auth_user(is_staff)]
        is_staff: bool,
    }

    #[test]
    fn derived_accessors() {
        let u = ByUuid {
            id: uuid::Uuid::nil(),
            username: "u".into(),
            password: "h".into(),
            is_active: true,
            is_staff: false,
            is_superuser: true,
        };
        assert!(u.is_superuser() && u.is_active() && !u.is_staff());
        assert_eq!((u.username(), u.password_hash()), ("u", "h"));
        let n = ByName {
            name: "n".into(),
            username: "x".into(),
            password: String::new(),
            is_active: false,
            is_staff: true,
            extra: 1u8,
        };
        assert_eq!(n.id(), "n");
        assert!(!n.is_superuser() && n.is_staff());
        assert_eq!(n.extra, 1);
        let w = ByU64 {
            id: 9,
            username: String::new(),
            password: String::new(),
            is_active: true,
            is_staff: true,
        };
        assert_eq!(*w.id(), 9u64);
    }
}
