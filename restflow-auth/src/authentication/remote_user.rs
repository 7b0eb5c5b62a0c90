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
//! | a known active user | that user |
//! | an unknown user | created through the user store (`remote_user.create_unknown_user`, on by default, as Django's `RemoteUserBackend`) |
//! | an inactive user, or one that cannot be created | 403 `User inactive or deleted.` |
//!
//! There is no challenge, so rejections are 403, as DRF's.

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::Rejection;
use crate::request::Request;
use crate::user::{AuthUser, StoreResult};

/// Authentication by a header set by a trusted proxy.
#[derive(Clone, Copy, Debug, Default)]
pub struct RemoteUser;

fn username<'a, U: AuthUser>(req: &Request<'a>, ctx: &Context<U>) -> Option<&'a str> {
    req.header(&ctx.settings().remote_user.header)
        .map(str::trim)
        .filter(|s| !s.is_empty())
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
