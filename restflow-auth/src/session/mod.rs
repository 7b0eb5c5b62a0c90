//! Server-side sessions (Django's `sessionid`) and Django's CSRF rules.
//!
//! [`SessionStore`] is the backend trait, with async and blocking pairs like
//! every store here; [`MemorySessionStore`] keeps sessions in this process
//! and drops expired ones. A session holds the user id and a digest of the
//! user's password hash, so a password change ends every session (Django's
//! session auth hash). [`csrf`] masks and checks tokens exactly as Django.
//!
//! Why not tower-sessions: its `Session` API is async only, and the blocking
//! path of every authenticator must read the same sessions.

pub mod cookies;
pub mod csrf;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;
#[cfg(feature = "django")]
#[cfg_attr(docsrs, doc(cfg(feature = "django")))]
mod signed_cookies;

#[cfg(feature = "jwt")]
pub(crate) use self::cookies::cookie_count;
pub use self::cookies::{ResponseCookies, cookie};
#[cfg(feature = "redis")]
pub use self::redis::RedisSessionStore;
#[cfg(feature = "django")]
pub use self::signed_cookies::SignedCookieSessions;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::user::StoreResult;

/// What a session remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionData {
    /// The user id, as JSON.
    pub user_id: serde_json::Value,
    /// The session auth hash of the user's password hash when the session
    /// began ([`Sessions::auth_hash`]).
    pub auth_hash: String,
    /// Seconds since the epoch after which the session is gone.
    pub expires_at: i64,
    /// When the session began (its login), in seconds since the epoch,
    /// for logout everywhere; `None` where the store does not know (its
    /// start is then taken as `expires_at` less `session.cookie_age_s`).
    /// Django's stores give the time Django last signed the session.
    pub issued_at: Option<i64>,
}

/// The digest of a password hash a session keeps without a Django secret
/// (with `django.secret_key`, Django's session auth hash:
/// [`django::session_auth_hash`](crate::django::session_auth_hash)).
///
/// ```
/// assert_eq!(
///     restflow_auth::session::auth_hash("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn auth_hash(password_hash: &str) -> String {
    crate::django::AuthHasher::Sha256.hash(password_hash)
}

/// Whether a session key is well-formed as Django's `_validate_session_key`
/// says: at least 8 characters. A cookie holding anything shorter names no
/// session, and Django deletes it in every response.
pub fn valid_key(key: &str) -> bool {
    key.chars().count() >= 8
}

/// A new session key: 32 characters of `[a-z0-9]`, as Django's.
pub fn new_session_key() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    // 252 = 7 * 36: rejection keeps the choice uniform.
    let mut out = String::with_capacity(32);
    let mut i = 0;
    while out.len() < 32 {
        if i == bytes.len() {
            getrandom::fill(&mut bytes).expect("the operating system's random source");
            i = 0;
        }
        let b = bytes[i];
        i += 1;
        if b < 252 {
            out.push(char::from(CHARS[usize::from(b % 36)]));
        }
    }
    out
}

/// Where sessions live. `Err` means the store could not answer.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session and returns its key, the session cookie's
    /// value: by default a new random key ([`new_session_key`]) under which
    /// `data` is saved; a store that keeps the session in the cookie
    /// itself (Django's `signed_cookies`) returns the signed data.
    fn create(&self, data: &SessionData) -> impl Future<Output = StoreResult<String>> + Send {
        async move {
            let key = new_session_key();
            self.save(&key, data).await?;
            Ok(key)
        }
    }
    /// Blocking twin of [`create`](SessionStore::create).
    fn create_blocking(&self, data: &SessionData) -> StoreResult<String> {
        let key = new_session_key();
        self.save_blocking(&key, data)?;
        Ok(key)
    }
    /// The session under `key`, unless absent or expired.
    fn load(&self, key: &str) -> impl Future<Output = StoreResult<Option<SessionData>>> + Send;
    /// Stores `data` under `key`.
    fn save(&self, key: &str, data: &SessionData) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the session under `key`.
    fn delete(&self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Blocking twin of [`load`](SessionStore::load).
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>>;
    /// Blocking twin of [`save`](SessionStore::save).
    fn save_blocking(&self, key: &str, data: &SessionData) -> StoreResult<()>;
    /// Blocking twin of [`delete`](SessionStore::delete).
    fn delete_blocking(&self, key: &str) -> StoreResult<()>;
    /// The `[django]` settings a store signs its sessions with (Django's
    /// stores), so that `build()` can check that the session auth hash
    /// uses the same secret. `None` for stores of the crate's own format.
    fn django(&self) -> Option<&crate::django::DjangoSettings> {
        None
    }
    /// Whether the blocking calls answer from this process's memory and
    /// never wait (the memory store): the async path then makes them
    /// directly, without a boxed future per call. `false` (the default)
    /// for a store that does I/O, where a blocking call would stall the
    /// runtime.
    fn answers_from_memory(&self) -> bool {
        false
    }
    /// Where this store's changes are told, so that each process may keep
    /// live sessions in memory ([`invalidation`](crate::invalidation));
    /// `None` (the default): every request reads the store. The SQL stores
    /// have one.
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        None
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Erased: Send + Sync {
    fn create<'a>(&'a self, data: &'a SessionData) -> BoxFuture<'a, StoreResult<String>>;
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionData>>>;
    fn save<'a>(&'a self, key: &'a str, data: &'a SessionData) -> BoxFuture<'a, StoreResult<()>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>>;
    fn delete_blocking(&self, key: &str) -> StoreResult<()>;
    fn django(&self) -> Option<&crate::django::DjangoSettings>;
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    fn feed(&self) -> Option<crate::invalidation::Feed>;
    fn answers_from_memory(&self) -> bool;
}

impl<S: SessionStore> Erased for S {
    fn create<'a>(&'a self, data: &'a SessionData) -> BoxFuture<'a, StoreResult<String>> {
        Box::pin(crate::telemetry::store(
            "sessions",
            "create",
            SessionStore::create(self, data),
        ))
    }
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionData>>> {
        Box::pin(crate::telemetry::store(
            "sessions",
            "load",
            SessionStore::load(self, key),
        ))
    }
    fn save<'a>(&'a self, key: &'a str, data: &'a SessionData) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "sessions",
            "save",
            SessionStore::save(self, key, data),
        ))
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(crate::telemetry::store(
            "sessions",
            "delete",
            SessionStore::delete(self, key),
        ))
    }
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        crate::telemetry::store_blocking("sessions", "load", || {
            SessionStore::load_blocking(self, key)
        })
    }
    fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        crate::telemetry::store_blocking("sessions", "delete", || {
            SessionStore::delete_blocking(self, key)
        })
    }
    fn django(&self) -> Option<&crate::django::DjangoSettings> {
        SessionStore::django(self)
    }
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        SessionStore::feed(self)
    }
    fn answers_from_memory(&self) -> bool {
        SessionStore::answers_from_memory(self)
    }
}

/// The configured session store, with the session auth hash of the
/// settings (Django's HMAC under `django.secret_key`, else a SHA-256).
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<dyn Erased>,
    hasher: crate::django::AuthHasher,
    cache: crate::invalidation::StoreCache<SessionData>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sessions")
    }
}

impl Sessions {
    /// Wraps a store (auth hashes: SHA-256 until built into an `Auth`
    /// with `django.secret_key`).
    pub fn new(store: impl SessionStore) -> Self {
        Sessions {
            inner: Arc::new(store),
            hasher: crate::django::AuthHasher::Sha256,
            cache: crate::invalidation::StoreCache::default(),
        }
    }

    /// The same store with an invalidation cache, if it has a feed.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn cached(mut self, hubs: &mut crate::invalidation::Hubs) -> std::io::Result<Self> {
        self.cache.attach(self.inner.feed(), "s", hubs)?;
        Ok(self)
    }

    /// What the invalidation cache has done, if there is one.
    pub fn cache_stats(&self) -> Option<crate::invalidation::CacheStats> {
        self.cache.stats()
    }

    /// The same store, hashing as `settings` say (Django's session auth
    /// hash when `secret_key` is set).
    pub fn with_django(mut self, settings: &crate::django::DjangoSettings) -> Self {
        self.hasher = crate::django::AuthHasher::new(settings);
        self
    }

    /// The session auth hash of a password hash, as a new session stores it.
    pub fn auth_hash(&self, password_hash: &str) -> String {
        self.hasher.hash(password_hash)
    }

    /// Whether a session's stored hash matches the user's password hash
    /// (Django's secret or a fallback; constant-time).
    pub fn auth_hash_matches(&self, stored: &str, password_hash: &str) -> bool {
        self.hasher.matches(stored, password_hash)
    }

    /// [`SessionStore::create`].
    pub fn create<'a>(
        &'a self,
        data: &'a SessionData,
    ) -> impl Future<Output = StoreResult<String>> + Send + 'a {
        self.inner.create(data)
    }
    /// [`SessionStore::load`], answered from the invalidation cache while
    /// its feed vouches (an expired session is never served from it).
    pub async fn load(&self, key: &str) -> StoreResult<Option<SessionData>> {
        if self.inner.answers_from_memory() {
            return self.load_blocking(key);
        }
        self.cache
            .get(|| key.into(), live, || self.inner.load(key))
            .await
    }
    /// [`SessionStore::save`].
    pub fn save<'a>(
        &'a self,
        key: &'a str,
        data: &'a SessionData,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        self.inner.save(key, data)
    }
    /// [`SessionStore::delete`].
    pub fn delete<'a>(&'a self, key: &'a str) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        self.inner.delete(key)
    }
    /// [`SessionStore::load_blocking`], sharing the cache.
    pub fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        self.cache
            .get_blocking(|| key.into(), live, || self.inner.load_blocking(key))
    }
    /// [`SessionStore::delete_blocking`].
    pub fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        self.inner.delete_blocking(key)
    }
}

/// Whether a cached session is still live (the stores read none expired).
fn live(data: &SessionData) -> bool {
    data.expires_at > crate::unix_now()
}

/// Sessions in this process; expired ones are dropped as new ones come in.
#[derive(Clone, Default)]
pub struct MemorySessionStore {
    map: Arc<Mutex<HashMap<String, SessionData>>>,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.len())
            .finish()
    }
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionData>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SessionStore for MemorySessionStore {
    fn answers_from_memory(&self) -> bool {
        true
    }
    async fn load(&self, key: &str) -> StoreResult<Option<SessionData>> {
        SessionStore::load_blocking(self, key)
    }
    async fn save(&self, key: &str, data: &SessionData) -> StoreResult<()> {
        SessionStore::save_blocking(self, key, data)
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        SessionStore::delete_blocking(self, key)
    }
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        Ok(self
            .lock()
            .get(key)
            .filter(|d| d.expires_at > crate::unix_now())
            .cloned())
    }
    fn save_blocking(&self, key: &str, data: &SessionData) -> StoreResult<()> {
        let mut map = self.lock();
        let t = crate::unix_now();
        map.retain(|_, d| d.expires_at > t);
        map.insert(key.to_owned(), data.clone());
        Ok(())
    }
    fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        self.lock().remove(key);
        Ok(())
    }
}

/// Starts a session for `user` (Django's `login`): any `previous` session
/// is deleted first, so a session id fixed before login does not survive
/// it. Returns the new session key, to send as the session cookie.
pub async fn login<U: crate::user::AuthUser>(
    sessions: &Sessions,
    settings: &crate::settings::SessionSettings,
    user: &U,
    previous: Option<&str>,
) -> StoreResult<String> {
    if let Some(old) = previous {
        sessions.delete(old).await?;
    }
    let data = SessionData {
        user_id: crate::user::UserId::to_json(user.id()),
        auth_hash: sessions.auth_hash(user.password_hash()),
        expires_at: crate::unix_now() + settings.cookie_age_s as i64,
        issued_at: Some(crate::unix_now()),
    };
    sessions.create(&data).await
}

/// Ends a session (Django's `logout`).
pub async fn logout(sessions: &Sessions, key: &str) -> StoreResult<()> {
    sessions.delete(key).await
}

/// The builder's session store, hashing as `[django]` says. A Django
/// store signs with its own `[django]` settings: when the builder's name
/// another `SECRET_KEY` the build fails (Django would refuse the session
/// auth hashes); when they name none, the store's are used.
impl crate::context::Component for Sessions {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        let Some(sessions) = crate::context::take::<Sessions>(stores) else {
            return Ok(None);
        };
        let django = match sessions.inner.django() {
            Some(theirs) if settings.django.secret_key.is_none() => theirs.clone(),
            Some(theirs) if theirs.keys().ne(settings.django.keys()) => {
                return Err(crate::settings::Error::Invalid {
                    key: "django.secret_key",
                    message: "the session store was built with other `[django]` secrets than the builder's settings: build both from the same `Settings`".into(),
                }
                .into());
            }
            _ => settings.django.clone(),
        };
        Ok(Some(sessions.with_django(&django)))
    }
}
