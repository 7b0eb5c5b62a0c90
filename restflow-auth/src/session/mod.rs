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

pub use self::cookies::{ResponseCookies, cookie};
#[cfg(feature = "redis")]
pub use self::redis::RedisSessionStore;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sha2::Digest;

use crate::user::StoreResult;

/// What a session remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionData {
    /// The user id, as JSON.
    pub user_id: serde_json::Value,
    /// SHA-256 (hex) of the user's password hash when the session began.
    pub auth_hash: String,
    /// Seconds since the epoch after which the session is gone.
    pub expires_at: i64,
}

/// The digest of a password hash kept in a session.
///
/// ```
/// assert_eq!(
///     restflow_auth::session::auth_hash("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn auth_hash(password_hash: &str) -> String {
    crate::hex(&sha2::Sha256::digest(password_hash.as_bytes()))
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
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Erased: Send + Sync {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionData>>>;
    fn save<'a>(&'a self, key: &'a str, data: &'a SessionData) -> BoxFuture<'a, StoreResult<()>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>>;
    fn delete_blocking(&self, key: &str) -> StoreResult<()>;
}

impl<S: SessionStore> Erased for S {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionData>>> {
        Box::pin(SessionStore::load(self, key))
    }
    fn save<'a>(&'a self, key: &'a str, data: &'a SessionData) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(SessionStore::save(self, key, data))
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(SessionStore::delete(self, key))
    }
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        SessionStore::load_blocking(self, key)
    }
    fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        SessionStore::delete_blocking(self, key)
    }
}

/// The configured session store.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<dyn Erased>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sessions")
    }
}

impl Sessions {
    /// Wraps a store.
    pub fn new(store: impl SessionStore) -> Self {
        Sessions {
            inner: Arc::new(store),
        }
    }
    /// [`SessionStore::load`].
    pub fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = StoreResult<Option<SessionData>>> + Send + 'a {
        self.inner.load(key)
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
    /// [`SessionStore::load_blocking`].
    pub fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        self.inner.load_blocking(key)
    }
    /// [`SessionStore::delete_blocking`].
    pub fn delete_blocking(&self, key: &str) -> StoreResult<()> {
        self.inner.delete_blocking(key)
    }
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
    let key = new_session_key();
    let data = SessionData {
        user_id: crate::user::UserId::to_json(user.id()),
        auth_hash: auth_hash(user.password_hash()),
        expires_at: crate::unix_now() + settings.cookie_age_s as i64,
    };
    sessions.save(&key, &data).await?;
    Ok(key)
}

/// Ends a session (Django's `logout`).
pub async fn logout(sessions: &Sessions, key: &str) -> StoreResult<()> {
    sessions.delete(key).await
}
