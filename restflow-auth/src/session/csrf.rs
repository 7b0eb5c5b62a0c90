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

/// Why a token or cookie has the wrong shape (Django's `InvalidTokenFormat`).
enum Format {
    Length,
    Characters,
}

/// Django's `_check_token_format`: 32 or 64 characters (counted as
/// characters, as Django counts the Latin-1 text), all in `[a-zA-Z0-9]`.
fn check_format(token: &str) -> Result<(), Format> {
    let n = token.chars().count();
    if n != SECRET_LENGTH && n != TOKEN_LENGTH {
        return Err(Format::Length);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Format::Characters);
    }
    Ok(())
}

/// Whether a cookie value is a well-formed secret or masked token.
pub fn is_well_formed(value: &str) -> bool {
    check_format(value).is_ok()
}

/// The secret a well-formed cookie or token holds (64 characters are unmasked).
pub fn secret_of(token: &str) -> String {
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

/// Python's `urllib.parse.urlsplit` (3.11), as far as the CSRF checks read
/// it: `(scheme, netloc, geturl())`. Leading C0 controls and spaces are
/// dropped and tabs and newlines removed, the scheme is lowercased, the
/// netloc runs from `//` to the first `/`, `?` or `#`. `Err` where Python
/// raises `ValueError` (unbalanced or invalid IPv6 brackets).
fn split_url(url: &str) -> Result<(String, String, String), ()> {
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut scheme = String::new();
    let mut rest = cleaned.as_str();
    if let Some(i) = rest.find(':')
        && i > 0
        && rest.as_bytes()[0].is_ascii_alphabetic()
        && rest[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        scheme = rest[..i].to_ascii_lowercase();
        rest = &rest[i + 1..];
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
        let (open, close) = (netloc.contains('['), netloc.contains(']'));
        if open != close {
            return Err(());
        }
        if open {
            let host = netloc
                .split_once('[')
                .map_or("", |(_, r)| r.split_once(']').map_or(r, |(h, _)| h));
            let valid = host.parse::<std::net::Ipv6Addr>().is_ok()
                || (host.starts_with(['v', 'V']) && host.contains('.'));
            if !valid {
                return Err(());
            }
        }
    }
    // geturl(): empty query and fragment markers are dropped.
    let (before, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, query) = before.split_once('?').unwrap_or((before, ""));
    let mut geturl = String::with_capacity(cleaned.len());
    if !scheme.is_empty() {
        geturl.push_str(&scheme);
        geturl.push(':');
    }
    if !netloc.is_empty() {
        geturl.push_str("//");
        geturl.push_str(netloc);
    }
    geturl.push_str(path);
    if !query.is_empty() {
        geturl.push('?');
        geturl.push_str(query);
    }
    if !fragment.is_empty() {
        geturl.push('#');
        geturl.push_str(fragment);
    }
    Ok((scheme, netloc.to_owned(), geturl))
}

/// Django's `is_same_domain`: `pattern` (lowercased) is `host`, or a
/// leading-dot pattern that `host` ends with.
fn is_same_domain(host: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = pattern.to_ascii_lowercase();
    (pattern.starts_with('.') && (host.ends_with(&pattern) || host == &pattern[1..]))
        || pattern == host
}

/// What Django's CSRF check reads of a request. Header values are Django's
/// `request.META` text ([`Request::meta`](crate::Request::meta)): a header
/// sent twice is the copies joined with `,`, and is compared as that.
#[derive(Clone, Copy, Debug)]
pub struct Check<'r> {
    /// `Origin`, when sent.
    pub origin: Option<&'r str>,
    /// `Referer`, when sent.
    pub referer: Option<&'r str>,
    /// Whether the request came over HTTPS (`request.is_secure()`).
    pub secure: bool,
    /// The request's host and port (`request.get_host()`).
    pub host: &'r str,
    /// `CSRF_TRUSTED_ORIGINS`: `scheme://host[:port]`, `*` for subdomains
    /// (`https://*.example.com`).
    pub trusted: &'r [String],
}

impl Check<'_> {
    /// Django's `_origin_verified`.
    fn origin_verified(&self, origin: &str) -> bool {
        let scheme = if self.secure { "https" } else { "http" };
        if origin
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            == Some(self.host)
        {
            return true;
        }
        if self.trusted.iter().any(|t| !t.contains('*') && t == origin) {
            return true;
        }
        let Ok((o_scheme, o_netloc, _)) = split_url(origin) else {
            return false;
        };
        self.trusted.iter().filter(|t| t.contains('*')).any(|t| {
            split_url(t).is_ok_and(|(t_scheme, t_netloc, _)| {
                t_scheme == o_scheme && is_same_domain(&o_netloc, t_netloc.trim_start_matches('*'))
            })
        })
    }

    /// Django's `_check_referer` (HTTPS requests without `Origin`).
    fn check_referer(&self) -> Result<(), String> {
        let Some(referer) = self.referer else {
            return Err("Referer checking failed - no Referer.".into());
        };
        let malformed = || "Referer checking failed - Referer is malformed.".to_owned();
        let (scheme, netloc, geturl) = split_url(referer).map_err(|()| malformed())?;
        if scheme.is_empty() || netloc.is_empty() {
            return Err(malformed());
        }
        if scheme != "https" {
            return Err(
                "Referer checking failed - Referer is insecure while host is secure.".into(),
            );
        }
        let trusted = self.trusted.iter().any(|t| {
            split_url(t)
                .is_ok_and(|(_, host, _)| is_same_domain(&netloc, host.trim_start_matches('*')))
        });
        if trusted || is_same_domain(&netloc, self.host) {
            return Ok(());
        }
        Err(format!(
            "Referer checking failed - {geturl} does not match any trusted origins."
        ))
    }

    /// Django's `process_view` for an unsafe method: the Origin (or, over
    /// HTTPS without one, the Referer), then the cookie (presence, format),
    /// then the token (presence, format, match). `Err` holds the reason
    /// after `CSRF Failed: `.
    pub fn run(&self, cookie: Option<&str>, token: Option<Source<'_>>) -> Result<(), String> {
        self.check_source()?;
        let Some(cookie) = cookie else {
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
            Err(Format::Length) => {
                return Err(format!("CSRF token from {from} has incorrect length."));
            }
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

    /// What the login view checks of a form post (login CSRF, rule 14 of
    /// DRF-BEHAVIOUR.md), where no session, cookie or token exists yet: the
    /// `Origin` as Django checks it, or without one the `Referer`'s origin
    /// (over HTTP too); a request with neither passes.
    pub fn check_form_source(&self) -> Result<(), String> {
        if self.origin.is_some() || self.secure {
            return self.check_source();
        }
        let Some(referer) = self.referer else {
            return Ok(());
        };
        let malformed = || "Referer checking failed - Referer is malformed.".to_owned();
        let (scheme, netloc, geturl) = split_url(referer).map_err(|()| malformed())?;
        if netloc.is_empty() || !matches!(scheme.as_str(), "http" | "https") {
            return Err(malformed());
        }
        if self.origin_verified(&format!("{scheme}://{netloc}")) {
            return Ok(());
        }
        Err(format!(
            "Referer checking failed - {geturl} does not match any trusted origins."
        ))
    }

    /// The Origin (or, over HTTPS without one, the Referer) part alone.
    pub fn check_source(&self) -> Result<(), String> {
        match self.origin {
            Some(origin) if !self.origin_verified(origin) => Err(format!(
                "Origin checking failed - {origin} does not match any trusted origins."
            )),
            Some(_) => Ok(()),
            None if self.secure => self.check_referer(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<'a>(
        origin: Option<&'a str>,
        referer: Option<&'a str>,
        trusted: &'a [String],
    ) -> Check<'a> {
        Check {
            origin,
            referer,
            secure: true,
            host: "api.example:8443",
            trusted,
        }
    }

    #[test]
    fn origins_as_django_compares_them() {
        let trusted = vec![
            "https://app.example".to_owned(),
            "https://*.corp.example".to_owned(),
        ];
        let ok = |o: &str| check(Some(o), None, &trusted).check_source().is_ok();
        assert!(ok("https://api.example:8443"));
        assert!(ok("https://app.example"));
        assert!(ok("https://x.corp.example"));
        assert!(ok("https://corp.example"));
        assert!(!ok("http://api.example:8443"));
        assert!(!ok("https://api.example:8443,https://evil.example"));
        assert!(!ok("https://evil.example/\u{c3}\u{a9}"));
        assert!(!ok("https://xcorp.example"));
        assert!(!ok("null"));
    }

    #[test]
    fn referers_as_django_splits_them() {
        let trusted = vec!["https://*.corp.example".to_owned()];
        let r = |v: Option<&str>| check(None, v, &trusted).check_source();
        assert_eq!(
            r(None).unwrap_err(),
            "Referer checking failed - no Referer."
        );
        assert!(r(Some("https://api.example:8443/page")).is_ok());
        assert!(r(Some("https://api.example:8443/p\u{e9}")).is_ok());
        assert!(r(Some("https://a.corp.example/")).is_ok());
        assert_eq!(
            r(Some("/relative")).unwrap_err(),
            "Referer checking failed - Referer is malformed."
        );
        assert_eq!(
            r(Some("https://[::1/")).unwrap_err(),
            "Referer checking failed - Referer is malformed."
        );
        assert_eq!(
            r(Some("http://api.example:8443/")).unwrap_err(),
            "Referer checking failed - Referer is insecure while host is secure."
        );
        assert_eq!(
            r(Some("HTTPS://evil.example/x")).unwrap_err(),
            "Referer checking failed - https://evil.example/x does not match any trusted origins."
        );
        assert!(r(Some("https://api.example:8443/a,https://evil.example/")).is_ok());
    }

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
        // DJANGO-INTEROP.md §2: secret + mask -> token.
        let secret = "abcdefghijklmnopqrstuvwxyzABCDEF";
        let token = "0123456789ABCDEFGHIJKLMNOPQRSTUV02468acegiKMOQSUWY02468acegikmoq";
        assert_eq!(unmask(token), secret);
    }
}
