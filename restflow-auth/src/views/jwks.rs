//! The public key set at `/.well-known/jwks.json` (RFC 7517).

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::context::Auth;
use crate::jwt::{ConfigError, JwtState};
use crate::user::AuthUser;

impl<U: AuthUser> Auth<U> {
    /// `GET /.well-known/jwks.json`: the public keys of the built-in JWT's
    /// [key set](crate::jwt::KeySet), each with its `kid`, `alg` and
    /// `use: sig`, cached by clients for `jwt.jwks_max_age_s` seconds
    /// (`Cache-Control: public, max-age=...`). Merge it at the root of the
    /// service.
    ///
    /// The document is rendered once, here: a settings change (a rotation)
    /// takes effect with the new settings, as every other part of the key set.
    ///
    /// # Errors
    ///
    /// The JWT is not configured, or every key is an HMAC secret (a shared
    /// secret is never published).
    ///
    /// ```
    /// # use restflow_auth::prelude::*;
    /// # #[derive(Clone, Debug, AuthUser)]
    /// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
    /// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
    /// #   #[auth_user(is_staff)] staff: bool }
    /// let settings = Settings::from_sources(Some(r#"
    ///     [jwt]
    ///     signing_key = "a-random-secret-of-at-least-32-bytes!"
    ///     blacklist_enabled = false
    /// "#), []).unwrap();
    /// let auth = Auth::<User>::builder(settings).users(MemoryUserStore::new()).build().unwrap();
    /// // An HMAC secret is never published: the router is refused.
    /// let err = auth.jwks_routes::<()>().unwrap_err();
    /// assert_eq!(err.key, "jwt.keys");
    /// ```
    pub fn jwks_routes<S: Clone + Send + Sync + 'static>(&self) -> Result<Router<S>, ConfigError> {
        let jwt = self
            .context()
            .store::<JwtState>()
            .ok_or_else(|| ConfigError {
                key: "jwt.signing_key",
                message: "the JWT is not configured: there is no key set to publish".into(),
            })?;
        let set = jwt.keys().jwks()?;
        // `jwks()` refused secrets and checked for private members.
        let body = serde_json::to_vec(&set).map_err(|e| ConfigError {
            key: "jwt.keys",
            message: format!("cannot render the key set: {e}"),
        })?;
        let body = bytes::Bytes::from(body);
        let cache =
            HeaderValue::try_from(format!("public, max-age={}", jwt.settings().jwks_max_age_s))
                .map_err(|e| ConfigError {
                    key: "jwt.jwks_max_age_s",
                    message: e.to_string(),
                })?;
        let handler = move || {
            let body = body.clone();
            let cache = cache.clone();
            async move {
                let mut res = Response::new(Body::from(body));
                *res.status_mut() = StatusCode::OK;
                let h = res.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/jwk-set+json"),
                );
                h.insert(header::CACHE_CONTROL, cache);
                res
            }
        };
        Ok(Router::new().route("/.well-known/jwks.json", get(handler)))
    }
}
