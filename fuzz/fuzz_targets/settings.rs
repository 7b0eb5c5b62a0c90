//! Any TOML text and environment variables: settings load or say why, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use restflow_auth_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let toml = std::str::from_utf8(f[0]).ok();
    let env: Vec<(String, String)> = f[1..]
        .chunks(2)
        .filter_map(|kv| {
            Some((
                format!("RESTFLOW_{}", std::str::from_utf8(kv.first()?).ok()?),
                std::str::from_utf8(kv.get(1)?).ok()?.to_owned(),
            ))
        })
        .collect();
    if let Ok(s) = restflow_auth::Settings::from_sources(toml, env) {
        // What loads, validates.
        s.validate().expect("loaded settings validate");
    }
});
