//! An HMAC request-signature authenticator in the style of drf-restflow's
//! custom authentication example, written once with
//! `#[restflow_auth::authenticator]`: the blocking twin is generated.
//!
//! A client sends `X-Api-Key: <key>` and
//! `X-Signature: hex(HMAC-SHA256(secret, METHOD "\n" PATH "\n" BODY))`.

use std::borrow::Cow;
use std::collections::HashMap;

use hmac::{Hmac, Mac};
use restflow_auth::authentication::{SchemeDoc, SchemeKind};
use restflow_auth::prelude::*;
use sha2::Sha256;

/// API keys: key -> (user id, shared secret).
pub struct ApiKeys<I> {
    keys: HashMap<String, (I, Vec<u8>)>,
}

impl<I> std::fmt::Debug for ApiKeys<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl<I: Clone> ApiKeys<I> {
    /// An empty key store.
    pub fn new() -> Self {
        ApiKeys {
            keys: HashMap::new(),
        }
    }

    /// Adds a key for a user.
    pub fn with_key(mut self, key: &str, user_id: I, secret: &[u8]) -> Self {
        self.keys.insert(key.to_owned(), (user_id, secret.to_vec()));
        self
    }

    /// Looks a key up (async path; an in-memory map answers at once).
    pub async fn find(&self, key: &str) -> Result<Option<(I, Vec<u8>)>, AuthError> {
        self.find_blocking(key)
    }

    /// Looks a key up (blocking path).
    pub fn find_blocking(&self, key: &str) -> Result<Option<(I, Vec<u8>)>, AuthError> {
        Ok(self.keys.get(key).cloned())
    }
}

/// The signed string: method, path and query, body.
pub fn signature(secret: &[u8], method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a hex signature in constant time (`Mac::verify_slice`).
fn verify(secret: &[u8], req: &Request<'_>, body: &[u8], sig: &str) -> Result<(), AuthError> {
    let given = hex::decode(sig).map_err(|_| AuthError::failed("Invalid signature."))?;
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(req.method().as_str().as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| AuthError::failed("Invalid signature."))
}

/// `X-Api-Key` + `X-Signature` over the request.
#[derive(Debug, Default)]
pub struct ApiKeySignature;

#[restflow_auth::authenticator]
impl<U: AuthUser> Authenticator<U> for ApiKeySignature {
    const NEEDS_BODY: bool = true;

    async fn authenticate(&self, req: &Request<'_>, ctx: &Context<U>) -> Outcome<U> {
        let (Some(key), Some(sig)) = (req.header("x-api-key"), req.header("x-signature")) else {
            return Ok(None); // not mine: try the next authenticator
        };
        let keys = ctx
            .store::<ApiKeys<U::Id>>()
            .ok_or_else(|| AuthError::internal("ApiKeys store not registered with the builder"))?;
        let Some((user_id, secret)) = keys.find(key).await? else {
            return Err(AuthError::failed("Invalid API key."));
        };
        let body = req.body().ok_or_else(|| {
            AuthError::internal(
                "request body not buffered: use a policy layer or `auth.layer().buffer_bodies()`",
            )
        })?;
        verify(&secret, req, body, sig)?;
        let user = ctx.users().find_by_id(&user_id).await?;
        let user = user.ok_or(Rejection::UserInactiveOrDeleted)?;
        Ok(Some(Authenticated::new(user, key.to_owned())))
    }

    fn authenticate_header(&self, _: &Context<U>) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed("HMAC realm=\"api\""))
    }

    /// In an OpenAPI document: both headers, in one requirement.
    fn openapi(_: &Context<U>, _: &http::Method) -> Vec<SchemeDoc> {
        let header = |name: &'static str, header: &'static str, what: &'static str| SchemeDoc {
            name: name.into(),
            kind: SchemeKind::Header(header.into()),
            description: Some(what.into()),
        };
        vec![
            header("api_key", "X-Api-Key", "The API key's id."),
            header(
                "api_signature",
                "X-Signature",
                "Hex HMAC-SHA256 of method, path and body under the key's secret.",
            ),
        ]
    }
}
