//! The integration tests of restflow-auth, in one binary (one link step).
#![deny(warnings, unused_qualifications)]

mod basic;
mod beside_django;
mod blacklists;
mod blocking;
mod browser;
mod common;
mod conformance;
mod deny_warnings;
mod differential;
mod dispatch;
mod django_stores;
mod external;
mod family;
mod grpc;
mod handlers;
mod hashers;
mod headers;
mod invalidation;
mod jwt;
mod jwt_cookies;
mod jwt_views;
mod keyset;
mod lockout;
mod logout_everywhere;
mod messages;
mod openapi;
mod parity;
mod paths_agree;
mod permissions;
mod pyjwt;
mod quickstart;
mod redis;
mod remote_user;
mod session;
mod settings;
mod signature;
mod simplejwt;
mod sql;
mod store_caches;
mod stores;
mod telemetry;
mod throttle;
mod token;
mod wiring;

// The project defaults: DRF's DEFAULT_AUTHENTICATION_CLASSES and
// DEFAULT_PERMISSION_CLASSES for this test crate.
restflow_auth::config! {
    user: common::User,
    authentication: [common::HeaderUser, common::SessionLike],
    permissions: [restflow_auth::permissions::IsAuthenticated],
    throttle_rates: { anon: "3/min", user: "5/min", burst: "10/min" },
    // The suite builds many differently configured Auths of one user model;
    // tests/it/wiring.rs turns the check on per builder.
    check_routes: false,
}
