//! base64url as PyJWT 2.15.1 reads a token segment
//! (`PyJWS._decode_base64url_segment`): at most two trailing `=`, and only
//! when they complete the last quad; nothing outside the url-safe alphabet
//! (`+` and `/` included); a length that leaves one character over is
//! refused; and the segment must be the canonical encoding of what it
//! decodes to (no stray trailing bits). So a token has one spelling but
//! for padding that completes its last quad, which PyJWT accepts too
//! (revocation is keyed by `jti`, not by the token's text).

/// Unpadded url-safe base64 that refuses non-canonical trailing bits.
const STRICT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// Decodes into `out` (cleared first); `false` on an error PyJWT reports as
/// "Invalid ... padding".
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> bool {
    use base64::Engine;
    out.clear();
    let stripped = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="));
    let data = match stripped {
        // A third `=`, or padding that does not end a quad.
        Some(s) if s.ends_with(b"=") || !input.len().is_multiple_of(4) => return false,
        Some(s) => s,
        None => input,
    };
    STRICT.decode_vec(data, out).is_ok()
}

/// Unpadded base64url, as tokens are written.
pub(crate) fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        decode_into(s.as_bytes(), &mut out).then_some(out)
    }

    #[test]
    fn pyjwt_2_15_cases() {
        assert_eq!(dec("aGVsbG8").unwrap(), b"hello");
        assert_eq!(dec("aGVsbG8=").unwrap(), b"hello"); // padding that ends the quad
        assert!(dec("aGVsbG8==").is_none()); // padding past the quad
        assert_eq!(dec("aGk=").unwrap(), b"hi");
        assert_eq!(dec("aA==").unwrap(), b"h");
        assert!(dec("aA===").is_none());
        assert!(dec("aA=").is_none()); // "aA=" is not a whole quad
        assert!(dec("a").is_none());
        assert!(dec("aGVsbG8xa").is_none()); // one character over
        assert_eq!(dec("").unwrap(), b"");
        assert_eq!(dec("-_-_").unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert!(dec("+/+/").is_none()); // the standard alphabet
        assert!(dec("aGVsbG8!").is_none());
        assert!(dec("aGVsbG9").is_none()); // non-canonical trailing bits
        assert!(dec("aB").is_none()); // "aB" has trailing bits; "aA" does not
        let mut sig = encode(&[7u8; 32]);
        assert_eq!(dec(&sig).unwrap(), vec![7u8; 32]);
        sig.push('=');
        assert_eq!(dec(&sig).unwrap(), vec![7u8; 32]);
        sig.push('=');
        assert!(dec(&sig).is_none());
    }
}
