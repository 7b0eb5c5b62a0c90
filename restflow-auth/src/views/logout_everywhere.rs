//! `POST logout/everywhere/`: logout everywhere for the caller.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::{Map, Value};

use super::{ViewFuture, lang, view};
use crate::authentication::Chain;
use crate::context::{Auth, BuildError, Context};
use crate::dispatch::Denial;
use crate::error::Rejected;
use crate::permissions::IsAuthenticated;
use crate::session::cookies;
use crate::user::AuthUser;

impl<U: AuthUser> Auth<U> {
    /// `POST logout/everywhere/`, to nest under a prefix: the caller,
    /// authenticated by chain `C` (IsAuthenticated; a session must pass
    /// the CSRF check), ends every access token, refresh token and session
    /// it has ([`revocation::logout_everywhere`](crate::revocation::logout_everywhere)),
    /// this request's included. Answers 204 and deletes the session and
    /// token cookies; 401/403 as the chain answers; 503 when the store
    /// cannot be reached. Refused (at startup) without
    /// [`AuthBuilder::revocations`](crate::AuthBuilder::revocations), or
    /// when the chain's schemes are not configured.
    ///
    /// ```
    /// # use restflow_auth::prelude::*;
    /// # use restflow_auth::revocation::MemoryRevocationStore;
    /// # #[derive(Clone, Debug, AuthUser)]
    /// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
    /// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
    /// #   #[auth_user(is_staff)] staff: bool }
    /// let auth = Auth::<User>::builder(Settings::default())
    ///     .users(MemoryUserStore::new())
    ///     .sessions(restflow_auth::session::MemorySessionStore::new())
    ///     .revocations(MemoryRevocationStore::new())
    ///     .build()
    ///     .unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/api/auth", auth.logout_everywhere_routes::<(Session,), _>().unwrap())
    ///     .layer(auth.layer());
    /// # let _ = app;
    /// ```
    pub fn logout_everywhere_routes<C: Chain<U>, S: Clone + Send + Sync + 'static>(
        &self,
    ) -> Result<Router<S>, BuildError> {
        let ctx = Arc::clone(self.context());
        let mut problems = C::missing(&ctx);
        if ctx.store::<crate::revocation::Revocations>().is_none() {
            problems.push(
                "logout everywhere needs a revocation store: call `.revocations(store)` on the builder"
                    .into(),
            );
        }
        if !problems.is_empty() {
            return Err(BuildError::Wiring(problems));
        }
        Ok(Router::new().route("/logout/everywhere/", view(&ctx, logout_everywhere::<U, C>)))
    }
}

fn logout_everywhere<U: AuthUser, C: Chain<U>>(
    ctx: Arc<Context<U>>,
    parts: http::request::Parts,
    _: Map<String, Value>,
) -> ViewFuture {
    Box::pin(async move {
        // The CSRF check of a session may read the form body.
        let req = super::buffered_request(&parts);
        let result = async {
            let id = crate::dispatch::authenticate::<U, C, (IsAuthenticated,)>(&req, &ctx).await?;
            let user = id
                .user
                .user()
                .ok_or_else(|| Denial::new(crate::error::Rejection::NotAuthenticated.into()))?;
            crate::revocation::logout_everywhere(&ctx, user)
                .await
                .map_err(Denial::new)?;
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookies::delete_cookie(&ctx.settings().session.cookie_name),
            );
            #[cfg(feature = "jwt")]
            if let Some(c) = ctx.store::<crate::jwt::cookie::JwtCookies>() {
                for c in c.delete() {
                    h.append(header::SET_COOKIE, c);
                }
            }
            Ok::<_, Denial>(res)
        }
        .await;
        result.unwrap_or_else(|d| Rejected::new(&d, ctx.messages(), lang(&parts)).into_response())
    })
}
