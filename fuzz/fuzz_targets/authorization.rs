//! Any `Authorization` headers (one or more copies) through Basic, Token
//! and the JWT, on both paths.
#![no_main]
use libfuzzer_sys::fuzz_target;
use restflow_auth::prelude::*;
use restflow_auth_fuzz::{both_paths, fields, header};

fuzz_target!(|data: &[u8]| {
    let mut b = http::Request::get("/");
    for f in fields(data).into_iter().take(4) {
        if let Some(v) = header(f) {
            b = b.header("authorization", v);
        }
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    both_paths::<(Basic, Token, Jwt)>(&parts);
    both_paths::<(Token, Basic)>(&parts);
});
