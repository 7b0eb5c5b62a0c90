//! Any body and content type through the obtain and login views: never a 5xx.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use restflow_auth_fuzz::{auth, block_on, fields, header};
use tower::ServiceExt;

fn router() -> &'static axum::Router {
    static R: OnceLock<axum::Router> = OnceLock::new();
    R.get_or_init(|| {
        axum::Router::new()
            .nest("/api/auth", auth().jwt_routes())
            .nest("/api/auth", auth().session_routes())
            .layer(auth().layer())
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let uri = if f.first().is_some_and(|b| b.len() % 2 == 0) {
        "/api/auth/token/"
    } else {
        "/api/auth/session/login/"
    };
    let mut b = http::Request::post(uri).header("host", "testserver");
    if let Some(v) = f.get(1).and_then(|c| header(c)) {
        b = b.header("content-type", v);
    }
    let body = f.get(2).copied().unwrap_or_default().to_vec();
    let req = b.body(axum::body::Body::from(body)).unwrap();
    let res = block_on(router().clone().oneshot(req)).unwrap();
    assert!(res.status().as_u16() < 500, "{}", res.status());
    // Form bodies: the field limit holds whatever the input.
    if let Some(pairs) = restflow_auth::fuzzing::form(f.get(2).copied().unwrap_or_default()) {
        assert!(pairs.len() <= 1000);
    }
});
