//! PyJWT's base64url on any segment: what decodes re-encodes to the
//! segment (without its padding).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = restflow_auth::fuzzing::base64url(data) {
        let trimmed: Vec<u8> = data.iter().copied().take_while(|b| *b != b'=').collect();
        let encoded = base64_url(&bytes);
        assert_eq!(
            encoded.as_bytes(),
            &trimmed[..],
            "one spelling, but padding"
        );
    }
});

fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
