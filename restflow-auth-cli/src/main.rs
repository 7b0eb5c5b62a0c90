//! `restflow-auth`: the management command of restflow-auth, as Django's
//! `manage.py` is for `django.contrib.auth` and DRF's `authtoken`.
//!
//! ```text
//! restflow-auth migrate
//! restflow-auth createsuperuser --username admin
//! RESTFLOW_CLI_PASSWORD=... restflow-auth createuser alice --noinput
//! restflow-auth changepassword alice
//! restflow-auth deactivate alice
//! restflow-auth createtoken alice [--reset]
//! restflow-auth flushexpired
//! restflow-auth genkey hmac|rsa|ec|ed25519 [--bits 2048|3072|4096] [--public-out PATH]
//! restflow-auth jwks
//! restflow-auth check
//! ```
//!
//! Settings are the library's (`restflow.toml`, `$RESTFLOW_CONFIG` or
//! `--settings`, then `RESTFLOW_*` variables); `[database] url` (or
//! `RESTFLOW_DATABASE__URL`, or `--database`) names the database and
//! `[database] tables` (`restflow` or `django`) which tables hold the
//! users and API tokens. Every error is one line on stderr and a non-zero
//! exit code; nothing secret is printed but what a command exists to print
//! (`genkey`'s key, `createtoken`'s key).

mod cli;
mod config;
mod keys;
mod prompt;
mod store;

use std::fmt;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Args, Command};

/// Why a command failed: the message for stderr.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("restflow-auth: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    // Key generation needs no settings at all.
    if let Command::Genkey {
        kind,
        bits,
        public_out,
    } = &args.command
    {
        keys::genkey(*kind, *bits, public_out.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let settings = config::load(args.settings.as_deref(), args.database.as_deref())?;
    if let Command::Jwks = args.command {
        keys::jwks(&settings.jwt)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(store::run(&settings, args.command))
}
