//! DRF's throttling: `AnonRateThrottle`, `UserRateThrottle`,
//! `ScopedRateThrottle` and your own [`Throttle`]s, run after
//! authentication and permissions.
//!
//! ```
//! # #![allow(dead_code)]
//! use restflow_auth::prelude::*;
//! # #[derive(Clone, Debug, AuthUser)]
//! # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
//! #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
//! #   #[auth_user(is_staff)] staff: bool }
//! # #[derive(Default)] struct Header;
//! # #[restflow_auth::authenticator]
//! # impl Authenticator<User> for Header {
//! #     async fn authenticate(&self, _: &Request<'_>, _: &Context<User>) -> Outcome<User> { Ok(None) }
//! # }
//! #[authenticate(Header)]
//! #[permissions(AllowAny)]
//! #[throttle(AnonRateThrottle, UserRateThrottle)]
//! async fn search(user: MaybeUser<User>) -> String {
//!     user.username().to_owned()
//! }
//! ```
//!
//! DRF's semantics, exactly:
//!
//! - every throttle of the list is evaluated, each recording the request
//!   only when it lets it through (DRF's sliding log: the timestamps of the
//!   requests of the last period; a refused request is not recorded);
//! - a refusal is 429 `{"detail": "Request was throttled. Expected available
//!   in N seconds."}` (N rounded up, `1 second.`) with `Retry-After: N`, N
//!   the longest wait of the refusing throttles;
//! - rates are `N/period`, where only the period's first letter counts (`s`,
//!   `m`, `h`, `d`: `5/min`, `100/day`), plus a multiple DRF refuses:
//!   `5/10m` is 5 per 10 minutes;
//! - anonymous clients are told apart by [`client_ident`]: DRF's
//!   `get_ident` with `throttle.num_proxies` (DRF's `NUM_PROXIES`), and
//!   with `throttle.trusted_proxies` set, `X-Forwarded-For` is read only
//!   when the peer is one of them, so a client cannot pick its own identity.
//!
//! Rates come from `config!` (`throttle_rates: { anon: "3/min" }`, checked
//! at compile time) and `[throttle] rates` in the settings, which win. The
//! counters live in a [`ThrottleStore`]: [`MemoryThrottleStore`] (the
//! default) or `RedisThrottleStore` (feature `redis`), where one atomic
//! script keeps concurrent requests from exceeding the rate. When the store
//! cannot answer, `throttle.on_store_error` decides: `"refuse"` (503, the
//! default) or `"allow"`.

mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::memory::MemoryThrottleStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisThrottleStore;
use crate::context::Context;
use crate::error::{AuthError, Rejection};
use crate::request::Request;
use crate::user::{AuthUser, RequestUser, UserId};

/// A rate: `num` requests per `duration_s` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in one period.
    pub num: u64,
    /// The period, seconds.
    pub duration_s: u64,
}

impl Rate {
    /// Parses `N/period`: the period's first letter (`s`, `m`, `h`, `d`) as
    /// DRF reads it (`3/min`, `1000/day`), or a count before it (`5/10m`).
    ///
    /// ```
    /// use restflow_auth::throttle::Rate;
    /// assert_eq!(Rate::parse("3/min").unwrap(), Rate { num: 3, duration_s: 60 });
    /// assert_eq!(Rate::parse("5/10m").unwrap(), Rate { num: 5, duration_s: 600 });
    /// assert_eq!(Rate::parse("100/day").unwrap(), Rate { num: 100, duration_s: 86400 });
    /// assert!(Rate::parse("5/fortnight").is_err());
    /// assert!(Rate::parse("five/min").is_err());
    /// ```
    pub fn parse(rate: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "`{rate}` is not a rate such as `100/day`, `3/min` or `5/10m` (period s, m, h or d)"
            )
        };
        let (num, period) = rate.split_once('/').ok_or_else(bad)?;
        let num: u64 = num.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let digits = period.bytes().take_while(u8::is_ascii_digit).count();
        let count: u64 = if digits == 0 {
            1
        } else {
            period[..digits].parse().map_err(|_| bad())?
        };
        let unit = match period.as_bytes().get(digits) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86400,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(Rate {
            num,
            duration_s: count.checked_mul(unit).ok_or_else(bad)?,
        })
    }
}

/// What a throttle decides about one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// It may go on.
    Allow,
    /// It is refused; the recommended wait in seconds (DRF's `wait()`),
    /// when there is one.
    Refuse(Option<f64>),
}

/// Answers a [`ThrottleStore`] gives: whether the request was recorded and
/// the state of the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The request was let through (and recorded).
    pub allowed: bool,
    /// The number of requests in the log after this one.
    pub len: u64,
    /// The oldest request still in the log, seconds since the epoch.
    pub oldest: Option<f64>,
    /// The time the store used, seconds since the epoch.
    pub now: f64,
}

impl Hit {
    /// DRF's `wait()` after a refusal.
    pub fn wait(&self, rate: Rate) -> Option<f64> {
        let duration = rate.duration_s as f64;
        let remaining = match self.oldest {
            Some(oldest) => duration - (self.now - oldest),
            None => duration,
        };
        let available = rate.num as i128 - self.len as i128 + 1;
        (available > 0).then(|| remaining / available as f64)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the logs live. [`hit`](ThrottleStore::hit) is DRF's
/// `allow_request` on one key, made atomic: drop the entries older than the
/// period, refuse when `rate.num` remain, else record `now`.
pub trait ThrottleStore: Send + Sync + 'static {
    /// One request on `key`.
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<Hit, AuthError>>;
    /// Blocking twin of [`hit`](ThrottleStore::hit).
    fn hit_blocking(&self, key: &str, rate: Rate) -> Result<Hit, AuthError>;
}

/// What a throttle decides when the store cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// 503: the request fails closed.
    Refuse,
    /// Let it through (and log the failure).
    Allow,
}

/// `[throttle]`: rates, client identity, and the store's failure mode.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Rates by scope (`anon`, `user`, or a `ScopedRateThrottle` scope);
    /// they win over `config!`'s `throttle_rates`.
    pub rates: BTreeMap<String, String>,
    /// DRF's `NUM_PROXIES`: how many proxies append to `X-Forwarded-For`
    /// (`0`: ignore it). Unset: DRF's default, the whole header.
    pub num_proxies: Option<usize>,
    /// When set, `X-Forwarded-For` is read only from these peers.
    pub trusted_proxies: crate::net::Networks,
    /// What a throttle does when its store cannot answer.
    pub on_store_error: OnStoreError,
    /// The most keys the in-memory store keeps (older ones go first).
    pub max_keys: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            rates: BTreeMap::new(),
            num_proxies: None,
            trusted_proxies: crate::net::Networks::new(),
            on_store_error: OnStoreError::Refuse,
            max_keys: 100_000,
        }
    }
}

impl ThrottleSettings {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), crate::settings::Error> {
        for (scope, rate) in &self.rates {
            Rate::parse(rate).map_err(|message| crate::settings::Error::Invalid {
                key: "throttle.rates",
                message: format!("{scope}: {message}"),
            })?;
        }
        if self.max_keys == 0 {
            return Err(crate::settings::Error::Invalid {
                key: "throttle.max_keys",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The rates a crate's `config!` declares (collected at startup).
#[doc(hidden)]
#[derive(Debug)]
pub struct ProjectRates {
    /// `(scope, rate)` pairs, checked at compile time.
    pub rates: &'static [(&'static str, &'static str)],
}

inventory::collect!(ProjectRates);

/// The throttling configuration of an [`Auth`](crate::Auth): the rates and
/// the store, built at startup.
#[derive(Clone)]
pub struct Throttling {
    rates: HashMap<String, Rate>,
    store: Arc<dyn ThrottleStore>,
    settings: ThrottleSettings,
}

impl fmt::Debug for Throttling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttling")
            .field("rates", &self.rates)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The throttle store an application gives the builder (`.throttle_store(..)`).
pub(crate) struct Store(pub(crate) Arc<dyn ThrottleStore>);

impl crate::context::Component for Throttling {
    fn build(
        settings: &crate::settings::Settings,
        stores: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        let invalid = |message: String| {
            crate::context::BuildError::Settings(crate::settings::Error::Invalid {
                key: "throttle.rates",
                message,
            })
        };
        let mut rates = HashMap::new();
        for declared in inventory::iter::<ProjectRates> {
            for (scope, rate) in declared.rates {
                let rate = Rate::parse(rate).map_err(&invalid)?;
                if rates
                    .insert((*scope).to_owned(), rate)
                    .is_some_and(|old| old != rate)
                {
                    return Err(invalid(format!(
                        "two `config!` declare different rates for `{scope}`"
                    )));
                }
            }
        }
        for (scope, rate) in &settings.throttle.rates {
            rates.insert(scope.clone(), Rate::parse(rate).map_err(&invalid)?);
        }
        let store = match crate::context::take::<Store>(stores) {
            Some(s) => s.0,
            None => Arc::new(MemoryThrottleStore::new(settings.throttle.max_keys)),
        };
        Ok(Some(Throttling {
            rates,
            store,
            settings: settings.throttle.clone(),
        }))
    }
}

impl Throttling {
    /// The rate of `scope`, if one is configured.
    pub fn rate(&self, scope: &str) -> Option<Rate> {
        self.rates.get(scope).copied()
    }

    /// The store.
    pub fn store(&self) -> &dyn ThrottleStore {
        &*self.store
    }

    /// The settings in force.
    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    fn decide(&self, hit: Result<Hit, AuthError>, rate: Rate) -> Result<Decision, AuthError> {
        match hit {
            Ok(h) if h.allowed => Ok(Decision::Allow),
            Ok(h) => Ok(Decision::Refuse(h.wait(rate))),
            Err(e) => match self.settings.on_store_error {
                OnStoreError::Refuse => Err(e),
                OnStoreError::Allow => {
                    tracing::warn!(
                        cause = e.cause().unwrap_or(""),
                        "restflow-auth: the throttle store failed; the request is let through (throttle.on_store_error = \"allow\")"
                    );
                    Ok(Decision::Allow)
                }
            },
        }
    }

    /// DRF's `SimpleRateThrottle.allow_request` on `key` with the rate of `scope`.
    pub async fn check(&self, scope: &str, key: &str) -> Result<Decision, AuthError> {
        let rate = self.require(scope)?;
        self.decide(
            crate::telemetry::store("throttle", "hit", self.store.hit(key, rate)).await,
            rate,
        )
    }

    /// Blocking twin of [`check`](Throttling::check).
    pub fn check_blocking(&self, scope: &str, key: &str) -> Result<Decision, AuthError> {
        let rate = self.require(scope)?;
        self.decide(
            crate::telemetry::store_blocking("throttle", "hit", || {
                self.store.hit_blocking(key, rate)
            }),
            rate,
        )
    }

    fn require(&self, scope: &str) -> Result<Rate, AuthError> {
        self.rate(scope).ok_or_else(|| {
            AuthError::internal(format!(
                "no throttle rate for scope `{scope}`: add it to `config!`'s `throttle_rates` or to `[throttle] rates`"
            ))
        })
    }
}

/// The throttling of a context (always built).
pub(crate) fn throttling<U: AuthUser>(ctx: &Context<U>) -> Result<&Throttling, AuthError> {
    ctx.store::<Throttling>()
        .ok_or_else(|| AuthError::internal("throttling is not configured"))
}

/// DRF's `get_ident`: the client's address, from `X-Forwarded-For` by
/// `throttle.num_proxies`, else the peer address. With
/// `throttle.trusted_proxies` set, `X-Forwarded-For` counts only when the
/// peer is a trusted proxy.
///
/// ```
/// use restflow_auth::Request;
/// use restflow_auth::net::PeerAddr;
/// use restflow_auth::throttle::{ThrottleSettings, client_ident};
///
/// let (mut parts, ()) = http::Request::builder()
///     .header("x-forwarded-for", "203.0.113.9, 10.0.0.2")
///     .body(())
///     .unwrap()
///     .into_parts();
/// parts.extensions.insert(PeerAddr("10.0.0.1:4000".parse().unwrap()));
/// let req = Request::new(&parts);
/// let mut s = ThrottleSettings::default();
/// assert_eq!(client_ident(&req, &s), "203.0.113.9,10.0.0.2"); // DRF's default
/// s.num_proxies = Some(1);
/// assert_eq!(client_ident(&req, &s), "10.0.0.2");
/// s.num_proxies = Some(2);
/// assert_eq!(client_ident(&req, &s), "203.0.113.9");
/// s.trusted_proxies = serde_json::from_str(r#"["192.168.0.0/16"]"#).unwrap();
/// assert_eq!(client_ident(&req, &s), "10.0.0.1"); // the peer is not trusted
/// ```
pub fn client_ident(req: &Request<'_>, s: &ThrottleSettings) -> String {
    let remote = req
        .peer_ip()
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let trusted_peer = s.trusted_proxies.is_empty()
        || req
            .peer_ip()
            .is_some_and(|ip| s.trusted_proxies.contains(ip));
    let xff = req.meta("x-forwarded-for").filter(|_| trusted_peer);
    match (s.num_proxies, xff) {
        (Some(0), _) | (_, None) => remote,
        (Some(n), Some(xff)) => {
            let addrs: Vec<&str> = xff.split(',').collect();
            addrs[addrs.len() - n.min(addrs.len())].trim().to_owned()
        }
        (None, Some(xff)) => xff.split_whitespace().collect(),
    }
}

/// What a throttle may read of the view: its scope (DRF's `throttle_scope`).
#[derive(Clone, Copy, Debug)]
pub struct View<'a, U: AuthUser> {
    /// The context.
    pub ctx: &'a Context<U>,
    /// The handler's scope, for `ScopedRateThrottle`.
    pub scope: Option<&'static str>,
}

/// A throttle (DRF's `BaseThrottle`). Types are constructed with
/// [`Default`] for each request.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a throttle for user model `{U}`",
    label = "not a `Throttle<{U}>`",
    note = "use `AnonRateThrottle`, `UserRateThrottle`, `ScopedRateThrottle`, or implement `restflow_auth::throttle::Throttle<{U}>`"
)]
pub trait Throttle<U: AuthUser>: Default + Send + Sync + 'static {
    /// DRF's `allow_request` and `wait` in one answer.
    fn allow_request(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> impl Future<Output = Result<Decision, AuthError>> + Send;

    /// Blocking twin of [`allow_request`](Throttle::allow_request).
    fn allow_request_blocking(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError>;

    /// The scope whose rate this throttle reads on a view with `scope`
    /// (checked at startup: a scope without a rate fails `build()`).
    fn rate_scope(scope: Option<&'static str>) -> Option<&'static str> {
        let _ = scope;
        None
    }
}

/// The key of a `SimpleRateThrottle`: `throttle_<scope>_<ident>`.
fn key(scope: &str, ident: &str) -> String {
    format!("throttle_{scope}_{ident}")
}

fn user_or_ident<U: AuthUser>(
    req: &Request<'_>,
    user: &RequestUser<U>,
    ctx: &Context<U>,
) -> String {
    match user.user() {
        Some(u) => match u.id().to_json() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        None => client_ident(req, &ctx.settings().throttle),
    }
}

/// A `SimpleRateThrottle` step: nothing to do without a `(scope, key)`.
async fn rate_step<U: AuthUser>(
    view: &View<'_, U>,
    target: Option<(&str, String)>,
) -> Result<Decision, AuthError> {
    match target {
        Some((scope, key)) => throttling(view.ctx)?.check(scope, &key).await,
        None => Ok(Decision::Allow),
    }
}

fn rate_step_blocking<U: AuthUser>(
    view: &View<'_, U>,
    target: Option<(&str, String)>,
) -> Result<Decision, AuthError> {
    match target {
        Some((scope, key)) => throttling(view.ctx)?.check_blocking(scope, &key),
        None => Ok(Decision::Allow),
    }
}

/// DRF's `AnonRateThrottle`: anonymous requests, by client address, at
/// the `anon` rate; authenticated requests are not throttled.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnonRateThrottle;

impl AnonRateThrottle {
    fn target<U: AuthUser>(
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Option<(&'static str, String)> {
        (!user.is_authenticated()).then(|| {
            (
                "anon",
                key("anon", &client_ident(req, &view.ctx.settings().throttle)),
            )
        })
    }
}

impl<U: AuthUser> Throttle<U> for AnonRateThrottle {
    fn rate_scope(_: Option<&'static str>) -> Option<&'static str> {
        Some("anon")
    }

    async fn allow_request(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step(view, Self::target(req, user, view)).await
    }
    fn allow_request_blocking(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step_blocking(view, Self::target(req, user, view))
    }
}

/// DRF's `UserRateThrottle`: by user id, or by client address for
/// anonymous requests, at the `user` rate.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserRateThrottle;

impl UserRateThrottle {
    fn target<U: AuthUser>(
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Option<(&'static str, String)> {
        Some(("user", key("user", &user_or_ident(req, user, view.ctx))))
    }
}

impl<U: AuthUser> Throttle<U> for UserRateThrottle {
    fn rate_scope(_: Option<&'static str>) -> Option<&'static str> {
        Some("user")
    }

    async fn allow_request(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step(view, Self::target(req, user, view)).await
    }
    fn allow_request_blocking(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step_blocking(view, Self::target(req, user, view))
    }
}

/// DRF's `ScopedRateThrottle`: by user id (or client address) and the
/// handler's scope (`#[throttle(ScopedRateThrottle, scope = "uploads")]`),
/// at that scope's rate; a handler without a scope is not throttled.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScopedRateThrottle;

impl ScopedRateThrottle {
    fn target<U: AuthUser>(
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Option<(&'static str, String)> {
        view.scope
            .map(|scope| (scope, key(scope, &user_or_ident(req, user, view.ctx))))
    }
}

impl<U: AuthUser> Throttle<U> for ScopedRateThrottle {
    fn rate_scope(scope: Option<&'static str>) -> Option<&'static str> {
        scope
    }

    async fn allow_request(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step(view, Self::target(req, user, view)).await
    }
    fn allow_request_blocking(
        &self,
        req: &Request<'_>,
        user: &RequestUser<U>,
        view: &View<'_, U>,
    ) -> Result<Decision, AuthError> {
        rate_step_blocking(view, Self::target(req, user, view))
    }
}

/// A list of throttles, all evaluated: a tuple of [`Throttle`] types, `()`
/// for none.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of throttles for `{U}`",
    note = "a throttle list is a tuple of types that implement `Throttle<{U}>`, such as `(AnonRateThrottle, UserRateThrottle)`, or `()`"
)]
pub trait ThrottleSet<U: AuthUser>: Send + Sync + 'static {
    /// The scope `ScopedRateThrottle` reads.
    const SCOPE: Option<&'static str> = None;
    /// Whether the list is empty (nothing to run).
    const EMPTY: bool = false;

    /// Every throttle, in order: `Ok(None)` to go on, `Ok(Some(wait))` to
    /// refuse with the longest wait of the refusing throttles.
    fn check(
        req: &Request<'_>,
        user: &RequestUser<U>,
        ctx: &Context<U>,
    ) -> impl Future<Output = Result<Option<Option<f64>>, AuthError>> + Send;

    /// Blocking twin of [`check`](ThrottleSet::check).
    fn check_blocking(
        req: &Request<'_>,
        user: &RequestUser<U>,
        ctx: &Context<U>,
    ) -> Result<Option<Option<f64>>, AuthError>;

    /// The rates the list reads that `ctx` lacks.
    fn missing(ctx: &Context<U>) -> Vec<String>;
}

/// The problem of a throttle whose scope has no rate.
pub(crate) fn missing_rate<U: AuthUser>(
    ctx: &Context<U>,
    throttle: &str,
    scope: Option<&'static str>,
) -> Option<String> {
    let scope = scope?;
    let known = ctx
        .store::<Throttling>()
        .is_some_and(|t| t.rate(scope).is_some());
    (!known).then(|| {
        format!("`{throttle}` needs a rate for scope `{scope}`: add it to `config!`'s `throttle_rates` or to `[throttle] rates`")
    })
}

impl<U: AuthUser> ThrottleSet<U> for () {
    const EMPTY: bool = true;
    fn missing(_: &Context<U>) -> Vec<String> {
        Vec::new()
    }
    async fn check(
        _: &Request<'_>,
        _: &RequestUser<U>,
        _: &Context<U>,
    ) -> Result<Option<Option<f64>>, AuthError> {
        Ok(None)
    }
    fn check_blocking(
        _: &Request<'_>,
        _: &RequestUser<U>,
        _: &Context<U>,
    ) -> Result<Option<Option<f64>>, AuthError> {
        Ok(None)
    }
}

/// The refusals of a list: `None` when every throttle allowed, else the
/// longest of the waits that exist (DRF's `max(durations, default=None)`).
fn fold(refused: bool, waits: &[Option<f64>]) -> Option<Option<f64>> {
    refused.then(|| waits.iter().flatten().copied().reduce(f64::max))
}

macro_rules! throttle_tuple {
    ($($t:ident),+) => {
        impl<U: AuthUser, $($t: Throttle<U>),+> ThrottleSet<U> for ($($t,)+) {
            fn missing(ctx: &Context<U>) -> Vec<String> {
                Scoped::<($($t,)+), NoScope>::missing(ctx)
            }
            async fn check(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Result<Option<Option<f64>>, AuthError> {
                Scoped::<($($t,)+), NoScope>::check(req, user, ctx).await
            }
            fn check_blocking(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Result<Option<Option<f64>>, AuthError> {
                Scoped::<($($t,)+), NoScope>::check_blocking(req, user, ctx)
            }
        }

        impl<U: AuthUser, S: ThrottleScope, $($t: Throttle<U>),+> ThrottleSet<U> for Scoped<($($t,)+), S> {
            const SCOPE: Option<&'static str> = S::SCOPE;
            fn missing(ctx: &Context<U>) -> Vec<String> {
                [$(missing_rate(ctx, short(std::any::type_name::<$t>()), $t::rate_scope(S::SCOPE))),+]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            async fn check(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Result<Option<Option<f64>>, AuthError> {
                let view = View { ctx, scope: S::SCOPE };
                let (mut refused, mut waits) = (false, Vec::new());
                $(
                    if let Decision::Refuse(w) = $t::default().allow_request(req, user, &view).await? {
                        refused = true;
                        waits.push(w);
                    }
                )+
                Ok(fold(refused, &waits))
            }
            fn check_blocking(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Result<Option<Option<f64>>, AuthError> {
                let view = View { ctx, scope: S::SCOPE };
                let (mut refused, mut waits) = (false, Vec::new());
                $(
                    if let Decision::Refuse(w) = $t::default().allow_request_blocking(req, user, &view)? {
                        refused = true;
                        waits.push(w);
                    }
                )+
                Ok(fold(refused, &waits))
            }
        }
    };
}

/// The last segment of a type's name.
pub(crate) fn short(name: &'static str) -> &'static str {
    name.rsplit("::").next().unwrap_or(name)
}

/// A throttle list with the scope `ScopedRateThrottle` reads (what
/// `#[throttle(.., scope = "uploads")]` writes).
///
/// ```
/// # #![allow(dead_code)]
/// use restflow_auth::throttle::{Scoped, ScopedRateThrottle, ThrottleScope};
/// struct Uploads;
/// impl ThrottleScope for Uploads {
///     const SCOPE: Option<&'static str> = Some("uploads");
/// }
/// type UploadThrottles = Scoped<(ScopedRateThrottle,), Uploads>;
/// ```
pub struct Scoped<T, S>(std::marker::PhantomData<fn() -> (T, S)>);

impl<T, S> fmt::Debug for Scoped<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scoped")
    }
}

/// A scope name for [`Scoped`].
pub trait ThrottleScope: Send + Sync + 'static {
    /// The scope (DRF's `throttle_scope`).
    const SCOPE: Option<&'static str>;
}

/// No scope.
#[derive(Debug)]
pub struct NoScope;

impl ThrottleScope for NoScope {
    const SCOPE: Option<&'static str> = None;
}

throttle_tuple!(A);
throttle_tuple!(A, B);
throttle_tuple!(A, B, C);
throttle_tuple!(A, B, C, D);

/// The project's default throttles, as `config!`'s `throttles: [..]`
/// declares them (DRF's `DEFAULT_THROTTLE_CLASSES`): what a handler
/// without `#[throttle(..)]`, a bare `#[throttle]`, a [`Guard`](crate::extract::Guard)
/// and a [`PolicyLayer`](crate::layer::PolicyLayer) run. Without a
/// `config!` that declares some, none.
#[derive(Debug)]
pub struct ProjectThrottles;

type Verdict = Result<Option<Option<f64>>, AuthError>;
type ErasedCheck = for<'a> fn(
    &'a Request<'a>,
    &'a (dyn std::any::Any + Send + Sync),
    &'a (dyn std::any::Any + Send + Sync),
) -> BoxFuture<'a, Verdict>;
type ErasedCheckBlocking = for<'a> fn(
    &'a Request<'a>,
    &'a (dyn std::any::Any + Send + Sync),
    &'a (dyn std::any::Any + Send + Sync),
) -> Verdict;

/// A crate's default throttles for one user model, as `config!` registers
/// them.
#[doc(hidden)]
pub struct DefaultThrottles {
    user: fn() -> std::any::TypeId,
    check: ErasedCheck,
    check_blocking: ErasedCheckBlocking,
    missing: fn(&(dyn std::any::Any + Send + Sync)) -> Vec<String>,
}

impl fmt::Debug for DefaultThrottles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultThrottles")
    }
}

fn erased<'a, U: AuthUser, T: ThrottleSet<U>>(
    req: &'a Request<'a>,
    user: &'a (dyn std::any::Any + Send + Sync),
    ctx: &'a (dyn std::any::Any + Send + Sync),
) -> BoxFuture<'a, Verdict> {
    match (
        user.downcast_ref::<RequestUser<U>>(),
        ctx.downcast_ref::<Context<U>>(),
    ) {
        (Some(user), Some(ctx)) => Box::pin(T::check(req, user, ctx)),
        _ => Box::pin(std::future::ready(Ok(None))),
    }
}

fn erased_blocking<'a, U: AuthUser, T: ThrottleSet<U>>(
    req: &'a Request<'a>,
    user: &'a (dyn std::any::Any + Send + Sync),
    ctx: &'a (dyn std::any::Any + Send + Sync),
) -> Verdict {
    match (
        user.downcast_ref::<RequestUser<U>>(),
        ctx.downcast_ref::<Context<U>>(),
    ) {
        (Some(user), Some(ctx)) => T::check_blocking(req, user, ctx),
        _ => Ok(None),
    }
}

fn erased_missing<U: AuthUser, T: ThrottleSet<U>>(
    ctx: &(dyn std::any::Any + Send + Sync),
) -> Vec<String> {
    ctx.downcast_ref::<Context<U>>()
        .map(T::missing)
        .unwrap_or_default()
}

impl DefaultThrottles {
    /// The defaults `T` for user model `U`.
    pub const fn new<U: AuthUser, T: ThrottleSet<U>>() -> Self {
        DefaultThrottles {
            user: std::any::TypeId::of::<U>,
            check: erased::<U, T>,
            check_blocking: erased_blocking::<U, T>,
            missing: erased_missing::<U, T>,
        }
    }
}

inventory::collect!(DefaultThrottles);

fn defaults_for<U: AuthUser>() -> Option<&'static DefaultThrottles> {
    let id = std::any::TypeId::of::<U>();
    inventory::iter::<DefaultThrottles>
        .into_iter()
        .find(|d| (d.user)() == id)
}

impl<U: AuthUser> ThrottleSet<U> for ProjectThrottles {
    fn missing(ctx: &Context<U>) -> Vec<String> {
        defaults_for::<U>()
            .map(|d| (d.missing)(ctx))
            .unwrap_or_default()
    }
    async fn check(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Verdict {
        match defaults_for::<U>() {
            Some(d) => (d.check)(req, user, ctx).await,
            None => Ok(None),
        }
    }
    fn check_blocking(req: &Request<'_>, user: &RequestUser<U>, ctx: &Context<U>) -> Verdict {
        match defaults_for::<U>() {
            Some(d) => (d.check_blocking)(req, user, ctx),
            None => Ok(None),
        }
    }
}

/// The 429 for a refusal with this wait (DRF's `Throttled`).
pub(crate) fn throttled(wait: Option<f64>) -> AuthError {
    match wait.map(|w| w.ceil().max(0.0) as u64) {
        None => AuthError::new(Rejection::Throttled),
        Some(1) => AuthError::new(Rejection::ThrottledOneSecond).with_retry_after(1),
        Some(0) => AuthError::new(Rejection::ThrottledSeconds).arg("wait", "0"),
        Some(n) => AuthError::new(Rejection::ThrottledSeconds)
            .arg("wait", n.to_string())
            .with_retry_after(n),
    }
}
