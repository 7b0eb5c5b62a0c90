//! The caches and the state their feed keeps (with `sqlite`, `postgres` or `redis`).
//!
//! One [`Hub`] per database: one feed thread, one connection, one
//! generation, and a slot per cached kind (the blacklist's answers,
//! tokens, sessions, user rows) that its notifications name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CacheStats, Feed, FeedKind, InvalidationSettings, Watch};

/// What one slot's cache has done.
#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    invalidations: AtomicU64,
}

/// What a slot's cache drops when its feed says so.
trait Forget: Send + Sync {
    /// One key changed.
    fn forget(&self, key: &str);
    /// Anything may have changed.
    fn forget_all(&self);
}

impl<V: Clone + Send + Sync + 'static> Forget for moka::sync::Cache<Box<str>, V> {
    fn forget(&self, key: &str) {
        self.invalidate(key);
    }
    fn forget_all(&self) {
        self.invalidate_all();
    }
}

/// The slot's trigger has not been checked (since the feed connected).
const UNCHECKED: u8 = 0;
/// The slot may serve while the feed vouches.
const ARMED: u8 = 1;
/// The slot's table has no trigger that tells its changes: it never serves.
const MISSING: u8 = 2;

/// One cached kind on a feed: the prefix its notifications carry, the
/// trigger that must send them, and its cache.
pub(super) struct Slot {
    kind: &'static str,
    watch: Option<Watch>,
    state: AtomicU8,
    counters: Counters,
    forget: Box<dyn Forget>,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Slot {
    /// The table and trigger arguments the feed must find.
    pub(super) fn watch(&self) -> Option<&Watch> {
        self.watch.as_ref()
    }

    /// What the feed found of the slot's trigger: a slot whose trigger is
    /// gone stops serving and drops what it holds (it may have missed
    /// changes since); the generation keeps loads in flight out.
    pub(super) fn arm(&self, channel: &Channel, found: bool) {
        let was = self
            .state
            .swap(if found { ARMED } else { MISSING }, Ordering::SeqCst);
        if !found {
            channel.bump();
            self.forget.forget_all();
        }
        if !found
            && was != MISSING
            && let Some(w) = &self.watch
        {
            tracing::warn!(
                table = %w.table,
                "restflow-auth: this table has no `restflow_invalidate` trigger that tells its changes (run `Database::migrate` after the tables exist, Django's included); its rows are read from the database on every request"
            );
        }
    }

    fn armed(&self) -> bool {
        self.state.load(Ordering::Acquire) == ARMED
    }
}

/// The state a feed keeps and the caches read: until when it vouches, and
/// the generation every invalidation bumps.
pub(crate) struct Channel {
    base: Instant,
    /// Microseconds after `base`; 0 while the feed cannot vouch.
    trusted_until: AtomicU64,
    generation: AtomicU64,
    staleness: Duration,
    heartbeat: Duration,
    slots: Mutex<Vec<Arc<Slot>>>,
    flushes: AtomicU64,
    connects: AtomicU64,
}

impl Channel {
    fn new(s: &InvalidationSettings) -> Arc<Channel> {
        Arc::new(Channel {
            base: Instant::now(),
            trusted_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            staleness: Duration::from_millis(s.max_staleness_ms),
            heartbeat: Duration::from_millis(s.heartbeat_ms),
            slots: Mutex::new(Vec::new()),
            flushes: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        })
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether cached answers may serve now.
    fn trusted(&self) -> bool {
        let until = self.trusted_until.load(Ordering::Acquire);
        until != 0 && self.micros(Instant::now()) < until
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The slots whose trigger the feed has yet to check, and with `all`
    /// every slot that has a trigger to check.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(super) fn unchecked(&self, all: bool) -> Vec<Arc<Slot>> {
        let mut v = self.slots();
        v.retain(|s| s.watch.is_some() && (all || s.state.load(Ordering::Acquire) == UNCHECKED));
        v
    }

    /// A new connection: every trigger is checked again before its slot
    /// serves.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(super) fn recheck(&self) {
        for s in self.slots() {
            if s.watch.is_some() {
                s.state.store(UNCHECKED, Ordering::SeqCst);
            }
        }
    }

    /// The feed cannot vouch: stop serving and drop everything.
    pub(super) fn lose(&self) {
        self.trusted_until.store(0, Ordering::SeqCst);
        self.flush();
    }

    /// Drops every cached answer (loads in flight keep theirs to themselves).
    pub(super) fn flush(&self) {
        self.bump();
        for s in self.slots() {
            s.forget.forget_all();
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The feed proved itself with a probe sent at `sent`: every change
    /// committed before then has been heard. `first` after a (re)connect:
    /// loads that began before it may have read what was missed, and are
    /// kept out by a new generation.
    pub(super) fn vouch(&self, sent: Instant, first: bool) {
        if first {
            self.bump();
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        let until = self.micros(sent + self.staleness);
        self.trusted_until.fetch_max(until, Ordering::SeqCst);
    }

    /// A notification: `<kind>:<key>` invalidates one key of that kind's
    /// caches; anything else drops everything.
    #[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
    pub(super) fn message(&self, payload: &str) {
        let slots = self.slots();
        let Some((kind, key)) = payload.split_once(':') else {
            return self.flush();
        };
        self.bump();
        // A kind no slot of this process caches: nothing to drop.
        for s in slots.iter().filter(|s| s.kind == kind) {
            s.forget.forget(key);
            s.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// This process committed a change to `key` of `kind` (every key of
    /// it when `None`).
    pub(super) fn wrote(&self, kind: &str, key: Option<&str>) {
        self.bump();
        for s in self.slots().iter().filter(|s| s.kind == kind) {
            match key {
                Some(k) => s.forget.forget(k),
                None => s.forget.forget_all(),
            }
            s.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// How long a feed waits for its database (a connect, a heartbeat)
    /// before it gives the connection up: four staleness bounds, at
    /// least a second.
    pub(super) fn patience(&self) -> Duration {
        (self.staleness * 4).max(Duration::from_secs(1))
    }
}

/// A running feed and its slots: one per database. Its thread stops when
/// the last cache on it is dropped.
pub(crate) struct Hub {
    channel: Arc<Channel>,
    settings: InvalidationSettings,
    _running: Running,
}

/// The builder's hubs, by database: the stores of one database share one
/// feed.
pub(crate) struct Hubs {
    settings: InvalidationSettings,
    by_database: HashMap<usize, Arc<Hub>>,
}

impl Hubs {
    pub(crate) fn new(settings: &InvalidationSettings) -> Hubs {
        Hubs {
            settings: settings.clone(),
            by_database: HashMap::new(),
        }
    }

    /// The hub of `feed`'s database, started on first use.
    pub(crate) fn hub(&mut self, feed: &Feed) -> std::io::Result<Arc<Hub>> {
        if let Some(h) = self.by_database.get(&feed.database) {
            // Another store on the database: its writes tell the hub too.
            feed.local.register(&h.channel);
            return Ok(Arc::clone(h));
        }
        let h = Arc::new(start(feed, &self.settings)?);
        feed.local.register(&h.channel);
        self.by_database.insert(feed.database, Arc::clone(&h));
        Ok(h)
    }
}

impl Hub {
    fn slot(&self, kind: &'static str, watch: Option<Watch>, forget: Box<dyn Forget>) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            kind,
            state: AtomicU8::new(if watch.is_some() { UNCHECKED } else { ARMED }),
            watch,
            counters: Counters::default(),
            forget,
        });
        self.channel
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::clone(&slot));
        slot
    }

    fn build<V: Clone + Send + Sync + 'static>(&self) -> moka::sync::Cache<Box<str>, V> {
        moka::sync::Cache::builder()
            .max_capacity(self.settings.capacity)
            .time_to_live(Duration::from_secs(self.settings.ttl_s))
            .build()
    }

    /// A cache of yes-or-no answers of kind `kind` ("is any of these keys
    /// revoked?") for the store whose feed is `feed`.
    pub(crate) fn keys(self: &Arc<Self>, kind: &'static str, feed: &Feed) -> KeyCache {
        let entries = Entries {
            absent: self.build(),
            present: self.build(),
        };
        let slot = self.slot(kind, feed.watch.clone(), Box::new(entries.clone()));
        KeyCache {
            hub: Arc::clone(self),
            slot,
            entries,
        }
    }

    /// A cache of values of kind `kind` (a token's user, a session, a user
    /// row) for the store whose feed is `feed`.
    pub(crate) fn values<V: Clone + Send + Sync + 'static>(
        self: &Arc<Self>,
        kind: &'static str,
        feed: &Feed,
    ) -> ValueCache<V> {
        let entries = self.build::<V>();
        let slot = self.slot(kind, feed.watch.clone(), Box::new(entries.clone()));
        ValueCache {
            hub: Arc::clone(self),
            slot,
            entries,
        }
    }
}

/// A load in flight: the generation it began in, and whether the feed
/// vouched then.
pub(crate) struct Load {
    generation: u64,
    vouched: bool,
}

/// What one cache slot shares, whatever it holds.
struct Shared<'a> {
    hub: &'a Hub,
    slot: &'a Slot,
}

impl Shared<'_> {
    fn vouched(&self) -> bool {
        self.slot.armed() && self.hub.channel.trusted()
    }

    /// The generation before the trust check: an invalidation after it
    /// keeps this load's answer out.
    fn begin(&self) -> Load {
        let generation = self.hub.channel.generation();
        Load {
            generation,
            vouched: self.vouched(),
        }
    }

    fn count(&self, load: &Load) {
        let c = &self.slot.counters;
        let counter = if load.vouched { &c.misses } else { &c.bypassed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn hit(&self) {
        self.slot.counters.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether `load`'s answer may be kept now.
    fn keeps(&self, load: &Load) -> bool {
        load.vouched && self.vouched() && self.hub.channel.generation() == load.generation
    }

    /// An invalidation between [`keeps`](Self::keeps) and the insert
    /// bumped the generation before removing its key.
    fn overtaken(&self, load: &Load) -> bool {
        self.hub.channel.generation() != load.generation
    }

    fn wrote(&self) {
        self.hub.channel.bump();
        self.slot
            .counters
            .invalidations
            .fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> CacheStats {
        let c = &self.slot.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            bypassed: get(&c.bypassed),
            invalidations: get(&c.invalidations),
            flushes: get(&self.hub.channel.flushes),
            connects: get(&self.hub.channel.connects),
            trusted: self.vouched(),
        }
    }
}

/// The answers of one yes-or-no kind (handles: clones share them).
#[derive(Clone)]
struct Entries {
    /// Keys known absent (not revoked): served only while the feed vouches.
    absent: moka::sync::Cache<Box<str>, ()>,
    /// Keys known present (revoked): revocation does not reverse.
    present: moka::sync::Cache<Box<str>, ()>,
}

impl Forget for Entries {
    fn forget(&self, key: &str) {
        self.absent.invalidate(key);
        self.present.invalidate(key);
    }
    fn forget_all(&self) {
        // "Revoked" stays true whatever was missed.
        self.absent.invalidate_all();
    }
}

/// One kind of cached yes-or-no answer ("is any of these keys revoked?"),
/// shared by the async and the blocking path.
pub(crate) struct KeyCache {
    hub: Arc<Hub>,
    slot: Arc<Slot>,
    entries: Entries,
}

/// What a cache knows of a check.
pub(crate) enum Known {
    /// The answer, from memory.
    Answer(bool),
    /// Ask the store, then [`KeyCache::learn`] with this.
    Ask(Load),
}

impl KeyCache {
    fn shared(&self) -> Shared<'_> {
        Shared {
            hub: &self.hub,
            slot: &self.slot,
        }
    }

    /// Whether any of `keys` is revoked, if memory can tell.
    pub(crate) fn known(&self, keys: &[&str]) -> Known {
        let s = self.shared();
        let e = &self.entries;
        if keys.iter().any(|k| e.present.contains_key(*k)) {
            s.hit();
            return Known::Answer(true);
        }
        let load = s.begin();
        if load.vouched && keys.iter().all(|k| e.absent.contains_key(*k)) {
            s.hit();
            return Known::Answer(false);
        }
        s.count(&load);
        Known::Ask(load)
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
        let s = self.shared();
        if !s.keeps(&load) {
            return;
        }
        for key in keys {
            self.entries.absent.insert((*key).into(), ());
        }
        if s.overtaken(&load) {
            for key in keys {
                self.entries.absent.invalidate(*key);
            }
        }
    }

    /// This process revoked `key` (write-through): forget what is known.
    pub(crate) fn wrote(&self, key: &str) {
        self.shared().wrote();
        self.entries.forget(key);
    }

    /// What the cache and its feed have done.
    pub(crate) fn stats(&self) -> CacheStats {
        self.shared().stats()
    }
}

/// One kind of cached value (a token's user, a live session, a user row),
/// shared by the async and the blocking path. Only what exists is kept:
/// a flood of unknown keys costs the store, not the cache.
pub(crate) struct ValueCache<V> {
    hub: Arc<Hub>,
    slot: Arc<Slot>,
    entries: moka::sync::Cache<Box<str>, V>,
}

/// What a value cache holds for a key.
pub(crate) enum Cached<V> {
    /// The value, from memory.
    Hit(V),
    /// Ask the store, then [`ValueCache::learn`] with this.
    Miss(Load),
}

impl<V: Clone + Send + Sync + 'static> ValueCache<V> {
    fn shared(&self) -> Shared<'_> {
        Shared {
            hub: &self.hub,
            slot: &self.slot,
        }
    }

    /// The value under `key` if memory holds one that `fresh` accepts
    /// (a session not yet expired) and the feed vouches for it.
    pub(crate) fn get(&self, key: &str, fresh: impl Fn(&V) -> bool) -> Cached<V> {
        let s = self.shared();
        let load = s.begin();
        if load.vouched
            && let Some(v) = self.entries.get(key).filter(|v| fresh(v))
        {
            s.hit();
            return Cached::Hit(v);
        }
        s.count(&load);
        Cached::Miss(load)
    }

    /// What the store answered for `key` in `load`; kept if it exists,
    /// nothing was invalidated meanwhile and the feed still vouches.
    pub(crate) fn learn(&self, key: &str, load: Load, value: Option<&V>) {
        let s = self.shared();
        let Some(value) = value else { return };
        if !s.keeps(&load) {
            return;
        }
        self.entries.insert(key.into(), value.clone());
        if s.overtaken(&load) {
            self.entries.invalidate(key);
        }
    }

    /// What the cache and its feed have done.
    pub(crate) fn stats(&self) -> CacheStats {
        self.shared().stats()
    }
}

/// A running feed: its thread stops when this is dropped.
struct Running {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts `feed`'s thread and returns its hub.
fn start(feed: &Feed, settings: &InvalidationSettings) -> std::io::Result<Hub> {
    let channel = Channel::new(settings);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let build = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let mut runtime = build()?;
    let kind = feed.kind.clone();
    let worker = Arc::clone(&channel);
    std::thread::Builder::new()
        .name("restflow-invalidation".into())
        .spawn(move || {
            loop {
                // A panic in the feed (a driver's, on a payload it cannot
                // read) restarts it on a fresh runtime a second later; the
                // cache stops serving meanwhile.
                let life = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(async {
                        let kind = kind.clone();
                        let run = async {
                            match kind {
                                #[cfg(feature = "postgres")]
                                FeedKind::Postgres(options) => {
                                    keep(&worker, || super::postgres::listen(&worker, &options))
                                        .await
                                }
                                #[cfg(feature = "sqlite")]
                                FeedKind::Sqlite(options) => {
                                    keep(&worker, || super::sqlite::watch(&worker, &options)).await
                                }
                                #[cfg(feature = "redis")]
                                FeedKind::Redis(client) => {
                                    keep(&worker, || super::redis::listen(&worker, &client)).await
                                }
                            }
                        };
                        tokio::select! {
                            _ = &mut stopped => {}
                            () = run => {}
                        }
                    })
                }));
                worker.lose();
                if life.is_ok() {
                    return;
                }
                tracing::error!(
                    "restflow-auth: the invalidation feed panicked; it restarts in a second"
                );
                std::thread::sleep(Duration::from_secs(1));
                match build() {
                    Ok(r) => runtime = r,
                    Err(_) => return,
                }
            }
        })?;
    Ok(Hub {
        channel,
        settings: settings.clone(),
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
