//! The cache a store wrapper (`Tokens`, `Sessions`, `Users`,
//! `Revocations`) keeps in front of its store: none until the builder
//! attaches one for a store that has a feed; without the `sqlite`,
//! `postgres` and `redis` features, never one.

use std::borrow::Cow;
use std::future::Future;

use super::CacheStats;
use crate::user::StoreResult;

/// A store's values of one kind, from memory while the feed vouches, else
/// from the store.
pub(crate) struct StoreCache<V> {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    cache: Option<std::sync::Arc<super::ValueCache<V>>>,
    _value: std::marker::PhantomData<fn() -> V>,
}

impl<V> Clone for StoreCache<V> {
    fn clone(&self) -> Self {
        StoreCache {
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
            cache: self.cache.clone(),
            _value: std::marker::PhantomData,
        }
    }
}

impl<V> Default for StoreCache<V> {
    fn default() -> Self {
        StoreCache {
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
            cache: None,
            _value: std::marker::PhantomData,
        }
    }
}

impl<V: Clone + Send + Sync + 'static> StoreCache<V> {
    /// A cache of kind `kind` fed by `feed`, if the store has one (and
    /// none is attached yet).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn attach(
        &mut self,
        feed: Option<super::Feed>,
        kind: &'static str,
        hubs: &mut super::Hubs,
    ) -> std::io::Result<()> {
        if let (Some(feed), None) = (feed, &self.cache) {
            self.cache = Some(std::sync::Arc::new(hubs.hub(&feed)?.values(kind, &feed)));
        }
        Ok(())
    }

    /// What the cache has done, if there is one.
    pub(crate) fn stats(&self) -> Option<CacheStats> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            return Some(cache.stats());
        }
        None
    }

    /// The value under `key()` from memory if `fresh` accepts it, else
    /// `load`'s answer (kept when it exists and nothing was invalidated
    /// meanwhile).
    pub(crate) async fn get<'k, F>(
        &self,
        key: impl FnOnce() -> Cow<'k, str>,
        fresh: impl Fn(&V) -> bool,
        load: impl FnOnce() -> F,
    ) -> StoreResult<Option<V>>
    where
        F: Future<Output = StoreResult<Option<V>>>,
    {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            let key = key();
            return match cache.get(&key, fresh) {
                super::Cached::Hit(v) => Ok(Some(v)),
                super::Cached::Miss(pending) => {
                    let found = load().await?;
                    cache.learn(&key, pending, found.as_ref());
                    Ok(found)
                }
            };
        }
        let _ = (key, fresh);
        load().await
    }

    /// Blocking twin of [`get`](Self::get), sharing its cache.
    pub(crate) fn get_blocking<'k>(
        &self,
        key: impl FnOnce() -> Cow<'k, str>,
        fresh: impl Fn(&V) -> bool,
        load: impl FnOnce() -> StoreResult<Option<V>>,
    ) -> StoreResult<Option<V>> {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
        if let Some(cache) = &self.cache {
            let key = key();
            return match cache.get(&key, fresh) {
                super::Cached::Hit(v) => Ok(Some(v)),
                super::Cached::Miss(pending) => {
                    let found = load()?;
                    cache.learn(&key, pending, found.as_ref());
                    Ok(found)
                }
            };
        }
        let _ = (key, fresh);
        load()
    }
}
