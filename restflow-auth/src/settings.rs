//! Runtime settings: keys, lifetimes, cookie and header names.
//!
//! Defaults are drf-restflow's and DRF's. [`Settings::load`] reads
//! `restflow.toml` (or the file named by `RESTFLOW_CONFIG`), then applies
//! `RESTFLOW_*` environment variables, then [validates](Settings::validate):
//! a setting that would fail at request time fails here instead, with a
//! message that says what to fix.
//!
//! Environment variables name a section and a key separated by a double
//! underscore: `RESTFLOW_JWT__SIGNING_KEY`, `RESTFLOW_SESSION__COOKIE_NAME`,
//! `RESTFLOW_BODY_LIMIT`. Lists are comma-separated
//! (`RESTFLOW_JWT__AUTH_HEADER_TYPES=Bearer,JWT`).
//!
//! ```
//! use restflow_auth::Settings;
//!
//! let s = Settings::from_sources(
//!     Some("[jwt]\nsigning_key = \"a-signing-key-of-at-least-32-bytes!!\"\n"),
//!     [("RESTFLOW_JWT__ACCESS_TOKEN_LIFETIME_S".to_owned(), "60".to_owned())],
//! )
//! .unwrap();
//! assert_eq!(s.jwt.access_token_lifetime_s, 60);
//! assert_eq!(s.session.cookie_name, "sessionid");
//! // Secrets never show in Debug output.
//! assert!(!format!("{s:?}").contains("at-least-32"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret string (signing keys): its `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// All settings.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The built-in JWT.
    pub jwt: JwtSettings,
    /// Sessions and CSRF.
    pub session: SessionSettings,
    /// DRF's `TokenAuthentication`.
    pub token: TokenSettings,
    /// DRF's `BasicAuthentication`.
    pub basic: BasicSettings,
    /// DRF's `RemoteUserAuthentication`.
    pub remote_user: RemoteUserSettings,
    /// Tokens issued by djangorestframework-simplejwt (`SIMPLE_JWT`).
    pub simplejwt: SimpleJwtSettings,
    /// Password hashing and its executor.
    pub password: crate::password::PasswordSettings,
    /// DRF's throttling (and the client identity the lockout uses too).
    pub throttle: crate::throttle::ThrottleSettings,
    /// The login lockout.
    pub login: crate::lockout::LoginSettings,
    /// The built-in JWT's cookie transport.
    #[cfg(feature = "jwt")]
    pub jwt_cookie: crate::jwt::cookie::JwtCookieSettings,
    /// Tokens of an external issuer (`ExternalJwt`).
    #[cfg(feature = "external-jwt")]
    pub external_jwt: crate::jwt::external::ExternalJwtSettings,
    /// The per-process caches of revocation state and their feeds.
    pub invalidation: crate::invalidation::InvalidationSettings,
    /// What a service beside Django shares with it (`SECRET_KEY`, ...).
    pub django: crate::django::DjangoSettings,
    /// Where the SQL stores are (for the management command).
    pub database: crate::database::DatabaseSettings,
    /// The language of messages when `Accept-Language` names none we have.
    pub default_language: String,
    /// The largest request body the library reads (endpoints, buffering), in bytes.
    pub body_limit: usize,
    /// The media types responses can have, for DRF's content negotiation
    /// (an `Accept` that admits none of them is 406 before
    /// authentication); empty turns the check off. Default: DRF's default
    /// renderers, JSON and the browsable API's HTML.
    pub renderer_media_types: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jwt: JwtSettings::default(),
            session: SessionSettings::default(),
            token: TokenSettings::default(),
            basic: BasicSettings::default(),
            remote_user: RemoteUserSettings::default(),
            simplejwt: SimpleJwtSettings::default(),
            password: crate::password::PasswordSettings::default(),
            throttle: crate::throttle::ThrottleSettings::default(),
            login: crate::lockout::LoginSettings::default(),
            #[cfg(feature = "jwt")]
            jwt_cookie: crate::jwt::cookie::JwtCookieSettings::default(),
            #[cfg(feature = "external-jwt")]
            external_jwt: crate::jwt::external::ExternalJwtSettings::default(),
            invalidation: crate::invalidation::InvalidationSettings::default(),
            django: crate::django::DjangoSettings::default(),
            database: crate::database::DatabaseSettings::default(),
            default_language: "en".into(),
            body_limit: 1024 * 1024,
            renderer_media_types: vec!["application/json".into(), "text/html".into()],
        }
    }
}

/// The JWT algorithms restflow-auth signs and verifies.
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// The user fields a JWT may carry as the user id (drf-restflow's allow-list).
pub const USER_ID_FIELDS: &[&str] = &["id", "pk", "uuid", "username", "email"];

/// `[jwt]`: drf-restflow's `RESTFLOW_SETTINGS["JWT"]`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// HMAC secret or private PEM. Required when JWT is used.
    pub signing_key: Option<Secret>,
    /// Public PEM for asymmetric algorithms (HMAC uses the signing key).
    pub verifying_key: Option<String>,
    /// One of [`JWT_ALGORITHMS`].
    pub algorithm: String,
    /// Access token lifetime, seconds (5 minutes).
    pub access_token_lifetime_s: u64,
    /// Refresh token lifetime, seconds (1 day).
    pub refresh_token_lifetime_s: u64,
    /// When set, issued as `iss` and required.
    pub issuer: Option<String>,
    /// When set, issued as `aud` and required.
    pub audience: Option<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`, seconds.
    pub leeway_s: u64,
    /// The claim that carries the user id.
    pub user_id_claim: String,
    /// The user field minted into that claim (see [`USER_ID_FIELDS`]).
    pub user_id_field: String,
    /// Accepted `Authorization` schemes, case-insensitive; the first names the challenge.
    pub auth_header_types: Vec<String>,
    /// Check and write the blacklist.
    pub blacklist_enabled: bool,
    /// Refresh returns a new refresh token and blacklists the old one.
    pub rotate_refresh_tokens: bool,
    /// Reject tokens of inactive users.
    pub check_user_is_active: bool,
    /// Carry a hash of the password hash, so a password change revokes tokens.
    pub check_revoke_token: bool,
    /// The claim for that hash.
    pub revoke_token_claim: String,
    /// Allow a process-local blacklist (revocations do not reach other instances).
    pub allow_local_blacklist: bool,
    /// The `kid` of the key above (`signing_key`/`verifying_key`), written
    /// in the header of every token it signs. Unset: derived from the key
    /// (the RFC 7638 thumbprint of a public key; a keyed digest of an HMAC
    /// secret, which tells no more about it than a signature does).
    pub kid: Option<String>,
    /// More keys, each named by its `kid` (`[[jwt.keys]]`): the key that
    /// signs next, and retired keys kept until the tokens they signed
    /// expire. With any here, a token's `kid` must name a key of the set;
    /// a token without one is verified by the key above (or, without it,
    /// by the active key).
    pub keys: Vec<JwtKeySettings>,
    /// The `kid` of the key that signs new tokens: the key above by
    /// default. Rotating is changing this (after every instance knows the
    /// new key).
    pub active_kid: Option<String>,
    /// `Cache-Control: max-age` of the published key set
    /// (`/.well-known/jwks.json`), seconds.
    pub jwks_max_age_s: u64,
    /// Refresh-token families (RFC 9700 §4.14.2): every refresh token
    /// carries a family id (`fam`), and presenting one that was already
    /// rotated ends the whole family (its newest refresh token and its
    /// access tokens included). In effect with rotation and the blacklist.
    pub refresh_families: bool,
    /// Seconds after a rotation during which the token just rotated may be
    /// presented again (a client retrying a refresh whose answer it lost)
    /// without ending the family: the retry gets the same successor (one
    /// jti, so the family never forks). 0: any reuse ends the family.
    pub refresh_reuse_grace_s: u64,
}

/// One key of `[[jwt.keys]]`.
///
/// ```
/// let s = restflow_auth::Settings::from_sources(Some(r#"
///     [jwt]
///     signing_key = "a-random-secret-of-at-least-32-bytes!"
///     active_kid = "2026-12"
///     [[jwt.keys]]
///     kid = "2026-12"
///     algorithm = "HS256"
///     signing_key = "the-next-random-secret-of-32-bytes!!"
/// "#), []).unwrap();
/// assert_eq!(s.jwt.keys[0].kid, "2026-12");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeySettings {
    /// The key's id, unique in the set: printable ASCII, at most 64 bytes.
    pub kid: String,
    /// One of [`JWT_ALGORITHMS`]; the key is used with this one only.
    /// Unset: follows the PEM key (RS256 for RSA, ES256/ES384 for EC
    /// P-256/P-384, EdDSA for Ed25519); an HMAC secret needs it.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// HMAC secret or private PEM (PKCS#8); absent on a key that only
    /// verifies (a retired key whose private part is gone).
    #[serde(default)]
    pub signing_key: Option<Secret>,
    /// Public PEM; derived from a private `signing_key` when absent.
    #[serde(default)]
    pub verifying_key: Option<String>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            signing_key: None,
            verifying_key: None,
            algorithm: "HS256".into(),
            access_token_lifetime_s: 300,
            refresh_token_lifetime_s: 86_400,
            issuer: None,
            audience: None,
            leeway_s: 0,
            user_id_claim: "user_id".into(),
            user_id_field: "id".into(),
            auth_header_types: vec!["Bearer".into()],
            blacklist_enabled: true,
            rotate_refresh_tokens: true,
            check_user_is_active: true,
            check_revoke_token: false,
            revoke_token_claim: "hash_password".into(),
            allow_local_blacklist: false,
            kid: None,
            keys: Vec::new(),
            active_kid: None,
            jwks_max_age_s: 300,
            refresh_families: true,
            refresh_reuse_grace_s: 0,
        }
    }
}

/// `[session]`: Django's session and CSRF settings.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// `SESSION_COOKIE_NAME`.
    pub cookie_name: String,
    /// `SESSION_COOKIE_AGE`, seconds (two weeks).
    pub cookie_age_s: u64,
    /// `SESSION_COOKIE_SECURE`.
    pub cookie_secure: bool,
    /// `CSRF_COOKIE_NAME`.
    pub csrf_cookie_name: String,
    /// `CSRF_HEADER_NAME` as sent on the wire.
    pub csrf_header_name: String,
    /// `CSRF_TRUSTED_ORIGINS` (`scheme://host[:port]`).
    pub csrf_trusted_origins: Vec<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie_name: "sessionid".into(),
            cookie_age_s: 1_209_600,
            cookie_secure: false,
            csrf_cookie_name: "csrftoken".into(),
            csrf_header_name: "X-CSRFToken".into(),
            csrf_trusted_origins: Vec::new(),
        }
    }
}

/// `[token]`: DRF's `TokenAuthentication`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// The `Authorization` keyword, case-insensitive.
    pub keyword: String,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            keyword: "Token".into(),
        }
    }
}

/// `[basic]`: DRF's `BasicAuthentication`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicSettings {
    /// The realm of `WWW-Authenticate: Basic realm="api"`.
    pub realm: String,
}

impl Default for BasicSettings {
    fn default() -> Self {
        BasicSettings {
            realm: "api".into(),
        }
    }
}

/// `[remote_user]`: DRF's `RemoteUserAuthentication`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteUserSettings {
    /// The header a trusted proxy sets (it must strip client copies).
    pub header: String,
    /// Create unknown users, as Django's `RemoteUserBackend`.
    pub create_unknown_user: bool,
    /// The peers (addresses or CIDRs, e.g. `["10.0.0.0/8"]`) allowed to
    /// present the header; a request from any other peer, or from an
    /// unknown one, is not authenticated by it. Empty: any peer (the proxy
    /// in front must then be the only way in, and strip client copies).
    pub trusted_proxies: crate::net::Networks,
    /// The longest name the header may carry (Django's `username` is at
    /// most 150 characters); a longer one names nobody.
    pub max_length: usize,
}

impl Default for RemoteUserSettings {
    fn default() -> Self {
        RemoteUserSettings {
            header: "X-Remote-User".into(),
            create_unknown_user: true,
            trusted_proxies: crate::net::Networks::new(),
            max_length: 150,
        }
    }
}

/// `[simplejwt]`: djangorestframework-simplejwt's `SIMPLE_JWT`, for
/// verifying the tokens a Django service issues.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimpleJwtSettings {
    /// `SIGNING_KEY` (Django's `SECRET_KEY` by default there; give it here).
    pub signing_key: Option<Secret>,
    /// `VERIFYING_KEY` for asymmetric algorithms.
    pub verifying_key: Option<String>,
    /// `ALGORITHM`.
    pub algorithm: String,
    /// `AUDIENCE`: checked only when set.
    pub audience: Option<String>,
    /// `ISSUER`.
    pub issuer: Option<String>,
    /// `LEEWAY`, seconds.
    pub leeway_s: u64,
    /// `AUTH_HEADER_TYPES`, matched case-sensitively.
    pub auth_header_types: Vec<String>,
    /// `USER_ID_CLAIM`.
    pub user_id_claim: String,
    /// `USER_ID_FIELD` (`id` or `username`).
    pub user_id_field: String,
    /// `TOKEN_TYPE_CLAIM`.
    pub token_type_claim: String,
    /// `JTI_CLAIM`.
    pub jti_claim: String,
    /// `AUTH_TOKEN_CLASSES`: `access` and/or `sliding`.
    pub auth_token_classes: Vec<String>,
    /// `CHECK_USER_IS_ACTIVE`.
    pub check_user_is_active: bool,
    /// `CHECK_REVOKE_TOKEN`.
    pub check_revoke_token: bool,
    /// `REVOKE_TOKEN_CLAIM`.
    pub revoke_token_claim: String,
}

impl Default for SimpleJwtSettings {
    fn default() -> Self {
        SimpleJwtSettings {
            signing_key: None,
            verifying_key: None,
            algorithm: "HS256".into(),
            audience: None,
            issuer: None,
            leeway_s: 0,
            auth_header_types: vec!["Bearer".into()],
            user_id_claim: "user_id".into(),
            user_id_field: "id".into(),
            token_type_claim: "token_type".into(),
            jti_claim: "jti".into(),
            auth_token_classes: vec!["access".into()],
            check_user_is_active: true,
            check_revoke_token: false,
            revoke_token_claim: "hash_password".into(),
        }
    }
}

impl SimpleJwtSettings {
    /// The key and algorithm rules, as `[jwt]`'s, for building keys.
    pub fn as_jwt(&self) -> JwtSettings {
        JwtSettings {
            signing_key: self.signing_key.clone(),
            verifying_key: self.verifying_key.clone(),
            algorithm: self.algorithm.clone(),
            ..JwtSettings::default()
        }
    }

    /// Checks the simplejwt-specific rules.
    pub fn validate(&self) -> Result<()> {
        if self.auth_token_classes.is_empty()
            || self
                .auth_token_classes
                .iter()
                .any(|c| c != "access" && c != "sliding")
        {
            return invalid(
                "simplejwt.auth_token_classes",
                "give `access` and/or `sliding`".into(),
            );
        }
        if !matches!(self.user_id_field.as_str(), "id" | "pk" | "username") {
            return invalid(
                "simplejwt.user_id_field",
                "use `id` (or `pk`) or `username`".into(),
            );
        }
        if self.auth_header_types.is_empty() || self.auth_header_types.iter().any(|t| t.is_empty())
        {
            return invalid(
                "simplejwt.auth_header_types",
                "give at least one scheme word, e.g. [\"Bearer\"]".into(),
            );
        }
        if self.signing_key.is_some() {
            self.as_jwt().validate().map_err(|e| match e {
                Error::Invalid { key, message } => Error::Invalid {
                    key: match key {
                        "jwt.signing_key" => "simplejwt.signing_key",
                        "jwt.verifying_key" => "simplejwt.verifying_key",
                        "jwt.algorithm" => "simplejwt.algorithm",
                        other => other,
                    },
                    message,
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML or a value is malformed.
    #[error("invalid settings{}: {message}", origin.as_deref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Parse {
        /// The file or variable.
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A setting is invalid; `key` is its dotted name.
    #[error("invalid setting `{key}`: {message}")]
    Invalid {
        /// `jwt.algorithm`, ...
        key: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// A module-local result.
pub type Result<T> = std::result::Result<T, Error>;

/// Environment variables with the `RESTFLOW_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &[
    "RESTFLOW_CONFIG",
    "RESTFLOW_CLI_",
    "RESTFLOW_TEST_",
    "RESTFLOW_REQUIRE_",
    "RESTFLOW_AUTH_MACROS_",
];

/// The process's variables (`std::env::vars` would panic on one that is not
/// Unicode): a `RESTFLOW_` setting that is not Unicode is an error, any
/// other such variable is none of ours.
fn process_env() -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (k, v) in std::env::vars_os() {
        match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => vars.push((k, v)),
            (Ok(k), Err(_)) if k.starts_with("RESTFLOW_") => {
                return Err(Error::Parse {
                    origin: Some("the environment".into()),
                    message: format!("`{k}` is not valid UTF-8"),
                });
            }
            (Err(k), _) if k.to_string_lossy().starts_with("RESTFLOW_") => {
                return Err(Error::Parse {
                    origin: Some("the environment".into()),
                    message: format!(
                        "a variable named `{}` is not valid UTF-8",
                        k.to_string_lossy()
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(vars)
}

/// A TOML error without the source line it quotes (which may hold a
/// secret): the message, with the line and column.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}

impl Settings {
    /// Reads `restflow.toml` (or `$RESTFLOW_CONFIG`) if present, applies
    /// `RESTFLOW_*` variables, validates.
    pub fn load() -> Result<Self> {
        let path = std::env::var_os("RESTFLOW_CONFIG").map(PathBuf::from);
        let explicit = path.is_some();
        let path = path.unwrap_or_else(|| PathBuf::from("restflow.toml"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(source) => return Err(Error::Read { path, source }),
        };
        Self::from_sources_at(text.as_deref(), Some(&path), process_env()?)
    }

    /// Reads a TOML file (which must exist), applies `RESTFLOW_*` variables, validates.
    pub fn load_from(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_sources_at(Some(&text), Some(path), process_env()?)
    }

    /// Builds settings from TOML text and `(name, value)` variables, then validates.
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        Self::from_sources_at(toml_text, None, env)
    }

    fn from_sources_at(
        toml_text: Option<&str>,
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let origin = path.map(|p| p.display().to_string());
        let mut table: toml::Table = match toml_text {
            Some(t) => toml::from_str(t).map_err(|e: toml::de::Error| Error::Parse {
                origin: origin.clone(),
                message: toml_message(t, &e),
            })?,
            None => toml::Table::new(),
        };
        let shape = toml::Table::try_from(Settings::default()).expect("defaults serialise");
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("RESTFLOW_") && !NOT_SETTINGS.iter().any(|p| k.starts_with(p))
            })
            .collect();
        vars.sort();
        for (name, value) in vars {
            apply_env(&mut table, &shape, &name, &value)?;
        }
        let settings: Settings =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| Error::Parse {
                    origin,
                    message: e.to_string(),
                })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every rule that would otherwise fail at request time.
    pub fn validate(&self) -> Result<()> {
        self.jwt.validate()?;
        self.simplejwt.validate()?;
        self.password.validate()?;
        self.throttle.validate()?;
        self.login.validate()?;
        self.django.validate()?;
        self.database.validate()?;
        self.invalidation.validate()?;
        let s = &self.session;
        for (key, v) in [
            ("session.cookie_name", &s.cookie_name),
            ("session.csrf_cookie_name", &s.csrf_cookie_name),
        ] {
            if v.is_empty() || !v.bytes().all(is_token_char) {
                return invalid(
                    key,
                    format!("`{v}` is not a valid cookie name: use letters, digits and `-_.`"),
                );
            }
        }
        if s.cookie_name == s.csrf_cookie_name {
            return invalid(
                "session.csrf_cookie_name",
                "must differ from `session.cookie_name`".into(),
            );
        }
        for (key, v) in [
            ("session.csrf_header_name", &s.csrf_header_name),
            ("remote_user.header", &self.remote_user.header),
        ] {
            if http::HeaderName::from_bytes(v.as_bytes()).is_err() {
                return invalid(key, format!("`{v}` is not a valid HTTP header name"));
            }
        }
        for origin in &s.csrf_trusted_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return invalid(
                    "session.csrf_trusted_origins",
                    format!("`{origin}` must start with a scheme, e.g. `https://{origin}`"),
                );
            }
        }
        if self.token.keyword.is_empty() || !self.token.keyword.bytes().all(is_token_char) {
            return invalid(
                "token.keyword",
                format!("`{}` must be one word, e.g. `Token`", self.token.keyword),
            );
        }
        if self.basic.realm.contains('"') {
            return invalid("basic.realm", "must not contain `\"`".into());
        }
        if !(2..=8).contains(&self.default_language.len())
            || !self
                .default_language
                .bytes()
                .all(|b| b.is_ascii_lowercase())
        {
            return invalid(
                "default_language",
                format!(
                    "`{}` is not a language tag such as `en`",
                    self.default_language
                ),
            );
        }
        if self.body_limit == 0 {
            return invalid("body_limit", "must be at least 1 byte".into());
        }
        if let Some(bad) = self.renderer_media_types.iter().find(|t| {
            t.split_once('/')
                .is_none_or(|(a, b)| a.is_empty() || b.is_empty())
        }) {
            return invalid(
                "renderer_media_types",
                format!("`{bad}` is not a media type such as `application/json`"),
            );
        }
        Ok(())
    }
}

/// The rules of one JWT key: the algorithm, and the key's shape and size
/// for it. `public_derived`: an absent public key of an asymmetric
/// private key is derived (a key of `[[jwt.keys]]`) rather than missing.
pub(crate) fn check_key(
    alg: &str,
    signing_key: Option<&Secret>,
    verifying_key: Option<&str>,
    public_derived: bool,
) -> Result<()> {
    if alg.eq_ignore_ascii_case("none") {
        return invalid(
                "jwt.algorithm",
                "'none' disables signature verification and is unsafe; choose HS256 or another of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA".into(),
            );
    }
    if !JWT_ALGORITHMS.contains(&alg) {
        return invalid(
            "jwt.algorithm",
            format!(
                "'{alg}' is not supported; choose one of {}",
                JWT_ALGORITHMS.join(", ")
            ),
        );
    }
    let hmac_len = match alg {
        "HS256" => Some(32),
        "HS384" => Some(48),
        "HS512" => Some(64),
        _ => None,
    };
    if let Some(key) = signing_key {
        let key = key.expose();
        let pem = key.contains("-----BEGIN ");
        match hmac_len {
            Some(_) if pem => {
                return invalid(
                    "jwt.signing_key",
                    format!(
                        "{alg} expects an HMAC secret, but the key looks like a PEM-encoded asymmetric key; use an RS/PS/ES/EdDSA algorithm with it, or a random secret"
                    ),
                );
            }
            Some(min) if key.len() < min => {
                return invalid(
                    "jwt.signing_key",
                    format!(
                        "an {alg} secret must be at least {min} bytes (it has {}); generate one with `openssl rand -base64 48`",
                        key.len()
                    ),
                );
            }
            None if !pem => {
                return invalid(
                    "jwt.signing_key",
                    format!(
                        "{alg} needs a PEM-encoded private key, but the key looks like an HMAC secret; use HS256/HS384/HS512 with a secret"
                    ),
                );
            }
            None if !(public_derived && verifying_key.is_none())
                && verifying_key.is_none_or(|k| !k.contains("-----BEGIN ")) =>
            {
                return invalid(
                    "jwt.verifying_key",
                    format!(
                        "{alg} needs the PEM-encoded public key in `jwt.verifying_key`; it is not derived from the signing key"
                    ),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

impl JwtSettings {
    /// The JWT rules: algorithm, key shapes and sizes, names.
    pub fn validate(&self) -> Result<()> {
        check_key(
            &self.algorithm,
            self.signing_key.as_ref(),
            self.verifying_key.as_deref(),
            false,
        )?;
        if self.access_token_lifetime_s == 0 || self.refresh_token_lifetime_s == 0 {
            return invalid(
                "jwt.access_token_lifetime_s",
                "token lifetimes must be at least 1 second".into(),
            );
        }
        if !USER_ID_FIELDS.contains(&self.user_id_field.as_str()) {
            return invalid(
                "jwt.user_id_field",
                format!(
                    "'{}' is not allowed; choose one of {}",
                    self.user_id_field,
                    USER_ID_FIELDS.join(", ")
                ),
            );
        }
        if self.user_id_claim.is_empty() {
            return invalid(
                "jwt.user_id_claim",
                "must not be empty (default `user_id`)".into(),
            );
        }
        if self.auth_header_types.is_empty()
            || self
                .auth_header_types
                .iter()
                .any(|t| t.is_empty() || !t.bytes().all(is_token_char))
        {
            return invalid(
                "jwt.auth_header_types",
                "give at least one scheme word, e.g. [\"Bearer\"]".into(),
            );
        }
        if self.check_revoke_token && self.revoke_token_claim.is_empty() {
            return invalid(
                "jwt.revoke_token_claim",
                "must not be empty when `check_revoke_token` is on".into(),
            );
        }
        Ok(())
    }
}

fn invalid<T>(key: &'static str, message: String) -> Result<T> {
    Err(Error::Invalid { key, message })
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

fn apply_env(table: &mut toml::Table, shape: &toml::Table, name: &str, value: &str) -> Result<()> {
    let rest = &name["RESTFLOW_".len()..];
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    let parse_err = |message: String| Error::Parse {
        origin: Some(format!("${name}")),
        message,
    };
    let (section, key) = match path.as_slice() {
        [key] => (None, key.as_str()),
        [section, key] => (Some(section.as_str()), key.as_str()),
        _ => {
            return Err(parse_err(
                "use RESTFLOW_<SECTION>__<KEY> or RESTFLOW_<KEY>".into(),
            ));
        }
    };
    let shape_table = match section {
        None => Some(shape),
        Some(s) => shape.get(s).and_then(toml::Value::as_table),
    };
    let Some(shape_table) = shape_table else {
        return Err(parse_err(format!(
            "unknown settings section `{}`",
            section.unwrap_or("")
        )));
    };
    let parsed = match shape_table.get(key) {
        Some(toml::Value::Integer(_)) => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| parse_err(format!("`{value}` is not a whole number")))?,
        Some(toml::Value::Boolean(_)) => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(parse_err(format!("`{value}` is not true or false"))),
        },
        Some(toml::Value::Array(_)) => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        Some(toml::Value::Table(_)) => {
            return Err(parse_err(format!(
                "`{key}` is a section; set one of its keys"
            )));
        }
        // Strings, and optional strings that are unset by default.
        _ => toml::Value::String(value.to_owned()),
    };
    let target = match section {
        None => table,
        Some(s) => table
            .entry(s.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| parse_err(format!("`{s}` in the file is not a section")))?,
    };
    target.insert(key.to_owned(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_drf_defaults() {
        let s = Settings::from_sources(None, []).unwrap();
        assert_eq!(s.jwt.algorithm, "HS256");
        assert_eq!(s.jwt.access_token_lifetime_s, 300);
        assert_eq!(s.jwt.refresh_token_lifetime_s, 86_400);
        assert_eq!(s.jwt.auth_header_types, ["Bearer"]);
        assert!(
            s.jwt.blacklist_enabled && s.jwt.rotate_refresh_tokens && s.jwt.check_user_is_active
        );
        assert!(!s.jwt.check_revoke_token);
        assert_eq!(s.session.csrf_header_name, "X-CSRFToken");
        assert_eq!(s.token.keyword, "Token");
    }

    #[test]
    fn env_overrides_file_and_types_follow_the_defaults() {
        let s = Settings::from_sources(
            Some("[jwt]\nleeway_s = 5\n[session]\ncookie_name = \"sid\"\n"),
            env(&[
                ("RESTFLOW_JWT__LEEWAY_S", "10"),
                ("RESTFLOW_JWT__BLACKLIST_ENABLED", "false"),
                ("RESTFLOW_JWT__AUTH_HEADER_TYPES", "Bearer, JWT"),
                ("RESTFLOW_JWT__ISSUER", "123"),
                ("RESTFLOW_TEST_DATABASE_URL", "postgres://ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.jwt.leeway_s, 10);
        assert!(!s.jwt.blacklist_enabled);
        assert_eq!(s.jwt.auth_header_types, ["Bearer", "JWT"]);
        assert_eq!(s.jwt.issuer.as_deref(), Some("123"));
        assert_eq!(s.session.cookie_name, "sid");
    }

    fn err(toml_text: &str) -> String {
        Settings::from_sources(Some(toml_text), [])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn misconfiguration_is_refused_with_a_fix() {
        assert!(
            err("[jwt]\nalgorithm = \"none\"").contains("'none' disables signature verification")
        );
        assert!(err("[jwt]\nalgorithm = \"HS999\"").contains("choose one of HS256"));
        assert!(err("[jwt]\nsigning_key = \"short\"").contains("at least 32 bytes (it has 5)"));
        assert!(
            err("[jwt]\nsigning_key = \"-----BEGIN PRIVATE KEY-----\\nabc\"")
                .contains("looks like a PEM")
        );
        assert!(err("[jwt]\nalgorithm = \"RS256\"\nsigning_key = \"a-long-enough-hmac-secret-for-sure-yes\"").contains("looks like an HMAC secret"));
        assert!(
            err(
                "[jwt]\nalgorithm = \"ES256\"\nsigning_key = \"-----BEGIN PRIVATE KEY-----\\nabc\""
            )
            .contains("jwt.verifying_key")
        );
        assert!(err("[jwt]\nuser_id_field = \"password\"").contains("choose one of id, pk"));
        assert!(err("[jwt]\nsigning_ky = \"x\"").contains("unknown field `signing_ky`"));
        assert!(
            err("[session]\ncsrf_header_name = \"X CSRF\"")
                .contains("not a valid HTTP header name")
        );
        assert!(
            err("[session]\ncsrf_trusted_origins = [\"example.com\"]")
                .contains("https://example.com")
        );
        let e =
            Settings::from_sources(None, env(&[("RESTFLOW_JWT__LEEWAY_S", "soon")])).unwrap_err();
        assert!(e.to_string().contains("$RESTFLOW_JWT__LEEWAY_S"), "{e}");
        let e = Settings::from_sources(None, env(&[("RESTFLOW_JWTT__X", "1")])).unwrap_err();
        assert!(
            e.to_string().contains("unknown settings section `jwtt`"),
            "{e}"
        );
    }
}
