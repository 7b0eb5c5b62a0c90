//! [`Request`]: what an authenticator sees of an HTTP request, with no server
//! attached, so the core runs from axum, a blocking server or a test alike.

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

    /// A header's value as text, `None` when absent or not visible ASCII.
    /// Several values of one header are not joined: the first is returned
    /// (see [`header_values`](Request::header_values)).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's raw bytes (latin-1 on the wire), `None` when absent.
    pub fn header_bytes(&self, name: &str) -> Option<&'a [u8]> {
        self.parts.headers.get(name).map(|v| v.as_bytes())
    }

    /// Every value of a header, in order.
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.parts
            .headers
            .get_all(name)
            .into_iter()
            .map(|v| v.as_bytes())
    }

    /// The `Authorization` header as DRF's `get_authorization_header` reads
    /// it: the raw bytes, with repeated headers joined by `,` (as an ASGI
    /// server joins them), or empty when absent.
    pub fn authorization(&self) -> std::borrow::Cow<'a, [u8]> {
        let mut values = self.header_values("authorization");
        let Some(first) = values.next() else {
            return std::borrow::Cow::Borrowed(&[]);
        };
        match values.next() {
            None => std::borrow::Cow::Borrowed(first),
            Some(second) => {
                let mut joined = first.to_vec();
                for v in std::iter::once(second).chain(values) {
                    joined.push(b',');
                    joined.extend_from_slice(v);
                }
                std::borrow::Cow::Owned(joined)
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

    /// An extension of the request (peer address, a buffered body, ...).
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.parts.extensions.get::<T>()
    }
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
