//! Django's `django.core.signing`: `dumps` and `loads` with a
//! `TimestampSigner`, the JSON serializer and optional zlib compression,
//! byte for byte (DJANGO-INTEROP.md §1 has the vectors).
//!
//! `dumps(value, key, salt)` writes `b64(json or zlib(json))` (a leading
//! `.` when compressed, which is done only when it saves more than a
//! byte), then `:` and the timestamp in base 62, then `:` and the URL-safe
//! base64 of HMAC-SHA256 keyed by `SHA-256(salt + "signer" + key)`.
//! `loads` tries each key (the secret, then the fallbacks) in constant time.
//!
//! ```
//! use restflow_auth::django::signing;
//!
//! let key = "restflow-auth-worked-example-secret-key-0123456789abcdef";
//! let signed = signing::dumps_at(&serde_json::json!({"a": 1}), key, "django.contrib.sessions.SessionStore", true, 1767225600);
//! assert_eq!(signed, "eyJhIjoxfQ:1vb66i:xiItRaX1lFId-BeNQeIa2-C9C79vKrJMlVF0nB97huI");
//! let back = signing::loads(&signed, &[key], "django.contrib.sessions.SessionStore", None).unwrap();
//! assert_eq!(back.value, serde_json::json!({"a": 1}));
//! ```

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Why a signed value was refused (Django's `BadSignature`, `SignatureExpired`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not signed with any of the keys, or not in the format.
    #[error("bad signature")]
    BadSignature,
    /// Signed longer ago than the allowed age.
    #[error("signature expired")]
    Expired,
    /// The signed data is not valid JSON (or too large once decompressed).
    #[error("malformed signed data")]
    Malformed,
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Django's `b62_encode`.
pub fn b62_encode(mut n: i64) -> String {
    if n == 0 {
        return "0".into();
    }
    let negative = n < 0;
    let mut out = Vec::new();
    while n != 0 {
        let r = (n % 62).unsigned_abs() as usize;
        out.push(BASE62[r]);
        n /= 62;
    }
    if negative {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// Django's `b62_decode`.
pub fn b62_decode(s: &str) -> Option<i64> {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = BASE62.iter().position(|c| *c == b)? as i64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(sign * n)
}

fn signature(value: &str, key: &str, salt: &str) -> String {
    let mac = super::salted_hmac(&format!("{salt}signer"), value.as_bytes(), key);
    URL_SAFE_NO_PAD.encode(mac)
}

/// Python's `json.dumps(value, separators=(",", ":"))`: compact, non-ASCII
/// escaped as `\uXXXX` (`ensure_ascii`).
pub fn python_json(value: &serde_json::Value) -> String {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `signing.dumps(value, key=key, salt=salt, compress=compress)` at time `now`.
pub fn dumps_at(
    value: &serde_json::Value,
    key: &str,
    salt: &str,
    compress: bool,
    now: i64,
) -> String {
    dumps_text_at(&python_json(value), key, salt, compress, now)
}

/// [`dumps_at`] now.
pub fn dumps(value: &serde_json::Value, key: &str, salt: &str, compress: bool) -> String {
    dumps_at(value, key, salt, compress, crate::unix_now())
}

/// What [`loads`] read: the value and when it was signed.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The value.
    pub value: serde_json::Value,
    /// When it was signed, seconds since the epoch.
    pub signed_at: i64,
}

/// The most a compressed value may expand to (a signed zip bomb is still a bomb).
const MAX_DECOMPRESSED: u64 = 1024 * 1024;

/// `signing.loads(signed, key=keys[0], fallback_keys=keys[1:], salt=salt, max_age=max_age)`.
pub fn loads(
    signed: &str,
    keys: &[&str],
    salt: &str,
    max_age: Option<u64>,
) -> Result<Loaded, Error> {
    let (value, sig) = signed.rsplit_once(':').ok_or(Error::BadSignature)?;
    let good = keys.iter().fold(false, |found, key| {
        found | bool::from(signature(value, key, salt).as_bytes().ct_eq(sig.as_bytes()))
    });
    if !good {
        return Err(Error::BadSignature);
    }
    let (payload, timestamp) = value.rsplit_once(':').ok_or(Error::BadSignature)?;
    let signed_at = b62_decode(timestamp).ok_or(Error::BadSignature)?;
    // Django compares `time.time() - timestamp` (a float) with max_age.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Some(max) = max_age
        && now - signed_at as f64 > max as f64
    {
        return Err(Error::Expired);
    }
    let (compressed, b64) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| Error::Malformed)?;
    let data = if compressed {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&raw[..])
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut out)
            .map_err(|_| Error::Malformed)?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(Error::Malformed);
        }
        out
    } else {
        raw
    };
    let value = serde_json::from_slice(&data).map_err(|_| Error::Malformed)?;
    Ok(Loaded { value, signed_at })
}

/// [`dumps_at`] of JSON text already in Django's form (its key order kept:
/// `{"_auth_user_id":..,"_auth_user_backend":..,"_auth_user_hash":..}`).
pub fn dumps_text_at(json: &str, key: &str, salt: &str, compress: bool, now: i64) -> String {
    let mut data = json.as_bytes().to_vec();
    let mut compressed = false;
    if compress {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        z.write_all(&data).expect("in memory");
        let out = z.finish().expect("in memory");
        if out.len() + 1 < data.len() {
            data = out;
            compressed = true;
        }
    }
    let mut value = String::new();
    if compressed {
        value.push('.');
    }
    value.push_str(&URL_SAFE_NO_PAD.encode(&data));
    value.push(':');
    value.push_str(&b62_encode(now));
    let sig = signature(&value, key, salt);
    format!("{value}:{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "restflow-auth-worked-example-secret-key-0123456789abcdef";
    const FALLBACK: &str = "old-secret-key-for-fallback-example-0123456789abcdef";
    const SALT: &str = "django.contrib.sessions.SessionStore";
    const DICT: &str = r#"{"_auth_user_id":"1","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"d6fe4dabaabe3ace2d07d3a519e2fe97312b99904c880a746e2c5f21c103c89b"}"#;
    const DATA: &str = ".eJxVjDsOwyAQBe9CHSF-NpAyvc-AlmUJTiKQjF1FuXuE5CJp38y8Nwtw7CUcnbawJnZlkl1-twj4pDpAekC9N46t7tsa-VD4STtfWqLX7XT_Dgr0Muo5k0kQASJpQFJJ2KRhkp5UJm-1VNF7Lww6J8CamRROWUmUQqPzkX2-G784iQ:1vb66i:_uLTdTObzAIJ9ometK1undUAmGlkomu44aPuC6IK8LY";

    fn dict() -> serde_json::Value {
        // Django's dict keeps insertion order; serde_json's preserve_order is
        // not on, so build the text as Django writes it.
        serde_json::from_str(DICT).unwrap()
    }

    #[test]
    fn base62_of_the_vector_time() {
        assert_eq!(b62_encode(1_767_225_600), "1vb66i");
        assert_eq!(b62_decode("1vb66i"), Some(1_767_225_600));
        assert_eq!(b62_encode(0), "0");
        assert_eq!(b62_decode(&b62_encode(-12345)), Some(-12345));
    }

    #[test]
    fn django_session_data_vectors() {
        let loaded = loads(DATA, &[KEY], SALT, None).unwrap();
        assert_eq!(loaded.value, dict());
        assert_eq!(loaded.signed_at, 1_767_225_600);
        // Signed with the fallback only: read with the secret and its fallbacks.
        let fallback_signed = ".eJxVjDsOwyAQBe9CHSF-NpAyvc-AlmUJTiKQjF1FuXuE5CJp38y8Nwtw7CUcnbawJnZlkl1-twj4pDpAekC9N46t7tsa-VD4STtfWqLX7XT_Dgr0Muo5k0kQASJpQFJJ2KRhkp5UJm-1VNF7Lww6J8CamRROWUmUQqPzkX2-G784iQ:1vb66i:ruqwAvQap8vjUenEkdntfGPprv460-TxLJGUOrgIifU";
        assert_eq!(
            loads(fallback_signed, &[KEY], SALT, None),
            Err(Error::BadSignature)
        );
        assert!(loads(fallback_signed, &[KEY, FALLBACK], SALT, None).is_ok());
        // The signed_cookies backend: its own salt.
        let cookie = ".eJxVjDsOwyAQBe9CHSF-NpAyvc-AlmUJTiKQjF1FuXuE5CJp38y8Nwtw7CUcnbawJnZlkl1-twj4pDpAekC9N46t7tsa-VD4STtfWqLX7XT_Dgr0Muo5k0kQASJpQFJJ2KRhkp5UJm-1VNF7Lww6J8CamRROWUmUQqPzkX2-G784iQ:1vb66i:5L_lGqKNexUJlNq3bpCUPJ9WgHbr0wFXEcdMjy47EFM";
        assert!(
            loads(
                cookie,
                &[KEY],
                "django.contrib.sessions.backends.signed_cookies",
                None
            )
            .is_ok()
        );
        assert_eq!(loads(cookie, &[KEY], SALT, None), Err(Error::BadSignature));
        // A tampered payload fails the signature.
        let tampered = DATA.replacen("eJx", "eJy", 1);
        assert_eq!(
            loads(&tampered, &[KEY], SALT, None),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn dumps_writes_the_vector_bytes() {
        // Django's own text of the dict (insertion order), compressed with
        // zlib at level 6: the same bytes.
        let signed = dumps_text_at(DICT, KEY, SALT, true, 1_767_225_600);
        assert_eq!(signed, DATA);
        assert_eq!(
            dumps_at(&serde_json::json!({"a": 1}), KEY, SALT, true, 1_767_225_600),
            "eyJhIjoxfQ:1vb66i:xiItRaX1lFId-BeNQeIa2-C9C79vKrJMlVF0nB97huI"
        );
    }

    #[test]
    fn expired_and_malformed() {
        let old = dumps_at(&serde_json::json!({"a": 1}), KEY, SALT, false, 1000);
        assert_eq!(loads(&old, &[KEY], SALT, Some(60)), Err(Error::Expired));
        assert_eq!(
            loads("no-colons", &[KEY], SALT, None),
            Err(Error::BadSignature)
        );
    }
}
