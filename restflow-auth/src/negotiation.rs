//! DRF's content negotiation (`DefaultContentNegotiation`): before
//! authentication, a request whose `Accept` header names no media type the
//! response can have is answered 406 `Could not satisfy the request Accept
//! header.`.
//!
//! The media types offered are `renderer_media_types` in the settings
//! (default: DRF's default renderers, `application/json` and `text/html`
//! for the browsable API; an empty list turns the check off). Like DRF, a
//! missing `Accept` means `*/*`, every comma-separated entry is tried
//! (quality values do not exclude), `*` matches any main or sub type, and
//! an empty entry matches nothing.

use crate::error::{AuthError, Rejection};
use crate::request::Request;

/// Whether `accept` (the header's text, `None` when absent) admits one of
/// `offered`.
///
/// ```
/// use restflow_auth::negotiation::acceptable;
///
/// let offered = ["application/json".to_owned(), "text/html".to_owned()];
/// assert!(acceptable(None, &offered));
/// assert!(acceptable(Some("application/xml, */*;q=0.1"), &offered));
/// assert!(acceptable(Some("application/*"), &offered));
/// assert!(acceptable(Some("Application/JSON; charset=utf-8"), &offered)); // media types ignore case
/// assert!(!acceptable(Some("application/xml"), &offered));
/// assert!(!acceptable(Some(""), &offered));
/// ```
pub fn acceptable(accept: Option<&str>, offered: &[String]) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    // What most clients send: anything, or exactly one offered type.
    if !offered.is_empty() && (accept == "*/*" || offered.iter().any(|o| o == accept)) {
        return true;
    }
    // Compared without case and without a lowered copy: this runs on
    // every request.
    accept.split(',').any(|entry| {
        let full = entry.split(';').next().unwrap_or("").trim();
        let (main, sub) = full.split_once('/').unwrap_or((full, ""));
        offered.iter().any(|o| {
            let (o_main, o_sub) = o.split_once('/').unwrap_or((o, ""));
            (o_sub == "*" || sub == "*" || sub.eq_ignore_ascii_case(o_sub))
                && (o_main == "*" || main == "*" || main.eq_ignore_ascii_case(o_main))
        })
    })
}

/// Refuses a request whose `Accept` admits none of the configured types.
pub(crate) fn negotiate(req: &Request<'_>, offered: &[String]) -> Result<(), AuthError> {
    if offered.is_empty() || acceptable(req.meta(http::header::ACCEPT).as_deref(), offered) {
        Ok(())
    } else {
        Err(AuthError::new(Rejection::NotAcceptable))
    }
}
