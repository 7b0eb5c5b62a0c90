//! Tower layers: [`AuthLayer`] makes the [`Context`] reachable from every
//! request; [`PolicyLayer`] declares a chain and permissions for a whole
//! router or a group of routes, as DRF's class attributes do for a view.
//!
//! ```
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
//! let auth = Auth::<User>::builder(Settings::default()).users(MemoryUserStore::new()).build().unwrap();
//! // Every route of a group: the `Header` chain and IsAdminUser.
//! let admin_policy = auth.policy::<(Header,), (IsAdminUser,)>();
//! // With axum: Router::new().route(..).route_layer(admin_policy).layer(auth.layer())
//! # let _ = (admin_policy, auth.layer());
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use tower_layer::Layer;
use tower_service::Service;

use crate::authentication::Chain;
use crate::context::{Auth, Context};
use crate::dispatch::{self, Denial};
use crate::error::{AuthError, Rejected, Rejection};
use crate::permissions::PermissionSet;
use crate::request::Request;
use crate::session::ResponseCookies;
use crate::throttle::ThrottleSet;
use crate::user::AuthUser;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A request body read ahead of the handler, for authenticators that sign
/// over it (`Authenticator::NEEDS_BODY`). The handler still receives the
/// same bytes.
#[derive(Clone, Debug)]
pub struct BufferedBody(pub Bytes);

impl AsRef<[u8]> for BufferedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<U: AuthUser> Auth<U> {
    /// The layer that makes this configuration reachable from extractors.
    pub fn layer(&self) -> AuthLayer<U> {
        AuthLayer {
            ctx: Arc::clone(self.context()),
            buffer: false,
        }
    }

    /// A layer that runs chain `C` and permissions `P` for every route it
    /// wraps (use `route_layer`); add throttles with
    /// [`PolicyLayer::throttle`].
    ///
    /// # Panics
    ///
    /// When the layer is applied (`route_layer`, at startup) and its chain
    /// or throttles (the project's default ones unless
    /// [`PolicyLayer::throttle`] names others) need what the configuration
    /// lacks (the startup check of [`wiring`](crate::wiring)): the message
    /// says what to fix.
    pub fn policy<C: Chain<U>, P: PermissionSet<U>>(&self) -> PolicyLayer<U, C, P> {
        PolicyLayer {
            ctx: Arc::clone(self.context()),
            _marker: PhantomData,
        }
    }
}

/// Panics, saying what to fix, when a policy needs what `ctx` lacks.
fn check_policy<U: AuthUser, C: Chain<U>, T: ThrottleSet<U>>(ctx: &Context<U>) {
    if !ctx.checks_routes() {
        return;
    }
    let problems = crate::wiring::policy_problems::<U, C, T>(ctx);
    assert!(
        problems.is_empty(),
        "restflow-auth: a policy layer needs what the configuration lacks: {}",
        problems.join("; ")
    );
}

/// Inserts the [`Context`] into every request; optionally buffers bodies.
pub struct AuthLayer<U: AuthUser> {
    ctx: Arc<Context<U>>,
    buffer: bool,
}

impl<U: AuthUser> AuthLayer<U> {
    /// Reads every request body (up to `body_limit` of the settings; larger
    /// is 413) before the handler, so that `#[authenticate]` chains whose
    /// authenticators sign the body can read it.
    pub fn buffer_bodies(mut self) -> Self {
        self.buffer = true;
        self
    }
}

impl<U: AuthUser> Clone for AuthLayer<U> {
    fn clone(&self) -> Self {
        AuthLayer {
            ctx: Arc::clone(&self.ctx),
            buffer: self.buffer,
        }
    }
}

impl<U: AuthUser> fmt::Debug for AuthLayer<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("buffer", &self.buffer)
            .finish()
    }
}

impl<S, U: AuthUser> Layer<S> for AuthLayer<U> {
    type Service = AuthService<S, U>;
    fn layer(&self, inner: S) -> AuthService<S, U> {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
pub struct AuthService<S, U: AuthUser> {
    inner: S,
    layer: AuthLayer<U>,
}

impl<S: Clone, U: AuthUser> Clone for AuthService<S, U> {
    fn clone(&self) -> Self {
        AuthService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, U: AuthUser> fmt::Debug for AuthService<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("layer", &self.layer)
            .finish()
    }
}

/// The `Content-Length` the request declares, when it is one number.
pub(crate) fn declared_length(parts: &http::request::Parts) -> Option<u64> {
    match Request::new(parts).field(http::header::CONTENT_LENGTH) {
        crate::request::Header::Text(v) => v.trim().parse().ok(),
        _ => None,
    }
}

/// Reads the body up to `limit`, leaving the same bytes in the request.
async fn buffer(
    req: http::Request<Body>,
    ctx: &Context<impl AuthUser>,
) -> Result<http::Request<Body>, Response> {
    let limit = ctx.settings().body_limit;
    let (mut parts, body) = req.into_parts();
    let declared_too_large = declared_length(&parts).is_some_and(|n| n > limit as u64);
    let read = if declared_too_large {
        None
    } else {
        http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit))
            .await
            .ok()
    };
    let bytes = match read {
        Some(b) => b.to_bytes(),
        None => {
            let denial = Denial::new(
                AuthError::new(Rejection::PayloadTooLarge).arg("limit", limit.to_string()),
            );
            let lang = parts
                .headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok());
            return Err(Rejected::new(&denial, ctx.messages(), lang).into_response());
        }
    };
    parts.extensions.insert(BufferedBody(bytes.clone()));
    Ok(http::Request::from_parts(parts, Body::from(bytes)))
}

impl<S, U> Service<http::Request<Body>> for AuthService<S, U>
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    U: AuthUser,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AuthFuture<S::Future, U>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let ctx = Arc::clone(&self.layer.ctx);
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // What the answer needs once the request is gone: DRF's 405 body.
        let method = req.method().clone();
        let lang = req.headers().get(http::header::ACCEPT_LANGUAGE).cloned();
        // The peer address: `Request::peer_ip` reads axum's ConnectInfo
        // where it is, with no copy of it per request.
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(Arc::clone(&ctx));
        let cookies = django_middleware::before(&mut parts, &ctx);
        let needs_body = self.layer.buffer || django_middleware::wants_body(&parts, &ctx);
        let req = http::Request::from_parts(parts, body);
        let after = After {
            ctx,
            method,
            lang,
            cookies,
        };
        if needs_body {
            // Rare (form posts, signed bodies): read the body, then call; a
            // body too large is answered as it is (413, nothing added).
            return AuthFuture {
                state: AuthState::Buffering {
                    future: Box::pin(async move {
                        let req = match buffer(req, &after.ctx).await {
                            Ok(req) => req,
                            Err(res) => return Ok(res),
                        };
                        let res = inner.call(req).await?;
                        Ok(after.apply(res))
                    }),
                },
                after: None,
            };
        }
        AuthFuture {
            state: AuthState::Calling {
                future: inner.call(req),
            },
            after: Some(after),
        }
    }
}

/// What [`AuthFuture`] does to the answer: the cookies the request called
/// for, and DRF's JSON 405.
struct After<U: AuthUser> {
    ctx: Arc<Context<U>>,
    method: http::Method,
    lang: Option<http::HeaderValue>,
    cookies: Option<Arc<ResponseCookies>>,
}

impl<U: AuthUser> After<U> {
    fn apply(self, mut res: Response) -> Response {
        if let Some(cookies) = self.cookies {
            cookies.apply(res.headers_mut());
        }
        let lang = self.lang.as_ref().and_then(|v| v.to_str().ok());
        json_method_not_allowed(&self.method, &self.ctx, lang, &mut res);
        res
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]: the inner service's answer with the
    /// cookies the request called for and DRF's JSON 405, without a boxed
    /// future per request (a request whose body is read first has one).
    pub struct AuthFuture<F, U: AuthUser> {
        #[pin]
        state: AuthState<F>,
        after: Option<After<U>>,
    }
}

pin_project_lite::pin_project! {
    #[project = AuthStateProj]
    enum AuthState<F> {
        Calling { #[pin] future: F },
        Buffering { future: BoxFuture<Result<Response, Infallible>> },
    }
}

impl<F, U: AuthUser> fmt::Debug for AuthFuture<F, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFuture").finish_non_exhaustive()
    }
}

impl<F, U> Future for AuthFuture<F, U>
where
    F: Future<Output = Result<Response, Infallible>>,
    U: AuthUser,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = match this.state.project() {
            AuthStateProj::Calling { future } => future.poll(cx),
            AuthStateProj::Buffering { future } => future.as_mut().poll(cx),
        };
        let Poll::Ready(Ok(res)) = answer else {
            return answer;
        };
        Poll::Ready(Ok(match this.after.take() {
            Some(after) => after.apply(res),
            None => res,
        }))
    }
}

/// What Django's `SessionMiddleware` and `CsrfViewMiddleware` do around
/// every request, for applications with a session store: a session cookie
/// that cannot name a session is deleted in the response, a malformed CSRF
/// cookie is replaced, and form posts are buffered so that the CSRF check
/// can read their `csrfmiddlewaretoken` field.
mod django_middleware {
    use std::sync::Arc;

    use crate::context::Context;
    use crate::request::Request;
    use crate::session::{ResponseCookies, Sessions, cookies, csrf, valid_key};
    use crate::user::AuthUser;

    /// Puts a [`ResponseCookies`] into a request that carries cookies and
    /// notes what they already call for.
    pub(super) fn before<U: AuthUser>(
        parts: &mut http::request::Parts,
        ctx: &Context<U>,
    ) -> Option<Arc<ResponseCookies>> {
        ctx.store::<Sessions>()?;
        // Without cookies there is no session to end and no cookie to fix:
        // no jar (an API client's request costs nothing here).
        if !parts.headers.contains_key(http::header::COOKIE) {
            return None;
        }
        let jar = Arc::new(ResponseCookies::default());
        check_cookies(&Request::new(parts), &ctx.settings().session, &jar);
        parts.extensions.insert(Arc::clone(&jar));
        Some(jar)
    }

    /// The request's session and CSRF cookies: what they call for.
    fn check_cookies(r: &Request<'_>, s: &crate::settings::SessionSettings, jar: &ResponseCookies) {
        let [session, csrf_cookie] =
            crate::session::cookies::cookies_named(r, [&s.cookie_name, &s.csrf_cookie_name]);
        if session.is_some_and(|k| !valid_key(&k)) {
            jar.delete(&s.cookie_name);
        }
        if csrf_cookie.is_some_and(|c| !csrf::is_well_formed(&c)) {
            jar.set(
                &s.csrf_cookie_name,
                cookies::set_cookie(
                    &s.csrf_cookie_name,
                    &csrf::new_secret(),
                    super::CSRF_COOKIE_AGE,
                    false,
                    s.cookie_secure,
                ),
            );
        }
    }

    /// Whether the body is a form post the CSRF check may need to read.
    pub(super) fn wants_body<U: AuthUser>(parts: &http::request::Parts, ctx: &Context<U>) -> bool {
        let req = Request::new(parts);
        !req.is_safe_method() && ctx.store::<Sessions>().is_some() && crate::request::is_form(&req)
    }
}

/// Django's `CSRF_COOKIE_AGE`: one year.
pub(crate) const CSRF_COOKIE_AGE: u64 = 31_449_600;

/// DRF's 405 answer: `{"detail":"Method \"PUT\" not allowed."}`.
pub(crate) fn method_not_allowed(
    method: &http::Method,
    catalog: Option<&crate::messages::Catalog>,
    accept_language: Option<&str>,
) -> Response {
    let error = AuthError::new(Rejection::MethodNotAllowed).arg("method", method.to_string());
    let default = crate::messages::Catalog::default();
    Rejected::new(
        &Denial::new(error),
        catalog.unwrap_or(&default),
        accept_language,
    )
    .into_response()
}

/// Gives the bare 405 that axum's method router answers DRF's JSON body
/// (axum's `Allow` header is kept).
fn json_method_not_allowed<U: AuthUser>(
    method: &http::Method,
    ctx: &Context<U>,
    lang: Option<&str>,
    res: &mut Response,
) {
    if res.status() != http::StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(http::header::CONTENT_TYPE)
    {
        return;
    }
    let allow = res.headers_mut().remove(http::header::ALLOW);
    *res = method_not_allowed(method, Some(ctx.messages()), lang);
    if let Some(allow) = allow {
        res.headers_mut().insert(http::header::ALLOW, allow);
    }
}

/// Runs a chain and permissions for every request of the routes it wraps,
/// and leaves the [`Identity`](crate::dispatch::Identity) for the handlers'
/// extractors. Made by [`Auth::policy`].
pub struct PolicyLayer<U: AuthUser, C, P, T = crate::throttle::ProjectThrottles> {
    ctx: Arc<Context<U>>,
    _marker: crate::extract::Policy<C, P, T>,
}

impl<U: AuthUser, C, P> PolicyLayer<U, C, P> {
    /// The same policy with throttles `T` instead of the project's default
    /// ones, after the permissions (a tuple
    /// such as `(AnonRateThrottle, UserRateThrottle)`, or
    /// [`Scoped`](crate::throttle::Scoped) for `ScopedRateThrottle`).
    ///
    /// # Panics
    ///
    /// When the layer is applied and a throttle's scope has no rate (the
    /// startup check).
    pub fn throttle<T: ThrottleSet<U>>(self) -> PolicyLayer<U, C, P, T> {
        PolicyLayer {
            ctx: self.ctx,
            _marker: PhantomData,
        }
    }
}

impl<U: AuthUser, C, P, T> Clone for PolicyLayer<U, C, P, T> {
    fn clone(&self) -> Self {
        PolicyLayer {
            ctx: Arc::clone(&self.ctx),
            _marker: PhantomData,
        }
    }
}

impl<U: AuthUser, C, P, T> fmt::Debug for PolicyLayer<U, C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyLayer")
            .field("chain", &std::any::type_name::<C>())
            .field("permissions", &std::any::type_name::<P>())
            .field("throttles", &std::any::type_name::<T>())
            .finish()
    }
}

impl<S, U: AuthUser, C: Chain<U>, P, T: ThrottleSet<U>> Layer<S> for PolicyLayer<U, C, P, T> {
    type Service = PolicyService<S, U, C, P, T>;
    fn layer(&self, inner: S) -> Self::Service {
        check_policy::<U, C, T>(&self.ctx);
        PolicyService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`PolicyLayer`].
pub struct PolicyService<S, U: AuthUser, C, P, T = crate::throttle::ProjectThrottles> {
    inner: S,
    layer: PolicyLayer<U, C, P, T>,
}

impl<S: Clone, U: AuthUser, C, P, T> Clone for PolicyService<S, U, C, P, T> {
    fn clone(&self) -> Self {
        PolicyService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, U: AuthUser, C, P, T> fmt::Debug for PolicyService<S, U, C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyService")
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, U, C, P, T> Service<http::Request<Body>> for PolicyService<S, U, C, P, T>
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    U: AuthUser,
    C: Chain<U>,
    P: PermissionSet<U>,
    T: ThrottleSet<U>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let ctx = Arc::clone(&self.layer.ctx);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            req.extensions_mut().insert(Arc::clone(&ctx));
            if C::NEEDS_BODY && req.extensions().get::<BufferedBody>().is_none() {
                req = match buffer(req, &ctx).await {
                    Ok(r) => r,
                    Err(res) => return Ok(res),
                };
            }
            let (mut parts, body) = req.into_parts();
            let result = {
                let buffered = parts.extensions.get::<BufferedBody>();
                let mut view = Request::new(&parts);
                if let Some(b) = buffered {
                    view = view.with_body(b.as_ref());
                }
                dispatch::check::<U, C, P, T>(&view, &ctx).await
            };
            match result {
                Ok(identity) => {
                    parts.extensions.insert(identity);
                    inner.call(http::Request::from_parts(parts, body)).await
                }
                Err(denial) => {
                    let lang = parts
                        .headers
                        .get(http::header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok());
                    Ok(Rejected::new(&denial, ctx.messages(), lang).into_response())
                }
            }
        })
    }
}
