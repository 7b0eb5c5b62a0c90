//! Reading a token in PyJWT's order, so every malformed token gets the same
//! message as drf-restflow sends: segments, header, payload and signature
//! encoding, header parameters, `alg`, signature, payload JSON, then the
//! registered claims (`exp`, `iat` required; `iat`, `nbf`, `exp`, `iss`,
//! `aud`, `sub`, `jti`).
//!
//! The payload is parsed once into borrowed `(name, raw JSON)` pairs; only
//! the claims that are checked are interpreted.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::b64;
use super::keys::JwtKeys;
use super::keyset::KeySet;
use crate::settings::JwtSettings;

/// A verification failure: the text PyJWT (or drf-restflow) would send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, badly signed or with an invalid claim: the message is sent as is.
    Invalid(Cow<'static, str>),
    /// `exp` has passed ("Token has expired.").
    Expired,
    /// The token is not of the expected type.
    WrongType(&'static str),
    /// The jti is blacklisted.
    Blacklisted,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Invalid(m) => f.write_str(m),
            TokenError::Expired => f.write_str("Token has expired."),
            TokenError::WrongType(t) => write!(f, "Wrong token type, expected '{t}'."),
            TokenError::Blacklisted => f.write_str("Token has been blacklisted."),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for crate::error::AuthError {
    fn from(e: TokenError) -> Self {
        use crate::error::{AuthError, Rejection};
        match e {
            TokenError::Invalid(m) => AuthError::failed(m),
            TokenError::Expired => Rejection::TokenExpired.into(),
            TokenError::WrongType(t) => {
                AuthError::new(Rejection::WrongTokenType).arg("expected", t)
            }
            TokenError::Blacklisted => Rejection::TokenBlacklisted.into(),
        }
    }
}

fn invalid(m: &'static str) -> TokenError {
    TokenError::Invalid(Cow::Borrowed(m))
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object as `(name, raw value)` pairs; a repeated name keeps the
/// last value, as Python's `json.loads`.
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<'de>, A::Error> {
                let mut pairs: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(8);
                // Past a few members, an index: a hostile header of many
                // thousand members stays linear.
                let mut index: Option<std::collections::HashMap<Cow<'de, str>, usize>> = None;
                while let Some(Key(k)) = map.next_key()? {
                    let v: &'de RawValue = map.next_value()?;
                    if let Some(ix) = &mut index {
                        match ix.get(&k) {
                            Some(&i) => pairs[i].1 = v,
                            None => {
                                ix.insert(k.clone(), pairs.len());
                                pairs.push((k, v));
                            }
                        }
                        continue;
                    }
                    match pairs.iter_mut().find(|(n, _)| *n == k) {
                        Some(slot) => slot.1 = v,
                        None => {
                            pairs.push((k, v));
                            if pairs.len() > 32 {
                                index = Some(
                                    pairs
                                        .iter()
                                        .enumerate()
                                        .map(|(i, (n, _))| (n.clone(), i))
                                        .collect(),
                                );
                            }
                        }
                    }
                }
                Ok(Object(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Object<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// The claims the reader checks, borrowed from the payload; every other
/// member is skipped without being kept.
#[derive(Default)]
pub(crate) struct ClaimsView<'a> {
    pub(crate) exp: Option<&'a RawValue>,
    pub(crate) iat: Option<&'a RawValue>,
    pub(crate) nbf: Option<&'a RawValue>,
    pub(crate) iss: Option<&'a RawValue>,
    pub(crate) aud: Option<&'a RawValue>,
    pub(crate) sub: Option<&'a RawValue>,
    pub(crate) jti: Option<&'a RawValue>,
    pub(crate) token_type: Option<&'a RawValue>,
    pub(crate) user: Option<&'a RawValue>,
    pub(crate) revoke: Option<&'a RawValue>,
    /// The refresh-token family (`fam`, see `jwt/family.rs`).
    pub(crate) fam: Option<&'a RawValue>,
    /// The id claim when it is not `jti` (simplejwt's `JTI_CLAIM`).
    pub(crate) id: Option<&'a RawValue>,
}

struct ClaimsSeed<'n> {
    user_claim: &'n str,
    revoke_claim: Option<&'n str>,
    type_claim: &'n str,
    id_claim: &'n str,
}

impl<'de> serde::de::DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = ClaimsView<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ClaimsView<'de>, D::Error> {
        struct V<'n>(ClaimsSeed<'n>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ClaimsView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimsView<'de>, A::Error> {
                let mut c = ClaimsView::default();
                while let Some(Key(k)) = map.next_key()? {
                    let slot = match &*k {
                        "exp" => &mut c.exp,
                        "iat" => &mut c.iat,
                        "nbf" => &mut c.nbf,
                        "iss" => &mut c.iss,
                        "aud" => &mut c.aud,
                        "sub" => &mut c.sub,
                        "jti" => &mut c.jti,
                        name if name == self.0.type_claim => &mut c.token_type,
                        name if name == self.0.user_claim => &mut c.user,
                        name if name == self.0.id_claim => &mut c.id,
                        name if Some(name) == self.0.revoke_claim => &mut c.revoke,
                        super::family::CLAIM => &mut c.fam,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(c)
            }
        }
        d.deserialize_map(V(self))
    }
}

/// Parses the payload into a [`ClaimsView`], or says why not as PyJWT does.
fn claims_view<'a>(text: &'a str, seed: ClaimsSeed<'_>) -> Result<ClaimsView<'a>, TokenError> {
    use serde::de::DeserializeSeed;
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
        .copied();
    if first != Some(b'{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => invalid("Invalid payload string: must be a json object"),
            Err(e) => TokenError::Invalid(Cow::Owned(format!("Invalid payload string: {e}"))),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let view = seed
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| TokenError::Invalid(Cow::Owned(format!("Invalid payload string: {e}"))))?;
    Ok(view)
}

/// Python's `'utf-8' codec can't decode ...` text for invalid UTF-8.
fn utf8_reason(bytes: &[u8], e: std::str::Utf8Error) -> String {
    let at = e.valid_up_to();
    match e.error_len() {
        Some(_) => {
            let b = bytes[at];
            let reason = if (0xc2..=0xf4).contains(&b) {
                "invalid continuation byte"
            } else {
                "invalid start byte"
            };
            format!("'utf-8' codec can't decode byte 0x{b:02x} in position {at}: {reason}")
        }
        None if bytes.len() - at == 1 => format!(
            "'utf-8' codec can't decode byte 0x{:02x} in position {at}: unexpected end of data",
            bytes[at]
        ),
        None => format!(
            "'utf-8' codec can't decode bytes in position {at}-{}: unexpected end of data",
            bytes.len() - 1
        ),
    }
}

/// Python's `json.loads` on bytes decodes them first, guessing UTF-16 and
/// UTF-32 from a BOM or zero bytes (`json.detect_encoding`); UTF-8 (with
/// or without a BOM) otherwise.
fn python_text(bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    let wide = |units: Vec<u16>, name: &str| {
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
            .map_err(|_| format!("'{name}' codec can't decode bytes: illegal encoding"))
    };
    let words = |b: &[u8], be: bool| -> Vec<u16> {
        b.chunks(2)
            .map(|c| match (c, be) {
                ([a, b], true) => u16::from_be_bytes([*a, *b]),
                ([a, b], false) => u16::from_le_bytes([*a, *b]),
                _ => 0xd800, // a lone byte: undecodable
            })
            .collect()
    };
    let utf32 = |b: &[u8], be: bool, name: &str| -> Result<Cow<'_, str>, String> {
        b.chunks(4)
            .map(|c| {
                let v = match c.try_into() {
                    Ok(arr) if be => u32::from_be_bytes(arr),
                    Ok(arr) => u32::from_le_bytes(arr),
                    Err(_) => u32::MAX,
                };
                char::from_u32(v).ok_or(())
            })
            .collect::<Result<String, ()>>()
            .map(Cow::Owned)
            .map_err(|()| format!("'{name}' codec can't decode bytes: illegal encoding"))
    };
    match bytes {
        [0, 0, 0xfe, 0xff, rest @ ..] => utf32(rest, true, "utf-32"),
        [0xff, 0xfe, 0, 0, rest @ ..] => utf32(rest, false, "utf-32"),
        [0xfe, 0xff, rest @ ..] => wide(words(rest, true), "utf-16"),
        [0xff, 0xfe, rest @ ..] => wide(words(rest, false), "utf-16"),
        [0xef, 0xbb, 0xbf, rest @ ..] => std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|e| utf8_reason(rest, e).replace("'utf-8'", "'utf-8-sig'")),
        [0, b1, _, _, ..] if *b1 != 0 => wide(words(bytes, true), "utf-16-be"),
        [0, 0, _, _, ..] => utf32(bytes, true, "utf-32-be"),
        [_, 0, b2, b3, ..] if *b2 != 0 || *b3 != 0 => wide(words(bytes, false), "utf-16-le"),
        [_, 0, _, _, ..] => utf32(bytes, false, "utf-32-le"),
        [0, _] => wide(words(bytes, true), "utf-16-be"),
        [_, 0] => wide(words(bytes, false), "utf-16-le"),
        _ => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| utf8_reason(bytes, e)),
    }
}

/// Parses `text` as a JSON object, or says why not in Python's terms.
fn object<'a>(text: &'a str, what: &'static str) -> Result<Object<'a>, TokenError> {
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
        .copied();
    if first != Some(b'{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => TokenError::Invalid(Cow::Owned(format!(
                "Invalid {what} string: must be a json object"
            ))),
            Err(e) => TokenError::Invalid(Cow::Owned(format!("Invalid {what} string: {e}"))),
        });
    }
    serde_json::from_str::<Object<'_>>(text)
        .map_err(|e| TokenError::Invalid(Cow::Owned(format!("Invalid {what} string: {e}"))))
}

/// The earliest and latest times Python's `datetime` can hold (years 1 to
/// 9999), as seconds since the epoch.
const DATE_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// A time claim (`exp`, `iat`, `nbf`): a JSON integer that a date can hold.
/// PyJWT would also take `"9999999999"`, `1.5e9` or `true` (its `int()`),
/// and simplejwt then fails on them with a 500; here they are refused, as
/// is an integer no date can hold.
pub(crate) fn time_claim(raw: &RawValue) -> Option<i64> {
    let s = raw.get();
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    s.parse::<i64>().ok().filter(|t| DATE_RANGE.contains(t))
}

fn is_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

fn string(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

/// What a verified token says, with the payload kept for custom claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub(crate) payload: Box<str>,
    pub(crate) jti: Option<String>,
    pub(crate) exp: i64,
    /// `iat` (required of these tokens): when it was issued.
    pub(crate) iat: i64,
    pub(crate) user_id: Option<serde_json::Value>,
    pub(crate) revoke: Option<String>,
    pub(crate) fam: Option<String>,
    /// `family:<fam>`, the blacklist entry of the family's revocation,
    /// built once per verification (a cached token checks it per request).
    pub(crate) family_key: Option<Box<str>>,
}

/// The current time as Python's `datetime.now().timestamp()` (a float).
pub(crate) fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What PyJWT's `decode` is told: which claims are required, and the
/// issuer, audience and leeway. drf-restflow and simplejwt differ here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options<'a> {
    /// `exp` and `iat` required (drf-restflow); otherwise checked only if present.
    pub(crate) require_exp_iat: bool,
    /// A non-empty `aud` is refused when no audience is set (PyJWT's
    /// default, which drf-restflow keeps; simplejwt turns it off).
    pub(crate) reject_aud_when_unset: bool,
    pub(crate) leeway_s: u64,
    pub(crate) issuer: Option<&'a str>,
    pub(crate) audience: Option<&'a str>,
    pub(crate) user_claim: &'a str,
    pub(crate) revoke_claim: Option<&'a str>,
    pub(crate) type_claim: &'a str,
    pub(crate) id_claim: &'a str,
}

impl<'a> Options<'a> {
    pub(crate) fn restflow(s: &'a JwtSettings) -> Self {
        Options {
            require_exp_iat: true,
            reject_aud_when_unset: true,
            leeway_s: s.leeway_s,
            issuer: s.issuer.as_deref(),
            audience: s.audience.as_deref(),
            user_claim: &s.user_id_claim,
            revoke_claim: s
                .check_revoke_token
                .then_some(s.revoke_token_claim.as_str()),
            type_claim: "token_type",
            id_claim: "jti",
        }
    }
}

/// The claims after PyJWT's checks, borrowed from the payload.
pub(crate) struct Read<'p> {
    pub(crate) claims: ClaimsView<'p>,
    pub(crate) exp: Option<i64>,
}

/// PyJWT's `decode` (steps 5 to 19 of the check order), leaving the payload
/// text in `payload`.
pub(crate) fn read<'p>(
    token: &str,
    set: &KeySet,
    o: &Options<'_>,
    now: f64,
    payload: &'p mut String,
) -> Result<Read<'p>, TokenError> {
    let bytes = token.as_bytes();
    // 5. segments: rsplit('.', 1), then split('.', 1).
    let Some(last_dot) = bytes.iter().rposition(|b| *b == b'.') else {
        return Err(invalid("Not enough segments"));
    };
    let (signing_input, crypto) = (&bytes[..last_dot], &bytes[last_dot + 1..]);
    let Some(first_dot) = signing_input.iter().position(|b| *b == b'.') else {
        return Err(invalid("Not enough segments"));
    };
    let (header_seg, payload_seg) = (&signing_input[..first_dot], &signing_input[first_dot + 1..]);

    // The header this crate writes is valid, has no `kid` or `crit`, and
    // names the configured algorithm: steps 6, 7, 9 and 10 all pass.
    let mut chosen: Option<&JwtKeys> = set.by_header(header_seg);
    let canonical = chosen.is_some();

    // 6-8, in PyJWT's `_load` order: the header segment and its JSON, the
    // payload segment (refused when `b64` is false: a detached payload is
    // never given), the signature segment.
    let mut header_buf = Vec::new();
    if !canonical && !b64::decode_into(header_seg, &mut header_buf) {
        return Err(invalid("Invalid header padding"));
    }
    let header_text = if canonical {
        Cow::Borrowed("")
    } else {
        python_text(&header_buf)
            .map_err(|e| TokenError::Invalid(Cow::Owned(format!("Invalid header string: {e}"))))?
    };
    let header = if canonical {
        None
    } else {
        Some(object(&header_text, "header")?)
    };
    let b64_false = header
        .as_ref()
        .and_then(|h| h.get("b64"))
        .is_some_and(|v| v.get() == "false");
    if b64_false && !payload_seg.is_empty() {
        return Err(invalid(
            "Payload segment must be empty when 'b64' is false.",
        ));
    }
    let mut payload_buf = Vec::new();
    if !b64_false && !b64::decode_into(payload_seg, &mut payload_buf) {
        return Err(invalid("Invalid payload padding"));
    }
    let mut signature = Vec::new();
    if !b64::decode_into(crypto, &mut signature) {
        return Err(invalid("Invalid crypto padding"));
    }

    if let Some(header) = &header {
        // 9. header parameters: `kid`, then `crit` (PyJWT understands `b64`
        // alone, RFC 7797), then `b64`.
        let kid = header.get("kid");
        if kid.is_some_and(|kid| !is_string(kid)) {
            return Err(invalid("Key ID header parameter must be a string"));
        }
        if let Some(crit) = header.get("crit") {
            check_crit(header, crit)?;
        }
        if b64_false {
            let listed = header.get("crit").is_some_and(|c| {
                serde_json::from_str::<Vec<serde_json::Value>>(c.get())
                    .is_ok_and(|l| l.iter().any(|v| v == "b64"))
            });
            return Err(if listed {
                invalid(
                    "It is required that you pass in a value for the \"detached_payload\" argument to decode a message having the b64 header set to false.",
                )
            } else {
                invalid("The 'b64' header parameter requires 'b64' to be listed in 'crit'.")
            });
        }
        // 10. alg.
        let Some(alg) = header.get("alg") else {
            return Err(invalid("Algorithm not specified"));
        };
        let keys = set.select(kid.and_then(string).as_deref())?;
        chosen = Some(keys);
        if string(alg).as_deref() != Some(keys.algorithm()) {
            return Err(invalid("The specified alg value is not allowed"));
        }
    }

    // 11. signature.
    // Either the header is one of the set's own, or it was read above.
    let Some(keys) = chosen else {
        return Err(invalid("Signature verification failed"));
    };
    if !keys.verify(signing_input, &signature[..]) {
        return Err(invalid("Signature verification failed"));
    }

    // 12. payload JSON.
    let seed = ClaimsSeed {
        user_claim: o.user_claim,
        revoke_claim: o.revoke_claim,
        type_claim: o.type_claim,
        id_claim: o.id_claim,
    };
    *payload = match String::from_utf8(payload_buf) {
        Ok(text) => text,
        Err(e) => python_text(e.as_bytes())
            .map(Cow::into_owned)
            .map_err(|e| TokenError::Invalid(Cow::Owned(format!("Invalid payload string: {e}"))))?,
    };
    let claims = claims_view(payload, seed)?;

    // 13. required claims, missing or null.
    if o.require_exp_iat {
        let present = |v: Option<&RawValue>| v.is_some_and(|v| v.get() != "null");
        if !present(claims.exp) {
            return Err(invalid("Token is missing the \"exp\" claim"));
        }
        if !present(claims.iat) {
            return Err(invalid("Token is missing the \"iat\" claim"));
        }
    }
    let leeway = o.leeway_s as f64;
    // 14. iat.
    if let Some(iat) = claims.iat {
        let iat = time_claim(iat).ok_or(invalid("Issued At claim (iat) must be an integer."))?;
        if iat as f64 > now + leeway {
            return Err(invalid("The token is not yet valid (iat)"));
        }
    }
    // 15. nbf.
    if let Some(nbf) = claims.nbf {
        let nbf = time_claim(nbf).ok_or(invalid("Not Before claim (nbf) must be an integer."))?;
        if nbf as f64 > now + leeway {
            return Err(invalid("The token is not yet valid (nbf)"));
        }
    }
    // 16. exp.
    let exp = match claims.exp {
        Some(exp) => {
            let exp = time_claim(exp)
                .ok_or(invalid("Expiration Time claim (exp) must be an integer."))?;
            if exp as f64 <= now - leeway {
                return Err(TokenError::Expired);
            }
            Some(exp)
        }
        None => None,
    };
    // 17. iss.
    if let Some(issuer) = o.issuer {
        let Some(iss) = claims.iss else {
            return Err(invalid("Token is missing the \"iss\" claim"));
        };
        if !is_string(iss) {
            return Err(invalid("Payload Issuer (iss) must be a string"));
        }
        if string(iss).as_deref() != Some(issuer) {
            return Err(invalid("Invalid issuer"));
        }
    }
    // 18. aud.
    let aud = claims
        .aud
        .filter(|a| !matches!(a.get(), "null" | "\"\"" | "[]" | "{}" | "false" | "0"));
    match (o.audience, aud) {
        (None, None) => {}
        (None, Some(_)) if o.reject_aud_when_unset => return Err(invalid("Invalid audience")),
        (None, Some(_)) => {}
        (Some(_), None) => return Err(invalid("Token is missing the \"aud\" claim")),
        (Some(expected_aud), Some(raw)) => {
            let list: Vec<String> = if is_string(raw) {
                vec![string(raw).unwrap_or_default()]
            } else {
                serde_json::from_str(raw.get())
                    .map_err(|_| invalid("Invalid claim format in token"))?
            };
            if !list.iter().any(|a| a == expected_aud) {
                return Err(invalid("Audience doesn't match"));
            }
        }
    }
    // 19. sub, jti.
    if claims.sub.is_some_and(|v| !is_string(v)) {
        return Err(invalid("Subject must be a string"));
    }
    if claims.jti.is_some_and(|v| !is_string(v)) {
        return Err(invalid("JWT ID must be a string"));
    }
    Ok(Read { claims, exp })
}

/// The `kid` of a token's header, when it has one (a string).
#[cfg_attr(not(feature = "external-jwt"), allow(dead_code))]
pub(crate) fn header_kid(token: &str) -> Option<String> {
    let segment = token.split('.').next()?;
    let mut buf = Vec::new();
    if !b64::decode_into(segment.as_bytes(), &mut buf) {
        return None;
    }
    let text = std::str::from_utf8(&buf).ok()?;
    object(text, "header").ok()?.get("kid").and_then(string)
}

/// PyJWT's `_validate_crit`: a non-empty list of strings, each an extension
/// PyJWT supports (`b64`) and present in the header.
fn check_crit(header: &Object<'_>, crit: &RawValue) -> Result<(), TokenError> {
    let Ok(list) = serde_json::from_str::<Vec<serde_json::Value>>(crit.get()) else {
        return Err(invalid("Invalid 'crit' header: must be a non-empty list"));
    };
    if list.is_empty() {
        return Err(invalid("Invalid 'crit' header: must be a non-empty list"));
    }
    for ext in &list {
        let Some(ext) = ext.as_str() else {
            return Err(invalid("Invalid 'crit' header: values must be strings"));
        };
        if ext != "b64" {
            return Err(TokenError::Invalid(Cow::Owned(format!(
                "Unsupported critical extension: {ext}"
            ))));
        }
        if header.get(ext).is_none() {
            return Err(TokenError::Invalid(Cow::Owned(format!(
                "Critical extension '{ext}' is missing from headers"
            ))));
        }
    }
    Ok(())
}

/// Whether a raw JSON value is the string `expected`.
pub(crate) fn is_str(raw: &RawValue, expected: &str) -> bool {
    let r = raw.get();
    (r.len() == expected.len() + 2 && r.starts_with('"') && &r[1..r.len() - 1] == expected)
        || string(raw).as_deref() == Some(expected)
}

/// Verifies `token` (the text after `Bearer `) in PyJWT's order, then
/// checks `token_type == expected` (drf-restflow's rules).
pub fn decode(
    token: &str,
    keys: &KeySet,
    s: &JwtSettings,
    expected: &'static str,
    now: f64,
) -> Result<Verified, TokenError> {
    let mut payload = String::new();
    let Read { claims, exp } = read(token, keys, &Options::restflow(s), now, &mut payload)?;
    // 20. token type.
    if !claims.token_type.is_some_and(|raw| is_str(raw, expected)) {
        return Err(TokenError::WrongType(expected));
    }
    let jti = claims.jti.and_then(string);
    let iat = claims.iat.and_then(time_claim).unwrap_or(0);
    let user_id = claims
        .user
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v.get()).ok());
    let revoke = claims.revoke.and_then(string);
    let fam = claims.fam.and_then(string);
    let family_key = fam
        .as_deref()
        .map(|f| super::family::revoked_key(f).into_boxed_str());
    Ok(Verified {
        payload: payload.into_boxed_str(),
        jti,
        exp: exp.expect("required"),
        iat,
        user_id,
        revoke,
        fam,
        family_key,
    })
}

/// Writes a compact token signed by the set's active key: the header
/// `{"alg":..,"kid":..,"typ":"JWT"}`, the claims JSON, the signature.
pub fn encode(keys: &KeySet, claims_json: &str) -> Result<String, String> {
    let mut out = keys.active_header().to_owned();
    out.push('.');
    out.push_str(&b64::encode(claims_json.as_bytes()));
    let sig = keys.active().sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64::encode(&sig));
    Ok(out)
}
