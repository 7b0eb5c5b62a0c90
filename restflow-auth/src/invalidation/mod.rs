//! Revocation state cached in each process, invalidated across instances:
//! the `[invalidation]` settings, the caches and the feeds that keep them
//! honest.
//!
//! Every request asks a store something whose answer almost never
//! changes: whether its JWT was revoked, whose API token it carries,
//! whether its session is live, and the user row behind it. On a shared
//! store each question is a round trip per request. With a feed, each
//! process keeps the answers in memory (one bounded cache per kind: `b`
//! blacklist answers, `t` tokens' users, `s` live sessions, `u` user rows,
//! `r` the per-user times of logout everywhere)
//! and the store tells every process what changed. The stores of one
//! database share one feed:
//!
//! - **PostgreSQL**: a `restflow_invalidate` trigger on each table
//!   (`Database::migrate` puts it on the crate's tables and on Django's
//!   `auth_user`, `django_session` and `authtoken_token` where they exist)
//!   sends `NOTIFY restflow_invalidation` with `<kind>:<key>` on every
//!   write, whoever makes it (another instance, the management command,
//!   Django, an application's own SQL); each process listens on one
//!   connection of its own. A store whose table lacks the trigger, or whose
//!   trigger is disabled, is not cached; the feed checks each trigger every
//!   second (one dropped behind its back stops its cache within about a
//!   second). A `TRUNCATE`, and a key too long for a notification, drop
//!   every cached answer.
//! - **SQLite**: each process reads `PRAGMA data_version` on a connection
//!   of its own; any commit by another connection (another process, or
//!   another connection of this one) changes it, and the process drops
//!   every cached answer.
//! - **Redis** (the blacklist, the sessions and the per-user times):
//!   every write publishes
//!   `<kind>:<key>` on [`REDIS_CHANNEL`] in the same `MULTI`/`EXEC`; each
//!   process subscribes on a connection of its own, and its heartbeat is a
//!   `PING` on that connection (answered after every message published
//!   before it). Writes made to the keys by something other than the
//!   crate's stores are not heard: leave the keys to them.
//!
//! Only what exists is cached (a key not revoked, a valid token's user, a
//! live session, a user row): a flood of made-up keys costs the store, not
//! the cache, and a cached session is never served past its expiry.
//!
//! An answer ("not revoked", a token's user, a session, a row) may be
//! served from memory only while the feed vouches for it: on PostgreSQL
//! and Redis the feed sends itself a heartbeat through the store every
//! `heartbeat_ms` and the cache trusts what it
//! holds for `max_staleness_ms` after the last heartbeat that came back
//! (notifications arrive in commit order, so a heartbeat that came back
//! proves every revocation committed before it was heard); on SQLite each
//! `data_version` read vouches in the same way. A lost connection, a
//! heartbeat that does not come back, any error: the cache stops serving
//! and drops what it holds, requests read the store (and fail closed, 503,
//! if it is down too) until the feed is back, with no restart. "Revoked"
//! never reverses while a token can live, so those answers are kept (for
//! `ttl_s`) whatever the feed's health. A load racing an invalidation
//! cannot put a stale answer back: every invalidation bumps a generation
//! that a load reads before it asks the store and checks after it stores.
//!
//! Writes made through this process's stores invalidate its own cache at
//! once (write-through); the feed carries them to the others.
//!
//! The caches are on by default for the stores with a feed (the SQL
//! stores, `RedisBlacklist`, `RedisSessionStore`, `RedisRevocationStore`);
//! an in-memory SQLite
//! database, which only its own pool can reach, gets none.
//! `[invalidation] enabled = false` turns them off.
//!
//! ```
//! use restflow_auth::Settings;
//!
//! let s = Settings::from_sources(
//!     Some("[invalidation]\nmax_staleness_ms = 200\nheartbeat_ms = 50\n"),
//!     [],
//! )
//! .unwrap();
//! assert!(s.invalidation.enabled);
//! assert_eq!(s.invalidation.max_staleness_ms, 200);
//!
//! // A heartbeat must come at least twice per staleness bound.
//! let e = Settings::from_sources(
//!     Some("[invalidation]\nmax_staleness_ms = 100\nheartbeat_ms = 80\n"),
//!     [],
//! )
//! .unwrap_err();
//! assert!(e.to_string().contains("invalidation.heartbeat_ms"), "{e}");
//! ```

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
mod cache;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store_cache;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::settings::{Error, Result};

/// The channel every feed's notifications travel on (PostgreSQL).
pub const CHANNEL: &str = "restflow_invalidation";

/// The channel the Redis stores publish their writes on.
pub const REDIS_CHANNEL: &str = "restflow:invalidation";

/// `[invalidation]`: the per-process caches of revocation state and how
/// their feeds prove themselves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvalidationSettings {
    /// Whether stores with a feed cache their answers (default `true`).
    pub enabled: bool,
    /// How many answers each cache holds at most (default 100 000).
    pub capacity: u64,
    /// The longest any answer is kept, a safety net beside the feed
    /// (default 60 s).
    pub ttl_s: u64,
    /// How long after the feed last proved itself its cached answers
    /// still serve (default 100 ms; 10 ms to 10 s).
    pub max_staleness_ms: u64,
    /// How often the feed proves itself (default 25 ms; at most half of
    /// `max_staleness_ms`).
    pub heartbeat_ms: u64,
}

impl Default for InvalidationSettings {
    fn default() -> Self {
        InvalidationSettings {
            enabled: true,
            capacity: 100_000,
            ttl_s: 60,
            max_staleness_ms: 100,
            heartbeat_ms: 25,
        }
    }
}

impl InvalidationSettings {
    /// Checks the section.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &'static str, message: &str| {
            Err(Error::Invalid {
                key,
                message: message.into(),
            })
        };
        if !(10..=10_000).contains(&self.max_staleness_ms) {
            return bad(
                "invalidation.max_staleness_ms",
                "give a bound from 10 to 10000 (milliseconds)",
            );
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms * 2 > self.max_staleness_ms {
            return bad(
                "invalidation.heartbeat_ms",
                "give at least 1 and at most half of `invalidation.max_staleness_ms`",
            );
        }
        if self.capacity == 0 {
            return bad(
                "invalidation.capacity",
                "give at least 1, or set `invalidation.enabled = false`",
            );
        }
        if !(1..=86_400).contains(&self.ttl_s) {
            return bad("invalidation.ttl_s", "give 1 to 86400 seconds");
        }
        Ok(())
    }
}

/// Where a store's invalidations come from: what a store's `feed` method
/// answers ([`Blacklist::feed`](crate::jwt::Blacklist::feed),
/// [`TokenStore::feed`](crate::token::TokenStore::feed),
/// [`SessionStore::feed`](crate::session::SessionStore::feed),
/// [`UserStore::feed`](crate::user::UserStore::feed),
/// [`RevocationStore::feed`](crate::revocation::RevocationStore::feed)).
/// Opaque; the SQL and Redis stores make theirs. The stores of one database share its feed.
#[derive(Clone)]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(dead_code)
)]
pub struct Feed {
    pub(crate) kind: FeedKind,
    /// Which database (its pool's address): stores on one share a feed.
    pub(crate) database: usize,
    /// The trigger the store's table must have (PostgreSQL).
    pub(crate) watch: Option<Watch>,
    /// The database's own writes, told to its hubs at once.
    pub(crate) local: std::sync::Arc<Local>,
}

/// The hubs of one database, which its own stores' writes tell at once
/// (write-through: the feed would tell them a little later).
#[derive(Default)]
pub(crate) struct Local {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    channels: std::sync::Mutex<Vec<std::sync::Weak<cache::Channel>>>,
}

impl Local {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    fn channels(&self) -> Vec<std::sync::Arc<cache::Channel>> {
        let mut v = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        v.retain(|c| c.strong_count() > 0);
        v.iter().filter_map(std::sync::Weak::upgrade).collect()
    }

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(super) fn register(&self, channel: &std::sync::Arc<cache::Channel>) {
        let mut v = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let weak = std::sync::Arc::downgrade(channel);
        if !v.iter().any(|w| w.ptr_eq(&weak)) {
            v.push(weak);
        }
    }

    /// This database committed a change to `key` of kind `kind` (`None`:
    /// to keys it cannot name, every key of that kind).
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
        allow(dead_code)
    )]
    pub(crate) fn wrote(&self, kind: &str, key: Option<&str>) {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        for c in self.channels() {
            c.wrote(kind, key);
        }
        let _ = (kind, key);
    }
}

/// A table whose changes a trigger tells: the table (as SQL names it) and
/// the arguments its `restflow_invalidate` trigger must have, as
/// `encode(tgargs, 'escape')` spells them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Watch {
    pub(crate) table: String,
    pub(crate) args: String,
}

impl Watch {
    /// The trigger `restflow_invalidate(kind, column, mode)` on `table`
    /// (`mode`: `plain`, or `sha256` when the key is notified as the hex
    /// SHA-256 of the column).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn new(table: &str, kind: &str, column: &str, sha256: bool) -> Watch {
        let mode = if sha256 { "sha256" } else { "plain" };
        Watch {
            table: table.to_owned(),
            args: format!("{kind}\\000{column}\\000{mode}\\000"),
        }
    }
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The options hold a password: nothing of them.
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) enum FeedKind {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgConnectOptions),
    #[cfg(feature = "redis")]
    Redis(::redis::Client),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
}

impl Feed {
    /// Messages on the Redis channel [`REDIS_CHANNEL`], which the Redis
    /// stores publish to with every write (in the same transaction).
    #[cfg(feature = "redis")]
    pub(crate) fn redis(
        client: ::redis::Client,
        database: usize,
        local: std::sync::Arc<Local>,
    ) -> Feed {
        Feed {
            kind: FeedKind::Redis(client),
            database,
            watch: None,
            local,
        }
    }

    /// Notifications from this PostgreSQL database (its triggers); the
    /// store's table must have the trigger of `watch`.
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(
        options: sqlx::postgres::PgConnectOptions,
        database: usize,
        local: std::sync::Arc<Local>,
        watch: Watch,
    ) -> Feed {
        Feed {
            kind: FeedKind::Postgres(options),
            database,
            watch: Some(watch),
            local,
        }
    }

    /// `PRAGMA data_version` of this SQLite file; `None` for an in-memory
    /// database (no other connection can see it).
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(
        options: sqlx::sqlite::SqliteConnectOptions,
        database: usize,
        local: std::sync::Arc<Local>,
    ) -> Option<Feed> {
        let name = options.get_filename().to_string_lossy().into_owned();
        // sqlx names `sqlite::memory:` `file:sqlx-in-memory-<n>`.
        let memory = name.is_empty()
            || name.contains(":memory:")
            || name.contains("sqlx-in-memory")
            || name.contains("mode=memory");
        (!memory).then_some(Feed {
            kind: FeedKind::Sqlite(options),
            database,
            watch: None,
            local,
        })
    }
}

/// What the feeds and caches have done so far, for an application's
/// metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Checks answered from memory.
    pub hits: u64,
    /// Checks that read the store while the feed vouched (their answer
    /// then cached).
    pub misses: u64,
    /// Checks that read the store because the feed could not vouch.
    pub bypassed: u64,
    /// Keys invalidated (a notification, or a write of this process).
    pub invalidations: u64,
    /// Times every answer was dropped (a lost or unproven feed, a commit
    /// seen on SQLite, a notification that names no key).
    pub flushes: u64,
    /// Times the feed connected and proved itself.
    pub connects: u64,
    /// Whether the feed vouches right now.
    pub trusted: bool,
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) use self::cache::{Cached, Hubs, KeyCache, Known, ValueCache};
pub(crate) use self::store_cache::StoreCache;

/// Puts the builder's stores that have a feed behind their caches (the
/// JWT blacklist and the sessions here; the API tokens and the user rows,
/// typed by the user model, in [`Invalidation::typed`]); keeps nothing of
/// its own.
pub(crate) struct Invalidation;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn thread_error(e: std::io::Error) -> crate::context::BuildError {
    Error::Invalid {
        key: "invalidation",
        message: format!("cannot start the invalidation feed's thread: {e}"),
    }
    .into()
}

/// Replaces the store of type `T` with `f(store)`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
fn rewrap<T: std::any::Any + Send + Sync>(
    stores: &mut crate::context::Stores,
    f: impl FnOnce(T) -> std::io::Result<T>,
) -> std::result::Result<(), crate::context::BuildError> {
    if let Some(t) = crate::context::take::<T>(stores) {
        let t = f(t).map_err(thread_error)?;
        stores.insert(std::any::TypeId::of::<T>(), Box::new(t));
    }
    Ok(())
}

impl crate::context::Component for Invalidation {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> std::result::Result<Option<Self>, crate::context::BuildError> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if settings.invalidation.enabled {
            let mut hubs = Hubs::new(&settings.invalidation);
            #[cfg(feature = "jwt")]
            rewrap::<crate::jwt::Blacklists>(stores, |b| b.cached(&mut hubs))?;
            rewrap::<crate::session::Sessions>(stores, |s| s.cached(&mut hubs))?;
            rewrap::<crate::revocation::Revocations>(stores, |r| r.cached(&mut hubs))?;
            stores.insert(std::any::TypeId::of::<Hubs>(), Box::new(hubs));
        }
        let _ = (settings, stores);
        Ok(None)
    }
}

impl Invalidation {
    /// The caches of the stores typed by the user model: the API tokens
    /// and the user rows (after [`build`](crate::context::Component::build)).
    pub(crate) fn typed<U: crate::user::AuthUser>(
        users: crate::context::Users<U>,
        stores: &mut crate::context::Stores,
    ) -> std::result::Result<crate::context::Users<U>, crate::context::BuildError> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(mut hubs) = crate::context::take::<Hubs>(stores) {
            rewrap::<crate::token::Tokens<U::Id>>(stores, |t| t.cached(&mut hubs))?;
            return users.cached(&mut hubs).map_err(thread_error);
        }
        let _ = stores;
        Ok(users)
    }
}
