//! The key set of the built-in JWT: every key named by its `kid` and
//! pinned to one algorithm, one of them active (it signs), one the default
//! (it verifies tokens without a `kid`), and the public set as RFC 7517
//! publishes it.
//!
//! Rotation without downtime is three settings changes, each rolled out
//! to every instance before the next: add the new key to `[[jwt.keys]]`
//! (it verifies, and is published); name it `jwt.active_kid` (it signs);
//! once the last token the old key signed has expired, drop the old key's
//! private part, then the key.
//!
//! ```
//! use restflow_auth::Settings;
//! use restflow_auth::jwt::KeySet;
//!
//! let s = Settings::from_sources(Some(r#"
//!     [jwt]
//!     signing_key = "a-random-secret-of-at-least-32-bytes!"
//!     kid = "old"
//!     active_kid = "new"
//!     [[jwt.keys]]
//!     kid = "new"
//!     algorithm = "HS256"
//!     signing_key = "the-next-random-secret-of-32-bytes!!"
//! "#), []).unwrap();
//! let set = KeySet::from_settings(&s.jwt).unwrap();
//! assert_eq!(set.active_kid(), "new");
//! assert_eq!(set.kids().collect::<Vec<_>>(), ["old", "new"]);
//! // HMAC secrets are never published.
//! assert!(set.jwks().is_err());
//! ```

use std::fmt;

use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};

use super::b64;
use super::jws::TokenError;
use super::keys::{ConfigError, JwtKeys, KeyParts};
use crate::settings::JwtSettings;

/// The JWK members that carry a private part (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1; RFC 8037 §2): a published set holds none.
pub const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The longest `kid` accepted in the settings.
const MAX_KID: usize = 64;

struct Member {
    kid: Box<str>,
    keys: JwtKeys,
    /// base64url of `{"alg":..,"kid":..,"typ":"JWT"}`: the header this key writes.
    header: String,
}

/// Named keys: see the [module](self).
pub struct KeySet {
    members: Vec<Member>,
    active: usize,
    default: usize,
    /// A `kid` must name a member (a set was configured); otherwise any
    /// `kid` is verified by the one key, as PyJWT (and drf-restflow) do.
    strict: bool,
    /// A token without `kid` is verified by the default key; off for a
    /// published set of several keys, where no key is the default.
    kidless: bool,
}

/// The message of a token whose `kid` names no key of a strict set.
pub(crate) const UNKNOWN_KID: &str = "The token's \"kid\" names no key of this service.";

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .field("active", &self.active_kid())
            .finish_non_exhaustive()
    }
}

impl Member {
    fn new((kid, keys): (String, JwtKeys)) -> Self {
        Member {
            header: header(keys.algorithm(), &kid),
            kid: kid.into_boxed_str(),
            keys,
        }
    }
}

fn header(algorithm: &str, kid: &str) -> String {
    let kid = serde_json::Value::from(kid).to_string();
    b64::encode(format!("{{\"alg\":\"{algorithm}\",\"kid\":{kid},\"typ\":\"JWT\"}}").as_bytes())
}

fn err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// The algorithm a PEM key implies, for a `[[jwt.keys]]` entry without one.
fn implied_algorithm(pem: &[u8], private: bool) -> Option<&'static str> {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, jwk::Jwk};
    if private {
        if EncodingKey::from_rsa_pem(pem).is_ok() {
            return Some("RS256");
        }
        if let Ok(k) = EncodingKey::from_ec_pem(pem) {
            return Some(if Jwk::from_encoding_key(&k, Algorithm::ES256).is_ok() {
                "ES256"
            } else {
                "ES384"
            });
        }
        return EncodingKey::from_ed_pem(pem).ok().map(|_| "EdDSA");
    }
    if DecodingKey::from_rsa_pem(pem).is_ok() {
        return Some("RS256");
    }
    if let Ok(k) = DecodingKey::from_ec_pem(pem) {
        let jwk = Jwk::from_decoding_key(&k, None).ok()?;
        let p384 = matches!(&jwk.algorithm,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(a)
                if a.curve == jsonwebtoken::jwk::EllipticCurve::P384);
        return Some(if p384 { "ES384" } else { "ES256" });
    }
    DecodingKey::from_ed_pem(pem).ok().map(|_| "EdDSA")
}

impl KeySet {
    /// The keys of `[jwt]`: the default key (`signing_key`, `kid`) and
    /// `[[jwt.keys]]`, with `active_kid`. Every problem is reported here.
    pub fn from_settings(s: &JwtSettings) -> Result<Self, ConfigError> {
        let mut members = Vec::with_capacity(s.keys.len() + 1);
        if s.signing_key.is_some() {
            let keys = JwtKeys::from_settings(s)?;
            let kid = match &s.kid {
                Some(kid) => kid.clone(),
                None => keys.derived_kid(),
            };
            members.push((kid, keys));
        } else if s.kid.is_some() {
            return Err(err(
                "jwt.kid",
                "names the key of `jwt.signing_key`, which is not set",
            ));
        }
        let has_default = !members.is_empty();
        for k in &s.keys {
            let label = format!("key \"{}\": ", k.kid);
            let alg = match (&k.algorithm, &k.signing_key, &k.verifying_key) {
                (Some(a), _, _) => a.clone(),
                (None, Some(key), _) if key.expose().contains("-----BEGIN ") => {
                    implied_algorithm(key.expose().as_bytes(), true)
                        .ok_or_else(|| {
                            err("jwt.keys", format!("{label}`signing_key` is not an RSA, EC or Ed25519 private key in PKCS#8 PEM"))
                        })?
                        .to_owned()
                }
                (None, None, Some(public)) => implied_algorithm(public.as_bytes(), false)
                    .ok_or_else(|| {
                        err(
                            "jwt.keys",
                            format!("{label}`verifying_key` is not an RSA, EC or Ed25519 public key in PEM"),
                        )
                    })?
                    .to_owned(),
                _ => {
                    return Err(err(
                        "jwt.keys",
                        format!("{label}set `algorithm` (an HMAC secret does not imply one)"),
                    ));
                }
            };
            // The default key's rules (algorithm names, secret lengths, key
            // families), except that a public PEM may be derived here.
            crate::settings::check_key(
                &alg,
                k.signing_key.as_ref(),
                k.verifying_key.as_deref(),
                true,
            )
            .map_err(|e| err("jwt.keys", format!("{label}{e}")))?;
            let keys = JwtKeys::new(&KeyParts {
                algorithm: &alg,
                signing_key: k.signing_key.as_ref().map(|s| s.expose().as_bytes()),
                verifying_key: k.verifying_key.as_deref().map(str::as_bytes),
                names: ("jwt.keys", "jwt.keys", "jwt.keys"),
                label: &label,
            })?;
            members.push((k.kid.clone(), keys));
        }
        if members.is_empty() {
            return Err(err(
                "jwt.signing_key",
                "is not set: set `[jwt] signing_key` or RESTFLOW_JWT__SIGNING_KEY, or give `[[jwt.keys]]`",
            ));
        }
        for (i, (kid, _)) in members.iter().enumerate() {
            let printable = kid.bytes().all(|b| (0x21..0x7f).contains(&b));
            if kid.is_empty() || kid.len() > MAX_KID || !printable {
                return Err(err(
                    if i == 0 && has_default {
                        "jwt.kid"
                    } else {
                        "jwt.keys"
                    },
                    format!(
                        "kid {kid:?}: give 1 to {MAX_KID} printable ASCII characters, no spaces"
                    ),
                ));
            }
            if members[..i].iter().any(|(k, _)| k == kid) {
                return Err(err("jwt.keys", format!("kid {kid:?} is given twice")));
            }
        }
        let active = match &s.active_kid {
            None if has_default => 0,
            None => {
                return Err(err(
                    "jwt.active_kid",
                    "is not set: name the key of `[[jwt.keys]]` that signs",
                ));
            }
            Some(a) => members
                .iter()
                .position(|(k, _)| k == a)
                .ok_or_else(|| err("jwt.active_kid", format!("{a:?} is not the kid of a key")))?,
        };
        if !members[active].1.can_sign() {
            return Err(err(
                "jwt.active_kid",
                format!(
                    "key {:?} has no private part (`signing_key`): it can verify, not sign",
                    members[active].0
                ),
            ));
        }
        let strict = !s.keys.is_empty();
        Ok(KeySet {
            members: members.into_iter().map(Member::new).collect(),
            active,
            default: if has_default { 0 } else { active },
            strict,
            kidless: true,
        })
    }

    /// One key that verifies every token whatever its `kid` (simplejwt's
    /// verifier, tests). Tokens it signs carry `kid`.
    pub fn single(kid: impl Into<String>, keys: JwtKeys) -> Self {
        let kid = kid.into();
        KeySet {
            members: vec![Member::new((kid, keys))],
            active: 0,
            default: 0,
            strict: false,
            kidless: true,
        }
    }

    /// The keys another issuer publishes, each under its `kid` (verified
    /// strictly). A token without `kid` is verified only when the set holds
    /// one key. `None` when `members` is empty.
    #[cfg_attr(not(feature = "external-jwt"), allow(dead_code))]
    pub(crate) fn published(members: Vec<(String, JwtKeys)>) -> Option<Self> {
        if members.is_empty() {
            return None;
        }
        let kidless = members.len() == 1;
        Some(KeySet {
            members: members.into_iter().map(Member::new).collect(),
            active: 0,
            default: 0,
            strict: true,
            kidless,
        })
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the set holds no key (never true of a built set).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The kid of the key that signs.
    pub fn active_kid(&self) -> &str {
        &self.members[self.active].kid
    }

    /// Every kid, the default key first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| &*m.kid)
    }

    /// The key that signs.
    pub(crate) fn active(&self) -> &JwtKeys {
        &self.members[self.active].keys
    }

    /// The encoded header the active key writes.
    pub(crate) fn active_header(&self) -> &str {
        &self.members[self.active].header
    }

    /// The key whose own header is exactly `segment` (the common case:
    /// a token this service issued), read without decoding it.
    pub(crate) fn by_header(&self, segment: &[u8]) -> Option<&JwtKeys> {
        self.members
            .iter()
            .find(|m| m.header.as_bytes() == segment)
            .map(|m| &m.keys)
            .or_else(|| {
                let d = &self.members[self.default].keys;
                (self.kidless && d.canonical_header().as_bytes() == segment).then_some(d)
            })
    }

    /// The key for a token's `kid`: the default key without one.
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&JwtKeys, TokenError> {
        match kid {
            None if self.kidless => Ok(&self.members[self.default].keys),
            None => Err(TokenError::Invalid(
                "The token has no \"kid\" and the issuer publishes several keys.".into(),
            )),
            Some(kid) => match self.members.iter().find(|m| &*m.kid == kid) {
                Some(m) => Ok(&m.keys),
                None if !self.strict => Ok(&self.members[self.default].keys),
                None => Err(TokenError::Invalid(UNKNOWN_KID.into())),
            },
        }
    }

    /// The public keys as an RFC 7517 JWK set (`kid`, `alg`, `use: sig`).
    /// HMAC secrets are left out (never published); a set of secrets only
    /// is refused.
    pub fn jwks(&self) -> Result<JwkSet, ConfigError> {
        let mut keys = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let Some(jwk) = m.keys.public_jwk() else {
                continue;
            };
            let mut jwk = jwk.clone();
            jwk.common.key_id = Some(m.kid.to_string());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            keys.push(jwk);
        }
        if keys.is_empty() {
            return Err(err(
                "jwt.keys",
                "every key is an HMAC secret: a shared secret is never published; a JWK set is for RS*, PS*, ES* and EdDSA keys",
            ));
        }
        let set = JwkSet { keys };
        // Built from public parts only; checked all the same, as rendered.
        let rendered = serde_json::to_value(&set)
            .map_err(|e| err("jwt.keys", format!("cannot render the key set: {e}")))?;
        let leaks = rendered["keys"].as_array().is_none_or(|keys| {
            keys.iter()
                .any(|k| PRIVATE_MEMBERS.iter().any(|m| k.get(m).is_some()))
        });
        if leaks {
            return Err(err(
                "jwt.keys",
                "the rendered key set holds a private member: refusing to publish it",
            ));
        }
        Ok(set)
    }
}
