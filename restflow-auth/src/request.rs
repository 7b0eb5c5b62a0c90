//! [`Request`]: what an authenticator sees of an HTTP request, with no server
//! attached, so the core runs from axum, a blocking server or a test alike.

use std::borrow::Cow;

use http::header::AsHeaderName;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

/// A read-only view of a request: method, URI, headers, extensions and, when
/// it was buffered, the body.
///
/// ```
/// use restflow_auth::Request;
///
/// let (parts, ()) = http::Request::builder()
///     .uri("/api/me/")
///     .header("Authorization", "Token abc")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let req = Request::new(&parts).with_body(b"{}");
/// assert_eq!(req.header("authorization"), Some("Token abc"));
/// assert_eq!(req.body(), Some(&b"{}"[..]));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    parts: &'a Parts,
    body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A view of `parts` without a body.
    pub fn new(parts: &'a Parts) -> Self {
        Request { parts, body: None }
    }

    /// The same view with the buffered body.
    pub fn with_body(self, body: &'a [u8]) -> Self {
        Request {
            body: Some(body),
            ..self
        }
    }

    /// The method.
    pub fn method(&self) -> &'a Method {
        &self.parts.method
    }

    /// The URI.
    pub fn uri(&self) -> &'a Uri {
        &self.parts.uri
    }

    /// All headers.
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// The request parts (extensions included).
    pub fn parts(&self) -> &'a Parts {
        self.parts
    }

    /// A header's value as text, when it was sent exactly once as visible
    /// ASCII (spaces and tabs allowed). `None` does **not** mean "not sent":
    /// a header sent twice, or with bytes outside visible ASCII, is `None`
    /// too. Where that difference matters (a security check), read
    /// [`field`](Request::field) or Django's view of it, [`meta`](Request::meta).
    ///
    /// `name` is a `&str` or, without parsing it again, an
    /// [`http::header::HeaderName`] such as `http::header::ORIGIN`.
    pub fn header<K: AsHeaderName>(&self, name: K) -> Option<&'a str> {
        match self.field(name) {
            Header::Text(v) => Some(v),
            _ => None,
        }
    }

    /// What the request carries under `name`: nothing, one readable value,
    /// one value that is not visible ASCII, or several values.
    ///
    /// ```
    /// use restflow_auth::request::{Header, Request};
    ///
    /// let (parts, ()) = http::Request::builder()
    ///     .header("origin", "http://a.example")
    ///     .header("origin", "http://b.example")
    ///     .header("x-name", http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// let req = Request::new(&parts);
    /// assert_eq!(req.field("referer"), Header::Absent);
    /// assert_eq!(req.field("origin"), Header::Repeated);
    /// assert_eq!(req.field("x-name"), Header::Opaque(b"caf\xc3\xa9"));
    /// assert_eq!(req.header("origin"), None); // not "absent": repeated
    /// ```
    pub fn field<K: AsHeaderName>(&self, name: K) -> Header<'a> {
        let mut values = self.parts.headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Header::Absent;
        };
        if values.next().is_some() {
            return Header::Repeated;
        }
        match first.to_str() {
            Ok(text) => Header::Text(text),
            Err(_) => Header::Opaque(first.as_bytes()),
        }
    }

    /// The header as Django's `request.META` holds it: every copy decoded
    /// as Latin-1 and joined with `,` (what Django's ASGI and WSGI handlers
    /// do), `None` only when the header was not sent. Django's checks
    /// compare this text, so a value that is unreadable or repeated is
    /// compared as what it is and fails (an `Origin` sent twice matches no
    /// origin).
    ///
    /// ```
    /// use restflow_auth::Request;
    ///
    /// let (parts, ()) = http::Request::builder()
    ///     .header("x-forwarded-for", "10.0.0.1")
    ///     .header("x-forwarded-for", "10.0.0.2")
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// let req = Request::new(&parts);
    /// assert_eq!(req.meta("x-forwarded-for").as_deref(), Some("10.0.0.1,10.0.0.2"));
    /// assert_eq!(req.meta("origin"), None);
    /// ```
    pub fn meta<K: AsHeaderName>(&self, name: K) -> Option<Cow<'a, str>> {
        let mut values = self.parts.headers.get_all(name).iter();
        let first = values.next()?;
        let second = values.next();
        if second.is_none()
            && let Ok(text) = first.to_str()
        {
            return Some(Cow::Borrowed(text));
        }
        let mut out = latin1(first.as_bytes());
        for v in second.into_iter().chain(values) {
            out.push(',');
            out.push_str(&latin1(v.as_bytes()));
        }
        Some(Cow::Owned(out))
    }

    /// A header's raw bytes (latin-1 on the wire), `None` when absent; the
    /// first copy when repeated.
    pub fn header_bytes<K: AsHeaderName>(&self, name: K) -> Option<&'a [u8]> {
        self.parts.headers.get(name).map(|v| v.as_bytes())
    }

    /// Every value of a header, in order.
    pub fn header_values<K: AsHeaderName>(&self, name: K) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.parts
            .headers
            .get_all(name)
            .into_iter()
            .map(|v| v.as_bytes())
    }

    /// The `Authorization` header as DRF's `get_authorization_header` reads
    /// it: the raw bytes, with repeated headers joined by `,` (as an ASGI
    /// server joins them), or empty when absent.
    pub fn authorization(&self) -> Cow<'a, [u8]> {
        let mut values = self.header_values(http::header::AUTHORIZATION);
        let Some(first) = values.next() else {
            return Cow::Borrowed(&[]);
        };
        match values.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut joined = first.to_vec();
                for v in std::iter::once(second).chain(values) {
                    joined.push(b',');
                    joined.extend_from_slice(v);
                }
                Cow::Owned(joined)
            }
        }
    }

    /// The body, when the request was buffered (see `AuthLayer::buffer_bodies`).
    pub fn body(&self) -> Option<&'a [u8]> {
        self.body
    }

    /// Whether the method is safe (GET, HEAD, OPTIONS, TRACE), as DRF's
    /// `SAFE_METHODS` plus TRACE for CSRF.
    pub fn is_safe_method(&self) -> bool {
        matches!(
            *self.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    }

    /// The IP address of the connection's peer, when the server recorded
    /// it: a [`PeerAddr`](crate::net::PeerAddr), else axum's
    /// `ConnectInfo<SocketAddr>` (`into_make_service_with_connect_info`).
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.extension::<crate::net::PeerAddr>()
            .map(|p| p.0)
            .or_else(|| {
                self.extension::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0)
            })
            .map(|addr| crate::net::canonical(addr.ip()))
    }

    /// An extension of the request (peer address, a buffered body, ...).
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.parts.extensions.get::<T>()
    }
}

/// What a request carries under one header name (see [`Request::field`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent.
    Absent,
    /// Sent once, as visible ASCII text (spaces and tabs allowed).
    Text(&'a str),
    /// Sent once, with bytes outside visible ASCII (`obs-text`, controls).
    Opaque(&'a [u8]),
    /// Sent more than once.
    Repeated,
}

/// The media type of a `Content-Type` value: lowercased, parameters
/// dropped, spaces and tabs around it trimmed.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t'])
        .to_ascii_lowercase()
}

/// The request's body type, read once for every part of the library that
/// asks (the body parser, the CSRF checks, the layer's buffering), so they
/// cannot disagree: `Ok(None)` without `Content-Type`, `Ok(Some(media
/// type))` for one readable value, and `Err(the header as text)` for a
/// repeated or unreadable one, which no parser accepts (415).
pub(crate) fn body_type(req: &Request<'_>) -> Result<Option<String>, String> {
    match req.field(http::header::CONTENT_TYPE) {
        Header::Absent => Ok(None),
        Header::Text(v) => Ok(Some(media_type(v))),
        Header::Opaque(_) | Header::Repeated => Err(req
            .meta(http::header::CONTENT_TYPE)
            .unwrap_or_default()
            .into_owned()),
    }
}

/// The media type of an HTML form body.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// Whether the body is an HTML form ([`body_type`] says so).
pub(crate) fn is_form(req: &Request<'_>) -> bool {
    body_type(req).is_ok_and(|t| t.as_deref() == Some(FORM))
}

/// Django's `DATA_UPLOAD_MAX_NUMBER_FIELDS`: a form with more fields is refused.
pub(crate) const MAX_FORM_FIELDS: usize = 1000;

/// `+` as space and `%XX` decoded, then read as UTF-8 (invalid sequences
/// replaced), as Python's `unquote_plus`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a form body in order, as Python's `parse_qsl` with blank
/// values kept: split on `&`, empty pieces skipped, a piece without `=` is
/// a name with an empty value. `None` past [`MAX_FORM_FIELDS`] fields (as
/// Django refuses them), before anything is decoded.
pub(crate) fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(body);
    let pieces = text.split('&').filter(|p| !p.is_empty());
    if pieces.clone().nth(MAX_FORM_FIELDS).is_some() {
        return None;
    }
    Some(
        pieces
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
    )
}

/// The last value of `name` in a form body (Django's `QueryDict.get`);
/// `None` also for a form with too many fields.
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    form_pairs(body)?
        .into_iter()
        .rfind(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Bytes read as Latin-1, as Django decodes header values.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// Whether every byte is visible ASCII (`!` to `~`: no whitespace, no
/// control, no Latin-1), in one pass without early exit.
pub(crate) fn visible_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, b| ok & (b.wrapping_sub(0x21) < 0x5e))
}

/// The credentials of an `Authorization` header sent once as `<scheme>
/// <credentials>` with one space and visible-ASCII credentials, when
/// `scheme` (matched without case) is the header's: the shape every
/// well-behaved client sends, read in one pass. `None` means "read it the
/// general way", not "absent".
pub(crate) fn simple_credentials<'a>(req: &Request<'a>, scheme: &str) -> Option<&'a str> {
    let mut values = req.headers().get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let (bytes, n) = (value.as_bytes(), scheme.len());
    let ok = n > 0
        && bytes.len() > n + 1
        && bytes[n] == b' '
        && bytes[..n].eq_ignore_ascii_case(scheme.as_bytes())
        && visible_ascii(scheme.as_bytes())
        && visible_ascii(&bytes[n + 1..]);
    ok.then(|| std::str::from_utf8(&bytes[n + 1..]).ok())
        .flatten()
}

/// Splits a header value the way Python's `bytes.split()` does: on runs of
/// ASCII whitespace, ignoring leading and trailing whitespace.
///
/// ```
/// use restflow_auth::request::split_ascii_whitespace;
/// let parts: Vec<&[u8]> = split_ascii_whitespace(b"  Basic\tabc  ").collect();
/// assert_eq!(parts, [&b"Basic"[..], &b"abc"[..]]);
/// ```
pub fn split_ascii_whitespace(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|s| !s.is_empty())
}
