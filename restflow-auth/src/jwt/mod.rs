//! The built-in JWT, as drf-restflow's: settings in [`JwtSettings`],
//! [`AccessToken`] and [`RefreshToken`], the [`Jwt`](crate::authentication::jwt::Jwt)
//! authenticator, the blacklist, and the obtain/refresh/blacklist views
//! (`Auth::jwt_routes`).
//!
//! Verification follows PyJWT's order and messages (see [`jws`]); the
//! deliberate differences from the reference are listed in the README.

pub(crate) mod b64;
pub mod blacklist;
mod cache;
pub mod cookie;
#[cfg(feature = "external-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "external-jwt")))]
pub mod external;
pub(crate) mod family;
pub mod jws;
pub mod keys;
pub mod keyset;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis_blacklist;
#[cfg(feature = "external-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "external-jwt")))]
pub mod remote_keys;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod sql_blacklist;
pub mod tokens;

use std::fmt::Write as _;

pub use self::blacklist::{Blacklist, Blacklists, Entry, MemoryBlacklist};
pub use self::jws::TokenError;
pub use self::keys::{ConfigError, JwtKeys};
pub use self::keyset::KeySet;
#[cfg(feature = "redis")]
pub use self::redis_blacklist::RedisBlacklist;
#[cfg(feature = "postgres")]
pub use self::sql_blacklist::PostgresBlacklist;
#[cfg(feature = "sqlite")]
pub use self::sql_blacklist::SqliteBlacklist;
pub use self::tokens::{AccessToken, RefreshToken};
use crate::settings::JwtSettings;
use crate::user::AuthUser;

/// The JWT configuration of an [`Auth`](crate::Auth): keys built once,
/// settings, and the blacklist. Read it with `ctx.store::<JwtState>()`.
#[derive(Debug)]
pub struct JwtState {
    pub(crate) keys: KeySet,
    pub(crate) settings: JwtSettings,
    blacklist: Option<Blacklists>,
    pub(crate) verified: cache::VerifiedCache,
}

impl JwtState {
    /// Checks the settings and the blacklist choice, and builds the keys.
    pub fn new(settings: &JwtSettings, blacklist: Option<Blacklists>) -> Result<Self, ConfigError> {
        settings.validate().map_err(|e| match e {
            crate::settings::Error::Invalid { key, message } => ConfigError { key, message },
            other => ConfigError {
                key: "jwt",
                message: other.to_string(),
            },
        })?;
        let keys = KeySet::from_settings(settings)?;
        if settings.user_id_field == "email" {
            return Err(ConfigError {
                key: "jwt.user_id_field",
                message:
                    "`email` is not part of `AuthUser`; use `id` (or `pk`, `uuid`) or `username`"
                        .into(),
            });
        }
        match &blacklist {
            None if settings.blacklist_enabled => {
                return Err(ConfigError {
                    key: "jwt.blacklist_enabled",
                    message: "the blacklist is on but no backend was given: call `.blacklist(..)` on the builder (Redis or SQL for several instances), or set `jwt.blacklist_enabled = false`".into(),
                });
            }
            Some(b) if b.is_process_local() && !settings.allow_local_blacklist => {
                return Err(ConfigError {
                    key: "jwt.allow_local_blacklist",
                    message: "an in-memory blacklist keeps revocations inside this process, so other instances would still accept revoked tokens; use a shared backend (Redis, Postgres), or set `jwt.allow_local_blacklist = true` for a single instance".into(),
                });
            }
            _ => {}
        }
        family::validate(settings, blacklist.is_some())?;
        Ok(JwtState {
            keys,
            settings: settings.clone(),
            blacklist,
            verified: cache::VerifiedCache::default(),
        })
    }

    /// The key set: the kid that signs, the kids that verify, the public set.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The settings in force.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// The blacklist backend, if any.
    pub fn blacklist_backend(&self) -> Option<&Blacklists> {
        self.blacklist.as_ref()
    }

    /// The blacklist, when the settings enable its checks.
    pub(crate) fn checked_blacklist(&self) -> Option<&Blacklists> {
        self.blacklist
            .as_ref()
            .filter(|_| self.settings.blacklist_enabled)
    }

    /// How long a blacklist entry must live: the token's `exp` plus the leeway.
    pub(crate) fn keep_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.settings.leeway_s as i64)
    }

    /// `WWW-Authenticate`: the first accepted scheme, `realm="api"`.
    pub fn challenge(&self) -> String {
        format!(
            "{} realm=\"api\"",
            self.settings
                .auth_header_types
                .first()
                .map_or("Bearer", String::as_str)
        )
    }

    pub(crate) fn user_id_value<U: AuthUser>(&self, user: &U) -> serde_json::Value {
        match self.settings.user_id_field.as_str() {
            "username" => serde_json::Value::String(user.username().to_owned()),
            _ => crate::user::UserId::to_json(user.id()),
        }
    }

    /// Mints a token of `kind`; `jti` is fresh unless given (a rotation's
    /// successor, see `family.rs`), `fam` its refresh-token family.
    pub(crate) fn mint(
        &self,
        kind: &'static str,
        user_id: serde_json::Value,
        revoke: Option<String>,
        family: (Option<String>, Option<String>),
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(String, jws::Verified), TokenError> {
        let (fam, jti) = family;
        let s = &self.settings;
        let now = blacklist::unix_now();
        let lifetime = if kind == "access" {
            s.access_token_lifetime_s
        } else {
            s.refresh_token_lifetime_s
        };
        let exp = now + lifetime as i64;
        let jti = jti.unwrap_or_else(tokens::new_jti);
        let q = |v: &str| serde_json::Value::from(v).to_string();
        let mut json = format!(
            "{{\"token_type\":\"{kind}\",\"iat\":{now},\"exp\":{exp},\"jti\":\"{jti}\",{}:{user_id}",
            q(&s.user_id_claim)
        );
        if let Some(iss) = &s.issuer {
            let _ = write!(json, ",\"iss\":{}", q(iss));
        }
        if let Some(aud) = &s.audience {
            let _ = write!(json, ",\"aud\":{}", q(aud));
        }
        if let Some(r) = &revoke {
            let _ = write!(json, ",{}:{}", q(&s.revoke_token_claim), q(r));
        }
        if let Some(f) = &fam {
            let _ = write!(json, ",\"{}\":{}", family::CLAIM, q(f));
        }
        const RESERVED: &[&str] = &[
            "token_type",
            "iat",
            "exp",
            "jti",
            "iss",
            "aud",
            "nbf",
            family::CLAIM,
        ];
        for (k, v) in extra {
            if RESERVED.contains(&k.as_str()) || *k == s.user_id_claim || *k == s.revoke_token_claim
            {
                continue;
            }
            let _ = write!(json, ",{}:{v}", q(k));
        }
        json.push('}');
        let raw = jws::encode(&self.keys, &json).map_err(|e| TokenError::Invalid(e.into()))?;
        let verified = jws::Verified {
            payload: json.into_boxed_str(),
            jti: Some(jti),
            exp,
            iat: now,
            user_id: Some(user_id),
            revoke,
            family_key: fam
                .as_deref()
                .map(|f| family::revoked_key(f).into_boxed_str()),
            fam,
        };
        Ok((raw, verified))
    }
}

/// Built when `jwt.signing_key` or `[[jwt.keys]]` is set, with the
/// builder's blacklist.
impl crate::context::Component for JwtState {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        let blacklist = crate::context::take::<Blacklists>(stores);
        if settings.jwt.signing_key.is_none() && settings.jwt.keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(JwtState::new(&settings.jwt, blacklist)?))
    }
}
