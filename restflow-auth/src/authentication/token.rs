//! DRF's `TokenAuthentication`: `Authorization: Token <key>`.
//!
//! | request | answer |
//! | --- | --- |
//! | no header, or another keyword | not mine |
//! | `Token` alone | 401 `Invalid token header. No credentials provided.` |
//! | `Token a b` | 401 `Invalid token header. Token string should not contain spaces.` |
//! | a key that is not UTF-8 | 401 `Invalid token header. Token string should not contain invalid characters.` |
//! | unknown key, key of a deleted user | 401 `Invalid token.` |
//! | inactive user | 401 `User inactive or deleted.` |
//!
//! The keyword (`token.keyword`, default `Token`) is matched
//! case-insensitively and is the challenge.

use std::borrow::Cow;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::{Request, split_ascii_whitespace};
use crate::token::Tokens;
use crate::user::{AuthUser, StoreResult};

/// DRF's token authentication against a [`TokenStore`](crate::token::TokenStore)
/// registered with `AuthBuilder::tokens`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Token;

/// The key of a `Token` header, `Ok(None)` when it is not ours.
fn key<'h>(header: &'h [u8], keyword: &str) -> Result<Option<&'h str>, AuthError> {
    let mut parts = split_ascii_whitespace(header);
    match parts.next() {
        Some(k) if k.eq_ignore_ascii_case(keyword.as_bytes()) => {}
        _ => return Ok(None),
    }
    let Some(key) = parts.next() else {
        return Err(Rejection::TokenNoCredentials.into());
    };
    if parts.next().is_some() {
        return Err(Rejection::TokenSpaces.into());
    }
    std::str::from_utf8(key)
        .map(Some)
        .map_err(|_| Rejection::TokenInvalidCharacters.into())
}

/// The request's key, `Ok(None)` when the request is not ours: the
/// one-pass fast path, else DRF's reading (then a copy: repeated or oddly
/// spaced headers are rare).
fn credentials<'a, U: AuthUser>(
    req: &Request<'a>,
    ctx: &Context<U>,
) -> Result<Option<Cow<'a, str>>, AuthError> {
    let keyword = &ctx.settings().token.keyword;
    if let Some(key) = crate::request::simple_credentials(req, keyword) {
        return Ok(Some(Cow::Borrowed(key)));
    }
    let header = req.authorization();
    Ok(key(&header, keyword)?.map(|k| Cow::Owned(k.to_owned())))
}

fn store<U: AuthUser>(ctx: &Context<U>) -> Result<&Tokens<U::Id>, AuthError> {
    ctx.store::<Tokens<U::Id>>()
        .ok_or_else(|| AuthError::internal("no token store: call `.tokens(store)` on the builder"))
}

fn conclude<U: AuthUser>(user: StoreResult<Option<U>>, key: &str) -> Outcome<U> {
    // A key whose user row is gone is "Invalid token." (DRF's row cascades).
    let user = user?.ok_or(Rejection::InvalidToken)?;
    if !user.is_active() {
        return Err(Rejection::UserInactiveOrDeleted.into());
    }
    Ok(Some(Authenticated::new(user, key.to_owned())))
}

impl<U: AuthUser> Authenticator<U> for Token {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some(key) = credentials(req, ctx)? else {
            return Ok(None);
        };
        let Some(id) = store(ctx)?.user_for(&key).await? else {
            return Err(Rejection::InvalidToken.into());
        };
        conclude(ctx.users().find_by_id(&id).await, &key)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some(key) = credentials(req, ctx)? else {
            return Ok(None);
        };
        let Some(id) = store(ctx)?.user_for_blocking(&key)? else {
            return Err(Rejection::InvalidToken.into());
        };
        conclude(ctx.users().find_by_id_blocking(&id), &key)
    }

    fn openapi(ctx: &Context<U>, _: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        let keyword = &ctx.settings().token.keyword;
        vec![crate::authentication::SchemeDoc {
            name: "token".into(),
            kind: crate::authentication::SchemeKind::Header("Authorization".into()),
            description: Some(format!("An API token: `Authorization: {keyword} <key>`.").into()),
        }]
    }

    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        // Computed for every request: the default without an allocation.
        match ctx.settings().token.keyword.as_str() {
            "Token" => Some(Cow::Borrowed("Token")),
            other => Some(Cow::Owned(other.to_owned())),
        }
    }

    fn name(&self) -> &'static str {
        "Token"
    }

    fn missing(ctx: &Context<U>) -> Option<String> {
        ctx.store::<Tokens<U::Id>>()
            .is_none()
            .then(|| "`Token` needs a token store: call `.tokens(store)` on the builder".to_owned())
    }
}
