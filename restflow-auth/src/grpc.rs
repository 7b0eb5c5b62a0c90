//! gRPC: the same chains and permissions in front of tonic services.
//!
//! [`GrpcAuth`] builds a tower layer for a tonic server. Each method (by its
//! path, `/package.Service/Method`), each service (`package.Service`) or the
//! default names a chain and permissions, as `#[authenticate]` and
//! `#[permissions]` do on an axum handler; the project's default throttles
//! run after them. Credentials come from the request metadata
//! (`authorization: Bearer ...`, `authorization: Token ...`): gRPC metadata
//! is HTTP/2 headers, read exactly as the HTTP schemes read them.
//!
//! | DRF answer | gRPC status | metadata |
//! | --- | --- | --- |
//! | 401 | `UNAUTHENTICATED` | `www-authenticate` |
//! | 403 | `PERMISSION_DENIED` | |
//! | 429 | `RESOURCE_EXHAUSTED` | `retry-after` |
//! | 503 | `UNAVAILABLE` (failed closed) | `retry-after` when known |
//! | other 5xx (a misconfiguration) | `INTERNAL` | |
//! | other 4xx | `INVALID_ARGUMENT` | |
//!
//! The status message is DRF's `detail` text, in the language the
//! `accept-language` metadata asks for. On success the service sees the
//! [`Identity`] in the request's extensions
//! (`request.extensions().get::<Identity<User>>()` in a tonic handler). A
//! method no policy names gets the default policy given to
//! [`GrpcAuth::new`]: there is no unguarded method by omission.
//!
//! ```
//! use restflow_auth::grpc::GrpcAuth;
//! use restflow_auth::permissions::IsAdminUser;
//! use restflow_auth::prelude::*;
//! # #[derive(Clone, Debug, AuthUser)]
//! # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
//! #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
//! #   #[auth_user(is_staff)] staff: bool }
//! let settings = Settings::from_sources(
//!     Some("[jwt]\nsigning_key = \"a-signing-key-of-at-least-32-bytes!!\"\nblacklist_enabled = false\n"),
//!     [],
//! )
//! .unwrap();
//! let auth = Auth::<User>::builder(settings).users(MemoryUserStore::new()).build().unwrap();
//! let layer = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&auth)
//!     .service::<(Jwt,), (IsAdminUser,)>("admin.v1.Admin")
//!     .method::<(), (AllowAny,)>("/grpc.health.v1.Health/Check")
//!     .build()
//!     .unwrap();
//! // tonic::transport::Server::builder().layer(layer).add_service(...)
//! # let _ = layer;
//! ```
//!
//! tonic's [`Interceptor`](tonic::service::Interceptor) is synchronous and
//! runs on a runtime worker thread, where a store's blocking path must not
//! run. [`interceptor`] is therefore offered only for chains of
//! [`Storeless`] authenticators (ones that build the user from the
//! credential alone) and runs no throttles; everything else uses the layer.
//! tonic hands an interceptor the metadata but not the path, so its
//! permissions see a POST to `/` (the layer's see the method's path); both
//! see the client's address (TCP; behind TLS, give `PeerAddr` yourself).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::StatusCode;
use tonic::{Code, Status};
use tower_layer::Layer;
use tower_service::Service;

use crate::authentication::{Authenticator, Chain};
use crate::context::{Auth, BuildError, Context};
use crate::dispatch::{self, Denial, Identity};
use crate::permissions::PermissionSet;
use crate::request::Request;
use crate::user::AuthUser;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One method's chain and permissions, type-erased.
trait Policy<U: AuthUser>: Send + Sync {
    fn check<'a>(
        &'a self,
        req: &'a Request<'a>,
        ctx: &'a Context<U>,
    ) -> BoxFuture<'a, Result<Identity<U>, Denial>>;
    fn missing(&self, ctx: &Context<U>) -> Vec<String>;
}

struct Typed<C, P>(PhantomData<fn() -> (C, P)>);

impl<U: AuthUser, C: Chain<U>, P: PermissionSet<U>> Policy<U> for Typed<C, P> {
    fn check<'a>(
        &'a self,
        req: &'a Request<'a>,
        ctx: &'a Context<U>,
    ) -> BoxFuture<'a, Result<Identity<U>, Denial>> {
        Box::pin(dispatch::decide::<U, C, P, crate::throttle::ProjectThrottles>(req, ctx))
    }
    fn missing(&self, ctx: &Context<U>) -> Vec<String> {
        C::missing(ctx)
    }
}

fn policy<U: AuthUser, C: Chain<U>, P: PermissionSet<U>>() -> Arc<dyn Policy<U>> {
    Arc::new(Typed::<C, P>(PhantomData))
}

/// Builds a [`GrpcAuthLayer`]: the default policy, then per service and per
/// method ones.
pub struct GrpcAuth<U: AuthUser> {
    ctx: Arc<Context<U>>,
    default: Arc<dyn Policy<U>>,
    services: HashMap<String, Arc<dyn Policy<U>>>,
    methods: HashMap<String, Arc<dyn Policy<U>>>,
    problems: Vec<String>,
}

impl<U: AuthUser> fmt::Debug for GrpcAuth<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcAuth")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("methods", &self.methods.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<U: AuthUser> GrpcAuth<U> {
    /// Starts with the policy of every method no other policy names:
    /// chain `C` and permissions `P`.
    pub fn new<C: Chain<U>, P: PermissionSet<U>>(auth: &Auth<U>) -> Self {
        GrpcAuth {
            ctx: Arc::clone(auth.context()),
            default: policy::<U, C, P>(),
            services: HashMap::new(),
            methods: HashMap::new(),
            problems: Vec::new(),
        }
    }

    /// Every method of `service` (`package.Service`, as in the method paths
    /// `/package.Service/Method`).
    pub fn service<C: Chain<U>, P: PermissionSet<U>>(mut self, service: &str) -> Self {
        if service.is_empty() || service.contains('/') {
            self.problems.push(format!(
                "gRPC service `{service}`: name it as `package.Service`, without slashes"
            ));
        } else if self
            .services
            .insert(service.to_owned(), policy::<U, C, P>())
            .is_some()
        {
            self.problems
                .push(format!("gRPC service `{service}` has two policies"));
        }
        self
    }

    /// One method, by its path `/package.Service/Method`.
    pub fn method<C: Chain<U>, P: PermissionSet<U>>(mut self, path: &str) -> Self {
        let well_formed = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'));
        if !well_formed {
            self.problems.push(format!(
                "gRPC method `{path}`: name it by its path, `/package.Service/Method`"
            ));
        } else if self
            .methods
            .insert(path.to_owned(), policy::<U, C, P>())
            .is_some()
        {
            self.problems
                .push(format!("gRPC method `{path}` has two policies"));
        }
        self
    }

    /// Checks the policies (names, and that every scheme they use is
    /// configured) and gives the layer.
    pub fn build(self) -> Result<GrpcAuthLayer<U>, BuildError> {
        let mut problems = self.problems;
        let named = self.methods.iter().chain(self.services.iter());
        for (name, p) in named.chain(std::iter::once((&String::new(), &self.default))) {
            for m in p.missing(&self.ctx) {
                let what = if name.is_empty() { "default" } else { name };
                problems.push(format!("gRPC policy {what}: {m}"));
            }
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(BuildError::Wiring(problems));
        }
        Ok(GrpcAuthLayer {
            shared: Arc::new(Shared {
                ctx: self.ctx,
                default: self.default,
                services: self.services,
                methods: self.methods,
            }),
        })
    }
}

struct Shared<U: AuthUser> {
    ctx: Arc<Context<U>>,
    default: Arc<dyn Policy<U>>,
    services: HashMap<String, Arc<dyn Policy<U>>>,
    methods: HashMap<String, Arc<dyn Policy<U>>>,
}

impl<U: AuthUser> Shared<U> {
    fn policy(&self, path: &str) -> &dyn Policy<U> {
        if let Some(p) = self.methods.get(path) {
            return &**p;
        }
        let service = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map(|(s, _)| s);
        match service.and_then(|s| self.services.get(s)) {
            Some(p) => &**p,
            None => &*self.default,
        }
    }
}

/// The tower layer of a tonic server (`Server::builder().layer(..)`).
pub struct GrpcAuthLayer<U: AuthUser> {
    shared: Arc<Shared<U>>,
}

impl<U: AuthUser> Clone for GrpcAuthLayer<U> {
    fn clone(&self) -> Self {
        GrpcAuthLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<U: AuthUser> fmt::Debug for GrpcAuthLayer<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcAuthLayer").finish_non_exhaustive()
    }
}

impl<S, U: AuthUser> Layer<S> for GrpcAuthLayer<U> {
    type Service = GrpcAuthService<S, U>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuthService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`GrpcAuthLayer`] wraps around a tonic service.
pub struct GrpcAuthService<S, U: AuthUser> {
    inner: S,
    shared: Arc<Shared<U>>,
}

impl<S: Clone, U: AuthUser> Clone for GrpcAuthService<S, U> {
    fn clone(&self) -> Self {
        GrpcAuthService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, U: AuthUser> fmt::Debug for GrpcAuthService<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcAuthService").finish_non_exhaustive()
    }
}

impl<S, U, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcAuthService<S, U>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    U: AuthUser,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        // The clone serves the next call; this one uses the service polled ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            // The client's address, for throttles and trusted proxies.
            let peer = parts
                .extensions
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(|info| info.remote_addr());
            if let Some(peer) = peer
                && parts.extensions.get::<crate::net::PeerAddr>().is_none()
            {
                parts.extensions.insert(crate::net::PeerAddr(peer));
            }
            let verdict = {
                let request = Request::new(&parts);
                let policy = shared.policy(parts.uri.path());
                policy.check(&request, &shared.ctx).await
            };
            match verdict {
                Ok(identity) => {
                    parts.extensions.insert(identity);
                    inner.call(http::Request::from_parts(parts, body)).await
                }
                Err(denial) => Ok(status(&denial, &shared.ctx, &parts).into_http()),
            }
        })
    }
}

/// The gRPC status of a denial (see the module's table).
pub fn status<U: AuthUser>(
    denial: &Denial,
    ctx: &Context<U>,
    parts: &http::request::Parts,
) -> Status {
    let http_status = crate::error::report(denial);
    let language = ctx.messages().negotiate(
        parts
            .headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let detail = ctx.messages().render(&denial.error, language);
    let code = match http_status {
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        s if s.is_server_error() => Code::Internal,
        _ => Code::InvalidArgument,
    };
    let mut status = Status::new(code, detail);
    let metadata = status.metadata_mut();
    if let Some(v) = denial
        .www_authenticate()
        .and_then(|v| v.parse::<tonic::metadata::MetadataValue<_>>().ok())
    {
        metadata.insert("www-authenticate", v);
    }
    if let Some(s) = denial.error.retry_after() {
        metadata.insert("retry-after", tonic::metadata::MetadataValue::from(s));
    }
    status
}

/// An authenticator that builds the user from the credential alone and
/// never reads a store, so that its blocking path may run on a runtime
/// worker (inside a tonic [`Interceptor`](tonic::service::Interceptor)).
/// Implementing it is a promise about the authenticator's code.
pub trait Storeless<U: AuthUser>: Authenticator<U> {}

/// A chain of [`Storeless`] authenticators.
pub trait StorelessChain<U: AuthUser>: Chain<U> {}

macro_rules! storeless_tuple {
    ($($a:ident),+) => {
        impl<U: AuthUser, $($a: Storeless<U>),+> StorelessChain<U> for ($($a,)+) {}
    };
}
storeless_tuple!(A);
storeless_tuple!(A, B);
storeless_tuple!(A, B, C);
storeless_tuple!(A, B, C, D);

/// A tonic interceptor running chain `C` (every authenticator
/// [`Storeless`]) and permissions `P` on the blocking path, without
/// throttles; the [`Identity`] goes into the request's extensions.
pub fn interceptor<U: AuthUser, C: StorelessChain<U>, P: PermissionSet<U>>(
    auth: &Auth<U>,
) -> impl tonic::service::Interceptor + Clone + Send + Sync + 'static {
    let ctx = Arc::clone(auth.context());
    move |mut req: tonic::Request<()>| -> Result<tonic::Request<()>, Status> {
        // What the layer sees: a POST to the method's path, the metadata as
        // headers, the client's address.
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = http::Method::POST;
        if let Some(m) = req.extensions().get::<tonic::GrpcMethod<'static>>()
            && let Ok(uri) = format!("/{}/{}", m.service(), m.method()).parse()
        {
            parts.uri = uri;
        }
        parts.headers = req.metadata().clone().into_headers();
        if let Some(peer) = req.remote_addr() {
            parts.extensions.insert(crate::net::PeerAddr(peer));
        }
        let request = Request::new(&parts);
        match dispatch::decide_blocking::<U, C, P, ()>(&request, &ctx) {
            Ok(identity) => {
                req.extensions_mut().insert(identity);
                Ok(req)
            }
            Err(denial) => Err(status(&denial, &ctx, &parts)),
        }
    }
}
