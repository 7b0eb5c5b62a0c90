//! DRF's RemoteUserAuthentication, with users created through the store and
//! inactive users rejected (DRF skips them).

use restflow_auth::prelude::*;

use crate::common::{HeaderUser, User, both_paths, user};
use crate::jwt::users;

fn auth_with(create: bool, factory: bool) -> (Auth<User>, MemoryUserStore<User>) {
    let mut store = users();
    if factory {
        store = store.with_user_factory(|name| {
            let id = 1000 + name.len() as i64;
            user(id, name, true, false)
        });
    }
    let mut s = Settings::default();
    s.remote_user.create_unknown_user = create;
    let auth = Auth::builder(s).users(store.clone()).build().unwrap();
    (auth, store)
}

fn remote(auth: &Auth<User>, value: Option<&str>) -> (u16, Option<String>, String) {
    let headers: Vec<(&str, &[u8])> = value
        .map(|v| ("x-remote-user", v.as_bytes()))
        .into_iter()
        .collect();
    both_paths::<(RemoteUser,), (IsAuthenticated,)>(auth, "GET", &headers)
}

#[test]
fn remote_user_rows() {
    let (auth, store) = auth_with(true, true);
    let not_provided = (
        403,
        None,
        "Authentication credentials were not provided.".to_owned(),
    );
    assert_eq!(remote(&auth, None), not_provided);
    assert_eq!(remote(&auth, Some("")), not_provided);
    assert_eq!(remote(&auth, Some("alice")).2, "user:alice");
    assert_eq!(
        remote(&auth, Some("bob")),
        (403, None, "User inactive or deleted.".to_owned())
    );
    // Unknown users are created once, then found.
    assert_eq!(remote(&auth, Some("newcomer")).2, "user:newcomer");
    assert_eq!(
        store
            .find_by_username_blocking("newcomer")
            .unwrap()
            .unwrap()
            .id,
        1008
    );
    assert_eq!(remote(&auth, Some("newcomer")).2, "user:newcomer");
}

#[test]
fn unknown_users_without_creation_are_rejected() {
    let (auth, _) = auth_with(false, true);
    assert_eq!(
        remote(&auth, Some("stranger")),
        (403, None, "User inactive or deleted.".to_owned())
    );
    // A store that cannot create users says the same.
    let (auth, _) = auth_with(true, false);
    assert_eq!(
        remote(&auth, Some("stranger")),
        (403, None, "User inactive or deleted.".to_owned())
    );
}

#[test]
fn the_header_name_is_configurable_and_other_names_are_ignored() {
    let mut s = Settings::default();
    s.remote_user.header = "X-Proxy-User".into();
    let auth = Auth::<User>::builder(s).users(users()).build().unwrap();
    let headers: &[(&str, &[u8])] = &[("x-remote-user", b"alice"), ("remote-user", b"alice")];
    assert_eq!(
        both_paths::<(RemoteUser,), (IsAuthenticated,)>(&auth, "GET", headers).0,
        403
    );
    let headers: &[(&str, &[u8])] = &[("x-proxy-user", b"alice")];
    assert_eq!(
        both_paths::<(RemoteUser,), (IsAuthenticated,)>(&auth, "GET", headers).2,
        "user:alice"
    );
    // Chained after a challenge-bearing authenticator: 401 with its challenge.
    let none = both_paths::<(HeaderUser, RemoteUser), (IsAuthenticated,)>(&auth, "GET", &[]);
    assert_eq!(none.0, 401);
}
