//! base64url as PyJWT reads it: missing padding is added back from the raw
//! length, `-_` and `+/` are both accepted, other characters are skipped,
//! and padding may only complete the last quad.

const INVALID: u8 = 0xff;

const fn table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'-' as usize] = 62;
    t[b'+' as usize] = 62;
    t[b'_' as usize] = 63;
    t[b'/' as usize] = 63;
    t
}

static TABLE: [u8; 256] = table();

/// Unpadded base64url with any trailing bits: on input made only of the
/// url-safe alphabet this decodes exactly as PyJWT does, and fast.
const FAST: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// Decodes into `out` (cleared first); `false` on an error PyJWT reports as
/// "Invalid ... padding".
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> bool {
    use base64::Engine;
    out.clear();
    if FAST.decode_vec(input, out).is_ok() {
        return true;
    }
    // Padding, `+/`, or characters PyJWT skips: the exact emulation.
    out.clear();
    out.reserve(input.len() * 3 / 4 + 3);
    let pad = (4 - input.len() % 4) % 4;
    let mut quad_pos = 0u8;
    let mut left: u32 = 0;
    let mut pads = 0u8;
    let total = input.len() + pad;
    let mut i = 0;
    while i < total {
        let c = if i < input.len() { input[i] } else { b'=' };
        i += 1;
        if c == b'=' {
            if quad_pos < 2 {
                return false;
            }
            pads += 1;
            if quad_pos + pads >= 4 {
                // The quad is complete: nothing may follow.
                return i == total;
            }
            continue;
        }
        let v = TABLE[c as usize];
        if v == INVALID {
            continue;
        }
        if pads > 0 {
            return false;
        }
        match quad_pos {
            0 => {
                left = u32::from(v);
                quad_pos = 1;
            }
            1 => {
                out.push(((left << 2) | (u32::from(v) >> 4)) as u8);
                left = u32::from(v) & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push(((left << 4) | (u32::from(v) >> 2)) as u8);
                left = u32::from(v) & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push(((left << 6) | u32::from(v)) as u8);
                quad_pos = 0;
            }
        }
    }
    quad_pos == 0
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
    fn pyjwt_cases() {
        assert_eq!(dec("aGVsbG8").unwrap(), b"hello");
        assert_eq!(dec("aGVsbG8=").unwrap(), b"hello"); // one stray '=' completes the quad
        assert!(dec("aGVsbG8==").is_none()); // excess padding
        assert!(dec("a").is_none());
        assert!(dec("x").is_none());
        assert_eq!(dec("").unwrap(), b"");
        assert_eq!(dec("-_-_").unwrap(), dec("+/+/").unwrap());
        assert!(dec("aGVsbG8!").is_none()); // a skipped char breaks the padding arithmetic
        let mut sig = encode(&[7u8; 32]);
        assert_eq!(dec(&sig).unwrap(), vec![7u8; 32]);
        sig.push('=');
        assert_eq!(dec(&sig).unwrap(), vec![7u8; 32]);
        sig.push('=');
        assert!(dec(&sig).is_none());
    }
}
