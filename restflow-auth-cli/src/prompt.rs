//! Passwords and usernames: asked on the terminal (passwords without
//! echo), or taken from the environment with `--noinput`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use crate::config::PASSWORD_VAR;
use crate::{Failure, Result};

/// The new password: from `$RESTFLOW_CLI_PASSWORD` with `--noinput`, else
/// asked twice on the terminal without echo.
pub(crate) fn new_password(noinput: bool, username: &str) -> Result<String> {
    let password = if noinput {
        match std::env::var(PASSWORD_VAR) {
            Ok(p) => p,
            Err(std::env::VarError::NotPresent) => {
                return Err(Failure::new(format!(
                    "--noinput needs the password in ${PASSWORD_VAR}"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::new(format!("${PASSWORD_VAR} is not valid UTF-8")));
            }
        }
    } else {
        not_a_terminal()?;
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt).map_err(|e| {
                Failure::new(format!(
                    "cannot read a password from the terminal ({e}); for scripts, use --noinput with the password in ${PASSWORD_VAR}"
                ))
            })
        };
        let first = ask(&format!("Password for {username}: "))?;
        let second = ask("Password (again): ")?;
        if first != second {
            return Err(Failure::new("the two passwords didn't match"));
        }
        first
    };
    if password.is_empty() {
        return Err(Failure::new("blank passwords aren't allowed"));
    }
    Ok(password)
}

/// A username asked on the terminal (echoed), as `createsuperuser` does.
pub(crate) fn username() -> Result<String> {
    not_a_terminal()?;
    eprint!("Username: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read a username: {e}")))?;
    if read == 0 {
        return Err(Failure::new(
            "no username given: pass --username (required with --noinput)",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Prompts only on a terminal, as Django's `createsuperuser`: a script
/// with no terminal is told what to do rather than left waiting.
fn not_a_terminal() -> Result<()> {
    if std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "stdin is not a terminal, so nothing can be asked: use --noinput with the password in ${PASSWORD_VAR} (and --username for createsuperuser)"
        )))
    }
}

/// Django's username rules: 1 to 150 characters, letters, digits and
/// `@.+-_`.
pub(crate) fn check_username(username: &str) -> Result<()> {
    if username.is_empty() {
        return Err(Failure::new("the username must not be empty"));
    }
    if username.chars().count() > 150 {
        return Err(Failure::new(
            "the username must be at most 150 characters (Django's limit)",
        ));
    }
    if let Some(c) = username
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_')))
    {
        return Err(Failure::new(format!(
            "the username contains {c:?}: use letters, digits and @ . + - _ (Django's rule)"
        )));
    }
    Ok(())
}
