//! The quickstart's page in headless Chromium, driven over WebDriver
//! (chromedriver): a wrong password is refused, the demo user logs in with
//! a session, a POST with the CSRF token passes and one without is refused
//! with Django's reason, a screenshot is kept as an artifact, and logout
//! ends the session.
//!
//! The WebDriver calls are a handful of W3C endpoints over the plain HTTP
//! helper the conformance test uses, rather than a WebDriver crate with its
//! own HTTP stack to compile.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// One WebDriver call: chromedriver keeps connections open, so the answer
/// is read by its `Content-Length`. Returns the status and the JSON body.
fn http(addr: &str, method: &str, path: &str, _: &[(&str, &str)], body: Option<Value>) -> Reply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).unwrap();
    let body = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    Reply { status, body }
}

struct Reply {
    status: u16,
    body: Value,
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

use crate::common::free_port;
use crate::quickstart::{Killed, Quickstart, start};

/// One WebDriver session.
struct Driver {
    addr: String,
    session: String,
}

impl Driver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let r = http(&self.addr, method, &path, &[], body);
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
        r.body["value"].clone()
    }
    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }
    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_owned()
    }
    fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }
    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }
    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
    }
    fn text(&self, id: &str) -> String {
        self.script(&format!(
            "return document.getElementById('{id}').textContent"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }
    /// Polls `js` until it returns `want` (the page works asynchronously).
    fn wait_for(&self, js: &str, want: &Value) {
        let start = Instant::now();
        loop {
            let got = self.script(js);
            if &got == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{js}: {got}, waiting for {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn screenshot(&self, path: &Path) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = http(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            None,
        );
    }
}

#[test]
fn the_quickstart_page_logs_in_posts_with_csrf_and_logs_out() {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "chromium and chromium-driver are not installed but RESTFLOW_REQUIRE_SERVICES=1 (.ci/run installs them)"
        );
        eprintln!(
            "skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let Quickstart {
        server,
        addr,
        password,
        dir,
        bin,
    } = start("browser");

    let port = free_port();
    let driver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wd = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(&wd).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = dir.join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                "--window-size=900,700", format!("--user-data-dir={}", profile.display()),
            ],
        },
    }}});
    let r = http(&wd, "POST", "/session", &[], Some(caps));
    assert_eq!(r.status, 200, "new session: {}", r.body);
    let b = Driver {
        addr: wd,
        session: r.body["value"]["sessionId"].as_str().unwrap().to_owned(),
    };

    let state = "return document.body.dataset.state || ''";
    b.goto(&format!("http://{addr}/"));
    b.wait_for(state, &json!("signed-out"));
    let cookies = "return document.cookie";
    assert!(
        b.script(cookies).as_str().unwrap().contains("csrftoken="),
        "the page fetched a CSRF cookie"
    );

    // A wrong password: DRF's message, still signed out.
    b.type_into("#password", "not-the-password");
    b.click("#login-button");
    b.wait_for(
        "return document.getElementById('login-error').textContent",
        &json!("Invalid username/password."),
    );

    b.type_into("#password", &password);
    b.click("#login-button");
    b.wait_for(state, &json!("signed-in"));
    assert_eq!(b.text("who"), "demo");
    assert!(
        !b.script(cookies).as_str().unwrap().contains("sessionid"),
        "the session cookie is HttpOnly"
    );

    b.click("#post-with-csrf");
    // The status may still read 200 from the previous call: wait for the
    // post's own answer.
    b.wait_for(
        "return document.getElementById('result').textContent.includes('saved_by')",
        &json!(true),
    );
    assert_eq!(b.text("status"), "200");
    let saved: Value = serde_json::from_str(&b.text("result")).unwrap();
    assert_eq!(
        saved,
        json!({"saved_by": "demo", "note": {"text": "hello from the browser"}})
    );

    b.click("#post-without-csrf");
    b.wait_for(
        "return document.getElementById('status').textContent",
        &json!("403"),
    );
    let refused: Value = serde_json::from_str(&b.text("result")).unwrap();
    assert_eq!(
        refused,
        json!({"detail": "CSRF Failed: CSRF token missing."})
    );

    // The artifact: target/browser-artifacts/quickstart.png.
    let shot = bin
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("browser-artifacts")
        .join("quickstart.png");
    b.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());

    b.click("#logout");
    b.wait_for(state, &json!("signed-out"));
    // The ended session no longer authenticates.
    let me = b.script("return fetch('/api/me/').then(r => r.status)");
    assert_eq!(me, json!(403));

    drop(b);
    drop(driver);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
