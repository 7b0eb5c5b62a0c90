//! Logout everywhere: a per-user "valid after" time that ends every access
//! token, refresh token and session the user had, on every instance.
//!
//! [`logout_everywhere`] (or the view of [`Auth::logout_everywhere_routes`](crate::Auth::logout_everywhere_routes))
//! records, in a [`RevocationStore`] registered with
//! [`AuthBuilder::revocations`](crate::AuthBuilder::revocations), that the
//! user's credentials issued before now are void. From then on:
//!
//! | credential | refused when | answer |
//! | --- | --- | --- |
//! | access token (`Jwt`) | its `iat` is before the time | 401 `Token has been blacklisted.` |
//! | refresh token (refresh view) | its `iat` is before the time | 401 `Token has been blacklisted.` |
//! | session (`Session`) | it began before the time | ended (Django's flush): anonymous, cookie deleted |
//!
//! `SimpleJwt` and `ExternalJwt` tokens are checked too, by their `iat`.
//! Not covered: DRF API keys (`Token`; delete the user's key), and what a Django service beside this one does with
//! its own sessions and simplejwt refresh tokens (Django does not read
//! this store).
//!
//! Times are whole seconds, as `iat` is: the recorded time is the next
//! second (plus `jwt.leeway_s`, the clock skew allowed between instances),
//! so a credential issued in the same second as the logout (before or
//! after it) is refused too; fail closed. Instances' clocks must agree
//! within that. A session began at its expiry
//! began when its store says ([`SessionData::issued_at`](crate::session::SessionData::issued_at):
//! the login for the crate's stores, the last time Django signed it for
//! Django's), else at its expiry less `session.cookie_age_s`.
//!
//! Every check reads the store, on both paths (on SQL and Redis stores,
//! each process keeps the times in memory while the store's feed vouches
//! for them: [`invalidation`](crate::invalidation)); a store that cannot
//! answer fails the request closed (503). An entry is kept as long as a credential
//! issued before it can live (the longest of the token lifetimes and the
//! session age, plus the leeway), then dropped.
//!
//! ```
//! use restflow_auth::prelude::*;
//! use restflow_auth::revocation::{MemoryRevocationStore, RevocationStore};
//! # #[derive(Clone, Debug, AuthUser)]
//! # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
//! #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
//! #   #[auth_user(is_staff)] staff: bool }
//! # let alice = User { id: 1, name: "alice".into(), pw: String::new(), active: true, staff: false };
//! let store = MemoryRevocationStore::new();
//! let auth = Auth::<User>::builder(Settings::default())
//!     .users(MemoryUserStore::new())
//!     .revocations(store.clone())
//!     .build()
//!     .unwrap();
//! restflow_auth::revocation::logout_everywhere_blocking(auth.context(), &alice).unwrap();
//! let after = store.valid_after_blocking("1").unwrap().unwrap();
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
//! assert!(after > now.as_secs() as i64);
//! ```

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use crate::context::Context;
use crate::error::AuthError;
use crate::user::{AuthUser, StoreResult, UserId};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the per-user revocation times live: one entry per user (its key
/// is the user id as JSON, `1` or `"5f0c..."`), holding the time (seconds
/// since the epoch) before which the user's credentials are void.
pub trait RevocationStore: Send + Sync + 'static {
    /// The user's time, if one is recorded and not yet dropped.
    fn valid_after(&self, user: &str) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// Records `valid_after` for the user unless a later time is recorded
    /// (the later one wins, atomically), keeping the entry until `keep_until`.
    fn revoke(
        &self,
        user: &str,
        valid_after: i64,
        keep_until: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Blocking twin of [`valid_after`](RevocationStore::valid_after).
    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>>;
    /// Blocking twin of [`revoke`](RevocationStore::revoke).
    fn revoke_blocking(&self, user: &str, valid_after: i64, keep_until: i64) -> StoreResult<()>;
    /// Where this store's changes are told, so that each process may keep
    /// the times in memory ([`invalidation`](crate::invalidation)); `None`
    /// (the default): every check reads the store. The SQL and Redis
    /// stores have one.
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        None
    }
}

trait ErasedStore: Send + Sync {
    fn valid_after<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>>;
    fn revoke<'a>(&'a self, user: &'a str, at: i64, keep: i64) -> BoxFuture<'a, StoreResult<()>>;
    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>>;
    fn revoke_blocking(&self, user: &str, at: i64, keep: i64) -> StoreResult<()>;
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    fn feed(&self) -> Option<crate::invalidation::Feed>;
}

impl<S: RevocationStore> ErasedStore for S {
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        RevocationStore::feed(self)
    }
    fn valid_after<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(crate::telemetry::store(
            "revocations",
            "valid_after",
            RevocationStore::valid_after(self, user),
        ))
    }
    fn revoke<'a>(&'a self, user: &'a str, at: i64, keep: i64) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "revocations",
            "revoke",
            RevocationStore::revoke(self, user, at, keep),
        ))
    }
    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>> {
        crate::telemetry::store_blocking("revocations", "valid_after", || {
            RevocationStore::valid_after_blocking(self, user)
        })
    }
    fn revoke_blocking(&self, user: &str, at: i64, keep: i64) -> StoreResult<()> {
        crate::telemetry::store_blocking("revocations", "revoke", || {
            RevocationStore::revoke_blocking(self, user, at, keep)
        })
    }
}

/// The configured [`RevocationStore`], whatever its type (kept in the
/// [`Context`]; read it with `ctx.store::<Revocations>()`).
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<dyn ErasedStore>,
    /// The time, or `None` for a user without one: both are cached.
    cache: crate::invalidation::StoreCache<Option<i64>>,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Revocations")
    }
}

impl Revocations {
    /// Wraps a store.
    pub fn new(store: impl RevocationStore) -> Self {
        Revocations {
            inner: Arc::new(store),
            cache: crate::invalidation::StoreCache::default(),
        }
    }

    /// The same store with an invalidation cache, if it has a feed.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn cached(mut self, hubs: &mut crate::invalidation::Hubs) -> std::io::Result<Self> {
        self.cache.attach(self.inner.feed(), "r", hubs)?;
        Ok(self)
    }

    /// What the invalidation cache has done, if there is one.
    pub fn cache_stats(&self) -> Option<crate::invalidation::CacheStats> {
        self.cache.stats()
    }

    /// The user's "valid after" time, answered from the invalidation cache
    /// while its feed vouches (a user without one is cached too: every key
    /// here is an authenticated user's).
    async fn valid_after(&self, user: &str) -> StoreResult<Option<i64>> {
        let load = || async { self.inner.valid_after(user).await.map(Some) };
        let after = self.cache.get(|| user.into(), |_| true, load).await?;
        Ok(after.flatten())
    }

    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>> {
        let load = || self.inner.valid_after_blocking(user).map(Some);
        let after = self.cache.get_blocking(|| user.into(), |_| true, load)?;
        Ok(after.flatten())
    }
}

/// The per-user revocation times in this process's memory (tests,
/// single-process services).
#[derive(Clone, Debug, Default)]
pub struct MemoryRevocationStore {
    entries: Arc<RwLock<HashMap<String, (i64, i64)>>>,
}

impl MemoryRevocationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RevocationStore for MemoryRevocationStore {
    async fn valid_after(&self, user: &str) -> StoreResult<Option<i64>> {
        RevocationStore::valid_after_blocking(self, user)
    }
    async fn revoke(&self, user: &str, valid_after: i64, keep_until: i64) -> StoreResult<()> {
        RevocationStore::revoke_blocking(self, user, valid_after, keep_until)
    }
    fn valid_after_blocking(&self, user: &str) -> StoreResult<Option<i64>> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(entries
            .get(user)
            .filter(|(_, keep)| *keep > crate::unix_now())
            .map(|(at, _)| *at))
    }
    fn revoke_blocking(&self, user: &str, valid_after: i64, keep_until: i64) -> StoreResult<()> {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = crate::unix_now();
        entries.retain(|_, (_, keep)| *keep > now);
        let e = entries
            .entry(user.to_owned())
            .or_insert((valid_after, keep_until));
        *e = (e.0.max(valid_after), e.1.max(keep_until));
        Ok(())
    }
}

/// The store key of a user id.
fn key_of(id: &serde_json::Value) -> String {
    id.to_string()
}

/// How long an entry must stay: as long as a credential issued before it
/// can still be presented.
fn keep_until<U: AuthUser>(ctx: &Context<U>) -> i64 {
    let s = ctx.settings();
    let longest = s.session.cookie_age_s;
    #[cfg(feature = "jwt")]
    let longest = longest
        .max(s.jwt.refresh_token_lifetime_s)
        .max(s.jwt.access_token_lifetime_s)
        + s.jwt.leeway_s;
    crate::unix_now().saturating_add(i64::try_from(longest).unwrap_or(i64::MAX / 2) + 60)
}

/// The time a logout now records: the next second (`iat` is in whole
/// seconds), plus the JWT leeway (the clock skew allowed between the
/// instances that issue tokens).
fn valid_after<U: AuthUser>(ctx: &Context<U>) -> i64 {
    #[cfg(feature = "jwt")]
    let skew = i64::try_from(ctx.settings().jwt.leeway_s).unwrap_or(0);
    #[cfg(not(feature = "jwt"))]
    let skew = {
        let _ = ctx;
        0
    };
    crate::unix_now() + 1 + skew
}

fn store<U: AuthUser>(ctx: &Context<U>) -> Result<&Revocations, AuthError> {
    ctx.store::<Revocations>().ok_or_else(|| {
        AuthError::internal(
            "logout everywhere needs a revocation store: call `.revocations(store)` on the builder",
        )
    })
}

/// Ends every access token, refresh token and session `user` has now, on
/// every instance that shares the store. Returns the recorded time.
pub async fn logout_everywhere<U: AuthUser>(ctx: &Context<U>, user: &U) -> StoreResult<i64> {
    let at = valid_after(ctx);
    let key = key_of(&user.id().to_json());
    store(ctx)?.inner.revoke(&key, at, keep_until(ctx)).await?;
    tracing::info!(user = %key, "restflow-auth: logout everywhere");
    Ok(at)
}

/// Blocking twin of [`logout_everywhere`].
pub fn logout_everywhere_blocking<U: AuthUser>(ctx: &Context<U>, user: &U) -> StoreResult<i64> {
    let at = valid_after(ctx);
    let key = key_of(&user.id().to_json());
    store(ctx)?
        .inner
        .revoke_blocking(&key, at, keep_until(ctx))?;
    tracing::info!(user = %key, "restflow-auth: logout everywhere");
    Ok(at)
}

/// Whether a credential of user `id` issued at `issued_at` was revoked
/// (`false` without a revocation store: nothing was ever revoked).
pub(crate) async fn revoked<U: AuthUser>(
    ctx: &Context<U>,
    id: &U::Id,
    issued_at: i64,
) -> StoreResult<bool> {
    let Some(s) = ctx.store::<Revocations>() else {
        return Ok(false);
    };
    let after = s.valid_after(&key_of(&id.to_json())).await?;
    Ok(after.is_some_and(|after| issued_at < after))
}

/// Blocking twin of [`revoked`].
pub(crate) fn revoked_blocking<U: AuthUser>(
    ctx: &Context<U>,
    id: &U::Id,
    issued_at: i64,
) -> StoreResult<bool> {
    let Some(s) = ctx.store::<Revocations>() else {
        return Ok(false);
    };
    let after = s.valid_after_blocking(&key_of(&id.to_json()))?;
    Ok(after.is_some_and(|after| issued_at < after))
}

/// 401 `Token has been blacklisted.` for a token of a revoked user.
#[cfg(feature = "jwt")]
pub(crate) fn token_revoked() -> AuthError {
    crate::error::Rejection::TokenBlacklisted.into()
}
