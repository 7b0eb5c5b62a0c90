//! Django's parse_cookie on any header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["sessionid", "csrftoken", ""] {
        if let Some(v) = restflow_auth::fuzzing::cookie(data, name) {
            // A found value never holds the separators it was split on.
            assert!(
                !v.contains(';') || v.starts_with('"') || data.contains(&b'"'),
                "{v:?}"
            );
        }
    }
});
