//! DRF's dispatch rules over one table of cases, each run through the async
//! path and through the blocking path on a plain thread without a runtime;
//! both must give the same answer.

use restflow_auth::authentication::Chain;
use restflow_auth::dispatch::{authenticate, authenticate_blocking};
use restflow_auth::permissions::{
    AllowAny, IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly, PermissionSet,
};
use restflow_auth::prelude::*;

use crate::common::{
    DownStore, HeaderUser, IsAliceOrStaff, Rejecting, SessionLike, User, auth, user, users,
};

#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    challenge: Option<String>,
    detail: Option<String>,
    user: Option<String>,
    credential: Option<String>,
}

fn parts(method: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri("/api/thing/");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn answer(
    r: Result<restflow_auth::dispatch::Identity<User>, restflow_auth::dispatch::Denial>,
) -> Answer {
    match r {
        Ok(id) => Answer {
            status: 200,
            challenge: None,
            detail: None,
            user: id.user.user().map(|u| u.username.clone()),
            credential: id
                .credential
                .and_then(|c| c.downcast_ref::<String>().cloned()),
        },
        Err(d) => Answer {
            status: d.status().as_u16(),
            challenge: d.www_authenticate().map(str::to_owned),
            detail: Some(d.error.to_string()),
            user: None,
            credential: None,
        },
    }
}

fn both_with<C: Chain<User>, P: PermissionSet<User>>(
    auth: &Auth<User>,
    method: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let parts = parts(method, headers);
    let ctx = auth.context();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = answer(rt.block_on(authenticate::<User, C, P>(&Request::new(&parts), ctx)));
    let b = std::thread::scope(|s| {
        s.spawn(|| {
            assert!(
                tokio::runtime::Handle::try_current().is_err(),
                "no runtime on this thread"
            );
            answer(authenticate_blocking::<User, C, P>(
                &Request::new(&parts),
                ctx,
            ))
        })
        .join()
        .unwrap()
    });
    assert_eq!(a, b, "async and blocking paths disagree");
    a
}

fn both<C: Chain<User>, P: PermissionSet<User>>(method: &str, headers: &[(&str, &str)]) -> Answer {
    both_with::<C, P>(&auth(), method, headers)
}

fn denied(status: u16, challenge: Option<&str>, detail: &str) -> Answer {
    Answer {
        status,
        challenge: challenge.map(str::to_owned),
        detail: Some(detail.into()),
        user: None,
        credential: None,
    }
}

fn ok(user: Option<&str>, credential: Option<&str>) -> Answer {
    Answer {
        status: 200,
        challenge: None,
        detail: None,
        user: user.map(str::to_owned),
        credential: credential.map(str::to_owned),
    }
}

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const NO_PERMISSION: &str = "You do not have permission to perform this action.";
const HDR: Option<&str> = Some("Header realm=\"test\"");

type Auth1 = (IsAuthenticated,);

#[test]
fn no_credentials_is_401_when_the_first_authenticator_has_a_challenge() {
    assert_eq!(
        both::<(HeaderUser, SessionLike), Auth1>("GET", &[]),
        denied(401, HDR, NOT_PROVIDED)
    );
}

#[test]
fn no_credentials_is_403_when_the_first_authenticator_has_none() {
    assert_eq!(
        both::<(SessionLike, HeaderUser), Auth1>("GET", &[]),
        denied(403, None, NOT_PROVIDED)
    );
}

#[test]
fn a_failure_takes_the_status_of_the_first_authenticator_not_of_the_one_that_failed() {
    let h = [("x-user", "nobody")];
    assert_eq!(
        both::<(HeaderUser, SessionLike), Auth1>("GET", &h),
        denied(401, HDR, "User not found.")
    );
    assert_eq!(
        both::<(SessionLike, HeaderUser), Auth1>("GET", &h),
        denied(403, None, "User not found.")
    );
}

#[test]
fn later_authenticators_recognise_when_earlier_ones_skip() {
    assert_eq!(
        both::<(SessionLike, HeaderUser), Auth1>("GET", &[("x-user", "alice")]),
        ok(Some("alice"), Some("header:alice"))
    );
    assert_eq!(
        both::<(HeaderUser, SessionLike), Auth1>("GET", &[("x-session", "3")]),
        ok(Some("root"), None)
    );
}

#[test]
fn the_first_success_wins() {
    let h = [("x-user", "alice"), ("x-session", "3")];
    assert_eq!(
        both::<(HeaderUser, SessionLike), Auth1>("GET", &h)
            .user
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        both::<(SessionLike, HeaderUser), Auth1>("GET", &h)
            .user
            .as_deref(),
        Some("root")
    );
}

#[test]
fn a_failure_ends_the_chain_at_once() {
    use std::sync::atomic::Ordering;
    // Rejecting runs second: HeaderUser's failure must stop before it.
    let before = crate::common::REJECTING_RUNS.load(Ordering::SeqCst);
    let a =
        both::<(HeaderUser, Rejecting), Auth1>("GET", &[("x-user", "nobody"), ("x-reject", "1")]);
    assert_eq!(a, denied(401, HDR, "User not found."));
    assert_eq!(
        crate::common::REJECTING_RUNS.load(Ordering::SeqCst),
        before,
        "Rejecting ran after a failure"
    );
    // Rejecting first: its failure wins over a valid later credential.
    let a =
        both::<(Rejecting, HeaderUser), Auth1>("GET", &[("x-user", "alice"), ("x-reject", "1")]);
    assert_eq!(a, denied(401, Some("Reject"), "Rejected."));
}

#[test]
fn inactive_and_missing_users_are_always_rejected() {
    // HeaderUser returns bob although he is inactive: the dispatcher refuses.
    assert_eq!(
        both::<(HeaderUser,), (AllowAny,)>("GET", &[("x-user", "bob")]),
        denied(401, HDR, "User inactive or deleted.")
    );
    assert_eq!(
        both::<(SessionLike,), (AllowAny,)>("GET", &[("x-session", "99")]),
        denied(403, None, "User inactive or deleted.")
    );
}

#[test]
fn no_authenticators_means_permission_denied() {
    assert_eq!(
        both::<(), Auth1>("GET", &[("x-user", "alice")]),
        denied(403, None, NO_PERMISSION)
    );
    assert_eq!(both::<(), (AllowAny,)>("GET", &[]), ok(None, None));
}

#[test]
fn authentication_is_eager_even_under_allow_any() {
    assert_eq!(
        both::<(HeaderUser,), (AllowAny,)>("GET", &[]),
        ok(None, None)
    );
    assert_eq!(
        both::<(HeaderUser,), (AllowAny,)>("GET", &[("x-user", "nobody")]),
        denied(401, HDR, "User not found.")
    );
}

#[test]
fn is_admin_user() {
    assert_eq!(
        both::<(HeaderUser,), (IsAdminUser,)>("GET", &[("x-user", "alice")]),
        denied(403, None, NO_PERMISSION)
    );
    assert_eq!(
        both::<(HeaderUser,), (IsAdminUser,)>("GET", &[]),
        denied(401, HDR, NOT_PROVIDED)
    );
    assert_eq!(
        both::<(HeaderUser,), (IsAdminUser,)>("GET", &[("x-user", "root")])
            .user
            .as_deref(),
        Some("root")
    );
}

#[test]
fn read_only_lets_anonymous_reads_through() {
    type P = (IsAuthenticatedOrReadOnly,);
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert_eq!(both::<(HeaderUser,), P>(m, &[]), ok(None, None), "{m}");
    }
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        assert_eq!(
            both::<(HeaderUser,), P>(m, &[]),
            denied(401, HDR, NOT_PROVIDED),
            "{m}"
        );
    }
}

#[test]
fn a_permission_message_is_used_for_authenticated_users_only() {
    let store = users();
    store.insert(user(4, "carol", true, false));
    let auth = Auth::builder(Settings::default())
        .users(store)
        .build()
        .unwrap();
    type P = (IsAuthenticated, IsAliceOrStaff);
    assert_eq!(
        both_with::<(HeaderUser,), P>(&auth, "GET", &[("x-user", "carol")]),
        denied(403, None, "Only Alice may do this.")
    );
    assert_eq!(
        both_with::<(HeaderUser,), P>(&auth, "GET", &[]),
        denied(401, HDR, NOT_PROVIDED)
    );
    // Without authenticators, the message stands.
    assert_eq!(
        both_with::<(), (IsAliceOrStaff,)>(&auth, "GET", &[]),
        denied(403, None, "Only Alice may do this.")
    );
}

#[test]
fn an_unreachable_store_fails_closed_with_503() {
    let auth = Auth::builder(Settings::default())
        .users(DownStore)
        .build()
        .unwrap();
    let a = both_with::<(HeaderUser,), (AllowAny,)>(&auth, "GET", &[("x-user", "alice")]);
    assert_eq!(
        a,
        denied(503, None, "Authentication service temporarily unavailable.")
    );
    // Without credentials the store is not asked.
    assert_eq!(
        both_with::<(HeaderUser,), (AllowAny,)>(&auth, "GET", &[]),
        ok(None, None)
    );
}
