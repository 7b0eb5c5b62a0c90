//! [`Context`]: what authenticators and views read (settings, the user store,
//! other stores, the message catalog), and [`Auth`], which builds it once at
//! startup.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::messages::Catalog;
use crate::settings::Settings;
use crate::user::{AuthUser, StoreResult, UserStore};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait ErasedUserStore<U: AuthUser>: Send + Sync {
    fn find_by_id<'a>(&'a self, id: &'a U::Id) -> BoxFuture<'a, StoreResult<Option<U>>>;
    fn find_by_username<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<U>>>;
    fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>>;
    fn find_by_username_blocking(&self, name: &str) -> StoreResult<Option<U>>;
    fn create_remote_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<U>>>;
    fn create_remote_user_blocking(&self, name: &str) -> StoreResult<Option<U>>;
    fn set_password_hash<'a>(
        &'a self,
        id: &'a U::Id,
        old: &'a str,
        new: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    fn set_password_hash_blocking(&self, id: &U::Id, old: &str, new: &str) -> StoreResult<bool>;
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    fn feed(&self) -> Option<crate::invalidation::Feed>;
    fn answers_from_memory(&self) -> bool;
}

impl<U: AuthUser, S: UserStore<U>> ErasedUserStore<U> for S {
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        UserStore::feed(self)
    }
    fn answers_from_memory(&self) -> bool {
        UserStore::answers_from_memory(self)
    }
    fn find_by_id<'a>(&'a self, id: &'a U::Id) -> BoxFuture<'a, StoreResult<Option<U>>> {
        Box::pin(crate::telemetry::store(
            "users",
            "find_by_id",
            UserStore::find_by_id(self, id),
        ))
    }
    fn find_by_username<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<U>>> {
        Box::pin(crate::telemetry::store(
            "users",
            "find_by_username",
            UserStore::find_by_username(self, name),
        ))
    }
    fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>> {
        crate::telemetry::store_blocking("users", "find_by_id", || {
            UserStore::find_by_id_blocking(self, id)
        })
    }
    fn find_by_username_blocking(&self, name: &str) -> StoreResult<Option<U>> {
        crate::telemetry::store_blocking("users", "find_by_username", || {
            UserStore::find_by_username_blocking(self, name)
        })
    }
    fn create_remote_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<U>>> {
        Box::pin(crate::telemetry::store(
            "users",
            "create_remote_user",
            UserStore::create_remote_user(self, name),
        ))
    }
    fn create_remote_user_blocking(&self, name: &str) -> StoreResult<Option<U>> {
        crate::telemetry::store_blocking("users", "create_remote_user", || {
            UserStore::create_remote_user_blocking(self, name)
        })
    }
    fn set_password_hash<'a>(
        &'a self,
        id: &'a U::Id,
        old: &'a str,
        new: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(crate::telemetry::store(
            "users",
            "set_password_hash",
            UserStore::set_password_hash(self, id, old, new),
        ))
    }
    fn set_password_hash_blocking(&self, id: &U::Id, old: &str, new: &str) -> StoreResult<bool> {
        crate::telemetry::store_blocking("users", "set_password_hash", || {
            UserStore::set_password_hash_blocking(self, id, old, new)
        })
    }
}

/// How a credential names a user: by primary key or by username.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef<I> {
    /// By primary key.
    Id(I),
    /// By username.
    Username(String),
}

impl<I: crate::user::UserId> UserRef<I> {
    /// Reads a claim: a username (a JSON string) when `by_username`, else an
    /// id (see [`UserId::from_json`](crate::user::UserId::from_json)).
    /// `None` when the value cannot name a user.
    pub fn from_claim(value: &serde_json::Value, by_username: bool) -> Option<Self> {
        if by_username {
            value.as_str().map(|s| UserRef::Username(s.to_owned()))
        } else {
            I::from_json(value).map(UserRef::Id)
        }
    }
}

/// The configured user store, whatever its type, with its invalidation
/// cache of user rows when it has one.
pub struct Users<U: AuthUser> {
    inner: Arc<dyn ErasedUserStore<U>>,
    cache: crate::invalidation::StoreCache<U>,
}

impl<U: AuthUser> Clone for Users<U> {
    fn clone(&self) -> Self {
        Users {
            inner: Arc::clone(&self.inner),
            cache: self.cache.clone(),
        }
    }
}

impl<U: AuthUser> fmt::Debug for Users<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Users")
    }
}

impl<U: AuthUser> Users<U> {
    /// Wraps any [`UserStore`].
    pub fn new(store: impl UserStore<U>) -> Self {
        Users {
            inner: Arc::new(store),
            cache: crate::invalidation::StoreCache::default(),
        }
    }

    /// The same store with an invalidation cache, if it has a feed.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn cached(mut self, hubs: &mut crate::invalidation::Hubs) -> std::io::Result<Self> {
        self.cache.attach(self.inner.feed(), "u", hubs)?;
        Ok(self)
    }

    /// What the invalidation cache of user rows has done, if there is one.
    pub fn cache_stats(&self) -> Option<crate::invalidation::CacheStats> {
        self.cache.stats()
    }

    /// [`UserStore::find_by_id`], answered from the invalidation cache
    /// while its feed vouches.
    pub async fn find_by_id(&self, id: &U::Id) -> StoreResult<Option<U>> {
        if self.inner.answers_from_memory() {
            return self.find_by_id_blocking(id);
        }
        self.cache
            .get(
                || id.to_string().into(),
                |_| true,
                || self.inner.find_by_id(id),
            )
            .await
    }
    /// [`UserStore::find_by_username`].
    pub fn find_by_username<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Future<Output = StoreResult<Option<U>>> + Send + 'a {
        self.inner.find_by_username(name)
    }
    /// The user a [`UserRef`] names.
    pub async fn find(&self, r: &UserRef<U::Id>) -> StoreResult<Option<U>> {
        match r {
            UserRef::Id(id) => self.find_by_id(id).await,
            UserRef::Username(name) => self.find_by_username(name).await,
        }
    }
    /// Blocking twin of [`find`](Users::find).
    pub fn find_blocking(&self, r: &UserRef<U::Id>) -> StoreResult<Option<U>> {
        match r {
            UserRef::Id(id) => self.find_by_id_blocking(id),
            UserRef::Username(name) => self.find_by_username_blocking(name),
        }
    }
    /// [`UserStore::create_remote_user`].
    pub fn create_remote_user<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Future<Output = StoreResult<Option<U>>> + Send + 'a {
        self.inner.create_remote_user(name)
    }
    /// [`UserStore::create_remote_user_blocking`].
    pub fn create_remote_user_blocking(&self, name: &str) -> StoreResult<Option<U>> {
        self.inner.create_remote_user_blocking(name)
    }
    /// [`UserStore::find_by_id_blocking`], sharing the cache.
    pub fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>> {
        self.cache.get_blocking(
            || id.to_string().into(),
            |_| true,
            || self.inner.find_by_id_blocking(id),
        )
    }
    /// [`UserStore::set_password_hash`].
    pub fn set_password_hash<'a>(
        &'a self,
        id: &'a U::Id,
        old: &'a str,
        new: &'a str,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        self.inner.set_password_hash(id, old, new)
    }
    /// [`UserStore::set_password_hash_blocking`].
    pub fn set_password_hash_blocking(
        &self,
        id: &U::Id,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        self.inner.set_password_hash_blocking(id, old, new)
    }
    /// [`UserStore::find_by_username_blocking`].
    pub fn find_by_username_blocking(&self, name: &str) -> StoreResult<Option<U>> {
        self.inner.find_by_username_blocking(name)
    }
}

/// Everything an authenticator, permission or view may read. Built once by
/// [`Auth::builder`] and shared (`Arc`) by every request.
pub struct Context<U: AuthUser> {
    settings: Settings,
    users: Users<U>,
    catalog: Catalog,
    stores: Stores,
    /// Whether the wiring is checked (routes at build, policies when made).
    check_routes: bool,
}

impl<U: AuthUser> fmt::Debug for Context<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("stores", &self.stores.len())
            .finish_non_exhaustive()
    }
}

impl<U: AuthUser> Context<U> {
    /// The validated settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    /// The user store.
    pub fn users(&self) -> &Users<U> {
        &self.users
    }
    /// The message catalog.
    pub fn messages(&self) -> &Catalog {
        &self.catalog
    }
    /// A store registered with [`AuthBuilder::with_store`], by type.
    pub fn store<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.stores
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref())
    }
    /// Whether the wiring is checked (see [`wiring`](crate::wiring)).
    pub(crate) fn checks_routes(&self) -> bool {
        self.check_routes
    }

    /// The password executor (`[password]` settings).
    pub fn passwords(&self) -> &crate::password::Passwords {
        self.store::<crate::password::Passwords>()
            .unwrap_or_else(|| crate::password::Passwords::global())
    }
}

/// What the builder has collected: stores by type, before the components
/// are built.
/// (A `TypeId` is a hash already: every request looks several stores up,
/// and SipHash would cost more than the rest of the lookup.)
pub(crate) type Stores =
    HashMap<TypeId, Box<dyn Any + Send + Sync>, crate::prehashed::BuildPrehashed>;

/// Takes the store of type `T` out of `stores`.
pub(crate) fn take<T: Any + Send + Sync>(stores: &mut Stores) -> Option<T> {
    stores
        .remove(&TypeId::of::<T>())
        .and_then(|b| b.downcast::<T>().ok())
        .map(|b| *b)
}

/// A part of the configuration built once from the settings at startup
/// (the password executor, the JWT keys, ...) and kept in the [`Context`]
/// by type. Each lives in its own module with its own settings section;
/// [`AuthBuilder::build`] builds them in turn.
pub(crate) trait Component: Any + Send + Sync + Sized {
    /// Builds it from the settings and what the builder was given (taking
    /// out what it consumes); `None` when the settings do not call for it.
    fn build(settings: &Settings, stores: &mut Stores) -> Result<Option<Self>, BuildError>;
}

fn install<T: Component>(settings: &Settings, stores: &mut Stores) -> Result<(), BuildError> {
    if let Some(c) = T::build(settings, stores)? {
        stores.insert(TypeId::of::<T>(), Box::new(c));
    }
    Ok(())
}

impl Component for crate::password::Passwords {
    fn build(settings: &Settings, _: &mut Stores) -> Result<Option<Self>, BuildError> {
        Ok(Some(crate::password::Passwords::new(&settings.password)))
    }
}

/// Why [`AuthBuilder::build`] refused to build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No user store was given.
    #[error("no user store: call `.users(store)` on the builder (e.g. `MemoryUserStore::new()`)")]
    MissingUsers,
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] crate::settings::Error),
    /// The message catalog is invalid.
    #[error(transparent)]
    Messages(#[from] crate::messages::Error),
    /// The JWT configuration is invalid.
    #[cfg(feature = "jwt")]
    #[error(transparent)]
    Jwt(#[from] crate::jwt::ConfigError),
    /// Routes name schemes or throttles the configuration does not provide.
    #[error("the routes need what the configuration lacks:\n  {}", .0.join("\n  "))]
    Wiring(Vec<String>),
}

/// The configured authentication of an application: a cheap handle
/// (`Arc<Context>`) to clone into layers, views and blocking servers.
///
/// ```
/// use restflow_auth::prelude::*;
/// # #[derive(Clone, Debug, AuthUser)]
/// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
/// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
/// #   #[auth_user(is_staff)] staff: bool }
/// let auth = Auth::<User>::builder(Settings::default())
///     .users(MemoryUserStore::new())
///     .build()
///     .unwrap();
/// assert_eq!(auth.context().settings().token.keyword, "Token");
/// ```
pub struct Auth<U: AuthUser> {
    ctx: Arc<Context<U>>,
}

impl<U: AuthUser> Clone for Auth<U> {
    fn clone(&self) -> Self {
        Auth {
            ctx: Arc::clone(&self.ctx),
        }
    }
}

impl<U: AuthUser> fmt::Debug for Auth<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.ctx).finish()
    }
}

impl<U: AuthUser> Auth<U> {
    /// Starts a builder from settings.
    pub fn builder(settings: Settings) -> AuthBuilder<U> {
        AuthBuilder {
            settings,
            users: None,
            catalog: None,
            stores: Stores::default(),
            check_routes: None,
        }
    }

    pub(crate) fn from_context(ctx: Arc<Context<U>>) -> Self {
        Auth { ctx }
    }

    /// The shared context.
    pub fn context(&self) -> &Arc<Context<U>> {
        &self.ctx
    }
}

/// Builds an [`Auth`]; every check that can run at startup runs in
/// [`build`](AuthBuilder::build).
pub struct AuthBuilder<U: AuthUser> {
    settings: Settings,
    users: Option<Users<U>>,
    catalog: Option<Catalog>,
    stores: Stores,
    check_routes: Option<bool>,
}

impl<U: AuthUser> fmt::Debug for AuthBuilder<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<U: AuthUser> AuthBuilder<U> {
    /// The user store (required).
    pub fn users(mut self, store: impl UserStore<U>) -> Self {
        self.users = Some(Users::new(store));
        self
    }

    /// A message catalog with overrides (default: [`Catalog::default`] with
    /// the settings' default language).
    pub fn messages(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The API token store that [`Token`](crate::Token) reads.
    pub fn tokens(self, store: impl crate::token::TokenStore<U::Id>) -> Self {
        self.with_store(crate::token::Tokens::new(store))
    }

    /// The session store that [`Session`](crate::Session) and the session views use.
    pub fn sessions(self, store: impl crate::session::SessionStore) -> Self {
        self.with_store(crate::session::Sessions::new(store))
    }

    /// Where the throttles keep their logs (default: this process's memory,
    /// [`MemoryThrottleStore`](crate::throttle::MemoryThrottleStore)).
    pub fn throttle_store(self, store: impl crate::throttle::ThrottleStore) -> Self {
        self.with_store(crate::throttle::Store(Arc::new(store)))
    }

    /// Where the login lockout keeps its counters (default: this process's
    /// memory, [`MemoryLockoutStore`](crate::lockout::MemoryLockoutStore)).
    pub fn lockout_store(self, store: impl crate::lockout::LockoutStore) -> Self {
        self.with_store(crate::lockout::Store(Arc::new(store)))
    }

    /// Whether `build()` checks that every guarded handler's chain and
    /// throttles are configured (see [`wiring`](crate::wiring)); by
    /// default yes, unless a `config!` says `check_routes: false`.
    pub fn check_routes(mut self, check: bool) -> Self {
        self.check_routes = Some(check);
        self
    }

    /// Any value authenticators read with [`Context::store`] (one per type).
    pub fn with_store<T: Any + Send + Sync>(mut self, store: T) -> Self {
        self.stores.insert(TypeId::of::<T>(), Box::new(store));
        self
    }

    /// Where logout everywhere records its per-user times
    /// ([`revocation`](crate::revocation)); with one, every access token,
    /// refresh token and session is checked against it.
    pub fn revocations(self, store: impl crate::revocation::RevocationStore) -> Self {
        self.with_store(crate::revocation::Revocations::new(store))
    }

    /// The JWT blacklist backend (required while `jwt.blacklist_enabled`).
    #[cfg(feature = "jwt")]
    pub fn blacklist(self, backend: impl crate::jwt::Blacklist) -> Self {
        self.with_store(crate::jwt::Blacklists::new(backend))
    }

    /// The rule the obtain view applies to a user whose password matched
    /// (drf-restflow's `USER_AUTHENTICATION_RULE`; default: active users).
    #[cfg(feature = "jwt")]
    pub fn jwt_user_rule(self, rule: impl Fn(&U) -> bool + Send + Sync + 'static) -> Self {
        self.with_store(crate::views::UserRule::<U>::new(rule))
    }

    /// Validates everything and builds.
    pub fn build(self) -> Result<Auth<U>, BuildError> {
        self.settings.validate()?;
        let mut stores = self.stores;
        install::<crate::password::Passwords>(&self.settings, &mut stores)?;
        install::<crate::throttle::Throttling>(&self.settings, &mut stores)?;
        install::<crate::lockout::Lockout>(&self.settings, &mut stores)?;
        install::<crate::session::Sessions>(&self.settings, &mut stores)?;
        #[cfg(feature = "simplejwt")]
        install::<crate::authentication::simplejwt::SimpleJwtState>(&self.settings, &mut stores)?;
        install::<crate::invalidation::Invalidation>(&self.settings, &mut stores)?;
        #[cfg(feature = "jwt")]
        install::<crate::jwt::JwtState>(&self.settings, &mut stores)?;
        #[cfg(feature = "jwt")]
        install::<crate::jwt::cookie::JwtCookies>(&self.settings, &mut stores)?;
        #[cfg(feature = "external-jwt")]
        install::<crate::jwt::external::ExternalIssuer>(&self.settings, &mut stores)?;
        let users = self.users.ok_or(BuildError::MissingUsers)?;
        let users = crate::invalidation::Invalidation::typed(users, &mut stores)?;
        let catalog = match self.catalog {
            Some(c) => c,
            None => Catalog::default().with_default_language(&self.settings.default_language)?,
        };
        let check_routes = crate::wiring::enabled::<U>(self.check_routes);
        let ctx = Context {
            settings: self.settings,
            users,
            catalog,
            stores,
            check_routes,
        };
        if check_routes {
            let problems = crate::wiring::problems(&ctx);
            if !problems.is_empty() {
                return Err(BuildError::Wiring(problems));
            }
        }
        Ok(Auth { ctx: Arc::new(ctx) })
    }
}
