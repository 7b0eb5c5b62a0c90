//! Cookies as Django reads and writes them: `parse_cookie` (the last of
//! repeated names wins, Python's unquoting), `Set-Cookie` values for the
//! session and CSRF cookies, and [`ResponseCookies`], where an
//! authenticator leaves the cookies the response must set or delete (as
//! Django's `SessionMiddleware` and `CsrfViewMiddleware` do on the way out).

use std::borrow::Cow;
use std::sync::Mutex;

use http::HeaderValue;

use crate::request::Request;

/// The value of cookie `name` as Django's `request.COOKIES[name]` gives it:
/// every `Cookie` header (joined with `,`, as Django's handlers join
/// repeated headers), split on `;`, each name and value stripped, the
/// **last** pair with that name winning, quoted values unquoted. `None`
/// when no pair has that name.
///
/// ```
/// use restflow_auth::Request;
/// use restflow_auth::session::cookie;
///
/// let (parts, ()) = http::Request::builder()
///     .header("cookie", "sessionid=first; csrftoken=\"a\\\"b\"; sessionid=last")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let req = Request::new(&parts);
/// assert_eq!(cookie(&req, "sessionid").as_deref(), Some("last"));
/// assert_eq!(cookie(&req, "csrftoken").as_deref(), Some("a\"b"));
/// assert_eq!(cookie(&req, "other"), None);
/// ```
pub fn cookie<'a>(req: &Request<'a>, name: &str) -> Option<Cow<'a, str>> {
    let [value] = cookies_named(req, [name]);
    value
}

/// [`cookie`] for several names in one pass over the `Cookie` header (the
/// layer reads the session and CSRF cookies of every request that has
/// cookies).
pub(crate) fn cookies_named<'a, const N: usize>(
    req: &Request<'a>,
    names: [&str; N],
) -> [Option<Cow<'a, str>>; N] {
    fn scan<'t, const N: usize>(text: &'t str, names: [&str; N]) -> [Option<&'t str>; N] {
        let mut found = [None; N];
        for (key, value) in pairs(text) {
            for (name, slot) in names.iter().zip(found.iter_mut()) {
                if key == *name {
                    *slot = Some(value);
                }
            }
        }
        found
    }
    match req.meta(http::header::COOKIE) {
        None => [const { None }; N],
        Some(Cow::Borrowed(text)) => scan(text, names).map(|v| v.map(unquote)),
        Some(Cow::Owned(text)) => {
            scan(&text, names).map(|v| v.map(|v| Cow::Owned(unquote(v).into_owned())))
        }
    }
}

/// How many times `name` is among the request's cookies (as Django's
/// `parse_cookie` splits them).
#[cfg(feature = "jwt")]
pub(crate) fn cookie_count(req: &Request<'_>, name: &str) -> usize {
    let Some(header) = req.meta(http::header::COOKIE) else {
        return 0;
    };
    pairs(&header).filter(|(key, _)| *key == name).count()
}

/// Python's `str.isspace` on the characters Latin-1 text can hold.
fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Django's `parse_cookie`: the `(name, value)` pairs of a `Cookie` header.
fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(';').filter_map(|chunk| {
        let (key, value) = chunk.split_once('=').unwrap_or(("", chunk));
        let (key, value) = (
            key.trim_matches(is_py_space),
            value.trim_matches(is_py_space),
        );
        (!key.is_empty() || !value.is_empty()).then_some((key, value))
    })
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them,
/// and `\ooo` (octal) and `\x` escapes inside are decoded.
fn unquote(value: &str) -> Cow<'_, str> {
    let b = value.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return Cow::Borrowed(value);
    }
    let inner: Vec<char> = value[1..value.len() - 1].chars().collect();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == '\\' && i + 1 < inner.len() {
            let octal = i + 3 < inner.len()
                && matches!(inner[i + 1], '0'..='3')
                && matches!(inner[i + 2], '0'..='7')
                && matches!(inner[i + 3], '0'..='7');
            if octal {
                let n = (inner[i + 1] as u32 - 48) * 64
                    + (inner[i + 2] as u32 - 48) * 8
                    + (inner[i + 3] as u32 - 48);
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                i += 4;
            } else {
                out.push(inner[i + 1]);
                i += 2;
            }
        } else {
            out.push(inner[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// A `Set-Cookie` value as Django writes the session and CSRF cookies:
/// `Path=/`, `SameSite=Lax`, with `HttpOnly` and `Secure` as asked.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: u64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Max-Age={max_age}; Path=/; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie names and values are checked visible ASCII")
}

/// The `Set-Cookie` value that deletes cookie `name` (Django's
/// `delete_cookie`: an empty value, expired, `Max-Age=0`).
pub fn delete_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"
    ))
    .expect("cookie names are checked visible ASCII")
}

/// The cookies a response must set or delete, collected while the request
/// is authenticated. The [`AuthLayer`](crate::layer::AuthLayer) puts one in
/// the request's extensions when a session store is configured and the
/// request carries cookies (one without has no session or CSRF cookie to
/// replace or delete, and skips the allocation), and writes its cookies
/// into the response; a blocking server can do the same with
/// [`ResponseCookies::apply`].
#[derive(Debug, Default)]
pub struct ResponseCookies {
    cookies: Mutex<Vec<(String, HeaderValue)>>,
}

impl ResponseCookies {
    /// Sets (or replaces) the `Set-Cookie` for `name`.
    pub fn set(&self, name: &str, value: HeaderValue) {
        let mut list = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        match list.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => list.push((name.to_owned(), value)),
        }
    }

    /// Deletes cookie `name` in the response.
    pub fn delete(&self, name: &str) {
        self.set(name, delete_cookie(name));
    }

    /// Whether nothing is to be set.
    pub fn is_empty(&self) -> bool {
        self.cookies.lock().map(|l| l.is_empty()).unwrap_or(false)
    }

    /// Appends the cookies to `headers`, except those the response already
    /// sets itself (a view's own `Set-Cookie` wins).
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        let list = std::mem::take(&mut *self.cookies.lock().unwrap_or_else(|e| e.into_inner()));
        for (name, value) in list {
            let prefix = format!("{name}=");
            let already = headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
            if !already {
                headers.append(http::header::SET_COOKIE, value);
            }
        }
    }
}

/// The request's [`ResponseCookies`], when whoever serves it collects them.
pub(crate) fn response_cookies<'a>(req: &Request<'a>) -> Option<&'a ResponseCookies> {
    req.extension::<std::sync::Arc<ResponseCookies>>()
        .map(|a| &**a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(header: &[u8], name: &str) -> Option<String> {
        let (parts, ()) = http::Request::builder()
            .header("cookie", HeaderValue::from_bytes(header).unwrap())
            .body(())
            .unwrap()
            .into_parts();
        cookie(&Request::new(&parts), name).map(Cow::into_owned)
    }

    #[test]
    fn django_parse_cookie_cases() {
        assert_eq!(jar(b"a=1; a=2", "a").as_deref(), Some("2"));
        assert_eq!(jar(b" a = 1 ;b=2", "a").as_deref(), Some("1"));
        assert_eq!(jar(b"a=", "a").as_deref(), Some(""));
        assert_eq!(jar(b"a", "a"), None); // a value with an empty name
        assert_eq!(jar(b"x=\"\\101\\\\\"", "x").as_deref(), Some("A\\"));
        assert_eq!(jar(b"x=\"", "x").as_deref(), Some("\""));
        // Latin-1 bytes are kept as characters, never dropped.
        assert_eq!(jar(b"a=caf\xe9", "a").as_deref(), Some("caf\u{e9}"));
    }

    #[test]
    fn repeated_cookie_headers_join_with_commas() {
        let (parts, ()) = http::Request::builder()
            .header("cookie", "sessionid=one")
            .header("cookie", "sessionid=two")
            .body(())
            .unwrap()
            .into_parts();
        // Django sees "sessionid=one,sessionid=two": one pair.
        assert_eq!(
            cookie(&Request::new(&parts), "sessionid").as_deref(),
            Some("one,sessionid=two")
        );
    }

    #[test]
    fn response_cookies_replace_and_yield_to_the_view() {
        let rc = ResponseCookies::default();
        rc.delete("sessionid");
        rc.set("csrftoken", set_cookie("csrftoken", "x", 1, false, false));
        rc.set("csrftoken", set_cookie("csrftoken", "y", 1, false, false));
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("sessionid=new"),
        );
        rc.apply(&mut h);
        let all: Vec<_> = h.get_all(http::header::SET_COOKIE).iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], "sessionid=new");
        assert!(all[1].to_str().unwrap().starts_with("csrftoken=y;"));
    }
}
