//! A tonic gRPC server behind restflow-auth, and a client calling it.
//!
//! ```text
//! cargo run --example grpc
//! ```
//!
//! The server runs gRPC's standard health service (tonic-health) with the
//! built-in JWT in front: every method needs an authenticated user. The
//! client then
//! calls it three ways and prints each answer: without a token
//! (`UNAUTHENTICATED`, DRF's message), with alice's token (`SERVING`), and
//! with a junk token.

use restflow_auth::grpc::GrpcAuth;
use restflow_auth::jwt::AccessToken;
use restflow_auth::prelude::*;
use restflow_auth::settings::Secret;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Clone, Debug, AuthUser)]
struct User {
    #[auth_user(id)]
    id: i64,
    #[auth_user(username)]
    username: String,
    #[auth_user(password_hash)]
    password: String,
    #[auth_user(is_active)]
    is_active: bool,
    #[auth_user(is_staff)]
    is_staff: bool,
}

restflow_auth::config! {
    user: User,
    authentication: [Jwt],
    permissions: [IsAuthenticated],
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut key = [0u8; 48];
    getrandom::fill(&mut key)?;
    let mut settings = Settings::load()?;
    settings.jwt.signing_key = Some(Secret::new(
        key.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ));
    settings.jwt.blacklist_enabled = false;
    let users = MemoryUserStore::new();
    let alice = User {
        id: 1,
        username: "alice".into(),
        password: String::new(),
        is_active: true,
        is_staff: false,
    };
    users.insert(alice.clone());
    let auth = Auth::<User>::builder(settings).users(users).build()?;

    // The policies: every method needs a JWT user (the default); a method
    // or a whole service can name its own chain and permissions.
    let layer = GrpcAuth::new::<(Jwt,), (IsAuthenticated,)>(&auth).build()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    println!("gRPC health service on http://{addr}, behind the built-in JWT");

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = HealthClient::new(channel);
    let token = AccessToken::for_user(&alice, auth.context().store().ok_or("no JWT")?)?;
    for (name, authorization) in [
        ("no token", None),
        ("alice's token", Some(format!("Bearer {}", token.as_str()))),
        ("a junk token", Some("Bearer not.a.token".to_owned())),
    ] {
        let mut req = tonic::Request::new(HealthCheckRequest::default());
        if let Some(v) = authorization {
            req.metadata_mut().insert("authorization", v.parse()?);
        }
        match client.check(req).await {
            Ok(res) => println!("{name}: OK, status {:?}", res.into_inner().status()),
            Err(status) => println!("{name}: {:?} \"{}\"", status.code(), status.message()),
        }
    }
    Ok(())
}
