//! The stored formats: Argon2 PHC strings (what restflow-auth wrote so far)
//! and every hasher of Django 5.2 (`django.contrib.auth.hashers`), verified
//! exactly as Django verifies them and written in a form Django reads.
//!
//! | prefix | Django hasher | verified | written |
//! | --- | --- | --- | --- |
//! | `$argon2id$...` (PHC) | — | yes | `password.hasher = "argon2id"` |
//! | `pbkdf2_sha256$<iterations>$<salt>$<b64>` | `PBKDF2PasswordHasher` | yes | `"pbkdf2_sha256"` |
//! | `pbkdf2_sha1$...` | `PBKDF2SHA1PasswordHasher` | yes | — |
//! | `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` | `Argon2PasswordHasher` | yes | `"argon2"` |
//! | `bcrypt_sha256$$2b$<cost>$...` | `BCryptSHA256PasswordHasher` | yes | — |
//! | `bcrypt$$2b$<cost>$...` | `BCryptPasswordHasher` | yes | — |
//! | `scrypt$<n>$<salt>$<r>$<p>$<b64>` | `ScryptPasswordHasher` | yes | — |
//! | `md5$<salt>$<hex>` | `MD5PasswordHasher` (salted) | yes | — |
//! | `md5$$<hex>`, `sha1$$<hex>`, 32 hex digits | the unsalted hashers | **refused**, as Django 5.1+ | — |
//! | `!<anything>` | an unusable password | never matches | — |

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use subtle::ConstantTimeEq;

/// The working memory a verification may reuse (Argon2's blocks).
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) blocks: Vec<Block>,
}

impl Scratch {
    /// Blocks enough for `count`, reused between calls; `None` when that is
    /// over `cap` (a hash that asks for more memory than allowed).
    fn blocks(&mut self, count: usize, cap: usize) -> Option<&mut [Block]> {
        if count > cap {
            return None;
        }
        if self.blocks.len() < count {
            // At least 33 MiB of address space, so that the allocator maps
            // it on its own (glibc's mmap threshold never exceeds 32 MiB)
            // and gives it back to the system when released; only the
            // blocks written become resident.
            const MAPPED: usize = 33 * 1024;
            let mut blocks = Vec::with_capacity(count.max(MAPPED));
            blocks.resize(count, Block::default());
            self.blocks = blocks;
        }
        Some(&mut self.blocks[..count])
    }

    /// Gives the memory back.
    pub(crate) fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

/// The salt alphabet Django's `get_random_string` uses.
const SALT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A random salt of `len` characters of `[a-zA-Z0-9]` (Django's `salt()`:
/// 22 characters, 128 bits and more).
pub(crate) fn random_salt(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system's random source");
        // 248 = 4 * 62: rejection keeps the choice uniform.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| char::from(SALT_CHARS[usize::from(b % 62)]))
                .take(len - out.len()),
        );
    }
    out
}

/// Django's `pbkdf2_sha256$<iterations>$<salt>$<b64>`.
pub(crate) fn pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(out))
}

/// An Argon2id PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) with
/// `params`, computed in `scratch`.
pub(crate) fn argon2_phc(
    password: &str,
    params: &ArgonParams,
    scratch: &mut Scratch,
    cap: usize,
) -> Result<String, String> {
    let salt = {
        let mut s = [0u8; 16];
        getrandom::fill(&mut s).map_err(|e| e.to_string())?;
        s
    };
    let p = Params::new(params.m, params.t, params.p, Some(32)).map_err(|e| e.to_string())?;
    let count = p.block_count();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let mut out = [0u8; 32];
    let blocks = scratch
        .blocks(count, cap)
        .ok_or("the hasher's memory is over password.max_memory_kib")?;
    a.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m,
        params.t,
        params.p,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Argon2's cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArgonParams {
    pub(crate) m: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
}

/// The argon2 crate's defaults (OWASP's): 19 MiB, 2 passes, 1 lane.
pub(crate) const RESTFLOW_ARGON2: ArgonParams = ArgonParams {
    m: 19 * 1024,
    t: 2,
    p: 1,
};
/// Django 5.2's `Argon2PasswordHasher`: 100 MiB, 2 passes, 8 lanes.
pub(crate) const DJANGO_ARGON2: ArgonParams = ArgonParams {
    m: 102_400,
    t: 2,
    p: 8,
};

/// Verifies an Argon2 PHC string in `scratch`'s memory.
fn verify_phc(password: &str, phc: &str, scratch: &mut Scratch, cap: usize) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let algorithm = match parsed.algorithm.as_str() {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return false,
    };
    let version = match parsed.version {
        None | Some(0x13) => Version::V0x13,
        Some(0x10) => Version::V0x10,
        Some(_) => return false,
    };
    let (Some(salt), Some(hash)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let get = |name: &str| parsed.params.get_decimal(name);
    let (Some(m), Some(t), Some(p)) = (get("m"), get("t"), get("p")) else {
        return false;
    };
    let Ok(params) = Params::new(m, t, p, Some(hash.len())) else {
        return false;
    };
    let count = params.block_count();
    let salt: &[u8] = salt.as_ref();
    let Some(blocks) = scratch.blocks(count, cap) else {
        tracing::warn!(
            m,
            "restflow-auth: an argon2 hash asks for more memory than password.max_memory_kib allows; it never matches"
        );
        return false;
    };
    let mut out = vec![0u8; hash.len()];
    let a = Argon2::new(algorithm, version, params);
    if a.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        .is_err()
    {
        return false;
    }
    bool::from(out.as_slice().ct_eq(hash.as_bytes()))
}

/// Django's `must_update_salt`: a salt of fewer than 128 bits (in Django's
/// alphabet of 62 characters, fewer than 22).
fn weak_salt(salt: &str) -> bool {
    (salt.chars().count() as f64) * 62f64.log2() < 128.0
}

/// Django's `must_update`: whether a matching hash should be written again
/// with the configured hasher (another hasher, other parameters, a weak salt).
pub(crate) fn must_update(stored: &str, hasher: super::Hasher, iterations: u32) -> bool {
    match hasher {
        super::Hasher::Pbkdf2Sha256 => match stored.strip_prefix("pbkdf2_sha256$") {
            Some(rest) => {
                let mut p = rest.splitn(3, '$');
                let (iter, salt) = (p.next().unwrap_or(""), p.next().unwrap_or(""));
                iter.parse::<u32>().ok() != Some(iterations) || weak_salt(salt)
            }
            None => true,
        },
        super::Hasher::Argon2id => !stored.starts_with(&format!(
            "$argon2id$v=19$m={},t={},p={}$",
            RESTFLOW_ARGON2.m, RESTFLOW_ARGON2.t, RESTFLOW_ARGON2.p
        )),
        super::Hasher::DjangoArgon2 => !stored.starts_with(&format!(
            "argon2$argon2id$v=19$m={},t={},p={}$",
            DJANGO_ARGON2.m, DJANGO_ARGON2.t, DJANGO_ARGON2.p
        )),
    }
}

/// Whether `stored` is in a format [`verify`] can match (a usable password
/// of a hasher we verify); anything else costs a dummy verification.
pub(crate) fn known(stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        return true;
    }
    match stored.split_once('$') {
        Some(("md5", rest)) => !rest.starts_with('$'),
        Some((alg, _)) => matches!(
            alg,
            "pbkdf2_sha256" | "pbkdf2_sha1" | "argon2" | "bcrypt_sha256" | "bcrypt" | "scrypt"
        ),
        None => false,
    }
}

/// Whether `password` matches `stored`, in any format the table above lists.
/// Unknown, malformed and unusable values never match. Comparisons are
/// constant-time.
pub(crate) fn verify(password: &str, stored: &str, scratch: &mut Scratch, cap: usize) -> bool {
    if stored.starts_with('$') {
        return verify_phc(password, stored, scratch, cap);
    }
    let Some((algorithm, rest)) = stored.split_once('$') else {
        return false;
    };
    match algorithm {
        "pbkdf2_sha256" => pbkdf2_check::<sha2::Sha256>(password, rest, 32),
        "pbkdf2_sha1" => pbkdf2_check::<sha1::Sha1>(password, rest, 20),
        // Django writes "argon2" + the PHC string, whose own "$" starts it.
        "argon2" => verify_phc(password, &stored["argon2".len()..], scratch, cap),
        "bcrypt_sha256" => {
            use sha2::Digest;
            let hex = crate::hex(&sha2::Sha256::digest(password.as_bytes()));
            bcrypt_check(&hex, rest)
        }
        "bcrypt" => bcrypt_check(password, rest),
        "scrypt" => scrypt_check(password, rest),
        "md5" => {
            let Some((salt, hex)) = rest.split_once('$') else {
                return false;
            };
            if salt.is_empty() {
                return false; // unsalted: refused since Django 5.1
            }
            use md5::Digest;
            let mut h = md5::Md5::new();
            h.update(salt.as_bytes());
            h.update(password.as_bytes());
            bool::from(crate::hex(&h.finalize()).as_bytes().ct_eq(hex.as_bytes()))
        }
        _ => false,
    }
}

/// `<iterations>$<salt>$<b64>` for PBKDF2-HMAC with digest `D`.
fn pbkdf2_check<D: hmac::EagerHash>(password: &str, rest: &str, len: usize) -> bool {
    let mut parts = rest.splitn(3, '$');
    let (Some(iter), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(iterations) = iter.parse::<u32>() else {
        return false;
    };
    let Ok(expected) = STANDARD.decode(hash) else {
        return false;
    };
    if iterations == 0 || expected.len() != len {
        return false;
    }
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<D>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    bool::from(out.ct_eq(&expected))
}

fn bcrypt_check(password: &str, hash: &str) -> bool {
    hash.starts_with("$2") && bcrypt::verify(password.as_bytes(), hash).unwrap_or(false)
}

/// `scrypt$<n>$<salt>$<r>$<p>$<b64(64 bytes)>`.
fn scrypt_check(password: &str, rest: &str) -> bool {
    let parts: Vec<&str> = rest.splitn(5, '$').collect();
    let [n, salt, r, p, hash] = parts[..] else {
        return false;
    };
    let (Ok(n), Ok(r), Ok(p)) = (n.parse::<u64>(), r.parse::<u32>(), p.parse::<u32>()) else {
        return false;
    };
    if !n.is_power_of_two() || n < 2 {
        return false;
    }
    let Ok(expected) = STANDARD.decode(hash) else {
        return false;
    };
    let Ok(params) = scrypt::Params::new(n.trailing_zeros() as u8, r, p) else {
        return false;
    };
    let mut out = vec![0u8; expected.len().max(1)];
    if scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).is_err() {
        return false;
    }
    bool::from(out.ct_eq(&expected))
}
