//! The message catalog on the wire: `Accept-Language`, `Content-Language`,
//! application overrides, and DRF's English by default.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use restflow_auth::messages::Catalog;
use restflow_auth::prelude::*;

use crate::common::{HeaderUser, SessionLike, User, users};
use crate::handlers::send;

#[authenticate(HeaderUser, SessionLike)]
#[permissions(IsAuthenticated)]
async fn guarded(user: CurrentUser<User>) -> String {
    user.username.clone()
}

fn app(catalog: Option<Catalog>) -> Router {
    let mut b = Auth::<User>::builder(Settings::default()).users(users());
    if let Some(c) = catalog {
        b = b.messages(c);
    }
    let auth = b.build().unwrap();
    Router::new().route("/", get(guarded)).layer(auth.layer())
}

fn get_with(lang: Option<&str>) -> http::Request<Body> {
    let mut b = http::Request::get("/");
    if let Some(l) = lang {
        b = b.header("accept-language", l);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn english_is_drf_text_by_default() {
    let (status, headers, body) = send(app(None), get_with(None)).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"detail": "Authentication credentials were not provided."})
    );
    assert_eq!(headers["content-language"], "en");
}

#[tokio::test]
async fn accept_language_picks_french_or_german() {
    let (_, headers, body) = send(app(None), get_with(Some("fr-FR,fr;q=0.9,en;q=0.5"))).await;
    assert_eq!(
        body["detail"],
        "Informations d'authentification non fournies."
    );
    assert_eq!(headers["content-language"], "fr");
    let (_, _, body) = send(app(None), get_with(Some("en;q=0.2, de;q=0.8"))).await;
    assert_eq!(body["detail"], "Anmeldedaten fehlen.");
    let (_, _, body) = send(app(None), get_with(Some("ja"))).await;
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );
}

#[tokio::test]
async fn applications_override_any_message_and_add_languages() {
    let catalog = Catalog::default()
        .with_message("en", "not_authenticated", "Log in first.")
        .unwrap()
        .with_message(
            "es",
            "not_authenticated",
            "No se proporcionaron credenciales.",
        )
        .unwrap();
    let (_, _, body) = send(app(Some(catalog.clone())), get_with(None)).await;
    assert_eq!(body["detail"], "Log in first.");
    let (_, headers, body) = send(app(Some(catalog)), get_with(Some("es"))).await;
    assert_eq!(body["detail"], "No se proporcionaron credenciales.");
    assert_eq!(headers["content-language"], "es");
}

#[tokio::test]
async fn messages_with_placeholders_are_translated_with_their_values() {
    let catalog = Catalog::default();
    let e = AuthError::new(Rejection::UnsupportedMediaType).arg("media_type", "text/plain");
    assert_eq!(
        catalog.render(&e, "en"),
        "Unsupported media type \"text/plain\" in request."
    );
    assert_eq!(
        catalog.render(&e, "fr"),
        "Type de média « text/plain » non supporté."
    );
}

#[test]
fn every_code_is_stable_and_unique() {
    let mut codes: Vec<_> = Rejection::ALL.iter().map(|r| r.code()).collect();
    let n = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), n);
    for r in Rejection::ALL {
        assert_eq!(Rejection::from_code(r.code()), Some(*r));
    }
}
