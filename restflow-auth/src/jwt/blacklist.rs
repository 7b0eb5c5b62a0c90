//! The JWT blacklist: a backend trait with async and blocking pairs, and
//! the in-memory backend.
//!
//! [`Blacklist::check_and_blacklist`] is the atomic step of refresh
//! rotation: of any number of concurrent calls for one jti, exactly one
//! answers `true`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::user::StoreResult;

pub(crate) use crate::unix_now;

/// A token to blacklist: its id and expiry, and for backends that keep
/// more (simplejwt's tables keep the token and its user), the token itself
/// and its user claim.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The `jti`.
    pub jti: &'a str,
    /// Until when the entry must live (the token's `exp`, plus the leeway).
    pub expires_at: i64,
    /// The encoded token.
    pub token: &'a str,
    /// The user claim, as sent.
    pub user_id: Option<&'a serde_json::Value>,
}

/// Where blacklisted token ids live. `expires_at` is the token's `exp`: an
/// entry may be dropped after it. `Err` means the backend could not answer;
/// callers fail closed.
///
/// Refresh families (`jwt/family.rs`) keep their marks here too, under
/// ids no token has (`family:`, `rotated:`, `recent:`). The grace window
/// of `jwt.refresh_reuse_grace_s` needs `is_blacklisted` to answer `false`
/// once an entry's `expires_at` has passed, for `recent:` ids at least:
/// every built-in backend does (simplejwt's tables for those ids); a
/// backend that cannot must not be used with a grace window.
pub trait Blacklist: Send + Sync + 'static {
    /// Adds `jti` until `expires_at` (idempotent).
    fn blacklist(&self, jti: &str, expires_at: i64)
    -> impl Future<Output = StoreResult<()>> + Send;
    /// Whether `jti` is blacklisted.
    fn is_blacklisted(&self, jti: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Adds `jti` if absent, atomically; `true` when this call added it.
    fn check_and_blacklist(
        &self,
        jti: &str,
        expires_at: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Whether any of `jtis` is blacklisted: an access token's jti and its
    /// refresh family's entry, checked on every request. By default one
    /// [`is_blacklisted`](Blacklist::is_blacklisted) after the other
    /// (simplejwt's tables); memory, Redis, SQLite and PostgreSQL answer in
    /// one round trip.
    fn any_blacklisted(&self, jtis: &[&str]) -> impl Future<Output = StoreResult<bool>> + Send {
        async move {
            for jti in jtis {
                if self.is_blacklisted(jti).await? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
    /// Blocking twin of [`any_blacklisted`](Blacklist::any_blacklisted).
    fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
        for jti in jtis {
            if self.is_blacklisted_blocking(jti)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// Blocking twin of [`blacklist`](Blacklist::blacklist).
    fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()>;
    /// Blocking twin of [`is_blacklisted`](Blacklist::is_blacklisted).
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool>;
    /// Blocking twin of [`check_and_blacklist`](Blacklist::check_and_blacklist).
    fn check_and_blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<bool>;
    /// Whether revocations stay in this process (refused at startup unless
    /// `jwt.allow_local_blacklist` is set).
    fn is_process_local(&self) -> bool {
        false
    }
    /// Whether the blocking calls answer from this process's memory and
    /// never wait (the memory blacklist): the async path then makes them
    /// directly, without a boxed future per call. `false` (the default)
    /// for a backend that does I/O, where a blocking call would stall the
    /// runtime.
    fn answers_from_memory(&self) -> bool {
        false
    }
    /// Where this backend's invalidations come from, if it has a feed
    /// ([`invalidation`](crate::invalidation)): with one, and with
    /// `[invalidation] enabled`, each process answers the per-request
    /// check from memory while the feed vouches. The SQL blacklists have
    /// one; by default none.
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        None
    }
    /// [`blacklist`](Blacklist::blacklist) with the whole token at hand
    /// (what the views call; by default, the jti and the expiry).
    fn blacklist_entry(&self, entry: &Entry<'_>) -> impl Future<Output = StoreResult<()>> + Send {
        self.blacklist(entry.jti, entry.expires_at)
    }
    /// [`check_and_blacklist`](Blacklist::check_and_blacklist) with the
    /// whole token at hand (what the refresh view calls).
    fn check_and_blacklist_entry(
        &self,
        entry: &Entry<'_>,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        self.check_and_blacklist(entry.jti, entry.expires_at)
    }
    /// Blocking twin of [`blacklist_entry`](Blacklist::blacklist_entry).
    fn blacklist_entry_blocking(&self, entry: &Entry<'_>) -> StoreResult<()> {
        self.blacklist_blocking(entry.jti, entry.expires_at)
    }
    /// Blocking twin of [`check_and_blacklist_entry`](Blacklist::check_and_blacklist_entry).
    fn check_and_blacklist_entry_blocking(&self, entry: &Entry<'_>) -> StoreResult<bool> {
        self.check_and_blacklist_blocking(entry.jti, entry.expires_at)
    }
    /// Records a refresh token as issued (the obtain and refresh views call
    /// it for every refresh token they mint): simplejwt's
    /// `OutstandingToken`, which a Django service lists to log a user out
    /// everywhere. By default nothing: a blacklist needs only revocations.
    fn outstand(&self, entry: &Entry<'_>) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = entry;
        std::future::ready(Ok(()))
    }
    /// Blocking twin of [`outstand`](Blacklist::outstand).
    fn outstand_blocking(&self, entry: &Entry<'_>) -> StoreResult<()> {
        let _ = entry;
        Ok(())
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Erased: Send + Sync {
    fn blacklist<'a>(&'a self, jti: &'a str, exp: i64) -> BoxFuture<'a, StoreResult<()>>;
    fn is_blacklisted<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>>;
    fn any_blacklisted<'a>(&'a self, jtis: &'a [&'a str]) -> BoxFuture<'a, StoreResult<bool>>;
    fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool>;
    fn check_and_blacklist<'a>(
        &'a self,
        jti: &'a str,
        exp: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    fn blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<()>;
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool>;
    fn check_and_blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<bool>;
    fn is_process_local(&self) -> bool;
    fn answers_from_memory(&self) -> bool;
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    fn feed(&self) -> Option<crate::invalidation::Feed>;
    fn blacklist_entry<'a>(&'a self, e: &'a Entry<'a>) -> BoxFuture<'a, StoreResult<()>>;
    fn check_and_blacklist_entry<'a>(
        &'a self,
        e: &'a Entry<'a>,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    fn blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<()>;
    fn check_and_blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<bool>;
    fn outstand<'a>(&'a self, e: &'a Entry<'a>) -> BoxFuture<'a, StoreResult<()>>;
    fn outstand_blocking(&self, e: &Entry<'_>) -> StoreResult<()>;
}

impl<B: Blacklist> Erased for B {
    fn blacklist<'a>(&'a self, jti: &'a str, exp: i64) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "blacklist",
            Blacklist::blacklist(self, jti, exp),
        ))
    }
    fn is_blacklisted<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "is_blacklisted",
            Blacklist::is_blacklisted(self, jti),
        ))
    }
    fn any_blacklisted<'a>(&'a self, jtis: &'a [&'a str]) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "any_blacklisted",
            Blacklist::any_blacklisted(self, jtis),
        ))
    }
    fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
        crate::telemetry::store_blocking("blacklist", "any_blacklisted", || {
            Blacklist::any_blacklisted_blocking(self, jtis)
        })
    }
    fn check_and_blacklist<'a>(
        &'a self,
        jti: &'a str,
        exp: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "check_and_blacklist",
            Blacklist::check_and_blacklist(self, jti, exp),
        ))
    }
    fn blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<()> {
        crate::telemetry::store_blocking("blacklist", "blacklist", || {
            Blacklist::blacklist_blocking(self, jti, exp)
        })
    }
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
        crate::telemetry::store_blocking("blacklist", "is_blacklisted", || {
            Blacklist::is_blacklisted_blocking(self, jti)
        })
    }
    fn check_and_blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<bool> {
        crate::telemetry::store_blocking("blacklist", "check_and_blacklist", || {
            Blacklist::check_and_blacklist_blocking(self, jti, exp)
        })
    }
    fn is_process_local(&self) -> bool {
        Blacklist::is_process_local(self)
    }
    fn answers_from_memory(&self) -> bool {
        Blacklist::answers_from_memory(self)
    }
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        Blacklist::feed(self)
    }
    fn blacklist_entry<'a>(&'a self, e: &'a Entry<'a>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "blacklist_entry",
            Blacklist::blacklist_entry(self, e),
        ))
    }
    fn check_and_blacklist_entry<'a>(
        &'a self,
        e: &'a Entry<'a>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "check_and_blacklist_entry",
            Blacklist::check_and_blacklist_entry(self, e),
        ))
    }
    fn blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
        crate::telemetry::store_blocking("blacklist", "blacklist_entry", || {
            Blacklist::blacklist_entry_blocking(self, e)
        })
    }
    fn check_and_blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<bool> {
        crate::telemetry::store_blocking("blacklist", "check_and_blacklist_entry", || {
            Blacklist::check_and_blacklist_entry_blocking(self, e)
        })
    }
    fn outstand<'a>(&'a self, e: &'a Entry<'a>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "blacklist",
            "outstand",
            Blacklist::outstand(self, e),
        ))
    }
    fn outstand_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
        crate::telemetry::store_blocking("blacklist", "outstand", || {
            Blacklist::outstand_blocking(self, e)
        })
    }
}

/// The configured blacklist, whatever its backend, with its invalidation
/// cache when it has one.
#[derive(Clone)]
pub struct Blacklists {
    inner: Arc<dyn Erased>,
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    cache: Option<Arc<crate::invalidation::KeyCache>>,
}

impl fmt::Debug for Blacklists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blacklists")
            .field("process_local", &self.inner.is_process_local())
            .field("cache", &self.cache_stats())
            .finish()
    }
}

impl Blacklists {
    /// Wraps a backend.
    pub fn new(backend: impl Blacklist) -> Self {
        Blacklists {
            inner: Arc::new(backend),
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
            cache: None,
        }
    }

    /// The same blacklist with an invalidation cache, if its backend has a
    /// feed (the builder calls it).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn cached(self, hubs: &mut crate::invalidation::Hubs) -> std::io::Result<Self> {
        if let (Some(feed), None) = (self.inner.feed(), &self.cache) {
            let cache = hubs.hub(&feed)?.keys("b", &feed);
            return Ok(Blacklists {
                cache: Some(Arc::new(cache)),
                ..self
            });
        }
        Ok(self)
    }

    /// What the invalidation cache has done, if there is one.
    pub fn cache_stats(&self) -> Option<crate::invalidation::CacheStats> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            return Some(cache.stats());
        }
        None
    }

    /// Whether a token is revoked, given its blacklist ids (its jti, and
    /// its refresh family's entry): the check every request makes,
    /// answered from the invalidation cache while its feed vouches.
    pub async fn revoked(&self, ids: &[&str]) -> StoreResult<bool> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            use crate::invalidation::Known;
            return match cache.known(ids) {
                Known::Answer(revoked) => Ok(revoked),
                Known::Ask(load) => {
                    let revoked = self.ask(ids).await?;
                    cache.learn(ids, load, revoked);
                    Ok(revoked)
                }
            };
        }
        self.ask(ids).await
    }

    /// Blocking twin of [`revoked`](Self::revoked), sharing its cache.
    pub fn revoked_blocking(&self, ids: &[&str]) -> StoreResult<bool> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            use crate::invalidation::Known;
            return match cache.known(ids) {
                Known::Answer(revoked) => Ok(revoked),
                Known::Ask(load) => {
                    let revoked = self.ask_blocking(ids)?;
                    cache.learn(ids, load, revoked);
                    Ok(revoked)
                }
            };
        }
        self.ask_blocking(ids)
    }

    async fn ask(&self, ids: &[&str]) -> StoreResult<bool> {
        if self.inner.answers_from_memory() {
            return self.ask_blocking(ids);
        }
        match ids {
            [] => Ok(false),
            [jti] => self.inner.is_blacklisted(jti).await,
            _ => self.inner.any_blacklisted(ids).await,
        }
    }

    fn ask_blocking(&self, ids: &[&str]) -> StoreResult<bool> {
        match ids {
            [] => Ok(false),
            [jti] => self.inner.is_blacklisted_blocking(jti),
            _ => self.inner.any_blacklisted_blocking(ids),
        }
    }

    /// This process wrote `jti`: its own cache forgets it at once.
    fn wrote<T>(&self, jti: &str, result: StoreResult<T>) -> StoreResult<T> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            cache.wrote(jti);
        }
        let _ = jti;
        result
    }

    /// [`Blacklist::blacklist`].
    pub async fn blacklist(&self, jti: &str, exp: i64) -> StoreResult<()> {
        let r = self.inner.blacklist(jti, exp).await;
        self.wrote(jti, r)
    }
    /// [`Blacklist::is_blacklisted`].
    pub fn is_blacklisted<'a>(
        &'a self,
        jti: &'a str,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        self.inner.is_blacklisted(jti)
    }
    /// [`Blacklist::any_blacklisted`].
    pub fn any_blacklisted<'a>(
        &'a self,
        jtis: &'a [&'a str],
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        self.inner.any_blacklisted(jtis)
    }
    /// [`Blacklist::any_blacklisted_blocking`].
    pub fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
        self.inner.any_blacklisted_blocking(jtis)
    }
    /// [`Blacklist::check_and_blacklist`].
    pub async fn check_and_blacklist(&self, jti: &str, exp: i64) -> StoreResult<bool> {
        let r = self.inner.check_and_blacklist(jti, exp).await;
        self.wrote(jti, r)
    }
    /// [`Blacklist::blacklist_blocking`].
    pub fn blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<()> {
        let r = self.inner.blacklist_blocking(jti, exp);
        self.wrote(jti, r)
    }
    /// [`Blacklist::is_blacklisted_blocking`].
    pub fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
        self.inner.is_blacklisted_blocking(jti)
    }
    /// [`Blacklist::check_and_blacklist_blocking`].
    pub fn check_and_blacklist_blocking(&self, jti: &str, exp: i64) -> StoreResult<bool> {
        let r = self.inner.check_and_blacklist_blocking(jti, exp);
        self.wrote(jti, r)
    }
    /// [`Blacklist::is_process_local`].
    pub fn is_process_local(&self) -> bool {
        self.inner.is_process_local()
    }
    /// [`Blacklist::blacklist_entry`].
    pub async fn blacklist_entry(&self, e: &Entry<'_>) -> StoreResult<()> {
        let r = self.inner.blacklist_entry(e).await;
        self.wrote(e.jti, r)
    }
    /// [`Blacklist::outstand`].
    pub fn outstand<'a>(
        &'a self,
        e: &'a Entry<'a>,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        self.inner.outstand(e)
    }
    /// [`Blacklist::outstand_blocking`].
    pub fn outstand_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
        self.inner.outstand_blocking(e)
    }
    /// [`Blacklist::check_and_blacklist_entry`].
    pub async fn check_and_blacklist_entry(&self, e: &Entry<'_>) -> StoreResult<bool> {
        let r = self.inner.check_and_blacklist_entry(e).await;
        self.wrote(e.jti, r)
    }
    /// [`Blacklist::blacklist_entry_blocking`].
    pub fn blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<()> {
        let r = self.inner.blacklist_entry_blocking(e);
        self.wrote(e.jti, r)
    }
    /// [`Blacklist::check_and_blacklist_entry_blocking`].
    pub fn check_and_blacklist_entry_blocking(&self, e: &Entry<'_>) -> StoreResult<bool> {
        let r = self.inner.check_and_blacklist_entry_blocking(e);
        self.wrote(e.jti, r)
    }
}

/// A process-local blacklist. Expired entries are dropped as new ones come
/// in, so memory stays flat. Revocations do not reach other instances, so
/// the builder refuses it unless `jwt.allow_local_blacklist` is set.
#[derive(Clone, Default)]
pub struct MemoryBlacklist {
    entries: Arc<Mutex<Entries>>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, i64>,
    next_sweep: i64,
}

impl fmt::Debug for MemoryBlacklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBlacklist")
            .field("entries", &self.len())
            .finish()
    }
}

impl MemoryBlacklist {
    /// An empty blacklist.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries are held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(e: &mut Entries, jti: &str, exp: i64) -> bool {
        let now = unix_now();
        if now >= e.next_sweep {
            e.map.retain(|_, until| *until > now);
            e.next_sweep = now + 60;
        }
        match e.map.get(jti) {
            Some(until) if *until > now => false,
            _ => {
                e.map.insert(jti.to_owned(), exp);
                true
            }
        }
    }
}

impl Blacklist for MemoryBlacklist {
    fn answers_from_memory(&self) -> bool {
        true
    }
    async fn blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        Blacklist::blacklist_blocking(self, jti, expires_at)
    }
    async fn is_blacklisted(&self, jti: &str) -> StoreResult<bool> {
        Blacklist::is_blacklisted_blocking(self, jti)
    }
    async fn check_and_blacklist(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Blacklist::check_and_blacklist_blocking(self, jti, expires_at)
    }
    fn blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        let mut e = self.lock();
        if !Self::insert(&mut e, jti, expires_at) {
            // Already there: keep the later expiry.
            let until = e.map.entry(jti.to_owned()).or_insert(expires_at);
            *until = (*until).max(expires_at);
        }
        Ok(())
    }
    fn is_blacklisted_blocking(&self, jti: &str) -> StoreResult<bool> {
        let now = unix_now();
        Ok(self.lock().map.get(jti).is_some_and(|until| *until > now))
    }
    async fn any_blacklisted(&self, jtis: &[&str]) -> StoreResult<bool> {
        Blacklist::any_blacklisted_blocking(self, jtis)
    }
    fn any_blacklisted_blocking(&self, jtis: &[&str]) -> StoreResult<bool> {
        let now = unix_now();
        let entries = self.lock();
        Ok(jtis
            .iter()
            .any(|jti| entries.map.get(*jti).is_some_and(|until| *until > now)))
    }
    fn check_and_blacklist_blocking(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(Self::insert(&mut self.lock(), jti, expires_at))
    }
    fn is_process_local(&self) -> bool {
        true
    }
}
