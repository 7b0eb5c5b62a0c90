//! Beside a Django service: what the two sides must compute alike.
//!
//! - [`signing`]: Django's `signing.dumps` / `loads` (`TimestampSigner`,
//!   JSON, zlib), which its sessions are written in.
//! - [`session_auth_hash`]: Django's session auth hash, the HMAC of the
//!   user's password hash under `SECRET_KEY`: a password change on either
//!   side ends the user's sessions on both.
//! - The `[django]` settings: `SECRET_KEY` and `SECRET_KEY_FALLBACKS`
//!   (secrets: never in a log or `Debug`), the sessions' key salt and the
//!   backend a Rust login writes into the session.
//!
//! The stores that use them: `DjangoSessions` (`django_session`, with
//! `sqlite`/`postgres`) and [`SignedCookieSessions`](crate::session::SignedCookieSessions)
//! (Django's `signed_cookies` backend), both feature `django`.

#[cfg(feature = "django")]
#[cfg_attr(docsrs, doc(cfg(feature = "django")))]
pub mod signing;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::settings::Secret;

/// `[django]`: what a Rust service shares with the Django service beside it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DjangoSettings {
    /// Django's `SECRET_KEY`. When set, session auth hashes are Django's
    /// (an HMAC under this key); otherwise a SHA-256 of the password hash.
    pub secret_key: Option<Secret>,
    /// Django's `SECRET_KEY_FALLBACKS`: older keys still accepted when reading.
    pub secret_key_fallbacks: Vec<Secret>,
    /// The salt of session data (`django.contrib.sessions.` + the session
    /// store's class name; a subclass changes it).
    pub session_key_salt: String,
    /// The authentication backend a Rust login writes as `_auth_user_backend`
    /// (one of `authentication_backends`).
    pub auth_user_backend: String,
    /// Django's `AUTHENTICATION_BACKENDS`: a session whose
    /// `_auth_user_backend` is not one of them is anonymous, as in Django
    /// (removing a backend there ends the sessions it made).
    pub authentication_backends: Vec<String>,
}

impl Default for DjangoSettings {
    fn default() -> Self {
        DjangoSettings {
            secret_key: None,
            secret_key_fallbacks: Vec::new(),
            session_key_salt: "django.contrib.sessions.SessionStore".into(),
            auth_user_backend: "django.contrib.auth.backends.ModelBackend".into(),
            authentication_backends: vec!["django.contrib.auth.backends.ModelBackend".into()],
        }
    }
}

impl DjangoSettings {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), crate::settings::Error> {
        let invalid = |key, message: &str| {
            Err(crate::settings::Error::Invalid {
                key,
                message: message.into(),
            })
        };
        if self
            .secret_key
            .as_ref()
            .is_some_and(|k| k.expose().is_empty())
        {
            return invalid(
                "django.secret_key",
                "is empty: give Django's SECRET_KEY, or leave it out",
            );
        }
        if !self.secret_key_fallbacks.is_empty() && self.secret_key.is_none() {
            return invalid(
                "django.secret_key_fallbacks",
                "needs `django.secret_key` beside it",
            );
        }
        if self.session_key_salt.is_empty() || self.auth_user_backend.is_empty() {
            return invalid(
                "django.session_key_salt",
                "the salt and the backend path cannot be empty",
            );
        }
        if !self
            .authentication_backends
            .contains(&self.auth_user_backend)
        {
            return invalid(
                "django.auth_user_backend",
                "must be one of `django.authentication_backends` (Django's AUTHENTICATION_BACKENDS), or Django treats our logins as anonymous",
            );
        }
        Ok(())
    }

    /// The keys a signature may be checked with: the secret, then the fallbacks.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.secret_key
            .iter()
            .chain(&self.secret_key_fallbacks)
            .map(Secret::expose)
    }
}

/// Django's `salted_hmac(key_salt, value, secret, algorithm="sha256")`.
pub(crate) fn salted_hmac(key_salt: &str, value: &[u8], secret: &str) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(key_salt.as_bytes());
    h.update(secret.as_bytes());
    let key = h.finalize();
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

const SESSION_AUTH_SALT: &str = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// Django's `get_session_auth_hash`: the hex HMAC-SHA256 of the password
/// hash under `secret` (DJANGO-INTEROP.md §1).
///
/// ```
/// use restflow_auth::django::session_auth_hash;
/// let hash = "pbkdf2_sha256$1000000$WorkedExampleSalt0123456$UkZZSRyQ9r4M3Bfx0Ohl7LDjAfyUpnAroUBRYVublxk=";
/// assert_eq!(
///     session_auth_hash(hash, "restflow-auth-worked-example-secret-key-0123456789abcdef"),
///     "d6fe4dabaabe3ace2d07d3a519e2fe97312b99904c880a746e2c5f21c103c89b"
/// );
/// ```
pub fn session_auth_hash(password_hash: &str, secret: &str) -> String {
    crate::hex(&salted_hmac(
        SESSION_AUTH_SALT,
        password_hash.as_bytes(),
        secret,
    ))
}

/// How sessions hash the password: Django's HMAC with its secrets, or the
/// SHA-256 digest a service without a Django secret uses.
#[derive(Clone, Debug)]
pub(crate) enum AuthHasher {
    Sha256,
    Django(Vec<Secret>),
}

impl AuthHasher {
    pub(crate) fn new(s: &DjangoSettings) -> Self {
        match &s.secret_key {
            Some(_) => AuthHasher::Django(s.keys().map(Secret::new).collect()),
            None => AuthHasher::Sha256,
        }
    }

    /// The hash a new session stores.
    pub(crate) fn hash(&self, password_hash: &str) -> String {
        match self {
            AuthHasher::Sha256 => {
                use sha2::Digest;
                crate::hex(&sha2::Sha256::digest(password_hash.as_bytes()))
            }
            AuthHasher::Django(keys) => session_auth_hash(password_hash, keys[0].expose()),
        }
    }

    /// Whether a stored hash matches, under the secret or a fallback (constant-time).
    pub(crate) fn matches(&self, stored: &str, password_hash: &str) -> bool {
        let eq = |h: String| bool::from(h.as_bytes().ct_eq(stored.as_bytes()));
        match self {
            AuthHasher::Sha256 => eq(self.hash(password_hash)),
            AuthHasher::Django(keys) => keys.iter().fold(false, |found, k| {
                found | eq(session_auth_hash(password_hash, k.expose()))
            }),
        }
    }
}

/// Why a Django session store cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Django's sessions need `django.secret_key` (Django's SECRET_KEY)")]
pub struct MissingSecret;

/// Reads session data as Django wrote it (`signing.loads` under the secret
/// and its fallbacks): the session and when it was signed. `None` when the
/// signature fails or the data is not a dict. A session without
/// `_auth_user_id`, or whose `_auth_user_backend` is absent or not one of
/// `authentication_backends`, has a `null` user id (anonymous, as Django's
/// `get_user` reads it).
#[cfg(feature = "django")]
pub(crate) fn decode_session(
    settings: &DjangoSettings,
    signed: &str,
    salt: &str,
    max_age: Option<u64>,
) -> Option<(crate::session::SessionData, i64)> {
    let keys: Vec<&str> = settings.keys().collect();
    let loaded = signing::loads(signed, &keys, salt, max_age).ok()?;
    let dict = loaded.value.as_object()?;
    let backend_known = dict
        .get("_auth_user_backend")
        .and_then(|b| b.as_str())
        .is_some_and(|b| settings.authentication_backends.iter().any(|k| k == b));
    let data = crate::session::SessionData {
        user_id: dict
            .get("_auth_user_id")
            .filter(|_| backend_known)
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        auth_hash: dict
            .get("_auth_user_hash")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned(),
        expires_at: 0,
        issued_at: Some(loaded.signed_at),
    };
    Some((data, loaded.signed_at))
}

/// Writes Django's three session keys, in Django's order, signed and
/// compressed as `SessionBase.encode` does.
#[cfg(feature = "django")]
pub(crate) fn encode_session(
    settings: &DjangoSettings,
    data: &crate::session::SessionData,
    salt: &str,
) -> String {
    let text = |s: String| signing::python_json(&serde_json::Value::String(s));
    let id = match &data.user_id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let dict = format!(
        "{{\"_auth_user_id\":{},\"_auth_user_backend\":{},\"_auth_user_hash\":{}}}",
        text(id),
        text(settings.auth_user_backend.clone()),
        text(data.auth_hash.clone())
    );
    let key = settings.secret_key.as_ref().map_or("", Secret::expose);
    signing::dumps_text_at(&dict, key, salt, true, crate::unix_now())
}
