//! OpenAPI from the declarations: security requirements per operation
//! (whatever the order of the attributes), the rejections with their
//! schema, the schemes in the components; and the quickstart's document,
//! validated by openapi-spec-validator and exercised by schemathesis.

use std::process::Command;

use axum::Json;
use restflow_auth::prelude::*;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

use crate::common::User;

/// utoipa's attribute first.
#[utoipa::path(get, path = "/a/", responses((status = 200, description = "OK")))]
#[authenticate(Jwt, Session)]
#[permissions(IsAuthenticatedOrReadOnly)]
async fn read_only(user: MaybeUser<User>) -> Json<String> {
    Json(user.username().to_owned())
}

/// utoipa's attribute between restflow's.
#[authenticate(Jwt, Session)]
#[utoipa::path(post, path = "/a/", responses((status = 200, description = "OK")))]
#[permissions(IsAuthenticatedOrReadOnly)]
async fn read_only_post(user: MaybeUser<User>) -> Json<String> {
    Json(user.username().to_owned())
}

/// utoipa's attribute last; Token and Basic; anyone.
#[permissions(AllowAny)]
#[authenticate(Token, Basic)]
#[utoipa::path(get, path = "/open/", responses((status = 200, description = "OK")))]
async fn open(user: MaybeUser<User>) -> Json<String> {
    Json(user.username().to_owned())
}

/// The project defaults (HeaderUser, SessionLike: schemes that do not
/// describe themselves) and staff only; no throttles.
#[utoipa::path(delete, path = "/staff/", responses((status = 204, description = "Gone")))]
#[authenticate]
#[permissions(IsAdminUser)]
#[throttle(none)]
async fn staff(_: CurrentUser<User>) {}

fn document() -> Value {
    let mut settings = crate::jwt::settings_with(|j| j.blacklist_enabled = false);
    settings.session.cookie_name = "sid".into();
    let auth = Auth::<User>::builder(settings)
        .users(crate::common::users())
        .sessions(restflow_auth::session::MemorySessionStore::new())
        .tokens(restflow_auth::token::MemoryTokenStore::<i64>::new())
        .build()
        .unwrap();
    let (_router, mut api) = OpenApiRouter::<()>::new()
        .routes(restflow_auth::openapi::routes!(
            auth,
            read_only,
            read_only_post
        ))
        .routes(restflow_auth::openapi::routes!(auth, open))
        .routes(restflow_auth::openapi::routes!(auth, staff))
        .split_for_parts();
    restflow_auth::openapi::finish(&mut api);
    serde_json::to_value(&api).unwrap()
}

#[test]
fn each_operation_has_its_handlers_requirements_and_rejections() {
    let doc = document();
    let p = &doc["paths"];
    // A DRF chain is an OR; the empty requirement when anonymous may pass.
    assert_eq!(
        p["/a/"]["get"]["security"],
        json!([{"jwt": []}, {"session": []}, {}])
    );
    // An unsafe method with a session needs the CSRF header too; anonymous
    // writes are refused.
    assert_eq!(
        p["/a/"]["post"]["security"],
        json!([{"jwt": []}, {"session": [], "csrf": [], "csrf_cookie": []}])
    );
    assert_eq!(
        p["/open/"]["get"]["security"],
        json!([{"token": []}, {"basic": []}, {}])
    );
    // Schemes that do not describe themselves are left out; with none left
    // and anonymous callers refused, no `security` (never `[]`, "open").
    assert!(p["/staff/"]["delete"]["security"].is_null());
    for (path, method) in [("/a/", "get"), ("/a/", "post"), ("/staff/", "delete")] {
        let responses = &p[path][method]["responses"];
        for status in ["401", "403"] {
            assert_eq!(
                responses[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Detail",
                "{method} {path} {status}"
            );
        }
    }
    // Throttles: the project's (possibly some) on /a/, none on /staff/.
    assert!(p["/a/"]["get"]["responses"]["429"].is_object());
    assert!(p["/staff/"]["delete"]["responses"]["429"].is_null());
    // An open route still documents 401/403: its chain can refuse bad credentials.
    assert!(p["/open/"]["get"]["responses"]["401"].is_object());

    let c = &doc["components"];
    assert_eq!(
        c["schemas"]["Detail"],
        json!({"type": "object", "required": ["detail"], "properties": {"detail": {
            "type": "string", "description": "Why the request was refused (DRF's message)."}}})
    );
    let s = &c["securitySchemes"];
    assert_eq!(s["jwt"]["type"], "http");
    assert_eq!(s["jwt"]["scheme"], "bearer");
    assert_eq!(s["jwt"]["bearerFormat"], "JWT");
    assert_eq!(s["basic"]["scheme"], "basic");
    assert_eq!(
        (
            s["session"]["type"].as_str(),
            s["session"]["in"].as_str(),
            s["session"]["name"].as_str()
        ),
        (Some("apiKey"), Some("cookie"), Some("sid")),
        "the settings' cookie name"
    );
    assert_eq!(s["csrf"]["in"], "header");
    assert_eq!(s["csrf"]["name"], "X-CSRFToken");
    assert_eq!(s["csrf_cookie"]["in"], "cookie");
    assert_eq!(s["csrf_cookie"]["name"], "csrftoken");
    assert_eq!(s["token"]["name"], "Authorization");
    assert!(
        !doc.to_string().contains("x-restflow-auth"),
        "finish() leaves no working extension behind"
    );
}

/// The CI venv's Python, when it has the tools.
fn python_with(modules: &str) -> Option<String> {
    let python = std::env::var("RESTFLOW_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    let has = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", &format!("import {modules}")])
            .status()
            .is_ok_and(|s| s.success())
    });
    if has {
        return python;
    }
    assert!(
        std::env::var("RESTFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "RESTFLOW_TEST_PYTHON lacks {modules} but RESTFLOW_REQUIRE_SERVICES=1 (.ci/run installs them)"
    );
    eprintln!("skipped: RESTFLOW_TEST_PYTHON lacks {modules}");
    None
}

#[test]
fn the_quickstart_document_is_valid_and_schemathesis_finds_nothing() {
    let Some(python) = python_with("openapi_spec_validator, schemathesis") else {
        return;
    };
    let q = crate::quickstart::start("openapi");
    let r = crate::common::http(&q.addr, "GET", "/api/openapi.json", &[], None);
    assert_eq!(r.status, 200);
    let doc = &r.body;
    assert_eq!(
        doc["paths"]["/api/notes/"]["post"]["security"],
        json!([{"session": [], "csrf": [], "csrf_cookie": []}, {"jwt": []}])
    );
    assert_eq!(
        doc["paths"]["/api/admin/"]["get"]["security"],
        json!([{"jwt": []}, {"session": []}, {"api_key": [], "api_signature": []}])
    );
    assert_eq!(
        doc["paths"]["/api/whoami/"]["get"]["security"],
        json!([{"jwt": []}, {"session": []}, {"api_key": [], "api_signature": []}, {}])
    );
    let path = q.dir.join("openapi.json");
    std::fs::write(&path, &r.text).unwrap();
    let validated = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // Schemathesis against the running quickstart, anonymous and then with
    // the demo user's JWT (so that the 200 bodies are checked too): no 5xx,
    // and every status, content type, header and body as the document says.
    let login = json!({"username": "demo", "password": q.password});
    let token = crate::common::http(&q.addr, "POST", "/api/auth/token/", &[], Some(login));
    assert_eq!(token.status, 200, "{}", token.text);
    let bearer = format!(
        "Authorization: Bearer {}",
        token.body["access"].as_str().unwrap()
    );
    for auth in [None, Some(bearer.as_str())] {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "schemathesis.cli", "run"])
            .arg(format!("http://{}/api/openapi.json", q.addr))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
                "--max-examples",
                "30",
                "--seed",
                "1",
            ])
            .env("NO_COLOR", "1")
            .current_dir(&q.dir);
        if let Some(h) = auth {
            cmd.args(["-H", h]);
        }
        let run = cmd.output().unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(run.status.success(), "schemathesis ({auth:?}):\n{out}");
        assert!(
            out.contains("Tested: 6"),
            "schemathesis tested every operation:\n{out}"
        );
        if auth.is_some() {
            // With the token only the staff route refuses.
            assert!(!out.contains("GET /api/me/"), "{out}");
        }
    }
}
