//! Settings, read as `restflow_auth::Settings::load` reads them, with the
//! `--settings` and `--database` flags on top.

use std::path::Path;

use restflow_auth::Settings;
use restflow_auth::settings::Secret;

use crate::{Failure, Result};

/// The variable that gives `--noinput` its password (the library reads no
/// `RESTFLOW_CLI_*` variable as a setting).
pub(crate) const PASSWORD_VAR: &str = "RESTFLOW_CLI_PASSWORD";

/// `--settings PATH` (which must exist), else what
/// [`Settings::load`] reads (`$RESTFLOW_CONFIG` or `./restflow.toml`, then
/// `RESTFLOW_*` variables); then `--database`. Validated.
pub(crate) fn load(path: Option<&Path>, database: Option<&str>) -> Result<Settings> {
    let loaded = match path {
        Some(p) => Settings::load_from(p),
        None => Settings::load(),
    };
    let mut settings = loaded.map_err(|e| Failure::new(e.to_string()))?;
    if let Some(url) = database {
        let has_password = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .is_some_and(|(credentials, _)| credentials.contains(':'));
        if has_password {
            eprintln!(
                "warning: --database puts the database password on the command line (ps, shell history); prefer RESTFLOW_DATABASE__URL or the settings file"
            );
        }
        settings.database.url = Some(Secret::new(url));
        settings
            .database
            .validate()
            .map_err(|e| Failure::new(e.to_string().replace("`database.url`", "`--database`")))?;
    }
    Ok(settings)
}
