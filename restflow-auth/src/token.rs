//! API tokens as DRF's `authtoken`: 40 hexadecimal characters from 20 random
//! bytes, one per user. [`TokenStore`] is the backend trait (async and
//! blocking pairs); [`MemoryTokenStore`] keeps only SHA-256 digests of the
//! keys, so a leaked store does not leak working tokens.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::user::{StoreResult, UserId};

/// A new key: 20 random bytes as 40 lowercase hexadecimal characters.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    crate::hex(&bytes)
}

/// Where API tokens live. `Err` means the store could not answer.
pub trait TokenStore<I: UserId>: Send + Sync + 'static {
    /// The user a key belongs to.
    fn user_for(&self, key: &str) -> impl Future<Output = StoreResult<Option<I>>> + Send;
    /// A new key for `user_id`, replacing the user's previous one.
    fn issue(&self, user_id: &I) -> impl Future<Output = StoreResult<String>> + Send;
    /// DRF's `obtain_auth_token`: the user's key, made when the user has
    /// none (`Token.objects.get_or_create`); for a store that keeps the
    /// keys (`TokenTable::drf()`), concurrent calls for one user all get
    /// the same key. A store that keeps only digests of the keys
    /// ([`MemoryTokenStore`], `TokenTable::restflow()`) cannot give one
    /// back: by default this is [`issue`](TokenStore::issue), which
    /// replaces the user's key.
    fn obtain(&self, user_id: &I) -> impl Future<Output = StoreResult<String>> + Send {
        self.issue(user_id)
    }
    /// Blocking twin of [`obtain`](TokenStore::obtain).
    fn obtain_blocking(&self, user_id: &I) -> StoreResult<String> {
        self.issue_blocking(user_id)
    }
    /// Deletes a key; `true` if it existed.
    fn revoke(&self, key: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Blocking twin of [`user_for`](TokenStore::user_for).
    fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>>;
    /// Blocking twin of [`issue`](TokenStore::issue).
    fn issue_blocking(&self, user_id: &I) -> StoreResult<String>;
    /// Blocking twin of [`revoke`](TokenStore::revoke).
    fn revoke_blocking(&self, key: &str) -> StoreResult<bool>;
    /// Whether the blocking calls answer from this process's memory and
    /// never wait (the memory store): the async path then makes them
    /// directly, without a boxed future per call. `false` (the default)
    /// for a store that does I/O, where a blocking call would stall the
    /// runtime.
    fn answers_from_memory(&self) -> bool {
        false
    }
    /// Where this store's changes are told, so that each process may keep
    /// the users of valid keys in memory
    /// ([`invalidation`](crate::invalidation)); `None` (the default): every
    /// check reads the store. The SQL stores have one.
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        None
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Erased<I>: Send + Sync {
    fn user_for<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<I>>>;
    fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>>;
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    fn feed(&self) -> Option<crate::invalidation::Feed>;
    fn answers_from_memory(&self) -> bool;
}

impl<I: UserId, S: TokenStore<I>> Erased<I> for S {
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        TokenStore::feed(self)
    }
    fn answers_from_memory(&self) -> bool {
        TokenStore::answers_from_memory(self)
    }
    fn user_for<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<I>>> {
        Box::pin(crate::telemetry::store(
            "tokens",
            "user_for",
            TokenStore::user_for(self, key),
        ))
    }
    fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>> {
        crate::telemetry::store_blocking("tokens", "user_for", || {
            TokenStore::user_for_blocking(self, key)
        })
    }
}

/// The configured token store, as authenticators read it, with its
/// invalidation cache when it has one.
pub struct Tokens<I> {
    inner: Arc<dyn Erased<I>>,
    cache: crate::invalidation::StoreCache<I>,
}

impl<I> Clone for Tokens<I> {
    fn clone(&self) -> Self {
        Tokens {
            inner: Arc::clone(&self.inner),
            cache: self.cache.clone(),
        }
    }
}

/// What the token cache keys a key by: the hex SHA-256 of the key, what
/// the crate's table stores and what the triggers tell.
pub(crate) fn cache_key(key: &str) -> String {
    crate::hex(&digest(key))
}

impl<I> fmt::Debug for Tokens<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens")
    }
}

impl<I: UserId> Tokens<I> {
    /// Wraps a store.
    pub fn new(store: impl TokenStore<I>) -> Self {
        Tokens {
            inner: Arc::new(store),
            cache: crate::invalidation::StoreCache::default(),
        }
    }

    /// The same store with an invalidation cache, if it has a feed.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn cached(mut self, hubs: &mut crate::invalidation::Hubs) -> std::io::Result<Self> {
        self.cache.attach(self.inner.feed(), "t", hubs)?;
        Ok(self)
    }

    /// What the invalidation cache has done, if there is one.
    pub fn cache_stats(&self) -> Option<crate::invalidation::CacheStats> {
        self.cache.stats()
    }

    /// [`TokenStore::user_for`], answered from the invalidation cache
    /// while its feed vouches.
    pub async fn user_for(&self, key: &str) -> StoreResult<Option<I>> {
        if self.inner.answers_from_memory() {
            return self.user_for_blocking(key);
        }
        // Keys are short: anything longer is the store's to refuse.
        if key.len() > 128 {
            return self.inner.user_for(key).await;
        }
        self.cache
            .get(
                || cache_key(key).into(),
                |_| true,
                || self.inner.user_for(key),
            )
            .await
    }

    /// [`TokenStore::user_for_blocking`], sharing the cache.
    pub fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>> {
        if key.len() > 128 {
            return self.inner.user_for_blocking(key);
        }
        self.cache.get_blocking(
            || cache_key(key).into(),
            |_| true,
            || self.inner.user_for_blocking(key),
        )
    }
}

type Digest32 = [u8; 32];

fn digest(key: &str) -> Digest32 {
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// An in-memory token store keeping SHA-256 digests. Cloning shares it.
///
/// ```
/// use restflow_auth::token::{MemoryTokenStore, TokenStore};
/// let store = MemoryTokenStore::<i64>::new();
/// let key = store.issue_blocking(&7).unwrap();
/// assert_eq!(key.len(), 40);
/// assert_eq!(store.user_for_blocking(&key).unwrap(), Some(7));
/// let newer = store.issue_blocking(&7).unwrap();
/// assert_eq!(store.user_for_blocking(&key).unwrap(), None); // replaced
/// assert!(store.revoke_blocking(&newer).unwrap());
/// assert_eq!(store.user_for_blocking(&newer).unwrap(), None);
/// ```
pub struct MemoryTokenStore<I> {
    inner: Arc<RwLock<Inner<I>>>,
}

struct Inner<I> {
    by_digest: HashMap<Digest32, I>,
    by_user: HashMap<I, Digest32>,
}

impl<I> Clone for MemoryTokenStore<I> {
    fn clone(&self) -> Self {
        MemoryTokenStore {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I: UserId> Default for MemoryTokenStore<I> {
    fn default() -> Self {
        MemoryTokenStore {
            inner: Arc::new(RwLock::new(Inner {
                by_digest: HashMap::new(),
                by_user: HashMap::new(),
            })),
        }
    }
}

impl<I: UserId> fmt::Debug for MemoryTokenStore<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.inner.read().map(|i| i.by_digest.len()).unwrap_or(0);
        f.debug_struct("MemoryTokenStore")
            .field("tokens", &n)
            .finish()
    }
}

impl<I: UserId> MemoryTokenStore<I> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a known key (fixtures, migrations from DRF's `authtoken_token`).
    pub fn insert_key(&self, key: &str, user_id: I) {
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let d = digest(key);
        if let Some(old) = inner.by_user.insert(user_id.clone(), d) {
            inner.by_digest.remove(&old);
        }
        inner.by_digest.insert(d, user_id);
    }
}

impl<I: UserId> TokenStore<I> for MemoryTokenStore<I> {
    fn answers_from_memory(&self) -> bool {
        true
    }
    async fn user_for(&self, key: &str) -> StoreResult<Option<I>> {
        TokenStore::user_for_blocking(self, key)
    }
    async fn issue(&self, user_id: &I) -> StoreResult<String> {
        TokenStore::issue_blocking(self, user_id)
    }
    async fn revoke(&self, key: &str) -> StoreResult<bool> {
        TokenStore::revoke_blocking(self, key)
    }
    fn user_for_blocking(&self, key: &str) -> StoreResult<Option<I>> {
        let d = digest(key);
        let inner = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map finds the entry by digest; the final comparison is
        // constant-time all the same.
        Ok(inner
            .by_digest
            .get_key_value(&d)
            .filter(|(stored, _)| bool::from(stored.ct_eq(&d)))
            .map(|(_, id)| id.clone()))
    }
    fn issue_blocking(&self, user_id: &I) -> StoreResult<String> {
        let key = generate_key();
        self.insert_key(&key, user_id.clone());
        Ok(key)
    }
    fn revoke_blocking(&self, key: &str) -> StoreResult<bool> {
        let d = digest(key);
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match inner.by_digest.remove(&d) {
            Some(id) => {
                inner.by_user.remove(&id);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
