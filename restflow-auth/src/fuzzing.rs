//! Entry points for the fuzz targets (`fuzz/`): the parsers and checks
//! that read hostile input, reachable from outside the crate. Feature
//! `__fuzz` only; not public API.

use std::borrow::Cow;

/// PyJWT's base64url reading of one segment.
pub fn base64url(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    crate::jwt::b64::decode_into(input, &mut out).then_some(out)
}

/// Django's `parse_cookie` on one `Cookie` header: the value of `name`.
pub fn cookie(header: &[u8], name: &str) -> Option<String> {
    let value = http::HeaderValue::from_bytes(header).ok()?;
    let (parts, ()) = http::Request::builder()
        .header(http::header::COOKIE, value)
        .body(())
        .ok()?
        .into_parts();
    crate::session::cookie(&crate::Request::new(&parts), name).map(Cow::into_owned)
}

/// The pairs of a form body (`None` past the field limit).
pub fn form(body: &[u8]) -> Option<Vec<(String, String)>> {
    crate::request::form_pairs(body)
}

/// Django's CSRF check on these values (`Err` is the reason).
#[allow(clippy::too_many_arguments)]
pub fn csrf(
    origin: Option<&str>,
    referer: Option<&str>,
    secure: bool,
    host: &str,
    trusted: &[String],
    cookie: Option<&str>,
    form_token: Option<&str>,
    header_token: Option<&str>,
) -> Result<(), String> {
    let check = crate::session::csrf::Check {
        origin,
        referer,
        secure,
        host,
        trusted,
    };
    let source = match (form_token, header_token) {
        (Some(f), _) => Some(crate::session::csrf::Source::Form(f)),
        (None, Some(h)) => Some(crate::session::csrf::Source::Header(h, "X-CSRFToken")),
        (None, None) => None,
    };
    check.run(cookie, source)
}

/// Content negotiation on an `Accept` value.
pub fn accept(accept: &str) -> bool {
    crate::negotiation::acceptable(
        Some(accept),
        &["application/json".into(), "text/html".into()],
    )
}

/// A stored password hash checked against a password (never panics, any input).
pub fn verify_password(password: &str, stored: &str) -> bool {
    crate::password::verify_password(password, stored).unwrap_or(false)
}
