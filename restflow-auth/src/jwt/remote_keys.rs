//! The key cache of an external issuer: a background thread (with its own
//! single-threaded runtime, so blocking services need none) fetches the JWK
//! set, keeps it, and refreshes it ahead of its expiry; requests only read
//! the cache, on either path.
//!
//! The HTTP client is reqwest with its default features off and rustls
//! (the ring provider, Mozilla's roots): redirects are not followed, every
//! request has `timeout_ms`, a body is read up to 1 MiB.
//!
//! | state | a request |
//! | --- | --- |
//! | fresh or within `stale_s` of expiry | verified against the cached keys |
//! | `kid` not cached | one refetch per `unknown_kid_cooldown_s`, the requests meanwhile wait for it (at most twice `timeout_ms`), then verified again |
//! | no keys, or stale for longer than `stale_s` | 503 (and a fetch, at most one per cooldown) |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use serde_json::Value;

use super::external::{ExternalJwtSettings, check_url};
use super::keys::{ConfigError, JwtKeys};
use super::keyset::KeySet;
use crate::error::AuthError;

/// The largest response read from the issuer.
const MAX_BODY: usize = 1024 * 1024;
/// The most keys one set may hold.
const MAX_KEYS: usize = 100;

/// Where the keys come from.
#[derive(Clone, Debug)]
pub(crate) enum Fetch {
    /// A JWK set URL.
    Jwks(reqwest::Url),
    /// OIDC discovery: the document whose `issuer` must be `issuer`, and
    /// whose `jwks_uri` is the set.
    Discovery { url: reqwest::Url, issuer: String },
}

/// One loaded key set.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) set: KeySet,
    /// The fetch that loaded it (its number, counted from 1).
    pub(crate) generation: u64,
}

/// The longest a request waits for a fetch it asked for.
const MAX_WAIT: Duration = Duration::from_secs(3);
/// The longest fetch error kept (it goes into logs).
const MAX_ERROR: usize = 300;

#[derive(Debug)]
struct Config {
    cache: Duration,
    min_cache: Duration,
    max_cache: Duration,
    cooldown: Duration,
    stale: Duration,
    timeout: Duration,
    algorithms: Vec<String>,
    allow_http: bool,
}

#[derive(Debug, Default)]
struct Snapshot {
    keys: Option<Arc<Keys>>,
    /// Until when the keys serve (their cache lifetime, then `stale_s`).
    usable_until: Option<Instant>,
    error: Option<Arc<str>>,
    /// The fetch this state is from (0 before the first has finished).
    generation: u64,
}

#[derive(Debug, Default)]
struct Generation {
    /// Fetches started.
    started: u64,
    /// Fetches finished, good or bad (they run one at a time, in order).
    count: u64,
    /// When a request last asked for a refetch, and the fetch (by
    /// number) that answers it.
    asked: Option<(Instant, u64)>,
    /// The fetch thread has stopped (it panicked): nothing to wait for.
    dead: bool,
}

#[derive(Debug, Default)]
struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    requested: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    snapshot: RwLock<Snapshot>,
    generation: Mutex<Generation>,
    /// Wakes blocking waiters after a fetch.
    fetched: Condvar,
    /// Wakes async waiters after a fetch.
    watch: tokio::sync::watch::Sender<u64>,
    counters: Counters,
}

/// The cached keys of an external issuer (see the [module](self)).
#[derive(Debug)]
pub struct RemoteKeys {
    shared: Arc<Shared>,
    /// Asks the thread for a fetch now; dropping it stops the thread.
    wake: tokio::sync::mpsc::Sender<()>,
}

/// What [`RemoteKeys::stats`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Fetches attempted (each a JWK set, after discovery when configured).
    pub fetches: u64,
    /// Fetches that failed (the issuer unreachable, a bad answer).
    pub failures: u64,
    /// Refetches requests asked for (an unknown `kid`, no keys).
    pub requested: u64,
    /// Keys held now.
    pub keys: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RemoteKeys {
    /// Starts the thread that fetches and refreshes the keys.
    pub(crate) fn start(
        source: Fetch,
        s: &ExternalJwtSettings,
        ca: Option<&[u8]>,
    ) -> Result<Self, ConfigError> {
        let config = Config {
            cache: Duration::from_secs(s.cache_s),
            min_cache: Duration::from_secs(s.min_cache_s),
            max_cache: Duration::from_secs(s.max_cache_s),
            cooldown: Duration::from_secs(s.unknown_kid_cooldown_s),
            stale: Duration::from_secs(s.stale_s),
            timeout: Duration::from_millis(s.timeout_ms),
            algorithms: s.algorithms.clone(),
            allow_http: s.allow_http,
        };
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("restflow-auth/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ConfigError {
                key: "external_jwt.ca_file",
                message: format!("not a PEM bundle of certificates: {e}"),
            })?;
            for cert in certs {
                client = client.add_root_certificate(cert);
            }
        }
        let client = client.build().map_err(|e| ConfigError {
            key: "external_jwt",
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        let (watch, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            snapshot: RwLock::new(Snapshot::default()),
            generation: Mutex::new(Generation::default()),
            fetched: Condvar::new(),
            watch,
            counters: Counters::default(),
        });
        let (wake, requests) = tokio::sync::mpsc::channel(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError {
                key: "external_jwt",
                message: format!("cannot start the key fetcher's runtime: {e}"),
            })?;
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("restflow-jwks".into())
            .spawn(move || runtime.block_on(run(worker, client, source, requests)))
            .map_err(|e| ConfigError {
                key: "external_jwt",
                message: format!("cannot start the key fetcher's thread: {e}"),
            })?;
        Ok(RemoteKeys { shared, wake })
    }

    /// The keys, if they may serve now; otherwise 503 (fail closed), with
    /// the generation of the state that said so (for [`ask`](Self::ask)).
    pub(crate) fn current(&self) -> Result<Arc<Keys>, (AuthError, u64)> {
        let snap = self
            .shared
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&snap.keys, snap.usable_until) {
            (Some(keys), Some(until)) if Instant::now() <= until => Ok(Arc::clone(keys)),
            _ => Err((
                AuthError::unavailable(format!(
                    "the external issuer's keys are not available: {}",
                    snap.error.as_deref().unwrap_or("not loaded yet")
                ))
                .with_retry_after(self.shared.config.cooldown.as_secs().max(1)),
                snap.generation,
            )),
        }
    }

    /// Asks for a refetch, for a request that found the keys of fetch
    /// `seen` lacking: the fetch (by number) to wait for, or `None` when
    /// there is nothing to wait for (the fetch asked for within the
    /// cooldown has finished, or the fetch thread is gone). A newer state
    /// than `seen` is answered at once (look again); the first ask of a
    /// cooldown wakes the thread, and every ask until that fetch finishes
    /// waits for the same one, which starts after the ask.
    pub(crate) fn ask(&self, seen: u64) -> Option<u64> {
        let mut g = lock(&self.shared.generation);
        if g.dead {
            return None;
        }
        if g.count > seen {
            return Some(g.count);
        }
        if g.count == 0 {
            // The first fetch runs already: wait for it, ask for nothing.
            return Some(1);
        }
        let now = Instant::now();
        if let Some((at, target)) = g.asked
            && now.duration_since(at) < self.shared.config.cooldown
        {
            return (g.count < target).then_some(target);
        }
        // The next fetch to start: after one running now, if any.
        let target = g.started + 1;
        g.asked = Some((now, target));
        drop(g);
        self.shared
            .counters
            .requested
            .fetch_add(1, Ordering::Relaxed);
        // Full: a wake is pending already, which starts the same fetch.
        let _ = self.wake.try_send(());
        Some(target)
    }

    /// The longest a request waits for a fetch (discovery, then the set).
    fn wait_bound(&self) -> Duration {
        (self.shared.config.timeout * 2 + Duration::from_millis(100)).min(MAX_WAIT)
    }

    /// Waits (bounded) until fetch `target` has finished.
    pub(crate) async fn wait_for(&self, target: u64) {
        let mut rx = self.shared.watch.subscribe();
        let _ = tokio::time::timeout(self.wait_bound(), rx.wait_for(|c| *c >= target)).await;
    }

    /// [`wait_for`](Self::wait_for) on the blocking path.
    pub(crate) fn wait_for_blocking(&self, target: u64) {
        let g = lock(&self.shared.generation);
        let _ = self
            .shared
            .fetched
            .wait_timeout_while(g, self.wait_bound(), |g| g.count < target && !g.dead);
    }

    /// Counters and the number of keys held.
    pub fn stats(&self) -> KeyStats {
        let c = &self.shared.counters;
        let keys = self
            .shared
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys
            .as_ref()
            .map_or(0, |k| k.set.len());
        KeyStats {
            fetches: c.fetches.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            requested: c.requested.load(Ordering::Relaxed),
            keys,
        }
    }

    /// The kids of the keys held now.
    pub fn kids(&self) -> Vec<String> {
        let snap = self
            .shared
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        snap.keys
            .as_ref()
            .map(|k| k.set.kids().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// Marks the fetch thread stopped when it ends, however it ends, and
/// wakes every waiter.
struct Stopped(Arc<Shared>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let count = {
            let mut g = lock(&self.0.generation);
            g.dead = true;
            g.count += 1;
            g.count
        };
        self.0.fetched.notify_all();
        self.0.watch.send_replace(count);
    }
}

fn truncated(mut e: String) -> Arc<str> {
    if e.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !e.is_char_boundary(end) {
            end -= 1;
        }
        e.truncate(end);
        e.push_str("...");
    }
    e.into()
}

/// The fetch loop: at once, then ahead of each expiry, on request, and
/// with a backoff after a failure; it ends when the [`RemoteKeys`] is
/// dropped. Each fetch runs as a task of its own, so a panic in it is a
/// failed fetch, not a dead thread.
async fn run(
    shared: Arc<Shared>,
    client: reqwest::Client,
    source: Fetch,
    mut requests: tokio::sync::mpsc::Receiver<()>,
) {
    let _stopped = Stopped(Arc::clone(&shared));
    let source = Arc::new(source);
    let mut next = tokio::time::Instant::now();
    let mut failures = 0u32;
    loop {
        tokio::select! {
            asked = requests.recv() => if asked.is_none() { return },
            () = tokio::time::sleep_until(next) => {}
        }
        let number = {
            let mut g = lock(&shared.generation);
            g.started += 1;
            g.started
        };
        shared.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let task = {
            let (client, source, shared) =
                (client.clone(), Arc::clone(&source), Arc::clone(&shared));
            tokio::spawn(async move { fetch(&client, &source, &shared.config).await })
        };
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(e) => Err(format!("the fetch failed: {e}")),
        };
        let now = Instant::now();
        let c = &shared.config;
        let wait = match outcome {
            Ok((members, max_age)) => {
                failures = 0;
                let ttl = max_age.unwrap_or(c.cache).clamp(c.min_cache, c.max_cache);
                let count = members.len();
                let set = KeySet::published(members).expect("a fetch yields one key or more");
                let mut snap = shared
                    .snapshot
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                snap.keys = Some(Arc::new(Keys {
                    set,
                    generation: number,
                }));
                // Both bounded by the settings' checks (a week each).
                snap.usable_until = now.checked_add(ttl + c.stale);
                snap.error = None;
                snap.generation = number;
                drop(snap);
                tracing::debug!(
                    keys = count,
                    ttl_s = ttl.as_secs(),
                    "external issuer keys loaded"
                );
                // Ahead of expiry: at 80% of the lifetime.
                (ttl / 5 * 4).max(Duration::from_secs(1))
            }
            Err(e) => {
                shared.counters.failures.fetch_add(1, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                let e = truncated(e);
                tracing::warn!(error = %e, "external issuer keys: fetch failed");
                let mut snap = shared
                    .snapshot
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                snap.error = Some(e);
                snap.generation = number;
                drop(snap);
                // 1 s, 2 s, 4 s, ... up to the cooldown.
                Duration::from_secs(1u64 << failures.min(16).saturating_sub(1)).min(c.cooldown)
            }
        };
        next = tokio::time::Instant::now() + wait;
        lock(&shared.generation).count = number;
        shared.fetched.notify_all();
        shared.watch.send_replace(number);
    }
}

/// GET `url`, the body read up to [`MAX_BODY`]; the `Cache-Control`
/// lifetime with it.
async fn get(
    client: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<(Vec<u8>, Option<Duration>), String> {
    let mut res = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("{url}: HTTP {}", res.status()));
    }
    let max_age = lifetime(res.headers());
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{url}: the answer is over {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

/// The lifetime `Cache-Control` gives (`max-age` less `Age`); zero for
/// `no-store` and `no-cache`.
fn lifetime(headers: &http::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',') {
            let d = directive.trim();
            if d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if let Some((name, v)) = d.split_once('=')
                && name.trim().eq_ignore_ascii_case("max-age")
            {
                let v = v.trim().trim_matches('"').parse::<u64>().ok()?;
                max_age = Some(max_age.map_or(v, |m: u64| m.min(v)));
            }
        }
    }
    let age = headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    max_age.map(|m| Duration::from_secs(m.saturating_sub(age)))
}

/// Discovery (when configured), then the key set.
async fn fetch(
    client: &reqwest::Client,
    source: &Fetch,
    c: &Config,
) -> Result<(Vec<(String, JwtKeys)>, Option<Duration>), String> {
    let jwks_url = match source {
        Fetch::Jwks(url) => url.clone(),
        Fetch::Discovery { url, issuer } => {
            let (body, _) = get(client, url).await?;
            let doc: Value =
                serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))?;
            // OIDC Discovery §4.3: the document's issuer is the one configured.
            if doc.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(format!(
                    "{url}: the document's issuer {} is not {issuer:?}",
                    doc.get("issuer").map_or("(none)".into(), Value::to_string)
                ));
            }
            let jwks = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{url}: no jwks_uri"))?;
            // Plain HTTP only as the document itself came (a loopback
            // issuer), or where allowed: an HTTPS document does not send
            // us to a plain-HTTP set, loopback or not.
            let allow_http = c.allow_http || url.scheme() == "http";
            let jwks =
                check_url("jwks_uri", jwks, allow_http).map_err(|e| format!("{url}: {e}"))?;
            if jwks.scheme() == "http" && !c.allow_http && url.scheme() != "http" {
                return Err(format!("{url}: jwks_uri {jwks} is plain HTTP"));
            }
            jwks
        }
    };
    let (body, max_age) = get(client, &jwks_url).await?;
    let members = parse_set(&body, &c.algorithms).map_err(|e| format!("{jwks_url}: {e}"))?;
    Ok((members, max_age))
}

/// The usable keys of a JWK set, each under its kid and pinned to one
/// algorithm; keys for encryption, of other types, or unreadable are left
/// out (and said why, in the log).
fn parse_set(body: &[u8], algorithms: &[String]) -> Result<Vec<(String, JwtKeys)>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK set: no \"keys\" array")?;
    if keys.len() > MAX_KEYS {
        return Err(format!(
            "{} keys: more than {MAX_KEYS} in one set",
            keys.len()
        ));
    }
    let mut members: Vec<(String, JwtKeys)> = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in keys.iter().enumerate() {
        let kid = raw.get("kid").and_then(Value::as_str).unwrap_or("");
        match member(raw, algorithms) {
            Ok(keys) if members.iter().any(|(k, _)| k == kid) => {
                let _ = keys;
                skipped.push(format!("key {i}: kid {kid:?} repeated"));
            }
            Ok(keys) => members.push((kid.to_owned(), keys)),
            Err(why) => skipped.push(format!("key {i} ({kid:?}): {why}")),
        }
    }
    if !skipped.is_empty() {
        tracing::debug!(skipped = ?skipped, "external issuer keys left out");
    }
    if members.is_empty() {
        return Err(format!("no usable signing key ({})", skipped.join("; ")));
    }
    // A kid-less key can verify only when it is the one key.
    if members.len() > 1 && members.iter().any(|(k, _)| k.is_empty()) {
        members.retain(|(k, _)| !k.is_empty());
    }
    Ok(members)
}

/// One key of a set: for signatures, of an accepted algorithm.
fn member(raw: &Value, algorithms: &[String]) -> Result<JwtKeys, String> {
    if let Some(u) = raw.get("use")
        && u != "sig"
    {
        return Err(format!("use {u} (not sig)"));
    }
    if let Some(ops) = raw.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "verify"))
    {
        return Err("key_ops without verify".into());
    }
    let kty = raw.get("kty").and_then(Value::as_str).unwrap_or("");
    if kty == "oct" {
        return Err("a shared secret (kty oct) is never accepted from a key set".into());
    }
    let alg = match raw.get("alg") {
        Some(Value::String(a)) => a.clone(),
        Some(other) => return Err(format!("alg {other} is not a string")),
        None => implied(raw, kty, algorithms)?,
    };
    if !algorithms.contains(&alg) {
        return Err(format!(
            "alg {alg} is not accepted (`external_jwt.algorithms`)"
        ));
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| format!("unreadable: {e}"))?;
    JwtKeys::from_public_jwk(&jwk, &alg)
}

/// The algorithm a key without `alg` is pinned to: its curve's, or for
/// RSA the first RSA algorithm accepted.
fn implied(raw: &Value, kty: &str, algorithms: &[String]) -> Result<String, String> {
    let crv = raw.get("crv").and_then(Value::as_str).unwrap_or("");
    match (kty, crv) {
        ("RSA", _) => algorithms
            .iter()
            .find(|a| a.starts_with("RS") || a.starts_with("PS"))
            .cloned()
            .ok_or_else(|| "an RSA key, and no RSA algorithm is accepted".into()),
        ("EC", "P-256") => Ok("ES256".into()),
        ("EC", "P-384") => Ok("ES384".into()),
        ("OKP", "Ed25519") => Ok("EdDSA".into()),
        _ => Err(format!("kty {kty:?} crv {crv:?} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_reads_max_age_less_age() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CACHE_CONTROL,
            "public, max-age=300".parse().unwrap(),
        );
        assert_eq!(lifetime(&h), Some(Duration::from_secs(300)));
        h.insert(http::header::AGE, "100".parse().unwrap());
        assert_eq!(lifetime(&h), Some(Duration::from_secs(200)));
        h.insert(http::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(lifetime(&h), Some(Duration::ZERO));
        h.insert(http::header::CACHE_CONTROL, "max-age=junk".parse().unwrap());
        assert_eq!(lifetime(&h), None);
        assert_eq!(lifetime(&http::HeaderMap::new()), None);
    }

    #[test]
    fn sets_refuse_secrets_and_foreign_keys() {
        let all: Vec<String> = ["RS256", "ES256", "EdDSA"].map(String::from).to_vec();
        let secret = br#"{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0","alg":"HS256"}]}"#;
        let e = parse_set(secret, &all).unwrap_err();
        assert!(e.contains("shared secret"), "{e}");
        let enc = br#"{"keys":[{"kty":"EC","kid":"e","use":"enc","crv":"P-256","x":"","y":""}]}"#;
        assert!(parse_set(enc, &all).unwrap_err().contains("not sig"));
        assert!(parse_set(b"{\"keys\":{}}", &all).is_err());
        assert!(parse_set(b"[]", &all).is_err());
        let many = format!("{{\"keys\":[{}]}}", vec!["{}"; MAX_KEYS + 1].join(","));
        assert!(
            parse_set(many.as_bytes(), &all)
                .unwrap_err()
                .contains("more than")
        );
    }
}
