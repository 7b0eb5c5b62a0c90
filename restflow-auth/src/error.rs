//! Every rejection restflow-auth can answer with, declared once.
//!
//! The table of [`Rejection`] (the `rejections!` invocation below) is the parity surface with Django REST
//! Framework: each row names a stable code, the [`Kind`] that decides the
//! status, and DRF's English `detail` text. [`Display`](std::fmt::Display),
//! the status and the JSON body are all derived from it; translations live in
//! [`messages`](crate::messages) and are keyed by the same codes.
//!
//! The 401-vs-403 rule of DRF is applied when a rejection is rendered, not
//! when it is raised: [`Kind::NotAuthenticated`] and
//! [`Kind::AuthenticationFailed`] become 401 with a `WWW-Authenticate` header
//! when the *first* authenticator of the chain offers a challenge, and 403
//! otherwise (see [`AuthError::status`]).

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// How a rejection is answered on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// DRF `NotAuthenticated`: 401 with the chain's challenge, else 403.
    NotAuthenticated,
    /// DRF `AuthenticationFailed`: 401 with the chain's challenge, else 403.
    AuthenticationFailed,
    /// DRF `PermissionDenied`: always 403 (CSRF failures are of this kind).
    PermissionDenied,
    /// 400: the request body or a field is invalid.
    BadRequest,
    /// 405: the route does not serve the method.
    MethodNotAllowed,
    /// 406: no response type the client accepts (DRF's content negotiation).
    NotAcceptable,
    /// 429: too many requests (throttles, the login lockout).
    Throttled,
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 415: the content type is not accepted.
    UnsupportedMediaType,
    /// 503: a store could not be reached (fail closed).
    ServiceUnavailable,
    /// 500: a bug or a misconfiguration found at request time.
    Internal,
}

impl Kind {
    /// The status of this kind when the chain has no challenge to offer.
    pub const fn base_status(self) -> StatusCode {
        match self {
            Kind::NotAuthenticated | Kind::AuthenticationFailed | Kind::PermissionDenied => {
                StatusCode::FORBIDDEN
            }
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether DRF's 401-vs-403 rule applies to this kind.
    pub const fn is_authentication(self) -> bool {
        matches!(self, Kind::NotAuthenticated | Kind::AuthenticationFailed)
    }
}

macro_rules! rejections {
    ($(
        $(#[$doc:meta])*
        $name:ident = $code:literal, $kind:ident, $english:literal;
    )*) => {
        /// A rejection's identity: its stable code, kind and DRF text.
        ///
        /// Messages with `{placeholders}` take their values from
        /// [`AuthError::arg`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Rejection {
            $( $(#[$doc])* $name, )*
        }

        impl Rejection {
            /// Every rejection, in table order.
            pub const ALL: &'static [Rejection] = &[$(Rejection::$name),*];

            /// The stable code that keys translations and overrides.
            pub const fn code(self) -> &'static str {
                match self { $(Rejection::$name => $code,)* }
            }

            /// How this rejection is answered.
            pub const fn kind(self) -> Kind {
                match self { $(Rejection::$name => Kind::$kind,)* }
            }

            /// DRF's English text (a template where it has placeholders).
            pub const fn english(self) -> &'static str {
                match self { $(Rejection::$name => $english,)* }
            }

            /// The rejection with this code, if any.
            pub fn from_code(code: &str) -> Option<Rejection> {
                match code { $($code => Some(Rejection::$name),)* _ => None }
            }
        }
    };
}

rejections! {
    /// No authenticator recognised the request and the permission needs a user.
    NotAuthenticated = "not_authenticated", NotAuthenticated,
        "Authentication credentials were not provided.";
    /// DRF's generic `AuthenticationFailed` text.
    AuthenticationFailed = "authentication_failed", AuthenticationFailed,
        "Incorrect authentication credentials.";
    /// A permission denied an authenticated (or anonymous, chainless) request.
    PermissionDenied = "permission_denied", PermissionDenied,
        "You do not have permission to perform this action.";
    /// The user row is inactive or gone.
    UserInactiveOrDeleted = "user_inactive_or_deleted", AuthenticationFailed,
        "User inactive or deleted.";
    /// The user named by a credential does not exist.
    UserNotFound = "user_not_found", AuthenticationFailed, "User not found.";
    /// The user named by a credential is inactive.
    UserInactive = "user_inactive", AuthenticationFailed, "User is inactive.";
    /// Basic: wrong username or password.
    InvalidUsernamePassword = "invalid_username_password", AuthenticationFailed,
        "Invalid username/password.";
    /// Basic: the scheme came alone.
    BasicNoCredentials = "basic_no_credentials", AuthenticationFailed,
        "Invalid basic header. No credentials provided.";
    /// Basic: more than one value after the scheme.
    BasicSpaces = "basic_spaces", AuthenticationFailed,
        "Invalid basic header. Credentials string should not contain spaces.";
    /// Basic: the credentials are not `base64(user:password)`.
    BasicBadBase64 = "basic_bad_base64", AuthenticationFailed,
        "Invalid basic header. Credentials not correctly base64 encoded.";
    /// Token: the keyword came alone.
    TokenNoCredentials = "token_no_credentials", AuthenticationFailed,
        "Invalid token header. No credentials provided.";
    /// Token: more than one value after the keyword.
    TokenSpaces = "token_spaces", AuthenticationFailed,
        "Invalid token header. Token string should not contain spaces.";
    /// Token: the key is not valid text.
    TokenInvalidCharacters = "token_invalid_characters", AuthenticationFailed,
        "Invalid token header. Token string should not contain invalid characters.";
    /// Token: no such key.
    InvalidToken = "invalid_token", AuthenticationFailed, "Invalid token.";
    /// Bearer: not exactly two parts.
    BearerHeaderShape = "bearer_header_shape", AuthenticationFailed,
        "Authorization header must be 'Bearer <token>'.";
    /// Bearer: the token is not valid text.
    JwtInvalidCharacters = "jwt_invalid_characters", AuthenticationFailed,
        "Token contains invalid characters.";
    /// JWT cookie transport: the token's cookie came more than once.
    TokenCookieRepeated = "token_cookie_repeated", AuthenticationFailed,
        "The token cookie was sent more than once.";
    /// JWT: `exp` has passed.
    TokenExpired = "token_expired", AuthenticationFailed, "Token has expired.";
    /// JWT: the jti is on the blacklist.
    TokenBlacklisted = "token_blacklisted", AuthenticationFailed, "Token has been blacklisted.";
    /// JWT: an access token where a refresh token belongs, or the reverse.
    WrongTokenType = "wrong_token_type", AuthenticationFailed,
        "Wrong token type, expected '{expected}'.";
    /// JWT: no user id claim.
    NoUserId = "no_user_id", AuthenticationFailed,
        "Token contained no recognizable user identification.";
    /// JWT: the password changed since the token was issued.
    PasswordChanged = "password_changed", AuthenticationFailed,
        "The user's password has been changed.";
    /// Obtain: wrong credentials, or a user the rule refuses.
    NoActiveAccount = "no_active_account", AuthenticationFailed,
        "No active account found with the given credentials.";
    /// A CSRF check failed; `{reason}` is Django's reason.
    CsrfFailed = "csrf_failed", PermissionDenied, "CSRF Failed: {reason}";
    /// The route does not serve `{method}`.
    MethodNotAllowed = "method_not_allowed", MethodNotAllowed,
        "Method \"{method}\" not allowed.";
    /// The `Accept` header names no type the response can have.
    NotAcceptable = "not_acceptable", NotAcceptable,
        "Could not satisfy the request Accept header.";
    /// A throttle refused the request, with no wait to offer.
    Throttled = "throttled", Throttled, "Request was throttled.";
    /// A throttle refused the request for one more second.
    ThrottledOneSecond = "throttled_one_second", Throttled,
        "Request was throttled. Expected available in 1 second.";
    /// A throttle refused the request for `{wait}` more seconds.
    ThrottledSeconds = "throttled_seconds", Throttled,
        "Request was throttled. Expected available in {wait} seconds.";
    /// Too many failed logins for this username from this client (or at all).
    LoginLocked = "login_locked", Throttled,
        "Too many failed login attempts. Try again in {wait} seconds.";
    /// The request body is not valid JSON; `{error}` says where.
    JsonParseError = "json_parse_error", BadRequest, "JSON parse error - {error}";
    /// A form body has more fields than Django accepts (`DATA_UPLOAD_MAX_NUMBER_FIELDS`).
    TooManyFields = "too_many_fields", BadRequest,
        "The number of fields exceeded the limit of {limit}.";
    /// The content type is not accepted.
    UnsupportedMediaType = "unsupported_media_type", UnsupportedMediaType,
        "Unsupported media type \"{media_type}\" in request.";
    /// The body is over the configured limit.
    PayloadTooLarge = "payload_too_large", PayloadTooLarge,
        "Request body is larger than {limit} bytes.";
    /// Every password worker is busy and the queue is full.
    PasswordBusy = "password_busy", ServiceUnavailable,
        "Too many password checks at once; try again in a moment.";
    /// A store could not be reached; the request fails closed.
    StoreUnavailable = "store_unavailable", ServiceUnavailable,
        "Authentication service temporarily unavailable.";
    /// A bug or a misconfiguration reached a request.
    Internal = "internal_error", Internal, "A server error occurred.";
}

/// A reason to stop a request: a [`Rejection`] plus its arguments, or an
/// application's own `detail` text.
///
/// ```
/// use restflow_auth::error::{AuthError, Kind};
///
/// let e = AuthError::failed("Invalid API key.");
/// assert_eq!(e.kind(), Kind::AuthenticationFailed);
/// assert_eq!(e.to_string(), "Invalid API key.");
///
/// let e = AuthError::csrf("CSRF token missing.");
/// assert_eq!(e.to_string(), "CSRF Failed: CSRF token missing.");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthError {
    rejection: Rejection,
    args: Vec<(&'static str, Cow<'static, str>)>,
    detail: Option<Cow<'static, str>>,
    kind: Option<Kind>,
    /// The internal cause and extra body members: rare, so boxed.
    extra: Option<Box<Extra>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Extra {
    source: Option<String>,
    fields: Vec<(&'static str, serde_json::Value)>,
    retry_after: Option<u64>,
}

impl AuthError {
    /// A rejection from the table.
    pub const fn new(rejection: Rejection) -> Self {
        AuthError {
            rejection,
            args: Vec::new(),
            detail: None,
            kind: None,
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Adds a member to the JSON body after `detail` (simplejwt's `code`
    /// and `messages`), in the order added.
    pub fn with_field(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extra_mut().fields.push((name, value));
        self
    }

    /// Sends `Retry-After: <seconds>` with the answer (429, 503).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.extra_mut().retry_after = Some(seconds);
        self
    }

    /// The `Retry-After` seconds, when set.
    pub fn retry_after(&self) -> Option<u64> {
        self.extra.as_deref().and_then(|e| e.retry_after)
    }

    /// The extra body members.
    pub fn fields(&self) -> &[(&'static str, serde_json::Value)] {
        self.extra.as_deref().map_or(&[], |e| &e.fields)
    }

    /// `AuthenticationFailed` with the application's own text (not translated).
    pub fn failed(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Rejection::AuthenticationFailed).with_detail(detail)
    }

    /// `PermissionDenied` with the application's own text (not translated).
    pub fn denied(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Rejection::PermissionDenied).with_detail(detail)
    }

    /// `CSRF Failed: <reason>` (403).
    pub fn csrf(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Rejection::CsrfFailed).arg("reason", reason)
    }

    /// A store could not be reached: 503, and `cause` kept for the log only.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        let mut e = Self::new(Rejection::StoreUnavailable);
        e.extra_mut().source = Some(cause.to_string());
        e
    }

    /// A bug or misconfiguration: 500, `cause` kept for the log only.
    pub fn internal(cause: impl fmt::Display) -> Self {
        let mut e = Self::new(Rejection::Internal);
        e.extra_mut().source = Some(cause.to_string());
        e
    }

    /// Sets a `{name}` placeholder of the message template.
    pub fn arg(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// Replaces the catalog text with a fixed `detail`.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Overrides the kind (for example an `AuthenticationFailed` raised where
    /// DRF raises `PermissionDenied`).
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The table row.
    pub fn rejection(&self) -> Rejection {
        self.rejection
    }

    /// The stable code (`not_authenticated`, `csrf_failed`, ...).
    pub fn code(&self) -> &'static str {
        self.rejection.code()
    }

    /// How it is answered.
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(self.rejection.kind())
    }

    /// The application's own `detail`, when one replaced the catalog text.
    pub fn custom_detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The placeholder values.
    pub fn args(&self) -> &[(&'static str, Cow<'static, str>)] {
        &self.args
    }

    /// The internal cause (never rendered to the client).
    pub fn cause(&self) -> Option<&str> {
        self.extra.as_deref().and_then(|e| e.source.as_deref())
    }

    /// DRF's status rule: authentication kinds are 401 only when the chain's
    /// first authenticator has a `WWW-Authenticate` value.
    ///
    /// ```
    /// use http::StatusCode;
    /// use restflow_auth::error::{AuthError, Rejection};
    ///
    /// let e = AuthError::new(Rejection::NotAuthenticated);
    /// assert_eq!(e.status(true), StatusCode::UNAUTHORIZED);
    /// assert_eq!(e.status(false), StatusCode::FORBIDDEN);
    /// ```
    pub fn status(&self, has_challenge: bool) -> StatusCode {
        let kind = self.kind();
        if kind.is_authentication() && has_challenge {
            StatusCode::UNAUTHORIZED
        } else {
            kind.base_status()
        }
    }

    /// The English `detail` text.
    pub fn english_detail(&self) -> Cow<'static, str> {
        match &self.detail {
            Some(d) => d.clone(),
            None if self.args.is_empty() => Cow::Borrowed(self.rejection.english()),
            None => Cow::Owned(fill(self.rejection.english(), &self.args)),
        }
    }
}

/// Replaces `{name}` placeholders of `template` with `args`; unknown
/// placeholders stay as written.
pub(crate) fn fill(template: &str, args: &[(&'static str, Cow<'static, str>)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match args.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english_detail())
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Arguments and details are client-facing texts, never secrets; the
        // cause may name a host, so it is shown, but credentials never reach
        // an AuthError.
        f.debug_struct("AuthError")
            .field("code", &self.code())
            .field("kind", &self.kind())
            .field("detail", &self.english_detail())
            .field("cause", &self.cause())
            .finish()
    }
}

impl std::error::Error for AuthError {}

impl From<Rejection> for AuthError {
    fn from(r: Rejection) -> Self {
        AuthError::new(r)
    }
}

/// A rendered rejection, ready to send: status, `WWW-Authenticate`,
/// `Content-Language` and the JSON body `{"detail": "..."}`.
#[derive(Clone, Debug)]
pub struct Rejected {
    status: StatusCode,
    www_authenticate: Option<http::HeaderValue>,
    /// Seconds (a `u32` keeps `Rejected` small; larger waits saturate).
    retry_after: Option<u32>,
    language: Option<http::HeaderValue>,
    body: String,
}

/// A header value without a copy when the text is `'static`.
#[allow(clippy::ptr_arg)] // whether the `Cow` borrows `'static` text is the point
fn header_value(text: &std::borrow::Cow<'static, str>) -> Option<http::HeaderValue> {
    match text {
        // `from_static`'s own rule (visible ASCII, space, tab), checked
        // first so that it cannot panic; other text goes through `from_str`.
        std::borrow::Cow::Borrowed(s)
            if s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) =>
        {
            Some(http::HeaderValue::from_static(s))
        }
        _ => http::HeaderValue::from_str(text).ok(),
    }
}

/// The `Content-Language` value: the built-in languages' without a copy.
fn language_value(language: &str) -> Option<http::HeaderValue> {
    match crate::messages::BUILT_IN_LANGUAGES
        .iter()
        .find(|k| **k == language)
    {
        Some(k) => Some(http::HeaderValue::from_static(k)),
        None => http::HeaderValue::from_str(language).ok(),
    }
}

/// What every rendering of a denial does once (HTTP here, gRPC in
/// `grpc::status`): counts it and logs a server error with its cause.
pub(crate) fn report(denial: &crate::dispatch::Denial) -> StatusCode {
    let status = denial.status();
    crate::telemetry::rejected(status, denial.error.code());
    if status.is_server_error() {
        tracing::error!(
            code = denial.error.code(),
            cause = denial.error.cause().unwrap_or(""),
            "restflow-auth: request failed closed"
        );
    }
    status
}

impl Rejected {
    /// Renders a denial in the language `Accept-Language` asks for. Server
    /// errors (5xx) are logged here, once, with their cause.
    pub fn new(
        denial: &crate::dispatch::Denial,
        catalog: &crate::messages::Catalog,
        accept_language: Option<&str>,
    ) -> Self {
        let status = report(denial);
        let language = catalog.negotiate(accept_language);
        Rejected {
            status,
            www_authenticate: denial.sent_challenge().and_then(header_value),
            retry_after: denial
                .error
                .retry_after()
                .map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
            body: denial.body(catalog, language),
            language: language_value(language),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` value, on a 401.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The JSON body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The `Retry-After` seconds, on a 429 or 503 that has them.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after.map(u64::from)
    }
}

impl axum_core::response::IntoResponse for Rejected {
    fn into_response(self) -> axum_core::response::Response {
        let mut res = axum_core::response::Response::new(axum_core::body::Body::from(self.body));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(v) = self.language {
            h.insert(http::header::CONTENT_LANGUAGE, v);
        }
        h.insert(
            http::header::VARY,
            http::HeaderValue::from_static("Accept, Accept-Language"),
        );
        if let Some(v) = self.www_authenticate {
            h.insert(http::header::WWW_AUTHENTICATE, v);
        }
        if let Some(s) = self.retry_after {
            h.insert(http::header::RETRY_AFTER, http::HeaderValue::from(s));
        }
        res
    }
}

/// An `AuthError` returned from a handler renders in English without a
/// challenge (so authentication kinds are 403); inside a chain, the guard
/// renders it with the chain's challenge and the client's language.
impl axum_core::response::IntoResponse for AuthError {
    fn into_response(self) -> axum_core::response::Response {
        let denial = crate::dispatch::Denial::new(self);
        Rejected::new(&denial, &crate::messages::Catalog::default(), None).into_response()
    }
}
