//! Session authentication with any Cookie, Origin, Referer, CSRF header and
//! form body, on a live session, on both paths.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use restflow_auth::prelude::*;
use restflow_auth_fuzz::{auth, block_on, both_paths_with_body, fields, header};

fn session() -> &'static String {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let sessions = auth()
            .context()
            .store::<restflow_auth::session::Sessions>()
            .unwrap();
        let alice = auth()
            .context()
            .users()
            .find_by_username_blocking("alice")
            .unwrap()
            .unwrap();
        block_on(restflow_auth::session::login(
            sessions,
            &auth().context().settings().session,
            &alice,
            None,
        ))
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let method = match f.first().and_then(|m| m.first()) {
        Some(b) if b % 3 == 0 => "GET",
        Some(b) if b % 3 == 1 => "PUT",
        _ => "POST",
    };
    let mut b = http::Request::builder()
        .method(method)
        .uri("/")
        .header("host", "testserver");
    let names = [
        "cookie",
        "origin",
        "referer",
        "x-csrftoken",
        "content-type",
        "cookie",
        "origin",
    ];
    for (name, value) in names.iter().zip(f.iter().skip(1)) {
        // `{s}` in a cookie stands for the live session's key.
        let value = String::from_utf8_lossy(value)
            .replace("{s}", session())
            .into_bytes();
        if let Some(v) = header(&value) {
            b = b.header(*name, v);
        }
    }
    let body =
        String::from_utf8_lossy(f.get(8).copied().unwrap_or_default()).replace("{s}", session());
    let (parts, ()) = b.body(()).unwrap().into_parts();
    both_paths_with_body::<(Session,)>(&parts, Some(body.as_bytes()));
    both_paths_with_body::<(Session, Jwt)>(&parts, Some(body.as_bytes()));
});
