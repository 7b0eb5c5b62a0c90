//! Revocation state cached in each process, invalidated across instances:
//! the `[invalidation]` settings, the caches and the feeds that keep them
//! honest.
//!
//! Every request that carries a JWT asks the blacklist whether its token
//! was revoked, and the answer is almost always "no". On a SQL store that
//! question is a round trip per request. With a feed, each process keeps
//! the answers in memory and the database tells every process what
//! changed:
//!
//! - **PostgreSQL**: triggers on the crate's tables (`Database::migrate`
//!   creates them) `NOTIFY restflow_invalidation` on every insert and
//!   update, whoever writes (another instance, the management command, an
//!   application's own SQL); each process listens on one connection of
//!   its own.
//! - **SQLite**: each process reads `PRAGMA data_version` on a connection
//!   of its own; any commit by another connection (another process, or
//!   another connection of this one) changes it, and the process drops
//!   every cached answer.
//!
//! An answer of "not revoked" may be served from memory only while the
//! feed vouches for it: on PostgreSQL the feed sends itself a heartbeat
//! through the database every `heartbeat_ms` and the cache trusts what it
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
//! The cache is on by default for the SQL blacklists (`PostgresBlacklist`,
//! `SqliteBlacklist` on a file); an in-memory SQLite database, which only
//! its own pool can reach, gets none. `[invalidation] enabled = false`
//! turns it off.
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

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod cache;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::settings::{Error, Result};

/// The channel every feed's notifications travel on (PostgreSQL).
pub const CHANNEL: &str = "restflow_invalidation";

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

/// Where a store's invalidations come from: what a store's
/// [`feed`](crate::jwt::Blacklist::feed) answers. Opaque; the SQL stores
/// make theirs.
#[derive(Clone)]
pub struct Feed {
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) kind: FeedKind,
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
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
}

impl Feed {
    /// Notifications from this PostgreSQL database (its triggers).
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(options: sqlx::postgres::PgConnectOptions) -> Feed {
        Feed {
            kind: FeedKind::Postgres(options),
        }
    }

    /// `PRAGMA data_version` of this SQLite file; `None` for an in-memory
    /// database (no other connection can see it).
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(options: sqlx::sqlite::SqliteConnectOptions) -> Option<Feed> {
        let name = options.get_filename().to_string_lossy().into_owned();
        // sqlx names `sqlite::memory:` `file:sqlx-in-memory-<n>`.
        let memory = name.is_empty()
            || name.contains(":memory:")
            || name.contains("sqlx-in-memory")
            || name.contains("mode=memory");
        (!memory).then_some(Feed {
            kind: FeedKind::Sqlite(options),
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

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use self::cache::{KeyCache, Known, start};

/// Puts the builder's stores that have a feed behind their caches (the
/// JWT blacklist); keeps nothing of its own.
pub(crate) struct Invalidation;

impl crate::context::Component for Invalidation {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> std::result::Result<Option<Self>, crate::context::BuildError> {
        #[cfg(feature = "jwt")]
        if let Some(b) = crate::context::take::<crate::jwt::Blacklists>(stores) {
            let b = b
                .cached(&settings.invalidation)
                .map_err(|e| Error::Invalid {
                    key: "invalidation",
                    message: format!("cannot start the invalidation feed's thread: {e}"),
                })?;
            stores.insert(
                std::any::TypeId::of::<crate::jwt::Blacklists>(),
                Box::new(b),
            );
        }
        let _ = (settings, stores);
        Ok(None)
    }
}
