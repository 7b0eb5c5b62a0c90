//! Settings from a TOML file plus `RESTFLOW_*` variables, validated.

use restflow_auth::Settings;

#[test]
fn a_file_and_variables_make_the_settings() {
    let dir = std::env::temp_dir().join(format!("restflow-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("restflow.toml");
    std::fs::write(
        &path,
        "default_language = \"fr\"\n[jwt]\nsigning_key = \"0123456789abcdef0123456789abcdef-key\"\nissuer = \"svc\"\n[token]\nkeyword = \"Bearer\"\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let s = Settings::from_sources(
        Some(&text),
        [("RESTFLOW_JWT__AUDIENCE".to_owned(), "clients".to_owned())],
    )
    .unwrap();
    assert_eq!(s.default_language, "fr");
    assert_eq!(s.jwt.issuer.as_deref(), Some("svc"));
    assert_eq!(s.jwt.audience.as_deref(), Some("clients"));
    assert_eq!(s.token.keyword, "Bearer");
    assert_eq!(
        s.jwt.signing_key.as_ref().unwrap().expose(),
        "0123456789abcdef0123456789abcdef-key"
    );
    assert!(
        !format!("{s:?}").contains("0123456789abcdef"),
        "secret in Debug"
    );
    let loaded = Settings::load_from(&path).unwrap();
    assert_eq!(loaded.jwt.issuer.as_deref(), Some("svc"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_named_explicitly_is_an_error() {
    let e = Settings::load_from("/nonexistent/restflow.toml").unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read settings file /nonexistent/restflow.toml"),
        "{e}"
    );
}

#[test]
fn the_builder_refuses_invalid_settings_at_startup() {
    let mut s = Settings::default();
    s.jwt.algorithm = "none".into();
    let e = restflow_auth::Auth::<crate::common::User>::builder(s)
        .users(crate::common::users())
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid setting `jwt.algorithm`: 'none' disables signature verification"),
        "{e}"
    );
    let e = restflow_auth::Auth::<crate::common::User>::builder(Settings::default())
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("no user store"), "{e}");
}
