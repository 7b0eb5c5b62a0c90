//! Django's password hashers (DJANGO-INTEROP.md §3): every vector verifies,
//! a wrong password never does, unusable and unsalted hashes never match,
//! and each configured hasher writes what it says.

use restflow_auth::password::{Hasher, PasswordSettings, Passwords};

const PASSWORD: &str = "correct horse battery staple";

const VECTORS: &[(&str, &str)] = &[
    (
        "pbkdf2_sha256 1,000,000",
        "pbkdf2_sha256$1000000$WorkedExampleSalt0123456$UkZZSRyQ9r4M3Bfx0Ohl7LDjAfyUpnAroUBRYVublxk=",
    ),
    (
        "pbkdf2_sha256 260,000",
        "pbkdf2_sha256$260000$WorkedExampleSalt0123456$meGM0ud1I/hBTRoWtMrEKMxlocH/OJYRlIMKibz5bB8=",
    ),
    (
        "pbkdf2_sha1",
        "pbkdf2_sha1$1000000$WorkedExampleSalt0123456$qtTYXbEDfjRtWxOd2OMKCfYlaS8=",
    ),
    (
        "argon2",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$V29ya2VkRXhhbXBsZVNhbHQwMTIzNDU2$2Wz6SXSQfB7Y6yt5Cqvp7LowT4P3JtX1wZBrIlWxpmk",
    ),
    (
        "bcrypt_sha256",
        "bcrypt_sha256$$2b$12$WorkedExampleSaltBcry.PBaXk2.3PNGT5IjKVynUGXP9RmKffp6",
    ),
    (
        "bcrypt",
        "bcrypt$$2b$12$WorkedExampleSaltBcry.P/xMFTVGXZ0I1frczymn60oD2L4mN9W",
    ),
    (
        "scrypt",
        "scrypt$16384$WorkedExampleSalt0123456$8$5$IkS9SvuJB5dr2py3JK+YaJ2ihWzSWjXZ4I6sRSTSh3GqXGOwzpXZi4+zWOjH3ZBOPptmWqqiZFaKKfzRjyh+9Q==",
    ),
    (
        "md5 (salted)",
        "md5$WorkedExampleSalt0123456$efeadab393cd336698d741c01f9b8014",
    ),
];

fn passwords() -> Passwords {
    Passwords::new(&PasswordSettings::default())
}

#[test]
fn every_django_vector_verifies_and_a_wrong_password_does_not() {
    let p = passwords();
    for (name, hash) in VECTORS {
        assert!(p.verify_blocking(PASSWORD, Some(hash)).unwrap(), "{name}");
        assert!(
            !p.verify_blocking("correct horse battery stapler", Some(hash))
                .unwrap(),
            "{name}"
        );
    }
}

#[test]
fn unsalted_and_unusable_hashes_never_match() {
    use md5::Digest;
    let p = passwords();
    let md5_hex = hex::encode(md5::Md5::digest(PASSWORD.as_bytes()));
    // Unsalted SHA-1 as Django's UnsaltedSHA1PasswordHasher stored it.
    let sha1_hex = hex::encode(sha1::Sha1::digest(PASSWORD.as_bytes()));
    for stored in [
        md5_hex.clone(),
        format!("md5$${md5_hex}"),
        format!("sha1$${sha1_hex}"),
        "!".to_owned(),
        "!aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789ABCD".to_owned(),
        String::new(),
    ] {
        assert!(
            !p.verify_blocking(PASSWORD, Some(&stored)).unwrap(),
            "{stored}"
        );
    }
}

#[test]
fn each_hasher_writes_its_format_and_reads_it_back() {
    for (hasher, prefix) in [
        (Hasher::Argon2id, "$argon2id$v=19$m=19456,t=2,p=1$"),
        (Hasher::Pbkdf2Sha256, "pbkdf2_sha256$1000$"),
        (
            Hasher::DjangoArgon2,
            "argon2$argon2id$v=19$m=102400,t=2,p=8$",
        ),
    ] {
        let p = Passwords::new(&PasswordSettings {
            hasher,
            iterations: 1000,
            ..PasswordSettings::default()
        });
        let hash = p.hash_blocking(PASSWORD).unwrap();
        assert!(hash.starts_with(prefix), "{hasher:?}: {hash}");
        assert!(
            p.verify_blocking(PASSWORD, Some(&hash)).unwrap(),
            "{hasher:?}"
        );
        assert!(
            !p.verify_blocking("nope", Some(&hash)).unwrap(),
            "{hasher:?}"
        );
        // Two hashes of one password differ (a fresh salt each time).
        assert_ne!(hash, p.hash_blocking(PASSWORD).unwrap());
    }
}
