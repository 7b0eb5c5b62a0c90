//! Any token, through the built-in JWT and the simplejwt verifier, on both paths.
#![no_main]
use libfuzzer_sys::fuzz_target;
use restflow_auth::prelude::*;
use restflow_auth_fuzz::{User, both_paths};

fuzz_target!(|data: &[u8]| {
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(data);
    let Ok(v) = http::HeaderValue::from_bytes(&value) else {
        return;
    };
    let (parts, ()) = http::Request::get("/")
        .header("authorization", v)
        .body(())
        .unwrap()
        .into_parts();
    both_paths::<(Jwt,)>(&parts);
    both_paths::<(SimpleJwt,)>(&parts);
    let _ = std::marker::PhantomData::<User>;
});
