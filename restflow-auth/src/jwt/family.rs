//! Refresh-token families (RFC 9700 §4.14.2).
//!
//! The obtain view starts a family: its refresh token carries a family id
//! (the `fam` claim), and every token minted from it (the access tokens,
//! the rotated refresh token) carries the same. Presenting a refresh token
//! that was already rotated is a reuse: a thief and the
//! client hold the same token, and the server cannot tell which one is
//! asking. The whole family is then revoked, the newest refresh token and
//! the live access tokens included, and the request answers 401
//! (simplejwt refuses the reused token but lets its successor live).
//!
//! Everything is kept in the blacklist backend, so every backend serves
//! families with the atomic step it already has:
//!
//! - a revoked family is the blacklist entry `family:<fam>`, kept until
//!   the last token of the family could have expired;
//! - a rotated token is marked `rotated:<jti>` (until it expires), so that
//!   its reuse is told apart from a token blacklisted at logout (refused,
//!   as drf-restflow refuses it, without ending anything);
//! - the successor of a rotated token has a jti derived from the rotated
//!   one, so a retry within `jwt.refresh_reuse_grace_s` gets the same
//!   successor again (one jti: of the two, at most one is ever rotated, and
//!   the family never forks); a retry is allowed only while that successor
//!   is itself unrotated (the retried token is the immediately previous);
//! - the grace window is the entry `recent:<jti>`, which expires with it
//!   (on simplejwt's tables too, whose blacklist otherwise never expires).

use super::{Blacklists, JwtState, RefreshToken, blacklist::unix_now};
use crate::error::{AuthError, Rejection};
use crate::settings::JwtSettings;

/// The claim that carries the family id.
pub(crate) const CLAIM: &str = "fam";

/// The blacklist entry of a revoked family.
pub(crate) fn revoked_key(fam: &str) -> String {
    format!("family:{fam}")
}

/// The blacklist entry that marks a token as rotated.
fn rotated_key(jti: &str) -> String {
    format!("rotated:{jti}")
}

/// The blacklist entry that marks a rotation as recent (the grace window).
fn recent_key(jti: &str) -> String {
    format!("recent:{jti}")
}

/// The jti of the token that replaces `jti` at its rotation: the same for
/// every retry of that rotation.
pub(crate) fn successor_jti(jti: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"restflow-auth successor\0")
        .chain_update(jti.as_bytes())
        .finalize();
    super::b64::encode(&digest[..16])
}

/// Startup checks of `jwt.refresh_families` and `jwt.refresh_reuse_grace_s`.
pub(crate) fn validate(s: &JwtSettings, has_blacklist: bool) -> Result<(), super::ConfigError> {
    for (key, name) in [
        ("jwt.user_id_claim", &s.user_id_claim),
        ("jwt.revoke_token_claim", &s.revoke_token_claim),
    ] {
        if name == CLAIM {
            return Err(super::ConfigError {
                key,
                message: format!("`{CLAIM}` is the refresh family's claim: name another"),
            });
        }
    }
    if s.refresh_reuse_grace_s == 0 {
        return Ok(());
    }
    let err = |message: String| super::ConfigError {
        key: "jwt.refresh_reuse_grace_s",
        message,
    };
    if !(s.refresh_families && s.rotate_refresh_tokens && s.blacklist_enabled && has_blacklist) {
        return Err(err(
            "a grace window needs refresh families: `jwt.refresh_families`, `jwt.rotate_refresh_tokens` and `jwt.blacklist_enabled` on, with a blacklist backend".into(),
        ));
    }
    if s.refresh_reuse_grace_s >= s.refresh_token_lifetime_s {
        return Err(err(format!(
            "{} s is not shorter than `jwt.refresh_token_lifetime_s` ({} s): give a few seconds",
            s.refresh_reuse_grace_s, s.refresh_token_lifetime_s
        )));
    }
    Ok(())
}

impl JwtState {
    /// Whether refresh tokens form families here.
    pub(crate) fn families(&self) -> bool {
        let s = &self.settings;
        s.refresh_families
            && s.rotate_refresh_tokens
            && s.blacklist_enabled
            && self.blacklist_backend().is_some()
    }

    /// Until when a revoked family's entry must live: past the expiry of
    /// any token of it minted up to now, or by a request that passed its
    /// check just before (a retry's twin outlives its successor by up to
    /// the grace window; a minute covers a slow request).
    fn family_until(&self) -> i64 {
        let s = &self.settings;
        let longest = s.refresh_token_lifetime_s.max(s.access_token_lifetime_s);
        let margin = s.refresh_reuse_grace_s.saturating_add(60);
        self.keep_until(unix_now().saturating_add(longest.saturating_add(margin) as i64))
    }
}

/// Revokes the family `fam`: no token of it is accepted afterwards.
pub(crate) async fn revoke(jwt: &JwtState, bl: &Blacklists, fam: &str) -> Result<(), AuthError> {
    bl.blacklist(&revoked_key(fam), jwt.family_until()).await
}

/// What the refresh view does with a verified refresh token before the
/// user is checked.
pub(crate) enum Admission {
    /// Not blacklisted: rotate it (the one-winner step decides).
    Fresh,
    /// Rotated moments ago and its successor unused: mint that successor
    /// again, without the one-winner step.
    Retry,
}

/// The refresh view's check of `token`: its family not revoked, and the
/// token not reused (a reuse ends the family) unless in the grace window.
pub(crate) async fn admit(
    jwt: &JwtState,
    bl: &Blacklists,
    token: &RefreshToken,
) -> Result<Admission, AuthError> {
    // A revoked family stays revoked whatever the settings say now.
    if let Some(fam) = token.verified().fam.as_deref()
        && bl.is_blacklisted(&revoked_key(fam)).await?
    {
        return Err(Rejection::TokenBlacklisted.into());
    }
    if token.jti().is_empty() || !bl.is_blacklisted(token.jti()).await? {
        return Ok(Admission::Fresh);
    }
    reused(jwt, bl, token).await
}

/// `token` was already rotated or blacklisted: a token blacklisted at
/// logout is refused; a rotated one is retried within the grace window, or
/// reused, which ends its family.
pub(crate) async fn reused(
    jwt: &JwtState,
    bl: &Blacklists,
    token: &RefreshToken,
) -> Result<Admission, AuthError> {
    let Some(fam) = token.verified().fam.as_deref().filter(|_| jwt.families()) else {
        return Err(Rejection::TokenBlacklisted.into());
    };
    if !bl.is_blacklisted(&rotated_key(token.jti())).await? {
        return Err(Rejection::TokenBlacklisted.into());
    }
    if jwt.settings.refresh_reuse_grace_s > 0
        && bl.is_blacklisted(&recent_key(token.jti())).await?
        && !bl.is_blacklisted(&successor_jti(token.jti())).await?
    {
        return Ok(Admission::Retry);
    }
    tracing::warn!(
        family = fam,
        "restflow-auth: a rotated refresh token was presented again; its family is revoked"
    );
    revoke(jwt, bl, fam).await?;
    Err(Rejection::TokenBlacklisted.into())
}

/// The one-winner step of the rotation of `token`. In a family, the atomic
/// insert of `rotated:<jti>` decides: a loser presented a token being
/// rotated, a reuse (or, within the grace window, a retry); the winner
/// then blacklists the jti itself, and is refused if a logout got there
/// first; only then does the grace window open. Without a family, the
/// jti's own insert decides, as before families.
pub(crate) async fn rotate(
    jwt: &JwtState,
    bl: &Blacklists,
    token: &RefreshToken,
) -> Result<Admission, AuthError> {
    let entry = token.entry(jwt);
    if !jwt.families() || token.family().is_none() || token.jti().is_empty() {
        return if bl.check_and_blacklist_entry(&entry).await? {
            Ok(Admission::Fresh)
        } else {
            Err(Rejection::TokenBlacklisted.into())
        };
    }
    if !bl
        .check_and_blacklist(&rotated_key(token.jti()), entry.expires_at)
        .await?
    {
        return reused(jwt, bl, token).await;
    }
    if !bl.check_and_blacklist_entry(&entry).await? {
        return Err(Rejection::TokenBlacklisted.into());
    }
    let grace = jwt.settings.refresh_reuse_grace_s;
    if grace > 0 {
        let until = unix_now().saturating_add(grace as i64);
        bl.blacklist(&recent_key(token.jti()), until).await?;
    }
    Ok(Admission::Fresh)
}
