//! Django's CSRF check on any Origin, Referer, host, cookie and tokens.
#![no_main]
use libfuzzer_sys::fuzz_target;
use restflow_auth_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let f: Vec<String> = fields(data)
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let get = |i: usize| f.get(i).map(String::as_str);
    let trusted = vec![
        "https://app.example".to_owned(),
        "https://*.corp.example".to_owned(),
    ];
    let secure = get(0).is_some_and(|s| s.len() % 2 == 0);
    let r = restflow_auth::fuzzing::csrf(
        get(1),
        get(2),
        secure,
        get(3).unwrap_or("testserver"),
        &trusted,
        get(4),
        get(5),
        get(6),
    );
    if let Err(reason) = &r {
        assert!(!reason.is_empty());
    }
    // A request whose Origin is not this host nor trusted never passes.
    if let (Some(origin), Ok(())) = (get(1), &r) {
        let host = get(3).unwrap_or("testserver");
        let scheme = if secure { "https" } else { "http" };
        // Python's urlsplit (and so Django) drops leading C0 controls and
        // spaces and every tab, CR and LF before it reads the scheme.
        let split: String = origin
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        let ours = origin == format!("{scheme}://{host}")
            || origin == "https://app.example"
            || (split.to_ascii_lowercase().starts_with("https://")
                && split.to_ascii_lowercase().contains("corp.example"));
        assert!(ours, "accepted origin {origin:?} for host {host:?}");
    }
});
