//! The blocking example (`examples/blocking`): a std::net server with no
//! async runtime authenticating with the blocking `(Jwt, Token)` chain.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn get(addr: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("GET /api/whoami/ HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let challenge = head
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .map(str::to_owned);
    (status, challenge, body.to_owned())
}

#[test]
fn the_blocking_server_authenticates_with_jwt_and_token() {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("blocking");
    if !bin.exists() {
        assert!(
            std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "the blocking example is not built"
        );
        eprintln!(
            "skipped: the blocking example is not built (run the whole test suite, which builds examples)"
        );
        return;
    }
    let mut child = Command::new(bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = [String::new(), String::new(), String::new()];
    for l in &mut lines {
        out.read_line(l).unwrap();
    }
    let addr = lines[0]
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    let jwt = lines[1].trim().strip_prefix("jwt ").unwrap().to_owned();
    let key = lines[2].trim().strip_prefix("token ").unwrap().to_owned();

    let demo = r#"{"id":1,"username":"demo"}"#;
    assert_eq!(
        get(&addr, &[("Authorization", &format!("Bearer {jwt}"))]),
        (200, None, demo.into())
    );
    assert_eq!(
        get(&addr, &[("Authorization", &format!("Token {key}"))]),
        (200, None, demo.into())
    );
    let bearer = Some("Bearer realm=\"api\"".to_owned());
    assert_eq!(
        get(&addr, &[]),
        (
            401,
            bearer.clone(),
            r#"{"detail":"Authentication credentials were not provided."}"#.into()
        )
    );
    assert_eq!(
        get(&addr, &[("Authorization", "Token nope")]),
        (401, bearer.clone(), r#"{"detail":"Invalid token."}"#.into())
    );
    assert_eq!(
        get(&addr, &[("Authorization", "Bearer abc")]),
        (
            401,
            bearer.clone(),
            r#"{"detail":"Not enough segments"}"#.into()
        )
    );
    assert_eq!(
        get(&addr, &[("Accept-Language", "de")]),
        (401, bearer, r#"{"detail":"Anmeldedaten fehlen."}"#.into())
    );
    let _ = child.kill();
    let _ = child.wait();
}
