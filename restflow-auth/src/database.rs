//! `[database]`: where the SQL stores are, for the tools that open them
//! (the `restflow-auth` management command) and for applications that
//! want one place to configure it.
//!
//! The library itself opens no database from settings: an application
//! passes a [`Database`](crate::sql::Database) to the stores it builds.
//! This section only says which database, and which tables hold the
//! users and API tokens.
//!
//! ```
//! use restflow_auth::Settings;
//! use restflow_auth::database::Tables;
//!
//! let s = Settings::from_sources(
//!     Some("[database]\nurl = \"postgres://app:pw@db/app\"\ntables = \"django\"\n"),
//!     [],
//! )
//! .unwrap();
//! assert_eq!(s.database.tables, Tables::Django);
//! assert_eq!(s.database.url.as_ref().map(|u| u.expose()), Some("postgres://app:pw@db/app"));
//! // The URL may hold a password: it never shows in Debug output.
//! assert!(!format!("{s:?}").contains("pw@db"));
//!
//! // RESTFLOW_DATABASE__URL works as every other variable does.
//! let s = Settings::from_sources(
//!     None,
//!     [("RESTFLOW_DATABASE__URL".to_owned(), "sqlite://app.db".to_owned())],
//! )
//! .unwrap();
//! assert_eq!(s.database.tables, Tables::Restflow);
//!
//! // Anything but SQLite or PostgreSQL is refused when the settings load.
//! let e = Settings::from_sources(Some("[database]\nurl = \"mysql://db/app\"\n"), []).unwrap_err();
//! assert!(e.to_string().contains("database.url"), "{e}");
//! ```

use serde::{Deserialize, Serialize};

use crate::settings::{Error, Result, Secret};

/// `[database]`: the database URL and which tables to use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db`, `sqlite::memory:` or
    /// `postgres://user:password@host/db`; a [`Secret`] because a URL can
    /// hold a password. Unset by default.
    pub url: Option<Secret>,
    /// Which tables hold the users and the API tokens (default `restflow`).
    pub tables: Tables,
}

/// Which tables hold the users and the API tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tables {
    /// The crate's own tables (`restflow_user`, `restflow_token`, ...),
    /// created by [`Database::migrate`](crate::sql::Database): API keys
    /// are kept as SHA-256 digests.
    #[default]
    Restflow,
    /// Django's `auth_user` and DRF's `authtoken_token` (keys in clear,
    /// as DRF keeps them), which Django's own migrations create.
    Django,
}

impl Tables {
    /// The name used in settings: `restflow` or `django`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tables::Restflow => "restflow",
            Tables::Django => "django",
        }
    }
}

/// The kinds of database the SQL stores support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (`sqlite:` URLs).
    Sqlite,
    /// PostgreSQL (`postgres:` or `postgresql:` URLs).
    Postgres,
}

impl Backend {
    /// The kind of database `url` names, from its scheme; `None` for any
    /// other scheme.
    ///
    /// ```
    /// use restflow_auth::database::Backend;
    /// assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
    /// assert_eq!(Backend::of_url("postgresql://db/app"), Some(Backend::Postgres));
    /// assert_eq!(Backend::of_url("mysql://db/app"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Backend> {
        let (scheme, _) = url.split_once(':')?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }
}

impl DatabaseSettings {
    /// Checks the section: a URL, when given, must name SQLite or
    /// PostgreSQL.
    pub fn validate(&self) -> Result<()> {
        let Some(url) = &self.url else { return Ok(()) };
        let url = url.expose();
        if url.trim().is_empty() {
            return Err(Error::Invalid {
                key: "database.url",
                message: "is empty: give `sqlite://path/to/file.db` or `postgres://user@host/db`, or leave it unset".into(),
            });
        }
        if Backend::of_url(url).is_none() {
            // The scheme only: the rest may hold a password.
            let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
            return Err(Error::Invalid {
                key: "database.url",
                message: format!(
                    "the scheme `{scheme}` is not supported: use a `sqlite:` or `postgres:` URL"
                ),
            });
        }
        Ok(())
    }
}
