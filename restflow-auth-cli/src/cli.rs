//! The command line: every subcommand and flag, with its help text.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// The management command of restflow-auth (Django's `manage.py` for the
/// auth tables): migrate, users, API tokens, JWT keys, a setup check.
///
/// Settings are read as the library reads them: `restflow.toml` (or the
/// file named by `$RESTFLOW_CONFIG` or `--settings`), then `RESTFLOW_*`
/// variables (`RESTFLOW_DATABASE__URL`, `RESTFLOW_JWT__SIGNING_KEY`, ...).
#[derive(Debug, Parser)]
#[command(name = "restflow-auth", version, propagate_version = true)]
pub(crate) struct Args {
    /// The settings file (default: `$RESTFLOW_CONFIG`, else `./restflow.toml` if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) settings: Option<PathBuf>,
    /// The database URL (`sqlite://file.db`, `postgres://user@host/db`), over `database.url`.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the crate's tables (restflow_user, restflow_token, restflow_session, restflow_blacklisted_token).
    Migrate,
    /// Create a user; the password is asked twice, or read from $RESTFLOW_CLI_PASSWORD with --noinput.
    Createuser {
        /// The new user's username.
        username: String,
        /// The user may use the admin (`is_staff`).
        #[arg(long)]
        staff: bool,
        /// The user has every permission (`is_superuser`; implies --staff).
        #[arg(long)]
        superuser: bool,
        /// Create the user inactive (`is_active = false`).
        #[arg(long)]
        inactive: bool,
        #[command(flatten)]
        input: Input,
    },
    /// Create an active staff superuser, as Django's `createsuperuser`.
    Createsuperuser {
        /// The username (asked when not given, unless --noinput).
        #[arg(long)]
        username: Option<String>,
        #[command(flatten)]
        input: Input,
    },
    /// Set a user's password (asked twice, or $RESTFLOW_CLI_PASSWORD with --noinput).
    Changepassword {
        /// The user.
        username: String,
        #[command(flatten)]
        input: Input,
    },
    /// Deactivate a user (`is_active = false`): every request that reads the user
    /// is refused (JWTs too unless `jwt.check_user_is_active = false`).
    Deactivate {
        /// The user.
        username: String,
    },
    /// Print the user's API token, creating it if needed (DRF's `drf_create_token`).
    Createtoken {
        /// The user.
        username: String,
        /// Delete the user's token and create a new one.
        #[arg(long)]
        reset: bool,
    },
    /// Delete ended sessions and expired blacklist rows; print how many went.
    Flushexpired,
    /// Print a new JWT key: an HMAC secret, or a PKCS#8 PEM private key.
    Genkey {
        /// The kind of key (hmac: for HS256/384/512; rsa: RS*/PS*; ec: ES256; ed25519: EdDSA).
        kind: KeyKind,
        /// The size of an RSA key, in bits.
        #[arg(long, value_parser = parse_bits, value_name = "2048|3072|4096")]
        bits: Option<usize>,
        /// Also write the public key (PEM, for `jwt.verifying_key`) to this new file.
        #[arg(long, value_name = "PATH")]
        public_out: Option<PathBuf>,
    },
    /// Print the public JWK set (RFC 7517) of the configured asymmetric JWT key.
    Jwks,
    /// Check the settings, the database and its tables; exit non-zero when something is wrong.
    Check,
}

/// How a password is given.
#[derive(Debug, ClapArgs)]
pub(crate) struct Input {
    /// Ask nothing: the password comes from $RESTFLOW_CLI_PASSWORD (for scripts).
    #[arg(long)]
    pub(crate) noinput: bool,
}

/// The kinds of key `genkey` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyKind {
    /// 64 random bytes, as URL-safe base64 (`jwt.signing_key` for HS256, HS384, HS512).
    Hmac,
    /// An RSA private key (RS256, RS384, RS512, PS256, PS384, PS512).
    Rsa,
    /// An EC P-256 private key (ES256).
    Ec,
    /// An Ed25519 private key (EdDSA).
    Ed25519,
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "2048" => Ok(2048),
        "3072" => Ok(3072),
        "4096" => Ok(4096),
        _ => Err("use 2048, 3072 or 4096".into()),
    }
}
