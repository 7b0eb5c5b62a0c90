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

/// `[django]` from a file and the environment; its secrets never reach
/// `Debug`, of the settings or of the stores built from them.
#[test]
fn the_django_section_reads_and_keeps_its_secrets() {
    let toml = r#"
[django]
secret_key_fallbacks = ["old-django-secret-0123456789abcdefghijklmnop"]
session_key_salt = "myapp.sessions.SessionStore"
"#;
    let s = Settings::from_sources(
        Some(toml),
        [(
            "RESTFLOW_DJANGO__SECRET_KEY".to_owned(),
            "new-django-secret-0123456789abcdefghijklmnop".to_owned(),
        )],
    )
    .unwrap();
    let d = &s.django;
    assert_eq!(
        d.secret_key.as_ref().unwrap().expose(),
        "new-django-secret-0123456789abcdefghijklmnop"
    );
    assert_eq!(d.secret_key_fallbacks.len(), 1);
    assert_eq!(d.session_key_salt, "myapp.sessions.SessionStore");
    assert_eq!(
        d.auth_user_backend,
        "django.contrib.auth.backends.ModelBackend"
    );
    let signed = restflow_auth::session::SignedCookieSessions::new(d, 60).unwrap();
    for shown in [format!("{s:?}"), format!("{d:?}"), format!("{signed:?}")] {
        assert!(
            !shown.contains("django-secret"),
            "a secret in Debug: {shown}"
        );
    }
    // What is wrong is said at startup.
    for (toml, key) in [
        ("[django]\nsecret_key = \"\"", "django.secret_key"),
        (
            "[django]\nsecret_key_fallbacks = [\"x\"]",
            "django.secret_key_fallbacks",
        ),
        (
            "[django]\nsecret_key = \"k\"\nsession_key_salt = \"\"",
            "django.session_key_salt",
        ),
        (
            "[django]\nsecret_key = \"k\"\nauth_user_backend = \"myapp.Backend\"",
            "django.auth_user_backend",
        ),
    ] {
        let e = Settings::from_sources(Some(toml), [])
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{toml}: {e}");
    }
}

#[test]
fn a_toml_syntax_error_does_not_quote_the_line_with_the_secret() {
    let text = "[jwt]\nsigning_key = \"hunter2-hunter2-hunter2-hunter2-hunter2\" oops\n";
    let err = Settings::from_sources(Some(text), [])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("line 2, column"), "{err}");
}
