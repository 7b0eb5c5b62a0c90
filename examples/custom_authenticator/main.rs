//! A custom authenticator written once with `#[restflow_auth::authenticator]`
//! (see `signature.rs`), run through both generated paths: the async one
//! and the blocking one, on a thread with no async runtime.
//!
//! ```text
//! cargo run --example custom_authenticator
//! ```

mod signature;

use restflow_auth::dispatch;
use restflow_auth::prelude::*;
use signature::{ApiKeySignature, ApiKeys, signature};

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

type Chain = (ApiKeySignature,);
type Perms = (IsAuthenticated,);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // restflow-auth reports requests that failed closed, store errors and
    // wiring mistakes through `tracing`; RUST_LOG=debug says more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let users = MemoryUserStore::new();
    users.insert(User {
        id: 1,
        username: "alice".into(),
        password: String::new(),
        is_active: true,
        is_staff: false,
    });
    let keys = ApiKeys::<i64>::new().with_key("alice-key", 1, b"alice-secret");
    let auth = Auth::<User>::builder(Settings::default())
        .users(users)
        .with_store(keys)
        .build()?;

    let body = br#"{"item":"apples"}"#;
    for (label, secret) in [
        ("good signature", &b"alice-secret"[..]),
        ("bad signature", b"guess"),
    ] {
        let (parts, ()) = http::Request::post("/api/orders/")
            .header("X-Api-Key", "alice-key")
            .header(
                "X-Signature",
                signature(secret, "POST", "/api/orders/", body),
            )
            .body(())?
            .into_parts();
        let req = Request::new(&parts).with_body(body);

        let rt = tokio::runtime::Builder::new_current_thread().build()?;
        let async_answer = rt.block_on(dispatch::authenticate::<User, Chain, Perms>(
            &req,
            auth.context(),
        ));
        let blocking_answer = std::thread::scope(|s| {
            s.spawn(|| dispatch::authenticate_blocking::<User, Chain, Perms>(&req, auth.context()))
                .join()
        })
        .expect("blocking thread");

        for (path, answer) in [("async", async_answer), ("blocking", blocking_answer)] {
            match answer {
                Ok(identity) => {
                    println!("{label} ({path}): 200, user {}", identity.user.username())
                }
                Err(denial) => println!(
                    "{label} ({path}): {} {} {}",
                    denial.status().as_u16(),
                    denial.www_authenticate().unwrap_or("-"),
                    denial.body(auth.context().messages(), "en")
                ),
            }
        }
    }
    Ok(())
}
