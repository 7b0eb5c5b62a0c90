//! The message catalog: the `detail` text of every [`Rejection`] per
//! language, chosen by `Accept-Language`, with application overrides.
//!
//! English is DRF's text exactly. French and German ship as well. Any message
//! of any language can be replaced, and new languages added, with
//! [`Catalog::with_message`].
//!
//! ```
//! use restflow_auth::error::{AuthError, Rejection};
//! use restflow_auth::messages::Catalog;
//!
//! let catalog = Catalog::default()
//!     .with_message("en", "not_authenticated", "Please log in.")
//!     .unwrap();
//! let lang = catalog.negotiate(Some("de-CH, fr;q=0.8"));
//! assert_eq!(lang, "de");
//! let e = AuthError::new(Rejection::NotAuthenticated);
//! assert_eq!(catalog.render(&e, lang), "Anmeldedaten fehlen.");
//! assert_eq!(catalog.render(&e, "en"), "Please log in.");
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::{AuthError, Rejection, fill};

/// The languages shipped with the crate.
pub const BUILTIN_LANGUAGES: &[&str] = &["en", "fr", "de"];

const FRENCH: &[(&str, &str)] = &[
    (
        "not_authenticated",
        "Informations d'authentification non fournies.",
    ),
    (
        "authentication_failed",
        "Informations d'authentification incorrectes.",
    ),
    (
        "permission_denied",
        "Vous n'avez pas la permission d'effectuer cette action.",
    ),
    (
        "user_inactive_or_deleted",
        "Utilisateur inactif ou supprimé.",
    ),
    ("user_not_found", "Utilisateur introuvable."),
    ("user_inactive", "L'utilisateur est inactif."),
    (
        "invalid_username_password",
        "Nom d'utilisateur et/ou mot de passe non valide(s).",
    ),
    (
        "basic_no_credentials",
        "En-tête « basic » non valide. Informations d'identification non fournies.",
    ),
    (
        "basic_spaces",
        "En-tête « basic » non valide. Les informations d'identification ne doivent pas contenir d'espaces.",
    ),
    (
        "basic_bad_base64",
        "En-tête « basic » non valide. Encodage base64 des informations d'identification incorrect.",
    ),
    (
        "token_no_credentials",
        "En-tête « token » non valide. Informations d'identification non fournies.",
    ),
    (
        "token_spaces",
        "En-tête « token » non valide. Un token ne doit pas contenir d'espaces.",
    ),
    (
        "token_invalid_characters",
        "En-tête « token » non valide. Un token ne doit pas contenir de caractères invalides.",
    ),
    ("invalid_token", "Token non valide."),
    (
        "token_cookie_repeated",
        "Le cookie du token a été envoyé plus d'une fois.",
    ),
    (
        "bearer_header_shape",
        "L'en-tête Authorization doit être de la forme « Bearer <token> ».",
    ),
    (
        "jwt_invalid_characters",
        "Le token contient des caractères non valides.",
    ),
    ("token_expired", "Le token a expiré."),
    ("token_blacklisted", "Le token a été mis sur liste noire."),
    (
        "wrong_token_type",
        "Type de token incorrect, « {expected} » attendu.",
    ),
    (
        "no_user_id",
        "Le token ne contient aucune identification d'utilisateur reconnaissable.",
    ),
    (
        "password_changed",
        "Le mot de passe de l'utilisateur a été modifié.",
    ),
    (
        "no_active_account",
        "Aucun compte actif n'a été trouvé avec les identifiants fournis.",
    ),
    ("csrf_failed", "Échec de la vérification CSRF : {reason}"),
    ("method_not_allowed", "Méthode « {method} » non autorisée."),
    ("throttled", "Requête ralentie."),
    (
        "login_locked",
        "Trop de tentatives de connexion échouées. Réessayez dans {wait} secondes.",
    ),
    (
        "throttled_one_second",
        "Requête ralentie. Disponible de nouveau dans 1 seconde.",
    ),
    (
        "throttled_seconds",
        "Requête ralentie. Disponible de nouveau dans {wait} secondes.",
    ),
    (
        "not_acceptable",
        "Impossible de satisfaire l'en-tête Accept de la requête.",
    ),
    ("json_parse_error", "Erreur d'analyse JSON - {error}"),
    (
        "too_many_fields",
        "Le nombre de champs dépasse la limite de {limit}.",
    ),
    (
        "unsupported_media_type",
        "Type de média « {media_type} » non supporté.",
    ),
    (
        "payload_too_large",
        "Le corps de la requête dépasse {limit} octets.",
    ),
    (
        "password_busy",
        "Trop de vérifications de mot de passe en cours ; réessayez dans un instant.",
    ),
    (
        "store_unavailable",
        "Service d'authentification momentanément indisponible.",
    ),
    ("internal_error", "Une erreur du serveur est survenue."),
];

const GERMAN: &[(&str, &str)] = &[
    ("not_authenticated", "Anmeldedaten fehlen."),
    ("authentication_failed", "Ungültige Anmeldedaten."),
    (
        "permission_denied",
        "Sie sind nicht berechtigt diese Aktion durchzuführen.",
    ),
    (
        "user_inactive_or_deleted",
        "Benutzer inaktiv oder gelöscht.",
    ),
    ("user_not_found", "Benutzer nicht gefunden."),
    ("user_inactive", "Benutzer ist inaktiv."),
    (
        "invalid_username_password",
        "Ungültiger Benutzername/Passwort",
    ),
    (
        "basic_no_credentials",
        "Ungültiger basic-Header. Keine Zugangsdaten angegeben.",
    ),
    (
        "basic_spaces",
        "Ungültiger basic-Header. Zugangsdaten sollen keine Leerzeichen enthalten.",
    ),
    (
        "basic_bad_base64",
        "Ungültiger basic-Header. Zugangsdaten sind nicht korrekt mit base64 kodiert.",
    ),
    (
        "token_no_credentials",
        "Ungültiger token-Header. Keine Zugangsdaten angegeben.",
    ),
    (
        "token_spaces",
        "Ungültiger token-Header. Zugangsdaten sollen keine Leerzeichen enthalten.",
    ),
    (
        "token_invalid_characters",
        "Ungültiger token-Header. Zugangsdaten dürfen keine ungültigen Zeichen enthalten.",
    ),
    ("invalid_token", "Ungültiges Token"),
    (
        "token_cookie_repeated",
        "Das Token-Cookie wurde mehrfach gesendet.",
    ),
    (
        "bearer_header_shape",
        "Der Authorization-Header muss 'Bearer <token>' lauten.",
    ),
    (
        "jwt_invalid_characters",
        "Das Token enthält ungültige Zeichen.",
    ),
    ("token_expired", "Das Token ist abgelaufen."),
    ("token_blacklisted", "Das Token wurde gesperrt."),
    (
        "wrong_token_type",
        "Falscher Token-Typ, '{expected}' erwartet.",
    ),
    (
        "no_user_id",
        "Das Token enthält keine erkennbare Benutzerkennung.",
    ),
    (
        "password_changed",
        "Das Passwort des Benutzers wurde geändert.",
    ),
    (
        "no_active_account",
        "Kein aktives Konto mit diesen Zugangsdaten gefunden.",
    ),
    ("csrf_failed", "CSRF-Prüfung fehlgeschlagen: {reason}"),
    ("method_not_allowed", "Methode \"{method}\" nicht erlaubt."),
    ("throttled", "Die Anfrage wurde gedrosselt."),
    (
        "login_locked",
        "Zu viele fehlgeschlagene Anmeldeversuche. Bitte in {wait} Sekunden erneut versuchen.",
    ),
    (
        "throttled_one_second",
        "Die Anfrage wurde gedrosselt. Erneuter Versuch möglich in 1 Sekunde.",
    ),
    (
        "throttled_seconds",
        "Die Anfrage wurde gedrosselt. Erneuter Versuch möglich in {wait} Sekunden.",
    ),
    (
        "not_acceptable",
        "Kann die Accept-Kopfzeile der Anfrage nicht erfüllen.",
    ),
    ("json_parse_error", "JSON-Verarbeitungsfehler - {error}"),
    (
        "too_many_fields",
        "Die Anzahl der Felder überschreitet die Grenze von {limit}.",
    ),
    (
        "unsupported_media_type",
        "Nicht unterstützter Medientyp \"{media_type}\" in der Anfrage.",
    ),
    (
        "payload_too_large",
        "Der Anfragekörper ist größer als {limit} Bytes.",
    ),
    (
        "password_busy",
        "Zu viele Passwortprüfungen gleichzeitig; bitte gleich noch einmal versuchen.",
    ),
    (
        "store_unavailable",
        "Authentifizierungsdienst vorübergehend nicht verfügbar.",
    ),
    ("internal_error", "Ein Serverfehler ist aufgetreten."),
];

/// Why a catalog entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The code names no rejection.
    #[error(
        "unknown message code `{0}`; valid codes are listed in `Rejection::ALL` (e.g. `not_authenticated`)"
    )]
    UnknownCode(String),
    /// The language tag is empty or not `[a-z]{{2,8}}`.
    #[error("invalid language tag `{0}`: use a primary subtag such as `en`, `fr` or `pt`")]
    BadLanguage(String),
}

/// A module-local result.
pub type Result<T> = std::result::Result<T, Error>;

/// The languages the default catalog has texts for (English being DRF's).
pub(crate) const BUILT_IN_LANGUAGES: [&str; 3] = ["en", "fr", "de"];

/// Texts per language and code, with DRF's English as the fallback.
#[derive(Clone, Debug)]
pub struct Catalog {
    default_language: String,
    /// language -> code -> text: looked up by `&str`, no key built per
    /// rendering.
    texts: HashMap<String, HashMap<&'static str, Cow<'static, str>>>,
}

impl Default for Catalog {
    fn default() -> Self {
        let mut texts: HashMap<String, HashMap<_, _>> = HashMap::new();
        for (lang, table) in [("fr", FRENCH), ("de", GERMAN)] {
            debug_assert!(BUILT_IN_LANGUAGES.contains(&lang));
            let entry = texts.entry(lang.to_owned()).or_default();
            for (code, text) in table {
                let r = Rejection::from_code(code).expect("catalog codes are table codes");
                entry.insert(r.code(), Cow::Borrowed(*text));
            }
        }
        Catalog {
            default_language: "en".into(),
            texts,
        }
    }
}

fn valid_language(tag: &str) -> bool {
    (2..=8).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase())
}

impl Catalog {
    /// Replaces (or adds) the text of `code` in `language`. The text may use
    /// the placeholders of the English template (`{reason}`, ...).
    pub fn with_message(
        mut self,
        language: &str,
        code: &str,
        text: impl Into<Cow<'static, str>>,
    ) -> Result<Self> {
        let language = language.to_ascii_lowercase();
        if !valid_language(&language) {
            return Err(Error::BadLanguage(language));
        }
        let r = Rejection::from_code(code).ok_or_else(|| Error::UnknownCode(code.into()))?;
        self.texts
            .entry(language)
            .or_default()
            .insert(r.code(), text.into());
        Ok(self)
    }

    /// Sets the language used when `Accept-Language` names none we have.
    pub fn with_default_language(mut self, language: &str) -> Result<Self> {
        let language = language.to_ascii_lowercase();
        if !valid_language(&language) {
            return Err(Error::BadLanguage(language));
        }
        self.default_language = language;
        Ok(self)
    }

    /// The default language.
    pub fn default_language(&self) -> &str {
        &self.default_language
    }

    /// Whether the catalog has any text for `language` (English always).
    pub fn has_language(&self, language: &str) -> bool {
        language == "en" || self.texts.get(language).is_some_and(|t| !t.is_empty())
    }

    /// Picks the best language for an `Accept-Language` value (RFC 9110
    /// q-values; `fr-CA` matches `fr`; `*` and unknown tags fall back to the
    /// default language).
    pub fn negotiate<'a>(&'a self, accept_language: Option<&str>) -> &'a str {
        let Some(header) = accept_language else {
            return &self.default_language;
        };
        let mut best: Option<(u16, &str)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let mut q = 1000u16;
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = parse_q(v).unwrap_or(0);
                }
            }
            if q == 0 || tag.is_empty() || tag == "*" {
                continue;
            }
            let primary = tag.split('-').next().unwrap_or("");
            let primary = if primary.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(primary.to_ascii_lowercase())
            } else {
                Cow::Borrowed(primary)
            };
            if let Some(lang) = self.known_language(&primary)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(&self.default_language)
    }

    fn known_language<'a>(&'a self, primary: &str) -> Option<&'a str> {
        if primary == "en" {
            return Some("en");
        }
        self.texts
            .get_key_value(primary)
            .filter(|(_, t)| !t.is_empty())
            .map(|(l, _)| l.as_str())
    }

    /// The `detail` text of `error` in `language`.
    pub fn render(&self, error: &AuthError, language: &str) -> String {
        self.detail(error, language).into_owned()
    }

    /// [`render`](Catalog::render) without a copy when the text has no
    /// placeholders to fill (every rejection rendered on the hot path).
    pub(crate) fn detail<'a>(&'a self, error: &'a AuthError, language: &str) -> Cow<'a, str> {
        if let Some(custom) = error.custom_detail() {
            return Cow::Borrowed(custom);
        }
        let code = error.code();
        let text = |lang: &str| self.texts.get(lang).and_then(|t| t.get(code));
        let found = match language {
            "en" => text("en"),
            _ => text(language).or_else(|| text("en")),
        };
        match found {
            Some(t) if error.args().is_empty() => Cow::Borrowed(t),
            Some(t) => Cow::Owned(fill(t, error.args())),
            None => error.english_detail(),
        }
    }
}

fn parse_q(v: &str) -> Option<u16> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let int: u16 = int.parse().ok()?;
    if int > 1 || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut milli = int * 1000;
    let mut scale = 100;
    for b in frac.bytes() {
        milli += u16::from(b - b'0') * scale;
        scale /= 10;
    }
    (milli <= 1000).then_some(milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_language_covers_every_code() {
        for table in [FRENCH, GERMAN] {
            for r in Rejection::ALL {
                assert!(
                    table.iter().any(|(c, _)| *c == r.code()),
                    "missing {}",
                    r.code()
                );
            }
        }
    }

    #[test]
    fn q_values() {
        let c = Catalog::default();
        assert_eq!(c.negotiate(Some("fr;q=0.5, de;q=0.9")), "de");
        assert_eq!(c.negotiate(Some("fr;q=0, de;q=0.001")), "de");
        assert_eq!(c.negotiate(Some("ja, *")), "en");
        assert_eq!(c.negotiate(Some("FR-ca")), "fr");
        assert_eq!(c.negotiate(Some("fr;q=1.5")), "en");
        assert_eq!(c.negotiate(None), "en");
    }

    #[test]
    fn placeholders_are_filled_in_every_language() {
        let c = Catalog::default();
        let e = AuthError::csrf("CSRF token missing.");
        assert_eq!(c.render(&e, "en"), "CSRF Failed: CSRF token missing.");
        assert_eq!(
            c.render(&e, "de"),
            "CSRF-Prüfung fehlgeschlagen: CSRF token missing."
        );
    }

    #[test]
    fn bad_overrides_are_refused() {
        assert_eq!(
            Catalog::default()
                .with_message("en", "nope", "x")
                .unwrap_err(),
            Error::UnknownCode("nope".into())
        );
        assert!(
            Catalog::default()
                .with_message("E N", "not_authenticated", "x")
                .is_err()
        );
    }
}
