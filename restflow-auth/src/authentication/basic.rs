//! DRF's `BasicAuthentication`: `Authorization: Basic base64(user:password)`.
//!
//! | request | answer |
//! | --- | --- |
//! | no header, or another scheme | not mine |
//! | `Basic` alone | 401 `Invalid basic header. No credentials provided.` |
//! | `Basic a b` | 401 `Invalid basic header. Credentials string should not contain spaces.` |
//! | not base64, no `:` | 401 `Invalid basic header. Credentials not correctly base64 encoded.` |
//! | wrong password, unknown user | 401 `Invalid username/password.` |
//! | inactive user, right password | 401 `User inactive or deleted.` |
//!
//! The challenge is `Basic realm="api"`. Base64 is decoded strictly (DRF
//! silently drops characters outside the alphabet); the credentials are read
//! as UTF-8, else Latin-1, and split at the first `:`. The password check
//! runs on the bounded password executor (`ctx.passwords()`), costs the
//! same for unknown users, and is counted by the login lockout (429 once
//! locked out; see [`lockout`](crate::lockout)).

use std::borrow::Cow;

use base64::Engine;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::{Request, split_ascii_whitespace};
use crate::user::AuthUser;

/// HTTP Basic authentication against the user store's password hashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Basic;

/// Standard base64 with padding; any trailing bits, as Python's decoder.
const STRICT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

/// The credentials of a `Basic` header, `Ok(None)` when it is not ours.
fn credentials(req: &Request<'_>) -> Result<Option<(String, String)>, AuthError> {
    let header = req.authorization();
    let mut parts = split_ascii_whitespace(&header);
    match parts.next() {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"basic") => {}
        _ => return Ok(None),
    }
    let Some(encoded) = parts.next() else {
        return Err(Rejection::BasicNoCredentials.into());
    };
    if parts.next().is_some() {
        return Err(Rejection::BasicSpaces.into());
    }
    let bad = || AuthError::new(Rejection::BasicBadBase64);
    let decoded = STRICT.decode(encoded).map_err(|_| bad())?;
    let text = match String::from_utf8(decoded) {
        Ok(t) => t,
        Err(e) => e.into_bytes().iter().map(|b| char::from(*b)).collect(),
    };
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((user.to_owned(), password.to_owned())))
}

fn conclude<U: AuthUser>(user: Option<U>, matches: bool) -> Outcome<U> {
    match user {
        Some(user) if matches => {
            if !user.is_active() {
                return Err(Rejection::UserInactiveOrDeleted.into());
            }
            Ok(Some(Authenticated::user_only(user)))
        }
        _ => Err(Rejection::InvalidUsernamePassword.into()),
    }
}

impl<U: AuthUser> Authenticator<U> for Basic {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some((username, password)) = credentials(req)? else {
            return Ok(None);
        };
        let (user, matches) = crate::password::check_login(req, ctx, &username, password).await?;
        conclude(user, matches)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let Some((username, password)) = credentials(req)? else {
            return Ok(None);
        };
        let (user, matches) =
            crate::password::check_login_blocking(req, ctx, &username, &password)?;
        conclude(user, matches)
    }

    fn openapi(_: &Context<U>, _: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        vec![crate::authentication::SchemeDoc {
            name: "basic".into(),
            kind: crate::authentication::SchemeKind::Basic,
            description: Some("A username and password (`Authorization: Basic ...`).".into()),
        }]
    }

    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        // Computed for every request: the default without an allocation.
        match ctx.settings().basic.realm.as_str() {
            "api" => Some(Cow::Borrowed("Basic realm=\"api\"")),
            realm => Some(Cow::Owned(format!("Basic realm=\"{realm}\""))),
        }
    }

    fn name(&self) -> &'static str {
        "Basic"
    }
}
