//! The caches and the state their feed keeps (with `sqlite` or `postgres`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CacheStats, Feed, FeedKind, InvalidationSettings};

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    connects: AtomicU64,
}

/// The state a feed keeps and the caches read: until when it vouches, and
/// the generation every invalidation bumps.
pub(super) struct Channel {
    base: Instant,
    /// Microseconds after `base`; 0 while the feed cannot vouch.
    trusted_until: AtomicU64,
    generation: AtomicU64,
    staleness: Duration,
    heartbeat: Duration,
    caches: Mutex<Vec<(&'static str, Entries)>>,
    counters: Counters,
}

impl Channel {
    fn new(s: &InvalidationSettings) -> Arc<Channel> {
        Arc::new(Channel {
            base: Instant::now(),
            trusted_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            staleness: Duration::from_millis(s.max_staleness_ms),
            heartbeat: Duration::from_millis(s.heartbeat_ms),
            caches: Mutex::new(Vec::new()),
            counters: Counters::default(),
        })
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether cached "not revoked" answers may serve now.
    pub(crate) fn trusted(&self) -> bool {
        let until = self.trusted_until.load(Ordering::Acquire);
        until != 0 && self.micros(Instant::now()) < until
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn caches(&self) -> Vec<(&'static str, Entries)> {
        self.caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The feed cannot vouch: stop serving and drop everything.
    pub(crate) fn lose(&self) {
        self.trusted_until.store(0, Ordering::SeqCst);
        self.flush();
    }

    /// Drops every cached answer (loads in flight keep theirs to themselves).
    pub(crate) fn flush(&self) {
        self.bump();
        for (_, entries) in self.caches() {
            entries.absent.invalidate_all();
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The feed proved itself with a probe sent at `sent`: every change
    /// committed before then has been heard. `first` after a (re)connect:
    /// loads that began before it may have read what was missed, and are
    /// kept out by a new generation.
    pub(crate) fn vouch(&self, sent: Instant, first: bool) {
        if first {
            self.bump();
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
        }
        let until = self.micros(sent + self.staleness);
        self.trusted_until.fetch_max(until, Ordering::SeqCst);
    }

    /// A notification: `<kind>:<key>` invalidates one key of one cache;
    /// anything else drops everything.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn message(&self, payload: &str) {
        let caches = self.caches();
        let target = payload
            .split_once(':')
            .and_then(|(kind, key)| caches.iter().find(|(k, _)| *k == kind).map(|c| (c, key)));
        match target {
            Some(((_, entries), key)) => {
                self.bump();
                entries.invalidate(key);
                self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
            }
            None => self.flush(),
        }
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// How long a feed waits for its database (a connect, a heartbeat)
    /// before it gives the connection up: four staleness bounds, at
    /// least a second.
    pub(crate) fn patience(&self) -> Duration {
        (self.staleness * 4).max(Duration::from_secs(1))
    }
}

/// The answers of one kind (handles: clones share them).
#[derive(Clone)]
struct Entries {
    /// Keys known absent (not revoked): served only while the feed vouches.
    absent: moka::sync::Cache<Box<str>, ()>,
    /// Keys known present (revoked): revocation does not reverse.
    present: moka::sync::Cache<Box<str>, ()>,
}

impl Entries {
    fn invalidate(&self, key: &str) {
        self.absent.invalidate(key);
        self.present.invalidate(key);
    }
}

/// One kind of cached answer ("is any of these keys revoked?"), shared by
/// the async and the blocking path.
pub(crate) struct KeyCache {
    channel: Arc<Channel>,
    entries: Entries,
    _running: Running,
}

/// What a cache knows of a check.
pub(crate) enum Known {
    /// The answer, from memory.
    Answer(bool),
    /// Ask the store, then [`KeyCache::learn`] with this.
    Ask(Load),
}

/// A load in flight: the generation it began in, and whether the feed
/// vouched then.
pub(crate) struct Load {
    generation: u64,
    vouched: bool,
}

impl KeyCache {
    fn entries(s: &InvalidationSettings) -> Entries {
        let build = || {
            moka::sync::Cache::builder()
                .max_capacity(s.capacity)
                .time_to_live(Duration::from_secs(s.ttl_s))
                .build()
        };
        Entries {
            absent: build(),
            present: build(),
        }
    }

    /// Whether any of `keys` is revoked, if memory can tell.
    pub(crate) fn known(&self, keys: &[&str]) -> Known {
        let c = &self.channel.counters;
        let e = &self.entries;
        if keys.iter().any(|k| e.present.contains_key(*k)) {
            c.hits.fetch_add(1, Ordering::Relaxed);
            return Known::Answer(true);
        }
        // The generation before the trust check: an invalidation after it
        // keeps this load's answer out.
        let generation = self.channel.generation();
        let vouched = self.channel.trusted();
        if vouched && keys.iter().all(|k| e.absent.contains_key(*k)) {
            c.hits.fetch_add(1, Ordering::Relaxed);
            return Known::Answer(false);
        }
        let counter = if vouched { &c.misses } else { &c.bypassed };
        counter.fetch_add(1, Ordering::Relaxed);
        Known::Ask(Load {
            generation,
            vouched,
        })
    }

    /// What the store answered for `keys` in `load`: "none revoked" is
    /// kept if nothing was invalidated meanwhile and the feed still vouches.
    pub(crate) fn learn(&self, keys: &[&str], load: Load, revoked: bool) {
        if revoked {
            if let [key] = keys {
                self.entries.present.insert((*key).into(), ());
            }
            return;
        }
        if !load.vouched || !self.channel.trusted() || self.channel.generation() != load.generation
        {
            return;
        }
        for key in keys {
            self.entries.absent.insert((*key).into(), ());
        }
        // An invalidation between the check above and the inserts bumped
        // the generation before removing its key: take ours out again.
        if self.channel.generation() != load.generation {
            for key in keys {
                self.entries.absent.invalidate(*key);
            }
        }
    }

    /// This process revoked `key` (write-through): forget what is known.
    pub(crate) fn wrote(&self, key: &str) {
        self.channel.bump();
        self.entries.invalidate(key);
        self.channel
            .counters
            .invalidations
            .fetch_add(1, Ordering::Relaxed);
    }

    /// What the cache's feed and caches have done.
    pub(crate) fn stats(&self) -> CacheStats {
        self.channel.stats()
    }
}

impl Channel {
    fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            bypassed: get(&c.bypassed),
            invalidations: get(&c.invalidations),
            flushes: get(&c.flushes),
            connects: get(&c.connects),
            trusted: self.trusted(),
        }
    }
}

/// A running feed: its thread stops when this is dropped.
struct Running {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts `feed`'s thread and returns a cache of kind `kind` (the
/// prefix of its notifications) fed by it; the thread stops when the
/// cache is dropped.
pub(crate) fn start(
    feed: &Feed,
    kind: &'static str,
    settings: &InvalidationSettings,
) -> std::io::Result<KeyCache> {
    let channel = Channel::new(settings);
    let entries = KeyCache::entries(settings);
    channel
        .caches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((kind, entries.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let feed = feed.clone();
    let worker = Arc::clone(&channel);
    std::thread::Builder::new()
        .name("restflow-invalidation".into())
        .spawn(move || {
            runtime.block_on(async move {
                let run = async {
                    match feed.kind {
                        #[cfg(feature = "postgres")]
                        FeedKind::Postgres(options) => {
                            keep(&worker, || super::postgres::listen(&worker, &options)).await
                        }
                        #[cfg(feature = "sqlite")]
                        FeedKind::Sqlite(options) => {
                            keep(&worker, || super::sqlite::watch(&worker, &options)).await
                        }
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = run => {}
                }
                worker.lose();
            });
        })?;
    Ok(KeyCache {
        channel,
        entries,
        _running: Running { _stop: stop },
    })
}

/// Keeps a feed going: `life` (one connection, until it fails) again and
/// again, the cache dropped before each, waiting 50 ms doubling to 2 s
/// between failures in a row (a life of ten seconds or more starts the
/// count again).
async fn keep<F, Fut>(channel: &Channel, mut life: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut failures = 0u32;
    loop {
        channel.lose();
        let began = Instant::now();
        if let Err(e) = life().await {
            tracing::warn!(error = %e, "restflow-auth: the invalidation feed lost its database; cached revocation state dropped until it is back");
        }
        if began.elapsed() >= Duration::from_secs(10) {
            failures = 0;
        }
        let wait = Duration::from_millis(50u64 << failures.min(6)).min(Duration::from_secs(2));
        failures = failures.saturating_add(1);
        tokio::time::sleep(wait).await;
    }
}
