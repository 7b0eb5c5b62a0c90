//! Access and refresh tokens: minting, verifying, refreshing, rotating and
//! blacklisting, with drf-restflow's claims and order.

use std::fmt;
use std::sync::Arc;

use super::JwtState;
use super::jws::{self, TokenError, Verified};
use crate::user::{AuthUser, StoreResult};

/// 128 random bits, url-safe base64 (22 characters), as `secrets.token_urlsafe(16)`.
pub(crate) fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    super::b64::encode(&bytes)
}

/// Lowercase hex MD5 of the stored password hash (drf-restflow's revoke claim).
pub(crate) fn revoke_value(password_hash: &str) -> String {
    use md5::Digest;
    crate::hex(&md5::Md5::digest(password_hash.as_bytes()))
}

macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq)]
        pub struct $name {
            raw: String,
            claims: Arc<Verified>,
        }

        impl fmt::Debug for $name {
            // The raw token is a bearer credential: never printed.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("jti", &self.claims.jti)
                    .field("exp", &self.claims.exp)
                    .finish_non_exhaustive()
            }
        }

        impl $name {
            /// The `token_type` claim of this kind.
            pub const TOKEN_TYPE: &'static str = $kind;

            /// Verifies `raw`: signature, registered claims, and `token_type`.
            pub fn verify(raw: &str, jwt: &JwtState) -> Result<Self, TokenError> {
                let now = jws::now_f64();
                let claims = Arc::new(jws::decode(raw, &jwt.keys, &jwt.settings, $kind, now)?);
                Ok($name { raw: raw.to_owned(), claims })
            }

            /// Mints a token for `user`.
            pub fn for_user<U: AuthUser>(user: &U, jwt: &JwtState) -> Result<Self, TokenError> {
                Self::for_user_with(user, jwt, &serde_json::Map::new())
            }

            /// Mints a token for `user` with extra (custom) claims; registered
            /// claims cannot be overridden.
            pub fn for_user_with<U: AuthUser>(
                user: &U,
                jwt: &JwtState,
                extra: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, TokenError> {
                let user_id = jwt.user_id_value(user);
                let revoke = jwt.settings.check_revoke_token.then(|| revoke_value(user.password_hash()));
                // A refresh token minted for a user starts a family.
                let fam = ($kind == "refresh" && jwt.families()).then(new_jti);
                jwt.mint($kind, user_id, revoke, (fam, None), extra).map(|(raw, claims)| $name { raw, claims: Arc::new(claims) })
            }

            /// The encoded token.
            pub fn as_str(&self) -> &str {
                &self.raw
            }

            /// The `jti` claim (`""` when absent).
            pub fn jti(&self) -> &str {
                self.claims.jti.as_deref().unwrap_or("")
            }

            /// The `exp` claim.
            pub fn exp(&self) -> i64 {
                self.claims.exp
            }

            /// The refresh-token family (`fam`) this token belongs to.
            pub fn family(&self) -> Option<&str> {
                self.claims.fam.as_deref()
            }

            /// The user id claim, as sent.
            pub fn user_id(&self) -> Option<&serde_json::Value> {
                self.claims.user_id.as_ref()
            }

            /// Every claim (custom ones included).
            pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
                serde_json::from_str(&self.claims.payload).unwrap_or_default()
            }

            pub(crate) fn verified(&self) -> &Verified {
                &self.claims
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.raw)
            }
        }
    };
}

impl AccessToken {
    /// [`verify`](Self::verify) through the state's cache of tokens
    /// verified before (see `jwt/cache.rs`): the same answer, without
    /// checking the same signature again on every request.
    pub fn verify_cached(raw: &str, jwt: &JwtState) -> Result<Self, TokenError> {
        let now = jws::now_f64();
        let leeway = jwt.settings.leeway_s as f64;
        if let Some(claims) = jwt.verified.get(raw, now, leeway) {
            return Ok(AccessToken {
                raw: raw.to_owned(),
                claims,
            });
        }
        let token = Self::verify(raw, jwt)?;
        jwt.verified.insert(raw, &token.claims, now, leeway);
        Ok(token)
    }
}

token_type!(
    /// A short-lived token that authenticates requests.
    AccessToken, "access"
);
token_type!(
    /// A long-lived token that mints access tokens at the refresh endpoint.
    RefreshToken, "refresh"
);

impl RefreshToken {
    /// A new access token for the same user: new jti, `iat` now, `exp` now
    /// plus the access lifetime. Copies the user id, revoke and family
    /// claims (and `iss`/`aud` from the current settings); custom claims
    /// are not copied.
    pub fn access_token(&self, jwt: &JwtState) -> Result<AccessToken, TokenError> {
        let (raw, claims) = self.mint_like(
            jwt,
            AccessToken::TOKEN_TYPE,
            (self.claims.fam.clone(), None),
        )?;
        Ok(AccessToken {
            raw,
            claims: Arc::new(claims),
        })
    }

    /// A new refresh token for the same user, with a full lifetime. With
    /// refresh families (`jwt.refresh_families`) it stays in this token's
    /// family (a token without one starts one), and its jti is derived from
    /// this token's: every rotation of one token gives the same successor.
    pub fn rotate(&self, jwt: &JwtState) -> Result<RefreshToken, TokenError> {
        let family = if jwt.families() {
            let fam = self.claims.fam.clone().unwrap_or_else(new_jti);
            let jti = (!self.jti().is_empty()).then(|| super::family::successor_jti(self.jti()));
            (Some(fam), jti)
        } else {
            (None, None)
        };
        let (raw, claims) = self.mint_like(jwt, RefreshToken::TOKEN_TYPE, family)?;
        Ok(RefreshToken {
            raw,
            claims: Arc::new(claims),
        })
    }

    /// A fresh token of `kind` carrying this one's user id and revoke claims.
    fn mint_like(
        &self,
        jwt: &JwtState,
        kind: &'static str,
        family: (Option<String>, Option<String>),
    ) -> Result<(String, Verified), TokenError> {
        let user_id = self
            .claims
            .user_id
            .clone()
            .unwrap_or(serde_json::Value::Null);
        jwt.mint(
            kind,
            user_id,
            self.claims.revoke.clone(),
            family,
            &serde_json::Map::new(),
        )
    }

    /// This token as a blacklist entry. In a family it is kept the grace
    /// window longer: a retry's twin (the same jti) expires up to that much
    /// later.
    pub fn entry<'a>(&'a self, jwt: &JwtState) -> super::Entry<'a> {
        let twin = if self.claims.fam.is_some() {
            jwt.settings.refresh_reuse_grace_s as i64
        } else {
            0
        };
        super::Entry {
            jti: self.jti(),
            expires_at: jwt.keep_until(self.exp()).saturating_add(twin),
            token: &self.raw,
            user_id: self.user_id(),
        }
    }

    /// Adds this token's jti to the blacklist (whatever `blacklist_enabled` says).
    pub async fn blacklist(&self, jwt: &JwtState) -> StoreResult<()> {
        match jwt.blacklist_backend() {
            Some(b) => b.blacklist_entry(&self.entry(jwt)).await,
            None => Err(crate::error::AuthError::internal(
                "no JWT blacklist configured",
            )),
        }
    }

    /// Blocking twin of [`blacklist`](RefreshToken::blacklist).
    pub fn blacklist_blocking(&self, jwt: &JwtState) -> StoreResult<()> {
        match jwt.blacklist_backend() {
            Some(b) => b.blacklist_entry_blocking(&self.entry(jwt)),
            None => Err(crate::error::AuthError::internal(
                "no JWT blacklist configured",
            )),
        }
    }
}
