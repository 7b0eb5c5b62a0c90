//! The parity server of `shared/conformance/CONTRACT.md`:
//!
//! ```text
//! cargo run --release --example conformance -- --fixtures PATH --addr 127.0.0.1:PORT \
//!     [--store memory|sqlite:PATH|postgres:URL] [--blacklist memory|sqlite:PATH|postgres:URL|redis:URL]
//!     [--throttle memory|redis://URL] [--redis-prefix PREFIX] [--jwt-keys DIR]
//!     [--external-jwks URL --external-issuer ISS --external-audience AUD]
//! ```
//!
//! `--jwt-keys DIR`: the built-in JWT signs with the keys of DIR, one PKCS#8
//! PEM private key per file `<kid>.pem` (RSA, EC P-256 or Ed25519; the
//! algorithm follows the key: RS256, ES256, EdDSA) and a file `ACTIVE`
//! holding the kid that signs. Every key verifies, and the public set is
//! served at `/.well-known/jwks.json`.
//!
//! `--redis-prefix PREFIX`: the Redis keys' prefix (default: one of this
//! process's own, `restflow:conformance:<pid>:`); instances of one service
//! given the same prefix share the blacklist and the throttles.
//!
//! `--external-jwks URL --external-issuer ISS --external-audience AUD`
//! (all three): `/api/whoami/external/` accepts the tokens of that issuer
//! (`ExternalJwt`, IsAuthenticated; `sub` names a username of the
//! fixtures), its keys fetched from the JWK set at URL.
//!
//! ```text
//! ```
//!
//! It prints `listening on http://ADDR` once it accepts connections.

mod server;

use server::Backend;

// The project defaults the contract's `/api/whoami/default/` relies on.
restflow_auth::config! {
    user: server::User,
    authentication: [restflow_auth::Jwt, restflow_auth::Session],
    permissions: [restflow_auth::permissions::IsAuthenticated],
    throttle_rates: { anon: "3/min", user: "5/min" },
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: conformance --fixtures PATH --addr HOST:PORT [--store memory|sqlite:PATH|postgres:URL] [--blacklist memory|sqlite:PATH|postgres:URL|redis:URL] [--throttle memory|redis://URL] [--redis-prefix PREFIX] [--jwt-keys DIR] [--external-jwks URL --external-issuer ISS --external-audience AUD]"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    // A startup error says what to fix, in words (not as a Debug dump).
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // restflow-auth reports requests that failed closed, store errors and
    // wiring mistakes through `tracing`; RUST_LOG=debug says more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut fixtures = None;
    let mut jwt_keys = None;
    let mut redis_prefix = None;
    let (mut ext_jwks, mut ext_issuer, mut ext_audience) = (None, None, None);
    let mut addr = "127.0.0.1:8000".to_owned();
    let (mut store, mut blacklist, mut throttle) =
        (Backend::Memory, Backend::Memory, Backend::Memory);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--fixtures" => fixtures = Some(value()),
            "--addr" => addr = value(),
            "--store" => store = Backend::parse("--store", &value()).unwrap_or_else(|e| usage(&e)),
            "--blacklist" => {
                blacklist = Backend::parse("--blacklist", &value()).unwrap_or_else(|e| usage(&e))
            }
            "--throttle" => {
                throttle = Backend::parse("--throttle", &value()).unwrap_or_else(|e| usage(&e));
                if !matches!(throttle, Backend::Memory | Backend::Redis(_)) {
                    usage("--throttle takes memory or redis://URL");
                }
            }
            "--redis-prefix" => redis_prefix = Some(value()),
            "--jwt-keys" => jwt_keys = Some(std::path::PathBuf::from(value())),
            "--external-jwks" => ext_jwks = Some(value()),
            "--external-issuer" => ext_issuer = Some(value()),
            "--external-audience" => ext_audience = Some(value()),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let external = match (ext_jwks, ext_issuer, ext_audience) {
        (Some(jwks), Some(issuer), Some(audience)) => Some(server::External {
            jwks,
            issuer,
            audience,
        }),
        (None, None, None) => None,
        _ => usage("--external-jwks, --external-issuer and --external-audience go together"),
    };
    let path = fixtures.unwrap_or_else(|| usage("--fixtures is required"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let fixtures: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let app = server::app(
        &fixtures,
        &store,
        &blacklist,
        &throttle,
        redis_prefix.as_deref(),
        jwt_keys.as_deref(),
        external.as_ref(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // The peer address is the anonymous throttle's client identity.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
