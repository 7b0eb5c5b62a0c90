//! The baselines `bench/load.sh routes` measures restflow-auth against: a
//! plain axum server with no authentication library, whose routes do by
//! hand the lookups the conformance example's routes do through
//! restflow-auth, on the same fixtures (users, API tokens, the JWT key).
//!
//! ```text
//! cargo run --release --example handwritten -- --fixtures PATH --addr 127.0.0.1:PORT
//! ```
//!
//! | route | what the handler's extractor does |
//! | --- | --- |
//! | `/plain/` | nothing: the server without authentication |
//! | `/jwt/` | `Authorization: Bearer <token>`: jsonwebtoken's HS256 decode with `exp` checked, `token_type == "access"`, the `jti` looked up in a set of revoked ids, the user by id in a map |
//! | `/token/` | `Authorization: Token <key>`: the key in a map, then the user by id |
//! | `/session/` | the `sessionid` cookie in a map, the user by id, Django's session auth hash (HMAC-SHA256 of the password hash) compared in constant time |
//!
//! Every miss is a 401 with `WWW-Authenticate` and a `{"detail": ...}`
//! body; a hit answers the JSON the conformance example's whoami routes
//! answer. `POST /session/login/` gives `alice` a session cookie and
//! `POST /jwt/obtain/` an access token with the claims the conformance
//! server's carry (no password check: the routes, not the login, are
//! measured). It prints `listening on http://ADDR` once it accepts
//! connections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
struct User {
    id: i64,
    username: String,
    password_hash: String,
    is_active: bool,
}

#[derive(Default)]
struct Db {
    users: HashMap<i64, User>,
    tokens: HashMap<String, i64>,
    sessions: RwLock<HashMap<String, (i64, String)>>,
    revoked: RwLock<HashSet<String>>,
    key: Option<jsonwebtoken::DecodingKey>,
    validation: Option<jsonwebtoken::Validation>,
    secret: String,
    signing_key: String,
}

type Shared = Arc<Db>;

struct Unauthorized(&'static str, &'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut res = (StatusCode::UNAUTHORIZED, Json(json!({ "detail": self.1 }))).into_response();
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(self.0));
        res
    }
}

fn authorization(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()
}

fn active(db: &Db, id: i64) -> Option<User> {
    db.users.get(&id).filter(|u| u.is_active).cloned()
}

struct JwtUser(User);

impl FromRequestParts<Shared> for JwtUser {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, db: &Shared) -> Result<Self, Unauthorized> {
        const CHALLENGE: &str = "Bearer realm=\"api\"";
        let missing = Unauthorized(CHALLENGE, "Authentication credentials were not provided.");
        let invalid = Unauthorized(CHALLENGE, "Given token not valid for any token type");
        let token = authorization(parts)
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(missing)?;
        let (Some(key), Some(validation)) = (&db.key, &db.validation) else {
            return Err(Unauthorized(CHALLENGE, "no key"));
        };
        let claims = jsonwebtoken::decode::<Value>(token, key, validation)
            .map_err(|_| Unauthorized(CHALLENGE, "Given token not valid for any token type"))?
            .claims;
        if claims["token_type"] != "access" {
            return Err(invalid);
        }
        let jti = claims["jti"].as_str().unwrap_or_default();
        if db.revoked.read().unwrap().contains(jti) {
            return Err(Unauthorized(CHALLENGE, "Token is blacklisted"));
        }
        let id = claims["user_id"].as_i64().ok_or(invalid)?;
        active(db, id)
            .map(JwtUser)
            .ok_or(Unauthorized(CHALLENGE, "User not found"))
    }
}

struct TokenUser(User);

impl FromRequestParts<Shared> for TokenUser {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, db: &Shared) -> Result<Self, Unauthorized> {
        let key = authorization(parts)
            .and_then(|h| h.strip_prefix("Token "))
            .ok_or(Unauthorized(
                "Token",
                "Authentication credentials were not provided.",
            ))?;
        db.tokens
            .get(key)
            .and_then(|id| active(db, *id))
            .map(TokenUser)
            .ok_or(Unauthorized("Token", "Invalid token."))
    }
}

fn session_auth_hash(password_hash: &str, secret: &str) -> String {
    // Django's salted_hmac: the HMAC key is sha256(salt + secret).
    let salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";
    let key = Sha256::digest(format!("{salt}{secret}").as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(password_hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

struct SessionUser(User);

impl FromRequestParts<Shared> for SessionUser {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, db: &Shared) -> Result<Self, Unauthorized> {
        // Session authentication has no challenge: DRF answers 403, but the
        // baseline's miss path is not measured, so one shape serves.
        let missing = Unauthorized("Session", "Authentication credentials were not provided.");
        let cookies = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .ok_or(missing)?;
        let key = cookies
            .split(';')
            .find_map(|c| c.trim().strip_prefix("sessionid="))
            .ok_or(Unauthorized(
                "Session",
                "Authentication credentials were not provided.",
            ))?;
        let (id, hash) = db
            .sessions
            .read()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or(Unauthorized(
                "Session",
                "Authentication credentials were not provided.",
            ))?;
        let user = active(db, id).ok_or(Unauthorized("Session", "User not found"))?;
        let expected = session_auth_hash(&user.password_hash, &db.secret);
        if !subtle_eq(expected.as_bytes(), hash.as_bytes()) {
            return Err(Unauthorized("Session", "Session expired"));
        }
        Ok(SessionUser(user))
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn whoami(user: Option<&User>) -> Json<Value> {
    Json(json!({ "id": user.map(|u| u.id), "username": user.map_or("", |u| &u.username) }))
}

async fn plain() -> Json<Value> {
    whoami(None)
}

async fn jwt(JwtUser(user): JwtUser) -> Json<Value> {
    whoami(Some(&user))
}

async fn token(TokenUser(user): TokenUser) -> Json<Value> {
    whoami(Some(&user))
}

async fn session(SessionUser(user): SessionUser) -> Json<Value> {
    whoami(Some(&user))
}

async fn login(State(db): State<Shared>) -> Response {
    let Some(user) = db.users.values().find(|u| u.username == "alice") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS random source");
    let key = hex::encode(raw);
    let hash = session_auth_hash(&user.password_hash, &db.secret);
    db.sessions
        .write()
        .unwrap()
        .insert(key.clone(), (user.id, hash));
    let mut res = whoami(Some(user)).into_response();
    let cookie = HeaderValue::from_str(&format!("sessionid={key}; HttpOnly; Path=/"))
        .expect("hex is a header value");
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res
}

async fn obtain(State(db): State<Shared>) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS random source");
    let claims = json!({
        "token_type": "access",
        "exp": now + 3600,
        "iat": now,
        "jti": hex::encode(raw),
        "user_id": 1,
    });
    let Ok(key) = jsonwebtoken::EncodingKey::from_secret(db.signing_key.as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key) {
        Ok(access) => Json(json!({ "access": access })).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn load(fixtures: &Value) -> Result<Db, String> {
    let mut db = Db {
        secret: "restflow-handwritten-baseline-secret".into(),
        ..Db::default()
    };
    for u in fixtures["users"].as_array().ok_or("fixtures: no users")? {
        let user = User {
            id: u["id"].as_i64().ok_or("fixtures: a user without an id")?,
            username: u["username"].as_str().unwrap_or_default().to_owned(),
            // Any stable text: the session hash is an HMAC of it.
            password_hash: format!("baseline${}", u["password"].as_str().unwrap_or_default()),
            is_active: u["is_active"].as_bool().unwrap_or(true),
        };
        db.users.insert(user.id, user);
    }
    for t in fixtures["tokens"].as_array().ok_or("fixtures: no tokens")? {
        let key = t["key"].as_str().ok_or("fixtures: a token without a key")?;
        let id = t["user_id"]
            .as_i64()
            .ok_or("fixtures: a token without a user")?;
        db.tokens.insert(key.to_owned(), id);
    }
    let secret = fixtures["jwt"]["signing_key"]
        .as_str()
        .ok_or("fixtures: no jwt.signing_key")?;
    db.signing_key = secret.to_owned();
    db.key = Some(
        jsonwebtoken::DecodingKey::from_secret(secret.as_bytes())
            .map_err(|e| format!("fixtures: jwt.signing_key: {e}"))?,
    );
    // The same checks as the conformance server's: HS256, `exp`, no leeway.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    db.validation = Some(validation);
    Ok(db)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut fixtures, mut addr) = (None, "127.0.0.1:0".to_owned());
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--fixtures", Some(v)) => fixtures = Some(v),
            ("--addr", Some(v)) => addr = v,
            _ => {
                eprintln!("usage: handwritten --fixtures PATH [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let Some(path) = fixtures else {
        eprintln!("error: --fixtures is required");
        std::process::exit(2);
    };
    let db = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|text| serde_json::from_str(&text).map_err(|e| format!("{path}: {e}")))
        .and_then(|fixtures| load(&fixtures));
    let db = match db {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let app = axum::Router::new()
        .route("/plain/", get(plain))
        .route("/jwt/", get(jwt))
        .route("/token/", get(token))
        .route("/session/", get(session))
        .route("/session/login/", post(login))
        .route("/jwt/obtain/", post(obtain))
        .with_state(db);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on http://{}",
        listener.local_addr().expect("a bound socket")
    );
    axum::serve(listener, app).await.expect("the server runs");
}
