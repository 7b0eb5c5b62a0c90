//! The quickstart example as a user runs it: its /metrics, its OpenAPI
//! document (and the browser test in `browser.rs`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::common::http;

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// target/<profile>/examples/<name>, beside this test binary.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

/// A running quickstart in a fresh directory of its own.
pub(crate) struct Quickstart {
    pub(crate) server: Killed,
    pub(crate) addr: String,
    pub(crate) password: String,
    pub(crate) dir: PathBuf,
    pub(crate) bin: PathBuf,
}

/// Starts the quickstart on a free port in an empty directory (it creates
/// its database there) and reads the address and demo password it prints.
pub(crate) fn start(tag: &str) -> Quickstart {
    let bin = example("quickstart");
    assert!(
        bin.exists(),
        "the quickstart example is built with the tests"
    );

    // The quickstart in an empty directory: it creates its database there.
    let dir =
        std::env::temp_dir().join(format!("restflow-quickstart-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Command::new(&bin)
        .current_dir(&dir)
        .env("QUICKSTART_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let server = Killed(server);
    let (mut addr, mut password) = (None, None);
    let mut line = String::new();
    while addr.is_none() || password.is_none() {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the quickstart ended early"
        );
        if let Some(a) = line
            .trim()
            .strip_prefix("restflow-auth quickstart listening on http://")
        {
            addr = Some(a.to_owned());
        }
        if let Some(p) = line.trim().strip_prefix("password: ") {
            password = Some(p.to_owned());
        }
    }
    let (addr, password) = (addr.unwrap(), password.unwrap());
    // Keep reading what it prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    assert!(
        dir.join("restflow-quickstart.db").exists(),
        "the SQLite file is created on first start"
    );

    Quickstart {
        server,
        addr,
        password,
        dir,
        bin,
    }
}

/// The one line of `text` naming `metric` with every one of `labels`.
fn sample<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| {
        l.starts_with(&format!("{metric}{{")) && labels.iter().all(|want| l.contains(want))
    })
}

/// The value of that line.
fn value(text: &str, metric: &str, labels: &[&str]) -> f64 {
    let line = sample(text, metric, labels)
        .unwrap_or_else(|| panic!("no {metric} with {labels:?} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_quickstart_serves_its_metrics_in_prometheus_text() {
    let q = start("metrics");
    let a = q.addr.as_str();

    // A 401 (no credentials), a token, two authenticated calls (the second
    // verified from the cache), a wrong password.
    assert_eq!(http(a, "GET", "/api/me/", &[], None).status, 403);
    assert_eq!(http(a, "GET", "/api/admin/", &[], None).status, 401);
    let login = serde_json::json!({"username": "demo", "password": q.password});
    let r = http(a, "POST", "/api/auth/token/", &[], Some(login));
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.body["access"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    for _ in 0..2 {
        let r = http(a, "GET", "/api/me/", &[("Authorization", &bearer)], None);
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let wrong = serde_json::json!({"username": "demo", "password": "not-it"});
    assert_eq!(
        http(a, "POST", "/api/auth/token/", &[], Some(wrong)).status,
        401
    );

    let m = http(a, "GET", "/metrics", &[], None);
    assert_eq!(m.status, 200);
    let t = m.text.as_str();
    // Challenges and forbids by reason.
    assert_eq!(
        value(
            t,
            "restflow_auth_challenges",
            &[r#"reason="not_authenticated""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            t,
            "restflow_auth_challenges",
            &[r#"reason="no_active_account""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            t,
            "restflow_auth_forbids",
            &[r#"reason="not_authenticated""#]
        ),
        1.0
    );
    // The JWT scheme: two successes; the session (first in /api/me/'s
    // chain) recognised none of the five calls.
    assert_eq!(
        value(
            t,
            "restflow_auth_authenticate_duration_count",
            &[r#"scheme="Jwt""#, r#"result="success""#]
        ),
        2.0
    );
    assert!(
        value(
            t,
            "restflow_auth_authenticate_duration_count",
            &[r#"scheme="Session""#, r#"result="none""#]
        ) >= 3.0
    );
    assert!(
        sample(
            t,
            "restflow_auth_authenticate_duration_bucket",
            &[r#"scheme="Jwt""#, r#"le="0.005""#]
        )
        .is_some(),
        "durations are histograms with buckets:\n{t}"
    );
    // The user row behind the JWT calls (read at least once: later calls
    // may be served by the invalidation cache); the verified-token cache.
    assert!(
        value(
            t,
            "restflow_auth_store_duration_count",
            &[
                r#"store="users""#,
                r#"operation="find_by_id""#,
                r#"outcome="ok""#
            ]
        ) >= 1.0
    );
    assert_eq!(
        value(
            t,
            "restflow_auth_cache_requests",
            &[r#"cache="jwt_verified""#, r#"outcome="hit""#]
        ),
        1.0
    );
    assert!(t.contains("# HELP restflow_auth_challenges Requests answered 401 with a challenge"));
    // No credential or user name in any label.
    for secret in [q.password.as_str(), access.as_str(), "demo", "not-it"] {
        assert!(!t.contains(secret), "{secret:?} in /metrics");
    }
}
