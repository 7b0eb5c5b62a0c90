//! The differential test of issue 11: the conformance example against a
//! real drf-restflow 2.0.1 server (Django 5.2, DRF 3.18, simplejwt 5.5,
//! PyJWT 2.15) serving the same contract from the same fixtures
//! (`tests/drf_reference/`), compared request by request: status,
//! `WWW-Authenticate`, the JSON body (tokens by shape) and the cookies set
//! or deleted. Where restflow-auth differs on purpose (the rules of
//! `../shared/conformance/DRF-BEHAVIOUR.md`), the case names the rule and
//! what we answer instead, and that answer is asserted.
//!
//! `.ci/run` installs the Python side into its venv (`RESTFLOW_TEST_PYTHON`).
//! Run on the memory stores and on SQLite.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::conformance;

const JWT_KEY: &str = "conformance-jwt-signing-key-0123456789abcdef0123456789";
const SJWT_KEY: &str = "conformance-simplejwt-signing-key-fedcba9876543210fedcba";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/fixtures.json")
}

/// The Django reference server, killed on drop.
struct Reference {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn python() -> Option<String> {
    let python = std::env::var("RESTFLOW_TEST_PYTHON").ok()?;
    let ok = Command::new(&python)
        .args([
            "-c",
            "import django, rest_framework, restflow, rest_framework_simplejwt, jwt",
        ])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn manage(python: &str, db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(python);
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drf_reference"))
        .arg("manage.py")
        .args(args)
        .env("REFERENCE_FIXTURES", fixtures())
        .env("REFERENCE_DB", db)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// Migrates a fresh database, loads the fixtures and starts `runserver`.
fn start_reference(python: &str, tag: &str) -> Reference {
    let dir = std::env::temp_dir().join(format!("restflow-reference-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("db.sqlite3");
    for args in [&["migrate", "-v0"][..], &["load_fixtures"][..]] {
        let out = manage(python, &db, args).output().unwrap();
        assert!(
            out.status.success(),
            "manage.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = crate::common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = manage(
        python,
        &db,
        &["runserver", &addr, "--noreload", "--skip-checks"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the reference server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Reference {
        child,
        addr,
        _dir: TempDir(dir),
    }
}

// ---------------------------------------------------------------------------
// Requests and normalised replies.

#[derive(Clone, Debug)]
struct Step {
    method: &'static str,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// `(why, what we answer instead)`, when this step differs on purpose:
    /// `"rule N"` of DRF-BEHAVIOUR.md, or `"issue 11.N"` where issue 11
    /// asks for an answer stricter than the reference's.
    differs: Option<(&'static str, Expect)>,
}

/// What our side must answer where a rule makes it differ.
#[derive(Clone, Debug)]
struct Expect {
    status: u16,
    detail: Option<&'static str>,
}

fn req(method: &'static str, path: &str) -> Step {
    Step {
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        differs: None,
    }
}

fn get(path: &str) -> Step {
    req("GET", path)
}

fn post(path: &str) -> Step {
    req("POST", path)
}

impl Step {
    fn h(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }
    fn json(self, v: Value) -> Self {
        self.raw("application/json", v.to_string())
    }
    fn raw(mut self, content_type: &str, body: impl AsRef<[u8]>) -> Self {
        self.headers
            .push(("Content-Type".into(), content_type.as_bytes().to_vec()));
        self.body = body.as_ref().to_vec();
        self
    }
    fn form(self, body: &str) -> Self {
        self.raw("application/x-www-form-urlencoded", body)
    }
    fn bearer(self, token: &str) -> Self {
        self.h("Authorization", format!("Bearer {token}"))
    }
    fn auth(self, value: impl AsRef<[u8]>) -> Self {
        self.h("Authorization", value)
    }
    /// The session and CSRF cookies captured earlier in the case.
    fn cookies(self) -> Self {
        self.h(
            "Cookie",
            "sessionid={cookie:sessionid}; csrftoken={cookie:csrftoken}",
        )
    }
    fn differs(mut self, why: &'static str, status: u16, detail: Option<&'static str>) -> Self {
        self.differs = Some((why, Expect { status, detail }));
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Reply {
    status: u16,
    www_authenticate: Option<String>,
    /// `Retry-After`, as `<n>` when present (the wait is compared by shape:
    /// the two servers see slightly different clocks).
    retry_after: Option<String>,
    body: Value,
    /// Cookie name -> "set" or "deleted".
    cookies: BTreeMap<String, &'static str>,
}

/// Fills `{name}` placeholders from the case's captured values.
fn fill(text: &[u8], vars: &HashMap<String, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'{'
            && let Some(end) = text[i..].iter().position(|b| *b == b'}')
            && let Ok(name) = std::str::from_utf8(&text[i + 1..i + end])
            && let Some(v) = vars.get(name)
        {
            out.extend_from_slice(v.as_bytes());
            i += end + 1;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

fn send(addr: &str, step: &Step, vars: &HashMap<String, String>) -> (Reply, Vec<(String, String)>) {
    let path = String::from_utf8(fill(step.path.as_bytes(), vars)).unwrap();
    let body = fill(&step.body, vars);
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        step.method
    )
    .into_bytes();
    if !body.is_empty() || step.method == "POST" {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    for (k, v) in &step.headers {
        head.extend_from_slice(k.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(&fill(v, vars));
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(&body);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(&head).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Rule 6: messages that embed Python's own error text are compared up to
/// their stable prefix.
fn rule6(body: &mut Value) {
    const PREFIXES: &[&str] = &[
        "Invalid header string: ",
        "Invalid payload string: ",
        "JSON parse error - ",
    ];
    if let Some(Value::String(d)) = body.get_mut("detail") {
        if let Some(p) = PREFIXES.iter().find(|p| d.starts_with(**p)) {
            *d = format!("{p}...");
        } else if let Some(rest) = d.strip_prefix("Request was throttled. Expected available in ") {
            // The wait by shape: a number of seconds, singular or plural.
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let unit = &rest[n.len()..];
            assert!(
                !n.is_empty() && (unit == " seconds." || (n == "1" && unit == " second.")),
                "{d}"
            );
            *d = "Request was throttled. Expected available in <n> second(s).".to_owned();
        }
    }
}

/// Token strings and CSRF values are compared by shape.
fn shape(v: Value) -> Value {
    match v {
        Value::String(s) if looks_like_jwt(&s) => Value::String("<jwt>".into()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("csrftoken", Value::String(s)) if s.len() == 64 => {
                            Value::String("<masked csrf token>".into())
                        }
                        (_, v) => shape(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(shape).collect()),
        other => other,
    }
}

fn parse(raw: &[u8]) -> (Reply, Vec<(String, String)>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]);
    let payload = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let payload = if chunked {
        dechunk(payload)
    } else {
        payload.to_vec()
    };
    let body = if payload.is_empty() {
        Value::Null
    } else if header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        let mut v =
            serde_json::from_slice(&payload).map_or_else(|_| json!("<invalid json>"), shape);
        rule6(&mut v);
        v
    } else {
        json!(format!("<{}>", header("content-type").unwrap_or_default()))
    };
    let mut cookies = BTreeMap::new();
    let mut captured = Vec::new();
    for (k, v) in &headers {
        if k != "set-cookie" {
            continue;
        }
        let (name, rest) = v.split_once('=').unwrap_or((v, ""));
        let value = rest.split(';').next().unwrap_or("").trim();
        let lower = v.to_ascii_lowercase();
        let deleted = value.is_empty() || value == "\"\"" || lower.contains("max-age=0");
        cookies.insert(
            name.trim().to_owned(),
            if deleted { "deleted" } else { "set" },
        );
        if !deleted {
            captured.push((format!("cookie:{}", name.trim()), value.to_owned()));
        }
    }
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&payload) {
        for key in ["access", "refresh", "csrftoken"] {
            if let Some(Value::String(s)) = m.get(key) {
                captured.push((key.to_owned(), s.clone()));
            }
        }
    }
    (
        Reply {
            status,
            www_authenticate: header("www-authenticate"),
            retry_after: header("retry-after").map(|v| {
                assert!(
                    v.parse::<u64>().is_ok_and(|n| (1..=86_400).contains(&n)),
                    "Retry-After: {v}"
                );
                "<n>".to_owned()
            }),
            body,
            cookies,
        },
        captured,
    )
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

// ---------------------------------------------------------------------------
// Tokens.

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs256(key: &str, signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A token with `header` and `payload` (JSON text), signed with `key`.
fn craft(key: &str, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = hs256(key, &input);
    format!("{input}.{sig}")
}

const H: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// A built-in access token for user 1 with `extra` merged into the claims
/// (a `null` removes a claim).
fn access(extra: Value) -> String {
    token("access", extra)
}

fn token(kind: &str, extra: Value) -> String {
    let t = now();
    let mut c = json!({"token_type": kind, "iat": t, "exp": t + 300, "jti": format!("jti-{kind}-{}", unique()), "user_id": 1});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    craft(JWT_KEY, H, &c.to_string())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A simplejwt access token for `user_id` (as simplejwt writes it) with `extra`.
fn sjwt(extra: Value) -> String {
    let t = now();
    let mut c = json!({"token_type": "access", "exp": t + 300, "iat": t, "jti": format!("{:032x}", unique() + 1), "user_id": "1"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    craft(SJWT_KEY, H, &c.to_string())
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", STANDARD.encode(credentials))
}

fn login(user: &str, password: &str) -> Step {
    post("/api/auth/session/login/").json(json!({"username": user, "password": password}))
}

fn obtain(user: &str, password: &str) -> Step {
    post("/api/auth/token/").json(json!({"username": user, "password": password}))
}

// ---------------------------------------------------------------------------
// The cases.

struct Case {
    section: &'static str,
    name: &'static str,
    steps: Vec<Step>,
}

fn case(section: &'static str, name: &'static str, steps: Vec<Step>) -> Case {
    Case {
        section,
        name,
        steps,
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(format_cases());
    v.extend(dispatch_cases());
    v.extend(basic_cases());
    v.extend(session_cases());
    v.extend(token_cases());
    v.extend(jwt_cases());
    v.extend(simplejwt_cases());
    v.extend(view_cases());
    v.extend(throttle_cases());
    // Last: these create users, and the two sides create different ones.
    v.extend(remote_user_cases());
    v
}

const ALICE: (&str, &str) = ("alice", "alice-password-1");

fn alice_obtain() -> Step {
    obtain(ALICE.0, ALICE.1)
}

fn alice_login() -> Step {
    login(ALICE.0, ALICE.1)
}

/// A logged-in unsafe request to the session route with `extra` headers.
fn session_post(extra: &[(&str, &str)]) -> Step {
    let mut s = post("/api/whoami/session/").cookies();
    for (k, v) in extra {
        s = s.h(k, v);
    }
    s
}

fn format_cases() -> Vec<Case> {
    let s = "2.0 format";
    let obtain_with = |ct: &str, body: &str| post("/api/auth/token/").raw(ct, body);
    vec![
        case(
            s,
            "not acceptable",
            vec![get("/api/whoami/jwt/").h("Accept", "application/xml")],
        ),
        case(
            s,
            "acceptable json",
            vec![get("/api/whoami/open/").h("Accept", "application/json; q=0.9, application/xml")],
        ),
        case(
            s,
            "not acceptable on a view",
            vec![alice_obtain().h("Accept", "image/png")],
        ),
        case(
            s,
            "put not allowed",
            vec![
                alice_obtain(),
                req("PUT", "/api/whoami/jwt/").bearer("{access}"),
            ],
        ),
        case(
            s,
            "delete not allowed",
            vec![
                alice_obtain(),
                req("DELETE", "/api/whoami/token/")
                    .bearer("{access}")
                    .differs("rule 10", 405, Some("Method \"DELETE\" not allowed.")),
            ],
        ),
        case(
            s,
            "empty accept",
            vec![get("/api/whoami/open/").h("Accept", "")],
        ),
        case(
            s,
            "accept sent twice",
            vec![
                get("/api/whoami/open/")
                    .h("Accept", "application/xml")
                    .h("Accept", "application/json"),
            ],
        ),
        case(
            s,
            "accept with a wildcard subtype",
            vec![get("/api/whoami/open/").h("Accept", "application/*")],
        ),
        case(
            s,
            "not acceptable before bad credentials",
            vec![
                get("/api/whoami/jwt/")
                    .bearer("garbage")
                    .h("Accept", "application/xml"),
            ],
        ),
        case(
            s,
            "not acceptable on the csrf view",
            vec![get("/api/csrf/").h("Accept", "application/xml")],
        ),
        case(s, "get on the obtain view", vec![get("/api/auth/token/")]),
        case(
            s,
            "get on the refresh view",
            vec![get("/api/auth/token/refresh/")],
        ),
        case(
            s,
            "get on the blacklist view",
            vec![get("/api/auth/token/blacklist/")],
        ),
        case(
            s,
            "get on the login view",
            vec![get("/api/auth/session/login/")],
        ),
        case(
            s,
            "text/plain",
            vec![obtain_with("text/plain", "username=alice")],
        ),
        case(
            s,
            "malformed json",
            vec![obtain_with("application/json", "{bad")],
        ),
        case(
            s,
            "json array",
            vec![obtain_with("application/json", "[1]")],
        ),
        case(
            s,
            "json string",
            vec![obtain_with("application/json", "\"alice\"")],
        ),
        case(s, "json number", vec![obtain_with("application/json", "5")]),
        case(
            s,
            "json null",
            vec![obtain_with("application/json", "null")],
        ),
        case(
            s,
            "json not utf-8",
            vec![post("/api/auth/token/").raw("application/json", b"{\"username\":\"\xff\"}")],
        ),
        case(
            s,
            "json charset parameter",
            vec![obtain_with(
                "application/json; charset=utf-8",
                &json!({"username": "alice", "password": "alice-password-1"}).to_string(),
            )],
        ),
        case(
            s,
            "deeply nested json",
            vec![
                obtain_with(
                    "application/json",
                    &format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
                )
                .differs("rule 8", 400, Some("JSON parse error - ")),
            ],
        ),
        case(
            s,
            "body over the limit",
            vec![
                obtain_with(
                    "application/json",
                    &format!("{{\"username\":\"{}\"}}", "a".repeat(1_100_000)),
                )
                .differs("rule 13", 413, None),
            ],
        ),
    ]
}

fn dispatch_cases() -> Vec<Case> {
    let s = "2.1 dispatch";
    vec![
        case(
            s,
            "jwt-session anonymous",
            vec![get("/api/whoami/jwt-session/")],
        ),
        case(
            s,
            "jwt-session garbage",
            vec![get("/api/whoami/jwt-session/").bearer("garbage")],
        ),
        case(
            s,
            "session-jwt anonymous",
            vec![get("/api/whoami/session-jwt/")],
        ),
        case(
            s,
            "session-jwt garbage",
            vec![get("/api/whoami/session-jwt/").bearer("garbage")],
        ),
        case(
            s,
            "session-jwt valid bearer",
            vec![
                alice_obtain(),
                get("/api/whoami/session-jwt/").bearer("{access}"),
            ],
        ),
        case(s, "default anonymous", vec![get("/api/whoami/default/")]),
        case(
            s,
            "default bearer",
            vec![
                alice_obtain(),
                post("/api/whoami/default/").bearer("{access}"),
            ],
        ),
        case(s, "open anonymous", vec![get("/api/whoami/open/")]),
        case(
            s,
            "open garbage bearer",
            vec![get("/api/whoami/open/").bearer("garbage")],
        ),
        case(
            s,
            "open with a token scheme",
            vec![get("/api/whoami/open/").auth("Token abc")],
        ),
        case(s, "admin anonymous", vec![get("/api/whoami/admin/")]),
        case(
            s,
            "admin non-staff",
            vec![alice_obtain(), get("/api/whoami/admin/").bearer("{access}")],
        ),
        case(
            s,
            "admin staff basic",
            vec![get("/api/whoami/admin/").auth(basic("root:root-password-3"))],
        ),
        case(
            s,
            "admin bearer garbage",
            vec![get("/api/whoami/admin/").bearer("garbage")],
        ),
        case(
            s,
            "readonly anonymous get",
            vec![get("/api/whoami/readonly/")],
        ),
        case(
            s,
            "readonly anonymous post",
            vec![post("/api/whoami/readonly/")],
        ),
        case(
            s,
            "readonly anonymous head",
            vec![req("HEAD", "/api/whoami/readonly/")],
        ),
        case(
            s,
            "jwt valid",
            vec![alice_obtain(), get("/api/whoami/jwt/").bearer("{access}")],
        ),
        case(
            s,
            "session-jwt: session cookie and bearer, post without csrf",
            vec![
                alice_login(),
                alice_obtain(),
                post("/api/whoami/session-jwt/")
                    .h("Cookie", "sessionid={cookie:sessionid}")
                    .bearer("{access}"),
            ],
        ),
        case(
            s,
            "jwt-session: session cookie and bearer, post without csrf",
            vec![
                alice_login(),
                alice_obtain(),
                post("/api/whoami/jwt-session/")
                    .h("Cookie", "sessionid={cookie:sessionid}")
                    .bearer("{access}"),
            ],
        ),
        case(
            s,
            "two bearer headers",
            vec![
                alice_obtain(),
                get("/api/whoami/jwt/")
                    .bearer("{access}")
                    .bearer("{access}"),
            ],
        ),
    ]
}

fn basic_cases() -> Vec<Case> {
    let s = "2.2 basic";
    let b = |v: &[u8]| get("/api/whoami/basic/").auth(v);
    vec![
        case(s, "none", vec![get("/api/whoami/basic/")]),
        case(s, "other scheme", vec![b(b"Bearer x")]),
        case(s, "scheme alone", vec![b(b"Basic")]),
        case(s, "spaces", vec![b(b"Basic a b")]),
        case(s, "not base64", vec![b(b"Basic !!!")]),
        case(
            s,
            "missing padding",
            vec![b(b"Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMQ")],
        ),
        case(s, "no colon", vec![b(basic("alice").as_bytes())]),
        case(s, "raw bytes", vec![b(b"Basic \xff\xfe")]),
        case(s, "wrong password", vec![b(basic("alice:nope").as_bytes())]),
        case(s, "unknown user", vec![b(basic("zed:nope").as_bytes())]),
        case(s, "empty user and password", vec![b(basic(":").as_bytes())]),
        case(
            s,
            "inactive user, right password",
            vec![b(basic("bob:bob-password-2").as_bytes()).differs(
                "rule 1",
                401,
                Some("User inactive or deleted."),
            )],
        ),
        case(
            s,
            "valid",
            vec![b(basic("alice:alice-password-1").as_bytes())],
        ),
        case(
            s,
            "lowercase scheme and a tab",
            vec![b(format!(
                "basic\t{}",
                STANDARD.encode("alice:alice-password-1")
            )
            .as_bytes())],
        ),
        case(
            s,
            "characters outside the alphabet",
            vec![
                b(format!(
                    "Basic YWxp!{}",
                    &STANDARD.encode("alice:alice-password-1")[4..]
                )
                .as_bytes())
                .differs(
                    "rule 7",
                    401,
                    Some("Invalid basic header. Credentials not correctly base64 encoded."),
                ),
            ],
        ),
        case(
            s,
            "two basic headers",
            vec![
                get("/api/whoami/basic/")
                    .auth(basic("alice:alice-password-1"))
                    .auth(basic("root:root-password-3")),
            ],
        ),
        case(
            s,
            "utf-8 password",
            vec![b(basic("alice:p\u{e4}ss").as_bytes())],
        ),
    ]
}

fn session_cases() -> Vec<Case> {
    let s = "2.3 session";
    vec![
        case(s, "anonymous get", vec![get("/api/whoami/session/")]),
        case(s, "anonymous post", vec![post("/api/whoami/session/")]),
        case(s, "login", vec![alice_login()]),
        case(s, "login wrong password", vec![login("alice", "nope")]),
        case(s, "login unknown user", vec![login("zed", "nope")]),
        case(s, "login inactive user", vec![login("bob", "bob-password-2")]),
        case(s, "login missing fields", vec![post("/api/auth/session/login/").json(json!({}))]),
        case(s, "login blank fields", vec![post("/api/auth/session/login/").json(json!({"username": "", "password": ""}))]),
        case(s, "login null body", vec![post("/api/auth/session/login/").raw("application/json", "null")]),
        case(s, "login form same origin", vec![post("/api/auth/session/login/").form("username=alice&password=alice-password-1").h("Origin", "http://{host}")]),
        case(s, "login form without origin", vec![post("/api/auth/session/login/").form("username=alice&password=alice-password-1")]),
        case(s, "login form from another site", vec![post("/api/auth/session/login/").form("username=alice&password=alice-password-1").h("Origin", "http://evil.example")
            .differs("rule 14", 403, Some("CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."))]),
        case(s, "login form with a foreign referer", vec![post("/api/auth/session/login/").form("username=alice&password=alice-password-1").h("Referer", "http://evil.example/form")
            .differs("rule 14", 403, Some("CSRF Failed: Referer checking failed - http://evil.example/form does not match any trusted origins."))]),
        case(s, "login json from another site", vec![alice_login().h("Origin", "http://evil.example")]),
        case(s, "logged in get", vec![alice_login(), get("/api/whoami/session/").cookies()]),
        case(s, "logged in head", vec![alice_login(), req("HEAD", "/api/whoami/session/").cookies()]),
        case(s, "post without the csrf cookie", vec![alice_login(), post("/api/whoami/session/").h("Cookie", "sessionid={cookie:sessionid}")]),
        case(s, "post without a token", vec![alice_login(), session_post(&[])]),
        case(s, "header token of the wrong length", vec![alice_login(), session_post(&[("X-CSRFToken", "abc")])]),
        case(s, "header token with invalid characters", vec![alice_login(), session_post(&[("X-CSRFToken", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!")])]),
        case(s, "header token wrong", vec![alice_login(), session_post(&[("X-CSRFToken", "abcdefghijklmnopqrstuvwxyzABCDEF")])]),
        case(s, "header token right", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}")])]),
        case(s, "masked header token", vec![alice_login(), get("/api/csrf/").cookies(), session_post(&[("X-CSRFToken", "{csrftoken}")])]),
        case(s, "form token right", vec![alice_login(), session_post(&[]).form("csrfmiddlewaretoken={cookie:csrftoken}")]),
        case(s, "form token wrong length", vec![alice_login(), session_post(&[]).form("csrfmiddlewaretoken=abc")]),
        case(s, "form token wrong", vec![alice_login(), session_post(&[]).form("csrfmiddlewaretoken=abcdefghijklmnopqrstuvwxyzABCDEF")]),
        case(s, "empty form token falls back to the header", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}")]).form("csrfmiddlewaretoken=")]),
        case(s, "json body never supplies the form field", vec![alice_login(), session_post(&[]).json(json!({"csrfmiddlewaretoken": "{cookie:csrftoken}"}))]),
        case(s, "foreign origin", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}"), ("Origin", "http://evil.example")])]),
        case(s, "own origin", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}"), ("Origin", "http://{host}")])]),
        case(s, "origin sent twice", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}"), ("Origin", "http://{host}"), ("Origin", "http://evil.example")])]),
        case(s, "origin with a byte above 0x7f", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}")]).h("Origin", b"http://evil.example/\xc3\xa9")]),
        case(s, "csrf header sent twice", vec![alice_login(), session_post(&[("X-CSRFToken", "{cookie:csrftoken}"), ("X-CSRFToken", "{cookie:csrftoken}")])]),
        case(s, "malformed csrf cookie", vec![alice_login(), post("/api/whoami/session/").h("Cookie", "sessionid={cookie:sessionid}; csrftoken=short").h("X-CSRFToken", "{cookie:csrftoken}")]),
        case(s, "csrf cookie with invalid characters", vec![alice_login(), post("/api/whoami/session/").h("Cookie", "sessionid={cookie:sessionid}; csrftoken=!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!")]),
        case(s, "malformed csrf cookie on a get", vec![get("/api/whoami/open/").h("Cookie", "csrftoken=short")]),
        case(s, "csrf view", vec![get("/api/csrf/")]),
        case(s, "csrf view keeps a good cookie", vec![alice_login(), get("/api/csrf/").cookies()]),
        case(s, "unknown session id", vec![get("/api/whoami/session/").h("Cookie", "sessionid=abcdefghijklmnop")]),
        case(s, "malformed session id on another route", vec![get("/api/whoami/jwt/").h("Cookie", "sessionid=abc")]),
        case(s, "unknown session id on a route without session", vec![get("/api/whoami/jwt/").h("Cookie", "sessionid=abcdefghijklmnop")]),
        case(s, "empty session cookie", vec![get("/api/whoami/session/").h("Cookie", "sessionid=")]),
        case(s, "two session cookies, the good one last", vec![alice_login(), get("/api/whoami/session/").h("Cookie", "sessionid=abcdefghijklmnop; sessionid={cookie:sessionid}")]),
        case(s, "two session cookies, the good one first", vec![alice_login(), get("/api/whoami/session/").h("Cookie", "sessionid={cookie:sessionid}; sessionid=abcdefghijklmnop")]),
        case(s, "two cookie headers", vec![alice_login(), get("/api/whoami/session/").h("Cookie", "sessionid={cookie:sessionid}").h("Cookie", "csrftoken={cookie:csrftoken}")]),
        case(s, "quoted session cookie", vec![alice_login(), get("/api/whoami/session/").h("Cookie", "sessionid=\"{cookie:sessionid}\"")]),
        case(s, "logout", vec![alice_login(), post("/api/auth/session/logout/").cookies().h("X-CSRFToken", "{cookie:csrftoken}"), get("/api/whoami/session/").cookies()]),
        case(s, "logout without csrf", vec![alice_login(), post("/api/auth/session/logout/").cookies()]),
        case(s, "anonymous logout", vec![post("/api/auth/session/logout/")]),
        case(s, "logout with an unknown session", vec![post("/api/auth/session/logout/").h("Cookie", "sessionid=abcdefghijklmnop")]),
        case(s, "logout with a form token", vec![alice_login(), post("/api/auth/session/logout/").cookies().form("csrfmiddlewaretoken={cookie:csrftoken}")]),
        case(s, "session fixation", vec![
            login("alice", "alice-password-1").h("Cookie", "sessionid=attackerfixedid123"),
            get("/api/whoami/session/").h("Cookie", "sessionid=attackerfixedid123"),
        ]),
        case(s, "re-login rotates the session id", vec![
            alice_login(),
            alice_login().cookies().h("X-CSRFToken", "{cookie:csrftoken}"),
            get("/api/whoami/session/").cookies(),
        ]),
    ]
}

fn token_cases() -> Vec<Case> {
    let s = "2.4 token";
    let t = |v: &[u8]| get("/api/whoami/token/").auth(v);
    vec![
        case(s, "none", vec![get("/api/whoami/token/")]),
        case(s, "other scheme", vec![t(b"Bearer abc")]),
        case(s, "keyword alone", vec![t(b"Token")]),
        case(s, "spaces", vec![t(b"Token a b")]),
        case(s, "invalid characters", vec![t(b"Token \xff\xfe")]),
        case(
            s,
            "unknown key",
            vec![t(b"Token 0000000000000000000000000000000000000000")],
        ),
        case(
            s,
            "inactive user",
            vec![t(b"Token b0b00000000000000000000000000000000000b0")],
        ),
        case(
            s,
            "valid",
            vec![t(b"Token a11ce0000000000000000000000000000000a11c")],
        ),
        case(
            s,
            "lowercase keyword",
            vec![t(b"token dave00000000000000000000000000000000dave")],
        ),
        case(
            s,
            "two token headers",
            vec![
                t(b"Token a11ce0000000000000000000000000000000a11c")
                    .auth("Token dave00000000000000000000000000000000dave"),
            ],
        ),
        case(
            s,
            "token on the admin route",
            vec![get("/api/whoami/admin/").auth("Token a11ce0000000000000000000000000000000a11c")],
        ),
    ]
}

fn jwt_cases() -> Vec<Case> {
    let s = "2.6 jwt";
    let j = |tok: &str| get("/api/whoami/jwt/").bearer(tok);
    let t = now();
    let good = access(json!({}));
    let (signing_input, sig) = good
        .rsplit_once('.')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let header = |h: &str| {
        craft(
            JWT_KEY,
            h,
            &json!({"token_type": "access", "iat": t, "exp": t + 300, "jti": "j", "user_id": 1})
                .to_string(),
        )
    };
    let with = |c: Value| j(&access(c));
    let raw_payload = |p: &str| j(&craft(JWT_KEY, H, p));
    let std_b64 = {
        // The same token in the standard alphabet, where it differs.
        let p = STANDARD.encode(json!({"token_type": "access", "iat": t, "exp": t + 300, "jti": "??>>??>>", "user_id": 1}).to_string()).trim_end_matches('=').to_owned();
        let input = format!("{}.{p}", URL_SAFE_NO_PAD.encode(H));
        format!("{input}.{}", hs256(JWT_KEY, &input))
    };
    let loose_bits = {
        let mut bytes = sig.clone().into_bytes();
        // 32 bytes -> 43 characters: the last carries 2 unused bits.
        let last = bytes.last_mut().unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let i = alphabet.iter().position(|c| c == last).unwrap();
        *last = alphabet[i ^ 1];
        format!("{signing_input}.{}", String::from_utf8(bytes).unwrap())
    };
    vec![
        case(s, "none", vec![get("/api/whoami/jwt/")]),
        case(s, "empty header", vec![get("/api/whoami/jwt/").auth("")]),
        case(s, "other scheme", vec![j("x").auth("Token x")]),
        case(s, "JWT scheme", vec![get("/api/whoami/jwt/").auth(format!("JWT {good}"))]),
        case(s, "scheme alone", vec![get("/api/whoami/jwt/").auth("Bearer")]),
        case(s, "three parts", vec![get("/api/whoami/jwt/").auth("Bearer a b")]),
        case(s, "invalid characters", vec![get("/api/whoami/jwt/").auth(b"Bearer \xff\xfe")]),
        case(s, "lowercase scheme", vec![get("/api/whoami/jwt/").auth(format!("bearer {good}"))]),
        case(s, "one segment", vec![j("abc")]),
        case(s, "two segments", vec![j("a.b")]),
        case(s, "empty", vec![j("..")]),
        case(s, "bad header padding", vec![j("a.b.c")]),
        case(s, "junk", vec![j("junk.token.value")]),
        case(s, "header not json", vec![j(&format!("{}.{}.{sig}", URL_SAFE_NO_PAD.encode("hello"), URL_SAFE_NO_PAD.encode("{}")))]),
        case(s, "header a list", vec![j(&header("[]"))]),
        case(s, "header not utf-8", vec![j(&format!("{}.e30.{sig}", URL_SAFE_NO_PAD.encode(b"\xff\xfe\xfd")))]),
        case(s, "header in the standard alphabet", vec![j(&format!("{}{}", "eyJhbGciOiJIUzI1NiJ9+".trim_end_matches('+'), ".e30.x"))]),
        case(s, "payload in the standard alphabet", vec![j(&std_b64)]),
        case(s, "padded header", vec![j(&format!("{}=.e30.{sig}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#)))]),
        case(s, "four segments", vec![j(&format!("{good}.abc"))]),
        case(s, "trailing dot", vec![j(&format!("{good}."))]),
        case(s, "signature with a bang", vec![j(&format!("{signing_input}.{}!", &sig))]),
        case(s, "signature with two equals", vec![j(&format!("{good}=="))]),
        case(s, "signature with one equals", vec![j(&format!("{good}="))]),
        case(s, "signature with loose trailing bits", vec![j(&loose_bits)]),
        case(s, "kid not a string", vec![j(&header(r#"{"alg":"HS256","kid":5}"#))]),
        case(s, "kid a string", vec![j(&header(r#"{"alg":"HS256","kid":"k1"}"#))]),
        case(s, "unknown crit", vec![j(&header(r#"{"alg":"HS256","crit":["x"],"x":1}"#))]),
        case(s, "crit b64 true", vec![j(&header(r#"{"alg":"HS256","crit":["b64"],"b64":true}"#))]),
        case(s, "crit b64 missing", vec![j(&header(r#"{"alg":"HS256","crit":["b64"]}"#))]),
        case(s, "crit empty", vec![j(&header(r#"{"alg":"HS256","crit":[]}"#))]),
        case(s, "crit not a list", vec![j(&header(r#"{"alg":"HS256","crit":"b64"}"#))]),
        case(s, "crit not strings", vec![j(&header(r#"{"alg":"HS256","crit":[1]}"#))]),
        case(s, "b64 false", vec![j(&header(r#"{"alg":"HS256","b64":false}"#))]),
        case(s, "b64 false listed", vec![j(&format!("{}..{sig}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#)))]),
        case(s, "alg missing", vec![j(&header(r#"{"typ":"JWT"}"#))]),
        case(s, "alg none", vec![j(&header(r#"{"alg":"none"}"#))]),
        case(s, "alg HS512", vec![j(&header(r#"{"alg":"HS512"}"#))]),
        case(s, "alg RS256", vec![j(&header(r#"{"alg":"RS256"}"#))]),
        case(s, "tampered signature", vec![j(&format!("{signing_input}.{}", hs256("other-key-0123456789abcdef0123456789abcdef", &signing_input)))]),
        case(s, "empty signature", vec![j(&format!("{signing_input}."))]),
        case(s, "payload not json", vec![raw_payload("not json")]),
        case(s, "payload a list", vec![raw_payload("[1]")]),
        case(s, "missing exp", vec![with(json!({"exp": null}))]),
        case(s, "null exp", vec![raw_payload(&json!({"token_type": "access", "iat": t, "exp": null, "user_id": 1}).to_string())]),
        case(s, "missing iat", vec![with(json!({"iat": null}))]),
        case(s, "iat not a number", vec![with(json!({"iat": "abc"}))]),
        case(s, "iat in the future", vec![with(json!({"iat": t + 3600}))]),
        case(s, "nbf in the future", vec![with(json!({"nbf": t + 3600}))]),
        case(s, "nbf not a number", vec![with(json!({"nbf": []}))]),
        case(s, "nbf in the past", vec![with(json!({"nbf": t - 10}))]),
        case(s, "expired", vec![with(json!({"exp": t - 10}))]),
        case(s, "exp a list", vec![with(json!({"exp": [1]}))]),
        case(s, "exp a numeric string", vec![with(json!({"exp": (t + 300).to_string()}))
            .differs("issue 11.6", 401, Some("Expiration Time claim (exp) must be an integer."))]),
        case(s, "exp a float", vec![with(json!({"exp": (t + 300) as f64 + 0.5}))
            .differs("issue 11.6", 401, Some("Expiration Time claim (exp) must be an integer."))]),
        case(s, "exp past every date", vec![raw_payload(&format!(r#"{{"token_type":"access","iat":{t},"exp":1000000000000000000000000000000,"jti":"x","user_id":1}}"#))
            .differs("issue 11.6", 401, Some("Expiration Time claim (exp) must be an integer."))]),
        case(s, "iat true", vec![with(json!({"iat": true}))
            .differs("issue 11.6", 401, Some("Issued At claim (iat) must be an integer."))]),
        case(s, "iss while no issuer is set", vec![with(json!({"iss": "anyone"}))]),
        case(s, "aud while no audience is set", vec![with(json!({"aud": "clients"}))]),
        case(s, "empty aud", vec![with(json!({"aud": ""}))]),
        case(s, "sub not a string", vec![with(json!({"sub": 1}))]),
        case(s, "jti not a string", vec![with(json!({"jti": 1}))]),
        case(s, "no jti", vec![with(json!({"jti": null}))]),
        case(s, "refresh token", vec![j(&token("refresh", json!({})))]),
        case(s, "no token type", vec![with(json!({"token_type": null}))]),
        case(s, "token type Access", vec![with(json!({"token_type": "Access"}))]),
        case(s, "no user claim", vec![with(json!({"user_id": null}))]),
        case(s, "unknown user", vec![with(json!({"user_id": 99}))]),
        case(s, "user id as a string", vec![with(json!({"user_id": "1"}))]),
        case(s, "user id a float", vec![with(json!({"user_id": 1.0}))
            .differs("rule 2", 401, Some("User not found."))]),
        case(s, "user id true", vec![with(json!({"user_id": true}))
            .differs("rule 2", 401, Some("User not found."))]),
        case(s, "user id not a number", vec![with(json!({"user_id": "abc"}))
            .differs("rule 2", 401, Some("User not found."))]),
        case(s, "user id null", vec![raw_payload(&json!({"token_type": "access", "iat": t, "exp": t + 300, "user_id": null}).to_string())]),
        case(s, "inactive user", vec![with(json!({"user_id": 2}))]),
        case(s, "valid crafted", vec![j(&good)]),
        case(s, "simplejwt token", vec![j(&sjwt(json!({})))]),
        case(s, "blacklisted refresh's access still works", vec![
            alice_obtain(),
            post("/api/auth/token/blacklist/").json(json!({"refresh": "{refresh}"})),
            get("/api/whoami/jwt/").bearer("{access}"),
        ]),
    ]
}

fn simplejwt_cases() -> Vec<Case> {
    let s = "2.7 simplejwt";
    let j = |tok: &str| get("/api/whoami/simplejwt/").bearer(tok);
    let with = |c: Value| j(&sjwt(c));
    let t = now();
    vec![
        case(s, "none", vec![get("/api/whoami/simplejwt/")]),
        case(s, "lowercase scheme", vec![get("/api/whoami/simplejwt/").auth(format!("bearer {}", sjwt(json!({}))))]),
        case(s, "scheme alone", vec![get("/api/whoami/simplejwt/").auth("Bearer")]),
        case(s, "three parts", vec![get("/api/whoami/simplejwt/").auth("Bearer a b")]),
        case(s, "garbage", vec![j("garbage")]),
        case(s, "other key", vec![j(&access(json!({})))]),
        case(s, "expired", vec![with(json!({"exp": t - 10}))]),
        case(s, "refresh token", vec![with(json!({"token_type": "refresh"}))]),
        case(s, "no type", vec![with(json!({"token_type": null}))]),
        case(s, "no jti", vec![with(json!({"jti": null}))]),
        case(s, "no exp", vec![with(json!({"exp": null}))]),
        case(s, "no iat", vec![with(json!({"iat": null}))]),
        case(s, "no user claim", vec![with(json!({"user_id": null}))]),
        case(s, "unknown user", vec![with(json!({"user_id": "99"}))]),
        case(s, "inactive user", vec![with(json!({"user_id": "2"}))]),
        case(s, "valid", vec![with(json!({}))]),
        case(s, "integer user id", vec![with(json!({"user_id": 1}))]),
        case(s, "aud while no audience is set", vec![with(json!({"aud": "x"}))]),
        case(s, "exp a numeric string", vec![with(json!({"exp": (t + 300).to_string()}))
            .differs("rule 8", 401, Some("Given token not valid for any token type"))]),
        case(s, "exp past every date", vec![j(&craft(SJWT_KEY, H, &format!(r#"{{"token_type":"access","exp":1000000000000000000000000000000,"iat":{t},"jti":"abc","user_id":"1"}}"#)))
            .differs("issue 11.6", 401, Some("Given token not valid for any token type"))]),
    ]
}

fn view_cases() -> Vec<Case> {
    let s = "2.8 views";
    let refresh = |tok: &str| post("/api/auth/token/refresh/").json(json!({"refresh": tok}));
    let t = now();
    vec![
        case(s, "obtain", vec![alice_obtain()]),
        case(s, "obtain wrong password", vec![obtain("alice", "nope")]),
        case(s, "obtain unknown user", vec![obtain("zed", "nope")]),
        case(s, "obtain inactive user", vec![obtain("bob", "bob-password-2")]),
        case(s, "obtain wrong case", vec![obtain("Alice", "alice-password-1")]),
        case(s, "obtain numeric username", vec![post("/api/auth/token/").json(json!({"username": 5, "password": "x"}))]),
        case(s, "obtain trimmed", vec![obtain(" alice ", " alice-password-1 ")]),
        case(s, "obtain empty object", vec![post("/api/auth/token/").json(json!({}))]),
        case(s, "obtain no body", vec![post("/api/auth/token/")]),
        case(s, "obtain only username", vec![post("/api/auth/token/").json(json!({"username": "alice"}))]),
        case(s, "obtain only password", vec![post("/api/auth/token/").json(json!({"password": "x"}))]),
        case(s, "obtain blank", vec![post("/api/auth/token/").json(json!({"username": "", "password": ""}))]),
        case(s, "obtain nulls", vec![post("/api/auth/token/").json(json!({"username": null, "password": null}))]),
        case(s, "obtain list value", vec![post("/api/auth/token/").json(json!({"username": ["alice"], "password": "x"}))]),
        case(s, "obtain object value", vec![post("/api/auth/token/").json(json!({"username": {"a": 1}, "password": "x"}))]),
        case(s, "obtain form", vec![post("/api/auth/token/").form("username=alice&password=alice-password-1")]),
        case(s, "obtain form from another site", vec![post("/api/auth/token/").form("username=alice&password=alice-password-1").h("Origin", "http://evil.example")]),
        case(s, "obtain form, repeated field", vec![post("/api/auth/token/").form("username=zed&username=alice&password=alice-password-1")]),
        case(s, "obtain form, percent-encoded", vec![post("/api/auth/token/").form("username=%61lice&password=alice%2Dpassword%2D1")]),
        case(s, "refresh", vec![alice_obtain(), refresh("{refresh}")]),
        case(s, "refresh twice", vec![alice_obtain(), refresh("{refresh}"), post("/api/auth/token/refresh/").json(json!({"refresh": "{refresh}"}))]),
        case(s, "refresh the rotated token", vec![alice_obtain(), refresh("{refresh}"), refresh("{refresh}")]),
        case(s, "refresh with an access token", vec![alice_obtain(), refresh("{access}")]),
        case(s, "refresh garbage", vec![refresh("garbage")]),
        case(s, "refresh expired", vec![refresh(&token("refresh", json!({"exp": t - 10})))]),
        case(s, "refresh empty object", vec![post("/api/auth/token/refresh/").json(json!({}))]),
        case(s, "refresh blank", vec![refresh("")]),
        case(s, "refresh null", vec![post("/api/auth/token/refresh/").json(json!({"refresh": null}))]),
        case(s, "refresh of an inactive user", vec![refresh(&token("refresh", json!({"user_id": 2})))
            .differs("rule 1", 401, Some("User is inactive."))]),
        case(s, "refresh of an unknown user", vec![refresh(&token("refresh", json!({"user_id": 99})))
            .differs("rule 1", 401, Some("User not found."))]),
        case(s, "refresh without a user claim", vec![refresh(&token("refresh", json!({"user_id": null})))
            .differs("rule 2", 401, Some("Token contained no recognizable user identification."))]),
        case(s, "refresh exp a numeric string", vec![refresh(&token("refresh", json!({"exp": (t + 300).to_string()})))
            .differs("issue 11.6", 401, Some("Expiration Time claim (exp) must be an integer."))]),
        case(s, "refresh exp past every date", vec![refresh(&craft(JWT_KEY, H, &format!(r#"{{"token_type":"refresh","iat":{t},"exp":1000000000000000000000000000000,"jti":"big","user_id":1}}"#)))
            .differs("rule 8", 401, Some("Expiration Time claim (exp) must be an integer."))]),
        case(s, "blacklist", vec![alice_obtain(), post("/api/auth/token/blacklist/").json(json!({"refresh": "{refresh}"}))]),
        case(s, "blacklist twice, then refresh", vec![
            alice_obtain(),
            post("/api/auth/token/blacklist/").json(json!({"refresh": "{refresh}"})),
            post("/api/auth/token/blacklist/").json(json!({"refresh": "{refresh}"})),
            refresh("{refresh}"),
        ]),
        case(s, "blacklist an access token", vec![alice_obtain(), post("/api/auth/token/blacklist/").json(json!({"refresh": "{access}"}))]),
        case(s, "blacklist garbage", vec![post("/api/auth/token/blacklist/").json(json!({"refresh": "garbage"}))]),
        case(s, "blacklist expired", vec![post("/api/auth/token/blacklist/").json(json!({"refresh": token("refresh", json!({"exp": t - 10}))}))]),
        case(s, "blacklist empty object", vec![post("/api/auth/token/blacklist/").json(json!({}))]),
        case(s, "blacklist exp past every date", vec![post("/api/auth/token/blacklist/").json(json!({"refresh": craft(JWT_KEY, H, &format!(r#"{{"token_type":"refresh","iat":{t},"exp":1000000000000000000000000000000,"jti":"big2","user_id":1}}"#))}))
            .differs("rule 8", 401, Some("Expiration Time claim (exp) must be an integer."))]),
    ]
}

fn throttle_cases() -> Vec<Case> {
    let s = "throttling";
    let anon = || get("/api/whoami/throttled/");
    let alice = || get("/api/whoami/throttled/").bearer("{access}");
    vec![
        // One case: the counters of the whole run.
        case(
            s,
            "anonymous 3/min, users 5/min, a client's own X-Forwarded-For",
            vec![
                anon(),
                anon(),
                anon(),
                anon(),
                anon(),
                anon().h("X-Forwarded-For", "198.51.100.7"),
                alice_obtain(),
                alice(),
                alice(),
                alice(),
                alice(),
                alice(),
                alice(),
                alice(),
                post("/api/whoami/throttled/").differs(
                    "rule 10",
                    405,
                    Some("Method \"POST\" not allowed."),
                ),
                anon().bearer("garbage"),
            ],
        ),
    ]
}

fn remote_user_cases() -> Vec<Case> {
    let s = "2.5 remote user";
    let r = |v: &[u8]| get("/api/whoami/remote/").h("X-Remote-User", v);
    vec![
        case(s, "none", vec![get("/api/whoami/remote/")]),
        case(s, "empty", vec![r(b"")]),
        case(s, "known user", vec![r(b"alice")]),
        case(s, "unknown user is created", vec![r(b"carol"), r(b"carol")]),
        case(
            s,
            "inactive user",
            vec![r(b"bob").differs("rule 1", 403, Some("User inactive or deleted."))],
        ),
        case(
            s,
            "underscore spelling is not the header",
            vec![get("/api/whoami/remote/").h("X_Remote_User", "alice")],
        ),
        case(
            s,
            "header sent twice",
            vec![r(b"alice").h("X-Remote-User", "root").differs(
                "rule 12",
                403,
                Some("Authentication credentials were not provided."),
            )],
        ),
        case(
            s,
            "not printable ascii",
            vec![r(b"caf\xc3\xa9").differs(
                "rule 12",
                403,
                Some("Authentication credentials were not provided."),
            )],
        ),
    ]
}

// ---------------------------------------------------------------------------
// The run.

/// The two servers listen on different ports: their own address in a
/// message (an `Origin` check) is compared as `<host>`.
fn unhost(v: &mut Value, host: &str) {
    match v {
        Value::String(s) if s.contains(host) => *s = s.replace(host, "<host>"),
        Value::Object(m) => m.values_mut().for_each(|v| unhost(v, host)),
        Value::Array(a) => a.iter_mut().for_each(|v| unhost(v, host)),
        _ => {}
    }
}

/// Runs every case on both servers; returns the mismatches.
fn run(ours: &str, reference: &str) -> (usize, Vec<String>, BTreeMap<&'static str, usize>) {
    let mut mismatches = Vec::new();
    let mut per_section = BTreeMap::new();
    let all = cases();
    for c in &all {
        *per_section.entry(c.section).or_insert(0) += 1;
        let mut ours_vars = HashMap::from([("host".to_owned(), ours.to_owned())]);
        let mut ref_vars = HashMap::from([("host".to_owned(), reference.to_owned())]);
        for (i, step) in c.steps.iter().enumerate() {
            let (mut a, cap_a) = send(ours, step, &ours_vars);
            let (mut b, cap_b) = send(reference, step, &ref_vars);
            unhost(&mut a.body, ours);
            unhost(&mut b.body, reference);
            ours_vars.extend(cap_a);
            ref_vars.extend(cap_b);
            match &step.differs {
                None if a != b => mismatches.push(format!(
                    "[{}] {} step {}: {} {}\n    ours:      {:?}\n    reference: {:?}",
                    c.section, c.name, i, step.method, step.path, a, b
                )),
                None => {}
                Some((rule, want)) => {
                    let detail_ok = want.detail.is_none_or(|d| {
                        a.body["detail"].as_str().is_some_and(|t| t.starts_with(d))
                    });
                    if a.status != want.status || !detail_ok {
                        mismatches.push(format!(
                            "[{}] {} step {} ({rule}): expected {want:?}\n    ours:      {a:?}\n    reference: {b:?}",
                            c.section, c.name, i
                        ));
                    }
                    if a == b {
                        mismatches.push(format!(
                            "[{}] {} step {} is marked as differing ({rule}) but both answer {a:?}",
                            c.section, c.name, i
                        ));
                    }
                }
            }
        }
    }
    (all.len(), mismatches, per_section)
}

#[test]
fn the_conformance_example_answers_as_drf_restflow() {
    let Some(python) = python() else {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "RESTFLOW_TEST_PYTHON must name a Python with Django, DRF, drf-restflow, simplejwt and PyJWT (.ci/run installs them)"
        );
        eprintln!("skipped: no Python with drf-restflow");
        return;
    };
    let sqlite =
        std::env::temp_dir().join(format!("restflow-differential-{}.db", std::process::id()));
    let stores = ["memory".to_owned(), format!("sqlite:{}", sqlite.display())];
    let mut report = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        let reference = start_reference(&python, &n.to_string());
        let Some(ours) = conformance::start(store, store) else {
            return;
        };
        let (count, mismatches, sections) = run(&ours.addr, &reference.addr);
        eprintln!(
            "differential on {store}: {count} cases, {} mismatches; per section: {sections:?}",
            mismatches.len()
        );
        for m in &mismatches {
            eprintln!("{m}");
        }
        report.extend(mismatches.into_iter().map(|m| format!("({store}) {m}")));
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite.display()));
    }
    assert!(
        report.is_empty(),
        "{} mismatches:\n{}",
        report.len(),
        report.join("\n")
    );
}
