//! Metrics and tracing: what the library reports about the requests it
//! answers.
//!
//! With the `metrics` feature, the library records through the
//! [`metrics`](https://docs.rs/metrics) facade once the application has
//! installed a recorder (for example `metrics-exporter-prometheus`) and
//! called [`enable`]; until then each recording point costs one relaxed
//! atomic load (labels built per call would otherwise cost about 1,900
//! instructions per JWT request even with no recorder). Names follow OpenTelemetry's
//! conventions for authentication (ASP.NET Core's
//! `aspnetcore.authentication.*` instruments); a Prometheus exporter writes
//! the dots as underscores (`restflow_auth_authenticate_duration`).
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | [`AUTHENTICATE_DURATION`] | histogram, seconds | `scheme`, `result` (`success`, `failure`, `none`) |
//! | [`CHALLENGES`] | counter: 401 answers | `reason` |
//! | [`FORBIDS`] | counter: 403 answers | `reason` |
//! | [`THROTTLES`] | counter: 429 answers | `reason` |
//! | [`UNAVAILABLE`] | counter: 503 answers (failed closed) | `reason` |
//! | [`STORE_DURATION`] | histogram, seconds | `store`, `operation`, `outcome` (`ok`, `error`) |
//! | [`CACHE_REQUESTS`] | counter | `cache`, `outcome` (`hit`, `miss`) |
//!
//! `scheme` is the authenticator's [`name`](crate::Authenticator::name)
//! (`Jwt`, `Session`, ...); `reason` is the rejection's
//! [`code`](crate::AuthError::code) (`not_authenticated`,
//! `authentication_failed`, `throttled`, ...). No label or field ever
//! holds a credential, a token, a username or any other request text: every
//! label value is one of a fixed set.
//!
//! Tracing: each dispatch runs in a `debug` span named
//! `restflow_auth.authenticate`, whose `enduser.id` field (OpenTelemetry's
//! attribute) is recorded with the user's id once the chain has found one.
//! Like tower-http's `TraceLayer`, the span is below `info`: a service that
//! logs at `info` does not build a span per request (about 0.3 µs and three
//! allocations with `tracing_subscriber::fmt`); enable
//! `restflow_auth=debug` to see it.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! // After installing a recorder (metrics_exporter_prometheus::PrometheusBuilder
//! // in the quickstart): descriptions and units, and recording on.
//! restflow_auth::telemetry::enable();
//! # }
//! assert_eq!(restflow_auth::telemetry::AUTHENTICATE_DURATION, "restflow_auth.authenticate.duration");
//! ```

use std::future::Future;

use http::StatusCode;

/// How long one authenticator of a chain took, by `scheme` and `result`.
pub const AUTHENTICATE_DURATION: &str = "restflow_auth.authenticate.duration";
/// 401 answers (a challenge sent), by `reason`.
pub const CHALLENGES: &str = "restflow_auth.challenges";
/// 403 answers, by `reason`.
pub const FORBIDS: &str = "restflow_auth.forbids";
/// 429 answers (throttles and the login lockout), by `reason`.
pub const THROTTLES: &str = "restflow_auth.throttles";
/// 503 answers: a store, the password executor or a channel could not vouch
/// for the answer, so the request failed closed; by `reason`.
pub const UNAVAILABLE: &str = "restflow_auth.unavailable";
/// How long a store call took, by `store`, `operation` and `outcome`.
pub const STORE_DURATION: &str = "restflow_auth.store.duration";
/// Lookups in the library's caches, by `cache` and `outcome` (`hit`, `miss`).
pub const CACHE_REQUESTS: &str = "restflow_auth.cache.requests";

#[cfg(feature = "metrics")]
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`enable`] was called.
#[cfg(feature = "metrics")]
#[inline]
fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns recording on and gives every instrument its description and unit
/// on the recorder installed now (call it once, after installing one; a
/// thread-local recorder, `metrics::with_local_recorder`, also needs it).
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn enable() {
    use metrics::{Unit, describe_counter, describe_histogram};
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    describe_histogram!(
        AUTHENTICATE_DURATION,
        Unit::Seconds,
        "Time one authenticator took to recognise, accept or reject a request"
    );
    describe_counter!(CHALLENGES, "Requests answered 401 with a challenge");
    describe_counter!(FORBIDS, "Requests answered 403");
    describe_counter!(
        THROTTLES,
        "Requests answered 429 (throttles, login lockout)"
    );
    describe_counter!(
        UNAVAILABLE,
        "Requests answered 503 because a store or the password executor could not vouch for the answer"
    );
    describe_histogram!(STORE_DURATION, Unit::Seconds, "Time a store call took");
    describe_counter!(CACHE_REQUESTS, "Cache lookups by outcome");
}

/// The name an authenticator reports by default: the last segment of its
/// type's path, without generic arguments.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::time::Instant;

    pub(crate) struct Timer(Instant);

    impl Timer {
        pub(crate) fn start() -> Self {
            Timer(Instant::now())
        }
        pub(crate) fn secs(&self) -> f64 {
            self.0.elapsed().as_secs_f64()
        }
    }
}

/// Runs one authenticator's step, recording its duration and result.
#[inline]
pub(crate) async fn authenticator<T, E>(
    scheme: impl FnOnce() -> &'static str,
    step: impl Future<Output = Result<Option<T>, E>>,
) -> Result<Option<T>, E> {
    #[cfg(feature = "metrics")]
    {
        if !enabled() {
            return step.await;
        }
        let timer = enabled::Timer::start();
        let outcome = step.await;
        record_authenticator(scheme(), &outcome, timer.secs());
        outcome
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = scheme;
        step.await
    }
}

/// Blocking twin of [`authenticator`].
#[inline]
pub(crate) fn authenticator_blocking<T, E>(
    scheme: impl FnOnce() -> &'static str,
    step: impl FnOnce() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    #[cfg(feature = "metrics")]
    {
        if !enabled() {
            return step();
        }
        let timer = enabled::Timer::start();
        let outcome = step();
        record_authenticator(scheme(), &outcome, timer.secs());
        outcome
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = scheme;
        step()
    }
}

#[cfg(feature = "metrics")]
fn record_authenticator<T, E>(scheme: &'static str, outcome: &Result<Option<T>, E>, secs: f64) {
    let result = match outcome {
        Ok(Some(_)) => "success",
        Ok(None) => "none",
        Err(_) => "failure",
    };
    metrics::histogram!(AUTHENTICATE_DURATION, "scheme" => scheme, "result" => result).record(secs);
}

/// Counts a rendered rejection by its status.
#[inline]
pub(crate) fn rejected(status: StatusCode, reason: &'static str) {
    #[cfg(feature = "metrics")]
    {
        if !enabled() {
            return;
        }
        let name = match status {
            StatusCode::UNAUTHORIZED => CHALLENGES,
            StatusCode::FORBIDDEN => FORBIDS,
            StatusCode::TOO_MANY_REQUESTS => THROTTLES,
            StatusCode::SERVICE_UNAVAILABLE => UNAVAILABLE,
            _ => return,
        };
        metrics::counter!(name, "reason" => reason).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (status, reason);
}

/// Runs one store call, recording its duration and outcome.
#[inline]
pub(crate) async fn store<T, E>(
    store: &'static str,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    #[cfg(feature = "metrics")]
    {
        if !enabled() {
            return call.await;
        }
        let timer = enabled::Timer::start();
        let outcome = call.await;
        record_store(store, operation, outcome.is_ok(), timer.secs());
        outcome
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = (store, operation);
        call.await
    }
}

/// Blocking twin of [`store`].
#[inline]
pub(crate) fn store_blocking<T, E>(
    store: &'static str,
    operation: &'static str,
    call: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    #[cfg(feature = "metrics")]
    {
        if !enabled() {
            return call();
        }
        let timer = enabled::Timer::start();
        let outcome = call();
        record_store(store, operation, outcome.is_ok(), timer.secs());
        outcome
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = (store, operation);
        call()
    }
}

#[cfg(feature = "metrics")]
fn record_store(store: &'static str, operation: &'static str, ok: bool, secs: f64) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::histogram!(STORE_DURATION, "store" => store, "operation" => operation, "outcome" => outcome)
        .record(secs);
}

/// Counts a cache lookup.
#[inline]
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn cache(cache: &'static str, hit: bool) {
    #[cfg(feature = "metrics")]
    if enabled() {
        metrics::counter!(CACHE_REQUESTS, "cache" => cache, "outcome" => if hit { "hit" } else { "miss" })
        .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (cache, hit);
}

/// The span a dispatch runs in (`enduser.id` recorded once known).
#[inline]
pub(crate) fn span() -> tracing::Span {
    tracing::debug_span!(
        "restflow_auth.authenticate",
        enduser.id = tracing::field::Empty
    )
}

/// Records the user's id on the dispatch span.
#[inline]
pub(crate) fn record_user<U: crate::user::AuthUser>(span: &tracing::Span, user: &U) {
    if !span.is_disabled() {
        span.record("enduser.id", tracing::field::display(user.id()));
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("a::b::Jwt"), "Jwt");
        assert_eq!(short_type_name("a::b::Signed<a::X, b::Y>"), "Signed");
        assert_eq!(short_type_name("Plain"), "Plain");
    }
}
