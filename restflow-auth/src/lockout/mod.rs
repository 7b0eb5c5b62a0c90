//! Login lockout (beyond DRF; django-axes and OWASP's authentication cheat
//! sheet are the references): failed password attempts are counted per
//! username and client, and per username alone, within a window.
//!
//! - Past `login.max_failures` failures of one username from one client
//!   within `login.window_s`, further attempts for that username from that
//!   client get 429 with `Retry-After` for a cool-off that doubles with each
//!   lockout (`login.cooloff_s`, up to `login.max_cooloff_s`; lockouts are
//!   remembered for a day).
//! - Past `login.username_max_failures` failures of one username from all
//!   clients within the window (a distributed guess), every client is
//!   slowed for that username: 429 for `login.username_cooloff_s`.
//! - A successful login resets the client's count.
//! - The lockout is checked before the password, so a locked-out answer is
//!   the same whether the username exists and whether the password was
//!   right.
//!
//! It applies to Basic, the token obtain view and the session login view,
//! on both paths. The counters live in a [`LockoutStore`]: in memory (the
//! default) or in Redis (`RedisLockoutStore`, feature `redis`: atomic, one
//! hash slot per username). Usernames are kept as digests, never in clear.
//!
//! Why five: NIST SP 800-63B asks for at most 100 consecutive failures,
//! OWASP for a threshold low enough to stop guessing and high enough for
//! typos; django-axes locks after three. Five failures per client per 15
//! minutes with a doubling cool-off lets a person mistype twice over and
//! holds one client to a few dozen guesses a day, while the per-username
//! threshold (100) catches guessing spread over many addresses without
//! letting one client lock a user out of every device.

mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::memory::MemoryLockoutStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisLockoutStore;
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::Request;
use crate::throttle::OnStoreError;
use crate::user::AuthUser;

/// `[login]`: the login lockout.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// Off: no counting, no lockout.
    pub lockout: bool,
    /// Failures of one username from one client before it is locked out.
    pub max_failures: u32,
    /// Failures of one username from all clients before every client is slowed.
    pub username_max_failures: u32,
    /// The window failures are counted in, seconds.
    pub window_s: u64,
    /// The first lockout's cool-off, seconds; it doubles with each lockout.
    pub cooloff_s: u64,
    /// The longest cool-off, seconds.
    pub max_cooloff_s: u64,
    /// How long a username is slowed once past `username_max_failures`, seconds.
    pub username_cooloff_s: u64,
    /// What a login does when the store cannot answer.
    pub on_store_error: OnStoreError,
    /// The most entries the in-memory store keeps.
    pub max_keys: usize,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            lockout: true,
            max_failures: 5,
            username_max_failures: 100,
            window_s: 900,
            cooloff_s: 60,
            max_cooloff_s: 3600,
            username_cooloff_s: 30,
            on_store_error: OnStoreError::Refuse,
            max_keys: 100_000,
        }
    }
}

impl LoginSettings {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), crate::settings::Error> {
        let invalid = |key, message: &str| {
            Err(crate::settings::Error::Invalid {
                key,
                message: message.into(),
            })
        };
        if self.max_failures == 0 {
            return invalid(
                "login.max_failures",
                "must be at least 1 (set `login.lockout = false` to turn the lockout off)",
            );
        }
        if self.username_max_failures < self.max_failures {
            return invalid(
                "login.username_max_failures",
                "must be at least `login.max_failures`",
            );
        }
        if self.window_s == 0 || self.cooloff_s == 0 || self.username_cooloff_s == 0 {
            return invalid(
                "login.window_s",
                "the window and the cool-offs must be at least one second",
            );
        }
        if self.max_cooloff_s < self.cooloff_s {
            return invalid("login.max_cooloff_s", "must be at least `login.cooloff_s`");
        }
        if self.max_keys == 0 {
            return invalid("login.max_keys", "must be at least 1");
        }
        Ok(())
    }
}

/// Who is trying: a digest of the username and the client's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// SHA-256 of the username (hex, 32 characters): usernames are not kept.
    pub user: String,
    /// The client (see [`throttle::client_ident`](crate::throttle::client_ident)).
    pub client: String,
}

impl Attempt {
    /// The attempt of `username` from the request's client.
    pub fn new<U: AuthUser>(req: &Request<'_>, ctx: &Context<U>, username: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(username.as_bytes());
        Attempt {
            user: crate::hex(&digest[..16]),
            client: crate::throttle::client_ident(req, &ctx.settings().throttle),
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the counters live. Every method is atomic on its own.
pub trait LockoutStore: Send + Sync + 'static {
    /// The seconds left of a lockout of `a`, or `None`.
    fn locked<'a>(
        &'a self,
        a: &'a Attempt,
        s: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<Option<u64>, AuthError>>;
    /// Counts a failure of `a`.
    fn failed<'a>(
        &'a self,
        a: &'a Attempt,
        s: &'a LoginSettings,
    ) -> BoxFuture<'a, Result<(), AuthError>>;
    /// A success of `a`: its client's count starts again.
    fn succeeded<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<(), AuthError>>;
    /// Blocking twin of [`locked`](LockoutStore::locked).
    fn locked_blocking(&self, a: &Attempt, s: &LoginSettings) -> Result<Option<u64>, AuthError>;
    /// Blocking twin of [`failed`](LockoutStore::failed).
    fn failed_blocking(&self, a: &Attempt, s: &LoginSettings) -> Result<(), AuthError>;
    /// Blocking twin of [`succeeded`](LockoutStore::succeeded).
    fn succeeded_blocking(&self, a: &Attempt) -> Result<(), AuthError>;
}

/// The store an application gives the builder (`.lockout_store(..)`).
pub(crate) struct Store(pub(crate) Arc<dyn LockoutStore>);

/// The login lockout of an [`Auth`](crate::Auth).
#[derive(Clone)]
pub struct Lockout {
    store: Arc<dyn LockoutStore>,
    settings: LoginSettings,
}

impl fmt::Debug for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl crate::context::Component for Lockout {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        let store = crate::context::take::<Store>(stores);
        if !settings.login.lockout {
            return Ok(None);
        }
        Ok(Some(Lockout {
            store: store.map_or_else(
                || {
                    Arc::new(MemoryLockoutStore::new(settings.login.max_keys))
                        as Arc<dyn LockoutStore>
                },
                |s| s.0,
            ),
            settings: settings.login.clone(),
        }))
    }
}

/// The 429 of a lockout.
fn locked_out(wait: u64) -> AuthError {
    AuthError::new(Rejection::LoginLocked)
        .arg("wait", wait.to_string())
        .with_retry_after(wait.max(1))
}

impl Lockout {
    fn on_error(&self, e: AuthError) -> Result<(), AuthError> {
        match self.settings.on_store_error {
            OnStoreError::Refuse => Err(e),
            OnStoreError::Allow => {
                tracing::warn!(
                    cause = e.cause().unwrap_or(""),
                    "restflow-auth: the lockout store failed; the login goes on (login.on_store_error = \"allow\")"
                );
                Ok(())
            }
        }
    }

    /// Refuses the attempt when it is locked out (before any password check).
    pub async fn check(&self, a: &Attempt) -> Result<(), AuthError> {
        match crate::telemetry::store("lockout", "locked", self.store.locked(a, &self.settings))
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(locked_out(wait)),
            Err(e) => self.on_error(e),
        }
    }

    /// Records the outcome of a password check.
    pub async fn record(&self, a: &Attempt, matched: bool) -> Result<(), AuthError> {
        let r = if matched {
            crate::telemetry::store("lockout", "succeeded", self.store.succeeded(a)).await
        } else {
            crate::telemetry::store("lockout", "failed", self.store.failed(a, &self.settings)).await
        };
        r.or_else(|e| self.on_error(e))
    }

    /// Blocking twin of [`check`](Lockout::check).
    pub fn check_blocking(&self, a: &Attempt) -> Result<(), AuthError> {
        match crate::telemetry::store_blocking("lockout", "locked", || {
            self.store.locked_blocking(a, &self.settings)
        }) {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(locked_out(wait)),
            Err(e) => self.on_error(e),
        }
    }

    /// Blocking twin of [`record`](Lockout::record).
    pub fn record_blocking(&self, a: &Attempt, matched: bool) -> Result<(), AuthError> {
        let r = if matched {
            crate::telemetry::store_blocking("lockout", "succeeded", || {
                self.store.succeeded_blocking(a)
            })
        } else {
            crate::telemetry::store_blocking("lockout", "failed", || {
                self.store.failed_blocking(a, &self.settings)
            })
        };
        r.or_else(|e| self.on_error(e))
    }
}

/// A password check under the lockout: refused at once when locked out,
/// the outcome recorded otherwise. `check` gives the user and whether the
/// password matched.
pub(crate) async fn guarded<U: AuthUser, T>(
    req: &Request<'_>,
    ctx: &Context<U>,
    username: &str,
    check: impl Future<Output = Result<(T, bool), AuthError>>,
) -> Result<(T, bool), AuthError> {
    let Some(lockout) = ctx.store::<Lockout>() else {
        return check.await;
    };
    let attempt = Attempt::new(req, ctx, username);
    lockout.check(&attempt).await?;
    let (value, matched) = check.await?;
    lockout.record(&attempt, matched).await?;
    Ok((value, matched))
}

/// Blocking twin of [`guarded`].
pub(crate) fn guarded_blocking<U: AuthUser, T>(
    req: &Request<'_>,
    ctx: &Context<U>,
    username: &str,
    check: impl FnOnce() -> Result<(T, bool), AuthError>,
) -> Result<(T, bool), AuthError> {
    let Some(lockout) = ctx.store::<Lockout>() else {
        return check();
    };
    let attempt = Attempt::new(req, ctx, username);
    lockout.check_blocking(&attempt)?;
    let (value, matched) = check()?;
    lockout.record_blocking(&attempt, matched)?;
    Ok((value, matched))
}

/// The cool-off of the `n`-th lockout (1-based): doubling, capped.
pub(crate) fn cooloff(s: &LoginSettings, n: u32) -> u64 {
    let factor = 1u64
        .checked_shl(n.saturating_sub(1).min(62))
        .unwrap_or(u64::MAX);
    s.cooloff_s.saturating_mul(factor).min(s.max_cooloff_s)
}

/// How long lockouts are remembered (for the doubling).
pub(crate) const LOCKOUT_MEMORY_S: u64 = 86_400;
