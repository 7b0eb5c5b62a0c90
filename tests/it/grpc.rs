//! gRPC: a real tonic server behind `GrpcAuthLayer` (and one behind the
//! interceptor), called by a real tonic client. The answers agree with the
//! HTTP path's: DRF's status mapped to a gRPC code, DRF's detail as the
//! message, the challenge in `www-authenticate`.

use std::pin::Pin;

use restflow_auth::dispatch::{self, Identity};
use restflow_auth::grpc::{self, GrpcAuth, Storeless};
use restflow_auth::jwt::AccessToken;
use restflow_auth::permissions::{IsAdminUser, IsAuthenticatedOrReadOnly};
use restflow_auth::prelude::*;
use tonic::{Code, Response, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::common::{DownStore, User, user, users};
use crate::jwt::{settings_with, state};

/// A health service that answers with the id of the user the layer put in
/// the request's extensions (metadata `x-user-id`, `anonymous` if none).
#[derive(Default)]
struct WhoAmI;

type Stream = Pin<Box<dyn tokio_stream::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for WhoAmI {
    async fn check(
        &self,
        req: tonic::Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let who = match req.extensions().get::<Identity<User>>() {
            Some(identity) => match identity.user.user() {
                Some(u) => u.id.to_string(),
                None => "anonymous".to_owned(),
            },
            None => "no identity".to_owned(),
        };
        let mut res = Response::new(HealthCheckResponse { status: 1 });
        res.metadata_mut().insert("x-user-id", who.parse().unwrap());
        Ok(res)
    }
    type WatchStream = Stream;
    async fn watch(
        &self,
        _: tonic::Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

const CHECK: &str = "/grpc.health.v1.Health/Check";

/// Serves a tonic router on a free port; gives a connected client.
macro_rules! serve {
    ($router:expr $(,)?) => {{
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn($router.serve_with_incoming(incoming));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        HealthClient::new(channel)
    }};
}

/// `WhoAmI` behind `layer`, served; gives a connected client.
macro_rules! guarded {
    ($layer:expr) => {
        serve!(
            tonic::transport::Server::builder()
                .layer($layer)
                .add_service(HealthServer::new(WhoAmI))
        )
    };
}

fn call(metadata: &[(&'static str, &str)]) -> tonic::Request<HealthCheckRequest> {
    let mut req = tonic::Request::new(HealthCheckRequest::default());
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    req
}

/// What the HTTP path answers for the same headers: status, detail,
/// challenge.
fn over_http<C: restflow_auth::Chain<User>, P: restflow_auth::permissions::PermissionSet<User>>(
    auth: &Auth<User>,
    metadata: &[(&'static str, &str)],
) -> Result<(), (u16, String, Option<String>)> {
    let mut b = http::Request::builder().method("POST").uri(CHECK);
    for (k, v) in metadata {
        b = b.header(*k, *v);
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    match dispatch::authenticate_blocking::<User, C, P>(&Request::new(&parts), auth.context()) {
        Ok(_) => Ok(()),
        Err(d) => {
            let lang = parts
                .headers
                .get("accept-language")
                .map(|v| v.to_str().unwrap());
            let language = auth.context().messages().negotiate(lang);
            Err((
                d.status().as_u16(),
                auth.context().messages().render(&d.error, language),
                d.www_authenticate().map(str::to_owned),
            ))
        }
    }
}

fn code_of(status: u16) -> Code {
    match status {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_answers_as_the_http_path_with_grpc_codes() {
    let auth = Auth::builder(settings_with(|j| j.blacklist_enabled = false))
        .users(users())
        .build()
        .unwrap();
    let jwt = state(&auth);
    let alice = AccessToken::for_user(&user(1, "alice", true, false), jwt).unwrap();
    let root = AccessToken::for_user(&user(3, "root", true, true), jwt).unwrap();
    let bob = AccessToken::for_user(&user(2, "bob", false, false), jwt).unwrap();
    let layer = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&auth)
        .build()
        .unwrap();
    let mut client = guarded!(layer);

    let (a, r, b) = (
        format!("Bearer {}", alice.as_str()),
        format!("Bearer {}", root.as_str()),
        format!("Bearer {}", bob.as_str()),
    );
    let cases: Vec<(&str, Vec<(&'static str, &str)>)> = vec![
        ("alice", vec![("authorization", &a)]),
        ("root", vec![("authorization", &r)]),
        ("no credentials", vec![]),
        ("inactive bob", vec![("authorization", &b)]),
        ("junk token", vec![("authorization", "Bearer not.a.token")]),
        ("two words", vec![("authorization", "Bearer a b")]),
        ("in French", vec![("accept-language", "fr")]),
        (
            "a Basic header",
            vec![("authorization", "Basic YWxpY2U6eA==")],
        ),
    ];
    for (name, metadata) in &cases {
        let want = over_http::<(Jwt,), (IsAuthenticated,)>(&auth, metadata);
        let got = client.check(call(metadata)).await;
        match (want, got) {
            (Ok(()), Ok(res)) => {
                let id = res.metadata().get("x-user-id").unwrap().to_str().unwrap();
                let expected = if *name == "alice" { "1" } else { "3" };
                assert_eq!(id, expected, "{name}: the identity reached the service");
            }
            (Err((http_status, detail, challenge)), Err(status)) => {
                assert_eq!(status.code(), code_of(http_status), "{name}");
                assert_eq!(status.message(), detail, "{name}");
                let got = status
                    .metadata()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(got, challenge, "{name}");
            }
            (want, got) => panic!("{name}: http {want:?}, grpc {got:?}"),
        }
    }
    let fr = client
        .check(call(&[("accept-language", "fr")]))
        .await
        .unwrap_err();
    assert_eq!(fr.code(), Code::Unauthenticated);
    assert_ne!(
        fr.message(),
        "Authentication credentials were not provided."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_per_method_and_service_and_a_store_down_is_unavailable() {
    let auth = Auth::builder(settings_with(|j| j.blacklist_enabled = false))
        .users(users())
        .build()
        .unwrap();
    let alice = AccessToken::for_user(&user(1, "alice", true, false), state(&auth)).unwrap();
    let bearer = format!("Bearer {}", alice.as_str());
    let auth_header = [("authorization", bearer.as_str())];

    // The service's policy: staff only; alice is refused.
    let staff = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&auth)
        .service::<(Jwt,), (IsAdminUser,)>("grpc.health.v1.Health")
        .build()
        .unwrap();
    let mut client = guarded!(staff);
    let denied = client.check(call(&auth_header)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "You do not have permission to perform this action."
    );

    // The method's policy wins over the service's: anyone, even anonymous.
    let open = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&auth)
        .service::<(Jwt,), (IsAdminUser,)>("grpc.health.v1.Health")
        .method::<(Jwt,), (AllowAny,)>(CHECK)
        .build()
        .unwrap();
    let mut client = guarded!(open);
    let res = client.check(call(&[])).await.unwrap();
    assert_eq!(res.metadata().get("x-user-id").unwrap(), "anonymous");

    // A user store that cannot answer: UNAVAILABLE, never a pass.
    let down = Auth::builder(settings_with(|j| j.blacklist_enabled = false))
        .users(DownStore)
        .build()
        .unwrap();
    let layer = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&down)
        .build()
        .unwrap();
    let mut client = guarded!(layer);
    let unavailable = client.check(call(&auth_header)).await.unwrap_err();
    assert_eq!(unavailable.code(), Code::Unavailable);
    assert_eq!(
        unavailable.message(),
        "Authentication service temporarily unavailable."
    );
}

#[test]
fn misnamed_policies_and_unconfigured_schemes_fail_at_build() {
    let auth = Auth::builder(Settings::default())
        .users(users())
        .build()
        .unwrap();
    let err = GrpcAuth::new::<(Token,), (IsAuthenticated,)>(&auth)
        .method::<(), (AllowAny,)>("grpc.health.v1.Health/Check")
        .service::<(), (AllowAny,)>("/grpc.health.v1.Health")
        .method::<(Jwt,), (AllowAny,)>(CHECK)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("name it by its path, `/package.Service/Method`"),
        "{err}"
    );
    assert!(err.contains("name it as `package.Service`"), "{err}");
    assert!(err.contains(&format!("gRPC policy {CHECK}:")), "{err}");
    assert!(err.contains("gRPC policy default:"), "{err}");
}

/// A storeless scheme: `x-claims-user: <id>` names a user built from the
/// credential alone (as a gateway that verified the caller would send).
#[derive(Default)]
struct ClaimsUser;

#[restflow_auth::authenticator]
impl Authenticator<User> for ClaimsUser {
    async fn authenticate(&self, req: &Request<'_>, _: &Context<User>) -> Outcome<User> {
        let Some(id) = req.header("x-claims-user") else {
            return Ok(None);
        };
        match id.parse::<i64>() {
            Ok(id) => Ok(Some(Authenticated::user_only(user(
                id, "claims", true, false,
            )))),
            Err(_) => Err(AuthError::new(Rejection::AuthenticationFailed)),
        }
    }
    fn authenticate_header(&self, _: &Context<User>) -> Option<std::borrow::Cow<'static, str>> {
        Some("Claims".into())
    }
}

impl Storeless<User> for ClaimsUser {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interceptor_runs_storeless_chains() {
    let auth = Auth::builder(Settings::default())
        .users(users())
        .build()
        .unwrap();
    let interceptor = grpc::interceptor::<User, (ClaimsUser,), (IsAuthenticated,)>(&auth);
    let mut client = serve!(
        tonic::transport::Server::builder()
            .add_service(HealthServer::with_interceptor(WhoAmI, interceptor)),
    );
    let res = client
        .check(call(&[("x-claims-user", "42")]))
        .await
        .unwrap();
    assert_eq!(res.metadata().get("x-user-id").unwrap(), "42");
    let refused = client.check(call(&[])).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(
        refused.message(),
        "Authentication credentials were not provided."
    );
    assert_eq!(
        refused.metadata().get("www-authenticate").unwrap(),
        "Claims"
    );
    let bad = client
        .check(call(&[("x-claims-user", "x")]))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated);
    assert_eq!(bad.message(), "Incorrect authentication credentials.");

    // Every gRPC call is a POST: a read-only permission lets no anonymous
    // call through (on the layer as on the interceptor).
    let read_only = grpc::interceptor::<User, (ClaimsUser,), (IsAuthenticatedOrReadOnly,)>(&auth);
    let mut client = serve!(
        tonic::transport::Server::builder()
            .add_service(HealthServer::with_interceptor(WhoAmI, read_only)),
    );
    let refused = client.check(call(&[])).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let layer = GrpcAuth::new::<(ClaimsUser,), (IsAuthenticatedOrReadOnly,)>(&auth)
        .build()
        .unwrap();
    let mut client = guarded!(layer);
    let refused = client.check(call(&[])).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}
