//! Signing and verifying keys, built once at startup from [`JwtSettings`].
//! HMAC keeps its keyed state, so a verification costs one clone and one
//! pass over the message; the other families go through jsonwebtoken's
//! crypto provider.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::b64;
use crate::settings::JwtSettings;

/// Why the JWT configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted setting name.
    pub key: &'static str,
    /// What to fix.
    pub message: String,
}

#[derive(Clone)]
enum HmacKey {
    S256(Hmac<sha2::Sha256>),
    S384(Hmac<sha2::Sha384>),
    S512(Hmac<sha2::Sha512>),
}

// Built once per process; the HMAC state stays inline because verification
// clones it on every request.
#[allow(clippy::large_enum_variant)]
enum Signer {
    Hmac(HmacKey),
    Asymmetric {
        encoding: Option<EncodingKey>,
        decoding: DecodingKey,
    },
}

/// The keys and algorithm of the built-in JWT.
pub struct JwtKeys {
    name: &'static str,
    algorithm: Algorithm,
    signer: Signer,
    /// base64url of `{"alg":"<name>","typ":"JWT"}`, the header of a token
    /// without a `kid`.
    canonical_header: String,
    /// The public JWK of an asymmetric key.
    public: Option<Jwk>,
}

/// The parts of one key as the settings give them, and the setting names
/// its errors point to.
pub(crate) struct KeyParts<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) signing_key: Option<&'a [u8]>,
    pub(crate) verifying_key: Option<&'a [u8]>,
    /// (signing key, verifying key, algorithm) setting names.
    pub(crate) names: (&'static str, &'static str, &'static str),
    /// Prefixed to each message (`key "k1": `), empty for the default key.
    pub(crate) label: &'a str,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.name)
            .finish_non_exhaustive()
    }
}

/// The keyed state of an HMAC algorithm; `None` for another algorithm.
fn hmac_key(alg: Algorithm, secret: &[u8]) -> Option<HmacKey> {
    Some(match alg {
        Algorithm::HS256 => HmacKey::S256(Hmac::new_from_slice(secret).expect("any length")),
        Algorithm::HS384 => HmacKey::S384(Hmac::new_from_slice(secret).expect("any length")),
        Algorithm::HS512 => HmacKey::S512(Hmac::new_from_slice(secret).expect("any length")),
        _ => return None,
    })
}

fn algorithm(name: &str) -> Option<(&'static str, Algorithm)> {
    Some(match name {
        "HS256" => ("HS256", Algorithm::HS256),
        "HS384" => ("HS384", Algorithm::HS384),
        "HS512" => ("HS512", Algorithm::HS512),
        "RS256" => ("RS256", Algorithm::RS256),
        "RS384" => ("RS384", Algorithm::RS384),
        "RS512" => ("RS512", Algorithm::RS512),
        "PS256" => ("PS256", Algorithm::PS256),
        "PS384" => ("PS384", Algorithm::PS384),
        "PS512" => ("PS512", Algorithm::PS512),
        "ES256" => ("ES256", Algorithm::ES256),
        "ES384" => ("ES384", Algorithm::ES384),
        "EdDSA" => ("EdDSA", Algorithm::EdDSA),
        _ => return None,
    })
}

/// Installs the compiled-in crypto provider unless one is installed, so a
/// build where feature unification enabled two providers does not panic on
/// the first token.
fn ensure_provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

fn canonical_header(name: &str) -> String {
    b64::encode(format!("{{\"alg\":\"{name}\",\"typ\":\"JWT\"}}").as_bytes())
}

fn cfg_err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

impl JwtKeys {
    /// Builds the keys; every problem is reported here, not at request time.
    pub fn from_settings(s: &JwtSettings) -> Result<Self, ConfigError> {
        s.validate().map_err(|e| match e {
            crate::settings::Error::Invalid { key, message } => cfg_err(key, message),
            other => cfg_err("jwt", other.to_string()),
        })?;
        let key = s.signing_key.as_ref().ok_or_else(|| {
            cfg_err(
                "jwt.signing_key",
                "is not set: set `[jwt] signing_key` or RESTFLOW_JWT__SIGNING_KEY",
            )
        })?;
        JwtKeys::new(&KeyParts {
            algorithm: &s.algorithm,
            signing_key: Some(key.expose().as_bytes()),
            verifying_key: s.verifying_key.as_deref().map(str::as_bytes),
            names: ("jwt.signing_key", "jwt.verifying_key", "jwt.algorithm"),
            label: "",
        })
    }

    /// Builds one key of a set from its parts. An asymmetric key may come
    /// without its public part (derived from the private one) or without
    /// its private part (it only verifies).
    pub(crate) fn new(p: &KeyParts<'_>) -> Result<Self, ConfigError> {
        let (signing_name, verifying_name, algorithm_name) = p.names;
        let (name, alg) = algorithm(p.algorithm)
            .ok_or_else(|| cfg_err(algorithm_name, format!("{}unsupported", p.label)))?;
        ensure_provider();
        let hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
        let (signer, public) = if hmac {
            let key = p.signing_key.ok_or_else(|| {
                cfg_err(signing_name, format!("{}{name} needs its secret", p.label))
            })?;
            (
                Signer::Hmac(hmac_key(alg, key).expect("an HMAC algorithm")),
                None,
            )
        } else {
            let label = p.label;
            let bad = |name_of: &'static str, what: &str, e: jsonwebtoken::errors::Error| {
                cfg_err(
                    name_of,
                    format!(
                        "{label}cannot read the {what} key for {name}: {e}; give a PEM key of the algorithm's family"
                    ),
                )
            };
            let encoding = p
                .signing_key
                .map(|key| match alg {
                    Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(key),
                    Algorithm::EdDSA => EncodingKey::from_ed_pem(key),
                    _ => EncodingKey::from_rsa_pem(key),
                })
                .transpose()
                .map_err(|e| bad(signing_name, "private", e))?;
            let (decoding, jwk) = match (p.verifying_key, &encoding) {
                (Some(public), _) => {
                    let decoding = match alg {
                        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(public),
                        Algorithm::EdDSA => DecodingKey::from_ed_pem(public),
                        _ => DecodingKey::from_rsa_pem(public),
                    }
                    .map_err(|e| bad(verifying_name, "public", e))?;
                    let jwk = Jwk::from_decoding_key(&decoding, Some(alg))
                        .map_err(|e| bad(verifying_name, "public", e))?;
                    (decoding, jwk)
                }
                (None, Some(encoding)) => {
                    let jwk = Jwk::from_encoding_key(encoding, alg)
                        .map_err(|e| bad(signing_name, "private", e))?;
                    let decoding =
                        DecodingKey::from_jwk(&jwk).map_err(|e| bad(signing_name, "private", e))?;
                    (decoding, jwk)
                }
                (None, None) => {
                    return Err(cfg_err(
                        verifying_name,
                        format!("{label}{name} needs a public or a private PEM key"),
                    ));
                }
            };
            (Signer::Asymmetric { encoding, decoding }, Some(jwk))
        };
        let keys = JwtKeys {
            name,
            algorithm: alg,
            signer,
            canonical_header: canonical_header(name),
            public,
        };
        // Prove the pair at startup: a private key that does not match the
        // public one would otherwise fail every request.
        if keys.can_sign() {
            let probe = b"restflow-auth key check";
            let sig = keys
                .sign(probe)
                .map_err(|e| cfg_err(signing_name, format!("{}{e}", p.label)))?;
            if !keys.verify(probe, &sig) {
                return Err(cfg_err(
                    verifying_name,
                    format!(
                        "{}does not verify what `{signing_name}` signs with {name}: the keys are not a pair",
                        p.label
                    ),
                ));
            }
        }
        Ok(keys)
    }

    /// A public key another issuer publishes (a member of its JWK set),
    /// pinned to `algorithm_name`: the key's type must be the algorithm's
    /// (RSA for RS*/PS*, at least 2048 bits; EC P-256 for ES256, P-384 for
    /// ES384; OKP Ed25519 for EdDSA). A shared secret (`kty: oct`) is
    /// refused: a key anyone who reads the set can sign with. The error
    /// says why, for the log.
    #[cfg_attr(not(feature = "external-jwt"), allow(dead_code))]
    pub(crate) fn from_public_jwk(jwk: &Jwk, algorithm_name: &str) -> Result<Self, String> {
        use jsonwebtoken::jwk::{AlgorithmParameters as P, EllipticCurve as C};
        let (name, alg) =
            algorithm(algorithm_name).ok_or_else(|| format!("unsupported alg {algorithm_name}"))?;
        let fits = match (&jwk.algorithm, alg) {
            (P::OctetKey(_), _) => {
                return Err("a shared secret (kty oct) is never accepted from a key set".into());
            }
            (
                P::RSA(rsa),
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
            ) => {
                let (mut n, mut e) = (Vec::new(), Vec::new());
                if !b64::decode_into(rsa.n.as_bytes(), &mut n)
                    || !b64::decode_into(rsa.e.as_bytes(), &mut e)
                {
                    return Err("the RSA modulus or exponent is not base64url".into());
                }
                let bits = n.iter().position(|b| *b != 0).map_or(0, |i| {
                    (n.len() - i - 1) * 8 + (8 - n[i].leading_zeros() as usize)
                });
                if !(2048..=8192).contains(&bits) {
                    return Err(format!(
                        "an RSA key of {bits} bits (2048 to 8192 are accepted)"
                    ));
                }
                // What the rsa crate verifies with: odd, 3 to 2^33 - 1.
                let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
                let exponent = if e.len() <= 5 {
                    e.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b))
                } else {
                    u64::MAX
                };
                if exponent < 3 || exponent % 2 == 0 || exponent >= 1 << 33 {
                    return Err("an RSA exponent the verifier does not accept".into());
                }
                true
            }
            (P::EllipticCurve(ec), Algorithm::ES256) => ec.curve == C::P256,
            (P::EllipticCurve(ec), Algorithm::ES384) => ec.curve == C::P384,
            (P::OctetKeyPair(okp), Algorithm::EdDSA) => okp.curve == C::Ed25519,
            _ => false,
        };
        if !fits {
            return Err(format!("the key's type does not fit its alg {name}"));
        }
        ensure_provider();
        let decoding = DecodingKey::from_jwk(jwk).map_err(|e| format!("unreadable key: {e}"))?;
        Ok(JwtKeys {
            name,
            algorithm: alg,
            signer: Signer::Asymmetric {
                encoding: None,
                decoding,
            },
            canonical_header: canonical_header(name),
            public: Some(jwk.clone()),
        })
    }

    /// Whether this key has its private part (or secret).
    pub fn can_sign(&self) -> bool {
        !matches!(self.signer, Signer::Asymmetric { encoding: None, .. })
    }

    /// The public JWK of an asymmetric key (no `kid`); `None` for an HMAC
    /// secret, which is never published.
    pub(crate) fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    /// The id derived from the key: the RFC 7638 thumbprint (SHA-256) of
    /// the public JWK, or for an HMAC secret a keyed digest of a fixed
    /// label (as offline-guessable as any signature the key makes, no more).
    pub(crate) fn derived_kid(&self) -> String {
        use jsonwebtoken::jwk::ThumbprintHash;
        // jsonwebtoken's RFC 7638 thumbprint, as `restflow-auth jwks` gives it.
        if let Some(jwk) = &self.public
            && let Ok(thumbprint) = jwk.thumbprint(ThumbprintHash::SHA256)
        {
            return thumbprint;
        }
        let mut tag = self.sign(b"restflow-auth key id").unwrap_or_default();
        tag.truncate(16);
        b64::encode(&tag)
    }

    /// HMAC keys from raw bytes (a binary secret, e.g. from a JWK), for
    /// `HS256`, `HS384` or `HS512`. No length rule is applied here.
    pub fn hmac(algorithm_name: &str, secret: &[u8]) -> Result<Self, ConfigError> {
        let not_hmac = || {
            cfg_err(
                "jwt.algorithm",
                format!("'{algorithm_name}' is not an HMAC algorithm"),
            )
        };
        let (name, algorithm) = algorithm(algorithm_name).ok_or_else(not_hmac)?;
        let signer = hmac_key(algorithm, secret).ok_or_else(not_hmac)?;
        Ok(JwtKeys {
            name,
            algorithm,
            signer: Signer::Hmac(signer),
            canonical_header: canonical_header(name),
            public: None,
        })
    }

    /// The algorithm name (`HS256`, ...).
    pub fn algorithm(&self) -> &'static str {
        self.name
    }

    /// The encoded header this crate writes (`{"alg":..,"typ":"JWT"}`).
    pub(crate) fn canonical_header(&self) -> &str {
        &self.canonical_header
    }

    /// Signs `message`; returns the raw signature bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.signer {
            Signer::Hmac(k) => Ok(match k.clone() {
                HmacKey::S256(mut m) => {
                    m.update(message);
                    m.finalize().into_bytes().to_vec()
                }
                HmacKey::S384(mut m) => {
                    m.update(message);
                    m.finalize().into_bytes().to_vec()
                }
                HmacKey::S512(mut m) => {
                    m.update(message);
                    m.finalize().into_bytes().to_vec()
                }
            }),
            Signer::Asymmetric {
                encoding: Some(key),
                ..
            } => {
                let sig = jsonwebtoken::crypto::sign(message, key, self.algorithm)
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                b64::decode_into(sig.as_bytes(), &mut out);
                Ok(out)
            }
            Signer::Asymmetric { encoding: None, .. } => Err("no signing key".into()),
        }
    }

    /// Verifies `signature` over `message` (constant-time for HMAC).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.signer {
            Signer::Hmac(k) => match k.clone() {
                HmacKey::S256(mut m) => {
                    m.update(message);
                    m.verify_slice(signature).is_ok()
                }
                HmacKey::S384(mut m) => {
                    m.update(message);
                    m.verify_slice(signature).is_ok()
                }
                HmacKey::S512(mut m) => {
                    m.update(message);
                    m.verify_slice(signature).is_ok()
                }
            },
            Signer::Asymmetric { decoding, .. } => {
                let sig = b64::encode(signature);
                jsonwebtoken::crypto::verify(&sig, message, decoding, self.algorithm)
                    .unwrap_or(false)
            }
        }
    }
}
