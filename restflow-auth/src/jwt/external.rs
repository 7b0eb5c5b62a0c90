//! Tokens from an external issuer (Auth0, Keycloak, Okta, another restflow
//! service): `[external_jwt]`, the keys it publishes (cached by
//! [`remote_keys`](super::remote_keys)) and the checks the
//! [`ExternalJwt`](crate::authentication::external::ExternalJwt)
//! authenticator runs.
//!
//! ```toml
//! [external_jwt]
//! issuer = "https://tenant.example.com/"   # the `iss` every token carries
//! audience = "https://api.example.com"     # required: one of the token's `aud`
//! # jwks_url = "https://tenant.example.com/.well-known/jwks.json"
//! # without jwks_url: OIDC discovery at <issuer>/.well-known/openid-configuration
//! ```
//!
//! ```
//! # #[cfg(feature = "external-jwt")] {
//! let s: restflow_auth::settings::Settings = toml::from_str(r#"
//!     [external_jwt]
//!     issuer = "https://tenant.example.com/"
//!     audience = "api"
//! "#).unwrap();
//! assert_eq!(s.external_jwt.unknown_kid_cooldown_s, 30);
//! assert_eq!(s.external_jwt.user_claim, "sub");
//! # }
//! ```
//!
//! Keys are cached for the JWKS response's `max-age` (`cache_s`, 10
//! minutes, without one) and refreshed ahead, in the background, at 80%
//! of it. A `kid` the cache lacks triggers one refetch per
//! `unknown_kid_cooldown_s` (the requests meanwhile wait for that fetch,
//! never one of their own). While the issuer is unreachable the last keys
//! serve for `stale_s` more; after that every token is answered 503 until
//! a fetch succeeds (fail closed). Each key is pinned to its `alg` (or,
//! without one, to the algorithm its type implies), which must be one of
//! `algorithms`; HMAC keys are never accepted from a set.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jws::{self, Options, TokenError};
use super::keys::ConfigError;
use super::remote_keys::{Fetch, Keys, RemoteKeys};

/// The longest cache lifetime and stale window accepted (a week).
const MAX_LIFETIME_S: u64 = 7 * 86_400;

/// `[external_jwt]`: the external issuer whose tokens `ExternalJwt` accepts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalJwtSettings {
    /// The issuer (`iss`) every token must name; setting it turns the
    /// authenticator on. With OIDC discovery, the discovery document's
    /// `issuer` must be exactly this.
    pub issuer: Option<String>,
    /// Where the issuer publishes its keys (RFC 7517 JWK set). Unset: found
    /// by OIDC discovery (`jwks_uri` of `discovery_url`).
    pub jwks_url: Option<String>,
    /// The OpenID provider configuration; default
    /// `<issuer>/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// The audience this service is (required: an issuer signs tokens for
    /// many services, and a token for another must not work here).
    pub audience: Option<String>,
    /// The algorithms accepted; every key is pinned to one of them.
    pub algorithms: Vec<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (another
    /// machine's clock signs these tokens); at most 600.
    pub leeway_s: u64,
    /// The claim that names the local user.
    pub user_claim: String,
    /// What the claim holds: `username` or `id`.
    pub user_field: String,
    /// Create a user the claim names that does not exist (as `RemoteUser`
    /// does, through `UserStore::create_remote_user`); `username` only.
    pub create_unknown_user: bool,
    /// Refuse tokens of inactive users.
    pub check_user_is_active: bool,
    /// The `Authorization` schemes accepted.
    pub auth_header_types: Vec<String>,
    /// How long keys are cached when the response gives no `max-age`.
    pub cache_s: u64,
    /// The shortest cache lifetime, whatever `max-age` says (0 and
    /// `no-store` included).
    pub min_cache_s: u64,
    /// The longest cache lifetime, whatever `max-age` says.
    pub max_cache_s: u64,
    /// At most one refetch for unknown `kid`s per this many seconds.
    pub unknown_kid_cooldown_s: u64,
    /// How long expired keys still serve while the issuer is unreachable;
    /// then 503.
    pub stale_s: u64,
    /// The timeout of one HTTP request to the issuer, in milliseconds.
    pub timeout_ms: u64,
    /// Allow `http://` URLs beyond loopback addresses (a lab issuer such as
    /// `http://keycloak:8080`); HTTPS is required otherwise.
    pub allow_http: bool,
    /// A PEM file of extra root certificates (a private CA); Mozilla's
    /// roots are always trusted.
    pub ca_file: Option<String>,
}

impl Default for ExternalJwtSettings {
    fn default() -> Self {
        ExternalJwtSettings {
            issuer: None,
            jwks_url: None,
            discovery_url: None,
            audience: None,
            algorithms: [
                "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
            ]
            .map(String::from)
            .to_vec(),
            leeway_s: 30,
            user_claim: "sub".into(),
            user_field: "username".into(),
            create_unknown_user: false,
            check_user_is_active: true,
            auth_header_types: vec!["Bearer".into()],
            cache_s: 600,
            min_cache_s: 60,
            max_cache_s: 86_400,
            unknown_kid_cooldown_s: 30,
            stale_s: 3_600,
            timeout_ms: 5_000,
            allow_http: false,
            ca_file: None,
        }
    }
}

fn err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Whether `host` is a loopback name or address.
fn loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| crate::net::canonical(ip).is_loopback())
}

/// Checks a URL of the settings: absolute, HTTPS (or HTTP where allowed).
pub(crate) fn check_url(
    key: &'static str,
    url: &str,
    allow_http: bool,
) -> Result<reqwest::Url, ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| err(key, format!("{url:?} is not an absolute URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http || parsed.host_str().is_some_and(loopback) => {}
        "http" => {
            return Err(err(
                key,
                format!(
                    "{url:?} is plain HTTP: keys must come over HTTPS (or set `external_jwt.allow_http` for a lab issuer)"
                ),
            ));
        }
        other => return Err(err(key, format!("{url:?}: unsupported scheme {other}"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err(key, format!("{url:?} carries credentials")));
    }
    Ok(parsed)
}

impl ExternalJwtSettings {
    /// Checks the section; the error names the setting to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Some(issuer) = &self.issuer else {
            return Ok(());
        };
        if issuer.is_empty() {
            return Err(err("external_jwt.issuer", "is empty"));
        }
        match &self.audience {
            Some(a) if !a.is_empty() => {}
            _ => {
                return Err(err(
                    "external_jwt.audience",
                    "is not set: name the audience of this service's tokens (the issuer's API identifier)",
                ));
            }
        }
        if let Some(url) = &self.jwks_url {
            check_url("external_jwt.jwks_url", url, self.allow_http)?;
        } else {
            check_url(
                "external_jwt.discovery_url",
                &self.discovery(issuer),
                self.allow_http,
            )?;
        }
        if self.algorithms.is_empty() {
            return Err(err("external_jwt.algorithms", "is empty"));
        }
        for a in &self.algorithms {
            if a.starts_with("HS") {
                return Err(err(
                    "external_jwt.algorithms",
                    format!(
                        "{a} is a shared-secret algorithm: an issuer's published keys are public"
                    ),
                ));
            }
            if !crate::settings::JWT_ALGORITHMS.contains(&a.as_str()) {
                return Err(err(
                    "external_jwt.algorithms",
                    format!(
                        "{a} is not one of {:?}",
                        &crate::settings::JWT_ALGORITHMS[3..]
                    ),
                ));
            }
        }
        if !matches!(self.user_field.as_str(), "username" | "id") {
            return Err(err(
                "external_jwt.user_field",
                format!("{:?}: expected \"username\" or \"id\"", self.user_field),
            ));
        }
        if self.create_unknown_user && self.user_field != "username" {
            return Err(err(
                "external_jwt.create_unknown_user",
                "creates users by username: set `user_field = \"username\"`",
            ));
        }
        if self.user_claim.is_empty() {
            return Err(err("external_jwt.user_claim", "is empty"));
        }
        if self.auth_header_types.is_empty()
            || self
                .auth_header_types
                .iter()
                .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(err(
                "external_jwt.auth_header_types",
                "needs one or more schemes, each visible ASCII without spaces",
            ));
        }
        for (key, v) in [
            ("external_jwt.max_cache_s", self.max_cache_s),
            ("external_jwt.stale_s", self.stale_s),
        ] {
            if v > MAX_LIFETIME_S {
                return Err(err(key, format!("is over a week ({MAX_LIFETIME_S} s)")));
            }
        }
        if self.leeway_s > 600 {
            return Err(err("external_jwt.leeway_s", "is over 600 seconds"));
        }
        if self.min_cache_s == 0 || self.min_cache_s > self.max_cache_s {
            return Err(err(
                "external_jwt.min_cache_s",
                "must be at least 1 and at most `max_cache_s`",
            ));
        }
        if !(self.min_cache_s..=self.max_cache_s).contains(&self.cache_s) {
            return Err(err(
                "external_jwt.cache_s",
                "must lie between `min_cache_s` and `max_cache_s`",
            ));
        }
        if self.unknown_kid_cooldown_s == 0 {
            return Err(err(
                "external_jwt.unknown_kid_cooldown_s",
                "must be at least 1: every unknown kid would fetch",
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(err(
                "external_jwt.timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        Ok(())
    }

    fn discovery(&self, issuer: &str) -> String {
        self.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            )
        })
    }
}

/// A token of the external issuer, verified: the credential
/// `ExternalJwt` leaves on the request (`request.auth`).
#[derive(Clone, Debug)]
pub struct ExternalToken {
    claims: Value,
    kid: Option<String>,
}

impl ExternalToken {
    /// Every claim of the token.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// One claim.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The `kid` of the key that signed it.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// The external issuer of an [`Auth`](crate::Auth): the settings and the
/// key cache, built when `external_jwt.issuer` is set. Read it with
/// `ctx.store::<ExternalIssuer>()`.
#[derive(Debug)]
pub struct ExternalIssuer {
    settings: ExternalJwtSettings,
    keys: RemoteKeys,
}

/// What a verification needs of the key cache.
pub(crate) enum Verdict {
    /// The token, verified.
    Token(ExternalToken),
    /// Its `kid` is not among the cached keys: ask for a refetch.
    UnknownKid(TokenError),
    /// Not valid.
    Invalid(TokenError),
}

impl ExternalIssuer {
    /// Checks the settings, and starts the background thread that loads
    /// and refreshes the keys (the first fetch starts at once).
    pub fn new(settings: &ExternalJwtSettings) -> Result<Self, ConfigError> {
        settings.validate()?;
        let issuer = settings
            .issuer
            .clone()
            .ok_or_else(|| err("external_jwt.issuer", "is not set"))?;
        let source = match &settings.jwks_url {
            Some(url) => Fetch::Jwks(check_url(
                "external_jwt.jwks_url",
                url,
                settings.allow_http,
            )?),
            None => Fetch::Discovery {
                url: check_url(
                    "external_jwt.discovery_url",
                    &settings.discovery(&issuer),
                    settings.allow_http,
                )?,
                issuer,
            },
        };
        let ca = match &settings.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| err("external_jwt.ca_file", format!("cannot read {path}: {e}")))?,
            ),
            None => None,
        };
        let keys = RemoteKeys::start(source, settings, ca.as_deref())?;
        Ok(ExternalIssuer {
            settings: settings.clone(),
            keys,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ExternalJwtSettings {
        &self.settings
    }

    /// The key cache (its state and counters).
    pub fn keys(&self) -> &RemoteKeys {
        &self.keys
    }

    /// The challenge: `<first header type> realm="api"`.
    pub fn challenge(&self) -> String {
        format!("{} realm=\"api\"", self.settings.auth_header_types[0])
    }

    /// Verifies `raw` against `keys`: signature, `alg` pinned to the key,
    /// `exp` (required), `nbf`, `iat`, `iss` and `aud`.
    pub(crate) fn verify(&self, raw: &str, keys: &Keys) -> Verdict {
        let s = &self.settings;
        let opts = Options {
            require_exp_iat: false,
            reject_aud_when_unset: true,
            leeway_s: s.leeway_s,
            issuer: s.issuer.as_deref(),
            audience: s.audience.as_deref(),
            user_claim: &s.user_claim,
            revoke_claim: None,
            type_claim: "token_type",
            id_claim: "jti",
        };
        let mut payload = String::new();
        let read = match jws::read(raw, &keys.set, &opts, jws::now_f64(), &mut payload) {
            Ok(read) => read,
            Err(TokenError::Invalid(m)) if m == super::keyset::UNKNOWN_KID => {
                return if self.plausible(raw) {
                    Verdict::UnknownKid(TokenError::Invalid(m))
                } else {
                    Verdict::Invalid(TokenError::Invalid(m))
                };
            }
            Err(e) => return Verdict::Invalid(e),
        };
        if read.exp.is_none() {
            return Verdict::Invalid(TokenError::Invalid(
                "Token is missing the \"exp\" claim".into(),
            ));
        }
        let kid = jws::header_kid(raw);
        match serde_json::from_str::<Value>(&payload) {
            Ok(claims) => Verdict::Token(ExternalToken { claims, kid }),
            Err(_) => Verdict::Invalid(TokenError::Invalid("Invalid payload string".into())),
        }
    }

    /// Whether an unverified token could be one of this issuer's, worth a
    /// refetch of its keys: its `iss` is the issuer's and its `exp` has
    /// not passed. Anything else is refused without asking for one.
    fn plausible(&self, raw: &str) -> bool {
        let Some(payload) = raw.split('.').nth(1) else {
            return false;
        };
        let mut buf = Vec::new();
        if !super::b64::decode_into(payload.as_bytes(), &mut buf) {
            return false;
        }
        let Ok(claims) = serde_json::from_slice::<Value>(&buf) else {
            return false;
        };
        let s = &self.settings;
        let now = jws::now_f64();
        claims.get("iss").and_then(Value::as_str) == s.issuer.as_deref()
            && claims
                .get("exp")
                .and_then(Value::as_f64)
                .is_some_and(|exp| exp + s.leeway_s as f64 > now)
    }
}

/// Built when `external_jwt.issuer` is set.
impl crate::context::Component for ExternalIssuer {
    fn build(
        settings: &crate::settings::Settings,
        _: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        match settings.external_jwt.issuer {
            Some(_) => Ok(Some(ExternalIssuer::new(&settings.external_jwt)?)),
            None => Ok(None),
        }
    }
}
