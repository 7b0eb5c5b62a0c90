//! A small synchronous HTTP server with no async runtime, authenticating
//! with the blocking chain `(Jwt, Token)` from the same settings and stores
//! an axum service would use.
//!
//! ```text
//! cargo run --example blocking -- [ADDR]     # default 127.0.0.1:8001
//! ```
//!
//! It prints `listening on http://ADDR`, then a JWT access token and an API
//! token for the demo user, and answers `GET /api/whoami/` with DRF's
//! statuses, `WWW-Authenticate` and `{"detail": ...}` bodies.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use restflow_auth::dispatch;
use restflow_auth::jwt::{AccessToken, JwtState, MemoryBlacklist};
use restflow_auth::prelude::*;
use restflow_auth::settings::Secret;
use restflow_auth::token::{MemoryTokenStore, TokenStore};

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

type Chain = (Jwt, Token);
type Perms = (IsAuthenticated,);

/// Reads one request's head into `http` parts (no body is needed here).
fn read_head(stream: &TcpStream) -> std::io::Result<Option<http::request::Parts>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(method), Some(path)) = (words.next(), words.next()) else {
        return Ok(None);
    };
    let mut builder = http::Request::builder().method(method).uri(path);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    Ok(builder.body(()).ok().map(|r| r.into_parts().0))
}

fn respond(
    mut stream: &TcpStream,
    status: u16,
    extra: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn handle(stream: TcpStream, auth: &Auth<User>) -> std::io::Result<()> {
    let Some(parts) = read_head(&stream)? else {
        return Ok(());
    };
    if parts.uri.path() != "/api/whoami/" {
        return respond(&stream, 404, &[], r#"{"detail":"Not found."}"#);
    }
    // The blocking chain: no runtime anywhere in this process.
    match dispatch::authenticate_blocking::<User, Chain, Perms>(
        &Request::new(&parts),
        auth.context(),
    ) {
        Ok(identity) => {
            let body = serde_json::json!({ "id": identity.user.user().map(|u| u.id), "username": identity.user.username() });
            respond(&stream, 200, &[], &body.to_string())
        }
        Err(denial) => {
            let lang = parts
                .headers
                .get("accept-language")
                .and_then(|v| v.to_str().ok());
            let language = auth.context().messages().negotiate(lang).to_owned();
            let body = denial.body(auth.context().messages(), &language);
            let challenge: Vec<(&str, &str)> = denial
                .www_authenticate()
                .map(|c| ("WWW-Authenticate", c))
                .into_iter()
                .collect();
            respond(&stream, denial.status().as_u16(), &challenge, &body)
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // restflow-auth reports requests that failed closed, store errors and
    // wiring mistakes through `tracing`; RUST_LOG=debug says more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".into());
    let mut settings = Settings::load()?;
    if settings.jwt.signing_key.is_none() {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes)?;
        settings.jwt.signing_key = Some(Secret::new(
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        ));
    }
    settings.jwt.allow_local_blacklist = true;
    let users = MemoryUserStore::new();
    let demo = User {
        id: 1,
        username: "demo".into(),
        password: String::new(),
        is_active: true,
        is_staff: false,
    };
    users.insert(demo.clone());
    let tokens = MemoryTokenStore::new();
    let key = tokens.issue_blocking(&1)?;
    let auth = Auth::<User>::builder(settings)
        .users(users)
        .tokens(tokens)
        .blacklist(MemoryBlacklist::new())
        .build()?;
    let access = AccessToken::for_user(
        &demo,
        auth.context().store::<JwtState>().expect("JWT configured"),
    )?;

    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("jwt {access}");
    println!("token {key}");
    std::thread::scope(|s| {
        for stream in listener.incoming().flatten() {
            let auth = &auth;
            s.spawn(move || {
                if let Err(e) = handle(stream, auth) {
                    eprintln!("connection error: {e}");
                }
            });
        }
    });
    Ok(())
}
