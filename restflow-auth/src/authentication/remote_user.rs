//! DRF's `RemoteUserAuthentication`: the user name comes from a header that
//! a trusted proxy sets (`remote_user.header`, default `X-Remote-User`).
//!
//! **The proxy must strip any copy of that header sent by the client**, or
//! anyone can claim to be anyone. Put this authenticator only on services
//! that are reachable through that proxy alone.
//!
//! | request | answer |
//! | --- | --- |
//! | no header, or an empty one | not mine |
//! | the header twice, a value that is not printable ASCII or longer than `remote_user.max_length` (Django's 150), a peer outside `remote_user.trusted_proxies` | not mine (nobody is named, nobody is created) |
//! | a known active user | that user |
//! | an unknown user | created through the user store (`remote_user.create_unknown_user`, on by default, as Django's `RemoteUserBackend`) |
//! | an inactive user, or one that cannot be created | 403 `User inactive or deleted.` |
//!
//! There is no challenge, so rejections are 403, as DRF's.

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::Rejection;
use crate::request::{Header, Request};
use crate::user::{AuthUser, StoreResult};

/// Authentication by a header set by a trusted proxy.
#[derive(Clone, Copy, Debug, Default)]
pub struct RemoteUser;

/// The user name the proxy sent, when it can be trusted: from a trusted
/// peer (`remote_user.trusted_proxies`), sent once, printable ASCII.
/// Anything else names nobody (DRF-BEHAVIOUR.md rule 12): a second copy
/// means a client's copy got past the proxy, and a name Django would read
/// as Latin-1 is not one a proxy vouches for.
fn username<'a, U: AuthUser>(req: &Request<'a>, ctx: &Context<U>) -> Option<&'a str> {
    let s = &ctx.settings().remote_user;
    if !s.trusted_proxies.is_empty()
        && !req
            .peer_ip()
            .is_some_and(|ip| s.trusted_proxies.contains(ip))
    {
        return None;
    }
    match req.field(&s.header) {
        Header::Text(v) => Some(v.trim()).filter(|v| {
            !v.is_empty() && v.len() <= s.max_length && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        }),
        Header::Absent | Header::Opaque(_) | Header::Repeated => None,
    }
}

fn conclude<U: AuthUser>(user: StoreResult<Option<U>>) -> Outcome<U> {
    match user? {
        Some(user) if user.is_active() => Ok(Some(Authenticated::user_only(user))),
        _ => Err(Rejection::UserInactiveOrDeleted.into()),
    }
}

impl<U: AuthUser> Authenticator<U> for RemoteUser {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some(name) = username(req, ctx) else {
            return Ok(None);
        };
        let mut user = ctx.users().find_by_username(name).await;
        if matches!(user, Ok(None)) && ctx.settings().remote_user.create_unknown_user {
            user = ctx.users().create_remote_user(name).await;
        }
        conclude(user)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some(name) = username(req, ctx) else {
            return Ok(None);
        };
        let mut user = ctx.users().find_by_username_blocking(name);
        if matches!(user, Ok(None)) && ctx.settings().remote_user.create_unknown_user {
            user = ctx.users().create_remote_user_blocking(name);
        }
        conclude(user)
    }

    fn name(&self) -> &'static str {
        "RemoteUser"
    }
}
