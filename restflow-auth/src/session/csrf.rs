//! Django's CSRF tokens and checks (`django.middleware.csrf`), as DRF's
//! `SessionAuthentication` runs them for authenticated unsafe requests.
//!
//! The cookie holds a 32-character secret; forms and headers carry it
//! masked (64 characters) or plain. Failures are `CSRF Failed: <reason>`
//! with Django's reasons.

use subtle::ConstantTimeEq;

const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The length of a secret.
pub const SECRET_LENGTH: usize = 32;
/// The length of a masked token.
pub const TOKEN_LENGTH: usize = 64;

fn random_chars(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).expect("the operating system's random source");
        // 248 = 4 * 62: rejection keeps the choice uniform.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| CHARS[usize::from(b % 62)])
                .take(n - out.len()),
        );
    }
    out
}

fn index(c: u8) -> usize {
    CHARS.iter().position(|x| *x == c).expect("checked format")
}

/// A new secret (the cookie's value).
pub fn new_secret() -> String {
    String::from_utf8(random_chars(SECRET_LENGTH)).expect("ASCII")
}

/// Masks `secret` with a fresh random mask (Django's `_mask_cipher_secret`).
pub fn mask(secret: &str) -> String {
    let mask = random_chars(SECRET_LENGTH);
    let cipher: Vec<u8> = secret
        .bytes()
        .zip(&mask)
        .map(|(s, m)| CHARS[(index(s) + index(*m)) % CHARS.len()])
        .collect();
    let mut out = String::from_utf8(mask).expect("ASCII");
    out.push_str(std::str::from_utf8(&cipher).expect("ASCII"));
    out
}

/// Unmasks a 64-character token (Django's `_unmask_cipher_token`).
pub fn unmask(token: &str) -> String {
    let (mask, cipher) = token.split_at(SECRET_LENGTH);
    cipher
        .bytes()
        .zip(mask.bytes())
        .map(|(c, m)| char::from(CHARS[(index(c) + CHARS.len() - index(m)) % CHARS.len()]))
        .collect()
}

enum Format {
    Length,
    Characters,
}

fn check_format(token: &str) -> Result<(), Format> {
    if token.len() != SECRET_LENGTH && token.len() != TOKEN_LENGTH {
        return Err(Format::Length);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Format::Characters);
    }
    Ok(())
}

fn secret_of(token: &str) -> String {
    if token.len() == TOKEN_LENGTH {
        unmask(token)
    } else {
        token.to_owned()
    }
}

/// Django's display of a header name in reasons: `X-CSRFToken` becomes `X-Csrftoken`.
pub fn header_display(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Where the request's token came from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// The form field `csrfmiddlewaretoken` of a POST form body.
    Form(&'a str),
    /// The CSRF header (its configured name).
    Header(&'a str, &'a str),
}

/// Django's Referer check for HTTPS requests without an `Origin`.
fn check_referer(
    referer: Option<&str>,
    good_origin: &str,
    trusted: &[String],
) -> Result<(), String> {
    let Some(referer) = referer else {
        return Err("Referer checking failed - no Referer.".into());
    };
    let Ok(uri) = referer.parse::<http::Uri>() else {
        return Err("Referer checking failed - Referer is malformed.".into());
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("Referer checking failed - Referer is malformed.".into());
    };
    if scheme != "https" {
        return Err("Referer checking failed - Referer is insecure while host is secure.".into());
    }
    let origin = format!("https://{authority}");
    if origin == good_origin || trusted.contains(&origin) {
        Ok(())
    } else {
        Err(format!(
            "Referer checking failed - {referer} does not match any trusted origins."
        ))
    }
}

/// Django's order: Origin (or, over HTTPS without one, the Referer), then
/// the cookie (format), then the token (presence, format, match). `Err`
/// holds the reason after `CSRF Failed: `.
pub fn check(
    origin: Option<&str>,
    referer: Option<&str>,
    secure: bool,
    good_origin: &str,
    trusted: &[String],
    cookie: Option<&str>,
    token: Option<Source<'_>>,
) -> Result<(), String> {
    match origin {
        Some(origin) if origin != good_origin && !trusted.iter().any(|t| t == origin) => {
            return Err(format!(
                "Origin checking failed - {origin} does not match any trusted origins."
            ));
        }
        None if secure => check_referer(referer, good_origin, trusted)?,
        _ => {}
    }
    let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
        return Err("CSRF cookie not set.".into());
    };
    match check_format(cookie) {
        Err(Format::Length) => return Err("CSRF cookie has incorrect length.".into()),
        Err(Format::Characters) => return Err("CSRF cookie has invalid characters.".into()),
        Ok(()) => {}
    }
    let Some(source) = token else {
        return Err("CSRF token missing.".into());
    };
    let (value, from) = match source {
        Source::Form(v) => (v, "POST".to_owned()),
        Source::Header(v, name) => (v, format!("the '{}' HTTP header", header_display(name))),
    };
    match check_format(value) {
        Err(Format::Length) => return Err(format!("CSRF token from {from} has incorrect length.")),
        Err(Format::Characters) => {
            return Err(format!("CSRF token from {from} has invalid characters."));
        }
        Ok(()) => {}
    }
    let (a, b) = (secret_of(value), secret_of(cookie));
    if bool::from(a.as_bytes().ct_eq(b.as_bytes())) {
        Ok(())
    } else {
        Err(format!("CSRF token from {from} incorrect."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trip_and_django_vector() {
        let secret = new_secret();
        let masked = mask(&secret);
        assert_eq!(masked.len(), 64);
        assert_ne!(mask(&secret), masked);
        assert_eq!(unmask(&masked), secret);
        // Django's test vector: _unmask_cipher_token of a known token.
        let mask = "a".repeat(32);
        let token = format!("{mask}{}", "b".repeat(32));
        assert_eq!(unmask(&token), "b".repeat(32));
        assert_eq!(header_display("X-CSRFToken"), "X-Csrftoken");
    }
}
