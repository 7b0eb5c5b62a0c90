//! A verifier for tokens issued by djangorestframework-simplejwt, so a Rust
//! service can sit beside a Django one. It accepts exactly what simplejwt's
//! own `JWTAuthentication` accepts, from the same settings (`[simplejwt]`,
//! simplejwt's `SIMPLE_JWT`), and answers as simplejwt does:
//!
//! | request | 401 body |
//! | --- | --- |
//! | no header, another scheme, `bearer` (the match is case-sensitive) | not mine |
//! | `Bearer` alone / `Bearer a b` | `{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}` |
//! | invalid for every accepted token class | `{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid"}]}` |
//! | no user claim | `{"detail":"Token contained no recognizable user identification","code":"token_not_valid"}` |
//! | no such user / inactive / password changed | `User not found` (`user_not_found`) / `User is inactive` (`user_inactive`) / `The user's password has been changed.` (`password_changed`) |
//!
//! The per-class messages are simplejwt's: `Token is invalid`, `Token is
//! expired`, `Token has no 'exp' claim`, `Token has no id`, `Token has no
//! type`, `Token has wrong type`. The challenge is `<first header type>
//! realm="api"`. Tokens are only verified here; blacklisting refresh and
//! sliding tokens stays with the Django service.

use std::borrow::Cow;

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::authentication::{Authenticated, Authenticator, Outcome};
use crate::context::Context;
use crate::context::UserRef;
use crate::error::AuthError;
use crate::jwt::jws::{self, Options, TokenError};
use crate::jwt::{ConfigError, JwtKeys, KeySet};
use crate::request::{Request, split_ascii_whitespace};
use crate::settings::SimpleJwtSettings;
use crate::user::{AuthUser, StoreResult};

/// Authentication with tokens issued by djangorestframework-simplejwt.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleJwt;

/// Keys and settings of the simplejwt verifier, built at startup.
#[derive(Debug)]
pub struct SimpleJwtState {
    /// One key, whatever a token's `kid` says (as simplejwt's PyJWT).
    keys: KeySet,
    settings: SimpleJwtSettings,
}

impl SimpleJwtState {
    /// Builds the keys; problems are reported here, not at request time.
    pub fn new(settings: &SimpleJwtSettings) -> Result<Self, ConfigError> {
        settings.validate().map_err(|e| match e {
            crate::settings::Error::Invalid { key, message } => ConfigError { key, message },
            other => ConfigError {
                key: "simplejwt",
                message: other.to_string(),
            },
        })?;
        let keys = JwtKeys::from_settings(&settings.as_jwt()).map_err(|mut e| {
            e.key = match e.key {
                "jwt.verifying_key" => "simplejwt.verifying_key",
                "jwt.algorithm" => "simplejwt.algorithm",
                _ => "simplejwt.signing_key",
            };
            e
        })?;
        Ok(SimpleJwtState {
            keys: KeySet::single("simplejwt", keys),
            settings: settings.clone(),
        })
    }

    /// The challenge: `<first header type> realm="api"`.
    pub fn challenge(&self) -> String {
        format!("{} realm=\"api\"", self.settings.auth_header_types[0])
    }
}

fn with_code(detail: &'static str, code: &'static str) -> AuthError {
    AuthError::failed(detail).with_field("code", json!(code))
}

fn state<U: AuthUser>(ctx: &Context<U>) -> Result<&SimpleJwtState, AuthError> {
    ctx.store::<SimpleJwtState>().ok_or_else(|| {
        AuthError::internal("simplejwt is not configured: set `simplejwt.signing_key`")
    })
}

fn raw_token<'h>(header: &'h [u8], s: &SimpleJwtSettings) -> Result<Option<&'h [u8]>, AuthError> {
    let mut parts = split_ascii_whitespace(header);
    let Some(scheme) = parts.next() else {
        return Ok(None);
    };
    if !s.auth_header_types.iter().any(|t| t.as_bytes() == scheme) {
        return Ok(None);
    }
    match (parts.next(), parts.next()) {
        (Some(token), None) => Ok(Some(token)),
        _ => Err(with_code(
            "Authorization header must contain two space-delimited values",
            "bad_authorization_header",
        )),
    }
}

/// What a valid token names: the user claim and the revoke claim.
struct Claims {
    user: Option<Value>,
    revoke: Option<String>,
    /// `iat`, for logout everywhere (0 without one: issued "before" any).
    iat: i64,
}

fn class_name(kind: &str) -> &'static str {
    if kind == "sliding" {
        "SlidingToken"
    } else {
        "AccessToken"
    }
}

/// simplejwt's `Token.__init__` and `verify` for one token class.
fn verify_class(
    raw: &str,
    st: &SimpleJwtState,
    kind: &str,
    now: f64,
) -> Result<Claims, &'static str> {
    let s = &st.settings;
    let opts = Options {
        require_exp_iat: false,
        reject_aud_when_unset: false,
        leeway_s: s.leeway_s,
        issuer: s.issuer.as_deref(),
        audience: s.audience.as_deref(),
        user_claim: &s.user_id_claim,
        revoke_claim: s
            .check_revoke_token
            .then_some(s.revoke_token_claim.as_str()),
        type_claim: &s.token_type_claim,
        id_claim: &s.jti_claim,
    };
    let mut payload = String::new();
    let read = jws::read(raw, &st.keys, &opts, now, &mut payload).map_err(|e| match e {
        TokenError::Expired => "Token is expired",
        _ => "Token is invalid",
    })?;
    // check_exp: the claim must exist (and is already known to be in the future).
    if read.exp.is_none() {
        return Err("Token has no 'exp' claim");
    }
    let c = &read.claims;
    let id = if s.jti_claim == "jti" { c.jti } else { c.id };
    if id.is_none() {
        return Err("Token has no id");
    }
    let Some(token_type) = c.token_type else {
        return Err("Token has no type");
    };
    if !jws::is_str(token_type, kind) {
        return Err("Token has wrong type");
    }
    Ok(Claims {
        user: c.user.and_then(|v| serde_json::from_str(v.get()).ok()),
        revoke: c.revoke.and_then(|v| serde_json::from_str(v.get()).ok()),
        iat: c.iat.and_then(jws::time_claim).unwrap_or(0),
    })
}

/// `get_validated_token`: the first class that accepts the token, or every
/// class's message.
fn validate(raw: &[u8], st: &SimpleJwtState) -> Result<Claims, AuthError> {
    let now = jws::now_f64();
    let mut messages = Vec::new();
    let text = std::str::from_utf8(raw).ok();
    for kind in &st.settings.auth_token_classes {
        let result = match text {
            Some(t) => verify_class(t, st, kind, now),
            None => Err("Token is invalid"),
        };
        match result {
            Ok(claims) => return Ok(claims),
            Err(message) => messages.push(json!({
                "token_class": class_name(kind),
                "token_type": kind,
                "message": message,
            })),
        }
    }
    Err(with_code(
        "Given token not valid for any token type",
        "token_not_valid",
    )
    .with_field("messages", Value::Array(messages)))
}

/// A token issued before the user's logout everywhere (simplejwt's
/// blacklist message).
fn logged_out() -> AuthError {
    with_code("Token is blacklisted", "token_not_valid")
}

fn not_found() -> AuthError {
    with_code("User not found", "user_not_found")
}

fn check_user<U: AuthUser>(
    st: &SimpleJwtState,
    user: StoreResult<Option<U>>,
    claims: &Claims,
) -> Outcome<U> {
    let user = user?.ok_or_else(not_found)?;
    let s = &st.settings;
    if s.check_user_is_active && !user.is_active() {
        return Err(with_code("User is inactive", "user_inactive"));
    }
    if s.check_revoke_token {
        // simplejwt writes the MD5 of the password hash in upper case.
        let expected = crate::jwt::tokens::revoke_value(user.password_hash()).to_ascii_uppercase();
        let ok = claims
            .revoke
            .as_deref()
            .is_some_and(|r| bool::from(r.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            return Err(with_code(
                "The user's password has been changed.",
                "password_changed",
            ));
        }
    }
    Ok(Some(Authenticated::user_only(user)))
}

fn lookup<U: AuthUser>(st: &SimpleJwtState, claims: &Claims) -> Result<UserRef<U::Id>, AuthError> {
    let Some(value) = &claims.user else {
        return Err(with_code(
            "Token contained no recognizable user identification",
            "token_not_valid",
        ));
    };
    UserRef::from_claim(value, st.settings.user_id_field == "username").ok_or_else(not_found)
}

impl<U: AuthUser> Authenticator<U> for SimpleJwt {
    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let st = state(ctx)?;
        let header = req.authorization();
        let Some(raw) = raw_token(&header, &st.settings)? else {
            return Ok(None);
        };
        let claims = validate(raw, st)?;
        let user = ctx.users().find(&lookup::<U>(st, &claims)?).await;
        let found = check_user(st, user, &claims)?;
        if let Some(a) = &found
            && crate::revocation::revoked(ctx, a.user.id(), claims.iat).await?
        {
            return Err(logged_out());
        }
        Ok(found)
    }

    fn authenticate_blocking(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let st = state(ctx)?;
        let header = req.authorization();
        let Some(raw) = raw_token(&header, &st.settings)? else {
            return Ok(None);
        };
        let claims = validate(raw, st)?;
        let user = ctx.users().find_blocking(&lookup::<U>(st, &claims)?);
        let found = check_user(st, user, &claims)?;
        if let Some(a) = &found
            && crate::revocation::revoked_blocking(ctx, a.user.id(), claims.iat)?
        {
            return Err(logged_out());
        }
        Ok(found)
    }

    fn openapi(ctx: &Context<U>, _: &http::Method) -> Vec<crate::authentication::SchemeDoc> {
        let _ = ctx;
        vec![crate::authentication::SchemeDoc {
            name: "simplejwt".into(),
            kind: crate::authentication::SchemeKind::Bearer {
                format: Some("JWT".into()),
            },
            description: Some("An access token issued by djangorestframework-simplejwt.".into()),
        }]
    }

    fn authenticate_header(&self, ctx: &Context<U>) -> Option<Cow<'static, str>> {
        Some(Cow::Owned(ctx.store::<SimpleJwtState>().map_or_else(
            || "Bearer realm=\"api\"".to_owned(),
            SimpleJwtState::challenge,
        )))
    }

    fn name(&self) -> &'static str {
        "SimpleJwt"
    }

    fn missing(ctx: &Context<U>) -> Option<String> {
        ctx.store::<SimpleJwtState>().is_none().then(|| {
            "`SimpleJwt` needs simplejwt's key: set `simplejwt.signing_key` (Django's SIMPLE_JWT SIGNING_KEY, SECRET_KEY by default)".to_owned()
        })
    }
}

/// Built when `simplejwt.signing_key` is set.
impl crate::context::Component for SimpleJwtState {
    fn build(
        settings: &crate::settings::Settings,
        _: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        match settings.simplejwt.signing_key {
            Some(_) => Ok(Some(SimpleJwtState::new(&settings.simplejwt)?)),
            None => Ok(None),
        }
    }
}
