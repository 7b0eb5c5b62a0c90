//! OpenAPI from the declarations: utoipa operations get the security
//! requirements and the rejections of their handler's `#[authenticate]` and
//! `#[permissions]`.
//!
//! Write each handler's `#[utoipa::path(...)]` as usual (above or below
//! restflow's attributes: the order does not matter), route them with
//! [`routes!`] instead of `utoipa_axum::routes!`, and finish the document
//! with [`finish`] once the routes are in (after
//! `split_for_parts`; a utoipa `Modify` would run before them):
//!
//! ```
//! use axum::Json;
//! use restflow_auth::prelude::*;
//! use utoipa_axum::router::OpenApiRouter;
//! # #[derive(Clone, Debug, AuthUser)]
//! # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
//! #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
//! #   #[auth_user(is_staff)] staff: bool }
//! # restflow_auth::config! { user: User, authentication: [Jwt], permissions: [IsAuthenticated] }
//!
//! /// The caller.
//! #[utoipa::path(get, path = "/api/me/", responses((status = 200, description = "The caller")))]
//! #[authenticate(Jwt, Session)]
//! #[permissions(IsAuthenticatedOrReadOnly)]
//! async fn me(user: MaybeUser<User>) -> Json<String> {
//!     Json(user.username().to_owned())
//! }
//!
//! # let settings = Settings::from_sources(Some("[jwt]\nsigning_key = \"a-signing-key-of-at-least-32-bytes!!\"\nblacklist_enabled = false\n"), []).unwrap();
//! let auth = Auth::<User>::builder(settings)
//!     .users(MemoryUserStore::new())
//!     .sessions(restflow_auth::session::MemorySessionStore::new())
//!     .build()
//!     .unwrap();
//! let (router, mut api) = OpenApiRouter::<()>::new()
//!     .routes(restflow_auth::openapi::routes!(auth, me))
//!     .split_for_parts();
//! restflow_auth::openapi::finish(&mut api);
//! let doc = serde_json::to_value(&api).unwrap();
//! let get = &doc["paths"]["/api/me/"]["get"];
//! // A DRF chain is an OR: one requirement per scheme; a GET is open to
//! // anonymous callers under IsAuthenticatedOrReadOnly: `{}`.
//! assert_eq!(get["security"], serde_json::json!([{"jwt": []}, {"session": []}, {}]));
//! assert_eq!(get["responses"]["403"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Detail");
//! assert_eq!(doc["components"]["securitySchemes"]["jwt"]["scheme"], "bearer");
//! # let _ = router;
//! ```
//!
//! For each operation (path and method): one security requirement object
//! per authenticator of the chain that describes itself
//! ([`Authenticator::openapi`](crate::Authenticator::openapi): the
//! built-in schemes do; a session on an unsafe method requires the session
//! cookie *and* the CSRF header), plus the empty requirement `{}` when the
//! permissions let an anonymous request of that method through (decided by
//! running them on one); the 401 and 403 answers when the operation can
//! refuse, 429 when it has throttles, each with the `{"detail": ...}` schema
//! [`Detail`]. A scheme that does not describe itself is left out (with a
//! warning in the log); when that leaves an operation that refuses
//! anonymous callers with no requirement, it gets no `security` member
//! rather than an empty one (which would say "open").

use std::collections::BTreeMap;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, Paths};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema, Type,
};

use crate::authentication::{Chain, SchemeDoc, SchemeKind};
use crate::context::Auth;
use crate::permissions::PermissionSet;
use crate::throttle::ThrottleSet;
use crate::user::{AuthUser, RequestUser};

/// `utoipa_axum::routes!(handler, ...)` with each operation's security
/// requirements and rejections: `routes!(auth, handler, ...)`.
pub use restflow_auth_macros::openapi_routes as routes;

/// The name of the `{"detail": ...}` schema in `components.schemas`.
pub const DETAIL_SCHEMA: &str = "Detail";

/// The extension an operation carries its schemes in until [`finish`].
const SCHEMES_EXTENSION: &str = "x-restflow-auth-schemes";

/// The `{"detail": "..."}` body of every rejection.
pub fn detail_schema() -> Schema {
    ObjectBuilder::new()
        .property(
            "detail",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Why the request was refused (DRF's message).")),
        )
        .required("detail")
        .into()
}

/// The `detail_schema` as a value for `components(schemas(..))`-style use.
#[derive(Debug)]
pub struct Detail;

impl utoipa::PartialSchema for Detail {
    fn schema() -> RefOr<Schema> {
        RefOr::T(detail_schema())
    }
}

impl utoipa::ToSchema for Detail {
    fn name() -> std::borrow::Cow<'static, str> {
        DETAIL_SCHEMA.into()
    }
}

fn security_scheme(doc: &SchemeDoc) -> SecurityScheme {
    let description = doc.description.as_deref().map(str::to_owned);
    match &doc.kind {
        SchemeKind::Bearer { format } => {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = format.as_deref().map(str::to_owned);
            http.description = description;
            SecurityScheme::Http(http)
        }
        SchemeKind::Basic => {
            let mut http = Http::new(HttpAuthScheme::Basic);
            http.description = description;
            SecurityScheme::Http(http)
        }
        SchemeKind::Header(name) => SecurityScheme::ApiKey(ApiKey::Header(match description {
            Some(d) => ApiKeyValue::with_description(name.to_string(), d),
            None => ApiKeyValue::new(name.to_string()),
        })),
        SchemeKind::Cookie(name) => SecurityScheme::ApiKey(ApiKey::Cookie(match description {
            Some(d) => ApiKeyValue::with_description(name.to_string(), d),
            None => ApiKeyValue::new(name.to_string()),
        })),
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(http::Method, &mut Operation)> {
    let all = [
        (http::Method::GET, &mut item.get),
        (http::Method::PUT, &mut item.put),
        (http::Method::POST, &mut item.post),
        (http::Method::DELETE, &mut item.delete),
        (http::Method::OPTIONS, &mut item.options),
        (http::Method::HEAD, &mut item.head),
        (http::Method::PATCH, &mut item.patch),
        (http::Method::TRACE, &mut item.trace),
    ];
    all.into_iter()
        .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
        .collect()
}

fn rejection(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(DETAIL_SCHEMA)))
                    .build(),
            )
            .build(),
    )
}

/// Patches the operations of one handler (`routes!` calls it).
pub(crate) fn secure<U: AuthUser, C: Chain<U>, P: PermissionSet<U>, T: ThrottleSet<U>>(
    auth: &Auth<U>,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
    paths: &mut Paths,
) {
    let ctx = auth.context();
    if !schemas.iter().any(|(n, _)| n == DETAIL_SCHEMA) {
        schemas.push((DETAIL_SCHEMA.to_owned(), RefOr::T(detail_schema())));
    }
    for (path, item) in paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            let mut requirements = Vec::new();
            let mut schemes = serde_json::Map::new();
            let mut undescribed = 0;
            for docs in C::openapi(ctx, &method) {
                if docs.is_empty() {
                    undescribed += 1;
                    continue;
                }
                let mut requirement = SecurityRequirement::default();
                for doc in &docs {
                    requirement = requirement.add::<&str, [&str; 0], &str>(&doc.name, []);
                    if let Ok(v) = serde_json::to_value(security_scheme(doc)) {
                        schemes.insert(doc.name.to_string(), v);
                    }
                }
                requirements.push(requirement);
            }
            // The permissions, run on an anonymous request of this method
            // (a path http cannot parse is judged as `/`, never as a GET).
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.method = method.clone();
            if let Ok(uri) = path.parse() {
                parts.uri = uri;
            }
            let request = crate::request::Request::new(&parts);
            let anonymous = P::check(&request, &RequestUser::Anonymous).is_ok();
            if undescribed > 0 {
                tracing::warn!(
                    operation = %format!("{method} {path}"),
                    undescribed,
                    "restflow-auth: schemes of this operation's chain do not describe themselves (Authenticator::openapi); its security requirements leave them out"
                );
            }
            if anonymous {
                requirements.push(SecurityRequirement::default());
            }
            // No requirement at all would say "no authentication": an
            // operation that refuses anonymous callers keeps none instead.
            if !requirements.is_empty() {
                op.security = Some(requirements);
            }
            let responses = &mut op.responses.responses;
            let chain_len = C::LEN;
            if chain_len > 0 || !anonymous {
                responses.entry("401".into()).or_insert_with(|| {
                    rejection("Not authenticated, or the credentials were refused (401 when the chain's first scheme has a challenge, `WWW-Authenticate`)")
                });
                responses
                    .entry("403".into())
                    .or_insert_with(|| rejection("Forbidden: the permissions refused the request, or a scheme without a challenge refused it"));
            }
            if !T::EMPTY {
                responses.entry("429".into()).or_insert_with(|| {
                    rejection("Throttled: try again after `Retry-After` seconds")
                });
            }
            if !schemes.is_empty() {
                let ext = op.extensions.get_or_insert_with(Extensions::default);
                ext.insert(
                    SCHEMES_EXTENSION.to_owned(),
                    serde_json::Value::Object(schemes),
                );
            }
        }
    }
}

/// Moves the security schemes the operations use into
/// `components.securitySchemes` (and the [`Detail`] schema into
/// `components.schemas`). Call it once on the finished document.
pub fn finish(api: &mut OpenApi) {
    let mut found: BTreeMap<String, SecurityScheme> = BTreeMap::new();
    for item in api.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            let Some(ext) = op.extensions.as_mut() else {
                continue;
            };
            if let Some(serde_json::Value::Object(schemes)) = ext.remove(SCHEMES_EXTENSION) {
                for (name, value) in schemes {
                    if let Ok(s) = serde_json::from_value(value) {
                        found.entry(name).or_insert(s);
                    }
                }
            }
            if ext.is_empty() {
                op.extensions = None;
            }
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry(DETAIL_SCHEMA.to_owned())
        .or_insert_with(|| RefOr::T(detail_schema()));
    for (name, scheme) in found {
        components
            .security_schemes
            .entry(name)
            .or_insert(RefOr::T(scheme));
    }
}
