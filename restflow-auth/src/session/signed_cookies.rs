//! Django's `signed_cookies` session backend: the whole session in the
//! cookie, signed.

use std::fmt;

use crate::django::DjangoSettings;
use crate::session::{SessionData, SessionStore};
use crate::user::StoreResult;

/// The salt Django's `signed_cookies` backend signs with.
const SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// A [`SessionStore`] as Django's `signed_cookies` backend: the cookie's
/// value is the session, `signing.dumps` of Django's three keys under
/// `django.secret_key`, read under it and its fallbacks and for at most
/// `session.cookie_age_s`. There is nothing to delete: a logout deletes the
/// cookie, and a password change ends every session through the session
/// auth hash (a copied cookie lives until it expires, as in Django).
#[derive(Clone)]
pub struct SignedCookieSessions {
    settings: DjangoSettings,
    max_age: u64,
}

impl fmt::Debug for SignedCookieSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCookieSessions")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl SignedCookieSessions {
    /// Sessions signed with `settings` (which must hold `secret_key`) and
    /// read for at most `cookie_age_s` seconds (`session.cookie_age_s`).
    pub fn new(
        settings: &DjangoSettings,
        cookie_age_s: u64,
    ) -> Result<Self, crate::django::MissingSecret> {
        settings
            .secret_key
            .as_ref()
            .ok_or(crate::django::MissingSecret)?;
        Ok(SignedCookieSessions {
            settings: settings.clone(),
            max_age: cookie_age_s,
        })
    }

    fn read(&self, key: &str) -> Option<SessionData> {
        let (data, signed_at) =
            crate::django::decode_session(&self.settings, key, SALT, Some(self.max_age))?;
        Some(SessionData {
            expires_at: signed_at.saturating_add(self.max_age as i64),
            issued_at: Some(signed_at),
            ..data
        })
    }

    fn write(&self, data: &SessionData) -> String {
        crate::django::encode_session(&self.settings, data, SALT)
    }
}

impl SessionStore for SignedCookieSessions {
    async fn create(&self, data: &SessionData) -> StoreResult<String> {
        Ok(self.write(data))
    }
    fn create_blocking(&self, data: &SessionData) -> StoreResult<String> {
        Ok(self.write(data))
    }
    async fn load(&self, key: &str) -> StoreResult<Option<SessionData>> {
        Ok(self.read(key))
    }
    async fn save(&self, _: &str, _: &SessionData) -> StoreResult<()> {
        Ok(())
    }
    async fn delete(&self, _: &str) -> StoreResult<()> {
        Ok(())
    }
    fn load_blocking(&self, key: &str) -> StoreResult<Option<SessionData>> {
        Ok(self.read(key))
    }
    fn save_blocking(&self, _: &str, _: &SessionData) -> StoreResult<()> {
        Ok(())
    }
    fn delete_blocking(&self, _: &str) -> StoreResult<()> {
        Ok(())
    }
    fn django(&self) -> Option<&DjangoSettings> {
        Some(&self.settings)
    }
}
