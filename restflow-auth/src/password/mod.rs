//! Passwords: Django's hashers and Argon2, on a bounded executor.
//!
//! Every format of Django 5.2 verifies (see [`formats`](self#formats)):
//! `pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`, `bcrypt_sha256`, `bcrypt`,
//! `scrypt` and salted `md5`, plus the Argon2 PHC strings restflow-auth
//! writes by default; the unsalted `md5`/`sha1` hashers are refused, as
//! Django 5.1+ refuses them, and unusable passwords (`!...`) never match.
//! New hashes use `password.hasher`: `argon2id` (a PHC string, the
//! default), or one Django reads, `pbkdf2_sha256` (Django's default, at
//! `password.iterations`) or `argon2` (Django's Argon2 format).
//!
//! Every check and hash runs on a [`Passwords`] executor: at most
//! `password.max_concurrent` at once, at most `password.max_queued`
//! waiting, and past that an immediate 503 with `Retry-After: 1` (the
//! service is saturated, whoever is asking; per-client limits are the
//! throttles' and the login lockout's job). Each worker reuses one working
//! area, so memory is bounded by the number of workers. When there is no
//! user, or the user has no usable password, the same work runs against a
//! dummy hash made with the configured hasher, so response times do not
//! tell which usernames exist.
//!
//! The views and authenticators use the [`Auth`](crate::Auth)'s executor
//! (`ctx.passwords()`); the functions below use a process-wide one with
//! default settings.
//!
//! ```
//! use restflow_auth::password;
//!
//! let hash = password::hash_password("correct horse").unwrap();
//! assert!(hash.starts_with("$argon2id$"));
//! assert!(password::verify_password("correct horse", &hash).unwrap());
//! assert!(!password::verify_password("wrong", &hash).unwrap());
//!
//! let django = password::django_pbkdf2_sha256("secret", "salt", 1000);
//! assert!(django.starts_with("pbkdf2_sha256$1000$salt$"));
//! assert!(password::verify_password("secret", &django).unwrap());
//! ```
//!
//! # Formats
//!
#![doc = include_str!("../docs/password_formats.md")]

mod executor;
mod formats;

use serde::{Deserialize, Serialize};

pub use self::executor::Passwords;
use crate::error::AuthError;

/// Which format new hashes are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hasher {
    /// Argon2id as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`):
    /// OWASP's parameters. Django cannot read it.
    Argon2id,
    /// Django's `pbkdf2_sha256$<iterations>$<salt>$<hash>` (Django's
    /// default hasher), at `password.iterations`.
    Pbkdf2Sha256,
    /// Django's Argon2 format (`argon2$argon2id$v=19$m=102400,t=2,p=8$...`),
    /// at Django 5.2's parameters.
    #[serde(rename = "argon2")]
    DjangoArgon2,
}

/// `[password]`: how passwords are hashed, and how much of that work runs at once.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    /// The format of new hashes: `argon2id`, `pbkdf2_sha256` or `argon2`.
    pub hasher: Hasher,
    /// PBKDF2 iterations for `pbkdf2_sha256` (Django 5.2's 1,000,000).
    pub iterations: u32,
    /// Checks and hashes running at once; `0` means one per CPU.
    pub max_concurrent: usize,
    /// Checks waiting for a worker; past it, 503 with `Retry-After`.
    pub max_queued: usize,
    /// The most memory one Argon2 verification may use, KiB (a stored hash
    /// asking for more never matches). Django's Argon2 uses 102,400.
    pub max_memory_kib: u32,
    /// Run the workers at a lower CPU priority (niceness 10), so that a
    /// flood of password checks does not slow the requests that need none.
    pub low_priority: bool,
    /// Rehash a password on a successful login when Django's `must_update`
    /// would (another hasher or other parameters). Off by default: a new
    /// hash changes Django's session auth hash, which ends the user's
    /// other sessions.
    pub rehash_on_login: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            hasher: Hasher::Argon2id,
            iterations: 1_000_000,
            max_concurrent: 0,
            max_queued: 64,
            max_memory_kib: 131_072,
            low_priority: true,
            rehash_on_login: false,
        }
    }
}

impl PasswordSettings {
    /// The number of workers (`max_concurrent`, or the CPUs when `0`).
    pub fn workers(&self) -> usize {
        match self.max_concurrent {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Checks the section.
    pub fn validate(&self) -> Result<(), crate::settings::Error> {
        let invalid = |key, message: &str| {
            Err(crate::settings::Error::Invalid {
                key,
                message: message.into(),
            })
        };
        if self.iterations < 1000 {
            return invalid(
                "password.iterations",
                "use at least 1000 (Django 5.2 uses 1,000,000)",
            );
        }
        if self.max_concurrent > 1024 {
            return invalid(
                "password.max_concurrent",
                "use at most 1024 workers (0 means one per CPU)",
            );
        }
        let needed = match self.hasher {
            Hasher::Argon2id => 19 * 1024,
            Hasher::DjangoArgon2 => 102_400,
            Hasher::Pbkdf2Sha256 => 0,
        };
        if self.max_memory_kib < needed {
            return invalid(
                "password.max_memory_kib",
                "is below what the configured hasher needs (argon2id: 19456, argon2: 102400)",
            );
        }
        Ok(())
    }
}

/// Django's `must_update` for the configured hasher: another hasher, other
/// parameters (iterations, Argon2 costs), or a salt under 128 bits.
///
/// ```
/// use restflow_auth::password::{PasswordSettings, Hasher, must_update};
/// let s = PasswordSettings { hasher: Hasher::Pbkdf2Sha256, ..PasswordSettings::default() };
/// assert!(must_update("pbkdf2_sha256$260000$WorkedExampleSalt0123456$meGM0ud1I/hBTRoWtMrEKMxlocH/OJYRlIMKibz5bB8=", &s));
/// assert!(!must_update("pbkdf2_sha256$1000000$WorkedExampleSalt0123456$UkZZSRyQ9r4M3Bfx0Ohl7LDjAfyUpnAroUBRYVublxk=", &s));
/// assert!(must_update("bcrypt$$2b$12$WorkedExampleSaltBcry.P/xMFTVGXZ0I1frczymn60oD2L4mN9W", &s));
/// ```
pub fn must_update(stored: &str, settings: &PasswordSettings) -> bool {
    formats::must_update(stored, settings.hasher, settings.iterations)
}

/// A login's password check (Basic, the obtain and session login views):
/// the user named `username` and whether `password` is theirs, found and
/// verified under the login lockout on the bounded executor (at the same
/// cost when there is no such user), then rehashed when
/// [`rehash_on_login`] says so.
pub(crate) async fn check_login<U: crate::AuthUser>(
    req: &crate::Request<'_>,
    ctx: &crate::Context<U>,
    username: &str,
    password: String,
) -> Result<(Option<U>, bool), AuthError> {
    let (user, matches) = crate::lockout::guarded(req, ctx, username, async {
        let user = ctx.users().find_by_username(username).await?;
        let stored = user.as_ref().map(|u| u.password_hash().to_owned());
        let matches = ctx.passwords().verify(password.clone(), stored).await?;
        Ok((user, matches))
    })
    .await?;
    if let (Some(u), true) = (&user, matches) {
        rehash_on_login(ctx, u, &password).await;
    }
    Ok((user, matches))
}

/// Blocking twin of [`check_login`].
pub(crate) fn check_login_blocking<U: crate::AuthUser>(
    req: &crate::Request<'_>,
    ctx: &crate::Context<U>,
    username: &str,
    password: &str,
) -> Result<(Option<U>, bool), AuthError> {
    let (user, matches) = crate::lockout::guarded_blocking(req, ctx, username, || {
        let user = ctx.users().find_by_username_blocking(username)?;
        let matches = ctx
            .passwords()
            .verify_blocking(password, user.as_ref().map(|u| u.password_hash()))?;
        Ok((user, matches))
    })?;
    if let (Some(u), true) = (&user, matches) {
        rehash_on_login_blocking(ctx, u, password);
    }
    Ok((user, matches))
}

/// After a successful login with `password`: when `password.rehash_on_login`
/// is on and [`must_update`] says so, the new hash is written through the
/// user store. A failure is logged and the login goes on.
async fn rehash_on_login<U: crate::AuthUser>(ctx: &crate::Context<U>, user: &U, password: &str) {
    let s = &ctx.settings().password;
    if !s.rehash_on_login || !must_update(user.password_hash(), s) {
        return;
    }
    let result = async {
        let hash = ctx.passwords().hash(password.to_owned()).await?;
        ctx.users()
            .set_password_hash(user.id(), user.password_hash(), &hash)
            .await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(
            cause = e.cause().unwrap_or(""),
            "restflow-auth: a password could not be rehashed"
        );
    }
}

/// Blocking twin of [`rehash_on_login`].
fn rehash_on_login_blocking<U: crate::AuthUser>(ctx: &crate::Context<U>, user: &U, password: &str) {
    let s = &ctx.settings().password;
    if !s.rehash_on_login || !must_update(user.password_hash(), s) {
        return;
    }
    let result = ctx.passwords().hash_blocking(password).and_then(|hash| {
        ctx.users()
            .set_password_hash_blocking(user.id(), user.password_hash(), &hash)
    });
    if let Err(e) = result {
        tracing::warn!(
            cause = e.cause().unwrap_or(""),
            "restflow-auth: a password could not be rehashed"
        );
    }
}

/// Whether Django would call `stored` usable (`is_password_usable`): not an
/// unusable `!` password.
pub fn is_usable(stored: &str) -> bool {
    !stored.starts_with('!')
}

/// Hashes a password with the default hasher (Argon2id PHC), on the
/// process-wide executor.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Passwords::global().hash_blocking(password)
}

/// Whether `password` matches `stored` (any format of the module docs), on
/// the process-wide executor. Unknown or malformed formats never match.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, AuthError> {
    Passwords::global().verify_blocking(password, Some(stored))
}

/// A Django `pbkdf2_sha256` hash with this salt and iteration count (what
/// Django's default hasher stores); computed here, not on the executor.
pub fn django_pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    formats::pbkdf2_sha256(password, salt, iterations)
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
        assert!(verify_password("lètmein", &h).unwrap());
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
            "!unusable",
        ] {
            assert!(!verify_password("", bad).unwrap(), "{bad}");
        }
    }
}
