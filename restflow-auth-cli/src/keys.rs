//! `genkey` and `jwks`: new JWT keys, and the public JWK set of the
//! configured one.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use restflow_auth::jwt::keyset::PRIVATE_MEMBERS;
use restflow_auth::jwt::{JwtKeys, KeySet};
use restflow_auth::settings::JwtSettings;

use crate::cli::KeyKind;
use crate::{Failure, Result};

/// The bytes of a new HMAC secret: 512 bits, enough for HS512.
const HMAC_BYTES: usize = 64;

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::new(format!("the system's random source failed: {e}")))?;
    Ok(bytes)
}

/// A new key of `kind`: the secret (or private PEM) on stdout, the public
/// PEM in `public_out` when asked.
pub(crate) fn genkey(kind: KeyKind, bits: Option<usize>, public_out: Option<&Path>) -> Result<()> {
    if bits.is_some() && kind != KeyKind::Rsa {
        return Err(Failure::new("--bits applies to rsa keys only"));
    }
    let pem_err = |e: &dyn std::fmt::Display| Failure::new(format!("cannot encode the key: {e}"));
    let (private, public) = match kind {
        KeyKind::Hmac => {
            if public_out.is_some() {
                return Err(Failure::new(
                    "an HMAC secret has no public part: --public-out applies to rsa, ec and ed25519",
                ));
            }
            // URL-safe base64 of 64 bytes: 86 characters, above the
            // 32/48/64-byte minimum `jwt.signing_key` has for HS256/384/512.
            let secret =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<HMAC_BYTES>()?);
            (format!("{secret}\n"), None)
        }
        KeyKind::Rsa => {
            use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits.unwrap_or(2048))
                .map_err(|e| Failure::new(format!("cannot generate an RSA key: {e}")))?;
            let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| pem_err(&e))?;
            let public = key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| pem_err(&e))?;
            (private.to_string(), Some(public))
        }
        KeyKind::Ec => {
            use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
            // A scalar of zero or past the group order is refused; the
            // chance is below 2^-32, so a few tries always succeed.
            let key = (0..8)
                .find_map(|_| {
                    random::<32>()
                        .map(|b| p256::SecretKey::from_slice(&b).ok())
                        .transpose()
                })
                .ok_or_else(|| Failure::new("cannot generate an EC key"))??;
            let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| pem_err(&e))?;
            let public = key
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| pem_err(&e))?;
            (private.to_string(), Some(public))
        }
        KeyKind::Ed25519 => {
            use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, KeypairBytes};
            use rsa::pkcs8::LineEnding;
            let seed = random::<32>()?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            // PKCS#8 v1 (the seed alone), as `openssl genpkey -algorithm
            // ed25519` writes it.
            let private = KeypairBytes {
                secret_key: seed,
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| pem_err(&e))?;
            let public = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| pem_err(&e))?;
            (private.to_string(), Some(public))
        }
    };
    if let (Some(path), Some(public)) = (public_out, &public) {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", path.display())))?;
        file.write_all(public.as_bytes())
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(private.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("cannot write the key: {e}")))
}

/// The labels of the PEM blocks in `text`.
fn pem_labels(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        l.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
    })
}

/// The public JWK set of the configured keys, on stdout: the service's own
/// [`KeySet::jwks`] (the set `Auth::jwks_routes` serves) when `[[jwt.keys]]`
/// or `jwt.kid` is given; otherwise the one key of `jwt.verifying_key`,
/// named by its thumbprint (the kid the service derives for it).
pub(crate) fn jwks(jwt: &JwtSettings) -> Result<()> {
    if !jwt.keys.is_empty() || jwt.kid.is_some() {
        let set = KeySet::from_settings(jwt)
            .and_then(|s| s.jwks())
            .map_err(|e| Failure::new(e.to_string()))?;
        let text = serde_json::to_string_pretty(&set)
            .map_err(|e| Failure::new(format!("cannot encode the JWK set: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let name = jwt.algorithm.as_str();
    let alg: Algorithm = name
        .parse()
        .map_err(|_| Failure::new(format!("jwt.algorithm `{name}` is not supported")))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(Failure::new(format!(
            "jwt.algorithm is {name}, an HMAC algorithm: its key is a shared secret and is never published; a JWK set is for RS*, PS*, ES* and EdDSA keys"
        )));
    }
    let Some(public) = jwt.verifying_key.as_deref() else {
        return Err(Failure::new(format!(
            "jwt.verifying_key is not set: {name} needs the public key (PEM) there; `restflow-auth genkey ... --public-out PATH` writes it"
        )));
    };
    if pem_labels(public).any(|l| l.contains("PRIVATE")) {
        return Err(Failure::new(
            "jwt.verifying_key holds a private key: give the public key (`-----BEGIN PUBLIC KEY-----`)",
        ));
    }
    if jwt.signing_key.is_some() {
        // The pair is proved (a signature made and verified), so the set
        // published is the one that verifies what this service signs.
        JwtKeys::from_settings(jwt).map_err(|e| Failure::new(e.to_string()))?;
    }
    let bad = |e: jsonwebtoken::errors::Error| {
        Failure::new(format!(
            "cannot read jwt.verifying_key as a {name} public key: {e}"
        ))
    };
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(public.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(public.as_bytes()),
        _ => DecodingKey::from_rsa_pem(public.as_bytes()),
    }
    .map_err(bad)?;
    let mut jwk = Jwk::from_decoding_key(&key, Some(alg)).map_err(bad)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_id = Some(
        jwk.thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| Failure::new(format!("cannot compute the key's thumbprint: {e}")))?,
    );
    let set = serde_json::to_value(JwkSet { keys: vec![jwk] })
        .map_err(|e| Failure::new(format!("cannot encode the JWK set: {e}")))?;
    // Built from the public key alone; checked all the same.
    let leaks = set["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_object)
        .any(|k| PRIVATE_MEMBERS.iter().any(|m| k.contains_key(*m)));
    if leaks {
        return Err(Failure::new(
            "the JWK set would hold a private member: refused",
        ));
    }
    let text = serde_json::to_string_pretty(&set)
        .map_err(|e| Failure::new(format!("cannot encode the JWK set: {e}")))?;
    println!("{text}");
    Ok(())
}
