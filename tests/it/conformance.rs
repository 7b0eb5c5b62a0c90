//! The parity server (`examples/conformance`) as a user runs it: the built
//! example binary, started on a free port with the shared fixtures, and a
//! sample of the contract's routes checked over real HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip_or_fail(why: &str) -> Option<Server> {
    assert!(
        std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("skipped: {why}");
    None
}

pub(crate) fn start(store: &str, blacklist: &str) -> Option<Server> {
    start_with(store, blacklist, &[])
}

/// The fixtures and the built example, or why not.
fn example() -> Result<(String, std::path::PathBuf), String> {
    let fixtures = format!(
        "{}/../shared/conformance/fixtures.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if !std::path::Path::new(&fixtures).exists() {
        return Err("../shared/conformance/fixtures.json is not beside the project".into());
    }
    // target/<profile>/deps/it-<hash> -> target/<profile>/examples/conformance
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("conformance");
    if !bin.exists() {
        return Err(
            "the conformance example is not built (run the whole test suite, which builds examples)"
                .into(),
        );
    }
    Ok((fixtures, bin))
}

/// The server started with more flags (`--jwt-keys DIR`, ...).
pub(crate) fn start_with(store: &str, blacklist: &str, extra: &[&str]) -> Option<Server> {
    let (fixtures, bin) = match example() {
        Ok(v) => v,
        Err(why) => return skip_or_fail(&why),
    };
    let mut child = Command::new(bin)
        .args([
            "--fixtures",
            &fixtures,
            "--addr",
            "127.0.0.1:0",
            "--store",
            store,
            "--blacklist",
            blacklist,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the conformance server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_owned();
    Some(Server { child, addr })
}

/// Runs the server with `extra` flags that must make it exit; answers its
/// standard error.
pub(crate) fn run_to_exit(extra: &[&str]) -> String {
    let (fixtures, bin) = example().unwrap();
    let out = Command::new(bin)
        .args(["--fixtures", &fixtures, "--addr", "127.0.0.1:0"])
        .args(extra)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

use crate::common::http;

fn simplejwt_token(user_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payload = json!({"token_type": "access", "exp": now + 300, "iat": now, "jti": "00112233445566778899aabbccddeeff", "user_id": user_id});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut mac =
        Hmac::<Sha256>::new_from_slice(b"conformance-simplejwt-signing-key-fedcba9876543210fedcba")
            .unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The whole contract on every store: memory, a SQLite file and a
/// PostgreSQL schema of the test's own (each with its blacklist beside it).
#[test]
fn the_parity_server_answers_the_contract_on_every_store() {
    let tmp = std::env::temp_dir().join(format!("restflow-contract-{}.db", std::process::id()));
    let sqlite = format!("sqlite:{}", tmp.display());
    let mut stores = vec!["memory".to_owned(), sqlite];
    let schema = format!("restflow_test_contract_{}", std::process::id());
    let pg = crate::sql::database_url();
    if let Some(url) = &pg {
        psql(url, &format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
        let sep = if url.contains('?') { '&' } else { '?' };
        stores.push(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
    }
    for store in &stores {
        let Some(server) = start(store, store) else {
            return;
        };
        eprintln!("contract on {store}");
        contract(&server.addr);
    }
    if let Some(url) = &pg {
        psql(url, &format!("DROP SCHEMA {schema} CASCADE"));
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
}

fn contract(a: &str) {
    // Its OpenAPI document: each route's chain, as security requirements.
    let doc = http(a, "GET", "/api/openapi.json", &[], None);
    assert_eq!(doc.status, 200);
    let paths = &doc.body["paths"];
    assert_eq!(
        paths["/api/whoami/jwt-session/"]["post"]["security"],
        json!([{"jwt": []}, {"session": [], "csrf": [], "csrf_cookie": []}])
    );
    assert_eq!(
        paths["/api/whoami/readonly/"]["get"]["security"],
        json!([{"jwt": []}, {}])
    );
    assert_eq!(
        paths["/api/whoami/readonly/"]["post"]["security"],
        json!([{"jwt": []}])
    );
    // The remote-user header is the proxy's, never the client's: not published.
    assert!(doc.body["components"]["securitySchemes"]["remote_user"].is_null());
    assert!(paths["/api/whoami/remote/"]["get"]["security"].is_null());
    let not_provided = json!({"detail": "Authentication credentials were not provided."});

    // Anonymous.
    let r = http(a, "GET", "/api/whoami/open/", &[], None);
    assert_eq!(
        (r.status, r.body),
        (200, json!({"id": null, "username": ""}))
    );
    let r = http(a, "GET", "/api/whoami/default/", &[], None);
    assert_eq!(
        (r.status, r.header("www-authenticate"), &r.body),
        (401, Some("Bearer realm=\"api\""), &not_provided)
    );
    let r = http(a, "GET", "/api/whoami/session-jwt/", &[], None);
    assert_eq!(
        (r.status, r.header("www-authenticate"), &r.body),
        (403, None, &not_provided)
    );
    let r = http(a, "POST", "/api/whoami/readonly/", &[], None);
    assert_eq!(r.status, 401);

    // JWT: obtain, use, refresh with rotation.
    let r = http(
        a,
        "POST",
        "/api/auth/token/",
        &[],
        Some(json!({"username": "root", "password": "root-password-3"})),
    );
    assert_eq!(r.status, 200);
    let bearer = format!("Bearer {}", r.body["access"].as_str().unwrap());
    let refresh = r.body["refresh"].clone();
    let r = http(
        a,
        "GET",
        "/api/whoami/admin/",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (200, json!({"id": 3, "username": "root"}))
    );
    let r = http(
        a,
        "POST",
        "/api/auth/token/refresh/",
        &[],
        Some(json!({"refresh": refresh})),
    );
    assert_eq!(r.status, 200);
    let r = http(
        a,
        "POST",
        "/api/auth/token/refresh/",
        &[],
        Some(json!({"refresh": refresh})),
    );
    assert_eq!(
        (r.status, r.body),
        (401, json!({"detail": "Token has been blacklisted."}))
    );
    let r = http(
        a,
        "POST",
        "/api/auth/token/",
        &[],
        Some(json!({"username": "bob", "password": "bob-password-2"})),
    );
    assert_eq!(
        (r.status, r.body),
        (
            401,
            json!({"detail": "No active account found with the given credentials."})
        )
    );

    // Basic, Token, RemoteUser, SimpleJWT.
    let basic = format!("Basic {}", STANDARD.encode("alice:alice-password-1"));
    let r = http(
        a,
        "GET",
        "/api/whoami/basic/",
        &[("Authorization", &basic)],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (200, json!({"id": 1, "username": "alice"}))
    );
    let r = http(
        a,
        "GET",
        "/api/whoami/admin/",
        &[("Authorization", &basic)],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    let r = http(
        a,
        "GET",
        "/api/whoami/token/",
        &[(
            "Authorization",
            "Token dave00000000000000000000000000000000dave",
        )],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (200, json!({"id": 4, "username": "dave"}))
    );
    let r = http(
        a,
        "GET",
        "/api/whoami/token/",
        &[(
            "Authorization",
            "Token b0b00000000000000000000000000000000000b0",
        )],
        None,
    );
    assert_eq!(
        (r.status, r.header("www-authenticate"), &r.body),
        (
            401,
            Some("Token"),
            &json!({"detail": "User inactive or deleted."})
        )
    );
    let r = http(
        a,
        "GET",
        "/api/whoami/remote/",
        &[("X-Remote-User", "newcomer")],
        None,
    );
    assert_eq!(
        (r.status, r.body["username"].as_str()),
        (200, Some("newcomer"))
    );
    let r = http(
        a,
        "GET",
        "/api/whoami/simplejwt/",
        &[("Authorization", &format!("Bearer {}", simplejwt_token("4")))],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (200, json!({"id": 4, "username": "dave"}))
    );

    // Session: login, CSRF, logout.
    let r = http(
        a,
        "POST",
        "/api/auth/session/login/",
        &[],
        Some(json!({"username": "dave", "password": "dave-password-4"})),
    );
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"id": 4, "username": "dave"}))
    );
    let (sid, csrf) = (
        r.cookie("sessionid").unwrap(),
        r.cookie("csrftoken").unwrap(),
    );
    let cookies = format!("sessionid={sid}; csrftoken={csrf}");
    let r = http(
        a,
        "POST",
        "/api/whoami/session/",
        &[("Cookie", &cookies)],
        None,
    );
    assert_eq!(
        (r.status, r.body),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );
    let r = http(
        a,
        "POST",
        "/api/whoami/session/",
        &[("Cookie", &cookies), ("X-CSRFToken", &csrf)],
        None,
    );
    assert_eq!(r.status, 200);
    let r = http(
        a,
        "POST",
        "/api/auth/session/logout/",
        &[("Cookie", &cookies), ("X-CSRFToken", &csrf)],
        None,
    );
    assert_eq!(r.status, 204);
    let r = http(
        a,
        "GET",
        "/api/whoami/session/",
        &[("Cookie", &cookies)],
        None,
    );
    assert_eq!((r.status, r.body), (403, not_provided));
    let r = http(
        a,
        "POST",
        "/api/auth/session/login/",
        &[],
        Some(json!({"username": "dave", "password": "nope"})),
    );
    assert_eq!(
        (r.status, r.body),
        (403, json!({"detail": "Invalid username/password."}))
    );
    let r = http(a, "GET", "/api/csrf/", &[], None);
    assert_eq!(
        (r.status, r.body["csrftoken"].as_str().map(str::len)),
        (200, Some(64))
    );
}

/// The contract's rotation rows on every blacklist backend the machine has.
#[test]
fn every_blacklist_backend_serves_rotation() {
    let mut backends = vec!["memory".to_owned()];
    let tmp = std::env::temp_dir().join(format!("restflow-conformance-{}.db", std::process::id()));
    backends.push(format!("sqlite:{}", tmp.display()));
    if let Ok(url) = std::env::var("RESTFLOW_TEST_REDIS_URL") {
        backends.push(url);
    }
    // Postgres in a schema of this test's own, dropped at the end.
    let schema = format!("restflow_test_conformance_{}", std::process::id());
    let pg = std::env::var("RESTFLOW_TEST_DATABASE_URL").ok();
    if let Some(url) = &pg {
        psql(url, &format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
        let sep = if url.contains('?') { '&' } else { '?' };
        backends.push(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
    }
    for backend in backends {
        let Some(server) = start("memory", &backend) else {
            return;
        };
        let pid = server.child.id();
        let a = server.addr.as_str();
        let r = http(
            a,
            "POST",
            "/api/auth/token/",
            &[],
            Some(json!({"username": "alice", "password": "alice-password-1"})),
        );
        assert_eq!(r.status, 200, "{backend}");
        let refresh = r.body["refresh"].clone();
        let r = http(
            a,
            "POST",
            "/api/auth/token/refresh/",
            &[],
            Some(json!({"refresh": refresh})),
        );
        assert_eq!(r.status, 200, "{backend}");
        let r = http(
            a,
            "POST",
            "/api/auth/token/refresh/",
            &[],
            Some(json!({"refresh": refresh})),
        );
        assert_eq!(
            (r.status, r.body),
            (401, json!({"detail": "Token has been blacklisted."})),
            "{backend}"
        );
        let r = http(
            a,
            "POST",
            "/api/auth/token/blacklist/",
            &[],
            Some(json!({"refresh": refresh})),
        );
        assert_eq!(r.status, 204, "{backend}");
        drop(server);
        if backend.starts_with("redis:") {
            let mut conn = redis::Client::open(backend.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("restflow:conformance:{pid}:*"))
                .query(&mut conn)
                .unwrap();
            if !keys.is_empty() {
                let () = redis::cmd("DEL").arg(keys).query(&mut conn).unwrap();
            }
        }
    }
    if let Some(url) = &pg {
        psql(url, &format!("DROP SCHEMA {schema} CASCADE"));
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
}

/// Runs one statement on its own runtime and connection.
fn psql(url: &str, sql: &str) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    });
}
