//! Password hashes: Argon2id for new hashes, and Django's
//! `pbkdf2_sha256$<iterations>$<salt>$<hash>` accepted for verification, so
//! users whose hashes come from a Django database can log in.
//!
//! Verification is slow on purpose; the views run it off the async executor.
//! [`verify_or_dummy`] spends the same time when the user does not exist, so
//! response times do not tell which usernames exist.
//!
//! ```
//! use restflow_auth::password;
//!
//! let hash = password::hash_password("correct horse").unwrap();
//! assert!(hash.starts_with("$argon2id$"));
//! assert!(password::verify_password("correct horse", &hash));
//! assert!(!password::verify_password("wrong", &hash));
//!
//! let django = password::django_pbkdf2_sha256("secret", "salt", 1000);
//! assert!(django.starts_with("pbkdf2_sha256$1000$salt$"));
//! assert!(password::verify_password("secret", &django));
//! ```

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct Error(String);

/// Hashes a password with Argon2id (default parameters), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error(e.to_string()))
}

/// A Django `pbkdf2_sha256` hash (what Django's default hasher stores).
pub fn django_pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(out))
}

/// Whether `password` matches `stored` (Argon2 PHC or Django pbkdf2_sha256).
/// Unknown or malformed formats never match. Comparisons are constant-time.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        let mut parts = rest.splitn(3, '$');
        let (Some(iter), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(iterations) = iter.parse::<u32>() else {
            return false;
        };
        if iterations == 0 {
            return false;
        }
        let Ok(expected) = STANDARD.decode(hash) else {
            return false;
        };
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            password.as_bytes(),
            salt.as_bytes(),
            iterations,
            &mut out,
        );
        return expected.len() == 32 && bool::from(out.ct_eq(&expected[..]));
    }
    if stored.starts_with("$argon2") {
        return match argon2::PasswordHash::new(stored) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
    }
    false
}

/// Verifies against `stored`, or, when there is no user, against a fixed
/// hash of the same cost, so both take the same time. Always false without
/// a user.
pub fn verify_or_dummy(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    match stored {
        Some(s) => verify_password(password, s),
        None => {
            let dummy = DUMMY
                .get_or_init(|| hash_password("restflow-auth dummy password").unwrap_or_default());
            let _ = verify_password(password, dummy);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_vector() {
        // Django's own test vector for PBKDF2PasswordHasher.encode("lètmein", "seasalt2", 260000).
        let h = django_pbkdf2_sha256("lètmein", "seasalt2", 260_000);
        assert_eq!(
            h,
            "pbkdf2_sha256$260000$seasalt2$UCGMhrOoaq1ghQPArIBK5RkI6IZLRxlIwHWA1dMy7y8="
        );
        assert!(verify_password("lètmein", &h));
    }

    #[test]
    fn malformed_hashes_never_match() {
        for bad in [
            "",
            "plain",
            "pbkdf2_sha256$x$salt$abc",
            "pbkdf2_sha256$0$s$",
            "$argon2id$bad",
            "md5$$x",
        ] {
            assert!(!verify_password("", bad), "{bad}");
        }
        assert!(!verify_or_dummy("anything", None));
    }
}
