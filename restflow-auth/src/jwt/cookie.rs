//! Tokens in HttpOnly cookies (`[jwt_cookie]`): the obtain and refresh
//! views set the access and refresh tokens as cookies a script cannot
//! read, the [`Jwt`](crate::Jwt) authenticator reads the access token from
//! its cookie when no `Authorization` header carries one, and the refresh
//! and blacklist views read the refresh token from its cookie when the
//! body has none.
//!
//! A cookie is sent by the browser whoever asks, so a request that
//! authenticates with one goes through Django's CSRF check on unsafe
//! methods (the session's: `Origin`/`Referer`, the `csrftoken` cookie and
//! the `X-CSRFToken` header; `GET csrf/` hands the token out), as
//! `SessionAuthentication` does; a form posted to the obtain view must come
//! from this site (login CSRF). A cookie sent twice (a sibling subdomain
//! tossing its own) is refused rather than guessed at.
//!
//! ```
//! use restflow_auth::Settings;
//!
//! let s = Settings::from_sources(Some(r#"
//!     [jwt_cookie]
//!     enabled = true
//!     refresh_path = "/api/auth/token/"
//! "#), []).unwrap();
//! assert_eq!(s.jwt_cookie.access_name, "access_token");
//! assert!(s.jwt_cookie.secure);
//! ```

use std::borrow::Cow;

use http::HeaderValue;
use serde::{Deserialize, Serialize};

use super::{ConfigError, JwtState};
use crate::error::{AuthError, Rejection};
use crate::request::Request;

/// `[jwt_cookie]`: the cookie transport of the built-in JWT.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtCookieSettings {
    /// Set and read the token cookies (off by default: tokens travel in
    /// the body and the `Authorization` header only).
    pub enabled: bool,
    /// The access token's cookie.
    pub access_name: String,
    /// The refresh token's cookie.
    pub refresh_name: String,
    /// `Secure` on both (HTTPS only); needed for `SameSite=None`.
    pub secure: bool,
    /// `SameSite`: `Strict`, `Lax` or `None`.
    pub samesite: String,
    /// `Path` of the access cookie.
    pub access_path: String,
    /// `Path` of the refresh cookie: where the refresh and blacklist views
    /// are mounted, so that no other request carries it.
    pub refresh_path: String,
    /// `Domain` of both; unset, the cookies are the host's own.
    pub domain: Option<String>,
}

impl Default for JwtCookieSettings {
    fn default() -> Self {
        JwtCookieSettings {
            enabled: false,
            access_name: "access_token".into(),
            refresh_name: "refresh_token".into(),
            secure: true,
            samesite: "Lax".into(),
            access_path: "/".into(),
            refresh_path: "/api/auth/token/".into(),
            domain: None,
        }
    }
}

/// The cookie transport, built when `jwt_cookie.enabled` is set.
#[derive(Debug)]
pub struct JwtCookies {
    settings: JwtCookieSettings,
    access_max_age: u64,
    refresh_max_age: u64,
}

fn err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Characters a cookie attribute value may hold here.
fn is_attribute_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
}

impl JwtCookies {
    /// Checks the section against the rest of the settings.
    pub fn new(settings: &crate::Settings) -> Result<Self, ConfigError> {
        let c = &settings.jwt_cookie;
        for (key, name) in [
            ("jwt_cookie.access_name", &c.access_name),
            ("jwt_cookie.refresh_name", &c.refresh_name),
        ] {
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(err(
                    key,
                    format!("{name:?}: give letters, digits, '-', '_' or '.'"),
                ));
            }
            let s = &settings.session;
            if name == &s.cookie_name || name == &s.csrf_cookie_name {
                return Err(err(
                    key,
                    format!("{name:?} is the session's or the CSRF cookie"),
                ));
            }
        }
        if c.access_name == c.refresh_name {
            return Err(err(
                "jwt_cookie.refresh_name",
                "is the access cookie's name too",
            ));
        }
        for (key, path) in [
            ("jwt_cookie.access_path", &c.access_path),
            ("jwt_cookie.refresh_path", &c.refresh_path),
        ] {
            if !path.starts_with('/') || !is_attribute_text(path) {
                return Err(err(
                    key,
                    format!("{path:?}: give a path from the root, such as \"/api/auth/token/\""),
                ));
            }
        }
        if let Some(d) = &c.domain
            && (d.is_empty() || !is_attribute_text(d))
        {
            return Err(err("jwt_cookie.domain", format!("{d:?} is not a domain")));
        }
        match c.samesite.as_str() {
            "Strict" | "Lax" => {}
            "None" if c.secure => {}
            "None" => {
                return Err(err(
                    "jwt_cookie.samesite",
                    "`None` needs `jwt_cookie.secure = true` (browsers drop the cookie otherwise)",
                ));
            }
            other => {
                return Err(err(
                    "jwt_cookie.samesite",
                    format!("{other:?}: give Strict, Lax or None"),
                ));
            }
        }
        Ok(JwtCookies {
            settings: c.clone(),
            access_max_age: settings.jwt.access_token_lifetime_s,
            refresh_max_age: settings.jwt.refresh_token_lifetime_s,
        })
    }

    /// The section.
    pub fn settings(&self) -> &JwtCookieSettings {
        &self.settings
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64, path: &str) -> HeaderValue {
        let c = &self.settings;
        let mut v = format!(
            "{name}={value}; Max-Age={max_age}; Path={path}; SameSite={}; HttpOnly",
            c.samesite
        );
        if c.secure {
            v.push_str("; Secure");
        }
        if let Some(d) = &c.domain {
            v.push_str("; Domain=");
            v.push_str(d);
        }
        // Names, paths and the domain are checked at startup; tokens are
        // base64url and dots.
        HeaderValue::from_str(&v).expect("checked cookie text")
    }

    /// The `Set-Cookie` values of a pair (the refresh cookie when the view
    /// answers one).
    pub(crate) fn set(&self, access: &str, refresh: Option<&str>) -> Vec<HeaderValue> {
        let c = &self.settings;
        let mut out =
            vec![self.cookie(&c.access_name, access, self.access_max_age, &c.access_path)];
        if let Some(r) = refresh {
            out.push(self.cookie(&c.refresh_name, r, self.refresh_max_age, &c.refresh_path));
        }
        out
    }

    /// The `Set-Cookie` values that end both cookies (logout).
    pub(crate) fn delete(&self) -> Vec<HeaderValue> {
        let c = &self.settings;
        vec![
            self.cookie(&c.access_name, "\"\"", 0, &c.access_path),
            self.cookie(&c.refresh_name, "\"\"", 0, &c.refresh_path),
        ]
    }

    /// The access token's cookie, or `None`; a cookie sent twice is refused.
    pub(crate) fn access<'a>(&self, req: &Request<'a>) -> Result<Option<Cow<'a, str>>, AuthError> {
        one(req, &self.settings.access_name)
    }

    /// The refresh token's cookie, or `None`; a cookie sent twice is refused.
    pub(crate) fn refresh<'a>(&self, req: &Request<'a>) -> Result<Option<Cow<'a, str>>, AuthError> {
        one(req, &self.settings.refresh_name)
    }
}

fn one<'a>(req: &Request<'a>, name: &str) -> Result<Option<Cow<'a, str>>, AuthError> {
    if crate::session::cookie_count(req, name) > 1 {
        return Err(AuthError::new(Rejection::TokenCookieRepeated));
    }
    Ok(crate::session::cookie(req, name).filter(|v| !v.is_empty()))
}

/// Built when `jwt_cookie.enabled` is set, after the JWT.
impl crate::context::Component for JwtCookies {
    fn build(
        settings: &crate::Settings,
        stores: &mut crate::context::Stores,
    ) -> Result<Option<Self>, crate::context::BuildError> {
        if !settings.jwt_cookie.enabled {
            return Ok(None);
        }
        if !stores.contains_key(&std::any::TypeId::of::<JwtState>()) {
            return Err(err(
                "jwt_cookie.enabled",
                "the token cookies need the built-in JWT: set `jwt.signing_key` (or `[[jwt.keys]]`)",
            )
            .into());
        }
        Ok(Some(JwtCookies::new(settings)?))
    }
}
